//! `tcp4-input` / `tcp6-input`: TCP segments addressed to rvpp, handed over
//! by `ip4-local` / `ip6-local` with `current_data` at the TCP header. Each
//! is checksum-verified and parsed (a bad one is a counted drop naming
//! why), then fed to its session or listener in this thread's table; a
//! segment nothing wants is answered with a RST. What the connections want
//! to send leaves through [`PacketSink`] to the IP lookup. With the session
//! layer disabled, segments get ICMP port unreachable as before.

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};
use rvpp_graph_nodes::ip::names;

use super::output::{self, OutputCounts, PacketSink, PathMtu};
use super::{ip_info, lock, port_unreachable, Clock, SessionLayer};
use crate::session::{FiveTuple, SessionTable};
use crate::tcp::{TcpPacket, TcpRepr, WireError};

#[repr(u16)]
#[derive(Clone, Copy)]
enum Next {
    Drop = 0,
    Lookup4 = 1,
    Lookup6 = 2,
    IcmpError = 3,
}

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

static COUNTERS: [CounterDesc; 17] = {
    let o = output::COUNTERS;
    [
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
        o[0],
        o[1],
        o[2],
        o[3],
        o[4],
        o[5],
        o[6],
    ]
};

fn wire_counter(e: WireError) -> Counter {
    match e {
        WireError::Truncated { .. } => Counter::Truncated,
        WireError::BadDataOffset { .. } => Counter::BadDataOffset,
        WireError::OptionOverrun { .. } => Counter::OptionOverrun,
        WireError::BadOptionLength { .. } => Counter::BadOptionLength,
        WireError::IllegalFlags { .. } => Counter::IllegalFlags,
    }
}

/// The TCP input node of one family.
pub struct TcpInput<const IP6: bool> {
    nexts: [&'static str; 4],
    table: Arc<Mutex<SessionTable>>,
    layer: SessionLayer,
    clock: Clock,
    /// The segment being handled (copied out of its buffer so output
    /// buffers can be allocated meanwhile).
    scratch: Vec<u8>,
    path_mtu: Option<PathMtu>,
}

impl<const IP6: bool> TcpInput<IP6> {
    pub const NAME: &'static str = if IP6 { "tcp6-input" } else { "tcp4-input" };

    pub fn new(layer: SessionLayer, thread: usize, clock: Clock) -> Self {
        TcpInput {
            nexts: [ErrorDrop::NAME, names(false).lookup, names(true).lookup, names(IP6).icmp_error],
            table: layer.table(thread),
            layer,
            clock,
            scratch: Vec::with_capacity(64 * 1024),
            path_mtu: None,
        }
    }

    /// Checks IPv6 datagrams the apps send against the path MTU.
    pub fn with_path_mtu(mut self, p: PathMtu) -> Self {
        self.path_mtu = Some(p);
        self
    }

    /// Checks and parses one segment into `self.scratch`; the drop reason
    /// otherwise.
    fn parse(&mut self, vm: &Vm, bi: BufferIndex, src: &IpAddr, dst: &IpAddr) -> Result<TcpRepr, Counter> {
        self.scratch.clear();
        if vm.bufs.meta(bi).flags & flags::NEXT_PRESENT != 0 {
            self.scratch.extend_from_slice(&vm.bufs.chain_bytes(bi));
        } else {
            self.scratch.extend_from_slice(vm.bufs.data(bi));
        }
        let p = TcpPacket::new_checked(&self.scratch[..]).map_err(wire_counter)?;
        let ok = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => p.verify_checksum4(&s.octets(), &d.octets()),
            (IpAddr::V6(s), IpAddr::V6(d)) => p.verify_checksum6(&s.octets(), &d.octets()),
            _ => false,
        };
        if !ok {
            return Err(Counter::BadChecksum);
        }
        TcpRepr::parse(&p).map_err(wire_counter)
    }
}

impl<const IP6: bool> Node for TcpInput<IP6> {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let now = self.clock.ns(vm.now);
        let enabled = self.layer.enabled();
        let table = self.table.clone();
        let mut table = lock(&table);
        let mut ip_id = table.ip_id();
        let mut out = OutputCounts::default();
        let mut consumed = 0;
        let mut room = super::output::OUTPUT_BUDGET;
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            if vm.tracing() && vm.is_traced(bi) {
                let line = trace_line(vm.bufs.data(bi));
                vm.trace(bi, |_| line);
            }
            if !enabled {
                vm.count(Counter::Disabled as usize, 1);
                let icmp = port_unreachable::<IP6>(vm, bi);
                frame.nexts[k] = if icmp { Next::IcmpError } else { Next::Drop } as u16;
                continue;
            }
            let Some((src, dst)) = ip_info::<IP6>(vm, bi).map(|i| (i.src, i.dst)) else {
                vm.count(Counter::BadIpHeader as usize, 1);
                frame.nexts[k] = Next::Drop as u16;
                continue;
            };
            let repr = match self.parse(vm, bi, &src, &dst) {
                Ok(r) => r,
                Err(c) => {
                    vm.count(c as usize, 1);
                    frame.nexts[k] = Next::Drop as u16;
                    continue;
                }
            };
            let rx = vm.bufs.meta(bi).sw_if_index[rvpp_dataplane::buffer::RX];
            let tuple = FiveTuple::tcp(SocketAddr::new(dst, repr.dst_port), SocketAddr::new(src, repr.src_port));
            let hl = ((self.scratch[12] >> 4) as usize * 4).min(self.scratch.len());
            // One output budget for the whole frame: sessions that run out
            // wait on the pending list for session-queue.
            let mut sink = PacketSink::new(vm, Next::Lookup4 as u16, Next::Lookup6 as u16, &mut ip_id);
            sink.room = room;
            sink.path_mtu = self.path_mtu.as_ref();
            let wanted = table.tcp_input(now, tuple, rx, &repr, &self.scratch[hl..], &mut sink);
            let c = sink.counts;
            room = sink.room;
            out.add(&c);
            vm.count(if wanted { Counter::Delivered } else { Counter::ResetSent } as usize, 1);
            frame.nexts[k] = NEXT_CONSUMED;
            frame.pkts.swap(consumed, k);
            frame.nexts.swap(consumed, k);
            consumed += 1;
        }
        // Consumed buffers were moved to the front; free them at once.
        vm.bufs.free(&frame.pkts[..consumed]);
        let mut sink = PacketSink::new(vm, Next::Lookup4 as u16, Next::Lookup6 as u16, &mut ip_id);
        sink.room = room;
        sink.path_mtu = self.path_mtu.as_ref();
        table.drain_events(now, &mut sink);
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
