//! NewReno's window rules (RFC 5681 §3.1, RFC 6582): slow start below
//! ssthresh with appropriate byte counting (RFC 3465, L = 2 segments),
//! one segment per window of acknowledged bytes above it, and the window
//! halved on loss.

use super::CongestionControl;

/// NewReno window state.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acked since the last congestion-avoidance increase.
    acked_in_ca: u32,
}

impl NewReno {
    /// Initial window `initial_segments` × `mss`, ssthresh unbounded.
    pub fn new(mss: u32, initial_segments: u32) -> Self {
        NewReno { mss, cwnd: mss.saturating_mul(initial_segments.max(1)), ssthresh: u32::MAX, acked_in_ca: 0 }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.mss);
    }
    fn on_ack(&mut self, _now: u64, acked: u32, _srtt: Option<u64>) {
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.mss));
        } else {
            self.acked_in_ca = self.acked_in_ca.saturating_add(acked);
            if self.acked_in_ca >= self.cwnd {
                self.acked_in_ca -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }
    fn on_congestion(&mut self, _now: u64, flight: u32) {
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.acked_in_ca = 0;
    }
    fn on_rto(&mut self, _now: u64, flight: u32) {
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.acked_in_ca = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_avoidance_and_halving() {
        let mut c = NewReno::new(1000, 10);
        assert_eq!(c.cwnd(), 10_000);
        // Slow start: +min(acked, 2 MSS) per ACK.
        c.on_ack(0, 1000, None);
        c.on_ack(0, 5000, None);
        assert_eq!(c.cwnd(), 13_000);
        // Loss with 20 kB in flight: ssthresh = cwnd = 10 kB (halved).
        c.on_congestion(0, 20_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (10_000, 10_000));
        // Congestion avoidance: one MSS per cwnd of acked bytes.
        for _ in 0..10 {
            c.on_ack(0, 1000, None);
        }
        assert_eq!(c.cwnd(), 11_000);
        c.on_ack(0, 1000, None);
        assert_eq!(c.cwnd(), 11_000);
        // RTO: one segment, ssthresh from the flight, floor 2 MSS.
        c.on_rto(0, 3000);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 2000));
    }
}
