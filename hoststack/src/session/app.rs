//! The application side of a session: the events an app hears and the
//! handle it acts through. Built-in apps implement [`App`]; the same events
//! and fifos are what an external app API would carry over shared memory.

use std::net::SocketAddr;

use super::{AppIndex, SessionIndex};
use crate::tcp::{Connection, Event, State};

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
pub struct AppSession<'a> {
    pub(super) index: SessionIndex,
    pub(super) app: AppIndex,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) conn: &'a mut Connection,
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
    /// Remote address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
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
    /// Reads up to `out.len()` bytes; returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        self.conn.app_read(out)
    }
    /// Moves readable bytes straight to the tx fifo, as many as fit
    /// (an echo); a short move brings [`AppEvent::TxSpace`] like a short
    /// [`Self::write`]. Returns the count.
    pub fn echo(&mut self) -> usize {
        self.conn.app_echo()
    }
    /// Drops `n` bytes from the rx fifo's head (after [`Self::peek`]).
    pub fn consume(&mut self, n: u32) {
        self.conn.app_consume(n)
    }
    /// Queues bytes to send; returns how many fit. A short write (even of
    /// 0 bytes into a full fifo) brings an [`AppEvent::TxSpace`] later, so
    /// an app that has more should always try rather than check
    /// [`Self::tx_free`] first.
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.conn.app_write(data)
    }
    /// Closes our side once queued bytes are sent.
    pub fn close(&mut self) {
        self.conn.close()
    }
    /// Resets the connection now.
    pub fn abort(&mut self) {
        self.conn.abort()
    }
    /// Whether the peer can still send to us.
    pub fn peer_open(&self) -> bool {
        matches!(
            self.conn.state(),
            State::SynReceived | State::SynSent | State::Established | State::FinWait1 | State::FinWait2
        )
    }
}
