//! ARP for IPv4 over Ethernet (RFC 826): the packet ([`Arp`]), `arp-input`,
//! and the request `ip4-glean` sends ([`build_request`]).
//!
//! `arp-input` gets the packet at its ARP header (`ethernet-input` stripped
//! the Ethernet header and any VLAN tags; `sw_if_index[RX]` is the
//! interface, sub-interface included). It answers requests for one of that
//! interface's addresses in place — the reply leaves through the same
//! interface with the frame's VLAN tags — and learns the requester; it
//! learns replies and gratuitous ARP from hosts on the interface's connected
//! subnets. Everything else is a counted drop, malformed packets with a
//! reason naming the fault. [`Arp::parse`] checks lengths once and never
//! panics.

use std::net::Ipv4Addr;

use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::{BufferIndex, CounterDesc, Vm};

use super::input::{self, Cx, NeighborInput, Protocol};
use super::{drop, received_src, Heard, Next};
use crate::ethernet::{ethertype, format_mac, EtherTypes};
use crate::ip::addr::IfAddrs;
use crate::ip::mask;

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;
/// ARP hardware type of Ethernet.
const HW_ETHERNET: u16 = 1;

/// Why a packet is not an Ethernet/IPv4 ARP request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpError {
    TooShort,
    HardwareType,
    ProtocolType,
    AddressLength,
    Opcode,
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: u32,
    pub tha: [u8; 6],
    pub tpa: u32,
}

impl Arp {
    /// Parses an Ethernet/IPv4 request or reply from the ARP header on
    /// (trailing padding ignored).
    pub fn parse(d: &[u8]) -> Result<Arp, ArpError> {
        let h = d.get(..8).ok_or(ArpError::TooShort)?;
        if u16::from_be_bytes([h[0], h[1]]) != HW_ETHERNET {
            return Err(ArpError::HardwareType);
        }
        if u16::from_be_bytes([h[2], h[3]]) != ethertype::IP4 {
            return Err(ArpError::ProtocolType);
        }
        if h[4] != 6 || h[5] != 4 {
            return Err(ArpError::AddressLength);
        }
        let op = u16::from_be_bytes([h[6], h[7]]);
        if op != OP_REQUEST && op != OP_REPLY {
            return Err(ArpError::Opcode);
        }
        let d: &[u8; LEN] = d.get(..LEN).and_then(|x| x.try_into().ok()).ok_or(ArpError::TooShort)?;
        let mac = |at: usize| [d[at], d[at + 1], d[at + 2], d[at + 3], d[at + 4], d[at + 5]];
        let ip = |at: usize| u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
        Ok(Arp { op, sha: mac(8), spa: ip(14), tha: mac(18), tpa: ip(24) })
    }

    /// Writes the packet.
    pub fn emit(&self, out: &mut [u8; LEN]) {
        out[0..2].copy_from_slice(&HW_ETHERNET.to_be_bytes());
        out[2..4].copy_from_slice(&ethertype::IP4.to_be_bytes());
        out[4] = 6;
        out[5] = 4;
        out[6..8].copy_from_slice(&self.op.to_be_bytes());
        out[8..14].copy_from_slice(&self.sha);
        out[14..18].copy_from_slice(&self.spa.to_be_bytes());
        out[18..24].copy_from_slice(&self.tha);
        out[24..28].copy_from_slice(&self.tpa.to_be_bytes());
    }
}

/// Writes the request `ip4-glean` sends: who has `tpa`, tell `spa` at `sha`.
pub fn build_request(out: &mut [u8; LEN], sha: [u8; 6], spa: u32, tpa: u32) {
    Arp { op: OP_REQUEST, sha, spa, tha: [0; 6], tpa }.emit(out);
}

/// Whether `a` may be a host of the subnet `len` (not its network or
/// broadcast address, except on /31 and /32).
pub fn is_host(a: u32, len: u8) -> bool {
    if len >= 31 {
        return true;
    }
    let m = u32::MAX >> len;
    let host = a & m;
    host != 0 && host != m
}

/// Whether `a` is a host on a connected subnet of `sw`.
pub fn host_on_link(addrs: &IfAddrs, sw: u32, a: u32) -> bool {
    addrs.v4.get(sw as usize).is_some_and(|l| {
        l.iter().any(|&(x, len)| mask(false, x as u128, len) == mask(false, a as u128, len) && is_host(a, len))
    })
}

/// The address `sw` asks for `target` from: its address on the target's
/// subnet, else its first.
pub fn source_for(addrs: &IfAddrs, sw: u32, target: u32) -> Option<u32> {
    let l = addrs.v4.get(sw as usize)?;
    l.iter()
        .find(|&&(a, len)| mask(false, a as u128, len) == mask(false, target as u128, len))
        .or_else(|| l.first())
        .map(|x| x.0)
}

/// `request, type ethernet/IP4, address size 6/4` and the addresses.
pub fn format_arp(d: &[u8]) -> String {
    match Arp::parse(d) {
        Ok(a) => format!(
            "{}, type ethernet/IP4, address size 6/4\n  {}/{} -> {}/{}",
            if a.op == OP_REQUEST { "request" } else { "reply" },
            format_mac(&a.sha),
            Ipv4Addr::from(a.spa),
            format_mac(&a.tha),
            Ipv4Addr::from(a.tpa)
        ),
        Err(e) => format!("malformed ARP ({e:?}), {} bytes", d.len()),
    }
}

/// `arp-input`'s counters, by their place in its counter list.
#[repr(usize)]
#[derive(Clone, Copy)]
pub enum Counter {
    RepliesSent,
    RequestLearned,
    RepliesReceived,
    Gratuitous,
    DstNotLocal,
    SrcNotLocal,
    SrcIsLocal,
    /// The first of one counter per [`ArpError`], in its order.
    Malformed,
    SenderMulticast = Counter::Malformed as usize + ArpError::Opcode as usize + 1,
    L2Mismatch,
    NotIpEnabled,
    IfDown,
    NoL2,
    RateLimited,
}

static COUNTERS: [CounterDesc; 18] = [
    CounterDesc::info("ARP replies sent"),
    CounterDesc::info("ARP request IP4 source address learned"),
    CounterDesc::info("ARP replies received"),
    CounterDesc::info("gratuitous ARP learned"),
    CounterDesc::info("IP4 destination address not local to subnet"),
    CounterDesc::warn("IP4 source address not local to subnet"),
    CounterDesc::warn("IP4 source address matches local interface"),
    CounterDesc::error("ARP packet too short"),
    CounterDesc::error("L2 type not ethernet"),
    CounterDesc::error("L3 type not IP4"),
    CounterDesc::error("wrong hardware/protocol address length"),
    CounterDesc::error("ARP opcode not request or reply"),
    CounterDesc::error("ARP sender hardware address is multicast"),
    CounterDesc::error("ARP hw addr does not match L2 frame src addr"),
    CounterDesc::warn("Interface is not IP enabled"),
    CounterDesc::warn("interface down"),
    CounterDesc::error("no room or interface for reply header"),
    CounterDesc::info("neighbor learning rate limited"),
];

const _: () = assert!(Counter::RateLimited as usize + 1 == COUNTERS.len());

impl From<Counter> for usize {
    fn from(c: Counter) -> usize {
        c as usize
    }
}

/// The `arp-input` node.
pub type ArpInput = NeighborInput<Arp>;

impl Protocol for Arp {
    const NAME: &'static str = "arp-input";
    const IP6: bool = false;
    type Counter = Counter;
    const COUNTERS: &'static [CounterDesc] = &COUNTERS;
    const IF_DOWN: Counter = Counter::IfDown;
    const NO_L2: Counter = Counter::NoL2;
    const SENT: Counter = Counter::RepliesSent;
    const RATE_LIMITED: Counter = Counter::RateLimited;

    fn read(d: &[u8]) -> Result<Arp, usize> {
        Arp::parse(d).map_err(|e| Counter::Malformed as usize + e as usize)
    }

    fn format(d: &[u8]) -> String {
        format_arp(d)
    }

    fn handle(self, cx: &mut Cx<'_, Arp>, vm: &mut Vm, bi: BufferIndex, rx: u32, our_mac: [u8; 6]) -> Next {
        let arp = self;
        if cx.addrs.v4.get(rx as usize).is_none_or(|l| l.is_empty()) {
            return drop(vm, Counter::NotIpEnabled);
        }
        if arp.sha[0] & 1 != 0 {
            return drop(vm, Counter::SenderMulticast);
        }
        if received_src(vm, bi, ethertype::ARP).is_some_and(|s| s != arp.sha) {
            return drop(vm, Counter::L2Mismatch);
        }
        if arp.sha == our_mac || cx.addrs.has4(rx, arp.spa) {
            return drop(vm, Counter::SrcIsLocal);
        }
        let on_link = arp.spa != 0 && host_on_link(cx.addrs, rx, arp.spa);
        if arp.op == OP_REQUEST && cx.addrs.has4(rx, arp.tpa) {
            // A probe (sender 0.0.0.0, RFC 5227) is answered, not learned.
            if arp.spa != 0 {
                if !on_link {
                    return drop(vm, Counter::SrcNotLocal);
                }
                cx.learn(vm, rx, arp.spa as u128, arp.sha, Heard::LEARN, Counter::RequestLearned);
            }
            return reply(cx, vm, bi, rx, our_mac, &arp);
        }
        let learned = if arp.spa == arp.tpa {
            Counter::Gratuitous
        } else if arp.op == OP_REQUEST {
            return drop(vm, Counter::DstNotLocal);
        } else {
            Counter::RepliesReceived
        };
        if !on_link {
            return drop(vm, Counter::SrcNotLocal);
        }
        cx.learn(vm, rx, arp.spa as u128, arp.sha, Heard::LEARN, learned);
        Next::Drop
    }
}

/// Turns the request into its reply in place and sends it back.
fn reply(cx: &Cx<'_, Arp>, vm: &mut Vm, bi: BufferIndex, rx: u32, our_mac: [u8; 6], arp: &Arp) -> Next {
    let r = Arp { op: OP_REPLY, sha: our_mac, spa: arp.tpa, tha: arp.sha, tpa: arp.spa };
    let d = vm.bufs.data_mut(bi);
    if let Some(h) = d.get_mut(..LEN).and_then(|x| <&mut [u8; LEN]>::try_from(x).ok()) {
        r.emit(h);
    }
    if let Some(pad) = d.get_mut(LEN..) {
        pad.fill(0);
    }
    cx.send_back(vm, bi, rx, Some(arp.sha))
}

pub fn register(r: &mut Registrar) {
    EtherTypes::add(r, ethertype::ARP, ArpInput::NAME);
    input::register::<Arp>(r);
}

#[cfg(test)]
#[path = "arp_tests.rs"]
mod tests;
