//! rvpp's protocol nodes (VPP's vnet): each module holds its nodes, their
//! CLI commands and their published tables. [`register_all`] wires them into
//! an engine, explicitly, so it works the same in the daemon and in benches.
#![forbid(unsafe_code)]

pub mod ethernet;
pub mod ip;
pub mod l2;

use rvpp_dataplane::engine::Registrar;

/// Registers every protocol node and command.
pub fn register_all(r: &mut Registrar) {
    l2::register(r);
    // ip::register(r) is wired in once the neighbor nodes (ip4-glean,
    // ip6-nd) it names exist.
    ethernet::register(r);
}
