//! AF_XDP: Linux network interfaces through XDP sockets — VPP's `af_xdp`.
//!
//! `create interface af_xdp host-if <ifname> [name <name>] [num-rx-queues
//! <n>|all] [netns <ns>] [zero-copy|no-zero-copy] [mode native|skb]
//! [rx-mode polling|interrupt|adaptive] [hw-addr <mac>]` makes an interface
//! named `<name>` (the kernel interface's name by default) with the kernel
//! interface's MAC; `delete interface af_xdp <name>` removes it. `netns
//! <ns>` opens the kernel interface in that network namespace (`ip netns`'s
//! name, or a path such as `/proc/<pid>/ns/net`). `prog <file>` is VPP's too
//! and is refused: rvpp attaches only its built-in program.
//!
//! # Sockets and the XDP program
//!
//! Each rx queue is one AF_XDP socket bound (with need-wakeup) to that
//! queue of the interface, with its UMEM and its four rings. A built-in
//! XDP program, six instructions assembled here and loaded with `bpf()`
//! (no libbpf, no object file), redirects each frame to the socket of its
//! rx queue through an XSKMAP, and passes it to the kernel stack when the
//! queue has none. It is attached through a bpf link: native (driver) mode
//! first, generic (skb) mode when the driver refuses or `mode skb` says; the
//! link never replaces a program someone else attached (that is an error),
//! and it detaches when the interface is deleted or the daemon exits, even
//! by a crash. With `netns`, the sockets, the ioctls and the attachment are
//! made on a short-lived thread that has entered the namespace; everything
//! made there stays bound to it.
//!
//! # The UMEM: rvpp's buffer arena, one copy at most
//!
//! By default (and with `no-zero-copy`) each socket registers the whole
//! buffer arena as its UMEM and binds in copy mode: the kernel copies a
//! received frame straight into an rvpp buffer, which enters the graph as
//! it is, and transmits from the packet's own buffer (see `umem`). With
//! `zero-copy` the driver's zero-copy mode is asked for: frames then land
//! in a UMEM of the socket's own (4 KiB frames, [`RX_FRAMES`] for receive
//! and [`TX_FRAMES`] for transmit) and rvpp copies them to and from its
//! buffers; the same happens when the kernel refuses the arena (a stride
//! above the page size, e.g. `buffers { default data-size 4096 }`). Either
//! way a packet is copied once between the wire and the graph.
//!
//! # Interrupts, threads and the link
//!
//! The socket's fd is what an idle thread sleeps on (interrupt and adaptive
//! modes): it is readable when the rx ring holds descriptors. Rx queues are
//! placed on workers round-robin. Each thread transmits through the socket
//! of queue `thread % queues`, whose tx ring is shared under a lock by the
//! threads mapped onto it. Once a second the main thread looks the kernel
//! interface up by index (in its namespace): its carrier is the link state,
//! and when it has gone (a veth deleted) the interface goes admin down.
//!
//! # Offloads
//!
//! XDP sees frames as the kernel holds them: a frame whose L4 checksum the
//! sender left to offload (`CHECKSUM_PARTIAL`, the default on veth) arrives
//! with a partial checksum, and in generic mode a GSO packet larger than a
//! frame is dropped by the kernel (counted in the socket's statistics). A
//! peer on veth should send with tx checksum offload off, and in generic
//! mode with TSO/GSO off; native mode on veth turns the peer's GSO off
//! itself.
//!
//! # Layout
//!
//! `rx` and `tx` are the data path, `umem` which addresses mean what, `sys`
//! every system call and raw pointer (the only `unsafe` code); this file
//! holds the device and the CLI.

mod rx;
mod sys;
mod tx;
mod umem;

use std::any::Any;
use std::fmt::Write;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, ErrorDrop, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::{parse_mac, RxMode, SwIfIndex};
use rvpp_dataplane::{BufferIndex, Buffers};

pub use rx::AfXdpRx;
pub use tx::AfXdpTx;

use rx::{ArenaRx, OwnRx, RxParts, RxRings, RxUmem};
use sys::{IfCtl, Umem, XskSocket};
use tx::{ArenaTx, OwnTx, TxHalf, TxUmem};
use umem::ArenaGeometry;

/// The driver's input node.
pub const INPUT_NODE: &str = "af-xdp-input";
const DRIVER: &str = "af_xdp";

/// UMEM frame (chunk) size of a socket's own UMEM: a page, so a frame holds
/// 3840 bytes after the kernel's 256 bytes of XDP headroom.
pub const FRAME_SIZE: u32 = 4096;
/// Fill and rx ring size; the frames of an own UMEM on them.
pub const RX_FRAMES: u32 = 2048;
/// Tx and completion ring size; the tx frames of an own UMEM.
pub const TX_FRAMES: u32 = 1024;
/// Arena buffers each queue keeps on its fill ring (at most an eighth of
/// the arena): as many frames as a UMEM of its own has for receive.
pub const ARENA_RX_BUFFERS: u32 = RX_FRAMES;
/// Fewest arena buffers a queue starts with; fewer is an error.
const MIN_ARENA_RX_BUFFERS: u32 = 64;
const MAX_QUEUES: u32 = 64;
/// Most buffers in one chain the tx path reads.
const MAX_CHAIN: usize = 64;
/// How often the main thread looks at the kernel interfaces.
const LINK_CHECK: Duration = Duration::from_secs(1);
/// The setup step whose failure sends a queue to a UMEM of its own.
const ARENA_REG: &str = "XDP_UMEM_REG (buffer arena)";

/// Per-queue counters (`show hardware-interfaces`).
#[derive(Clone, Copy)]
#[repr(usize)]
pub(super) enum Stat {
    RxPackets,
    RxBytes,
    RxAdminDown,
    RxInvalid,
    RxTooLong,
    RxNoBuffer,
    TxPackets,
    TxBytes,
    TxRingFull,
    TxTooLong,
    TxBadChain,
    TxLinearized,
    TxBadCompletion,
    TxKickBusy,
    TxKickErrors,
}

impl Stat {
    pub(super) const COUNT: usize = 15;
    const NAMES: [&'static str; Stat::COUNT] = [
        "rx packets",
        "rx bytes",
        "rx admin-down drops",
        "rx descriptors outside the umem",
        "rx too-long drops",
        "rx no-buffer drops",
        "tx packets",
        "tx bytes",
        "tx ring full",
        "tx too-long drops",
        "tx bad-chain drops",
        "tx chains linearized",
        "tx bad completions",
        "tx kick busy",
        "tx kick errors",
    ];
}

/// A queue's counters, summed from its rx thread and its tx threads.
#[derive(Default)]
pub(super) struct QueueStats {
    v: [AtomicU64; Stat::COUNT],
}

impl QueueStats {
    pub(super) fn add(&self, tally: &[u64; Stat::COUNT]) {
        for (d, &s) in self.v.iter().zip(tally) {
            if s != 0 {
                d.fetch_add(s, Ordering::Relaxed);
            }
        }
    }
}

/// Errors of the control plane: each names the step and the interface.
#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    #[error("no such kernel interface '{0}'")]
    NoSuchInterface(String),
    #[error("interface '{0}' already exists")]
    Exists(String),
    #[error("no af_xdp interface '{0}'")]
    NotFound(String),
    #[error("{ifname} has {have} rx queues; {want} asked")]
    Queues { ifname: String, have: u32, want: u32 },
    #[error("netns {ns}: {source}")]
    Netns { ns: String, source: io::Error },
    #[error("{ifname}: {want} buffers wanted for a fill ring, {got} free (buffers {{ buffers-per-numa }})")]
    Buffers { ifname: String, want: u32, got: u32 },
    #[error("{ifname}: {step}: {source}")]
    Setup { ifname: String, step: &'static str, source: io::Error },
}

/// XDP attach mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// Native first, generic when the driver refuses.
    Auto,
    Native,
    Skb,
}

/// How many rx queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queues {
    N(u32),
    All,
}

/// What `create interface af_xdp` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfXdpConfig {
    pub host_if: String,
    pub name: Option<String>,
    pub queues: Queues,
    /// `Some(true)`: the driver's zero-copy mode or fail (rvpp copies);
    /// `Some(false)` and `None`: the kernel copies, into the buffer arena
    /// when it takes it.
    pub zero_copy: Option<bool>,
    pub mode: XdpMode,
    pub rx_mode: RxMode,
    pub mac: Option<[u8; 6]>,
    /// The network namespace of the kernel interface (`ip netns` name or a
    /// path); rvpp's own when None.
    pub netns: Option<String>,
}

impl AfXdpConfig {
    pub fn new(host_if: &str) -> Self {
        AfXdpConfig {
            host_if: host_if.into(),
            name: None,
            queues: Queues::N(1),
            zero_copy: None,
            mode: XdpMode::Auto,
            rx_mode: RxMode::Interrupt,
            mac: None,
            netns: None,
        }
    }

    /// Parses `create interface af_xdp`'s arguments; errors name the token.
    pub fn parse(i: &mut Input) -> Result<AfXdpConfig, CliError> {
        let cmd = i.command().to_string();
        let mut host_if = None;
        let mut c = AfXdpConfig::new("");
        while !i.is_empty() {
            if i.keyword("host-if") {
                host_if = Some(i.expect("kernel interface name")?);
            } else if i.keyword("name") {
                c.name = Some(i.expect("interface name")?);
            } else if i.keyword("num-rx-queues") {
                let w = i.expect("queue count or all")?;
                c.queues = if w == "all" {
                    Queues::All
                } else {
                    match w.parse::<u32>() {
                        Ok(n) if (1..=MAX_QUEUES).contains(&n) => Queues::N(n),
                        _ => return Err(CliError(format!("{cmd}: num-rx-queues '{w}' is not all or 1-{MAX_QUEUES}"))),
                    }
                };
            } else if i.keyword("zero-copy") {
                c.zero_copy = Some(true);
            } else if i.keyword("no-zero-copy") {
                c.zero_copy = Some(false);
            } else if i.keyword("hw-addr") {
                let w = i.expect("MAC address")?;
                c.mac = Some(parse_mac(&w).ok_or_else(|| CliError(format!("{cmd}: '{w}' is not a MAC address")))?);
            } else if i.keyword("mode") {
                c.mode = match i.next().as_deref() {
                    Some("native") => XdpMode::Native,
                    Some("skb") => XdpMode::Skb,
                    Some(w) => return Err(CliError(format!("{cmd}: mode '{w}' is not native or skb"))),
                    None => return Err(CliError(format!("{cmd}: expected native or skb after mode"))),
                };
            } else if i.keyword("rx-mode") {
                c.rx_mode = i.rx_mode("rx-mode")?;
            } else if i.keyword("prog") {
                let f = i.expect("XDP program object file")?;
                return Err(CliError(format!(
                    "{cmd}: prog {f}: loading external XDP programs is not supported \
                     (rvpp attaches its built-in redirect program)"
                )));
            } else if i.keyword("netns") {
                let ns = i.expect("network namespace")?;
                if netns_path(&ns).is_none() {
                    return Err(CliError(format!(
                        "{cmd}: netns '{ns}' is neither a namespace name (ip netns) nor an absolute path"
                    )));
                }
                c.netns = Some(ns);
            } else {
                return i.unexpected();
            }
        }
        c.host_if = host_if.ok_or_else(|| CliError(format!("{cmd}: expected host-if <kernel interface>")))?;
        Ok(c)
    }

    fn if_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.host_if.clone())
    }
}

/// Where a `netns` argument's namespace is: an absolute path as it is,
/// a name under `ip netns`'s directory. None for anything else.
fn netns_path(ns: &str) -> Option<PathBuf> {
    if ns.starts_with('/') {
        return Some(PathBuf::from(ns));
    }
    let ok = !ns.is_empty() && ns.len() <= 255 && !ns.contains('/') && ns != "." && ns != "..";
    ok.then(|| {
        let run = PathBuf::from("/run/netns").join(ns);
        if run.exists() {
            run
        } else {
            PathBuf::from("/var/run/netns").join(ns)
        }
    })
}

/// Main-thread view of one queue.
struct QueueShared {
    sock: Arc<XskSocket>,
    stats: Arc<QueueStats>,
    arena: bool,
}

/// An af_xdp interface. Field order is drop order: the link (detaching the
/// program) goes first, then the program and map, then the sockets.
pub struct AfXdpDevice {
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    /// Ioctls in the interface's namespace.
    ctl: IfCtl,
    host_if: String,
    netns: Option<String>,
    ifindex: u32,
    native: bool,
    zero_copy: bool,
    mtu: u32,
    /// Buffers each arena queue started with on its fill ring.
    arena_rx_buffers: u32,
    queues: Vec<QueueShared>,
    tx: Vec<Arc<Mutex<TxHalf>>>,
    /// The kernel interface has disappeared.
    gone: AtomicBool,
}

/// What the main thread finds of a kernel interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KernelLink {
    /// There, with or without carrier (`IFF_RUNNING`).
    Present {
        running: bool,
    },
    Gone,
}

impl AfXdpDevice {
    /// The kernel interface's name.
    pub fn host_if(&self) -> &str {
        &self.host_if
    }
    /// Whether the program is attached in native (driver) mode.
    pub fn is_native(&self) -> bool {
        self.native
    }
    /// Whether every queue's UMEM is the buffer arena (no copy in rvpp).
    pub fn uses_arena(&self) -> bool {
        self.queues.iter().all(|q| q.arena)
    }

    /// Looks the kernel interface up by index in its namespace.
    fn kernel_link(&self) -> KernelLink {
        match self.ctl.name_of(self.ifindex) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => KernelLink::Gone,
            Err(_) => KernelLink::Present { running: true },
            Ok(name) => {
                let running = self.ctl.flags(&name).map(|f| f & libc::IFF_RUNNING != 0).unwrap_or(true);
                KernelLink::Present { running }
            }
        }
    }
}

impl Device for AfXdpDevice {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    fn tx_queue(&self, thread_index: usize) -> Option<Box<dyn TxQueue>> {
        let h = self.tx.get(thread_index % self.tx.len().max(1))?;
        Some(Box::new(AfXdpTx::new(h.clone())))
    }

    fn input_node(&self) -> Option<&'static str> {
        Some(INPUT_NODE)
    }

    fn admin_change(&self, up: bool) {
        if up && !self.gone.load(Ordering::Relaxed) {
            let _ = self.ctl.set_up(&self.host_if);
        }
    }

    fn format_hw(&self) -> String {
        let mut s = String::new();
        let ns = self.netns.as_deref().map(|n| format!(" in netns {n}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "af_xdp host-if {}{ns} (kernel ifindex {}, mtu {}{}), xdp {} mode, {}, {} queue(s)",
            self.host_if,
            self.ifindex,
            self.mtu,
            if self.gone.load(Ordering::Relaxed) { ", gone" } else { "" },
            if self.native { "native" } else { "generic (skb)" },
            if self.zero_copy { "zero-copy" } else { "copy" },
            self.queues.len()
        );
        if self.uses_arena() {
            let _ = writeln!(
                s,
                "umem: the buffer arena, {} buffers per fill ring; rx and tx without a copy in rvpp",
                self.arena_rx_buffers
            );
        } else {
            let _ = writeln!(
                s,
                "umem per queue: {RX_FRAMES} rx + {TX_FRAMES} tx frames of {FRAME_SIZE} bytes, copied to and from buffers"
            );
        }
        for (q, x) in self.queues.iter().enumerate() {
            let mut line = format!("  queue {q}:");
            for (name, v) in Stat::NAMES.iter().zip(&x.stats.v) {
                let v = v.load(Ordering::Relaxed);
                if v > 0 {
                    let _ = write!(line, " {name} {v},");
                }
            }
            if let Ok(k) = x.sock.statistics() {
                let _ = write!(
                    line,
                    " kernel: rx dropped {} invalid {} ring full {} fill empty {}, tx invalid {}",
                    k.rx_dropped, k.rx_invalid_descs, k.rx_ring_full, k.rx_fill_ring_empty_descs, k.tx_invalid_descs
                );
            }
            let _ = writeln!(s, "{}", line.trim_end_matches(','));
        }
        s
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn setup<'a>(ifname: &'a str, step: &'static str) -> impl FnOnce(io::Error) -> AfXdpError + 'a {
    move |source| AfXdpError::Setup { ifname: ifname.to_string(), step, source }
}

/// A kernel interface's facts, from ioctls in its namespace.
struct KernelIf {
    ifindex: u32,
    mtu: u32,
    mac: [u8; 6],
    rx_queues: u32,
}

fn kernel_if(ctl: &IfCtl, name: &str) -> Result<KernelIf, AfXdpError> {
    // No such device, or a name no interface can have (too long, a '/').
    let ifindex = ctl.index(name).map_err(|e| match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::EINVAL) | None => AfXdpError::NoSuchInterface(name.to_string()),
        _ => setup(name, "SIOCGIFINDEX")(e),
    })?;
    let mtu = ctl.mtu(name).map_err(setup(name, "SIOCGIFMTU"))?;
    let mac = ctl.mac(name).map_err(setup(name, "SIOCGIFHWADDR"))?;
    // A driver without ethtool channels has the one queue.
    let rx_queues = ctl.rx_queues(name).unwrap_or(1).max(1);
    Ok(KernelIf { ifindex, mtu, mac, rx_queues })
}

/// One queue's UMEM as opened.
enum QueueMem {
    Own(Arc<Umem>),
    Arena,
}

/// One queue's socket, UMEM and rings (rx, tx, fill, completion), bound.
struct OpenQueue {
    sock: XskSocket,
    mem: QueueMem,
    rings: [sys::Ring; 4],
}

/// Opens one queue's socket over `arena` (the buffer arena) or a UMEM of
/// its own, and binds it with `flags`.
fn open_queue_with(
    n: &str,
    arena: Option<&Arc<Buffers>>,
    ifindex: u32,
    queue: u32,
    flags: u16,
) -> Result<OpenQueue, AfXdpError> {
    let mut sock = XskSocket::new().map_err(setup(n, "socket(AF_XDP)"))?;
    let mem = match arena {
        Some(a) => {
            sock.register_arena(a).map_err(setup(n, ARENA_REG))?;
            QueueMem::Arena
        }
        None => {
            let umem = Arc::new(Umem::new(RX_FRAMES + TX_FRAMES, FRAME_SIZE).map_err(setup(n, "umem mmap"))?);
            sock.register_umem(&umem).map_err(setup(n, "XDP_UMEM_REG"))?;
            QueueMem::Own(umem)
        }
    };
    sock.set_ring_size(libc::XDP_UMEM_FILL_RING, RX_FRAMES).map_err(setup(n, "XDP_UMEM_FILL_RING"))?;
    sock.set_ring_size(libc::XDP_UMEM_COMPLETION_RING, TX_FRAMES).map_err(setup(n, "XDP_UMEM_COMPLETION_RING"))?;
    sock.set_ring_size(libc::XDP_RX_RING, RX_FRAMES).map_err(setup(n, "XDP_RX_RING"))?;
    sock.set_ring_size(libc::XDP_TX_RING, TX_FRAMES).map_err(setup(n, "XDP_TX_RING"))?;
    let rings = sock.map_rings(RX_FRAMES, TX_FRAMES, RX_FRAMES, TX_FRAMES).map_err(setup(n, "ring mmap"))?;
    sock.bind(ifindex, queue, flags).map_err(setup(n, "bind"))?;
    Ok(OpenQueue { sock, mem, rings })
}

/// Opens one queue: over the arena in copy mode unless `zero-copy` asks for
/// the driver's mode, the arena keeps a prefix before its buffers (DPDK
/// zero copy's mbufs: a frame longer than the data area would run into the
/// next buffer's mbuf, and the buffers are off the page boundary a UMEM
/// starts on) or the kernel refuses the arena; then over a UMEM of its own.
fn open_queue(c: &AfXdpConfig, arena: &Arc<Buffers>, ifindex: u32, queue: u32) -> Result<OpenQueue, AfXdpError> {
    let n = c.host_if.as_str();
    if c.zero_copy != Some(true) && arena.prefix() == 0 {
        match open_queue_with(n, Some(arena), ifindex, queue, sys::XDP_COPY) {
            Err(AfXdpError::Setup { step: ARENA_REG, .. }) => {}
            r => return r,
        }
    }
    let flags = match c.zero_copy {
        Some(true) => sys::XDP_ZEROCOPY,
        Some(false) => sys::XDP_COPY,
        None => 0,
    };
    open_queue_with(n, None, ifindex, queue, flags)
}

/// Loads the program and attaches it in the mode asked (native first in
/// auto mode). Returns (link, program, whether native).
fn attach(c: &AfXdpConfig, ifindex: u32, map: &OwnedFd) -> Result<(OwnedFd, OwnedFd, bool), AfXdpError> {
    let n = c.host_if.as_str();
    let prog = sys::load_redirect_program(map).map_err(setup(n, "BPF_PROG_LOAD"))?;
    let native = |p: &OwnedFd| sys::attach_xdp(p, ifindex, sys::XDP_FLAGS_DRV_MODE);
    let skb = |p: &OwnedFd| sys::attach_xdp(p, ifindex, sys::XDP_FLAGS_SKB_MODE);
    let (link, is_native) = match c.mode {
        XdpMode::Native => (native(&prog).map_err(setup(n, "attach xdp (native)"))?, true),
        XdpMode::Skb => (skb(&prog).map_err(setup(n, "attach xdp (skb)"))?, false),
        XdpMode::Auto => match native(&prog) {
            Ok(l) => (l, true),
            // Someone else's program is there: do not try to stack ours.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) || e.raw_os_error() == Some(libc::EEXIST) => {
                return Err(setup(n, "attach xdp (native)")(e))
            }
            Err(_) => (skb(&prog).map_err(setup(n, "attach xdp (skb)"))?, false),
        },
    };
    Ok((link, prog, is_native))
}

/// Everything made in the kernel interface's namespace.
struct Opened {
    ctl: IfCtl,
    k: KernelIf,
    queues: Vec<OpenQueue>,
    map: OwnedFd,
    link: OwnedFd,
    prog: OwnedFd,
    native: bool,
}

/// Looks the interface up, brings it up, opens its queues and attaches the
/// program, all in the calling thread's network namespace.
fn open(c: &AfXdpConfig, arena: &Arc<Buffers>) -> Result<Opened, AfXdpError> {
    let n = c.host_if.as_str();
    let ctl = IfCtl::new().map_err(setup(n, "socket (ioctl)"))?;
    let k = kernel_if(&ctl, n)?;
    let nq = match c.queues {
        Queues::All => k.rx_queues,
        Queues::N(q) if q <= k.rx_queues => q,
        Queues::N(q) => return Err(AfXdpError::Queues { ifname: c.host_if.clone(), have: k.rx_queues, want: q }),
    };
    ctl.set_up(n).map_err(setup(n, "SIOCSIFFLAGS (up)"))?;
    let mut queues = Vec::new();
    for q in 0..nq {
        queues.push(open_queue(c, arena, k.ifindex, q)?);
    }
    let map = sys::xsk_map(nq).map_err(setup(n, "BPF_MAP_CREATE (xskmap)"))?;
    for (q, o) in queues.iter().enumerate() {
        sys::xsk_map_set(&map, q as u32, &o.sock).map_err(setup(n, "BPF_MAP_UPDATE_ELEM (xskmap)"))?;
    }
    let (link, prog, native) = attach(c, k.ifindex, &map)?;
    Ok(Opened { ctl, k, queues, map, link, prog, native })
}

/// [`open`] in the namespace `c.netns` names: on a thread of its own that
/// enters it and ends, so no other thread changes namespace.
fn open_in_netns(c: &AfXdpConfig, arena: &Arc<Buffers>) -> Result<Opened, AfXdpError> {
    let Some(ns) = &c.netns else { return open(c, arena) };
    let netns_err = |source| AfXdpError::Netns { ns: ns.clone(), source };
    let path = netns_path(ns).ok_or_else(|| netns_err(io::Error::from(io::ErrorKind::InvalidInput)))?;
    std::thread::scope(|s| {
        let t = std::thread::Builder::new().name("af_xdp-netns".into()).spawn_scoped(s, || {
            sys::enter_netns(&path).map_err(|e| AfXdpError::Netns {
                ns: ns.clone(),
                source: io::Error::new(e.kind(), format!("{}: {e}", path.display())),
            })?;
            open(c, arena)
        });
        match t {
            Ok(t) => t.join().unwrap_or_else(|_| Err(netns_err(io::Error::other("namespace thread panicked")))),
            Err(e) => Err(netns_err(e)),
        }
    })
}

/// `create interface af_xdp`: opens the sockets and attaches the program
/// (in the interface's namespace), fills the fill rings, makes the
/// interface and places its rx queues. Returns the interface's name.
pub fn create(e: &mut Engine, c: &AfXdpConfig) -> Result<String, AfXdpError> {
    let name = c.if_name();
    if e.interfaces.by_name(&name).is_some() {
        return Err(AfXdpError::Exists(name));
    }
    let arena = e.buffers.clone();
    let Opened { ctl, k, queues, map, link, prog, native } = open_in_netns(c, &arena)?;
    let zero_copy = queues.iter().all(|q| q.sock.is_zero_copy());
    let geo = ArenaGeometry::new(&arena.layout());
    let count = arena.count();
    // The fill rings' buffers, before anything is made of the interface.
    let want = ARENA_RX_BUFFERS.min(count / 8).max(MIN_ARENA_RX_BUFFERS);
    let mut fills: Vec<Vec<BufferIndex>> = Vec::new();
    for q in &queues {
        let mut v = Vec::new();
        if matches!(q.mem, QueueMem::Arena) {
            v.resize(want as usize, BufferIndex(0));
            let got = e.local.vm.bufs.alloc(&mut v);
            v.truncate(got);
        }
        fills.push(v);
    }
    let short = queues
        .iter()
        .zip(&fills)
        .find(|(q, v)| matches!(q.mem, QueueMem::Arena) && v.len() < MIN_ARENA_RX_BUFFERS as usize);
    if let Some((_, v)) = short {
        let got = v.len() as u32;
        for v in &fills {
            // Fresh from the pool: stale metadata, no chain.
            for &bi in v {
                e.local.vm.bufs.meta_mut(bi).flags = 0;
            }
            e.local.vm.bufs.free(v);
        }
        return Err(AfXdpError::Buffers { ifname: c.host_if.clone(), want, got });
    }
    let max_tx_len = k.mtu as usize + 18;
    let mut tx = Vec::new();
    let mut shared = Vec::new();
    let mut rx = Vec::new();
    for o in queues {
        let stats = Arc::new(QueueStats::default());
        let [rxr, txr, fill, comp] = o.rings;
        let sock = Arc::new(o.sock);
        let (rxu, txu) = match o.mem {
            QueueMem::Arena => (RxUmem::Arena(ArenaRx::new(geo, count)), TxUmem::Arena(ArenaTx::new(geo, count))),
            QueueMem::Own(u) => (RxUmem::Own(OwnRx::new(u.clone())), TxUmem::Own(OwnTx::new(u))),
        };
        let on_arena = matches!(rxu, RxUmem::Arena(_));
        tx.push(Arc::new(Mutex::new(TxHalf::new(sock.clone(), txu, (txr, comp), max_tx_len, stats.clone()))));
        shared.push(QueueShared { sock: sock.clone(), stats: stats.clone(), arena: on_arena });
        rx.push((RxParts { sock, umem: rxu, rings: RxRings { rx: rxr, fill } }, stats));
    }
    let dev = AfXdpDevice {
        _link: link,
        _prog: prog,
        _map: map,
        ctl,
        host_if: c.host_if.clone(),
        netns: c.netns.clone(),
        ifindex: k.ifindex,
        native,
        zero_copy,
        mtu: k.mtu,
        arena_rx_buffers: fills.iter().map(|v| v.len() as u32).max().unwrap_or(0),
        queues: shared,
        tx,
        gone: AtomicBool::new(false),
    };
    let mac = c.mac.unwrap_or(k.mac);
    let sw = e.create_interface(name.clone(), mac, k.mtu, Some(Arc::new(dev)));
    for (q, ((parts, stats), fill)) in rx.into_iter().zip(fills).enumerate() {
        let queue = AfXdpRx::new(sw.0, q as u32, c.rx_mode, parts, fill, &mut e.local.vm.bufs, stats);
        let t = e.next_rx_thread();
        place_rx_queue(e, INPUT_NODE, Box::new(queue), t);
    }
    e.add_periodic("af_xdp-link", LINK_CHECK, watch_links);
    Ok(name)
}

/// Periodic: each af_xdp interface's link follows its kernel interface's
/// carrier; one whose kernel interface has gone goes down, and stays so.
fn watch_links(e: &mut Engine) {
    let mut changes: Vec<(SwIfIndex, KernelLink)> = Vec::new();
    for f in e.interfaces.iter() {
        let Some(d) = f.device.as_ref().and_then(|d| d.as_any().downcast_ref::<AfXdpDevice>()) else { continue };
        if d.gone.load(Ordering::Relaxed) {
            // Set up again by hand: nothing is under it.
            if f.admin_up || f.link_up {
                changes.push((f.sw_if_index, KernelLink::Gone));
            }
            continue;
        }
        let k = d.kernel_link();
        let stale = match k {
            KernelLink::Gone => true,
            KernelLink::Present { running } => running != f.link_up,
        };
        if stale {
            if k == KernelLink::Gone {
                d.gone.store(true, Ordering::Relaxed);
                eprintln!(
                    "af_xdp: {}: kernel interface {} (ifindex {}) is gone: interface down",
                    f.name, d.host_if, d.ifindex
                );
            }
            changes.push((f.sw_if_index, k));
        }
    }
    if changes.is_empty() {
        return;
    }
    for (sw, k) in changes {
        if let Some(f) = e.interfaces.get_mut(sw) {
            f.link_up = matches!(k, KernelLink::Present { running: true });
        }
        if k == KernelLink::Gone {
            e.set_admin(sw, false);
        }
    }
    e.publish_interfaces();
}

fn create_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let c = AfXdpConfig::parse(i)?;
    create(e, &c).map(|n| n + "\n").map_err(|x| CliError(format!("{}: {x}", i.command())))
}

/// `delete interface af_xdp <name>`.
pub fn delete(e: &mut Engine, name: &str) -> Result<(), AfXdpError> {
    let sw = e
        .interfaces
        .by_name(name)
        .filter(|&sw| e.interfaces.driver_of(sw) == Some(DRIVER))
        .ok_or_else(|| AfXdpError::NotFound(name.to_string()))?;
    e.delete_interface(sw);
    Ok(())
}

fn delete_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let n = i.expect("interface name")?;
    i.done()?;
    delete(e, &n).map(|_| String::new()).map_err(|x| CliError(format!("{}: {x}", i.command())))
}

pub fn register(r: &mut Registrar) {
    r.node(DeviceInput::register_with_counters(INPUT_NODE, &["ethernet-input", ErrorDrop::NAME], &rx::COUNTERS));
    r.cli.add(
        "create interface af_xdp",
        "create interface af_xdp host-if <ifname> [name <name>] [num-rx-queues <n>|all] [netns <ns>] \
         [zero-copy|no-zero-copy] [mode native|skb] [rx-mode polling|interrupt|adaptive] [hw-addr <mac>]",
        create_cmd,
    );
    r.cli.add("delete interface af_xdp", "delete interface af_xdp <interface>", delete_cmd);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<AfXdpConfig, CliError> {
        AfXdpConfig::parse(&mut Input::new("create interface af_xdp", args))
    }

    #[test]
    fn parses_vpp_syntax_and_names_refused_tokens() {
        let c = parse("host-if veth1 name x1 num-rx-queues all no-zero-copy mode skb netns blue").expect("parse");
        assert_eq!(c.host_if, "veth1");
        assert_eq!(c.if_name(), "x1");
        assert_eq!(c.queues, Queues::All);
        assert_eq!(c.zero_copy, Some(false));
        assert_eq!(c.mode, XdpMode::Skb);
        assert_eq!(c.netns.as_deref(), Some("blue"));
        assert_eq!(parse("host-if v").expect("parse").if_name(), "v");
        assert_eq!(parse("host-if v netns /proc/1/ns/net").expect("parse").netns.as_deref(), Some("/proc/1/ns/net"));
        let e = parse("host-if v prog /tmp/x.o").expect_err("prog").0;
        assert!(e.contains("prog /tmp/x.o: loading external XDP programs is not supported"), "{e}");
        let e = parse("host-if v netns a/b").expect_err("netns").0;
        assert!(e.contains("netns 'a/b'"), "{e}");
        let e = parse("host-if v netns ..").expect_err("netns").0;
        assert!(e.contains("netns '..'"), "{e}");
        let e = parse("host-if v mode drv").expect_err("mode").0;
        assert!(e.contains("'drv'"), "{e}");
        let e = parse("host-if v num-rx-queues 0").expect_err("queues").0;
        assert!(e.contains("'0'"), "{e}");
        assert!(parse("name x").is_err());
    }
}
