//! Configuration errors: a bad startup.conf stops rvpp with a message that
//! names the file, the line and the token; a bad startup-config line is
//! reported with its line and the rest of the file still runs.

use rvpp_tests::{run_rvpp, Daemon, PgStream, TempDir};

/// Runs `rvpp -c` on `conf` (the `@SOCK@` placeholder becomes a socket in
/// the test's directory) expecting exit status 1; returns stderr.
fn refused(tag: &str, conf: &str) -> (String, String) {
    let dir = TempDir::new(tag);
    let sock = dir.path().join("cli.sock");
    let conf = conf.replace("@SOCK@", &sock.display().to_string());
    let path = dir.write("startup.conf", &conf);
    let path = path.display().to_string();
    let out = run_rvpp(&["-c", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "rvpp on\n{conf}\nended with {}; stderr:\n{stderr}", out.status);
    assert!(!sock.exists(), "a refused configuration must not leave a socket; stderr:\n{stderr}");
    (path, stderr)
}

#[test]
fn unknown_keyword_names_line_and_token() {
    let (path, err) = refused("conf-keyword", "unix {\n  nodaemon\n  frobnicate yes\n  cli-listen @SOCK@\n}\n");
    assert!(err.contains(&format!("{path}:3:")), "{err}");
    assert!(err.contains("frobnicate"), "{err}");
}

#[test]
fn unknown_section_names_line_and_token() {
    let (path, err) =
        refused("conf-section", "unix {\n  nodaemon\n  cli-listen @SOCK@\n}\n\nfrobnicator {\n  workers 2\n}\n");
    assert!(err.contains(&format!("{path}:6:")), "{err}");
    assert!(err.contains("frobnicator"), "{err}");
}

#[test]
fn bad_value_names_line_and_token() {
    let (path, err) = refused("conf-value", "unix { nodaemon cli-listen @SOCK@ }\ncpu {\n  workers two\n}\n");
    assert!(err.contains(&format!("{path}:3:")), "{err}");
    assert!(err.contains("two"), "{err}");
}

#[test]
fn unclosed_brace_names_the_opener() {
    let (path, err) = refused(
        "conf-unclosed",
        "unix {\n  nodaemon\n  cli-listen @SOCK@\n}\ncpu {\n  workers 1\n\nbuffers {\n  buffers-per-numa 1024\n}\n",
    );
    assert!(err.contains(&format!("{path}:5:")), "{err}");
    assert!(err.contains('{'), "{err}");
}

#[test]
fn stray_closing_brace_names_its_line() {
    let (path, err) = refused("conf-stray", "unix {\n  nodaemon\n  cli-listen @SOCK@\n}\n}\n");
    assert!(err.contains(&format!("{path}:5:")), "{err}");
    assert!(err.contains('}'), "{err}");
}

#[test]
fn missing_file_is_named() {
    let dir = TempDir::new("conf-missing");
    let path = dir.path().join("nope.conf").display().to_string();
    let out = run_rvpp(&["-c", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&path), "{err}");
}

#[test]
fn bad_startup_config_line_is_reported_and_the_rest_runs() {
    let d = Daemon::builder("conf-startup")
        .startup_config(
            "create packet-generator interface pg0\n\
             set interface state pg7 up\n\
             create packet-generator interface pg1\n\
             set int state pg1 up\n\
             set int state pg0 up\n\
             set interface l2 xconnect pg0 pg1\n",
        )
        .start();
    let file = d.startup_config_path().display().to_string();
    let log = d.log();
    let line2 = log
        .lines()
        .find(|l| l.contains(&format!("{file}:2:")))
        .unwrap_or_else(|| panic!("no {file}:2: in the log:\n{log}"));
    assert!(line2.contains("error") && line2.contains("pg7"), "{line2}");
    assert!(!log.contains(&format!("{file}:3: '")), "line 3 is fine, yet:\n{log}");
    assert!(d.stderr().contains(&format!("{file}:2:")), "{}", d.stderr());

    // Lines 3..6 ran: pg1 exists and is up, and pg0 forwards to it.
    let rows = rvpp_tests::parse_interfaces(&d.ctl_ok("show interface"));
    let state = |n: &str| rows.iter().find(|r| r.name == n).map(|r| r.state.clone());
    assert_eq!(state("pg1").as_deref(), Some("up"), "{rows:?}");
    assert_eq!(state("pg0").as_deref(), Some("up"), "{rows:?}");
    d.ctl_ok(&PgStream::new("s0", "pg0", 10).command());
    d.ctl_ok("packet-generator enable-stream s0");
    d.wait_stream_done("s0", 10);
    assert_eq!(d.counter("pg1", "tx packets"), 10);
}

#[test]
fn startup_config_runs_multi_line_commands() {
    let d = Daemon::builder("conf-multiline")
        .startup_config(
            "# streams may span lines\n\
             create packet-generator interface pg0\n\
             set int state pg0 up\n\
             packet-generator new {\n\
             \x20 name s0\n\
             \x20 limit 25\n\
             \x20 size 64-64\n\
             \x20 node ethernet-input\n\
             \x20 interface pg0\n\
             \x20 data {\n\
             \x20   IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06\n\
             \x20   UDP: 192.168.1.10 -> 192.168.1.11\n\
             \x20   UDP: 1234 -> 5678\n\
             \x20   incrementing 22\n\
             \x20 }\n\
             }\n\
             packet-generator enable-stream s0\n",
        )
        .start();
    assert!(!d.log().contains("error"), "{}", d.log());
    d.wait_stream_done("s0", 25);
    assert_eq!(d.counter("pg0", "rx packets"), 25);
}
