//! The UDP header on the wire (RFC 768): a zero-copy view ([`UdpPacket`])
//! that checks the length field against the bytes it was given, the
//! checksum over the IPv4/IPv6 pseudo-header (RFC 768, RFC 8200 §8.1), and
//! the checksum of a datagram whose payload is in several pieces (a fifo
//! that wraps, a buffer chain).
//!
//! Panic contract: [`UdpPacket::new_checked`] validates once (8 bytes or
//! more, a length field from 8 to the bytes present); after it no accessor
//! panics. [`UdpPacket::new_unchecked`]'s accessors may panic on a buffer
//! shorter than the header.

use rvpp_dataplane::checksum;
use thiserror::Error;

/// The IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// The UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Why a datagram was refused; the input node counts each kind.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum UdpError {
    /// Fewer bytes than the header.
    #[error("{len} bytes are shorter than the 8-byte udp header")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// A length field below the header's 8 bytes.
    #[error("udp length {len} is below the header length")]
    LengthBelowHeader {
        /// The length field.
        len: u16,
    },
    /// A length field beyond the IP payload.
    #[error("udp length {len} exceeds the {present} bytes of ip payload")]
    LengthBeyondPayload {
        /// The length field.
        len: u16,
        /// Bytes present.
        present: usize,
    },
}

/// A view of a UDP header and what follows it.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view without checks (its accessors may panic).
    pub fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// A view of a header whose length field fits the bytes given.
    /// Bytes beyond the length field are allowed (link padding, a lying IP
    /// length) and ignored by [`UdpPacket::payload`] and the checksum.
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(UdpError::Truncated { len: b.len() });
        }
        let len = u16::from_be_bytes([b[4], b[5]]);
        if (len as usize) < HEADER_LEN {
            return Err(UdpError::LengthBelowHeader { len });
        }
        if len as usize > b.len() {
            return Err(UdpError::LengthBeyondPayload { len, present: b.len() });
        }
        Ok(UdpPacket { buffer })
    }

    fn get16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn src_port(&self) -> u16 {
        self.get16(field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        self.get16(field::DST_PORT)
    }

    /// The length field: header plus payload.
    pub fn len(&self) -> u16 {
        self.get16(field::LENGTH)
    }

    /// Whether the length field says no payload.
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        self.get16(field::CHECKSUM)
    }

    /// The datagram (header and payload) as the length field bounds it.
    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..(self.len() as usize).min(b.len())]
    }

    /// The payload as the length field bounds it.
    pub fn payload(&self) -> &[u8] {
        let d = self.datagram();
        &d[HEADER_LEN.min(d.len())..]
    }

    /// Checks the checksum over an IPv4 pseudo-header; a zero checksum
    /// means the sender computed none, which IPv4 allows.
    pub fn verify_checksum4(&self, src: &[u8; 4], dst: &[u8; 4]) -> bool {
        let d = self.datagram();
        self.checksum() == 0 || checksum::l4(checksum::pseudo4(src, dst, PROTO_UDP, d.len() as u16), d) == 0
    }

    /// Checks the checksum over an IPv6 pseudo-header; zero is invalid in
    /// IPv6 (RFC 8200 §8.1) and fails.
    pub fn verify_checksum6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        let d = self.datagram();
        self.checksum() != 0 && checksum::l4(checksum::pseudo6(src, dst, PROTO_UDP, d.len() as u32), d) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Writes the header: ports, length, zero checksum.
    pub fn set_header(&mut self, src_port: u16, dst_port: u16, len: u16) {
        let b = self.buffer.as_mut();
        b[field::SRC_PORT].copy_from_slice(&src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&dst_port.to_be_bytes());
        b[field::LENGTH].copy_from_slice(&len.to_be_bytes());
        b[field::CHECKSUM].fill(0);
    }

    /// Stores a checksum (from [`checksum_parts`]).
    pub fn set_checksum(&mut self, ck: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&ck.to_be_bytes());
    }
}

/// The UDP checksum of a datagram given as consecutive pieces (header with
/// a zero checksum field first) under a pseudo-header sum: pieces of odd
/// length shift the ones that follow by a byte, which the sum absorbs by a
/// byte swap (RFC 1071 §2(B)). A computed zero is sent as 0xffff.
pub fn checksum_parts(pseudo: u64, parts: &[&[u8]]) -> u16 {
    let mut acc = pseudo;
    let mut odd = false;
    for p in parts {
        if odd {
            acc += checksum::fold(checksum::sum(p, 0)).swap_bytes() as u64;
        } else {
            acc = checksum::sum(p, acc);
        }
        odd ^= p.len() & 1 == 1;
    }
    match !checksum::fold(acc) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 4] = [10, 0, 0, 2];
    const DST: [u8; 4] = [10, 0, 0, 1];

    /// A DNS-like query 10.0.0.2:33000 -> 10.0.0.1:53, checksum filled.
    fn datagram(payload: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 8 + payload.len()];
        d[8..].copy_from_slice(payload);
        let mut p = UdpPacket::new_unchecked(&mut d[..]);
        p.set_header(33000, 53, (8 + payload.len()) as u16);
        let (h, rest) = d.split_at(8);
        let ck = checksum_parts(checksum::pseudo4(&SRC, &DST, PROTO_UDP, (8 + rest.len()) as u16), &[h, rest]);
        UdpPacket::new_unchecked(&mut d[..]).set_checksum(ck);
        d
    }

    #[test]
    fn known_datagram_checksum() {
        // 10.0.0.2:33000 -> 10.0.0.1:53 "hi", summed by hand (RFC 768).
        let d = datagram(b"hi");
        assert_eq!(&d[..8], &[0x80, 0xe8, 0x00, 0x35, 0x00, 0x0a, 0x02, 0x51]);
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len(), p.payload()), (33000, 53, 10, &b"hi"[..]));
        assert!(p.verify_checksum4(&SRC, &DST));
        assert!(!p.verify_checksum4(&DST, &[10, 0, 0, 3]));
    }

    #[test]
    fn zero_checksum_is_none_in_ip4_and_invalid_in_ip6() {
        let mut d = datagram(b"payload");
        d[6..8].fill(0);
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert!(p.verify_checksum4(&SRC, &DST));
        assert!(!p.verify_checksum6(&[1; 16], &[2; 16]));
    }

    #[test]
    fn length_field_is_checked_against_the_bytes() {
        assert_eq!(UdpPacket::new_checked(&[0u8; 7][..]).unwrap_err(), UdpError::Truncated { len: 7 });
        let mut d = datagram(b"abcdef");
        d[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(UdpPacket::new_checked(&d[..]).unwrap_err(), UdpError::LengthBelowHeader { len: 7 });
        d[4..6].copy_from_slice(&15u16.to_be_bytes());
        assert_eq!(UdpPacket::new_checked(&d[..]).unwrap_err(), UdpError::LengthBeyondPayload { len: 15, present: 14 });
        // Shorter than the bytes: the rest is ignored (checksum included).
        let mut d = datagram(b"abc");
        d.extend_from_slice(&[0xee; 5]);
        let p = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(p.payload(), b"abc");
        assert!(p.verify_checksum4(&SRC, &DST));
    }

    #[test]
    fn pieces_of_any_length_sum_as_the_whole() {
        let whole: Vec<u8> = (0..301u32).map(|i| (i * 7 + 3) as u8).collect();
        let pseudo = checksum::pseudo6(&[0xfd; 16], &[0xfe; 16], PROTO_UDP, whole.len() as u32);
        let want = match checksum::l4(pseudo, &whole) {
            0 => 0xffff,
            c => c,
        };
        for a in 0..whole.len() {
            for b in [a, a + 1, a + 3, (a + 150).min(whole.len())] {
                let b = b.min(whole.len());
                let parts = [&whole[..a], &whole[a..b], &whole[b..]];
                assert_eq!(checksum_parts(pseudo, &parts), want, "cut at {a} and {b}");
            }
        }
    }
}
