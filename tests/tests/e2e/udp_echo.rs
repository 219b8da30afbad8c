//! rvpp terminating UDP against the Linux kernel, over an af_packet
//! host-interface to a namespace: `test echo server uri udp://...` answers
//! a Python client's 2000 datagrams of 1 to 1400 bytes from four sockets
//! (four peers of one listener), each back whole and in order, over IPv4
//! and IPv6, plus datagrams of up to 8000 bytes over both (fragmented by
//! the kernel, reassembled by rvpp, fragmented again by rvpp at the source
//! on the way back and reassembled by the kernel, whose counters say so);
//! a closed port answers ICMP port unreachable; rvpp's
//! `test echo client uri udp://...` gets its bytes back from a kernel echo
//! server; garbage UDP from scapy (bad checksum, lying length fields, a
//! short header, IPv6's zero checksum) is counted by reason while the
//! server goes on serving; and with small MTUs on rvpp's side, answers
//! up to UDP's largest (65,507 bytes over IPv4, 65,527 over IPv6) leave
//! in fragments the kernel reassembles (its IpReasmOKs / Ip6ReasmOKs
//! count each) into the very bytes it sent.
//!
//! Subnets: 10.241.1.0/24 + fd00:241:1::/64 up to 10.244.1.0/24 +
//! fd00:244:1::/64.

use std::time::Duration;

use rvpp_tests::netns::{error_count, Lab, Ns, PYTHON};
use rvpp_tests::{require_host, wait_until, Daemon, TempDir};

use super::tcp_echo::sessions;

const PORT: u16 = 7777;
const WAIT: Duration = Duration::from_secs(30);

/// The kernel side's client. `echo <host> <port> <count> <big>`: `count`
/// datagrams of 1..1400 random bytes and `big` of 1473..8000, in bursts
/// of 32 spread over four connected sockets; each socket must get its own
/// back, byte-identical and in order; prints `ok <datagrams> <bytes>` or
/// what went wrong. `probe <host> <port> <size>`: one datagram of random
/// bytes, prints `echoed <n>` (the same bytes back), `echoed <n> different
/// bytes`, `timeout` or `refused`.
const CLIENT: &str = r#"
import random, socket, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
def sock(timeout):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.settimeout(timeout)
    s.connect((host, port))
    return s
if mode == "probe":
    s = sock(2)
    d = random.Random(int(sys.argv[4])).randbytes(int(sys.argv[4]))
    s.send(d)
    try:
        r = s.recv(65536)
        print("echoed", len(r) if r == d else "%d different bytes" % len(r))
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    sys.exit(0)
count, big = int(sys.argv[4]), int(sys.argv[5])
socks = [sock(5) for _ in range(4)]
rng = random.Random(11)
sizes = [1, 1400, 2, 1399] + [rng.randint(1, 1400) for _ in range(count - 4)]
sizes += [rng.randint(1473, 8000) for _ in range(big)]
got = nbytes = 0
for b in range(0, len(sizes), 32):
    burst = []
    for i, n in enumerate(sizes[b:b + 32]):
        d = rng.randbytes(n)
        s = socks[i % 4]
        s.send(d)
        burst.append((s, d))
    for s, d in burst:
        try:
            r = s.recv(65536)
        except socket.timeout:
            print("lost a datagram of", len(d), "bytes after", got)
            sys.exit(1)
        if r != d:
            print("mismatch: sent", len(d), "bytes, got", len(r), "after", got)
            sys.exit(1)
        got += 1
        nbytes += len(r)
print("ok", got, nbytes)
"#;

/// The kernel echo server: one dual-stack socket answering every datagram
/// to its source.
const SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("::", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65536)
    s.sendto(d, a)
"#;

/// Garbage UDP from scapy, each kind over IPv4 and IPv6.
const BAD_UDP: &str = r#"
import sys
from scapy.all import IP, IPv6, UDP, Raw, send
dst4, dst6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
for ip in (IP(dst=dst4), IPv6(dst=dst6)):
    send(ip / UDP(dport=port, chksum=0x1234) / Raw(b"bad checksum"), verbose=0)
    send(ip / UDP(dport=port, len=200) / Raw(b"short"), verbose=0)       # length beyond the payload
    send(ip / UDP(dport=port, len=4) / Raw(b"tiny"), verbose=0)          # length below the header
    p = ip.copy()
    if IP in p:
        p.proto = 17
    else:
        p.nh = 17
    send(p / Raw(b"\x00\x01\x00\x02"), verbose=0)                         # 4 bytes of udp
send(IPv6(dst=dst6) / UDP(dport=port, chksum=0) / Raw(b"zero checksum"), verbose=0)
print("sent")
"#;

/// A namespace on an af_packet interface of a fresh rvpp serving UDP echo
/// on both families (after `extra` startup lines, applied before the
/// addresses).
struct Setup {
    d: Daemon,
    ns: Ns,
    dir: TempDir,
    rvpp4: String,
    rvpp6: String,
    host4: String,
    host6: String,
    _lab: Lab,
}

fn setup(tag: &str, n: u8, extra: &str, serve: bool) -> Setup {
    let mut lab = Lab::new(tag);
    let ns = lab.ns('a');
    let (rvpp4, host4) = (format!("10.{n}.1.1"), format!("10.{n}.1.2"));
    let (rvpp6, host6) = (format!("fd00:{n}:1::1"), format!("fd00:{n}:1::2"));
    lab.address(&ns, &format!("{host4}/24"), None);
    lab.address(&ns, &format!("{host6}/64"), None);
    let hif = ns.host_if();
    let mut startup = format!(
        "create host-interface name {} hw-addr 02:fe:{n:02x}:01:01:01\n\
         set interface state {hif} up\n",
        ns.veth
    );
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        startup += &format!("{} {hif}\n", line.trim());
    }
    startup += &format!(
        "set interface ip address {hif} {rvpp4}/24\n\
         set interface ip address {hif} {rvpp6}/64\n"
    );
    if serve {
        startup += &format!("test echo server uri udp://0.0.0.0/{PORT}\ntest echo server uri udp://[::]/{PORT}\n");
    }
    let d = Daemon::builder(tag).startup_config(&startup).start();
    ns.wait_ping(&[], &rvpp4, WAIT);
    ns.wait_ping(&["-6"], &rvpp6, WAIT);
    let dir = TempDir::new(tag);
    Setup { d, ns, dir, rvpp4, rvpp6, host4, host6, _lab: lab }
}

impl Setup {
    fn client(&self) -> String {
        self.dir.write("client.py", CLIENT).to_str().expect("utf-8 path").to_string()
    }

    /// Runs the echo client toward `to`; returns (datagrams, bytes) back.
    fn echo(&self, to: &str, count: u32, big: u32) -> (u64, u64) {
        let script = self.client();
        let out = self.ns.exec(&[
            "timeout",
            "120",
            PYTHON,
            &script,
            "echo",
            to,
            &PORT.to_string(),
            &count.to_string(),
            &big.to_string(),
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.starts_with("ok "),
            "udp echo to {to} failed ({}):\n{text}\n{}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.d.ctl_ok("show errors"),
            self.d.ctl_ok("show session verbose")
        );
        let f: Vec<u64> = text.split_whitespace().skip(1).filter_map(|w| w.parse().ok()).collect();
        assert_eq!(f.len(), 2, "{text}");
        (f[0], f[1])
    }

    /// One datagram of `size` bytes to `to:port`: `echoed <n>`, `timeout`
    /// or `refused`.
    fn probe(&self, to: &str, port: u16, size: usize) -> String {
        let script = self.client();
        self.ns.ok(&[PYTHON, &script, "probe", to, &port.to_string(), &size.to_string()]).trim().to_string()
    }
}

/// What the namespace's kernel reassembled: (IPv4 `ReasmOKs`, IPv6
/// `Ip6ReasmOKs`), from its /proc/net/snmp and /proc/net/snmp6.
fn kernel_reassembled(ns: &Ns) -> (u64, u64) {
    let snmp = ns.ok(&["cat", "/proc/net/snmp"]);
    let ip: Vec<Vec<&str>> =
        snmp.lines().filter(|l| l.starts_with("Ip: ")).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(ip.len(), 2, "/proc/net/snmp: {snmp}");
    let at = ip[0].iter().position(|&n| n == "ReasmOKs").expect("ReasmOKs in /proc/net/snmp");
    let v4 = ip[1][at].parse().expect("a count");
    let snmp6 = ns.ok(&["cat", "/proc/net/snmp6"]);
    let v6 = snmp6
        .lines()
        .find_map(|l| l.strip_prefix("Ip6ReasmOKs"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Ip6ReasmOKs in /proc/net/snmp6");
    (v4, v6)
}

#[test]
fn kernel_udp_client_gets_every_datagram_back_whole_over_ip4_and_ip6() {
    require_host!("kernel_udp_client_gets_every_datagram_back_whole_over_ip4_and_ip6", &[PYTHON, "timeout"]);
    let s = setup("udpe", 241, "", true);
    let d = &s.d;
    let listening = sessions(d);
    for l in [format!("0.0.0.0:{PORT}->0.0.0.0:0"), format!("[::]:{PORT}->[::]:0")] {
        assert!(listening.contains(&(l.clone(), "LISTEN".into())), "no listener {l}:\n{}", d.ctl_ok("show session"));
    }
    let show = d.ctl_ok("show session");
    assert!(show.contains("[0:L0][U] 0.0.0.0:7777->0.0.0.0:0"), "{show}");

    let t0 = std::time::Instant::now();
    let (n4, bytes4) = s.echo(&s.rvpp4, 2000, 12);
    assert_eq!(n4, 2012, "every IPv4 datagram back");
    let t4 = t0.elapsed().as_secs_f64();
    let (n6, bytes6) = s.echo(&s.rvpp6, 2000, 12);
    assert_eq!(n6, 2012, "every IPv6 datagram back");
    assert!(bytes4 == bytes6 && bytes6 > 2000 * 600, "the same sizes both ways: {bytes4} {bytes6}");
    eprintln!(
        "udp_echo: {n4} IPv4 datagrams ({bytes4} bytes) in {t4:.2} s, {n6} IPv6 datagrams ({bytes6} bytes) in {:.2} s",
        t0.elapsed().as_secs_f64() - t4
    );

    let errors = d.ctl_ok("show errors");
    assert_eq!(error_count(&errors, "udp4-input", "datagrams to sessions and listeners"), 2012, "{errors}");
    assert_eq!(error_count(&errors, "udp6-input", "datagrams to sessions and listeners"), 2012, "{errors}");
    let sent: u64 = ["udp4-input", "udp6-input", "session-queue", "tcp4-input", "tcp6-input"]
        .iter()
        .map(|n| error_count(&errors, n, "datagrams sent"))
        .sum();
    assert_eq!(sent, 4024, "{errors}");
    for n in ["udp4-input", "udp6-input"] {
        for r in ["bad udp checksum", "session rx fifo full", "no buffer for a datagram"] {
            assert_eq!(error_count(&errors, n, r), 0, "{n}: {r}\n{errors}");
        }
    }
    // The big ones came in fragments and went back in fragments, cut at
    // the source (not by ip4-frag) and put together by the kernel.
    assert!(error_count(&errors, "ip4-reassembly", "packets reassembled") >= 12, "{errors}");
    assert!(error_count(&errors, "ip6-reassembly", "packets reassembled") >= 12, "{errors}");
    assert_eq!(error_count(&errors, "ip4-frag", "packets fragmented"), 0, "{errors}");
    assert_eq!(kernel_reassembled(&s.ns), (12, 12), "the kernel reassembled each big answer");
    // One listener per family served all eight peers: no session each.
    assert!(sessions(d).iter().all(|(_, st)| st == "LISTEN"), "{}", d.ctl_ok("show session"));
    let verbose = d.ctl_ok("show session verbose");
    assert_eq!(verbose.matches("datagrams in 2012 out 2012").count(), 2, "{verbose}");

    // A port nobody listens on: ICMP port unreachable, as before UDP was
    // the hoststack's.
    for to in [&s.rvpp4, &s.rvpp6] {
        assert_eq!(s.probe(to, PORT + 1, 10), "refused", "{to}:{}", PORT + 1);
    }
    let errors = d.ctl_ok("show errors");
    for n in ["udp4-input", "udp6-input"] {
        assert_eq!(error_count(&errors, n, "no session or listener: port unreachable"), 1, "{errors}");
    }
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn rvpp_udp_echo_client_against_a_kernel_echo_server() {
    require_host!("rvpp_udp_echo_client_against_a_kernel_echo_server", &[PYTHON, "ss"]);
    let s = setup("udpc", 242, "", false);
    let d = &s.d;
    let server = s.dir.write("server.py", SERVER);
    let _server =
        s.ns.spawn(&[PYTHON, server.to_str().expect("utf-8 path"), &PORT.to_string()], s.dir.path(), "server");
    let up = wait_until(WAIT, || s.ns.ok(&["ss", "-lun"]).contains(&format!(":{PORT}")));
    assert!(up, "the kernel echo server does not listen: {}", s.ns.ok(&["ss", "-lun"]));
    for host in [&s.host4, &s.host6] {
        let out = d
            .ctl(&format!("test echo client uri udp://{host}/{PORT} bytes 2m nclients 2 test-timeout 20"))
            .unwrap_or_else(|e| panic!("{e}\n{}\n{}", d.ctl_ok("show session verbose"), d.ctl_ok("show errors")));
        assert!(out.contains("2 udp sessions"), "{out}");
        let dgrams = 2 * (2u64 << 20).div_ceil(1392);
        assert!(out.contains(&format!("{dgrams} datagrams sent, {dgrams} received back")), "{out}");
        let total = format!(" {} bytes (", 2 * 2 * (2 << 20));
        assert!(out.contains(&total), "both clients' 2 MB out and back:\n{out}");
        eprintln!("udp_echo client to {host}: {}", out.lines().last().unwrap_or("").trim());
    }
    // The finished sessions closed.
    let gone = wait_until(WAIT, || sessions(d).is_empty());
    assert!(gone, "{}", d.ctl_ok("show session"));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn garbage_udp_is_counted_and_the_echo_keeps_working() {
    require_host!("garbage_udp_is_counted_and_the_echo_keeps_working", &[PYTHON, "scapy", "timeout"]);
    let s = setup("udpb", 243, "", true);
    let d = &s.d;
    let bad = s.dir.write("bad_udp.py", BAD_UDP);
    let out = s.ns.exec(&[PYTHON, bad.to_str().expect("utf-8"), &s.rvpp4, &s.rvpp6, &PORT.to_string()]);
    assert!(out.status.success(), "scapy: {}", rvpp_tests::netns::text(&out));
    let reasons = [
        "bad udp checksum",
        "udp length beyond the ip payload",
        "udp length below the udp header",
        "datagram shorter than the udp header",
    ];
    let counted = wait_until(WAIT, || {
        let e = d.ctl_ok("show errors");
        ["udp4-input", "udp6-input"].iter().all(|n| reasons.iter().all(|r| error_count(&e, n, r) >= 1))
            && error_count(&e, "udp6-input", "udp6 checksum zero") >= 1
    });
    let errors = d.ctl_ok("show errors");
    assert!(counted, "each kind counted on both nodes:\n{errors}");
    for n in ["udp4-input", "udp6-input"] {
        assert_eq!(error_count(&errors, n, "datagrams to sessions and listeners"), 0, "{errors}");
        assert_eq!(error_count(&errors, n, "datagrams sent"), 0, "garbage is never answered:\n{errors}");
    }
    // The server still echoes, both families.
    assert_eq!(s.echo(&s.rvpp4, 200, 0).0, 200);
    assert_eq!(s.echo(&s.rvpp6, 200, 0).0, 200);
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn answers_beyond_the_mtu_leave_in_fragments_up_to_udps_largest_over_ip4_and_ip6() {
    require_host!("answers_beyond_the_mtu_leave_in_fragments_up_to_udps_largest_over_ip4_and_ip6", &[PYTHON]);
    // Both MTUs small on rvpp's side only: 1400-byte datagrams come in
    // whole; their answers exceed the MTU.
    let s = setup("udpm", 244, "set interface mtu ip4 1000\nset interface mtu ip6 1280", true);
    let d = &s.d;
    let before = kernel_reassembled(&s.ns);
    // IPv4: beyond 1280 bytes the hoststack cuts at the source, below it
    // ip4-frag does on the way out (DF clear); up to 67 fragments.
    for n in [1400, 1200, 8000, 65507] {
        assert_eq!(s.probe(&s.rvpp4, PORT, n), format!("echoed {n}"), "IPv4, {n} bytes");
    }
    // IPv6: 1232 + 48 is exactly the MTU and leaves whole; one byte more
    // is two fragments; the largest is 54.
    for n in [1232, 1233, 8000, 65527] {
        assert_eq!(s.probe(&s.rvpp6, PORT, n), format!("echoed {n}"), "IPv6, {n} bytes");
    }
    let after = kernel_reassembled(&s.ns);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (4, 3),
        "answers the kernel reassembled: {before:?} {after:?}"
    );
    let errors = d.ctl_ok("show errors");
    assert_eq!(error_count(&errors, "ip4-frag", "packets fragmented"), 1, "the 1200-byte answer:\n{errors}");
    let too_big: u64 = ["udp4-input", "udp6-input", "session-queue"]
        .iter()
        .map(|n| error_count(&errors, n, "datagram too big (udp limit or fragment count)"))
        .sum();
    assert_eq!(too_big, 0, "{errors}");
    assert_eq!(error_count(&errors, "ip6-rewrite", "mtu exceeded"), 0, "every fragment fits:\n{errors}");
    assert_eq!(error_count(&errors, "ip4-rewrite", "mtu exceeded"), 0, "{errors}");
    // The echo server goes on.
    assert_eq!(s.probe(&s.rvpp6, PORT, 100), "echoed 100");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
