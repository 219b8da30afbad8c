use std::net::IpAddr;

use rvpp_dataplane::interface::InterfaceTable;

use super::*;

pub(crate) fn ifs() -> InterfaceTable {
    let mut t = InterfaceTable::default();
    t.add_hw("local0".into(), [0; 6], 0, None);
    t.add_hw("pg0".into(), [2, 0, 0, 0, 0, 1], 1500, None);
    t.add_hw("pg1".into(), [2, 0, 0, 0, 0, 2], 1500, None);
    t
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4(s: &str) -> u32 {
    s.parse::<std::net::Ipv4Addr>().unwrap().into()
}

fn adj_of(f: &Fib, dst: &str) -> Adjacency {
    let lb = f.mtrie.lookup(v4(dst));
    let fw = f.fwd.load();
    let l = &fw.lbs[lb as usize];
    fw.adjs[l.pick(0) as usize].clone()
}

#[test]
fn connected_local_and_glean() {
    let t = ifs();
    let mut f = Fib::default();
    f.add(&t, ip("10.0.0.1"), 32, Source::Local, &[Path::Local(1)]).unwrap();
    f.add(&t, ip("10.0.0.1"), 24, Source::Interface, &[Path::Attached(1)]).unwrap();
    assert_eq!(adj_of(&f, "10.0.0.1").kind, AdjKind::Local);
    assert_eq!(adj_of(&f, "10.0.0.9").kind, AdjKind::Glean);
    assert_eq!(adj_of(&f, "10.0.0.9").sw_if_index, 1);
    assert_eq!(adj_of(&f, "10.9.0.9").kind, AdjKind::Unreachable);
    assert_eq!(f.connected_interface(false, v4("10.0.0.200") as u128), Some(1));
}

#[test]
fn routes_resolve_when_the_neighbor_is_learned() {
    let t = ifs();
    let mut f = Fib::default();
    f.add(&t, ip("10.1.0.1"), 24, Source::Interface, &[Path::Attached(2)]).unwrap();
    let nh = v4("10.1.0.2") as u128;
    f.add(&t, ip("10.2.0.0"), 16, Source::Cli, &[Path::Via { nh, sw: None }]).unwrap();
    let a = adj_of(&f, "10.2.3.4");
    assert_eq!((a.kind, a.sw_if_index, a.addr), (AdjKind::Incomplete, 2, nh));
    f.neighbor(&t, false, 2, nh, Some([2, 0, 0, 0, 0, 9]));
    let a = adj_of(&f, "10.2.3.4");
    assert_eq!(a.kind, AdjKind::Rewrite);
    assert_eq!(a.rewrite(), &[2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    assert_eq!(a.mtu, 1500);
    // The neighbor itself got a host route on its connected subnet.
    assert_eq!(adj_of(&f, "10.1.0.2").kind, AdjKind::Rewrite);
    assert_eq!(adj_of(&f, "10.1.0.3").kind, AdjKind::Glean);
    f.neighbor(&t, false, 2, nh, None);
    assert_eq!(adj_of(&f, "10.2.3.4").kind, AdjKind::Incomplete);
    assert_eq!(adj_of(&f, "10.1.0.2").kind, AdjKind::Glean, "host route follows the neighbor away");
}

#[test]
fn ecmp_buckets_and_shared_load_balances() {
    let t = ifs();
    let mut f = Fib::default();
    let (a, b) = (v4("10.1.0.2") as u128, v4("10.1.0.3") as u128);
    let paths = [Path::Via { nh: a, sw: Some(2) }, Path::Via { nh: b, sw: Some(2) }];
    f.add(&t, ip("20.0.0.0"), 8, Source::Cli, &paths).unwrap();
    f.add(&t, ip("30.0.0.0"), 8, Source::Cli, &paths).unwrap();
    let l1 = f.mtrie.lookup(v4("20.1.1.1"));
    let l2 = f.mtrie.lookup(v4("30.1.1.1"));
    assert_eq!(l1, l2, "identical path sets share one load-balance");
    let fw = f.fwd.load();
    assert_eq!(fw.lbs[l1 as usize].buckets.len(), 2);
    let picked: std::collections::HashSet<u32> = (0..64).map(|h| fw.lbs[l1 as usize].pick(h)).collect();
    assert_eq!(picked.len(), 2, "both paths used");
    f.del(&t, ip("20.0.0.0"), 8, Source::Cli, &[paths[0]]).unwrap();
    assert_eq!(f.fwd.load().lbs[f.mtrie.lookup(v4("20.1.1.1")) as usize].buckets.len(), 1);
    assert!(f.del(&t, ip("40.0.0.0"), 8, Source::Cli, &[]).is_err());
}

#[test]
fn sources_override_by_priority() {
    let t = ifs();
    let mut f = Fib::default();
    f.add(&t, ip("10.0.0.5"), 32, Source::Cli, &[Path::Drop]).unwrap();
    assert_eq!(adj_of(&f, "10.0.0.5").kind, AdjKind::Drop);
    f.add(&t, ip("10.0.0.5"), 32, Source::Local, &[Path::Local(1)]).unwrap();
    assert_eq!(adj_of(&f, "10.0.0.5").kind, AdjKind::Local, "local wins over CLI");
    f.del(&t, ip("10.0.0.5"), 32, Source::Local, &[]).unwrap();
    assert_eq!(adj_of(&f, "10.0.0.5").kind, AdjKind::Drop, "CLI route comes back");
}

#[test]
fn ip6_routes_and_bulk_ip4() {
    let t = ifs();
    let mut f = Fib::default();
    f.add(&t, ip("2001:db8::1"), 64, Source::Interface, &[Path::Attached(1)]).unwrap();
    let dst = u128::from("2001:db8::77".parse::<std::net::Ipv6Addr>().unwrap());
    let lb = f.table6.load().lookup(dst).unwrap();
    let fw = f.fwd.load();
    assert_eq!(fw.adjs[fw.lbs[lb as usize].pick(0) as usize].kind, AdjKind::Glean);
    let prefixes: Vec<(u32, u8)> = (0..1000u32).map(|k| (v4("50.0.0.0") + (k << 8), 24)).collect();
    f.add_many4(&t, &prefixes, &[Path::Drop]);
    assert_eq!(f.route_count(false), 1000);
    assert_eq!(adj_of(&f, "50.0.3.9").kind, AdjKind::Drop);
    assert_eq!(adj_of(&f, "50.4.0.0").kind, AdjKind::Unreachable);
}

#[test]
fn vlan_rewrite() {
    let mut t = ifs();
    let sub = t
        .add_sub(
            rvpp_dataplane::SwIfIndex(1),
            rvpp_dataplane::interface::SubMatch { sub_id: 123, outer_vlan: Some(123), ..Default::default() },
        )
        .unwrap();
    let (rw, len, _) = build_rewrite(&t, sub.0, [9; 6], false);
    assert_eq!(&rw[..len as usize], &[9, 9, 9, 9, 9, 9, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 123, 0x08, 0]);
}

/// Runs ip6-lookup on a packet to `dst` received on `rx`: the next node
/// and the adjacency it chose (kind, interface, destination MAC).
fn lookup6(h: &mut rvpp_dataplane::testing::Harness, f: &Fib, dst: u128, rx: u32) -> (String, AdjKind, u32, Vec<u8>) {
    let mut p = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    p.extend_from_slice(&(0xfe80u128 << 112 | 0x00ff_fe00_0001).to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
    let bi = h.packet(&p, rx);
    let n = h.run(&mut [bi]);
    let next = h.next_name(n[0]).to_string();
    let a = f.forwarding().adjs[h.vm.bufs.meta(bi).opaque[crate::ip::lookup::OPAQUE_ADJ] as usize].clone();
    h.vm.bufs.free(&[bi]);
    (next, a.kind, a.sw_if_index, a.rewrite().iter().take(6).copied().collect())
}

/// fe80::1 is a neighbor on pg0 and, another host, on pg1: each link's is
/// found on its own interface (by the packet's rx interface, which is the
/// one a locally originated packet is for), never through a shared /128
/// route, and one going away leaves the other.
#[test]
fn link_local_neighbors_are_per_interface() {
    let t = ifs();
    let mut f = Fib::default();
    let (mac_a, mac_b) = ([0, 0x11, 0, 0, 0, 0xa], [0, 0x11, 0, 0, 0, 0xb]);
    let peer: u128 = 0xfe80 << 112 | 1;
    let our_ll: u128 = 0xfe80 << 112 | 0x00ff_fe00_0001;
    for sw in [1, 2] {
        f.set_ll_glean(&t, sw);
    }
    f.add(&t, ip("fe80::ff:fe00:1"), 128, Source::Local, &[Path::Local(1)]).unwrap();
    // A default route through a resolved global next hop on pg0: link-local
    // destinations must not follow it.
    f.add(&t, ip("2001:db8::1"), 64, Source::Interface, &[Path::Attached(1)]).unwrap();
    let gw = 0x2001_0db8u128 << 96 | 2;
    f.neighbor(&t, true, 1, gw, Some([0, 0x11, 0, 0, 0, 0xc]));
    f.add(&t, ip("::"), 0, Source::Cli, &[Path::Via { nh: gw, sw: None }]).unwrap();
    f.neighbor(&t, true, 1, peer, Some(mac_a));
    f.neighbor(&t, true, 2, peer, Some(mac_b));
    assert!(
        !f.routes(true).iter().any(|r| r.0 == (true, peer, 128)),
        "no shared host route for a link-local neighbor: {:?}",
        f.routes(true)
    );
    let mut h = rvpp_dataplane::testing::Harness::new(Box::new(crate::ip::lookup::IpLookup::<true>::new(&f)), 3);
    let rewrite = |sw: u32, mac: [u8; 6]| ("ip6-rewrite".to_string(), AdjKind::Rewrite, sw, mac.to_vec());
    for _ in 0..4 {
        assert_eq!(lookup6(&mut h, &f, peer, 1), rewrite(1, mac_a));
        assert_eq!(lookup6(&mut h, &f, peer, 2), rewrite(2, mac_b));
    }
    assert_eq!(lookup6(&mut h, &f, our_ll, 2).0, "ip6-local", "our own link-local address");
    let glean = |sw: u32| ("ip6-glean".to_string(), AdjKind::Glean, sw, vec![]);
    assert_eq!(lookup6(&mut h, &f, peer + 1, 2), glean(2), "an unknown link-local host is asked for on its link");
    // pg0's neighbor goes: pg1's is still resolved, pg0 asks again.
    f.neighbor(&t, true, 1, peer, None);
    assert_eq!(lookup6(&mut h, &f, peer, 2), rewrite(2, mac_b));
    assert_eq!(lookup6(&mut h, &f, peer, 1), glean(1));
}
