use super::*;
use crate::ethernet::sub::{SubEntry, SubTable, Subs};
use crate::ip::addr::{IfAddrTable, IfAddrs};
use crate::neighbor::tests::received;
use crate::neighbor::NeighborPub;
use rvpp_dataplane::buffer::TX;
use rvpp_dataplane::interface::{IfFast, IfSnapshot};
use rvpp_dataplane::testing::Harness;

/// Who has 10.0.0.1? Tell 10.0.0.2 at 00:11:22:33:44:55 — broadcast,
/// padded to Ethernet's minimum with bytes that must not leak.
static REQUEST: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x06, // ethernet
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // ethernet/ip4, request
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 10, 0, 0, 2, // sender
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 1, // target
    0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
];

/// 10.0.0.1 is at 02:00:00:00:00:01 (the harness's interface 1).
static REPLY: [u8; 60] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, // ethernet
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // ethernet/ip4, reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sender: us
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 10, 0, 0, 2, // target: the requester
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

const HOST: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

/// Interface 1: 10.0.0.1/24; interface 2 (a dot1q 100 sub-interface of 1
/// when `subs`): 10.1.0.1/24.
fn harness(subs: bool) -> Harness {
    let addrs = IfAddrTable::default();
    addrs.store(IfAddrs { v4: vec![vec![], vec![(0x0a00_0001, 24)], vec![(0x0a01_0001, 24)]], ..Default::default() });
    let s = Subs::default();
    if subs {
        let e = SubEntry { sw_if_index: 2, outer: Some(100), inner: None, dot1ad: false, exact: true, default: false };
        s.store(SubTable { by_parent: vec![vec![], vec![e]] });
    }
    let mut h = Harness::new(Box::new(ArpInput::new(addrs, s, NeighborPub::default())), 3);
    if subs {
        let f = |sup: u32, mac: u8| IfFast {
            admin_up: true,
            link_up: true,
            sup_sw_if_index: sup,
            mtu: 9000,
            mac: [2, 0, 0, 0, 0, mac],
            tso_max: 0,
        };
        h.set_interfaces(IfSnapshot { ifs: vec![f(0, 0), f(1, 1), f(1, 1)] });
    }
    h
}

fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0u8; LEN];
    let a = Arp { op, sha, spa: u32::from_be_bytes(spa), tha: [0; 6], tpa: u32::from_be_bytes(tpa) };
    a.emit((&mut v[..]).try_into().unwrap());
    v
}

fn frame(src: [u8; 6], body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(body);
    f
}

fn names(h: &Harness, n: &[u16]) -> Vec<String> {
    n.iter().map(|&x| h.next_name(x).to_string()).collect()
}

#[test]
fn request_for_our_address_is_answered_in_place() {
    let mut h = harness(false);
    let bi = received(&mut h, &REQUEST, 1, 14);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "interface-output");
    assert_eq!(h.bytes(bi), REPLY);
    assert_eq!(h.vm.bufs.meta(bi).sw_if_index[TX], 1);
    assert_eq!(h.counter("ARP replies sent"), 1);
    assert_eq!(h.counter("ARP request IP4 source address learned"), 1);
}

#[test]
fn reply_without_the_received_header_is_built_from_the_interface() {
    let mut h = harness(false);
    let bi = h.packet(&REQUEST[14..], 1);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "interface-output");
    assert_eq!(h.bytes(bi), REPLY);
}

#[test]
fn reply_on_a_sub_interface_keeps_the_vlan_tag() {
    let mut h = harness(true);
    let body = arp(OP_REQUEST, HOST, [10, 1, 0, 2], [10, 1, 0, 1]);
    let mut tagged = vec![0xff; 6];
    tagged.extend_from_slice(&HOST);
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
    tagged.extend_from_slice(&body);
    let a = received(&mut h, &tagged, 2, 18);
    // The same request without its header: the tag comes from the sub-interface table.
    let b = h.packet(&body, 2);
    let n = h.run(&mut [a, b]);
    assert_eq!(names(&h, &n), ["interface-output", "interface-output"]);
    for bi in [a, b] {
        let d = h.bytes(bi);
        assert_eq!(d.len(), 18 + LEN);
        assert_eq!(&d[..6], &HOST);
        assert_eq!(&d[6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&d[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
        let r = Arp::parse(&d[18..]).unwrap();
        assert_eq!((r.op, r.spa, r.tpa, r.tha), (OP_REPLY, 0x0a01_0001, 0x0a01_0002, HOST));
        assert_eq!(h.vm.bufs.meta(bi).sw_if_index[TX], 2);
    }
}

#[test]
fn malformed_packets_are_counted_drops() {
    let mut h = harness(false);
    let good = arp(OP_REQUEST, HOST, [10, 0, 0, 2], [10, 0, 0, 1]);
    let with = |at: usize, v: u8| {
        let mut p = good.clone();
        p[at] = v;
        p
    };
    let pkts = [
        with(4, 8),          // hlen
        with(5, 16),         // plen
        with(7, 3),          // opcode 3
        with(1, 6),          // hardware type 6
        with(2, 0x86),       // protocol 0x86dd-ish
        good[..20].to_vec(), // truncated after the fixed part
        good[..5].to_vec(),  // truncated inside it
        vec![],
    ];
    let mut bis: Vec<BufferIndex> = pkts.iter().map(|p| h.packet(p, 1)).collect();
    let n = h.run(&mut bis);
    assert!(names(&h, &n).iter().all(|x| x == "error-drop"), "{:?}", names(&h, &n));
    assert_eq!(h.counter("wrong hardware/protocol address length"), 2);
    assert_eq!(h.counter("ARP opcode not request or reply"), 1);
    assert_eq!(h.counter("L2 type not ethernet"), 1);
    assert_eq!(h.counter("L3 type not IP4"), 1);
    assert_eq!(h.counter("ARP packet too short"), 3);
    assert_eq!(h.counter("ARP replies sent"), 0);
}

#[test]
fn who_may_be_answered_and_learned() {
    let mut h = harness(false);
    let ours = [2, 0, 0, 0, 0, 1];
    let cases: Vec<(Vec<u8>, u32, &str)> = vec![
        // A reply from a host on the subnet: learned.
        (arp(OP_REPLY, HOST, [10, 0, 0, 2], [10, 0, 0, 1]), 1, "ARP replies received"),
        // Gratuitous ARP (sender = target): learned.
        (arp(OP_REQUEST, [0, 0x11, 0x22, 0, 0, 9], [10, 0, 0, 9], [10, 0, 0, 9]), 1, "gratuitous ARP learned"),
        // A request for someone else.
        (arp(OP_REQUEST, HOST, [10, 0, 0, 2], [10, 0, 0, 3]), 1, "IP4 destination address not local to subnet"),
        // A request from off the subnet.
        (arp(OP_REQUEST, HOST, [10, 9, 0, 2], [10, 0, 0, 1]), 1, "IP4 source address not local to subnet"),
        // A reply from the subnet's broadcast address.
        (arp(OP_REPLY, HOST, [10, 0, 0, 255], [10, 0, 0, 1]), 1, "IP4 source address not local to subnet"),
        // Someone using our address.
        (arp(OP_REQUEST, HOST, [10, 0, 0, 1], [10, 0, 0, 7]), 1, "IP4 source address matches local interface"),
        (arp(OP_REPLY, ours, [10, 0, 0, 7], [10, 0, 0, 1]), 1, "IP4 source address matches local interface"),
        // A multicast sender.
        (
            arp(OP_REPLY, [1, 0, 0x5e, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 1]),
            1,
            "ARP sender hardware address is multicast",
        ),
        // An interface without addresses, and one that is down.
        (arp(OP_REQUEST, HOST, [10, 0, 0, 2], [10, 0, 0, 1]), 0, "Interface is not IP enabled"),
    ];
    for (body, rx, counter) in cases {
        let before = h.counter(counter);
        let bi = h.packet(&body, rx);
        let n = h.run(&mut [bi]);
        assert_eq!(h.next_name(n[0]), "error-drop", "{counter}");
        assert_eq!(h.counter(counter), before + 1, "{counter}");
    }
    // The frame's source must be the ARP sender.
    let bi = received(&mut h, &frame([0, 0x11, 0x22, 0x33, 0x44, 0x66], &REQUEST[14..]), 1, 14);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "error-drop");
    assert_eq!(h.counter("ARP hw addr does not match L2 frame src addr"), 1);
    assert_eq!(h.counter("ARP replies sent"), 0);
}

#[test]
fn probes_are_answered_but_not_learned() {
    let mut h = harness(false);
    let bi = received(&mut h, &frame(HOST, &arp(OP_REQUEST, HOST, [0; 4], [10, 0, 0, 1])), 1, 14);
    let n = h.run(&mut [bi]);
    assert_eq!(h.next_name(n[0]), "interface-output");
    let r = Arp::parse(&h.bytes(bi)[14..]).unwrap();
    assert_eq!((r.op, r.spa, r.tpa, r.tha), (OP_REPLY, 0x0a00_0001, 0, HOST));
    assert_eq!(h.counter("ARP request IP4 source address learned"), 0);
}

#[test]
fn a_flood_of_one_sender_is_learned_once() {
    let mut h = harness(false);
    let mut bis: Vec<BufferIndex> =
        (0..100).map(|_| h.packet(&arp(OP_REPLY, HOST, [10, 0, 0, 2], [10, 0, 0, 1]), 1)).collect();
    h.run(&mut bis);
    assert_eq!(h.counter("ARP replies received"), 100);
    assert_eq!(h.counter("neighbor learning rate limited"), 0, "one post, then known");
    // Many senders: past the burst, this thread's posts are capped.
    let mut bis: Vec<BufferIndex> = (0..200u8)
        .map(|i| h.packet(&arp(OP_REPLY, [0, 1, 2, 3, 4, i], [10, 0, 0, i.max(3)], [10, 0, 0, 1]), 1))
        .collect();
    h.run(&mut bis);
    assert!(h.counter("neighbor learning rate limited") > 0);
}

#[test]
fn parse_and_emit_round_trip() {
    let a = Arp::parse(&REQUEST[14..]).unwrap();
    assert_eq!(a, Arp { op: OP_REQUEST, sha: HOST, spa: 0x0a00_0002, tha: [0; 6], tpa: 0x0a00_0001 });
    let mut out = [0u8; LEN];
    a.emit(&mut out);
    assert_eq!(&out[..], &REQUEST[14..42]);
    assert!(format_arp(&REQUEST[14..]).starts_with("request, type ethernet/IP4, address size 6/4"));
    assert_eq!(Arp::parse(&REQUEST[14..30]), Err(ArpError::TooShort));
}

#[test]
fn host_and_source_selection() {
    assert!(is_host(0x0a00_0002, 24));
    assert!(!is_host(0x0a00_00ff, 24));
    assert!(!is_host(0x0a00_0000, 24));
    assert!(is_host(0x0a00_0000, 31));
    assert!(is_host(0x0a00_0001, 32));
    let a = IfAddrs { v4: vec![vec![(0x0a00_0001, 24), (0xc0a8_0001, 16)]], ..Default::default() };
    assert_eq!(source_for(&a, 0, 0xc0a8_0505), Some(0xc0a8_0001));
    assert_eq!(source_for(&a, 0, 0x0808_0808), Some(0x0a00_0001));
    assert_eq!(source_for(&a, 1, 0x0a00_0002), None);
}

#[test]
fn random_bytes_never_panic() {
    let mut h = harness(true);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..300 {
        let mut v = Vec::new();
        for k in 0..16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Half random, half a valid request with a few bytes changed.
            let mut b: Vec<u8> = if k % 2 == 0 {
                let len = (x % 70) as usize;
                (0..len).map(|i| (x >> (i % 56)) as u8).collect()
            } else {
                let mut r = REQUEST.to_vec();
                for j in 0..3 {
                    let at = ((x >> (j * 8)) as usize) % r.len();
                    r[at] = (x >> (j * 16 + 3)) as u8;
                }
                r
            };
            if round % 3 == 0 {
                b.truncate((x % 64) as usize);
            }
            let rx = (x % 4) as u32;
            let l2 = if b.len() >= 14 && k % 4 == 1 { 14 } else { 0 };
            v.push(received(&mut h, &b, rx, l2));
        }
        h.run(&mut v);
        h.vm.bufs.free(&v);
    }
}
