//! A bounded byte ring between a transport and an application: the TCP
//! sender keeps unacknowledged bytes in its tx fifo (peeked for
//! transmission, dropped from the head when acked) and the TCP receiver
//! writes straight into the app's rx fifo, in order at the tail or out of
//! order at an offset beyond it (VPP's svm_fifo ooo list): out-of-order
//! segments are remembered as ranges relative to the tail and joined to the
//! readable bytes as soon as the gap before them is filled.
//!
//! The storage is any `AsRef<[u8]> + AsMut<[u8]>` (a boxed slice by
//! default) so the session layer can place it in a shared-memory segment;
//! positions are `u32` (an index in the ring plus wrapping byte counters),
//! never pointers. No method panics on any input.
//!
//! [`dgram`] frames datagrams (UDP) in the same fifos: a fixed header
//! before each payload, queued and taken whole.

pub mod dgram;

use thiserror::Error;

/// The largest fifo (1 GiB, the most TCP window scaling can advertise).
pub const MAX_FIFO_SIZE: u32 = 1 << 30;
/// Out-of-order ranges kept at most; a write that would need more is refused.
pub const MAX_OOO_SEGMENTS: usize = 32;

/// Errors creating a fifo.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FifoError {
    /// The size is zero or above [`MAX_FIFO_SIZE`].
    #[error("fifo size {size} not in 1..={MAX_FIFO_SIZE}")]
    BadSize {
        /// The size asked for.
        size: usize,
    },
}

/// Bytes given as consecutive slices (a packet's buffers, a ring's two
/// halves), seen from `skip` bytes in and `len` bytes long: how a segment's
/// payload reaches a fifo without being gathered into one slice first.
#[derive(Clone, Copy, Debug)]
pub struct Gather<'a> {
    parts: &'a [&'a [u8]],
    skip: usize,
    len: usize,
}

impl<'a> Gather<'a> {
    /// All the bytes of `parts`, in order.
    pub fn new(parts: &'a [&'a [u8]]) -> Self {
        Gather { parts, skip: 0, len: parts.iter().map(|p| p.len()).sum() }
    }

    /// No bytes.
    pub fn empty() -> Self {
        Gather { parts: &[], skip: 0, len: 0 }
    }

    /// Bytes in view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No bytes in view.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The view without its first `n` bytes.
    pub fn skip(self, n: usize) -> Self {
        let n = n.min(self.len);
        Gather { parts: self.parts, skip: self.skip + n, len: self.len - n }
    }

    /// The view cut to its first `n` bytes.
    pub fn take(self, n: usize) -> Self {
        Gather { len: self.len.min(n), ..self }
    }

    /// The bytes in view as slices, in order, none empty.
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (mut skip, mut left) = (self.skip, self.len);
        self.parts.iter().filter_map(move |p| {
            if skip >= p.len() {
                skip -= p.len();
                return None;
            }
            let n = (p.len() - skip).min(left);
            let c = &p[skip..skip + n];
            skip = 0;
            left -= n;
            (n > 0).then_some(c)
        })
    }

    /// Copies the bytes in view into `out` (as many as fit); returns the
    /// count.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let mut at = 0;
        for c in self.chunks() {
            let n = c.len().min(out.len() - at);
            out[at..at + n].copy_from_slice(&c[..n]);
            at += n;
        }
        at
    }
}

/// An out-of-order range: `start` bytes beyond the tail, `len` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OooSegment {
    /// Offset of the first byte from the tail.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl OooSegment {
    fn end(&self) -> u32 {
        self.start + self.len
    }
}

/// A bounded byte ring with out-of-order enqueue.
#[derive(Debug)]
pub struct Fifo<S = Box<[u8]>> {
    buf: S,
    size: u32,
    /// Index of the first readable byte.
    head: u32,
    /// Readable bytes.
    len: u32,
    /// Bytes ever dequeued/dropped (wrapping).
    head_pos: u32,
    /// Bytes ever made readable at the tail (wrapping).
    tail_pos: u32,
    /// Sorted, disjoint, non-adjacent out-of-order ranges.
    ooo: Vec<OooSegment>,
}

impl Fifo<Box<[u8]>> {
    /// A fifo of `size` bytes on the heap.
    pub fn new(size: usize) -> Result<Self, FifoError> {
        if size == 0 || size > MAX_FIFO_SIZE as usize {
            return Err(FifoError::BadSize { size });
        }
        Self::with_storage(vec![0u8; size].into_boxed_slice())
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> Fifo<S> {
    /// A fifo over caller-provided storage (its whole length is used).
    pub fn with_storage(buf: S) -> Result<Self, FifoError> {
        let size = buf.as_ref().len();
        if size == 0 || size > MAX_FIFO_SIZE as usize {
            return Err(FifoError::BadSize { size });
        }
        Ok(Fifo { buf, size: size as u32, head: 0, len: 0, head_pos: 0, tail_pos: 0, ooo: Vec::new() })
    }

    /// Capacity in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Readable bytes (max dequeue).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// No readable bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes beyond the tail (max enqueue); out-of-order data lives
    /// inside this space.
    pub fn free(&self) -> u32 {
        self.size - self.len
    }

    /// Wrapping count of bytes ever removed from the head.
    pub fn head_pos(&self) -> u32 {
        self.head_pos
    }

    /// Wrapping count of bytes ever made readable at the tail.
    pub fn tail_pos(&self) -> u32 {
        self.tail_pos
    }

    /// The out-of-order ranges, lowest first, offsets relative to the tail.
    pub fn ooo_segments(&self) -> &[OooSegment] {
        &self.ooo
    }

    /// Out-of-order bytes held.
    pub fn ooo_bytes(&self) -> u32 {
        self.ooo.iter().map(|s| s.len).sum()
    }

    fn index(&self, from_head: u32) -> usize {
        ((self.head as u64 + from_head as u64) % self.size as u64) as usize
    }

    /// Copies `data` into the ring starting `from_head` bytes after the head.
    fn write_raw(&mut self, from_head: u32, data: &[u8]) {
        let i = self.index(from_head);
        let buf = self.buf.as_mut();
        let first = data.len().min(buf.len() - i);
        buf[i..i + first].copy_from_slice(&data[..first]);
        buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Copies every byte of `g` into the ring from `from_head` on.
    fn write_gather(&mut self, mut from_head: u32, g: Gather<'_>) {
        for part in g.chunks() {
            self.write_raw(from_head, part);
            from_head += part.len() as u32;
        }
    }

    /// Appends as much of `data` as fits; returns the bytes taken. Any
    /// out-of-order ranges the write reaches become readable too (see
    /// [`Fifo::tail_pos`] for the total advance).
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        self.enqueue_gather(Gather::new(std::slice::from_ref(&data)))
    }

    /// [`Fifo::enqueue`] of bytes given in pieces (a packet's buffers):
    /// all of them are written before the tail moves, so out-of-order
    /// ranges the write reaches join once, after the last piece.
    pub fn enqueue_gather(&mut self, g: Gather<'_>) -> usize {
        let n = g.len().min(self.free() as usize) as u32;
        if n == 0 {
            return 0;
        }
        self.write_gather(self.len, g.take(n as usize));
        self.advance_tail(n);
        n as usize
    }

    fn advance_tail(&mut self, n: u32) {
        self.len += n;
        self.tail_pos = self.tail_pos.wrapping_add(n);
        // Shift the ranges down by n, dropping what the write covered.
        self.ooo.retain_mut(|s| {
            if s.end() <= n {
                return false;
            }
            if s.start < n {
                s.len = s.end() - n;
                s.start = 0;
            } else {
                s.start -= n;
            }
            true
        });
        if let Some(first) = self.ooo.first().copied() {
            if first.start == 0 {
                self.ooo.remove(0);
                self.advance_tail(first.len);
            }
        }
    }

    /// Writes `data` `offset` bytes beyond the tail (out of order), within
    /// the free space; returns the bytes written (0 when the offset is past
    /// the free space or the range list is full). `offset == 0` is
    /// [`Fifo::enqueue`].
    pub fn enqueue_at(&mut self, offset: u32, data: &[u8]) -> usize {
        self.enqueue_at_gather(offset, Gather::new(std::slice::from_ref(&data)))
    }

    /// [`Fifo::enqueue_at`] of bytes given in pieces.
    pub fn enqueue_at_gather(&mut self, offset: u32, data: Gather<'_>) -> usize {
        if offset == 0 {
            return self.enqueue_gather(data);
        }
        let free = self.free();
        if offset >= free || data.is_empty() {
            return 0;
        }
        let n = (data.len() as u64).min((free - offset) as u64) as u32;
        let (start, end) = (offset, offset + n);
        // Where the new range goes and which existing ranges it touches.
        let first = self.ooo.partition_point(|s| s.end() < start);
        let last = self.ooo.partition_point(|s| s.start <= end);
        if first == last && self.ooo.len() >= MAX_OOO_SEGMENTS {
            return 0;
        }
        self.write_gather(self.len + offset, data.take(n as usize));
        let mut merged = OooSegment { start, len: n };
        if first < last {
            let lo = self.ooo[first].start.min(start);
            let hi = self.ooo[last - 1].end().max(end);
            merged = OooSegment { start: lo, len: hi - lo };
            self.ooo.drain(first..last);
        }
        self.ooo.insert(first, merged);
        n as usize
    }

    /// Copies readable bytes starting `offset` after the head into `out`
    /// without consuming them; returns the bytes copied.
    pub fn peek(&self, offset: u32, out: &mut [u8]) -> usize {
        let (a, b) = self.peek_slices(offset, out.len().min(u32::MAX as usize) as u32);
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Up to `len` readable bytes starting `offset` after the head, as one
    /// or two slices (the ring may wrap): what an output node copies into a
    /// packet buffer.
    pub fn peek_slices(&self, offset: u32, len: u32) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let n = len.min(self.len - offset) as usize;
        let i = self.index(offset);
        let buf = self.buf.as_ref();
        let first = n.min(buf.len() - i);
        (&buf[i..i + first], &buf[..n - first])
    }

    /// Moves up to `out.len()` readable bytes into `out`; returns the count.
    pub fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.drop_head(n as u32);
        n
    }

    /// Discards up to `n` bytes at the head (acknowledged data); returns
    /// the count dropped.
    pub fn drop_head(&mut self, n: u32) -> u32 {
        let n = n.min(self.len);
        self.head = self.index(n) as u32;
        self.len -= n;
        self.head_pos = self.head_pos.wrapping_add(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(from: usize, n: usize) -> Vec<u8> {
        (from..from + n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(Fifo::new(0).unwrap_err(), FifoError::BadSize { size: 0 });
        assert!(Fifo::new(MAX_FIFO_SIZE as usize + 1).is_err());
        assert_eq!(Fifo::new(16).unwrap().size(), 16);
    }

    #[test]
    fn enqueue_dequeue_wraps_and_is_partial() {
        let mut f = Fifo::new(10).unwrap();
        assert_eq!(f.enqueue(&pattern(0, 7)), 7);
        let mut out = [0u8; 5];
        assert_eq!(f.dequeue(&mut out), 5);
        assert_eq!(out.to_vec(), pattern(0, 5));
        // 2 left, 8 free: a 9-byte write is cut to 8 and wraps the ring.
        assert_eq!(f.enqueue(&pattern(7, 9)), 8);
        assert_eq!(f.len(), 10);
        assert_eq!(f.free(), 0);
        assert_eq!(f.enqueue(&[1]), 0);
        let mut all = [0u8; 16];
        assert_eq!(f.peek(0, &mut all), 10);
        assert_eq!(all[..10].to_vec(), pattern(5, 10));
        let (a, b) = f.peek_slices(3, 100);
        assert_eq!(a.len() + b.len(), 7);
        assert!(!b.is_empty(), "the data wraps, so two slices");
        assert_eq!([a, b].concat(), pattern(8, 7));
        assert_eq!(f.drop_head(4), 4);
        assert_eq!(f.head_pos(), 9);
        assert_eq!(f.tail_pos(), 15);
        assert_eq!(f.dequeue(&mut all), 6);
        assert_eq!(all[..6].to_vec(), pattern(9, 6));
        assert!(f.is_empty());
        assert_eq!(f.drop_head(3), 0);
        assert_eq!(f.peek_slices(0, 4), (&[][..], &[][..]));
    }

    #[test]
    fn out_of_order_segments_join_when_the_gap_fills() {
        let mut f = Fifo::new(100).unwrap();
        let data = pattern(0, 60);
        assert_eq!(f.enqueue_at(40, &data[40..50]), 10);
        assert_eq!(f.enqueue_at(20, &data[20..30]), 10);
        assert_eq!(f.ooo_segments(), &[OooSegment { start: 20, len: 10 }, OooSegment { start: 40, len: 10 }]);
        // Bridging 30..40 merges both into one range.
        assert_eq!(f.enqueue_at(28, &data[28..42]), 14);
        assert_eq!(f.ooo_segments(), &[OooSegment { start: 20, len: 30 }]);
        assert_eq!(f.len(), 0);
        assert_eq!(f.ooo_bytes(), 30);
        // In-order data overlapping the range pulls all of it in.
        assert_eq!(f.enqueue(&data[..25]), 25);
        assert_eq!(f.len(), 50);
        assert_eq!(f.tail_pos(), 50);
        assert!(f.ooo_segments().is_empty());
        let mut out = vec![0u8; 50];
        assert_eq!(f.dequeue(&mut out), 50);
        assert_eq!(out, data[..50].to_vec());
    }

    #[test]
    fn out_of_order_writes_stay_inside_free_space() {
        let mut f = Fifo::new(32).unwrap();
        assert_eq!(f.enqueue(&[0; 20]), 20);
        assert_eq!(f.enqueue_at(12, &[1; 10]), 0, "offset at the end of the free space");
        assert_eq!(f.enqueue_at(8, &[1; 10]), 4, "clipped to the free space");
        assert_eq!(f.ooo_segments(), &[OooSegment { start: 8, len: 4 }]);
        f.drop_head(20);
        // Adjacent ranges merge; the ring wraps under them.
        assert_eq!(f.enqueue_at(12, &[2; 3]), 3);
        assert_eq!(f.ooo_segments(), &[OooSegment { start: 8, len: 7 }]);
    }

    #[test]
    fn ooo_range_list_is_bounded() {
        let mut f = Fifo::new(4096).unwrap();
        for i in 0..MAX_OOO_SEGMENTS as u32 {
            assert_eq!(f.enqueue_at(10 + i * 10, &[9; 5]), 5);
        }
        assert_eq!(f.ooo_segments().len(), MAX_OOO_SEGMENTS);
        assert_eq!(f.enqueue_at(2000, &[9; 5]), 0, "a new range past the limit is refused");
        assert_eq!(f.enqueue_at(15, &[9; 5]), 5, "joining an existing range is fine");
        assert_eq!(f.ooo_segments().len(), MAX_OOO_SEGMENTS - 1);
    }

    #[test]
    fn gathered_pieces_land_whole_before_ranges_join() {
        let data = pattern(0, 40);
        let parts: [&[u8]; 3] = [&data[..7], &data[7..8], &data[8..30]];
        let g = Gather::new(&parts);
        assert_eq!(g.len(), 30);
        assert_eq!(g.skip(5).take(4).chunks().collect::<Vec<_>>(), vec![&data[5..7], &data[7..8], &data[8..9]]);
        let mut out = [0u8; 10];
        assert_eq!(g.skip(20).copy_to(&mut out), 10);
        assert_eq!(out.to_vec(), pattern(20, 10));
        assert!(g.skip(40).is_empty() && g.skip(40).chunks().next().is_none());
        // A range already held beyond the first piece: the later pieces
        // still go where they belong, then everything joins.
        let mut g2 = Fifo::new(64).unwrap();
        assert_eq!(g2.enqueue_at(10, &data[10..35]), 25);
        assert_eq!(g2.enqueue_gather(g), 30);
        assert_eq!(g2.len(), 35);
        let mut all = [0u8; 35];
        g2.peek(0, &mut all);
        assert_eq!(all.to_vec(), pattern(0, 35));
        // Out of order in pieces, clipped to the free space.
        let mut h = Fifo::new(20).unwrap();
        assert_eq!(h.enqueue_at_gather(5, g), 15);
        assert_eq!(h.ooo_segments(), &[OooSegment { start: 5, len: 15 }]);
        assert_eq!(h.enqueue(&data[30..35]), 5);
        let mut all = [0u8; 20];
        h.peek(0, &mut all);
        assert_eq!(all[5..].to_vec(), pattern(0, 15));
    }

    #[test]
    fn external_storage() {
        let mut store = [0u8; 8];
        let mut f = Fifo::with_storage(&mut store[..]).unwrap();
        assert_eq!(f.enqueue(b"abcdefghij"), 8);
        assert!(Fifo::with_storage(&mut [][..]).is_err());
    }

    /// Random operations against a model of the byte stream (byte at
    /// stream position p is a function of p, as TCP retransmissions are).
    #[test]
    fn matches_a_model_under_random_operations() {
        use std::collections::BTreeSet;
        let byte = |p: u64| (p.wrapping_mul(31) ^ (p >> 8)) as u8;
        let stream = |from: u64, n: usize| (from..from + n as u64).map(byte).collect::<Vec<u8>>();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for cap in [1usize, 7, 64, 1000] {
            let mut f = Fifo::new(cap).unwrap();
            let (mut head, mut tail) = (0u64, 0u64);
            let mut ooo = BTreeSet::new();
            for _ in 0..20_000 {
                let free = cap as u64 - (tail - head);
                match next(5) {
                    0 => {
                        let len = next(cap as u64 + 3) as usize;
                        let n = f.enqueue(&stream(tail, len));
                        assert_eq!(n as u64, (len as u64).min(free));
                        tail += n as u64;
                        while ooo.remove(&tail) {
                            tail += 1;
                        }
                        ooo.retain(|&p| p >= tail);
                    }
                    1 | 2 => {
                        let off = next(cap as u64 + 2) as u32;
                        let len = next(cap as u64 / 3 + 2) as usize;
                        let want = if off as u64 >= free { 0 } else { (len as u64).min(free - off as u64) };
                        let n = f.enqueue_at(off, &stream(tail + off as u64, len));
                        if off == 0 {
                            assert_eq!(n as u64, want);
                            tail += n as u64;
                            while ooo.remove(&tail) {
                                tail += 1;
                            }
                            ooo.retain(|&p| p >= tail);
                        } else if n == 0 && want > 0 {
                            assert_eq!(f.ooo_segments().len(), MAX_OOO_SEGMENTS, "refused only when full");
                        } else {
                            assert_eq!(n as u64, want);
                            ooo.extend(tail + off as u64..tail + off as u64 + n as u64);
                        }
                    }
                    3 => {
                        let mut out = vec![0u8; next(cap as u64 + 2) as usize];
                        let n = f.dequeue(&mut out);
                        assert_eq!(n as u64, (out.len() as u64).min(tail - head));
                        assert_eq!(out[..n], stream(head, n)[..]);
                        head += n as u64;
                    }
                    _ => {
                        let off = next(cap as u64 + 1) as u32;
                        let mut out = vec![0u8; next(cap as u64 + 1) as usize];
                        let n = f.peek(off, &mut out);
                        let avail = (tail - head).saturating_sub(off as u64);
                        assert_eq!(n as u64, (out.len() as u64).min(avail));
                        assert_eq!(out[..n], stream(head + off as u64, n)[..]);
                        let m = next(3) as u32;
                        head += f.drop_head(m) as u64;
                    }
                }
                assert_eq!(f.len() as u64, tail - head);
                assert_eq!(f.tail_pos(), tail as u32);
                assert_eq!(f.head_pos(), head as u32);
                // The range list is exactly the model's set, as ranges.
                let mut ranges: Vec<OooSegment> = Vec::new();
                for &p in &ooo {
                    let start = (p - tail) as u32;
                    match ranges.last_mut() {
                        Some(r) if r.start + r.len == start => r.len += 1,
                        _ => ranges.push(OooSegment { start, len: 1 }),
                    }
                }
                assert_eq!(f.ooo_segments(), &ranges[..]);
                let mut all = vec![0u8; f.len() as usize];
                f.peek(0, &mut all);
                assert_eq!(all, stream(head, all.len()));
            }
        }
    }
}
