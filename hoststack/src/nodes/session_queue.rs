//! `session-queue`: the per-thread input node that runs the session
//! layer's timers (retransmission, delayed ACK, persist, keepalive,
//! TIME_WAIT, SYN-ACK resends), sends output deferred for lack of room and
//! hands apps their events. Between deadlines it lets the thread sleep:
//! its [`Idle`] deadline is the earliest timer, converted to the TSC.

use std::any::Any;
use std::sync::{Arc, Mutex};

use rvpp_dataplane::device::ErrorDrop;
use rvpp_dataplane::node::{Idle, NodeKind};
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};
use rvpp_graph_nodes::ip::names;

use super::output::{self, PacketSink, PathMtu};
use super::{lock, Clock, SessionLayer};
use crate::session::SessionTable;

#[repr(usize)]
#[derive(Clone, Copy)]
enum Counter {
    Runs,
    /// The first of [`output::COUNTERS`].
    Output,
}

static COUNTERS: [CounterDesc; 8] = output::with_output(&[CounterDesc::info("timer and deferred-output runs")]);

/// The session layer's per-thread timer and output node.
pub struct SessionQueue {
    nexts: [&'static str; 3],
    table: Arc<Mutex<SessionTable>>,
    clock: Clock,
    path_mtu: Option<PathMtu>,
}

impl SessionQueue {
    pub const NAME: &'static str = "session-queue";

    pub fn new(layer: &SessionLayer, thread: usize, clock: Clock) -> Self {
        SessionQueue {
            nexts: [ErrorDrop::NAME, names(false).lookup, names(true).lookup],
            table: layer.table(thread),
            clock,
            path_mtu: None,
        }
    }

    /// Checks IPv6 datagrams the apps send against the path MTU.
    pub fn with_path_mtu(mut self, p: PathMtu) -> Self {
        self.path_mtu = Some(p);
        self
    }
}

impl Node for SessionQueue {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn kind(&self) -> NodeKind {
        NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn poll(&mut self, vm: &mut Vm, _frame: &mut Frame) -> usize {
        let now = self.clock.ns(vm.now);
        let table = self.table.clone();
        let mut t = lock(&table);
        if !t.busy() && t.next_deadline().is_none_or(|d| d > now) {
            return 0;
        }
        let mut ip_id = t.ip_id();
        let mut sink = PacketSink::new(vm, 1, 2, &mut ip_id);
        sink.path_mtu = self.path_mtu.as_ref();
        t.poll(now, &mut sink);
        let c = sink.counts;
        t.set_ip_id(ip_id);
        vm.count(Counter::Runs as usize, 1);
        c.count(vm, Counter::Output as usize);
        0
    }
    fn idle(&self) -> Idle {
        let t = lock(&self.table);
        if t.busy() {
            return Idle::Busy;
        }
        Idle::Sleep { deadline: t.next_deadline().map(|d| self.clock.tsc(d)) }
    }
    fn input_trace(&self, bufs: &rvpp_dataplane::ThreadBuffers, bi: rvpp_dataplane::BufferIndex) -> String {
        format!("session-queue: {} bytes", bufs.meta(bi).current_length)
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
