//! Where the CLI socket lives when the configuration does not say.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The effective uid of this process, read without unsafe code.
pub fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// Runtime directory for sockets: `/run/rvpp` for root, else
/// `$XDG_RUNTIME_DIR/rvpp`, else `/tmp/rvpp-<uid>`.
pub fn default_runtime_dir() -> PathBuf {
    let uid = current_uid();
    if uid == 0 {
        return PathBuf::from("/run/rvpp");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("rvpp"),
        _ => PathBuf::from(format!("/tmp/rvpp-{uid}")),
    }
}

/// The CLI socket both `rvpp` and `rvppctl` use when none is named.
pub fn default_socket_path() -> PathBuf {
    default_runtime_dir().join("cli.sock")
}
