//! rvpp's TCP under loss, against the Linux kernel: 2 % of the packets are
//! dropped at random in both directions by nftables (`numgen random mod 100
//! < 2 drop`), and 50 MB sent by a kernel client to rvpp's `test echo
//! server` still come back byte-identical (sha256), over IPv4 and over IPv6.
//! tshark records the connection (headers only) and shows what was
//! negotiated and used: window scale, timestamps and SACK-permitted in both
//! the SYN and the SYN-ACK, SACK blocks sent by both ends, and rvpp
//! retransmitting what the loss took. Without loss, 100 MB go out and back
//! intact; the time it took is printed (a figure, not an assertion).
//!
//! The loss sits on a router namespace between rvpp and the client's
//! namespace, in the `forward` hook. Rules on the client's own `input` and
//! `output` hooks would not do for the client's sending direction: a
//! packet nftables drops in `output` is a failed local send, which the
//! kernel's TCP never counts as sent and simply sends again, so rvpp would
//! never see a hole in the kernel's data (nor have anything to SACK).
//! Forwarded packets are truly lost both ways. The client sends without
//! TSO/GSO so a drop takes one segment, not a 64 KiB burst.
//!
//! ```text
//! rvpp 10.235.1.1 ── eth0 [router, nft forward] r0 ── c0 [client 10.235.2.2]
//! ```
//!
//! Subnets: 10.235.1.0/24 + fd00:235:1::/64 (rvpp–router), 10.235.2.0/24 +
//! fd00:235:2::/64 (router–client), 10.236.1.0/24 (the clean 100 MB).

use std::time::{Duration, Instant};

use rvpp_tests::netns::{error_count, Lab, Ns, PYTHON};
use rvpp_tests::{require_host, run_with_timeout, wait_until, Daemon, TempDir};

const PORT: u16 = 7778;
const WAIT: Duration = Duration::from_secs(30);

/// The kernel side: tcp_echo's client in its `echo` mode.
use super::tcp_echo::CLIENT;

/// Runs the client against `to`; asserts every byte came back as sent and
/// returns the seconds it took.
fn echo(d: &Daemon, ns: &Ns, script: &str, to: &str, bytes: usize) -> f64 {
    let t0 = Instant::now();
    let out = ns.exec(&["timeout", "300", PYTHON, script, "echo", to, &PORT.to_string(), &bytes.to_string()]);
    let secs = t0.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let diag = || {
        format!(
            "{}\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.ctl_ok("show session verbose"),
            d.ctl_ok("show tcp stats"),
            d.ctl_ok("show errors")
        )
    };
    assert!(out.status.success(), "echo client to {to} failed ({}):\n{text}\n{}", out.status, diag());
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f.len(), 4, "client output: {text}");
    assert_eq!(f[0], bytes.to_string());
    assert_eq!(f[2], f[0], "bytes echoed back from {to}\n{}", diag());
    assert_eq!(f[3], f[1], "the echo from {to} differs from what was sent");
    secs
}

/// rvpp with the echo server on `rvpp4` (and on `rvpp6` too when
/// given), and the namespace on its veth at `host4` / `host6`.
fn setup(lab: &mut Lab, tag: &str, rvpp4: &str, host4: &str, six: Option<(&str, &str)>, routes: &str) -> (Ns, Daemon) {
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{host4}/24"), None);
    let hif = ns.host_if();
    let mut startup = format!(
        "create host-interface name {} hw-addr 02:fe:eb:01:01:01\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {rvpp4}/24\n\
         test echo server uri tcp://0.0.0.0/{PORT}\n",
        ns.veth
    );
    if let Some((rvpp6, host6)) = six {
        lab.address(&ns, &format!("{host6}/64"), None);
        startup.push_str(&format!(
            "set interface ip address {hif} {rvpp6}/64\n\
             test echo server uri tcp://::/{PORT}\n"
        ));
    }
    startup.push_str(&routes.replace("{hif}", &hif));
    let d = Daemon::builder(tag).buffers(32768).startup_config(&startup).start();
    ns.wait_ping(&[], rvpp4, WAIT);
    if let Some((rvpp6, _)) = six {
        ns.wait_ping(&["-6"], rvpp6, WAIT);
    }
    (ns, d)
}

/// One captured TCP segment, as tshark decodes it.
#[derive(Debug)]
struct Segment {
    src: String,
    syn: bool,
    ack: bool,
    wscale: bool,
    timestamps: bool,
    sack_permitted: bool,
    sack_blocks: bool,
    retransmission: bool,
}

/// The TCP segments of a capture.
fn segments(pcap: &str) -> Vec<Segment> {
    let mut c = std::process::Command::new("tshark");
    c.args(["-n", "-r", pcap, "-Y", "tcp"])
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"])
        .args(["-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack"])
        .args(["-e", "tcp.options.wscale.shift", "-e", "tcp.options.timestamp.tsval", "-e", "tcp.options.sack_perm"])
        .args(["-e", "tcp.options.sack_le", "-e", "tcp.analysis.retransmission"])
        .args(["-e", "tcp.analysis.fast_retransmission"]);
    let out = run_with_timeout(c, None, Duration::from_secs(120));
    assert!(out.status.success(), "tshark -r failed:\n{}", rvpp_tests::netns::text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let g = |k: usize| f.get(k).copied().unwrap_or("");
            let flag = |k: usize| matches!(g(k), "1" | "True");
            Segment {
                src: if g(0).is_empty() { g(1) } else { g(0) }.to_string(),
                syn: flag(2),
                ack: flag(3),
                wscale: !g(4).is_empty(),
                timestamps: !g(5).is_empty(),
                sack_permitted: !g(6).is_empty(),
                sack_blocks: !g(7).is_empty(),
                retransmission: !g(8).is_empty() || !g(9).is_empty(),
            }
        })
        .collect()
}

/// Drops 2 % of the packets `ns` forwards, at random.
fn add_loss(ns: &Ns) {
    ns.ok(&["nft", "add", "table", "inet", "loss"]);
    ns.ok(&["nft", "add", "chain", "inet", "loss", "through", "{ type filter hook forward priority 0; }"]);
    ns.ok(&[
        "nft", "add", "rule", "inet", "loss", "through", "numgen", "random", "mod", "100", "<", "2", "counter", "drop",
    ]);
}

/// Packets nftables dropped.
fn dropped(ns: &Ns) -> u64 {
    let rules = ns.ok(&["nft", "list", "table", "inet", "loss"]);
    rules
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = w.iter().position(|x| *x == "packets")?;
            w.get(at + 1)?.parse::<u64>().ok()
        })
        .sum()
}

#[test]
fn fifty_mb_echo_survives_2pct_loss_with_sack_over_ip4_and_ip6() {
    require_host!(
        "fifty_mb_echo_survives_2pct_loss_with_sack_over_ip4_and_ip6",
        &[PYTHON, "timeout", "nft", "tshark", "ethtool"]
    );
    const RVPP4: &str = "10.235.1.1";
    const ROUTER4: &str = "10.235.1.2";
    const CLIENT4: &str = "10.235.2.2";
    const RVPP6: &str = "fd00:235:1::1";
    const ROUTER6: &str = "fd00:235:1::2";
    const CLIENT6: &str = "fd00:235:2::2";
    const BYTES: usize = 50 << 20;
    let mut lab = Lab::new("tcpl");
    let routes = format!(
        "ip route add 10.235.2.0/24 via {ROUTER4} {{hif}}\n\
         ip route add fd00:235:2::/64 via {ROUTER6} {{hif}}\n"
    );
    let (router, d) = setup(&mut lab, "tcp-loss", RVPP4, ROUTER4, Some((RVPP6, ROUTER6)), &routes);
    let client = lab.bare_ns('b');
    router.ip(&["link", "add", "r0", "type", "veth", "peer", "name", "c0", "netns", &client.name]);
    router.ip(&["addr", "add", "10.235.2.1/24", "dev", "r0"]);
    router.ip(&["-6", "addr", "add", "fd00:235:2::1/64", "dev", "r0", "nodad"]);
    router.ip(&["link", "set", "r0", "up"]);
    client.ip(&["addr", "add", &format!("{CLIENT4}/24"), "dev", "c0"]);
    client.ip(&["-6", "addr", "add", &format!("{CLIENT6}/64"), "dev", "c0", "nodad"]);
    client.ip(&["link", "set", "c0", "up"]);
    client.ip(&["route", "add", "default", "via", "10.235.2.1"]);
    client.ip(&["-6", "route", "add", "default", "via", "fd00:235:2::1"]);
    for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
        router.ok(&["sysctl", "-qw", key]);
    }
    client.ok(&["ethtool", "-K", "c0", "tso", "off", "gso", "off"]);
    client.wait_ping(&[], RVPP4, WAIT);
    client.wait_ping(&["-6"], RVPP6, WAIT);
    let dir = TempDir::new("tcp-loss");
    let script = dir.write("client.py", CLIENT);
    let script = script.to_str().expect("utf-8 path");
    add_loss(&router);

    let mut figures = Vec::new();
    for (rvpp, host) in [(RVPP4, CLIENT4), (RVPP6, CLIENT6)] {
        let pcap = dir.path().join(format!("loss-{}.pcap", if rvpp.contains(':') { 6 } else { 4 }));
        let pcap = pcap.to_str().expect("utf-8 path").to_string();
        let filter = format!("tcp port {PORT}");
        let mut cap = router.spawn(
            &["tshark", "-n", "-i", "eth0", "-s", "128", "-f", &filter, "-w", &pcap],
            dir.path(),
            "tshark",
        );
        let started = wait_until(WAIT, || cap.stderr().contains("Capturing on"));
        assert!(started, "tshark did not start capturing:\n{}", cap.stderr());
        // dumpcap says "Capturing on" as it opens the interface; on a
        // loaded machine its filter was seen to attach after the client's
        // SYN had gone by (CI, 2026-11-23): give it a moment.
        std::thread::sleep(Duration::from_millis(500));
        let before = dropped(&router);
        let secs = echo(&d, &client, script, rvpp, BYTES);
        let lost = dropped(&router) - before;
        // Let tshark write out what it holds before stopping it.
        std::thread::sleep(Duration::from_millis(500));
        assert!(cap.stop("INT", Duration::from_secs(30)), "tshark did not stop on SIGINT");
        assert!(
            lost > 0,
            "nftables dropped nothing: the test proves nothing\n{}",
            router.ok(&["nft", "list", "ruleset"])
        );

        let segs = segments(&pcap);
        let syn = segs.iter().find(|s| s.syn && !s.ack && s.src == host);
        let syn_ack = segs.iter().find(|s| s.syn && s.ack && s.src == rvpp);
        for (what, s) in [("SYN", syn), ("SYN-ACK", syn_ack)] {
            let s =
                s.unwrap_or_else(|| panic!("no {what} captured from {rvpp}'s connection ({} segments)", segs.len()));
            assert!(s.wscale && s.timestamps && s.sack_permitted, "{what} lacks an option: {s:?}");
        }
        let count = |f: &dyn Fn(&Segment) -> bool| segs.iter().filter(|s| f(s)).count();
        let sacks_from_rvpp = count(&|s| s.src == rvpp && s.sack_blocks);
        let sacks_from_kernel = count(&|s| s.src == host && s.sack_blocks);
        let rvpp_retransmits = count(&|s| s.src == rvpp && s.retransmission);
        assert!(sacks_from_kernel > 0, "the kernel never sent SACK blocks");
        assert!(sacks_from_rvpp > 0, "rvpp never sent SACK blocks");
        assert!(rvpp_retransmits > 0, "no retransmission by rvpp captured");
        figures.push(format!(
            "{rvpp}: {secs:.1} s, {lost} packets dropped, {} segments captured, SACK blocks from rvpp {sacks_from_rvpp} \
             from the kernel {sacks_from_kernel}, rvpp retransmissions {rvpp_retransmits}",
            segs.len()
        ));
    }
    let stats = d.ctl_ok("show tcp stats");
    eprintln!("tcp_loss: 50 MB echoed under 2 % loss each way: {}\n{stats}", figures.join("; "));
    // Segments carrying SACK blocks still fit the MTU (RFC 6691): none was
    // dropped on the way out.
    let errors = d.ctl_ok("show errors");
    for node in ["ip4-rewrite", "ip6-rewrite"] {
        assert_eq!(error_count(&errors, node, "mtu exceeded"), 0, "{errors}");
    }
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn hundred_mb_echo_without_loss() {
    require_host!("hundred_mb_echo_without_loss", &[PYTHON, "timeout"]);
    const RVPP4: &str = "10.236.1.1";
    const HOST4: &str = "10.236.1.2";
    const BYTES: usize = 100 << 20;
    let mut lab = Lab::new("tcpn");
    let (ns, d) = setup(&mut lab, "tcp-100mb", RVPP4, HOST4, None, "");
    let dir = TempDir::new("tcp-100mb");
    let script = dir.write("client.py", CLIENT);
    let secs = echo(&d, &ns, script.to_str().expect("utf-8 path"), RVPP4, BYTES);
    eprintln!(
        "tcp_loss: 100 MB echoed without loss in {secs:.1} s ({:.1} MB/s both directions counted)",
        2.0 * BYTES as f64 / secs / 1e6
    );
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
