//! pg0 → ethernet-input → l2 xconnect → pg1: interface counters, per-node
//! runtime, packet trace, and the `clear` commands.

use rvpp_tests::{parse_errors, parse_interface_counters, parse_trace, trace_nodes, Daemon, PgStream};

const LIMIT: u64 = 1000;

/// Two pg interfaces, up, cross-connected both ways.
fn xconnected(tag: &str) -> Daemon {
    let d = Daemon::start(tag);
    for cmd in [
        "create packet-generator interface pg0",
        "create packet-generator interface pg1",
        "set int state pg0 up",
        "set int state pg1 up",
        "set interface l2 xconnect pg0 pg1",
        "set interface l2 xconnect pg1 pg0",
    ] {
        d.ctl_ok(cmd);
    }
    d
}

fn run_stream(d: &Daemon, name: &str, limit: u64) {
    d.ctl_ok(&PgStream::new(name, "pg0", limit).command());
    d.ctl_ok(&format!("packet-generator enable-stream {name}"));
    d.wait_stream_done(name, limit);
}

#[test]
fn xconnect_forwards_every_packet() {
    let d = xconnected("xc-counters");
    run_stream(&d, "s0", LIMIT);

    let show = d.ctl_ok("show interface");
    let c = parse_interface_counters(&show);
    let get = |i: &str, n: &str| c.get(&(i.to_string(), n.to_string())).copied().unwrap_or(0);
    assert_eq!(get("pg0", "rx packets"), LIMIT, "{show}");
    assert_eq!(get("pg0", "rx bytes"), 64 * LIMIT, "{show}");
    assert_eq!(get("pg1", "tx packets"), LIMIT, "{show}");
    assert_eq!(get("pg1", "tx bytes"), 64 * LIMIT, "{show}");
    assert_eq!(get("pg0", "drops"), 0, "{show}");
    assert_eq!(get("pg1", "rx packets"), 0, "{show}");

    let errors = d.errors();
    assert!(errors.values().all(|&n| n == 0), "forwarded packets must not count errors: {errors:?}");
}

#[test]
fn runtime_lists_the_path_with_every_vector() {
    let d = xconnected("xc-runtime");
    run_stream(&d, "s0", LIMIT);
    let text = d.ctl_ok("show runtime");
    let rows = rvpp_tests::parse_runtime(&text);
    for node in ["pg-input", "ethernet-input", "l2-output", "interface-output"] {
        let vectors: u64 = rows.iter().filter(|r| r.name == node).map(|r| r.vectors).sum();
        assert_eq!(vectors, LIMIT, "{node} vectors in:\n{text}");
    }
    let pg = rows.iter().find(|r| r.name == "pg-input").expect("pg-input row");
    assert_eq!(pg.state, "polling", "{text}");
    let eth = rows.iter().find(|r| r.name == "ethernet-input").expect("ethernet-input row");
    assert_eq!(eth.state, "active", "{text}");
    assert!(eth.calls >= 1 && eth.calls <= LIMIT, "{text}");
}

#[test]
fn trace_records_the_requested_packets() {
    let d = xconnected("xc-trace");
    d.ctl_ok("trace add pg-input 3");
    run_stream(&d, "s0", LIMIT);

    let text = d.ctl_ok("show trace");
    let packets = parse_trace(&text);
    assert_eq!(packets.len(), 3, "show trace:\n{text}");
    for (k, p) in packets.iter().enumerate() {
        assert_eq!(
            trace_nodes(p),
            ["pg-input", "ethernet-input", "l2-output", "interface-output"],
            "packet {}:\n{p}",
            k + 1
        );
        assert!(p.contains("IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06"), "packet {}:\n{p}", k + 1);
        assert!(p.contains("stream s0"), "packet {}:\n{p}", k + 1);
    }
    for n in 1..=3 {
        assert!(text.lines().any(|l| l == format!("Packet {n}")), "no 'Packet {n}' in:\n{text}");
    }

    d.ctl_ok("clear trace");
    let text = d.ctl_ok("show trace");
    assert!(parse_trace(&text).is_empty(), "after clear trace:\n{text}");
    assert!(text.contains("No packets in trace buffer"), "after clear trace:\n{text}");

    // The budget was used up: more traffic records nothing new.
    run_stream(&d, "s1", 10);
    let text = d.ctl_ok("show trace");
    assert!(parse_trace(&text).is_empty(), "trace budget of 3 was spent, yet:\n{text}");
}

#[test]
fn clear_commands_zero_counters() {
    let d = xconnected("xc-clear");
    // Some forwarded packets and some drops (too short), so every table has
    // something to clear.
    run_stream(&d, "s0", LIMIT);
    d.ctl_ok(&PgStream::new("short", "pg0", 50).size("10-10").command());
    d.ctl_ok("packet-generator enable-stream short");
    d.wait_stream_done("short", 50);
    assert!(!d.interface_counters().is_empty());
    assert!(d.errors().values().any(|&n| n > 0), "{}", d.ctl_ok("show errors"));

    d.ctl_ok("clear interfaces");
    let show = d.ctl_ok("show interface");
    assert!(parse_interface_counters(&show).values().all(|&v| v == 0), "after clear interfaces:\n{show}");
    assert_eq!(rvpp_tests::parse_interfaces(&show).len(), 3, "clear interfaces must keep interfaces:\n{show}");

    d.ctl_ok("clear errors");
    let errors = d.ctl_ok("show errors");
    assert!(parse_errors(&errors).values().all(|&n| n == 0), "after clear errors:\n{errors}");

    d.ctl_ok("clear runtime");
    let text = d.ctl_ok("show runtime");
    let rows = rvpp_tests::parse_runtime(&text);
    assert!(rows.iter().all(|r| r.vectors == 0), "after clear runtime:\n{text}");

    // Counting starts again from zero.
    run_stream(&d, "s0", 100);
    assert_eq!(d.counter("pg0", "rx packets"), 100);
    assert_eq!(d.counter("pg1", "tx packets"), 100);
    let rows = d.runtime();
    let l2: u64 = rows.iter().filter(|r| r.name == "l2-output").map(|r| r.vectors).sum();
    assert_eq!(l2, 100);
}

#[test]
fn xconnect_to_a_down_interface_drops_and_counts() {
    let d = xconnected("xc-down");
    d.ctl_ok("set int state pg1 down");
    run_stream(&d, "s0", LIMIT);
    let errors = d.errors();
    let count = |node: &str, reason: &str| errors.get(&(node.to_string(), reason.to_string())).copied().unwrap_or(0);
    let down = count("l2-output", "output interface down") + count("interface-output", "interface is down");
    assert_eq!(down, LIMIT, "{}", d.ctl_ok("show errors"));
    let show = d.ctl_ok("show interface");
    let c = parse_interface_counters(&show);
    let get = |i: &str, n: &str| c.get(&(i.to_string(), n.to_string())).copied().unwrap_or(0);
    assert_eq!(get("pg0", "rx packets"), LIMIT, "{show}");
    assert_eq!(get("pg0", "drops"), LIMIT, "{show}");
    assert_eq!(get("pg1", "tx packets"), 0, "{show}");

    // Up again, the same stream goes through.
    d.ctl_ok("set int state pg1 up");
    d.ctl_ok("clear interfaces");
    d.ctl_ok("packet-generator enable-stream s0");
    d.wait_stream_done("s0", LIMIT);
    assert_eq!(d.counter("pg1", "tx packets"), LIMIT, "{}", d.ctl_ok("show interface"));
}
