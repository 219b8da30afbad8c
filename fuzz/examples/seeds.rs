//! Writes the seed inputs of every fuzz target into `fuzz/seeds/<target>/`:
//! a few inputs each that reach the nodes' deeper branches (an answered
//! ARP request or neighbor solicitation, an echo request, fragments out of
//! order, an expired TTL, tagged frames), which blind fuzzing in a short
//! CI run would not. `scripts/fuzz.sh` passes them to each run besides its
//! corpus. Regenerate with
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use std::path::{Path, PathBuf};

use rvpp_fuzz::fixture::{self, PEER_MAC};
use rvpp_fuzz::framing::join;

const US4: [u8; 4] = [10, 0, 1, 1];
const PEER4: [u8; 4] = [10, 0, 1, 2];
const US6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0001;
const PEER6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0002;
const PEER_LL: u128 = 0xfe80_0000_0000_0000_0211_22ff_fe33_4455;

fn ip4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[ttl, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn ip6(src: u128, dst: u128, nh: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[nh, hop]);
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn echo(ty: u8) -> Vec<u8> {
    let mut e = vec![ty, 0, 0, 0, 0x12, 0x34, 0, 1];
    e.extend(0u8..24);
    e
}

fn udp(len: usize) -> Vec<u8> {
    let mut u = vec![0x30, 0x39, 0x00, 0x35];
    u.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..len).map(|i| i as u8));
    u
}

/// An NS (135) or NA (136) for `target` with a link-layer address option.
fn nd(ty: u8, flags: u32, target: u128, opt: Option<u8>) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&target.to_be_bytes());
    if let Some(o) = opt {
        m.extend_from_slice(&[o, 1]);
        m.extend_from_slice(&PEER_MAC);
    }
    m
}

fn arp(op: u8, sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, op];
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&tpa);
    a
}

/// A frame carrying `l3` as received on `sw` (tags of a sub-interface).
fn frame(sw: u32, et: u16, dst: Option<[u8; 6]>, l3: &[u8]) -> (Vec<u8>, u32) {
    let (mut f, parent) = fixture::l2_header(sw, et, dst);
    f.extend_from_slice(l3);
    (f, parent)
}

type Frames = Vec<Vec<(Vec<u8>, u32, bool)>>;

fn one(p: Vec<u8>, rx: u32) -> Frames {
    vec![vec![(p, rx, true)]]
}

fn ip4_seeds() -> Vec<(u8, Frames)> {
    let dgram = udp(40);
    let frag = |off: usize, mf: bool| {
        let f = (off / 8) as u16 | if mf { 0x2000 } else { 0 };
        (ip4(PEER4, US4, 17, 64, 7, f, &dgram[off..off + 16]), 1, true)
    };
    // An echo request in fragments, its ICMP checksum computed whole.
    let mut whole = ip4(PEER4, US4, 1, 64, 9, 0, &echo(8));
    rvpp_fuzz::wire::fix(&mut whole);
    let icmp = &whole[20..];
    let echo_frag = |off: usize, len: usize, mf: bool| {
        let f = (off / 8) as u16 | if mf { 0x2000 } else { 0 };
        (ip4(PEER4, US4, 1, 64, 9, f, &icmp[off..off + len]), 1, true)
    };
    vec![
        (0, vec![vec![echo_frag(16, 16, false), echo_frag(0, 16, true)]]),
        (0, one(ip4(PEER4, US4, 1, 64, 1, 0, &echo(8)), 1)),
        (1, one(ip4([10, 0, 3, 2], [10, 0, 3, 1], 1, 64, 1, 0, &echo(8)), 3)),
        (0, vec![vec![frag(16, true), frag(32, false)], vec![frag(0, true)]]),
        (0, one(ip4(PEER4, US4, 17, 0, 2, 0, &udp(8)), 1)),
        (0, one(ip4(PEER4, US4, 6, 64, 3, 0, &[0; 20]), 2)),
    ]
}

fn ip6_seeds() -> Vec<(u8, Frames)> {
    let sol = 0xff02_0000_0000_0000_0000_0001_ff00_0001;
    let ns = nd(135, 0, US6, Some(1));
    vec![
        (1, one(ip6(PEER_LL, sol, 58, 255, &ns), 1)),
        (0, one(ip6(PEER_LL, sol, 58, 255, &nd(135, 0, US6 + (2 << 96), Some(1))), 3)),
        (1, one(ip6(0, sol, 58, 255, &nd(135, 0, US6, None)), 1)),
        (1, one(ip6(PEER_LL, US6, 58, 255, &nd(136, 0x2000_0000, PEER_LL, Some(2))), 1)),
        (0, one(ip6(PEER6, US6, 58, 64, &echo(128)), 1)),
        (0, one(ip6(PEER6, US6, 17, 64, &udp(8)), 1)),
        (0, one(ip6(PEER6, US6, 17, 0, &udp(8)), 1)),
    ]
}

fn arp_seeds() -> Vec<(u8, Frames)> {
    let req = arp(1, PEER_MAC, PEER4, US4);
    let (f, rx) = frame(1, 0x0806, Some([0xff; 6]), &req);
    vec![
        (0, one(req.clone(), 1)),
        (1, one(arp(1, PEER_MAC, [10, 0, 3, 2], [10, 0, 3, 1]), 3)),
        (2, one(f, rx)),
        (0, one(arp(2, PEER_MAC, PEER4, US4), 1)),
        (0, one(arp(1, PEER_MAC, PEER4, PEER4), 1)),
    ]
}

fn ethernet_seeds() -> Vec<(u8, Frames)> {
    let l3 = ip4(PEER4, US4, 1, 64, 1, 0, &echo(8));
    let mut frames = vec![];
    for sw in [1, 3, 4, 5, 6] {
        let (f, rx) = frame(sw, 0x0800, None, &l3);
        frames.push((f, rx, false));
    }
    let (f, rx) = frame(1, 0x0806, Some([0xff; 6]), &arp(1, PEER_MAC, PEER4, US4));
    frames.push((f, rx, false));
    vec![(0, vec![frames])]
}

const PG: &[&str] = &[
    "{\n  name s0  limit 10  size 64-64  rate 1e6  node ethernet-input  interface pg0\n  data {\n    \
     IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06\n    UDP: 192.168.1.10 -> 192.168.1.11\n    UDP: 1234 -> 5678\n    \
     incrementing 22\n  }\n}\n",
    "name s1 limit 0 size 60-128 node ip6-input data { ICMP6: ::1 -> ::2 ICMP echo_request incrementing 30 }",
    "{ name s2 size 64+100 node ethernet-input data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 vlan 100 \
     UDP: 1.0.0.1 - 1.0.0.3 -> 2.0.0.1 ttl 3 UDP: 1234 - 1235 -> 5678 random 10 } }",
    "name s3 node ethernet-input data { ARP: 00:01:02:03:04:05 -> ff:ff:ff:ff:ff:ff hex 0xdeadbeef }",
];

const CONF: &[&str] = &[
    "unix {\n  nodaemon\n  log /var/log/rvpp.log\n  cli-listen /run/rvpp/cli.sock\n  gid 1000\n}\n\
     cpu { main-core 1 corelist-workers 2-3,5 }\nbuffers {\n  buffers-per-numa 16384\n  default data-size 2048\n  \
     page-size default-hugepage\n}\nplugins { plugin default { disable } plugin dpdk_plugin.so { enable } }\n\
     logging { default-log-level info class pg { level debug } }\n/* raw */ dpdk { dev 0000:00:08.0 { num-rx-queues 2 } }\n",
    "unix interactive\nheapsize 1G\ncpu { workers 2 skip-cores 1 }\napi-segment { prefix rvpp gid 1000 }\n",
];

const CLI: &[&str] = &[
    "create loopback interface\nset interface state loop0 up\nset interface ip address loop0 10.0.0.1/24\n\
     set interface ip address loop0 2001:db8::1/64\nshow interface address\nip route add 10.1.0.0/16 via 10.0.0.2 loop0\n\
     show ip fib\nset ip neighbor loop0 10.0.0.2 00:11:22:33:44:55\nshow ip neighbors\n",
    "create packet-generator interface pg0\ncreate sub-interfaces pg0 100\ncreate sub-interfaces pg0 7 dot1ad 200 inner-dot1q 300 exact-match\n\
     set interface l2 xconnect pg0.100 pg0\nshow mode\ndelete sub-interface pg0.7\nset interface mtu 1500 pg0\n",
    "create packet-generator interface pg0\npacket-generator new { name s0 limit 5 node ethernet-input interface pg0 data { IP4: 00:01:02:03:04:05 -> \
     00:02:03:04:05:06 UDP: 1.0.0.1 -> 1.0.0.2 UDP: 1 -> 2 incrementing 10 } }\nshow packet-generator\n\
     packet-generator enable-stream s0\ntrace add pg-input 10\nshow runtime\nshow errors\nsh hard\n",
];

fn write(dir: &Path, target: &str, seeds: impl IntoIterator<Item = Vec<u8>>) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("seed directory");
    for (k, s) in seeds.into_iter().enumerate() {
        std::fs::write(d.join(format!("seed-{k}")), s).expect("seed file");
    }
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let packets = |v: Vec<(u8, Frames)>| v.into_iter().map(|(flags, f)| join(flags, &f)).collect::<Vec<_>>();
    write(&dir, "ip4_input", packets(ip4_seeds()));
    write(&dir, "ip6_input", packets(ip6_seeds()));
    write(&dir, "arp_input", packets(arp_seeds()));
    write(&dir, "ethernet_input", packets(ethernet_seeds()));
    write(&dir, "pg_spec", PG.iter().map(|s| s.as_bytes().to_vec()));
    write(&dir, "startup_conf", CONF.iter().map(|s| s.as_bytes().to_vec()));
    write(&dir, "cli", CLI.iter().map(|s| s.as_bytes().to_vec()));
    println!("seeds written to {}", dir.display());
}
