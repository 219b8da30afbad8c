//! IPv6 Neighbor Discovery (RFC 4861) for the addresses rvpp owns: the
//! message ([`NdMsg`]), `ip6-nd`, and the solicitation `ip6-glean` sends
//! ([`build_solicitation`]).
//!
//! `ip6-local` hands `ip6-nd` the ICMPv6 types 133-136 with the packet at
//! its IPv6 header. [`NdMsg::parse`] validates them as §6.1 and §7.1 ask
//! (hop limit 255, code 0, checksum, length, no zero-length or truncated
//! option, no multicast or unspecified target, DAD solicitations only to a
//! solicited-node group and without a source link-layer option, no
//! solicited advertisement to a multicast group) and never panics. A
//! solicitation for an address of the receiving interface (global or
//! link-local) is answered in place with a router, solicited, override
//! advertisement carrying our link-layer address, sent back out that
//! interface (to all-nodes for DAD); the solicitation's source link-layer
//! option is learned. As §7.2.5 asks, an advertisement creates an entry
//! only when it answers a solicitation (solicited, to an address of the
//! receiving interface: ours go out from one; Linux too ignores an
//! unsolicited one for an unknown neighbor), and replaces a known entry's
//! other link-layer address only with the override flag. Router
//! solicitations and advertisements are counted and dropped: rvpp sends no
//! RAs yet.

use std::net::Ipv6Addr;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::{BufferIndex, CounterDesc, Vm};

use super::input::{self, Cx, NeighborInput, Protocol};
use super::{drop, received_src, Heard, Next};
use crate::ethernet::ethertype;
use crate::ip::addr::IfAddrs;
use crate::ip::{checksum, mask, proto, solicited_node};

/// ICMPv6 types of Neighbor Discovery.
pub const RS: u8 = 133;
pub const RA: u8 = 134;
pub const NS: u8 = 135;
pub const NA: u8 = 136;
/// An NS or NA with one link-layer address option, IPv6 header included.
pub const MSG_LEN: usize = 40 + 24 + 8;
/// Option types.
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
/// Advertisement flags.
pub const FLAG_ROUTER: u32 = 1 << 31;
pub const FLAG_SOLICITED: u32 = 1 << 30;
pub const FLAG_OVERRIDE: u32 = 1 << 29;
/// ff02::1
pub const ALL_NODES: u128 = 0xff02_0000_0000_0000_0000_0000_0000_0001;

/// Why a packet is not a valid ND message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdError {
    NotNd,
    TooShort,
    HopLimit,
    Code,
    Checksum,
    ZeroLengthOption,
    TruncatedOption,
    MulticastTarget,
    UnspecifiedTarget,
    BadDad,
    SolicitedToMulticast,
}

/// A validated ND message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdMsg {
    pub ty: u8,
    pub src: u128,
    pub dst: u128,
    /// An advertisement's R/S/O flags (0 for other types).
    pub flags: u32,
    /// A solicitation's or advertisement's target (0 for other types).
    pub target: u128,
    /// Source link-layer address option.
    pub source_ll: Option<[u8; 6]>,
    /// Target link-layer address option.
    pub target_ll: Option<[u8; 6]>,
}

fn u128_at(d: &[u8], at: usize) -> u128 {
    d.get(at..at + 16).map_or(0, |x| x.iter().fold(0u128, |a, &b| a << 8 | b as u128))
}

/// Whether `a` is link-local (fe80::/10).
pub fn is_link_local(a: u128) -> bool {
    a >> 118 == 0x3fa
}

/// Whether `a` is a neighbor's address on `sw`: link-local, or on one of
/// its connected prefixes.
pub fn on_link(addrs: &IfAddrs, sw: u32, a: u128) -> bool {
    is_link_local(a)
        || addrs
            .v6
            .get(sw as usize)
            .is_some_and(|l| l.iter().any(|&(x, len)| len < 128 && mask(true, x, len) == mask(true, a, len)))
}

/// The address `sw` solicits `target` from: link-local for a link-local
/// target, else its address on the target's prefix, its link-local, or its
/// first address.
pub fn source_for(addrs: &IfAddrs, sw: u32, target: u128) -> Option<u128> {
    let ll = addrs.ll.get(sw as usize).copied().filter(|&a| a != 0);
    let globals = addrs.v6.get(sw as usize).map_or(&[][..], |l| l.as_slice());
    let first = globals.first().map(|x| x.0);
    if is_link_local(target) {
        return ll.or(first);
    }
    globals.iter().find(|&&(a, len)| mask(true, a, len) == mask(true, target, len)).map(|x| x.0).or(ll).or(first)
}

impl NdMsg {
    /// Parses and validates an ND message from its IPv6 header on.
    pub fn parse(d: &[u8]) -> Result<NdMsg, NdError> {
        if d.len() < 40 {
            return Err(NdError::TooShort);
        }
        if d[0] >> 4 != 6 || d[6] != proto::ICMP6 {
            return Err(NdError::NotNd);
        }
        let plen = u16::from_be_bytes([d[4], d[5]]) as usize;
        let icmp = d.get(40..40 + plen).ok_or(NdError::TooShort)?;
        let ty = *icmp.first().ok_or(NdError::TooShort)?;
        let min = match ty {
            RS => 8,
            RA => 16,
            NS | NA => 24,
            _ => return Err(NdError::NotNd),
        };
        if icmp.len() < min {
            return Err(NdError::TooShort);
        }
        if d[7] != 255 {
            return Err(NdError::HopLimit);
        }
        if icmp[1] != 0 {
            return Err(NdError::Code);
        }
        let (s, t): (&[u8; 16], &[u8; 16]) = match (d[8..24].try_into(), d[24..40].try_into()) {
            (Ok(s), Ok(t)) => (s, t),
            _ => return Err(NdError::TooShort),
        };
        if checksum::fold(checksum::sum(icmp, checksum::pseudo6(s, t, proto::ICMP6, plen as u32))) != 0xffff {
            return Err(NdError::Checksum);
        }
        let mut m = NdMsg {
            ty,
            src: u128::from_be_bytes(*s),
            dst: u128::from_be_bytes(*t),
            flags: 0,
            target: 0,
            source_ll: None,
            target_ll: None,
        };
        let mut off = min;
        while off < icmp.len() {
            let o = &icmp[off..];
            if o.len() < 2 {
                return Err(NdError::TruncatedOption);
            }
            let len = o[1] as usize * 8;
            if len == 0 {
                return Err(NdError::ZeroLengthOption);
            }
            let opt = o.get(..len).ok_or(NdError::TruncatedOption)?;
            let mac = [opt[2], opt[3], opt[4], opt[5], opt[6], opt[7]];
            match opt[0] {
                OPT_SOURCE_LL => m.source_ll = Some(mac),
                OPT_TARGET_LL => m.target_ll = Some(mac),
                _ => {}
            }
            off += len;
        }
        if ty == NS || ty == NA {
            m.target = u128_at(icmp, 8);
            if m.target >> 120 == 0xff {
                return Err(NdError::MulticastTarget);
            }
            if m.target == 0 {
                return Err(NdError::UnspecifiedTarget);
            }
        }
        if ty == NS && m.src == 0 && (m.dst & !0xff_ffff != solicited_node(0) || m.source_ll.is_some()) {
            return Err(NdError::BadDad);
        }
        if ty == NA {
            m.flags = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
            if m.dst >> 120 == 0xff && m.flags & FLAG_SOLICITED != 0 {
                return Err(NdError::SolicitedToMulticast);
            }
        }
        Ok(m)
    }
}

/// Writes an NS or NA with one link-layer address option, IPv6 header and
/// checksum included.
#[allow(clippy::too_many_arguments)]
fn write_msg(out: &mut [u8; MSG_LEN], ty: u8, src: u128, dst: u128, word: u32, target: u128, opt: u8, mac: [u8; 6]) {
    out[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    out[4..6].copy_from_slice(&((MSG_LEN - 40) as u16).to_be_bytes());
    out[6] = proto::ICMP6;
    out[7] = 255;
    out[8..24].copy_from_slice(&src.to_be_bytes());
    out[24..40].copy_from_slice(&dst.to_be_bytes());
    out[40] = ty;
    out[41] = 0;
    out[42..44].copy_from_slice(&[0, 0]);
    out[44..48].copy_from_slice(&word.to_be_bytes());
    out[48..64].copy_from_slice(&target.to_be_bytes());
    out[64] = opt;
    out[65] = 1;
    out[66..72].copy_from_slice(&mac);
    let ck = checksum::l4(
        checksum::pseudo6(&src.to_be_bytes(), &dst.to_be_bytes(), proto::ICMP6, (MSG_LEN - 40) as u32),
        &out[40..],
    );
    out[42..44].copy_from_slice(&ck.to_be_bytes());
}

/// Writes a solicitation for `target` from `src` to `dst` (the target's
/// solicited-node group, or the target itself for a unicast probe), with
/// our link-layer address `mac`.
pub fn build_solicitation(out: &mut [u8; MSG_LEN], src: u128, dst: u128, target: u128, mac: [u8; 6]) {
    write_msg(out, NS, src, dst, 0, target, OPT_SOURCE_LL, mac);
}

/// Writes an advertisement of `target` at `mac`, from `target` to `dst`.
pub fn build_advertisement(out: &mut [u8; MSG_LEN], dst: u128, flags: u32, target: u128, mac: [u8; 6]) {
    write_msg(out, NA, target, dst, flags, target, OPT_TARGET_LL, mac);
}

/// A trace line: type, addresses, target, link-layer option.
pub fn format_nd(d: &[u8]) -> String {
    match NdMsg::parse(d) {
        Ok(m) => {
            let name = match m.ty {
                NS => "neighbor solicitation",
                NA => "neighbor advertisement",
                RS => "router solicitation",
                _ => "router advertisement",
            };
            let mut s = format!("ICMP6 {name}: {} -> {}", Ipv6Addr::from(m.src), Ipv6Addr::from(m.dst));
            if m.ty == NS || m.ty == NA {
                s += &format!("\n  target {}", Ipv6Addr::from(m.target));
            }
            if let Some(mac) = m.source_ll.or(m.target_ll) {
                s += &format!(" link-layer address {}", crate::ethernet::format_mac(&mac));
            }
            s
        }
        Err(e) => format!("malformed neighbor discovery ({e:?}), {} bytes", d.len()),
    }
}

/// `ip6-nd`'s counters, by their place in its counter list.
#[repr(usize)]
#[derive(Clone, Copy)]
pub enum Counter {
    NaSent,
    NsUnknownTarget,
    NsNotOnLink,
    NsLearned,
    NaReceived,
    NaLearned,
    NaNotOnLink,
    NaDuplicate,
    RsReceived,
    RaReceived,
    RaNotLinkLocal,
    /// The first of one counter per [`NdError`], in its order.
    Malformed,
    NoL2 = Counter::Malformed as usize + NdError::SolicitedToMulticast as usize + 1,
    IfDown,
    RateLimited,
}

static COUNTERS: [CounterDesc; 25] = [
    CounterDesc::info("neighbor advertisements sent"),
    CounterDesc::info("neighbor solicitations for unknown targets"),
    CounterDesc::warn("neighbor solicitations from source not on link"),
    CounterDesc::info("neighbor solicitation source learned"),
    CounterDesc::info("neighbor advertisements received"),
    CounterDesc::info("neighbor advertisement target learned"),
    CounterDesc::warn("neighbor advertisement target not on link"),
    CounterDesc::warn("neighbor advertisement for an address of ours (duplicate)"),
    CounterDesc::info("router solicitations received (not answered)"),
    CounterDesc::info("router advertisements received (ignored)"),
    CounterDesc::warn("router advertisement source not link local"),
    CounterDesc::error("not an ICMP6 neighbor discovery message"),
    CounterDesc::error("neighbor discovery message too short"),
    CounterDesc::error("hop limit != 255"),
    CounterDesc::error("ICMP6 code != 0"),
    CounterDesc::error("ICMP6 checksum error"),
    CounterDesc::error("option with zero length"),
    CounterDesc::error("option truncated"),
    CounterDesc::error("target address is multicast"),
    CounterDesc::error("target address is unspecified"),
    CounterDesc::error("DAD solicitation not to a solicited-node group or with source link-layer option"),
    CounterDesc::error("solicited advertisement to a multicast address"),
    CounterDesc::error("no link-layer address or room for advertisement"),
    CounterDesc::warn("interface down"),
    CounterDesc::info("neighbor learning rate limited"),
];

const _: () = assert!(Counter::RateLimited as usize + 1 == COUNTERS.len());

impl From<Counter> for usize {
    fn from(c: Counter) -> usize {
        c as usize
    }
}

/// The `ip6-nd` node.
pub type Ip6Nd = NeighborInput<NdMsg>;

impl Protocol for NdMsg {
    const NAME: &'static str = "ip6-nd";
    const IP6: bool = true;
    type Counter = Counter;
    const COUNTERS: &'static [CounterDesc] = &COUNTERS;
    const IF_DOWN: Counter = Counter::IfDown;
    const NO_L2: Counter = Counter::NoL2;
    const SENT: Counter = Counter::NaSent;
    const RATE_LIMITED: Counter = Counter::RateLimited;

    fn read(d: &[u8]) -> Result<NdMsg, usize> {
        NdMsg::parse(d).map_err(|e| Counter::Malformed as usize + e as usize)
    }

    fn format(d: &[u8]) -> String {
        format_nd(d)
    }

    fn handle(self, cx: &mut Cx<'_, NdMsg>, vm: &mut Vm, bi: BufferIndex, rx: u32, our_mac: [u8; 6]) -> Next {
        let m = self;
        match m.ty {
            NS => solicitation(cx, vm, bi, &m, rx, our_mac),
            NA => {
                vm.count(Counter::NaReceived as usize, 1);
                if cx.addrs.has6(rx, m.target) {
                    return drop(vm, Counter::NaDuplicate);
                }
                // An answer to a solicitation may create the entry; only the
                // override flag replaces a known entry's other address.
                // Without a target link-layer option (an answer to a unicast
                // probe), the frame's source refreshes a known entry at
                // that address.
                let solicited = m.flags & FLAG_SOLICITED != 0 && cx.addrs.has6(rx, m.dst);
                let (mac, heard) = match m.target_ll {
                    Some(mac) => (mac, Heard { create: solicited, replace: m.flags & FLAG_OVERRIDE != 0 }),
                    None => match received_src(vm, bi, ethertype::IP6).filter(|_| m.src == m.target) {
                        Some(mac) => (mac, Heard { create: false, replace: false }),
                        None => return Next::Drop,
                    },
                };
                if !on_link(cx.addrs, rx, m.target) {
                    return drop(vm, Counter::NaNotOnLink);
                }
                cx.learn(vm, rx, m.target, mac, heard, Counter::NaLearned);
                Next::Drop
            }
            RS => drop(vm, Counter::RsReceived),
            _ if is_link_local(m.src) => drop(vm, Counter::RaReceived),
            _ => drop(vm, Counter::RaNotLinkLocal),
        }
    }
}

/// Answers a solicitation for one of our addresses with an advertisement
/// built in place.
fn solicitation(cx: &mut Cx<'_, NdMsg>, vm: &mut Vm, bi: BufferIndex, m: &NdMsg, rx: u32, our_mac: [u8; 6]) -> Next {
    if !cx.addrs.has6(rx, m.target) {
        return drop(vm, Counter::NsUnknownTarget);
    }
    // RFC 4861 7.2.4: a router sets R; S unless answering DAD, which goes to
    // all-nodes.
    let (dst, dst_mac, fl) = if m.src == 0 {
        (ALL_NODES, Some([0x33, 0x33, 0, 0, 0, 1]), FLAG_ROUTER | FLAG_OVERRIDE)
    } else {
        if !on_link(cx.addrs, rx, m.src) {
            return drop(vm, Counter::NsNotOnLink);
        }
        if let Some(mac) = m.source_ll {
            cx.learn(vm, rx, m.src, mac, Heard::LEARN, Counter::NsLearned);
        }
        (m.src, m.source_ll, FLAG_ROUTER | FLAG_SOLICITED | FLAG_OVERRIDE)
    };
    let meta = vm.bufs.meta(bi);
    let room = vm.bufs.raw(bi).len() as isize - HEADROOM as isize - meta.current_data as isize;
    if meta.flags & flags::NEXT_PRESENT != 0 || room < MSG_LEN as isize {
        return drop(vm, Counter::NoL2);
    }
    vm.bufs.meta_mut(bi).current_length = MSG_LEN as u16;
    match vm.bufs.data_mut(bi).get_mut(..MSG_LEN).and_then(|x| <&mut [u8; MSG_LEN]>::try_from(x).ok()) {
        Some(out) => build_advertisement(out, dst, fl, m.target, our_mac),
        None => return drop(vm, Counter::NoL2),
    }
    cx.send_back(vm, bi, rx, dst_mac)
}

pub fn register(r: &mut Registrar) {
    input::register::<NdMsg>(r);
}

#[cfg(test)]
#[path = "nd_tests.rs"]
mod tests;
