//! IP fragmentation, one generic piece of code for both families:
//! [`fragment`] cuts a packet (its IP header and its payload, in pieces
//! anywhere in memory) into fragments, each in a fresh buffer holding a
//! copy of the header; IPv4's fragments carry the header's own
//! identification and offsets (RFC 791), the first one all its options and
//! the later ones only those marked copied, IPv6's a Fragment header (next
//! header 44, RFC 8200 §4.5) with an identification from [`Ip6FragIds`].
//! Every fragment fits both the MTU and one buffer with its own header;
//! offsets are multiples of 8.
//!
//! Two users: the `ip4-frag` node here, taken by `ip4-rewrite` for an
//! IPv4 packet with DF clear bigger than its adjacency's MTU (the original,
//! possibly a chain, is freed), and the hoststack, which fragments its own
//! UDP datagrams at the source (IPv6 routers never fragment, so only the
//! source may). Buffer exhaustion is a counted drop.

use std::any::Any;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::device::{ErrorDrop, NEXT_CONSUMED};
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, ThreadBuffers, Vm};

use super::checksum;
use super::fib::{Fib, Forwarding};
use super::lookup::OPAQUE_ADJ;
use super::{names, proto};

/// Most fragments one packet may become: enough for 65,535 bytes at
/// IPv4's smallest MTU every host takes whole (576 bytes: 119).
pub const MAX_FRAGMENTS: usize = 128;
/// The IPv6 Fragment header's length.
pub const IP6_FRAGMENT_HEADER: usize = 8;

/// Why a packet was not fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragError {
    /// A header that is not one whole IPv4 header (or IPv6 fixed header),
    /// no payload, or an MTU that leaves no room for 8 payload bytes.
    Malformed,
    /// It would take more than [`MAX_FRAGMENTS`] fragments.
    TooMany,
    /// The buffer pool ran dry (nothing was kept).
    NoBuffers,
}

/// Reads `pieces` back to back, from where the last read stopped.
struct Pieces<'a> {
    pieces: &'a [&'a [u8]],
    k: usize,
    at: usize,
}

impl Pieces<'_> {
    /// Fills `dst` with the next `dst.len()` bytes (there are that many).
    fn copy_to(&mut self, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            let Some(p) = self.pieces.get(self.k) else { return };
            let src = &p[self.at..];
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
            dst = &mut dst[n..];
            self.at += n;
            if self.at == p.len() {
                self.k += 1;
                self.at = 0;
            }
        }
    }
}

/// Payload bytes per fragment after `before` bytes of headers: a multiple
/// of 8 that fits the MTU and a buffer of `data_size` (0: none fits).
fn per_fragment(before: usize, mtu: usize, data_size: usize) -> usize {
    mtu.min(data_size).saturating_sub(before) & !7
}

/// Writes into `out` (zeros, at least as long as `options`) the options of
/// an IPv4 header (`options`: its bytes after the first 20) that every
/// fragment carries: those whose type has the copied flag, 0x80 (RFC 791
/// §3.1); returns their length padded with end-of-list zeros to a multiple
/// of 4. Options are type, length (type and length included), value, but
/// for end of list (0: the rest is padding) and no-operation (1), single
/// bytes neither of which is copied.
///
/// None for an option shorter than 2 bytes or running past the header:
/// the packet is refused (`FragError::Malformed`, in `ip4-frag` a counted
/// drop), not sent on with a guess at its options. That is ip4-input's
/// way too: it takes no chance on options at all, every packet that has
/// any is a counted drop ("ip4 options present (dropped)").
fn copied_options(options: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut i, mut n) = (0, 0);
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = *options.get(i + 1)? as usize;
                let opt = options.get(i..i + len).filter(|_| len >= 2)?;
                if kind & 0x80 != 0 {
                    // n + len <= i + len <= options.len() <= out.len().
                    out.get_mut(n..n + len)?.copy_from_slice(opt);
                    n += len;
                }
                i += len;
            }
        }
    }
    Some(n.next_multiple_of(4))
}

/// How a packet is cut: its first fragment takes the original header and
/// `first` payload bytes, each later one `later_header` and `later` bytes,
/// multiples of 8 that fit the MTU and a buffer after their own headers
/// (IPv6's Fragment header included). IPv6's later header is the first's;
/// IPv4's carries only the copied options, so its later fragments may take
/// more payload than its first.
struct Cut {
    later_header: [u8; 60],
    later_hl: usize,
    first: usize,
    later: usize,
}

impl Cut {
    fn new<const IP6: bool>(header: &[u8], mtu: usize, data_size: usize) -> Result<Cut, FragError> {
        let hl = header.len();
        let well_formed = if IP6 {
            hl == 40 && header[0] >> 4 == 6
        } else {
            hl >= 20 && header[0] >> 4 == 4 && (header[0] & 0xf) as usize * 4 == hl
        };
        if !well_formed {
            return Err(FragError::Malformed);
        }
        let mut later_header = [0; 60];
        let later_hl = if IP6 {
            later_header[..hl].copy_from_slice(header);
            hl
        } else {
            later_header[..20].copy_from_slice(&header[..20]);
            let n = copied_options(&header[20..], &mut later_header[20..]).ok_or(FragError::Malformed)?;
            later_header[0] = 0x40 | ((20 + n) / 4) as u8;
            20 + n
        };
        let ext = if IP6 { IP6_FRAGMENT_HEADER } else { 0 };
        let first = per_fragment(hl + ext, mtu, data_size);
        let later = per_fragment(later_hl + ext, mtu, data_size);
        if first == 0 {
            return Err(FragError::Malformed);
        }
        Ok(Cut { later_header, later_hl, first, later })
    }

    /// How many fragments `plen` payload bytes make.
    fn count(&self, plen: usize) -> usize {
        // later >= first > 0: the later header is never the longer.
        1 + plen.saturating_sub(self.first).div_ceil(self.later)
    }

    /// Where fragment `j`'s payload starts.
    fn start(&self, j: usize) -> usize {
        if j == 0 {
            0
        } else {
            self.first + (j - 1) * self.later
        }
    }
}

/// Cuts the packet `header` + `payload` into fragments that fit `mtu` and
/// one buffer each, written into fresh buffers listed in `out` (their
/// metadata reset as received on `rx_sw_if_index`: the caller adds what
/// its next node needs); returns how many.
///
/// IPv4 (`IP6` false): `header` is the whole IPv4 header, options
/// included: the first fragment carries them all, the later ones only
/// those with the copied flag, padded to a multiple of 4 (the header
/// length set to match); options that are not well formed refuse the
/// packet. A packet that is itself a fragment is cut further (its offset
/// and MF kept). IPv6: `header` is the 40-byte fixed header, its next
/// header the protocol of the payload; each fragment gets a Fragment
/// header with `ident` after it.
/// The payload lengths in the headers are recomputed; everything else
/// (the UDP/TCP checksum included) is taken as it is.
pub fn fragment<const IP6: bool>(
    bufs: &mut ThreadBuffers,
    header: &[u8],
    payload: &[&[u8]],
    mtu: usize,
    ident: u32,
    rx_sw_if_index: u32,
    out: &mut [BufferIndex; MAX_FRAGMENTS],
) -> Result<usize, FragError> {
    let cut = Cut::new::<IP6>(header, mtu, bufs.data_size())?;
    cut_into::<IP6>(bufs, header, &cut, payload, ident, rx_sw_if_index, out)
}

/// [`fragment`] with the cut already made from `header` (`ip4-frag` makes
/// it first to see whether the fragments fit its frame).
fn cut_into<const IP6: bool>(
    bufs: &mut ThreadBuffers,
    header: &[u8],
    cut: &Cut,
    payload: &[&[u8]],
    ident: u32,
    rx_sw_if_index: u32,
    out: &mut [BufferIndex; MAX_FRAGMENTS],
) -> Result<usize, FragError> {
    let plen: usize = payload.iter().map(|p| p.len()).sum();
    if plen == 0 {
        return Err(FragError::Malformed);
    }
    let nfrag = cut.count(plen);
    if nfrag > MAX_FRAGMENTS {
        return Err(FragError::TooMany);
    }
    let (orig_off, orig_mf) = if IP6 {
        (0, false)
    } else {
        ((u16::from_be_bytes([header[6], header[7]]) & 0x1fff) as usize * 8, header[6] & 0x20 != 0)
    };
    if orig_off + plen > 0xffff {
        return Err(FragError::Malformed);
    }
    let got = bufs.alloc(&mut out[..nfrag]);
    if got < nfrag {
        bufs.free(&out[..got]);
        return Err(FragError::NoBuffers);
    }
    let mut src = Pieces { pieces: payload, k: 0, at: 0 };
    for (j, &fb) in out[..nfrag].iter().enumerate() {
        let hdr = if j == 0 { header } else { &cut.later_header[..cut.later_hl] };
        let hl = hdr.len();
        // Bytes before the fragment's payload.
        let before = if IP6 { hl + IP6_FRAGMENT_HEADER } else { hl };
        let start = cut.start(j);
        let chunk = (if j == 0 { cut.first } else { cut.later }).min(plen - start);
        let len = before + chunk;
        let (m, raw) = bufs.split_mut(fb);
        m.reset_rx(len as u16, rx_sw_if_index);
        let d = &mut raw[HEADROOM..HEADROOM + len];
        d[..hl].copy_from_slice(hdr);
        let off = orig_off + start;
        let more = j + 1 < nfrag || orig_mf;
        if IP6 {
            d[4..6].copy_from_slice(&((IP6_FRAGMENT_HEADER + chunk) as u16).to_be_bytes());
            d[6] = proto::FRAGMENT;
            let f = &mut d[40..48];
            f[0] = header[6];
            f[1] = 0;
            f[2..4].copy_from_slice(&(off as u16 | more as u16).to_be_bytes());
            f[4..8].copy_from_slice(&ident.to_be_bytes());
        } else {
            d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let fl = ((off / 8) as u16 & 0x1fff) | if more { 0x2000 } else { 0 };
            d[6..8].copy_from_slice(&fl.to_be_bytes());
            d[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&d[..hl]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
        }
        src.copy_to(&mut d[before..]);
    }
    Ok(nfrag)
}

/// Slots of [`Ip6FragIds`]' counter table.
const ID_SLOTS: usize = 1024;

/// IPv6 fragment identifications (RFC 7739 §5.3, the hash-based
/// algorithm): a keyed hash of the source and destination gives an offset,
/// another picks one of [`ID_SLOTS`] counters, and the identification is
/// their sum, the counter then stepping on. A destination sees its
/// identifications increase one by one from a start nobody can predict
/// (the keys are random), never repeating before 2^32 packets to it; an
/// observer of one destination's identifications learns nothing of
/// another's. One instance serves every thread (a relaxed atomic add per
/// fragmented packet).
pub struct Ip6FragIds {
    offset_key: RandomState,
    slot_key: RandomState,
    counters: Box<[AtomicU32]>,
}

impl Default for Ip6FragIds {
    fn default() -> Self {
        Ip6FragIds {
            offset_key: RandomState::new(),
            slot_key: RandomState::new(),
            counters: (0..ID_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

impl Ip6FragIds {
    /// The identification of the next fragmented packet from `src` to
    /// `dst`.
    pub fn next(&self, src: u128, dst: u128) -> u32 {
        let offset = self.offset_key.hash_one((src, dst)) as u32;
        let slot = self.slot_key.hash_one((src, dst)) as usize % ID_SLOTS;
        offset.wrapping_add(self.counters[slot].fetch_add(1, Ordering::Relaxed))
    }
}

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
    NoRoom,
}

static COUNTERS: [CounterDesc; 5] = [
    CounterDesc::info("packets fragmented"),
    CounterDesc::info("fragments sent"),
    CounterDesc::error("no buffers for fragments"),
    CounterDesc::error("cannot fragment (bad header, options or mtu)"),
    CounterDesc::error("fragments beyond what one frame may emit"),
];

/// The `ip4-frag` node.
pub struct Ip4Frag {
    fwd: Published<Forwarding>,
    scratch: Vec<u8>,
}

impl Ip4Frag {
    pub fn new(fwd: Published<Forwarding>) -> Self {
        Ip4Frag { fwd, scratch: Vec::with_capacity(65536) }
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
        let mut out = [BufferIndex(0); MAX_FRAGMENTS];
        for k in 0..frame.len() {
            let bi = frame.pkts[k];
            frame.nexts[k] = 0;
            let ai = vm.bufs.meta(bi).opaque[OPAQUE_ADJ];
            let mtu = fwd.adjs.get(ai as usize).map_or(0, |a| a.mtu as usize);
            self.scratch.clear();
            self.scratch.extend_from_slice(&vm.bufs.chain_bytes(bi));
            let p = &self.scratch;
            let ihl = p.first().map_or(0, |b| (b & 0xf) as usize * 4);
            let total = p.get(2..4).map_or(0, |t| u16::from_be_bytes([t[0], t[1]]) as usize);
            if ihl < 20 || total > p.len() || total <= ihl {
                vm.count(Counter::Malformed as usize, 1);
                continue;
            }
            // Its fragments leave through `emit`, which takes a bounded
            // number per call: a packet whose fragments would not all fit
            // is dropped whole (part of a datagram is never reassembled).
            let cut = match Cut::new::<false>(&p[..ihl], mtu, vm.bufs.data_size()) {
                Ok(c) if c.count(total - ihl) > vm.extra_room() => {
                    vm.count(Counter::NoRoom as usize, 1);
                    continue;
                }
                Ok(c) => c,
                Err(_) => {
                    vm.count(Counter::Malformed as usize, 1);
                    continue;
                }
            };
            let rx = vm.bufs.meta(bi).sw_if_index;
            let n = match cut_into::<false>(&mut vm.bufs, &p[..ihl], &cut, &[&p[ihl..total]], 0, rx[0], &mut out) {
                Ok(n) => n,
                Err(FragError::NoBuffers) => {
                    vm.count(Counter::NoBuffers as usize, 1);
                    continue;
                }
                Err(FragError::Malformed | FragError::TooMany) => {
                    vm.count(Counter::Malformed as usize, 1);
                    continue;
                }
            };
            let local = vm.bufs.meta(bi).flags & rvpp_dataplane::buffer::flags::LOCALLY_ORIGINATED;
            for &fb in &out[..n] {
                let m = vm.bufs.meta_mut(fb);
                m.sw_if_index = rx;
                m.flags |= local;
                m.opaque[OPAQUE_ADJ] = ai;
            }
            vm.count(Counter::Fragmented as usize, 1);
            vm.count(Counter::Fragments as usize, n as u64);
            vm.bufs.free_one(bi);
            frame.nexts[k] = NEXT_CONSUMED;
            for &fb in &out[..n] {
                vm.emit(Next::Rewrite as u16, fb);
            }
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

#[cfg(test)]
#[path = "frag_tests.rs"]
mod tests;
