//! ICMP errors (`ip4-icmp-error` / `ip6-icmp-error`): turn the offending
//! packet into an ICMP error addressed to its source, in the same buffer
//! (new headers prepended into the headroom, the original truncated to fit
//! 576 / 1280 bytes), then route it back through the lookup. Errors about
//! errors, about multicast, or from unspecified sources are not sent;
//! errors are rate limited per thread.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, BufferMeta, RX, TX};
use rvpp_dataplane::device::ErrorDrop;
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::addr::IfAddrTable;
use super::{checksum, names, proto};

/// ICMP types and codes used here.
pub struct Icmp;

impl Icmp {
    pub const TIME_EXCEEDED4: (u8, u8) = (11, 0);
    pub const NET_UNREACHABLE4: (u8, u8) = (3, 0);
    pub const HOST_UNREACHABLE4: (u8, u8) = (3, 1);
    pub const PROTO_UNREACHABLE4: (u8, u8) = (3, 2);
    pub const PORT_UNREACHABLE4: (u8, u8) = (3, 3);
    pub const FRAG_NEEDED4: (u8, u8) = (3, 4);
    pub const TIME_EXCEEDED6: (u8, u8) = (3, 0);
    pub const NO_ROUTE6: (u8, u8) = (1, 0);
    pub const ADDR_UNREACHABLE6: (u8, u8) = (1, 3);
    pub const PORT_UNREACHABLE6: (u8, u8) = (1, 4);
    pub const TOO_BIG6: (u8, u8) = (2, 0);
    pub const PARAM_PROBLEM6: (u8, u8) = (4, 1);
}

/// Opaque word holding the error's type and code.
const OPAQUE_ERR: usize = 1;
/// Opaque word holding the error's parameter (MTU, pointer).
const OPAQUE_PARAM: usize = 2;

/// Marks a packet for the icmp-error node.
#[inline]
pub fn set_error(m: &mut BufferMeta, ty: u8, code: u8, param: u32) {
    m.opaque[OPAQUE_ERR] = (ty as u32) << 8 | code as u32;
    m.opaque[OPAQUE_PARAM] = param;
}

/// A one-line summary of an IP header for traces.
pub fn format_ip_header(d: &[u8], ip6: bool) -> String {
    if ip6 {
        if d.len() < 40 {
            return format!("ip6: truncated ({} bytes)", d.len());
        }
        let s = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&d[8..24]).unwrap_or([0; 16]));
        let t = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&d[24..40]).unwrap_or([0; 16]));
        format!(
            "IP6: {s} -> {t}\n  proto {} hop-limit {} payload length {}",
            d[6],
            d[7],
            u16::from_be_bytes([d[4], d[5]])
        )
    } else {
        if d.len() < 20 {
            return format!("ip4: truncated ({} bytes)", d.len());
        }
        let s = std::net::Ipv4Addr::new(d[12], d[13], d[14], d[15]);
        let t = std::net::Ipv4Addr::new(d[16], d[17], d[18], d[19]);
        format!(
            "IP4: {s} -> {t}\n  proto {} ttl {} length {} checksum 0x{:04x} fragment id 0x{:04x}",
            d[9],
            d[8],
            u16::from_be_bytes([d[2], d[3]]),
            u16::from_be_bytes([d[10], d[11]]),
            u16::from_be_bytes([d[4], d[5]])
        )
    }
}

#[repr(u16)]
enum Next {
    Drop = 0,
    Lookup = 1,
}

#[repr(usize)]
enum Counter {
    Sent,
    NotSent,
    RateLimited,
    NoSource,
}

static COUNTERS: [CounterDesc; 4] = [
    CounterDesc::info("icmp errors sent"),
    CounterDesc::info("error not sent (about an error, multicast or a fragment)"),
    CounterDesc::warn("icmp errors rate limited"),
    CounterDesc::error("no source address for icmp error"),
];

/// Errors per second a thread sends, and its burst.
const RATE: f64 = 1000.0;
const BURST: f64 = 100.0;

/// The icmp-error node of one family.
pub struct IcmpError<const IP6: bool> {
    nexts: [&'static str; 2],
    addrs: IfAddrTable,
    tokens: f64,
    last: u64,
    per_tick: f64,
}

impl<const IP6: bool> IcmpError<IP6> {
    pub fn new(addrs: IfAddrTable) -> Self {
        IcmpError {
            nexts: [ErrorDrop::NAME, names(IP6).lookup],
            addrs,
            tokens: BURST,
            last: 0,
            per_tick: RATE / rvpp_dataplane::arch::tsc_hz(),
        }
    }

    fn allow(&mut self, now: u64) -> bool {
        self.tokens = (self.tokens + now.saturating_sub(self.last) as f64 * self.per_tick).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The upper-layer protocol of an IPv6 packet and where its header starts,
/// past the extension headers before it (hop-by-hop, routing, destination
/// options, fragment; at most eight). None when it cannot be told: a
/// non-first fragment, or headers cut short.
fn ip6_upper(d: &[u8]) -> Option<(u8, usize)> {
    const ROUTING: u8 = 43;
    const DST_OPTS: u8 = 60;
    let (mut nh, mut at) = (*d.get(6)?, 40);
    for _ in 0..8 {
        match nh {
            proto::HOP_BY_HOP | ROUTING | DST_OPTS => {
                let len = (usize::from(*d.get(at + 1)?) + 1) * 8;
                nh = *d.get(at)?;
                at += len;
            }
            proto::FRAGMENT => {
                let off = u16::from_be_bytes([*d.get(at + 2)?, *d.get(at + 3)?]) & 0xfff8;
                if off != 0 {
                    return None;
                }
                nh = *d.get(at)?;
                at += 8;
            }
            _ => return Some((nh, at)),
        }
    }
    None
}

/// Whether an error may be sent about this packet (RFC 1812 4.3.2.7 /
/// RFC 4443 2.4(e)).
fn may_send(d: &[u8], ip6: bool) -> bool {
    if ip6 {
        if d.len() < 40 {
            return false;
        }
        let src_unspec = d[8..24].iter().all(|&b| b == 0);
        let dst_mcast = d[24] == 0xff;
        let is_error = matches!(ip6_upper(d), Some((proto::ICMP6, at)) if d.get(at).is_some_and(|&t| t < 128));
        !(src_unspec || dst_mcast || is_error)
    } else {
        if d.len() < 20 {
            return false;
        }
        let ihl = (d[0] & 0xf) as usize * 4;
        let frag_offset = u16::from_be_bytes([d[6], d[7]]) & 0x1fff;
        let dst_mcast = d[16] >= 224;
        let src_bad = d[12] == 0 || d[12] >= 224 || d[12] == 127;
        let is_error = d[9] == proto::ICMP && d.len() > ihl && !matches!(d[ihl], 0 | 8 | 13 | 14 | 15 | 16);
        !(frag_offset != 0 || dst_mcast || src_bad || is_error)
    }
}

impl<const IP6: bool> Node for IcmpError<IP6> {
    fn name(&self) -> &'static str {
        names(IP6).icmp_error
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let addrs = self.addrs.load();
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            if !may_send(vm.bufs.data(bi), IP6) {
                vm.count(Counter::NotSent as usize, 1);
                frame.nexts[k] = Next::Drop as u16;
                continue;
            }
            if !self.allow(vm.now) {
                vm.count(Counter::RateLimited as usize, 1);
                frame.nexts[k] = Next::Drop as u16;
                continue;
            }
            let rx = vm.bufs.meta(bi).sw_if_index[RX];
            let ok = if IP6 { build6(vm, bi, &addrs, rx) } else { build4(vm, bi, &addrs, rx) };
            frame.nexts[k] = if ok {
                vm.count(Counter::Sent as usize, 1);
                Next::Lookup as u16
            } else {
                vm.count(Counter::NoSource as usize, 1);
                Next::Drop as u16
            };
        }
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| format_ip_header(b.data(bi), IP6));
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Cuts a packet (chain) to at most `max` bytes in its first buffer.
fn truncate(vm: &mut Vm, bi: BufferIndex, max: usize) {
    let first = vm.bufs.meta(bi).current_length as usize;
    vm.bufs.truncate_chain(bi, max.min(first));
}

fn build4(vm: &mut Vm, bi: BufferIndex, addrs: &super::addr::IfAddrs, rx: u32) -> bool {
    // About a packet addressed to us (port unreachable): answer from the
    // address it was sent to, as a host does; else from the rx interface.
    let d = vm.bufs.data(bi);
    let orig_dst = u32::from_be_bytes([d[16], d[17], d[18], d[19]]);
    let ours = addrs.any4(orig_dst);
    let Some(src) = (if ours { Some(orig_dst) } else { addrs.source4(rx) }) else { return false };
    let m = vm.bufs.meta(bi);
    let (ty, code) = ((m.opaque[OPAQUE_ERR] >> 8) as u8, m.opaque[OPAQUE_ERR] as u8);
    let param = m.opaque[OPAQUE_PARAM];
    // Original: its header + at most 548 bytes, so the error fits 576.
    truncate(vm, bi, 576 - 28);
    if !vm.bufs.advance(bi, -28) {
        return false;
    }
    let d = vm.bufs.data_mut(bi);
    let orig_src = [d[28 + 12], d[28 + 13], d[28 + 14], d[28 + 15]];
    let total = d.len();
    d[0] = 0x45;
    d[1] = 0;
    d[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    d[4..8].copy_from_slice(&[0, 0, 0, 0]);
    d[8] = 64;
    d[9] = proto::ICMP;
    d[10..12].copy_from_slice(&[0, 0]);
    d[12..16].copy_from_slice(&src.to_be_bytes());
    d[16..20].copy_from_slice(&orig_src);
    let c = checksum::checksum(&d[..20]);
    d[10..12].copy_from_slice(&c.to_be_bytes());
    d[20] = ty;
    d[21] = code;
    d[22..24].copy_from_slice(&[0, 0]);
    let rest = if (ty, code) == Icmp::FRAG_NEEDED4 { param & 0xffff } else { 0 };
    d[24..28].copy_from_slice(&rest.to_be_bytes());
    let c = checksum::checksum(&d[20..]);
    d[22..24].copy_from_slice(&c.to_be_bytes());
    let m = vm.bufs.meta_mut(bi);
    m.sw_if_index[TX] = u32::MAX;
    m.flags |= flags::LOCALLY_ORIGINATED;
    true
}

fn build6(vm: &mut Vm, bi: BufferIndex, addrs: &super::addr::IfAddrs, rx: u32) -> bool {
    let d = vm.bufs.data(bi);
    let ll = d[8] == 0xfe && d[9] & 0xc0 == 0x80;
    let orig_dst = u128::from_be_bytes(d[24..40].try_into().unwrap_or([0; 16]));
    let ours = addrs.any6(orig_dst);
    let Some(src) = (if ours { Some(orig_dst) } else { addrs.source6(rx, ll) }) else { return false };
    let m = vm.bufs.meta(bi);
    let (ty, code) = ((m.opaque[OPAQUE_ERR] >> 8) as u8, m.opaque[OPAQUE_ERR] as u8);
    let param = m.opaque[OPAQUE_PARAM];
    truncate(vm, bi, 1280 - 48);
    if !vm.bufs.advance(bi, -48) {
        return false;
    }
    let d = vm.bufs.data_mut(bi);
    let mut orig_src = [0u8; 16];
    orig_src.copy_from_slice(&d[48 + 8..48 + 24]);
    let plen = (d.len() - 40) as u16;
    d[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    d[4..6].copy_from_slice(&plen.to_be_bytes());
    d[6] = proto::ICMP6;
    d[7] = 64;
    d[8..24].copy_from_slice(&src.to_be_bytes());
    d[24..40].copy_from_slice(&orig_src);
    d[40] = ty;
    d[41] = code;
    d[42..44].copy_from_slice(&[0, 0]);
    d[44..48].copy_from_slice(&param.to_be_bytes());
    let s: [u8; 16] = src.to_be_bytes();
    let c = checksum::l4(checksum::pseudo6(&s, &orig_src, proto::ICMP6, plen as u32), &d[40..]);
    d[42..44].copy_from_slice(&c.to_be_bytes());
    let m = vm.bufs.meta_mut(bi);
    m.sw_if_index[TX] = u32::MAX;
    m.flags |= flags::LOCALLY_ORIGINATED;
    true
}

pub fn register(r: &mut Registrar) {
    let a = r.ext.get_or_default::<IfAddrTable>().clone();
    let a6 = a.clone();
    r.node(NodeReg {
        name: names(false).icmp_error,
        factory: Arc::new(move |_| Box::new(IcmpError::<false>::new(a.clone()))),
    });
    r.node(NodeReg {
        name: names(true).icmp_error,
        factory: Arc::new(move |_| Box::new(IcmpError::<true>::new(a6.clone()))),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::addr::IfAddrs;
    use rvpp_dataplane::testing::Harness;

    #[test]
    fn ttl_exceeded_is_built_in_place() {
        let addrs = IfAddrTable::default();
        addrs.store(IfAddrs { v4: vec![vec![], vec![(0x0a00_00fe, 24)]], ..Default::default() });
        let mut h = Harness::new(Box::new(IcmpError::<false>::new(addrs)), 2);
        let orig = crate::ip::input::tests::ip4(1, 17, 40);
        let bi = h.packet(&orig, 1);
        set_error(h.vm.bufs.meta_mut(bi), 11, 0, 0);
        let mut p = [bi];
        let n = h.run(&mut p);
        assert_eq!(h.next_name(n[0]), "ip4-lookup");
        let d = h.bytes(bi);
        assert_eq!(d.len(), 28 + orig.len());
        assert_eq!(&d[12..16], &[10, 0, 0, 254], "source: the rx interface's address");
        assert_eq!(&d[16..20], &orig[12..16], "sent back to the original source");
        assert_eq!((d[20], d[21]), (11, 0));
        assert_eq!(checksum::checksum(&d[..20]), 0);
        assert_eq!(checksum::checksum(&d[20..]), 0);
        assert_eq!(&d[28..], &orig[..]);
    }

    /// An ICMPv6 error behind extension headers is still an error: no
    /// error about it (RFC 4443 2.4(e.1)); an informational message, or
    /// one whose headers are cut short or a later fragment, may get one.
    #[test]
    fn no_icmp6_error_about_an_error_behind_extension_headers() {
        let ip6 = |nh: u8, ext: &[u8]| {
            let mut d = vec![0x60, 0, 0, 0, 0, 0, nh, 1];
            d.extend_from_slice(&(0x2001_0db8u128 << 96 | 2).to_be_bytes());
            d.extend_from_slice(&(0x2001_0db8u128 << 96 | 9).to_be_bytes());
            d.extend_from_slice(ext);
            d
        };
        let icmp = |t: u8| [t, 0, 0, 0, 0, 0, 0, 0];
        // Destination options (8 bytes), then a first fragment, then ICMPv6.
        let mut chain = vec![44, 0, 1, 4, 0, 0, 0, 0];
        chain.extend_from_slice(&[58, 0, 0, 0, 0, 0, 0, 7]);
        let err = [chain.as_slice(), &icmp(1)].concat();
        let info = [chain.as_slice(), &icmp(128)].concat();
        assert!(!may_send(&ip6(58, &icmp(3)), true), "plain ICMPv6 error");
        assert!(!may_send(&ip6(60, &err), true), "error behind dest opts and a fragment header");
        assert!(may_send(&ip6(60, &info), true), "echo request behind them");
        assert!(may_send(&ip6(60, &err[..4]), true), "cut short: cannot tell");
        let mut later = err.clone();
        later[10..12].copy_from_slice(&0x0100u16.to_be_bytes());
        assert!(may_send(&ip6(60, &later), true), "a later fragment has no ICMPv6 header");
        assert!(may_send(&ip6(17, &[0; 8]), true), "UDP");
    }

    #[test]
    fn no_error_about_an_error_or_multicast() {
        let addrs = IfAddrTable::default();
        addrs.store(IfAddrs { v4: vec![vec![(0x0a00_00fe, 24)]], ..Default::default() });
        let mut h = Harness::new(Box::new(IcmpError::<false>::new(addrs)), 1);
        let mut e = crate::ip::input::tests::ip4(1, 1, 8);
        e[20] = 3;
        let mut mc = crate::ip::input::tests::ip4(1, 17, 8);
        mc[16] = 239;
        let mut p = [h.packet(&e, 0), h.packet(&mc, 0)];
        let n = h.run(&mut p);
        assert_eq!(n, [0, 0]);
        assert_eq!(h.counter("error not sent (about an error, multicast or a fragment)"), 2);
    }
}
