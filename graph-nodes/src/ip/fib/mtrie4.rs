//! IPv4 longest-prefix match: a 16-8-8 multibit trie (VPP's ip4 mtrie).
//!
//! A lookup indexes the root ply (65536 leaves) with the top 16 bits of the
//! destination, then at most two 8-bit plies (256 leaves) with bits 16-23 and
//! 24-31. Every leaf is an [`AtomicU32`]: a terminal value (top bit clear) or
//! a reference to the next ply (top bit set, ply index below). Each leaf holds
//! the final answer for its whole address range, so a lookup is at most three
//! loads, with no lock, no allocation and no retry.
//!
//! # One writer, lock-free readers
//!
//! Writers ([`Mtrie4::insert`], [`Mtrie4::remove`], [`Mtrie4::insert_many`])
//! are serialized by a mutex around writer-only state: the exact prefix set,
//! the prefix length behind each leaf, each ply's count of leaves owned by
//! longer prefixes, and the free list. Readers never touch it. Leaves are
//! updated in place:
//!
//! - a prefix longer than a terminal leaf's range gets a new ply, filled with
//!   the leaf's value in all 256 slots, then published by a `Release` store of
//!   its reference into the parent; readers load references with `Acquire`.
//! - a prefix overwrites only the leaves no longer prefix has set, so longer
//!   prefixes inserted before a shorter one keep their leaves.
//! - a removed prefix's leaves take the value of its cover (the longest
//!   shorter prefix left, else the default). A ply left with no leaf owned by
//!   a longer prefix is uniform: its parent leaf becomes that terminal value
//!   again and the ply goes to the free list.
//!
//! Per ply, the writer keeps the length of its cover (the longest prefix
//! covering the whole ply) and per leaf 4 bits saying by how much the prefix
//! that set it is longer than the ply's base (0: the leaf is the cover): 132
//! bytes beside the ply's 1 KiB of leaves. A prefix covering a ply whose
//! cover is longer changes nothing there or below, so short prefixes skip
//! whole subtrees.
//!
//! A reader sees each leaf either before or after a change, never a torn one.
//!
//! # Ply storage and reuse
//!
//! Plies live in one table reserved for the worst case (a ply for every /16
//! and every /24: 16.8 M plies, 16 GiB of address space) and never moved,
//! so an index a reader holds always names valid memory and finding a ply is
//! one multiply-add. The kernel backs the table only where plies were
//! written, in 2 MiB transparent huge pages where it can
//! ([`HugeTable`]): a big trie's lookups miss cache, and with 4 KiB pages
//! they would miss the TLB as well. So there is no limit to tune, and an
//! empty trie costs nothing but address space.
//!
//! A freed ply is not reused until [`REUSE_AFTER`] has passed, a grace
//! period for readers that loaded its reference before the collapse. A
//! reader descheduled mid-lookup for longer than that can read a recycled
//! ply: this is memory-safe (it reads some other ply's leaves) and at worst
//! sends one packet to a wrong next hop, as VPP accepts for its barrier-free
//! reads. (The same holds if every ply index is in use or waiting, which can
//! only happen under heavy churn near the 16.8 M ply limit: the oldest freed
//! ply is then reused early.)
//!
//! # Panics
//!
//! Values (and the default) must be below 2^31 ([`MAX_VALUE`]) and prefix
//! lengths at most 32; the control-plane calls panic otherwise.
//! [`Mtrie4::lookup`] never panics.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rvpp_dataplane::arch::HugeTable;

/// Set in a leaf that references a ply; clear in a terminal value.
const PLY_BIT: u32 = 1 << 31;
/// The largest value a route (or the default) may carry.
pub const MAX_VALUE: u32 = PLY_BIT - 1;
/// How long a freed ply waits before it may be reused.
pub const REUSE_AFTER: Duration = Duration::from_secs(1);

const ROOT_SLOTS: usize = 1 << 16;
const PLY_SLOTS: usize = 256;
/// One ply per /16 (bits 16-23) and one per /24 (bits 24-31), at most.
const MAX_PLIES: usize = ROOT_SLOTS + ROOT_SLOTS * PLY_SLOTS;
const _: () = assert!(MAX_PLIES < PLY_BIT as usize);

/// Prefix length of the leaves a ply's parent leaf covers: 16 for the plies
/// under the root, 24 for the plies below them.
const L2_BASE: u8 = 16;
const L3_BASE: u8 = 24;

/// 256 leaves for 8 bits of address.
type Ply = [AtomicU32; PLY_SLOTS];

/// The table of every ply there can be; see the module docs.
fn new_ply_table() -> HugeTable {
    match HugeTable::new(MAX_PLIES * PLY_SLOTS) {
        Ok(table) => table,
        // Only an address-space limit (`ulimit -v`) fails an unreserved
        // mapping: as an allocation failure would, this ends the process.
        Err(e) => {
            panic!("mtrie4: cannot reserve {} GiB of address space for plies: {e}", (MAX_PLIES * PLY_SLOTS * 4) >> 30)
        }
    }
}

/// `prefix` with the bits beyond `len` cleared.
fn mask(prefix: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        _ => prefix & (u32::MAX << (32 - u32::from(len))),
    }
}

/// The leaves `prefix/len` covers in a ply indexed by the address bits
/// ending at bit `end` (counted from the top): bits 0..16 for the root,
/// 16..24 and 24..32 for the plies below.
fn slots(prefix: u32, len: u8, end: u8) -> Range<usize> {
    let width = if end == 16 { 16 } else { 8 };
    let first = ((prefix >> (32 - end)) & ((1 << width) - 1)) as usize;
    first..first + (1 << (end - len))
}

/// Writer-side bookkeeping of one ply, whose base is the prefix length its
/// parent leaf stands for (16 or 24).
///
/// A leaf not set by a prefix longer than the base holds the ply's cover:
/// the longest prefix, not longer than the base, covering the whole ply.
/// So a ply needs the cover's length and, per leaf, only how much longer
/// than the base its prefix is: 0 for the cover (or a ply reference), else
/// 1..=8, in 4 bits.
#[derive(Clone)]
struct PlyMeta {
    ext: [u8; PLY_SLOTS / 2],
    cover_len: u8,
    /// Leaves that reference a ply or have a non-zero `ext`; 0 means the ply
    /// is uniform (all cover) and can be collapsed into its parent leaf.
    owned: u16,
}

impl PlyMeta {
    fn ext(&self, s: usize) -> u8 {
        (self.ext[s / 2] >> (4 * (s % 2))) & 0xf
    }

    fn set_ext(&mut self, s: usize, k: u8) {
        let shift = 4 * (s % 2);
        let b = &mut self.ext[s / 2];
        *b = (*b & !(0xf << shift)) | (k << shift);
    }

    /// Length of the prefix that set terminal leaf `s`.
    fn leaf_len(&self, s: usize, base: u8) -> u8 {
        match self.ext(s) {
            0 => self.cover_len,
            k => base + k,
        }
    }
}

/// Writer-side state, behind the mutex.
struct Writer {
    /// Exact prefixes, one table per length (0..=32), by masked prefix.
    routes: [HashMap<u32, u32>; 33],
    n_routes: usize,
    /// Prefix length that set each terminal root leaf.
    root_len: Box<[u8]>,
    /// Per ply index handed out so far.
    meta: Vec<PlyMeta>,
    /// Freed plies, oldest first, with the time they were freed.
    free: VecDeque<(u32, Instant)>,
    plies_in_use: usize,
    reuse_after: Duration,
}

/// IPv4 longest-prefix-match table; see the module docs.
pub struct Mtrie4 {
    root: Box<[AtomicU32; ROOT_SLOTS]>,
    plies: HugeTable,
    /// Plies ever handed out (a lock-free size hint for readers).
    plies_made: std::sync::atomic::AtomicUsize,
    default: u32,
    writer: Mutex<Writer>,
}

impl Mtrie4 {
    /// An empty table: every address resolves to `default` (the value of
    /// 0.0.0.0/0 while no route is installed there).
    ///
    /// # Panics
    /// If `default` exceeds [`MAX_VALUE`].
    pub fn new(default: u32) -> Mtrie4 {
        Self::with_reuse_after(default, REUSE_AFTER)
    }

    fn with_reuse_after(default: u32, reuse_after: Duration) -> Mtrie4 {
        check_value(default);
        let root: Vec<AtomicU32> = (0..ROOT_SLOTS).map(|_| AtomicU32::new(default)).collect();
        let root = match root.into_boxed_slice().try_into() {
            Ok(root) => root,
            Err(_) => unreachable!("root built with ROOT_SLOTS leaves"),
        };
        Mtrie4 {
            root,
            plies: new_ply_table(),
            plies_made: std::sync::atomic::AtomicUsize::new(0),
            default,
            writer: Mutex::new(Writer {
                routes: std::array::from_fn(|_| HashMap::new()),
                n_routes: 0,
                root_len: vec![0; ROOT_SLOTS].into_boxed_slice(),
                meta: Vec::new(),
                free: VecDeque::new(),
                plies_in_use: 0,
                reuse_after,
            }),
        }
    }

    /// Longest-prefix match of `dst` (host byte order): the value of the
    /// longest installed prefix covering it, else the default. Lock-free, at
    /// most three loads; safe concurrently with writers.
    #[inline]
    pub fn lookup(&self, dst: u32) -> u32 {
        let leaf = self.root[(dst >> 16) as usize].load(Ordering::Acquire);
        if leaf & PLY_BIT == 0 {
            return leaf;
        }
        let leaf = self.leaf_of(leaf, (dst >> 8) as u8).load(Ordering::Acquire);
        if leaf & PLY_BIT == 0 {
            return leaf;
        }
        // The ply's contents were published by the Acquire load above; later
        // changes to this leaf are self-contained values.
        self.leaf_of(leaf, dst as u8).load(Ordering::Relaxed)
    }

    /// Staged lookup for a frame of destinations, so that the memory of
    /// every packet's next ply can be fetched in parallel: [`Mtrie4::root`]
    /// for all, then [`Mtrie4::step`] while [`Mtrie4::is_ply`], with
    /// [`Mtrie4::prefetch`] between stages. `step(root(d), d >> 8)` then
    /// `step(.., d)` gives what [`Mtrie4::lookup`] gives.
    #[inline(always)]
    pub fn root(&self, dst: u32) -> u32 {
        self.root[(dst >> 16) as usize].load(Ordering::Acquire)
    }

    /// Whether the trie is big enough (plies beyond what caches hold) for a
    /// staged, prefetching walk to pay off. Lock-free.
    #[inline(always)]
    pub fn is_large(&self) -> bool {
        self.plies_made.load(Ordering::Relaxed) > 1024
    }

    /// Whether a staged leaf still names a ply.
    #[inline(always)]
    pub fn is_ply(leaf: u32) -> bool {
        leaf & PLY_BIT != 0
    }

    /// One stage down: the leaf for `byte` in the ply `leaf` names.
    #[inline(always)]
    pub fn step(&self, leaf: u32, byte: u8) -> u32 {
        self.leaf_of(leaf, byte).load(Ordering::Acquire)
    }

    /// Hints the CPU to fetch the leaf `step(leaf, byte)` will read (into
    /// the second-level cache: a frame's worth of them is in flight).
    #[inline(always)]
    pub fn prefetch(&self, leaf: u32, byte: u8) {
        // Only an address: a prefetch never faults.
        let at = ((leaf & !PLY_BIT) as usize) << 8 | usize::from(byte);
        rvpp_dataplane::arch::prefetch_l2(self.plies.as_ptr().wrapping_add(at));
    }

    /// The ply a reference leaf names.
    #[inline]
    fn ply(&self, leaf: u32) -> &Ply {
        let first = (leaf & !PLY_BIT) as usize * PLY_SLOTS;
        match self.plies[first..first + PLY_SLOTS].try_into() {
            Ok(ply) => ply,
            Err(_) => unreachable!("a ply is PLY_SLOTS leaves"),
        }
    }

    /// Leaf `byte` of the ply a reference leaf names: one multiply-add and
    /// a bounds check.
    #[inline(always)]
    fn leaf_of(&self, leaf: u32, byte: u8) -> &AtomicU32 {
        &self.plies[((leaf & !PLY_BIT) as usize) << 8 | usize::from(byte)]
    }

    /// Installs `prefix/len -> value`, replacing the value if the prefix
    /// exists. Bits of `prefix` beyond `len` are ignored.
    ///
    /// # Panics
    /// If `len > 32` or `value > MAX_VALUE`.
    pub fn insert(&self, prefix: u32, len: u8, value: u32) {
        check_route(len, value);
        let mut w = self.lock();
        self.insert_locked(&mut w, prefix, len, value);
    }

    /// Installs many routes: the same result as [`Mtrie4::insert`] of each in
    /// order (a later duplicate wins), but under one lock and in address
    /// order, so the plies are built with few cache misses.
    ///
    /// # Panics
    /// As [`Mtrie4::insert`], before anything is installed.
    pub fn insert_many(&self, routes: &[(u32, u8, u32)]) {
        for &(_, len, value) in routes {
            check_route(len, value);
        }
        let mut w = self.lock();
        let mut per_len = [0usize; 33];
        for &(_, len, _) in routes {
            per_len[usize::from(len)] += 1;
        }
        for (table, n) in w.routes.iter_mut().zip(per_len) {
            table.reserve(n);
        }
        // Sort by (masked prefix, length, position): a prefix comes after the
        // shorter ones covering it and each ply is built in one pass, and
        // duplicates keep their order. The position takes the low 26 bits of
        // the key, so batches of 2^26 routes are sorted one at a time.
        const BATCH_BITS: u32 = 26;
        let mut sorted = Vec::with_capacity(routes.len().min(1 << BATCH_BITS));
        for batch in routes.chunks(1 << BATCH_BITS) {
            sorted.clear();
            sorted.extend((0u64..).zip(batch).map(|(i, &(p, len, value))| {
                let key = (u64::from(mask(p, len)) << 32) | (u64::from(len) << BATCH_BITS) | i;
                (key, value)
            }));
            sorted.sort_unstable_by_key(|&(key, _)| key);
            // The exact-prefix tables first, then the trie: each pass keeps
            // its own working set in cache.
            for &(key, value) in &sorted {
                let len = (key >> BATCH_BITS) as u8 & 0x3f;
                if w.routes[usize::from(len)].insert((key >> 32) as u32, value).is_none() {
                    w.n_routes += 1;
                }
            }
            for &(key, value) in &sorted {
                let len = (key >> BATCH_BITS) as u8 & 0x3f;
                self.build(&mut w, (key >> 32) as u32, len, value);
            }
        }
    }

    /// Removes `prefix/len`, returning its value if it was installed. The
    /// addresses it covered fall back to the next shorter prefix.
    ///
    /// # Panics
    /// If `len > 32`.
    pub fn remove(&self, prefix: u32, len: u8) -> Option<u32> {
        check_len(len);
        let mut w = self.lock();
        self.remove_locked(&mut w, prefix, len)
    }

    /// The value of exactly `prefix/len`, if installed.
    ///
    /// # Panics
    /// If `len > 32`.
    pub fn get(&self, prefix: u32, len: u8) -> Option<u32> {
        check_len(len);
        self.lock().routes[usize::from(len)].get(&mask(prefix, len)).copied()
    }

    /// Number of installed prefixes.
    pub fn len(&self) -> usize {
        self.lock().n_routes
    }

    /// True if no prefix is installed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Plies currently referenced (excluding the root and freed plies).
    pub fn plies_in_use(&self) -> usize {
        self.lock().plies_in_use
    }

    /// Bytes held for the trie: the root, the plies ever handed out (in use
    /// or free; rounded up to the 2 MiB the kernel backs them in) and the writer's per-ply
    /// bookkeeping. Excludes the exact-prefix tables.
    pub fn memory_bytes(&self) -> usize {
        let w = self.lock();
        // Plies are backed as they are written, 2 MiB at a time at most.
        let plies = (w.meta.len() * std::mem::size_of::<Ply>()).next_multiple_of(2 << 20);
        std::mem::size_of::<[AtomicU32; ROOT_SLOTS]>()
            + plies
            + w.root_len.len()
            + w.meta.capacity() * std::mem::size_of::<PlyMeta>()
            + w.free.capacity() * std::mem::size_of::<(u32, Instant)>()
    }

    /// Every installed prefix as `(prefix, len, value)`, in no set order.
    pub fn prefixes(&self) -> Vec<(u32, u8, u32)> {
        let w = self.lock();
        let mut out = Vec::with_capacity(w.n_routes);
        for (len, table) in (0u8..).zip(&w.routes) {
            out.extend(table.iter().map(|(&p, &v)| (p, len, v)));
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // Nothing panics while the lock is held (arguments are checked
        // first), so poisoning means a bug: propagate it.
        self.writer.lock().expect("mtrie4 writer lock poisoned")
    }

    fn insert_locked(&self, w: &mut Writer, prefix: u32, len: u8, value: u32) {
        let prefix = mask(prefix, len);
        if w.routes[usize::from(len)].insert(prefix, value).is_none() {
            w.n_routes += 1;
        }
        self.build(w, prefix, len, value);
    }

    /// Sets the leaves of the recorded route `prefix/len` (prefix masked).
    fn build(&self, w: &mut Writer, prefix: u32, len: u8, value: u32) {
        if len <= L2_BASE {
            for s in slots(prefix, len, 16) {
                let leaf = self.root[s].load(Ordering::Relaxed);
                if leaf & PLY_BIT != 0 {
                    self.cover_ply(w, leaf & !PLY_BIT, value, len);
                } else if w.root_len[s] <= len {
                    self.root[s].store(value, Ordering::Relaxed);
                    w.root_len[s] = len;
                }
            }
            return;
        }
        let l2 = self.root_child(w, (prefix >> 16) as usize);
        if len <= L3_BASE {
            self.set_leaves(w, l2, L2_BASE, slots(prefix, len, 24), value, len);
            return;
        }
        let l3 = self.leaf_child(w, l2, L2_BASE, slots(prefix, 24, 24).start);
        self.set_leaves(w, l3, L3_BASE, slots(prefix, len, 32), value, len);
    }

    /// Sets `leaves` of ply `p` (base `base`) to a prefix of length `len` >
    /// `base`, except where a longer prefix set them; below a reference, the
    /// prefix covers the whole ply.
    fn set_leaves(&self, w: &mut Writer, p: u32, base: u8, leaves: Range<usize>, value: u32, len: u8) {
        let ply = self.ply_at(p);
        let k = len - base;
        let m = &mut w.meta[p as usize];
        if m.owned == 0 && leaves.len() > 1 {
            // All cover (a new ply, as in a bulk load): every leaf is taken,
            // and the range spans whole bytes of `ext`.
            m.owned = leaves.len() as u16;
            m.ext[leaves.start / 2..leaves.end / 2].fill(k | (k << 4));
            for leaf in &ply[leaves] {
                leaf.store(value, Ordering::Relaxed);
            }
            return;
        }
        for s in leaves {
            let leaf = ply[s].load(Ordering::Relaxed);
            if leaf & PLY_BIT != 0 {
                self.cover_ply(w, leaf & !PLY_BIT, value, len);
                continue;
            }
            let m = &mut w.meta[p as usize];
            let old = m.ext(s);
            if old <= k {
                ply[s].store(value, Ordering::Relaxed);
                m.set_ext(s, k);
                m.owned += u16::from(old == 0);
            }
        }
    }

    /// Makes a prefix of length `len`, covering all of ply `p`, its cover if
    /// no longer one is.
    fn cover_ply(&self, w: &mut Writer, p: u32, value: u32, len: u8) {
        let m = &mut w.meta[p as usize];
        if m.cover_len > len {
            // The plies below have covers at least as long: nothing changes.
            return;
        }
        m.cover_len = len;
        let ply = self.ply_at(p);
        for (s, slot) in ply.iter().enumerate() {
            let leaf = slot.load(Ordering::Relaxed);
            if leaf & PLY_BIT != 0 {
                self.cover_ply(w, leaf & !PLY_BIT, value, len);
            } else if w.meta[p as usize].ext(s) == 0 {
                slot.store(value, Ordering::Relaxed);
            }
        }
    }

    fn remove_locked(&self, w: &mut Writer, prefix: u32, len: u8) -> Option<u32> {
        let prefix = mask(prefix, len);
        let old = w.routes[usize::from(len)].remove(&prefix)?;
        w.n_routes -= 1;
        let (cover, cover_len) = self.cover_of(w, prefix, len);
        if len <= L2_BASE {
            // Only root leaves and ply covers change: no ply collapses.
            for s in slots(prefix, len, 16) {
                let leaf = self.root[s].load(Ordering::Relaxed);
                if leaf & PLY_BIT != 0 {
                    self.uncover_ply(w, leaf & !PLY_BIT, len, cover, cover_len);
                } else if w.root_len[s] == len {
                    self.root[s].store(cover, Ordering::Relaxed);
                    w.root_len[s] = cover_len;
                }
            }
            return Some(old);
        }
        // The prefix was installed and is longer than 16 bits, so its plies
        // exist.
        let r = (prefix >> 16) as usize;
        let l2 = self.root[r].load(Ordering::Relaxed) & !PLY_BIT;
        if len <= L3_BASE {
            let leaves = slots(prefix, len, 24);
            self.unset_leaves(w, l2, L2_BASE, leaves, len, cover, cover_len);
        } else {
            let s2 = slots(prefix, 24, 24).start;
            let l3 = self.ply_at(l2)[s2].load(Ordering::Relaxed) & !PLY_BIT;
            let leaves = slots(prefix, len, 32);
            self.unset_leaves(w, l3, L3_BASE, leaves, len, cover, cover_len);
            self.collapse_leaf(w, l2, L2_BASE, s2);
        }
        self.collapse_root_leaf(w, r);
        Some(old)
    }

    /// The longest installed prefix shorter than `len` covering `prefix`, as
    /// (value, length); the default (length 0) if none.
    fn cover_of(&self, w: &Writer, prefix: u32, len: u8) -> (u32, u8) {
        for l in (0..len).rev() {
            if let Some(&v) = w.routes[usize::from(l)].get(&mask(prefix, l)) {
                return (v, l);
            }
        }
        (self.default, 0)
    }

    /// Resets the `leaves` of ply `p` that the removed prefix of length `len`
    /// (> `base`) set to its cover; below a reference, the removed prefix
    /// was the cover of the whole ply.
    #[allow(clippy::too_many_arguments)]
    fn unset_leaves(&self, w: &mut Writer, p: u32, base: u8, leaves: Range<usize>, len: u8, cover: u32, cover_len: u8) {
        let ply = self.ply_at(p);
        let k = len - base;
        let cover_k = cover_len.saturating_sub(base);
        for s in leaves {
            let leaf = ply[s].load(Ordering::Relaxed);
            if leaf & PLY_BIT != 0 {
                self.uncover_ply(w, leaf & !PLY_BIT, len, cover, cover_len);
                continue;
            }
            let m = &mut w.meta[p as usize];
            if m.ext(s) == k {
                // With `cover_k` 0, `cover` is this ply's cover.
                ply[s].store(cover, Ordering::Relaxed);
                m.set_ext(s, cover_k);
                m.owned -= u16::from(cover_k == 0);
            }
        }
    }

    /// If the removed prefix of length `len` was the cover of ply `p`, its
    /// cover becomes `cover`.
    fn uncover_ply(&self, w: &mut Writer, p: u32, len: u8, cover: u32, cover_len: u8) {
        let m = &mut w.meta[p as usize];
        if m.cover_len != len {
            // A longer cover: the plies below have one too.
            return;
        }
        m.cover_len = cover_len;
        let ply = self.ply_at(p);
        for (s, slot) in ply.iter().enumerate() {
            let leaf = slot.load(Ordering::Relaxed);
            if leaf & PLY_BIT != 0 {
                self.uncover_ply(w, leaf & !PLY_BIT, len, cover, cover_len);
            } else if w.meta[p as usize].ext(s) == 0 {
                slot.store(cover, Ordering::Relaxed);
            }
        }
    }

    fn ply_at(&self, i: u32) -> &Ply {
        self.ply(i | PLY_BIT)
    }

    /// The ply under root leaf `r`, created from the leaf if needed.
    fn root_child(&self, w: &mut Writer, r: usize) -> u32 {
        let leaf = self.root[r].load(Ordering::Relaxed);
        if leaf & PLY_BIT != 0 {
            return leaf & !PLY_BIT;
        }
        let child = self.alloc_ply(w, leaf, w.root_len[r]);
        self.root[r].store(child | PLY_BIT, Ordering::Release);
        child
    }

    /// The ply under leaf `s` of ply `p`, created from the leaf if needed.
    fn leaf_child(&self, w: &mut Writer, p: u32, base: u8, s: usize) -> u32 {
        let leaf = self.ply_at(p)[s].load(Ordering::Relaxed);
        if leaf & PLY_BIT != 0 {
            return leaf & !PLY_BIT;
        }
        let m = &w.meta[p as usize];
        let (len, was_cover) = (m.leaf_len(s, base), m.ext(s) == 0);
        let child = self.alloc_ply(w, leaf, len);
        self.ply_at(p)[s].store(child | PLY_BIT, Ordering::Release);
        let m = &mut w.meta[p as usize];
        m.set_ext(s, 0);
        m.owned += u16::from(was_cover);
        child
    }

    /// If the ply under root leaf `r` is uniform, puts its cover back in the
    /// leaf and frees it.
    fn collapse_root_leaf(&self, w: &mut Writer, r: usize) {
        let leaf = self.root[r].load(Ordering::Relaxed);
        if leaf & PLY_BIT == 0 || w.meta[(leaf & !PLY_BIT) as usize].owned != 0 {
            return;
        }
        let child = leaf & !PLY_BIT;
        let value = self.ply_at(child)[0].load(Ordering::Relaxed);
        self.root[r].store(value, Ordering::Release);
        w.root_len[r] = w.meta[child as usize].cover_len;
        self.free_ply(w, child);
    }

    /// As [`Self::collapse_root_leaf`] for leaf `s` of ply `p`.
    fn collapse_leaf(&self, w: &mut Writer, p: u32, base: u8, s: usize) {
        let leaf = self.ply_at(p)[s].load(Ordering::Relaxed);
        if leaf & PLY_BIT == 0 || w.meta[(leaf & !PLY_BIT) as usize].owned != 0 {
            return;
        }
        let child = leaf & !PLY_BIT;
        let value = self.ply_at(child)[0].load(Ordering::Relaxed);
        self.ply_at(p)[s].store(value, Ordering::Release);
        let k = w.meta[child as usize].cover_len.saturating_sub(base);
        let m = &mut w.meta[p as usize];
        m.set_ext(s, k);
        m.owned -= u16::from(k == 0);
        self.free_ply(w, child);
    }

    /// A ply with every leaf set to `cover` (of length `cover_len`), not yet
    /// visible to readers.
    fn alloc_ply(&self, w: &mut Writer, cover: u32, cover_len: u8) -> u32 {
        let meta = PlyMeta { ext: [0; PLY_SLOTS / 2], cover_len, owned: 0 };
        let fresh_left = w.meta.len() < MAX_PLIES;
        let p = match w.free.front() {
            Some(&(p, freed)) if !fresh_left || freed.elapsed() >= w.reuse_after => {
                w.free.pop_front();
                w.meta[p as usize] = meta;
                p
            }
            _ => {
                assert!(fresh_left, "mtrie4: more than {MAX_PLIES} plies in use");
                let p = w.meta.len();
                w.meta.push(meta);
                self.plies_made.store(p + 1, Ordering::Relaxed);
                p as u32
            }
        };
        for leaf in self.ply_at(p) {
            leaf.store(cover, Ordering::Relaxed);
        }
        w.plies_in_use += 1;
        p
    }

    fn free_ply(&self, w: &mut Writer, p: u32) {
        w.free.push_back((p, Instant::now()));
        w.plies_in_use -= 1;
    }
}

fn check_value(value: u32) {
    assert!(value <= MAX_VALUE, "mtrie4: value {value:#x} exceeds MAX_VALUE (2^31 - 1)");
}

fn check_len(len: u8) {
    assert!(len <= 32, "mtrie4: prefix length {len} exceeds 32");
}

fn check_route(len: u8, value: u32) {
    check_len(len);
    check_value(value);
}

#[cfg(test)]
#[path = "mtrie4_tests.rs"]
mod tests;
