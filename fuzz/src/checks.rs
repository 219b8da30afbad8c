//! What each node promises about the packets it hands on, checked on every
//! hand-off (a [`crate::pipeline::Check`]). These go beyond "no panic":
//! a header the node accepted is well formed, a reply it built has valid
//! checksums and goes out where it came in, a frame dispatched by
//! ethertype starts where that ethertype says.

use rvpp_dataplane::buffer::{BufferIndex, HEADROOM, RX, TX};
use rvpp_dataplane::testing::Harness;

use crate::fixture;
use crate::wire::{pseudo6, valid};

/// ff02::1
const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

fn be16(d: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([d[at], d[at + 1]]))
}

/// Every check the packet targets share, by (from, to).
pub fn all(h: &Harness, from: &str, to: &str, bi: BufferIndex) {
    match from {
        "ethernet-input" => ethernet(h, to, bi),
        "arp-input" | "ip6-nd" if to == "interface-output" => neighbor_reply(h, from, bi),
        _ => ip(h, from, to, bi),
    }
}

fn ethernet(h: &Harness, to: &str, bi: BufferIndex) {
    let m = h.vm.bufs.meta(bi);
    let rx = m.sw_if_index[RX];
    if to == "l2-output" {
        assert_eq!(Some(m.sw_if_index[TX]), fixture::xconnect(rx), "ethernet-input -> l2-output: rx {rx}");
        assert_eq!(m.current_data, 0, "ethernet-input -> l2-output: the frame goes on whole");
        return;
    }
    let Some(&(et, _)) = fixture::ethertypes().0.iter().find(|t| t.1 == to) else { return };
    let hl = i32::from(m.current_data) - i32::from(m.l2_hdr_offset);
    assert!(matches!(hl, 14 | 18 | 22), "ethernet-input -> {to}: l2 header of {hl} bytes");
    assert_eq!(m.l3_hdr_offset, m.current_data, "ethernet-input -> {to}: l3 header offset");
    let raw = h.vm.bufs.raw(bi);
    let l2 = (HEADROOM as i32 + i32::from(m.l2_hdr_offset)) as usize;
    let l3 = l2 + hl as usize;
    assert_eq!(be16(raw, l3 - 2), usize::from(et), "ethernet-input -> {to}: ethertype in front of the packet");
    let f = &h.vm.ifs.ifs[rx as usize];
    assert!(
        raw[l2] & 1 == 1 || raw[l2..l2 + 6] == f.mac,
        "ethernet-input -> {to}: unicast to another MAC accepted on {rx}"
    );
    // Tagged and now on a sub-interface (a priority tag, VLAN 0, leaves
    // the frame on its parent).
    if hl > 14 && f.sup_sw_if_index != rx {
        assert!(f.admin_up, "ethernet-input -> {to}: moved to sub-interface {rx}, which is down");
    }
}

/// An ARP reply or neighbor advertisement going out: back where the
/// question came in, from our MAC, with the right payload.
fn neighbor_reply(h: &Harness, from: &str, bi: BufferIndex) {
    let m = h.vm.bufs.meta(bi);
    let (rx, tx) = (m.sw_if_index[RX], m.sw_if_index[TX]);
    assert_eq!(rx, tx, "{from}: a reply leaves where the request came in");
    let f = h.vm.bufs.data(bi);
    assert!(f.len() >= 14, "{from}: reply of {} bytes", f.len());
    let mut hl = 14;
    while matches!(be16(f, hl - 2), 0x8100 | 0x88a8) && hl < 22 && f.len() >= hl + 4 {
        hl += 4;
    }
    let our_mac = h.vm.ifs.ifs[tx as usize].mac;
    assert_eq!(f[6..12], our_mac, "{from}: reply's source MAC");
    let addrs = fixture::if_addrs();
    let body = &f[hl..];
    if from == "arp-input" {
        assert_eq!(be16(f, hl - 2), 0x0806, "{from}: reply ethertype");
        assert!(body.len() >= 28, "{from}: ARP reply of {} bytes", body.len());
        assert_eq!(be16(body, 6), 2, "{from}: reply opcode");
        assert_eq!(body[8..14], our_mac, "{from}: sender hardware address");
        let spa = u32::from_be_bytes([body[14], body[15], body[16], body[17]]);
        assert!(addrs.has4(tx, spa), "{from}: replies for {spa:#x}, not an address of {tx}");
        assert_eq!(f[..6], body[18..24], "{from}: frame goes to the target hardware address");
        assert_eq!(f[0] & 1, 0, "{from}: reply to a multicast MAC");
    } else {
        assert_eq!(be16(f, hl - 2), 0x86dd, "{from}: advertisement ethertype");
        assert_eq!(body.len(), 72, "{from}: advertisement length");
        assert_eq!((body[6], body[7], body[40], body[41]), (58, 255, 136, 0), "{from}: NA header");
        assert_eq!(be16(body, 4), 32, "{from}: payload length");
        assert!(valid(&body[40..], pseudo6(body, 58, 32)), "{from}: ICMPv6 checksum");
        let target = u128::from_be_bytes(body[48..64].try_into().unwrap_or_default());
        assert!(addrs.has6(tx, target), "{from}: advertises {target:#x}, not an address of {tx}");
        assert_eq!(body[8..24], body[48..64], "{from}: advertisement from its target");
        assert_eq!((body[64], body[65]), (2, 1), "{from}: target link-layer option");
        assert_eq!(body[66..72], our_mac, "{from}: advertised MAC");
        let dad = body[24..40] == ALL_NODES;
        let solicited = body[44] & 0x40 != 0;
        assert_eq!(solicited, !dad, "{from}: solicited flag of an advertisement to {:02x?}", &body[24..40]);
        if dad {
            assert_eq!(f[..6], [0x33, 0x33, 0, 0, 0, 1], "{from}: DAD answer's MAC");
        }
    }
}

fn ip(h: &Harness, from: &str, to: &str, bi: BufferIndex) {
    if to == "error-drop" {
        return;
    }
    let d = h.vm.bufs.chain_bytes(bi);
    let len = d.len();
    assert_eq!(len, h.vm.bufs.chain_len(bi), "{from} -> {to}: chain length");
    match (from, to) {
        ("ip4-input", "ip4-lookup") | ("ip4-reassembly", "ip4-local") => {
            assert!(len >= 20 && d[0] == 0x45, "{from} -> {to}: header {:02x?}", &d[..len.min(20)]);
            assert!(valid(&d[..20], 0), "{from} -> {to}: header checksum");
            assert_eq!(be16(&d, 2), len, "{from} -> {to}: total length vs packet");
            if from == "ip4-input" {
                assert_ne!(d[8], 0, "{from} -> {to}: ttl 0");
            } else {
                assert_eq!(be16(&d, 6) & 0x3fff, 0, "{from} -> {to}: still a fragment");
            }
        }
        ("ip4-input", "ip4-icmp-error") => assert_eq!(d[8], 0, "{from} -> {to}: only for an expired ttl"),
        ("ip6-input", "ip6-lookup") => {
            assert!(len >= 40 && d[0] >> 4 == 6, "{from} -> {to}: header");
            assert_eq!(40 + be16(&d, 4), len, "{from} -> {to}: payload length vs packet");
            assert_ne!(d[7], 0, "{from} -> {to}: hop limit 0");
        }
        ("ip6-input", "ip6-icmp-error") => assert_eq!(d[7], 0, "{from} -> {to}: only for an expired hop limit"),
        ("ip4-local", "ip4-lookup") => {
            let ihl = usize::from(d[0] & 0xf) * 4;
            assert!(ihl >= 20 && len >= ihl + 8, "{from} -> {to}: echo reply of {len} bytes, header {ihl}");
            assert_eq!(be16(&d, 2), len, "{from} -> {to}: echo reply total length vs packet");
            assert!(valid(&d[..ihl], 0), "{from} -> {to}: echo reply header checksum");
            assert_eq!(d[ihl], 0, "{from} -> {to}: echo reply type");
            assert!(valid(&d[ihl..], 0), "{from} -> {to}: echo reply ICMP checksum");
            // Every packet ip4-input accepts comes here, whatever its
            // destination, so the reply's source can be any unicast one.
            let bcast = (224..240).contains(&d[12]) || d[12..16] == [255; 4];
            assert!(!bcast, "{from} -> {to}: echo reply from a multicast/broadcast source {:?}", &d[12..16]);
        }
        ("ip6-local", "ip6-lookup") => {
            let plen = be16(&d, 4);
            assert!(len >= 48 && 40 + plen == len, "{from} -> {to}: echo reply of {len} bytes, payload {plen}");
            assert_eq!(d[40], 129, "{from} -> {to}: echo reply type");
            assert!(valid(&d[40..], pseudo6(&d, 58, plen)), "{from} -> {to}: echo reply checksum");
            assert_ne!(d[8], 0xff, "{from} -> {to}: echo reply from a multicast source");
        }
        ("ip4-icmp-error", "ip4-lookup") => {
            let addrs = fixture::if_addrs();
            assert!((48..=576).contains(&len), "{from} -> {to}: error of {len} bytes");
            assert!(d[0] == 0x45 && valid(&d[..20], 0), "{from} -> {to}: header");
            assert_eq!(be16(&d, 2), len, "{from} -> {to}: total length");
            assert!(valid(&d[20..], 0), "{from} -> {to}: ICMP checksum");
            assert!(matches!(d[20], 3 | 11), "{from} -> {to}: ICMP type {}", d[20]);
            let src = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
            assert!(addrs.v4.iter().flatten().any(|a| a.0 == src), "{from} -> {to}: source {src:#x} not ours");
            // RFC 1812 4.3.2.7: not about an error, a later fragment, a
            // multicast/broadcast or a bogus source; sent to that source.
            let q = &d[28..];
            let qihl = usize::from(q[0] & 0xf) * 4;
            assert_eq!(d[16..20], q[12..16], "{from} -> {to}: error not sent to the offender's source");
            assert_eq!(be16(q, 6) & 0x1fff, 0, "{from} -> {to}: error about a later fragment");
            assert!(q[16] < 224, "{from} -> {to}: error about a multicast packet");
            assert!(!matches!(q[12], 0 | 127 | 224..), "{from} -> {to}: error to source {:?}", &q[12..16]);
            if q[9] == 1 && q.len() > qihl {
                assert!(matches!(q[qihl], 0 | 8 | 13..=16), "{from} -> {to}: error about ICMP type {}", q[qihl]);
            }
        }
        ("ip6-icmp-error", "ip6-lookup") => {
            let addrs = fixture::if_addrs();
            assert!((88..=1280).contains(&len), "{from} -> {to}: error of {len} bytes");
            assert_eq!(40 + be16(&d, 4), len, "{from} -> {to}: payload length");
            assert!(valid(&d[40..], pseudo6(&d, 58, len - 40)), "{from} -> {to}: ICMPv6 checksum");
            assert!(d[40] < 128, "{from} -> {to}: ICMPv6 type {}", d[40]);
            let src = u128::from_be_bytes(d[8..24].try_into().unwrap_or_default());
            let ours = addrs.ll.contains(&src) || addrs.v6.iter().flatten().any(|a| a.0 == src);
            assert!(ours, "{from} -> {to}: source {src:#x} not ours");
            // RFC 4443 2.4(e): not about an error, a multicast packet or
            // from the unspecified address; sent to the offender's source.
            let q = &d[48..];
            assert_eq!(d[24..40], q[8..24], "{from} -> {to}: error not sent to the offender's source");
            assert!(q[8..24].iter().any(|&b| b != 0), "{from} -> {to}: error to the unspecified address");
            assert_ne!(q[24], 0xff, "{from} -> {to}: error about a multicast packet");
            if q[6] == 58 && q.len() > 40 {
                assert!(q[40] >= 128, "{from} -> {to}: error about ICMPv6 error type {}", q[40]);
            }
        }
        _ => {}
    }
}
