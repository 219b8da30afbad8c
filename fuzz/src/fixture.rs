//! The interfaces every packet target runs with, covering the nodes'
//! branches: L3 interfaces with addresses, a /31, a dot1q and a QinQ
//! sub-interface, a default sub-interface that is down, a cross-connected
//! interface and sub-interface, an interface without addresses.
//!
//! | sw | what                         | mac | ip4          | ip6                          |
//! |----|------------------------------|-----|--------------|------------------------------|
//! | 0  | admin down                   | :00 |              |                              |
//! | 1  | up                           | :01 | 10.0.1.1/24  | 2001:db8:1::1/64, link-local |
//! | 2  | up                           | :02 | 10.0.2.0/31  | 2001:db8:2::1/127            |
//! | 3  | 1 dot1q 100 exact-match      | :01 | 10.0.3.1/24  | 2001:db8:3::1/64, link-local |
//! | 4  | 1 dot1ad 200 inner 300, xc 6 | :01 | 10.0.4.1/24  |                              |
//! | 5  | 2 default, admin down        | :02 | 10.0.5.1/24  |                              |
//! | 6  | up, cross-connected to 2     | :06 |              |                              |
//! | 7  | up, no addresses             | :07 |              |                              |

use rvpp_dataplane::interface::{IfFast, IfSnapshot};
use rvpp_graph_nodes::ethernet::sub::{SubEntry, SubTable, Subs};
use rvpp_graph_nodes::ethernet::{ethertype, EtherTypes};
use rvpp_graph_nodes::ip::addr::{IfAddrTable, IfAddrs};
use rvpp_graph_nodes::ip::link_local;
use rvpp_graph_nodes::l2::{L2Config, L2Table, NONE};

/// Number of interfaces.
pub const NIFS: usize = 8;

/// The source MAC of frames the harness wraps.
pub const PEER_MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

/// (parent, outer, inner) of the sub-interfaces; `None` outer: default.
const SUBS: [(u32, u32, Option<u16>, Option<u16>); 3] =
    [(3, 1, Some(100), None), (4, 1, Some(200), Some(300)), (5, 2, None, None)];

pub fn mac(sw: u32) -> [u8; 6] {
    [2, 0, 0, 0, 0, sup(sw) as u8]
}

/// The parent of a sub-interface, else itself.
pub fn sup(sw: u32) -> u32 {
    SUBS.iter().find(|s| s.0 == sw).map_or(sw, |s| s.1)
}

pub fn interfaces() -> IfSnapshot {
    IfSnapshot {
        ifs: (0..NIFS as u32)
            .map(|sw| IfFast {
                admin_up: !matches!(sw, 0 | 5),
                link_up: true,
                sup_sw_if_index: sup(sw),
                mtu: 9000,
                mac: mac(sw),
                tso_max: 0,
            })
            .collect(),
    }
}

pub fn subs() -> Subs {
    let mut t = SubTable { by_parent: vec![Vec::new(); NIFS] };
    for (sw, parent, outer, inner) in SUBS {
        t.by_parent[parent as usize].push(SubEntry {
            sw_if_index: sw,
            outer,
            inner,
            exact: sw == 3,
            default: outer.is_none(),
            dot1ad: inner.is_some(),
        });
    }
    let s = Subs::default();
    s.store(t);
    s
}

/// The interface `sw` is cross-connected to.
pub fn xconnect(sw: u32) -> Option<u32> {
    match sw {
        6 => Some(2),
        4 => Some(6),
        _ => None,
    }
}

pub fn l2() -> L2Table {
    let c = L2Config { xconnect: (0..NIFS as u32).map(|sw| xconnect(sw).unwrap_or(NONE)).collect() };
    let t = L2Table::default();
    t.store(c);
    t
}

fn ll(sw: u32) -> u128 {
    u128::from(link_local(mac(sw)))
}

pub fn if_addrs() -> IfAddrs {
    let mut a = IfAddrs { v4: vec![Vec::new(); NIFS], v6: vec![Vec::new(); NIFS], ll: vec![0; NIFS] };
    a.v4[1].push((0x0a00_0101, 24));
    a.v4[2].push((0x0a00_0200, 31));
    a.v4[3].push((0x0a00_0301, 24));
    a.v4[4].push((0x0a00_0401, 24));
    a.v4[5].push((0x0a00_0501, 24));
    a.v6[1].push((0x2001_0db8_0001_0000_0000_0000_0000_0001, 64));
    a.v6[2].push((0x2001_0db8_0002_0000_0000_0000_0000_0001, 127));
    a.v6[3].push((0x2001_0db8_0003_0000_0000_0000_0000_0001, 64));
    a.ll[1] = ll(1);
    a.ll[3] = ll(3);
    a
}

pub fn addrs() -> IfAddrTable {
    let t = IfAddrTable::default();
    t.store(if_addrs());
    t
}

/// The ethertypes `ethernet-input` dispatches, as `register_all` sets them.
pub fn ethertypes() -> EtherTypes {
    EtherTypes(vec![(ethertype::IP4, "ip4-input"), (ethertype::IP6, "ip6-input"), (ethertype::ARP, "arp-input")])
}

/// The Ethernet header of a frame carrying `et` received on `sw`: sent by
/// [`PEER_MAC`] to the interface's MAC (or to `dst`), tagged as the
/// sub-interface matches. Returns the header and the interface the frame
/// arrives on (the parent).
pub fn l2_header(sw: u32, et: u16, dst: Option<[u8; 6]>) -> (Vec<u8>, u32) {
    let mut h = Vec::with_capacity(22);
    h.extend_from_slice(&dst.unwrap_or(mac(sw)));
    h.extend_from_slice(&PEER_MAC);
    match SUBS.iter().find(|s| s.0 == sw) {
        Some(&(_, _, Some(o), None)) => h.extend_from_slice(&[0x81, 0x00, (o >> 8) as u8, o as u8]),
        Some(&(_, _, Some(o), Some(i))) => {
            h.extend_from_slice(&[0x88, 0xa8, (o >> 8) as u8, o as u8, 0x81, 0x00, (i >> 8) as u8, i as u8])
        }
        // A default sub-interface gets any tag its parent has no match for.
        Some(_) => h.extend_from_slice(&[0x81, 0x00, 0x0f, 0xff]),
        None => {}
    }
    h.extend_from_slice(&et.to_be_bytes());
    (h, sup(sw))
}
