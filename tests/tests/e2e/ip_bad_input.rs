//! Malformed input on a real wire: scapy (tests/scapy/bad_input.py) sends a
//! corpus of bad frames at rvpp's af_packet interface — truncated Ethernet,
//! IPv4, IPv6 and ARP headers, IHL < 5, IP total lengths larger and smaller
//! than the frame, bad header checksums, TTL 0 and 1, overlapping, tiny,
//! too many and out-of-range fragments, IPv6 payload lengths that lie, ND
//! solicitations and advertisements with zero-length and truncated options,
//! ARP with wrong hardware/protocol types and lengths, random bytes after
//! each Ethernet type — each followed by a legitimate IPv4 and IPv6 ping.
//!
//! rvpp must stay up, answer every legitimate ping (and a fragmented one,
//! reassembled), name the reasons for the bad frames in `show errors`, and
//! never panic.
//!
//! (Frames shorter than an Ethernet header, or with a cut VLAN tag, do not
//! reach an af_packet socket as sent: the kernel pads the first and drops
//! the second. They are sent anyway.)
//!
//! Subnets: 10.218.1.0/24 and fd00:218:1::/64; 10.218.50.0/24 is routed
//! back to the namespace (for TTL 1 on the forwarding path).

use std::time::Duration;

use rvpp_tests::netns::{error_count, text, Lab, Ns, PEER, PYTHON};
use rvpp_tests::{require_host, run_with_timeout, workspace_root, Daemon};

const WAIT: Duration = Duration::from_secs(30);
const RVPP4: &str = "10.218.1.1";
const HOST4: &str = "10.218.1.2";
const RVPP6: &str = "fd00:218:1::1";
const HOST6: &str = "fd00:218:1::2";
const RVPP_MAC: &str = "02:fe:da:01:00:01";

/// The reasons the corpus must produce, per node.
const EXPECTED: &[(&str, &str)] = &[
    ("ip4-input", "ip4 length < 20 bytes"),
    ("ip4-input", "ip4 version != 4"),
    ("ip4-input", "ip4 header length < 20 or > packet"),
    ("ip4-input", "ip4 length > l2 length or < header"),
    ("ip4-input", "ip4 header checksum error"),
    ("ip4-input", "ip4 options present (dropped)"),
    ("ip4-input", "ip4 ttl expired"),
    ("ip4-input", "ip4 bad source address"),
    ("ip6-input", "ip6 length < 40 bytes"),
    ("ip6-input", "ip6 version != 6"),
    ("ip6-input", "ip6 payload length > l2 length"),
    ("ip6-input", "ip6 hop limit expired"),
    ("ip4-rewrite", "ttl / hop limit expired"),
    ("ip4-local", "icmp checksum error"),
    ("ip6-local", "icmp checksum error"),
    ("ip4-reassembly", "overlapping fragments (packet dropped)"),
    ("ip4-reassembly", "tiny fragment (packet dropped)"),
    ("ip4-reassembly", "fragment beyond 65535 bytes"),
    ("ip4-reassembly", "too many fragments"),
    ("ip4-reassembly", "packets reassembled"),
    ("arp-input", "ARP packet too short"),
    ("arp-input", "L2 type not ethernet"),
    ("arp-input", "L3 type not IP4"),
    ("arp-input", "wrong hardware/protocol address length"),
    ("arp-input", "ARP opcode not request or reply"),
    ("arp-input", "ARP sender hardware address is multicast"),
    ("arp-input", "ARP hw addr does not match L2 frame src addr"),
    ("ip6-nd", "neighbor discovery message too short"),
    ("ip6-nd", "hop limit != 255"),
    ("ip6-nd", "ICMP6 code != 0"),
    ("ip6-nd", "option with zero length"),
    ("ip6-nd", "option truncated"),
    ("ip6-nd", "target address is multicast"),
    ("ip6-nd", "solicited advertisement to a multicast address"),
    ("ip6-nd", "DAD solicitation not to a solicited-node group or with source link-layer option"),
];

/// The namespace kernel's count of ICMP echo replies received (IPv4 or
/// IPv6), from its SNMP MIB: every reply rvpp sends to the namespace's own
/// address lands there, whether or not scapy's sniffer kept up.
fn kernel_echo_replies(ns: &Ns, ip6: bool) -> u64 {
    if ip6 {
        let t = ns.ok(&["cat", "/proc/net/snmp6"]);
        t.lines()
            .find_map(|l| l.strip_prefix("Icmp6InEchoReplies"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Icmp6InEchoReplies in /proc/net/snmp6"))
    } else {
        let t = ns.ok(&["cat", "/proc/net/snmp"]);
        let rows: Vec<Vec<&str>> =
            t.lines().filter(|l| l.starts_with("Icmp:")).map(|l| l.split_whitespace().collect()).collect();
        let (names, values) = (&rows[0], &rows[1]);
        let k = names.iter().position(|&n| n == "InEchoReps").expect("InEchoReps in /proc/net/snmp");
        values[k].parse().expect("a number")
    }
}

/// `legit4 <sent> <replied> ...` from the script's report.
fn legit(report: &str, fam: &str) -> (u64, u64) {
    let l = report.lines().find(|l| l.starts_with(&format!("{fam} "))).unwrap_or_else(|| panic!("no {fam}:\n{report}"));
    let f: Vec<&str> = l.split_whitespace().collect();
    (f[1].parse().unwrap_or(0), f[2].parse().unwrap_or(0))
}

#[test]
fn malformed_frames_are_counted_drops_and_pings_still_answered() {
    require_host!("malformed_frames_are_counted_drops_and_pings_still_answered", &["ping", "scapy"]);
    let mut lab = Lab::new("ibd");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST4}/24"), None);
    lab.address(&ns, &format!("{HOST6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP4}/24\n\
         set interface ip address {hif} {RVPP6}/64\n\
         ip route add 10.218.50.0/24 via {HOST4} {hif}\n",
        ns.veth
    );
    let mut d = Daemon::builder("ip-bad-input").buffers(16384).startup_config(&startup).start();
    // Both sides resolve each other before the corpus: its pings count.
    ns.wait_ping(&[], RVPP4, WAIT);
    ns.wait_ping(&["-6"], RVPP6, WAIT);

    let replies_before = [kernel_echo_replies(&ns, false), kernel_echo_replies(&ns, true)];
    let script = workspace_root().join("tests").join("scapy").join("bad_input.py");
    let script = script.to_string_lossy().into_owned();
    let args = [PYTHON, &script, PEER, RVPP_MAC, RVPP4, HOST4, RVPP6, HOST6, "10.218.50.1"];
    let out = run_with_timeout(ns.cmd(&args), None, Duration::from_secs(300));
    let report = text(&out);
    assert!(out.status.success(), "bad_input.py failed:\n{report}");
    assert!(d.is_running(), "rvpp died during the corpus; its stderr:\n{}", d.stderr());

    let errors = d.ctl_ok("show errors");
    let bad: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("bad "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'bad' count:\n{report}"));
    assert!(bad >= 400, "only {bad} bad frames went out:\n{report}");
    // Every legitimate ping answered: counted by the namespace's kernel
    // (the replies are addressed to it), plus the one reply to the
    // fragmented IPv4 ping; no bad frame draws an echo reply. scapy's own
    // count per sequence number is the diagnosis when they differ.
    for (k, fam) in ["legit4", "legit6"].into_iter().enumerate() {
        let (sent, sniffed) = legit(&report, fam);
        assert!(sent >= bad, "{fam}: {sent} sent:\n{report}");
        let got = kernel_echo_replies(&ns, k == 1) - replies_before[k];
        let expected = sent + u64::from(k == 0);
        assert!(
            got == expected,
            "{fam}: {sent} legitimate pings, the kernel received {got} echo replies, not {expected} \
             (scapy saw {sniffed}):\n\
             {report}\n{errors}\n{}",
            d.ctl_ok("show hardware-interfaces")
        );
        if sniffed < sent {
            eprintln!("ip_bad_input: note: scapy's sniffer saw {sniffed} of {sent} {fam} replies the kernel got");
        }
    }
    let frags: u64 =
        report.lines().find_map(|l| l.strip_prefix("reassembled ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(frags >= 2, "the fragmented ping's reply did not come back in fragments:\n{report}");

    let missing: Vec<String> = EXPECTED
        .iter()
        .filter(|(node, reason)| error_count(&errors, node, reason) == 0)
        .map(|(node, reason)| format!("{node}: {reason}"))
        .collect();
    assert!(missing.is_empty(), "show errors lacks:\n  {}\n{errors}\nscript:\n{report}", missing.join("\n  "));

    // Still a working router afterwards.
    let r = ns.ping(&["-i", "0.05", "-W", "2"], RVPP4, 10);
    assert_eq!(r.received, 10, "{}", r.text);
    let r = ns.ping(&["-6", "-i", "0.05", "-W", "2"], RVPP6, 10);
    assert_eq!(r.received, 10, "{}", r.text);
    // The corpus's lone first fragment (and the first of the duplicated
    // pair) are held until the reassembly timeout (2 s), then dropped and
    // counted by the periodic expiry, with no further fragment arriving.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut errors = d.ctl_ok("show errors");
    while error_count(&errors, "ip4-reassembly", "reassembly timeout") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        errors = d.ctl_ok("show errors");
    }
    assert!(
        error_count(&errors, "ip4-reassembly", "reassembly timeout") >= 1,
        "held fragments never timed out:\n{errors}"
    );
    assert!(d.is_running(), "{}", d.stderr());
    assert!(!d.stderr().contains("panicked"), "rvpp panicked:\n{}", d.stderr());
    let unsendable = report.lines().filter(|l| l.starts_with("unsendable")).count();
    eprintln!(
        "ip_bad_input: {bad} bad frames ({unsendable} refused by the kernel), {} + {} legitimate pings all \
         answered, {} reasons named",
        legit(&report, "legit4").0,
        legit(&report, "legit6").0,
        EXPECTED.len()
    );
}
