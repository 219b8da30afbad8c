//! `ip4-frag`: splits an IPv4 packet (DF clear) that exceeds its
//! adjacency's MTU into fragments (RFC 791), each in a fresh buffer with a
//! copy of the header, and hands them back to `ip4-rewrite`. The original
//! (possibly a chain) is freed. Buffer exhaustion is a counted drop.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::checksum;
use super::fib::{Fib, Forwarding};
use super::lookup::OPAQUE_ADJ;
use super::names;

static NEXTS: [&str; 2] = [ErrorDrop::NAME, "ip4-rewrite"];

#[repr(u16)]
enum Next {
    Rewrite = 1,
}

#[repr(usize)]
enum Counter {
    Fragmented,
    Fragments,
    NoBuffers,
    Malformed,
}

static COUNTERS: [CounterDesc; 4] = [
    CounterDesc::info("packets fragmented"),
    CounterDesc::info("fragments sent"),
    CounterDesc::error("no buffers for fragments"),
    CounterDesc::error("cannot fragment (bad header or mtu)"),
];

/// Most fragments one packet may become.
const MAX_FRAGMENTS: usize = 64;

/// The `ip4-frag` node.
pub struct Ip4Frag {
    fwd: Published<Forwarding>,
    scratch: Vec<u8>,
    out: Vec<BufferIndex>,
}

impl Ip4Frag {
    pub fn new(fwd: Published<Forwarding>) -> Self {
        Ip4Frag { fwd, scratch: Vec::with_capacity(65536), out: Vec::with_capacity(MAX_FRAGMENTS) }
    }
}

impl Node for Ip4Frag {
    fn name(&self) -> &'static str {
        names(false).frag
    }
    fn next_nodes(&self) -> &[&'static str] {
        &NEXTS
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let fwd = self.fwd.load();
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            frame.nexts[k] = 0;
            let ai = vm.bufs.meta(bi).opaque[OPAQUE_ADJ];
            let mtu = fwd.adjs.get(ai as usize).map_or(0, |a| a.mtu as usize);
            self.scratch.clear();
            self.scratch.extend_from_slice(&vm.bufs.chain_bytes(bi));
            let p = &self.scratch;
            if p.len() < 20 {
                vm.count(Counter::Malformed as usize, 1);
                continue;
            }
            let ihl = (p[0] & 0xf) as usize * 4;
            let total = u16::from_be_bytes([p[2], p[3]]) as usize;
            // Payload per fragment: a multiple of 8 that fits the MTU.
            let per = mtu.saturating_sub(ihl) & !7;
            let room = vm.bufs.data_size();
            if ihl < 20 || total > p.len() || total <= ihl || per == 0 || ihl + per > room {
                vm.count(Counter::Malformed as usize, 1);
                continue;
            }
            let payload = &p[ihl..total];
            let nfrag = payload.len().div_ceil(per);
            if nfrag > MAX_FRAGMENTS {
                vm.count(Counter::Malformed as usize, 1);
                continue;
            }
            let orig_off = (u16::from_be_bytes([p[6], p[7]]) & 0x1fff) as usize * 8;
            let orig_mf = p[6] & 0x20 != 0;
            self.out.resize(nfrag, BufferIndex(0));
            let got = vm.bufs.alloc(&mut self.out);
            if got < nfrag {
                vm.count(Counter::NoBuffers as usize, 1);
                vm.bufs.free(&self.out[..got]);
                self.out.clear();
                continue;
            }
            let rx = vm.bufs.meta(bi).sw_if_index;
            let local = vm.bufs.meta(bi).flags & rvpp_dataplane::buffer::flags::LOCALLY_ORIGINATED;
            for (j, chunk) in payload.chunks(per).enumerate() {
                let fb = self.out[j];
                let (m, raw) = vm.bufs.split_mut(fb);
                let len = ihl + chunk.len();
                m.reset_rx(len as u16, rx[0]);
                m.sw_if_index = rx;
                m.flags |= local;
                m.opaque[OPAQUE_ADJ] = ai;
                let d = &mut raw[HEADROOM..HEADROOM + len];
                d[..ihl].copy_from_slice(&p[..ihl]);
                d[ihl..].copy_from_slice(chunk);
                d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                let off = (orig_off + j * per) / 8;
                let mf = j + 1 < nfrag || orig_mf;
                let fl = (off as u16 & 0x1fff) | if mf { 0x2000 } else { 0 };
                d[6..8].copy_from_slice(&fl.to_be_bytes());
                d[10..12].copy_from_slice(&[0, 0]);
                let c = checksum::checksum(&d[..ihl]);
                d[10..12].copy_from_slice(&c.to_be_bytes());
            }
            vm.count(Counter::Fragmented as usize, 1);
            vm.count(Counter::Fragments as usize, nfrag as u64);
            vm.bufs.free_one(bi);
            frame.nexts[k] = NEXT_CONSUMED;
            for &fb in &self.out {
                vm.emit(Next::Rewrite as u16, fb);
            }
            self.out.clear();
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    let f = r.ext.get_or_default::<Fib>().fwd.clone();
    r.node(NodeReg { name: names(false).frag, factory: Arc::new(move |_| Box::new(Ip4Frag::new(f.clone()))) });
}
