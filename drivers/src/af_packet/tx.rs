//! The transmit path: one [`AfPacketTx`] per thread copies each packet's
//! buffer chain into the next free TPACKET_V2 tx frame and kicks the socket
//! once per burst; a full ring takes fewer packets than offered. A TCP
//! super-segment ([`flags::GSO`]) goes instead through a second socket
//! with virtio-net headers, its buffers handed to `sendmsg` as they are and
//! a header telling the kernel to cut it into segments (GSO; on veth the
//! peer takes it whole).
//!
//! A kick the kernel does not finish (`EAGAIN`, `ENOBUFS`, `ENETDOWN`...)
//! leaves frames marked `TP_STATUS_SEND_REQUEST` that only another kick
//! sends. The queue then owes one: its [`TxKick`] says when to try again,
//! and the thread's `af-packet-tx-retry` input node ([`TxRetry`], polled
//! every loop, asking its thread to wake by that time when idle) retries it
//! with a growing wait, so the tail of a burst goes out without waiting for
//! more traffic and without spinning. A super-segment never overtakes frames
//! left in the ring: the ring is kicked first, and when it still holds
//! frames the super-segment is dropped (counted) rather than sent ahead.
//!
//! Packets the queue takes but drops (too long, bad chain, super-segment
//! refused) are reported to `interface-output` through
//! [`TxQueue::take_dropped`], which counts them as tx errors, not as sent.

use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::node::{Idle, NodeKind};
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, ThreadBuffers, Vm};

use super::frame::{self, VnetHdr, TX_DATA_OFFSET};
use super::sys::{PacketSocket, TxRing, MAX_SEND_PARTS};
use super::{add_all, MAX_CHAIN};

/// The node that retries failed kicks, one instance per thread.
pub const TX_RETRY_NODE: &str = "af-packet-tx-retry";
/// First wait before a failed kick is tried again; it doubles per failure.
const RETRY_FIRST: Duration = Duration::from_micros(50);
/// Longest wait between tries (a link down for long costs ~10 calls/s).
const RETRY_MAX: Duration = Duration::from_millis(100);

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
    KickRetries,
    Gso,
    GsoBusy,
    GsoErrors,
    GsoBehindRing,
}

pub(super) const TX_STATS: usize = 12;
pub(super) const TX_STAT_NAMES: [&str; TX_STATS] = [
    "packets",
    "bytes",
    "ring full",
    "too-long drops",
    "bad-chain drops",
    "kick busy",
    "kick errors",
    "kick retries",
    "gso packets",
    "gso busy drops",
    "gso errors",
    "gso drops behind unsent frames",
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

/// Whether a kick failed for want of room (socket buffer, device queue)
/// rather than for another reason; either leaves frames queued.
fn is_busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// TSC ticks in `d`.
fn ticks(d: Duration) -> u64 {
    (rvpp_dataplane::arch::tsc_hz() * d.as_secs_f64()) as u64
}

/// A thread's tx ring socket and the kick it owes, shared by its
/// [`AfPacketTx`] and the [`TxRetry`] node of the same thread (the two never
/// run at once; the atomics only make the sharing `Sync`).
pub(super) struct TxKick {
    sock: PacketSocket,
    stats: Arc<TxStats>,
    /// TSC time the owed kick is due; `u64::MAX` when none is owed.
    retry_at: AtomicU64,
    /// The wait after the next failure (TSC ticks).
    backoff: AtomicU64,
    first: u64,
    max: u64,
}

impl TxKick {
    pub(super) fn new(sock: PacketSocket, stats: Arc<TxStats>) -> TxKick {
        let (first, max) = (ticks(RETRY_FIRST).max(1), ticks(RETRY_MAX).max(1));
        TxKick { sock, stats, retry_at: AtomicU64::new(u64::MAX), backoff: AtomicU64::new(first), first, max }
    }

    /// When the owed kick is due (TSC), if one is owed.
    pub(super) fn due(&self) -> Option<u64> {
        Some(self.retry_at.load(Ordering::Relaxed)).filter(|&t| t != u64::MAX)
    }

    /// Asks the kernel to send the ring's queued frames; a failure is
    /// counted (busy or error). Ok holds the bytes sent.
    fn kick(&self, tally: &mut [u64; TX_STATS]) -> io::Result<usize> {
        let r = self.sock.kick();
        if let Err(e) = &r {
            tally[if is_busy(e) { TxStat::KickBusy } else { TxStat::KickErrors } as usize] += 1;
        }
        r
    }

    /// Records whether frames wait in the ring after a kick: owing a kick
    /// starts the wait afresh; paying it resets the wait.
    fn set_owed(&self, owed: bool, now: impl FnOnce() -> u64) {
        let was = self.due().is_some();
        if !owed && was {
            self.retry_at.store(u64::MAX, Ordering::Relaxed);
            self.backoff.store(self.first, Ordering::Relaxed);
        } else if owed && !was {
            self.retry_at.store(now() + self.first, Ordering::Relaxed);
            self.backoff.store(self.first, Ordering::Relaxed);
        }
    }

    /// Tries the owed kick when it is due at `now`: None when nothing was
    /// due, else whether the call went through. A call that sent nothing
    /// found nothing queued (paid); one that sent some may have stopped
    /// short (a full socket buffer): it is checked again soon. A failure
    /// doubles the wait, up to [`RETRY_MAX`].
    fn retry(&self, now: u64, tally: &mut [u64; TX_STATS]) -> Option<bool> {
        if now < self.retry_at.load(Ordering::Relaxed) {
            return None;
        }
        tally[TxStat::KickRetries as usize] += 1;
        match self.kick(tally) {
            Ok(0) => {
                self.set_owed(false, || now);
                Some(true)
            }
            Ok(_) => {
                self.retry_at.store(now + self.first, Ordering::Relaxed);
                self.backoff.store(self.first, Ordering::Relaxed);
                Some(true)
            }
            Err(_) => {
                let b = self.backoff.load(Ordering::Relaxed);
                self.retry_at.store(now + b, Ordering::Relaxed);
                self.backoff.store((b * 2).min(self.max), Ordering::Relaxed);
                Some(false)
            }
        }
    }
}

/// One thread's tx queue: its own socket and ring.
pub struct AfPacketTx {
    kick: Arc<TxKick>,
    ring: TxRing,
    gso: Option<GsoSocket>,
    next: usize,
    /// Oldest frame that may still be with the kernel, and how many are.
    reclaim: usize,
    in_flight: usize,
    /// Longest packet the kernel takes (ring frame and MTU bound).
    max_len: usize,
    /// Packets (and bytes) taken and dropped since `take_dropped` last ran.
    dropped: (u64, u64),
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
        let kick = Arc::new(TxKick::new(sock, stats.clone()));
        AfPacketTx { kick, ring, gso, next: 0, reclaim: 0, in_flight: 0, max_len, dropped: (0, 0), stats }
    }

    /// The queue's kick state, for its thread's [`TxRetry`] node.
    pub(super) fn kick_handle(&self) -> Arc<TxKick> {
        self.kick.clone()
    }

    /// Kicks the ring; returns whether every frame queued so far went to
    /// the kernel. The last frame queued still waiting says otherwise (the
    /// kernel takes frames in ring order), and then a kick is owed.
    fn flush(&mut self, tally: &mut [u64; TX_STATS]) -> bool {
        let _ = self.kick.kick(tally);
        let nr = self.ring.frame_nr();
        let flushed = !self.ring.is_queued((self.next + nr - 1) % nr);
        self.kick.set_owed(!flushed, rvpp_dataplane::arch::rdtsc);
        flushed
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
            Err(e) if is_busy(&e) => Err(TxStat::GsoBusy),
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
        let mut dropped = (0u64, 0u64);
        for &bi in pkts {
            if bufs.meta(bi).flags & flags::GSO != 0 {
                taken += 1;
                // Frames queued before it (this burst's, or left by a kick
                // that failed) go first.
                let clear = (unkicked == 0 && self.kick.due().is_none()) || self.flush(&mut tally);
                unkicked = 0;
                match if clear { self.send_gso(bufs, bi) } else { Err(TxStat::GsoBehindRing) } {
                    Ok(n) => {
                        tally[TxStat::Gso as usize] += 1;
                        tally[TxStat::Packets as usize] += 1;
                        tally[TxStat::Bytes as usize] += n as u64;
                    }
                    Err(s) => {
                        tally[s as usize] += 1;
                        dropped.0 += 1;
                        dropped.1 += bufs.chain_len(bi) as u64;
                    }
                }
                continue;
            }
            let len = bufs.chain_len(bi);
            if len == 0 || len > self.max_len {
                tally[TxStat::TooLong as usize] += 1;
                dropped.0 += 1;
                dropped.1 += len as u64;
                taken += 1;
                continue;
            }
            let Some(f) = self.ring.frame(self.next) else { break };
            taken += 1;
            let Some(dst) = f.get_mut(TX_DATA_OFFSET..TX_DATA_OFFSET + len) else {
                tally[TxStat::TooLong as usize] += 1;
                dropped.0 += 1;
                dropped.1 += len as u64;
                continue;
            };
            if !copy_from_chain(bufs, bi, dst) || !frame::set_tx_len(f, len as u32) {
                tally[TxStat::BadChain as usize] += 1;
                dropped.0 += 1;
                dropped.1 += len as u64;
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
            self.flush(&mut tally);
        }
        bufs.free(&pkts[..taken]);
        self.dropped.0 += dropped.0;
        self.dropped.1 += dropped.1;
        tally[TxStat::Packets as usize] += queued as u64;
        tally[TxStat::RingFull as usize] = (pkts.len() - taken) as u64;
        add_all(&self.stats.v, &tally);
        self.stats.in_flight.store(self.in_flight as u64, Ordering::Relaxed);
        self.stats.in_flight_peak.fetch_max(self.in_flight as u64, Ordering::Relaxed);
        taken
    }

    fn take_dropped(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.dropped)
    }
}

/// The retry node's counters (`show errors`).
#[repr(usize)]
enum RetryCounter {
    Retried,
    Failed,
}

static RETRY_COUNTERS: [CounterDesc; 2] =
    [CounterDesc::info("tx kicks retried"), CounterDesc::warn("tx kick retries failed")];

/// `af-packet-tx-retry`: an input node that produces no packets; it retries
/// the kicks this thread's af_packet tx queues owe, when due, and lets the
/// thread sleep only until the earliest is due.
#[derive(Default)]
pub struct TxRetry {
    kicks: Vec<Arc<TxKick>>,
}

impl TxRetry {
    /// Watches a tx queue of this thread (control plane).
    pub(super) fn add(&mut self, k: Arc<TxKick>) {
        self.kicks.push(k);
    }
}

impl Node for TxRetry {
    fn name(&self) -> &'static str {
        TX_RETRY_NODE
    }
    fn kind(&self) -> NodeKind {
        NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &RETRY_COUNTERS
    }
    fn poll(&mut self, vm: &mut Vm, _frame: &mut Frame) -> usize {
        if self.kicks.is_empty() {
            return 0;
        }
        // A queue gone with its interface leaves this node the only owner.
        self.kicks.retain(|k| Arc::strong_count(k) > 1);
        for k in &self.kicks {
            let mut tally = [0u64; TX_STATS];
            match k.retry(vm.now, &mut tally) {
                None => continue,
                Some(true) => vm.count(RetryCounter::Retried as usize, 1),
                Some(false) => vm.count(RetryCounter::Failed as usize, 1),
            }
            add_all(&k.stats.v, &tally);
        }
        0
    }
    fn idle(&self) -> Idle {
        Idle::Sleep { deadline: self.kicks.iter().filter_map(|k| k.due()).min() }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rvpp_dataplane::buffer::{Backing, Buffers};

    use super::*;
    use crate::af_packet::frame::RingGeometry;
    use crate::af_packet::tests::{in_private_netns, lo_listener, test_frame, wait_frames};
    use crate::af_packet::{open_gso, open_tx, sys, HostIfConfig};

    /// A tx queue on `lo` with a GSO socket, and its counters.
    fn lo_queue() -> (AfPacketTx, Arc<TxStats>) {
        let lo = sys::if_index("lo").expect("lo");
        let g = RingGeometry::new(2048, 8, 4).expect("geometry");
        let (sock, ring) = open_tx(&HostIfConfig::new("lo"), lo, g).expect("tx socket");
        let stats = Arc::new(TxStats::default());
        (AfPacketTx::new(sock, ring, open_gso(lo), 2016, stats.clone()), stats)
    }

    fn one_buffer(b: &mut ThreadBuffers, bytes: &[u8]) -> BufferIndex {
        let bi = b.alloc_one().expect("buffer");
        b.fill(bi, bytes, 0);
        bi
    }

    /// An Ethernet / IPv4 / TCP super-segment of `payload` bytes in a chain
    /// of two buffers, for segments of 1000 bytes.
    fn tcp_super_segment(b: &mut ThreadBuffers, payload: usize) -> (BufferIndex, usize) {
        let mut p = vec![0u8; 54 + payload];
        p[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        p[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (20 + 20 + payload) as u16;
        p[14..34].copy_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p[16..18].copy_from_slice(&ip_len.to_be_bytes());
        let c = crate::af_packet::offload::ip4_header_checksum(&p[14..34]);
        p[24..26].copy_from_slice(&c.to_be_bytes());
        p[34..38].copy_from_slice(&[0x9c, 0x40, 0x00, 0x50]);
        p[46] = 5 << 4;
        p[47] = 0x10;
        p[48..50].copy_from_slice(&[0xff, 0xff]);
        let head = one_buffer(b, &p[..1024]);
        let tail = one_buffer(b, &p[1024..]);
        let m = b.meta_mut(head);
        m.flags |= flags::NEXT_PRESENT | flags::GSO;
        m.next_buffer = tail.0;
        m.gso_size = 1000;
        m.total_length_not_including_first_buffer = (p.len() - 1024) as u32;
        (head, p.len())
    }

    #[test]
    fn a_super_segment_does_not_overtake_frames_left_in_the_ring() {
        in_private_netns("a_super_segment_does_not_overtake_frames_left_in_the_ring", || {
            sys::set_if_up("lo").unwrap();
            let rx = lo_listener();
            let (mut q, stats) = lo_queue();
            let arena = Buffers::new(256, 2048, Backing::Pages).unwrap();
            let mut b = arena.thread(0);
            sys::set_if_down("lo").unwrap();
            let frames: Vec<Vec<u8>> = (1..=3).map(|n| test_frame(n, 60)).collect();
            let pkts: Vec<BufferIndex> = frames.iter().map(|f| one_buffer(&mut b, f)).collect();
            assert_eq!(q.tx(&mut b, &pkts), 3);
            assert_eq!(stats.v[TxStat::KickErrors as usize].load(Ordering::Relaxed), 1, "link down: the kick failed");
            sys::set_if_up("lo").unwrap();
            let (gso, len) = tcp_super_segment(&mut b, 3000);
            assert_eq!(q.tx(&mut b, &[gso]), 1);
            let got = wait_frames(&rx, 4, Duration::from_secs(1));
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(lens, [60, 60, 60, len], "the ring's frames first, then the super-segment");
            assert_eq!(&got[..3], &frames[..]);
            assert_eq!(q.take_dropped(), (0, 0));
            assert_eq!(q.kick.due(), None, "nothing owed");
        });
    }

    #[test]
    fn a_super_segment_behind_frames_that_cannot_go_is_dropped() {
        in_private_netns("a_super_segment_behind_frames_that_cannot_go_is_dropped", || {
            let (mut q, stats) = lo_queue();
            let arena = Buffers::new(256, 2048, Backing::Pages).unwrap();
            let mut b = arena.thread(0);
            // lo is down in a new namespace: no kick goes through.
            let f = test_frame(1, 60);
            let (gso, len) = tcp_super_segment(&mut b, 3000);
            let pkts = [one_buffer(&mut b, &f), gso, one_buffer(&mut b, &test_frame(2, 2040))];
            assert_eq!(q.tx(&mut b, &pkts), 3, "all taken");
            let ld = |s: TxStat| stats.v[s as usize].load(Ordering::Relaxed);
            assert_eq!(ld(TxStat::GsoBehindRing), 1);
            assert_eq!(ld(TxStat::TooLong), 1);
            assert_eq!(ld(TxStat::Packets), 1, "only the frame in the ring");
            assert_eq!(q.take_dropped(), (2, len as u64 + 2040), "two dropped, not sent");
            assert_eq!(q.take_dropped(), (0, 0), "taken once");
            assert!(q.kick.due().is_some(), "a kick is owed");
            assert_eq!(arena.stats(1).free + b.cached() as u32, arena.count(), "every buffer freed");
        });
    }

    #[test]
    fn retries_back_off_and_stop_once_paid() {
        in_private_netns("retries_back_off_and_stop_once_paid", || {
            let (mut q, stats) = lo_queue();
            let arena = Buffers::new(64, 2048, Backing::Pages).unwrap();
            let mut b = arena.thread(0);
            let pkt = one_buffer(&mut b, &test_frame(1, 60));
            assert_eq!(q.tx(&mut b, &[pkt]), 1);
            let k = q.kick_handle();
            let mut tally = [0u64; TX_STATS];
            let first = k.due().expect("owed");
            assert_eq!(k.retry(first - 1, &mut tally), None, "not yet due");
            // Each failure waits twice as long, up to the cap.
            let mut now = first;
            let mut waits = Vec::new();
            for _ in 0..16 {
                assert_eq!(k.retry(now, &mut tally), Some(false), "lo is down");
                let next = k.due().unwrap();
                waits.push(next - now);
                now = next;
            }
            assert_eq!(waits[1], 2 * waits[0]);
            assert_eq!(*waits.last().unwrap(), k.max, "capped");
            assert_eq!(tally[TxStat::KickRetries as usize], 16);
            assert_eq!(tally[TxStat::KickErrors as usize], 16);
            sys::set_if_up("lo").unwrap();
            // Sent: the call reports bytes, and the next one finds nothing.
            assert_eq!(k.retry(now, &mut tally), Some(true));
            let again = k.due().expect("checked once more");
            assert_eq!(again - now, k.first, "the wait starts afresh");
            assert_eq!(k.retry(again, &mut tally), Some(true));
            assert_eq!(k.due(), None, "paid");
            assert_eq!(stats.v[TxStat::KickErrors as usize].load(Ordering::Relaxed), 1, "the tx call's own");
        });
    }
}
