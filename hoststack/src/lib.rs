//! rvpp's hoststack: session layer, TCP and UDP, built-in apps, and the app
//! API on `@vpp/session`. This crate currently holds only its entry point;
//! the session layer arrives with the hoststack issue.
#![forbid(unsafe_code)]

use rvpp_dataplane::engine::Registrar;

/// Registers the hoststack's nodes and commands (none yet).
pub fn register_all(_r: &mut Registrar) {}
