//! Idle behaviour: an idle daemon sleeps instead of polling, and stays
//! small. Not a performance test: the bounds are generous, and a daemon
//! that spins shows up as ~100 % of a core, far above them.

use std::time::Duration;

use rvpp_tests::{Daemon, PgStream};

/// Idle CPU is measured over this window.
const WINDOW: Duration = Duration::from_secs(2);
/// Most CPU an idle daemon may use, in percent of one core.
const MAX_IDLE_CPU_PERCENT: f64 = 5.0;
/// Largest resident set for the default-like configuration.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// CPU used by the daemon over [`WINDOW`], in percent of one core.
fn idle_cpu_percent(d: &Daemon) -> f64 {
    d.cpu_percent(WINDOW)
}

/// The embedded default configuration, with a socket of the test's own.
fn default_like(tag: &str) -> Daemon {
    let path = rvpp_tests::workspace_root().join("cli/src/default-startup.conf");
    let default = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Daemon::builder(tag).base_conf(&default).start()
}

#[test]
fn idle_default_daemon_sleeps_and_stays_small() {
    let d = default_like("idle-default");
    let cpu = idle_cpu_percent(&d);
    assert!(cpu < MAX_IDLE_CPU_PERCENT, "idle rvpp used {cpu:.1} % CPU over {WINDOW:?}");
    let rss = d.rss_kib();
    assert!(rss < MAX_RSS_KIB, "idle rvpp has {rss} KiB resident (bound {MAX_RSS_KIB} KiB)");
}

#[test]
fn idle_again_after_traffic_on_workers() {
    let d = Daemon::builder("idle-workers").workers(2).buffers(16384).start();
    for cmd in [
        "create packet-generator interface pg0",
        "create packet-generator interface pg1",
        "set int state pg0 up",
        "set int state pg1 up",
        "set interface l2 xconnect pg0 pg1",
    ] {
        d.ctl_ok(cmd);
    }
    d.ctl_ok(&PgStream::new("m", "pg0", 20_000).command());
    d.ctl_ok(&PgStream::new("w0", "pg0", 20_000).worker(0).command());
    d.ctl_ok(&PgStream::new("w1", "pg0", 20_000).worker(1).command());
    d.ctl_ok("packet-generator enable-stream");
    for s in ["m", "w0", "w1"] {
        d.wait_stream_done(s, 20_000);
    }
    // Every thread went through its busy phase; now all must sleep again.
    let cpu = idle_cpu_percent(&d);
    assert!(cpu < MAX_IDLE_CPU_PERCENT, "rvpp with 2 workers used {cpu:.1} % CPU idle after traffic");
    let rss = d.rss_kib();
    assert!(rss < MAX_RSS_KIB, "rvpp has {rss} KiB resident after traffic (bound {MAX_RSS_KIB} KiB)");
}
