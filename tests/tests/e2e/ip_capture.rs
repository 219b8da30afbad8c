//! What rvpp puts on the wire when it forwards, read by tshark on the far
//! side: every frame rvpp forwarded has a good IPv4 header checksum and
//! good TCP / UDP / ICMP checksums (tshark's own verification), and TTL /
//! hop limit one less than the sender's (64 -> 63).
//!
//! The sending namespace keeps its veth offloads on, so the kernel hands
//! its TCP and UDP packets to rvpp's af_packet socket with the checksum
//! left to "offload" (CHECKSUM_PARTIAL, often as 64 KiB GSO packets); rvpp
//! must complete (and segment) them before they leave. That is what this
//! test proves. On the capturing side nothing is changed either: frames
//! that arrive on a veth are captured as they were sent, so tshark verifies
//! exactly the bytes rvpp wrote.
//!
//! Subnets: 10.217.{1,2}.0/24 and fd00:217:{1,2}::/64.

use std::collections::BTreeMap;
use std::time::Duration;

use rvpp_tests::netns::{text, Ns, TwoSubnets};
use rvpp_tests::{require_host, run_with_timeout, wait_until, Daemon};

const WAIT: Duration = Duration::from_secs(30);

/// tshark's checksum status values (`proto_checksum_enum_e`).
const BAD: &str = "0";
const GOOD: &str = "1";

/// Starts iperf3 in `server` for one test and runs the client in `client`.
fn iperf3(d: &Daemon, client: &Ns, server: &Ns, to: &str, port: u16, args: &[&str]) {
    let p = port.to_string();
    let _srv = server.spawn(&["iperf3", "-s", "-1", "-p", &p], d.dir(), &format!("iperf3-{port}"));
    let listening = wait_until(WAIT, || {
        let out = server.exec(&["ss", "-Hltn", &format!("sport = :{port}")]);
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    });
    assert!(listening, "iperf3 did not listen on {port}");
    let mut v = vec!["iperf3", "-c", to, "-p", &p, "--connect-timeout", "5000"];
    v.extend_from_slice(args);
    let out = run_with_timeout(client.cmd(&v), None, Duration::from_secs(60));
    assert!(out.status.success(), "iperf3 {args:?} to {to}:\n{}", text(&out));
}

/// One captured frame's fields; `proto` is `tcp4`, `udp6`, `icmp4`...
#[derive(Debug)]
struct Frame {
    proto: String,
    ttl: String,
    ip_ck: String,
    udp_ck: String,
    tcp_ck: String,
    icmp_ck: String,
    hlim: String,
}

#[test]
fn forwarded_frames_have_good_checksums_and_ttl_minus_one() {
    require_host!(
        "forwarded_frames_have_good_checksums_and_ttl_minus_one",
        &["ping", "iperf3", "ss", "tshark", "ethtool"]
    );
    let t = TwoSubnets::new("icp", 217);
    let d = Daemon::builder("ip-capture").buffers(16384).startup_config(&t.startup_config()).start();
    t.wait_paths(WAIT);

    // Capture, in b, only what rvpp forwarded from a: rvpp's MAC and a's
    // addresses as the source.
    let pcap = d.dir().join("b.pcap");
    let filter = format!("ether src {} and (src host {} or src host {})", t.rvpp_mac(2), t.host4(1), t.host6(1));
    let pcap_s = pcap.to_string_lossy().into_owned();
    let mut cap = t.b.spawn(&["tshark", "-n", "-i", "eth0", "-f", &filter, "-w", &pcap_s], d.dir(), "tshark");
    let started = wait_until(WAIT, || cap.stderr().contains("Capturing on"));
    assert!(started, "tshark did not start capturing:\n{}", cap.stderr());

    // The sender leaves checksums to offload (the point of the test).
    let features = t.a.ok(&["ethtool", "-k", "eth0"]);
    assert!(features.contains("tx-checksumming: on"), "the sending veth has no checksum offload:\n{features}");

    // The sender's TTL and hop limit are 64, said explicitly for ping and
    // the kernel's default (64 in a new namespace) for TCP/UDP.
    for (ns, key) in [(&t.a, "net.ipv4.ip_default_ttl"), (&t.a, "net.ipv6.conf.eth0.hop_limit")] {
        assert_eq!(ns.ok(&["sysctl", "-n", key]).trim(), "64", "{key}");
    }
    for (fam, to) in [("-4", t.host4(2)), ("-6", t.host6(2))] {
        // Ten, so a frame tshark misses while its capture settles still
        // leaves the five checked below.
        let r = t.a.ping(&[fam, "-t", "64", "-i", "0.05", "-W", "2"], &to, 10);
        assert_eq!(r.received, 10, "{}", r.text);
    }
    iperf3(&d, &t.a, &t.b, &t.host4(2), 5317, &["-t", "1", "-b", "50M"]);
    iperf3(&d, &t.a, &t.b, &t.host6(2), 5318, &["-t", "1", "-b", "50M"]);
    iperf3(&d, &t.a, &t.b, &t.host4(2), 5319, &["-t", "1", "-u", "-b", "20M"]);
    iperf3(&d, &t.a, &t.b, &t.host6(2), 5320, &["-t", "1", "-u", "-b", "20M", "-l", "1200"]);
    assert!(cap.stop("INT", Duration::from_secs(20)), "tshark did not stop on SIGINT");

    let out = run_with_timeout(
        {
            let mut c = std::process::Command::new("tshark");
            c.args(["-n", "-r", &pcap_s])
                .args([
                    "-o",
                    "ip.check_checksum:TRUE",
                    "-o",
                    "udp.check_checksum:TRUE",
                    "-o",
                    "tcp.check_checksum:TRUE",
                ])
                .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"])
                .args(["-e", "frame.protocols", "-e", "ip.ttl", "-e", "ip.checksum.status"])
                .args(["-e", "udp.checksum.status", "-e", "tcp.checksum.status", "-e", "icmp.checksum.status"])
                .args(["-e", "icmpv6.checksum.status", "-e", "ipv6.hlim"]);
            c
        },
        None,
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "tshark -r failed:\n{}", text(&out));
    let frames: Vec<Frame> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let g = |k: usize| f.get(k).copied().unwrap_or("").to_string();
            let icmp = if g(5).is_empty() { g(6) } else { g(5) };
            let stack = g(0);
            let proto = ["tcp", "udp", "icmpv6", "icmp"]
                .into_iter()
                .find(|p| stack.split(':').any(|x| x == *p))
                .map_or("other", |p| p.trim_end_matches("v6"));
            let fam = if stack.split(':').any(|x| x == "ipv6") { "6" } else { "4" };
            Frame {
                proto: format!("{proto}{fam}"),
                ttl: g(1),
                ip_ck: g(2),
                udp_ck: g(3),
                tcp_ck: g(4),
                icmp_ck: icmp,
                hlim: g(7),
            }
        })
        .collect();

    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for f in &frames {
        *per.entry(f.proto.clone()).or_default() += 1;
        let v4 = f.proto.ends_with('4');
        if v4 {
            assert_eq!(f.ttl, "63", "forwarded IPv4 frame's TTL: {f:?}");
            assert_eq!(f.ip_ck, GOOD, "IPv4 header checksum: {f:?}");
        } else {
            assert_eq!(f.hlim, "63", "forwarded IPv6 frame's hop limit: {f:?}");
        }
        let (what, status) = match f.proto.trim_end_matches(['4', '6']) {
            "tcp" => ("TCP", &f.tcp_ck),
            "udp" => ("UDP", &f.udp_ck),
            "icmp" => ("ICMP", &f.icmp_ck),
            _ => panic!("a frame rvpp forwarded that is not TCP, UDP or ICMP: {f:?}"),
        };
        assert_ne!(status, BAD, "{what} checksum Bad: {f:?}");
        assert_eq!(status, GOOD, "{what} checksum not verified Good: {f:?}");
    }
    for p in ["tcp4", "tcp6", "udp4", "udp6", "icmp4", "icmp6"] {
        assert!(per.get(p).copied().unwrap_or(0) >= 5, "too few {p} frames captured: {per:?}");
    }
    // The driver's own account of what it completed, when it gives one.
    let hw = d.ctl_ok("show hardware-interfaces");
    let driver: Vec<String> = hw
        .split(',')
        .map(str::trim)
        .filter(|f| f.starts_with("gso packets") || f.starts_with("checksums computed"))
        .map(str::to_string)
        .collect();
    eprintln!(
        "ip_capture: {} forwarded frames, all checksums Good, TTL/hlim 63: {per:?}; af_packet rx: {}",
        frames.len(),
        driver.join(", ")
    );
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
