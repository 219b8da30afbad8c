//! rvpp's end-to-end tests, one binary (one link) for all of them: each module
//! starts real rvpp daemons and drives them with rvppctl, against real peers.

mod af_xdp;
mod cli_garbage;
mod clients;
mod config_errors;
mod dpdk;
mod ethernet_drops;
mod http_static;
mod idle;
mod ip_bad_input;
mod ip_capture;
mod ip_icmp;
mod ip_ping;
mod ip_route;
mod ip_route_churn;
mod ip_tap;
mod ip_vlan;
mod l2_xconnect;
mod lifecycle;
mod memif;
mod tcp_echo;
mod tcp_gso;
mod tcp_loss;
mod tcp_workers;
mod udp_echo;
mod workers;
