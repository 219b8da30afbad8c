//! memif control messages (protocol version 2) as byte arrays: every message
//! is 128 bytes, a little-endian `u16` type followed by the packed body of
//! that type. [`Msg::decode`] validates everything a peer controls (type,
//! version, names and secret NUL-terminated, sizes and ring geometry within
//! sane bounds) and never panics; [`Msg::encode`] writes the exact layout
//! DPDK's net_memif and libmemif read.
//!
//! Body layouts (offsets from the start of the message):
//! - HELLO: name[32] @2, min_version u16 @34, max_version u16 @36,
//!   max_region u16 @38, max_m2s_ring u16 @40, max_s2m_ring u16 @42,
//!   max_log2_ring_size u8 @44.
//! - INIT: version u16 @2, id u32 @4, mode u8 @8, secret[24] @9, name[32] @33.
//! - ADD_REGION: index u16 @2, size u64 @4 (memfd in SCM_RIGHTS).
//! - ADD_RING: flags u16 @2 (1 = S2M), index u16 @4, region u16 @6,
//!   offset u32 @8, log2_ring_size u8 @12, private_hdr_size u16 @13
//!   (eventfd in SCM_RIGHTS).
//! - CONNECT / CONNECTED: if_name[32] @2.
//! - DISCONNECT: code u32 @2, string[96] @6.

/// Size of every control message.
pub const MSG_SIZE: usize = 128;
/// Protocol version 2.0 (`major << 8 | minor`).
pub const VERSION: u16 = 0x0200;
/// The cookie at the start of every ring header.
pub const COOKIE: u32 = 0x3E31F20;
/// Length of name fields, NUL included.
pub const NAME_SIZE: usize = 32;
/// Length of the secret field, NUL included.
pub const SECRET_SIZE: usize = 24;
/// Length of a disconnect reason, NUL included.
pub const REASON_SIZE: usize = 96;
/// `ADD_RING` flag: the ring carries packets from client (slave) to server.
pub const RING_FLAG_S2M: u16 = 1;
/// Largest ring a peer may ask for (2^15 slots keeps u16 head/tail sound).
pub const MAX_LOG2_RING_SIZE: u8 = 15;
/// Largest region a peer may hand over (offsets are u32).
pub const MAX_REGION_SIZE: u64 = 1 << 32;

/// Message types.
pub mod msg_type {
    pub const ACK: u16 = 1;
    pub const HELLO: u16 = 2;
    pub const INIT: u16 = 3;
    pub const ADD_REGION: u16 = 4;
    pub const ADD_RING: u16 = 5;
    pub const CONNECT: u16 = 6;
    pub const CONNECTED: u16 = 7;
    pub const DISCONNECT: u16 = 8;
}

/// Interface modes (INIT `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ethernet,
    Ip,
    PuntInject,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ethernet => "ethernet",
            Mode::Ip => "ip",
            Mode::PuntInject => "punt-inject",
        }
    }
    fn code(self) -> u8 {
        match self {
            Mode::Ethernet => 0,
            Mode::Ip => 1,
            Mode::PuntInject => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub name: String,
    pub min_version: u16,
    pub max_version: u16,
    pub max_region: u16,
    pub max_m2s_ring: u16,
    pub max_s2m_ring: u16,
    pub max_log2_ring_size: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Init {
    pub version: u16,
    pub id: u32,
    pub mode: Mode,
    /// Empty when the peer sends none.
    pub secret: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddRing {
    /// True for a slave-to-master ring.
    pub s2m: bool,
    pub index: u16,
    pub region: u16,
    pub offset: u32,
    pub log2_ring_size: u8,
    pub private_hdr_size: u16,
}

/// One decoded control message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Ack,
    Hello(Hello),
    Init(Init),
    AddRegion { index: u16, size: u64 },
    AddRing(AddRing),
    Connect { if_name: String },
    Connected { if_name: String },
    Disconnect { code: u32, reason: String },
}

/// Why a message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("message of {0} bytes (expected 128)")]
    Length(usize),
    #[error("unknown message type {0}")]
    UnknownType(u16),
    #[error("{field} is not NUL-terminated")]
    NotTerminated { field: &'static str },
    #[error("unknown interface mode {0}")]
    Mode(u8),
    #[error("version range {min:#06x}-{max:#06x} is empty")]
    VersionRange { min: u16, max: u16 },
    #[error("region size {0} is out of range (1 byte to 4 GiB)")]
    RegionSize(u64),
    #[error("log2 ring size {0} is out of range (0-15)")]
    RingSize(u8),
    #[error("unknown ring flags {0:#x}")]
    RingFlags(u16),
}

fn u16_at(b: &[u8; MSG_SIZE], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8; MSG_SIZE], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8; MSG_SIZE], o: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(x)
}

/// A NUL-terminated string field of `len` bytes at `o`.
fn str_at(b: &[u8; MSG_SIZE], o: usize, len: usize, field: &'static str) -> Result<String, ProtoError> {
    let f = &b[o..o + len];
    let end = f.iter().position(|&c| c == 0).ok_or(ProtoError::NotTerminated { field })?;
    Ok(String::from_utf8_lossy(&f[..end]).into_owned())
}

/// Writes `s` into a `len`-byte field, cut (at a character boundary) so a
/// NUL always ends it.
fn put_str(b: &mut [u8; MSG_SIZE], o: usize, len: usize, s: &str) {
    let bytes = s.as_bytes();
    let mut n = bytes.len().min(len - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    b[o..o + n].copy_from_slice(&bytes[..n]);
}

impl Msg {
    /// The message's type number.
    pub fn kind(&self) -> u16 {
        match self {
            Msg::Ack => msg_type::ACK,
            Msg::Hello(_) => msg_type::HELLO,
            Msg::Init(_) => msg_type::INIT,
            Msg::AddRegion { .. } => msg_type::ADD_REGION,
            Msg::AddRing(_) => msg_type::ADD_RING,
            Msg::Connect { .. } => msg_type::CONNECT,
            Msg::Connected { .. } => msg_type::CONNECTED,
            Msg::Disconnect { .. } => msg_type::DISCONNECT,
        }
    }

    /// The message's name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Ack => "ACK",
            Msg::Hello(_) => "HELLO",
            Msg::Init(_) => "INIT",
            Msg::AddRegion { .. } => "ADD_REGION",
            Msg::AddRing(_) => "ADD_RING",
            Msg::Connect { .. } => "CONNECT",
            Msg::Connected { .. } => "CONNECTED",
            Msg::Disconnect { .. } => "DISCONNECT",
        }
    }

    /// Parses and validates one received message.
    pub fn decode(bytes: &[u8]) -> Result<Msg, ProtoError> {
        let b: &[u8; MSG_SIZE] = bytes.try_into().map_err(|_| ProtoError::Length(bytes.len()))?;
        let t = u16_at(b, 0);
        Ok(match t {
            msg_type::ACK => Msg::Ack,
            msg_type::HELLO => {
                let h = Hello {
                    name: str_at(b, 2, NAME_SIZE, "hello name")?,
                    min_version: u16_at(b, 34),
                    max_version: u16_at(b, 36),
                    max_region: u16_at(b, 38),
                    max_m2s_ring: u16_at(b, 40),
                    max_s2m_ring: u16_at(b, 42),
                    max_log2_ring_size: b[44],
                };
                if h.min_version > h.max_version {
                    return Err(ProtoError::VersionRange { min: h.min_version, max: h.max_version });
                }
                Msg::Hello(h)
            }
            msg_type::INIT => {
                let mode = match b[8] {
                    0 => Mode::Ethernet,
                    1 => Mode::Ip,
                    2 => Mode::PuntInject,
                    m => return Err(ProtoError::Mode(m)),
                };
                Msg::Init(Init {
                    version: u16_at(b, 2),
                    id: u32_at(b, 4),
                    mode,
                    secret: str_at(b, 9, SECRET_SIZE, "secret")?,
                    name: str_at(b, 33, NAME_SIZE, "init name")?,
                })
            }
            msg_type::ADD_REGION => {
                let size = u64_at(b, 4);
                if size == 0 || size > MAX_REGION_SIZE {
                    return Err(ProtoError::RegionSize(size));
                }
                Msg::AddRegion { index: u16_at(b, 2), size }
            }
            msg_type::ADD_RING => {
                let flags = u16_at(b, 2);
                if flags & !RING_FLAG_S2M != 0 {
                    return Err(ProtoError::RingFlags(flags));
                }
                let log2 = b[12];
                if log2 > MAX_LOG2_RING_SIZE {
                    return Err(ProtoError::RingSize(log2));
                }
                Msg::AddRing(AddRing {
                    s2m: flags & RING_FLAG_S2M != 0,
                    index: u16_at(b, 4),
                    region: u16_at(b, 6),
                    offset: u32_at(b, 8),
                    log2_ring_size: log2,
                    private_hdr_size: u16_at(b, 13),
                })
            }
            msg_type::CONNECT => Msg::Connect { if_name: str_at(b, 2, NAME_SIZE, "connect if_name")? },
            msg_type::CONNECTED => Msg::Connected { if_name: str_at(b, 2, NAME_SIZE, "connected if_name")? },
            msg_type::DISCONNECT => {
                // A reason filling all 96 bytes is cut rather than refused:
                // the connection is going away anyway.
                let f = &b[6..6 + REASON_SIZE];
                let end = f.iter().position(|&c| c == 0).unwrap_or(REASON_SIZE);
                Msg::Disconnect { code: u32_at(b, 2), reason: String::from_utf8_lossy(&f[..end]).into_owned() }
            }
            t => return Err(ProtoError::UnknownType(t)),
        })
    }

    /// The message's 128 bytes. Strings longer than their field are cut.
    pub fn encode(&self) -> [u8; MSG_SIZE] {
        let mut b = [0u8; MSG_SIZE];
        b[0..2].copy_from_slice(&self.kind().to_le_bytes());
        match self {
            Msg::Ack => {}
            Msg::Hello(h) => {
                put_str(&mut b, 2, NAME_SIZE, &h.name);
                b[34..36].copy_from_slice(&h.min_version.to_le_bytes());
                b[36..38].copy_from_slice(&h.max_version.to_le_bytes());
                b[38..40].copy_from_slice(&h.max_region.to_le_bytes());
                b[40..42].copy_from_slice(&h.max_m2s_ring.to_le_bytes());
                b[42..44].copy_from_slice(&h.max_s2m_ring.to_le_bytes());
                b[44] = h.max_log2_ring_size;
            }
            Msg::Init(i) => {
                b[2..4].copy_from_slice(&i.version.to_le_bytes());
                b[4..8].copy_from_slice(&i.id.to_le_bytes());
                b[8] = i.mode.code();
                put_str(&mut b, 9, SECRET_SIZE, &i.secret);
                put_str(&mut b, 33, NAME_SIZE, &i.name);
            }
            Msg::AddRegion { index, size } => {
                b[2..4].copy_from_slice(&index.to_le_bytes());
                b[4..12].copy_from_slice(&size.to_le_bytes());
            }
            Msg::AddRing(r) => {
                let flags = if r.s2m { RING_FLAG_S2M } else { 0 };
                b[2..4].copy_from_slice(&flags.to_le_bytes());
                b[4..6].copy_from_slice(&r.index.to_le_bytes());
                b[6..8].copy_from_slice(&r.region.to_le_bytes());
                b[8..12].copy_from_slice(&r.offset.to_le_bytes());
                b[12] = r.log2_ring_size;
                b[13..15].copy_from_slice(&r.private_hdr_size.to_le_bytes());
            }
            Msg::Connect { if_name } | Msg::Connected { if_name } => put_str(&mut b, 2, NAME_SIZE, if_name),
            Msg::Disconnect { code, reason } => {
                b[2..6].copy_from_slice(&code.to_le_bytes());
                put_str(&mut b, 6, REASON_SIZE, reason);
            }
        }
        b
    }
}

/// One ring descriptor (16 bytes): flags u16, region u16, length u32,
/// offset u32, metadata u32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    pub flags: u16,
    pub region: u16,
    pub length: u32,
    pub offset: u32,
    pub metadata: u32,
}

/// Descriptor flag: the packet continues in the next slot.
pub const DESC_FLAG_NEXT: u16 = 1;
/// Size of a descriptor.
pub const DESC_SIZE: usize = 16;
/// Size of a ring header (cookie/flags/head line, tail line), descriptors follow.
pub const RING_HEADER_SIZE: usize = 128;
/// Offsets in the ring header.
pub const RING_COOKIE_OFF: usize = 0;
pub const RING_FLAGS_OFF: usize = 4;
pub const RING_HEAD_OFF: usize = 6;
pub const RING_TAIL_OFF: usize = 64;
/// Ring flag: the consumer polls, the producer need not signal the eventfd.
pub const RING_FLAG_MASK_INT: u16 = 1;

impl Desc {
    pub fn from_bytes(b: &[u8; DESC_SIZE]) -> Desc {
        Desc {
            flags: u16::from_le_bytes([b[0], b[1]]),
            region: u16::from_le_bytes([b[2], b[3]]),
            length: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            offset: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            metadata: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
    pub fn to_bytes(&self) -> [u8; DESC_SIZE] {
        let mut b = [0u8; DESC_SIZE];
        b[0..2].copy_from_slice(&self.flags.to_le_bytes());
        b[2..4].copy_from_slice(&self.region.to_le_bytes());
        b[4..8].copy_from_slice(&self.length.to_le_bytes());
        b[8..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.metadata.to_le_bytes());
        b
    }
}

/// Bytes a ring of 2^log2 slots takes (header + descriptors).
pub fn ring_bytes(log2: u8) -> usize {
    RING_HEADER_SIZE + DESC_SIZE * (1usize << log2)
}

/// Checks that a descriptor's buffer lies inside its region, given each
/// region's size: Some((region, offset, length)) when it does.
pub fn desc_in_bounds(d: &Desc, region_sizes: &[usize]) -> Option<(usize, usize, usize)> {
    let size = *region_sizes.get(d.region as usize)?;
    let (off, len) = (d.offset as usize, d.length as usize);
    let end = off.checked_add(len)?;
    (end <= size).then_some((d.region as usize, off, len))
}

/// Why a ring placement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("ring {index}: log2 size {log2} is larger than {max}")]
    Size { index: u16, log2: u8, max: u8 },
    #[error("ring {index}: region {region} does not exist")]
    NoRegion { index: u16, region: u16 },
    #[error("ring {index}: offset {offset} + {bytes} bytes leaves region {region} of {size} bytes")]
    Outside { index: u16, region: u16, offset: u32, bytes: usize, size: usize },
    #[error("ring {index}: offset {offset} is not 8-byte aligned")]
    Align { index: u16, offset: u32 },
    #[error("rings {a} and {b} overlap in region {region}")]
    Overlap { a: String, b: String, region: u16 },
}

/// A ring as a peer placed it: (name for messages, region, offset, log2).
#[derive(Clone, Debug)]
pub struct RingPlace {
    pub name: String,
    pub index: u16,
    pub region: u16,
    pub offset: u32,
    pub log2: u8,
}

/// Validates ring placements: each inside its region, aligned, no two
/// overlapping.
pub fn check_rings(rings: &[RingPlace], region_sizes: &[usize], max_log2: u8) -> Result<(), RingError> {
    for r in rings {
        if r.log2 > max_log2 {
            return Err(RingError::Size { index: r.index, log2: r.log2, max: max_log2 });
        }
        let size =
            *region_sizes.get(r.region as usize).ok_or(RingError::NoRegion { index: r.index, region: r.region })?;
        if !r.offset.is_multiple_of(8) {
            return Err(RingError::Align { index: r.index, offset: r.offset });
        }
        let bytes = ring_bytes(r.log2);
        if r.offset as usize + bytes > size {
            return Err(RingError::Outside { index: r.index, region: r.region, offset: r.offset, bytes, size });
        }
    }
    for (i, a) in rings.iter().enumerate() {
        for b in &rings[i + 1..] {
            let (a0, a1) = (a.offset as usize, a.offset as usize + ring_bytes(a.log2));
            let (b0, b1) = (b.offset as usize, b.offset as usize + ring_bytes(b.log2));
            if a.region == b.region && a0 < b1 && b0 < a1 {
                return Err(RingError::Overlap { a: a.name.clone(), b: b.name.clone(), region: a.region });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(m: Msg) {
        let b = m.encode();
        assert_eq!(Msg::decode(&b), Ok(m));
    }

    #[test]
    fn every_message_round_trips() {
        roundtrip(Msg::Ack);
        roundtrip(Msg::Hello(Hello {
            name: "rvpp".into(),
            min_version: VERSION,
            max_version: VERSION,
            max_region: 255,
            max_m2s_ring: 3,
            max_s2m_ring: 1,
            max_log2_ring_size: 14,
        }));
        roundtrip(Msg::Init(Init {
            version: VERSION,
            id: 7,
            mode: Mode::Ip,
            secret: "s3cret".into(),
            name: "DPDK 22.11".into(),
        }));
        roundtrip(Msg::AddRegion { index: 1, size: 4 << 20 });
        roundtrip(Msg::AddRing(AddRing {
            s2m: true,
            index: 2,
            region: 0,
            offset: 4096,
            log2_ring_size: 10,
            private_hdr_size: 0,
        }));
        roundtrip(Msg::Connect { if_name: "memif0/0".into() });
        roundtrip(Msg::Connected { if_name: "net_memif0".into() });
        roundtrip(Msg::Disconnect { code: 3, reason: "Incorrect secret".into() });
    }

    #[test]
    fn wire_layout_matches_the_c_structs() {
        let b =
            Msg::Init(Init { version: VERSION, id: 0x01020304, mode: Mode::Ip, secret: "ab".into(), name: "n".into() })
                .encode();
        assert_eq!(&b[..10], &[3, 0, 0x00, 0x02, 4, 3, 2, 1, 1, b'a']);
        assert_eq!(b[33], b'n');
        let r = Msg::AddRing(AddRing {
            s2m: true,
            index: 1,
            region: 2,
            offset: 0x100,
            log2_ring_size: 10,
            private_hdr_size: 0,
        })
        .encode();
        assert_eq!(&r[..15], &[5, 0, 1, 0, 1, 0, 2, 0, 0, 1, 0, 0, 10, 0, 0]);
        let d = Desc { flags: 1, region: 2, length: 3, offset: 4, metadata: 5 };
        assert_eq!(d.to_bytes(), [1, 0, 2, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(Desc::from_bytes(&d.to_bytes()), d);
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert_eq!(Msg::decode(&[0u8; 127]), Err(ProtoError::Length(127)));
        assert_eq!(Msg::decode(&[0u8; 129]), Err(ProtoError::Length(129)));
        assert_eq!(Msg::decode(&[0u8; 128]), Err(ProtoError::UnknownType(0)));
        let mut b = [0u8; 128];
        b[0] = 9;
        assert_eq!(Msg::decode(&b), Err(ProtoError::UnknownType(9)));
        // A name that fills its field with no NUL.
        let mut h = Msg::Hello(Hello {
            name: String::new(),
            min_version: VERSION,
            max_version: VERSION,
            max_region: 0,
            max_m2s_ring: 0,
            max_s2m_ring: 0,
            max_log2_ring_size: 10,
        })
        .encode();
        h[2..34].fill(b'x');
        assert_eq!(Msg::decode(&h), Err(ProtoError::NotTerminated { field: "hello name" }));
        h[2..34].fill(0);
        h[34..36].copy_from_slice(&0x0300u16.to_le_bytes());
        assert!(matches!(Msg::decode(&h), Err(ProtoError::VersionRange { .. })));
        let mut i =
            Msg::Init(Init { version: VERSION, id: 0, mode: Mode::Ethernet, secret: "".into(), name: "".into() })
                .encode();
        i[9..33].fill(b's');
        assert_eq!(Msg::decode(&i), Err(ProtoError::NotTerminated { field: "secret" }));
        i[9..33].fill(0);
        i[8] = 7;
        assert_eq!(Msg::decode(&i), Err(ProtoError::Mode(7)));
        let big = Msg::AddRegion { index: 0, size: 0 }.encode();
        assert_eq!(Msg::decode(&big), Err(ProtoError::RegionSize(0)));
        let mut big = Msg::AddRegion { index: 0, size: 1 }.encode();
        big[4..12].copy_from_slice(&(u64::MAX).to_le_bytes());
        assert_eq!(Msg::decode(&big), Err(ProtoError::RegionSize(u64::MAX)));
        let mut r = Msg::AddRing(AddRing {
            s2m: false,
            index: 0,
            region: 0,
            offset: 0,
            log2_ring_size: 0,
            private_hdr_size: 0,
        })
        .encode();
        r[12] = 40;
        assert_eq!(Msg::decode(&r), Err(ProtoError::RingSize(40)));
        r[12] = 10;
        r[2] = 6;
        assert_eq!(Msg::decode(&r), Err(ProtoError::RingFlags(6)));
    }

    #[test]
    fn long_strings_are_cut_to_stay_terminated() {
        let long = "x".repeat(100);
        let b = Msg::Connect { if_name: long }.encode();
        assert_eq!(Msg::decode(&b), Ok(Msg::Connect { if_name: "x".repeat(31) }));
        // Cut at a character boundary: 30 ASCII bytes then a 3-byte char.
        let s = format!("{}\u{fffd}", "y".repeat(30));
        let b = Msg::Connect { if_name: s }.encode();
        assert_eq!(Msg::decode(&b), Ok(Msg::Connect { if_name: "y".repeat(30) }));
    }

    fn place(name: &str, region: u16, offset: u32, log2: u8) -> RingPlace {
        RingPlace { name: name.into(), index: 0, region, offset, log2 }
    }

    #[test]
    fn ring_placements_are_checked() {
        let sizes = [ring_bytes(10) * 2, 4096];
        let ok = [place("s2m0", 0, 0, 10), place("m2s0", 0, ring_bytes(10) as u32, 10)];
        assert_eq!(check_rings(&ok, &sizes, 14), Ok(()));
        // Past the end of the region.
        let out = [place("s2m0", 0, ring_bytes(10) as u32 + 8, 10)];
        assert!(matches!(check_rings(&out, &sizes, 14), Err(RingError::Outside { .. })));
        // Offset near u32::MAX does not wrap.
        let wrap = [place("s2m0", 1, u32::MAX - 7, 0)];
        assert!(matches!(check_rings(&wrap, &sizes, 14), Err(RingError::Outside { .. })));
        // Overlapping.
        let ov = [place("s2m0", 0, 0, 10), place("m2s0", 0, 128, 4)];
        assert!(matches!(check_rings(&ov, &sizes, 14), Err(RingError::Overlap { .. })));
        // Same offsets in different regions do not overlap.
        let two = [place("s2m0", 0, 0, 4), place("m2s0", 1, 0, 4)];
        assert_eq!(check_rings(&two, &sizes, 14), Ok(()));
        // Absurd size, missing region, misaligned.
        assert!(matches!(check_rings(&[place("a", 0, 0, 15)], &sizes, 14), Err(RingError::Size { .. })));
        assert!(matches!(check_rings(&[place("a", 5, 0, 4)], &sizes, 14), Err(RingError::NoRegion { .. })));
        assert!(matches!(check_rings(&[place("a", 0, 4, 4)], &sizes, 14), Err(RingError::Align { .. })));
    }

    #[test]
    fn descriptors_are_checked_against_their_region() {
        let sizes = [4096usize, 100];
        let d = |region, offset, length| Desc { flags: 0, region, length, offset, metadata: 0 };
        assert_eq!(desc_in_bounds(&d(0, 2048, 2048), &sizes), Some((0, 2048, 2048)));
        assert_eq!(desc_in_bounds(&d(0, 2049, 2048), &sizes), None);
        assert_eq!(desc_in_bounds(&d(1, 0, 101), &sizes), None);
        assert_eq!(desc_in_bounds(&d(2, 0, 1), &sizes), None);
        assert_eq!(desc_in_bounds(&d(0, u32::MAX, u32::MAX), &sizes), None);
    }
}
