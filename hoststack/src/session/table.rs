//! One worker's sessions, listeners, apps, event queue and timers. TCP
//! sessions are here; UDP's share the slab, index, apps and event queue
//! through [`udp`].

mod icmp;
mod udp;

pub use icmp::{IcmpError, IcmpKind, IcmpOutcome, MIN_PMTU4, MIN_PMTU6};
pub use udp::UdpDelivery;

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};

use super::app::{App, AppEvent, AppSession};
use super::{
    unspecified, AppIndex, FiveTuple, ListenerIndex, SegmentSink, SessionError, SessionIndex, EPHEMERAL_FIRST,
    PROTO_TCP, PROTO_UDP,
};
use super::{Owners, RouteMtu};
use crate::fifo::{Fifo, Gather};
use crate::tcp::{self, Connection, ListenAction, Listener, Seq, TcpRepr};
use crate::udp::{UdpSession, UdpState, UdpStats};

/// Half-open handshakes a listener queues before answering with cookies.
const MAX_HALF_OPEN: usize = 1024;
/// Sessions one table holds at most (each has two fifos); beyond it a
/// completed handshake is reset and an active open refused.
pub const MAX_SESSIONS: usize = 100_000;
/// App events handled per drain before the rest wait for the next one.
const MAX_EVENTS_PER_DRAIN: usize = 4096;

/// A session's transport: a TCP connection or a UDP session, each owning
/// the session's two fifos. TCP's is held inline, as before UDP came: a
/// box would add a pointer chase to every segment, and the bytes a UDP
/// session leaves unused (under 600) are small next to its two fifos.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum TransportConn {
    Tcp(Connection),
    Udp(UdpSession),
}

impl TransportConn {
    /// The TCP connection, if this is one.
    pub fn tcp(&self) -> Option<&Connection> {
        match self {
            TransportConn::Tcp(c) => Some(c),
            TransportConn::Udp(_) => None,
        }
    }

    /// The UDP session, if this is one.
    pub fn udp(&self) -> Option<&UdpSession> {
        match self {
            TransportConn::Udp(u) => Some(u),
            TransportConn::Tcp(_) => None,
        }
    }

    /// The fifo the app reads.
    pub fn rx_fifo(&self) -> &Fifo {
        match self {
            TransportConn::Tcp(c) => c.rx_fifo(),
            TransportConn::Udp(u) => u.rx_fifo(),
        }
    }

    /// The fifo the app writes.
    pub fn tx_fifo(&self) -> &Fifo {
        match self {
            TransportConn::Tcp(c) => c.tx_fifo(),
            TransportConn::Udp(u) => u.tx_fifo(),
        }
    }

    /// Resets a TCP connection; closes a UDP session at once.
    pub fn abort(&mut self) {
        match self {
            TransportConn::Tcp(c) => c.abort(),
            TransportConn::Udp(u) => u.abort(),
        }
    }
}

/// What [`SessionTable::tcp_deliver`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Its session took it; the answer waits for
    /// [`SessionTable::flush_delivered`].
    Later,
    /// Its session took it and owes an answer before the next segment:
    /// call [`SessionTable::flush_delivered`] now.
    FlushNow,
    /// No session has its tuple.
    NoSession,
}

/// A session: its tuple, its transport connection and its app.
#[derive(Debug)]
pub struct Session {
    pub tuple: FiveTuple,
    pub conn: TransportConn,
    pub app: AppIndex,
    /// Interface the flow arrived on (the lookup's RX for replies).
    pub sw_if_index: u32,
    /// The deadline the timer heap holds for this session.
    timer: Option<u64>,
    /// On the pending-output list.
    pending: bool,
    /// The transport reported Closed; freed once the app heard it.
    closed: bool,
    /// An Rx event is queued and not yet delivered (one per burst).
    rx_event: bool,
    /// Took segments this frame; on the list of sessions to flush.
    delivered: bool,
}

impl Session {
    fn new(tuple: FiveTuple, conn: TransportConn, app: AppIndex, sw_if_index: u32) -> Self {
        Session {
            tuple,
            conn,
            app,
            sw_if_index,
            timer: None,
            pending: false,
            closed: false,
            rx_event: false,
            delivered: false,
        }
    }
}

/// What listens: TCP's handshake machine, or the UDP session (in the
/// session slab) that hears every peer.
#[derive(Debug)]
enum ListenKind {
    Tcp(Box<Listener<FiveTuple>>),
    Udp { session: u32 },
}

#[derive(Debug)]
struct ListenEntry {
    endpoint: SocketAddr,
    proto: u8,
    app: AppIndex,
    kind: ListenKind,
    next_timeout: Option<u64>,
    /// Handshakes a TCP listener here queued that are recorded in the
    /// shared owner index (so the rest of each is handed here): always
    /// some of those the listener holds, at most [`MAX_HALF_OPEN`], each
    /// forgotten as the listener lets go of it (RST, expiry, accept).
    owned: HashSet<FiveTuple>,
}

/// Cumulative counters of a table (`show tcp stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Transport counters of sessions already freed.
    pub tcp: tcp::Stats,
    /// Listener counters of listeners already removed.
    pub listen: tcp::ListenerStats,
    pub sessions_opened: u64,
    pub sessions_closed: u64,
    pub resets_sent: u64,
    pub timer_expirations: u64,
    /// Segments not taken by a sink out of room (sent later).
    pub output_deferred: u64,
    /// Handshakes reset and connects refused at the session limit.
    pub sessions_refused: u64,
    /// UDP counters, freed sessions' and live ones'.
    pub udp: UdpStats,
    /// TCP segments this thread's input handed to the thread owning their
    /// session.
    pub tcp_handed_off: u64,
}

/// A session as `show session` prints it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub index: u32,
    pub tuple: FiveTuple,
    /// VPP's name of the state (`ESTABLISHED`, `OPENED`...).
    pub state: &'static str,
    pub rx_len: u32,
    pub tx_len: u32,
    pub detail: String,
}

/// A listener as `show session` prints it.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub index: u32,
    pub endpoint: SocketAddr,
    pub proto: u8,
    pub app: String,
    pub half_open: usize,
    /// Bytes in a UDP listener's fifos (TCP listeners have none).
    pub rx_len: u32,
    pub tx_len: u32,
    /// `show session verbose`'s line for a UDP listener (its session's
    /// counters); empty for TCP.
    pub detail: String,
}

/// One worker's session layer.
pub struct SessionTable {
    thread: usize,
    cfg: tcp::Config,
    sessions: Vec<Option<Session>>,
    free: Vec<u32>,
    by_tuple: HashMap<FiveTuple, u32>,
    listeners: Vec<Option<ListenEntry>>,
    listen_by: HashMap<(u8, SocketAddr), u32>,
    apps: Vec<Option<Box<dyn App>>>,
    events: VecDeque<(SessionIndex, AppEvent)>,
    pending: Vec<u32>,
    /// Sessions that took segments since the last
    /// [`SessionTable::flush_delivered`].
    delivered: Vec<u32>,
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    secret: RandomState,
    next_port: u16,
    max_sessions: usize,
    stats: TableStats,
    /// The last IPv4 identification this thread's nodes sent (one counter
    /// for all of them, so fragmented datagrams never share one soon).
    ip_id: u16,
    /// The MTU toward a peer, which caps the MSS of its connections.
    route_mtu: Option<Arc<dyn RouteMtu>>,
    /// Which thread owns each session, shared with the other threads'
    /// tables (written only while [`Owners::active`]).
    owners: Option<Arc<Owners>>,
}

impl SessionTable {
    /// An empty table for worker `thread`, making connections with `cfg`.
    pub fn new(thread: usize, cfg: tcp::Config) -> Self {
        let secret = RandomState::new();
        let start = secret.hash_one(thread);
        let span = u16::MAX - EPHEMERAL_FIRST;
        SessionTable {
            thread,
            cfg,
            sessions: Vec::new(),
            free: Vec::new(),
            by_tuple: HashMap::new(),
            listeners: Vec::new(),
            listen_by: HashMap::new(),
            apps: Vec::new(),
            events: VecDeque::new(),
            pending: Vec::new(),
            delivered: Vec::new(),
            timers: BinaryHeap::new(),
            next_port: EPHEMERAL_FIRST + (start as u16) % span,
            secret,
            max_sessions: MAX_SESSIONS,
            stats: TableStats::default(),
            ip_id: start as u16,
            route_mtu: None,
            owners: None,
        }
    }

    /// Records this table's sessions in `o`, shared with the other
    /// threads' tables, while it is active; ephemeral ports then also
    /// avoid the tuples other threads hold.
    pub fn set_owners(&mut self, o: Arc<Owners>) {
        self.owners = Some(o);
    }

    /// The shared owner index, when there is one and it is kept.
    fn owners(&self) -> Option<&Owners> {
        self.owners.as_deref().filter(|o| o.active())
    }

    /// Handshakes recorded in the owner index for this table's listeners
    /// (see [`ListenEntry::owned`]).
    pub fn half_open_owned(&self) -> usize {
        self.listeners.iter().flatten().map(|l| l.owned.len()).sum()
    }

    /// Sizes each connection's MSS to the MTU of the interface its peer is
    /// routed through (at most the configured MSS); without it, the
    /// configured MSS.
    pub fn set_route_mtu(&mut self, r: Arc<dyn RouteMtu>) {
        self.route_mtu = Some(r);
    }

    /// The MSS for a connection with `peer`: the route's MTU less the IP
    /// and TCP headers, capped by the configured MSS.
    fn mss_toward(&self, peer: IpAddr) -> u16 {
        let hdr = if peer.is_ipv6() { 60 } else { 40 };
        match self.route_mtu.as_ref().and_then(|r| r.mtu(peer)) {
            Some(mtu) if mtu >= hdr + 64 => self.cfg.mss.min(mtu - hdr),
            _ => self.cfg.mss,
        }
    }

    /// The last IPv4 identification sent by this thread's nodes; a node
    /// takes it, counts on from it while it holds the table, and puts it
    /// back with [`SessionTable::set_ip_id`].
    pub fn ip_id(&self) -> u16 {
        self.ip_id
    }

    /// Counts a TCP segment the input node handed to the thread owning
    /// its session (`show tcp stats`).
    pub fn count_tcp_handoff(&mut self) {
        self.stats.tcp_handed_off += 1;
    }

    /// Records the last IPv4 identification sent.
    pub fn set_ip_id(&mut self, id: u16) {
        self.ip_id = id;
    }

    /// The worker this table belongs to.
    pub fn thread(&self) -> usize {
        self.thread
    }

    /// The transport settings new connections get.
    pub fn config(&self) -> &tcp::Config {
        &self.cfg
    }

    /// Replaces the transport settings for connections made from now on.
    pub fn set_config(&mut self, cfg: tcp::Config) {
        self.cfg = cfg;
    }

    /// Caps the sessions this table holds (default [`MAX_SESSIONS`]).
    pub fn set_max_sessions(&mut self, n: usize) {
        self.max_sessions = n;
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.by_tuple.len()
    }

    /// No live session.
    pub fn is_empty(&self) -> bool {
        self.by_tuple.is_empty()
    }

    /// Listeners.
    pub fn listener_count(&self) -> usize {
        self.listen_by.len()
    }

    /// A session by index.
    pub fn session(&self, i: SessionIndex) -> Option<&Session> {
        self.sessions.get(i.0 as usize).and_then(|s| s.as_ref())
    }

    /// A session by tuple.
    pub fn lookup(&self, t: &FiveTuple) -> Option<SessionIndex> {
        self.by_tuple.get(t).map(|&i| SessionIndex(i))
    }

    /// Attaches an app; its sessions' events go to it. Indices are never
    /// reused, so a detached app's lingering sessions (TIME_WAIT) never
    /// reach a newer app.
    pub fn attach(&mut self, app: Box<dyn App>) -> AppIndex {
        self.apps.push(Some(app));
        AppIndex(self.apps.len() as u32 - 1)
    }

    /// Detaches an app: its listeners go, its sessions' further events are
    /// dropped. Returns whether it was attached.
    pub fn detach(&mut self, app: AppIndex) -> bool {
        let eps: Vec<(u8, SocketAddr)> = self
            .listen_by
            .iter()
            .filter(|(_, &l)| self.listeners[l as usize].as_ref().is_some_and(|l| l.app == app))
            .map(|(k, _)| *k)
            .collect();
        for (p, e) in eps {
            self.unlisten(p, e);
        }
        // Its UDP sessions have no peer to end them: they close now.
        self.close_udp_of(app);
        self.apps.get_mut(app.0 as usize).and_then(|a| a.take()).is_some()
    }

    /// The app at `i`, to read its state (downcast by the caller).
    pub fn app(&self, i: AppIndex) -> Option<&dyn App> {
        self.apps.get(i.0 as usize).and_then(|a| a.as_deref())
    }

    /// Listens on `endpoint` for `app`. An unspecified address listens on
    /// every address of its family.
    ///
    /// A UDP listener is a session of its own (in [`SessionTable::sessions`]'
    /// slab, not listed as one) whose fifos carry every peer's datagrams.
    pub fn listen(&mut self, app: AppIndex, proto: u8, endpoint: SocketAddr) -> Result<ListenerIndex, SessionError> {
        if self.app(app).is_none() {
            return Err(SessionError::NoApp(app.0));
        }
        if self.listen_by.contains_key(&(proto, endpoint)) {
            return Err(SessionError::AddressInUse(endpoint));
        }
        let kind = match proto {
            PROTO_UDP => ListenKind::Udp { session: self.udp_listener_session(app, endpoint)? },
            _ => ListenKind::Tcp(Box::new(Listener::new(self.cfg.clone(), MAX_HALF_OPEN))),
        };
        let e = ListenEntry { endpoint, proto, app, kind, next_timeout: None, owned: HashSet::new() };
        let i = match self.listeners.iter().position(|l| l.is_none()) {
            Some(i) => {
                self.listeners[i] = Some(e);
                i
            }
            None => {
                self.listeners.push(Some(e));
                self.listeners.len() - 1
            }
        };
        self.listen_by.insert((proto, endpoint), i as u32);
        Ok(ListenerIndex(i as u32))
    }

    /// Stops listening on `endpoint` (its half-open handshakes are dropped).
    /// A UDP listener's session closes (its app hears Closed).
    pub fn unlisten(&mut self, proto: u8, endpoint: SocketAddr) -> bool {
        let Some(i) = self.listen_by.remove(&(proto, endpoint)) else { return false };
        let Some(l) = self.listeners.get_mut(i as usize).and_then(|l| l.take()) else { return true };
        for t in &l.owned {
            self.disown_half_open(t);
        }
        match l.kind {
            ListenKind::Tcp(l) => add_listen_stats(&mut self.stats.listen, l.stats()),
            ListenKind::Udp { session } => self.close_udp(session),
        }
        true
    }

    /// Forgets the owner record of a handshake a listener here let go of,
    /// unless it became a session here (which keeps the record).
    fn disown_half_open(&self, t: &FiveTuple) {
        if !self.by_tuple.contains_key(t) {
            if let Some(o) = self.owners() {
                o.remove(t, self.thread);
            }
        }
    }

    /// The listener a segment to `local` reaches: exact address first, then
    /// the wildcard of its family.
    fn find_listener(&self, proto: u8, local: SocketAddr) -> Option<u32> {
        self.listen_by
            .get(&(proto, local))
            .or_else(|| self.listen_by.get(&(proto, SocketAddr::new(unspecified(&local.ip()), local.port()))))
            .copied()
    }

    /// An unpredictable initial sequence number (RFC 6528: a clock plus a
    /// keyed hash of the 4-tuple).
    fn iss(&self, now: u64, t: &FiveTuple) -> Seq {
        Seq(((now / 4000) as u32).wrapping_add(self.secret.hash_one(t) as u32))
    }

    /// Puts a session in the slab and (unless `indexed` is false: a UDP
    /// listener, found through its listener) the tuple index.
    fn alloc(&mut self, s: Session, indexed: bool) -> u32 {
        let t = s.tuple;
        let i = match self.free.pop() {
            Some(i) => {
                self.sessions[i as usize] = Some(s);
                i
            }
            None => {
                self.sessions.push(Some(s));
                self.sessions.len() as u32 - 1
            }
        };
        if indexed {
            self.by_tuple.insert(t, i);
            if let Some(o) = self.owners() {
                o.insert(t, self.thread);
            }
        }
        self.stats.sessions_opened += 1;
        i
    }

    fn release(&mut self, i: u32) {
        if let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.take()) {
            if self.by_tuple.get(&s.tuple) == Some(&i) {
                self.by_tuple.remove(&s.tuple);
                if let Some(o) = self.owners() {
                    o.remove(&s.tuple, self.thread);
                }
            }
            match &s.conn {
                TransportConn::Tcp(c) => add_tcp_stats(&mut self.stats.tcp, c.stats()),
                TransportConn::Udp(u) => self.stats.udp.add(u.stats()),
            }
            self.free.push(i);
            self.stats.sessions_closed += 1;
        }
    }

    /// A free local port toward `remote` for `proto`: the next in the
    /// ephemeral range that no session to `remote` (on any thread) and no
    /// listener holds.
    fn ephemeral(&mut self, proto: u8, local_ip: std::net::IpAddr, remote: SocketAddr) -> Option<FiveTuple> {
        let span = (u16::MAX - EPHEMERAL_FIRST) as u32 + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { EPHEMERAL_FIRST } else { port + 1 };
            let t = FiveTuple { local: SocketAddr::new(local_ip, port), remote, proto };
            let free = !self.by_tuple.contains_key(&t)
                && self.find_listener(proto, t.local).is_none()
                && self.owners().is_none_or(|o| o.owner(&t).is_none());
            if free {
                return Some(t);
            }
        }
        None
    }

    /// Opens a connection from `local_ip` (port picked from the ephemeral
    /// range) to `remote` for `app`; the SYN leaves on the next flush.
    pub fn connect(
        &mut self,
        now: u64,
        app: AppIndex,
        local_ip: std::net::IpAddr,
        remote: SocketAddr,
        sw_if_index: u32,
    ) -> Result<SessionIndex, SessionError> {
        if self.app(app).is_none() {
            return Err(SessionError::NoApp(app.0));
        }
        if self.by_tuple.len() >= self.max_sessions {
            self.stats.sessions_refused += 1;
            return Err(SessionError::TooManySessions(self.max_sessions));
        }
        let t = self.ephemeral(PROTO_TCP, local_ip, remote).ok_or(SessionError::NoPort(remote))?;
        let iss = self.iss(now, &t);
        let cfg = tcp::Config { mss: self.mss_toward(remote.ip()), ..self.cfg.clone() };
        let conn = Connection::connect(cfg, t.local.port(), remote.port(), iss)?;
        let i = self.alloc(Session::new(t, TransportConn::Tcp(conn), app, sw_if_index), true);
        self.mark_pending(i);
        Ok(SessionIndex(i))
    }

    fn mark_pending(&mut self, i: u32) {
        if let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) {
            if !s.pending {
                s.pending = true;
                self.pending.push(i);
            }
        }
    }

    /// Hands one verified, parsed TCP segment to the session of `tuple`
    /// (local = its destination), if there is one, and queues the events
    /// it brings for the app. The session's answer waits for
    /// [`SessionTable::flush_delivered`] at the end of the frame, after the
    /// apps ran, so an ACK rides on the data they send back. An ACK due at
    /// once — for every second full-sized segment (RFC 5681 §4.2), or a
    /// duplicate ACK for out-of-order data with the SACK blocks of its
    /// moment — is [`Delivery::FlushNow`]: flush before the next segment.
    /// (One ACK for a whole frame made a Linux sender under 2 % loss take
    /// ~30 % longer in e2e `tcp_loss`.) [`Delivery::NoSession`], with
    /// nothing done, when no session has this tuple: the segment is for a
    /// listener or nobody ([`SessionTable::tcp_input`]).
    pub fn tcp_deliver(&mut self, now: u64, tuple: &FiveTuple, seg: &TcpRepr, payload: Gather<'_>) -> Delivery {
        let Some(&i) = self.by_tuple.get(tuple) else { return Delivery::NoSession };
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else {
            return Delivery::NoSession;
        };
        let mut due = false;
        if let TransportConn::Tcp(c) = &mut s.conn {
            c.handle_segment_gather(now, seg, payload);
            due = c.ack_due();
        }
        if !s.delivered {
            s.delivered = true;
            self.delivered.push(i);
        }
        self.take_events(i);
        if due {
            Delivery::FlushNow
        } else {
            Delivery::Later
        }
    }

    /// Sends what the sessions that took segments since the last call want
    /// to send (see [`SessionTable::tcp_deliver`]).
    pub fn flush_delivered(&mut self, now: u64, sink: &mut dyn SegmentSink) {
        let mut list = std::mem::take(&mut self.delivered);
        for &i in &list {
            if let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) {
                s.delivered = false;
            }
        }
        for &i in &list {
            self.flush(now, i, sink);
        }
        // The list's allocation is kept for the next frame.
        list.clear();
        self.delivered = list;
    }

    /// Handles one verified, parsed TCP segment for `tuple` (local = its
    /// destination) and sends the answer at once. Returns false when
    /// nothing wanted it (the caller answers with a RST: already sent here
    /// through `sink`).
    pub fn tcp_input(
        &mut self,
        now: u64,
        tuple: FiveTuple,
        sw_if_index: u32,
        seg: &TcpRepr,
        payload: &[u8],
        sink: &mut dyn SegmentSink,
    ) -> bool {
        if let Some(&i) = self.by_tuple.get(&tuple) {
            if let Some(TransportConn::Tcp(c)) = self.sessions[i as usize].as_mut().map(|s| &mut s.conn) {
                c.handle_segment(now, seg, payload);
            }
            self.flush(now, i, sink);
            return true;
        }
        let Some(li) = self.find_listener(tuple.proto, tuple.local) else {
            self.reset(&tuple, sw_if_index, seg, payload.len(), sink);
            return false;
        };
        let iss = if seg.flags.syn() { self.iss(now, &tuple) } else { Seq(0) };
        let mss = self.mss_toward(tuple.remote.ip());
        let Some(l) = self.listeners[li as usize].as_mut() else { return false };
        let app = l.app;
        let ListenKind::Tcp(tl) = &mut l.kind else { return false };
        let action = tl.on_segment_mss(now, tuple, seg, payload, iss, mss);
        l.next_timeout = tl.poll_timeout();
        // The owner record of this tuple's handshake follows the listener:
        // made when it queues one (the rest of the handshake must come
        // here, whichever thread it reaches; a SYN cookie keeps no state,
        // any thread can take its ACK), dropped when it lets go of it.
        let owners = self.owners.as_deref().filter(|o| o.active());
        let mut disown = false;
        if let Some(o) = owners {
            if tl.holds(&tuple) {
                if !l.owned.contains(&tuple) {
                    if l.owned.len() >= MAX_HALF_OPEN {
                        sweep_owned(&mut l.owned, tl, &self.by_tuple, o, self.thread);
                    }
                    if l.owned.len() < MAX_HALF_OPEN {
                        l.owned.insert(tuple);
                        o.insert(tuple, self.thread);
                    }
                }
            } else {
                disown = l.owned.remove(&tuple);
            }
        }
        match action {
            ListenAction::None => {}
            ListenAction::Reply(r) => {
                if r.flags.rst() {
                    self.stats.resets_sent += 1;
                }
                sink.segment(&tuple, sw_if_index, &r, (&[], &[]));
            }
            ListenAction::Accept(mut conn) if self.by_tuple.len() >= self.max_sessions => {
                self.stats.sessions_refused += 1;
                conn.abort();
                while let Some(t) = conn.poll_transmit(now) {
                    self.stats.resets_sent += 1;
                    sink.segment(&tuple, sw_if_index, &t.repr, (&[], &[]));
                }
            }
            ListenAction::Accept(conn) => {
                let i = self.alloc(Session::new(tuple, TransportConn::Tcp(*conn), app, sw_if_index), true);
                self.flush(now, i, sink);
            }
        }
        if disown {
            self.disown_half_open(&tuple);
        }
        true
    }

    /// Answers a segment nobody wants with a RST (RFC 9293 §3.10.7.1).
    fn reset(
        &mut self,
        tuple: &FiveTuple,
        sw_if_index: u32,
        seg: &TcpRepr,
        payload_len: usize,
        sink: &mut dyn SegmentSink,
    ) {
        if let Some(r) = tcp::rst_for(seg, payload_len) {
            self.stats.resets_sent += 1;
            sink.segment(tuple, sw_if_index, &r, (&[], &[]));
        }
    }

    /// Sends what session `i` wants to send (as far as the sink has room),
    /// queues its events for the app and re-arms its timer.
    fn flush(&mut self, now: u64, i: u32, sink: &mut dyn SegmentSink) {
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else { return };
        let TransportConn::Tcp(conn) = &mut s.conn else {
            self.flush_udp(i, sink);
            return;
        };
        // New data may leave as super-segments where the way out cuts them
        // (the IP and the longest TCP header come off the packet).
        let ip_hdr = if s.tuple.is_ip6() { 40 } else { 20 };
        conn.set_tso_max(sink.tso_max(&s.tuple).saturating_sub(ip_hdr + 60));
        loop {
            if sink.room() == 0 {
                self.stats.output_deferred += 1;
                if !s.pending {
                    s.pending = true;
                    self.pending.push(i);
                }
                break;
            }
            let Some(t) = conn.poll_transmit(now) else { break };
            if t.repr.flags.rst() {
                self.stats.resets_sent += 1;
            }
            let payload = conn.payload(&t);
            if t.gso_size > 0 {
                sink.segment_gso(&s.tuple, s.sw_if_index, &t.repr, payload, t.gso_size);
            } else {
                sink.segment(&s.tuple, s.sw_if_index, &t.repr, payload);
            }
        }
        self.take_events(i);
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else { return };
        let TransportConn::Tcp(conn) = &mut s.conn else { return };
        if let Some(d) = conn.poll_timeout() {
            if s.timer.is_none_or(|t| d < t) {
                s.timer = Some(d);
                self.timers.push(Reverse((d, i)));
            }
        }
    }

    /// Moves TCP session `i`'s events to the app queue (an Rx event only
    /// when none is waiting there already).
    fn take_events(&mut self, i: u32) {
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else { return };
        let TransportConn::Tcp(conn) = &mut s.conn else { return };
        while let Some(e) = conn.poll_event() {
            match e {
                tcp::Event::Closed => s.closed = true,
                tcp::Event::Rx if s.rx_event => continue,
                tcp::Event::Rx => s.rx_event = true,
                _ => {}
            }
            self.events.push_back((SessionIndex(i), AppEvent::from_tcp(e)));
        }
    }

    /// Delivers queued events to the apps and sends what they wrote.
    pub fn drain_events(&mut self, now: u64, sink: &mut dyn SegmentSink) {
        for _ in 0..MAX_EVENTS_PER_DRAIN {
            let Some((si, ev)) = self.events.pop_front() else { break };
            let i = si.0;
            let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else { continue };
            if ev == AppEvent::Rx {
                s.rx_event = false;
            }
            if let Some(app) = self.apps.get_mut(s.app.0 as usize).and_then(|a| a.as_mut()) {
                let mut h = AppSession {
                    index: si,
                    app: s.app,
                    local: s.tuple.local,
                    remote: s.tuple.remote,
                    conn: &mut s.conn,
                };
                app.on_event(&mut h, ev);
            }
            if ev == AppEvent::Closed {
                self.release(i);
            } else {
                self.flush(now, i, sink);
            }
        }
    }

    /// Runs due timers, listener retransmissions and deferred output, then
    /// the app events all that produced.
    pub fn poll(&mut self, now: u64, sink: &mut dyn SegmentSink) {
        // Due entries are taken first: a timer re-armed at or before `now`
        // waits for the next poll rather than spinning here.
        let mut due = Vec::new();
        while let Some(&Reverse((d, i))) = self.timers.peek() {
            if d > now {
                break;
            }
            self.timers.pop();
            due.push((d, i));
        }
        for (d, i) in due {
            let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else { continue };
            if s.timer != Some(d) {
                continue; // superseded by an earlier deadline
            }
            s.timer = None;
            let TransportConn::Tcp(conn) = &mut s.conn else { continue };
            match conn.poll_timeout() {
                Some(t) if t <= now => {
                    self.stats.timer_expirations += 1;
                    conn.handle_timeout(now);
                }
                _ => {}
            }
            self.flush(now, i, sink);
        }
        for k in 0..self.listeners.len() {
            let Some(l) = self.listeners[k].as_mut() else { continue };
            if l.next_timeout.is_none_or(|t| t > now) {
                continue;
            }
            let ListenKind::Tcp(tl) = &mut l.kind else { continue };
            let expired = tl.stats().expired;
            while sink.room() > 0 {
                let Some((tuple, r)) = tl.poll_transmit(now) else { break };
                sink.segment(&tuple, u32::MAX, &r, (&[], &[]));
            }
            l.next_timeout = tl.poll_timeout();
            // Handshakes it gave up on are forgotten (none became a
            // session: those left the listener at once).
            if tl.stats().expired != expired || l.owned.len() > tl.half_open_len() {
                if let Some(o) = self.owners.as_deref().filter(|o| o.active()) {
                    sweep_owned(&mut l.owned, tl, &self.by_tuple, o, self.thread);
                }
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for &i in &pending {
            if let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) {
                s.pending = false;
            }
        }
        for i in pending {
            self.flush(now, i, sink);
        }
        self.drain_events(now, sink);
    }

    /// Whether [`SessionTable::poll`] has work now (deferred output or
    /// undelivered events), regardless of timers.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || !self.events.is_empty()
    }

    /// The earliest timer deadline (ns).
    pub fn next_deadline(&self) -> Option<u64> {
        let s = self.timers.peek().map(|r| r.0 .0);
        let l = self.listeners.iter().flatten().filter_map(|l| l.next_timeout).min();
        [s, l].into_iter().flatten().min()
    }

    /// Resets every session (`clear session`): TCP's RSTs leave on the
    /// next poll, UDP sessions close (listeners stay). Returns how many.
    pub fn abort_all(&mut self) -> usize {
        let idx: Vec<u32> = self.by_tuple.values().copied().collect();
        for &i in &idx {
            if let Some(s) = self.sessions[i as usize].as_mut() {
                s.conn.abort();
            }
            self.mark_pending(i);
        }
        idx.len()
    }

    /// Resets one session; false when there is none at `i`.
    pub fn abort(&mut self, i: SessionIndex) -> bool {
        let Some(s) = self.sessions.get_mut(i.0 as usize).and_then(|s| s.as_mut()) else { return false };
        if s.conn.udp().is_some_and(|u| u.state() == UdpState::Listening) {
            return false; // a listener goes with its listener
        }
        s.conn.abort();
        self.mark_pending(i.0);
        true
    }

    /// Removes every listener and detaches every app (`session disable`).
    pub fn clear_listeners_and_apps(&mut self) {
        let eps: Vec<(u8, SocketAddr)> = self.listen_by.keys().copied().collect();
        for (p, e) in eps {
            self.unlisten(p, e);
        }
        for a in &mut self.apps {
            *a = None;
        }
    }

    /// The sessions, for `show session` (UDP listeners are listed with
    /// the listeners).
    pub fn sessions(&self, verbose: bool) -> Vec<SessionInfo> {
        let app_name = |s: &Session| self.app(s.app).map_or("-", |a| a.name());
        let mut v: Vec<SessionInfo> = self
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
            .filter(|(_, s)| !s.conn.udp().is_some_and(|u| u.state() == UdpState::Listening))
            .map(|(k, s)| {
                let c = match &s.conn {
                    TransportConn::Tcp(c) => c,
                    TransportConn::Udp(u) => {
                        let detail = if verbose { udp_detail(u, app_name(s)) } else { String::new() };
                        return SessionInfo {
                            index: k as u32,
                            tuple: s.tuple,
                            state: udp_state_name(u.state()),
                            rx_len: u.rx_fifo().len(),
                            tx_len: u.tx_fifo().len(),
                            detail,
                        };
                    }
                };
                let detail = if verbose {
                    let (ws, sack, ts) = c.negotiated();
                    format!(
                        "snd_una {} snd_nxt {} rcv_nxt {} snd_wnd {} cwnd {} ssthresh {} mss {} rto {}ms srtt {} \
                         wscale {} sack {} timestamps {} app {}",
                        c.snd_una().0,
                        c.snd_nxt().0,
                        c.rcv_nxt().0,
                        c.send_window(),
                        c.cwnd(),
                        c.ssthresh(),
                        c.send_mss(),
                        c.rto() / 1_000_000,
                        c.srtt().map_or("-".to_string(), |r| format!("{:.3}ms", r as f64 / 1e6)),
                        ws.map_or("off".to_string(), |(s, r)| format!("{s}/{r}")),
                        if sack { "on" } else { "off" },
                        if ts { "on" } else { "off" },
                        app_name(s),
                    )
                } else {
                    String::new()
                };
                SessionInfo {
                    index: k as u32,
                    tuple: s.tuple,
                    state: super::commands::state_name(c.state()),
                    rx_len: c.rx_fifo().len(),
                    tx_len: c.tx_fifo().len(),
                    detail,
                }
            })
            .collect();
        v.sort_by_key(|s| s.index);
        v
    }

    /// The listeners, for `show session`.
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.listeners
            .iter()
            .enumerate()
            .filter_map(|(k, l)| l.as_ref().map(|l| (k, l)))
            .map(|(k, l)| {
                let app = self.app(l.app).map_or("-", |a| a.name());
                let (half_open, rx_len, tx_len, detail) = match &l.kind {
                    ListenKind::Tcp(tl) => (tl.half_open_len(), 0, 0, String::new()),
                    ListenKind::Udp { session } => match self.session(SessionIndex(*session)).map(|s| &s.conn) {
                        Some(TransportConn::Udp(u)) => (0, u.rx_fifo().len(), u.tx_fifo().len(), udp_detail(u, app)),
                        _ => (0, 0, 0, String::new()),
                    },
                };
                ListenerInfo {
                    index: k as u32,
                    endpoint: l.endpoint,
                    proto: l.proto,
                    app: app.to_string(),
                    half_open,
                    rx_len,
                    tx_len,
                    detail,
                }
            })
            .collect()
    }

    /// Counters: those of freed sessions and removed listeners plus the
    /// live ones.
    pub fn stats(&self) -> TableStats {
        let mut st = self.stats;
        for s in self.sessions.iter().flatten() {
            match &s.conn {
                TransportConn::Tcp(c) => add_tcp_stats(&mut st.tcp, c.stats()),
                TransportConn::Udp(u) => st.udp.add(u.stats()),
            }
        }
        for l in self.listeners.iter().flatten() {
            if let ListenKind::Tcp(tl) = &l.kind {
                add_listen_stats(&mut st.listen, tl.stats());
            }
        }
        st
    }

    /// Zeroes the cumulative counters (live connections keep theirs).
    pub fn clear_stats(&mut self) {
        self.stats = TableStats::default();
    }
}

/// Drops from a listener's `owned` records the handshakes `tl` no longer
/// holds, and their owner records unless they became sessions here.
/// Records are made only for handshakes the listener holds, at most
/// [`MAX_HALF_OPEN`] of them (a record past that is not made), so they
/// stay bounded whatever happens.
fn sweep_owned(
    owned: &mut HashSet<FiveTuple>,
    tl: &Listener<FiveTuple>,
    by_tuple: &HashMap<FiveTuple, u32>,
    o: &Owners,
    thread: usize,
) {
    owned.retain(|t| {
        let keep = tl.holds(t);
        if !keep && !by_tuple.contains_key(t) {
            o.remove(t, thread);
        }
        keep
    });
}

/// VPP's names of UDP session states.
fn udp_state_name(s: UdpState) -> &'static str {
    match s {
        UdpState::Listening => "LISTEN",
        UdpState::Opened => "OPENED",
        UdpState::Closing => "CLOSING",
        UdpState::Closed => "CLOSED",
    }
}

/// `show session verbose`'s line for a UDP session.
fn udp_detail(u: &UdpSession, app: &str) -> String {
    let st = u.stats();
    format!(
        "datagrams in {} out {} bytes in {} out {} rx dropped (fifo full) {} tx refused (fifo full) {} \
         rx fifo {}/{} tx fifo {}/{} app {app}",
        st.dgrams_in,
        st.dgrams_out,
        st.bytes_in,
        st.bytes_out,
        st.rx_dropped,
        st.tx_refused,
        u.rx_fifo().len(),
        u.rx_fifo().size(),
        u.tx_fifo().len(),
        u.tx_fifo().size(),
    )
}

fn add_tcp_stats(a: &mut tcp::Stats, b: &tcp::Stats) {
    a.segs_in += b.segs_in;
    a.segs_out += b.segs_out;
    a.bytes_retransmitted += b.bytes_retransmitted;
    a.retransmits += b.retransmits;
    a.fast_recoveries += b.fast_recoveries;
    a.rto_expiries += b.rto_expiries;
    a.dup_acks += b.dup_acks;
    a.ooo_segments += b.ooo_segments;
    a.out_of_window += b.out_of_window;
    a.paws_drops += b.paws_drops;
    a.challenge_acks += b.challenge_acks;
    a.window_probes += b.window_probes;
    a.pmtu_lowered += b.pmtu_lowered;
}

fn add_listen_stats(a: &mut tcp::ListenerStats, b: &tcp::ListenerStats) {
    a.syns += b.syns;
    a.cookies_sent += b.cookies_sent;
    a.cookies_accepted += b.cookies_accepted;
    a.accepted += b.accepted;
    a.synack_retransmits += b.synack_retransmits;
    a.expired += b.expired;
    a.resets += b.resets;
}
