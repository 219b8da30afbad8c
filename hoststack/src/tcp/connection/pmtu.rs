//! Path MTU discovery's input (RFC 1191, RFC 8201): an ICMP
//! "fragmentation needed" / "packet too big" quoting one of our segments
//! lowers the MSS we send with. The caller (the session layer) turns the
//! reported MTU into an MSS with its floors; here the quoted sequence
//! number is checked against what is in flight (RFC 5927 §7.2) and the
//! segments in flight, lost at the narrow hop, are sent again at the new
//! size at once, as Linux's `tcp_simple_retransmit` does: no congestion
//! response (a too-small MTU is no sign of congestion), no RTO wait.

use super::{Connection, State};
use crate::tcp::seq::Seq;

/// What [`Connection::handle_packet_too_big`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmtuOutcome {
    /// The MSS went down; what was in flight goes again at the new size.
    Lowered,
    /// The message asks for no smaller segments than we send now
    /// (increases are ignored: RFC 1191 §6, RFC 8201 §4).
    NotLower,
    /// The quoted sequence number is not in flight: a stale or forged
    /// message (RFC 5927 §7.2), ignored.
    OutOfWindow,
    /// Not in a state that sends data (a handshake, TIME-WAIT, closed).
    NoData,
}

impl Connection {
    /// An ICMP "fragmentation needed" (IPv4) or "packet too big" (IPv6)
    /// quoting our segment that started at `seq`: the path takes segments
    /// of at most `mss` payload bytes with a bare TCP header (the MTU less
    /// the IP and TCP headers; option bytes come off it here, as they come
    /// off the peer's MSS). Only a message quoting a sequence number in
    /// flight (`snd_una <= seq < snd_max`) counts; then the send MSS falls
    /// to it (never rises), and everything in flight is sent again from
    /// `snd_una` in segments of the new size (the go-back-N an RTO would
    /// do, without its congestion response; ranges the peer SACKed are
    /// skipped, and the duplicate ACKs the resend causes start no fast
    /// retransmit).
    pub fn handle_packet_too_big(&mut self, now: u64, seq: Seq, mss: u32) -> PmtuOutcome {
        if !matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck
        ) {
            return PmtuOutcome::NoData;
        }
        if !(seq >= self.snd_una && seq < self.snd_max) {
            return PmtuOutcome::OutOfWindow;
        }
        let ts_len = if self.ts_enabled { 12 } else { 0 };
        let new = mss.saturating_sub(ts_len).max(32);
        if new >= self.send_mss {
            return PmtuOutcome::NotLower;
        }
        self.send_mss = new;
        self.stats.pmtu_lowered += 1;
        // The larger segments in flight died at the narrow hop: send again
        // from snd_una (the segment builder takes the new MSS).
        self.recover = self.snd_max;
        self.snd_nxt = self.snd_una;
        self.recovery = None;
        self.fast_rtx_pending = false;
        self.dupacks = 0;
        self.high_rxt = self.snd_una;
        self.rtt_timing = None;
        self.update_timers(now);
        PmtuOutcome::Lowered
    }
}
