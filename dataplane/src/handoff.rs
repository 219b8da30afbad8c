//! Hand-off of packets between threads (VPP's worker handoff): a node on
//! one thread sends a buffer to a named node on another thread, which runs
//! it there as if its own graph had queued it.
//!
//! Buffers live in one arena shared by every thread, so only the index
//! travels, with the target node's index (the same on every thread); what
//! the target needs besides the bytes is in the buffer's metadata already.
//! The buffer's ownership moves with it: once queued, the sender must not
//! touch it, and the receiver frees or forwards it like any other.
//!
//! Each ordered pair of threads has its own bounded ring, written by the
//! source thread only and read by the destination only (single producer,
//! single consumer: one atomic store per side and packet, no lock, no
//! allocation). A thread holds its one [`HandoffPort`] in its [`Vm`]: it
//! sends through [`Vm::handoff`] and, between dispatch loops, the engine
//! drains the rings toward it into the target nodes' queues
//! ([`HandoffPort::receive`]). A full ring is a counted drop (the buffer
//! is freed); a target node whose queue is full leaves the rest in the
//! ring for the next loop. A destination asleep in its idle poll is woken
//! through its thread's waker, only when it said it sleeps.
//!
//! Counters per node (`show errors`): packets handed off, packets dropped
//! on a full ring, packets handed in; and per thread, packets handed in
//! for a node index its graph lacks (freed, shown on the graph's first
//! node: no node of that index exists to show them on).
//!
//! Single-thread engines have no [`Handoff`]: nothing here runs.
//!
//! [`Vm`]: crate::Vm
//! [`Vm::handoff`]: crate::Vm::handoff

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::buffer::{flags, BufferIndex, ThreadBuffers};
use crate::graph::Graph;
use crate::node::{CounterDesc, NodeIndex, FRAME_SIZE};

/// Packets one ring between two threads holds (a power of two).
pub const RING_SIZE: usize = 4 * FRAME_SIZE;

/// Packets taken from one ring per dispatch loop, so one busy sender does
/// not hold the receiver's graph for long.
const RECEIVE_BATCH: usize = FRAME_SIZE;

/// The reasons [`HandoffPort`] counts under, per node.
pub const COUNTERS: [CounterDesc; 4] = [
    CounterDesc::info("packets handed off to another thread"),
    CounterDesc::error("handoff queue full"),
    CounterDesc::info("packets handed in from another thread"),
    CounterDesc::error("handed in for a node this thread lacks"),
];

const SENT: usize = 0;
const FULL: usize = 1;
const RECEIVED: usize = 2;
const UNKNOWN: usize = 3;

/// What the receiver did with one entry of a ring.
enum Taken {
    /// Queued at its node (counted there).
    Queued,
    /// Its node index is not in the graph: freed, counted per thread.
    Unknown,
    /// Its node's queue is full: left in the ring for the next loop.
    Wait,
}

/// A value alone on its cache line (the ring's two ends are written by
/// different threads).
#[repr(align(64))]
struct Line<T>(T);

/// One source → destination ring. `tail` is written by the source only,
/// `head` by the destination only; the slots between them hold
/// `node << 32 | buffer`.
struct Ring {
    head: Line<AtomicUsize>,
    tail: Line<AtomicUsize>,
    slots: Box<[AtomicU64]>,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            head: Line(AtomicUsize::new(0)),
            tail: Line(AtomicUsize::new(0)),
            slots: (0..RING_SIZE).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Producer side. False when full.
    fn push(&self, v: u64) -> bool {
        let tail = self.tail.0.load(Ordering::Relaxed);
        // Acquire: the consumer read the slot before it moved head past it.
        let head = self.head.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) >= RING_SIZE {
            return false;
        }
        self.slots[tail % RING_SIZE].store(v, Ordering::Relaxed);
        // Release: the slot and the buffer's metadata are visible before
        // the consumer can see the new tail.
        self.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// Consumer side: hands up to `max` entries, oldest first, to `f`
    /// until it returns false (that entry stays). Returns how many left.
    fn pop_while(&self, max: usize, mut f: impl FnMut(u64) -> bool) -> usize {
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(max);
        let mut taken = 0;
        while taken < n {
            let v = self.slots[head.wrapping_add(taken) % RING_SIZE].load(Ordering::Relaxed);
            if !f(v) {
                break;
            }
            taken += 1;
        }
        if taken > 0 {
            self.head.0.store(head.wrapping_add(taken), Ordering::Release);
        }
        taken
    }

    fn is_empty(&self) -> bool {
        self.head.0.load(Ordering::Relaxed) == self.tail.0.load(Ordering::Acquire)
    }
}

/// What a sender needs to wake a destination thread.
struct Inbox {
    /// Set by the thread just before it sleeps in its poll, cleared when
    /// it wakes (or by the sender that wakes it).
    sleeping: AtomicBool,
    /// The thread's poll waker (unset in tests: nobody sleeps there).
    waker: OnceLock<Arc<mio::Waker>>,
    /// Whether the thread's port was handed out (one per thread).
    taken: AtomicBool,
    /// Sleeps of the thread that an event (a waker) ended rather than
    /// their timeout.
    woken: AtomicU64,
}

/// The rings between every pair of an engine's threads.
pub struct Handoff {
    threads: usize,
    /// Indexed `src * threads + dst`; the diagonal is never used.
    rings: Box<[Ring]>,
    inboxes: Box<[Inbox]>,
}

impl Handoff {
    /// Rings between `threads` threads (main included).
    pub fn new(threads: usize) -> Arc<Handoff> {
        Arc::new(Handoff {
            threads,
            rings: (0..threads * threads).map(|_| Ring::new()).collect(),
            inboxes: (0..threads)
                .map(|_| Inbox {
                    sleeping: AtomicBool::new(false),
                    waker: OnceLock::new(),
                    taken: AtomicBool::new(false),
                    woken: AtomicU64::new(0),
                })
                .collect(),
        })
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the waker that ends thread `t`'s idle sleep.
    pub fn set_waker(&self, t: usize, waker: Arc<mio::Waker>) {
        if let Some(i) = self.inboxes.get(t) {
            let _ = i.waker.set(waker);
        }
    }

    /// Thread `t`'s port: its sending ends and receiving ends. Each thread
    /// has one (the rings have one producer and one consumer each): None
    /// when `t` is out of range or its port was taken already.
    pub fn port(self: &Arc<Self>, t: usize) -> Option<HandoffPort> {
        let inbox = self.inboxes.get(t)?;
        if inbox.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(HandoffPort { shared: self.clone(), thread: t, counts: Vec::new(), unknown: 0 })
    }

    fn ring(&self, src: usize, dst: usize) -> &Ring {
        &self.rings[src * self.threads + dst]
    }
}

/// One thread's access to the [`Handoff`] rings, held in its `Vm`.
pub struct HandoffPort {
    shared: Arc<Handoff>,
    thread: usize,
    /// Per node index: [sent, dropped on a full ring, received].
    counts: Vec<[u64; 3]>,
    /// Handed in for a node index the graph lacks.
    unknown: u64,
}

impl HandoffPort {
    /// This port's thread.
    pub fn thread(&self) -> usize {
        self.thread
    }

    /// Number of threads that can be sent to (this one included).
    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    fn count(&mut self, node: NodeIndex, what: usize, n: u64) {
        let i = node.0 as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, [0; 3]);
        }
        self.counts[i][what] += n;
    }

    /// Queues `bi` for node `node` on thread `dst`, marking it
    /// [`flags::HANDED_OFF`]; `from` is the sending node (counted). False
    /// when `dst` is this thread or out of range, or its ring is full: the
    /// buffer is then still the caller's.
    pub(crate) fn send(
        &mut self,
        bufs: &mut ThreadBuffers,
        from: NodeIndex,
        dst: usize,
        node: NodeIndex,
        bi: BufferIndex,
    ) -> bool {
        if dst >= self.shared.threads || dst == self.thread {
            self.count(from, FULL, 1);
            return false;
        }
        let m = bufs.meta_mut(bi);
        let old = m.flags;
        m.flags = (old | flags::HANDED_OFF) & !flags::TRACED;
        if !self.shared.ring(self.thread, dst).push((node.0 as u64) << 32 | bi.0 as u64) {
            bufs.meta_mut(bi).flags = old;
            self.count(from, FULL, 1);
            return false;
        }
        self.count(from, SENT, 1);
        let inbox = &self.shared.inboxes[dst];
        // SeqCst pairs with the receiver's store of `sleeping` and its
        // look at the rings in `prepare_sleep`: either it sees this packet
        // or this sees it asleep.
        fence(Ordering::SeqCst);
        if inbox.sleeping.load(Ordering::Relaxed) && inbox.sleeping.swap(false, Ordering::AcqRel) {
            if let Some(w) = inbox.waker.get() {
                let _ = w.wake();
            }
        }
        true
    }

    /// Takes what other threads sent here, up to a frame per ring, handing
    /// each to `f` (target node, buffer) until it returns false (that one
    /// waits for the next call). Returns how many were taken.
    pub fn drain(&mut self, mut f: impl FnMut(NodeIndex, BufferIndex) -> bool) -> usize {
        self.take(|node, bi| if f(node, bi) { Taken::Queued } else { Taken::Wait })
    }

    /// [`HandoffPort::drain`] with the receiver's verdict on each entry:
    /// a queued one is counted at its node, an unknown one per thread
    /// (its node index, which may be anything, sizes nothing).
    fn take(&mut self, mut f: impl FnMut(NodeIndex, BufferIndex) -> Taken) -> usize {
        let shared = self.shared.clone();
        let mut total = 0;
        for src in 0..shared.threads {
            if src == self.thread {
                continue;
            }
            total += shared.ring(src, self.thread).pop_while(RECEIVE_BATCH, |v| {
                let node = NodeIndex((v >> 32) as u32);
                match f(node, BufferIndex(v as u32)) {
                    Taken::Queued => self.count(node, RECEIVED, 1),
                    Taken::Unknown => self.unknown += 1,
                    Taken::Wait => return false,
                }
                true
            });
        }
        total
    }

    /// Queues what other threads sent here at the target nodes of `graph`
    /// (a node whose queue is full leaves the rest in the ring). A buffer
    /// naming a node the graph lacks is freed and counted ("handed in for
    /// a node this thread lacks"). Returns how many were taken.
    pub fn receive(&mut self, graph: &mut Graph, bufs: &mut ThreadBuffers) -> usize {
        let nodes = graph.len();
        self.take(|node, bi| {
            if (node.0 as usize) >= nodes {
                bufs.free_one(bi);
                Taken::Unknown
            } else if graph.inject(node, bi) {
                Taken::Queued
            } else {
                Taken::Wait
            }
        })
    }

    /// Whether another thread queued something here.
    pub fn pending(&self) -> bool {
        (0..self.shared.threads).any(|src| src != self.thread && !self.shared.ring(src, self.thread).is_empty())
    }

    /// Says this thread is about to sleep; false (and no sleep) when a
    /// packet is already waiting. [`HandoffPort::woke`] ends it.
    pub fn prepare_sleep(&self) -> bool {
        let inbox = &self.shared.inboxes[self.thread];
        inbox.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.pending() {
            inbox.sleeping.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Says this thread is awake again; `by_event` when an event (its
    /// waker) ended the sleep rather than the timeout.
    pub fn woke(&self, by_event: bool) {
        let inbox = &self.shared.inboxes[self.thread];
        inbox.sleeping.store(false, Ordering::Relaxed);
        if by_event {
            inbox.woken.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters of node `node`: (reason, count) for each of
    /// [`COUNTERS`]; the thread's count of packets for unknown nodes is
    /// node 0's.
    pub fn counters(&self, node: NodeIndex) -> [(CounterDesc, u64); 4] {
        let c = self.counts.get(node.0 as usize).copied().unwrap_or([0; 3]);
        let unknown = if node.0 == 0 { self.unknown } else { 0 };
        [
            (COUNTERS[SENT], c[SENT]),
            (COUNTERS[FULL], c[FULL]),
            (COUNTERS[RECEIVED], c[RECEIVED]),
            (COUNTERS[UNKNOWN], unknown),
        ]
    }

    /// Zeroes the counters (`clear errors`).
    pub fn clear_counters(&mut self) {
        self.counts.clear();
        self.unknown = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::any::Any;
    use std::sync::atomic::AtomicU64;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::buffer::{Backing, Buffers};
    use crate::engine::Engine;
    use crate::graph::NodeReg;
    use crate::node::{Frame, Node, Vm};

    fn arena() -> (Arc<Buffers>, ThreadBuffers) {
        let a = Buffers::new(4 * RING_SIZE as u32, 2048, Backing::Pages).expect("arena");
        let t = a.thread(0);
        (a, t)
    }

    fn in_use(a: &Buffers, t: &ThreadBuffers) -> u32 {
        let st = a.stats(1);
        st.total - st.free - t.cached() as u32
    }

    #[test]
    fn packets_arrive_in_order_marked_and_counted() {
        let (_a, mut bufs) = arena();
        let h = Handoff::new(3);
        let (mut p0, mut p2) = (h.port(0).unwrap(), h.port(2).unwrap());
        let sent: Vec<BufferIndex> = (0..100).map(|_| bufs.alloc_one().unwrap()).collect();
        for (k, &bi) in sent.iter().enumerate() {
            bufs.meta_mut(bi).flags = flags::TRACED;
            assert!(p0.send(&mut bufs, NodeIndex(3), 2, NodeIndex(7 + (k % 2) as u32), bi));
        }
        assert!(p2.pending());
        let mut got = Vec::new();
        assert_eq!(
            p2.drain(|n, bi| {
                got.push((n, bi));
                true
            }),
            100
        );
        assert!(!p2.pending());
        let want: Vec<_> = sent.iter().enumerate().map(|(k, &bi)| (NodeIndex(7 + (k % 2) as u32), bi)).collect();
        assert_eq!(got, want);
        // Marked as handed off; the sender's trace slot does not travel.
        assert!(sent.iter().all(|&bi| bufs.meta(bi).flags == flags::HANDED_OFF));
        assert_eq!(p0.counters(NodeIndex(3))[0].1, 100);
        assert_eq!(p2.counters(NodeIndex(7))[2].1, 50);
        assert_eq!(p2.counters(NodeIndex(8))[2].1, 50);
        // Nothing came back to thread 0, nothing went to thread 1.
        assert_eq!(p0.drain(|_, _| true), 0);
        assert_eq!(h.port(1).unwrap().drain(|_, _| true), 0);
    }

    #[test]
    fn full_ring_is_a_counted_refusal_and_order_survives_wrapping() {
        let (_a, mut bufs) = arena();
        let h = Handoff::new(2);
        let (mut p0, mut p1) = (h.port(0).unwrap(), h.port(1).unwrap());
        let node = NodeIndex(1);
        let bis: Vec<BufferIndex> = (0..RING_SIZE + 3).map(|_| bufs.alloc_one().unwrap()).collect();
        let ok: Vec<bool> = bis.iter().map(|&bi| p0.send(&mut bufs, node, 1, node, bi)).collect();
        assert!(ok[..RING_SIZE].iter().all(|&x| x));
        assert!(ok[RING_SIZE..].iter().all(|&x| !x));
        let c = p0.counters(node);
        assert_eq!((c[0].1, c[1].1), (RING_SIZE as u64, 3));
        // A refused buffer is still the caller's, unmarked.
        assert_eq!(bufs.meta(bis[RING_SIZE]).flags & flags::HANDED_OFF, 0);
        // Sending to oneself or to no thread is refused too.
        assert!(!p0.send(&mut bufs, node, 0, node, bis[RING_SIZE]));
        assert!(!p0.send(&mut bufs, node, 5, node, bis[RING_SIZE]));
        assert_eq!(p0.counters(node)[1].1, 5);

        // The receiver takes a frame per call, and a refused entry stays.
        let mut got = Vec::new();
        assert_eq!(
            p1.drain(|_, bi| {
                got.push(bi);
                got.len() < 10
            }),
            9
        );
        got.pop();
        while got.len() < RING_SIZE {
            let before = got.len();
            let n = p1.drain(|_, bi| {
                got.push(bi);
                true
            });
            assert_eq!(n, got.len() - before);
            assert!(n <= RECEIVE_BATCH);
        }
        assert_eq!(got, bis[..RING_SIZE]);
        // Room again, across the wrap of the indices.
        for &bi in &bis[RING_SIZE..] {
            assert!(p0.send(&mut bufs, node, 1, node, bi));
        }
        let mut tail = Vec::new();
        p1.drain(|_, bi| {
            tail.push(bi);
            true
        });
        assert_eq!(tail, bis[RING_SIZE..]);
        p0.clear_counters();
        assert_eq!(p0.counters(node)[0].1, 0);
    }

    #[test]
    fn vm_handoff_frees_what_it_cannot_queue() {
        let h = Handoff::new(2);
        let mut hr = crate::testing::Harness::new(Box::new(Sink::default()), 1);
        hr.set_handoff(h.port(0).unwrap());
        let arena = hr.vm.bufs.arena().clone();
        let base = in_use(&arena, &hr.vm.bufs);
        let bis: Vec<BufferIndex> = (0..RING_SIZE + 2).map(|_| hr.vm.bufs.alloc_one().unwrap()).collect();
        let queued = bis.iter().filter(|&&bi| hr.vm.handoff(1, NodeIndex(0), bi)).count();
        assert_eq!(queued, RING_SIZE);
        // The two refused went back to the pool; the queued are in flight.
        assert_eq!(in_use(&arena, &hr.vm.bufs), base + RING_SIZE as u32);
        assert_eq!(hr.vm.handoff_threads(), 2);
        let mut p1 = h.port(1).unwrap();
        let mut back = Vec::new();
        while p1.drain(|_, bi| {
            back.push(bi);
            true
        }) > 0
        {}
        hr.vm.bufs.free(&back);
        assert_eq!(in_use(&arena, &hr.vm.bufs), base);
    }

    #[test]
    fn a_sleeping_thread_is_woken_and_an_awake_one_is_not() {
        let (_a, mut bufs) = arena();
        let h = Handoff::new(2);
        let mut poll = mio::Poll::new().unwrap();
        let mut events = mio::Events::with_capacity(4);
        h.set_waker(1, Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap()));
        let (mut p0, mut p1) = (h.port(0).unwrap(), h.port(1).unwrap());

        // Awake: no wake-up is written.
        let bi = bufs.alloc_one().unwrap();
        assert!(p0.send(&mut bufs, NodeIndex(0), 1, NodeIndex(0), bi));
        poll.poll(&mut events, Some(Duration::from_millis(0))).unwrap();
        assert!(events.is_empty());
        // Something is waiting: no sleep.
        assert!(!p1.prepare_sleep());
        assert_eq!(p1.drain(|_, _| true), 1);

        // Asleep: a packet from another thread ends the sleep at once.
        assert!(p1.prepare_sleep());
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            assert!(p0.send(&mut bufs, NodeIndex(0), 1, NodeIndex(0), bi));
        });
        let t0 = Instant::now();
        poll.poll(&mut events, Some(Duration::from_secs(10))).unwrap();
        p1.woke(!events.is_empty());
        assert!(t0.elapsed() < Duration::from_secs(5), "not woken: {:?}", t0.elapsed());
        assert!(!events.is_empty());
        sender.join().unwrap();
        assert_eq!(p1.drain(|_, _| true), 1);
    }

    #[test]
    fn a_packet_for_a_node_the_graph_lacks_is_freed_and_counted_apart() {
        use crate::graph::{Graph, NodeInit};

        let h = Handoff::new(2);
        let mut hr = crate::testing::Harness::new(Box::new(Sink::default()), 1);
        let ext = crate::engine::Extensions::default();
        let regs = [NodeReg { name: "handoff-test-sink", factory: Arc::new(|_| Box::new(Sink::default())) }];
        let mut graph = Graph::build(&regs, &NodeInit { thread_index: 1, ext: &ext }, &mut hr.vm).unwrap();
        let (mut p0, mut p1) = (h.port(0).unwrap(), h.port(1).unwrap());
        let arena = hr.vm.bufs.arena().clone();
        let base = in_use(&arena, &hr.vm.bufs);
        let (stray, good) = (hr.vm.bufs.alloc_one().unwrap(), hr.vm.bufs.alloc_one().unwrap());
        assert!(p0.send(&mut hr.vm.bufs, NodeIndex(0), 1, NodeIndex(1 << 20), stray));
        assert!(p0.send(&mut hr.vm.bufs, NodeIndex(0), 1, NodeIndex(0), good));
        assert_eq!(p1.receive(&mut graph, &mut hr.vm.bufs), 2);
        // The stray one is freed, the other waits at its node.
        assert_eq!(in_use(&arena, &hr.vm.bufs), base + 1);
        let c = p1.counters(NodeIndex(0));
        assert_eq!((c[1].1, c[2].1, c[3].1), (0, 1, 1), "queue full, handed in, unknown node: {c:?}");
        assert_eq!(c[3].0.name, "handed in for a node this thread lacks");
        // Nothing was counted (or sized) for the garbage index.
        assert!(p1.counts.len() <= graph.len(), "{} counter rows", p1.counts.len());
        assert!(p1.counters(NodeIndex(1 << 20)).iter().all(|c| c.1 == 0));
        p1.clear_counters();
        assert_eq!(p1.counters(NodeIndex(0))[3].1, 0);
    }

    #[test]
    fn a_port_per_thread() {
        let h = Handoff::new(2);
        let _p = h.port(1).unwrap();
        assert!(h.port(1).is_none());
        assert!(h.port(2).is_none());
        assert!(h.port(0).is_some());
    }

    /// Counts the packets it gets per thread and frees them.
    #[derive(Default)]
    struct Sink {
        seen: Arc<[AtomicU64; 2]>,
    }

    impl Node for Sink {
        fn name(&self) -> &'static str {
            "handoff-test-sink"
        }
        fn next_nodes(&self) -> &[&'static str] {
            &[]
        }
        fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
            assert!(frame.pkts.iter().all(|&bi| vm.bufs.meta(bi).flags & flags::HANDED_OFF != 0));
            self.seen[vm.thread_index.min(1)].fetch_add(frame.len() as u64, Ordering::Relaxed);
            vm.bufs.free(frame.pkts);
            frame.all_to(crate::device::NEXT_CONSUMED);
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn an_engine_worker_runs_what_the_main_thread_hands_it() {
        let seen: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let s = seen.clone();
        let mut e = Engine::builder()
            .buffers(4096)
            .workers(1)
            .plugin(|r| r.node(NodeReg { name: "handoff-test-sink", factory: Arc::new(|_| Box::new(Sink::default())) }))
            .build()
            .unwrap();
        // The factory cannot capture: hand the counters to each instance.
        e.on_all_threads(move |w| {
            w.graph.node_mut::<Sink>("handoff-test-sink").unwrap().seen = s.clone();
        });
        let sink = e.local.graph.node_index("handoff-test-sink").unwrap();
        // Hand the worker a packet once it sleeps: its sender's wake-up
        // must end the sleep (an unwoken worker gets it too, on its own
        // timeout, which this tells apart). A timeout that falls between
        // the look at its flag and the send makes one try inconclusive.
        let shared = e.local.vm.handoff.as_ref().unwrap().shared.clone();
        let inbox = &shared.inboxes[1];
        let wait = |what: &dyn Fn() -> bool| {
            let t0 = Instant::now();
            while !what() && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(1));
            }
            what()
        };
        let mut sent = 0;
        let mut woken = false;
        while !woken && sent < 10 {
            assert!(wait(&|| inbox.sleeping.load(Ordering::SeqCst)), "the idle worker never sleeps");
            let before = inbox.woken.load(Ordering::SeqCst);
            let bi = e.local.vm.bufs.alloc_one().unwrap();
            assert!(e.local.vm.handoff(1, sink, bi));
            sent += 1;
            assert!(wait(&|| seen[1].load(Ordering::Relaxed) == sent), "packet {sent} never ran");
            woken = inbox.woken.load(Ordering::SeqCst) > before;
        }
        assert!(woken, "the sleeping worker was never woken by a hand-off ({sent} tries)");
        assert_eq!(seen[0].load(Ordering::Relaxed), 0);
        let errors = e.errors();
        let count = |node: &str, reason: &str| {
            errors.iter().find(|(n, d, _)| *n == node && d.name == reason).map_or(0, |x| x.2)
        };
        let from = e.local.graph.node_name(NodeIndex(0));
        assert_eq!(count(from, "packets handed off to another thread"), sent);
        assert_eq!(count("handoff-test-sink", "packets handed in from another thread"), sent);
        e.clear_errors();
        let errors = e.errors();
        assert!(!errors.iter().any(|(_, d, _)| d.name.contains("handed")), "{errors:?}");
    }
}
