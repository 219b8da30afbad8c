//! ICMP errors about packets we sent (from `tcp4-icmp-input` /
//! `tcp6-icmp-input`, which `ip4-local` / `ip6-local` hand them to once
//! checksummed and seen to quote a packet from one of our addresses): the
//! message parsed ([`IcmpError::parse`]) and handed to the TCP session the
//! quoted header names ([`SessionTable::icmp_error`]).
//!
//! IPv4 "fragmentation needed" (type 3 code 4, RFC 1191) and IPv6 "packet
//! too big" (type 2, RFC 8201) lower the session's MSS to the reported MTU
//! less the headers, never below a floor: 576 bytes over IPv4 (every host
//! takes datagrams that large, RFC 1122 §3.3.2; Linux's floor is 552), the
//! minimum link MTU 1280 over IPv6 (RFC 8200 §5). A router older than RFC
//! 1191 reports no MTU (under 68, the smallest any IPv4 link has): the MTU
//! is then guessed as the RFC 1191 plateau below the quoted datagram's
//! length. Every other error (unreachable, time exceeded, parameter
//! problem) is a soft error for TCP, as Linux treats it: counted,
//! otherwise ignored.
//!
//! [`IcmpError::parse`] reads only within the slice it is given and
//! returns None for anything too short or not quoting IP; it never panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{SessionTable, TransportConn};
use crate::session::{FiveTuple, PROTO_TCP};
use crate::tcp::{PmtuOutcome, Seq};

/// The smallest path MTU IPv4 TCP is lowered to.
pub const MIN_PMTU4: u32 = 576;
/// The smallest path MTU IPv6 TCP is lowered to (IPv6's minimum link MTU).
pub const MIN_PMTU6: u32 = 1280;
/// The smallest MTU an IPv4 link has (RFC 791); a smaller report is none.
const MIN_MTU4: u32 = 68;
/// RFC 1191 §7's table of common MTUs, largest first.
const PLATEAUS: [u32; 11] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// What an ICMP error says about the packet it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// The path takes packets of at most `mtu` bytes (IPv4 type 3 code 4
    /// with its next-hop MTU, which is 0 from a pre-RFC 1191 router; IPv6
    /// type 2).
    TooBig { mtu: u32 },
    /// Any other error: unreachable, time exceeded, parameter problem.
    Other { ty: u8, code: u8 },
}

/// One ICMP error message about a packet we sent, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    pub kind: IcmpKind,
    /// The quoted packet's flow as we see it: local = its source (ours),
    /// remote = its destination, `proto` its transport protocol (ports
    /// 0 unless TCP or UDP).
    pub tuple: FiveTuple,
    /// The quoted TCP sequence number (0 for other protocols).
    pub seq: Seq,
    /// The quoted packet's length as its IP header gives it.
    pub quoted_len: u32,
}

impl IcmpError {
    /// Parses an ICMP (`ip6` false) or ICMPv6 error message, `msg` from
    /// its ICMP header on: the header (8 bytes), then the quoted IP header
    /// and at least the 8 bytes after it (the ports and, for TCP, the
    /// sequence number). None for an informational type, a quote too short
    /// or of the wrong IP version, or a quoted IPv4 fragment past the
    /// first (it has no transport header).
    pub fn parse(ip6: bool, msg: &[u8]) -> Option<IcmpError> {
        let (&ty, &code) = (msg.first()?, msg.get(1)?);
        let q = msg.get(8..)?;
        let (src, dst, proto, quoted_len, l4): (IpAddr, IpAddr, u8, u32, &[u8]) = if ip6 {
            if !(1..=4).contains(&ty) || q.len() < 48 || q[0] >> 4 != 6 {
                return None;
            }
            let s: [u8; 16] = q[8..24].try_into().ok()?;
            let d: [u8; 16] = q[24..40].try_into().ok()?;
            let plen = u16::from_be_bytes([q[4], q[5]]) as u32;
            (Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into(), q[6], plen + 40, &q[40..])
        } else {
            if !matches!(ty, 3 | 11 | 12) || q.len() < 28 || q[0] >> 4 != 4 {
                return None;
            }
            let ihl = (q[0] & 0xf) as usize * 4;
            if ihl < 20 || q.len() < ihl + 8 || u16::from_be_bytes([q[6], q[7]]) & 0x1fff != 0 {
                return None;
            }
            let s: [u8; 4] = q[12..16].try_into().ok()?;
            let d: [u8; 4] = q[16..20].try_into().ok()?;
            let total = u16::from_be_bytes([q[2], q[3]]) as u32;
            (Ipv4Addr::from(s).into(), Ipv4Addr::from(d).into(), q[9], total, &q[ihl..])
        };
        let kind = match (ip6, ty, code) {
            (false, 3, 4) => IcmpKind::TooBig { mtu: u16::from_be_bytes([msg[6], msg[7]]) as u32 },
            (true, 2, _) => IcmpKind::TooBig { mtu: u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]) },
            _ => IcmpKind::Other { ty, code },
        };
        let ports = matches!(proto, 6 | 17);
        let (sp, dp) =
            if ports { (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]])) } else { (0, 0) };
        let seq = if proto == PROTO_TCP { Seq(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]])) } else { Seq(0) };
        let tuple = FiveTuple { local: SocketAddr::new(src, sp), remote: SocketAddr::new(dst, dp), proto };
        Some(IcmpError { kind, tuple, seq, quoted_len })
    }

    /// The MSS (payload bytes under a bare TCP header) the path takes, for
    /// a message reporting one: the MTU, guessed from the plateaus when an
    /// old IPv4 router gave none and held at the family's floor, less the
    /// IP and TCP headers.
    pub fn path_mss(&self) -> Option<u32> {
        let IcmpKind::TooBig { mtu } = self.kind else { return None };
        Some(if self.tuple.is_ip6() {
            mtu.max(MIN_PMTU6) - 60
        } else {
            let mtu = if mtu < MIN_MTU4 { plateau_below(self.quoted_len) } else { mtu };
            mtu.max(MIN_PMTU4) - 40
        })
    }
}

/// The largest RFC 1191 plateau below `len` (68 at least).
fn plateau_below(len: u32) -> u32 {
    PLATEAUS.iter().copied().find(|&p| p < len).unwrap_or(MIN_MTU4)
}

/// What [`SessionTable::icmp_error`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpOutcome {
    /// The session's MSS went down; its segments in flight go again.
    PmtuLowered,
    /// Reached the session and changed nothing: a soft error, or a
    /// reported MTU no smaller than the session's segments.
    Delivered,
    /// No TCP session here has the quoted flow.
    NoSession,
    /// The quoted sequence number is not in flight (RFC 5927): ignored.
    OutOfWindow,
    /// It quotes a packet of another protocol than TCP.
    NotTcp,
}

impl SessionTable {
    /// Hands an ICMP error to the TCP session of the packet it quotes.
    /// One that lowers the session's MSS queues the session for
    /// [`SessionTable::flush_delivered`], which sends its flight again in
    /// segments of the new size.
    pub fn icmp_error(&mut self, now: u64, e: &IcmpError) -> IcmpOutcome {
        if e.tuple.proto != PROTO_TCP {
            return IcmpOutcome::NotTcp;
        }
        let Some(&i) = self.by_tuple.get(&e.tuple) else { return IcmpOutcome::NoSession };
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else {
            return IcmpOutcome::NoSession;
        };
        let TransportConn::Tcp(c) = &mut s.conn else { return IcmpOutcome::NoSession };
        let Some(mss) = e.path_mss() else {
            // A soft error: RFC 5927 §4's checks would apply if it did
            // anything; it does not.
            return IcmpOutcome::Delivered;
        };
        match c.handle_packet_too_big(now, e.seq, mss) {
            PmtuOutcome::Lowered => {}
            PmtuOutcome::OutOfWindow => return IcmpOutcome::OutOfWindow,
            PmtuOutcome::NotLower | PmtuOutcome::NoData => return IcmpOutcome::Delivered,
        }
        if !s.delivered {
            s.delivered = true;
            self.delivered.push(i);
        }
        IcmpOutcome::PmtuLowered
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::nodes::output::build_packet;
    use crate::session::echo::EchoServer;
    use crate::session::tests::{receive, small_fifos, Wire, MS};
    use crate::session::{App, AppEvent, AppSession, PROTO_TCP};
    use crate::tcp::TcpRepr;

    /// An ICMP error of `ty`/`code` with `word` (bytes 4..8 of its header)
    /// quoting `pkt` (at most its IP header and 8 bytes more, as a router
    /// quotes; IPv6 as much as fits in 1280 bytes, here all of it up to
    /// 1232). Checksum left zero: ip-local checks it, not the table.
    pub(crate) fn icmp_about(pkt: &[u8], ty: u8, code: u8, word: u32) -> Vec<u8> {
        let ip6 = pkt[0] >> 4 == 6;
        let keep = if ip6 { pkt.len().min(1232) } else { ((pkt[0] & 0xf) as usize * 4 + 8).min(pkt.len()) };
        let mut m = vec![ty, code, 0, 0];
        m.extend_from_slice(&word.to_be_bytes());
        m.extend_from_slice(&pkt[..keep]);
        m
    }

    fn frag_needed(pkt: &[u8], mtu: u16) -> IcmpError {
        IcmpError::parse(false, &icmp_about(pkt, 3, 4, mtu as u32)).expect("parses")
    }

    fn too_big(pkt: &[u8], mtu: u32) -> IcmpError {
        IcmpError::parse(true, &icmp_about(pkt, 2, 0, mtu)).expect("parses")
    }

    /// Writes `data` once connected; keeps what it reads.
    struct Sender {
        data: Vec<u8>,
        sent: usize,
    }

    impl App for Sender {
        fn name(&self) -> &str {
            "sender"
        }
        fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
            if matches!(ev, AppEvent::Connected | AppEvent::TxSpace) {
                while self.sent < self.data.len() {
                    let n = s.write(&self.data[self.sent..]);
                    if n == 0 {
                        break;
                    }
                    self.sent += n;
                }
                if self.sent == self.data.len() {
                    s.close();
                }
            }
        }
    }

    /// A connection from `b` (client at `client`) to an echo server in
    /// `a` (at `server`) through the handshake, then 20 kB written by the
    /// client and its first flight sent: the tables, the session's tuple
    /// in `b` and the data segments of that flight.
    fn open(server: &str, client: &str) -> (SessionTable, SessionTable, FiveTuple, Vec<Vec<u8>>) {
        let mut a = SessionTable::new(0, small_fifos());
        let mut b = SessionTable::new(0, small_fifos());
        let echo = a.attach(Box::new(EchoServer::default()));
        let sip: IpAddr = server.parse().unwrap();
        a.listen(echo, PROTO_TCP, SocketAddr::new(sip, 7777)).unwrap();
        let app = b.attach(Box::new(Sender { data: vec![7; 20_000], sent: 0 }));
        let si = b.connect(0, app, client.parse().unwrap(), SocketAddr::new(sip, 7777), 1).unwrap();
        let tuple = b.session(si).unwrap().tuple;
        // SYN, SYN-ACK, ACK: then b writes, its first flight is what b sent.
        let mut flight = Vec::new();
        let mut w = Wire { room: 64, ..Wire::default() };
        b.poll(0, &mut w);
        let mut q: Vec<Vec<u8>> = w.packets.into_iter().map(|p| p.1).collect();
        let mut now = 0;
        while flight.is_empty() {
            now += MS;
            let mut next = Vec::new();
            for pkt in q {
                let (t, r, payload) = receive(&pkt);
                let mut w = Wire { room: 64, ..Wire::default() };
                if t.local.ip() == sip {
                    a.tcp_input(now, t, 1, &r, &payload, &mut w);
                    a.drain_events(now, &mut w);
                    next.extend(w.packets.into_iter().map(|p| p.1));
                } else {
                    b.tcp_input(now, t, 1, &r, &payload, &mut w);
                    b.drain_events(now, &mut w);
                    for (_, p) in w.packets {
                        if receive(&p).2.is_empty() {
                            next.push(p);
                        } else {
                            flight.push(p);
                        }
                    }
                }
            }
            q = next;
            assert!(now < 100 * MS, "the handshake completes");
        }
        (a, b, tuple, flight)
    }

    fn mss_of(t: &SessionTable, tuple: &FiveTuple) -> u32 {
        t.session(t.lookup(tuple).unwrap()).unwrap().conn.tcp().unwrap().send_mss()
    }

    #[test]
    fn frag_needed_quoting_a_segment_in_flight_lowers_the_mss() {
        let (_a, mut b, tuple, flight) = open("10.0.0.1", "10.0.0.2");
        // Timestamps take 12 bytes of every segment.
        assert_eq!(mss_of(&b, &tuple), 1448);
        assert!(flight.len() >= 2 && flight[0].len() == 1500);
        let e = frag_needed(&flight[1], 1400);
        assert_eq!(e.tuple, tuple, "the quoted segment names our session");
        assert_eq!(b.icmp_error(5 * MS, &e), IcmpOutcome::PmtuLowered);
        assert_eq!(mss_of(&b, &tuple), 1400 - 40 - 12);
        // The flight goes again at once, from its first byte, in segments
        // that fit.
        let mut w = Wire { room: 256, ..Wire::default() };
        b.flush_delivered(5 * MS, &mut w);
        assert!(!w.packets.is_empty());
        let first = receive(&flight[0]).1.seq;
        assert_eq!(receive(&w.packets[0].1).1.seq, first);
        assert!(w.packets.iter().all(|(_, p)| p.len() <= 1400), "every resent packet fits the path");
        assert_eq!(b.stats().tcp.pmtu_lowered, 1);

        // A larger MTU never raises it; a smaller one than the floor stops
        // at 576.
        assert_eq!(b.icmp_error(6 * MS, &frag_needed(&flight[1], 1450)), IcmpOutcome::Delivered);
        assert_eq!(mss_of(&b, &tuple), 1348);
        assert_eq!(b.icmp_error(6 * MS, &frag_needed(&flight[1], 300)), IcmpOutcome::PmtuLowered);
        assert_eq!(mss_of(&b, &tuple), 576 - 40 - 12);
    }

    #[test]
    fn frag_needed_without_a_next_hop_mtu_takes_the_plateau_below() {
        let (_a, mut b, tuple, flight) = open("10.0.0.1", "10.0.0.2");
        // A 1500-byte packet from a pre-RFC 1191 router: 1492.
        let e = frag_needed(&flight[0], 0);
        assert_eq!(e.path_mss(), Some(1492 - 40));
        assert_eq!(b.icmp_error(5 * MS, &e), IcmpOutcome::PmtuLowered);
        assert_eq!(mss_of(&b, &tuple), 1492 - 40 - 12);
    }

    #[test]
    fn packet_too_big_lowers_the_mss_of_an_ip6_session() {
        let (_a, mut b, tuple, flight) = open("fd00::1", "fd00::2");
        assert_eq!(mss_of(&b, &tuple), 1448);
        let e = too_big(&flight[0], 1400);
        assert_eq!(e.tuple, tuple);
        assert_eq!(b.icmp_error(5 * MS, &e), IcmpOutcome::PmtuLowered);
        assert_eq!(mss_of(&b, &tuple), 1400 - 60 - 12);
        // Below IPv6's minimum MTU: 1280.
        assert_eq!(b.icmp_error(5 * MS, &too_big(&flight[0], 1000)), IcmpOutcome::PmtuLowered);
        assert_eq!(mss_of(&b, &tuple), 1280 - 60 - 12);
    }

    #[test]
    fn a_quoted_sequence_number_not_in_flight_changes_nothing() {
        let (_a, mut b, tuple, flight) = open("10.0.0.1", "10.0.0.2");
        // The same segment with its sequence number moved past what was
        // sent, and before what the peer acknowledged.
        for delta in [1_000_000u32, 0u32.wrapping_sub(1_000_000), 0u32.wrapping_sub(1)] {
            let mut pkt = flight[0].clone();
            let seq = u32::from_be_bytes(pkt[24..28].try_into().unwrap()).wrapping_add(delta);
            pkt[24..28].copy_from_slice(&seq.to_be_bytes());
            assert_eq!(b.icmp_error(5 * MS, &frag_needed(&pkt, 600)), IcmpOutcome::OutOfWindow, "{delta}");
        }
        assert_eq!(mss_of(&b, &tuple), 1448);
        let mut w = Wire { room: 256, ..Wire::default() };
        b.flush_delivered(5 * MS, &mut w);
        assert!(w.packets.is_empty(), "nothing resent");
        // Another flow, or a datagram: not ours to act on.
        let mut pkt = flight[0].clone();
        pkt[20..22].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(b.icmp_error(5 * MS, &frag_needed(&pkt, 600)), IcmpOutcome::NoSession);
        pkt[9] = 17;
        assert_eq!(b.icmp_error(5 * MS, &frag_needed(&pkt, 600)), IcmpOutcome::NotTcp);
        // A soft error reaches the session and changes nothing.
        let e = IcmpError::parse(false, &icmp_about(&flight[0], 3, 3, 0)).unwrap();
        assert_eq!(e.kind, IcmpKind::Other { ty: 3, code: 3 });
        assert_eq!(b.icmp_error(5 * MS, &e), IcmpOutcome::Delivered);
        assert_eq!(mss_of(&b, &tuple), 1448);
    }

    #[test]
    fn short_or_malformed_messages_do_not_parse() {
        let seg = {
            let t = FiveTuple::tcp("10.0.0.2:40000".parse().unwrap(), "10.0.0.1:80".parse().unwrap());
            let mut buf = vec![0u8; 100];
            let n = build_packet(&mut buf, &t, &TcpRepr::default(), (&[], &[]), 1).unwrap();
            buf.truncate(n);
            buf
        };
        let m = icmp_about(&seg, 3, 4, 1400);
        assert!(IcmpError::parse(false, &m).is_some());
        for n in 0..m.len() {
            if n < 8 + 20 + 8 {
                assert_eq!(IcmpError::parse(false, &m[..n]), None, "{n} bytes");
            }
        }
        // Echo is no error; an IPv6 header quoted in an ICMPv4 error is no
        // quote; a later fragment has no ports.
        assert_eq!(IcmpError::parse(false, &icmp_about(&seg, 8, 0, 0)), None);
        assert_eq!(IcmpError::parse(true, &m), None);
        let mut frag = m.clone();
        frag[8 + 7] = 1;
        assert_eq!(IcmpError::parse(false, &frag), None);
    }

    /// What [`transfer_over_narrow_hop`] saw.
    struct Transfer {
        /// All bytes came back, and matched.
        done: bool,
        /// ICMP errors that lowered an MSS (either direction).
        lowered: usize,
        /// The client's connection counters.
        client: crate::tcp::Stats,
        /// Simulated milliseconds it took (or the limit).
        ms: u64,
    }

    /// An echo of 200 kB between two tables through a hop whose MTU is
    /// `mtu`: a packet larger is dropped there and answered, to its
    /// sender, with an ICMP error when `icmp` (else silently: a black
    /// hole).
    fn transfer_over_narrow_hop(ip6: bool, mtu: usize, icmp: bool) -> Transfer {
        let (server, client) = if ip6 { ("fd00::1", "fd00::2") } else { ("10.0.0.1", "10.0.0.2") };
        let sip: IpAddr = server.parse().unwrap();
        let mut a = SessionTable::new(0, small_fifos());
        let mut b = SessionTable::new(0, tcp_config());
        let echo = a.attach(Box::new(EchoServer::default()));
        a.listen(echo, PROTO_TCP, SocketAddr::new(sip, 7777)).unwrap();
        let data: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
        let st = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let app = b.attach(Box::new(EchoCheck { data: data.clone(), sent: 0, got: st.clone() }));
        b.connect(0, app, client.parse().unwrap(), SocketAddr::new(sip, 7777), 1).unwrap();
        let mut now = 0;
        let end = 60_000 * MS;
        let mut q: std::collections::VecDeque<Vec<u8>> = Default::default();
        let mut lowered = 0;
        while now < end && st.lock().unwrap().len() < data.len() {
            for t in [&mut a, &mut b] {
                let mut w = Wire { room: 256, ..Wire::default() };
                t.poll(now, &mut w);
                q.extend(w.packets.into_iter().map(|p| p.1));
            }
            while let Some(pkt) = q.pop_front() {
                let (t, r, payload) = receive(&pkt);
                let to_a = t.local.ip() == sip;
                let mut w = Wire { room: 256, ..Wire::default() };
                if pkt.len() > mtu {
                    if icmp {
                        // The hop answers the sender.
                        let (ty, code) = if ip6 { (2, 0) } else { (3, 4) };
                        let e = IcmpError::parse(ip6, &icmp_about(&pkt, ty, code, mtu as u32)).unwrap();
                        let from = if to_a { &mut b } else { &mut a };
                        if from.icmp_error(now, &e) == IcmpOutcome::PmtuLowered {
                            lowered += 1;
                        }
                        from.flush_delivered(now, &mut w);
                        q.extend(w.packets.into_iter().map(|p| p.1));
                    }
                    continue;
                }
                let to = if to_a { &mut a } else { &mut b };
                to.tcp_input(now, t, 1, &r, &payload, &mut w);
                to.drain_events(now, &mut w);
                q.extend(w.packets.into_iter().map(|p| p.1));
            }
            now += MS;
        }
        let got = st.lock().unwrap();
        let done = got.len() == data.len();
        assert!(!done || *got == data, "echoed bytes differ");
        Transfer { done, lowered, client: b.stats().tcp, ms: now / MS }
    }

    /// The client's settings: small fifos, few retries (a black hole
    /// gives up within the simulated time).
    fn tcp_config() -> crate::tcp::Config {
        crate::tcp::Config { max_retries: 6, ..small_fifos() }
    }

    /// Writes `data`, collects what comes back into `got`.
    struct EchoCheck {
        data: Vec<u8>,
        sent: usize,
        got: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl App for EchoCheck {
        fn name(&self) -> &str {
            "echo-check"
        }
        fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
            while self.sent < self.data.len() {
                let n = s.write(&self.data[self.sent..]);
                if n == 0 {
                    break;
                }
                self.sent += n;
            }
            let mut buf = [0u8; 4096];
            if matches!(ev, AppEvent::Rx | AppEvent::Connected | AppEvent::TxSpace) {
                loop {
                    let n = s.read(&mut buf);
                    if n == 0 {
                        break;
                    }
                    self.got.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    #[test]
    fn a_transfer_over_a_narrower_hop_completes_only_with_pmtud() {
        for ip6 in [false, true] {
            let mtu = if ip6 { 1300 } else { 1200 };
            let t = transfer_over_narrow_hop(ip6, mtu, true);
            assert!(t.done, "ip6 {ip6}: the echo completed by {} ms", t.ms);
            assert_eq!(t.lowered, 2, "ip6 {ip6}: each side's MSS fell once");
            assert_eq!(t.client.pmtu_lowered, 1);
            assert_eq!(t.client.rto_expiries, 0, "ip6 {ip6}: the flight went again at once, not after an RTO");
            let t = transfer_over_narrow_hop(ip6, mtu, false);
            assert!(!t.done, "ip6 {ip6}: without the ICMP errors the transfer stalls");
            assert!(t.client.rto_expiries > 5, "ip6 {ip6}: resent at the same size until it gave up");
        }
    }
}
