//! Where frames live in a socket's UMEM, and which of the addresses the
//! kernel hands back are believed.
//!
//! A socket's UMEM is one of two kinds:
//!
//! - **The arena** (no copy into the graph): rvpp's whole buffer arena,
//!   registered in unaligned-chunk mode with one chunk per buffer
//!   (`chunk_size` is the arena's stride, not a power of two). The fill ring
//!   carries buffer starts; the kernel writes a frame `XDP_PACKET_HEADROOM`
//!   (256) bytes past it, which is where the buffer's data area starts
//!   ([`DATA_OFFSET`]: 128 bytes of metadata, 128 of headroom), so a received
//!   frame already is a buffer with `current_data` 0. The kernel's headroom
//!   covers rvpp's metadata; nothing writes there (the built-in program
//!   touches no packet memory), and a descriptor whose frame would start
//!   inside the metadata is refused. An rx descriptor comes back as `start
//!   | offset << 48`; a tx descriptor points at a buffer's packet bytes; a
//!   completion returns that address.
//! - **Its own** (copy): a mapping of [`FRAME_SIZE`] aligned frames, the
//!   first [`RX_FRAMES`] on the fill and rx rings, the next [`TX_FRAMES`]
//!   on the tx and completion rings, copied to and from buffers.
//!
//! Panic contract: nothing here panics, whatever address or length it is
//! given; an address that is not one handed to the kernel is `None`.

use rvpp_dataplane::buffer::{ArenaLayout, DATA_OFFSET, META_SIZE};
use rvpp_dataplane::BufferIndex;

use super::{FRAME_SIZE, RX_FRAMES, TX_FRAMES};

/// Unaligned-chunk descriptors carry the data offset in their top 16 bits
/// (`XSK_UNALIGNED_BUF_OFFSET_SHIFT`, linux/if_xdp.h).
const OFFSET_SHIFT: u32 = 48;
const ADDR_MASK: u64 = (1 << OFFSET_SHIFT) - 1;

/// Where an rx descriptor's frame starts in a UMEM of its own, when the
/// descriptor lies wholly inside one rx frame (`[0, RX_FRAMES)`) and is not
/// empty.
#[inline(always)]
pub(super) fn own_rx_frame(addr: u64, len: u32) -> Option<u64> {
    let frame = addr & !(FRAME_SIZE as u64 - 1);
    let ok =
        frame < RX_FRAMES as u64 * FRAME_SIZE as u64 && len > 0 && (addr - frame) + len as u64 <= FRAME_SIZE as u64;
    ok.then_some(frame)
}

/// Whether `addr` is the start of a tx frame of a UMEM of its own
/// (`[RX_FRAMES, RX_FRAMES + TX_FRAMES)`).
#[inline(always)]
pub(super) fn own_tx_frame(addr: u64) -> bool {
    let f = FRAME_SIZE as u64;
    addr.is_multiple_of(f) && (RX_FRAMES as u64 * f..(RX_FRAMES + TX_FRAMES) as u64 * f).contains(&addr)
}

/// The arena as a UMEM: buffer `i` is the chunk at `i * stride`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ArenaGeometry {
    count: u32,
    stride: u64,
}

impl ArenaGeometry {
    pub(super) fn new(l: &ArenaLayout) -> ArenaGeometry {
        ArenaGeometry { count: l.count, stride: l.stride as u64 }
    }

    /// The fill-ring address of buffer `bi`: its start.
    #[inline(always)]
    pub(super) fn fill_addr(&self, bi: BufferIndex) -> u64 {
        bi.0 as u64 * self.stride
    }

    /// The buffer an rx descriptor names and its `current_data`, when the
    /// descriptor is a chunk start (`start | offset << 48`) of a buffer of
    /// the arena and its `len` bytes at `offset` lie inside that buffer,
    /// past the metadata.
    #[inline(always)]
    pub(super) fn rx(&self, addr: u64, len: u32) -> Option<(BufferIndex, i16)> {
        let (start, off) = (addr & ADDR_MASK, addr >> OFFSET_SHIFT);
        let bi = start / self.stride;
        let ok = start % self.stride == 0
            && bi < self.count as u64
            && off >= META_SIZE as u64
            && len > 0
            && len <= u16::MAX as u32
            && off + len as u64 <= self.stride;
        if !ok {
            return None;
        }
        let cd = i16::try_from(off as i64 - DATA_OFFSET as i64).ok()?;
        Some((BufferIndex(bi as u32), cd))
    }

    /// The tx descriptor address of a packet of `len` bytes at
    /// `current_data` in buffer `bi`, when it lies inside the buffer past
    /// the metadata.
    #[inline(always)]
    pub(super) fn tx_addr(&self, bi: BufferIndex, current_data: i16, len: usize) -> Option<u64> {
        let start = DATA_OFFSET as i64 + current_data as i64;
        let ok = bi.0 < self.count && start >= META_SIZE as i64 && len > 0 && start as u64 + len as u64 <= self.stride;
        ok.then(|| self.fill_addr(bi) + start as u64)
    }

    /// The buffer a completion-ring address names (a tx descriptor address:
    /// inside a buffer of the arena, past the metadata).
    #[inline(always)]
    pub(super) fn completed(&self, addr: u64) -> Option<BufferIndex> {
        let bi = addr / self.stride;
        (bi < self.count as u64 && addr % self.stride >= META_SIZE as u64).then_some(BufferIndex(bi as u32))
    }
}

/// A set of buffer indices below the arena's count: which buffers the
/// kernel holds (on the fill ring or in flight on tx). A descriptor naming a
/// buffer not in the set is refused, so the kernel can only ever give back
/// what it was given, once.
pub(super) struct BufSet {
    words: Vec<u64>,
    count: u32,
    len: u32,
}

impl BufSet {
    pub(super) fn new(count: u32) -> BufSet {
        BufSet { words: vec![0; (count as usize).div_ceil(64)], count, len: 0 }
    }

    /// Adds `bi`; false (nothing changed) when it is there already or out
    /// of range.
    #[inline(always)]
    pub(super) fn insert(&mut self, bi: BufferIndex) -> bool {
        if bi.0 >= self.count {
            return false;
        }
        let Some(w) = self.words.get_mut(bi.0 as usize / 64) else { return false };
        let bit = 1u64 << (bi.0 % 64);
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.len += 1;
        true
    }

    /// Removes `bi`; whether it was there.
    #[inline(always)]
    pub(super) fn take(&mut self, bi: BufferIndex) -> bool {
        let Some(w) = self.words.get_mut(bi.0 as usize / 64) else { return false };
        let bit = 1u64 << (bi.0 % 64);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        self.len -= 1;
        true
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    /// Empties the set, returning what it held.
    pub(super) fn drain(&mut self) -> Vec<BufferIndex> {
        let mut out = Vec::with_capacity(self.len as usize);
        for (k, w) in self.words.iter_mut().enumerate() {
            let mut x = std::mem::take(w);
            while x != 0 {
                out.push(BufferIndex(k as u32 * 64 + x.trailing_zeros()));
                x &= x - 1;
            }
        }
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default arena's geometry: 2048-byte data areas, a 37-line stride.
    fn geometry() -> ArenaGeometry {
        ArenaGeometry { count: 1000, stride: 2368 }
    }

    #[test]
    fn own_umem_descriptors_outside_an_rx_frame_are_refused() {
        let f = FRAME_SIZE as u64;
        assert_eq!(own_rx_frame(256, 60), Some(0));
        assert_eq!(own_rx_frame(3 * f + 256, FRAME_SIZE - 256), Some(3 * f));
        // Runs past its frame.
        assert_eq!(own_rx_frame(3 * f + 256, FRAME_SIZE - 255), None);
        // Empty.
        assert_eq!(own_rx_frame(256, 0), None);
        // A tx frame, or past the UMEM.
        assert_eq!(own_rx_frame(RX_FRAMES as u64 * f + 256, 60), None);
        assert_eq!(own_rx_frame(u64::MAX - 100, 60), None);
        assert_eq!(own_rx_frame(u64::MAX, u32::MAX), None);
    }

    #[test]
    fn own_umem_completions_are_only_tx_frame_starts() {
        let f = FRAME_SIZE as u64;
        assert!(own_tx_frame(RX_FRAMES as u64 * f));
        assert!(own_tx_frame((RX_FRAMES + TX_FRAMES - 1) as u64 * f));
        assert!(!own_tx_frame((RX_FRAMES + TX_FRAMES) as u64 * f));
        assert!(!own_tx_frame(0));
        assert!(!own_tx_frame(RX_FRAMES as u64 * f + 1));
        assert!(!own_tx_frame(u64::MAX));
    }

    #[test]
    fn arena_rx_descriptors_name_a_buffer_and_stay_inside_it() {
        let g = geometry();
        let at = |bi: u64, off: u64| (bi * 2368) | (off << 48);
        // The kernel's usual answer: the chunk start, data 256 bytes in.
        assert_eq!(g.rx(at(0, 256), 60), Some((BufferIndex(0), 0)));
        assert_eq!(g.rx(at(999, 256), 2368 - 256), Some((BufferIndex(999), 0)));
        // A frame moved into rvpp's headroom, or past the data start.
        assert_eq!(g.rx(at(7, 128), 60), Some((BufferIndex(7), -128)));
        assert_eq!(g.rx(at(7, 300), 60), Some((BufferIndex(7), 44)));
        // Into the metadata.
        assert_eq!(g.rx(at(7, 127), 60), None);
        assert_eq!(g.rx(at(7, 0), 60), None);
        // Runs past the buffer into the next.
        assert_eq!(g.rx(at(7, 256), 2368 - 255), None);
        // Empty, or longer than any buffer.
        assert_eq!(g.rx(at(7, 256), 0), None);
        assert_eq!(g.rx(at(7, 256), u32::MAX), None);
        // Not a chunk start; past the arena; nonsense.
        assert_eq!(g.rx(at(7, 256) + 1, 60), None);
        assert_eq!(g.rx(at(1000, 256), 60), None);
        assert_eq!(g.rx(u64::MAX, 60), None);
        assert_eq!(g.rx(ADDR_MASK, 60), None);
    }

    #[test]
    fn arena_tx_addresses_and_completions_round_trip() {
        let g = geometry();
        let a = g.tx_addr(BufferIndex(5), 0, 60).expect("plain packet");
        assert_eq!(a, 5 * 2368 + DATA_OFFSET as u64);
        assert_eq!(g.completed(a), Some(BufferIndex(5)));
        // Headers prepended into the headroom, down to its start.
        let a = g.tx_addr(BufferIndex(5), -128, 60).expect("headroom");
        assert_eq!(g.completed(a), Some(BufferIndex(5)));
        // Metadata, past the buffer, empty, out of range.
        assert_eq!(g.tx_addr(BufferIndex(5), -129, 60), None);
        assert_eq!(g.tx_addr(BufferIndex(5), 0, 2368 - 255), None);
        assert_eq!(g.tx_addr(BufferIndex(5), 0, 0), None);
        assert_eq!(g.tx_addr(BufferIndex(1000), 0, 60), None);
        // A completion inside a metadata block or past the arena.
        assert_eq!(g.completed(5 * 2368 + 127), None);
        assert_eq!(g.completed(1000 * 2368 + 256), None);
        assert_eq!(g.completed(u64::MAX), None);
    }

    #[test]
    fn buffer_sets_give_back_only_what_they_hold() {
        let mut s = BufSet::new(130);
        assert!(s.insert(BufferIndex(0)));
        assert!(s.insert(BufferIndex(129)));
        assert!(!s.insert(BufferIndex(129)), "twice");
        assert!(!s.insert(BufferIndex(130)), "out of range");
        assert_eq!(s.len, 2);
        assert!(s.take(BufferIndex(129)));
        assert!(!s.take(BufferIndex(129)), "given back twice");
        assert!(!s.take(BufferIndex(64)), "never given");
        assert!(!s.take(BufferIndex(u32::MAX)));
        assert!(s.insert(BufferIndex(64)));
        assert_eq!(s.drain(), vec![BufferIndex(0), BufferIndex(64)]);
        assert_eq!(s.len, 0);
        assert!(s.drain().is_empty());
    }
}
