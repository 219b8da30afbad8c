//! TCP segmentation offload through af_packet, against the Linux kernel:
//! rvpp's `test echo server` on a host-interface answers a kernel client
//! (Python's socket module in a namespace) sending 20 MB over IPv4 and over
//! IPv6; every byte comes back (sha256). With the interface's default, the
//! echo leaves as super-segments through the driver's virtio-net-header
//! socket: its tx "gso packets" counter (`show hardware-interfaces`) counts
//! them, the average frame it sent is larger than any single segment, and
//! the kernel found no bad TCP checksum (the partial checksums were
//! completed). With `cksum-gso-disable` the counter stays 0, no frame
//! exceeds the MTU, and the transfer works all the same. Prints the rates
//! and counters (figures, not assertions).
//!
//! Subnets: 10.246.1.0/24 + fd00:246:1::/64 (GSO on), 10.247.1.0/24 +
//! fd00:247:1::/64 (off).

use std::time::{Duration, Instant};

use rvpp_tests::netns::{error_count, Lab, Ns, PYTHON};
use rvpp_tests::{require_host, Daemon, TempDir};

use super::tcp_echo::CLIENT;

const PORT: u16 = 7777;
const BYTES: usize = 20 << 20;
const WAIT: Duration = Duration::from_secs(30);
/// The MSS over IPv4 on a 1500-byte MTU: more payload than this in one
/// frame is a super-segment.
const MSS4: u64 = 1460;

/// The af_packet tx counters of `show hardware-interfaces`, summed over
/// threads: (packets, bytes, gso packets).
fn tx_counters(hw: &str) -> (u64, u64, u64) {
    let mut sum = (0, 0, 0);
    for line in hw.lines().map(str::trim).filter(|l| l.starts_with("thread ")) {
        let fields = line.split_once(": ").map_or(line, |x| x.1);
        // "packets N bytes M, in flight ..., gso packets G, ...".
        for f in fields.split(", ") {
            if let Some(g) = f.strip_prefix("gso packets ") {
                sum.2 += g.parse::<u64>().unwrap_or(0);
            } else if let Some((p, b)) = f.strip_prefix("packets ").and_then(|r| r.split_once(" bytes ")) {
                sum.0 += p.parse::<u64>().unwrap_or(0);
                sum.1 += b.parse::<u64>().unwrap_or(0);
            }
        }
    }
    sum
}

/// The kernel's TCP `InCsumErrors` in the namespace (/proc/net/snmp).
fn kernel_tcp_csum_errors(ns: &Ns) -> u64 {
    let snmp = ns.ok(&["cat", "/proc/net/snmp"]);
    let tcp: Vec<Vec<&str>> =
        snmp.lines().filter(|l| l.starts_with("Tcp: ")).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(tcp.len(), 2, "/proc/net/snmp: {snmp}");
    let at = tcp[0].iter().position(|&n| n == "InCsumErrors").expect("InCsumErrors in /proc/net/snmp");
    tcp[1][at].parse().expect("a count")
}

/// A fresh rvpp echoing TCP on a host-interface (created with `options`)
/// to a namespace on subnet `n`; the kernel client sends [`BYTES`] over
/// IPv4 (and IPv6 when `ip6_too`) and checks the echo. Returns the
/// daemon's tx counters and the kernel's new TCP checksum errors.
fn transfer(tag: &str, n: u8, options: &str, ip6_too: bool) -> ((u64, u64, u64), u64) {
    let mut lab = Lab::new(tag);
    let ns = lab.ns('a');
    let (rvpp4, host4) = (format!("10.{n}.1.1"), format!("10.{n}.1.2"));
    let (rvpp6, host6) = (format!("fd00:{n}:1::1"), format!("fd00:{n}:1::2"));
    lab.address(&ns, &format!("{host4}/24"), None);
    lab.address(&ns, &format!("{host6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr 02:fe:{n:02x}:01:01:01 {options}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {rvpp4}/24\n\
         set interface ip address {hif} {rvpp6}/64\n\
         test echo server uri tcp://0.0.0.0/{PORT}\n\
         test echo server uri tcp://::/{PORT}\n",
        ns.veth
    );
    let d = Daemon::builder(tag).startup_config(&startup).start();
    ns.wait_ping(&[], &rvpp4, WAIT);
    ns.wait_ping(&["-6"], &rvpp6, WAIT);
    let dir = TempDir::new(tag);
    let script = dir.write("client.py", CLIENT);
    let script = script.to_str().expect("utf-8 path");
    let csum_before = kernel_tcp_csum_errors(&ns);
    let targets: Vec<&str> = if ip6_too { vec![&rvpp4, &rvpp6] } else { vec![&rvpp4] };
    let mut figures = Vec::new();
    for to in targets {
        let t0 = Instant::now();
        let out = ns.exec(&["timeout", "120", PYTHON, script, "echo", to, &PORT.to_string(), &BYTES.to_string()]);
        let secs = t0.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "echo client to {to} failed ({}):\n{text}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            d.ctl_ok("show errors")
        );
        let f: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(f.len(), 4, "client output: {text}");
        assert_eq!(f[0], BYTES.to_string(), "{text}");
        assert_eq!(f[2], f[0], "every byte echoed back from {to}:\n{text}\n{}", d.ctl_ok("show errors"));
        assert_eq!(f[3], f[1], "the echo from {to} differs from what was sent");
        figures.push(format!("{to}: {:.1} MB/s", 2.0 * BYTES as f64 / secs / 1e6));
    }
    let hw = d.ctl_ok("show hardware-interfaces");
    let tx = tx_counters(&hw);
    let errors = d.ctl_ok("show errors");
    for node in ["tcp4-input", "tcp6-input"] {
        assert_eq!(error_count(&errors, node, "bad tcp checksum"), 0, "{errors}");
    }
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
    let csum = kernel_tcp_csum_errors(&ns) - csum_before;
    eprintln!(
        "tcp_gso {tag} ({}): {}; tx packets {} bytes {} ({} per frame), gso packets {}",
        if options.is_empty() { "default" } else { options },
        figures.join(", "),
        tx.0,
        tx.1,
        tx.1 / tx.0.max(1),
        tx.2
    );
    (tx, csum)
}

#[test]
fn tcp_echo_leaves_as_gso_super_segments_by_default() {
    require_host!("tcp_echo_leaves_as_gso_super_segments_by_default", &[PYTHON, "timeout"]);
    let ((packets, bytes, gso), csum) = transfer("tgso", 246, "", true);
    // 40 MB echoed: even at a handful of segments each, hundreds of
    // super-segments.
    assert!(gso >= 100, "gso packets {gso} (tx packets {packets})");
    assert!(bytes / packets > 14 + 40 + MSS4, "frames bigger than one segment on average: {bytes} / {packets}");
    assert_eq!(csum, 0, "the kernel saw bad TCP checksums");
}

#[test]
fn tcp_echo_with_cksum_gso_disable_sends_single_segments() {
    require_host!("tcp_echo_with_cksum_gso_disable_sends_single_segments", &[PYTHON, "timeout"]);
    let ((packets, bytes, gso), csum) = transfer("tnog", 247, "cksum-gso-disable", false);
    assert_eq!(gso, 0, "no super-segment without GSO");
    // At least one frame per MSS of the 20 MB echoed, none beyond the MTU.
    assert!(packets >= BYTES as u64 / MSS4, "tx packets {packets}");
    assert!(bytes <= packets * 1514, "{bytes} bytes in {packets} frames");
    assert_eq!(csum, 0, "the kernel saw bad TCP checksums");
}
