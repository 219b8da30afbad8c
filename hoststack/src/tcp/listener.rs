//! The passive side before a connection exists: a listener answers SYNs,
//! keeps a bounded queue of half-open handshakes (a small record each, no
//! fifos) and, once the queue is full, answers with SYN cookies instead so a
//! SYN flood costs no memory at all. The final ACK of a handshake — from the
//! queue or carrying a valid cookie — yields an ESTABLISHED
//! [`Connection`] for the session layer to adopt.
//!
//! Like [`Connection`] it does no I/O: [`Listener::on_segment`] returns
//! what to do, [`Listener::poll_transmit`] / [`Listener::poll_timeout`]
//! drive SYN-ACK retransmission. `K` is the caller's key for the remote end
//! (the 4-tuple, say).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use super::connection::{rst_for, Config, Connection};
use super::seq::Seq;
use super::wire::TcpRepr;

/// Cookie time slot (64 s); a cookie is honoured in its slot and the next.
const COOKIE_PERIOD_NS: u64 = 64_000_000_000;
/// MSS values a cookie can carry (3 bits).
const COOKIE_MSS: [u16; 8] = [536, 1200, 1360, 1400, 1440, 1460, 4312, 8960];

/// What the caller does after [`Listener::on_segment`].
#[derive(Debug)]
pub enum ListenAction {
    /// Nothing to send.
    None,
    /// Send this segment (SYN-ACK or RST) to the segment's sender.
    Reply(TcpRepr),
    /// The handshake completed: adopt this connection (it holds an
    /// [`super::Event::Accepted`] and whatever the ACK carried).
    Accept(Box<Connection>),
}

/// Listener counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// SYNs received.
    pub syns: u64,
    /// SYN cookies sent (queue full).
    pub cookies_sent: u64,
    /// Connections completed from a cookie.
    pub cookies_accepted: u64,
    /// Handshakes completed from the queue.
    pub accepted: u64,
    /// SYN-ACKs retransmitted for queued handshakes.
    pub synack_retransmits: u64,
    /// Half-open entries dropped after their last SYN-ACK retransmission.
    pub expired: u64,
    /// RSTs sent for ACKs matching nothing.
    pub resets: u64,
}

#[derive(Debug, Clone)]
struct HalfOpen {
    syn: TcpRepr,
    iss: Seq,
    /// The MSS we offered (the route's, at most the configured one).
    mss: u16,
    first_sent: u64,
    next_rtx: u64,
    retries: u32,
}

/// A listening port with its half-open queue.
#[derive(Debug)]
pub struct Listener<K> {
    cfg: Config,
    max_half_open: usize,
    half_open: HashMap<K, HalfOpen>,
    secret: RandomState,
    stats: ListenerStats,
}

impl<K: Hash + Eq + Clone> Listener<K> {
    /// A listener making connections with `cfg`, holding at most
    /// `max_half_open` handshakes in its queue.
    pub fn new(cfg: Config, max_half_open: usize) -> Self {
        Listener {
            cfg,
            max_half_open,
            half_open: HashMap::new(),
            secret: RandomState::new(),
            stats: ListenerStats::default(),
        }
    }

    /// Half-open handshakes queued.
    pub fn half_open_len(&self) -> usize {
        self.half_open.len()
    }

    /// Whether a handshake from `key` is queued.
    pub fn holds(&self, key: &K) -> bool {
        self.half_open.contains_key(key)
    }

    /// Counters.
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }

    fn cookie_hash(&self, key: &K, peer_isn: Seq, slot: u64, mss_idx: u32) -> u32 {
        let mut h = self.secret.build_hasher();
        key.hash(&mut h);
        peer_isn.0.hash(&mut h);
        slot.hash(&mut h);
        mss_idx.hash(&mut h);
        h.finish() as u32 & 0x00ff_ffff
    }

    /// The connection settings with the MSS capped at `mss`.
    fn cfg_with_mss(&self, mss: u16) -> Config {
        Config { mss: self.cfg.mss.min(mss).max(64), ..self.cfg.clone() }
    }

    /// Cookie layout: slot (5 bits) | MSS index (3 bits) | keyed hash (24).
    fn make_cookie(&self, now: u64, key: &K, syn: &TcpRepr, mss: u16) -> Seq {
        let want = syn.mss.unwrap_or(536).min(mss);
        let idx = COOKIE_MSS.iter().rposition(|&m| m <= want).unwrap_or(0) as u32;
        let slot = now / COOKIE_PERIOD_NS;
        Seq(((slot as u32 & 0x1f) << 27) | (idx << 24) | self.cookie_hash(key, syn.seq, slot, idx))
    }

    /// The MSS a valid cookie carries.
    fn check_cookie(&self, now: u64, key: &K, peer_isn: Seq, cookie: Seq) -> Option<u16> {
        let c = cookie.0;
        let idx = (c >> 24) & 7;
        let slot_now = now / COOKIE_PERIOD_NS;
        for slot in [slot_now, slot_now.wrapping_sub(1)] {
            if (slot as u32 & 0x1f) == c >> 27 && self.cookie_hash(key, peer_isn, slot, idx) == c & 0x00ff_ffff {
                return Some(COOKIE_MSS[idx as usize]);
            }
        }
        None
    }

    /// Handles a segment addressed to the listening port from `key`.
    /// `iss` is the caller's unpredictable initial sequence number for a new
    /// handshake (unused otherwise).
    pub fn on_segment(&mut self, now: u64, key: K, seg: &TcpRepr, payload: &[u8], iss: Seq) -> ListenAction {
        self.on_segment_mss(now, key, seg, payload, iss, self.cfg.mss)
    }

    /// [`Listener::on_segment`] for a peer whose route allows segments of
    /// at most `mss` payload bytes (the egress MTU less the headers): the
    /// MSS offered and used is the smaller of it and the configured one.
    pub fn on_segment_mss(
        &mut self,
        now: u64,
        key: K,
        seg: &TcpRepr,
        payload: &[u8],
        iss: Seq,
        mss: u16,
    ) -> ListenAction {
        let f = seg.flags;
        let cfg = self.cfg_with_mss(mss);
        if f.rst() {
            if self.half_open.get(&key).is_some_and(|h| seg.seq == h.syn.seq + 1) {
                self.half_open.remove(&key);
            }
            return ListenAction::None;
        }
        if f.syn() && !f.ack() {
            self.stats.syns += 1;
            if let Some(h) = self.half_open.get(&key) {
                // A retransmitted SYN: answer again with the same SYN-ACK.
                if h.syn.seq == seg.seq {
                    let cfg = self.cfg_with_mss(h.mss);
                    return ListenAction::Reply(Connection::syn_ack_for(&cfg, now, &h.syn, h.iss));
                }
                self.half_open.remove(&key);
            }
            if self.half_open.len() < self.max_half_open {
                let rto = self.cfg.rto_initial;
                self.half_open.insert(
                    key,
                    HalfOpen { syn: *seg, iss, mss: cfg.mss, first_sent: now, next_rtx: now + rto, retries: 0 },
                );
                return ListenAction::Reply(Connection::syn_ack_for(&cfg, now, seg, iss));
            }
            // Queue full: a SYN cookie, no state kept.
            self.stats.cookies_sent += 1;
            let cookie = self.make_cookie(now, &key, seg, cfg.mss);
            let mut syn = *seg;
            syn.mss = Some(COOKIE_MSS[((cookie.0 >> 24) & 7) as usize]);
            syn.wscale = None;
            syn.sack_permitted = false;
            syn.timestamp = None;
            return ListenAction::Reply(Connection::syn_ack_for(&cfg, now, &syn, cookie));
        }
        if !f.ack() || f.syn() {
            return ListenAction::None;
        }
        if let Some(h) = self.half_open.get(&key) {
            // Any segment inside the window we offered completes the
            // handshake (the bare ACK may be lost or overtaken by data).
            let rcv_nxt = h.syn.seq + 1;
            let wnd = self.cfg.rx_fifo_size.clamp(1, 0xffff);
            if !seg.seq.in_range(rcv_nxt, rcv_nxt + wnd) {
                return ListenAction::None;
            }
            if seg.ack == h.iss + 1 {
                let h = self.half_open.remove(&key).expect("present");
                if let Ok(mut c) = Connection::accept(self.cfg_with_mss(h.mss), now, &h.syn, h.iss) {
                    c.syn_ack_sent(h.first_sent, h.retries == 0);
                    c.handle_segment(now, seg, payload);
                    self.stats.accepted += 1;
                    return ListenAction::Accept(Box::new(c));
                }
                return ListenAction::None;
            }
        } else if let Some(mss) = self.check_cookie(now, &key, seg.seq - 1, seg.ack - 1) {
            if let Ok(mut c) = Connection::from_cookie(cfg, seg, seg.ack - 1, mss) {
                c.handle_segment(now, seg, payload);
                self.stats.cookies_accepted += 1;
                return ListenAction::Accept(Box::new(c));
            }
            return ListenAction::None;
        }
        self.stats.resets += 1;
        rst_for(seg, payload.len()).map_or(ListenAction::None, ListenAction::Reply)
    }

    /// The next SYN-ACK retransmission due at `now`, with its destination.
    pub fn poll_transmit(&mut self, now: u64) -> Option<(K, TcpRepr)> {
        loop {
            let key = self.half_open.iter().find(|(_, h)| h.next_rtx <= now).map(|(k, _)| k.clone())?;
            let h = self.half_open.get_mut(&key)?;
            if h.retries >= self.cfg.syn_retries {
                self.half_open.remove(&key);
                self.stats.expired += 1;
                continue;
            }
            h.retries += 1;
            self.stats.synack_retransmits += 1;
            let backoff = self.cfg.rto_initial.saturating_mul(1 << h.retries.min(16)).min(self.cfg.rto_max);
            h.next_rtx = now + backoff;
            let mss = h.mss;
            let (syn, iss) = (h.syn, h.iss);
            let r = Connection::syn_ack_for(&self.cfg_with_mss(mss), now, &syn, iss);
            return Some((key, r));
        }
    }

    /// When [`Listener::poll_transmit`] next has something to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.half_open.values().map(|h| h.next_rtx).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::wire::Flags;

    fn syn(port: u16, isn: u32, mss: u16) -> TcpRepr {
        TcpRepr { src_port: port, dst_port: 80, seq: Seq(isn), flags: Flags::SYN, mss: Some(mss), ..TcpRepr::default() }
    }

    #[test]
    fn cookies_carry_the_mss_and_expire_after_two_slots() {
        let l: Listener<u16> = Listener::new(Config::default(), 0);
        let t = 5 * COOKIE_PERIOD_NS + 7;
        let s = syn(1234, 99, 1400);
        let c = l.make_cookie(t, &1234, &s, 1460);
        assert_eq!(l.check_cookie(t, &1234, Seq(99), c), Some(1400));
        assert_eq!(l.check_cookie(t + COOKIE_PERIOD_NS, &1234, Seq(99), c), Some(1400), "next slot");
        assert_eq!(l.check_cookie(t + 2 * COOKIE_PERIOD_NS, &1234, Seq(99), c), None, "too old");
        assert_eq!(l.check_cookie(t, &1235, Seq(99), c), None, "another peer");
        assert_eq!(l.check_cookie(t, &1234, Seq(100), c), None, "another ISN");
        assert_eq!(l.check_cookie(t, &1234, Seq(99), c + 1), None);
        // MSS rounds down to the table; our own MSS caps it.
        let c = l.make_cookie(t, &1, &syn(1, 5, 9000), 1460);
        assert_eq!(l.check_cookie(t, &1, Seq(5), c), Some(1460));
        let c = l.make_cookie(t, &1, &syn(1, 5, 9000), 1400);
        assert_eq!(l.check_cookie(t, &1, Seq(5), c), Some(1400), "the route's MSS caps it too");
        let c = l.make_cookie(t, &1, &syn(1, 5, 100), 1460);
        assert_eq!(l.check_cookie(t, &1, Seq(5), c), Some(536));
    }

    #[test]
    fn rst_clears_a_half_open_entry_and_stray_acks_get_rst() {
        let mut l: Listener<u16> = Listener::new(Config::default(), 4);
        assert!(matches!(l.on_segment(0, 7, &syn(7, 1000, 1460), &[], Seq(50)), ListenAction::Reply(_)));
        assert_eq!(l.half_open_len(), 1);
        let rst = TcpRepr { src_port: 7, dst_port: 80, seq: Seq(1001), flags: Flags::RST, ..TcpRepr::default() };
        assert!(matches!(l.on_segment(1, 7, &rst, &[], Seq(0)), ListenAction::None));
        assert_eq!(l.half_open_len(), 0);
        // An ACK for a queued handshake with the wrong ack number: RST.
        l.on_segment(2, 8, &syn(8, 2000, 1460), &[], Seq(70));
        let bad = TcpRepr {
            src_port: 8,
            dst_port: 80,
            seq: Seq(2001),
            ack: Seq(99),
            flags: Flags::ACK,
            ..TcpRepr::default()
        };
        match l.on_segment(3, 8, &bad, &[], Seq(0)) {
            ListenAction::Reply(r) => assert_eq!((r.flags, r.seq), (Flags::RST, Seq(99))),
            other => panic!("{other:?}"),
        }
        // The right one completes it.
        let good = TcpRepr { ack: Seq(71), window: 1000, ..bad };
        match l.on_segment(4, 8, &good, &[], Seq(0)) {
            ListenAction::Accept(c) => assert_eq!(c.state(), super::super::State::Established),
            other => panic!("{other:?}"),
        }
        assert_eq!(l.half_open_len(), 0);
    }
}
