//! UDP: the wire format ([`wire`]) and the transport side of one UDP
//! session ([`UdpSession`]), with no I/O: the input node hands it
//! datagrams ([`UdpSession::deliver`]), the session layer takes what to
//! send ([`UdpSession::next_transmit`] / [`UdpSession::transmitted`]) and
//! builds packets, the app reads and writes whole datagrams.
//!
//! A session's rx and tx fifos carry datagrams framed by
//! [`crate::fifo::dgram`]: each with a header naming its peer, so one
//! listening session hears many peers and answers each (an unconnected
//! socket), while a connected session (an active open) talks to one.
//! Nothing blocks and nothing grows: a datagram that does not fit the rx
//! fifo is dropped and counted; an app write that does not fit the tx fifo
//! is refused whole and brings a tx-space event once the fifo drained.

pub mod wire;

use std::net::SocketAddr;

use thiserror::Error;

use crate::fifo::dgram::{DgramError, DgramHeader, DgramView};
use crate::fifo::{Fifo, FifoError};

pub use wire::{checksum_parts, UdpError, UdpPacket, HEADER_LEN, PROTO_UDP};

/// The largest UDP payload over IPv4 (65535 - 20 - 8).
pub const MAX_PAYLOAD4: usize = 65_507;
/// The largest UDP payload over IPv6 without jumbograms (65535 - 8).
pub const MAX_PAYLOAD6: usize = 65_527;

/// Why an app's datagram was not queued.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No room in the tx fifo now; a tx-space event follows.
    #[error("the tx fifo is full")]
    Full,
    /// Larger than UDP or the tx fifo can ever carry.
    #[error("a {len}-byte datagram is too big")]
    TooBig {
        /// Payload bytes.
        len: usize,
    },
    /// The session was closed.
    #[error("the session is closed")]
    NotOpen,
    /// The peer's family is not the session's.
    #[error("the peer's address family is not the session's")]
    WrongFamily,
}

/// Where a UDP session is in its short life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpState {
    /// Bound to a local endpoint, hearing every peer (a listener).
    Listening,
    /// Connected to one peer.
    Opened,
    /// The app closed it: what it queued still leaves, then Closed.
    Closing,
    /// Done; the session layer frees it.
    Closed,
}

/// Counters of one UDP session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub dgrams_in: u64,
    pub bytes_in: u64,
    pub dgrams_out: u64,
    pub bytes_out: u64,
    /// Datagrams dropped because the rx fifo was full (or the app closed).
    pub rx_dropped: u64,
    /// App writes refused because the tx fifo was full.
    pub tx_refused: u64,
    /// Tx fifo contents discarded for broken framing (external apps).
    pub tx_malformed: u64,
}

impl UdpStats {
    /// Adds another session's counters.
    pub fn add(&mut self, o: &UdpStats) {
        self.dgrams_in += o.dgrams_in;
        self.bytes_in += o.bytes_in;
        self.dgrams_out += o.dgrams_out;
        self.bytes_out += o.bytes_out;
        self.rx_dropped += o.rx_dropped;
        self.tx_refused += o.tx_refused;
        self.tx_malformed += o.tx_malformed;
    }
}

/// One UDP session's transport state: its two datagram fifos.
#[derive(Debug)]
pub struct UdpSession {
    rx: Fifo,
    tx: Fifo,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    sw_if_index: u32,
    state: UdpState,
    /// A write was refused for room: a tx-space event is owed.
    tx_blocked: bool,
    stats: UdpStats,
}

impl UdpSession {
    fn new(local: SocketAddr, remote: Option<SocketAddr>, sw: u32, rx: u32, tx: u32) -> Result<Self, FifoError> {
        Ok(UdpSession {
            rx: Fifo::new(rx as usize)?,
            tx: Fifo::new(tx as usize)?,
            local,
            remote,
            sw_if_index: sw,
            state: if remote.is_some() { UdpState::Opened } else { UdpState::Listening },
            tx_blocked: false,
            stats: UdpStats::default(),
        })
    }

    /// A session bound to `local` (an unspecified address: every address
    /// of its family) hearing any peer, with fifos of the given sizes.
    pub fn listen(local: SocketAddr, rx_size: u32, tx_size: u32) -> Result<Self, FifoError> {
        Self::new(local, None, u32::MAX, rx_size, tx_size)
    }

    /// A session from `local` to `remote` (reached through `sw_if_index`).
    pub fn connect(
        local: SocketAddr,
        remote: SocketAddr,
        sw_if_index: u32,
        rx_size: u32,
        tx_size: u32,
    ) -> Result<Self, FifoError> {
        Self::new(local, Some(remote), sw_if_index, rx_size, tx_size)
    }

    pub fn state(&self) -> UdpState {
        self.state
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The peer of a connected session.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    pub fn rx_fifo(&self) -> &Fifo {
        &self.rx
    }

    pub fn tx_fifo(&self) -> &Fifo {
        &self.tx
    }

    pub fn stats(&self) -> &UdpStats {
        &self.stats
    }

    fn open(&self) -> bool {
        matches!(self.state, UdpState::Listening | UdpState::Opened)
    }

    // ---- transport side ----

    /// A datagram from `h.peer` to `h.local` with its payload in pieces;
    /// false when it was dropped (rx fifo full, or the app closed).
    pub fn deliver(&mut self, h: &DgramHeader, parts: &[&[u8]]) -> bool {
        if !self.open() || self.rx.enqueue_dgram(h, parts).is_err() {
            self.stats.rx_dropped += 1;
            return false;
        }
        self.stats.dgrams_in += 1;
        self.stats.bytes_in += parts.iter().map(|p| p.len() as u64).sum::<u64>();
        true
    }

    /// The next datagram to send: its header with the addresses resolved
    /// (an unspecified local address becomes the session's, an unknown
    /// interface the session's). Broken framing discards the tx fifo.
    pub fn next_transmit(&mut self) -> Option<DgramHeader> {
        match self.tx.peek_dgram() {
            Ok(Some(mut h)) => {
                if h.local.is_unspecified() {
                    h.local = self.local.ip();
                }
                if h.sw_if_index == u32::MAX {
                    h.sw_if_index = self.sw_if_index;
                }
                Some(h)
            }
            Ok(None) => None,
            Err(_) => {
                self.stats.tx_malformed += 1;
                let _ = self.tx.drop_dgram();
                None
            }
        }
    }

    /// The payload of the datagram [`UdpSession::next_transmit`] returned.
    pub fn tx_payload(&self, h: &DgramHeader) -> (&[u8], &[u8]) {
        self.tx.dgram_payload(h)
    }

    /// The head datagram left (or was dropped on the way, a counted drop
    /// of the packet builder's): it goes from the tx fifo.
    pub fn transmitted(&mut self) {
        if let Ok(Some(h)) = self.tx.drop_dgram() {
            self.stats.dgrams_out += 1;
            self.stats.bytes_out += h.len as u64;
        }
    }

    /// Whether an owed tx-space event is due now (the tx fifo drained to
    /// half); true once per refused write.
    pub fn take_tx_space(&mut self) -> bool {
        if self.tx_blocked && self.tx.free() >= self.tx.size() / 2 {
            self.tx_blocked = false;
            return true;
        }
        false
    }

    /// A closing session whose queued datagrams all left: now Closed.
    /// True when this call closed it.
    pub fn finish_close(&mut self) -> bool {
        if self.state == UdpState::Closing && self.tx.is_empty() {
            self.state = UdpState::Closed;
            return true;
        }
        false
    }

    // ---- application side ----

    /// Queues one datagram to `to` (from `h.local`, unspecified: the
    /// session's address), whole or not at all. A full fifo owes a
    /// tx-space event; a datagram that can never fit is refused at once.
    pub fn app_send(&mut self, h: &DgramHeader, data: &[u8]) -> Result<(), SendError> {
        if !self.open() {
            return Err(SendError::NotOpen);
        }
        if h.peer.is_ipv4() != self.local.is_ipv4() {
            return Err(SendError::WrongFamily);
        }
        let max = if h.peer.is_ipv4() { MAX_PAYLOAD4 } else { MAX_PAYLOAD6 };
        if data.len() > max {
            return Err(SendError::TooBig { len: data.len() });
        }
        match self.tx.enqueue_dgram(h, &[data]) {
            Ok(()) => Ok(()),
            Err(DgramError::Full { .. }) => {
                self.stats.tx_refused += 1;
                self.tx_blocked = true;
                Err(SendError::Full)
            }
            Err(_) => Err(SendError::TooBig { len: data.len() }),
        }
    }

    /// Takes the next received datagram into `out` (cut to its length).
    pub fn app_recv(&mut self, out: &mut [u8]) -> Option<(DgramHeader, usize)> {
        self.rx.dequeue_dgram(out).ok().flatten()
    }

    /// The next received datagram in place.
    pub fn app_peek(&self) -> Option<DgramView<'_>> {
        let h = self.rx.peek_dgram().ok().flatten()?;
        Some((h, self.rx.dgram_payload(&h)))
    }

    /// Drops the next received datagram (after [`UdpSession::app_peek`]).
    pub fn app_drop(&mut self) -> bool {
        matches!(self.rx.drop_dgram(), Ok(Some(_)))
    }

    /// Sends every received datagram back to its source from the address
    /// it came to, as far as the tx fifo takes them; returns the payload
    /// bytes moved. Datagrams left behind owe a tx-space event.
    pub fn app_echo(&mut self) -> u64 {
        if !self.open() {
            return 0;
        }
        let (_, bytes) = self.rx.move_dgrams(&mut self.tx);
        if !self.rx.is_empty() {
            self.tx_blocked = true;
        }
        bytes
    }

    /// Closes: queued datagrams still leave, then the session is Closed.
    pub fn close(&mut self) {
        if self.open() {
            self.state = UdpState::Closing;
        }
    }

    /// Closes at once, dropping what was queued.
    pub fn abort(&mut self) {
        self.tx.drop_head(self.tx.len());
        self.state = UdpState::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str) -> DgramHeader {
        DgramHeader { len: 0, peer: peer.parse().unwrap(), local: "10.0.0.1".parse().unwrap(), sw_if_index: 2 }
    }

    #[test]
    fn a_listener_hears_many_peers_and_echoes_each_back() {
        let mut u = UdpSession::listen("0.0.0.0:53".parse().unwrap(), 4096, 4096).unwrap();
        assert_eq!(u.state(), UdpState::Listening);
        assert!(u.deliver(&from("10.0.0.2:1000"), &[b"one"]));
        assert!(u.deliver(&from("10.0.0.3:2000"), &[b"tw", b"o"]));
        assert_eq!(u.app_echo(), 6);
        let h = u.next_transmit().unwrap();
        assert_eq!((h.peer, h.local, h.sw_if_index), ("10.0.0.2:1000".parse().unwrap(), from("1.1.1.1:1").local, 2));
        assert_eq!(u.tx_payload(&h), (&b"one"[..], &[][..]));
        u.transmitted();
        let h = u.next_transmit().unwrap();
        assert_eq!((h.peer.port(), h.len), (2000, 3));
        u.transmitted();
        assert!(u.next_transmit().is_none());
        assert_eq!((u.stats().dgrams_in, u.stats().dgrams_out, u.stats().bytes_out), (2, 2, 6));
    }

    #[test]
    fn full_rx_drops_and_counts_and_full_tx_refuses_then_owes_tx_space() {
        let mut u =
            UdpSession::connect("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:7".parse().unwrap(), 1, 100, 120).unwrap();
        assert!(u.deliver(&from("10.0.0.2:7"), &[&[1; 50]]));
        assert!(!u.deliver(&from("10.0.0.2:7"), &[&[2; 10]]), "94 of 100 used");
        assert_eq!(u.stats().rx_dropped, 1);
        let mut out = [0u8; 64];
        assert_eq!(u.app_recv(&mut out).map(|(h, n)| (h.len, n)), Some((50, 50)));
        let to = DgramHeader { local: "0.0.0.0".parse().unwrap(), sw_if_index: u32::MAX, ..from("10.0.0.2:7") };
        u.app_send(&to, &[3; 60]).unwrap();
        assert_eq!(u.app_send(&to, &[4; 20]), Err(SendError::Full));
        assert!(!u.take_tx_space(), "nothing left yet");
        let h = u.next_transmit().unwrap();
        assert_eq!(
            (h.local, h.sw_if_index),
            ("10.0.0.1".parse().unwrap(), 1),
            "the session's address and interface fill the blanks"
        );
        u.transmitted();
        assert!(u.take_tx_space());
        assert!(!u.take_tx_space(), "once");
        assert_eq!(u.app_send(&to, &[0; MAX_PAYLOAD4 + 1]), Err(SendError::TooBig { len: MAX_PAYLOAD4 + 1 }));
        assert_eq!(u.app_send(&to, &[0; 200]), Err(SendError::TooBig { len: 200 }), "never fits the fifo");
        let v6 = DgramHeader { peer: "[fd00::2]:7".parse().unwrap(), ..to };
        assert_eq!(u.app_send(&v6, b"x"), Err(SendError::WrongFamily));
    }

    #[test]
    fn close_lets_queued_datagrams_leave_and_abort_drops_them() {
        let mut u = UdpSession::listen("[::]:53".parse().unwrap(), 1024, 1024).unwrap();
        let to = DgramHeader {
            len: 0,
            peer: "[fd00::2]:9".parse().unwrap(),
            local: "fd00::1".parse().unwrap(),
            sw_if_index: 1,
        };
        u.app_send(&to, b"bye").unwrap();
        u.close();
        assert!(!u.deliver(&to, &[b"late"]), "no more rx once closed");
        assert!(!u.finish_close(), "a datagram still queued");
        assert!(u.next_transmit().is_some());
        u.transmitted();
        assert!(u.finish_close());
        assert_eq!(u.state(), UdpState::Closed);

        let mut u = UdpSession::listen("[::]:53".parse().unwrap(), 1024, 1024).unwrap();
        u.app_send(&to, b"never").unwrap();
        u.abort();
        assert_eq!((u.state(), u.tx_fifo().len()), (UdpState::Closed, 0));
        assert_eq!(u.app_send(&to, b"x"), Err(SendError::NotOpen));
    }
}
