//! The receive path: one [`AfPacketRx`] per rx queue walks its TPACKET_V2
//! ring frame by frame, takes copy-path packets off the socket, restores
//! VLAN tags, finishes checksums, cuts GSO packets into segments, and hands
//! buffers (chained when a packet is longer than one) to the graph.
//!
//! Panic contract: frames come from the kernel and are not trusted; a frame
//! whose header, offsets or contents do not hold together, or whose partial
//! checksum cannot be finished here, is a counted drop: per reason in
//! `show errors` (node `af-packet-input`), per queue in
//! `show hardware-interfaces`, and buffer exhaustion also as the
//! interface's `rx-no-buf`. Packets the kernel dropped because the ring was
//! full (`TP_STATUS_LOSING` on the next frame, then `PACKET_STATISTICS`)
//! count as `kernel ring drops` in `show errors` too.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::device::{count_rx_burst, RxQueue};
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::{BufferIndex, CounterDesc, ThreadBuffers, Vm};

use super::frame::{self, gso, insert_vlan_tag, status, vlan_tag, RxDesc, VnetHdr};
use super::offload::{complete_checksum, CsumFix, Segmenter};
use super::sys::{PacketSocket, Received, RxRing};
use super::{add_all, MAX_CHAIN};

/// Largest packet the copy path takes: an IP packet of 64 KiB with its
/// Ethernet and VLAN headers.
pub(super) const COPY_BUF: usize = 65536 + 256;
/// Receive buffer for the copy path's queue (a few dozen GSO packets).
pub(super) const RCVBUF: usize = 8 << 20;
/// Packets the copy path may skip to find the one a frame stands for.
const COPY_RESYNC: usize = 4;
/// Buffers taken from the thread cache at once.
const SPARES: usize = 32;
/// How often (in full rx bursts) the ring backlog is measured.
const BACKLOG_SAMPLE: u64 = 64;

/// Per-queue receive counters (`show hardware-interfaces`).
#[derive(Clone, Copy)]
#[repr(usize)]
pub(super) enum RxStat {
    Packets,
    Bytes,
    Outgoing,
    AdminDown,
    Truncated,
    Malformed,
    CopyPath,
    CopyLost,
    TooLong,
    GsoPackets,
    GsoSegments,
    GsoBad,
    CsumComputed,
    CsumCompleted,
    CsumCrc32c,
    CsumUnresolved,
    NoBuffer,
    Vlan,
    KernelDrops,
}

pub(super) const RX_STATS: usize = 19;
pub(super) const RX_STAT_NAMES: [&str; RX_STATS] = [
    "packets",
    "bytes",
    "outgoing ignored",
    "admin-down drops",
    "truncated drops",
    "malformed drops",
    "copy-path packets",
    "copy-path lost",
    "too-long drops",
    "gso packets",
    "gso segments",
    "gso drops",
    "checksums computed",
    "checksums completed",
    "sctp crc32c computed",
    "unfinished-checksum drops",
    "no-buffer drops",
    "vlan tags restored",
    "kernel ring drops",
];

/// The input node's error counters (`show errors`): the rx drops, by
/// reason, of every af_packet queue on the thread.
pub(super) static COUNTERS: [CounterDesc; 10] = [
    CounterDesc::info("outgoing packets ignored"),
    CounterDesc::error("interface is down"),
    CounterDesc::error("frame truncated by the kernel"),
    CounterDesc::error("malformed frame"),
    CounterDesc::error("copy-path packet lost"),
    CounterDesc::error("packet too long"),
    CounterDesc::error("gso packet not segmented"),
    CounterDesc::error("no buffers"),
    CounterDesc::error("checksum cannot be completed"),
    CounterDesc::error("kernel ring drops"),
];

/// Which per-queue figure feeds which of [`COUNTERS`] (same order).
const COUNTED: [RxStat; 10] = [
    RxStat::Outgoing,
    RxStat::AdminDown,
    RxStat::Truncated,
    RxStat::Malformed,
    RxStat::CopyLost,
    RxStat::TooLong,
    RxStat::GsoBad,
    RxStat::NoBuffer,
    RxStat::CsumUnresolved,
    RxStat::KernelDrops,
];

/// A queue's counters, shared with the device for `show hardware-interfaces`.
#[derive(Default)]
pub(super) struct RxStats {
    pub(super) v: [AtomicU64; RX_STATS],
    pub(super) backlog_last: AtomicU64,
    pub(super) backlog_peak: AtomicU64,
    pub(super) burst_peak: AtomicU64,
    /// The kernel's own figures (`PACKET_STATISTICS`), as read so far.
    pub(super) kernel_packets: AtomicU64,
    pub(super) kernel_drops: AtomicU64,
    /// Kernel drops read for `show hardware-interfaces` (which resets the
    /// kernel's figures) that the input node has not counted yet.
    pub(super) drops_unseen: AtomicU64,
}

impl RxStats {
    /// Reads (and so resets) the kernel's figures into the totals; returns
    /// the drops read.
    pub(super) fn read_kernel(&self, sock: &PacketSocket) -> u64 {
        let Ok((p, d)) = sock.take_statistics() else { return 0 };
        self.kernel_packets.fetch_add(p as u64, Ordering::Relaxed);
        self.kernel_drops.fetch_add(d as u64, Ordering::Relaxed);
        d as u64
    }
}

/// Buffers taken from the thread cache a few at a time, the unused ones
/// given back at the end of the call.
struct Spares {
    bufs: [BufferIndex; SPARES],
    n: usize,
}

impl Spares {
    fn new() -> Self {
        Spares { bufs: [BufferIndex(0); SPARES], n: 0 }
    }

    #[inline]
    fn take(&mut self, b: &mut ThreadBuffers) -> Option<BufferIndex> {
        if self.n == 0 {
            self.n = b.alloc(&mut self.bufs);
            if self.n == 0 {
                return None;
            }
        }
        self.n -= 1;
        Some(self.bufs[self.n])
    }

    fn give_back(&mut self, b: &mut ThreadBuffers) {
        // Their metadata is stale: clear the chain flag before freeing.
        for &bi in &self.bufs[..self.n] {
            b.meta_mut(bi).flags = 0;
        }
        b.free(&self.bufs[..self.n]);
        self.n = 0;
    }
}

/// Copies `pkt` into a new buffer chain received on `sw`.
fn copy_to_chain(b: &mut ThreadBuffers, sp: &mut Spares, pkt: &[u8], sw: u32) -> Option<BufferIndex> {
    let ds = b.data_size();
    let head = sp.take(b)?;
    b.fill(head, &pkt[..pkt.len().min(ds)], sw);
    let mut prev = head;
    for chunk in pkt.get(ds..).unwrap_or(&[]).chunks(ds) {
        let Some(bi) = sp.take(b) else {
            b.free_one(head);
            return None;
        };
        b.fill(bi, chunk, sw);
        let m = b.meta_mut(prev);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = bi.0;
        prev = bi;
    }
    b.meta_mut(head).total_length_not_including_first_buffer = (pkt.len() - pkt.len().min(ds)) as u32;
    Some(head)
}

/// One rx queue: a socket and its ring, owned by the thread it is placed on.
pub struct AfPacketRx {
    sw_if_index: u32,
    queue_id: u32,
    mode: RxMode,
    sock: Arc<PacketSocket>,
    ring: RxRing,
    next: usize,
    /// The copy path's packet, with room in front for a VLAN tag.
    scratch: Vec<u8>,
    /// A segment too big for one buffer, before it is chained.
    seg: Vec<u8>,
    full_bursts: u64,
    stats: Arc<RxStats>,
}

/// What one ring frame came to.
enum Step {
    /// Frame consumed; this many packets went into `out`.
    Done(usize),
    /// The packet needs more room in `out` than is left: try next call.
    NoRoom,
}

/// A received packet's offload and tag facts, from the frame or `recvmsg`.
struct PktInfo {
    csum_not_ready: bool,
    vlan: Option<[u8; 4]>,
    vnet: Option<VnetHdr>,
}

/// The rx path's working state for one call.
struct RxCall<'a> {
    sw: u32,
    bufs: &'a mut ThreadBuffers,
    spares: Spares,
    tally: [u64; RX_STATS],
    /// A frame said the kernel dropped packets (`TP_STATUS_LOSING`).
    losing: bool,
}

impl RxCall<'_> {
    #[inline(always)]
    fn count(&mut self, s: RxStat, n: u64) {
        self.tally[s as usize] += n;
    }

    /// Finishes a received frame (`buf[start..end]`, its Ethernet header at
    /// `start`) and puts it, or its GSO segments, into `out`.
    fn deliver(
        &mut self,
        buf: &mut [u8],
        mut start: usize,
        end: usize,
        info: PktInfo,
        seg: &mut [u8],
        out: &mut [BufferIndex],
    ) -> usize {
        let mut shift = 0;
        if let Some(tag) = info.vlan {
            match insert_vlan_tag(buf, start, tag) {
                Some(s) => {
                    start = s;
                    shift = frame::VLAN_TAG_LEN;
                    self.count(RxStat::Vlan, 1);
                }
                None => {
                    self.count(RxStat::Malformed, 1);
                    return 0;
                }
            }
        }
        let pkt = &mut buf[start..end];
        let ds = self.bufs.data_size();
        if let Some(v) = info.vnet.filter(VnetHdr::is_gso) {
            let tcp = match v.gso_kind() {
                gso::TCPV4 | gso::TCPV6 => true,
                gso::UDP_L4 => false,
                _ => {
                    self.count(RxStat::GsoBad, 1);
                    return 0;
                }
            };
            let Some(s) = Segmenter::new(pkt, tcp, v.gso_size) else {
                self.count(RxStat::GsoBad, 1);
                return 0;
            };
            let count = s.count();
            if count > out.len() || s.len(0) > MAX_CHAIN * ds || s.len(0) > seg.len() {
                self.count(RxStat::GsoBad, 1);
                return 0;
            }
            let mut n = 0;
            for k in 0..count {
                let len = s.len(k);
                let bi = if len <= ds.min(u16::MAX as usize) {
                    let Some(bi) = self.spares.take(self.bufs) else { break };
                    let (m, raw) = self.bufs.split_mut(bi);
                    m.reset_rx(len as u16, self.sw);
                    s.write(pkt, k, &mut raw[HEADROOM..HEADROOM + len]);
                    bi
                } else {
                    s.write(pkt, k, &mut seg[..len]);
                    match copy_to_chain(self.bufs, &mut self.spares, &seg[..len], self.sw) {
                        Some(bi) => bi,
                        None => break,
                    }
                };
                out[n] = bi;
                n += 1;
                self.count(RxStat::Bytes, len as u64);
            }
            self.count(RxStat::NoBuffer, (count - n) as u64);
            self.count(RxStat::GsoPackets, 1);
            self.count(RxStat::GsoSegments, n as u64);
            return n;
        }
        if info.csum_not_ready {
            let partial =
                info.vnet.filter(VnetHdr::needs_csum).map(|v| (v.csum_start as usize + shift, v.csum_offset as usize));
            match complete_checksum(pkt, partial) {
                CsumFix::Computed => self.count(RxStat::CsumComputed, 1),
                CsumFix::Completed => self.count(RxStat::CsumCompleted, 1),
                CsumFix::Crc32c => self.count(RxStat::CsumCrc32c, 1),
                CsumFix::Unresolved => {
                    // Forwarded, it would carry a checksum no receiver takes.
                    self.count(RxStat::CsumUnresolved, 1);
                    return 0;
                }
            }
        }
        if pkt.len() > MAX_CHAIN * ds {
            self.count(RxStat::TooLong, 1);
            return 0;
        }
        match copy_to_chain(self.bufs, &mut self.spares, pkt, self.sw) {
            Some(bi) => {
                out[0] = bi;
                self.count(RxStat::Bytes, pkt.len() as u64);
                1
            }
            None => {
                self.count(RxStat::NoBuffer, 1);
                0
            }
        }
    }
}

/// Whether a packet read from the copy path is the one a COPY frame stands
/// for: same length, and the frame's snapshot is its beginning.
fn is_same_packet(frame_len: usize, snap: &[u8], got: &Received, buf: &[u8]) -> bool {
    got.wire_len == frame_len && buf.get(..snap.len().min(got.len)).is_some_and(|b| snap.starts_with(b))
}

impl AfPacketRx {
    pub(super) fn new(
        sw_if_index: u32,
        queue_id: u32,
        mode: RxMode,
        sock: Arc<PacketSocket>,
        ring: RxRing,
        stats: Arc<RxStats>,
    ) -> AfPacketRx {
        AfPacketRx {
            sw_if_index,
            queue_id,
            mode,
            sock,
            ring,
            next: 0,
            scratch: vec![0; frame::VLAN_TAG_LEN + COPY_BUF],
            seg: vec![0; COPY_BUF],
            full_bursts: 0,
            stats,
        }
    }

    /// Handles the (ready) ring frame at the cursor.
    fn frame(&mut self, call: &mut RxCall, up: bool, out: &mut [BufferIndex]) -> Step {
        let Some(f) = self.ring.frame(self.next) else { return Step::Done(0) };
        let Some(d) = RxDesc::parse(f) else {
            call.count(RxStat::Malformed, 1);
            return Step::Done(0);
        };
        call.losing |= d.status & status::LOSING != 0;
        let vnet = d.vnet_range().and_then(|r| VnetHdr::parse(f.get(r)?));
        let deliverable = up && !d.is_outgoing();
        // A GSO packet becomes many packets: wait for a call with room.
        let need = vnet.map_or(1, |v| v.max_segments(d.len as usize));
        if deliverable && need > out.len() && need <= FRAME_SIZE {
            return Step::NoRoom;
        }
        if d.status & status::COPY != 0 {
            // The whole packet waits on the socket's queue, one per COPY
            // frame in ring order: take it even to drop it, so the queue and
            // the ring stay in step. Should they ever slip (a packet left
            // behind by an error), the frame's snapshot tells the packet
            // that belongs to it from older ones, which are dropped.
            let snap = d.data_range(f.len()).map_or(&[][..], |r| &f[r]);
            let mut vh = [0u8; frame::VNET_HDR_LEN];
            let mut found = None;
            for _ in 0..COPY_RESYNC {
                match self.sock.recv_copy(&mut vh, &mut self.scratch[frame::VLAN_TAG_LEN..]) {
                    Ok(Some(r)) if is_same_packet(d.len as usize, snap, &r, &self.scratch[frame::VLAN_TAG_LEN..]) => {
                        found = Some(r);
                        break;
                    }
                    Ok(Some(_)) => call.count(RxStat::CopyLost, 1),
                    Ok(None) | Err(_) => break,
                }
            }
            let Some(r) = found else {
                call.count(RxStat::CopyLost, 1);
                return Step::Done(0);
            };
            call.count(RxStat::CopyPath, 1);
            if !deliverable {
                call.count(if up { RxStat::Outgoing } else { RxStat::AdminDown }, 1);
                return Step::Done(0);
            }
            if r.truncated {
                call.count(RxStat::TooLong, 1);
                return Step::Done(0);
            }
            let info = PktInfo {
                csum_not_ready: r.status & status::CSUMNOTREADY != 0,
                vlan: vlan_tag(r.status, r.vlan_tci, r.vlan_tpid),
                vnet: VnetHdr::parse(&vh),
            };
            let start = frame::VLAN_TAG_LEN;
            return Step::Done(call.deliver(&mut self.scratch, start, start + r.len, info, &mut self.seg, out));
        }
        if !deliverable {
            call.count(if up { RxStat::Outgoing } else { RxStat::AdminDown }, 1);
            return Step::Done(0);
        }
        let Some(range) = d.data_range(f.len()) else {
            call.count(RxStat::Malformed, 1);
            return Step::Done(0);
        };
        if d.is_truncated() {
            call.count(RxStat::Truncated, 1);
            return Step::Done(0);
        }
        let info = PktInfo { csum_not_ready: d.status & status::CSUMNOTREADY != 0, vlan: d.vlan_tag(), vnet };
        Step::Done(call.deliver(f, range.start, range.end, info, &mut self.seg, out))
    }

    /// Frames ready past the cursor (a sampled measure of ring use).
    fn backlog(&self) -> u64 {
        let nr = self.ring.frame_nr();
        (0..nr).take_while(|k| self.ring.is_ready((self.next + k) % nr)).count() as u64
    }
}

impl RxQueue for AfPacketRx {
    fn sw_if_index(&self) -> u32 {
        self.sw_if_index
    }
    fn queue_id(&self) -> u32 {
        self.queue_id
    }

    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize {
        let up = vm.ifs.is_up(self.sw_if_index);
        let mut call = RxCall {
            sw: self.sw_if_index,
            bufs: &mut vm.bufs,
            spares: Spares::new(),
            tally: [0; RX_STATS],
            losing: false,
        };
        let nr = self.ring.frame_nr();
        let (mut n, mut frames) = (0, 0u64);
        while n < out.len() && self.ring.is_ready(self.next) {
            match self.frame(&mut call, up, &mut out[n..]) {
                Step::NoRoom => break,
                Step::Done(k) => {
                    self.ring.release(self.next);
                    self.next = (self.next + 1) % nr;
                    frames += 1;
                    n += k;
                }
            }
        }
        call.spares.give_back(call.bufs);
        let mut tally = call.tally;
        tally[RxStat::Packets as usize] = n as u64;
        // Drops the kernel reported: flagged on a frame, or read already
        // for `show hardware-interfaces`.
        if call.losing {
            tally[RxStat::KernelDrops as usize] += self.stats.read_kernel(&self.sock);
        }
        if self.stats.drops_unseen.load(Ordering::Relaxed) != 0 {
            tally[RxStat::KernelDrops as usize] += self.stats.drops_unseen.swap(0, Ordering::Relaxed);
        }
        let sw = self.sw_if_index;
        let (bytes, no_buf) = (tally[RxStat::Bytes as usize], tally[RxStat::NoBuffer as usize]);
        count_rx_burst(vm, sw, n as u64, bytes, no_buf, COUNTED.iter().map(|s| tally[*s as usize]));
        if frames > 0 || tally[RxStat::KernelDrops as usize] > 0 {
            add_all(&self.stats.v, &tally);
            self.stats.burst_peak.fetch_max(frames, Ordering::Relaxed);
        }
        if n >= out.len() {
            self.full_bursts += 1;
            if self.full_bursts % BACKLOG_SAMPLE == 1 {
                let b = self.backlog();
                self.stats.backlog_last.store(b, Ordering::Relaxed);
                self.stats.backlog_peak.fetch_max(b, Ordering::Relaxed);
            }
        }
        n
    }

    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }
    fn mode(&self) -> RxMode {
        self.mode
    }
    fn set_mode(&mut self, mode: RxMode) {
        self.mode = mode;
    }
}

#[cfg(test)]
mod tests;
