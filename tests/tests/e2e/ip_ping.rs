//! rvpp as an IPv4/IPv6 host on an af_packet interface, against the Linux
//! kernel in a namespace: the kernel pings rvpp's addresses (ARP and ND
//! resolve both ways: `show ip neighbors` lists the namespace's address at
//! its MAC, the kernel's `ip neigh` lists rvpp's), and rvpp's own `ping`
//! reaches the namespace with no loss. Prints the RTTs (figures, not
//! assertions).
//!
//! Subnets: 10.211.1.0/24 and fd00:211:1::/64.

use std::time::Duration;

use rvpp_tests::netns::{Lab, Ns};
use rvpp_tests::{require_host, wait_until, Daemon};

const RVPP4: &str = "10.211.1.1";
const HOST4: &str = "10.211.1.2";
const RVPP6: &str = "fd00:211:1::1";
const HOST6: &str = "fd00:211:1::2";
const RVPP_MAC: &str = "02:fe:d3:01:01:01";
const WAIT: Duration = Duration::from_secs(30);

/// rvpp's `ping` summary: (sent, received) and the per-reply RTTs in ms.
fn rvpp_ping(d: &Daemon, to: &str, count: u32) -> (u32, u32, Vec<f64>, String) {
    let out = d.ctl_ok(&format!("ping {to} repeat {count} interval 0.05"));
    let stats = out.lines().find_map(|l| l.strip_prefix("Statistics: ")).unwrap_or_else(|| panic!("{out}"));
    let f: Vec<&str> = stats.split_whitespace().collect();
    let sent = f.first().and_then(|n| n.parse().ok()).unwrap_or(0);
    let received = f.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    let rtts = out.split_whitespace().filter_map(|w| w.strip_prefix("time=")).filter_map(|t| t.parse().ok()).collect();
    (sent, received, rtts, out)
}

/// Whether `show ip neighbors` lists `ip` at `mac` on `interface`.
fn rvpp_knows(d: &Daemon, ip: &str, mac: &str, interface: &str) -> bool {
    d.ctl_ok("show ip neighbors").lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.contains(&ip) && f.iter().any(|w| w.eq_ignore_ascii_case(mac)) && f.last() == Some(&interface)
    })
}

fn kernel_ping_figures(ns: &Ns, to: &str) -> String {
    let r = ns.ping(&["-i", "0.05", "-W", "2"], to, 20);
    assert_eq!((r.transmitted, r.received), (20, 20), "kernel ping {to} lost packets:\n{}", r.text);
    // rvpp's replies leave with the TTL / hop limit they were built with.
    let ttls: Vec<&str> = r.text.lines().filter_map(|l| l.split("ttl=").nth(1)?.split_whitespace().next()).collect();
    assert!(!ttls.is_empty() && ttls.iter().all(|t| *t == "64"), "reply TTLs {ttls:?}:\n{}", r.text);
    r.rtt_line()
}

#[test]
fn kernel_and_rvpp_ping_each_other_v4_and_v6() {
    require_host!("kernel_and_rvpp_ping_each_other_v4_and_v6", &["ping"]);
    let mut lab = Lab::new("ipg");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST4}/24"), None);
    lab.address(&ns, &format!("{HOST6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP4}/24\n\
         set interface ip address {hif} {RVPP6}/64\n",
        ns.veth
    );
    let d = Daemon::builder("ip-ping").startup_config(&startup).start();
    let addrs = d.ctl_ok("show interface address");
    assert!(addrs.contains(&format!("{RVPP4}/24")) && addrs.contains(&format!("{RVPP6}/64")), "{addrs}");

    // The kernel reaches rvpp: ARP / ND first, then echo.
    ns.wait_ping(&[], RVPP4, WAIT);
    ns.wait_ping(&["-6"], RVPP6, WAIT);
    let rtt4 = kernel_ping_figures(&ns, RVPP4);
    let rtt6 = kernel_ping_figures(&ns, RVPP6);

    // Both sides learned each other.
    let host_mac = ns.mac();
    for ip in [HOST4, HOST6] {
        let learned = wait_until(WAIT, || rvpp_knows(&d, ip, &host_mac, &hif));
        assert!(learned, "show ip neighbors lacks {ip} at {host_mac} on {hif}:\n{}", d.ctl_ok("show ip neighbors"));
    }
    for ip in [RVPP4, RVPP6] {
        assert!(
            ns.kernel_neighbor(ip, RVPP_MAC),
            "the kernel's neighbor table lacks {ip} at {RVPP_MAC}:\n{}",
            ns.ip(&["neigh", "show"])
        );
    }

    // rvpp's own ping, from the dataplane, both families: no loss.
    let mut figures = Vec::new();
    for to in [HOST4, HOST6] {
        let (sent, received, rtts, out) = rvpp_ping(&d, to, 10);
        assert_eq!((sent, received), (10, 10), "rvpp's ping {to} lost packets:\n{out}\n{}", d.ctl_ok("show errors"));
        assert!(out.contains("0% packet loss"), "{out}");
        let avg = rtts.iter().sum::<f64>() / rtts.len().max(1) as f64;
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        figures.push(format!("{to} rtt min/avg/max {min:.3}/{avg:.3}/{max:.3} ms"));
    }
    eprintln!("ip_ping: kernel -> rvpp {RVPP4}: {rtt4}; {RVPP6}: {rtt6}; rvpp ping -> {}", figures.join(", "));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

/// Deleting an interface takes its addresses, their routes, the routes and
/// neighbors through it along; re-created (with the same MAC, so the
/// kernel's neighbor cache stays right) and re-addressed, it routes again
/// both ways in both families.
#[test]
fn deleted_interface_leaves_nothing_behind_and_comes_back() {
    require_host!("deleted_interface_leaves_nothing_behind_and_comes_back", &["ping"]);
    let mut lab = Lab::new("ipr");
    let ns = lab.ns('a');
    lab.address(&ns, "10.211.2.2/24", None);
    lab.address(&ns, "fd00:211:2::2/64", None);
    let hif = ns.host_if();
    let setup = |d: &Daemon| {
        d.ctl_ok(&format!("create host-interface name {} hw-addr {RVPP_MAC}", ns.veth));
        d.ctl_ok(&format!("set interface state {hif} up"));
        d.ctl_ok(&format!("set interface ip address {hif} 10.211.2.1/24"));
        d.ctl_ok(&format!("set interface ip address {hif} fd00:211:2::1/64"));
        d.ctl_ok("ip route add 10.99.0.0/16 via 10.211.2.2");
    };
    let d = Daemon::builder("ip-recreate").start();
    for round in 0..2 {
        setup(&d);
        ns.wait_ping(&[], "10.211.2.1", WAIT);
        ns.wait_ping(&["-6"], "fd00:211:2::1", WAIT);
        // The recursive route resolves through the (new) interface.
        let fib4 = d.ctl_ok("show ip fib 10.99.0.0/16");
        assert!(fib4.contains(&format!("via 10.211.2.2 {hif}")), "round {round}:\n{fib4}");
        for to in ["10.211.2.2", "fd00:211:2::2"] {
            let ok = wait_until(WAIT, || rvpp_ping(&d, to, 3).1 >= 2);
            assert!(ok, "round {round}: rvpp cannot ping {to}:\n{}", d.ctl_ok("show errors"));
        }
        d.ctl_ok(&format!("delete host-interface name {}", ns.veth));
        let addrs = d.ctl_ok("show interface address");
        assert!(!addrs.contains("10.211.2.1") && !addrs.contains("fd00:211:2::1"), "{addrs}");
        // The static route stays (it is configuration), unresolved.
        let fib4 = d.ctl_ok("show ip fib");
        assert!(!fib4.contains("10.211.2.0/24") && !fib4.contains("sw_if_index"), "round {round}:\n{fib4}");
        assert!(fib4.contains("10.99.0.0/16"), "round {round}:\n{fib4}");
        let fib6 = d.ctl_ok("show ip6 fib");
        assert!(!fib6.contains("fd00:211:2::/64") && !fib6.contains("fe80::"), "round {round}:\n{fib6}");
        let neigh = d.ctl_ok("show ip neighbors");
        assert!(!neigh.contains("10.211.2.2") && !neigh.contains("fd00:211:2::2"), "round {round}:\n{neigh}");
    }
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

/// A neighbor that cached rvpp's address at another MAC (rvpp restarted
/// with a new one, or `set interface mac address`) learns the new MAC at
/// once: rvpp sends a gratuitous ARP and an unsolicited Neighbor
/// Advertisement (override flag) when an address is added, when the
/// interface comes up and when its MAC changes; the kernel updates its
/// entries without waiting for them to go stale.
#[test]
fn kernel_learns_a_changed_mac_from_gratuitous_arp_and_unsolicited_na() {
    require_host!("kernel_learns_a_changed_mac_from_gratuitous_arp_and_unsolicited_na", &["ping"]);
    let mut lab = Lab::new("ipm");
    let ns = lab.ns('a');
    lab.address(&ns, "10.211.3.2/24", None);
    lab.address(&ns, "fd00:211:3::2/64", None);
    let hif = ns.host_if();
    let (rvpp4, rvpp6, stale) = ("10.211.3.1", "fd00:211:3::1", "02:aa:bb:cc:dd:ee");
    // The kernel believes rvpp's addresses live at an old MAC.
    for ip in [rvpp4, rvpp6] {
        ns.ip(&["neigh", "replace", ip, "lladdr", stale, "dev", rvpp_tests::netns::PEER, "nud", "stale"]);
        assert!(ns.kernel_neighbor(ip, stale), "{}", ns.ip(&["neigh", "show"]));
    }
    // Linux takes an unasked-for update only after its 1 s lock time.
    std::thread::sleep(Duration::from_millis(1200));
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {rvpp4}/24\n\
         set interface ip address {hif} {rvpp6}/64\n",
        ns.veth
    );
    let d = Daemon::builder("ip-garp").startup_config(&startup).start();
    for ip in [rvpp4, rvpp6] {
        let learned = wait_until(Duration::from_secs(5), || ns.kernel_neighbor(ip, RVPP_MAC));
        assert!(learned, "no announcement reached the kernel for {ip}:\n{}", ns.ip(&["neigh", "show"]));
    }
    // A MAC change is announced too.
    std::thread::sleep(Duration::from_millis(1200));
    let new_mac = "02:fe:d3:01:01:02";
    d.ctl_ok(&format!("set interface mac address {hif} {new_mac}"));
    for ip in [rvpp4, rvpp6] {
        let learned = wait_until(Duration::from_secs(5), || ns.kernel_neighbor(ip, new_mac));
        assert!(learned, "the MAC change was not announced for {ip}:\n{}", ns.ip(&["neigh", "show"]));
    }
    // And traffic reaches the new MAC (rvpp's first reply may wait for
    // its own ARP of the namespace: glean holds or drops it).
    ns.wait_ping(&[], rvpp4, WAIT);
    let r = ns.ping(&["-i", "0.05", "-W", "2"], rvpp4, 5);
    assert_eq!(r.received, 5, "{}", r.text);
}

/// IPv6 fragments addressed to rvpp are reassembled (the kernel sends a
/// 3000-byte UDP datagram as two fragments): the whole datagram reaches
/// UDP, whose closed port answers with ICMPv6 port unreachable, which the
/// kernel's connected socket reports as ECONNREFUSED. IPv4 the same way.
#[test]
fn fragmented_datagrams_to_rvpp_are_reassembled_v4_and_v6() {
    require_host!("fragmented_datagrams_to_rvpp_are_reassembled_v4_and_v6", &["ping", rvpp_tests::netns::PYTHON]);
    const CLIENT: &str = r#"
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 9))
s.settimeout(3)
s.send(b"x" * 3000)
try:
    s.recv(10)
    print("data")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
"#;
    let mut lab = Lab::new("ipf");
    let ns = lab.ns('a');
    lab.address(&ns, "10.211.4.2/24", None);
    lab.address(&ns, "fd00:211:4::2/64", None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} 10.211.4.1/24\n\
         set interface ip address {hif} fd00:211:4::1/64\n",
        ns.veth
    );
    let d = Daemon::builder("ip-frag").startup_config(&startup).start();
    ns.wait_ping(&[], "10.211.4.1", WAIT);
    ns.wait_ping(&["-6"], "fd00:211:4::1", WAIT);
    for to in ["10.211.4.1", "fd00:211:4::1"] {
        let out = ns.exec(&[rvpp_tests::netns::PYTHON, "-c", CLIENT, to]);
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(said, "refused", "{to}: {}\n{}", rvpp_tests::netns::text(&out), d.ctl_ok("show errors"));
    }
    let errors = d.errors();
    for node in ["ip4-reassembly", "ip6-reassembly"] {
        let n = errors.get(&(node.to_string(), "packets reassembled".to_string())).copied().unwrap_or(0);
        assert!(n >= 1, "{node} reassembled nothing: {errors:?}");
    }
}
