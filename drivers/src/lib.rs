//! rvpp's drivers: pg (packet generator), null and loopback devices; real
//! NIC drivers (af_packet, tap, memif, AF_XDP, DPDK with the `dpdk` feature)
//! plug in the same way:
//! a [`rvpp_dataplane::device::Device`] per interface, an input node, and a
//! tx queue per thread.

pub mod af_packet;
pub mod af_xdp;
pub mod discard;
pub mod dpdk;
pub mod memif;
pub mod pg;
pub mod tap;

use rvpp_dataplane::engine::Registrar;

/// Registers every driver's nodes and commands.
pub fn register_all(r: &mut Registrar) {
    pg::register(r);
    discard::register(r);
    af_packet::register(r);
    af_xdp::register(r);
    tap::register(r);
    memif::register(r);
    #[cfg(feature = "dpdk")]
    dpdk::register(r);
}

/// Whether this build has the DPDK driver (cargo feature `dpdk`).
pub const HAS_DPDK: bool = cfg!(feature = "dpdk");

/// A locally administered MAC for the n-th interface a driver makes
/// (`02:fe:<driver>:00:<n>`).
pub fn local_mac(driver_byte: u8, n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0xfe, driver_byte, b[1], b[2], b[3]]
}
