//! `tcp4-icmp-input` / `tcp6-icmp-input`: ICMP error messages addressed to
//! rvpp about packets it sent, from `ip4-local` / `ip6-local` (which
//! registered these nodes as their ICMP error handlers, checked the ICMP
//! checksum and that the quoted packet came from one of our addresses)
//! with `current_data` at the ICMP header. Each is parsed
//! ([`IcmpError::parse`]) and handed to the TCP session the quoted header
//! names ([`SessionTable::icmp_error`]): a "fragmentation needed" or
//! "packet too big" quoting a segment in flight lowers its MSS (path MTU
//! discovery, RFC 1191 / RFC 8201) and the flight leaves again at the new
//! size through [`PacketSink`]; other errors are soft errors, counted. A
//! message about a session another thread owns is handed to this node on
//! that thread, as `tcp4-input` hands segments. The buffers are always
//! freed here.

use std::any::Any;

use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

use super::l4_input::{self, L4Input};
use super::output::{self, OutputCounts, PacketSink, PathMtu};
use super::{lock, Clock, SessionLayer};
use crate::session::{IcmpError, IcmpOutcome};

#[repr(usize)]
#[derive(Clone, Copy)]
enum Counter {
    Delivered,
    PmtuLowered,
    NoSession,
    OutOfWindow,
    NotTcp,
    Malformed,
    Disabled,
    /// The first of [`output::COUNTERS`].
    Output,
}

static COUNTERS: [CounterDesc; 14] = output::with_output(&[
    CounterDesc::info("icmp errors delivered to tcp sessions"),
    CounterDesc::info("path mtu lowered (mss reduced)"),
    CounterDesc::info("icmp error ignored: no tcp session"),
    CounterDesc::error("icmp error ignored: sequence number not in flight"),
    CounterDesc::info("icmp error ignored: not about tcp"),
    CounterDesc::error("icmp error ignored: malformed quote"),
    CounterDesc::info("icmp error ignored: session layer disabled"),
]);

/// The ICMP error input node of one family.
pub struct IcmpInput<const IP6: bool> {
    l4: L4Input<IP6>,
}

impl<const IP6: bool> IcmpInput<IP6> {
    pub const NAME: &'static str = if IP6 { "tcp6-icmp-input" } else { "tcp4-icmp-input" };

    pub fn new(layer: SessionLayer, thread: usize, clock: Clock) -> Self {
        IcmpInput { l4: L4Input::new(layer, thread, clock) }
    }

    /// Sizes what the sessions send again (IPv6 datagrams) by the path MTU.
    pub fn with_path_mtu(mut self, p: PathMtu) -> Self {
        self.l4.path_mtu = Some(p);
        self
    }
}

impl<const IP6: bool> Node for IcmpInput<IP6> {
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
        let mut consumed = 0;
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            if vm.tracing() && vm.is_traced(bi) {
                let line = trace_line(IP6, vm.bufs.data(bi));
                vm.trace(bi, |_| line);
            }
            let counter = if !enabled {
                Counter::Disabled
            } else {
                match IcmpError::parse(IP6, vm.bufs.data(bi)) {
                    None => Counter::Malformed,
                    Some(e) => match table.icmp_error(now, &e) {
                        IcmpOutcome::PmtuLowered => {
                            vm.count(Counter::Delivered as usize, 1);
                            Counter::PmtuLowered
                        }
                        IcmpOutcome::Delivered => Counter::Delivered,
                        IcmpOutcome::OutOfWindow => Counter::OutOfWindow,
                        IcmpOutcome::NotTcp => Counter::NotTcp,
                        IcmpOutcome::NoSession => {
                            if let Some(queued) = self.l4.hand_off(vm, frame, k, &e.tuple) {
                                if queued {
                                    table.count_tcp_handoff();
                                }
                                continue;
                            }
                            Counter::NoSession
                        }
                    },
                }
            };
            vm.count(counter as usize, 1);
            // Nothing answers an ICMP error: every buffer ends here.
            l4_input::consume(frame, k, &mut consumed);
        }
        vm.bufs.free(&frame.pkts[..consumed]);
        // Sessions whose MSS fell send their flight again.
        let mut sink: PacketSink<'_> = self.l4.sink(vm, &mut ip_id, output::OUTPUT_BUDGET);
        table.flush_delivered(now, &mut sink);
        let out: OutputCounts = sink.counts;
        out.count(vm, Counter::Output as usize);
        table.set_ip_id(ip_id);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `ICMP error: type 3 code 4 mtu 1400 about 10.0.0.2:40000 -> 10.0.0.1:80 seq 1`.
fn trace_line(ip6: bool, d: &[u8]) -> String {
    match IcmpError::parse(ip6, d) {
        Some(e) => format!(
            "ICMP error: type {} code {} about {} -> {} proto {} seq {}{}",
            d[0],
            d[1],
            e.tuple.local,
            e.tuple.remote,
            e.tuple.proto,
            e.seq.0,
            e.path_mss().map(|m| format!(" path mss {m}")).unwrap_or_default()
        ),
        None => format!("ICMP error: malformed ({} bytes)", d.len()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rvpp_dataplane::buffer::flags;
    use rvpp_dataplane::testing::Harness;
    use rvpp_dataplane::BufferIndex;

    use super::*;
    use crate::nodes::output::build_packet;
    use crate::session::{App, AppEvent, AppSession, FiveTuple, SegmentSink};
    use crate::tcp::{Flags, Seq, TcpPacket, TcpRepr};

    /// Keeps every packet a table sends.
    #[derive(Default)]
    struct Capture(Vec<Vec<u8>>);

    impl SegmentSink for Capture {
        fn room(&self) -> usize {
            1000
        }
        fn segment(&mut self, tuple: &FiveTuple, _: u32, repr: &TcpRepr, payload: (&[u8], &[u8])) {
            let mut buf = vec![0u8; 2048];
            let n = build_packet(&mut buf, tuple, repr, payload, 1).unwrap();
            buf.truncate(n);
            self.0.push(buf);
        }
        fn datagram(&mut self, _: &FiveTuple, _: u32, _: (&[u8], &[u8])) {}
    }

    /// Writes 20 kB once connected.
    struct Sender;

    impl App for Sender {
        fn name(&self) -> &str {
            "sender"
        }
        fn on_event(&mut self, s: &mut AppSession<'_>, ev: AppEvent) {
            if ev == AppEvent::Connected {
                s.write(&[1; 20_000]);
            }
        }
    }

    /// A connection from 10.0.0.2 to 10.0.0.1:80 in thread 0's table of
    /// `layer`, through its handshake, and the first flight it sent.
    fn flight(layer: &SessionLayer) -> Vec<Vec<u8>> {
        let t = layer.table(0);
        let mut t = lock(&t);
        let app = t.attach(Box::new(Sender));
        let remote: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let s = t.connect(0, app, "10.0.0.2".parse().unwrap(), remote, 1).unwrap();
        let tuple = t.session(s).unwrap().tuple;
        let mut cap = Capture::default();
        t.poll(0, &mut cap);
        let syn = TcpPacket::new_checked(&cap.0[0][20..]).unwrap();
        let synack = TcpRepr {
            src_port: 80,
            dst_port: tuple.local.port(),
            seq: Seq(9000),
            ack: syn.seq() + 1,
            flags: Flags::SYN | Flags::ACK,
            window: 65535,
            mss: Some(1460),
            ..TcpRepr::default()
        };
        let mut cap = Capture::default();
        t.tcp_input(0, tuple, 1, &synack, &[], &mut cap);
        t.drain_events(0, &mut cap);
        cap.0.retain(|p| p.len() > 40);
        cap.0
    }

    /// ICMP frag-needed for `mtu` quoting `pkt`, as ip4-local hands it
    /// over: current_data at the ICMP header.
    fn frag_needed(h: &mut Harness, pkt: &[u8], mtu: u16) -> BufferIndex {
        let mut d = vec![0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 254, 10, 0, 0, 2];
        d.extend_from_slice(&[3, 4, 0, 0, 0, 0]);
        d.extend_from_slice(&mtu.to_be_bytes());
        d.extend_from_slice(&pkt[..28]);
        let bi = h.packet(&d, 1);
        let m = h.vm.bufs.meta_mut(bi);
        m.l3_hdr_offset = 0;
        m.flags |= flags::L3_HDR_VALID;
        assert!(h.vm.bufs.advance(bi, 20));
        bi
    }

    #[test]
    fn frag_needed_lowers_the_mss_and_the_flight_leaves_again_in_smaller_segments() {
        let layer = SessionLayer::default();
        let sent = flight(&layer);
        assert!(sent.len() >= 2 && sent[0].len() == 1500, "a full-sized flight");
        let mut h = Harness::new(Box::new(IcmpInput::<false>::new(layer.clone(), 0, Clock::with_hz(1_000_000_000))), 2);
        let bi = frag_needed(&mut h, &sent[1], 1400);
        let nexts = h.run(&mut [bi]);
        assert_eq!(h.next_name(nexts[0]), "(consumed)");
        assert_eq!(h.counter("path mtu lowered (mss reduced)"), 1);
        assert_eq!(h.counter("icmp errors delivered to tcp sessions"), 1);
        let out = h.take_emitted();
        assert!(!out.is_empty(), "the flight went again");
        let first = TcpPacket::new_checked(&sent[0][20..]).unwrap().seq();
        for (k, &(next, b)) in out.iter().enumerate() {
            assert_eq!(h.next_name(next), "ip4-lookup");
            let d = h.bytes(b);
            assert!(d.len() <= 1400, "{} bytes", d.len());
            if k == 0 {
                assert_eq!(TcpPacket::new_checked(&d[20..]).unwrap().seq(), first, "from the first byte in flight");
            }
        }
        assert_eq!(h.buffers_in_use() as usize, out.len(), "the icmp error's buffer was freed");

        // Out of the window, no session, malformed: counted, nothing sent.
        let mut stale = sent[0].clone();
        stale[24..28].copy_from_slice(&(first - 1).0.to_be_bytes());
        let mut other = sent[0].clone();
        other[20..22].copy_from_slice(&1u16.to_be_bytes());
        let stale = frag_needed(&mut h, &stale, 1300);
        let other = frag_needed(&mut h, &other, 1300);
        let short = h.packet(&[3, 4, 0, 0], 1);
        h.run(&mut [stale, other, short]);
        assert!(h.take_emitted().is_empty());
        assert_eq!(h.counter("icmp error ignored: sequence number not in flight"), 1);
        assert_eq!(h.counter("icmp error ignored: no tcp session"), 1);
        assert_eq!(h.counter("icmp error ignored: malformed quote"), 1);
        assert_eq!(h.counter("path mtu lowered (mss reduced)"), 1);
    }
}
