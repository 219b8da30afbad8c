//! What rvpp's fuzz targets share: how a fuzz input becomes packets
//! ([`framing`]), the interfaces, addresses and VLANs the nodes run with
//! ([`fixture`]), a pipeline that runs several nodes on one buffer arena
//! and checks every node call ([`pipeline`]), and the per-arc checks of
//! what the IP and neighbor nodes hand on ([`checks`]).
//!
//! Every target builds its state afresh for each input (a new arena, new
//! nodes), so a crash reproduces from its input alone.

pub mod checks;
pub mod fixture;
pub mod framing;
pub mod pipeline;
pub mod wire;
