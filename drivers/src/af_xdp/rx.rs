//! The receive path: one [`AfXdpRx`] per queue takes descriptors off its
//! socket's rx ring, copies each frame out of the UMEM into a fresh buffer,
//! and gives the frame straight back on the fill ring.
//!
//! Panic contract: descriptors come from the kernel and are not trusted; one
//! whose address or length does not lie inside one rx frame of the UMEM is a
//! counted drop (`descriptor outside the umem`) and its frame is not
//! recycled. Admin-down drops and buffer exhaustion are counted too.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::device::RxQueue;
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::{BufferIndex, CounterDesc, Vm};

use super::sys::{Ring, Umem, XskSocket};
use super::{QueueStats, Stat, FRAME_SIZE, RX_FRAMES};

/// The input node's error counters (`show errors`).
pub(super) static COUNTERS: [CounterDesc; 4] = [
    CounterDesc::error("interface is down"),
    CounterDesc::error("descriptor outside the umem"),
    CounterDesc::error("packet longer than a buffer"),
    CounterDesc::error("no buffers"),
];

/// Which per-queue figure feeds which of [`COUNTERS`] (same order).
const COUNTED: [Stat; 4] = [Stat::RxAdminDown, Stat::RxInvalid, Stat::RxTooLong, Stat::RxNoBuffer];

/// Where an rx descriptor's frame starts, when the descriptor lies wholly
/// inside one rx frame (`[0, RX_FRAMES)` of the UMEM) and is not empty.
#[inline(always)]
pub(super) fn rx_frame_of(addr: u64, len: u32) -> Option<u64> {
    let frame = addr & !(FRAME_SIZE as u64 - 1);
    let ok =
        frame < RX_FRAMES as u64 * FRAME_SIZE as u64 && len > 0 && (addr - frame) + len as u64 <= FRAME_SIZE as u64;
    ok.then_some(frame)
}

/// What an rx queue is made of: its socket, UMEM, rx ring and fill ring.
pub(super) struct RxParts {
    pub(super) sock: Arc<XskSocket>,
    pub(super) umem: Arc<Umem>,
    pub(super) rx: Ring,
    pub(super) fill: Ring,
}

/// One rx queue: its socket's rx and fill rings, owned by the thread the
/// queue is placed on.
pub struct AfXdpRx {
    sw_if_index: u32,
    queue_id: u32,
    mode: RxMode,
    sock: Arc<XskSocket>,
    umem: Arc<Umem>,
    rx: Ring,
    fill: Ring,
    /// Frames taken off the rx ring, to go back on the fill ring.
    recycle: Vec<u64>,
    stats: Arc<QueueStats>,
}

impl AfXdpRx {
    /// Fills the fill ring with every rx frame of the UMEM.
    pub(super) fn new(
        sw_if_index: u32,
        queue_id: u32,
        mode: RxMode,
        parts: RxParts,
        stats: Arc<QueueStats>,
    ) -> AfXdpRx {
        let RxParts { sock, umem, rx, mut fill } = parts;
        let mut prod = fill.producer();
        let n = fill.free(prod).min(RX_FRAMES);
        for k in 0..n {
            fill.set_addr(prod, k as u64 * FRAME_SIZE as u64);
            prod = prod.wrapping_add(1);
        }
        fill.submit(prod);
        AfXdpRx {
            sw_if_index,
            queue_id,
            mode,
            sock,
            umem,
            rx,
            fill,
            recycle: Vec::with_capacity(RX_FRAMES as usize),
            stats,
        }
    }

    /// Gives the frames taken this call back to the kernel.
    fn refill(&mut self) {
        let mut prod = self.fill.producer();
        let room = self.fill.free(prod) as usize;
        for &a in self.recycle.iter().take(room) {
            self.fill.set_addr(prod, a);
            prod = prod.wrapping_add(1);
        }
        self.recycle.clear();
        self.fill.submit(prod);
        if self.fill.needs_wakeup() {
            self.sock.wake_rx();
        }
    }
}

impl RxQueue for AfXdpRx {
    fn sw_if_index(&self) -> u32 {
        self.sw_if_index
    }
    fn queue_id(&self) -> u32 {
        self.queue_id
    }

    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize {
        let cons = self.rx.consumer();
        let avail = self.rx.ready(cons).min(out.len() as u32) as usize;
        if avail == 0 {
            if self.fill.needs_wakeup() {
                self.sock.wake_rx();
            }
            return 0;
        }
        let sw = self.sw_if_index;
        let up = vm.ifs.is_up(sw);
        let got = if up { vm.bufs.alloc(&mut out[..avail]) } else { 0 };
        let ds = vm.bufs.data_size().min(u16::MAX as usize);
        let mut tally = [0u64; Stat::COUNT];
        let mut n = 0;
        for k in 0..avail {
            let (addr, len) = self.rx.desc(cons.wrapping_add(k as u32));
            let Some(frame) = rx_frame_of(addr, len) else {
                tally[Stat::RxInvalid as usize] += 1;
                continue;
            };
            self.recycle.push(frame);
            let len = len as usize;
            if !up {
                tally[Stat::RxAdminDown as usize] += 1;
            } else if len > ds {
                tally[Stat::RxTooLong as usize] += 1;
            } else if n >= got {
                tally[Stat::RxNoBuffer as usize] += 1;
            } else {
                let bi = out[n];
                let (m, raw) = vm.bufs.split_mut(bi);
                m.reset_rx(len as u16, sw);
                if self.umem.copy_out(addr, &mut raw[HEADROOM..HEADROOM + len]) {
                    n += 1;
                    tally[Stat::RxBytes as usize] += len as u64;
                } else {
                    tally[Stat::RxInvalid as usize] += 1;
                }
            }
        }
        self.rx.release(cons.wrapping_add(avail as u32));
        if got > n {
            // Stale metadata: no chain flag may survive into the free list.
            for &bi in &out[n..got] {
                vm.bufs.meta_mut(bi).flags = 0;
            }
            vm.bufs.free(&out[n..got]);
        }
        self.refill();
        tally[Stat::RxPackets as usize] = n as u64;
        if n > 0 {
            vm.ifc.rx_batch(sw, n as u64, tally[Stat::RxBytes as usize]);
        }
        if tally[Stat::RxNoBuffer as usize] > 0 {
            vm.ifc.rx_no_buf(sw, tally[Stat::RxNoBuffer as usize]);
        }
        for (k, s) in COUNTED.iter().enumerate() {
            if tally[*s as usize] > 0 {
                vm.count(k, tally[*s as usize]);
            }
        }
        self.stats.add(&tally);
        n
    }

    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }
    fn mode(&self) -> RxMode {
        self.mode
    }
    fn set_mode(&mut self, mode: RxMode) {
        self.mode = mode;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_outside_an_rx_frame_are_refused() {
        let f = FRAME_SIZE as u64;
        assert_eq!(rx_frame_of(256, 60), Some(0));
        assert_eq!(rx_frame_of(3 * f + 256, FRAME_SIZE - 256), Some(3 * f));
        // Runs past its frame.
        assert_eq!(rx_frame_of(3 * f + 256, FRAME_SIZE - 255), None);
        // Empty.
        assert_eq!(rx_frame_of(256, 0), None);
        // A tx frame, or past the UMEM.
        assert_eq!(rx_frame_of(RX_FRAMES as u64 * f + 256, 60), None);
        assert_eq!(rx_frame_of(u64::MAX - 100, 60), None);
    }
}
