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

use std::any::Any;
use std::net::Ipv4Addr;
use std::sync::Arc;

use rvpp_dataplane::buffer::{RX, TX};
use rvpp_dataplane::device::{ErrorDrop, InterfaceOutput};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::interface::IfSnapshot;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::{push_l2, received_src, Learn, Learner, NeighborPub, NeighborShared, NeighborTable};
use crate::ethernet::sub::{SubTable, Subs};
use crate::ethernet::{ethertype, format_mac, EtherTypes};
use crate::ip::addr::{IfAddrTable, IfAddrs};
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

#[repr(u16)]
#[derive(Clone, Copy)]
enum Next {
    Drop = 0,
    Output = 1,
}

#[repr(usize)]
#[derive(Clone, Copy)]
enum Counter {
    RepliesSent,
    RequestLearned,
    RepliesReceived,
    Gratuitous,
    DstNotLocal,
    SrcNotLocal,
    SrcIsLocal,
    TooShort,
    HardwareType,
    ProtocolType,
    AddressLength,
    Opcode,
    SenderMulticast,
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

impl From<ArpError> for Counter {
    fn from(e: ArpError) -> Counter {
        match e {
            ArpError::TooShort => Counter::TooShort,
            ArpError::HardwareType => Counter::HardwareType,
            ArpError::ProtocolType => Counter::ProtocolType,
            ArpError::AddressLength => Counter::AddressLength,
            ArpError::Opcode => Counter::Opcode,
        }
    }
}

/// Counts `c` and drops.
fn drop(vm: &mut Vm, c: Counter) -> Next {
    vm.count(c as usize, 1);
    Next::Drop
}

/// The `arp-input` node.
pub struct ArpInput {
    addrs: IfAddrTable,
    subs: Subs,
    shared: NeighborPub,
    learner: Learner,
}

impl ArpInput {
    pub const NAME: &'static str = "arp-input";

    pub fn new(addrs: IfAddrTable, subs: Subs, shared: NeighborPub) -> Self {
        ArpInput { addrs, subs, shared, learner: Learner::default() }
    }

    fn one(
        &mut self,
        vm: &mut Vm,
        bi: BufferIndex,
        addrs: &IfAddrs,
        subs: &SubTable,
        shared: &NeighborShared,
        ifs: &IfSnapshot,
    ) -> Next {
        let rx = vm.bufs.meta(bi).sw_if_index[RX];
        let arp = match Arp::parse(vm.bufs.data(bi)) {
            Ok(a) => a,
            Err(e) => return drop(vm, e.into()),
        };
        let Some(our_mac) = ifs.ifs.get(rx as usize).filter(|f| f.admin_up).map(|f| f.mac) else {
            return drop(vm, Counter::IfDown);
        };
        if addrs.v4.get(rx as usize).is_none_or(|l| l.is_empty()) {
            return drop(vm, Counter::NotIpEnabled);
        }
        if arp.sha[0] & 1 != 0 {
            return drop(vm, Counter::SenderMulticast);
        }
        if received_src(vm, bi, ethertype::ARP).is_some_and(|s| s != arp.sha) {
            return drop(vm, Counter::L2Mismatch);
        }
        if arp.sha == our_mac || addrs.has4(rx, arp.spa) {
            return drop(vm, Counter::SrcIsLocal);
        }
        let on_link = arp.spa != 0 && host_on_link(addrs, rx, arp.spa);
        if arp.op == OP_REQUEST && addrs.has4(rx, arp.tpa) {
            // A probe (sender 0.0.0.0, RFC 5227) is answered, not learned.
            if arp.spa != 0 {
                if !on_link {
                    return drop(vm, Counter::SrcNotLocal);
                }
                self.learn(vm, shared, rx, &arp, Counter::RequestLearned);
            }
            return self.reply(vm, bi, subs, rx, our_mac, &arp);
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
        self.learn(vm, shared, rx, &arp, learned);
        Next::Drop
    }

    fn learn(&mut self, vm: &mut Vm, shared: &NeighborShared, rx: u32, arp: &Arp, c: Counter) {
        match self.learner.learn(vm, shared, false, rx, arp.spa as u128, arp.sha, true) {
            Learn::RateLimited => vm.count(Counter::RateLimited as usize, 1),
            Learn::Post | Learn::Known => vm.count(c as usize, 1),
        }
    }

    /// Turns the request into its reply in place and sends it back.
    fn reply(&mut self, vm: &mut Vm, bi: BufferIndex, subs: &SubTable, rx: u32, our_mac: [u8; 6], arp: &Arp) -> Next {
        let r = Arp { op: OP_REPLY, sha: our_mac, spa: arp.tpa, tha: arp.sha, tpa: arp.spa };
        let d = vm.bufs.data_mut(bi);
        if let Some(h) = d.get_mut(..LEN).and_then(|x| <&mut [u8; LEN]>::try_from(x).ok()) {
            r.emit(h);
        }
        if let Some(pad) = d.get_mut(LEN..) {
            pad.fill(0);
        }
        if push_l2(vm, bi, subs, rx, Some(arp.sha), ethertype::ARP).is_err() {
            return drop(vm, Counter::NoL2);
        }
        vm.bufs.meta_mut(bi).sw_if_index[TX] = rx;
        vm.count(Counter::RepliesSent as usize, 1);
        Next::Output
    }
}

impl Node for ArpInput {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[ErrorDrop::NAME, InterfaceOutput::NAME]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let addrs = self.addrs.load();
        let subs = self.subs.load();
        let shared = self.shared.load();
        let ifs = vm.ifs.clone();
        let tracing = vm.tracing();
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            if tracing {
                vm.trace(bi, |b| format_arp(b.data(bi)));
            }
            frame.nexts[k] = self.one(vm, bi, &addrs, &subs, &shared, &ifs) as u16;
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    EtherTypes::add(r, ethertype::ARP, ArpInput::NAME);
    let addrs = r.ext.get_or_default::<IfAddrTable>().clone();
    let subs = r.ext.get_or_default::<Subs>().clone();
    let shared = r.ext.get_or_default::<NeighborTable>().shared();
    r.node(NodeReg {
        name: ArpInput::NAME,
        factory: Arc::new(move |_| Box::new(ArpInput::new(addrs.clone(), subs.clone(), shared.clone()))),
    });
}

#[cfg(test)]
#[path = "arp_tests.rs"]
mod tests;
