//! Interface addresses: `set interface ip address [del] <if> <addr>/<len>`,
//! `show interface address`. Adding an address installs its local (/32,
//! /128) and connected-subnet routes; the first IPv6 address also enables
//! the interface's EUI-64 link-local address. Workers read the addresses
//! (ARP/ND answer for them, ICMP errors take their source from them).

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvpp_dataplane::cli::builtin::parse_interface;
use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::SwIfIndex;

use super::fib::{fib, Path, Source};
use super::{addr_bits, link_local, mask, parse_prefix};

/// Addresses per interface, indexed by sw_if_index.
#[derive(Clone, Default, Debug)]
pub struct IfAddrs {
    pub v4: Vec<Vec<(u32, u8)>>,
    pub v6: Vec<Vec<(u128, u8)>>,
    /// The link-local address of IPv6-enabled interfaces (0 when off).
    pub ll: Vec<u128>,
}

impl IfAddrs {
    /// Whether `a` is one of the IPv4 addresses of `sw`.
    #[inline]
    pub fn has4(&self, sw: u32, a: u32) -> bool {
        self.v4.get(sw as usize).is_some_and(|l| l.iter().any(|x| x.0 == a))
    }
    /// Whether `a` is an IPv4 address of any interface.
    pub fn any4(&self, a: u32) -> bool {
        self.v4.iter().flatten().any(|x| x.0 == a)
    }
    /// Whether `a` is an IPv6 address (or link-local) of any interface;
    /// never the unspecified address.
    pub fn any6(&self, a: u128) -> bool {
        a != 0 && (self.ll.contains(&a) || self.v6.iter().flatten().any(|x| x.0 == a))
    }
    /// Whether `a` is one of the IPv6 addresses (or the link-local) of `sw`.
    /// The unspecified address never is (an interface without IPv6 holds it
    /// as its link-local).
    #[inline]
    pub fn has6(&self, sw: u32, a: u128) -> bool {
        a != 0
            && (self.ll.get(sw as usize) == Some(&a)
                || self.v6.get(sw as usize).is_some_and(|l| l.iter().any(|x| x.0 == a)))
    }
    /// The address to source packets from on `sw` (its first), else any.
    pub fn source4(&self, sw: u32) -> Option<u32> {
        self.v4.get(sw as usize).and_then(|l| l.first()).or_else(|| self.v4.iter().flatten().next()).map(|x| x.0)
    }
    /// The IPv6 source for `sw`: a global address, else its link-local.
    pub fn source6(&self, sw: u32, dst_link_local: bool) -> Option<u128> {
        let ll = self.ll.get(sw as usize).copied().filter(|&a| a != 0);
        if dst_link_local {
            return ll.or_else(|| self.v6.get(sw as usize).and_then(|l| l.first()).map(|x| x.0));
        }
        self.v6
            .get(sw as usize)
            .and_then(|l| l.first())
            .map(|x| x.0)
            .or(ll)
            .or_else(|| self.v6.iter().flatten().next().map(|x| x.0))
    }
    /// Whether `a` is on a connected IPv4 subnet of `sw`.
    pub fn on_link4(&self, sw: u32, a: u32) -> bool {
        self.v4
            .get(sw as usize)
            .is_some_and(|l| l.iter().any(|&(x, len)| mask(false, x as u128, len) == mask(false, a as u128, len)))
    }
}

/// The published address table.
pub type IfAddrTable = Published<IfAddrs>;

fn set_address(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let del = i.keyword("del");
    let sw = parse_interface(e, i)?;
    if del && i.keyword("all") {
        i.done()?;
        let t = e.ext.get_or_default::<IfAddrTable>().load();
        let mut list: Vec<(IpAddr, u8)> = Vec::new();
        if let Some(l) = t.v4.get(sw.0 as usize) {
            list.extend(l.iter().map(|&(a, n)| (IpAddr::V4(Ipv4Addr::from(a)), n)));
        }
        if let Some(l) = t.v6.get(sw.0 as usize) {
            list.extend(l.iter().map(|&(a, n)| (IpAddr::V6(Ipv6Addr::from(a)), n)));
        }
        for (a, n) in list {
            change(e, sw, a, n, false)?;
        }
        return Ok(String::new());
    }
    let w = i.expect("<address>/<length>")?;
    let (a, len) = parse_prefix(&w)
        .ok_or_else(|| CliError(format!("set interface ip address: '{w}' is not an address/length")))?;
    i.done()?;
    change(e, sw, a, len, !del)?;
    Ok(String::new())
}

/// Adds or removes an interface address and its routes.
pub fn change(e: &mut Engine, sw: SwIfIndex, a: IpAddr, len: u8, add: bool) -> Result<(), CliError> {
    let (ip6, bits) = addr_bits(a);
    if a.is_unspecified() || a.is_multicast() {
        return err(format!("set interface ip address: {a} cannot be an interface address"));
    }
    let table = e.ext.get_or_default::<IfAddrTable>().clone();
    let mut t = (*table.load()).clone();
    let n = e.interfaces.capacity();
    t.v4.resize(n.max(t.v4.len()), Vec::new());
    t.v6.resize(n.max(t.v6.len()), Vec::new());
    t.ll.resize(n.max(t.ll.len()), 0);
    let k = sw.0 as usize;
    let present = if ip6 { t.v6[k].iter().any(|x| x.0 == bits) } else { t.v4[k].iter().any(|x| x.0 as u128 == bits) };
    if add && present {
        return err(format!("set interface ip address: {a}/{len} already on this interface"));
    }
    if !add && !present {
        return err(format!("set interface ip address del: {a} is not an address of this interface"));
    }
    if add {
        // A subnet may be configured on one interface only.
        let clash = e.interfaces.iter().any(|f| {
            f.sw_if_index != sw
                && if ip6 {
                    t.v6[f.sw_if_index.0 as usize]
                        .iter()
                        .any(|&(x, l)| l == len && mask(true, x, l) == mask(true, bits, len))
                } else {
                    t.v4[f.sw_if_index.0 as usize]
                        .iter()
                        .any(|&(x, l)| l == len && mask(false, x as u128, l) == mask(false, bits, len))
                }
        });
        if clash {
            return err(format!("set interface ip address: prefix {a}/{len} is configured on another interface"));
        }
        if ip6 {
            t.v6[k].push((bits, len));
        } else {
            t.v4[k].push((bits as u32, len));
        }
    } else if ip6 {
        t.v6[k].retain(|x| x.0 != bits);
    } else {
        t.v4[k].retain(|x| x.0 as u128 != bits);
    }
    let host = if ip6 { 128 } else { 32 };
    let mut enable_ll = None;
    if ip6 && add && t.ll[k] == 0 {
        let mac = e.interfaces.get(sw).map(|f| f.mac).unwrap_or_default();
        t.ll[k] = u128::from(link_local(mac));
        enable_ll = Some(t.ll[k]);
    }
    table.store(t);
    let Engine { ext, interfaces, .. } = e;
    let f = fib(ext);
    let r = if add {
        let mut r = f.add(interfaces, a, host, Source::Local, &[Path::Local(sw.0)]);
        if len < host {
            r = r.and(f.add(interfaces, a, len, Source::Interface, &[Path::Attached(sw.0)]));
        }
        if let Some(ll) = enable_ll {
            r = r.and(f.add(interfaces, IpAddr::V6(Ipv6Addr::from(ll)), 128, Source::Local, &[Path::Local(sw.0)]));
            f.set_ll_glean(interfaces, sw.0);
        }
        r
    } else {
        let mut r = f.del(interfaces, a, host, Source::Local, &[Path::Local(sw.0)]);
        if len < host {
            r = r.and(f.del(interfaces, a, len, Source::Interface, &[]));
        }
        r
    };
    r.map_err(|x| CliError(format!("set interface ip address: {x}")))?;
    if add {
        // Neighbors that cached this address at another MAC learn ours now.
        crate::neighbor::announce_address(e, sw.0, ip6, bits);
        if let Some(ll) = enable_ll {
            crate::neighbor::announce_address(e, sw.0, true, ll);
        }
    }
    Ok(())
}

/// Removes every address of a deleted interface, with the routes they made
/// (local, connected, link-local).
pub(crate) fn forget_interface(e: &mut Engine, sw: SwIfIndex) {
    let t = e.ext.get_or_default::<IfAddrTable>().load();
    let k = sw.0 as usize;
    let mut addrs: Vec<(IpAddr, u8)> = Vec::new();
    if let Some(v4) = t.v4.get(k) {
        addrs.extend(v4.iter().map(|&(a, l)| (IpAddr::V4(Ipv4Addr::from(a)), l)));
    }
    if let Some(v6) = t.v6.get(k) {
        addrs.extend(v6.iter().map(|&(a, l)| (IpAddr::V6(Ipv6Addr::from(a)), l)));
    }
    for (a, len) in addrs {
        let _ = change(e, sw, a, len, false);
    }
    let table = e.ext.get_or_default::<IfAddrTable>().clone();
    let mut t = (*table.load()).clone();
    if let Some(ll) = t.ll.get_mut(k).filter(|ll| **ll != 0) {
        let a = IpAddr::V6(Ipv6Addr::from(*ll));
        *ll = 0;
        table.store(t);
        let Engine { ext, interfaces, .. } = e;
        // Only this interface's path: a parent and its sub-interfaces
        // share a MAC, so a link-local address.
        let _ = fib(ext).del(interfaces, a, 128, Source::Local, &[Path::Local(sw.0)]);
    }
}

fn show_address(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let only = if i.is_empty() { None } else { Some(parse_interface(e, i)?) };
    i.done()?;
    let t = e.ext.get_or_default::<IfAddrTable>().load();
    let mut s = String::new();
    for f in e.interfaces.iter() {
        if only.is_some_and(|o| o != f.sw_if_index) {
            continue;
        }
        let k = f.sw_if_index.0 as usize;
        let _ = writeln!(s, "{} ({})", f.name, if f.admin_up { "up" } else { "dn" });
        if let Some(l) = t.v4.get(k) {
            for &(a, n) in l {
                let _ = writeln!(s, "  L3 {}/{n}", Ipv4Addr::from(a));
            }
        }
        if let Some(l) = t.v6.get(k) {
            for &(a, n) in l {
                let _ = writeln!(s, "  L3 {}/{n}", Ipv6Addr::from(a));
            }
        }
        if let Some(&ll) = t.ll.get(k).filter(|&&x| x != 0) {
            let _ = writeln!(s, "  L3 {}/128 (link-local)", Ipv6Addr::from(ll));
        }
    }
    Ok(s)
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<IfAddrTable>();
    r.cli.add(
        "set interface ip address",
        "set interface ip address [del] <if> <addr>/<len> | del <if> all",
        set_address,
    );
    r.cli.add("show interface address", "show interface address [<if>]", show_address);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::fib::AdjKind;

    /// Whether `a` is delivered locally.
    fn is_local(e: &mut Engine, a: u128) -> bool {
        let f = fib(&mut e.ext);
        let (t6, fwd) = (f.table6.load(), f.fwd.load());
        let adj = t6.lookup(a).and_then(|lb| fwd.lbs.get(lb as usize)).and_then(|l| fwd.adjs.get(l.pick(0) as usize));
        adj.is_some_and(|a| a.kind == AdjKind::Local)
    }

    /// A parent and its sub-interface share a MAC, so a link-local address;
    /// the sub-interface going leaves the parent's (and its other
    /// addresses).
    #[test]
    fn a_sub_interface_leaving_keeps_its_parents_link_local() {
        let mut e = crate::ethernet::sub::tests::engine(&[
            "set interface ip address pg0 2001:db8::1/64",
            "create sub-interfaces pg0 7",
            "set interface ip address pg0.7 2001:db8:7::1/64",
        ]);
        let ll = u128::from(link_local([2, 0, 0, 0, 0, 1]));
        let global: u128 = "2001:db8::1".parse::<Ipv6Addr>().unwrap().into();
        assert!(is_local(&mut e, ll) && is_local(&mut e, global));
        e.exec("delete sub-interface pg0.7").unwrap();
        assert!(is_local(&mut e, ll), "pg0's link-local went with pg0.7");
        assert!(is_local(&mut e, global));
        e.exec("set interface ip address del pg0 2001:db8::1/64").unwrap();
        assert!(!is_local(&mut e, global));
    }
}
