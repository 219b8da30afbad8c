//! Threads: each runs its own copy of the graph ([`Worker`]); the main
//! thread reaches a worker only through its command ring, read between
//! frames, and a waker that ends the worker's idle sleep. Packets other
//! threads hand to this one ([`crate::handoff`]) are queued at their
//! target nodes at the start of each dispatch loop.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::graph::Graph;
use crate::interface::IfSnapshot;
use crate::node::{Idle, Vm};
use crate::publish::Published;

/// Work the main thread sends to a thread, run between frames.
pub type ThreadCmd = Box<dyn FnOnce(&mut Worker) + Send>;

/// Consecutive empty loops before an adaptive thread may sleep.
const IDLE_LOOPS_BEFORE_SLEEP: u32 = 256;
/// Longest sleep, so timers on the thread still run.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// A thread's graph and context.
pub struct Worker {
    pub index: usize,
    pub name: String,
    pub graph: Graph,
    pub vm: Vm,
    pub lcore: Option<usize>,
    pub(crate) poll: mio::Poll,
    pub(crate) events: mio::Events,
    pub(crate) cmd_rx: Receiver<ThreadCmd>,
    pub(crate) ifs: Published<IfSnapshot>,
    pub(crate) stop: bool,
    idle_loops: u32,
    /// Dispatch loops run.
    pub loops: u64,
    /// Loops that slept.
    pub sleeps: u64,
}

/// The main thread's handle on a worker thread.
pub struct ThreadHandle {
    pub index: usize,
    pub name: String,
    pub lcore: Option<usize>,
    pub(crate) tx: Sender<ThreadCmd>,
    pub(crate) waker: Arc<mio::Waker>,
    pub(crate) join: Option<std::thread::JoinHandle<()>>,
}

impl ThreadHandle {
    /// Sends work to the thread and wakes it. False if the thread is gone.
    pub fn send(&self, cmd: ThreadCmd) -> bool {
        let ok = self.tx.send(cmd).is_ok();
        let _ = self.waker.wake();
        ok
    }
}

pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(0);

impl Worker {
    pub(crate) fn new(
        index: usize,
        name: String,
        graph: Graph,
        vm: Vm,
        poll: mio::Poll,
        cmd_rx: Receiver<ThreadCmd>,
        ifs: Published<IfSnapshot>,
    ) -> Worker {
        Worker {
            index,
            name,
            graph,
            vm,
            lcore: None,
            poll,
            events: mio::Events::with_capacity(64),
            cmd_rx,
            ifs,
            stop: false,
            idle_loops: 0,
            loops: 0,
            sleeps: 0,
        }
    }

    /// Runs queued control-plane commands.
    pub fn run_commands(&mut self) {
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            cmd(self);
        }
    }

    /// One dispatch loop; returns packets produced by input nodes or
    /// handed in by other threads (queued at their target nodes first).
    #[inline]
    pub fn run_once(&mut self) -> usize {
        self.vm.ifs = self.ifs.load();
        self.loops += 1;
        let handed_in = match self.vm.handoff.as_mut() {
            Some(h) => h.receive(&mut self.graph, &mut self.vm.bufs),
            None => 0,
        };
        self.graph.run_once(&mut self.vm) + handed_in
    }

    /// Sleeps when the graph has been idle long enough and every input node
    /// allows it; returns at once otherwise.
    pub fn maybe_sleep(&mut self, produced: usize, max: Duration) {
        if produced > 0 {
            self.idle_loops = 0;
            return;
        }
        self.idle_loops = self.idle_loops.saturating_add(1);
        if self.idle_loops < IDLE_LOOPS_BEFORE_SLEEP {
            return;
        }
        let timeout = match self.graph.idle() {
            Idle::Busy => return,
            Idle::Sleep { deadline: None } => max,
            Idle::Sleep { deadline: Some(d) } => {
                let now = crate::arch::rdtsc();
                if d <= now {
                    return;
                }
                let secs = (d - now) as f64 / crate::arch::tsc_hz();
                Duration::from_secs_f64(secs).min(max)
            }
        };
        // Other threads wake a sleeping thread when they hand it a packet.
        if self.vm.handoff.as_ref().is_some_and(|h| !h.prepare_sleep()) {
            return;
        }
        self.sleeps += 1;
        let _ = self.poll.poll(&mut self.events, Some(timeout));
        if let Some(h) = &self.vm.handoff {
            h.woke(!self.events.is_empty());
        }
        self.idle_loops = IDLE_LOOPS_BEFORE_SLEEP / 2;
    }

    /// A worker thread's whole life.
    pub(crate) fn run_forever(mut self) {
        if let Some(core) = self.lcore {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        loop {
            self.run_commands();
            if self.stop {
                break;
            }
            let n = self.run_once();
            self.maybe_sleep(n, MAX_SLEEP);
        }
        self.vm.bufs.flush();
    }
}
