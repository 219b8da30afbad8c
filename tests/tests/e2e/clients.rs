//! The CLI socket under many and misbehaving clients: concurrent
//! `rvppctl` calls are all answered, and a client that breaks the protocol
//! or goes away mid-request costs only its own connection.

use std::io::Write;
use std::net::Shutdown;

use rvpp_tests::{connect, raw_request, raw_response, Daemon};

const CLIENTS: usize = 20;

fn daemon(tag: &str) -> Daemon {
    let d = Daemon::start(tag);
    d.ctl_ok("create packet-generator interface pg0");
    d.ctl_ok("set int state pg0 up");
    d
}

/// `CLIENTS` concurrent `rvppctl show interface`, each with the full table.
fn concurrent_show_interface(d: &Daemon) {
    let outputs: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS).map(|_| s.spawn(|| d.ctl("show interface"))).collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    for (k, out) in outputs.iter().enumerate() {
        let out = out.as_ref().unwrap_or_else(|e| panic!("client {k}: {e}"));
        let names: Vec<String> = rvpp_tests::parse_interfaces(out).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["local0", "pg0"], "client {k}:\n{out}");
    }
}

#[test]
fn concurrent_clients_are_all_answered() {
    let d = daemon("clients-many");
    concurrent_show_interface(&d);
    // Idle connections held open do not stop others being served.
    let idle: Vec<_> = (0..10).map(|_| connect(d.socket()).expect("connect")).collect();
    concurrent_show_interface(&d);
    drop(idle);
    concurrent_show_interface(&d);
}

#[test]
fn one_connection_runs_many_requests() {
    let d = daemon("clients-session");
    let mut s = connect(d.socket()).expect("connect");
    for k in 0..200 {
        let r = raw_request(&mut s, b"show interface").expect("reply");
        let out = r.unwrap_or_else(|e| panic!("request {k}: {e}"));
        assert!(out.contains("pg0"), "request {k}:\n{out}");
        let e = raw_request(&mut s, b"show nonsense").expect("reply");
        assert!(e.is_err(), "request {k}: {e:?}");
    }
}

#[test]
fn half_a_frame_then_close_leaves_the_daemon_answering() {
    let d = daemon("clients-half");
    for _ in 0..20 {
        // A length saying 100 bytes, then 10 of them, then gone.
        let mut s = connect(d.socket()).expect("connect");
        s.write_all(&100u32.to_le_bytes()).expect("write length");
        s.write_all(b"show inter").expect("write part");
        drop(s);
        // Half a length prefix.
        let mut s = connect(d.socket()).expect("connect");
        s.write_all(&[5, 0]).expect("write");
        drop(s);
        // Connect and leave at once.
        drop(connect(d.socket()).expect("connect"));
    }
    d.ctl_ok("show version");
    concurrent_show_interface(&d);
}

#[test]
fn a_client_gone_before_its_reply_costs_nothing() {
    let d = daemon("clients-gone");
    for _ in 0..20 {
        let mut s = connect(d.socket()).expect("connect");
        let line = b"show runtime";
        let mut frame = (line.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(line);
        s.write_all(&frame).expect("write request");
        // Stop reading and writing: the reply has nowhere to go.
        let _ = s.shutdown(Shutdown::Both);
    }
    d.ctl_ok("show version");
    concurrent_show_interface(&d);
}

#[test]
fn protocol_violations_are_refused_with_an_error() {
    let d = daemon("clients-bad");
    // A length far above any limit: refused without allocating it.
    let mut s = connect(d.socket()).expect("connect");
    s.write_all(&u32::MAX.to_le_bytes()).expect("write");
    let r = raw_response(&mut s).expect("a reply to an oversized frame");
    assert!(r.is_err(), "{r:?}");

    // A request that is not UTF-8.
    let mut s = connect(d.socket()).expect("connect");
    let r = raw_request(&mut s, &[0xff, 0xfe, b's', b'h', 0x80]).expect("a reply to a non-UTF-8 request");
    assert!(r.is_err(), "{r:?}");

    // An empty request is an empty command, which does nothing.
    let mut s = connect(d.socket()).expect("connect");
    assert_eq!(raw_request(&mut s, b"").expect("reply"), Ok(String::new()));

    d.ctl_ok("show version");
    concurrent_show_interface(&d);
}
