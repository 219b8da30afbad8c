//! The server on a real session table, its client on another, TCP between
//! them in simulated time: pipelined requests, a file streamed through
//! 16 KiB fifos (resumed by the TxSpace events TCP arms), HEAD, and the
//! close after `Connection: close`.

use std::net::SocketAddr;
use std::sync::Mutex;

use super::tests::{pattern, Root};
use super::*;
use crate::session::{FiveTuple, SegmentSink, SessionTable, PROTO_TCP};
use crate::tcp::{self, TcpRepr};

const MS: u64 = 1_000_000;

#[derive(Default)]
struct Wire {
    segs: Vec<(FiveTuple, u32, TcpRepr, Vec<u8>)>,
}

impl SegmentSink for Wire {
    fn room(&self) -> usize {
        256 - self.segs.len().min(256)
    }
    fn segment(&mut self, tuple: &FiveTuple, sw: u32, repr: &TcpRepr, payload: (&[u8], &[u8])) {
        self.segs.push((*tuple, sw, *repr, [payload.0, payload.1].concat()));
    }
    fn datagram(&mut self, _: &FiveTuple, _: u32, _: (&[u8], &[u8])) {
        unreachable!("http runs over tcp only");
    }
}

/// Sends its requests once connected, keeps every byte that comes back,
/// closes when the server does.
struct Client {
    requests: Vec<u8>,
    got: Arc<Mutex<Vec<u8>>>,
    sent: usize,
}

impl App for Client {
    fn name(&self) -> &str {
        "http-test-client"
    }
    fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
        if matches!(ev, AppEvent::Connected | AppEvent::TxSpace) {
            self.sent += s.write(&self.requests[self.sent..]);
        }
        let mut buf = vec![0u8; 8192];
        loop {
            let n = s.read(&mut buf);
            if n == 0 {
                break;
            }
            lock(&self.got).extend_from_slice(&buf[..n]);
        }
        if ev == AppEvent::Disconnected {
            s.close();
        }
    }
}

#[test]
fn pipelined_requests_and_a_streamed_file_over_tcp() {
    let root = Root::new();
    let big = pattern(300_000);
    std::fs::write(root.0.join("big.bin"), &big).unwrap();
    let cfg = tcp::Config { rx_fifo_size: 16 << 10, tx_fifo_size: 16 << 10, ..tcp::Config::default() };
    let mut a = SessionTable::new(0, cfg.clone());
    let mut b = SessionTable::new(0, cfg);
    let shared = Shared::new(ServerConfig {
        root: root.0.clone(),
        uri: "tcp://0.0.0.0/80".into(),
        cache_size: 1000,
        limits: Limits::default(),
        max_age: 0,
        keepalive_timeout: Duration::from_secs(60),
    });
    let srv = a.attach(Box::new(HttpServer::new(shared.clone(), Activity::default())));
    a.listen(srv, PROTO_TCP, "0.0.0.0:80".parse().unwrap()).unwrap();
    let requests = b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n\
        GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
        HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
        GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n\
        GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n"
        .to_vec();
    let got = Arc::new(Mutex::new(Vec::new()));
    let client = b.attach(Box::new(Client { requests, got: got.clone(), sent: 0 }));
    let server_ip = "10.0.0.1".parse().unwrap();
    b.connect(0, client, "10.0.0.2".parse().unwrap(), SocketAddr::new(server_ip, 80), 1).unwrap();

    let mut now = 0;
    let mut q = std::collections::VecDeque::new();
    while now < 60_000 * MS && !(a.is_empty() && b.is_empty()) {
        for t in [&mut a, &mut b] {
            let mut w = Wire::default();
            t.poll(now, &mut w);
            q.extend(w.segs);
        }
        while let Some((t, sw, r, payload)) = q.pop_front() {
            let recv = FiveTuple::tcp(t.remote, t.local);
            let to = if recv.local.ip() == server_ip { &mut a } else { &mut b };
            let mut w = Wire::default();
            to.tcp_input(now, recv, sw, &r, &payload, &mut w);
            to.drain_events(now, &mut w);
            q.extend(w.segs);
        }
        now += MS;
    }
    assert!(a.is_empty() && b.is_empty(), "sessions left after {} ms", now / MS);
    let out = lock(&got).clone();
    let r = super::tests::responses(&out, &[false, false, true, false]);
    let summary: Vec<(u16, usize)> = r.iter().map(|r| (r.status, r.body.len())).collect();
    assert_eq!(summary, [(200, 17), (200, big.len()), (200, 0), (200, big.len())], "the last request is not answered");
    assert!(r[1].body == big && r[3].body == big, "streamed bodies differ");
    assert_eq!(r[2].header("Content-Length"), Some("300000"));
    assert_eq!(r[3].header("Connection"), Some("close"));
    assert_eq!(shared.stats.requests.load(Ordering::Relaxed), 4);
}
