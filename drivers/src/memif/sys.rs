//! memif's system calls and its only raw memory access: memfd regions and
//! their mappings, the SEQPACKET control socket with SCM_RIGHTS, eventfds,
//! and a [`Ring`] view over shared memory.
//!
//! Invariants this module keeps (the reasons its `unsafe` blocks are sound):
//! - A [`Region`] owns one `MAP_SHARED` mapping of `len` bytes at `ptr`,
//!   made by `mmap` from a memfd whose size was checked (`fstat`) to cover
//!   `len`, so no access inside the mapping can fault; it is unmapped once,
//!   in `Drop`, after every [`Ring`] and queue holding an `Arc` to it is
//!   gone.
//! - The peer writes the same memory concurrently. This module never makes a
//!   Rust reference to shared bytes: packet data moves with
//!   `copy_nonoverlapping` between raw pointers and private slices, ring
//!   head/tail go through `AtomicU16` (acquire loads, release stores), and
//!   every other header word and descriptor is read and written with
//!   volatile accesses. Whatever the peer writes is only ever a value to be
//!   validated, never an address.
//! - Every access is bounds-checked against the mapping first: a [`Ring`] is
//!   built only when header and descriptors lie inside its region and its
//!   offset is 8-byte aligned (so head/tail are 2-byte aligned); a buffer
//!   copy happens only when `offset + length` lies inside the region the
//!   descriptor names.
//! - Socket calls get pointers to live local buffers of the sizes passed
//!   with them; received descriptors are wrapped in `OwnedFd` at once, so
//!   each is closed exactly once.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use super::proto::{self, Desc, DESC_SIZE, MSG_SIZE, RING_HEADER_SIZE};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A new memfd of `size` bytes.
pub fn memfd(name: &str, size: usize) -> io::Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `cname` is a live NUL-terminated string.
    let fd = cvt(unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
    // SAFETY: memfd_create returned a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain syscall on an fd we own.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) })?;
    // The peer may not shrink it under our mapping (best effort).
    // SAFETY: plain syscall on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) };
    Ok(fd)
}

/// One mapped memfd region.
pub struct Region {
    ptr: *mut u8,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is plain shared memory, accessed only through the
// raw-pointer copies and atomics of this module (module invariants).
unsafe impl Send for Region {}
// SAFETY: as above; no method hands out references into the mapping.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes of `fd`, after checking the file is at least that
    /// long (a peer's short memfd must not make us fault).
    pub fn map(fd: OwnedFd, len: usize) -> io::Result<Region> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty region"));
        }
        // SAFETY: `st` is a live stat buffer fstat fills in.
        let mut st: libc::stat = unsafe { zeroed() };
        // SAFETY: fd is owned and open; `st` is a live out-buffer.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        if (st.st_size as u64) < len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("file of {} bytes is shorter than the region ({len})", st.st_size),
            ));
        }
        // SAFETY: a new shared mapping of an open fd; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region { ptr: p as *mut u8, len, fd })
    }

    /// A new memfd of `len` bytes, mapped (zero-filled).
    pub fn create(name: &str, len: usize) -> io::Result<Region> {
        Region::map(memfd(name, len)?, len)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memfd, to send to the peer.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn inside(&self, off: usize, len: usize) -> bool {
        off.checked_add(len).is_some_and(|e| e <= self.len)
    }

    /// Copies `dst.len()` bytes from `off`; false (nothing copied) when the
    /// range leaves the region.
    #[inline(always)]
    pub fn read(&self, off: usize, dst: &mut [u8]) -> bool {
        if !self.inside(off, dst.len()) {
            return false;
        }
        // SAFETY: [off, off+len) is inside the mapping (checked above); dst
        // is private memory that cannot overlap the shared mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(off), dst.as_mut_ptr(), dst.len()) };
        true
    }

    /// Copies `src` to `off`; false (nothing written) when the range leaves
    /// the region.
    #[inline(always)]
    pub fn write(&self, off: usize, src: &[u8]) -> bool {
        if !self.inside(off, src.len()) {
            return false;
        }
        // SAFETY: [off, off+len) is inside the mapping (checked above); src
        // is private memory that cannot overlap the shared mapping.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(off), src.len()) };
        true
    }

    /// Hints the CPU to fetch the line at `off` (nothing when outside).
    #[inline(always)]
    pub fn prefetch(&self, off: usize) {
        if off < self.len {
            rvpp_dataplane::arch::prefetch(self.ptr.wrapping_add(off));
        }
    }

    fn atomic_u16(&self, off: usize) -> &AtomicU16 {
        assert!(off.is_multiple_of(2) && self.inside(off, 2), "ring word outside its region");
        // SAFETY: in bounds and 2-byte aligned (asserted; the mapping is
        // page aligned); AtomicU16 has u16's layout and the mapping lives as
        // long as `&self`.
        unsafe { &*(self.ptr.add(off) as *const AtomicU16) }
    }

    fn read_u16(&self, off: usize) -> u16 {
        let mut b = [0u8; 2];
        self.read(off, &mut b);
        u16::from_le_bytes(b)
    }

    fn read_u32(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(off, &mut b);
        u32::from_le_bytes(b)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no reference into
        // it outlives `self` (module invariants).
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// A ring inside a mapped region: header at `off`, 2^log2 descriptors after.
#[derive(Clone)]
pub struct Ring {
    region: Arc<Region>,
    off: usize,
    log2: u8,
}

impl Ring {
    /// A view of the ring at `off`; None unless the whole ring lies inside
    /// the region, `off` is 8-byte aligned and log2 is at most 15.
    pub fn new(region: Arc<Region>, off: usize, log2: u8) -> Option<Ring> {
        if log2 > proto::MAX_LOG2_RING_SIZE || !off.is_multiple_of(8) || !region.inside(off, proto::ring_bytes(log2)) {
            return None;
        }
        Some(Ring { region, off, log2 })
    }

    pub fn size(&self) -> u16 {
        // log2 ≤ 15: fits.
        (1u32 << self.log2) as u16
    }

    pub fn log2(&self) -> u8 {
        self.log2
    }

    pub fn mask(&self) -> u16 {
        self.size().wrapping_sub(1)
    }

    pub fn cookie(&self) -> u32 {
        self.region.read_u32(self.off + proto::RING_COOKIE_OFF)
    }

    pub fn flags(&self) -> u16 {
        self.region.read_u16(self.off + proto::RING_FLAGS_OFF)
    }

    /// Writes cookie and flags, and zeroes head and tail (client set-up).
    pub fn init(&self, flags: u16) {
        self.region.write(self.off + proto::RING_COOKIE_OFF, &proto::COOKIE.to_le_bytes());
        self.set_flags(flags);
        self.store_head(0);
        self.store_tail(0);
    }

    pub fn set_flags(&self, flags: u16) {
        self.region.write(self.off + proto::RING_FLAGS_OFF, &flags.to_le_bytes());
    }

    #[inline(always)]
    pub fn head(&self) -> u16 {
        self.region.atomic_u16(self.off + proto::RING_HEAD_OFF).load(Ordering::Acquire)
    }

    #[inline(always)]
    pub fn store_head(&self, v: u16) {
        self.region.atomic_u16(self.off + proto::RING_HEAD_OFF).store(v, Ordering::Release)
    }

    #[inline(always)]
    pub fn tail(&self) -> u16 {
        self.region.atomic_u16(self.off + proto::RING_TAIL_OFF).load(Ordering::Acquire)
    }

    #[inline(always)]
    pub fn store_tail(&self, v: u16) {
        self.region.atomic_u16(self.off + proto::RING_TAIL_OFF).store(v, Ordering::Release)
    }

    fn desc_off(&self, slot: u16) -> usize {
        self.off + RING_HEADER_SIZE + DESC_SIZE * (slot & self.mask()) as usize
    }

    /// The descriptor of `slot` (taken modulo the ring size).
    #[inline(always)]
    pub fn desc(&self, slot: u16) -> Desc {
        let mut b = [0u8; DESC_SIZE];
        self.region.read(self.desc_off(slot), &mut b);
        Desc::from_bytes(&b)
    }

    /// Hints the CPU to fetch the descriptor of `slot`.
    #[inline(always)]
    pub fn prefetch_desc(&self, slot: u16) {
        self.region.prefetch(self.desc_off(slot));
    }

    #[inline(always)]
    pub fn set_desc(&self, slot: u16, d: &Desc) {
        self.region.write(self.desc_off(slot), &d.to_bytes());
    }

    /// Writes only a descriptor's flags and length (the producer's part).
    #[inline(always)]
    pub fn set_desc_flags_len(&self, slot: u16, flags: u16, len: u32) {
        let o = self.desc_off(slot);
        self.region.write(o, &flags.to_le_bytes());
        self.region.write(o + 4, &len.to_le_bytes());
    }
}

/// The regions of one connection, for descriptor buffer access.
#[derive(Clone, Default)]
pub struct Regions(pub Vec<Arc<Region>>);

impl Regions {
    /// Copies a descriptor's buffer bytes [at, at+dst.len()) out; false when
    /// the descriptor's region or range is not inside the mapping.
    #[inline(always)]
    pub fn read(&self, d: &Desc, at: usize, dst: &mut [u8]) -> bool {
        match self.0.get(d.region as usize) {
            Some(r) if at + dst.len() <= d.length as usize => r.read(d.offset as usize + at, dst),
            _ => false,
        }
    }

    /// Whether the descriptor's whole buffer [offset, offset+len) is inside
    /// its region.
    #[inline(always)]
    pub fn check(&self, region: u16, offset: u32, len: u32) -> bool {
        self.0.get(region as usize).is_some_and(|r| r.inside(offset as usize, len as usize))
    }

    /// Copies `src` into a descriptor's buffer at `at`; false when out of
    /// bounds.
    #[inline(always)]
    pub fn write(&self, region: u16, offset: u32, at: usize, src: &[u8]) -> bool {
        match self.0.get(region as usize) {
            Some(r) => r.write(offset as usize + at, src),
            None => false,
        }
    }

    /// Hints the CPU to fetch the start of a descriptor's buffer.
    #[inline(always)]
    pub fn prefetch(&self, d: &Desc) {
        if let Some(r) = self.0.get(d.region as usize) {
            r.prefetch(d.offset as usize);
        }
    }

    pub fn sizes(&self) -> Vec<usize> {
        self.0.iter().map(|r| r.len()).collect()
    }
}

/// A non-blocking eventfd (a ring's interrupt line).
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall creating a new descriptor.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: a new descriptor nobody else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Takes over a descriptor the peer sent (it is made non-blocking).
    pub fn from_owned(fd: OwnedFd) -> EventFd {
        set_nonblocking(fd.as_raw_fd());
        EventFd(fd)
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// A second descriptor for the same eventfd (both ends in one process).
    pub fn try_clone(&self) -> io::Result<EventFd> {
        Ok(EventFd(self.0.try_clone()?))
    }

    /// Signals the peer.
    pub fn notify(&self) {
        let v: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an open fd.
        unsafe { libc::write(self.0.as_raw_fd(), &v as *const u64 as *const libc::c_void, 8) };
    }

    /// Clears pending signals.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live local from an open fd.
        unsafe { libc::read(self.0.as_raw_fd(), &mut v as *mut u64 as *mut libc::c_void, 8) };
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: plain fcntl calls on an open fd.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
}

/// A unix socket address: a filesystem path, or an abstract name (no
/// leading NUL here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockPath {
    File(String),
    Abstract(String),
}

impl SockPath {
    fn sockaddr(&self) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
        // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_un = unsafe { zeroed() };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let (bytes, start) = match self {
            SockPath::File(p) => (p.as_bytes(), 0),
            SockPath::Abstract(n) => (n.as_bytes(), 1),
        };
        if bytes.is_empty() || start + bytes.len() >= sa.sun_path.len() || bytes.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket name too long or empty"));
        }
        for (k, &b) in bytes.iter().enumerate() {
            sa.sun_path[start + k] = b as libc::c_char;
        }
        let base = size_of::<libc::sa_family_t>();
        let len = match self {
            SockPath::File(_) => base + bytes.len() + 1,
            SockPath::Abstract(_) => base + 1 + bytes.len(),
        };
        Ok((sa, len as libc::socklen_t))
    }
}

/// A SEQPACKET unix socket (listener or control channel), non-blocking.
pub struct SeqSocket(OwnedFd);

fn seqpacket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall creating a new descriptor.
    let fd = cvt(unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0)
    })?;
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What one receive got.
pub enum Recv {
    /// A message of `len` bytes (only the first 128 kept), and a descriptor
    /// if the peer attached any (extra ones are closed).
    Msg { buf: [u8; MSG_SIZE], len: usize, fd: Option<OwnedFd>, truncated: bool },
    /// Nothing waiting.
    WouldBlock,
    /// The peer closed the connection.
    Closed,
}

impl SeqSocket {
    /// Binds and listens; a stale socket file at `path` is removed first.
    pub fn listen(path: &SockPath) -> io::Result<SeqSocket> {
        let fd = seqpacket()?;
        let (sa, len) = path.sockaddr()?;
        if let SockPath::File(p) = path {
            if std::fs::symlink_metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            }) {
                let _ = std::fs::remove_file(p);
            }
        }
        // SAFETY: `sa` is a live sockaddr_un of `len` valid bytes.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), &sa as *const _ as *const libc::sockaddr, len) })?;
        // SAFETY: plain syscall on an owned socket.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), 8) })?;
        Ok(SeqSocket(fd))
    }

    /// Connects to a listener (a unix connect completes at once or fails).
    pub fn connect(path: &SockPath) -> io::Result<SeqSocket> {
        let fd = seqpacket()?;
        let (sa, len) = path.sockaddr()?;
        // SAFETY: `sa` is a live sockaddr_un of `len` valid bytes.
        cvt(unsafe { libc::connect(fd.as_raw_fd(), &sa as *const _ as *const libc::sockaddr, len) })?;
        Ok(SeqSocket(fd))
    }

    /// Accepts one pending connection, if any.
    pub fn accept(&self) -> io::Result<Option<SeqSocket>> {
        // SAFETY: null address out-pointers are allowed by accept4.
        let r = unsafe {
            libc::accept4(
                self.0.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
        }
        // SAFETY: a new descriptor nobody else owns.
        Ok(Some(SeqSocket(unsafe { OwnedFd::from_raw_fd(r) })))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Sends one message, with a descriptor when given.
    pub fn send(&self, msg: &[u8; MSG_SIZE], fd: Option<RawFd>) -> io::Result<()> {
        let mut iov = libc::iovec { iov_base: msg.as_ptr() as *mut libc::c_void, iov_len: MSG_SIZE };
        // u64 array: aligned for cmsghdr.
        let mut ctl = [0u64; 4];
        // SAFETY: msghdr is plain data; all-zero is valid.
        let mut mh: libc::msghdr = unsafe { zeroed() };
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        if let Some(fd) = fd {
            // SAFETY: CMSG_SPACE is a pure size computation.
            let space = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
            debug_assert!(space <= size_of::<[u64; 4]>());
            mh.msg_control = ctl.as_mut_ptr() as *mut libc::c_void;
            mh.msg_controllen = space;
            // SAFETY: msg_control points at `space` live bytes, enough for
            // one cmsghdr carrying one int.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&mh);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
            }
        }
        // SAFETY: `mh` points at live iovec/control buffers for the call.
        let r = unsafe { libc::sendmsg(self.0.as_raw_fd(), &mh, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if r as usize != MSG_SIZE {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// Receives one message without blocking.
    pub fn recv(&self) -> io::Result<Recv> {
        // One byte more than a message, so an oversized one shows.
        let mut big = [0u8; MSG_SIZE + 1];
        let mut iov = libc::iovec { iov_base: big.as_mut_ptr() as *mut libc::c_void, iov_len: big.len() };
        let mut ctl = [0u64; 16];
        // SAFETY: msghdr is plain data; all-zero is valid.
        let mut mh: libc::msghdr = unsafe { zeroed() };
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.as_mut_ptr() as *mut libc::c_void;
        mh.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: `mh` points at live buffers of the sizes it states.
        let r = unsafe { libc::recvmsg(self.0.as_raw_fd(), &mut mh, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(Recv::WouldBlock) } else { Err(e) };
        }
        if r == 0 {
            return Ok(Recv::Closed);
        }
        let mut fds: Vec<OwnedFd> = Vec::new();
        // SAFETY: walking the control buffer the kernel filled, with the
        // CMSG_* macros that stay within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&mh);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c);
                    let n = ((*c).cmsg_len as usize - (data as usize - c as usize)) / size_of::<RawFd>();
                    for k in 0..n {
                        let fd = std::ptr::read_unaligned((data as *const RawFd).add(k));
                        if fd >= 0 {
                            fds.push(OwnedFd::from_raw_fd(fd));
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&mh, c);
            }
        }
        let mut buf = [0u8; MSG_SIZE];
        let len = r as usize;
        buf.copy_from_slice(&big[..MSG_SIZE]);
        let truncated = mh.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 || fds.len() > 1;
        // Extra descriptors are closed here (dropped).
        let fd = if fds.is_empty() { None } else { Some(fds.swap_remove(0)) };
        Ok(Recv::Msg { buf, len, fd, truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_views_stay_inside_their_region() {
        let r = Arc::new(Region::create("t", 4096).unwrap());
        assert!(Ring::new(r.clone(), 0, 7).is_some()); // 128 + 16*128 fits
        assert!(Ring::new(r.clone(), 0, 8).is_none()); // 128 + 16*256 = 4224 > 4096
        assert!(Ring::new(r.clone(), 4096 - 128 - 16, 0).is_some());
        assert!(Ring::new(r.clone(), 4096 - 128 - 8, 0).is_none());
        assert!(Ring::new(r.clone(), 4, 0).is_none());
        assert!(Ring::new(r.clone(), usize::MAX - 7, 0).is_none());
        assert!(Ring::new(r.clone(), 0, 16).is_none());
        let ring = Ring::new(r.clone(), 0, 2).unwrap();
        ring.init(proto::RING_FLAG_MASK_INT);
        assert_eq!(ring.cookie(), proto::COOKIE);
        assert_eq!(ring.flags(), proto::RING_FLAG_MASK_INT);
        ring.store_head(5);
        ring.store_tail(3);
        assert_eq!((ring.head(), ring.tail()), (5, 3));
        let d = Desc { flags: 1, region: 0, length: 60, offset: 2048, metadata: 0 };
        ring.set_desc(6, &d); // slot 6 is slot 2 of a 4-slot ring
        assert_eq!(ring.desc(2), d);
    }

    #[test]
    fn buffer_copies_are_bounds_checked() {
        let regs = Regions(vec![Arc::new(Region::create("t", 4096).unwrap())]);
        assert!(regs.write(0, 4000, 0, &[1; 96]));
        assert!(!regs.write(0, 4000, 0, &[1; 97]));
        assert!(!regs.write(1, 0, 0, &[1]));
        assert!(!regs.write(0, u32::MAX, 0, &[1]));
        let mut out = [0u8; 96];
        let d = Desc { flags: 0, region: 0, length: 96, offset: 4000, metadata: 0 };
        assert!(regs.read(&d, 0, &mut out));
        assert_eq!(out, [1; 96]);
        let bad = Desc { length: 200, ..d };
        assert!(!regs.read(&bad, 0, &mut [0u8; 200]));
        assert!(regs.check(0, 0, 4096));
        assert!(!regs.check(0, 1, 4096));
        assert!(!regs.check(3, 0, 1));
    }

    #[test]
    fn short_memfd_is_refused() {
        let fd = memfd("short", 100).unwrap();
        assert!(Region::map(fd, 4096).is_err());
    }

    #[test]
    fn messages_carry_descriptors() {
        let name = format!("rvpp-memif-test-{}", std::process::id());
        let l = SeqSocket::listen(&SockPath::Abstract(name.clone())).unwrap();
        let c = SeqSocket::connect(&SockPath::Abstract(name)).unwrap();
        let s = l.accept().unwrap().unwrap();
        let ev = EventFd::new().unwrap();
        let m = proto::Msg::AddRegion { index: 0, size: 64 }.encode();
        c.send(&m, Some(ev.raw())).unwrap();
        match s.recv().unwrap() {
            Recv::Msg { buf, len, fd, truncated } => {
                assert_eq!((len, truncated), (MSG_SIZE, false));
                assert_eq!(buf, m);
                let got = EventFd::from_owned(fd.unwrap());
                ev.notify();
                got.drain();
            }
            _ => panic!("no message"),
        }
        assert!(matches!(s.recv().unwrap(), Recv::WouldBlock));
        drop(c);
        assert!(matches!(s.recv().unwrap(), Recv::Closed));
    }
}
