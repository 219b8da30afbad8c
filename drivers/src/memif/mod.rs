//! memif: shared-memory packet interfaces (protocol version 2), both roles,
//! interoperable with DPDK's net_memif and libmemif — VPP's memif plugin.
//!
//! Commands (VPP's):
//! - `create memif socket id <n> filename <path>` — a filesystem socket;
//!   `filename @<name>`, `filename abstract:<name>` or `abstract <name>`
//!   makes an abstract one. Socket 0 is `/run/vpp/memif.sock` (as VPP).
//! - `delete memif socket id <n>` (refused while interfaces use it).
//! - `create interface memif [id <n>] [socket-id <n>] master|slave
//!   [secret <s>] [ring-size <n>] [buffer-size <n>] [rx-queues <n>]
//!   [tx-queues <n>] [mode ip|ethernet] [hw-addr <mac>] [rx-mode
//!   polling|interrupt|adaptive]` makes `memif<socket>/<id>`.
//! - `delete interface memif <if>`, `show memif [<if>]`.
//!
//! Layout: [`proto`] the control messages and ring geometry checks (pure,
//! fuzzed), [`sys`] every system call and the only raw memory access,
//! [`control`] the connection state machines on the main thread, [`rx`]
//! and [`tx`] the data path. Roles use VPP's words on the CLI
//! (master = server, slave = client).
//!
//! Memory: the client (slave) allocates one memfd region holding the rings
//! (slave-to-master first, then master-to-slave) followed by every ring's
//! packet buffers; the server maps what the client sends and checks every
//! ring and every descriptor against it. Packets are copied between memif
//! buffers and rvpp buffers, so no rvpp buffer is ever lent to the peer and a
//! disconnect has none to take back.

pub mod control;
pub mod proto;
mod rx;
pub mod sys;
mod tx;

use std::any::Any;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::device::{Device, DeviceInput, ErrorDrop, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::interface::{parse_mac, RxMode};
use rvpp_dataplane::node::Idle;
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

use control::{ConnState, MemifMain, SocketEntry};
use proto::Mode;
use rx::QueueStats;
use sys::{EventFd, Regions, Ring, SockPath};

/// Input node of ethernet-mode interfaces.
pub const INPUT_NODE: &str = "memif-input";
/// Input node of ip-mode interfaces (packets go by IP version).
pub const IP_INPUT_NODE: &str = "memif-ip-input";
/// Sends ip-mode packets to ip4-input / ip6-input by their version nibble.
pub const IP_CLASSIFY_NODE: &str = "memif-ip-classify";
/// Keeps the main thread's sleeps short during handshakes.
pub const PROCESS_NODE: &str = "memif-process";
const DRIVER: &str = "memif";
/// VPP's default socket (id 0).
pub const DEFAULT_SOCKET: &str = "/run/vpp/memif.sock";
/// Largest memif buffer we write into, whatever the peer says.
pub const MAX_BUFFER_SIZE: u32 = 65535;
const MAX_QUEUES: u32 = 64;

/// Connection role (VPP's master/slave on the CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "master",
            Role::Client => "slave",
        }
    }
}

/// One ring of a live connection and its interrupt eventfd.
pub struct RingSide {
    pub ring: Ring,
    pub event: EventFd,
    pub index: u16,
    pub region: u16,
    pub offset: u32,
    /// Client: where this ring's own buffers start (region, offset).
    pub buf_region: u16,
    pub buf_base: u32,
    pub buf_size: u32,
}

impl RingSide {
    /// Client: our own buffer for `slot` (region, offset).
    #[inline(always)]
    fn own_buffer(&self, slot: u16) -> (u16, u32) {
        (self.buf_region, self.buf_base + (slot & self.ring.mask()) as u32 * self.buf_size)
    }
}

/// A live connection: regions and rings, shared by the queues. Dropping the
/// last reference unmaps the regions and closes the eventfds.
pub struct Conn {
    pub role: Role,
    pub regions: Regions,
    /// Rings we receive on / send on.
    pub rx: Vec<RingSide>,
    pub tx: Vec<RingSide>,
    /// Client: the size of each of our buffers.
    pub buffer_size: u32,
}

/// What `create interface memif` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfConfig {
    pub id: u32,
    pub socket_id: u32,
    pub role: Role,
    pub secret: Option<String>,
    pub log2_ring_size: u8,
    pub buffer_size: u32,
    pub rx_queues: u32,
    pub tx_queues: u32,
    pub mode: Mode,
    pub mac: Option<[u8; 6]>,
    pub rx_mode: RxMode,
}

impl Default for IfConfig {
    fn default() -> Self {
        IfConfig {
            id: 0,
            socket_id: 0,
            role: Role::Server,
            secret: None,
            log2_ring_size: 10,
            buffer_size: 2048,
            rx_queues: 1,
            tx_queues: 1,
            mode: Mode::Ethernet,
            mac: None,
            rx_mode: RxMode::Interrupt,
        }
    }
}

impl IfConfig {
    /// Parses `create interface memif`'s arguments; errors name the token.
    pub fn parse(i: &mut Input) -> Result<IfConfig, CliError> {
        let cmd = i.command().to_string();
        let mut c = IfConfig::default();
        let mut role = None;
        let num = |i: &mut Input, what: &str, lo: u32, hi: u32| -> Result<u32, CliError> {
            let w = i.expect(what)?;
            match rvpp_dataplane::cli::parse_num::<u32>(&w) {
                Some(v) if v >= lo && v <= hi => Ok(v),
                _ => Err(CliError(format!("{cmd}: {what} '{w}' is not a number in {lo}-{hi}"))),
            }
        };
        while !i.is_empty() {
            if i.keyword("id") {
                c.id = num(i, "id", 0, u32::MAX)?;
            } else if i.keyword("socket-id") {
                c.socket_id = num(i, "socket-id", 0, u32::MAX)?;
            } else if i.keyword("master") {
                role = Some(Role::Server);
            } else if i.keyword("slave") {
                role = Some(Role::Client);
            } else if i.keyword("secret") {
                let s = i.expect("secret")?;
                if s.len() >= proto::SECRET_SIZE {
                    return Err(CliError(format!("{cmd}: secret '{s}' is longer than 23 bytes")));
                }
                c.secret = Some(s);
            } else if i.keyword("ring-size") {
                let w = i.peek().unwrap_or("").to_string();
                let v = num(i, "ring-size", 8, 1 << control::MAX_LOG2_RING)?;
                if !v.is_power_of_two() {
                    return Err(CliError(format!("{cmd}: ring-size '{w}' is not a power of two")));
                }
                c.log2_ring_size = v.trailing_zeros() as u8;
            } else if i.keyword("buffer-size") {
                c.buffer_size = num(i, "buffer-size", 128, MAX_BUFFER_SIZE)?;
            } else if i.keyword("rx-queues") {
                c.rx_queues = num(i, "rx-queues", 1, MAX_QUEUES)?;
            } else if i.keyword("tx-queues") {
                c.tx_queues = num(i, "tx-queues", 1, MAX_QUEUES)?;
            } else if i.keyword("mode") {
                c.mode = match i.next().as_deref() {
                    Some("ip") => Mode::Ip,
                    Some("ethernet") => Mode::Ethernet,
                    Some(w) => return Err(CliError(format!("{cmd}: mode '{w}' is not ip or ethernet"))),
                    None => return Err(CliError(format!("{cmd}: expected ip or ethernet after mode"))),
                };
            } else if i.keyword("rx-mode") {
                c.rx_mode = i.rx_mode("rx-mode")?;
            } else if i.keyword("hw-addr") {
                let w = i.expect("MAC address")?;
                c.mac = Some(parse_mac(&w).ok_or_else(|| CliError(format!("{cmd}: '{w}' is not a MAC address")))?);
            } else if i.keyword("no-zero-copy") {
                // rvpp always copies between memif and its own buffers.
            } else {
                return i.unexpected();
            }
        }
        c.role = role.ok_or_else(|| CliError(format!("{cmd}: expected master or slave")))?;
        Ok(c)
    }
}

/// The device of a memif interface.
pub struct MemifDevice {
    pub mode: Mode,
    pub input_node: &'static str,
    /// The rx mode, kept across reconnects.
    pub rx_mode: Arc<AtomicU8>,
    pub rx_stats: Vec<Arc<QueueStats>>,
    pub tx_stats: Vec<Arc<QueueStats>>,
    pub(crate) queues: [AtomicUsize; 2],
}

impl MemifDevice {
    fn set_queues(&self, rx: usize, tx: usize) {
        self.queues[0].store(rx, Ordering::Relaxed);
        self.queues[1].store(tx, Ordering::Relaxed);
    }
}

impl Device for MemifDevice {
    fn driver(&self) -> &'static str {
        DRIVER
    }
    /// Tx queues are installed on connect and removed on disconnect.
    fn tx_queue(&self, _thread_index: usize) -> Option<Box<dyn TxQueue>> {
        None
    }
    fn input_node(&self) -> Option<&'static str> {
        Some(self.input_node)
    }
    fn format_hw(&self) -> String {
        format!(
            "memif {} mode, {} rx / {} tx queues connected\n",
            self.mode.as_str(),
            self.queues[0].load(Ordering::Relaxed),
            self.queues[1].load(Ordering::Relaxed)
        )
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A random locally administered MAC (`02:fe:...`): the two ends of a
/// memif are often two rvpp daemons, which must not share an address.
fn random_mac() -> [u8; 6] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    let r = h.finish().to_le_bytes();
    [0x02, 0xfe, r[0], r[1], r[2], r[3]]
}

fn main_state(e: &mut Engine) -> &mut MemifMain {
    e.ext.get_or_default::<MemifMain>()
}

fn ensure_task(e: &mut Engine) {
    let m = main_state(e);
    if !m.task_added {
        m.task_added = true;
        e.add_periodic("memif", control::TICK, control::tick);
    }
}

/// Parses a socket name: `@name` and `abstract:name` (VPP's spelling) are
/// abstract, anything else a path.
fn sock_path(w: &str) -> SockPath {
    match w.strip_prefix('@').or_else(|| w.strip_prefix("abstract:")) {
        Some(n) => SockPath::Abstract(n.to_string()),
        None => SockPath::File(w.to_string()),
    }
}

fn path_text(p: &SockPath) -> String {
    match p {
        SockPath::File(f) => f.clone(),
        SockPath::Abstract(n) => format!("@{n}"),
    }
}

fn create_socket_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let cmd = i.command().to_string();
    let (mut id, mut path) = (None, None);
    while !i.is_empty() {
        if i.keyword("id") {
            let w = i.expect("socket id")?;
            id = Some(
                rvpp_dataplane::cli::parse_num::<u32>(&w)
                    .ok_or_else(|| CliError(format!("{cmd}: socket id '{w}' is not a number")))?,
            );
        } else if i.keyword("filename") {
            path = Some(sock_path(&i.expect("socket filename")?));
        } else if i.keyword("abstract") {
            path = Some(SockPath::Abstract(i.expect("abstract socket name")?));
        } else {
            return i.unexpected();
        }
    }
    let id = id.ok_or_else(|| CliError(format!("{cmd}: expected id <n>")))?;
    if id == 0 {
        return Err(CliError(format!("{cmd}: socket id 0 is the default socket ({DEFAULT_SOCKET})")));
    }
    let path = path.ok_or_else(|| CliError(format!("{cmd}: expected filename <path>")))?;
    let (SockPath::File(f) | SockPath::Abstract(f)) = &path;
    if f.is_empty() || f.len() >= 107 || f.contains('\0') {
        return Err(CliError(format!("{cmd}: socket name '{f}' is empty or longer than 106 bytes")));
    }
    ensure_task(e);
    let m = main_state(e);
    if m.sockets.contains_key(&id) {
        return Err(CliError(format!("{cmd}: socket id {id} already exists")));
    }
    m.sockets.insert(id, SocketEntry { id, path, listener: None, pending: Vec::new() });
    Ok(String::new())
}

fn delete_socket_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let cmd = i.command().to_string();
    i.keyword("id");
    let w = i.expect("socket id")?;
    i.done()?;
    let id: u32 = rvpp_dataplane::cli::parse_num(&w)
        .ok_or_else(|| CliError(format!("{cmd}: socket id '{w}' is not a number")))?;
    if id == 0 {
        return Err(CliError(format!("{cmd}: socket id 0 is the default socket and stays")));
    }
    let m = main_state(e);
    if !m.sockets.contains_key(&id) {
        return Err(CliError(format!("{cmd}: no memif socket with id {id}")));
    }
    if let Some(f) = m.ifs.iter().find(|f| f.cfg.socket_id == id) {
        return Err(CliError(format!("{cmd}: socket {id} is in use by {}", f.name)));
    }
    let s = m.sockets.remove(&id).expect("checked");
    for c in s.pending {
        let _ = e.local.vm.deregister_fd(c.sock.raw());
    }
    if let Some(l) = s.listener {
        let _ = e.local.vm.deregister_fd(l.raw());
        if let SockPath::File(f) = &s.path {
            let _ = std::fs::remove_file(f);
        }
    }
    Ok(String::new())
}

/// `create interface memif`.
pub fn create(e: &mut Engine, c: &IfConfig) -> Result<String, String> {
    ensure_task(e);
    let name = format!("memif{}/{}", c.socket_id, c.id);
    let m = main_state(e);
    let Some(sock) = m.sockets.get(&c.socket_id) else {
        return Err(format!("no memif socket with id {}", c.socket_id));
    };
    if m.ifs.iter().any(|f| f.cfg.socket_id == c.socket_id && f.cfg.id == c.id) {
        return Err(format!("interface id {} already exists on socket {}", c.id, c.socket_id));
    }
    // A socket serves one role (it listens or it connects).
    if let Some(f) = m.ifs.iter().find(|f| f.cfg.socket_id == c.socket_id && f.cfg.role != c.role) {
        return Err(format!("socket {} is used by {} as {}", c.socket_id, f.name, f.cfg.role.as_str()));
    }
    let path = sock.path.clone();
    // Two sockets may name one path (a master and a slave of one daemon
    // joined back to back), but only one of them listens on it.
    if c.role == Role::Server {
        if let Some(other) = m.sockets.values().find(|s| s.id != c.socket_id && s.path == path && s.listener.is_some())
        {
            return Err(format!("socket '{}' is already in use by socket id {}", path_text(&path), other.id));
        }
    }
    if c.role == Role::Server && sock.listener.is_none() {
        if let SockPath::File(f) = &path {
            if let Some(dir) = std::path::Path::new(f).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        let l = sys::SeqSocket::listen(&path).map_err(|x| format!("listening on '{}': {x}", path_text(&path)))?;
        let _ = e.local.vm.register_fd(l.raw(), 1 << 20);
        main_state(e).sockets.get_mut(&c.socket_id).expect("socket checked").listener = Some(l);
    }
    let (input_node, mode) = match c.mode {
        Mode::Ip => (IP_INPUT_NODE, Mode::Ip),
        _ => (INPUT_NODE, Mode::Ethernet),
    };
    let dev = Arc::new(MemifDevice {
        mode,
        input_node,
        rx_mode: Arc::new(AtomicU8::new(rx::rx_mode_code(c.rx_mode))),
        rx_stats: (0..c.rx_queues.max(1)).map(|_| Arc::new(QueueStats::default())).collect(),
        tx_stats: (0..c.tx_queues.max(1)).map(|_| Arc::new(QueueStats::default())).collect(),
        queues: [AtomicUsize::new(0), AtomicUsize::new(0)],
    });
    let mac = c.mac.unwrap_or_else(random_mac);
    let sw = e.create_interface(name.clone(), mac, 1500, Some(dev.clone()));
    main_state(e).new_if(sw, name.clone(), c.clone(), dev);
    Ok(name)
}

fn create_if_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let c = IfConfig::parse(i)?;
    create(e, &c).map(|n| n + "\n").map_err(|x| CliError(format!("{}: {x}", i.command())))
}

fn delete_if_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let cmd = i.command().to_string();
    let by_index = i.keyword("sw_if_index");
    let w = i.expect("interface")?;
    i.done()?;
    let sw = if by_index { w.parse().ok().map(rvpp_dataplane::SwIfIndex) } else { e.interfaces.by_name(&w) };
    let m = main_state(e);
    let Some(k) = m.ifs.iter().position(|f| Some(f.sw) == sw) else {
        return Err(CliError(format!("{cmd}: '{w}' is not a memif interface")));
    };
    let mut m = std::mem::take(main_state(e));
    if m.ifs[k].state != ConnState::Disconnected || m.ifs[k].chan.is_some() {
        control::disconnect(e, &mut m, k, "interface deleted", true);
    }
    let f = m.ifs.remove(k);
    *main_state(e) = m;
    e.delete_interface(f.sw);
    Ok(String::new())
}

fn show_cmd(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let only = i.next();
    let m = main_state(e);
    if let Some(w) = &only {
        if !m.ifs.iter().any(|f| &f.name == w) {
            return Err(CliError(format!("{}: '{w}' is not a memif interface", i.command())));
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "sockets");
    let _ = writeln!(s, "  {:<4} {:<12} filename", "id", "listener");
    for so in m.sockets.values() {
        let users = m.ifs.iter().filter(|f| f.cfg.socket_id == so.id).count();
        let l = if so.listener.is_some() { format!("yes ({users})") } else { "no".into() };
        let _ = writeln!(s, "  {:<4} {:<12} {}", so.id, l, path_text(&so.path));
    }
    let _ = write!(s, "counters:");
    for (n, v) in m.stats.list() {
        let _ = write!(s, " {n} {v},");
    }
    s.pop();
    s.push('\n');
    for f in m.ifs.iter().filter(|f| only.as_ref().is_none_or(|w| &f.name == w)) {
        let _ = writeln!(s, "\ninterface {}", f.name);
        let _ = writeln!(s, "  remote-name \"{}\"", f.remote_name);
        let _ = writeln!(s, "  remote-interface \"{}\"", f.remote_if_name);
        let _ = writeln!(
            s,
            "  socket-id {} id {} mode {} role {}{}",
            f.cfg.socket_id,
            f.cfg.id,
            f.cfg.mode.as_str(),
            f.cfg.role.as_str(),
            if f.cfg.secret.is_some() { " secret set" } else { "" }
        );
        let _ = writeln!(s, "  state {}", f.state.as_str());
        if !f.last_reason.is_empty() {
            let _ = writeln!(s, "  last disconnect: {}", f.last_reason);
        }
        let _ = writeln!(
            s,
            "  ring-size {} buffer-size {} rx-queues {} tx-queues {} rx-mode {}",
            1u32 << f.cfg.log2_ring_size,
            f.cfg.buffer_size,
            f.cfg.rx_queues,
            f.cfg.tx_queues,
            rx::rx_mode_of(f.dev.rx_mode.load(Ordering::Relaxed)).as_str()
        );
        let Some(c) = &f.conn else { continue };
        let _ = writeln!(
            s,
            "  num-s2m-rings {} num-m2s-rings {} num-regions {}",
            s2m_count(c),
            m2s_count(c),
            c.regions.0.len()
        );
        for (k, r) in c.regions.0.iter().enumerate() {
            let _ = writeln!(s, "  region {k} size {} fd {}", r.len(), r.fd());
        }
        for (what, rings, stats) in [("rx", &c.rx, &f.dev.rx_stats), ("tx", &c.tx, &f.dev.tx_stats)] {
            for (q, r) in rings.iter().enumerate() {
                let dir = match (what, c.role) {
                    ("rx", Role::Server) | ("tx", Role::Client) => "slave-to-master",
                    _ => "master-to-slave",
                };
                let st = &stats[q.min(stats.len() - 1)];
                let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
                let _ = writeln!(s, "    {what} queue {q}: {dir} ring {}", r.index);
                let _ = writeln!(
                    s,
                    "      region {} offset {} ring-size {} int-fd {}",
                    r.region,
                    r.offset,
                    r.ring.size(),
                    r.event.raw()
                );
                let _ = writeln!(
                    s,
                    "      head {} tail {} flags {:#06x} packets {} bytes {} drops {} interrupts {}",
                    r.ring.head(),
                    r.ring.tail(),
                    r.ring.flags(),
                    ld(&st.packets),
                    ld(&st.bytes),
                    ld(&st.drops),
                    ld(&st.interrupts)
                );
            }
        }
    }
    Ok(s)
}

fn s2m_count(c: &Conn) -> usize {
    if c.role == Role::Server {
        c.rx.len()
    } else {
        c.tx.len()
    }
}

fn m2s_count(c: &Conn) -> usize {
    if c.role == Role::Server {
        c.tx.len()
    } else {
        c.rx.len()
    }
}

/// `memif-process`: an input node that produces nothing; on the main
/// thread it asks for a wake-up every tick while a handshake is under way.
struct MemifProcess {
    busy: Option<Arc<AtomicBool>>,
}

impl Node for MemifProcess {
    fn name(&self) -> &'static str {
        PROCESS_NODE
    }
    fn kind(&self) -> rvpp_dataplane::node::NodeKind {
        rvpp_dataplane::node::NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[]
    }
    fn poll(&mut self, _vm: &mut Vm, _frame: &mut Frame) -> usize {
        0
    }
    fn idle(&self) -> Idle {
        match &self.busy {
            Some(b) if b.load(Ordering::Relaxed) => {
                let tick = (rvpp_dataplane::arch::tsc_hz() * control::TICK.as_secs_f64()) as u64;
                Idle::Sleep { deadline: Some(rvpp_dataplane::arch::rdtsc() + tick) }
            }
            _ => Idle::Sleep { deadline: None },
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `memif-ip-classify`: ip-mode frames to ip4-input or ip6-input.
struct IpClassify;

#[repr(u16)]
enum IpNext {
    Ip4,
    Ip6,
    Drop,
}

impl Node for IpClassify {
    fn name(&self) -> &'static str {
        IP_CLASSIFY_NODE
    }
    fn next_nodes(&self) -> &[&'static str] {
        &["ip4-input", "ip6-input", ErrorDrop::NAME]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        const C: [CounterDesc; 1] = [CounterDesc::error("not an IPv4 or IPv6 packet")];
        &C
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let mut bad = 0;
        for k in 0..frame.len() {
            let next = match vm.bufs.header::<1>(frame.pkts[k]).map(|h| h[0] >> 4) {
                Some(4) => IpNext::Ip4,
                Some(6) => IpNext::Ip6,
                _ => {
                    bad += 1;
                    IpNext::Drop
                }
            };
            if vm.tracing() {
                let what = match next {
                    IpNext::Ip4 => "ip4",
                    IpNext::Ip6 => "ip6",
                    IpNext::Drop => "not ip: drop",
                };
                vm.trace(frame.pkts[k], |_| what.to_string());
            }
            frame.nexts[k] = next as u16;
        }
        if bad > 0 {
            vm.count(0, bad);
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let m = r.ext.get_or_default::<MemifMain>();
    m.sockets.entry(0).or_insert_with(|| SocketEntry {
        id: 0,
        path: SockPath::File(DEFAULT_SOCKET.into()),
        listener: None,
        pending: Vec::new(),
    });
    let busy = m.busy.clone();
    r.node(DeviceInput::register_with_counters(INPUT_NODE, &["ethernet-input", ErrorDrop::NAME], &rx::COUNTERS));
    r.node(DeviceInput::register_with_counters(IP_INPUT_NODE, &[IP_CLASSIFY_NODE, ErrorDrop::NAME], &rx::COUNTERS));
    r.node(NodeReg { name: IP_CLASSIFY_NODE, factory: Arc::new(|_| Box::new(IpClassify)) });
    r.node(NodeReg {
        name: PROCESS_NODE,
        factory: Arc::new(move |init| Box::new(MemifProcess { busy: (init.thread_index == 0).then(|| busy.clone()) })),
    });
    r.cli.add(
        "create memif socket",
        "create memif socket id <n> filename <path>|@<name>|abstract:<name> | abstract <name>",
        create_socket_cmd,
    );
    r.cli.add("delete memif socket", "delete memif socket id <n>", delete_socket_cmd);
    r.cli.add(
        "create interface memif",
        "create interface memif [id <n>] [socket-id <n>] master|slave [secret <s>] [ring-size <n>] \
         [buffer-size <n>] [rx-queues <n>] [tx-queues <n>] [mode ip|ethernet] [hw-addr <mac>] \
         [rx-mode polling|interrupt|adaptive] [no-zero-copy]",
        create_if_cmd,
    );
    r.cli.add("delete interface memif", "delete interface memif <interface> | sw_if_index <n>", delete_if_cmd);
    r.cli.add("show memif", "show memif [<interface>]", show_cmd);
}
#[cfg(test)]
mod tests;
