//! The graph: node registrations shared by all threads, and each thread's
//! runtime copy with its pending queues and the dispatch loop.
//!
//! Dispatch: input nodes are polled; the packets they return are scattered
//! by next arc into the next nodes' pending queues (runs of equal nexts are
//! moved with one copy); then pending internal nodes run, in an order where a
//! node comes after the nodes that feed it, up to [`FRAME_SIZE`] packets per
//! call, until every queue is empty.

use std::sync::Arc;

use crate::buffer::{flags, BufferIndex};
use crate::error::Error;
use crate::node::{CounterDesc, Frame, Idle, Node, NodeIndex, NodeKind, Vm, FRAME_SIZE};

/// Most packets waiting at one node; beyond this a packet is a counted drop
/// ("frame queue full") rather than an allocation. As many as one node call
/// may emit ([`crate::node::MAX_EXTRA`]).
pub const PENDING_MAX: usize = crate::node::MAX_EXTRA;

/// Builds one node instance for a thread.
pub type NodeFactory = Arc<dyn Fn(&NodeInit) -> Box<dyn Node> + Send + Sync>;

/// What a factory knows when it builds a thread's node instance.
pub struct NodeInit<'a> {
    pub thread_index: usize,
    pub ext: &'a crate::engine::Extensions,
}

/// A node registration: the same on every thread.
#[derive(Clone)]
pub struct NodeReg {
    pub name: &'static str,
    pub factory: NodeFactory,
}

/// Per-node runtime figures (`show runtime`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeStats {
    pub calls: u64,
    pub vectors: u64,
    pub suspends: u64,
    pub clocks: u64,
}

/// Input node state (`set interface rx-mode`, `show runtime` State column).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeState {
    Polling,
    Interrupt,
    Disabled,
}

pub(crate) struct NodeRt {
    pub node: Box<dyn Node>,
    pub name: &'static str,
    pub kind: NodeKind,
    pub nexts: Vec<u32>,
    pub next_names: Vec<&'static str>,
    pub pending: Vec<BufferIndex>,
    pub stats: NodeStats,
    pub counter_base: usize,
    pub counters: &'static [CounterDesc],
    pub overflow: u64,
}

/// A thread's graph.
pub struct Graph {
    pub(crate) nodes: Vec<NodeRt>,
    order: Vec<u32>,
    inputs: Vec<u32>,
    spare: Vec<BufferIndex>,
    nexts: Vec<u16>,
    scratch: Vec<BufferIndex>,
}

impl Graph {
    /// Instantiates every registration for one thread, resolving arcs.
    pub fn build(regs: &[NodeReg], init: &NodeInit, vm: &mut Vm) -> Result<Graph, Error> {
        let mut nodes = Vec::with_capacity(regs.len());
        let mut base = 0;
        for r in regs {
            let node = (r.factory)(init);
            if node.name() != r.name {
                return Err(Error::Graph(format!("node registered as '{}' calls itself '{}'", r.name, node.name())));
            }
            let counters = node.counters();
            nodes.push(NodeRt {
                kind: node.kind(),
                name: r.name,
                next_names: node.next_nodes().to_vec(),
                nexts: Vec::new(),
                node,
                pending: Vec::with_capacity(PENDING_MAX),
                stats: NodeStats::default(),
                counter_base: base,
                counters,
                overflow: 0,
            });
            base += counters.len();
        }
        for i in 0..nodes.len() {
            let mut resolved = Vec::with_capacity(nodes[i].next_names.len());
            for name in &nodes[i].next_names {
                match nodes.iter().position(|n| n.name == *name) {
                    Some(j) => resolved.push(j as u32),
                    None => return Err(Error::UnresolvedArc { from: nodes[i].name.into(), to: name.to_string() }),
                }
            }
            nodes[i].nexts = resolved;
        }
        vm.counters = vec![0; base];
        let inputs = (0..nodes.len() as u32).filter(|&i| nodes[i as usize].kind == NodeKind::Input).collect();
        let mut g = Graph {
            nodes,
            order: Vec::new(),
            inputs,
            spare: Vec::with_capacity(PENDING_MAX),
            nexts: vec![0; FRAME_SIZE],
            scratch: Vec::with_capacity(PENDING_MAX),
        };
        g.compute_order();
        Ok(g)
    }

    /// Orders internal nodes so a node follows the nodes feeding it
    /// (depth-first from the inputs, back edges ignored).
    fn compute_order(&mut self) {
        let n = self.nodes.len();
        let mut state = vec![0u8; n];
        let mut post = Vec::with_capacity(n);
        fn visit(g: &Graph, i: usize, state: &mut [u8], post: &mut Vec<u32>) {
            if state[i] != 0 {
                return;
            }
            state[i] = 1;
            for &j in &g.nodes[i].nexts {
                visit(g, j as usize, state, post);
            }
            state[i] = 2;
            post.push(i as u32);
        }
        let roots: Vec<usize> = self.inputs.iter().map(|&i| i as usize).chain(0..n).collect();
        for r in roots {
            visit(self, r, &mut state, &mut post);
        }
        post.reverse();
        self.order = post.into_iter().filter(|&i| self.nodes[i as usize].kind == NodeKind::Internal).collect();
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node's index by name.
    pub fn node_index(&self, name: &str) -> Option<NodeIndex> {
        self.nodes.iter().position(|n| n.name == name).map(|i| NodeIndex(i as u32))
    }

    /// A node's name.
    pub fn node_name(&self, i: NodeIndex) -> &'static str {
        self.nodes.get(i.0 as usize).map_or("?", |n| n.name)
    }

    /// Whether a node is an input node.
    pub fn is_input(&self, i: NodeIndex) -> bool {
        self.nodes.get(i.0 as usize).is_some_and(|n| n.kind == NodeKind::Input)
    }

    /// The node instance, for control-plane closures (`downcast_mut`).
    pub fn node_mut<T: Node>(&mut self, name: &str) -> Option<&mut T> {
        let i = self.node_index(name)?;
        self.nodes[i.0 as usize].node.as_any_mut().downcast_mut::<T>()
    }

    /// Runs `f` on the node instance `name` (of type `T`) as its dispatch
    /// would: `vm.now` read anew and the node's own counters counting. For
    /// housekeeping the control plane schedules between frames (timeouts);
    /// `f` must not emit packets. None when there is no such node.
    pub fn with_node<T: Node, R>(
        &mut self,
        vm: &mut Vm,
        name: &str,
        f: impl FnOnce(&mut T, &mut Vm) -> R,
    ) -> Option<R> {
        let i = self.node_index(name)?;
        let n = &mut self.nodes[i.0 as usize];
        let node = n.node.as_any_mut().downcast_mut::<T>()?;
        let saved = (vm.current, vm.counter_base, vm.now);
        (vm.current, vm.counter_base, vm.now) = (i, n.counter_base, crate::arch::rdtsc());
        let r = f(node, vm);
        (vm.current, vm.counter_base, vm.now) = saved;
        Some(r)
    }

    /// Queues a packet at a node (control plane: ping, punt injection).
    /// False when the node's queue is full; the caller keeps the buffer.
    pub fn inject(&mut self, node: NodeIndex, bi: BufferIndex) -> bool {
        match self.nodes.get_mut(node.0 as usize) {
            Some(n) if n.pending.len() < PENDING_MAX => {
                n.pending.push(bi);
                true
            }
            _ => false,
        }
    }

    /// Adds (or finds) an arc from `from` to `to`; returns its next index.
    pub fn add_next(&mut self, from: &str, to: &str) -> Result<u16, Error> {
        let f = self.node_index(from).ok_or_else(|| Error::NoSuchNode(from.into()))?;
        let t = self.node_index(to).ok_or_else(|| Error::UnresolvedArc { from: from.into(), to: to.into() })?;
        let tname = self.nodes[t.0 as usize].name;
        let n = &mut self.nodes[f.0 as usize];
        if let Some(k) = n.nexts.iter().position(|&x| x == t.0) {
            return Ok(k as u16);
        }
        n.nexts.push(t.0);
        n.next_names.push(tname);
        self.compute_order();
        Ok(self.nodes[f.0 as usize].nexts.len() as u16 - 1)
    }

    /// Per-node stats and error counters (name, kind, stats, counters).
    pub fn stats(&self) -> impl Iterator<Item = (&'static str, NodeKind, NodeStats)> + '_ {
        self.nodes.iter().map(|n| (n.name, n.kind, n.stats))
    }

    /// Error counters: (node name, reason, severity, count), zeros included.
    pub(crate) fn errors<'a>(&'a self, vm: &'a Vm) -> impl Iterator<Item = (&'static str, CounterDesc, u64)> + 'a {
        self.nodes.iter().enumerate().flat_map(move |(i, n)| {
            let overflow = (n.overflow > 0).then_some((n.name, CounterDesc::error("frame queue full"), n.overflow));
            // Hand-offs between threads, where there were any.
            let handoff = vm.handoff.as_ref().map(|h| h.counters(NodeIndex(i as u32)));
            let handoff = handoff.into_iter().flatten().filter(|c| c.1 > 0).map(move |(d, c)| (n.name, d, c));
            n.counters
                .iter()
                .enumerate()
                .map(move |(k, d)| (n.name, *d, vm.counters.get(n.counter_base + k).copied().unwrap_or(0)))
                .chain(overflow)
                .chain(handoff)
        })
    }

    pub(crate) fn clear_stats(&mut self) {
        for n in &mut self.nodes {
            n.stats = NodeStats::default();
        }
    }

    pub(crate) fn clear_errors(&mut self, vm: &mut Vm) {
        vm.counters.fill(0);
        if let Some(h) = vm.handoff.as_mut() {
            h.clear_counters();
        }
        for n in &mut self.nodes {
            n.overflow = 0;
        }
    }

    /// Whether every input node lets the thread sleep, and until when.
    pub fn idle(&self) -> Idle {
        let mut deadline: Option<u64> = None;
        for &i in &self.inputs {
            match self.nodes[i as usize].node.idle() {
                Idle::Busy => return Idle::Busy,
                Idle::Sleep { deadline: Some(d) } => deadline = Some(deadline.map_or(d, |x| x.min(d))),
                Idle::Sleep { deadline: None } => {}
            }
        }
        Idle::Sleep { deadline }
    }

    /// Whether every next is the same (branch-free so it vectorizes).
    #[inline(always)]
    fn uniform(nexts: &[u16]) -> bool {
        let Some(&first) = nexts.first() else { return false };
        nexts.iter().fold(0u16, |acc, &x| acc | (x ^ first)) == 0
    }

    /// Hands a whole frame to one next node without copying when that node
    /// has nothing pending: the two queues swap storage. Returns false when
    /// the caller must scatter instead.
    #[inline(always)]
    fn hand_off(nodes: &mut [NodeRt], from: usize, pkts: &mut Vec<BufferIndex>, nexts: &[u16], uniform: bool) -> bool {
        if !uniform {
            return false;
        }
        if nexts[0] == crate::device::NEXT_CONSUMED {
            // The node kept every packet (a tx node): nothing to move.
            return true;
        }
        match nodes[from].nexts.get(nexts[0] as usize) {
            Some(&t) if t as usize != from && nodes[t as usize].pending.is_empty() => {
                std::mem::swap(&mut nodes[t as usize].pending, pkts);
                true
            }
            _ => false,
        }
    }

    /// Scatters the packets a node emitted with `Vm::emit`.
    #[inline]
    fn scatter_extra(nodes: &mut [NodeRt], from: usize, vm: &mut Vm) {
        if vm.extra_dropped > 0 {
            nodes[from].overflow += std::mem::take(&mut vm.extra_dropped);
        }
        if vm.extra.is_empty() {
            return;
        }
        let mut extra = std::mem::take(&mut vm.extra);
        for &(nx, bi) in &extra {
            Self::scatter(nodes, from, std::slice::from_ref(&bi), std::slice::from_ref(&nx), true, vm);
        }
        extra.clear();
        vm.extra = extra;
    }

    /// Moves runs of equal nexts into the next nodes' queues.
    #[inline]
    fn scatter(nodes: &mut [NodeRt], from: usize, pkts: &[BufferIndex], nexts: &[u16], uniform: bool, vm: &mut Vm) {
        let n = pkts.len();
        let mut s = 0;
        while s < n {
            let nx = nexts[s];
            let mut e = s + 1;
            if uniform {
                e = n;
            }
            while e < n && nexts[e] == nx {
                e += 1;
            }
            let run = &pkts[s..e];
            if nx == crate::device::NEXT_CONSUMED {
                s = e;
                continue;
            }
            let target = nodes[from].nexts.get(nx as usize).copied();
            match target {
                Some(t) => {
                    let q = &mut nodes[t as usize];
                    let room = PENDING_MAX - q.pending.len();
                    if run.len() <= room {
                        q.pending.extend_from_slice(run);
                    } else {
                        q.pending.extend_from_slice(&run[..room]);
                        q.overflow += (run.len() - room) as u64;
                        vm.bufs.free(&run[room..]);
                    }
                }
                None => {
                    // A next index the node never declared: a bug in that
                    // node, made a counted drop rather than a crash.
                    nodes[from].overflow += run.len() as u64;
                    vm.bufs.free(run);
                }
            }
            s = e;
        }
    }

    /// One pass: poll the inputs, then drain the internal nodes. Returns the
    /// number of packets the inputs produced.
    pub fn run_once(&mut self, vm: &mut Vm) -> usize {
        let mut produced = 0;
        for k in 0..self.inputs.len() {
            let i = self.inputs[k] as usize;
            produced += self.poll_input(i, vm);
        }
        if produced > 0 || self.order.iter().any(|&i| !self.nodes[i as usize].pending.is_empty()) {
            self.drain(vm);
        }
        produced
    }

    fn poll_input(&mut self, i: usize, vm: &mut Vm) -> usize {
        let t0 = crate::arch::rdtsc();
        vm.now = t0;
        vm.current = NodeIndex(i as u32);
        vm.counter_base = self.nodes[i].counter_base;
        if self.scratch.len() != FRAME_SIZE {
            // Only after the previous frame was handed off by swapping.
            self.scratch.resize(FRAME_SIZE, BufferIndex(0));
        }
        let mut frame = Frame { pkts: &mut self.scratch[..], nexts: &mut self.nexts[..] };
        let n = self.nodes[i].node.poll(vm, &mut frame).min(FRAME_SIZE);
        if n > 0 && vm.trace.active() {
            let budget = vm.trace.budget(NodeIndex(i as u32)) as usize;
            let marked = budget.min(n);
            for &bi in &self.scratch[..marked] {
                if let Some(slot) = vm.trace.start() {
                    let text = self.nodes[i].node.input_trace(&vm.bufs, bi);
                    let m = vm.bufs.meta_mut(bi);
                    m.flags |= flags::TRACED;
                    m.trace_index = slot;
                    vm.trace.add(slot, NodeIndex(i as u32), t0, text);
                }
            }
            if marked > 0 {
                vm.trace.take_budget(NodeIndex(i as u32), marked as u32);
            }
        }
        // One next for all (the usual case, and cheap to see): the frame
        // moves as one run, or whole without a copy.
        let uniform = Self::uniform(&self.nexts[..n]);
        if n == FRAME_SIZE && Self::hand_off(&mut self.nodes, i, &mut self.scratch, &self.nexts[..n], uniform) {
            // The full frame moved to the next node without a copy.
        } else if n > 0 {
            Self::scatter(&mut self.nodes, i, &self.scratch[..n], &self.nexts[..n], uniform, vm);
        }
        Self::scatter_extra(&mut self.nodes, i, vm);
        let st = &mut self.nodes[i].stats;
        st.calls += 1;
        st.vectors += n as u64;
        st.clocks += crate::arch::rdtsc().wrapping_sub(t0);
        n
    }

    fn drain(&mut self, vm: &mut Vm) {
        // Bounded: loops through the graph (ip4-local -> ip4-lookup) settle
        // in a few passes; anything left waits for the next run.
        for _pass in 0..16 {
            let mut any = false;
            for k in 0..self.order.len() {
                let i = self.order[k] as usize;
                if self.nodes[i].pending.is_empty() {
                    continue;
                }
                any = true;
                let mut work = std::mem::replace(&mut self.nodes[i].pending, std::mem::take(&mut self.spare));
                if work.len() <= FRAME_SIZE {
                    let t0 = crate::arch::rdtsc();
                    vm.now = t0;
                    vm.current = NodeIndex(i as u32);
                    vm.counter_base = self.nodes[i].counter_base;
                    let len = work.len();
                    let mut frame = Frame { pkts: &mut work[..], nexts: &mut self.nexts[..len] };
                    self.nodes[i].node.process(vm, &mut frame);
                    let uniform = Self::uniform(&self.nexts[..len]);
                    if !Self::hand_off(&mut self.nodes, i, &mut work, &self.nexts[..len], uniform) {
                        Self::scatter(&mut self.nodes, i, &work, &self.nexts[..len], uniform, vm);
                    }
                    Self::scatter_extra(&mut self.nodes, i, vm);
                    let st = &mut self.nodes[i].stats;
                    st.calls += 1;
                    st.vectors += len as u64;
                    st.clocks += crate::arch::rdtsc().wrapping_sub(t0);
                    work.clear();
                    self.spare = work;
                    continue;
                }
                for chunk in work.chunks_mut(FRAME_SIZE) {
                    let t0 = crate::arch::rdtsc();
                    vm.now = t0;
                    vm.current = NodeIndex(i as u32);
                    vm.counter_base = self.nodes[i].counter_base;
                    let len = chunk.len();
                    let mut frame = Frame { pkts: chunk, nexts: &mut self.nexts[..len] };
                    self.nodes[i].node.process(vm, &mut frame);
                    let uniform = Self::uniform(&self.nexts[..len]);
                    Self::scatter(&mut self.nodes, i, chunk, &self.nexts[..len], uniform, vm);
                    Self::scatter_extra(&mut self.nodes, i, vm);
                    let st = &mut self.nodes[i].stats;
                    st.calls += 1;
                    st.vectors += len as u64;
                    st.clocks += crate::arch::rdtsc().wrapping_sub(t0);
                }
                work.clear();
                self.spare = work;
            }
            if !any {
                break;
            }
        }
    }
}
