//! `ip4-rewrite` / `ip6-rewrite`: TTL / hop-limit decrement (IPv4 header
//! checksum updated incrementally), MTU check (IPv4 with DF clear goes to
//! `ip4-frag`; otherwise ICMP fragmentation-needed / packet-too-big), then
//! the adjacency's Ethernet header is prepended and the packet leaves
//! through `interface-output`.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, BufferMeta, Packets, TX};
use rvpp_dataplane::device::{ErrorDrop, InterfaceOutput};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::checksum;
use super::fib::{AdjKind, Adjacency, Fib, Forwarding, REWRITE_MAX};
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

/// TTL / hop limit minus one, the IPv4 header checksum updated to match.
/// `d` holds a whole header.
#[inline(always)]
fn decrement_ttl<const IP6: bool>(d: &mut [u8]) {
    if IP6 {
        d[7] -= 1;
    } else {
        d[8] -= 1;
        let ck = checksum::ttl_decremented([d[10], d[11]]);
        d[10..12].copy_from_slice(&ck);
    }
}

#[derive(Default)]
struct Counts {
    expired: u64,
    too_big: u64,
    gone: u64,
    no_room: u64,
}

/// The IP packet length of one segment of a [`flags::GSO`] super-segment
/// whose IP header starts `d`: the headers and `gso_size` bytes of payload.
fn gso_segment_len<const IP6: bool>(d: &[u8], gso_size: u16) -> Option<usize> {
    let ip = if IP6 { 40 } else { (*d.first()? as usize & 0xf) * 4 };
    let tcp = (*d.get(ip + 12)? as usize >> 4) * 4;
    Some(ip + tcp + gso_size as usize)
}

/// Every packet the fast path does not take: a gone adjacency, a short
/// header, an expiring TTL, too big for the MTU, locally originated, or
/// little headroom.
#[cold]
#[inline(never)]
fn slow<const IP6: bool>(
    m: &mut BufferMeta,
    head: &mut [u8],
    d: &mut [u8],
    adj: Option<&Adjacency>,
    c: &mut Counts,
) -> u16 {
    let hdr = if IP6 { 40 } else { 20 };
    let ttl_at = if IP6 { 7 } else { 8 };
    let adj = match adj {
        Some(a) if a.kind == AdjKind::Rewrite && d.len() >= hdr => a,
        _ => {
            c.gone += 1;
            return Next::Drop as u16;
        }
    };
    let mut len = d.len() + m.total_length_not_including_first_buffer as usize;
    if m.flags & flags::GSO != 0 {
        // A TCP super-segment the device cuts: each segment must fit.
        len = gso_segment_len::<IP6>(d, m.gso_size).unwrap_or(len);
    }
    let local = m.flags & flags::LOCALLY_ORIGINATED != 0;
    if d[ttl_at] <= 1 && !local {
        c.expired += 1;
        let (t, k) = if IP6 { Icmp::TIME_EXCEEDED6 } else { Icmp::TIME_EXCEEDED4 };
        set_error(m, t, k, 0);
        return Next::IcmpError as u16;
    }
    if len > adj.mtu as usize {
        if IP6 || d[6] & 0x40 != 0 {
            c.too_big += 1;
            let (t, k) = if IP6 { Icmp::TOO_BIG6 } else { Icmp::FRAG_NEEDED4 };
            set_error(m, t, k, adj.mtu as u32);
            return Next::IcmpError as u16;
        }
        return Next::Frag as u16;
    }
    if !local {
        // Sent with the TTL it was built with when locally originated.
        decrement_ttl::<IP6>(d);
    }
    let rw = adj.rewrite();
    let (rl, st) = (rw.len(), head.len());
    if st < rl {
        c.no_room += 1;
        return Next::Drop as u16;
    }
    head[st - rl..].copy_from_slice(rw);
    m.current_data -= rl as i16;
    m.current_length = (d.len() + rl) as u16;
    m.sw_if_index[TX] = adj.sw_if_index;
    m.l2_hdr_offset = m.current_data;
    Next::Output as u16
}

/// How many packets ahead the fast loop fetches the line the rewrite
/// will land in.
const PREFETCH_AHEAD: usize = 6;

/// The fast loop over a frame, for an `N`-byte IP header: the common case
/// in one test (a complete adjacency, whose `fast_mtu` is 0 otherwise; a
/// whole header; TTL left; not locally originated; within the MTU; room
/// for any rewrite) is rewritten and goes to `interface-output`; the
/// others' places are listed in `later` (their count returned).
#[inline(always)]
fn fast_loop<const IP6: bool, const N: usize>(
    pk: &mut Packets<'_>,
    frame: &mut Frame,
    adjs: &[Adjacency],
    later: &mut [u16; FRAME_SIZE],
) -> usize {
    let ttl_at = if IP6 { 7 } else { 8 };
    let mut nlater = 0;
    // Set here for all; the full path sets the others'.
    frame.all_to(Next::Output as u16);
    // By index: one counter for the packet and its place.
    let pkts: &[BufferIndex] = frame.pkts;
    let last = pkts.len().saturating_sub(1);
    for k in 0..pkts.len() {
        let bi = pkts[k];
        // (The last packets fetch the last one's again: no branch.)
        pk.prefetch_headroom(pkts[(k + PREFETCH_AHEAD).min(last)]);
        if let Some((m, room, h)) = pk.head_room_mut::<N, REWRITE_MAX>(bi) {
            if let Some(adj) = adjs.get(m.opaque[OPAQUE_ADJ] as usize) {
                let len = m.current_length as usize + m.total_length_not_including_first_buffer as usize;
                if (h[ttl_at] > 1) & (m.flags & flags::LOCALLY_ORIGINATED == 0) & (len <= adj.fast_mtu as usize) {
                    decrement_ttl::<IP6>(h);
                    // The whole right-aligned rewrite area: bytes before the
                    // rewrite land in headroom nobody uses.
                    *room = adj.rewrite;
                    let rl = adj.rewrite_len as usize;
                    m.current_data -= rl as i16;
                    m.current_length = (m.current_length as usize + rl) as u16;
                    m.sw_if_index[TX] = adj.sw_if_index;
                    m.l2_hdr_offset = m.current_data;
                    continue;
                }
            }
        }
        if let Some(x) = later.get_mut(nlater) {
            *x = k as u16;
            nlater += 1;
        }
    }
    nlater
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
        let adjs: &[Adjacency] = &fwd.adjs;
        let mut c = Counts::default();
        let mut pk = vm.bufs.view();
        // The loop takes only the common case, with no call in it; the
        // rest wait here.
        let mut later = [0u16; FRAME_SIZE];
        let nlater = if IP6 {
            fast_loop::<IP6, 40>(&mut pk, frame, adjs, &mut later)
        } else {
            fast_loop::<IP6, 20>(&mut pk, frame, adjs, &mut later)
        };
        for &k in &later[..nlater] {
            let k = k as usize;
            let (m, head, d) = pk.parts_mut(frame.pkts[k]);
            let adj = adjs.get(m.opaque[OPAQUE_ADJ] as usize);
            frame.nexts[k] = slow::<IP6>(m, head, d, adj, &mut c);
        }
        let Counts { expired, too_big, gone, no_room } = c;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::input::tests::ip4;
    use rvpp_dataplane::testing::Harness;
    use rvpp_dataplane::BufferIndex;

    /// Adjacencies 0 and 1 as the FIB has them (unreachable, drop), 2 a
    /// rewrite of 14 bytes at MTU 100, 3 one of 22 bytes (two tags) at
    /// 1500, 4 incomplete; 5 names none.
    fn forwarding() -> Published<Forwarding> {
        let mut adjs = vec![
            Adjacency::new(AdjKind::Unreachable, false, u32::MAX, 0),
            Adjacency::new(AdjKind::Drop, false, u32::MAX, 0),
        ];
        for (len, mtu, sw) in [(14usize, 100u16, 2u32), (22, 1500, 3)] {
            let mut a = Adjacency::new(AdjKind::Rewrite, false, sw, 0);
            a.set_rewrite(&(0..len as u8).map(|b| b + 0x40).collect::<Vec<_>>());
            a.mtu = mtu;
            adjs.push(a);
        }
        adjs.push(Adjacency::new(AdjKind::Incomplete, false, 1, 0));
        let mut f = Forwarding { lbs: Vec::new(), adjs, ll_glean: Vec::new(), fast: Vec::new() };
        f.seal();
        Published::new(f)
    }

    /// What a packet came out as: next, bytes, and the metadata the node
    /// sets.
    fn outcome(h: &Harness, bi: BufferIndex, next: u16) -> (String, Vec<u8>, i16, u32, i16) {
        let m = h.vm.bufs.meta(bi);
        (h.next_name(next).to_string(), h.bytes(bi), m.current_data, m.sw_if_index[TX], m.l2_hdr_offset)
    }

    /// Whatever the fast loop takes, it does exactly what the full path
    /// does to the same packet; the rest is the full path's anyway. Packets
    /// of every kind: TTLs 0..3, lengths around the MTU, DF set or not,
    /// locally originated, short headers, little headroom, chained, every
    /// adjacency and one past them.
    #[test]
    fn fast_loop_agrees_with_the_full_path() {
        let fwd = forwarding();
        let mut h = Harness::new(Box::new(IpRewrite::<false>::new(fwd.clone())), 4);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut fast_taken = 0;
        for _ in 0..100 {
            let mut pkts = Vec::new();
            let mut refs = Vec::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Lengths 70..=109 around adjacency 2's MTU of 100.
                let mut p = ip4((x % 4) as u8, 17, 50 + (x >> 8) as usize % 40);
                if x >> 16 & 1 != 0 {
                    p[6] |= 0x40;
                }
                if (x >> 17).is_multiple_of(16) {
                    p.truncate((x >> 24) as usize % 20);
                }
                let (a, b) = (h.packet(&p, 1), h.packet(&p, 1));
                for &bi in &[a, b] {
                    let m = h.vm.bufs.meta_mut(bi);
                    m.opaque[OPAQUE_ADJ] = (x >> 28) as u32 % 6;
                    m.l2_hdr_offset = 0;
                    if (x >> 32).is_multiple_of(8) {
                        m.flags |= flags::LOCALLY_ORIGINATED;
                    }
                    if (x >> 35).is_multiple_of(8) {
                        m.total_length_not_including_first_buffer = 50;
                    }
                    // Headroom from 128 down to a few bytes (the packet then
                    // starts with zeros).
                    m.current_data = -(((x >> 40) % 128) as i16);
                    h.vm.bufs.split_mut(bi).1[..rvpp_dataplane::buffer::HEADROOM].fill(0);
                }
                pkts.push(a);
                refs.push(b);
            }
            let nexts = h.run(&mut pkts);
            for (k, &bi) in refs.iter().enumerate() {
                let f = fwd.load();
                let mut c = Counts::default();
                let mut pk = h.vm.bufs.view();
                let (m, head, d) = pk.parts_mut(bi);
                let adj = f.adjs.get(m.opaque[OPAQUE_ADJ] as usize);
                let want = slow::<false>(m, head, d, adj, &mut c);
                let got = outcome(&h, pkts[k], nexts[k]);
                assert_eq!(got, outcome(&h, bi, want), "packet {k}");
                fast_taken += (got.0 == "interface-output") as u32;
            }
            h.vm.bufs.free(&pkts);
            h.vm.bufs.free(&refs);
        }
        assert!(fast_taken > 100, "only {fast_taken} sent");
    }
}
