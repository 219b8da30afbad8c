//! The daemon's life: one daemon per socket, a stale socket file replaced,
//! SIGTERM/SIGINT stop it cleanly and remove the socket, and with no
//! arguments it runs on its embedded default at the default socket.

use std::os::unix::net::UnixListener;
use std::path::Path;

use rvpp_tests::{bin, run_with_timeout, send_signal, socket_answers, Daemon, COMMAND_TIMEOUT};

#[test]
fn a_second_daemon_on_the_same_socket_refuses() {
    let first = Daemon::start("life-second");
    let conf = first.conf_path().display().to_string();
    let out = rvpp_tests::run_rvpp(&["-c", &conf]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("already listening"), "{err}");
    assert!(err.contains(&first.socket().display().to_string()), "{err}");
    // The first daemon keeps its socket.
    assert!(first.socket().exists());
    assert!(socket_answers(first.socket()));
    first.ctl_ok("show version");
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let d = Daemon::start("life-sigterm");
    d.ctl_ok("create packet-generator interface pg0");
    let sock = d.socket().to_path_buf();
    assert!(sock.exists());
    let status = d.stop();
    assert!(status.success(), "rvpp ended with {status} on SIGTERM");
    assert!(!sock.exists(), "{} is still there after SIGTERM", sock.display());
}

#[test]
fn sigint_stops_cleanly_with_workers_running_traffic() {
    let mut d = Daemon::builder("life-sigint").workers(2).buffers(8192).start();
    for cmd in [
        "create packet-generator interface pg0",
        "set int state pg0 up",
        // An endless stream on a worker: shutdown must not wait for it.
        &rvpp_tests::PgStream::new("s0", "pg0", 0).worker(0).command(),
        "packet-generator enable-stream s0",
    ] {
        d.ctl_ok(cmd);
    }
    assert!(rvpp_tests::wait_until(rvpp_tests::WAIT_TIMEOUT, || d.counter("pg0", "rx packets") > 0));
    let sock = d.socket().to_path_buf();
    assert!(send_signal(d.pid(), "INT"));
    let stopped = rvpp_tests::wait_until(rvpp_tests::STOP_TIMEOUT, || !d.is_running());
    assert!(stopped, "rvpp still running {:?} after SIGINT", rvpp_tests::STOP_TIMEOUT);
    assert!(!sock.exists(), "{} is still there after SIGINT", sock.display());
    assert!(d.stderr().contains("stopped"), "{}", d.stderr());
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = rvpp_tests::TempDir::new("life-stale");
    let sock = dir.path().join("cli.sock");
    // A socket file nobody listens on, as a killed daemon leaves behind.
    drop(UnixListener::bind(&sock).expect("bind"));
    assert!(sock.exists() && !socket_answers(&sock));
    let conf = dir.write("startup.conf", &format!("unix {{ nodaemon cli-listen {} }}\n", sock.display()));
    let d = Daemon::start_with_args("life-stale-d", &["-c", &conf.display().to_string()], &sock);
    d.ctl_ok("show version");
}

#[test]
fn rvppctl_without_a_daemon_exits_2() {
    let dir = rvpp_tests::TempDir::new("life-nodaemon");
    let mut c = std::process::Command::new(bin("rvppctl"));
    c.arg("-s").arg(dir.path().join("none.sock")).arg("show").arg("version");
    let out = run_with_timeout(c, None, COMMAND_TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.sock"));
}

/// `rvpp` with no arguments, as root, listens on /run/rvpp/cli.sock, and
/// `rvppctl` with no `-s` finds it. Skipped (loudly) when not root or when a
/// daemon already answers there.
#[test]
fn no_arguments_uses_the_default_socket() {
    let sock = Path::new("/run/rvpp/cli.sock");
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(u32::MAX);
    if uid != 0 {
        eprintln!(
            "SKIPPED no_arguments_uses_the_default_socket: not root (uid {uid}); the default socket for root is {}",
            sock.display()
        );
        return;
    }
    if socket_answers(sock) {
        eprintln!(
            "SKIPPED no_arguments_uses_the_default_socket: a daemon already answers on {}; stop it to run this test",
            sock.display()
        );
        return;
    }
    let d = Daemon::start_with_args("life-default", &[], sock);
    assert!(d.stderr().contains(&format!("CLI socket {}", sock.display())), "{}", d.stderr());
    assert!(d.stderr().contains("up: 0 worker thread(s)"), "{}", d.stderr());

    let mut c = std::process::Command::new(bin("rvppctl"));
    c.arg("show").arg("interface");
    let out = run_with_timeout(c, None, COMMAND_TIMEOUT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = rvpp_tests::parse_interfaces(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(rows.first().map(|r| r.name.as_str()), Some("local0"), "{rows:?}");

    let status = d.stop();
    assert!(status.success(), "{status}");
    assert!(!sock.exists(), "{} left behind", sock.display());
    assert!(!socket_answers(sock));
}
