//! `ip6-input`, then for what it accepts `ip6-local` (as if every packet
//! were addressed to us), `ip6-nd` for neighbor discovery and
//! `ip6-icmp-error` for what earns an error. Packets come straight into
//! `ip6-input`, or wrapped in an Ethernet header through `ethernet-input`
//! (flags bit 0), which is what lets `ip6-nd` reuse the received header.
#![no_main]

use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use rvpp_fuzz::pipeline::{run_packets, Feed, Pipeline};
use rvpp_fuzz::{checks, fixture, framing};
use rvpp_graph_nodes::ethernet::{ethertype, EthernetInput};
use rvpp_graph_nodes::ip::icmp::IcmpError;
use rvpp_graph_nodes::ip::input::IpInput;
use rvpp_graph_nodes::ip::local::IpLocal;
use rvpp_graph_nodes::ip::ping::PingTable;
use rvpp_graph_nodes::neighbor::nd::Ip6Nd;
use rvpp_graph_nodes::neighbor::NeighborPub;

fuzz_target!(|data: &[u8]| {
    let input = framing::split(data);
    let feed = if input.flags & 1 == 0 { Feed::Direct("ip6-input") } else { Feed::Wrapped(ethertype::IP6) };
    let p = Pipeline::new(
        vec![
            Box::new(EthernetInput::new(&fixture::ethertypes(), fixture::l2(), fixture::subs())),
            Box::new(IpInput::<true>::default()),
            Box::new(IpLocal::<true>::new(fixture::addrs(), Arc::new(Mutex::new(PingTable::default())))),
            Box::new(Ip6Nd::new(fixture::addrs(), fixture::subs(), NeighborPub::default())),
            Box::new(IcmpError::<true>::new(fixture::addrs())),
        ],
        &[("ip6-input", "ip6-lookup", "ip6-local")],
        fixture::interfaces(),
        checks::all,
    );
    run_packets(p, &input, feed);
});
