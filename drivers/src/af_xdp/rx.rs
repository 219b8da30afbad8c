//! The receive path: one [`AfXdpRx`] per queue takes descriptors off its
//! socket's rx ring and puts frames back on the fill ring.
//!
//! With the arena as UMEM a descriptor names a buffer that the kernel has
//! just written: its metadata is set and it goes into the graph as it is,
//! and a fresh buffer takes its place on the fill ring. With a UMEM of its
//! own the frame is copied into a fresh buffer and goes straight back.
//! Either way a frame is replaced on the fill ring before its packet goes
//! on, so the kernel never runs out of frames for want of buffers: without
//! one to spare the packet is dropped (counted) and its frame recycled.
//!
//! Panic contract: descriptors come from the kernel and are not trusted; one
//! whose address or length does not lie inside one frame the kernel was
//! given (a buffer of this queue's fill set, or an rx frame of its own
//! UMEM) is a counted drop (`descriptor outside the umem`) and is never
//! followed. Admin-down drops and buffer exhaustion are counted too.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::device::{count_rx_burst, RxQueue};
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::{BufferIndex, CounterDesc, ThreadBuffers, Vm};

use super::sys::{Ring, Umem, XskSocket};
use super::umem::{own_rx_frame, ArenaGeometry, BufSet};
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

/// A queue's UMEM, as the receive side sees it.
pub(super) enum RxUmem {
    /// A mapping of its own: frames are copied into buffers.
    Own(OwnRx),
    /// The buffer arena: frames are buffers.
    Arena(ArenaRx),
}

/// Receive state over a UMEM of its own.
pub(super) struct OwnRx {
    umem: Arc<Umem>,
    /// Frames taken off the rx ring, to go back on the fill ring.
    recycle: Vec<u64>,
}

impl OwnRx {
    pub(super) fn new(umem: Arc<Umem>) -> OwnRx {
        OwnRx { umem, recycle: Vec::with_capacity(RX_FRAMES as usize) }
    }
}

/// Receive state over the arena.
pub(super) struct ArenaRx {
    geo: ArenaGeometry,
    /// Buffers the kernel holds: on the fill ring or being written.
    in_kernel: BufSet,
    /// Buffers to put on the fill ring at the end of this call.
    refill: Vec<BufferIndex>,
    /// Fresh buffers allocated to replace frames that go into the graph.
    fresh: Vec<BufferIndex>,
}

impl ArenaRx {
    pub(super) fn new(geo: ArenaGeometry, count: u32) -> ArenaRx {
        ArenaRx { geo, in_kernel: BufSet::new(count), refill: Vec::new(), fresh: Vec::new() }
    }
}

/// A queue's two rings.
pub(super) struct RxRings {
    pub(super) rx: Ring,
    pub(super) fill: Ring,
}

/// What an rx queue is made of.
pub(super) struct RxParts {
    pub(super) sock: Arc<XskSocket>,
    pub(super) umem: RxUmem,
    pub(super) rings: RxRings,
}

/// One rx queue: its socket's rx and fill rings, owned by the thread the
/// queue is placed on.
pub struct AfXdpRx {
    sw_if_index: u32,
    queue_id: u32,
    mode: RxMode,
    sock: Arc<XskSocket>,
    umem: RxUmem,
    rings: RxRings,
    stats: Arc<QueueStats>,
}

impl AfXdpRx {
    /// Fills the fill ring: with every rx frame of its own UMEM, or with
    /// the buffers `fill_bufs` (arena; those beyond the ring's room are
    /// freed).
    pub(super) fn new(
        sw_if_index: u32,
        queue_id: u32,
        mode: RxMode,
        parts: RxParts,
        fill_bufs: Vec<BufferIndex>,
        bufs: &mut ThreadBuffers,
        stats: Arc<QueueStats>,
    ) -> AfXdpRx {
        let RxParts { sock, mut umem, mut rings } = parts;
        match &mut umem {
            RxUmem::Own(o) => {
                o.recycle.extend((0..RX_FRAMES).map(|k| k as u64 * FRAME_SIZE as u64));
                o.refill(&mut rings.fill);
                free_unused(bufs, &fill_bufs);
            }
            RxUmem::Arena(a) => {
                a.refill = fill_bufs;
                a.refill(&mut rings.fill, bufs);
            }
        }
        AfXdpRx { sw_if_index, queue_id, mode, sock, umem, rings, stats }
    }
}

/// Frees buffers allocated and not used: their metadata is stale, so no
/// chain flag may survive into the free list.
fn free_unused(bufs: &mut ThreadBuffers, unused: &[BufferIndex]) {
    if unused.is_empty() {
        return;
    }
    for &bi in unused {
        bufs.meta_mut(bi).flags = 0;
    }
    bufs.free(unused);
}

impl OwnRx {
    /// Gives the frames taken back to the kernel.
    fn refill(&mut self, fill: &mut Ring) {
        let mut prod = fill.producer();
        let room = fill.free(prod) as usize;
        for &a in self.recycle.iter().take(room) {
            fill.set_addr(prod, a);
            prod = prod.wrapping_add(1);
        }
        self.recycle.clear();
        fill.submit(prod);
    }

    /// Copies each of `avail` frames into a fresh buffer; returns the
    /// packets in `out`.
    fn rx(
        &mut self,
        rings: &mut RxRings,
        sw: u32,
        vm: &mut Vm,
        out: &mut [BufferIndex],
        avail: usize,
        tally: &mut [u64; Stat::COUNT],
    ) -> usize {
        let cons = rings.rx.consumer();
        let up = vm.ifs.is_up(sw);
        let got = if up { vm.bufs.alloc(&mut out[..avail]) } else { 0 };
        let ds = vm.bufs.data_size().min(u16::MAX as usize);
        let mut n = 0;
        for k in 0..avail {
            let (addr, len) = rings.rx.desc(cons.wrapping_add(k as u32));
            let Some(frame) = own_rx_frame(addr, len) else {
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
        rings.rx.release(cons.wrapping_add(avail as u32));
        free_unused(&mut vm.bufs, &out[n..got]);
        self.refill(&mut rings.fill);
        n
    }
}

impl ArenaRx {
    /// Puts `refill` on the fill ring and into the kernel's set. A buffer
    /// there already (cannot happen) or beyond the ring's room is freed.
    fn refill(&mut self, fill: &mut Ring, bufs: &mut ThreadBuffers) {
        let mut prod = fill.producer();
        let room = fill.free(prod) as usize;
        let mut spare = Vec::new();
        for (k, &bi) in self.refill.iter().enumerate() {
            if k < room && self.in_kernel.insert(bi) {
                fill.set_addr(prod, self.geo.fill_addr(bi));
                prod = prod.wrapping_add(1);
            } else {
                spare.push(bi);
            }
        }
        fill.submit(prod);
        self.refill.clear();
        free_unused(bufs, &spare);
    }

    /// Takes the `avail` buffers the kernel wrote: each valid one goes into
    /// `out` when a fresh buffer can take its place on the fill ring, else
    /// straight back there. Returns the packets in `out`.
    fn rx(
        &mut self,
        rings: &mut RxRings,
        sw: u32,
        vm: &mut Vm,
        out: &mut [BufferIndex],
        avail: usize,
        tally: &mut [u64; Stat::COUNT],
    ) -> usize {
        let cons = rings.rx.consumer();
        let up = vm.ifs.is_up(sw);
        if self.fresh.len() < avail {
            self.fresh.resize(avail, BufferIndex(0));
        }
        let got = if up { vm.bufs.alloc(&mut self.fresh[..avail]) } else { 0 };
        let ds = vm.bufs.data_size().min(u16::MAX as usize);
        let mut n = 0;
        for k in 0..avail {
            let (addr, len) = rings.rx.desc(cons.wrapping_add(k as u32));
            let Some((bi, current_data)) = self.geo.rx(addr, len).filter(|&(bi, _)| self.in_kernel.take(bi)) else {
                tally[Stat::RxInvalid as usize] += 1;
                continue;
            };
            if !up {
                tally[Stat::RxAdminDown as usize] += 1;
                self.refill.push(bi);
            } else if len as usize > ds {
                tally[Stat::RxTooLong as usize] += 1;
                self.refill.push(bi);
            } else if n >= got {
                tally[Stat::RxNoBuffer as usize] += 1;
                self.refill.push(bi);
            } else {
                let m = vm.bufs.meta_mut(bi);
                m.reset_rx(len as u16, sw);
                m.current_data = current_data;
                self.refill.push(self.fresh[n]);
                out[n] = bi;
                n += 1;
                tally[Stat::RxBytes as usize] += len as u64;
            }
        }
        rings.rx.release(cons.wrapping_add(avail as u32));
        free_unused(&mut vm.bufs, &self.fresh[n..got]);
        self.refill(&mut rings.fill, &mut vm.bufs);
        n
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
        let rings = &mut self.rings;
        let avail = rings.rx.ready(rings.rx.consumer()).min(out.len() as u32) as usize;
        if avail == 0 {
            if rings.fill.needs_wakeup() {
                self.sock.wake_rx();
            }
            return 0;
        }
        let sw = self.sw_if_index;
        let mut tally = [0u64; Stat::COUNT];
        let n = match &mut self.umem {
            RxUmem::Arena(a) => a.rx(rings, sw, vm, out, avail, &mut tally),
            RxUmem::Own(o) => o.rx(rings, sw, vm, out, avail, &mut tally),
        };
        if rings.fill.needs_wakeup() {
            self.sock.wake_rx();
        }
        tally[Stat::RxPackets as usize] = n as u64;
        let (bytes, no_buf) = (tally[Stat::RxBytes as usize], tally[Stat::RxNoBuffer as usize]);
        count_rx_burst(vm, sw, n as u64, bytes, no_buf, COUNTED.iter().map(|s| tally[*s as usize]));
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

impl Drop for AfXdpRx {
    /// The buffers on the fill ring stay the kernel's until the socket
    /// closes: the socket frees them then.
    fn drop(&mut self) {
        if let RxUmem::Arena(a) = &mut self.umem {
            self.sock.release_after_close(a.in_kernel.drain());
        }
    }
}

#[cfg(test)]
mod tests {
    use rvpp_dataplane::device::DeviceInput;
    use rvpp_dataplane::testing::Harness;

    use super::super::TX_FRAMES;
    use super::*;

    fn harness() -> Harness {
        Harness::new(Box::new(DeviceInput::new("af-xdp-input", &["ethernet-input"])), 2)
    }

    /// Plays the kernel: takes what the fill ring offers.
    fn kernel_takes_fill(fill: &mut Ring) -> Vec<u64> {
        let cons = fill.consumer();
        let n = fill.ready(cons);
        let v = (0..n).map(|k| fill.addr(cons.wrapping_add(k))).collect();
        fill.release(cons.wrapping_add(n));
        v
    }

    /// Plays the kernel: puts descriptors on the rx ring.
    fn kernel_delivers(rx: &mut Ring, descs: &[(u64, u32)]) {
        let mut prod = rx.producer();
        for &(a, l) in descs {
            rx.set_desc(prod, a, l);
            prod = prod.wrapping_add(1);
        }
        rx.submit(prod);
    }

    #[test]
    fn arena_rx_takes_only_buffers_it_gave_and_keeps_the_fill_ring_full() {
        let mut h = harness();
        let geo = ArenaGeometry::new(&h.vm.bufs.arena().layout());
        let count = h.vm.bufs.arena().count();
        let mut a = ArenaRx::new(geo, count);
        let mut rings =
            RxRings { rx: Ring::anonymous(16, 16).expect("rx ring"), fill: Ring::anonymous(16, 8).expect("fill ring") };
        let mut given = vec![BufferIndex(0); 4];
        assert_eq!(h.vm.bufs.alloc(&mut given), 4);
        a.refill = given.clone();
        a.refill(&mut rings.fill, &mut h.vm.bufs);
        let offered = kernel_takes_fill(&mut rings.fill);
        assert_eq!(offered, given.iter().map(|&b| geo.fill_addr(b)).collect::<Vec<_>>());

        let at = |b: BufferIndex, off: u64| geo.fill_addr(b) | (off << 48);
        let stranger = (0..count).map(BufferIndex).find(|b| !given.contains(b)).expect("a buffer not given");
        kernel_delivers(
            &mut rings.rx,
            &[
                (at(given[0], 256), 60),   // a frame: taken
                (at(stranger, 256), 60),   // a buffer never given
                (at(given[1], 256), 4000), // runs past its buffer
                (at(given[0], 256), 60),   // the same buffer twice
                (u64::MAX, 60),            // nowhere
                (at(given[2], 128), 64),   // a frame placed in the headroom
            ],
        );
        let mut out = [BufferIndex(0); 8];
        let mut tally = [0u64; Stat::COUNT];
        let n = a.rx(&mut rings, 1, &mut h.vm, &mut out, 6, &mut tally);
        assert_eq!(n, 2);
        assert_eq!(&out[..2], &[given[0], given[2]]);
        assert_eq!(tally[Stat::RxInvalid as usize], 4);
        assert_eq!(tally[Stat::RxBytes as usize], 124);
        let m = h.vm.bufs.meta(given[2]);
        assert_eq!((m.current_data, m.current_length, m.sw_if_index[0]), (-128, 64, 1));
        assert_eq!(h.vm.bufs.data(given[0]).len(), 60);
        // Two fresh buffers replaced the two taken; the refused ones stay
        // the kernel's (given[1], given[3]), the stranger is not touched.
        let refilled = kernel_takes_fill(&mut rings.fill);
        assert_eq!(refilled.len(), 2);
        assert!(refilled.iter().all(|&x| given.iter().all(|&b| geo.fill_addr(b) != x)));
        assert_eq!(a.in_kernel.len(), 4);
        for b in [given[1], given[3]] {
            assert!(a.in_kernel.take(b) && a.in_kernel.insert(b), "{b:?} left the kernel's set");
        }
        assert!(!a.in_kernel.take(stranger));

        // Admin down: a valid frame goes straight back on the fill ring.
        h.vm.ifs = Arc::new(rvpp_dataplane::interface::IfSnapshot::default());
        kernel_delivers(&mut rings.rx, &[(at(given[1], 256), 60)]);
        let mut tally = [0u64; Stat::COUNT];
        assert_eq!(a.rx(&mut rings, 1, &mut h.vm, &mut out, 1, &mut tally), 0);
        assert_eq!(tally[Stat::RxAdminDown as usize], 1);
        assert_eq!(kernel_takes_fill(&mut rings.fill), vec![geo.fill_addr(given[1])]);
    }

    #[test]
    fn own_umem_rx_copies_valid_frames_and_refuses_the_rest() {
        let mut h = harness();
        let umem = Arc::new(Umem::new(RX_FRAMES + TX_FRAMES, FRAME_SIZE).expect("umem"));
        assert!(umem.copy_in(3 * FRAME_SIZE as u64 + 256, &[0xab; 60]));
        let mut o = OwnRx::new(umem);
        let mut rings = RxRings {
            rx: Ring::anonymous(16, 16).expect("rx ring"),
            fill: Ring::anonymous(RX_FRAMES, 8).expect("fill ring"),
        };
        kernel_delivers(
            &mut rings.rx,
            &[
                (3 * FRAME_SIZE as u64 + 256, 60),
                (RX_FRAMES as u64 * FRAME_SIZE as u64, 60), // a tx frame
                (5 * FRAME_SIZE as u64 + 256, FRAME_SIZE),  // runs past its frame
            ],
        );
        let mut out = [BufferIndex(0); 8];
        let mut tally = [0u64; Stat::COUNT];
        assert_eq!(o.rx(&mut rings, 0, &mut h.vm, &mut out, 3, &mut tally), 1);
        assert_eq!(h.vm.bufs.data(out[0]), &[0xab; 60]);
        assert_eq!(tally[Stat::RxInvalid as usize], 2);
        // Only the good frame goes back on the fill ring.
        assert_eq!(kernel_takes_fill(&mut rings.fill), vec![3 * FRAME_SIZE as u64]);
    }
}
