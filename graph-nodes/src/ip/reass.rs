//! `ip4-reassembly`: reassembles IPv4 fragments addressed to rvpp (RFC 791,
//! RFC 815) into one buffer chain and hands it back to `ip4-local`. Memory is
//! bounded: at most [`MAX_CONTEXTS`] packets in progress per thread, each of
//! at most [`MAX_FRAGMENTS`] fragments and 65,535 bytes, dropped when older
//! than [`TIMEOUT_MS`]. Overlapping, tiny and out-of-range fragments drop the
//! whole packet, counted.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::checksum;

pub const MAX_CONTEXTS: usize = 1024;
pub const MAX_FRAGMENTS: usize = 64;
pub const TIMEOUT_MS: u64 = 2000;

#[repr(u16)]
enum Next {
    Drop = 0,
    Local = 1,
}

#[repr(usize)]
enum Counter {
    Reassembled,
    Overlap,
    Tiny,
    TooLong,
    TooMany,
    Timeout,
    TableFull,
}

static COUNTERS: [CounterDesc; 7] = [
    CounterDesc::info("packets reassembled"),
    CounterDesc::error("overlapping fragments (packet dropped)"),
    CounterDesc::error("tiny fragment (packet dropped)"),
    CounterDesc::error("fragment beyond 65535 bytes"),
    CounterDesc::error("too many fragments"),
    CounterDesc::warn("reassembly timeout"),
    CounterDesc::error("reassembly table full"),
];

type Key = (u32, u32, u16, u8);

struct Ctx {
    /// (offset, payload length, buffer) in arrival order.
    frags: Vec<(usize, usize, BufferIndex)>,
    /// Payload length, known once the last fragment arrived.
    total: Option<usize>,
    first_tsc: u64,
}

/// The reassembly node (per thread).
pub struct Ip4Reassembly {
    ctx: HashMap<Key, Ctx>,
    timeout_ticks: u64,
    last_sweep: u64,
}

impl Default for Ip4Reassembly {
    fn default() -> Self {
        Ip4Reassembly {
            ctx: HashMap::with_capacity(MAX_CONTEXTS),
            timeout_ticks: (rvpp_dataplane::arch::tsc_hz() * TIMEOUT_MS as f64 / 1000.0) as u64,
            last_sweep: 0,
        }
    }
}

impl Ip4Reassembly {
    pub const NAME: &'static str = "ip4-reassembly";

    fn drop_ctx(vm: &mut Vm, c: Ctx) {
        for (_, _, b) in c.frags {
            vm.bufs.free_one(b);
        }
    }

    fn sweep(&mut self, vm: &mut Vm) {
        if vm.now.saturating_sub(self.last_sweep) < self.timeout_ticks / 4 {
            return;
        }
        self.last_sweep = vm.now;
        let limit = self.timeout_ticks;
        let now = vm.now;
        let old: Vec<Key> =
            self.ctx.iter().filter(|(_, c)| now.saturating_sub(c.first_tsc) > limit).map(|(k, _)| *k).collect();
        for k in old {
            if let Some(c) = self.ctx.remove(&k) {
                vm.count(Counter::Timeout as usize, 1);
                Self::drop_ctx(vm, c);
            }
        }
    }

    /// Adds one fragment; returns the reassembled chain when complete.
    fn add(&mut self, vm: &mut Vm, bi: BufferIndex) -> Option<BufferIndex> {
        let d = vm.bufs.data(bi);
        let ihl = (d[0] & 0xf) as usize * 4;
        let total = u16::from_be_bytes([d[2], d[3]]) as usize;
        let fl = u16::from_be_bytes([d[6], d[7]]);
        let off = (fl & 0x1fff) as usize * 8;
        let mf = fl & 0x2000 != 0;
        let len = total.saturating_sub(ihl);
        let key: Key = (
            u32::from_be_bytes([d[12], d[13], d[14], d[15]]),
            u32::from_be_bytes([d[16], d[17], d[18], d[19]]),
            u16::from_be_bytes([d[4], d[5]]),
            d[9],
        );
        if off + len > 65535 - ihl {
            vm.count(Counter::TooLong as usize, 1);
            vm.bufs.free_one(bi);
            if let Some(c) = self.ctx.remove(&key) {
                Self::drop_ctx(vm, c);
            }
            return None;
        }
        if (mf && (len < 8 || !len.is_multiple_of(8))) || len == 0 {
            vm.count(Counter::Tiny as usize, 1);
            vm.bufs.free_one(bi);
            if let Some(c) = self.ctx.remove(&key) {
                Self::drop_ctx(vm, c);
            }
            return None;
        }
        if !self.ctx.contains_key(&key) && self.ctx.len() >= MAX_CONTEXTS {
            vm.count(Counter::TableFull as usize, 1);
            vm.bufs.free_one(bi);
            return None;
        }
        let c =
            self.ctx.entry(key).or_insert_with(|| Ctx { frags: Vec::with_capacity(8), total: None, first_tsc: vm.now });
        let overlap = c.frags.iter().any(|&(o, l, _)| off < o + l && o < off + len);
        let bad_total = (!mf && c.total.is_some()) || c.total.is_some_and(|t| off + len > t);
        if overlap || bad_total || c.frags.len() >= MAX_FRAGMENTS {
            let reason = if c.frags.len() >= MAX_FRAGMENTS { Counter::TooMany } else { Counter::Overlap };
            vm.count(reason as usize, 1);
            vm.bufs.free_one(bi);
            if let Some(c) = self.ctx.remove(&key) {
                Self::drop_ctx(vm, c);
            }
            return None;
        }
        if !mf {
            c.total = Some(off + len);
            if c.frags.iter().any(|&(o, l, _)| o + l > off + len) {
                vm.count(Counter::Overlap as usize, 1);
                vm.bufs.free_one(bi);
                let c = self.ctx.remove(&key)?;
                Self::drop_ctx(vm, c);
                return None;
            }
        }
        // Trim the buffer to exactly its IP datagram.
        let m = vm.bufs.meta_mut(bi);
        m.current_length = m.current_length.min(total as u16);
        c.frags.push((off, len, bi));
        let t = c.total?;
        if c.frags.iter().map(|f| f.1).sum::<usize>() != t {
            return None;
        }
        let mut c = self.ctx.remove(&key)?;
        c.frags.sort_by_key(|f| f.0);
        Some(Self::chain(vm, &c.frags, t))
    }

    /// Links sorted fragments into one chain headed by the first fragment,
    /// whose header is rewritten to describe the whole packet.
    fn chain(vm: &mut Vm, frags: &[(usize, usize, BufferIndex)], payload: usize) -> BufferIndex {
        let head = frags[0].2;
        let ihl = (vm.bufs.data(head)[0] & 0xf) as usize * 4;
        for w in frags.windows(2) {
            let (prev, next) = (w[0].2, w[1].2);
            let nihl = (vm.bufs.data(next)[0] & 0xf) as usize * 4;
            vm.bufs.advance(next, nihl as i16);
            let m = vm.bufs.meta_mut(prev);
            m.flags |= flags::NEXT_PRESENT;
            m.next_buffer = next.0;
        }
        if let Some(last) = frags.last() {
            vm.bufs.meta_mut(last.2).flags &= !flags::NEXT_PRESENT;
        }
        let first_len = vm.bufs.meta(head).current_length as usize;
        let m = vm.bufs.meta_mut(head);
        m.total_length_not_including_first_buffer = (ihl + payload).saturating_sub(first_len) as u32;
        let d = vm.bufs.data_mut(head);
        d[2..4].copy_from_slice(&((ihl + payload) as u16).to_be_bytes());
        d[6..8].copy_from_slice(&[0, 0]);
        d[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&d[..ihl]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        head
    }
}

impl Node for Ip4Reassembly {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[ErrorDrop::NAME, "ip4-local"]
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        self.sweep(vm);
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            frame.nexts[k] = NEXT_CONSUMED;
            if vm.bufs.data(bi).len() < 20 {
                vm.bufs.free_one(bi);
                continue;
            }
            if let Some(whole) = self.add(vm, bi) {
                vm.count(Counter::Reassembled as usize, 1);
                vm.emit(Next::Local as u16, whole);
            }
        }
        let _ = Next::Drop;
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

pub fn register(r: &mut Registrar) {
    r.node(NodeReg { name: Ip4Reassembly::NAME, factory: Arc::new(|_| Box::new(Ip4Reassembly::default())) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvpp_dataplane::testing::Harness;

    fn frag(id: u16, off: usize, mf: bool, payload: &[u8]) -> Vec<u8> {
        let total = 20 + payload.len();
        let fl = (off / 8) as u16 | if mf { 0x2000 } else { 0 };
        let mut h = vec![0x45, 0, (total >> 8) as u8, total as u8];
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&fl.to_be_bytes());
        h.extend_from_slice(&[64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
        let c = checksum::checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
        let data: Vec<u8> = (0..3000u32).map(|x| x as u8).collect();
        let f = [
            frag(7, 1480, true, &data[1480..2960]),
            frag(7, 2960, false, &data[2960..]),
            frag(7, 0, true, &data[..1480]),
        ];
        for (i, b) in f.iter().enumerate() {
            let mut p = [h.packet(b, 1)];
            h.run(&mut p);
            let e = h.take_emitted();
            if i < 2 {
                assert!(e.is_empty());
            } else {
                assert_eq!(e.len(), 1);
                let whole = h.vm.bufs.chain_bytes(e[0].1);
                assert_eq!(whole.len(), 3020);
                assert_eq!(&whole[20..], &data[..]);
                assert_eq!(u16::from_be_bytes([whole[2], whole[3]]), 3020);
                assert_eq!(checksum::checksum(&whole[..20]), 0);
            }
        }
        assert_eq!(h.counter("packets reassembled"), 1);
    }

    #[test]
    fn overlaps_tiny_and_huge_are_dropped() {
        let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
        let before = h.buffers_in_use();
        let cases = [
            vec![frag(1, 0, true, &[0; 16]), frag(1, 8, false, &[0; 16])],
            vec![frag(2, 0, true, &[0; 4])],
            vec![frag(3, 65528, false, &[0; 16])],
        ];
        for c in cases {
            for b in c {
                let mut p = [h.packet(&b, 1)];
                h.run(&mut p);
            }
        }
        assert_eq!(h.counter("overlapping fragments (packet dropped)"), 1);
        assert_eq!(h.counter("tiny fragment (packet dropped)"), 1);
        assert_eq!(h.counter("fragment beyond 65535 bytes"), 1);
        assert!(h.take_emitted().is_empty());
        assert_eq!(h.buffers_in_use(), before, "every buffer came back");
    }
}
