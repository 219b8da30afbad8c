//! `ip4-glean` / `ip6-glean`: packets whose next hop has no MAC yet.
//!
//! The lookup sends them here with the adjacency in
//! `opaque[OPAQUE_ADJ]`: a glean adjacency (a connected subnet: resolve the
//! packet's destination) or an incomplete one (resolve its next hop). The
//! node asks for the neighbor out of the adjacency's interface, in a fresh
//! buffer — an ARP request broadcast, or a Neighbor Solicitation to the
//! target's solicited-node group with our link-layer address — and drops
//! the packet, counted. Requests are throttled per target on each thread
//! (one per [`THROTTLE_MS`]). One node type, generic over the family.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::TX;
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::interface::IfSnapshot;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::{arp, build_request, Next, RequestError, NEXTS, REQUEST_MAX};
use crate::ethernet::sub::{SubTable, Subs};
use crate::ip::addr::{IfAddrTable, IfAddrs};
use crate::ip::fib::{AdjKind, Fib, Forwarding};
use crate::ip::lookup::OPAQUE_ADJ;
use crate::ip::{bits_addr, names};

/// Least time between two requests for one target from one thread.
pub const THROTTLE_MS: f64 = 100.0;
/// Targets a thread remembers for throttling (a power of two).
const THROTTLE_SLOTS: usize = 1024;

#[repr(usize)]
#[derive(Clone, Copy)]
enum Counter {
    Dropped,
    Sent,
    Throttled,
    NoBuffer,
    NoSource,
    NotResolvable,
    NotHost,
    IfDown,
    NoInterface,
}

static COUNTERS4: [CounterDesc; 9] = [
    CounterDesc::info("address resolution required (packet dropped)"),
    CounterDesc::info("ARP requests sent"),
    CounterDesc::info("requests throttled"),
    CounterDesc::error("no buffer for request"),
    CounterDesc::warn("no source address for request"),
    CounterDesc::error("adjacency needs no resolution"),
    CounterDesc::info("destination is the subnet's network or broadcast address"),
    CounterDesc::warn("interface down"),
    CounterDesc::error("no such interface"),
];

static COUNTERS6: [CounterDesc; 9] = [
    CounterDesc::info("address resolution required (packet dropped)"),
    CounterDesc::info("neighbor solicitations sent"),
    CounterDesc::info("requests throttled"),
    CounterDesc::error("no buffer for request"),
    CounterDesc::warn("no source address for request"),
    CounterDesc::error("adjacency needs no resolution"),
    CounterDesc::info("destination is not a unicast address"),
    CounterDesc::warn("interface down"),
    CounterDesc::error("no such interface"),
];

/// Recent requests of one thread: a small direct-mapped table of
/// (target, interface, TSC). A collision only lets an extra request out.
struct Throttle {
    slots: Box<[Option<(u128, u32, u64)>]>,
    ticks: u64,
}

impl Throttle {
    fn new() -> Self {
        let ticks = (rvpp_dataplane::arch::tsc_hz() * THROTTLE_MS / 1000.0) as u64;
        Throttle { slots: vec![None; THROTTLE_SLOTS].into_boxed_slice(), ticks }
    }

    /// Whether a request for `addr` on `sw` went out too recently; when not,
    /// records one now.
    fn hit(&mut self, now: u64, sw: u32, addr: u128) -> bool {
        let h = (addr as u64 ^ (addr >> 64) as u64 ^ (sw as u64) << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = &mut self.slots[(h >> 32) as usize & (THROTTLE_SLOTS - 1)];
        if let Some((a, s, t)) = *slot {
            if a == addr && s == sw && now.wrapping_sub(t) < self.ticks {
                return true;
            }
        }
        *slot = Some((addr, sw, now));
        false
    }
}

/// The glean node of one family.
pub struct IpGlean<const IP6: bool> {
    fwd: Published<Forwarding>,
    addrs: IfAddrTable,
    subs: Subs,
    throttle: Throttle,
}

impl<const IP6: bool> IpGlean<IP6> {
    pub fn new(fwd: Published<Forwarding>, addrs: IfAddrTable, subs: Subs) -> Self {
        IpGlean { fwd, addrs, subs, throttle: Throttle::new() }
    }

    /// The address to resolve for this packet, and the interface to ask on.
    fn target(vm: &Vm, bi: BufferIndex, fwd: &Forwarding) -> Result<(u128, u32), Counter> {
        let ai = vm.bufs.meta(bi).opaque[OPAQUE_ADJ];
        let adj = fwd.adjs.get(ai as usize).ok_or(Counter::NotResolvable)?;
        let target = match adj.kind {
            AdjKind::Incomplete => adj.addr,
            AdjKind::Glean => {
                let d = vm.bufs.data(bi);
                let dst = if IP6 { d.get(24..40) } else { d.get(16..20) }.ok_or(Counter::NotResolvable)?;
                dst.iter().fold(0u128, |a, &b| a << 8 | b as u128)
            }
            _ => return Err(Counter::NotResolvable),
        };
        let host = if IP6 {
            target != 0 && target >> 120 != 0xff
        } else {
            adj.kind != AdjKind::Glean || arp::is_host(target as u32, adj.prefix_len)
        };
        if !host {
            return Err(Counter::NotHost);
        }
        Ok((target, adj.sw_if_index))
    }

    fn one(
        &mut self,
        vm: &mut Vm,
        bi: BufferIndex,
        fwd: &Forwarding,
        addrs: &IfAddrs,
        subs: &SubTable,
        ifs: &IfSnapshot,
    ) -> Result<(), Counter> {
        let (target, sw) = Self::target(vm, bi, fwd)?;
        vm.trace(bi, |_| format!("resolve {} on sw_if_index {sw}", bits_addr(IP6, target)));
        if !ifs.ifs.get(sw as usize).ok_or(Counter::NoInterface)?.admin_up {
            return Err(Counter::IfDown);
        }
        let mut frame = [0u8; REQUEST_MAX];
        let n = build_request(ifs, subs, addrs, IP6, sw, target, None, &mut frame).map_err(|e| match e {
            RequestError::NoSource => Counter::NoSource,
            RequestError::NoInterface => Counter::NoInterface,
        })?;
        if self.throttle.hit(vm.now, sw, target) {
            return Err(Counter::Throttled);
        }
        let nb = vm.bufs.alloc_one().ok_or(Counter::NoBuffer)?;
        vm.bufs.fill(nb, &frame[..n], sw);
        vm.bufs.meta_mut(nb).sw_if_index[TX] = sw;
        vm.emit(Next::Output as u16, nb);
        Ok(())
    }
}

impl<const IP6: bool> Node for IpGlean<IP6> {
    fn name(&self) -> &'static str {
        names(IP6).glean
    }
    fn next_nodes(&self) -> &[&'static str] {
        &NEXTS
    }
    fn counters(&self) -> &'static [CounterDesc] {
        if IP6 {
            &COUNTERS6
        } else {
            &COUNTERS4
        }
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let fwd = self.fwd.load();
        let addrs = self.addrs.load();
        let subs = self.subs.load();
        let ifs = vm.ifs.clone();
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            let c = match self.one(vm, bi, &fwd, &addrs, &subs, &ifs) {
                Ok(()) => Counter::Sent,
                Err(c) => c,
            };
            vm.count(c as usize, 1);
            frame.nexts[k] = Next::Drop as u16;
        }
        vm.count(Counter::Dropped as usize, frame.len() as u64);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let fwd = r.ext.get_or_default::<Fib>().fwd.clone();
    let addrs = r.ext.get_or_default::<IfAddrTable>().clone();
    let subs = r.ext.get_or_default::<Subs>().clone();
    let (fwd6, addrs6, subs6) = (fwd.clone(), addrs.clone(), subs.clone());
    r.node(NodeReg {
        name: names(false).glean,
        factory: Arc::new(move |_| Box::new(IpGlean::<false>::new(fwd.clone(), addrs.clone(), subs.clone()))),
    });
    r.node(NodeReg {
        name: names(true).glean,
        factory: Arc::new(move |_| Box::new(IpGlean::<true>::new(fwd6.clone(), addrs6.clone(), subs6.clone()))),
    });
}

#[cfg(test)]
#[path = "glean_tests.rs"]
mod tests;
