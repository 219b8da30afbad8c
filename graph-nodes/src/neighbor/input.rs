//! `arp-input` / `ip6-nd`: one node type over the resolution protocol
//! ([`Protocol`]: ARP's [`Arp`](super::arp::Arp), Neighbor Discovery's
//! [`NdMsg`](super::nd::NdMsg)).
//!
//! The node parses each packet and drops it, counted, when it is malformed
//! (one counter per parse error) or its interface is down; otherwise the
//! protocol handles the message: it answers in place and sends the answer
//! back out the interface it came in on ([`Cx::send_back`]), learns the
//! sender ([`Cx::learn`]), or drops it.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use rvpp_dataplane::buffer::{RX, TX};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::interface::IfSnapshot;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::{drop, push_l2, Heard, Learn, Learner, NeighborPub, NeighborShared, NeighborTable, Next, NEXTS};
use crate::ethernet::ethertype;
use crate::ethernet::sub::{SubTable, Subs};
use crate::ip::addr::{IfAddrTable, IfAddrs};

/// What ARP and Neighbor Discovery each bring to [`NeighborInput`]: the
/// message, its node's name and counters, and how it is handled.
pub trait Protocol: Sized + 'static {
    const NAME: &'static str;
    /// The family of the addresses it resolves.
    const IP6: bool;
    type Counter: Copy + Into<usize>;
    const COUNTERS: &'static [CounterDesc];
    /// Counters of the steps the node shares.
    const IF_DOWN: Self::Counter;
    const NO_L2: Self::Counter;
    const SENT: Self::Counter;
    const RATE_LIMITED: Self::Counter;
    /// The message at the start of the packet, or the counter of why it is
    /// malformed.
    fn read(d: &[u8]) -> Result<Self, usize>;
    /// The trace line of a packet.
    fn format(d: &[u8]) -> String;
    /// Handles the message of a packet received on `rx`, an interface that
    /// is up at `our_mac`.
    fn handle(self, cx: &mut Cx<'_, Self>, vm: &mut Vm, bi: BufferIndex, rx: u32, our_mac: [u8; 6]) -> Next;
}

/// The node of one protocol.
pub struct NeighborInput<P: Protocol> {
    addrs: IfAddrTable,
    subs: Subs,
    shared: NeighborPub,
    learner: Learner,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> NeighborInput<P> {
    pub const NAME: &'static str = P::NAME;

    pub fn new(addrs: IfAddrTable, subs: Subs, shared: NeighborPub) -> Self {
        NeighborInput { addrs, subs, shared, learner: Learner::default(), protocol: PhantomData }
    }
}

/// What the protocol sees while handling a packet: the tables as loaded for
/// the frame, and the thread's [`Learner`].
pub struct Cx<'a, P> {
    pub addrs: &'a IfAddrs,
    pub subs: &'a SubTable,
    shared: &'a NeighborShared,
    ifs: &'a IfSnapshot,
    learner: &'a mut Learner,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Cx<'_, P> {
    fn one(&mut self, vm: &mut Vm, bi: BufferIndex) -> Next {
        let rx = vm.bufs.meta(bi).sw_if_index[RX];
        let m = match P::read(vm.bufs.data(bi)) {
            Ok(m) => m,
            Err(c) => return drop(vm, c),
        };
        let Some(our_mac) = self.ifs.ifs.get(rx as usize).filter(|f| f.admin_up).map(|f| f.mac) else {
            return drop(vm, P::IF_DOWN);
        };
        m.handle(self, vm, bi, rx, our_mac)
    }

    /// Learns that `addr` is at `mac` on `rx` (a multicast MAC never is),
    /// as far as `heard` allows, counted as `learned` unless over the
    /// thread's rate.
    pub fn learn(&mut self, vm: &mut Vm, rx: u32, addr: u128, mac: [u8; 6], heard: Heard, learned: P::Counter) {
        if mac[0] & 1 != 0 {
            return;
        }
        match self.learner.learn(vm, self.shared, (P::IP6, rx, addr), mac, heard) {
            Learn::RateLimited => vm.count(P::RATE_LIMITED.into(), 1),
            Learn::Post | Learn::Known => vm.count(learned.into(), 1),
        }
    }

    /// Sends the answer built in `bi` back out `rx` to `dst` (`None`: to the
    /// frame's source), with the frame's VLAN tags.
    pub fn send_back(&self, vm: &mut Vm, bi: BufferIndex, rx: u32, dst: Option<[u8; 6]>) -> Next {
        let ty = if P::IP6 { ethertype::IP6 } else { ethertype::ARP };
        if push_l2(vm, bi, self.subs, rx, dst, ty).is_err() {
            return drop(vm, P::NO_L2);
        }
        vm.bufs.meta_mut(bi).sw_if_index[TX] = rx;
        vm.count(P::SENT.into(), 1);
        Next::Output
    }
}

impl<P: Protocol> Node for NeighborInput<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &NEXTS
    }
    fn counters(&self) -> &'static [CounterDesc] {
        P::COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let addrs = self.addrs.load();
        let subs = self.subs.load();
        let shared = self.shared.load();
        let ifs = vm.ifs.clone();
        let mut cx = Cx {
            addrs: &addrs,
            subs: &subs,
            shared: &shared,
            ifs: &ifs,
            learner: &mut self.learner,
            protocol: PhantomData::<fn() -> P>,
        };
        let tracing = vm.tracing();
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            if tracing {
                vm.trace(bi, |b| P::format(b.data(bi)));
            }
            frame.nexts[k] = cx.one(vm, bi) as u16;
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Adds the node of `P`.
pub fn register<P: Protocol>(r: &mut Registrar) {
    let addrs = r.ext.get_or_default::<IfAddrTable>().clone();
    let subs = r.ext.get_or_default::<Subs>().clone();
    let shared = r.ext.get_or_default::<NeighborTable>().shared();
    r.node(NodeReg {
        name: P::NAME,
        factory: Arc::new(move |_| Box::new(NeighborInput::<P>::new(addrs.clone(), subs.clone(), shared.clone()))),
    });
}
