//! af_packet: Linux network interfaces (veth, physical NICs) through
//! AF_PACKET sockets with mmap'ed rings — VPP's `host-interface`.
//!
//! `create host-interface name <ifname> [hw-addr <mac>] [num-rx-queues N]
//! [num-tx-queues N] [rx-frame-size N] [rx-per-block N] [tx-frame-size N]
//! [tx-per-block N] [mode polling|interrupt|adaptive] [cksum-gso-disable]`
//! makes `host-<ifname>` (admin down, a random locally administered MAC
//! unless `hw-addr` says); `delete host-interface name <ifname>` removes it.
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
//!   tagged or not; SCTP's CRC32c; [`offload`]) before the packet enters
//!   the graph; one that cannot be finished is dropped (counted).
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
//! than offered; the engine counts the rest as tx errors. A kick that
//! leaves frames in the ring (`EAGAIN`, `ENOBUFS`, `ENETDOWN`) is retried
//! by the thread's `af-packet-tx-retry` node with a growing wait;
//! packets the queue drops (too long, super-segment refused) count as tx
//! errors, not as sent.
//!
//! The interface takes TCP segmentation offload ([`Device::tso_max`]: IP
//! packets of up to 65,535 bytes), as the kernel's own TCP uses GSO on
//! veth: rvpp's TCP then sends one super-segment of up to ~64 KiB where it
//! would send ~45 segments, each thread passing it through a second socket
//! with `PACKET_VNET_HDR`: `sendmsg` takes the buffer chain as it is behind
//! a virtio-net header (GSO type and size, partial checksum), and the
//! kernel cuts it where it must (a veth peer takes it whole, as from its
//! own TCP). `cksum-gso-disable` (VPP's keyword) turns it off.
//!
//! # Layout
//!
//! `rx` and `tx` are the data path, `frame` the ring frames' byte layout,
//! `offload` the checksum and segmentation work, and `sys` every system
//! call and raw pointer (the only `unsafe` code); this file holds the
//! device, its `show hardware-interfaces` lines and the CLI.

pub mod frame;
pub mod offload;
mod rx;
mod sys;

/// Sets a kernel interface administratively up (`SIOCSIFFLAGS`), as
/// `create host-interface` does; also used by drivers over kernel
/// interfaces of their own (DPDK's net_af_packet).
pub use sys::set_if_up as set_kernel_if_up;
mod tx;

use std::any::Any;
use std::fmt::Write;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, ErrorDrop, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::interface::{format_mac, parse_mac, RxMode};

pub use rx::AfPacketRx;
pub use tx::AfPacketTx;

use frame::{RingGeometry, TX_DATA_OFFSET};
use rx::{RxStat, RxStats, RCVBUF, RX_STAT_NAMES};
use sys::{PacketSocket, RxRing, TxRing};
use tx::{GsoSocket, TxRetry, TxStat, TxStats, TX_RETRY_NODE, TX_STAT_NAMES};

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
/// Most buffers in one chain this driver makes or reads.
const MAX_CHAIN: usize = 64;
/// The largest TCP super-segment taken (an IP packet's most).
const GSO_MAX: u32 = 65535;
/// Send buffer of a thread's super-segment socket (skbs in flight).
const GSO_SNDBUF: usize = 4 << 20;

/// Adds a call's tallies to shared counters (skipping zeros).
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
    #[error("kernel interface '{0}' is not Ethernet (link type {1}): af_packet interfaces carry Ethernet frames")]
    NotEthernet(String, u16),
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
    /// Take TCP super-segments (GSO through a virtio-net header socket).
    pub gso: bool,
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
            gso: true,
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
                c.mode = i.rx_mode("mode")?;
            } else if i.keyword("cksum-gso-disable") {
                c.gso = false;
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
    /// Every thread has a socket for TCP super-segments.
    gso: bool,
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
    format!("{} frames of {} bytes ({} blocks of {} KiB)", g.frame_nr, g.frame_size, g.block_nr, g.block_size / 1024)
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

    fn tso_max(&self) -> u32 {
        if self.gso {
            GSO_MAX
        } else {
            0
        }
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
        let _ = writeln!(
            s,
            "rx: TPACKET_V2 ring per queue, {}, vnet header, copy path for larger packets",
            ring_line(&self.rx_geometry)
        );
        let _ = match self.fanout {
            Some(id) => writeln!(s, "rx queues {}, fanout hash group {id}", self.rx.len()),
            None => writeln!(s, "rx queues {}", self.rx.len()),
        };
        for (q, r) in self.rx.iter().enumerate() {
            if let Some(sock) = r.sock.upgrade() {
                // The read resets the kernel's figures: the input node
                // counts the drops read here at its next call.
                let d = r.stats.read_kernel(&sock);
                r.stats.drops_unseen.fetch_add(d, Ordering::Relaxed);
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
                stat_list(
                    &RX_STAT_NAMES,
                    &st.v,
                    &[RxStat::Packets as usize, RxStat::Bytes as usize, RxStat::KernelDrops as usize]
                ),
            );
        }
        let _ = writeln!(
            s,
            "tx: TPACKET_V2 ring per thread, {}, qdisc bypass, max packet {} bytes (mtu {}), {}",
            ring_line(&self.tx_geometry),
            self.max_tx_len,
            self.mtu,
            if self.gso { "tcp super-segments through GSO up to 65535 bytes" } else { "no gso" }
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

/// A send-only socket with virtio-net headers and no ring, for TCP
/// super-segments; None when the kernel refuses any step (they are then not
/// taken).
fn open_gso(ifindex: u32) -> Option<GsoSocket> {
    let s = PacketSocket::new(0).ok()?;
    s.use_vnet_header().ok()?;
    s.bypass_qdisc().ok()?;
    let _ = s.set_sndbuf(GSO_SNDBUF);
    s.bind(ifindex, 0).ok()?;
    Some(GsoSocket { sock: s, ifindex })
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
    // A tun, wireguard or other layer-3 device hands up packets without an
    // Ethernet header, which ethernet-input would misread.
    // (Loopback frames carry one, of zero addresses.)
    if let Some(t) = info.link_type.filter(|&t| t != libc::ARPHRD_ETHER && t != libc::ARPHRD_LOOPBACK) {
        return Err(AfPacketError::NotEthernet(c.host_if.clone(), t));
    }
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
    // The kernel's own bound for a ring without vnet headers (tpacket_snd:
    // MTU + hard header + one VLAN tag), so QinQ sub-interfaces get an L3
    // MTU 4 bytes under their parent's (InterfaceTable::add_sub).
    let max_tx_len = (tx_g.frame_size as usize - TX_DATA_OFFSET).min(info.mtu as usize + 18);

    let mut rx = Vec::new();
    for _ in 0..c.rx_queues {
        rx.push(open_rx(c, ifindex, rx_g)?);
    }
    // The peer's frames are addressed to its peer's MAC, not rvpp's.
    rx[0].0.promiscuous(ifindex).map_err(setup(n, "PACKET_ADD_MEMBERSHIP (promiscuous)"))?;
    let mut fanout = None;
    if rx.len() > 1 {
        // Kernels before 5.0 lack the group's ignore-outgoing flag; the
        // frames' packet type is checked anyway.
        let (first, rest) = rx.split_first().expect("at least one rx queue");
        let ignore = sys::FANOUT_FLAG_IGNORE_OUTGOING;
        let unique = sys::FANOUT_HASH | sys::FANOUT_FLAG_UNIQUEID;
        let flags = match first.0.join_fanout(0, unique | ignore) {
            Ok(()) => sys::FANOUT_HASH | ignore,
            Err(_) => {
                first.0.join_fanout(0, unique).map_err(setup(n, "PACKET_FANOUT"))?;
                sys::FANOUT_HASH
            }
        };
        let id = first.0.fanout_id().map_err(setup(n, "PACKET_FANOUT (id)"))?;
        for (s, _) in rest {
            s.join_fanout(id, flags).map_err(setup(n, "PACKET_FANOUT"))?;
        }
        fanout = Some(id);
    }
    // One tx socket per thread, so no thread waits for another
    // (`num-tx-queues` is taken for VPP's sake: there are always as many).
    let threads = e.num_threads();
    let mut tx = Vec::new();
    let mut tx_stats = Vec::new();
    let mut kicks = Vec::new();
    let mut gso = c.gso;
    for _ in 0..threads {
        let (sock, ring) = open_tx(c, ifindex, tx_g)?;
        let g = if c.gso { open_gso(ifindex) } else { None };
        gso &= g.is_some();
        let stats = Arc::new(TxStats::default());
        tx_stats.push(stats.clone());
        let q = AfPacketTx::new(sock, ring, g, max_tx_len, stats);
        kicks.push(q.kick_handle());
        tx.push(Some(q));
    }
    let rx_stats: Vec<Arc<RxStats>> = rx.iter().map(|_| Arc::new(RxStats::default())).collect();
    let dev = AfPacketDevice {
        host_if: c.host_if.clone(),
        ifindex,
        mtu: info.mtu,
        rx_geometry: rx_g,
        tx_geometry: tx_g,
        fanout,
        rx: rx
            .iter()
            .zip(&rx_stats)
            .map(|((s, _), st)| RxShared { sock: Arc::downgrade(s), stats: st.clone() })
            .collect(),
        tx_stats,
        max_tx_len,
        gso,
        tx: Mutex::new(tx),
    };
    let mac = c.mac.unwrap_or_else(random_mac);
    let sw = e.create_interface(name.clone(), mac, info.mtu, Some(Arc::new(dev)));
    // Each thread's retry node watches the kicks its tx queue owes.
    for (t, k) in kicks.into_iter().enumerate() {
        let mut k = Some(k);
        e.on_thread(
            t,
            Box::new(move |w| {
                if let (Some(n), Some(k)) = (w.graph.node_mut::<TxRetry>(TX_RETRY_NODE), k.take()) {
                    n.add(k);
                }
            }),
        );
    }
    for (q, ((sock, ring), stats)) in rx.into_iter().zip(rx_stats).enumerate() {
        let queue = AfPacketRx::new(sw.0, q as u32, c.mode, sock, ring, stats);
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
        .filter(|&sw| e.interfaces.driver_of(sw) == Some(DRIVER))
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
    r.node(DeviceInput::register_with_counters(INPUT_NODE, &["ethernet-input", ErrorDrop::NAME], &rx::COUNTERS));
    r.node(NodeReg { name: TX_RETRY_NODE, factory: Arc::new(|_| Box::new(TxRetry::default())) });
    r.cli.add(
        "create host-interface",
        "create host-interface name <ifname> [hw-addr <mac>] [num-rx-queues <n>] [num-tx-queues <n>] \
         [rx-frame-size <n>] [rx-per-block <n>] [tx-frame-size <n>] [tx-per-block <n>] \
         [mode polling|interrupt|adaptive] [cksum-gso-disable]",
        create_cmd,
    );
    r.cli.add("delete host-interface", "delete host-interface name <ifname>", delete_cmd);
}

#[cfg(test)]
mod tests;
