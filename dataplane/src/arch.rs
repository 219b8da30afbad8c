//! Architecture helpers: the time-stamp counter, cache prefetch, the bulk
//! of the Internet checksum in the widest vectors the CPU has, and big
//! lookup tables on transparent huge pages ([`HugeTable`]).
//!
//! Invariants: the intrinsics used here have no memory-safety preconditions
//! beyond running on a CPU that has them (every x86_64 CPU has RDTSC and
//! PREFETCH); prefetch of any address, valid or not, never faults. A
//! function compiled for CPU features beyond the build's baseline
//! (`#[target_feature]`) is called only after the running CPU was seen to
//! have them. A [`HugeTable`]'s words lie in one anonymous mapping it owns
//! from creation to drop, 2 MiB-aligned inside it, zero-filled by the
//! kernel (a valid `AtomicU32` is any bit pattern), never resized or moved.
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

/// Like [`prefetch`], into the second-level cache only: for a batch of
/// lines far away (a big trie's plies, one per packet of a frame), which
/// then do not all wait for the first level's few fill buffers.
#[inline(always)]
pub fn prefetch_l2<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch is only a hint; it never faults and does not
        // dereference `p` in the language's sense.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(p as *const i8) }
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

/// A new private anonymous read-write mapping of `len` bytes, with
/// `flags` added (`MAP_NORESERVE`, `MAP_HUGETLB`): memory only the caller
/// holds, zero-filled, until it unmaps it.
pub(crate) fn map_anonymous(len: usize, flags: libc::c_int) -> std::io::Result<*mut libc::c_void> {
    // SAFETY: an anonymous private mapping; no address or file given, so
    // nothing existing is touched.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    match map {
        libc::MAP_FAILED => Err(std::io::Error::last_os_error()),
        m => Ok(m),
    }
}

/// A fixed table of zero-filled [`AtomicU32`] words for big lookup
/// structures (the IPv4 trie's plies): an anonymous mapping, aligned to
/// 2 MiB and advised for transparent huge pages, so that random reads over
/// hundreds of MiB take one TLB entry per 2 MiB rather than per 4 KiB.
/// Pages are allocated by the kernel on first touch (`MAP_NORESERVE`), so
/// an unused tail costs no memory. Without THP it is ordinary memory.
pub struct HugeTable {
    map: *mut libc::c_void,
    map_len: usize,
    words: *const std::sync::atomic::AtomicU32,
    len: usize,
}

// SAFETY: the table is a slice of atomics in memory owned by the value;
// sharing and sending it is as safe as for `Box<[AtomicU32]>`.
unsafe impl Send for HugeTable {}
// SAFETY: as above; every access goes through `&AtomicU32`.
unsafe impl Sync for HugeTable {}

impl HugeTable {
    const ALIGN: usize = 2 << 20;

    /// A table of `len` words, all zero.
    pub fn new(len: usize) -> std::io::Result<HugeTable> {
        let bytes = len.checked_mul(4).ok_or_else(|| std::io::Error::other("HugeTable too large"))?.max(1);
        let map_len = bytes.next_multiple_of(Self::ALIGN) + Self::ALIGN;
        let map = map_anonymous(map_len, libc::MAP_NORESERVE)?;
        let skip = (map as usize).next_multiple_of(Self::ALIGN) - map as usize;
        // SAFETY: skip < ALIGN and map_len >= bytes + ALIGN, so the words
        // start inside the mapping and `bytes` more stay inside it.
        let words = unsafe { (map as *mut u8).add(skip) };
        // A hint: failure (no THP in this kernel) leaves ordinary pages.
        // SAFETY: the range lies inside the mapping just made.
        unsafe {
            libc::madvise(words as *mut libc::c_void, bytes.next_multiple_of(Self::ALIGN), libc::MADV_HUGEPAGE);
        }
        Ok(HugeTable { map, map_len, words: words as *const std::sync::atomic::AtomicU32, len })
    }
}

impl std::ops::Deref for HugeTable {
    type Target = [std::sync::atomic::AtomicU32];
    fn deref(&self) -> &[std::sync::atomic::AtomicU32] {
        // SAFETY: `words` is 2 MiB-aligned, points at `len` zero-initialized
        // words inside the live mapping (see `new`), and all access is atomic.
        unsafe { std::slice::from_raw_parts(self.words, self.len) }
    }
}

impl Drop for HugeTable {
    fn drop(&mut self) {
        // SAFETY: `map`/`map_len` came from a successful mmap, and no borrow
        // of the words outlives `self`.
        unsafe {
            libc::munmap(self.map, self.map_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn huge_table_is_zeroed_aligned_and_writable() {
        for len in [1usize, 1000, (4 << 20) + 3] {
            let t = HugeTable::new(len).unwrap();
            assert_eq!(t.len(), len);
            assert_eq!(t.as_ptr() as usize % (2 << 20), 0);
            assert!(t.iter().step_by(997).all(|w| w.load(Ordering::Relaxed) == 0));
            t[len - 1].store(7, Ordering::Relaxed);
            t[0].fetch_add(3, Ordering::Relaxed);
            assert_eq!(
                (t[0].load(Ordering::Relaxed), t[len - 1].load(Ordering::Relaxed)),
                (if len == 1 { 10 } else { 3 }, if len == 1 { 10 } else { 7 })
            );
        }
    }

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
