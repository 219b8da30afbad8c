//! The session layer: per-worker tables of transport sessions and
//! listeners, and the application side of them.
//!
//! Each worker owns one [`SessionTable`]: sessions keyed by their 5-tuple
//! (a slab of [`Session`]s plus a hashbrown index), listeners on
//! (address, port, protocol) where an unspecified address is the wildcard
//! of its family, and ephemeral ports for active opens. A session owns its
//! transport ([`TransportConn`]: a [`tcp::Connection`] or a
//! [`crate::udp::UdpSession`]); the transport's rx/tx fifos are the
//! session's. UDP fifos carry whole datagrams, each behind a header naming
//! its peer ([`crate::fifo::dgram`]); a UDP listener is a session of its
//! own that hears every peer, and a UDP active open is connected to one.
//! A flow stays on the worker that created it: the one whose `tcp4-input`
//! saw the SYN of a passive open, the one that ran the command of an
//! active open (TCP or connected UDP). With several workers a flow's
//! packets may arrive on another one (several rx queues hashed by the
//! kernel or the NIC): every table records its sessions in one shared
//! [`Owners`] index (tuple → thread), which the input nodes read only when
//! their own table has no session for a packet, and a packet whose
//! session another worker owns is handed to the same input node there
//! ([`rvpp_dataplane::handoff`]; `show errors` counts it per node as
//! "packets handed off to another thread" / "handed in"). A SYN for a
//! listener is taken where it arrives, and the handshake it queues there
//! is recorded in the index too, so the rest of it (a resent SYN, the
//! final ACK) is handed to that worker's listener wherever it arrives; the
//! record goes once the listener has surely given up on it, unless it
//! became a session. (A handshake answered with a SYN cookie, under a SYN
//! flood, keeps no state to record: its final ACK must reach the worker
//! whose listener made the cookie.)
//!
//! Applications never see TCP or UDP: they get [`AppEvent`]s (accepted,
//! connected, rx, tx-space, disconnected, reset, closed) through a
//! per-table queue and act on a session through [`AppSession`] (read,
//! write, close; datagrams with their peers on UDP). Built-in
//! apps implement [`App`] and are called as the queue drains; an external
//! app API would drain the same queue into its shared-memory event queue
//! and reach the same fifos, with nothing here changing.
//!
//! The table does no I/O: segments leave through a [`SegmentSink`] (the
//! graph nodes build packets from them; tests wire two tables together),
//! and time is nanoseconds passed in.

pub mod app;
pub mod commands;
pub mod echo;
mod owners;
mod table;
#[cfg(test)]
mod tests;
pub mod udp_echo;
#[cfg(test)]
mod udp_tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

pub use app::{App, AppEvent, AppSession};
pub use owners::Owners;
pub use table::{
    Delivery, IcmpError, IcmpKind, IcmpOutcome, ListenerInfo, Session, SessionInfo, SessionTable, TableStats,
    TransportConn, UdpDelivery, MIN_PMTU4, MIN_PMTU6,
};

use crate::tcp::TcpRepr;

/// The IP protocol of TCP sessions.
pub const PROTO_TCP: u8 = 6;
/// The IP protocol of UDP sessions.
pub const PROTO_UDP: u8 = 17;

/// First ephemeral port (RFC 6335 dynamic range).
pub const EPHEMERAL_FIRST: u16 = 49152;

/// A session's slot in its worker's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionIndex(pub u32);

/// An application attached to a worker's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppIndex(pub u32);

/// A listener's slot in its worker's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerIndex(pub u32);

/// A session's 5-tuple, local side first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub proto: u8,
}

impl FiveTuple {
    /// A TCP tuple.
    pub fn tcp(local: SocketAddr, remote: SocketAddr) -> Self {
        FiveTuple { local, remote, proto: PROTO_TCP }
    }

    /// A UDP tuple.
    pub fn udp(local: SocketAddr, remote: SocketAddr) -> Self {
        FiveTuple { local, remote, proto: PROTO_UDP }
    }

    /// Whether the tuple is IPv6.
    pub fn is_ip6(&self) -> bool {
        self.local.is_ipv6()
    }
}

/// Transport protocols a URI can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// The IP protocol number.
    pub fn proto(self) -> u8 {
        match self {
            Transport::Tcp => PROTO_TCP,
            Transport::Udp => PROTO_UDP,
        }
    }
    /// The letter `show session` prints (`[T]`, `[U]`).
    pub fn letter(proto: u8) -> char {
        match proto {
            PROTO_TCP => 'T',
            PROTO_UDP => 'U',
            _ => '?',
        }
    }
}

/// A parsed `tcp://<addr>/<port>` or `udp://<addr>/<port>` (VPP's session
/// URI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri {
    pub transport: Transport,
    pub endpoint: SocketAddr,
}

/// Session-layer errors (control plane).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SessionError {
    /// Not `proto://addr/port`.
    #[error("'{uri}' is not a session uri: {why}")]
    BadUri { uri: String, why: &'static str },
    /// The transport is not one rvpp has.
    #[error("transport '{0}' is not supported (tcp, udp)")]
    UnknownTransport(String),
    /// Someone listens there already.
    #[error("{0} is already listened on")]
    AddressInUse(SocketAddr),
    /// No ephemeral port left toward this peer.
    #[error("no free ephemeral port toward {0}")]
    NoPort(SocketAddr),
    /// The table holds its maximum of sessions.
    #[error("the session table is full ({0} sessions)")]
    TooManySessions(usize),
    /// The app index does not name an attached app.
    #[error("no application {0}")]
    NoApp(u32),
    /// The transport refused the parameters.
    #[error("cannot open a connection: {0}")]
    Connect(#[from] crate::tcp::ConnectError),
    /// A session's fifos could not be made (their configured size).
    #[error("cannot make the session's fifos: {0}")]
    Fifo(#[from] crate::fifo::FifoError),
    /// The session layer is disabled (`session enable`).
    #[error("session layer is disabled (use 'session enable')")]
    Disabled,
}

impl Uri {
    /// Parses `tcp://0.0.0.0/80`, `tcp://10.0.0.1/7777`, `tcp://::/80`,
    /// `tcp://[fd00::1]/80`, `udp://0.0.0.0/53`, `udp://[::]/53`.
    pub fn parse(s: &str) -> Result<Uri, SessionError> {
        let bad = |why| SessionError::BadUri { uri: s.to_string(), why };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("expected '<proto>://'"))?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            other => return Err(SessionError::UnknownTransport(other.to_string())),
        };
        let (addr, port) = rest.rsplit_once('/').ok_or_else(|| bad("expected '<addr>/<port>'"))?;
        let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
        let ip: IpAddr = addr.parse().map_err(|_| bad("the address is not an IPv4 or IPv6 address"))?;
        let port: u16 = port.parse().map_err(|_| bad("the port is not a number in 0..=65535"))?;
        Ok(Uri { transport, endpoint: SocketAddr::new(ip, port) })
    }
}

/// The wildcard address of `ip`'s family.
pub fn unspecified(ip: &IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The MTU of the interface the route toward an address leaves by (the
/// graph nodes look it up in the FIB), which caps the MSS of the
/// connections with that address.
pub trait RouteMtu: Send + Sync {
    /// The L3 MTU toward `dst`; None without a route.
    fn mtu(&self, dst: IpAddr) -> Option<u16>;
}

/// Where a table's segments and datagrams go: the graph nodes build and
/// send a packet, tests hand it to another table.
pub trait SegmentSink {
    /// Segments this sink can still take now; a table stops and resumes
    /// a session's output later (its next flush) when this reaches 0.
    fn room(&self) -> usize;
    /// Sends one segment of `tuple` (local → remote) with `payload` given as
    /// one or two slices. `sw_if_index` is the interface the flow came in
    /// on. Failures (no buffer) are the sink's counted drops.
    fn segment(&mut self, tuple: &FiveTuple, sw_if_index: u32, repr: &TcpRepr, payload: (&[u8], &[u8]));
    /// The largest IP packet of one TCP segment toward `tuple`'s remote end
    /// that the way out cuts into segments itself (segmentation offload:
    /// [`SegmentSink::segment_gso`]); 0, the default, when it takes none.
    fn tso_max(&self, tuple: &FiveTuple) -> u32 {
        let _ = tuple;
        0
    }
    /// Sends a super-segment: `repr` and `payload` stand for segments of
    /// `gso_size` payload bytes each, as [`crate::tcp::segments_of`] cuts
    /// them. The default cuts it here and sends each piece with
    /// [`SegmentSink::segment`].
    fn segment_gso(
        &mut self,
        tuple: &FiveTuple,
        sw_if_index: u32,
        repr: &TcpRepr,
        payload: (&[u8], &[u8]),
        gso_size: u32,
    ) {
        let parts = [payload.0, payload.1];
        let all = crate::fifo::Gather::new(&parts);
        for (r, off, len) in crate::tcp::segments_of(*repr, all.len() as u32, gso_size) {
            let piece = all.skip(off as usize).take(len as usize);
            let mut it = piece.chunks();
            let (a, b) = (it.next().unwrap_or(&[]), it.next().unwrap_or(&[]));
            self.segment(tuple, sw_if_index, &r, (a, b));
        }
    }
    /// Sends one UDP datagram of `tuple` (local → remote) with `payload`
    /// given as one or two slices; `sw_if_index` is the interface the peer
    /// was heard on (`u32::MAX`: unknown). Failures (no buffer, bigger than
    /// the path allows, no source address) are the sink's counted drops.
    fn datagram(&mut self, tuple: &FiveTuple, sw_if_index: u32, payload: (&[u8], &[u8]));
}
