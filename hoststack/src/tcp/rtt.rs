//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! Times are nanoseconds. The lower bound is configurable: rvpp defaults to
//! 200 ms like Linux (RFC 6298 §2.4 asks for 1 s, which a LAN or loopback
//! pays for with second-long stalls on every tail loss); set `rto_min` to
//! 1 s for the RFC's value. The initial RTO is 1 s (RFC 6298 §2.1) and each
//! expiry doubles it up to `rto_max` (§5.5).

/// Clock granularity G assumed by the RTO formula (1 ms, our timestamp tick).
pub const CLOCK_GRANULARITY_NS: u64 = 1_000_000;

/// The RTT estimator and current RTO with its backoff.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<u64>,
    rttvar: u64,
    /// RTO before backoff.
    base_rto: u64,
    backoff: u32,
    rto_min: u64,
    rto_max: u64,
}

impl RttEstimator {
    /// A fresh estimator with RTO = `initial` (clamped to the bounds).
    pub fn new(initial: u64, rto_min: u64, rto_max: u64) -> Self {
        RttEstimator { srtt: None, rttvar: 0, base_rto: initial.clamp(rto_min, rto_max), backoff: 0, rto_min, rto_max }
    }

    /// Takes one RTT measurement (RFC 6298 §2.2/§2.3) and clears the
    /// backoff (§5.7: a new sample after backoff restarts from the estimate).
    pub fn sample(&mut self, rtt: u64) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // rttvar = 3/4 rttvar + 1/4 |srtt - r|; srtt = 7/8 srtt + 1/8 r
                self.rttvar = (3 * self.rttvar + srtt.abs_diff(rtt)) / 4;
                self.srtt = Some((7 * srtt + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.base_rto = (srtt + CLOCK_GRANULARITY_NS.max(4 * self.rttvar)).clamp(self.rto_min, self.rto_max);
        self.backoff = 0;
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<u64> {
        self.srtt
    }

    /// The RTT variation.
    pub fn rttvar(&self) -> u64 {
        self.rttvar
    }

    /// The current RTO including backoff.
    pub fn rto(&self) -> u64 {
        let shift = self.backoff.min(32);
        self.base_rto.saturating_mul(1u64 << shift).min(self.rto_max)
    }

    /// Doubles the RTO after an expiry (§5.5).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Consecutive backoffs since the last sample.
    pub fn backoffs(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MS: u64 = 1_000_000;

    #[test]
    fn rfc6298_formulas() {
        let mut r = RttEstimator::new(1000 * MS, 200 * MS, 60_000 * MS);
        assert_eq!(r.rto(), 1000 * MS);
        r.sample(100 * MS);
        // srtt 100, rttvar 50, rto = 100 + 4*50 = 300 ms
        assert_eq!(r.srtt(), Some(100 * MS));
        assert_eq!(r.rto(), 300 * MS);
        r.sample(200 * MS);
        // rttvar = (3*50 + 100)/4 = 62.5; srtt = (700 + 200)/8 = 112.5
        assert_eq!(r.rttvar(), 62_500_000);
        assert_eq!(r.srtt(), Some(112_500_000));
        assert_eq!(r.rto(), 112_500_000 + 250 * MS);
        // Small RTTs are held at rto_min.
        let mut r = RttEstimator::new(1000 * MS, 200 * MS, 60_000 * MS);
        r.sample(MS);
        assert_eq!(r.rto(), 200 * MS);
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let mut r = RttEstimator::new(1000 * MS, 200 * MS, 10_000 * MS);
        let mut seen = vec![];
        for _ in 0..6 {
            seen.push(r.rto() / MS);
            r.back_off();
        }
        assert_eq!(seen, [1000, 2000, 4000, 8000, 10000, 10000]);
        r.sample(100 * MS);
        assert_eq!(r.rto(), 300 * MS);
    }
}
