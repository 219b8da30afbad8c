//! The byte layout of TPACKET_V2 ring frames and of the virtio-net header
//! the kernel puts before each packet (`PACKET_VNET_HDR`), read and written
//! over plain byte slices so that it is tested with byte fixtures and never
//! touches the ring itself (that is `sys`'s job).
//!
//! Panic contract: every function here takes any slice, however short or
//! inconsistent its fields, and answers `None` (or does nothing) rather than
//! index out of bounds.
//!
//! An rx frame, as `tpacket_rcv` fills it (`mac` and `net` are offsets from
//! the frame start):
//!
//! ```text
//! 0        32             52          mac-10      mac                mac+snaplen
//! | hdr v2 | sockaddr_ll  | (padding) | vnet hdr  | ethernet frame ... |
//! ```
//!
//! A tx frame carries the packet at [`TX_DATA_OFFSET`] and its length in the
//! header's `tp_len`.

use std::ops::Range;

/// `tp_status` bits of an rx frame.
pub mod status {
    /// The frame belongs to the kernel (rx).
    pub const KERNEL: u32 = 0;
    /// The frame holds a packet for user space (rx).
    pub const USER: u32 = 1 << 0;
    /// The packet did not fit; the whole of it waits on the socket's receive
    /// queue for `recvmsg` (`PACKET_COPY_THRESH`).
    pub const COPY: u32 = 1 << 1;
    /// The kernel dropped packets since the statistics were last read.
    pub const LOSING: u32 = 1 << 2;
    /// The L4 checksum is left for offload (`CHECKSUM_PARTIAL`): veth.
    pub const CSUMNOTREADY: u32 = 1 << 3;
    /// `tp_vlan_tci` holds a tag the kernel took out of the frame.
    pub const VLAN_VALID: u32 = 1 << 4;
    /// `tp_vlan_tpid` holds the tag's TPID.
    pub const VLAN_TPID_VALID: u32 = 1 << 6;
    /// The checksum was verified (by hardware or the kernel).
    pub const CSUM_VALID: u32 = 1 << 7;

    /// A tx frame user space may fill.
    pub const AVAILABLE: u32 = 0;
    /// A tx frame handed to the kernel to send.
    pub const SEND_REQUEST: u32 = 1 << 0;
    /// A tx frame the kernel is sending.
    pub const SENDING: u32 = 1 << 1;
    /// A tx frame the kernel refused (malformed); user space owns it again.
    pub const WRONG_FORMAT: u32 = 1 << 2;
}

/// `sizeof(struct tpacket2_hdr)`, already a multiple of 16.
pub const V2_HDR_LEN: usize = 32;
/// Offset of the `sockaddr_ll` in an rx frame.
pub const SLL_OFFSET: usize = V2_HDR_LEN;
/// `sizeof(struct sockaddr_ll)`.
pub const SLL_LEN: usize = 20;
/// `TPACKET2_HDRLEN`: what a frame needs before any packet data.
pub const V2_HDRLEN: usize = V2_HDR_LEN + SLL_LEN;
/// Where a tx frame's packet starts (`tp_hdrlen - sizeof(sockaddr_ll)`).
pub const TX_DATA_OFFSET: usize = V2_HDRLEN - SLL_LEN;
/// `sizeof(struct virtio_net_hdr)`.
pub const VNET_HDR_LEN: usize = 10;
/// Bytes a reinserted 802.1Q tag adds in front of the ethertype.
pub const VLAN_TAG_LEN: usize = 4;

/// `sll_pkttype` of a packet the host itself sent.
pub const PACKET_OUTGOING: u8 = 4;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// The header of one rx frame (`struct tpacket2_hdr` + `sll_pkttype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxDesc {
    pub status: u32,
    /// Length of the packet on the wire.
    pub len: u32,
    /// Bytes of it in the frame.
    pub snaplen: u32,
    /// Offset of the Ethernet header from the frame start.
    pub mac: u16,
    pub vlan_tci: u16,
    pub vlan_tpid: u16,
    pub pkttype: u8,
}

impl RxDesc {
    /// Reads the header of a frame; `None` when the frame is too short to
    /// hold one.
    pub fn parse(frame: &[u8]) -> Option<RxDesc> {
        if frame.len() < V2_HDRLEN {
            return None;
        }
        Some(RxDesc {
            status: u32_at(frame, 0)?,
            len: u32_at(frame, 4)?,
            snaplen: u32_at(frame, 8)?,
            mac: u16_at(frame, 12)?,
            vlan_tci: u16_at(frame, 24)?,
            vlan_tpid: u16_at(frame, 26)?,
            pkttype: *frame.get(SLL_OFFSET + 10)?,
        })
    }

    /// The packet bytes inside a frame of `frame_len` bytes, if the header's
    /// offsets are consistent with it.
    pub fn data_range(&self, frame_len: usize) -> Option<Range<usize>> {
        let start = self.mac as usize;
        let end = start.checked_add(self.snaplen as usize)?;
        (start >= V2_HDRLEN && end <= frame_len).then_some(start..end)
    }

    /// Where the virtio-net header sits (just before the Ethernet header).
    pub fn vnet_range(&self) -> Option<Range<usize>> {
        let mac = self.mac as usize;
        (mac >= V2_HDRLEN + VNET_HDR_LEN).then(|| mac - VNET_HDR_LEN..mac)
    }

    /// A packet the host sent, seen by the tap on its way out.
    pub fn is_outgoing(&self) -> bool {
        self.pkttype == PACKET_OUTGOING
    }

    /// The kernel cut the packet to fit the frame.
    pub fn is_truncated(&self) -> bool {
        self.len > self.snaplen
    }

    /// The VLAN tag the kernel took out of the frame, as the 4 bytes to put
    /// back after the source MAC.
    pub fn vlan_tag(&self) -> Option<[u8; 4]> {
        vlan_tag(self.status, self.vlan_tci, self.vlan_tpid)
    }
}

/// The tag bytes (TPID, TCI) for a `VLAN_VALID` status.
pub fn vlan_tag(st: u32, tci: u16, tpid: u16) -> Option<[u8; 4]> {
    if st & status::VLAN_VALID == 0 {
        return None;
    }
    let tpid = if st & status::VLAN_TPID_VALID != 0 && tpid != 0 { tpid } else { 0x8100 };
    let (p, t) = (tpid.to_be_bytes(), tci.to_be_bytes());
    Some([p[0], p[1], t[0], t[1]])
}

/// `gso_type` values of a virtio-net header.
pub mod gso {
    pub const NONE: u8 = 0;
    pub const TCPV4: u8 = 1;
    pub const UDP: u8 = 3;
    pub const TCPV6: u8 = 4;
    pub const UDP_L4: u8 = 5;
    /// Flag: the TCP stream uses ECN (CWR only on the first segment).
    pub const ECN: u8 = 0x80;
}

/// `flags` bits of a virtio-net header.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
pub const VNET_F_DATA_VALID: u8 = 2;

/// `struct virtio_net_hdr` (host byte order, as packet sockets write it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        if b.len() < VNET_HDR_LEN {
            return None;
        }
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(b, 2)?,
            gso_size: u16_at(b, 4)?,
            csum_start: u16_at(b, 6)?,
            csum_offset: u16_at(b, 8)?,
        })
    }

    /// The GSO kind without the ECN flag.
    pub fn gso_kind(&self) -> u8 {
        self.gso_type & !gso::ECN
    }

    pub fn is_gso(&self) -> bool {
        self.gso_kind() != gso::NONE
    }

    pub fn needs_csum(&self) -> bool {
        self.flags & VNET_F_NEEDS_CSUM != 0
    }

    /// The header that hands the kernel `frame` (an Ethernet frame holding
    /// one TCP super-segment over IPv4 or IPv6, VLAN tagged or not) to cut
    /// into segments of `gso_size` payload bytes: GSO type, the length of
    /// the headers every segment repeats, and where the TCP checksum starts
    /// and sits (its field holds the pseudo-header sum, `NEEDS_CSUM`).
    /// `None` when the frame is not such a segment.
    pub fn for_tcp_gso(frame: &[u8], gso_size: u16) -> Option<VnetHdr> {
        let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
        let mut l3 = 14;
        let mut et = be16(12)?;
        while et == 0x8100 || et == 0x88a8 {
            et = be16(l3 + 2)?;
            l3 += 4;
        }
        let (kind, l4) = match et {
            0x0800 if *frame.get(l3 + 9)? == 6 => (gso::TCPV4, l3 + (*frame.get(l3)? as usize & 0xf) * 4),
            0x86dd if *frame.get(l3 + 6)? == 6 => (gso::TCPV6, l3 + 40),
            _ => return None,
        };
        let hdr_len = l4 + (*frame.get(l4 + 12)? as usize >> 4) * 4;
        if gso_size == 0 || hdr_len > frame.len() || hdr_len > u16::MAX as usize {
            return None;
        }
        Some(VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: kind,
            hdr_len: hdr_len as u16,
            gso_size,
            csum_start: l4 as u16,
            csum_offset: 16,
        })
    }

    /// The header's bytes (host byte order, as packet sockets read it).
    pub fn emit(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// Most segments a GSO packet of `len` bytes can make (a bound that
    /// needs no header parsing: every segment carries at least one payload
    /// byte per `gso_size`).
    pub fn max_segments(&self, len: usize) -> usize {
        if !self.is_gso() || self.gso_size == 0 {
            return 1;
        }
        len.div_ceil(self.gso_size as usize).max(1)
    }
}

/// Puts a VLAN tag back into a frame whose Ethernet header starts at
/// `start`, using the 4 bytes before it (which must be free): the MACs move
/// 4 bytes to the front and the tag goes between them and the ethertype.
/// Returns the frame's new start, or `None` (frame untouched) when there is
/// no room in front or no complete MAC pair.
pub fn insert_vlan_tag(buf: &mut [u8], start: usize, tag: [u8; 4]) -> Option<usize> {
    let new = start.checked_sub(VLAN_TAG_LEN)?;
    if buf.len() < start + 12 {
        return None;
    }
    buf.copy_within(start..start + 12, new);
    buf[new + 12..new + 16].copy_from_slice(&tag);
    Some(new)
}

/// Writes the packet length into a tx frame's header (`tp_len` and
/// `tp_snaplen`); false when the frame is too short to hold a header.
pub fn set_tx_len(frame: &mut [u8], len: u32) -> bool {
    if frame.len() < V2_HDR_LEN {
        return false;
    }
    frame[4..8].copy_from_slice(&len.to_ne_bytes());
    frame[8..12].copy_from_slice(&len.to_ne_bytes());
    true
}

/// Geometry of one ring (`struct tpacket_req`): frames never straddle a
/// block, blocks are whole pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
}

/// Page size the kernel rounds ring blocks to.
pub const PAGE_SIZE: u32 = 4096;

impl RingGeometry {
    /// A ring of `blocks` blocks, each holding `per_block` frames of
    /// `frame_size` bytes (rounded up to 16), the block rounded up to a
    /// page (the slack holds more frames when they fit).
    pub fn new(frame_size: u32, per_block: u32, blocks: u32) -> Option<RingGeometry> {
        let frame_size = frame_size.checked_next_multiple_of(16)?;
        if frame_size < V2_HDRLEN as u32 + 64 || per_block == 0 || blocks == 0 {
            return None;
        }
        let block_size = frame_size.checked_mul(per_block)?.checked_next_multiple_of(PAGE_SIZE)?;
        let per_block = block_size / frame_size;
        let frame_nr = per_block.checked_mul(blocks)?;
        // The mapping must fit the address space comfortably.
        (block_size as u64 * blocks as u64 <= 1 << 32).then_some(RingGeometry {
            block_size,
            block_nr: blocks,
            frame_size,
            frame_nr,
        })
    }

    pub fn frames_per_block(&self) -> u32 {
        self.block_size / self.frame_size
    }

    /// Bytes of the mapping.
    pub fn bytes(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }

    /// Byte offset of frame `i` in the mapping (`i < frame_nr`).
    pub fn frame_offset(&self, i: usize) -> usize {
        let fpb = self.frames_per_block() as usize;
        (i / fpb) * self.block_size as usize + (i % fpb) * self.frame_size as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An rx frame as the kernel fills it for a 60-byte ARP request on a
    /// socket with a vnet header: mac at 90 - 14 = 76 (netoff is
    /// TPACKET_ALIGN(52 + 16) + 10 = 90), VLAN 100 taken out of the frame.
    fn arp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 256];
        let st = status::USER | status::VLAN_VALID | status::VLAN_TPID_VALID;
        f[0..4].copy_from_slice(&st.to_ne_bytes());
        f[4..8].copy_from_slice(&60u32.to_ne_bytes()); // tp_len
        f[8..12].copy_from_slice(&60u32.to_ne_bytes()); // tp_snaplen
        f[12..14].copy_from_slice(&76u16.to_ne_bytes()); // tp_mac
        f[14..16].copy_from_slice(&90u16.to_ne_bytes()); // tp_net
        f[24..26].copy_from_slice(&100u16.to_ne_bytes()); // tci
        f[26..28].copy_from_slice(&0x8100u16.to_ne_bytes()); // tpid
        f[SLL_OFFSET..SLL_OFFSET + 2].copy_from_slice(&17u16.to_ne_bytes()); // AF_PACKET
        f[SLL_OFFSET + 10] = 0; // PACKET_HOST

        // The vnet header (66..76) stays zero: no flags, no GSO.
        let eth: [u8; 14] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06];
        f[76..90].copy_from_slice(&eth);
        f
    }

    #[test]
    fn rx_header_fields() {
        let f = arp_frame();
        let d = RxDesc::parse(&f).unwrap();
        assert_eq!(d.status & status::USER, status::USER);
        assert_eq!((d.len, d.snaplen, d.mac), (60, 60, 76));
        assert_eq!(d.data_range(f.len()), Some(76..136));
        assert_eq!(d.vnet_range(), Some(66..76));
        assert!(!d.is_outgoing() && !d.is_truncated());
        assert_eq!(d.vlan_tag(), Some([0x81, 0x00, 0x00, 100]));
    }

    #[test]
    fn outgoing_and_truncated_frames_are_recognised() {
        let mut f = arp_frame();
        f[SLL_OFFSET + 10] = PACKET_OUTGOING;
        f[4..8].copy_from_slice(&9000u32.to_ne_bytes());
        let d = RxDesc::parse(&f).unwrap();
        assert!(d.is_outgoing());
        assert!(d.is_truncated());
    }

    #[test]
    fn inconsistent_offsets_give_no_data() {
        let mut f = arp_frame();
        f[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(RxDesc::parse(&f).unwrap().data_range(f.len()), None);
        f[8..12].copy_from_slice(&60u32.to_ne_bytes());
        f[12..14].copy_from_slice(&4u16.to_ne_bytes()); // mac inside the header
        let d = RxDesc::parse(&f).unwrap();
        assert_eq!(d.data_range(f.len()), None);
        assert_eq!(d.vnet_range(), None);
        assert_eq!(RxDesc::parse(&f[..40]), None);
        assert_eq!(RxDesc::parse(&[]), None);
    }

    #[test]
    fn vlan_tag_defaults_to_8021q() {
        assert_eq!(vlan_tag(status::VLAN_VALID, 0x2064, 0), Some([0x81, 0, 0x20, 0x64]));
        assert_eq!(vlan_tag(status::VLAN_VALID | status::VLAN_TPID_VALID, 5, 0x88a8), Some([0x88, 0xa8, 0, 5]));
        assert_eq!(vlan_tag(0, 5, 0x8100), None);
    }

    #[test]
    fn tag_goes_back_between_macs_and_ethertype() {
        let mut f = arp_frame();
        let start = insert_vlan_tag(&mut f, 76, [0x81, 0, 0, 100]).unwrap();
        assert_eq!(start, 72);
        assert_eq!(&f[72..78], &[0xff; 6]);
        assert_eq!(&f[78..84], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[84..90], &[0x81, 0, 0, 100, 0x08, 0x06]);
        assert_eq!(insert_vlan_tag(&mut f, 2, [0; 4]), None, "no room in front");
        assert_eq!(insert_vlan_tag(&mut [0u8; 10], 4, [0; 4]), None, "no MACs");
    }

    #[test]
    fn vnet_header_fields() {
        // A TCPv4 GSO packet: hdr_len 66, gso_size 1448, csum at 34 + 16.
        let mut b = [0u8; 10];
        b[0] = VNET_F_NEEDS_CSUM;
        b[1] = gso::TCPV4 | gso::ECN;
        b[2..4].copy_from_slice(&66u16.to_ne_bytes());
        b[4..6].copy_from_slice(&1448u16.to_ne_bytes());
        b[6..8].copy_from_slice(&34u16.to_ne_bytes());
        b[8..10].copy_from_slice(&16u16.to_ne_bytes());
        let v = VnetHdr::parse(&b).unwrap();
        assert!(v.needs_csum() && v.is_gso());
        assert_eq!(v.gso_kind(), gso::TCPV4);
        assert_eq!((v.hdr_len, v.gso_size, v.csum_start, v.csum_offset), (66, 1448, 34, 16));
        assert_eq!(v.max_segments(65226), 46);
        assert_eq!(VnetHdr::default().max_segments(65226), 1);
        assert_eq!(VnetHdr::parse(&b[..9]), None);
    }

    #[test]
    fn gso_headers_for_tcp_super_segments() {
        // Ethernet + IPv4 (20) + TCP with timestamps (32) + payload.
        let mut f = vec![0u8; 14 + 20 + 32 + 3000];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[34 + 12] = 8 << 4;
        let v = VnetHdr::for_tcp_gso(&f, 1448).unwrap();
        assert_eq!((v.flags, v.gso_type), (VNET_F_NEEDS_CSUM, gso::TCPV4));
        assert_eq!((v.hdr_len, v.gso_size, v.csum_start, v.csum_offset), (66, 1448, 34, 16));
        assert_eq!(VnetHdr::parse(&v.emit()), Some(v), "emit and parse agree");
        // Behind a VLAN tag and over IPv6.
        let mut g = vec![0u8; 18 + 40 + 20 + 10];
        g[12..14].copy_from_slice(&[0x81, 0x00]);
        g[16..18].copy_from_slice(&[0x86, 0xdd]);
        g[18 + 6] = 6;
        g[58 + 12] = 5 << 4;
        let v = VnetHdr::for_tcp_gso(&g, 1000).unwrap();
        assert_eq!((v.gso_type, v.hdr_len, v.csum_start), (gso::TCPV6, 78, 58));
        // Not TCP, no size, or cut short: none.
        f[14 + 9] = 17;
        assert_eq!(VnetHdr::for_tcp_gso(&f, 1448), None);
        assert_eq!(VnetHdr::for_tcp_gso(&g, 0), None);
        assert_eq!(VnetHdr::for_tcp_gso(&g[..60], 1000), None);
    }

    #[test]
    fn tx_length_lands_in_the_header() {
        let mut f = vec![0u8; 64];
        assert!(set_tx_len(&mut f, 1514));
        assert_eq!(u32::from_ne_bytes(f[4..8].try_into().unwrap()), 1514);
        assert_eq!(u32::from_ne_bytes(f[8..12].try_into().unwrap()), 1514);
        assert!(!set_tx_len(&mut [0u8; 8], 1));
        assert_eq!(TX_DATA_OFFSET, 32);
    }

    #[test]
    fn ring_geometry_keeps_frames_inside_blocks() {
        let g = RingGeometry::new(2048, 32, 64).unwrap();
        assert_eq!((g.block_size, g.block_nr, g.frame_size, g.frame_nr), (65536, 64, 2048, 2048));
        assert_eq!(g.frame_offset(33), 65536 + 2048);
        // 1500-byte frames round up to 1504; 32 of them (48128 bytes) round
        // up to a 49152-byte block (12 pages), which still holds 32 frames.
        let g = RingGeometry::new(1500, 32, 2).unwrap();
        assert_eq!(g.frame_size, 1504);
        assert_eq!(g.block_size % PAGE_SIZE, 0);
        assert_eq!(g.frame_nr, g.frames_per_block() * 2);
        let last = g.frame_offset(g.frame_nr as usize - 1);
        assert!(last + g.frame_size as usize <= g.bytes());
        assert_eq!(RingGeometry::new(16, 1, 1), None, "too small for a header");
        assert_eq!(RingGeometry::new(2048, 0, 1), None);
        assert_eq!(RingGeometry::new(u32::MAX, 2, 2), None);
    }
}
