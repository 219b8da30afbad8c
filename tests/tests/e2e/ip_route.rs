//! rvpp routing between two kernel namespaces on two af_packet interfaces
//! and two subnets, each namespace's default routes pointing at rvpp: ping
//! both families across; iperf3 TCP for 5 s in each direction (IPv4) and
//! forward over IPv6; a byte-exact TCP transfer each family (the kernel's
//! TCP on both ends, sha256 compared); iperf3 UDP over both families.
//! Prints RTTs and rates (figures, not assertions). rvpp runs one worker,
//! so forwarding happens on a worker thread reading published FIB
//! snapshots.
//!
//! iperf3 3.12's `end.sum_received.bytes` stops counting when the sender
//! signals the end of the test, so it trails `sum_sent.bytes` by what was
//! in flight then — on a bare kernel veth pair too. The iperf3 runs are
//! asserted to complete with `0 < received <= sent` and a small gap; the
//! exact byte-for-byte claim is the sha256-checked transfer.
//!
//! Subnets: 10.212.{1,2}.0/24 and fd00:212:{1,2}::/64.

use std::time::Duration;

use rvpp_tests::netns::{self, text, wait_listening, Iperf, Ns, TwoSubnets, PYTHON};
use rvpp_tests::{require_host, run_with_timeout, wait_until, Daemon};

const WAIT: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(90);

fn iperf3(d: &Daemon, client: &Ns, server: &Ns, to: &str, port: u16, args: &[&str]) -> Iperf {
    netns::iperf3(d, client, server, to, port, args, RUN)
}

/// A byte-exact TCP transfer of `bytes` pseudo-random bytes from `client`
/// to `server` at `to`: both ends print the count and sha256 they saw.
fn exact_transfer(d: &Daemon, client: &Ns, server: &Ns, to: &str, port: u16, bytes: usize) -> String {
    const SERVER: &str = r#"
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(60)
c, _ = s.accept()
c.settimeout(60)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
"#;
    const CLIENT: &str = r#"
import hashlib, random, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
data = random.Random(4242).randbytes(int(sys.argv[3]))
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(60)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"#;
    let p = port.to_string();
    let n = bytes.to_string();
    let bind = if to.contains(':') { "::" } else { "0.0.0.0" };
    let mut srv = server.spawn(&[PYTHON, "-c", SERVER, bind, &p], d.dir(), &format!("exact-{port}"));
    wait_listening(server, port, WAIT);
    let out = run_with_timeout(client.cmd(&[PYTHON, "-c", CLIENT, to, &p, &n]), None, RUN);
    assert!(out.status.success(), "exact transfer to {to} failed:\n{}\nserver: {}", text(&out), srv.stderr());
    let sent = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let done = wait_until(WAIT, || !srv.running());
    assert!(done, "the receiving end never saw the end of the stream (sent {sent})");
    let received = srv.stdout().trim().to_string();
    assert_eq!(received, sent, "bytes/sha256 received vs sent");
    assert!(sent.starts_with(&format!("{bytes} ")), "{sent}");
    received
}

#[test]
fn two_namespaces_route_through_rvpp() {
    require_host!("two_namespaces_route_through_rvpp", &["ping", "iperf3", "ss", PYTHON]);
    let t = TwoSubnets::new("irt", 212);
    let d = Daemon::builder("ip-route").workers(1).buffers(16384).startup_config(&t.startup_config()).start();
    t.wait_paths(WAIT);

    // Ping both ways, both families, no loss.
    eprintln!("ip_route ping across rvpp: {}", t.ping_both_ways("ip_route", 20));

    // TCP: iperf3 5 s each way (IPv4), and forward over IPv6.
    let fwd = iperf3(&d, &t.a, &t.b, &t.host4(2), 5212, &["-t", "5"]);
    fwd.assert_tcp("iperf3 TCP a -> b");
    let rev = iperf3(&d, &t.a, &t.b, &t.host4(2), 5213, &["-t", "5", "-R"]);
    rev.assert_tcp("iperf3 TCP b -> a (-R)");
    let fwd6 = iperf3(&d, &t.a, &t.b, &t.host6(2), 5214, &["-t", "5"]);
    fwd6.assert_tcp("iperf3 TCP6 a -> b");
    eprintln!(
        "ip_route iperf3 TCP 5 s: a->b {} ({} of {} bytes counted by the receiver, {:?} retransmits), \
         b->a {} ({} of {}), IPv6 a->b {} ({} of {})",
        fwd.rate(),
        fwd.received_bytes,
        fwd.sent_bytes,
        fwd.retransmits,
        rev.rate(),
        rev.received_bytes,
        rev.sent_bytes,
        fwd6.rate(),
        fwd6.received_bytes,
        fwd6.sent_bytes
    );

    // Byte-exact, both families, both directions between them.
    let x4 = exact_transfer(&d, &t.a, &t.b, &t.host4(2), 5215, 32 << 20);
    let x6 = exact_transfer(&d, &t.b, &t.a, &t.host6(1), 5216, 32 << 20);
    eprintln!("ip_route exact TCP transfers: a->b IPv4 {x4}; b->a IPv6 {x6}");

    // UDP: datagrams arrive (counts, not order, are claimed).
    let u4 = iperf3(&d, &t.a, &t.b, &t.host4(2), 5217, &["-u", "-b", "100M", "-t", "2"]);
    let u6 = iperf3(&d, &t.b, &t.a, &t.host6(1), 5218, &["-u", "-b", "100M", "-t", "2"]);
    for (u, what) in [(&u4, "UDP a -> b"), (&u6, "UDP6 b -> a")] {
        assert!(u.packets > 0 && u.received_bytes > 0, "{what}: no datagram arrived: {u:?}");
    }
    eprintln!(
        "ip_route iperf3 UDP 2 s at 100 Mbit/s: IPv4 a->b {} datagrams, {} lost; IPv6 b->a {} datagrams, {} lost",
        u4.packets, u4.lost_packets, u6.packets, u6.lost_packets
    );

    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
