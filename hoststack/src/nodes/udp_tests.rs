//! `udp4-input` / `udp6-input` on single frames: the echo of a datagram to
//! a listener (headers, checksums, DF clear), counted drops for every
//! malformed datagram (bad checksum, IPv6's zero checksum, short header,
//! lying lengths), port unreachable for closed ports, a full rx fifo, a
//! chained (reassembled) datagram in and a chained one out, IPv6's
//! fragmentation at the source beyond the path MTU, and random bytes that
//! never panic.

use std::net::SocketAddr;

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::interface::InterfaceTable;
use rvpp_dataplane::testing::Harness;
use rvpp_dataplane::BufferIndex;
use rvpp_graph_nodes::ip::fib::{Fib, Path, Source};

use super::output::{build_udp_headers, PathMtu};
use super::udp_input::UdpInput;
use super::{lock, Clock, SessionLayer};
use crate::session::echo::EchoServer;
use crate::session::{App, AppEvent, AppSession, FiveTuple, PROTO_UDP};
use crate::udp::UdpPacket;

fn harness<const IP6: bool>(layer: &SessionLayer) -> Harness {
    Harness::new(Box::new(UdpInput::<IP6>::new(layer.clone(), 0, Clock::with_hz(1_000_000_000))), 2)
}

/// Listens on `[::]:port` and `0.0.0.0:port` with `app`, fifos of
/// `fifo` bytes.
fn listen(layer: &SessionLayer, port: u16, fifo: u32, app: Box<dyn App>) {
    let t = layer.table(0);
    let mut t = lock(&t);
    let mut cfg = t.config().clone();
    cfg.rx_fifo_size = fifo;
    cfg.tx_fifo_size = fifo;
    t.set_config(cfg);
    let a = t.attach(app);
    t.listen(a, PROTO_UDP, SocketAddr::new("0.0.0.0".parse().unwrap(), port)).unwrap();
    t.listen(a, PROTO_UDP, SocketAddr::new("::".parse().unwrap(), port)).unwrap();
}

struct Deaf;

impl App for Deaf {
    fn name(&self) -> &str {
        "deaf"
    }
    fn on_event(&mut self, _: &mut AppSession<'_>, _: AppEvent) {}
}

/// The IP + UDP bytes of a datagram from `from` to `to`.
fn packet(from: &str, to: &str, payload: &[u8]) -> Vec<u8> {
    let t = FiveTuple::udp(from.parse().unwrap(), to.parse().unwrap());
    let mut h = [0u8; 48];
    let n = build_udp_headers(&mut h, &t, (payload, &[]), 7).unwrap();
    [&h[..n], payload].concat()
}

/// A packet as ip-local hands it over: current_data at the UDP header,
/// l3 offset and flag set.
fn raw(h: &mut Harness, bytes: &[u8]) -> BufferIndex {
    let ip6 = bytes[0] >> 4 == 6;
    let bi = h.packet(bytes, 1);
    let m = h.vm.bufs.meta_mut(bi);
    m.l3_hdr_offset = 0;
    m.flags |= flags::L3_HDR_VALID;
    assert!(h.vm.bufs.advance(bi, if ip6 { 40 } else { 20 }));
    bi
}

/// Sets an IPv4 packet's total length (header checksum fixed) or an IPv6
/// packet's payload length to the bytes it has.
fn fix_ip_length(b: &mut [u8]) {
    if b[0] >> 4 == 4 {
        let n = b.len() as u16;
        b[2..4].copy_from_slice(&n.to_be_bytes());
        b[10..12].fill(0);
        let c = rvpp_dataplane::checksum::checksum(&b[..20]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        let n = (b.len() - 40) as u16;
        b[4..6].copy_from_slice(&n.to_be_bytes());
    }
}

/// Checks an emitted datagram (a chain, maybe) and returns its bytes:
/// header checksum, DF clear, UDP checksum, length fields.
fn emitted(h: &Harness, bi: BufferIndex) -> (Vec<u8>, Vec<u8>) {
    let d = h.vm.bufs.chain_bytes(bi);
    assert_ne!(h.vm.bufs.meta(bi).flags & flags::LOCALLY_ORIGINATED, 0);
    let hl = if d[0] >> 4 == 4 {
        assert_eq!(rvpp_dataplane::checksum::checksum(&d[..20]), 0, "ip4 header checksum");
        assert_eq!(u16::from_be_bytes([d[2], d[3]]) as usize, d.len());
        assert_eq!(d[6] & 0x40, 0, "DF clear: ip4-frag may cut it");
        assert_eq!((d[8], d[9]), (64, PROTO_UDP));
        20
    } else {
        assert_eq!(u16::from_be_bytes([d[4], d[5]]) as usize, d.len() - 40);
        assert_eq!((d[6], d[7]), (PROTO_UDP, 64));
        40
    };
    let p = UdpPacket::new_checked(&d[hl..]).unwrap();
    assert_eq!(p.len() as usize, d.len() - hl);
    let ok = if hl == 20 {
        p.checksum() != 0 && p.verify_checksum4(d[12..16].try_into().unwrap(), d[16..20].try_into().unwrap())
    } else {
        p.verify_checksum6(d[8..24].try_into().unwrap(), d[24..40].try_into().unwrap())
    };
    assert!(ok, "udp checksum of the emitted datagram");
    (d[..hl + 8].to_vec(), p.payload().to_vec())
}

#[test]
fn a_listener_echoes_a_datagram_to_its_source_over_ip4_and_ip6() {
    let layer = SessionLayer::default();
    listen(&layer, 7777, 64 * 1024, Box::new(EchoServer::default()));
    for (from, to, lookup) in
        [("10.0.0.2:40000", "10.0.0.1:7777", "ip4-lookup"), ("[fd00::2]:40000", "[fd00::1]:7777", "ip6-lookup")]
    {
        let mut h = if lookup == "ip4-lookup" { harness::<false>(&layer) } else { harness::<true>(&layer) };
        let a = raw(&mut h, &packet(from, to, b"hello"));
        let b = raw(&mut h, &packet(from, to, b"world!"));
        let nexts = h.run(&mut [a, b]);
        assert!(nexts.iter().all(|&n| h.next_name(n) == "(consumed)"), "{nexts:?}");
        let out = h.take_emitted();
        assert_eq!(out.len(), 2);
        let mut got = Vec::new();
        if lookup == "ip4-lookup" {
            // The thread's one identification counter numbers them.
            let id = |bi| u16::from_be_bytes([h.bytes(bi)[4], h.bytes(bi)[5]]);
            assert_eq!(id(out[1].1), id(out[0].1).wrapping_add(1));
            let t = layer.table(0);
            assert_eq!(lock(&t).ip_id(), id(out[1].1));
        }
        for &(next, bi) in &out {
            assert_eq!(h.next_name(next), lookup);
            let (hdr, payload) = emitted(&h, bi);
            let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
            let u = &hdr[hdr.len() - 8..];
            let ports = (u16::from_be_bytes([u[0], u[1]]), u16::from_be_bytes([u[2], u[3]]));
            assert_eq!(ports, (to.port(), from.port()), "answered to its source");
            got.push(payload);
        }
        assert_eq!(got, [b"hello".to_vec(), b"world!".to_vec()], "two datagrams, two answers");
        assert_eq!(h.counter("datagrams to sessions and listeners"), 2);
        assert_eq!(h.counter("datagrams sent"), 2);
        assert_eq!(h.buffers_in_use(), 2, "the requests' buffers were freed, the answers are out");
    }
}

#[test]
fn malformed_datagrams_are_counted_drops() {
    let layer = SessionLayer::default();
    listen(&layer, 53, 64 * 1024, Box::new(Deaf));
    let mut h = harness::<false>(&layer);
    let good = packet("10.0.0.2:4000", "10.0.0.1:53", b"query");
    // Checksum off by one.
    let mut bad = good.clone();
    bad[30] ^= 1;
    let b_ck = raw(&mut h, &bad);
    // Four bytes of UDP.
    let mut short = good[..24].to_vec();
    fix_ip_length(&mut short);
    let b_short = raw(&mut h, &short);
    // A length field of 7, and one 5 past the payload.
    let mut below = good.clone();
    below[24..26].copy_from_slice(&7u16.to_be_bytes());
    let b_below = raw(&mut h, &below);
    let mut beyond = good.clone();
    beyond[24..26].copy_from_slice(&(8 + 5 + 5u16).to_be_bytes());
    let b_beyond = raw(&mut h, &beyond);
    // No IP header before the UDP header.
    let b_nol3 = h.packet(&good[20..], 1);
    let nexts = h.run(&mut [b_ck, b_short, b_below, b_beyond, b_nol3]);
    assert!(nexts.iter().all(|&n| h.next_name(n) == "error-drop"), "{nexts:?}");
    for c in [
        "bad udp checksum",
        "datagram shorter than the udp header",
        "udp length below the udp header",
        "udp length beyond the ip payload",
        "ip header not before the udp header",
    ] {
        assert_eq!(h.counter(c), 1, "{c}");
    }

    // IPv4's zero checksum means none: delivered. Bytes past the length
    // field (the IP payload is longer) are ignored.
    let mut none = good.clone();
    none[26..28].fill(0);
    let b_none = raw(&mut h, &none);
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xee; 6]);
    fix_ip_length(&mut padded);
    let b_padded = raw(&mut h, &padded);
    let nexts = h.run(&mut [b_none, b_padded]);
    assert!(nexts.iter().all(|&n| h.next_name(n) == "(consumed)"), "{nexts:?}");
    assert_eq!(h.counter("bytes after the udp length ignored"), 1);
    assert_eq!(h.counter("datagrams to sessions and listeners"), 2);
    let t = layer.table(0);
    let rx: Vec<u32> = lock(&t).listeners().iter().map(|l| l.rx_len).collect();
    assert_eq!(rx, [2 * (44 + 5), 0], "two 5-byte datagrams, padding not included");

    // IPv6 forbids a zero checksum.
    let mut h = harness::<true>(&layer);
    let mut zero = packet("[fd00::2]:4000", "[fd00::1]:53", b"query");
    zero[46..48].fill(0);
    let bz = raw(&mut h, &zero);
    let nexts = h.run(&mut [bz]);
    assert_eq!(h.next_name(nexts[0]), "error-drop");
    assert_eq!(h.counter("udp6 checksum zero"), 1);
    assert_eq!(h.buffers_in_use(), 1, "left to error-drop to free");
}

#[test]
fn closed_ports_get_port_unreachable_and_so_does_a_disabled_layer() {
    let layer = SessionLayer::default();
    listen(&layer, 53, 64 * 1024, Box::new(Deaf));
    for ip6 in [false, true] {
        let mut h = if ip6 { harness::<true>(&layer) } else { harness::<false>(&layer) };
        let (from, to) = if ip6 { ("[fd00::2]:1", "[fd00::1]:54") } else { ("10.0.0.2:1", "10.0.0.1:54") };
        let bi = raw(&mut h, &packet(from, to, b"anyone?"));
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), if ip6 { "ip6-icmp-error" } else { "ip4-icmp-error" });
        assert_eq!(h.vm.bufs.meta(bi).current_data, 0, "the IP header is back in front");
        assert_eq!(h.counter("no session or listener: port unreachable"), 1);
    }
    layer.set_enabled(false);
    let mut h = harness::<false>(&layer);
    let bi = raw(&mut h, &packet("10.0.0.2:1", "10.0.0.1:53", b"x"));
    let nexts = h.run(&mut [bi]);
    assert_eq!(h.next_name(nexts[0]), "ip4-icmp-error");
    assert_eq!(h.counter("session layer disabled: port unreachable"), 1);
}

#[test]
fn a_full_rx_fifo_drops_and_counts() {
    let layer = SessionLayer::default();
    listen(&layer, 53, 4096, Box::new(Deaf));
    let mut h = harness::<false>(&layer);
    let p = packet("10.0.0.2:4000", "10.0.0.1:53", &[7; 1000]);
    let mut pkts: Vec<BufferIndex> = (0..10).map(|_| raw(&mut h, &p)).collect();
    let nexts = h.run(&mut pkts);
    // 3 × (44 + 1000) fit in 4096, a fourth does not.
    let names: Vec<&str> = nexts.iter().map(|&n| h.next_name(n)).collect();
    assert_eq!(names.iter().filter(|&&n| n == "(consumed)").count(), 3, "{names:?}");
    assert_eq!(names.iter().filter(|&&n| n == "error-drop").count(), 7, "{names:?}");
    assert_eq!(h.counter("session rx fifo full"), 7);
    assert_eq!(h.counter("datagrams to sessions and listeners"), 3);
    assert_eq!(h.buffers_in_use(), 7, "the dropped ones wait for error-drop, nothing else is held");
    let t = layer.table(0);
    assert_eq!(lock(&t).stats().udp.rx_dropped, 7);
}

#[test]
fn a_chained_datagram_in_and_a_chained_answer_out() {
    let layer = SessionLayer::default();
    listen(&layer, 7, 256 * 1024, Box::new(EchoServer::default()));
    let mut h = harness::<false>(&layer);
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 13 + 1) as u8).collect();
    let whole = packet("10.0.0.2:4000", "10.0.0.1:7", &payload);
    // As ip4-reassembly hands it over: a chain of three buffers.
    let parts = [&whole[..1500], &whole[1500..3000], &whole[3000..]];
    let bis: Vec<BufferIndex> = parts.iter().map(|p| h.packet(p, 1)).collect();
    for k in 0..2 {
        let m = h.vm.bufs.meta_mut(bis[k]);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = bis[k + 1].0;
    }
    let m = h.vm.bufs.meta_mut(bis[0]);
    m.total_length_not_including_first_buffer = (whole.len() - 1500) as u32;
    m.l3_hdr_offset = 0;
    m.flags |= flags::L3_HDR_VALID;
    assert!(h.vm.bufs.advance(bis[0], 20));
    let nexts = h.run(&mut [bis[0]]);
    assert_eq!(h.next_name(nexts[0]), "(consumed)");
    let out = h.take_emitted();
    assert_eq!(out.len(), 1);
    let bi = out[0].1;
    assert_eq!(h.vm.bufs.chain_len(bi), 20 + 8 + 5000);
    assert_ne!(h.vm.bufs.meta(bi).flags & flags::NEXT_PRESENT, 0, "the answer spans buffers");
    let (_, got) = emitted(&h, bi);
    assert!(got == payload, "the 5000 bytes came back as sent");
    assert_eq!(h.buffers_in_use(), 3, "the request's chain was freed whole, the answer is 3 buffers");
}

#[test]
fn ip6_datagrams_beyond_the_path_mtu_leave_in_fragments() {
    let mut ifs = InterfaceTable::default();
    ifs.add_hw("local0".into(), [0; 6], 0, None);
    ifs.add_hw("pg0".into(), [2, 0, 0, 0, 0, 1], 1300, None);
    let mut fib = Fib::default();
    fib.add(&ifs, "fd00::1".parse().unwrap(), 64, Source::Interface, &[Path::Attached(1)]).unwrap();
    let pm = PathMtu::new(&fib);
    assert_eq!(pm.mtu6(&"fd00::2".parse().unwrap()), Some(1300));
    let layer = SessionLayer::default();
    listen(&layer, 7, 64 * 1024, Box::new(EchoServer::default()));
    let node = UdpInput::<true>::new(layer.clone(), 0, Clock::with_hz(1_000_000_000)).with_path_mtu(pm);
    let mut h = Harness::new(Box::new(node), 2);
    // 1252 + 48 = 1300 fits; 1253 does not. (1500-byte frames come in:
    // rx is not limited by the tx MTU.)
    let fits = raw(&mut h, &packet("[fd00::2]:1", "[fd00::1]:7", &[1; 1252]));
    let big: Vec<u8> = (0..1253u32).map(|x| x as u8).collect();
    let over = raw(&mut h, &packet("[fd00::2]:1", "[fd00::1]:7", &big));
    h.run(&mut [fits, over]);
    let out = h.take_emitted();
    assert_eq!(out.len(), 3, "one whole datagram and two fragments");
    assert_eq!(emitted(&h, out[0].1).1, vec![1; 1252]);
    // 8 + 1253 UDP bytes: 1248 (a multiple of 8 within 1300 - 48), then 13.
    let mut udp = Vec::new();
    for (j, &(_, fb)) in out[1..].iter().enumerate() {
        let d = h.vm.bufs.chain_bytes(fb);
        assert!(d.len() <= 1300, "fragment {j}: {} bytes", d.len());
        assert_eq!(d[6], 44, "next header: Fragment");
        assert_eq!(d[40], PROTO_UDP);
        assert_eq!(u16::from_be_bytes([d[42], d[43]]), [1, 1248][j], "offset and M flag");
        assert_eq!(&d[8..24], &"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets(), "from the listener");
        assert_ne!(h.vm.bufs.meta(fb).flags & flags::LOCALLY_ORIGINATED, 0);
        udp.extend_from_slice(&d[48..]);
    }
    assert_eq!(udp.len(), 8 + 1253);
    let p = UdpPacket::new_checked(&udp[..]).unwrap();
    let (s, d): ([u8; 16], [u8; 16]) = (
        "fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets(),
        "fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets(),
    );
    assert!(p.verify_checksum6(&s, &d), "the checksum covers the whole datagram");
    assert_eq!(p.payload(), &big[..]);
    assert_eq!(h.counter("datagram too big (udp limit or fragment count)"), 0);
    assert_eq!(h.counter("datagrams sent"), 2);
}

#[test]
fn random_bytes_never_panic_and_every_buffer_is_accounted_for() {
    let layer = SessionLayer::default();
    listen(&layer, 53, 16 * 1024, Box::new(EchoServer::default()));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for ip6 in [false, true] {
        let mut h = if ip6 { harness::<true>(&layer) } else { harness::<false>(&layer) };
        let (from, to) = if ip6 { ("[fd00::2]:4000", "[fd00::1]:53") } else { ("10.0.0.2:4000", "10.0.0.1:53") };
        let hl = if ip6 { 40 } else { 20 };
        for round in 0..2000 {
            let mut pkts = Vec::new();
            for _ in 0..8 {
                let n = (rnd() % 64) as usize;
                let mut b = packet(from, to, &vec![0x5a; n]);
                let len = hl + (rnd() % (n as u64 + 12)) as usize;
                b.resize(len, 0);
                for _ in 0..(rnd() % 4) {
                    let at = hl + (rnd() as usize) % (len - hl).max(1);
                    if at < b.len() {
                        b[at] = rnd() as u8;
                    }
                }
                if round % 2 == 0 {
                    fix_ip_length(&mut b);
                }
                pkts.push(raw(&mut h, &b));
            }
            let nexts = h.run(&mut pkts);
            for (k, n) in nexts.iter().enumerate() {
                if h.next_name(*n) != "(consumed)" {
                    h.vm.bufs.free_one(pkts[k]);
                }
            }
            for (_, bi) in h.take_emitted() {
                emitted(&h, bi);
                h.vm.bufs.free_one(bi);
            }
            assert_eq!(h.buffers_in_use(), 0, "round {round}");
        }
        assert!(h.counter("datagrams to sessions and listeners") > 100, "some reached the listener");
    }
}
