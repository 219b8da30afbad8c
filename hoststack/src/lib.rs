//! rvpp's hoststack: session layer, TCP and UDP, built-in apps, and the app
//! API on `@vpp/session`. So far: the byte fifos sessions exchange data
//! through, with datagram framing for UDP ([`fifo`]), the TCP protocol
//! engine ([`tcp`]), UDP's wire format and session transport ([`udp`]),
//! the per-worker session layer with its built-in echo server and client
//! ([`session`]), whose flows stay on the worker owning them (packets
//! arriving elsewhere are handed there), and the graph nodes driving it
//! ([`nodes`]: `tcp4-input`, `tcp6-input`, `udp4-input`, `udp6-input`,
//! `tcp4-icmp-input`, `tcp6-icmp-input`, `session-queue`).
#![forbid(unsafe_code)]

pub mod config;
pub mod fifo;
pub mod http;
pub mod nodes;
pub mod session;
pub mod tcp;
pub mod udp;

use std::sync::Arc;

use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_graph_nodes::ip::local::IpProtocols;
use rvpp_graph_nodes::ip::proto;

use nodes::icmp_input::IcmpInput;
use nodes::output::PathMtu;
use nodes::session_queue::SessionQueue;
use nodes::tcp_input::TcpInput;
use nodes::udp_input::UdpInput;
use nodes::{Clock, SessionLayer};

/// Registers the hoststack's nodes and commands: TCP and UDP over IPv4
/// and IPv6 from `ip4-local` / `ip6-local`, the ICMP errors about our
/// segments from the same (path MTU discovery), the session layer's timer
/// node, and the session commands.
/// The `session { }` / `tcp { }` sections apply here; the daemon checks
/// them first with [`config::parse`] so a bad one stops it with a message.
pub fn register_all(r: &mut Registrar) {
    let layer = r.ext.get_or_default::<SessionLayer>().clone();
    if let Ok(c) = config::parse(r.config) {
        layer.set_enabled(c.enabled);
        layer.set_tcp_config(c.tcp);
    }
    // Datagrams beyond the egress MTU the FIB knows leave in fragments.
    let mtu = PathMtu::new(rvpp_graph_nodes::ip::fib::fib(r.ext));
    // Connection MSS follows the MTU of the route toward the peer.
    layer.set_route_mtu(Arc::new(mtu.clone()));
    let (l, m) = (layer.clone(), mtu.clone());
    r.node(NodeReg {
        name: TcpInput::<false>::NAME,
        factory: Arc::new(move |init| {
            Box::new(TcpInput::<false>::new(l.clone(), init.thread_index, Clock::new()).with_path_mtu(m.clone()))
        }),
    });
    let (l, m) = (layer.clone(), mtu.clone());
    r.node(NodeReg {
        name: TcpInput::<true>::NAME,
        factory: Arc::new(move |init| {
            Box::new(TcpInput::<true>::new(l.clone(), init.thread_index, Clock::new()).with_path_mtu(m.clone()))
        }),
    });
    let (l, m) = (layer.clone(), mtu.clone());
    r.node(NodeReg {
        name: UdpInput::<false>::NAME,
        factory: Arc::new(move |init| {
            Box::new(UdpInput::<false>::new(l.clone(), init.thread_index, Clock::new()).with_path_mtu(m.clone()))
        }),
    });
    let (l, m) = (layer.clone(), mtu.clone());
    r.node(NodeReg {
        name: UdpInput::<true>::NAME,
        factory: Arc::new(move |init| {
            Box::new(UdpInput::<true>::new(l.clone(), init.thread_index, Clock::new()).with_path_mtu(m.clone()))
        }),
    });
    let (l, m) = (layer.clone(), mtu.clone());
    r.node(NodeReg {
        name: IcmpInput::<false>::NAME,
        factory: Arc::new(move |init| {
            Box::new(IcmpInput::<false>::new(l.clone(), init.thread_index, Clock::new()).with_path_mtu(m.clone()))
        }),
    });
    let (l, m) = (layer.clone(), mtu.clone());
    r.node(NodeReg {
        name: IcmpInput::<true>::NAME,
        factory: Arc::new(move |init| {
            Box::new(IcmpInput::<true>::new(l.clone(), init.thread_index, Clock::new()).with_path_mtu(m.clone()))
        }),
    });
    r.node(NodeReg {
        name: SessionQueue::NAME,
        factory: Arc::new(move |init| {
            Box::new(SessionQueue::new(&layer, init.thread_index, Clock::new()).with_path_mtu(mtu.clone()))
        }),
    });
    IpProtocols::add(r, false, proto::TCP, TcpInput::<false>::NAME);
    IpProtocols::add(r, true, proto::TCP, TcpInput::<true>::NAME);
    IpProtocols::add(r, false, proto::UDP, UdpInput::<false>::NAME);
    IpProtocols::add(r, true, proto::UDP, UdpInput::<true>::NAME);
    // ICMP errors only: ip-local keeps echo and neighbor discovery.
    IpProtocols::add(r, false, proto::ICMP, IcmpInput::<false>::NAME);
    IpProtocols::add(r, true, proto::ICMP6, IcmpInput::<true>::NAME);
    session::commands::register(r);
    http::register(r);
}
