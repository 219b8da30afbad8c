//! Two session tables wired back to back in simulated time: segments and
//! datagrams go through the real packet builders (IP + TCP / UDP headers,
//! checksums) and are parsed and verified on the other side, as the graph
//! nodes do. UDP's own table tests are in `udp_tests.rs`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use super::echo::EchoServer;
use super::*;
use crate::nodes::output::{build_packet, build_udp_headers};
use crate::tcp::{self, TcpPacket, TcpRepr};
use crate::udp::UdpPacket;

pub(super) const MS: u64 = 1_000_000;

/// Segments and datagrams a table sent, as packets.
#[derive(Default)]
pub(super) struct Wire {
    pub packets: Vec<(u32, Vec<u8>)>,
    pub room: usize,
}

impl SegmentSink for Wire {
    fn room(&self) -> usize {
        self.room
    }
    fn segment(&mut self, tuple: &FiveTuple, sw: u32, repr: &TcpRepr, payload: (&[u8], &[u8])) {
        self.room -= 1;
        let mut buf = vec![0u8; 2048];
        let n = build_packet(&mut buf, tuple, repr, payload, 1).expect("fits");
        buf.truncate(n);
        self.packets.push((sw, buf));
    }
    fn datagram(&mut self, tuple: &FiveTuple, sw: u32, payload: (&[u8], &[u8])) {
        self.room -= 1;
        let mut h = [0u8; 48];
        let n = build_udp_headers(&mut h, tuple, payload, 1).expect("a sendable datagram");
        self.packets.push((sw, [&h[..n], payload.0, payload.1].concat()));
    }
}

/// The IP protocol of a packet.
fn protocol(pkt: &[u8]) -> u8 {
    if pkt[0] >> 4 == 4 {
        pkt[9]
    } else {
        pkt[6]
    }
}

/// Parses and verifies a UDP packet the way udp4-input/udp6-input do;
/// returns the tuple seen by the receiver (local = destination) and the
/// payload.
pub(super) fn receive_udp(pkt: &[u8]) -> (FiveTuple, Vec<u8>) {
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = if pkt[0] >> 4 == 4 {
        assert_eq!(rvpp_dataplane::checksum::checksum(&pkt[..20]), 0, "ip4 header checksum");
        assert_eq!(pkt[6] & 0x40, 0, "DF clear");
        let s: [u8; 4] = pkt[12..16].try_into().unwrap();
        let d: [u8; 4] = pkt[16..20].try_into().unwrap();
        (s.into(), d.into(), &pkt[20..])
    } else {
        let s: [u8; 16] = pkt[8..24].try_into().unwrap();
        let d: [u8; 16] = pkt[24..40].try_into().unwrap();
        (s.into(), d.into(), &pkt[40..])
    };
    assert_eq!(protocol(pkt), PROTO_UDP);
    let p = UdpPacket::new_checked(l4).expect("a valid udp header");
    assert_eq!(p.len() as usize, l4.len());
    let ok = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => p.checksum() != 0 && p.verify_checksum4(&s.octets(), &d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => p.verify_checksum6(&s.octets(), &d.octets()),
        _ => false,
    };
    assert!(ok, "udp checksum");
    (FiveTuple::udp(SocketAddr::new(dst, p.dst_port()), SocketAddr::new(src, p.src_port())), p.payload().to_vec())
}

/// Parses and verifies a packet the way tcp4-input/tcp6-input do; returns
/// the tuple seen by the receiver (local = destination).
pub(super) fn receive(pkt: &[u8]) -> (FiveTuple, TcpRepr, Vec<u8>) {
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = if pkt[0] >> 4 == 4 {
        assert_eq!(rvpp_dataplane::checksum::checksum(&pkt[..20]), 0, "ip4 header checksum");
        let s: [u8; 4] = pkt[12..16].try_into().unwrap();
        let d: [u8; 4] = pkt[16..20].try_into().unwrap();
        (s.into(), d.into(), &pkt[20..])
    } else {
        let s: [u8; 16] = pkt[8..24].try_into().unwrap();
        let d: [u8; 16] = pkt[24..40].try_into().unwrap();
        assert_eq!(u16::from_be_bytes([pkt[4], pkt[5]]) as usize, pkt.len() - 40);
        (s.into(), d.into(), &pkt[40..])
    };
    let p = TcpPacket::new_checked(l4).expect("valid header");
    let ok = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => p.verify_checksum4(&s.octets(), &d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => p.verify_checksum6(&s.octets(), &d.octets()),
        _ => false,
    };
    assert!(ok, "tcp checksum");
    let r = TcpRepr::parse(&p).expect("parses");
    let t = FiveTuple::tcp(SocketAddr::new(dst, r.dst_port), SocketAddr::new(src, r.src_port));
    (t, r, p.payload().to_vec())
}

#[derive(Default)]
struct ClientState {
    events: Vec<AppEvent>,
    got: Vec<u8>,
    sent: usize,
}

/// Writes `data` once connected, reads everything back, closes when all
/// of it returned.
struct Client {
    data: Vec<u8>,
    st: Arc<Mutex<ClientState>>,
}

impl Client {
    fn push(&self, s: &mut AppSession<'_>) {
        let mut st = self.st.lock().unwrap();
        while st.sent < self.data.len() {
            let n = s.write(&self.data[st.sent..]);
            if n == 0 {
                break;
            }
            st.sent += n;
        }
        let mut buf = vec![0u8; 4096];
        loop {
            let n = s.read(&mut buf);
            if n == 0 {
                break;
            }
            st.got.extend_from_slice(&buf[..n]);
        }
        if st.got.len() == self.data.len() {
            s.close();
        }
    }
}

impl App for Client {
    fn name(&self) -> &str {
        "test-client"
    }
    fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
        self.st.lock().unwrap().events.push(ev);
        if matches!(ev, AppEvent::Connected | AppEvent::Rx | AppEvent::TxSpace) {
            self.push(s);
        }
    }
}

pub(super) fn small_fifos() -> tcp::Config {
    tcp::Config { rx_fifo_size: 64 * 1024, tx_fifo_size: 64 * 1024, ..tcp::Config::default() }
}

/// Runs both tables until `done` or 60 simulated seconds, delivering every
/// packet (and the packets it causes) within the millisecond it was sent.
/// Table `a` owns `a_ip`. Returns the time reached.
pub(super) fn run(
    a: &mut SessionTable,
    b: &mut SessionTable,
    a_ip: IpAddr,
    mut now: u64,
    mut done: impl FnMut(&SessionTable, &SessionTable) -> bool,
) -> u64 {
    let end = now + 60_000 * MS;
    let mut q: std::collections::VecDeque<(u32, Vec<u8>)> = Default::default();
    while now < end && !done(a, b) {
        for t in [&mut *a, &mut *b] {
            let mut w = Wire { room: 256, ..Wire::default() };
            t.poll(now, &mut w);
            q.extend(w.packets);
        }
        let mut steps = 0;
        while let Some((sw, pkt)) = q.pop_front() {
            steps += 1;
            assert!(steps < 1_000_000, "a packet storm");
            let mut w = Wire { room: 256, ..Wire::default() };
            if protocol(&pkt) == PROTO_UDP {
                let (t, payload) = receive_udp(&pkt);
                let to = if t.local.ip() == a_ip { &mut *a } else { &mut *b };
                to.udp_input(t.local, t.remote, sw, &[&payload]);
                to.drain_events(now, &mut w);
                q.extend(w.packets);
                continue;
            }
            let (t, r, payload) = receive(&pkt);
            let to = if t.local.ip() == a_ip { &mut *a } else { &mut *b };
            to.tcp_input(now, t, sw, &r, &payload, &mut w);
            to.drain_events(now, &mut w);
            q.extend(w.packets);
        }
        now += MS;
    }
    now
}

fn echo_round_trip(server: &str, client_ip: &str, len: usize) {
    let mut a = SessionTable::new(0, small_fifos());
    let mut b = SessionTable::new(0, small_fifos());
    let echo = a.attach(Box::new(EchoServer::default()));
    let wildcard = SocketAddr::new(unspecified(&server.parse().unwrap()), 7777);
    a.listen(echo, PROTO_TCP, wildcard).unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let st = Arc::new(Mutex::new(ClientState::default()));
    let client = b.attach(Box::new(Client { data: data.clone(), st: st.clone() }));
    let remote = SocketAddr::new(server.parse().unwrap(), 7777);
    let si = b.connect(0, client, client_ip.parse().unwrap(), remote, 3).unwrap();
    let port = b.session(si).unwrap().tuple.local.port();
    assert!(port >= EPHEMERAL_FIRST, "ephemeral port {port}");
    let t = run(&mut a, &mut b, server.parse().unwrap(), 0, |a, b| a.is_empty() && b.is_empty());
    let st = st.lock().unwrap();
    assert_eq!(st.got.len(), data.len(), "all bytes came back by {} ms", t / MS);
    assert!(st.got == data, "echoed bytes differ");
    assert_eq!(st.events.first(), Some(&AppEvent::Connected));
    assert_eq!(st.events.last(), Some(&AppEvent::Closed), "{:?}", st.events);
    assert!(a.is_empty() && b.is_empty(), "both sessions freed after TIME_WAIT");
    let s = a.stats();
    assert_eq!((s.sessions_opened, s.sessions_closed, s.listen.accepted), (1, 1, 1));
    assert_eq!(a.listener_count(), 1);
}

#[test]
fn echo_round_trip_ip4() {
    echo_round_trip("10.0.0.1", "10.0.0.2", 300_000);
}

#[test]
fn echo_round_trip_ip6() {
    echo_round_trip("fd00::1", "fd00::2", 300_000);
}

#[test]
fn closed_port_gets_a_rst_and_wildcards_keep_to_their_family() {
    let mut a = SessionTable::new(0, small_fifos());
    let echo = a.attach(Box::new(EchoServer::default()));
    a.listen(echo, PROTO_TCP, "0.0.0.0:7777".parse().unwrap()).unwrap();
    assert_eq!(
        a.listen(echo, PROTO_TCP, "0.0.0.0:7777".parse().unwrap()),
        Err(SessionError::AddressInUse("0.0.0.0:7777".parse().unwrap()))
    );
    let syn = |dst_port| TcpRepr {
        src_port: 40000,
        dst_port,
        seq: tcp::Seq(1000),
        flags: tcp::Flags::SYN,
        window: 1000,
        mss: Some(1460),
        ..TcpRepr::default()
    };
    let mut w = Wire { room: 8, ..Wire::default() };
    // A closed port: RST|ACK acknowledging the SYN.
    let t = FiveTuple::tcp("10.0.0.1:80".parse().unwrap(), "10.0.0.2:40000".parse().unwrap());
    assert!(!a.tcp_input(0, t, 1, &syn(80), &[], &mut w));
    let (rt, r, _) = receive(&w.packets[0].1);
    assert_eq!((rt.local, rt.remote), (t.remote, t.local), "the RST goes back to the sender");
    assert_eq!(r.flags, tcp::Flags::RST | tcp::Flags::ACK);
    assert_eq!(r.ack, tcp::Seq(1001));
    // The IPv4 wildcard takes any IPv4 address, not IPv6.
    let t4 = FiveTuple::tcp("10.9.9.9:7777".parse().unwrap(), "10.0.0.2:40000".parse().unwrap());
    assert!(a.tcp_input(0, t4, 1, &syn(7777), &[], &mut w));
    let (_, r, _) = receive(&w.packets[1].1);
    assert_eq!(r.flags, tcp::Flags::SYN | tcp::Flags::ACK);
    let t6 = FiveTuple::tcp("[fd00::1]:7777".parse().unwrap(), "[fd00::2]:40000".parse().unwrap());
    assert!(!a.tcp_input(0, t6, 1, &syn(7777), &[], &mut w));
    let (_, r, _) = receive(&w.packets[2].1);
    assert!(r.flags.rst());
    assert_eq!(a.stats().resets_sent, 2);
    // A RST is never answered.
    let rst = TcpRepr { flags: tcp::Flags::RST, ..syn(80) };
    assert!(!a.tcp_input(0, t, 1, &rst, &[], &mut w));
    assert_eq!(w.packets.len(), 3);
}

#[test]
fn ephemeral_ports_differ_and_deferred_output_resumes() {
    struct Quiet;
    impl App for Quiet {
        fn name(&self) -> &str {
            "quiet"
        }
        fn on_event(&mut self, _: &mut AppSession<'_>, _: AppEvent) {}
    }
    let mut b = SessionTable::new(0, small_fifos());
    let app = b.attach(Box::new(Quiet));
    let remote: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let mut ports = std::collections::HashSet::new();
    for _ in 0..100 {
        let s = b.connect(0, app, "10.0.0.2".parse().unwrap(), remote, 1).unwrap();
        assert!(ports.insert(b.session(s).unwrap().tuple.local.port()));
    }
    // No room: every SYN waits; then they all go.
    let mut w = Wire { room: 0, ..Wire::default() };
    b.poll(0, &mut w);
    assert!(w.packets.is_empty() && b.busy());
    let mut w = Wire { room: 1000, ..Wire::default() };
    b.poll(0, &mut w);
    assert_eq!(w.packets.len(), 100);
    assert!(!b.busy());
    // Unanswered, the SYNs are resent by the timer.
    let d = b.next_deadline().expect("retransmission timer armed");
    let mut w = Wire { room: 1000, ..Wire::default() };
    b.poll(d, &mut w);
    assert_eq!(w.packets.len(), 100);
    assert!(w.packets.iter().all(|(_, p)| receive(p).1.flags == tcp::Flags::SYN));
    assert_eq!(b.abort_all(), 100);
}

#[test]
fn uris_parse_and_bad_ones_name_the_problem() {
    let u = Uri::parse("tcp://0.0.0.0/7777").unwrap();
    assert_eq!((u.transport, u.endpoint), (Transport::Tcp, "0.0.0.0:7777".parse().unwrap()));
    assert_eq!(Uri::parse("tcp://::/80").unwrap().endpoint, "[::]:80".parse().unwrap());
    assert_eq!(Uri::parse("tcp://[fd00::1]/80").unwrap().endpoint, "[fd00::1]:80".parse().unwrap());
    assert_eq!(Uri::parse("sctp://1.2.3.4/5"), Err(SessionError::UnknownTransport("sctp".into())));
    for bad in ["tcp:/1.2.3.4/5", "tcp://1.2.3/5", "tcp://1.2.3.4/65536", "tcp://1.2.3.4", "tcp://1.2.3.4/x"] {
        assert!(matches!(Uri::parse(bad), Err(SessionError::BadUri { .. })), "{bad}");
    }
}

#[test]
fn echo_client_against_echo_server() {
    use super::echo::{EchoClient, EchoClientReport};
    let mut a = SessionTable::new(0, tcp::Config::default());
    let mut b = SessionTable::new(0, tcp::Config::default());
    let echo = a.attach(Box::new(EchoServer::default()));
    a.listen(echo, PROTO_TCP, "0.0.0.0:7777".parse().unwrap()).unwrap();
    let report = Arc::new(Mutex::new(EchoClientReport { clients: 2, ..Default::default() }));
    let client = b.attach(Box::new(EchoClient::new(4 << 20, report.clone())));
    for _ in 0..2 {
        b.connect(0, client, "10.0.0.2".parse().unwrap(), "10.0.0.1:7777".parse().unwrap(), 1).unwrap();
    }
    let t = run(&mut a, &mut b, "10.0.0.1".parse().unwrap(), 0, |_, _| report.lock().unwrap().done());
    let r = *report.lock().unwrap();
    assert!(r.done(), "by {} ms: {r:?}", t / MS);
    assert_eq!((r.finished, r.failed, r.mismatches), (2, 0, 0));
    assert_eq!((r.bytes_sent, r.bytes_received), (8 << 20, 8 << 20));
}

#[test]
fn the_session_limit_resets_handshakes_and_refuses_connects() {
    let mut a = SessionTable::new(0, small_fifos());
    a.set_max_sessions(2);
    let echo = a.attach(Box::new(EchoServer::default()));
    a.listen(echo, PROTO_TCP, "0.0.0.0:7777".parse().unwrap()).unwrap();
    let mut established = 0;
    let mut resets = 0;
    for port in 40000..40004u16 {
        let t = FiveTuple::tcp("10.0.0.1:7777".parse().unwrap(), SocketAddr::new("10.0.0.2".parse().unwrap(), port));
        let syn = TcpRepr {
            src_port: port,
            dst_port: 7777,
            seq: tcp::Seq(100),
            flags: tcp::Flags::SYN,
            window: 1000,
            ..TcpRepr::default()
        };
        let mut w = Wire { room: 8, ..Wire::default() };
        a.tcp_input(0, t, 1, &syn, &[], &mut w);
        let (_, sa, _) = receive(&w.packets[0].1);
        let ack = TcpRepr { seq: tcp::Seq(101), ack: sa.seq + 1, flags: tcp::Flags::ACK, ..syn };
        let mut w = Wire { room: 8, ..Wire::default() };
        a.tcp_input(1, t, 1, &ack, &[], &mut w);
        a.drain_events(1, &mut w);
        if a.lookup(&t).is_some() {
            established += 1;
        }
        resets += w.packets.iter().filter(|(_, p)| receive(p).1.flags.rst()).count();
    }
    assert_eq!((established, resets, a.len()), (2, 2, 2));
    assert_eq!(a.stats().sessions_refused, 2);
    let app = a.attach(Box::new(EchoServer::default()));
    assert_eq!(
        a.connect(0, app, "10.0.0.1".parse().unwrap(), "10.0.0.9:80".parse().unwrap(), 1),
        Err(SessionError::TooManySessions(2))
    );
}

#[test]
fn connections_take_the_mss_of_the_route_toward_the_peer() {
    struct Quiet;
    impl App for Quiet {
        fn name(&self) -> &str {
            "quiet"
        }
        fn on_event(&mut self, _: &mut AppSession<'_>, _: AppEvent) {}
    }
    struct Mtu;
    impl RouteMtu for Mtu {
        fn mtu(&self, dst: IpAddr) -> Option<u16> {
            match dst {
                IpAddr::V4(a) if a.octets()[3] == 1 => Some(1000),
                IpAddr::V4(a) if a.octets()[3] == 9 => Some(9000),
                IpAddr::V6(_) => Some(1280),
                IpAddr::V4(_) => None,
            }
        }
    }
    let mut b = SessionTable::new(0, small_fifos());
    b.set_route_mtu(Arc::new(Mtu));
    let app = b.attach(Box::new(Quiet));
    for (remote, local, mss) in [
        ("10.0.0.1:80", "10.0.0.2", 960),
        ("10.0.0.9:80", "10.0.0.2", 1460),
        ("10.0.0.5:80", "10.0.0.2", 1460),
        ("[fd00::1]:80", "fd00::2", 1220),
    ] {
        b.connect(0, app, local.parse().unwrap(), remote.parse().unwrap(), 1).unwrap();
        let mut w = Wire { room: 8, ..Wire::default() };
        b.poll(0, &mut w);
        let (_, r, _) = receive(&w.packets[0].1);
        assert!(r.flags.syn());
        assert_eq!(r.mss, Some(mss), "toward {remote}: the route's MTU less the headers, at most the configured MSS");
    }
}
