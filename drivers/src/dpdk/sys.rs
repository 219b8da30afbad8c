//! Every call into DPDK and every raw pointer of the dpdk driver: EAL
//! start-up, ports (ethdev), the mbuf pool, rx/tx bursts and the copies
//! between mbufs and rvpp buffers. The rest of the driver sees safe
//! functions and two owning types, [`Pool`] and [`Mbufs`].
//!
//! Invariants this module keeps (the reasons its `unsafe` blocks are sound):
//! - The EAL is initialised once per process ([`eal_init`] refuses a second
//!   time), and no other function here runs before it succeeded: each is
//!   reached only through a port or pool made after it.
//! - Strings handed to DPDK are NUL-terminated `CString`s that outlive the
//!   call; the EAL's argv is leaked on purpose, as the EAL may keep
//!   pointers into it for the life of the process.
//! - An mbuf pointer in an [`Mbufs`] slot below its `len` is owned by this
//!   code: it came from `rx_burst` or a bulk alloc and has not been given
//!   to `tx_burst` or freed. Slots are freed or sent exactly once, then the
//!   count drops below them.
//! - Mbuf fields are read and written only at the offsets the C shim
//!   reported with `offsetof` for this DPDK build ([`layout`]), with
//!   unaligned accesses of the field's own width. Data bytes are touched
//!   only inside `[buf_addr + data_off, + data_len)` after checking
//!   `data_off + data_len <= buf_len`, so a bad mbuf cannot make a copy run
//!   outside its buffer.
//! - Zero copy ([`ZcArena`]): the pool's objects are the `rte_mbuf`s that
//!   sit in the arena's per-buffer prefix, right before each buffer's
//!   metadata (the mbuf's private area), so `buf_addr` is the buffer's
//!   headroom. An mbuf pointer is turned into a buffer index only through
//!   [`ZcArena::index_of`], which accepts exactly the `count` mbuf
//!   addresses; anything else is freed to DPDK, never followed. Whoever
//!   owns a buffer owns its mbuf: a free one lies in rvpp's free pool or a
//!   DPDK mempool cache, a received one is rvpp's once `rx_burst` returned
//!   it, a sent one is the PMD's once `tx_burst` took it. The mbuf of a
//!   buffer rvpp owns always reads as a free mbuf does (`next` NULL,
//!   `nb_segs` 1, `refcnt` 1): rx takes chains apart, tx puts back what the
//!   PMD did not take. Data offsets written into an mbuf are checked
//!   against the buffer's data room first.
//! - DPDK mempools are safe to use from several threads at once; a thread
//!   that is not an EAL lcore registers itself ([`register_thread`]) before
//!   its first burst so it gets a per-lcore mempool cache.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rvpp_dataplane::buffer::{Buffers, HEADROOM, META_SIZE};
use rvpp_dpdk_sys as ffi;

/// Most packets in one burst: a frame.
pub const BURST: usize = 256;
/// Mbufs each lcore keeps in its pool cache: room for an rx burst freed and
/// a tx burst allocated without going to the shared ring.
const POOL_CACHE: u32 = 512;
/// `RTE_ETH_TX_OFFLOAD_MULTI_SEGS` (`RTE_BIT64(15)`, a macro bindgen cannot
/// evaluate).
const TX_OFFLOAD_MULTI_SEGS: u64 = 1 << 15;
/// Most segments of one packet that are followed.
pub const MAX_SEGS: usize = 64;
/// Bytes rvpp reserves before each buffer for zero copy: the mempool's
/// object header (24 bytes, given a cache line) and the 128-byte
/// `rte_mbuf`; [`Pool::zero_copy`] checks both against this DPDK build.
pub const ZC_PREFIX: usize = 64 + 128;
/// Where the zero-copy fast paths find the mbuf fields they touch, as
/// constants (DPDK 22.11 on 64-bit): [`Pool::zero_copy`] refuses a build
/// whose shim says otherwise, so these are the shim's offsets whenever a
/// zero-copy pool exists. Constants let the per-packet code keep them out
/// of memory.
mod zc_off {
    pub const DATA_OFF: usize = 16;
    pub const NB_SEGS: usize = 20;
    pub const PORT: usize = 22;
    pub const OL_FLAGS: usize = 24;
    pub const PKT_LEN: usize = 36;
    pub const DATA_LEN: usize = 40;
    pub const NEXT: usize = 64;
    pub const SIZE: usize = 128;
}
/// Objects moved between a mempool and rvpp's free pool per lock.
const ZC_CHUNK: usize = 512;

/// Where the mbuf fields the driver uses lie, from the C shim.
struct Layout {
    buf_addr: usize,
    data_off: usize,
    nb_segs: usize,
    pkt_len: usize,
    data_len: usize,
    buf_len: usize,
    next: usize,
    ol_flags: usize,
    port: usize,
    /// sizeof(struct rte_mbuf).
    size: usize,
    /// sizeof(struct rte_mempool_objhdr).
    objhdr_size: usize,
}

fn layout() -> &'static Layout {
    static L: OnceLock<Layout> = OnceLock::new();
    L.get_or_init(|| {
        let mut l = ffi::rvpp_dpdk_mbuf_layout::default();
        // SAFETY: the shim only stores offsetof/sizeof values into `l`.
        unsafe { ffi::rvpp_dpdk_mbuf_layout(&mut l) };
        Layout {
            buf_addr: l.buf_addr as usize,
            data_off: l.data_off as usize,
            nb_segs: l.nb_segs as usize,
            pkt_len: l.pkt_len as usize,
            data_len: l.data_len as usize,
            buf_len: l.buf_len as usize,
            next: l.next as usize,
            ol_flags: l.ol_flags as usize,
            port: l.port as usize,
            size: l.size as usize,
            objhdr_size: l.objhdr_size as usize,
        }
    })
}

/// DPDK's last error (`rte_errno`) and its text.
pub fn last_error() -> String {
    // SAFETY: reads a thread-local integer.
    let e = unsafe { ffi::rvpp_dpdk_errno() };
    error_text(e)
}

/// The text of a DPDK or errno error number (either sign).
pub fn error_text(e: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a NUL-terminated string
    // (static or thread-local) valid until the next call on this thread.
    let s = unsafe { CStr::from_ptr(ffi::rte_strerror(e.abs())) };
    format!("{} ({})", s.to_string_lossy(), e.abs())
}

/// Starts the EAL with `args` (argv[0] first). The calling thread's CPU
/// affinity is put back afterwards: the EAL pins its main lcore, but
/// rvpp's main thread keeps the placement rvpp gave it.
pub fn eal_init(args: &[String]) -> Result<(), String> {
    static TRIED: AtomicBool = AtomicBool::new(false);
    if TRIED.swap(true, Ordering::AcqRel) {
        return Err("the EAL can be started once per process".into());
    }
    let mut argv: Vec<*mut c_char> = Vec::with_capacity(args.len() + 1);
    for a in args {
        let c = CString::new(a.as_str()).map_err(|_| format!("EAL argument '{a}' holds a NUL byte"))?;
        argv.push(c.into_raw());
    }
    argv.push(ptr::null_mut());
    let argv: &'static mut [*mut c_char] = Vec::leak(argv);
    // SAFETY: an all-zero cpu_set_t is a valid empty set, and
    // sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into it.
    let mut saved: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; pid 0 is the calling thread.
    let have = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut saved) } == 0;
    // SAFETY: argv is a NULL-terminated array of NUL-terminated strings
    // leaked for the life of the process (the EAL may keep them); argc
    // counts the strings before the NULL.
    let ret = unsafe { ffi::rte_eal_init(args.len() as i32, argv.as_mut_ptr()) };
    if have {
        // SAFETY: restores the set read above for the calling thread.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &saved) };
    }
    if ret < 0 {
        return Err(format!("rte_eal_init: {}", last_error()));
    }
    Ok(())
}

/// The EAL's runtime directory (`/var/run/dpdk/<file-prefix>`).
pub fn runtime_dir() -> Option<std::path::PathBuf> {
    // SAFETY: returns a pointer to the EAL's own NUL-terminated string
    // (empty before init).
    let p = unsafe { ffi::rte_eal_get_runtime_dir() };
    let s = cstr(p);
    (!s.is_empty()).then(|| s.into())
}

/// Makes the calling thread known to DPDK (an lcore id, so mempool caches
/// work) the first time it bursts. Threads the EAL made are known already.
#[inline]
pub fn register_thread() {
    thread_local!(static DONE: Cell<bool> = const { Cell::new(false) });
    if DONE.with(Cell::get) {
        return;
    }
    DONE.with(|d| d.set(true));
    // SAFETY: reads the thread's lcore id; registers it when it has none.
    // Failing (no free lcore id) leaves the thread unregistered, which
    // DPDK supports: its mempool gets and puts bypass the cache.
    unsafe {
        if ffi::rvpp_dpdk_lcore_id() == u32::MAX {
            ffi::rte_thread_register();
        }
    }
}

/// Probes a virtual device (hotplug) from its devargs.
pub fn probe(devargs: &str) -> Result<(), String> {
    let c = CString::new(devargs).map_err(|_| "devargs hold a NUL byte".to_string())?;
    // SAFETY: c is a NUL-terminated string that outlives the call.
    let r = unsafe { ffi::rte_dev_probe(c.as_ptr()) };
    if r < 0 {
        return Err(error_text(r));
    }
    Ok(())
}

/// The ethdev ports, in order.
pub fn ports() -> Vec<u16> {
    let mut v = Vec::new();
    // SAFETY: walks the port table; owner 0 is "no owner".
    let mut p = unsafe { ffi::rte_eth_find_next_owned_by(0, 0) };
    while p < ffi::RTE_MAX_ETHPORTS as u64 {
        v.push(p as u16);
        // SAFETY: as above.
        p = unsafe { ffi::rte_eth_find_next_owned_by(p as u16 + 1, 0) };
    }
    v
}

/// What rvpp needs to know of a port.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub name: String,
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub multi_seg_tx: bool,
    pub mac: [u8; 6],
    pub mtu: u16,
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: DPDK hands out NUL-terminated strings it owns for the port's life.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

pub fn port_info(port: u16) -> Result<PortInfo, String> {
    let mut info = ffi::rte_eth_dev_info::default();
    // SAFETY: info is a valid, writable rte_eth_dev_info.
    let r = unsafe { ffi::rte_eth_dev_info_get(port, &mut info) };
    if r != 0 {
        return Err(format!("rte_eth_dev_info_get: {}", error_text(r)));
    }
    let mut name = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: name has RTE_ETH_NAME_MAX_LEN bytes, the most DPDK writes.
    unsafe { ffi::rte_eth_dev_get_name_by_port(port, name.as_mut_ptr()) };
    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: mac is a valid, writable rte_ether_addr.
    unsafe { ffi::rte_eth_macaddr_get(port, &mut mac) };
    let mut mtu = 0u16;
    // SAFETY: mtu is written on success.
    if unsafe { ffi::rte_eth_dev_get_mtu(port, &mut mtu) } != 0 {
        mtu = 1500;
    }
    Ok(PortInfo {
        name: cstr(name.as_ptr()),
        driver: cstr(info.driver_name),
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        multi_seg_tx: info.tx_offload_capa & TX_OFFLOAD_MULTI_SEGS != 0,
        mac: mac.addr_bytes,
        mtu,
    })
}

/// A pool of mbufs (`rte_pktmbuf_pool_create`). Shared by the threads that
/// burst on the ports using it; never freed (ports keep pointers into it
/// until the process ends).
pub struct Pool {
    mp: NonNull<ffi::rte_mempool>,
    /// Set when the pool's objects are the arena's buffers.
    zc: Option<&'static ZcArena>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer
// is never freed (see the type's doc), so sharing it across threads is sound.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

impl Pool {
    pub fn new(name: &str, n: u32, socket: i32) -> Result<Pool, String> {
        let c = CString::new(name).map_err(|_| "pool name holds a NUL byte".to_string())?;
        // SAFETY: c is NUL-terminated; the other arguments are plain values.
        let p = unsafe {
            ffi::rte_pktmbuf_pool_create(c.as_ptr(), n, POOL_CACHE, 0, ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16, socket)
        };
        NonNull::new(p)
            .map(|mp| Pool { mp, zc: None })
            .ok_or_else(|| format!("rte_pktmbuf_pool_create({n} mbufs): {}", last_error()))
    }

    /// A pool whose mbufs are the arena's buffers (zero copy): the arena
    /// must have been made with a [`ZC_PREFIX`]-byte prefix. It may be made while
    /// buffers are in use: the mbuf headers written here lie in the
    /// prefixes, which nothing else touches (the mbufs' private areas,
    /// rvpp's metadata, are left alone), and the free buffers stay in
    /// rvpp's free pool (the shim ignores the enqueues populating makes).
    pub fn zero_copy(name: &str, bufs: &Arc<Buffers>, socket: i32) -> Result<Pool, String> {
        let l = layout();
        let (shim, ours) = zc_offsets(l);
        if shim != ours {
            return Err(format!(
                "this DPDK's rte_mbuf layout {shim:?} is not the one zero copy was written for {ours:?}"
            ));
        }
        let geo = bufs.layout();
        let prefix = bufs.prefix();
        if prefix < l.size + l.objhdr_size.next_multiple_of(64) || prefix > ZC_PREFIX {
            return Err(format!(
                "the arena's {prefix}-byte prefix does not hold this DPDK's rte_mbuf ({} bytes) and mempool header ({})",
                l.size, l.objhdr_size
            ));
        }
        let data_room = HEADROOM + bufs.data_size();
        // Every data offset inside the room must be a `current_data`.
        if data_room > HEADROOM + i16::MAX as usize {
            return Err(format!("buffers of {} data bytes are larger than an mbuf can say", bufs.data_size()));
        }
        let lines = geo.stride / 64;
        if !geo.stride.is_multiple_of(64) || lines.is_multiple_of(2) {
            return Err(format!("arena stride {} is not an odd number of cache lines", geo.stride));
        }
        let inv = odd_inverse(lines as u64);
        let arena: &'static ZcArena = Box::leak(Box::new(ZcArena {
            bufs: bufs.clone(),
            mbuf0: geo.base as usize - l.size,
            stride: geo.stride,
            lines: lines as u64,
            inv,
            count: geo.count,
            data_room: data_room as u16,
            no_buffers: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
        }));
        let zc: &'static mut ffi::rvpp_dpdk_zc = Box::leak(Box::new(ffi::rvpp_dpdk_zc {
            map_start: (geo.base as usize - prefix) as *mut c_void,
            map_len: geo.len + prefix,
            mbuf0: arena.mbuf0 as *mut c_void,
            stride: geo.stride as u64,
            count: geo.count,
            priv_size: META_SIZE as u16,
            data_room: data_room as u16,
            ctx: arena as *const ZcArena as *mut c_void,
            get: Some(zc_get),
            put: Some(zc_put),
            avail: Some(zc_avail),
            populating: 0,
        }));
        let c = CString::new(name).map_err(|_| "pool name holds a NUL byte".to_string())?;
        // A mempool cache may hold 1.5 times its size, and DPDK wants that
        // to be at most the pool: small arenas get small caches.
        let cache = POOL_CACHE.min(geo.count / 4);
        // SAFETY: c is NUL-terminated; zc is leaked (lives as long as the
        // pool, which is never freed) and describes the arena's mapping,
        // which the leaked ZcArena keeps alive through its Arc.
        let p = unsafe { ffi::rvpp_dpdk_zc_pool_create(c.as_ptr(), zc, cache, socket) };
        NonNull::new(p)
            .map(|mp| Pool { mp, zc: Some(arena) })
            .ok_or_else(|| format!("zero-copy mempool over {} buffers: {}", geo.count, last_error()))
    }

    /// The arena, when the pool's mbufs are its buffers.
    pub fn zero_copy_arena(&self) -> Option<&'static ZcArena> {
        self.zc
    }

    fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.mp.as_ptr()
    }

    /// (available, in use) mbufs.
    pub fn counts(&self) -> (u32, u32) {
        // SAFETY: read-only queries of a live pool.
        unsafe { (ffi::rte_mempool_avail_count(self.as_ptr()), ffi::rte_mempool_in_use_count(self.as_ptr())) }
    }
}

/// The arena as the zero-copy mempool sees it: buffer i's mbuf is at
/// `mbuf0 + i * stride`. Leaked with its pool (never freed).
pub struct ZcArena {
    bufs: Arc<Buffers>,
    mbuf0: usize,
    stride: usize,
    /// The stride in cache lines (odd), and its inverse modulo 2^64.
    lines: u64,
    inv: u64,
    count: u32,
    data_room: u16,
    /// Mbufs a PMD asked for that rvpp's free pool did not have.
    pub no_buffers: AtomicU64,
    /// Objects given back to the pool that are no arena mbuf (ignored).
    pub foreign: AtomicU64,
}

impl ZcArena {
    /// The buffer whose mbuf `m` is; None for any other address.
    #[inline(always)]
    pub fn index_of<T>(&self, m: *const T) -> Option<u32> {
        let off = (m as usize).wrapping_sub(self.mbuf0) as u64;
        if off & 63 != 0 {
            return None;
        }
        // Exact division by the odd line count: a multiple of it maps to
        // its quotient, anything else to a number that fails the check.
        let q = (off >> 6).wrapping_mul(self.inv);
        (q < u64::from(self.count) && q * self.lines == off >> 6).then_some(q as u32)
    }

    #[inline(always)]
    fn mbuf(&self, bi: u32) -> *mut ffi::rte_mbuf {
        (self.mbuf0 + bi as usize * self.stride) as *mut ffi::rte_mbuf
    }

    /// Buffers in rvpp's shared free pool.
    pub fn free_buffers(&self) -> u32 {
        self.bufs.stats(0).free
    }
}

/// The inverse of an odd `x` modulo 2^64 (Newton's iteration doubles the
/// correct low bits each step).
fn odd_inverse(x: u64) -> u64 {
    let mut inv = x;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(x.wrapping_mul(inv)));
    }
    inv
}

/// The mempool's dequeue: `n` mbufs out of rvpp's free pool, all or none.
unsafe extern "C" fn zc_get(ctx: *mut c_void, objs: *mut *mut c_void, n: c_uint) -> c_int {
    // SAFETY: ctx is the leaked ZcArena the pool was made with.
    let a = unsafe { &*(ctx as *const ZcArena) };
    let n = n as usize;
    let mut idx = [0u32; ZC_CHUNK];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(ZC_CHUNK);
        if !a.bufs.take_free(&mut idx[..k]) {
            // Put back what this call took: all or none.
            // SAFETY: objs[..done] were written just above.
            unsafe { zc_put(ctx, objs, done as c_uint) };
            a.no_buffers.fetch_add(n as u64, Ordering::Relaxed);
            return -libc::ENOBUFS;
        }
        for (j, &i) in idx[..k].iter().enumerate() {
            // SAFETY: the mempool hands an array of n pointers to fill.
            unsafe { *objs.add(done + j) = a.mbuf(i).cast() };
        }
        done += k;
    }
    0
}

/// The mempool's enqueue: mbufs back to rvpp's free pool.
unsafe extern "C" fn zc_put(ctx: *mut c_void, objs: *const *mut c_void, n: c_uint) {
    // SAFETY: ctx is the leaked ZcArena the pool was made with.
    let a = unsafe { &*(ctx as *const ZcArena) };
    let mut idx = [0u32; ZC_CHUNK];
    let mut k = 0;
    for j in 0..n as usize {
        // SAFETY: the mempool hands an array of n object pointers.
        let o = unsafe { *objs.add(j) };
        match a.index_of(o) {
            Some(i) => {
                idx[k] = i;
                k += 1;
            }
            None => {
                a.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
        if k == ZC_CHUNK {
            a.bufs.put_free(&idx);
            k = 0;
        }
    }
    a.bufs.put_free(&idx[..k]);
}

/// The mempool's count: rvpp's free pool.
unsafe extern "C" fn zc_avail(ctx: *mut c_void) -> c_uint {
    // SAFETY: ctx is the leaked ZcArena the pool was made with.
    let a = unsafe { &*(ctx as *const ZcArena) };
    a.free_buffers()
}

/// One segment of a zero-copy packet: its buffer, where the bytes start
/// from the mbuf's `buf_addr` (rvpp's headroom start) and how many.
#[derive(Clone, Copy, Default, Debug)]
pub struct Seg {
    pub bi: u32,
    pub off: u16,
    pub len: u16,
}

/// Configures a port with `nrx` rx and `ntx` tx queues on `pool`.
pub fn port_setup(
    port: u16,
    nrx: u16,
    ntx: u16,
    rx_desc: u16,
    tx_desc: u16,
    multi_seg: bool,
    pool: &Pool,
) -> Result<(), String> {
    let mut conf = ffi::rte_eth_conf::default();
    if multi_seg {
        conf.txmode.offloads |= TX_OFFLOAD_MULTI_SEGS;
    }
    // SAFETY: conf is a valid rte_eth_conf the call only reads.
    let r = unsafe { ffi::rte_eth_dev_configure(port, nrx, ntx, &conf) };
    if r != 0 {
        return Err(format!("rte_eth_dev_configure({nrx} rx, {ntx} tx queues): {}", error_text(r)));
    }
    // SAFETY: plain query.
    let socket = unsafe { ffi::rte_eth_dev_socket_id(port) };
    let socket = if socket < 0 { ffi::SOCKET_ID_ANY } else { socket };
    for q in 0..nrx {
        // SAFETY: a NULL rxconf means the driver's defaults; the pool
        // outlives the port (never freed).
        let r = unsafe { ffi::rte_eth_rx_queue_setup(port, q, rx_desc, socket as u32, ptr::null(), pool.as_ptr()) };
        if r != 0 {
            return Err(format!("rte_eth_rx_queue_setup(queue {q}, {rx_desc} descriptors): {}", error_text(r)));
        }
    }
    for q in 0..ntx {
        // SAFETY: a NULL txconf means the driver's defaults.
        let r = unsafe { ffi::rte_eth_tx_queue_setup(port, q, tx_desc, socket as u32, ptr::null()) };
        if r != 0 {
            return Err(format!("rte_eth_tx_queue_setup(queue {q}, {tx_desc} descriptors): {}", error_text(r)));
        }
    }
    // SAFETY: plain call on a configured port; promiscuous mode is best
    // effort (not every vdev has it).
    unsafe { ffi::rte_eth_promiscuous_enable(port) };
    // SAFETY: plain call on a configured port.
    let r = unsafe { ffi::rte_eth_dev_start(port) };
    if r != 0 {
        return Err(format!("rte_eth_dev_start: {}", error_text(r)));
    }
    Ok(())
}

/// Link state and speed (Mb/s) without waiting; an error (the device is
/// gone, say) reads as down.
pub fn link(port: u16) -> (bool, u32) {
    let mut l = ffi::rte_eth_link::default();
    // SAFETY: l is a valid, writable rte_eth_link.
    let r = unsafe { ffi::rte_eth_link_get_nowait(port, &mut l) };
    if r != 0 {
        return (false, 0);
    }
    (l.link_status() != 0, l.link_speed)
}

/// Asks the port to bring its link up (a kernel interface under
/// net_af_packet goes up); drivers without the operation ignore it.
pub fn set_link_up(port: u16) {
    // SAFETY: plain call on a started port; an error (ENOTSUP) is harmless.
    unsafe { ffi::rte_eth_dev_set_link_up(port) };
}

/// The port's counters as DPDK keeps them.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

pub fn port_stats(port: u16) -> Option<PortStats> {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: s is a valid, writable rte_eth_stats.
    if unsafe { ffi::rte_eth_stats_get(port, &mut s) } != 0 {
        return None;
    }
    Some(PortStats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}

/// A burst's worth of owned mbufs: slots `[0, len)` hold mbufs this code
/// owns (see the module's invariants).
pub struct Mbufs {
    m: Box<[*mut ffi::rte_mbuf; BURST]>,
    len: usize,
    /// The field offsets, looked up once.
    l: &'static Layout,
}

// SAFETY: the mbufs are owned by this value alone (not shared), and DPDK
// allows an mbuf to be freed or sent from any thread.
unsafe impl Send for Mbufs {}

impl Default for Mbufs {
    fn default() -> Self {
        Mbufs { m: Box::new([ptr::null_mut(); BURST]), len: 0, l: layout() }
    }
}

impl Drop for Mbufs {
    fn drop(&mut self) {
        self.free_from(0);
    }
}

impl Mbufs {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Receives up to `max` packets from a queue; returns how many.
    #[inline]
    pub fn rx_burst(&mut self, port: u16, queue: u16, max: usize) -> usize {
        self.free_from(0);
        // SAFETY: the array has room for `max` (≤ BURST) pointers, which
        // the driver fills with mbufs it hands over to us.
        let n = unsafe { ffi::rvpp_dpdk_rx_burst(port, queue, self.m.as_mut_ptr(), max.min(BURST) as u16) };
        self.len = n as usize;
        self.len
    }

    /// Allocates `n` fresh mbufs from `pool` (all or none).
    #[inline]
    pub fn alloc(&mut self, pool: &Pool, n: usize) -> bool {
        self.free_from(0);
        let n = n.min(BURST);
        // SAFETY: the array has room for n pointers; on success each is a
        // reset mbuf (one segment, empty) we own.
        let r = unsafe { ffi::rvpp_dpdk_mbuf_alloc_bulk(pool.as_ptr(), self.m.as_mut_ptr(), n as u32) };
        if r != 0 {
            return false;
        }
        self.len = n;
        true
    }

    /// Frees the mbufs of slots `[from, len)`.
    #[inline]
    pub fn free_from(&mut self, from: usize) {
        if from < self.len {
            // SAFETY: slots [from, len) are owned mbufs (invariant); they
            // are given back once and the count drops below them.
            unsafe { ffi::rte_pktmbuf_free_bulk(self.m.as_mut_ptr().add(from), (self.len - from) as u32) };
        }
        self.len = self.len.min(from);
    }

    /// Sends slots `[0, n)` on a tx queue; returns how many the driver took
    /// (those are no longer ours). The slots not taken move to the front.
    #[inline]
    pub fn tx_burst(&mut self, port: u16, queue: u16, n: usize) -> usize {
        let n = n.min(self.len);
        // SAFETY: slots [0, n) are owned mbufs; the driver takes the first
        // `sent` of them.
        let sent = unsafe { ffi::rvpp_dpdk_tx_burst(port, queue, self.m.as_mut_ptr(), n as u16) } as usize;
        self.m.copy_within(sent..self.len, 0);
        self.len -= sent;
        sent
    }

    /// Zero copy rx: takes slot `k`'s packet (k < len) as the buffers its
    /// mbufs are, into `segs`; returns how many segments. Every segment is
    /// checked first (an arena mbuf, its bytes inside its data room, the
    /// lengths adding up to the packet's, a non-empty packet): a packet
    /// that fails is freed to DPDK whole and None returned. A chain's links
    /// are then cleared, as rvpp's buffers' mbufs are kept. Either way the
    /// slot is emptied (see [`Mbufs::all_taken`]).
    #[inline]
    pub fn take_chain(&mut self, k: usize, a: &ZcArena, segs: &mut [Seg; MAX_SEGS]) -> Option<usize> {
        if k >= self.len || self.m[k].is_null() {
            return None;
        }
        let head = std::mem::replace(&mut self.m[k], ptr::null_mut());
        let l = self.l;
        let mut ok = false;
        let mut ns = 0;
        if a.index_of(head).is_some() {
            // SAFETY: head is an arena mbuf (checked) this slot owned; the
            // reads are of fields at the shim's offsets.
            let (nb, total) = unsafe {
                let b = head.cast::<u8>();
                (
                    ptr::read_unaligned(b.add(l.nb_segs).cast::<u16>()) as usize,
                    ptr::read_unaligned(b.add(l.pkt_len).cast::<u32>()) as usize,
                )
            };
            let mut m = head;
            let mut sum = 0usize;
            while ns < nb.min(MAX_SEGS) {
                let Some(bi) = a.index_of(m) else { break };
                // SAFETY: m is an arena mbuf (checked), part of the chain
                // the slot owned.
                let (off, len, next) = unsafe {
                    let b = m.cast::<u8>();
                    (
                        ptr::read_unaligned(b.add(l.data_off).cast::<u16>()) as usize,
                        ptr::read_unaligned(b.add(l.data_len).cast::<u16>()) as usize,
                        if ns + 1 < nb {
                            ptr::read_unaligned(b.add(l.next).cast::<*mut ffi::rte_mbuf>())
                        } else {
                            ptr::null_mut()
                        },
                    )
                };
                if off + len > usize::from(a.data_room) || off > HEADROOM + i16::MAX as usize {
                    break;
                }
                segs[ns] = Seg { bi, off: off as u16, len: len as u16 };
                ns += 1;
                sum += len;
                m = next;
            }
            ok = ns == nb && ns > 0 && sum == total && total > 0;
        }
        if !ok {
            // SAFETY: head is the mbuf this slot owned; DPDK frees it and
            // its chain to their pools.
            unsafe { ffi::rvpp_dpdk_mbuf_free(head) };
            return None;
        }
        if ns > 1 {
            for sg in &segs[..ns] {
                let b = a.mbuf(sg.bi).cast::<u8>();
                // SAFETY: each segment is an arena mbuf of this packet,
                // now rvpp's; the writes are of its link fields.
                unsafe {
                    ptr::write_unaligned(b.add(l.next).cast::<*mut ffi::rte_mbuf>(), ptr::null_mut());
                    ptr::write_unaligned(b.add(l.nb_segs).cast::<u16>(), 1);
                }
            }
        }
        Some(ns)
    }

    /// Zero copy rx, the common case: slot `k`'s packet (k < len) when it
    /// is one non-empty arena mbuf whose bytes lie in its data room, taken
    /// as that buffer (the slot is emptied); None leaves the slot as it is
    /// (for [`Mbufs::take_chain`]).
    #[inline(always)]
    pub fn take_single(&mut self, k: usize, a: &ZcArena) -> Option<Seg> {
        let m = *self.m[..self.len].get(k)?;
        let bi = a.index_of(m)?;
        // SAFETY: m is an arena mbuf (checked) this slot owns; the reads
        // are of fields at the shim's offsets (`zc_off`, checked when the
        // pool was made).
        let (off, nb, len) = unsafe {
            let b = m.cast::<u8>();
            (
                ptr::read_unaligned(b.add(zc_off::DATA_OFF).cast::<u16>()),
                ptr::read_unaligned(b.add(zc_off::NB_SEGS).cast::<u16>()),
                ptr::read_unaligned(b.add(zc_off::DATA_LEN).cast::<u16>()),
            )
        };
        if nb != 1 || len == 0 || u32::from(off) + u32::from(len) > u32::from(a.data_room) {
            return None;
        }
        self.m[k] = ptr::null_mut();
        Some(Seg { bi, off, len })
    }

    /// Hints the CPU to fetch slot `k`'s buffer metadata (zero copy: the
    /// mbuf's private area, which rx writes); any `k`. The packet's first
    /// line is left to the nodes: fetching it here too measured slower.
    #[inline(always)]
    pub fn prefetch_zc(&self, k: usize) {
        if let Some(&m) = self.m[..self.len].get(k) {
            let b = m.cast::<u8>();
            // A prefetch of any address is harmless.
            rvpp_dataplane::arch::prefetch(b.wrapping_add(zc_off::SIZE));
        }
    }

    /// After [`Mbufs::take_chain`] emptied every slot: nothing is owned.
    #[inline]
    pub fn all_taken(&mut self) {
        debug_assert!(self.m[..self.len].iter().all(|m| m.is_null()));
        self.len = 0;
    }

    /// Zero copy tx: makes the buffers `segs` (in order) one packet in the
    /// next slot, writing their mbufs' fields (lengths, offsets, links,
    /// no offloads, the port). False, with nothing written, when the burst
    /// is full, a segment's bytes would leave its data room, or the lengths
    /// do not fit an mbuf.
    #[inline]
    pub fn push_zc(&mut self, a: &ZcArena, port: u16, segs: &[Seg]) -> bool {
        if self.len >= BURST || segs.is_empty() || segs.len() > MAX_SEGS {
            return false;
        }
        let mut total = 0u32;
        for sg in segs {
            if sg.bi >= a.count || usize::from(sg.off) + usize::from(sg.len) > usize::from(a.data_room) {
                return false;
            }
            total += u32::from(sg.len);
        }
        let l = self.l;
        for (j, sg) in segs.iter().enumerate() {
            let b = a.mbuf(sg.bi).cast::<u8>();
            let next = segs.get(j + 1).map_or(ptr::null_mut(), |n| a.mbuf(n.bi));
            // SAFETY: sg.bi < count, so b is buffer bi's mbuf, which rvpp
            // owns with the buffer (the caller's chain); the writes are of
            // fields at the shim's offsets, with their own widths.
            unsafe {
                ptr::write_unaligned(b.add(l.data_off).cast::<u16>(), sg.off);
                ptr::write_unaligned(b.add(l.data_len).cast::<u16>(), sg.len);
                if segs.len() > 1 {
                    ptr::write_unaligned(b.add(l.next).cast::<*mut ffi::rte_mbuf>(), next);
                }
                if j == 0 {
                    ptr::write_unaligned(b.add(l.pkt_len).cast::<u32>(), total);
                    ptr::write_unaligned(b.add(l.nb_segs).cast::<u16>(), segs.len() as u16);
                    ptr::write_unaligned(b.add(l.ol_flags).cast::<u64>(), 0);
                    ptr::write_unaligned(b.add(l.port).cast::<u16>(), port);
                }
            }
        }
        self.m[self.len] = a.mbuf(segs[0].bi);
        self.len += 1;
        true
    }

    /// Zero copy tx, the common case: buffer `bi`'s bytes `[off, off + len)`
    /// of its data room as a one-segment packet in the next slot. False,
    /// with nothing written, when the burst is full or the bytes would
    /// leave the room. The mbuf's links need no write: an mbuf rvpp owns
    /// has none (module docs).
    #[inline(always)]
    pub fn push_single(&mut self, a: &ZcArena, port: u16, bi: u32, off: u16, len: u16) -> bool {
        if self.len >= BURST || bi >= a.count || u32::from(off) + u32::from(len) > u32::from(a.data_room) {
            return false;
        }
        let b = a.mbuf(bi).cast::<u8>();
        // SAFETY: bi < count, so b is buffer bi's mbuf, which rvpp owns with
        // the buffer; the writes are of fields at the shim's offsets
        // (`zc_off`, checked when the pool was made).
        unsafe {
            ptr::write_unaligned(b.add(zc_off::DATA_OFF).cast::<u16>(), off);
            ptr::write_unaligned(b.add(zc_off::DATA_LEN).cast::<u16>(), len);
            ptr::write_unaligned(b.add(zc_off::PKT_LEN).cast::<u32>(), u32::from(len));
            ptr::write_unaligned(b.add(zc_off::OL_FLAGS).cast::<u64>(), 0);
            ptr::write_unaligned(b.add(zc_off::PORT).cast::<u16>(), port);
        }
        self.m[self.len] = b.cast();
        self.len += 1;
        true
    }

    /// Zero copy tx: takes back what `tx_burst` left (slots `[0, len)`):
    /// each packet's mbufs are made free-looking again (links cleared) and
    /// its first buffer written to `out`, for rvpp to free the chain;
    /// returns how many.
    #[inline]
    pub fn unsend_zc(&mut self, a: &ZcArena, out: &mut [rvpp_dataplane::BufferIndex]) -> usize {
        let l = self.l;
        let mut n = 0;
        for k in 0..self.len.min(out.len()) {
            let head = self.m[k];
            let Some(bi) = a.index_of(head) else { continue };
            // SAFETY: head is an arena mbuf push_zc wrote, not taken by the
            // driver; its chain is the one push_zc linked (arena mbufs).
            unsafe {
                let mut m = head.cast::<u8>();
                let nb = ptr::read_unaligned(m.add(l.nb_segs).cast::<u16>());
                if nb > 1 {
                    for _ in 0..nb {
                        if m.is_null() || a.index_of(m).is_none() {
                            break;
                        }
                        let next = ptr::read_unaligned(m.add(l.next).cast::<*mut u8>());
                        ptr::write_unaligned(m.add(l.next).cast::<*mut u8>(), ptr::null_mut());
                        ptr::write_unaligned(m.add(l.nb_segs).cast::<u16>(), 1);
                        m = next;
                    }
                }
            }
            out[n] = rvpp_dataplane::BufferIndex(bi);
            n += 1;
        }
        self.len = 0;
        n
    }

    /// Reads a field of slot `k` (k < len) at `off`, of type T.
    #[inline(always)]
    fn field<T: Copy>(&self, k: usize, off: usize) -> T {
        debug_assert!(k < self.len);
        // SAFETY: slot k is an owned mbuf (k < len, checked by callers) and
        // `off` is the shim's offsetof a field of type T.
        unsafe { ptr::read_unaligned(self.m[k].cast::<u8>().add(off).cast::<T>()) }
    }

    /// Copies the packet of slot `k` (all its segments) into `dst`; returns
    /// its length, or `None` when it is longer than `dst`, inconsistent
    /// (segment lengths not adding up to the packet length), or chained
    /// past [`MAX_SEGS`].
    #[inline]
    pub fn copy_out(&self, k: usize, dst: &mut [u8]) -> Option<usize> {
        if k >= self.len {
            return None;
        }
        let l = self.l;
        let total = self.field::<u32>(k, l.pkt_len) as usize;
        if total > dst.len() {
            return None;
        }
        let mut at = 0usize;
        let mut m = self.m[k];
        for _ in 0..MAX_SEGS {
            if m.is_null() {
                break;
            }
            // SAFETY: m is the owned mbuf of slot k or a segment chained
            // to it (owned with it); the reads are of fields at the shim's
            // offsets.
            let (base, off, len, blen, next) = unsafe {
                let b = m.cast::<u8>();
                (
                    ptr::read_unaligned(b.add(l.buf_addr).cast::<*const u8>()),
                    ptr::read_unaligned(b.add(l.data_off).cast::<u16>()) as usize,
                    ptr::read_unaligned(b.add(l.data_len).cast::<u16>()) as usize,
                    ptr::read_unaligned(b.add(l.buf_len).cast::<u16>()) as usize,
                    ptr::read_unaligned(b.add(l.next).cast::<*mut ffi::rte_mbuf>()),
                )
            };
            if base.is_null() || off + len > blen || at + len > total {
                return None;
            }
            // The source lies in the segment's buffer (off + len <= buf_len),
            // dst has room (at + len <= total <= dst.len()), and dst is an
            // rvpp buffer, so the two never overlap.
            // SAFETY: bounds and disjointness as just said.
            unsafe { ptr::copy_nonoverlapping(base.add(off), dst.as_mut_ptr().add(at), len) };
            at += len;
            m = next;
        }
        (at == total && m.is_null()).then_some(total)
    }

    /// Fills slot `k`'s fresh (single-segment, empty) mbuf through `f`,
    /// which pushes the packet's bytes in order; when `f` says it is done
    /// (true) and something was written, sets the mbuf's lengths and
    /// returns the packet length.
    #[inline]
    pub fn fill_with(&mut self, k: usize, f: impl FnOnce(&mut Filler<'_>) -> bool) -> Option<usize> {
        if k >= self.len {
            return None;
        }
        let l = self.l;
        let base = self.field::<*mut u8>(k, l.buf_addr);
        let off = self.field::<u16>(k, l.data_off) as usize;
        let blen = self.field::<u16>(k, l.buf_len) as usize;
        if base.is_null() || off > blen {
            return None;
        }
        // SAFETY: data_off <= buf_len (checked), so the start of the data
        // room lies inside the mbuf's buffer.
        let dst = unsafe { base.add(off) };
        let mut w = Filler { dst, room: blen - off, at: 0, _owner: std::marker::PhantomData };
        if !f(&mut w) || w.at == 0 {
            return None;
        }
        let len = w.at;
        let m = self.m[k].cast::<u8>();
        // SAFETY: slot k is an owned single-segment mbuf; the writes are of
        // its length fields at the shim's offsets, with their own widths.
        unsafe {
            ptr::write_unaligned(m.add(l.data_len).cast::<u16>(), len as u16);
            ptr::write_unaligned(m.add(l.pkt_len).cast::<u32>(), len as u32);
            ptr::write_unaligned(m.add(l.nb_segs).cast::<u16>(), 1);
        }
        Some(len)
    }
}

/// Writes a packet into one fresh mbuf's data room (see
/// [`Mbufs::fill_with`]); borrows the [`Mbufs`] that owns the mbuf, so it
/// cannot outlive it.
pub struct Filler<'a> {
    dst: *mut u8,
    room: usize,
    at: usize,
    _owner: std::marker::PhantomData<&'a mut Mbufs>,
}

impl Filler<'_> {
    /// Appends `src`; false (nothing written) when it does not fit.
    #[inline(always)]
    pub fn push(&mut self, src: &[u8]) -> bool {
        if src.len() > self.room - self.at {
            return false;
        }
        // SAFETY: [dst + at, + src.len()) lies inside the data room (at +
        // len <= room = buf_len - data_off, checked above) of an mbuf the
        // borrowed Mbufs owns; src is an rvpp buffer, not overlapping it.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.dst.add(self.at), src.len()) };
        self.at += src.len();
        true
    }
}

/// The rte_mbuf field offsets zero copy reads and writes, as the shim
/// (the C compiler over this DPDK's headers) gives them and as the fast
/// paths have them built in ([`zc_off`]).
fn zc_offsets(l: &Layout) -> ([usize; 8], [usize; 8]) {
    let shim = [l.data_off, l.nb_segs, l.port, l.ol_flags, l.pkt_len, l.data_len, l.next, l.size];
    let ours = [
        zc_off::DATA_OFF,
        zc_off::NB_SEGS,
        zc_off::PORT,
        zc_off::OL_FLAGS,
        zc_off::PKT_LEN,
        zc_off::DATA_LEN,
        zc_off::NEXT,
        zc_off::SIZE,
    ];
    (shim, ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zero_copy_offsets_are_the_shims() {
        let l = layout();
        let (shim, ours) = zc_offsets(l);
        assert_eq!(shim, ours);
        assert!(l.objhdr_size + l.size <= ZC_PREFIX, "{} + {}", l.objhdr_size, l.size);
    }

    #[test]
    fn index_of_accepts_exactly_the_arena_mbufs() {
        let bufs = Buffers::with_prefix(300, 2048, rvpp_dataplane::buffer::Backing::Pages, ZC_PREFIX).unwrap();
        let geo = bufs.layout();
        let lines = geo.stride / 64;
        assert_eq!(lines % 2, 1);
        let a = ZcArena {
            bufs: bufs.clone(),
            mbuf0: geo.base as usize - 128,
            stride: geo.stride,
            lines: lines as u64,
            inv: odd_inverse(lines as u64),
            count: geo.count,
            data_room: (HEADROOM + 2048) as u16,
            no_buffers: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
        };
        for i in 0..geo.count {
            let m = a.mbuf(i);
            assert_eq!(a.index_of(m), Some(i));
            // The mbuf lies in the prefix, right before the metadata.
            assert_eq!(m as usize + 128, geo.base as usize + i as usize * geo.stride);
            for off in [1usize, 8, 63, 64, 128, 192] {
                assert_eq!(a.index_of((m as usize + off) as *const u8), None, "buffer {i} + {off}");
            }
        }
        for p in
            [0usize, a.mbuf0 - 64, a.mbuf0 - geo.stride, a.mbuf0 + geo.count as usize * geo.stride, usize::MAX - 63]
        {
            assert_eq!(a.index_of(p as *const u8), None, "{p:#x}");
        }
    }

    #[test]
    fn the_shim_reports_a_plausible_mbuf_layout() {
        let l = layout();
        // buf_addr opens the struct; the second cache line holds `next`.
        assert_eq!(l.buf_addr, 0);
        assert!(l.data_off < 64 && l.pkt_len < 64 && l.data_len < 64 && l.buf_len < 64);
        assert!(l.next >= 64);
        assert_eq!(l.data_len, l.pkt_len + 4);
    }
}
