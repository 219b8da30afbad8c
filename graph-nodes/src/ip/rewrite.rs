//! `ip4-rewrite` / `ip6-rewrite`: TTL / hop-limit decrement (IPv4 header
//! checksum updated incrementally), MTU check (IPv4 with DF clear goes to
//! `ip4-frag`; otherwise ICMP fragmentation-needed / packet-too-big), then
//! the adjacency's Ethernet header is prepended and the packet leaves
//! through `interface-output`.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, TX};
use rvpp_dataplane::device::{ErrorDrop, InterfaceOutput};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

use super::checksum;
use super::fib::{AdjKind, Fib, Forwarding};
use super::icmp::{set_error, Icmp};
use super::lookup::OPAQUE_ADJ;
use super::names;

#[repr(u16)]
enum Next {
    Drop = 0,
    Output = 1,
    IcmpError = 2,
    Frag = 3,
}

#[repr(usize)]
enum Counter {
    TtlExpired,
    MtuExceeded,
    NoAdjacency,
    NoHeadroom,
}

static COUNTERS: [CounterDesc; 4] = [
    CounterDesc::warn("ttl / hop limit expired"),
    CounterDesc::warn("mtu exceeded"),
    CounterDesc::error("adjacency no longer complete"),
    CounterDesc::error("no headroom for rewrite"),
];

/// The rewrite node of one family.
pub struct IpRewrite<const IP6: bool> {
    nexts: [&'static str; 4],
    fwd: Published<Forwarding>,
}

impl<const IP6: bool> IpRewrite<IP6> {
    pub fn new(fwd: Published<Forwarding>) -> Self {
        let n = names(IP6);
        // IPv6 routers do not fragment: its frag arc is never taken.
        let frag = if IP6 { ErrorDrop::NAME } else { n.frag };
        IpRewrite { nexts: [ErrorDrop::NAME, InterfaceOutput::NAME, n.icmp_error, frag], fwd }
    }
}

impl<const IP6: bool> Node for IpRewrite<IP6> {
    fn name(&self) -> &'static str {
        names(IP6).rewrite
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let fwd = self.fwd.load();
        let (mut expired, mut too_big, mut gone, mut no_room) = (0u64, 0u64, 0u64, 0u64);
        let mut pk = vm.bufs.view();
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            let (m, raw, st) = pk.packet_mut(bi);
            let ai = m.opaque[OPAQUE_ADJ];
            let first = (m.current_length as usize).min(raw.len() - st);
            let hdr = if IP6 { 40 } else { 20 };
            let adj = match fwd.adjs.get(ai as usize) {
                Some(a) if a.kind == AdjKind::Rewrite && first >= hdr => a,
                _ => {
                    gone += 1;
                    frame.nexts[k] = Next::Drop as u16;
                    continue;
                }
            };
            let len = first + m.total_length_not_including_first_buffer as usize;
            let d = &mut raw[st..st + first];
            let ttl_at = if IP6 { 7 } else { 8 };
            let local = m.flags & flags::LOCALLY_ORIGINATED != 0;
            if d[ttl_at] <= 1 && !local {
                expired += 1;
                let (t, c) = if IP6 { Icmp::TIME_EXCEEDED6 } else { Icmp::TIME_EXCEEDED4 };
                set_error(m, t, c, 0);
                frame.nexts[k] = Next::IcmpError as u16;
                continue;
            }
            if len > adj.mtu as usize {
                if IP6 || d[6] & 0x40 != 0 {
                    too_big += 1;
                    let (t, c) = if IP6 { Icmp::TOO_BIG6 } else { Icmp::FRAG_NEEDED4 };
                    set_error(m, t, c, adj.mtu as u32);
                    frame.nexts[k] = Next::IcmpError as u16;
                } else {
                    frame.nexts[k] = Next::Frag as u16;
                }
                continue;
            }
            if local {
                // Sent with the TTL it was built with.
            } else if IP6 {
                d[7] -= 1;
            } else {
                let old = u16::from_be_bytes([d[8], d[9]]);
                d[8] -= 1;
                let ck = checksum::update16(u16::from_be_bytes([d[10], d[11]]), old, old - 0x100);
                d[10..12].copy_from_slice(&ck.to_be_bytes());
            }
            let rw = adj.rewrite();
            let rl = rw.len();
            if st < rl {
                no_room += 1;
                frame.nexts[k] = Next::Drop as u16;
                continue;
            }
            // Fixed-size copies for the usual header sizes (no memcpy call).
            match rl {
                14 => raw[st - 14..st].copy_from_slice(&adj.rewrite[..14]),
                18 => raw[st - 18..st].copy_from_slice(&adj.rewrite[..18]),
                _ => raw[st - rl..st].copy_from_slice(rw),
            }
            m.current_data -= rl as i16;
            m.current_length += rl as u16;
            m.sw_if_index[TX] = adj.sw_if_index;
            m.l2_hdr_offset = m.current_data;
            frame.nexts[k] = Next::Output as u16;
        }
        vm.count(Counter::TtlExpired as usize, expired);
        vm.count(Counter::MtuExceeded as usize, too_big);
        vm.count(Counter::NoAdjacency as usize, gone);
        vm.count(Counter::NoHeadroom as usize, no_room);
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| {
                    let m = b.meta(bi);
                    format!("tx_sw_if_index {} adj-idx {} : {}", m.sw_if_index[TX] as i32, m.opaque[OPAQUE_ADJ], {
                        let d = b.data(bi);
                        let n = d.len().min(32);
                        d[..n].iter().map(|x| format!("{x:02x}")).collect::<String>()
                    })
                });
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let f = r.ext.get_or_default::<Fib>().fwd.clone();
    let f6 = f.clone();
    r.node(NodeReg {
        name: names(false).rewrite,
        factory: Arc::new(move |_| Box::new(IpRewrite::<false>::new(f.clone()))),
    });
    r.node(NodeReg {
        name: names(true).rewrite,
        factory: Arc::new(move |_| Box::new(IpRewrite::<true>::new(f6.clone()))),
    });
    super::frag::register(r);
}
