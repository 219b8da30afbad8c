//! The engine's own commands: runtime, errors, trace, interfaces, buffers,
//! threads, exec, version.

use std::fmt::Write;

use super::{err, CliError, Input, Registry};
use crate::engine::Engine;
use crate::interface::{format_mac, parse_mac, RxMode, SwIfIndex};
use crate::node::NodeKind;

type R = Result<String, CliError>;

pub fn register(r: &mut Registry) {
    r.add("show version", "show version", show_version);
    r.add("show clock", "show clock", show_clock);
    r.add("help", "help [<command>]", help);
    r.add("exec", "exec <file>", exec);
    r.add("quit", "quit (ends an rvppctl session)", quit);
    r.add("exit", "exit (ends an rvppctl session)", quit);
    r.add("comment", "comment { ... }", |_, i| {
        i.rest();
        Ok(String::new())
    });
    r.add("show runtime", "show runtime [verbose]", show_runtime);
    r.add("clear runtime", "clear runtime", |e, i| {
        i.done()?;
        e.clear_runtime();
        Ok(String::new())
    });
    r.add("show errors", "show errors [all]", show_errors);
    r.add("clear errors", "clear errors", |e, i| {
        i.done()?;
        e.clear_errors();
        Ok(String::new())
    });
    r.add("trace add", "trace add <input-node> <count>", trace_add);
    r.add("show trace", "show trace [max <n>]", show_trace);
    r.add("clear trace", "clear trace", |e, i| {
        i.done()?;
        e.on_all_threads(|w| w.vm.trace.clear());
        Ok(String::new())
    });
    r.add("show interface", "show interface [<if>]", show_interface);
    r.add("show hardware-interfaces", "show hardware-interfaces [brief] [<if>]", show_hardware);
    r.add("set interface state", "set interface state <if> up|down", set_state);
    r.add("set interface mac address", "set interface mac address <if> <mac>", set_mac);
    r.add("set interface mtu", "set interface mtu [packet|ip4|ip6|mpls] <value> <if>", set_mtu);
    r.add("clear interfaces", "clear interfaces", |e, i| {
        i.done()?;
        e.clear_interface_counters();
        Ok(String::new())
    });
    r.add("show buffers", "show buffers", show_buffers);
    r.add("show threads", "show threads", show_threads);
    r.add("show interface rx-placement", "show interface rx-placement", show_rx_placement);
    r.add(
        "set interface rx-placement",
        "set interface rx-placement <if> [queue <n>] worker <n> | main",
        set_rx_placement,
    );
    r.add("set interface rx-mode", "set interface rx-mode <if> [queue <n>] polling|interrupt|adaptive", set_rx_mode);
}

/// Parses an interface name argument.
pub fn parse_interface(e: &Engine, i: &mut Input) -> Result<SwIfIndex, CliError> {
    let w = i.expect("interface name")?;
    e.interfaces.by_name(&w).ok_or_else(|| CliError(format!("{}: unknown interface '{w}'", i.command())))
}

fn show_version(_: &mut Engine, i: &mut Input) -> R {
    i.done()?;
    Ok(format!("rvpp v{} built with rustc\n", env!("CARGO_PKG_VERSION")))
}

fn show_clock(e: &mut Engine, i: &mut Input) -> R {
    i.done()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(format!("Time now {:.6}, uptime {:.6} s\n", now.as_secs_f64(), e.uptime()))
}

fn help(e: &mut Engine, i: &mut Input) -> R {
    let prefix = i.rest();
    let mut s = String::new();
    for c in e.cli.commands() {
        let name = c.path.join(" ");
        if name.starts_with(prefix.trim()) {
            let _ = writeln!(s, "  {:<40} {}", name, c.short_help);
        }
    }
    Ok(s)
}

fn quit(e: &mut Engine, i: &mut Input) -> R {
    i.done()?;
    let _ = e;
    Ok(String::new())
}

/// Splits a script into commands: one per line, except that a command whose
/// `{` braces are not yet closed continues on the following lines. Returns
/// (first line number, command text).
pub fn split_script(text: &str) -> Result<Vec<(usize, String)>, (usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut depth: i32 = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if depth == 0 && (line.is_empty() || line.starts_with('#') || line.starts_with("//")) {
            continue;
        }
        if depth == 0 {
            start = n + 1;
            cur.clear();
        } else {
            cur.push('\n');
        }
        cur.push_str(line);
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err((n + 1, "unbalanced '}'".into()));
            }
        }
        if depth == 0 {
            out.push((start, std::mem::take(&mut cur)));
        }
    }
    if depth > 0 {
        return Err((start, "'{' is never closed".into()));
    }
    Ok(out)
}

/// Runs a file of CLI commands; a failing line stops it with an error that
/// names the file and line.
pub fn exec_script(e: &mut Engine, text: &str, file: &str) -> R {
    let cmds = split_script(text).map_err(|(l, m)| CliError(format!("{file}:{l}: {m}")))?;
    let mut out = String::new();
    for (line, cmd) in cmds {
        match e.exec(&cmd) {
            Ok(s) => out.push_str(&s),
            Err(x) => return err(format!("{file}:{line}: {}: {x}", cmd.lines().next().unwrap_or(""))),
        }
    }
    Ok(out)
}

fn exec(e: &mut Engine, i: &mut Input) -> R {
    let f = i.expect("file name")?;
    i.done()?;
    let text = std::fs::read_to_string(&f).map_err(|x| CliError(format!("exec: cannot read '{f}': {x}")))?;
    exec_script(e, &text, &f)
}

fn show_runtime(e: &mut Engine, i: &mut Input) -> R {
    let verbose = i.keyword("verbose") || i.keyword("max");
    i.done()?;
    let up = e.uptime();
    let mut s = String::new();
    for t in e.runtime() {
        let lcore = t.lcore.map_or("unpinned".to_string(), |c| format!("lcore {c}"));
        let _ = writeln!(s, "Thread {} {} ({})", t.index, t.name, lcore);
        let total_vec: u64 = t.nodes.iter().filter(|n| n.1 == NodeKind::Input).map(|n| n.2.vectors).sum();
        let _ = writeln!(
            s,
            "Time {:.1}, average vectors/node {:.2}, loops/sec {:.2}",
            up,
            avg_vectors(&t.nodes),
            t.loops as f64 / up.max(1e-9)
        );
        let _ = writeln!(s, "  vector rates in {:.4e}", total_vec as f64 / up.max(1e-9));
        let _ = writeln!(
            s,
            "{:<33}{:<17}{:>15}{:>16}{:>16}{:>15}{:>17}",
            "Name", "State", "Calls", "Vectors", "Suspends", "Clocks", "Vectors/Call"
        );
        for (name, kind, st) in &t.nodes {
            if st.calls == 0 || (!verbose && st.vectors == 0 && *kind == NodeKind::Internal) {
                continue;
            }
            let state = if *kind == NodeKind::Input { "polling" } else { "active" };
            let clocks =
                if st.vectors > 0 { st.clocks as f64 / st.vectors as f64 } else { st.clocks as f64 / st.calls as f64 };
            let vpc = st.vectors as f64 / st.calls as f64;
            let _ = writeln!(
                s,
                "{:<33}{:<17}{:>15}{:>16}{:>16}{:>15}{:>17.2}",
                name,
                state,
                st.calls,
                st.vectors,
                st.suspends,
                format!("{clocks:.2e}"),
                vpc
            );
        }
    }
    Ok(s)
}

fn avg_vectors(nodes: &[(&'static str, NodeKind, crate::graph::NodeStats)]) -> f64 {
    let (c, v) = nodes
        .iter()
        .filter(|n| n.1 == NodeKind::Internal)
        .fold((0u64, 0u64), |(c, v), n| (c + n.2.calls, v + n.2.vectors));
    if c == 0 {
        0.0
    } else {
        v as f64 / c as f64
    }
}

fn show_errors(e: &mut Engine, i: &mut Input) -> R {
    let all = i.keyword("all") || i.keyword("verbose");
    i.done()?;
    let mut s = format!("{:>10} {:>29} {:>45} {:>9}\n", "Count", "Node", "Reason", "Severity");
    for (node, d, c) in e.errors() {
        if c == 0 && !all {
            continue;
        }
        let _ = writeln!(s, "{:>10} {:>29} {:>45} {:>9}", c, node, d.name, d.severity.as_str());
    }
    Ok(s)
}

fn trace_add(e: &mut Engine, i: &mut Input) -> R {
    let node = i.expect("input node name")?;
    let n: u32 = i.parse("packet count")?;
    i.done()?;
    let Some(idx) = e.local.graph.node_index(&node) else {
        return err(format!("trace add: unknown node '{node}'"));
    };
    if !e.local.graph.is_input(idx) {
        let inputs: Vec<&str> = (0..e.local.graph.len() as u32)
            .map(crate::node::NodeIndex)
            .filter(|&k| e.local.graph.is_input(k))
            .map(|k| e.local.graph.node_name(k))
            .collect();
        return err(format!("trace add: '{node}' is not an input node (input nodes: {})", inputs.join(", ")));
    }
    e.on_all_threads(move |w| {
        let b = &mut w.vm.trace.budgets;
        match b.iter_mut().find(|x| x.0 == idx) {
            Some(x) => x.1 = x.1.saturating_add(n),
            None => b.push((idx, n)),
        }
    });
    Ok(String::new())
}

fn format_tsc(tsc: u64, start: u64) -> String {
    let secs = tsc.saturating_sub(start) as f64 / crate::arch::tsc_hz();
    let us = (secs * 1e6) as u64;
    let (h, m, s, u) = (us / 3_600_000_000, us / 60_000_000 % 60, us / 1_000_000 % 60, us % 1_000_000);
    format!("{h:02}:{m:02}:{s:02}:{u:06}")
}

fn show_trace(e: &mut Engine, i: &mut Input) -> R {
    let max = if i.keyword("max") { i.parse::<usize>("max packets")? } else { 50 };
    i.done()?;
    let start = e.start_tsc;
    let per = e.on_all_threads(move |w| {
        let mut s = format!("------------------- Start of thread {} {} -------------------\n", w.index, w.name);
        if w.vm.trace.packets.is_empty() {
            s.push_str("No packets in trace buffer\n");
        }
        for (k, p) in w.vm.trace.packets.iter().take(max).enumerate() {
            let _ = writeln!(s, "Packet {}\n", k + 1);
            for t in p {
                let _ = writeln!(s, "{}: {}", format_tsc(t.tsc, start), w.graph.node_name(t.node));
                for l in t.text.lines() {
                    let _ = writeln!(s, "  {l}");
                }
            }
            s.push('\n');
        }
        s
    });
    Ok(per.concat())
}

fn show_interface(e: &mut Engine, i: &mut Input) -> R {
    let only = if i.is_empty() { None } else { Some(parse_interface(e, i)?) };
    i.done()?;
    let c = e.interface_counters();
    Ok(e.interfaces.format_show(&c, only))
}

fn show_hardware(e: &mut Engine, i: &mut Input) -> R {
    let brief = i.keyword("brief");
    let only = if i.is_empty() { None } else { Some(parse_interface(e, i)?) };
    i.done()?;
    let mut s = format!("{:>21}{:>17}{:>7}  {}\n", "Name", "Idx", "Link", "Hardware");
    for f in e.interfaces.iter() {
        if f.sup_sw_if_index != f.sw_if_index || only.is_some_and(|o| o != f.sw_if_index) {
            continue;
        }
        let link = if f.admin_up && f.link_up { "up" } else { "down" };
        let _ = writeln!(s, "{:<33}{:<6}{:<6}{}", f.name, f.hw_if_index, link, f.name);
        if brief {
            continue;
        }
        let driver = f.device.as_ref().map_or("none", |d| d.driver());
        let _ = writeln!(s, "  {driver} interface");
        let _ = writeln!(s, "  Link speed: unknown");
        let _ = writeln!(s, "  Ethernet address {}", format_mac(&f.mac));
        if let Some(d) = &f.device {
            for l in d.format_hw().lines() {
                let _ = writeln!(s, "  {l}");
            }
        }
    }
    Ok(s)
}

fn set_state(e: &mut Engine, i: &mut Input) -> R {
    let sw = parse_interface(e, i)?;
    let up = match i.next().as_deref() {
        Some("up") => true,
        Some("down") => false,
        Some(w) => return err(format!("set interface state: expected up or down, got '{w}'")),
        None => return err("set interface state: expected up or down"),
    };
    i.done()?;
    e.set_admin(sw, up);
    Ok(String::new())
}

fn set_mac(e: &mut Engine, i: &mut Input) -> R {
    let sw = parse_interface(e, i)?;
    let w = i.expect("MAC address")?;
    let mac =
        parse_mac(&w).ok_or_else(|| CliError(format!("set interface mac address: '{w}' is not a MAC address")))?;
    i.done()?;
    if mac[0] & 1 != 0 {
        return err(format!("set interface mac address: '{w}' is a multicast address"));
    }
    if let Some(f) = e.interfaces.get_mut(sw) {
        f.mac = mac;
    }
    e.publish_interfaces();
    e.announce(sw);
    Ok(String::new())
}

fn set_mtu(e: &mut Engine, i: &mut Input) -> R {
    let which = if i.keyword("packet") {
        0
    } else if i.keyword("ip4") {
        1
    } else if i.keyword("ip6") {
        2
    } else if i.keyword("mpls") {
        3
    } else {
        0
    };
    let mtu: u32 = i.parse("MTU")?;
    let sw = parse_interface(e, i)?;
    i.done()?;
    if !(64..=65535).contains(&mtu) {
        return err(format!("set interface mtu: {mtu} is outside 64..65535"));
    }
    let Some(f) = e.interfaces.get_mut(sw) else { return err("set interface mtu: interface gone") };
    f.mtu[which] = mtu;
    e.publish_interfaces();
    Ok(String::new())
}

fn show_buffers(e: &mut Engine, i: &mut Input) -> R {
    i.done()?;
    // Cache lengths are published on refill/spill only: bring them up to date.
    e.on_all_threads(|w| w.vm.bufs.publish_cached());
    let st = e.buffers.stats(e.num_threads());
    let cached: u32 = st.cached.iter().sum();
    let used = st.total.saturating_sub(st.free).saturating_sub(cached);
    let mut s = format!(
        "{:<20}{:>6}{:>6}{:>7}{:>11}{:>9}{:>9}{:>9}{:>9}\n",
        "Pool Name", "Index", "NUMA", "Size", "Data Size", "Total", "Avail", "Cached", "Used"
    );
    let _ = writeln!(
        s,
        "{:<20}{:>6}{:>6}{:>7}{:>11}{:>9}{:>9}{:>9}{:>9}",
        "default-numa-0", 0, 0, st.stride, st.data_size, st.total, st.free, cached, used
    );
    let _ = writeln!(s, "page size: {}", if st.hugepages { "2M (hugepages)" } else { "4K" });
    for (t, c) in st.cached.iter().enumerate() {
        let _ = writeln!(s, "  thread {t}: {c} cached");
    }
    let _ = writeln!(s, "allocation failures: {}", st.alloc_failures);
    Ok(s)
}

fn show_threads(e: &mut Engine, i: &mut Input) -> R {
    i.done()?;
    let rows = e.on_all_threads(|w| {
        let lwp = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default();
        (w.index, w.name.clone(), lwp, w.lcore)
    });
    let mut s = format!("{:<7}{:<20}{:<12}{:<8}{:<7}\n", "ID", "Name", "Type", "LWP", "lcore");
    for (idx, name, lwp, lcore) in rows {
        let ty = if idx == 0 { "" } else { "workers" };
        let lc = lcore.map_or("-".to_string(), |c| c.to_string());
        let _ = writeln!(s, "{idx:<7}{name:<20}{ty:<12}{lwp:<8}{lc:<7}");
    }
    Ok(s)
}

fn show_rx_placement(e: &mut Engine, i: &mut Input) -> R {
    i.done()?;
    let mut s = String::new();
    for t in 0..e.num_threads() {
        let name = if t == 0 { "rvpp_main".to_string() } else { format!("rvpp_wk_{}", t - 1) };
        let mut lines = String::new();
        for f in e.interfaces.iter() {
            for (q, th, mode) in &f.rx_queues {
                if *th == t {
                    let node = f.device.as_ref().and_then(|d| d.input_node()).unwrap_or("?");
                    let _ = writeln!(lines, "  node {node}:\n    {} queue {q} ({})", f.name, mode.as_str());
                }
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(s, "Thread {t} ({name}):");
            s.push_str(&lines);
        }
    }
    Ok(s)
}

fn queue_arg(i: &mut Input) -> Result<Option<u32>, CliError> {
    if i.keyword("queue") {
        Ok(Some(i.parse("queue id")?))
    } else {
        Ok(None)
    }
}

fn set_rx_placement(e: &mut Engine, i: &mut Input) -> R {
    let sw = parse_interface(e, i)?;
    let q = queue_arg(i)?;
    let thread = if i.keyword("main") {
        0
    } else if i.keyword("worker") {
        let w: usize = i.parse("worker index")?;
        if w >= e.num_workers() {
            return err(format!("set interface rx-placement: worker {w} does not exist ({} workers)", e.num_workers()));
        }
        w + 1
    } else {
        return i.unexpected();
    };
    i.done()?;
    crate::device::move_rx_queues(e, sw, q, thread)
}

fn set_rx_mode(e: &mut Engine, i: &mut Input) -> R {
    let sw = parse_interface(e, i)?;
    let q = queue_arg(i)?;
    let mode = if i.keyword("polling") {
        RxMode::Polling
    } else if i.keyword("interrupt") {
        RxMode::Interrupt
    } else if i.keyword("adaptive") {
        RxMode::Adaptive
    } else {
        return i.unexpected();
    };
    i.done()?;
    crate::device::set_rx_mode(e, sw, q, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_on_lines_and_braces() {
        let s = "set int state pg0 up\n# comment\n\npacket-generator new {\n name s0\n limit 3\n}\nshow int\n";
        let v = split_script(s).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], (1, "set int state pg0 up".to_string()));
        assert_eq!(v[1].0, 4);
        assert!(v[1].1.contains("limit 3"));
        assert_eq!(v[2], (8, "show int".to_string()));
        assert_eq!(split_script("a {\nb\n").unwrap_err().0, 1);
        assert_eq!(split_script("a\nb }\n").unwrap_err().0, 2);
    }

    #[test]
    fn tsc_format_is_vpp_like() {
        let hz = crate::arch::tsc_hz();
        let t = format_tsc((hz * 3661.5) as u64, 0);
        assert!(t.starts_with("01:01:01:"), "{t}");
    }
}
