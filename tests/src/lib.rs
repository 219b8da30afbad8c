//! End-to-end test support: the real `rvpp` daemon started on a
//! configuration written to a private temporary directory, driven through
//! the real `rvppctl`, and the parsers that turn the CLI's tables into maps
//! a test can assert on.
//!
//! The binaries come from `$RVPP_BIN_DIR` (relative paths are taken from the
//! workspace root), else `<workspace>/target/release`; build them first with
//! `cargo build --release --bins`.
//!
//! Every [`Daemon`] has its own directory and CLI socket, so tests run in
//! parallel. Nothing here sleeps to make an assertion true: tests poll a
//! condition with [`wait_until`] under a generous timeout.
//!
//! [`netns`] builds the network namespaces and veth pairs of the tests that
//! run rvpp against the Linux kernel.

pub mod netns;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the daemon may take to answer on its socket after it starts.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one `rvppctl` run (or a config-error `rvpp` run) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// The default bound for [`wait_until`] in tests.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the daemon gets to stop after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The usual test packet: Ethernet + IPv4 + UDP + 22 bytes, 64 bytes in all
/// with `size 64-64`, sent to a MAC no pg interface has.
pub const UDP_DATA: &str = "IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06  \
                            UDP: 192.168.1.10 -> 192.168.1.11  \
                            UDP: 1234 -> 5678  incrementing 22";

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Where `rvpp` and `rvppctl` are.
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("RVPP_BIN_DIR").filter(|d| !d.is_empty()) {
        Some(d) => workspace_root().join(d),
        None => workspace_root().join("target").join("release"),
    }
}

/// The path of one of the workspace's programs; panics with the build
/// command when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} does not exist: build it with `cargo build --release --bins` (or set RVPP_BIN_DIR)",
        p.display()
    );
    p
}

/// A directory of its own for one test, removed on drop (kept, and named on
/// stderr, when the test is failing).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/rvpp-e2e-<tag>-<pid>-<n>`. Unix socket paths must stay
    /// short (108 bytes), so a long `$TMPDIR` falls back to `/tmp`.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > 40 {
            base = PathBuf::from("/tmp");
        }
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("rvpp-e2e-{tag}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `name` inside the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Polls `cond` (every 10 ms, backing off to 100 ms) until it holds or
/// `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Sends a signal with the `kill` program (the tests crate has no unsafe).
pub fn send_signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` to completion with `stdin` fed to it, collecting its output;
/// panics (after SIGKILL) when it runs longer than `timeout`.
pub fn run_with_timeout(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let what: String = what.chars().take(300).collect();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let pid = child.id();
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(bytes)) => Some(std::thread::spawn(move || {
            // The program may stop reading early (and exit); that shows in
            // its status, not here.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(timeout) {
        Ok(r) => r.unwrap_or_else(|e| panic!("waiting for {what}: {e}")),
        Err(_) => {
            send_signal(pid, "KILL");
            panic!("{what} did not finish within {timeout:?}");
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    out
}

/// Runs `rvpp` with `args` and waits for it to exit (a configuration error
/// is expected to end it at once).
pub fn run_rvpp(args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("rvpp"));
    cmd.args(args);
    run_with_timeout(cmd, None, COMMAND_TIMEOUT)
}

/// Sends one request on a raw CLI connection and reads the reply, with the
/// wire format spelled out here independently of the daemon's code: each
/// message is a little-endian u32 length and that many bytes; a reply's
/// first byte is 0 (ok) or 1 (error) and the rest its text.
pub fn raw_request(stream: &mut UnixStream, line: &[u8]) -> io::Result<Result<String, String>> {
    let mut frame = (line.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(line);
    stream.write_all(&frame)?;
    raw_response(stream)
}

/// Reads one reply frame (see [`raw_request`]).
pub fn raw_response(stream: &mut UnixStream) -> io::Result<Result<String, String>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > 64 << 20 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("reply frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    let text = String::from_utf8_lossy(&body[1..]).into_owned();
    match body[0] {
        0 => Ok(Ok(text)),
        1 => Ok(Err(text)),
        s => Err(io::Error::new(io::ErrorKind::InvalidData, format!("reply status byte {s}"))),
    }
}

/// Connects to a CLI socket with 10 s read/write timeouts.
pub fn connect(socket: &Path) -> io::Result<UnixStream> {
    let s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// Whether a daemon answers `show version` on `socket`.
pub fn socket_answers(socket: &Path) -> bool {
    connect(socket).and_then(|mut s| raw_request(&mut s, b"show version")).is_ok_and(|r| r.is_ok())
}

/// What to put in a test daemon's startup.conf.
#[derive(Clone, Debug)]
pub struct DaemonBuilder {
    tag: String,
    workers: usize,
    buffers: u32,
    startup_config: Option<String>,
    extra: String,
    base: Option<String>,
}

impl DaemonBuilder {
    /// Starts from this startup.conf text instead of the test defaults
    /// (no `cpu`/`buffers` sections are written); a `unix` section with the
    /// test's socket and log file is still appended.
    pub fn base_conf(mut self, text: &str) -> Self {
        self.base = Some(text.to_string());
        self
    }

    /// `cpu { workers N }`; 0 (the default) lets the main thread run the
    /// graph.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// `buffers { buffers-per-numa N }` (default 4096).
    pub fn buffers(mut self, n: u32) -> Self {
        self.buffers = n;
        self
    }

    /// Writes `text` as the `unix { startup-config }` file.
    pub fn startup_config(mut self, text: &str) -> Self {
        self.startup_config = Some(text.to_string());
        self
    }

    /// Appends raw text (more sections) to startup.conf.
    pub fn extra(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self.extra.push('\n');
        self
    }

    /// The startup.conf text for a daemon living in `dir`.
    pub fn conf_text(&self, dir: &Path) -> String {
        let mut unix = format!(
            "unix {{\n  nodaemon\n  cli-listen {}\n  log {}\n",
            dir.join("cli.sock").display(),
            dir.join("rvpp.log").display()
        );
        if self.startup_config.is_some() {
            unix.push_str(&format!("  startup-config {}\n", dir.join("startup.txt").display()));
        }
        unix.push_str("}\n");
        if let Some(base) = &self.base {
            return format!("{base}\n{unix}{}", self.extra);
        }
        let mut conf = unix;
        if self.workers > 0 {
            conf.push_str(&format!("cpu {{\n  workers {}\n}}\n", self.workers));
        }
        conf.push_str(&format!("buffers {{\n  buffers-per-numa {}\n}}\n", self.buffers));
        conf.push_str(&self.extra);
        conf
    }

    /// Writes the files and starts the daemon; returns once its socket
    /// answers.
    pub fn start(self) -> Daemon {
        let dir = TempDir::new(&self.tag);
        if let Some(text) = &self.startup_config {
            dir.write("startup.txt", text);
        }
        let conf = dir.write("startup.conf", &self.conf_text(dir.path()));
        let socket = dir.path().join("cli.sock");
        let args = vec![OsString::from("-c"), conf.into_os_string()];
        Daemon::launch(dir, args, socket)
    }
}

/// A running `rvpp`, stopped with SIGTERM (then SIGKILL) on drop.
pub struct Daemon {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
}

impl Daemon {
    /// A daemon on the test defaults: no workers, 4096 buffers.
    pub fn start(tag: &str) -> Daemon {
        Daemon::builder(tag).start()
    }

    /// A builder; `tag` names the temporary directory.
    pub fn builder(tag: &str) -> DaemonBuilder {
        DaemonBuilder {
            tag: tag.to_string(),
            workers: 0,
            buffers: 4096,
            startup_config: None,
            extra: String::new(),
            base: None,
        }
    }

    /// Starts `rvpp <args>` expecting it to listen on `socket` (for a
    /// daemon not configured by the builder, e.g. on its embedded default).
    pub fn start_with_args(tag: &str, args: &[&str], socket: &Path) -> Daemon {
        Daemon::launch(TempDir::new(tag), args.iter().map(OsString::from).collect(), socket.to_path_buf())
    }

    fn launch(dir: TempDir, args: Vec<OsString>, socket: PathBuf) -> Daemon {
        let stderr_path = dir.path().join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).expect("create the daemon's stderr file");
        let child = Command::new(bin("rvpp"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start rvpp: {e}"));
        let mut d = Daemon { child, dir, socket, stderr_path };
        let t0 = Instant::now();
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("rvpp {args:?} exited ({status}) before answering; its stderr:\n{}", d.stderr());
            }
            if socket_answers(&d.socket) {
                return d;
            }
            if t0.elapsed() > START_TIMEOUT {
                panic!(
                    "rvpp {args:?} did not answer on {} within {START_TIMEOUT:?}; its stderr:\n{}",
                    d.socket.display(),
                    d.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The startup.conf a builder wrote.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("startup.conf")
    }

    /// The startup-config file a builder wrote.
    pub fn startup_config_path(&self) -> PathBuf {
        self.dir.path().join("startup.txt")
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The `unix { log }` file (builder daemons only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rvpp.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// An `rvppctl -s <socket>` command, without the command words.
    pub fn rvppctl(&self) -> Command {
        let mut c = Command::new(bin("rvppctl"));
        c.arg("-s").arg(&self.socket);
        c
    }

    /// Runs one CLI command through `rvppctl`: `Ok(stdout)` on exit 0,
    /// `Err(stderr)` on exit 1. Any other end (daemon unreachable or gone,
    /// a crash) panics with the daemon's stderr.
    pub fn ctl(&self, line: &str) -> Result<String, String> {
        let mut c = self.rvppctl();
        c.arg("--").arg(line);
        let out = run_with_timeout(c, None, COMMAND_TIMEOUT);
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            Some(1) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            _ => panic!(
                "rvppctl {line:?} ended with {}: {}\nrvpp's stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.stderr()
            ),
        }
    }

    /// [`Daemon::ctl`] that must succeed.
    pub fn ctl_ok(&self, line: &str) -> String {
        self.ctl(line).unwrap_or_else(|e| panic!("`{line}` failed: {e}"))
    }

    /// Runs `rvppctl` with `script` piped to its stdin (one command a line).
    pub fn ctl_script(&self, script: &str) -> Output {
        run_with_timeout(self.rvppctl(), Some(script.as_bytes().to_vec()), COMMAND_TIMEOUT)
    }

    /// `show interface` counters: (interface, counter) -> value.
    pub fn interface_counters(&self) -> BTreeMap<(String, String), u64> {
        parse_interface_counters(&self.ctl_ok("show interface"))
    }

    /// One interface counter, 0 when `show interface` does not list it.
    pub fn counter(&self, interface: &str, counter: &str) -> u64 {
        self.interface_counters().get(&(interface.to_string(), counter.to_string())).copied().unwrap_or(0)
    }

    /// `show errors`: (node, reason) -> count.
    pub fn errors(&self) -> BTreeMap<(String, String), u64> {
        parse_errors(&self.ctl_ok("show errors"))
    }

    /// `show runtime` rows.
    pub fn runtime(&self) -> Vec<RuntimeRow> {
        parse_runtime(&self.ctl_ok("show runtime"))
    }

    /// `show packet-generator` rows.
    pub fn pg_streams(&self) -> Vec<PgStreamRow> {
        parse_pg_streams(&self.ctl_ok("show packet-generator"))
    }

    /// Waits until stream `name` has sent `limit` packets and stopped;
    /// panics with `show packet-generator` on timeout.
    pub fn wait_stream_done(&self, name: &str, limit: u64) {
        let done = wait_until(WAIT_TIMEOUT, || {
            self.pg_streams().iter().any(|s| s.name == name && !s.enabled && s.count == limit)
        });
        assert!(
            done,
            "stream {name} did not finish {limit} packets within {WAIT_TIMEOUT:?}:\n{}",
            self.ctl_ok("show packet-generator")
        );
    }

    /// Resident set size from /proc/<pid>/status, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// CPU time used so far (user + system, all threads).
    pub fn cpu_time(&self) -> Duration {
        process_cpu_time(self.pid())
    }

    /// CPU used over the next `window` (this call sleeps through it), in
    /// percent of one core: ~0 for a daemon whose threads sleep, ~100 per
    /// thread that spins.
    pub fn cpu_percent(&self, window: Duration) -> f64 {
        let (cpu0, t0) = (self.cpu_time(), std::time::Instant::now());
        std::thread::sleep(window);
        let (cpu1, t1) = (self.cpu_time(), std::time::Instant::now());
        100.0 * (cpu1 - cpu0).as_secs_f64() / (t1 - t0).as_secs_f64()
    }

    /// Sends SIGTERM and waits (up to [`STOP_TIMEOUT`]) for the exit status;
    /// panics, after SIGKILL, if the daemon does not stop.
    pub fn stop(mut self) -> ExitStatus {
        send_signal(self.pid(), "TERM");
        match self.wait_exit(STOP_TIMEOUT) {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                panic!("rvpp did not stop within {STOP_TIMEOUT:?} of SIGTERM; its stderr:\n{}", self.stderr());
            }
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            send_signal(self.child.id(), "TERM");
            if self.wait_exit(STOP_TIMEOUT).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("--- rvpp stderr ({}) ---\n{}", self.stderr_path.display(), self.stderr());
        }
    }
}

/// CPU time (utime + stime) of a process, from /proc/<pid>/stat.
pub fn process_cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the ")" that ends the command name start at field 3.
    let rest = &stat[stat.rfind(')').expect("')' in /proc/<pid>/stat") + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

/// `getconf CLK_TCK`, 100 when it cannot be read.
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// A `packet-generator new` command.
#[derive(Clone, Debug)]
pub struct PgStream<'a> {
    pub name: &'a str,
    pub interface: &'a str,
    pub limit: u64,
    pub size: &'a str,
    pub worker: Option<u32>,
    pub node: &'a str,
    pub data: &'a str,
}

impl<'a> PgStream<'a> {
    /// `limit` 64-byte [`UDP_DATA`] packets into ethernet-input on `interface`.
    pub fn new(name: &'a str, interface: &'a str, limit: u64) -> Self {
        PgStream { name, interface, limit, size: "64-64", worker: None, node: "ethernet-input", data: UDP_DATA }
    }

    pub fn size(mut self, size: &'a str) -> Self {
        self.size = size;
        self
    }

    pub fn worker(mut self, w: u32) -> Self {
        self.worker = Some(w);
        self
    }

    pub fn data(mut self, data: &'a str) -> Self {
        self.data = data;
        self
    }

    /// The command line.
    pub fn command(&self) -> String {
        let worker = self.worker.map_or(String::new(), |w| format!(" worker {w}"));
        format!(
            "packet-generator new {{ name {} limit {} size {} node {} interface {}{worker} data {{ {} }} }}",
            self.name, self.limit, self.size, self.node, self.interface, self.data
        )
    }
}

/// One interface row of `show interface`, without its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceRow {
    pub name: String,
    pub index: u32,
    pub state: String,
    pub mtu: String,
}

/// The interface rows of `show interface`.
pub fn parse_interfaces(text: &str) -> Vec<InterfaceRow> {
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(InterfaceRow {
                name: f.first()?.to_string(),
                index: f.get(1)?.parse().ok()?,
                state: f.get(2)?.to_string(),
                mtu: f.get(3)?.to_string(),
            })
        })
        .collect()
}

/// The counters of `show interface`: (interface, counter name) -> value.
/// A row is `name idx state mtu [counter value]`, and each further counter
/// of that interface is an indented `counter value` line.
pub fn parse_interface_counters(text: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    let mut current = String::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let counter = if l.starts_with(char::is_whitespace) {
            &f[..]
        } else if let Some(name) = f.first() {
            current = name.to_string();
            f.get(4..).unwrap_or(&[])
        } else {
            continue;
        };
        if let Some((value, name)) = counter.split_last() {
            if let (false, Ok(v)) = (name.is_empty(), value.parse::<u64>()) {
                out.insert((current.clone(), name.join(" ")), v);
            }
        }
    }
    out
}

/// `show errors`: (node, reason) -> count. Rows are `count node reason...
/// severity`.
pub fn parse_errors(text: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        if let Ok(c) = f[0].parse::<u64>() {
            *out.entry((f[1].to_string(), f[2..f.len() - 1].join(" "))).or_insert(0) += c;
        }
    }
    out
}

/// One node row of `show runtime`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeRow {
    /// The `Thread N` the row is listed under.
    pub thread: usize,
    pub name: String,
    pub state: String,
    pub calls: u64,
    pub vectors: u64,
}

/// The node rows of `show runtime`, each with its thread.
pub fn parse_runtime(text: &str) -> Vec<RuntimeRow> {
    let mut out = Vec::new();
    let mut thread = 0;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() == Some(&"Thread") {
            thread = f.get(1).and_then(|t| t.parse().ok()).unwrap_or(thread);
            continue;
        }
        if f.len() != 7 {
            continue;
        }
        if let (Ok(calls), Ok(vectors)) = (f[2].parse(), f[3].parse()) {
            out.push(RuntimeRow { thread, name: f[0].to_string(), state: f[1].to_string(), calls, vectors });
        }
    }
    out
}

/// One stream of `show packet-generator`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgStreamRow {
    pub name: String,
    pub enabled: bool,
    /// Packets sent since the stream was last enabled.
    pub count: u64,
}

/// The streams of `show packet-generator`.
pub fn parse_pg_streams(text: &str) -> Vec<PgStreamRow> {
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(PgStreamRow {
                name: f.first()?.to_string(),
                enabled: match *f.get(1)? {
                    "Yes" => true,
                    "No" => false,
                    _ => return None,
                },
                count: f.get(2)?.parse().ok()?,
            })
        })
        .collect()
}

/// The packets of `show trace`: the text of each `Packet N` block.
pub fn parse_trace(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        let is_header = l.strip_prefix("Packet ").is_some_and(|n| n.trim().parse::<u32>().is_ok());
        if is_header {
            out.push(String::new());
            inside = true;
        } else if l.starts_with("---") {
            inside = false;
        } else if inside {
            if let Some(p) = out.last_mut() {
                p.push_str(l);
                p.push('\n');
            }
        }
    }
    out
}

/// The node names of one trace block, in order (lines `hh:mm:ss:us: node`).
pub fn trace_nodes(packet: &str) -> Vec<String> {
    packet
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let (time, node) = l.rsplit_once(": ")?;
            time.chars().all(|c| c.is_ascii_digit() || c == ':').then(|| node.trim().to_string())
        })
        .collect()
}

/// The kernel's TCP echo server for end-to-end tests (python3, argv[1] the
/// port): one socket on the IPv6 wildcard serving both families
/// (v4-mapped), a thread per connection echoing until EOF.
pub const KERNEL_TCP_ECHO: &str = r#"
import socket, sys, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(256)
def serve(c):
    with c:
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            c.sendall(b)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW_INTERFACE: &str = "\
                 Name              Idx    State MTU (L3/IP4/IP6/MPLS)       Counter           Count
local0                           0     down    0/0/0/0
pg0                              1     up      9000/0/0/0          rx packets                    1000
                                                                   rx bytes                     64000
                                                                   drops                          500
pg1                              2     up      9000/0/0/0          tx packets                    1000
";

    #[test]
    fn interface_counters_and_rows() {
        let c = parse_interface_counters(SHOW_INTERFACE);
        let get = |i: &str, n: &str| c.get(&(i.to_string(), n.to_string())).copied();
        assert_eq!(get("pg0", "rx packets"), Some(1000));
        assert_eq!(get("pg0", "rx bytes"), Some(64000));
        assert_eq!(get("pg0", "drops"), Some(500));
        assert_eq!(get("pg1", "tx packets"), Some(1000));
        assert_eq!(c.len(), 4);
        let rows = parse_interfaces(SHOW_INTERFACE);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1],
            InterfaceRow { name: "pg0".into(), index: 1, state: "up".into(), mtu: "9000/0/0/0".into() }
        );
    }

    #[test]
    fn errors_runtime_streams_trace() {
        let e = parse_errors(
            "     Count                          Node                                  Reason    Severity\n\
             \x20      300                ethernet-input                         frame too short       error\n",
        );
        assert_eq!(e.get(&("ethernet-input".into(), "frame too short".into())), Some(&300));

        let r = parse_runtime(
            "Thread 2 rvpp_wk_1 (unpinned)\nTime 1.6, average vectors/node 250.00, loops/sec 1980.47\n\
             Name                             State                      Calls         Vectors        Suspends         Clocks     Vectors/Call\n\
             pg-input                         polling                     3077            1000               0         8.28e2             0.32\n",
        );
        assert_eq!(
            r,
            vec![RuntimeRow {
                thread: 2,
                name: "pg-input".into(),
                state: "polling".into(),
                calls: 3077,
                vectors: 1000
            }]
        );

        let s = parse_pg_streams(
            "Name                 Enabled          Count     Parameters\n\
             s0                        No           1000     limit 1000, size 64-64, node ethernet-input\n\
             \x20                                          IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06\n",
        );
        assert_eq!(s, vec![PgStreamRow { name: "s0".into(), enabled: false, count: 1000 }]);

        let t = parse_trace(
            "------------------- Start of thread 0 rvpp_main -------------------\nPacket 1\n\n\
             00:00:01:038923: pg-input\n  stream s0, 64 bytes, sw_if_index 1\n\
             00:00:01:039209: ethernet-input\n  IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06\n\n",
        );
        assert_eq!(t.len(), 1);
        assert_eq!(trace_nodes(&t[0]), ["pg-input", "ethernet-input"]);
    }

    #[test]
    fn stream_command() {
        let c = PgStream::new("s0", "pg0", 10).size("10-10").worker(1).command();
        assert!(c.starts_with(
            "packet-generator new { name s0 limit 10 size 10-10 node ethernet-input interface pg0 worker 1 data { IP4:"
        ));
        assert!(c.ends_with("incrementing 22 } }"));
    }
}
