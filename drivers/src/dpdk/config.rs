//! startup.conf's `dpdk { ... }` section, as VPP reads it, turned into
//! the EAL's arguments and per-device settings. It parses with or without
//! the `dpdk` feature, so a daemon built without DPDK can say precisely
//! what it is ignoring.
//!
//! ```text
//! dpdk {
//!   dev default { num-rx-desc 1024 }
//!   dev 0000:00:08.0 { name eth0 num-rx-queues 2 num-tx-queues 2 }
//!   vdev net_af_packet0,iface=veth1
//!   vdev net_null0 { name null0 }        # rvpp: a name for a vdev port
//!   no-pci  socket-mem 512  huge-dir /mnt/huge  no-multi-seg
//!   no-huge  num-mbufs 32768  log-level notice  file-prefix rvpp0
//!   no-zero-copy                         # rvpp: copy between mbufs and buffers
//! }
//! ```
//!
//! `no-zero-copy` makes the driver copy packets between mbufs of its own
//! pool and rvpp buffers instead of handing rvpp's buffers to DPDK as
//! mbufs (see the driver's docs); `num-mbufs` sizes that pool.
//!
//! `no-huge` runs the EAL on ordinary pages (`--no-huge`); when the host
//! has no free huge pages it is what rvpp does by itself, saying so.
//! The EAL's runtime files go under `/var/run/dpdk/<file-prefix>`, by
//! default `rvpp-<pid>` so several DPDK processes (two rvpp daemons, rvpp
//! and a testpmd peer) never share them; the daemon removes the directory
//! when it stops. `in-memory` keeps no files at all, at the price of
//! DPDK's multi-process channel, which net_memif needs.
//! VPP keywords rvpp has no use for (`uio-driver`, `no-tx-checksum-offload`,
//! ...) are accepted with a warning; anything else is an error naming its
//! line and token.

use rvpp_dataplane::config::{parse_number, parse_size, Item, StartupConfig};
use thiserror::Error;

/// A `dpdk` section error: the line and the offending token.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: dpdk: '{token}': {message}")]
pub struct ConfigError {
    pub line: usize,
    pub token: String,
    pub message: String,
}

fn err(line: usize, token: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { line, token: token.to_string(), message: message.into() }
}

/// Settings of one device (`dev <pci> { ... }`, `vdev <args> { ... }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevConfig {
    pub name: Option<String>,
    pub rx_queues: Option<u16>,
    pub tx_queues: Option<u16>,
    pub rx_desc: Option<u16>,
    pub tx_desc: Option<u16>,
}

impl DevConfig {
    /// `self` with what it leaves unset taken from `d` (`dev default`).
    pub fn or(&self, d: &DevConfig) -> DevConfig {
        DevConfig {
            name: self.name.clone(),
            rx_queues: self.rx_queues.or(d.rx_queues),
            tx_queues: self.tx_queues.or(d.tx_queues),
            rx_desc: self.rx_desc.or(d.rx_desc),
            tx_desc: self.tx_desc.or(d.tx_desc),
        }
    }
}

/// A PCI device the section names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciDev {
    /// `0000:00:08.0` (a short `00:08.0` gets domain 0000).
    pub addr: String,
    pub conf: DevConfig,
}

/// A virtual device: its devargs as the EAL takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VDev {
    pub args: String,
    pub conf: DevConfig,
}

impl VDev {
    /// The device name of the devargs (`net_null0` of `net_null0,size=64`),
    /// which is also its ethdev port name.
    pub fn dev_name(&self) -> &str {
        self.args.split(',').next().unwrap_or("")
    }

    /// The kernel interface a vdev sits on (`iface=<name>`: net_af_packet,
    /// net_af_xdp).
    pub fn kernel_if(&self) -> Option<String> {
        self.args.split(',').find_map(|kv| kv.strip_prefix("iface=")).filter(|n| !n.is_empty()).map(str::to_string)
    }
}

/// The whole section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpdkConfig {
    /// Whether a `dpdk` section was there at all.
    pub present: bool,
    pub default: DevConfig,
    pub devs: Vec<PciDev>,
    pub vdevs: Vec<VDev>,
    pub no_pci: bool,
    pub socket_mem: Option<String>,
    pub huge_dir: Option<String>,
    pub no_multi_seg: bool,
    /// `no-zero-copy`: the copy path for every port.
    pub no_zero_copy: bool,
    /// `Some(true)`: `no-huge` said; `None`: decide from the host.
    pub no_huge: Option<bool>,
    pub in_memory: bool,
    pub file_prefix: Option<String>,
    pub num_mbufs: Option<u32>,
    pub log_level: Option<String>,
    /// Keywords accepted but not acted on: (line, text).
    pub warnings: Vec<(usize, String)>,
}

/// VPP `dpdk` flags rvpp accepts and ignores.
const IGNORED_FLAGS: &[&str] = &[
    "no-tx-checksum-offload",
    "enable-tcp-udp-checksum",
    "enable-outer-checksum-offload",
    "enable-lro",
    "max-simd-bitwidth-256",
    "max-simd-bitwidth-512",
    "telemetry",
];
/// VPP `dpdk` keywords with one value that rvpp accepts and ignores.
const IGNORED_WITH_VALUE: &[&str] = &["uio-driver", "uio-bind-force", "blacklist", "blocklist", "max-simd-bitwidth"];

/// Most queues per direction a device may ask for.
const MAX_QUEUES: u64 = 64;

fn is_pci_addr(s: &str) -> bool {
    // dddd:bb:dd.f or bb:dd.f, hex.
    let parts: Vec<&str> = s.split(':').collect();
    let (dom, bus, devfn) = match parts.as_slice() {
        [d, b, df] => (*d, *b, *df),
        [b, df] => ("0000", *b, *df),
        _ => return false,
    };
    let Some((dev, func)) = devfn.split_once('.') else { return false };
    let hex = |x: &str, n: usize| !x.is_empty() && x.len() <= n && x.chars().all(|c| c.is_ascii_hexdigit());
    hex(dom, 4) && hex(bus, 2) && hex(dev, 2) && func.len() == 1 && func.chars().all(|c| ('0'..='7').contains(&c))
}

fn full_pci(s: &str) -> String {
    if s.matches(':').count() == 1 {
        format!("0000:{}", s.to_ascii_lowercase())
    } else {
        s.to_ascii_lowercase()
    }
}

fn dev_block(items: Option<&[Item]>, allow_name: bool) -> Result<DevConfig, ConfigError> {
    let mut c = DevConfig::default();
    for it in items.unwrap_or(&[]) {
        let mut w = it.words.iter().map(String::as_str);
        while let Some(k) = w.next() {
            let mut value = |what: &str| w.next().ok_or_else(|| err(it.line, k, format!("expected {what}")));
            let count = |v: &str, max: u64| match parse_number(v) {
                Some(n) if (1..=max).contains(&n) => Ok(n as u16),
                _ => Err(err(it.line, v, format!("{k} must be a number from 1 to {max}"))),
            };
            match k {
                "name" if allow_name => {
                    let v = value("an interface name")?;
                    if v.is_empty() || v.len() > 63 || v.contains(['/', ' ']) {
                        return Err(err(it.line, v, "not a usable interface name"));
                    }
                    c.name = Some(v.to_string());
                }
                "num-rx-queues" => c.rx_queues = Some(count(value("a queue count")?, MAX_QUEUES)?),
                "num-tx-queues" => c.tx_queues = Some(count(value("a queue count")?, MAX_QUEUES)?),
                "num-rx-desc" => c.rx_desc = Some(count(value("a descriptor count")?, 32768)?),
                "num-tx-desc" => c.tx_desc = Some(count(value("a descriptor count")?, 32768)?),
                // VPP per-device keywords rvpp does not act on.
                "vlan-strip-offload" | "tso" | "devargs" | "rss" | "workers" | "rss-queues" => {
                    let v = value("a value")?;
                    let _ = v;
                }
                other => return Err(err(it.line, other, "unknown device keyword")),
            }
        }
    }
    Ok(c)
}

/// Reads every `dpdk` section of `cfg`. Like VPP's, the section is a
/// stream of keywords (several may share a line); a `{ }` block belongs to
/// the `dev` or `vdev` that ends its line.
pub fn parse(cfg: &StartupConfig) -> Result<DpdkConfig, ConfigError> {
    let mut out = DpdkConfig::default();
    for s in cfg.sections.iter().filter(|s| s.name == "dpdk") {
        out.present = true;
        for it in &s.items {
            let line = it.line;
            let words: Vec<&str> = it.words.iter().map(String::as_str).collect();
            let mut k = 0;
            while k < words.len() {
                let key = words[k];
                k += 1;
                // The value after `key`, if any.
                let mut value = |what: &str| -> Result<&str, ConfigError> {
                    let v = words.get(k).copied().ok_or_else(|| err(line, key, format!("expected {what}")))?;
                    k += 1;
                    Ok(v)
                };
                let takes_block = matches!(key, "dev" | "vdev");
                match key {
                    "dev" => {
                        let a = value("a PCI address or default")?;
                        let block = if k == words.len() { it.block.as_deref() } else { None };
                        if a == "default" {
                            out.default = dev_block(block, false)?;
                        } else if is_pci_addr(a) {
                            let addr = full_pci(a);
                            if out.devs.iter().any(|d| d.addr == addr) {
                                return Err(err(line, a, "device named twice"));
                            }
                            out.devs.push(PciDev { addr, conf: dev_block(block, true)? });
                        } else {
                            return Err(err(line, a, "not a PCI address (dddd:bb:dd.f) or default"));
                        }
                    }
                    "vdev" => {
                        let a = value("a virtual device's arguments (e.g. net_null0)")?;
                        let block = if k == words.len() { it.block.as_deref() } else { None };
                        let v = VDev { args: a.to_string(), conf: dev_block(block, true)? };
                        let name = v.dev_name();
                        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                            return Err(err(line, a, "a vdev starts with its device name (net_<driver><n>)"));
                        }
                        if out.vdevs.iter().any(|x| x.dev_name() == name) {
                            return Err(err(line, a, "virtual device named twice"));
                        }
                        out.vdevs.push(v);
                    }
                    "no-pci" => out.no_pci = true,
                    "no-multi-seg" => out.no_multi_seg = true,
                    "no-zero-copy" => out.no_zero_copy = true,
                    "no-huge" => out.no_huge = Some(true),
                    "in-memory" => out.in_memory = true,
                    "socket-mem" => {
                        let v = value("megabytes per NUMA node (e.g. 1024 or 1024,1024)")?;
                        if !v.split(',').all(|x| parse_number(x).is_some_and(|n| n <= 1 << 20)) {
                            return Err(err(line, v, "socket-mem is megabytes per NUMA node, comma separated"));
                        }
                        out.socket_mem = Some(v.to_string());
                    }
                    "file-prefix" => {
                        let v = value("a name")?;
                        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
                            return Err(err(line, v, "file-prefix is letters, digits, - and _"));
                        }
                        out.file_prefix = Some(v.to_string());
                    }
                    "huge-dir" => {
                        let v = value("a directory")?;
                        if !v.starts_with('/') {
                            return Err(err(line, v, "huge-dir must be an absolute path"));
                        }
                        out.huge_dir = Some(v.to_string());
                    }
                    "num-mbufs" => {
                        let v = value("a number")?;
                        match parse_size(v) {
                            Some(n) if (1024..=4 << 20).contains(&n) => out.num_mbufs = Some(n as u32),
                            _ => return Err(err(line, v, "num-mbufs must be from 1024 to 4m")),
                        }
                    }
                    "log-level" => {
                        let v = value("a DPDK log level")?;
                        if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '*' | '_')) {
                            return Err(err(line, v, "not a DPDK log level"));
                        }
                        out.log_level = Some(v.to_string());
                    }
                    f if IGNORED_FLAGS.contains(&f) => {
                        out.warnings.push((line, format!("dpdk {{ {f} }}: not used by rvpp; ignored")));
                    }
                    f if IGNORED_WITH_VALUE.contains(&f) => {
                        let v = value("a value")?;
                        out.warnings.push((line, format!("dpdk {{ {f} {v} }}: not used by rvpp; ignored")));
                    }
                    other => return Err(err(line, other, "unknown keyword")),
                }
                if k == words.len() && it.block.is_some() && !takes_block {
                    return Err(err(line, key, "takes no { } block"));
                }
            }
        }
    }
    Ok(out)
}

impl DpdkConfig {
    /// The EAL's argument vector (argv[0] included). `hugepages_free` says
    /// whether the host has free huge pages, for when `no-huge` was not
    /// said either way. Virtual devices are not among them: they are
    /// probed one by one after the EAL is up, so one bad vdev cannot stop
    /// the others.
    pub fn eal_args(&self, hugepages_free: bool) -> Vec<String> {
        let mut a = vec!["rvpp".to_string(), "--main-lcore".into(), "0".into(), "-l".into(), "0".into()];
        let no_huge = self.no_huge.unwrap_or(!hugepages_free);
        if self.in_memory {
            // --no-huge is incompatible with --in-memory; --no-shconf keeps
            // no files the same way.
            a.push(if no_huge { "--no-shconf" } else { "--in-memory" }.into());
        } else {
            a.extend(["--file-prefix".into(), self.file_prefix()]);
        }
        if no_huge {
            a.push("--no-huge".into());
            // Without huge pages the EAL takes -m megabytes of ordinary memory.
            let mb = self
                .socket_mem
                .as_deref()
                .map(|s| s.split(',').filter_map(parse_number).sum::<u64>())
                .unwrap_or(0)
                .max(256);
            a.extend(["-m".into(), mb.to_string()]);
        } else {
            // The page files go as soon as they are mapped: none outlives
            // the daemon (rvpp runs no DPDK secondary processes).
            a.push("--huge-unlink".into());
            if let Some(m) = &self.socket_mem {
                a.extend(["--socket-mem".into(), m.clone()]);
            }
            if let Some(d) = &self.huge_dir {
                a.extend(["--huge-dir".into(), d.clone()]);
            }
        }
        if self.no_pci {
            a.push("--no-pci".into());
        } else {
            for d in &self.devs {
                a.extend(["-a".into(), d.addr.clone()]);
            }
        }
        if let Some(l) = &self.log_level {
            a.push(format!("--log-level={l}"));
        }
        a
    }

    /// The EAL's file prefix: `file-prefix`, else `rvpp-<pid>`.
    pub fn file_prefix(&self) -> String {
        self.file_prefix.clone().unwrap_or_else(|| format!("rvpp-{}", std::process::id()))
    }

    /// The configuration of the port named `port_name` (a PCI address or a
    /// vdev name), merged with `dev default`.
    pub fn dev_conf(&self, port_name: &str) -> DevConfig {
        let own = self
            .devs
            .iter()
            .find(|d| d.addr == port_name.to_ascii_lowercase())
            .map(|d| &d.conf)
            .or_else(|| self.vdevs.iter().find(|v| v.dev_name() == port_name).map(|v| &v.conf));
        own.cloned().unwrap_or_default().or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Result<DpdkConfig, ConfigError> {
        parse(&StartupConfig::parse(text, "test.conf").expect("startup.conf parses"))
    }

    #[test]
    fn reads_vpp_syntax() {
        let c = conf(
            "dpdk {\n dev default { num-rx-desc 512 }\n dev 00:08.0 { name eth0 num-rx-queues 2 }\n \
             vdev net_af_packet0,iface=veth1\n vdev net_null0 { name n0 num-tx-desc 256 }\n no-pci\n \
             socket-mem 512,512\n no-multi-seg\n uio-driver vfio-pci\n no-zero-copy\n}",
        )
        .unwrap();
        assert!(c.present && c.no_pci && c.no_multi_seg && c.no_zero_copy);
        assert_eq!(c.devs[0].addr, "0000:00:08.0");
        assert_eq!(c.devs[0].conf.name.as_deref(), Some("eth0"));
        assert_eq!(c.vdevs[0].dev_name(), "net_af_packet0");
        assert_eq!(c.vdevs[0].kernel_if().as_deref(), Some("veth1"));
        assert_eq!(c.vdevs[1].kernel_if(), None);
        let d = c.dev_conf("0000:00:08.0");
        assert_eq!((d.rx_queues, d.rx_desc), (Some(2), Some(512)));
        let n = c.dev_conf("net_null0");
        assert_eq!((n.name.as_deref(), n.tx_desc, n.rx_desc), (Some("n0"), Some(256), Some(512)));
        assert_eq!(c.warnings.len(), 1);
        let a = c.eal_args(false);
        assert!(a.contains(&"--no-huge".to_string()) && a.contains(&"--no-pci".to_string()));
        assert!(a.windows(2).any(|w| w == ["-m", "1024"]), "{a:?}");
        assert!(!a.iter().any(|w| w.contains("vdev")), "{a:?}");
        assert!(a.windows(2).any(|w| w == ["--file-prefix".to_string(), format!("rvpp-{}", std::process::id())]));
        let m = conf("dpdk { in-memory file-prefix x }").unwrap();
        assert!(m.eal_args(false).contains(&"--no-shconf".to_string()));
        assert!(m.eal_args(true).contains(&"--in-memory".to_string()));
        let e = conf("dpdk { file-prefix ../x }").unwrap_err();
        assert_eq!(e.token, "../x");
        let h = c.eal_args(true);
        assert!(h.windows(2).any(|w| w == ["--socket-mem", "512,512"]), "{h:?}");
        assert!(!conf("unix { nodaemon }").unwrap().present);
    }

    #[test]
    fn bad_input_names_line_and_token() {
        let e = conf("dpdk {\n  dev 0000:zz:00.0\n}").unwrap_err();
        assert_eq!((e.line, e.token.as_str()), (2, "0000:zz:00.0"));
        let e = conf("dpdk { dev 00:08.0 { num-rx-queues 0 } }").unwrap_err();
        assert_eq!(e.token, "0");
        let e = conf("dpdk { dev 00:08.0 { turbo 1 } }").unwrap_err();
        assert_eq!(e.token, "turbo");
        let e = conf("dpdk { vdev }").unwrap_err();
        assert_eq!(e.token, "vdev");
        // Several keywords may share a line, as in VPP.
        let c = conf("dpdk { no-pci vdev net_null0 vdev net_null1 log-level pmd.net.memif:debug }").unwrap();
        assert!(c.no_pci);
        assert_eq!((c.vdevs.len(), c.log_level.as_deref()), (2, Some("pmd.net.memif:debug")));
        let e = conf("dpdk { vdev net_null0 vdev net_null0 }").unwrap_err();
        assert_eq!(e.token, "net_null0");
        let e = conf("dpdk {\n vdev net_null0\n vdev net_null0,size=64\n}").unwrap_err();
        assert_eq!((e.line, e.token.as_str()), (3, "net_null0,size=64"));
        let e = conf("dpdk { socket-mem lots }").unwrap_err();
        assert_eq!(e.token, "lots");
        let e = conf("dpdk { huge-dir relative }").unwrap_err();
        assert_eq!(e.token, "relative");
        let e = conf("dpdk { warp-drive }").unwrap_err();
        assert_eq!(e.token, "warp-drive");
        let e = conf("dpdk { no-pci please }").unwrap_err();
        assert_eq!(e.token, "please");
        let e = conf("dpdk {\n no-pci { x }\n}").unwrap_err();
        assert_eq!((e.line, e.token.as_str()), (2, "no-pci"));
        let e = conf("dpdk { vdev ../x }").unwrap_err();
        assert_eq!(e.token, "../x");
    }
}
