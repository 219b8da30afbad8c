//! The application side of a session: the events an app hears and the
//! handle it acts through, over TCP and UDP alike. Built-in apps implement
//! [`App`]; the same events and fifos (UDP's framed as
//! [`crate::fifo::dgram`] lays out) are what an external app API would
//! carry over shared memory.

use std::net::SocketAddr;

use super::{AppIndex, SessionIndex, TransportConn};
use crate::fifo::dgram::{DgramHeader, DgramView};
use crate::tcp::{Event, State};
use crate::udp::{SendError, UdpState};

/// What an app hears about one of its sessions, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEvent {
    /// A listener's handshake completed: a new session.
    Accepted,
    /// An active open completed.
    Connected,
    /// New bytes in the session's rx fifo.
    Rx,
    /// Room freed in the tx fifo after a short write.
    TxSpace,
    /// The peer closed its side: no more bytes will arrive.
    Disconnected,
    /// The peer reset the connection, or it timed out.
    Reset,
    /// The session is finished and about to be freed (always last).
    Closed,
}

impl AppEvent {
    /// The session event a transport event becomes.
    pub fn from_tcp(e: Event) -> AppEvent {
        match e {
            Event::Connected => AppEvent::Connected,
            Event::Accepted => AppEvent::Accepted,
            Event::Rx => AppEvent::Rx,
            Event::TxSpace => AppEvent::TxSpace,
            Event::PeerClosed => AppEvent::Disconnected,
            Event::Reset | Event::TimedOut => AppEvent::Reset,
            Event::Closed => AppEvent::Closed,
        }
    }
}

/// An application attached to a worker's session table. Called on the
/// worker's thread as events drain; it must not block.
pub trait App: Send {
    /// The name `show session verbose` and `show app` print.
    fn name(&self) -> &str;
    /// One event for one of the app's sessions.
    fn on_event(&mut self, s: &mut AppSession<'_>, event: AppEvent);
}

/// What an app may do with one session while handling its event.
///
/// On a TCP session the byte-stream calls (`read`, `write`, `peek`,
/// `consume`, `echo`) move bytes. On a UDP session each call moves whole
/// datagrams: `read` takes the next one's payload (cut to the buffer, as
/// `recv` does), `write` sends one to the connected peer, `echo` answers
/// every received datagram to its source; [`AppSession::recv_from`],
/// [`AppSession::send_to`] and [`AppSession::reply`] name peers, as a
/// listener that hears many needs. `peek`/`consume` and `rx_len` see a UDP
/// fifo's raw framing ([`crate::fifo::dgram`]), which is what an external
/// app reading the shared fifo sees.
pub struct AppSession<'a> {
    pub(super) index: SessionIndex,
    pub(super) app: AppIndex,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) conn: &'a mut TransportConn,
}

impl AppSession<'_> {
    /// The session's index in its worker's table.
    pub fn index(&self) -> SessionIndex {
        self.index
    }
    /// The app the session belongs to.
    pub fn app(&self) -> AppIndex {
        self.app
    }
    /// Local address and port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }
    /// Remote address and port (the unspecified address, port 0, for a
    /// UDP listener).
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }
    /// Whether this is a UDP session.
    pub fn is_udp(&self) -> bool {
        self.conn.udp().is_some()
    }
    /// Bytes waiting in the rx fifo.
    pub fn rx_len(&self) -> u32 {
        self.conn.rx_fifo().len()
    }
    /// Room in the tx fifo.
    pub fn tx_free(&self) -> u32 {
        self.conn.tx_fifo().free()
    }
    /// The readable bytes as one or two slices (consume with [`Self::consume`]).
    pub fn peek(&self) -> (&[u8], &[u8]) {
        let f = self.conn.rx_fifo();
        f.peek_slices(0, f.len())
    }
    /// Copies up to `out.len()` readable bytes without consuming them.
    pub fn peek_into(&self, out: &mut [u8]) -> usize {
        self.conn.rx_fifo().peek(0, out)
    }
    /// TCP: reads up to `out.len()` bytes. UDP: takes the next datagram's
    /// payload, cut to `out` (the rest is dropped). Returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        match self.conn {
            TransportConn::Tcp(c) => c.app_read(out),
            TransportConn::Udp(u) => u.app_recv(out).map_or(0, |(_, n)| n),
        }
    }
    /// TCP: moves readable bytes straight to the tx fifo, as many as fit.
    /// UDP: sends every received datagram back to its source, as many as
    /// fit. A short move brings [`AppEvent::TxSpace`] like a short
    /// [`Self::write`]. Returns the (payload) bytes moved.
    pub fn echo(&mut self) -> usize {
        match self.conn {
            TransportConn::Tcp(c) => c.app_echo(),
            TransportConn::Udp(u) => u.app_echo() as usize,
        }
    }
    /// Drops `n` bytes from the rx fifo's head (after [`Self::peek`]);
    /// on UDP, whole datagrams only: use [`Self::recv_from`] or
    /// [`Self::peek_dgram`] / [`Self::drop_dgram`].
    pub fn consume(&mut self, n: u32) {
        if let TransportConn::Tcp(c) = self.conn {
            c.app_consume(n)
        }
    }
    /// TCP: queues bytes to send; returns how many fit. UDP: queues one
    /// datagram to the connected peer, all of `data` or nothing. A short
    /// write (even of 0 bytes into a full fifo) brings an
    /// [`AppEvent::TxSpace`] later, so an app that has more should always
    /// try rather than check [`Self::tx_free`] first.
    pub fn write(&mut self, data: &[u8]) -> usize {
        match self.conn {
            TransportConn::Tcp(c) => c.app_write(data),
            TransportConn::Udp(u) => match u.remote() {
                Some(to) => {
                    let h = DgramHeader { len: 0, peer: to, local: u.local().ip(), sw_if_index: u32::MAX };
                    u.app_send(&h, data).map_or(0, |()| data.len())
                }
                None => 0,
            },
        }
    }
    /// UDP: takes the next datagram: its header (the peer, the address it
    /// was sent to, its full length) and its payload cut to `out`.
    pub fn recv_from(&mut self, out: &mut [u8]) -> Option<(DgramHeader, usize)> {
        match self.conn {
            TransportConn::Udp(u) => u.app_recv(out),
            TransportConn::Tcp(_) => None,
        }
    }
    /// UDP: the next datagram in place (drop it with [`Self::drop_dgram`]).
    pub fn peek_dgram(&self) -> Option<DgramView<'_>> {
        self.conn.udp().and_then(|u| u.app_peek())
    }
    /// UDP: drops the next datagram; false when there is none.
    pub fn drop_dgram(&mut self) -> bool {
        match self.conn {
            TransportConn::Udp(u) => u.app_drop(),
            TransportConn::Tcp(_) => false,
        }
    }
    /// UDP: queues one datagram to `to` from the session's address.
    pub fn send_to(&mut self, to: SocketAddr, data: &[u8]) -> Result<(), SendError> {
        let h = DgramHeader { len: 0, peer: to, local: self.local.ip(), sw_if_index: u32::MAX };
        self.send_dgram(&h, data)
    }
    /// UDP: answers the datagram whose header is `rx` (from the address
    /// it was sent to, through the interface it came in on).
    pub fn reply(&mut self, rx: &DgramHeader, data: &[u8]) -> Result<(), SendError> {
        self.send_dgram(rx, data)
    }
    fn send_dgram(&mut self, h: &DgramHeader, data: &[u8]) -> Result<(), SendError> {
        match self.conn {
            TransportConn::Udp(u) => u.app_send(h, data),
            TransportConn::Tcp(_) => Err(SendError::NotOpen),
        }
    }
    /// TCP: closes our side once queued bytes are sent. UDP: queued
    /// datagrams leave, then the session is freed.
    pub fn close(&mut self) {
        match self.conn {
            TransportConn::Tcp(c) => c.close(),
            TransportConn::Udp(u) => u.close(),
        }
    }
    /// Resets the connection now (UDP: drops queued datagrams and closes).
    pub fn abort(&mut self) {
        self.conn.abort()
    }
    /// Whether the peer can still send to us.
    pub fn peer_open(&self) -> bool {
        match &*self.conn {
            TransportConn::Tcp(c) => matches!(
                c.state(),
                State::SynReceived | State::SynSent | State::Established | State::FinWait1 | State::FinWait2
            ),
            TransportConn::Udp(u) => matches!(u.state(), UdpState::Listening | UdpState::Opened),
        }
    }
}
