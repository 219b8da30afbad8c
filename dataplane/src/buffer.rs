//! The buffer arena: one mapping of fixed-size buffers, each a metadata block,
//! headroom and data, named by a [`BufferIndex`].
//!
//! Invariants this module keeps (the reasons its `unsafe` blocks are sound):
//! - The mapping lives as long as the [`Buffers`] that made it (every
//!   [`ThreadBuffers`] holds an `Arc` to it) and is never resized.
//! - Every pointer computed here is `base + index * stride (+ offset)` with
//!   `index < count` checked first, so it stays inside the mapping; `stride`
//!   is a multiple of 64, so metadata is 64-byte aligned.
//! - A buffer index has exactly one owner at a time: a free list, or the one
//!   thread whose frame or queue holds it. Only the owner touches the buffer,
//!   and within a thread `&mut ThreadBuffers` makes mutable access exclusive.
//!   This is the same hand-off discipline as a `Vec<Box<T>>` moved between
//!   threads, enforced by the engine (frames move indices, never copy them).
//!
//! Exhaustion is never a panic: [`ThreadBuffers::alloc`] returns how many it
//! got and the caller counts the shortfall as a drop.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes reserved before each buffer's data for prepending headers.
pub const HEADROOM: usize = 128;
/// Size of [`BufferMeta`] (two cache lines).
pub const META_SIZE: usize = 128;
/// Buffers moved between a thread cache and the shared pool at once.
const REFILL_BATCH: usize = 256;
/// A thread cache spills back to the shared pool above this many.
const CACHE_HIGH: usize = 4 * REFILL_BATCH;
/// Most threads (main + workers) the arena keeps per-thread figures for.
pub const MAX_THREADS: usize = 64;

/// A packet buffer's name: its index in the arena.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
#[repr(transparent)]
pub struct BufferIndex(pub u32);

/// Flags in [`BufferMeta::flags`].
pub mod flags {
    /// `next_buffer` names the next buffer of a chain.
    pub const NEXT_PRESENT: u32 = 1 << 0;
    /// The packet is being traced; `trace_index` is valid.
    pub const TRACED: u32 = 1 << 1;
    /// The l2/l3/l4 header offsets are set.
    pub const L2_HDR_VALID: u32 = 1 << 2;
    pub const L3_HDR_VALID: u32 = 1 << 3;
    pub const L4_HDR_VALID: u32 = 1 << 4;
    /// The driver says the L4 checksum is not yet computed (offload/veth).
    pub const CSUM_NOT_READY: u32 = 1 << 5;
    /// Built by rvpp itself (echo reply, ICMP error, ping): the rewrite
    /// sends it with the TTL / hop limit it was given.
    pub const LOCALLY_ORIGINATED: u32 = 1 << 6;
    /// One TCP segment larger than the MTU for the device to cut into
    /// segments of [`super::BufferMeta::gso_size`] payload bytes (TSO/GSO):
    /// its TCP checksum field holds only the pseudo-header sum (over the
    /// whole segment's length), completed per segment by whoever cuts it.
    /// Sent only to interfaces whose device takes it
    /// ([`crate::device::Device::tso_max`]).
    pub const GSO: u32 = 1 << 7;
    /// Came from another thread through [`crate::handoff::Handoff`]: the
    /// node it reached owns it there and must not hand it off again.
    pub const HANDED_OFF: u32 = 1 << 8;
}

/// Index into [`BufferMeta::sw_if_index`]: the receive interface.
pub const RX: usize = 0;
/// Index into [`BufferMeta::sw_if_index`]: the transmit interface.
pub const TX: usize = 1;

/// Per-buffer metadata, two cache lines ahead of the headroom.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct BufferMeta {
    /// Start of the packet, relative to the data area (negative: headroom).
    pub current_data: i16,
    /// Bytes of packet in this buffer, from `current_data`.
    pub current_length: u16,
    /// [`flags`].
    pub flags: u32,
    /// Next buffer of a chain when `NEXT_PRESENT`.
    pub next_buffer: u32,
    /// Bytes in the chain after this buffer.
    pub total_length_not_including_first_buffer: u32,
    /// Receive and transmit interfaces ([`RX`], [`TX`]).
    pub sw_if_index: [u32; 2],
    /// Header offsets relative to the data area.
    pub l2_hdr_offset: i16,
    pub l3_hdr_offset: i16,
    pub l4_hdr_offset: i16,
    /// Position in the current feature arc's enabled list.
    pub feature_index: u16,
    /// Packet trace slot when `TRACED`.
    pub trace_index: u32,
    /// Flow hash, set by whoever computes it.
    pub flow_hash: u32,
    /// Small typed per-feature area (adjacency index, l2 state, ...).
    pub opaque: [u32; 8],
    /// Payload bytes per segment of a [`flags::GSO`] packet.
    pub gso_size: u16,
    _pad: [u8; 54],
}

const _: () = assert!(std::mem::size_of::<BufferMeta>() == META_SIZE);

impl BufferMeta {
    /// Resets the metadata for a freshly received packet of `len` bytes at
    /// the start of the data area.
    #[inline(always)]
    pub fn reset_rx(&mut self, len: u16, rx_sw_if_index: u32) {
        self.current_data = 0;
        self.current_length = len;
        self.flags = 0;
        self.next_buffer = 0;
        self.total_length_not_including_first_buffer = 0;
        self.sw_if_index = [rx_sw_if_index, u32::MAX];
        self.feature_index = 0;
    }
}

/// Where the arena lies, for a driver that hands it to the kernel (AF_XDP
/// registers it as UMEM): buffer `i` occupies `[base + i * stride, base +
/// (i + 1) * stride)`, its metadata first, then [`HEADROOM`], then the data
/// area at [`DATA_OFFSET`]. `base` is page aligned (2 MiB on hugepages) and
/// `len` covers every buffer.
#[derive(Clone, Copy, Debug)]
pub struct ArenaLayout {
    pub base: *mut u8,
    pub len: usize,
    pub stride: usize,
    pub count: u32,
}

/// Offset of a buffer's data area (`current_data` 0) from its start.
pub const DATA_OFFSET: usize = META_SIZE + HEADROOM;

/// Arena-wide figures for `show buffers`.
#[derive(Clone, Debug, Default)]
pub struct BufferStats {
    pub total: u32,
    pub free: u32,
    pub cached: Vec<u32>,
    pub data_size: u32,
    pub stride: u32,
    pub hugepages: bool,
    pub alloc_failures: u64,
}

struct Mapping {
    /// Buffer 0's metadata: the mapping's start plus the per-buffer prefix.
    base: *mut u8,
    /// Bytes mapped from `base` (every buffer, then the page rounding).
    len: usize,
    /// Bytes mapped before `base` (buffer 0's prefix).
    prefix: usize,
    /// Bytes mapped in all.
    map_len: usize,
}

// SAFETY: the mapping is plain memory; concurrent access is governed by the
// ownership discipline in the module docs.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base - prefix and map_len are what a successful mmap
        // returned and was given, and nothing uses the mapping once the last
        // Arc to the arena is dropped.
        unsafe {
            libc::munmap(self.base.sub(self.prefix) as *mut libc::c_void, self.map_len);
        }
    }
}

/// The buffer arena shared by all threads.
pub struct Buffers {
    map: Mapping,
    count: u32,
    stride: usize,
    data_size: usize,
    hugepages: bool,
    pool: Mutex<Vec<u32>>,
    cached: [AtomicU64; MAX_THREADS],
    alloc_failures: AtomicU64,
}

/// How to back the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backing {
    /// Ordinary pages.
    #[default]
    Pages,
    /// 2 MiB hugepages when the host has them, ordinary pages otherwise.
    HugepagesIfAvailable,
}

impl Buffers {
    /// Maps `count` buffers of `data_size` data bytes each.
    pub fn new(count: u32, data_size: u32, backing: Backing) -> std::io::Result<Arc<Buffers>> {
        Buffers::with_prefix(count, data_size, backing, 0)
    }

    /// Like [`Buffers::new`], with `prefix` bytes (rounded up to a cache
    /// line) reserved before each buffer's metadata for a driver that keeps
    /// its own header there (DPDK's mempool object header and `rte_mbuf`).
    /// Nothing here reads or writes the prefix; every accessor's arithmetic
    /// is unchanged (the prefix is folded into where buffer 0 starts).
    pub fn with_prefix(count: u32, data_size: u32, backing: Backing, prefix: usize) -> std::io::Result<Arc<Buffers>> {
        let data_size = (data_size as usize).clamp(128, 65536);
        let prefix = prefix.next_multiple_of(64);
        // An odd number of cache lines per buffer, so that the same line of
        // consecutive buffers spreads over every cache set instead of piling
        // into a few (a 36-line stride uses a quarter of L1's sets).
        let mut lines = (prefix + META_SIZE + HEADROOM + data_size).div_ceil(64);
        if lines.is_multiple_of(2) {
            lines += 1;
        }
        let stride = lines * 64;
        let count = count.max(REFILL_BATCH as u32);
        // Buffer i's prefix is the last `prefix` bytes of buffer i - 1's
        // stride; buffer 0's comes first, and the last buffer's stride is
        // mapped whole.
        let len = stride * count as usize + prefix;
        let hlen = len.next_multiple_of(2 << 20);
        let huge = match backing {
            Backing::HugepagesIfAvailable => crate::arch::map_anonymous(hlen, libc::MAP_HUGETLB).ok(),
            Backing::Pages => None,
        };
        let hugepages = huge.is_some();
        let map_len = if hugepages { hlen } else { len };
        let base = match huge {
            Some(b) => b,
            None => crate::arch::map_anonymous(map_len, libc::MAP_NORESERVE)?,
        };
        // SAFETY: prefix < len <= map_len: still inside the mapping.
        let first = unsafe { (base as *mut u8).add(prefix) };
        // Free list in reverse so the lowest indices are handed out first.
        let pool: Vec<u32> = (0..count).rev().collect();
        Ok(Arc::new(Buffers {
            map: Mapping { base: first, len: map_len - prefix, prefix, map_len },
            count,
            stride,
            data_size,
            hugepages,
            pool: Mutex::new(pool),
            cached: std::array::from_fn(|_| AtomicU64::new(0)),
            alloc_failures: AtomicU64::new(0),
        }))
    }

    /// Number of buffers in the arena.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Data bytes per buffer.
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    /// Whether the arena sits on hugepages.
    pub fn on_hugepages(&self) -> bool {
        self.hugepages
    }

    /// Bytes reserved before each buffer's metadata ([`Buffers::with_prefix`]):
    /// buffer i's prefix is `[layout().base + i * stride - prefix, + prefix)`.
    pub fn prefix(&self) -> usize {
        self.map.prefix
    }

    /// Takes `out.len()` buffers straight from the shared free pool, all or
    /// none: for a driver whose own allocator sits in front of the arena
    /// (DPDK's mempool over it). Metadata is not initialised.
    pub fn take_free(&self, out: &mut [u32]) -> bool {
        let Ok(mut pool) = self.pool.lock() else { return false };
        if pool.len() < out.len() {
            return false;
        }
        let start = pool.len() - out.len();
        out.copy_from_slice(&pool[start..]);
        pool.truncate(start);
        true
    }

    /// Gives buffers straight back to the shared free pool (the other half
    /// of [`Buffers::take_free`]); each must be owned by the caller.
    pub fn put_free(&self, bis: &[u32]) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.extend_from_slice(bis);
        }
    }

    /// The arena's mapping and geometry. The mapping lives as long as this
    /// `Buffers`; who may touch which buffer is still the ownership rule of
    /// the module docs, whoever writes into it.
    pub fn layout(&self) -> ArenaLayout {
        ArenaLayout { base: self.map.base, len: self.map.len, stride: self.stride, count: self.count }
    }

    /// A per-thread handle with its own free cache.
    pub fn thread(self: &Arc<Self>, thread_index: usize) -> ThreadBuffers {
        ThreadBuffers {
            arena: self.clone(),
            cache: Vec::with_capacity(CACHE_HIGH + REFILL_BATCH + 256),
            thread_index: thread_index.min(MAX_THREADS - 1),
            alloc_failures: 0,
        }
    }

    /// Figures for `show buffers`.
    pub fn stats(&self, threads: usize) -> BufferStats {
        let free = self.pool.lock().map(|p| p.len() as u32).unwrap_or(0);
        BufferStats {
            total: self.count,
            free,
            cached: (0..threads.min(MAX_THREADS)).map(|t| self.cached[t].load(Ordering::Relaxed) as u32).collect(),
            data_size: self.data_size as u32,
            stride: self.stride as u32,
            hugepages: self.hugepages,
            alloc_failures: self.alloc_failures.load(Ordering::Relaxed),
        }
    }

    #[inline(always)]
    fn meta_ptr(&self, bi: BufferIndex) -> *mut BufferMeta {
        if bi.0 >= self.count {
            out_of_range(bi);
        }
        // SAFETY: bi < count so the offset lies inside the mapping (module docs).
        unsafe { self.map.base.add(bi.0 as usize * self.stride) as *mut BufferMeta }
    }

    #[inline(always)]
    fn raw_ptr(&self, bi: BufferIndex) -> *mut u8 {
        // Headroom starts right after the metadata.
        // SAFETY: meta_ptr checked the index; META_SIZE < stride.
        unsafe { (self.meta_ptr(bi) as *mut u8).add(META_SIZE) }
    }
}

/// A thread's view of the arena: its free cache and accessors.
pub struct ThreadBuffers {
    arena: Arc<Buffers>,
    cache: Vec<u32>,
    thread_index: usize,
    alloc_failures: u64,
}

impl ThreadBuffers {
    /// The arena this handle draws from.
    pub fn arena(&self) -> &Arc<Buffers> {
        &self.arena
    }

    /// Allocation failures seen by this thread.
    pub fn alloc_failures(&self) -> u64 {
        self.alloc_failures
    }

    /// Data bytes per buffer.
    #[inline(always)]
    pub fn data_size(&self) -> usize {
        self.arena.data_size
    }

    /// Publishes this thread's cache length for `show buffers`.
    pub fn publish_cached(&self) {
        self.arena.cached[self.thread_index].store(self.cache.len() as u64, Ordering::Relaxed);
    }

    fn refill(&mut self, want: usize) {
        let want = want.max(REFILL_BATCH);
        if let Ok(mut pool) = self.arena.pool.lock() {
            let take = want.min(pool.len());
            let start = pool.len() - take;
            self.cache.extend_from_slice(&pool[start..]);
            pool.truncate(start);
        }
        self.publish_cached();
    }

    /// Allocates up to `out.len()` buffers; returns how many it got. Metadata
    /// is not initialised: the caller sets it (see [`BufferMeta::reset_rx`]).
    #[inline]
    pub fn alloc(&mut self, out: &mut [BufferIndex]) -> usize {
        let n = out.len();
        if self.cache.len() < n {
            self.refill(n - self.cache.len());
        }
        let got = n.min(self.cache.len());
        let start = self.cache.len() - got;
        for (o, &b) in out[..got].iter_mut().zip(&self.cache[start..]) {
            *o = BufferIndex(b);
        }
        self.cache.truncate(start);
        if got < n {
            let short = (n - got) as u64;
            self.alloc_failures += short;
            self.arena.alloc_failures.fetch_add(short, Ordering::Relaxed);
        }
        got
    }

    /// Allocates one buffer.
    pub fn alloc_one(&mut self) -> Option<BufferIndex> {
        let mut b = [BufferIndex(0)];
        (self.alloc(&mut b) == 1).then_some(b[0])
    }

    /// Frees buffers (and the rest of their chains).
    #[inline]
    pub fn free(&mut self, bis: &[BufferIndex]) {
        // Fast path: no chains among them, so the indices go back as a block
        // (the arena's geometry held in registers for the scan).
        let pk = self.view();
        let chained = bis.iter().fold(0, |a, &bi| a | pk.meta(bi).flags) & flags::NEXT_PRESENT;
        if chained == 0 && self.cache.len() + bis.len() <= self.cache.capacity() {
            self.cache.extend(bis.iter().map(|b| b.0));
            if self.cache.len() > CACHE_HIGH {
                self.spill();
            }
            return;
        }
        for &bi in bis {
            let m = self.meta(bi);
            let (mut fl, mut nb) = (m.flags, m.next_buffer);
            self.cache.push(bi.0);
            // Bounded walk: a corrupted chain cannot loop forever.
            let mut hops = 0;
            while fl & flags::NEXT_PRESENT != 0 && nb < self.arena.count && hops < 256 {
                let m = self.meta(BufferIndex(nb));
                let next = (m.flags, m.next_buffer);
                self.cache.push(nb);
                (fl, nb) = next;
                hops += 1;
            }
            if self.cache.len() > CACHE_HIGH + REFILL_BATCH {
                self.spill();
            }
        }
        if self.cache.len() > CACHE_HIGH {
            self.spill();
        }
    }

    /// Frees one buffer chain.
    pub fn free_one(&mut self, bi: BufferIndex) {
        self.free(std::slice::from_ref(&bi));
    }

    fn spill(&mut self) {
        let keep = CACHE_HIGH / 2;
        if self.cache.len() <= keep {
            return;
        }
        if let Ok(mut pool) = self.arena.pool.lock() {
            pool.extend_from_slice(&self.cache[keep..]);
            self.cache.truncate(keep);
        }
        self.publish_cached();
    }

    /// Returns the whole cache to the shared pool (thread exit).
    pub fn flush(&mut self) {
        if let Ok(mut pool) = self.arena.pool.lock() {
            pool.extend_from_slice(&self.cache);
            self.cache.clear();
        }
        self.publish_cached();
    }

    /// Buffers in this thread's cache.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// A buffer's metadata.
    #[inline(always)]
    pub fn meta(&self, bi: BufferIndex) -> &BufferMeta {
        // SAFETY: index checked in meta_ptr; this thread owns `bi` (module docs).
        unsafe { &*self.arena.meta_ptr(bi) }
    }

    /// A buffer's metadata, mutable.
    #[inline(always)]
    pub fn meta_mut(&mut self, bi: BufferIndex) -> &mut BufferMeta {
        // SAFETY: index checked; this thread owns `bi`, and `&mut self`
        // rules out a second live reference from this thread.
        unsafe { &mut *self.arena.meta_ptr(bi) }
    }

    /// Issues a prefetch for a buffer's metadata and first data bytes.
    #[inline(always)]
    pub fn prefetch(&self, bi: BufferIndex) {
        if bi.0 < self.arena.count {
            let p = self.arena.raw_ptr(bi);
            crate::arch::prefetch(p.wrapping_sub(META_SIZE));
            crate::arch::prefetch(p.wrapping_add(HEADROOM));
        }
    }

    /// The whole buffer after the metadata: headroom followed by the data
    /// area. Offset `HEADROOM + current_data` is the packet's first byte.
    #[inline(always)]
    pub fn raw(&self, bi: BufferIndex) -> &[u8] {
        let len = self.arena.stride - META_SIZE;
        // SAFETY: index checked; [raw_ptr, raw_ptr+len) lies in this buffer.
        unsafe { std::slice::from_raw_parts(self.arena.raw_ptr(bi), len) }
    }

    /// Metadata and the raw area (headroom + data) of one buffer, mutably.
    #[inline(always)]
    pub fn split_mut(&mut self, bi: BufferIndex) -> (&mut BufferMeta, &mut [u8]) {
        let len = self.arena.stride - META_SIZE;
        let raw = self.arena.raw_ptr(bi);
        // SAFETY: index checked; metadata and raw area do not overlap; this
        // thread owns `bi` and `&mut self` makes the borrows exclusive.
        unsafe { (&mut *(raw.sub(META_SIZE) as *mut BufferMeta), std::slice::from_raw_parts_mut(raw, len)) }
    }

    /// The packet bytes in this buffer (`current_data`, `current_length`).
    /// An inconsistent offset/length yields an empty or clipped slice.
    #[inline(always)]
    pub fn data(&self, bi: BufferIndex) -> &[u8] {
        let m = self.meta(bi);
        let (s, e) = self.window(m);
        &self.raw(bi)[s..e]
    }

    /// The first `N` bytes of the packet, when it has that many in this
    /// buffer (one bounds check for a header read).
    #[inline(always)]
    pub fn header<const N: usize>(&self, bi: BufferIndex) -> Option<&[u8; N]> {
        let m = self.meta(bi);
        if (m.current_length as usize) < N {
            return None;
        }
        let s = HEADROOM as isize + m.current_data as isize;
        let raw = self.raw(bi);
        if s < 0 {
            return None;
        }
        raw.get(s as usize..s as usize + N).and_then(|x| x.try_into().ok())
    }

    /// Metadata plus the raw area with the packet's start offset in it
    /// (`HEADROOM + current_data`, clamped to the area): one access for a
    /// node that reads the header, edits it and prepends in place.
    #[inline(always)]
    pub fn packet_mut(&mut self, bi: BufferIndex) -> (&mut BufferMeta, &mut [u8], usize) {
        let (m, raw) = self.split_mut(bi);
        let s = (HEADROOM as isize + m.current_data as isize).clamp(0, raw.len() as isize) as usize;
        (m, raw, s)
    }

    /// The packet bytes in this buffer, mutable.
    #[inline(always)]
    pub fn data_mut(&mut self, bi: BufferIndex) -> &mut [u8] {
        let (m, raw) = self.split_mut(bi);
        let s = (HEADROOM as isize + m.current_data as isize).clamp(0, raw.len() as isize) as usize;
        let e = (s + m.current_length as usize).min(raw.len());
        &mut raw[s..e]
    }

    #[inline(always)]
    fn window(&self, m: &BufferMeta) -> (usize, usize) {
        let cap = self.arena.stride - META_SIZE;
        let s = (HEADROOM as isize + m.current_data as isize).clamp(0, cap as isize) as usize;
        (s, (s + m.current_length as usize).min(cap))
    }

    /// Writes `bytes` as a fresh packet received on `sw_if_index`.
    pub fn fill(&mut self, bi: BufferIndex, bytes: &[u8], sw_if_index: u32) -> usize {
        let ds = self.arena.data_size;
        let n = bytes.len().min(ds).min(u16::MAX as usize);
        let (m, raw) = self.split_mut(bi);
        m.reset_rx(n as u16, sw_if_index);
        raw[HEADROOM..HEADROOM + n].copy_from_slice(&bytes[..n]);
        n
    }

    /// Moves the packet start by `delta` bytes (positive: strip headers,
    /// negative: expose headroom to prepend). Returns false, changing
    /// nothing, when the result would leave the buffer.
    #[inline(always)]
    pub fn advance(&mut self, bi: BufferIndex, delta: i16) -> bool {
        let m = self.meta_mut(bi);
        let nd = m.current_data as i32 + delta as i32;
        let nl = m.current_length as i32 - delta as i32;
        if nd < -(HEADROOM as i32) || nl < 0 || nl > u16::MAX as i32 {
            return false;
        }
        m.current_data = nd as i16;
        m.current_length = nl as u16;
        true
    }

    /// Length of the whole packet chain starting at `bi`.
    pub fn chain_len(&self, bi: BufferIndex) -> usize {
        let m = self.meta(bi);
        m.current_length as usize + m.total_length_not_including_first_buffer as usize
    }

    /// Cuts the chain at `bi` to its first `len` bytes (at most 256
    /// buffers followed), freeing the buffers past them, and sets the
    /// head's chain length to what is kept. Returns the chain's last buffer
    /// and how many buffers it keeps.
    pub fn truncate_chain(&mut self, bi: BufferIndex, len: usize) -> (BufferIndex, usize) {
        let count = self.arena.count;
        let (mut cur, mut left, mut n, mut kept) = (bi, len, 1, 0);
        loop {
            let m = self.meta_mut(cur);
            let here = m.current_length as usize;
            let more = m.flags & flags::NEXT_PRESENT != 0;
            if left <= here || !more || m.next_buffer >= count || n >= 256 {
                m.current_length = left.min(here) as u16;
                kept += left.min(here);
                m.flags &= !flags::NEXT_PRESENT;
                let rest = BufferIndex(m.next_buffer);
                if more && rest.0 < count {
                    self.free_one(rest);
                }
                break;
            }
            left -= here;
            kept += here;
            cur = BufferIndex(m.next_buffer);
            n += 1;
        }
        let m = self.meta_mut(bi);
        m.total_length_not_including_first_buffer = (kept - m.current_length as usize) as u32;
        (cur, n)
    }

    /// Copies the whole chain's bytes into a vector (slow path: trace, punt).
    pub fn chain_bytes(&self, bi: BufferIndex) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.chain_len(bi));
        let mut cur = bi;
        for _ in 0..64 {
            out.extend_from_slice(self.data(cur));
            let m = self.meta(cur);
            if m.flags & flags::NEXT_PRESENT == 0 || m.next_buffer >= self.arena.count {
                break;
            }
            cur = BufferIndex(m.next_buffer);
        }
        out
    }
}

/// A node loop's view of the arena: its geometry held in registers for the
/// whole frame, one bounds check per buffer. It borrows the thread's
/// [`ThreadBuffers`] mutably, so the ownership argument of the module docs
/// carries over unchanged.
pub struct Packets<'a> {
    base: *mut u8,
    count: u32,
    stride: usize,
    /// Bytes after the metadata: headroom + data area.
    cap: usize,
    _borrow: std::marker::PhantomData<&'a mut ThreadBuffers>,
}

impl ThreadBuffers {
    /// A view for a node's per-packet loop.
    #[inline(always)]
    pub fn view(&mut self) -> Packets<'_> {
        Packets {
            base: self.arena.map.base,
            count: self.arena.count,
            stride: self.arena.stride,
            cap: self.arena.stride - META_SIZE,
            _borrow: std::marker::PhantomData,
        }
    }
}

impl Packets<'_> {
    #[inline(always)]
    fn buf(&self, bi: BufferIndex) -> *mut u8 {
        if bi.0 >= self.count {
            out_of_range(bi);
        }
        // SAFETY: bi < count, so the offset lies inside the mapping.
        unsafe { self.base.add(bi.0 as usize * self.stride) }
    }

    /// The packet's window in the raw area: its start (`HEADROOM +
    /// current_data`) and its bytes in this buffer (`current_length`),
    /// clamped so that `start + len <= cap` whatever the metadata says (a
    /// negative start wraps to a huge value and clamps to the end).
    #[inline(always)]
    fn window(&self, m: &BufferMeta) -> (usize, usize) {
        let s = ((HEADROOM as isize + m.current_data as isize) as usize).min(self.cap);
        (s, (m.current_length as usize).min(self.cap - s))
    }

    /// A buffer's metadata.
    #[inline(always)]
    pub fn meta(&self, bi: BufferIndex) -> &BufferMeta {
        // SAFETY: in bounds (buf), aligned (stride is a multiple of 64); this
        // thread owns `bi` and the view borrows its ThreadBuffers.
        unsafe { &*(self.buf(bi) as *const BufferMeta) }
    }

    /// Metadata, the headroom before the packet (the raw area up to its
    /// start: where a node prepends) and the packet's bytes in this buffer,
    /// without a bounds check left for the node to pay.
    #[inline(always)]
    pub fn parts_mut(&mut self, bi: BufferIndex) -> (&mut BufferMeta, &mut [u8], &mut [u8]) {
        let p = self.buf(bi);
        // SAFETY: in bounds and aligned (buf); this thread owns `bi` and
        // `&mut self` makes the borrow exclusive.
        let m = unsafe { &mut *(p as *mut BufferMeta) };
        let (s, n) = self.window(m);
        // SAFETY: [META_SIZE, META_SIZE + cap) is the raw area of buffer
        // `bi`, disjoint from its metadata; `window` keeps s + n <= cap, so
        // the two slices are in it and do not overlap each other.
        unsafe {
            let raw = p.add(META_SIZE);
            (m, std::slice::from_raw_parts_mut(raw, s), std::slice::from_raw_parts_mut(raw.add(s), n))
        }
    }

    /// Metadata and the packet's bytes in this buffer.
    #[inline(always)]
    pub fn data_mut(&mut self, bi: BufferIndex) -> (&mut BufferMeta, &mut [u8]) {
        let (m, _, d) = self.parts_mut(bi);
        (m, d)
    }

    /// Metadata and the packet's first `N` bytes, when `current_length`
    /// says it has that many in this buffer and they lie inside it: the
    /// two compares a node's fast path pays instead of the clamped window.
    /// The length itself is the metadata's (`current_length`, not clamped
    /// to the buffer's end as [`Self::parts_mut`] clamps it). None for a
    /// shorter packet or an offset outside the buffer: the node's full
    /// path then looks at the clamped window.
    #[inline(always)]
    pub fn head_mut<const N: usize>(&mut self, bi: BufferIndex) -> Option<(&mut BufferMeta, &mut [u8; N])> {
        let p = self.buf(bi);
        // SAFETY: in bounds and aligned (buf); this thread owns `bi` and
        // `&mut self` makes the borrow exclusive.
        let m = unsafe { &mut *(p as *mut BufferMeta) };
        // A negative start wraps to a huge value and fails the first test.
        let s = (HEADROOM as isize + m.current_data as isize) as usize;
        if (N > self.cap) | (s > self.cap.wrapping_sub(N)) | ((m.current_length as usize) < N) {
            return None;
        }
        // SAFETY: s + N <= cap, so the N bytes lie in the raw area of
        // buffer `bi` ([META_SIZE, META_SIZE + cap)), disjoint from its
        // metadata; [u8; N] needs no alignment.
        Some((m, unsafe { &mut *(p.add(META_SIZE + s) as *mut [u8; N]) }))
    }

    /// Hints the CPU to fetch the cache line right before a buffer's data
    /// area, where a node prepends a header to a packet that starts near
    /// the data area's start (nothing has touched that line yet): issued a
    /// few packets ahead, the node's write there does not wait for it.
    #[inline(always)]
    pub fn prefetch_headroom(&self, bi: BufferIndex) {
        // No bounds check: a prefetch of any address is harmless.
        let line = bi.0 as usize * self.stride + DATA_OFFSET - 64;
        crate::arch::prefetch(self.base.wrapping_add(line));
    }

    /// Like [`Self::head_mut`], with the `ROOM` bytes of headroom right
    /// before the packet (where a node prepends), when it has that many.
    #[inline(always)]
    pub fn head_room_mut<const N: usize, const ROOM: usize>(
        &mut self,
        bi: BufferIndex,
    ) -> Option<(&mut BufferMeta, &mut [u8; ROOM], &mut [u8; N])> {
        let p = self.buf(bi);
        // SAFETY: in bounds and aligned (buf); this thread owns `bi` and
        // `&mut self` makes the borrow exclusive.
        let m = unsafe { &mut *(p as *mut BufferMeta) };
        let s = (HEADROOM as isize + m.current_data as isize) as usize;
        // ROOM <= s <= cap - N in one compare: a start below ROOM wraps to
        // a huge value.
        let span = self.cap.wrapping_sub(N + ROOM);
        if (N + ROOM > self.cap) | (s.wrapping_sub(ROOM) > span) | ((m.current_length as usize) < N) {
            return None;
        }
        // SAFETY: ROOM <= s and s + N <= cap: [s - ROOM, s) and [s, s + N)
        // of the raw area of buffer `bi` are disjoint from each other and
        // from its metadata; byte arrays need no alignment.
        unsafe {
            let raw = p.add(META_SIZE);
            Some((m, &mut *(raw.add(s - ROOM) as *mut [u8; ROOM]), &mut *(raw.add(s) as *mut [u8; N])))
        }
    }
}

/// A buffer index past the arena: an engine bug, never a packet's doing.
/// Out of line so the node loops keep no copy of the index for it.
#[cold]
#[inline(never)]
fn out_of_range(bi: BufferIndex) -> ! {
    panic!("buffer index {} out of range", bi.0)
}

impl Drop for ThreadBuffers {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(n: u32) -> Arc<Buffers> {
        Buffers::new(n, 2048, Backing::Pages).unwrap()
    }

    #[test]
    fn alloc_until_exhausted_then_counts_failures() {
        let a = arena(512);
        let mut t = a.thread(0);
        let mut v = vec![BufferIndex(0); 600];
        let got = t.alloc(&mut v);
        assert_eq!(got, 512);
        assert_eq!(t.alloc_failures(), 88);
        assert_eq!(a.stats(1).alloc_failures, 88);
        let mut sorted: Vec<u32> = v[..got].iter().map(|b| b.0).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 512, "no index handed out twice");
        t.free(&v[..got]);
        t.flush();
        assert_eq!(a.stats(1).free, 512);
    }

    #[test]
    fn chains_are_freed_whole() {
        let a = arena(256);
        let mut t = a.thread(0);
        let b0 = t.alloc_one().unwrap();
        let b1 = t.alloc_one().unwrap();
        t.fill(b0, &[1; 100], 1);
        t.fill(b1, &[2; 50], 1);
        let m = t.meta_mut(b0);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = b1.0;
        m.total_length_not_including_first_buffer = 50;
        assert_eq!(t.chain_len(b0), 150);
        assert_eq!(t.chain_bytes(b0).len(), 150);
        let before = t.cached();
        t.free_one(b0);
        assert_eq!(t.cached(), before + 2);
    }

    #[test]
    fn advance_stays_inside_the_buffer() {
        let a = arena(256);
        let mut t = a.thread(0);
        let b = t.alloc_one().unwrap();
        t.fill(b, &[7; 60], 3);
        assert!(t.advance(b, 14));
        assert_eq!(t.data(b).len(), 46);
        assert!(t.advance(b, -14 - HEADROOM as i16));
        assert!(!t.advance(b, -1), "cannot go before the headroom");
        assert!(!t.advance(b, 1000), "cannot pass the end of the packet");
        assert_eq!(t.meta(b).sw_if_index[RX], 3);
    }

    #[test]
    fn data_window_is_clipped_for_bad_metadata() {
        let a = arena(256);
        let mut t = a.thread(0);
        let b = t.alloc_one().unwrap();
        t.meta_mut(b).current_data = 4000;
        t.meta_mut(b).current_length = 60000;
        assert!(t.data(b).len() <= 2048 + HEADROOM);
        t.meta_mut(b).current_data = -30000;
        let _ = t.data_mut(b);
    }

    #[test]
    fn head_views_only_whole_headers_inside_the_buffer() {
        let a = arena(256);
        let mut t = a.thread(0);
        let b = t.alloc_one().unwrap();
        let bytes: Vec<u8> = (0..60).collect();
        t.fill(b, &bytes, 1);
        let cap = a.stride - META_SIZE;
        {
            let mut pk = t.view();
            let (m, h) = pk.head_mut::<20>(b).unwrap();
            assert_eq!(m.current_length, 60);
            assert_eq!(h[..], bytes[..20]);
            assert!(pk.head_mut::<61>(b).is_none(), "longer than the packet");
            let (_, room, h) = pk.head_room_mut::<20, 24>(b).unwrap();
            assert_eq!((room.len(), h[0]), (24, 0));
            assert!(pk.head_room_mut::<20, 129>(b).is_none(), "more room than the headroom");
            assert!(pk.head_room_mut::<20, 128>(b).is_some());
        }
        // Offsets before the headroom or past the end, and lengths past the
        // end, never give a view that leaves the buffer.
        for (cd, len) in [(-129i16, 60u16), (-30000, 60), (i16::MAX, 60), ((cap - HEADROOM - 19) as i16, 60)] {
            let m = t.meta_mut(b);
            (m.current_data, m.current_length) = (cd, len);
            let mut pk = t.view();
            assert!(pk.head_mut::<20>(b).is_none(), "{cd} {len}");
            assert!(pk.head_room_mut::<20, 24>(b).is_none(), "{cd} {len}");
        }
        let m = t.meta_mut(b);
        (m.current_data, m.current_length) = ((cap - HEADROOM - 20) as i16, 20);
        let mut pk = t.view();
        assert!(pk.head_mut::<20>(b).is_some(), "the last 20 bytes of the buffer");
        let m = t.meta_mut(b);
        (m.current_data, m.current_length) = (-104, 20);
        let mut pk = t.view();
        assert!(pk.head_room_mut::<20, 24>(b).is_some(), "24 bytes of room exactly");
        t.meta_mut(b).current_data = -105;
        let mut pk = t.view();
        assert!(pk.head_room_mut::<20, 24>(b).is_none());
        assert!(pk.head_mut::<20>(b).is_some());
    }

    fn hugepages_free() -> u64 {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("HugePages_Free:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    #[test]
    fn hugepages_when_the_host_has_them_else_ordinary_pages() {
        // 512 buffers of ~2.4 KiB need one 2 MiB page.
        let a = Buffers::new(512, 2048, Backing::HugepagesIfAvailable).unwrap();
        if hugepages_free() == 0 {
            assert!(!a.on_hugepages(), "no hugepages on this host: ordinary pages");
        }
        // Either way the arena works.
        let mut t = a.thread(0);
        let b = t.alloc_one().unwrap();
        t.fill(b, &[1; 64], 0);
        assert_eq!(t.data(b), &[1; 64]);
        assert!(!Buffers::new(512, 2048, Backing::Pages).unwrap().on_hugepages());
    }

    #[test]
    fn threads_share_the_pool() {
        let a = arena(1024);
        let mut t0 = a.thread(0);
        let mut v = vec![BufferIndex(0); 1024];
        assert_eq!(t0.alloc(&mut v), 1024);
        let h = std::thread::spawn({
            let a = a.clone();
            move || {
                let mut t1 = a.thread(1);
                t1.alloc_one().is_none()
            }
        });
        assert!(h.join().unwrap());
        t0.free(&v);
        t0.flush();
        let mut t1 = a.thread(1);
        assert!(t1.alloc_one().is_some());
    }
    /// A chain cut to a length: the buffers past it freed, the cut buffer
    /// shortened, the head's chain length what is kept; a length beyond the
    /// chain keeps it whole.
    #[test]
    fn truncate_chain_cuts_and_frees_the_rest() {
        let arena = Buffers::new(64, 2048, Backing::Pages).unwrap();
        let mut t = arena.thread(0);
        let chain = |t: &mut ThreadBuffers| {
            let parts: Vec<BufferIndex> = (0..3u8)
                .map(|k| {
                    let b = t.alloc_one().unwrap();
                    t.fill(b, &[k; 100], 0);
                    b
                })
                .collect();
            for w in parts.windows(2) {
                let m = t.meta_mut(w[0]);
                m.flags |= flags::NEXT_PRESENT;
                m.next_buffer = w[1].0;
            }
            t.meta_mut(parts[0]).total_length_not_including_first_buffer = 200;
            parts
        };
        let free = |t: &ThreadBuffers| arena.stats(1).free + t.cached() as u32;
        let before = free(&t);
        let p = chain(&mut t);
        assert_eq!(t.truncate_chain(p[0], 150), (p[1], 2));
        assert_eq!((t.chain_len(p[0]), t.chain_bytes(p[0]).len()), (150, 150));
        assert_eq!(free(&t), before - 2, "the third buffer went back");
        assert_eq!(t.truncate_chain(p[0], 1000), (p[1], 2), "longer than the chain: kept whole");
        assert_eq!(t.chain_len(p[0]), 150);
        assert_eq!(t.truncate_chain(p[0], 60), (p[0], 1));
        assert_eq!((t.chain_len(p[0]), t.meta(p[0]).flags & flags::NEXT_PRESENT), (60, 0));
        t.free_one(p[0]);
        assert_eq!(free(&t), before);
    }
}
