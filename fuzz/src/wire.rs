//! Checksums written independently of the nodes' own (`ip::checksum`), to
//! check their output, and the fix-ups that let the fuzzer get past
//! checksum checks into the code behind them.

/// RFC 1071 sum of `d` added to `acc`, folded to 16 bits.
pub fn sum(d: &[u8], acc: u32) -> u16 {
    let mut s = acc as u64;
    for c in d.chunks(2) {
        s += u64::from(c[0]) << 8 | u64::from(c.get(1).copied().unwrap_or(0));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Whether `d` (checksum field included) sums to all ones.
pub fn valid(d: &[u8], acc: u32) -> bool {
    sum(d, acc) == 0xffff
}

/// The IPv6 pseudo-header sum for an upper-layer packet of `len` bytes.
pub fn pseudo6(ip: &[u8], proto: u8, len: usize) -> u32 {
    u32::from(sum(&ip[8..40], 0)) + u32::from(proto) + (len as u32 >> 16) + (len as u32 & 0xffff)
}

/// Writes the checksum at `at` so that `d` sums to all ones.
fn set(d: &mut [u8], at: usize, acc: u32) {
    if d.len() < at + 2 {
        return;
    }
    d[at] = 0;
    d[at + 1] = 0;
    let c = !sum(d, acc);
    d[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Fixes an IPv4 packet's header checksum and, for an unfragmented ICMP
/// packet, its ICMP checksum; or an IPv6 packet's ICMPv6 checksum. Lengths
/// are taken from the header, clipped to the bytes there are. Anything
/// else is left alone.
pub fn fix(p: &mut [u8]) {
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0xf) * 4;
            if ihl < 20 || ihl > p.len() {
                return;
            }
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl, p.len());
            let unfragmented = u16::from_be_bytes([p[6], p[7]]) & 0x3fff == 0;
            if p[9] == 1 && unfragmented {
                set(&mut p[ihl..total], 2, 0);
            }
            set(&mut p[..ihl], 10, 0);
        }
        Some(6) if p.len() >= 40 && p[6] == 58 => {
            let end = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
            let acc = pseudo6(p, 58, end - 40);
            set(&mut p[40..end], 2, acc);
        }
        _ => {}
    }
}

/// Where the L3 packet of an Ethernet frame starts (after up to two VLAN
/// tags), clipped to the frame.
pub fn l3_offset(f: &[u8]) -> usize {
    let mut at = 14;
    while at < 22 && f.len() >= at + 4 && matches!(u16::from_be_bytes([f[at - 2], f[at - 1]]), 0x8100 | 0x88a8) {
        at += 4;
    }
    at.min(f.len())
}
