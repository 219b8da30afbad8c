//! rvpp's IP over a tap interface: `create tap ... host-ns` puts the host
//! side in a namespace with its addresses; the kernel there pings rvpp's
//! IPv4 and IPv6 addresses on the tap, and rvpp's own `ping` reaches the
//! host side back.
//!
//! Subnets: 10.216.1.0/24 and fd00:216:1::/64.

use std::time::Duration;

use rvpp_tests::netns::Lab;
use rvpp_tests::{require_host, wait_until, Daemon};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn host_namespace_reaches_rvpp_over_tap() {
    require_host!("host_namespace_reaches_rvpp_over_tap", &["ping"]);
    if !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("SKIPPED host_namespace_reaches_rvpp_over_tap: /dev/net/tun is missing");
        return;
    }
    let mut lab = Lab::new("itp");
    let ns = lab.bare_ns('h');
    let host_if = format!("itp{}", std::process::id());
    let startup = format!(
        "create tap id 3 host-ns {} host-ip4-addr 10.216.1.2/24 host-ip6-addr fd00:216:1::2/64 host-if-name {host_if}\n\
         set interface state tap3 up\n\
         set interface ip address tap3 10.216.1.1/24\n\
         set interface ip address tap3 fd00:216:1::1/64\n",
        ns.name
    );
    let d = Daemon::builder("ip-tap").startup_config(&startup).start();
    let link = ns.ip(&["addr", "show", "dev", &host_if]);
    assert!(link.contains("10.216.1.2/24") && link.contains("fd00:216:1::2/64"), "{link}");

    // The host side's IPv6 address is usable once its DAD is done.
    let dad_done = wait_until(WAIT, || !ns.ip(&["-6", "addr", "show", "dev", &host_if, "tentative"]).contains("inet6"));
    assert!(dad_done, "{}", ns.ip(&["addr", "show", "dev", &host_if]));

    let mut figures = Vec::new();
    for (fam, to) in [("-4", "10.216.1.1"), ("-6", "fd00:216:1::1")] {
        ns.wait_ping(&[fam], to, WAIT);
        let r = ns.ping(&[fam, "-i", "0.05", "-W", "2"], to, 20);
        assert_eq!((r.transmitted, r.received), (20, 20), "ping {to} over the tap lost packets:\n{}", r.text);
        figures.push(format!("{to}: {}", r.rtt_line()));
    }
    for to in ["10.216.1.2", "fd00:216:1::2"] {
        let out = d.ctl_ok(&format!("ping {to} repeat 5 interval 0.05"));
        assert!(out.contains("5 sent, 5 received, 0% packet loss"), "rvpp's ping {to}:\n{out}");
    }
    let counters = d.interface_counters();
    let rx = counters.get(&("tap3".to_string(), "rx packets".to_string())).copied().unwrap_or(0);
    let tx = counters.get(&("tap3".to_string(), "tx packets".to_string())).copied().unwrap_or(0);
    assert!(rx >= 40 && tx >= 40, "tap3 counters rx {rx} tx {tx}:\n{}", d.ctl_ok("show interface"));
    eprintln!("ip_tap: host namespace -> rvpp over tap: {}", figures.join("; "));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
