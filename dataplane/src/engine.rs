//! The engine: buffer arena, node registrations, interface table, threads
//! and CLI registry, owned by the main thread. It runs as the daemon's core
//! or embedded (benchmarks, tests) through [`EngineBuilder`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::buffer::{Backing, Buffers};
use crate::cli::{CliError, Registry};
use crate::config::{PageSize, StartupConfig};
use crate::device::{Device, ErrorDrop, InterfaceOutput};
use crate::error::Error;
use crate::graph::{Graph, NodeInit, NodeReg, NodeStats};
use crate::handoff::Handoff;
use crate::interface::{IfCounters, IfSnapshot, InterfaceTable, SwIfIndex};
use crate::node::{NodeKind, Vm};
use crate::publish::Published;
use crate::thread::{ThreadCmd, ThreadHandle, Worker, WAKER_TOKEN};
use crate::trace::TraceBuffer;

/// Per-engine state of the crates plugged in (graph-nodes' tables, driver
/// registries), one value per type.
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Box<dyn Any + Send>>);

impl Extensions {
    pub fn insert<T: Any + Send>(&mut self, v: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(v));
    }
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>()).and_then(|b| b.downcast_ref())
    }
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.0.get_mut(&TypeId::of::<T>()).and_then(|b| b.downcast_mut())
    }
    /// The value of type T, created with `Default` on first use.
    pub fn get_or_default<T: Any + Send + Default>(&mut self) -> &mut T {
        self.0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut()
            .expect("type map entry has the type of its key")
    }
}

/// What a plugging crate registers: nodes, CLI commands, state.
pub struct Registrar<'a> {
    pub nodes: &'a mut Vec<NodeReg>,
    pub cli: &'a mut Registry,
    pub ext: &'a mut Extensions,
    pub config: &'a StartupConfig,
}

impl Registrar<'_> {
    /// Adds a node registration.
    pub fn node(&mut self, reg: NodeReg) {
        self.nodes.push(reg);
    }
}

/// A plugging crate's entry point (`graph_nodes::register_all`).
pub type RegisterFn = fn(&mut Registrar);

/// Work for the main thread (from the CLI server, signal handlers...).
pub type MainCmd = Box<dyn FnOnce(&mut Engine) + Send>;

/// Sends work to the main thread from any thread.
#[derive(Clone)]
pub struct MainHandle {
    tx: Sender<MainCmd>,
    waker: Arc<mio::Waker>,
}

impl MainHandle {
    /// Queues work for the main thread; false when the engine is gone.
    pub fn send(&self, cmd: MainCmd) -> bool {
        let ok = self.tx.send(cmd).is_ok();
        let _ = self.waker.wake();
        ok
    }
}

/// Builds an [`Engine`].
/// What runs when an interface is deleted, before it goes: protocol crates
/// add a function here (`r.ext.get_or_default::<InterfaceDeleteHooks>()`)
/// to drop their state about the interface (the engine names no protocol).
#[derive(Default, Clone)]
pub struct InterfaceDeleteHooks(pub Vec<fn(&mut Engine, SwIfIndex)>);

/// What runs when an interface comes up or changes its MAC (after the
/// change is published): protocol crates add a function here to tell the
/// link (gratuitous ARP, unsolicited neighbor advertisements).
#[derive(Default, Clone)]
pub struct InterfaceAnnounceHooks(pub Vec<fn(&mut Engine, SwIfIndex)>);

pub struct EngineBuilder {
    config: StartupConfig,
    plugins: Vec<RegisterFn>,
    workers: Option<usize>,
    buffer_prefix: usize,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EngineBuilder {
    pub fn new() -> Self {
        EngineBuilder { config: StartupConfig::default(), plugins: Vec::new(), workers: None, buffer_prefix: 0 }
    }
    /// Uses a parsed startup.conf (buffers, cpu).
    pub fn config(mut self, c: StartupConfig) -> Self {
        self.config = c;
        self
    }
    /// Sets the buffer count (`buffers { buffers-per-numa N }`).
    pub fn buffers(mut self, n: u32) -> Self {
        self.config.buffers.buffers_per_numa = n;
        self
    }
    /// Runs N worker threads besides the main one (unpinned).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }
    /// Reserves `bytes` before each buffer's metadata for a driver's own
    /// header ([`Buffers::with_prefix`]; DPDK zero copy keeps an `rte_mbuf`
    /// there). 0, the default, reserves nothing.
    pub fn buffer_prefix(mut self, bytes: usize) -> Self {
        self.buffer_prefix = bytes;
        self
    }
    /// Adds a crate's registrations.
    pub fn plugin(mut self, f: RegisterFn) -> Self {
        self.plugins.push(f);
        self
    }

    pub fn build(self) -> Result<Engine, Error> {
        let cfg = self.config;
        let backing = match cfg.buffers.page_size {
            PageSize::DefaultHugepage => Backing::HugepagesIfAvailable,
            PageSize::Bytes(b) if b >= 2 << 20 => Backing::HugepagesIfAvailable,
            _ => Backing::Pages,
        };
        let buffers =
            Buffers::with_prefix(cfg.buffers.buffers_per_numa, cfg.buffers.data_size, backing, self.buffer_prefix)
                .map_err(Error::Buffers)?;
        let mut regs = vec![ErrorDrop::register(), InterfaceOutput::register()];
        let mut cli = Registry::default();
        crate::cli::builtin::register(&mut cli);
        let mut ext = Extensions::default();
        for p in &self.plugins {
            p(&mut Registrar { nodes: &mut regs, cli: &mut cli, ext: &mut ext, config: &cfg });
        }
        for (i, r) in regs.iter().enumerate() {
            if regs[..i].iter().any(|o| o.name == r.name) {
                return Err(Error::DuplicateNode(r.name.into()));
            }
        }
        let nworkers = self.workers.unwrap_or_else(|| cfg.cpu.worker_count());
        let ifs_pub: Published<IfSnapshot> = Published::default();
        let (main_tx, main_rx) = crossbeam_channel::unbounded();

        // Rings between threads, for flows that must stay on one (none with
        // a single thread).
        let handoff = (nworkers > 0).then(|| Handoff::new(1 + nworkers));

        let make_worker = |index: usize, name: String, ext: &Extensions| -> Result<(Worker, ThreadHandle), Error> {
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?);
            if let Some(h) = &handoff {
                h.set_waker(index, waker.clone());
            }
            let (tx, rx) = crossbeam_channel::unbounded::<ThreadCmd>();
            let mut vm = Vm {
                bufs: buffers.thread(index),
                thread_index: index,
                now: 0,
                ifc: IfCounters::default(),
                ifs: ifs_pub.load(),
                counters: Vec::new(),
                counter_base: 0,
                current: crate::node::NodeIndex(0),
                trace: TraceBuffer::default(),
                registry: Some(poll.registry().try_clone()?),
                to_main: None,
                extra: Vec::with_capacity(crate::node::MAX_EXTRA),
                extra_dropped: 0,
                handoff: handoff.as_ref().and_then(|h| h.port(index)),
            };
            let graph = Graph::build(&regs, &NodeInit { thread_index: index, ext }, &mut vm)?;
            let w = Worker::new(index, name.clone(), graph, vm, poll, rx, ifs_pub.clone());
            Ok((w, ThreadHandle { index, name, lcore: None, tx, waker, join: None }))
        };

        let (mut local, main_handle) = make_worker(0, "rvpp_main".into(), &ext)?;
        local.lcore = cfg.cpu.main_core;
        if let Some(c) = cfg.cpu.main_core {
            core_affinity::set_for_current(core_affinity::CoreId { id: c });
        }
        let main_waker = main_handle.waker.clone();
        let to_main = MainHandle { tx: main_tx.clone(), waker: main_waker.clone() };
        local.vm.to_main = Some(to_main.clone());
        let ncores = core_affinity::get_core_ids().map_or(1, |v| v.len());
        let mut workers = Vec::new();
        for k in 0..nworkers {
            let (mut w, mut h) = make_worker(k + 1, format!("rvpp_wk_{k}"), &ext)?;
            w.vm.to_main = Some(to_main.clone());
            let core = if !cfg.cpu.corelist_workers.is_empty() {
                cfg.cpu.corelist_workers.get(k).copied()
            } else if self.workers.is_none() {
                Some(cfg.cpu.main_core.unwrap_or(0) + 1 + cfg.cpu.skip_cores + k)
            } else {
                None
            };
            w.lcore = core.filter(|&c| c < ncores);
            h.lcore = w.lcore;
            h.join = Some(
                std::thread::Builder::new()
                    .name(h.name.clone())
                    .spawn(move || w.run_forever())
                    .map_err(|e| Error::Thread { thread: k + 1, message: e.to_string() })?,
            );
            workers.push(h);
        }
        let mut e = Engine {
            buffers,
            interfaces: InterfaceTable::default(),
            ifs_pub,
            ext,
            cli,
            local,
            main_lcore: cfg.cpu.main_core,
            workers,
            main_tx,
            main_rx,
            main_waker,
            start: Instant::now(),
            start_tsc: crate::arch::rdtsc(),
            config: cfg,
            quit: false,
            next_rx_thread: 0,
            timers: Vec::new(),
            next_timer_tsc: 0,
            in_run_until: false,
        };
        // sw_if_index 0 is `local0`, as in VPP: no device, always down.
        let local0 = e.interfaces.add_hw("local0".into(), [0; 6], 0, None);
        e.interface_added(local0);
        Ok(e)
    }
}

/// The engine, owned by the main thread.
pub struct Engine {
    pub buffers: Arc<Buffers>,
    pub interfaces: InterfaceTable,
    ifs_pub: Published<IfSnapshot>,
    pub ext: Extensions,
    pub cli: Registry,
    /// Thread 0's graph (the main thread runs a graph too).
    pub local: Worker,
    pub main_lcore: Option<usize>,
    workers: Vec<ThreadHandle>,
    main_tx: Sender<MainCmd>,
    main_rx: Receiver<MainCmd>,
    main_waker: Arc<mio::Waker>,
    pub start: Instant,
    pub start_tsc: u64,
    pub config: StartupConfig,
    /// Set by `quit`/signals: the main loop ends.
    pub quit: bool,
    next_rx_thread: usize,
    timers: Vec<Timer>,
    next_timer_tsc: u64,
    in_run_until: bool,
}

/// A periodic main-thread task (neighbor aging, reassembly timeouts...).
struct Timer {
    name: &'static str,
    every: Duration,
    next: Instant,
    f: fn(&mut Engine),
}

/// Per-thread stats as `show runtime` prints them.
#[derive(Clone, Debug)]
pub struct ThreadRuntime {
    pub index: usize,
    pub name: String,
    pub lcore: Option<usize>,
    pub loops: u64,
    pub nodes: Vec<(&'static str, NodeKind, NodeStats)>,
}

impl Engine {
    /// Starts a builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    /// Number of threads running a graph (main + workers).
    pub fn num_threads(&self) -> usize {
        1 + self.workers.len()
    }

    /// Number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.workers.len()
    }

    /// Worker handles (threads 1..).
    pub fn worker_handles(&self) -> &[ThreadHandle] {
        &self.workers
    }

    /// A handle other threads use to queue work for the main thread.
    pub fn main_handle(&self) -> MainHandle {
        MainHandle { tx: self.main_tx.clone(), waker: self.main_waker.clone() }
    }

    /// Runs one CLI command line.
    pub fn exec(&mut self, line: &str) -> Result<String, CliError> {
        let reg = std::mem::take(&mut self.cli);
        let r = reg.run(self, line);
        self.cli = reg;
        r
    }

    /// Completion candidates for a partial command line.
    pub fn complete(&self, line: &str) -> Vec<String> {
        self.cli.complete_words(line)
    }

    /// Runs `f` on thread `t` (now for thread 0, else between its frames).
    pub fn on_thread(&mut self, t: usize, f: ThreadCmd) {
        if t == 0 {
            f(&mut self.local);
        } else if let Some(h) = self.workers.get(t - 1) {
            h.send(f);
        }
    }

    /// Runs `f` on every thread and collects the results in thread order.
    /// A worker that does not answer within 2 s is left out.
    pub fn on_all_threads<R: Send + 'static>(
        &mut self,
        f: impl Fn(&mut Worker) -> R + Send + Sync + 'static,
    ) -> Vec<R> {
        let f = Arc::new(f);
        let (tx, rx) = crossbeam_channel::unbounded();
        for h in &self.workers {
            let (f, tx) = (f.clone(), tx.clone());
            let idx = h.index;
            h.send(Box::new(move |w| {
                let _ = tx.send((idx, f(w)));
            }));
        }
        let mut out = vec![(0, f(&mut self.local))];
        let deadline = Instant::now() + Duration::from_secs(2);
        while out.len() < 1 + self.workers.len() {
            match rx.recv_deadline(deadline) {
                Ok(r) => out.push(r),
                Err(_) => break,
            }
        }
        out.sort_by_key(|r| r.0);
        out.into_iter().map(|r| r.1).collect()
    }

    /// Publishes the interface table to every thread.
    pub fn publish_interfaces(&mut self) {
        self.ifs_pub.store(self.interfaces.snapshot());
        self.local.vm.ifs = self.ifs_pub.load();
    }

    /// Creates a hardware interface for a device and installs its per-thread
    /// tx queues and counters. It starts admin down, as in VPP.
    pub fn create_interface(
        &mut self,
        name: String,
        mac: [u8; 6],
        mtu: u32,
        device: Option<Arc<dyn Device>>,
    ) -> SwIfIndex {
        let sw = self.interfaces.add_hw(name, mac, mtu, device.clone());
        self.interface_added(sw);
        if let Some(dev) = device {
            for t in 0..self.num_threads() {
                if let Some(q) = dev.tx_queue(t) {
                    let mut q = Some(q);
                    self.on_thread(
                        t,
                        Box::new(move |w| {
                            if let Some(o) = w.graph.node_mut::<InterfaceOutput>(InterfaceOutput::NAME) {
                                o.set_tx(sw.0, q.take());
                            }
                        }),
                    );
                }
            }
        }
        sw
    }

    /// Grows every thread's counters for a new interface and publishes it.
    pub fn interface_added(&mut self, _sw: SwIfIndex) {
        let n = self.interfaces.capacity();
        self.on_all_threads(move |w| w.vm.ifc.ensure(n));
        self.publish_interfaces();
    }

    /// Removes an interface: admin down, tx queues dropped, name freed.
    pub fn delete_interface(&mut self, sw: SwIfIndex) -> bool {
        if self.interfaces.get(sw).is_none() {
            return false;
        }
        // Whatever refers to the interface (addresses, routes, neighbors,
        // cross-connects) goes first, while it can still be looked up.
        let hooks = self.ext.get::<InterfaceDeleteHooks>().map(|h| h.0.clone()).unwrap_or_default();
        for h in hooks {
            h(self, sw);
        }
        let Some(i) = self.interfaces.get_mut(sw) else { return false };
        i.admin_up = false;
        i.deleted = true;
        i.rx_queues.clear();
        let input = i.device.as_ref().and_then(|d| d.input_node());
        // Once the threads let go of the queues, the device itself goes so
        // the driver can release its resources in Drop.
        self.on_all_threads(move |w| {
            if let Some(o) = w.graph.node_mut::<InterfaceOutput>(InterfaceOutput::NAME) {
                o.set_tx(sw.0, None);
            }
            if let Some(name) = input {
                let Worker { graph, vm, .. } = w;
                if let Some(n) = graph.node_mut::<crate::device::DeviceInput>(name) {
                    drop(n.take_queues(sw.0, None, vm));
                }
            }
        });
        if let Some(i) = self.interfaces.ifs.get_mut(sw.0 as usize) {
            i.device = None;
        }
        self.publish_interfaces();
        true
    }

    /// Sets admin state.
    pub fn set_admin(&mut self, sw: SwIfIndex, up: bool) -> bool {
        let Some(i) = self.interfaces.get_mut(sw) else { return false };
        i.admin_up = up;
        let dev = i.device.clone();
        let is_hw = i.sup_sw_if_index == sw;
        if let (Some(d), true) = (dev, is_hw) {
            d.admin_change(up);
        }
        self.publish_interfaces();
        if up {
            self.announce(sw);
        }
        true
    }

    /// Runs the [`InterfaceAnnounceHooks`] for `sw` (it came up or its MAC
    /// changed).
    pub fn announce(&mut self, sw: SwIfIndex) {
        let hooks = self.ext.get::<InterfaceAnnounceHooks>().map(|h| h.0.clone()).unwrap_or_default();
        for h in hooks {
            h(self, sw);
        }
    }

    /// Picks the thread for a new rx queue: workers round-robin, else main.
    pub fn next_rx_thread(&mut self) -> usize {
        if self.workers.is_empty() {
            return 0;
        }
        let t = 1 + self.next_rx_thread % self.workers.len();
        self.next_rx_thread += 1;
        t
    }

    /// Interface counters summed over threads.
    pub fn interface_counters(&mut self) -> IfCounters {
        let mut sum = IfCounters::default();
        for c in &self.on_all_threads(|w| w.vm.ifc.clone()) {
            sum.add(c);
        }
        sum
    }

    /// Zeroes interface counters (`clear interfaces`).
    pub fn clear_interface_counters(&mut self) {
        self.on_all_threads(|w| w.vm.ifc.clear());
    }

    /// Per-thread node runtime stats.
    pub fn runtime(&mut self) -> Vec<ThreadRuntime> {
        self.on_all_threads(|w| ThreadRuntime {
            index: w.index,
            name: w.name.clone(),
            lcore: w.lcore,
            loops: w.loops,
            nodes: w.graph.stats().collect(),
        })
    }

    /// Zeroes node runtime stats on every thread.
    pub fn clear_runtime(&mut self) {
        self.on_all_threads(|w| {
            w.graph.clear_stats();
            w.loops = 0;
        });
    }

    /// Error counters summed over threads: (node, reason, severity, count).
    pub fn errors(&mut self) -> Vec<(&'static str, crate::node::CounterDesc, u64)> {
        let all = self.on_all_threads(|w| w.graph.errors(&w.vm).collect::<Vec<_>>());
        let mut sum: Vec<(&'static str, crate::node::CounterDesc, u64)> = Vec::new();
        for t in all {
            for (node, d, c) in t {
                match sum.iter_mut().find(|(n, x, _)| *n == node && x.name == d.name) {
                    Some(e) => e.2 += c,
                    None => sum.push((node, d, c)),
                }
            }
        }
        sum
    }

    /// Zeroes error counters on every thread.
    pub fn clear_errors(&mut self) {
        self.on_all_threads(|w| w.graph.clear_errors(&mut w.vm));
    }

    /// Seconds since the engine started.
    pub fn uptime(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Runs `f` on the main thread every `every` (slow-path housekeeping).
    /// A second registration under the same name replaces the first.
    pub fn add_periodic(&mut self, name: &'static str, every: Duration, f: fn(&mut Engine)) {
        self.timers.retain(|t| t.name != name);
        self.timers.push(Timer { name, every, next: Instant::now() + every, f });
    }

    fn run_timers(&mut self) {
        // Checked by TSC so a busy main loop does not read the clock each pass.
        let tsc = crate::arch::rdtsc();
        if tsc < self.next_timer_tsc {
            return;
        }
        self.next_timer_tsc = tsc + (crate::arch::tsc_hz() / 100.0) as u64;
        let now = Instant::now();
        let mut due = Vec::new();
        for t in &mut self.timers {
            if t.next <= now {
                t.next = now + t.every;
                due.push(t.f);
            }
        }
        for f in due {
            f(self);
        }
    }

    /// Runs queued main-thread work; returns whether there was any.
    pub fn run_main_commands(&mut self) -> bool {
        self.run_timers();
        let mut any = false;
        while let Ok(cmd) = self.main_rx.try_recv() {
            cmd(self);
            any = true;
        }
        self.local.run_commands();
        any
    }

    /// The daemon's main loop: control work, thread 0's graph, idle sleep.
    pub fn run_main_loop(&mut self) {
        while !self.quit {
            let busy = self.run_main_commands();
            let n = self.local.run_once();
            if !busy {
                self.local.maybe_sleep(n, Duration::from_millis(100));
            }
        }
    }

    /// Embedded use: runs thread 0's graph until `done` says stop or
    /// `timeout` passes. Returns false on timeout.
    ///
    /// Re-entrant: a CLI command that waits (ping) calls this to keep thread
    /// 0's dataplane running; nested calls do not run other queued commands.
    pub fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&mut Engine) -> bool) -> bool {
        let t0 = Instant::now();
        let nested = std::mem::replace(&mut self.in_run_until, true);
        let r = loop {
            if nested {
                self.local.run_commands();
            } else {
                self.run_main_commands();
            }
            let mut n = 0;
            for _ in 0..64 {
                n += self.local.run_once();
            }
            if done(self) {
                break true;
            }
            if t0.elapsed() > timeout {
                break false;
            }
            if n == 0 && nested {
                // Waiting on the network (ping): don't spin a core.
                self.local.maybe_sleep(0, Duration::from_millis(1));
            }
        };
        self.in_run_until = nested;
        r
    }

    /// Runs main-thread work posted by nodes ([`crate::Vm::post`]) now.
    pub fn run_posted(&mut self) {
        while let Ok(cmd) = self.main_rx.try_recv() {
            cmd(self);
        }
    }

    /// Stops and joins the workers.
    pub fn shutdown(&mut self) {
        for h in &self.workers {
            h.send(Box::new(|w| w.stop = true));
        }
        for h in &mut self.workers {
            if let Some(j) = h.join.take() {
                let _ = j.join();
            }
        }
        self.workers.clear();
        self.local.vm.bufs.flush();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
