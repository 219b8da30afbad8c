//! `rvpp-perf <workload> [seconds]`: runs a whole-graph workload on one core
//! and prints per-node cycles/packet and the summary line
//! `<workload>: F cycles/packet forwarding, T cycles/packet with generator, M Mpps`.

use anyhow::{anyhow, bail};
use rvpp_benches::{format_table, run, WORKLOADS};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        let mut s = String::from("usage: rvpp-perf <workload> [seconds]\nworkloads:\n");
        for w in WORKLOADS {
            s += &format!("  {:<16}{}\n", w.name, w.about);
        }
        bail!("{s}");
    };
    let secs: f64 = match args.get(1) {
        Some(s) => s.parse().map_err(|_| anyhow!("seconds: '{s}' is not a number"))?,
        None => 3.0,
    };
    let names: Vec<&str> = if name == "all" { WORKLOADS.iter().map(|w| w.name).collect() } else { vec![name] };
    for n in names {
        let w = WORKLOADS.iter().find(|w| w.name == n).ok_or_else(|| anyhow!("unknown workload '{n}'"))?;
        let r = run(w, secs).map_err(|e| anyhow!(e))?;
        println!("{} ({})", w.name, w.about);
        print!("{}", format_table(&r));
        println!(
            "{}: {:.2} cycles/packet forwarding, {:.2} cycles/packet with generator, {:.2} Mpps",
            w.name,
            r.forwarding_cpp,
            r.total_cpp,
            r.mpps()
        );
    }
    Ok(())
}
