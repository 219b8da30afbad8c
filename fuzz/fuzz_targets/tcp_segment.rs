//! TCP segments: the wire parser on arbitrary bytes (a parsed header
//! re-emits and re-parses to itself), and parsed segments fed to a
//! connection in each state (SYN-SENT, SYN-RECEIVED, ESTABLISHED, the
//! closing states, TIME-WAIT) or to a listener, interleaved with timers and
//! application reads, writes, closes and aborts. No input may panic; every
//! transmit names bytes the tx fifo holds; Closed is the last event.
//!
//! Mode 3 instead runs two connections over a link whose every decision
//! (deliver, drop, duplicate, delay) is a fuzz byte, then heals the link:
//! the bytes each side reads are always a prefix of what the other wrote,
//! and once the link is clean both transfers complete (or a side reports
//! TimedOut after its retries ran out).
//!
//! Input: byte 0 picks the mode (low 2 bits: 0 = parser only), the
//! starting state (bits 2..5) and the config (bits 5..8). Then records of
//! `[control, length, bytes...]`: control bits 0..2 rebase the segment's
//! sequence/ack numbers near the connection's (so it lands in the window),
//! bit 2 runs an application step, bits 3..8 advance time (× 7 ms).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_hoststack::tcp::congestion::CcAlgo;
use rvpp_hoststack::tcp::{Config, Connection, Event, ListenAction, Listener, Seq, State, TcpPacket, TcpRepr};

const MS: u64 = 1_000_000;

fn config(bits: u8) -> Config {
    Config {
        rx_fifo_size: 8192,
        tx_fifo_size: 8192,
        mss: if bits & 1 != 0 { 536 } else { 1460 },
        sack: bits & 2 != 0,
        timestamps: bits & 4 != 0,
        nagle: bits & 1 == 0,
        cc_algo: if bits & 2 != 0 { CcAlgo::Cubic } else { CcAlgo::NewReno },
        time_wait: 50 * MS,
        ..Config::default()
    }
}

fn parser_round_trip(data: &[u8]) {
    let Ok(p) = TcpPacket::new_checked(data) else { return };
    let _ = p.verify_checksum4(&[1, 2, 3, 4], &[5, 6, 7, 8]);
    let _ = p.verify_checksum6(&[1; 16], &[2; 16]);
    let Ok(r) = TcpRepr::parse(&p) else { return };
    assert!(p.header_len() >= 20 && p.header_len() <= data.len());
    let mut a = [0u8; 60];
    let n = r.emit(&mut a);
    assert!(n <= 60 && n % 4 == 0);
    let r2 = TcpRepr::parse(&TcpPacket::new_checked(&a[..n]).expect("own header")).expect("own options");
    let mut b = [0u8; 60];
    let n2 = r2.emit(&mut b);
    assert_eq!(a[..n], b[..n2], "emit/parse/emit is stable");
    assert_eq!((r.seq, r.ack, r.flags, r.window), (r2.seq, r2.ack, r2.flags, r2.window));
    assert_eq!((r.mss, r.wscale, r.timestamp), (r2.mss, r2.wscale, r2.timestamp));
}

/// Drains a connection's output, checking each transmit; returns them.
fn drain(c: &mut Connection, now: u64, closed_seen: &mut bool) -> Vec<(TcpRepr, Vec<u8>)> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(t) = c.poll_transmit(now) else { break };
        let (x, y) = c.payload(&t);
        assert_eq!(x.len() + y.len(), t.payload_len as usize, "transmit beyond the tx fifo: {t:?}");
        out.push((t.repr, [x, y].concat()));
    }
    assert!(c.poll_transmit(now).is_none() || out.len() == 10_000, "output did not settle");
    while let Some(e) = c.poll_event() {
        assert!(!*closed_seen, "event {e:?} after Closed");
        if e == Event::Closed {
            *closed_seen = true;
        }
    }
    out
}

/// Hands every segment of `a` to `b` and back until both are quiet.
fn shuttle(a: &mut Connection, b: &mut Connection, now: u64) {
    let (mut ca, mut cb) = (false, false);
    for _ in 0..20 {
        let fa = drain(a, now, &mut ca);
        let fb = drain(b, now, &mut cb);
        if fa.is_empty() && fb.is_empty() {
            return;
        }
        for (r, p) in fa {
            b.handle_segment(now, &r, &p);
        }
        for (r, p) in fb {
            a.handle_segment(now, &r, &p);
        }
    }
}

/// A connection (with its peer) in the state the input asks for.
fn setup(kind: u8, cfg: &Config) -> (Connection, Option<Connection>) {
    let mut client = Connection::connect(cfg.clone(), 1000, 80, Seq(0xffff_fff0)).expect("config");
    if kind == 0 {
        return (client, None);
    }
    let syn = client.poll_transmit(0).expect("SYN").repr;
    let mut server = Connection::accept(cfg.clone(), 0, &syn, Seq(0x8000_0000)).expect("SYN");
    if kind == 1 {
        return (server, Some(client));
    }
    shuttle(&mut client, &mut server, MS);
    client.app_write(b"hello");
    server.app_write(b"world");
    shuttle(&mut client, &mut server, 2 * MS);
    match kind {
        2 => {}
        3 => client.close(),
        4 => {
            server.close();
            shuttle(&mut client, &mut server, 3 * MS);
        }
        5 => {
            client.close();
            shuttle(&mut client, &mut server, 3 * MS);
            server.close();
            shuttle(&mut client, &mut server, 4 * MS);
        }
        _ => {
            server.close();
            shuttle(&mut client, &mut server, 3 * MS);
            client.close();
        }
    }
    (client, Some(server))
}

fn stream_byte(side: usize, p: usize) -> u8 {
    (p as u32).wrapping_mul(2_654_435_761).rotate_left(side as u32 * 7) as u8
}

fn encode(repr: &TcpRepr, payload: &[u8]) -> Vec<u8> {
    let hl = repr.header_len();
    let mut b = vec![0u8; hl + payload.len()];
    repr.emit(&mut b);
    b[hl..].copy_from_slice(payload);
    b
}

/// Two endpoints over a fuzz-controlled link, then a clean one.
struct Link<'a> {
    conns: [Connection; 2],
    written: [usize; 2],
    read: [usize; 2],
    closed: [bool; 2],
    timed_out: bool,
    wire: Vec<(u64, usize, Vec<u8>)>,
    fates: std::slice::Iter<'a, u8>,
}

const LINK_SIZE: usize = 20_000;

impl Link<'_> {
    fn apps(&mut self, now: u64) {
        for i in 0..2 {
            let c = &mut self.conns[i];
            while self.written[i] < LINK_SIZE {
                let end = LINK_SIZE.min(self.written[i] + 3000);
                let chunk: Vec<u8> = (self.written[i]..end).map(|p| stream_byte(i, p)).collect();
                let n = c.app_write(&chunk);
                if n == 0 {
                    break;
                }
                self.written[i] += n;
            }
            if self.written[i] == LINK_SIZE && !self.closed[i] {
                self.closed[i] = true;
                c.close();
            }
            let mut buf = [0u8; 4096];
            loop {
                let n = c.app_read(&mut buf);
                if n == 0 {
                    break;
                }
                for (k, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(b, stream_byte(1 - i, self.read[i] + k), "side {i} read a byte never written there");
                }
                self.read[i] += n;
            }
            while let Some(e) = c.poll_event() {
                self.timed_out |= e == Event::TimedOut;
            }
            for _ in 0..10_000 {
                let Some(t) = c.poll_transmit(now) else { break };
                let (x, y) = c.payload(&t);
                let bytes = encode(&t.repr, &[x, y].concat());
                let fate = self.fates.next().copied().unwrap_or(0);
                match fate % 8 {
                    1 | 2 => {} // lost
                    3 => self.wire.extend([(now + 5 * MS, 1 - i, bytes.clone()), (now + 6 * MS, 1 - i, bytes)]),
                    4 | 5 => self.wire.push((now + 5 * MS + (fate >> 3) as u64 * 3 * MS, 1 - i, bytes)),
                    _ => self.wire.push((now + 5 * MS, 1 - i, bytes)),
                }
            }
        }
    }

    fn run(&mut self) {
        let mut now = MS;
        // Once the fuzz decisions run out the link is clean; from then on
        // ten minutes (the RTO cap is one) must finish the job.
        let mut clean_since = None;
        for _ in 0..1_000_000u32 {
            if self.fates.len() == 0 && clean_since.is_none() {
                clean_since = Some(now);
            }
            self.apps(now);
            if self.read == [LINK_SIZE; 2] && self.conns.iter().all(|c| c.state() == State::Closed) {
                return;
            }
            let timers = self.conns.iter().filter_map(|c| c.poll_timeout());
            let Some(next) = self.wire.iter().map(|w| w.0).chain(timers).min() else { break };
            if clean_since.is_some_and(|t| next > t + 600 * 1000 * MS) {
                break;
            }
            now = now.max(next);
            self.wire.sort_by_key(|w| w.0);
            let due = self.wire.partition_point(|w| w.0 <= now);
            for (_, to, bytes) in self.wire.drain(..due).collect::<Vec<_>>() {
                let p = TcpPacket::new_checked(&bytes[..]).expect("own segment");
                let r = TcpRepr::parse(&p).expect("own header");
                self.conns[to].handle_segment(now, &r, p.payload());
            }
            for c in self.conns.iter_mut() {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
        }
        assert!(
            self.timed_out || self.read == [LINK_SIZE; 2],
            "transfer stalled on a clean link: read {:?}, states {:?} {:?}",
            self.read,
            self.conns[0].state(),
            self.conns[1].state()
        );
    }
}

fn link_mode(cfg: &Config, fates: &[u8]) {
    // The client's SYN is already in the server's hands; its SYN-ACK is the
    // first thing on the wire.
    let (server, client) = setup(1, cfg);
    let mut link = Link {
        conns: [client.expect("client"), server],
        written: [0; 2],
        read: [0; 2],
        closed: [false; 2],
        timed_out: false,
        wire: Vec::new(),
        fates: fates.iter(),
    };
    link.run();
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, mut rest)) = data.split_first() else { return };
    if head & 3 == 0 {
        parser_round_trip(rest);
        return;
    }
    if head & 3 == 3 {
        link_mode(&config(head >> 5), rest);
        return;
    }
    let cfg = config(head >> 5);
    let kind = (head >> 2) & 7;
    let mut listener: Option<Listener<u16>> = None;
    let (mut conn, _peer) = if kind == 7 {
        listener = Some(Listener::new(cfg.clone(), 2));
        (None, None)
    } else {
        let (c, p) = setup(kind, &cfg);
        (Some(c), p)
    };
    let mut closed_seen = false;
    let mut now = 10 * MS;
    let mut app = 0u8;
    while let [ctl, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (seg, next) = tail.split_at(n);
        rest = next;
        now += (*ctl >> 3) as u64 * 7 * MS;
        if let Ok(p) = TcpPacket::new_checked(seg) {
            if let Ok(mut r) = TcpRepr::parse(&p) {
                if let Some(c) = conn.as_ref() {
                    let (s, a) = (r.seq.0 as i16 as i32, r.ack.0 as i16 as i32);
                    if ctl & 1 != 0 {
                        r.seq = Seq(c.rcv_nxt().0.wrapping_add(s as u32));
                    }
                    if ctl & 2 != 0 {
                        r.ack = Seq(c.snd_una().0.wrapping_add(a as u32));
                    }
                }
                let payload = p.payload();
                match (conn.as_mut(), listener.as_mut()) {
                    (Some(c), _) => c.handle_segment(now, &r, payload),
                    (None, Some(l)) => match l.on_segment(now, r.src_port, &r, payload, Seq(now as u32)) {
                        ListenAction::Accept(c) => {
                            assert!(matches!(
                                c.state(),
                                State::Established | State::CloseWait | State::Closed | State::FinWait1
                            ));
                            conn = Some(*c);
                        }
                        ListenAction::Reply(r) => assert!(r.flags.rst() || r.flags.syn()),
                        ListenAction::None => {}
                    },
                    (None, None) => {}
                }
            }
        }
        if let Some(l) = listener.as_mut() {
            assert!(l.half_open_len() <= 2);
            while l.poll_transmit(now).is_some() {}
        }
        let Some(c) = conn.as_mut() else { continue };
        if ctl & 4 != 0 {
            app = app.wrapping_add(1);
            match app % 5 {
                0 | 1 => {
                    c.app_write(&[app; 3000]);
                }
                2 => {
                    let mut buf = [0u8; 4096];
                    c.app_read(&mut buf);
                }
                3 => c.close(),
                _ if *ctl & 0xf8 == 0xf8 => c.abort(),
                _ => {}
            }
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        drain(c, now, &mut closed_seen);
        if c.state() == State::Closed {
            assert!(c.poll_timeout().is_none(), "a closed connection keeps no timer");
        }
    }
});
