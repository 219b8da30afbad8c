//! Internet checksum arithmetic, shared by the protocol nodes and the
//! drivers that complete or generate checksums: the ones'-complement sum
//! (RFC 1071) with incremental update (RFC 1624), and the IPv4/IPv6
//! pseudo-header sums for TCP, UDP and ICMPv6.

/// One's-complement sum of `data` added to `acc` (not folded).
///
/// The bulk is summed as native-endian 32-bit words into a 64-bit
/// accumulator (a loop the compiler vectorizes: no byte swaps, no carries
/// to chase), folded, and turned to network order once at the end: the
/// ones'-complement sum commutes with byte swapping (RFC 1071 §2(B)). From
/// 64 bytes on the loop runs in the widest vectors the CPU has
/// ([`crate::arch::sum_words32`]): a segment's payload sums about twice as
/// fast with AVX2 as with the baseline's SSE2.
#[inline]
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let whole = data.len() & !3;
    let bulk = if whole >= 64 {
        crate::arch::sum_words32(&data[..whole])
    } else {
        crate::arch::sum_words32_baseline(&data[..whole])
    };
    let folded = fold(bulk);
    acc += if cfg!(target_endian = "little") { folded.swap_bytes() } else { folded } as u64;
    // The rest starts at a multiple of 4: an even offset, so network-order
    // 16-bit words still line up.
    let rest = &data[whole..];
    if rest.len() >= 2 {
        acc += u16::from_be_bytes([rest[0], rest[1]]) as u64;
    }
    if rest.len() & 1 == 1 {
        acc += (rest[rest.len() - 1] as u64) << 8;
    }
    acc
}

/// [`sum`] of one piece of data summed in pieces (the buffers of a chained
/// packet): `odd` when the piece starts at an odd offset of the whole, so
/// its first byte is the low byte of a 16-bit word. The piece's own sum is
/// byte-swapped then (ones'-complement addition commutes with the swap).
#[inline]
pub fn sum_at(data: &[u8], acc: u64, odd: bool) -> u64 {
    if odd {
        acc + fold(sum(data, 0)).swap_bytes() as u64
    } else {
        sum(data, acc)
    }
}

/// Copies `src` into `dst` (of the same length) and returns [`sum_at`] of
/// the copy: one call for a sender that checksums what it copies.
#[inline]
pub fn copy_sum_at(dst: &mut [u8], src: &[u8], acc: u64, odd: bool) -> u64 {
    dst.copy_from_slice(src);
    sum_at(dst, acc, odd)
}

/// Folds a sum to 16 bits (branch-free: four carries fold any u64).
#[inline(always)]
pub fn fold(acc: u64) -> u16 {
    let s = (acc & 0xffff_ffff) + (acc >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum field value for `data` (with its checksum field zeroed).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// Incrementally updates checksum `old_ck` when a 16-bit word changes from
/// `old` to `new` (RFC 1624 eqn. 3).
#[inline(always)]
pub fn update16(old_ck: u16, old: u16, new: u16) -> u16 {
    let s = (!old_ck as u32) + (!old as u32) + new as u32;
    let s = (s & 0xffff) + (s >> 16);
    !((s & 0xffff) + (s >> 16)) as u16
}

/// The IPv4 header checksum bytes after the TTL (the high byte of its
/// 16-bit word) drops by one: RFC 1624's `~(~HC + ~m + m')` with
/// `m' = m - 0x100` reduces to adding 0x100 with the end-around carry.
/// Ones'-complement addition commutes with a byte swap, so the sum is done
/// on the bytes as the host loads them (adding 1 on little-endian hosts).
#[inline(always)]
pub fn ttl_decremented(ck: [u8; 2]) -> [u8; 2] {
    let one = if cfg!(target_endian = "little") { 1 } else { 0x100 };
    let s = u16::from_ne_bytes(ck) as u32 + one;
    ((s + (s >> 16)) as u16).to_ne_bytes()
}

/// Pseudo-header sum for IPv4 (src, dst, protocol, L4 length).
pub fn pseudo4(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: u16) -> u64 {
    sum(src, 0) + sum(dst, 0) + proto as u64 + len as u64
}

/// Pseudo-header sum for IPv6 (src, dst, L4 length, next header).
pub fn pseudo6(src: &[u8; 16], dst: &[u8; 16], proto: u8, len: u32) -> u64 {
    sum(src, 0) + sum(dst, 0) + proto as u64 + (len >> 16) as u64 + (len & 0xffff) as u64
}

/// The L4 checksum of `l4` (checksum field zeroed) under a pseudo-header
/// sum. UDP's zero result is sent as 0xffff by the caller.
pub fn l4(pseudo: u64, l4: &[u8]) -> u16 {
    !fold(sum(l4, pseudo))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TTL shortcut equals recomputing the header checksum, for every
    /// TTL and a spread of headers (incl. one whose checksum is 0xfeff).
    #[test]
    fn ttl_decrement_matches_recompute() {
        for seed in 0u32..20_000 {
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[8] = (seed % 255) as u8 + 1;
            h[9] = (seed >> 8) as u8;
            h[12..16].copy_from_slice(&seed.wrapping_mul(2_654_435_761).to_be_bytes());
            h[16..20].copy_from_slice(&(!seed).to_be_bytes());
            let c = checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            let inc = u16::from_be_bytes(ttl_decremented(c.to_be_bytes()));
            h[8] -= 1;
            h[10..12].copy_from_slice(&[0, 0]);
            let full = checksum(&h);
            // Both are valid checksums of the same header: equal, or the
            // two zeros of ones' complement (never 0x0000 from the shortcut).
            assert!(inc == full || (inc == 0xffff && full == 0), "ttl {} ck {c:04x}: {inc:04x} vs {full:04x}", h[8]);
            assert_ne!(inc, 0);
        }
    }

    #[test]
    fn sum_matches_a_byte_at_a_time_reference_at_every_length_and_offset() {
        let reference = |d: &[u8]| -> u16 {
            let mut a = 0u64;
            for (k, &b) in d.iter().enumerate() {
                a += if k % 2 == 0 { (b as u64) << 8 } else { b as u64 };
            }
            !fold(a)
        };
        let mut x = 0x1234_5678_9abc_def0u64;
        let data: Vec<u8> = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for start in 0..8 {
            for len in (0..200).chain([1447, 1448, 1500, 2047, 2991]) {
                let d = &data[start..start + len];
                assert_eq!(checksum(d), reference(d), "start {start} len {len}");
            }
        }
        // All ones: sums that carry on every word.
        let ff = [0xffu8; 1501];
        assert_eq!(checksum(&ff), reference(&ff));
        assert_eq!(sum(&[0x12, 0x34], 0x1_0000), 0x1_1234, "acc is added, unfolded");
    }

    #[test]
    fn pieces_at_odd_offsets_sum_like_the_whole() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 37 + i / 7) as u8).collect();
        let whole = checksum(&data);
        for cuts in [[0usize, 1], [1, 2], [3, 500], [7, 8], [499, 1000], [500, 1001]] {
            let parts = [&data[..cuts[0]], &data[cuts[0]..cuts[1]], &data[cuts[1]..]];
            let (mut acc, mut at) = (0u64, 0usize);
            let mut copy = vec![0u8; data.len()];
            let mut acc2 = 0u64;
            for p in parts {
                acc = sum_at(p, acc, at % 2 == 1);
                acc2 = copy_sum_at(&mut copy[at..at + p.len()], p, acc2, at % 2 == 1);
                at += p.len();
            }
            assert_eq!(!fold(acc), whole, "cuts {cuts:?}");
            assert_eq!(!fold(acc2), whole, "cuts {cuts:?}");
            assert_eq!(copy, data);
        }
    }

    #[test]
    fn rfc1071_example() {
        // The RFC's example bytes sum to 0xddf2 (before complement).
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
    }

    #[test]
    fn ip4_header_checksum() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0, "a header with its checksum sums to zero");
    }

    #[test]
    fn incremental_matches_full() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        for _ in 0..64 {
            let old = u16::from_be_bytes([h[8], h[9]]);
            h[8] = h[8].wrapping_sub(1);
            let new = u16::from_be_bytes([h[8], h[9]]);
            let ck = update16(u16::from_be_bytes([h[10], h[11]]), old, new);
            h[10..12].copy_from_slice(&ck.to_be_bytes());
            let mut z = h;
            z[10] = 0;
            z[11] = 0;
            assert_eq!(checksum(&z), ck);
        }
    }

    #[test]
    fn fold_handles_any_sum() {
        for v in [0u64, 0xffff, 0x1_0000, 0x1_ffff, 0xffff_ffff, u64::MAX, 0x1234_5678_9abc_def0] {
            let mut slow = v;
            while slow >> 16 != 0 {
                slow = (slow & 0xffff) + (slow >> 16);
            }
            assert_eq!(fold(v), slow as u16, "{v:#x}");
        }
    }

    #[test]
    fn odd_lengths() {
        assert_eq!(fold(sum(&[0xab], 0)), 0xab00);
        assert_eq!(fold(sum(&[1, 2, 3], 0)), 0x0402);
        let v: Vec<u8> = (0..=255u8).collect();
        let slow: u64 = v.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64).sum();
        assert_eq!(fold(sum(&v, 0)), fold(slow));
    }
}
