//! IPv6 longest-prefix match for read-mostly tables.
//!
//! One hash table per prefix length in use, probed from the longest length
//! down; the first hit is the longest match. Deployments use few distinct
//! lengths (/128 hosts, /64 subnets, a default), so a lookup is a couple of
//! hash probes. /0 is kept apart and costs no probe.
//!
//! A [`Table6`] is an immutable snapshot for readers: the control plane
//! clones it, modifies the clone and publishes it (e.g. through `arc-swap`),
//! so lookups need no atomics. Addresses and prefixes are host-order `u128`
//! (`u128::from_be_bytes` of the address bytes).
//!
//! # Panics
//! The control-plane calls panic if a prefix length exceeds 128.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use hashbrown::HashMap;

/// IPv6 longest-prefix-match table; see the module docs.
#[derive(Clone, Default)]
pub struct Table6 {
    /// Non-empty tables of prefixes longer than 0, longest first.
    lens: Vec<LenTable>,
    /// The value of ::/0.
    default: Option<u32>,
    n_routes: usize,
}

/// The prefixes of one length, keyed by masked prefix.
#[derive(Clone)]
struct LenTable {
    len: u8,
    mask: u128,
    routes: HashMap<u128, u32, PrefixHash>,
}

/// `u128` with the bits beyond `len` cleared.
fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        _ => u128::MAX << (128 - u32::from(len)),
    }
}

fn check_len(len: u8) {
    assert!(len <= 128, "table6: prefix length {len} exceeds 128");
}

impl Table6 {
    /// An empty table: every lookup misses.
    pub fn new() -> Table6 {
        Table6::default()
    }

    /// Longest-prefix match of `dst`: the value of the longest installed
    /// prefix covering it, or `None`.
    #[inline]
    pub fn lookup(&self, dst: u128) -> Option<u32> {
        for t in &self.lens {
            if let Some(&v) = t.routes.get(&(dst & t.mask)) {
                return Some(v);
            }
        }
        self.default
    }

    /// Installs `prefix/len -> value`, replacing the value if the prefix
    /// exists. Bits of `prefix` beyond `len` are ignored.
    ///
    /// # Panics
    /// If `len > 128`.
    pub fn insert(&mut self, prefix: u128, len: u8, value: u32) {
        check_len(len);
        if len == 0 {
            if self.default.replace(value).is_none() {
                self.n_routes += 1;
            }
            return;
        }
        let i = match self.lens.binary_search_by(|t| len.cmp(&t.len)) {
            Ok(i) => i,
            Err(i) => {
                let t = LenTable { len, mask: mask(len), routes: HashMap::with_hasher(PrefixHash::new()) };
                self.lens.insert(i, t);
                i
            }
        };
        let t = &mut self.lens[i];
        if t.routes.insert(prefix & t.mask, value).is_none() {
            self.n_routes += 1;
        }
    }

    /// Removes `prefix/len`, returning its value if it was installed.
    ///
    /// # Panics
    /// If `len > 128`.
    pub fn remove(&mut self, prefix: u128, len: u8) -> Option<u32> {
        check_len(len);
        let old = if len == 0 {
            self.default.take()?
        } else {
            let i = self.lens.binary_search_by(|t| len.cmp(&t.len)).ok()?;
            let t = &mut self.lens[i];
            let old = t.routes.remove(&(prefix & t.mask))?;
            if t.routes.is_empty() {
                self.lens.remove(i);
            }
            old
        };
        self.n_routes -= 1;
        Some(old)
    }

    /// The value of exactly `prefix/len`, if installed.
    ///
    /// # Panics
    /// If `len > 128`.
    pub fn get(&self, prefix: u128, len: u8) -> Option<u32> {
        check_len(len);
        if len == 0 {
            return self.default;
        }
        let i = self.lens.binary_search_by(|t| len.cmp(&t.len)).ok()?;
        let t = &self.lens[i];
        t.routes.get(&(prefix & t.mask)).copied()
    }

    /// Number of installed prefixes.
    pub fn len(&self) -> usize {
        self.n_routes
    }

    /// True if no prefix is installed.
    pub fn is_empty(&self) -> bool {
        self.n_routes == 0
    }

    /// Every installed prefix as `(prefix, len, value)`, longest first.
    pub fn prefixes(&self) -> Vec<(u128, u8, u32)> {
        let mut out = Vec::with_capacity(self.n_routes);
        for t in &self.lens {
            out.extend(t.routes.iter().map(|(&p, &v)| (p, t.len, v)));
        }
        out.extend(self.default.map(|v| (0, 0, v)));
        out
    }
}

/// Hash for `u128` prefixes: one folded 64x64->128 multiply of the two
/// halves, each first mixed with a per-table random key (so that route sets
/// cannot be chosen to collide). SipHash would cost several times more.
#[derive(Clone, Copy)]
struct PrefixHash {
    k0: u64,
    k1: u64,
}

impl PrefixHash {
    fn new() -> PrefixHash {
        let random = RandomState::new();
        // Odd so that the multiply never collapses to zero for a whole half.
        PrefixHash { k0: random.hash_one(0u64) | 1, k1: random.hash_one(1u64) | 1 }
    }
}

impl BuildHasher for PrefixHash {
    type Hasher = PrefixHasher;

    fn build_hasher(&self) -> PrefixHasher {
        PrefixHasher { keys: *self, state: 0 }
    }
}

/// See [`PrefixHash`]. Keys other than `u128` go through a byte-wise
/// fallback; the tables only hash `u128`.
struct PrefixHasher {
    keys: PrefixHash,
    state: u64,
}

fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl Hasher for PrefixHasher {
    #[inline]
    fn write_u128(&mut self, v: u128) {
        let lo = v as u64 ^ self.keys.k0;
        let hi = (v >> 64) as u64 ^ self.keys.k1;
        self.state = folded_multiply(lo ^ self.state, hi);
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut b = [0; 16];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u128(u128::from_le_bytes(b));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic xorshift64.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn addr(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
    }

    /// The obvious LPM: scan every route.
    #[derive(Default)]
    struct Naive(Vec<(u128, u8, u32)>);

    impl Naive {
        fn insert(&mut self, p: u128, len: u8, v: u32) {
            let p = p & mask(len);
            match self.0.iter_mut().find(|r| r.0 == p && r.1 == len) {
                Some(r) => r.2 = v,
                None => self.0.push((p, len, v)),
            }
        }

        fn remove(&mut self, p: u128, len: u8) -> Option<u32> {
            let p = p & mask(len);
            let i = self.0.iter().position(|r| r.0 == p && r.1 == len)?;
            Some(self.0.swap_remove(i).2)
        }

        fn lookup(&self, dst: u128) -> Option<u32> {
            self.0.iter().filter(|r| dst & mask(r.1) == r.0).max_by_key(|r| r.1).map(|r| r.2)
        }
    }

    fn check_all(t: &Table6, n: &Naive, probes: &[u128]) {
        for &a in probes {
            assert_eq!(t.lookup(a), n.lookup(a), "lookup {a:#034x}");
        }
        assert_eq!(t.len(), n.0.len());
        let mut got = t.prefixes();
        let mut want = n.0.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn empty_misses() {
        let t = Table6::new();
        assert_eq!(t.lookup(0), None);
        assert_eq!(t.lookup(u128::MAX), None);
        assert!(t.is_empty());
        assert_eq!(t.get(0, 0), None);
    }

    #[test]
    fn host_subnet_default() {
        let mut t = Table6::new();
        let net: u128 = 0x2001_0db8_0000_0001 << 64;
        let host = net | 0x10;
        t.insert(0, 0, 1);
        t.insert(net | 0xffff, 64, 2);
        t.insert(host, 128, 3);
        assert_eq!(t.lookup(host), Some(3));
        assert_eq!(t.lookup(host + 1), Some(2));
        assert_eq!(t.lookup(net + (1 << 64)), Some(1));
        assert_eq!(t.get(net, 64), Some(2));
        assert_eq!(t.get(net | 0xffff, 64), Some(2), "bits beyond len ignored");
        assert_eq!(t.get(net, 63), None);
        assert_eq!(t.remove(host, 128), Some(3));
        assert_eq!(t.lookup(host), Some(2));
        assert_eq!(t.remove(host, 128), None);
        assert_eq!(t.remove(net, 64), Some(2));
        assert_eq!(t.lookup(host), Some(1));
        assert_eq!(t.remove(0, 0), Some(1));
        assert_eq!(t.lookup(host), None);
        assert!(t.is_empty());
        assert!(t.lens.is_empty(), "empty lengths dropped");
    }

    #[test]
    fn replace_keeps_count() {
        let mut t = Table6::new();
        t.insert(1, 128, 5);
        t.insert(1, 128, 6);
        t.insert(0, 0, 7);
        t.insert(0, 0, 8);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(1), Some(6));
        assert_eq!(t.lookup(2), Some(8));
    }

    #[test]
    fn snapshot_clone_is_independent() {
        let mut a = Table6::new();
        a.insert(0xfe80 << 112, 10, 1);
        let mut b = a.clone();
        b.insert(0xfe80 << 112, 16, 2);
        assert_eq!(a.lookup(0xfe80 << 112), Some(1));
        assert_eq!(b.lookup(0xfe80 << 112), Some(2));
    }

    /// Random churn over overlapping prefixes of every length, against the
    /// naive scan. Prefixes share their top bits so they nest.
    #[test]
    fn agrees_with_naive() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut t = Table6::new();
        let mut n = Naive::default();
        let bases = [0x2001_0db8u128 << 96, 0xfd00u128 << 112, u128::MAX, 0];
        let pick = |rng: &mut Rng| -> u128 {
            let base = bases[(rng.next() % 4) as usize];
            // Keep the top 0..128 bits of the base, random below.
            let keep = (rng.next() % 129) as u8;
            (base & mask(keep)) | (rng.addr() & !mask(keep))
        };
        let mut probes: Vec<u128> = vec![0, u128::MAX, 1, u128::MAX - 1];
        for round in 0..4000 {
            let p = pick(&mut rng);
            let len = match rng.next() % 8 {
                0 => 128,
                1 => 64,
                2 => 0,
                _ => (rng.next() % 129) as u8,
            };
            if rng.next() % 3 == 1 {
                assert_eq!(t.remove(p, len), n.remove(p, len), "remove {p:#x}/{len}");
            } else {
                let v = (rng.next() % 1000) as u32;
                t.insert(p, len, v);
                n.insert(p, len, v);
                probes.push(p);
                probes.push(p | !mask(len));
            }
            let q = pick(&mut rng);
            assert_eq!(t.lookup(q), n.lookup(q), "lookup {q:#x}");
            assert_eq!(t.get(p, len), n.0.iter().find(|r| r.0 == p & mask(len) && r.1 == len).map(|r| r.2));
            if round % 500 == 0 {
                check_all(&t, &n, &probes);
            }
        }
        check_all(&t, &n, &probes);
        for (p, len, _) in n.0.clone() {
            assert_eq!(t.remove(p, len), n.remove(p, len));
        }
        check_all(&t, &n, &probes);
        assert!(t.is_empty());
    }

    #[test]
    #[should_panic(expected = "exceeds 128")]
    fn len_over_128_panics() {
        Table6::new().insert(0, 129, 1);
    }
}
