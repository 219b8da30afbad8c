//! What `tcp4-input` / `tcp6-input` and `udp4-input` / `udp6-input` share:
//! their next nodes, the state that ties a node to its thread's session
//! table ([`L4Input`]), the IP header `ip4-local` / `ip6-local` left before
//! the L4 header ([`ip_info`]), and each packet's turn where it is the same
//! for both: its start ([`begin`]: trace, session layer disabled, no IP
//! header), an ICMP port unreachable, a hand-off to the thread that owns
//! its session and its consumption by the session layer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::{BufferIndex, Frame, Vm};
use rvpp_graph_nodes::ip::icmp::{set_error, Icmp};
use rvpp_graph_nodes::ip::names;

use super::output::{PacketSink, PathMtu};
use super::{Clock, SessionLayer, SharedTable};
use crate::session::{FiveTuple, Owners};

/// The next nodes of an L4 input node, in [`L4Input::nexts`] order.
#[repr(u16)]
#[derive(Clone, Copy)]
pub(super) enum Next {
    Drop = 0,
    Lookup4 = 1,
    Lookup6 = 2,
    IcmpError = 3,
}

/// The part of an L4 input node of one family that does not depend on its
/// protocol.
pub(super) struct L4Input<const IP6: bool> {
    pub nexts: [&'static str; 4],
    table: SharedTable,
    layer: SessionLayer,
    clock: Clock,
    pub path_mtu: Option<PathMtu>,
    thread: usize,
    owners: Arc<Owners>,
}

impl<const IP6: bool> L4Input<IP6> {
    pub fn new(layer: SessionLayer, thread: usize, clock: Clock) -> Self {
        L4Input {
            nexts: [ErrorDrop::NAME, names(false).lookup, names(true).lookup, names(IP6).icmp_error],
            table: layer.table(thread),
            owners: layer.owners().clone(),
            layer,
            clock,
            path_mtu: None,
            thread,
        }
    }

    /// What each frame starts from: the time in the TCP machine's
    /// nanoseconds, whether the session layer is on, and this thread's
    /// table.
    #[inline]
    pub fn frame_start(&self, vm: &Vm) -> (u64, bool, SharedTable) {
        (self.clock.ns(vm.now), self.layer.enabled(), self.table.clone())
    }

    /// Hands packet `k` to this node on the other thread that owns the
    /// session of `tuple`, for a packet this thread has no session for:
    /// Some(whether it reached that thread's ring; a full one drops it, as
    /// a lossy link would, and the engine counts that drop). None, the
    /// packet stays here, with one thread, for a packet another thread
    /// handed here already, or when no other thread has the session.
    #[inline]
    pub fn hand_off(&self, vm: &mut Vm, frame: &mut Frame, k: usize, tuple: &FiveTuple) -> Option<bool> {
        let bi = frame.pkts[k];
        if vm.handoff_threads() < 2 || !self.owners.active() || vm.bufs.meta(bi).flags & flags::HANDED_OFF != 0 {
            return None;
        }
        let owner = self.owners.owner(tuple).filter(|&t| t != self.thread)?;
        let me = vm.current_node();
        let queued = vm.handoff(owner, me, bi);
        frame.nexts[k] = NEXT_CONSUMED;
        Some(queued)
    }

    /// A sink for what the sessions send, through this node's lookup
    /// arcs, with `room` left of the output budget.
    #[inline]
    pub fn sink<'a>(&'a self, vm: &'a mut Vm, ip_id: &'a mut u16, room: usize) -> PacketSink<'a> {
        let mut sink = PacketSink::new(vm, Next::Lookup4 as u16, Next::Lookup6 as u16, ip_id);
        sink.room = room;
        sink.path_mtu = self.path_mtu.as_ref();
        sink
    }
}

/// The node's own counters that [`begin`] counts in.
#[derive(Clone, Copy)]
pub(super) struct BeginCounters {
    /// The session layer is disabled: ICMP port unreachable.
    pub disabled: usize,
    /// No IP header whole before the L4 header: a drop.
    pub bad_ip_header: usize,
}

/// The start of packet `k`'s turn in an L4 input node: its trace line
/// (made by `trace` from the L4 header on), then the packets that go no
/// further. With the session layer off (`enabled` false) the packet gets
/// an ICMP port unreachable; one with no IP header whole before its L4
/// header is dropped. Either is counted in `counters`, has its next set
/// and gives None; any other gives what its IP header says.
#[inline]
pub(super) fn begin<const IP6: bool>(
    vm: &mut Vm,
    frame: &mut Frame,
    k: usize,
    enabled: bool,
    counters: BeginCounters,
    trace: impl FnOnce(&[u8]) -> String,
) -> Option<IpInfo> {
    let bi = frame.pkts[k];
    if vm.tracing() && vm.is_traced(bi) {
        let line = trace(vm.bufs.data(bi));
        vm.trace(bi, |_| line);
    }
    if !enabled {
        vm.count(counters.disabled, 1);
        frame.nexts[k] = port_unreachable::<IP6>(vm, bi) as u16;
        return None;
    }
    let ip = ip_info::<IP6>(vm, bi);
    if ip.is_none() {
        vm.count(counters.bad_ip_header, 1);
        frame.nexts[k] = Next::Drop as u16;
    }
    ip
}

/// Marks packet `k` consumed (its bytes are in the session layer now) and
/// moves it to the front, after the `consumed` before it, so that the
/// frame's consumed buffers are freed at once at its end.
#[inline]
pub(super) fn consume(frame: &mut Frame, k: usize, consumed: &mut usize) {
    frame.nexts[k] = NEXT_CONSUMED;
    frame.pkts.swap(*consumed, k);
    frame.nexts.swap(*consumed, k);
    *consumed += 1;
}

/// What an L4 input node needs from the IP header before its header:
/// the addresses and how many L4 bytes the IP header says follow.
#[derive(Debug, Clone, Copy)]
pub(super) struct IpInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4_len: usize,
}

/// Reads the IP header `ip4-local` / `ip6-local` left before
/// `current_data` (the L4 header); None when it is not there whole.
pub(super) fn ip_info<const IP6: bool>(vm: &Vm, bi: BufferIndex) -> Option<IpInfo> {
    let m = vm.bufs.meta(bi);
    let hl: isize = if IP6 { 40 } else { 20 };
    let l3 = HEADROOM as isize + m.l3_hdr_offset as isize;
    let l4 = HEADROOM as isize + m.current_data as isize;
    if m.flags & flags::L3_HDR_VALID == 0 || l3 < 0 || l4 - l3 < hl {
        return None;
    }
    let h = vm.bufs.raw(bi).get(l3 as usize..l3 as usize + hl as usize)?;
    if IP6 {
        let s: [u8; 16] = h[8..24].try_into().ok()?;
        let d: [u8; 16] = h[24..40].try_into().ok()?;
        let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
        let ext = (l4 - l3 - hl) as usize;
        Some(IpInfo {
            src: IpAddr::V6(Ipv6Addr::from(s)),
            dst: IpAddr::V6(Ipv6Addr::from(d)),
            l4_len: plen.saturating_sub(ext),
        })
    } else {
        let s: [u8; 4] = h[12..16].try_into().ok()?;
        let d: [u8; 4] = h[16..20].try_into().ok()?;
        let total = u16::from_be_bytes([h[2], h[3]]) as usize;
        Some(IpInfo {
            src: IpAddr::V4(Ipv4Addr::from(s)),
            dst: IpAddr::V4(Ipv4Addr::from(d)),
            l4_len: total.saturating_sub((l4 - l3) as usize),
        })
    }
}

/// Puts the IP header back in front and marks the packet for an ICMP port
/// unreachable ([`Next::IcmpError`]); [`Next::Drop`] when the header cannot
/// be restored.
pub(super) fn port_unreachable<const IP6: bool>(vm: &mut Vm, bi: BufferIndex) -> Next {
    let m = vm.bufs.meta(bi);
    let back = m.l3_hdr_offset as i32 - m.current_data as i32;
    if back > 0 || back < i16::MIN as i32 || !vm.bufs.advance(bi, back as i16) {
        return Next::Drop;
    }
    let (t, c) = if IP6 { Icmp::PORT_UNREACHABLE6 } else { Icmp::PORT_UNREACHABLE4 };
    set_error(vm.bufs.meta_mut(bi), t, c, 0);
    Next::IcmpError
}
