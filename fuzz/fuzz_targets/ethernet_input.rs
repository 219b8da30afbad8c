//! `ethernet-input` on whole frames received on any of the fixture's
//! interfaces (tagged, cross-connected, down): each frame is dropped,
//! cross-connected unchanged, or dispatched with its header stripped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_fuzz::pipeline::{run_packets, Feed, Pipeline};
use rvpp_fuzz::{checks, fixture, framing};
use rvpp_graph_nodes::ethernet::EthernetInput;

fuzz_target!(|data: &[u8]| {
    let node = EthernetInput::new(&fixture::ethertypes(), fixture::l2(), fixture::subs());
    let p = Pipeline::new(vec![Box::new(node)], &[], fixture::interfaces(), checks::all);
    run_packets(p, &framing::split(data), Feed::Frames);
});
