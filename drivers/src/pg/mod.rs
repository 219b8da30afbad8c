//! The packet generator (VPP's `pg`): `create packet-generator interface
//! pg<N>`, `packet-generator new { ... }` streams injected at any node,
//! `enable-stream`/`disable-stream`, `show packet-generator`. Streams run in
//! the `pg-input` node of the thread they are placed on (`worker N`, else the
//! main thread); pg interfaces discard what they transmit.

pub mod spec;

use std::any::Any;
use std::fmt::Write;
use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::device::{Device, ErrorDrop, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::{Idle, NodeKind, FRAME_SIZE};
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, ThreadBuffers, Vm};

pub use spec::{PgSpecError, StreamSpec};

use crate::discard::DiscardTx;

/// A pg interface's device: transmit discards.
pub struct PgDevice;

impl Device for PgDevice {
    fn driver(&self) -> &'static str {
        "pg"
    }
    fn tx_queue(&self, _thread_index: usize) -> Option<Box<dyn TxQueue>> {
        Some(Box::new(DiscardTx))
    }
    fn input_node(&self) -> Option<&'static str> {
        Some(PgInput::NAME)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Stream {
    name: String,
    spec: Arc<StreamSpec>,
    sw_if_index: u32,
    next: u16,
    enabled: bool,
    sent: u64,
    limit: u64,
    /// Packets per TSC tick, when rate limited.
    per_tick: Option<f64>,
    tokens: f64,
    last_tsc: u64,
}

/// `pg-input`: generates the packets of this thread's enabled streams.
#[derive(Default)]
pub struct PgInput {
    streams: Vec<Stream>,
    cursor: usize,
}

#[repr(usize)]
enum Counter {
    NoBuffers,
}

static COUNTERS: [CounterDesc; 1] = [CounterDesc::error("buffer allocation failure")];

impl PgInput {
    pub const NAME: &'static str = "pg-input";

    fn refill(s: &mut Stream, now: u64) {
        if let Some(pt) = s.per_tick {
            let dt = now.saturating_sub(s.last_tsc) as f64;
            s.tokens = (s.tokens + dt * pt).min(FRAME_SIZE as f64);
            s.last_tsc = now;
        }
    }
}

impl Node for PgInput {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn kind(&self) -> NodeKind {
        NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[ErrorDrop::NAME]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }

    fn poll(&mut self, vm: &mut Vm, frame: &mut Frame) -> usize {
        let ns = self.streams.len();
        if ns == 0 {
            return 0;
        }
        let ds = vm.bufs.data_size();
        let now = vm.now;
        // One stream per call keeps the frame's next uniform.
        for k in 0..ns {
            let si = (self.cursor + k) % ns;
            let s = &mut self.streams[si];
            if !s.enabled {
                continue;
            }
            let mut want = frame.pkts.len().min(FRAME_SIZE);
            if s.limit > 0 {
                want = want.min((s.limit - s.sent) as usize);
            }
            if s.per_tick.is_some() {
                Self::refill(s, now);
                want = want.min(s.tokens as usize);
            }
            if want == 0 {
                continue;
            }
            let got = vm.bufs.alloc(&mut frame.pkts[..want]);
            if got < want {
                vm.count(Counter::NoBuffers as usize, (want - got) as u64);
                vm.ifc.rx_no_buf(s.sw_if_index, (want - got) as u64);
            }
            let mut bytes = 0u64;
            for (j, &bi) in frame.pkts[..got].iter().enumerate() {
                let (m, raw) = vm.bufs.split_mut(bi);
                let len = s.spec.packet(s.sent + j as u64, &mut raw[HEADROOM..HEADROOM + ds]);
                m.reset_rx(len as u16, s.sw_if_index);
                m.opaque[0] = si as u32;
                bytes += len as u64;
            }
            frame.nexts[..got].fill(s.next);
            vm.ifc.rx_batch(s.sw_if_index, got as u64, bytes);
            s.sent += got as u64;
            s.tokens -= got as f64;
            if s.limit > 0 && s.sent >= s.limit {
                s.enabled = false;
            }
            self.cursor = (si + 1) % ns;
            return got;
        }
        0
    }

    fn idle(&self) -> Idle {
        let mut deadline: Option<u64> = None;
        for s in self.streams.iter().filter(|s| s.enabled) {
            match s.per_tick {
                None => return Idle::Busy,
                Some(pt) => {
                    let need = (1.0 - s.tokens).max(0.0) / pt;
                    let d = s.last_tsc + need as u64;
                    deadline = Some(deadline.map_or(d, |x: u64| x.min(d)));
                }
            }
        }
        Idle::Sleep { deadline }
    }

    fn input_trace(&self, bufs: &ThreadBuffers, bi: BufferIndex) -> String {
        let m = bufs.meta(bi);
        let name = self.streams.get(m.opaque[0] as usize).map_or("?", |s| s.name.as_str());
        format!(
            "stream {name}, {} bytes, sw_if_index {}\ncurrent data {}, length {}",
            m.current_length, m.sw_if_index[0], m.current_data, m.current_length
        )
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The main thread's record of a stream.
#[derive(Clone)]
struct StreamInfo {
    name: String,
    thread: usize,
    spec: Arc<StreamSpec>,
}

#[derive(Default)]
struct PgStreams(Vec<StreamInfo>);

fn create_interface(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    i.keyword("interface");
    let name = i.expect("interface name (pg<N>)")?;
    i.done()?;
    let n: u32 = match name.strip_prefix("pg").and_then(|d| d.parse().ok()) {
        Some(n) => n,
        None => return err(format!("create packet-generator interface: '{name}' is not of the form pg<N>")),
    };
    if e.interfaces.by_name(&name).is_some() {
        return err(format!("create packet-generator interface: '{name}' already exists"));
    }
    e.create_interface(name.clone(), crate::local_mac(0x00, n), 9000, Some(Arc::new(PgDevice)));
    Ok(format!("{name}\n"))
}

fn with_stream<F>(e: &mut Engine, thread: usize, name: String, f: F)
where
    F: FnOnce(&mut Stream) + Send + 'static,
{
    e.on_thread(
        thread,
        Box::new(move |w| {
            if let Some(p) = w.graph.node_mut::<PgInput>(PgInput::NAME) {
                if let Some(s) = p.streams.iter_mut().find(|s| s.name == name) {
                    f(s);
                }
            }
        }),
    );
}

fn new_stream(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let text = i.rest();
    let spec = StreamSpec::parse(&text).map_err(|x| CliError(x.to_string()))?;
    if e.local.graph.node_index(&spec.node).is_none() {
        return err(format!("packet-generator new: unknown node '{}'", spec.node));
    }
    let sw = match &spec.interface {
        Some(n) => {
            e.interfaces.by_name(n).ok_or_else(|| CliError(format!("packet-generator new: unknown interface '{n}'")))?
        }
        None => e
            .interfaces
            .iter()
            .find(|f| f.device.as_ref().is_some_and(|d| d.driver() == "pg"))
            .map(|f| f.sw_if_index)
            .ok_or_else(|| CliError("packet-generator new: no interface given and no pg interface exists".into()))?,
    };
    let thread = match spec.worker {
        Some(w) if (w as usize) < e.num_workers() => w as usize + 1,
        Some(w) => {
            return err(format!("packet-generator new: worker {w} does not exist ({} workers)", e.num_workers()))
        }
        None => 0,
    };
    if spec.max_size as usize > e.buffers.data_size() {
        return err(format!(
            "packet-generator new: size {} exceeds the buffer data size {}",
            spec.max_size,
            e.buffers.data_size()
        ));
    }
    let name = spec.name.clone();
    // Replace a stream of the same name, as VPP does.
    delete_stream(e, &name);
    let spec = Arc::new(spec);
    let info = StreamInfo { name: name.clone(), thread, spec: spec.clone() };
    let hz = rvpp_dataplane::arch::tsc_hz();
    e.on_thread(
        thread,
        Box::new(move |w| {
            // The node was checked on the main thread; error-drop otherwise.
            let next = w.graph.add_next(PgInput::NAME, &spec.node).unwrap_or_default();
            if let Some(p) = w.graph.node_mut::<PgInput>(PgInput::NAME) {
                p.streams.push(Stream {
                    name,
                    limit: spec.limit.unwrap_or(0),
                    per_tick: spec.rate_pps.filter(|r| *r > 0.0).map(|r| r / hz),
                    spec,
                    sw_if_index: sw.0,
                    next,
                    enabled: false,
                    sent: 0,
                    tokens: 0.0,
                    last_tsc: 0,
                });
            }
        }),
    );
    e.ext.get_or_default::<PgStreams>().0.push(info);
    let warnings = e.ext.get_or_default::<PgStreams>().0.last().map(|s| s.spec.warnings.join("\n")).unwrap_or_default();
    Ok(if warnings.is_empty() { String::new() } else { warnings + "\n" })
}

fn delete_stream(e: &mut Engine, name: &str) -> bool {
    let list = e.ext.get_or_default::<PgStreams>();
    let Some(k) = list.0.iter().position(|s| s.name == name) else { return false };
    let info = list.0.remove(k);
    let name = info.name.clone();
    e.on_thread(
        info.thread,
        Box::new(move |w| {
            if let Some(p) = w.graph.node_mut::<PgInput>(PgInput::NAME) {
                p.streams.retain(|s| s.name != name);
                p.cursor = 0;
            }
        }),
    );
    true
}

fn selected(e: &mut Engine, i: &mut Input) -> Result<Vec<StreamInfo>, CliError> {
    let name = i.next();
    i.done()?;
    let all = e.ext.get_or_default::<PgStreams>().0.clone();
    match name {
        None => Ok(all),
        Some(n) => match all.into_iter().find(|s| s.name == n) {
            Some(s) => Ok(vec![s]),
            None => err(format!("{}: no stream named '{n}'", i.command())),
        },
    }
}

fn enable(e: &mut Engine, i: &mut Input, on: bool) -> Result<String, CliError> {
    for s in selected(e, i)? {
        let now = rvpp_dataplane::arch::rdtsc();
        with_stream(e, s.thread, s.name, move |st| {
            if on && !st.enabled {
                st.sent = 0;
                st.tokens = 1.0;
                st.last_tsc = now;
            }
            st.enabled = on;
        });
    }
    Ok(String::new())
}

fn show(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    i.done()?;
    let live = e.on_all_threads(|w| {
        w.graph
            .node_mut::<PgInput>(PgInput::NAME)
            .map(|p| p.streams.iter().map(|s| (s.name.clone(), s.enabled, s.sent)).collect::<Vec<_>>())
            .unwrap_or_default()
    });
    let mut out = format!("{:<20}{:>8}{:>15}     {}\n", "Name", "Enabled", "Count", "Parameters");
    for info in &e.ext.get_or_default::<PgStreams>().0 {
        let (en, sent) = live.iter().flatten().find(|x| x.0 == info.name).map_or((false, 0), |x| (x.1, x.2));
        let sp = &info.spec;
        let mut params = String::new();
        if let Some(l) = sp.limit {
            let _ = write!(params, "limit {l}, ");
        }
        if let Some(r) = sp.rate_pps {
            let _ = write!(params, "rate {r:.2e} pps, ");
        }
        let _ = write!(params, "size {}-{}, node {}", sp.min_size, sp.max_size, sp.node);
        if info.thread > 0 {
            let _ = write!(params, ", worker {}", info.thread - 1);
        }
        let _ = writeln!(out, "{:<20}{:>8}{:>15}     {}", info.name, if en { "Yes" } else { "No" }, sent, params);
        let _ = writeln!(out, "{:<43}{}", "", sp.describe());
    }
    Ok(out)
}

pub fn register(r: &mut Registrar) {
    r.node(NodeReg { name: PgInput::NAME, factory: Arc::new(|_| Box::new(PgInput::default())) });
    r.cli.add("create packet-generator interface", "create packet-generator interface pg<N>", create_interface);
    r.cli.add(
        "packet-generator new",
        "packet-generator new { name <s> limit <n> size <a-b> node <node> data { ... } }",
        new_stream,
    );
    r.cli.add("packet-generator enable-stream", "packet-generator enable-stream [<name>]", |e, i| enable(e, i, true));
    r.cli
        .add("packet-generator disable-stream", "packet-generator disable-stream [<name>]", |e, i| enable(e, i, false));
    r.cli.add("packet-generator delete", "packet-generator delete <name>", |e, i| {
        let n = i.expect("stream name")?;
        i.done()?;
        if delete_stream(e, &n) {
            Ok(String::new())
        } else {
            err(format!("packet-generator delete: no stream named '{n}'"))
        }
    });
    r.cli.add("show packet-generator", "show packet-generator", show);
}
