//! Flows on two workers fed by two af_packet rx queues (`num-rx-queues 2`:
//! one PACKET_FANOUT hash group, a queue per worker): the kernel hashes a
//! flow's packets to either queue, whichever worker owns its session.
//!
//! rvpp's `test echo client` opens all its connections (or connected UDP
//! sessions) on one worker; the kernel's answers to about half of them
//! arrive on the other, which hands them over (`show errors`: "packets
//! handed off to another thread" on `tcp4-input` / `tcp6-input` /
//! `udp4-input` / `udp6-input`, "handed in" on the owner; `show tcp
//! stats`: "segments handed to the thread owning their session"). Every
//! client must finish with its bytes back as sent; without the hand-off
//! the other worker answers those SYN-ACKs with RSTs (and those datagrams
//! with ICMP port unreachable). And the other way round: kernel clients
//! in parallel to rvpp's `test echo server` get their bytes back
//! identical.
//!
//! Subnet: 10.251.1.0/24 and fd00:251:1::/64.

use std::time::Duration;

use rvpp_tests::netns::{error_count, Lab, Ns, PYTHON};
use rvpp_tests::{require_host, wait_until, Daemon, TempDir};

use super::tcp_echo::CLIENT;

const RVPP4: &str = "10.251.1.1";
const HOST4: &str = "10.251.1.2";
const RVPP6: &str = "fd00:251:1::1";
const HOST6: &str = "fd00:251:1::2";
const PORT: u16 = 7777;
const WAIT: Duration = Duration::from_secs(30);

const HANDED_OFF: &str = "packets handed off to another thread";
const HANDED_IN: &str = "packets handed in from another thread";

const TCP_SERVER: &str = rvpp_tests::KERNEL_TCP_ECHO;

/// The kernel's UDP echo server: every datagram back to its source.
const UDP_SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("::", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65536)
    s.sendto(d, a)
"#;

/// rvpp with two workers on a two-queue host-interface to a namespace.
fn two_workers_two_queues(lab: &mut Lab, tag: &str, extra: &str) -> (Daemon, Ns) {
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST4}/24"), None);
    lab.address(&ns, &format!("{HOST6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr 02:fe:f1:01:01:01 num-rx-queues 2\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP4}/24\n\
         set interface ip address {hif} {RVPP6}/64\n\
         {extra}",
        ns.veth
    );
    let d = Daemon::builder(tag).workers(2).buffers(16384).startup_config(&startup).start();
    // Each worker polls one of the queues.
    let placement = d.ctl_ok("show interface rx-placement");
    for t in [1, 2] {
        assert!(placement.contains(&format!("Thread {t} (")), "rx-placement:\n{placement}");
    }
    ns.wait_ping(&[], RVPP4, WAIT);
    ns.wait_ping(&["-6"], RVPP6, WAIT);
    (d, ns)
}

/// `show errors` figures of `node`: (handed off, handed in, queue full).
fn handoffs(d: &Daemon, node: &str) -> (u64, u64, u64) {
    let e = d.ctl_ok("show errors");
    (error_count(&e, node, HANDED_OFF), error_count(&e, node, HANDED_IN), error_count(&e, node, "handoff queue full"))
}

/// Runs `test echo client` with more clients until some of the kernel's
/// answers reached the worker that does not own their flows (16 clients
/// all hashed to one queue is a 1 in 32768 chance; 64 then). Returns the
/// client's report.
fn echo_client_until_handed_off(d: &Daemon, ns: &Ns, uri: &str, bytes: &str, node: &str, check: impl Fn(&str, u32)) {
    for nclients in [16u32, 64] {
        let cmd = format!("test echo client uri {uri} bytes {bytes} nclients {nclients} test-timeout 15");
        let out = d.ctl(&cmd).unwrap_or_else(|e| {
            panic!(
                "{cmd}: {e}\n{}\n{}\n{}\n{}",
                ns.ok(&["ss", "-tuinoemp"]),
                d.ctl_ok("show session verbose"),
                d.ctl_ok("show tcp stats"),
                d.ctl_ok("show errors")
            )
        });
        check(&out, nclients);
        eprintln!("tcp_workers {uri} x{nclients}: {}", out.lines().last().unwrap_or("").trim());
        if handoffs(d, node).0 > 0 {
            return;
        }
    }
    panic!("no packet of {node} was handed to another worker:\n{}", d.ctl_ok("show errors"));
}

/// Once the flows are done, every packet handed off was handed in (none
/// lost on a full ring here).
fn all_handed_in(d: &Daemon, node: &str) {
    let settled = wait_until(WAIT, || {
        let (off, inn, _) = handoffs(d, node);
        off == inn
    });
    let (off, inn, full) = handoffs(d, node);
    assert!(settled && off > 0 && full == 0, "{node}: {off} handed off, {inn} in, {full} full");
    eprintln!("tcp_workers {node}: {off} packets handed to the owning worker");
}

#[test]
fn rvpp_echo_clients_on_one_worker_get_answers_hashed_to_the_other() {
    require_host!("rvpp_echo_clients_on_one_worker_get_answers_hashed_to_the_other", &[PYTHON, "ss"]);
    let mut lab = Lab::new("tcpw");
    let (d, ns) = two_workers_two_queues(&mut lab, "tcp-workers", "");
    let dir = TempDir::new("tcp-workers-server");
    let server = dir.write("server.py", TCP_SERVER);
    let _server = ns.spawn(&[PYTHON, server.to_str().expect("utf-8 path"), &PORT.to_string()], dir.path(), "server");
    let up = wait_until(WAIT, || ns.ok(&["ss", "-ltn"]).contains(&format!(":{PORT}")));
    assert!(up, "the kernel echo server does not listen: {}", ns.ok(&["ss", "-ltn"]));

    for (host, node) in [(HOST4, "tcp4-input"), (HOST6, "tcp6-input")] {
        let uri = format!("tcp://{}/{PORT}", if host.contains(':') { format!("[{host}]") } else { host.into() });
        echo_client_until_handed_off(&d, &ns, &uri, "256k", node, |out, n| {
            assert!(out.contains(&format!("{n} three-way handshakes")), "{out}");
            let total = format!(" {} bytes (", 2 * n as u64 * (256 << 10));
            assert!(out.contains(&total), "{n} clients' 256 KiB out and back:\n{out}");
        });
        all_handed_in(&d, node);
    }
    // The clients' sessions all lived on one worker: the other one only
    // handed packets over, it made no session of its own.
    let stats = d.ctl_ok("show tcp stats");
    let opened: Vec<u64> = stats
        .split("Thread ")
        .skip(1)
        .map(|t| {
            t.lines()
                .find(|l| l.ends_with(" sessions opened"))
                .and_then(|l| l.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(opened.iter().filter(|&&n| n > 0).count(), 1, "sessions opened per thread: {opened:?}\n{stats}");
    // The other worker counts what it handed over.
    assert!(stats.contains(" segments handed to the thread owning their session"), "{stats}");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn rvpp_udp_echo_clients_on_one_worker_get_answers_hashed_to_the_other() {
    require_host!("rvpp_udp_echo_clients_on_one_worker_get_answers_hashed_to_the_other", &[PYTHON, "ss"]);
    let mut lab = Lab::new("udpw");
    let (d, ns) = two_workers_two_queues(&mut lab, "udp-workers", "");
    let dir = TempDir::new("udp-workers-server");
    let server = dir.write("server.py", UDP_SERVER);
    let _server = ns.spawn(&[PYTHON, server.to_str().expect("utf-8 path"), &PORT.to_string()], dir.path(), "server");
    let up = wait_until(WAIT, || ns.ok(&["ss", "-lun"]).contains(&format!(":{PORT}")));
    assert!(up, "the kernel echo server does not listen: {}", ns.ok(&["ss", "-lun"]));

    for (host, node) in [(HOST4, "udp4-input"), (HOST6, "udp6-input")] {
        echo_client_until_handed_off(&d, &ns, &format!("udp://{host}/{PORT}"), "64k", node, |out, n| {
            assert!(out.contains(&format!("{n} udp sessions")), "{out}");
            let dgrams = n as u64 * (64u64 << 10).div_ceil(1392);
            assert!(out.contains(&format!("{dgrams} datagrams sent, {dgrams} received back")), "{out}");
        });
        all_handed_in(&d, node);
        // Nothing was refused for want of a session.
        let errors = d.ctl_ok("show errors");
        assert_eq!(error_count(&errors, node, "no session or listener: port unreachable"), 0, "{errors}");
    }
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn kernel_clients_in_parallel_to_an_echo_server_on_two_workers() {
    require_host!("kernel_clients_in_parallel_to_an_echo_server_on_two_workers", &[PYTHON, "timeout"]);
    const CLIENTS: usize = 8;
    const BYTES: usize = 2 << 20;
    let mut lab = Lab::new("tcpk");
    let extra = format!("test echo server uri tcp://0.0.0.0/{PORT}\ntest echo server uri tcp://::/{PORT}\n");
    let (d, ns) = two_workers_two_queues(&mut lab, "tcp-workers-srv", &extra);
    let dir = TempDir::new("tcp-workers-client");
    let script = dir.write("client.py", CLIENT);
    let script = script.to_str().expect("utf-8 path");
    for to in [RVPP4, RVPP6] {
        let mut clients: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let args = ["timeout", "120", PYTHON, script, "echo", to, &PORT.to_string(), &BYTES.to_string()];
                ns.spawn(&args, dir.path(), &format!("client{k}"))
            })
            .collect();
        for (k, c) in clients.iter_mut().enumerate() {
            let done = wait_until(Duration::from_secs(150), || c.stdout().split_whitespace().count() == 4);
            let out = c.stdout();
            assert!(done, "client {k} to {to}: {out}{}\n{}", c.stderr(), d.ctl_ok("show errors"));
            let f: Vec<&str> = out.split_whitespace().collect();
            assert_eq!(f[0], BYTES.to_string(), "client {k} to {to}: {out}");
            assert_eq!((f[2], f[3]), (f[0], f[1]), "client {k} to {to}: the echo differs from what was sent");
        }
    }
    let stats = d.ctl_ok("show tcp stats");
    let per_thread: Vec<&str> = stats.split("Thread ").skip(1).collect();
    eprintln!(
        "tcp_workers server: handshakes per thread: {:?}",
        per_thread
            .iter()
            .map(|t| t.lines().find(|l| l.contains("handshakes completed")).unwrap_or("-").trim())
            .collect::<Vec<_>>()
    );
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
