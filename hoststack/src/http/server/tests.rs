//! The server app driven through an in-memory session (`Pipe`): bytes in,
//! events, bytes out, with a bounded tx side like a real fifo.

use std::sync::atomic::AtomicUsize;

use super::*;

/// A session: `rx` the server reads, `tx` (at most `cap` unread bytes)
/// it writes. Like TCP, only a short write arms the next TxSpace.
struct Pipe {
    rx: Vec<u8>,
    tx: Vec<u8>,
    cap: usize,
    closed: bool,
    aborted: bool,
    armed: bool,
}

impl Pipe {
    fn new(cap: usize) -> Self {
        Pipe { rx: Vec::new(), tx: Vec::new(), cap, closed: false, aborted: false, armed: false }
    }
}

impl SessionIo for Pipe {
    fn peek(&self) -> (&[u8], &[u8]) {
        let h = self.rx.len() / 2;
        (&self.rx[..h], &self.rx[h..])
    }
    fn consume(&mut self, n: usize) {
        self.rx.drain(..n);
    }
    fn tx_free(&self) -> usize {
        if self.closed || self.aborted {
            0
        } else {
            self.cap - self.tx.len()
        }
    }
    fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.tx_free());
        self.tx.extend_from_slice(&data[..n]);
        self.armed |= n < data.len();
        n
    }
    fn close(&mut self) {
        self.closed = true;
    }
    fn abort(&mut self) {
        self.aborted = true;
    }
}

/// A directory of test files, removed on drop.
pub(super) struct Root(pub(super) PathBuf);

impl Root {
    pub(super) fn new() -> Root {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvpp-http-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(p.join("sub")).unwrap();
        std::fs::write(p.join("index.html"), b"<h1>Welcome</h1>\n").unwrap();
        std::fs::write(p.join("sub/index.html"), b"sub index\n").unwrap();
        std::fs::write(p.join("a b.txt"), b"spaced\n").unwrap();
        std::fs::write(p.join("style.css"), b"body{}\n").unwrap();
        std::fs::create_dir_all(p.join("empty")).unwrap();
        Root(p)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server(root: &Root, cache_size: u64) -> HttpServer {
    let shared = Shared::new(ServerConfig {
        root: root.0.clone(),
        uri: "tcp://0.0.0.0/80".into(),
        cache_size,
        limits: Limits::default(),
        max_age: 600,
        keepalive_timeout: Duration::from_secs(60),
    });
    HttpServer::new(shared, Activity::default())
}

const K: SessionIndex = SessionIndex(3);

/// Delivers `data` as one Rx, then reads tx and delivers TxSpace while a
/// short write armed one; returns everything written.
fn exchange(srv: &mut HttpServer, p: &mut Pipe, data: &[u8]) -> Vec<u8> {
    p.rx.extend_from_slice(data);
    srv.handle(K, p, AppEvent::Rx);
    let mut out = std::mem::take(&mut p.tx);
    while std::mem::take(&mut p.armed) {
        srv.handle(K, p, AppEvent::TxSpace);
        out.append(&mut p.tx);
    }
    out
}

#[derive(Debug)]
pub(super) struct Resp {
    pub(super) status: u16,
    headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Resp {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Splits a byte stream into responses; `heads` says which answer HEADs.
pub(super) fn responses(mut data: &[u8], heads: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut k = 0;
    while !data.is_empty() {
        let end = data.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head") + 4;
        let head = std::str::from_utf8(&data[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        let mut r = Resp { status, headers, body: Vec::new() };
        let len: usize = r.header("Content-Length").unwrap().parse().unwrap();
        let body_len = if heads.get(k).copied().unwrap_or(false) { 0 } else { len };
        r.body = data[end..end + body_len].to_vec();
        data = &data[end + body_len..];
        out.push(r);
        k += 1;
    }
    out
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

#[test]
fn get_serves_the_file_with_headers() {
    let root = Root::new();
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    srv.handle(K, &mut p, AppEvent::Accepted);
    let out = exchange(&mut srv, &mut p, &get("/index.html"));
    let r = responses(&out, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].body, b"<h1>Welcome</h1>\n");
    assert_eq!(r[0].header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r[0].header("Server"), Some("rvpp"));
    assert_eq!(r[0].header("Connection"), Some("keep-alive"));
    assert!(r[0].header("Date").unwrap().ends_with(" GMT"));
    assert!(!p.closed && !p.aborted);
    assert_eq!(srv.connections(), 1);
    srv.handle(K, &mut p, AppEvent::Closed);
    assert_eq!(srv.connections(), 0);
    assert!(lock(&srv.activity).is_empty());
}

#[test]
fn head_directory_and_errors_keep_the_connection() {
    let root = Root::new();
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let mut reqs = b"HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    for path in ["/sub/", "/sub", "/", "/missing.html", "/../etc/passwd", "/a%20b.txt", "/style.css?v=2", "/empty/"] {
        reqs.extend_from_slice(&get(path));
    }
    reqs.extend_from_slice(b"POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    reqs.extend_from_slice(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n");
    reqs.extend_from_slice(b"HEAD /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
    let out = exchange(&mut srv, &mut p, &reqs);
    let mut heads = vec![false; 12];
    heads[0] = true;
    heads[11] = true;
    let r = responses(&out, &heads);
    let summary: Vec<(u16, usize)> = r.iter().map(|r| (r.status, r.body.len())).collect();
    assert_eq!(
        summary,
        [
            (200, 0),
            (200, 10),
            (200, 10),
            (200, 17),
            (404, 14),
            (400, 16),
            (200, 7),
            (200, 7),
            (404, 14),
            (405, 23),
            (501, 20),
            (404, 0)
        ]
    );
    assert_eq!(r[0].header("Content-Length"), Some("17"), "HEAD gives the GET's length");
    assert_eq!(r[1].body, b"sub index\n");
    assert_eq!(r[6].body, b"spaced\n");
    assert_eq!(r[7].header("Content-Type"), Some("text/css; charset=utf-8"));
    assert_eq!(r[9].header("Allow"), Some("GET, HEAD"));
    assert!(r.iter().all(|r| r.header("Connection") == Some("keep-alive")));
    assert!(!p.closed);
    let st = &srv.shared.stats;
    assert_eq!(st.requests.load(Ordering::Relaxed), 12);
    assert_eq!(st.ok.load(Ordering::Relaxed), 6);
    assert_eq!(st.client_errors.load(Ordering::Relaxed), 5);
    assert_eq!(st.server_errors.load(Ordering::Relaxed), 1);
}

#[test]
fn connection_close_and_http10_close_after_the_response() {
    let root = Root::new();
    for (req, closes) in [
        (&b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..], true),
        (b"GET /index.html HTTP/1.0\r\n\r\n", true),
        (b"GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false),
    ] {
        let mut srv = server(&root, 1 << 20);
        let mut p = Pipe::new(64 << 10);
        // Requests after a close are not answered.
        let mut data = req.to_vec();
        data.extend_from_slice(&get("/style.css"));
        let out = exchange(&mut srv, &mut p, &data);
        let r = responses(&out, &[]);
        assert_eq!(p.closed, closes);
        assert_eq!(r.len(), if closes { 1 } else { 2 });
        assert_eq!(r[0].header("Connection"), Some(if closes { "close" } else { "keep-alive" }));
        assert_eq!(r[0].body, b"<h1>Welcome</h1>\n");
        assert!(p.rx.is_empty(), "the rest is read and dropped");
    }
}

#[test]
fn pipelined_requests_split_anywhere_are_answered_in_order() {
    let root = Root::new();
    let mut all = Vec::new();
    for path in ["/index.html", "/style.css", "/sub/", "/a%20b.txt"] {
        all.extend_from_slice(&get(path));
    }
    for split in 1..all.len() {
        let mut srv = server(&root, 1 << 20);
        let mut p = Pipe::new(64 << 10);
        let mut out = exchange(&mut srv, &mut p, &all[..split]);
        out.extend(exchange(&mut srv, &mut p, &all[split..]));
        let bodies: Vec<Vec<u8>> = responses(&out, &[]).into_iter().map(|r| r.body).collect();
        assert_eq!(bodies, [&b"<h1>Welcome</h1>\n"[..], b"body{}\n", b"sub index\n", b"spaced\n"], "split at {split}");
    }
}

#[test]
fn a_client_that_does_not_read_is_not_read_from() {
    let root = Root::new();
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(300);
    let mut data = Vec::new();
    for _ in 0..50 {
        data.extend_from_slice(&get("/index.html"));
    }
    p.rx.extend_from_slice(&data);
    srv.handle(K, &mut p, AppEvent::Rx);
    assert_eq!(p.tx.len(), 300, "tx filled");
    assert!(p.rx.len() > data.len() - 4 * get("/index.html").len(), "requests wait in rx");
    // Reading drains it all in order.
    let mut out = std::mem::take(&mut p.tx);
    while std::mem::take(&mut p.armed) {
        srv.handle(K, &mut p, AppEvent::TxSpace);
        out.append(&mut p.tx);
    }
    assert_eq!(responses(&out, &[]).len(), 50);
    assert!(p.rx.is_empty());
}

/// A deterministic file of `n` bytes.
pub(super) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(9) as u8).collect()
}

#[test]
fn files_larger_than_the_cache_stream_in_bounded_pieces() {
    let root = Root::new();
    let big = pattern(3 << 20 | 1234);
    std::fs::write(root.0.join("big.bin"), &big).unwrap();
    for cache in [1 << 20, 16 << 20] {
        let mut srv = server(&root, cache);
        let mut p = Pipe::new(10_000);
        p.rx.extend_from_slice(&get("/big.bin"));
        p.rx.extend_from_slice(&get("/big.bin"));
        srv.handle(K, &mut p, AppEvent::Rx);
        let mut out = Vec::new();
        let mut steps = 0;
        loop {
            assert!(p.tx.len() <= 10_000);
            if p.tx.is_empty() {
                break;
            }
            // The peer reads a bit at a time; TxSpace only when armed.
            let take = p.tx.len().min(7000);
            out.extend(p.tx.drain(..take));
            if std::mem::take(&mut p.armed) {
                srv.handle(K, &mut p, AppEvent::TxSpace);
            }
            steps += 1;
        }
        assert!(steps > 600);
        let r = responses(&out, &[]);
        assert_eq!(r.len(), 2);
        for r in &r {
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
            assert!(r.body == big, "body differs (cache {cache})");
        }
        let cs = lock(&srv.shared.cache).stats();
        if cache < big.len() as u64 {
            assert_eq!((cs.used, cs.entries), (0, 0), "not cached");
        } else {
            assert_eq!((cs.used, cs.entries, cs.hits), (big.len() as u64, 1, 1));
        }
    }
}

#[test]
fn a_file_that_shrinks_while_streamed_resets_the_connection() {
    let root = Root::new();
    std::fs::write(root.0.join("shrink.bin"), pattern(1 << 20)).unwrap();
    let mut srv = server(&root, 1000);
    let mut p = Pipe::new(10_000);
    p.rx.extend_from_slice(&get("/shrink.bin"));
    srv.handle(K, &mut p, AppEvent::Rx);
    std::fs::write(root.0.join("shrink.bin"), b"tiny").unwrap();
    p.tx.clear();
    assert!(std::mem::take(&mut p.armed));
    srv.handle(K, &mut p, AppEvent::TxSpace);
    assert!(p.aborted);
}

#[test]
fn bad_and_endless_requests_get_4xx_and_close_with_bounded_memory() {
    let root = Root::new();
    // Malformed.
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let out = exchange(&mut srv, &mut p, b"GET / HTTP/1.1\r\nBad Header\r\n\r\nGET / HTTP/1.1\r\n");
    let r = responses(&out, &[]);
    assert_eq!((r.len(), r[0].status), (1, 400));
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert!(p.closed && p.rx.is_empty());
    // Endless request line, sent in pieces.
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let mut out = Vec::new();
    for _ in 0..100 {
        out.extend(exchange(&mut srv, &mut p, &[b'A'; 1000]));
        assert!(srv.conns.get(&K).is_none_or(|c| c.parser.buffered() <= 8194));
    }
    let r = responses(&out, &[]);
    assert_eq!((r.len(), r[0].status), (1, 414));
    assert!(p.closed && p.rx.is_empty());
    // Endless headers.
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let mut out = exchange(&mut srv, &mut p, b"GET / HTTP/1.1\r\n");
    for k in 0..2000 {
        out.extend(exchange(&mut srv, &mut p, format!("X-{k}: {}\r\n", "v".repeat(50)).as_bytes()));
    }
    let r = responses(&out, &[]);
    assert_eq!((r.len(), r[0].status), (1, 431));
    assert!(p.closed);
    // A client that keeps sending after the error is reset after a bound.
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    exchange(&mut srv, &mut p, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert!(p.closed && !p.aborted);
    let chunk = vec![b'x'; 64 << 10];
    for _ in 0..(LINGER_MAX / chunk.len()) {
        exchange(&mut srv, &mut p, &chunk);
    }
    assert!(!p.aborted, "lingering within the bound");
    exchange(&mut srv, &mut p, &chunk);
    assert!(p.aborted, "reset past the bound");
    assert!(p.rx.is_empty());
    // Chunked body.
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let out = exchange(
        &mut srv,
        &mut p,
        b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(responses(&out, &[])[0].status, 411);
    assert!(p.closed);
}

#[test]
fn peer_close_finishes_complete_requests_and_drops_a_partial_one() {
    let root = Root::new();
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    p.rx.extend_from_slice(&get("/style.css"));
    p.rx.extend_from_slice(b"GET /index.ht");
    srv.handle(K, &mut p, AppEvent::Disconnected);
    let r = responses(&p.tx, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body, b"body{}\n");
    assert!(p.closed && !p.aborted);
}

#[test]
fn the_cache_revalidates_changed_files() {
    let root = Root::new();
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let body =
        |srv: &mut HttpServer, p: &mut Pipe| responses(&exchange(srv, p, &get("/style.css")), &[])[0].body.clone();
    assert_eq!(body(&mut srv, &mut p), b"body{}\n");
    assert_eq!(body(&mut srv, &mut p), b"body{}\n");
    std::fs::write(root.0.join("style.css"), b"body{color:red}\n").unwrap();
    std::thread::sleep(super::super::cache::REVALIDATE + Duration::from_millis(50));
    assert_eq!(body(&mut srv, &mut p), b"body{color:red}\n");
    std::fs::remove_file(root.0.join("style.css")).unwrap();
    std::thread::sleep(super::super::cache::REVALIDATE + Duration::from_millis(50));
    assert_eq!(responses(&exchange(&mut srv, &mut p, &get("/style.css")), &[])[0].status, 404);
}

#[test]
fn io_errors_map_to_statuses() {
    assert_eq!(io_status(&io::Error::from(io::ErrorKind::NotFound)), Status::NotFound);
    assert_eq!(io_status(&io::Error::from(io::ErrorKind::PermissionDenied)), Status::Forbidden);
    assert_eq!(io_status(&io::Error::from_raw_os_error(20)), Status::NotFound); // ENOTDIR
    assert_eq!(io_status(&io::Error::from_raw_os_error(24)), Status::InternalError); // EMFILE
                                                                                     // A path through a file is a 404, not a 500.
    let root = Root::new();
    let mut srv = server(&root, 1 << 20);
    let mut p = Pipe::new(64 << 10);
    let out = exchange(&mut srv, &mut p, &get("/index.html/x"));
    assert_eq!(responses(&out, &[])[0].status, 404);
}
