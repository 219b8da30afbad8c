//! `ip4-input` / `ip6-input`: validate the header against the frame, trim
//! Ethernet padding, and hand valid packets to the lookup. One node type,
//! generic over the family. Every malformed packet is a counted drop; an
//! expired TTL / hop limit gets an ICMP time-exceeded.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::Packets;
use rvpp_dataplane::device::ErrorDrop;
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

use super::icmp::{set_error, Icmp};
use super::{checksum, names};
use crate::ethernet::{ethertype, EtherTypes};

#[repr(u16)]
enum Next {
    Drop = 0,
    Lookup = 1,
    IcmpError = 2,
}

#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counter {
    Valid,
    TooShort,
    BadVersion,
    BadHeaderLength,
    BadLength,
    BadChecksum,
    Options,
    Expired,
    BadSource,
}

static COUNTERS4: [CounterDesc; 9] = [
    CounterDesc::info("valid ip4 packets"),
    CounterDesc::error("ip4 length < 20 bytes"),
    CounterDesc::error("ip4 version != 4"),
    CounterDesc::error("ip4 header length < 20 or > packet"),
    CounterDesc::error("ip4 length > l2 length or < header"),
    CounterDesc::error("ip4 header checksum error"),
    CounterDesc::error("ip4 options present (dropped)"),
    CounterDesc::error("ip4 ttl expired"),
    CounterDesc::error("ip4 bad source address"),
];

static COUNTERS6: [CounterDesc; 9] = [
    CounterDesc::info("valid ip6 packets"),
    CounterDesc::error("ip6 length < 40 bytes"),
    CounterDesc::error("ip6 version != 6"),
    CounterDesc::error("ip6 header length invalid"),
    CounterDesc::error("ip6 payload length > l2 length"),
    CounterDesc::error("ip6 checksum error"),
    CounterDesc::error("ip6 options"),
    CounterDesc::error("ip6 hop limit expired"),
    CounterDesc::error("ip6 bad source address"),
];

/// The ip-input node of one family.
pub struct IpInput<const IP6: bool> {
    nexts: [&'static str; 3],
}

impl<const IP6: bool> Default for IpInput<IP6> {
    fn default() -> Self {
        let n = names(IP6);
        IpInput { nexts: [ErrorDrop::NAME, n.lookup, n.icmp_error] }
    }
}

/// Validates one IPv4 header in `d` (the packet's first buffer from its IP
/// header on; `len` the whole packet's length); returns the IP total length
/// or the counter saying why not.
#[inline(always)]
fn check4(d: &[u8], len: usize) -> Result<usize, Counter> {
    if d.len() < 20 {
        return Err(Counter::TooShort);
    }
    if d[0] == 0x45 {
        // The common header: no options, checksum over five words.
        let w = |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]) as u64;
        let total = u16::from_be_bytes([d[2], d[3]]) as usize;
        if total < 20 || total > len {
            return Err(Counter::BadLength);
        }
        if checksum::fold(w(0) + w(4) + w(8) + w(12) + w(16)) != 0xffff {
            return Err(Counter::BadChecksum);
        }
        if d[12] >= 224 || (d[12..16] == [0, 0, 0, 0] && d[9] != super::proto::UDP) {
            return Err(Counter::BadSource);
        }
        if d[8] == 0 {
            return Err(Counter::Expired);
        }
        return Ok(total);
    }
    if d[0] >> 4 != 4 {
        return Err(Counter::BadVersion);
    }
    let ihl = (d[0] & 0xf) as usize * 4;
    if ihl < 20 || ihl > d.len() {
        return Err(Counter::BadHeaderLength);
    }
    let total = u16::from_be_bytes([d[2], d[3]]) as usize;
    if total < ihl || total > len {
        return Err(Counter::BadLength);
    }
    if checksum::fold(checksum::sum(&d[..ihl], 0)) != 0xffff {
        return Err(Counter::BadChecksum);
    }
    if ihl > 20 {
        return Err(Counter::Options);
    }
    let src = &d[12..16];
    if src[0] >= 224 || src == [0, 0, 0, 0] && d[9] != super::proto::UDP {
        return Err(Counter::BadSource);
    }
    if d[8] == 0 {
        return Err(Counter::Expired);
    }
    Ok(total)
}

/// The common IPv4 header (no options, not a fragment-of-zero-source
/// special case) validated with no branch per test: Some(total length) or
/// None for the full check to classify. `len` is the packet's length
/// (at least the 20 bytes of `h`).
#[inline(always)]
fn fast4(h: &[u8; 20], len: usize) -> Option<usize> {
    // Whole-word loads (the ranges are within the array: no check left).
    let w0 = u64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
    let w1 = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default());
    let w2 = u32::from_le_bytes(h[16..20].try_into().unwrap_or_default()) as u64;
    // The ones'-complement sum is all ones exactly when the plain sum of
    // the 16-bit words is a non-zero multiple of 0xffff. Summing 64-bit
    // words with end-around carry keeps the sum modulo 2^64 - 1, which
    // 0xffff divides; byte order only multiplies it by a unit modulo
    // 0xffff. The sum is zero only for an all-zero header (refused below).
    let (s, c) = w0.overflowing_add(w1);
    let (s, c2) = (s + c as u64).overflowing_add(w2);
    let sum = s + c2 as u64;
    let total = ((w0 >> 16) as u16).swap_bytes() as usize;
    // 20 <= total <= len in one compare (len >= 20 here).
    let ok = (w0 as u8 == 0x45)
        & (total.wrapping_sub(20) <= len.wrapping_sub(20))
        & multiple_of_ffff(sum)
        // The source neither 0.0.0.0 nor class D/E: 1 ..= 223.255.255.255.
        & (((w1 >> 32) as u32).swap_bytes().wrapping_sub(1) < 0xdfff_ffff)
        & (w1 as u8 != 0);
    ok.then_some(total)
}

/// The inverse of 0xffff modulo 2^64.
const INV_FFFF: u64 = 0xfffe_fffe_fffe_ffff;

/// Whether `x` is a multiple of 0xffff: multiplying by the inverse of an
/// odd number modulo 2^64 maps exactly its multiples onto 0..=MAX / it
/// (one multiply instead of a division).
#[inline(always)]
fn multiple_of_ffff(x: u64) -> bool {
    x.wrapping_mul(INV_FFFF) <= u64::MAX / 0xffff
}

/// The full IPv4 check, out of the loop's way.
#[cold]
#[inline(never)]
fn check4_cold(d: &[u8], len: usize) -> Result<usize, Counter> {
    check4(d, len)
}

#[inline(always)]
fn check6(d: &[u8], len: usize) -> Result<usize, Counter> {
    if d.len() < 40 {
        return Err(Counter::TooShort);
    }
    if d[0] >> 4 != 6 {
        return Err(Counter::BadVersion);
    }
    let total = 40 + u16::from_be_bytes([d[4], d[5]]) as usize;
    if total > len {
        return Err(Counter::BadLength);
    }
    if d[8] == 0xff {
        return Err(Counter::BadSource);
    }
    if d[7] == 0 {
        return Err(Counter::Expired);
    }
    Ok(total)
}

/// The fast loop over a frame: a packet whose first buffer holds its
/// whole length (no chain) and whose `N`-byte header `check` accepts has
/// its Ethernet padding trimmed and goes to the lookup; the others' places
/// are listed in `slow` (their count returned) for the full check.
#[inline(always)]
fn fast_loop<const N: usize>(
    pk: &mut Packets<'_>,
    frame: &mut Frame,
    slow: &mut [u16; FRAME_SIZE],
    check: impl Fn(&[u8; N], usize) -> Option<usize>,
) -> usize {
    let mut nslow = 0;
    // Set here for all; the full check sets the others'.
    frame.all_to(Next::Lookup as u16);
    // By index: one counter for the packet and its place.
    for k in 0..frame.pkts.len() {
        let bi = frame.pkts[k];
        if let Some((m, h)) = pk.head_mut::<N>(bi) {
            let total = check(h, m.current_length as usize);
            if let (Some(total), 0) = (total, m.total_length_not_including_first_buffer) {
                // Trim link-layer padding (a 60-byte minimum frame): the
                // total is at most the length.
                m.current_length = total as u16;
                m.l3_hdr_offset = m.current_data;
                continue;
            }
        }
        if let Some(x) = slow.get_mut(nslow) {
            *x = k as u16;
            nslow += 1;
        }
    }
    nslow
}

impl<const IP6: bool> Node for IpInput<IP6> {
    fn name(&self) -> &'static str {
        names(IP6).input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        if IP6 {
            &COUNTERS6
        } else {
            &COUNTERS4
        }
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let mut errs = [0u64; 9];
        let mut pk = vm.bufs.view();
        // The loop takes only the common header of an unchained packet,
        // with no call in it (so the frame's geometry stays in registers);
        // the rest wait here.
        let mut slow = [0u16; FRAME_SIZE];
        let nslow = if IP6 {
            fast_loop::<40>(&mut pk, frame, &mut slow, |h, len| check6(h, len).ok())
        } else {
            fast_loop::<20>(&mut pk, frame, &mut slow, fast4)
        };
        for &k in &slow[..nslow] {
            let k = k as usize;
            let (m, d) = pk.data_mut(frame.pkts[k]);
            let len = d.len() + m.total_length_not_including_first_buffer as usize;
            let r = if IP6 { check6(d, len) } else { check4_cold(d, len) };
            frame.nexts[k] = match r {
                // Only the IPv4 full check accepts what its fast one did not
                // (options aside: UDP from 0.0.0.0).
                Ok(total) => {
                    if d.len() > total && m.total_length_not_including_first_buffer == 0 {
                        m.current_length = total as u16;
                    }
                    m.l3_hdr_offset = m.current_data;
                    Next::Lookup as u16
                }
                Err(Counter::Expired) => {
                    errs[Counter::Expired as usize] += 1;
                    let (t, c) = if IP6 { Icmp::TIME_EXCEEDED6 } else { Icmp::TIME_EXCEEDED4 };
                    set_error(m, t, c, 0);
                    Next::IcmpError as u16
                }
                Err(c) => {
                    errs[c as usize] += 1;
                    Next::Drop as u16
                }
            };
        }
        let valid = frame.len() as u64 - errs.iter().sum::<u64>();
        for (k, &n) in errs.iter().enumerate() {
            if n > 0 {
                vm.count(k, n);
            }
        }
        vm.count(Counter::Valid as usize, valid);
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| super::icmp::format_ip_header(b.data(bi), IP6));
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    EtherTypes::add(r, ethertype::IP4, names(false).input);
    EtherTypes::add(r, ethertype::IP6, names(true).input);
    r.node(NodeReg { name: names(false).input, factory: Arc::new(|_| Box::new(IpInput::<false>::default())) });
    r.node(NodeReg { name: names(true).input, factory: Arc::new(|_| Box::new(IpInput::<true>::default())) });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rvpp_dataplane::testing::Harness;

    pub(crate) fn ip4(ttl: u8, proto: u8, payload: usize) -> Vec<u8> {
        let total = 20 + payload;
        let mut h =
            vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let c = checksum::checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.resize(total, 0xab);
        h
    }

    fn names_of(h: &Harness, n: &[u16]) -> Vec<String> {
        n.iter().map(|&x| h.next_name(x).to_string()).collect()
    }

    #[test]
    fn valid_and_malformed_ip4() {
        let mut h = Harness::new(Box::new(IpInput::<false>::default()), 2);
        let good = ip4(64, 17, 30);
        let mut padded = ip4(64, 17, 2);
        padded.resize(46, 0);
        let mut bad_ck = good.clone();
        bad_ck[10] ^= 1;
        let mut v5 = good.clone();
        v5[0] = 0x55;
        let mut ihl4 = good.clone();
        ihl4[0] = 0x44;
        let mut long = good.clone();
        long[3] = 200;
        let mut short_total = good.clone();
        short_total[2] = 0;
        short_total[3] = 10;
        let mut opts = ip4(64, 17, 30);
        opts[0] = 0x46;
        opts[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&opts[..24]);
        opts[10..12].copy_from_slice(&c.to_be_bytes());
        let ttl0 = ip4(0, 17, 10);
        let pkts: Vec<Vec<u8>> = vec![good, padded, bad_ck, v5, ihl4, long, short_total, vec![0x45; 10], opts, ttl0];
        let mut bis: Vec<_> = pkts.iter().map(|p| h.packet(p, 1)).collect();
        let n = h.run(&mut bis);
        assert_eq!(
            names_of(&h, &n),
            [
                "ip4-lookup",
                "ip4-lookup",
                "error-drop",
                "error-drop",
                "error-drop",
                "error-drop",
                "error-drop",
                "error-drop",
                "error-drop",
                "ip4-icmp-error"
            ]
        );
        assert_eq!(h.bytes(bis[1]).len(), 22, "padding trimmed");
        assert_eq!(h.counter("valid ip4 packets"), 2);
        assert_eq!(h.counter("ip4 header checksum error"), 1);
        assert_eq!(h.counter("ip4 version != 4"), 1);
        assert_eq!(h.counter("ip4 length < 20 bytes"), 1);
        assert_eq!(h.counter("ip4 ttl expired"), 1);
    }

    /// The branch-free fast check agrees with the full one on every header
    /// it accepts, and accepts every valid option-less header (checksums
    /// right and wrong, all TTLs, sources incl. 0.0.0.0 and class D/E).
    #[test]
    fn fast_check_agrees_with_full_check() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut accepted, mut valid) = (0, 0);
        for i in 0..200_000 {
            let r = next();
            let mut h = ip4((r >> 8) as u8 % 4, (r >> 16) as u8, (r >> 24) as usize % 40);
            if i % 3 == 0 {
                h[12] = [0, 224, 240, 10][(r >> 40) as usize % 4];
                if h[12] == 0 {
                    h[13..16].copy_from_slice(&[0, 0, 0]);
                }
                h[10..12].copy_from_slice(&[0, 0]);
                let c = checksum::checksum(&h[..20]);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            if i % 7 == 0 {
                h[(r >> 48) as usize % 20] ^= 1 << ((r >> 56) % 8);
            }
            let len = h.len() + (r >> 60) as usize % 3 * 10;
            let full = check4(&h, len);
            let fast = fast4(h[..20].try_into().unwrap(), len);
            if let Some(t) = fast {
                accepted += 1;
                assert_eq!(full, Ok(t), "fast accepted what the full check refuses: {h:02x?}");
            }
            if full.is_ok() {
                valid += 1;
                let zero_src_udp = h[12..16] == [0, 0, 0, 0];
                assert!(fast.is_some() || zero_src_udp, "fast refused a valid header: {h:02x?}");
            }
        }
        assert!(accepted > 50_000 && valid >= accepted, "{accepted} accepted, {valid} valid");
    }

    #[test]
    fn multiple_of_ffff_is_the_remainder_test() {
        assert_eq!(INV_FFFF.wrapping_mul(0xffff), 1);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for k in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for v in [x, k * 0xffff, x / 0xffff * 0xffff, k, u64::MAX - k] {
                assert_eq!(multiple_of_ffff(v), v % 0xffff == 0, "{v:#x}");
            }
        }
    }

    #[test]
    fn ip6_lengths() {
        let mut h = Harness::new(Box::new(IpInput::<true>::default()), 2);
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[5] = 8;
        p[7] = 64;
        p[8] = 0x20;
        let mut lie = p.clone();
        lie[5] = 200;
        let mut hop0 = p.clone();
        hop0[7] = 0;
        let mut bis = vec![h.packet(&p, 1), h.packet(&lie, 1), h.packet(&hop0, 1), h.packet(&p[..30], 1)];
        let n = h.run(&mut bis);
        assert_eq!(names_of(&h, &n), ["ip6-lookup", "error-drop", "ip6-icmp-error", "error-drop"]);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut h = Harness::new(Box::new(IpInput::<false>::default()), 2);
        let mut h6 = Harness::new(Box::new(IpInput::<true>::default()), 2);
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..300 {
            let mut v = Vec::new();
            let mut v6 = Vec::new();
            for _ in 0..16 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = (x % 90) as usize;
                let mut b: Vec<u8> = (0..len).map(|i| (x >> (i % 50)) as u8).collect();
                if let Some(f) = b.first_mut() {
                    *f = if x & 1 == 0 { 0x45 } else { 0x60 };
                }
                v.push(h.packet(&b, 1));
                v6.push(h6.packet(&b, 1));
            }
            h.run(&mut v);
            h6.run(&mut v6);
            h.vm.bufs.free(&v);
            h6.vm.bufs.free(&v6);
        }
    }
}
