//! Network namespaces, veth pairs and the kernel's own tools, for the IP
//! end-to-end tests (`tests/tests/ip_*.rs`).
//!
//! A [`Lab`] owns everything a test creates in the kernel: its namespaces
//! and the root-namespace ends of its veth pairs, all named from the test's
//! tag and the process id so tests run in parallel, and all deleted when the
//! lab is dropped, a failing test included. Each [`Ns`] is one namespace
//! with (usually) one veth pair: `eth0` inside, and the root-namespace end
//! that rvpp takes as `host-<veth>`.
//!
//! The peers are programs nobody here wrote (ping, iperf3, traceroute,
//! tshark, scapy under `/usr/bin/python3`); [`missing`] says which of them a
//! host lacks, and a test skips loudly with [`require_host!`] — only when it
//! is not root or a tool is truly missing (`scripts/test.sh` installs them).
//!
//! [`require_host!`]: crate::require_host

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::{send_signal, wait_until};

/// The Python that has scapy (Debian's python3-scapy), not whatever
/// `python3` comes first on `PATH`.
pub const PYTHON: &str = "/usr/bin/python3";

/// Runs a program to completion; panics when it cannot be started.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Runs a program that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?} failed ({}):\n{}", out.status, text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout then stderr, as text.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Whether `prog` is an executable on `PATH` (or an executable path).
pub fn have(prog: &str) -> bool {
    let is_exec = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if prog.contains('/') {
        return is_exec(Path::new(prog));
    }
    std::env::var_os("PATH").map(|paths| std::env::split_paths(&paths).any(|d| is_exec(&d.join(prog)))).unwrap_or(false)
}

/// The effective uid, from /proc/self/status.
fn euid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().nth(1).map(str::to_string)
}

/// Why this host cannot run a namespace test needing `tools`, if it cannot:
/// not root, no `ip netns`, or a tool missing. `"scapy"` stands for
/// python3-scapy under [`PYTHON`].
pub fn missing(tools: &[&str]) -> Option<String> {
    let uid = euid();
    if uid.as_deref() != Some("0") {
        return Some(format!("not root (effective uid {})", uid.as_deref().unwrap_or("unknown")));
    }
    if !have("ip") || !run(&["ip", "netns", "list"]).status.success() {
        return Some("`ip netns` is not available (iproute2)".into());
    }
    for &t in tools {
        let present = match t {
            "scapy" => Command::new(PYTHON)
                .args(["-c", "import scapy.all"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            _ => have(t),
        };
        if !present {
            return Some(format!("`{t}` is not installed (scripts/test.sh installs it)"));
        }
    }
    None
}

/// Returns from the test, saying so on stderr, when [`missing`] finds a
/// reason: `require_host!("ip_ping", &["ping"]);`
#[macro_export]
macro_rules! require_host {
    ($test:expr, $tools:expr) => {
        if let Some(why) = $crate::netns::missing($tools) {
            eprintln!("SKIPPED {}: {why}", $test);
            return;
        }
    };
}

/// One namespace of a [`Lab`].
#[derive(Clone, Debug)]
pub struct Ns {
    /// The namespace's name (`ip netns`).
    pub name: String,
    /// The root-namespace end of its veth pair (rvpp's `host-<veth>`);
    /// empty for a namespace without one.
    pub veth: String,
}

/// The namespace end of every veth pair.
pub const PEER: &str = "eth0";

impl Ns {
    /// rvpp's name for the root end: `host-<veth>`.
    pub fn host_if(&self) -> String {
        format!("host-{}", self.veth)
    }

    /// `ip netns exec <ns> args...`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    /// Runs a program in the namespace to completion.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap_or_else(|e| panic!("cannot run {args:?} in {}: {e}", self.name))
    }

    /// Runs a program in the namespace that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(out.status.success(), "{args:?} in {} failed ({}):\n{}", self.name, out.status, text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip <args>` in the namespace, which must succeed.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        ok(&v)
    }

    /// Starts a program in the namespace in the background, its stdout and
    /// stderr sent to files under `dir`; killed when the guard drops.
    pub fn spawn(&self, args: &[&str], dir: &Path, name: &str) -> Background {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("create a stdout file"))
            .stderr(std::fs::File::create(&err).expect("create a stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?} in {}: {e}", self.name));
        Background { child: Some(child), out, err }
    }

    /// Pings `to` (`ping <extra...> -c <count> to`) and parses the result.
    pub fn ping(&self, extra: &[&str], to: &str, count: u32) -> PingResult {
        let c = count.to_string();
        let mut v = vec!["ping"];
        v.extend_from_slice(extra);
        v.extend_from_slice(&["-c", &c, to]);
        let out = self.exec(&v);
        PingResult::parse(&text(&out))
    }

    /// Polls single pings until one is answered; panics after `timeout`
    /// with the last output. The first packet towards a neighbor rvpp has
    /// not resolved yet is dropped (as VPP's glean does), so tests warm a
    /// path up with this before counting loss.
    pub fn wait_ping(&self, extra: &[&str], to: &str, timeout: Duration) {
        let mut last = String::new();
        let mut v: Vec<&str> = vec!["-W", "1"];
        v.extend_from_slice(extra);
        let answered = wait_until(timeout, || {
            let r = self.ping(&v, to, 1);
            last = r.text.clone();
            r.received == 1
        });
        assert!(answered, "{to} did not answer a ping from {} within {timeout:?}; last try:\n{last}", self.name);
    }

    /// Whether the kernel's neighbor table on `eth0` lists `addr` at `mac`
    /// (in a usable state).
    pub fn kernel_neighbor(&self, addr: &str, mac: &str) -> bool {
        let out = run(&["ip", "-n", &self.name, "neigh", "show", "dev", PEER, "to", addr]);
        String::from_utf8_lossy(&out.stdout).lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&addr)
                && f.windows(2).any(|w| w[0] == "lladdr" && w[1].eq_ignore_ascii_case(mac))
                && !l.contains("FAILED")
                && !l.contains("INCOMPLETE")
        })
    }

    /// The MAC address of `eth0`.
    pub fn mac(&self) -> String {
        let out = self.ip(&["-o", "link", "show", "dev", PEER]);
        let f: Vec<&str> = out.split_whitespace().collect();
        let k = f.iter().position(|&w| w == "link/ether").unwrap_or_else(|| panic!("no link/ether in {out}"));
        f[k + 1].to_string()
    }
}

/// A program running in the background; SIGKILLed (and reaped) on drop.
pub struct Background {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Background {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the program wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// What the program wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Sends `signal` and waits up to `timeout` for the program to exit;
    /// returns whether it did (it is killed otherwise).
    pub fn stop(&mut self, signal: &str, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        send_signal(child.id(), signal);
        let exited = wait_until(timeout, || matches!(child.try_wait(), Ok(Some(_))));
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
        exited
    }

    /// Whether the program is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What `ping` printed, parsed.
#[derive(Clone, Debug, Default)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    /// Error replies (`+N errors`).
    pub errors: u32,
    /// min/avg/max/mdev in ms, when any reply came.
    pub rtt: Option<[f64; 4]>,
    pub text: String,
}

impl PingResult {
    pub fn parse(text: &str) -> PingResult {
        let mut r = PingResult { text: text.to_string(), ..Default::default() };
        if let Some(line) = text.lines().find(|l| l.contains("packets transmitted")) {
            for field in line.split(", ") {
                let mut w = field.split_whitespace();
                let (Some(n), Some(what)) = (w.next(), w.next()) else { continue };
                let n = n.trim_start_matches('+').parse().unwrap_or(0);
                match what {
                    "packets" => r.transmitted = n,
                    "received" => r.received = n,
                    "errors" => r.errors = n,
                    _ => {}
                }
            }
        }
        r.rtt = text.lines().find(|l| l.starts_with("rtt") || l.starts_with("round-trip")).and_then(|l| {
            let v: Vec<f64> =
                l.split('=').nth(1)?.split_whitespace().next()?.split('/').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
        });
        r
    }

    pub fn lost(&self) -> u32 {
        self.transmitted.saturating_sub(self.received)
    }

    /// `min/avg/max = a/b/c ms` for a report line.
    pub fn rtt_line(&self) -> String {
        match self.rtt {
            Some([min, avg, max, _]) => format!("rtt min/avg/max {min:.3}/{avg:.3}/{max:.3} ms"),
            None => "no rtt".into(),
        }
    }
}

/// Everything one test creates in the kernel, deleted on drop.
pub struct Lab {
    tag: String,
    namespaces: Vec<String>,
    links: Vec<String>,
}

impl Lab {
    /// `tag`: a few lowercase letters naming the test (at most 4, so the
    /// veth names `<tag><pid><letter>` stay within 15 bytes).
    pub fn new(tag: &str) -> Lab {
        assert!(tag.len() <= 4 && tag.bytes().all(|b| b.is_ascii_lowercase()), "bad lab tag {tag:?}");
        Lab { tag: tag.to_string(), namespaces: Vec::new(), links: Vec::new() }
    }

    fn ns_name(&self, letter: char) -> String {
        format!("rvpp-{}{letter}-{}", self.tag, std::process::id())
    }

    /// A namespace with loopback up and no veth.
    pub fn bare_ns(&mut self, letter: char) -> Ns {
        let name = self.ns_name(letter);
        let _ = run(&["ip", "netns", "del", &name]);
        self.namespaces.push(name.clone());
        ok(&["ip", "netns", "add", &name]);
        ok(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Ns { name, veth: String::new() }
    }

    /// A namespace joined to the root namespace by a veth pair: `eth0`
    /// inside (up, no address yet), `<tag><pid><letter>` outside (left
    /// down: rvpp's `create host-interface` brings it up).
    pub fn ns(&mut self, letter: char) -> Ns {
        let mut ns = self.bare_ns(letter);
        let veth = format!("{}{}{letter}", self.tag, std::process::id());
        assert!(veth.len() <= 15, "{veth} is too long for an interface name");
        let _ = run(&["ip", "link", "del", &veth]);
        self.links.push(veth.clone());
        ok(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", PEER, "netns", &ns.name]);
        // The root end carries no addresses and should say nothing of its
        // own on rvpp's wire (router solicitations, MLD reports).
        let _ = run(&["sysctl", "-qw", &format!("net.ipv6.conf.{veth}.disable_ipv6=1")]);
        ns.ip(&["link", "set", PEER, "up"]);
        ns.veth = veth;
        ns
    }

    /// Adds `addr` (`a/len`, either family; IPv6 without duplicate address
    /// detection) to the namespace's `eth0`, and when `gateway` is given a
    /// default route of that family through it.
    pub fn address(&self, ns: &Ns, addr: &str, gateway: Option<&str>) {
        let dev = PEER;
        if addr.contains(':') {
            ns.ip(&["-6", "addr", "add", addr, "dev", dev, "nodad"]);
        } else {
            ns.ip(&["addr", "add", addr, "dev", dev]);
        }
        if let Some(gw) = gateway {
            let fam = if gw.contains(':') { "-6" } else { "-4" };
            ns.ip(&[fam, "route", "add", "default", "via", gw, "dev", dev]);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        // Deleting a namespace deletes its end of a pair and with it ours;
        // this catches pairs whose peer never moved.
        for l in &self.links {
            let _ = Command::new("ip").args(["link", "del", l]).stderr(Stdio::null()).status();
        }
    }
}

/// The usual routed topology: namespaces `a` and `b`, each on a veth pair
/// to rvpp, on subnets of their own (`10.<n>.1.0/24` + `fd00:<n>:1::/64`,
/// `10.<n>.2.0/24` + `fd00:<n>:2::/64`; rvpp is `.1` / `::1` on each, the
/// namespace `.2` / `::2`) with default routes of both families via rvpp.
/// `n` is the test file's own number, so tests never share a subnet.
pub struct TwoSubnets {
    pub a: Ns,
    pub b: Ns,
    pub n: u8,
    /// Last: the namespaces go after everything else is dropped.
    pub lab: Lab,
}

impl TwoSubnets {
    pub fn new(tag: &str, n: u8) -> TwoSubnets {
        let mut lab = Lab::new(tag);
        let a = lab.ns('a');
        let b = lab.ns('b');
        let t = TwoSubnets { a, b, n, lab };
        for (ns, side) in [(&t.a, 1), (&t.b, 2)] {
            t.lab.address(ns, &format!("{}/24", t.host4(side)), Some(&t.rvpp4(side)));
            t.lab.address(ns, &format!("{}/64", t.host6(side)), Some(&t.rvpp6(side)));
        }
        t
    }

    /// rvpp's IPv4 address on side 1 (a) or 2 (b).
    pub fn rvpp4(&self, side: u8) -> String {
        format!("10.{}.{side}.1", self.n)
    }

    pub fn host4(&self, side: u8) -> String {
        format!("10.{}.{side}.2", self.n)
    }

    pub fn rvpp6(&self, side: u8) -> String {
        format!("fd00:{}:{side}::1", self.n)
    }

    pub fn host6(&self, side: u8) -> String {
        format!("fd00:{}:{side}::2", self.n)
    }

    /// rvpp's MAC on side 1 or 2 (`hw-addr` of its host-interface).
    pub fn rvpp_mac(&self, side: u8) -> String {
        format!("02:fe:{:02x}:{side:02x}:00:01", self.n)
    }

    /// The namespace of side 1 or 2.
    pub fn side(&self, side: u8) -> &Ns {
        if side == 1 {
            &self.a
        } else {
            &self.b
        }
    }

    /// The startup-config lines that make rvpp the router between them,
    /// on af_packet host-interfaces.
    pub fn startup_config(&self) -> String {
        self.startup_config_with(|side, ns| {
            (format!("create host-interface name {} hw-addr {}", ns.veth, self.rvpp_mac(side)), ns.host_if())
        })
    }

    /// The same on interfaces of another driver: `create(side, ns)` gives
    /// the line that makes the interface on `ns`'s veth and rvpp's name
    /// for it; each is then set up and given side's addresses.
    pub fn startup_config_with(&self, create: impl Fn(u8, &Ns) -> (String, String)) -> String {
        let mut s = String::new();
        for side in [1, 2] {
            let (line, name) = create(side, self.side(side));
            s.push_str(&format!(
                "{line}\n\
                 set interface state {name} up\n\
                 set interface ip address {name} {}/24\n\
                 set interface ip address {name} {}/64\n",
                self.rvpp4(side),
                self.rvpp6(side)
            ));
        }
        s
    }

    /// Waits until each namespace reaches the other through rvpp, both
    /// families (the first packets resolve the neighbors).
    pub fn wait_paths(&self, timeout: Duration) {
        self.a.wait_ping(&[], &self.host4(2), timeout);
        self.b.wait_ping(&[], &self.host4(1), timeout);
        self.a.wait_ping(&["-6"], &self.host6(2), timeout);
        self.b.wait_ping(&["-6"], &self.host6(1), timeout);
    }

    /// `count` pings at 20 per second each way, each family, across rvpp
    /// (after [`wait_paths`](Self::wait_paths)); asserts none is lost and
    /// returns the four RTT summaries on one line.
    pub fn ping_both_ways(&self, what: &str, count: u32) -> String {
        let mut rtts = Vec::new();
        for (from, to) in
            [(&self.a, self.host4(2)), (&self.b, self.host4(1)), (&self.a, self.host6(2)), (&self.b, self.host6(1))]
        {
            let mut args: Vec<&str> = if to.contains(':') { vec!["-6"] } else { vec![] };
            args.extend_from_slice(&["-i", "0.05", "-W", "2"]);
            let r = from.ping(&args, &to, count);
            assert_eq!((r.transmitted, r.received), (count, count), "{what}: ping {to} lost packets:\n{}", r.text);
            rtts.push(format!("{to}: {}", r.rtt_line()));
        }
        rtts.join("; ")
    }
}

/// Waits until a TCP listener is on `port` in `ns`; panics after `timeout`.
pub fn wait_listening(ns: &Ns, port: u16, timeout: Duration) {
    let listening = wait_until(timeout, || {
        let out = ns.exec(&["ss", "-Hltn", &format!("sport = :{port}")]);
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    });
    assert!(listening, "nothing listens on port {port} in {}", ns.name);
}

/// One iperf3 run through rvpp: the server in `server` (one test, then it
/// exits), the client in `client` towards `to` with `args` (`-t 5`, `-R`,
/// `-u -b 100M`...), both given `timeout`. A failed run panics with the
/// programs' output and rvpp's `show errors` and `show hardware-interfaces`.
pub fn iperf3(
    d: &crate::Daemon,
    client: &Ns,
    server: &Ns,
    to: &str,
    port: u16,
    args: &[&str],
    timeout: Duration,
) -> Iperf {
    let p = port.to_string();
    let mut srv = server.spawn(&["iperf3", "-s", "-1", "-p", &p], d.dir(), &format!("iperf3-{port}"));
    wait_listening(server, port, timeout);
    let mut v = vec!["iperf3", "-c", to, "-p", &p, "--json", "--connect-timeout", "5000"];
    v.extend_from_slice(args);
    let out = crate::run_with_timeout(client.cmd(&v), None, timeout);
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "iperf3 {args:?} to {to} failed:\n{}\nserver: {}{}\nrvpp:\n{}\n{}",
        text(&out),
        srv.stdout(),
        srv.stderr(),
        d.ctl_ok("show errors"),
        d.ctl_ok("show hardware-interfaces")
    );
    srv.stop("TERM", Duration::from_secs(5));
    Iperf::parse(&json).unwrap_or_else(|| panic!("no end summary in iperf3's json:\n{json}"))
}

/// The count of `show errors` rows for `node` whose reason is `reason`.
/// Matches on the text, so a reason wider than its column (which runs into
/// the node name) is still found.
pub fn error_count(show_errors: &str, node: &str, reason: &str) -> u64 {
    show_errors
        .lines()
        .filter_map(|l| {
            let t = l.trim();
            let (count, rest) = t.split_once(char::is_whitespace)?;
            let rest = rest.trim_start();
            let at = rest.find(reason)?;
            let after = rest[at + reason.len()..].trim();
            (rest[..at].trim_end().ends_with(node) && !after.contains(' ')).then(|| count.parse::<u64>().ok())?
        })
        .sum()
}

/// iperf3's `--json` summary of one run.
#[derive(Clone, Debug, Default)]
pub struct Iperf {
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub received_bps: f64,
    /// UDP: datagrams the receiver counted and lost.
    pub packets: u64,
    pub lost_packets: u64,
    pub retransmits: Option<u64>,
}

impl Iperf {
    /// Parses iperf3 `--json` output (iperf 3.x `end.sum_sent` /
    /// `end.sum_received`), reading just the numbers it needs.
    pub fn parse(json: &str) -> Option<Iperf> {
        // Only the end summary has these two objects; neither nests.
        let section = |name: &str| -> Option<&str> {
            let s = &json[json.find(&format!("\"{name}\""))?..];
            Some(&s[..s.find('}')?])
        };
        let num = |sec: &str, key: &str| -> Option<f64> {
            let s = &sec[sec.find(&format!("\"{key}\""))? + key.len() + 2..];
            let s = s.trim_start().strip_prefix(':')?.trim_start();
            let n: String =
                s.chars().take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')).collect();
            n.parse().ok()
        };
        let sent = section("sum_sent")?;
        let recv = section("sum_received")?;
        Some(Iperf {
            sent_bytes: num(sent, "bytes")? as u64,
            received_bytes: num(recv, "bytes")? as u64,
            received_bps: num(recv, "bits_per_second")?,
            packets: num(recv, "packets").unwrap_or(0.0) as u64,
            lost_packets: num(recv, "lost_packets").unwrap_or(0.0) as u64,
            retransmits: num(sent, "retransmits").map(|r| r as u64),
        })
    }

    /// `1.23 Gbit/s`.
    pub fn rate(&self) -> String {
        format!("{:.2} Gbit/s", self.received_bps / 1e9)
    }

    /// Asserts a TCP run moved data: `0 < received <= sent` with at most a
    /// tenth of it in flight at the end (iperf3 3.12's receiver stops
    /// counting when the sender signals the end).
    pub fn assert_tcp(&self, what: &str) {
        let r = self;
        assert!(r.sent_bytes > 0 && r.received_bytes > 0, "{what}: nothing crossed: {r:?}");
        assert!(r.received_bytes <= r.sent_bytes, "{what}: received more than sent: {r:?}");
        let gap = r.sent_bytes - r.received_bytes;
        assert!(gap <= r.sent_bytes / 10, "{what}: {gap} bytes sent were never received: {r:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_output() {
        let r = PingResult::parse(
            "PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.\n\
             --- 10.0.0.1 ping statistics ---\n\
             3 packets transmitted, 2 received, +1 errors, 33.3333% packet loss, time 2003ms\n\
             rtt min/avg/max/mdev = 0.088/0.433/1.095/0.467 ms\n",
        );
        assert_eq!((r.transmitted, r.received, r.errors, r.lost()), (3, 2, 1, 1));
        assert_eq!(r.rtt, Some([0.088, 0.433, 1.095, 0.467]));
    }

    #[test]
    fn error_rows_even_when_columns_run_together() {
        let t = "     Count                          Node                                  Reason    Severity\n\
                 \x20        2                        ip6-ndneighbor solicitations for unknown targets        info\n\
                 \x20        3                     arp-input  wrong hardware/protocol address length       error\n\
                 \x20        5                     ip4-input                       valid ip4 packets        info\n";
        assert_eq!(error_count(t, "ip6-nd", "neighbor solicitations for unknown targets"), 2);
        assert_eq!(error_count(t, "arp-input", "wrong hardware/protocol address length"), 3);
        assert_eq!(error_count(t, "ip4-input", "valid ip4 packets"), 5);
        assert_eq!(error_count(t, "ip6-input", "valid ip4 packets"), 0);
        assert_eq!(error_count(t, "ip4-input", "ip4 packets"), 0, "a reason matches whole");
    }

    #[test]
    fn iperf_json() {
        let j = r#"{"start":{},"intervals":[],"end":{"streams":[],
            "sum_sent":{"start":0,"end":5.0,"seconds":5.0,"bytes":1000,"bits_per_second":1600.5,"retransmits":3,"sender":true},
            "sum_received":{"start":0,"end":5.0,"seconds":5.0,"bytes":900,"bits_per_second":1440.0,"sender":true}}}"#;
        let r = Iperf::parse(j).unwrap();
        assert_eq!((r.sent_bytes, r.received_bytes, r.retransmits), (1000, 900, Some(3)));
        assert_eq!(r.received_bps, 1440.0);
    }
}
