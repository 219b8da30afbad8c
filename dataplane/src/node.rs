//! The node trait and the per-thread context ([`Vm`]) a node runs with.
//!
//! A node gets a [`Frame`] of up to [`FRAME_SIZE`] buffer indices, decides a
//! next arc for each packet into `frame.nexts`, and returns; the graph then
//! moves runs of equal nexts into the next nodes' queues. Nothing on this path
//! allocates or returns a `Result` per packet: failures are counters and a
//! drop arc.

use std::any::Any;

use crate::buffer::{flags, BufferIndex, ThreadBuffers};
use crate::interface::{IfCounters, IfSnapshot};
use crate::publish::Snapshot;
use crate::trace::TraceBuffer;

/// Most packets in one frame.
pub const FRAME_SIZE: usize = 256;

/// A node's index in a thread's graph (the same on every thread).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NodeIndex(pub u32);

/// Input nodes poll for packets; internal nodes process frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeKind {
    Input,
    Internal,
}

/// How bad an error counter's reason is (the `Severity` column).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warn",
            Severity::Error => "error",
        }
    }
}

/// One error/event counter a node declares.
#[derive(Clone, Copy, Debug)]
pub struct CounterDesc {
    pub name: &'static str,
    pub severity: Severity,
}

impl CounterDesc {
    pub const fn info(name: &'static str) -> Self {
        CounterDesc { name, severity: Severity::Info }
    }
    pub const fn warn(name: &'static str) -> Self {
        CounterDesc { name, severity: Severity::Warning }
    }
    pub const fn error(name: &'static str) -> Self {
        CounterDesc { name, severity: Severity::Error }
    }
}

/// The packets a node is handed and the next arc it picks for each.
pub struct Frame<'a> {
    pub pkts: &'a mut [BufferIndex],
    pub nexts: &'a mut [u16],
}

impl Frame<'_> {
    pub fn len(&self) -> usize {
        self.pkts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }
    /// Sends every packet of the frame to `next`.
    pub fn all_to(&mut self, next: u16) {
        self.nexts.fill(next);
    }
}

/// When an input node may let its thread sleep.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Idle {
    /// Must keep being polled (work pending, or polling mode).
    Busy,
    /// May sleep until one of its registered fds is readable, or `deadline`
    /// (a TSC value) passes.
    Sleep { deadline: Option<u64> },
}

/// A graph node. One instance per thread; `process`/`poll` run on that
/// thread only.
pub trait Node: Send + 'static {
    /// VPP-style node name (`ethernet-input`).
    fn name(&self) -> &'static str;
    /// Input or internal.
    fn kind(&self) -> NodeKind {
        NodeKind::Internal
    }
    /// Names of the static next nodes, indexed by the node's `Next` enum.
    fn next_nodes(&self) -> &[&'static str];
    /// The node's error/event counters, indexed by its `Counter` enum.
    fn counters(&self) -> &'static [CounterDesc] {
        &[]
    }
    /// Processes a frame (internal nodes).
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let _ = (vm, frame);
    }
    /// Polls for up to `frame.pkts.len()` packets (input nodes): fills the
    /// first n entries of `pkts` and `nexts`, returns n.
    fn poll(&mut self, vm: &mut Vm, frame: &mut Frame) -> usize {
        let _ = (vm, frame);
        0
    }
    /// Whether an input node lets its thread sleep now.
    fn idle(&self) -> Idle {
        Idle::Sleep { deadline: None }
    }
    /// The trace line an input node records for a packet it produced.
    fn input_trace(&self, bufs: &ThreadBuffers, bi: BufferIndex) -> String {
        let m = bufs.meta(bi);
        format!("sw_if_index {}, {} bytes", m.sw_if_index[0], m.current_length)
    }
    /// For control-plane closures that reach a node's own state.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// What a node sees of its thread: buffers, counters, trace, interfaces.
pub struct Vm {
    pub bufs: ThreadBuffers,
    pub thread_index: usize,
    /// TSC at the start of the current node call.
    pub now: u64,
    /// Interface counters of this thread, indexed by sw_if_index.
    pub ifc: IfCounters,
    /// The interface table as last published.
    pub ifs: Snapshot<IfSnapshot>,
    pub(crate) counters: Vec<u64>,
    pub(crate) counter_base: usize,
    pub(crate) current: NodeIndex,
    pub(crate) trace: TraceBuffer,
    pub(crate) registry: Option<mio::Registry>,
    pub(crate) to_main: Option<crate::engine::MainHandle>,
    /// Extra packets a node emits besides its frame (fragments, generated
    /// requests), scattered by the engine after the node returns.
    pub(crate) extra: Vec<(u16, BufferIndex)>,
    pub(crate) extra_dropped: u64,
    /// This thread's ends of the rings to and from the other threads;
    /// None with one thread.
    pub(crate) handoff: Option<crate::handoff::HandoffPort>,
}

/// Most extra packets one node call may emit: a full frame of jumbo
/// packets fragmented for a 1500-byte link (9000 bytes: 7 fragments each)
/// fits.
pub const MAX_EXTRA: usize = 8 * FRAME_SIZE;

impl Vm {
    /// Adds `n` to the current node's counter `idx` (its `Counter` enum).
    #[inline(always)]
    pub fn count(&mut self, idx: usize, n: u64) {
        if let Some(c) = self.counters.get_mut(self.counter_base + idx) {
            *c += n;
        }
    }

    /// The node currently running.
    pub fn current_node(&self) -> NodeIndex {
        self.current
    }

    /// Whether any packet on this thread may be traced (check once per
    /// frame before per-packet trace work).
    #[inline(always)]
    pub fn tracing(&self) -> bool {
        self.trace.active()
    }

    /// Whether this packet is traced.
    #[inline(always)]
    pub fn is_traced(&self, bi: BufferIndex) -> bool {
        self.bufs.meta(bi).flags & flags::TRACED != 0
    }

    /// Records the current node's trace line for a traced packet.
    pub fn trace(&mut self, bi: BufferIndex, line: impl FnOnce(&ThreadBuffers) -> String) {
        let m = self.bufs.meta(bi);
        if m.flags & flags::TRACED != 0 {
            let slot = m.trace_index;
            let text = line(&self.bufs);
            self.trace.add(slot, self.current, self.now, text);
        }
    }

    /// Emits a packet that is not in the node's frame (a fragment, an ARP
    /// request) to one of the node's next arcs. Beyond [`MAX_EXTRA`] per
    /// call the packet is freed and counted ("frame queue full").
    #[inline]
    pub fn emit(&mut self, next: u16, bi: BufferIndex) {
        if self.extra.len() < MAX_EXTRA {
            self.extra.push((next, bi));
        } else {
            self.extra_dropped += 1;
            self.bufs.free_one(bi);
        }
    }

    /// How many more packets [`Vm::emit`] takes in this node call (before
    /// it starts freeing them), so a node can drop a whole packet rather
    /// than emit part of what it makes of it.
    #[inline]
    pub fn extra_room(&self) -> usize {
        MAX_EXTRA.saturating_sub(self.extra.len())
    }

    /// Threads a packet can be handed to with [`Vm::handoff`] (this one
    /// included); 1 when there is no other.
    #[inline]
    pub fn handoff_threads(&self) -> usize {
        self.handoff.as_ref().map_or(1, |h| h.threads())
    }

    /// Hands `bi` to node `node` on thread `thread` (see
    /// [`crate::handoff`]); it arrives there marked
    /// [`flags::HANDED_OFF`]. The buffer is no longer the caller's either
    /// way: on a full ring (or no such other thread) it is freed and
    /// counted ("handoff queue full"). Returns whether it was queued.
    pub fn handoff(&mut self, thread: usize, node: NodeIndex, bi: BufferIndex) -> bool {
        let from = self.current;
        if self.bufs.meta(bi).flags & flags::TRACED != 0 {
            self.trace(bi, |_| format!("handoff to thread {thread}"));
        }
        let sent = match self.handoff.as_mut() {
            Some(h) => h.send(&mut self.bufs, from, thread, node, bi),
            None => false,
        };
        if !sent {
            if self.handoff.is_none() {
                // No rings at all: counted with the node's dropped extras.
                self.extra_dropped += 1;
            }
            self.bufs.free_one(bi);
        }
        sent
    }

    /// Sends work to the main thread (slow path only: neighbor learning,
    /// ping replies...). Returns false when there is no main thread (unit
    /// tests) or it is gone.
    pub fn post(&self, f: impl FnOnce(&mut crate::engine::Engine) + Send + 'static) -> bool {
        match &self.to_main {
            Some(m) => m.send(Box::new(f)),
            None => false,
        }
    }

    /// Registers a file descriptor whose readability wakes this thread when
    /// it sleeps (interrupt/adaptive rx).
    pub fn register_fd(&self, fd: std::os::fd::RawFd, token: usize) -> std::io::Result<()> {
        match &self.registry {
            Some(r) => r.register(&mut mio::unix::SourceFd(&fd), mio::Token(token + 1), mio::Interest::READABLE),
            None => Ok(()),
        }
    }

    /// Removes a file descriptor registered with [`Vm::register_fd`].
    pub fn deregister_fd(&self, fd: std::os::fd::RawFd) -> std::io::Result<()> {
        match &self.registry {
            Some(r) => r.deregister(&mut mio::unix::SourceFd(&fd)),
            None => Ok(()),
        }
    }
}
