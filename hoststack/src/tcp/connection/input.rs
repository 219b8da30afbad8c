//! Segment arrival: the SYN-SENT handshake, acceptability and RFC 5961
//! checks, PAWS, ACK processing with duplicate-ACK counting and loss
//! recovery entry, in-order and out-of-order data into the rx fifo, FIN.

use super::{rst_for, Connection, Event, Recovery, State, MAX_ACKS_OWED, MS};
use crate::fifo::Gather;
use crate::tcp::congestion::CongestionControl;
use crate::tcp::sack;
use crate::tcp::seq::Seq;
use crate::tcp::wire::TcpRepr;

impl Connection {
    /// Processes one received segment (already checksum-verified and
    /// parsed) with its payload.
    pub fn handle_segment(&mut self, now: u64, seg: &TcpRepr, payload: &[u8]) {
        self.handle_segment_gather(now, seg, Gather::new(std::slice::from_ref(&payload)));
    }

    /// [`Connection::handle_segment`] with the payload in pieces (the
    /// buffers of a chained packet), copied into the rx fifo from there.
    pub fn handle_segment_gather(&mut self, now: u64, seg: &TcpRepr, payload: Gather<'_>) {
        self.stats.segs_in += 1;
        match self.state {
            State::Closed => {}
            State::SynSent => self.handle_syn_sent(now, seg),
            _ => self.handle_synchronized(now, seg, payload),
        }
        self.update_timers(now);
    }

    pub(super) fn handle_syn_sent(&mut self, now: u64, seg: &TcpRepr) {
        let f = seg.flags;
        if f.ack() && !(seg.ack > self.iss && seg.ack <= self.snd_max) {
            if !f.rst() {
                self.pending_rst = rst_for(seg, 0);
            }
            return;
        }
        if f.rst() {
            if f.ack() {
                self.push_event(Event::Reset);
                self.set_closed();
            }
            return;
        }
        if !f.syn() {
            return;
        }
        self.take_syn_options(seg);
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.snd_wnd = seg.window as u32;
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        self.ack_now = true;
        if f.ack() {
            self.rtt_sample_for_ack(now, seg);
            self.snd_una = seg.ack;
            self.retries = 0;
            self.rto_at = None;
            // A SYN retransmission may have been due; the handshake is done.
            self.syn_pending = false;
            self.snd_nxt = self.snd_nxt.max(self.snd_una);
            self.state = if self.fin_queued { State::FinWait1 } else { State::Established };
            self.push_event(Event::Connected);
        } else {
            // Simultaneous open (RFC 9293 §3.5): SYN-ACK from SYN-RECEIVED.
            self.state = State::SynReceived;
            self.syn_pending = true;
            self.snd_nxt = self.iss;
        }
    }

    pub(super) fn rtt_sample_for_ack(&mut self, now: u64, seg: &TcpRepr) {
        if let (true, Some((_, ecr))) = (self.ts_enabled, seg.timestamp) {
            if ecr != 0 {
                let ms = self.ts_now(now).wrapping_sub(ecr);
                if ms < 60_000 {
                    self.rtt.sample((ms as u64 * MS).max(MS / 4));
                    self.rtt_timing = None;
                    return;
                }
            }
        }
        if let Some((s, t)) = self.rtt_timing {
            if seg.ack > s {
                self.rtt.sample(now.saturating_sub(t));
                self.rtt_timing = None;
            }
        }
    }

    pub(super) fn advertisable_window(&self) -> u32 {
        let w = self.rx.free();
        w.min(0xffff << self.rcv_wscale) >> self.rcv_wscale << self.rcv_wscale
    }

    pub(super) fn challenge_ack(&mut self, now: u64) {
        let (start, n) = self.challenge_window;
        if now.saturating_sub(start) >= 1000 * MS {
            self.challenge_window = (now, 1);
        } else if n < self.cfg.challenge_ack_limit {
            self.challenge_window.1 += 1;
        } else {
            return;
        }
        self.stats.challenge_acks += 1;
        self.ack_now = true;
    }

    pub(super) fn handle_synchronized(&mut self, now: u64, seg: &TcpRepr, payload: Gather<'_>) {
        let f = seg.flags;
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
        if self.state == State::SynReceived && f.syn() && !f.ack() && !f.rst() && seg.seq == self.irs {
            self.syn_pending = true;
            self.snd_nxt = self.iss;
            return;
        }
        // PAWS (RFC 7323 §5.3).
        if let (true, Some((tsval, _)), false) = (self.ts_enabled, seg.timestamp, f.rst()) {
            if (tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                self.stats.paws_drops += 1;
                self.ack_now = true;
                return;
            }
        }
        // Acceptability (RFC 9293 §3.10.7.4, first check).
        let seg_len = seg.seq_len(payload.len());
        let wnd = self.rcv_adv.since(self.rcv_nxt).max(self.advertisable_window());
        let win_end = self.rcv_nxt + wnd;
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => seg.seq.in_range(self.rcv_nxt, win_end),
            (_, 0) => seg.seq == self.rcv_nxt && !f.syn() && !f.fin() && payload.is_empty(),
            (_, _) => {
                seg.seq.in_range(self.rcv_nxt, win_end) || (seg.seq + seg_len - 1).in_range(self.rcv_nxt, win_end)
            }
        };
        // A zero window still takes ACKs (and probes are answered with one).
        let zero_window_probe = wnd == 0 && seg.seq == self.rcv_nxt;
        if !acceptable && !zero_window_probe {
            self.stats.out_of_window += 1;
            if !f.rst() {
                self.ack_now = true;
                if self.state == State::TimeWait && f.fin() {
                    self.time_wait_at = Some(now + self.cfg.time_wait);
                }
            }
            return;
        }
        // RST (RFC 5961 §3): exact match resets, anything else in window
        // earns a challenge ACK.
        if f.rst() {
            if seg.seq == self.rcv_nxt {
                if self.state != State::TimeWait {
                    self.push_event(Event::Reset);
                }
                self.set_closed();
            } else {
                self.challenge_ack(now);
            }
            return;
        }
        // SYN in a synchronized state (RFC 5961 §4): challenge ACK.
        if f.syn() {
            self.challenge_ack(now);
            return;
        }
        if !f.ack() {
            return;
        }
        if self.state == State::SynReceived {
            if seg.ack > self.snd_una && seg.ack <= self.snd_max {
                self.state = State::Established;
                self.snd_wnd = (seg.window as u32) << self.snd_wscale;
                self.max_snd_wnd = self.snd_wnd;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.rtt_sample_for_ack(now, seg);
                self.snd_una = seg.ack;
                self.retries = 0;
                self.rto_at = None;
                // A duplicate SYN may have asked for another SYN-ACK just
                // before this ACK; the handshake is done.
                self.syn_pending = false;
                self.snd_nxt = self.snd_nxt.max(self.snd_una);
                self.push_event(if self.active { Event::Connected } else { Event::Accepted });
                if self.fin_queued {
                    self.state = State::FinWait1;
                }
            } else {
                self.pending_rst = rst_for(seg, payload.len());
                return;
            }
        } else if !self.process_ack(now, seg, payload) {
            return;
        }
        // Timestamps: remember the peer's latest in-sequence TSval.
        if let (true, Some((tsval, _))) = (self.ts_enabled, seg.timestamp) {
            if seg.seq <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
            }
        }
        if self.cfg.keepalive.is_some() {
            self.keepalive_sent = 0;
            self.keepalive_at = None;
        }
        if self.state == State::Closed {
            return;
        }
        if !payload.is_empty() {
            if matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) && !self.fin_received {
                self.receive_data(now, seg.seq, payload);
            } else {
                self.ack_now = true;
            }
        }
        if f.fin() && !self.fin_received {
            self.peer_fin = Some(seg.seq + payload.len() as u32);
        }
        self.check_peer_fin(now);
    }

    /// ACK processing for synchronized states; false drops the segment.
    pub(super) fn process_ack(&mut self, now: u64, seg: &TcpRepr, payload: Gather<'_>) -> bool {
        let ack = seg.ack;
        // RFC 5961 §5: an ACK beyond what we sent, or too far behind, is
        // dropped with a challenge ACK.
        let floor = self.snd_una - self.max_snd_wnd.max(1);
        if ack > self.snd_max || ack < floor {
            self.challenge_ack(now);
            return false;
        }
        let window = (seg.window as u32) << self.snd_wscale;
        let newly_sacked = self.sack_enabled
            && !seg.sack.is_empty()
            && self.scoreboard.update(ack.max(self.snd_una), self.snd_max, seg.sack.as_slice());
        if ack > self.snd_una {
            self.on_new_ack(now, seg);
        } else if ack == self.snd_una
            && self.snd_max > self.snd_una
            // RFC 6675 §2: an ACK SACKing new data is a duplicate even when
            // it carries data or changes the window (a busy peer's ACKs
            // do both); without SACK, RFC 5681's stricter definition.
            && (newly_sacked || (payload.is_empty() && !seg.flags.fin() && window == self.snd_wnd && window != 0))
        {
            self.on_dup_ack(now);
        }
        // Window update (RFC 9293 §3.10.7.4, SND.WL1/WL2 rule).
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= ack) {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
        }
        // Our FIN acknowledged?
        let fin_acked = self.fin_queued && self.snd_una == self.data_end() + 1;
        if fin_acked {
            match self.state {
                State::FinWait1 => self.state = State::FinWait2,
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    self.set_closed();
                    return false;
                }
                _ => {}
            }
        }
        true
    }

    pub(super) fn on_new_ack(&mut self, now: u64, seg: &TcpRepr) {
        let ack = seg.ack;
        let acked = ack.since(self.snd_una);
        let data_acked = ack.min(self.data_end()).since(self.tx_base);
        self.rtt_sample_for_ack(now, seg);
        self.tx.drop_head(data_acked);
        self.tx_base += data_acked;
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        if self.high_rxt < ack {
            self.high_rxt = ack;
        }
        self.scoreboard.trim(ack);
        self.retries = 0;
        self.rto_at = None; // restarted by update_timers (RFC 6298 §5.3)
        self.dupacks = 0;
        self.probe_pending = false;
        match self.recovery {
            Some(r) if ack >= r.point() => {
                // Full ACK: leave recovery.
                let ss = self.cc.ssthresh();
                let cwnd = match r {
                    Recovery::Sack { .. } => ss,
                    Recovery::NewReno { .. } => ss.min(self.flight().max(self.send_mss) + self.send_mss),
                };
                self.cc.set_cwnd(cwnd);
                self.recovery = None;
            }
            Some(Recovery::NewReno { .. }) => {
                // Partial ACK (RFC 6582 §3.2 step 5): resend the next hole,
                // deflate by what was acked, add back one segment.
                self.fast_rtx_pending = true;
                let cwnd = self.cc.cwnd().saturating_sub(acked);
                let cwnd = if acked >= self.send_mss { cwnd + self.send_mss } else { cwnd };
                self.cc.set_cwnd(cwnd);
            }
            Some(Recovery::Sack { .. }) => {}
            None => {
                // RFC 6675: SACK information alone can reveal a loss; the
                // ACK that does so does not grow the window.
                self.maybe_enter_sack_recovery(now);
                if self.recovery.is_none() {
                    self.cc.on_ack(now, data_acked, self.rtt.srtt());
                }
            }
        }
        if self.tx_blocked && self.tx.free() > 0 {
            self.tx_blocked = false;
            self.push_event(Event::TxSpace);
        }
    }

    pub(super) fn maybe_enter_sack_recovery(&mut self, now: u64) {
        if !self.sack_enabled || self.recovery.is_some() || self.snd_una < self.recover {
            return;
        }
        let lost = self.scoreboard.lost_below(self.send_mss).is_some_and(|l| l > self.snd_una);
        if self.dupacks >= sack::DUP_THRESH || lost {
            self.stats.fast_recoveries += 1;
            self.cc.on_congestion(now, self.flight());
            self.recovery = Some(Recovery::Sack { point: self.snd_max });
            self.high_rxt = self.snd_una;
            self.fast_rtx_pending = true;
        }
    }

    pub(super) fn on_dup_ack(&mut self, now: u64) {
        self.stats.dup_acks += 1;
        self.dupacks += 1;
        if self.sack_enabled {
            self.maybe_enter_sack_recovery(now);
            return;
        }
        match self.recovery {
            None if self.dupacks == sack::DUP_THRESH && self.snd_una >= self.recover => {
                // RFC 6582 §3.2 step 2: not for duplicates of a go-back-N
                // resend after an RTO.
                self.stats.fast_recoveries += 1;
                self.cc.on_congestion(now, self.flight());
                let cwnd = self.cc.ssthresh() + 3 * self.send_mss;
                self.cc.set_cwnd(cwnd);
                self.recovery = Some(Recovery::NewReno { point: self.snd_max });
                self.fast_rtx_pending = true;
            }
            Some(Recovery::NewReno { .. }) => {
                let cwnd = self.cc.cwnd() + self.send_mss;
                self.cc.set_cwnd(cwnd);
            }
            _ => {}
        }
    }

    pub(super) fn receive_data(&mut self, now: u64, seq: Seq, payload: Gather<'_>) {
        // Trim what we already have.
        let (seq, data) = if seq < self.rcv_nxt {
            let skip = self.rcv_nxt.since(seq) as usize;
            (self.rcv_nxt, payload.skip(skip))
        } else {
            (seq, payload)
        };
        if data.is_empty() {
            self.ack_now = true;
            return;
        }
        let had_ooo = !self.rx.ooo_segments().is_empty();
        if seq == self.rcv_nxt {
            let before = self.rx.tail_pos();
            self.rx.enqueue_gather(data);
            let advanced = self.rx.tail_pos().wrapping_sub(before);
            if advanced == 0 {
                self.ack_now = true;
                return;
            }
            self.rcv_nxt += advanced;
            self.push_event(Event::Rx);
            self.segs_unacked += 1;
            if had_ooo || self.cfg.delayed_ack == 0 || self.segs_unacked >= 2 {
                self.ack_now = true;
            } else if self.delack_at.is_none() {
                self.delack_at = Some(now + self.cfg.delayed_ack);
            }
        } else {
            self.stats.ooo_segments += 1;
            let off = seq.since(self.rcv_nxt);
            if self.rx.enqueue_at_gather(off, data) > 0 {
                self.last_ooo = Some(seq);
            }
            // RFC 5681 §4.2: each out-of-order segment is acked at once.
            self.acks_owed = (self.acks_owed + 1).min(MAX_ACKS_OWED);
        }
    }

    pub(super) fn check_peer_fin(&mut self, now: u64) {
        let Some(fin) = self.peer_fin else { return };
        if self.fin_received || fin != self.rcv_nxt {
            return;
        }
        self.fin_received = true;
        self.rcv_nxt += 1;
        self.ack_now = true;
        self.push_event(Event::PeerClosed);
        match self.state {
            State::Established | State::SynReceived => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: u64) {
        self.state = State::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.time_wait_at = Some(now + self.cfg.time_wait);
    }
}
