//! Frame scatter: an input node hands 256-packet frames whose nexts come in
//! runs of a given length over four next nodes; cost per packet of the
//! whole dispatch (scatter + the sinks' bulk free).

use std::any::Any;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::{NodeKind, FRAME_SIZE};
use rvpp_dataplane::{Frame, Node, Vm};

struct Source {
    run: usize,
}

impl Node for Source {
    fn name(&self) -> &'static str {
        "bench-source"
    }
    fn kind(&self) -> NodeKind {
        NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &["bench-sink-0", "bench-sink-1", "bench-sink-2", "bench-sink-3"]
    }
    fn poll(&mut self, vm: &mut Vm, frame: &mut Frame) -> usize {
        let n = vm.bufs.alloc(&mut frame.pkts[..FRAME_SIZE]);
        for k in 0..n {
            vm.bufs.meta_mut(frame.pkts[k]).reset_rx(64, 0);
            frame.nexts[k] = ((k / self.run) % 4) as u16;
        }
        n
    }
    fn idle(&self) -> rvpp_dataplane::node::Idle {
        rvpp_dataplane::node::Idle::Busy
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct Sink(&'static str);

impl Node for Sink {
    fn name(&self) -> &'static str {
        self.0
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[]
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        vm.bufs.free(frame.pkts);
        frame.all_to(rvpp_dataplane::device::NEXT_CONSUMED);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn with_source(run: usize) -> Engine {
    fn src(r: &mut Registrar) {
        r.node(NodeReg { name: "bench-source", factory: Arc::new(|_| Box::new(Source { run: 1 })) });
    }
    fn sinks(r: &mut Registrar) {
        for name in ["bench-sink-0", "bench-sink-1", "bench-sink-2", "bench-sink-3"] {
            r.node(NodeReg { name, factory: Arc::new(move |_| Box::new(Sink(name))) });
        }
    }
    let mut e = Engine::builder().buffers(8192).workers(0).plugin(src).plugin(sinks).build().expect("engine");
    if let Some(s) = e.local.graph.node_mut::<Source>("bench-source") {
        s.run = run;
    }
    e
}

fn scatter(c: &mut Criterion) {
    let mut g = c.benchmark_group("frames");
    g.throughput(Throughput::Elements(FRAME_SIZE as u64));
    for run in [256usize, 64, 8, 1] {
        let mut e = with_source(run);
        g.bench_function(format!("dispatch 256 packets, next runs of {run}"), |b| b.iter(|| e.local.run_once()));
    }
    g.finish();
}

criterion_group!(benches, scatter);
criterion_main!(benches);
