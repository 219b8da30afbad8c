//! Architecture helpers: the time-stamp counter, cache prefetch, and the
//! bulk of the Internet checksum in the widest vectors the CPU has.
//!
//! Invariants: the intrinsics used here have no memory-safety preconditions
//! beyond running on a CPU that has them (every x86_64 CPU has RDTSC and
//! PREFETCH); prefetch of any address, valid or not, never faults. A
//! function compiled for CPU features beyond the build's baseline
//! (`#[target_feature]`) is called only after the running CPU was seen to
//! have them.
#![allow(unsafe_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reads the CPU's time-stamp counter (or a monotonic nanosecond clock on
/// targets without one).
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC is available on every x86_64 CPU and touches no memory.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Hints the CPU to bring the cache line holding `p` closer.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch is only a hint; it never faults and does not
        // dereference `p` in the language's sense.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Time-stamp counter ticks per second, measured once against the OS clock.
pub fn tsc_hz() -> f64 {
    static HZ: OnceLock<f64> = OnceLock::new();
    *HZ.get_or_init(|| {
        let t0 = Instant::now();
        let c0 = rdtsc();
        std::thread::sleep(Duration::from_millis(20));
        let c1 = rdtsc();
        let dt = t0.elapsed().as_secs_f64();
        ((c1.wrapping_sub(c0)) as f64 / dt).max(1.0)
    })
}

/// The sum of `data` read as native-endian 32-bit words, each widened to
/// 64 bits (bytes past the last whole word are ignored): the bulk of an
/// Internet checksum ([`crate::checksum::sum`]). The loop is compiled for
/// AVX-512, for AVX2 and for the build's baseline (SSE2 on x86_64); the
/// widest the CPU has runs. The sum cannot overflow below 16 GiB of data.
#[inline]
pub fn sum_words32(data: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512F and AVX-512BW (checked just
            // above), the only features the function is compiled for
            // beyond the baseline; it is otherwise safe code.
            return unsafe { sum_words32_avx512(data) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), the only
            // feature the function is compiled for beyond the baseline.
            return unsafe { sum_words32_avx2(data) };
        }
    }
    sum_words32_baseline(data)
}

/// [`sum_words32`] in the build's baseline instructions (no feature
/// check: the cheapest for short data).
#[inline(always)]
pub fn sum_words32_baseline(data: &[u8]) -> u64 {
    let mut bulk = 0u64;
    for w in data.chunks_exact(4) {
        bulk += u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) as u64;
    }
    bulk
}

/// [`sum_words32_baseline`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_words32_avx2(data: &[u8]) -> u64 {
    sum_words32_baseline(data)
}

/// [`sum_words32_baseline`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn sum_words32_avx512(data: &[u8]) -> u64 {
    sum_words32_baseline(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_sums_alike() {
        let data: Vec<u8> = (0..9000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        for len in [0, 4, 60, 64, 68, 1448, 8948] {
            let d = &data[..len];
            let want: u64 = d.chunks_exact(4).map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) as u64).sum();
            assert_eq!(sum_words32(d), want, "len {len}");
            assert_eq!(sum_words32_baseline(d), want, "len {len}");
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 checked just above.
                    assert_eq!(unsafe { sum_words32_avx2(d) }, want, "avx2 len {len}");
                }
                if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: AVX-512F/BW checked just above.
                    assert_eq!(unsafe { sum_words32_avx512(d) }, want, "avx512 len {len}");
                }
            }
        }
    }
}
