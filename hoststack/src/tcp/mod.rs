//! TCP: the wire format, and the protocol engine as a state machine with
//! no I/O (STYLE.md §3) for the session layer and the tcp4-input /
//! tcp-output nodes to drive.
//!
//! - [`wire`]: [`TcpPacket`] view and [`TcpRepr`] parse/emit, checksums.
//! - [`Connection`]: one connection, inputs `handle_segment` /
//!   `handle_timeout` / `app_write` / `close`, outputs `poll_transmit` /
//!   `poll_timeout` / `poll_event`.
//! - [`Listener`]: passive opens with a bounded half-open queue and SYN
//!   cookies beyond it.
//! - [`congestion`]: NewReno and CUBIC; [`rtt`]: RFC 6298 RTO;
//!   [`sack`]: SACK blocks and the RFC 6675 scoreboard; [`seq`]: modular
//!   sequence numbers.

pub mod congestion;
pub mod connection;
pub mod listener;
pub mod rtt;
pub mod sack;
pub mod seq;
pub mod wire;

#[cfg(test)]
mod tests;

pub use congestion::CcAlgo;
pub use connection::{
    rst_for, segments_of, Config, ConnectError, Connection, Event, Keepalive, PmtuOutcome, State, Stats, Transmit,
};
pub use listener::{ListenAction, Listener, ListenerStats};
pub use seq::Seq;
pub use wire::{Flags, SackBlocks, TcpPacket, TcpRepr, WireError};
