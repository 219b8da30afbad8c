use super::*;

/// The stream of the brief / VPP's documentation, as a user writes it.
const SEED: &str = "{
  name s0
  limit 10
  size 64-64
  rate 1e6
  node ethernet-input
  interface pg0
  data {
    IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06
    UDP: 192.168.1.10 -> 192.168.1.11
    UDP: 1234 -> 5678
    incrementing 22
  }
}";

/// Internet checksum computed independently of the module: 0 over a region
/// that holds a correct checksum.
fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from(c[0]) << 8 };
        s += u32::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn be16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// Checks the UDP/TCP checksum over an IPv4 pseudo-header.
fn l4_ok_v4(p: &[u8], ip: usize, l4: usize, proto: u8) -> bool {
    let mut v = p[ip + 12..ip + 20].to_vec();
    v.extend_from_slice(&[0, proto]);
    v.extend_from_slice(&((p.len() - l4) as u16).to_be_bytes());
    v.extend_from_slice(&p[l4..]);
    csum(&v) == 0
}

/// Checks the UDP/TCP/ICMPv6 checksum over an IPv6 pseudo-header.
fn l4_ok_v6(p: &[u8], ip: usize, l4: usize, proto: u8) -> bool {
    let mut v = p[ip + 8..ip + 40].to_vec();
    v.extend_from_slice(&((p.len() - l4) as u32).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, proto]);
    v.extend_from_slice(&p[l4..]);
    csum(&v) == 0
}

fn pkt(spec: &StreamSpec, seq: u64) -> Vec<u8> {
    let mut out = vec![0xee; usize::from(spec.max_size) + 64];
    let n = spec.packet(seq, &mut out);
    assert_eq!(n, spec.packet_len(seq));
    out.truncate(n);
    out
}

fn stream(data: &str, size: &str) -> StreamSpec {
    let text = format!("{{ name t node ethernet-input size {size} data {{ {data} }} }}");
    match StreamSpec::parse(&text) {
        Ok(s) => s,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn err(text: &str) -> String {
    match StreamSpec::parse(text) {
        Ok(_) => panic!("parsed: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn seed_stream_parameters() {
    let s = StreamSpec::parse(SEED).unwrap();
    assert_eq!(s.name, "s0");
    assert_eq!(s.limit, Some(10));
    assert_eq!((s.min_size, s.max_size), (64, 64));
    assert_eq!(s.rate_pps, Some(1e6));
    assert_eq!(s.node, "ethernet-input");
    assert_eq!(s.interface.as_deref(), Some("pg0"));
    assert_eq!(s.tx_interface, None);
    assert_eq!(s.worker, None);
    assert_eq!(s.maxframe, None);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.header_len(), 42);
    assert!(!s.varies());
}

#[test]
fn seed_stream_exact_bytes() {
    let s = StreamSpec::parse(SEED).unwrap();
    let p = pkt(&s, 0);
    let mut want: Vec<u8> = vec![
        0x00, 0x02, 0x03, 0x04, 0x05, 0x06, // dst MAC (after the arrow)
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, // src MAC
        0x08, 0x00, // IP4
        0x45, 0x00, 0x00, 50, // version/ihl, tos, total length 64 - 14
        0x00, 0x00, 0x00, 0x00, // id, flags/fragment
        64, 17, 0x00, 0x00, // ttl, UDP, header checksum (below)
        192, 168, 1, 10, 192, 168, 1, 11, // src, dst
        0x04, 0xd2, 0x16, 0x2e, // 1234 -> 5678
        0x00, 30, 0x00, 0x00, // UDP length 64 - 34, checksum (below)
    ];
    want.extend(0u8..22);
    let ip_csum = csum(&want[14..34]);
    want[24..26].copy_from_slice(&ip_csum.to_be_bytes());
    let mut pseudo = want[26..34].to_vec();
    pseudo.extend_from_slice(&[0, 17, 0, 30]);
    pseudo.extend_from_slice(&want[34..]);
    let udp_csum = csum(&pseudo);
    want[40..42].copy_from_slice(&udp_csum.to_be_bytes());
    assert_eq!(p, want);
    assert_eq!(csum(&p[14..34]), 0);
    assert!(l4_ok_v4(&p, 14, 34, 17));
    // Nothing varies: every packet is the same.
    assert_eq!(pkt(&s, 7), p);
    assert_eq!(pkt(&s, u64::MAX), p);
}

#[test]
fn seed_on_one_line_without_outer_braces() {
    let multi = StreamSpec::parse(SEED).unwrap();
    let one = StreamSpec::parse(
        "name s0 limit 10 size 64-64 rate 1e6 node ethernet-input interface pg0 data { IP4: \
         00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 192.168.1.10 -> 192.168.1.11 UDP: 1234 -> \
         5678 incrementing 22 }",
    )
    .unwrap();
    assert_eq!(pkt(&one, 0), pkt(&multi, 0));
    let squeezed = StreamSpec::parse(
        "{name s0 node ethernet-input data{IP4: 0001.0203.0405->0002.0304.0506 \
         UDP: 192.168.1.10->192.168.1.11 UDP: 1234->5678 incrementing 22}}",
    )
    .unwrap();
    assert_eq!(pkt(&squeezed, 0), pkt(&multi, 0));
}

#[test]
fn describe_names_every_header() {
    let s = StreamSpec::parse(SEED).unwrap();
    assert_eq!(
        s.describe(),
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 192.168.1.10 -> 192.168.1.11 \
         UDP: 1234 -> 5678 incrementing 22"
    );
}

#[test]
fn mac_formats() {
    let s = stream("IP4: 1.2.40 -> 3cfd.fed0.b6c8 UDP: 1.1.1.1 -> 2.2.2.2", "64");
    let p = pkt(&s, 0);
    assert_eq!(p[..6], [0x3c, 0xfd, 0xfe, 0xd0, 0xb6, 0xc8]);
    assert_eq!(p[6..12], [0x00, 0x01, 0x00, 0x02, 0x00, 0x40]);
    assert!(s.describe().starts_with("IP4: 00:01:00:02:00:40 -> 3c:fd:fe:d0:b6:c8"));
}

#[test]
fn ip6_udp() {
    let s = stream(
        "IP6: 00:01:02:03:04:05 -> 00:02:03:04:05:06
         UDP: 2001:db8::1 -> 2001:db8::2 hop-limit 7
         UDP: 1234 -> 5678
         incrementing 10",
        "100",
    );
    let p = pkt(&s, 0);
    assert_eq!(p.len(), 100);
    assert_eq!(be16(&p, 12), 0x86dd);
    assert_eq!(p[14] >> 4, 6);
    assert_eq!(be16(&p, 18), 100 - 14 - 40);
    assert_eq!(p[20], 17);
    assert_eq!(p[21], 7);
    assert_eq!(p[22..38], "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(p[38..54], "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(be16(&p, 54), 1234);
    assert_eq!(be16(&p, 58), 100 - 54);
    assert!(l4_ok_v6(&p, 14, 54, 17));
    // Payload: 0..10 given, then the pattern continued.
    let payload: Vec<u8> = (0u8..(100 - 62) as u8).collect();
    assert_eq!(p[62..], payload[..]);
}

#[test]
fn icmp6_echo_on_ip6_input() {
    let s = StreamSpec::parse(
        "{ name v6 node ip6-input size 80 data { ICMP6: ::1 -> ::2 ICMP echo_request incrementing 30 } }",
    )
    .unwrap();
    let p = pkt(&s, 0);
    assert_eq!(p[0] >> 4, 6);
    assert_eq!(p[6], 58);
    assert_eq!(be16(&p, 4), 40);
    assert_eq!(p[40], 128);
    assert!(l4_ok_v6(&p, 0, 40, 58));
    assert_eq!(s.describe(), "ICMP6: ::1 -> ::2 ICMP echo_request incrementing 30");
}

#[test]
fn icmp4_echo_on_ip4_input() {
    // VPP's arp4 script.
    let s = StreamSpec::parse(
        "{ name x limit 1 node ip4-input size 64-64 no-recycle
           data { ICMP: 1.0.0.2 -> 2.0.0.2
                  ICMP echo_request
                  incrementing 100 } }",
    )
    .unwrap();
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings); // no-recycle, payload cut
    let p = pkt(&s, 0);
    assert_eq!(p[0], 0x45);
    assert_eq!(be16(&p, 2), 64);
    assert_eq!(p[9], 1);
    assert_eq!(csum(&p[..20]), 0);
    assert_eq!((p[20], p[21]), (8, 0));
    assert_eq!(csum(&p[20..]), 0);
    assert_eq!(p[24..], (0u8..40).collect::<Vec<_>>()[..]);
}

#[test]
fn ip4_source_and_port_ranges_increment() {
    let s = stream(
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06
         UDP: 1.0.0.1 - 1.0.0.3 -> 2.0.0.1
         UDP: 1234-1235 -> 5678
         incrementing 22",
        "64",
    );
    assert!(s.varies());
    let srcs: Vec<[u8; 4]> = (0..5).map(|q| pkt(&s, q)[26..30].try_into().unwrap()).collect();
    assert_eq!(srcs, [[1, 0, 0, 1], [1, 0, 0, 2], [1, 0, 0, 3], [1, 0, 0, 1], [1, 0, 0, 2]]);
    let ports: Vec<u16> = (0..5).map(|q| be16(&pkt(&s, q), 34)).collect();
    assert_eq!(ports, [1234, 1235, 1234, 1235, 1234]);
    for q in 0..7 {
        let p = pkt(&s, q);
        assert_eq!(csum(&p[14..34]), 0, "seq {q}");
        assert!(l4_ok_v4(&p, 14, 34, 17), "seq {q}");
        assert_eq!(p[30..34], [2, 0, 0, 1]);
    }
    assert!(s.describe().contains("UDP: 1.0.0.1 - 1.0.0.3 -> 2.0.0.1 UDP: 1234 - 1235 -> 5678"));
}

#[test]
fn ip6_and_mac_ranges_increment() {
    let s = stream(
        "IP6: 00:00:00:00:00:fe - 00:00:00:00:01:01 -> 00:02:03:04:05:06
         TCP: 2001:db8::ffff - 2001:db8::1:1 -> 2001:db8::1
         TCP: 80 -> 1234",
        "74",
    );
    for (q, (mac_lo, v6_lo)) in
        [(0xfe, 0xffff), (0xff, 0x1_0000), (0x100, 0x1_0001), (0x101, 0xffff)].into_iter().enumerate()
    {
        let p = pkt(&s, q as u64);
        assert_eq!(u64::from(be16(&p, 10)), mac_lo);
        let src = u128::from_be_bytes(p[22..38].try_into().unwrap());
        assert_eq!(src & 0xffff_ffff, v6_lo);
        assert!(l4_ok_v6(&p, 14, 54, 6));
    }
}

#[test]
fn random_ranges_stay_in_bounds_and_repeat() {
    let s = stream(
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06
         UDP: 10.0.0.1 + 10.0.0.10 -> 2.0.0.1 ttl 1+3
         UDP: 1000 + 1010 -> 5678",
        "64+128",
    );
    let mut seen = std::collections::HashSet::new();
    for q in 0..500 {
        let p = pkt(&s, q);
        assert!((64..=128).contains(&p.len()));
        assert!((1..=10).contains(&p[29]) && p[26..29] == [10, 0, 0]);
        assert!((1..=3).contains(&p[22]));
        assert!((1000..=1010).contains(&be16(&p, 34)));
        assert_eq!(usize::from(be16(&p, 16)), p.len() - 14);
        assert_eq!(csum(&p[14..34]), 0);
        assert!(l4_ok_v4(&p, 14, 34, 17));
        assert_eq!(p, pkt(&s, q), "deterministic");
        seen.insert(p[29]);
    }
    assert_eq!(seen.len(), 10);
}

#[test]
fn sizes_cycle_with_lengths_and_checksums() {
    let s = stream(
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06
         UDP: 192.168.1.10 -> 192.168.1.11
         UDP: 1234 -> 5678
         incrementing 22",
        "64-66",
    );
    assert_eq!((s.min_size, s.max_size), (64, 66));
    let lens: Vec<usize> = (0..7).map(|q| s.packet_len(q)).collect();
    assert_eq!(lens, [64, 65, 66, 64, 65, 66, 64]);
    for q in 0..6 {
        let p = pkt(&s, q);
        assert_eq!(usize::from(be16(&p, 16)), p.len() - 14);
        assert_eq!(usize::from(be16(&p, 38)), p.len() - 34);
        assert_eq!(csum(&p[14..34]), 0);
        assert!(l4_ok_v4(&p, 14, 34, 17), "seq {q}");
        let payload: Vec<u8> = (0..(p.len() - 42) as u8).collect();
        assert_eq!(p[42..], payload[..]);
    }
}

#[test]
fn vlan_tags() {
    let s = stream(
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 vlan 100 priority 5
         UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 2",
        "64",
    );
    let p = pkt(&s, 0);
    assert_eq!(be16(&p, 12), 0x8100);
    assert_eq!(be16(&p, 14), (5 << 13) | 100);
    assert_eq!(be16(&p, 16), 0x0800);
    assert_eq!(be16(&p, 20), 64 - 18);
    assert_eq!(csum(&p[18..38]), 0);
    assert!(l4_ok_v4(&p, 18, 38, 17));
    assert_eq!(s.header_len(), 46);

    let qinq = stream("IP6: 00:01:02:03:04:05 -> 00:02:03:04:05:06 vlan 1 vlan 2-3 UDP: ::1 -> ::2", "80");
    let p = pkt(&qinq, 1);
    assert_eq!([be16(&p, 12), be16(&p, 14), be16(&p, 16), be16(&p, 18), be16(&p, 20)], [0x8100, 1, 0x8100, 3, 0x86dd]);
    assert!(err("{ name t node n data { IP4: 0:0:0:0:0:0 -> 0:0:0:0:0:0 vlan 1 vlan 2 vlan 3 } }").contains("'vlan'"));
}

#[test]
fn raw_ethertype_and_arp() {
    let s = stream("0x88b5: 00:01:02:03:04:05 -> 00:02:03:04:05:06 hex 0xdeadbeef", "20");
    let p = pkt(&s, 0);
    assert_eq!(be16(&p, 12), 0x88b5);
    assert_eq!(p[14..], [0xde, 0xad, 0xbe, 0xef, 4, 5]);
    assert_eq!(s.describe(), "0x88b5: 00:01:02:03:04:05 -> 00:02:03:04:05:06 hex 0xdeadbeef");

    let arp = stream(
        "ARP: 00:01:02:03:04:05 -> ff:ff:ff:ff:ff:ff
         request: 00:01:02:03:04:05/1.0.0.2 -> 00:00:00:00:00:00/1.0.0.1",
        "60",
    );
    let p = pkt(&arp, 0);
    assert_eq!(be16(&p, 12), 0x0806);
    assert_eq!(p[14..22], [0, 1, 8, 0, 6, 4, 0, 1]);
    assert_eq!(p[22..28], [0, 1, 2, 3, 4, 5]);
    assert_eq!(p[28..32], [1, 0, 0, 2]);
    assert_eq!(p[32..38], [0; 6]);
    assert_eq!(p[38..42], [1, 0, 0, 1]);
}

#[test]
fn ip4_options_and_forced_checksums() {
    let s = stream(
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06
         UDP: 1.1.1.1 -> 2.2.2.2 ttl 10 tos 0x10 df fragment id 7 offset 16 checksum 0x1234
         UDP: 1 -> 2 checksum 0",
        "64",
    );
    let p = pkt(&s, 0);
    assert_eq!(p[15], 0x10);
    assert_eq!(be16(&p, 18), 7);
    assert_eq!(be16(&p, 20), 0x4000 | 2);
    assert_eq!(p[22], 10);
    assert_eq!(be16(&p, 24), 0x1234);
    assert_eq!(be16(&p, 40), 0);
    assert_eq!(be16(&p, 16), 50, "length still computed");

    let s = stream("IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 1.1.1.1 -> 2.2.2.2 length 9", "64");
    let p = pkt(&s, 0);
    assert_eq!(be16(&p, 16), 9);
    assert_eq!(csum(&p[14..34]), 0, "checksum covers the given length");
}

#[test]
fn tcp_flags_and_checksum() {
    let s = stream(
        "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06
         TCP: 10.0.0.1 -> 10.0.0.2
         TCP: 80 -> 1234 SYN ACK window 1000 seqnum 0x01020304
         incrementing 5",
        "64-70",
    );
    for q in 0..7 {
        let p = pkt(&s, q);
        assert_eq!(p[23], 6);
        assert_eq!(be16(&p, 34), 80);
        assert_eq!(p[38..42], [1, 2, 3, 4]);
        assert_eq!(p[46], 0x50);
        assert_eq!(p[47], 0x12);
        assert_eq!(be16(&p, 48), 1000);
        assert!(l4_ok_v4(&p, 14, 34, 6));
    }
}

#[test]
fn payload_kinds() {
    let s = stream("fixed 3 0xaa random 4 hex 0x0102", "16");
    let p = pkt(&s, 0);
    assert_eq!(s.header_len(), 0);
    assert_eq!(p[..3], [0xaa; 3]);
    assert_eq!(p[7..9], [1, 2]);
    assert_eq!(p[9..], [9, 10, 11, 12, 13, 14, 15]);
    let again = stream("fixed 3 0xaa random 4 hex 0x0102", "16");
    assert_eq!(pkt(&again, 0), p, "random payload is deterministic");
}

#[test]
fn truncated_headers_and_short_buffers() {
    let s = stream("IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 2", "20");
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("42-byte header"));
    let p = pkt(&s, 0);
    assert_eq!(p.len(), 20);
    assert_eq!(be16(&p, 12), 0x0800);
    assert_eq!(be16(&p, 16), 6);

    let full = StreamSpec::parse(SEED).unwrap();
    let ranged = stream("IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 1.1.1.1-1.1.1.9 -> 2.2.2.2", "64-80");
    for spec in [&full, &ranged, &s] {
        for n in [0, 1, 13, 30, 41, 42, 63] {
            let mut out = vec![0u8; n];
            let got = spec.packet(3, &mut out);
            assert_eq!(got, n.min(spec.packet_len(3)));
            assert_eq!(out[..got], pkt(spec, 3)[..got]);
        }
    }
}

#[test]
fn describe_round_trips() {
    let cases = [
        (SEED_DATA, "64"),
        ("IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 vlan 7 priority 2 cfi 1 UDP: 1.0.0.1 - 1.0.0.9 -> 2.0.0.1 + 2.0.0.5 ttl 3 tos 4 mf fragment id 9 offset 24 UDP: 1 - 4 -> 2 length 30 incrementing 3", "60-90"),
        ("IP6: 00:01:02:03:04:05 -> 00:02:03:04:05:06 ICMP6: ::1 -> ::2 traffic-class 3 flow-label 0x12345 hop-limit 9 ICMP echo_reply code 1 fixed 2 0x33 random 3", "70-75"),
        ("IP4: 1.2.3 -> 4.5.6 ICMP: 1.1.1.1 -> 2.2.2.2 ICMP 200 code 3 checksum 5 hex 0xabcdef", "50"),
        ("ICMP: 1.1.1.1 -> 2.2.2.2 ICMP port_unreachable incrementing 8", "40"),
        ("TCP: 1.1.1.1 -> 2.2.2.2 TCP: 1 -> 2 FIN PSH urgent 3 acknum 9", "60"),
        ("GRE: 1.1.1.1 -> 2.2.2.2 hex 0x0000", "40"),
        ("IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 IP_IN_IP: 1.1.1.1 -> 2.2.2.2 UDP: 3.3.3.3 -> 4.4.4.4 UDP: 5 -> 6", "80"),
        ("UDP: UDP: 1 -> 2", "40"),
    ];
    for (data, size) in cases {
        let a = stream(data, size);
        let b = stream(&a.describe(), size);
        assert_eq!(a.describe(), b.describe(), "{data}");
        for q in 0..12 {
            assert_eq!(pkt(&a, q), pkt(&b, q), "{data} seq {q}");
        }
    }
}

const SEED_DATA: &str = "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 192.168.1.10 -> \
                         192.168.1.11 UDP: 1234 -> 5678 incrementing 22";

#[test]
fn ignored_keywords_warn() {
    let s = StreamSpec::parse(
        "{ name a node n buffer-flags ip4 l4-cksum-offload worker 2 maxframe 32 tx-interface pg1 \
           limit 0 rate 0 data { incrementing 4 } }",
    )
    .unwrap();
    assert_eq!(s.warnings, ["buffer-flags ip4 l4-cksum-offload ignored (line 1)"]);
    assert_eq!((s.worker, s.maxframe), (Some(2), Some(32)));
    assert_eq!(s.tx_interface.as_deref(), Some("pg1"));
    assert_eq!((s.limit, s.rate_pps), (None, None));
    assert_eq!((s.min_size, s.max_size), (64, 64));
    assert_eq!(StreamSpec::parse("name a node n limit 1e3 data { hex 0x00 }").unwrap().limit, Some(1000));
}

#[test]
fn errors_name_the_token() {
    let e = err("{\n name s0\n lmit 10\n node n data { incrementing 1 } }");
    assert_eq!(
        e,
        "pg: unknown stream keyword 'lmit': expected name, limit, size, rate, node, interface, \
         tx-interface, worker, maxframe, data (line 3)"
    );
    let cases = [
        ("name a node n data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 1.2.3.999 -> 1.1.1.1 }", "'1.2.3.999'"),
        ("name a node n data { IP4: 00:01:02:03:04 -> 00:02:03:04:05:06 }", "'00:01:02:03:04'"),
        ("name a node n data { IP4: 00:01:02:03:04:05 00:02:03:04:05:06 }", "'00:02:03:04:05:06'"),
        (
            "name a node n data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 1.1.1.1 -> 1.1.1.2 TCP: 1 -> 2 }",
            "'TCP:'",
        ),
        ("name a node n data { FOO: 1 -> 2 }", "'FOO:'"),
        ("name a node n data { IP4: 0:0:0:0:0:0 -> 0:0:0:0:0:0 UPD: 1.1.1.1 -> 2.2.2.2 }", "'UPD:'"),
        ("name a node n data { IP6: 0:0:0:0:0:0 -> 0:0:0:0:0:0 UDP: 1.1.1.1 -> ::2 }", "'1.1.1.1'"),
        ("name a node n data { incrementing 4 UDP: 1 -> 2 }", "'UDP:'"),
        ("name a node n data { incrementing 70000 }", "'70000'"),
        ("name a node n data { hex 0xabc }", "'0xabc'"),
        ("name a node n data { UDP: 1.1.1.1 - 1.1.1.0 -> 2.2.2.2 }", "'1.1.1.1-1.1.1.0'"),
        ("name a node n data { UDP: 1.1.1.1 -> 2.2.2.2 ttl 256 }", "'256'"),
        ("name a node n data { UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 65536 }", "'65536'"),
        ("name a node n data { ICMP: 1.1.1.1 -> 2.2.2.2 ICMP echo_sideways }", "'echo_sideways'"),
        ("name a node n size 64-32 data { hex 0x00 }", "'64-32'"),
        ("name a node n size 0 data { hex 0x00 }", "'0'"),
        ("name a node n size 70000 data { hex 0x00 }", "'70000'"),
        ("name a node n rate fast data { hex 0x00 }", "'fast'"),
        ("name a node n limit -1 data { hex 0x00 }", "'-1'"),
        ("name a node n maxframe 0 data { hex 0x00 }", "'0'"),
        ("name a node n data { }", "'}'"),
        ("name a node n data { hex 0x00 } data { hex 0x00 }", "'data' given twice"),
        ("name a node n pcap /tmp/x.pcap", "'pcap'"),
        ("name a node n data { { hex 0x00 } }", "'{'"),
    ];
    for (text, token) in cases {
        let e = err(text);
        assert!(e.contains(token), "{text}: {e}");
        assert!(e.starts_with("pg: "), "{e}");
    }
}

#[test]
fn errors_for_structure() {
    assert!(err("{ name a node n data { hex 0x00 }").contains("'{' is never closed"));
    assert!(err("name a node n data { hex 0x00 } }").contains("without a matching"));
    assert!(err("{ name a node n data { hex 0x00 } } extra").contains("'extra'"));
    assert!(err("{ node n data { hex 0x00 } }").contains("no 'name'"));
    assert!(err("{ name a data { hex 0x00 } }").contains("no 'node'"));
    assert!(err("{ name a node n }").contains("no 'data'"));
    assert!(err("{ name a node n data hex }").contains("'data' needs a value"));
    assert!(err("{ name }").contains("'name' needs a value"));
    assert!(err("").contains("no 'name'"));
    let e = StreamSpec::parse(
        "{\n name a\n node n\n data {\n  IP4: 0:0:0:0:0:0 -> 0:0:0:0:0:0\n  UDP: 1.1.1 -> 2.2.2.2\n }\n}",
    )
    .unwrap_err();
    assert!(matches!(e, PgSpecError::BadValue { line: 6, .. }), "{e:?}");
}

#[test]
fn header_stack_is_bounded() {
    let mut data = String::from("IP4: 0:0:0:0:0:0 -> 0:0:0:0:0:0");
    for _ in 0..20 {
        data.push_str(" IP_IN_IP: 1.1.1.1 -> 2.2.2.2");
    }
    let e = err(&format!("name a node n data {{ {data} }}"));
    assert!(e.contains("header stack"), "{e}");
}

/// Deterministic xorshift64.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ALPHABET: &[&str] = &[
    "{",
    "}",
    "{",
    "}",
    "name",
    "s0",
    "limit",
    "10",
    "size",
    "64-64",
    "64",
    "1",
    "-",
    "+",
    "rate",
    "1e6",
    "node",
    "ethernet-input",
    "ip6-input",
    "interface",
    "pg0",
    "tx-interface",
    "worker",
    "maxframe",
    "data",
    "buffer-flags",
    "IP4:",
    "IP6:",
    "ARP:",
    "VLAN:",
    "0x8100:",
    "UDP:",
    "TCP:",
    "ICMP:",
    "ICMP6:",
    "IP_IN_IP:",
    "IPV6:",
    "GRE:",
    "ICMP",
    "echo_request",
    "->",
    "->",
    "->",
    "00:01:02:03:04:05",
    "0001.0203.0405",
    "1.2.40",
    "1.2.3.4",
    "1.2.3.4-1.2.3.9",
    "9.9.9.9",
    "::1",
    "2001:db8::1",
    "::",
    "1234",
    "1234-1240",
    "65535",
    "99999999999999999999999",
    "0",
    "0x10",
    "incrementing",
    "22",
    "hex",
    "0xdeadbeef",
    "0x",
    "fixed",
    "random",
    "vlan",
    "priority",
    "cfi",
    "ttl",
    "tos",
    "checksum",
    "length",
    "hop-limit",
    "traffic-class",
    "flow-label",
    "fragment",
    "id",
    "offset",
    "df",
    "SYN",
    "window",
    "code",
    "request:",
    "00:01:02:03:04:05/1.0.0.1",
    ":",
    "\n",
    "é",
    "-5",
    "+7",
    "1.0.0.1 - 1.0.0.3",
    "1+",
];

fn exercise(spec: &StreamSpec) {
    let _ = spec.describe();
    for seq in [0, 1, 2, 77, u64::MAX] {
        let len = spec.packet_len(seq);
        assert!(len >= usize::from(spec.min_size) && len <= usize::from(spec.max_size));
        for n in [0, 1, 13, 60, len, len + 9] {
            let mut out = vec![0u8; n];
            assert_eq!(spec.packet(seq, &mut out), n.min(len));
        }
    }
}

/// Data that is mostly well formed: a random header stack with random
/// options, then a few random edits from the alphabet.
fn random_data(rng: &mut XorShift) -> String {
    fn pick<'a>(rng: &mut XorShift, from: &[&'a str]) -> &'a str {
        from[rng.below(from.len())]
    }
    let macs = ["00:01:02:03:04:05", "0001.0203.0405", "1.2.40", "0:0:0:0:0:fe-0:0:0:0:1:1"];
    let v4 = ["1.2.3.4", "1.0.0.1 - 1.0.0.3", "10.0.0.1+10.0.0.9", "0.0.0.0"];
    let v6 = ["::1", "2001:db8::1-2001:db8::3", "::", "::1 + ::9"];
    let ports = ["1234", "1-3", "5+9", "0", "65535"];
    let six = rng.below(2) == 0;
    let mut w: Vec<String> = Vec::new();
    if rng.below(3) != 0 {
        let ty = if six { "IP6:" } else { pick(rng, &["IP4:", "IP4:", "ARP:", "0x88b5:"]) };
        w.push(format!("{ty} {} -> {}", pick(rng, &macs), pick(rng, &macs)));
        if rng.below(4) == 0 {
            w.push(pick(rng, &["vlan 5", "vlan 1-3 priority 2", "vlan 4 vlan 6 cfi 1"]).into());
        }
        if ty == "ARP:" {
            w.push("reply: 00:01:02:03:04:05/1.0.0.2 -> 0:0:0:0:0:0/1.0.0.1".into());
        }
    }
    let icmp = if six { "ICMP6" } else { "ICMP" };
    let proto = pick(rng, &["UDP", "TCP", icmp, "GRE", "IP_IN_IP", "IPV6", "99"]);
    let addrs = if six { &v6 } else { &v4 };
    w.push(format!("{proto}: {} -> {}", pick(rng, addrs), pick(rng, addrs)));
    let opts: &[&str] = if six {
        &["hop-limit 3", "traffic-class 2", "flow-label 0x10", "length 9", "version 4"]
    } else {
        &["ttl 3", "tos 1-4", "df", "MF", "length 30", "checksum 7", "fragment id 1 offset 8"]
    };
    for _ in 0..rng.below(3) {
        w.push(pick(rng, opts).into());
    }
    match proto {
        "UDP" => {
            w.push(format!("UDP: {} -> {}", pick(rng, &ports), pick(rng, &ports)));
            w.push(pick(rng, &["", "checksum 0", "length 5"]).into());
        }
        "TCP" => {
            w.push(format!("TCP: {} -> {}", pick(rng, &ports), pick(rng, &ports)));
            w.push(pick(rng, &["", "checksum 0", "SYN window 9", "seqnum 1-5"]).into());
        }
        "ICMP" | "ICMP6" => {
            w.push(pick(rng, &["ICMP echo_request", "ICMP 3 code 1-2", "ICMP: echo_reply checksum 1"]).into())
        }
        _ => {}
    }
    w.push(pick(rng, &["incrementing 22", "hex 0xdeadbeef", "fixed 3 7", "random 5", "", "incrementing 2000"]).into());
    let mut toks: Vec<String> = w.join(" ").split_whitespace().map(String::from).collect();
    let edits = if rng.below(4) == 0 { 1 + rng.below(2) } else { 0 };
    for _ in 0..edits {
        let at = rng.below(toks.len() + 1);
        match rng.below(3) {
            0 if at < toks.len() => {
                toks.remove(at);
            }
            1 if at < toks.len() => toks[at] = pick(rng, ALPHABET).into(),
            _ => toks.insert(at, pick(rng, ALPHABET).into()),
        }
    }
    toks.join(" ")
}

#[test]
fn never_panics_on_random_token_soup() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for i in 0..6000 {
        let text = match i % 3 {
            // Streams around mostly well-formed data reach the header
            // parsers and the packet builder.
            0 => format!(
                "{{ name f node {} size {} data {{ {} }} }}",
                ["ethernet-input", "ip6-input"][rng.below(2)],
                ["64", "20-90", "1", "60+70", "1500"][rng.below(5)],
                random_data(&mut rng)
            ),
            1 => {
                let n = rng.below(40);
                let words: Vec<&str> = (0..n).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
                format!("{{ name f node ethernet-input data {{ {} }} }}", words.join(" "))
            }
            _ => {
                let n = rng.below(40);
                let mut words: Vec<&str> = (0..n).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
                if rng.below(4) == 0 {
                    words.insert(0, "{");
                }
                words.join(if rng.below(2) == 0 { " " } else { "" })
            }
        };
        if let Ok(spec) = StreamSpec::parse(&text) {
            parsed += 1;
            exercise(&spec);
            // What describe() prints parses back to the same packets.
            let again = format!(
                "{{ name f node {} size {}{}{} data {{ {} }} }}",
                spec.node,
                spec.min_size,
                if spec.size_random { "+" } else { "-" },
                spec.max_size,
                spec.describe()
            );
            let b = StreamSpec::parse(&again).unwrap_or_else(|e| panic!("{text} -> {again}: {e}"));
            for q in 0..4 {
                assert_eq!(pkt(&spec, q), pkt(&b, q), "{text} -> {again}");
            }
        }
    }
    assert!(parsed > 1000, "only {parsed} parsed");
}

#[test]
fn never_panics_on_random_characters() {
    let chars: Vec<char> = "{}-+>:./0123456789abcdefxIPUDTCM \n\té€".chars().collect();
    let mut rng = XorShift(42);
    for _ in 0..4000 {
        let n = rng.below(60);
        let s: String = (0..n).map(|_| chars[rng.below(chars.len())]).collect();
        let _ = StreamSpec::parse(&s);
        let wrapped = format!("name a node n data {{ {s} }}");
        if let Ok(spec) = StreamSpec::parse(&wrapped) {
            exercise(&spec);
        }
    }
}

#[test]
fn fast_remainder_matches_division() {
    let mut rng = XorShift(7);
    let ds = [2, 3, 7, 10, 200, 65_536, 1 << 32, (1 << 32) + 1, u64::MAX - 1, u64::MAX];
    let ns = [0, 1, 2, 9, u64::from(u32::MAX), 1 << 63, u64::MAX - 1, u64::MAX];
    for &d in &ds {
        let m = FastMod::new(d);
        for &n in &ns {
            assert_eq!(m.rem(n), n % d, "{n} % {d}");
        }
        for _ in 0..2000 {
            let n = rng.next();
            assert_eq!(m.rem(n), n % d, "{n} % {d}");
        }
    }
    for _ in 0..20_000 {
        let (n, d) = (rng.next(), rng.next() >> rng.below(64));
        if d > 0 {
            assert_eq!(FastMod::new(d).rem(n), n % d, "{n} % {d}");
        }
    }
    assert_eq!(FastMod::new(1).rem(12345), 0);
    assert_eq!(FastMod::new(0).rem(12345), 12345);
}
