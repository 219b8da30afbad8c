//! ip4-lookup over a trie big enough for the staged walk gives, packet for
//! packet, what the per-packet walk over a small trie gives.

use std::net::IpAddr;

use rvpp_dataplane::testing::Harness;

use super::*;
use crate::ip::fib::tests::ifs;
use crate::ip::fib::{Path, Source};
use crate::ip::input::tests::ip4;

fn v4(s: &str) -> u32 {
    s.parse::<std::net::Ipv4Addr>().unwrap().into()
}

/// The same routes in both; `extra` adds 2,000 /32s in 65.0.0.0/8 (each in
/// its own /24, so a ply each) that none of the test packets goes to;
/// `default` a default route, which covers multicast and broadcast too
/// (they must still not be forwarded).
fn fib(extra: bool, default: bool) -> Fib {
    let t = ifs();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut f = Fib::default();
    f.add(&t, ip("10.0.0.1"), 32, Source::Local, &[Path::Local(1)]).unwrap();
    f.add(&t, ip("10.0.0.1"), 24, Source::Interface, &[Path::Attached(1)]).unwrap();
    f.add(&t, ip("10.1.0.1"), 24, Source::Interface, &[Path::Attached(2)]).unwrap();
    let nh = v4("10.1.0.2") as u128;
    f.neighbor(&t, false, 2, nh, Some([2, 0, 0, 0, 0, 9]));
    f.add(&t, ip("64.0.0.0"), 8, Source::Cli, &[Path::Via { nh, sw: None }]).unwrap();
    f.add(&t, ip("64.7.7.0"), 28, Source::Cli, &[Path::Drop]).unwrap();
    f.add(&t, ip("64.9.9.9"), 32, Source::Cli, &[Path::Via { nh: v4("10.0.0.7") as u128, sw: None }]).unwrap();
    if default {
        f.add(&t, ip("0.0.0.0"), 0, Source::Cli, &[Path::Via { nh, sw: None }]).unwrap();
    }
    if extra {
        let prefixes: Vec<(u32, u8)> = (0..2000u32).map(|k| (v4("65.0.0.1") + (k << 8), 32)).collect();
        f.add_many4(&t, &prefixes, &[Path::Via { nh, sw: None }]);
    }
    f
}

#[test]
fn staged_walk_agrees_with_the_per_packet_walk() {
    for default in [false, true] {
        agree(default);
    }
}

fn agree(default: bool) {
    let (big, small) = (fib(true, default), fib(false, default));
    assert!(big.mtrie.is_large() && !small.mtrie.is_large());
    let dsts = [
        "64.1.2.3",        // rewrite via 10.1.0.2
        "64.7.7.5",        // drop route
        "64.7.7.17",       // beside it: rewrite
        "64.9.9.9",        // glean (next hop not resolved)
        "10.0.0.1",        // local
        "10.0.0.9",        // glean on the connected subnet
        "10.1.0.2",        // the neighbor itself
        "9.9.9.9",         // no route: ICMP unreachable
        "224.0.0.5",       // link-local multicast: local
        "239.1.1.1",       // multicast: dropped
        "255.255.255.255", // broadcast: local
        "0.0.0.0",
    ];
    let mut packets: Vec<Vec<u8>> = dsts
        .iter()
        .map(|d| {
            let mut p = ip4(64, 17, 30);
            p[16..20].copy_from_slice(&v4(d).to_be_bytes());
            p
        })
        .collect();
    // Headers too short to hold a destination.
    packets.push(ip4(64, 17, 0)[..19].to_vec());
    packets.push(Vec::new());
    let mut runs = Vec::new();
    for f in [&big, &small] {
        let mut h = Harness::new(Box::new(IpLookup::<false>::new(f)), 3);
        // A full frame, the cases over and over, so the staged passes run
        // over 256 packets with the odd ones spread among them.
        let mut pkts: Vec<_> = (0..FRAME_SIZE).map(|k| h.packet(&packets[k % packets.len()], 1)).collect();
        let nexts = h.run(&mut pkts);
        let fw = f.fwd.load();
        let outcome: Vec<(String, Option<AdjKind>)> = pkts
            .iter()
            .zip(&nexts)
            .map(|(&bi, &nx)| {
                let name = h.next_name(nx).to_string();
                let adj = (name != "error-drop" && name != "ip4-icmp-error")
                    .then(|| fw.adjs[h.vm.bufs.meta(bi).opaque[OPAQUE_ADJ] as usize].kind);
                (name, adj)
            })
            .collect();
        runs.push(outcome);
    }
    assert_eq!(runs[0], runs[1]);
    let first: Vec<&str> = runs[0][..packets.len()].iter().map(|(n, _)| n.as_str()).collect();
    let unrouted = if default { "ip4-rewrite" } else { "ip4-icmp-error" };
    assert_eq!(
        first,
        [
            "ip4-rewrite",
            "error-drop",
            "ip4-rewrite",
            "ip4-glean",
            "ip4-local",
            "ip4-glean",
            "ip4-rewrite",
            unrouted,
            "ip4-local",
            "error-drop",
            "ip4-local",
            unrouted,
            "error-drop",
            "error-drop"
        ],
        "default route {default}: {:?}",
        runs[0]
    );
}
