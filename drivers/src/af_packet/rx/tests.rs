//! The rx path on byte fixtures (no socket): restoring VLAN tags,
//! finishing checksums, cutting GSO packets into buffers and chains (and
//! the tx path's copy back out of a chain), drops and buffer accounting.

use super::*;
use crate::af_packet::offload;
use crate::af_packet::tx::copy_from_chain;
use rvpp_dataplane::buffer::{Backing, Buffers};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Ethernet (untagged) / IPv4 192.168.1.10 → .20 / TCP 40000 → 80 with 16
/// bytes of payload; the TCP checksum field holds junk (correct: 0xa408).
const TCP4: &str = "020000000002020000000001080045000038123440004006a51dc0a8010ac0a801149c400050010203040a0b0c0d5018ffff77770000474554202f20485454502f312e310d0a";
const TCP4_CSUM: u16 = 0xa408;

fn arena(data_size: u32) -> Arc<Buffers> {
    Buffers::new(1024, data_size, Backing::Pages).unwrap()
}

fn call(bufs: &mut ThreadBuffers) -> RxCall<'_> {
    RxCall { sw: 7, bufs, spares: Spares::new(), tally: [0; RX_STATS], losing: false }
}

/// A frame as a ring slot holds it: `front` spare bytes, then the packet.
fn slot(pkt: &[u8], front: usize) -> Vec<u8> {
    let mut v = vec![0u8; front];
    v.extend_from_slice(pkt);
    v
}

fn no_offload() -> PktInfo {
    PktInfo { csum_not_ready: false, vlan: None, vnet: None }
}

/// A TCPv4 GSO frame of `payload` bytes (PSH on).
fn tcp4_gso(payload: usize) -> Vec<u8> {
    let mut pkt = hex(TCP4)[..54].to_vec();
    pkt.extend((0..payload).map(|i| (i % 253) as u8));
    let total = (pkt.len() - 14) as u16;
    pkt[16..18].copy_from_slice(&total.to_be_bytes());
    pkt
}

fn gso_info(kind: u8, size: u16) -> PktInfo {
    let vnet = VnetHdr { flags: frame::VNET_F_NEEDS_CSUM, gso_type: kind, gso_size: size, ..VnetHdr::default() };
    PktInfo { csum_not_ready: true, vlan: None, vnet: Some(vnet) }
}

fn assert_checksums_valid(pkt: &[u8]) {
    let h = offload::parse(pkt).expect("parses");
    assert_eq!(offload::fold(offload::ones_sum(&pkt[h.l3..h.l4], 0)), 0xffff, "IPv4 header");
    let c = offload::l4_checksum(&pkt[h.l3..h.l4], h.ip6, h.proto, &pkt[h.l4..h.end]);
    let f = h.csum_field();
    assert_eq!(u16::from_be_bytes([pkt[f], pkt[f + 1]]), c, "L4 checksum");
}

#[test]
fn a_plain_frame_is_copied_into_one_buffer() {
    let a = arena(2048);
    let mut b = a.thread(0);
    let pkt = hex(TCP4);
    let mut f = slot(&pkt, 80);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 4];
    let mut c = call(&mut b);
    let n = c.deliver(&mut f, 80, 80 + pkt.len(), no_offload(), &mut seg, &mut out);
    assert_eq!(n, 1);
    assert_eq!(c.tally[RxStat::Bytes as usize], pkt.len() as u64);
    c.spares.give_back(c.bufs);
    assert_eq!(b.data(out[0]), &pkt[..], "copied as is: no checksum asked for");
    let m = b.meta(out[0]);
    assert_eq!((m.sw_if_index[0], m.current_data, m.flags), (7, 0, 0));
    b.free(&out[..1]);
}

#[test]
fn vlan_tag_and_partial_checksum_are_restored() {
    let a = arena(2048);
    let mut b = a.thread(0);
    let pkt = hex(TCP4);
    let mut f = slot(&pkt, 80);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 1];
    // The kernel's partial-checksum offsets point at TCP in the untagged
    // frame (34); the tag moves them by 4.
    let vnet = VnetHdr { flags: frame::VNET_F_NEEDS_CSUM, csum_start: 34, csum_offset: 16, ..VnetHdr::default() };
    let info = PktInfo { csum_not_ready: true, vlan: Some([0x81, 0, 0x00, 0x64]), vnet: Some(vnet) };
    let mut c = call(&mut b);
    assert_eq!(c.deliver(&mut f, 80, 80 + pkt.len(), info, &mut seg, &mut out), 1);
    assert_eq!(c.tally[RxStat::CsumComputed as usize], 1);
    assert_eq!(c.tally[RxStat::Vlan as usize], 1);
    c.spares.give_back(c.bufs);
    let got = b.data(out[0]).to_vec();
    assert_eq!(got.len(), pkt.len() + 4);
    assert_eq!(&got[..12], &pkt[..12]);
    assert_eq!(&got[12..18], &[0x81, 0, 0, 0x64, 0x08, 0x00]);
    assert_eq!(u16::from_be_bytes([got[38 + 16], got[38 + 17]]), TCP4_CSUM);
    assert_checksums_valid(&got);
    b.free(&out);
}

#[test]
fn gso_packets_become_segments() {
    let a = arena(2048);
    let mut b = a.thread(0);
    let pkt = tcp4_gso(4000);
    let mut f = slot(&pkt, 4);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 8];
    let mut c = call(&mut b);
    let n = c.deliver(&mut f, 4, 4 + pkt.len(), gso_info(gso::TCPV4, 1448), &mut seg, &mut out);
    assert_eq!(n, 3);
    assert_eq!((c.tally[RxStat::GsoPackets as usize], c.tally[RxStat::GsoSegments as usize]), (1, 3));
    c.spares.give_back(c.bufs);
    let mut payload = Vec::new();
    for (k, &bi) in out[..n].iter().enumerate() {
        let d = b.data(bi).to_vec();
        assert_eq!(d.len(), 54 + if k < 2 { 1448 } else { 1104 });
        assert_checksums_valid(&d);
        payload.extend_from_slice(&d[54..]);
    }
    assert_eq!(payload, &pkt[54..]);
    b.free(&out[..n]);
}

#[test]
fn segments_bigger_than_a_buffer_are_chained() {
    let a = arena(512);
    let mut b = a.thread(0);
    let pkt = tcp4_gso(3000);
    let mut f = slot(&pkt, 0);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 4];
    let mut c = call(&mut b);
    let n = c.deliver(&mut f, 0, pkt.len(), gso_info(gso::TCPV4, 1448), &mut seg, &mut out);
    c.spares.give_back(c.bufs);
    assert_eq!(n, 3);
    let first = b.meta(out[0]);
    assert_eq!(first.flags & flags::NEXT_PRESENT, flags::NEXT_PRESENT);
    assert_eq!(first.current_length, 512);
    assert_eq!(first.total_length_not_including_first_buffer, 54 + 1448 - 512);
    let whole = b.chain_bytes(out[0]);
    assert_eq!(whole.len(), 54 + 1448);
    assert_checksums_valid(&whole);
    // And back out through the tx path's copy.
    let mut dst = vec![0u8; whole.len()];
    assert!(copy_from_chain(&b, out[0], &mut dst));
    assert_eq!(dst, whole);
    assert!(!copy_from_chain(&b, out[0], &mut vec![0u8; whole.len() + 1]), "length must match");
    b.free(&out[..n]);
    b.flush();
    assert_eq!(a.stats(1).free, a.count(), "no buffer leaked");
}

#[test]
fn jumbo_frames_are_chained() {
    let a = arena(2048);
    let mut b = a.thread(0);
    let pkt: Vec<u8> = (0..9014).map(|i| (i * 31 % 256) as u8).collect();
    let mut f = slot(&pkt, 4);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 1];
    let mut c = call(&mut b);
    assert_eq!(c.deliver(&mut f, 4, 4 + pkt.len(), no_offload(), &mut seg, &mut out), 1);
    c.spares.give_back(c.bufs);
    assert_eq!(b.chain_len(out[0]), 9014);
    assert_eq!(b.chain_bytes(out[0]), pkt);
    b.free(&out);
    b.flush();
    assert_eq!(a.stats(1).free, a.count(), "no buffer leaked");
}

#[test]
fn bad_gso_packets_are_counted_drops() {
    let a = arena(2048);
    let mut b = a.thread(0);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 2];
    let pkt = tcp4_gso(4000);
    let mut c = call(&mut b);
    // Three segments do not fit in two slots.
    let mut f = slot(&pkt, 0);
    assert_eq!(c.deliver(&mut f, 0, pkt.len(), gso_info(gso::TCPV4, 1448), &mut seg, &mut out), 0);
    // The kernel says UDP, the frame is TCP.
    let mut f = slot(&pkt, 0);
    assert_eq!(c.deliver(&mut f, 0, pkt.len(), gso_info(gso::UDP_L4, 1448), &mut seg, &mut out), 0);
    // UFO (IPv4 fragmentation) is not done here.
    let mut f = slot(&pkt, 0);
    assert_eq!(c.deliver(&mut f, 0, pkt.len(), gso_info(gso::UDP, 1448), &mut seg, &mut out), 0);
    // A tag with no room in front of the frame.
    let mut f = slot(&pkt, 0);
    let info = PktInfo { vlan: Some([0x81, 0, 0, 1]), ..no_offload() };
    assert_eq!(c.deliver(&mut f, 0, pkt.len(), info, &mut seg, &mut out), 0);
    assert_eq!(c.tally[RxStat::GsoBad as usize], 3);
    assert_eq!(c.tally[RxStat::Malformed as usize], 1);
    c.spares.give_back(c.bufs);
    b.flush();
    assert_eq!(a.stats(1).free, a.count(), "no buffer leaked");
}

#[test]
fn a_checksum_that_cannot_be_finished_is_a_counted_drop() {
    let a = arena(2048);
    let mut b = a.thread(0);
    // Not IP, and the kernel's offsets lie past the frame's end.
    let mut pkt = hex(TCP4);
    pkt[12..14].copy_from_slice(&[0x88, 0xb5]);
    let mut f = slot(&pkt, 0);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 1];
    let vnet = VnetHdr { flags: frame::VNET_F_NEEDS_CSUM, csum_start: 60, csum_offset: 40, ..VnetHdr::default() };
    let info = PktInfo { csum_not_ready: true, vlan: None, vnet: Some(vnet) };
    let mut c = call(&mut b);
    assert_eq!(c.deliver(&mut f, 0, pkt.len(), info, &mut seg, &mut out), 0, "not forwarded");
    assert_eq!(c.tally[RxStat::CsumUnresolved as usize], 1);
    c.spares.give_back(c.bufs);
    b.flush();
    assert_eq!(a.stats(1).free, a.count(), "no buffer leaked");
}

#[test]
fn buffer_exhaustion_is_counted() {
    let a = arena(2048);
    let mut b = a.thread(0);
    let mut hold = vec![BufferIndex(0); a.count() as usize];
    assert_eq!(b.alloc(&mut hold), a.count() as usize);
    let pkt = hex(TCP4);
    let mut f = slot(&pkt, 0);
    let mut seg = vec![0u8; COPY_BUF];
    let mut out = [BufferIndex(0); 1];
    let mut c = call(&mut b);
    assert_eq!(c.deliver(&mut f, 0, pkt.len(), no_offload(), &mut seg, &mut out), 0);
    assert_eq!(c.tally[RxStat::NoBuffer as usize], 1);
    c.spares.give_back(c.bufs);
    b.free(&hold);
}

#[test]
fn copy_path_packets_are_matched_to_their_frame() {
    let pkt: Vec<u8> = (0..3000).map(|i| (i % 199) as u8).collect();
    let got = |len: usize| Received { len, wire_len: len, ..Received::default() };
    // The frame holds the first 1972 bytes of a 3000-byte packet.
    let snap = &pkt[..1972];
    assert!(is_same_packet(3000, snap, &got(3000), &pkt));
    assert!(!is_same_packet(3001, snap, &got(3000), &pkt), "length differs");
    let mut other = pkt.clone();
    other[100] ^= 1;
    assert!(!is_same_packet(3000, snap, &got(3000), &other), "bytes differ");
    assert!(is_same_packet(3000, &[], &got(3000), &pkt), "no snapshot: length decides");
}

#[test]
fn every_drop_reason_has_one_error_counter() {
    assert_eq!(COUNTERS.len(), COUNTED.len());
    let mut seen: Vec<usize> = COUNTED.iter().map(|s| *s as usize).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), COUNTED.len(), "a figure feeds two counters");
    assert!(!seen.contains(&(RxStat::Packets as usize)) && !seen.contains(&(RxStat::Bytes as usize)));
}
