//! The daemon's pieces that are not the engine: logging, the CLI socket
//! server, and start-up (config, startup-config, socket placement).
#![forbid(unsafe_code)]

pub mod daemon;
pub mod log;
pub mod server;

/// The embedded default startup.conf used when `rvpp` runs with no arguments.
pub const DEFAULT_STARTUP_CONF: &str = include_str!("default-startup.conf");
