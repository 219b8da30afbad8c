//! An incremental HTTP/1.x request parser.
//!
//! [`RequestParser::feed`] takes whatever bytes arrived (any split, several
//! pipelined requests at once) and returns how many it used and, when one
//! is complete, the request or the error status that must end the
//! connection. It keeps only the head of the request in progress, bounded
//! by [`Limits`] (request line, header count, header bytes); a body
//! announced by `Content-Length` is counted off and discarded, never
//! stored. After an error the parser takes nothing more. No input panics.

use super::Status;

/// The bounds on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in the request line (without its line ending).
    pub request_line: usize,
    /// Header fields.
    pub headers: usize,
    /// Bytes of the header section (fields and their line endings).
    pub header_bytes: usize,
    /// A request body larger than this is refused (413) instead of read
    /// and discarded.
    pub body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { request_line: 8 << 10, headers: 64, header_bytes: 16 << 10, body: 1 << 20 }
    }
}

/// Empty lines tolerated before a request line (RFC 9112 §2.2).
const MAX_LEADING_EMPTY: usize = 4;

/// What the client asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// A method RFC 9110 defines that this server does not serve (405).
    NotAllowed,
    /// A syntactically valid method nobody here knows (501).
    Unknown,
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// One complete request (its body, if any, already discarded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target as sent (undecoded).
    pub target: Vec<u8>,
    pub version: Version,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

#[derive(Debug)]
enum State {
    /// Collecting the request line and headers.
    Head,
    /// Discarding `remaining` body bytes before handing out `req`.
    Body { remaining: u64, req: Request },
    /// An error was returned; nothing more is taken.
    Failed,
}

/// The parser for one connection's requests, in order.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    /// The head so far (request line and header lines, endings included).
    head: Vec<u8>,
    /// Where the line being collected starts in `head`.
    line_start: usize,
    /// End of the request line in `head`, once it is complete.
    request_line_end: Option<usize>,
    /// Header lines so far.
    header_lines: usize,
    leading_empty: usize,
    state: State,
}

impl RequestParser {
    /// A parser for a new connection.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            head: Vec::new(),
            line_start: 0,
            request_line_end: None,
            header_lines: 0,
            leading_empty: 0,
            state: State::Head,
        }
    }

    /// Whether part of a request has arrived (a close now cuts it short).
    pub fn in_progress(&self) -> bool {
        match self.state {
            State::Head => !self.head.is_empty(),
            State::Body { .. } => true,
            State::Failed => false,
        }
    }

    /// Whether an error ended this parser.
    pub fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Bytes held for the request in progress (its head).
    pub fn buffered(&self) -> usize {
        self.head.len()
    }

    /// Takes bytes from `data` until a request completes or `data` ends.
    /// Returns the bytes used and, when a request completed, it or the
    /// status of the error that ends the connection. Bytes after a
    /// complete request are left for the next call.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Option<Result<Request, Status>>) {
        let mut used = 0;
        loop {
            match &mut self.state {
                State::Failed => return (used, None),
                State::Body { remaining, .. } => {
                    let take = (*remaining).min((data.len() - used) as u64);
                    *remaining -= take;
                    used += take as usize;
                    if *remaining > 0 {
                        return (used, None);
                    }
                    let State::Body { req, .. } = std::mem::replace(&mut self.state, State::Head) else {
                        unreachable!("matched above")
                    };
                    return (used, Some(Ok(req)));
                }
                State::Head => {
                    let rest = &data[used..];
                    if rest.is_empty() {
                        return (used, None);
                    }
                    let (line_part, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(p) => (&rest[..=p], true),
                        None => (rest, false),
                    };
                    if let Err(s) = self.check_room(line_part.len(), complete) {
                        return (used + line_part.len(), Some(Err(self.fail(s))));
                    }
                    self.head.extend_from_slice(line_part);
                    used += line_part.len();
                    if !complete {
                        return (used, None);
                    }
                    // A request with a body continues in State::Body.
                    match self.end_line() {
                        Ok(None) => {}
                        Ok(Some(req)) => return (used, Some(Ok(req))),
                        Err(s) => return (used, Some(Err(self.fail(s)))),
                    }
                }
            }
        }
    }

    fn fail(&mut self, s: Status) -> Status {
        self.state = State::Failed;
        self.head = Vec::new();
        s
    }

    /// Whether `n` more bytes of the current line fit the bounds.
    fn check_room(&self, n: usize, complete: bool) -> Result<(), Status> {
        let line = self.head.len() - self.line_start + n;
        // The line's content without its ending (a lone CR may still be
        // waiting for its LF).
        let content = if complete { line.saturating_sub(2) } else { line.saturating_sub(1) };
        match self.request_line_end {
            None if content > self.limits.request_line => Err(Status::UriTooLong),
            Some(end) if self.head.len() + n - end > self.limits.header_bytes + 2 => Err(Status::HeaderFieldsTooLarge),
            _ => Ok(()),
        }
    }

    /// Handles the line just completed: a request ready now, or nothing
    /// yet (more head to come, or a body to discard first).
    fn end_line(&mut self) -> Result<Option<Request>, Status> {
        let line = strip_eol(&self.head[self.line_start..]);
        let empty = line.is_empty();
        if self.request_line_end.is_none() {
            if empty {
                self.leading_empty += 1;
                if self.leading_empty > MAX_LEADING_EMPTY {
                    return Err(Status::BadRequest);
                }
                self.head.clear();
                self.line_start = 0;
                return Ok(None);
            }
            self.request_line_end = Some(self.head.len());
            self.line_start = self.head.len();
            return Ok(None);
        }
        if !empty {
            self.header_lines += 1;
            if self.header_lines > self.limits.headers {
                return Err(Status::HeaderFieldsTooLarge);
            }
            self.line_start = self.head.len();
            return Ok(None);
        }
        let (req, body) = parse_head(&self.head, self.request_line_end.unwrap_or(0), &self.limits)?;
        self.reset_head();
        if body > 0 {
            self.state = State::Body { remaining: body, req };
            return Ok(None);
        }
        Ok(Some(req))
    }

    fn reset_head(&mut self) {
        self.head.clear();
        if self.head.capacity() > 4096 {
            self.head.shrink_to(1024);
        }
        self.line_start = 0;
        self.request_line_end = None;
        self.header_lines = 0;
        self.leading_empty = 0;
    }
}

/// A line without its LF and the CR before it.
fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Bytes allowed in a field value: visible, space, tab, obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// The request line and header fields of a complete head; returns the
/// request and the body length to discard.
fn parse_head(head: &[u8], rl_end: usize, limits: &Limits) -> Result<(Request, u64), Status> {
    let rl = strip_eol(&head[..rl_end]);
    let mut parts = rl.split(|&b| b == b' ');
    let (Some(m), Some(target), Some(v), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Status::BadRequest);
    };
    if m.is_empty() || !m.iter().all(|&b| is_tchar(b)) {
        return Err(Status::BadRequest);
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(Status::BadRequest);
    }
    let version = match v {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            return Err(if *a == b'1' { Status::BadRequest } else { Status::VersionNotSupported })
        }
        _ => return Err(Status::BadRequest),
    };
    let method = match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" | b"PUT" | b"DELETE" | b"OPTIONS" | b"PATCH" | b"CONNECT" | b"TRACE" => Method::NotAllowed,
        _ => Method::Unknown,
    };
    let (mut close, mut keep) = (false, false);
    let mut length: Option<u64> = None;
    let mut hosts = 0;
    let mut transfer_encoding = false;
    for raw in head[rl_end..].split_inclusive(|&b| b == b'\n') {
        let line = strip_eol(raw);
        if line.is_empty() {
            break; // the end of the head
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(Status::BadRequest)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        // No obs-fold, no space before the colon (RFC 9112 §5.1, §5.2).
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(Status::BadRequest);
        }
        if !value.iter().all(|&b| is_field_byte(b)) {
            return Err(Status::BadRequest);
        }
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case(b"connection") {
            for opt in value.split(|&b| b == b',') {
                let opt = opt.trim_ascii();
                close |= opt.eq_ignore_ascii_case(b"close");
                keep |= opt.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // A list of identical values is one value (RFC 9110 §8.6).
            for part in value.split(|&b| b == b',') {
                let n = parse_length(part.trim_ascii()).ok_or(Status::BadRequest)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Status::BadRequest);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        }
    }
    if transfer_encoding {
        // Both framings at once is a smuggling attempt; a chunked body
        // alone is one we do not read.
        return Err(if length.is_some() { Status::BadRequest } else { Status::LengthRequired });
    }
    if version == Version::Http11 && hosts != 1 || hosts > 1 {
        return Err(Status::BadRequest);
    }
    let body = length.unwrap_or(0);
    if body > limits.body {
        return Err(Status::PayloadTooLarge);
    }
    let keep_alive = !close && (version == Version::Http11 || keep);
    Ok((Request { method, target: target.to_vec(), version, keep_alive }, body))
}

/// 1*DIGIT as a u64 (None on overflow or anything else).
fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| n * 10 + (d - b'0') as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> RequestParser {
        RequestParser::new(Limits::default())
    }

    /// Feeds `data` whole; returns every outcome and the bytes left over.
    fn all(p: &mut RequestParser, data: &[u8]) -> (Vec<Result<Request, Status>>, usize) {
        let mut out = Vec::new();
        let mut off = 0;
        loop {
            let (n, r) = p.feed(&data[off..]);
            off += n;
            match r {
                Some(r) => out.push(r),
                None => return (out, data.len() - off),
            }
        }
    }

    fn one(data: &[u8]) -> Result<Request, Status> {
        let mut p = parser();
        let (mut v, left) = all(&mut p, data);
        assert_eq!(v.len(), 1, "{:?}", String::from_utf8_lossy(data));
        assert_eq!(left, 0);
        v.remove(0)
    }

    #[test]
    fn simple_get_and_head() {
        let r = one(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, b"/index.html");
        assert_eq!(r.version, Version::Http11);
        assert!(r.keep_alive);
        let r = one(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((r.method, r.version, r.keep_alive), (Method::Head, Version::Http10, false));
    }

    #[test]
    fn connection_header_decides_keep_alive() {
        assert!(!one(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap().keep_alive);
        assert!(!one(b"GET / HTTP/1.1\r\nHost: a\r\nconnection: Keep-Alive, CLOSE\r\n\r\n").unwrap().keep_alive);
        assert!(one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().keep_alive);
        assert!(!one(b"GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        let r = one(b"GET /x HTTP/1.1\nHost: a\n\n").unwrap();
        assert_eq!(r.target, b"/x");
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let req = b"GET /a?b=c HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
        let mut whole = parser();
        let (w, left) = all(&mut whole, req);
        assert_eq!(left, 0);
        let mut p = parser();
        let mut got = Vec::new();
        for b in req.chunks(1) {
            let (n, r) = p.feed(b);
            assert_eq!(n, 1);
            got.extend(r);
        }
        assert_eq!(w, got);
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].as_ref().unwrap().target, b"/2");
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let mut data = Vec::new();
        for k in 0..10 {
            data.extend_from_slice(format!("GET /{k} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        }
        let mut p = parser();
        let (v, left) = all(&mut p, &data);
        assert_eq!(left, 0);
        let targets: Vec<String> = v.into_iter().map(|r| String::from_utf8(r.unwrap().target).unwrap()).collect();
        assert_eq!(targets, (0..10).map(|k| format!("/{k}")).collect::<Vec<_>>());
        assert!(!p.in_progress());
    }

    #[test]
    fn get_body_is_discarded_not_stored() {
        let mut p = parser();
        let (n, r) = p.feed(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n");
        assert!(r.is_none());
        assert!(n > 0);
        let chunk = [b'x'; 1000];
        for _ in 0..99 {
            assert_eq!(p.feed(&chunk), (1000, None));
            assert_eq!(p.buffered(), 0);
        }
        let mut last = chunk.to_vec();
        last.extend_from_slice(b"GET /next");
        let (n, r) = p.feed(&last);
        assert_eq!(n, 1000);
        assert_eq!(r.unwrap().unwrap().target, b"/");
        assert_eq!(p.feed(b"GET /next"), (9, None));
        assert!(p.in_progress());
    }

    #[test]
    fn methods() {
        assert_eq!(one(b"POST / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().method, Method::NotAllowed);
        assert_eq!(one(b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().method, Method::NotAllowed);
        assert_eq!(one(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().method, Method::Unknown);
        // Methods are case-sensitive.
        assert_eq!(one(b"get / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().method, Method::Unknown);
    }

    #[test]
    fn malformed_heads_are_400() {
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
            b"GET / FOO/1.1\r\nHost: h\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let mut p = parser();
            let (v, _) = all(&mut p, bad);
            assert_eq!(v, [Err(Status::BadRequest)], "{:?}", String::from_utf8_lossy(bad));
            assert!(p.failed());
            assert_eq!(p.feed(b"GET / HTTP/1.1\r\n\r\n"), (0, None), "nothing after an error");
        }
    }

    #[test]
    fn other_errors() {
        assert_eq!(one(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), Err(Status::VersionNotSupported));
        assert_eq!(
            one(b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Status::LengthRequired)
        );
        assert_eq!(one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n"), Err(Status::PayloadTooLarge));
        // Leading empty lines are skipped, a few of them.
        assert!(one(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").is_ok());
        // Equal values in a list are one length.
        let mut p = parser();
        let (v, _) = all(&mut p, b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nabGET");
        assert!(v[0].is_ok());
        assert!(p.in_progress());
    }

    #[test]
    fn request_line_bound() {
        let limits = Limits::default();
        let mut ok = b"GET /".to_vec();
        ok.resize(limits.request_line - b" HTTP/1.1".len(), b'a');
        ok.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(one(&ok).is_ok());
        let mut long = b"GET /".to_vec();
        long.resize(limits.request_line + 1 - b" HTTP/1.1".len(), b'a');
        long.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(one_err(&long), Status::UriTooLong);
        // An endless line without a newline is cut off at the bound.
        let mut p = parser();
        let chunk = [b'a'; 1000];
        let mut fed = 0;
        let r = loop {
            let (n, r) = p.feed(&chunk);
            fed += n;
            if let Some(r) = r {
                break r;
            }
            assert!(p.buffered() <= limits.request_line + 2);
        };
        assert_eq!(r, Err(Status::UriTooLong));
        assert!(fed <= limits.request_line + 1000);
    }

    fn one_err(data: &[u8]) -> Status {
        let mut p = parser();
        let (v, _) = all(&mut p, data);
        v[0].clone().unwrap_err()
    }

    #[test]
    fn header_bounds() {
        let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for k in 0..63 {
            many.extend_from_slice(format!("X-{k}: v\r\n").as_bytes());
        }
        let mut ok = many.clone();
        ok.extend_from_slice(b"\r\n");
        assert!(one(&ok).is_ok(), "64 headers are fine");
        many.extend_from_slice(b"X-64: v\r\n\r\n");
        assert_eq!(one_err(&many), Status::HeaderFieldsTooLarge);

        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
        big.resize(big.len() + (17 << 10), b'v');
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(one_err(&big), Status::HeaderFieldsTooLarge);

        // An endless header line stops at the bound.
        let mut p = parser();
        assert_eq!(p.feed(b"GET / HTTP/1.1\r\nX: ").1, None);
        let chunk = [b'v'; 4096];
        let r = loop {
            if let (_, Some(r)) = p.feed(&chunk) {
                break r;
            }
            assert!(p.buffered() <= 8 + (16 << 10) + 24);
        };
        assert_eq!(r, Err(Status::HeaderFieldsTooLarge));
    }

    #[test]
    fn random_bytes_never_panic_and_stay_bounded() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for round in 0..2000 {
            let mut p = parser();
            let len = (round * 37) % 3000;
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias toward the bytes that matter to the grammar.
                let b = match x % 8 {
                    0 => b'\n',
                    1 => b'\r',
                    2 => b' ',
                    3 => b':',
                    _ => (x >> 8) as u8,
                };
                data.push(b);
            }
            let mut off = 0;
            while off < data.len() {
                let step = ((x >> 20) as usize % 50 + 1).min(data.len() - off);
                let (n, r) = p.feed(&data[off..off + step]);
                assert!(n <= step);
                off += n;
                if n == 0 && r.is_none() {
                    break;
                }
                assert!(p.buffered() <= 8194 + (16 << 10) + 2);
            }
        }
    }
}
