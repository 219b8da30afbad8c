//! Segment and datagram departure: each TCP segment becomes fresh buffers
//! holding the IP header, the TCP header and the payload copied straight
//! from the connection's tx fifo (summed for the checksum as it is copied);
//! each UDP datagram the IP and UDP headers and its payload from the
//! session's tx fifo; either over a chain of buffers when it is larger than
//! one. Checksums are computed in software; packets are marked locally
//! originated and emitted to `ip4-lookup` / `ip6-lookup`. Buffer
//! exhaustion and oversize segments are counted drops (TCP resends).
//!
//! Datagrams larger than the path MTU are fragmented here, at the source,
//! by the generic [`frag::fragment`] (IPv6 routers never fragment, so only
//! the source may; RFC 8200 §4.5): the UDP checksum is taken over the
//! whole datagram, then each fragment gets a fresh buffer with a copy of
//! the IP header (IPv6: and a Fragment header whose identification comes
//! from [`Ip6FragIds`]) and its share of the payload, copied straight from
//! the tx fifo. The egress MTU is looked up in the FIB only for datagrams
//! over 1280 bytes (IPv6's minimum MTU); an IPv4 datagram that still
//! exceeds its MTU leaves with DF clear and `ip4-frag` cuts it on the way
//! out. Up to UDP's limit (65,507 bytes of payload over IPv4, 65,527 over
//! IPv6); beyond, or more than [`frag::MAX_FRAGMENTS`] fragments, is a
//! counted refusal.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{checksum, BufferIndex, CounterDesc, Vm};
use rvpp_graph_nodes::ip::fib::mtrie4::Mtrie4;
use rvpp_graph_nodes::ip::fib::{AdjKind, Fib, Forwarding, Table6};
use rvpp_graph_nodes::ip::frag::{self, FragError, Ip6FragIds};

use crate::fifo::Gather;
use crate::session::{FiveTuple, RouteMtu, SegmentSink, PROTO_TCP};
use crate::tcp::{TcpPacket, TcpRepr};
use crate::udp::{self, UdpPacket, PROTO_UDP};

/// Segments one node call may emit. The lookup's queue held 1024 (now
/// `PENDING_MAX`, 2048); with 512, a connection to our own address (tcp4-input feeding itself through
/// ip4-lookup and ip4-local, and session-queue too) overflowed it and lost
/// ~0.1 % of its segments to "frame queue full", each repaired by a SACK
/// recovery. One frame's worth keeps every producer within it.
pub const OUTPUT_BUDGET: usize = 256;

/// Counters of a node's output.
#[derive(Debug, Default, Clone, Copy)]
pub struct OutputCounts {
    pub sent: u64,
    pub no_buffer: u64,
    pub too_big: u64,
    pub dgram_sent: u64,
    pub dgram_no_buffer: u64,
    /// Beyond UDP's limit, the buffer chain's, or the fragments' (too
    /// many for the path MTU).
    pub dgram_too_big: u64,
    /// From an unspecified address (a wildcard listener writing to a peer
    /// it never heard from) or across families.
    pub dgram_no_source: u64,
}

impl OutputCounts {
    /// Adds another sink's counts.
    pub fn add(&mut self, o: &OutputCounts) {
        self.sent += o.sent;
        self.no_buffer += o.no_buffer;
        self.too_big += o.too_big;
        self.dgram_sent += o.dgram_sent;
        self.dgram_no_buffer += o.dgram_no_buffer;
        self.dgram_too_big += o.dgram_too_big;
        self.dgram_no_source += o.dgram_no_source;
    }

    /// Counts on the current node, whose [`COUNTERS`] start at `base`.
    pub fn count(&self, vm: &mut Vm, base: usize) {
        let v = [
            self.sent,
            self.no_buffer,
            self.too_big,
            self.dgram_sent,
            self.dgram_no_buffer,
            self.dgram_too_big,
            self.dgram_no_source,
        ];
        for (k, n) in v.into_iter().enumerate() {
            vm.count(base + k, n);
        }
    }
}

/// The output counters every node that drives the session layer declares,
/// in this order, from the index it passes to [`OutputCounts::count`]
/// (any node's drain of the app events can send both TCP and UDP).
pub const COUNTERS: [CounterDesc; 7] = [
    CounterDesc::info("segments sent"),
    CounterDesc::error("no buffer for a tcp segment"),
    CounterDesc::error("tcp segment too big for a buffer"),
    CounterDesc::info("datagrams sent"),
    CounterDesc::error("no buffer for a datagram"),
    CounterDesc::error("datagram too big (udp limit or fragment count)"),
    CounterDesc::error("datagram without a source address"),
];

/// A node's counter table: its own counters `own`, then [`COUNTERS`] (the
/// node's `Output` counter is `own.len()`). A wrong `N` fails the build.
pub const fn with_output<const N: usize>(own: &[CounterDesc]) -> [CounterDesc; N] {
    assert!(N == own.len() + COUNTERS.len(), "counter table length");
    let mut all = [COUNTERS[0]; N];
    let mut k = 0;
    while k < N {
        all[k] = if k < own.len() { own[k] } else { COUNTERS[k - own.len()] };
        k += 1;
    }
    all
}

/// Buffers one datagram or segment may span (65,535 bytes in 2 KiB
/// buffers is 33).
const MAX_CHAIN: usize = 64;
/// The longest IP + TCP headers (IPv6, TCP with 40 bytes of options): the
/// first buffer of a segment holds them whole.
const MAX_TCP_HEADERS: usize = 40 + 60;
/// IPv6's minimum MTU: datagrams up to it need no path MTU look-up.
const IP6_MIN_MTU: usize = 1280;

/// The egress MTU toward a destination, from the FIB the lookup nodes use,
/// and the identifications of the IPv6 fragments sent there.
#[derive(Clone)]
pub struct PathMtu {
    mtrie: Arc<Mtrie4>,
    table6: Published<Table6>,
    fwd: Published<Forwarding>,
    /// Shared by every clone (every node of every thread).
    frag_ids: Arc<Ip6FragIds>,
}

impl PathMtu {
    /// A view of `fib`'s published tables.
    pub fn new(fib: &Fib) -> Self {
        PathMtu {
            mtrie: fib.mtrie.clone(),
            table6: fib.table6.clone(),
            fwd: fib.fwd.clone(),
            frag_ids: Arc::new(Ip6FragIds::default()),
        }
    }

    /// The MTU to cut a packet of `total` bytes toward `dst` to, when it
    /// exceeds it and leaves by an interface (never toward one of our own
    /// addresses, which take any size); None to send it whole. Looked up
    /// only above 1280 bytes.
    pub fn fragment_mtu(&self, dst: IpAddr, total: usize) -> Option<usize> {
        if total <= IP6_MIN_MTU {
            return None;
        }
        match self.egress(dst)? {
            (AdjKind::Local, ..) => None,
            (_, mtu, _) => (total > mtu as usize).then_some(mtu as usize),
        }
    }

    /// The MTU of the adjacency `dst` routes to; None without a route.
    pub fn mtu6(&self, dst: &Ipv6Addr) -> Option<u16> {
        self.adj6(dst).map(|a| a.1)
    }

    fn adj6(&self, dst: &Ipv6Addr) -> Option<(AdjKind, u16, u32)> {
        let lb = self.table6.load().lookup(u128::from_be_bytes(dst.octets()))?;
        self.adj(lb)
    }

    /// Kind, MTU and interface of the adjacency of load-balance `lb`.
    fn adj(&self, lb: u32) -> Option<(AdjKind, u16, u32)> {
        let fwd = self.fwd.load();
        let ai = fwd.lbs.get(lb as usize)?.pick(0);
        fwd.adjs.get(ai as usize).map(|a| (a.kind, a.mtu, a.sw_if_index))
    }

    /// The adjacency toward `dst` when it leads out of an interface or to
    /// one of our own addresses: (kind, MTU, interface).
    fn egress(&self, dst: IpAddr) -> Option<(AdjKind, u16, u32)> {
        let adj = match dst {
            IpAddr::V4(a) => self.adj(self.mtrie.lookup(u32::from(a))),
            IpAddr::V6(a) => self.adj6(&a),
        };
        adj.filter(|a| matches!(a.0, AdjKind::Rewrite | AdjKind::Incomplete | AdjKind::Glean | AdjKind::Local))
    }
}

impl RouteMtu for PathMtu {
    /// The egress interface's MTU where the route leads out (or to one of
    /// our own addresses); None for a drop, unreachable or punt route.
    fn mtu(&self, dst: IpAddr) -> Option<u16> {
        self.egress(dst).map(|a| a.1)
    }
}

/// Builds and emits segments for the node currently running.
pub struct PacketSink<'a> {
    pub vm: &'a mut Vm,
    /// The node's next arcs to `ip4-lookup` and `ip6-lookup`.
    pub next4: u16,
    pub next6: u16,
    pub room: usize,
    pub ip_id: &'a mut u16,
    pub counts: OutputCounts,
    /// IPv6 path MTUs for datagrams over 1280 bytes; without it (unit
    /// tests) they go unchecked.
    pub path_mtu: Option<&'a PathMtu>,
}

impl<'a> PacketSink<'a> {
    /// A sink with the per-call budget.
    pub fn new(vm: &'a mut Vm, next4: u16, next6: u16, ip_id: &'a mut u16) -> Self {
        PacketSink { vm, next4, next6, room: OUTPUT_BUDGET, ip_id, counts: OutputCounts::default(), path_mtu: None }
    }
}

/// Writes the IPv4 or IPv6 + UDP headers of a datagram of `tuple` with
/// `payload` into `d` (20 + 8 or 40 + 8 bytes), the UDP checksum taken over
/// the payload where it lies; returns the header length, or None when the
/// families differ, the local address is unspecified or the datagram is
/// too big for UDP.
pub fn build_udp_headers(d: &mut [u8; 48], tuple: &FiveTuple, payload: (&[u8], &[u8]), ip_id: u16) -> Option<usize> {
    let plen = payload.0.len() + payload.1.len();
    let (hl, max) = match (tuple.local.ip(), tuple.remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (20, udp::MAX_PAYLOAD4),
        (IpAddr::V6(_), IpAddr::V6(_)) => (40, udp::MAX_PAYLOAD6),
        _ => return None,
    };
    if plen > max || tuple.local.ip().is_unspecified() {
        return None;
    }
    let udp_len = (8 + plen) as u16;
    let mut uh = [0u8; 8];
    UdpPacket::new_unchecked(&mut uh[..]).set_header(tuple.local.port(), tuple.remote.port(), udp_len);
    let ck = match (tuple.local.ip(), tuple.remote.ip()) {
        (IpAddr::V4(s), IpAddr::V4(t)) => {
            let (s, t) = (s.octets(), t.octets());
            let total = (20 + udp_len as usize) as u16;
            d[..12].copy_from_slice(&[
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                (ip_id >> 8) as u8,
                ip_id as u8,
                0, // DF clear: ip4-frag cuts what exceeds the MTU
                0,
                64,
                PROTO_UDP,
                0,
                0,
            ]);
            d[12..16].copy_from_slice(&s);
            d[16..20].copy_from_slice(&t);
            let c = checksum::checksum(&d[..20]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
            udp::checksum_parts(checksum::pseudo4(&s, &t, PROTO_UDP, udp_len), &[&uh, payload.0, payload.1])
        }
        (IpAddr::V6(s), IpAddr::V6(t)) => {
            let (s, t) = (s.octets(), t.octets());
            d[..4].copy_from_slice(&[0x60, 0, 0, 0]);
            d[4..6].copy_from_slice(&udp_len.to_be_bytes());
            d[6] = PROTO_UDP;
            d[7] = 64;
            d[8..24].copy_from_slice(&s);
            d[24..40].copy_from_slice(&t);
            udp::checksum_parts(checksum::pseudo6(&s, &t, PROTO_UDP, udp_len as u32), &[&uh, payload.0, payload.1])
        }
        _ => return None,
    };
    UdpPacket::new_unchecked(&mut uh[..]).set_checksum(ck);
    d[hl..hl + 8].copy_from_slice(&uh);
    Some(hl + 8)
}

/// The IP header length of a segment of `tuple` (None across families).
fn ip_header_len(tuple: &FiveTuple) -> Option<usize> {
    match (tuple.local.ip(), tuple.remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Some(20),
        (IpAddr::V6(_), IpAddr::V6(_)) => Some(40),
        _ => None,
    }
}

/// What goes in the TCP checksum field.
#[derive(Clone, Copy)]
enum TcpChecksum {
    /// The checksum, from the headers and the payload's ones'-complement
    /// sum (as it lies after the header): the payload is not read again.
    Full { payload_sum: u64 },
    /// The pseudo-header sum only, for whoever cuts a super-segment
    /// (segmentation offload completes each segment's checksum).
    Partial,
}

/// Writes the IPv4 or IPv6 header and the TCP header for `repr` into `d`
/// (exactly their length), for a payload of `payload_len` bytes.
fn write_headers(d: &mut [u8], tuple: &FiveTuple, repr: &TcpRepr, payload_len: usize, ck: TcpChecksum, ip_id: u16) {
    let ip_len = if tuple.is_ip6() { 40 } else { 20 };
    let hl = repr.emit(&mut d[ip_len..]);
    let tcp_len = hl + payload_len;
    let total = ip_len + tcp_len;
    let pseudo = match (tuple.local.ip(), tuple.remote.ip()) {
        (IpAddr::V4(s), IpAddr::V4(t)) => {
            let (s, t) = (s.octets(), t.octets());
            d[..12].copy_from_slice(&[
                0x45,
                0,
                (total >> 8) as u8,
                total as u8,
                (ip_id >> 8) as u8,
                ip_id as u8,
                0x40, // DF: TCP does its own path MTU sizing
                0,
                64,
                6,
                0,
                0,
            ]);
            d[12..16].copy_from_slice(&s);
            d[16..20].copy_from_slice(&t);
            let c = checksum::checksum(&d[..20]);
            d[10..12].copy_from_slice(&c.to_be_bytes());
            checksum::pseudo4(&s, &t, PROTO_TCP, tcp_len as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(t)) => {
            let (s, t) = (s.octets(), t.octets());
            d[..4].copy_from_slice(&[0x60, 0, 0, 0]);
            d[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            d[6] = PROTO_TCP;
            d[7] = 64;
            d[8..24].copy_from_slice(&s);
            d[24..40].copy_from_slice(&t);
            checksum::pseudo6(&s, &t, PROTO_TCP, tcp_len as u32)
        }
        _ => return,
    };
    let ck = match ck {
        TcpChecksum::Full { payload_sum } => {
            !checksum::fold(checksum::sum(&d[ip_len..ip_len + hl], pseudo + payload_sum))
        }
        TcpChecksum::Partial => checksum::fold(pseudo),
    };
    TcpPacket::new_unchecked(&mut d[ip_len..]).set_checksum(ck);
}

/// Copies the bytes of `src` into `dst` (as many as `dst` holds, from
/// `src`'s start) and returns their sum added to `acc`; `at` is where
/// `dst` starts in the summed payload (its parity places the bytes).
fn copy_and_sum(dst: &mut [u8], src: Gather<'_>, mut acc: u64, at: usize) -> u64 {
    let mut o = 0;
    for c in src.take(dst.len()).chunks() {
        acc = checksum::copy_sum_at(&mut dst[o..o + c.len()], c, acc, (at + o) & 1 == 1);
        o += c.len();
    }
    acc
}

/// Writes the IPv4 or IPv6 + TCP packet for `repr` into `d`; returns its
/// length, or None when `d` is too small.
pub fn build_packet(
    d: &mut [u8],
    tuple: &FiveTuple,
    repr: &TcpRepr,
    payload: (&[u8], &[u8]),
    ip_id: u16,
) -> Option<usize> {
    let ip_len = ip_header_len(tuple)?;
    let hl = repr.header_len();
    let plen = payload.0.len() + payload.1.len();
    let total = ip_len + hl + plen;
    if total > d.len() || total > u16::MAX as usize {
        return None;
    }
    let parts = [payload.0, payload.1];
    let sum = copy_and_sum(&mut d[ip_len + hl..total], Gather::new(&parts), 0, 0);
    write_headers(&mut d[..ip_len + hl], tuple, repr, plen, TcpChecksum::Full { payload_sum: sum }, ip_id);
    Some(total)
}

/// Why no buffer chain could be had for a packet.
enum NoChain {
    /// More buffers than a chain may have.
    TooBig,
    /// The pool ran dry.
    NoBuffer,
}

impl PacketSink<'_> {
    /// Builds and emits one TCP segment over as many buffers as it takes:
    /// the headers and as much payload as fits in the first, the rest
    /// chained. `gso_size` > 0 makes it a super-segment for the device to
    /// cut ([`flags::GSO`]: a partial checksum, the payload copied but not
    /// summed); otherwise the payload is summed as it is copied.
    fn build_segment(
        &mut self,
        tuple: &FiveTuple,
        sw_if_index: u32,
        repr: &TcpRepr,
        payload: (&[u8], &[u8]),
        gso_size: u16,
    ) {
        self.room = self.room.saturating_sub(1);
        let hl = repr.header_len();
        let plen = payload.0.len() + payload.1.len();
        let Some(ip_len) = ip_header_len(tuple).filter(|l| l + hl + plen <= u16::MAX as usize) else {
            self.counts.too_big += 1;
            return;
        };
        let total = ip_len + hl + plen;
        let ds = self.vm.bufs.data_size().max(MAX_TCP_HEADERS);
        let (bis, nbufs) = match self.alloc_chain(total, ds) {
            Ok(c) => c,
            Err(NoChain::TooBig) => {
                self.counts.too_big += 1;
                return;
            }
            Err(NoChain::NoBuffer) => {
                self.counts.no_buffer += 1;
                return;
            }
        };
        *self.ip_id = self.ip_id.wrapping_add(1);
        let ip_id = *self.ip_id;
        let gso = gso_size > 0 && plen > gso_size as usize;
        if gso {
            // The device numbers the segments on from this one.
            *self.ip_id = self.ip_id.wrapping_add((plen.div_ceil(gso_size as usize) - 1) as u16);
        }
        let parts = [payload.0, payload.1];
        let src = Gather::new(&parts);
        let (mut sum, mut at) = (0u64, 0usize);
        for (k, &bi) in bis[..nbufs].iter().enumerate() {
            let len = (total - k * ds).min(ds);
            let head = if k == 0 { ip_len + hl } else { 0 };
            let (m, raw) = self.vm.bufs.split_mut(bi);
            m.reset_rx(len as u16, sw_if_index);
            if let Some(next) = bis[..nbufs].get(k + 1) {
                m.flags |= flags::NEXT_PRESENT;
                m.next_buffer = next.0;
            }
            let dst = &mut raw[HEADROOM + head..HEADROOM + len];
            if gso {
                src.skip(at).copy_to(dst);
            } else {
                sum = copy_and_sum(dst, src.skip(at), sum, at);
            }
            at += len - head;
        }
        let ck = if gso { TcpChecksum::Partial } else { TcpChecksum::Full { payload_sum: sum } };
        let (m, raw) = self.vm.bufs.split_mut(bis[0]);
        write_headers(&mut raw[HEADROOM..HEADROOM + ip_len + hl], tuple, repr, plen, ck, ip_id);
        m.total_length_not_including_first_buffer = (total - total.min(ds)) as u32;
        m.flags |= flags::LOCALLY_ORIGINATED | flags::L3_HDR_VALID | flags::L4_HDR_VALID;
        if gso {
            m.flags |= flags::GSO;
            m.gso_size = gso_size;
        }
        m.l3_hdr_offset = 0;
        m.l4_hdr_offset = ip_len as i16;
        self.counts.sent += 1;
        let next = if tuple.is_ip6() { self.next6 } else { self.next4 };
        self.vm.emit(next, bis[0]);
    }

    /// Buffers for a packet of `total` bytes, `ds` to a buffer: the chain
    /// and its length.
    fn alloc_chain(&mut self, total: usize, ds: usize) -> Result<([BufferIndex; MAX_CHAIN], usize), NoChain> {
        let n = total.div_ceil(ds);
        if n > MAX_CHAIN {
            return Err(NoChain::TooBig);
        }
        let mut bis = [BufferIndex(0); MAX_CHAIN];
        let got = self.vm.bufs.alloc(&mut bis[..n]);
        if got < n {
            self.vm.bufs.free(&bis[..got]);
            return Err(NoChain::NoBuffer);
        }
        Ok((bis, n))
    }

    /// Copies `pieces` back to back over the buffers `bis` (each filled to
    /// the data size but the last), links them into one chain and returns
    /// the first buffer's length.
    fn fill_chain(&mut self, bis: &[BufferIndex], pieces: [&[u8]; 3], sw_if_index: u32) -> usize {
        let ds = self.vm.bufs.data_size();
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let (mut piece, mut at) = (0usize, 0usize);
        let mut first_len = 0;
        for (k, &bi) in bis.iter().enumerate() {
            let n = (total - k * ds).min(ds);
            let (m, raw) = self.vm.bufs.split_mut(bi);
            m.reset_rx(n as u16, sw_if_index);
            if let Some(&next) = bis.get(k + 1) {
                m.flags |= flags::NEXT_PRESENT;
                m.next_buffer = next.0;
            }
            if k == 0 {
                first_len = n;
                m.total_length_not_including_first_buffer = (total - n) as u32;
            }
            let mut out = &mut raw[HEADROOM..HEADROOM + n];
            while !out.is_empty() {
                let src = &pieces[piece][at..];
                let c = src.len().min(out.len());
                out[..c].copy_from_slice(&src[..c]);
                out = &mut out[c..];
                at += c;
                if at == pieces[piece].len() {
                    piece += 1;
                    at = 0;
                }
            }
        }
        first_len
    }
}

impl PacketSink<'_> {
    /// Sends a datagram whose IP + UDP headers are `hdr` (the checksum
    /// over the whole of it) as fragments of at most `mtu` bytes.
    fn datagram_fragments(
        &mut self,
        pm: &PathMtu,
        tuple: &FiveTuple,
        sw_if_index: u32,
        hdr: &[u8],
        payload: (&[u8], &[u8]),
        mtu: usize,
    ) {
        let ip_len = hdr.len() - udp::HEADER_LEN;
        let pieces = [&hdr[ip_len..], payload.0, payload.1];
        let mut out = [BufferIndex(0); frag::MAX_FRAGMENTS];
        let ip6 = tuple.is_ip6();
        let made = match (tuple.local.ip(), tuple.remote.ip()) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let id = pm.frag_ids.next(u128::from(s), u128::from(d));
                frag::fragment::<true>(&mut self.vm.bufs, &hdr[..ip_len], &pieces, mtu, id, sw_if_index, &mut out)
            }
            // IPv4: the identification is the header's own.
            _ => frag::fragment::<false>(&mut self.vm.bufs, &hdr[..ip_len], &pieces, mtu, 0, sw_if_index, &mut out),
        };
        let n = match made {
            Ok(n) => n,
            Err(FragError::NoBuffers) => {
                self.counts.dgram_no_buffer += 1;
                return;
            }
            Err(FragError::TooMany | FragError::Malformed) => {
                self.counts.dgram_too_big += 1;
                return;
            }
        };
        // Each fragment is a packet for the lookup's queue.
        self.room = self.room.saturating_sub(n - 1);
        let next = if ip6 { self.next6 } else { self.next4 };
        for &fb in &out[..n] {
            let m = self.vm.bufs.meta_mut(fb);
            m.flags |= flags::LOCALLY_ORIGINATED | flags::L3_HDR_VALID;
            m.l3_hdr_offset = 0;
            self.vm.emit(next, fb);
        }
        self.counts.dgram_sent += 1;
    }
}

impl SegmentSink for PacketSink<'_> {
    fn room(&self) -> usize {
        self.room
    }

    fn segment(&mut self, tuple: &FiveTuple, sw_if_index: u32, repr: &TcpRepr, payload: (&[u8], &[u8])) {
        self.build_segment(tuple, sw_if_index, repr, payload, 0);
    }

    fn tso_max(&self, tuple: &FiveTuple) -> u32 {
        // Only where the route leads out of an interface whose device cuts
        // segments: never to our own addresses (ip-local takes segments as
        // they come).
        match self.path_mtu.and_then(|p| p.egress(tuple.remote.ip())) {
            Some((AdjKind::Rewrite | AdjKind::Incomplete | AdjKind::Glean, _, sw)) => {
                self.vm.ifs.ifs.get(sw as usize).map_or(0, |i| i.tso_max)
            }
            _ => 0,
        }
    }

    fn segment_gso(
        &mut self,
        tuple: &FiveTuple,
        sw_if_index: u32,
        repr: &TcpRepr,
        payload: (&[u8], &[u8]),
        gso_size: u32,
    ) {
        self.build_segment(tuple, sw_if_index, repr, payload, gso_size.min(u16::MAX as u32) as u16);
    }

    fn datagram(&mut self, tuple: &FiveTuple, sw_if_index: u32, payload: (&[u8], &[u8])) {
        self.room = self.room.saturating_sub(1);
        *self.ip_id = self.ip_id.wrapping_add(1);
        let mut hdr = [0u8; 48];
        let Some(hl) = build_udp_headers(&mut hdr, tuple, payload, *self.ip_id) else {
            let other_family = tuple.local.is_ipv4() != tuple.remote.is_ipv4();
            if other_family || tuple.local.ip().is_unspecified() {
                self.counts.dgram_no_source += 1;
            } else {
                self.counts.dgram_too_big += 1;
            }
            return;
        };
        let total = hl + payload.0.len() + payload.1.len();
        if let Some(pm) = self.path_mtu {
            if let Some(mtu) = pm.fragment_mtu(tuple.remote.ip(), total) {
                self.datagram_fragments(pm, tuple, sw_if_index, &hdr[..hl], payload, mtu);
                return;
            }
        }
        let (bis, nbufs) = match self.alloc_chain(total, self.vm.bufs.data_size().max(1)) {
            Ok(c) => c,
            Err(NoChain::TooBig) => {
                self.counts.dgram_too_big += 1;
                return;
            }
            Err(NoChain::NoBuffer) => {
                self.counts.dgram_no_buffer += 1;
                return;
            }
        };
        self.fill_chain(&bis[..nbufs], [&hdr[..hl], payload.0, payload.1], sw_if_index);
        let m = self.vm.bufs.meta_mut(bis[0]);
        m.flags |= flags::LOCALLY_ORIGINATED | flags::L3_HDR_VALID | flags::L4_HDR_VALID;
        m.l3_hdr_offset = 0;
        m.l4_hdr_offset = (hl - 8) as i16;
        self.counts.dgram_sent += 1;
        let next = if tuple.is_ip6() { self.next6 } else { self.next4 };
        self.vm.emit(next, bis[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::udp_input::UdpInput;
    use crate::nodes::{Clock, SessionLayer};
    use crate::session::SegmentSink;
    use rvpp_dataplane::interface::InterfaceTable;
    use rvpp_dataplane::testing::Harness;
    use rvpp_graph_nodes::ip::fib::{Path, Source};

    /// A FIB with pg0 (MTU 1300) attached to 10.0.0.0/24 and fd00::/64,
    /// our own address fd00::1 on it.
    fn path_mtu() -> PathMtu {
        let mut ifs = InterfaceTable::default();
        ifs.add_hw("local0".into(), [0; 6], 0, None);
        ifs.add_hw("pg0".into(), [2, 0, 0, 0, 0, 1], 1300, None);
        let mut fib = Fib::default();
        for (a, len, path) in
            [("10.0.0.1", 24, Path::Attached(1)), ("fd00::1", 64, Path::Attached(1)), ("fd00::1", 128, Path::Local(1))]
        {
            fib.add(&ifs, a.parse().unwrap(), len, Source::Interface, &[path]).unwrap();
        }
        PathMtu::new(&fib)
    }

    #[test]
    fn datagrams_are_cut_only_beyond_1280_bytes_and_the_egress_mtu_and_never_to_ourselves() {
        let pm = path_mtu();
        let (v4, v6, us) = ("10.0.0.2".parse().unwrap(), "fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        assert_eq!(pm.fragment_mtu(v4, 1280), None, "no look-up up to IPv6's minimum MTU");
        assert_eq!(pm.fragment_mtu(v4, 1300), None, "exactly the MTU");
        assert_eq!(pm.fragment_mtu(v4, 1301), Some(1300));
        assert_eq!(pm.fragment_mtu(v6, 65535), Some(1300));
        assert_eq!(pm.fragment_mtu(us, 65535), None, "ip6-local takes any size");
        assert_eq!(pm.fragment_mtu("192.168.9.9".parse().unwrap(), 5000), None, "no route: sent whole, dropped later");
    }

    #[test]
    fn ip4_datagrams_beyond_the_mtu_leave_in_fragments_with_one_id_and_whole_ones_to_ourselves() {
        let pm = path_mtu();
        let layer = SessionLayer::default();
        let node = UdpInput::<false>::new(layer, 0, Clock::with_hz(1_000_000_000));
        let mut h = Harness::new(Box::new(node), 2);
        let before = h.buffers_in_use();
        let mut ip_id = 7u16;
        let data: Vec<u8> = (0..3000u32).map(|x| (x % 251) as u8).collect();
        let to_peer = FiveTuple::udp("10.0.0.1:53".parse().unwrap(), "10.0.0.2:4000".parse().unwrap());
        let to_us = FiveTuple::udp("[fd00::1]:53".parse().unwrap(), "[fd00::1]:4000".parse().unwrap());
        let small = FiveTuple::udp("10.0.0.1:53".parse().unwrap(), "10.0.0.2:4000".parse().unwrap());
        let mut sink = PacketSink::new(&mut h.vm, 1, 2, &mut ip_id);
        sink.path_mtu = Some(&pm);
        sink.datagram(&to_peer, 1, (&data[..1000], &data[1000..]));
        sink.datagram(&to_us, 1, (&data, &[]));
        // 1228 bytes: whole, for ip4-frag on the way out (MTU 1300 anyway).
        sink.datagram(&small, 1, (&data[..1200], &[]));
        let (counts, room) = (sink.counts, sink.room);
        assert_eq!((counts.dgram_sent, counts.dgram_too_big, counts.dgram_no_buffer), (3, 0, 0));
        let out = h.take_emitted();
        // 8 + 3000 UDP bytes in (1300 - 20) & !7 = 1280-byte pieces: 3.
        assert_eq!(out.len(), 3 + 1 + 1);
        assert_eq!(room, OUTPUT_BUDGET - 5, "each fragment counts against the budget");
        let mut udp = Vec::new();
        for (j, &(next, fb)) in out[..3].iter().enumerate() {
            assert_eq!(next, 1, "to ip4-lookup");
            let d = h.vm.bufs.chain_bytes(fb);
            assert!(d.len() <= 1300);
            assert_eq!(u16::from_be_bytes([d[4], d[5]]), 8, "the datagram's one identification");
            assert_eq!(u16::from_be_bytes([d[6], d[7]]), (j as u16 * 160) | if j < 2 { 0x2000 } else { 0 });
            assert_eq!(checksum::checksum(&d[..20]), 0);
            assert_ne!(h.vm.bufs.meta(fb).flags & flags::LOCALLY_ORIGINATED, 0);
            udp.extend_from_slice(&d[20..]);
        }
        let p = UdpPacket::new_checked(&udp[..]).unwrap();
        assert!(p.verify_checksum4(&[10, 0, 0, 1], &[10, 0, 0, 2]), "the checksum covers the whole datagram");
        assert_eq!(p.payload(), &data[..]);
        // To our own address: one chain, next ip6-lookup.
        assert_eq!(out[3].0, 2);
        assert_eq!(h.vm.bufs.chain_len(out[3].1), 48 + 3000);
        assert_eq!(h.vm.bufs.chain_len(out[4].1), 28 + 1200);
        let all: Vec<BufferIndex> = out.iter().map(|o| o.1).collect();
        h.vm.bufs.free(&all);
        assert_eq!(h.buffers_in_use(), before);
    }
}
