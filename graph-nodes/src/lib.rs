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
    r.ext.get_or_default::<rvpp_dataplane::engine::InterfaceDeleteHooks>().0.push(interface_deleted);
    r.ext.get_or_default::<rvpp_dataplane::engine::InterfaceAnnounceHooks>().0.push(neighbor::announce);
    l2::register(r);
    ip::register(r);
    neighbor::register(r);
    ethernet::register(r);
}

/// A deleted interface leaves nothing behind: its addresses and their
/// routes, routes and neighbors through it, its cross-connects.
fn interface_deleted(e: &mut rvpp_dataplane::engine::Engine, sw: rvpp_dataplane::SwIfIndex) {
    ip::addr::forget_interface(e, sw);
    neighbor::forget_interface(e, sw);
    {
        let rvpp_dataplane::engine::Engine { ext, interfaces, .. } = e;
        ip::fib::fib(ext).forget_interface(interfaces, sw.0);
    }
    l2::forget_interface(e, sw);
}
