//! The transmit path: one [`AfPacketTx`] per thread copies each packet's
//! buffer chain into the next free TPACKET_V2 tx frame and kicks the socket
//! once per burst; a full ring takes fewer packets than offered. A TCP
//! super-segment ([`flags::GSO`]) goes instead through a second socket
//! with virtio-net headers, its buffers handed to `sendmsg` as they are and
//! a header telling the kernel to cut it into segments (GSO; on veth the
//! peer takes it whole); the ring is kicked first so packets keep their
//! order.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

use super::frame::{self, VnetHdr, TX_DATA_OFFSET};
use super::sys::{PacketSocket, TxRing, MAX_SEND_PARTS};
use super::{add_all, MAX_CHAIN};

/// Per-thread transmit counters.
#[derive(Clone, Copy)]
#[repr(usize)]
pub(super) enum TxStat {
    Packets,
    Bytes,
    RingFull,
    TooLong,
    BadChain,
    KickBusy,
    KickErrors,
    Gso,
    GsoBusy,
    GsoErrors,
}

pub(super) const TX_STATS: usize = 10;
pub(super) const TX_STAT_NAMES: [&str; TX_STATS] = [
    "packets",
    "bytes",
    "ring full",
    "too-long drops",
    "bad-chain drops",
    "kick busy",
    "kick errors",
    "gso packets",
    "gso busy drops",
    "gso errors",
];

/// A thread's tx counters, shared with the device.
#[derive(Default)]
pub(super) struct TxStats {
    pub(super) v: [AtomicU64; TX_STATS],
    pub(super) in_flight: AtomicU64,
    pub(super) in_flight_peak: AtomicU64,
}

/// Copies a buffer chain into `dst`, which must be exactly its length.
pub(super) fn copy_from_chain(b: &ThreadBuffers, bi: BufferIndex, dst: &mut [u8]) -> bool {
    let count = b.arena().count();
    let (mut at, mut cur) = (0, bi);
    for _ in 0..MAX_CHAIN {
        let d = b.data(cur);
        let n = d.len().min(dst.len() - at);
        dst[at..at + n].copy_from_slice(&d[..n]);
        at += n;
        let m = b.meta(cur);
        if m.flags & flags::NEXT_PRESENT == 0 || m.next_buffer >= count {
            return at == dst.len() && m.flags & flags::NEXT_PRESENT == 0;
        }
        cur = BufferIndex(m.next_buffer);
    }
    false
}

/// The socket a thread sends TCP super-segments through, and the kernel
/// interface it sends out of.
pub(super) struct GsoSocket {
    pub(super) sock: PacketSocket,
    pub(super) ifindex: u32,
}

/// One thread's tx queue: its own socket and ring.
pub struct AfPacketTx {
    sock: PacketSocket,
    ring: TxRing,
    gso: Option<GsoSocket>,
    next: usize,
    /// Oldest frame that may still be with the kernel, and how many are.
    reclaim: usize,
    in_flight: usize,
    /// Longest packet the kernel takes (ring frame and MTU bound).
    max_len: usize,
    stats: Arc<TxStats>,
}

impl AfPacketTx {
    pub(super) fn new(
        sock: PacketSocket,
        ring: TxRing,
        gso: Option<GsoSocket>,
        max_len: usize,
        stats: Arc<TxStats>,
    ) -> AfPacketTx {
        AfPacketTx { sock, ring, gso, next: 0, reclaim: 0, in_flight: 0, max_len, stats }
    }

    /// Sends the queued ring frames now.
    fn kick(&self, tally: &mut [u64; TX_STATS]) {
        if let Err(e) = self.sock.kick() {
            // A full socket buffer leaves frames queued for the next
            // kick; anything else is worth counting apart.
            let busy = e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS);
            tally[if busy { TxStat::KickBusy } else { TxStat::KickErrors } as usize] += 1;
        }
    }

    /// Hands a TCP super-segment to the kernel to cut; returns its length
    /// or what to count instead.
    fn send_gso(&self, bufs: &ThreadBuffers, bi: BufferIndex) -> Result<usize, TxStat> {
        let Some(g) = &self.gso else { return Err(TxStat::TooLong) };
        let first = bufs.data(bi);
        let vh = VnetHdr::for_tcp_gso(first, bufs.meta(bi).gso_size).ok_or(TxStat::BadChain)?.emit();
        let mut parts: [&[u8]; MAX_SEND_PARTS] = [&[]; MAX_SEND_PARTS];
        parts[0] = &vh;
        let (mut n, mut cur) = (1, bi);
        let count = bufs.arena().count();
        loop {
            parts[n] = bufs.data(cur);
            n += 1;
            let m = bufs.meta(cur);
            if m.flags & flags::NEXT_PRESENT == 0 {
                break;
            }
            if n == MAX_SEND_PARTS || m.next_buffer >= count {
                return Err(TxStat::BadChain);
            }
            cur = BufferIndex(m.next_buffer);
        }
        let ethertype = u16::from_be_bytes([first[12], first[13]]);
        match g.sock.send_parts(g.ifindex, ethertype, &parts[..n]) {
            Ok(sent) => Ok(sent.saturating_sub(vh.len())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS) => {
                Err(TxStat::GsoBusy)
            }
            Err(_) => Err(TxStat::GsoErrors),
        }
    }

    /// Advances past frames the kernel has finished with.
    fn reclaim(&mut self) {
        let nr = self.ring.frame_nr();
        while self.in_flight > 0 && !self.ring.is_busy(self.reclaim) {
            self.reclaim = (self.reclaim + 1) % nr;
            self.in_flight -= 1;
        }
    }
}

impl TxQueue for AfPacketTx {
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        self.reclaim();
        let nr = self.ring.frame_nr();
        let mut tally = [0u64; TX_STATS];
        let (mut taken, mut queued, mut unkicked) = (0, 0, 0);
        for &bi in pkts {
            if bufs.meta(bi).flags & flags::GSO != 0 {
                taken += 1;
                if unkicked > 0 {
                    self.kick(&mut tally);
                    unkicked = 0;
                }
                match self.send_gso(bufs, bi) {
                    Ok(n) => {
                        tally[TxStat::Gso as usize] += 1;
                        tally[TxStat::Packets as usize] += 1;
                        tally[TxStat::Bytes as usize] += n as u64;
                    }
                    Err(s) => tally[s as usize] += 1,
                }
                continue;
            }
            let len = bufs.chain_len(bi);
            if len == 0 || len > self.max_len {
                tally[TxStat::TooLong as usize] += 1;
                taken += 1;
                continue;
            }
            let Some(f) = self.ring.frame(self.next) else { break };
            taken += 1;
            let Some(dst) = f.get_mut(TX_DATA_OFFSET..TX_DATA_OFFSET + len) else {
                tally[TxStat::TooLong as usize] += 1;
                continue;
            };
            if !copy_from_chain(bufs, bi, dst) || !frame::set_tx_len(f, len as u32) {
                tally[TxStat::BadChain as usize] += 1;
                continue;
            }
            self.ring.submit(self.next);
            self.next = (self.next + 1) % nr;
            queued += 1;
            unkicked += 1;
            tally[TxStat::Bytes as usize] += len as u64;
        }
        self.in_flight += queued;
        if unkicked > 0 {
            self.kick(&mut tally);
        }
        bufs.free(&pkts[..taken]);
        tally[TxStat::Packets as usize] += queued as u64;
        tally[TxStat::RingFull as usize] = (pkts.len() - taken) as u64;
        add_all(&self.stats.v, &tally);
        self.stats.in_flight.store(self.in_flight as u64, Ordering::Relaxed);
        self.stats.in_flight_peak.fetch_max(self.in_flight as u64, Ordering::Relaxed);
        taken
    }
}
