//! Packet trace: `trace add <input-node> <count>` marks the next packets an
//! input node produces; every node they pass records a line; `show trace`
//! prints them per thread as VPP does.

use crate::node::NodeIndex;

/// Most traced packets kept per thread.
pub const MAX_TRACED: usize = 10_000;

/// One node's line in a packet's trace.
#[derive(Clone, Debug)]
pub struct TraceEntry {
    pub tsc: u64,
    pub node: NodeIndex,
    pub text: String,
}

/// A thread's traced packets.
#[derive(Default)]
pub struct TraceBuffer {
    pub(crate) packets: Vec<Vec<TraceEntry>>,
    /// Remaining packets to mark, per input node.
    pub(crate) budgets: Vec<(NodeIndex, u32)>,
}

impl TraceBuffer {
    #[inline(always)]
    pub(crate) fn active(&self) -> bool {
        !self.packets.is_empty() || !self.budgets.is_empty()
    }

    pub(crate) fn budget(&self, node: NodeIndex) -> u32 {
        self.budgets.iter().find(|(n, _)| *n == node).map_or(0, |b| b.1)
    }

    pub(crate) fn take_budget(&mut self, node: NodeIndex, n: u32) {
        if let Some(b) = self.budgets.iter_mut().find(|(x, _)| *x == node) {
            b.1 = b.1.saturating_sub(n);
        }
        self.budgets.retain(|b| b.1 > 0);
    }

    /// Starts a new packet's trace; returns its slot, or None when full.
    pub(crate) fn start(&mut self) -> Option<u32> {
        if self.packets.len() >= MAX_TRACED {
            return None;
        }
        self.packets.push(Vec::with_capacity(8));
        Some(self.packets.len() as u32 - 1)
    }

    pub(crate) fn add(&mut self, slot: u32, node: NodeIndex, tsc: u64, text: String) {
        if let Some(p) = self.packets.get_mut(slot as usize) {
            if p.len() < 64 {
                p.push(TraceEntry { tsc, node, text });
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.packets.clear();
        self.budgets.clear();
    }
}
