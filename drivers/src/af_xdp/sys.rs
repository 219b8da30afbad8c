//! Every system call and raw pointer of the AF_XDP driver: the AF_XDP
//! socket and its options, the UMEM (a mapping of its own, or rvpp's buffer
//! arena), the four mmap'ed rings, the `bpf()` calls that build and attach
//! the redirect program, the interface ioctls, and entering a network
//! namespace. Constants and layouts follow the kernel's uapi headers
//! (`linux/if_xdp.h`, `linux/bpf.h`, `linux/if_link.h`, `linux/ethtool.h`);
//! the structs come from the libc crate where it has them.
//!
//! Invariants this module keeps (the reasons its `unsafe` blocks are sound):
//! - Every descriptor (socket, map, program, link, ioctl socket) is owned by
//!   an `OwnedFd` and closed exactly once.
//! - A [`Umem`] owns one anonymous mapping of `len` bytes, unmapped exactly
//!   once in `Drop`, never resized. The kernel pins its pages while a socket
//!   has it registered; every socket that registered it holds an `Arc` to
//!   it, and the rings and sockets drop before the mapping can (field order
//!   and `Arc`s), so the kernel never writes into unmapped memory.
//! - Bytes of a [`Umem`] are never borrowed as Rust slices: they are copied
//!   in and out with `ptr::copy_nonoverlapping` after a bounds check against
//!   the mapping (`addr + len <= len_of_umem`, no overflow), so an address
//!   from a descriptor can never reach outside it. Which frames user space
//!   may touch (those the kernel handed back on the rx or completion ring,
//!   and tx frames not yet submitted) is kept by the callers in `rx` and
//!   `tx`.
//! - A socket whose UMEM is the buffer arena ([`XskSocket::register_arena`])
//!   holds an `Arc` to the arena until after its fd has closed (field
//!   order), so the registered memory outlives the registration. The kernel
//!   writes only into the buffers on the fill ring and reads only those on
//!   the tx ring: buffers their queue owns, in the arena's sense (in no free
//!   list, touched by no thread), from the moment they go on the ring until
//!   the rx or completion ring gives them back. The callers keep that with
//!   one set per ring (`umem::BufSet`) and refuse any address not in it;
//!   what the kernel still holds when a queue goes is handed to the socket
//!   ([`XskSocket::release_after_close`]) and freed only once the fd has
//!   closed, when the kernel has let go of it.
//! - A [`Ring`] owns one mapping of a socket's ring, `off.desc + n * size`
//!   bytes long, unmapped once in `Drop`. Its producer, consumer and flags
//!   words lie inside the mapping at the offsets `XDP_MMAP_OFFSETS` gave
//!   (4-byte aligned, the kernel's `u32`s), and are only accessed atomically.
//!   Entry `i` is read or written only at `desc + (i & mask) * size`, inside
//!   the mapping, and only while user space owns it: a consumer reads entries
//!   between its consumer and the producer it loaded with `Acquire`, then
//!   publishes its consumer with `Release`; a producer writes entries between
//!   its producer and the consumer it loaded (`Acquire`) plus the ring size,
//!   then publishes its producer with `Release`.
//! - A ring is used by one thread at a time (`Send`, not `Sync`); a socket
//!   may be shared (`Arc`) because the kernel serialises calls on it.
//! - Every pointer handed to the kernel (option values, addresses, `bpf_attr`
//!   images, instruction arrays, log buffers, `ifreq`s) points to a live
//!   local or slice of the size passed with it, for the duration of the call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use libc::{c_int, c_void, socklen_t};
use rvpp_dataplane::buffer::MAX_THREADS;
use rvpp_dataplane::{BufferIndex, Buffers};

/// `AF_XDP` (linux/socket.h).
const AF_XDP: c_int = 44;

/// `bpf()` commands, map, program and attach types (linux/bpf.h).
const BPF_MAP_CREATE: c_int = 0;
const BPF_MAP_UPDATE_ELEM: c_int = 2;
const BPF_PROG_LOAD: c_int = 5;
const BPF_LINK_CREATE: c_int = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `XDP_PASS`: the program's answer for a queue with no socket.
const XDP_PASS: i32 = 2;
/// `offsetof(struct xdp_md, rx_queue_index)`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;
/// `sizeof(union bpf_attr)` on the kernels we know; a larger image is
/// accepted as long as the tail is zero.
const BPF_ATTR_SIZE: usize = 144;

/// `XDP_FLAGS_SKB_MODE` / `XDP_FLAGS_DRV_MODE` (linux/if_link.h).
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// Bind flags (linux/if_xdp.h).
pub const XDP_COPY: u16 = libc::XDP_COPY;
pub const XDP_ZEROCOPY: u16 = libc::XDP_ZEROCOPY;
const XDP_USE_NEED_WAKEUP: u16 = libc::XDP_USE_NEED_WAKEUP;

fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An anonymous mapping registered as UMEM: `frames` chunks of
/// `frame_size` bytes.
pub struct Umem {
    base: NonNull<u8>,
    len: usize,
    frame_size: u32,
}

// SAFETY: plain memory owned by this value; concurrent access is the
// disjoint-frames discipline of the module docs, through copies only.
unsafe impl Send for Umem {}
// SAFETY: as above: no method hands out references into the mapping.
unsafe impl Sync for Umem {}

impl Umem {
    /// Maps `frames * frame_size` bytes (frame_size a power of two, 2048 to
    /// a page).
    pub fn new(frames: u32, frame_size: u32) -> io::Result<Umem> {
        let len = frames as usize * frame_size as usize;
        // SAFETY: anonymous private mapping, no file or address given.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Umem { base, len, frame_size })
    }

    /// Whether `addr..addr + len` lies inside the mapping.
    #[inline(always)]
    pub fn contains(&self, addr: u64, len: usize) -> bool {
        usize::try_from(addr).ok().and_then(|a| a.checked_add(len)).is_some_and(|end| end <= self.len)
    }

    /// Copies `dst.len()` bytes at `addr` out; false (nothing copied) when
    /// they are not all inside the UMEM.
    #[inline(always)]
    pub fn copy_out(&self, addr: u64, dst: &mut [u8]) -> bool {
        if !self.contains(addr, dst.len()) {
            return false;
        }
        // SAFETY: the range is inside the mapping (checked above); `dst` is
        // a distinct Rust slice, so the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.base.as_ptr().add(addr as usize), dst.as_mut_ptr(), dst.len()) };
        true
    }

    /// Copies `src` in at `addr`; false (nothing copied) when it would not
    /// all land inside the UMEM.
    #[inline(always)]
    pub fn copy_in(&self, addr: u64, src: &[u8]) -> bool {
        if !self.contains(addr, src.len()) {
            return false;
        }
        // SAFETY: the range is inside the mapping (checked above) and the
        // caller owns those frames (module docs); `src` is a distinct slice.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(addr as usize), src.len()) };
        true
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping made in `new`; every socket that
        // registered it has closed (they hold an Arc to this value).
        unsafe {
            libc::munmap(self.base.as_ptr() as *mut c_void, self.len);
        }
    }
}

/// The kernel's per-socket drop counters (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default)]
pub struct XskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
}

/// The buffer arena as a socket's UMEM, and the buffers the kernel held
/// when their queue went: freed when this drops, after the socket's fd.
struct ArenaUmem {
    buffers: Arc<Buffers>,
    held: Mutex<Vec<BufferIndex>>,
}

impl Drop for ArenaUmem {
    fn drop(&mut self) {
        let held = std::mem::take(self.held.get_mut().unwrap_or_else(|p| p.into_inner()));
        if held.is_empty() {
            return;
        }
        let mut t = self.buffers.thread(MAX_THREADS - 1);
        for &bi in &held {
            // Whatever the metadata says, each is one buffer, not a chain.
            t.meta_mut(bi).flags = 0;
        }
        t.free(&held);
        t.flush();
    }
}

/// An AF_XDP socket. Field order is drop order: the fd closes (and the
/// kernel lets go of the UMEM's buffers) before the arena's buffers it held
/// are freed.
pub struct XskSocket {
    fd: OwnedFd,
    arena: Option<ArenaUmem>,
}

impl XskSocket {
    /// A socket in the calling thread's network namespace.
    pub fn new() -> io::Result<XskSocket> {
        let ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        // SAFETY: a plain system call with integer arguments.
        let fd = cvt(unsafe { libc::socket(AF_XDP, ty, 0) })?;
        // SAFETY: `fd` was just returned by socket() and nothing else owns it.
        Ok(XskSocket { fd: unsafe { OwnedFd::from_raw_fd(fd) }, arena: None })
    }

    /// Registers the whole buffer arena as this socket's UMEM: unaligned
    /// chunks of one buffer each (`chunk_size` = stride), no extra headroom,
    /// so the kernel's 256 bytes of XDP headroom end where a buffer's data
    /// area starts. Fails (`EINVAL`) when the kernel refuses the geometry,
    /// e.g. a stride above the page size.
    pub fn register_arena(&mut self, buffers: &Arc<Buffers>) -> io::Result<()> {
        let l = buffers.layout();
        let reg = libc::xdp_umem_reg {
            addr: l.base as u64,
            len: l.len as u64,
            chunk_size: u32::try_from(l.stride).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            headroom: 0,
            flags: libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG,
            tx_metadata_len: 0,
        };
        self.setsockopt(libc::XDP_UMEM_REG, &reg)?;
        self.arena = Some(ArenaUmem { buffers: buffers.clone(), held: Mutex::new(Vec::new()) });
        Ok(())
    }

    /// Takes arena buffers the kernel may still hold (on the fill ring, in
    /// flight on tx) from a queue that goes; they are freed once this
    /// socket's fd has closed.
    pub fn release_after_close(&self, mut bis: Vec<BufferIndex>) {
        if let Some(a) = &self.arena {
            a.held.lock().unwrap_or_else(|p| p.into_inner()).append(&mut bis);
        }
    }

    fn setsockopt<T>(&self, name: c_int, val: &T) -> io::Result<()> {
        // SAFETY: `val` is a live reference of `size_of::<T>()` bytes.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                name,
                val as *const T as *const c_void,
                std::mem::size_of::<T>() as socklen_t,
            )
        })
        .map(drop)
    }

    /// Registers `umem` (aligned chunks, no extra headroom).
    pub fn register_umem(&self, umem: &Umem) -> io::Result<()> {
        let reg = libc::xdp_umem_reg {
            addr: umem.base.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: umem.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        self.setsockopt(libc::XDP_UMEM_REG, &reg)
    }

    /// Sizes one of the four rings (`XDP_RX_RING`, `XDP_TX_RING`,
    /// `XDP_UMEM_FILL_RING`, `XDP_UMEM_COMPLETION_RING`); a power of two.
    pub fn set_ring_size(&self, ring: c_int, n: u32) -> io::Result<()> {
        self.setsockopt(ring, &n)
    }

    fn mmap_offsets(&self) -> io::Result<libc::xdp_mmap_offsets> {
        // SAFETY: plain data; all-zero is a valid value.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&off) as socklen_t;
        // SAFETY: `off` is a live local of `len` bytes the kernel writes into.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                &mut off as *mut libc::xdp_mmap_offsets as *mut c_void,
                &mut len,
            )
        })?;
        if len as usize != std::mem::size_of_val(&off) {
            // Kernels before 5.4 lack the flags word (and need_wakeup).
            return Err(io::Error::other("kernel without XDP ring flags (need 5.4 or later)"));
        }
        Ok(off)
    }

    /// Maps the four rings sized before (`n` entries each as given).
    pub fn map_rings(&self, n_rx: u32, n_tx: u32, n_fill: u32, n_comp: u32) -> io::Result<[Ring; 4]> {
        let off = self.mmap_offsets()?;
        let desc = std::mem::size_of::<libc::xdp_desc>();
        Ok([
            Ring::map(self, libc::XDP_PGOFF_RX_RING as u64, off.rx, n_rx, desc)?,
            Ring::map(self, libc::XDP_PGOFF_TX_RING as u64, off.tx, n_tx, desc)?,
            Ring::map(self, libc::XDP_UMEM_PGOFF_FILL_RING, off.fr, n_fill, 8)?,
            Ring::map(self, libc::XDP_UMEM_PGOFF_COMPLETION_RING, off.cr, n_comp, 8)?,
        ])
    }

    /// Binds to queue `queue` of interface `ifindex` with need-wakeup and
    /// the copy/zero-copy flags given (0: the kernel's choice).
    pub fn bind(&self, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
        let sa = libc::sockaddr_xdp {
            sxdp_family: AF_XDP as u16,
            sxdp_flags: flags | XDP_USE_NEED_WAKEUP,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `sa` is a live sockaddr_xdp and its size is passed.
        cvt(unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                &sa as *const libc::sockaddr_xdp as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_xdp>() as socklen_t,
            )
        })
        .map(drop)
    }

    /// Whether the bind ended up zero-copy (`XDP_OPTIONS`).
    pub fn is_zero_copy(&self) -> bool {
        let mut o = libc::xdp_options { flags: 0 };
        let mut len = std::mem::size_of_val(&o) as socklen_t;
        // SAFETY: `o` is a live local of `len` bytes the kernel writes into.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_OPTIONS,
                &mut o as *mut libc::xdp_options as *mut c_void,
                &mut len,
            )
        };
        r == 0 && o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0
    }

    /// The kernel's drop counters for this socket.
    pub fn statistics(&self) -> io::Result<XskStats> {
        // SAFETY: plain data; all-zero is a valid value.
        let mut s: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&s) as socklen_t;
        // SAFETY: `s` is a live local of `len` bytes the kernel writes into.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                &mut s as *mut libc::xdp_statistics as *mut c_void,
                &mut len,
            )
        })?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
        })
    }

    /// Asks the kernel to send what the tx ring holds (copy mode sends a
    /// batch per call and answers `EAGAIN` while more is left).
    pub fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: no buffer and no address: the kernel reads only the ring.
        let r =
            unsafe { libc::sendto(self.fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Wakes the driver to refill its rx queue from the fill ring.
    pub fn wake_rx(&self) {
        // SAFETY: no buffer and no address: a pure wake-up call.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One mapped ring: fill/completion (`u64` addresses) or rx/tx
/// (`xdp_desc`), with the cached index of the side user space drives.
pub struct Ring {
    map: NonNull<u8>,
    map_len: usize,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    desc: NonNull<u8>,
    mask: u32,
    entry: usize,
}

// SAFETY: the ring is shared memory owned by this value; moving it to
// another thread moves that ownership (module docs).
unsafe impl Send for Ring {}

impl Ring {
    fn map(s: &XskSocket, pgoff: u64, off: libc::xdp_ring_offset, n: u32, entry: usize) -> io::Result<Ring> {
        if !n.is_power_of_two() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let map_len = off.desc as usize + n as usize * entry;
        // SAFETY: maps the ring the kernel made for this socket; no address
        // is given, so nothing existing is replaced.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                s.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        let word = |o: u64| -> io::Result<NonNull<AtomicU32>> {
            if o as usize + 4 > map_len || !o.is_multiple_of(4) {
                return Err(io::Error::other("ring offset outside the mapping"));
            }
            // SAFETY: o + 4 <= map_len (checked), so the word is inside it.
            Ok(unsafe { NonNull::new_unchecked(map.as_ptr().add(o as usize) as *mut AtomicU32) })
        };
        let ring = Ring {
            map,
            map_len,
            producer: word(off.producer)?,
            consumer: word(off.consumer)?,
            flags: word(off.flags)?,
            // SAFETY: desc + n * entry == map_len, inside the mapping.
            desc: unsafe { NonNull::new_unchecked(map.as_ptr().add(off.desc as usize)) },
            mask: n - 1,
            entry,
        };
        Ok(ring)
    }

    /// A ring over anonymous memory, for tests that play the kernel's side
    /// (producer at 0, consumer at 64, flags at 128, entries from 192).
    #[cfg(test)]
    pub fn anonymous(n: u32, entry: usize) -> io::Result<Ring> {
        if !n.is_power_of_two() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let map_len = 192 + n as usize * entry;
        // SAFETY: anonymous private mapping, no file or address given.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        // SAFETY: every offset below is inside the map_len bytes mapped, and
        // 4-byte aligned (the mapping is page aligned).
        let at = |o: usize| unsafe { NonNull::new_unchecked(map.as_ptr().add(o)) };
        Ok(Ring {
            map,
            map_len,
            producer: at(0).cast(),
            consumer: at(64).cast(),
            flags: at(128).cast(),
            desc: at(192),
            mask: n - 1,
            entry,
        })
    }

    #[inline(always)]
    fn word(&self, w: NonNull<AtomicU32>) -> &AtomicU32 {
        // SAFETY: the word lies inside the mapping, which outlives `&self`,
        // and is only ever accessed atomically (module docs).
        unsafe { w.as_ref() }
    }

    pub fn size(&self) -> u32 {
        self.mask + 1
    }

    #[inline(always)]
    fn entry_ptr(&self, i: u32) -> *mut u8 {
        // SAFETY: (i & mask) < n, so the entry lies inside the mapping.
        unsafe { self.desc.as_ptr().add((i & self.mask) as usize * self.entry) }
    }

    /// Whether the kernel asks for a wake-up (`XDP_RING_NEED_WAKEUP`).
    #[inline(always)]
    pub fn needs_wakeup(&self) -> bool {
        self.word(self.flags).load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // Consumer side (rx, completion).

    /// Entries ready to consume from `cons` on.
    #[inline(always)]
    pub fn ready(&self, cons: u32) -> u32 {
        self.word(self.producer).load(Ordering::Acquire).wrapping_sub(cons).min(self.size())
    }

    /// The consumer index user space last published.
    pub fn consumer(&self) -> u32 {
        self.word(self.consumer).load(Ordering::Relaxed)
    }

    /// Publishes the consumer index (entries before it go back).
    #[inline(always)]
    pub fn release(&mut self, cons: u32) {
        self.word(self.consumer).store(cons, Ordering::Release);
    }

    /// Reads rx/tx descriptor `i` (a consumer entry below the producer, or
    /// a producer entry being written).
    #[inline(always)]
    pub fn desc(&self, i: u32) -> (u64, u32) {
        debug_assert_eq!(self.entry, 16);
        // SAFETY: the entry lies inside the mapping (entry_ptr) and is one
        // user space owns now (module docs); read_volatile of plain data.
        let d = unsafe { std::ptr::read_volatile(self.entry_ptr(i) as *const libc::xdp_desc) };
        (d.addr, d.len)
    }

    /// Reads fill/completion address `i`.
    #[inline(always)]
    pub fn addr(&self, i: u32) -> u64 {
        debug_assert_eq!(self.entry, 8);
        // SAFETY: as for `desc`.
        unsafe { std::ptr::read_volatile(self.entry_ptr(i) as *const u64) }
    }

    // Producer side (fill, tx).

    /// Free entries from `prod` on.
    #[inline(always)]
    pub fn free(&self, prod: u32) -> u32 {
        let used = prod.wrapping_sub(self.word(self.consumer).load(Ordering::Acquire));
        self.size().saturating_sub(used)
    }

    /// The producer index user space last published.
    pub fn producer(&self) -> u32 {
        self.word(self.producer).load(Ordering::Relaxed)
    }

    /// Writes fill address `i` (below `prod + free`).
    #[inline(always)]
    pub fn set_addr(&mut self, i: u32, addr: u64) {
        debug_assert_eq!(self.entry, 8);
        // SAFETY: as for `desc`: a free entry user space owns.
        unsafe { std::ptr::write_volatile(self.entry_ptr(i) as *mut u64, addr) }
    }

    /// Writes tx descriptor `i` (below `prod + free`).
    #[inline(always)]
    pub fn set_desc(&mut self, i: u32, addr: u64, len: u32) {
        debug_assert_eq!(self.entry, 16);
        let d = libc::xdp_desc { addr, len, options: 0 };
        // SAFETY: as for `desc`: a free entry user space owns.
        unsafe { std::ptr::write_volatile(self.entry_ptr(i) as *mut libc::xdp_desc, d) }
    }

    /// Publishes the producer index (entries before it go to the kernel).
    #[inline(always)]
    pub fn submit(&mut self, prod: u32) {
        self.word(self.producer).store(prod, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: map/map_len are the mapping made in `map`; nothing refers
        // to it once the ring is dropped.
        unsafe {
            libc::munmap(self.map.as_ptr() as *mut c_void, self.map_len);
        }
    }
}

/// A `union bpf_attr` image: zeroed, fields written at their offsets.
struct BpfAttr([u8; BPF_ATTR_SIZE]);

impl BpfAttr {
    fn new() -> Self {
        BpfAttr([0; BPF_ATTR_SIZE])
    }
    fn u32(&mut self, at: usize, v: u32) -> &mut Self {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, at: usize, v: u64) -> &mut Self {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
}

fn bpf(cmd: c_int, attr: &mut BpfAttr) -> io::Result<c_int> {
    // SAFETY: `attr` is a live image of BPF_ATTR_SIZE bytes, and every
    // pointer written into it points to a live local of the caller for the
    // duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), BPF_ATTR_SIZE as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as c_int)
    }
}

fn owned(fd: c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by bpf() and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// An XSKMAP of `entries` slots (queue index -> socket).
pub fn xsk_map(entries: u32) -> io::Result<OwnedFd> {
    let mut a = BpfAttr::new();
    a.u32(0, BPF_MAP_TYPE_XSKMAP).u32(4, 4).u32(8, 4).u32(12, entries);
    bpf(BPF_MAP_CREATE, &mut a).map(owned)
}

/// Puts socket `xsk` in slot `key` of an XSKMAP.
pub fn xsk_map_set(map: &OwnedFd, key: u32, xsk: &XskSocket) -> io::Result<()> {
    let value: u32 = xsk.as_raw_fd() as u32;
    let mut a = BpfAttr::new();
    a.u32(0, map.as_raw_fd() as u32).u64(8, &key as *const u32 as u64).u64(16, &value as *const u32 as u64).u64(24, 0);
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(drop)
}

/// One `struct bpf_insn`, as its 8 bytes.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | (dst & 0xf);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    u64::from_le_bytes(b)
}

/// The built-in program: `return bpf_redirect_map(&xsks,
/// ctx->rx_queue_index, XDP_PASS)` — a frame on a queue with a socket goes
/// to it, any other frame on to the kernel stack.
fn redirect_program(map_fd: RawFd) -> [u64; 6] {
    const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const LD_DW_IMM: u8 = 0x18; // BPF_LD | BPF_DW | BPF_IMM
    const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    [
        insn(LDX_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        insn(LD_DW_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_K, 3, 0, 0, XDP_PASS),
        insn(CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

/// Loads the built-in redirect program over `map`. On a verifier refusal
/// the error carries the verifier's log.
pub fn load_redirect_program(map: &OwnedFd) -> io::Result<OwnedFd> {
    let prog = redirect_program(map.as_raw_fd());
    let license = b"GPL\0";
    let mut log = vec![0u8; 16384];
    let name = b"rvpp_xsk\0";
    let mut a = BpfAttr::new();
    a.u32(0, BPF_PROG_TYPE_XDP)
        .u32(4, prog.len() as u32)
        .u64(8, prog.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64);
    a.0[48..48 + name.len()].copy_from_slice(name);
    bpf(BPF_PROG_LOAD, &mut a).map(owned).map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        io::Error::new(e.kind(), format!("{e}; verifier: {}", text.trim()))
    })
}

/// Attaches an XDP program to `ifindex` through a bpf link (detached when
/// the returned descriptor closes, also if the process dies). `mode` is
/// `XDP_FLAGS_DRV_MODE` or `XDP_FLAGS_SKB_MODE`; a program already there
/// (anyone's) makes it fail with `EBUSY` rather than be replaced.
pub fn attach_xdp(prog: &OwnedFd, ifindex: u32, mode: u32) -> io::Result<OwnedFd> {
    let mut a = BpfAttr::new();
    a.u32(0, prog.as_raw_fd() as u32).u32(4, ifindex).u32(8, BPF_XDP).u32(12, mode);
    bpf(BPF_LINK_CREATE, &mut a).map(owned)
}

/// `ETHTOOL_GCHANNELS` (linux/ethtool.h).
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ifreq`: a name and a 24-byte union, here as bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn named(name: &str) -> io::Result<IfReq> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) || b.contains(&b'/') {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut r = IfReq { name: [0; libc::IFNAMSIZ], data: [0; 24] };
        r.name[..b.len()].copy_from_slice(b);
        Ok(r)
    }

    fn int(&self) -> i32 {
        i32::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }
}

/// `struct ethtool_channels`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// A socket for interface ioctls. Interfaces are looked up in the network
/// namespace it was made in, whichever thread uses it later.
pub struct IfCtl {
    fd: OwnedFd,
}

impl IfCtl {
    /// An ioctl socket in the calling thread's network namespace.
    pub fn new() -> io::Result<IfCtl> {
        // SAFETY: a plain system call with integer arguments.
        let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `fd` was just returned by socket() and nothing else owns it.
        Ok(IfCtl { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    fn ioctl(&self, req: libc::c_ulong, r: &mut IfReq) -> io::Result<()> {
        // SAFETY: `r` is a live ifreq-sized value the kernel reads or writes;
        // a pointer in its union (SIOCETHTOOL) is set by the caller to a live
        // value of the size the command implies.
        cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), req as _, r as *mut IfReq) }).map(drop)
    }

    /// The interface's index (`SIOCGIFINDEX`).
    pub fn index(&self, name: &str) -> io::Result<u32> {
        let mut r = IfReq::named(name)?;
        self.ioctl(libc::SIOCGIFINDEX, &mut r)?;
        Ok(r.int() as u32)
    }

    /// The interface's MTU (`SIOCGIFMTU`).
    pub fn mtu(&self, name: &str) -> io::Result<u32> {
        let mut r = IfReq::named(name)?;
        self.ioctl(libc::SIOCGIFMTU, &mut r)?;
        Ok(r.int() as u32)
    }

    /// The interface's MAC address (`SIOCGIFHWADDR`: a sockaddr whose data
    /// starts with it).
    pub fn mac(&self, name: &str) -> io::Result<[u8; 6]> {
        let mut r = IfReq::named(name)?;
        self.ioctl(libc::SIOCGIFHWADDR, &mut r)?;
        let mut m = [0u8; 6];
        m.copy_from_slice(&r.data[2..8]);
        Ok(m)
    }

    /// Rx queues in use (`ETHTOOL_GCHANNELS`: rx-only plus combined).
    pub fn rx_queues(&self, name: &str) -> io::Result<u32> {
        let mut ch = EthtoolChannels { cmd: ETHTOOL_GCHANNELS, ..Default::default() };
        let mut r = IfReq::named(name)?;
        r.data[..8].copy_from_slice(&(&mut ch as *mut EthtoolChannels as u64).to_ne_bytes());
        self.ioctl(libc::SIOCETHTOOL, &mut r)?;
        Ok(ch.rx_count.saturating_add(ch.combined_count))
    }

    /// The name of the interface with index `ifindex` (`SIOCGIFNAME`);
    /// `ENODEV` once it is gone.
    pub fn name_of(&self, ifindex: u32) -> io::Result<String> {
        let mut r = IfReq { name: [0; libc::IFNAMSIZ], data: [0; 24] };
        r.data[..4].copy_from_slice(&(ifindex as i32).to_ne_bytes());
        self.ioctl(libc::SIOCGIFNAME, &mut r)?;
        let end = r.name.iter().position(|&b| b == 0).unwrap_or(libc::IFNAMSIZ);
        Ok(String::from_utf8_lossy(&r.name[..end]).into_owned())
    }

    /// The interface's flags (`SIOCGIFFLAGS`: `IFF_UP`, `IFF_RUNNING`...).
    pub fn flags(&self, name: &str) -> io::Result<c_int> {
        let mut r = IfReq::named(name)?;
        self.ioctl(libc::SIOCGIFFLAGS, &mut r)?;
        Ok(u16::from_ne_bytes([r.data[0], r.data[1]]) as c_int)
    }

    /// Sets the interface administratively up (no-op when it is).
    pub fn set_up(&self, name: &str) -> io::Result<()> {
        let mut r = IfReq::named(name)?;
        self.ioctl(libc::SIOCGIFFLAGS, &mut r)?;
        let flags = i16::from_ne_bytes([r.data[0], r.data[1]]);
        if flags as c_int & libc::IFF_UP != 0 {
            return Ok(());
        }
        r.data[..2].copy_from_slice(&(flags | libc::IFF_UP as i16).to_ne_bytes());
        self.ioctl(libc::SIOCSIFFLAGS, &mut r)
    }
}

/// Moves the calling thread into the network namespace at `path` (a
/// `/run/netns/<name>` bind mount, or `/proc/<pid>/ns/net`). Sockets made
/// afterwards on this thread live there; other threads are not affected.
pub fn enter_netns(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: a plain system call on a descriptor that lives for the call.
    cvt(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_program_encodes_as_the_uapi_says() {
        let p = redirect_program(7);
        // r2 = *(u32 *)(r1 + 16): code 0x61, dst 2, src 1.
        assert_eq!(p[0].to_le_bytes(), [0x61, 0x12, 16, 0, 0, 0, 0, 0]);
        // ld_imm64 r1, map fd 7 (src = BPF_PSEUDO_MAP_FD), second half zero.
        assert_eq!(p[1].to_le_bytes(), [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(p[2], 0);
        assert_eq!(p[3].to_le_bytes(), [0xb7, 0x03, 0, 0, 2, 0, 0, 0]);
        assert_eq!(p[4].to_le_bytes(), [0x85, 0, 0, 0, 51, 0, 0, 0]);
        assert_eq!(p[5].to_le_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn umem_copies_refuse_ranges_outside() {
        let u = Umem::new(2, 4096).expect("mmap");
        let mut b = [0u8; 16];
        assert!(u.copy_in(8192 - 16, &[7; 16]));
        assert!(u.copy_out(8192 - 16, &mut b));
        assert_eq!(b, [7; 16]);
        assert!(!u.copy_out(8192 - 15, &mut b));
        assert!(!u.copy_in(u64::MAX - 4, &[1; 16]));
        assert!(!u.copy_out(1 << 40, &mut b));
    }
}
