//! Checksum vectors (RFC 1071's example, a textbook IPv4 header, and frames
//! whose checksums were computed independently) and segmentation checks.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Ethernet / IPv4 / UDP 1234 → 5678, "hello rvpp af_packet!", checksums
/// filled (IPv4 0x0872, UDP 0xc6d4).
const UDP4: &str = "0200000000020200000000010800450000311c464000401108720a0101010a01010204d2162e001d000068656c6c6f20727670702061665f7061636b657421";
const UDP4_CSUM: u16 = 0xc6d4;
/// Ethernet / 802.1Q 100 / IPv4 / TCP 40000 → 80, TCP checksum zeroed
/// (correct value 0xa408).
const TCP4_VLAN: &str = "02000000000202000000000181000064080045000038123440004006a51dc0a8010ac0a801149c400050010203040a0b0c0d5018ffff00000000474554202f20485454502f312e310d0a";
const TCP4_VLAN_CSUM: u16 = 0xa408;
/// Ethernet / IPv6 fd00::1 → fd00::2 / TCP, checksum zeroed (0xcb62).
const TCP6: &str = "02000000000202000000000186dd60000000001e0640fd000000000000000000000000000001fd0000000000000000000000000000021451c350000003e8000007d0501002000000000030313233343536373839";
const TCP6_CSUM: u16 = 0xcb62;

fn field(pkt: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([pkt[at], pkt[at + 1]])
}

#[test]
fn rfc1071_example() {
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(fold(ones_sum(&data, 0)), 0xddf2);
    // Odd length: the last byte is the high half of a zero-padded word.
    assert_eq!(fold(ones_sum(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
    assert_eq!(fold(ones_sum(&[], 0)), 0);
    // Carries wrap around.
    assert_eq!(fold(ones_sum(&[0xff, 0xff, 0x00, 0x02], 0)), 0x0002);
}

#[test]
fn ip4_header_vector() {
    // The usual worked example: 192.168.0.1 → 192.168.0.199, checksum b861.
    let hdr = hex("450000730000400040110000c0a80001c0a800c7");
    assert_eq!(ip4_header_checksum(&hdr), 0xb861);
    // A stored checksum does not change the result.
    let mut with = hdr.clone();
    with[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
    assert_eq!(ip4_header_checksum(&with), 0xb861);
    assert_eq!(fold(ones_sum(&with, 0)), 0xffff, "a correct header sums to all ones");
}

#[test]
fn udp4_vector() {
    let pkt = hex(UDP4);
    let h = parse(&pkt).unwrap();
    assert_eq!((h.l3, h.l4, h.proto, h.l4_len, h.end, h.ip6), (14, 34, PROTO_UDP, 8, pkt.len(), false));
    assert_eq!(l4_checksum(&pkt[h.l3..h.l4], false, PROTO_UDP, &pkt[h.l4..h.end]), UDP4_CSUM);
    assert_eq!(ip4_header_checksum(&pkt[14..34]), 0x0872);
}

#[test]
fn partial_checksums_are_completed() {
    for (hexs, at, want) in
        [(UDP4, 34 + 6, UDP4_CSUM), (TCP4_VLAN, 38 + 16, TCP4_VLAN_CSUM), (TCP6, 54 + 16, TCP6_CSUM)]
    {
        let mut pkt = hex(hexs);
        // As the kernel leaves it: the pseudo-header sum in the field.
        pkt[at..at + 2].copy_from_slice(&0x1234u16.to_be_bytes());
        let h = parse(&pkt).unwrap();
        assert_eq!(complete_checksum(&mut pkt, Some((h.l4, h.csum_field() - h.l4))), CsumFix::Computed);
        assert_eq!(field(&pkt, at), want, "{hexs}");
        // Without the kernel's offsets the parser still finds the field.
        pkt[at..at + 2].copy_from_slice(&[0, 0]);
        assert_eq!(complete_checksum(&mut pkt, None), CsumFix::Computed);
        assert_eq!(field(&pkt, at), want);
    }
}

#[test]
fn ethernet_padding_is_not_summed() {
    let mut pkt = hex(TCP4_VLAN);
    pkt.extend_from_slice(&[0xaa; 6]);
    assert_eq!(complete_checksum(&mut pkt, None), CsumFix::Computed);
    assert_eq!(field(&pkt, 38 + 16), TCP4_VLAN_CSUM);
}

#[test]
fn unparsed_frames_use_the_kernel_offsets() {
    // IPv6 with a routing header in front of TCP: the parser stops, and the
    // seeded field is completed the way skb_checksum_help does it.
    let base = hex(TCP6);
    let tcp = &base[54..];
    let mut pkt = base[..54].to_vec();
    pkt[14 + 6] = 43; // next header: routing
    let plen = (tcp.len() + 8) as u16;
    pkt[18..20].copy_from_slice(&plen.to_be_bytes());
    pkt.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]); // routing header, 8 bytes
    pkt.extend_from_slice(tcp);
    assert_eq!(parse(&pkt), None);
    let l4 = 62;
    let src_dst = &base[22..54];
    let seed = fold(ones_sum(src_dst, PROTO_TCP as u64 + tcp.len() as u64));
    pkt[l4 + 16..l4 + 18].copy_from_slice(&seed.to_be_bytes());
    assert_eq!(complete_checksum(&mut pkt, Some((l4, 16))), CsumFix::Completed);
    assert_eq!(field(&pkt, l4 + 16), TCP6_CSUM);
    // Offsets outside the frame change nothing.
    let before = pkt.clone();
    let last = pkt.len() - 1;
    assert_eq!(complete_checksum(&mut pkt, Some((last, 16))), CsumFix::Unresolved);
    assert_eq!(complete_checksum(&mut pkt, None), CsumFix::Unresolved);
    assert_eq!(pkt, before);
}

/// Ethernet / IPv4 10.1.1.1 → 10.1.1.2 / SCTP 5000 → 5001, an INIT chunk;
/// CRC32c 0xbe070e1e stored little-endian (1e 0e 07 be), which tshark's
/// SCTP dissector (`-o sctp.checksum:CRC-32C`) reports as good.
const SCTP4: &str = "0200000000020200000000010800450000341c464000408407fc0a0101010a01010213881389000000001e0e07be010000141234567800010000000a000aabcdef01";
/// The same SCTP packet over IPv6 behind an (empty) routing header, also
/// checked with tshark.
const SCTP6_RH: &str = "02000000000202000000000186dd6000000000282b40fd000000000000000000000000000001fd000000000000000000000000000002840000000000000013881389000000001e0e07be010000141234567800010000000a000aabcdef01";
const SCTP_CRC: [u8; 4] = [0x1e, 0x0e, 0x07, 0xbe];

#[test]
fn crc32c_vectors() {
    // The CRC-32C check value, and RFC 3720 (B.4)'s vectors as the bytes
    // sent, which is the value stored little-endian.
    assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(crc32c(&[0; 32]).to_le_bytes(), [0xaa, 0x36, 0x91, 0x8a]);
    assert_eq!(crc32c(&[0xff; 32]).to_le_bytes(), [0x43, 0xab, 0xa8, 0x62]);
    let up: Vec<u8> = (0..32).collect();
    assert_eq!(crc32c(&up).to_le_bytes(), [0x4e, 0x79, 0xdd, 0x46]);
    let down: Vec<u8> = (0..32).rev().collect();
    assert_eq!(crc32c(&down).to_le_bytes(), [0x5c, 0xdb, 0x3f, 0x11]);
    // Every length through the 8-byte steps and their tails.
    let data: Vec<u8> = (0..100u32).map(|i| (i * 37 + 11) as u8).collect();
    for n in 0..data.len() {
        assert_eq!(crc32c(&data[..n]), crc32c_bitwise(&data[..n]), "length {n}");
    }
}

/// CRC-32C one bit at a time (RFC 3309's definition, reflected).
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82f6_3b78 } else { c >> 1 };
        }
    }
    !c
}

#[test]
fn sctp_crc32c_is_completed() {
    for (hexs, l4) in [(SCTP4, 34), (SCTP6_RH, 62)] {
        let want = hex(hexs);
        let f = l4 + 8;
        for partial in [Some((l4, 8)), None] {
            // The kernel leaves the field zeroed; junk must not matter.
            for seed in [[0u8; 4], [0xde, 0xad, 0xbe, 0xef]] {
                let mut pkt = want.clone();
                pkt[f..f + 4].copy_from_slice(&seed);
                assert_eq!(complete_checksum(&mut pkt, partial), CsumFix::Crc32c, "{hexs} {partial:?}");
                assert_eq!(&pkt[f..f + 4], &SCTP_CRC, "{hexs} {partial:?}");
                assert_eq!(pkt, want);
            }
        }
    }
    // Ethernet padding after the IP packet is not part of it.
    let mut pkt = hex(SCTP4);
    pkt[42..46].fill(0);
    pkt.extend_from_slice(&[0; 6]);
    assert_eq!(complete_checksum(&mut pkt, Some((34, 8))), CsumFix::Crc32c);
    assert_eq!(&pkt[42..46], &SCTP_CRC);
}

#[test]
fn sctp_with_offsets_past_its_end_is_unresolved() {
    let mut pkt = hex(SCTP4);
    let before = pkt.clone();
    assert_eq!(complete_checksum(&mut pkt, Some((34, 30))), CsumFix::Unresolved);
    assert_eq!(complete_checksum(&mut pkt[..40], Some((34, 8))), CsumFix::Unresolved, "cut short");
    assert_eq!(pkt, before);
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545f491u32;
    for len in 0..200 {
        let mut pkt: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        if len > 14 {
            pkt[12..14].copy_from_slice(if len % 2 == 0 { &[0x08, 0x00] } else { &[0x86, 0xdd] });
        }
        let _ = complete_checksum(&mut pkt, Some((len / 2, 6)));
        let _ = complete_checksum(&mut pkt, Some((usize::MAX / 2, usize::MAX / 2)));
        if let Some(s) = Segmenter::new(&pkt, true, 100) {
            let mut dst = vec![0u8; 256];
            for k in 0..s.count() {
                let _ = s.write(&pkt, k, &mut dst);
            }
        }
    }
}

/// An IPv4 TCP GSO frame with `payload` bytes, PSH|ACK|CWR|FIN set.
fn tcp4_gso(payload: usize) -> Vec<u8> {
    let mut pkt = hex(TCP4_VLAN)[..58].to_vec(); // up to the end of TCP
    pkt.extend((0..payload).map(|i| (i % 251) as u8));
    let total = (pkt.len() - 18) as u16;
    pkt[20..22].copy_from_slice(&total.to_be_bytes());
    pkt[38 + 13] = 0x80 | 0x10 | 0x08 | 0x01;
    pkt
}

fn verifies(seg: &[u8]) {
    let h = parse(seg).expect("segment parses");
    assert_eq!(h.end, seg.len());
    if !h.ip6 {
        assert_eq!(fold(ones_sum(&seg[h.l3..h.l4], 0)), 0xffff, "IPv4 header checksum");
    }
    let sum = ones_sum(&seg[h.l4..h.end], 0);
    let ps = pseudo_sum(&seg[h.l3..h.l4], h.ip6, h.proto, h.end - h.l4);
    assert_eq!(fold(sum + ps), 0xffff, "L4 checksum");
}

#[test]
fn tcp4_gso_is_cut_into_mss_segments() {
    let pkt = tcp4_gso(3000);
    let s = Segmenter::new(&pkt, true, 1448).unwrap();
    assert_eq!(s.count(), 3);
    let mut payload = Vec::new();
    for k in 0..3 {
        let mut dst = vec![0u8; 2048];
        let n = s.write(&pkt, k, &mut dst);
        assert_eq!(n, s.len(k));
        let seg = &dst[..n];
        verifies(seg);
        let want = if k < 2 { 1448 } else { 104 };
        assert_eq!(n, 58 + want);
        assert_eq!(u16::from_be_bytes([seg[20], seg[21]]) as usize, n - 18, "IPv4 total length");
        assert_eq!(u16::from_be_bytes([seg[22], seg[23]]), 0x1234 + k as u16, "IPv4 id");
        let seq = u32::from_be_bytes(seg[42..46].try_into().unwrap());
        assert_eq!(seq, 0x01020304 + 1448 * k as u32);
        let flags = seg[38 + 13];
        assert_eq!(flags & 0x80 != 0, k == 0, "CWR only first");
        assert_eq!(flags & 0x09 != 0, k == 2, "FIN/PSH only last");
        assert_eq!(flags & 0x10, 0x10, "ACK on all");
        assert_eq!(&seg[..12], &pkt[..12]);
        assert_eq!(&seg[12..16], &[0x81, 0, 0, 100], "VLAN tag kept");
        payload.extend_from_slice(&seg[58..]);
    }
    assert_eq!(payload, &pkt[58..]);
    assert_eq!(s.write(&pkt, 0, &mut [0u8; 100]), 0, "short destination");
}

#[test]
fn udp6_gso_is_cut_into_datagrams() {
    let base = hex(TCP6);
    let mut pkt = base[..54].to_vec();
    pkt[20] = PROTO_UDP;
    let payload: Vec<u8> = (0..2500).map(|i| (i * 7) as u8).collect();
    pkt.extend_from_slice(&[0x30, 0x39, 0x16, 0x2e, 0, 0, 0, 0]);
    pkt.extend_from_slice(&payload);
    let plen = (pkt.len() - 54) as u16;
    pkt[18..20].copy_from_slice(&plen.to_be_bytes());
    assert!(Segmenter::new(&pkt, true, 1000).is_none(), "UDP is not TCP");
    let s = Segmenter::new(&pkt, false, 1000).unwrap();
    assert_eq!(s.count(), 3);
    let mut got = Vec::new();
    for k in 0..3 {
        let mut dst = vec![0u8; 1500];
        let n = s.write(&pkt, k, &mut dst);
        let seg = &dst[..n];
        verifies(seg);
        let chunk = if k < 2 { 1000 } else { 500 };
        assert_eq!(u16::from_be_bytes([seg[18], seg[19]]) as usize, 8 + chunk, "IPv6 payload length");
        assert_eq!(u16::from_be_bytes([seg[58], seg[59]]) as usize, 8 + chunk, "UDP length");
        got.extend_from_slice(&seg[62..]);
    }
    assert_eq!(got, payload);
}

#[test]
fn a_gso_frame_smaller_than_one_segment_is_one_segment() {
    let pkt = tcp4_gso(10);
    let s = Segmenter::new(&pkt, true, 1448).unwrap();
    assert_eq!(s.count(), 1);
    let mut dst = vec![0u8; 128];
    let n = s.write(&pkt, 0, &mut dst);
    verifies(&dst[..n]);
    assert_eq!(dst[38 + 13], pkt[38 + 13], "flags unchanged on the only segment");
}
