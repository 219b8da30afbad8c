//! The memif control plane, on the main thread: listeners (server sockets),
//! connectors (clients, retried every second until the server is there),
//! and the per-interface connection state machine of both roles.
//!
//! Message order (client → server unless marked):
//! `HELLO` (server, on accept) → `INIT` → ACK → `ADD_REGION`… → ACK each →
//! `ADD_RING`… → ACK each → `CONNECT` → `CONNECTED` (server). The client
//! sends its next message when the previous one is ACKed, as DPDK does.
//! Either side may send `DISCONNECT` (code + reason) and close.
//!
//! Everything here runs from a periodic main-thread task
//! ([`Engine::add_periodic`]); the control sockets are registered with the
//! main thread's poller so a message wakes it, and the `memif-process`
//! input node keeps the main thread's sleeps short while a handshake is
//! under way. No threads of our own.
//!
//! A protocol error, an unexpected message, a bad secret or a peer that
//! floods the socket ends the connection with a logged reason (stderr) and a
//! counter (`show memif`).

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rvpp_dataplane::device::{place_rx_queue, DeviceInput, InterfaceOutput};
use rvpp_dataplane::engine::Engine;
use rvpp_dataplane::thread::Worker;
use rvpp_dataplane::SwIfIndex;

use super::proto::{self, AddRing, Hello, Init, Mode, Msg, RingPlace};
use super::rx::{ring_flags_for, rx_mode_of, MemifRx};
use super::sys::{EventFd, Recv, Region, Regions, Ring, SeqSocket, SockPath};
use super::tx::{MemifTx, TxRingState};
use super::{Conn, IfConfig, MemifDevice, RingSide, Role};

/// How often the control task runs.
pub const TICK: Duration = Duration::from_millis(10);
/// Delay between a client's connection attempts.
pub const RETRY: Duration = Duration::from_secs(1);
/// Most control messages a peer may send in one second.
pub const MAX_MSGS_PER_SEC: u32 = 256;
/// Most messages read from one socket per tick.
const MAX_MSGS_PER_TICK: usize = 64;
/// A handshake (accept to CONNECTED) must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most accepted channels waiting for their INIT, per socket.
const MAX_PENDING: usize = 32;
/// Largest ring we offer or accept (2^14 slots, as DPDK).
pub const MAX_LOG2_RING: u8 = 14;
/// Most regions a client may send.
const MAX_REGIONS: usize = 16;

/// Control-plane counters (whole driver), shown by `show memif`.
#[derive(Default)]
pub struct ControlStats {
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    pub bad_secret: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub floods: AtomicU64,
    pub unknown_id: AtomicU64,
}

impl ControlStats {
    pub fn list(&self) -> Vec<(&'static str, u64)> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("connects", l(&self.connects)),
            ("disconnects", l(&self.disconnects)),
            ("refused (bad secret)", l(&self.bad_secret)),
            ("protocol errors", l(&self.protocol_errors)),
            ("message floods", l(&self.floods)),
            ("unknown interface id", l(&self.unknown_id)),
        ]
    }
}

/// One control channel: the socket, its outbound queue, its rate window.
pub struct Chan {
    pub sock: SeqSocket,
    window: Instant,
    in_window: u32,
    /// When the channel opened (handshake timeout).
    born: Instant,
    /// Client: messages waiting for the previous one's ACK.
    queue: VecDeque<(Msg, Option<RawFd>)>,
}

impl Chan {
    fn new(sock: SeqSocket, e: &Engine) -> Chan {
        // Wakes the main thread when the peer writes.
        let _ = e.local.vm.register_fd(sock.raw(), 1 << 20);
        Chan::with_socket(sock)
    }

    fn with_socket(sock: SeqSocket) -> Chan {
        Chan { sock, window: Instant::now(), in_window: 0, born: Instant::now(), queue: VecDeque::new() }
    }

    fn send(&self, m: &Msg, fd: Option<RawFd>) -> Result<(), String> {
        self.sock.send(&m.encode(), fd).map_err(|x| format!("sending {}: {x}", m.name()))
    }

    /// Sends the next queued message (client lockstep).
    fn send_next(&mut self) -> Result<(), String> {
        if let Some((m, fd)) = self.queue.pop_front() {
            self.send(&m, fd)?;
        }
        Ok(())
    }

    /// Reads one message; Ok(None) when nothing is waiting.
    fn recv(&mut self, stats: &ControlStats) -> Result<Option<(Msg, Option<OwnedFd>)>, String> {
        match self.sock.recv() {
            Ok(Recv::WouldBlock) => Ok(None),
            Ok(Recv::Closed) => Err("peer closed the control socket".into()),
            Err(e) => Err(format!("control socket: {e}")),
            Ok(Recv::Msg { buf, len, fd, truncated }) => {
                let now = Instant::now();
                if now.duration_since(self.window) > Duration::from_secs(1) {
                    self.window = now;
                    self.in_window = 0;
                }
                self.in_window += 1;
                if self.in_window > MAX_MSGS_PER_SEC {
                    stats.floods.fetch_add(1, Ordering::Relaxed);
                    return Err(format!("message flood (more than {MAX_MSGS_PER_SEC} messages a second)"));
                }
                if truncated {
                    stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    return Err("truncated message or more than one descriptor".into());
                }
                let m = Msg::decode(&buf[..len.min(proto::MSG_SIZE)])
                    .and_then(|m| if len == proto::MSG_SIZE { Ok(m) } else { Err(proto::ProtoError::Length(len)) })
                    .map_err(|x| {
                        stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                        format!("bad message: {x}")
                    })?;
                Ok(Some((m, fd)))
            }
        }
    }

    fn close(self, e: &Engine) {
        let _ = e.local.vm.deregister_fd(self.sock.raw());
    }
}

/// A socket (`create memif socket id N filename F`).
pub struct SocketEntry {
    pub id: u32,
    pub path: SockPath,
    pub listener: Option<SeqSocket>,
    /// Accepted channels not yet bound to an interface (waiting for INIT).
    pub pending: Vec<Chan>,
}

/// Where an interface's connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Disconnected,
    /// Control channel open, handshake under way.
    Connecting,
    Connected,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Disconnected => "disconnected",
            ConnState::Connecting => "connecting",
            ConnState::Connected => "connected",
        }
    }
}

/// What a server collects from the client during the handshake.
#[derive(Default)]
struct Pending {
    regions: Vec<Arc<Region>>,
    s2m: Vec<(AddRing, EventFd)>,
    m2s: Vec<(AddRing, EventFd)>,
    /// Client: the region and ring layout built after HELLO.
    client: Option<Arc<Conn>>,
}

/// One memif interface's control-plane state.
pub struct IfEntry {
    pub sw: SwIfIndex,
    pub name: String,
    pub cfg: IfConfig,
    pub dev: Arc<MemifDevice>,
    pub state: ConnState,
    pub chan: Option<Chan>,
    pending: Pending,
    pub conn: Option<Arc<Conn>>,
    pub remote_name: String,
    pub remote_if_name: String,
    pub last_reason: String,
    next_retry: Instant,
}

/// The driver's control-plane state (in the engine's extensions).
#[derive(Default)]
pub struct MemifMain {
    pub sockets: BTreeMap<u32, SocketEntry>,
    pub ifs: Vec<IfEntry>,
    pub stats: Arc<ControlStats>,
    /// True while a handshake is under way: `memif-process` keeps the main
    /// thread's sleeps short.
    pub busy: Arc<AtomicBool>,
    pub task_added: bool,
}

fn log(name: &str, what: &str) {
    eprintln!("memif: {name}: {what}");
}

impl MemifMain {
    pub fn new_if(&mut self, sw: SwIfIndex, name: String, cfg: IfConfig, dev: Arc<MemifDevice>) {
        self.ifs.push(IfEntry {
            sw,
            name,
            cfg,
            dev,
            state: ConnState::Disconnected,
            chan: None,
            pending: Pending::default(),
            conn: None,
            remote_name: String::new(),
            remote_if_name: String::new(),
            last_reason: String::new(),
            next_retry: Instant::now(),
        });
    }
}

/// Runs the control plane once (periodic main-thread task).
pub fn tick(e: &mut Engine) {
    let Some(mut m) = e.ext.get_mut::<MemifMain>().map(std::mem::take) else { return };
    accept_all(e, &mut m);
    serve_pending(e, &mut m);
    for k in 0..m.ifs.len() {
        run_if(e, &mut m, k);
    }
    let busy =
        m.ifs.iter().any(|i| i.state == ConnState::Connecting) || m.sockets.values().any(|s| !s.pending.is_empty());
    m.busy.store(busy, Ordering::Relaxed);
    if let Some(slot) = e.ext.get_mut::<MemifMain>() {
        *slot = m;
    }
}

fn our_hello(name: &str, max_rx: u32, max_tx: u32) -> Msg {
    Msg::Hello(Hello {
        name: name.into(),
        min_version: proto::VERSION,
        max_version: proto::VERSION,
        max_region: (MAX_REGIONS - 1) as u16,
        max_m2s_ring: max_tx.saturating_sub(1) as u16,
        max_s2m_ring: max_rx.saturating_sub(1) as u16,
        max_log2_ring_size: MAX_LOG2_RING,
    })
}

fn accept_all(e: &Engine, m: &mut MemifMain) {
    for s in m.sockets.values_mut() {
        let Some(l) = &s.listener else { continue };
        // The HELLO advertises the most queues any server interface here has.
        let (mut rx, mut tx) = (1, 1);
        for i in m.ifs.iter().filter(|i| i.cfg.socket_id == s.id && i.cfg.role == Role::Server) {
            rx = rx.max(i.cfg.rx_queues);
            tx = tx.max(i.cfg.tx_queues);
        }
        for _ in 0..16 {
            match l.accept() {
                Ok(Some(_)) if s.pending.len() >= MAX_PENDING => {
                    // Closed at once: too many peers that never said INIT.
                    m.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    log(&format!("socket {}", s.id), "refused a peer: too many connections waiting for INIT");
                }
                Ok(Some(sock)) => {
                    let c = Chan::new(sock, e);
                    if c.send(&our_hello("rvpp", rx, tx), None).is_ok() {
                        s.pending.push(c);
                    } else {
                        c.close(e);
                    }
                }
                Ok(None) => break,
                Err(x) => {
                    log(&format!("socket {}", s.id), &format!("accept: {x}"));
                    break;
                }
            }
        }
    }
}

/// Accepted channels waiting for INIT: bind each to its interface.
fn serve_pending(e: &mut Engine, m: &mut MemifMain) {
    let ids: Vec<u32> = m.sockets.keys().copied().collect();
    for sid in ids {
        let chans = std::mem::take(&mut m.sockets.get_mut(&sid).expect("socket listed").pending);
        let mut keep = Vec::new();
        for mut c in chans {
            match c.recv(&m.stats) {
                Ok(None) if c.born.elapsed() > HANDSHAKE_TIMEOUT => {
                    m.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    log(&format!("socket {sid}"), "refused a peer: no INIT within 5 s");
                    c.close(e);
                }
                Ok(None) => keep.push(c),
                Err(why) => {
                    log(&format!("socket {sid}"), &format!("refused a peer: {why}"));
                    c.close(e);
                }
                Ok(Some((Msg::Init(init), _))) => match bind_init(m, sid, &init) {
                    Ok(k) => {
                        let i = &mut m.ifs[k];
                        if let Err(why) = c.send(&Msg::Ack, None) {
                            log(&i.name, &why);
                            c.close(e);
                            continue;
                        }
                        i.remote_name = init.name.clone();
                        i.state = ConnState::Connecting;
                        i.pending = Pending::default();
                        i.chan = Some(c);
                    }
                    Err(why) => {
                        let _ = c.send(&Msg::Disconnect { code: 0, reason: why.clone() }, None);
                        c.close(e);
                    }
                },
                Ok(Some((other, _))) => {
                    m.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    let why = format!("unexpected {} before INIT", other.name());
                    log(&format!("socket {sid}"), &format!("refused a peer: {why}"));
                    let _ = c.send(&Msg::Disconnect { code: 0, reason: why }, None);
                    c.close(e);
                }
            }
        }
        if let Some(s) = m.sockets.get_mut(&sid) {
            s.pending.extend(keep);
        }
    }
}

/// Checks an INIT against the server interfaces of a socket; returns the
/// interface's position or the refusal reason (logged and counted).
fn bind_init(m: &MemifMain, sid: u32, init: &Init) -> Result<usize, String> {
    let Some(k) =
        m.ifs.iter().position(|i| i.cfg.socket_id == sid && i.cfg.role == Role::Server && i.cfg.id == init.id)
    else {
        m.stats.unknown_id.fetch_add(1, Ordering::Relaxed);
        log(&format!("socket {sid}"), &format!("refused '{}': no master interface with id {}", init.name, init.id));
        return Err("ID not found".into());
    };
    let i = &m.ifs[k];
    let refuse = |why: String, ctr: &AtomicU64| {
        ctr.fetch_add(1, Ordering::Relaxed);
        log(&i.name, &format!("refused '{}': {why}", init.name));
        Err(why)
    };
    if init.version != proto::VERSION {
        return refuse(format!("incompatible memif version {:#06x}", init.version), &m.stats.protocol_errors);
    }
    if i.state != ConnState::Disconnected {
        return refuse("already connected".into(), &m.stats.protocol_errors);
    }
    if init.mode != i.cfg.mode {
        return refuse(
            format!("mode {} does not match this interface's {}", init.mode.as_str(), i.cfg.mode.as_str()),
            &m.stats.protocol_errors,
        );
    }
    if let Some(secret) = &i.cfg.secret {
        if init.secret.is_empty() {
            return refuse("secret required".into(), &m.stats.bad_secret);
        }
        if init.secret != *secret {
            return refuse("incorrect secret".into(), &m.stats.bad_secret);
        }
    }
    Ok(k)
}

/// Advances one interface: client connect/retry, then its channel's messages.
fn run_if(e: &mut Engine, m: &mut MemifMain, k: usize) {
    let now = Instant::now();
    if m.ifs[k].cfg.role == Role::Client && m.ifs[k].chan.is_none() && now >= m.ifs[k].next_retry {
        m.ifs[k].next_retry = now + RETRY;
        let path = m.sockets.get(&m.ifs[k].cfg.socket_id).map(|s| s.path.clone());
        if let Some(path) = path {
            if let Ok(sock) = SeqSocket::connect(&path) {
                let c = Chan::new(sock, e);
                let i = &mut m.ifs[k];
                i.chan = Some(c);
                i.state = ConnState::Connecting;
                i.pending = Pending::default();
            }
        }
    }
    let stalled = m.ifs[k].state == ConnState::Connecting
        && m.ifs[k].chan.as_ref().is_some_and(|c| c.born.elapsed() > HANDSHAKE_TIMEOUT);
    if stalled {
        m.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
        disconnect(e, m, k, "handshake not finished within 5 s", true);
        return;
    }
    for _ in 0..MAX_MSGS_PER_TICK {
        let Some(c) = m.ifs[k].chan.as_mut() else { return };
        match c.recv(&m.stats) {
            Ok(None) => return,
            Ok(Some((msg, fd))) => {
                if let Err(why) = handle(e, m, k, msg, fd) {
                    disconnect(e, m, k, &why, true);
                    return;
                }
            }
            Err(why) => {
                disconnect(e, m, k, &why, false);
                return;
            }
        }
    }
}

/// One message on an interface's channel. Err ends the connection.
fn handle(e: &mut Engine, m: &mut MemifMain, k: usize, msg: Msg, fd: Option<OwnedFd>) -> Result<(), String> {
    let role = m.ifs[k].cfg.role;
    let state = m.ifs[k].state;
    let bad = |m: &MemifMain, why: String| -> Result<(), String> {
        m.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
        Err(why)
    };
    match (role, msg) {
        (_, Msg::Disconnect { code, reason }) => Err(format!("peer disconnected (code {code}): {reason}")),
        (Role::Server, Msg::AddRegion { index, size }) if state == ConnState::Connecting => {
            let i = &mut m.ifs[k];
            if index as usize != i.pending.regions.len() || i.pending.regions.len() >= MAX_REGIONS {
                return bad(m, format!("region index {index} out of order"));
            }
            let Some(fd) = fd else { return bad(m, "ADD_REGION without a memfd".into()) };
            let r = Region::map(fd, size as usize).map_err(|x| format!("region {index} of {size} bytes: {x}"));
            match r {
                Ok(r) => i.pending.regions.push(Arc::new(r)),
                Err(why) => return bad(m, why),
            }
            ack(m, k)
        }
        (Role::Server, Msg::AddRing(ar)) if state == ConnState::Connecting => {
            let i = &mut m.ifs[k];
            let Some(fd) = fd else { return bad(m, "ADD_RING without an eventfd".into()) };
            let (list, max) =
                if ar.s2m { (&mut i.pending.s2m, i.cfg.rx_queues) } else { (&mut i.pending.m2s, i.cfg.tx_queues) };
            if ar.index as usize != list.len() || ar.index as u32 >= max {
                return bad(m, format!("{} ring index {} out of order or above {max}", dir(ar.s2m), ar.index));
            }
            if ar.log2_ring_size > MAX_LOG2_RING {
                return bad(m, format!("ring size 2^{} is larger than 2^{MAX_LOG2_RING}", ar.log2_ring_size));
            }
            if ar.private_hdr_size != 0 {
                return bad(m, "private ring headers are not supported".into());
            }
            list.push((ar, EventFd::from_owned(fd)));
            ack(m, k)
        }
        (Role::Server, Msg::Connect { if_name }) if state == ConnState::Connecting => {
            let conn = match server_conn(&mut m.ifs[k]) {
                Ok(c) => c,
                Err(why) => return bad(m, why),
            };
            let i = &mut m.ifs[k];
            i.remote_if_name = if_name;
            let name = i.name.clone();
            if let Some(c) = &i.chan {
                c.send(&Msg::Connected { if_name: name }, None)?;
            }
            go_up(e, m, k, conn);
            Ok(())
        }
        (Role::Client, Msg::Hello(h)) if state == ConnState::Connecting && m.ifs[k].pending.client.is_none() => {
            if h.min_version > proto::VERSION || h.max_version < proto::VERSION {
                return bad(m, format!("incompatible memif version {:#06x}-{:#06x}", h.min_version, h.max_version));
            }
            let i = &mut m.ifs[k];
            i.remote_name = h.name.clone();
            let conn = client_conn(i, &h).map_err(|x| format!("setting up regions: {x}"))?;
            let mut q = VecDeque::new();
            q.push_back((
                Msg::Init(Init {
                    version: proto::VERSION,
                    id: i.cfg.id,
                    mode: i.cfg.mode,
                    secret: i.cfg.secret.clone().unwrap_or_default(),
                    name: "rvpp".into(),
                }),
                None,
            ));
            for (idx, r) in conn.regions.0.iter().enumerate() {
                q.push_back((Msg::AddRegion { index: idx as u16, size: r.len() as u64 }, Some(r.fd())));
            }
            for (s2m, rings) in [(true, &conn.tx), (false, &conn.rx)] {
                for r in rings.iter() {
                    q.push_back((
                        Msg::AddRing(AddRing {
                            s2m,
                            index: r.index,
                            region: r.region,
                            offset: r.offset,
                            log2_ring_size: r.ring.log2(),
                            private_hdr_size: 0,
                        }),
                        Some(r.event.raw()),
                    ));
                }
            }
            q.push_back((Msg::Connect { if_name: i.name.clone() }, None));
            i.pending.client = Some(conn);
            let c = i.chan.as_mut().expect("channel of a connecting interface");
            c.queue = q;
            c.send_next()
        }
        (Role::Client, Msg::Ack) if state == ConnState::Connecting && m.ifs[k].pending.client.is_some() => {
            let c = m.ifs[k].chan.as_mut().expect("channel of a connecting interface");
            if c.queue.is_empty() {
                return bad(m, "unexpected ACK".into());
            }
            c.send_next()
        }
        (Role::Client, Msg::Connected { if_name }) if state == ConnState::Connecting => {
            let i = &mut m.ifs[k];
            let ready = i.chan.as_ref().is_some_and(|c| c.queue.is_empty());
            let Some(conn) = i.pending.client.take().filter(|_| ready) else {
                return bad(m, "CONNECTED before CONNECT".into());
            };
            i.remote_if_name = if_name;
            go_up(e, m, k, conn);
            Ok(())
        }
        (_, other) => bad(m, format!("unexpected {} while {}", other.name(), state.as_str())),
    }
}

fn dir(s2m: bool) -> &'static str {
    if s2m {
        "slave-to-master"
    } else {
        "master-to-slave"
    }
}

fn ack(m: &MemifMain, k: usize) -> Result<(), String> {
    match &m.ifs[k].chan {
        Some(c) => c.send(&Msg::Ack, None),
        None => Ok(()),
    }
}

/// Server, on CONNECT: validates what the client sent and builds the
/// connection (rings checked inside their regions, apart, with the cookie).
fn server_conn(i: &mut IfEntry) -> Result<Arc<Conn>, String> {
    let p = std::mem::take(&mut i.pending);
    if p.regions.is_empty() || p.s2m.is_empty() || p.m2s.is_empty() {
        return Err(format!(
            "CONNECT with {} regions, {} s2m and {} m2s rings",
            p.regions.len(),
            p.s2m.len(),
            p.m2s.len()
        ));
    }
    let regions = Regions(p.regions);
    let sizes = regions.sizes();
    let places: Vec<RingPlace> = p
        .s2m
        .iter()
        .chain(p.m2s.iter())
        .map(|(a, _)| RingPlace {
            name: format!("{} {}", dir(a.s2m), a.index),
            index: a.index,
            region: a.region,
            offset: a.offset,
            log2: a.log2_ring_size,
        })
        .collect();
    proto::check_rings(&places, &sizes, MAX_LOG2_RING).map_err(|x| x.to_string())?;
    let side = |(a, ev): (AddRing, EventFd)| -> Result<RingSide, String> {
        let region = regions.0[a.region as usize].clone();
        let ring = Ring::new(region, a.offset as usize, a.log2_ring_size)
            .ok_or_else(|| format!("{} ring {} does not fit its region", dir(a.s2m), a.index))?;
        if ring.cookie() != proto::COOKIE {
            return Err(format!("{} ring {}: bad cookie {:#x}", dir(a.s2m), a.index, ring.cookie()));
        }
        ring.store_head(0);
        ring.store_tail(0);
        Ok(RingSide {
            ring,
            event: ev,
            index: a.index,
            region: a.region,
            offset: a.offset,
            buf_region: 0,
            buf_base: 0,
            buf_size: 0,
        })
    };
    let rx = p.s2m.into_iter().map(side).collect::<Result<Vec<_>, _>>()?;
    let tx = p.m2s.into_iter().map(side).collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Conn { role: Role::Server, regions, rx, tx, buffer_size: 0 }))
}

/// Client, on HELLO: one region holding the rings (slave-to-master first)
/// then every ring's buffers, descriptors pointing at them.
pub(crate) fn client_conn(i: &IfEntry, h: &Hello) -> std::io::Result<Arc<Conn>> {
    let n_s2m = i.cfg.tx_queues.min(h.max_s2m_ring as u32 + 1) as usize;
    let n_m2s = i.cfg.rx_queues.min(h.max_m2s_ring as u32 + 1) as usize;
    let log2 = i.cfg.log2_ring_size.min(h.max_log2_ring_size).min(MAX_LOG2_RING);
    let slots = 1usize << log2;
    let bs = i.cfg.buffer_size as usize;
    let rings_bytes = (n_s2m + n_m2s) * proto::ring_bytes(log2);
    let buf_base = rings_bytes.next_multiple_of(64);
    let total = buf_base + (n_s2m + n_m2s) * slots * bs;
    if total as u64 > proto::MAX_REGION_SIZE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "region larger than 4 GiB"));
    }
    let region = Arc::new(Region::create(&format!("memif region {}", i.name), total)?);
    let mut sides = Vec::new();
    for r in 0..n_s2m + n_m2s {
        let off = r * proto::ring_bytes(log2);
        let ring = Ring::new(region.clone(), off, log2)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "ring outside region"))?;
        let s2m = r < n_s2m;
        let flags = if s2m { 0 } else { ring_flags_for(rx_mode_of(i.dev.rx_mode.load(Ordering::Relaxed))) };
        ring.init(flags);
        let side = RingSide {
            ring,
            event: EventFd::new()?,
            index: if s2m { r as u16 } else { (r - n_s2m) as u16 },
            region: 0,
            offset: off as u32,
            buf_region: 0,
            buf_base: (buf_base + r * slots * bs) as u32,
            buf_size: bs as u32,
        };
        for slot in 0..slots as u16 {
            let (region, offset) = side.own_buffer(slot);
            side.ring.set_desc(slot, &proto::Desc { flags: 0, region, length: bs as u32, offset, metadata: 0 });
        }
        sides.push(side);
    }
    let rx = sides.split_off(n_s2m);
    Ok(Arc::new(Conn { role: Role::Client, regions: Regions(vec![region]), rx, tx: sides, buffer_size: bs as u32 }))
}

/// The connection is up: rx queues placed, tx queues installed, link up.
fn go_up(e: &mut Engine, m: &mut MemifMain, k: usize, conn: Arc<Conn>) {
    let i = &mut m.ifs[k];
    let sw = i.sw;
    i.state = ConnState::Connected;
    i.conn = Some(conn.clone());
    i.last_reason.clear();
    m.stats.connects.fetch_add(1, Ordering::Relaxed);
    log(&i.name, &format!("connected to '{}' ({})", i.remote_name, i.remote_if_name));
    let dev = i.dev.clone();
    dev.set_queues(conn.rx.len(), conn.tx.len());
    let node = dev.input_node;
    for q in 0..conn.rx.len() {
        let rxq = MemifRx::new(
            sw.0,
            q as u32,
            conn.clone(),
            dev.rx_mode.clone(),
            dev.rx_stats[q.min(dev.rx_stats.len() - 1)].clone(),
        );
        let t = e.next_rx_thread();
        place_rx_queue(e, node, Box::new(rxq), t);
    }
    let rings: Vec<Arc<Mutex<TxRingState>>> = (0..conn.tx.len())
        .map(|r| {
            Arc::new(Mutex::new(TxRingState { index: r, stats: dev.tx_stats[r.min(dev.tx_stats.len() - 1)].clone() }))
        })
        .collect();
    let strip = if dev.mode == Mode::Ip { 14 } else { 0 };
    for t in 0..e.num_threads() {
        let mut q = Some(MemifTx::new(conn.clone(), rings[t % rings.len()].clone(), strip));
        e.on_thread(
            t,
            Box::new(move |w| {
                if let (Some(o), Some(q)) = (w.graph.node_mut::<InterfaceOutput>(InterfaceOutput::NAME), q.take()) {
                    o.set_tx(sw.0, Some(Box::new(q)));
                }
            }),
        );
    }
    if let Some(f) = e.interfaces.get_mut(sw) {
        f.link_up = true;
    }
    e.publish_interfaces();
}

/// Ends an interface's connection: tells the peer (when `tell`), takes the
/// queues off every thread, link down, regions unmapped and fds closed once
/// the threads let go. A client tries again after [`RETRY`].
pub fn disconnect(e: &mut Engine, m: &mut MemifMain, k: usize, why: &str, tell: bool) {
    let i = &mut m.ifs[k];
    let sw = i.sw;
    log(&i.name, &format!("disconnected: {why}"));
    i.last_reason = why.to_string();
    if let Some(c) = i.chan.take() {
        if tell {
            let _ = c.send(&Msg::Disconnect { code: 0, reason: why.to_string() }, None);
        }
        c.close(e);
    }
    let was_up = i.state == ConnState::Connected;
    i.state = ConnState::Disconnected;
    i.pending = Pending::default();
    i.next_retry = Instant::now() + RETRY;
    if was_up {
        m.stats.disconnects.fetch_add(1, Ordering::Relaxed);
    }
    let node = i.dev.input_node;
    let conn = i.conn.take();
    e.on_all_threads(move |w| {
        let Worker { graph, vm, .. } = w;
        if let Some(n) = graph.node_mut::<DeviceInput>(node) {
            drop(n.take_queues(sw.0, None, vm));
        }
        if let Some(o) = graph.node_mut::<InterfaceOutput>(InterfaceOutput::NAME) {
            o.set_tx(sw.0, None);
        }
    });
    if let Some(f) = e.interfaces.get_mut(sw) {
        f.link_up = false;
        f.rx_queues.clear();
    }
    e.publish_interfaces();
    // The last reference (ours, once the threads dropped theirs) unmaps.
    drop(conn);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(tag: &str) -> (SeqSocket, Chan) {
        let name = format!("rvpp-memif-{tag}-{}", std::process::id());
        let l = SeqSocket::listen(&SockPath::Abstract(name.clone())).unwrap();
        let c = SeqSocket::connect(&SockPath::Abstract(name)).unwrap();
        let s = l.accept().unwrap().unwrap();
        (c, Chan::with_socket(s))
    }

    #[test]
    fn a_flooding_peer_is_cut_off() {
        let (peer, mut chan) = pair("flood");
        let stats = ControlStats::default();
        for _ in 0..MAX_MSGS_PER_SEC + 10 {
            peer.send(&Msg::Ack.encode(), None).unwrap();
        }
        let mut ok = 0;
        let err = loop {
            match chan.recv(&stats) {
                Ok(Some((Msg::Ack, None))) => ok += 1,
                Ok(other) => panic!("unexpected {:?}", other.map(|m| m.0)),
                Err(e) => break e,
            }
        };
        assert_eq!(ok, MAX_MSGS_PER_SEC);
        assert!(err.contains("flood"), "{err}");
        assert_eq!(stats.floods.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn malformed_messages_are_counted_errors() {
        let (peer, mut chan) = pair("malformed");
        let stats = ControlStats::default();
        let mut b = Msg::Ack.encode();
        b[0] = 77;
        peer.send(&b, None).unwrap();
        let e = chan.recv(&stats).unwrap_err();
        assert!(e.contains("unknown message type 77"), "{e}");
        assert_eq!(stats.protocol_errors.load(Ordering::Relaxed), 1);
        drop(peer);
        assert!(chan.recv(&stats).unwrap_err().contains("closed"));
    }

    #[test]
    fn a_client_lays_out_rings_and_buffers_inside_its_region() {
        let cfg = IfConfig { rx_queues: 2, tx_queues: 1, log2_ring_size: 6, buffer_size: 256, ..IfConfig::default() };
        let dev = Arc::new(MemifDevice {
            mode: Mode::Ethernet,
            input_node: super::super::INPUT_NODE,
            rx_mode: Arc::new(std::sync::atomic::AtomicU8::new(0)),
            rx_stats: vec![],
            tx_stats: vec![],
            queues: Default::default(),
        });
        let mut m = MemifMain::default();
        m.new_if(SwIfIndex(1), "memif0/0".into(), cfg, dev);
        let h = Hello {
            name: "peer".into(),
            min_version: proto::VERSION,
            max_version: proto::VERSION,
            max_region: 0,
            max_m2s_ring: 0,
            max_s2m_ring: 7,
            max_log2_ring_size: 5,
        };
        let c = client_conn(&m.ifs[0], &h).unwrap();
        // The server's limits win: 1 m2s ring, 2^5 slots.
        assert_eq!((c.tx.len(), c.rx.len()), (1, 1));
        let sizes = c.regions.sizes();
        let mut places = Vec::new();
        for r in c.tx.iter().chain(c.rx.iter()) {
            assert_eq!(r.ring.size(), 32);
            assert_eq!(r.ring.cookie(), proto::COOKIE);
            places.push(RingPlace { name: "r".into(), index: r.index, region: r.region, offset: r.offset, log2: 5 });
            for slot in 0..32u16 {
                let d = r.ring.desc(slot);
                assert_eq!(d.length, 256);
                assert!(proto::desc_in_bounds(&d, &sizes).is_some());
                assert!(d.offset as usize >= 2 * proto::ring_bytes(5), "buffers after the rings");
            }
        }
        proto::check_rings(&places, &sizes, MAX_LOG2_RING).unwrap();
        // Buffers of different slots and rings do not overlap.
        let mut offs: Vec<u32> =
            c.tx.iter().chain(c.rx.iter()).flat_map(|r| (0..32u16).map(|s| r.ring.desc(s).offset)).collect();
        offs.sort();
        assert!(offs.windows(2).all(|w| w[1] - w[0] >= 256));
    }
}
