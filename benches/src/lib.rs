//! Whole-graph workloads for `rvpp-perf`, built only from rvpp's public
//! library API: an engine with the protocol nodes and drivers, configured by
//! CLI commands, run on the calling thread.

use std::time::{Duration, Instant};

use rvpp_dataplane::engine::{Engine, ThreadRuntime};
use rvpp_dataplane::node::NodeKind;

/// A named workload: the CLI commands that set it up.
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub setup: &'static [&'static str],
}

const STREAM: &str = "packet-generator new { name s0 limit 0 size 64-64 node ethernet-input interface pg0 \
    data { IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06 UDP: 192.168.1.10 -> 192.168.1.11 \
    UDP: 1234 -> 5678 incrementing 22 } }";

/// Every workload rvpp-perf knows.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "eth-drop",
        about: "pg -> ethernet-input -> error-drop (l3 mac mismatch)",
        setup: &["create packet-generator interface pg0", "set interface state pg0 up", STREAM],
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
    },
];

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
    let mut e = Engine::builder()
        .buffers(32768)
        .workers(0)
        .plugin(rvpp_graph_nodes::register_all)
        .plugin(rvpp_drivers::register_all)
        .build()
        .map_err(|x| x.to_string())?;
    for cmd in w.setup {
        e.exec(cmd).map_err(|x| format!("{}: {x}", w.name))?;
    }
    Ok(e)
}

/// Runs a workload: warm-up, then `secs` of measured dispatch.
pub fn run(w: &Workload, secs: f64) -> Result<Report, String> {
    let mut e = engine_for(w)?;
    e.exec("packet-generator enable-stream s0").map_err(|x| x.to_string())?;
    e.run_until(Duration::from_millis(300), |_| false);
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
            if *kind == NodeKind::Input {
                packets += st.vectors;
                if *name == "pg-input" {
                    continue;
                }
            }
            fwd += st.clocks;
        }
    }
    let p = packets.max(1) as f64;
    Ok(Report { threads, packets, seconds, forwarding_cpp: fwd as f64 / p, total_cpp: total as f64 / p })
}

/// A `show runtime`-style table of a report.
pub fn format_table(r: &Report) -> String {
    let mut s = format!(
        "{:<24}{:>14}{:>16}{:>14}{:>16}\n",
        "Name", "Calls", "Vectors", "Clocks/pkt", "Vectors/Call"
    );
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
