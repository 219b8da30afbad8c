//! rvpp's engine (VPP's vlib): buffers, frames, the node trait, the graph and
//! its dispatch loop, worker threads, the interface table, counters, packet
//! trace, the CLI command registry and the startup.conf parser.
//!
//! The engine names no protocol: protocol nodes live in `rvpp-graph-nodes`,
//! drivers in `rvpp-drivers`, and both plug in through [`node::Node`],
//! [`device`] and [`cli::Registry`].

pub mod arch;
pub mod buffer;
pub mod checksum;
pub mod cli;
pub mod config;
pub mod device;
pub mod engine;
pub mod error;
pub mod feature;
pub mod graph;
pub mod handoff;
pub mod interface;
pub mod node;
pub mod publish;
pub mod stats;
pub mod testing;
pub mod thread;
pub mod trace;

pub use buffer::{BufferIndex, BufferMeta, Buffers, ThreadBuffers};
pub use engine::{Engine, EngineBuilder};
pub use error::Error;
pub use interface::SwIfIndex;
pub use node::{CounterDesc, Frame, Node, NodeIndex, Severity, Vm};
