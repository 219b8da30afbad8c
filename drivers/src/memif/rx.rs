//! memif receive: one [`MemifRx`] per (interface, queue), owned by the thread
//! it is placed on, living only while the interface is connected.
//!
//! Who moves what, per ring direction:
//! - Server receiving on a slave-to-master ring: the client produces by
//!   advancing `head`; we copy from our cursor up to `head` and give the
//!   slots back by storing `tail`.
//! - Client receiving on a master-to-slave ring: we post empty buffers by
//!   advancing `head` (each descriptor rewritten to our own buffer and its
//!   full length); the server fills them and advances `tail`; we copy from
//!   our cursor up to `tail` and re-post what we consumed.
//!
//! Every descriptor is checked against the regions before a byte moves: a
//! bad one drops its packet, counted, and never reads outside the mapping.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::device::RxQueue;
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::{BufferIndex, CounterDesc, Vm};

use super::proto::{Desc, DESC_FLAG_NEXT, RING_FLAG_MASK_INT};
use super::{Conn, Role};

/// Most rvpp buffers (and memif descriptors) in one packet.
pub const MAX_CHAIN: usize = 64;

/// memif-input's counters (`show errors`).
#[repr(usize)]
pub enum RxCounter {
    BadDesc,
    NoBuffer,
    Empty,
    LongChain,
    BadRing,
}

pub const COUNTERS: [CounterDesc; 5] = [
    CounterDesc::error("bad descriptor (outside its region)"),
    CounterDesc::error("no free buffer"),
    CounterDesc::warn("empty packet"),
    CounterDesc::error("descriptor chain too long or unfinished"),
    CounterDesc::error("ring index out of range"),
];

/// Per-queue figures for `show memif`.
#[derive(Default)]
pub struct QueueStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub drops: AtomicU64,
    pub interrupts: AtomicU64,
}

pub fn rx_mode_code(m: RxMode) -> u8 {
    match m {
        RxMode::Polling => 0,
        RxMode::Interrupt => 1,
        RxMode::Adaptive => 2,
    }
}

pub fn rx_mode_of(c: u8) -> RxMode {
    match c {
        0 => RxMode::Polling,
        1 => RxMode::Interrupt,
        _ => RxMode::Adaptive,
    }
}

/// The mask-interrupt flag value a receiver in `mode` wants on its ring.
pub fn ring_flags_for(mode: RxMode) -> u16 {
    if mode == RxMode::Polling {
        RING_FLAG_MASK_INT
    } else {
        0
    }
}

pub struct MemifRx {
    sw_if_index: u32,
    queue_id: u32,
    conn: Arc<Conn>,
    /// Our cursor: next slot to read.
    last: u16,
    mode: RxMode,
    /// Where `set interface rx-mode` is remembered across reconnects.
    mode_store: Arc<AtomicU8>,
    stats: Arc<QueueStats>,
    empty_polls: u32,
}

impl MemifRx {
    pub fn new(
        sw_if_index: u32,
        queue_id: u32,
        conn: Arc<Conn>,
        mode_store: Arc<AtomicU8>,
        stats: Arc<QueueStats>,
    ) -> Self {
        let mode = rx_mode_of(mode_store.load(Ordering::Relaxed));
        let r = &conn.rx[queue_id as usize];
        r.ring.set_flags(ring_flags_for(mode));
        MemifRx { sw_if_index, queue_id, last: 0, mode, mode_store, stats, conn, empty_polls: 0 }
    }

    /// Client: posts every consumed slot back to the server.
    fn refill(&self) {
        let r = &self.conn.rx[self.queue_id as usize];
        let size = r.ring.size();
        let mut head = r.ring.head();
        let n = size.wrapping_sub(head.wrapping_sub(self.last));
        if n == 0 || n > size {
            return;
        }
        for _ in 0..n {
            let (region, offset) = r.own_buffer(head);
            r.ring.set_desc(head, &Desc { flags: 0, region, length: self.conn.buffer_size, offset, metadata: 0 });
            head = head.wrapping_add(1);
        }
        r.ring.store_head(head);
    }
}

impl RxQueue for MemifRx {
    fn sw_if_index(&self) -> u32 {
        self.sw_if_index
    }
    fn queue_id(&self) -> u32 {
        self.queue_id
    }

    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize {
        let conn = self.conn.clone();
        let r = &conn.rx[self.queue_id as usize];
        let ring = &r.ring;
        let size = ring.size();
        let produced = if conn.role == Role::Server { ring.head() } else { ring.tail() };
        let avail = produced.wrapping_sub(self.last);
        if avail == 0 {
            // The thread's poller is edge-triggered: every signal wakes it
            // whatever the eventfd's count, so the count is only cleared now
            // and then, not with a system call per empty poll.
            self.empty_polls = self.empty_polls.wrapping_add(1);
            if self.mode != RxMode::Polling && self.empty_polls.is_multiple_of(1024) {
                r.event.drain();
            }
            if conn.role == Role::Client {
                self.refill();
            }
            return 0;
        }
        if avail > size {
            vm.count(RxCounter::BadRing as usize, 1);
            return 0;
        }
        let sw = self.sw_if_index;
        let ds = vm.bufs.data_size().min(u16::MAX as usize);
        let want = out.len().min(avail as usize);
        let got = vm.bufs.alloc(&mut out[..want]);
        if got < want {
            vm.count(RxCounter::NoBuffer as usize, (want - got) as u64);
        }
        let (mut n, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        let mut cur = self.last;
        let mut chain = [BufferIndex(0); MAX_CHAIN];
        while n < got && cur != produced {
            let head = out[n];
            // Copy the descriptors of one packet into `head` and, when it is
            // larger than a buffer, a chain behind it.
            let mut nb = 1usize;
            chain[0] = head;
            let mut fill = 0usize;
            let mut total = 0usize;
            let mut bad: Option<RxCounter> = None;
            // The peer wrote descriptors and data on another core: ask for
            // the lines a few packets ahead while this one is copied.
            ring.prefetch_desc(cur.wrapping_add(8));
            if produced.wrapping_sub(cur) > 2 {
                conn.regions.prefetch(&ring.desc(cur.wrapping_add(2)));
            }
            // The common packet: one descriptor that fits one buffer.
            let d = ring.desc(cur);
            let len = d.length as usize;
            if d.flags & DESC_FLAG_NEXT == 0 && len != 0 && len <= ds {
                let (m, raw) = vm.bufs.split_mut(head);
                if conn.regions.read(&d, 0, &mut raw[HEADROOM..HEADROOM + len]) {
                    m.reset_rx(len as u16, sw);
                    cur = cur.wrapping_add(1);
                    n += 1;
                    bytes += len as u64;
                    continue;
                }
            }
            loop {
                if cur == produced {
                    bad.get_or_insert(RxCounter::LongChain);
                    break;
                }
                let d = ring.desc(cur);
                cur = cur.wrapping_add(1);
                if bad.is_none() && !conn.regions.check(d.region, d.offset, d.length) {
                    bad = Some(RxCounter::BadDesc);
                }
                if bad.is_none() {
                    let mut at = 0usize;
                    let len = d.length as usize;
                    while at < len {
                        if fill == ds {
                            if nb == MAX_CHAIN {
                                bad = Some(RxCounter::LongChain);
                                break;
                            }
                            let Some(b) = vm.bufs.alloc_one() else {
                                bad = Some(RxCounter::NoBuffer);
                                break;
                            };
                            chain[nb] = b;
                            nb += 1;
                            fill = 0;
                        }
                        let k = (ds - fill).min(len - at);
                        let b = chain[nb - 1];
                        let (_, raw) = vm.bufs.split_mut(b);
                        let dst = &mut raw[HEADROOM + fill..HEADROOM + fill + k];
                        if !conn.regions.read(&d, at, dst) {
                            bad = Some(RxCounter::BadDesc);
                            break;
                        }
                        fill += k;
                        at += k;
                        total += k;
                    }
                }
                if d.flags & DESC_FLAG_NEXT == 0 {
                    break;
                }
                if total > MAX_CHAIN * ds {
                    bad.get_or_insert(RxCounter::LongChain);
                }
            }
            if bad.is_none() && total == 0 {
                bad = Some(RxCounter::Empty);
            }
            if let Some(why) = bad {
                vm.count(why as usize, 1);
                dropped += 1;
                // Keep the head for the next packet; free the tail buffers.
                for &b in &chain[1..nb] {
                    vm.bufs.meta_mut(b).flags = 0;
                    vm.bufs.free_one(b);
                }
                continue;
            }
            // Link the chain and set the metadata.
            for k in 0..nb {
                let b = chain[k];
                let len = if k + 1 == nb { fill } else { ds };
                let m = vm.bufs.meta_mut(b);
                m.reset_rx(len as u16, sw);
                if k + 1 < nb {
                    m.flags |= flags::NEXT_PRESENT;
                    m.next_buffer = chain[k + 1].0;
                }
            }
            vm.bufs.meta_mut(head).total_length_not_including_first_buffer =
                (total - vm.bufs.meta(head).current_length as usize) as u32;
            n += 1;
            bytes += total as u64;
        }
        if n < got {
            for &b in &out[n..got] {
                vm.bufs.meta_mut(b).flags = 0;
            }
            vm.bufs.free(&out[n..got]);
        }
        self.last = cur;
        if conn.role == Role::Server {
            ring.store_tail(cur);
        } else {
            self.refill();
        }
        if dropped > 0 {
            vm.ifc.drop(sw, dropped);
            self.stats.drops.fetch_add(dropped, Ordering::Relaxed);
        }
        if n > 0 {
            vm.ifc.rx_batch(sw, n as u64, bytes);
            self.stats.packets.fetch_add(n as u64, Ordering::Relaxed);
            self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        n
    }

    fn fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.conn.rx[self.queue_id as usize].event.raw())
    }

    fn mode(&self) -> RxMode {
        self.mode
    }

    fn set_mode(&mut self, mode: RxMode) {
        self.mode = mode;
        self.mode_store.store(rx_mode_code(mode), Ordering::Relaxed);
        self.conn.rx[self.queue_id as usize].ring.set_flags(ring_flags_for(mode));
    }
}
