//! Bad CLI input: thousands of deterministic garbage lines, through one
//! piped `rvppctl` session and through one-shot calls, leave the daemon up
//! and its configuration untouched; malformed variants of the commands that
//! change things are refused.

use rvpp_tests::{Daemon, PgStream};

/// The seed of the garbage; a failure names the line, and the same seed
/// makes the same lines.
const SEED: u64 = 0x5eed_cafe_f00d_0001;
const PIPED_LINES: usize = 3000;
const ONE_SHOT_LINES: usize = 300;

/// xorshift64*: small, deterministic, good enough to pick tokens.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Real command words, interface names, numbers, braces and shell-ish junk.
#[rustfmt::skip]
const VOCAB: &[&str] = &[
    "show", "sh", "interface", "int", "hardware-interfaces", "hardware", "runtime", "errors",
    "trace", "max", "verbose", "all", "brief", "mode", "buffers", "threads", "clock", "version",
    "packet-generator", "rx-placement", "help", "?", "comment", "set", "state", "up", "down", "mtu",
    "packet", "ip4", "mac", "address", "l2", "xconnect", "l3", "create", "delete", "loopback",
    "null", "clear", "exec", "add", "new", "name", "limit", "size", "node", "data", "enable-stream",
    "disable-stream", "worker", "main", "queue", "polling", "interrupt", "intfc", "pg0", "pg1",
    "pg9", "pg", "local0", "loop0", "ethernet-input", "pg-input", "error-drop", "0", "1", "-1", "3",
    "64", "1500", "65536", "4294967296", "18446744073709551616", "0x", "0xffffffff", "0x1g", "1e9",
    "NaN", "-0", "00:01:02:03:04:05", "ff:ff:ff:ff:ff:ff", "0001.0203.0405", "192.168.1.1", "::1",
    "10.0.0.0/8", "{", "}", "{{", "}}", "{ name", "data {", "--", "-", "\"", "'", "\\", "/", ";",
    "|", "&", "$(id)", "%s%n", "../../etc/passwd", "/dev/zero", "IP4:", "UDP:", "->",
    "incrementing", "#", "quit", "exit",
];

/// Starts that reach real handlers with garbage arguments.
const STARTS: &[&str] = &[
    "show",
    "sh",
    "sh int",
    "show interface",
    "show hardware-interfaces",
    "show runtime",
    "show errors",
    "show trace",
    "show trace max",
    "show packet-generator",
    "show mode",
    "show buffers",
    "show threads",
    "sh clock",
    "show version",
    "show interface rx-placement",
    "help",
    "?",
    "comment",
];

/// Commands (and their prefixes, since the CLI takes unique prefixes) that
/// change state or end a session; garbage starting with one is dropped.
const DESTRUCTIVE: &[&str] = &["set", "create", "delete", "packet-generator", "clear", "exec", "trace", "quit", "exit"];

fn is_destructive(line: &str) -> bool {
    line.split_whitespace().next().is_some_and(|first| DESTRUCTIVE.iter().any(|d| d.starts_with(first)))
}

fn random_char(r: &mut Rng) -> char {
    let cp = match r.below(100) {
        0..=59 => 0x20 + r.below(0x5f) as u32,
        60..=64 => {
            // Control characters, but never a line break or NUL.
            let c = 1 + r.below(0x1f) as u32;
            if c == 0x0a || c == 0x0d {
                0x07
            } else {
                c
            }
        }
        65..=74 => 0xa0 + r.below(0x360) as u32,
        75..=84 => 0x4e00 + r.below(0x5200) as u32,
        85..=94 => 0x1f300 + r.below(0x800) as u32,
        _ => [0xfeff, 0x200b, 0x2028, 0x2029, 0x0085, 0x3000, 0xfffd, 0x10ffff][r.below(8)],
    };
    char::from_u32(cp).unwrap_or('?')
}

fn random_word(r: &mut Rng) -> String {
    match r.below(100) {
        0..=64 => r.pick(VOCAB).to_string(),
        65..=89 => (0..1 + r.below(12)).map(|_| random_char(r)).collect(),
        90..=94 => r.next().to_string(),
        _ => {
            let len = 200 + r.below(4000);
            (0..len).map(|_| (b'!' + r.below(94) as u8) as char).collect()
        }
    }
}

fn random_line(r: &mut Rng) -> String {
    let mut line = if r.chance(50) { r.pick(STARTS).to_string() } else { random_word(r) };
    for _ in 0..r.below(8) {
        let sep = match r.below(20) {
            0 => "",
            1 => "\t",
            2 => "   ",
            3 => "\u{3000}",
            _ => " ",
        };
        line.push_str(sep);
        line.push_str(&random_word(r));
    }
    line
}

/// `count` garbage lines that are not destructive.
fn garbage(r: &mut Rng, count: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let l = random_line(r);
        if !is_destructive(&l) {
            out.push(l);
        }
    }
    out
}

/// Malformed forms of the commands that change things: each must fail.
const MALFORMED: &[&str] = &[
    "set interface state pg9 up",
    "set int state pg0 sideways",
    "set int state",
    "set int mtu abc pg0",
    "set int mtu 1500 pg9",
    "set int mtu 10 pg0",
    "set int mtu 99999999999 pg0",
    "set interface mac address pg0 zz:zz",
    "set interface mac address pg0 01:00:5e:00:00:01",
    "set interface l2 xconnect pg0",
    "set interface l2 xconnect pg0 pg9",
    "set interface l3 pg9",
    "set interface rx-mode pg0 sideways",
    "set interface rx-placement pg0 worker 5",
    "set",
    "create",
    "create packet-generator interface",
    "create packet-generator interface eth0",
    "create packet-generator interface pg0",
    "create loopback interface junk",
    "create null interface mac zz",
    "delete",
    "delete loopback interface intfc pg9",
    "delete null interface pg9",
    "packet-generator",
    "packet-generator new { name",
    "packet-generator new { name x limit abc }",
    "packet-generator new { name x frobnicate 3 }",
    "packet-generator new { name x limit 1 node ethernet-input interface pg0 data { IP4: 1 -> 2 } }",
    "packet-generator new { name x limit 1 node nosuch-node interface pg0 data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 } }",
    "packet-generator new { name x limit 1 node ethernet-input interface pg9 data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 } }",
    "packet-generator enable-stream nosuch",
    "packet-generator disable-stream nosuch",
    "packet-generator delete nosuch",
    "clear",
    "clear foo",
    "clear runtime extra",
    "clear interfaces pg9",
    "clear errors now",
    "exec",
    "exec /nonexistent/rvpp-test-file",
    "trace add foo 3",
    "trace add pg-input",
    "trace add pg-input abc",
    "trace add pg-input -1",
    "trace add ethernet-input 3",
];

/// Everything a garbage line could disturb.
fn snapshot(d: &Daemon) -> Vec<(String, String)> {
    [
        "show interface",
        "show hardware-interfaces",
        "show mode",
        "show errors",
        "show packet-generator",
        "show interface rx-placement",
    ]
    .iter()
    .map(|c| (c.to_string(), d.ctl_ok(c)))
    .collect()
}

fn configured(tag: &str) -> Daemon {
    let d = Daemon::start(tag);
    for cmd in [
        "create packet-generator interface pg0",
        "create packet-generator interface pg1",
        "create loopback interface",
        "set int state pg0 up",
        "set int state pg1 up",
        "set int mtu 1500 pg1",
        "set interface l2 xconnect pg0 pg1",
    ] {
        d.ctl_ok(cmd);
    }
    d
}

fn still_forwards(d: &Daemon) {
    d.ctl_ok(&PgStream::new("after", "pg0", 200).command());
    d.ctl_ok("packet-generator enable-stream after");
    d.wait_stream_done("after", 200);
    assert_eq!(d.counter("pg0", "rx packets"), 200);
    assert_eq!(d.counter("pg1", "tx packets"), 200);
}

#[test]
fn garbage_through_one_piped_session() {
    let mut d = configured("garbage-piped");
    let before = snapshot(&d);
    let lines = garbage(&mut Rng(SEED), PIPED_LINES);
    let mut script = lines.join("\n");
    script.push_str("\nshow version\n");

    let out = d.ctl_script(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 1: some commands failed (garbage does); 2 would be a lost daemon.
    assert_eq!(
        out.status.code(),
        Some(1),
        "piped session ended with {}; its stderr ends with:\n{}\nrvpp's stderr:\n{}",
        out.status,
        tail(&stderr),
        d.stderr()
    );
    let last = stdout.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("rvpp v"), "the session did not reach its last line; stdout ends:\n{}", tail(&stdout));
    assert!(d.is_running(), "rvpp died:\n{}", d.stderr());

    assert_eq!(snapshot(&d), before, "garbage changed the daemon's state");
    still_forwards(&d);
}

#[test]
fn garbage_through_one_shot_calls() {
    let mut d = configured("garbage-oneshot");
    let before = snapshot(&d);
    for (k, line) in garbage(&mut Rng(SEED ^ 0xa5a5), ONE_SHOT_LINES).iter().enumerate() {
        // ctl panics unless rvppctl exits 0 or 1 (2: the daemon went away).
        let _ = d.ctl(line);
        assert!(d.is_running(), "rvpp died on garbage line {k}: {line:?}\n{}", d.stderr());
    }
    assert_eq!(snapshot(&d), before, "garbage changed the daemon's state");
    still_forwards(&d);
}

#[test]
fn malformed_commands_are_refused_and_change_nothing() {
    let d = configured("garbage-malformed");
    let before = snapshot(&d);
    for cmd in MALFORMED {
        match d.ctl(cmd) {
            Ok(out) => panic!("`{cmd}` should fail, yet it printed:\n{out}"),
            Err(e) => assert!(!e.trim().is_empty(), "`{cmd}` failed without saying why"),
        }
    }
    // The same through one session: every line fails, none ends it early.
    let mut script = MALFORMED.join("\n");
    script.push_str("\nshow version\n");
    let out = d.ctl_script(&script);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).trim_end().ends_with("built with rustc"));

    assert_eq!(snapshot(&d), before, "a refused command changed the daemon's state");
    still_forwards(&d);
}

#[test]
fn errors_name_the_offending_token() {
    let d = configured("garbage-tokens");
    for (cmd, token) in [
        ("set interface state pg9 up", "pg9"),
        ("set int mtu abc pg0", "abc"),
        ("set int state pg0 sideways", "sideways"),
        ("frobnicate now", "frobnicate"),
        ("show interface pg42", "pg42"),
        ("packet-generator new { name x frobnicate 3 }", "frobnicate"),
        ("trace add nosuch-node 3", "nosuch-node"),
    ] {
        let e = d.ctl(cmd).expect_err(cmd);
        assert!(e.contains(token), "`{cmd}`: error does not name '{token}': {e}");
    }
}

#[test]
fn the_garbage_is_deterministic_and_filtered() {
    let a = garbage(&mut Rng(SEED), 200);
    let b = garbage(&mut Rng(SEED), 200);
    assert_eq!(a, b);
    assert!(a.iter().all(|l| !is_destructive(l)));
    assert!(is_destructive("se int st pg0 down") && is_destructive("cl int") && is_destructive("q"));
    assert!(!is_destructive("show interface") && !is_destructive("   "));
    // The garbage reaches real handlers and also has junk of every kind.
    assert!(a.iter().any(|l| l.starts_with("show")));
    assert!(a.iter().any(|l| !l.is_ascii()));
    assert!(a.iter().any(|l| l.contains('{')));
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
