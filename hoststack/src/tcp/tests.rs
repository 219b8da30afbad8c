//! The TCP engine in simulated time: two endpoints (A actively opening, B
//! accepted by a [`Listener`]) exchange real encoded segments (emitted,
//! checksummed, re-parsed) over a simulated link with delay, rate, seeded
//! loss, reordering and duplication.

use super::congestion::CcAlgo;
use super::wire::{Flags, TcpPacket, TcpRepr};
use super::*;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const IP: [[u8; 4]; 2] = [[10, 0, 0, 1], [10, 0, 0, 2]];
const PORTS: [u16; 2] = [40000, 80];

/// xorshift64* — deterministic loss and reordering.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

#[derive(Clone, Copy)]
struct Link {
    delay: u64,
    loss: f64,
    reorder: f64,
    dup: f64,
    /// bits per second, 0 = unlimited
    rate: u64,
}

impl Link {
    fn clean(delay: u64) -> Link {
        Link { delay, loss: 0.0, reorder: 0.0, dup: 0.0, rate: 0 }
    }
}

struct Packet {
    at: u64,
    order: u64,
    to: usize,
    bytes: Vec<u8>,
}

/// One segment as it left an endpoint.
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: u64,
    from: usize,
    repr: TcpRepr,
    len: usize,
}

/// The sender's congestion state around one delivered segment.
#[derive(Clone, Copy, Debug)]
struct Trace {
    flight_before: u32,
    cwnd_before: u32,
    in_rec_before: bool,
    cwnd_after: u32,
    ssthresh_after: u32,
    in_rec_after: bool,
}

type Filter = Box<dyn FnMut(u64, usize, &TcpRepr, usize) -> bool>;

struct Sim {
    now: u64,
    conns: [Option<Connection>; 2],
    listener: Listener<u16>,
    link: Link,
    rng: Rng,
    wire: Vec<Packet>,
    order: u64,
    free_at: [u64; 2],
    /// Returns true to drop a segment (time, sender, header, payload length).
    drop: Option<Filter>,
    log: Vec<Sent>,
    trace: Vec<(usize, Trace)>,
    src: [Vec<u8>; 2],
    written: [usize; 2],
    sink: [Vec<u8>; 2],
    read: [bool; 2],
    close_when_sent: [bool; 2],
    close_called: [bool; 2],
    events: [Vec<(u64, Event)>; 2],
    /// Endpoints that write back what they read, as far as their tx fifo
    /// takes it (the session layer's echo server).
    echo: [bool; 2],
    /// Segmentation offload on both ends (0: off): super-segments are cut
    /// into segments as they go on the wire, as a device would.
    tso: u32,
    /// Super-segments sent.
    supers: usize,
}

fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..n).map(|_| r.next() as u8).collect()
}

impl Sim {
    fn new(a: Config, b: Config, link: Link, seed: u64) -> Sim {
        let conn = Connection::connect(a, PORTS[0], PORTS[1], Seq(0xfff0_0000)).unwrap();
        Sim {
            now: 0,
            conns: [Some(conn), None],
            listener: Listener::new(b, 128),
            link,
            rng: Rng(seed | 1),
            wire: Vec::new(),
            order: 0,
            free_at: [0; 2],
            drop: None,
            log: Vec::new(),
            trace: Vec::new(),
            src: [Vec::new(), Vec::new()],
            written: [0; 2],
            sink: [Vec::new(), Vec::new()],
            read: [true; 2],
            close_when_sent: [false; 2],
            close_called: [false; 2],
            events: [Vec::new(), Vec::new()],
            echo: [false; 2],
            tso: 0,
            supers: 0,
        }
    }

    fn conn(&self, i: usize) -> &Connection {
        self.conns[i].as_ref().expect("connection exists")
    }

    fn conn_mut(&mut self, i: usize) -> &mut Connection {
        self.conns[i].as_mut().expect("connection exists")
    }

    fn has_event(&self, i: usize, e: Event) -> bool {
        self.events[i].iter().any(|&(_, x)| x == e)
    }

    /// Puts one segment on the wire from endpoint `from`.
    fn send(&mut self, from: usize, repr: TcpRepr, payload: &[u8]) {
        self.log.push(Sent { at: self.now, from, repr, len: payload.len() });
        if let Some(f) = self.drop.as_mut() {
            if f(self.now, from, &repr, payload.len()) {
                return;
            }
        }
        if self.rng.chance(self.link.loss) {
            return;
        }
        let hl = repr.header_len();
        let mut bytes = vec![0u8; hl + payload.len()];
        repr.emit(&mut bytes);
        bytes[hl..].copy_from_slice(payload);
        TcpPacket::new_unchecked(&mut bytes[..]).fill_checksum4(&IP[from], &IP[1 - from]);
        let mut at = self.now + self.link.delay;
        if let Some(tx_time) = (bytes.len() as u64 * 8 * SEC).checked_div(self.link.rate) {
            let start = self.now.max(self.free_at[from]);
            self.free_at[from] = start + tx_time;
            at = self.free_at[from] + self.link.delay;
        }
        if self.rng.chance(self.link.reorder) {
            at += 1 + self.rng.below(self.link.delay.max(1));
        }
        if self.rng.chance(self.link.dup) {
            self.order += 1;
            self.wire.push(Packet { at: at + 1000, order: self.order, to: 1 - from, bytes: bytes.clone() });
        }
        self.order += 1;
        self.wire.push(Packet { at, order: self.order, to: 1 - from, bytes });
    }

    fn flush(&mut self) {
        for i in 0..2 {
            while let Some(c) = self.conns[i].as_mut() {
                c.set_tso_max(self.tso);
                let Some(t) = c.poll_transmit(self.now) else { break };
                let (a, b) = c.payload(&t);
                let payload = [a, b].concat();
                assert_eq!(payload.len(), t.payload_len as usize, "the fifo holds every byte a transmit names");
                if t.gso_size > 0 {
                    assert!(self.tso > 0 && t.payload_len > t.gso_size && t.payload_len <= self.tso);
                    self.supers += 1;
                }
                for (r, off, len) in segments_of(t.repr, t.payload_len, t.gso_size) {
                    self.send(i, r, &payload[off as usize..(off + len) as usize]);
                }
            }
        }
        while let Some((key, r)) = self.listener.poll_transmit(self.now) {
            // Only the real client is on the link.
            if key == PORTS[0] {
                self.send(1, r, &[]);
            }
        }
    }

    fn apps(&mut self) {
        for i in 0..2 {
            let Some(c) = self.conns[i].as_mut() else { continue };
            while let Some(e) = c.poll_event() {
                self.events[i].push((self.now, e));
            }
            while self.written[i] < self.src[i].len() {
                let n = c.app_write(&self.src[i][self.written[i]..]);
                if n == 0 {
                    break;
                }
                self.written[i] += n;
            }
            if self.close_when_sent[i] && !self.close_called[i] && self.written[i] == self.src[i].len() {
                self.close_called[i] = true;
                c.close();
            }
            if self.echo[i] {
                let mut buf = [0u8; 16384];
                loop {
                    let room = (c.tx_fifo().free() as usize).min(buf.len());
                    let n = c.app_read(&mut buf[..room]);
                    if n == 0 {
                        break;
                    }
                    assert_eq!(c.app_write(&buf[..n]), n);
                    self.sink[i].extend_from_slice(&buf[..n]);
                }
            } else if self.read[i] {
                let mut buf = [0u8; 16384];
                loop {
                    let n = c.app_read(&mut buf);
                    if n == 0 {
                        break;
                    }
                    self.sink[i].extend_from_slice(&buf[..n]);
                }
            }
            while let Some(e) = c.poll_event() {
                self.events[i].push((self.now, e));
            }
        }
    }

    fn deliver(&mut self, p: Packet) {
        let pkt = TcpPacket::new_checked(&p.bytes[..]).expect("valid segment");
        assert!(pkt.verify_checksum4(&IP[1 - p.to], &IP[p.to]));
        let repr = TcpRepr::parse(&pkt).expect("parses");
        let payload = pkt.payload();
        if p.to == 1 && self.conns[1].is_none() {
            match self.listener.on_segment(self.now, repr.src_port, &repr, payload, Seq(0x7fff_fff0)) {
                ListenAction::Accept(c) => self.conns[1] = Some(*c),
                ListenAction::Reply(r) => self.send(1, r, &[]),
                ListenAction::None => {}
            }
            return;
        }
        let now = self.now;
        // A closed connection is a closed port: RST, as the session layer does.
        if self.conns[p.to].as_ref().is_some_and(|c| c.state() == State::Closed) {
            if let Some(r) = rst_for(&repr, payload.len()) {
                self.send(p.to, r, &[]);
            }
            return;
        }
        if let Some(c) = self.conns[p.to].as_mut() {
            let before = (c.flight(), c.cwnd(), c.in_recovery());
            c.handle_segment(now, &repr, payload);
            let t = Trace {
                flight_before: before.0,
                cwnd_before: before.1,
                in_rec_before: before.2,
                cwnd_after: c.cwnd(),
                ssthresh_after: c.ssthresh(),
                in_rec_after: c.in_recovery(),
            };
            self.trace.push((p.to, t));
        }
    }

    /// Runs until `done` holds or `limit` (simulated ns) passes; returns
    /// whether `done` held.
    fn run(&mut self, limit: u64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        loop {
            self.apps();
            self.flush();
            self.apps();
            self.flush();
            if done(self) {
                return true;
            }
            let next_pkt = self.wire.iter().map(|p| p.at).min();
            let next_timer =
                self.conns.iter().flatten().filter_map(|c| c.poll_timeout()).chain(self.listener.poll_timeout()).min();
            let Some(next) = [next_pkt, next_timer].into_iter().flatten().min() else {
                return false;
            };
            if next > limit {
                self.now = limit;
                return false;
            }
            self.now = self.now.max(next);
            // Deliver everything due, in arrival order.
            self.wire.sort_by_key(|p| (p.at, p.order));
            let due = self.wire.partition_point(|p| p.at <= self.now);
            let batch: Vec<Packet> = self.wire.drain(..due).collect();
            for p in batch {
                self.deliver(p);
            }
            for i in 0..2 {
                let now = self.now;
                if let Some(c) = self.conns[i].as_mut() {
                    if c.poll_timeout().is_some_and(|t| t <= now) {
                        c.handle_timeout(now);
                    }
                }
            }
        }
    }

    fn established(&mut self) {
        assert!(self.run(10 * SEC, |s| s.conns[1].is_some()
            && s.conn(0).state() == State::Established
            && s.conn(1).state() == State::Established));
        self.apps();
    }

    fn data_sent(&self, from: usize) -> Vec<Sent> {
        self.log.iter().copied().filter(|s| s.from == from && s.len > 0).collect()
    }
}

fn cfg() -> Config {
    Config { rx_fifo_size: 256 * 1024, tx_fifo_size: 256 * 1024, ..Config::default() }
}

fn both_finished(s: &Sim, n: [usize; 2]) -> bool {
    s.sink[1].len() == n[0]
        && s.sink[0].len() == n[1]
        && s.conns.iter().all(|c| c.as_ref().is_some_and(|c| c.state() == State::Closed))
}

fn bulk_both_ways(a: Config, b: Config, size: usize, seed: u64) -> Sim {
    let link = Link { delay: 5 * MS, loss: 0.02, reorder: 0.03, dup: 0.01, rate: 200_000_000 };
    let mut s = Sim::new(a, b, link, seed);
    s.src = [data(size, seed), data(size, seed + 1)];
    s.close_when_sent = [true, true];
    let ok = s.run(600 * SEC, |s| both_finished(s, [size, size]));
    assert!(
        ok,
        "transfer stalled: got {} and {} of {size} bytes at {} ms",
        s.sink[1].len(),
        s.sink[0].len(),
        s.now / MS
    );
    assert!(s.sink[1] == s.src[0], "A -> B bytes differ");
    assert!(s.sink[0] == s.src[1], "B -> A bytes differ");
    for i in 0..2 {
        assert!(s.has_event(i, Event::PeerClosed));
        assert_eq!(s.events[i].last().map(|e| e.1), Some(Event::Closed));
        assert!(!s.has_event(i, Event::Reset) && !s.has_event(i, Event::TimedOut));
    }
    assert!(s.has_event(0, Event::Connected) && s.has_event(1, Event::Accepted));
    s
}

#[test]
fn ten_megabytes_both_ways_cubic_sack_under_loss_and_reordering() {
    let s = bulk_both_ways(cfg(), cfg(), 10 << 20, 7);
    let (ws, sack, ts) = s.conn(0).negotiated();
    assert!(ws.is_some() && sack && ts, "window scaling, SACK and timestamps negotiated");
    let st = [*s.conn(0).stats(), *s.conn(1).stats()];
    for st in st {
        // 2 % loss on ~7,500 segments: recoveries happened and repaired it.
        assert!(st.retransmits > 50, "{st:?}");
        assert!(st.fast_recoveries > 10, "{st:?}");
        assert!(st.ooo_segments > 50, "{st:?}");
    }
    // SACK blocks were on the wire.
    assert!(s.log.iter().any(|x| !x.repr.sack.is_empty()));
    eprintln!("sim time {} ms, A {:?}, B {:?}", s.now / MS, st[0], st[1]);
}

#[test]
fn super_segments_cut_on_the_wire_carry_a_transfer_under_loss() {
    // Segmentation offload on both ends (64 KiB super-segments of new
    // data, cut into MSS segments on the wire, PSH/FIN on the last), 2 %
    // loss, reordering and duplication: byte-identical both ways.
    for (seed, c) in [(21, cfg()), (22, Config { cc_algo: CcAlgo::NewReno, sack: false, ..cfg() })] {
        let link = Link { delay: 5 * MS, loss: 0.02, reorder: 0.03, dup: 0.01, rate: 200_000_000 };
        let mut s = Sim::new(c.clone(), c, link, seed);
        s.tso = 64 * 1024;
        let size = 4 << 20;
        s.src = [data(size, seed), data(size, seed + 1)];
        s.close_when_sent = [true, true];
        assert!(s.run(600 * SEC, |s| both_finished(s, [size, size])), "seed {seed} stalled");
        assert!(s.sink[1] == s.src[0] && s.sink[0] == s.src[1], "seed {seed}");
        assert!(s.supers > 100, "super-segments went out: {}", s.supers);
        // On the wire no segment is larger than the MSS.
        let mss = s.conn(0).send_mss() as usize;
        assert!(s.log.iter().all(|x| x.len <= mss));
    }
}

#[test]
fn ten_megabytes_both_ways_newreno_without_sack_or_timestamps() {
    let c = Config { cc_algo: CcAlgo::NewReno, sack: false, timestamps: false, ..cfg() };
    let s = bulk_both_ways(c.clone(), c, 10 << 20, 11);
    let (_, sack, ts) = s.conn(0).negotiated();
    assert!(!sack && !ts);
    assert!(s.conn(0).stats().fast_recoveries > 10);
    assert!(s.log.iter().all(|x| x.repr.sack.is_empty() && x.repr.timestamp.is_none()));
}

#[test]
fn syn_retransmissions_back_off_exactly() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(MS), 1);
    s.drop = Some(Box::new(|_, _, _, _| true));
    assert!(s.run(1000 * SEC, |s| s.conn(0).state() == State::Closed));
    let syns: Vec<u64> = s.log.iter().filter(|x| x.repr.flags == Flags::SYN).map(|x| x.at / MS).collect();
    // RTO 1 s, doubled after each expiry: 0, 1, 3, 7, 15, 31, 63 s; the
    // seventh expiry (64 s capped to rto_max = 60 s) gives up at 123 s.
    assert_eq!(syns, [0, 1000, 3000, 7000, 15000, 31000, 63000]);
    assert_eq!(s.events[0].iter().map(|e| e.1).collect::<Vec<_>>(), [Event::TimedOut, Event::Closed]);
    assert_eq!(s.events[0][0].0, 123 * SEC);
}

#[test]
fn data_rto_doubles_then_recovers() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(10 * MS), 2);
    s.established();
    // Handshake RTT 20 ms: srtt 20, rttvar 10, RTO = 20 + 4·10 = 60 ms, held
    // at the 200 ms floor.
    assert_eq!(s.conn(0).srtt(), Some(20 * MS));
    assert_eq!(s.conn(0).rto(), 200 * MS);
    let black_hole = std::rc::Rc::new(std::cell::Cell::new(true));
    let bh = black_hole.clone();
    s.drop = Some(Box::new(move |_, from, _, _| from == 0 && bh.get()));
    let t0 = s.now;
    s.src[0] = data(1000, 5);
    let stop = t0 + 7 * SEC;
    s.run(stop, |_| false);
    let sends: Vec<u64> = s.data_sent(0).iter().map(|x| (x.at - t0) / MS).collect();
    // 200, 400, 800, 1600, 3200 ms apart.
    assert_eq!(sends, [0, 200, 600, 1400, 3000, 6200]);
    assert_eq!(s.conn(0).stats().rto_expiries, 5);
    assert_eq!(s.conn(0).rto(), 6400 * MS);
    assert_eq!(s.conn(0).cwnd(), s.conn(0).send_mss(), "one segment after an RTO");
    // CUBIC (the default) sets ssthresh to β·cwnd on the first RTO.
    assert_eq!(s.conn(0).ssthresh(), (10.0 * s.conn(0).send_mss() as f64 * 0.7) as u32);
    black_hole.set(false);
    assert!(s.run(stop + 20 * SEC, |s| s.sink[1].len() == 1000 && s.conn(0).flight() == 0));
    assert_eq!(s.sink[1], s.src[0]);
    // A fresh sample clears the backoff.
    assert_eq!(s.conn(0).rto(), 200 * MS);
}

/// Drops the first transmission of each listed data segment index
/// (counted over A's new data segments).
fn drop_first_sends(indices: &'static [u32]) -> Filter {
    let mut seen = std::collections::HashSet::new();
    let mut n = 0u32;
    Box::new(move |_, from, r, len| {
        if from != 0 || len == 0 || !seen.insert(r.seq.0) {
            return false;
        }
        n += 1;
        indices.contains(&(n - 1))
    })
}

fn recovery_entries(s: &Sim) -> Vec<Trace> {
    s.trace.iter().filter(|(to, t)| *to == 0 && !t.in_rec_before && t.in_rec_after).map(|x| x.1).collect()
}

#[test]
fn newreno_fast_retransmit_on_three_dupacks_halves_and_exits() {
    let c = Config { cc_algo: CcAlgo::NewReno, sack: false, delayed_ack: 0, ..cfg() };
    let mut s = Sim::new(c.clone(), c, Link::clean(10 * MS), 3);
    s.established();
    s.drop = Some(drop_first_sends(&[30]));
    s.src[0] = data(200_000, 9);
    assert!(s.run(60 * SEC, |s| s.sink[1].len() == 200_000));
    assert_eq!(s.sink[1], s.src[0]);
    let a = s.conn(0);
    assert_eq!(a.stats().fast_recoveries, 1);
    assert_eq!(a.stats().rto_expiries, 0, "repaired without a timeout");
    assert!(a.stats().dup_acks >= 3);
    assert!(!a.in_recovery(), "recovery exited");
    // The lost segment went out twice, the retransmission right after the
    // third duplicate ACK.
    let lost = s.data_sent(0).iter().map(|x| x.repr.seq).collect::<Vec<_>>();
    let dup_seq = lost.iter().find(|q| lost.iter().filter(|x| x == q).count() == 2).copied().unwrap();
    assert_eq!(lost.iter().filter(|x| **x != dup_seq).count() + 2, lost.len());
    // NewReno halves: ssthresh = flight / 2, cwnd = ssthresh + 3 MSS.
    let e = recovery_entries(&s);
    assert_eq!(e.len(), 1);
    let mss = s.conn(0).send_mss();
    assert_eq!(e[0].ssthresh_after, (e[0].flight_before / 2).max(2 * mss));
    assert_eq!(e[0].cwnd_after, e[0].ssthresh_after + 3 * mss);
}

#[test]
fn sack_recovery_repairs_several_losses_in_one_window() {
    let c = Config { cc_algo: CcAlgo::Cubic, ..cfg() };
    let mut s = Sim::new(c.clone(), c, Link::clean(10 * MS), 4);
    s.established();
    s.drop = Some(drop_first_sends(&[40, 43, 47]));
    s.src[0] = data(300_000, 10);
    assert!(s.run(60 * SEC, |s| s.sink[1].len() == 300_000));
    assert_eq!(s.sink[1], s.src[0]);
    let a = s.conn(0);
    assert_eq!(a.stats().rto_expiries, 0, "SACK recovery, no timeout");
    assert_eq!(a.stats().fast_recoveries, 1, "one recovery episode for the three losses");
    assert_eq!(a.stats().retransmits, 3, "exactly the three lost segments resent");
    assert!(!a.in_recovery());
    // CUBIC's β: cwnd and ssthresh to 0.7 × cwnd on entry.
    let e = recovery_entries(&s);
    assert_eq!(e.len(), 1);
    let want = (e[0].cwnd_before as f64 / a.send_mss() as f64 * 0.7 * a.send_mss() as f64) as u32;
    assert!(e[0].ssthresh_after.abs_diff(want) <= 1, "{e:?} want {want}");
    assert!(e[0].cwnd_after.abs_diff(want) <= 1);
    // B reported the holes in SACK blocks.
    assert!(s.log.iter().filter(|x| x.from == 1).any(|x| x.repr.sack.len() >= 2));
}

#[test]
fn zero_window_is_probed_and_probes_reopen_it() {
    let b = Config { rx_fifo_size: 16 * 1024, ..cfg() };
    let mut s = Sim::new(cfg(), b, Link::clean(10 * MS), 5);
    s.established();
    s.read[1] = false;
    s.src[0] = data(64 * 1024, 12);
    s.run(s.now + 20 * SEC, |_| false);
    let a = s.conn(0);
    assert_eq!(a.send_window(), 0);
    assert_eq!(s.conn(1).rx_fifo().len(), 16 * 1024, "B's fifo is full");
    let probes: Vec<u64> = s.log.iter().filter(|x| x.from == 0 && x.len == 1).map(|x| x.at).collect();
    assert!(probes.len() >= 4, "{probes:?}");
    assert_eq!(a.stats().window_probes as usize, probes.len());
    // The persist timer backs off: each gap twice the previous.
    for w in probes.windows(3) {
        assert_eq!(w[2] - w[1], 2 * (w[1] - w[0]), "{probes:?}");
    }
    // B's app reads, and its window update is lost: only a probe can
    // reopen the window.
    let t = s.now;
    s.drop = Some(Box::new(move |now, from, _, _| from == 1 && now < t + MS));
    s.read[1] = true;
    assert!(s.run(t + 300 * SEC, |s| s.sink[1].len() == 64 * 1024));
    assert_eq!(s.sink[1], s.src[0]);
    let after: Vec<&Sent> = s.log.iter().filter(|x| x.from == 0 && x.at > t).collect();
    assert_eq!(after[0].len, 1, "the first thing A sent after the lost update was a probe");
}

fn half_close(first: usize) {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(5 * MS), 6);
    s.established();
    let second = 1 - first;
    s.src[first] = data(10_000, 20);
    s.close_when_sent[first] = true;
    // The first closer's FIN arrives; the other side keeps sending.
    assert!(
        s.run(s.now + 10 * SEC, |s| s.has_event(second, Event::PeerClosed) && s.conn(first).state() == State::FinWait2)
    );
    assert_eq!(s.conn(second).state(), State::CloseWait);
    assert_eq!(s.conn(first).state(), State::FinWait2);
    assert_eq!(s.sink[second], s.src[first]);
    s.src[second] = data(50_000, 21);
    s.close_when_sent[second] = true;
    assert!(s.run(s.now + 10 * SEC, |s| s.conn(first).state() == State::TimeWait
        && s.conn(second).state() == State::Closed));
    assert_eq!(s.sink[first], s.src[second], "data after our FIN still arrives");
    assert!(s.has_event(first, Event::PeerClosed));
    assert!(s.run(s.now + 10 * SEC, |s| s.conn(first).state() == State::Closed));
}

#[test]
fn half_close_active_side_first() {
    half_close(0);
}

#[test]
fn half_close_passive_side_first() {
    half_close(1);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(5 * MS), 7);
    s.established();
    s.conn_mut(0).close();
    s.conn_mut(1).close();
    s.flush();
    assert!(s.run(s.now + 10 * SEC, |s| s.conn(0).state() == State::Closing || s.conn(0).state() == State::TimeWait));
    assert!(s.run(s.now + 10 * SEC, |s| s.conn(0).state() == State::TimeWait && s.conn(1).state() == State::TimeWait));
    assert!(s.log.iter().filter(|x| x.repr.flags.fin()).count() == 2);
}

#[test]
fn time_wait_lasts_its_configured_time() {
    let a = Config { time_wait: 3 * SEC, ..cfg() };
    let mut s = Sim::new(a, cfg(), Link::clean(5 * MS), 8);
    s.established();
    s.conn_mut(0).close();
    assert!(s.run(s.now + 10 * SEC, |s| s.has_event(1, Event::PeerClosed)));
    s.conn_mut(1).close();
    assert!(s.run(s.now + 10 * SEC, |s| s.conn(0).state() == State::TimeWait));
    let entered = s.now;
    assert_eq!(s.conn(0).poll_timeout(), Some(entered + 3 * SEC));
    let c = s.conn_mut(0);
    c.handle_timeout(entered + 3 * SEC - 1);
    assert_eq!(c.state(), State::TimeWait);
    // A retransmitted FIN is re-acked and restarts the timer.
    let fin = TcpRepr {
        src_port: PORTS[1],
        dst_port: PORTS[0],
        seq: c.rcv_nxt() - 1,
        ack: c.snd_una(),
        flags: Flags::FIN | Flags::ACK,
        window: 1000,
        ..TcpRepr::default()
    };
    c.handle_segment(entered + SEC, &fin, &[]);
    let ack = c.poll_transmit(entered + SEC).expect("FIN re-acked").repr;
    assert_eq!((ack.flags, ack.ack), (Flags::ACK, c.rcv_nxt()));
    assert_eq!(c.poll_timeout(), Some(entered + 4 * SEC));
    c.handle_timeout(entered + 4 * SEC);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.poll_event(), Some(Event::Closed));
    assert_eq!(c.poll_timeout(), None);
}

fn established_pair() -> Sim {
    let c = Config { timestamps: false, ..cfg() };
    let mut s = Sim::new(c.clone(), c, Link::clean(5 * MS), 9);
    s.established();
    s
}

fn inject(c: &mut Connection, now: u64, seq: Seq, flags: Flags) -> Option<TcpRepr> {
    let r = TcpRepr {
        src_port: PORTS[1],
        dst_port: PORTS[0],
        seq,
        ack: c.snd_una(),
        flags,
        window: 1000,
        ..TcpRepr::default()
    };
    c.handle_segment(now, &r, &[]);
    c.poll_transmit(now).map(|t| t.repr)
}

#[test]
fn rst_checks_follow_rfc5961() {
    let mut s = established_pair();
    let now = s.now;
    let c = s.conn_mut(0);
    let nxt = c.rcv_nxt();
    // Out of window: ignored, no answer.
    assert_eq!(inject(c, now, nxt + 10_000_000, Flags::RST), None);
    assert_eq!(inject(c, now, nxt - 100, Flags::RST), None);
    assert_eq!(c.state(), State::Established);
    // In window but not exact: challenge ACK, still established.
    let ch = inject(c, now, nxt + 100, Flags::RST).expect("challenge ACK");
    assert_eq!((ch.flags, ch.ack, ch.seq), (Flags::ACK, nxt, c.snd_nxt()));
    assert_eq!(c.state(), State::Established);
    // A SYN on an established connection: challenge ACK too.
    let ch = inject(c, now, nxt, Flags::SYN).expect("challenge ACK");
    assert_eq!((ch.flags, ch.ack), (Flags::ACK, nxt));
    assert_eq!(c.stats().challenge_acks, 2);
    assert_eq!(c.state(), State::Established);
    // An ACK for data never sent: dropped with a challenge ACK.
    let bogus = TcpRepr {
        src_port: PORTS[1],
        dst_port: PORTS[0],
        seq: nxt,
        ack: c.snd_nxt() + 5000,
        flags: Flags::ACK,
        window: 1000,
        ..TcpRepr::default()
    };
    c.handle_segment(now, &bogus, b"junk");
    assert_eq!(c.poll_transmit(now).map(|t| t.repr.ack), Some(nxt), "data of the bogus ACK not taken");
    assert_eq!(c.rx_fifo().len(), 0);
    // The exact sequence resets.
    assert_eq!(inject(c, now, nxt, Flags::RST), None);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.poll_event(), Some(Event::Reset));
    assert_eq!(c.poll_event(), Some(Event::Closed));
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut s = established_pair();
    let now = s.now;
    let c = s.conn_mut(0);
    let nxt = c.rcv_nxt();
    let answered = (0..50).filter(|i| inject(c, now, nxt + 10 + *i, Flags::RST).is_some()).count();
    assert_eq!(answered, 10, "the default limit is 10 per second");
    assert!(inject(c, now + SEC, nxt + 5, Flags::RST).is_some(), "a new second, a new budget");
}

#[test]
fn abort_sends_rst_and_peer_resets() {
    let mut s = established_pair();
    s.conn_mut(0).abort();
    assert!(s.run(s.now + SEC, |s| s.conn(1).state() == State::Closed));
    assert!(s.has_event(1, Event::Reset));
    assert_eq!(s.events[0].last().map(|e| e.1), Some(Event::Closed));
}

#[test]
fn paws_drops_old_timestamps() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(5 * MS), 10);
    s.established();
    s.src[1] = data(100, 1);
    assert!(s.run(s.now + SEC, |s| s.sink[0].len() == 100));
    let now = s.now;
    let b_ts = s.log.iter().rev().find_map(|x| (x.from == 1).then_some(x.repr.timestamp).flatten()).unwrap().0;
    let c = s.conn_mut(0);
    let mut seg = TcpRepr {
        src_port: PORTS[1],
        dst_port: PORTS[0],
        seq: c.rcv_nxt(),
        ack: c.snd_una(),
        flags: Flags::ACK,
        window: 1000,
        timestamp: Some((b_ts.wrapping_sub(1000), 0)), // older than B's last
        ..TcpRepr::default()
    };
    c.handle_segment(now, &seg, b"stale");
    assert_eq!(c.stats().paws_drops, 1);
    assert_eq!(c.rx_fifo().len(), 0);
    assert!(c.poll_transmit(now).is_some(), "a PAWS drop is acked");
    seg.timestamp = None;
    c.handle_segment(now, &seg, b"fresh");
    assert_eq!(c.rx_fifo().len(), 5);
}

#[test]
fn delayed_ack_every_second_segment_or_timer() {
    let c = Config { nagle: false, ..cfg() };
    let mut s = Sim::new(c.clone(), c, Link::clean(5 * MS), 11);
    s.established();
    let start = s.log.len();
    s.src[0] = data(100, 3);
    assert!(s.run(s.now + SEC, |s| s.sink[1].len() == 100));
    let t_data = s.now;
    assert!(s.run(s.now + SEC, |s| s.log[start..].iter().any(|x| x.from == 1)));
    let ack = s.log[start..].iter().find(|x| x.from == 1).unwrap();
    assert_eq!(ack.at - t_data, 40 * MS, "a lone segment is acked by the 40 ms timer");
    // Two full segments: the second is acked at once.
    let start = s.log.len();
    let mss = s.conn(0).send_mss() as usize;
    s.src[0] = data(100 + 2 * mss, 3);
    assert!(s.run(s.now + SEC, |s| s.sink[1].len() == 100 + 2 * mss));
    let t_data = s.now;
    s.run(s.now + 100 * MS, |_| false);
    let ack = s.log[start..].iter().find(|x| x.from == 1).unwrap();
    assert_eq!(ack.at, t_data);
}

#[test]
fn nagle_holds_small_segments_until_acked() {
    for nagle in [true, false] {
        let c = Config { nagle, ..cfg() };
        let mut s = Sim::new(c.clone(), c, Link::clean(5 * MS), 12);
        s.established();
        let start = s.log.len();
        let now = s.now;
        s.conn_mut(0).app_write(b"one");
        s.flush();
        s.conn_mut(0).app_write(b"two");
        s.flush();
        let sent: Vec<&Sent> = s.log[start..].iter().filter(|x| x.from == 0 && x.len > 0).collect();
        assert_eq!(sent.len(), if nagle { 1 } else { 2 }, "nagle {nagle}");
        assert!(sent.iter().all(|x| x.at == now));
        assert!(s.run(s.now + SEC, |s| s.sink[1] == b"onetwo"));
    }
}

#[test]
fn syn_flood_keeps_the_queue_bounded_and_a_real_client_connects() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(5 * MS), 13);
    s.listener = Listener::new(cfg(), 64);
    let mut replies = 0;
    for i in 0..10_000u32 {
        let syn = TcpRepr {
            src_port: 1 + i as u16, // never the real client's 40000
            dst_port: 80,
            seq: Seq(i.wrapping_mul(2_654_435_761)),
            flags: Flags::SYN,
            window: 65535,
            mss: Some(1460),
            ..TcpRepr::default()
        };
        match s.listener.on_segment(0, syn.src_port, &syn, &[], Seq(i)) {
            ListenAction::Reply(r) => {
                assert_eq!(r.flags, Flags::SYN | Flags::ACK);
                assert_eq!(r.ack, syn.seq + 1);
                replies += 1;
            }
            other => panic!("{other:?}"),
        }
        assert!(s.listener.half_open_len() <= 64);
    }
    assert_eq!(replies, 10_000, "every SYN answered");
    assert_eq!(s.listener.half_open_len(), 64);
    assert_eq!(s.listener.stats().cookies_sent, 10_000 - 64);
    // A forged ACK with a wrong cookie gets a RST, not a connection.
    let forged =
        TcpRepr { src_port: 9999, dst_port: 80, seq: Seq(5), ack: Seq(12345), flags: Flags::ACK, ..TcpRepr::default() };
    match s.listener.on_segment(0, 9999, &forged, &[], Seq(0)) {
        ListenAction::Reply(r) => assert!(r.flags.rst()),
        other => panic!("{other:?}"),
    }
    // The real client's handshake through the full queue completes (cookie)
    // and carries data both ways.
    s.established();
    assert_eq!(s.listener.stats().cookies_accepted, 1);
    assert_eq!(s.listener.half_open_len(), 64);
    assert_eq!(s.conn(1).negotiated(), (None, false, false), "a cookie keeps no options");
    s.src[0] = data(100_000, 4);
    s.src[1] = data(100_000, 5);
    assert!(s.run(s.now + 30 * SEC, |s| s.sink[1].len() == 100_000 && s.sink[0].len() == 100_000));
    assert!(s.sink[1] == s.src[0] && s.sink[0] == s.src[1]);
    // The flood's entries retransmit their SYN-ACKs (to nobody) and expire.
    assert!(s.run(s.now + 300 * SEC, |s| s.listener.half_open_len() == 0));
    assert_eq!(s.listener.stats().synack_retransmits, 64 * 6, "six SYN-ACK retransmissions each");
    assert_eq!(s.listener.stats().expired, 64);
}

#[test]
fn handshake_through_the_queue_and_a_retransmitted_syn() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(5 * MS), 14);
    // The first SYN-ACK is lost: the client's SYN retransmission is
    // answered again from the queue.
    let mut first = true;
    s.drop = Some(Box::new(move |_, from, r, _| {
        let hit = from == 1 && r.flags.syn() && first;
        if hit {
            first = false;
        }
        hit
    }));
    s.established();
    // SYN at 0 (answer lost), SYN again at 1 s, SYN-ACK back at 1.010 s,
    // the final ACK reaches B at 1.015 s.
    assert_eq!(s.now, SEC + 15 * MS);
    assert_eq!(s.listener.stats().accepted, 1);
    assert_eq!(s.listener.half_open_len(), 0);
    assert_eq!(s.conn(0).send_mss(), 1460 - 12, "timestamps take 12 bytes of the MSS");
}

#[test]
fn closed_port_rst() {
    let syn = TcpRepr { src_port: 1, dst_port: 2, seq: Seq(100), flags: Flags::SYN, ..TcpRepr::default() };
    let r = rst_for(&syn, 0).unwrap();
    assert_eq!((r.flags, r.ack, r.seq), (Flags::RST | Flags::ACK, Seq(101), Seq(0)));
    let ack = TcpRepr { ack: Seq(555), flags: Flags::ACK, ..syn };
    let r = rst_for(&ack, 10).unwrap();
    assert_eq!((r.flags, r.seq), (Flags::RST, Seq(555)));
    assert!(rst_for(&TcpRepr { flags: Flags::RST, ..syn }, 0).is_none());
}

#[test]
fn keepalive_detects_a_dead_peer() {
    let ka = Keepalive { idle: 10 * SEC, interval: SEC, probes: 3 };
    let a = Config { keepalive: Some(ka), ..cfg() };
    let mut s = Sim::new(a, cfg(), Link::clean(5 * MS), 15);
    s.established();
    let t = s.now;
    // The peer answers probes: still alive after a minute.
    s.run(t + 60 * SEC, |_| false);
    assert_eq!(s.conn(0).state(), State::Established);
    assert!(s.log.iter().filter(|x| x.from == 0 && x.at > t).count() >= 5);
    // The peer vanishes.
    s.drop = Some(Box::new(|_, _, _, _| true));
    let t = s.now;
    assert!(s.run(t + 60 * SEC, |s| s.conn(0).state() == State::Closed));
    assert!(s.has_event(0, Event::TimedOut));
    assert!(s.now - t <= 14 * SEC);
}

#[test]
fn simultaneous_open_connects_both() {
    let mut a = Connection::connect(cfg(), 1111, 2222, Seq(100)).unwrap();
    let mut b = Connection::connect(cfg(), 2222, 1111, Seq(900_000)).unwrap();
    // The SYNs cross.
    let sa = a.poll_transmit(0).unwrap().repr;
    let sb = b.poll_transmit(0).unwrap().repr;
    a.handle_segment(MS, &sb, &[]);
    b.handle_segment(MS, &sa, &[]);
    assert_eq!((a.state(), b.state()), (State::SynReceived, State::SynReceived));
    for now in 2..10 {
        let ta: Vec<_> = std::iter::from_fn(|| a.poll_transmit(now * MS)).collect();
        let tb: Vec<_> = std::iter::from_fn(|| b.poll_transmit(now * MS)).collect();
        for t in ta {
            b.handle_segment(now * MS, &t.repr, &[]);
        }
        for t in tb {
            a.handle_segment(now * MS, &t.repr, &[]);
        }
    }
    assert_eq!((a.state(), b.state()), (State::Established, State::Established));
    assert_eq!(a.poll_event(), Some(Event::Connected));
    assert_eq!(b.poll_event(), Some(Event::Connected));
    assert_eq!((a.rcv_nxt(), b.rcv_nxt()), (Seq(900_001), Seq(101)));
}

#[test]
fn handshake_completes_when_data_overtakes_the_lost_final_ack() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(5 * MS), 16);
    s.src[0] = data(20_000, 8);
    // A's first segment after the SYN-ACK (the bare ACK) and its first data
    // segment are lost; the listener sees data at irs + 1 + MSS first.
    let mut n = 0;
    s.drop = Some(Box::new(move |_, from, r, _| {
        if from != 0 || r.flags.syn() {
            return false;
        }
        n += 1;
        n <= 2
    }));
    assert!(s.run(10 * SEC, |s| s.sink[1].len() == 20_000));
    assert_eq!(s.sink[1], s.src[0]);
    assert_eq!(s.listener.stats().accepted, 1);
    assert_eq!(s.listener.stats().resets, 0, "no RST for a segment inside the offered window");
    assert!(!s.has_event(0, Event::Reset));
}

#[test]
fn lossy_transfers_over_many_seeds_links_and_configs() {
    // 5 % loss, 10 % reordering, 5 % duplication; small fifos (window- and
    // tx-limited), no SACK, no timestamps, small MSS, Nagle off; links with
    // and without a rate limit. Every transfer completes byte-identical.
    for seed in 0..24u64 {
        let small = Config { rx_fifo_size: 48 * 1024, tx_fifo_size: 32 * 1024, ..cfg() };
        let c = match seed % 4 {
            0 => small,
            1 => Config { cc_algo: CcAlgo::NewReno, sack: false, ..small },
            2 => Config { timestamps: false, delayed_ack: 0, nagle: false, ..cfg() },
            _ => Config { cc_algo: CcAlgo::NewReno, mss: 536, ..cfg() },
        };
        let link = Link {
            delay: (seed % 7 + 1) * MS,
            loss: 0.05,
            reorder: 0.1,
            dup: 0.05,
            rate: if seed % 2 == 0 { 100_000_000 } else { 0 },
        };
        let mut s = Sim::new(c.clone(), c, link, 1000 + seed);
        let size = 200_000;
        s.src = [data(size, seed), data(size, seed + 1)];
        s.close_when_sent = [true, true];
        assert!(s.run(3000 * SEC, |s| both_finished(s, [size, size])), "seed {seed} stalled");
        assert!(s.sink[1] == s.src[0] && s.sink[0] == s.src[1], "seed {seed}");
    }
}

#[test]
fn a_handshake_completing_while_a_syn_resend_is_due_keeps_the_rto_working() {
    // Found by the fuzzer: a duplicate SYN (asking for another SYN-ACK)
    // followed at once by the final ACK left the connection waiting to send
    // a SYN-ACK forever, so no retransmission timer was ever armed again.
    let mut a = Connection::connect(cfg(), 1, 2, Seq(10)).unwrap();
    let syn = a.poll_transmit(0).unwrap().repr;
    let mut b = Connection::accept(cfg(), 0, &syn, Seq(5000)).unwrap();
    let syn_ack = b.poll_transmit(0).unwrap().repr;
    a.handle_segment(MS, &syn_ack, &[]);
    let ack = a.poll_transmit(MS).unwrap().repr;
    b.handle_segment(2 * MS, &syn, &[]);
    b.handle_segment(2 * MS, &ack, &[]);
    assert_eq!(b.state(), State::Established);
    assert_eq!(b.app_write(b"data"), 4);
    let t = b.poll_transmit(2 * MS).unwrap();
    assert!(!t.repr.flags.syn());
    assert_eq!((t.repr.seq, t.payload_len), (Seq(5001), 4));
    let rto_at = b.poll_timeout().expect("retransmission timer armed");
    b.handle_timeout(rto_at);
    let r = b.poll_transmit(rto_at).unwrap();
    assert_eq!((r.repr.seq, r.payload_len), (Seq(5001), 4));

    // The same on the active side: the SYN's RTO fired, the SYN-ACK came
    // before the SYN went out again.
    let mut a = Connection::connect(cfg(), 1, 2, Seq(10)).unwrap();
    let syn = a.poll_transmit(0).unwrap().repr;
    a.handle_timeout(SEC);
    let mut b = Connection::accept(cfg(), 0, &syn, Seq(5000)).unwrap();
    let syn_ack = b.poll_transmit(0).unwrap().repr;
    a.handle_segment(SEC, &syn_ack, &[]);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.app_write(b"x"), 1);
    let t = a.poll_transmit(SEC).unwrap();
    assert!(!t.repr.flags.syn());
    assert_eq!(t.payload_len, 1);
    assert!(a.poll_timeout().is_some());
}

#[test]
fn window_scaling_opens_the_window_past_64k() {
    let mut s = Sim::new(cfg(), cfg(), Link::clean(10 * MS), 17);
    s.established();
    // 256 KiB fifos need a shift of 3 (256 Ki >> 2 = 65536 > 65535).
    assert_eq!(s.conn(0).negotiated(), (Some((3, 3)), true, true));
    // The SYN-ACK's window is never scaled: 65535 until B's next segment.
    assert_eq!(s.conn(0).send_window(), 65535);
    s.src[0] = data(2 << 20, 6);
    assert!(s.run(s.now + 60 * SEC, |s| s.sink[1].len() == 2 << 20 && s.conn(0).flight() == 0));
    assert_eq!(s.sink[1], s.src[0]);
    assert_eq!(s.conn(0).send_window(), 256 * 1024);
    let max_flight = s.trace.iter().filter(|(to, _)| *to == 0).map(|(_, t)| t.flight_before).max().unwrap();
    assert!(max_flight > 65_535, "flight reached {max_flight}");
    // The raw window field stays a 16-bit count of 8-byte units.
    assert!(s.log.iter().filter(|x| x.from == 1 && !x.repr.flags.syn()).all(|x| x.repr.window == 32768));
}

#[test]
fn app_events_rx_and_tx_space() {
    let small_tx = Config { tx_fifo_size: 4096, nagle: false, ..cfg() };
    let mut a = Connection::connect(small_tx, 1, 2, Seq(10)).unwrap();
    let syn = a.poll_transmit(0).unwrap().repr;
    let mut b = Connection::accept(cfg(), 0, &syn, Seq(5000)).unwrap();
    a.handle_segment(MS, &b.poll_transmit(0).unwrap().repr, &[]);
    b.handle_segment(2 * MS, &a.poll_transmit(MS).unwrap().repr, &[]);
    assert_eq!(a.poll_event(), Some(Event::Connected));
    assert_eq!(b.poll_event(), Some(Event::Accepted));
    assert_eq!(a.app_write(&[7u8; 10_000]), 4096, "a short write");
    let mut segs = Vec::new();
    while let Some(t) = a.poll_transmit(3 * MS) {
        let (x, y) = a.payload(&t);
        segs.push((t.repr, [x, y].concat()));
    }
    assert_eq!(segs.len(), 3);
    for (r, p) in &segs {
        b.handle_segment(4 * MS, r, p);
    }
    // One Rx event for three unread segments.
    assert_eq!(b.poll_event(), Some(Event::Rx));
    assert_eq!(b.poll_event(), None);
    assert_eq!(a.poll_event(), None, "no TxSpace before an ACK frees space");
    while let Some(t) = b.poll_transmit(4 * MS) {
        a.handle_segment(5 * MS, &t.repr, &[]);
    }
    assert_eq!(a.poll_event(), Some(Event::TxSpace));
    assert_eq!(a.poll_event(), None);
    assert_eq!(a.tx_fifo().free(), 4096);
    let mut buf = [0u8; 5000];
    assert_eq!(b.app_read(&mut buf), 4096);
    assert!(buf[..4096].iter().all(|&x| x == 7));
}

/// Found by e2e tcp_loss: a kernel peer echoing bulk data grows its window
/// with every ACK (and piggybacks data on some), so its ACKs reporting a
/// loss never met RFC 5681's duplicate-ACK test and each loss waited for an
/// RTO. RFC 6675 §2 counts an ACK that SACKs new data as a duplicate
/// whatever its window or payload.
#[test]
fn sack_acks_with_a_changing_window_or_data_start_recovery() {
    for with_data in [false, true] {
        let c = Config { timestamps: false, ..cfg() };
        let mut s = Sim::new(c.clone(), c, Link::clean(5 * MS), 21);
        s.established();
        let now = s.now;
        let a = s.conn_mut(0);
        let mss = a.send_mss();
        assert_eq!(a.app_write(&data(10 * mss as usize, 5)), 10 * mss as usize);
        let mut sent = Vec::new();
        while let Some(t) = a.poll_transmit(now) {
            if t.payload_len > 0 {
                sent.push(t.repr.seq);
            }
        }
        assert!(sent.len() >= 6, "initial window sends several segments: {}", sent.len());
        let una = a.snd_una();
        assert_eq!(sent[0], una);
        // The first segment is lost; the peer SACKs the next ones, one more
        // with each ACK, each ACK advertising a larger window.
        let mut peer_seq = a.rcv_nxt();
        for k in 2..5u32 {
            let mut r = TcpRepr {
                src_port: PORTS[1],
                dst_port: PORTS[0],
                seq: peer_seq,
                ack: una,
                flags: Flags::ACK,
                window: 2000 + k as u16,
                ..TcpRepr::default()
            };
            r.sack.push(una + mss, una + k * mss);
            let payload = if with_data { vec![7u8; 100] } else { Vec::new() };
            a.handle_segment(now, &r, &payload);
            peer_seq += payload.len() as u32;
        }
        assert!(a.in_recovery(), "SACK recovery entered (with data: {with_data})");
        assert_eq!(a.stats().fast_recoveries, 1);
        let rtx = std::iter::from_fn(|| a.poll_transmit(now)).find(|t| t.payload_len > 0);
        assert_eq!(rtx.map(|t| t.repr.seq), Some(una), "the hole is resent at once, no RTO (with data: {with_data})");
        assert_eq!(a.stats().rto_expiries, 0);
    }
}

/// An echo server under 2 % loss each way, as e2e tcp_loss runs it against
/// the kernel: the server's ACKs ride on its echoed data and its window
/// moves with its fifos. Losses are repaired by SACK recovery, not RTOs.
#[test]
fn echo_under_loss_recovers_by_sack_not_timeouts() {
    let c = Config { rx_fifo_size: 1 << 20, tx_fifo_size: 1 << 20, ..Config::default() };
    let link = Link { delay: 100_000, loss: 0.02, reorder: 0.0, dup: 0.0, rate: 2_000_000_000 };
    let mut s = Sim::new(c.clone(), c, link, 17);
    s.established();
    s.echo[1] = true;
    const N: usize = 5 << 20;
    s.src[0] = data(N, 23);
    assert!(s.run(600 * SEC, |s| s.sink[0].len() == N), "echoed {} of {N}", s.sink[0].len());
    assert_eq!(s.sink[0], s.src[0]);
    // RFC 6691: SACK blocks on a data segment take room from its payload;
    // a segment past the MSS (+ timestamps) is dropped for the MTU.
    let mtu_room = Config::default().mss as usize + 20;
    let too_big: Vec<&Sent> = s.log.iter().filter(|x| x.repr.header_len() + x.len > mtu_room).collect();
    assert!(too_big.is_empty(), "{} segments larger than the MTU, first {:?}", too_big.len(), too_big.first());
    let with_sack = s.log.iter().filter(|x| x.len > 0 && !x.repr.sack.is_empty()).count();
    assert!(with_sack > 0, "the echo never carried SACK blocks on data");
    for i in 0..2 {
        let st = s.conn(i).stats();
        assert!(st.fast_recoveries > 5 * st.rto_expiries, "endpoint {i}: mostly SACK recoveries: {st:?}");
    }
}
