//! AF_XDP: Linux network interfaces through XDP sockets — VPP's `af_xdp`.
//!
//! `create interface af_xdp host-if <ifname> [name <name>] [num-rx-queues
//! <n>|all] [zero-copy|no-zero-copy] [mode native|skb] [rx-mode
//! polling|interrupt|adaptive]` makes an interface named `<name>` (the
//! kernel interface's name by default) with the kernel interface's MAC;
//! `delete interface af_xdp <name>` removes it. `prog <file>` and `netns
//! <ns>` are VPP's too and are refused with an error naming them.
//!
//! # Sockets and the XDP program
//!
//! Each rx queue is one AF_XDP socket bound (with need-wakeup) to that
//! queue of the interface, with its own UMEM and its four rings. A built-in
//! XDP program, six instructions assembled here and loaded with `bpf()`
//! (no libbpf, no object file), redirects each frame to the socket of its
//! rx queue through an XSKMAP, and passes it to the kernel stack when the
//! queue has none. It is attached through a bpf link: native (driver) mode
//! first, generic (skb) mode when the driver refuses or `mode skb` says; the
//! link never replaces a program someone else attached (that is an error),
//! and it detaches when the interface is deleted or the daemon exits, even
//! by a crash.
//!
//! # The UMEM: a copy, not yet the buffer arena
//!
//! Each socket's UMEM is its own mapping of 4 KiB frames: the first
//! [`RX_FRAMES`] live on the fill and rx rings, the next [`TX_FRAMES`] on
//! the tx and completion rings. A received frame is copied into an arena
//! buffer and its frame goes straight back on the fill ring; a transmitted
//! packet is copied from its buffer chain into a free tx frame. Carving the
//! UMEM out of the arena (zero copy into the graph) needs the arena to
//! expose its mapping's base and stride, which it does not yet.
//!
//! # Interrupts and threads
//!
//! The socket's fd is what an idle thread sleeps on (interrupt and adaptive
//! modes): it is readable when the rx ring holds descriptors. Rx queues are
//! placed on workers round-robin. Each thread transmits through the socket
//! of queue `thread % queues`, whose tx ring is shared under a lock by the
//! threads mapped onto it.
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
//! `rx` and `tx` are the data path, `sys` every system call and raw pointer
//! (the only `unsafe` code); this file holds the device and the CLI.

mod rx;
mod sys;
mod tx;

use std::any::Any;
use std::fmt::Write;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, ErrorDrop, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::{parse_mac, RxMode};

pub use rx::AfXdpRx;
pub use tx::AfXdpTx;

use sys::{Umem, XskSocket};
use tx::TxHalf;

/// The driver's input node.
pub const INPUT_NODE: &str = "af-xdp-input";
const DRIVER: &str = "af_xdp";

/// UMEM frame (chunk) size: a page, so a frame holds 3840 bytes after the
/// kernel's 256 bytes of XDP headroom.
pub const FRAME_SIZE: u32 = 4096;
/// Frames on the fill and rx rings (ring sizes too).
pub const RX_FRAMES: u32 = 2048;
/// Frames for transmit (tx and completion ring sizes too).
pub const TX_FRAMES: u32 = 1024;
const MAX_QUEUES: u32 = 64;
/// Most buffers in one chain the tx path reads.
const MAX_CHAIN: usize = 64;

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
    TxBadCompletion,
    TxKickBusy,
    TxKickErrors,
}

impl Stat {
    pub(super) const COUNT: usize = 14;
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
    /// `Some(true)`: zero-copy or fail; `Some(false)`: copy; `None`: the
    /// kernel's choice.
    pub zero_copy: Option<bool>,
    pub mode: XdpMode,
    pub rx_mode: RxMode,
    pub mac: Option<[u8; 6]>,
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
                return Err(CliError(format!(
                    "{cmd}: 'prog' is not supported: the built-in program redirects every queue to its socket"
                )));
            } else if i.keyword("netns") {
                return Err(CliError(format!(
                    "{cmd}: 'netns' is not supported: the interface must be in rvpp's namespace"
                )));
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

/// Main-thread view of one queue.
struct QueueShared {
    sock: Arc<XskSocket>,
    stats: Arc<QueueStats>,
}

/// An af_xdp interface. Field order is drop order: the link (detaching the
/// program) goes first, then the program and map, then the sockets.
pub struct AfXdpDevice {
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    host_if: String,
    ifindex: u32,
    native: bool,
    zero_copy: bool,
    mtu: u32,
    queues: Vec<QueueShared>,
    tx: Vec<Arc<Mutex<TxHalf>>>,
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
        if up {
            let _ = sys::set_if_up(&self.host_if);
        }
    }

    fn format_hw(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "af_xdp host-if {} (kernel ifindex {}, mtu {}), xdp {} mode, {}, {} queue(s)",
            self.host_if,
            self.ifindex,
            self.mtu,
            if self.native { "native" } else { "generic (skb)" },
            if self.zero_copy { "zero-copy" } else { "copy" },
            self.queues.len()
        );
        let _ = writeln!(
            s,
            "umem per queue: {RX_FRAMES} rx + {TX_FRAMES} tx frames of {FRAME_SIZE} bytes, copied to and from buffers"
        );
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

/// A kernel interface's facts from sysfs (the daemon's namespace).
struct KernelIf {
    ifindex: u32,
    mtu: u32,
    mac: [u8; 6],
    rx_queues: u32,
}

fn kernel_if(name: &str) -> Option<KernelIf> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_string());
    let ifindex = read("ifindex")?.parse().ok()?;
    let mtu = read("mtu")?.parse().ok()?;
    let mac = parse_mac(&read("address")?).unwrap_or([0; 6]);
    let rx_queues = std::fs::read_dir(dir.join("queues"))
        .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count())
        .unwrap_or(1)
        .max(1) as u32;
    Some(KernelIf { ifindex, mtu, mac, rx_queues })
}

/// One queue's socket, UMEM and rings, bound.
struct OpenQueue {
    sock: Arc<XskSocket>,
    umem: Arc<Umem>,
    rings: [sys::Ring; 4],
}

fn open_queue(c: &AfXdpConfig, ifindex: u32, queue: u32) -> Result<OpenQueue, AfXdpError> {
    let n = c.host_if.as_str();
    let umem = Arc::new(Umem::new(RX_FRAMES + TX_FRAMES, FRAME_SIZE).map_err(setup(n, "umem mmap"))?);
    let sock = XskSocket::new().map_err(setup(n, "socket(AF_XDP)"))?;
    sock.register_umem(&umem).map_err(setup(n, "XDP_UMEM_REG"))?;
    sock.set_ring_size(libc::XDP_UMEM_FILL_RING, RX_FRAMES).map_err(setup(n, "XDP_UMEM_FILL_RING"))?;
    sock.set_ring_size(libc::XDP_UMEM_COMPLETION_RING, TX_FRAMES).map_err(setup(n, "XDP_UMEM_COMPLETION_RING"))?;
    sock.set_ring_size(libc::XDP_RX_RING, RX_FRAMES).map_err(setup(n, "XDP_RX_RING"))?;
    sock.set_ring_size(libc::XDP_TX_RING, TX_FRAMES).map_err(setup(n, "XDP_TX_RING"))?;
    let rings = sock.map_rings(RX_FRAMES, TX_FRAMES, RX_FRAMES, TX_FRAMES).map_err(setup(n, "ring mmap"))?;
    let flags = match c.zero_copy {
        Some(true) => sys::XDP_ZEROCOPY,
        Some(false) => sys::XDP_COPY,
        None => 0,
    };
    sock.bind(ifindex, queue, flags).map_err(setup(n, "bind"))?;
    Ok(OpenQueue { sock: Arc::new(sock), umem, rings })
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

/// `create interface af_xdp`: opens the sockets, attaches the program, makes
/// the interface and places its rx queues. Returns the interface's name.
pub fn create(e: &mut Engine, c: &AfXdpConfig) -> Result<String, AfXdpError> {
    let name = c.if_name();
    if e.interfaces.by_name(&name).is_some() {
        return Err(AfXdpError::Exists(name));
    }
    let n = c.host_if.as_str();
    let k = kernel_if(n).ok_or_else(|| AfXdpError::NoSuchInterface(c.host_if.clone()))?;
    let nq = match c.queues {
        Queues::All => k.rx_queues,
        Queues::N(q) if q <= k.rx_queues => q,
        Queues::N(q) => return Err(AfXdpError::Queues { ifname: c.host_if.clone(), have: k.rx_queues, want: q }),
    };
    sys::set_if_up(n).map_err(setup(n, "SIOCSIFFLAGS (up)"))?;
    let mut queues = Vec::new();
    for q in 0..nq {
        queues.push(open_queue(c, k.ifindex, q)?);
    }
    let zero_copy = queues.iter().all(|q| q.sock.is_zero_copy());
    let map = sys::xsk_map(nq).map_err(setup(n, "BPF_MAP_CREATE (xskmap)"))?;
    for (q, o) in queues.iter().enumerate() {
        sys::xsk_map_set(&map, q as u32, &o.sock).map_err(setup(n, "BPF_MAP_UPDATE_ELEM (xskmap)"))?;
    }
    let (link, prog, native) = attach(c, k.ifindex, &map)?;
    let max_tx_len = k.mtu as usize + 18;
    let mut tx = Vec::new();
    let mut shared = Vec::new();
    let mut rx = Vec::new();
    for o in queues {
        let stats = Arc::new(QueueStats::default());
        let [rxr, txr, fill, comp] = o.rings;
        tx.push(Arc::new(Mutex::new(TxHalf::new(
            o.sock.clone(),
            o.umem.clone(),
            txr,
            comp,
            max_tx_len,
            stats.clone(),
        ))));
        shared.push(QueueShared { sock: o.sock.clone(), stats: stats.clone() });
        rx.push((rx::RxParts { sock: o.sock, umem: o.umem, rx: rxr, fill }, stats));
    }
    let dev = AfXdpDevice {
        _link: link,
        _prog: prog,
        _map: map,
        host_if: c.host_if.clone(),
        ifindex: k.ifindex,
        native,
        zero_copy,
        mtu: k.mtu,
        queues: shared,
        tx,
    };
    let mac = c.mac.unwrap_or(k.mac);
    let sw = e.create_interface(name.clone(), mac, k.mtu, Some(Arc::new(dev)));
    for (q, (parts, stats)) in rx.into_iter().enumerate() {
        let queue = AfXdpRx::new(sw.0, q as u32, c.rx_mode, parts, stats);
        let t = e.next_rx_thread();
        place_rx_queue(e, INPUT_NODE, Box::new(queue), t);
    }
    Ok(name)
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
        "create interface af_xdp host-if <ifname> [name <name>] [num-rx-queues <n>|all] \
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
        let c = parse("host-if veth1 name x1 num-rx-queues all no-zero-copy mode skb").expect("parse");
        assert_eq!(c.host_if, "veth1");
        assert_eq!(c.if_name(), "x1");
        assert_eq!(c.queues, Queues::All);
        assert_eq!(c.zero_copy, Some(false));
        assert_eq!(c.mode, XdpMode::Skb);
        assert_eq!(parse("host-if v").expect("parse").if_name(), "v");
        let e = parse("host-if v prog /tmp/x.o").expect_err("prog").0;
        assert!(e.contains("'prog'"), "{e}");
        let e = parse("host-if v netns foo").expect_err("netns").0;
        assert!(e.contains("'netns'"), "{e}");
        let e = parse("host-if v mode drv").expect_err("mode").0;
        assert!(e.contains("'drv'"), "{e}");
        let e = parse("host-if v num-rx-queues 0").expect_err("queues").0;
        assert!(e.contains("'0'"), "{e}");
        assert!(parse("name x").is_err());
    }
}
