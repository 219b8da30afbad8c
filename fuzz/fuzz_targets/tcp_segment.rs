//! TCP segments: the wire parser on arbitrary bytes (a parsed header
//! re-emits and re-parses to itself), and parsed segments fed to a
//! connection in each state (SYN-SENT, SYN-RECEIVED, ESTABLISHED, the
//! closing states, TIME-WAIT) or to a listener, interleaved with timers and
//! application reads, writes, closes and aborts. No input may panic; every
//! transmit names bytes the tx fifo holds; Closed is the last event.
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

fuzz_target!(|data: &[u8]| {
    let Some((&head, mut rest)) = data.split_first() else { return };
    if head & 3 == 0 {
        parser_round_trip(rest);
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
