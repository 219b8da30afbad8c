//! The transmit path: each thread sends on tx queue `thread % queues` of
//! the port, under a lock only when threads outnumber the port's queues.
//! Packets are copied from their buffer chains into freshly allocated
//! mbufs (one bulk alloc per frame), handed to `tx_burst`, and what the
//! driver does not take after a few tries is freed and counted.

use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

use super::sys::{self, Mbufs, Pool};
use super::{DriverStats, Stat};

/// Most buffers in one chain the tx path reads.
const MAX_CHAIN: usize = 64;
/// `tx_burst` calls for one frame before the rest is dropped.
const TX_TRIES: usize = 3;

/// One tx queue of a port.
pub(super) struct TxHalf {
    port: u16,
    queue: u16,
    pool: Arc<Pool>,
    mbufs: Mbufs,
    /// Packet length per filled mbuf slot of the burst.
    lens: Box<[u32; sys::BURST]>,
    stats: Arc<DriverStats>,
}

impl TxHalf {
    pub(super) fn new(port: u16, queue: u16, pool: Arc<Pool>, stats: Arc<DriverStats>) -> TxHalf {
        TxHalf { port, queue, pool, mbufs: Mbufs::default(), lens: Box::new([0; sys::BURST]), stats }
    }

    /// Copies the chain of `bi` into mbuf slot `k`; None when it does not
    /// fit one mbuf or the chain is malformed.
    fn copy_chain(&mut self, b: &ThreadBuffers, bi: BufferIndex, k: usize) -> Option<usize> {
        let count = b.arena().count();
        self.mbufs.fill_with(k, |w| {
            let mut cur = bi;
            for _ in 0..MAX_CHAIN {
                if !w.push(b.data(cur)) {
                    return false;
                }
                let m = b.meta(cur);
                if m.flags & flags::NEXT_PRESENT == 0 {
                    return true;
                }
                if m.next_buffer >= count {
                    return false;
                }
                cur = BufferIndex(m.next_buffer);
            }
            false
        })
    }

    fn send(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        sys::register_thread();
        let mut tally = [0u64; Stat::COUNT];
        let n = pkts.len().min(sys::BURST);
        if !self.mbufs.alloc(&self.pool, n) {
            tally[Stat::TxNoMbuf as usize] = n as u64;
        } else {
            let mut j = 0;
            for &bi in &pkts[..n] {
                match self.copy_chain(bufs, bi, j) {
                    Some(len) => {
                        self.lens[j] = len as u32;
                        j += 1;
                    }
                    None => tally[Stat::TxTooLong as usize] += 1,
                }
            }
            self.mbufs.free_from(j);
            let mut sent = 0;
            for _ in 0..TX_TRIES {
                if self.mbufs.len() == 0 {
                    break;
                }
                sent += self.mbufs.tx_burst(self.port, self.queue, self.mbufs.len());
            }
            if self.mbufs.len() > 0 {
                tally[Stat::TxRingFull as usize] = self.mbufs.len() as u64;
                self.mbufs.free_from(0);
            }
            // The driver takes packets in order: the first `sent` went.
            tally[Stat::TxPackets as usize] = sent as u64;
            tally[Stat::TxBytes as usize] = self.lens[..sent].iter().map(|&l| l as u64).sum();
        }
        bufs.free(&pkts[..n]);
        self.stats.add(&tally);
        n
    }
}

/// A thread's tx queue.
pub struct DpdkTx {
    half: Arc<Mutex<TxHalf>>,
}

impl DpdkTx {
    pub(super) fn new(half: Arc<Mutex<TxHalf>>) -> DpdkTx {
        DpdkTx { half }
    }
}

impl TxQueue for DpdkTx {
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        match self.half.lock() {
            Ok(mut h) => h.send(bufs, pkts),
            // A thread panicked mid-send: refuse rather than trust the queue.
            Err(_) => 0,
        }
    }
}
