//! A dot1q sub-interface (`create sub-interfaces host-<veth> 123`) with
//! addresses of its own, against a namespace on the veth's other end.
//!
//! - Tagged traffic reaches the sub-interface and comes back tagged: the
//!   kernel's own VLAN device (`ip link add link eth0 name eth0.123 type
//!   vlan id 123`) pings it over both families — where the kernel has
//!   802.1Q; where it does not (some VM kernels), that part says so on
//!   stderr — and scapy (tests/scapy/vlan_probe.py) always sends tagged
//!   ARP, ICMP echo, ND and ICMPv6 echo and checks each answer's tag.
//! - Isolation: the namespace's plain veth address is on another subnet;
//!   from there the sub-interface's address is unreachable (its ARP is not
//!   answered untagged, nor on another VLAN), while rvpp's parent interface
//!   answers on its own subnet.
//!
//! Subnets: 10.213.1.0/24 (parent), 10.213.123.0/24 and fd00:213:123::/64
//! (VLAN 123).

use std::time::Duration;

use rvpp_tests::netns::{error_count, text, Lab, Ns, PEER, PYTHON};
use rvpp_tests::{require_host, run_with_timeout, workspace_root, Daemon};

const WAIT: Duration = Duration::from_secs(30);
const VLAN: u16 = 123;
const PARENT4: &str = "10.213.1.1";
const HOST_PARENT4: &str = "10.213.1.2";
const SUB4: &str = "10.213.123.1";
const SUB6: &str = "fd00:213:123::1";
const RVPP_MAC: &str = "02:fe:d5:01:00:01";

/// Whether this kernel can make VLAN devices (a throwaway one in `ns`).
fn kernel_has_vlans(ns: &Ns) -> bool {
    let probe = ns.exec(&["ip", "link", "add", "link", PEER, "name", "vprobe", "type", "vlan", "id", "4000"]);
    let _ = ns.exec(&["ip", "link", "del", "vprobe"]);
    probe.status.success()
}

/// The kernel's VLAN device pings the sub-interface, both families.
fn kernel_vlan_pings(d: &Daemon, ns: &Ns, sub_if: &str) -> String {
    let dev = format!("{PEER}.{VLAN}");
    let vid = VLAN.to_string();
    ns.ip(&["link", "add", "link", PEER, "name", &dev, "type", "vlan", "id", &vid]);
    ns.ip(&["addr", "add", "10.213.123.2/24", "dev", &dev]);
    ns.ip(&["-6", "addr", "add", "fd00:213:123::2/64", "dev", &dev, "nodad"]);
    ns.ip(&["link", "set", &dev, "up"]);
    let mut figures = Vec::new();
    for (fam, to) in [("-4", SUB4), ("-6", SUB6)] {
        ns.wait_ping(&[fam], to, WAIT);
        let r = ns.ping(&[fam, "-i", "0.05", "-W", "2"], to, 20);
        assert_eq!((r.transmitted, r.received), (20, 20), "ping {to} over VLAN {VLAN} lost packets:\n{}", r.text);
        figures.push(format!("{to}: {}", r.rtt_line()));
    }
    let neigh = d.ctl_ok("show ip neighbors");
    assert!(
        neigh.lines().any(|l| l.contains("10.213.123.2") && l.trim_end().ends_with(sub_if)),
        "rvpp did not learn the VLAN device's address on {sub_if}:\n{neigh}"
    );
    figures.join("; ")
}

#[test]
fn sub_interface_answers_tagged_only() {
    require_host!("sub_interface_answers_tagged_only", &["ping", "scapy"]);
    let mut lab = Lab::new("ivl");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST_PARENT4}/24"), None);
    let hif = ns.host_if();
    let sub_if = format!("{hif}.{VLAN}");
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {PARENT4}/24\n\
         create sub-interfaces {hif} {VLAN}\n\
         set interface state {sub_if} up\n\
         set interface ip address {sub_if} {SUB4}/24\n\
         set interface ip address {sub_if} {SUB6}/64\n",
        ns.veth
    );
    let d = Daemon::builder("ip-vlan").startup_config(&startup).start();
    let addrs = d.ctl_ok("show interface address");
    assert!(addrs.contains(&sub_if) && addrs.contains(&format!("{SUB4}/24")), "{addrs}");

    // The parent answers on its own subnet, untagged.
    ns.wait_ping(&[], PARENT4, WAIT);

    // Tagged, from the kernel's VLAN device where the kernel has them.
    if kernel_has_vlans(&ns) {
        let figures = kernel_vlan_pings(&d, &ns, &sub_if);
        eprintln!("ip_vlan: kernel eth0.{VLAN} -> {sub_if}: {figures}");
    } else {
        eprintln!(
            "SKIPPED part of sub_interface_answers_tagged_only: this kernel cannot create VLAN devices \
             (`ip link add ... type vlan` fails: no 802.1Q); the tagged checks run with scapy alone"
        );
    }

    // Tagged and untagged probes from scapy.
    let script = workspace_root().join("tests").join("scapy").join("vlan_probe.py");
    let script = script.to_string_lossy().into_owned();
    let vid = VLAN.to_string();
    let args =
        [PYTHON, &script, PEER, RVPP_MAC, &vid, SUB4, SUB6, "10.213.123.3", "fd00:213:123::3", PARENT4, HOST_PARENT4];
    let out = run_with_timeout(ns.cmd(&args), None, Duration::from_secs(120));
    let report = text(&out);
    assert!(out.status.success(), "vlan_probe.py failed:\n{report}");
    for probe in [
        "tagged-arp",
        "tagged-icmp",
        "tagged-nd",
        "tagged-icmp6",
        "untagged-arp-for-sub",
        "other-vlan-arp-for-sub",
        "untagged-arp-for-parent",
    ] {
        let line = report.lines().find(|l| l.split_whitespace().next() == Some(probe));
        assert!(
            line.is_some_and(|l| l.split_whitespace().nth(1) == Some("ok")),
            "probe {probe}: {line:?}\n{report}\n{}",
            d.ctl_ok("show errors")
        );
    }

    // The kernel, untagged: an on-link route to the sub-interface's
    // address through the plain veth gets no ARP answer, so no ping.
    ns.ip(&["route", "add", &format!("{SUB4}/32"), "dev", PEER]);
    let r = ns.ping(&["-W", "1"], SUB4, 3);
    assert_eq!(r.received, 0, "the sub-interface's address answered untagged:\n{}", r.text);
    let r = ns.ping(&["-W", "2"], PARENT4, 3);
    assert_eq!(r.received, 3, "the parent stopped answering:\n{}", r.text);

    let errors = d.ctl_ok("show errors");
    assert!(error_count(&errors, "arp-input", "IP4 destination address not local to subnet") > 0, "{errors}");
    assert!(error_count(&errors, "ethernet-input", "unknown vlan") > 0, "{errors}");
    eprintln!("ip_vlan: scapy probes:\n{}", report.trim_end());
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

/// QinQ sub-interfaces (`dot1q 200 inner-dot1q 30`: outer TPID 0x8100;
/// `dot1ad 201 inner-dot1q 31`: 0x88a8). scapy (tests/scapy/qinq_probe.py)
/// always sends ARP and ICMP echo over each stack of tags and checks the
/// answers come back over the same stack and outer TPID (the echo reply
/// through the adjacency's rewrite), that the other outer TPID gets no
/// answer, and that a priority-tagged (VLAN 0) ARP for the parent is
/// answered. Where the kernel has 802.1Q, its stacked VLAN devices (802.1Q
/// over 802.1Q, 802.1Q over 802.1ad) ping each sub-interface too, with the
/// largest datagram such a link carries (DF set: within the QinQ
/// sub-interface's MTU, the parent's less 4).
#[test]
fn qinq_sub_interfaces_answer_over_their_own_tag_stack() {
    require_host!("qinq_sub_interfaces_answer_over_their_own_tag_stack", &["ping", "scapy"]);
    let mut lab = Lab::new("iqq");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST_PARENT4}/24"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {PARENT4}/24\n\
         create sub-interfaces {hif} 200 dot1q 200 inner-dot1q 30\n\
         create sub-interfaces {hif} 201 dot1ad 201 inner-dot1q 31\n\
         set interface state {hif}.200 up\n\
         set interface state {hif}.201 up\n\
         set interface ip address {hif}.200 10.213.200.1/24\n\
         set interface ip address {hif}.201 10.213.201.1/24\n",
        ns.veth
    );
    let d = Daemon::builder("ip-qinq").startup_config(&startup).start();

    let script = workspace_root().join("tests").join("scapy").join("qinq_probe.py");
    let script = script.to_string_lossy().into_owned();
    let args = [
        PYTHON,
        &script,
        PEER,
        RVPP_MAC,
        PARENT4,
        HOST_PARENT4,
        "8100:200:30:10.213.200.1:10.213.200.3",
        "88a8:201:31:10.213.201.1:10.213.201.3",
    ];
    let out = run_with_timeout(ns.cmd(&args), None, Duration::from_secs(120));
    let report = text(&out);
    assert!(out.status.success(), "qinq_probe.py failed:\n{report}");
    let probes = report.lines().filter(|l| l.split_whitespace().nth(1).is_some()).count();
    assert_eq!(probes, 7, "not every probe ran:\n{report}");
    for line in report.lines() {
        assert!(
            line.split_whitespace().nth(1) == Some("ok"),
            "probe failed: {line}\n{report}\n{}",
            d.ctl_ok("show errors")
        );
    }

    if !kernel_has_vlans(&ns) {
        eprintln!(
            "SKIPPED part of qinq_sub_interfaces_answer_over_their_own_tag_stack: this kernel cannot create VLAN \
             devices (`ip link add ... type vlan` fails: no 802.1Q); the QinQ checks ran with scapy alone"
        );
        eprintln!("ip_vlan: QinQ scapy probes:\n{}", report.trim_end());
        return;
    }
    for (outer, proto, inner, net) in [("q200", "802.1Q", "30", "200"), ("ad201", "802.1ad", "31", "201")] {
        let id = &outer[outer.len() - 3..];
        ns.ip(&["link", "add", "link", PEER, "name", outer, "type", "vlan", "protocol", proto, "id", id]);
        let dev = format!("{outer}.{inner}");
        ns.ip(&["link", "add", "link", outer, "name", &dev, "type", "vlan", "id", inner]);
        ns.ip(&["addr", "add", &format!("10.213.{net}.2/24"), "dev", &dev]);
        ns.ip(&["link", "set", outer, "up"]);
        ns.ip(&["link", "set", &dev, "up"]);
        let to = format!("10.213.{net}.1");
        ns.wait_ping(&[], &to, WAIT);
        // 1468 bytes of ICMP payload: 1496 bytes of IP, a 1518-byte frame
        // (the veth's MTU + 14 + one tag's slack the kernel allows).
        let r = ns.ping(&["-M", "do", "-s", "1468", "-i", "0.05", "-W", "2"], &to, 10);
        assert_eq!(r.received, 10, "QinQ {net}: ping lost packets:\n{}\n{}", r.text, d.ctl_ok("show errors"));
    }
    eprintln!("ip_vlan: QinQ scapy probes and kernel stacked VLAN pings all answered:\n{}", report.trim_end());
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
