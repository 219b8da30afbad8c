//! `fragment` for both families and the `ip4-frag` node: sizes, offsets,
//! headers and options of the fragments, and reassembly back to the original.

use super::*;
use crate::ip::fib::{AdjKind, Adjacency};
use crate::ip::reass::{Ip4Reassembly, Ip6Reassembly};
use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::testing::Harness;

const SRC6: u128 = 0x2001_0db8 << 96 | 1;
const DST6: u128 = 0x2001_0db8 << 96 | 2;

/// An IPv6 fixed header for `plen` payload bytes of next header `nh`.
fn header6(plen: usize, nh: u8) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(plen as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 64]);
    h.extend_from_slice(&SRC6.to_be_bytes());
    h.extend_from_slice(&DST6.to_be_bytes());
    h
}

/// An IPv4 header (id 0x1234, DF clear) for `plen` payload bytes.
fn header4(plen: usize) -> Vec<u8> {
    let total = (20 + plen) as u16;
    let mut h = vec![0x45, 0, (total >> 8) as u8, total as u8, 0x12, 0x34, 0, 0, 64, 17, 0, 0];
    h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn data(n: usize) -> Vec<u8> {
    (0..n as u32).map(|x| (x * 7 + x / 251) as u8).collect()
}

/// Feeds fragments to a reassembly harness, the last first and the
/// first last; returns the one packet that came out.
fn reassemble<const IP6: bool>(h: &mut Harness, frags: &[BufferIndex]) -> Vec<u8> {
    for (i, &fb) in frags.iter().rev().enumerate() {
        if IP6 {
            // As ip6-local hands it on: after the fixed header.
            let m = h.vm.bufs.meta_mut(fb);
            m.l3_hdr_offset = m.current_data;
            m.flags |= flags::L3_HDR_VALID;
            assert!(h.vm.bufs.advance(fb, 40));
        }
        h.run(&mut [fb]);
        let e = h.take_emitted();
        if i + 1 < frags.len() {
            assert!(e.is_empty(), "complete after {} of {} fragments", i + 1, frags.len());
        } else {
            assert_eq!(e.len(), 1);
            let whole = h.vm.bufs.chain_bytes(e[0].1);
            h.vm.bufs.free_one(e[0].1);
            return whole;
        }
    }
    unreachable!("no fragments")
}

#[test]
fn ip6_fragments_fit_the_mtu_and_reassemble_to_the_original() {
    let mut h = Harness::new(Box::new(Ip6Reassembly::default()), 2);
    let before = h.buffers_in_use();
    let ids = Ip6FragIds::default();
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    // Around the MTU (1280: 1232 payload bytes fit one fragment after
    // 48 bytes of headers, 1500: 1448) and the largest UDP datagram.
    for (mtu, plen) in [(1280, 1231), (1280, 1232), (1280, 1233), (1500, 1448), (1500, 1449), (1500, 2897)]
        .into_iter()
        .chain([(1500, 65535), (1280, 4000), (9000, 20000)])
    {
        let payload = data(plen);
        let hdr = header6(plen, 17);
        let id = ids.next(SRC6, DST6);
        // The payload in three uneven pieces, as a fifo may hold it.
        let (a, rest) = payload.split_at(plen.min(5));
        let (b, c) = rest.split_at(rest.len() / 3);
        let n = fragment::<true>(&mut h.vm.bufs, &hdr, &[a, b, c], mtu, id, 1, &mut out).unwrap();
        // Every fragment fits the MTU and one buffer: at most 2000
        // payload bytes (a multiple of 8) after 48 in 2048.
        let per = (mtu.min(2048) - 48) & !7;
        assert_eq!(n, plen.div_ceil(per), "mtu {mtu} payload {plen}");
        let mut expect_off = 0;
        for (j, &fb) in out[..n].iter().enumerate() {
            let m = h.vm.bufs.meta(fb);
            assert_eq!(m.flags & flags::NEXT_PRESENT, 0, "one buffer");
            assert_eq!(m.sw_if_index[0], 1);
            let d = h.vm.bufs.data(fb);
            assert!(d.len() <= mtu, "fragment {j} of {n}: {} > {mtu}", d.len());
            assert_eq!(&d[..4], &hdr[..4]);
            assert_eq!(&d[7..40], &hdr[7..40], "hop limit and addresses kept");
            assert_eq!(u16::from_be_bytes([d[4], d[5]]) as usize, d.len() - 40, "payload length");
            assert_eq!(d[6], 44, "next header: Fragment");
            assert_eq!(d[40], 17, "the Fragment header's next header: the payload's");
            assert_eq!(d[41], 0);
            let fo = u16::from_be_bytes([d[42], d[43]]);
            assert_eq!(fo & 6, 0, "reserved bits clear");
            assert_eq!((fo & 0xfff8) as usize, expect_off, "offset of fragment {j}");
            assert_eq!(fo & 1 == 1, j + 1 < n, "M flag on all but the last");
            assert_eq!(u32::from_be_bytes([d[44], d[45], d[46], d[47]]), id);
            let flen = d.len() - 48;
            if j + 1 < n {
                assert_eq!(flen, per, "non-last fragments are full and a multiple of 8");
            }
            assert_eq!(&d[48..], &payload[expect_off..expect_off + flen]);
            expect_off += flen;
        }
        assert_eq!(expect_off, plen);
        let whole = reassemble::<true>(&mut h, &out[..n]);
        assert_eq!(whole.len(), 40 + plen);
        assert_eq!(&whole[..40], &hdr[..], "the original header back");
        assert!(whole[40..] == payload[..], "the original payload back (mtu {mtu}, {plen} bytes)");
    }
    assert_eq!(h.counter("packets reassembled"), 9);
    assert_eq!(h.buffers_in_use(), before, "every buffer came back");
}

#[test]
fn ip4_fragments_keep_the_id_and_reassemble_to_the_original() {
    let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    for (mtu, plen) in [(1000, 979), (1000, 980), (1000, 981), (1500, 65515), (9000, 30000)] {
        let payload = data(plen);
        let hdr = header4(plen);
        let n = fragment::<false>(&mut h.vm.bufs, &hdr, &[&payload], mtu, 0, 0, &mut out).unwrap();
        let per = (mtu.min(2048) - 20) & !7;
        assert_eq!(n, plen.div_ceil(per));
        for (j, &fb) in out[..n].iter().enumerate() {
            let d = h.vm.bufs.data(fb);
            assert!(d.len() <= mtu);
            assert_eq!(u16::from_be_bytes([d[2], d[3]]) as usize, d.len(), "total length");
            assert_eq!(&d[4..6], &[0x12, 0x34], "identification kept");
            let fl = u16::from_be_bytes([d[6], d[7]]);
            assert_eq!((fl & 0x1fff) as usize * 8, j * per);
            assert_eq!(fl & 0x2000 != 0, j + 1 < n, "MF on all but the last");
            assert_eq!(checksum::checksum(&d[..20]), 0, "header checksum");
        }
        let whole = reassemble::<false>(&mut h, &out[..n]);
        assert_eq!(&whole[20..], &payload[..]);
        assert_eq!(u16::from_be_bytes([whole[2], whole[3]]) as usize, 20 + plen);
    }
    // The largest datagram at the smallest MTU a host must take:
    // 119 fragments (more than rvpp's own reassembly takes, not the
    // kernel's).
    let n = fragment::<false>(&mut h.vm.bufs, &header4(65515), &[&data(65515)], 576, 0, 0, &mut out).unwrap();
    assert_eq!(n, 119);
    assert!(out[..n].iter().all(|&fb| h.vm.bufs.data(fb).len() <= 576));
    h.vm.bufs.free(&out[..n]);
    // A fragment (offset 1480, MF set) cut again keeps its place and MF.
    let mut hdr = header4(3000);
    hdr[6..8].copy_from_slice(&(0x2000u16 | 185).to_be_bytes());
    let n = fragment::<false>(&mut h.vm.bufs, &hdr, &[&data(3000)], 1500, 0, 0, &mut out).unwrap();
    assert_eq!(n, 3);
    for (j, &fb) in out[..n].iter().enumerate() {
        let d = h.vm.bufs.data(fb);
        assert_eq!(u16::from_be_bytes([d[6], d[7]]), 0x2000 | (185 + j as u16 * 185), "fragment {j}");
    }
    h.vm.bufs.free(&out[..n]);
}

#[test]
fn what_cannot_be_fragmented_is_refused_and_no_buffer_is_kept() {
    let mut h = Harness::new(Box::new(Ip6Reassembly::default()), 2);
    let before = h.buffers_in_use();
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    let p = data(65000);
    let bufs = &mut h.vm.bufs;
    // An MTU that leaves no 8 bytes after the headers.
    assert_eq!(fragment::<true>(bufs, &header6(100, 17), &[&p[..100]], 55, 1, 0, &mut out), Err(FragError::Malformed));
    assert_eq!(fragment::<false>(bufs, &header4(100), &[&p[..100]], 27, 1, 0, &mut out), Err(FragError::Malformed));
    // Not a whole header of the family; nothing to cut.
    assert_eq!(fragment::<true>(bufs, &header4(100), &[&p[..100]], 1280, 1, 0, &mut out), Err(FragError::Malformed));
    assert_eq!(
        fragment::<false>(bufs, &header6(100, 17), &[&p[..100]], 1280, 1, 0, &mut out),
        Err(FragError::Malformed)
    );
    assert_eq!(fragment::<true>(bufs, &header6(0, 17), &[], 1280, 1, 0, &mut out), Err(FragError::Malformed));
    // More than 128 fragments.
    assert_eq!(fragment::<true>(bufs, &header6(65000, 17), &[&p], 400, 1, 0, &mut out), Err(FragError::TooMany));
    // The pool dry: whatever was taken goes back.
    let mut all = vec![BufferIndex(0); 8192];
    let got = bufs.alloc(&mut all);
    bufs.free(&all[got - 3..got]);
    assert_eq!(
        fragment::<true>(bufs, &header6(4000, 17), &[&p[..4000]], 1280, 1, 0, &mut out),
        Err(FragError::NoBuffers)
    );
    bufs.free(&all[..got - 3]);
    assert_eq!(h.buffers_in_use(), before, "every buffer came back");
}

#[test]
fn ip6_identifications_step_per_destination_from_unpredictable_starts() {
    let (a, b) = (Ip6FragIds::default(), Ip6FragIds::default());
    let first = a.next(SRC6, DST6);
    assert_eq!(a.next(SRC6, DST6), first.wrapping_add(1));
    assert_eq!(a.next(SRC6, DST6), first.wrapping_add(2));
    // Another instance (other keys) starts elsewhere; so does another
    // destination (a collision is a 2^-32 chance).
    assert_ne!(b.next(SRC6, DST6), first);
    assert_ne!(a.next(SRC6, DST6 + 1), first.wrapping_add(3));
}

#[test]
fn ip4_frag_node_cuts_a_chain_for_its_adjacency_and_frees_it() {
    let mut fwd = Forwarding::default();
    let mut adj = Adjacency::new(AdjKind::Rewrite, false, 1, 0);
    adj.mtu = 1000;
    fwd.adjs.push(adj);
    let ai = fwd.adjs.len() as u32 - 1;
    let mut h = Harness::new(Box::new(Ip4Frag::new(Published::new(fwd))), 2);
    let before = h.buffers_in_use();
    let payload = data(5000);
    let pkt = [header4(5000), payload.clone()].concat();
    // A chain of three buffers, as the hoststack builds one.
    let parts: Vec<BufferIndex> = pkt.chunks(2048).map(|c| h.packet(c, 1)).collect();
    for w in parts.windows(2) {
        let m = h.vm.bufs.meta_mut(w[0]);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = w[1].0;
    }
    let m = h.vm.bufs.meta_mut(parts[0]);
    m.total_length_not_including_first_buffer = (pkt.len() - 2048) as u32;
    m.opaque[OPAQUE_ADJ] = ai;
    m.flags |= flags::LOCALLY_ORIGINATED;
    let nexts = h.run(&mut [parts[0]]);
    assert_eq!(h.next_name(nexts[0]), "(consumed)");
    let out = h.take_emitted();
    assert_eq!(out.len(), 5000usize.div_ceil(976));
    let mut got = Vec::new();
    for &(next, fb) in &out {
        assert_eq!(h.next_name(next), "ip4-rewrite");
        let m = h.vm.bufs.meta(fb);
        assert_eq!(m.opaque[OPAQUE_ADJ], ai);
        assert_ne!(m.flags & flags::LOCALLY_ORIGINATED, 0);
        let d = h.vm.bufs.data(fb);
        assert!(d.len() <= 1000);
        got.extend_from_slice(&d[20..]);
    }
    assert_eq!(got, payload);
    assert_eq!(h.counter("packets fragmented"), 1);
    assert_eq!(h.counter("fragments sent"), out.len() as u64);
    let frags: Vec<BufferIndex> = out.iter().map(|o| o.1).collect();
    h.vm.bufs.free(&frags);
    assert_eq!(h.buffers_in_use(), before, "the original chain was freed");
}

/// A full frame of packets each cut in 7 (as 9000-byte ones for a
/// 1500-byte link) is fragmented whole in one call.
#[test]
fn ip4_frag_cuts_a_full_frame_of_jumbo_sized_packets() {
    let mut fwd = Forwarding::default();
    let mut adj = Adjacency::new(AdjKind::Rewrite, false, 1, 0);
    adj.mtu = 300;
    fwd.adjs.push(adj);
    let ai = fwd.adjs.len() as u32 - 1;
    let mut h = Harness::new(Box::new(Ip4Frag::new(Published::new(fwd))), 2);
    let before = h.buffers_in_use();
    let pkt = [header4(1960), data(1960)].concat();
    let mut pkts: Vec<BufferIndex> = (0..256)
        .map(|_| {
            let bi = h.packet(&pkt, 1);
            h.vm.bufs.meta_mut(bi).opaque[OPAQUE_ADJ] = ai;
            bi
        })
        .collect();
    let nexts = h.run(&mut pkts);
    let out = h.take_emitted();
    assert_eq!(out.len(), 256 * 7);
    assert_eq!(h.counter("fragments beyond what one frame may emit"), 0);
    assert!(nexts.iter().all(|&n| h.next_name(n) == "(consumed)"));
    let frags: Vec<BufferIndex> = out.iter().map(|o| o.1).collect();
    h.vm.bufs.free(&frags);
    assert_eq!(h.buffers_in_use(), before);
}

#[test]
fn ip4_frag_drops_whole_the_packets_whose_fragments_a_frame_has_no_room_for() {
    let mut fwd = Forwarding::default();
    let mut adj = Adjacency::new(AdjKind::Rewrite, false, 1, 0);
    adj.mtu = 500;
    fwd.adjs.push(adj);
    let ai = fwd.adjs.len() as u32 - 1;
    let mut h = Harness::new(Box::new(Ip4Frag::new(Published::new(fwd))), 2);
    let before = h.buffers_in_use();
    // A frame of 256 packets of 1980 payload bytes: 5 fragments of 480
    // bytes each at MTU 500, 1280 in all; with one call emitting fewer
    // than that.
    let payload = data(1980);
    let pkt = [header4(1980), payload.clone()].concat();
    let mut pkts: Vec<BufferIndex> = (0..256)
        .map(|_| {
            let bi = h.packet(&pkt, 1);
            h.vm.bufs.meta_mut(bi).opaque[OPAQUE_ADJ] = ai;
            bi
        })
        .collect();
    // Less room than a whole frame's fragments, as after other emits.
    let room = 1000;
    for _ in 0..rvpp_dataplane::node::MAX_EXTRA - room {
        h.vm.emit(0, BufferIndex(0));
    }
    let fits = room / 5;
    let nexts = h.run(&mut pkts);
    let out: Vec<(u16, BufferIndex)> = h.take_emitted().split_off(rvpp_dataplane::node::MAX_EXTRA - room);
    // Every fragment made was emitted, those of whole packets only.
    assert_eq!(out.len(), fits * 5);
    assert_eq!(h.vm.extra_room(), rvpp_dataplane::node::MAX_EXTRA, "nothing left behind after take_emitted");
    assert_eq!(h.counter("packets fragmented"), fits as u64);
    assert_eq!(h.counter("fragments sent"), out.len() as u64);
    assert_eq!(h.counter("fragments beyond what one frame may emit"), (256 - fits) as u64);
    for (k, &n) in nexts.iter().enumerate() {
        let want = if k < fits { "(consumed)" } else { ErrorDrop::NAME };
        assert_eq!(h.next_name(n), want, "packet {k}");
    }
    // Each emitted packet's fragments are all there, in order.
    for (j, f) in out.chunks(5).enumerate() {
        let mut got = Vec::new();
        for &(_, fb) in f {
            got.extend_from_slice(&h.vm.bufs.data(fb)[20..]);
        }
        assert_eq!(got, payload, "packet {j}");
    }
    let frags: Vec<BufferIndex> = out.iter().map(|o| o.1).collect();
    h.vm.bufs.free(&frags);
    let dropped: Vec<BufferIndex> = pkts[fits..].to_vec();
    h.vm.bufs.free(&dropped);
    assert_eq!(h.buffers_in_use(), before);
}

/// IPv4 options: no-operation, record route (7, not copied, room for two
/// addresses), router alert (0x94, copied), timestamp (0x44, not copied,
/// one slot), loose source route (0x83, copied, 7 bytes: the copied ones
/// take 11, padded to 12), end of list.
const OPTIONS: [u8; 32] = [
    1, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, // NOP, record route
    0x94, 4, 0, 0, // router alert
    0x44, 8, 5, 0, 0, 0, 0, 0, // timestamp
    0x83, 7, 4, 192, 0, 2, 9, // loose source route
    0, // end of list
];
/// What the later fragments carry of [`OPTIONS`].
const COPIED: [u8; 12] = [0x94, 4, 0, 0, 0x83, 7, 4, 192, 0, 2, 9, 0];

/// [`header4`] with `options` (a multiple of 4 bytes) after its 20 bytes.
fn header4_with(plen: usize, options: &[u8]) -> Vec<u8> {
    let mut h = header4(plen);
    let hl = 20 + options.len();
    h[0] = 0x40 | (hl / 4) as u8;
    h[2..4].copy_from_slice(&((hl + plen) as u16).to_be_bytes());
    h.extend_from_slice(options);
    h[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

#[test]
fn ip4_later_fragments_carry_only_the_copied_options() {
    let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
    let before = h.buffers_in_use();
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    // A first header of 52 bytes and later ones of 32: at MTU 100 the first
    // fragment takes 48 payload bytes, the later 64; at 1500, 1448 and 1464.
    for (mtu, plen, want) in [(100, 48, 1), (100, 49, 2), (100, 112, 2), (100, 113, 3), (100, 300, 5), (1500, 4000, 3)]
    {
        let payload = data(plen);
        let hdr = header4_with(plen, &OPTIONS);
        let n = fragment::<false>(&mut h.vm.bufs, &hdr, &[&payload], mtu, 0, 0, &mut out).unwrap();
        assert_eq!(n, want, "mtu {mtu} payload {plen}");
        let (first, later) = ((mtu - 52) & !7, (mtu - 32) & !7);
        let mut got = Vec::new();
        for (j, &fb) in out[..n].iter().enumerate() {
            let d = h.vm.bufs.data(fb);
            let ihl = (d[0] & 0xf) as usize * 4;
            assert_eq!(d[0] >> 4, 4);
            assert!(d.len() <= mtu, "fragment {j}: {} > {mtu}", d.len());
            if j == 0 {
                assert_eq!(ihl, 52, "the first fragment has every option");
                assert_eq!(&d[20..52], &OPTIONS[..]);
            } else {
                assert_eq!(ihl, 32, "later fragments: the copied options, padded");
                assert_eq!(&d[20..32], &COPIED[..]);
            }
            assert_eq!(u16::from_be_bytes([d[2], d[3]]) as usize, d.len(), "total length");
            assert_eq!(&d[4..6], &hdr[4..6], "identification kept");
            assert_eq!(&d[8..10], &hdr[8..10], "ttl and protocol kept");
            assert_eq!(&d[12..20], &hdr[12..20], "addresses kept");
            assert_eq!(checksum::checksum(&d[..ihl]), 0, "header checksum of fragment {j}");
            let fl = u16::from_be_bytes([d[6], d[7]]);
            let off = if j == 0 { 0 } else { first + (j - 1) * later };
            assert_eq!((fl & 0x1fff) as usize * 8, off, "offset of fragment {j}");
            assert_eq!(fl & 0x4000, 0, "DF clear");
            assert_eq!(fl & 0x2000 != 0, j + 1 < n, "MF on all but the last");
            let flen = d.len() - ihl;
            if j + 1 < n {
                assert_eq!(flen, if j == 0 { first } else { later }, "non-last fragments are full");
            }
            assert_eq!(got.len(), off);
            got.extend_from_slice(&d[ihl..]);
        }
        assert_eq!(got, payload, "the payloads back to back (mtu {mtu}, {plen} bytes)");
        let whole = reassemble::<false>(&mut h, &out[..n]);
        assert_eq!(&whole[..52], &hdr[..], "the first fragment's header, every option, back");
        assert!(whole[52..] == payload[..], "the original payload back (mtu {mtu}, {plen} bytes)");
    }
    assert_eq!(h.counter("packets reassembled"), 6);
    assert_eq!(h.buffers_in_use(), before, "every buffer came back");
}

#[test]
fn ip4_options_none_copied_or_past_the_end_of_list_leave_a_bare_header() {
    let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    let payload = data(200);
    // No copied option (NOPs, record route); then a copied one after the
    // end of list, which is padding and not an option.
    for options in [&[1, 1, 7, 7, 4, 0, 0, 0, 0, 1][..], &[0x44, 4, 5, 0, 0, 0x94, 4, 0]] {
        let mut o = options.to_vec();
        o.resize(o.len().next_multiple_of(4), 0);
        let hdr = header4_with(200, &o);
        let n = fragment::<false>(&mut h.vm.bufs, &hdr, &[&payload], 100, 0, 0, &mut out).unwrap();
        assert_eq!(n, 3, "{options:?}");
        let d = h.vm.bufs.data(out[0]);
        assert_eq!((d[0], &d[20..hdr.len()]), (hdr[0], &hdr[20..]), "the first fragment has them all");
        for &fb in &out[1..n] {
            let d = h.vm.bufs.data(fb);
            assert_eq!(d[0], 0x45, "no option left: {options:?}");
            assert_eq!(checksum::checksum(&d[..20]), 0);
        }
        let whole = reassemble::<false>(&mut h, &out[..n]);
        assert!(whole[hdr.len()..] == payload[..]);
    }
    // Copied options filling the 40 bytes: every fragment has them all.
    let o: Vec<u8> = [[0x94, 4, 0, 0]; 10].concat();
    let hdr = header4_with(200, &o);
    let n = fragment::<false>(&mut h.vm.bufs, &hdr, &[&payload], 100, 0, 0, &mut out).unwrap();
    assert_eq!(n, 5, "40 payload bytes per fragment after 60 of header");
    for &fb in &out[..n] {
        let d = h.vm.bufs.data(fb);
        assert_eq!(d[0], 0x4f);
        assert_eq!(&d[20..60], &o[..]);
        assert_eq!(checksum::checksum(&d[..60]), 0);
    }
    h.vm.bufs.free(&out[..n]);
}

#[test]
fn ip4_malformed_options_are_refused_never_half_read() {
    let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
    let before = h.buffers_in_use();
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    let payload = data(300);
    for options in [
        [0x94, 0, 0, 0], // length 0
        [0x94, 1, 0, 0], // length 1: shorter than its own type and length
        [7, 1, 0, 0],    // the same, not copied
        [0x94, 5, 0, 0], // one byte past the header
        [1, 0x94, 4, 0], // after a no-operation, past the header
        [1, 1, 1, 0x94], // a type with no room for its length
        [0x83, 255, 0, 0],
    ] {
        let hdr = header4_with(300, &options);
        assert_eq!(
            fragment::<false>(&mut h.vm.bufs, &hdr, &[&payload], 100, 0, 0, &mut out),
            Err(FragError::Malformed),
            "{options:?}"
        );
    }
    assert_eq!(h.buffers_in_use(), before, "no buffer kept");

    // Through the node: a packet with malformed options is a counted drop,
    // one with well-formed options is cut.
    let mut fwd = Forwarding::default();
    let mut adj = Adjacency::new(AdjKind::Rewrite, false, 1, 0);
    adj.mtu = 100;
    fwd.adjs.push(adj);
    let ai = fwd.adjs.len() as u32 - 1;
    let mut h = Harness::new(Box::new(Ip4Frag::new(Published::new(fwd))), 2);
    let before = h.buffers_in_use();
    let bad = [header4_with(300, &[0x94, 6, 0, 0]), payload.clone()].concat();
    let good = [header4_with(300, &OPTIONS), payload.clone()].concat();
    let mut pkts: Vec<BufferIndex> = [bad, good]
        .iter()
        .map(|p| {
            let bi = h.packet(p, 1);
            h.vm.bufs.meta_mut(bi).opaque[OPAQUE_ADJ] = ai;
            bi
        })
        .collect();
    let nexts = h.run(&mut pkts);
    assert_eq!(h.next_name(nexts[0]), ErrorDrop::NAME);
    assert_eq!(h.next_name(nexts[1]), "(consumed)");
    assert_eq!(h.counter("cannot fragment (bad header, options or mtu)"), 1);
    assert_eq!(h.counter("packets fragmented"), 1);
    let out = h.take_emitted();
    assert_eq!(out.len(), 5, "48 payload bytes, then 64 at a time");
    let mut got = Vec::new();
    for (j, &(_, fb)) in out.iter().enumerate() {
        let d = h.vm.bufs.data(fb);
        let ihl = (d[0] & 0xf) as usize * 4;
        assert_eq!(ihl, if j == 0 { 52 } else { 32 });
        assert_eq!(checksum::checksum(&d[..ihl]), 0);
        got.extend_from_slice(&d[ihl..]);
    }
    assert_eq!(got, payload);
    let frags: Vec<BufferIndex> = out.iter().map(|o| o.1).collect();
    h.vm.bufs.free(&frags);
    h.vm.bufs.free_one(pkts[0]);
    assert_eq!(h.buffers_in_use(), before);
}
