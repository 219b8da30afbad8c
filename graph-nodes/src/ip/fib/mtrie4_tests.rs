//! Tests of [`Mtrie4`](super::Mtrie4): against a naive scan, structural
//! invariants, ply reuse, bulk insert and concurrent readers.

use super::*;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier};

/// Deterministic xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The obvious LPM: scan every route.
struct Naive {
    default: u32,
    routes: Vec<(u32, u8, u32)>,
}

impl Naive {
    fn new(default: u32) -> Naive {
        Naive { default, routes: Vec::new() }
    }

    fn insert(&mut self, p: u32, len: u8, v: u32) {
        let p = mask(p, len);
        match self.routes.iter_mut().find(|r| r.0 == p && r.1 == len) {
            Some(r) => r.2 = v,
            None => self.routes.push((p, len, v)),
        }
    }

    fn remove(&mut self, p: u32, len: u8) -> Option<u32> {
        let p = mask(p, len);
        let i = self.routes.iter().position(|r| r.0 == p && r.1 == len)?;
        Some(self.routes.swap_remove(i).2)
    }

    fn get(&self, p: u32, len: u8) -> Option<u32> {
        let p = mask(p, len);
        self.routes.iter().find(|r| r.0 == p && r.1 == len).map(|r| r.2)
    }

    fn lookup(&self, dst: u32) -> u32 {
        self.routes.iter().filter(|r| mask(dst, r.1) == r.0).max_by_key(|r| r.1).map_or(self.default, |r| r.2)
    }
}

/// Walks the trie and checks the writer's bookkeeping: every reachable ply
/// is counted in use and not free; its owned count is right and non-zero
/// (uniform plies are collapsed); its cover leaves agree, and its cover is
/// no shorter than its parent's.
fn check_structure(m: &Mtrie4) {
    let w = m.lock();
    let mut reachable = Vec::new();
    for leaf in m.root.iter() {
        let leaf = leaf.load(Ordering::Relaxed);
        if leaf & PLY_BIT != 0 {
            reachable.push((leaf & !PLY_BIT, L2_BASE, 0));
        }
    }
    let mut i = 0;
    while i < reachable.len() {
        let (p, base, parent_cover_len) = reachable[i];
        let meta = &w.meta[p as usize];
        assert!(meta.cover_len <= base && meta.cover_len >= parent_cover_len);
        let mut owned = 0;
        let mut cover = None;
        for (s, leaf) in m.ply_at(p).iter().enumerate() {
            let leaf = leaf.load(Ordering::Relaxed);
            if leaf & PLY_BIT != 0 {
                assert_eq!(base, L2_BASE, "ply below a /24 ply");
                assert_eq!(meta.ext(s), 0, "ext of a reference leaf");
                reachable.push((leaf & !PLY_BIT, L3_BASE, meta.cover_len));
                owned += 1;
            } else if meta.ext(s) != 0 {
                assert!(meta.ext(s) <= 8);
                owned += 1;
            } else {
                assert_eq!(*cover.get_or_insert(leaf), leaf, "cover leaves of ply {p}");
            }
        }
        assert_eq!(meta.owned, owned, "owned count of ply {p}");
        assert_ne!(owned, 0, "uniform ply {p} left in place");
        assert!(!w.free.iter().any(|&(f, _)| f == p), "ply {p} reachable and free");
        i += 1;
    }
    assert_eq!(reachable.len(), w.plies_in_use);
    assert_eq!(w.plies_in_use + w.free.len(), w.meta.len(), "every ply handed out is in use or free");
}

fn check_against(m: &Mtrie4, n: &Naive, probes: &[u32]) {
    for &a in probes {
        assert_eq!(m.lookup(a), n.lookup(a), "lookup {}", fmt(a));
    }
    assert_eq!(m.len(), n.routes.len());
    let mut got = m.prefixes();
    let mut want = n.routes.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    for &(p, len, v) in &n.routes {
        assert_eq!(m.get(p, len), Some(v));
    }
    check_structure(m);
}

fn fmt(a: u32) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

#[test]
fn empty_is_default() {
    let m = Mtrie4::new(7);
    for a in [0, 1, ip(10, 1, 2, 3), u32::MAX] {
        assert_eq!(m.lookup(a), 7);
    }
    assert!(m.is_empty());
    assert_eq!(m.get(0, 0), None);
    assert_eq!(m.plies_in_use(), 0);
}

#[test]
fn nested_prefixes_and_removal() {
    let m = Mtrie4::new(0);
    m.insert(ip(10, 0, 0, 0), 8, 1);
    m.insert(ip(10, 1, 0, 0), 16, 2);
    m.insert(ip(10, 1, 2, 0), 24, 3);
    m.insert(ip(10, 1, 2, 128), 25, 4);
    m.insert(ip(10, 1, 2, 130), 32, 5);
    let cases = [
        (ip(10, 9, 9, 9), 1),
        (ip(10, 1, 9, 9), 2),
        (ip(10, 1, 2, 1), 3),
        (ip(10, 1, 2, 129), 4),
        (ip(10, 1, 2, 130), 5),
        (ip(11, 0, 0, 0), 0),
    ];
    for (a, v) in cases {
        assert_eq!(m.lookup(a), v, "{}", fmt(a));
    }
    assert_eq!(m.plies_in_use(), 2);
    // Removing the middle prefixes falls back to the next shorter one and
    // leaves the longer ones alone.
    assert_eq!(m.remove(ip(10, 1, 2, 0), 24), Some(3));
    assert_eq!(m.lookup(ip(10, 1, 2, 1)), 2);
    assert_eq!(m.lookup(ip(10, 1, 2, 129)), 4);
    assert_eq!(m.remove(ip(10, 1, 0, 0), 16), Some(2));
    assert_eq!(m.lookup(ip(10, 1, 2, 1)), 1);
    assert_eq!(m.lookup(ip(10, 1, 2, 130)), 5);
    // A shorter prefix inserted later does not hide the longer ones.
    m.insert(ip(10, 0, 0, 0), 12, 6);
    assert_eq!(m.lookup(ip(10, 1, 2, 1)), 6);
    assert_eq!(m.lookup(ip(10, 1, 2, 129)), 4);
    assert_eq!(m.remove(ip(10, 1, 2, 128), 25), Some(4));
    assert_eq!(m.remove(ip(10, 1, 2, 130), 32), Some(5));
    assert_eq!(m.lookup(ip(10, 1, 2, 130)), 6);
    assert_eq!(m.plies_in_use(), 0, "plies collapse once uniform");
    check_structure(&m);
}

#[test]
fn default_route_and_boundaries() {
    let m = Mtrie4::new(9);
    m.insert(0, 32, 1);
    m.insert(u32::MAX, 32, 2);
    m.insert(ip(1, 2, 3, 4), 0, 3); // /0: bits beyond len ignored
    assert_eq!(m.get(0, 0), Some(3));
    assert_eq!(m.lookup(0), 1);
    assert_eq!(m.lookup(1), 3);
    assert_eq!(m.lookup(u32::MAX), 2);
    assert_eq!(m.lookup(u32::MAX - 1), 3);
    assert_eq!(m.remove(0, 0), Some(3));
    assert_eq!(m.lookup(1), 9, "back to the default value");
    assert_eq!(m.lookup(0), 1);
    m.insert(ip(128, 0, 0, 0), 1, 4);
    assert_eq!(m.lookup(u32::MAX - 1), 4);
    assert_eq!(m.lookup(u32::MAX), 2);
    assert_eq!(m.remove(0, 32), Some(1));
    assert_eq!(m.remove(u32::MAX, 32), Some(2));
    assert_eq!(m.lookup(0), 9);
    assert_eq!(m.lookup(u32::MAX), 4);
    check_structure(&m);
}

#[test]
fn remove_missing_and_reinsert() {
    let m = Mtrie4::new(0);
    assert_eq!(m.remove(ip(10, 0, 0, 0), 8), None);
    m.insert(ip(10, 1, 2, 3), 32, 1);
    assert_eq!(m.remove(ip(10, 1, 2, 3), 31), None);
    assert_eq!(m.remove(ip(10, 1, 2, 0), 24), None);
    assert_eq!(m.lookup(ip(10, 1, 2, 3)), 1);
    assert_eq!(m.remove(ip(10, 1, 2, 3), 32), Some(1));
    assert_eq!(m.remove(ip(10, 1, 2, 3), 32), None);
    assert_eq!(m.lookup(ip(10, 1, 2, 3)), 0);
    m.insert(ip(10, 1, 2, 3), 32, 2);
    assert_eq!(m.lookup(ip(10, 1, 2, 3)), 2);
    m.insert(ip(10, 1, 2, 3), 32, 3);
    assert_eq!(m.len(), 1, "replace keeps one prefix");
    assert_eq!(m.lookup(ip(10, 1, 2, 3)), 3);
    check_structure(&m);
}

/// Random prefixes that nest: a few base addresses, each kept to a random
/// length and randomized below.
fn random_prefix(rng: &mut Rng) -> (u32, u8) {
    const BASES: [u32; 5] = [0x0a01_0200, 0x0a01_0000, 0xc0a8_0000, 0, u32::MAX];
    let base = BASES[rng.below(5) as usize];
    let len = match rng.below(10) {
        0 => 32,
        1 => 24,
        2 => 16,
        3 => rng.below(4) as u8,
        _ => rng.below(33) as u8,
    };
    let keep = rng.below(33) as u8;
    let p = mask(base, keep) | (rng.next() as u32 & !mask(u32::MAX, keep));
    (p, len)
}

fn random_probe(rng: &mut Rng) -> u32 {
    let (p, len) = random_prefix(rng);
    // Somewhere inside the prefix, or one of its ends.
    let host = !mask(u32::MAX, len);
    match rng.below(3) {
        0 => p & !host,
        1 => p | host,
        _ => mask(p, len) | (rng.next() as u32 & host),
    }
}

#[test]
fn agrees_with_naive() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let m = Mtrie4::new(100_000);
    let mut n = Naive::new(100_000);
    let mut probes = vec![0, u32::MAX, 0x0a01_0200, 0x0a01_02ff];
    for round in 0..6000 {
        let (p, len) = random_prefix(&mut rng);
        if rng.below(5) < 2 {
            // Removals hit installed prefixes more often than not.
            let (p, len) = match rng.below(2) {
                0 if !n.routes.is_empty() => {
                    let r = n.routes[rng.below(n.routes.len() as u64) as usize];
                    (r.0, r.1)
                }
                _ => (p, len),
            };
            assert_eq!(m.remove(p, len), n.remove(p, len), "remove {}/{len}", fmt(p));
        } else {
            let v = rng.below(1 << 31) as u32;
            m.insert(p, len, v);
            n.insert(p, len, v);
        }
        assert_eq!(m.get(p, len), n.get(p, len));
        for _ in 0..8 {
            let a = random_probe(&mut rng);
            assert_eq!(m.lookup(a), n.lookup(a), "lookup {}", fmt(a));
        }
        if probes.len() < 2000 {
            probes.push(random_probe(&mut rng));
        }
        if round % 250 == 0 {
            check_against(&m, &n, &probes);
        }
    }
    check_against(&m, &n, &probes);
    // Drain in random order: every ply must collapse.
    while !n.routes.is_empty() {
        let r = n.routes[rng.below(n.routes.len() as u64) as usize];
        assert_eq!(m.remove(r.0, r.1), n.remove(r.0, r.1));
        let a = random_probe(&mut rng);
        assert_eq!(m.lookup(a), n.lookup(a), "lookup {}", fmt(a));
    }
    check_against(&m, &n, &probes);
    assert_eq!(m.plies_in_use(), 0);
}

#[test]
fn insert_many_equals_repeated_insert() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    // Mostly /8../32 (a short prefix rewrites every ply below it, which is
    // slow in a debug build), a few shorter.
    let mut routes: Vec<(u32, u8, u32)> = (0..10_000)
        .map(|i| {
            let (p, len) = random_prefix(&mut rng);
            let len = if i % 2500 == 0 { len } else { len.max(8) };
            (p, len, rng.below(1 << 31) as u32)
        })
        .collect();
    // Duplicates with different values: the later one wins.
    for i in 0..500 {
        let (p, len, _) = routes[i * 7];
        routes.push((p, len, i as u32));
    }
    let one = Mtrie4::new(5);
    for &(p, len, v) in &routes {
        one.insert(p, len, v);
    }
    let bulk = Mtrie4::new(5);
    bulk.insert(ip(10, 1, 0, 0), 16, 77); // bulk on top of existing routes
    bulk.remove(ip(10, 1, 0, 0), 16);
    bulk.insert_many(&routes);
    let mut a = one.prefixes();
    let mut b = bulk.prefixes();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
    for _ in 0..50_000 {
        let x = random_probe(&mut rng);
        assert_eq!(one.lookup(x), bulk.lookup(x), "lookup {}", fmt(x));
    }
    assert_eq!(one.plies_in_use(), bulk.plies_in_use());
    check_structure(&bulk);
}

#[test]
fn freed_plies_wait_before_reuse() {
    let m = Mtrie4::new(0);
    for i in 0..10u32 {
        m.insert(ip(10, i as u8, 0, 1), 32, i);
        m.remove(ip(10, i as u8, 0, 1), 32);
    }
    // Each insert needed two plies; none freed a moment ago was reused.
    let w = m.lock();
    assert_eq!(w.meta.len(), 20);
    assert_eq!(w.free.len(), 20);
    assert_eq!(w.plies_in_use, 0);
}

#[test]
fn freed_plies_are_reused_after_grace() {
    let m = Mtrie4::with_reuse_after(0, Duration::ZERO);
    for i in 0..5000u32 {
        m.insert(ip(10, 0, (i >> 8) as u8, i as u8), 32, i);
        m.remove(ip(10, 0, (i >> 8) as u8, i as u8), 32);
    }
    let w = m.lock();
    assert!(w.meta.len() <= 4, "plies reused: {} handed out", w.meta.len());
    drop(w);
    assert!(m.memory_bytes() < (4 << 20), "{} bytes for a handful of plies", m.memory_bytes());
    // Reused plies are refilled: a new route under a recycled ply sees the
    // right cover.
    m.insert(ip(10, 0, 0, 0), 8, 3);
    m.insert(ip(10, 0, 0, 7), 32, 4);
    assert_eq!(m.lookup(ip(10, 0, 0, 6)), 3);
    assert_eq!(m.lookup(ip(10, 0, 0, 7)), 4);
    check_structure(&m);
}

/// One writer churns routes around a stable /16 while readers look up
/// addresses only that /16 covers: they must always see its value, through
/// ply creation, in-place updates and collapse above and below them.
#[test]
fn readers_see_stable_route_during_churn() {
    const STABLE: u32 = 1000;
    let m = Arc::new(Mtrie4::new(0));
    m.insert(ip(10, 1, 0, 0), 16, STABLE);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let readers: Vec<_> = (0..2u64)
        .map(|seed| {
            let m = Arc::clone(&m);
            let stop = Arc::clone(&stop);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let mut rng = Rng(0x51ab_1e00 + seed);
                start.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // 10.1.x.y with x outside 200..=203, where the churn is.
                    let x = rng.below(252) as u8;
                    let x = if x >= 200 { x + 4 } else { x };
                    let a = ip(10, 1, x, rng.next() as u8);
                    assert_eq!(m.lookup(a), STABLE, "lookup {}", fmt(a));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut rng = Rng(0xc0ff_ee00);
    let churn: Vec<(u32, u8)> = vec![
        (0, 0),
        (ip(10, 0, 0, 0), 8),
        (ip(10, 0, 0, 0), 15),
        (ip(8, 0, 0, 0), 5),
        (ip(10, 1, 200, 0), 22),
        (ip(10, 1, 200, 0), 24),
        (ip(10, 1, 201, 128), 25),
        (ip(10, 1, 202, 7), 32),
        (ip(10, 1, 203, 0), 23),
        (ip(10, 2, 0, 0), 16),
        (ip(10, 2, 3, 4), 32),
    ];
    start.wait();
    for _ in 0..4000 {
        let (p, len) = churn[rng.below(churn.len() as u64) as usize];
        if rng.below(2) == 0 {
            m.insert(p, len, rng.below(1 << 31) as u32 | 1);
        } else {
            m.remove(p, len);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader panicked") > 0);
    }
    assert_eq!(m.get(ip(10, 1, 0, 0), 16), Some(STABLE));
    check_structure(&m);
}

#[test]
#[should_panic(expected = "exceeds MAX_VALUE")]
fn value_with_top_bit_panics() {
    Mtrie4::new(0).insert(0, 8, PLY_BIT);
}

#[test]
#[should_panic(expected = "exceeds 32")]
fn len_over_32_panics() {
    Mtrie4::new(0).insert(0, 33, 1);
}
