//! IP fragmentation, one generic piece of code for both families:
//! [`fragment`] cuts a packet (its IP header and its payload, in pieces
//! anywhere in memory) into fragments, each in a fresh buffer holding a
//! copy of the header; IPv4's fragments carry the header's own
//! identification and offsets (RFC 791), IPv6's a Fragment header (next
//! header 44, RFC 8200 §4.5) with an identification from [`Ip6FragIds`].
//! Every fragment fits both the MTU and one buffer; offsets are multiples
//! of 8.
//!
//! Two users: the `ip4-frag` node here, taken by `ip4-rewrite` for an
//! IPv4 packet with DF clear bigger than its adjacency's MTU (the original,
//! possibly a chain, is freed), and the hoststack, which fragments its own
//! UDP datagrams at the source (IPv6 routers never fragment, so only the
//! source may). Buffer exhaustion is a counted drop.

use std::any::Any;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, ThreadBuffers, Vm};

use super::checksum;
use super::fib::{Fib, Forwarding};
use super::lookup::OPAQUE_ADJ;
use super::{names, proto};

/// Most fragments one packet may become: enough for 65,535 bytes at
/// IPv4's smallest MTU every host takes whole (576 bytes: 119).
pub const MAX_FRAGMENTS: usize = 128;
/// The IPv6 Fragment header's length.
pub const IP6_FRAGMENT_HEADER: usize = 8;

/// Why a packet was not fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragError {
    /// A header that is not one whole IPv4 header (or IPv6 fixed header),
    /// no payload, or an MTU that leaves no room for 8 payload bytes.
    Malformed,
    /// It would take more than [`MAX_FRAGMENTS`] fragments.
    TooMany,
    /// The buffer pool ran dry (nothing was kept).
    NoBuffers,
}

/// Reads `pieces` back to back, from where the last read stopped.
struct Pieces<'a> {
    pieces: &'a [&'a [u8]],
    k: usize,
    at: usize,
}

impl Pieces<'_> {
    /// Fills `dst` with the next `dst.len()` bytes (there are that many).
    fn copy_to(&mut self, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let Some(p) = self.pieces.get(self.k) else { return };
            let src = &p[self.at..];
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
            dst = &mut dst[n..];
            self.at += n;
            if self.at == p.len() {
                self.k += 1;
                self.at = 0;
            }
        }
    }
}

/// Payload bytes per fragment after `before` bytes of headers: a multiple
/// of 8 that fits the MTU and a buffer of `data_size` (0: none fits).
fn per_fragment(before: usize, mtu: usize, data_size: usize) -> usize {
    mtu.min(data_size).saturating_sub(before) & !7
}

/// Cuts the packet `header` + `payload` into fragments that fit `mtu` and
/// one buffer each, written into fresh buffers listed in `out` (their
/// metadata reset as received on `rx_sw_if_index`: the caller adds what
/// its next node needs); returns how many.
///
/// IPv4 (`IP6` false): `header` is the whole IPv4 header, options
/// included (copied into every fragment); a packet that is itself a
/// fragment is cut further (its offset and MF kept). IPv6: `header` is
/// the 40-byte fixed header, its next header the protocol of the payload;
/// each fragment gets a Fragment header with `ident` after it.
/// The payload lengths in the headers are recomputed; everything else
/// (the UDP/TCP checksum included) is taken as it is.
pub fn fragment<const IP6: bool>(
    bufs: &mut ThreadBuffers,
    header: &[u8],
    payload: &[&[u8]],
    mtu: usize,
    ident: u32,
    rx_sw_if_index: u32,
    out: &mut [BufferIndex; MAX_FRAGMENTS],
) -> Result<usize, FragError> {
    let hl = header.len();
    let well_formed = if IP6 {
        hl == 40 && header[0] >> 4 == 6
    } else {
        hl >= 20 && header[0] >> 4 == 4 && (header[0] & 0xf) as usize * 4 == hl
    };
    // Bytes before each fragment's payload.
    let before = if IP6 { hl + IP6_FRAGMENT_HEADER } else { hl };
    let per = per_fragment(before, mtu, bufs.data_size());
    let plen: usize = payload.iter().map(|p| p.len()).sum();
    if !well_formed || per == 0 || plen == 0 {
        return Err(FragError::Malformed);
    }
    let nfrag = plen.div_ceil(per);
    if nfrag > MAX_FRAGMENTS {
        return Err(FragError::TooMany);
    }
    let (orig_off, orig_mf) = if IP6 {
        (0, false)
    } else {
        ((u16::from_be_bytes([header[6], header[7]]) & 0x1fff) as usize * 8, header[6] & 0x20 != 0)
    };
    if orig_off + plen > 0xffff {
        return Err(FragError::Malformed);
    }
    let got = bufs.alloc(&mut out[..nfrag]);
    if got < nfrag {
        bufs.free(&out[..got]);
        return Err(FragError::NoBuffers);
    }
    let mut src = Pieces { pieces: payload, k: 0, at: 0 };
    for (j, &fb) in out[..nfrag].iter().enumerate() {
        let start = j * per;
        let chunk = per.min(plen - start);
        let len = before + chunk;
        let (m, raw) = bufs.split_mut(fb);
        m.reset_rx(len as u16, rx_sw_if_index);
        let d = &mut raw[HEADROOM..HEADROOM + len];
        d[..hl].copy_from_slice(header);
        let off = orig_off + start;
        let more = j + 1 < nfrag || orig_mf;
        if IP6 {
            d[4..6].copy_from_slice(&((IP6_FRAGMENT_HEADER + chunk) as u16).to_be_bytes());
            d[6] = proto::FRAGMENT;
            let f = &mut d[40..48];
            f[0] = header[6];
            f[1] = 0;
            f[2..4].copy_from_slice(&(off as u16 | more as u16).to_be_bytes());
            f[4..8].copy_from_slice(&ident.to_be_bytes());
        } else {
            d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let fl = ((off / 8) as u16 & 0x1fff) | if more { 0x2000 } else { 0 };
            d[6..8].copy_from_slice(&fl.to_be_bytes());
            d[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&d[..hl]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
        }
        src.copy_to(&mut d[before..]);
    }
    Ok(nfrag)
}

/// Slots of [`Ip6FragIds`]' counter table.
const ID_SLOTS: usize = 1024;

/// IPv6 fragment identifications (RFC 7739 §5.3, the hash-based
/// algorithm): a keyed hash of the source and destination gives an offset,
/// another picks one of [`ID_SLOTS`] counters, and the identification is
/// their sum, the counter then stepping on. A destination sees its
/// identifications increase one by one from a start nobody can predict
/// (the keys are random), never repeating before 2^32 packets to it; an
/// observer of one destination's identifications learns nothing of
/// another's. One instance serves every thread (a relaxed atomic add per
/// fragmented packet).
pub struct Ip6FragIds {
    offset_key: RandomState,
    slot_key: RandomState,
    counters: Box<[AtomicU32]>,
}

impl Default for Ip6FragIds {
    fn default() -> Self {
        Ip6FragIds {
            offset_key: RandomState::new(),
            slot_key: RandomState::new(),
            counters: (0..ID_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

impl Ip6FragIds {
    /// The identification of the next fragmented packet from `src` to
    /// `dst`.
    pub fn next(&self, src: u128, dst: u128) -> u32 {
        let offset = self.offset_key.hash_one((src, dst)) as u32;
        let slot = self.slot_key.hash_one((src, dst)) as usize % ID_SLOTS;
        offset.wrapping_add(self.counters[slot].fetch_add(1, Ordering::Relaxed))
    }
}

static NEXTS: [&str; 2] = [ErrorDrop::NAME, "ip4-rewrite"];

#[repr(u16)]
enum Next {
    Rewrite = 1,
}

#[repr(usize)]
enum Counter {
    Fragmented,
    Fragments,
    NoBuffers,
    Malformed,
    NoRoom,
}

static COUNTERS: [CounterDesc; 5] = [
    CounterDesc::info("packets fragmented"),
    CounterDesc::info("fragments sent"),
    CounterDesc::error("no buffers for fragments"),
    CounterDesc::error("cannot fragment (bad header or mtu)"),
    CounterDesc::error("fragments beyond what one frame may emit"),
];

/// The `ip4-frag` node.
pub struct Ip4Frag {
    fwd: Published<Forwarding>,
    scratch: Vec<u8>,
}

impl Ip4Frag {
    pub fn new(fwd: Published<Forwarding>) -> Self {
        Ip4Frag { fwd, scratch: Vec::with_capacity(65536) }
    }
}

impl Node for Ip4Frag {
    fn name(&self) -> &'static str {
        names(false).frag
    }
    fn next_nodes(&self) -> &[&'static str] {
        &NEXTS
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let fwd = self.fwd.load();
        let mut out = [BufferIndex(0); MAX_FRAGMENTS];
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            frame.nexts[k] = 0;
            let ai = vm.bufs.meta(bi).opaque[OPAQUE_ADJ];
            let mtu = fwd.adjs.get(ai as usize).map_or(0, |a| a.mtu as usize);
            self.scratch.clear();
            self.scratch.extend_from_slice(&vm.bufs.chain_bytes(bi));
            let p = &self.scratch;
            let ihl = p.first().map_or(0, |b| (b & 0xf) as usize * 4);
            let total = p.get(2..4).map_or(0, |t| u16::from_be_bytes([t[0], t[1]]) as usize);
            if ihl < 20 || total > p.len() || total <= ihl {
                vm.count(Counter::Malformed as usize, 1);
                continue;
            }
            // Its fragments leave through `emit`, which takes a bounded
            // number per call: a packet whose fragments would not all fit
            // is dropped whole (part of a datagram is never reassembled).
            let per = per_fragment(ihl, mtu, vm.bufs.data_size());
            if per > 0 && (total - ihl).div_ceil(per) > vm.extra_room() {
                vm.count(Counter::NoRoom as usize, 1);
                continue;
            }
            let rx = vm.bufs.meta(bi).sw_if_index;
            let n = match fragment::<false>(&mut vm.bufs, &p[..ihl], &[&p[ihl..total]], mtu, 0, rx[0], &mut out) {
                Ok(n) => n,
                Err(FragError::NoBuffers) => {
                    vm.count(Counter::NoBuffers as usize, 1);
                    continue;
                }
                Err(FragError::Malformed | FragError::TooMany) => {
                    vm.count(Counter::Malformed as usize, 1);
                    continue;
                }
            };
            let local = vm.bufs.meta(bi).flags & rvpp_dataplane::buffer::flags::LOCALLY_ORIGINATED;
            for &fb in &out[..n] {
                let m = vm.bufs.meta_mut(fb);
                m.sw_if_index = rx;
                m.flags |= local;
                m.opaque[OPAQUE_ADJ] = ai;
            }
            vm.count(Counter::Fragmented as usize, 1);
            vm.count(Counter::Fragments as usize, n as u64);
            vm.bufs.free_one(bi);
            frame.nexts[k] = NEXT_CONSUMED;
            for &fb in &out[..n] {
                vm.emit(Next::Rewrite as u16, fb);
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let f = r.ext.get_or_default::<Fib>().fwd.clone();
    r.node(NodeReg { name: names(false).frag, factory: Arc::new(move |_| Box::new(Ip4Frag::new(f.clone()))) });
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            fragment::<true>(bufs, &header6(100, 17), &[&p[..100]], 55, 1, 0, &mut out),
            Err(FragError::Malformed)
        );
        assert_eq!(fragment::<false>(bufs, &header4(100), &[&p[..100]], 27, 1, 0, &mut out), Err(FragError::Malformed));
        // Not a whole header of the family; nothing to cut.
        assert_eq!(
            fragment::<true>(bufs, &header4(100), &[&p[..100]], 1280, 1, 0, &mut out),
            Err(FragError::Malformed)
        );
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
        // bytes each at MTU 500, 1280 in all, more than one call may emit.
        let payload = data(1980);
        let pkt = [header4(1980), payload.clone()].concat();
        let mut pkts: Vec<BufferIndex> = (0..256)
            .map(|_| {
                let bi = h.packet(&pkt, 1);
                h.vm.bufs.meta_mut(bi).opaque[OPAQUE_ADJ] = ai;
                bi
            })
            .collect();
        let room = rvpp_dataplane::node::MAX_EXTRA;
        let fits = room / 5;
        let nexts = h.run(&mut pkts);
        let out = h.take_emitted();
        // Every fragment made was emitted, those of whole packets only.
        assert_eq!(out.len(), fits * 5);
        assert_eq!(h.vm.extra_room(), room, "nothing left behind after take_emitted");
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
}
