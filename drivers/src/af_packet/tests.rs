//! The CLI's parsing of `create host-interface` and the interface's MAC;
//! then the device on real sockets over `lo` in a network namespace of the
//! test's own: a failed tx kick retried, tx drops not counted as sent,
//! kernel ring drops in `show errors`.

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

// ---------------------------------------------------------------------------
// Real sockets on `lo` of a network namespace of the test's own (a new
// namespace's `lo` can be taken down and up without touching the host).

use std::time::{Duration, Instant};

use rvpp_dataplane::buffer::TX;
use rvpp_dataplane::device::{InterfaceOutput, NEXT_CONSUMED};
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::{Idle, NodeKind};
use rvpp_dataplane::{Frame, Node, Vm};

/// Runs `f` on a thread of its own in a new network namespace (only `lo`,
/// down). Where the host cannot make one (no CAP_SYS_ADMIN) the test is
/// skipped, and says so.
pub(super) fn in_private_netns(test: &str, f: impl FnOnce() + Send + 'static) {
    let t = std::thread::spawn(move || {
        sys::enter_private_netns()?;
        f();
        Ok::<(), io::Error>(())
    });
    match t.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("{test}: SKIPPED: cannot make a network namespace ({e}): needs CAP_SYS_ADMIN"),
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// A 60-byte frame (local experimental ethertype) marked with `n`.
pub(super) fn test_frame(n: u8, len: usize) -> Vec<u8> {
    let mut f = vec![n; len];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// A socket that sees every frame arriving on `lo`.
pub(super) fn lo_listener() -> PacketSocket {
    let lo = sys::if_index("lo").expect("lo");
    let s = PacketSocket::new(0).expect("socket(AF_PACKET)");
    s.use_vnet_header().expect("PACKET_VNET_HDR");
    let _ = s.ignore_outgoing();
    s.set_rcvbuf(8 << 20).expect("SO_RCVBUF");
    s.bind(lo, sys::ETH_P_ALL).expect("bind");
    s
}

/// Frames of the local experimental ethertype the listener has, in order.
pub(super) fn take_frames(s: &PacketSocket, into: &mut Vec<Vec<u8>>) {
    let mut vh = [0u8; frame::VNET_HDR_LEN];
    let mut buf = vec![0u8; 70000];
    while let Ok(Some(r)) = s.recv_copy(&mut vh, &mut buf) {
        let f = &buf[..r.len];
        if f.len() >= 14 && (f[12..14] == [0x88, 0xb5] || f[12..14] == [0x08, 0x00]) {
            into.push(f.to_vec());
        }
    }
}

/// Frames the listener gets within `wait`, once it has `n` of them.
pub(super) fn wait_frames(s: &PacketSocket, n: usize, wait: Duration) -> Vec<Vec<u8>> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && t0.elapsed() < wait {
        take_frames(s, &mut got);
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

const SOURCE: &str = "hx-tx-source";

/// An input node sending the frames it is given to `interface-output`,
/// each with its tx interface.
#[derive(Default)]
struct TxSource {
    queue: Vec<(u32, Vec<u8>)>,
}

impl Node for TxSource {
    fn name(&self) -> &'static str {
        SOURCE
    }
    fn kind(&self) -> NodeKind {
        NodeKind::Input
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[InterfaceOutput::NAME]
    }
    fn poll(&mut self, vm: &mut Vm, frame: &mut Frame) -> usize {
        let mut n = 0;
        for (sw, bytes) in self.queue.drain(..) {
            let bi = vm.bufs.alloc_one().expect("buffer");
            vm.bufs.fill(bi, &bytes, 0);
            vm.bufs.meta_mut(bi).sw_if_index[TX] = sw;
            frame.pkts[n] = bi;
            frame.nexts[n] = 0;
            n += 1;
        }
        n
    }
    fn idle(&self) -> Idle {
        Idle::Busy
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `ethernet-input`'s stand-in: frees what `af-packet-input` receives.
struct Sink;

impl Node for Sink {
    fn name(&self) -> &'static str {
        "ethernet-input"
    }
    fn next_nodes(&self) -> &[&'static str] {
        &[]
    }
    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        vm.bufs.free(frame.pkts);
        frame.all_to(NEXT_CONSUMED);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn test_nodes(r: &mut Registrar) {
    r.node(NodeReg { name: SOURCE, factory: Arc::new(|_| Box::new(TxSource::default())) });
    r.node(NodeReg { name: "ethernet-input", factory: Arc::new(|_| Box::new(Sink)) });
}

/// An engine with af_packet, the test source and sink, and `host-lo`
/// (admin up; small tx ring frames: `lo`'s MTU is 64 KiB).
fn lo_engine(c: HostIfConfig) -> (Engine, u32) {
    let mut e = Engine::builder().buffers(4096).workers(0).plugin(register).plugin(test_nodes).build().expect("engine");
    create(&mut e, &c).expect("create host-interface name lo");
    e.exec("set interface state host-lo up").expect("admin up");
    let sw = e.interfaces.by_name("host-lo").expect("host-lo").0;
    (e, sw)
}

fn lo_config() -> HostIfConfig {
    HostIfConfig { tx_frame_size: Some(2048), tx_per_block: 8, ..HostIfConfig::new("lo") }
}

fn send(e: &mut Engine, sw: u32, frames: Vec<Vec<u8>>) {
    e.on_thread(
        0,
        Box::new(move |w| {
            let src = w.graph.node_mut::<TxSource>(SOURCE).expect("source node");
            src.queue.extend(frames.into_iter().map(|f| (sw, f)));
        }),
    );
}

fn hw(e: &Engine, sw: u32) -> String {
    let f = e.interfaces.get(rvpp_dataplane::interface::SwIfIndex(sw)).expect("interface");
    f.device.as_ref().expect("device").format_hw()
}

#[test]
fn a_failed_kick_is_retried_without_more_traffic() {
    in_private_netns("a_failed_kick_is_retried_without_more_traffic", || {
        let (mut e, sw) = lo_engine(lo_config());
        let rx = lo_listener();
        // The link goes down under rvpp: the burst's kick fails and its
        // frames stay queued in the ring.
        sys::set_if_down("lo").unwrap();
        let frames: Vec<Vec<u8>> = (1..=3).map(|n| test_frame(n, 60)).collect();
        send(&mut e, sw, frames.clone());
        assert!(e.run_until(Duration::from_secs(2), |e| hw(e, sw).contains("kick errors")), "{}", hw(&e, sw));
        // Back up, and nothing else is ever sent: the frames still go.
        sys::set_if_up("lo").unwrap();
        let mut got = Vec::new();
        e.run_until(Duration::from_secs(2), |_| {
            take_frames(&rx, &mut got);
            got.len() >= 3
        });
        assert_eq!(got, frames, "frames left by a failed kick: {}", hw(&e, sw));
        assert!(hw(&e, sw).contains("kick retries"), "{}", hw(&e, sw));
        let errors = e.errors();
        let retried = errors.iter().find(|(n, d, _)| *n == tx::TX_RETRY_NODE && d.name == "tx kicks retried");
        assert!(retried.is_some_and(|r| r.2 >= 1), "{errors:?}");
        // Paid once a retry finds nothing left (a retry that sent some
        // checks again, soon): the thread may then sleep with no deadline
        // of this node's.
        let paid = |e: &mut Engine| {
            let n = e.local.graph.node_mut::<tx::TxRetry>(tx::TX_RETRY_NODE).expect("retry node");
            n.idle() == Idle::Sleep { deadline: None }
        };
        assert!(e.run_until(Duration::from_secs(2), paid), "the owed kick was never paid: {}", hw(&e, sw));
    });
}

#[test]
fn dropped_tx_packets_are_not_counted_as_transmitted() {
    in_private_netns("dropped_tx_packets_are_not_counted_as_transmitted", || {
        let (mut e, sw) = lo_engine(lo_config());
        let rx = lo_listener();
        // The longest frame this ring takes is 2016 bytes: the second is a
        // too-long drop.
        send(&mut e, sw, vec![test_frame(1, 60), test_frame(2, 2040), test_frame(3, 100)]);
        let mut got = Vec::new();
        e.run_until(Duration::from_secs(2), |_| {
            take_frames(&rx, &mut got);
            got.len() >= 2
        });
        assert_eq!(got.len(), 2);
        let c = e.interface_counters().of(sw);
        assert_eq!((c[2], c[3]), (2, 160), "tx packets and bytes: only what was sent");
        assert_eq!(c[7], 1, "tx-error: the too-long frame");
        assert!(hw(&e, sw).contains("too-long drops 1"), "{}", hw(&e, sw));
    });
}

#[test]
fn kernel_ring_drops_show_in_errors() {
    in_private_netns("kernel_ring_drops_show_in_errors", || {
        // 1024 rx frames (64 blocks of 16 of 256 bytes).
        let c = HostIfConfig { rx_frame_size: 256, rx_per_block: 16, ..lo_config() };
        let (mut e, sw) = lo_engine(c);
        let lo = sys::if_index("lo").unwrap();
        let flood = PacketSocket::new(0).unwrap();
        let sent = 1100;
        for k in 0..sent {
            flood.send_parts(lo, 0x88b5, &[&test_frame(k as u8, 60)]).expect("send");
        }
        let rx_packets = |e: &mut Engine| e.interface_counters().of(sw)[0];
        assert!(e.run_until(Duration::from_secs(2), |e| rx_packets(e) >= 1024));
        let taken = rx_packets(&mut e);
        let lost = sent - taken;
        assert!(lost > 0, "the ring overflowed");
        // `show hardware-interfaces` reads the kernel's figures first...
        assert!(hw(&e, sw).contains(&format!("drops {lost}")), "{}", hw(&e, sw));
        // ...and the next packet (marked LOSING had it come first) makes the
        // input node count them, once.
        flood.send_parts(lo, 0x88b5, &[&test_frame(0, 60)]).unwrap();
        assert!(e.run_until(Duration::from_secs(2), |e| rx_packets(e) > taken));
        let errors = e.errors();
        let drops = errors.iter().find(|(n, d, _)| *n == INPUT_NODE && d.name == "kernel ring drops");
        assert_eq!(drops.map(|d| d.2), Some(lost), "{errors:?}");
    });
}

/// A layer-3 device (tun: packets without an Ethernet header) is refused
/// with an error naming it, and no interface is made; `lo` (Ethernet
/// headers of zero addresses) is taken.
#[test]
fn a_device_without_ethernet_framing_is_refused() {
    in_private_netns("a_device_without_ethernet_framing_is_refused", || {
        let made = std::process::Command::new("ip").args(["tuntap", "add", "dev", "hx31tun", "mode", "tun"]).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!(
                "a_device_without_ethernet_framing_is_refused: SKIPPED: cannot make a tun device (no /dev/net/tun)"
            );
            return;
        }
        let mut e =
            Engine::builder().buffers(1024).workers(0).plugin(register).plugin(test_nodes).build().expect("engine");
        let c = HostIfConfig { host_if: "hx31tun".into(), ..lo_config() };
        let err = create(&mut e, &c).expect_err("a tun device is no af_packet interface");
        assert!(matches!(err, AfPacketError::NotEthernet(ref n, 65534) if n == "hx31tun"), "{err}");
        assert!(err.to_string().contains("hx31tun") && err.to_string().contains("not Ethernet"), "{err}");
        assert!(e.interfaces.by_name("host-hx31tun").is_none());
        create(&mut e, &lo_config()).expect("lo is taken");
    });
}
