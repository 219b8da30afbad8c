//! `ip4-reassembly` / `ip6-reassembly`: reassembles fragments addressed to
//! rvpp (IPv4: RFC 791, RFC 815; IPv6: the Fragment header of RFC 8200
//! directly after the fixed header) into one buffer chain and hands it back
//! to `ip4-local` / `ip6-local`. Memory is bounded: at most
//! [`MAX_CONTEXTS`] packets in progress per thread and family, each of at
//! most [`MAX_FRAGMENTS`] fragments and 65,535 bytes, together holding at
//! most 1/[`POOL_SHARE`] of the buffer pool, and dropped when older than
//! [`TIMEOUT_MS`] (checked every [`EXPIRE_EVERY`] whether or not more
//! fragments come, so held buffers always return). Overlapping, tiny and
//! out-of-range fragments drop the whole packet, counted (RFC 5722 for
//! IPv6); an exact duplicate of a fragment held drops only itself.
//! Fragments that arrive as buffer chains (jumbo frames) are linked whole.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::checksum;
use super::local::IpProtocols;

pub const MAX_CONTEXTS: usize = 1024;
pub const MAX_FRAGMENTS: usize = 64;
pub const TIMEOUT_MS: u64 = 2000;
/// How often every thread's held fragments are checked for timeouts.
pub const EXPIRE_EVERY: Duration = Duration::from_millis(100);
/// One node instance (a thread's IPv4 or IPv6 reassembly) holds at most
/// this fraction of the buffer pool, and at least [`MIN_HELD`] buffers.
pub const POOL_SHARE: usize = 32;
pub const MIN_HELD: usize = 64;
/// The IPv6 Fragment header's next-header number.
pub const IP6_FRAGMENT: u8 = 44;

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
    Malformed,
    Duplicate,
    BufferLimit,
}

static COUNTERS: [CounterDesc; 10] = [
    CounterDesc::info("packets reassembled"),
    CounterDesc::error("overlapping fragments (packet dropped)"),
    CounterDesc::error("tiny fragment (packet dropped)"),
    CounterDesc::error("fragment beyond 65535 bytes"),
    CounterDesc::error("too many fragments"),
    CounterDesc::warn("reassembly timeout"),
    CounterDesc::error("reassembly table full"),
    CounterDesc::error("malformed fragment header"),
    CounterDesc::info("duplicate fragment (dropped)"),
    CounterDesc::error("reassembly buffer limit (fragment dropped)"),
];

/// (source, destination, identification, protocol / next header).
type Key = (u128, u128, u32, u8);

/// What one fragment says about itself.
struct FragInfo {
    key: Key,
    /// Bytes before its fragment payload (IP header, and for IPv6 the
    /// Fragment header).
    hdr: usize,
    /// Where its payload goes in the whole packet's payload.
    off: usize,
    len: usize,
    more: bool,
}

/// Reads a fragment's header (a whole header is there: the caller checked).
fn frag_info<const IP6: bool>(d: &[u8]) -> Option<FragInfo> {
    if IP6 {
        let h = d.get(..48)?;
        let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
        let fo = u16::from_be_bytes([h[42], h[43]]);
        Some(FragInfo {
            key: (
                u128::from_be_bytes(h[8..24].try_into().ok()?),
                u128::from_be_bytes(h[24..40].try_into().ok()?),
                u32::from_be_bytes([h[44], h[45], h[46], h[47]]),
                h[40],
            ),
            hdr: 48,
            off: (fo & 0xfff8) as usize,
            len: (40 + plen).checked_sub(48)?,
            more: fo & 1 != 0,
        })
    } else {
        let h = d.get(..20)?;
        let ihl = (h[0] & 0xf) as usize * 4;
        let total = u16::from_be_bytes([h[2], h[3]]) as usize;
        let fl = u16::from_be_bytes([h[6], h[7]]);
        Some(FragInfo {
            key: (
                u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as u128,
                u32::from_be_bytes([h[16], h[17], h[18], h[19]]) as u128,
                u16::from_be_bytes([h[4], h[5]]) as u32,
                h[9],
            ),
            hdr: ihl,
            off: (fl & 0x1fff) as usize * 8,
            len: total.saturating_sub(ihl),
            more: fl & 0x2000 != 0,
        })
    }
}

/// A fragment held: where its payload goes, and its buffer chain.
struct Frag {
    off: usize,
    len: usize,
    head: BufferIndex,
    tail: BufferIndex,
    bufs: usize,
}

struct Ctx {
    /// In arrival order.
    frags: Vec<Frag>,
    /// Payload length, known once the last fragment arrived.
    total: Option<usize>,
    first_tsc: u64,
}

/// The reassembly node of one family (per thread).
pub struct IpReassembly<const IP6: bool> {
    ctx: HashMap<Key, Ctx>,
    timeout_ticks: u64,
    last_sweep: u64,
    /// Buffers the contexts hold.
    held: usize,
    /// Whether the periodic expiry was handed to the main thread.
    timer: bool,
}

/// `ip4-reassembly`.
pub type Ip4Reassembly = IpReassembly<false>;
/// `ip6-reassembly`.
pub type Ip6Reassembly = IpReassembly<true>;

impl<const IP6: bool> Default for IpReassembly<IP6> {
    fn default() -> Self {
        IpReassembly {
            ctx: HashMap::with_capacity(MAX_CONTEXTS),
            timeout_ticks: (rvpp_dataplane::arch::tsc_hz() * TIMEOUT_MS as f64 / 1000.0) as u64,
            last_sweep: 0,
            held: 0,
            timer: false,
        }
    }
}

impl<const IP6: bool> IpReassembly<IP6> {
    pub const NAME: &'static str = if IP6 { "ip6-reassembly" } else { "ip4-reassembly" };

    /// Buffers held by packets in progress.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Takes a context out of the table (its buffers are the caller's).
    fn take(&mut self, key: &Key) -> Option<Ctx> {
        let c = self.ctx.remove(key)?;
        self.held -= c.frags.iter().map(|f| f.bufs).sum::<usize>();
        Some(c)
    }

    fn drop_ctx(&mut self, vm: &mut Vm, key: &Key) {
        if let Some(c) = self.take(key) {
            for f in c.frags {
                vm.bufs.free_one(f.head);
            }
        }
    }

    /// Drops the packets older than the timeout, counted.
    pub fn expire(&mut self, vm: &mut Vm) {
        self.last_sweep = vm.now;
        let (limit, now) = (self.timeout_ticks, vm.now);
        let old: Vec<Key> =
            self.ctx.iter().filter(|(_, c)| now.saturating_sub(c.first_tsc) > limit).map(|(k, _)| *k).collect();
        vm.count(Counter::Timeout as usize, old.len() as u64);
        for k in old {
            self.drop_ctx(vm, &k);
        }
    }

    /// [`Self::expire`] from the packet path, at most four times a timeout.
    fn sweep(&mut self, vm: &mut Vm) {
        if vm.now.saturating_sub(self.last_sweep) >= self.timeout_ticks / 4 {
            self.expire(vm);
        }
    }

    /// Drops `bi` and the packet it belongs to, counting `why`.
    fn refuse(&mut self, vm: &mut Vm, bi: BufferIndex, key: &Key, why: Counter) -> Option<BufferIndex> {
        vm.count(why as usize, 1);
        vm.bufs.free_one(bi);
        self.drop_ctx(vm, key);
        None
    }

    /// Has the main thread run [`expire_all`] every [`EXPIRE_EVERY`] (once:
    /// the registration stays).
    fn start_timer(&mut self, vm: &mut Vm) {
        if !self.timer {
            self.timer = vm.post(|e| e.add_periodic("ip-reassembly-expire", EXPIRE_EVERY, expire_all));
        }
    }

    /// Adds one fragment; returns the reassembled chain when complete.
    fn add(&mut self, vm: &mut Vm, bi: BufferIndex) -> Option<BufferIndex> {
        let Some(FragInfo { key, hdr, off, len, more }) = frag_info::<IP6>(vm.bufs.data(bi)) else {
            vm.count(Counter::Malformed as usize, 1);
            vm.bufs.free_one(bi);
            return None;
        };
        // The datagram as the header says, within the frame it came in.
        let datagram = hdr + len;
        if vm.bufs.chain_len(bi) < datagram || (hdr < if IP6 { 48 } else { 20 }) {
            vm.count(Counter::Malformed as usize, 1);
            vm.bufs.free_one(bi);
            return None;
        }
        let limit = if IP6 { 65535 } else { 65535 - hdr };
        if off + len > limit {
            return self.refuse(vm, bi, &key, Counter::TooLong);
        }
        if (more && (len < 8 || !len.is_multiple_of(8))) || len == 0 {
            return self.refuse(vm, bi, &key, Counter::Tiny);
        }
        if off == 0 && !more {
            // An atomic fragment (IPv6: a Fragment header on a whole packet)
            // stands alone, whatever is held under its key (RFC 6946).
            let (tail, bufs) = vm.bufs.truncate_chain(bi, datagram);
            return Some(Self::chain(vm, &[Frag { off, len, head: bi, tail, bufs }], len, hdr, key.3));
        }
        if !self.ctx.contains_key(&key) && self.ctx.len() >= MAX_CONTEXTS {
            vm.count(Counter::TableFull as usize, 1);
            vm.bufs.free_one(bi);
            return None;
        }
        // Exactly its IP datagram (link-layer padding and what lies beyond
        // the header's length go), and what that holds.
        let (tail, bufs) = vm.bufs.truncate_chain(bi, datagram);
        let budget = (vm.bufs.arena().count() as usize / POOL_SHARE).max(MIN_HELD);
        let held = self.held;
        let c =
            self.ctx.entry(key).or_insert_with(|| Ctx { frags: Vec::with_capacity(8), total: None, first_tsc: vm.now });
        // The same fragment again (a duplicating link): only the copy goes.
        let same_end = c.total == Some(off + len);
        if more != same_end && c.frags.iter().any(|f| f.off == off && f.len == len) {
            vm.count(Counter::Duplicate as usize, 1);
            vm.bufs.free_one(bi);
            return None;
        }
        let overlap = c.frags.iter().any(|f| off < f.off + f.len && f.off < off + len);
        let bad_total = (!more && c.total.is_some()) || c.total.is_some_and(|t| off + len > t);
        if c.frags.len() >= MAX_FRAGMENTS {
            return self.refuse(vm, bi, &key, Counter::TooMany);
        }
        if overlap || bad_total {
            return self.refuse(vm, bi, &key, Counter::Overlap);
        }
        if !more && c.frags.iter().any(|f| f.off + f.len > off + len) {
            return self.refuse(vm, bi, &key, Counter::Overlap);
        }
        if held + bufs > budget {
            // Over the budget, as Linux over its memory threshold: this
            // fragment goes; the packet's others wait for their timeout.
            vm.count(Counter::BufferLimit as usize, 1);
            vm.bufs.free_one(bi);
            if c.frags.is_empty() {
                self.ctx.remove(&key);
            }
            return None;
        }
        if !more {
            c.total = Some(off + len);
        }
        c.frags.push(Frag { off, len, head: bi, tail, bufs });
        self.held += bufs;
        self.start_timer(vm);
        let c = self.ctx.get(&key)?;
        let t = c.total?;
        if c.frags.iter().map(|f| f.len).sum::<usize>() != t {
            return None;
        }
        let mut c = self.take(&key)?;
        c.frags.sort_by_key(|f| f.off);
        Some(Self::chain(vm, &c.frags, t, hdr, key.3))
    }

    /// Links sorted fragments into one chain headed by the first fragment,
    /// whose header is rewritten to describe the whole packet (IPv6: the
    /// Fragment header goes, its next header takes its place).
    fn chain(vm: &mut Vm, frags: &[Frag], payload: usize, hdr: usize, nh: u8) -> BufferIndex {
        let head = frags[0].head;
        let head_hdr = if IP6 { 48 } else { (vm.bufs.data(head)[0] & 0xf) as usize * 4 };
        // Each fragment's chain (its last buffer's NEXT_PRESENT clear, from
        // truncate_chain) after the previous one's last buffer, without its header.
        for w in frags.windows(2) {
            let (prev, next) = (w[0].tail, w[1].head);
            let nhdr = if IP6 { hdr } else { (vm.bufs.data(next)[0] & 0xf) as usize * 4 };
            vm.bufs.advance(next, nhdr as i16);
            let m = vm.bufs.meta_mut(prev);
            m.flags |= flags::NEXT_PRESENT;
            m.next_buffer = next.0;
        }
        if IP6 {
            // Slide the fixed header over the Fragment header.
            let d = vm.bufs.data_mut(head);
            d.copy_within(0..40, 8);
            vm.bufs.advance(head, 8);
            let d = vm.bufs.data_mut(head);
            d[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
            d[6] = nh;
        }
        let ip_hdr = if IP6 { 40 } else { head_hdr };
        let first_len = vm.bufs.meta(head).current_length as usize;
        let m = vm.bufs.meta_mut(head);
        m.total_length_not_including_first_buffer = (ip_hdr + payload).saturating_sub(first_len) as u32;
        if !IP6 {
            let d = vm.bufs.data_mut(head);
            d[2..4].copy_from_slice(&((ip_hdr + payload) as u16).to_be_bytes());
            d[6..8].copy_from_slice(&[0, 0]);
            d[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&d[..ip_hdr]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
        }
        head
    }
}

impl<const IP6: bool> Node for IpReassembly<IP6> {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        if IP6 {
            &[ErrorDrop::NAME, "ip6-local"]
        } else {
            &[ErrorDrop::NAME, "ip4-local"]
        }
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        self.sweep(vm);
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            frame.nexts[k] = NEXT_CONSUMED;
            if IP6 {
                // ip6-local handed it on as an L4 protocol: back to the IP
                // header.
                let m = vm.bufs.meta(bi);
                let back = m.current_data.saturating_sub(m.l3_hdr_offset);
                if m.flags & flags::L3_HDR_VALID == 0 || !vm.bufs.advance(bi, -back) {
                    vm.count(Counter::Malformed as usize, 1);
                    vm.bufs.free_one(bi);
                    continue;
                }
            }
            if vm.bufs.data(bi).len() < if IP6 { 48 } else { 20 } {
                vm.count(Counter::Malformed as usize, 1);
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

/// Expires held fragments on every thread (the main thread's periodic
/// task, started by the first fragment held).
fn expire_all(e: &mut Engine) {
    for t in 0..e.num_threads() {
        e.on_thread(
            t,
            Box::new(|w| {
                let (graph, vm) = (&mut w.graph, &mut w.vm);
                graph.with_node(vm, Ip4Reassembly::NAME, |n: &mut Ip4Reassembly, vm| n.expire(vm));
                graph.with_node(vm, Ip6Reassembly::NAME, |n: &mut Ip6Reassembly, vm| n.expire(vm));
            }),
        );
    }
}

pub fn register(r: &mut Registrar) {
    r.node(NodeReg { name: Ip4Reassembly::NAME, factory: Arc::new(|_| Box::new(Ip4Reassembly::default())) });
    r.node(NodeReg { name: Ip6Reassembly::NAME, factory: Arc::new(|_| Box::new(Ip6Reassembly::default())) });
    // IPv6 fragments reach it from ip6-local as the protocol after the
    // fixed header.
    IpProtocols::add(r, true, IP6_FRAGMENT, Ip6Reassembly::NAME);
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

    /// `bytes` as a chain of buffers of at most `chunk` bytes, with
    /// `extra` bytes of junk after it in the last one (as a frame longer
    /// than its IP datagram).
    fn chained(h: &mut Harness, bytes: &[u8], chunk: usize, extra: usize) -> BufferIndex {
        let mut all = bytes.to_vec();
        all.resize(bytes.len() + extra, 0xee);
        let parts: Vec<BufferIndex> = all.chunks(chunk).map(|c| h.packet(c, 1)).collect();
        for w in parts.windows(2) {
            let m = h.vm.bufs.meta_mut(w[0]);
            m.flags |= flags::NEXT_PRESENT;
            m.next_buffer = w[1].0;
        }
        h.vm.bufs.meta_mut(parts[0]).total_length_not_including_first_buffer = (all.len() - chunk) as u32;
        parts[0]
    }

    #[test]
    fn chained_fragments_reassemble_whole_and_return_every_buffer() {
        let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
        let before = h.buffers_in_use();
        let data: Vec<u8> = (0..9000u32).map(|x| (x * 13 + x / 251) as u8).collect();
        // Two jumbo fragments, each a chain of buffers; the last one with
        // 100 bytes of junk beyond its IP length, in a buffer of its own.
        let first = frag(9, 0, true, &data[..4000]);
        let last = frag(9, 4000, false, &data[4000..]);
        let a = chained(&mut h, &first, 2000, 0);
        let b = chained(&mut h, &last, 1004, 100);
        h.run(&mut [b]);
        assert!(h.take_emitted().is_empty());
        h.run(&mut [a]);
        let e = h.take_emitted();
        assert_eq!(e.len(), 1);
        let whole = h.vm.bufs.chain_bytes(e[0].1);
        assert_eq!(whole.len(), 9020, "header + every payload byte, no junk");
        assert_eq!(h.vm.bufs.chain_len(e[0].1), 9020);
        assert_eq!(&whole[20..], &data[..]);
        assert_eq!(u16::from_be_bytes([whole[2], whole[3]]), 9020);
        assert_eq!(checksum::checksum(&whole[..20]), 0);
        h.vm.bufs.free_one(e[0].1);
        assert_eq!(h.buffers_in_use(), before, "every buffer came back");
    }

    #[test]
    fn a_duplicate_fragment_drops_only_itself() {
        let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
        let before = h.buffers_in_use();
        let data: Vec<u8> = (0..3000u32).map(|x| x as u8).collect();
        let f = [
            frag(5, 0, true, &data[..1480]),
            frag(5, 0, true, &data[..1480]),
            frag(5, 1480, false, &data[1480..]),
            frag(5, 1480, false, &data[1480..]),
        ];
        let mut out = Vec::new();
        for b in &f[..3] {
            let mut p = [h.packet(b, 1)];
            h.run(&mut p);
            out.extend(h.take_emitted());
        }
        assert_eq!(out.len(), 1, "reassembled despite the copy");
        assert_eq!(h.vm.bufs.chain_bytes(out[0].1)[20..], data[..]);
        assert_eq!(h.counter("duplicate fragment (dropped)"), 1);
        assert_eq!(h.counter("overlapping fragments (packet dropped)"), 0);
        h.vm.bufs.free_one(out[0].1);
        // A copy of the last fragment after completion starts a new packet
        // that times out; a fragment with the same place but the other
        // more-fragments flag is no copy: the packet goes.
        let mut p = [h.packet(&f[3], 1)];
        h.run(&mut p);
        for (off, mf) in [(1480, true), (1480, false)] {
            let mut p = [h.packet(&frag(6, off, mf, &data[..1480]), 1)];
            h.run(&mut p);
        }
        assert_eq!(h.counter("overlapping fragments (packet dropped)"), 1);
        h.vm.now = u64::MAX / 2;
        h.node.as_any_mut().downcast_mut::<Ip4Reassembly>().unwrap().expire(&mut h.vm);
        assert_eq!(h.counter("reassembly timeout"), 1);
        assert_eq!(h.buffers_in_use(), before, "every buffer came back");
    }

    #[test]
    fn held_buffers_stay_within_their_share_of_the_pool_and_time_out() {
        let mut h = Harness::new(Box::new(Ip4Reassembly::default()), 2);
        let before = h.buffers_in_use();
        let pool = h.vm.bufs.arena().count() as usize;
        let budget = (pool / POOL_SHARE).max(MIN_HELD);
        // First fragments of many packets that never complete.
        let n = budget + 50;
        for id in 0..n {
            let mut p = [h.packet(&frag(id as u16, 0, true, &[7; 64]), 1)];
            h.run(&mut p);
        }
        let node = h.node.as_any_mut().downcast_mut::<Ip4Reassembly>().unwrap();
        assert_eq!(node.held(), budget);
        assert_eq!(h.buffers_in_use() as usize, before as usize + budget);
        assert_eq!(h.counter("reassembly buffer limit (fragment dropped)"), 50);
        // No fragment arrives any more; the periodic expiry returns them all.
        h.vm.now = u64::MAX / 2;
        let node = h.node.as_any_mut().downcast_mut::<Ip4Reassembly>().unwrap();
        node.expire(&mut h.vm);
        assert_eq!(node.held(), 0);
        assert_eq!(h.counter("reassembly timeout"), budget as u64);
        assert_eq!(h.buffers_in_use(), before, "every buffer came back");
    }

    /// An IPv6 fragment (Fragment header right after the fixed header), as
    /// ip6-local hands it on: positioned after the fixed header.
    fn frag6(h: &mut Harness, id: u32, off: usize, more: bool, nh: u8, payload: &[u8]) -> BufferIndex {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[IP6_FRAGMENT, 64]);
        p.extend_from_slice(&(0x2001_0db8u128 << 96 | 2).to_be_bytes());
        p.extend_from_slice(&(0x2001_0db8u128 << 96 | 1).to_be_bytes());
        p.extend_from_slice(&[nh, 0]);
        p.extend_from_slice(&(off as u16 | more as u16).to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(payload);
        let bi = h.packet(&p, 1);
        let m = h.vm.bufs.meta_mut(bi);
        m.l3_hdr_offset = m.current_data;
        m.flags |= flags::L3_HDR_VALID;
        assert!(h.vm.bufs.advance(bi, 40));
        bi
    }

    #[test]
    fn ipv6_fragments_reassemble_without_their_fragment_header() {
        let mut h = Harness::new(Box::new(Ip6Reassembly::default()), 2);
        let data: Vec<u8> = (0..4000u32).map(|x| (x * 7) as u8).collect();
        let parts = [(1448, true, 1448..2896), (2896, false, 2896..4000), (0, true, 0..1448)];
        for (i, (off, more, r)) in parts.into_iter().enumerate() {
            let mut p = [frag6(&mut h, 0xdead_beef, off, more, 17, &data[r])];
            h.run(&mut p);
            let e = h.take_emitted();
            if i < 2 {
                assert!(e.is_empty());
            } else {
                assert_eq!(e.len(), 1);
                let whole = h.vm.bufs.chain_bytes(e[0].1);
                assert_eq!(whole.len(), 40 + 4000);
                assert_eq!(u16::from_be_bytes([whole[4], whole[5]]), 4000, "payload length");
                assert_eq!(whole[6], 17, "next header: the fragment's");
                assert_eq!(&whole[8..24], &(0x2001_0db8u128 << 96 | 2).to_be_bytes());
                assert_eq!(&whole[40..], &data[..]);
            }
        }
        assert_eq!(h.counter("packets reassembled"), 1);
    }

    /// An atomic fragment is delivered at once, without its Fragment
    /// header, even while a packet with its key is held or the table is
    /// full (RFC 6946).
    #[test]
    fn ipv6_atomic_fragments_stand_alone() {
        let mut h = Harness::new(Box::new(Ip6Reassembly::default()), 2);
        let before = h.buffers_in_use();
        let data: Vec<u8> = (0..64u8).collect();
        let mut p = [frag6(&mut h, 77, 0, true, 17, &data[..32])];
        h.run(&mut p);
        let mut p = [frag6(&mut h, 77, 0, false, 17, &data)];
        h.run(&mut p);
        let e = h.take_emitted();
        assert_eq!(e.len(), 1);
        let whole = h.vm.bufs.chain_bytes(e[0].1);
        assert_eq!((whole.len(), whole[6]), (40 + 64, 17));
        assert_eq!(&whole[40..], &data[..]);
        assert_eq!(h.counter("overlapping fragments (packet dropped)"), 0);
        h.vm.bufs.free_one(e[0].1);
        h.vm.now = u64::MAX / 2;
        h.node.as_any_mut().downcast_mut::<Ip6Reassembly>().unwrap().expire(&mut h.vm);
        assert_eq!(h.buffers_in_use(), before, "every buffer came back");
    }

    #[test]
    fn ipv6_overlaps_tiny_lies_and_unpositioned_packets_are_dropped() {
        let mut h = Harness::new(Box::new(Ip6Reassembly::default()), 2);
        let before = h.buffers_in_use();
        // Overlap (RFC 5722: the whole packet goes).
        for (off, more) in [(0, true), (8, false)] {
            let mut p = [frag6(&mut h, 1, off, more, 17, &[0; 16])];
            h.run(&mut p);
        }
        // Tiny non-last fragment.
        let mut p = [frag6(&mut h, 2, 0, true, 17, &[0; 4])];
        h.run(&mut p);
        // Beyond 65535.
        let mut p = [frag6(&mut h, 3, 65528, false, 17, &[0; 16])];
        h.run(&mut p);
        // A payload length larger than the frame.
        let b = frag6(&mut h, 4, 0, true, 17, &[0; 16]);
        h.vm.bufs.meta_mut(b).current_length -= 8;
        h.run(&mut [b]);
        // Not handed on by ip6-local (no L3 header offset).
        let b = h.packet(&[0x60; 60], 1);
        h.run(&mut [b]);
        assert_eq!(h.counter("overlapping fragments (packet dropped)"), 1);
        assert_eq!(h.counter("tiny fragment (packet dropped)"), 1);
        assert_eq!(h.counter("fragment beyond 65535 bytes"), 1);
        assert_eq!(h.counter("malformed fragment header"), 2);
        assert!(h.take_emitted().is_empty());
        assert_eq!(h.buffers_in_use(), before, "every buffer came back");
    }
}
