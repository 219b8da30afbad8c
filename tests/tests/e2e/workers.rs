//! `cpu { workers N }`: the threads exist, and a stream placed on a worker
//! runs the graph on that worker.

use rvpp_tests::{Daemon, PgStream};

const LIMIT: u64 = 1000;

fn two_workers(tag: &str) -> Daemon {
    let d = Daemon::builder(tag).workers(2).buffers(8192).start();
    for cmd in [
        "create packet-generator interface pg0",
        "create packet-generator interface pg1",
        "set int state pg0 up",
        "set int state pg1 up",
        "set interface l2 xconnect pg0 pg1",
    ] {
        d.ctl_ok(cmd);
    }
    d
}

#[test]
fn show_threads_lists_main_and_workers() {
    let d = two_workers("wk-threads");
    let text = d.ctl_ok("show threads");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first().is_some_and(|id| id.parse::<u32>().is_ok()))
        .collect();
    assert_eq!(rows.len(), 3, "show threads:\n{text}");
    let ids: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(ids, ["0", "1", "2"], "show threads:\n{text}");
    assert_eq!(rows.iter().filter(|r| r.contains(&"workers")).count(), 2, "show threads:\n{text}");
    assert!(d.stderr().contains("up: 2 worker thread(s)"), "{}", d.stderr());
}

#[test]
fn a_stream_on_worker_1_runs_on_thread_2() {
    let d = two_workers("wk-placement");
    d.ctl_ok(&PgStream::new("s0", "pg0", LIMIT).worker(1).command());
    d.ctl_ok("packet-generator enable-stream s0");
    d.wait_stream_done("s0", LIMIT);

    let text = d.ctl_ok("show runtime");
    let rows = rvpp_tests::parse_runtime(&text);
    for node in ["pg-input", "ethernet-input", "l2-output", "interface-output"] {
        let on = |t: usize| rows.iter().filter(|r| r.thread == t && r.name == node).map(|r| r.vectors).sum::<u64>();
        assert_eq!(on(2), LIMIT, "{node} on Thread 2:\n{text}");
        assert_eq!(on(0) + on(1), 0, "{node} elsewhere:\n{text}");
    }
    // Counters kept per worker are summed for display.
    assert_eq!(d.counter("pg0", "rx packets"), LIMIT);
    assert_eq!(d.counter("pg1", "tx packets"), LIMIT);
}

#[test]
fn a_stream_for_a_missing_worker_is_refused() {
    let d = two_workers("wk-missing");
    let e = d.ctl(&PgStream::new("s0", "pg0", 10).worker(2).command()).unwrap_err();
    assert!(e.contains("worker 2"), "{e}");
    assert!(d.pg_streams().is_empty(), "{}", d.ctl_ok("show packet-generator"));
}

#[test]
fn streams_on_every_thread_add_up() {
    let d = two_workers("wk-all");
    d.ctl_ok(&PgStream::new("main", "pg0", LIMIT).command());
    d.ctl_ok(&PgStream::new("w0", "pg0", LIMIT).worker(0).command());
    d.ctl_ok(&PgStream::new("w1", "pg0", LIMIT).worker(1).command());
    d.ctl_ok("packet-generator enable-stream");
    for s in ["main", "w0", "w1"] {
        d.wait_stream_done(s, LIMIT);
    }
    let text = d.ctl_ok("show runtime");
    let rows = rvpp_tests::parse_runtime(&text);
    for t in 0..3 {
        let v: u64 = rows.iter().filter(|r| r.thread == t && r.name == "l2-output").map(|r| r.vectors).sum();
        assert_eq!(v, LIMIT, "l2-output on Thread {t}:\n{text}");
    }
    assert_eq!(d.counter("pg0", "rx packets"), 3 * LIMIT);
    assert_eq!(d.counter("pg1", "tx packets"), 3 * LIMIT);
}
