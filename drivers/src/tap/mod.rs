//! The tap driver: rvpp interface `tap<id>` backed by a Linux tap device
//! (`/dev/net/tun`, `IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE`), for host and
//! pod connectivity. VPP's `create tap` / `delete tap` commands:
//!
//! - `create tap [id <n>] [host-if-name <name>] [host-ns <netns>] ...`
//!   ([`args`] has the whole syntax) opens one fd per rx queue on the tap,
//!   configures the host side with iproute2 ([`host`]), and prints the new
//!   interface's name. The host device's carrier follows rvpp's admin state.
//! - `delete tap <if>` closes every fd, which makes the kernel remove the
//!   host device wherever it lives.
//!
//! Data path: each rx queue ([`TapRx`]) lives on one thread, in the
//! `tap-input` node, and reads frames from its non-blocking fd into fresh
//! buffers until the kernel says EAGAIN or the frame is full; the fd wakes
//! its thread in interrupt/adaptive mode, so an idle daemon sleeps. A frame
//! larger than one buffer is read into the head buffer plus a per-queue
//! scratch area and its tail copied into a buffer chain. Each thread's
//! [`TapTx`] writes one frame per `write`/`writev` on one of the queue fds.
//! Failures are counters (interface drops, rx-no-buf, tx-error, and the
//! driver's own figures in `show hardware-interfaces`), never panics.
//!
//! All system calls are in [`sys`]; this module is safe code.

pub mod args;
mod host;
mod sys;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::fmt::Write as _;
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, ErrorDrop, RxQueue, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::{format_mac, RxMode};
use rvpp_dataplane::{BufferIndex, SwIfIndex, ThreadBuffers, Vm};

pub use args::{TapArgs, TapError};
use sys::TapFd;

/// The input node of every tap rx queue (VPP's `virtio-input`).
pub const TAP_INPUT: &str = "tap-input";
/// Next nodes of `tap-input`: frames go to the first.
const TAP_INPUT_NEXTS: &[&str] = &["ethernet-input", ErrorDrop::NAME];

/// Third byte of rvpp-side MACs (`02:fe:20:00:00:<id>`).
const MAC_BYTE: u8 = 0x20;
/// The host MTU, and rvpp's L3 MTU, when `host-mtu-size` is not given.
const DEFAULT_MTU: u32 = 1500;
/// Largest frame a tap can hand over: the largest MTU, Ethernet header and
/// one VLAN tag.
const MAX_FRAME: usize = 65535 + 14 + 4;
/// Most buffers in one received or transmitted chain.
const MAX_SEGS: usize = 64;
/// Attempts at a write interrupted by a signal before giving up.
const EINTR_RETRIES: usize = 3;

/// The driver's own figures, shared by the device and its queues.
#[derive(Debug, Default)]
pub struct TapStats {
    /// Frames larger than a queue can take, dropped.
    pub rx_too_long: AtomicU64,
    /// `read` errors other than EAGAIN.
    pub rx_errors: AtomicU64,
    /// `write` errors other than EAGAIN (the frame and the rest of its
    /// batch are counted as tx-error on the interface).
    pub tx_errors: AtomicU64,
    /// `write` calls that met EAGAIN.
    pub tx_again: AtomicU64,
    /// Whether the last carrier change took (TUNSETCARRIER is Linux 5.0+).
    pub carrier_ok: AtomicBool,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A tap interface's device: the host device's description and the fds
/// that keep it alive, released by `delete tap`.
pub struct TapDevice {
    host_if_name: String,
    args: TapArgs,
    fds: Mutex<Vec<Arc<TapFd>>>,
    fd_numbers: Vec<i32>,
    stats: Arc<TapStats>,
}

impl TapDevice {
    /// Drops the device's own fds; the host device goes away once the
    /// queues (dropped by the engine's `delete_interface`) close theirs.
    fn close(&self) {
        if let Ok(mut f) = self.fds.lock() {
            f.clear();
        }
    }
}

impl Device for TapDevice {
    fn driver(&self) -> &'static str {
        "tap"
    }

    fn tx_queue(&self, thread_index: usize) -> Option<Box<dyn TxQueue>> {
        let fds = self.fds.lock().ok()?;
        let fd = fds.get(thread_index % fds.len().max(1))?.clone();
        Some(Box::new(TapTx { fd, stats: self.stats.clone() }))
    }

    fn admin_change(&self, up: bool) {
        let Ok(fds) = self.fds.lock() else { return };
        if let Some(fd) = fds.first() {
            self.stats.carrier_ok.store(fd.set_carrier(up).is_ok(), Ordering::Relaxed);
        }
    }

    fn input_node(&self) -> Option<&'static str> {
        Some(TAP_INPUT)
    }

    fn format_hw(&self) -> String {
        let a = &self.args;
        let mut s = String::new();
        let ns = a.host_ns.as_deref().unwrap_or("(rvpp's own)");
        let _ = writeln!(s, "host-if-name {}, host-ns {ns}", self.host_if_name);
        let fds: Vec<String> = self.fd_numbers.iter().map(|f| f.to_string()).collect();
        let open = self.fds.lock().map(|f| !f.is_empty()).unwrap_or(false);
        let _ = writeln!(
            s,
            "fd {}, rx queues {}, tx queues one per thread{}",
            fds.join(" "),
            fds.len(),
            if open { "" } else { " (closed)" }
        );
        let mut link = vec![format!("host-mtu-size {}", a.host_mtu.unwrap_or(DEFAULT_MTU))];
        if let Some(m) = a.host_mac {
            link.push(format!("host-mac-addr {}", format_mac(&m)));
        }
        if let Some(r) = a.rx_ring_size {
            link.push(format!("rx-ring-size {r} (host txqueuelen)"));
        }
        if let Some(b) = &a.host_bridge {
            link.push(format!("host-bridge {b}"));
        }
        let _ = writeln!(s, "{}", link.join(", "));
        let mut addrs = Vec::new();
        if let Some(p) = a.host_ip4 {
            addrs.push(format!("host-ip4-addr {p}"));
        }
        if let Some(g) = a.host_ip4_gw {
            addrs.push(format!("host-ip4-gw {g}"));
        }
        if let Some(p) = a.host_ip6 {
            addrs.push(format!("host-ip6-addr {p}"));
        }
        if let Some(g) = a.host_ip6_gw {
            addrs.push(format!("host-ip6-gw {g}"));
        }
        if !addrs.is_empty() {
            let _ = writeln!(s, "{}", addrs.join(", "));
        }
        let st = &self.stats;
        let _ = writeln!(
            s,
            "rx too-long {}, rx read errors {}, tx would-block {}, tx write errors {}, carrier control {}",
            st.rx_too_long.load(Ordering::Relaxed),
            st.rx_errors.load(Ordering::Relaxed),
            st.tx_again.load(Ordering::Relaxed),
            st.tx_errors.load(Ordering::Relaxed),
            if st.carrier_ok.load(Ordering::Relaxed) { "yes" } else { "no" },
        );
        s
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Frees a buffer this driver allocated but did not fill: its metadata is
/// whatever the last user left, so the chain flag is cleared first.
fn release(bufs: &mut ThreadBuffers, bi: BufferIndex) {
    bufs.meta_mut(bi).flags = 0;
    bufs.free_one(bi);
}

/// One rx queue of a tap, owned by the thread it is placed on.
pub struct TapRx {
    sw_if_index: u32,
    queue_id: u32,
    fd: Arc<TapFd>,
    mode: RxMode,
    /// Bytes of a frame past its head buffer land here.
    scratch: Vec<u8>,
    /// Largest frame this queue accepts (bounded by the chain length).
    max_frame: usize,
    stats: Arc<TapStats>,
}

impl TapRx {
    /// A queue reading `fd` for interface `sw_if_index`, for buffers of
    /// `data_size` data bytes.
    fn new(sw_if_index: u32, queue_id: u32, fd: Arc<TapFd>, data_size: usize, stats: Arc<TapStats>) -> TapRx {
        let head = data_size.min(u16::MAX as usize);
        let max_frame = MAX_FRAME.min(MAX_SEGS * head);
        // One byte more than can be taken, so that a truncated frame always
        // shows as longer than `max_frame`, whatever the fd reports.
        let scratch = vec![0; (max_frame + 1).saturating_sub(head).max(1)];
        TapRx { sw_if_index, queue_id, fd, mode: RxMode::Adaptive, scratch, max_frame, stats }
    }

    /// Copies the `tail` bytes of a frame that did not fit in `head` from
    /// the scratch area into a chain after it. False (nothing changed, the
    /// caller drops the frame) when buffers run out.
    fn chain_tail(&self, bufs: &mut ThreadBuffers, head: BufferIndex, head_len: usize, tail: usize) -> bool {
        let seg = head_len;
        let n = tail.div_ceil(seg);
        // `max_frame` keeps head + tail within MAX_SEGS buffers.
        if n >= MAX_SEGS {
            return false;
        }
        let mut segs = [BufferIndex(0); MAX_SEGS];
        let got = bufs.alloc(&mut segs[..n]);
        if got < n {
            for &b in &segs[..got] {
                release(bufs, b);
            }
            return false;
        }
        for (k, &b) in segs[..n].iter().enumerate() {
            let part = &self.scratch[k * seg..tail.min((k + 1) * seg)];
            bufs.fill(b, part, self.sw_if_index);
            if k + 1 < n {
                let m = bufs.meta_mut(b);
                m.flags |= flags::NEXT_PRESENT;
                m.next_buffer = segs[k + 1].0;
            }
        }
        let m = bufs.meta_mut(head);
        m.reset_rx(head_len as u16, self.sw_if_index);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = segs[0].0;
        m.total_length_not_including_first_buffer = tail as u32;
        true
    }
}

impl RxQueue for TapRx {
    fn sw_if_index(&self) -> u32 {
        self.sw_if_index
    }

    fn queue_id(&self) -> u32 {
        self.queue_id
    }

    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize {
        let sw = self.sw_if_index;
        let head_len = vm.bufs.data_size().min(u16::MAX as usize);
        let (mut n, mut bytes, mut dropped) = (0usize, 0u64, 0u64);
        // One read per slot at most: a misbehaving fd cannot keep us here.
        for _ in 0..out.len() {
            let Some(bi) = vm.bufs.alloc_one() else {
                vm.ifc.rx_no_buf(sw, 1);
                break;
            };
            let r = {
                let (_, raw) = vm.bufs.split_mut(bi);
                let mut iov =
                    [IoSliceMut::new(&mut raw[HEADROOM..HEADROOM + head_len]), IoSliceMut::new(&mut self.scratch)];
                self.fd.read_frame(&mut iov)
            };
            match r {
                Ok(len) if len > 0 && len <= head_len => {
                    vm.bufs.meta_mut(bi).reset_rx(len as u16, sw);
                }
                Ok(len) if len > head_len && len <= self.max_frame => {
                    if !self.chain_tail(&mut vm.bufs, bi, head_len, len - head_len) {
                        release(&mut vm.bufs, bi);
                        vm.ifc.rx_no_buf(sw, 1);
                        continue;
                    }
                }
                Ok(len) => {
                    // Empty, or longer than we can take (truncated).
                    if len > 0 {
                        bump(&self.stats.rx_too_long);
                    }
                    release(&mut vm.bufs, bi);
                    dropped += 1;
                    continue;
                }
                Err(e) => {
                    release(&mut vm.bufs, bi);
                    match e.kind() {
                        ErrorKind::WouldBlock => break,
                        ErrorKind::Interrupted => continue,
                        _ => {
                            bump(&self.stats.rx_errors);
                            break;
                        }
                    }
                }
            }
            out[n] = bi;
            n += 1;
            bytes += vm.bufs.chain_len(bi) as u64;
        }
        if dropped > 0 {
            vm.ifc.drop(sw, dropped);
        }
        vm.ifc.rx_batch(sw, n as u64, bytes);
        n
    }

    fn fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }

    fn mode(&self) -> RxMode {
        self.mode
    }

    fn set_mode(&mut self, mode: RxMode) {
        self.mode = mode;
    }
}

/// One thread's transmit side of a tap: frames are written to one of the
/// tap's queue fds (writes to a tap are atomic per frame, so threads may
/// share an fd).
pub struct TapTx {
    fd: Arc<TapFd>,
    stats: Arc<TapStats>,
}

impl TapTx {
    /// Writes one packet (a single buffer or a chain).
    fn write_one(&self, bufs: &ThreadBuffers, bi: BufferIndex) -> std::io::Result<usize> {
        if bufs.meta(bi).flags & flags::NEXT_PRESENT == 0 {
            return self.fd.write_frame(bufs.data(bi));
        }
        let count = bufs.arena().count();
        let mut iov = [IoSlice::new(&[]); MAX_SEGS];
        let mut cur = bi;
        let mut k = 0;
        loop {
            if k == MAX_SEGS {
                return Err(ErrorKind::InvalidInput.into());
            }
            iov[k] = IoSlice::new(bufs.data(cur));
            k += 1;
            let m = bufs.meta(cur);
            if m.flags & flags::NEXT_PRESENT == 0 {
                break;
            }
            if m.next_buffer >= count {
                return Err(ErrorKind::InvalidData.into());
            }
            cur = BufferIndex(m.next_buffer);
        }
        self.fd.write_frame_vectored(&iov[..k])
    }
}

impl TxQueue for TapTx {
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        let mut sent = 0;
        'pkts: for &bi in pkts {
            let mut tries = 0;
            loop {
                match self.write_one(bufs, bi) {
                    Ok(_) => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted && tries < EINTR_RETRIES => tries += 1,
                    Err(e) => {
                        if e.kind() == ErrorKind::WouldBlock {
                            bump(&self.stats.tx_again);
                        } else {
                            bump(&self.stats.tx_errors);
                        }
                        break 'pkts;
                    }
                }
            }
            sent += 1;
        }
        bufs.free(&pkts[..sent]);
        sent
    }
}

fn cli_err(i: &Input, e: TapError) -> CliError {
    CliError(format!("{}: {e}", i.command()))
}

/// The lowest id whose `tap<id>` interface does not exist.
fn free_id(e: &Engine) -> u32 {
    (0..u32::MAX).find(|n| e.interfaces.by_name(&format!("tap{n}")).is_none()).unwrap_or(0)
}

/// Opens `n` queues of the tap device `wanted`; returns them and the
/// kernel's name for the device. The first queue creates the device; the
/// others attach to it by the name the kernel gave it, which differs when
/// `wanted` has a `%d` for the kernel to number (`tap%d` → `tap0`): asked
/// for `wanted` again, it would make a new device each time.
fn open_queues(wanted: &str, n: u16) -> Result<(Vec<Arc<TapFd>>, String), TapError> {
    let mut fds = Vec::new();
    let mut host_if_name = wanted.to_string();
    for _ in 0..n {
        let (fd, name) = TapFd::open(&host_if_name).map_err(|x| TapError::Open {
            path: sys::TUN_PATH,
            name: host_if_name.clone(),
            message: x.to_string(),
        })?;
        host_if_name = name;
        fds.push(Arc::new(fd));
    }
    Ok((fds, host_if_name))
}

/// Opens the tap queues, configures the host side, and creates the rvpp
/// interface with its rx queues placed and tx queues installed.
fn create(e: &mut Engine, a: TapArgs) -> Result<String, TapError> {
    let id = match a.id {
        Some(id) if e.interfaces.by_name(&format!("tap{id}")).is_some() => return Err(TapError::IdInUse { id }),
        Some(id) => id,
        None => free_id(e),
    };
    let wanted = a.host_if_name.clone().unwrap_or_else(|| format!("tap{id}"));
    if host::exists(&wanted) {
        return Err(TapError::HostNameInUse { name: wanted });
    }
    if let Some(ns) = &a.host_ns {
        let path = host::netns_path(ns);
        if !std::path::Path::new(&path).exists() {
            return Err(TapError::NoNetns { ns: ns.clone(), path });
        }
    }
    // Every queue is opened before the device leaves this namespace: the
    // name only finds it here. On any error below, dropping `fds` closes
    // them and the kernel removes the device.
    let (fds, host_if_name) = open_queues(&wanted, a.queues())?;
    let stats = Arc::new(TapStats::default());
    // rvpp's side starts admin down: no carrier until it comes up.
    if let Some(fd) = fds.first() {
        stats.carrier_ok.store(fd.set_carrier(false).is_ok(), Ordering::Relaxed);
    }
    host::configure(&host_if_name, &a)?;

    let name = format!("tap{id}");
    let mac = a.hw_addr.unwrap_or_else(|| crate::local_mac(MAC_BYTE, id));
    let mtu = a.host_mtu.unwrap_or(DEFAULT_MTU);
    let dev = Arc::new(TapDevice {
        host_if_name,
        fd_numbers: fds.iter().map(|f| f.raw()).collect(),
        fds: Mutex::new(fds.clone()),
        stats: stats.clone(),
        args: a,
    });
    let sw = e.create_interface(name.clone(), mac, mtu, Some(dev));
    let data_size = e.buffers.data_size();
    for (q, fd) in fds.into_iter().enumerate() {
        let rx = TapRx::new(sw.0, q as u32, fd, data_size, stats.clone());
        let thread = e.next_rx_thread();
        place_rx_queue(e, TAP_INPUT, Box::new(rx), thread);
    }
    Ok(format!("{name}\n"))
}

fn create_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let a = TapArgs::parse(i).map_err(|x| cli_err(i, x))?;
    create(e, a).map_err(|x| cli_err(i, x))
}

fn delete_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let sw = if i.keyword("sw_if_index") {
        SwIfIndex(i.parse::<u32>("sw_if_index")?)
    } else {
        rvpp_dataplane::cli::builtin::parse_interface(e, i)?
    };
    i.done()?;
    let Some(f) = e.interfaces.get(sw) else {
        return Err(CliError(format!("{}: no interface with sw_if_index {}", i.command(), sw.0)));
    };
    let name = f.name.clone();
    let Some(dev) = f.device.clone() else {
        return Err(cli_err(i, TapError::NotTap { name }));
    };
    let Some(tap) = dev.as_any().downcast_ref::<TapDevice>() else {
        return Err(cli_err(i, TapError::NotTap { name }));
    };
    tap.close();
    e.delete_interface(sw);
    Ok(String::new())
}

/// Registers `tap-input` and the tap commands.
pub fn register(r: &mut Registrar) {
    r.node(DeviceInput::register(TAP_INPUT, TAP_INPUT_NEXTS));
    r.cli.add(
        "create tap",
        "create tap [id <n>] [host-if-name <name>] [host-ns <netns>] [host-ip4-addr <a.b.c.d/len>] \
         [host-ip4-gw <a.b.c.d>] [host-ip6-addr <addr/len>] [host-ip6-gw <addr>] [host-bridge <br>] \
         [hw-addr <mac>] [host-mac-addr <mac>] [host-mtu-size <n>] [rx-ring-size <n>] [tx-ring-size <n>] \
         [num-rx-queues <n>]",
        create_cmd,
    );
    r.cli.add("delete tap", "delete tap <if> | sw_if_index <n>", delete_cmd);
}
