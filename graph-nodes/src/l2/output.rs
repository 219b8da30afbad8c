//! `l2-output`: the last L2 step before the tx interface. Frames leave
//! unchanged through `interface-output`; a frame bound for an interface that
//! is down or gone is a counted drop.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::TX;
use rvpp_dataplane::device::{ErrorDrop, InterfaceOutput};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::{CounterDesc, Frame, Node, Vm};

#[repr(u16)]
enum Next {
    Drop = 0,
    Output = 1,
}

static COUNTERS: [CounterDesc; 1] = [CounterDesc::error("output interface down")];

/// The `l2-output` node.
#[derive(Default)]
pub struct L2Output;

impl L2Output {
    pub const NAME: &'static str = "l2-output";
}

impl Node for L2Output {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[ErrorDrop::NAME, InterfaceOutput::NAME]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let ifs = vm.ifs.clone();
        let mut down = 0;
        let mut last = (u32::MAX, false);
        for (k, &bi) in frame.pkts.iter().enumerate() {
            let tx = vm.bufs.meta(bi).sw_if_index[TX];
            if tx != last.0 {
                last = (tx, ifs.is_up(tx));
            }
            frame.nexts[k] = if last.1 {
                Next::Output as u16
            } else {
                down += 1;
                Next::Drop as u16
            };
        }
        vm.count(0, down);
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| format!("l2-output: sw_if_index {}", b.meta(bi).sw_if_index[TX]));
            }
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    r.node(NodeReg { name: L2Output::NAME, factory: Arc::new(|_| Box::new(L2Output)) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvpp_dataplane::interface::{IfFast, IfSnapshot};
    use rvpp_dataplane::testing::Harness;

    #[test]
    fn down_interfaces_drop() {
        let mut h = Harness::new(Box::new(L2Output), 3);
        let mut ifs = IfSnapshot { ifs: vec![IfFast { admin_up: true, ..Default::default() }; 3] };
        ifs.ifs[2].admin_up = false;
        h.set_interfaces(ifs);
        let mut p = [h.packet(&[0; 60], 0), h.packet(&[0; 60], 0), h.packet(&[0; 60], 0)];
        for (k, tx) in [1u32, 2, 7].iter().enumerate() {
            h.vm.bufs.meta_mut(p[k]).sw_if_index[TX] = *tx;
        }
        let n = h.run(&mut p);
        let names: Vec<&str> = n.iter().map(|&x| h.next_name(x)).collect();
        assert_eq!(names, ["interface-output", "error-drop", "error-drop"]);
        assert_eq!(h.counter("output interface down"), 2);
    }
}
