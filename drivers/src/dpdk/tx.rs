//! The transmit path: each thread sends on tx queue `thread % queues` of
//! the port, under a lock only when threads outnumber the port's queues.
//!
//! Zero copy (the port's pool is the arena): each packet's buffers are its
//! mbufs; their fields are set from the metadata (a chain becomes an mbuf
//! chain when the port takes multi-segment packets, else a counted drop)
//! and the burst goes to `tx_burst`. What the driver takes is its own: it
//! frees the mbufs into the mempool, whose enqueue gives the buffers back
//! to rvpp. What it does not take after a few tries stays rvpp's, is freed
//! and counted. Copy path: packets are copied from their buffer chains into
//! freshly allocated mbufs (one bulk alloc per frame), handed to
//! `tx_burst`, and what the driver does not take is freed and counted.

use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

use super::sys::{self, Mbufs, Pool, Seg, ZcArena, MAX_SEGS};
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
    /// Whether the port takes chained mbufs (zero copy sends chains so).
    multi_seg: bool,
    segs: Box<[Seg; MAX_SEGS]>,
    /// Packets to free: dropped ones, then those the driver left.
    drop: Box<[BufferIndex; sys::BURST]>,
}

impl TxHalf {
    pub(super) fn new(port: u16, queue: u16, pool: Arc<Pool>, stats: Arc<DriverStats>, multi_seg: bool) -> TxHalf {
        TxHalf {
            port,
            queue,
            pool,
            mbufs: Mbufs::default(),
            lens: Box::new([0; sys::BURST]),
            stats,
            multi_seg,
            segs: Box::new([Seg::default(); MAX_SEGS]),
            drop: Box::new([BufferIndex(0); sys::BURST]),
        }
    }

    /// Hands the filled mbufs to the driver, up to [`TX_TRIES`] bursts
    /// until it has taken them all; returns how many it took (the rest stay
    /// in `mbufs`, at the front).
    fn burst(&mut self) -> usize {
        let mut sent = 0;
        for _ in 0..TX_TRIES {
            if self.mbufs.len() == 0 {
                break;
            }
            sent += self.mbufs.tx_burst(self.port, self.queue, self.mbufs.len());
        }
        sent
    }

    /// The segments of the chain of `bi` into `self.segs` (how many), or
    /// None when it is malformed, longer than [`MAX_SEGS`], has bytes
    /// outside a buffer, or is chained on a port that takes no chains.
    fn chain_segs(&mut self, b: &ThreadBuffers, bi: BufferIndex) -> Option<usize> {
        let count = b.arena().count();
        let mut cur = bi;
        for j in 0..MAX_SEGS {
            let m = b.meta(cur);
            let off = HEADROOM as i32 + i32::from(m.current_data);
            if off < 0 || off > i32::from(u16::MAX) {
                return None;
            }
            self.segs[j] = Seg { bi: cur.0, off: off as u16, len: m.current_length };
            if m.flags & flags::NEXT_PRESENT == 0 {
                return Some(j + 1);
            }
            if !self.multi_seg || m.next_buffer >= count {
                return None;
            }
            cur = BufferIndex(m.next_buffer);
        }
        None
    }

    /// Zero copy: sends the packets' own buffers.
    fn send_zc(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex], a: &ZcArena) -> usize {
        let mut tally = [0u64; Stat::COUNT];
        let n = pkts.len().min(sys::BURST);
        let mut dropped = 0;
        let mut j = 0;
        for &bi in &pkts[..n] {
            let m = bufs.meta(bi);
            let off = HEADROOM as i32 + i32::from(m.current_data);
            if m.flags & flags::NEXT_PRESENT == 0 && (0..=i32::from(u16::MAX)).contains(&off) {
                self.lens[j] = u32::from(m.current_length);
                if self.mbufs.push_single(a, self.port, bi.0, off as u16, m.current_length) {
                    j += 1;
                } else {
                    tally[Stat::TxTooLong as usize] += 1;
                    self.drop[dropped] = bi;
                    dropped += 1;
                }
                continue;
            }
            let pushed = match self.chain_segs(bufs, bi) {
                Some(ns) => {
                    let len: u32 = self.segs[..ns].iter().map(|s| u32::from(s.len)).sum();
                    self.lens[j] = len;
                    self.mbufs.push_zc(a, self.port, &self.segs[..ns])
                }
                None => false,
            };
            if pushed {
                j += 1;
            } else {
                tally[Stat::TxTooLong as usize] += 1;
                self.drop[dropped] = bi;
                dropped += 1;
            }
        }
        let sent = self.burst();
        if self.mbufs.len() > 0 {
            tally[Stat::TxRingFull as usize] = self.mbufs.len() as u64;
            dropped += self.mbufs.unsend_zc(a, &mut self.drop[dropped..]);
        }
        tally[Stat::TxPackets as usize] = sent as u64;
        tally[Stat::TxBytes as usize] = self.lens[..sent].iter().map(|&l| l as u64).sum();
        bufs.free(&self.drop[..dropped]);
        self.stats.add(&tally);
        n
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
        if let Some(a) = self.pool.zero_copy_arena() {
            return self.send_zc(bufs, pkts, a);
        }
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
            let sent = self.burst();
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
