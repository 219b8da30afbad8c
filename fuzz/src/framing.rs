//! A fuzz input as packets: one flags byte, then packets, each a 2-byte
//! big-endian header and its bytes. The header holds the length (low 11
//! bits, so up to 2047 bytes; a packet cut short by the input's end keeps
//! what there is), the receive interface (bits 11-13), whether the harness
//! fixes the packet's checksums first (bit 14, see [`crate::wire::fix`])
//! and whether the frame ends after it (bit 15; a frame also ends at
//! [`FRAME_SIZE`] packets). Many small packets per input is the point:
//! fragments meet in reassembly, requests and replies in the same frame.

use rvpp_dataplane::node::FRAME_SIZE;

/// Most packets taken from one input.
pub const MAX_PACKETS: usize = 512;

/// One packet of the input.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    pub bytes: &'a [u8],
    /// Receive interface, 0..8 (see [`crate::fixture`]).
    pub rx: u32,
    /// Fix up checksums before feeding it.
    pub fix: bool,
}

/// A split input: the target's flags and the frames of packets.
#[derive(Debug, Default)]
pub struct Input<'a> {
    pub flags: u8,
    pub frames: Vec<Vec<RawPacket<'a>>>,
}

/// Splits `data` as the module docs say.
pub fn split(data: &[u8]) -> Input<'_> {
    let Some((&flags, mut rest)) = data.split_first() else { return Input::default() };
    let mut frames = Vec::new();
    let mut cur = Vec::new();
    let mut n = 0;
    while rest.len() >= 2 && n < MAX_PACKETS {
        let h = u16::from_be_bytes([rest[0], rest[1]]);
        rest = &rest[2..];
        let len = usize::from(h & 0x7ff).min(rest.len());
        let (bytes, tail) = rest.split_at(len);
        rest = tail;
        cur.push(RawPacket { bytes, rx: u32::from((h >> 11) & 7), fix: h & 0x4000 != 0 });
        n += 1;
        if h & 0x8000 != 0 || cur.len() == FRAME_SIZE {
            frames.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        frames.push(cur);
    }
    Input { flags, frames }
}

/// The input that [`split`] turns into these frames (for seeds): each
/// packet as (bytes, rx, fix), its length cut to 2047.
pub fn join(flags: u8, frames: &[Vec<(Vec<u8>, u32, bool)>]) -> Vec<u8> {
    let mut out = vec![flags];
    for f in frames {
        for (k, (bytes, rx, fix)) in f.iter().enumerate() {
            let len = bytes.len().min(0x7ff);
            let mut h = len as u16 | ((*rx as u16) & 7) << 11;
            if *fix {
                h |= 0x4000;
            }
            if k + 1 == f.len() {
                h |= 0x8000;
            }
            out.extend_from_slice(&h.to_be_bytes());
            out.extend_from_slice(&bytes[..len]);
        }
    }
    out
}
