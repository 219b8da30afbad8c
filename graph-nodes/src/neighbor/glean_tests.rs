use super::*;
use crate::ethernet::sub::SubEntry;
use crate::ip::addr::IfAddrs;
use crate::ip::fib::Adjacency;
use crate::neighbor::nd;
use rvpp_dataplane::interface::{IfFast, IfSnapshot};
use rvpp_dataplane::testing::Harness;

/// Who has 10.0.0.2? Tell 10.0.0.1 — broadcast from interface 1, padded.
static ARP_REQUEST: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, //
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// 2001:db8::1 asks ff02::1:ff00:2 who has 2001:db8::2 (checksum computed
/// outside this code base).
static NS_FRAME: [u8; 86] = [
    0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, //
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87, 0x00, //
    0x1c, 0x27, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, //
    0x00, 0x01,
];

const NET6: u128 = 0x2001_0db8 << 96;

fn adj(kind: AdjKind, ip6: bool, sw: u32, addr: u128, prefix_len: u8) -> Adjacency {
    let mut a = Adjacency::new(kind, ip6, sw, addr);
    a.prefix_len = prefix_len;
    a
}

/// Adjacencies 2.. : glean 10.0.0.0/24 on 1, incomplete 10.0.0.9 on 1,
/// glean 2001:db8::/64 on 1, a rewrite, glean 10.1.0.0/24 on 2, glean
/// 10.2.0.0/24 on 3 (no address), glean 10.3.0.0/24 on 4 (down), glean
/// 10.4.0.0/24 on 5 (QinQ), incomplete 2001:db8::9 on 2.
fn forwarding() -> Published<Forwarding> {
    let mut f = Forwarding::default();
    f.adjs.extend([
        adj(AdjKind::Glean, false, 1, 0x0a00_0000, 24),
        adj(AdjKind::Incomplete, false, 1, 0x0a00_0009, 0),
        adj(AdjKind::Glean, true, 1, NET6, 64),
        adj(AdjKind::Rewrite, false, 1, 0x0a00_0003, 0),
        adj(AdjKind::Glean, false, 2, 0x0a01_0000, 24),
        adj(AdjKind::Glean, false, 3, 0x0a02_0000, 24),
        adj(AdjKind::Glean, false, 4, 0x0a03_0000, 24),
        adj(AdjKind::Glean, false, 5, 0x0a04_0000, 24),
        adj(AdjKind::Incomplete, true, 2, NET6 | 9, 0),
    ]);
    Published::new(f)
}

fn harness<const IP6: bool>() -> Harness {
    let addrs = IfAddrTable::default();
    addrs.store(IfAddrs {
        v4: vec![
            vec![],
            vec![(0x0a00_0001, 24)],
            vec![(0x0a01_0001, 24)],
            vec![],
            vec![(0x0a03_0001, 24)],
            vec![(0x0a04_0001, 24)],
        ],
        v6: vec![vec![], vec![(NET6 | 1, 64)], vec![(NET6 | 1, 64)], vec![], vec![], vec![]],
        ll: vec![0; 6],
    });
    let subs = Subs::default();
    // The QinQ one is dot1ad.
    let sub = |sw, outer, inner: Option<u16>| SubEntry {
        sw_if_index: sw,
        outer: Some(outer),
        inner,
        dot1ad: inner.is_some(),
        exact: true,
        default: false,
    };
    subs.store(SubTable { by_parent: vec![vec![], vec![sub(2, 100, None), sub(5, 200, Some(300))]] });
    let mut h = Harness::new(Box::new(IpGlean::<IP6>::new(forwarding(), addrs, subs)), 6);
    let f = |sup: u32, up: bool| IfFast {
        admin_up: up,
        link_up: true,
        sup_sw_if_index: sup,
        mtu: 9000,
        mac: [2, 0, 0, 0, 0, 1],
        tso_max: 0,
    };
    h.set_interfaces(IfSnapshot { ifs: vec![f(0, true), f(1, true), f(1, true), f(3, true), f(4, false), f(1, true)] });
    h
}

fn ip4_to(dst: [u8; 4]) -> Vec<u8> {
    let mut p = crate::ip::input::tests::ip4(64, 17, 8);
    p[16..20].copy_from_slice(&dst);
    p
}

fn ip6_to(dst: u128) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x60;
    p[5] = 8;
    p[6] = 17;
    p[7] = 64;
    p[24..40].copy_from_slice(&dst.to_be_bytes());
    p
}

fn packet(h: &mut Harness, bytes: &[u8], adj: u32) -> BufferIndex {
    let bi = h.packet(bytes, 7);
    h.vm.bufs.meta_mut(bi).opaque[OPAQUE_ADJ] = adj;
    bi
}

#[test]
fn arp_request_is_sent_once_then_throttled() {
    let mut h = harness::<false>();
    let mut p = [packet(&mut h, &ip4_to([10, 0, 0, 2]), 2), packet(&mut h, &ip4_to([10, 0, 0, 2]), 2)];
    let n = h.run(&mut p);
    assert_eq!(n.iter().map(|&x| h.next_name(x)).collect::<Vec<_>>(), ["error-drop", "error-drop"]);
    let out = h.take_emitted();
    assert_eq!(out.len(), 1);
    assert_eq!(h.next_name(out[0].0), "interface-output");
    assert_eq!(h.bytes(out[0].1), ARP_REQUEST);
    assert_eq!(h.vm.bufs.meta(out[0].1).sw_if_index[TX], 1);
    assert_eq!(h.counter("address resolution required (packet dropped)"), 2);
    assert_eq!(h.counter("ARP requests sent"), 1);
    assert_eq!(h.counter("requests throttled"), 1);
    // Another target is not throttled; the same one is again after a while.
    h.vm.now += 1;
    let mut p = [packet(&mut h, &ip4_to([10, 0, 0, 3]), 2), packet(&mut h, &ip4_to([10, 0, 0, 2]), 2)];
    h.run(&mut p);
    assert_eq!(h.take_emitted().len(), 1);
    h.vm.now += (rvpp_dataplane::arch::tsc_hz() * THROTTLE_MS / 1000.0) as u64 + 1;
    let mut p = [packet(&mut h, &ip4_to([10, 0, 0, 2]), 2)];
    h.run(&mut p);
    assert_eq!(h.take_emitted().len(), 1);
    assert_eq!(h.counter("ARP requests sent"), 3);
}

#[test]
fn incomplete_adjacency_resolves_the_next_hop() {
    let mut h = harness::<false>();
    let mut p = [packet(&mut h, &ip4_to([8, 8, 8, 8]), 3)];
    h.run(&mut p);
    let out = h.take_emitted();
    let d = h.bytes(out[0].1);
    let a = arp::Arp::parse(&d[14..]).unwrap();
    assert_eq!((a.op, a.spa, a.tpa), (arp::OP_REQUEST, 0x0a00_0001, 0x0a00_0009));
}

#[test]
fn requests_on_sub_interfaces_carry_their_tags() {
    let mut h = harness::<false>();
    let mut p = [packet(&mut h, &ip4_to([10, 1, 0, 5]), 6), packet(&mut h, &ip4_to([10, 4, 0, 5]), 9)];
    h.run(&mut p);
    let out = h.take_emitted();
    assert_eq!(out.len(), 2);
    let d = h.bytes(out[0].1);
    assert_eq!(&d[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
    assert_eq!(arp::Arp::parse(&d[18..]).unwrap().tpa, 0x0a01_0005);
    assert_eq!(h.vm.bufs.meta(out[0].1).sw_if_index[TX], 2);
    let d = h.bytes(out[1].1);
    assert_eq!(&d[12..22], &[0x88, 0xa8, 0x00, 200, 0x81, 0x00, 0x01, 0x2c, 0x08, 0x06]);
    assert_eq!(arp::Arp::parse(&d[22..]).unwrap().spa, 0x0a04_0001);
}

#[test]
fn what_cannot_be_resolved_is_counted() {
    let mut h = harness::<false>();
    let mut p = [
        packet(&mut h, &ip4_to([10, 0, 0, 255]), 2),
        packet(&mut h, &ip4_to([10, 0, 0, 0]), 2),
        packet(&mut h, &ip4_to([10, 0, 0, 3]), 5),
        packet(&mut h, &ip4_to([10, 0, 0, 3]), 999),
        packet(&mut h, &ip4_to([10, 2, 0, 3]), 7),
        packet(&mut h, &ip4_to([10, 3, 0, 3]), 8),
        packet(&mut h, &[0x45, 0, 0], 2),
    ];
    h.run(&mut p);
    assert!(h.take_emitted().is_empty());
    assert_eq!(h.counter("destination is the subnet's network or broadcast address"), 2);
    assert_eq!(h.counter("adjacency needs no resolution"), 3);
    assert_eq!(h.counter("no source address for request"), 1);
    assert_eq!(h.counter("interface down"), 1);
    assert_eq!(h.counter("address resolution required (packet dropped)"), 7);
}

#[test]
fn neighbor_solicitation_to_the_solicited_node_group() {
    let mut h = harness::<true>();
    let mut p = [packet(&mut h, &ip6_to(NET6 | 2), 4), packet(&mut h, &ip6_to(NET6 | 2), 4)];
    h.run(&mut p);
    let out = h.take_emitted();
    assert_eq!(out.len(), 1);
    assert_eq!(h.bytes(out[0].1), NS_FRAME);
    assert_eq!(h.counter("neighbor solicitations sent"), 1);
    assert_eq!(h.counter("requests throttled"), 1);
    // An incomplete next hop on a sub-interface.
    let mut p = [packet(&mut h, &ip6_to(0x2002 << 112), 10)];
    h.run(&mut p);
    let out = h.take_emitted();
    let d = h.bytes(out[0].1);
    assert_eq!(&d[..6], &[0x33, 0x33, 0xff, 0, 0, 9]);
    assert_eq!(&d[12..18], &[0x81, 0x00, 0x00, 100, 0x86, 0xdd]);
    let m = nd::NdMsg::parse(&d[18..]).unwrap();
    assert_eq!((m.ty, m.target), (nd::NS, NET6 | 9));
}
