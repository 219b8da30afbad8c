//! Ethernet: header view, the ethertype dispatch table and `ethernet-input`.

pub mod input;
pub mod sub;

use rvpp_dataplane::engine::Registrar;

pub use input::EthernetInput;

/// Ethertypes.
pub mod ethertype {
    pub const IP4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const DOT1AD: u16 = 0x88a8;
    pub const IP6: u16 = 0x86dd;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;

/// Which node receives each ethertype (VPP's
/// `ethernet_register_input_type`): protocol modules add themselves here
/// before the graph is built.
#[derive(Default, Clone)]
pub struct EtherTypes(pub Vec<(u16, &'static str)>);

impl EtherTypes {
    /// Registers `node` as the receiver of `ethertype`.
    pub fn add(r: &mut Registrar, ethertype: u16, node: &'static str) {
        let t = r.ext.get_or_default::<EtherTypes>();
        t.0.retain(|x| x.0 != ethertype);
        t.0.push((ethertype, node));
    }
}

/// Formats a MAC address.
pub fn format_mac(m: &[u8]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A short name for an ethertype, as VPP's trace prints it.
pub fn ethertype_name(t: u16) -> String {
    match t {
        ethertype::IP4 => "IP4".into(),
        ethertype::IP6 => "IP6".into(),
        ethertype::ARP => "ARP".into(),
        ethertype::VLAN => "VLAN".into(),
        ethertype::DOT1AD => "DOT1AD".into(),
        x => format!("0x{x:04x}"),
    }
}

pub fn register(r: &mut Registrar) {
    sub::register(r);
    input::register(r);
}
