//! memif transmit: each thread has a [`MemifTx`]; when the peer gave fewer
//! tx rings than there are threads, thread `t` uses ring `t % rings` and the
//! threads sharing a ring take turns through its mutex (uncontended when
//! each thread has its own ring).
//!
//! Who moves what, per ring direction:
//! - Client sending on a slave-to-master ring: we own `head`; free slots
//!   are `size - (head - tail)`; each descriptor is rewritten to our own
//!   buffer before the copy.
//! - Server sending on a master-to-slave ring: the client posts empty
//!   buffers by advancing `head`; we fill from `tail` up to `head` into the
//!   buffer each descriptor names (checked against the regions first, its
//!   `length` is the room) and advance `tail`.
//!
//! A frame larger than one memif buffer takes several slots chained with
//! the NEXT flag; an rvpp buffer chain is read in order. In ip mode the
//! Ethernet header is left out and frames that are not IPv4 or IPv6 (ARP)
//! are dropped, counted in the queue's drops.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::TxQueue;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

use super::proto::{Desc, DESC_FLAG_NEXT, RING_FLAG_MASK_INT};
use super::rx::{QueueStats, MAX_CHAIN};
use super::{Conn, Role};

/// One tx ring's sender-side state.
pub struct TxRingState {
    pub index: usize,
    pub stats: Arc<QueueStats>,
}

pub struct MemifTx {
    conn: Arc<Conn>,
    ring: Arc<Mutex<TxRingState>>,
    /// Bytes to skip at the front of each frame (14 in ip mode).
    strip: usize,
    /// Packets (and bytes) taken but dropped since `take_dropped` last ran.
    dropped: (u64, u64),
}

impl MemifTx {
    pub fn new(conn: Arc<Conn>, ring: Arc<Mutex<TxRingState>>, strip: usize) -> Self {
        MemifTx { conn, ring, strip, dropped: (0, 0) }
    }
}

/// The packet's buffers in order (at most MAX_CHAIN), as (index, bytes).
fn segments(bufs: &ThreadBuffers, bi: BufferIndex, out: &mut [BufferIndex; MAX_CHAIN]) -> usize {
    let mut n = 0;
    let mut cur = bi;
    loop {
        out[n] = cur;
        n += 1;
        let m = bufs.meta(cur);
        if m.flags & flags::NEXT_PRESENT == 0 || n == MAX_CHAIN {
            return n;
        }
        cur = BufferIndex(m.next_buffer);
    }
}

impl TxQueue for MemifTx {
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        let Ok(st) = self.ring.lock() else { return 0 };
        let conn = &*self.conn;
        let r = &conn.tx[st.index];
        let ring = &r.ring;
        let size = ring.size();
        let (mut slot, limit) = match conn.role {
            Role::Client => {
                let head = ring.head();
                (head, ring.tail().wrapping_add(size))
            }
            Role::Server => (ring.tail(), ring.head()),
        };
        if limit.wrapping_sub(slot) > size {
            // The peer's index is nonsense: send nothing.
            st.stats.drops.fetch_add(pkts.len() as u64, Ordering::Relaxed);
            self.dropped.0 += pkts.len() as u64;
            self.dropped.1 += pkts.iter().map(|&b| bufs.chain_len(b) as u64).sum::<u64>();
            bufs.free(pkts);
            return pkts.len();
        }
        let mut segs = [BufferIndex(0); MAX_CHAIN];
        let (mut sent, mut bytes, mut bad, mut not_ip) = (0usize, 0u64, 0u64, 0u64);
        let mut taken = 0usize;
        'pkt: for &bi in pkts {
            if slot == limit {
                break;
            }
            if self.strip > 0 {
                // ip mode carries IPv4 and IPv6 only (no ARP, no VLANs).
                let d = bufs.data(bi);
                let et = if d.len() >= 14 { u16::from_be_bytes([d[12], d[13]]) } else { 0 };
                if et != 0x0800 && et != 0x86dd {
                    not_ip += 1;
                    self.dropped.0 += 1;
                    self.dropped.1 += bufs.chain_len(bi) as u64;
                    taken += 1;
                    continue;
                }
            }
            // The common packet: one buffer into one descriptor.
            if self.strip == 0 && bufs.meta(bi).flags & flags::NEXT_PRESENT == 0 {
                let d = self.dest(st.index, slot);
                let data = bufs.data(bi);
                if self.dest_ok(&d) && data.len() <= d.length as usize {
                    conn.regions.write(d.region, d.offset, 0, data);
                    ring.set_desc_flags_len(slot, 0, data.len() as u32);
                    slot = slot.wrapping_add(1);
                    taken += 1;
                    sent += 1;
                    bytes += data.len() as u64;
                    continue;
                }
            }
            let ns = segments(bufs, bi, &mut segs);
            let start = slot;
            // Current destination descriptor and how much of it is used.
            let mut d = self.dest(st.index, slot);
            if !self.dest_ok(&d) {
                // The peer's descriptor points outside its regions.
                bad += 1;
                self.dropped.0 += 1;
                self.dropped.1 += bufs.chain_len(bi) as u64;
                taken += 1;
                slot = slot.wrapping_add(1);
                ring.set_desc_flags_len(start, 0, 0);
                continue;
            }
            let mut used = 0usize;
            let mut skip = self.strip;
            let mut total = 0usize;
            for &b in &segs[..ns] {
                let mut data = bufs.data(b);
                let s = skip.min(data.len());
                data = &data[s..];
                skip -= s;
                while !data.is_empty() {
                    if used == d.length as usize {
                        // Next slot, chained.
                        if slot.wrapping_add(1) == limit {
                            // No room for the rest: leave the packet.
                            slot = start;
                            break 'pkt;
                        }
                        ring.set_desc_flags_len(slot, DESC_FLAG_NEXT, used as u32);
                        slot = slot.wrapping_add(1);
                        d = self.dest(st.index, slot);
                        if !self.dest_ok(&d) {
                            bad += 1;
                            self.dropped.0 += 1;
                            self.dropped.1 += bufs.chain_len(bi) as u64;
                            taken += 1;
                            ring.set_desc_flags_len(slot, 0, 0);
                            slot = slot.wrapping_add(1);
                            continue 'pkt;
                        }
                        used = 0;
                    }
                    let k = (d.length as usize - used).min(data.len());
                    conn.regions.write(d.region, d.offset, used, &data[..k]);
                    used += k;
                    total += k;
                    data = &data[k..];
                }
            }
            ring.set_desc_flags_len(slot, 0, used as u32);
            slot = slot.wrapping_add(1);
            taken += 1;
            sent += 1;
            bytes += total as u64;
        }
        match conn.role {
            Role::Client => ring.store_head(slot),
            Role::Server => ring.store_tail(slot),
        }
        if taken > 0 && ring.flags() & RING_FLAG_MASK_INT == 0 {
            r.event.notify();
            st.stats.interrupts.fetch_add(1, Ordering::Relaxed);
        }
        st.stats.packets.fetch_add(sent as u64, Ordering::Relaxed);
        st.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        if bad + not_ip > 0 {
            st.stats.drops.fetch_add(bad + not_ip, Ordering::Relaxed);
        }
        drop(st);
        bufs.free(&pkts[..taken]);
        taken
    }

    fn take_dropped(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.dropped)
    }
}

impl MemifTx {
    /// The descriptor to fill at `slot` of tx ring `idx`: as a client our
    /// own buffer (the descriptor rewritten), as a server the one the client
    /// posted (its length is the room, capped at the largest buffer size).
    #[inline(always)]
    fn dest(&self, idx: usize, slot: u16) -> Desc {
        let r = &self.conn.tx[idx];
        match self.conn.role {
            Role::Client => {
                let (region, offset) = r.own_buffer(slot);
                let d = Desc { flags: 0, region, length: self.conn.buffer_size, offset, metadata: 0 };
                r.ring.set_desc(slot, &d);
                d
            }
            Role::Server => {
                let d = r.ring.desc(slot);
                Desc { length: d.length.min(super::MAX_BUFFER_SIZE), ..d }
            }
        }
    }

    #[inline(always)]
    fn dest_ok(&self, d: &Desc) -> bool {
        d.length > 0 && self.conn.regions.check(d.region, d.offset, d.length)
    }
}
