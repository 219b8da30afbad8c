//! rvpp routing between two kernel namespaces on two AF_XDP interfaces (the
//! ip_route topology with `create interface af_xdp` in place of
//! af_packet), once with the XDP program attached in native (veth driver)
//! mode and once in generic (skb) mode: ping both families both ways, and
//! iperf3 TCP for 5 s each way. Checks the program is on the veth in the
//! mode asked while rvpp runs, and gone after `delete interface af_xdp`;
//! that the UMEM is rvpp's buffer arena; and that the daemon idles at ~0 %
//! CPU after traffic.
//! A third run gives each veth two channels (`ethtool -L`) and rvpp two
//! workers with `num-rx-queues all`: the queues land on both workers and
//! parallel TCP streams arrive on both queues of each interface.
//!
//! Apart: deleting the veth under a running af_xdp interface takes the
//! interface down while rvpp answers, idles and forwards between the
//! others; `netns <ns>` opens a veth that lives in another namespace; and
//! buffers longer than a page (which the kernel refuses as UMEM chunks)
//! fall back to a UMEM of the socket's own, copied.
//!
//! XDP sees frames before the kernel would finish their offloads: a veth
//! peer sending with checksum offload leaves TCP checksums partial, and in
//! generic mode sends GSO packets larger than a UMEM frame. The namespaces'
//! ends therefore send with tx checksum offload (and with it TSO/GSO) off,
//! as one would configure a peer of any AF_XDP application on veth.
//!
//! Subnets: 10.221.{1,2}.0/24 (native), 10.222.{1,2}.0/24 (skb),
//! 10.223.{1,2}.0/24 (two queues), 10.224.{1,2,3}.0/24 (veth removal),
//! 10.225.1.0/24 (netns), 10.226.1.0/24 (a UMEM of its own), and the
//! matching fd00:22x:{1,2,3}::/64.

use std::time::Duration;

use rvpp_tests::netns::{self, text, Iperf, Lab, Ns, TwoSubnets, PEER};
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
    // veth binds in copy mode: the kernel copies into rvpp's buffers.
    assert_eq!(hwi.matches("umem: the buffer arena").count(), 2, "{hwi}");
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
    assert!(!hwi.contains("outside the umem") && !hwi.contains("bad completions"), "{hwi}");
    let queue_lines: Vec<&str> = hwi.lines().map(str::trim).filter(|l| l.starts_with("queue ")).collect();
    eprintln!("af_xdp {mode} queues after iperf3:\n  {}", queue_lines.join("\n  "));
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
    d.ctl_ok(&format!("delete interface af_xdp {}", t.b.veth));
    // The fill rings' buffers and those in flight come back.
    assert_buffers_back(&d, mode);
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
        ("host-if lo prog /tmp/x.o", "prog /tmp/x.o: loading external XDP programs is not supported"),
        ("host-if lo netns rvpp-no-such-ns", "netns rvpp-no-such-ns: /"),
        ("host-if lo netns a/b", "netns 'a/b'"),
        ("host-if lo mode drv", "'drv'"),
        ("host-if rvpp-no-such-if0", "no such kernel interface 'rvpp-no-such-if0'"),
    ] {
        let e = d.ctl(&format!("create interface af_xdp {args}")).expect_err(args);
        assert!(e.contains(token), "{args}: {e}");
    }
    let e = d.ctl("delete interface af_xdp nothing").expect_err("delete");
    assert!(e.contains("no af_xdp interface 'nothing'"), "{e}");
}

/// `show buffers`' Used column: buffers neither free nor in a thread cache.
fn buffers_used(d: &Daemon) -> u64 {
    let out = d.ctl_ok("show buffers");
    let row = out.lines().find(|l| l.starts_with("default-numa-0")).unwrap_or("");
    row.split_whitespace().last().and_then(|w| w.parse().ok()).unwrap_or(u64::MAX)
}

/// Asserts every buffer is back once no interface holds any.
fn assert_buffers_back(d: &Daemon, what: &str) {
    let back = wait_until(Duration::from_secs(5), || buffers_used(d) == 0);
    assert!(back, "{what}: buffers still used:\n{}", d.ctl_ok("show buffers"));
}

/// `show interface`'s state column for `name`.
fn if_state(d: &Daemon, name: &str) -> String {
    let out = d.ctl_ok("show interface");
    let line = out.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or("");
    line.split_whitespace().nth(2).unwrap_or("").to_string()
}

#[test]
fn veth_removed_under_af_xdp_takes_the_interface_down() {
    require_host!("veth_removed_under_af_xdp_takes_the_interface_down", &["ping", "ethtool"]);
    let mut t = TwoSubnets::new("axr", 224);
    let c = t.lab.ns('c');
    let (c4, c4_rvpp) = ("10.224.3.2", "10.224.3.1");
    t.lab.address(&c, &format!("{c4}/24"), Some(c4_rvpp));
    for ns in [&t.a, &t.b, &c] {
        ns.ok(&["ethtool", "-K", PEER, "tx", "off"]);
    }
    let mut conf = startup_config(&t, "native", 1);
    conf.push_str(&format!(
        "create interface af_xdp host-if {v}\nset interface state {v} up\nset interface ip address {v} {c4_rvpp}/24\n",
        v = c.veth
    ));
    let d = Daemon::builder("af-xdp-veth-removed").buffers(16384).startup_config(&conf).start();
    t.wait_paths(WAIT);
    c.wait_ping(&[], c4_rvpp, WAIT);
    assert_eq!(if_state(&d, &c.veth), "up");

    rvpp_tests::netns::ok(&["ip", "link", "del", &c.veth]);
    let down = wait_until(WAIT, || if_state(&d, &c.veth) == "down");
    assert!(down, "{} still up after its veth was deleted:\n{}", c.veth, d.ctl_ok("show interface"));
    let hwi = d.ctl_ok(&format!("show hardware-interfaces {}", c.veth));
    let link = hwi.lines().find(|l| l.starts_with(&c.veth)).unwrap_or("");
    assert!(hwi.contains(", gone)") && link.contains("down"), "{hwi}");
    // Bringing it up again does not resurrect it.
    d.ctl_ok(&format!("set interface state {} up", c.veth));
    let stays = wait_until(Duration::from_secs(5), || if_state(&d, &c.veth) == "down");
    assert!(stays, "{} came back up over a deleted veth", c.veth);

    // The daemon answers, forwards between the others and idles.
    d.ctl_ok("show version");
    eprintln!("af_xdp after a veth removal: {}", t.ping_both_ways("after the veth removal", 5));
    let cpu = d.cpu_percent(Duration::from_secs(2));
    assert!(cpu < 5.0, "rvpp used {cpu:.1} % CPU after a veth was removed");
    d.ctl_ok(&format!("delete interface af_xdp {}", c.veth));
    assert!(!d.ctl_ok("show interface").contains(&c.veth));
    for ns in [&t.a, &t.b] {
        d.ctl_ok(&format!("delete interface af_xdp {}", ns.veth));
    }
    // What the kernel held on the vanished veth's socket came back too.
    assert_buffers_back(&d, "veth removal");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn af_xdp_opens_a_veth_in_another_namespace() {
    require_host!("af_xdp_opens_a_veth_in_another_namespace", &["ping", "ethtool"]);
    let mut lab = Lab::new("axns");
    let a = lab.ns('a');
    // The veth's other end goes to a namespace of its own: rvpp's has none.
    let x = lab.bare_ns('x');
    rvpp_tests::netns::ok(&["ip", "link", "set", &a.veth, "netns", &x.name]);
    lab.address(&a, "10.225.1.2/24", Some("10.225.1.1"));
    lab.address(&a, "fd00:225:1::2/64", Some("fd00:225:1::1"));
    a.ok(&["ethtool", "-K", PEER, "tx", "off"]);
    let v = &a.veth;
    let conf = format!(
        "create interface af_xdp host-if {v} netns {x}\nset interface state {v} up\n\
         set interface ip address {v} 10.225.1.1/24\nset interface ip address {v} fd00:225:1::1/64\n",
        x = x.name
    );
    let d = Daemon::builder("af-xdp-netns").buffers(16384).startup_config(&conf).start();
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains(&format!("af_xdp host-if {v} in netns {}", x.name)), "{hwi}");
    let on = x.ip(&["-d", "link", "show", "dev", v]);
    assert!(on.contains("prog/xdp") && on.contains("rvpp_xsk"), "no rvpp program on {v} in {}:\n{on}", x.name);
    // Brought up in its namespace, by rvpp.
    assert!(on.lines().next().is_some_and(|l| l.contains(",UP")), "{on}");

    a.wait_ping(&[], "10.225.1.1", WAIT);
    a.wait_ping(&["-6"], "fd00:225:1::1", WAIT);
    let r = a.ping(&["-i", "0.05", "-W", "2"], "10.225.1.1", 20);
    assert_eq!((r.transmitted, r.received), (20, 20), "{}", r.text);
    eprintln!("af_xdp in netns {}: ping rvpp {}", x.name, r.rtt_line());

    // The link watch looks in the namespace too.
    x.ip(&["link", "del", v]);
    let down = wait_until(WAIT, || if_state(&d, v) == "down");
    assert!(down, "{v} still up after its veth was deleted in {}:\n{}", x.name, d.ctl_ok("show interface"));
    d.ctl_ok(&format!("delete interface af_xdp {v}"));
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn af_xdp_copies_when_the_kernel_refuses_the_arena() {
    require_host!("af_xdp_copies_when_the_kernel_refuses_the_arena", &["ping", "ethtool"]);
    let mut lab = Lab::new("axcp");
    let a = lab.ns('a');
    lab.address(&a, "10.226.1.2/24", Some("10.226.1.1"));
    lab.address(&a, "fd00:226:1::2/64", Some("fd00:226:1::1"));
    a.ok(&["ethtool", "-K", PEER, "tx", "off"]);
    let v = &a.veth;
    let conf = format!(
        "create interface af_xdp host-if {v}\nset interface state {v} up\n\
         set interface ip address {v} 10.226.1.1/24\nset interface ip address {v} fd00:226:1::1/64\n"
    );
    // 4 KiB data areas make a buffer longer than a page: no UMEM chunk.
    let d = Daemon::builder("af-xdp-copy")
        .base_conf("buffers {\n  buffers-per-numa 8192\n  default data-size 4096\n}\n")
        .startup_config(&conf)
        .start();
    let hwi = d.ctl_ok("show hardware-interfaces");
    assert!(hwi.contains("frames of 4096 bytes, copied to and from buffers"), "{hwi}");
    for (fam, to) in [(&[][..], "10.226.1.1"), (&["-6"][..], "fd00:226:1::1")] {
        a.wait_ping(fam, to, WAIT);
        let mut args = fam.to_vec();
        args.extend_from_slice(&["-i", "0.05", "-W", "2"]);
        let r = a.ping(&args, to, 10);
        assert_eq!((r.transmitted, r.received), (10, 10), "{}", r.text);
    }
    d.ctl_ok(&format!("delete interface af_xdp {v}"));
    assert_buffers_back(&d, "copy mode");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}
