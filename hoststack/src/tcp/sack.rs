//! SACK (RFC 2018) on both sides: the blocks a receiver reports for the
//! out-of-order data in its rx fifo, and the sender's scoreboard of what
//! the peer has SACKed with RFC 6675's loss test (`IsLost`) and `pipe`.

use super::seq::Seq;
use super::wire::SackBlocks;
use crate::fifo::OooSegment;

/// RFC 6675 DupThresh.
pub const DUP_THRESH: u32 = 3;
/// Scoreboard ranges kept at most (more is merged away by dropping the
/// highest; a sender then just retransmits a little more).
pub const MAX_SCOREBOARD: usize = 64;

/// The receiver's SACK blocks: the block holding the most recently received
/// segment first (RFC 2018 §4), then the others from the lowest.
pub fn rx_blocks(rcv_nxt: Seq, ooo: &[OooSegment], recent: Option<Seq>) -> SackBlocks {
    let mut out = SackBlocks::default();
    let block = |s: &OooSegment| (rcv_nxt + s.start, rcv_nxt + s.start + s.len);
    let first = recent.and_then(|r| ooo.iter().position(|s| r.in_range(block(s).0, block(s).1)));
    if let Some(i) = first {
        let (l, r) = block(&ooo[i]);
        out.push(l, r);
    }
    for (i, s) in ooo.iter().enumerate() {
        if Some(i) != first {
            let (l, r) = block(s);
            if !out.push(l, r) {
                break;
            }
        }
    }
    out
}

/// The sender's record of SACKed ranges above `snd_una`.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    /// Sorted, disjoint `[left, right)` ranges.
    blocks: Vec<(Seq, Seq)>,
}

impl Scoreboard {
    /// Forgets everything (after an RTO: the receiver may have reneged).
    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// The SACKed ranges, lowest first.
    pub fn blocks(&self) -> &[(Seq, Seq)] {
        &self.blocks
    }

    /// Adds the blocks of one ACK (those inside `(una, snd_max]`); drops
    /// what is now below `una`. Returns true when new bytes were SACKed.
    pub fn update(&mut self, una: Seq, snd_max: Seq, sack: &[(Seq, Seq)]) -> bool {
        self.trim(una);
        let before = self.sacked_bytes();
        for &(l, r) in sack {
            if !(una < r && l < r && r <= snd_max) {
                continue; // stale or bogus (D-SACK below una, beyond what we sent)
            }
            let l = l.max(una);
            self.insert(l, r);
        }
        self.sacked_bytes() > before
    }

    fn insert(&mut self, l: Seq, r: Seq) {
        let first = self.blocks.partition_point(|b| b.1 < l);
        let last = self.blocks.partition_point(|b| b.0 <= r);
        let (mut nl, mut nr) = (l, r);
        if first < last {
            nl = nl.min(self.blocks[first].0);
            nr = nr.max(self.blocks[last - 1].1);
            self.blocks.drain(first..last);
        }
        self.blocks.insert(first, (nl, nr));
        if self.blocks.len() > MAX_SCOREBOARD {
            self.blocks.pop();
        }
    }

    /// Drops ranges (or parts) below `una`.
    pub fn trim(&mut self, una: Seq) {
        self.blocks.retain_mut(|b| {
            if b.1 <= una {
                return false;
            }
            b.0 = b.0.max(una);
            true
        });
    }

    /// Bytes SACKed.
    pub fn sacked_bytes(&self) -> u32 {
        self.blocks.iter().map(|b| b.1.since(b.0)).sum()
    }

    /// The SACKed range holding `s`, if any.
    pub fn sacked_at(&self, s: Seq) -> Option<(Seq, Seq)> {
        self.blocks.iter().copied().find(|b| s.in_range(b.0, b.1))
    }

    /// The first SACKed range starting above `s`.
    pub fn next_sacked_after(&self, s: Seq) -> Option<(Seq, Seq)> {
        self.blocks.iter().copied().find(|b| b.0 > s)
    }

    /// Every unSACKed byte below the returned sequence is lost by RFC
    /// 6675's IsLost: more than (DupThresh − 1)·MSS bytes or DupThresh
    /// discontiguous ranges are SACKed above it. `None` when nothing is.
    pub fn lost_below(&self, mss: u32) -> Option<Seq> {
        let mut bytes = 0u32;
        for (n, b) in self.blocks.iter().rev().enumerate() {
            bytes += b.1.since(b.0);
            if bytes > (DUP_THRESH - 1) * mss || n as u32 + 1 >= DUP_THRESH {
                return Some(b.0);
            }
        }
        None
    }

    /// The first hole `[a, b)` at or above `from` and below `limit`.
    pub fn next_hole(&self, from: Seq, limit: Seq) -> Option<(Seq, Seq)> {
        let mut a = from;
        for b in &self.blocks {
            if b.1 <= a {
                continue;
            }
            if b.0 <= a {
                a = b.1;
                continue;
            }
            let end = b.0.min(limit);
            return (a < end).then_some((a, end));
        }
        (a < limit).then_some((a, limit))
    }

    /// RFC 6675 SetPipe() in bytes for the flight `[una, snd_max)`: unSACKed
    /// bytes not deemed lost, plus unSACKed bytes already retransmitted
    /// (below `high_rxt`).
    pub fn pipe(&self, una: Seq, snd_max: Seq, high_rxt: Seq, mss: u32) -> u32 {
        let lost = self.lost_below(mss).unwrap_or(una);
        let mut pipe = 0u32;
        let mut a = una;
        while let Some((l, r)) = self.next_hole(a, snd_max) {
            // Not lost: the part at or above `lost`.
            pipe += r.since(l.max(lost));
            // Retransmitted: the part below `high_rxt`.
            pipe += r.min(high_rxt).since(l);
            a = r;
        }
        pipe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoreboard_merges_trims_and_finds_holes() {
        let mut s = Scoreboard::default();
        let una = Seq(1000);
        let max = Seq(20_000);
        assert!(s.update(una, max, &[(Seq(3000), Seq(4000)), (Seq(6000), Seq(7000))]));
        assert!(!s.update(una, max, &[(Seq(3000), Seq(4000))]), "nothing new");
        assert!(!s.update(una, max, &[(Seq(500), Seq(900)), (Seq(19_000), Seq(21_000))]), "bogus blocks ignored");
        assert!(s.update(una, max, &[(Seq(4000), Seq(5000))]));
        assert_eq!(s.blocks(), &[(Seq(3000), Seq(5000)), (Seq(6000), Seq(7000))]);
        assert_eq!(s.next_hole(una, max), Some((Seq(1000), Seq(3000))));
        assert_eq!(s.next_hole(Seq(3500), max), Some((Seq(5000), Seq(6000))));
        assert_eq!(s.next_hole(Seq(6500), max), Some((Seq(7000), max)));
        assert_eq!(s.next_hole(Seq(6500), Seq(7000)), None);
        s.trim(Seq(3500));
        assert_eq!(s.blocks()[0], (Seq(3500), Seq(5000)));
        assert_eq!(s.sacked_bytes(), 2500);
        assert_eq!(s.sacked_at(Seq(6999)), Some((Seq(6000), Seq(7000))));
        assert_eq!(s.sacked_at(Seq(7000)), None);
    }

    #[test]
    fn is_lost_and_pipe_follow_rfc6675() {
        let mss = 1000;
        let mut s = Scoreboard::default();
        let una = Seq(0);
        let max = Seq(10_000);
        // Segments 1 and 2 SACKed (2000 bytes = 2 MSS, not > 2 MSS): nothing lost.
        s.update(una, max, &[(Seq(1000), Seq(3000))]);
        assert_eq!(s.lost_below(mss), None);
        // pipe: all 8000 unSACKed bytes in flight.
        assert_eq!(s.pipe(una, max, una, mss), 8000);
        // A third SACKed segment: segment 0 is lost.
        s.update(una, max, &[(Seq(1000), Seq(4000))]);
        assert_eq!(s.lost_below(mss), Some(Seq(1000)));
        assert_eq!(s.pipe(una, max, una, mss), 6000);
        // Retransmitting it puts it back in the pipe.
        assert_eq!(s.pipe(una, max, Seq(1000), mss), 7000);
        // Three discontiguous single-byte-ish blocks also mark loss.
        let mut s = Scoreboard::default();
        s.update(una, max, &[(Seq(2000), Seq(2100)), (Seq(4000), Seq(4100)), (Seq(6000), Seq(6100))]);
        assert_eq!(s.lost_below(mss), Some(Seq(2000)));
    }

    #[test]
    fn receiver_blocks_put_the_latest_first() {
        let ooo = [OooSegment { start: 100, len: 50 }, OooSegment { start: 300, len: 10 }];
        let b = rx_blocks(Seq(1000), &ooo, Some(Seq(1305)));
        assert_eq!(b.as_slice(), &[(Seq(1300), Seq(1310)), (Seq(1100), Seq(1150))]);
        let b = rx_blocks(Seq(1000), &ooo, None);
        assert_eq!(b.as_slice(), &[(Seq(1100), Seq(1150)), (Seq(1300), Seq(1310))]);
    }
}
