//! What a NIC would have done for the kernel, done in software before a
//! packet enters the graph: finishing the L4 checksum of a
//! `CHECKSUM_PARTIAL` packet (veth leaves it to "the hardware": the
//! Internet checksum of TCP, UDP and the like, SCTP's CRC32c) and cutting a
//! GSO packet (up to 64 KiB of TCP or UDP, one skb on veth) into segments of
//! `gso_size` payload bytes, each with its own IP length, IPv4 id and
//! header checksum, TCP sequence number and flags, and L4 checksum.
//!
//! Headers are found by parsing the frame: Ethernet, up to two VLAN tags
//! (802.1Q, 802.1ad), IPv4 (with options) or IPv6 (with hop-by-hop and
//! destination-options headers), then TCP or UDP. Whatever this parser
//! cannot place falls back to the kernel's own description of the partial
//! checksum (`csum_start`/`csum_offset` from the virtio-net header), which is
//! exactly what `skb_checksum_help` completes.
//!
//! Panic contract: every function takes arbitrary bytes; a frame that does
//! not parse is reported (`None`/`false`) and left as it was.

/// Ethertypes and IP protocols this module looks at.
const ETH_IP4: u16 = 0x0800;
const ETH_IP6: u16 = 0x86dd;
const ETH_8021Q: u16 = 0x8100;
const ETH_8021AD: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
const IP6_HOP_BY_HOP: u8 = 0;
const IP6_ROUTING: u8 = 43;
const IP6_DST_OPTS: u8 = 60;
/// Where SCTP's checksum sits in its common header.
const SCTP_CSUM_OFFSET: usize = 8;

pub use rvpp_dataplane::checksum::{fold, sum as ones_sum};

/// The IPv4 header checksum of `hdr` (its own checksum field counted as 0).
pub fn ip4_header_checksum(hdr: &[u8]) -> u16 {
    let mut s = ones_sum(hdr, 0);
    if hdr.len() >= 12 {
        // Take the stored checksum back out.
        s += 0xffff - u16::from_be_bytes([hdr[10], hdr[11]]) as u64;
    }
    !fold(s)
}

/// The pseudo-header sum for an L4 segment of `len` bytes.
fn pseudo_sum(ip: &[u8], ip6: bool, proto: u8, len: usize) -> u64 {
    let addrs = if ip6 { ip.get(8..40) } else { ip.get(12..20) };
    ones_sum(addrs.unwrap_or(&[]), proto as u64 + len as u64)
}

/// The L4 checksum of a TCP or UDP segment `l4` (its checksum field counted
/// as 0) under the IP header `ip`. UDP's 0 is sent as 0xffff.
pub fn l4_checksum(ip: &[u8], ip6: bool, proto: u8, l4: &[u8]) -> u16 {
    let off = if proto == PROTO_TCP { 16 } else { 6 };
    let mut s = pseudo_sum(ip, ip6, proto, l4.len());
    s = ones_sum(l4, s);
    if l4.len() >= off + 2 {
        s += 0xffff - u16::from_be_bytes([l4[off], l4[off + 1]]) as u64;
    }
    let c = !fold(s);
    if proto == PROTO_UDP && c == 0 {
        0xffff
    } else {
        c
    }
}

/// Where a frame's headers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers {
    /// Offset of the IP header.
    pub l3: usize,
    pub ip6: bool,
    /// Offset of the TCP/UDP header.
    pub l4: usize,
    pub proto: u8,
    /// Length of the TCP/UDP header.
    pub l4_len: usize,
    /// End of the IP packet (frames may carry Ethernet padding after it).
    pub end: usize,
}

impl Headers {
    /// Offset of the L4 checksum field.
    pub fn csum_field(&self) -> usize {
        self.l4 + if self.proto == PROTO_TCP { 16 } else { 6 }
    }

    /// First payload byte.
    pub fn payload(&self) -> usize {
        self.l4 + self.l4_len
    }
}

/// The IP layer of a frame: (l3 offset, ip6, protocol, l4 offset, end of
/// the IP packet), for any protocol; `None` for non-IP frames, IPv4
/// fragments and truncated headers. IPv6 options headers are passed, and
/// routing headers too when `through_routing`.
fn parse_ip(pkt: &[u8], through_routing: bool) -> Option<(usize, bool, u8, usize, usize)> {
    let mut off = 12;
    let mut et = u16::from_be_bytes(pkt.get(off..off + 2)?.try_into().ok()?);
    let mut tags = 0;
    while matches!(et, ETH_8021Q | ETH_8021AD | ETH_QINQ_OLD) && tags < 2 {
        off += 4;
        et = u16::from_be_bytes(pkt.get(off..off + 2)?.try_into().ok()?);
        tags += 1;
    }
    let l3 = off + 2;
    let (ip6, proto, l4, end) = match et {
        ETH_IP4 => {
            let h = pkt.get(l3..l3 + 20)?;
            let ihl = (h[0] & 0x0f) as usize * 4;
            let total = u16::from_be_bytes([h[2], h[3]]) as usize;
            let frag = u16::from_be_bytes([h[6], h[7]]);
            if h[0] >> 4 != 4 || ihl < 20 || total < ihl || frag & 0x3fff != 0 {
                return None;
            }
            (false, h[9], l3 + ihl, l3 + total)
        }
        ETH_IP6 => {
            let h = pkt.get(l3..l3 + 40)?;
            if h[0] >> 4 != 6 {
                return None;
            }
            let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
            let mut nh = h[6];
            let mut at = l3 + 40;
            // Options headers only: a routing header changes the pseudo
            // header's destination and a fragment header splits the
            // segment, so those stop here as "another protocol" (unless
            // the caller needs no pseudo header).
            for _ in 0..4 {
                if nh != IP6_HOP_BY_HOP && nh != IP6_DST_OPTS && !(through_routing && nh == IP6_ROUTING) {
                    break;
                }
                let e = pkt.get(at..at + 2)?;
                nh = e[0];
                at += (e[1] as usize + 1) * 8;
            }
            (true, nh, at, l3 + 40 + plen)
        }
        _ => return None,
    };
    (end <= pkt.len() && l4 <= end).then_some((l3, ip6, proto, l4, end))
}

/// Parses Ethernet / VLAN / IP / TCP-or-UDP; `None` for anything else
/// (other protocols, IP fragments, IPv6 routing headers, truncated headers).
pub fn parse(pkt: &[u8]) -> Option<Headers> {
    let (l3, ip6, proto, l4, end) = parse_ip(pkt, false)?;
    let l4_len = match proto {
        PROTO_TCP => (*pkt.get(l4 + 12)? >> 4) as usize * 4,
        PROTO_UDP => 8,
        _ => return None,
    };
    let min = if proto == PROTO_TCP { 20 } else { 8 };
    (l4_len >= min && l4 + l4_len <= end).then_some(Headers { l3, ip6, l4, proto, l4_len, end })
}

/// Result of finishing a partial checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsumFix {
    /// TCP/UDP checksum computed from the pseudo header up.
    Computed,
    /// Completed at the kernel's `csum_start`/`csum_offset` (tunnels and
    /// other protocols using the Internet checksum).
    Completed,
    /// SCTP's CRC32c computed.
    Crc32c,
    /// Nothing could be done (not parsed, no or bad offsets).
    Unresolved,
}

/// CRC-32C (Castagnoli: RFC 3309, SCTP's checksum in RFC 4960 appendix B):
/// the reflected polynomial 0x1edc6f41 (0x82f63b78), all-ones initial value
/// and final complement. SCTP sends the value least significant byte first
/// (`to_le_bytes`). Eight bytes per step through eight tables (slicing by
/// 8), computed at build time.
pub fn crc32c(data: &[u8]) -> u32 {
    let t = &CRC32C_TABLES;
    let mut c = !0u32;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let lo = c ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        c = t[7][lo as u8 as usize]
            ^ t[6][(lo >> 8) as u8 as usize]
            ^ t[5][(lo >> 16) as u8 as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][w[4] as usize]
            ^ t[2][w[5] as usize]
            ^ t[1][w[6] as usize]
            ^ t[0][w[7] as usize];
    }
    for &b in words.remainder() {
        c = t[0][(c as u8 ^ b) as usize] ^ (c >> 8);
    }
    !c
}

/// `CRC32C_TABLES[k][b]`: the CRC register after byte `b` then `k` zero
/// bytes.
static CRC32C_TABLES: [[u32; 256]; 8] = crc32c_tables();

const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82f6_3b78 } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let p = t[k - 1][i];
            t[k][i] = (p >> 8) ^ t[0][(p & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

/// Finishes the L4 checksum of a `CHECKSUM_PARTIAL` frame in place.
/// `partial` is the kernel's (`csum_start`, `csum_offset`) relative to the
/// frame start, when known.
///
/// TCP and UDP found by the parser are computed whole. SCTP (behind IPv4,
/// or IPv6 with options and routing headers) gets its CRC32c (RFC 4960
/// §6.8: over the SCTP packet with the field zeroed, stored least
/// significant byte first) at the kernel's offsets or, without them, in its
/// common header. Anything else is completed as `skb_checksum_help` does,
/// from the kernel's offsets with the Internet checksum: the kernel marks
/// only SCTP's checksum as not an Internet one (`csum_not_inet`).
pub fn complete_checksum(pkt: &mut [u8], partial: Option<(usize, usize)>) -> CsumFix {
    let h = parse(pkt);
    if let Some(h) = h {
        // The parsed L4 header is the partial one (or the kernel did not
        // say): compute it whole.
        if partial.is_none_or(|(s, _)| s == h.l4) {
            let c = l4_checksum(&pkt[h.l3..h.l4], h.ip6, h.proto, &pkt[h.l4..h.end]);
            let f = h.csum_field();
            pkt[f..f + 2].copy_from_slice(&c.to_be_bytes());
            return CsumFix::Computed;
        }
    }
    if let Some((_, _, PROTO_SCTP, l4, end)) = parse_ip(pkt, true) {
        let (start, off) = partial.unwrap_or((l4, SCTP_CSUM_OFFSET));
        if start == l4 {
            return complete_crc32c(&mut pkt[..end], start, off);
        }
    }
    let Some((start, off)) = partial else { return CsumFix::Unresolved };
    let Some(field) = start.checked_add(off).filter(|&f| f < pkt.len().saturating_sub(1) && start < pkt.len()) else {
        return CsumFix::Unresolved;
    };
    // skb_checksum_help: the field holds the pseudo-header sum; sum from
    // csum_start to the end and store the complement (0 as 0xffff).
    let end = h.map_or(pkt.len(), |h| h.end.max(field + 2));
    let c = !fold(ones_sum(&pkt[start..end], 0));
    let c = if c == 0 { 0xffff } else { c };
    pkt[field..field + 2].copy_from_slice(&c.to_be_bytes());
    CsumFix::Completed
}

/// SCTP's CRC32c of `pkt[start..]` (the SCTP packet to its IP end) into
/// the 4-byte field at `start + off`, which must lie inside it.
fn complete_crc32c(pkt: &mut [u8], start: usize, off: usize) -> CsumFix {
    let Some(f) = start.checked_add(off).filter(|f| f.checked_add(4).is_some_and(|e| e <= pkt.len())) else {
        return CsumFix::Unresolved;
    };
    pkt[f..f + 4].fill(0);
    let c = crc32c(&pkt[start..]);
    pkt[f..f + 4].copy_from_slice(&c.to_le_bytes());
    CsumFix::Crc32c
}

/// A GSO packet and how to cut it.
#[derive(Clone, Copy, Debug)]
pub struct Segmenter {
    pub h: Headers,
    /// Payload bytes per segment.
    pub mss: usize,
    /// Payload bytes in all.
    pub payload: usize,
}

impl Segmenter {
    /// Prepares to cut `pkt` (a whole GSO frame) into `gso_size` pieces of
    /// TCP (`tcp`) or UDP payload. `None` when the frame is not the kind the
    /// kernel said, or the size is 0.
    pub fn new(pkt: &[u8], tcp: bool, gso_size: u16) -> Option<Segmenter> {
        let h = parse_gso(pkt)?;
        let want = if tcp { PROTO_TCP } else { PROTO_UDP };
        if h.proto != want || gso_size == 0 {
            return None;
        }
        Some(Segmenter { h, mss: gso_size as usize, payload: h.end - h.payload() })
    }

    /// How many segments.
    pub fn count(&self) -> usize {
        self.payload.div_ceil(self.mss).max(1)
    }

    fn chunk(&self, k: usize) -> (usize, usize) {
        let start = (k * self.mss).min(self.payload);
        (start, (start + self.mss).min(self.payload) - start)
    }

    /// Bytes of segment `k`.
    pub fn len(&self, k: usize) -> usize {
        self.h.payload() + self.chunk(k).1
    }

    /// Writes segment `k` of `pkt` into `dst` (at least [`Self::len`]
    /// bytes): the headers with their lengths, id, sequence number, flags
    /// and checksums made right for this piece, then its payload. Returns
    /// the segment's length (0 when `dst` is too short).
    pub fn write(&self, pkt: &[u8], k: usize, dst: &mut [u8]) -> usize {
        let h = &self.h;
        let hl = h.payload();
        let (from, n) = self.chunk(k);
        let len = hl + n;
        if dst.len() < len || pkt.len() < h.end {
            return 0;
        }
        dst[..hl].copy_from_slice(&pkt[..hl]);
        dst[hl..len].copy_from_slice(&pkt[hl + from..hl + from + n]);
        let last = k + 1 >= self.count();
        let l3 = h.l3;
        let l4_total = len - h.l4;
        if h.ip6 {
            let plen = (len - l3 - 40) as u16;
            dst[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let ip = &mut dst[l3..h.l4];
            ip[2..4].copy_from_slice(&((len - l3) as u16).to_be_bytes());
            let id = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(k as u16);
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            let c = ip4_header_checksum(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let l4 = h.l4;
        if h.proto == PROTO_TCP {
            let seq = u32::from_be_bytes([dst[l4 + 4], dst[l4 + 5], dst[l4 + 6], dst[l4 + 7]]);
            dst[l4 + 4..l4 + 8].copy_from_slice(&seq.wrapping_add(from as u32).to_be_bytes());
            // FIN and PSH end the burst: last segment only. CWR answers the
            // congestion signal once: first segment only.
            if !last {
                dst[l4 + 13] &= !(0x01 | 0x08);
            }
            if k > 0 {
                dst[l4 + 13] &= !0x80;
            }
        } else {
            dst[l4 + 4..l4 + 6].copy_from_slice(&(l4_total as u16).to_be_bytes());
        }
        let c = l4_checksum(&dst[l3..l4], h.ip6, h.proto, &dst[l4..len]);
        let f = h.csum_field();
        dst[f..f + 2].copy_from_slice(&c.to_be_bytes());
        len
    }
}

/// [`parse`] for GSO frames, whose IP length fields may not describe the
/// whole frame (IPv4 says 0 beyond 64 KiB): the frame's end is the packet's.
fn parse_gso(pkt: &[u8]) -> Option<Headers> {
    parse(pkt).map(|h| Headers { end: pkt.len(), ..h })
}

#[cfg(test)]
mod tests;
