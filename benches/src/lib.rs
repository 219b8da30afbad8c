//! Whole-graph workloads for `rvpp-perf`, built only from rvpp's public
//! library API: an engine with the protocol nodes and drivers, configured by
//! CLI commands, run on the calling thread.

use std::time::{Duration, Instant};

use rvpp_dataplane::config::StartupConfig;
use rvpp_dataplane::engine::{Engine, ThreadRuntime};
use rvpp_dataplane::node::NodeKind;

/// Setup through the library API, after the CLI commands.
pub type Prepare = fn(&mut Engine) -> Result<(), String>;

/// A named workload: the CLI commands that set it up, and optional setup
/// through the library API (bulk routes, DPDK ports).
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub setup: &'static [&'static str],
    pub prepare: Option<Prepare>,
    /// The input node whose packets are the workload's packets: `pg-input`
    /// (a second input a packet crosses, as in memif-loop, is not a new
    /// packet), or the driver's input when the driver makes the traffic.
    pub source: &'static str,
}

const IP4_SETUP: &[&str] = &[
    "create packet-generator interface pg0",
    "create null interface",
    "set interface state pg0 up",
    "set interface ip address pg0 10.0.0.1/24",
    "set interface ip address null0 10.1.0.1/24",
    "set ip neighbor null0 10.1.0.2 02:00:00:00:01:02",
    "ip route add 10.2.0.0/16 via 10.1.0.2 null0",
    "packet-generator new { name s0 limit 0 size 64-64 node ethernet-input interface pg0 \
     data { IP4: 02:00:00:00:00:09 -> 02:fe:00:00:00:00 UDP: 10.0.0.2 -> 10.2.0.5 \
     UDP: 1234 -> 5678 incrementing 18 } }",
];

const IP4_1M_SETUP: &[&str] = &[
    "create packet-generator interface pg0",
    "create null interface",
    "set interface state pg0 up",
    "set interface ip address pg0 10.0.0.1/24",
    "set interface ip address null0 10.1.0.1/24",
    "set ip neighbor null0 10.1.0.2 02:00:00:00:01:02",
    "ip route add 64.0.0.0/8 via 10.1.0.2 null0",
    "packet-generator new { name s0 limit 0 size 64-64 node ethernet-input interface pg0 \
     data { IP4: 02:00:00:00:00:09 -> 02:fe:00:00:00:00 UDP: 10.0.0.2 -> 64.0.0.0 + 64.255.255.255 \
     UDP: 1234 -> 5678 incrementing 18 } }",
];

const IP6_SETUP: &[&str] = &[
    "create packet-generator interface pg0",
    "create null interface",
    "set interface state pg0 up",
    "set interface ip address pg0 2001:db8:0::1/64",
    "set interface ip address null0 2001:db8:1::1/64",
    "set ip neighbor null0 2001:db8:1::2 02:00:00:00:01:02",
    "ip route add 2001:db8:2::/48 via 2001:db8:1::2 null0",
    "packet-generator new { name s0 limit 0 size 78-78 node ethernet-input interface pg0 \
     data { IP6: 02:00:00:00:00:09 -> 02:fe:00:00:00:00 UDP: 2001:db8::2 -> 2001:db8:2::5 \
     UDP: 1234 -> 5678 incrementing 12 } }",
];

/// One million random /24–/32 routes inside 64.0.0.0/8 via the workload's
/// next hop, so random destinations in that /8 spread over them.
fn million_routes(e: &mut Engine) -> Result<(), String> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut routes = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 24 + (x >> 40) as u8 % 9;
        let addr = 0x4000_0000 | (x as u32 & 0x00ff_ffff);
        routes.push((addr, len));
    }
    let nh = u32::from(std::net::Ipv4Addr::new(10, 1, 0, 2)) as u128;
    let null0 = e.interfaces.by_name("null0").map_or(0, |s| s.0);
    let t0 = Instant::now();
    let Engine { ext, interfaces, .. } = e;
    rvpp_graph_nodes::ip::fib::fib(ext).add_many4(
        interfaces,
        &routes,
        &[rvpp_graph_nodes::ip::fib::Path::Via { nh, sw: Some(null0) }],
    );
    eprintln!("installed 1,000,000 random /24-/32 routes in {:.3} s", t0.elapsed().as_secs_f64());
    Ok(())
}

const STREAM: &str = "packet-generator new { name s0 limit 0 size 64-64 node ethernet-input interface pg0 \
    data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 192.168.1.10 -> 192.168.1.11 \
    UDP: 1234 -> 5678 incrementing 22 } }";

/// Two memif interfaces of one engine joined back to back (master and
/// slave on an abstract socket): pg -> l2 xconnect -> memif1/0 tx ->
/// memif2/0 input -> l2 xconnect -> null tx.
const MEMIF_SETUP: &[&str] = &[
    "create packet-generator interface pg0",
    "create null interface",
    "set interface state pg0 up",
    "create memif socket id 1 filename @rvpp-perf-memif-loop",
    "create memif socket id 2 filename @rvpp-perf-memif-loop",
    "create interface memif id 0 socket-id 1 master",
    "create interface memif id 0 socket-id 2 slave",
    "set interface state memif1/0 up",
    "set interface state memif2/0 up",
    "set interface rx-mode memif1/0 polling",
    "set interface rx-mode memif2/0 polling",
    "set interface l2 xconnect pg0 memif1/0",
    "set interface l2 xconnect memif2/0 null0",
    STREAM,
];

/// Waits (up to 10 s of main-loop time) until both memif ends say
/// connected.
fn memif_connected(e: &mut Engine) -> Result<(), String> {
    let up = |e: &mut Engine| e.exec("show memif").map(|s| s.matches("state connected").count() >= 2).unwrap_or(false);
    if !e.run_until(Duration::from_secs(10), up) {
        return Err(format!("the two memif ends did not connect: {}", e.exec("show memif").unwrap_or_default()));
    }
    Ok(())
}

/// `dpdk-null`'s ports: two DPDK net_null vdevs (which make packets as fast
/// as they are polled and free what they are sent), cross-connected both
/// ways as testpmd's io forwarding pairs them.
const DPDK_NULL_CONF: &str = "dpdk { no-pci vdev net_null0 { name n0 } vdev net_null1 { name n1 } }";

/// `dpdk-null`'s section; with RVPP_PERF_DPDK_COPY=1 the driver copies
/// (`no-zero-copy`, the README's before/after).
fn dpdk_null_config() -> Result<rvpp_drivers::dpdk::config::DpdkConfig, String> {
    let mut text = DPDK_NULL_CONF.to_string();
    if std::env::var("RVPP_PERF_DPDK_COPY").is_ok_and(|v| v == "1") {
        text = text.replacen("dpdk { ", "dpdk { no-zero-copy ", 1);
    }
    let conf = rvpp_dataplane::config::StartupConfig::parse(&text, "dpdk-null").map_err(|x| x.to_string())?;
    rvpp_drivers::dpdk::config::parse(&conf).map_err(|x| x.to_string())
}

fn dpdk_null(e: &mut Engine) -> Result<(), String> {
    if !rvpp_drivers::HAS_DPDK {
        return Err("this rvpp-perf was built without DPDK: add --features rvpp-drivers/dpdk".into());
    }
    let cfg = dpdk_null_config()?;
    let st = rvpp_drivers::dpdk::init(e, &cfg);
    if st.interfaces.len() != 2 {
        return Err(format!("DPDK did not make the two null ports: {}", st.errors.join("; ")));
    }
    for cmd in [
        "set interface state n0 up",
        "set interface state n1 up",
        "set interface l2 xconnect n0 n1",
        "set interface l2 xconnect n1 n0",
    ] {
        e.exec(cmd).map_err(|x| format!("{cmd}: {x}"))?;
    }
    Ok(())
}

/// Every workload rvpp-perf knows.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "eth-drop",
        about: "pg -> ethernet-input -> error-drop (l3 mac mismatch)",
        setup: &["create packet-generator interface pg0", "set interface state pg0 up", STREAM],
        prepare: None,
        source: PG,
    },
    Workload {
        name: "l2-xconnect",
        about: "pg -> ethernet-input -> l2-output -> interface-output -> null tx",
        setup: &[
            "create packet-generator interface pg0",
            "create null interface",
            "set interface state pg0 up",
            "set interface l2 xconnect pg0 null0",
            STREAM,
        ],
        prepare: None,
        source: PG,
    },
    Workload {
        name: "ip4-forward",
        about: "pg -> ethernet-input -> ip4-input -> ip4-lookup -> ip4-rewrite -> null tx, one route",
        setup: IP4_SETUP,
        prepare: None,
        source: PG,
    },
    Workload {
        name: "ip4-forward-1m",
        about: "ip4-forward with 1,000,000 random /24-/32 routes, destinations spread over them",
        setup: IP4_1M_SETUP,
        prepare: Some(million_routes),
        source: PG,
    },
    Workload {
        name: "ip6-forward",
        about: "pg -> ethernet-input -> ip6-input -> ip6-lookup -> ip6-rewrite -> null tx",
        setup: IP6_SETUP,
        prepare: None,
        source: PG,
    },
    Workload {
        name: "memif-loop",
        about: "pg -> ethernet-input -> l2 xconnect -> memif tx -> memif-input -> l2 xconnect -> null tx, one engine",
        setup: MEMIF_SETUP,
        prepare: Some(memif_connected),
        source: PG,
    },
    Workload {
        name: "dpdk-null",
        about: "DPDK net_null0 rx -> dpdk-input -> ethernet-input -> l2 xconnect -> dpdk tx -> net_null1, and \
                back, zero copy (RVPP_PERF_DPDK_COPY=1: copying; needs --features rvpp-drivers/dpdk)",
        setup: &[],
        prepare: Some(dpdk_null),
        source: "dpdk-input",
    },
];

const PG: &str = "pg-input";

/// Result of a run.
pub struct Report {
    pub threads: Vec<ThreadRuntime>,
    pub packets: u64,
    pub seconds: f64,
    pub forwarding_cpp: f64,
    pub total_cpp: f64,
}

impl Report {
    pub fn mpps(&self) -> f64 {
        self.packets as f64 / self.seconds / 1e6
    }
}

/// Builds an engine for a workload.
pub fn engine_for(w: &Workload) -> Result<Engine, String> {
    // DPDK zero copy needs room for an mbuf before every buffer.
    let prefix = if w.name == "dpdk-null" { rvpp_drivers::dpdk::arena_prefix(&dpdk_null_config()?) } else { 0 };
    let mut e = Engine::builder()
        .buffers(32768)
        .buffer_prefix(prefix)
        .workers(0)
        .plugin(rvpp_graph_nodes::register_all)
        .plugin(rvpp_drivers::register_all)
        .build()
        .map_err(|x| x.to_string())?;
    for cmd in w.setup {
        e.exec(cmd).map_err(|x| format!("{}: {cmd}: {x}", w.name))?;
    }
    if let Some(p) = w.prepare {
        p(&mut e).map_err(|x| format!("{}: {x}", w.name))?;
    }
    Ok(e)
}

/// Runs a workload: warm-up, then `secs` of measured dispatch.
pub fn run(w: &Workload, secs: f64) -> Result<Report, String> {
    let mut e = engine_for(w)?;
    if w.source == PG {
        e.exec("packet-generator enable-stream s0").map_err(|x| x.to_string())?;
    }
    // Warm-up (RVPP_PERF_WARMUP_MS, default 300; 0 for instruction counts
    // under callgrind, where every packet should be a measured one).
    let warm = std::env::var("RVPP_PERF_WARMUP_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    if warm > 0 {
        e.run_until(Duration::from_millis(warm), |_| false);
    }
    e.exec("clear runtime").map_err(|x| x.to_string())?;
    e.exec("clear errors").map_err(|x| x.to_string())?;
    let t0 = Instant::now();
    e.run_until(Duration::from_secs_f64(secs), |_| false);
    let seconds = t0.elapsed().as_secs_f64();
    let threads = e.runtime();
    let (mut fwd, mut total, mut packets) = (0u64, 0u64, 0u64);
    for t in &threads {
        for (name, kind, st) in &t.nodes {
            total += st.clocks;
            if *kind == NodeKind::Input && *name == w.source {
                packets += st.vectors;
                // The generator's own cost is not forwarding; a driver's
                // input (rx and the copy into buffers) is.
                if w.source == PG {
                    continue;
                }
            }
            fwd += st.clocks;
        }
    }
    let p = packets.max(1) as f64;
    Ok(Report { threads, packets, seconds, forwarding_cpp: fwd as f64 / p, total_cpp: total as f64 / p })
}

/// `tcp-loop`: one TCP connection from rvpp's echo client to rvpp's echo
/// server in the same engine, through the whole stack both ways:
/// session-queue / tcp4-input -> ip4-lookup -> ip4-local -> tcp4-input on a
/// loopback interface's own address. Not a [`Workload`]: the traffic is
/// the echo client's, and the measure is bytes, not generated packets.
pub const TCP_LOOP: &str = "tcp-loop";

/// The loopback interface's MTU `tcp-loop` runs at unless told: a
/// loopback interface's own (VPP's too).
pub const TCP_LOOP_MTU: u32 = 9000;

/// What [`run_tcp_loop`] measured.
pub struct TcpLoopReport {
    pub threads: Vec<ThreadRuntime>,
    /// Payload bytes the client sent (and got back: as many again).
    pub bytes: u64,
    pub seconds: f64,
    /// Every node's clocks during the transfer.
    pub cycles: u64,
    /// The echo client's own summary.
    pub client: String,
}

impl TcpLoopReport {
    /// Payload one way (client -> server), Gbit/s.
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds / 1e9
    }

    /// Graph cycles per payload byte carried, counting both directions.
    pub fn cycles_per_byte(&self) -> f64 {
        self.cycles as f64 / (2 * self.bytes).max(1) as f64
    }
}

/// Runs `tcp-loop` moving `bytes` out and back over one connection, the
/// loopback interface's MTU set to `mtu` and TCP's MSS cap (`tcp { mtu }`,
/// 1500 by default) raised to match: segments are as large as the
/// interface takes, each IP packet of up to `mtu` bytes a buffer chain
/// when it outgrows one buffer.
pub fn run_tcp_loop(bytes: u64, mtu: u32) -> Result<TcpLoopReport, String> {
    let conf = format!("tcp {{ mtu {mtu} }}");
    let conf = StartupConfig::parse(&conf, TCP_LOOP).map_err(|x| format!("{TCP_LOOP}: {x}"))?;
    let mut e = Engine::builder()
        .config(conf)
        .buffers(32768)
        .workers(0)
        .plugin(rvpp_graph_nodes::register_all)
        .plugin(rvpp_drivers::register_all)
        .plugin(rvpp_hoststack::register_all)
        .build()
        .map_err(|x| x.to_string())?;
    for cmd in [
        "create loopback interface".to_string(),
        format!("set interface mtu {mtu} loop0"),
        "set interface state loop0 up".to_string(),
        "set interface ip address loop0 10.0.0.1/24".to_string(),
        "test echo server uri tcp://10.0.0.1/5201".to_string(),
    ] {
        e.exec(&cmd).map_err(|x| format!("{TCP_LOOP}: {cmd}: {x}"))?;
    }
    // Warm-up: a short transfer (fifos touched, tables built).
    let warm = "test echo client uri tcp://10.0.0.1/5201 bytes 16m test-timeout 60";
    let out = e.exec(warm).map_err(|x| format!("{TCP_LOOP}: warm-up: {x}"))?;
    if std::env::var_os("RVPP_PERF_DEBUG").is_some() {
        eprintln!("{out}{}{}", e.exec("show errors").unwrap_or_default(), e.exec("show tcp stats").unwrap_or_default());
    }
    e.exec("clear runtime").map_err(|x| x.to_string())?;
    let cmd = format!("test echo client uri tcp://10.0.0.1/5201 bytes {bytes} test-timeout 600");
    let t0 = Instant::now();
    let client = e.exec(&cmd).map_err(|x| format!("{TCP_LOOP}: {x}"))?;
    let seconds = t0.elapsed().as_secs_f64();
    if std::env::var_os("RVPP_PERF_DEBUG").is_some() {
        eprintln!("{}{}", e.exec("show errors").unwrap_or_default(), e.exec("show tcp stats").unwrap_or_default());
    }
    let threads = e.runtime();
    let cycles = threads.iter().flat_map(|t| t.nodes.iter()).map(|(_, _, st)| st.clocks).sum();
    Ok(TcpLoopReport { threads, bytes, seconds, cycles, client })
}

/// `show runtime`-style rows for `tcp-loop`: clocks per packet and the
/// node's share of all clocks.
pub fn format_tcp_table(r: &TcpLoopReport) -> String {
    let mut s = format!("{:<24}{:>14}{:>16}{:>14}{:>10}\n", "Name", "Calls", "Vectors", "Clocks/pkt", "Share");
    for t in &r.threads {
        for (name, _, st) in &t.nodes {
            if st.vectors == 0 && st.clocks == 0 {
                continue;
            }
            // Polling input nodes carry no packets here: only their share.
            let per_pkt =
                if st.vectors == 0 { "-".to_string() } else { format!("{:.2}", st.clocks as f64 / st.vectors as f64) };
            s += &format!(
                "{:<24}{:>14}{:>16}{:>14}{:>9.1}%\n",
                name,
                st.calls,
                st.vectors,
                per_pkt,
                100.0 * st.clocks as f64 / r.cycles.max(1) as f64
            );
        }
    }
    s
}

/// A `show runtime`-style table of a report.
pub fn format_table(r: &Report) -> String {
    let mut s = format!("{:<24}{:>14}{:>16}{:>14}{:>16}\n", "Name", "Calls", "Vectors", "Clocks/pkt", "Vectors/Call");
    for t in &r.threads {
        for (name, _, st) in &t.nodes {
            if st.vectors == 0 {
                continue;
            }
            s += &format!(
                "{:<24}{:>14}{:>16}{:>14.2}{:>16.2}\n",
                name,
                st.calls,
                st.vectors,
                st.clocks as f64 / st.vectors as f64,
                st.vectors as f64 / st.calls as f64
            );
        }
    }
    s
}
