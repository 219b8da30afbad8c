//! A small logger: timestamped lines to stderr and, when `unix { log <file> }`
//! is set, appended to that file.

use std::io::Write;
use std::sync::Mutex;

static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Opens the log file (append).
pub fn open(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    if let Ok(mut g) = FILE.lock() {
        *g = Some(f);
    }
    Ok(())
}

/// Logs one line at a level (`info`, `warn`, `error`).
pub fn log(level: &str, msg: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let line = format!("{}.{:03} rvpp[{}]: {level}: {msg}\n", now.as_secs(), now.subsec_millis(), std::process::id());
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Ok(mut g) = FILE.lock() {
        if let Some(f) = g.as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::log("info", &format!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::log("warn", &format!($($t)*)) } }
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::log("error", &format!($($t)*)) } }
