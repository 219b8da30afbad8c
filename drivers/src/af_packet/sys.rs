//! Every system call and raw pointer of the af_packet driver: AF_PACKET
//! sockets and their options, the mmap'ed TPACKET_V2 rings, the tx kick,
//! `recvmsg` for packets too big for a ring frame, and the interface ioctls.
//!
//! Invariants this module keeps (the reasons its `unsafe` blocks are sound):
//! - A [`PacketSocket`] owns its descriptor through an `OwnedFd`: it is
//!   closed exactly once, when the last `Arc` to the socket drops.
//! - A [`Ring`] owns one `mmap` of a socket's ring, `geometry.bytes()` long,
//!   unmapped exactly once in `Drop` and never resized. The kernel keeps the
//!   pages alive while the mapping exists, even after the socket closes.
//! - Frame `i` lies at `base + geometry.frame_offset(i)`, and every index is
//!   checked against `frame_nr` before a pointer is made; `RingGeometry`
//!   never lets a frame straddle its block, so every frame lies inside the
//!   mapping. Frames start on 16-byte boundaries of a page-aligned mapping,
//!   so each frame's status word is aligned for an `AtomicU32`.
//! - A frame changes hands between kernel and user space only through its
//!   status word, read with `Acquire` and written with `Release` ordering.
//!   A slice over a frame is only made after its status says user space owns
//!   it, and the slice borrows the ring mutably, so the frame cannot be
//!   handed back (or another slice made) while the slice lives. The kernel
//!   does not touch a frame user space owns.
//! - A ring is used by the one thread that owns its queue (`Send`, not
//!   `Sync`); a socket may be shared (`Arc`) because the kernel serialises
//!   concurrent calls on it.
//! - Every pointer handed to the kernel (option values, addresses, iovecs,
//!   control buffers, `ifreq`s) points to a live local or slice of the size
//!   passed with it, for the duration of the call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use libc::{c_int, c_void, socklen_t};

use super::frame::{status, RingGeometry, VNET_HDR_LEN};

// SOL_PACKET options (linux/if_packet.h).
const PACKET_ADD_MEMBERSHIP: c_int = 1;
const PACKET_RX_RING: c_int = 5;
const PACKET_STATISTICS: c_int = 6;
const PACKET_COPY_THRESH: c_int = 7;
const PACKET_AUXDATA: c_int = 8;
const PACKET_VERSION: c_int = 10;
const PACKET_TX_RING: c_int = 13;
const PACKET_LOSS: c_int = 14;
const PACKET_VNET_HDR: c_int = 15;
const PACKET_FANOUT: c_int = 18;
const PACKET_QDISC_BYPASS: c_int = 20;
const PACKET_IGNORE_OUTGOING: c_int = 23;
const TPACKET_V2: c_int = 1;
const PACKET_MR_PROMISC: u16 = 1;
/// `PACKET_FANOUT_HASH`: spread by flow hash.
pub const FANOUT_HASH: u16 = 0;
/// Let the kernel pick a group id no one else uses.
pub const FANOUT_FLAG_UNIQUEID: u16 = 0x2000;
/// The group's own `PACKET_IGNORE_OUTGOING` (a fanout group receives
/// through one shared hook, which ignores the members' setting).
pub const FANOUT_FLAG_IGNORE_OUTGOING: u16 = 0x4000;
/// `ETH_P_ALL`.
pub const ETH_P_ALL: u16 = 0x0003;
/// Pieces [`PacketSocket::send_parts`] takes at most (a virtio-net header
/// and a buffer chain of up to 64).
pub const MAX_SEND_PARTS: usize = 65;

fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An AF_PACKET raw socket.
pub struct PacketSocket {
    fd: OwnedFd,
}

/// What `recvmsg` got for a packet that did not fit a ring frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    /// Packet bytes written into the buffer.
    pub len: usize,
    /// The packet's whole length.
    pub wire_len: usize,
    /// The packet was longer than the buffer.
    pub truncated: bool,
    /// `tp_status` from `PACKET_AUXDATA` (CSUMNOTREADY, VLAN_VALID...).
    pub status: u32,
    pub vlan_tci: u16,
    pub vlan_tpid: u16,
}

impl PacketSocket {
    /// A non-blocking raw socket for `protocol` (host order; 0 receives
    /// nothing until bound to a protocol).
    pub fn new(protocol: u16) -> io::Result<PacketSocket> {
        let ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        // SAFETY: a plain system call with integer arguments.
        let fd = cvt(unsafe { libc::socket(libc::AF_PACKET, ty, protocol.to_be() as c_int) })?;
        // SAFETY: `fd` was just returned by socket() and nothing else owns it.
        Ok(PacketSocket { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    fn setsockopt<T>(&self, level: c_int, name: c_int, val: &T) -> io::Result<()> {
        // SAFETY: `val` is a live reference of `size_of::<T>()` bytes.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                val as *const T as *const c_void,
                std::mem::size_of::<T>() as socklen_t,
            )
        })
        .map(drop)
    }

    fn getsockopt<T: Default>(&self, level: c_int, name: c_int) -> io::Result<T> {
        let mut v = T::default();
        let mut len = std::mem::size_of::<T>() as socklen_t;
        // SAFETY: `v` is a live local of `len` bytes the kernel writes into.
        cvt(unsafe { libc::getsockopt(self.fd.as_raw_fd(), level, name, &mut v as *mut T as *mut c_void, &mut len) })?;
        Ok(v)
    }

    fn set_packet_int(&self, name: c_int, v: c_int) -> io::Result<()> {
        self.setsockopt(libc::SOL_PACKET, name, &v)
    }

    /// TPACKET_V2 frames for the rings set up next.
    pub fn use_tpacket_v2(&self) -> io::Result<()> {
        self.set_packet_int(PACKET_VERSION, TPACKET_V2)
    }

    /// Prefix each received packet with a virtio-net header (GSO size,
    /// partial checksum offsets).
    pub fn use_vnet_header(&self) -> io::Result<()> {
        self.set_packet_int(PACKET_VNET_HDR, 1)
    }

    /// Queue a packet too big for a ring frame for `recvmsg` (its frame says
    /// `TP_STATUS_COPY`), and report its status with `PACKET_AUXDATA`.
    pub fn use_copy_path(&self) -> io::Result<()> {
        self.set_packet_int(PACKET_COPY_THRESH, 1)?;
        self.set_packet_int(PACKET_AUXDATA, 1)
    }

    /// Do not see what the host sends on the interface. Older kernels lack
    /// it; the frames' `sll_pkttype` is checked anyway.
    pub fn ignore_outgoing(&self) -> io::Result<()> {
        self.set_packet_int(PACKET_IGNORE_OUTGOING, 1)
    }

    /// Transmit straight to the driver, skipping the qdisc layer.
    pub fn bypass_qdisc(&self) -> io::Result<()> {
        self.set_packet_int(PACKET_QDISC_BYPASS, 1)
    }

    /// Skip a malformed tx frame instead of stopping the ring at it.
    pub fn skip_bad_tx_frames(&self) -> io::Result<()> {
        self.set_packet_int(PACKET_LOSS, 1)
    }

    /// Receive buffer (the copy path's queue), past `rmem_max` (root).
    pub fn set_rcvbuf(&self, bytes: usize) -> io::Result<()> {
        let v = bytes.min(i32::MAX as usize) as c_int;
        self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &v)
            .or_else(|_| self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &v))
    }

    /// Send buffer (bytes in flight from the tx ring), past `wmem_max`.
    pub fn set_sndbuf(&self, bytes: usize) -> io::Result<()> {
        let v = bytes.min(i32::MAX as usize) as c_int;
        self.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &v)
            .or_else(|_| self.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &v))
    }

    /// Binds to an interface and protocol (host order; 0 sends only).
    pub fn bind(&self, ifindex: u32, protocol: u16) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol.to_be();
        sll.sll_ifindex = ifindex as c_int;
        // SAFETY: `sll` is a live sockaddr_ll and its size is passed.
        cvt(unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as socklen_t,
            )
        })
        .map(drop)
    }

    /// Puts the interface in promiscuous mode for as long as this socket
    /// lives (the kernel counts and undoes it on close).
    pub fn promiscuous(&self, ifindex: u32) -> io::Result<()> {
        // SAFETY: packet_mreq is plain data; all-zero is a valid value.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = ifindex as c_int;
        mr.mr_type = PACKET_MR_PROMISC;
        self.setsockopt(libc::SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr)
    }

    /// Joins fanout group `id` with a mode and flags.
    pub fn join_fanout(&self, id: u16, mode_flags: u16) -> io::Result<()> {
        self.set_packet_int(PACKET_FANOUT, (id as u32 | (mode_flags as u32) << 16) as c_int)
    }

    /// The fanout group this socket is in (after a `FANOUT_FLAG_UNIQUEID`
    /// join, the id the kernel picked).
    pub fn fanout_id(&self) -> io::Result<u16> {
        Ok((self.getsockopt::<c_int>(libc::SOL_PACKET, PACKET_FANOUT)? & 0xffff) as u16)
    }

    /// The kernel's (packets, drops) since the last call (it resets them).
    pub fn take_statistics(&self) -> io::Result<(u32, u32)> {
        #[derive(Default)]
        #[repr(C)]
        struct TpacketStats {
            packets: u32,
            drops: u32,
        }
        let s: TpacketStats = self.getsockopt(libc::SOL_PACKET, PACKET_STATISTICS)?;
        Ok((s.packets, s.drops))
    }

    /// Sends one packet given in pieces (on a socket with virtio-net
    /// headers, the header is the first piece) out of interface `ifindex`
    /// as `protocol` (host order), without waiting; returns the bytes the
    /// kernel took. At most [`MAX_SEND_PARTS`] pieces.
    pub fn send_parts(&self, ifindex: u32, protocol: u16, parts: &[&[u8]]) -> io::Result<usize> {
        if parts.len() > MAX_SEND_PARTS {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_SEND_PARTS];
        for (v, p) in iov.iter_mut().zip(parts) {
            // The kernel only reads through the pointer (sendmsg).
            *v = libc::iovec { iov_base: p.as_ptr() as *mut c_void, iov_len: p.len() };
        }
        // SAFETY: sockaddr_ll and msghdr are plain data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol.to_be();
        sll.sll_ifindex = ifindex as c_int;
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut sll as *mut libc::sockaddr_ll as *mut c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = parts.len() as _;
        // SAFETY: `msg` points to `sll` and to `parts.len()` iovecs, each
        // naming a live slice of its length, all alive for the call.
        let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Asks the kernel to send the tx ring's pending frames, without
    /// waiting for them; returns the bytes it took. The kernel takes frames
    /// in ring order and stops at the first not queued, or when the socket
    /// buffer is full: it then reports what it took so far (more may still
    /// be queued), or `EAGAIN` when that is nothing. A failure leaves the
    /// frame it met queued.
    pub fn kick(&self) -> io::Result<usize> {
        // SAFETY: no buffer and no address: the kernel reads only the ring.
        let r =
            unsafe { libc::sendto(self.fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Takes the next packet queued by the copy path: its virtio-net header
    /// into `vnet`, its bytes into `buf`. `Ok(None)` when none is queued.
    /// A socket error left pending by the kernel (`ENETDOWN` after a link
    /// flap) is reported once and cleared; the receive is then retried.
    pub fn recv_copy(&self, vnet: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self.recv_copy_once(vnet, buf) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => self.recv_copy_once(vnet, buf),
            r => r,
        }
    }

    fn recv_copy_once(&self, vnet: &mut [u8; VNET_HDR_LEN], buf: &mut [u8]) -> io::Result<Option<Received>> {
        let mut iov = [
            libc::iovec { iov_base: vnet.as_mut_ptr() as *mut c_void, iov_len: vnet.len() },
            libc::iovec { iov_base: buf.as_mut_ptr() as *mut c_void, iov_len: buf.len() },
        ];
        // Room for one PACKET_AUXDATA message, 8-byte aligned.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        msg.msg_control = control.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: the iovecs and control buffer are live locals of the
        // sizes given; MSG_TRUNC makes the kernel report the full length.
        let r = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
        }
        let total = (r as usize).saturating_sub(VNET_HDR_LEN);
        let mut got = Received {
            len: total.min(buf.len()),
            wire_len: total,
            truncated: total > buf.len() || msg.msg_flags & libc::MSG_TRUNC != 0,
            ..Received::default()
        };
        // SAFETY: msg describes `control`, which the kernel filled; the
        // CMSG macros only walk inside msg_control/msg_controllen.
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !c.is_null() {
            // SAFETY: `c` is a header inside `control` (CMSG_FIRSTHDR/NXTHDR).
            let (level, ty, len) = unsafe { ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len as usize) };
            let need = std::mem::size_of::<libc::tpacket_auxdata>();
            // SAFETY: CMSG_LEN only does arithmetic on its argument.
            let need_len = unsafe { libc::CMSG_LEN(need as u32) } as usize;
            if level == libc::SOL_PACKET && ty == PACKET_AUXDATA && len >= need_len {
                // SAFETY: the message holds `need` bytes of data (checked
                // above); read_unaligned copes with any alignment.
                let aux: libc::tpacket_auxdata =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::tpacket_auxdata) };
                got.status = aux.tp_status;
                got.vlan_tci = aux.tp_vlan_tci;
                got.vlan_tpid = aux.tp_vlan_tpid;
            }
            // SAFETY: as for CMSG_FIRSTHDR.
            c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
        }
        Ok(Some(got))
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One mapped TPACKET_V2 ring.
struct Ring {
    base: NonNull<u8>,
    geometry: RingGeometry,
}

// SAFETY: the ring is plain shared memory owned by this value; moving it to
// another thread moves that ownership (module docs).
unsafe impl Send for Ring {}

impl Ring {
    fn map(sock: &PacketSocket, tx: bool, g: RingGeometry) -> io::Result<Ring> {
        let req = libc::tpacket_req {
            tp_block_size: g.block_size,
            tp_block_nr: g.block_nr,
            tp_frame_size: g.frame_size,
            tp_frame_nr: g.frame_nr,
        };
        sock.setsockopt(libc::SOL_PACKET, if tx { PACKET_TX_RING } else { PACKET_RX_RING }, &req)?;
        // SAFETY: maps the ring the kernel just made for this socket; no
        // address is given, so nothing existing is replaced.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                g.bytes(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                sock.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Ring { base, geometry: g })
    }

    #[inline(always)]
    fn frame_nr(&self) -> usize {
        self.geometry.frame_nr as usize
    }

    #[inline(always)]
    fn frame_ptr(&self, i: usize) -> *mut u8 {
        assert!(i < self.frame_nr(), "ring frame {i} out of range");
        // SAFETY: i < frame_nr, so the frame lies inside the mapping.
        unsafe { self.base.as_ptr().add(self.geometry.frame_offset(i)) }
    }

    #[inline(always)]
    fn status_word(&self, i: usize) -> &AtomicU32 {
        // The frame start is inside the mapping and 16-byte aligned, and the
        // mapping outlives `&self`; slices are made only over user-owned
        // frames, under `&mut self`.
        // SAFETY: as above; the word is only accessed atomically meanwhile.
        unsafe { AtomicU32::from_ptr(self.frame_ptr(i) as *mut u32) }
    }

    #[inline(always)]
    fn status(&self, i: usize) -> u32 {
        self.status_word(i).load(Ordering::Acquire)
    }

    #[inline(always)]
    fn set_status(&mut self, i: usize, v: u32) {
        self.status_word(i).store(v, Ordering::Release);
    }

    #[inline(always)]
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        let p = self.frame_ptr(i);
        // SAFETY: the frame lies inside the mapping (frame_ptr); callers
        // make it only for user-owned frames, and `&mut self` keeps it the
        // only slice and stops the frame being handed back while it lives.
        unsafe { std::slice::from_raw_parts_mut(p, self.geometry.frame_size as usize) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping made in `map`; nothing refers to
        // it once the ring is dropped.
        unsafe {
            libc::munmap(self.base.as_ptr() as *mut c_void, self.geometry.bytes());
        }
    }
}

/// The receive ring of a socket.
pub struct RxRing(Ring);

impl RxRing {
    /// Sets up and maps the socket's rx ring.
    pub fn new(sock: &PacketSocket, g: RingGeometry) -> io::Result<RxRing> {
        Ring::map(sock, false, g).map(RxRing)
    }

    pub fn frame_nr(&self) -> usize {
        self.0.frame_nr()
    }

    /// Whether frame `i` holds a packet for user space.
    #[inline(always)]
    pub fn is_ready(&self, i: usize) -> bool {
        self.0.status(i) & status::USER != 0
    }

    /// Frame `i` when it holds a packet for user space.
    #[inline(always)]
    pub fn frame(&mut self, i: usize) -> Option<&mut [u8]> {
        if self.is_ready(i) {
            Some(self.0.frame_mut(i))
        } else {
            None
        }
    }

    /// Hands frame `i` back to the kernel.
    #[inline(always)]
    pub fn release(&mut self, i: usize) {
        self.0.set_status(i, status::KERNEL);
    }
}

/// The transmit ring of a socket.
pub struct TxRing(Ring);

impl TxRing {
    /// Sets up and maps the socket's tx ring.
    pub fn new(sock: &PacketSocket, g: RingGeometry) -> io::Result<TxRing> {
        Ring::map(sock, true, g).map(TxRing)
    }

    pub fn frame_nr(&self) -> usize {
        self.0.frame_nr()
    }

    /// Whether frame `i` is still with the kernel (queued or sending).
    #[inline(always)]
    pub fn is_busy(&self, i: usize) -> bool {
        self.0.status(i) & (status::SEND_REQUEST | status::SENDING) != 0
    }

    /// Whether frame `i` is queued for the kernel and not yet taken by a
    /// kick.
    #[inline(always)]
    pub fn is_queued(&self, i: usize) -> bool {
        self.0.status(i) & status::SEND_REQUEST != 0
    }

    /// Frame `i` when user space may fill it (available, or refused by the
    /// kernel as malformed).
    #[inline(always)]
    pub fn frame(&mut self, i: usize) -> Option<&mut [u8]> {
        if self.is_busy(i) {
            None
        } else {
            Some(self.0.frame_mut(i))
        }
    }

    /// Queues frame `i` for the next kick.
    #[inline(always)]
    pub fn submit(&mut self, i: usize) {
        self.0.set_status(i, status::SEND_REQUEST);
    }
}

/// Kernel-side facts about a network interface.
#[derive(Clone, Copy, Debug, Default)]
pub struct IfInfo {
    pub mtu: u32,
    pub up: bool,
    pub mac: [u8; 6],
    /// The link-layer type (`ARPHRD_*`; 1: Ethernet), None when unknown.
    pub link_type: Option<u16>,
}

/// `struct ifreq`: a name and a 24-byte union, here as bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

fn ifreq(name: &str) -> io::Result<IfReq> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut r = IfReq { name: [0; libc::IFNAMSIZ], data: [0; 24] };
    r.name[..b.len()].copy_from_slice(b);
    Ok(r)
}

fn if_ioctl(req: libc::c_ulong, r: &mut IfReq) -> io::Result<()> {
    // SAFETY: a plain system call with integer arguments.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `r` is a live ifreq-sized value the kernel reads or writes.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), req as _, r as *mut IfReq) }).map(drop)
}

/// The kernel's index for an interface name, if it exists.
pub fn if_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// MTU, admin state and MAC of an interface.
pub fn if_info(name: &str) -> io::Result<IfInfo> {
    let mut info = IfInfo::default();
    let mut r = ifreq(name)?;
    if_ioctl(libc::SIOCGIFMTU, &mut r)?;
    info.mtu = i32::from_ne_bytes(r.data[..4].try_into().unwrap_or_default()).max(0) as u32;
    let mut r = ifreq(name)?;
    if_ioctl(libc::SIOCGIFFLAGS, &mut r)?;
    info.up = i16::from_ne_bytes([r.data[0], r.data[1]]) as c_int & libc::IFF_UP != 0;
    let mut r = ifreq(name)?;
    if if_ioctl(libc::SIOCGIFHWADDR, &mut r).is_ok() {
        // A `struct sockaddr`: the family is the link-layer type.
        info.link_type = Some(u16::from_ne_bytes([r.data[0], r.data[1]]));
        info.mac.copy_from_slice(&r.data[2..8]);
    }
    Ok(info)
}

/// Sets an interface administratively up (no-op when it is).
pub fn set_if_up(name: &str) -> io::Result<()> {
    set_if_admin(name, true)
}

fn set_if_admin(name: &str, up: bool) -> io::Result<()> {
    let mut r = ifreq(name)?;
    if_ioctl(libc::SIOCGIFFLAGS, &mut r)?;
    let flags = i16::from_ne_bytes([r.data[0], r.data[1]]);
    if (flags as c_int & libc::IFF_UP != 0) == up {
        return Ok(());
    }
    let flags = if up { flags | libc::IFF_UP as i16 } else { flags & !(libc::IFF_UP as i16) };
    r.data[..2].copy_from_slice(&flags.to_ne_bytes());
    if_ioctl(libc::SIOCSIFFLAGS, &mut r)
}

/// Sets an interface administratively down (tests: a link that refuses
/// to send).
#[cfg(test)]
pub fn set_if_down(name: &str) -> io::Result<()> {
    set_if_admin(name, false)
}

/// Moves the calling thread (only it) into a new network namespace of its
/// own, which holds nothing but `lo`, down: tests use real interfaces there
/// without touching the host's. Needs CAP_SYS_ADMIN.
#[cfg(test)]
pub fn enter_private_netns() -> io::Result<()> {
    // SAFETY: a plain system call with an integer argument; it changes the
    // namespace of the calling thread alone and touches no memory.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
}
