//! `ip4-lookup` / `ip6-lookup`: longest-prefix match of the destination,
//! then the load-balance's bucket (by a 5-tuple flow hash when it has more
//! than one), then the adjacency decides the next node. The adjacency index
//! travels in `opaque[0]` to the rewrite/glean nodes. An IPv6 link-local
//! destination is one of our addresses or a neighbor on the packet's rx
//! interface (for a packet we originate: the interface it is for), found
//! in [`LinkLocal6`] by that interface, else resolved there; no other route
//! applies to it.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::Packets;
use rvpp_dataplane::buffer::RX;
use rvpp_dataplane::device::ErrorDrop;
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

use super::fib::{AdjKind, Fib, Forwarding, LinkLocal6, Mtrie4, Table6, ADJ_UNREACHABLE, LB_FAST_NONE};
use super::icmp::{set_error, Icmp};
use super::{names, proto};

/// Opaque word carrying the adjacency index after lookup.
pub const OPAQUE_ADJ: usize = 0;

#[repr(u16)]
enum Next {
    Drop = 0,
    Rewrite = 1,
    Local = 2,
    Glean = 3,
    IcmpError = 4,
}

#[repr(usize)]
enum Counter {
    NoRoute,
    DropRoute,
    Punt,
    Multicast,
}

static COUNTERS: [CounterDesc; 4] = [
    CounterDesc::warn("no route to destination"),
    CounterDesc::info("dropped by a drop route"),
    CounterDesc::info("punted (no punt handler)"),
    CounterDesc::info("multicast not forwarded"),
];

/// The lookup node of one family.
pub struct IpLookup<const IP6: bool> {
    nexts: [&'static str; 5],
    mtrie: Arc<Mtrie4>,
    table6: Published<Table6>,
    fwd: Published<Forwarding>,
    ll6: Published<LinkLocal6>,
    /// Per packet of the frame: its trie leaf from the staged walk, then
    /// the load-balance the fast loop found for the full path.
    leaves: [u32; FRAME_SIZE],
}

impl<const IP6: bool> IpLookup<IP6> {
    pub fn new(fib: &Fib) -> Self {
        Self::from_parts(fib.mtrie.clone(), fib.table6.clone(), fib.fwd.clone(), fib.ll6.clone())
    }

    fn from_parts(
        mtrie: Arc<Mtrie4>,
        table6: Published<Table6>,
        fwd: Published<Forwarding>,
        ll6: Published<LinkLocal6>,
    ) -> Self {
        let n = names(IP6);
        IpLookup {
            nexts: [ErrorDrop::NAME, n.rewrite, n.local, n.glean, n.icmp_error],
            mtrie,
            table6,
            fwd,
            ll6,
            leaves: [0; FRAME_SIZE],
        }
    }

    /// Walks the trie for every IPv4 packet of the frame down to its /24
    /// ply and prefetches the leaf there for the fast loop to read: the
    /// root and the /16 plies are few and stay in cache, the /24 plies are
    /// many and miss it, so every packet's miss is in flight at once. A
    /// packet whose header is short gets some leaf, and the fast loop drops
    /// it.
    fn stage4(&mut self, vm: &mut Vm, frame: &Frame) {
        let mut pk = vm.bufs.view();
        for (&bi, leaf) in frame.pkts.iter().zip(self.leaves.iter_mut()) {
            let dst = pk.head_mut::<20>(bi).map_or(0, |(_, h)| u32::from_be_bytes([h[16], h[17], h[18], h[19]]));
            *leaf = self.mtrie.root(dst);
            if Mtrie4::is_ply(*leaf) {
                *leaf = self.mtrie.step(*leaf, (dst >> 8) as u8);
                if Mtrie4::is_ply(*leaf) {
                    self.mtrie.prefetch(*leaf, dst as u8);
                }
            }
        }
    }
}

/// An IPv6 destination's load-balance, reusing the previous packet's
/// result for the same destination (packets of one flow travel together;
/// the snapshot cannot change within a frame).
#[inline(always)]
fn lookup6(dst: u128, last: &mut Option<(u128, u32)>, t6: Option<&Table6>) -> Option<u32> {
    let hit = match *last {
        Some((a, lb)) if a == dst => Some(lb),
        _ => t6.and_then(|t| t.lookup(dst)),
    };
    if let Some(lb) = hit {
        *last = Some((dst, lb));
    }
    hit
}

/// A 5-tuple hash (addresses, protocol, ports when present and not a
/// later fragment).
#[inline]
pub fn flow_hash(d: &[u8], ip6: bool) -> u32 {
    let (addrs, proto_v, l4) = if ip6 {
        if d.len() < 40 {
            return 0;
        }
        (&d[8..40], d[6], Some(40))
    } else {
        if d.len() < 20 {
            return 0;
        }
        let ihl = (d[0] & 0xf) as usize * 4;
        let frag = u16::from_be_bytes([d[6], d[7]]) & 0x1fff != 0;
        (&d[12..20], d[9], (!frag).then_some(ihl))
    };
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ proto_v as u64;
    for c in addrs.chunks(8) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    if matches!(proto_v, proto::TCP | proto::UDP) {
        if let Some(o) = l4 {
            if let Some(p) = d.get(o..o + 4) {
                h = (h ^ u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as u64).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            }
        }
    }
    (h ^ (h >> 29)) as u32
}

/// The fast loop over a frame: `lb_of` gives the load-balance of a
/// packet's `N`-byte header (given what `leaves` holds for it); one whose
/// load-balance has one bucket to a complete adjacency goes to the
/// rewrite, the others' places are listed in `later` (their count
/// returned), with the load-balance found in `leaves`.
#[inline(always)]
fn fast_loop<const N: usize>(
    pk: &mut Packets<'_>,
    frame: &mut Frame,
    fast: &[u64],
    leaves: &mut [u32; FRAME_SIZE],
    later: &mut [u16; FRAME_SIZE],
    mut lb_of: impl FnMut(u32, &[u8; N]) -> u32,
) -> usize {
    let mut nlater = 0;
    // Set here for all; the full path sets the others'.
    frame.all_to(Next::Rewrite as u16);
    // By index: one counter for the packet, its place and its leaf (an
    // iterator over the leaves costs 9 instructions a packet more here).
    #[allow(clippy::needless_range_loop)]
    for k in 0..frame.pkts.len().min(FRAME_SIZE) {
        let (bi, leaf) = (frame.pkts[k], &mut leaves[k]);
        let lb = match pk.head_mut::<N>(bi) {
            Some((m, h)) => {
                let lb = lb_of(*leaf, h);
                let f = fast.get(lb as usize).copied().unwrap_or(LB_FAST_NONE);
                if (f >> 32) as u32 == AdjKind::Rewrite as u32 {
                    m.opaque[OPAQUE_ADJ] = f as u32;
                    continue;
                }
                lb
            }
            None => u32::MAX,
        };
        if let Some(x) = later.get_mut(nlater) {
            *leaf = lb;
            *x = k as u16;
            nlater += 1;
        }
    }
    nlater
}

impl<const IP6: bool> Node for IpLookup<IP6> {
    fn name(&self) -> &'static str {
        names(IP6).lookup
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        // A large IPv4 trie is walked stage by stage over the frame so the
        // plies of all its packets are fetched in parallel (they miss cache);
        // a small one is walked per packet.
        let staged = !IP6 && self.mtrie.is_large();
        if staged {
            self.stage4(vm, frame);
        }
        let fwd = self.fwd.load();
        let t6 = if IP6 { Some(self.table6.load()) } else { None };
        let (mut no_route, mut dropped, mut punted, mut mcast) = (0u64, 0u64, 0u64, 0u64);
        // Packets of one flow travel together: the last IPv6 destination's
        // result is reused within the frame (the snapshot cannot change
        // under it). IPv4's trie is cheaper than the check.
        let mut last6: Option<(u128, u32)> = None;
        // Loaded when a link-local destination needs it.
        let mut ll6 = None;
        let mut pk = vm.bufs.view();
        // The common case first, with no call in the loop: a unicast
        // destination whose load-balance has one bucket to a complete
        // adjacency. The rest wait here for the full path below, with
        // what the loop found (u32::MAX: nothing; an IPv4 trie ply: the
        // walk goes on there).
        let mut later = [0u16; FRAME_SIZE];
        let fast: &[u64] = &fwd.fast;
        let nlater = if IP6 {
            let t6 = t6.as_deref();
            fast_loop::<40>(&mut pk, frame, fast, &mut self.leaves, &mut later, |_, h| {
                let dst = u128::from_be_bytes(h[24..40].try_into().unwrap_or([0; 16]));
                // Link-local destinations are resolved per interface, below.
                if dst >> 118 == 0x3fa {
                    return u32::MAX;
                }
                lookup6(dst, &mut last6, t6).unwrap_or(u32::MAX)
            })
        } else {
            let mtrie = &*self.mtrie;
            fast_loop::<20>(&mut pk, frame, fast, &mut self.leaves, &mut later, |staged_leaf, h| {
                let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
                // The staged walk's leaf one step on, or the root's leaf (a
                // ply when the route is longer than /16).
                let leaf = match staged {
                    true if Mtrie4::is_ply(staged_leaf) => mtrie.step(staged_leaf, dst as u8),
                    true => staged_leaf,
                    false => mtrie.root(dst),
                };
                // Multicast and limited broadcast (and the rest of class
                // E with them, which the full path routes) are for the
                // full path.
                if dst >= 0xe000_0000 {
                    u32::MAX
                } else {
                    leaf
                }
            })
        };
        for &k in &later[..nlater] {
            let k = k as usize;
            let bi = frame.pkts[k];
            let (m, d) = pk.data_mut(bi);
            let d = &*d;
            let lb = if IP6 {
                let Some(h) = d.get(..40) else {
                    frame.nexts[k] = Next::Drop as u16;
                    continue;
                };
                let dst = u128::from_be_bytes(h[24..40].try_into().unwrap_or([0; 16]));
                // What the fast loop found for it.
                match Some(self.leaves[k]).filter(|&lb| lb != u32::MAX) {
                    Some(lb) => lb,
                    None if dst >> 120 == 0xff => {
                        // Link-scope multicast (all-nodes, solicited-node,
                        // all-routers) is for us; the rest is not routed.
                        if (dst >> 112) & 0xf == 2 {
                            frame.nexts[k] = Next::Local as u16;
                        } else {
                            mcast += 1;
                            frame.nexts[k] = Next::Drop as u16;
                        }
                        continue;
                    }
                    None if dst >> 118 == 0x3fa => {
                        // Link-local destination: one of our addresses (its
                        // local /128), else a neighbor on the interface the
                        // conversation came from, else resolved there.
                        let ours = t6.as_deref().and_then(|t| t.lookup(dst)).filter(|&lb| {
                            let adj = fwd.lbs.get(lb as usize).and_then(|l| fwd.adjs.get(l.pick(0) as usize));
                            adj.is_some_and(|a| a.kind == AdjKind::Local)
                        });
                        if let Some(lb) = ours {
                            lb
                        } else {
                            let rx = m.sw_if_index[RX];
                            let ll6 = ll6.get_or_insert_with(|| self.ll6.load());
                            let neighbor = ll6
                                .get(rx, dst)
                                .filter(|&ai| fwd.adjs.get(ai as usize).is_some_and(|a| a.kind == AdjKind::Rewrite));
                            let glean = fwd.ll_glean.get(rx as usize).copied().filter(|&a| a != ADJ_UNREACHABLE);
                            frame.nexts[k] = match (neighbor, glean) {
                                (Some(ai), _) => {
                                    m.opaque[OPAQUE_ADJ] = ai;
                                    Next::Rewrite as u16
                                }
                                (None, Some(ai)) => {
                                    m.opaque[OPAQUE_ADJ] = ai;
                                    Next::Glean as u16
                                }
                                (None, None) => {
                                    no_route += 1;
                                    Next::Drop as u16
                                }
                            };
                            continue;
                        }
                    }
                    None => super::fib::LB_UNREACHABLE,
                }
            } else {
                let Some(h) = d.get(..20) else {
                    frame.nexts[k] = Next::Drop as u16;
                    continue;
                };
                let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
                if dst >> 28 == 0xe || dst == u32::MAX {
                    // Multicast and limited broadcast: local delivery only.
                    frame.nexts[k] = if dst == u32::MAX || dst >> 8 == 0xe0_0000 {
                        Next::Local as u16
                    } else {
                        mcast += 1;
                        Next::Drop as u16
                    };
                    continue;
                }
                // What the fast loop found for it, or the rest of the walk.
                match self.leaves[k] {
                    lb if Mtrie4::is_ply(lb) => self.mtrie.lookup(dst),
                    lb => lb,
                }
            };
            let Some(l) = fwd.lbs.get(lb as usize) else {
                frame.nexts[k] = Next::Drop as u16;
                continue;
            };
            let ai = if l.buckets.len() > 1 { l.pick(flow_hash(d, IP6)) } else { l.pick(0) };
            let kind = fwd.adjs.get(ai as usize).map_or(AdjKind::Drop, |a| a.kind);
            m.opaque[OPAQUE_ADJ] = ai;
            frame.nexts[k] = match kind {
                AdjKind::Rewrite => Next::Rewrite as u16,
                AdjKind::Local => Next::Local as u16,
                AdjKind::Glean | AdjKind::Incomplete => Next::Glean as u16,
                AdjKind::Unreachable => {
                    no_route += 1;
                    let (t, c) = if IP6 { Icmp::NO_ROUTE6 } else { Icmp::NET_UNREACHABLE4 };
                    set_error(m, t, c, 0);
                    Next::IcmpError as u16
                }
                AdjKind::Drop => {
                    dropped += 1;
                    Next::Drop as u16
                }
                AdjKind::Punt => {
                    punted += 1;
                    Next::Drop as u16
                }
            };
        }
        vm.count(Counter::NoRoute as usize, no_route);
        vm.count(Counter::DropRoute as usize, dropped);
        vm.count(Counter::Punt as usize, punted);
        vm.count(Counter::Multicast as usize, mcast);
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| {
                    let ai = b.meta(bi).opaque[OPAQUE_ADJ];
                    format!("fib 0 adj-index {ai} flow hash: 0x{:08x}", flow_hash(b.data(bi), IP6))
                });
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let fib = r.ext.get_or_default::<Fib>();
    let (m, t, f, l) = (fib.mtrie.clone(), fib.table6.clone(), fib.fwd.clone(), fib.ll6.clone());
    let (m6, t6, f6, l6) = (m.clone(), t.clone(), f.clone(), l.clone());
    r.node(NodeReg {
        name: names(false).lookup,
        factory: Arc::new(move |_| Box::new(IpLookup::<false>::from_parts(m.clone(), t.clone(), f.clone(), l.clone()))),
    });
    r.node(NodeReg {
        name: names(true).lookup,
        factory: Arc::new(move |_| {
            Box::new(IpLookup::<true>::from_parts(m6.clone(), t6.clone(), f6.clone(), l6.clone()))
        }),
    });
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
