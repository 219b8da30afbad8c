//! UDP: the header parser on arbitrary bytes (a checked view never reads
//! past the length field or the bytes given; the checksum verifies or not,
//! never panics), and the datagram fifo framing under arbitrary operations:
//! datagrams of fuzz-chosen sizes and peers queued whole or refused,
//! dequeued into buffers of fuzz-chosen sizes (truncated, never overrun),
//! compared against a model of what was queued; then raw bytes written
//! into the fifo behind the framing's back, after which every datagram
//! operation may fail (Malformed) but must not panic or loop.
//!
//! Input: byte 0's low bit picks the mode (0 = parser), the rest are
//! operation records `[op, a, b]`.
#![no_main]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use rvpp_hoststack::fifo::dgram::DgramHeader;
use rvpp_hoststack::fifo::Fifo;
use rvpp_hoststack::udp::{UdpPacket, HEADER_LEN};

fn parser(data: &[u8]) {
    let Ok(p) = UdpPacket::new_checked(data) else { return };
    let len = p.len() as usize;
    assert!(len >= HEADER_LEN && len <= data.len());
    assert_eq!(p.payload().len(), len - HEADER_LEN);
    assert_eq!(p.is_empty(), len == HEADER_LEN);
    let _ = (p.src_port(), p.dst_port(), p.checksum());
    let _ = p.verify_checksum4(&[10, 0, 0, 1], &[10, 0, 0, 2]);
    let _ = p.verify_checksum6(&[1; 16], &[2; 16]);
}

fn header(a: u8, b: u8, len: u16) -> DgramHeader {
    let peer = if a & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 0, a, b))
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, a as u16, b as u16))
    };
    let local = if a & 1 == 0 { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V6(Ipv6Addr::LOCALHOST) };
    DgramHeader { len, peer: SocketAddr::new(peer, u16::from_be_bytes([a, b])), local, sw_if_index: b as u32 }
}

fn fifo_ops(data: &[u8]) {
    let mut f = Fifo::new(4096).expect("fifo");
    let mut model: VecDeque<(DgramHeader, Vec<u8>)> = VecDeque::new();
    // Once raw bytes went in, the model no longer holds.
    let mut corrupt = false;
    for rec in data.chunks(3) {
        let [op, a, b] = *rec else { break };
        match op % 6 {
            0 | 1 => {
                let len = (u16::from_be_bytes([a, b]) % 3000) as usize;
                let payload: Vec<u8> = (0..len).map(|k| (k as u8).wrapping_add(a)).collect();
                let h = header(a, b, len as u16);
                let (x, y) = payload.split_at(len / 3);
                let fits = f.dgram_fits(len);
                match f.enqueue_dgram(&h, &[x, y]) {
                    Ok(()) => {
                        assert!(fits || corrupt);
                        model.push_back((h, payload));
                    }
                    Err(_) => assert!(!fits || corrupt, "a datagram that fits was refused"),
                }
            }
            2 => {
                let mut out = vec![0u8; a as usize * 8];
                match f.dequeue_dgram(&mut out) {
                    Ok(Some((h, n))) => {
                        assert!(n <= out.len());
                        if !corrupt {
                            let (mh, mp) = model.pop_front().expect("a datagram the model has");
                            assert_eq!(h, mh);
                            assert_eq!(n, mp.len().min(out.len()));
                            assert_eq!(&out[..n], &mp[..n]);
                        }
                    }
                    Ok(None) => assert!(corrupt || model.is_empty()),
                    Err(_) => assert!(corrupt, "an intact fifo reported malformed"),
                }
            }
            3 => {
                if let Ok(Some(h)) = f.peek_dgram() {
                    let (x, y) = f.dgram_payload(&h);
                    assert!(x.len() + y.len() <= h.len as usize);
                    if !corrupt {
                        assert_eq!(Some(&h), model.front().map(|m| &m.0));
                    }
                }
            }
            4 => {
                if let Ok(Some(h)) = f.drop_dgram() {
                    if !corrupt {
                        assert_eq!(Some(h), model.pop_front().map(|m| m.0));
                    }
                }
            }
            _ => {
                let raw = vec![b; a as usize % 64];
                if f.enqueue(&raw) > 0 {
                    corrupt = true;
                }
            }
        }
        assert!(f.len() <= f.size());
    }
    // Draining ends, whatever is in there.
    for _ in 0..10_000 {
        match f.drop_dgram() {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    if head & 1 == 0 {
        parser(rest);
    } else {
        fifo_ops(rest);
    }
});
