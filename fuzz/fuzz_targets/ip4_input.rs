//! `ip4-input`, then for what it accepts `ip4-local` (as if every packet
//! were addressed to us), `ip4-reassembly` for the fragments and back to
//! `ip4-local` with the reassembled packets, and `ip4-icmp-error` for
//! what earns an error. Packets come straight into `ip4-input`, or
//! wrapped in an Ethernet header through `ethernet-input` (flags bit 0).
//! Many packets per input, so fragments of one datagram meet.
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
use rvpp_graph_nodes::ip::reass::Ip4Reassembly;

fuzz_target!(|data: &[u8]| {
    let input = framing::split(data);
    let feed = if input.flags & 1 == 0 { Feed::Direct("ip4-input") } else { Feed::Wrapped(ethertype::IP4) };
    let p = Pipeline::new(
        vec![
            Box::new(EthernetInput::new(&fixture::ethertypes(), fixture::l2(), fixture::subs())),
            Box::new(IpInput::<false>::default()),
            Box::new(IpLocal::<false>::new(fixture::addrs(), Arc::new(Mutex::new(PingTable::default())))),
            Box::new(Ip4Reassembly::default()),
            Box::new(IcmpError::<false>::new(fixture::addrs())),
        ],
        &[("ip4-input", "ip4-lookup", "ip4-local")],
        fixture::interfaces(),
        checks::all,
    );
    run_packets(p, &input, feed);
});
