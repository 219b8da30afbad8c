//! rvpp routing between two kernel namespaces on two AF_XDP interfaces (the
//! ip_route topology with `create interface af_xdp` in place of
//! af_packet), once with the XDP program attached in native (veth driver)
//! mode and once in generic (skb) mode: ping both families both ways, and
//! iperf3 TCP for 5 s each way. Checks the program is on the veth in the
//! mode asked while rvpp runs, and gone after `delete interface af_xdp`;
//! that the daemon idles at ~0 % CPU after traffic; and that removing the
//! veth under an interface leaves rvpp running, idle, and the interface
//! deletable.
//! A third run gives each veth two channels (`ethtool -L`) and rvpp two
//! workers with `num-rx-queues all`: the queues land on both workers and
//! parallel TCP streams arrive on both queues of each interface.
//!
//! XDP sees frames before the kernel would finish their offloads: a veth
//! peer sending with checksum offload leaves TCP checksums partial, and in
//! generic mode sends GSO packets larger than a UMEM frame. The namespaces'
//! ends therefore send with tx checksum offload (and with it TSO/GSO) off,
//! as one would configure a peer of any AF_XDP application on veth.
//!
//! Subnets: 10.221.{1,2}.0/24 (native), 10.222.{1,2}.0/24 (skb),
//! 10.223.{1,2}.0/24 (two queues), and the matching fd00:22x:{1,2}::/64.

use std::time::Duration;

use rvpp_tests::netns::{self, text, Iperf, Ns, TwoSubnets, PEER};
use rvpp_tests::{require_host, wait_until, Daemon};

const WAIT: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_secs(60);

/// The startup lines: one af_xdp interface per side on its veth, in `mode`.
fn startup_config(t: &TwoSubnets, mode: &str, queues: u32) -> String {
    t.startup_config_with(|_, ns| {
        (format!("create interface af_xdp host-if {} mode {mode} num-rx-queues {queues}", ns.veth), ns.veth.clone())
    })
}

/// An iperf3 TCP run across rvpp that must move its data.
fn iperf3(d: &Daemon, client: &Ns, server: &Ns, to: &str, port: u16, args: &[&str]) -> Iperf {
    let r = netns::iperf3(d, client, server, to, port, args, RUN);
    r.assert_tcp(&format!("iperf3 {args:?} to {to}"));
    r
}

/// The XDP attachment `ip -d link` shows on a veth (`xdp` native,
/// `xdpgeneric` skb), with the program's name; None when there is none.
fn xdp_on(veth: &str) -> Option<String> {
    let out = rvpp_tests::netns::ok(&["ip", "-d", "link", "show", "dev", veth]);
    let first = out.lines().next().unwrap_or("");
    let kind = first.split_whitespace().find(|w| w.starts_with("xdp"))?.to_string();
    let prog = out.lines().find(|l| l.trim_start().starts_with("prog/xdp"))?;
    let name = prog.split_whitespace().skip_while(|w| *w != "name").nth(1).unwrap_or("?");
    Some(format!("{kind} {name}"))
}

/// Gives both ends of each veth `queues` channels; false when the veth
/// was made with fewer (veth allocates one per possible CPU).
fn set_channels(t: &TwoSubnets, queues: u32) -> bool {
    let q = queues.to_string();
    for ns in [&t.a, &t.b] {
        let inner = ns.exec(&["ethtool", "-L", PEER, "rx", &q, "tx", &q]);
        let outer = rvpp_tests::netns::run(&["ethtool", "-L", &ns.veth, "rx", &q, "tx", &q]);
        if !inner.status.success() || !outer.status.success() {
            eprintln!("SKIPPED route_over_af_xdp_two_queues: ethtool -L {q}: {}{}", text(&inner), text(&outer));
            return false;
        }
    }
    true
}

fn route_over_af_xdp(tag: &str, n: u8, mode: &str, queues: u32) {
    require_host!("route_over_af_xdp", &["ping", "iperf3", "ss", "ethtool"]);
    let t = TwoSubnets::new(tag, n);
    if queues > 1 && !set_channels(&t, queues) {
        return;
    }
    for ns in [&t.a, &t.b] {
        ns.ok(&["ethtool", "-K", PEER, "tx", "off", "tso", "off", "gso", "off"]);
    }
    let d = Daemon::builder(&format!("af-xdp-{mode}-{queues}"))
        .workers(queues as usize)
        .buffers(16384)
        .startup_config(&startup_config(&t, mode, queues))
        .start();
    let (kind, hw) =
        if mode == "native" { ("xdp", "xdp native mode") } else { ("xdpgeneric", "xdp generic (skb) mode") };
    let hwi = d.ctl_ok("show hardware-interfaces");
    for ns in [&t.a, &t.b] {
        assert_eq!(xdp_on(&ns.veth).as_deref(), Some(&*format!("{kind} rvpp_xsk")), "{}", ns.veth);
        assert!(hwi.contains(&format!("af_xdp host-if {}", ns.veth)), "{hwi}");
    }
    assert_eq!(hwi.matches(hw).count(), 2, "{hwi}");
    t.wait_paths(WAIT);

    eprintln!("af_xdp {mode} ping across rvpp: {}", t.ping_both_ways(mode, 20));

    let port = 5200 + n as u16 * 10;
    let fwd = iperf3(&d, &t.a, &t.b, &t.host4(2), port, &["-t", "5"]);
    let rev = iperf3(&d, &t.a, &t.b, &t.host4(2), port + 1, &["-t", "5", "-R"]);
    let fwd6 = iperf3(&d, &t.b, &t.a, &t.host6(1), port + 2, &["-t", "5"]);
    eprintln!(
        "af_xdp {mode} iperf3 TCP 5 s: a->b {} ({:?} retransmits), b->a {} ({:?}), IPv6 b->a {} ({:?})",
        fwd.rate(),
        fwd.retransmits,
        rev.rate(),
        rev.retransmits,
        fwd6.rate(),
        fwd6.retransmits
    );
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(!hwi.contains("outside the umem"), "{hwi}");
    if queues > 1 {
        // Queue q of each interface on worker q; parallel streams hash
        // over both queues of each interface.
        let placement = d.ctl_ok("show interface rx-placement");
        for w in 0..queues {
            let section = placement.split("Thread ").find(|s| s.contains(&format!("rvpp_wk_{w}"))).unwrap_or("");
            for ns in [&t.a, &t.b] {
                assert!(section.contains(&format!("{} queue {w}", ns.veth)), "{placement}");
            }
        }
        let many = iperf3(&d, &t.a, &t.b, &t.host4(2), port + 3, &["-t", "3", "-P", "16"]);
        eprintln!("af_xdp {queues} queues iperf3 TCP 3 s, 16 streams a->b: {}", many.rate());
        let hwi = d.ctl_ok("show hardware-interfaces");
        for q in 0..queues {
            let busy = hwi
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("queue {q}:")))
                .filter(|l| {
                    l.split("rx packets ").nth(1).and_then(|x| x.split(',').next()?.parse::<u64>().ok()) > Some(1000)
                })
                .count();
            assert_eq!(busy, 2, "queue {q} did not carry traffic on both interfaces:\n{hwi}");
        }
    }

    // Idle after traffic: the threads sleep on the sockets.
    let cpu = d.cpu_percent(Duration::from_secs(2));
    assert!(cpu < 5.0, "{mode}: idle rvpp used {cpu:.1} % CPU");

    // Deleting an interface detaches the program.
    d.ctl_ok(&format!("delete interface af_xdp {}", t.a.veth));
    let gone = wait_until(WAIT, || xdp_on(&t.a.veth).is_none());
    assert!(gone, "{mode}: an XDP program is still on {}: {:?}", t.a.veth, xdp_on(&t.a.veth));
    // The veth under the other vanishing leaves rvpp answering, idle, and
    // the interface deletable.
    rvpp_tests::netns::ok(&["ip", "link", "del", &t.b.veth]);
    let _ = t.a.exec(&["ping", "-c", "3", "-i", "0.1", "-W", "1", &t.host4(2)]);
    let cpu = d.cpu_percent(Duration::from_secs(2));
    assert!(cpu < 5.0, "{mode}: rvpp used {cpu:.1} % CPU after its veth was removed");
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains(&format!("af_xdp host-if {}", t.b.veth)), "{hwi}");
    d.ctl_ok(&format!("delete interface af_xdp {}", t.b.veth));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn route_over_af_xdp_native() {
    route_over_af_xdp("axn", 221, "native", 1);
}

#[test]
fn route_over_af_xdp_skb() {
    route_over_af_xdp("axs", 222, "skb", 1);
}

#[test]
fn route_over_af_xdp_two_queues() {
    route_over_af_xdp("axq", 223, "native", 2);
}

#[test]
fn af_xdp_refuses_what_it_does_not_support() {
    let d = Daemon::start("af-xdp-refuse");
    for (args, token) in [
        ("host-if lo prog /tmp/x.o", "'prog'"),
        ("host-if lo netns foo", "'netns'"),
        ("host-if lo mode drv", "'drv'"),
        ("host-if rvpp-no-such-if0", "no such kernel interface 'rvpp-no-such-if0'"),
    ] {
        let e = d.ctl(&format!("create interface af_xdp {args}")).expect_err(args);
        assert!(e.contains(token), "{args}: {e}");
    }
    let e = d.ctl("delete interface af_xdp nothing").expect_err("delete");
    assert!(e.contains("no af_xdp interface 'nothing'"), "{e}");
}
