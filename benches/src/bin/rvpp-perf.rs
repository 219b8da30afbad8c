//! `rvpp-perf <workload> [seconds]`: runs a whole-graph workload on one core
//! and prints per-node cycles/packet and the summary line
//! `<workload>: F cycles/packet forwarding, T cycles/packet with generator, M Mpps`.
//! `rvpp-perf tcp-loop [bytes] [mtu <n>]` (default 1g, MTU 9000) moves
//! bytes over one TCP connection between rvpp's echo client and server on
//! a loopback interface of that MTU and prints Gbit/s and cycles per byte.

use anyhow::{anyhow, bail};
use rvpp_benches::{format_table, format_tcp_table, run, run_tcp_loop, TCP_LOOP, TCP_LOOP_MTU, WORKLOADS};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        let mut s = String::from("usage: rvpp-perf <workload> [seconds]\nworkloads:\n");
        for w in WORKLOADS {
            s += &format!("  {:<16}{}\n", w.name, w.about);
        }
        s += &format!("  {TCP_LOOP:<16}[bytes] [mtu <n>] one TCP connection, rvpp echo client <-> rvpp echo server\n");
        bail!("{s}");
    };
    if name == TCP_LOOP {
        let (mut bytes, mut mtu) = (1u64 << 30, TCP_LOOP_MTU);
        let mut rest = args[1..].iter();
        while let Some(a) = rest.next() {
            if a == "mtu" {
                let v = rest.next().ok_or_else(|| anyhow!("mtu: expected a number"))?;
                mtu = v
                    .parse()
                    .ok()
                    .filter(|m| (576..=65535).contains(m))
                    .ok_or_else(|| anyhow!("mtu: '{v}' is not in 576..65535"))?;
            } else {
                bytes = rvpp_dataplane::config::parse_size(a).ok_or_else(|| anyhow!("bytes: '{a}' is not a size"))?;
            }
        }
        let r = run_tcp_loop(bytes, mtu).map_err(|e| anyhow!(e))?;
        println!("{TCP_LOOP} (one TCP connection, rvpp echo client <-> rvpp echo server, loopback address, MTU {mtu})");
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
