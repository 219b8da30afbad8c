//! `arp-input`, fed the ARP packet alone, wrapped in the Ethernet header
//! of its interface, or as whole frames through `ethernet-input` (the
//! input's flags byte, low two bits: 0, 1, else). Replies must go back out
//! the interface the request came in on, from our MAC and address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_fuzz::pipeline::{run_packets, Feed, Pipeline};
use rvpp_fuzz::{checks, fixture, framing};
use rvpp_graph_nodes::ethernet::{ethertype, EthernetInput};
use rvpp_graph_nodes::neighbor::arp::ArpInput;
use rvpp_graph_nodes::neighbor::NeighborPub;

fuzz_target!(|data: &[u8]| {
    let input = framing::split(data);
    let feed = match input.flags & 3 {
        0 => Feed::Direct(ArpInput::NAME),
        1 => Feed::Wrapped(ethertype::ARP),
        _ => Feed::Frames,
    };
    let p = Pipeline::new(
        vec![
            Box::new(EthernetInput::new(&fixture::ethertypes(), fixture::l2(), fixture::subs())),
            Box::new(ArpInput::new(fixture::addrs(), fixture::subs(), NeighborPub::default())),
        ],
        &[],
        fixture::interfaces(),
        checks::all,
    );
    run_packets(p, &input, feed);
});
