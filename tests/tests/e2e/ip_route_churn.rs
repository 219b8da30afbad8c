//! Route churn does not disturb forwarding: the kernel pings across rvpp
//! (`ping -i 0.01 -c 500`, IPv4 and IPv6 at once) while another thread adds
//! and deletes 1,000 unrelated IPv4 and 1,000 IPv6 routes, over and over,
//! through one `rvppctl` reading its commands from a pipe. Every ping must
//! come back. rvpp forwards on a worker, so each change is a FIB snapshot
//! published to it while it forwards.
//!
//! Subnets: 10.215.{1,2}.0/24 and fd00:215:{1,2}::/64; the churned routes
//! are 172.16.0.0/24 .. 172.19.231.0/24 and fd00:215:ff:<k>::/64, all via
//! an unresolved next hop on the b side (no traffic uses them).

use std::ffi::OsString;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvpp_tests::netns::{PingResult, TwoSubnets};
use rvpp_tests::{require_host, run_with_timeout, Daemon};

const WAIT: Duration = Duration::from_secs(30);
const ROUTES: usize = 1000;

/// `ip route add|del` lines for the churned routes, all via the b side.
fn script(t: &TwoSubnets, verb: &str) -> String {
    let hif = t.b.host_if();
    let (nh4, nh6) = (format!("10.{}.2.3", t.n), format!("fd00:{}:2::3", t.n));
    let mut s = String::new();
    for k in 0..ROUTES {
        s.push_str(&format!("ip route {verb} 172.{}.{}.0/24 via {nh4} {hif}\n", 16 + k / 256, k % 256));
        s.push_str(&format!("ip route {verb} fd00:{}:ff:{k:x}::/64 via {nh6} {hif}\n", t.n));
    }
    s
}

/// The number of lines of `show ip fib` / `show ip6 fib` that start with
/// `start` and are not indented (prefix lines).
fn fib_prefixes(d: &Daemon, cmd: &str, start: &str) -> usize {
    d.ctl_ok(cmd).lines().filter(|l| l.starts_with(start) && !l.starts_with(char::is_whitespace)).count()
}

#[test]
fn pings_survive_route_churn() {
    require_host!("pings_survive_route_churn", &["ping"]);
    let t = TwoSubnets::new("ich", 215);
    let d = Daemon::builder("ip-churn").workers(1).buffers(16384).startup_config(&t.startup_config()).start();
    t.wait_paths(WAIT);

    let add = script(&t, "add");
    let del = script(&t, "del");
    let stop = Arc::new(AtomicBool::new(false));
    let fib4_before = fib_prefixes(&d, "show ip fib", "");
    let ctl = d.rvppctl();
    let prog = ctl.get_program().to_owned();
    let args: Vec<OsString> = ctl.get_args().map(|a| a.to_owned()).collect();
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut cycles = 0u32;
            let t0 = Instant::now();
            let mut failures = Vec::new();
            // At least one whole cycle, then until the pings are done.
            while cycles == 0 || !stop.load(Ordering::Relaxed) {
                for (verb, lines) in [("add", &add), ("del", &del)] {
                    let mut c = Command::new(&prog);
                    c.args(&args);
                    let out = run_with_timeout(c, Some(lines.as_bytes().to_vec()), Duration::from_secs(60));
                    let err = String::from_utf8_lossy(&out.stderr).into_owned();
                    if !out.status.success() || !err.trim().is_empty() {
                        failures.push(format!("{verb} (cycle {cycles}): {}: {err}", out.status));
                    }
                }
                cycles += 1;
            }
            (cycles, t0.elapsed(), failures)
        })
    };

    let pingers: Vec<_> =
        [(t.host4(2), vec!["-i", "0.01", "-W", "2"]), (t.host6(2), vec!["-6", "-i", "0.01", "-W", "2"])]
            .into_iter()
            .map(|(to, args)| {
                let a = t.a.clone();
                std::thread::spawn(move || {
                    let mut v = args.clone();
                    v.push("-q");
                    a.ping(&v, &to, 500)
                })
            })
            .collect();
    let results: Vec<PingResult> = pingers.into_iter().map(|p| p.join().expect("ping thread")).collect();
    stop.store(true, Ordering::Relaxed);
    let (cycles, took, failures) = churn.join().expect("churn thread");
    assert!(failures.is_empty(), "route changes failed:\n{}", failures.join("\n"));

    for r in &results {
        assert_eq!(
            (r.transmitted, r.received),
            (500, 500),
            "pings lost during route churn:\n{}\n{}",
            r.text,
            d.ctl_ok("show errors")
        );
    }
    // Every churned route is gone again; the connected ones stayed.
    assert_eq!(fib_prefixes(&d, "show ip fib", ""), fib4_before, "{}", d.ctl_ok("show ip fib"));
    assert!(!d.ctl_ok("show ip fib").contains("172.16."), "{}", d.ctl_ok("show ip fib"));
    let fib6 = d.ctl_ok("show ip6 fib");
    assert!(!fib6.contains(&format!("fd00:{}:ff:", t.n)), "{fib6}");
    eprintln!(
        "ip_route_churn: 2 x 500 pings at 10 ms, 0 lost ({}; {}) during {cycles} cycles of {} route adds + \
         deletes in {took:.1?} ({:.0} changes/s)",
        results[0].rtt_line(),
        results[1].rtt_line(),
        4 * ROUTES,
        (cycles as f64 * 4.0 * ROUTES as f64) / took.as_secs_f64()
    );
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
