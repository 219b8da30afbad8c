//! The transmit path: each queue's socket has one tx ring and completion
//! ring, shared by the threads mapped onto it under a lock (as VPP's af_xdp
//! does when threads outnumber queues). A packet's buffer chain is copied
//! into a free tx frame of the UMEM and described on the tx ring; frames
//! come back through the completion ring. A full ring (or no free frame)
//! takes fewer packets than offered.

use std::io;
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

use super::sys::{Ring, Umem, XskSocket};
use super::{QueueStats, Stat, FRAME_SIZE, MAX_CHAIN, RX_FRAMES, TX_FRAMES};

/// Copy mode sends this many descriptors per `sendto` (the kernel's
/// TX_BATCH_SIZE) and asks to be called again for the rest.
const KICK_BATCH: usize = 32;

/// One socket's transmit side.
pub(super) struct TxHalf {
    sock: Arc<XskSocket>,
    umem: Arc<Umem>,
    tx: Ring,
    comp: Ring,
    /// Tx frames user space owns (not on the tx ring, not in flight).
    free: Vec<u64>,
    /// Longest frame the interface takes (MTU + Ethernet + VLAN).
    max_len: usize,
    stats: Arc<QueueStats>,
}

/// Whether `addr` is the start of a tx frame (`[RX_FRAMES, RX_FRAMES +
/// TX_FRAMES)` of the UMEM).
fn is_tx_frame(addr: u64) -> bool {
    let f = FRAME_SIZE as u64;
    addr.is_multiple_of(f) && (RX_FRAMES as u64 * f..(RX_FRAMES + TX_FRAMES) as u64 * f).contains(&addr)
}

impl TxHalf {
    pub(super) fn new(
        sock: Arc<XskSocket>,
        umem: Arc<Umem>,
        tx: Ring,
        comp: Ring,
        max_len: usize,
        stats: Arc<QueueStats>,
    ) -> TxHalf {
        let f = FRAME_SIZE as u64;
        let free = (RX_FRAMES..RX_FRAMES + TX_FRAMES).map(|k| k as u64 * f).collect();
        TxHalf { sock, umem, tx, comp, free, max_len: max_len.min(FRAME_SIZE as usize), stats }
    }

    /// Takes back the frames the kernel has sent.
    fn reclaim(&mut self, tally: &mut [u64; Stat::COUNT]) {
        let cons = self.comp.consumer();
        let n = self.comp.ready(cons);
        for k in 0..n {
            let a = self.comp.addr(cons.wrapping_add(k));
            if is_tx_frame(a) && self.free.len() < TX_FRAMES as usize {
                self.free.push(a);
            } else {
                tally[Stat::TxBadCompletion as usize] += 1;
            }
        }
        self.comp.release(cons.wrapping_add(n));
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

    fn send(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        let mut tally = [0u64; Stat::COUNT];
        self.reclaim(&mut tally);
        let mut prod = self.tx.producer();
        let mut room = self.tx.free(prod);
        let (mut taken, mut queued) = (0, 0);
        for &bi in pkts {
            if room == 0 || self.free.is_empty() {
                break;
            }
            taken += 1;
            let len = bufs.chain_len(bi);
            if len == 0 || len > self.max_len {
                tally[Stat::TxTooLong as usize] += 1;
                continue;
            }
            let Some(addr) = self.free.pop() else { break };
            if !self.copy_chain(bufs, bi, addr, len) {
                self.free.push(addr);
                tally[Stat::TxBadChain as usize] += 1;
                continue;
            }
            self.tx.set_desc(prod, addr, len as u32);
            prod = prod.wrapping_add(1);
            room -= 1;
            queued += 1;
            tally[Stat::TxBytes as usize] += len as u64;
        }
        if queued > 0 {
            self.tx.submit(prod);
            // Copy mode always wants the kick; a zero-copy driver only when
            // it says so. Each kick sends a batch; EAGAIN means more is left.
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
        bufs.free(&pkts[..taken]);
        tally[Stat::TxPackets as usize] = queued as u64;
        tally[Stat::TxRingFull as usize] = (pkts.len() - taken) as u64;
        self.stats.add(&tally);
        taken
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
    use super::*;

    #[test]
    fn only_tx_frame_starts_come_back() {
        let f = FRAME_SIZE as u64;
        assert!(is_tx_frame(RX_FRAMES as u64 * f));
        assert!(is_tx_frame((RX_FRAMES + TX_FRAMES - 1) as u64 * f));
        assert!(!is_tx_frame((RX_FRAMES + TX_FRAMES) as u64 * f));
        assert!(!is_tx_frame(0));
        assert!(!is_tx_frame(RX_FRAMES as u64 * f + 1));
    }
}
