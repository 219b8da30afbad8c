use super::commands::format_neighbors;
use super::*;
use crate::ip::fib::{AdjKind, Path, Source};
use rvpp_dataplane::testing::Harness;
use std::net::Ipv4Addr;

const MAC_A: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
const MAC_B: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x66];

fn v4(s: &str) -> u128 {
    u32::from(s.parse::<Ipv4Addr>().unwrap()) as u128
}

/// A frame as `ethernet-input` passes it on: the first `l2` bytes
/// stripped, their offset kept.
pub(super) fn received(h: &mut Harness, frame: &[u8], rx: u32, l2: usize) -> BufferIndex {
    let bi = h.packet(frame, rx);
    let m = h.vm.bufs.meta_mut(bi);
    m.l2_hdr_offset = m.current_data;
    assert!(h.vm.bufs.advance(bi, l2 as i16));
    bi
}

/// pg0 (sw 1) with 10.0.0.1/24, as `set interface ip address` leaves the FIB.
fn setup() -> (NeighborTable, Fib, InterfaceTable) {
    let mut ifs = InterfaceTable::default();
    ifs.add_hw("local0".into(), [0; 6], 0, None);
    ifs.add_hw("pg0".into(), [2, 0, 0, 0, 0, 1], 9000, None);
    let mut fib = Fib::default();
    fib.add(&ifs, "10.0.0.1".parse().unwrap(), 32, Source::Local, &[Path::Local(1)]).unwrap();
    fib.add(&ifs, "10.0.0.0".parse().unwrap(), 24, Source::Interface, &[Path::Attached(1)]).unwrap();
    (NeighborTable::default(), fib, ifs)
}

/// The MAC the FIB rewrites towards `addr` with, if any.
fn fib_mac(fib: &Fib, addr: u128) -> Option<[u8; 6]> {
    fib.forwarding()
        .adjs
        .iter()
        .find(|a| a.kind == AdjKind::Rewrite && !a.ip6 && a.addr == addr)
        .map(|a| a.rewrite()[..6].try_into().unwrap())
}

fn host_route(fib: &Fib, addr: u128) -> bool {
    fib.routes(false).iter().any(|r| r.0 == (false, addr, 32) && r.1 == Source::AdjFib)
}

#[test]
fn learning_drives_the_fib() {
    let (mut t, mut fib, ifs) = setup();
    let a = v4("10.0.0.2");
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, a), MAC_A, 1.0), Learned::New);
    assert_eq!(fib_mac(&fib, a), Some(MAC_A));
    assert!(host_route(&fib, a));
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, a), MAC_A, 2.0), Learned::Refreshed);
    assert_eq!(t.get(false, 1, a).unwrap().updated, 2.0);
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, a), MAC_B, 3.0), Learned::Changed);
    assert_eq!(fib_mac(&fib, a), Some(MAC_B));
    assert!(t.remove(&mut fib, &ifs, false, 1, a));
    assert_eq!(fib_mac(&fib, a), None);
    assert!(!host_route(&fib, a));
    assert!(!t.remove(&mut fib, &ifs, false, 1, a));
    assert_eq!(t.learn(&mut fib, &ifs, (false, 7, a), MAC_A, 1.0), Learned::Refused, "no interface 7");
    assert_eq!(t.refresh(&mut fib, &ifs, (false, 1, a), MAC_A, 1.0), Learned::NotKnown, "refresh never creates");
    t.learn(&mut fib, &ifs, (false, 1, a), MAC_A, 1.0);
    assert_eq!(t.refresh(&mut fib, &ifs, (false, 1, a), MAC_A, 2.0), Learned::Refreshed);
}

/// What an advertisement may do (RFC 4861 7.2.5): no entry unless it may
/// create one, no other MAC without override.
#[test]
fn heard_creates_and_replaces_only_as_allowed() {
    let (mut t, mut fib, ifs) = setup();
    let a = v4("10.0.0.2");
    let keep = Heard { create: true, replace: false };
    let confirm = Heard { create: false, replace: false };
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_A, confirm, 1.0), Learned::NotKnown);
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_A, Heard::REFRESH, 1.0), Learned::NotKnown);
    assert!(t.get(false, 1, a).is_none() && fib_mac(&fib, a).is_none());
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_A, keep, 1.0), Learned::New);
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_B, keep, 2.0), Learned::Kept);
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_B, confirm, 2.0), Learned::Kept);
    assert_eq!((t.get(false, 1, a).unwrap().mac, t.get(false, 1, a).unwrap().updated), (MAC_A, 1.0));
    assert_eq!(fib_mac(&fib, a), Some(MAC_A));
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_A, confirm, 3.0), Learned::Refreshed);
    assert_eq!(t.heard(&mut fib, &ifs, (false, 1, a), MAC_B, Heard::REFRESH, 4.0), Learned::Changed);
    assert_eq!(fib_mac(&fib, a), Some(MAC_B));
}

#[test]
fn static_entries_are_not_overwritten_nor_aged() {
    let (mut t, mut fib, ifs) = setup();
    let a = v4("10.0.0.2");
    t.add(&mut fib, &ifs, "10.0.0.2".parse().unwrap(), 1, MAC_A, true, 0.0).unwrap();
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, a), MAC_B, 1.0), Learned::Static);
    assert_eq!(fib_mac(&fib, a), Some(MAC_A));
    assert_eq!(t.age(&mut fib, &ifs, 10_000.0), Aged::default());
    assert_eq!(t.flush(&mut fib, &ifs, None, None), 0);
    assert_eq!(t.dynamic_count(false), 0);
    assert!(t.add(&mut fib, &ifs, "224.0.0.1".parse().unwrap(), 1, MAC_A, true, 0.0).is_err());
    assert!(t.add(&mut fib, &ifs, "10.0.0.3".parse().unwrap(), 9, MAC_A, true, 0.0).is_err());
}

#[test]
fn dynamic_entries_age_out() {
    let (mut t, mut fib, ifs) = setup();
    t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.2")), MAC_A, 0.0);
    t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.3")), MAC_B, 200.0);
    t.learn(&mut fib, &ifs, (true, 1, 0xfe80 << 112 | 2), MAC_B, 0.0);
    let gen = t.generation;
    assert_eq!(t.age(&mut fib, &ifs, 299.0), Aged::default());
    // Aged: probed at the MAC they had, still usable meanwhile.
    let a = t.age(&mut fib, &ifs, 300.0);
    assert_eq!(a.removed, 0);
    assert_eq!(a.probes, [((false, 1, v4("10.0.0.2")), MAC_A), ((true, 1, 0xfe80 << 112 | 2), MAC_B)]);
    assert_eq!(t.age(&mut fib, &ifs, 301.0), Aged::default(), "probed once");
    assert_eq!(fib_mac(&fib, v4("10.0.0.2")), Some(MAC_A));
    // The IPv4 one answers; the IPv6 one does not and goes.
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.2")), MAC_A, 302.0), Learned::Refreshed);
    let a = t.age(&mut fib, &ifs, 300.0 + PROBE_WAIT);
    assert_eq!((a.removed, a.probes.len()), (1, 0));
    assert!(t.get(true, 1, 0xfe80 << 112 | 2).is_none());
    assert!(t.get(false, 1, v4("10.0.0.2")).is_some_and(|n| n.probed.is_none()));
    assert!(t.generation > gen, "learners are told to forget");
    // Not heard from again: probed, then removed from the FIB too.
    assert_eq!(t.age(&mut fib, &ifs, 602.0).probes.len(), 2);
    assert_eq!(t.age(&mut fib, &ifs, 606.0).removed, 2);
    assert_eq!(fib_mac(&fib, v4("10.0.0.2")), None);
    t.set_config(false, FamilyConfig { age: 0, ..Default::default() });
    assert!(t.age(&mut fib, &ifs, 1e9).probes.is_empty(), "age 0: never");
}

#[test]
fn the_limit_refuses_or_recycles() {
    let (mut t, mut fib, ifs) = setup();
    t.set_config(false, FamilyConfig { limit: 2, ..Default::default() });
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.2")), MAC_A, 1.0), Learned::New);
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.3")), MAC_A, 2.0), Learned::New);
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.4")), MAC_A, 3.0), Learned::Refused);
    assert_eq!(t.refused(false), 1);
    assert_eq!(t.learn(&mut fib, &ifs, (true, 1, 0xfe80 << 112 | 2), MAC_B, 0.0), Learned::New, "per family");
    // Statics do not count against the limit, but a new dynamic one is refused.
    assert!(t.add(&mut fib, &ifs, "10.0.0.5".parse().unwrap(), 1, MAC_A, true, 0.0).is_ok());
    assert!(t.add(&mut fib, &ifs, "10.0.0.6".parse().unwrap(), 1, MAC_A, false, 0.0).is_err());
    t.set_config(false, FamilyConfig { limit: 2, recycle: true, ..Default::default() });
    assert_eq!(t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.4")), MAC_A, 4.0), Learned::New);
    assert!(t.get(false, 1, v4("10.0.0.2")).is_none(), "the oldest went");
    assert_eq!(t.dynamic_count(false), 2);
    let out = format_neighbors(&t, &ifs, None, None);
    assert!(out.contains("ip4: 1 new entries refused (limit 2 dynamic entries reached)"), "{out}");
}

#[test]
fn flush_by_family_and_interface() {
    let (mut t, mut fib, mut ifs) = setup();
    ifs.add_hw("pg1".into(), [2, 0, 0, 0, 0, 2], 9000, None);
    t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.2")), MAC_A, 0.0);
    t.learn(&mut fib, &ifs, (false, 2, v4("10.1.0.2")), MAC_A, 0.0);
    t.learn(&mut fib, &ifs, (true, 1, 0xfe80 << 112 | 2), MAC_B, 0.0);
    assert_eq!(t.flush(&mut fib, &ifs, Some(false), Some(2)), 1);
    assert_eq!(t.flush(&mut fib, &ifs, Some(true), None), 1);
    assert_eq!(t.len(), 1);
    assert_eq!(t.flush(&mut fib, &ifs, None, None), 1);
    assert!(t.is_empty());
}

#[test]
fn show_layout() {
    let (mut t, mut fib, ifs) = setup();
    t.learn(&mut fib, &ifs, (false, 1, v4("10.0.0.2")), MAC_A, 3.25);
    t.add(&mut fib, &ifs, "2001:db8::2".parse().unwrap(), 1, MAC_B, true, 4.0).unwrap();
    let out = format_neighbors(&t, &ifs, None, None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["Time", "IP", "Flags", "Ethernet", "Interface"]);
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["3.2500", "10.0.0.2", "D", "00:11:22:33:44:55", "pg0"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["4.0000", "2001:db8::2", "S", "00:11:22:33:44:66", "pg0"]
    );
    assert_eq!(&lines[1][..12], "   3.2500   ", "columns as VPP centres them");
    assert_eq!(format_neighbors(&t, &ifs, Some(true), None).lines().count(), 2);
    assert_eq!(format_neighbors(&t, &ifs, None, Some(2)).lines().count(), 1);
}

#[test]
fn learner_posts_news_only() {
    let mut l = Learner::default();
    let hz = l.hz;
    let s = NeighborShared { generation: 0, refresh_secs: 10 };
    let k = (false, 1, 7);
    assert_eq!(l.check(0, &s, k, MAC_A, true), Learn::Post);
    assert_eq!(l.check(1, &s, k, MAC_A, true), Learn::Known);
    assert_eq!(l.check(2, &s, k, MAC_B, true), Learn::Post, "a new MAC");
    assert_eq!(l.check(3, &s, k, MAC_B, true), Learn::Known);
    let later = (11.0 * hz) as u64;
    assert_eq!(l.check(later, &s, k, MAC_B, true), Learn::Post, "refreshed so that it does not age out");
    let s2 = NeighborShared { generation: 1, ..s.clone() };
    assert_eq!(l.check(3, &s, (false, 1, 8), MAC_A, false), Learn::Post);
    assert_eq!(l.check(4, &s, (false, 1, 8), MAC_A, true), Learn::Post, "a refresh-only post is not remembered");
    assert_eq!(l.check(later + 1, &s2, k, MAC_B, true), Learn::Post, "entries were removed: forget");
    // A flood of new neighbors at one instant: the burst, then nothing.
    let t = later + 2;
    let posted = (0..1000u128).filter(|&i| l.check(t, &s2, (false, 1, 100 + i), MAC_A, true) == Learn::Post).count();
    assert!(posted < 100, "{posted}");
    // A second later the bucket has refilled.
    let t = t + hz as u64;
    assert_eq!(l.check(t, &s2, (false, 1, 5000), MAC_A, true), Learn::Post);
}

#[test]
fn l2_headers_for_interfaces_and_sub_interfaces() {
    use crate::ethernet::sub::SubEntry;
    use rvpp_dataplane::interface::IfFast;
    let f = |sup: u32| IfFast {
        admin_up: true,
        link_up: true,
        sup_sw_if_index: sup,
        mtu: 1500,
        mac: [2, 0, 0, 0, 0, 1],
        tso_max: 0,
    };
    let ifs = IfSnapshot { ifs: vec![f(0), f(1), f(1), f(1), f(1)] };
    // The QinQ one is dot1ad.
    let sub = |sw, outer, inner: Option<u16>| SubEntry {
        sw_if_index: sw,
        outer,
        inner,
        dot1ad: inner.is_some(),
        exact: false,
        default: outer.is_none(),
    };
    let subs = SubTable {
        by_parent: vec![vec![], vec![sub(2, Some(10), None), sub(3, Some(10), Some(20)), sub(4, None, None)]],
    };
    let mut out = [0u8; 22];
    assert_eq!(l2_header(&ifs, &subs, 1, [0xff; 6], 0x0806, &mut out), Ok(14));
    assert_eq!(&out[..14], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    assert_eq!(l2_header(&ifs, &subs, 2, [0xff; 6], 0x0806, &mut out), Ok(18));
    assert_eq!(&out[12..18], &[0x81, 0x00, 0, 10, 0x08, 0x06]);
    assert_eq!(l2_header(&ifs, &subs, 3, [0xff; 6], 0x86dd, &mut out), Ok(22));
    assert_eq!(&out[12..22], &[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x86, 0xdd]);
    assert_eq!(l2_header(&ifs, &subs, 4, [0xff; 6], 0x0806, &mut out), Ok(14), "a default sub-interface is untagged");
    assert_eq!(l2_header(&ifs, &subs, 9, [0xff; 6], 0x0806, &mut out), Err(L2Error::NoInterface));
    let empty = SubTable::default();
    assert_eq!(l2_header(&ifs, &empty, 2, [0xff; 6], 0x0806, &mut out), Err(L2Error::NoInterface));
    assert_eq!(l2_header(&ifs, &subs, 3, [0xff; 6], 0x0806, &mut out[..20]), Err(L2Error::NoRoom));
}

/// ARP/ND requests and probes tag the outer VLAN as the sub-interface was
/// created: dot1q 0x8100, dot1ad 0x88a8, whatever the number of tags.
#[test]
fn l2_headers_follow_the_sub_interface_outer_tpid() {
    let e = crate::ethernet::sub::tests::engine(&[
        "create sub-interfaces pg0 10 dot1ad 10",
        "create sub-interfaces pg0 11 dot1q 11 inner-dot1q 20",
        "create sub-interfaces pg0 12 dot1ad 12 inner-dot1q 20",
    ]);
    let subs = e.ext.get::<Subs>().expect("sub-interface table").load();
    let ifs = e.interfaces.snapshot();
    let tags = |name: &str| {
        let sw = e.interfaces.by_name(name).expect("sub-interface").0;
        let mut out = [0u8; 22];
        let n = l2_header(&ifs, &subs, sw, [0xff; 6], 0x0806, &mut out).expect("header");
        out[12..n].to_vec()
    };
    assert_eq!(tags("pg0.10"), [0x88, 0xa8, 0, 10, 0x08, 0x06]);
    assert_eq!(tags("pg0.11"), [0x81, 0x00, 0, 11, 0x81, 0x00, 0, 20, 0x08, 0x06]);
    assert_eq!(tags("pg0.12"), [0x88, 0xa8, 0, 12, 0x81, 0x00, 0, 20, 0x08, 0x06]);
}

fn engine() -> Engine {
    let mut e = Engine::builder().buffers(1024).workers(0).plugin(crate::register_all).build().expect("engine");
    e.create_interface("pg0".into(), [2, 0, 0, 0, 0, 1], 9000, None);
    e.exec("set interface ip address pg0 10.0.0.1/24").unwrap();
    e.exec("set interface ip address pg0 2001:db8::1/64").unwrap();
    e
}

#[test]
fn commands() {
    let mut e = engine();
    e.exec("set ip neighbor pg0 10.0.0.2 00:11:22:33:44:55 static").unwrap();
    e.exec("set ip neighbor static pg0 2001:db8::2 0011.2233.4466").unwrap();
    e.exec("set ip neighbor pg0 10.0.0.3 00:11:22:33:44:77").unwrap();
    let out = e.exec("show ip neighbors").unwrap();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.lines().nth(1).unwrap().contains("10.0.0.2") && out.lines().nth(1).unwrap().contains(" S "), "{out}");
    assert!(out.contains("2001:db8::2") && out.contains("00:11:22:33:44:66"), "{out}");
    assert_eq!(e.exec("show ip4 neighbors").unwrap().lines().count(), 3);
    assert_eq!(e.exec("show ip6 neighbors pg0").unwrap().lines().count(), 2);
    assert_eq!(e.exec("show ip neighbors ip6").unwrap().lines().count(), 2);
    assert_eq!(e.exec("sh ip neighbor").unwrap().lines().count(), 4);
    assert_eq!(fib_mac(fib(&mut e.ext), v4("10.0.0.2")), Some(MAC_A));
    e.exec("clear ip neighbors").unwrap();
    assert_eq!(e.exec("show ip neighbors").unwrap().lines().count(), 3, "static entries stay");
    e.exec("set ip neighbor del pg0 10.0.0.2").unwrap();
    e.exec("set ip neighbor del pg0 2001:db8::2 00:11:22:33:44:66").unwrap();
    assert_eq!(e.exec("show ip neighbors").unwrap().lines().count(), 1);
    assert_eq!(fib_mac(fib(&mut e.ext), v4("10.0.0.2")), None);
    for bad in [
        "set ip neighbor del pg0 10.0.0.2",
        "set ip neighbor pg0 10.0.0.2",
        "set ip neighbor pg0 10.0.0.2 zz:11:22:33:44:55",
        "set ip neighbor pg0 not-an-ip 00:11:22:33:44:55",
        "set ip neighbor pg9 10.0.0.2 00:11:22:33:44:55",
        "set ip neighbor pg0 10.0.0.2 01:00:5e:00:00:01",
        "set ip neighbor pg0 224.0.0.1 00:11:22:33:44:55",
        "set ip neighbor pg0 10.0.0.2 00:11:22:33:44:55 extra",
        "set ip neighbor-config ip5 limit 3",
        "set ip neighbor-config ip4 limit many",
        "show ip neighbors pg9",
    ] {
        assert!(e.exec(bad).is_err(), "{bad}");
    }
    e.exec("set ip neighbor-config ip4 limit 1 age 10 recycle").unwrap();
    e.exec("set ip neighbor-config ip6 norecycle age 0").unwrap();
    let out = e.exec("show ip neighbor-config").unwrap();
    assert!(out.contains("ip4:\n  limit:1, age:10, recycle:1"), "{out}");
    assert!(out.contains("ip6:\n  limit:50000, age:0, recycle:0"), "{out}");
}

#[test]
fn learning_through_the_engine() {
    let mut e = engine();
    assert_eq!(learn(&mut e, (false, 1, v4("10.0.0.3")), MAC_A, Heard::REFRESH), Learned::NotKnown);
    assert_eq!(learn(&mut e, (false, 1, v4("10.0.0.2")), MAC_A, Heard::LEARN), Learned::New);
    assert_eq!(learn(&mut e, (false, 1, v4("10.0.0.2")), MAC_A, Heard::LEARN), Learned::Refreshed);
    assert_eq!(fib_mac(fib(&mut e.ext), v4("10.0.0.2")), Some(MAC_A));
    let shared = e.ext.get_or_default::<NeighborTable>().shared();
    let before = shared.load().generation;
    e.exec("clear ip neighbors ip4 pg0").unwrap();
    assert!(shared.load().generation > before, "the nodes' view is republished");
    assert_eq!(shared.load().refresh_secs, 60);
    e.exec("set ip neighbor-config ip4 age 20").unwrap();
    assert_eq!(shared.load().refresh_secs, 5);
}
