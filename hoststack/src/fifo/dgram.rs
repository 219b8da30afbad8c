//! Datagrams through a byte [`Fifo`]: each datagram is a fixed
//! [`DGRAM_HEADER_LEN`]-byte header followed by its payload, so a reader
//! takes whole datagrams and never sees a boundary move. The header says
//! how long the payload is, who the peer is and which of our addresses the
//! datagram was sent to (rx) or is to leave from (tx), so a listener that
//! hears many peers can answer each one: an echo moves header and payload
//! unchanged from its rx fifo to its tx fifo.
//!
//! The layout is fixed and byte-order explicit because an external
//! application (the `@vpp/session` layer) reads and writes the same fifos
//! in shared memory; all multi-byte fields are big-endian:
//!
//! ```text
//!  0..2   payload length
//!  2..4   peer port
//!  4      family: 4 or 6
//!  5..8   zero
//!  8..12  interface (sw_if_index) it came in on / leaves by; u32::MAX: any
//! 12..28  peer address (IPv4: the first 4 bytes, the rest zero)
//! 28..44  local address (IPv4: the first 4 bytes; unspecified: the session's)
//! ```
//!
//! A fifo used for datagrams only ever holds whole datagrams: a writer
//! enqueues header and payload together or not at all
//! ([`Fifo::enqueue_dgram`]), a reader drops them whole. A head that is
//! not a valid header (only a misbehaving external app can write one) is
//! reported as [`DgramError::Malformed`]; the reader then discards the
//! fifo's contents. Nothing here panics on any input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use super::Fifo;

/// Bytes of header before each datagram's payload.
pub const DGRAM_HEADER_LEN: usize = 44;
/// The largest payload a header can describe.
pub const MAX_DGRAM_PAYLOAD: usize = u16::MAX as usize;

/// Why a datagram could not be queued or read.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum DgramError {
    /// Not enough free space for header and payload now.
    #[error("the fifo has no room for a {len}-byte datagram")]
    Full {
        /// Payload bytes asked for.
        len: usize,
    },
    /// Larger than a header can describe or than the fifo can ever hold.
    #[error("a {len}-byte datagram can never fit this fifo")]
    TooBig {
        /// Payload bytes asked for.
        len: usize,
    },
    /// The bytes at the head are not a datagram header (or promise more
    /// payload than the fifo holds).
    #[error("the fifo's head is not a datagram")]
    Malformed,
}

/// One datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DgramHeader {
    /// Payload bytes following the header.
    pub len: u16,
    /// The remote end: the source of a received datagram, the destination
    /// of one to send.
    pub peer: SocketAddr,
    /// Our address: the one a received datagram was sent to, the one to
    /// send from (unspecified: the session's own).
    pub local: IpAddr,
    /// The interface it came in on (rx), or the one the reply should be
    /// looked up from (tx); `u32::MAX` when unknown.
    pub sw_if_index: u32,
}

impl DgramHeader {
    /// The header's bytes.
    pub fn emit(&self) -> [u8; DGRAM_HEADER_LEN] {
        let mut h = [0u8; DGRAM_HEADER_LEN];
        h[0..2].copy_from_slice(&self.len.to_be_bytes());
        h[2..4].copy_from_slice(&self.peer.port().to_be_bytes());
        h[8..12].copy_from_slice(&self.sw_if_index.to_be_bytes());
        match self.peer.ip() {
            IpAddr::V4(p) => {
                h[4] = 4;
                h[12..16].copy_from_slice(&p.octets());
                if let IpAddr::V4(l) = self.local {
                    h[28..32].copy_from_slice(&l.octets());
                }
            }
            IpAddr::V6(p) => {
                h[4] = 6;
                h[12..28].copy_from_slice(&p.octets());
                if let IpAddr::V6(l) = self.local {
                    h[28..44].copy_from_slice(&l.octets());
                }
            }
        }
        h
    }

    /// Parses a header; None when the family byte is neither 4 nor 6.
    pub fn parse(h: &[u8; DGRAM_HEADER_LEN]) -> Option<DgramHeader> {
        let len = u16::from_be_bytes([h[0], h[1]]);
        let port = u16::from_be_bytes([h[2], h[3]]);
        let sw_if_index = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let (peer, local) = match h[4] {
            4 => {
                let p: [u8; 4] = h[12..16].try_into().ok()?;
                let l: [u8; 4] = h[28..32].try_into().ok()?;
                (IpAddr::V4(Ipv4Addr::from(p)), IpAddr::V4(Ipv4Addr::from(l)))
            }
            6 => {
                let p: [u8; 16] = h[12..28].try_into().ok()?;
                let l: [u8; 16] = h[28..44].try_into().ok()?;
                (IpAddr::V6(Ipv6Addr::from(p)), IpAddr::V6(Ipv6Addr::from(l)))
            }
            _ => return None,
        };
        Some(DgramHeader { len, peer: SocketAddr::new(peer, port), local, sw_if_index })
    }

    /// Header plus payload bytes in a fifo.
    pub fn total(&self) -> u32 {
        DGRAM_HEADER_LEN as u32 + self.len as u32
    }
}

/// A datagram read in place: its header and its payload as one or two
/// slices (the fifo may wrap under it).
pub type DgramView<'a> = (DgramHeader, (&'a [u8], &'a [u8]));

impl<S: AsRef<[u8]> + AsMut<[u8]>> Fifo<S> {
    /// Whether a datagram of `len` payload bytes fits now.
    pub fn dgram_fits(&self, len: usize) -> bool {
        len <= MAX_DGRAM_PAYLOAD && (DGRAM_HEADER_LEN + len) as u64 <= self.free() as u64
    }

    /// Queues one datagram whose payload is `parts` concatenated (its
    /// length replaces `h.len`), whole or not at all.
    pub fn enqueue_dgram(&mut self, h: &DgramHeader, parts: &[&[u8]]) -> Result<(), DgramError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_DGRAM_PAYLOAD || (DGRAM_HEADER_LEN + len) as u64 > self.size() as u64 {
            return Err(DgramError::TooBig { len });
        }
        if !self.dgram_fits(len) {
            return Err(DgramError::Full { len });
        }
        let h = DgramHeader { len: len as u16, ..*h };
        self.enqueue(&h.emit());
        for p in parts {
            self.enqueue(p);
        }
        Ok(())
    }

    /// The header of the datagram at the head; `Ok(None)` when empty.
    pub fn peek_dgram(&self) -> Result<Option<DgramHeader>, DgramError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut raw = [0u8; DGRAM_HEADER_LEN];
        if self.peek(0, &mut raw) < DGRAM_HEADER_LEN {
            return Err(DgramError::Malformed);
        }
        match DgramHeader::parse(&raw) {
            Some(h) if h.total() <= self.len() => Ok(Some(h)),
            _ => Err(DgramError::Malformed),
        }
    }

    /// The payload of the head datagram `h` (from [`Fifo::peek_dgram`]) as
    /// one or two slices.
    pub fn dgram_payload(&self, h: &DgramHeader) -> (&[u8], &[u8]) {
        self.peek_slices(DGRAM_HEADER_LEN as u32, h.len as u32)
    }

    /// Drops the head datagram; returns its header. A malformed head
    /// discards everything (the writer broke the framing).
    pub fn drop_dgram(&mut self) -> Result<Option<DgramHeader>, DgramError> {
        match self.peek_dgram() {
            Ok(Some(h)) => {
                self.drop_head(h.total());
                Ok(Some(h))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.drop_head(self.len());
                Err(e)
            }
        }
    }

    /// Takes the head datagram: its payload into `out` (cut to `out`'s
    /// length, the rest dropped, as `recv` does) and its header, whose
    /// `len` is the full payload length.
    pub fn dequeue_dgram(&mut self, out: &mut [u8]) -> Result<Option<(DgramHeader, usize)>, DgramError> {
        let h = match self.peek_dgram() {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.drop_head(self.len());
                return Err(e);
            }
        };
        let n = (h.len as usize).min(out.len());
        let got = self.peek(DGRAM_HEADER_LEN as u32, &mut out[..n]);
        self.drop_head(h.total());
        Ok(Some((h, got)))
    }

    /// Moves whole datagrams, headers unchanged, to `to` while they fit;
    /// returns (datagrams, payload bytes) moved. Stops at a malformed head
    /// (reported by the next [`Fifo::peek_dgram`]).
    pub fn move_dgrams<T: AsRef<[u8]> + AsMut<[u8]>>(&mut self, to: &mut Fifo<T>) -> (u32, u64) {
        let (mut n, mut bytes) = (0u32, 0u64);
        while let Ok(Some(h)) = self.peek_dgram() {
            if to.free() < h.total() {
                break;
            }
            let (a, b) = self.peek_slices(0, h.total());
            to.enqueue(a);
            to.enqueue(b);
            self.drop_head(h.total());
            n += 1;
            bytes += h.len as u64;
        }
        (n, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(peer: &str, local: &str) -> DgramHeader {
        DgramHeader { len: 0, peer: peer.parse().unwrap(), local: local.parse().unwrap(), sw_if_index: 3 }
    }

    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn header_round_trips_both_families_with_a_fixed_layout() {
        let h = DgramHeader { len: 1400, ..hdr("10.0.0.2:5353", "10.0.0.1") };
        let raw = h.emit();
        assert_eq!(&raw[0..5], &[0x05, 0x78, 0x14, 0xe9, 4]);
        assert_eq!(&raw[8..16], &[0, 0, 0, 3, 10, 0, 0, 2]);
        assert_eq!(&raw[28..32], &[10, 0, 0, 1]);
        assert!(raw[16..28].iter().chain(&raw[32..]).all(|&b| b == 0));
        assert_eq!(DgramHeader::parse(&raw), Some(h));
        let h6 = DgramHeader { len: 7, ..hdr("[fd00::2]:53", "fd00::1") };
        let raw6 = h6.emit();
        assert_eq!(raw6[4], 6);
        assert_eq!(DgramHeader::parse(&raw6), Some(h6));
        let mut bad = raw6;
        bad[4] = 5;
        assert_eq!(DgramHeader::parse(&bad), None);
    }

    #[test]
    fn datagrams_keep_their_boundaries_through_a_wrapping_fifo() {
        let mut f = Fifo::new(1000).unwrap();
        let h = hdr("10.0.0.2:4000", "10.0.0.1");
        let mut sent = std::collections::VecDeque::new();
        let mut got = 0;
        // Sizes 0..=300 in a 1000-byte ring: it wraps many times, and a
        // datagram's header or payload straddles the end now and then.
        for (k, n) in (0..2000usize).map(|k| (k, (k * 37) % 301)).collect::<Vec<_>>() {
            let p = payload(n, k as u8);
            // Split the payload in two parts, as a buffer chain is.
            let (a, b) = p.split_at(n / 3);
            match f.enqueue_dgram(&h, &[a, b]) {
                Ok(()) => sent.push_back(p),
                Err(DgramError::Full { len }) => {
                    assert_eq!(len, n);
                    assert!(!f.dgram_fits(n));
                    // Drain until it fits, then retry.
                    while !f.dgram_fits(n) {
                        let mut out = vec![0u8; 400];
                        let (rh, len) = f.dequeue_dgram(&mut out).unwrap().unwrap();
                        let want = sent.pop_front().unwrap();
                        assert_eq!((rh.len as usize, len), (want.len(), want.len()));
                        assert_eq!(&out[..len], &want[..]);
                        assert_eq!((rh.peer, rh.local, rh.sw_if_index), (h.peer, h.local, 3));
                        got += 1;
                    }
                    f.enqueue_dgram(&h, &[a, b]).unwrap();
                    sent.push_back(p);
                }
                Err(e) => panic!("{e}"),
            }
        }
        while let Some(want) = sent.pop_front() {
            let rh = f.peek_dgram().unwrap().unwrap();
            let (x, y) = f.dgram_payload(&rh);
            assert_eq!([x, y].concat(), want);
            assert_eq!(f.drop_dgram().unwrap(), Some(rh));
            got += 1;
        }
        assert_eq!(got, 2000);
        assert!(f.is_empty());
        assert_eq!(f.peek_dgram(), Ok(None));
        assert_eq!(f.drop_dgram(), Ok(None));
    }

    #[test]
    fn a_full_fifo_refuses_the_whole_datagram_and_a_huge_one_is_too_big() {
        let mut f = Fifo::new(200).unwrap();
        let h = hdr("[fd00::2]:1", "::");
        f.enqueue_dgram(&h, &[&payload(100, 1)]).unwrap();
        assert_eq!(f.len(), 144);
        // 56 free: a 12-byte payload fits, a 13-byte one does not and
        // leaves nothing behind.
        assert_eq!(f.enqueue_dgram(&h, &[&payload(13, 2)]), Err(DgramError::Full { len: 13 }));
        assert_eq!(f.len(), 144);
        f.enqueue_dgram(&h, &[&payload(12, 3)]).unwrap();
        assert_eq!(f.free(), 0);
        assert_eq!(f.enqueue_dgram(&h, &[]), Err(DgramError::Full { len: 0 }));
        assert_eq!(f.enqueue_dgram(&h, &[&payload(157, 0)]), Err(DgramError::TooBig { len: 157 }));
        let big = vec![0u8; MAX_DGRAM_PAYLOAD + 1];
        let mut g = Fifo::new(1 << 20).unwrap();
        assert_eq!(g.enqueue_dgram(&h, &[&big]), Err(DgramError::TooBig { len: MAX_DGRAM_PAYLOAD + 1 }));
        g.enqueue_dgram(&h, &[&big[1..]]).unwrap();
        assert_eq!(g.peek_dgram().unwrap().unwrap().len as usize, MAX_DGRAM_PAYLOAD);
    }

    #[test]
    fn dequeue_cuts_to_the_buffer_and_drops_the_rest() {
        let mut f = Fifo::new(512).unwrap();
        let h = hdr("10.0.0.2:9", "0.0.0.0");
        f.enqueue_dgram(&h, &[&payload(50, 9)]).unwrap();
        f.enqueue_dgram(&h, &[&payload(5, 4)]).unwrap();
        let mut out = [0u8; 20];
        let (rh, n) = f.dequeue_dgram(&mut out).unwrap().unwrap();
        assert_eq!((rh.len, n), (50, 20));
        assert_eq!(&out[..], &payload(50, 9)[..20]);
        let (rh, n) = f.dequeue_dgram(&mut out).unwrap().unwrap();
        assert_eq!((rh.len, n), (5, 5));
        assert_eq!(&out[..5], &payload(5, 4)[..]);
    }

    #[test]
    fn a_malformed_head_is_reported_and_discarded() {
        let mut f = Fifo::new(256).unwrap();
        // A header promising more than the fifo holds.
        let mut raw = DgramHeader { len: 100, ..hdr("10.0.0.2:9", "0.0.0.0") }.emit();
        f.enqueue(&raw);
        f.enqueue(&[1, 2, 3]);
        assert_eq!(f.peek_dgram(), Err(DgramError::Malformed));
        let mut out = [0u8; 8];
        assert_eq!(f.dequeue_dgram(&mut out), Err(DgramError::Malformed));
        assert!(f.is_empty());
        // A bad family; and fewer bytes than a header.
        raw[4] = 0;
        f.enqueue(&raw);
        assert_eq!(f.drop_dgram(), Err(DgramError::Malformed));
        assert!(f.is_empty());
        f.enqueue(&[4; 10]);
        assert_eq!(f.peek_dgram(), Err(DgramError::Malformed));
    }

    #[test]
    fn move_takes_whole_datagrams_while_they_fit() {
        let mut rx = Fifo::new(1024).unwrap();
        let mut tx = Fifo::new(150).unwrap();
        let h = hdr("10.0.0.2:7", "10.0.0.1");
        for n in [10, 20, 30] {
            rx.enqueue_dgram(&h, &[&payload(n, n as u8)]).unwrap();
        }
        // 54 + 64 fit in 150; the third (74) waits.
        assert_eq!(rx.move_dgrams(&mut tx), (2, 30));
        assert_eq!(tx.len(), 118);
        assert_eq!(rx.peek_dgram().unwrap().unwrap().len, 30);
        let mut out = [0u8; 64];
        assert_eq!(tx.dequeue_dgram(&mut out).unwrap().unwrap(), (DgramHeader { len: 10, ..h }, 10));
        assert_eq!(&out[..10], &payload(10, 10)[..]);
        assert_eq!(rx.move_dgrams(&mut tx), (1, 30));
        assert!(rx.is_empty());
    }
}
