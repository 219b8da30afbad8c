//! ethernet-input's drop path: every dropped frame is counted once, under
//! its reason in `show errors` and as a drop of the receiving interface.

use rvpp_tests::{Daemon, PgStream};

const LIMIT: u64 = 500;

fn one_pg(tag: &str) -> Daemon {
    let d = Daemon::start(tag);
    d.ctl_ok("create packet-generator interface pg0");
    d.ctl_ok("set int state pg0 up");
    d
}

fn send(d: &Daemon, stream: PgStream) {
    d.ctl_ok(&stream.command());
    d.ctl_ok(&format!("packet-generator enable-stream {}", stream.name));
    d.wait_stream_done(stream.name, stream.limit);
}

fn error_count(d: &Daemon, reason: &str) -> u64 {
    d.errors().get(&("ethernet-input".to_string(), reason.to_string())).copied().unwrap_or(0)
}

#[test]
fn frames_for_another_mac_are_dropped_and_counted() {
    let d = one_pg("eth-mismatch");
    // Not cross-connected, so pg0 is an L3 interface; the frames go to
    // 00:02:03:04:05:06, which is not pg0's MAC.
    send(&d, PgStream::new("s0", "pg0", LIMIT));
    let errors = d.ctl_ok("show errors");
    let dropped = error_count(&d, "l3 mac mismatch") + error_count(&d, "unknown ethernet type");
    assert_eq!(dropped, LIMIT, "show errors:\n{errors}");
    assert_eq!(d.counter("pg0", "rx packets"), LIMIT);
    assert_eq!(d.counter("pg0", "rx bytes"), 64 * LIMIT);
    assert_eq!(d.counter("pg0", "drops"), LIMIT, "{}", d.ctl_ok("show interface"));
}

#[test]
fn unknown_ethertype_to_our_mac_is_dropped_and_counted() {
    let d = one_pg("eth-ethertype");
    // 0x88b5 is the IEEE "local experimental" ethertype: no node will ever
    // claim it. pg0's MAC comes from the daemon, not from a guess.
    let hw = d.ctl_ok("show hardware-interfaces pg0");
    let mac = hw
        .lines()
        .find_map(|l| l.trim().strip_prefix("Ethernet address "))
        .unwrap_or_else(|| panic!("no Ethernet address in:\n{hw}"))
        .trim()
        .to_string();
    let data = format!("0x88b5: 00:01:02:03:04:05 -> {mac} incrementing 50");
    send(&d, PgStream::new("s0", "pg0", LIMIT).data(&data));
    let errors = d.ctl_ok("show errors");
    assert_eq!(error_count(&d, "unknown ethernet type"), LIMIT, "show errors:\n{errors}");
    assert_eq!(error_count(&d, "l3 mac mismatch"), 0, "show errors:\n{errors}");
    assert_eq!(d.counter("pg0", "drops"), LIMIT, "{}", d.ctl_ok("show interface"));
}

#[test]
fn too_short_frames_are_dropped_and_counted() {
    let d = one_pg("eth-short");
    send(&d, PgStream::new("short", "pg0", LIMIT).size("10-10"));
    let errors = d.ctl_ok("show errors");
    assert_eq!(error_count(&d, "frame too short"), LIMIT, "show errors:\n{errors}");
    assert_eq!(d.counter("pg0", "rx packets"), LIMIT);
    assert_eq!(d.counter("pg0", "rx bytes"), 10 * LIMIT);
    assert_eq!(d.counter("pg0", "drops"), LIMIT, "{}", d.ctl_ok("show interface"));

    // The node ran on every frame and handed every one to error-drop.
    let rows = d.runtime();
    let vectors = |n: &str| rows.iter().filter(|r| r.name == n).map(|r| r.vectors).sum::<u64>();
    assert_eq!(vectors("ethernet-input"), LIMIT);
    assert_eq!(vectors("error-drop"), LIMIT);
}
