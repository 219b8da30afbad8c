//! The transmit path: each queue's socket has one tx ring and completion
//! ring, shared by the threads mapped onto it under a lock (as VPP's af_xdp
//! does when threads outnumber queues).
//!
//! With the arena as UMEM a packet's buffer itself is described on the tx
//! ring and stays the kernel's until the completion ring gives it back,
//! when it is freed (a chain is first copied into one fresh buffer). With a
//! UMEM of its own the chain is copied into a free tx frame and freed at
//! once. A full ring (or no free frame) takes fewer packets than offered.
//!
//! Panic contract: completion addresses come from the kernel; one that is
//! not a frame or buffer in flight is counted (`tx bad completions`) and
//! never followed.

use std::io;
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

use super::sys::{Ring, Umem, XskSocket};
use super::umem::{own_tx_frame, ArenaGeometry, BufSet};
use super::{QueueStats, Stat, FRAME_SIZE, MAX_CHAIN, RX_FRAMES, TX_FRAMES};

/// Copy mode sends this many descriptors per `sendto` (the kernel's
/// TX_BATCH_SIZE) and asks to be called again for the rest.
const KICK_BATCH: usize = 32;

/// A queue's UMEM, as the transmit side sees it.
pub(super) enum TxUmem {
    /// A mapping of its own: packets are copied into its tx frames.
    Own(OwnTx),
    /// The buffer arena: packets are sent from their buffers.
    Arena(ArenaTx),
}

/// Transmit state over a UMEM of its own.
pub(super) struct OwnTx {
    umem: Arc<Umem>,
    /// Tx frames user space owns (not on the tx ring, not in flight).
    free: Vec<u64>,
}

impl OwnTx {
    pub(super) fn new(umem: Arc<Umem>) -> OwnTx {
        let f = FRAME_SIZE as u64;
        OwnTx { umem, free: (RX_FRAMES..RX_FRAMES + TX_FRAMES).map(|k| k as u64 * f).collect() }
    }
}

/// Transmit state over the arena.
pub(super) struct ArenaTx {
    geo: ArenaGeometry,
    /// Buffers on the tx ring or sent and not yet completed.
    in_flight: BufSet,
    /// Scratch: buffers to free at the end of a call.
    done: Vec<BufferIndex>,
}

impl ArenaTx {
    pub(super) fn new(geo: ArenaGeometry, count: u32) -> ArenaTx {
        ArenaTx { geo, in_flight: BufSet::new(count), done: Vec::new() }
    }
}

/// One socket's transmit side.
pub(super) struct TxHalf {
    sock: Arc<XskSocket>,
    umem: TxUmem,
    tx: Ring,
    comp: Ring,
    /// Longest frame the interface takes (MTU + Ethernet + VLAN).
    max_len: usize,
    stats: Arc<QueueStats>,
}

impl TxHalf {
    pub(super) fn new(
        sock: Arc<XskSocket>,
        umem: TxUmem,
        (tx, comp): (Ring, Ring),
        max_len: usize,
        stats: Arc<QueueStats>,
    ) -> TxHalf {
        let max_len = match umem {
            TxUmem::Own(_) => max_len.min(FRAME_SIZE as usize),
            TxUmem::Arena(_) => max_len,
        };
        TxHalf { sock, umem, tx, comp, max_len, stats }
    }

    fn send(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        let mut tally = [0u64; Stat::COUNT];
        let mut prod = self.tx.producer();
        let (taken, queued) = match &mut self.umem {
            TxUmem::Own(o) => {
                o.reclaim(&mut self.comp, &mut tally);
                let r = o.queue(&mut self.tx, &mut prod, bufs, pkts, self.max_len, &mut tally);
                bufs.free(&pkts[..r.0]);
                r
            }
            TxUmem::Arena(a) => {
                a.reclaim(&mut self.comp, bufs, &mut tally);
                a.queue(&mut self.tx, &mut prod, bufs, pkts, self.max_len, &mut tally)
            }
        };
        if queued > 0 {
            self.tx.submit(prod);
            self.kick(queued, &mut tally);
        }
        tally[Stat::TxPackets as usize] = queued as u64;
        tally[Stat::TxRingFull as usize] = (pkts.len() - taken) as u64;
        self.stats.add(&tally);
        taken
    }

    /// Copy mode always wants the kick; a zero-copy driver only when it
    /// says so. Each kick sends a batch; `EAGAIN` means more is left.
    fn kick(&mut self, queued: usize, tally: &mut [u64; Stat::COUNT]) {
        for _ in 0..queued / KICK_BATCH + 2 {
            if !self.tx.needs_wakeup() {
                break;
            }
            match self.sock.kick_tx() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    let busy = matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EBUSY));
                    tally[if busy { Stat::TxKickBusy } else { Stat::TxKickErrors } as usize] += 1;
                    break;
                }
            }
        }
    }
}

impl Drop for TxHalf {
    /// Buffers in flight stay the kernel's until the socket closes: the
    /// socket frees them then.
    fn drop(&mut self) {
        if let TxUmem::Arena(a) = &mut self.umem {
            self.sock.release_after_close(a.in_flight.drain());
        }
    }
}

impl OwnTx {
    /// Takes back the frames the kernel has sent.
    fn reclaim(&mut self, comp: &mut Ring, tally: &mut [u64; Stat::COUNT]) {
        let cons = comp.consumer();
        let n = comp.ready(cons);
        for k in 0..n {
            let a = comp.addr(cons.wrapping_add(k));
            if own_tx_frame(a) && self.free.len() < TX_FRAMES as usize {
                self.free.push(a);
            } else {
                tally[Stat::TxBadCompletion as usize] += 1;
            }
        }
        comp.release(cons.wrapping_add(n));
    }

    /// Copies a buffer chain of `len` bytes into the frame at `addr`.
    fn copy_chain(&self, b: &ThreadBuffers, bi: BufferIndex, addr: u64, len: usize) -> bool {
        let count = b.arena().count();
        let (mut at, mut cur) = (0usize, bi);
        for _ in 0..MAX_CHAIN {
            let d = b.data(cur);
            if at + d.len() > len || !self.umem.copy_in(addr + at as u64, d) {
                return false;
            }
            at += d.len();
            let m = b.meta(cur);
            if m.flags & flags::NEXT_PRESENT == 0 {
                return at == len;
            }
            if m.next_buffer >= count {
                return false;
            }
            cur = BufferIndex(m.next_buffer);
        }
        false
    }

    /// Copies packets into free tx frames and describes them on the ring
    /// from `prod` on. Returns (packets taken, packets queued); the caller
    /// frees the taken ones.
    fn queue(
        &mut self,
        tx: &mut Ring,
        prod: &mut u32,
        bufs: &ThreadBuffers,
        pkts: &[BufferIndex],
        max_len: usize,
        tally: &mut [u64; Stat::COUNT],
    ) -> (usize, usize) {
        let mut room = tx.free(*prod);
        let (mut taken, mut queued) = (0, 0);
        for &bi in pkts {
            if room == 0 || self.free.is_empty() {
                break;
            }
            taken += 1;
            let len = bufs.chain_len(bi);
            if len == 0 || len > max_len {
                tally[Stat::TxTooLong as usize] += 1;
                continue;
            }
            let Some(addr) = self.free.pop() else { break };
            if !self.copy_chain(bufs, bi, addr, len) {
                self.free.push(addr);
                tally[Stat::TxBadChain as usize] += 1;
                continue;
            }
            tx.set_desc(*prod, addr, len as u32);
            *prod = prod.wrapping_add(1);
            room -= 1;
            queued += 1;
            tally[Stat::TxBytes as usize] += len as u64;
        }
        (taken, queued)
    }
}

impl ArenaTx {
    /// Frees the buffers the kernel has sent.
    fn reclaim(&mut self, comp: &mut Ring, bufs: &mut ThreadBuffers, tally: &mut [u64; Stat::COUNT]) {
        let cons = comp.consumer();
        let n = comp.ready(cons);
        for k in 0..n {
            let a = comp.addr(cons.wrapping_add(k));
            match self.geo.completed(a).filter(|&bi| self.in_flight.take(bi)) {
                Some(bi) => self.done.push(bi),
                None => tally[Stat::TxBadCompletion as usize] += 1,
            }
        }
        comp.release(cons.wrapping_add(n));
        // Only single buffers are ever sent, so none is a chain.
        bufs.free(&self.done);
        self.done.clear();
    }

    /// A chain copied into one fresh buffer (the original is freed); None
    /// when there is no buffer or the chain does not fit in one.
    fn linearize(bufs: &mut ThreadBuffers, bi: BufferIndex, len: usize) -> Option<BufferIndex> {
        if len > bufs.data_size() {
            return None;
        }
        let bytes = bufs.chain_bytes(bi);
        let nb = bufs.alloc_one()?;
        let rx = bufs.meta(bi).sw_if_index;
        bufs.fill(nb, &bytes, rx[0]);
        bufs.meta_mut(nb).sw_if_index = rx;
        Some(nb)
    }

    /// Describes each packet's buffer on the ring from `prod` on and keeps
    /// it in flight. Returns (packets taken, packets queued); those taken
    /// and not queued are freed here.
    fn queue(
        &mut self,
        tx: &mut Ring,
        prod: &mut u32,
        bufs: &mut ThreadBuffers,
        pkts: &[BufferIndex],
        max_len: usize,
        tally: &mut [u64; Stat::COUNT],
    ) -> (usize, usize) {
        let mut room = tx.free(*prod);
        let (mut taken, mut queued) = (0, 0);
        for &bi in pkts {
            if room == 0 {
                break;
            }
            taken += 1;
            let len = bufs.chain_len(bi);
            if len == 0 || len > max_len {
                tally[Stat::TxTooLong as usize] += 1;
                self.done.push(bi);
                continue;
            }
            let mut b = bi;
            if bufs.meta(bi).flags & flags::NEXT_PRESENT != 0 {
                // The original goes back either way.
                self.done.push(bi);
                match Self::linearize(bufs, bi, len) {
                    Some(nb) => {
                        b = nb;
                        tally[Stat::TxLinearized as usize] += 1;
                    }
                    None => {
                        tally[Stat::TxBadChain as usize] += 1;
                        continue;
                    }
                }
            }
            let m = bufs.meta(b);
            let len = m.current_length as usize;
            let Some(addr) = self.geo.tx_addr(b, m.current_data, len) else {
                tally[Stat::TxBadChain as usize] += 1;
                self.done.push(b);
                continue;
            };
            if !self.in_flight.insert(b) {
                // Already the kernel's: sent twice by someone. Neither send
                // nor free it again.
                tally[Stat::TxBadChain as usize] += 1;
                continue;
            }
            tx.set_desc(*prod, addr, len as u32);
            *prod = prod.wrapping_add(1);
            room -= 1;
            queued += 1;
            tally[Stat::TxBytes as usize] += len as u64;
        }
        bufs.free(&self.done);
        self.done.clear();
        (taken, queued)
    }
}

/// A thread's tx queue: the transmit side of one of the interface's sockets.
pub struct AfXdpTx {
    half: Arc<Mutex<TxHalf>>,
}

impl AfXdpTx {
    pub(super) fn new(half: Arc<Mutex<TxHalf>>) -> AfXdpTx {
        AfXdpTx { half }
    }
}

impl TxQueue for AfXdpTx {
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        match self.half.lock() {
            Ok(mut h) => h.send(bufs, pkts),
            // A thread panicked mid-send: refuse rather than trust the ring.
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use rvpp_dataplane::buffer::Backing;
    use rvpp_dataplane::Buffers;

    use super::*;

    #[test]
    fn arena_completions_free_only_buffers_in_flight_once() {
        let arena = Buffers::new(1024, 2048, Backing::Pages).expect("arena");
        let mut bufs = arena.thread(0);
        let geo = ArenaGeometry::new(&arena.layout());
        let mut a = ArenaTx::new(geo, arena.count());
        let sent = bufs.alloc_one().expect("buffer");
        bufs.fill(sent, &[1; 60], 0);
        assert!(a.in_flight.insert(sent));
        let never = bufs.alloc_one().expect("buffer");
        let addr = geo.tx_addr(sent, 0, 60).expect("inside");
        let mut comp = Ring::anonymous(8, 8).expect("ring");
        let mut prod = comp.producer();
        for x in [addr, addr, geo.tx_addr(never, 0, 60).expect("inside"), u64::MAX, 7] {
            comp.set_addr(prod, x);
            prod = prod.wrapping_add(1);
        }
        comp.submit(prod);
        let before = bufs.cached();
        let mut tally = [0u64; Stat::COUNT];
        a.reclaim(&mut comp, &mut bufs, &mut tally);
        assert_eq!(tally[Stat::TxBadCompletion as usize], 4);
        assert_eq!(bufs.cached(), before + 1, "the one buffer in flight is freed, once");
        assert_eq!(a.in_flight.len(), 0);
        assert_eq!(comp.ready(comp.consumer()), 0, "every entry consumed");
    }

    #[test]
    fn arena_tx_sends_buffers_in_place_and_a_chain_as_one_copy() {
        let arena = Buffers::new(1024, 2048, Backing::Pages).expect("arena");
        let mut bufs = arena.thread(0);
        let geo = ArenaGeometry::new(&arena.layout());
        let mut a = ArenaTx::new(geo, arena.count());
        let mut tx = Ring::anonymous(4, 16).expect("ring");
        let one = bufs.alloc_one().expect("buffer");
        bufs.fill(one, &[1; 60], 0);
        assert!(bufs.advance(one, -14), "a header prepended into the headroom");
        let (head, tail) = (bufs.alloc_one().expect("buffer"), bufs.alloc_one().expect("buffer"));
        bufs.fill(head, &[2; 100], 0);
        bufs.fill(tail, &[3; 50], 0);
        let m = bufs.meta_mut(head);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = tail.0;
        m.total_length_not_including_first_buffer = 50;
        let long = bufs.alloc_one().expect("buffer");
        bufs.fill(long, &[4; 1600], 0);
        let mut prod = tx.producer();
        let mut tally = [0u64; Stat::COUNT];
        let (taken, queued) = a.queue(&mut tx, &mut prod, &mut bufs, &[one, head, long], 1518, &mut tally);
        assert_eq!((taken, queued), (3, 2));
        assert_eq!((tally[Stat::TxTooLong as usize], tally[Stat::TxLinearized as usize]), (1, 1));
        // The first is described where it lies, headroom included.
        assert_eq!(tx.desc(0), (geo.tx_addr(one, -14, 74).expect("inside"), 74));
        // The chain went out as one fresh buffer holding both parts.
        let (addr, len) = tx.desc(1);
        let copy = geo.completed(addr).expect("a buffer");
        assert!(![one, head, tail, long].contains(&copy));
        assert_eq!(len, 150);
        assert_eq!(bufs.data(copy), [[2u8; 100].as_slice(), &[3; 50]].concat());
        assert!(a.in_flight.take(one) && a.in_flight.take(copy));
        assert_eq!(a.in_flight.len(), 0, "only the two sent are in flight");
    }

    #[test]
    fn own_umem_completions_take_back_only_tx_frames() {
        let umem = Arc::new(Umem::new(RX_FRAMES + TX_FRAMES, FRAME_SIZE).expect("umem"));
        let mut o = OwnTx::new(umem);
        let f = FRAME_SIZE as u64;
        let frame = o.free.pop().expect("a tx frame");
        let mut comp = Ring::anonymous(8, 8).expect("ring");
        let mut prod = comp.producer();
        for x in [frame, 0, frame + 1, (RX_FRAMES + TX_FRAMES) as u64 * f] {
            comp.set_addr(prod, x);
            prod = prod.wrapping_add(1);
        }
        comp.submit(prod);
        let mut tally = [0u64; Stat::COUNT];
        o.reclaim(&mut comp, &mut tally);
        assert_eq!(tally[Stat::TxBadCompletion as usize], 3);
        assert_eq!(o.free.len(), TX_FRAMES as usize);
        assert_eq!(o.free.last(), Some(&frame));
    }
}
