//! The TCP header on the wire: a zero-copy view ([`TcpPacket`]) and its
//! parsed form ([`TcpRepr`]) with parse/emit, options (MSS, window scale,
//! SACK-permitted, SACK blocks, timestamps) and the checksum over the
//! IPv4/IPv6 pseudo-header.
//!
//! Panic contract: [`TcpPacket::new_checked`] validates the buffer once
//! (at least 20 bytes, data offset ≥ 5 and inside the buffer); after it, no
//! accessor panics. [`TcpPacket::new_unchecked`] skips that and its
//! accessors may panic on short buffers. [`TcpRepr::parse`] never panics:
//! every option is bounds-checked and an option running past the header is
//! an error. [`TcpRepr::emit`] needs a buffer of [`TcpRepr::header_len`]
//! bytes and panics otherwise (the caller sized it).

use super::seq::Seq;
use rvpp_dataplane::checksum;
use thiserror::Error;

/// The IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// The header without options.
pub const HEADER_LEN: usize = 20;
/// The largest options area (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;
/// SACK blocks one segment can carry at most.
pub const MAX_SACK_BLOCKS: usize = 4;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

mod option {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
}

/// Why a segment was refused; the input node counts each kind.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the fixed header.
    #[error("segment of {len} bytes is shorter than the 20-byte header")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// Data offset below 5 words or beyond the segment.
    #[error("data offset {words} words does not fit a {len}-byte segment")]
    BadDataOffset {
        /// The data offset field.
        words: u8,
        /// Bytes present.
        len: usize,
    },
    /// An option's length byte is missing or runs past the header.
    #[error("option {kind} at byte {at} overruns the header")]
    OptionOverrun {
        /// Option kind.
        kind: u8,
        /// Offset in the options area.
        at: usize,
    },
    /// A known option with the wrong length.
    #[error("option {kind} has length {len}")]
    BadOptionLength {
        /// Option kind.
        kind: u8,
        /// Its length byte.
        len: u8,
    },
    /// SYN+FIN, SYN+RST or no flag at all.
    #[error("illegal flag combination {flags:#04x}")]
    IllegalFlags {
        /// The flags byte.
        flags: u8,
    },
}

/// The TCP flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// FIN: no more data from the sender.
    pub const FIN: Flags = Flags(0x01);
    /// SYN: synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// RST: reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// PSH: push.
    pub const PSH: Flags = Flags(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x10);
    /// URG: the urgent pointer is significant.
    pub const URG: Flags = Flags(0x20);

    /// All bits of `f` set.
    pub fn contains(self, f: Flags) -> bool {
        self.0 & f.0 == f.0
    }
    /// FIN set.
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// Checks for combinations no valid segment carries.
    pub fn validate(self) -> Result<(), WireError> {
        let bad = (self.syn() && (self.fin() || self.rst())) || self.0 & 0x3f == 0;
        if bad {
            Err(WireError::IllegalFlags { flags: self.0 })
        } else {
            Ok(())
        }
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, o: Flags) -> Flags {
        Flags(self.0 | o.0)
    }
}

/// A read/write view of a TCP segment (header + payload).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps without checks (accessors may panic on a short buffer).
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps after checking the fixed header and the data offset.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        let len = p.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated { len });
        }
        let words = p.buffer.as_ref()[field::DATA_OFF] >> 4;
        if words < 5 || words as usize * 4 > len {
            return Err(WireError::BadDataOffset { words, len });
        }
        Ok(p)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32_at(&self, r: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    /// Sequence number.
    pub fn seq(&self) -> Seq {
        Seq(self.u32_at(field::SEQ))
    }
    /// Acknowledgment number.
    pub fn ack(&self) -> Seq {
        Seq(self.u32_at(field::ACK))
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) as usize * 4
    }
    /// Flags.
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }
    /// Raw (unscaled) window.
    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        self.u16_at(field::URGENT)
    }
    /// The options area.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Checks the checksum over an IPv4 pseudo-header.
    pub fn verify_checksum4(&self, src: &[u8; 4], dst: &[u8; 4]) -> bool {
        let b = self.buffer.as_ref();
        b.len() <= u16::MAX as usize && checksum::l4(checksum::pseudo4(src, dst, PROTO_TCP, b.len() as u16), b) == 0
    }

    /// Checks the checksum over an IPv6 pseudo-header.
    pub fn verify_checksum6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        let b = self.buffer.as_ref();
        checksum::l4(checksum::pseudo6(src, dst, PROTO_TCP, b.len() as u32), b) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Stores a checksum computed elsewhere (over a payload summed as it
    /// was copied, say).
    pub fn set_checksum(&mut self, ck: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&ck.to_be_bytes());
    }

    /// Computes and stores the checksum over an IPv4 pseudo-header.
    pub fn fill_checksum4(&mut self, src: &[u8; 4], dst: &[u8; 4]) {
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].fill(0);
        let ck = checksum::l4(checksum::pseudo4(src, dst, PROTO_TCP, b.len() as u16), b);
        b[field::CHECKSUM].copy_from_slice(&ck.to_be_bytes());
    }

    /// Computes and stores the checksum over an IPv6 pseudo-header.
    pub fn fill_checksum6(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].fill(0);
        let ck = checksum::l4(checksum::pseudo6(src, dst, PROTO_TCP, b.len() as u32), b);
        b[field::CHECKSUM].copy_from_slice(&ck.to_be_bytes());
    }
}

/// Up to four SACK blocks `[left, right)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackBlocks {
    blocks: [(Seq, Seq); MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// Appends a block; false when full.
    pub fn push(&mut self, left: Seq, right: Seq) -> bool {
        if self.len as usize >= MAX_SACK_BLOCKS {
            return false;
        }
        self.blocks[self.len as usize] = (left, right);
        self.len += 1;
        true
    }
    /// The blocks.
    pub fn as_slice(&self) -> &[(Seq, Seq)] {
        &self.blocks[..self.len as usize]
    }
    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// No block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A parsed TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: Seq,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: Seq,
    /// Flags.
    pub flags: Flags,
    /// Raw window field (the receiver applies the scale).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option (shift, capped to 14 on parse).
    pub wscale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks.
    pub sack: SackBlocks,
    /// Timestamps option (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
}

impl TcpRepr {
    /// Parses the header and its options (the payload is the packet's
    /// [`TcpPacket::payload`]). The checksum is not checked here.
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> Result<TcpRepr, WireError> {
        let flags = p.flags();
        flags.validate()?;
        let mut r = TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags,
            window: p.window(),
            urgent: p.urgent(),
            ..TcpRepr::default()
        };
        let opts = p.options();
        let mut i = 0;
        while i < opts.len() {
            let kind = opts[i];
            match kind {
                option::EOL => break,
                option::NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let Some(&len) = opts.get(i + 1) else {
                return Err(WireError::OptionOverrun { kind, at: i });
            };
            if len < 2 {
                return Err(WireError::BadOptionLength { kind, len });
            }
            let Some(body) = opts.get(i + 2..i + len as usize) else {
                return Err(WireError::OptionOverrun { kind, at: i });
            };
            let bad = WireError::BadOptionLength { kind, len };
            match kind {
                option::MSS => {
                    let [a, b] = body else { return Err(bad) };
                    r.mss = Some(u16::from_be_bytes([*a, *b]));
                }
                option::WSCALE => {
                    let [s] = body else { return Err(bad) };
                    r.wscale = Some((*s).min(14));
                }
                option::SACK_PERMITTED => {
                    if !body.is_empty() {
                        return Err(bad);
                    }
                    r.sack_permitted = true;
                }
                option::SACK => {
                    if body.is_empty() || body.len() % 8 != 0 || body.len() / 8 > MAX_SACK_BLOCKS {
                        return Err(bad);
                    }
                    for b in body.chunks_exact(8) {
                        let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        let rt = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        r.sack.push(Seq(l), Seq(rt));
                    }
                }
                option::TIMESTAMP => {
                    if body.len() != 8 {
                        return Err(bad);
                    }
                    let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    r.timestamp = Some((v, e));
                }
                _ => {}
            }
            i += len as usize;
        }
        Ok(r)
    }

    /// SACK blocks that fit next to the other options.
    fn sack_blocks_fitting(&self) -> usize {
        let other = self.options_len_without_sack();
        let room = MAX_OPTIONS_LEN.saturating_sub(other + 4);
        self.sack.len().min(room / 8)
    }

    fn options_len_without_sack(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.wscale.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() {
            n += 12; // NOP NOP TS, or SACK-permitted TS
        } else if self.sack_permitted {
            n += 4;
        }
        n
    }

    /// Header length including options (a multiple of 4, at most 60).
    pub fn header_len(&self) -> usize {
        let s = self.sack_blocks_fitting();
        HEADER_LEN + self.options_len_without_sack() + if s > 0 { 4 + 8 * s } else { 0 }
    }

    /// Writes the header into `buf[..header_len()]` with a zero checksum
    /// (fill it with [`TcpPacket::fill_checksum4`] once the payload is in).
    /// Returns the header length.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let hl = self.header_len();
        let b = &mut buf[..hl];
        b[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        b[field::SEQ].copy_from_slice(&self.seq.0.to_be_bytes());
        b[field::ACK].copy_from_slice(&self.ack.0.to_be_bytes());
        b[field::DATA_OFF] = ((hl / 4) as u8) << 4;
        b[field::FLAGS] = self.flags.0;
        b[field::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        b[field::CHECKSUM].fill(0);
        b[field::URGENT].copy_from_slice(&self.urgent.to_be_bytes());
        let mut o = HEADER_LEN;
        let mut put = |bytes: &[u8]| {
            b[o..o + bytes.len()].copy_from_slice(bytes);
            o += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[option::MSS, 4, m[0], m[1]]);
        }
        if let Some((v, e)) = self.timestamp {
            if self.sack_permitted {
                put(&[option::SACK_PERMITTED, 2]);
            } else {
                put(&[option::NOP, option::NOP]);
            }
            put(&[option::TIMESTAMP, 10]);
            put(&v.to_be_bytes());
            put(&e.to_be_bytes());
        } else if self.sack_permitted {
            put(&[option::NOP, option::NOP, option::SACK_PERMITTED, 2]);
        }
        if let Some(ws) = self.wscale {
            put(&[option::NOP, option::WSCALE, 3, ws]);
        }
        let s = self.sack_blocks_fitting();
        if s > 0 {
            put(&[option::NOP, option::NOP, option::SACK, 2 + 8 * s as u8]);
            for (l, r) in &self.sack.as_slice()[..s] {
                put(&l.0.to_be_bytes());
                put(&r.0.to_be_bytes());
            }
        }
        hl
    }

    /// Sequence space the segment occupies with `payload_len` data bytes
    /// (SYN and FIN count one each).
    pub fn seq_len(&self, payload_len: usize) -> u32 {
        payload_len as u32 + self.flags.syn() as u32 + self.flags.fin() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Linux SYN: 192.168.1.1:40000 -> 192.168.1.2:80, seq 0x01020304,
    // MSS 1460, SACK-permitted, TS (0x11223344, 0), NOP, WS 7.
    static SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x00, 0x00,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    ];
    const SRC: [u8; 4] = [192, 168, 1, 1];
    const DST: [u8; 4] = [192, 168, 1, 2];

    #[test]
    fn parses_a_syn() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.header_len(), 40);
        let r = TcpRepr::parse(&p).unwrap();
        assert_eq!((r.src_port, r.dst_port), (40000, 80));
        assert_eq!(r.seq, Seq(0x01020304));
        assert_eq!(r.flags, Flags::SYN);
        assert_eq!(r.window, 0xfaf0);
        assert_eq!(r.mss, Some(1460));
        assert!(r.sack_permitted);
        assert_eq!(r.timestamp, Some((0x11223344, 0)));
        assert_eq!(r.wscale, Some(7));
        assert!(p.payload().is_empty());
    }

    #[test]
    fn emit_parse_round_trip_with_checksum() {
        let mut r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: Seq(100),
            ack: Seq(200),
            flags: Flags::ACK | Flags::PSH,
            window: 512,
            timestamp: Some((5, 6)),
            ..Default::default()
        };
        for i in 0..4 {
            r.sack.push(Seq(1000 + i * 100), Seq(1050 + i * 100));
        }
        // TS takes 12 bytes, so only 3 of the 4 blocks fit in 40.
        assert_eq!(r.header_len(), 20 + 12 + 4 + 24);
        let mut buf = vec![0u8; r.header_len() + 3];
        let hl = r.emit(&mut buf);
        buf[hl..].copy_from_slice(b"abc");
        let mut p = TcpPacket::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum4(&SRC, &DST);
        assert!(p.verify_checksum4(&SRC, &DST));
        assert!(!p.verify_checksum4(&DST, &[1, 1, 1, 1]));
        let back = TcpRepr::parse(&p).unwrap();
        assert_eq!(back.sack.as_slice(), &r.sack.as_slice()[..3]);
        assert_eq!(back.timestamp, Some((5, 6)));
        assert_eq!(p.payload(), b"abc");
        let mut r3 = r;
        r3.sack = SackBlocks::default();
        for i in 0..3 {
            r3.sack.push(Seq(1000 + i * 100), Seq(1050 + i * 100));
        }
        assert_eq!(back, r3);
        // IPv6 too.
        let (s6, d6) = ([1u8; 16], [2u8; 16]);
        p.fill_checksum6(&s6, &d6);
        assert!(p.verify_checksum6(&s6, &d6));
        buf[hl] ^= 1;
        assert!(!TcpPacket::new_checked(&buf[..]).unwrap().verify_checksum6(&s6, &d6));
    }

    #[test]
    fn syn_round_trip() {
        let r = TcpRepr::parse(&TcpPacket::new_checked(&SYN[..]).unwrap()).unwrap();
        let mut buf = [0u8; 60];
        let hl = r.emit(&mut buf);
        assert_eq!(hl, 40);
        assert_eq!(TcpRepr::parse(&TcpPacket::new_checked(&buf[..hl]).unwrap()).unwrap(), r);
    }

    #[test]
    fn bad_data_offsets() {
        assert_eq!(TcpPacket::new_checked(&SYN[..19]).unwrap_err(), WireError::Truncated { len: 19 });
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), WireError::BadDataOffset { words: 4, len: 40 });
        b[12] = 0xb0;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap_err(), WireError::BadDataOffset { words: 11, len: 40 });
    }

    #[test]
    fn options_overrunning_the_header_are_errors() {
        let mut b = SYN;
        // Window scale claims 4 bytes where 2 remain.
        b[38] = 4;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p).unwrap_err(), WireError::OptionOverrun { kind: 3, at: 17 });
        // A lone kind byte at the end of the options.
        let mut b = SYN;
        b[36..40].copy_from_slice(&[1, 1, 1, 2]);
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).unwrap_err(),
            WireError::OptionOverrun { kind: 2, at: 19 }
        );
        // MSS with length 3; length 0 (would loop forever if accepted).
        let mut b = SYN;
        b[21] = 3;
        assert!(matches!(
            TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()),
            Err(WireError::OptionOverrun { .. } | WireError::BadOptionLength { .. })
        ));
        b[21] = 0;
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).unwrap_err(),
            WireError::BadOptionLength { kind: 2, len: 0 }
        );
        // SACK with 5 blocks (42 bytes, past the 40-byte area), a ragged
        // length; 4 blocks are fine.
        let mut seg = [0u8; 60];
        seg[12] = 0xf0;
        seg[13] = Flags::ACK.0;
        seg[20..22].copy_from_slice(&[5, 42]);
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_checked(&seg[..]).unwrap()).unwrap_err(),
            WireError::OptionOverrun { kind: 5, at: 0 }
        );
        seg[20..24].copy_from_slice(&[1, 1, 5, 13]);
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_checked(&seg[..]).unwrap()).unwrap_err(),
            WireError::BadOptionLength { kind: 5, len: 13 }
        );
        seg[23] = 34;
        assert_eq!(TcpRepr::parse(&TcpPacket::new_checked(&seg[..]).unwrap()).unwrap().sack.len(), 4);
    }

    #[test]
    fn unknown_options_skipped_and_eol_stops() {
        let mut b = SYN;
        // Replace "NOP WS 7" with an unknown 4-byte option.
        b[36..40].copy_from_slice(&[99, 4, 0xaa, 0xbb]);
        let r = TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.wscale, None);
        assert_eq!(r.mss, Some(1460));
        let mut b = SYN;
        b[24] = 0; // EOL before SACK-permitted: the rest is ignored
        let r = TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert!(!r.sack_permitted && r.timestamp.is_none() && r.mss == Some(1460));
    }

    #[test]
    fn illegal_flags() {
        for f in [0x03u8, 0x06, 0x00, 0xc0] {
            let mut b = SYN;
            b[13] = f;
            assert_eq!(
                TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).unwrap_err(),
                WireError::IllegalFlags { flags: f }
            );
        }
        assert!(Flags(0x12).validate().is_ok());
    }
}
