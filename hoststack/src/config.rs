//! startup.conf's `session { ... }` and `tcp { ... }` sections.
//!
//! `session { enable | disable }` turns the session layer on or off (on by
//! default); VPP's other session keywords (event queue and segment sizing,
//! `use-app-socket-api`...) are accepted with a warning since rvpp sizes
//! those itself. `tcp { cc-algo cubic|newreno  mtu <n>  max-rx-fifo <size>
//! rx-fifo-size / tx-fifo-size <size>  no-nagle }` set the transport; VPP's
//! tuning keywords rvpp has no use for are accepted with a warning. A bad
//! value or an unknown keyword is an error naming its line and token.

use rvpp_dataplane::config::{parse_number, parse_size, Item, StartupConfig};
use thiserror::Error;

use crate::fifo::MAX_FIFO_SIZE;
use crate::tcp::{self, CcAlgo};

/// A `session`/`tcp` section error: the line and the offending token.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {section}: '{token}': {message}")]
pub struct ConfigError {
    pub section: &'static str,
    pub line: usize,
    pub token: String,
    pub message: String,
}

/// What the two sections set.
#[derive(Debug, Clone)]
pub struct HoststackConfig {
    pub enabled: bool,
    pub tcp: tcp::Config,
    /// Keywords accepted but not acted on: (line, text).
    pub warnings: Vec<(usize, String)>,
}

impl Default for HoststackConfig {
    fn default() -> Self {
        HoststackConfig { enabled: true, tcp: tcp::Config::default(), warnings: Vec::new() }
    }
}

/// VPP `session` keywords that take a value and that rvpp ignores.
const SESSION_IGNORED_WITH_VALUE: &[&str] = &[
    "event-queue-length",
    "preallocated-sessions",
    "v4-session-table-buckets",
    "v4-session-table-memory",
    "v4-halfopen-table-buckets",
    "v4-halfopen-table-memory",
    "v6-session-table-buckets",
    "v6-session-table-memory",
    "v6-halfopen-table-buckets",
    "v6-halfopen-table-memory",
    "local-endpoints-table-memory",
    "local-endpoints-table-buckets",
    "evt_qs_seg_size",
    "segment-baseva",
    "app-socket-api",
    "wrk-mqs-segment-size",
    "event-queue-length",
];
/// VPP `session` flags rvpp ignores.
const SESSION_IGNORED_FLAGS: &[&str] = &["use-app-socket-api", "evt_qs_memfd_seg", "poll-main", "use-private-rx-mqs"];
/// VPP `tcp` keywords that take a value and that rvpp ignores.
const TCP_IGNORED_WITH_VALUE: &[&str] = &[
    "preallocated-connections",
    "preallocated-half-open-connections",
    "buffer-fail-fraction",
    "max-gso-size",
    "initial-cwnd-multiplier",
    "syn-rcvd-time",
    "local-endpoints-table-memory",
    "local-endpoints-table-buckets",
    "alloc-err-timeout",
];
/// VPP `tcp` flags rvpp ignores.
const TCP_IGNORED_FLAGS: &[&str] = &["no-tx-pacing", "tso", "no-csum-offload", "enable-tx-pacing"];

fn words(items: &[Item]) -> impl Iterator<Item = (usize, &str)> {
    items.iter().flat_map(|i| i.words.iter().map(move |w| (i.line, w.as_str())))
}

fn fifo_size(section: &'static str, line: usize, key: &str, v: Option<&str>) -> Result<u32, ConfigError> {
    let err = |token: &str, message: String| ConfigError { section, line, token: token.to_string(), message };
    let v = v.ok_or_else(|| err(key, "expected a size".into()))?;
    match parse_size(v) {
        Some(n) if (4096..=MAX_FIFO_SIZE as u64).contains(&n) => Ok(n as u32),
        _ => Err(err(v, format!("{key} must be a size from 4k to 1g"))),
    }
}

/// Reads the `session` and `tcp` sections of `cfg`.
pub fn parse(cfg: &StartupConfig) -> Result<HoststackConfig, ConfigError> {
    let mut out = HoststackConfig::default();
    for s in cfg.sections.iter().filter(|s| s.name == "session") {
        let mut it = words(&s.items).peekable();
        while let Some((line, w)) = it.next() {
            match w {
                "enable" => out.enabled = true,
                "disable" => out.enabled = false,
                k if SESSION_IGNORED_FLAGS.contains(&k) => {
                    out.warnings.push((line, format!("session {{ {k} }}: not used by rvpp; ignored")))
                }
                k if SESSION_IGNORED_WITH_VALUE.contains(&k) => {
                    let v = it.next().map(|x| x.1).unwrap_or("");
                    out.warnings.push((line, format!("session {{ {k} {v} }}: not used by rvpp; ignored")));
                }
                other => {
                    return Err(ConfigError {
                        section: "session",
                        line,
                        token: other.to_string(),
                        message: "unknown keyword".into(),
                    })
                }
            }
        }
    }
    for s in cfg.sections.iter().filter(|s| s.name == "tcp") {
        let mut it = words(&s.items);
        while let Some((line, w)) = it.next() {
            let err = |token: &str, message: &str| ConfigError {
                section: "tcp",
                line,
                token: token.to_string(),
                message: message.to_string(),
            };
            match w {
                "cc-algo" => {
                    out.tcp.cc_algo = match it.next().map(|x| x.1) {
                        Some("cubic") => CcAlgo::Cubic,
                        Some("newreno") => CcAlgo::NewReno,
                        Some(v) => return Err(err(v, "cc-algo must be cubic or newreno")),
                        None => return Err(err(w, "expected cubic or newreno")),
                    }
                }
                "mtu" => {
                    let v = it.next().map(|x| x.1).ok_or_else(|| err(w, "expected a number"))?;
                    match parse_number(v) {
                        // IPv4 + TCP headers come off the MTU. The MSS of a
                        // connection is also capped by the MTU of the
                        // interface toward its peer.
                        Some(m) if (576..=65535).contains(&m) => out.tcp.mss = (m - 40) as u16,
                        _ => return Err(err(v, "mtu must be a number from 576 to 65535")),
                    }
                }
                "max-rx-fifo" | "rx-fifo-size" => {
                    out.tcp.rx_fifo_size = fifo_size("tcp", line, w, it.next().map(|x| x.1))?;
                }
                "tx-fifo-size" => {
                    out.tcp.tx_fifo_size = fifo_size("tcp", line, w, it.next().map(|x| x.1))?;
                }
                "no-nagle" => out.tcp.nagle = false,
                k if TCP_IGNORED_FLAGS.contains(&k) => {
                    out.warnings.push((line, format!("tcp {{ {k} }}: not used by rvpp; ignored")))
                }
                k if TCP_IGNORED_WITH_VALUE.contains(&k) => {
                    let v = it.next().map(|x| x.1).unwrap_or("");
                    out.warnings.push((line, format!("tcp {{ {k} {v} }}: not used by rvpp; ignored")));
                }
                other => return Err(err(other, "unknown keyword")),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Result<HoststackConfig, ConfigError> {
        parse(&StartupConfig::parse(text, "test.conf").expect("startup.conf parses"))
    }

    #[test]
    fn sections_set_the_transport_and_the_switch() {
        let c = conf("session { enable use-app-socket-api }\ntcp { cc-algo newreno mtu 9000 max-rx-fifo 4m no-nagle }")
            .unwrap();
        assert!(c.enabled);
        assert_eq!(c.tcp.cc_algo, CcAlgo::NewReno);
        assert_eq!((c.tcp.mss, c.tcp.rx_fifo_size, c.tcp.nagle), (8960, 4 << 20, false));
        assert_eq!(c.warnings.len(), 1);
        assert!(!conf("session { disable }").unwrap().enabled);
        let d = conf("unix { nodaemon }").unwrap();
        assert!(d.enabled);
        assert_eq!(d.tcp.cc_algo, CcAlgo::Cubic);
    }

    #[test]
    fn bad_values_name_line_and_token() {
        let e = conf("unix { nodaemon }\ntcp {\n  cc-algo bbr\n}").unwrap_err();
        assert_eq!((e.line, e.token.as_str()), (3, "bbr"));
        assert!(e.to_string().contains("cubic or newreno"), "{e}");
        let e = conf("tcp { mtu 70000 }").unwrap_err();
        assert!(e.to_string().contains("576 to 65535"), "{e}");
        assert_eq!(e.token, "70000");
        let e = conf("tcp { max-rx-fifo 12 }").unwrap_err();
        assert_eq!(e.token, "12");
        let e = conf("session { turbo }").unwrap_err();
        assert_eq!((e.section, e.token.as_str()), ("session", "turbo"));
        let e = conf("tcp { mtu }").unwrap_err();
        assert_eq!(e.token, "mtu");
    }
}
