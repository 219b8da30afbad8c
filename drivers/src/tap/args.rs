//! The arguments of `create tap`, in VPP's syntax:
//!
//! ```text
//! create tap [id <n>] [host-if-name <name>] [host-ns <netns>]
//!            [host-ip4-addr <a.b.c.d/len>] [host-ip4-gw <a.b.c.d>]
//!            [host-ip6-addr <addr/len>] [host-ip6-gw <addr>]
//!            [host-bridge <name>] [hw-addr <mac>] [host-mac-addr <mac>]
//!            [host-mtu-size <n>] [rx-ring-size <n>] [tx-ring-size <n>]
//!            [num-rx-queues <n>]
//! ```
//!
//! [`TapArgs::parse`] checks every value here, before anything is opened,
//! and its errors name the keyword and the offending token. VPP options this
//! driver cannot honour (`gso`, `csum-offload`, `persist`, `tun`...) are
//! refused by name rather than silently ignored.

use std::net::{Ipv4Addr, Ipv6Addr};

use rvpp_dataplane::cli::{parse_num, Input};
use rvpp_dataplane::interface::parse_mac;

use super::sys::IFNAMSIZ;

/// Most rx queues (`IFF_MULTI_QUEUE` fds) one tap may have.
pub const MAX_QUEUES: u16 = 16;

/// Errors of `create tap`/`delete tap`; each says what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    #[error("'{token}' is not a valid {keyword} value: expected {expected}")]
    BadValue { keyword: &'static str, token: String, expected: &'static str },
    #[error("{keyword} needs a value")]
    MissingValue { keyword: &'static str },
    #[error("unknown input '{token}'")]
    Unknown { token: String },
    #[error("'{token}' is not supported by rvpp's tap driver ({why})")]
    Unsupported { token: String, why: &'static str },
    #[error("interface 'tap{id}' already exists")]
    IdInUse { id: u32 },
    #[error("host-if-name '{name}': a host interface of that name already exists")]
    HostNameInUse { name: String },
    #[error("host-ns '{ns}': no such network namespace ({path})")]
    NoNetns { ns: String, path: String },
    #[error("cannot open {path} for host interface '{name}': {message}")]
    Open { path: &'static str, name: String, message: String },
    #[error("host interface '{name}': `{command}` failed: {stderr}")]
    Host { name: String, command: String, stderr: String },
    #[error("'{name}' is not a tap interface")]
    NotTap { name: String },
}

/// An address with its prefix length (`10.0.0.2/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<A> {
    pub addr: A,
    pub len: u8,
}

impl<A: std::fmt::Display> std::fmt::Display for Prefix<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Everything `create tap` was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TapArgs {
    /// rvpp interface `tap<id>`; the lowest free when not given.
    pub id: Option<u32>,
    /// Kernel name; `tap<id>` when not given. A `%d` in it is a number
    /// the kernel picks (`vpp%d` → `vpp0`, or the first free); every
    /// queue opens that one device.
    pub host_if_name: Option<String>,
    /// Named netns (`/var/run/netns/<ns>`) or a path to a netns file.
    pub host_ns: Option<String>,
    pub host_ip4: Option<Prefix<Ipv4Addr>>,
    pub host_ip4_gw: Option<Ipv4Addr>,
    pub host_ip6: Option<Prefix<Ipv6Addr>>,
    pub host_ip6_gw: Option<Ipv6Addr>,
    /// Host bridge the tap is enslaved to.
    pub host_bridge: Option<String>,
    /// rvpp's side MAC; 02:fe:... when not given.
    pub hw_addr: Option<[u8; 6]>,
    /// The host side's MAC; the kernel's random one when not given.
    pub host_mac: Option<[u8; 6]>,
    pub host_mtu: Option<u32>,
    /// Frames the kernel queues for rvpp to read (the host's txqueuelen).
    pub rx_ring_size: Option<u32>,
    /// Accepted for VPP compatibility: writes go straight into the host
    /// stack, there is no ring to size.
    pub tx_ring_size: Option<u32>,
    /// Rx queues (fds of one multi-queue tap); 1 when not given.
    pub num_rx_queues: Option<u16>,
}

/// VPP options that exist for its virtio/vhost-net backend and have no
/// meaning (or no implementation) over a plain tap fd.
const UNSUPPORTED: [(&str, &str); 10] = [
    ("gso", "no virtio-net header offloads"),
    ("gro-coalesce", "no virtio-net header offloads"),
    ("csum-offload", "no virtio-net header offloads"),
    ("packed", "no vhost-net rings"),
    ("in-order", "no vhost-net rings"),
    ("consistent-qp", "no vhost-net rings"),
    ("persist", "the host device lives as long as the rvpp interface"),
    ("attach", "the host device lives as long as the rvpp interface"),
    ("tun", "tap (Ethernet) devices only"),
    ("host-ip4-prefix", "use host-ip4-addr"),
];

fn value(i: &mut Input, keyword: &'static str) -> Result<String, TapError> {
    i.next().ok_or(TapError::MissingValue { keyword })
}

fn bad(keyword: &'static str, token: &str, expected: &'static str) -> TapError {
    TapError::BadValue { keyword, token: token.to_string(), expected }
}

fn number(i: &mut Input, keyword: &'static str, lo: u32, hi: u32) -> Result<u32, TapError> {
    let w = value(i, keyword)?;
    match parse_num::<u32>(&w) {
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(bad(keyword, &w, "a number in range")),
    }
}

fn ring_size(i: &mut Input, keyword: &'static str) -> Result<u32, TapError> {
    let w = value(i, keyword)?;
    match parse_num::<u32>(&w) {
        Some(n) if n.is_power_of_two() && n <= 32768 => Ok(n),
        _ => Err(bad(keyword, &w, "a power of two up to 32768")),
    }
}

fn mac(i: &mut Input, keyword: &'static str) -> Result<[u8; 6], TapError> {
    let w = value(i, keyword)?;
    match parse_mac(&w) {
        Some(m) if m[0] & 1 == 0 => Ok(m),
        _ => Err(bad(keyword, &w, "a unicast MAC address (aa:bb:cc:dd:ee:ff)")),
    }
}

/// Whether the kernel accepts `s` as an interface name (`dev_valid_name`).
pub fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() < IFNAMSIZ
        && s != "."
        && s != ".."
        && !s.bytes().any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

fn ifname(i: &mut Input, keyword: &'static str) -> Result<String, TapError> {
    let w = value(i, keyword)?;
    if !valid_ifname(&w) || w.starts_with('-') {
        return Err(bad(keyword, &w, "an interface name of 1 to 15 characters without '/', ':' or spaces"));
    }
    Ok(w)
}

fn netns(i: &mut Input) -> Result<String, TapError> {
    let w = value(i, "host-ns")?;
    // A name under /var/run/netns, or an absolute path to a netns file; a
    // leading '-' would read as an option to ip(8).
    let ok = if w.starts_with('/') {
        !w.contains("/../")
    } else {
        !w.contains('/') && !w.starts_with('-') && w != "." && w != ".."
    };
    if !ok {
        return Err(bad("host-ns", &w, "a netns name (as in `ip netns add <name>`) or an absolute path"));
    }
    Ok(w)
}

fn prefix<A: std::str::FromStr>(
    i: &mut Input,
    keyword: &'static str,
    max: u8,
    expected: &'static str,
) -> Result<Prefix<A>, TapError> {
    let w = value(i, keyword)?;
    let parsed = w.split_once('/').and_then(|(a, l)| {
        let addr = a.parse::<A>().ok()?;
        let len = l.parse::<u8>().ok().filter(|&n| n <= max && !l.starts_with('+'))?;
        Some(Prefix { addr, len })
    });
    parsed.ok_or_else(|| bad(keyword, &w, expected))
}

fn addr<A: std::str::FromStr>(i: &mut Input, keyword: &'static str, expected: &'static str) -> Result<A, TapError> {
    let w = value(i, keyword)?;
    w.parse::<A>().map_err(|_| bad(keyword, &w, expected))
}

impl TapArgs {
    /// Parses the words after `create tap`.
    pub fn parse(i: &mut Input) -> Result<TapArgs, TapError> {
        let mut a = TapArgs::default();
        while let Some(w) = i.peek() {
            let w = w.to_string();
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == w) {
                return Err(TapError::Unsupported { token: w, why });
            }
            // Exact keywords only: several share long prefixes
            // (host-ip4-addr, host-ip4-gw), and a typo must not pick one.
            i.next();
            match w.as_str() {
                "id" => a.id = Some(number(i, "id", 0, u32::MAX - 1)?),
                "host-if-name" => a.host_if_name = Some(ifname(i, "host-if-name")?),
                "host-ns" => a.host_ns = Some(netns(i)?),
                "host-ip4-addr" => {
                    a.host_ip4 =
                        Some(prefix(i, "host-ip4-addr", 32, "an IPv4 address with a prefix length (a.b.c.d/len)")?)
                }
                "host-ip4-gw" => a.host_ip4_gw = Some(addr(i, "host-ip4-gw", "an IPv4 address (a.b.c.d)")?),
                "host-ip6-addr" => {
                    a.host_ip6 =
                        Some(prefix(i, "host-ip6-addr", 128, "an IPv6 address with a prefix length (addr/len)")?)
                }
                "host-ip6-gw" => a.host_ip6_gw = Some(addr(i, "host-ip6-gw", "an IPv6 address")?),
                "host-bridge" => a.host_bridge = Some(ifname(i, "host-bridge")?),
                "hw-addr" => a.hw_addr = Some(mac(i, "hw-addr")?),
                "host-mac-addr" => a.host_mac = Some(mac(i, "host-mac-addr")?),
                "host-mtu-size" => a.host_mtu = Some(number(i, "host-mtu-size", 68, 65535)?),
                "rx-ring-size" => a.rx_ring_size = Some(ring_size(i, "rx-ring-size")?),
                "tx-ring-size" => a.tx_ring_size = Some(ring_size(i, "tx-ring-size")?),
                "num-rx-queues" => a.num_rx_queues = Some(number(i, "num-rx-queues", 1, MAX_QUEUES as u32)? as u16),
                _ => return Err(TapError::Unknown { token: w }),
            }
        }
        Ok(a)
    }

    /// Rx queues to open.
    pub fn queues(&self) -> u16 {
        self.num_rx_queues.unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<TapArgs, TapError> {
        TapArgs::parse(&mut Input::new("create tap", args))
    }

    fn err_text(args: &str) -> String {
        parse(args).expect_err(args).to_string()
    }

    #[test]
    fn empty_means_all_defaults() {
        let a = parse("").unwrap();
        assert_eq!(a, TapArgs::default());
        assert_eq!(a.queues(), 1);
    }

    #[test]
    fn full_vpp_line() {
        let a = parse(
            "id 7 host-if-name vpp-tap7 host-ns ns1 host-ip4-addr 10.77.0.2/24 host-ip4-gw 10.77.0.1 \
             host-ip6-addr fd00::2/64 host-ip6-gw fd00::1 host-bridge br0 hw-addr 02:fe:00:00:00:07 \
             host-mac-addr 0200.0000.0a07 host-mtu-size 9000 rx-ring-size 1024 tx-ring-size 256 num-rx-queues 2",
        )
        .unwrap();
        assert_eq!(a.id, Some(7));
        assert_eq!(a.host_if_name.as_deref(), Some("vpp-tap7"));
        assert_eq!(a.host_ns.as_deref(), Some("ns1"));
        assert_eq!(a.host_ip4, Some(Prefix { addr: Ipv4Addr::new(10, 77, 0, 2), len: 24 }));
        assert_eq!(a.host_ip4.unwrap().to_string(), "10.77.0.2/24");
        assert_eq!(a.host_ip4_gw, Some(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(a.host_ip6, Some(Prefix { addr: "fd00::2".parse().unwrap(), len: 64 }));
        assert_eq!(a.host_ip6_gw, Some("fd00::1".parse().unwrap()));
        assert_eq!(a.host_bridge.as_deref(), Some("br0"));
        assert_eq!(a.hw_addr, Some([2, 0xfe, 0, 0, 0, 7]));
        assert_eq!(a.host_mac, Some([2, 0, 0, 0, 0x0a, 7]));
        assert_eq!(a.host_mtu, Some(9000));
        assert_eq!(a.rx_ring_size, Some(1024));
        assert_eq!(a.tx_ring_size, Some(256));
        assert_eq!(a.queues(), 2);
    }

    #[test]
    fn order_is_free_and_the_last_value_wins() {
        let a = parse("host-ns /run/netns/x id 3 id 0x10").unwrap();
        assert_eq!(a.id, Some(16));
        assert_eq!(a.host_ns.as_deref(), Some("/run/netns/x"));
    }

    #[test]
    fn errors_name_the_token() {
        let cases = [
            ("id x1", "'x1' is not a valid id value"),
            ("id -1", "'-1' is not a valid id value"),
            ("host-ip4-addr 10.0.0.1", "'10.0.0.1' is not a valid host-ip4-addr value"),
            ("host-ip4-addr 10.0.0.1/33", "'10.0.0.1/33'"),
            ("host-ip4-addr 10.0.0.256/24", "'10.0.0.256/24'"),
            ("host-ip4-addr fd00::1/64", "'fd00::1/64' is not a valid host-ip4-addr"),
            ("host-ip6-addr fd00::1/129", "'fd00::1/129' is not a valid host-ip6-addr"),
            ("host-ip6-addr 10.0.0.1/24", "'10.0.0.1/24' is not a valid host-ip6-addr"),
            ("host-ip4-gw 10.0.0", "'10.0.0' is not a valid host-ip4-gw"),
            ("host-ip6-gw fd00:::1", "'fd00:::1' is not a valid host-ip6-gw"),
            ("hw-addr 01:00:5e:00:00:01", "'01:00:5e:00:00:01' is not a valid hw-addr"),
            ("host-mac-addr zz:00:00:00:00:00", "'zz:00:00:00:00:00' is not a valid host-mac-addr"),
            ("host-if-name a-name-far-too-long", "'a-name-far-too-long' is not a valid host-if-name"),
            ("host-if-name a/b", "'a/b' is not a valid host-if-name"),
            ("host-if-name a:b", "'a:b'"),
            ("host-ns ../x", "'../x' is not a valid host-ns"),
            ("host-ns -all", "'-all' is not a valid host-ns"),
            ("host-mtu-size 67", "'67' is not a valid host-mtu-size"),
            ("host-mtu-size 65536", "'65536'"),
            ("rx-ring-size 1000", "'1000' is not a valid rx-ring-size value: expected a power of two"),
            ("tx-ring-size 65536", "'65536' is not a valid tx-ring-size"),
            ("num-rx-queues 0", "'0' is not a valid num-rx-queues"),
            ("num-rx-queues 17", "'17'"),
            ("host-ip4-addr", "host-ip4-addr needs a value"),
            ("id 1 bogus", "unknown input 'bogus'"),
            ("host-ip4 10.0.0.1/24", "unknown input 'host-ip4'"),
            ("id 1 gso", "'gso' is not supported"),
            ("tun", "'tun' is not supported"),
            ("csum-offload", "'csum-offload' is not supported"),
        ];
        for (args, want) in cases {
            let got = err_text(args);
            assert!(got.contains(want), "`create tap {args}`: got '{got}', want '{want}'");
        }
    }

    #[test]
    fn interface_names_follow_the_kernel() {
        assert!(valid_ifname("tap0"));
        assert!(valid_ifname("a-fifteen-chars"));
        assert!(!valid_ifname("sixteen-chars-xx"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname(".."));
        assert!(!valid_ifname("a b"));
    }
}
