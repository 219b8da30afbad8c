//! The host side of a tap: MAC, MTU, queue length, namespace, bridge,
//! addresses, routes and link state, set with iproute2 (`ip`). This is the
//! control plane's slow path, run once per `create tap`; each step that
//! fails reports its command line and `ip`'s own stderr.

use std::path::Path;
use std::process::Command;

use rvpp_dataplane::interface::format_mac;

use super::args::{TapArgs, TapError};

/// The iproute2 program, found on `$PATH`.
const IP: &str = "ip";

/// Where `ip netns add <name>` puts a named namespace.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Whether a host interface `name` exists in rvpp's own namespace.
pub fn exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The file a `host-ns` value names.
pub fn netns_path(ns: &str) -> String {
    if ns.starts_with('/') {
        ns.to_string()
    } else {
        format!("{NETNS_DIR}/{ns}")
    }
}

/// Runs `ip [-n <ns>] <args>`; an error carries the command and stderr.
fn ip(name: &str, ns: Option<&str>, args: &[&str]) -> Result<(), TapError> {
    let mut cmd = Command::new(IP);
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    cmd.args(args);
    let line = || {
        let mut v = vec![IP.to_string()];
        if let Some(ns) = ns {
            v.extend(["-n".to_string(), ns.to_string()]);
        }
        v.extend(args.iter().map(|s| s.to_string()));
        v.join(" ")
    };
    let out = cmd.output().map_err(|e| TapError::Host { name: name.into(), command: line(), stderr: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stderr = if stderr.is_empty() { out.status.to_string() } else { stderr };
    Err(TapError::Host { name: name.into(), command: line(), stderr })
}

/// Configures the freshly created host device `name` (still in rvpp's
/// namespace) as `a` asks, and brings it up.
pub fn configure(name: &str, a: &TapArgs) -> Result<(), TapError> {
    // Link properties first: a move to another netns keeps them.
    let mut link: Vec<String> = Vec::new();
    if let Some(m) = a.host_mac {
        link.extend(["address".into(), format_mac(&m)]);
    }
    if let Some(mtu) = a.host_mtu {
        link.extend(["mtu".into(), mtu.to_string()]);
    }
    if let Some(q) = a.rx_ring_size {
        // What the kernel holds for rvpp to read is the host's tx queue.
        link.extend(["txqueuelen".into(), q.to_string()]);
    }
    if !link.is_empty() {
        let mut args = vec!["link", "set", "dev", name];
        args.extend(link.iter().map(String::as_str));
        ip(name, None, &args)?;
    }
    let ns = a.host_ns.as_deref();
    if let Some(ns) = ns {
        ip(name, None, &["link", "set", "dev", name, "netns", ns])?;
    }
    if let Some(br) = &a.host_bridge {
        ip(name, ns, &["link", "set", "dev", name, "master", br])?;
    }
    ip(name, ns, &["link", "set", "dev", name, "up"])?;
    if let Some(p) = a.host_ip4 {
        ip(name, ns, &["-4", "addr", "add", &p.to_string(), "dev", name])?;
    }
    if let Some(p) = a.host_ip6 {
        ip(name, ns, &["-6", "addr", "add", &p.to_string(), "dev", name])?;
    }
    if let Some(gw) = a.host_ip4_gw {
        ip(name, ns, &["-4", "route", "add", "default", "via", &gw.to_string(), "dev", name])?;
    }
    if let Some(gw) = a.host_ip6_gw {
        ip(name, ns, &["-6", "route", "add", "default", "via", &gw.to_string(), "dev", name])?;
    }
    Ok(())
}
