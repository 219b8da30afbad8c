//! The CLI's parsing of `create host-interface` and the interface's MAC.

use super::*;

fn parse_args(args: &str) -> Result<HostIfConfig, CliError> {
    HostIfConfig::parse(&mut Input::new("create host-interface", args))
}

#[test]
fn cli_defaults_and_options() {
    let c = parse_args("name veth0").unwrap();
    assert_eq!(c, HostIfConfig::new("veth0"));
    assert_eq!(c.mode, RxMode::Interrupt);
    let c = parse_args(
        "name eth1 hw-addr 02:fe:00:00:00:01 num-rx-queues 4 num-tx-queues 2 rx-frame-size 4096 \
         rx-per-block 16 tx-frame-size 9216 tx-per-block 8 mode polling cksum-gso-disable",
    )
    .unwrap();
    assert_eq!(c.host_if, "eth1");
    assert_eq!(c.mac, Some([2, 0xfe, 0, 0, 0, 1]));
    assert_eq!((c.rx_queues, c.tx_queues, c.rx_frame_size, c.rx_per_block), (4, Some(2), 4096, 16));
    assert_eq!((c.tx_frame_size, c.tx_per_block, c.mode), (Some(9216), 8, RxMode::Polling));
    assert!(!c.gso && HostIfConfig::new("x").gso);
}

#[test]
fn cli_errors_name_the_token() {
    let e = |a: &str| parse_args(a).unwrap_err().0;
    assert_eq!(e("hw-addr 02:fe:00:00:00:01"), "create host-interface: expected name <kernel interface>");
    assert_eq!(e("name x hw-addr zz"), "create host-interface: 'zz' is not a MAC address");
    assert_eq!(e("name x num-rx-queues 0"), "create host-interface: num-rx-queues 0 is out of range (1-64)");
    assert_eq!(e("name x num-rx-queues two"), "create host-interface: 'two' is not a valid num-rx-queues");
    assert_eq!(e("name x rx-frame-size 64"), "create host-interface: rx-frame-size 64 is out of range (256-1048576)");
    assert_eq!(e("name x mode fast"), "create host-interface: mode 'fast' is not polling, interrupt or adaptive");
    assert_eq!(e("name x bogus"), "create host-interface: unknown input 'bogus'");
}

#[test]
fn random_macs_are_local_and_differ() {
    let (a, b) = (random_mac(), random_mac());
    assert_eq!(&a[..2], &[0x02, 0xfe]);
    assert_eq!(a[0] & 1, 0, "unicast");
    assert_ne!(a, b);
}
