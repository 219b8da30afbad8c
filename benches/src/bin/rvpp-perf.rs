//! `rvpp-perf <workload> [seconds]`: runs a whole-graph workload on one core
//! and prints per-node cycles/packet and the summary line
//! `<workload>: F cycles/packet forwarding, T cycles/packet with generator, M Mpps`.
//! `rvpp-perf tcp-loop [bytes]` (default 1g) moves bytes over one TCP
//! connection between rvpp's echo client and server and prints Gbit/s and
//! cycles per byte.

use anyhow::{anyhow, bail};
use rvpp_benches::{format_table, format_tcp_table, run, run_tcp_loop, TCP_LOOP, WORKLOADS};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        let mut s = String::from("usage: rvpp-perf <workload> [seconds]\nworkloads:\n");
        for w in WORKLOADS {
            s += &format!("  {:<16}{}\n", w.name, w.about);
        }
        s += &format!("  {TCP_LOOP:<16}[bytes] one TCP connection, rvpp echo client <-> rvpp echo server\n");
        bail!("{s}");
    };
    if name == TCP_LOOP {
        let bytes = match args.get(1) {
            Some(s) => rvpp_dataplane::config::parse_size(s).ok_or_else(|| anyhow!("bytes: '{s}' is not a size"))?,
            None => 1 << 30,
        };
        let r = run_tcp_loop(bytes).map_err(|e| anyhow!(e))?;
        println!("{TCP_LOOP} (one TCP connection, rvpp echo client <-> rvpp echo server, loopback address)");
        print!("{}", format_tcp_table(&r));
        print!("{}", r.client);
        println!(
            "{TCP_LOOP}: {:.2} Gbit/s payload each way ({} bytes out and back in {:.2} s), {:.3} cycles/byte",
            r.gbps(),
            r.bytes,
            r.seconds,
            r.cycles_per_byte()
        );
        return Ok(());
    }
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
