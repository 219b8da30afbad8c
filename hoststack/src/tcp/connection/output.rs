//! Segment departure: headers (window, timestamps, SACK blocks), the SYN
//! and SYN-ACK, recovery retransmissions (RFC 6675 NextSeg, RFC 6582),
//! new data under the peer's and the congestion window with Nagle and
//! sender SWS avoidance, the FIN, window probes, keepalives, pure ACKs.

use super::{Connection, Recovery, State, Transmit};
use crate::tcp::congestion::CongestionControl;
use crate::tcp::sack;
use crate::tcp::seq::Seq;
use crate::tcp::wire::{Flags, TcpRepr};

impl Connection {
    pub(super) fn header(&mut self, now: u64, seq: Seq, flags: Flags) -> TcpRepr {
        let mut r = TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq,
            ack: self.rcv_nxt,
            flags: flags | Flags::ACK,
            ..TcpRepr::default()
        };
        let wnd = self.advertisable_window();
        r.window = (wnd >> self.rcv_wscale).min(0xffff) as u16;
        let right = self.rcv_nxt + wnd;
        if right > self.rcv_adv {
            self.rcv_adv = right;
        }
        if self.ts_enabled {
            r.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if self.sack_enabled && !self.rx.ooo_segments().is_empty() {
            r.sack = sack::rx_blocks(self.rcv_nxt, self.rx.ooo_segments(), self.last_ooo);
        }
        self.ack_now = false;
        self.delack_at = None;
        self.segs_unacked = 0;
        self.last_ack_sent = self.rcv_nxt;
        r
    }

    pub(super) fn syn_repr(&mut self, now: u64) -> TcpRepr {
        let mut r = TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: self.iss,
            flags: Flags::SYN,
            window: self.rx.free().min(0xffff) as u16,
            mss: Some(self.cfg.mss),
            ..TcpRepr::default()
        };
        if self.state == State::SynSent {
            if self.cfg.window_scaling {
                r.wscale = Some(self.rcv_wscale);
            }
            r.sack_permitted = self.cfg.sack;
            if self.cfg.timestamps {
                r.timestamp = Some((self.ts_now(now), 0));
            }
        } else {
            r.flags = Flags::SYN | Flags::ACK;
            r.ack = self.rcv_nxt;
            if self.wscale_ok {
                // Answered only when the peer offered it.
                r.wscale = Some(self.rcv_wscale);
            }
            r.sack_permitted = self.sack_enabled;
            if self.ts_enabled {
                r.timestamp = Some((self.ts_now(now), self.ts_recent));
            }
            self.rcv_adv = self.rcv_nxt + r.window as u32;
            self.last_ack_sent = self.rcv_nxt;
        }
        r
    }

    pub(super) fn transmit(&mut self, repr: TcpRepr, seq: Seq, len: u32) -> Transmit {
        self.stats.segs_out += 1;
        Transmit { repr, payload_offset: seq.since(self.tx_base), payload_len: len, gso_size: 0 }
    }

    /// The next segment to send, if any. Call until `None` after every
    /// input; each call may change timers (see [`Connection::poll_timeout`]).
    pub fn poll_transmit(&mut self, now: u64) -> Option<Transmit> {
        if let Some(rst) = self.pending_rst.take() {
            self.stats.segs_out += 1;
            return Some(Transmit { repr: rst, payload_offset: 0, payload_len: 0, gso_size: 0 });
        }
        let t = self.next_segment(now);
        if t.is_some() {
            self.update_timers(now);
        }
        t
    }

    pub(super) fn next_segment(&mut self, now: u64) -> Option<Transmit> {
        match self.state {
            State::Closed => return None,
            State::SynSent | State::SynReceived if self.syn_pending => {
                self.syn_pending = false;
                let r = self.syn_repr(now);
                if self.rtt_timing.is_none() && self.retries == 0 {
                    self.rtt_timing = Some((self.iss, now));
                }
                self.snd_nxt = self.iss + 1;
                self.snd_max = self.iss + 1;
                self.rto_at = Some(now + self.rtt.rto());
                self.stats.segs_out += 1;
                return Some(Transmit { repr: r, payload_offset: 0, payload_len: 0, gso_size: 0 });
            }
            State::SynSent | State::SynReceived | State::TimeWait => return self.pure_ack(now),
            _ => {}
        }
        if let Some(t) = self.retransmit_for_recovery(now) {
            return Some(t);
        }
        if let Some(t) = self.send_data(now) {
            return Some(t);
        }
        if self.probe_pending {
            self.probe_pending = false;
            if let Some(t) = self.window_probe(now) {
                return Some(t);
            }
        }
        if self.keepalive_pending {
            self.keepalive_pending = false;
            let r = self.header(now, self.snd_una - 1, Flags::default());
            return Some(self.transmit(r, self.tx_base, 0));
        }
        self.pure_ack(now)
    }

    pub(super) fn pure_ack(&mut self, now: u64) -> Option<Transmit> {
        if !(self.ack_now || self.acks_owed > 0) || self.state == State::SynSent {
            return None;
        }
        self.acks_owed = self.acks_owed.saturating_sub(1);
        // snd_max, not snd_nxt: after an RTO rewinds snd_nxt, the peer may
        // already hold bytes past it and would find an older sequence
        // number outside its window (and ignore the ACK).
        let r = self.header(now, self.snd_max, Flags::default());
        Some(self.transmit(r, self.tx_base, 0))
    }

    /// Option bytes the SACK blocks of our next header take (0 without
    /// out-of-order data). `send_mss` counts timestamps but no SACK.
    fn sack_option_len(&self) -> u32 {
        if !self.sack_enabled || self.rx.ooo_segments().is_empty() {
            return 0;
        }
        let mut r = TcpRepr { timestamp: self.ts_enabled.then_some((0, 0)), ..TcpRepr::default() };
        let without = r.header_len();
        r.sack = sack::rx_blocks(self.rcv_nxt, self.rx.ooo_segments(), self.last_ooo);
        (r.header_len() - without) as u32
    }

    pub(super) fn segment(&mut self, now: u64, seq: Seq, max_len: u32, retransmit: bool) -> Transmit {
        let end = self.data_end();
        // RFC 6691: SACK blocks riding on a data segment take their room
        // from the payload, or the packet outgrows the MTU.
        let mss = self.send_mss.saturating_sub(self.sack_option_len()).max(1);
        // With segmentation offload, new data goes as whole segments of
        // `mss` in one super-segment.
        let cap = if retransmit { mss } else { (self.tso_max / mss * mss).max(mss) };
        let len = max_len.min(cap).min(end.since(seq));
        let mut flags = Flags::default();
        if len > 0 && seq + len == end {
            flags = flags | Flags::PSH;
        }
        if self.fin_queued && seq + len == end {
            flags = flags | Flags::FIN;
        }
        let r = self.header(now, seq, flags);
        let occupied = len + flags.fin() as u32;
        let seg_end = seq + occupied;
        if retransmit || seq < self.snd_max {
            self.stats.retransmits += 1;
            self.stats.bytes_retransmitted += len as u64;
            if self.rtt_timing.is_some_and(|(s, _)| s.in_range(seq, seg_end)) {
                self.rtt_timing = None; // Karn
            }
        } else if self.rtt_timing.is_none() && occupied > 0 {
            self.rtt_timing = Some((seq, now));
        }
        if !retransmit {
            self.snd_nxt = self.snd_nxt.max(seg_end);
        }
        self.snd_max = self.snd_max.max(seg_end);
        let mut t = self.transmit(r, seq, len);
        if len > mss {
            t.gso_size = mss;
            // It stands for that many segments on the wire.
            self.stats.segs_out += (len.div_ceil(mss) - 1) as u64;
        }
        t
    }

    pub(super) fn retransmit_for_recovery(&mut self, now: u64) -> Option<Transmit> {
        let recovery = self.recovery?;
        let mss = self.send_mss;
        match recovery {
            Recovery::NewReno { .. } => {
                if !self.fast_rtx_pending {
                    return None;
                }
                self.fast_rtx_pending = false;
                Some(self.segment(now, self.snd_una, mss, true))
            }
            Recovery::Sack { .. } => {
                let pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, mss);
                if !self.fast_rtx_pending && self.cc.cwnd() < pipe + mss {
                    return None;
                }
                // NextSeg() rule 1: the first lost hole above HighRxt.
                let lost = self.scoreboard.lost_below(mss).unwrap_or(self.snd_una);
                let from = self.high_rxt.max(self.snd_una);
                let hole = self.scoreboard.next_hole(from, lost.min(self.snd_max)).or_else(|| {
                    // The first retransmission goes out even if the
                    // scoreboard does not yet call it lost (3 dupacks).
                    if self.fast_rtx_pending {
                        self.scoreboard.next_hole(self.snd_una, self.snd_max)
                    } else {
                        None
                    }
                });
                self.fast_rtx_pending = false;
                let (a, b) = hole?;
                let t = self.segment(now, a, mss.min(b.since(a)).max(1), true);
                self.high_rxt = self.high_rxt.max(a + t.payload_len.max(1));
                Some(t)
            }
        }
    }

    pub(super) fn send_data(&mut self, now: u64) -> Option<Transmit> {
        if !matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck
        ) {
            return None;
        }
        let mss = self.send_mss;
        let end = self.data_end();
        let fin_end = end + self.fin_queued as u32;
        let mut seq = self.snd_nxt.max(self.snd_una);
        // After an RTO, skip ranges the peer SACKed.
        while seq < self.snd_max {
            match self.scoreboard.sacked_at(seq) {
                Some((_, r)) => seq = r,
                None => break,
            }
        }
        if seq != self.snd_nxt && seq > self.snd_nxt {
            self.snd_nxt = seq;
        }
        if seq >= fin_end {
            return None;
        }
        // Usable window: the peer's window and the congestion window.
        let wnd_limit = self.snd_una + self.snd_wnd;
        let cwnd = self.cc.cwnd();
        let cwnd_room = match self.recovery {
            Some(Recovery::Sack { .. }) => {
                let pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, self.high_rxt, mss);
                cwnd.saturating_sub(pipe)
            }
            _ => cwnd.saturating_sub(self.snd_nxt.since(self.snd_una)),
        };
        let avail = end.since(seq);
        let mut len = avail.min(mss.max(self.tso_max)).min(wnd_limit.since(seq)).min(cwnd_room);
        // Don't send into a SACKed range (retransmitting after an RTO).
        if let Some((l, _)) = self.scoreboard.next_sacked_after(seq) {
            if l < self.snd_max {
                len = len.min(l.since(seq));
            }
        }
        if len == 0 {
            // A bare FIN needs no window.
            if avail == 0 && self.fin_queued && seq == end && cwnd_room > 0 {
                return Some(self.segment(now, seq, 0, false));
            }
            return None;
        }
        // Nagle (RFC 896) and sender-side SWS avoidance: hold a small
        // segment while data is unacknowledged, unless it is all we have
        // and Nagle is off, or a FIN follows it.
        let new_data = seq >= self.snd_max;
        if len < mss && new_data && !(self.fin_queued && len == avail) {
            let unacked = self.snd_max > self.snd_una;
            let window_limited = len < avail && len < self.max_snd_wnd / 2;
            if unacked && (self.cfg.nagle || window_limited) {
                return None;
            }
        }
        Some(self.segment(now, seq, len, false))
    }

    pub(super) fn window_probe(&mut self, now: u64) -> Option<Transmit> {
        if !self.in_persist() {
            return None;
        }
        self.stats.window_probes += 1;
        // One byte beyond the window (RFC 9293 §3.8.6.1): the first
        // unacked byte, new or already sent.
        let seq = self.snd_una;
        let r = self.header(now, seq, Flags::default());
        self.snd_max = self.snd_max.max(seq + 1);
        self.snd_nxt = self.snd_nxt.max(seq + 1);
        Some(self.transmit(r, seq, 1))
    }
}
