//! The receive path: one [`DpdkRx`] per (port, rx queue), owned by the
//! thread it is placed on. A burst of mbufs is copied into fresh rvpp
//! buffers (segments flattened) and the mbufs go straight back to their
//! pool in one bulk free.
//!
//! Panic contract: mbufs come from a PMD and are not trusted: a packet
//! longer than an rvpp buffer, or whose segments do not add up, is a
//! counted drop (`sys::Mbufs::copy_out` checks every segment against its
//! buffer). Admin-down drops and rvpp buffer exhaustion are counted too.

use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::device::{count_rx_burst, RxQueue};
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::{BufferIndex, CounterDesc, Vm};

use super::sys::{self, Mbufs};
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
}

impl DpdkRx {
    pub(super) fn new(sw_if_index: u32, port: u16, queue: u16, stats: Arc<DriverStats>) -> DpdkRx {
        DpdkRx { sw_if_index, port, queue, mbufs: Mbufs::default(), stats }
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
