//! memif control messages and the shared-memory geometry a peer controls.
//! Any bytes: `Msg::decode` answers a message or a typed error and never
//! panics; a decoded message encodes to bytes that decode again, and from
//! then on encoding and decoding are exact (names that were not UTF-8 or
//! too long are normalised once). The rest of the input is read as region sizes, ring placements
//! and descriptors: a placement `check_rings` accepts lies inside its region
//! and apart from every other, and a descriptor `desc_in_bounds` accepts
//! ends inside its region.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_drivers::memif::proto::{self, check_rings, desc_in_bounds, ring_bytes, Desc, Msg, RingPlace};

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut x = [0u8; 4];
    for (k, v) in x.iter_mut().enumerate() {
        *v = b.get(o + k).copied().unwrap_or(0);
    }
    u32::from_le_bytes(x)
}

fuzz_target!(|data: &[u8]| {
    // The whole input as one message (any length), then its first 128 bytes.
    let _ = Msg::decode(data);
    let mut b = [0u8; proto::MSG_SIZE];
    let n = data.len().min(proto::MSG_SIZE);
    b[..n].copy_from_slice(&data[..n]);
    if let Ok(m) = Msg::decode(&b) {
        let m2 = Msg::decode(&m.encode()).expect("an encoded message decodes");
        let m3 = Msg::decode(&m2.encode()).expect("an encoded message decodes");
        assert_eq!(m2, m3, "encode/decode is not stable");
    }

    // Geometry from the rest.
    let rest = data.get(proto::MSG_SIZE..).unwrap_or(&[]);
    if rest.len() < 4 {
        return;
    }
    let nregions = (rest[0] % 4) as usize;
    let sizes: Vec<usize> = (0..nregions).map(|k| (u32_at(rest, 1 + 4 * k) % (1 << 24)) as usize).collect();
    let body = &rest[(1 + 4 * nregions).min(rest.len())..];
    let mut rings = Vec::new();
    for (k, c) in body.chunks(8).take(4).enumerate() {
        rings.push(RingPlace {
            name: format!("ring {k}"),
            index: k as u16,
            region: u16::from(c[0] % 5),
            offset: u32_at(c, 1),
            log2: c.get(5).copied().unwrap_or(0),
        });
    }
    if check_rings(&rings, &sizes, 14).is_ok() {
        for r in &rings {
            assert!(r.log2 <= 14);
            assert!(r.offset as usize + ring_bytes(r.log2) <= sizes[r.region as usize]);
        }
        for (i, a) in rings.iter().enumerate() {
            for c in &rings[i + 1..] {
                let (a0, a1) = (a.offset as usize, a.offset as usize + ring_bytes(a.log2));
                let (c0, c1) = (c.offset as usize, c.offset as usize + ring_bytes(c.log2));
                assert!(a.region != c.region || a1 <= c0 || c1 <= a0, "overlapping rings accepted");
            }
        }
    }
    for c in body.chunks(16) {
        let mut d = [0u8; 16];
        d[..c.len()].copy_from_slice(c);
        let desc = Desc::from_bytes(&d);
        assert_eq!(Desc::from_bytes(&desc.to_bytes()), desc);
        if let Some((region, off, len)) = desc_in_bounds(&desc, &sizes) {
            assert!(off + len <= sizes[region], "descriptor outside its region accepted");
        }
    }
});
