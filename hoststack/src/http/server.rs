//! The HTTP static server app: one [`HttpServer`] per worker and listener,
//! all of a listener's sharing one [`Shared`] (root, file cache, counters).
//!
//! Per connection there is at most one response in flight. On every event
//! the app first pushes that response into the tx fifo as far as it has
//! room, then parses the next request from the rx fifo, and so on, so
//! pipelined requests are answered in order and a client that does not
//! read stops being read from (its requests wait in the bounded rx fifo,
//! TCP's window does the rest). Bodies come from the cache (shared bytes,
//! no copy per connection) or, for files larger than the cache (or than
//! [`MAX_CACHED_FILE`]), from the file at an offset, read one
//! tx-fifo-full (at most [`CHUNK`]) at a time into the worker's one
//! scratch buffer.
//!
//! A request the parser rejects gets its 4xx and the connection closes;
//! what the peer sends after that is read and dropped, up to
//! [`LINGER_MAX`] bytes, then the connection is reset. Errors on
//! well-formed requests (404, 405...) keep the connection. The last time
//! each connection saw an event is kept in [`Activity`] for the idle
//! sweep (`commands.rs`), which resets connections idle past the
//! keep-alive timeout.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hashbrown::HashMap;

use super::cache::{Cached, FileCache, Lookup};
use super::path::{content_type, resolve};
use super::request::{Limits, Method, Request, RequestParser};
use super::response::{epoch_secs, error_body, http_date, write_head, DateCache, Head};
use super::Status;
use crate::nodes::lock;
use crate::session::{App, AppEvent, AppSession, SessionIndex};

/// The most file bytes read per step of a streamed response.
pub const CHUNK: usize = 64 * 1024;

/// The largest file read whole into the cache (a bigger one is streamed
/// even when the cache could hold it: reading it at once would stall the
/// worker).
pub const MAX_CACHED_FILE: u64 = 64 << 20;

/// Bytes read and dropped after our close before the connection is reset
/// (a client that keeps sending into a closed request).
pub const LINGER_MAX: usize = 1 << 20;

/// A server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The directory served (made absolute when the server starts).
    pub root: PathBuf,
    /// The uri listened on, as given.
    pub uri: String,
    /// File cache budget in bytes.
    pub cache_size: u64,
    pub limits: Limits,
    /// `Cache-Control: max-age` of 200s (0: none).
    pub max_age: u32,
    /// Connections without an event for this long are reset.
    pub keepalive_timeout: Duration,
}

/// Counters of one server over all its workers.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub ok: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    pub body_bytes: AtomicU64,
    pub idle_resets: AtomicU64,
}

/// What every worker's instance of one server shares.
#[derive(Debug)]
pub struct Shared {
    pub config: ServerConfig,
    pub cache: Mutex<FileCache>,
    pub stats: ServerStats,
}

impl Shared {
    /// A server's shared state.
    pub fn new(config: ServerConfig) -> Arc<Shared> {
        let cache = Mutex::new(FileCache::new(config.cache_size));
        Arc::new(Shared { config, cache, stats: ServerStats::default() })
    }
}

/// Last event time per connection of one worker's instance.
pub type Activity = Arc<Mutex<HashMap<SessionIndex, Instant>>>;

/// What the server needs from a session (an [`AppSession`], or a test's
/// in-memory pipe).
pub trait SessionIo {
    /// The readable bytes as one or two slices.
    fn peek(&self) -> (&[u8], &[u8]);
    /// Drops `n` bytes from the rx side.
    fn consume(&mut self, n: usize);
    /// Room on the tx side.
    fn tx_free(&self) -> usize;
    /// Queues bytes; returns how many were taken.
    fn write(&mut self, data: &[u8]) -> usize;
    /// Closes after the queued bytes.
    fn close(&mut self);
    /// Resets.
    fn abort(&mut self);
}

impl SessionIo for AppSession<'_> {
    fn peek(&self) -> (&[u8], &[u8]) {
        AppSession::peek(self)
    }
    fn consume(&mut self, n: usize) {
        AppSession::consume(self, n as u32)
    }
    fn tx_free(&self) -> usize {
        AppSession::tx_free(self) as usize
    }
    fn write(&mut self, data: &[u8]) -> usize {
        AppSession::write(self, data)
    }
    fn close(&mut self) {
        AppSession::close(self)
    }
    fn abort(&mut self) {
        AppSession::abort(self)
    }
}

enum Body {
    None,
    Mem { data: Arc<[u8]>, off: usize },
    File { file: File, off: u64, end: u64 },
}

/// A response being written.
struct Response {
    /// Head, or head and error body.
    head: Vec<u8>,
    head_off: usize,
    body: Body,
}

enum Progress {
    Done,
    Blocked,
    Failed,
}

struct Conn {
    parser: RequestParser,
    resp: Option<Response>,
    /// Close once the response in flight is out.
    close_after: bool,
    peer_closed: bool,
    /// Our side is closed: rx is dropped.
    closing: bool,
    /// Bytes dropped since.
    lingered: usize,
}

/// One worker's instance of an HTTP static server.
pub struct HttpServer {
    shared: Arc<Shared>,
    conns: HashMap<SessionIndex, Conn>,
    scratch: Vec<u8>,
    date: DateCache,
    activity: Activity,
}

impl HttpServer {
    /// A worker's instance; `activity` is shared with the idle sweep.
    pub fn new(shared: Arc<Shared>, activity: Activity) -> Self {
        HttpServer { shared, conns: HashMap::new(), scratch: vec![0; CHUNK], date: DateCache::default(), activity }
    }

    /// Connections this instance holds state for.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Handles one event of session `key` (the [`App`] entry point,
    /// generic so tests can drive it without TCP).
    pub fn handle<S: SessionIo>(&mut self, key: SessionIndex, s: &mut S, event: AppEvent) {
        match event {
            AppEvent::Reset | AppEvent::Closed => {
                self.conns.remove(&key);
                lock(&self.activity).remove(&key);
                return;
            }
            AppEvent::Accepted => {
                self.shared.stats.connections.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        lock(&self.activity).insert(key, Instant::now());
        let limits = self.shared.config.limits;
        let c = self.conns.entry(key).or_insert_with(|| Conn {
            parser: RequestParser::new(limits),
            resp: None,
            close_after: false,
            peer_closed: false,
            closing: false,
            lingered: 0,
        });
        if event == AppEvent::Disconnected {
            c.peer_closed = true;
        }
        pump(&self.shared, &mut self.date, &mut self.scratch, c, s);
    }
}

impl App for HttpServer {
    fn name(&self) -> &str {
        "http-static-server"
    }

    fn on_event(&mut self, s: &mut AppSession<'_>, event: AppEvent) {
        let key = s.index();
        self.handle(key, s, event);
    }
}

/// Drops everything readable; returns how much.
fn discard<S: SessionIo>(s: &mut S) -> usize {
    let n = {
        let (a, b) = s.peek();
        a.len() + b.len()
    };
    s.consume(n);
    n
}

/// Writes what can be written, then answers the next requests, until the
/// tx fifo is full or the rx fifo holds no complete request.
fn pump<S: SessionIo>(shared: &Shared, date: &mut DateCache, scratch: &mut [u8], c: &mut Conn, s: &mut S) {
    loop {
        if c.closing {
            let before = c.lingered;
            c.lingered += discard(s);
            if c.lingered > LINGER_MAX && before <= LINGER_MAX {
                s.abort();
            }
            return;
        }
        if let Some(r) = c.resp.as_mut() {
            match write_response(r, s, scratch, &shared.stats) {
                Progress::Blocked => return,
                Progress::Failed => {
                    // Cannot finish a response whose length is promised.
                    c.resp = None;
                    c.closing = true;
                    s.abort();
                    return;
                }
                Progress::Done => {
                    c.resp = None;
                    if c.close_after {
                        c.closing = true;
                        s.close();
                        continue;
                    }
                }
            }
        }
        let (used, out) = {
            let (a, b) = s.peek();
            let (n, out) = c.parser.feed(a);
            if out.is_none() && n == a.len() {
                let (m, out) = c.parser.feed(b);
                (n + m, out)
            } else {
                (n, out)
            }
        };
        s.consume(used);
        match out {
            None => {
                if c.peer_closed {
                    // No more bytes will come: a partial request is dropped.
                    c.closing = true;
                    s.close();
                }
                return;
            }
            Some(Ok(req)) => {
                shared.stats.requests.fetch_add(1, Ordering::Relaxed);
                c.close_after = !req.keep_alive;
                c.resp = Some(respond(shared, date, &req));
            }
            Some(Err(status)) => {
                shared.stats.requests.fetch_add(1, Ordering::Relaxed);
                c.close_after = true;
                c.resp = Some(error_response(shared, date, status, false, false));
            }
        }
    }
}

fn count_status(stats: &ServerStats, s: Status) {
    let c = match s.code() {
        200..=299 => &stats.ok,
        400..=499 => &stats.client_errors,
        _ => &stats.server_errors,
    };
    c.fetch_add(1, Ordering::Relaxed);
}

fn error_response(
    shared: &Shared,
    date: &mut DateCache,
    status: Status,
    keep_alive: bool,
    head_only: bool,
) -> Response {
    count_status(&shared.stats, status);
    let body = error_body(status);
    let mut head = Vec::with_capacity(256);
    write_head(
        &mut head,
        &Head {
            status,
            content_type: "text/plain; charset=utf-8",
            content_length: body.len() as u64,
            keep_alive,
            date: date.now(),
            last_modified: None,
            max_age: 0,
        },
    );
    if !head_only {
        head.extend_from_slice(body.as_bytes());
    }
    Response { head, head_off: 0, body: Body::None }
}

/// The response to a well-formed request.
fn respond(shared: &Shared, date: &mut DateCache, req: &Request) -> Response {
    let head_only = req.method == Method::Head;
    let status = match req.method {
        Method::Get | Method::Head => None,
        Method::NotAllowed => Some(Status::MethodNotAllowed),
        Method::Unknown => Some(Status::NotImplemented),
    };
    if let Some(s) = status {
        return error_response(shared, date, s, req.keep_alive, head_only);
    }
    let found = resolve(&req.target).and_then(|rel| open(shared, &rel, Instant::now()));
    let (content, file) = match found {
        Ok(x) => x,
        Err(s) => return error_response(shared, date, s, req.keep_alive, head_only),
    };
    count_status(&shared.stats, Status::Ok);
    let (len, modified, body) = match content {
        Content::Mem(c) => (c.data.len() as u64, c.modified, Body::Mem { data: c.data, off: 0 }),
        Content::File { file, len, modified } => (len, modified, Body::File { file, off: 0, end: len }),
    };
    let last_modified = http_date(epoch_secs(modified));
    let mut head = Vec::with_capacity(256);
    write_head(
        &mut head,
        &Head {
            status: Status::Ok,
            content_type: content_type(&file),
            content_length: len,
            keep_alive: req.keep_alive,
            date: date.now(),
            last_modified: Some(&last_modified),
            max_age: shared.config.max_age,
        },
    );
    Response { head, head_off: 0, body: if head_only { Body::None } else { body } }
}

enum Content {
    Mem(Cached),
    File { file: File, len: u64, modified: SystemTime },
}

fn io_status(e: &io::Error) -> Status {
    const ENOTDIR: i32 = 20;
    const ENAMETOOLONG: i32 = 36;
    const ELOOP: i32 = 40;
    match e.kind() {
        io::ErrorKind::NotFound => Status::NotFound,
        io::ErrorKind::PermissionDenied => Status::Forbidden,
        _ if matches!(e.raw_os_error(), Some(ENOTDIR | ENAMETOOLONG | ELOOP)) => Status::NotFound,
        // Out of descriptors or memory, an I/O error: not the client's fault.
        _ => Status::InternalError,
    }
}

/// The content of `rel` under the root (a directory's `index.html`), from
/// the cache when fresh there, read into it when it fits, else opened for
/// streaming. Returns the content and the file's path.
fn open(shared: &Shared, rel: &Path, now: Instant) -> Result<(Content, PathBuf), Status> {
    let full = shared.config.root.join(rel);
    if let Lookup::Fresh(c) = lock(&shared.cache).get(&full, now) {
        return Ok((Content::Mem(c), full));
    }
    let meta = std::fs::metadata(&full).map_err(|e| {
        lock(&shared.cache).remove(&full);
        io_status(&e)
    })?;
    let (full, meta) = if meta.is_dir() {
        let index = full.join("index.html");
        let m = std::fs::metadata(&index).map_err(|e| io_status(&e))?;
        (index, m)
    } else {
        (full, meta)
    };
    if !meta.is_file() {
        return Err(Status::NotFound);
    }
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let fits = {
        let mut cache = lock(&shared.cache);
        match cache.get(&full, now) {
            Lookup::Fresh(c) => return Ok((Content::Mem(c), full)),
            Lookup::Stale(len, m) if len == meta.len() && m == modified => {
                if let Some(c) = cache.revalidated(&full, now) {
                    return Ok((Content::Mem(c), full));
                }
            }
            Lookup::Stale(..) => cache.remove(&full),
            Lookup::Miss => {}
        }
        cache.count_miss();
        meta.len() <= MAX_CACHED_FILE && cache.fits(meta.len())
    };
    if fits {
        let data = std::fs::read(&full).map_err(|e| io_status(&e))?;
        let c = Cached { data: data.into(), modified };
        lock(&shared.cache).insert(&full, c.clone(), now);
        return Ok((Content::Mem(c), full));
    }
    let file = File::open(&full).map_err(|e| io_status(&e))?;
    Ok((Content::File { file, len: meta.len(), modified }, full))
}

/// Writes as much of `r` as the session takes.
fn write_response<S: SessionIo>(r: &mut Response, s: &mut S, scratch: &mut [u8], stats: &ServerStats) -> Progress {
    while r.head_off < r.head.len() {
        let n = s.write(&r.head[r.head_off..]);
        if n == 0 {
            return stalled(s);
        }
        r.head_off += n;
    }
    match &mut r.body {
        Body::None => Progress::Done,
        Body::Mem { data, off } => {
            while *off < data.len() {
                let n = s.write(&data[*off..]);
                if n == 0 {
                    return stalled(s);
                }
                *off += n;
                stats.body_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Progress::Done
        }
        Body::File { file, off, end } => {
            while *off < *end {
                // One byte more than fits: the short write is what arms
                // the TxSpace event that resumes us (that byte is read
                // again next time, from the file at the offset).
                let want = ((s.tx_free() + 1).min(scratch.len()) as u64).min(*end - *off) as usize;
                let got = match file.read_at(&mut scratch[..want], *off) {
                    Ok(0) | Err(_) => return Progress::Failed, // shrank or failed under us
                    Ok(n) => n,
                };
                let n = s.write(&scratch[..got]);
                *off += n as u64;
                stats.body_bytes.fetch_add(n as u64, Ordering::Relaxed);
                if n == 0 {
                    return stalled(s);
                }
                if n < got {
                    return Progress::Blocked;
                }
            }
            Progress::Done
        }
    }
}

/// A write took nothing: blocked when the fifo is full, failed when the
/// session no longer takes data.
fn stalled<S: SessionIo>(s: &S) -> Progress {
    if s.tx_free() == 0 {
        Progress::Blocked
    } else {
        Progress::Failed
    }
}

#[cfg(test)]
mod tcp_tests;
#[cfg(test)]
mod tests;
