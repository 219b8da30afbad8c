//! The af_packet driver end to end: two network namespaces, each joined by a
//! veth pair to the root namespace, where the real `rvpp` daemon takes the
//! root ends as `host-<veth>` interfaces and cross-connects them at L2. rvpp
//! is then a wire between the namespaces, so the kernel's own ARP, ping,
//! TCP (veth's 64 KiB GSO packets and partial checksums included) and UDP
//! work across it. Checks loss, counters, `show hardware-interfaces`, idle
//! CPU in interrupt mode, VLAN tags, and delete/re-create; prints the RTT
//! and iperf3 throughput (figures, not assertions).
//!
//! Needs root and iproute2 with `ip netns`; without them each test says so
//! on stderr and returns (it never passes silently). iperf3 is installed
//! with apt-get when missing; the VLAN probe needs python3. The binaries
//! come from `cargo build --release --bins` (or `$RVPP_BIN_DIR`).

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rvpp_tests::{parse_interface_counters, parse_interfaces, wait_until, Daemon};

/// The RTT this project wants across rvpp at 10 pings/s.
const RTT_BAR_MS: f64 = 0.3;

fn run(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(prog: &str, arg: &str) -> bool {
    Command::new(prog).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Why this host cannot run the namespace tests, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some(format!("not root (effective uid {})", euid.unwrap_or("unknown")));
    }
    if !have("ip", "-V") || !run(&["ip", "netns", "list"]).status.success() {
        return Some("`ip netns` is not available (iproute2)".into());
    }
    if !have("ping", "-V") {
        return Some("`ping` is not installed (iputils-ping)".into());
    }
    None
}

macro_rules! require_host {
    ($test:expr) => {
        if let Some(why) = missing_prerequisite() {
            eprintln!("SKIPPED {}: {why}", $test);
            return;
        }
    };
}

/// Two namespaces, a veth pair into each, the namespace ends addressed on
/// one subnet; all deleted on drop (failures included).
struct Topology {
    ns: [String; 2],
    /// Root-namespace ends (rvpp's side).
    host: [String; 2],
    /// Namespace ends.
    peer: [String; 2],
    /// The namespace ends' IPv4 addresses.
    addr: [String; 2],
}

impl Topology {
    fn new(tag: &str) -> Topology {
        let pid = std::process::id();
        let ns = [format!("rvpp-{tag}a-{pid}"), format!("rvpp-{tag}b-{pid}")];
        let host = [format!("{tag}a{pid}"), format!("{tag}b{pid}")];
        let peer = [format!("{tag}a{pid}p"), format!("{tag}b{pid}p")];
        let net = 100 + pid % 100;
        let addr = [format!("10.{net}.1.1"), format!("10.{net}.1.2")];
        let t = Topology { ns, host, peer, addr };
        t.teardown();
        for k in 0..2 {
            ok(&["ip", "netns", "add", &t.ns[k]]);
            ok(&["ip", "link", "add", &t.host[k], "type", "veth", "peer", "name", &t.peer[k]]);
            ok(&["ip", "link", "set", &t.peer[k], "netns", &t.ns[k]]);
            ok(&["ip", "-n", &t.ns[k], "addr", "add", &format!("{}/24", t.addr[k]), "dev", &t.peer[k]]);
            ok(&["ip", "-n", &t.ns[k], "link", "set", &t.peer[k], "up"]);
            ok(&["ip", "-n", &t.ns[k], "link", "set", "lo", "up"]);
            // rvpp's side is left down: creating the interface brings it up.
        }
        t
    }

    fn exec(&self, k: usize, args: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.ns[k]];
        v.extend_from_slice(args);
        run(&v)
    }

    fn teardown(&self) {
        for k in 0..2 {
            let _ = run(&["ip", "netns", "del", &self.ns[k]]);
            let _ = run(&["ip", "link", "del", &self.host[k]]);
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// A process started in the background, killed on drop.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rtt min/avg/max/mdev = a/b/c/d ms` and the loss percentage of ping.
fn ping_summary(text: &str) -> (f64, Option<[f64; 4]>) {
    let loss = text
        .split(',')
        .find(|f| f.contains("packet loss"))
        .and_then(|f| f.split_whitespace().next())
        .and_then(|p| p.trim_end_matches('%').parse().ok())
        .unwrap_or(100.0);
    let rtt = text.lines().find(|l| l.starts_with("rtt") || l.starts_with("round-trip")).and_then(|l| {
        let v: Vec<f64> =
            l.split('=').nth(1)?.split_whitespace().next()?.split('/').filter_map(|x| x.parse().ok()).collect();
        (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
    });
    (loss, rtt)
}

/// Per-packet RTTs (`time=0.123 ms`) of ping's output, sorted.
fn ping_times(text: &str) -> Vec<f64> {
    let mut v: Vec<f64> =
        text.split_whitespace().filter_map(|w| w.strip_prefix("time=")).filter_map(|t| t.parse().ok()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The receiver's rate from iperf3's summary, as text (`1.23 Gbits/sec`).
fn iperf_receiver_rate(text: &str) -> Option<String> {
    let line = text.lines().rev().find(|l| l.trim_end().ends_with("receiver"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let k = f.iter().position(|w| w.ends_with("bits/sec"))?;
    Some(format!("{} {}", f.get(k - 1)?, f[k]))
}

/// iperf3, installed when missing (root, Debian).
fn iperf3_available() -> bool {
    if have("iperf3", "--version") {
        return true;
    }
    eprintln!("iperf3 missing: apt-get install -y iperf3");
    let apt = |args: &[&str]| {
        let _ = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    apt(&["install", "-y", "-q", "iperf3"]);
    if !have("iperf3", "--version") {
        // A fresh machine may have no package lists yet.
        apt(&["update", "-q"]);
        apt(&["install", "-y", "-q", "iperf3"]);
    }
    have("iperf3", "--version")
}

/// Runs a 3 s iperf3 TCP test from namespace 0 to namespace 1's server;
/// `reverse` makes the server send. Returns the receiver's rate.
fn iperf3(t: &Topology, port: u16, args: &[&str]) -> String {
    let port_s = port.to_string();
    let server = Command::new("ip")
        .args(["netns", "exec", &t.ns[1], "iperf3", "-s", "-1", "-p", &port_s])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the iperf3 server");
    let _server = Background(server);
    let listening = wait_until(Duration::from_secs(10), || {
        let out = t.exec(1, &["ss", "-Hltn", &format!("sport = :{port}")]);
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    });
    assert!(listening, "iperf3 server did not listen on port {port}");
    let mut v = vec!["iperf3", "-c", &t.addr[1], "-p", &port_s, "-t", "3"];
    v.extend_from_slice(args);
    let out = t.exec(0, &v);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "iperf3 {args:?} failed:\n{text}");
    iperf_receiver_rate(&text).unwrap_or_else(|| panic!("no receiver line in:\n{text}"))
}

fn counters(d: &Daemon) -> impl Fn(&str, &str) -> u64 {
    let c = parse_interface_counters(&d.ctl_ok("show interface"));
    move |i: &str, n: &str| c.get(&(i.to_string(), n.to_string())).copied().unwrap_or(0)
}

/// Every packet rvpp received on one side left on the other, or is counted
/// as a drop or tx error; returns the rx count.
fn assert_wire_counts(d: &Daemon, from: &str, to: &str) -> u64 {
    let show = d.ctl_ok("show interface");
    let get = counters(d);
    let rx = get(from, "rx packets");
    let accounted = get(to, "tx packets") + get(to, "tx-error") + get(from, "drops");
    assert_eq!(rx, accounted, "{from} rx vs {to} tx + tx-error + {from} drops:\n{show}");
    assert!(get(from, "rx bytes") >= rx * 42, "{show}");
    rx
}

#[test]
fn af_packet_is_a_wire_between_namespaces() {
    require_host!("af_packet_is_a_wire_between_namespaces");
    let t = Topology::new("ap");
    let (va, vb) = (&t.host[0], &t.host[1]);
    let (hva, hvb) = (format!("host-{va}"), format!("host-{vb}"));
    let startup = format!(
        "create host-interface name {va} num-rx-queues 2\n\
         create host-interface name {vb}\n\
         set interface state {hva} up\n\
         set interface state {hvb} up\n\
         set interface l2 xconnect {hva} {hvb}\n\
         set interface l2 xconnect {hvb} {hva}\n"
    );
    let d = Daemon::builder("afpacket").workers(1).buffers(8192).startup_config(&startup).start();
    let names: Vec<String> = parse_interfaces(&d.ctl_ok("show interface")).into_iter().map(|r| r.name).collect();
    assert!(names.contains(&hva) && names.contains(&hvb), "{names:?}\n{}", d.log());

    // Loss: none.
    let out = t.exec(0, &["ping", "-c", "20", "-i", "0.05", "-W", "2", &t.addr[1]]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (loss, _) = ping_summary(&text);
    assert_eq!(loss, 0.0, "ping across rvpp lost packets:\n{text}\n{}", d.ctl_ok("show hardware-interfaces"));

    // Latency at 10 pings/s: a figure for the report, not an assertion.
    let out = t.exec(0, &["ping", "-c", "50", "-i", "0.1", "-W", "2", &t.addr[1]]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (loss, rtt) = ping_summary(&text);
    assert_eq!(loss, 0.0, "{text}");
    let rtt = rtt.expect("ping prints an rtt line");
    let times = ping_times(&text);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    eprintln!(
        "af_packet RTT across rvpp (ping -i 0.1 -c 50): min {:.3} avg {:.3} median {median:.3} max {:.3} ms; \
         bar {RTT_BAR_MS} ms: {}",
        rtt[0],
        rtt[1],
        rtt[2],
        if rtt[1] <= RTT_BAR_MS { "met" } else { "NOT met on average (see median: host wakeup jitter)" }
    );

    // TCP both ways, through GSO segmentation and checksum completion.
    if iperf3_available() {
        let fwd = iperf3(&t, 5201, &[]);
        let rev = iperf3(&t, 5202, &["-R"]);
        eprintln!("af_packet iperf3 TCP 3 s across rvpp: {fwd} forward, {rev} reverse");
    } else {
        eprintln!("SKIPPED iperf3 part of af_packet_is_a_wire_between_namespaces: iperf3 not installable");
    }

    // Counters agree across the wire, both directions.
    let a = assert_wire_counts(&d, &hva, &hvb);
    let b = assert_wire_counts(&d, &hvb, &hva);
    assert!(a >= 70 && b >= 70, "pings crossed both ways: {a} {b}");

    // The driver's own lines.
    let hw = d.ctl_ok("show hardware-interfaces");
    for want in [
        "af_packet interface".to_string(),
        format!("host-interface {va} (kernel ifindex"),
        "rx: TPACKET_V2 ring per queue".into(),
        "rx queues 2, fanout hash group".into(),
        "queue 1: packets".into(),
        "tx: TPACKET_V2 ring per thread".into(),
        "qdisc bypass".into(),
        "thread 1: packets".into(),
    ] {
        assert!(hw.contains(&want), "no '{want}' in show hardware-interfaces:\n{hw}");
    }
    let errors: Vec<String> = rvpp_tests::parse_errors(&d.ctl_ok("show errors"))
        .into_iter()
        .filter(|((node, _), n)| node == "af-packet-input" && *n > 0)
        .map(|((_, reason), n)| format!("{reason} {n}"))
        .collect();
    eprintln!("af_packet rx drops by reason (show errors): {errors:?}");
    let placement = d.ctl_ok("show interface rx-placement");
    assert!(placement.contains("(interrupt)"), "{placement}");

    // Idle in interrupt mode: the threads sleep on the sockets.
    std::thread::sleep(Duration::from_millis(500));
    let c0 = d.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let used = d.cpu_time() - c0;
    eprintln!("af_packet idle CPU over 2 s in interrupt mode: {used:?}");
    assert!(used < Duration::from_millis(300), "an idle daemon should sleep, it used {used:?} in 2 s");

    vlan_tags_cross(&t);

    // Delete and re-create: the sockets go (promiscuous mode with them),
    // and a new interface works.
    d.ctl_ok(&format!("delete host-interface name {vb}"));
    let names: Vec<String> = parse_interfaces(&d.ctl_ok("show interface")).into_iter().map(|r| r.name).collect();
    assert!(!names.contains(&hvb), "{names:?}");
    let link = ok(&["ip", "link", "show", "dev", vb]);
    assert!(!link.contains("PROMISC"), "promiscuous mode outlived the sockets: {link}");
    assert_eq!(d.ctl_ok(&format!("create host-interface name {vb} mode polling")).trim(), hvb);
    for cmd in [
        format!("set interface state {hvb} up"),
        format!("set interface l2 xconnect {hva} {hvb}"),
        format!("set interface l2 xconnect {hvb} {hva}"),
    ] {
        d.ctl_ok(&cmd);
    }
    let out = t.exec(0, &["ping", "-c", "5", "-i", "0.05", "-W", "2", &t.addr[1]]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(ping_summary(&text).0, 0.0, "after re-create:\n{text}");
}

/// A VLAN-tagged frame sent in namespace 0 arrives tagged in namespace 1
/// (the kernel takes tags out of ring frames; rvpp must put them back).
fn vlan_tags_cross(t: &Topology) {
    if !have("python3", "-V") {
        eprintln!("SKIPPED VLAN part of af_packet_is_a_wire_between_namespaces: python3 is not installed");
        return;
    }
    const PROBE: &str = r#"
import socket, struct, sys, time
mode, ifn = sys.argv[1], sys.argv[2]
tag = b"rvpp-vlan-probe"
if mode == "send":
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0); s.bind((ifn, 0))
    f = bytes.fromhex("ffffffffffff02aabbccdd018100006488b5") + tag + bytes(30)
    for _ in range(20):
        s.send(f); time.sleep(0.05)
    sys.exit(0)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind((ifn, 0))
s.setsockopt(263, 8, 1)
s.settimeout(0.2)
print("ready", flush=True)
end = time.time() + 5
while time.time() < end:
    try:
        data, anc, _, addr = s.recvmsg(4096, 256)
    except socket.timeout:
        continue
    if addr[2] == 4 or tag not in data:
        continue
    for lvl, ty, d in anc:
        if lvl == 263 and ty == 8:
            st, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", d[:24])
            if st & 0x10:
                print("tci %d tpid %#x" % (tci & 0xfff, tpid)); sys.exit(0)
    if data[12:16] == bytes.fromhex("81000064"):
        print("tci 100 in-band"); sys.exit(0)
print("untagged"); sys.exit(1)
"#;
    let mut recv = Command::new("ip")
        .args(["netns", "exec", &t.ns[1], "python3", "-c", PROBE, "recv", &t.peer[1]])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the VLAN receiver");
    let mut line = String::new();
    let stdout = recv.stdout.take().expect("receiver stdout");
    let mut reader = std::io::BufReader::new(stdout);
    std::io::BufRead::read_line(&mut reader, &mut line).expect("receiver says ready");
    assert_eq!(line.trim(), "ready");
    let sent = t.exec(0, &["python3", "-c", PROBE, "send", &t.peer[0]]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let out = recv.wait_with_output().expect("VLAN receiver ends");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    assert!(out.status.success() && rest.contains("tci 100"), "tagged frame lost its tag across rvpp: {rest}");
}

#[test]
fn host_interface_errors_name_the_token() {
    // No namespaces, no root: the kernel interface lookup fails first.
    let d = Daemon::start("afpacket-errors");
    let e = d.ctl("create host-interface name rvpp-nonexistent0").unwrap_err();
    assert!(e.contains("create host-interface: no such kernel interface 'rvpp-nonexistent0'"), "{e}");
    let e = d.ctl("create host-interface num-rx-queues 2").unwrap_err();
    assert!(e.contains("create host-interface: expected name <kernel interface>"), "{e}");
    let e = d.ctl("create host-interface name lo num-rx-queues 0").unwrap_err();
    assert!(e.contains("num-rx-queues 0 is out of range"), "{e}");
    let e = d.ctl("create host-interface name lo mode turbo").unwrap_err();
    assert!(e.contains("mode 'turbo'"), "{e}");
    let e = d.ctl("delete host-interface name rvpp-nonexistent0").unwrap_err();
    assert!(e.contains("delete host-interface: no host-interface for 'rvpp-nonexistent0'"), "{e}");
    assert_eq!(parse_interfaces(&d.ctl_ok("show interface")).len(), 1, "only local0");
}
