//! `tcp4-input` / `tcp6-input`: TCP segments addressed to rvpp, handed over
//! by `ip4-local` / `ip6-local` with `current_data` at the TCP header. Each
//! is checksum-verified and parsed (a bad one is a counted drop naming
//! why) where it lies in its buffers (a chain too), then fed to its
//! session, whose rx fifo gets the payload's one copy, or to a listener in
//! this thread's table; a segment nothing wants is answered with a RST.
//! With several threads, a segment of a session another thread owns (see
//! [`crate::session::Owners`]) is handed to this node on that thread
//! first, once: it is not handed on again from there.
//! The apps hear about a frame's segments once it is handled, and what the
//! connections want to send then leaves through [`PacketSink`] to the IP
//! lookup (an ACK riding on the apps' data; one due sooner leaves before
//! the next segment, see [`SessionTable::tcp_deliver`]). With the session
//! layer disabled, segments get ICMP port unreachable as before.

use std::any::Any;
use std::net::{IpAddr, SocketAddr};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use rvpp_dataplane::checksum;

use super::l4_input::{self, BeginCounters, IpInfo, L4Input, Next};
use super::output::{self, OutputCounts, PathMtu};
use super::{lock, Clock, SessionLayer};
use crate::fifo::Gather;
use crate::session::{self, FiveTuple, SessionTable, PROTO_TCP};
use crate::tcp::{TcpPacket, TcpRepr, WireError};

#[repr(usize)]
#[derive(Clone, Copy)]
enum Counter {
    BadChecksum,
    Truncated,
    BadDataOffset,
    OptionOverrun,
    BadOptionLength,
    IllegalFlags,
    BadIpHeader,
    Delivered,
    ResetSent,
    Disabled,
    /// The first of [`output::COUNTERS`].
    Output,
}

static COUNTERS: [CounterDesc; 17] = output::with_output(&[
    CounterDesc::error("bad tcp checksum"),
    CounterDesc::error("segment shorter than the tcp header"),
    CounterDesc::error("bad tcp data offset"),
    CounterDesc::error("tcp option overruns the header"),
    CounterDesc::error("bad tcp option length"),
    CounterDesc::error("illegal tcp flag combination"),
    CounterDesc::error("ip header not before the tcp header"),
    CounterDesc::info("segments to sessions and listeners"),
    CounterDesc::info("resets sent (no session or listener)"),
    CounterDesc::info("session layer disabled: port unreachable"),
]);

/// Where [`l4_input::begin`] counts.
const BEGIN_COUNTERS: BeginCounters =
    BeginCounters { disabled: Counter::Disabled as usize, bad_ip_header: Counter::BadIpHeader as usize };

fn wire_counter(e: WireError) -> Counter {
    match e {
        WireError::Truncated { .. } => Counter::Truncated,
        WireError::BadDataOffset { .. } => Counter::BadDataOffset,
        WireError::OptionOverrun { .. } => Counter::OptionOverrun,
        WireError::BadOptionLength { .. } => Counter::BadOptionLength,
        WireError::IllegalFlags { .. } => Counter::IllegalFlags,
    }
}

/// Buffers of one segment read in place; a longer chain is copied out.
const MAX_PARTS: usize = 64;
/// The longest TCP header: a first buffer at least this long (or the whole
/// segment) holds it.
const MAX_HEADER: usize = 60;

/// What [`TcpInput::deliver`] did with a segment.
enum Handled {
    /// Handed to its session, straight from the buffers; `flush_now`
    /// when its answer should leave before the next segment.
    Session { flush_now: bool },
    /// No session has it: a listener's or nobody's. Its payload is in
    /// `scratch`.
    Other(FiveTuple, TcpRepr),
    /// A counted drop.
    Drop(Counter),
}

/// The TCP input node of one family.
pub struct TcpInput<const IP6: bool> {
    l4: L4Input<IP6>,
    /// A segment copied out of its buffers: one for a listener or nobody
    /// (answered while output buffers are allocated), or a chain too long
    /// to read in place.
    scratch: Vec<u8>,
    /// A chain of more than [`MAX_PARTS`] buffers, copied whole.
    long_chain: Vec<u8>,
}

impl<const IP6: bool> TcpInput<IP6> {
    pub const NAME: &'static str = if IP6 { "tcp6-input" } else { "tcp4-input" };

    pub fn new(layer: SessionLayer, thread: usize, clock: Clock) -> Self {
        TcpInput {
            l4: L4Input::new(layer, thread, clock),
            scratch: Vec::with_capacity(64 * 1024),
            long_chain: Vec::new(),
        }
    }

    /// Checks IPv6 datagrams the apps send against the path MTU.
    pub fn with_path_mtu(mut self, p: PathMtu) -> Self {
        self.l4.path_mtu = Some(p);
        self
    }

    /// Checks and parses one segment and hands it to its session, reading
    /// the header and payload where they lie in the packet's buffers.
    /// The checksum is summed over those buffers once; the payload's only
    /// copy is the session's, into its rx fifo.
    fn deliver(&mut self, vm: &Vm, bi: BufferIndex, ip: &IpInfo, now: u64, table: &mut SessionTable) -> Handled {
        let mut parts: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
        let mut n = 0;
        let mut cur = bi;
        loop {
            parts[n] = vm.bufs.data(cur);
            n += 1;
            let m = vm.bufs.meta(cur);
            if m.flags & flags::NEXT_PRESENT == 0 {
                break;
            }
            if n == MAX_PARTS {
                // Past what is read in place: one copy of the whole.
                self.long_chain = vm.bufs.chain_bytes(bi);
                let whole = [&self.long_chain[..]];
                return Self::check_and_deliver(&mut self.scratch, Gather::new(&whole), ip, now, table);
            }
            cur = BufferIndex(m.next_buffer);
        }
        let seg = Gather::new(&parts[..n]);
        if parts[0].len() < MAX_HEADER.min(seg.len()) {
            // The header runs past the first buffer: gather it.
            let mut hdr = [0u8; MAX_HEADER];
            let hl = seg.take(MAX_HEADER).copy_to(&mut hdr);
            let (first, rest) = (&hdr[..hl], seg.skip(hl));
            let mut rest_parts: [&[u8]; MAX_PARTS + 1] = [&[]; MAX_PARTS + 1];
            rest_parts[0] = first;
            let mut k = 1;
            for c in rest.chunks() {
                rest_parts[k] = c;
                k += 1;
            }
            return Self::check_and_deliver(&mut self.scratch, Gather::new(&rest_parts[..k]), ip, now, table);
        }
        Self::check_and_deliver(&mut self.scratch, seg, ip, now, table)
    }

    /// The checks and hand-off of [`TcpInput::deliver`] for a segment whose
    /// first piece holds its whole header; the payload of a segment no
    /// session takes is copied into `scratch`.
    fn check_and_deliver(
        scratch: &mut Vec<u8>,
        seg: Gather<'_>,
        ip: &IpInfo,
        now: u64,
        table: &mut SessionTable,
    ) -> Handled {
        // The IP header says how long the segment is (buffers may hold
        // padding beyond it).
        let seg = seg.take(ip.l4_len);
        let first = seg.chunks().next().unwrap_or(&[]);
        let p = match TcpPacket::new_checked(first) {
            Ok(p) => p,
            Err(e) => return Handled::Drop(wire_counter(e)),
        };
        let len = seg.len();
        let pseudo = match (ip.src, ip.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) if len <= u16::MAX as usize => {
                checksum::pseudo4(&s.octets(), &d.octets(), PROTO_TCP, len as u16)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => checksum::pseudo6(&s.octets(), &d.octets(), PROTO_TCP, len as u32),
            _ => return Handled::Drop(Counter::BadChecksum),
        };
        let (mut acc, mut at) = (pseudo, 0usize);
        for c in seg.chunks() {
            acc = checksum::sum_at(c, acc, at & 1 == 1);
            at += c.len();
        }
        if checksum::fold(acc) != 0xffff {
            return Handled::Drop(Counter::BadChecksum);
        }
        let repr = match TcpRepr::parse(&p) {
            Ok(r) => r,
            Err(e) => return Handled::Drop(wire_counter(e)),
        };
        let payload = seg.skip(p.header_len());
        let tuple = FiveTuple::tcp(SocketAddr::new(ip.dst, repr.dst_port), SocketAddr::new(ip.src, repr.src_port));
        match table.tcp_deliver(now, &tuple, &repr, payload) {
            session::Delivery::Later => return Handled::Session { flush_now: false },
            session::Delivery::FlushNow => return Handled::Session { flush_now: true },
            session::Delivery::NoSession => {}
        }
        scratch.clear();
        for c in payload.chunks() {
            scratch.extend_from_slice(c);
        }
        Handled::Other(tuple, repr)
    }
}

impl<const IP6: bool> Node for TcpInput<IP6> {
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
        let mut ip_id = table.ip_id();
        let mut out = OutputCounts::default();
        let mut consumed = 0;
        let mut room = super::output::OUTPUT_BUDGET;
        for k in 0..frame.len() {
            let Some(ip) = l4_input::begin::<IP6>(vm, frame, k, enabled, BEGIN_COUNTERS, trace_line) else {
                continue;
            };
            let bi = frame.pkts[k];
            let wanted = match self.deliver(vm, bi, &ip, now, &mut table) {
                Handled::Session { flush_now: false } => true,
                Handled::Session { flush_now: true } => {
                    let mut sink = self.l4.sink(vm, &mut ip_id, room);
                    table.flush_delivered(now, &mut sink);
                    room = sink.room;
                    out.add(&sink.counts);
                    true
                }
                Handled::Drop(c) => {
                    vm.count(c as usize, 1);
                    frame.nexts[k] = Next::Drop as u16;
                    continue;
                }
                Handled::Other(tuple, repr) => {
                    if let Some(queued) = self.l4.hand_off(vm, frame, k, &tuple) {
                        // Another thread's session: the segment goes to
                        // this node there (counted by the engine per node,
                        // and here when it reached that thread's ring).
                        if queued {
                            table.count_tcp_handoff();
                        }
                        continue;
                    }
                    // A listener's or nobody's: answered at once. One
                    // output budget for the whole frame: sessions that run
                    // out wait on the pending list for session-queue.
                    let rx = vm.bufs.meta(bi).sw_if_index[rvpp_dataplane::buffer::RX];
                    let mut sink = self.l4.sink(vm, &mut ip_id, room);
                    let wanted = table.tcp_input(now, tuple, rx, &repr, &self.scratch, &mut sink);
                    room = sink.room;
                    out.add(&sink.counts);
                    wanted
                }
            };
            vm.count(if wanted { Counter::Delivered } else { Counter::ResetSent } as usize, 1);
            l4_input::consume(frame, k, &mut consumed);
        }
        // Consumed buffers were moved to the front; free them at once.
        vm.bufs.free(&frame.pkts[..consumed]);
        // The apps hear what arrived and answer; then every session that
        // took segments sends what is left (an ACK for all of them).
        let mut sink = self.l4.sink(vm, &mut ip_id, room);
        table.drain_events(now, &mut sink);
        table.flush_delivered(now, &mut sink);
        out.add(&sink.counts);
        out.count(vm, Counter::Output as usize);
        table.set_ip_id(ip_id);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `TCP: 10.0.0.2:40000 -> 10.0.0.1:7777 flags 0x02 seq 1 ack 0 len 0`.
fn trace_line(d: &[u8]) -> String {
    match TcpPacket::new_checked(d) {
        Ok(p) => format!(
            "TCP: {} -> {} flags {:#04x} seq {} ack {} window {} payload {}",
            p.src_port(),
            p.dst_port(),
            p.flags().0,
            p.seq().0,
            p.ack().0,
            p.window(),
            p.payload().len()
        ),
        Err(e) => format!("TCP: malformed: {e}"),
    }
}

#[cfg(test)]
mod handoff_tests {
    use std::net::SocketAddr;

    use rvpp_dataplane::handoff::{Handoff, HandoffPort};
    use rvpp_dataplane::testing::Harness;
    use rvpp_dataplane::NodeIndex;

    use super::*;
    use crate::nodes::output::build_packet;
    use crate::session::echo::EchoServer;
    use crate::tcp::{Flags, Seq};

    /// A segment from `from` to `to` as ip4-local hands it over.
    fn deliver(h: &mut Harness, from: SocketAddr, to: SocketAddr, repr: &TcpRepr) -> BufferIndex {
        let mut buf = vec![0u8; 128];
        let n = build_packet(&mut buf, &FiveTuple::tcp(from, to), repr, (&[], &[]), 9).unwrap();
        let bi = h.packet(&buf[..n], 1);
        let m = h.vm.bufs.meta_mut(bi);
        m.l3_hdr_offset = 0;
        m.flags |= flags::L3_HDR_VALID;
        assert!(h.vm.bufs.advance(bi, 20));
        bi
    }

    /// tcp4-input on thread 0 of two, and an active open of thread 1's
    /// table to `remote`: the harness, the layer, thread 1's hand-off port
    /// and the open's tuple.
    fn open_on_thread1(remote: SocketAddr) -> (Harness, SessionLayer, HandoffPort, FiveTuple) {
        let layer = SessionLayer::default();
        let mut h = Harness::new(Box::new(TcpInput::<false>::new(layer.clone(), 0, Clock::with_hz(1_000_000_000))), 2);
        let t1 = layer.table(1);
        assert!(layer.owners().active(), "two threads have tables");
        let handoff = Handoff::new(2);
        h.set_handoff(handoff.port(0).unwrap());
        let thread1 = handoff.port(1).unwrap();
        let tuple = {
            let mut t = lock(&t1);
            let app = t.attach(Box::new(EchoServer::default()));
            let s = t.connect(0, app, "10.0.0.1".parse().unwrap(), remote, 1).unwrap();
            t.session(s).unwrap().tuple
        };
        (h, layer, thread1, tuple)
    }

    /// The peer's answer to the open of `tuple`, with `flags`.
    fn answer(tuple: &FiveTuple, flags: Flags) -> TcpRepr {
        TcpRepr {
            src_port: tuple.remote.port(),
            dst_port: tuple.local.port(),
            seq: Seq(9000),
            ack: Seq(1),
            flags,
            window: 64240,
            ..TcpRepr::default()
        }
    }

    #[test]
    fn a_segment_of_another_threads_session_goes_there_once() {
        let remote = SocketAddr::from(([10, 0, 0, 2], 7777));
        let (mut h, layer, mut thread1, tuple) = open_on_thread1(remote);
        let synack = answer(&tuple, Flags::SYN | Flags::ACK);
        // Its SYN-ACK reached thread 0: handed to tcp4-input on thread 1,
        // not answered here.
        let bi = deliver(&mut h, remote, tuple.local, &synack);
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), "(consumed)");
        assert!(h.take_emitted().is_empty());
        assert_eq!(h.counter("resets sent (no session or listener)"), 0);
        let mut got = Vec::new();
        thread1.drain(|n, b| {
            got.push((n, b));
            true
        });
        assert_eq!(got, [(NodeIndex(0), bi)]);
        assert_eq!(lock(&layer.table(0)).stats().tcp_handed_off, 1);
        assert_ne!(h.vm.bufs.meta(bi).flags & flags::HANDED_OFF, 0);

        // One handed here already is not handed on again: with no session
        // here it is answered (a RST).
        h.run(&mut [bi]);
        assert_eq!(h.counter("resets sent (no session or listener)"), 1);
        assert_eq!(thread1.drain(|_, _| true), 0);

        // Nobody's tuple: answered here too.
        let other = SocketAddr::from(([10, 0, 0, 3], 7777));
        let bi = deliver(&mut h, other, tuple.local, &synack);
        h.run(&mut [bi]);
        assert_eq!(h.counter("resets sent (no session or listener)"), 2);
        assert_eq!(thread1.drain(|_, _| true), 0);
    }

    #[test]
    fn only_segments_that_reach_the_ring_count_as_handed_off() {
        use rvpp_dataplane::handoff::RING_SIZE;
        use rvpp_dataplane::node::FRAME_SIZE;

        let remote = SocketAddr::from(([10, 0, 0, 2], 7777));
        let (mut h, layer, mut thread1, tuple) = open_on_thread1(remote);
        let ack = answer(&tuple, Flags::ACK);
        // Thread 1 does not drain: the ring fills and the rest are dropped.
        let extra = 5;
        let mut left = RING_SIZE + extra;
        while left > 0 {
            let mut frame: Vec<BufferIndex> =
                (0..left.min(FRAME_SIZE)).map(|_| deliver(&mut h, remote, tuple.local, &ack)).collect();
            left -= frame.len();
            h.run(&mut frame);
        }
        assert_eq!(lock(&layer.table(0)).stats().tcp_handed_off, RING_SIZE as u64);
        let mut got = Vec::new();
        while thread1.drain(|_, b| {
            got.push(b);
            true
        }) > 0
        {}
        assert_eq!(got.len(), RING_SIZE);
        h.vm.bufs.free(&got);
    }
}
