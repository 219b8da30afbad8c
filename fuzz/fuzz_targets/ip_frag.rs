//! Fragmentation at the source and on forwarding (`fragment`, IPv4 and
//! IPv6) on arbitrary headers, payloads and MTUs: never a panic, and when
//! it cuts, the fragments are what the RFCs say. Each fits the MTU and a
//! buffer; offsets are multiples of 8 and the payloads join back to the
//! original; the first IPv4 fragment carries the header as given, and the
//! later ones the same fixed fields with only the options marked copied
//! (RFC 791), a valid header checksum and their own length; IPv6's carry
//! a Fragment header with the identification. Every buffer comes back.
//!
//! Input: byte 0 picks the family (bit 0) and the MTU (the rest, scaled
//! from 68 up); then the header (IPv4: as long as its IHL says; IPv6: 40
//! bytes), then the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_dataplane::buffer::{Backing, Buffers};
use rvpp_dataplane::checksum;
use rvpp_dataplane::BufferIndex;
use rvpp_graph_nodes::ip::frag::{fragment, MAX_FRAGMENTS};

/// The options of an IPv4 header that are marked copied, padded to 4.
fn copied(options: &[u8]) -> Vec<u8> {
    let (mut i, mut out) = (0, Vec::new());
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = options[i + 1] as usize;
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&options[i..i + len]);
                }
                i += len;
            }
        }
    }
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let ip6 = sel & 1 == 1;
    let mtu = 68 + usize::from(sel >> 1) * 75;
    let hl = if ip6 { 40 } else { rest.first().map_or(0, |b| usize::from(b & 0xf) * 4) };
    if rest.len() < hl {
        return;
    }
    let (header, payload) = rest.split_at(hl);
    // The payload in two pieces, as a buffer chain would give it.
    let (p1, p2) = payload.split_at(payload.len() / 3);
    let arena = Buffers::new(256, 2048, Backing::Pages).expect("arena");
    let mut bufs = arena.thread(0);
    let free0 = arena.stats(1).free;
    let mut out = [BufferIndex(0); MAX_FRAGMENTS];
    let result = if ip6 {
        fragment::<true>(&mut bufs, header, &[p1, p2], mtu, 0x1234_5678, 1, &mut out)
    } else {
        fragment::<false>(&mut bufs, header, &[p1, p2], mtu, 0, 1, &mut out)
    };
    if let Ok(n) = result {
        assert!(n >= 1 && n <= MAX_FRAGMENTS);
        let later = if ip6 { None } else { Some(copied(&header[20..])) };
        let orig_off = if ip6 { 0 } else { usize::from(u16::from_be_bytes([header[6], header[7]]) & 0x1fff) * 8 };
        let mut joined = Vec::new();
        for (j, &fb) in out[..n].iter().enumerate() {
            let d = bufs.data(fb).to_vec();
            assert!(d.len() <= mtu, "fragment {j} of {} bytes over mtu {mtu}", d.len());
            let (fhl, off, more, body) = if ip6 {
                assert_eq!(&d[..4], &header[..4]);
                assert_eq!(usize::from(u16::from_be_bytes([d[4], d[5]])), d.len() - 40, "payload length");
                assert_eq!(d[6], 44, "a Fragment header follows");
                assert_eq!(&d[7..40], &header[7..40]);
                assert_eq!(d[40], header[6], "the Fragment header names the payload's protocol");
                assert_eq!(&d[44..48], &0x1234_5678u32.to_be_bytes());
                let fo = u16::from_be_bytes([d[42], d[43]]);
                (48, usize::from(fo >> 3) * 8, fo & 1 == 1, d[48..].to_vec())
            } else {
                let fhl = usize::from(d[0] & 0xf) * 4;
                if j == 0 {
                    assert_eq!(&d[20..fhl], &header[20..], "the first fragment keeps every option");
                } else {
                    assert_eq!(Some(&d[20..fhl]), later.as_deref(), "later fragments: copied options only");
                }
                assert_eq!(usize::from(u16::from_be_bytes([d[2], d[3]])), d.len(), "total length");
                assert_eq!(checksum::checksum(&d[..fhl]), 0, "header checksum of fragment {j}");
                assert_eq!((&d[4..6], d[8], d[9], &d[12..20]), (&header[4..6], header[8], header[9], &header[12..20]));
                let fo = u16::from_be_bytes([d[6], d[7]]);
                (fhl, usize::from(fo & 0x1fff) * 8, fo & 0x2000 != 0, d[fhl..].to_vec())
            };
            assert!(fhl <= d.len());
            assert_eq!(off, orig_off + joined.len(), "fragment {j} starts where the last ended");
            if j + 1 < n {
                assert!(more, "fragment {j} of {n} says more follow");
                assert_eq!(body.len() % 8, 0, "a non-last fragment carries a multiple of 8");
            }
            joined.extend_from_slice(&body);
        }
        assert_eq!(joined, payload, "the fragments join back to the payload");
        bufs.free(&out[..n]);
    }
    bufs.flush();
    assert_eq!(arena.stats(1).free, free0, "every buffer came back");
});
