//! memif against peers no one here wrote: DPDK testpmd's net_memif in both
//! roles (io forwarding loops every packet back), a second rvpp daemon
//! routing ping between two namespaces, peer loss and restart (link down
//! and up, traffic again, fd and buffer counts back to their baseline), and
//! a wrong secret refused with a log line and a counter.
//!
//! The tests skip, loudly, only when `dpdk-testpmd` is not installed
//! (Debian's `dpdk-dev`); the two-daemon test needs only iproute2 and ping.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rvpp_tests::netns::Lab;
use rvpp_tests::{parse_interface_counters, require_host, wait_until, Daemon, PgStream};

const WAIT: Duration = Duration::from_secs(20);
const TESTPMD: &str = "dpdk-testpmd";

/// A testpmd with one net_memif port in io forwarding (loop topology:
/// whatever it receives it sends back). Killed on drop.
pub(super) struct Testpmd {
    child: Child,
    prefix: String,
    log: PathBuf,
}

impl Testpmd {
    /// `role` is net_memif's `client` or `server`; `extra` more devargs.
    pub(super) fn start(dir: &Path, tag: &str, role: &str, socket: &Path, extra: &str) -> Testpmd {
        Testpmd::start_with(dir, tag, role, socket, extra, &[])
    }

    /// As `start`, with more testpmd application arguments.
    fn start_with(dir: &Path, tag: &str, role: &str, socket: &Path, extra: &str, args: &[&str]) -> Testpmd {
        let prefix = format!("rvpp-{tag}-{}", std::process::id());
        let log = dir.join(format!("testpmd-{tag}.txt"));
        let vdev = format!("--vdev=net_memif0,role={role},socket={},socket-abstract=no{extra}", socket.display());
        let child = Command::new(TESTPMD)
            .args(["--no-huge", "--no-pci", "-m", "1024", "-l", "0,1", "--main-lcore", "0", "--file-prefix", &prefix])
            .arg(&vdev)
            .args(["--", "--total-num-mbufs=32768", "--port-topology=loop", "--forward-mode=io"])
            .args(args)
            // A pipe never written: testpmd exits when its stdin ends.
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log).expect("testpmd log"))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).expect("testpmd log")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {TESTPMD}: {e}"));
        Testpmd { child, prefix, log }
    }

    /// Port 0's ethdev counters `(ipackets, opackets)` read over DPDK's
    /// telemetry socket: what testpmd really received and really sent
    /// (frames its io forwarding could not queue are in neither).
    pub(super) fn port_stats(&self) -> Option<(u64, u64)> {
        let path = format!("/var/run/dpdk/{}/dpdk_telemetry.v2", self.prefix);
        let reply = telemetry_query(&path, "/ethdev/stats,0")?;
        let field = |name: &str| -> Option<u64> {
            let at = reply.find(&format!("\"{name}\":"))? + name.len() + 3;
            reply[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        };
        Some((field("ipackets")?, field("opackets")?))
    }

    pub(super) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills it at once (the peer dies: no DISCONNECT message).
    fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.prefix));
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request on a DPDK telemetry socket (SOCK_SEQPACKET: a greeting,
/// then one reply per request), the reply's JSON text. Python's socket
/// module speaks SOCK_SEQPACKET; std's does not.
fn telemetry_query(path: &str, request: &str) -> Option<String> {
    const ASK: &str = "import socket,sys\n\
        s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n\
        s.settimeout(5)\n\
        s.connect(sys.argv[1])\n\
        s.recv(65536)\n\
        s.send(sys.argv[2].encode())\n\
        sys.stdout.write(s.recv(65536).decode())\n";
    let out = Command::new("python3").args(["-c", ASK, path, request]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn memif_state(d: &Daemon, ifname: &str) -> String {
    let t = d.ctl_ok(&format!("show memif {ifname}"));
    t.lines().find_map(|l| l.trim().strip_prefix("state ").map(str::to_string)).unwrap_or_default()
}

fn wait_state(d: &Daemon, ifname: &str, want: &str, peer: Option<&Testpmd>) {
    let ok = wait_until(WAIT, || memif_state(d, ifname) == want);
    assert!(
        ok,
        "{ifname} never became {want}:\n{}\nrvpp stderr:\n{}\ntestpmd:\n{}",
        d.ctl_ok("show memif"),
        d.stderr(),
        peer.map(|p| p.output()).unwrap_or_default()
    );
}

pub(super) fn counter(d: &Daemon, ifname: &str, name: &str) -> u64 {
    let c = parse_interface_counters(&d.ctl_ok("show interface"));
    c.get(&(ifname.to_string(), name.to_string())).copied().unwrap_or(0)
}

/// pg0 cross-connected both ways with `ifname`, both up.
pub(super) fn loop_through(d: &Daemon, ifname: &str) {
    for cmd in [
        "create packet-generator interface pg0".to_string(),
        "set int state pg0 up".into(),
        format!("set int state {ifname} up"),
        format!("set interface l2 xconnect pg0 {ifname}"),
        format!("set interface l2 xconnect {ifname} pg0"),
    ] {
        d.ctl_ok(&cmd);
    }
}

/// Sends `n` 64-byte frames from pg0 out of `ifname` at a modest rate and
/// checks, against testpmd's own port counters, that rvpp lost nothing:
/// every frame rvpp sent, testpmd received; every frame testpmd sent back,
/// rvpp received and forwarded out of pg0. What rvpp could not queue is
/// counted as tx-error; what testpmd could not queue (a loaded machine
/// starves its poller) is in neither side's counts. Most frames must
/// really cross, and no node of the driver (`memif`, `dpdk`...) counted an
/// error.
pub(super) fn stream_comes_back(d: &Daemon, ifname: &str, name: &str, n: u64, peer: &Testpmd) {
    stream_comes_back_on(d, ifname, name, n, peer, "memif")
}

pub(super) fn stream_comes_back_on(d: &Daemon, ifname: &str, name: &str, n: u64, peer: &Testpmd, driver: &str) {
    d.ctl_ok("clear interfaces");
    let (pin0, pout0) = peer.port_stats().unwrap_or_else(|| panic!("no telemetry from testpmd:\n{}", peer.output()));
    let s = PgStream::new(name, "pg0", n);
    let cmd = s.command().replace(" size ", " rate 20000 size ");
    d.ctl_ok(&cmd);
    d.ctl_ok(&format!("packet-generator enable-stream {name}"));
    d.wait_stream_done(name, n);
    let (mut pin, mut pout) = (0, 0);
    let settled = wait_until(WAIT, || {
        let Some((i, o)) = peer.port_stats() else { return false };
        (pin, pout) = (i - pin0, o - pout0);
        let tx = counter(d, ifname, "tx packets");
        tx > 0 && pin == tx && counter(d, ifname, "rx packets") == pout
    });
    let show = d.ctl_ok("show interface");
    let (tx, rx) = (counter(d, ifname, "tx packets"), counter(d, ifname, "rx packets"));
    let txe = counter(d, ifname, "tx-error");
    assert!(
        settled,
        "{ifname}: rvpp sent {tx}, testpmd received {pin}; testpmd sent {pout}, rvpp received {rx}:\n{show}\n{}\ntestpmd:\n{}",
        d.ctl_ok("show hardware-interfaces"),
        peer.output()
    );
    assert_eq!(tx + txe, n, "every frame is sent or counted as a tx error:\n{show}");
    assert!(rx >= n / 2, "most frames must really cross and come back ({rx} of {n}):\n{show}");
    assert_eq!(counter(d, "pg0", "tx packets"), rx, "what came back leaves on pg0:\n{show}");
    let errors = d.errors();
    let bad: Vec<_> = errors.iter().filter(|((node, _), &c)| node.starts_with(driver) && c > 0).collect();
    assert!(bad.is_empty(), "{driver} counted errors: {bad:?}");
}

#[test]
fn memif_master_loops_through_testpmd_client() {
    require_host!("memif_master_loops_through_testpmd_client", &[TESTPMD]);
    let d = Daemon::builder("memif-master").buffers(16384).start();
    let sock = d.dir().join("memif.sock");
    d.ctl_ok(&format!("create memif socket id 1 filename {}", sock.display()));
    assert_eq!(d.ctl_ok("create interface memif id 0 socket-id 1 master").trim(), "memif1/0");
    loop_through(&d, "memif1/0");
    let pmd = Testpmd::start(d.dir(), "mst", "client", &sock, ",rsize=13");
    wait_state(&d, "memif1/0", "connected", Some(&pmd));
    let show = d.ctl_ok("show memif memif1/0");
    assert!(show.contains("remote-name \"DPDK"), "{show}");
    assert!(show.contains("role master"), "{show}");
    let hw = d.ctl_ok("show interface");
    assert!(hw.lines().any(|l| l.starts_with("memif1/0") && l.contains(" up ")), "{hw}");
    stream_comes_back(&d, "memif1/0", "s0", 20000, &pmd);
}

#[test]
fn memif_slave_loops_through_testpmd_server() {
    require_host!("memif_slave_loops_through_testpmd_server", &[TESTPMD]);
    let d = Daemon::builder("memif-slave").buffers(16384).start();
    let sock = d.dir().join("pmd.sock");
    // rvpp's client retries until the server is there.
    d.ctl_ok(&format!("create memif socket id 2 filename {}", sock.display()));
    // Small memif buffers: a 1400-byte frame takes a chain of three
    // descriptors (NEXT flag) each way.
    let c = "create interface memif id 0 socket-id 2 slave ring-size 4096 buffer-size 512";
    assert_eq!(d.ctl_ok(c).trim(), "memif2/0");
    loop_through(&d, "memif2/0");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(memif_state(&d, "memif2/0"), "disconnected");
    let pmd = Testpmd::start(d.dir(), "slv", "server", &sock, "");
    wait_state(&d, "memif2/0", "connected", Some(&pmd));
    let show = d.ctl_ok("show memif memif2/0");
    assert!(show.contains("role slave"), "{show}");
    stream_comes_back(&d, "memif2/0", "s0", 20000, &pmd);
    d.ctl_ok("clear interfaces");
    let big = PgStream::new("big", "pg0", 500).size("1400-1400");
    d.ctl_ok(&big.command().replace(" size ", " rate 5000 size "));
    d.ctl_ok("packet-generator enable-stream big");
    d.wait_stream_done("big", 500);
    let back = wait_until(WAIT, || counter(&d, "memif2/0", "rx packets") == 500);
    let show = d.ctl_ok("show interface");
    assert!(back, "chained frames did not all come back:\n{show}\n{}", d.ctl_ok("show memif"));
    assert_eq!(counter(&d, "memif2/0", "rx bytes"), 500 * 1400, "{show}");
    assert_eq!(counter(&d, "memif2/0", "tx packets"), 500, "{show}");
    // The server dies; rvpp's client goes down and retries until a new one
    // is there.
    drop(pmd);
    wait_state(&d, "memif2/0", "disconnected", None);
    // A killed testpmd leaves its socket file, which the next cannot bind.
    let _ = std::fs::remove_file(&sock);
    let pmd = Testpmd::start(d.dir(), "slv2", "server", &sock, "");
    wait_state(&d, "memif2/0", "connected", Some(&pmd));
    stream_comes_back(&d, "memif2/0", "s1", 5000, &pmd);
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Buffers in use (not free, not in a thread's cache): `show buffers`' Used.
fn buffers_in_use(d: &Daemon) -> i64 {
    let t = d.ctl_ok("show buffers");
    let row = t.lines().find(|l| l.starts_with("default")).unwrap_or_else(|| panic!("no pool row:\n{t}"));
    let v: Vec<i64> = row.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    // Index NUMA Size DataSize Total Avail Cached Used
    v[v.len() - 1]
}

#[test]
fn memif_peer_loss_and_return() {
    require_host!("memif_peer_loss_and_return", &[TESTPMD]);
    let d = Daemon::builder("memif-loss").buffers(16384).start();
    let sock = d.dir().join("memif.sock");
    d.ctl_ok(&format!("create memif socket id 1 filename {}", sock.display()));
    d.ctl_ok("create interface memif id 0 socket-id 1 master");
    loop_through(&d, "memif1/0");
    let fds0 = fd_count(d.pid());
    let bufs0 = buffers_in_use(&d);
    for round in 0..2 {
        let pmd = Testpmd::start(d.dir(), &format!("loss{round}"), "client", &sock, ",rsize=13");
        wait_state(&d, "memif1/0", "connected", Some(&pmd));
        assert!(fd_count(d.pid()) > fds0, "a connection holds the memfd, eventfds and socket");
        stream_comes_back(&d, "memif1/0", &format!("s{round}"), 10000, &pmd);
        // Kill it mid-stream: frames are still flowing when it dies.
        d.ctl_ok("clear interfaces");
        let kname = format!("k{round}");
        let s = PgStream::new(&kname, "pg0", 1_000_000);
        d.ctl_ok(&s.command().replace(" size ", " rate 20000 size "));
        d.ctl_ok(&format!("packet-generator enable-stream k{round}"));
        let flowing = wait_until(WAIT, || counter(&d, "memif1/0", "rx packets") > 1000);
        assert!(flowing, "no traffic before the kill:\n{}", d.ctl_ok("show interface"));
        pmd.kill();
        wait_state(&d, "memif1/0", "disconnected", None);
        let hw = d.ctl_ok("show interface");
        assert!(hw.lines().any(|l| l.starts_with("memif1/0")), "{hw}");
        d.ctl_ok(&format!("packet-generator disable-stream k{round}"));
        let log = d.stderr();
        assert!(log.contains("memif1/0: disconnected"), "no disconnect log line:\n{log}");
        let fds_back = wait_until(WAIT, || fd_count(d.pid()) == fds0);
        assert!(fds_back, "fds after disconnect {} vs baseline {fds0}", fd_count(d.pid()));
        let bufs_back = wait_until(WAIT, || buffers_in_use(&d) == bufs0);
        assert!(
            bufs_back,
            "buffers in use {} vs baseline {bufs0}:\n{}\n{}\n{}\n{}",
            buffers_in_use(&d),
            d.ctl_ok("show buffers"),
            d.ctl_ok("show interface"),
            d.ctl_ok("show errors"),
            d.ctl_ok("show packet-generator")
        );
    }
    let show = d.ctl_ok("show memif");
    assert!(show.contains("connects 2, disconnects 2"), "{show}");
}

#[test]
fn memif_wrong_secret_is_refused() {
    require_host!("memif_wrong_secret_is_refused", &[TESTPMD]);
    let d = Daemon::builder("memif-secret").buffers(16384).start();
    let sock = d.dir().join("memif.sock");
    d.ctl_ok(&format!("create memif socket id 1 filename {}", sock.display()));
    d.ctl_ok("create interface memif id 0 socket-id 1 master secret sesame");
    let pmd = Testpmd::start(d.dir(), "sec", "client", &sock, ",secret=wrong");
    let refused = wait_until(WAIT, || d.ctl_ok("show memif").contains("refused (bad secret) 1"));
    assert!(refused, "{}\n{}\n{}", d.ctl_ok("show memif"), d.stderr(), pmd.output());
    assert!(d.stderr().contains("refused 'DPDK"), "no log line: {}", d.stderr());
    assert!(d.stderr().contains("incorrect secret"), "no log line: {}", d.stderr());
    assert_eq!(memif_state(&d, "memif1/0"), "disconnected");
    drop(pmd);
    // The right secret connects.
    let pmd = Testpmd::start(d.dir(), "sec2", "client", &sock, ",secret=sesame");
    wait_state(&d, "memif1/0", "connected", Some(&pmd));
}

/// Namespace a — rvpp 1 — memif — rvpp 2 — namespace b, routed: ping
/// crosses both daemons over the memif (ethernet mode, ARP on the memif),
/// then again after the master daemon's peer is killed and restarted.
#[test]
fn memif_joins_two_daemons_routing_ping() {
    require_host!("memif_joins_two_daemons_routing_ping", &["ping", "ip"]);
    let n = 231;
    let mut lab = Lab::new("mfr");
    let a = lab.ns('a');
    let b = lab.ns('b');
    lab.address(&a, &format!("10.{n}.1.2/24"), Some(&format!("10.{n}.1.1")));
    lab.address(&b, &format!("10.{n}.2.2/24"), Some(&format!("10.{n}.2.1")));
    let dir = rvpp_tests::TempDir::new("memif-sock");
    let sock = dir.path().join("memif.sock");
    let conf = |ns: &rvpp_tests::netns::Ns, side: u8, role: &str, me: u8, peer: u8, other: u8| {
        format!(
            "create host-interface name {veth}\n\
             set interface state {hif} up\n\
             set interface ip address {hif} 10.{n}.{side}.1/24\n\
             create memif socket id 1 filename {sock}\n\
             create interface memif id 0 socket-id 1 {role}\n\
             set interface state memif1/0 up\n\
             set interface ip address memif1/0 10.{n}.3.{me}/24\n\
             ip route add 10.{n}.{other}.0/24 via 10.{n}.3.{peer} memif1/0\n",
            veth = ns.veth,
            hif = ns.host_if(),
            sock = sock.display()
        )
    };
    let d1 = Daemon::builder("memif-r1").buffers(16384).startup_config(&conf(&a, 1, "master", 1, 2, 2)).start();
    let start2 = || Daemon::builder("memif-r2").buffers(16384).startup_config(&conf(&b, 2, "slave", 2, 1, 1)).start();
    let d2 = start2();
    wait_state(&d1, "memif1/0", "connected", None);
    wait_state(&d2, "memif1/0", "connected", None);
    a.wait_ping(&[], &format!("10.{n}.2.2"), WAIT);
    let p = a.ping(&["-i", "0.05"], &format!("10.{n}.2.2"), 20);
    assert_eq!(p.lost(), 0, "{p:?}");
    assert!(counter(&d1, "memif1/0", "tx packets") >= 20 && counter(&d2, "memif1/0", "rx packets") >= 20);
    // Interrupt mode (the default): a connected, idle memif costs no CPU.
    std::thread::sleep(Duration::from_millis(500));
    let (c1, c2) = (d1.cpu_time(), d2.cpu_time());
    std::thread::sleep(Duration::from_secs(2));
    let (u1, u2) = (d1.cpu_time() - c1, d2.cpu_time() - c2);
    assert!(
        u1 < Duration::from_millis(100) && u2 < Duration::from_millis(100),
        "idle daemons used {u1:?} and {u2:?} of CPU in 2 s"
    );
    // The slave daemon is killed and comes back: link down, then up by itself.
    let fds0 = fd_count(d1.pid());
    rvpp_tests::send_signal(d2.pid(), "KILL");
    drop(d2);
    wait_state(&d1, "memif1/0", "disconnected", None);
    let d2 = start2();
    wait_state(&d1, "memif1/0", "connected", None);
    b.wait_ping(&[], &format!("10.{n}.1.2"), WAIT);
    assert_eq!(fd_count(d1.pid()), fds0, "fd count after reconnect");
    drop(d2);
}

/// Packets per memif queue from `show memif`: (direction, queue) -> packets.
fn queue_packets(d: &Daemon) -> Vec<(String, u64)> {
    let t = d.ctl_ok("show memif");
    let mut out = Vec::new();
    let mut q = String::new();
    for l in t.lines().map(str::trim) {
        if l.starts_with("rx queue") || l.starts_with("tx queue") {
            q = l.split(':').next().unwrap_or("").to_string();
        } else if let Some(p) = l.split_whitespace().skip_while(|w| *w != "packets").nth(1) {
            out.push((q.clone(), p.parse().unwrap_or(0)));
        }
    }
    out
}

/// Two queue pairs, each rx queue on its own worker, two pg streams (one
/// per worker, so both tx rings are used): every queue carries its share.
#[test]
fn memif_queue_pairs_on_workers() {
    require_host!("memif_queue_pairs_on_workers", &[TESTPMD]);
    let d = Daemon::builder("memif-mq").workers(2).buffers(16384).start();
    let sock = d.dir().join("memif.sock");
    d.ctl_ok(&format!("create memif socket id 1 filename {}", sock.display()));
    d.ctl_ok("create interface memif id 0 socket-id 1 master rx-queues 2 tx-queues 2");
    loop_through(&d, "memif1/0");
    let pmd = Testpmd::start_with(d.dir(), "mq", "client", &sock, ",rsize=12", &["--rxq=2", "--txq=2"]);
    wait_state(&d, "memif1/0", "connected", Some(&pmd));
    let placement = d.ctl_ok("show interface rx-placement");
    assert!(
        placement.contains("rvpp_wk_0") && placement.contains("rvpp_wk_1") && placement.contains("queue 1"),
        "{placement}"
    );
    for w in 0..2u32 {
        let name = format!("w{w}");
        let s = PgStream::new(&name, "pg0", 5000).worker(w);
        d.ctl_ok(&s.command().replace(" size ", " rate 10000 size "));
        d.ctl_ok(&format!("packet-generator enable-stream {name}"));
    }
    d.wait_stream_done("w0", 5000);
    d.wait_stream_done("w1", 5000);
    let back = wait_until(WAIT, || counter(&d, "memif1/0", "rx packets") == 10000);
    assert!(back, "{}\n{}", d.ctl_ok("show interface"), d.ctl_ok("show memif"));
    let q = queue_packets(&d);
    assert_eq!(q.len(), 4, "{q:?}");
    for (name, n) in &q {
        assert_eq!(*n, 5000, "{name} carried {n}: {q:?}");
    }
}

/// Two daemons joined by an ip-mode memif on an abstract socket (no
/// Ethernet header on the wire,
/// packets to ip4-input by their version nibble; static neighbors since ip
/// mode carries no ARP): rvpp's own ping crosses, and ARP rvpp would send
/// is dropped at memif tx, counted.
#[test]
fn memif_ip_mode_between_daemons() {
    // An abstract socket, in both of VPP's spellings.
    let abs = format!("rvpp-memif-ip-{}", std::process::id());
    let setup = |d: &Daemon, role: &str, me: u8, peer: u8| {
        for c in [
            if role == "master" {
                format!("create memif socket id 1 filename @{abs}")
            } else {
                format!("create memif socket id 1 filename abstract:{abs}")
            },
            format!("create interface memif id 0 socket-id 1 {role} mode ip"),
            "set interface state memif1/0 up".into(),
            format!("set interface ip address memif1/0 10.232.3.{me}/24"),
            format!("set ip neighbor static memif1/0 10.232.3.{peer} 02:00:00:00:00:0{peer}"),
        ] {
            d.ctl_ok(&c);
        }
    };
    let d1 = Daemon::start("memif-ip1");
    let d2 = Daemon::start("memif-ip2");
    setup(&d1, "master", 1, 2);
    setup(&d2, "slave", 2, 1);
    wait_state(&d1, "memif1/0", "connected", None);
    wait_state(&d2, "memif1/0", "connected", None);
    assert!(d1.ctl_ok("show memif").contains("mode ip"));
    let out = d1.ctl_ok("ping 10.232.3.2 repeat 5");
    assert!(out.contains("5 sent, 5 received"), "{out}");
    // Frames arrive without an Ethernet header: 84-byte echo requests.
    assert_eq!(counter(&d2, "memif1/0", "rx bytes"), 5 * 84, "{}", d2.ctl_ok("show interface"));
    // An address with no static neighbor makes rvpp ARP; ip mode drops it.
    let _ = d1.ctl_ok("ping 10.232.3.9 repeat 1");
    let drops = wait_until(WAIT, || d1.ctl_ok("show memif").contains("drops 1"));
    assert!(drops, "{}", d1.ctl_ok("show memif"));
    assert_eq!(counter(&d2, "memif1/0", "rx packets"), 5);
    // Polling mode masks the peer's interrupts on d2's rx ring; ping still
    // crosses.
    d2.ctl_ok("set interface rx-mode memif1/0 polling");
    let show = d2.ctl_ok("show memif");
    assert!(show.contains("rx-mode polling"), "{show}");
    let rx_line = show.lines().skip_while(|l| !l.contains("rx queue 0")).nth(2).unwrap_or("");
    assert!(rx_line.contains("flags 0x0001"), "{show}");
    let out = d1.ctl_ok("ping 10.232.3.2 repeat 3");
    assert!(out.contains("3 sent, 3 received"), "{out}");
}

/// A hostile memif client in Python: speaks the protocol by hand (memfd,
/// eventfds, SCM_RIGHTS) and misbehaves one way per case. Prints what the
/// server answered last.
const BAD_PEER: &str = r#"
import mmap, os, socket, struct, sys, time
path, case = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
s.settimeout(5)
def msg(t, body=b""):
    b = struct.pack("<H", t) + body
    return b + b"\0" * (128 - len(b))
def name(x, n):
    return x.encode() + b"\0" * (n - len(x))
def recv():
    try:
        m = s.recv(256)
    except (ConnectionResetError, socket.timeout):
        return None
    return m if m else None
def send(m, fd=None):
    if fd is None:
        s.send(m)
    else:
        socket.send_fds(s, [m], [fd])
hello = recv()
assert hello and struct.unpack_from("<H", hello)[0] == 2, hello
if case == "short":
    s.send(b"\x03\x00" + b"\0" * 62)
elif case == "unknown":
    send(msg(42))
elif case == "early":
    send(msg(6, name("x", 32)))
else:
    send(msg(3, struct.pack("<HIB", 0x200, 0, 0) + name("", 24) + name("badpeer", 32)))
    assert struct.unpack_from("<H", recv())[0] == 1
    if case == "stall":
        # Holds the interface in its handshake and says nothing more.
        s.settimeout(15)
        r = recv()
        print("disconnect:", r[6:102].split(b"\0")[0].decode() if r else None)
        sys.exit(0)
    LOG2, N = 4, 16
    RING = 128 + 16 * N
    BUF = 2 * RING
    size = BUF + 2 * N * 2048
    fd = os.memfd_create("r")
    if case == "short-memfd":
        os.ftruncate(fd, 4096)
    else:
        os.ftruncate(fd, size)
    send(msg(4, struct.pack("<HQ", 0, size)), fd)
    r = recv()
    if r and struct.unpack_from("<H", r)[0] == 1:
        mem = mmap.mmap(fd, size)
        offs = {"outside": (size - 64, RING), "overlap": (0, 64), "cookie": (0, RING)}.get(case, (0, RING))
        for k, (flag, off) in enumerate([(1, offs[0]), (0, offs[1])]):
            if case != "cookie":
                if off + RING <= size:
                    struct.pack_into("<I", mem, off, 0x3E31F20)
            ev = os.eventfd(0)
            send(msg(5, struct.pack("<HHHIBH", flag, 0, 0, off, LOG2, 0)), ev)
            r = recv()
        send(msg(6, name("badpeer0", 32)))
        r = recv()
        if case == "baddesc" and r and struct.unpack_from("<H", r)[0] == 7:
            # Slave-to-master ring at 0: three packets, two of them bad.
            descs = [(0, 0, 100, size - 50), (0, 7, 60, BUF), (0, 0, 60, BUF)]
            for k, (fl, reg, ln, of) in enumerate(descs):
                struct.pack_into("<HHIII", mem, 128 + 16 * k, fl, reg, ln, of, 0)
            struct.pack_into("<H", mem, 6, 3)
            time.sleep(1.5)
            print("tail", struct.unpack_from("<H", mem, 64)[0])
            sys.stdout.flush()
            time.sleep(0.5)
while True:
    r = recv()
    if r is None:
        break
    t = struct.unpack_from("<H", r)[0]
    if t == 8:
        print("disconnect:", r[6:102].split(b"\0")[0].decode())
        break
"#;

fn protocol_errors(d: &Daemon) -> u64 {
    let t = d.ctl_ok("show memif");
    let after = t.split("protocol errors ").nth(1).unwrap_or("0");
    after.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("0").parse().unwrap_or(0)
}

/// The peer is untrusted: malformed and out-of-order messages, a memfd
/// shorter than the region it claims, rings outside their region or
/// overlapping or without the cookie each end the connection with a logged,
/// counted reason; descriptors pointing outside the shared memory are
/// dropped and counted, never followed. rvpp keeps serving: a good peer
/// connects afterwards.
#[test]
fn memif_hostile_peer_is_contained() {
    require_host!("memif_hostile_peer_is_contained", &[rvpp_tests::netns::PYTHON]);
    let d = Daemon::builder("memif-bad").buffers(16384).start();
    let sock = d.dir().join("memif.sock");
    d.ctl_ok(&format!("create memif socket id 1 filename {}", sock.display()));
    d.ctl_ok("create interface memif id 0 socket-id 1 master");
    d.ctl_ok("set interface state memif1/0 up");
    let peer = |case: &str| -> String {
        let out = rvpp_tests::run_with_timeout(
            {
                let mut c = Command::new(rvpp_tests::netns::PYTHON);
                c.args(["-c", BAD_PEER, &sock.display().to_string(), case]);
                c
            },
            None,
            Duration::from_secs(30),
        );
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "peer '{case}' failed:\n{text}\nrvpp:\n{}", d.stderr());
        text
    };
    let cases = [
        ("short", "message of 64 bytes"),
        ("unknown", "unknown message type 42"),
        ("early", "unexpected CONNECT before INIT"),
        ("short-memfd", "shorter than the region"),
        ("outside", "leaves region 0"),
        ("overlap", "overlap in region 0"),
        ("cookie", "bad cookie"),
        ("stall", "handshake not finished within 5 s"),
    ];
    for (k, (case, why)) in cases.iter().enumerate() {
        let _ = peer(case);
        let logged = wait_until(WAIT, || d.stderr().contains(why));
        assert!(logged, "case {case}: no '{why}' in the log:\n{}", d.stderr());
        assert_eq!(protocol_errors(&d), k as u64 + 1, "case {case}:\n{}", d.ctl_ok("show memif"));
        wait_state(&d, "memif1/0", "disconnected", None);
    }
    let out = peer("baddesc");
    assert!(out.contains("tail 3"), "rvpp did not consume the three slots: {out}\n{}", d.ctl_ok("show memif"));
    let errors = d.errors();
    let bad = errors.get(&("memif-input".to_string(), "bad descriptor (outside its region)".to_string()));
    assert_eq!(bad, Some(&2), "{errors:?}");
    assert_eq!(counter(&d, "memif1/0", "rx packets"), 1, "{}", d.ctl_ok("show interface"));
    wait_state(&d, "memif1/0", "disconnected", None);
    // Still serving.
    if rvpp_tests::netns::have(TESTPMD) {
        let pmd = Testpmd::start(d.dir(), "after", "client", &sock, "");
        wait_state(&d, "memif1/0", "connected", Some(&pmd));
    }
}

/// The commands: bad input names its token and changes nothing; the
/// lifecycle of sockets and interfaces, with the socket file and the fds
/// released at the end.
#[test]
fn memif_commands() {
    let d = Daemon::start("memif-cli");
    let sock = d.dir().join("m.sock");
    let before = d.ctl_ok("show memif");
    // Once the CLI connection of that command is closed.
    std::thread::sleep(Duration::from_millis(300));
    let fds0 = fd_count(d.pid());
    for (cmd, token) in [
        ("create memif socket id x filename /tmp/a", "'x'"),
        ("create memif socket id 0 filename /tmp/a", "socket id 0"),
        ("create memif socket id 4", "expected filename"),
        ("create memif socket id 4 filename /tmp/a bogus", "bogus"),
        ("create interface memif id 1 socket-id 9 master", "no memif socket with id 9"),
        ("create interface memif id 1 ring-size 1000 master", "ring-size '1000'"),
        ("create interface memif id 1 ring-size 65536 master", "ring-size '65536'"),
        ("create interface memif id 1 rx-queues 0 master", "rx-queues '0'"),
        ("create interface memif id 1 buffer-size 12 master", "buffer-size '12'"),
        ("create interface memif id 1 mode ppp master", "mode 'ppp'"),
        ("create interface memif id 1 secret 0123456789abcdef01234567 master", "longer than 23"),
        ("create interface memif id 1 hw-addr 02:00 master", "'02:00'"),
        ("create interface memif id 1", "expected master or slave"),
        ("create interface memif id 1 master frobnicate", "frobnicate"),
        ("delete interface memif memif9/9", "'memif9/9'"),
        ("delete memif socket id 7", "no memif socket with id 7"),
        ("show memif pg7", "'pg7'"),
    ] {
        let e = d.ctl(cmd).expect_err(cmd);
        assert!(e.contains(token), "{cmd}: error '{e}' does not name {token}");
    }
    assert_eq!(d.ctl_ok("show memif"), before, "failed commands changed state");
    d.ctl_ok(&format!("create memif socket id 3 filename {}", sock.display()));
    // A second socket on the same path may connect to it, never listen.
    d.ctl_ok(&format!("create memif socket id 4 filename {}", sock.display()));
    assert_eq!(d.ctl_ok("create interface memif id 5 socket-id 3 master no-zero-copy").trim(), "memif3/5");
    let e = d.ctl("create interface memif id 8 socket-id 4 master").unwrap_err();
    assert!(e.contains("already in use by socket id 3"), "{e}");
    d.ctl_ok("delete memif socket id 4");
    assert!(sock.exists(), "a master listens on its socket");
    let e = d.ctl("create interface memif id 5 socket-id 3 master").unwrap_err();
    assert!(e.contains("already exists"), "{e}");
    let e = d.ctl("create interface memif id 6 socket-id 3 slave").unwrap_err();
    assert!(e.contains("used by memif3/5 as master"), "{e}");
    let e = d.ctl("delete memif socket id 3").unwrap_err();
    assert!(e.contains("in use by memif3/5"), "{e}");
    let show = d.ctl_ok("show memif memif3/5");
    assert!(show.contains("state disconnected") && show.contains("yes (1)"), "{show}");
    d.ctl_ok("delete interface memif memif3/5");
    assert!(!d.ctl_ok("show interface").contains("memif3/5"));
    d.ctl_ok("delete memif socket id 3");
    assert!(!sock.exists(), "the socket file is removed with the socket");
    assert!(!d.ctl_ok("show memif").contains("m.sock"));
    // (The CLI connection of the last command may still be closing.)
    let back = wait_until(WAIT, || fd_count(d.pid()) == fds0);
    assert!(back, "fds after delete: {} vs {fds0}", fd_count(d.pid()));
}

/// testpmd sends 3000-byte frames (two 1500-byte mbuf segments) through
/// net_memif's 2048-byte buffers: each arrives as a descriptor chain and
/// becomes an rvpp buffer chain (2048 + 952 bytes), whole.
#[test]
fn memif_receives_frames_larger_than_a_buffer() {
    require_host!("memif_receives_frames_larger_than_a_buffer", &[TESTPMD]);
    let d = Daemon::builder("memif-jumbo").buffers(16384).start();
    let sock = d.dir().join("memif.sock");
    for c in [
        format!("create memif socket id 1 filename {}", sock.display()),
        "create interface memif id 0 socket-id 1 master".into(),
        "create null interface".into(),
        "set interface state memif1/0 up".into(),
        "set interface state null0 up".into(),
        "set interface l2 xconnect memif1/0 null0".into(),
    ] {
        d.ctl_ok(&c);
    }
    let pmd =
        Testpmd::start_with(d.dir(), "jumbo", "client", &sock, "", &["--forward-mode=txonly", "--txpkts=1500,1500"]);
    wait_state(&d, "memif1/0", "connected", Some(&pmd));
    let got = wait_until(WAIT, || counter(&d, "memif1/0", "rx packets") >= 1000);
    assert!(got, "{}\n{}\n{}", d.ctl_ok("show interface"), d.ctl_ok("show memif"), pmd.output());
    drop(pmd);
    wait_state(&d, "memif1/0", "disconnected", None);
    let (n, bytes) = (counter(&d, "memif1/0", "rx packets"), counter(&d, "memif1/0", "rx bytes"));
    assert_eq!(bytes, n * 3000, "{n} packets, {bytes} bytes");
    assert_eq!(counter(&d, "null0", "tx packets"), n, "{}", d.ctl_ok("show interface"));
    let errors = d.errors();
    let bad: Vec<_> = errors.iter().filter(|((node, _), &c)| node.starts_with("memif") && c > 0).collect();
    assert!(bad.is_empty(), "memif counted errors: {bad:?}");
}
