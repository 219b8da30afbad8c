//! The stream syntax of `packet-generator new`, parsed into a [`StreamSpec`]
//! that writes every generated packet.
//!
//! ```text
//! packet-generator new {
//!   name s0  limit 10  size 64-64  rate 1e6  node ethernet-input  interface pg0
//!   data {
//!     IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06   <ethertype>: <src-mac> -> <dst-mac> [vlan <id>]
//!     UDP: 192.168.1.10 -> 192.168.1.11             <protocol>: <src-ip> -> <dst-ip> [ttl <n> ...]
//!     UDP: 1234 -> 5678                             UDP|TCP: <src-port> -> <dst-port>, ICMP <type>
//!     incrementing 22                               payload: incrementing, hex, fixed, random
//!   }
//! }
//! ```
//!
//! [`StreamSpec::parse`] takes the text after `packet-generator new`, with or
//! without the outer braces, on one line or many. Headers come in order and
//! each one's type field (ethertype, IP protocol) says which header may
//! follow; every header after the first may be left out in favour of payload.
//! The first header is an Ethernet line (an ethertype name or `0xNNNN` before
//! the colon) or an IP line (an IP protocol name or number), the IP version
//! read from the addresses. Any field value may be a range: `lo - hi` steps
//! by one per packet and wraps, `lo + hi` draws a (deterministic) random value
//! per packet. `size min-max` cycles the packet length the same way.
//!
//! Packets: the header stack is built once into a template followed by the
//! payload, which is continued past its end by the incrementing pattern
//! (payload byte `i` is `i as u8`) up to the largest size. Lengths (IPv4 total
//! length, IPv6 payload length, UDP length) and checksums (IPv4 header,
//! UDP/TCP/ICMPv6 with their pseudo-header, ICMPv4) are set for each packet's
//! own size unless the user fixed them (`length`, `checksum`). A packet
//! shorter than its headers is the truncated headers. When nothing varies,
//! the finished packet is built at parse time and [`StreamSpec::packet`] is a
//! single copy; otherwise it copies the template, writes the varying fields
//! and recomputes lengths and checksums over the headers only (the payload's
//! checksum contribution is precomputed for every length).
//!
//! Panics: none. [`StreamSpec::parse`] returns a [`PgSpecError`] naming the
//! offending token and its line (counted from 1 in the text given) for any
//! malformed input, and [`StreamSpec::packet`] writes at most `out.len()`
//! bytes for any `seq`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use rvpp_dataplane::checksum::fold;

#[cfg(test)]
mod tests;

/// Longest header stack a stream may describe, in bytes.
const MAX_HEADER_BYTES: usize = 256;
/// Largest packet (and payload item) a stream may describe, in bytes.
const MAX_PACKET_BYTES: usize = u16::MAX as usize;
/// Packet size when the stream gives none (VPP's default).
const DEFAULT_SIZE: u16 = 64;

/// Errors of [`StreamSpec::parse`]; each names the token and line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgSpecError {
    #[error(
        "pg: unknown stream keyword '{token}': expected name, limit, size, rate, node, \
         interface, tx-interface, worker, maxframe, data (line {line})"
    )]
    UnknownKeyword { token: String, line: u32 },
    #[error("pg: '{keyword}' needs a value: expected {expected} (line {line})")]
    MissingValue { keyword: String, expected: String, line: u32 },
    #[error("pg: bad {keyword} '{token}': expected {expected} (line {line})")]
    BadValue { keyword: String, token: String, expected: String, line: u32 },
    #[error("pg: unexpected '{token}' in data: expected {expected} (line {line})")]
    UnexpectedData { token: String, expected: String, line: u32 },
    #[error("pg: unbalanced braces at '{token}': {detail} (line {line})")]
    Unbalanced { token: String, detail: &'static str, line: u32 },
    #[error("pg: unexpected '{token}' after the stream's closing '}}' (line {line})")]
    Trailing { token: String, line: u32 },
    #[error("pg: stream has no '{keyword}': expected {expected}")]
    Missing { keyword: &'static str, expected: &'static str },
    #[error("pg: '{keyword}' given twice (line {line})")]
    Duplicate { keyword: &'static str, line: u32 },
    #[error("pg: '{keyword}' is not supported (line {line})")]
    Unsupported { keyword: String, line: u32 },
    #[error("pg: header stack of {bytes} bytes is too long: at most {max} (line {line})")]
    HeadersTooLong { bytes: usize, max: usize, line: u32 },
}

/// One `packet-generator new` stream: its parameters and its packets.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub name: String,
    /// Packets to send; `None` is unlimited (`limit 0` or no limit).
    pub limit: Option<u64>,
    pub min_size: u16,
    pub max_size: u16,
    /// Packets per second; `None` is as fast as possible (`rate 0` or none).
    pub rate_pps: Option<f64>,
    pub node: String,
    /// The interface the packets appear to arrive on.
    pub interface: Option<String>,
    pub tx_interface: Option<String>,
    pub worker: Option<u32>,
    pub maxframe: Option<u16>,
    /// Accepted but ignored input (`buffer-flags ...`) and dubious settings.
    pub warnings: Vec<String>,
    /// `size min+max`: random sizes rather than cycling ones.
    size_random: bool,
    /// `max_size - min_size + 1`, for `packet_len`.
    size_modulus: FastMod,
    template: Template,
}

impl StreamSpec {
    /// Parses the text after `packet-generator new`.
    pub fn parse(text: &str) -> Result<StreamSpec, PgSpecError> {
        let toks = tokenize(text);
        check_braces(&toks)?;
        let body = strip_outer_braces(&toks)?;
        let mut cur = Cursor::new(body);
        let mut p = StreamParams::default();
        while let Some(tok) = cur.next() {
            p.keyword(tok, &mut cur)?;
        }
        let name = p.name.ok_or(PgSpecError::Missing { keyword: "name", expected: "name <stream-name>" })?;
        let node = p.node.ok_or(PgSpecError::Missing { keyword: "node", expected: "node <node-name>" })?;
        let (data, data_line) =
            p.data.ok_or(PgSpecError::Missing { keyword: "data", expected: "data { <headers> <payload> }" })?;
        let (min_size, max_size) = p.size;
        let mut b = Builder::default();
        parse_data(data, data_line, &node, &mut b)?;
        let mut warnings = p.warnings;
        let template = b.finish(usize::from(max_size), usize::from(min_size), &mut warnings);
        let mut spec = StreamSpec {
            name,
            limit: p.limit,
            min_size,
            max_size,
            rate_pps: p.rate,
            node,
            interface: p.interface,
            tx_interface: p.tx_interface,
            worker: p.worker,
            maxframe: p.maxframe,
            warnings,
            size_random: p.size_random,
            size_modulus: FastMod::new(u64::from(max_size.saturating_sub(min_size)) + 1),
            template,
        };
        if spec.template.edits.is_empty() && min_size == max_size {
            let mut ready = vec![0; usize::from(min_size)];
            let n = spec.build(0, usize::from(min_size), &mut ready);
            ready.truncate(n);
            spec.template.ready = Some(ready);
        }
        Ok(spec)
    }

    /// Writes packet number `seq` (0-based) into `out` and returns its
    /// length; a shorter `out` gets the packet's first `out.len()` bytes.
    pub fn packet(&self, seq: u64, out: &mut [u8]) -> usize {
        let len = self.packet_len(seq);
        if let Some(ready) = &self.template.ready {
            if ready.len() == len {
                let n = len.min(out.len());
                out[..n].copy_from_slice(&ready[..n]);
                return n;
            }
        }
        self.build(seq, len, out)
    }

    /// Length of packet `seq`: `min_size` up to `max_size`, one more per
    /// packet and wrapping (or random for `size min+max`).
    pub fn packet_len(&self, seq: u64) -> usize {
        let min = u64::from(self.min_size);
        let span = u64::from(self.max_size.saturating_sub(self.min_size));
        if span == 0 {
            return usize::from(self.min_size);
        }
        let k = if self.size_random { mix64(seq ^ 0x7369_7a65) } else { seq };
        let m = self.size_modulus;
        let r = if m.d == span + 1 { m.rem(k) } else { k % (span + 1) };
        // Below 2^16, so the cast is lossless.
        (min + r) as usize
    }

    /// The packet data in the syntax it was given, normalised, e.g.
    /// `IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 1.0.0.1 -> 1.0.0.2 UDP: 1234 -> 5678 incrementing 22`.
    pub fn describe(&self) -> String {
        self.template.description.clone()
    }

    /// Bytes of headers before the payload.
    pub fn header_len(&self) -> usize {
        self.template.hdr_len
    }

    /// Whether packets differ from one another (fields or size vary).
    pub fn varies(&self) -> bool {
        self.template.ready.is_none()
    }

    /// The general path: copy the template, write varying fields, fix up
    /// lengths and checksums for a packet of `len` bytes.
    fn build(&self, seq: u64, len: usize, out: &mut [u8]) -> usize {
        let t = &self.template;
        let len = len.min(t.bytes.len());
        let n = len.min(out.len());
        let h = t.hdr_len;
        if n >= h {
            out[..n].copy_from_slice(&t.bytes[..n]);
            t.finish(&mut out[..h], seq, len);
        } else {
            let mut scratch = [0u8; MAX_HEADER_BYTES];
            let hdr = &mut scratch[..h];
            hdr.copy_from_slice(&t.bytes[..h]);
            t.finish(hdr, seq, len);
            out[..n].copy_from_slice(&hdr[..n]);
        }
        n
    }
}

// ---------------------------------------------------------------------------
// Stream keywords

/// Stream-level words, the ignored ones included: `buffer-flags` stops
/// swallowing its flags at any of these.
const STREAM_WORDS: &[&str] = &[
    "name",
    "limit",
    "size",
    "rate",
    "node",
    "interface",
    "tx-interface",
    "worker",
    "maxframe",
    "data",
    "buffer-flags",
    "buffer-offload-flags",
    "buffer-size",
    "gso-size",
    "source",
    "no-recycle",
    "pcap",
];

struct StreamParams<'a> {
    name: Option<String>,
    limit: Option<u64>,
    size: (u16, u16),
    size_random: bool,
    rate: Option<f64>,
    node: Option<String>,
    interface: Option<String>,
    tx_interface: Option<String>,
    worker: Option<u32>,
    maxframe: Option<u16>,
    data: Option<(&'a [Tok<'a>], u32)>,
    warnings: Vec<String>,
}

impl Default for StreamParams<'_> {
    fn default() -> Self {
        StreamParams {
            name: None,
            limit: None,
            size: (DEFAULT_SIZE, DEFAULT_SIZE),
            size_random: false,
            rate: None,
            node: None,
            interface: None,
            tx_interface: None,
            worker: None,
            maxframe: None,
            data: None,
            warnings: Vec::new(),
        }
    }
}

impl<'a> StreamParams<'a> {
    fn keyword(&mut self, tok: Tok<'a>, cur: &mut Cursor<'a>) -> Result<(), PgSpecError> {
        let line = tok.line;
        match tok.text {
            "name" => self.name = Some(word(cur, "name", "a stream name")?.text.to_string()),
            "node" => self.node = Some(word(cur, "node", "a node name")?.text.to_string()),
            "interface" => self.interface = Some(word(cur, "interface", "an interface name")?.text.to_string()),
            "tx-interface" => {
                let w = word(cur, "tx-interface", "an interface name")?;
                self.tx_interface = Some(w.text.to_string());
            }
            "limit" => {
                let w = word(cur, "limit", "a packet count (0 = unlimited)")?;
                let n = parse_count_f64(w.text).ok_or_else(|| bad(w, "limit", "a packet count (0 = unlimited)"))?;
                self.limit = (n != 0).then_some(n);
            }
            "rate" => {
                let w = word(cur, "rate", "packets per second, e.g. 1e6")?;
                let r = w
                    .text
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r >= 0.0)
                    .ok_or_else(|| bad(w, "rate", "packets per second, e.g. 1e6"))?;
                self.rate = (r > 0.0).then_some(r);
            }
            "size" => {
                const EXPECTED: &str = "<min>-<max> or <n> bytes, 1 to 65535";
                let f = parse_field(cur, "size", Kind::Num(16))?;
                if f.lo == 0 {
                    return Err(PgSpecError::BadValue {
                        keyword: "size".into(),
                        token: "0".into(),
                        expected: EXPECTED.into(),
                        line,
                    });
                }
                // Both below 2^16 (Kind::Num(16)).
                self.size = (f.lo as u16, f.hi as u16);
                self.size_random = f.vary == Vary::Random;
            }
            "worker" => {
                let w = word(cur, "worker", "a worker index")?;
                let n = parse_num(w.text)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(w, "worker", "a worker index"))?;
                self.worker = Some(n);
            }
            "maxframe" => {
                let w = word(cur, "maxframe", "a frame size 1 to 65535")?;
                let n = parse_num(w.text)
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(w, "maxframe", "a frame size 1 to 65535"))?;
                self.maxframe = Some(n);
            }
            "data" => {
                if self.data.is_some() {
                    return Err(PgSpecError::Duplicate { keyword: "data", line });
                }
                let open = cur.pos;
                if cur.peek_text() != Some("{") {
                    return Err(missing(cur, "data", "'{' <headers> <payload> '}'"));
                }
                let close = matching_brace(cur.toks, open).ok_or(PgSpecError::Unbalanced {
                    token: "{".into(),
                    detail: "'{' is never closed",
                    line: cur.line(),
                })?;
                self.data = Some((&cur.toks[open + 1..close], line));
                cur.pos = close + 1;
            }
            "buffer-flags" | "buffer-offload-flags" => {
                let mut flags = Vec::new();
                while let Some(t) = cur.peek() {
                    if is_brace(t.text) || STREAM_WORDS.contains(&t.text) {
                        break;
                    }
                    flags.push(t.text);
                    cur.next();
                }
                if flags.is_empty() {
                    return Err(missing(cur, tok.text, "buffer flag names"));
                }
                self.warnings.push(format!("{} {} ignored (line {line})", tok.text, flags.join(" ")));
            }
            "buffer-size" | "gso-size" | "source" => {
                let w = word(cur, tok.text, "a value")?;
                self.warnings.push(format!("{} {} ignored (line {line})", tok.text, w.text));
            }
            "no-recycle" => self.warnings.push(format!("no-recycle ignored (line {line})")),
            "pcap" => return Err(PgSpecError::Unsupported { keyword: "pcap".into(), line }),
            "{" | "}" => {
                return Err(PgSpecError::Unbalanced {
                    token: tok.text.into(),
                    detail: "a brace where a stream keyword belongs",
                    line,
                })
            }
            other => return Err(PgSpecError::UnknownKeyword { token: other.into(), line }),
        }
        Ok(())
    }
}

/// `limit` takes a float in VPP (`limit 1e6`); it must be a whole count.
fn parse_count_f64(s: &str) -> Option<u64> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let f = s.parse::<f64>().ok()?;
    // 2^64 as f64; anything at or above it does not fit.
    let fits = f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0;
    fits.then_some(f as u64)
}

// ---------------------------------------------------------------------------
// Tokens

#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    text: &'a str,
    line: u32,
}

/// Splits on whitespace; `{`, `}` and `->` are tokens of their own.
fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut line = 1u32;
    let mut start: Option<(usize, u32)> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let brace = c == b'{' || c == b'}';
        let arrow = c == b'-' && bytes.get(i + 1) == Some(&b'>');
        if c.is_ascii_whitespace() || brace || arrow {
            // Splitting only at ASCII bytes keeps every slice on a char boundary.
            if let Some((s, l)) = start.take() {
                toks.push(Tok { text: &text[s..i], line: l });
            }
            let special = if arrow { 2 } else { usize::from(brace) };
            if special > 0 {
                toks.push(Tok { text: &text[i..i + special], line });
                i += special;
                continue;
            }
            if c == b'\n' {
                line = line.saturating_add(1);
            }
        } else if start.is_none() {
            start = Some((i, line));
        }
        i += 1;
    }
    if let Some((s, l)) = start {
        toks.push(Tok { text: &text[s..], line: l });
    }
    toks
}

fn is_brace(s: &str) -> bool {
    s == "{" || s == "}"
}

fn check_braces(toks: &[Tok<'_>]) -> Result<(), PgSpecError> {
    let mut open: Vec<u32> = Vec::new();
    for t in toks {
        match t.text {
            "{" => open.push(t.line),
            "}" => {
                let Some(_) = open.pop() else {
                    return Err(PgSpecError::Unbalanced {
                        token: "}".into(),
                        detail: "'}' without a matching '{'",
                        line: t.line,
                    });
                };
            }
            _ => {}
        }
    }
    match open.last() {
        Some(&line) => Err(PgSpecError::Unbalanced { token: "{".into(), detail: "'{' is never closed", line }),
        None => Ok(()),
    }
}

/// Index of the `}` closing the `{` at `open`.
fn matching_brace(toks: &[Tok<'_>], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t.text {
            "{" => depth += 1,
            "}" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn strip_outer_braces<'t, 'a>(toks: &'t [Tok<'a>]) -> Result<&'t [Tok<'a>], PgSpecError> {
    if toks.first().map(|t| t.text) != Some("{") {
        return Ok(toks);
    }
    let close = matching_brace(toks, 0).ok_or(PgSpecError::Unbalanced {
        token: "{".into(),
        detail: "'{' is never closed",
        line: toks[0].line,
    })?;
    if let Some(t) = toks.get(close + 1) {
        return Err(PgSpecError::Trailing { token: t.text.into(), line: t.line });
    }
    Ok(&toks[1..close])
}

struct Cursor<'a> {
    toks: &'a [Tok<'a>],
    pos: usize,
    last_line: u32,
}

impl<'a> Cursor<'a> {
    fn new(toks: &'a [Tok<'a>]) -> Self {
        Cursor { toks, pos: 0, last_line: toks.first().map_or(1, |t| t.line) }
    }

    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<&'a str> {
        self.toks.get(self.pos + k).map(|t| t.text)
    }

    fn peek_text(&self) -> Option<&'a str> {
        self.peek_at(0)
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.peek()?;
        self.pos += 1;
        self.last_line = t.line;
        Some(t)
    }

    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.next();
        }
    }

    /// Consumes the next token if it is `text`.
    fn eat(&mut self, text: &str) -> bool {
        let hit = self.peek_text() == Some(text);
        if hit {
            self.next();
        }
        hit
    }

    /// Line of the next token, or of the last one at the end.
    fn line(&self) -> u32 {
        self.peek().map_or(self.last_line, |t| t.line)
    }
}

/// The next token as a value of `keyword` (any token but a brace).
fn word<'a>(cur: &mut Cursor<'a>, keyword: &str, expected: &str) -> Result<Tok<'a>, PgSpecError> {
    match cur.peek() {
        Some(t) if !is_brace(t.text) => {
            cur.next();
            Ok(t)
        }
        _ => Err(missing(cur, keyword, expected)),
    }
}

fn missing(cur: &Cursor<'_>, keyword: &str, expected: &str) -> PgSpecError {
    PgSpecError::MissingValue { keyword: keyword.into(), expected: expected.into(), line: cur.line() }
}

fn bad(tok: Tok<'_>, keyword: &str, expected: &str) -> PgSpecError {
    PgSpecError::BadValue { keyword: keyword.into(), token: tok.text.into(), expected: expected.into(), line: tok.line }
}

/// An error at the next token of data (or at the data's closing brace).
fn unexpected(cur: &Cursor<'_>, expected: &str) -> PgSpecError {
    PgSpecError::UnexpectedData {
        token: cur.peek_text().unwrap_or("}").into(),
        expected: expected.into(),
        line: cur.line(),
    }
}

fn expect_word(cur: &mut Cursor<'_>, text: &str, after: &str) -> Result<(), PgSpecError> {
    if cur.eat(text) {
        Ok(())
    } else {
        Err(unexpected(cur, &format!("'{text}' after '{after}'")))
    }
}

/// `NAME:` or `NAME :` at the cursor: the name and how many tokens it takes.
/// An IPv6 address ending in `::` is no prefix.
fn peek_prefix<'a>(cur: &Cursor<'a>) -> Option<(&'a str, usize)> {
    let t = cur.peek_text()?;
    if let Some(name) = t.strip_suffix(':') {
        return (!name.is_empty() && !name.ends_with(':')).then_some((name, 1));
    }
    (cur.peek_at(1) == Some(":") && !t.contains(':') && !is_brace(t)).then_some((t, 2))
}

// ---------------------------------------------------------------------------
// Values: numbers, addresses, ranges

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vary {
    Fixed,
    /// One step per packet from `lo` to `hi`, then back to `lo`.
    Increment,
    Random,
}

/// A field's value: fixed, or a range stepped or drawn per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    lo: u128,
    hi: u128,
    vary: Vary,
}

impl Field {
    fn fixed(v: u128) -> Self {
        Field { lo: v, hi: v, vary: Vary::Fixed }
    }

    fn show(self, kind: Kind) -> String {
        match self.vary {
            Vary::Fixed => kind.show(self.lo),
            Vary::Increment => format!("{} - {}", kind.show(self.lo), kind.show(self.hi)),
            Vary::Random => format!("{} + {}", kind.show(self.lo), kind.show(self.hi)),
        }
    }
}

/// What a field's text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Decimal or `0x` hex below 2^bits.
    Num(u32),
    Mac,
    Ip4,
    Ip6,
}

impl Kind {
    fn parse(self, s: &str) -> Option<u128> {
        match self {
            Kind::Num(bits) => parse_num(s).filter(|v| bits >= 128 || *v >> bits == 0),
            Kind::Mac => parse_mac(s),
            Kind::Ip4 => s.parse::<Ipv4Addr>().ok().map(|a| u128::from(u32::from(a))),
            Kind::Ip6 => s.parse::<Ipv6Addr>().ok().map(u128::from),
        }
    }

    fn expected(self) -> String {
        match self {
            Kind::Num(bits) => {
                let max = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
                format!("a number 0 to {max}, or a range lo-hi")
            }
            Kind::Mac => "a MAC address like 00:01:02:03:04:05 or 0001.0203.0405".into(),
            Kind::Ip4 => "an IPv4 address, or a range lo - hi".into(),
            Kind::Ip6 => "an IPv6 address, or a range lo - hi".into(),
        }
    }

    fn show(self, v: u128) -> String {
        match self {
            Kind::Num(_) => v.to_string(),
            Kind::Mac => {
                let b = v.to_be_bytes();
                format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[10], b[11], b[12], b[13], b[14], b[15])
            }
            // Ip4 values are below 2^32 (parsed from an Ipv4Addr).
            Kind::Ip4 => Ipv4Addr::from(v as u32).to_string(),
            Kind::Ip6 => Ipv6Addr::from(v).to_string(),
        }
    }
}

/// Decimal or `0x` hex, digits only (no sign).
fn parse_num(s: &str) -> Option<u128> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(digits, radix).ok()
}

/// `00:01:02:03:04:05` (1-2 hex digits a group) or VPP's `0001.0203.0405`
/// (1-4 hex digits a group).
fn parse_mac(s: &str) -> Option<u128> {
    let (sep, groups, width) = if s.contains(':') {
        (':', 6, 2)
    } else if s.contains('.') {
        ('.', 3, 4)
    } else {
        return None;
    };
    let mut v = 0u128;
    let mut n = 0;
    for g in s.split(sep) {
        if g.is_empty() || g.len() > width || !g.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        v = (v << (4 * width)) | u128::from_str_radix(g, 16).ok()?;
        n += 1;
    }
    (n == groups).then_some(v)
}

/// The low end of a range token `lo-hi` / `lo+hi`, or the token itself.
fn range_lo(s: &str) -> &str {
    match range_split(s) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Byte index of the `-` or `+` joining a range written as one token.
fn range_split(s: &str) -> Option<usize> {
    s.char_indices().skip(1).find(|&(_, c)| c == '-' || c == '+').map(|(i, _)| i)
}

/// `v`, `lo-hi`, `lo - hi`, `lo -hi`, `lo- hi` (and `+` for random).
fn parse_field(cur: &mut Cursor<'_>, keyword: &str, kind: Kind) -> Result<Field, PgSpecError> {
    let expected = kind.expected();
    let tok = word(cur, keyword, &expected)?;
    let text = tok.text;
    let (lo_text, range) = if let Some(i) = range_split(text) {
        let op = &text[i..=i];
        let rest = &text[i + 1..];
        let hi = if rest.is_empty() { word(cur, keyword, &expected)? } else { Tok { text: rest, line: tok.line } };
        (&text[..i], Some((op, hi)))
    } else {
        match cur.peek() {
            Some(n) if n.text == "-" || n.text == "+" => {
                cur.next();
                (text, Some((n.text, word(cur, keyword, &expected)?)))
            }
            Some(n) if n.text != "->" && n.text.len() > 1 && (n.text.starts_with('-') || n.text.starts_with('+')) => {
                cur.next();
                let hi = Tok { text: &n.text[1..], line: n.line };
                (text, Some((&n.text[..1], hi)))
            }
            _ => (text, None),
        }
    };
    let lo_tok = Tok { text: lo_text, line: tok.line };
    let lo = kind.parse(lo_text).ok_or_else(|| bad(lo_tok, keyword, &expected))?;
    let Some((op, hi_tok)) = range else {
        return Ok(Field::fixed(lo));
    };
    let hi = kind.parse(hi_tok.text).ok_or_else(|| bad(hi_tok, keyword, &expected))?;
    if hi < lo {
        return Err(PgSpecError::BadValue {
            keyword: keyword.into(),
            token: format!("{lo_text}{op}{}", hi_tok.text),
            expected: "a range with low <= high".into(),
            line: tok.line,
        });
    }
    let vary = if op == "+" { Vary::Random } else { Vary::Increment };
    Ok(Field { lo, hi, vary })
}

// ---------------------------------------------------------------------------
// Names

const ETHERTYPES: &[(&str, u16)] = &[
    ("IP4", 0x0800),
    ("ARP", 0x0806),
    ("VLAN", 0x8100),
    ("IP6", 0x86dd),
    ("MPLS", 0x8847),
    ("DOT1AD", 0x88a8),
    ("LLDP", 0x88cc),
];
const ETHERTYPE_EXPECTED: &str = "an ethertype: IP4, IP6, ARP, VLAN, MPLS, DOT1AD, LLDP or 0xNNNN";

fn parse_ethertype(s: &str) -> Option<u16> {
    if let Some(&(_, t)) = ETHERTYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(t);
    }
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    parse_num(&format!("0x{hex}")).and_then(|v| u16::try_from(v).ok())
}

fn ethertype_name(t: u16) -> String {
    match ETHERTYPES.iter().find(|(_, v)| *v == t) {
        Some((n, _)) => (*n).to_string(),
        None => format!("0x{t:04x}"),
    }
}

const IP_PROTOCOLS: &[(&str, u8)] = &[
    ("ICMP", 1),
    ("IGMP", 2),
    ("IP_IN_IP", 4),
    ("TCP", 6),
    ("UDP", 17),
    ("IPV6", 41),
    ("GRE", 47),
    ("IPSEC_ESP", 50),
    ("IPSEC_AH", 51),
    ("ICMP6", 58),
    ("IP6_NONXT", 59),
    ("OSPF", 89),
    ("PIM", 103),
    ("L2TP", 115),
    ("SCTP", 132),
];
const PROTO_UDP: u8 = 17;
const PROTO_TCP: u8 = 6;
const PROTO_ICMP: u8 = 1;
const PROTO_ICMP6: u8 = 58;
const PROTO_IP4: u8 = 4;
const PROTO_IP6: u8 = 41;

fn parse_ip_protocol(s: &str) -> Option<u8> {
    if let Some(&(_, p)) = IP_PROTOCOLS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(p);
    }
    parse_num(s).and_then(|v| u8::try_from(v).ok())
}

fn protocol_name(p: u8) -> String {
    match IP_PROTOCOLS.iter().find(|(_, v)| *v == p) {
        Some((n, _)) => (*n).to_string(),
        None => p.to_string(),
    }
}

const ICMP4_TYPES: &[(&str, u8, u8)] = &[
    ("echo_reply", 0, 0),
    ("destination_unreachable", 3, 0),
    ("source_quench", 4, 0),
    ("redirect", 5, 0),
    ("alternate_host_address", 6, 0),
    ("echo_request", 8, 0),
    ("router_advertisement", 9, 0),
    ("router_solicitation", 10, 0),
    ("time_exceeded", 11, 0),
    ("parameter_problem", 12, 0),
    ("timestamp_request", 13, 0),
    ("timestamp_reply", 14, 0),
    ("information_request", 15, 0),
    ("information_reply", 16, 0),
    ("address_mask_request", 17, 0),
    ("address_mask_reply", 18, 0),
    ("host_unreachable", 3, 1),
    ("protocol_unreachable", 3, 2),
    ("port_unreachable", 3, 3),
    ("fragmentation_needed", 3, 4),
    ("fragment_reassembly_time_exceeded", 11, 1),
];

const ICMP6_TYPES: &[(&str, u8, u8)] = &[
    ("destination_unreachable", 1, 0),
    ("packet_too_big", 2, 0),
    ("time_exceeded", 3, 0),
    ("parameter_problem", 4, 0),
    ("echo_request", 128, 0),
    ("echo_reply", 129, 0),
    ("multicast_listener_request", 130, 0),
    ("multicast_listener_report", 131, 0),
    ("multicast_listener_done", 132, 0),
    ("router_solicitation", 133, 0),
    ("router_advertisement", 134, 0),
    ("neighbor_solicitation", 135, 0),
    ("neighbor_advertisement", 136, 0),
    ("redirect", 137, 0),
    ("port_unreachable", 1, 4),
];

const ARP_OPCODES: &[(&str, u16)] = &[("request", 1), ("reply", 2), ("reverse_request", 3), ("reverse_reply", 4)];

const TCP_FLAGS: &[(&str, u8)] = &[
    ("FIN", 0x01),
    ("SYN", 0x02),
    ("RST", 0x04),
    ("PSH", 0x08),
    ("ACK", 0x10),
    ("URG", 0x20),
    ("ECE", 0x40),
    ("CWR", 0x80),
];

const PAYLOAD_WORDS: &[&str] = &["incrementing", "hex", "fixed", "random"];
const PAYLOAD_EXPECTED: &str = "payload: incrementing <n>, hex 0x<bytes>, fixed <n> [<byte>], random <n>";

// ---------------------------------------------------------------------------
// Data: headers and payload

/// Where a header's bits live: `bits` bits at `shift` within the big-endian
/// `nbytes` at `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct At {
    off: usize,
    nbytes: usize,
    shift: u32,
    bits: u32,
}

fn bytes_at(off: usize, nbytes: usize) -> At {
    At {
        off,
        nbytes,
        shift: 0,
        // At most 16 bytes.
        bits: nbytes as u32 * 8,
    }
}

fn bits_at(off: usize, nbytes: usize, shift: u32, bits: u32) -> At {
    At { off, nbytes, shift, bits }
}

fn write_bits(buf: &mut [u8], at: At, v: u128) {
    let Some(dst) = buf.get_mut(at.off..at.off + at.nbytes) else {
        return;
    };
    if at.shift == 0 && at.bits as usize == 8 * at.nbytes {
        // Whole bytes, the common case (addresses, ports): fixed-size copies.
        match dst {
            [b] => *b = v as u8,
            [_, _] => dst.copy_from_slice(&(v as u16).to_be_bytes()),
            [_, _, _, _] => dst.copy_from_slice(&(v as u32).to_be_bytes()),
            [_, _, _, _, _, _] => dst.copy_from_slice(&(v as u64).to_be_bytes()[2..]),
            _ => {
                let all = v.to_be_bytes();
                dst.copy_from_slice(&all[16 - dst.len().min(16)..]);
            }
        }
        return;
    }
    let mut acc = 0u128;
    for &x in dst.iter() {
        acc = (acc << 8) | u128::from(x);
    }
    let mask = if at.bits >= 128 { u128::MAX } else { ((1u128 << at.bits) - 1) << at.shift };
    acc = (acc & !mask) | ((v << at.shift) & mask);
    for x in dst.iter_mut().rev() {
        *x = acc as u8;
        acc >>= 8;
    }
}

/// A field written per packet.
#[derive(Clone, Copy, Debug)]
struct Edit {
    at: At,
    field: Field,
    salt: u64,
    /// Range size when it fits 64 bits.
    modulus: Option<FastMod>,
}

impl Edit {
    fn new(at: At, field: Field, salt: u64) -> Self {
        let modulus = u64::try_from(field.hi - field.lo).ok().map(|span| FastMod::new(span.wrapping_add(1)));
        Edit { at, field, salt, modulus }
    }

    fn value(&self, seq: u64) -> u128 {
        let Field { lo, hi, vary } = self.field;
        if let Some(m) = self.modulus {
            let k = match vary {
                Vary::Fixed => 0,
                Vary::Increment => seq,
                Vary::Random => mix64(seq ^ self.salt),
            };
            return lo + u128::from(m.rem(k));
        }
        // Ranges wider than 2^64 (IPv6 addresses): rare, so divide.
        let k = match vary {
            Vary::Fixed => 0,
            Vary::Increment => u128::from(seq),
            Vary::Random => (u128::from(mix64(seq ^ self.salt)) << 64) | u128::from(mix64(!seq ^ self.salt)),
        };
        match (hi - lo).checked_add(1) {
            Some(n) => lo + k % n,
            None => lo.wrapping_add(k),
        }
    }
}

/// `n % d` by two multiplications (Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation"), as a 64-bit division costs tens of
/// cycles per packet. `d == 0` stands for 2^64: `n` itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FastMod {
    d: u64,
    /// ceil(2^128 / d), for d >= 2.
    c: u128,
}

impl FastMod {
    fn new(d: u64) -> Self {
        let c = if d >= 2 { u128::MAX / u128::from(d) + 1 } else { 0 };
        FastMod { d, c }
    }

    fn rem(self, n: u64) -> u64 {
        match self.d {
            0 => n,
            1 => 0,
            d => {
                let low = self.c.wrapping_mul(u128::from(n));
                let d = u128::from(d);
                // The high 64 bits of the 192-bit product low * d.
                let carry = (u128::from(low as u64) * d) >> 64;
                (((low >> 64) * d + carry) >> 64) as u64
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Udp,
    Tcp,
    Icmp4,
    Icmp6,
}

impl L4 {
    fn csum_offset(self) -> usize {
        match self {
            L4::Udp => 6,
            L4::Tcp => 16,
            L4::Icmp4 | L4::Icmp6 => 2,
        }
    }

    fn protocol(self) -> Option<u8> {
        match self {
            L4::Udp => Some(PROTO_UDP),
            L4::Tcp => Some(PROTO_TCP),
            L4::Icmp6 => Some(PROTO_ICMP6),
            L4::Icmp4 => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpAt {
    off: usize,
    v6: bool,
}

/// Lengths and checksums set for each packet's size.
#[derive(Clone, Copy, Debug)]
enum Fixup {
    Ip4 { off: usize, len: bool, csum: bool },
    Ip6 { off: usize },
    L4 { off: usize, kind: L4, ip: Option<IpAt>, len: bool, csum: bool },
}

#[derive(Clone, Debug)]
enum Payload {
    Incrementing(usize),
    Hex(Vec<u8>),
    Fixed(usize, u8),
    Random(usize),
}

/// What may follow a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Eth,
    Arp,
    Ip4,
    Ip6,
    Udp,
    Tcp,
    Icmp4,
    Icmp6,
    Payload,
}

fn after_ip(proto: u8, v6: bool) -> Expect {
    match proto {
        PROTO_UDP => Expect::Udp,
        PROTO_TCP => Expect::Tcp,
        PROTO_ICMP if !v6 => Expect::Icmp4,
        PROTO_ICMP6 if v6 => Expect::Icmp6,
        PROTO_IP4 => Expect::Ip4,
        PROTO_IP6 => Expect::Ip6,
        _ => Expect::Payload,
    }
}

#[derive(Default)]
struct Builder {
    hdr: Vec<u8>,
    edits: Vec<Edit>,
    fixups: Vec<Fixup>,
    last_ip: Option<IpAt>,
    payload: Vec<Payload>,
    desc: Vec<String>,
}

impl Builder {
    /// Appends `n` zero bytes of header; returns their offset.
    fn grow(&mut self, n: usize, line: u32) -> Result<usize, PgSpecError> {
        let off = self.hdr.len();
        if off + n > MAX_HEADER_BYTES {
            return Err(PgSpecError::HeadersTooLong { bytes: off + n, max: MAX_HEADER_BYTES, line });
        }
        self.hdr.resize(off + n, 0);
        Ok(off)
    }

    /// Writes a field into the template; a varying one also per packet.
    fn put(&mut self, at: At, field: Field) {
        write_bits(&mut self.hdr, at, field.lo);
        self.edits.retain(|e| e.at != at);
        if field.vary != Vary::Fixed {
            let salt = mix64(self.edits.len() as u64 + 1);
            self.edits.push(Edit::new(at, field, salt));
        }
    }

    fn put_fixed(&mut self, at: At, v: u128) {
        self.put(at, Field::fixed(v));
    }

    /// Parses `keyword <field>` at the cursor into `at`, and its description.
    fn option(&mut self, cur: &mut Cursor<'_>, desc: &mut Vec<String>, at: At, kind: Kind) -> Result<(), PgSpecError> {
        let Some(kw) = cur.next() else {
            return Ok(());
        };
        let f = parse_field(cur, kw.text, kind)?;
        self.put(at, f);
        desc.push(format!("{} {}", kw.text, f.show(kind)));
        Ok(())
    }

    /// Lays out the payload after the headers and precomputes its sums.
    fn finish(self, max_size: usize, min_size: usize, warnings: &mut Vec<String>) -> Template {
        let hdr_len = self.hdr.len();
        let total = max_size.max(hdr_len);
        let mut bytes = self.hdr;
        bytes.reserve(total - hdr_len);
        let mut wanted = 0usize;
        for item in &self.payload {
            let room = total - bytes.len();
            match item {
                Payload::Incrementing(n) => {
                    wanted += n;
                    bytes.extend((0..(*n).min(room)).map(|i| i as u8));
                }
                Payload::Hex(v) => {
                    wanted += v.len();
                    bytes.extend_from_slice(&v[..v.len().min(room)]);
                }
                Payload::Fixed(n, b) => {
                    wanted += n;
                    bytes.resize(bytes.len() + (*n).min(room), *b);
                }
                Payload::Random(n) => {
                    wanted += n;
                    bytes.extend((0..(*n).min(room)).map(random_byte));
                }
            }
        }
        if hdr_len + wanted > total {
            warnings.push(format!("payload of {wanted} bytes cut to {} by size {max_size}", total - hdr_len));
        }
        if min_size < hdr_len {
            warnings.push(format!(
                "size {min_size} is below the {hdr_len}-byte header stack: such packets are truncated headers"
            ));
        }
        while bytes.len() < total {
            let i = bytes.len() - hdr_len;
            bytes.push(i as u8);
        }
        let mut payload_sums = Vec::with_capacity(total - hdr_len + 1);
        let mut acc = 0u64;
        payload_sums.push(0u16);
        for (i, &b) in bytes[hdr_len..].iter().enumerate() {
            acc += if i % 2 == 0 { u64::from(b) << 8 } else { u64::from(b) };
            acc = u64::from(fold(acc));
            payload_sums.push(acc as u16);
        }
        Template {
            bytes,
            hdr_len,
            edits: self.edits,
            fixups: self.fixups,
            payload_sums,
            ready: None,
            description: self.desc.join(" "),
        }
    }
}

fn random_byte(i: usize) -> u8 {
    let word = mix64(0x7061_796c_6f61_6400 ^ (i as u64 / 8));
    (word >> ((i % 8) * 8)) as u8
}

fn parse_data(toks: &[Tok<'_>], line: u32, node: &str, b: &mut Builder) -> Result<(), PgSpecError> {
    let mut cur = Cursor::new(toks);
    cur.last_line = line;
    let mut expect = first_header(&cur, node)?;
    let mut in_payload = false;
    while let Some(tok) = cur.peek() {
        if PAYLOAD_WORDS.contains(&tok.text) {
            parse_payload(&mut cur, b)?;
            in_payload = true;
            continue;
        }
        if in_payload {
            return Err(unexpected(&cur, PAYLOAD_EXPECTED));
        }
        expect = match expect {
            Expect::Eth => parse_eth(&mut cur, b)?,
            Expect::Arp => parse_arp(&mut cur, b)?,
            Expect::Ip4 => parse_ip(&mut cur, b, false)?,
            Expect::Ip6 => parse_ip(&mut cur, b, true)?,
            Expect::Udp => parse_udp(&mut cur, b)?,
            Expect::Tcp => parse_tcp(&mut cur, b)?,
            Expect::Icmp4 => parse_icmp(&mut cur, b, false)?,
            Expect::Icmp6 => parse_icmp(&mut cur, b, true)?,
            Expect::Payload => return Err(unexpected(&cur, PAYLOAD_EXPECTED)),
        };
    }
    Ok(())
}

/// The first line decides the outermost header: an ethertype before the
/// colon is Ethernet, an IP protocol is IPv4 or IPv6 after the addresses.
fn first_header(cur: &Cursor<'_>, node: &str) -> Result<Expect, PgSpecError> {
    const EXPECTED: &str = "a header such as IP4: <src-mac> -> <dst-mac> or \
         UDP: <src-ip> -> <dst-ip>, or payload (incrementing, hex, fixed, random)";
    let Some(tok) = cur.peek() else {
        return Err(unexpected(cur, EXPECTED));
    };
    if PAYLOAD_WORDS.contains(&tok.text) {
        return Ok(Expect::Payload);
    }
    let Some((name, n)) = peek_prefix(cur) else {
        return Err(unexpected(cur, EXPECTED));
    };
    if parse_ethertype(name).is_some() {
        return Ok(Expect::Eth);
    }
    if parse_ip_protocol(name).is_none() {
        return Err(unexpected(cur, EXPECTED));
    }
    let addr = cur.peek_at(n).map(range_lo).unwrap_or("");
    Ok(if Kind::Ip6.parse(addr).is_some() {
        Expect::Ip6
    } else if Kind::Ip4.parse(addr).is_some() {
        Expect::Ip4
    } else if node.contains("ip6") {
        Expect::Ip6
    } else {
        Expect::Ip4
    })
}

fn parse_eth(cur: &mut Cursor<'_>, b: &mut Builder) -> Result<Expect, PgSpecError> {
    const EXPECTED: &str = "<ethertype>: <src-mac> -> <dst-mac>, ethertype IP4, IP6, ARP or 0xNNNN";
    let line = cur.line();
    let Some((name, n)) = peek_prefix(cur) else {
        return Err(unexpected(cur, EXPECTED));
    };
    let Some(ethertype) = parse_ethertype(name) else {
        let tok = Tok { text: name, line };
        return Err(bad(tok, "ethertype", ETHERTYPE_EXPECTED));
    };
    cur.skip(n);
    let src = parse_field(cur, "source MAC", Kind::Mac)?;
    expect_word(cur, "->", "the source MAC")?;
    let dst = parse_field(cur, "destination MAC", Kind::Mac)?;
    let mut desc = vec![format!("{}: {} -> {}", ethertype_name(ethertype), src.show(Kind::Mac), dst.show(Kind::Mac))];
    let mut vlans = Vec::new();
    while let Some(v) = cur.peek() {
        if v.text != "vlan" {
            break;
        }
        cur.next();
        if vlans.len() == 2 {
            return Err(bad(v, "vlan", "at most two vlan tags"));
        }
        let id = parse_field(cur, "vlan", Kind::Num(12))?;
        desc.push(format!("vlan {}", id.show(Kind::Num(12))));
        let mut priority = Field::fixed(0);
        let mut cfi = Field::fixed(0);
        if cur.eat("priority") {
            priority = parse_field(cur, "priority", Kind::Num(3))?;
            desc.push(format!("priority {}", priority.show(Kind::Num(3))));
        }
        if cur.eat("cfi") {
            cfi = parse_field(cur, "cfi", Kind::Num(1))?;
            desc.push(format!("cfi {}", cfi.show(Kind::Num(1))));
        }
        vlans.push((id, priority, cfi));
    }
    let off = b.grow(14 + 4 * vlans.len(), line)?;
    b.put(bytes_at(off, 6), dst);
    b.put(bytes_at(off + 6, 6), src);
    let mut type_off = off + 12;
    for (id, priority, cfi) in vlans {
        b.put_fixed(bytes_at(type_off, 2), 0x8100);
        let tci = type_off + 2;
        b.put(bits_at(tci, 2, 0, 12), id);
        b.put(bits_at(tci, 2, 12, 1), cfi);
        b.put(bits_at(tci, 2, 13, 3), priority);
        type_off += 4;
    }
    b.put_fixed(bytes_at(type_off, 2), u128::from(ethertype));
    b.desc.push(desc.join(" "));
    Ok(match ethertype {
        0x0800 => Expect::Ip4,
        0x86dd => Expect::Ip6,
        0x0806 => Expect::Arp,
        _ => Expect::Payload,
    })
}

/// `request: <mac>/<ip4> -> <mac>/<ip4>`
fn parse_arp(cur: &mut Cursor<'_>, b: &mut Builder) -> Result<Expect, PgSpecError> {
    const EXPECTED: &str = "request|reply: <mac>/<ip4> -> <mac>/<ip4>, or payload";
    let line = cur.line();
    let Some((name, n)) = peek_prefix(cur) else {
        return Err(unexpected(cur, EXPECTED));
    };
    let opcode = match ARP_OPCODES.iter().find(|(o, _)| *o == name) {
        Some(&(_, op)) => op,
        None => parse_num(name).and_then(|v| u16::try_from(v).ok()).ok_or_else(|| unexpected(cur, EXPECTED))?,
    };
    cur.skip(n);
    let (sha, spa) = mac_slash_ip(cur, "ARP sender")?;
    expect_word(cur, "->", "the ARP sender")?;
    let (tha, tpa) = mac_slash_ip(cur, "ARP target")?;
    let off = b.grow(28, line)?;
    b.put_fixed(bytes_at(off, 2), 1);
    b.put_fixed(bytes_at(off + 2, 2), 0x0800);
    b.put_fixed(bytes_at(off + 4, 1), 6);
    b.put_fixed(bytes_at(off + 5, 1), 4);
    b.put_fixed(bytes_at(off + 6, 2), u128::from(opcode));
    b.put_fixed(bytes_at(off + 8, 6), sha);
    b.put_fixed(bytes_at(off + 14, 4), spa);
    b.put_fixed(bytes_at(off + 18, 6), tha);
    b.put_fixed(bytes_at(off + 24, 4), tpa);
    let op_name = match ARP_OPCODES.iter().find(|(_, o)| *o == opcode) {
        Some((o, _)) => (*o).to_string(),
        None => opcode.to_string(),
    };
    b.desc.push(format!(
        "{op_name}: {}/{} -> {}/{}",
        Kind::Mac.show(sha),
        Kind::Ip4.show(spa),
        Kind::Mac.show(tha),
        Kind::Ip4.show(tpa)
    ));
    Ok(Expect::Payload)
}

fn mac_slash_ip(cur: &mut Cursor<'_>, keyword: &str) -> Result<(u128, u128), PgSpecError> {
    const EXPECTED: &str = "<mac>/<ip4>, e.g. 00:01:02:03:04:05/1.0.0.1";
    let tok = word(cur, keyword, EXPECTED)?;
    let parsed = tok.text.split_once('/').and_then(|(m, a)| Some((Kind::Mac.parse(m)?, Kind::Ip4.parse(a)?)));
    parsed.ok_or_else(|| bad(tok, keyword, EXPECTED))
}

/// `<protocol>: <src> -> <dst>` then options, for IPv4 or IPv6.
fn parse_ip(cur: &mut Cursor<'_>, b: &mut Builder, v6: bool) -> Result<Expect, PgSpecError> {
    let (kind, expected) = if v6 {
        (Kind::Ip6, "<protocol>: <src-ip6> -> <dst-ip6> (protocol UDP, TCP, ICMP6, ... or a number), or payload")
    } else {
        (Kind::Ip4, "<protocol>: <src-ip4> -> <dst-ip4> (protocol UDP, TCP, ICMP, ... or a number), or payload")
    };
    let line = cur.line();
    let Some((name, n)) = peek_prefix(cur) else {
        return Err(unexpected(cur, expected));
    };
    let Some(proto) = parse_ip_protocol(name) else {
        return Err(unexpected(cur, expected));
    };
    cur.skip(n);
    let (hlen, src_at, dst_at) =
        if v6 { (40, bytes_at(8, 16), bytes_at(24, 16)) } else { (20, bytes_at(12, 4), bytes_at(16, 4)) };
    let off = b.grow(hlen, line)?;
    let shifted = |at: At| At { off: at.off + off, ..at };
    let mut desc = vec![format!("{}:", protocol_name(proto))];
    let addresses = cur.peek().is_some_and(|t| kind.parse(range_lo(t.text)).is_some() || cur.peek_at(1) == Some("->"));
    if addresses {
        let src = parse_field(cur, "source address", kind)?;
        expect_word(cur, "->", "the source address")?;
        let dst = parse_field(cur, "destination address", kind)?;
        b.put(shifted(src_at), src);
        b.put(shifted(dst_at), dst);
        desc.push(format!("{} -> {}", src.show(kind), dst.show(kind)));
    }
    if v6 {
        b.put_fixed(bits_at(off, 4, 28, 4), 6);
        b.put_fixed(bytes_at(off + 6, 1), u128::from(proto));
        b.put_fixed(bytes_at(off + 7, 1), 64);
        let mut len_given = false;
        while let Some(t) = cur.peek_text() {
            let (at, kind) = match t {
                "version" => (bits_at(off, 4, 28, 4), Kind::Num(4)),
                "traffic-class" => (bits_at(off, 4, 20, 8), Kind::Num(8)),
                "flow-label" => (bits_at(off, 4, 0, 20), Kind::Num(20)),
                "length" => {
                    len_given = true;
                    (bytes_at(off + 4, 2), Kind::Num(16))
                }
                "hop-limit" => (bytes_at(off + 7, 1), Kind::Num(8)),
                _ => break,
            };
            b.option(cur, &mut desc, at, kind)?;
        }
        if !len_given {
            b.fixups.push(Fixup::Ip6 { off });
        }
    } else {
        b.put_fixed(bits_at(off, 1, 4, 4), 4);
        b.put_fixed(bits_at(off, 1, 0, 4), 5);
        b.put_fixed(bytes_at(off + 8, 1), 64);
        b.put_fixed(bytes_at(off + 9, 1), u128::from(proto));
        let (mut len_given, mut csum_given) = (false, false);
        while let Some(t) = cur.peek_text() {
            let flag = match t {
                "mf" | "MF" => Some(13),
                "df" | "DF" => Some(14),
                "ce" | "CE" => Some(15),
                _ => None,
            };
            if let Some(bit) = flag {
                cur.next();
                b.put_fixed(bits_at(off + 6, 2, bit, 1), 1);
                desc.push(t.to_ascii_lowercase());
                continue;
            }
            if t == "fragment" {
                cur.next();
                expect_word(cur, "id", "fragment")?;
                let id = parse_field(cur, "fragment id", Kind::Num(16))?;
                expect_word(cur, "offset", "fragment id")?;
                let offset = parse_field(cur, "fragment offset", Kind::Num(16))?;
                b.put(bytes_at(off + 4, 2), id);
                // The header counts 8-byte units.
                let units = Field { lo: offset.lo / 8, hi: offset.hi / 8, ..offset };
                b.put(bits_at(off + 6, 2, 0, 13), units);
                desc.push(format!("fragment id {} offset {}", id.show(Kind::Num(16)), offset.show(Kind::Num(16))));
                continue;
            }
            let (at, kind) = match t {
                "version" => (bits_at(off, 1, 4, 4), Kind::Num(4)),
                "header-length" => (bits_at(off, 1, 0, 4), Kind::Num(4)),
                "tos" => (bytes_at(off + 1, 1), Kind::Num(8)),
                "length" => {
                    len_given = true;
                    (bytes_at(off + 2, 2), Kind::Num(16))
                }
                "ttl" => (bytes_at(off + 8, 1), Kind::Num(8)),
                "checksum" => {
                    csum_given = true;
                    (bytes_at(off + 10, 2), Kind::Num(16))
                }
                _ => break,
            };
            b.option(cur, &mut desc, at, kind)?;
        }
        b.fixups.push(Fixup::Ip4 { off, len: !len_given, csum: !csum_given });
    }
    b.last_ip = Some(IpAt { off, v6 });
    b.desc.push(desc.join(" "));
    Ok(after_ip(proto, v6))
}

/// `UDP|TCP: <src-port> -> <dst-port>` at the cursor: its offset once grown.
fn parse_ports(
    cur: &mut Cursor<'_>,
    b: &mut Builder,
    proto: &str,
    size: usize,
    desc: &mut Vec<String>,
) -> Result<usize, PgSpecError> {
    let line = cur.line();
    let is_proto = peek_prefix(cur).filter(|(name, _)| name.eq_ignore_ascii_case(proto));
    let Some((_, n)) = is_proto else {
        let expected = format!("{proto}: <src-port> -> <dst-port> (the IP protocol is {proto}), or {PAYLOAD_EXPECTED}");
        return Err(unexpected(cur, &expected));
    };
    cur.skip(n);
    let src = parse_field(cur, "source port", Kind::Num(16))?;
    expect_word(cur, "->", "the source port")?;
    let dst = parse_field(cur, "destination port", Kind::Num(16))?;
    let off = b.grow(size, line)?;
    b.put(bytes_at(off, 2), src);
    b.put(bytes_at(off + 2, 2), dst);
    desc.push(format!("{proto}: {} -> {}", src.show(Kind::Num(16)), dst.show(Kind::Num(16))));
    Ok(off)
}

fn parse_udp(cur: &mut Cursor<'_>, b: &mut Builder) -> Result<Expect, PgSpecError> {
    let mut desc = Vec::new();
    let off = parse_ports(cur, b, "UDP", 8, &mut desc)?;
    let (mut len_given, mut csum_given) = (false, false);
    while let Some(t) = cur.peek_text() {
        let at = match t {
            "length" => {
                len_given = true;
                bytes_at(off + 4, 2)
            }
            "checksum" => {
                csum_given = true;
                bytes_at(off + 6, 2)
            }
            _ => break,
        };
        b.option(cur, &mut desc, at, Kind::Num(16))?;
    }
    b.fixups.push(Fixup::L4 { off, kind: L4::Udp, ip: b.last_ip, len: !len_given, csum: !csum_given });
    b.desc.push(desc.join(" "));
    Ok(Expect::Payload)
}

fn parse_tcp(cur: &mut Cursor<'_>, b: &mut Builder) -> Result<Expect, PgSpecError> {
    let mut desc = Vec::new();
    let off = parse_ports(cur, b, "TCP", 20, &mut desc)?;
    b.put_fixed(bits_at(off + 12, 1, 4, 4), 5);
    b.put_fixed(bytes_at(off + 14, 2), 4096);
    let mut csum_given = false;
    while let Some(t) = cur.peek_text() {
        if let Some(&(name, bit)) = TCP_FLAGS.iter().find(|(f, _)| f.eq_ignore_ascii_case(t)) {
            cur.next();
            let flags = b.hdr.get(off + 13).copied().unwrap_or(0) | bit;
            b.put_fixed(bytes_at(off + 13, 1), u128::from(flags));
            desc.push(name.to_string());
            continue;
        }
        let (at, kind) = match t {
            "seqnum" => (bytes_at(off + 4, 4), Kind::Num(32)),
            "acknum" => (bytes_at(off + 8, 4), Kind::Num(32)),
            "window" => (bytes_at(off + 14, 2), Kind::Num(16)),
            "urgent" => (bytes_at(off + 18, 2), Kind::Num(16)),
            "checksum" => {
                csum_given = true;
                (bytes_at(off + 16, 2), Kind::Num(16))
            }
            _ => break,
        };
        b.option(cur, &mut desc, at, kind)?;
    }
    b.fixups.push(Fixup::L4 { off, kind: L4::Tcp, ip: b.last_ip, len: false, csum: !csum_given });
    b.desc.push(desc.join(" "));
    Ok(Expect::Payload)
}

/// `ICMP <type-name|number> [code <n>] [checksum <n>]`, the colon optional.
fn parse_icmp(cur: &mut Cursor<'_>, b: &mut Builder, v6: bool) -> Result<Expect, PgSpecError> {
    const EXPECTED: &str = "ICMP <type> (echo_request, echo_reply, ... or a number), or payload";
    let line = cur.line();
    let Some(tok) = cur.peek() else {
        return Err(unexpected(cur, EXPECTED));
    };
    let head = tok.text.strip_suffix(':').unwrap_or(tok.text);
    if !head.eq_ignore_ascii_case("ICMP") && !head.eq_ignore_ascii_case("ICMP6") {
        return Err(unexpected(cur, EXPECTED));
    }
    cur.next();
    if head.len() == tok.text.len() {
        cur.eat(":");
    }
    let table = if v6 { ICMP6_TYPES } else { ICMP4_TYPES };
    let type_expected = "an ICMP type name (echo_request, echo_reply, ...) or number";
    let t = word(cur, "ICMP", type_expected)?;
    let (ty, code) = match table.iter().find(|(n, _, _)| *n == t.text) {
        Some(&(_, ty, code)) => (ty, code),
        None => {
            let ty = parse_num(t.text)
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(|| bad(t, "ICMP type", type_expected))?;
            (ty, 0)
        }
    };
    let off = b.grow(4, line)?;
    b.put_fixed(bytes_at(off, 1), u128::from(ty));
    let mut code = Field::fixed(u128::from(code));
    if cur.eat("code") {
        code = parse_field(cur, "code", Kind::Num(8))?;
    }
    b.put(bytes_at(off + 1, 1), code);
    let mut desc = vec![format!("ICMP {}", icmp_name(table, ty, code))];
    let mut csum_given = false;
    while cur.peek_text() == Some("checksum") {
        csum_given = true;
        b.option(cur, &mut desc, bytes_at(off + 2, 2), Kind::Num(16))?;
    }
    b.fixups.push(Fixup::L4 {
        off,
        kind: if v6 { L4::Icmp6 } else { L4::Icmp4 },
        ip: b.last_ip,
        len: false,
        csum: !csum_given,
    });
    b.desc.push(desc.join(" "));
    Ok(Expect::Payload)
}

fn icmp_name(table: &[(&str, u8, u8)], ty: u8, code: Field) -> String {
    if code.vary == Vary::Fixed {
        if let Some((n, _, _)) = table.iter().find(|(_, t, c)| *t == ty && u128::from(*c) == code.lo) {
            return (*n).to_string();
        }
    }
    let ty_name = match table.iter().find(|(_, t, c)| *t == ty && *c == 0) {
        Some((n, _, _)) => (*n).to_string(),
        None => ty.to_string(),
    };
    format!("{ty_name} code {}", code.show(Kind::Num(8)))
}

fn parse_payload(cur: &mut Cursor<'_>, b: &mut Builder) -> Result<(), PgSpecError> {
    let Some(tok) = cur.next() else {
        return Ok(());
    };
    let count = |cur: &mut Cursor<'_>| -> Result<usize, PgSpecError> {
        let expected = "a byte count 0 to 65535";
        let w = word(cur, tok.text, expected)?;
        parse_num(w.text)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= MAX_PACKET_BYTES)
            .ok_or_else(|| bad(w, tok.text, expected))
    };
    let (item, desc) = match tok.text {
        "incrementing" => {
            let n = count(cur)?;
            (Payload::Incrementing(n), format!("incrementing {n}"))
        }
        "random" => {
            let n = count(cur)?;
            (Payload::Random(n), format!("random {n}"))
        }
        "fixed" => {
            let n = count(cur)?;
            let byte = cur.peek_text().and_then(parse_num).and_then(|v| u8::try_from(v).ok());
            if byte.is_some() {
                cur.next();
            }
            let byte = byte.unwrap_or(0);
            (Payload::Fixed(n, byte), format!("fixed {n} 0x{byte:02x}"))
        }
        _ => {
            let expected = "hex bytes, e.g. 0xdeadbeef";
            let w = word(cur, "hex", expected)?;
            let digits = w.text.strip_prefix("0x").or_else(|| w.text.strip_prefix("0X")).unwrap_or(w.text);
            let ok = !digits.is_empty()
                && digits.len() % 2 == 0
                && digits.len() / 2 <= MAX_PACKET_BYTES
                && digits.bytes().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(bad(w, "hex", expected));
            }
            let v: Vec<u8> = digits.as_bytes().chunks(2).map(|p| (hex_digit(p[0]) << 4) | hex_digit(p[1])).collect();
            let text: String = v.iter().map(|x| format!("{x:02x}")).collect();
            (Payload::Hex(v), format!("hex 0x{text}"))
        }
    };
    b.payload.push(item);
    b.desc.push(desc);
    Ok(())
}

fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

// ---------------------------------------------------------------------------
// The template and its per-packet finish

#[derive(Clone)]
struct Template {
    /// Headers then payload, `max(max_size, hdr_len)` bytes.
    bytes: Vec<u8>,
    hdr_len: usize,
    edits: Vec<Edit>,
    /// In header order; applied innermost first.
    fixups: Vec<Fixup>,
    /// `payload_sums[n]`: one's complement sum of the first `n` payload bytes.
    payload_sums: Vec<u16>,
    /// The whole packet, when every packet is the same.
    ready: Option<Vec<u8>>,
    description: String,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("bytes", &self.bytes.len())
            .field("hdr_len", &self.hdr_len)
            .field("edits", &self.edits)
            .field("fixups", &self.fixups)
            .field("ready", &self.ready.is_some())
            .finish()
    }
}

impl Template {
    /// Writes the varying fields, lengths and checksums of a `len`-byte
    /// packet into its headers `h` (exactly `hdr_len` bytes).
    fn finish(&self, h: &mut [u8], seq: u64, len: usize) {
        for e in &self.edits {
            write_bits(h, e.at, e.value(seq));
        }
        for fixup in self.fixups.iter().rev() {
            match *fixup {
                Fixup::Ip4 { off, len: set_len, csum } => {
                    if set_len {
                        put16(h, off + 2, len.saturating_sub(off));
                    }
                    if csum {
                        put16(h, off + 10, 0);
                        let sum = sum_bytes(h.get(off..off + 20).unwrap_or(&[]));
                        put16(h, off + 10, usize::from(!fold(sum)));
                    }
                }
                Fixup::Ip6 { off } => put16(h, off + 4, len.saturating_sub(off + 40)),
                Fixup::L4 { off, kind, ip, len: set_len, csum } => {
                    let l4_len = len.saturating_sub(off);
                    if set_len {
                        put16(h, off + 4, l4_len);
                    }
                    if csum {
                        self.l4_checksum(h, off, kind, ip, len);
                    }
                }
            }
        }
    }

    fn l4_checksum(&self, h: &mut [u8], off: usize, kind: L4, ip: Option<IpAt>, len: usize) {
        let at = off + kind.csum_offset();
        put16(h, at, 0);
        let l4_len = len.saturating_sub(off);
        let mut sum = 0u64;
        if let (Some(proto), Some(ip)) = (kind.protocol(), ip) {
            let addrs = if ip.v6 { ip.off + 8..ip.off + 40 } else { ip.off + 12..ip.off + 20 };
            sum += sum_bytes(h.get(addrs).unwrap_or(&[]));
            sum += u64::from(proto) + (l4_len as u64 >> 16) + (l4_len as u64 & 0xffff);
        }
        let hdr_end = h.len();
        let end = len.min(hdr_end).max(off);
        sum += sum_bytes(h.get(off..end).unwrap_or(&[]));
        if len > hdr_end {
            let p = self.payload_sums.get(len - hdr_end).copied().unwrap_or(0);
            let odd = hdr_end.saturating_sub(off) % 2 == 1;
            sum += u64::from(if odd { p.swap_bytes() } else { p });
        }
        let mut c = !fold(sum);
        if kind == L4::Udp && c == 0 {
            // Zero means "no checksum" in UDP.
            c = 0xffff;
        }
        put16(h, at, usize::from(c));
    }
}

/// Writes `v` (clamped to 16 bits) big-endian at `at`, if it fits in `h`.
fn put16(h: &mut [u8], at: usize, v: usize) {
    if let Some(d) = h.get_mut(at..at + 2) {
        let v = u16::try_from(v).unwrap_or(u16::MAX);
        d.copy_from_slice(&v.to_be_bytes());
    }
}

/// The ones'-complement sum of `b` (unfolded).
fn sum_bytes(b: &[u8]) -> u64 {
    rvpp_dataplane::checksum::sum(b, 0)
}

/// A 64-bit mixer (splitmix64's finaliser): deterministic "random" values.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
