//! af_packet: Linux network interfaces (veth, physical NICs) through
//! AF_PACKET sockets with mmap'ed rings — VPP's `host-interface`.
//!
//! `create host-interface name <ifname> [hw-addr <mac>] [num-rx-queues N]
//! [num-tx-queues N] [rx-frame-size N] [rx-per-block N] [tx-frame-size N]
//! [tx-per-block N] [mode polling|interrupt|adaptive]` makes `host-<ifname>`
//! (admin down, a random locally administered MAC unless `hw-addr` says);
//! `delete host-interface name <ifname>` removes it.
//!
//! # Receive: a TPACKET_V2 ring, not V3
//!
//! A TPACKET_V3 ring hands user space whole *blocks* of frames: a block is
//! released to user space (and the socket woken) only when it is full or when
//! its retire timer fires, and that timer counts in milliseconds (at least
//! 1 ms, 8 ms or more when derived from the link speed). At ping rates the
//! block never fills, so every packet waits for the timer: VPP's af_packet,
//! which uses V3, shows 1.5–1.7 ms RTT across two interfaces. rvpp's bar is
//! 0.3 ms, so the rx ring is **TPACKET_V2**: every frame has its own status
//! word, the kernel flips it and calls `sk_data_ready` per packet, and an
//! idle thread asleep on the socket (interrupt mode) wakes within
//! microseconds. Throughput does not suffer: the queue polls frames in a
//! burst of up to a vector (256) per call exactly as it would walk a V3
//! block, and the bulk of a TCP stream on veth does not come through ring
//! frames at all but as 64 KiB GSO packets (below).
//!
//! Each rx queue is one socket bound to the interface for `ETH_P_ALL`, with
//! `PACKET_IGNORE_OUTGOING` (and `sll_pkttype` checked: packets the host
//! sends are never taken as received); several queues join one
//! `PACKET_FANOUT` hash group, so a flow stays on one queue, and the queues
//! are placed on workers round-robin. In interrupt (and adaptive) mode the
//! socket's fd is what the thread sleeps on, so an idle daemon uses ~0 % CPU.
//!
//! # Offloads done in software
//!
//! The rx sockets ask for a virtio-net header before each packet
//! (`PACKET_VNET_HDR`). Two things arrive on veth that a NIC would have
//! finished:
//! - `TP_STATUS_CSUMNOTREADY` packets (`CHECKSUM_PARTIAL`): the L4
//!   checksum is computed here (pseudo header, TCP/UDP, IPv4/IPv6, VLAN
//!   tagged or not; [`offload`]) before the packet enters the graph.
//! - GSO packets: up to 64 KiB of TCP (or UDP) in one packet, bigger than a
//!   ring frame. The kernel queues those whole on the socket and marks their
//!   (truncated) frame `TP_STATUS_COPY` (`PACKET_COPY_THRESH`); the queue
//!   reads them with `recvmsg` and cuts them into `gso_size` segments with
//!   correct headers and checksums. Any other packet longer than a buffer
//!   (a jumbo frame) becomes a buffer chain.
//!
//! The kernel takes VLAN tags out of the frame (`tp_vlan_tci`); they are put
//! back, so the graph sees the frame as it was on the wire.
//!
//! # Transmit
//!
//! Each thread has its own socket and TPACKET_V2 tx ring (no locks), with
//! `PACKET_QDISC_BYPASS`: a burst is copied into ring frames and sent with
//! one `sendto(fd, NULL, 0, MSG_DONTWAIT)`. A full ring takes fewer packets
//! than offered; the engine counts the rest as tx errors.
//!
//! All system calls and ring memory live in `sys`; this module is safe code.

pub mod frame;
pub mod offload;
mod sys;

use std::any::Any;
use std::fmt::Write;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, ErrorDrop, RxQueue, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::{format_mac, parse_mac, RxMode};
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::{BufferIndex, ThreadBuffers, Vm};

use frame::{gso, insert_vlan_tag, status, vlan_tag, RingGeometry, RxDesc, VnetHdr, TX_DATA_OFFSET};
use offload::{complete_checksum, CsumFix, Segmenter};
use sys::{PacketSocket, RxRing, TxRing};

/// The driver's input node.
pub const INPUT_NODE: &str = "af-packet-input";
const DRIVER: &str = "af_packet";

/// Rx ring defaults: 64 blocks of 32 frames of 2 KiB (4 MiB, 2048 frames).
const RX_BLOCKS: u32 = 64;
const DEFAULT_RX_FRAME_SIZE: u32 = 2048;
const DEFAULT_RX_PER_BLOCK: u32 = 32;
/// Tx ring defaults: 32 blocks of 32 frames (1024 frames per thread).
const TX_BLOCKS: u32 = 32;
const DEFAULT_TX_PER_BLOCK: u32 = 32;
/// Smallest rx frame: the kernel puts the packet 76 bytes in.
const MIN_RX_FRAME_SIZE: u32 = 256;
const MAX_FRAME_SIZE: u32 = 1 << 20;
const MAX_QUEUES: u32 = 64;
/// Largest packet the copy path takes: an IP packet of 64 KiB with its
/// Ethernet and VLAN headers.
const COPY_BUF: usize = 65536 + 256;
/// Receive buffer for the copy path's queue (a few dozen GSO packets).
const RCVBUF: usize = 8 << 20;
/// Most buffers in one chain this driver makes or reads.
const MAX_CHAIN: usize = 64;
/// Buffers taken from the thread cache at once.
const SPARES: usize = 32;
/// How often (in full rx bursts) the ring backlog is measured.
const BACKLOG_SAMPLE: u64 = 64;

/// Per-queue receive counters (`show hardware-interfaces`).
#[derive(Clone, Copy)]
#[repr(usize)]
enum RxStat {
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
    CsumUnresolved,
    NoBuffer,
    Vlan,
}

const RX_STATS: usize = 17;
const RX_STAT_NAMES: [&str; RX_STATS] = [
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
    "checksums unresolved",
    "no-buffer drops",
    "vlan tags restored",
];

/// Per-thread transmit counters.
#[derive(Clone, Copy)]
#[repr(usize)]
enum TxStat {
    Packets,
    Bytes,
    RingFull,
    TooLong,
    BadChain,
    KickBusy,
    KickErrors,
}

const TX_STATS: usize = 7;
const TX_STAT_NAMES: [&str; TX_STATS] =
    ["packets", "bytes", "ring full", "too-long drops", "bad-chain drops", "kick busy", "kick errors"];

#[derive(Default)]
struct RxStats {
    v: [AtomicU64; RX_STATS],
    backlog_last: AtomicU64,
    backlog_peak: AtomicU64,
    burst_peak: AtomicU64,
    kernel_packets: AtomicU64,
    kernel_drops: AtomicU64,
}

#[derive(Default)]
struct TxStats {
    v: [AtomicU64; TX_STATS],
    in_flight: AtomicU64,
    in_flight_peak: AtomicU64,
}

fn add_all(dst: &[AtomicU64], src: &[u64]) {
    for (d, &s) in dst.iter().zip(src) {
        if s != 0 {
            d.fetch_add(s, Ordering::Relaxed);
        }
    }
}

/// Errors of the control plane: each names the step and the interface.
#[derive(Debug, thiserror::Error)]
pub enum AfPacketError {
    #[error("no such kernel interface '{0}'")]
    NoSuchInterface(String),
    #[error("interface '{0}' already exists")]
    Exists(String),
    #[error("no host-interface for '{0}'")]
    NotFound(String),
    #[error("{what} of {size} bytes and {per_block} per block is not a valid ring")]
    Geometry { what: &'static str, size: u32, per_block: u32 },
    #[error("{ifname}: {step}: {source}")]
    Setup { ifname: String, step: &'static str, source: io::Error },
}

/// What `create host-interface` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostIfConfig {
    pub host_if: String,
    pub mac: Option<[u8; 6]>,
    pub rx_queues: u32,
    pub tx_queues: Option<u32>,
    pub rx_frame_size: u32,
    pub rx_per_block: u32,
    pub tx_frame_size: Option<u32>,
    pub tx_per_block: u32,
    pub mode: RxMode,
}

impl HostIfConfig {
    pub fn new(host_if: &str) -> Self {
        HostIfConfig {
            host_if: host_if.into(),
            mac: None,
            rx_queues: 1,
            tx_queues: None,
            rx_frame_size: DEFAULT_RX_FRAME_SIZE,
            rx_per_block: DEFAULT_RX_PER_BLOCK,
            tx_frame_size: None,
            tx_per_block: DEFAULT_TX_PER_BLOCK,
            mode: RxMode::Interrupt,
        }
    }

    /// Parses `create host-interface`'s arguments; errors name the token.
    pub fn parse(i: &mut Input) -> Result<HostIfConfig, CliError> {
        let cmd = i.command().to_string();
        let mut name = None;
        let mut c = HostIfConfig::new("");
        let ranged = |i: &mut Input, what: &str, lo: u32, hi: u32| -> Result<u32, CliError> {
            let v: u32 = i.parse(what)?;
            if v < lo || v > hi {
                return Err(CliError(format!("{cmd}: {what} {v} is out of range ({lo}-{hi})")));
            }
            Ok(v)
        };
        while !i.is_empty() {
            if i.keyword("name") {
                name = Some(i.expect("kernel interface name")?);
            } else if i.keyword("hw-addr") {
                let w = i.expect("MAC address")?;
                c.mac = Some(parse_mac(&w).ok_or_else(|| CliError(format!("{cmd}: '{w}' is not a MAC address")))?);
            } else if i.keyword("num-rx-queues") {
                c.rx_queues = ranged(i, "num-rx-queues", 1, MAX_QUEUES)?;
            } else if i.keyword("num-tx-queues") {
                c.tx_queues = Some(ranged(i, "num-tx-queues", 1, MAX_QUEUES)?);
            } else if i.keyword("rx-frame-size") {
                c.rx_frame_size = ranged(i, "rx-frame-size", MIN_RX_FRAME_SIZE, MAX_FRAME_SIZE)?;
            } else if i.keyword("rx-per-block") {
                c.rx_per_block = ranged(i, "rx-per-block", 1, 4096)?;
            } else if i.keyword("tx-frame-size") {
                c.tx_frame_size = Some(ranged(i, "tx-frame-size", MIN_RX_FRAME_SIZE, MAX_FRAME_SIZE)?);
            } else if i.keyword("tx-per-block") {
                c.tx_per_block = ranged(i, "tx-per-block", 1, 4096)?;
            } else if i.keyword("mode") {
                c.mode = match i.next().as_deref() {
                    Some("polling") => RxMode::Polling,
                    Some("interrupt") => RxMode::Interrupt,
                    Some("adaptive") => RxMode::Adaptive,
                    Some(w) => return Err(CliError(format!("{cmd}: mode '{w}' is not polling, interrupt or adaptive"))),
                    None => return Err(CliError(format!("{cmd}: expected polling, interrupt or adaptive after mode"))),
                };
            } else {
                return i.unexpected();
            }
        }
        c.host_if = name.ok_or_else(|| CliError(format!("{cmd}: expected name <kernel interface>")))?;
        Ok(c)
    }
}

/// A random locally administered MAC in rvpp's `02:fe:...` space (as VPP
/// does: not the kernel interface's own address).
fn random_mac() -> [u8; 6] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let r = h.finish().to_le_bytes();
    [0x02, 0xfe, r[0], r[1], r[2], r[3]]
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

/// Copies a buffer chain into `dst`, which must be exactly its length.
fn copy_from_chain(b: &ThreadBuffers, bi: BufferIndex, dst: &mut [u8]) -> bool {
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
}

impl RxCall<'_> {
    #[inline(always)]
    fn count(&mut self, s: RxStat, n: u64) {
        self.tally[s as usize] += n;
    }

    /// Finishes a received frame (`buf[start..end]`, its Ethernet header at
    /// `start`) and puts it, or its GSO segments, into `out`.
    fn deliver(&mut self, buf: &mut [u8], mut start: usize, end: usize, info: PktInfo, seg: &mut [u8], out: &mut [BufferIndex]) -> usize {
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
                let bi = if len <= ds {
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
            let partial = info
                .vnet
                .filter(VnetHdr::needs_csum)
                .map(|v| (v.csum_start as usize + shift, v.csum_offset as usize));
            match complete_checksum(pkt, partial) {
                CsumFix::Computed => self.count(RxStat::CsumComputed, 1),
                CsumFix::Completed => self.count(RxStat::CsumCompleted, 1),
                CsumFix::Unresolved => self.count(RxStat::CsumUnresolved, 1),
            }
        }
        if pkt.len() > MAX_CHAIN * ds || pkt.len() > u16::MAX as usize * MAX_CHAIN {
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

impl AfPacketRx {
    /// Handles the (ready) ring frame at the cursor.
    fn frame(&mut self, call: &mut RxCall, up: bool, out: &mut [BufferIndex]) -> Step {
        let Some(f) = self.ring.frame(self.next) else { return Step::Done(0) };
        let Some(d) = RxDesc::parse(f) else {
            call.count(RxStat::Malformed, 1);
            return Step::Done(0);
        };
        let vnet = d.vnet_range().and_then(|r| VnetHdr::parse(&f[r]));
        let deliverable = up && !d.is_outgoing();
        // A GSO packet becomes many packets: wait for a call with room.
        let need = vnet.map_or(1, |v| v.max_segments(d.len as usize));
        if deliverable && need > out.len() && need <= FRAME_SIZE {
            return Step::NoRoom;
        }
        if d.status & status::COPY != 0 {
            // The whole packet waits on the socket's queue, one per COPY
            // frame in ring order: take it even to drop it, so the queue and
            // the ring stay in step.
            let mut vh = [0u8; frame::VNET_HDR_LEN];
            let got = self.sock.recv_copy(&mut vh, &mut self.scratch[frame::VLAN_TAG_LEN..]);
            let Ok(Some(r)) = got else {
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
        let mut call = RxCall { sw: self.sw_if_index, bufs: &mut vm.bufs, spares: Spares::new(), tally: [0; RX_STATS] };
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
        let sw = self.sw_if_index;
        if n > 0 {
            vm.ifc.rx_batch(sw, n as u64, tally[RxStat::Bytes as usize]);
        }
        let no_buf = tally[RxStat::NoBuffer as usize];
        if no_buf > 0 {
            vm.ifc.rx_no_buf(sw, no_buf);
        }
        if frames > 0 {
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

/// One thread's tx queue: its own socket and ring.
pub struct AfPacketTx {
    sock: PacketSocket,
    ring: TxRing,
    next: usize,
    /// Oldest frame that may still be with the kernel, and how many are.
    reclaim: usize,
    in_flight: usize,
    /// Longest packet the kernel takes (ring frame and MTU bound).
    max_len: usize,
    stats: Arc<TxStats>,
}

impl AfPacketTx {
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
        let (mut taken, mut queued) = (0, 0);
        for &bi in pkts {
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
            tally[TxStat::Bytes as usize] += len as u64;
        }
        if queued > 0 {
            self.in_flight += queued;
            if let Err(e) = self.sock.kick() {
                // A full socket buffer leaves frames queued for the next
                // kick; anything else is worth counting apart.
                let busy = e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS);
                tally[if busy { TxStat::KickBusy } else { TxStat::KickErrors } as usize] += 1;
            }
        }
        bufs.free(&pkts[..taken]);
        tally[TxStat::Packets as usize] = queued as u64;
        tally[TxStat::RingFull as usize] = (pkts.len() - taken) as u64;
        add_all(&self.stats.v, &tally);
        self.stats.in_flight.store(self.in_flight as u64, Ordering::Relaxed);
        self.stats.in_flight_peak.fetch_max(self.in_flight as u64, Ordering::Relaxed);
        taken
    }
}

/// Main-thread view of one rx queue.
struct RxShared {
    sock: Weak<PacketSocket>,
    stats: Arc<RxStats>,
}

/// A host interface.
pub struct AfPacketDevice {
    host_if: String,
    ifindex: u32,
    mtu: u32,
    rx_geometry: RingGeometry,
    tx_geometry: RingGeometry,
    fanout: Option<u16>,
    rx: Vec<RxShared>,
    tx_stats: Vec<Arc<TxStats>>,
    max_tx_len: usize,
    /// Tx queues not yet handed to their thread.
    tx: Mutex<Vec<Option<AfPacketTx>>>,
}

impl AfPacketDevice {
    /// The kernel interface's name.
    pub fn host_if(&self) -> &str {
        &self.host_if
    }
}

fn ring_line(g: &RingGeometry) -> String {
    format!(
        "{} frames of {} bytes ({} blocks of {} KiB)",
        g.frame_nr,
        g.frame_size,
        g.block_nr,
        g.block_size / 1024
    )
}

fn stat_list(names: &[&str], v: &[AtomicU64], skip: &[usize]) -> String {
    let mut s = String::new();
    for (k, (name, x)) in names.iter().zip(v).enumerate() {
        let x = x.load(Ordering::Relaxed);
        if x > 0 && !skip.contains(&k) {
            let _ = write!(s, ", {name} {x}");
        }
    }
    s
}

impl Device for AfPacketDevice {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    fn tx_queue(&self, thread_index: usize) -> Option<Box<dyn TxQueue>> {
        let mut tx = self.tx.lock().ok()?;
        let q = tx.get_mut(thread_index)?.take()?;
        Some(Box::new(q))
    }

    fn input_node(&self) -> Option<&'static str> {
        Some(INPUT_NODE)
    }

    fn admin_change(&self, up: bool) {
        // As VPP does, admin up brings the kernel side up too; admin down
        // leaves it alone (its peer may be in use by others).
        if up {
            let _ = sys::set_if_up(&self.host_if);
        }
    }

    fn format_hw(&self) -> String {
        let mut s = String::new();
        let k = sys::if_info(&self.host_if);
        let _ = match &k {
            Ok(k) => writeln!(
                s,
                "host-interface {} (kernel ifindex {}, mtu {}, {}, mac {})",
                self.host_if,
                self.ifindex,
                k.mtu,
                if k.up { "up" } else { "down" },
                format_mac(&k.mac)
            ),
            Err(e) => writeln!(s, "host-interface {} (kernel ifindex {}: {e})", self.host_if, self.ifindex),
        };
        let _ = writeln!(s, "rx: TPACKET_V2 ring per queue, {}, vnet header, copy path for larger packets", ring_line(&self.rx_geometry));
        let _ = match self.fanout {
            Some(id) => writeln!(s, "rx queues {}, fanout hash group {id}", self.rx.len()),
            None => writeln!(s, "rx queues {}", self.rx.len()),
        };
        for (q, r) in self.rx.iter().enumerate() {
            if let Some((p, d)) = r.sock.upgrade().and_then(|x| x.take_statistics().ok()) {
                r.stats.kernel_packets.fetch_add(p as u64, Ordering::Relaxed);
                r.stats.kernel_drops.fetch_add(d as u64, Ordering::Relaxed);
            }
            let st = &r.stats;
            let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "  queue {q}: packets {} bytes {}, kernel packets {} drops {}, ring backlog {} (peak {}) of {}, burst peak {}{}",
                ld(&st.v[RxStat::Packets as usize]),
                ld(&st.v[RxStat::Bytes as usize]),
                ld(&st.kernel_packets),
                ld(&st.kernel_drops),
                ld(&st.backlog_last),
                ld(&st.backlog_peak),
                self.rx_geometry.frame_nr,
                ld(&st.burst_peak),
                stat_list(&RX_STAT_NAMES, &st.v, &[RxStat::Packets as usize, RxStat::Bytes as usize]),
            );
        }
        let _ = writeln!(
            s,
            "tx: TPACKET_V2 ring per thread, {}, qdisc bypass, max packet {} bytes (mtu {})",
            ring_line(&self.tx_geometry),
            self.max_tx_len,
            self.mtu
        );
        for (t, st) in self.tx_stats.iter().enumerate() {
            let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "  thread {t}: packets {} bytes {}, in flight {} (peak {}) of {}{}",
                ld(&st.v[TxStat::Packets as usize]),
                ld(&st.v[TxStat::Bytes as usize]),
                ld(&st.in_flight),
                ld(&st.in_flight_peak),
                self.tx_geometry.frame_nr,
                stat_list(&TX_STAT_NAMES, &st.v, &[TxStat::Packets as usize, TxStat::Bytes as usize]),
            );
        }
        s
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn setup<'a>(ifname: &'a str, step: &'static str) -> impl FnOnce(io::Error) -> AfPacketError + 'a {
    move |source| AfPacketError::Setup { ifname: ifname.to_string(), step, source }
}

/// An rx socket bound to `ifindex` with its ring. The socket receives
/// nothing until bound, so its queue holds only copy-path packets.
fn open_rx(c: &HostIfConfig, ifindex: u32, g: RingGeometry) -> Result<(Arc<PacketSocket>, RxRing), AfPacketError> {
    let n = c.host_if.as_str();
    let s = PacketSocket::new(0).map_err(setup(n, "socket(AF_PACKET)"))?;
    s.use_tpacket_v2().map_err(setup(n, "PACKET_VERSION"))?;
    s.use_vnet_header().map_err(setup(n, "PACKET_VNET_HDR"))?;
    s.use_copy_path().map_err(setup(n, "PACKET_COPY_THRESH"))?;
    // Older kernels lack it; outgoing frames are also filtered by pkttype.
    let _ = s.ignore_outgoing();
    let _ = s.set_rcvbuf(RCVBUF);
    let ring = RxRing::new(&s, g).map_err(setup(n, "PACKET_RX_RING"))?;
    s.bind(ifindex, sys::ETH_P_ALL).map_err(setup(n, "bind"))?;
    Ok((Arc::new(s), ring))
}

/// A send-only socket (protocol 0: it receives nothing) with its tx ring.
fn open_tx(c: &HostIfConfig, ifindex: u32, g: RingGeometry) -> Result<(PacketSocket, TxRing), AfPacketError> {
    let n = c.host_if.as_str();
    let s = PacketSocket::new(0).map_err(setup(n, "socket(AF_PACKET)"))?;
    s.use_tpacket_v2().map_err(setup(n, "PACKET_VERSION"))?;
    s.bypass_qdisc().map_err(setup(n, "PACKET_QDISC_BYPASS"))?;
    s.skip_bad_tx_frames().map_err(setup(n, "PACKET_LOSS"))?;
    let _ = s.set_sndbuf(2 * g.bytes());
    let ring = TxRing::new(&s, g).map_err(setup(n, "PACKET_TX_RING"))?;
    s.bind(ifindex, 0).map_err(setup(n, "bind"))?;
    Ok((s, ring))
}

/// `create host-interface`: opens the sockets, makes the interface, places
/// its rx queues. Returns the new interface's name.
pub fn create(e: &mut Engine, c: &HostIfConfig) -> Result<String, AfPacketError> {
    let name = format!("host-{}", c.host_if);
    if e.interfaces.by_name(&name).is_some() {
        return Err(AfPacketError::Exists(name));
    }
    let ifindex = sys::if_index(&c.host_if).ok_or_else(|| AfPacketError::NoSuchInterface(c.host_if.clone()))?;
    let n = c.host_if.as_str();
    let info = sys::if_info(n).map_err(setup(n, "SIOCGIFFLAGS"))?;
    if !info.up {
        // Fanout groups need a running socket, which needs the link up.
        sys::set_if_up(n).map_err(setup(n, "SIOCSIFFLAGS (up)"))?;
    }
    let rx_g = RingGeometry::new(c.rx_frame_size, c.rx_per_block, RX_BLOCKS).ok_or(AfPacketError::Geometry {
        what: "rx-frame-size",
        size: c.rx_frame_size,
        per_block: c.rx_per_block,
    })?;
    // Room for the largest frame the kernel sends (MTU + Ethernet + VLAN).
    let want_tx = (TX_DATA_OFFSET as u32 + 18 + info.mtu).max(2048);
    let tx_size = c.tx_frame_size.unwrap_or(want_tx);
    let tx_g = RingGeometry::new(tx_size, c.tx_per_block, TX_BLOCKS).ok_or(AfPacketError::Geometry {
        what: "tx-frame-size",
        size: tx_size,
        per_block: c.tx_per_block,
    })?;
    let max_tx_len = (tx_g.frame_size as usize - TX_DATA_OFFSET).min(info.mtu as usize + 18);

    let mut rx = Vec::new();
    for _ in 0..c.rx_queues {
        rx.push(open_rx(c, ifindex, rx_g)?);
    }
    // The peer's frames are addressed to its peer's MAC, not rvpp's.
    rx[0].0.promiscuous(ifindex).map_err(setup(n, "PACKET_ADD_MEMBERSHIP (promiscuous)"))?;
    let mut fanout = None;
    if rx.len() > 1 {
        rx[0].0.join_fanout(0, sys::FANOUT_HASH | sys::FANOUT_FLAG_UNIQUEID).map_err(setup(n, "PACKET_FANOUT"))?;
        let id = rx[0].0.fanout_id().map_err(setup(n, "PACKET_FANOUT (id)"))?;
        for (s, _) in &rx[1..] {
            s.join_fanout(id, sys::FANOUT_HASH).map_err(setup(n, "PACKET_FANOUT"))?;
        }
        fanout = Some(id);
    }
    // One tx socket per thread, so no thread waits for another
    // (`num-tx-queues` is taken for VPP's sake: there are always as many).
    let threads = e.num_threads();
    let mut tx = Vec::new();
    let mut tx_stats = Vec::new();
    for _ in 0..threads {
        let (sock, ring) = open_tx(c, ifindex, tx_g)?;
        let stats = Arc::new(TxStats::default());
        tx_stats.push(stats.clone());
        tx.push(Some(AfPacketTx { sock, ring, next: 0, reclaim: 0, in_flight: 0, max_len: max_tx_len, stats }));
    }
    let rx_stats: Vec<Arc<RxStats>> = rx.iter().map(|_| Arc::new(RxStats::default())).collect();
    let dev = AfPacketDevice {
        host_if: c.host_if.clone(),
        ifindex,
        mtu: info.mtu,
        rx_geometry: rx_g,
        tx_geometry: tx_g,
        fanout,
        rx: rx.iter().zip(&rx_stats).map(|((s, _), st)| RxShared { sock: Arc::downgrade(s), stats: st.clone() }).collect(),
        tx_stats,
        max_tx_len,
        tx: Mutex::new(tx),
    };
    let mac = c.mac.unwrap_or_else(random_mac);
    let sw = e.create_interface(name.clone(), mac, info.mtu, Some(Arc::new(dev)));
    for (q, ((sock, ring), stats)) in rx.into_iter().zip(rx_stats).enumerate() {
        let queue = AfPacketRx {
            sw_if_index: sw.0,
            queue_id: q as u32,
            mode: c.mode,
            sock,
            ring,
            next: 0,
            scratch: vec![0; frame::VLAN_TAG_LEN + COPY_BUF],
            seg: vec![0; COPY_BUF],
            full_bursts: 0,
            stats,
        };
        let t = e.next_rx_thread();
        place_rx_queue(e, INPUT_NODE, Box::new(queue), t);
    }
    Ok(name)
}

fn create_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let c = HostIfConfig::parse(i)?;
    create(e, &c).map(|n| n + "\n").map_err(|x| CliError(format!("{}: {x}", i.command())))
}

/// `delete host-interface name <ifname>`.
pub fn delete(e: &mut Engine, host_if: &str) -> Result<(), AfPacketError> {
    let name = format!("host-{host_if}");
    let sw = e
        .interfaces
        .by_name(&name)
        .filter(|&sw| e.interfaces.get(sw).and_then(|f| f.device.as_ref()).is_some_and(|d| d.driver() == DRIVER))
        .ok_or_else(|| AfPacketError::NotFound(host_if.to_string()))?;
    e.delete_interface(sw);
    Ok(())
}

fn delete_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    i.keyword("name");
    let n = i.expect("kernel interface name")?;
    i.done()?;
    delete(e, &n).map(|_| String::new()).map_err(|x| CliError(format!("{}: {x}", i.command())))
}

pub fn register(r: &mut Registrar) {
    r.node(DeviceInput::register(INPUT_NODE, &["ethernet-input", ErrorDrop::NAME]));
    r.cli.add(
        "create host-interface",
        "create host-interface name <ifname> [hw-addr <mac>] [num-rx-queues <n>] [num-tx-queues <n>] \
         [rx-frame-size <n>] [rx-per-block <n>] [tx-frame-size <n>] [tx-per-block <n>] \
         [mode polling|interrupt|adaptive]",
        create_cmd,
    );
    r.cli.add("delete host-interface", "delete host-interface name <ifname>", delete_cmd);
}

#[cfg(test)]
mod tests;
