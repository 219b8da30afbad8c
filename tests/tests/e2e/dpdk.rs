//! rvpp's DPDK driver against DPDK's own virtual devices and peers:
//! - routing between two kernel namespaces with both rvpp interfaces on
//!   `vdev net_af_packet<n>,iface=<veth>` ports (the ip_route topology):
//!   ping both families both ways, iperf3 TCP 5 s each way and over IPv6;
//!   then the veth under one port is deleted: that interface goes down and
//!   the daemon keeps answering and routing on the other;
//! - a memif exchange with `dpdk-testpmd` (net_memif server, io forwarding)
//!   through rvpp's `vdev net_memif0,role=client`: every frame sent comes
//!   back;
//! - `net_null` and `net_ring` ports driving the input and tx nodes alone:
//!   null0 cross-connected to null1 moves packets at full speed with rx ==
//!   tx, and a pg stream out of a ring port (which loops tx to rx) comes
//!   back whole;
//! - zero copy (rvpp buffers are the mbufs) gives every buffer back: after
//!   traffic through net_null and net_ring ports, rvpp's free buffers and
//!   DPDK's mempool caches add up to the whole arena; an arena too small
//!   for a PMD's burst is a counted refusal, not a crash, and leaks
//!   nothing either; `no-zero-copy` forwards on the copy path;
//! - bad devargs and a missing driver are errors naming the device, and
//!   the daemon comes up with the other ports.
//!
//! These need an rvpp built with the `dpdk` feature (the README's test
//! command builds it so). Without one they skip, loudly — unless
//! RVPP_REQUIRE_DPDK=1 (set by that command), when that is a failure.

use std::time::{Duration, Instant};

use rvpp_tests::netns::{self, Iperf, Ns, TwoSubnets, PEER};
use rvpp_tests::{bin, require_host, run_with_timeout, wait_until, Daemon, PgStream};

use super::memif::{counter, loop_through, stream_comes_back_on, Testpmd};

const WAIT: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(60);

/// Whether the rvpp under test has the DPDK driver; says why not.
fn have_dpdk(test: &str) -> bool {
    let mut c = std::process::Command::new(bin("rvpp"));
    c.arg("--version");
    let out = run_with_timeout(c, None, Duration::from_secs(10));
    let v = String::from_utf8_lossy(&out.stdout).to_string();
    if v.contains("(with dpdk)") {
        return true;
    }
    if std::env::var("RVPP_REQUIRE_DPDK").is_ok_and(|x| x == "1") {
        panic!("{test}: RVPP_REQUIRE_DPDK=1 but {} says '{}'", bin("rvpp").display(), v.trim());
    }
    eprintln!("SKIPPED {test}: this rvpp was built without the dpdk feature ({})", v.trim());
    false
}

/// A daemon with this `dpdk { }` section and startup-config lines.
fn daemon(tag: &str, workers: usize, dpdk: &str, startup: &str) -> Daemon {
    Daemon::builder(tag)
        .workers(workers)
        .buffers(16384)
        .extra(&format!("dpdk {{\n{dpdk}\n}}"))
        .startup_config(startup)
        .start()
}

/// The Link column of `show hardware-interfaces` for `ifname`.
fn link_of(d: &Daemon, ifname: &str) -> String {
    let t = d.ctl_ok("show hardware-interfaces");
    t.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(ifname)).then(|| w.nth(1).unwrap_or("").to_string())
        })
        .unwrap_or_default()
}

fn iperf3(d: &Daemon, client: &Ns, server: &Ns, to: &str, port: u16, args: &[&str]) -> Iperf {
    let r = netns::iperf3(d, client, server, to, port, args, RUN);
    r.assert_tcp(&format!("iperf3 {args:?} to {to}"));
    r
}

#[test]
fn route_over_dpdk_af_packet_ports() {
    require_host!("route_over_dpdk_af_packet_ports", &["ping", "iperf3", "ss", "ethtool"]);
    if !have_dpdk("route_over_dpdk_af_packet_ports") {
        return;
    }
    let t = TwoSubnets::new("dpk", 231);
    // net_af_packet hands frames over as the kernel holds them: a veth peer
    // sending with checksum offload would leave TCP checksums partial.
    for ns in [&t.a, &t.b] {
        ns.ok(&["ethtool", "-K", PEER, "tx", "off", "tso", "off", "gso", "off"]);
    }
    let section = format!(
        "no-pci\nvdev net_af_packet0,iface={} {{ name dpa }}\nvdev net_af_packet1,iface={} {{ name dpb }}",
        t.a.veth, t.b.veth
    );
    let names = ["dpa", "dpb"];
    let startup = t.startup_config_with(|side, _| {
        let n = names[side as usize - 1];
        (format!("set interface mac address {n} {}", t.rvpp_mac(side)), n.to_string())
    });
    let d = daemon("dpdk-route", 1, &section, &startup);
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("driver net_af_packet"), "{hwi}\n{}", d.stderr());
    t.wait_paths(WAIT);
    eprintln!("dpdk af_packet ping across rvpp: {}", t.ping_both_ways("dpdk", 20));
    let fwd = iperf3(&d, &t.a, &t.b, &t.host4(2), 5231, &["-t", "5"]);
    let rev = iperf3(&d, &t.a, &t.b, &t.host4(2), 5232, &["-t", "5", "-R"]);
    let fwd6 = iperf3(&d, &t.b, &t.a, &t.host6(1), 5233, &["-t", "5"]);
    eprintln!(
        "dpdk af_packet iperf3 TCP 5 s: a->b {} ({:?} retransmits), b->a {} ({:?}), IPv6 b->a {} ({:?})",
        fwd.rate(),
        fwd.retransmits,
        rev.rate(),
        rev.retransmits,
        fwd6.rate(),
        fwd6.retransmits
    );
    assert!(counter(&d, "dpa", "rx packets") > 1000 && counter(&d, "dpb", "tx packets") > 1000);

    // The veth under dpa goes away: dpa goes down, rvpp stays up and still
    // answers on dpb.
    assert_eq!(link_of(&d, "dpa"), "up");
    netns::ok(&["ip", "link", "del", &t.a.veth]);
    let down = wait_until(WAIT, || link_of(&d, "dpa") == "down");
    assert!(down, "dpa stayed up:\n{}", d.ctl_ok("show hardware-interfaces"));
    let r = t.b.ping(&["-i", "0.05", "-W", "2"], &t.rvpp4(2), 10);
    assert_eq!(r.received, 10, "rvpp no longer answers on dpb:\n{}", r.text);
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn dpdk_memif_client_loops_through_testpmd_server() {
    require_host!("dpdk_memif_client_loops_through_testpmd_server", &["dpdk-testpmd"]);
    if !have_dpdk("dpdk_memif_client_loops_through_testpmd_server") {
        return;
    }
    let dir = rvpp_tests::TempDir::new("dpdk-memif-pmd");
    let sock = dir.path().join("memif.sock");
    let pmd = Testpmd::start(dir.path(), "dpdkm", "server", &sock, "");
    // testpmd's server knows interface id 0 only once its port has started
    // (it prints the port's MAC then); net_memif's client does not retry.
    let ready = wait_until(WAIT, || sock.exists() && pmd.output().contains("Port 0: "));
    assert!(ready, "testpmd never listened:\n{}", pmd.output());
    let section =
        format!("no-pci\nvdev net_memif0,role=client,socket={},socket-abstract=no {{ name dm0 }}", sock.display());
    let d = daemon("dpdk-memif", 0, &section, "");
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("driver net_memif"), "{hwi}\n{}", d.stderr());
    loop_through(&d, "dm0");
    let up = wait_until(WAIT, || link_of(&d, "dm0") == "up");
    assert!(up, "dm0 never came up:\n{}\ntestpmd:\n{}", d.ctl_ok("show hardware-interfaces"), pmd.output());
    stream_comes_back_on(&d, "dm0", "dm", 20000, &pmd, "dpdk");
}

#[test]
fn dpdk_null_and_ring_ports_drive_input_and_tx() {
    if !have_dpdk("dpdk_null_and_ring_ports_drive_input_and_tx") {
        return;
    }
    let section = "no-pci\nvdev net_null0 { name n0 }\nvdev net_null1 { name n1 }\nvdev net_ring0 { name r0 }";
    let startup = "set interface state n0 up\nset interface state n1 up\nset interface l2 xconnect n0 n1\n";
    let d = daemon("dpdk-null", 0, section, startup);
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("driver net_null") && hwi.contains("driver net_ring"), "{hwi}\n{}", d.stderr());

    // null0 receives as fast as it is polled; everything leaves on null1.
    let t0 = Instant::now();
    d.ctl_ok("clear interfaces");
    std::thread::sleep(Duration::from_secs(1));
    d.ctl_ok("set interface state n0 down");
    let secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let show = d.ctl_ok("show interface");
    let (rx, tx) = (counter(&d, "n0", "rx packets"), counter(&d, "n1", "tx packets"));
    assert!(rx > 100_000, "net_null0 moved only {rx} packets in {secs:.1} s:\n{show}");
    assert_eq!(rx, tx, "rx on n0 vs tx on n1:\n{show}");
    assert_eq!(counter(&d, "n1", "tx-error"), 0, "{show}");
    eprintln!(
        "dpdk net_null0 -> l2 xconnect -> net_null1: {:.2} Mpps (debug figure, not a benchmark)",
        rx as f64 / secs / 1e6
    );

    // A ring port loops what it sends back to its rx.
    loop_through(&d, "r0");
    d.ctl_ok("clear interfaces");
    let n = 50_000;
    d.ctl_ok(&PgStream::new("ring", "pg0", n).command().replace(" size ", " rate 100000 size "));
    d.ctl_ok("packet-generator enable-stream ring");
    d.wait_stream_done("ring", n);
    let back = wait_until(WAIT, || counter(&d, "r0", "rx packets") == n);
    let show = d.ctl_ok("show interface");
    assert!(back, "ring: not every frame came back:\n{show}\n{}", d.ctl_ok("show hardware-interfaces"));
    assert_eq!(counter(&d, "r0", "tx packets"), n, "{show}");
    assert_eq!(counter(&d, "pg0", "tx packets"), n, "what came back leaves on pg0:\n{show}");
}

/// The number right before `what` in `text` (`512 in dpdk mempool caches`).
fn number_before(text: &str, what: &str) -> Option<u64> {
    let at = text.find(what)?;
    text[..at].split_whitespace().next_back()?.parse().ok()
}

/// (free, total) buffers with zero copy: rvpp's shared free pool, the
/// threads' caches and DPDK's per-lcore mempool caches (the ports share
/// one pool); and the arena's size. With one thread and every port down
/// (a down port's rx frees what it gets at once), nothing moves between
/// the two commands read here, so free == total unless a buffer leaked.
fn zc_free_and_total(d: &Daemon) -> (u64, u64) {
    let sb = d.ctl_ok("show buffers");
    let row: Vec<u64> = sb
        .lines()
        .find(|l| l.starts_with("default-numa-0"))
        .unwrap_or_else(|| panic!("no pool row:\n{sb}"))
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // Index NUMA Size DataSize Total Avail Cached Used
    assert_eq!(row.len(), 8, "{sb}");
    let hwi = d.ctl_ok("show hardware-interfaces");
    let dpdk_cached = number_before(&hwi, "in dpdk mempool caches").unwrap_or_else(|| panic!("not zero copy:\n{hwi}"));
    (row[5] + row[6] + dpdk_cached, row[4])
}

#[test]
fn dpdk_zero_copy_gives_every_buffer_back_and_counts_exhaustion() {
    if !have_dpdk("dpdk_zero_copy_gives_every_buffer_back_and_counts_exhaustion") {
        return;
    }
    let section = "no-pci\nvdev net_null0 { name n0 }\nvdev net_null1 { name n1 }\nvdev net_ring0 { name r0 }";
    let startup = "set interface state n0 up\nset interface state n1 up\nset interface l2 xconnect n0 n1\n";
    let d = daemon("dpdk-zc", 0, section, startup);
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("zero copy: mbufs are the buffers"), "{hwi}\n{}", d.log());

    // null0 -> null1: net_null0 receives into rvpp buffers, net_null1
    // frees them into the mempool, whose enqueue gives them back to rvpp.
    std::thread::sleep(Duration::from_secs(1));
    d.ctl_ok("set interface state n0 down");
    d.ctl_ok("set interface state n1 down");
    let rx = counter(&d, "n0", "rx packets");
    assert!(rx > 100_000, "net_null0 moved only {rx} packets:\n{}", d.ctl_ok("show interface"));
    assert_eq!(rx, counter(&d, "n1", "tx packets"), "{}", d.ctl_ok("show interface"));
    let (free, total) = zc_free_and_total(&d);
    assert_eq!(free, total, "buffers missing after null traffic:\n{}\n{}", d.ctl_ok("show buffers"), hwi);

    // pg -> ring tx (buffers handed to the ring as mbufs) -> ring rx -> pg
    // tx (rvpp frees them itself).
    loop_through(&d, "r0");
    let n = 20_000;
    d.ctl_ok(&PgStream::new("zc", "pg0", n).command().replace(" size ", " rate 100000 size "));
    d.ctl_ok("packet-generator enable-stream zc");
    d.wait_stream_done("zc", n);
    let back = wait_until(WAIT, || counter(&d, "r0", "rx packets") == n);
    assert!(back, "ring: not every frame came back:\n{}", d.ctl_ok("show interface"));
    let (free, total) = zc_free_and_total(&d);
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert_eq!(free, total, "buffers missing after ring traffic:\n{}\n{hwi}", d.ctl_ok("show buffers"));
    assert_eq!(number_before(&hwi, "foreign mbufs"), Some(0), "{hwi}");
    assert_eq!(number_before(&hwi, "mbufs refused"), Some(0), "{hwi}");
    d.stop();

    // An arena of 256 buffers cannot give net_null a burst of 256 once a
    // mempool cache holds a few: the refusals are counted, the daemon
    // goes on, and nothing leaks.
    let small = Daemon::builder("dpdk-zc-small")
        .workers(0)
        .buffers(256)
        .extra(&format!("dpdk {{\n{section}\n}}"))
        .startup_config(startup)
        .start();
    let refused = || number_before(&small.ctl_ok("show hardware-interfaces"), "mbufs refused").unwrap_or(0);
    assert!(wait_until(WAIT, || refused() > 0), "{}", small.ctl_ok("show hardware-interfaces"));
    small.ctl_ok("set interface state n0 down");
    small.ctl_ok("set interface state n1 down");
    assert!(small.ctl_ok("show version").contains("rvpp"), "the daemon answers");
    let (free, total) = zc_free_and_total(&small);
    assert_eq!(total, 256, "{}", small.ctl_ok("show buffers"));
    assert_eq!(free, total, "buffers missing after exhaustion:\n{}", small.ctl_ok("show hardware-interfaces"));
    small.stop();

    // no-zero-copy: the copy path, which forwards the same.
    let copy = daemon("dpdk-copy", 0, &format!("{section}\nno-zero-copy"), startup);
    std::thread::sleep(Duration::from_millis(500));
    copy.ctl_ok("set interface state n0 down");
    let hwi = copy.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("mbufs copied") && !hwi.contains("zero copy"), "{hwi}");
    let rx = counter(&copy, "n0", "rx packets");
    assert!(rx > 10_000, "copy path moved only {rx} packets");
    assert_eq!(rx, counter(&copy, "n1", "tx packets"), "{}", copy.ctl_ok("show interface"));
}

#[test]
fn dpdk_bad_devices_are_named_and_the_rest_come_up() {
    if !have_dpdk("dpdk_bad_devices_are_named_and_the_rest_come_up") {
        return;
    }
    let section =
        "no-pci\nvdev net_af_packet0,iface=rvpp-no-such-veth\nvdev net_nosuchpmd0\nvdev net_null0 { name n0 }";
    let d = daemon("dpdk-bad", 0, section, "");
    let log = d.log() + &d.stderr();
    assert!(log.contains("vdev net_af_packet0,iface=rvpp-no-such-veth: probe failed"), "{log}");
    assert!(log.contains("vdev net_nosuchpmd0: probe failed"), "{log}");
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("n0") && hwi.contains("driver net_null"), "{hwi}");
    d.ctl_ok("set interface state n0 up");
    assert!(d.ctl_ok("show version").contains("rvpp"), "the daemon answers");

    // A bad section stops the daemon at start with the line and token.
    let out = rvpp_tests::run_rvpp(&["dpdk", "{", "dev", "0000:zz:00.0", "}"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("'0000:zz:00.0'"), "{err}");
}

/// Reserves `n` more 2 MiB huge pages for as long as it lives, and mounts a
/// hugetlbfs of its own for them.
struct HugePages {
    before: u64,
    mount: rvpp_tests::TempDir,
}

impl HugePages {
    const NR: &'static str = "/proc/sys/vm/nr_hugepages";

    fn reserve(n: u64) -> Result<HugePages, String> {
        let read = || std::fs::read_to_string(Self::NR).ok().and_then(|s| s.trim().parse::<u64>().ok());
        let before = read().ok_or("cannot read nr_hugepages")?;
        std::fs::write(Self::NR, (before + n).to_string()).map_err(|e| format!("nr_hugepages: {e}"))?;
        let mount = rvpp_tests::TempDir::new("dpdk-huge");
        let h = HugePages { before, mount };
        if read().unwrap_or(0) < before + n {
            return Err(format!("the kernel gave fewer than {n} more huge pages"));
        }
        let dir = h.mount.path().display().to_string();
        let out = netns::run(&["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", &dir]);
        if !out.status.success() {
            return Err(format!("mount hugetlbfs: {}", netns::text(&out)));
        }
        Ok(h)
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        // Lazily: the pages of a daemon just stopped may still be on their
        // way out.
        let _ = netns::run(&["umount", "-l", &self.mount.path().display().to_string()]);
        let _ = std::fs::write(Self::NR, self.before.to_string());
    }
}

#[test]
fn dpdk_runs_on_hugepages_when_the_host_has_them() {
    if !have_dpdk("dpdk_runs_on_hugepages_when_the_host_has_them") {
        return;
    }
    let huge = match HugePages::reserve(160) {
        Ok(h) => h,
        Err(why) => {
            eprintln!("SKIPPED dpdk_runs_on_hugepages_when_the_host_has_them: no huge pages to be had: {why}");
            return;
        }
    };
    let section = format!(
        "no-pci huge-dir {} socket-mem 256 num-mbufs 16384\nvdev net_ring0 {{ name r0 }}",
        huge.mount.path().display()
    );
    let d = daemon("dpdk-huge", 0, &section, "");
    let log = d.log();
    assert!(log.contains("EAL arguments") && !log.contains("--no-huge"), "{log}\n{}", d.stderr());
    assert!(log.contains("--huge-unlink"), "{log}");
    loop_through(&d, "r0");
    let n = 20_000;
    d.ctl_ok(&PgStream::new("h", "pg0", n).command().replace(" size ", " rate 100000 size "));
    d.ctl_ok("packet-generator enable-stream h");
    d.wait_stream_done("h", n);
    let back = wait_until(WAIT, || counter(&d, "r0", "rx packets") == n);
    assert!(back, "ring on huge pages: {}", d.ctl_ok("show interface"));
    // The page files were unlinked as soon as mapped: none is left behind.
    d.stop();
    let left: Vec<_> =
        std::fs::read_dir(huge.mount.path()).map(|r| r.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "huge page files left: {left:?}");
}

/// A build without the feature does not depend on DPDK at all: neither the
/// bindings crate nor (so) the system libraries are in its graph, and the
/// feature pulls them in. The graph is the default members', which the
/// README's `cargo build --release` builds: the bindings crate, a member as
/// the drivers' path dependency, must not be one of them.
#[test]
fn plain_build_has_no_dpdk_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = |features: &[&str]| {
        let mut c = std::process::Command::new(&cargo);
        c.current_dir(rvpp_tests::workspace_root())
            .args(["tree", "--offline", "--edges", "normal,build", "--prefix", "none"])
            .args(features);
        let out = run_with_timeout(c, None, Duration::from_secs(120));
        assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let plain = tree(&[]);
    assert!(plain.contains("rvpp-cli") && plain.contains("rvpp-drivers"), "{plain}");
    assert!(!plain.contains("rvpp-dpdk-sys") && !plain.contains("bindgen"), "plain build pulls DPDK in:\n{plain}");
    let with = tree(&["--features", "rvpp-drivers/dpdk"]);
    assert!(with.contains("rvpp-dpdk-sys"), "{with}");
}
