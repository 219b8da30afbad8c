//! CUBIC (RFC 9438). After a congestion event the window follows
//! `W_cubic(t) = C·(t − K)³ + W_max` (eq. 1) with `K = ∛((W_max −
//! cwnd_epoch)/C)` (eq. 2), `C = 0.4`, `β = 0.7`, t the time since the
//! congestion-avoidance stage began; each ACK moves cwnd towards
//! `target = W_cubic(t + RTT)` clamped to `[cwnd, 1.5·cwnd]` (§4.2), and the
//! Reno-friendly estimate `W_est` (eq. 4, α = 3(1−β)/(1+β), then 1 once
//! W_est ≥ W_max) takes over where it is larger (§4.3). Fast convergence
//! (§4.7) lowers W_max when a loss comes before the last W_max was reached.
//! Windows are computed in segments as `f64`.

use super::CongestionControl;

/// RFC 9438's C (segments / s³).
pub const C: f64 = 0.4;
/// RFC 9438's multiplicative decrease factor.
pub const BETA: f64 = 0.7;
/// RTT assumed before the first sample (100 ms).
const DEFAULT_RTT_NS: u64 = 100_000_000;

/// CUBIC window state.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    /// cwnd in segments.
    cwnd: f64,
    ssthresh: u32,
    /// W_max in segments (0 before the first congestion event).
    w_max: f64,
    k: f64,
    /// Start of the current congestion-avoidance stage (ns).
    epoch_start: Option<u64>,
    w_est: f64,
}

impl Cubic {
    /// Initial window `initial_segments` × `mss`.
    pub fn new(mss: u32, initial_segments: u32) -> Self {
        Cubic {
            mss,
            cwnd: initial_segments.max(1) as f64,
            ssthresh: u32::MAX,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
        }
    }

    /// W_max in segments.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// K in seconds.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// cwnd in (fractional) segments.
    pub fn cwnd_segments(&self) -> f64 {
        self.cwnd
    }

    /// W_cubic(t) for t seconds into the stage (eq. 1).
    pub fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    fn reduce(&mut self, now: u64) {
        let _ = now;
        let cwnd = self.cwnd;
        // Fast convergence (§4.7).
        self.w_max = if cwnd < self.w_max { cwnd * (1.0 + BETA) / 2.0 } else { cwnd };
        let new = (cwnd * BETA).max(2.0);
        self.ssthresh = (new * self.mss as f64) as u32;
        self.cwnd = new;
        self.epoch_start = None;
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        (self.cwnd * self.mss as f64).min(u32::MAX as f64) as u32
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = (cwnd as f64 / self.mss as f64).max(1.0);
    }
    fn on_ack(&mut self, now: u64, acked: u32, srtt: Option<u64>) {
        let segs = acked as f64 / self.mss as f64;
        if self.cwnd() < self.ssthresh {
            // Slow start (RFC 5681 with RFC 3465 L = 2).
            self.cwnd += segs.min(2.0);
            return;
        }
        let epoch = match self.epoch_start {
            Some(e) => e,
            None => {
                // A new congestion-avoidance stage: cwnd_epoch = cwnd.
                self.epoch_start = Some(now);
                if self.cwnd < self.w_max {
                    self.k = ((self.w_max - self.cwnd) / C).cbrt();
                } else {
                    self.k = 0.0;
                    self.w_max = self.cwnd;
                }
                self.w_est = self.cwnd;
                now
            }
        };
        let t = now.saturating_sub(epoch) as f64 / 1e9;
        let rtt = srtt.unwrap_or(DEFAULT_RTT_NS) as f64 / 1e9;
        // Reno-friendly estimate (eq. 4).
        let alpha = if self.w_est >= self.w_max { 1.0 } else { 3.0 * (1.0 - BETA) / (1.0 + BETA) };
        self.w_est += alpha * segs / self.cwnd;
        if self.w_cubic(t) < self.w_est {
            self.cwnd = self.w_est;
            return;
        }
        let target = self.w_cubic(t + rtt).clamp(self.cwnd, 1.5 * self.cwnd);
        self.cwnd += (target - self.cwnd) / self.cwnd * segs;
    }
    fn on_congestion(&mut self, now: u64, _flight: u32) {
        self.reduce(now);
    }
    fn on_rto(&mut self, now: u64, _flight: u32) {
        self.reduce(now);
        self.cwnd = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const RTT: u64 = 100_000_000;

    /// Acks one window per RTT, one segment per ACK, for `secs` seconds
    /// from `start`; returns the cwnd (segments) sampled at each round.
    fn run(c: &mut Cubic, start: u64, secs: f64) -> Vec<(f64, f64)> {
        let mut out = vec![];
        let rounds = (secs * 1e9 / RTT as f64) as u64;
        for r in 0..rounds {
            let now = start + r * RTT;
            let n = c.cwnd_segments() as u32;
            for _ in 0..n {
                c.on_ack(now, MSS, Some(RTT));
            }
            out.push(((now + RTT - start) as f64 / 1e9, c.cwnd_segments()));
        }
        out
    }

    #[test]
    fn window_after_loss_follows_w_cubic() {
        // W_max = 1000 segments so the cubic curve, not the Reno-friendly
        // estimate (70% + 0.53 segment per RTT), governs for the whole run.
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 1000.0;
        c.ssthresh = 500 * MSS;
        c.on_congestion(0, 1000 * MSS);
        // β = 0.7: cwnd and ssthresh to 700 segments, W_max 1000.
        assert_eq!(c.cwnd(), 700 * MSS);
        assert_eq!(c.ssthresh(), 700 * MSS);
        assert_eq!(c.w_max(), 1000.0);
        let samples = run(&mut c, 0, 12.0);
        // K = ∛(1000 · 0.3 / 0.4) = ∛750 ≈ 9.0856 s.
        let k = 750f64.cbrt();
        assert!((c.k() - k).abs() < 1e-9, "K {}", c.k());
        assert!((c.k() - 9.0856).abs() < 1e-3);
        for &(t, w) in &samples {
            let want = C * (t - k).powi(3) + 1000.0;
            assert!((w - want).abs() <= 0.02 * want, "t={t:.1}s cwnd {w:.2} vs W_cubic {want:.2}");
        }
        // Concave up to the plateau at W_max around t = K, convex after.
        let at = |x: f64| samples.iter().find(|(t, _)| *t >= x - 1e-9).unwrap().1;
        assert!((at(1.0) - (C * (1.0 - k).powi(3) + 1000.0)).abs() < 10.0, "{}", at(1.0));
        assert!((at(9.1) - 1000.0).abs() < 5.0, "{}", at(9.1));
        assert!(at(12.0) > 1005.0);
    }

    #[test]
    fn fast_convergence_and_rto() {
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 100.0;
        c.on_congestion(0, 0);
        // A second loss at 70 < W_max = 100: W_max = 70 · 1.7 / 2 = 59.5.
        c.on_congestion(1, 0);
        assert!((c.w_max() - 59.5).abs() < 1e-9);
        assert_eq!(c.cwnd(), 49 * MSS);
        c.on_rto(2, 0);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), (49.0 * 0.7 * MSS as f64) as u32);
    }

    #[test]
    fn reno_friendly_region_wins_when_larger() {
        // W_max 4: W_cubic(0) = 0.4·(−∛3)³ + 4 = 2.8, below W_est after an ACK.
        let mut c = Cubic::new(MSS, 10);
        c.cwnd = 4.0;
        c.ssthresh = 0;
        c.on_congestion(0, 0);
        assert_eq!(c.cwnd(), 2800);
        c.on_ack(0, MSS, Some(RTT));
        assert!((c.k() - 3f64.cbrt()).abs() < 1e-9);
        let w_est = 2.8 + (3.0 * 0.3 / 1.7) / 2.8;
        assert!((c.cwnd_segments() - w_est).abs() < 1e-9, "{}", c.cwnd_segments());
    }
}
