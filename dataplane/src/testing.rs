//! A harness that runs one node on a frame, for node unit tests (no graph,
//! no threads): make packets, run, check nexts and counters.

use std::sync::Arc;

use crate::buffer::{Backing, BufferIndex, Buffers};
use crate::interface::{IfCounters, IfFast, IfSnapshot};
use crate::node::{Frame, Node, NodeIndex, Vm};
use crate::trace::TraceBuffer;

/// One node and a thread context of its own.
pub struct Harness {
    pub vm: Vm,
    pub node: Box<dyn Node>,
    _arena: Arc<Buffers>,
}

impl Harness {
    /// A harness with `nifs` interfaces, all admin up, MACs 02:00:00:00:00:<i>.
    pub fn new(node: Box<dyn Node>, nifs: usize) -> Harness {
        let arena = Buffers::new(4096, 2048, Backing::Pages).expect("arena");
        let ifs = IfSnapshot {
            ifs: (0..nifs)
                .map(|i| IfFast {
                    admin_up: true,
                    link_up: true,
                    sup_sw_if_index: i as u32,
                    mtu: 9000,
                    mac: [2, 0, 0, 0, 0, i as u8],
                    tso_max: 0,
                })
                .collect(),
        };
        let mut ifc = IfCounters::default();
        ifc.ensure(nifs);
        let counters = vec![0; node.counters().len()];
        let vm = Vm {
            bufs: arena.thread(0),
            thread_index: 0,
            now: 0,
            ifc,
            ifs: Arc::new(ifs),
            counters,
            counter_base: 0,
            current: NodeIndex(0),
            trace: TraceBuffer::default(),
            registry: None,
            to_main: None,
            extra: Vec::with_capacity(crate::node::MAX_EXTRA),
            extra_dropped: 0,
            handoff: None,
        };
        Harness { vm, node, _arena: arena }
    }

    /// Runs the node as thread `port.thread()` of several: what it hands
    /// off with [`Vm::handoff`] goes into `port`'s rings (read them through
    /// another thread's port of the same [`crate::handoff::Handoff`]).
    pub fn set_handoff(&mut self, port: crate::handoff::HandoffPort) {
        self.vm.thread_index = port.thread();
        self.vm.handoff = Some(port);
    }

    /// Replaces the interface snapshot.
    pub fn set_interfaces(&mut self, ifs: IfSnapshot) {
        self.vm.ifs = Arc::new(ifs);
    }

    /// A buffer holding `bytes`, received on `rx`.
    pub fn packet(&mut self, bytes: &[u8], rx: u32) -> BufferIndex {
        let bi = self.vm.bufs.alloc_one().expect("harness arena exhausted");
        self.vm.bufs.fill(bi, bytes, rx);
        bi
    }

    /// Runs the node once on `pkts`; returns the nexts it chose. Packets the
    /// node emitted besides the frame are in [`Harness::take_emitted`].
    pub fn run(&mut self, pkts: &mut [BufferIndex]) -> Vec<u16> {
        let mut nexts = vec![0u16; pkts.len()];
        let mut frame = Frame { pkts, nexts: &mut nexts };
        self.node.process(&mut self.vm, &mut frame);
        nexts
    }

    /// Packets emitted with [`Vm::emit`] since the last call: (next, buffer).
    pub fn take_emitted(&mut self) -> Vec<(u16, BufferIndex)> {
        std::mem::take(&mut self.vm.extra)
    }

    /// The next node name an arc index stands for.
    pub fn next_name(&self, next: u16) -> &str {
        if next == crate::device::NEXT_CONSUMED {
            return "(consumed)";
        }
        self.node.next_nodes().get(next as usize).copied().unwrap_or("(undeclared)")
    }

    /// A counter's value by its reason text.
    pub fn counter(&self, reason: &str) -> u64 {
        let k = self
            .node
            .counters()
            .iter()
            .position(|c| c.name == reason)
            .unwrap_or_else(|| panic!("node has no counter '{reason}'"));
        self.vm.counters[k]
    }

    /// Buffers neither in the shared pool nor in this thread's cache.
    pub fn buffers_in_use(&self) -> u32 {
        let st = self.vm.bufs.arena().stats(1);
        st.total - st.free - self.vm.bufs.cached() as u32
    }

    /// The packet bytes of a buffer.
    pub fn bytes(&self, bi: BufferIndex) -> Vec<u8> {
        self.vm.bufs.data(bi).to_vec()
    }
}
