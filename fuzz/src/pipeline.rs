//! Several nodes on one buffer arena, packets routed between them by the
//! names of their next arcs, and the invariants checked after every node
//! call:
//!
//! - every packet of the frame gets a declared arc (an index below
//!   `next_nodes().len()`) or [`NEXT_CONSUMED`]; every emitted packet a
//!   declared arc;
//! - no buffer is held twice (in two queues, twice in one, or as part of
//!   another packet's chain);
//! - every packet handed on has a window inside its buffer and, when
//!   chained, a chain whose lengths add up;
//! - the per-arc [`Check`] of the target holds;
//! - at the end, once the packets that left the pipeline are freed and the
//!   nodes have let go of what they keep (reassembly contexts time out),
//!   the arena has every buffer back.
//!
//! Nodes run on a [`Harness`] one at a time: each is swapped into
//! `Harness::node` for its call. The harness's counters belong to none of
//! them; no check reads counters.

use std::any::Any;
use std::collections::HashSet;

use rvpp_dataplane::buffer::{flags, BufferIndex, HEADROOM};
use rvpp_dataplane::device::NEXT_CONSUMED;
use rvpp_dataplane::interface::IfSnapshot;
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::testing::Harness;
use rvpp_dataplane::{Frame, Node, Vm};

/// A target's check of one packet handed from node `from` to the node
/// named `to`; it panics with a message saying what is wrong.
pub type Check = fn(h: &Harness, from: &str, to: &str, bi: BufferIndex);

/// Node calls one input may take before the pipeline is called looping.
const MAX_CALLS: usize = 20_000;

/// Stands in `Harness::node` between calls.
struct Parked;

impl Node for Parked {
    fn name(&self) -> &'static str {
        "fuzz-parked"
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[]
    }
    fn process(&mut self, _: &mut Vm, _: &mut Frame) {
        unreachable!("the parked node never runs");
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct Stage {
    node: Box<dyn Node>,
    name: &'static str,
    nexts: Vec<&'static str>,
    /// Per next arc: the stage it feeds, or `None`: the packet leaves.
    route: Vec<Option<usize>>,
    queue: Vec<BufferIndex>,
}

/// The nodes of a target and the packets in flight between them.
pub struct Pipeline {
    pub h: Harness,
    stages: Vec<Stage>,
    /// Packets that left the pipeline: (arc name, buffer).
    out: Vec<(&'static str, BufferIndex)>,
    check: Check,
    baseline: i64,
    calls: usize,
}

/// Buffers taken from the arena and not back in its pool or the thread's
/// cache (as `Harness::buffers_in_use`, signed, so that a double free shows
/// as a negative count rather than an overflow).
fn in_use(h: &Harness) -> i64 {
    let st = h.vm.bufs.arena().stats(1);
    i64::from(st.total) - i64::from(st.free) - h.vm.bufs.cached() as i64
}

impl Pipeline {
    /// A pipeline of `nodes` on interfaces `ifs`. A packet sent to an arc
    /// whose name is another stage's node name, or that `links` maps
    /// ((from node, arc name) → stage name), goes to that stage; the rest
    /// leave the pipeline.
    pub fn new(nodes: Vec<Box<dyn Node>>, links: &[(&str, &str, &str)], ifs: IfSnapshot, check: Check) -> Pipeline {
        let mut h = Harness::new(Box::new(Parked), ifs.ifs.len());
        h.set_interfaces(ifs);
        let names: Vec<&'static str> = nodes.iter().map(|n| n.name()).collect();
        let stages = nodes
            .into_iter()
            .map(|node| {
                let name = node.name();
                let nexts = node.next_nodes().to_vec();
                let route = nexts
                    .iter()
                    .map(|&to| {
                        let to = links.iter().find(|l| l.0 == name && l.1 == to).map_or(to, |l| l.2);
                        names.iter().position(|&n| n == to)
                    })
                    .collect();
                Stage { node, name, nexts, route, queue: Vec::new() }
            })
            .collect();
        let baseline = in_use(&h);
        Pipeline { h, stages, out: Vec::new(), check, baseline, calls: 0 }
    }

    /// A buffer holding `bytes`, received on `rx`.
    pub fn packet(&mut self, bytes: &[u8], rx: u32) -> BufferIndex {
        self.h.packet(bytes, rx)
    }

    /// The stage running the node `name`.
    pub fn stage(&self, name: &str) -> usize {
        self.stages.iter().position(|s| s.name == name).unwrap_or_else(|| panic!("no stage {name}"))
    }

    /// Runs `pkts` as one frame into stage `entry`, then everything they
    /// lead to, until no stage has packets queued.
    pub fn run(&mut self, entry: usize, pkts: Vec<BufferIndex>) {
        self.stages[entry].queue.extend(pkts);
        self.check_owners();
        self.run_queued();
    }

    fn call(&mut self, s: usize, frame: &mut [BufferIndex]) {
        self.calls += 1;
        assert!(self.calls <= MAX_CALLS, "packets keep circulating: {} node calls", self.calls);
        std::mem::swap(&mut self.h.node, &mut self.stages[s].node);
        let nexts = self.h.run(frame);
        let emitted = self.h.take_emitted();
        std::mem::swap(&mut self.h.node, &mut self.stages[s].node);
        let name = self.stages[s].name;
        let declared = self.stages[s].nexts.len();
        assert_eq!(nexts.len(), frame.len(), "{name}: one next per packet");
        for (k, (&bi, &next)) in frame.iter().zip(&nexts).enumerate() {
            if next == NEXT_CONSUMED {
                continue;
            }
            assert!(
                usize::from(next) < declared,
                "{name}: packet {k} of {} sent to arc {next}, but the node declares {declared}",
                frame.len()
            );
            self.hand_on(s, next, bi);
        }
        for &(next, bi) in &emitted {
            assert!(usize::from(next) < declared, "{name}: emitted a packet to arc {next} of {declared}");
            self.hand_on(s, next, bi);
        }
        self.check_owners();
    }

    fn hand_on(&mut self, s: usize, next: u16, bi: BufferIndex) {
        let st = &self.stages[s];
        let to = st.nexts[usize::from(next)];
        check_buffer(&self.h, st.name, to, bi);
        (self.check)(&self.h, st.name, to, bi);
        match st.route[usize::from(next)] {
            Some(t) => self.stages[t].queue.push(bi),
            None => self.out.push((to, bi)),
        }
    }

    /// Every buffer the pipeline holds, chains included, is held once.
    fn check_owners(&self) {
        let mut seen = HashSet::new();
        let held = self.stages.iter().flat_map(|s| s.queue.iter().map(move |&b| (s.name, b)));
        for (at, head) in held.chain(self.out.iter().copied()) {
            for bi in chain(&self.h, head) {
                assert!(seen.insert(bi), "buffer {} held twice (once at {at}, packet {})", bi.0, head.0);
            }
        }
    }

    /// Times out what the nodes keep (the clock jumps far ahead and every
    /// node runs on an empty frame), frees the packets that left, and
    /// checks that every buffer came back.
    pub fn finish(mut self) {
        self.h.vm.now = u64::MAX / 2;
        for s in 0..self.stages.len() {
            self.call(s, &mut []);
        }
        self.run_queued();
        let heads: Vec<BufferIndex> = self.out.iter().map(|o| o.1).collect();
        self.h.vm.bufs.free(&heads);
        let left = in_use(&self.h) - self.baseline;
        assert!(left == 0, "{left} buffers neither handed on nor freed (negative: freed twice)");
    }

    fn run_queued(&mut self) {
        while let Some(s) = self.stages.iter().position(|s| !s.queue.is_empty()) {
            let n = self.stages[s].queue.len().min(FRAME_SIZE);
            let mut frame: Vec<BufferIndex> = self.stages[s].queue.drain(..n).collect();
            self.call(s, &mut frame);
        }
    }
}

/// The buffers of a packet, head first (a chain is cut at 64 buffers, as
/// the arena walks it).
pub fn chain(h: &Harness, head: BufferIndex) -> Vec<BufferIndex> {
    let count = h.vm.bufs.arena().count();
    let mut out = vec![head];
    let mut cur = head;
    while h.vm.bufs.meta(cur).flags & flags::NEXT_PRESENT != 0 && out.len() < 64 {
        let next = h.vm.bufs.meta(cur).next_buffer;
        assert!(next < count, "buffer {} chains to {next}, beyond the arena", cur.0);
        cur = BufferIndex(next);
        out.push(cur);
    }
    out
}

/// The packet's window lies inside each of its buffers, and a chain's
/// length after its head is what the head says.
fn check_buffer(h: &Harness, from: &str, to: &str, head: BufferIndex) {
    let cap = h.vm.bufs.raw(head).len() as i64;
    let mut rest = 0u64;
    for (k, bi) in chain(h, head).into_iter().enumerate() {
        let m = h.vm.bufs.meta(bi);
        let start = HEADROOM as i64 + i64::from(m.current_data);
        let end = start + i64::from(m.current_length);
        assert!(
            start >= 0 && end <= cap,
            "{from} -> {to}: buffer {} (#{k} of packet {}) has window {start}..{end} outside 0..{cap}",
            bi.0,
            head.0
        );
        if k > 0 {
            rest += u64::from(m.current_length);
        }
    }
    let m = h.vm.bufs.meta(head);
    assert_eq!(
        u64::from(m.total_length_not_including_first_buffer),
        rest,
        "{from} -> {to}: packet {}'s chain holds {rest} bytes after its head, its head says {}",
        head.0,
        m.total_length_not_including_first_buffer
    );
}

/// How a packet target feeds the input's packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The bytes are whole Ethernet frames, into `ethernet-input`.
    Frames,
    /// The bytes are an L3 packet; the harness puts the Ethernet header of
    /// their receive interface in front (VLAN tags of a sub-interface
    /// included) and feeds `ethernet-input`.
    Wrapped(u16),
    /// The bytes are an L3 packet, straight into the node named.
    Direct(&'static str),
}

/// Runs a packet target: each frame of the input into the pipeline as
/// `feed` says, then [`Pipeline::finish`].
pub fn run_packets(mut p: Pipeline, input: &crate::framing::Input, feed: Feed) {
    let entry = p.stage(match feed {
        Feed::Direct(n) => n,
        _ => "ethernet-input",
    });
    for frame in &input.frames {
        let pkts = frame
            .iter()
            .map(|r| {
                let mut b = Vec::with_capacity(r.bytes.len() + 22);
                let mut rx = r.rx;
                if let Feed::Wrapped(et) = feed {
                    let (h, parent) = crate::fixture::l2_header(r.rx, et, None);
                    b.extend_from_slice(&h);
                    rx = parent;
                }
                let l3 = b.len();
                b.extend_from_slice(r.bytes);
                if r.fix {
                    let at = if feed == Feed::Frames { crate::wire::l3_offset(&b) } else { l3 };
                    crate::wire::fix(&mut b[at..]);
                }
                p.packet(&b, rx)
            })
            .collect();
        p.run(entry, pkts);
    }
    p.finish();
}
