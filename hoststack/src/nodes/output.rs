//! Segment departure: each segment becomes a fresh buffer holding the IP
//! header, the TCP header and the payload copied straight from the
//! connection's tx fifo, with both checksums computed in software, marked
//! locally originated and emitted to `ip4-lookup` / `ip6-lookup`. Buffer
//! exhaustion and oversize segments are counted drops (TCP resends).

use std::net::IpAddr;

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::{checksum, Vm};

use crate::session::{FiveTuple, SegmentSink};
use crate::tcp::{TcpPacket, TcpRepr};

/// Segments one node call may emit. The lookup's queue holds 1024; with
/// 512, a connection to our own address (tcp4-input feeding itself through
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
}

impl<'a> PacketSink<'a> {
    /// A sink with the per-call budget.
    pub fn new(vm: &'a mut Vm, next4: u16, next6: u16, ip_id: &'a mut u16) -> Self {
        PacketSink { vm, next4, next6, room: OUTPUT_BUDGET, ip_id, counts: OutputCounts::default() }
    }
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
    let tcp_len = repr.header_len() + payload.0.len() + payload.1.len();
    let (ip_len, total) = match (tuple.local.ip(), tuple.remote.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (20, 20 + tcp_len),
        (IpAddr::V6(_), IpAddr::V6(_)) => (40, 40 + tcp_len),
        _ => return None,
    };
    if total > d.len() || total > u16::MAX as usize {
        return None;
    }
    let d = &mut d[..total];
    let hl = repr.emit(&mut d[ip_len..]);
    let p0 = ip_len + hl;
    d[p0..p0 + payload.0.len()].copy_from_slice(payload.0);
    d[p0 + payload.0.len()..].copy_from_slice(payload.1);
    match (tuple.local.ip(), tuple.remote.ip()) {
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
            TcpPacket::new_unchecked(&mut d[20..]).fill_checksum4(&s, &t);
        }
        (IpAddr::V6(s), IpAddr::V6(t)) => {
            let (s, t) = (s.octets(), t.octets());
            d[..4].copy_from_slice(&[0x60, 0, 0, 0]);
            d[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
            d[6] = 6;
            d[7] = 64;
            d[8..24].copy_from_slice(&s);
            d[24..40].copy_from_slice(&t);
            TcpPacket::new_unchecked(&mut d[40..]).fill_checksum6(&s, &t);
        }
        _ => return None,
    }
    Some(total)
}

impl SegmentSink for PacketSink<'_> {
    fn room(&self) -> usize {
        self.room
    }

    fn segment(&mut self, tuple: &FiveTuple, sw_if_index: u32, repr: &TcpRepr, payload: (&[u8], &[u8])) {
        self.room = self.room.saturating_sub(1);
        let Some(bi) = self.vm.bufs.alloc_one() else {
            self.counts.no_buffer += 1;
            return;
        };
        *self.ip_id = self.ip_id.wrapping_add(1);
        let (m, raw) = self.vm.bufs.split_mut(bi);
        let Some(len) = build_packet(raw.get_mut(HEADROOM..).unwrap_or(&mut []), tuple, repr, payload, *self.ip_id)
        else {
            self.counts.too_big += 1;
            self.vm.bufs.free_one(bi);
            return;
        };
        m.reset_rx(len as u16, sw_if_index);
        m.flags |= flags::LOCALLY_ORIGINATED | flags::L3_HDR_VALID | flags::L4_HDR_VALID;
        m.l3_hdr_offset = 0;
        m.l4_hdr_offset = if tuple.is_ip6() { 40 } else { 20 };
        self.counts.sent += 1;
        let next = if tuple.is_ip6() { self.next6 } else { self.next4 };
        self.vm.emit(next, bi);
    }
}
