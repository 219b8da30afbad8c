//! The tap driver end to end: the real `rvpp` daemon creates two taps, each
//! moved into a network namespace of its own on one subnet, and
//! cross-connects them at L2; the Linux kernel in one namespace then pings
//! the other through rvpp (ARP and ICMP cross it as over a wire). Checks the
//! interface counters, `show hardware-interfaces`, idle CPU, and that
//! `delete tap` removes the host device.
//!
//! Needs root, /dev/net/tun, iproute2 and ping; without them each test says
//! so on stderr and returns (it never passes silently). The binaries come
//! from `cargo build --release --bins` (or `$RVPP_BIN_DIR`).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rvpp_tests::{parse_interfaces, wait_until, Daemon, WAIT_TIMEOUT};

/// Why this host cannot run the tests, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_string);
    if euid.as_deref() != Some("0") {
        return Some(format!("not root (effective uid {})", euid.as_deref().unwrap_or("unknown")));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    for (prog, arg) in [("ip", "-V"), ("ping", "-V")] {
        let ok = Command::new(prog).arg(arg).output().is_ok_and(|o| o.status.success());
        if !ok {
            return Some(format!("`{prog}` is not installed (iproute2, iputils-ping)"));
        }
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

fn run(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// A named network namespace, deleted on drop (test failure included).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("rvpp-{tag}-{}", std::process::id());
        let _ = run(&["ip", "netns", "del", &name]);
        let out = run(&["ip", "netns", "add", &name]);
        assert!(out.status.success(), "ip netns add {name}: {}", String::from_utf8_lossy(&out.stderr));
        Netns(name)
    }

    fn exec(&self, args: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend_from_slice(args);
        run(&v)
    }

    /// Whether the namespace holds a link named `ifname`.
    fn has_link(&self, ifname: &str) -> bool {
        run(&["ip", "-n", &self.0, "link", "show", "dev", ifname]).status.success()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
    }
}

/// A host interface name of this process's own (at most 15 bytes).
fn host_name(tag: &str) -> String {
    format!("rv{tag}{}", std::process::id() % 1_000_000)
}

/// Pings `to` from `ns`; returns (transmitted, received) and the output.
fn ping(ns: &Netns, extra: &[&str], to: &str, count: u32) -> (u32, u32, String) {
    let c = count.to_string();
    let mut args = vec!["ping", "-c", &c, "-i", "0.05", "-W", "2"];
    args.extend_from_slice(extra);
    args.push(to);
    let out = ns.exec(&args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find(|l| l.contains("packets transmitted")).unwrap_or("");
    let num = |pos: usize| -> u32 {
        line.split(", ").nth(pos).and_then(|f| f.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    (num(0), num(1), text)
}

/// Waits until `a` reaches `b` through rvpp (ARP settles, links come up).
fn wait_reachable(from: &Netns, extra: &[&str], to: &str) {
    let ok = wait_until(WAIT_TIMEOUT, || ping(from, extra, to, 1).1 == 1);
    assert!(ok, "{to} not reachable from {} within {WAIT_TIMEOUT:?}", from.0);
}

#[test]
fn two_taps_xconnected_carry_ping_between_namespaces() {
    require_host!("two_taps_xconnected_carry_ping_between_namespaces");
    let ns_a = Netns::new("tapA");
    let ns_b = Netns::new("tapB");
    let (if_a, if_b) = (host_name("a"), host_name("b"));
    let startup = format!(
        "create tap id 0 host-ns {} host-ip4-addr 10.77.0.2/24 host-if-name {if_a}\n\
         create tap id 1 host-ns {} host-ip4-addr 10.77.0.3/24 host-if-name {if_b}\n\
         set interface state tap0 up\n\
         set interface state tap1 up\n\
         set interface l2 xconnect tap0 tap1\n\
         set interface l2 xconnect tap1 tap0\n",
        ns_a.0, ns_b.0
    );
    // Declared after the namespaces, so it stops (closing the taps) first.
    let d = Daemon::builder("tap-e2e").startup_config(&startup).start();
    let log = d.log();
    assert!(!log.contains("failed"), "startup-config failed:\n{log}\n{}", d.stderr());
    assert!(ns_a.has_link(&if_a), "{if_a} not in {}", ns_a.0);
    assert!(ns_b.has_link(&if_b), "{if_b} not in {}", ns_b.0);
    let addr = String::from_utf8_lossy(&run(&["ip", "-n", &ns_a.0, "addr", "show", "dev", &if_a]).stdout).into_owned();
    assert!(addr.contains("inet 10.77.0.2/24"), "{addr}");
    assert!(addr.contains(",UP,"), "host side brought up: {addr}");

    // The pings, counted from a clean slate.
    d.ctl_ok("clear interfaces");
    let (sent, got, text) = ping(&ns_a, &[], "10.77.0.3", 10);
    assert_eq!((sent, got), (10, 10), "ping through rvpp:\n{text}");

    let c = d.interface_counters();
    let get = |i: &str, n: &str| c.get(&(i.to_string(), n.to_string())).copied().unwrap_or(0);
    // 10 echo requests (and an ARP request, unless the neighbour was still
    // cached) in on tap0, out on tap1; the replies the other way.
    let (rx0, tx1) = (get("tap0", "rx packets"), get("tap1", "tx packets"));
    let (rx1, tx0) = (get("tap1", "rx packets"), get("tap0", "tx packets"));
    assert!(rx0 >= 10 && rx1 >= 10, "{c:?}");
    assert_eq!(rx0, tx1, "everything in on tap0 leaves on tap1: {c:?}");
    assert_eq!(rx1, tx0, "everything in on tap1 leaves on tap0: {c:?}");
    assert_eq!(get("tap0", "rx bytes"), get("tap1", "tx bytes"), "{c:?}");
    assert!(get("tap0", "rx bytes") >= 10 * 98, "ICMP echo frames are 98 bytes: {c:?}");
    for i in ["tap0", "tap1"] {
        for n in ["drops", "rx-no-buf", "tx-error"] {
            assert_eq!(get(i, n), 0, "{i} {n}: {c:?}");
        }
    }

    let hw = d.ctl_ok("show hardware-interfaces");
    for want in [
        "tap interface".to_string(),
        format!("host-if-name {if_a}, host-ns {}", ns_a.0),
        format!("host-if-name {if_b}, host-ns {}", ns_b.0),
        "rx queues 1".to_string(),
        "host-ip4-addr 10.77.0.3/24".to_string(),
        "rx too-long 0".to_string(),
    ] {
        assert!(hw.contains(&want), "no '{want}' in:\n{hw}");
    }

    // Idle: the rx fds let the daemon sleep.
    let t0 = (d.cpu_time(), Instant::now());
    // The measurement window itself: nothing is asserted until it is over.
    std::thread::sleep(Duration::from_secs(1));
    let busy = (d.cpu_time() - t0.0).as_secs_f64() / t0.1.elapsed().as_secs_f64();
    assert!(busy < 0.2, "idle rvpp with two taps used {:.0} % CPU", busy * 100.0);

    // Admin down drops the host carrier; up restores it.
    d.ctl_ok("set interface state tap1 down");
    let link =
        || String::from_utf8_lossy(&run(&["ip", "-n", &ns_b.0, "link", "show", "dev", &if_b]).stdout).into_owned();
    assert!(wait_until(WAIT_TIMEOUT, || link().contains("NO-CARRIER")), "{}", link());
    d.ctl_ok("set interface state tap1 up");
    assert!(wait_until(WAIT_TIMEOUT, || link().contains("LOWER_UP")), "{}", link());

    // delete tap: the rvpp interface and the host device are gone.
    d.ctl_ok("delete tap tap1");
    let names: Vec<String> = parse_interfaces(&d.ctl_ok("show interface")).into_iter().map(|r| r.name).collect();
    assert!(names.contains(&"tap0".to_string()), "{names:?}");
    assert!(!names.contains(&"tap1".to_string()), "{names:?}");
    assert!(wait_until(WAIT_TIMEOUT, || !ns_b.has_link(&if_b)), "{if_b} still in {} after delete tap", ns_b.0);
    let err = d.ctl("delete tap tap1").expect_err("tap1 is gone");
    assert!(err.contains("'tap1'"), "{err}");
    assert!(ns_a.has_link(&if_a), "tap0's host side stays");
}

#[test]
fn jumbo_frames_cross_multiqueue_taps_on_workers() {
    require_host!("jumbo_frames_cross_multiqueue_taps_on_workers");
    let ns_a = Netns::new("tapJA");
    let ns_b = Netns::new("tapJB");
    let (if_a, if_b) = (host_name("ja"), host_name("jb"));
    let common = "host-mtu-size 9000 num-rx-queues 2";
    let startup = format!(
        "create tap host-ns {} host-ip4-addr 10.77.1.2/24 host-ip6-addr fd00:77:1::2/64 \
           host-if-name {if_a} host-mac-addr 02:00:00:77:01:02 {common}\n\
         create tap host-ns {} host-ip4-addr 10.77.1.3/24 host-ip6-addr fd00:77:1::3/64 \
           host-if-name {if_b} {common}\n\
         set interface state tap0 up\n\
         set interface state tap1 up\n\
         set interface l2 xconnect tap0 tap1\n\
         set interface l2 xconnect tap1 tap0\n",
        ns_a.0, ns_b.0
    );
    let d = Daemon::builder("tap-jumbo").workers(2).startup_config(&startup).start();
    let log = d.log();
    assert!(!log.contains("failed"), "startup-config failed:\n{log}");

    let placement = d.ctl_ok("show interface rx-placement");
    for (t, q) in [("rvpp_wk_0", "tap0 queue 0"), ("rvpp_wk_1", "tap0 queue 1")] {
        assert!(placement.contains(t) && placement.contains(q), "{placement}");
    }
    let link =
        String::from_utf8_lossy(&run(&["ip", "-d", "-n", &ns_a.0, "link", "show", "dev", &if_a]).stdout).into_owned();
    assert!(link.contains("mtu 9000"), "{link}");
    assert!(link.contains("02:00:00:77:01:02"), "{link}");
    assert!(link.contains("numqueues 2"), "{link}");

    // 8000-byte pings: 8042-byte frames, chained over four buffers.
    wait_reachable(&ns_a, &[], "10.77.1.3");
    d.ctl_ok("clear interfaces");
    let (sent, got, text) = ping(&ns_a, &["-s", "8000", "-M", "do"], "10.77.1.3", 10);
    assert_eq!((sent, got), (10, 10), "jumbo ping through rvpp:\n{text}");
    let c = d.interface_counters();
    let get = |i: &str, n: &str| c.get(&(i.to_string(), n.to_string())).copied().unwrap_or(0);
    assert!(get("tap0", "rx bytes") >= 10 * 8042, "{c:?}");
    assert_eq!(get("tap0", "rx bytes"), get("tap1", "tx bytes"), "{c:?}");
    assert_eq!(get("tap1", "rx bytes"), get("tap0", "tx bytes"), "{c:?}");

    // IPv6 (neighbour discovery is multicast) crosses too; DAD may hold
    // the addresses tentative for a moment.
    wait_reachable(&ns_a, &["-6"], "fd00:77:1::3");
}
