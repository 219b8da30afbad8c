//! rvpp's protocol nodes (VPP's vnet): each module holds its nodes, their
//! CLI commands and their published tables. [`register_all`] wires them into
//! an engine, explicitly, so it works the same in the daemon and in benches.
#![forbid(unsafe_code)]

pub mod ethernet;
pub mod ip;
pub mod l2;
pub mod neighbor;

use rvpp_dataplane::engine::Registrar;

/// Registers every protocol node and command.
pub fn register_all(r: &mut Registrar) {
    l2::register(r);
    ip::register(r);
    neighbor::register(r);
    ethernet::register(r);
}
