//! `tcp4-input` / `tcp6-input` on single frames: RSTs for closed ports,
//! SYN-ACKs from listeners, counted drops for every malformed segment, the
//! disabled layer's port unreachable, segments over buffer chains both
//! ways, an ACK for every second segment, the MSS from the route's MTU,
//! and random bytes that never panic.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::testing::Harness;
use rvpp_dataplane::BufferIndex;

use super::output::build_packet;
use super::tcp_input::TcpInput;
use super::{lock, Clock, SessionLayer};
use crate::session::echo::EchoServer;
use crate::session::{App, AppEvent, AppSession, FiveTuple, RouteMtu, PROTO_TCP};
use crate::tcp::{self, Flags, Seq, TcpPacket, TcpRepr};

fn harness<const IP6: bool>(layer: &SessionLayer) -> Harness {
    Harness::new(Box::new(TcpInput::<IP6>::new(layer.clone(), 0, Clock::with_hz(1_000_000_000))), 2)
}

/// A packet from `from` to `to` as ip-local hands it over: current_data at
/// the TCP header, l3 offset and flag set.
fn deliver(h: &mut Harness, from: &str, to: &str, repr: &TcpRepr, payload: &[u8]) -> BufferIndex {
    let b = packet(from, to, repr, payload);
    raw(h, &b, from.starts_with('['))
}

/// The IP + TCP bytes of a segment from `from` to `to`.
fn packet(from: &str, to: &str, repr: &TcpRepr, payload: &[u8]) -> Vec<u8> {
    let t = FiveTuple::tcp(from.parse().unwrap(), to.parse().unwrap());
    let mut buf = vec![0u8; 100 + payload.len()];
    let n = build_packet(&mut buf, &t, repr, (payload, &[]), 9).unwrap();
    buf.truncate(n);
    buf
}

fn raw(h: &mut Harness, bytes: &[u8], ip6: bool) -> BufferIndex {
    let bi = h.packet(bytes, 1);
    let m = h.vm.bufs.meta_mut(bi);
    m.l3_hdr_offset = 0;
    m.flags |= flags::L3_HDR_VALID;
    assert!(h.vm.bufs.advance(bi, if ip6 { 40 } else { 20 }));
    bi
}

fn syn(src_port: u16, dst_port: u16) -> TcpRepr {
    TcpRepr {
        src_port,
        dst_port,
        seq: Seq(5000),
        flags: Flags::SYN,
        window: 64240,
        mss: Some(1460),
        sack_permitted: true,
        wscale: Some(7),
        ..TcpRepr::default()
    }
}

/// The TCP header of an emitted packet, checksums verified.
fn emitted_tcp(h: &Harness, bi: BufferIndex) -> (Vec<u8>, TcpRepr) {
    let d = h.bytes(bi);
    let (ihl, ok) = if d[0] >> 4 == 4 {
        assert_eq!(rvpp_dataplane::checksum::checksum(&d[..20]), 0);
        let p = TcpPacket::new_checked(&d[20..]).unwrap();
        (20, p.verify_checksum4(d[12..16].try_into().unwrap(), d[16..20].try_into().unwrap()))
    } else {
        let p = TcpPacket::new_checked(&d[40..]).unwrap();
        (40, p.verify_checksum6(d[8..24].try_into().unwrap(), d[24..40].try_into().unwrap()))
    };
    assert!(ok, "tcp checksum of the emitted segment");
    let r = TcpRepr::parse(&TcpPacket::new_checked(&d[ihl..]).unwrap()).unwrap();
    assert_ne!(h.vm.bufs.meta(bi).flags & flags::LOCALLY_ORIGINATED, 0);
    (d, r)
}

#[test]
fn closed_port_is_answered_with_a_rst_to_the_lookup() {
    let layer = SessionLayer::default();
    let mut h = harness::<false>(&layer);
    let bi = deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &syn(40000, 80), &[]);
    let nexts = h.run(&mut [bi]);
    assert_eq!(h.next_name(nexts[0]), "(consumed)");
    let out = h.take_emitted();
    assert_eq!(out.len(), 1);
    assert_eq!(h.next_name(out[0].0), "ip4-lookup");
    let (d, r) = emitted_tcp(&h, out[0].1);
    assert_eq!((&d[12..16], &d[16..20]), (&[10, 0, 0, 1][..], &[10, 0, 0, 2][..]));
    assert_eq!((r.src_port, r.dst_port, r.flags, r.ack), (80, 40000, Flags::RST | Flags::ACK, Seq(5001)));
    assert_eq!(h.counter("resets sent (no session or listener)"), 1);
    assert_eq!(h.buffers_in_use(), 1, "the SYN's buffer was freed, the RST's is out");

    // IPv6 too.
    let mut h = harness::<true>(&layer);
    let bi = deliver(&mut h, "[fd00::2]:40000", "[fd00::1]:80", &syn(40000, 80), &[]);
    h.run(&mut [bi]);
    let out = h.take_emitted();
    assert_eq!(h.next_name(out[0].0), "ip6-lookup");
    let (d, r) = emitted_tcp(&h, out[0].1);
    assert_eq!(d[6], PROTO_TCP);
    assert!(r.flags.rst());
}

#[test]
fn a_listener_answers_with_a_syn_ack_and_the_handshake_makes_a_session() {
    let layer = SessionLayer::default();
    {
        let t = layer.table(0);
        let mut t = lock(&t);
        let app = t.attach(Box::new(EchoServer::default()));
        t.listen(app, PROTO_TCP, "0.0.0.0:80".parse().unwrap()).unwrap();
    }
    let mut h = harness::<false>(&layer);
    let bi = deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &syn(40000, 80), &[]);
    h.run(&mut [bi]);
    let out = h.take_emitted();
    let (_, sa) = emitted_tcp(&h, out[0].1);
    assert_eq!((sa.flags, sa.ack, sa.mss, sa.sack_permitted), (Flags::SYN | Flags::ACK, Seq(5001), Some(1460), true));
    let ack = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: Seq(5001),
        ack: sa.seq + 1,
        flags: Flags::ACK | Flags::PSH,
        window: 502,
        ..TcpRepr::default()
    };
    let bi = deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &ack, b"hello");
    h.run(&mut [bi]);
    let t = layer.table(0);
    let t = lock(&t);
    let tuple = FiveTuple::tcp("10.0.0.1:80".parse().unwrap(), "10.0.0.2:40000".parse::<SocketAddr>().unwrap());
    let s = t.lookup(&tuple).and_then(|i| t.session(i)).expect("a session for the tuple");
    assert_eq!(s.conn.tcp().map(|c| c.state()), Some(crate::tcp::State::Established));
    drop(t);
    // The echo went out with the ACK.
    let out = h.take_emitted();
    let echoed: Vec<u8> = out
        .iter()
        .flat_map(|&(_, bi)| TcpPacket::new_checked(&h.bytes(bi)[20..]).unwrap().payload().to_vec())
        .collect();
    assert_eq!(echoed, b"hello");
}

#[test]
fn malformed_segments_are_counted_drops() {
    let layer = SessionLayer::default();
    let mut h = harness::<false>(&layer);
    let mut bytes = packet("10.0.0.2:40000", "10.0.0.1:80", &syn(40000, 80), &[]);
    let ip = |h: &mut Harness, b: &[u8]| raw(h, b, false);
    // Checksum off by one.
    let mut bad = bytes.clone();
    bad[36] ^= 1;
    let b_ck = ip(&mut h, &bad);
    // 12 bytes of TCP.
    let b_short = ip(&mut h, &bytes[..32]);
    // Data offset 15 words in a 40-byte header.
    let mut off = bytes.clone();
    off[32] = 0xf0;
    let b_off = ip(&mut h, &off);
    // SYN+FIN (checksum fixed so only the flags are wrong).
    let fix = |b: &mut Vec<u8>| {
        let (s, d): ([u8; 4], [u8; 4]) = (b[12..16].try_into().unwrap(), b[16..20].try_into().unwrap());
        TcpPacket::new_unchecked(&mut b[20..]).fill_checksum4(&s, &d);
    };
    let mut synfin = bytes.clone();
    synfin[33] = 0x03;
    fix(&mut synfin);
    let b_flags = ip(&mut h, &synfin);
    // An MSS option claiming 40 bytes.
    bytes[41] = 40;
    fix(&mut bytes);
    let b_opt = ip(&mut h, &bytes);
    // No IP header before the TCP header.
    let b_nol3 = h.packet(&off[20..], 1);
    let nexts = h.run(&mut [b_ck, b_short, b_off, b_flags, b_opt, b_nol3]);
    assert!(nexts.iter().all(|&n| h.next_name(n) == "error-drop"), "{nexts:?}");
    for c in [
        "bad tcp checksum",
        "segment shorter than the tcp header",
        "bad tcp data offset",
        "illegal tcp flag combination",
        "tcp option overruns the header",
        "ip header not before the tcp header",
    ] {
        assert_eq!(h.counter(c), 1, "{c}");
    }
    assert!(h.take_emitted().is_empty());
}

#[test]
fn disabled_layer_gives_port_unreachable() {
    let layer = SessionLayer::default();
    layer.set_enabled(false);
    let mut h = harness::<false>(&layer);
    let bi = deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &syn(40000, 80), &[]);
    let nexts = h.run(&mut [bi]);
    assert_eq!(h.next_name(nexts[0]), "ip4-icmp-error");
    assert_eq!(h.vm.bufs.meta(bi).current_data, 0, "the IP header is back in front");
    assert_eq!(h.counter("session layer disabled: port unreachable"), 1);
}

#[test]
fn random_bytes_never_panic_and_every_buffer_is_accounted_for() {
    let layer = SessionLayer::default();
    {
        let t = layer.table(0);
        let mut t = lock(&t);
        let app = t.attach(Box::new(EchoServer::default()));
        t.listen(app, PROTO_TCP, "[::]:80".parse().unwrap()).unwrap();
        t.listen(app, PROTO_TCP, "0.0.0.0:80".parse().unwrap()).unwrap();
    }
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for ip6 in [false, true] {
        let mut h = if ip6 { harness::<true>(&layer) } else { harness::<false>(&layer) };
        let template = packet(
            if ip6 { "[fd00::2]:40000" } else { "10.0.0.2:40000" },
            if ip6 { "[fd00::1]:80" } else { "10.0.0.1:80" },
            &syn(40000, 80),
            &[],
        );
        let hl = if ip6 { 40 } else { 20 };
        for round in 0..2000 {
            let mut pkts = Vec::new();
            for _ in 0..8 {
                let mut b = template.clone();
                let len = hl + (rnd() % 80) as usize;
                b.resize(len, 0);
                for _ in 0..(rnd() % 6) {
                    let at = hl + (rnd() as usize) % (len - hl).max(1);
                    if at < b.len() {
                        b[at] = rnd() as u8;
                    }
                }
                if round % 2 == 0 && len >= hl + 20 {
                    // Half the rounds carry a valid checksum, so the
                    // bytes reach the parser and the sessions.
                    let s = b[if ip6 { 8 } else { 12 }..hl].to_vec();
                    if ip6 {
                        let (src, dst): ([u8; 16], [u8; 16]) =
                            (s[..16].try_into().unwrap(), s[16..32].try_into().unwrap());
                        TcpPacket::new_unchecked(&mut b[40..]).fill_checksum6(&src, &dst);
                    } else {
                        let (src, dst): ([u8; 4], [u8; 4]) = (s[..4].try_into().unwrap(), s[4..8].try_into().unwrap());
                        TcpPacket::new_unchecked(&mut b[20..]).fill_checksum4(&src, &dst);
                    }
                }
                pkts.push(raw(&mut h, &b, ip6));
            }
            let nexts = h.run(&mut pkts);
            for (k, n) in nexts.iter().enumerate() {
                if h.next_name(*n) != "(consumed)" {
                    h.vm.bufs.free_one(pkts[k]);
                }
            }
            for (_, bi) in h.take_emitted() {
                emitted_tcp(&h, bi);
                h.vm.bufs.free_one(bi);
            }
            assert_eq!(h.buffers_in_use(), 0, "round {round}");
        }
    }
}

/// `bytes` (an IP packet) over buffers cut at `cuts`, chained, as ip-local
/// hands a chained packet over.
fn chained(h: &mut Harness, bytes: &[u8], cuts: &[usize], ip6: bool) -> BufferIndex {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(bytes.len());
    let bis: Vec<BufferIndex> = bounds.windows(2).map(|w| h.packet(&bytes[w[0]..w[1]], 1)).collect();
    for k in 0..bis.len() - 1 {
        let m = h.vm.bufs.meta_mut(bis[k]);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = bis[k + 1].0;
    }
    let m = h.vm.bufs.meta_mut(bis[0]);
    m.total_length_not_including_first_buffer = (bytes.len() - cuts[0]) as u32;
    m.l3_hdr_offset = 0;
    m.flags |= flags::L3_HDR_VALID;
    assert!(h.vm.bufs.advance(bis[0], if ip6 { 40 } else { 20 }));
    bis[0]
}

/// Keeps every byte it receives.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl App for Sink {
    fn name(&self) -> &str {
        "sink"
    }
    fn on_event(&mut self, s: &mut AppSession<'_>, e: AppEvent) {
        if e == AppEvent::Rx {
            let n = {
                let (a, b) = s.peek();
                let mut got = self.0.lock().unwrap();
                got.extend_from_slice(a);
                got.extend_from_slice(b);
                a.len() + b.len()
            };
            s.consume(n as u32);
        }
    }
}

/// Completes a handshake from 10.0.0.2:40000 to a listener on port 80
/// (the SYN offering `mss`); returns the final ACK's header for data to
/// follow it.
fn handshake(h: &mut Harness, mss: u16) -> (TcpRepr, TcpRepr) {
    let bi = deliver(h, "10.0.0.2:40000", "10.0.0.1:80", &TcpRepr { mss: Some(mss), ..syn(40000, 80) }, &[]);
    h.run(&mut [bi]);
    let out = h.take_emitted();
    let (_, sa) = emitted_tcp(h, out[0].1);
    h.vm.bufs.free_one(out[0].1);
    let ack = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: Seq(5001),
        ack: sa.seq + 1,
        flags: Flags::ACK,
        window: 2000,
        ..TcpRepr::default()
    };
    let bi = deliver(h, "10.0.0.2:40000", "10.0.0.1:80", &ack, &[]);
    h.run(&mut [bi]);
    // At most a window update (the window grew past the SYN-ACK's 64 KiB).
    for (_, bi) in h.take_emitted() {
        assert_eq!(emitted_tcp(h, bi).1.flags, Flags::ACK);
        h.vm.bufs.free_one(bi);
    }
    (sa, ack)
}

fn stream(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn chained_segments_are_read_in_place_and_every_second_one_is_acked() {
    let layer = SessionLayer::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    {
        let t = layer.table(0);
        let mut t = lock(&t);
        let app = t.attach(Box::new(Sink(got.clone())));
        t.listen(app, PROTO_TCP, "0.0.0.0:80".parse().unwrap()).unwrap();
    }
    let mut h = harness::<false>(&layer);
    let (_, ack) = handshake(&mut h, 1460);
    let data = stream(5000);
    let seg = |from: usize, to: usize| {
        let r = TcpRepr { seq: Seq(5001 + from as u32), ..ack };
        packet("10.0.0.2:40000", "10.0.0.1:80", &r, &data[from..to])
    };
    // One segment in one buffer, one cut at odd offsets in its payload,
    // one cut inside its TCP header, all in one frame with two more.
    let a = deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &TcpRepr { seq: Seq(5001), ..ack }, &data[..1000]);
    let b = chained(&mut h, &seg(1000, 2001), &[47, 541], false);
    let c = chained(&mut h, &seg(2001, 3000), &[30, 301, 302], false);
    let d =
        deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &TcpRepr { seq: Seq(5001 + 3000), ..ack }, &data[3000..3900]);
    let e =
        deliver(&mut h, "10.0.0.2:40000", "10.0.0.1:80", &TcpRepr { seq: Seq(5001 + 3900), ..ack }, &data[3900..4400]);
    let nexts = h.run(&mut [a, b, c, d, e]);
    assert!(nexts.iter().all(|&n| h.next_name(n) == "(consumed)"));
    assert_eq!(*got.lock().unwrap(), data[..4400], "every byte, in order");
    // An ACK for every second segment, each sent before the next segment
    // was handled; the fifth's waits for the delayed-ACK timer (or for
    // data to ride on).
    let out = h.take_emitted();
    let acks: Vec<Seq> = out.iter().map(|&(_, bi)| emitted_tcp(&h, bi).1.ack).collect();
    assert_eq!(acks, [Seq(5001 + 2001), Seq(5001 + 3900)]);
    for (_, bi) in out {
        h.vm.bufs.free_one(bi);
    }
    assert_eq!(h.buffers_in_use(), 0, "every chain freed whole");
    // A byte flipped in a chain's last buffer: a bad checksum, nothing taken.
    let mut bad = seg(4400, 5000);
    let last = bad.len() - 1;
    bad[last] ^= 0x10;
    let bi = chained(&mut h, &bad, &[100, 333], false);
    let nexts = h.run(&mut [bi]);
    assert_eq!(h.next_name(nexts[0]), "error-drop");
    assert_eq!(h.counter("bad tcp checksum"), 1);
    assert_eq!(got.lock().unwrap().len(), 4400);
    h.vm.bufs.free_one(bi);
}

#[test]
fn segments_larger_than_a_buffer_leave_as_chains_with_their_checksum() {
    let layer = SessionLayer::default();
    layer.set_tcp_config(tcp::Config { mss: 8960, ..tcp::Config::default() });
    {
        let t = layer.table(0);
        let mut t = lock(&t);
        let app = t.attach(Box::new(EchoServer::default()));
        t.listen(app, PROTO_TCP, "0.0.0.0:80".parse().unwrap()).unwrap();
    }
    let mut h = harness::<false>(&layer);
    let (sa, ack) = handshake(&mut h, 8960);
    assert_eq!(sa.mss, Some(8960));
    // 7000 bytes in, over four buffers; echoed back in one segment over
    // four buffers (7040 bytes of packet in 2 KiB buffers).
    let data = stream(7000);
    let r = TcpRepr { flags: Flags::ACK | Flags::PSH, window: 60000, ..ack };
    let pkt = packet("10.0.0.2:40000", "10.0.0.1:80", &r, &data);
    let bi = chained(&mut h, &pkt, &[1500, 3001, 5000], false);
    h.run(&mut [bi]);
    let out = h.take_emitted();
    assert_eq!(out.len(), 1, "the echo carries the ACK");
    let bi = out[0].1;
    assert_eq!(h.vm.bufs.chain_len(bi), 7040);
    let whole = h.vm.bufs.chain_bytes(bi);
    assert_eq!(whole.len(), 7040);
    assert_eq!(u16::from_be_bytes([whole[2], whole[3]]), 7040, "ip total length");
    assert_eq!(rvpp_dataplane::checksum::checksum(&whole[..20]), 0);
    let p = TcpPacket::new_checked(&whole[20..]).unwrap();
    assert!(p.verify_checksum4(&[10, 0, 0, 1], &[10, 0, 0, 2]), "checksum over the whole chain");
    assert_eq!(p.payload(), &data[..]);
    assert_eq!(TcpRepr::parse(&p).unwrap().ack, Seq(5001 + 7000));
    h.vm.bufs.free_one(bi);
    assert_eq!(h.buffers_in_use(), 0);
}

#[test]
fn the_mss_offered_follows_the_route_mtu() {
    struct Mtu;
    impl RouteMtu for Mtu {
        fn mtu(&self, dst: IpAddr) -> Option<u16> {
            (dst == IpAddr::from([10, 0, 0, 2])).then_some(1000)
        }
    }
    let layer = SessionLayer::default();
    layer.set_route_mtu(Arc::new(Mtu));
    {
        let t = layer.table(0);
        let mut t = lock(&t);
        let app = t.attach(Box::new(EchoServer::default()));
        t.listen(app, PROTO_TCP, "0.0.0.0:80".parse().unwrap()).unwrap();
    }
    let mut h = harness::<false>(&layer);
    let (sa, _) = handshake(&mut h, 1460);
    assert_eq!(sa.mss, Some(960), "1000 less the IP and TCP headers");
    // Another peer, no route known: the configured MSS.
    let bi = deliver(&mut h, "10.0.0.3:40000", "10.0.0.1:80", &syn(40000, 80), &[]);
    h.run(&mut [bi]);
    let out = h.take_emitted();
    assert_eq!(emitted_tcp(&h, out[0].1).1.mss, Some(1460));
}

#[test]
fn a_super_segment_leaves_as_one_chain_for_the_device_to_cut() {
    use super::output::PacketSink;
    use crate::session::SegmentSink;
    let layer = SessionLayer::default();
    let mut h = harness::<false>(&layer);
    let t = FiveTuple::tcp("10.0.0.1:80".parse().unwrap(), "10.0.0.2:40000".parse().unwrap());
    let r = TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq: Seq(1000),
        ack: Seq(5),
        flags: Flags::ACK | Flags::PSH,
        window: 500,
        timestamp: Some((7, 9)),
        ..TcpRepr::default()
    };
    let data = stream(20_000);
    let mut ip_id = 100u16;
    let mut sink = PacketSink::new(&mut h.vm, 1, 2, &mut ip_id);
    // Without a route to look up, no offload is offered.
    assert_eq!(sink.tso_max(&t), 0);
    sink.segment_gso(&t, 1, &r, (&data[..7000], &data[7000..]), 1448);
    assert_eq!(sink.counts.sent, 1);
    let out = h.take_emitted();
    assert_eq!(out.len(), 1, "one packet");
    let bi = out[0].1;
    let m = *h.vm.bufs.meta(bi);
    assert_ne!(m.flags & flags::GSO, 0);
    assert_eq!(m.gso_size, 1448);
    let whole = h.vm.bufs.chain_bytes(bi);
    let total = 20 + 32 + 20_000;
    assert_eq!((whole.len(), u16::from_be_bytes([whole[2], whole[3]]) as usize), (total, total));
    assert_eq!(u16::from_be_bytes([whole[4], whole[5]]), 101, "the first segment's IP id");
    assert_eq!(ip_id, 100 + 14, "ids for the 14 segments the device makes");
    assert_eq!(rvpp_dataplane::checksum::checksum(&whole[..20]), 0);
    // The TCP checksum field holds the pseudo-header sum over the whole
    // TCP length, for the device to complete per segment.
    let pseudo = rvpp_dataplane::checksum::pseudo4(&[10, 0, 0, 1], &[10, 0, 0, 2], PROTO_TCP, (32 + 20_000) as u16);
    let p = TcpPacket::new_checked(&whole[20..]).unwrap();
    assert_eq!(p.checksum(), rvpp_dataplane::checksum::fold(pseudo));
    assert_eq!(p.payload(), &data[..]);
    h.vm.bufs.free_one(bi);
    assert_eq!(h.buffers_in_use(), 0);
}
