//! HTTP requests: the incremental parser and the static server app on
//! arbitrary bytes.
//!
//! Parser: the input fed whole and fed in pieces (sizes from byte 0) gives
//! the same requests and errors in the same order; the parser never holds
//! more than its bounds allow, takes nothing after an error, and every
//! request's target resolves either to an error status or to a relative
//! path that cannot climb out of the root (no `..`, no root, no NUL).
//!
//! Server (byte 0 odd): the same bytes arrive as Rx events on an
//! in-memory session with a small tx side, drained a little at a time
//! (TxSpace only after a short write, as TCP arms it), against a small
//! document root. No panic; the tx side is never overrun; what the server
//! writes is a sequence of responses, each opening with an HTTP/1.1
//! status line.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rvpp_hoststack::http::path::resolve;
use rvpp_hoststack::http::request::{Limits, RequestParser};
use rvpp_hoststack::http::server::{Activity, HttpServer, ServerConfig, SessionIo, Shared};
use rvpp_hoststack::session::{AppEvent, SessionIndex};

/// Small limits so the fuzzer reaches them.
fn limits() -> Limits {
    Limits { request_line: 64, headers: 4, header_bytes: 128, body: 100 }
}

fn outcomes(data: &[u8], sizes: &mut dyn FnMut() -> usize) -> Vec<String> {
    let l = limits();
    let mut p = RequestParser::new(l);
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let n = sizes().min(data.len() - off);
        let piece = &data[off..off + n];
        let mut used = 0;
        loop {
            let (k, r) = p.feed(&piece[used..]);
            assert!(k <= piece.len() - used);
            used += k;
            assert!(p.buffered() <= l.request_line + l.header_bytes + 4, "parser holds {}", p.buffered());
            match r {
                Some(Ok(req)) => {
                    check_target(&req.target);
                    out.push(format!("{req:?}"));
                }
                Some(Err(s)) => {
                    assert!((400..=599).contains(&s.code()));
                    out.push(format!("error {}", s.code()));
                    assert!(p.failed());
                    assert_eq!(p.feed(b"GET / HTTP/1.1\r\n\r\n"), (0, None), "input after an error");
                    return out;
                }
                None => break,
            }
        }
        assert!(used == piece.len() || p.failed(), "bytes left unread without a request");
        off += n;
    }
    out
}

fn check_target(t: &[u8]) {
    if let Ok(p) = resolve(t) {
        assert!(p.is_relative(), "{p:?}");
        assert!(p.components().all(|c| matches!(c, Component::Normal(_))), "{p:?} from {t:?}");
        assert!(!p.as_os_str().as_bytes().contains(&0));
        assert!(!p.components().any(|c| c.as_os_str() == OsStr::new("..")));
    }
}

/// A session like the server test's: bounded tx, TxSpace armed by a short
/// write.
struct Pipe {
    rx: Vec<u8>,
    tx: Vec<u8>,
    cap: usize,
    open: bool,
    armed: bool,
}

impl SessionIo for Pipe {
    fn peek(&self) -> (&[u8], &[u8]) {
        let h = self.rx.len() / 3;
        (&self.rx[..h], &self.rx[h..])
    }
    fn consume(&mut self, n: usize) {
        assert!(n <= self.rx.len());
        self.rx.drain(..n);
    }
    fn tx_free(&self) -> usize {
        if self.open {
            self.cap - self.tx.len()
        } else {
            0
        }
    }
    fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.tx_free());
        self.tx.extend_from_slice(&data[..n]);
        self.armed |= n < data.len();
        n
    }
    fn close(&mut self) {
        self.open = false;
    }
    fn abort(&mut self) {
        self.open = false;
    }
}

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("rvpp-fuzz-http-{}", std::process::id()));
        std::fs::create_dir_all(p.join("d")).expect("fuzz root");
        std::fs::write(p.join("index.html"), b"<p>hi</p>\n").expect("index.html");
        std::fs::write(p.join("d/index.html"), b"d\n").expect("d/index.html");
        std::fs::write(p.join("big"), vec![7u8; 5000]).expect("big");
        p
    })
}

fn serve(data: &[u8], seed: u8) {
    let shared = Shared::new(ServerConfig {
        root: root().clone(),
        uri: "tcp://0.0.0.0/80".into(),
        cache_size: 1000, // "big" streams, the rest is cached
        limits: limits(),
        max_age: 0,
        keepalive_timeout: Duration::from_secs(60),
    });
    let mut srv = HttpServer::new(Arc::clone(&shared), Activity::default());
    let mut p = Pipe { rx: Vec::new(), tx: Vec::new(), cap: 700, open: true, armed: false };
    let key = SessionIndex(1);
    srv.handle(key, &mut p, AppEvent::Accepted);
    let mut out = Vec::new();
    let step = (seed as usize >> 1) % 40 + 1;
    for piece in data.chunks(step) {
        p.rx.extend_from_slice(piece);
        srv.handle(key, &mut p, AppEvent::Rx);
        assert!(p.tx.len() <= p.cap);
        // The peer reads part of what arrived.
        let take = p.tx.len().min(300);
        out.extend(p.tx.drain(..take));
        if std::mem::take(&mut p.armed) {
            srv.handle(key, &mut p, AppEvent::TxSpace);
        }
    }
    srv.handle(key, &mut p, AppEvent::Disconnected);
    for _ in 0..1000 {
        out.append(&mut p.tx);
        if !std::mem::take(&mut p.armed) {
            break;
        }
        srv.handle(key, &mut p, AppEvent::TxSpace);
    }
    out.append(&mut p.tx);
    if !out.is_empty() {
        assert!(out.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&out[..out.len().min(80)]));
    }
    srv.handle(key, &mut p, AppEvent::Closed);
    assert_eq!(srv.connections(), 0);
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else { return };
    if seed & 1 == 1 {
        serve(rest, seed);
        return;
    }
    let whole = outcomes(rest, &mut || usize::MAX);
    let mut x = seed as u32 | 1;
    let split = outcomes(rest, &mut || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 23 + 1) as usize
    });
    assert_eq!(whole, split, "feeding in pieces changed the outcome");
});
