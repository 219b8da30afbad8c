//! One TCP connection as a state machine with no I/O (STYLE.md §3).
//!
//! Inputs: [`Connection::handle_segment`] (a parsed header and its payload),
//! [`Connection::handle_timeout`], the application's [`Connection::app_write`]
//! / [`Connection::app_read`], [`Connection::close`] and [`Connection::abort`].
//! Outputs, polled until `None`: [`Connection::poll_transmit`] (a header plus
//! the tx-fifo byte range to send as payload, which the output node copies
//! straight from [`Connection::tx_fifo`]), [`Connection::poll_timeout`] (the
//! next deadline, nanoseconds on the caller's clock) and
//! [`Connection::poll_event`]. Time is a `u64` of nanoseconds from any
//! origin, always passed in; nothing here reads a clock.
//!
//! Sequence space: the SYN takes `iss`, data byte `i` of the tx fifo's
//! history takes `iss + 1 + i`, the FIN follows the last byte. The tx fifo
//! holds every byte from `snd_una` on (sent or not); ACKs drop its head.
//! The rx fifo's tail is `rcv_nxt`; out-of-order data goes straight into it
//! beyond the tail and is reported back in SACK blocks.
//!
//! This file holds the types, constructors, the application side and the
//! timers; `input.rs` what a segment does, `output.rs` what gets sent.

use std::collections::VecDeque;

use super::congestion::{CcAlgo, Congestion, CongestionControl};
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::seq::Seq;
use super::wire::{Flags, TcpRepr};
use crate::fifo::{Fifo, FifoError};
use thiserror::Error;

mod input;
mod output;
mod pmtu;

pub use pmtu::PmtuOutcome;

const MS: u64 = 1_000_000;
/// Duplicate ACKs queued at most per connection between polls.
const MAX_ACKS_OWED: u32 = 64;

/// TCP keepalive (RFC 9293 §3.8.4), off unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (ns).
    pub idle: u64,
    /// Time between unanswered probes (ns).
    pub interval: u64,
    /// Unanswered probes before the connection is dropped.
    pub probes: u32,
}

/// Per-connection settings (VPP's `tcp { }` section feeds these).
#[derive(Debug, Clone)]
pub struct Config {
    /// MSS we advertise and the cap on what we send (payload bytes).
    pub mss: u16,
    /// Receive fifo size in bytes (the most we advertise).
    pub rx_fifo_size: u32,
    /// Transmit fifo size in bytes.
    pub tx_fifo_size: u32,
    /// Congestion control algorithm.
    pub cc_algo: CcAlgo,
    /// Nagle's algorithm (RFC 896); false sends small segments at once.
    pub nagle: bool,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_cwnd_segments: u32,
    /// RTO before any RTT sample (RFC 6298: 1 s).
    pub rto_initial: u64,
    /// RTO lower bound (default 200 ms as Linux; RFC 6298 says 1 s).
    pub rto_min: u64,
    /// RTO upper bound (default 60 s).
    pub rto_max: u64,
    /// Delayed-ACK timer; 0 acknowledges every segment at once.
    pub delayed_ack: u64,
    /// TIME_WAIT duration, 2·MSL (default 1 s: a short MSL suits a
    /// userspace stack that owns its ports; raise it for WAN use).
    pub time_wait: u64,
    /// Offer window scaling (RFC 7323).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// SYN / SYN-ACK retransmissions before giving up.
    pub syn_retries: u32,
    /// Data retransmission timeouts in a row before giving up.
    pub max_retries: u32,
    /// Challenge ACKs per second at most (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Keepalive, off when `None`.
    pub keepalive: Option<Keepalive>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mss: 1460,
            rx_fifo_size: 1 << 20,
            tx_fifo_size: 1 << 20,
            cc_algo: CcAlgo::Cubic,
            nagle: true,
            initial_cwnd_segments: 10,
            rto_initial: 1000 * MS,
            rto_min: 200 * MS,
            rto_max: 60_000 * MS,
            delayed_ack: 40 * MS,
            time_wait: 1000 * MS,
            window_scaling: true,
            timestamps: true,
            sack: true,
            syn_retries: 6,
            max_retries: 15,
            challenge_ack_limit: 10,
            keepalive: None,
        }
    }
}

/// Errors creating a connection.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConnectError {
    /// A fifo size in the config is out of range.
    #[error("bad fifo size: {0}")]
    Fifo(#[from] FifoError),
    /// `accept` was given a segment that is not a bare SYN.
    #[error("segment with flags {flags:#04x} cannot open a connection")]
    NotASyn {
        /// Its flags.
        flags: u8,
    },
    /// MSS below 64 bytes.
    #[error("mss {mss} too small")]
    BadMss {
        /// The configured MSS.
        mss: u16,
    },
}

/// Connection states (RFC 9293 §3.3.2; LISTEN is the [`super::Listener`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received, SYN-ACK sent.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN not yet acked.
    FinWait1,
    /// Our FIN acked; waiting for the peer's.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both FINs acked; lingering 2·MSL.
    TimeWait,
    /// Gone.
    Closed,
}

/// What the application hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Active open completed.
    Connected,
    /// Passive open completed.
    Accepted,
    /// New bytes readable.
    Rx,
    /// Tx fifo space freed after a short write.
    TxSpace,
    /// The peer sent FIN: no more bytes will arrive.
    PeerClosed,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions or keepalives went unanswered; the connection died.
    TimedOut,
    /// The connection is finished; it can be freed (always the last event).
    Closed,
}

/// One segment to send: its header and which tx-fifo bytes are its payload
/// (`payload_offset` from the fifo head, `payload_len` bytes; see
/// [`Connection::payload`]). The output node fills in addresses and the
/// checksum.
///
/// With segmentation offload ([`Connection::set_tso_max`]) a transmit of
/// new data may be a super-segment: `gso_size` is then the payload of each
/// segment it stands for (the last may be shorter), cut by the device or by
/// [`segments_of`]; 0 for a plain segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The header to emit.
    pub repr: TcpRepr,
    /// Payload start, in bytes from the tx fifo head.
    pub payload_offset: u32,
    /// Payload length.
    pub payload_len: u32,
    /// Payload bytes per segment of a super-segment; 0 for one segment.
    pub gso_size: u32,
}

/// The segments a super-segment of `payload_len` bytes with header `repr`
/// stands for, cut every `gso_size` payload bytes as a segmentation
/// offload cuts it: (header, payload offset, payload length) each, the
/// sequence number moving along, PSH and FIN on the last piece only. One
/// piece when `gso_size` is 0 or covers the payload.
pub fn segments_of(repr: TcpRepr, payload_len: u32, gso_size: u32) -> impl Iterator<Item = (TcpRepr, u32, u32)> {
    let step = if gso_size == 0 { payload_len.max(1) } else { gso_size };
    let n = payload_len.div_ceil(step).max(1);
    (0..n).map(move |k| {
        let off = k * step;
        let len = (payload_len - off).min(step);
        let mut r = TcpRepr { seq: repr.seq + off, ..repr };
        if k + 1 < n {
            r.flags = Flags(r.flags.0 & !(Flags::FIN.0 | Flags::PSH.0));
        }
        (r, off, len)
    })
}

/// Per-connection counters (summed by `show tcp stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments handled.
    pub segs_in: u64,
    /// Segments produced.
    pub segs_out: u64,
    /// Data bytes retransmitted.
    pub bytes_retransmitted: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Fast retransmit / recovery episodes.
    pub fast_recoveries: u64,
    /// Retransmission timer expiries.
    pub rto_expiries: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Out-of-order segments received.
    pub ooo_segments: u64,
    /// Segments dropped as outside the window.
    pub out_of_window: u64,
    /// Segments dropped by PAWS.
    pub paws_drops: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Send MSS lowered by an ICMP fragmentation needed / packet too big.
    pub pmtu_lowered: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// RFC 6675 SACK-based recovery up to `point`.
    Sack { point: Seq },
    /// RFC 6582 NewReno recovery up to `point`.
    NewReno { point: Seq },
}

impl Recovery {
    fn point(self) -> Seq {
        match self {
            Recovery::Sack { point } | Recovery::NewReno { point } => point,
        }
    }
}

/// A TCP connection.
#[derive(Debug)]
pub struct Connection {
    cfg: Config,
    state: State,
    local_port: u16,
    remote_port: u16,

    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    snd_max: Seq,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: Seq,
    snd_wl2: Seq,
    snd_wscale: u8,
    wscale_ok: bool,
    tx: Fifo,
    /// Sequence number of the tx fifo's head byte.
    tx_base: Seq,
    fin_queued: bool,
    tx_blocked: bool,

    irs: Seq,
    rcv_nxt: Seq,
    rcv_wscale: u8,
    /// Right edge of the window last advertised.
    rcv_adv: Seq,
    rx: Fifo,
    peer_fin: Option<Seq>,
    fin_received: bool,
    last_ooo: Option<Seq>,

    send_mss: u32,
    /// Largest payload of one transmit of new data (segmentation offload
    /// on the way out); 0: one segment each.
    tso_max: u32,
    ts_enabled: bool,
    ts_recent: u32,
    ts_offset: u32,
    sack_enabled: bool,

    ack_now: bool,
    /// rcv_nxt as of the last segment sent (RFC 7323 Last.ACK.sent).
    last_ack_sent: Seq,
    /// Opened actively (Connected rather than Accepted on simultaneous open).
    active: bool,
    /// Duplicate ACKs owed, one per out-of-order segment (RFC 5681 §4.2),
    /// never coalesced so the sender can count them.
    acks_owed: u32,
    segs_unacked: u32,
    delack_at: Option<u64>,
    challenge_window: (u64, u32),
    pending_rst: Option<TcpRepr>,
    syn_pending: bool,

    rtt: RttEstimator,
    rtt_timing: Option<(Seq, u64)>,
    cc: Congestion,
    dupacks: u32,
    recovery: Option<Recovery>,
    /// Highest sequence retransmitted in recovery (RFC 6675 HighRxt).
    high_rxt: Seq,
    /// RFC 6582 `recover`: snd_max at the last RTO; duplicate ACKs below it
    /// come from the go-back-N resend and start no fast retransmit.
    recover: Seq,
    scoreboard: Scoreboard,
    fast_rtx_pending: bool,
    retries: u32,

    rto_at: Option<u64>,
    persist_at: Option<u64>,
    persist_backoff: u32,
    probe_pending: bool,
    time_wait_at: Option<u64>,
    keepalive_at: Option<u64>,
    keepalive_sent: u32,
    keepalive_pending: bool,

    events: VecDeque<Event>,
    stats: Stats,
}

/// Our window-scale shift for a receive buffer of `size` bytes.
fn wscale_for(size: u32) -> u8 {
    let mut s = 0u8;
    while s < 14 && (size >> s) > 0xffff {
        s += 1;
    }
    s
}

/// The RST answering `seg` (RFC 9293 §3.10.7.1), e.g. for a closed port or
/// an unacceptable ACK in a half-open state. `None` for a RST (never
/// answered).
pub fn rst_for(seg: &TcpRepr, payload_len: usize) -> Option<TcpRepr> {
    if seg.flags.rst() {
        return None;
    }
    let mut r = TcpRepr { src_port: seg.dst_port, dst_port: seg.src_port, ..TcpRepr::default() };
    if seg.flags.ack() {
        r.seq = seg.ack;
        r.flags = Flags::RST;
    } else {
        r.ack = seg.seq + seg.seq_len(payload_len);
        r.flags = Flags::RST | Flags::ACK;
    }
    Some(r)
}

impl Connection {
    fn new(cfg: Config, local_port: u16, remote_port: u16, iss: Seq, state: State) -> Result<Self, ConnectError> {
        if cfg.mss < 64 {
            return Err(ConnectError::BadMss { mss: cfg.mss });
        }
        let tx = Fifo::new(cfg.tx_fifo_size as usize)?;
        let rx = Fifo::new(cfg.rx_fifo_size as usize)?;
        let rcv_wscale = if cfg.window_scaling { wscale_for(cfg.rx_fifo_size) } else { 0 };
        Ok(Connection {
            state,
            local_port,
            remote_port,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            snd_wscale: 0,
            wscale_ok: false,
            tx,
            tx_base: iss + 1,
            fin_queued: false,
            tx_blocked: false,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_wscale,
            rcv_adv: Seq(0),
            rx,
            peer_fin: None,
            fin_received: false,
            last_ooo: None,
            send_mss: 536.min(cfg.mss as u32),
            tso_max: 0,
            ts_enabled: false,
            ts_recent: 0,
            ts_offset: iss.0.rotate_left(13),
            sack_enabled: false,
            ack_now: false,
            last_ack_sent: Seq(0),
            active: state == State::SynSent,
            acks_owed: 0,
            segs_unacked: 0,
            delack_at: None,
            challenge_window: (0, 0),
            pending_rst: None,
            syn_pending: true,
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_timing: None,
            cc: Congestion::new(cfg.cc_algo, cfg.mss as u32, cfg.initial_cwnd_segments),
            dupacks: 0,
            recovery: None,
            high_rxt: iss,
            recover: iss,
            scoreboard: Scoreboard::default(),
            fast_rtx_pending: false,
            retries: 0,
            rto_at: None,
            persist_at: None,
            persist_backoff: 0,
            probe_pending: false,
            time_wait_at: None,
            keepalive_at: None,
            keepalive_sent: 0,
            keepalive_pending: false,
            events: VecDeque::new(),
            stats: Stats::default(),
            cfg,
        })
    }

    /// Active open: a connection in SYN-SENT whose first
    /// [`Connection::poll_transmit`] is the SYN. `iss` should be
    /// unpredictable (RFC 6528); the caller picks it.
    pub fn connect(cfg: Config, local_port: u16, remote_port: u16, iss: Seq) -> Result<Self, ConnectError> {
        Self::new(cfg, local_port, remote_port, iss, State::SynSent)
    }

    /// Passive open: turns a received SYN into a connection in
    /// SYN-RECEIVED whose first [`Connection::poll_transmit`] is the SYN-ACK.
    pub fn accept(cfg: Config, now: u64, syn: &TcpRepr, iss: Seq) -> Result<Self, ConnectError> {
        if !syn.flags.syn() || syn.flags.ack() || syn.flags.rst() {
            return Err(ConnectError::NotASyn { flags: syn.flags.0 });
        }
        let mut c = Self::new(cfg, syn.dst_port, syn.src_port, iss, State::SynReceived)?;
        c.take_syn_options(syn);
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.snd_wnd = syn.window as u32; // never scaled in a SYN
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = syn.seq;
        c.rcv_adv = c.rcv_nxt;
        let _ = now;
        Ok(c)
    }

    /// The SYN-ACK a passive open answers `syn` with, as
    /// [`Connection::accept`] would send it (for a listener that keeps only
    /// a small record per half-open connection).
    pub fn syn_ack_for(cfg: &Config, now: u64, syn: &TcpRepr, iss: Seq) -> TcpRepr {
        let ts_offset = iss.0.rotate_left(13);
        let rx_size = cfg.rx_fifo_size;
        let mut r = TcpRepr {
            src_port: syn.dst_port,
            dst_port: syn.src_port,
            seq: iss,
            ack: syn.seq + 1,
            flags: Flags::SYN | Flags::ACK,
            window: rx_size.min(0xffff) as u16,
            mss: Some(cfg.mss),
            ..TcpRepr::default()
        };
        if cfg.window_scaling && syn.wscale.is_some() {
            r.wscale = Some(wscale_for(rx_size));
        }
        r.sack_permitted = cfg.sack && syn.sack_permitted;
        if let (true, Some((tsval, _))) = (cfg.timestamps, syn.timestamp) {
            r.timestamp = Some((((now / MS) as u32).wrapping_add(ts_offset), tsval));
        }
        r
    }

    fn take_syn_options(&mut self, syn: &TcpRepr) {
        let peer_mss = syn.mss.unwrap_or(536).max(64) as u32;
        match (self.cfg.window_scaling, syn.wscale) {
            (true, Some(ws)) => {
                self.snd_wscale = ws.min(14);
                self.wscale_ok = true;
            }
            _ => {
                self.wscale_ok = false;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_enabled = self.cfg.sack && syn.sack_permitted;
        self.ts_enabled = false;
        if let (true, Some((tsval, _))) = (self.cfg.timestamps, syn.timestamp) {
            self.ts_enabled = true;
            self.ts_recent = tsval;
        }
        let ts_len = if self.ts_enabled { 12 } else { 0 };
        self.send_mss = peer_mss.min(self.cfg.mss as u32).saturating_sub(ts_len).max(32);
        self.cc = Congestion::new(self.cfg.cc_algo, self.send_mss, self.cfg.initial_cwnd_segments);
    }

    /// A connection built by a SYN-cookie listener from the final ACK of
    /// the handshake: ESTABLISHED with `mss`, no window scaling, SACK or
    /// timestamps (a cookie has no room for them).
    pub fn from_cookie(cfg: Config, ack: &TcpRepr, iss: Seq, mss: u16) -> Result<Self, ConnectError> {
        let syn = TcpRepr {
            src_port: ack.src_port,
            dst_port: ack.dst_port,
            seq: ack.seq - 1,
            flags: Flags::SYN,
            window: ack.window,
            mss: Some(mss),
            ..TcpRepr::default()
        };
        let mut c = Self::accept(cfg, 0, &syn, iss)?;
        c.syn_ack_sent(0, false);
        c.rto_at = None;
        Ok(c)
    }

    /// Marks the SYN-ACK as already sent at `now` (by a listener); `timed`
    /// when it went out once, so the handshake gives an RTT sample.
    pub fn syn_ack_sent(&mut self, now: u64, timed: bool) {
        if self.state == State::SynReceived && self.syn_pending {
            self.syn_pending = false;
            if timed {
                self.rtt_timing = Some((self.iss, now));
            }
            self.snd_nxt = self.iss + 1;
            self.snd_max = self.iss + 1;
            self.rcv_adv = self.rcv_nxt + self.rx.free().min(0xffff);
            self.last_ack_sent = self.rcv_nxt;
            self.rto_at = Some(now + self.rtt.rto());
        }
    }

    // ---- accessors ----

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }
    /// Local port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }
    /// Remote port.
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }
    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Congestion window (bytes).
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }
    /// Slow-start threshold (bytes).
    pub fn ssthresh(&self) -> u32 {
        self.cc.ssthresh()
    }
    /// The current retransmission timeout (ns) including backoff.
    pub fn rto(&self) -> u64 {
        self.rtt.rto()
    }
    /// Smoothed RTT (ns) once measured.
    pub fn srtt(&self) -> Option<u64> {
        self.rtt.srtt()
    }
    /// Next sequence number expected from the peer.
    pub fn rcv_nxt(&self) -> Seq {
        self.rcv_nxt
    }
    /// Oldest unacknowledged sequence number.
    pub fn snd_una(&self) -> Seq {
        self.snd_una
    }
    /// Next sequence number to send.
    pub fn snd_nxt(&self) -> Seq {
        self.snd_nxt
    }
    /// Payload bytes per full segment we send.
    pub fn send_mss(&self) -> u32 {
        self.send_mss
    }

    /// Lets transmits of new data carry up to `bytes` of payload as one
    /// super-segment ([`Transmit::gso_size`]) when the way out cuts it into
    /// segments (TSO); 0 turns it off. Retransmissions stay single segments.
    pub fn set_tso_max(&mut self, bytes: u32) {
        self.tso_max = bytes;
    }
    /// The peer's window (bytes, scaled).
    pub fn send_window(&self) -> u32 {
        self.snd_wnd
    }
    /// In fast recovery.
    pub fn in_recovery(&self) -> bool {
        self.recovery.is_some()
    }
    /// Window scaling, SACK and timestamps as negotiated.
    pub fn negotiated(&self) -> (Option<(u8, u8)>, bool, bool) {
        let ws = (self.snd_wscale != 0 || self.rcv_wscale != 0).then_some((self.snd_wscale, self.rcv_wscale));
        (ws, self.sack_enabled, self.ts_enabled)
    }
    /// Unacknowledged bytes in flight (sequence space).
    pub fn flight(&self) -> u32 {
        self.snd_max.since(self.snd_una)
    }
    /// An ACK is due now: a duplicate ACK for out-of-order data (each
    /// leaves before the next segment is handled, with the SACK blocks of
    /// its moment), or the ACK of every second full-sized segment (RFC 5681
    /// §4.2). A caller that batches its output flushes before handling the
    /// next segment; anything else may wait for the end of the batch.
    pub fn ack_due(&self) -> bool {
        self.acks_owed > 0 || self.ack_now
    }

    /// The transmit fifo (read it to copy a [`Transmit`]'s payload).
    pub fn tx_fifo(&self) -> &Fifo {
        &self.tx
    }
    /// The receive fifo (read-only; consume with [`Connection::app_read`]
    /// or [`Connection::app_consume`]).
    pub fn rx_fifo(&self) -> &Fifo {
        &self.rx
    }
    /// The payload bytes of `t` as one or two slices of the tx fifo.
    pub fn payload(&self, t: &Transmit) -> (&[u8], &[u8]) {
        self.tx.peek_slices(t.payload_offset, t.payload_len)
    }

    fn data_end(&self) -> Seq {
        self.tx_base + self.tx.len()
    }

    fn synchronized(&self) -> bool {
        !matches!(self.state, State::SynSent | State::SynReceived | State::Closed)
    }

    fn push_event(&mut self, e: Event) {
        if matches!(e, Event::Rx | Event::TxSpace) && self.events.contains(&e) {
            return;
        }
        self.events.push_back(e);
    }

    fn set_closed(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.rto_at = None;
            self.persist_at = None;
            self.delack_at = None;
            self.time_wait_at = None;
            self.keepalive_at = None;
            self.push_event(Event::Closed);
        }
    }

    fn ts_now(&self, now: u64) -> u32 {
        ((now / MS) as u32).wrapping_add(self.ts_offset)
    }

    // ---- application side ----

    /// Queues bytes to send; returns how many fit in the tx fifo. A short
    /// write arms a [`Event::TxSpace`] for when ACKs free space.
    pub fn app_write(&mut self, data: &[u8]) -> usize {
        if self.fin_queued
            || !matches!(self.state, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
        {
            return 0;
        }
        let n = self.tx.enqueue(data);
        if n < data.len() {
            self.tx_blocked = true;
        }
        n
    }

    /// Moves received bytes straight into the tx fifo (an echo without a
    /// copy through the app), as many as the tx fifo takes; returns the
    /// count. A short move arms [`Event::TxSpace`] like a short write.
    pub fn app_echo(&mut self) -> usize {
        if self.fin_queued
            || !matches!(self.state, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
        {
            return 0;
        }
        let (a, b) = self.rx.peek_slices(0, self.rx.len());
        let mut moved = 0;
        for part in [a, b] {
            if part.is_empty() {
                continue;
            }
            let n = self.tx.enqueue(part);
            moved += n;
            if n < part.len() {
                self.tx_blocked = true;
                break;
            }
        }
        self.app_consume(moved as u32);
        moved
    }

    /// Reads received bytes; returns the count. May schedule a window update.
    pub fn app_read(&mut self, out: &mut [u8]) -> usize {
        let n = self.rx.peek(0, out);
        self.app_consume(n as u32);
        n
    }

    /// Drops `n` bytes the app read straight from [`Connection::rx_fifo`].
    pub fn app_consume(&mut self, n: u32) {
        let before = self.rcv_adv.since(self.rcv_nxt);
        self.rx.drop_head(n);
        if !self.synchronized() {
            return;
        }
        // Receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2): tell
        // the peer once the window grew by min(half the buffer, an MSS).
        let now_wnd = self.advertisable_window();
        let step = (self.rx.size() / 2).min(self.cfg.mss as u32);
        if now_wnd >= before + step && before < self.rx.size() / 2 {
            self.ack_now = true;
        }
    }

    /// Half-close: no more data from us; FIN follows the queued bytes.
    pub fn close(&mut self) {
        match self.state {
            // Nothing queued: drop the attempt (RFC 9293 §3.10.4); queued
            // bytes go out, then the FIN, once the handshake completes.
            State::SynSent if self.tx.is_empty() => self.set_closed(),
            State::SynSent => self.fin_queued = true,
            // The FIN goes once the handshake completes.
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Abort: a RST to the peer (when synchronized) and CLOSED at once.
    pub fn abort(&mut self) {
        if matches!(self.state, State::Closed | State::TimeWait | State::SynSent) {
            self.set_closed();
            return;
        }
        self.pending_rst = Some(TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: self.snd_max,
            flags: Flags::RST,
            ..TcpRepr::default()
        });
        self.set_closed();
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline at which [`Connection::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<u64> {
        [self.rto_at, self.persist_at, self.delack_at, self.time_wait_at, self.keepalive_at].into_iter().flatten().min()
    }

    // ---- timers ----

    /// Runs whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.time_wait_at.is_some_and(|t| t <= now) {
            self.time_wait_at = None;
            self.set_closed();
            return;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.on_rto(now);
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.probe_pending = true;
            self.persist_backoff = self.persist_backoff.saturating_add(1);
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            if let Some(ka) = self.cfg.keepalive {
                if self.keepalive_sent >= ka.probes {
                    self.push_event(Event::TimedOut);
                    self.abort();
                    return;
                }
                self.keepalive_sent += 1;
                self.keepalive_pending = true;
                self.keepalive_at = Some(now + ka.interval);
            }
        }
        self.update_timers(now);
    }

    fn on_rto(&mut self, now: u64) {
        self.stats.rto_expiries += 1;
        self.retries += 1;
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.retries > self.cfg.syn_retries {
                    self.push_event(Event::TimedOut);
                    self.abort();
                    return;
                }
                self.syn_pending = true;
                self.snd_nxt = self.iss;
            }
            State::Closed | State::TimeWait => return,
            _ => {
                if self.retries > self.cfg.max_retries {
                    self.push_event(Event::TimedOut);
                    self.abort();
                    return;
                }
                if self.retries == 1 {
                    self.cc.on_rto(now, self.flight());
                } else {
                    self.cc.set_cwnd(self.send_mss);
                }
                // Go back N from snd_una.
                self.recover = self.snd_max;
                self.snd_nxt = self.snd_una;
                self.recovery = None;
                self.fast_rtx_pending = false;
                self.dupacks = 0;
                self.scoreboard.clear();
                self.high_rxt = self.snd_una;
            }
        }
        self.rtt_timing = None;
        self.rtt.back_off();
    }

    fn in_persist(&self) -> bool {
        self.synchronized()
            && self.snd_wnd == 0
            && self.snd_max.since(self.snd_una) <= 1
            && (self.data_end() > self.snd_una)
            && self.state != State::TimeWait
    }

    fn update_timers(&mut self, now: u64) {
        if self.state == State::Closed {
            return;
        }
        if self.in_persist() {
            self.rto_at = None;
            if self.persist_at.is_none() && !self.probe_pending {
                let t = self.rtt.rto().saturating_mul(1 << self.persist_backoff.min(16)).min(self.cfg.rto_max);
                self.persist_at = Some(now + t);
            }
        } else {
            self.persist_at = None;
            self.persist_backoff = 0;
            // A SYN or SYN-ACK waiting to be (re)sent arms its timer when it goes.
            let syn_wait = self.syn_pending && matches!(self.state, State::SynSent | State::SynReceived);
            let outstanding = self.snd_max > self.snd_una || syn_wait;
            if !outstanding || self.state == State::TimeWait {
                self.rto_at = None;
            } else if self.rto_at.is_none() && !syn_wait {
                self.rto_at = Some(now + self.rtt.rto());
            }
        }
        if let Some(ka) = self.cfg.keepalive {
            if self.state == State::Established && self.keepalive_at.is_none() {
                self.keepalive_at = Some(now + ka.idle);
            }
        }
    }
}
