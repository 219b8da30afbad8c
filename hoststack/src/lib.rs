//! rvpp's hoststack: session layer, TCP and UDP, built-in apps, and the app
//! API on `@vpp/session`. So far: the byte fifos sessions exchange data
//! through ([`fifo`]) and the TCP protocol engine ([`tcp`]); the session
//! layer and the tcp4-input/tcp-output nodes that drive it come next.
#![forbid(unsafe_code)]

pub mod fifo;
pub mod tcp;

use rvpp_dataplane::engine::Registrar;

/// Registers the hoststack's nodes and commands (none yet).
pub fn register_all(_r: &mut Registrar) {}
