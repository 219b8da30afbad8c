//! rvpp terminating TCP against the Linux kernel: `test echo server` on an
//! af_packet host-interface, a kernel client (Python's socket module, run
//! by Debian's python3) in a namespace. 10 MB sent over IPv4 and over IPv6
//! come back byte-identical (sha256); `show session` lists an open
//! connection and forgets it once closed or `clear session` resets it; a
//! connection to a port nobody listens on is refused (RST), and every port
//! after `session disable` (ICMP port unreachable). Prints the transfer rates (figures, not
//! assertions).
//!
//! Subnets: 10.231.1.0/24 and fd00:231:1::/64.

use std::time::{Duration, Instant};

use rvpp_tests::netns::{error_count, Lab, Ns, PYTHON};
use rvpp_tests::{require_host, wait_until, Daemon, TempDir};

const RVPP4: &str = "10.231.1.1";
const HOST4: &str = "10.231.1.2";
const RVPP6: &str = "fd00:231:1::1";
const HOST6: &str = "fd00:231:1::2";
const RVPP_MAC: &str = "02:fe:e7:01:01:01";
const PORT: u16 = 7777;
const BYTES: usize = 10 << 20;
const WAIT: Duration = Duration::from_secs(30);

/// The kernel side. `echo <host> <port> <n>`: sends n pseudo-random bytes
/// while reading the echo, half-closes, reads to EOF, prints
/// `<sent> <sha256 sent> <received> <sha256 received>`. `hold`: connects,
/// sees 4 bytes echoed, prints `open <local port>` and waits to be killed.
/// `connect`: prints `refused` or `connected`.
pub(super) const CLIENT: &str = r#"
import hashlib, random, socket, sys, threading, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(60)
if mode == "connect":
    try:
        s.connect((host, port))
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    sys.exit(0)
s.connect((host, port))
if mode == "hold":
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        b = s.recv(4 - len(got))
        if not b:
            break
        got += b
    print("open", s.getsockname()[1], got.decode(errors="replace"), flush=True)
    time.sleep(120)
    sys.exit(0)
data = random.Random(7).randbytes(int(sys.argv[4]))
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
h = hashlib.sha256()
n = 0
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
t.join()
s.close()
print(len(data), hashlib.sha256(data).hexdigest(), n, h.hexdigest())
"#;

const SERVER: &str = rvpp_tests::KERNEL_TCP_ECHO;

fn echo(ns: &Ns, script: &str, to: &str) -> (usize, String, usize, String, f64) {
    let t0 = Instant::now();
    let out = ns.exec(&["timeout", "120", PYTHON, script, "echo", to, &PORT.to_string(), &BYTES.to_string()]);
    let secs = t0.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "echo client to {to} failed ({}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f.len(), 4, "client output: {text}");
    (f[0].parse().unwrap_or(0), f[1].to_string(), f[2].parse().unwrap_or(0), f[3].to_string(), secs)
}

/// `show session` rows: (connection, state).
pub(super) fn sessions(d: &Daemon) -> Vec<(String, String)> {
    d.ctl_ok("show session")
        .lines()
        .filter(|l| l.starts_with('['))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.to_string(), f.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn kernel_client_gets_10mb_echoed_over_ip4_and_ip6_and_closed_port_is_refused() {
    require_host!("kernel_client_gets_10mb_echoed_over_ip4_and_ip6_and_closed_port_is_refused", &[PYTHON, "timeout"]);
    let mut lab = Lab::new("tcpe");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST4}/24"), None);
    lab.address(&ns, &format!("{HOST6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr {RVPP_MAC}\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP4}/24\n\
         set interface ip address {hif} {RVPP6}/64\n\
         test echo server uri tcp://0.0.0.0/{PORT}\n\
         test echo server uri tcp://::/{PORT}\n",
        ns.veth
    );
    let d = Daemon::builder("tcp-echo").startup_config(&startup).start();
    let dir = TempDir::new("tcp-echo-client");
    let script = dir.write("client.py", CLIENT);
    let script = script.to_str().expect("utf-8 path");

    // Listeners on both families.
    let listening = sessions(&d);
    for l in [format!("0.0.0.0:{PORT}->0.0.0.0:0"), format!("[::]:{PORT}->[::]:0")] {
        assert!(listening.contains(&(l.clone(), "LISTEN".into())), "no listener {l}:\n{}", d.ctl_ok("show session"));
    }
    ns.wait_ping(&[], RVPP4, WAIT);
    ns.wait_ping(&["-6"], RVPP6, WAIT);

    // An open connection is listed, then forgotten once the client goes.
    let mut hold = ns.spawn(&[PYTHON, script, "hold", RVPP4, &PORT.to_string()], dir.path(), "hold");
    let opened = wait_until(WAIT, || hold.stdout().starts_with("open "));
    assert!(opened, "hold client: {}{}", hold.stdout(), hold.stderr());
    let out = hold.stdout();
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.get(2), Some(&"ping"), "echoed greeting: {out}");
    let conn = format!("{RVPP4}:{PORT}->{HOST4}:{}", f[1]);
    let listed = sessions(&d);
    assert!(
        listed.contains(&(conn.clone(), "ESTABLISHED".into())),
        "show session lacks {conn}:\n{}",
        d.ctl_ok("show session")
    );
    let verbose = d.ctl_ok("show session verbose");
    assert!(verbose.contains("sack on") && verbose.contains("timestamps on"), "{verbose}");
    assert!(d.ctl_ok("show session").contains("Thread 0: active sessions 3"), "{}", d.ctl_ok("show session"));
    hold.stop("KILL", WAIT);
    let gone = wait_until(WAIT, || !sessions(&d).iter().any(|(c, _)| *c == conn));
    assert!(gone, "{conn} still listed after the client closed:\n{}", d.ctl_ok("show session"));

    // `clear session` resets an open connection (over IPv6 this time).
    let mut hold = ns.spawn(&[PYTHON, script, "hold", RVPP6, &PORT.to_string()], dir.path(), "hold6");
    let opened = wait_until(WAIT, || hold.stdout().starts_with("open "));
    assert!(opened, "hold client: {}{}", hold.stdout(), hold.stderr());
    assert!(sessions(&d).iter().any(|(_, s)| s == "ESTABLISHED"), "{}", d.ctl_ok("show session"));
    d.ctl_ok("clear session");
    let cleared = wait_until(WAIT, || sessions(&d).iter().all(|(_, s)| s == "LISTEN"));
    assert!(cleared, "clear session left:\n{}", d.ctl_ok("show session"));
    hold.stop("KILL", WAIT);

    // 10 MB each way, both families.
    let mut figures = Vec::new();
    for to in [RVPP4, RVPP6] {
        let (sent, sent_sha, got, got_sha, secs) = echo(&ns, script, to);
        assert_eq!(sent, BYTES);
        assert_eq!(got, sent, "bytes echoed back from {to}\n{}", d.ctl_ok("show errors"));
        assert_eq!(got_sha, sent_sha, "the echo from {to} differs from what was sent");
        figures.push(format!("{to}: {:.1} MB/s", 2.0 * BYTES as f64 / secs / 1e6));
    }

    // Nobody listens on PORT+1: the kernel's connect is refused (a RST).
    for to in [RVPP4, RVPP6] {
        let out = ns.ok(&["timeout", "30", PYTHON, script, "connect", to, &(PORT + 1).to_string()]);
        assert_eq!(out.trim(), "refused", "connect to {to}:{}", PORT + 1);
    }
    let stats = d.ctl_ok("show tcp stats");
    assert!(stats.contains("resets sent"), "{stats}");
    let errors = d.ctl_ok("show errors");
    for node in ["tcp4-input", "tcp6-input"] {
        assert_eq!(error_count(&errors, node, "bad tcp checksum"), 0, "{errors}");
    }
    let wait_closed = wait_until(WAIT, || sessions(&d).iter().all(|(_, s)| s == "LISTEN"));
    assert!(wait_closed, "sessions left after the transfers:\n{}", d.ctl_ok("show session verbose"));

    // `session disable`: the listeners go and TCP gets port unreachable
    // (the kernel's connect is refused all the same).
    d.ctl_ok("session disable");
    assert!(sessions(&d).is_empty(), "{}", d.ctl_ok("show session"));
    let out = ns.ok(&["timeout", "30", PYTHON, script, "connect", RVPP4, &PORT.to_string()]);
    assert_eq!(out.trim(), "refused");
    let errors = d.ctl_ok("show errors");
    assert!(error_count(&errors, "tcp4-input", "session layer disabled: port unreachable") >= 1, "{errors}");
    let refused = d.ctl(&format!("test echo server uri tcp://0.0.0.0/{PORT}"));
    assert!(refused.is_err_and(|e| e.contains("session enable")), "echo server started while disabled");
    eprintln!("tcp_echo: 10 MB echoed (both directions counted) {}", figures.join(", "));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

/// The same echo with two workers: the af_packet queue and so every flow
/// live on a worker, whose own table, session-queue node and listener copy
/// serve them; `show session` reports the flow under that worker's thread.
#[test]
fn echo_on_a_worker_thread() {
    require_host!("echo_on_a_worker_thread", &[PYTHON, "timeout"]);
    const RVPP: &str = "10.232.1.1";
    const HOST: &str = "10.232.1.2";
    let mut lab = Lab::new("tcpw");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST}/24"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr 02:fe:e8:01:01:01\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP}/24\n\
         test echo server uri tcp://{RVPP}/{PORT}\n",
        ns.veth
    );
    let d = Daemon::builder("tcp-echo-wk").workers(2).startup_config(&startup).start();
    let dir = TempDir::new("tcp-echo-wk");
    let script = dir.write("client.py", CLIENT);
    let script = script.to_str().expect("utf-8 path");
    let listing = d.ctl_ok("show session");
    for t in 0..3 {
        assert!(listing.contains(&format!("Thread {t}: active sessions 1")), "a listener per thread:\n{listing}");
    }
    ns.wait_ping(&[], RVPP, WAIT);
    let mut hold = ns.spawn(&[PYTHON, script, "hold", RVPP, &PORT.to_string()], dir.path(), "hold");
    assert!(wait_until(WAIT, || hold.stdout().starts_with("open ")), "{}{}", hold.stdout(), hold.stderr());
    let listing = d.ctl_ok("show session");
    let row = listing.lines().find(|l| l.contains("ESTABLISHED")).unwrap_or_else(|| panic!("{listing}"));
    assert!(!row.starts_with("[0:"), "the flow should be on a worker, not the main thread: {row}");
    hold.stop("KILL", WAIT);
    let (sent, sent_sha, got, got_sha, _) = echo(&ns, script, RVPP);
    assert_eq!((got, &got_sha), (sent, &sent_sha), "echo through a worker");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

/// rvpp's `test echo client` (active opens from an ephemeral port) against
/// the kernel's TCP: a Python echo server in the namespace (a thread per
/// connection; socat's PIPE can deadlock on its own 64 KiB pipe with bulk
/// data); every byte must come back as sent (the client checks each
/// against its pattern), both families.
#[test]
fn rvpp_echo_client_against_a_kernel_echo_server() {
    require_host!("rvpp_echo_client_against_a_kernel_echo_server", &[PYTHON, "ss"]);
    const RVPP: &str = "10.233.1.1";
    const HOST: &str = "10.233.1.2";
    const RVPP_6: &str = "fd00:233:1::1";
    const HOST_6: &str = "fd00:233:1::2";
    let mut lab = Lab::new("tcpc");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST}/24"), None);
    lab.address(&ns, &format!("{HOST_6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr 02:fe:e9:01:01:01\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP}/24\n\
         set interface ip address {hif} {RVPP_6}/64\n",
        ns.veth
    );
    let d = Daemon::builder("tcp-echo-client").startup_config(&startup).start();
    let dir = TempDir::new("tcp-echo-server");
    let server = dir.write("server.py", SERVER);
    let _server = ns.spawn(&[PYTHON, server.to_str().expect("utf-8 path"), &PORT.to_string()], dir.path(), "server");
    ns.wait_ping(&[], RVPP, WAIT);
    ns.wait_ping(&["-6"], RVPP_6, WAIT);
    let listening = wait_until(WAIT, || ns.ok(&["ss", "-ltn"]).contains(&format!(":{PORT}")));
    assert!(listening, "the echo server does not listen: {}", ns.ok(&["ss", "-ltn"]));
    let mut figures = Vec::new();
    for host in [HOST, HOST_6] {
        let out = d
            .ctl(&format!("test echo client uri tcp://{host}/{PORT} bytes 4m nclients 2 test-timeout 15"))
            .unwrap_or_else(|e| {
                panic!(
                    "{e}\n{}\n{}\n{}\n{}",
                    ns.ok(&["ss", "-tinoemp"]),
                    d.ctl_ok("show session verbose"),
                    d.ctl_ok("show tcp stats"),
                    d.ctl_ok("show errors")
                )
            });
        assert!(out.contains("2 three-way handshakes"), "{out}");
        let total = format!(" {} bytes (", 2 * 2 * (4 << 20));
        assert!(out.contains(&total), "both clients' 4 MB out and back:\n{out}");
        figures.push(format!("{host}: {}", out.lines().last().unwrap_or("").trim()));
    }
    // Nobody listens on PORT+1: the client reports the refusal.
    let refused = d.ctl(&format!("test echo client uri tcp://{HOST}/{} test-timeout 10", PORT + 1));
    assert!(refused.as_ref().is_err_and(|e| e.contains("failed")), "{refused:?}");
    eprintln!("tcp_echo client: {}", figures.join(", "));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

/// Malformed TCP from scapy in the namespace, each kind over IPv4 and IPv6.
const BAD_TCP: &str = r#"
import sys
from scapy.all import IP, IPv6, TCP, Raw, send
dst4, dst6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
for ip in (IP(dst=dst4), IPv6(dst=dst6)):
    send(ip / TCP(dport=port, flags="S", chksum=0x1234), verbose=0)        # bad checksum
    send(ip / TCP(dport=port, flags="S", dataofs=15), verbose=0)           # offset past the end
    send(ip / TCP(dport=port, flags="SF"), verbose=0)                      # SYN+FIN
    send(ip / TCP(dport=port, flags="S", dataofs=6) / Raw(b"\x02\x28\x05\xb4"), verbose=0)  # MSS overrun
    send(ip / TCP(dport=port, flags=0), verbose=0)                         # no flags
print("sent")
"#;

/// Malformed segments (bad checksum, data offset past the end, SYN+FIN, an
/// option overrunning the header, no flags) are counted drops per kind on
/// `tcp4-input` and `tcp6-input`, never answered, and the echo server goes on
/// serving.
#[test]
fn malformed_tcp_is_counted_and_the_echo_keeps_working() {
    require_host!("malformed_tcp_is_counted_and_the_echo_keeps_working", &["scapy"]);
    const RVPP: &str = "10.234.1.1";
    const HOST: &str = "10.234.1.2";
    const RVPP_6: &str = "fd00:234:1::1";
    const HOST_6: &str = "fd00:234:1::2";
    let mut lab = Lab::new("tcpb");
    let ns = lab.ns('a');
    lab.address(&ns, &format!("{HOST}/24"), None);
    lab.address(&ns, &format!("{HOST_6}/64"), None);
    let hif = ns.host_if();
    let startup = format!(
        "create host-interface name {} hw-addr 02:fe:ea:01:01:01\n\
         set interface state {hif} up\n\
         set interface ip address {hif} {RVPP}/24\n\
         set interface ip address {hif} {RVPP_6}/64\n\
         test echo server uri tcp://0.0.0.0/{PORT}\n\
         test echo server uri tcp://::/{PORT}\n",
        ns.veth
    );
    let d = Daemon::builder("tcp-bad").startup_config(&startup).start();
    let dir = TempDir::new("tcp-bad");
    let bad = dir.write("bad_tcp.py", BAD_TCP);
    let client = dir.write("client.py", CLIENT);
    ns.wait_ping(&[], RVPP, WAIT);
    ns.wait_ping(&["-6"], RVPP_6, WAIT);
    let out = ns.exec(&[PYTHON, bad.to_str().expect("utf-8"), RVPP, RVPP_6, &PORT.to_string()]);
    assert!(out.status.success(), "scapy: {}", rvpp_tests::netns::text(&out));
    let reasons =
        ["bad tcp checksum", "bad tcp data offset", "illegal tcp flag combination", "tcp option overruns the header"];
    let counted = wait_until(WAIT, || {
        let e = d.ctl_ok("show errors");
        ["tcp4-input", "tcp6-input"].iter().all(|n| {
            // SYN+FIN and the flagless segment both count as illegal flags.
            reasons.iter().all(|r| error_count(&e, n, r) >= 1)
                && error_count(&e, n, "illegal tcp flag combination") >= 2
        })
    });
    let errors = d.ctl_ok("show errors");
    assert!(counted, "each malformed kind counted on both nodes:\n{errors}");
    for n in ["tcp4-input", "tcp6-input"] {
        assert_eq!(error_count(&errors, n, "resets sent (no session or listener)"), 0, "{errors}");
        assert_eq!(error_count(&errors, n, "segments to sessions and listeners"), 0, "{errors}");
    }
    // The server still echoes, both families.
    for to in [RVPP, RVPP_6] {
        let out = ns.exec(&[
            "timeout",
            "60",
            PYTHON,
            client.to_str().expect("utf-8"),
            "echo",
            to,
            &PORT.to_string(),
            "1000000",
        ]);
        let f: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect();
        assert!(f.len() == 4 && f[0] == f[2] && f[1] == f[3], "echo to {to} after the bad input: {f:?}");
    }
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
