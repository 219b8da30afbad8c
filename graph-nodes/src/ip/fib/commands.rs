//! Route commands: `ip route add|del [count <n>] <prefix>/<len> via ...`,
//! `show ip fib [<prefix>|<addr>|summary]`, `show ip6 fib`.

use std::fmt::Write;
use std::net::IpAddr;

use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::format_mac;
use rvpp_dataplane::SwIfIndex;

use super::{fib, AdjKind, Fib, Path, Source};
use crate::ip::{addr_bits, bits_addr, mask, parse_prefix};

/// Parses the `via ...` list of a route command.
fn parse_paths(e: &Engine, i: &mut Input, ip6: bool) -> Result<Vec<Path>, CliError> {
    let mut paths = Vec::new();
    while i.keyword("via") {
        let w = i.expect("next hop address, interface, or drop")?;
        if w == "drop" {
            paths.push(Path::Drop);
            continue;
        }
        if w == "punt" {
            paths.push(Path::Punt);
            continue;
        }
        if let Ok(a) = w.parse::<IpAddr>() {
            let (f6, nh) = addr_bits(a);
            if f6 != ip6 {
                return err(format!("{}: next hop {a} is not of the prefix's address family", i.command()));
            }
            let sw = match i.peek().and_then(|n| e.interfaces.by_name(n)) {
                Some(sw) => {
                    i.next();
                    Some(sw.0)
                }
                None => None,
            };
            paths.push(Path::Via { nh, sw });
        } else if let Some(sw) = e.interfaces.by_name(&w) {
            paths.push(Path::Attached(sw.0));
        } else {
            return err(format!("{}: '{w}' is neither an address nor an interface", i.command()));
        }
    }
    Ok(paths)
}

fn route(e: &mut Engine, i: &mut Input, add: bool) -> Result<String, CliError> {
    let mut count: u32 = 1;
    loop {
        if i.keyword("count") {
            count = i.parse("count")?;
            if count == 0 {
                return err(format!("{}: count must be at least 1", i.command()));
            }
        } else if i.keyword("table") {
            let t: u32 = i.parse("table id")?;
            if t != 0 {
                return err(format!("{}: table {t} does not exist (only table 0)", i.command()));
            }
        } else {
            break;
        }
    }
    let w = i.expect("<prefix>/<len>")?;
    let (a, len) = parse_prefix(&w).ok_or_else(|| CliError(format!("{}: '{w}' is not a prefix", i.command())))?;
    let (ip6, bits) = addr_bits(a);
    let paths = parse_paths(e, i, ip6)?;
    i.done()?;
    if add && paths.is_empty() {
        return err(format!("{}: a route needs at least one 'via'", i.command()));
    }
    let width = if ip6 { 128u32 } else { 32 };
    let step: u128 = if len as u32 >= width { 1 } else { 1u128 << (width - len as u32) };
    let Engine { ext, interfaces, .. } = e;
    let f = fib(ext);
    if add && !ip6 && count > 1 {
        let base = mask(false, bits, len);
        let prefixes: Vec<(u32, u8)> = (0..count as u128).map(|k| ((base + k * step) as u32, len)).collect();
        f.add_many4(interfaces, &prefixes, &paths);
        return Ok(String::new());
    }
    for k in 0..count as u128 {
        let p = bits_addr(ip6, mask(ip6, bits, len).wrapping_add(k * step));
        let r = if add {
            f.add(interfaces, p, len, Source::Cli, &paths)
        } else {
            f.del(interfaces, p, len, Source::Cli, &paths)
        };
        r.map_err(|x| CliError(format!("{}: {x}", i.command())))?;
    }
    Ok(String::new())
}

fn if_name(e: &Engine, sw: u32) -> String {
    e.interfaces.get(SwIfIndex(sw)).map_or_else(|| format!("sw_if_index {sw}"), |f| f.name.clone())
}

fn format_adj(e: &Engine, f: &Fib, ai: u32) -> String {
    let Some(a) = f.forwarding().adjs.get(ai as usize) else { return "?".into() };
    let fam = if a.ip6 { "ip6" } else { "ip4" };
    match a.kind {
        AdjKind::Unreachable => format!("dpo-drop {fam} (unreachable)"),
        AdjKind::Drop => format!("dpo-drop {fam}"),
        AdjKind::Punt => format!("dpo-punt {fam}"),
        AdjKind::Local => format!("dpo-receive on {}", if_name(e, a.sw_if_index)),
        AdjKind::Glean => format!("{fam}-glean: {}: mtu:{}", if_name(e, a.sw_if_index), a.mtu),
        AdjKind::Incomplete => {
            format!("{fam} via {} {}: incomplete", bits_addr(a.ip6, a.addr), if_name(e, a.sw_if_index))
        }
        AdjKind::Rewrite => {
            let rw = a.rewrite();
            let (dst, src) = (&rw[0..6], &rw[6..12]);
            format!(
                "{fam} via {} {}: mtu:{} next:{} {} -> {}",
                bits_addr(a.ip6, a.addr),
                if_name(e, a.sw_if_index),
                a.mtu,
                ai,
                format_mac(&src.try_into().unwrap_or([0; 6])),
                format_mac(&dst.try_into().unwrap_or([0; 6]))
            )
        }
    }
}

fn show_fib(e: &mut Engine, i: &mut Input, ip6: bool) -> Result<String, CliError> {
    let mut filter: Option<(u128, Option<u8>)> = None;
    let mut summary = false;
    while let Some(w) = i.next() {
        if w == "summary" {
            summary = true;
        } else if w == "table" || w == "index" {
            i.expect("table id")?;
        } else if let Some((a, l)) = parse_prefix(&w) {
            filter = Some((addr_bits(a).1, Some(l)));
        } else if let Ok(a) = w.parse::<IpAddr>() {
            filter = Some((addr_bits(a).1, None));
        } else {
            return err(format!("{}: unknown input '{w}'", i.command()));
        }
    }
    let mut e2 = std::mem::take(&mut e.ext);
    let f = fib(&mut e2);
    let mut s = format!(
        "{}-VRF:0, fib_index:0, flow hash:[src dst sport dport proto ] routes:{}\n",
        if ip6 { "ipv6" } else { "ipv4" },
        f.route_count(ip6)
    );
    if summary {
        let mut by_len = std::collections::BTreeMap::new();
        for (p, ..) in f.routes(ip6) {
            *by_len.entry(p.2).or_insert(0u64) += 1;
        }
        let _ = writeln!(s, "    Prefix length         Count");
        for (l, c) in by_len.iter().rev() {
            let _ = writeln!(s, "{l:>15}{c:>16}");
        }
        if !ip6 {
            let _ = writeln!(s, "mtrie memory: {} bytes", f.mtrie.memory_bytes());
        }
        e.ext = e2;
        return Ok(s);
    }
    let routes = f.routes(ip6);
    let chosen: Vec<_> = match filter {
        None => routes.iter().collect(),
        Some((a, Some(l))) => routes.iter().filter(|r| r.0 .2 == l && r.0 .1 == mask(ip6, a, l)).collect(),
        Some((a, None)) => {
            // Longest match for an address.
            routes.iter().filter(|r| mask(ip6, a, r.0 .2) == r.0 .1).max_by_key(|r| r.0 .2).into_iter().collect()
        }
    };
    for (p, src, _paths, lb) in chosen {
        let _ = writeln!(s, "{}/{}", bits_addr(ip6, p.1), p.2);
        let buckets = f.forwarding().lbs.get(*lb as usize).map(|l| l.buckets.clone()).unwrap_or_default();
        let _ = writeln!(
            s,
            "  unicast-{}-chain, source:{}\n  [@0]: dpo-load-balance: [proto:{} index:{lb} buckets:{}]",
            if ip6 { "ip6" } else { "ip4" },
            src.as_str(),
            if ip6 { "ip6" } else { "ip4" },
            buckets.len()
        );
        for (k, ai) in buckets.iter().enumerate() {
            let _ = writeln!(s, "    [{k}] {}", format_adj(e, f, *ai));
        }
    }
    e.ext = e2;
    Ok(s)
}

pub fn register(r: &mut Registrar) {
    r.cli.add(
        "ip route add",
        "ip route add [count <n>] <prefix>/<len> via <nh> [<if>] | via <if> | via drop ...",
        |e, i| route(e, i, true),
    );
    r.cli.add("ip route del", "ip route del [count <n>] <prefix>/<len> [via ...]", |e, i| route(e, i, false));
    r.cli.add("show ip fib", "show ip fib [<prefix>|<addr>|summary]", |e, i| show_fib(e, i, false));
    r.cli.add("show ip6 fib", "show ip6 fib [<prefix>|<addr>|summary]", |e, i| show_fib(e, i, true));
}
