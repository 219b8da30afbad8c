//! `ip4-local` / `ip6-local`: packets addressed to rvpp. ICMP echo requests
//! are answered in place (the reply routes back through the lookup), echo
//! replies feed `ping`, IPv4 fragments go to reassembly, ND messages to
//! `ip6-nd`; a protocol registered in [`IpProtocols`] (TCP for the
//! hoststack) goes to its node with `current_data` at the L4 header; UDP and
//! TCP with no registration get ICMP port unreachable, other protocols
//! protocol unreachable (IPv4) or a counted drop. ICMP error messages
//! (IPv4 destination unreachable, time exceeded, parameter problem; IPv6
//! types 1-4: unreachable, packet too big, time exceeded, parameter
//! problem) go to the node registered for ICMP / ICMPv6, the hoststack's
//! path MTU discovery, once their checksum is good and they quote at least
//! an IP header and 8 bytes of a packet whose source is one of our
//! addresses; with no registration they stay counted drops.

use std::any::Any;
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::{flags, RX};
use rvpp_dataplane::device::ErrorDrop;
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::addr::{IfAddrTable, IfAddrs};
use super::icmp::{set_error, Icmp};
use super::ping::{PingReply, PingTable};
use super::{checksum, names, proto};

#[repr(u16)]
enum Next {
    Drop = 0,
    Lookup = 1,
    IcmpError = 2,
    /// ip4-reassembly or ip6-nd.
    Special = 3,
    /// First arc of the L4 protocol table ([`IpProtocols`]).
    Protocols = 4,
}

#[repr(usize)]
enum Counter {
    EchoReplies,
    PingReplies,
    BadChecksum,
    Unhandled,
    PortUnreachable,
    ProtoUnreachable,
    Fragments,
    Nd,
    Broadcast,
    L4,
    IcmpErrors,
    IcmpErrorNotOurs,
}

static COUNTERS: [CounterDesc; 12] = [
    CounterDesc::info("echo replies sent"),
    CounterDesc::info("echo replies received (ping)"),
    CounterDesc::error("icmp checksum error"),
    CounterDesc::info("icmp type not handled"),
    CounterDesc::info("udp/tcp to closed port"),
    CounterDesc::info("unknown ip protocol"),
    CounterDesc::info("fragments to reassembly"),
    CounterDesc::info("neighbor discovery"),
    CounterDesc::info("broadcast/multicast not answered"),
    CounterDesc::info("to a registered l4 protocol"),
    CounterDesc::info("icmp errors to their handler"),
    CounterDesc::error("icmp error not quoting a packet of ours"),
];

/// Which node receives each IP protocol addressed to rvpp (VPP's
/// `ip4_register_protocol` / `ip6_register_protocol`): a crate adds itself
/// here before the graph is built (`IpProtocols::add(r, false, 6,
/// "tcp4-input")`). A protocol with no entry keeps `ip-local`'s own answer.
/// An entry for ICMP (1) or ICMPv6 (58) receives only the error messages
/// (see the module docs); echo and neighbor discovery stay here.
#[derive(Default, Clone, Debug)]
pub struct IpProtocols(pub Vec<(bool, u8, &'static str)>);

impl IpProtocols {
    /// Registers `node` as the receiver of `protocol` over IPv6 (`ip6`) or
    /// IPv4; a later registration of the same pair replaces the earlier.
    pub fn add(r: &mut Registrar, ip6: bool, protocol: u8, node: &'static str) {
        let t = r.ext.get_or_default::<IpProtocols>();
        t.0.retain(|x| (x.0, x.1) != (ip6, protocol));
        t.0.push((ip6, protocol, node));
    }
}

/// The local-delivery node of one family.
pub struct IpLocal<const IP6: bool> {
    nexts: Vec<&'static str>,
    /// Next arc per IP protocol; 0 (the drop arc) means not registered.
    l4: [u16; 256],
    addrs: IfAddrTable,
    ping: Arc<Mutex<PingTable>>,
}

impl<const IP6: bool> IpLocal<IP6> {
    /// A local node with no L4 protocol registered.
    pub fn new(addrs: IfAddrTable, ping: Arc<Mutex<PingTable>>) -> Self {
        Self::with_protocols(addrs, ping, &IpProtocols::default())
    }

    /// A local node handing this family's registered protocols to their nodes.
    pub fn with_protocols(addrs: IfAddrTable, ping: Arc<Mutex<PingTable>>, protocols: &IpProtocols) -> Self {
        let n = names(IP6);
        let special = if IP6 { "ip6-nd" } else { "ip4-reassembly" };
        let mut nexts = vec![ErrorDrop::NAME, n.lookup, n.icmp_error, special];
        let mut l4 = [0u16; 256];
        for &(ip6, p, node) in &protocols.0 {
            if ip6 == IP6 {
                l4[p as usize] = nexts.len() as u16;
                nexts.push(node);
            }
        }
        debug_assert!(nexts.len() >= Next::Protocols as usize);
        IpLocal { nexts, l4, addrs, ping }
    }

    /// Hands a packet to its L4 node: `current_data` moves to the L4 header,
    /// the L3/L4 offsets are set. `hdr` is the IP header length.
    fn to_l4(vm: &mut Vm, bi: BufferIndex, hdr: usize, next: u16) -> u16 {
        let m = vm.bufs.meta_mut(bi);
        m.l3_hdr_offset = m.current_data;
        if !vm.bufs.advance(bi, hdr as i16) {
            return Next::Drop as u16;
        }
        let m = vm.bufs.meta_mut(bi);
        m.l4_hdr_offset = m.current_data;
        m.flags |= flags::L3_HDR_VALID | flags::L4_HDR_VALID;
        vm.count(Counter::L4 as usize, 1);
        next
    }

    fn ping_reply(&self, vm: &Vm, bi: BufferIndex, from: u128, id: u16, seq: u16, ttl: u8) {
        if let Ok(mut p) = self.ping.lock() {
            p.record(PingReply { id, seq, from, ttl, bytes: vm.bufs.chain_len(bi), tsc: vm.now });
        }
    }
}

/// The ICMP sum over a whole (possibly chained) packet from `off`.
fn chain_sum(vm: &Vm, bi: BufferIndex, off: usize, acc: u64) -> u64 {
    if vm.bufs.meta(bi).flags & flags::NEXT_PRESENT == 0 {
        return checksum::sum(vm.bufs.data(bi).get(off..).unwrap_or(&[]), acc);
    }
    checksum::sum(vm.bufs.chain_bytes(bi).get(off..).unwrap_or(&[]), acc)
}

impl<const IP6: bool> IpLocal<IP6> {
    /// Hands ICMP error `bi` (IP header `ihl` bytes, checksum checked) to
    /// the registered ICMP error handler: only when it quotes an IP header
    /// of this family (`ihl` and 8 bytes at least) whose source is one of
    /// `addrs`. Counted drops otherwise.
    fn icmp_error(&self, vm: &mut Vm, bi: BufferIndex, ihl: usize, addrs: &IfAddrs) -> u16 {
        let proto = if IP6 { proto::ICMP6 } else { proto::ICMP };
        let next = self.l4[proto as usize];
        if next == 0 {
            vm.count(Counter::Unhandled as usize, 1);
            return Next::Drop as u16;
        }
        let q = vm.bufs.data(bi).get(ihl + 8..).unwrap_or(&[]);
        let ours = if IP6 {
            q.len() >= 48 && q[0] >> 4 == 6 && q[8..24].try_into().is_ok_and(|a| addrs.any6(u128::from_be_bytes(a)))
        } else {
            let qihl = (q.first().copied().unwrap_or(0) & 0xf) as usize * 4;
            q.len() >= 28
                && q[0] >> 4 == 4
                && qihl >= 20
                && q.len() >= qihl + 8
                && q[12..16].try_into().is_ok_and(|a| addrs.any4(u32::from_be_bytes(a)))
        };
        if !ours {
            vm.count(Counter::IcmpErrorNotOurs as usize, 1);
            return Next::Drop as u16;
        }
        vm.count(Counter::IcmpErrors as usize, 1);
        Self::to_l4(vm, bi, ihl, next)
    }
}

impl<const IP6: bool> IpLocal<IP6> {
    fn one4(&self, vm: &mut Vm, bi: BufferIndex, addrs: &IfAddrs) -> u16 {
        let d = vm.bufs.data(bi);
        let ihl = (d[0] & 0xf) as usize * 4;
        if u16::from_be_bytes([d[6], d[7]]) & 0x3fff != 0 {
            vm.count(Counter::Fragments as usize, 1);
            return Next::Special as u16;
        }
        let dst = u32::from_be_bytes([d[16], d[17], d[18], d[19]]);
        // Not multicast, broadcast, class E or "this network": never a source.
        let unicast = dst >> 28 < 0xe && dst >> 24 != 0;
        match d[9] {
            proto::ICMP => {
                if d.len() < ihl + 8 {
                    vm.count(Counter::Unhandled as usize, 1);
                    return Next::Drop as u16;
                }
                if checksum::fold(chain_sum(vm, bi, ihl, 0)) != 0xffff {
                    vm.count(Counter::BadChecksum as usize, 1);
                    return Next::Drop as u16;
                }
                let d = vm.bufs.data(bi);
                match d[ihl] {
                    8 if unicast => {
                        let d = vm.bufs.data_mut(bi);
                        let mut src = [0u8; 4];
                        src.copy_from_slice(&d[12..16]);
                        d.copy_within(16..20, 12);
                        d[16..20].copy_from_slice(&src);
                        d[8] = 64;
                        d[10..12].copy_from_slice(&[0, 0]);
                        let c = checksum::checksum(&d[..ihl]);
                        d[10..12].copy_from_slice(&c.to_be_bytes());
                        // Type 8 -> 0, checksum recomputed whole (an
                        // incremental update cannot tell an all-zero message's
                        // 0xffff from 0x0000).
                        d[ihl] = 0;
                        d[ihl + 2..ihl + 4].copy_from_slice(&[0, 0]);
                        let ck = !checksum::fold(chain_sum(vm, bi, ihl, 0));
                        vm.bufs.data_mut(bi)[ihl + 2..ihl + 4].copy_from_slice(&ck.to_be_bytes());
                        vm.bufs.meta_mut(bi).flags |= flags::LOCALLY_ORIGINATED;
                        vm.count(Counter::EchoReplies as usize, 1);
                        Next::Lookup as u16
                    }
                    0 => {
                        let from = u32::from_be_bytes([d[12], d[13], d[14], d[15]]) as u128;
                        let id = u16::from_be_bytes([d[ihl + 4], d[ihl + 5]]);
                        let seq = u16::from_be_bytes([d[ihl + 6], d[ihl + 7]]);
                        let ttl = d[8];
                        self.ping_reply(vm, bi, from, id, seq, ttl);
                        vm.count(Counter::PingReplies as usize, 1);
                        Next::Drop as u16
                    }
                    8 => {
                        vm.count(Counter::Broadcast as usize, 1);
                        Next::Drop as u16
                    }
                    3 | 11 | 12 if unicast => self.icmp_error(vm, bi, ihl, addrs),
                    _ => {
                        vm.count(Counter::Unhandled as usize, 1);
                        Next::Drop as u16
                    }
                }
            }
            p if !unicast => {
                let _ = p;
                vm.count(Counter::Broadcast as usize, 1);
                Next::Drop as u16
            }
            p if self.l4[p as usize] != 0 => {
                let next = self.l4[p as usize];
                if d.len() < ihl {
                    Next::Drop as u16
                } else {
                    Self::to_l4(vm, bi, ihl, next)
                }
            }
            proto::UDP | proto::TCP => {
                vm.count(Counter::PortUnreachable as usize, 1);
                let (t, c) = Icmp::PORT_UNREACHABLE4;
                set_error(vm.bufs.meta_mut(bi), t, c, 0);
                Next::IcmpError as u16
            }
            _ => {
                vm.count(Counter::ProtoUnreachable as usize, 1);
                let (t, c) = Icmp::PROTO_UNREACHABLE4;
                set_error(vm.bufs.meta_mut(bi), t, c, 0);
                Next::IcmpError as u16
            }
        }
    }
}

impl<const IP6: bool> IpLocal<IP6> {
    fn one6(&self, vm: &mut Vm, bi: BufferIndex, addrs: &IfAddrs) -> u16 {
        let d = vm.bufs.data(bi);
        let dst_mcast = d[24] == 0xff;
        match d[6] {
            proto::ICMP6 => {
                if d.len() < 48 {
                    vm.count(Counter::Unhandled as usize, 1);
                    return Next::Drop as u16;
                }
                let mut s = [0u8; 16];
                let mut t = [0u8; 16];
                s.copy_from_slice(&d[8..24]);
                t.copy_from_slice(&d[24..40]);
                let plen = u16::from_be_bytes([d[4], d[5]]) as u32;
                let ty = d[40];
                if checksum::fold(chain_sum(vm, bi, 40, checksum::pseudo6(&s, &t, proto::ICMP6, plen))) != 0xffff {
                    vm.count(Counter::BadChecksum as usize, 1);
                    return Next::Drop as u16;
                }
                match ty {
                    128 => {
                        let rx = vm.bufs.meta(bi).sw_if_index[RX];
                        let src = if dst_mcast {
                            let ll = s[0] == 0xfe && s[1] & 0xc0 == 0x80;
                            match addrs.source6(rx, ll) {
                                Some(a) => a.to_be_bytes(),
                                None => return Next::Drop as u16,
                            }
                        } else {
                            t
                        };
                        let chained = vm.bufs.meta(bi).flags & flags::NEXT_PRESENT != 0;
                        let d = vm.bufs.data_mut(bi);
                        d[8..24].copy_from_slice(&src);
                        d[24..40].copy_from_slice(&s);
                        d[7] = 64;
                        d[40] = 129;
                        d[42..44].copy_from_slice(&[0, 0]);
                        let ck = if chained {
                            let pseudo = checksum::pseudo6(&src, &s, proto::ICMP6, plen);
                            !checksum::fold(chain_sum(vm, bi, 40, pseudo))
                        } else {
                            checksum::l4(checksum::pseudo6(&src, &s, proto::ICMP6, plen), &d[40..])
                        };
                        vm.bufs.data_mut(bi)[42..44].copy_from_slice(&ck.to_be_bytes());
                        vm.bufs.meta_mut(bi).flags |= flags::LOCALLY_ORIGINATED;
                        vm.count(Counter::EchoReplies as usize, 1);
                        Next::Lookup as u16
                    }
                    129 => {
                        let d = vm.bufs.data(bi);
                        let id = u16::from_be_bytes([d[44], d[45]]);
                        let seq = u16::from_be_bytes([d[46], d[47]]);
                        let ttl = d[7];
                        self.ping_reply(vm, bi, u128::from_be_bytes(s), id, seq, ttl);
                        vm.count(Counter::PingReplies as usize, 1);
                        Next::Drop as u16
                    }
                    133..=137 => {
                        vm.count(Counter::Nd as usize, 1);
                        Next::Special as u16
                    }
                    1..=4 => self.icmp_error(vm, bi, 40, addrs),
                    _ => {
                        vm.count(Counter::Unhandled as usize, 1);
                        Next::Drop as u16
                    }
                }
            }
            _ if dst_mcast => {
                vm.count(Counter::Broadcast as usize, 1);
                Next::Drop as u16
            }
            p if self.l4[p as usize] != 0 => Self::to_l4(vm, bi, 40, self.l4[p as usize]),
            proto::UDP | proto::TCP => {
                vm.count(Counter::PortUnreachable as usize, 1);
                let (t, c) = Icmp::PORT_UNREACHABLE6;
                set_error(vm.bufs.meta_mut(bi), t, c, 0);
                Next::IcmpError as u16
            }
            _ => {
                vm.count(Counter::ProtoUnreachable as usize, 1);
                Next::Drop as u16
            }
        }
    }
}

impl<const IP6: bool> Node for IpLocal<IP6> {
    fn name(&self) -> &'static str {
        names(IP6).local
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
            let min = if IP6 { 40 } else { 20 };
            if vm.bufs.data(bi).len() < min {
                frame.nexts[k] = Next::Drop as u16;
                continue;
            }
            frame.nexts[k] = if IP6 { self.one6(vm, bi, &addrs) } else { self.one4(vm, bi, &addrs) };
        }
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| super::icmp::format_ip_header(b.data(bi), IP6));
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let a = r.ext.get_or_default::<IfAddrTable>().clone();
    let p = r.ext.get_or_default::<Arc<Mutex<PingTable>>>().clone();
    let (a6, p6) = (a.clone(), p.clone());
    // The protocol table is read when the graph is built, after every crate
    // registered (hoststack's tcp4-input...).
    r.node(NodeReg {
        name: names(false).local,
        factory: Arc::new(move |init| {
            let protocols = init.ext.get::<IpProtocols>().cloned().unwrap_or_default();
            Box::new(IpLocal::<false>::with_protocols(a.clone(), p.clone(), &protocols))
        }),
    });
    r.node(NodeReg {
        name: names(true).local,
        factory: Arc::new(move |init| {
            let protocols = init.ext.get::<IpProtocols>().cloned().unwrap_or_default();
            Box::new(IpLocal::<true>::with_protocols(a6.clone(), p6.clone(), &protocols))
        }),
    });
    super::reass::register(r);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvpp_dataplane::testing::Harness;

    fn ip4(protocol: u8, dst: [u8; 4]) -> Vec<u8> {
        let mut d = vec![0u8; 40];
        d[0] = 0x45;
        d[2..4].copy_from_slice(&40u16.to_be_bytes());
        d[8] = 64;
        d[9] = protocol;
        d[12..16].copy_from_slice(&[10, 0, 0, 2]);
        d[16..20].copy_from_slice(&dst);
        let c = checksum::checksum(&d[..20]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        d
    }

    fn ip6(next_header: u8) -> Vec<u8> {
        let mut d = vec![0u8; 60];
        d[0] = 0x60;
        d[4..6].copy_from_slice(&20u16.to_be_bytes());
        d[6] = next_header;
        d[7] = 64;
        d[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        d[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        d
    }

    fn protocols() -> IpProtocols {
        IpProtocols(vec![(false, proto::TCP, "tcp4-input"), (true, proto::TCP, "tcp6-input")])
    }

    fn node<const IP6: bool>(p: &IpProtocols) -> Harness {
        let ping = Arc::new(Mutex::new(PingTable::default()));
        Harness::new(Box::new(IpLocal::<IP6>::with_protocols(IfAddrTable::default(), ping, p)), 2)
    }

    #[test]
    fn registered_protocol_goes_to_its_node_at_the_l4_header() {
        let mut h = node::<false>(&protocols());
        let tcp = h.packet(&ip4(proto::TCP, [10, 0, 0, 1]), 1);
        let udp = h.packet(&ip4(proto::UDP, [10, 0, 0, 1]), 1);
        let bcast = h.packet(&ip4(proto::TCP, [255, 255, 255, 255]), 1);
        let nexts = h.run(&mut [tcp, udp, bcast]);
        assert_eq!(h.next_name(nexts[0]), "tcp4-input");
        let m = h.vm.bufs.meta(tcp);
        assert_eq!((m.l3_hdr_offset, m.l4_hdr_offset, m.current_data, m.current_length), (0, 20, 20, 20));
        assert_eq!(h.next_name(nexts[1]), "ip4-icmp-error", "udp is not registered: port unreachable");
        assert_eq!(h.next_name(nexts[2]), ErrorDrop::NAME, "tcp to broadcast is never delivered");
        assert_eq!(h.counter("to a registered l4 protocol"), 1);
        assert_eq!(h.counter("udp/tcp to closed port"), 1);

        let mut h = node::<true>(&protocols());
        let tcp = h.packet(&ip6(proto::TCP), 1);
        let nexts = h.run(&mut [tcp]);
        assert_eq!(h.next_name(nexts[0]), "tcp6-input");
        let m = h.vm.bufs.meta(tcp);
        assert_eq!((m.l3_hdr_offset, m.l4_hdr_offset, m.current_length), (0, 40, 20));
    }

    #[test]
    fn without_a_registration_tcp_gets_port_unreachable() {
        for p in [IpProtocols::default(), IpProtocols(vec![(true, proto::TCP, "tcp6-input")])] {
            let mut h = node::<false>(&p);
            let tcp = h.packet(&ip4(proto::TCP, [10, 0, 0, 1]), 1);
            let nexts = h.run(&mut [tcp]);
            assert_eq!(h.next_name(nexts[0]), "ip4-icmp-error");
            assert_eq!(h.vm.bufs.meta(tcp).current_data, 0);
        }
        let mut h = node::<true>(&IpProtocols::default());
        let tcp = h.packet(&ip6(proto::TCP), 1);
        let nexts = h.run(&mut [tcp]);
        assert_eq!(h.next_name(nexts[0]), "ip6-icmp-error");
    }

    const US4: [u8; 4] = [10, 0, 0, 1];
    const US6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    /// A node whose interface 1 holds 10.0.0.1/24 and fd00::1/64, with the
    /// hoststack's ICMP error handlers registered when `handlers`.
    fn node_with_addrs<const IP6: bool>(handlers: bool) -> Harness {
        let mut p = protocols();
        if handlers {
            p.0.push((false, proto::ICMP, "tcp4-icmp-input"));
            p.0.push((true, proto::ICMP6, "tcp6-icmp-input"));
        }
        let a = IfAddrs {
            v4: vec![vec![], vec![(u32::from_be_bytes(US4), 24)]],
            v6: vec![vec![], vec![(u128::from_be_bytes(US6), 64)]],
            ll: vec![0, 0],
        };
        let ping = Arc::new(Mutex::new(PingTable::default()));
        Harness::new(Box::new(IpLocal::<IP6>::with_protocols(IfAddrTable::new(a), ping, &p)), 2)
    }

    /// An ICMPv4 error `ty`/`code` from a router to us, quoting the IP
    /// header and 8 bytes of a TCP segment from `quoted_src`.
    fn icmp4_error(ty: u8, code: u8, quoted_src: [u8; 4]) -> Vec<u8> {
        let mut q = ip4(proto::TCP, [10, 0, 9, 9]);
        q[12..16].copy_from_slice(&quoted_src);
        q[2..4].copy_from_slice(&1500u16.to_be_bytes());
        let mut icmp = vec![ty, code, 0, 0, 0, 0, 0x05, 0x78];
        icmp.extend_from_slice(&q[..28]);
        let c = checksum::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut d = ip4(proto::ICMP, US4);
        d.truncate(20);
        d[12..16].copy_from_slice(&[10, 0, 0, 254]);
        d[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
        d[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&d[..20]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        d.extend_from_slice(&icmp);
        d
    }

    /// An ICMPv6 error `ty` from a router to us, quoting the IPv6 header
    /// and 8 bytes of a TCP segment from `quoted_src`.
    fn icmp6_error(ty: u8, quoted_src: [u8; 16]) -> Vec<u8> {
        let mut q = ip6(proto::TCP);
        q[8..24].copy_from_slice(&quoted_src);
        let mut icmp = vec![ty, 0, 0, 0, 0, 0, 0x05, 0x00];
        icmp.extend_from_slice(&q[..48]);
        let mut d = ip6(proto::ICMP6);
        d.truncate(40);
        d[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe]);
        d[24..40].copy_from_slice(&US6);
        d[4..6].copy_from_slice(&(icmp.len() as u16).to_be_bytes());
        let s: [u8; 16] = d[8..24].try_into().unwrap();
        let c = checksum::l4(checksum::pseudo6(&s, &US6, proto::ICMP6, icmp.len() as u32), &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        d.extend_from_slice(&icmp);
        d
    }

    #[test]
    fn icmp4_errors_quoting_our_packets_go_to_the_registered_handler() {
        let mut h = node_with_addrs::<false>(true);
        let frag_needed = h.packet(&icmp4_error(3, 4, US4), 1);
        let unreach = h.packet(&icmp4_error(3, 3, US4), 1);
        let ttl = h.packet(&icmp4_error(11, 0, US4), 1);
        let param = h.packet(&icmp4_error(12, 0, US4), 1);
        let nexts = h.run(&mut [frag_needed, unreach, ttl, param]);
        for n in nexts {
            assert_eq!(h.next_name(n), "tcp4-icmp-input");
        }
        let m = h.vm.bufs.meta(frag_needed);
        assert_eq!((m.l3_hdr_offset, m.current_data), (0, 20), "at the icmp header");
        assert_eq!(h.counter("icmp errors to their handler"), 4);

        // Not quoting one of our packets, a bad checksum, a quote too
        // short: counted drops.
        let foreign = h.packet(&icmp4_error(3, 4, [10, 0, 0, 7]), 1);
        let mut bad = icmp4_error(3, 4, US4);
        bad[30] ^= 1;
        let bad = h.packet(&bad, 1);
        let mut short = icmp4_error(3, 4, US4);
        short.truncate(20 + 8 + 20 + 4);
        let len = short.len() as u16;
        short[2..4].copy_from_slice(&len.to_be_bytes());
        short[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&short[..20]);
        short[10..12].copy_from_slice(&c.to_be_bytes());
        short[22..24].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&short[20..]);
        short[22..24].copy_from_slice(&c.to_be_bytes());
        let short = h.packet(&short, 1);
        let nexts = h.run(&mut [foreign, bad, short]);
        for n in nexts {
            assert_eq!(h.next_name(n), ErrorDrop::NAME);
        }
        assert_eq!(h.counter("icmp error not quoting a packet of ours"), 2);
        assert_eq!(h.counter("icmp checksum error"), 1);

        // No handler registered: dropped as before.
        let mut h = node_with_addrs::<false>(false);
        let bi = h.packet(&icmp4_error(3, 4, US4), 1);
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), ErrorDrop::NAME);
        assert_eq!(h.counter("icmp type not handled"), 1);
    }

    #[test]
    fn icmp6_errors_quoting_our_packets_go_to_the_registered_handler() {
        let mut h = node_with_addrs::<true>(true);
        let mut pkts: Vec<BufferIndex> = (1..=4).map(|ty| h.packet(&icmp6_error(ty, US6), 1)).collect();
        let nexts = h.run(&mut pkts);
        for n in nexts {
            assert_eq!(h.next_name(n), "tcp6-icmp-input");
        }
        let m = h.vm.bufs.meta(pkts[1]);
        assert_eq!((m.l3_hdr_offset, m.current_data), (0, 40));
        let mut other = US6;
        other[15] = 7;
        let foreign = h.packet(&icmp6_error(2, other), 1);
        let mut bad = icmp6_error(2, US6);
        bad[60] ^= 1;
        let bad = h.packet(&bad, 1);
        let nexts = h.run(&mut [foreign, bad]);
        assert_eq!(h.next_name(nexts[0]), ErrorDrop::NAME);
        assert_eq!(h.next_name(nexts[1]), ErrorDrop::NAME);
        assert_eq!(h.counter("icmp error not quoting a packet of ours"), 1);
        assert_eq!(h.counter("icmp checksum error"), 1);

        let mut h = node_with_addrs::<true>(false);
        let bi = h.packet(&icmp6_error(2, US6), 1);
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), ErrorDrop::NAME);
        assert_eq!(h.counter("icmp type not handled"), 1);
    }
}
