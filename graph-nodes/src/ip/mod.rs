//! IPv4 and IPv6: interface addresses, the FIB, and the generic ip nodes
//! (`ip4-input`/`ip6-input`, `ip4-lookup`/`ip6-lookup`, `ip4-rewrite`/
//! `ip6-rewrite`, `ip4-local`/`ip6-local`, ICMP errors). Each node is one
//! type generic over `const IP6: bool`, registered twice.

pub mod addr;
pub use rvpp_dataplane::checksum;
pub mod fib;
pub mod frag;
pub mod icmp;
pub mod input;
pub mod local;
pub mod lookup;
pub mod ping;
pub mod reass;
pub mod rewrite;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvpp_dataplane::engine::Registrar;

/// IP protocol numbers.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMP6: u8 = 58;
    pub const FRAGMENT: u8 = 44;
    pub const HOP_BY_HOP: u8 = 0;
}

/// Node names per family, so generic nodes name their nexts as constants.
pub struct Names {
    pub input: &'static str,
    pub lookup: &'static str,
    pub rewrite: &'static str,
    pub local: &'static str,
    pub icmp_error: &'static str,
    pub glean: &'static str,
    pub frag: &'static str,
}

pub const IP4: Names = Names {
    input: "ip4-input",
    lookup: "ip4-lookup",
    rewrite: "ip4-rewrite",
    local: "ip4-local",
    icmp_error: "ip4-icmp-error",
    glean: "ip4-glean",
    frag: "ip4-frag",
};

pub const IP6: Names = Names {
    input: "ip6-input",
    lookup: "ip6-lookup",
    rewrite: "ip6-rewrite",
    local: "ip6-local",
    icmp_error: "ip6-icmp-error",
    glean: "ip6-glean",
    frag: "ip6-frag",
};

/// The names of a family.
pub const fn names(ip6: bool) -> &'static Names {
    if ip6 {
        &IP6
    } else {
        &IP4
    }
}

/// An address as the FIB keys it: v4 in the low 32 bits.
pub fn addr_bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u32::from(v) as u128),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

/// The address for FIB bits.
pub fn bits_addr(ip6: bool, b: u128) -> IpAddr {
    if ip6 {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::from(b as u32))
    }
}

/// Masks an address to its first `len` bits.
pub fn mask(ip6: bool, a: u128, len: u8) -> u128 {
    let width = if ip6 { 128 } else { 32 };
    let len = len.min(width) as u32;
    if len == 0 {
        return 0;
    }
    let keep = if ip6 { u128::MAX << (128 - len) } else { ((u32::MAX as u64) << (32 - len)) as u32 as u128 };
    a & keep
}

/// Parses `a.b.c.d/len` or `x::y/len`.
pub fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = s.split_once('/')?;
    let a: IpAddr = a.parse().ok()?;
    let l: u8 = l.parse().ok()?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    (l <= max).then_some((a, l))
}

/// The modified EUI-64 link-local address of a MAC (fe80::/64).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]])
}

/// The solicited-node multicast address of an IPv6 address.
pub fn solicited_node(a: u128) -> u128 {
    0xff02_0000_0000_0000_0000_0001_ff00_0000u128 | (a & 0xff_ffff)
}

pub fn register(r: &mut Registrar) {
    addr::register(r);
    fib::register(r);
    input::register(r);
    lookup::register(r);
    rewrite::register(r);
    local::register(r);
    icmp::register(r);
    ping::register(r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(mask(false, 0x0a01_0203, 24), 0x0a01_0200);
        assert_eq!(mask(false, 0x0a01_0203, 0), 0);
        assert_eq!(mask(false, 0x0a01_0203, 32), 0x0a01_0203);
        assert_eq!(mask(true, u128::MAX, 64), u128::MAX << 64);
        assert_eq!(parse_prefix("10.0.0.1/24"), Some(("10.0.0.1".parse().unwrap(), 24)));
        assert_eq!(parse_prefix("10.0.0.1/33"), None);
        assert_eq!(parse_prefix("2001:db8::1/64"), Some(("2001:db8::1".parse().unwrap(), 64)));
        assert_eq!(parse_prefix("10.0.0.1"), None);
    }

    #[test]
    fn eui64_link_local() {
        let ll = link_local([0x02, 0xfe, 0x12, 0x34, 0x56, 0x78]);
        assert_eq!(ll, "fe80::fe:12ff:fe34:5678".parse::<Ipv6Addr>().unwrap());
        let sn = solicited_node(u128::from("2001:db8::1:2:3".parse::<Ipv6Addr>().unwrap()));
        assert_eq!(Ipv6Addr::from(sn), "ff02::1:ff02:3".parse::<Ipv6Addr>().unwrap());
    }
}
