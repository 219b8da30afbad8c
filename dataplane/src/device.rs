//! The driver contract: a [`Device`] is the control-plane side of a hardware
//! interface; each thread gets a [`TxQueue`] from it; received packets come
//! from the driver's own input node. The generic `interface-output` node
//! hands packets to the tx queues, and `error-drop` frees dropped packets.

use std::any::Any;

use crate::buffer::{BufferIndex, ThreadBuffers, RX, TX};
use crate::graph::NodeReg;
use crate::node::{CounterDesc, Frame, Node, Vm};

/// A frame's next value meaning "the node kept or sent the packet".
pub const NEXT_CONSUMED: u16 = u16::MAX;

/// The control-plane side of a hardware interface.
pub trait Device: Send + Sync + 'static {
    /// Driver name (`pg`, `null`, `af_packet`...).
    fn driver(&self) -> &'static str;
    /// The tx queue for one thread (each thread transmits on its own).
    fn tx_queue(&self, thread_index: usize) -> Option<Box<dyn TxQueue>>;
    /// Extra lines for `show hardware-interfaces`.
    fn format_hw(&self) -> String {
        String::new()
    }
    /// Admin state changed.
    fn admin_change(&self, up: bool) {
        let _ = up;
    }
    /// The input node that receives this device's packets, if any.
    fn input_node(&self) -> Option<&'static str> {
        None
    }
    /// The largest IP packet of one TCP segment the device cuts into MTU
    /// sized segments itself ([`crate::buffer::flags::GSO`] buffers: TSO,
    /// or GSO in the kernel behind it); 0 when it takes none.
    fn tso_max(&self) -> u32 {
        0
    }
    fn as_any(&self) -> &dyn Any;
}

/// One thread's transmit queue of a device.
pub trait TxQueue: Send {
    /// Takes ownership of the first n packets (sent or freed by the driver)
    /// and returns n; the caller frees and counts the rest as tx errors.
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize;
    /// Of the packets taken since the last call, how many the driver
    /// dropped rather than sent, and their bytes (asked after each `tx`):
    /// `interface-output` counts them as tx errors, not as transmitted.
    /// Drivers that send all they take need not implement it.
    fn take_dropped(&mut self) -> (u64, u64) {
        (0, 0)
    }
}

/// `interface-output`: hands each packet to its tx interface's queue.
#[derive(Default)]
pub struct InterfaceOutput {
    tx: Vec<Option<Box<dyn TxQueue>>>,
}

#[repr(u16)]
enum OutNext {
    Drop,
}

#[repr(usize)]
enum OutCounter {
    Down,
    NoTx,
    TxError,
}

impl InterfaceOutput {
    pub const NAME: &'static str = "interface-output";

    /// Installs (or removes) this thread's tx queue for an interface.
    pub fn set_tx(&mut self, sw_if_index: u32, q: Option<Box<dyn TxQueue>>) {
        let i = sw_if_index as usize;
        if self.tx.len() <= i {
            self.tx.resize_with(i + 1, || None);
        }
        self.tx[i] = q;
    }

    pub fn register() -> NodeReg {
        NodeReg { name: Self::NAME, factory: std::sync::Arc::new(|_| Box::new(InterfaceOutput::default())) }
    }
}

impl Node for InterfaceOutput {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[ErrorDrop::NAME]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        const C: [CounterDesc; 3] = [
            CounterDesc::error("interface is down"),
            CounterDesc::error("no tx queue"),
            CounterDesc::error("tx error"),
        ];
        &C
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let n = frame.len();
        let ifs = vm.ifs.clone();
        let mut s = 0;
        while s < n {
            let sw = vm.bufs.meta(frame.pkts[s]).sw_if_index[TX];
            let mut e = s + 1;
            let mut bytes = vm.bufs.chain_len(frame.pkts[s]) as u64;
            while e < n {
                let m = vm.bufs.meta(frame.pkts[e]);
                if m.sw_if_index[TX] != sw {
                    break;
                }
                bytes += m.current_length as u64 + m.total_length_not_including_first_buffer as u64;
                e += 1;
            }
            let hw = ifs.ifs.get(sw as usize).map(|f| (f.admin_up, f.sup_sw_if_index));
            match hw {
                Some((true, sup)) => match self.tx.get_mut(sup as usize).and_then(|q| q.as_mut()) {
                    Some(q) => {
                        let sent = q.tx(&mut vm.bufs, &frame.pkts[s..e]);
                        let (lost, lost_bytes) = q.take_dropped();
                        frame.nexts[s..s + sent].fill(NEXT_CONSUMED);
                        let ok = (sent as u64).saturating_sub(lost);
                        vm.ifc.tx_batch(sw, ok, if sent == e - s { bytes.saturating_sub(lost_bytes) } else { 0 });
                        if lost > 0 {
                            vm.ifc.tx_error(sw, lost);
                            vm.count(OutCounter::TxError as usize, lost);
                        }
                        if s + sent < e {
                            frame.nexts[s + sent..e].fill(OutNext::Drop as u16);
                            vm.ifc.tx_error(sw, (e - s - sent) as u64);
                            vm.count(OutCounter::TxError as usize, (e - s - sent) as u64);
                        }
                    }
                    None => {
                        frame.nexts[s..e].fill(OutNext::Drop as u16);
                        vm.count(OutCounter::NoTx as usize, (e - s) as u64);
                    }
                },
                _ => {
                    frame.nexts[s..e].fill(OutNext::Drop as u16);
                    vm.count(OutCounter::Down as usize, (e - s) as u64);
                }
            }
            if vm.tracing() {
                for &bi in &frame.pkts[s..e] {
                    vm.trace(bi, |_| format!("sw_if_index {sw}"));
                }
            }
            s = e;
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `error-drop`: frees dropped packets and counts them on their rx
/// interface. Reasons are counted by the nodes that chose to drop.
#[derive(Default)]
pub struct ErrorDrop;

impl ErrorDrop {
    pub const NAME: &'static str = "error-drop";
    pub fn register() -> NodeReg {
        NodeReg { name: Self::NAME, factory: std::sync::Arc::new(|_| Box::new(ErrorDrop)) }
    }
}

impl Node for ErrorDrop {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[]
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| format!("rx:sw_if_index {}: dropped", b.meta(bi).sw_if_index[RX]));
            }
        }
        let mut s = 0;
        let n = frame.len();
        while s < n {
            let sw = vm.bufs.meta(frame.pkts[s]).sw_if_index[RX];
            let mut e = s + 1;
            while e < n && vm.bufs.meta(frame.pkts[e]).sw_if_index[RX] == sw {
                e += 1;
            }
            vm.ifc.drop(sw, (e - s) as u64);
            s = e;
        }
        vm.bufs.free(frame.pkts);
        frame.all_to(NEXT_CONSUMED);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Counts one rx burst of a queue on `sw`: `packets` of `bytes` received,
/// `no_buffer` dropped for want of buffers, and the driver's own error
/// counters (`errors[k]` adds to counter `k` of its input node).
pub fn count_rx_burst(
    vm: &mut Vm,
    sw: u32,
    packets: u64,
    bytes: u64,
    no_buffer: u64,
    errors: impl IntoIterator<Item = u64>,
) {
    if packets > 0 {
        vm.ifc.rx_batch(sw, packets, bytes);
    }
    if no_buffer > 0 {
        vm.ifc.rx_no_buf(sw, no_buffer);
    }
    for (k, n) in errors.into_iter().enumerate() {
        if n > 0 {
            vm.count(k, n);
        }
    }
}

/// One receive queue of a device, owned by the thread it is placed on.
pub trait RxQueue: Send + 'static {
    fn sw_if_index(&self) -> u32;
    fn queue_id(&self) -> u32;
    /// Receives up to `out.len()` packets into fresh buffers (metadata set,
    /// rx counters counted); returns how many.
    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize;
    /// The fd that becomes readable when packets arrive (interrupt mode).
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    fn mode(&self) -> crate::interface::RxMode;
    fn set_mode(&mut self, mode: crate::interface::RxMode);
}

/// The generic input node of a driver (`af-packet-input`, `memif-input`...):
/// polls the rx queues placed on its thread and sends packets to its first
/// next node.
pub struct DeviceInput {
    name: &'static str,
    nexts: &'static [&'static str],
    counters: &'static [CounterDesc],
    queues: Vec<Box<dyn RxQueue>>,
    cursor: usize,
}

impl DeviceInput {
    pub fn new(name: &'static str, nexts: &'static [&'static str]) -> Self {
        DeviceInput { name, nexts, counters: &[], queues: Vec::new(), cursor: 0 }
    }

    /// A registration for a driver's input node.
    pub fn register(name: &'static str, nexts: &'static [&'static str]) -> NodeReg {
        Self::register_with_counters(name, nexts, &[])
    }

    /// A registration whose node declares the driver's error counters: an rx
    /// queue's `vm.count(k, n)` adds to counter `k` of this list.
    pub fn register_with_counters(
        name: &'static str,
        nexts: &'static [&'static str],
        counters: &'static [CounterDesc],
    ) -> NodeReg {
        NodeReg {
            name,
            factory: std::sync::Arc::new(move |_| {
                let mut d = DeviceInput::new(name, nexts);
                d.counters = counters;
                Box::new(d)
            }),
        }
    }

    /// Adds a queue placed on this thread.
    pub fn add_queue(&mut self, q: Box<dyn RxQueue>, vm: &Vm) {
        if let Some(fd) = q.fd() {
            let _ = vm.register_fd(fd, q.sw_if_index() as usize);
        }
        self.queues.push(q);
    }

    /// Removes queues of an interface (all, or one queue id).
    pub fn take_queues(&mut self, sw_if_index: u32, queue: Option<u32>, vm: &Vm) -> Vec<Box<dyn RxQueue>> {
        let mut out = Vec::new();
        let mut k = 0;
        while k < self.queues.len() {
            let q = &self.queues[k];
            if q.sw_if_index() == sw_if_index && queue.is_none_or(|x| x == q.queue_id()) {
                let q = self.queues.remove(k);
                if let Some(fd) = q.fd() {
                    let _ = vm.deregister_fd(fd);
                }
                out.push(q);
            } else {
                k += 1;
            }
        }
        out
    }

    /// Sets the rx mode of an interface's queues on this thread.
    pub fn set_mode(&mut self, sw_if_index: u32, queue: Option<u32>, mode: crate::interface::RxMode) {
        for q in &mut self.queues {
            if q.sw_if_index() == sw_if_index && queue.is_none_or(|x| x == q.queue_id()) {
                q.set_mode(mode);
            }
        }
    }
}

impl Node for DeviceInput {
    fn name(&self) -> &'static str {
        self.name
    }
    fn kind(&self) -> crate::node::NodeKind {
        crate::node::NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        self.counters
    }
    fn poll(&mut self, vm: &mut Vm, frame: &mut Frame) -> usize {
        let nq = self.queues.len();
        let mut n = 0;
        for k in 0..nq {
            if n >= frame.pkts.len() {
                break;
            }
            let q = &mut self.queues[(self.cursor + k) % nq];
            n += q.rx(vm, &mut frame.pkts[n..]);
        }
        if nq > 0 {
            self.cursor = (self.cursor + 1) % nq;
        }
        frame.nexts[..n].fill(0);
        n
    }
    fn idle(&self) -> crate::node::Idle {
        use crate::interface::RxMode;
        if self.queues.iter().any(|q| q.mode() == RxMode::Polling || q.fd().is_none()) {
            crate::node::Idle::Busy
        } else {
            crate::node::Idle::Sleep { deadline: None }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Places a new rx queue on a thread (control plane).
pub fn place_rx_queue(e: &mut crate::engine::Engine, node: &'static str, q: Box<dyn RxQueue>, thread: usize) {
    let sw = crate::interface::SwIfIndex(q.sw_if_index());
    let (qid, mode) = (q.queue_id(), q.mode());
    let mut q = Some(q);
    e.on_thread(
        thread,
        Box::new(move |w| {
            let Worker { graph, vm, .. } = w;
            if let (Some(n), Some(q)) = (graph.node_mut::<DeviceInput>(node), q.take()) {
                n.add_queue(q, vm);
            }
        }),
    );
    if let Some(f) = e.interfaces.get_mut(sw) {
        f.rx_queues.push((qid, thread, mode));
    }
}

use crate::thread::Worker;

/// `set interface rx-placement`: moves queues of an interface to a thread.
pub fn move_rx_queues(
    e: &mut crate::engine::Engine,
    sw: crate::interface::SwIfIndex,
    queue: Option<u32>,
    thread: usize,
) -> Result<String, crate::cli::CliError> {
    let Some(node) = e.interfaces.get(sw).and_then(|f| f.device.as_ref()).and_then(|d| d.input_node()) else {
        return crate::cli::err("set interface rx-placement: interface has no rx queues");
    };
    let taken = e.on_all_threads(move |w| {
        let Worker { graph, vm, .. } = w;
        graph.node_mut::<DeviceInput>(node).map(|n| n.take_queues(sw.0, queue, vm)).unwrap_or_default()
    });
    let mut moved = 0;
    if let Some(f) = e.interfaces.get_mut(sw) {
        f.rx_queues.retain(|(q, _, _)| queue.is_some_and(|x| x != *q));
    }
    for qs in taken {
        for q in qs {
            place_rx_queue(e, node, q, thread);
            moved += 1;
        }
    }
    if moved == 0 {
        return crate::cli::err("set interface rx-placement: no such queue");
    }
    Ok(String::new())
}

/// `set interface rx-mode`.
pub fn set_rx_mode(
    e: &mut crate::engine::Engine,
    sw: crate::interface::SwIfIndex,
    queue: Option<u32>,
    mode: crate::interface::RxMode,
) -> Result<String, crate::cli::CliError> {
    let Some(node) = e.interfaces.get(sw).and_then(|f| f.device.as_ref()).and_then(|d| d.input_node()) else {
        return crate::cli::err("set interface rx-mode: interface has no rx queues");
    };
    e.on_all_threads(move |w| {
        if let Some(n) = w.graph.node_mut::<DeviceInput>(node) {
            n.set_mode(sw.0, queue, mode);
        }
    });
    if let Some(f) = e.interfaces.get_mut(sw) {
        for q in &mut f.rx_queues {
            if queue.is_none_or(|x| x == q.0) {
                q.2 = mode;
            }
        }
    }
    Ok(String::new())
}
