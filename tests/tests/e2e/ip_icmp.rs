//! ICMP errors rvpp generates, as the Linux kernel's tools see them:
//! `traceroute -n` (UDP and ICMP probes, both families) from one namespace
//! to the other shows rvpp's address as hop 1 (time exceeded at TTL 1) and
//! the destination as hop 2; a destination with no route gets "Destination
//! Net Unreachable" / "Destination unreachable: No route" from rvpp; TCP
//! and UDP to rvpp's own addresses are refused (UDP by ICMP port
//! unreachable, TCP by the hoststack's RST for a port nobody listens on).
//!
//! Subnets: 10.214.{1,2}.0/24 and fd00:214:{1,2}::/64.

use std::time::Duration;

use rvpp_tests::netns::{error_count, text, TwoSubnets, PYTHON};
use rvpp_tests::{require_host, run_with_timeout, Daemon};

const WAIT: Duration = Duration::from_secs(30);

/// The hops of `traceroute -n -q 1`: (ttl, address or "*").
fn hops(out: &str) -> Vec<(u32, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let ttl = f.next()?.parse().ok()?;
            Some((ttl, f.next()?.to_string()))
        })
        .collect()
}

/// Runs traceroute from namespace `a` until every hop answered (a probe
/// may meet an unresolved neighbor once); returns the hops and the output.
fn traceroute(t: &TwoSubnets, args: &[&str]) -> (Vec<(u32, String)>, String) {
    let mut last = (Vec::new(), String::new());
    for _ in 0..5 {
        let mut v = vec!["traceroute", "-n", "-q", "1", "-w", "2", "-m", "4"];
        v.extend_from_slice(args);
        let out = run_with_timeout(t.a.cmd(&v), None, Duration::from_secs(60));
        let s = text(&out);
        let h = hops(&s);
        if out.status.success() && !h.is_empty() && h.iter().all(|(_, a)| a != "*") {
            return (h, s);
        }
        last = (h, s);
    }
    last
}

#[test]
fn traceroute_and_unreachables() {
    require_host!("traceroute_and_unreachables", &["ping", "traceroute", PYTHON]);
    let t = TwoSubnets::new("iic", 214);
    let d = Daemon::builder("ip-icmp").startup_config(&t.startup_config()).start();
    t.wait_paths(WAIT);

    // Time exceeded: rvpp is hop 1, the far namespace hop 2.
    for (args, via, to) in [
        (vec![], t.rvpp4(1), t.host4(2)),
        (vec!["-I"], t.rvpp4(1), t.host4(2)),
        (vec!["-6"], t.rvpp6(1), t.host6(2)),
        (vec!["-6", "-I"], t.rvpp6(1), t.host6(2)),
    ] {
        let mut a = args.clone();
        a.push(&to);
        let (h, out) = traceroute(&t, &a);
        assert_eq!(h, [(1, via.clone()), (2, to.clone())], "traceroute {a:?}:\n{out}\n{}", d.ctl_ok("show errors"));
    }
    let errors = d.ctl_ok("show errors");
    for (node, reason) in [
        ("ip4-rewrite", "ttl / hop limit expired"),
        ("ip6-rewrite", "ttl / hop limit expired"),
        ("ip4-icmp-error", "icmp errors sent"),
        ("ip6-icmp-error", "icmp errors sent"),
    ] {
        assert!(error_count(&errors, node, reason) > 0, "no '{reason}' at {node}:\n{errors}");
    }

    // No route: ICMP destination unreachable from rvpp's near address.
    let r = t.a.ping(&["-W", "2"], "10.214.99.1", 3);
    assert!(
        r.received == 0 && r.text.contains(&format!("From {} icmp_seq=1 Destination Net Unreachable", t.rvpp4(1))),
        "{}",
        r.text
    );
    let r = t.a.ping(&["-6", "-W", "2"], "fd00:214:99::1", 3);
    assert!(
        r.received == 0
            && r.text.contains(&format!("From {} icmp_seq=1 Destination unreachable: No route", t.rvpp6(1))),
        "{}",
        r.text
    );
    let errors = d.ctl_ok("show errors");
    assert!(error_count(&errors, "ip4-lookup", "no route to destination") >= 3, "{errors}");
    assert!(error_count(&errors, "ip6-lookup", "no route to destination") >= 3, "{errors}");

    // A traceroute to rvpp's far address ends at rvpp, hop 1, with a port
    // unreachable (rvpp answers from an address of its own).
    for (args, far) in [(vec![], t.rvpp4(2)), (vec!["-6"], t.rvpp6(2))] {
        let mut a = args.clone();
        a.push(&far);
        let (h, out) = traceroute(&t, &a);
        let ours = [t.rvpp4(1), t.rvpp4(2), t.rvpp6(1), t.rvpp6(2)];
        assert!(h.len() == 1 && ours.contains(&h[0].1), "traceroute {a:?} should end at rvpp, hop 1:\n{out}");
    }

    // TCP and UDP to rvpp's own addresses: refused, both families.
    const PROBE: &str = r#"
import socket, sys
a = sys.argv[1]
f = socket.AF_INET6 if ":" in a else socket.AF_INET
s = socket.socket(f, socket.SOCK_STREAM); s.settimeout(10)
try:
    s.connect((a, 80)); print("tcp connected")
except ConnectionRefusedError:
    print("tcp refused")
except OSError as e:
    print("tcp", e)
u = socket.socket(f, socket.SOCK_DGRAM); u.settimeout(10)
u.connect((a, 9)); u.send(b"rvpp")
try:
    u.recv(16); print("udp answered")
except ConnectionRefusedError:
    print("udp refused")
except OSError as e:
    print("udp", e)
"#;
    for to in [t.rvpp4(1), t.rvpp4(2), t.rvpp6(1), t.rvpp6(2)] {
        let out = t.a.ok(&[PYTHON, "-c", PROBE, &to]);
        assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["tcp", "refused", "udp", "refused"], "{to}: {out}");
    }
    let errors = d.ctl_ok("show errors");
    // UDP is the hoststack's: its input nodes answer closed ports.
    for node in ["udp4-input", "udp6-input"] {
        assert!(error_count(&errors, node, "no session or listener: port unreachable") >= 4, "{errors}");
    }
    for node in ["tcp4-input", "tcp6-input"] {
        assert!(error_count(&errors, node, "resets sent (no session or listener)") >= 2, "{errors}");
    }
    eprintln!("ip_icmp: traceroute UDP/ICMP both families hop 1 = rvpp; unreachables and port unreachables seen");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
