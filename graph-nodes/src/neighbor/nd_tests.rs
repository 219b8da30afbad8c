use super::*;
use crate::ethernet::sub::Subs;
use crate::ip::addr::{IfAddrTable, IfAddrs};
use crate::neighbor::tests::received;
use crate::neighbor::NeighborPub;
use rvpp_dataplane::buffer::TX;
use rvpp_dataplane::testing::Harness;

/// fe80::211:22ff:fe33:4455 (00:11:22:33:44:55) asks ff02::1:ff00:1 who
/// has 2001:db8::1, with its link-layer address. Checksums computed
/// outside this code base.
static NS_FRAME: [u8; 86] = [
    0x33, 0x33, 0xff, 0x00, 0x00, 0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x86, 0xdd, //
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, 0xff, 0x02, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01, 0x87, 0x00, //
    0x7f, 0x30, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0x11, 0x22, 0x33, //
    0x44, 0x55,
];

/// The answer: 2001:db8::1 is at 02:00:00:00:00:01 (router, solicited,
/// override), unicast back to the asker.
static NA_FRAME: [u8; 86] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, //
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0x80, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, 0x88, 0x00, //
    0xd2, 0x13, 0xe0, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, //
    0x00, 0x01,
];

const HOST_MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const HOST_LL: u128 = 0xfe80_0000_0000_0000_0211_22ff_fe33_4455;
const OURS: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
const OUR_LL: u128 = 0xfe80_0000_0000_0000_0000_00ff_fe00_0001;

/// Interface 1: 2001:db8::1/64 and a link-local address.
fn harness() -> Harness {
    let addrs = IfAddrTable::default();
    addrs.store(IfAddrs { v4: vec![vec![]; 3], v6: vec![vec![], vec![(OURS, 64)], vec![]], ll: vec![0, OUR_LL, 0] });
    Harness::new(Box::new(Ip6Nd::new(addrs, Subs::default(), NeighborPub::default())), 3)
}

/// An IPv6 packet carrying `icmp`, its checksum filled in.
fn ip6(src: u128, dst: u128, hop: u8, icmp: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto::ICMP6, hop]);
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(icmp);
    if icmp.len() >= 4 {
        p[42] = 0;
        p[43] = 0;
        let ck = checksum::l4(
            checksum::pseudo6(&src.to_be_bytes(), &dst.to_be_bytes(), proto::ICMP6, icmp.len() as u32),
            &p[40..],
        );
        p[42..44].copy_from_slice(&ck.to_be_bytes());
    }
    p
}

/// An NS or NA body: type, flags word, target, then raw options.
fn body(ty: u8, word: u32, target: u128, opts: &[u8]) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0];
    b.extend_from_slice(&word.to_be_bytes());
    b.extend_from_slice(&target.to_be_bytes());
    b.extend_from_slice(opts);
    b
}

fn ll_opt(ty: u8, mac: [u8; 6]) -> Vec<u8> {
    let mut o = vec![ty, 1];
    o.extend_from_slice(&mac);
    o
}

fn eth(dst: [u8; 6], p: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(p);
    f
}

fn icmp_ok(d: &[u8]) -> bool {
    let s: [u8; 16] = d[8..24].try_into().unwrap();
    let t: [u8; 16] = d[24..40].try_into().unwrap();
    let plen = u16::from_be_bytes([d[4], d[5]]) as u32;
    checksum::fold(checksum::sum(&d[40..], checksum::pseudo6(&s, &t, proto::ICMP6, plen))) == 0xffff
}

#[test]
fn solicitation_for_our_address_is_answered_in_place() {
    let mut h = harness();
    let bi = received(&mut h, &NS_FRAME, 1, 14);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "interface-output");
    assert_eq!(h.bytes(bi), NA_FRAME);
    assert!(icmp_ok(&h.bytes(bi)[14..]));
    assert_eq!(h.vm.bufs.meta(bi).sw_if_index[TX], 1);
    assert_eq!(h.counter("neighbor advertisements sent"), 1);
    assert_eq!(h.counter("neighbor solicitation source learned"), 1);
}

#[test]
fn solicitation_for_our_link_local_and_without_option() {
    let mut h = harness();
    // Unicast NUD probe without a source link-layer option: the answer
    // goes back to the frame's source MAC.
    let p = ip6(HOST_LL, OUR_LL, 255, &body(NS, 0, OUR_LL, &[]));
    let bi = received(&mut h, &eth([2, 0, 0, 0, 0, 1], &p), 1, 14);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "interface-output");
    let d = h.bytes(bi);
    assert_eq!(d.len(), 14 + MSG_LEN);
    assert_eq!(&d[..12], &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 2, 0, 0, 0, 0, 1]);
    let m = NdMsg::parse(&d[14..]).unwrap();
    assert_eq!((m.ty, m.src, m.dst, m.target), (NA, OUR_LL, HOST_LL, OUR_LL));
    assert_eq!(m.flags, FLAG_ROUTER | FLAG_SOLICITED | FLAG_OVERRIDE);
    assert_eq!(m.target_ll, Some([2, 0, 0, 0, 0, 1]));
    assert_eq!(h.counter("neighbor solicitation source learned"), 0);
    // Without the received header nor an option, there is nowhere to answer.
    let bi = h.packet(&p, 1);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "error-drop");
    assert_eq!(h.counter("no link-layer address or room for advertisement"), 1);
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes() {
    let mut h = harness();
    let p = ip6(0, solicited_node(OURS), 255, &body(NS, 0, OURS, &[]));
    let bi = received(&mut h, &eth([0x33, 0x33, 0xff, 0, 0, 1], &p), 1, 14);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "interface-output");
    let d = h.bytes(bi);
    assert_eq!(&d[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert!(icmp_ok(&d[14..]));
    let m = NdMsg::parse(&d[14..]).unwrap();
    assert_eq!((m.src, m.dst, m.target), (OURS, ALL_NODES, OURS));
    assert_eq!(m.flags, FLAG_ROUTER | FLAG_OVERRIDE, "not solicited");
}

#[test]
fn advertisements_are_learned() {
    let mut h = harness();
    let host = OURS + 1;
    let na = |target: u128, opts: &[u8]| ip6(HOST_LL, OUR_LL, 255, &body(NA, FLAG_SOLICITED, target, opts));
    let cases = [
        (na(host, &ll_opt(2, HOST_MAC)), "neighbor advertisement target learned"),
        (na(HOST_LL, &ll_opt(2, HOST_MAC)), "neighbor advertisement target learned"),
        (na(0x2001_0db9 << 96 | 5, &ll_opt(2, HOST_MAC)), "neighbor advertisement target not on link"),
        (na(OURS, &ll_opt(2, HOST_MAC)), "neighbor advertisement for an address of ours (duplicate)"),
    ];
    for (p, counter) in cases {
        let before = h.counter(counter);
        let bi = h.packet(&p, 1);
        let n = h.run(&mut [bi]);
        assert_eq!(h.next_name(n[0]), "error-drop");
        assert_eq!(h.counter(counter), before + 1, "{counter}");
    }
    // Without a target link-layer option: received, nothing to learn.
    let bi = h.packet(&na(host, &[]), 1);
    h.run(&mut [bi]);
    assert_eq!(h.counter("neighbor advertisements received"), 5);
    assert_eq!(h.counter("neighbor advertisement target learned"), 2);
    // The same from the target itself, frame header intact (Linux answering
    // a unicast probe): its frame's source refreshes the entry.
    let p = ip6(host, OURS, 255, &body(NA, FLAG_SOLICITED, host, &[]));
    let bi = received(&mut h, &eth([2, 0, 0, 0, 0, 1], &p), 1, 14);
    h.run(&mut [bi]);
    assert_eq!(h.counter("neighbor advertisement target learned"), 3);
}

#[test]
fn solicitations_not_for_us_or_from_off_link() {
    let mut h = harness();
    let cases = [
        (
            ip6(HOST_LL, solicited_node(OURS + 7), 255, &body(NS, 0, OURS + 7, &[])),
            "neighbor solicitations for unknown targets",
        ),
        (
            ip6(0x2001_0db9 << 96 | 5, OURS, 255, &body(NS, 0, OURS, &[])),
            "neighbor solicitations from source not on link",
        ),
        (
            ip6(HOST_LL, 0xff02 << 112 | 2, 255, &[133, 0, 0, 0, 0, 0, 0, 0]),
            "router solicitations received (not answered)",
        ),
        (
            ip6(HOST_LL, 0xff02 << 112 | 1, 255, &[134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "router advertisements received (ignored)",
        ),
        (
            ip6(OURS + 5, 0xff02 << 112 | 1, 255, &[134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            "router advertisement source not link local",
        ),
    ];
    for (p, counter) in cases {
        let bi = h.packet(&p, 1);
        let n = h.run(&mut [bi]);
        assert_eq!(h.next_name(n[0]), "error-drop", "{counter}");
        assert_eq!(h.counter(counter), 1, "{counter}");
    }
}

#[test]
fn invalid_messages_are_counted_drops() {
    let mut h = harness();
    let ns = |opts: &[u8]| body(NS, 0, OURS, opts);
    let mut bad_ck = ip6(HOST_LL, OURS, 255, &ns(&[]));
    bad_ck[50] ^= 1;
    let mut odd_tail = ns(&ll_opt(1, HOST_MAC));
    odd_tail.push(1);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (ip6(HOST_LL, OURS, 254, &ns(&[])), "hop limit != 255"),
        (
            ip6(HOST_LL, OURS, 255, &{
                let mut b = ns(&[]);
                b[1] = 1;
                b
            }),
            "ICMP6 code != 0",
        ),
        (bad_ck, "ICMP6 checksum error"),
        (ip6(HOST_LL, OURS, 255, &ns(&[])[..20]), "neighbor discovery message too short"),
        (ip6(HOST_LL, OURS, 255, &ns(&[1, 0, 0, 0, 0, 0, 0, 0])), "option with zero length"),
        (ip6(HOST_LL, OURS, 255, &ns(&[1, 2, 0, 0, 0, 0, 0, 0])), "option truncated"),
        (ip6(HOST_LL, OURS, 255, &odd_tail), "option truncated"),
        (ip6(HOST_LL, OURS, 255, &body(NS, 0, ALL_NODES, &[])), "target address is multicast"),
        (
            ip6(0, OURS, 255, &ns(&[])),
            "DAD solicitation not to a solicited-node group or with source link-layer option",
        ),
        (
            ip6(0, solicited_node(OURS), 255, &ns(&ll_opt(1, HOST_MAC))),
            "DAD solicitation not to a solicited-node group or with source link-layer option",
        ),
        (
            ip6(HOST_LL, ALL_NODES, 255, &body(NA, FLAG_SOLICITED, OURS + 1, &[])),
            "solicited advertisement to a multicast address",
        ),
        (ip6(HOST_LL, OURS, 255, &[128, 0, 0, 0, 0, 0, 0, 0]), "not an ICMP6 neighbor discovery message"),
    ];
    for (p, counter) in cases {
        let before = h.counter(counter);
        let bi = h.packet(&p, 1);
        let n = h.run(&mut [bi]);
        assert_eq!(h.next_name(n[0]), "error-drop", "{counter}");
        assert_eq!(h.counter(counter), before + 1, "{counter}");
    }
    // A payload length past the packet.
    let mut p = ip6(HOST_LL, OURS, 255, &ns(&[]));
    p[5] += 8;
    let bi = h.packet(&p, 1);
    h.run(&mut [bi]);
    assert_eq!(h.counter("neighbor discovery message too short"), 2);
    assert_eq!(h.counter("neighbor advertisements sent"), 0);
}

#[test]
fn solicitation_built_for_glean() {
    let mut out = [0u8; MSG_LEN];
    build_solicitation(&mut out, OURS, solicited_node(OURS + 1), OURS + 1, [2, 0, 0, 0, 0, 1]);
    let m = NdMsg::parse(&out).unwrap();
    assert_eq!((m.ty, m.src, m.dst, m.target), (NS, OURS, solicited_node(OURS + 1), OURS + 1));
    assert_eq!(m.source_ll, Some([2, 0, 0, 0, 0, 1]));
    assert!(format_nd(&out).starts_with("ICMP6 neighbor solicitation: 2001:db8::1 -> ff02::1:ff00:2"));
}

#[test]
fn source_selection() {
    let a = IfAddrs { v4: vec![], v6: vec![vec![(OURS, 64), (0x2001_0db9 << 96 | 1, 64)]], ll: vec![OUR_LL] };
    assert_eq!(source_for(&a, 0, 0x2001_0db9 << 96 | 7), Some(0x2001_0db9 << 96 | 1));
    assert_eq!(source_for(&a, 0, HOST_LL), Some(OUR_LL));
    assert_eq!(source_for(&a, 0, 0x2002 << 112), Some(OUR_LL));
    assert_eq!(source_for(&a, 1, OURS), None);
    assert!(on_link(&a, 0, OURS + 9) && on_link(&a, 0, HOST_LL) && !on_link(&a, 0, 0x2002 << 112));
}

#[test]
fn random_bytes_never_panic() {
    let mut h = harness();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let valid =
        [NS_FRAME.to_vec(), eth([0; 6], &ip6(HOST_LL, OURS, 255, &body(NA, 0, OURS + 1, &ll_opt(2, HOST_MAC))))];
    for round in 0..300 {
        let mut v = Vec::new();
        for k in 0..16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b: Vec<u8> = if k % 2 == 0 {
                let len = (x % 120) as usize;
                let mut b: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
                if b.len() > 21 {
                    b[14] = 0x60;
                    b[20] = proto::ICMP6;
                    b[21] = 255;
                }
                b
            } else {
                let mut r = valid[k % 4 / 2].clone();
                for j in 0..2 {
                    let at = 54 + ((x >> (j * 8)) as usize) % (r.len() - 54);
                    r[at] = (x >> (j * 16 + 3)) as u8;
                }
                r
            };
            if round % 3 == 0 {
                b.truncate((x % 90) as usize);
            }
            let l2 = if b.len() >= 14 { 14 } else { 0 };
            v.push(received(&mut h, &b, (x % 4) as u32, l2));
        }
        h.run(&mut v);
        h.vm.bufs.free(&v);
    }
}

#[test]
fn unspecified_target_is_never_ours() {
    // Interface 2 has no IPv6: its link-local slot holds 0.
    let a = IfAddrs { v4: vec![], v6: vec![vec![], vec![(OURS, 64)], vec![]], ll: vec![0, OUR_LL, 0] };
    assert!(!a.has6(2, 0) && !a.has6(1, 0) && !a.has6(0, 0) && !a.has6(9, 0));
    assert!(a.has6(1, OUR_LL) && a.has6(1, OURS) && !a.has6(2, OUR_LL) && !a.has6(2, OURS));
    // An NS or NA whose target is :: is a counted drop on any interface:
    // no advertisement with source :: goes out, nobody is learned.
    let mut h = harness();
    let ns = ip6(HOST_LL, solicited_node(0), 255, &body(NS, 0, 0, &ll_opt(1, HOST_MAC)));
    let na = ip6(HOST_LL, ALL_NODES, 255, &body(NA, FLAG_OVERRIDE, 0, &ll_opt(2, HOST_MAC)));
    for (p, rx) in [(&ns, 2), (&ns, 1), (&na, 2), (&na, 1)] {
        let bi = received(&mut h, &eth([0x33, 0x33, 0xff, 0, 0, 0], p), rx, 14);
        let n = h.run(&mut [bi]);
        assert_eq!(h.next_name(n[0]), "error-drop", "on sw_if_index {rx}");
    }
    assert_eq!(h.counter("target address is unspecified"), 4);
    assert_eq!(h.counter("neighbor advertisements sent"), 0);
    assert_eq!(h.counter("neighbor solicitation source learned"), 0);
    assert_eq!(h.counter("neighbor advertisement target learned"), 0);
}
