//! The tap driver's system calls: opening a queue of a Linux tap device
//! through `/dev/net/tun`, its carrier ioctl, and the reads and writes of the
//! data path.
//!
//! Invariants this module keeps (the reasons its `unsafe` blocks are sound):
//! - A [`TapFd`] owns its descriptor (an `OwnedFd` inside a `File`): it is
//!   open from construction to drop, so every raw fd handed to `ioctl` here
//!   is valid for the duration of the call, and it is closed exactly once.
//! - Every `ioctl` argument is a pointer to a live, initialised [`Ifreq`] or
//!   `c_int` on this function's stack, of the size and layout the request
//!   encodes (`struct ifreq`, 40 bytes; `int`); the kernel reads or writes
//!   only inside it.
//! - The interface name copied into an [`Ifreq`] is at most
//!   [`IFNAMSIZ`]` - 1` bytes with no NUL, so the field stays NUL-terminated.
//!
//! Reads and writes go through `std`'s `File` (`read_vectored` is `readv`,
//! `write_vectored` is `writev`) and need no `unsafe`: the kernel's answer is
//! a length the caller checks against what it offered, never trusted as an
//! index.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// Longest interface name plus its NUL (`IFNAMSIZ`).
pub const IFNAMSIZ: usize = libc::IFNAMSIZ;

/// The clone device tap queues are opened through.
pub const TUN_PATH: &str = "/dev/net/tun";

/// `struct ifreq` as TUNSETIFF reads and writes it: the name, then the
/// flags in the first bytes of the 24-byte union.
#[repr(C)]
struct Ifreq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _union_rest: [u8; 22],
}

const _: () = assert!(std::mem::size_of::<Ifreq>() == 40);

/// One queue of a tap device: an open, non-blocking `/dev/net/tun` file
/// attached to the device. The device lives while any queue is open.
#[derive(Debug)]
pub struct TapFd {
    file: File,
}

impl TapFd {
    /// Opens a new queue of tap device `name`, creating the device when no
    /// device of that name exists (`IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE`:
    /// Ethernet frames, no packet-info header, several queues allowed).
    /// Returns the queue and the kernel's name for the device.
    pub fn open(name: &str) -> io::Result<(TapFd, String)> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_PATH)?;
        let mut req = Ifreq { name: [0; IFNAMSIZ], flags: 0, _union_rest: [0; 22] };
        req.name[..bytes.len()].copy_from_slice(bytes);
        req.flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE) as libc::c_short;
        // SAFETY: the fd is open (owned by `file`); `req` is a live 40-byte
        // ifreq with a NUL-terminated name, which TUNSETIFF reads and
        // rewrites in place (module invariants).
        let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut Ifreq) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let end = req.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        let kernel_name = String::from_utf8_lossy(&req.name[..end]).into_owned();
        Ok((TapFd { file }, kernel_name))
    }

    /// Turns the device's carrier on or off (`TUNSETCARRIER`, Linux 5.0+).
    pub fn set_carrier(&self, on: bool) -> io::Result<()> {
        let v: libc::c_int = on.into();
        // SAFETY: the fd is open; TUNSETCARRIER reads one int through the
        // pointer, which points at `v` on this stack frame.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::TUNSETCARRIER, &v as *const libc::c_int) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The descriptor number (for epoll registration and display).
    pub fn raw(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads one frame scattered over `bufs` (`readv`). A tap returns the
    /// frame's full length even when it did not fit (the rest is lost), so
    /// a result above the space offered means a truncated frame.
    #[inline]
    pub fn read_frame(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.file).read_vectored(bufs)
    }

    /// Writes one frame from one slice (`write`).
    #[inline]
    pub fn write_frame(&self, frame: &[u8]) -> io::Result<usize> {
        (&self.file).write(frame)
    }

    /// Writes one frame gathered from several slices (`writev`).
    #[inline]
    pub fn write_frame_vectored(&self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.file).write_vectored(parts)
    }

    /// A queue over any datagram-like descriptor (tests use a socket pair,
    /// whose reads and writes keep frame boundaries as a tap's do).
    #[cfg(test)]
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> TapFd {
        TapFd { file: File::from(fd) }
    }
}

/// Moves the calling thread (only it) into a new network namespace of its
/// own, so tests make tap devices without touching the host's. Needs
/// CAP_SYS_ADMIN.
#[cfg(test)]
pub fn enter_private_netns() -> io::Result<()> {
    // SAFETY: a plain system call with an integer argument; it changes the
    // namespace of the calling thread alone and touches no memory.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether an interface of that name exists in the calling thread's
/// namespace.
#[cfg(test)]
pub fn if_exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else { return false };
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}
