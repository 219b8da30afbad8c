//! `udp4-input` / `udp6-input`: UDP datagrams addressed to rvpp, handed
//! over by `ip4-local` / `ip6-local` with `current_data` at the UDP header.
//! Each is checked (the length field against the IP payload; the checksum,
//! where zero means "none" over IPv4 and is invalid over IPv6) and queued,
//! payload and a header naming its peer, in the rx fifo of its connected
//! session or of the listener on its port. A datagram nobody wants gets
//! ICMP port unreachable, as `ip-local` answered before UDP was
//! registered; one that does not fit the session's rx fifo is dropped.
//! With several threads, a datagram nothing here takes that belongs to a
//! connected session of another thread (see [`crate::session::Owners`])
//! is handed to this node on that thread, once.
//! Every drop is counted by reason. What the apps send in answer leaves
//! through [`PacketSink`] to the IP lookup.

use std::any::Any;
use std::net::SocketAddr;
use std::ops::Range;

use rvpp_dataplane::buffer::{flags, RX};
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

use super::l4_input::{self, port_unreachable, BeginCounters, IpInfo, L4Input, Next};
use super::output::{self, PathMtu, OUTPUT_BUDGET};
use super::{lock, Clock, SessionLayer};
use crate::session::{FiveTuple, UdpDelivery};
use crate::udp::{UdpError, UdpPacket, HEADER_LEN};

#[repr(usize)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counter {
    BadChecksum,
    ZeroChecksum6,
    Truncated,
    LengthBelowHeader,
    LengthBeyondPayload,
    BadIpHeader,
    Trailing,
    Delivered,
    NoSession,
    RxFull,
    Disabled,
    /// The first of [`output::COUNTERS`].
    Output,
}

static COUNTERS: [CounterDesc; 18] = output::with_output(&[
    CounterDesc::error("bad udp checksum"),
    CounterDesc::error("udp6 checksum zero"),
    CounterDesc::error("datagram shorter than the udp header"),
    CounterDesc::error("udp length below the udp header"),
    CounterDesc::error("udp length beyond the ip payload"),
    CounterDesc::error("ip header not before the udp header"),
    CounterDesc::info("bytes after the udp length ignored"),
    CounterDesc::info("datagrams to sessions and listeners"),
    CounterDesc::info("no session or listener: port unreachable"),
    CounterDesc::error("session rx fifo full"),
    CounterDesc::info("session layer disabled: port unreachable"),
]);

/// Where [`l4_input::begin`] counts.
const BEGIN_COUNTERS: BeginCounters =
    BeginCounters { disabled: Counter::Disabled as usize, bad_ip_header: Counter::BadIpHeader as usize };

/// A checked datagram: its ports, where its payload lies, and whether the
/// IP payload ran past its length field.
struct Checked {
    src_port: u16,
    dst_port: u16,
    payload: Range<usize>,
    trailing: bool,
}

/// Checks one datagram (`d`: the IP payload, from the UDP header on).
fn check(d: &[u8], ip: &IpInfo) -> Result<Checked, Counter> {
    let p = UdpPacket::new_checked(d).map_err(|e| match e {
        UdpError::Truncated { .. } => Counter::Truncated,
        UdpError::LengthBelowHeader { .. } => Counter::LengthBelowHeader,
        UdpError::LengthBeyondPayload { .. } => Counter::LengthBeyondPayload,
    })?;
    let ok = match (ip.src, ip.dst) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(t)) => p.verify_checksum4(&s.octets(), &t.octets()),
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(t)) => {
            if p.checksum() == 0 {
                return Err(Counter::ZeroChecksum6);
            }
            p.verify_checksum6(&s.octets(), &t.octets())
        }
        _ => false,
    };
    if !ok {
        return Err(Counter::BadChecksum);
    }
    let len = p.len() as usize;
    Ok(Checked { src_port: p.src_port(), dst_port: p.dst_port(), payload: HEADER_LEN..len, trailing: len < d.len() })
}

/// The UDP input node of one family.
pub struct UdpInput<const IP6: bool> {
    l4: L4Input<IP6>,
    /// A chained datagram (reassembled from fragments), copied out whole.
    scratch: Vec<u8>,
}

impl<const IP6: bool> UdpInput<IP6> {
    pub const NAME: &'static str = if IP6 { "udp6-input" } else { "udp4-input" };

    pub fn new(layer: SessionLayer, thread: usize, clock: Clock) -> Self {
        UdpInput { l4: L4Input::new(layer, thread, clock), scratch: Vec::with_capacity(64 * 1024) }
    }

    /// Checks IPv6 datagrams the apps send against the path MTU.
    pub fn with_path_mtu(mut self, p: PathMtu) -> Self {
        self.l4.path_mtu = Some(p);
        self
    }
}

impl<const IP6: bool> Node for UdpInput<IP6> {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.l4.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let (now, enabled, table) = self.l4.frame_start(vm);
        let mut table = lock(&table);
        let mut consumed = 0;
        let mut trailing = 0u64;
        for k in 0..frame.len() {
            let Some(ip) = l4_input::begin::<IP6>(vm, frame, k, enabled, BEGIN_COUNTERS, trace_line) else {
                continue;
            };
            let bi = frame.pkts[k];
            let rx = vm.bufs.meta(bi).sw_if_index[RX];
            let outcome = {
                let d: &[u8] = if vm.bufs.meta(bi).flags & flags::NEXT_PRESENT != 0 {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&vm.bufs.chain_bytes(bi));
                    &self.scratch
                } else {
                    vm.bufs.data(bi)
                };
                // The IP payload: what the IP header says, of what is here.
                let d = &d[..ip.l4_len.min(d.len())];
                check(d, &ip).map(|c| {
                    let local = SocketAddr::new(ip.dst, c.dst_port);
                    let remote = SocketAddr::new(ip.src, c.src_port);
                    (table.udp_input(local, remote, rx, &[&d[c.payload]]), c.trailing, (local, remote))
                })
            };
            if let Ok((UdpDelivery::NoSession, _, (local, remote))) = outcome {
                if self.l4.hand_off(vm, frame, k, &FiveTuple::udp(local, remote)).is_some() {
                    // Another thread's connected session: the datagram goes
                    // to this node there (counted by the engine per node).
                    continue;
                }
            }
            match outcome {
                Err(c) => {
                    vm.count(c as usize, 1);
                    frame.nexts[k] = Next::Drop as u16;
                }
                Ok((delivery, t, _)) => {
                    trailing += t as u64;
                    match delivery {
                        UdpDelivery::Delivered => {
                            vm.count(Counter::Delivered as usize, 1);
                            l4_input::consume(frame, k, &mut consumed);
                        }
                        UdpDelivery::RxFull => {
                            vm.count(Counter::RxFull as usize, 1);
                            frame.nexts[k] = Next::Drop as u16;
                        }
                        UdpDelivery::NoSession => {
                            vm.count(Counter::NoSession as usize, 1);
                            frame.nexts[k] = port_unreachable::<IP6>(vm, bi) as u16;
                        }
                    }
                }
            }
        }
        vm.count(Counter::Trailing as usize, trailing);
        // Delivered buffers were moved to the front; their bytes are in the
        // fifos, so they go back at once.
        vm.bufs.free(&frame.pkts[..consumed]);
        let mut ip_id = table.ip_id();
        let mut sink = self.l4.sink(vm, &mut ip_id, OUTPUT_BUDGET);
        table.drain_events(now, &mut sink);
        let c = sink.counts;
        table.set_ip_id(ip_id);
        c.count(vm, Counter::Output as usize);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `UDP: 40000 -> 7777 length 1408 checksum 0x1c2d`.
fn trace_line(d: &[u8]) -> String {
    if d.len() < HEADER_LEN {
        return format!("UDP: truncated ({} bytes)", d.len());
    }
    let p = UdpPacket::new_unchecked(d);
    format!("UDP: {} -> {} length {} checksum {:#06x}", p.src_port(), p.dst_port(), p.len(), p.checksum())
}

#[cfg(test)]
mod handoff_tests {
    use rvpp_dataplane::handoff::Handoff;
    use rvpp_dataplane::testing::Harness;
    use rvpp_dataplane::{BufferIndex, NodeIndex};

    use super::*;
    use crate::nodes::output::build_udp_headers;
    use crate::session::echo::EchoServer;

    /// A datagram from `from` to `to` as ip4-local hands it over.
    fn deliver(h: &mut Harness, from: SocketAddr, to: SocketAddr, payload: &[u8]) -> BufferIndex {
        let mut hdr = [0u8; 48];
        let n = build_udp_headers(&mut hdr, &FiveTuple::udp(from, to), (payload, &[]), 9).unwrap();
        let bi = h.packet(&[&hdr[..n], payload].concat(), 1);
        let m = h.vm.bufs.meta_mut(bi);
        m.l3_hdr_offset = 0;
        m.flags |= flags::L3_HDR_VALID;
        assert!(h.vm.bufs.advance(bi, 20));
        bi
    }

    #[test]
    fn a_datagram_of_another_threads_session_goes_there_once() {
        let layer = SessionLayer::default();
        let mut h = Harness::new(Box::new(UdpInput::<false>::new(layer.clone(), 0, Clock::with_hz(1_000_000_000))), 2);
        let t1 = layer.table(1);
        let handoff = Handoff::new(2);
        h.set_handoff(handoff.port(0).unwrap());
        let mut thread1 = handoff.port(1).unwrap();
        let remote = SocketAddr::from(([10, 0, 0, 2], 7777));
        let local = {
            let mut t = lock(&t1);
            let app = t.attach(Box::new(EchoServer::default()));
            let s = t.connect_udp(app, "10.0.0.1".parse().unwrap(), remote, 1).unwrap();
            t.session(s).unwrap().tuple.local
        };
        // The answer to thread 1's session reached thread 0: handed over,
        // no port unreachable here.
        let bi = deliver(&mut h, remote, local, b"echo");
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), "(consumed)");
        assert_eq!(h.counter("no session or listener: port unreachable"), 0);
        let mut got = Vec::new();
        thread1.drain(|n, b| {
            got.push((n, b));
            true
        });
        assert_eq!(got, [(NodeIndex(0), bi)]);
        // Handed in already: not handed on, refused here.
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), "ip4-icmp-error");
        assert_eq!(h.counter("no session or listener: port unreachable"), 1);
        assert_eq!(thread1.drain(|_, _| true), 0);
    }
}
