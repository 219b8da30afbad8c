//! UDP sessions in the table: listeners that hear many peers and answer
//! each, connected sessions from ephemeral ports, datagram boundaries kept
//! end to end through the real packet builder, the echo client against the
//! echo server, counted drops, closing and clearing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::echo::{EchoClientReport, EchoServer};
use super::tests::{receive_udp, run, small_fifos, Wire, MS};
use super::udp_echo::UdpEchoClient;
use super::*;
use crate::tcp;

/// Sends its datagrams once connected (resuming on tx space), keeps every
/// datagram that comes back.
struct DgramClient {
    out: Vec<Vec<u8>>,
    sent: usize,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl App for DgramClient {
    fn name(&self) -> &str {
        "dgram-client"
    }
    fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
        while self.sent < self.out.len() && matches!(ev, AppEvent::Connected | AppEvent::TxSpace | AppEvent::Rx) {
            if s.write(&self.out[self.sent]) == 0 {
                break;
            }
            self.sent += 1;
        }
        let mut buf = vec![0u8; 70_000];
        while let Some((h, n)) = s.recv_from(&mut buf) {
            assert_eq!(h.len as usize, n);
            assert_eq!(h.peer, s.remote(), "a connected session hears its peer only");
            self.got.lock().unwrap().push(buf[..n].to_vec());
        }
    }
}

/// Never reads: its fifos fill.
struct Deaf;

impl App for Deaf {
    fn name(&self) -> &str {
        "deaf"
    }
    fn on_event(&mut self, _: &mut AppSession<'_>, _: AppEvent) {}
}

fn datagrams(seed: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|k| (0..(k * 37 + seed) % 1400 + 1).map(|i| (i * 7 + k + seed) as u8).collect()).collect()
}

fn echo_many_peers(server: &str, clients: [&str; 2]) {
    let mut a = SessionTable::new(0, small_fifos());
    let mut b = SessionTable::new(0, small_fifos());
    let echo = a.attach(Box::new(EchoServer::default()));
    let wildcard = SocketAddr::new(unspecified(&server.parse().unwrap()), 7777);
    a.listen(echo, PROTO_UDP, wildcard).unwrap();
    let mut got = Vec::new();
    let mut want = Vec::new();
    for (k, ip) in clients.iter().enumerate() {
        let st = Arc::new(Mutex::new(Vec::new()));
        let out = datagrams(k * 11, 300);
        want.push(out.clone());
        let app = b.attach(Box::new(DgramClient { out, sent: 0, got: st.clone() }));
        let si = b.connect_udp(app, ip.parse().unwrap(), SocketAddr::new(server.parse().unwrap(), 7777), 2).unwrap();
        let s = b.session(si).unwrap();
        assert!(s.tuple.local.port() >= EPHEMERAL_FIRST);
        assert_eq!(s.tuple.proto, PROTO_UDP);
        got.push(st);
    }
    let t = run(&mut a, &mut b, server.parse().unwrap(), 0, |_, _| got.iter().all(|g| g.lock().unwrap().len() == 300));
    for (g, w) in got.iter().zip(&want) {
        assert!(*g.lock().unwrap() == *w, "each peer gets its own datagrams back whole, by {} ms", t / MS);
    }
    // One listener session served both: no session per peer.
    assert!(a.sessions(false).is_empty());
    let l = a.listeners();
    assert_eq!((l.len(), l[0].proto, l[0].endpoint, l[0].rx_len, l[0].tx_len), (1, PROTO_UDP, wildcard, 0, 0));
    let st = a.stats().udp;
    assert_eq!((st.dgrams_in, st.dgrams_out, st.rx_dropped), (600, 600, 0));
    assert_eq!(st.bytes_in, want.iter().flatten().map(|d| d.len() as u64).sum::<u64>());
    let listed = b.sessions(true);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s.state == "OPENED" && s.detail.contains("datagrams in 300 out 300")));
}

#[test]
fn udp_echo_answers_each_peer_with_boundaries_kept_ip4() {
    echo_many_peers("10.0.0.1", ["10.0.0.2", "10.0.0.3"]);
}

#[test]
fn udp_echo_answers_each_peer_with_boundaries_kept_ip6() {
    echo_many_peers("fd00::1", ["fd00::2", "fd00::3"]);
}

#[test]
fn udp_echo_client_against_echo_server() {
    for (server, client_ip) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
        let mut a = SessionTable::new(0, tcp::Config::default());
        let mut b = SessionTable::new(0, tcp::Config::default());
        let echo = a.attach(Box::new(EchoServer::default()));
        let to = SocketAddr::new(server.parse().unwrap(), 9);
        a.listen(echo, PROTO_UDP, to).unwrap();
        let report = Arc::new(Mutex::new(EchoClientReport { clients: 3, ..Default::default() }));
        let client = b.attach(Box::new(UdpEchoClient::new(1 << 20, report.clone())));
        for _ in 0..3 {
            b.connect_udp(client, client_ip.parse().unwrap(), to, 1).unwrap();
        }
        let t = run(&mut a, &mut b, server.parse().unwrap(), 0, |_, _| report.lock().unwrap().done());
        let r = *report.lock().unwrap();
        assert!(r.done(), "by {} ms: {r:?}", t / MS);
        assert_eq!((r.connected, r.finished, r.failed, r.mismatches), (3, 3, 0, 0), "{r:?}");
        assert_eq!((r.bytes_sent, r.bytes_received), (3 << 20, 3 << 20));
        assert_eq!(r.datagrams_sent, r.datagrams_received);
        assert_eq!(r.datagrams_sent, 3 * (1u64 << 20).div_ceil(1392));
        // Finished sessions close and are freed.
        let mut w = Wire { room: 256, ..Wire::default() };
        b.poll(t, &mut w);
        assert!(b.is_empty(), "{:?}", b.sessions(false));
    }
}

#[test]
fn datagrams_reach_connected_sessions_then_exact_then_wildcard_listeners() {
    let mut a = SessionTable::new(0, small_fifos());
    let exact = a.attach(Box::new(Deaf));
    let wild = a.attach(Box::new(Deaf));
    a.listen(exact, PROTO_UDP, "10.0.0.1:53".parse().unwrap()).unwrap();
    a.listen(wild, PROTO_UDP, "0.0.0.0:53".parse().unwrap()).unwrap();
    assert_eq!(
        a.listen(wild, PROTO_UDP, "0.0.0.0:53".parse().unwrap()),
        Err(SessionError::AddressInUse("0.0.0.0:53".parse().unwrap()))
    );
    // TCP on the same port is another listener.
    a.listen(wild, PROTO_TCP, "0.0.0.0:53".parse().unwrap()).unwrap();
    let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    assert_eq!(a.udp_input("10.0.0.1:53".parse().unwrap(), peer, 1, &[b"to-exact"]), UdpDelivery::Delivered);
    assert_eq!(a.udp_input("10.0.0.7:53".parse().unwrap(), peer, 1, &[b"to-", b"wild"]), UdpDelivery::Delivered);
    assert_eq!(a.udp_input("10.0.0.1:54".parse().unwrap(), peer, 1, &[b"x"]), UdpDelivery::NoSession);
    let v6: SocketAddr = "[fd00::2]:5000".parse().unwrap();
    assert_eq!(a.udp_input("[fd00::1]:53".parse().unwrap(), v6, 1, &[b"x"]), UdpDelivery::NoSession, "v4 wildcard");
    let rx: Vec<(SocketAddr, u32)> =
        a.listeners().iter().filter(|l| l.proto == PROTO_UDP).map(|l| (l.endpoint, l.rx_len)).collect();
    assert_eq!(rx, [("10.0.0.1:53".parse().unwrap(), 44 + 8), ("0.0.0.0:53".parse().unwrap(), 44 + 7)]);

    // A connected session takes its peer's datagrams; another port of the
    // same peer is nobody's.
    let c = a.attach(Box::new(Deaf));
    let si = a.connect_udp(c, "10.0.0.1".parse().unwrap(), "10.0.0.9:7".parse().unwrap(), 1).unwrap();
    let local = a.session(si).unwrap().tuple.local;
    assert_eq!(a.udp_input(local, "10.0.0.9:7".parse().unwrap(), 1, &[b"hi"]), UdpDelivery::Delivered);
    assert_eq!(a.udp_input(local, "10.0.0.9:8".parse().unwrap(), 1, &[b"hi"]), UdpDelivery::NoSession);
    assert_eq!(a.session(si).unwrap().conn.rx_fifo().len(), 44 + 2);

    // The deaf listener's 64 KiB fill up: the rest are counted drops.
    let big = [0u8; 1000];
    let mut full = 0;
    for _ in 0..100 {
        if a.udp_input("10.0.0.1:53".parse().unwrap(), peer, 1, &[&big]) == UdpDelivery::RxFull {
            full += 1;
        }
    }
    let fit = (64 * 1024 - 52) / 1044;
    assert_eq!(full, 100 - fit);
    assert_eq!(a.stats().udp.rx_dropped, full as u64);
    // One Rx event per burst, however many datagrams.
    let mut w = Wire { room: 256, ..Wire::default() };
    a.drain_events(0, &mut w);
    assert!(w.packets.is_empty());
    assert!(!a.busy());
}

#[test]
fn clear_closes_connected_sessions_and_keeps_listeners_and_detach_closes_the_rest() {
    let mut a = SessionTable::new(0, small_fifos());
    let srv = a.attach(Box::new(EchoServer::default()));
    a.listen(srv, PROTO_UDP, "[::]:9".parse().unwrap()).unwrap();
    let app = a.attach(Box::new(Deaf));
    for _ in 0..3 {
        a.connect_udp(app, "fd00::1".parse().unwrap(), "[fd00::2]:9".parse().unwrap(), 1).unwrap();
    }
    let listed = a.sessions(false);
    assert_eq!(listed.iter().map(|s| s.state).collect::<Vec<_>>(), ["OPENED"; 3]);
    assert_eq!(a.abort_all(), 3);
    let mut w = Wire { room: 256, ..Wire::default() };
    a.poll(0, &mut w);
    assert!(a.sessions(false).is_empty() && a.is_empty());
    assert_eq!(a.listeners().len(), 1, "the listener stays");
    assert_eq!(
        a.udp_input("[fd00::1]:9".parse().unwrap(), "[fd00::3]:1".parse().unwrap(), 1, &[b"x"]),
        UdpDelivery::Delivered
    );

    // A queued datagram still leaves when its app detaches; then the
    // session goes.
    let si = a.connect_udp(app, "fd00::1".parse().unwrap(), "[fd00::2]:9".parse().unwrap(), 1).unwrap();
    let mut w = Wire { room: 256, ..Wire::default() };
    a.poll(0, &mut w);
    assert!(a.session(si).is_some());
    assert!(a.detach(app));
    let mut w = Wire { room: 256, ..Wire::default() };
    a.poll(0, &mut w);
    assert!(a.session(si).is_none());
    assert!(a.detach(srv));
    a.poll(0, &mut w);
    assert_eq!((a.listener_count(), a.stats().sessions_opened, a.stats().sessions_closed), (0, 5, 5));
    assert_eq!(
        a.udp_input("[fd00::1]:9".parse().unwrap(), "[fd00::3]:1".parse().unwrap(), 1, &[b"x"]),
        UdpDelivery::NoSession
    );
}

/// Sends one datagram to a fixed peer from its connected session.
struct Sender(usize);

impl App for Sender {
    fn name(&self) -> &str {
        "sender"
    }
    fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
        if ev == AppEvent::Connected {
            for k in 0..self.0 {
                assert_eq!(s.write(&[k as u8; 100]), 100);
            }
        }
    }
}

#[test]
fn output_without_room_waits_and_resumes() {
    let mut b = SessionTable::new(0, small_fifos());
    let app = b.attach(Box::new(Sender(10)));
    b.connect_udp(app, "10.0.0.2".parse().unwrap(), "10.0.0.1:9".parse().unwrap(), 4).unwrap();
    let mut w = Wire { room: 3, ..Wire::default() };
    b.poll(0, &mut w);
    assert_eq!(w.packets.len(), 3);
    assert!(b.busy(), "the rest waits for room");
    let mut w = Wire { room: 256, ..Wire::default() };
    b.poll(0, &mut w);
    assert_eq!(w.packets.len(), 7);
    for (k, (sw, p)) in w.packets.iter().enumerate() {
        let (t, payload) = receive_udp(p);
        assert_eq!((*sw, t.local, payload), (4, "10.0.0.1:9".parse().unwrap(), vec![(k + 3) as u8; 100]));
    }
    assert!(!b.busy());
}
