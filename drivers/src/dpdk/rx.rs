//! The receive path: one [`DpdkRx`] per (port, rx queue), owned by the
//! thread it is placed on.
//!
//! Zero copy (the port's pool is the arena): each mbuf is an rvpp buffer
//! already; its metadata is filled from the mbuf (start, length, a chain
//! of segments as a `NEXT_PRESENT` chain) and nothing is copied. Copy
//! path: a burst of mbufs is copied into fresh rvpp buffers (segments
//! flattened) and the mbufs go straight back to their pool in one bulk
//! free.
//!
//! Panic contract: mbufs come from a PMD and are not trusted: a packet
//! longer than an rvpp buffer, whose segments do not add up, or (zero
//! copy) whose mbuf is no arena buffer, is a counted drop
//! (`sys::Mbufs::copy_out` and `take_chain` check every segment against
//! its buffer). Admin-down drops and rvpp buffer exhaustion are counted
//! too; with zero copy, exhaustion happens when the PMD asks the mempool,
//! which counts it (`rx_nombuf` where the PMD keeps it, and the pool's
//! own count in `show hardware-interfaces`).

use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::device::{count_rx_burst, RxQueue};
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::{BufferIndex, CounterDesc, Vm};

use super::sys::{self, Mbufs, Seg, ZcArena, MAX_SEGS};
use super::{DriverStats, Stat};

/// The input node's error counters (`show errors`).
pub(super) static COUNTERS: [CounterDesc; 3] = [
    CounterDesc::error("interface is down"),
    CounterDesc::error("packet longer than a buffer or bad mbuf chain"),
    CounterDesc::error("no buffers"),
];
const COUNTED: [Stat; 3] = [Stat::RxAdminDown, Stat::RxTooLong, Stat::RxNoBuffer];

pub struct DpdkRx {
    sw_if_index: u32,
    port: u16,
    queue: u16,
    mbufs: Mbufs,
    stats: Arc<DriverStats>,
    /// Set when the port's pool is the arena (zero copy).
    zc: Option<&'static ZcArena>,
    segs: Box<[Seg; MAX_SEGS]>,
}

impl DpdkRx {
    pub(super) fn new(
        sw_if_index: u32,
        port: u16,
        queue: u16,
        stats: Arc<DriverStats>,
        zc: Option<&'static ZcArena>,
    ) -> DpdkRx {
        DpdkRx {
            sw_if_index,
            port,
            queue,
            mbufs: Mbufs::default(),
            stats,
            zc,
            segs: Box::new([Seg::default(); MAX_SEGS]),
        }
    }

    /// Zero copy: the `avail` received mbufs become the packets in `out`.
    fn rx_zc(&mut self, vm: &mut Vm, out: &mut [BufferIndex], avail: usize, a: &ZcArena) -> usize {
        let sw = self.sw_if_index;
        let mut tally = [0u64; Stat::COUNT];
        if !vm.ifs.is_up(sw) {
            self.mbufs.free_from(0);
            tally[Stat::RxAdminDown as usize] = avail as u64;
            count_rx_burst(vm, sw, 0, 0, 0, COUNTED.iter().map(|s| tally[*s as usize]));
            self.stats.add(&tally);
            return 0;
        }
        let mut n = 0;
        let mut bytes = 0u64;
        for k in 0..avail {
            self.mbufs.prefetch_zc(k + 4);
            if let Some(sg) = self.mbufs.take_single(k, a) {
                let m = vm.bufs.meta_mut(BufferIndex(sg.bi));
                m.reset_rx(sg.len, sw);
                // The pool's data room keeps offsets within an i16.
                m.current_data = (i32::from(sg.off) - HEADROOM as i32) as i16;
                bytes += u64::from(sg.len);
                out[n] = BufferIndex(sg.bi);
                n += 1;
                continue;
            }
            let Some(ns) = self.mbufs.take_chain(k, a, &mut self.segs) else {
                tally[Stat::RxTooLong as usize] += 1;
                continue;
            };
            let segs = &self.segs[..ns];
            let first = segs[0];
            let rest: u32 = segs[1..].iter().map(|s| u32::from(s.len)).sum();
            for (j, sg) in segs.iter().enumerate() {
                let m = vm.bufs.meta_mut(BufferIndex(sg.bi));
                m.reset_rx(sg.len, sw);
                // The pool's data room keeps offsets within an i16.
                m.current_data = (i32::from(sg.off) - HEADROOM as i32) as i16;
                if let Some(nx) = segs.get(j + 1) {
                    m.flags = flags::NEXT_PRESENT;
                    m.next_buffer = nx.bi;
                }
            }
            vm.bufs.meta_mut(BufferIndex(first.bi)).total_length_not_including_first_buffer = rest;
            bytes += u64::from(first.len) + u64::from(rest);
            out[n] = BufferIndex(first.bi);
            n += 1;
        }
        self.mbufs.all_taken();
        tally[Stat::RxPackets as usize] = n as u64;
        tally[Stat::RxBytes as usize] = bytes;
        count_rx_burst(vm, sw, n as u64, bytes, 0, COUNTED.iter().map(|s| tally[*s as usize]));
        self.stats.add(&tally);
        n
    }
}

impl RxQueue for DpdkRx {
    fn sw_if_index(&self) -> u32 {
        self.sw_if_index
    }
    fn queue_id(&self) -> u32 {
        self.queue as u32
    }

    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize {
        sys::register_thread();
        let avail = self.mbufs.rx_burst(self.port, self.queue, out.len());
        if avail == 0 {
            return 0;
        }
        if let Some(a) = self.zc {
            return self.rx_zc(vm, out, avail, a);
        }
        let sw = self.sw_if_index;
        let up = vm.ifs.is_up(sw);
        let got = if up { vm.bufs.alloc(&mut out[..avail]) } else { 0 };
        let ds = vm.bufs.data_size().min(u16::MAX as usize);
        let mut tally = [0u64; Stat::COUNT];
        let mut n = 0;
        for k in 0..avail {
            if !up {
                tally[Stat::RxAdminDown as usize] += 1;
                continue;
            }
            if n >= got {
                tally[Stat::RxNoBuffer as usize] += 1;
                continue;
            }
            let bi = out[n];
            let (m, raw) = vm.bufs.split_mut(bi);
            match self.mbufs.copy_out(k, &mut raw[HEADROOM..HEADROOM + ds]) {
                Some(len) if len > 0 => {
                    m.reset_rx(len as u16, sw);
                    tally[Stat::RxBytes as usize] += len as u64;
                    n += 1;
                }
                _ => tally[Stat::RxTooLong as usize] += 1,
            }
        }
        self.mbufs.free_from(0);
        if got > n {
            // Stale metadata: no chain flag may survive into the free list.
            for &bi in &out[n..got] {
                vm.bufs.meta_mut(bi).flags = 0;
            }
            vm.bufs.free(&out[n..got]);
        }
        tally[Stat::RxPackets as usize] = n as u64;
        let (bytes, no_buf) = (tally[Stat::RxBytes as usize], tally[Stat::RxNoBuffer as usize]);
        count_rx_burst(vm, sw, n as u64, bytes, no_buf, COUNTED.iter().map(|s| tally[*s as usize]));
        self.stats.add(&tally);
        n
    }

    // DPDK queues poll: the vdevs rvpp is tested with have no rx interrupts.
    fn mode(&self) -> RxMode {
        RxMode::Polling
    }
    fn set_mode(&mut self, _mode: RxMode) {}
}
