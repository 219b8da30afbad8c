//! Congestion control, selectable per connection: NewReno (RFC 5681 /
//! RFC 6582) and CUBIC (RFC 9438). The algorithm owns `cwnd` and
//! `ssthresh` in bytes; loss recovery itself (which segment to resend, the
//! pipe) lives in the connection, which calls in here on new ACKs outside
//! recovery, on entering recovery and on a retransmission timeout.

pub mod cubic;
pub mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

/// Which algorithm a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgo {
    /// RFC 5681 slow start / congestion avoidance with RFC 6582 recovery.
    NewReno,
    /// RFC 9438 (the default, as in Linux and VPP).
    #[default]
    Cubic,
}

/// The interface the connection drives.
pub trait CongestionControl {
    /// Congestion window in bytes.
    fn cwnd(&self) -> u32;
    /// Slow-start threshold in bytes.
    fn ssthresh(&self) -> u32;
    /// Overrides the window (recovery inflation/deflation, exit).
    fn set_cwnd(&mut self, cwnd: u32);
    /// `acked` new bytes acknowledged outside loss recovery at `now` (ns).
    fn on_ack(&mut self, now: u64, acked: u32, srtt: Option<u64>);
    /// Loss detected by duplicate ACKs or SACK: reduce (sets ssthresh and
    /// cwnd to the post-recovery window).
    fn on_congestion(&mut self, now: u64, flight: u32);
    /// Retransmission timeout: ssthresh from the flight, cwnd to one segment.
    fn on_rto(&mut self, now: u64, flight: u32);
}

/// Either algorithm, dispatched without allocation.
#[derive(Debug, Clone)]
pub enum Congestion {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(Cubic),
}

impl Congestion {
    /// A controller for `algo` with segment size `mss` and an initial
    /// window of `initial_segments` segments.
    pub fn new(algo: CcAlgo, mss: u32, initial_segments: u32) -> Self {
        match algo {
            CcAlgo::NewReno => Congestion::NewReno(NewReno::new(mss, initial_segments)),
            CcAlgo::Cubic => Congestion::Cubic(Cubic::new(mss, initial_segments)),
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Congestion::NewReno(c) => c,
            Congestion::Cubic(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Congestion::NewReno(c) => c,
            Congestion::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Congestion {
    fn cwnd(&self) -> u32 {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> u32 {
        self.inner().ssthresh()
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.inner_mut().set_cwnd(cwnd)
    }
    fn on_ack(&mut self, now: u64, acked: u32, srtt: Option<u64>) {
        self.inner_mut().on_ack(now, acked, srtt)
    }
    fn on_congestion(&mut self, now: u64, flight: u32) {
        self.inner_mut().on_congestion(now, flight)
    }
    fn on_rto(&mut self, now: u64, flight: u32) {
        self.inner_mut().on_rto(now, flight)
    }
}
