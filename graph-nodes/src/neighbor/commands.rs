//! The neighbor commands, with VPP's names and layout: `set ip neighbor`,
//! `show ip neighbors` (also `show ip neighbor`, `show ip4|ip6 neighbors`,
//! `show ip arp`), `clear ip neighbors`, `set ip neighbor-config`,
//! `show ip neighbor-config`.

use std::fmt::Write;
use std::net::IpAddr;

use rvpp_dataplane::cli::builtin::parse_interface;
use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::{format_mac, parse_mac, InterfaceTable};
use rvpp_dataplane::SwIfIndex;

use super::{family, with_table, NeighborTable};
use crate::ip::{addr_bits, bits_addr};

/// `set ip neighbor [del] [static] <if> <ip> <mac> [static]`
fn set_neighbor(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let (mut del, mut is_static) = (false, false);
    loop {
        if i.keyword("del") {
            del = true;
        } else if i.keyword("static") {
            is_static = true;
        } else {
            break;
        }
    }
    let sw = parse_interface(e, i)?;
    let w = i.expect("<ip-address>")?;
    let a: IpAddr = w.parse().map_err(|_| CliError(format!("{}: '{w}' is not an IP address", i.command())))?;
    let mac = match i.peek() {
        Some(m) if !del || parse_mac(m).is_some() => {
            let m = i.expect("<mac-address>")?;
            Some(parse_mac(&m).ok_or_else(|| CliError(format!("{}: '{m}' is not a MAC address", i.command())))?)
        }
        None if !del => return err(format!("{}: expected <mac-address>", i.command())),
        _ => None,
    };
    if i.keyword("static") {
        is_static = true;
    }
    i.done()?;
    let cmd = i.command().to_string();
    if del {
        let (ip6, bits) = addr_bits(a);
        let found = with_table(e, |t, f, ifs| t.remove(f, ifs, ip6, sw.0, bits));
        if !found {
            return err(format!("{cmd} del: no neighbor {a} on that interface"));
        }
        return Ok(String::new());
    }
    let mac = mac.unwrap_or_default();
    if mac[0] & 1 != 0 {
        return err(format!("{cmd}: {} is not a unicast MAC address", format_mac(&mac)));
    }
    let now = e.uptime();
    with_table(e, |t, f, ifs| t.add(f, ifs, a, sw.0, mac, is_static, now))
        .map_err(|x| CliError(format!("{cmd}: {x}")))?;
    Ok(String::new())
}

/// Parses `[ip4|ip6] [<if>]`.
fn parse_family_if(e: &Engine, i: &mut Input, mut fam: Option<bool>) -> Result<(Option<bool>, Option<u32>), CliError> {
    if fam.is_none() {
        if i.keyword("ip4") {
            fam = Some(false);
        } else if i.keyword("ip6") {
            fam = Some(true);
        }
    }
    let sw = if i.is_empty() { None } else { Some(parse_interface(e, i)?.0) };
    i.done()?;
    Ok((fam, sw))
}

/// The `show ip neighbors` table.
pub fn format_neighbors(t: &NeighborTable, ifs: &InterfaceTable, fam: Option<bool>, sw: Option<u32>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:^12}{:^40}{:^6}{:^20}{:^24}", "Time", "IP", "Flags", "Ethernet", "Interface");
    for (&(ip6, k_sw, addr), n) in t.iter() {
        if fam.is_some_and(|f| f != ip6) || sw.is_some_and(|x| x != k_sw) {
            continue;
        }
        let name = ifs.get(SwIfIndex(k_sw)).map_or_else(|| format!("sw_if_index {k_sw}"), |f| f.name.clone());
        let _ = writeln!(
            s,
            "{:^12}{:^40}{:^6}{:^20}{}",
            format!("{:.4}", n.updated),
            bits_addr(ip6, addr).to_string(),
            if n.is_static { "S" } else { "D" },
            format_mac(&n.mac),
            name
        );
    }
    for ip6 in [false, true] {
        if fam.is_none_or(|f| f == ip6) && t.refused(ip6) > 0 {
            let c = t.config(ip6);
            let _ = writeln!(
                s,
                "{}: {} new entries refused (limit {} dynamic entries reached)",
                family(ip6),
                t.refused(ip6),
                c.limit
            );
        }
    }
    s
}

fn show(e: &mut Engine, i: &mut Input, fam: Option<bool>) -> Result<String, CliError> {
    let (fam, sw) = parse_family_if(e, i, fam)?;
    let t = e.ext.get_or_default::<NeighborTable>();
    Ok(format_neighbors(t, &e.interfaces, fam, sw))
}

/// `clear ip neighbors [ip4|ip6] [<if>]`: removes dynamic entries.
fn clear(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let (fam, sw) = parse_family_if(e, i, None)?;
    with_table(e, |t, f, ifs| t.flush(f, ifs, fam, sw));
    Ok(String::new())
}

/// `set ip neighbor-config ip4|ip6 [limit <n>] [age <secs>] [recycle|norecycle]`
fn set_config(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let ip6 = if i.keyword("ip4") {
        false
    } else if i.keyword("ip6") {
        true
    } else {
        return err(format!("{}: expected ip4 or ip6", i.command()));
    };
    let mut c = e.ext.get_or_default::<NeighborTable>().config(ip6);
    loop {
        if i.keyword("limit") {
            c.limit = i.parse("limit")?;
        } else if i.keyword("age") {
            c.age = i.parse("age")?;
        } else if i.keyword("recycle") {
            c.recycle = true;
        } else if i.keyword("norecycle") {
            c.recycle = false;
        } else if i.is_empty() {
            break;
        } else {
            return i.unexpected();
        }
    }
    with_table(e, |t, _, _| t.set_config(ip6, c));
    Ok(String::new())
}

fn show_config(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    i.done()?;
    let t = e.ext.get_or_default::<NeighborTable>();
    let mut s = String::new();
    for ip6 in [false, true] {
        let c = t.config(ip6);
        let _ = writeln!(s, "{}:\n  limit:{}, age:{}, recycle:{}", family(ip6), c.limit, c.age, c.recycle as u8);
        let _ = writeln!(s, "  dynamic entries:{}, refused:{}", t.dynamic_count(ip6), t.refused(ip6));
    }
    Ok(s)
}

pub fn register(r: &mut Registrar) {
    r.cli.add("set ip neighbor", "set ip neighbor [del] [static] <interface> <ip-address> <mac-address>", set_neighbor);
    r.cli.add("show ip neighbors", "show ip neighbors [ip4|ip6] [<interface>]", |e, i| show(e, i, None));
    r.cli.add("show ip neighbor", "show ip neighbor [ip4|ip6] [<interface>]", |e, i| show(e, i, None));
    r.cli.add("show ip4 neighbors", "show ip4 neighbors [<interface>]", |e, i| show(e, i, Some(false)));
    r.cli.add("show ip6 neighbors", "show ip6 neighbors [<interface>]", |e, i| show(e, i, Some(true)));
    r.cli.add("show ip arp", "show ip arp [<interface>]", |e, i| show(e, i, Some(false)));
    r.cli.add("clear ip neighbors", "clear ip neighbors [ip4|ip6] [<interface>]", clear);
    r.cli.add(
        "set ip neighbor-config",
        "set ip neighbor-config ip4|ip6 [limit <n>] [age <seconds>] [recycle|norecycle]",
        set_config,
    );
    r.cli.add("show ip neighbor-config", "show ip neighbor-config", show_config);
}
