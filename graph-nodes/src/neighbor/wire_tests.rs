//! The neighbor nodes in a whole engine: frames in through a test "wire"
//! device, through ethernet-input, ip4/ip6, arp-input, ip6-nd and the glean
//! nodes, and out through interface-output; learning through the main
//! thread.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, RxQueue, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::RxMode;
use rvpp_dataplane::{BufferIndex, ThreadBuffers, Vm};

use super::arp::{Arp, OP_REPLY, OP_REQUEST};
use super::nd::{NdMsg, ALL_NODES, FLAG_OVERRIDE, FLAG_ROUTER, FLAG_SOLICITED, NA};
use super::NeighborTable;
use crate::ip::{checksum, proto};

type Frames = Arc<Mutex<VecDeque<Vec<u8>>>>;

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const HOST_MAC: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];

struct Wire {
    tx: Frames,
}

struct WireRx {
    sw: u32,
    frames: Frames,
}

struct WireTx(Frames);

impl Device for Wire {
    fn driver(&self) -> &'static str {
        "wire"
    }
    fn tx_queue(&self, _: usize) -> Option<Box<dyn TxQueue>> {
        Some(Box::new(WireTx(self.tx.clone())))
    }
    fn input_node(&self) -> Option<&'static str> {
        Some("wire-input")
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TxQueue for WireTx {
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        let mut q = self.0.lock().unwrap();
        for &bi in pkts {
            q.push_back(bufs.chain_bytes(bi));
        }
        bufs.free(pkts);
        pkts.len()
    }
}

impl RxQueue for WireRx {
    fn sw_if_index(&self) -> u32 {
        self.sw
    }
    fn queue_id(&self) -> u32 {
        0
    }
    fn rx(&mut self, vm: &mut Vm, out: &mut [BufferIndex]) -> usize {
        let mut q = self.frames.lock().unwrap();
        let mut n = 0;
        while n < out.len() {
            let Some(f) = q.pop_front() else { break };
            let Some(bi) = vm.bufs.alloc_one() else { break };
            vm.bufs.fill(bi, &f, self.sw);
            vm.ifc.rx(self.sw, f.len());
            out[n] = bi;
            n += 1;
        }
        n
    }
    fn mode(&self) -> RxMode {
        RxMode::Polling
    }
    fn set_mode(&mut self, _: RxMode) {}
}

fn wire_plugin(r: &mut Registrar) {
    r.node(DeviceInput::register("wire-input", &["ethernet-input"]));
}

/// An engine with wire0 (10.0.0.1/24, 2001:db8::1/64) up; returns the
/// frames to receive and the frames sent.
fn engine() -> (Engine, Frames, Frames) {
    let mut e =
        Engine::builder().buffers(2048).workers(0).plugin(crate::register_all).plugin(wire_plugin).build().unwrap();
    let (rx, tx) = (Frames::default(), Frames::default());
    let dev = Arc::new(Wire { tx: tx.clone() });
    let sw = e.create_interface("wire0".into(), OUR_MAC, 1500, Some(dev));
    place_rx_queue(&mut e, "wire-input", Box::new(WireRx { sw: sw.0, frames: rx.clone() }), 0);
    e.exec("set interface state wire0 up").unwrap();
    e.exec("set interface ip address wire0 10.0.0.1/24").unwrap();
    e.exec("set interface ip address wire0 2001:db8::1/64").unwrap();
    // The addresses' announcements (gratuitous ARP, unsolicited NAs) go
    // out first; the tests below start after them.
    e.run_until(Duration::from_millis(20), |_| false);
    tx.lock().unwrap().clear();
    (e, rx, tx)
}

/// The frames sent so far, taken.
fn sent(tx: &Frames) -> Vec<Vec<u8>> {
    tx.lock().unwrap().drain(..).collect()
}

#[test]
fn addresses_are_announced_when_added_when_up_and_when_the_mac_changes() {
    let (mut e, _rx, tx) = engine();
    let announced = |frames: &[Vec<u8>], mac: [u8; 6]| {
        let garp = frames.iter().any(|f| {
            f[..12] == [[0xff; 6], mac].concat()[..]
                && Arp::parse(&f[14..])
                    .is_ok_and(|a| (a.op, a.sha, a.spa, a.tpa) == (OP_REQUEST, mac, 0x0a00_0001, 0x0a00_0001))
        });
        let na = |target: u128| {
            frames.iter().any(|f| {
                f[..6] == [0x33, 0x33, 0, 0, 0, 1]
                    && NdMsg::parse(&f[14..]).is_ok_and(|m| {
                        m.ty == NA && m.target == target && m.target_ll == Some(mac) && m.dst == super::nd::ALL_NODES
                    })
            })
        };
        let ll = u128::from(crate::ip::link_local(OUR_MAC));
        garp && na(0x2001_0db8 << 96 | 1) && na(ll)
    };
    // Admin up again: every address is announced.
    e.exec("set interface state wire0 down").unwrap();
    e.exec("set interface state wire0 up").unwrap();
    e.run_until(Duration::from_millis(20), |_| false);
    let f = sent(&tx);
    assert!(announced(&f, OUR_MAC), "{f:02x?}");
    // A new MAC: announced at the new MAC.
    let new = [2, 0, 0, 0, 0, 9];
    e.exec("set interface mac address wire0 02:00:00:00:00:09").unwrap();
    e.run_until(Duration::from_millis(20), |_| false);
    let f = sent(&tx);
    assert!(announced(&f, new), "{f:02x?}");
    // Down: nothing is announced.
    e.exec("set interface state wire0 down").unwrap();
    e.exec("set interface ip address wire0 10.0.1.1/24").unwrap();
    e.run_until(Duration::from_millis(20), |_| false);
    assert!(sent(&tx).is_empty());
}

/// Receives `frame`, runs until something is sent (or 1 s), returns it.
fn exchange(e: &mut Engine, rx: &Frames, tx: &Frames, frame: Vec<u8>) -> Option<Vec<u8>> {
    rx.lock().unwrap().push_back(frame);
    e.run_until(Duration::from_secs(1), |_| !tx.lock().unwrap().is_empty());
    // Let posted learning run.
    e.run_until(Duration::from_millis(20), |_| false);
    tx.lock().unwrap().pop_front()
}

fn eth(dst: [u8; 6], src: [u8; 6], et: u16, body: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn arp_frame(op: u16, sha: [u8; 6], spa: u32, tpa: u32) -> Vec<u8> {
    let mut b = [0u8; 28];
    Arp { op, sha, spa, tha: [0; 6], tpa }.emit(&mut b);
    let dst = if op == OP_REQUEST { [0xff; 6] } else { OUR_MAC };
    eth(dst, sha, 0x0806, &b)
}

/// An ICMP echo request from `src` to 10.0.0.1.
fn echo4(src: u32, src_mac: [u8; 6]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, proto::ICMP, 0, 0];
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&[10, 0, 0, 1]);
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let c = checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&icmp);
    eth(OUR_MAC, src_mac, 0x0800, &p)
}

fn neighbors(e: &mut Engine) -> String {
    e.exec("show ip neighbors").unwrap()
}

#[test]
fn arp_request_answered_and_sender_learned() {
    let (mut e, rx, tx) = engine();
    let out = exchange(&mut e, &rx, &tx, arp_frame(OP_REQUEST, HOST_MAC, 0x0a00_0002, 0x0a00_0001)).expect("a reply");
    assert_eq!(&out[..12], &[HOST_MAC, OUR_MAC].concat()[..]);
    let a = Arp::parse(&out[14..]).unwrap();
    assert_eq!((a.op, a.sha, a.spa, a.tha, a.tpa), (OP_REPLY, OUR_MAC, 0x0a00_0001, HOST_MAC, 0x0a00_0002));
    let t = e.ext.get_or_default::<NeighborTable>();
    assert_eq!(t.get(false, 1, 0x0a00_0002).map(|n| n.mac), Some(HOST_MAC));
    assert!(neighbors(&mut e).contains("10.0.0.2"));
    let errors = e.exec("show errors").unwrap();
    assert!(errors.contains("ARP replies sent"), "{errors}");
}

#[test]
fn unknown_neighbor_is_asked_for_then_used() {
    let (mut e, rx, tx) = engine();
    let host = 0x0a00_0005;
    // The echo reply to an unknown host needs its MAC: an ARP request goes out.
    let out = exchange(&mut e, &rx, &tx, echo4(host, HOST_MAC)).expect("an ARP request");
    assert_eq!(&out[..6], &[0xff; 6]);
    let a = Arp::parse(&out[14..]).unwrap();
    assert_eq!((a.op, a.sha, a.spa, a.tpa), (OP_REQUEST, OUR_MAC, 0x0a00_0001, host));
    // The host answers; nothing is sent back, it is learned.
    assert_eq!(exchange(&mut e, &rx, &tx, arp_frame(OP_REPLY, HOST_MAC, host, 0x0a00_0001)), None);
    assert!(neighbors(&mut e).contains("10.0.0.5"));
    // Now the echo reply goes straight to it.
    let out = exchange(&mut e, &rx, &tx, echo4(host, HOST_MAC)).expect("an echo reply");
    assert_eq!(&out[..14], &eth(HOST_MAC, OUR_MAC, 0x0800, &[])[..]);
    assert_eq!(out[14 + 20], 0, "ICMP echo reply");
}

#[test]
fn neighbor_solicitation_answered_and_learned() {
    let (mut e, rx, tx) = engine();
    let host_ll: u128 = 0xfe80_0000_0000_0000_0211_22ff_fe33_4455;
    let ours: u128 = 0x2001_0db8 << 96 | 1;
    let dst = crate::ip::solicited_node(ours);
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&ours.to_be_bytes());
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&HOST_MAC);
    let ck = checksum::l4(checksum::pseudo6(&host_ll.to_be_bytes(), &dst.to_be_bytes(), proto::ICMP6, 32), &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0, 0, 32, proto::ICMP6, 255];
    p.extend_from_slice(&host_ll.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(&icmp);
    let out = exchange(&mut e, &rx, &tx, eth([0x33, 0x33, 0xff, 0, 0, 1], HOST_MAC, 0x86dd, &p)).expect("an NA");
    assert_eq!(&out[..12], &[HOST_MAC, OUR_MAC].concat()[..]);
    let m = NdMsg::parse(&out[14..]).unwrap();
    assert_eq!((m.ty, m.src, m.dst, m.target, m.target_ll), (NA, ours, host_ll, ours, Some(OUR_MAC)));
    let t = e.ext.get_or_default::<NeighborTable>();
    assert_eq!(t.get(true, 1, host_ll).map(|n| n.mac), Some(HOST_MAC));
    assert!(e.exec("show ip6 neighbors").unwrap().contains("fe80::211:22ff:fe33:4455"));
}

#[test]
fn aged_neighbor_is_probed_and_kept_when_it_answers() {
    let (mut e, rx, tx) = engine();
    e.exec("set ip neighbor-config ip4 age 1").unwrap();
    exchange(&mut e, &rx, &tx, arp_frame(OP_REQUEST, HOST_MAC, 0x0a00_0002, 0x0a00_0001)).expect("a reply");
    // Within a second or two the aging task probes it, unicast.
    e.run_until(Duration::from_secs(3), |_| !tx.lock().unwrap().is_empty());
    let out = tx.lock().unwrap().pop_front().expect("a probe");
    assert_eq!(&out[..14], &eth(HOST_MAC, OUR_MAC, 0x0806, &[])[..]);
    let a = Arp::parse(&out[14..]).unwrap();
    assert_eq!((a.op, a.spa, a.tpa), (OP_REQUEST, 0x0a00_0001, 0x0a00_0002));
    // It answers: refreshed, not removed. (No frame comes back for a reply,
    // so don't wait a second for one: with age 1 s the entry would be due
    // for its next probe by then.)
    rx.lock().unwrap().push_back(arp_frame(OP_REPLY, HOST_MAC, 0x0a00_0002, 0x0a00_0001));
    e.run_until(Duration::from_millis(50), |_| false);
    let t = e.ext.get_or_default::<NeighborTable>();
    assert!(t.get(false, 1, 0x0a00_0002).is_some_and(|n| n.probed.is_none()));
}

/// An ICMPv6 frame from `src_mac`/`src` to `dst_mac`/`dst`, hop limit
/// `hop`, its checksum filled in.
fn icmp6_frame(dst_mac: [u8; 6], src_mac: [u8; 6], src: u128, dst: u128, hop: u8, icmp: &[u8]) -> Vec<u8> {
    let mut icmp = icmp.to_vec();
    icmp[2..4].copy_from_slice(&[0, 0]);
    let ck =
        checksum::l4(checksum::pseudo6(&src.to_be_bytes(), &dst.to_be_bytes(), proto::ICMP6, icmp.len() as u32), &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto::ICMP6, hop]);
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&dst.to_be_bytes());
    p.extend_from_slice(&icmp);
    eth(dst_mac, src_mac, 0x86dd, &p)
}

/// An NS or NA: type, flags word, target, one link-layer option (type 1:
/// source, 2: target) when `opt` is given.
fn nd_body(ty: u8, word: u32, target: u128, opt: Option<(u8, [u8; 6])>) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0];
    b.extend_from_slice(&word.to_be_bytes());
    b.extend_from_slice(&target.to_be_bytes());
    if let Some((t, mac)) = opt {
        b.extend_from_slice(&[t, 1]);
        b.extend_from_slice(&mac);
    }
    b
}

/// Receives `frame` and lets the engine (and posted learning) run.
fn deliver(e: &mut Engine, rx: &Frames, frame: Vec<u8>) {
    rx.lock().unwrap().push_back(frame);
    e.run_until(Duration::from_millis(30), |_| false);
}

#[test]
fn unsolicited_advertisements_carry_the_router_flag() {
    let (mut e, _rx, tx) = engine();
    e.exec("set interface state wire0 down").unwrap();
    e.exec("set interface state wire0 up").unwrap();
    e.run_until(Duration::from_millis(20), |_| false);
    let nas: Vec<NdMsg> = sent(&tx).iter().filter_map(|f| NdMsg::parse(&f[14..]).ok()).filter(|m| m.ty == NA).collect();
    assert_eq!(nas.len(), 2, "{nas:?}");
    for m in nas {
        assert_eq!(m.flags, FLAG_ROUTER | FLAG_OVERRIDE, "{m:?}");
    }
}

/// RFC 4861 7.2.5: an advertisement creates no entry unless it answers a
/// solicitation (solicited, to an address of ours), and without the
/// override flag it does not replace a known entry's link-layer address.
#[test]
fn advertisements_create_only_when_solicited_and_replace_only_with_override() {
    let (mut e, rx, _tx) = engine();
    let ours: u128 = 0x2001_0db8 << 96 | 1;
    let host: u128 = 0x2001_0db8 << 96 | 5;
    let other = [0, 0x11, 0x22, 0x33, 0x44, 0x66];
    let na = |dst: u128, word: u32, mac: [u8; 6]| {
        let dst_mac = if dst == ALL_NODES { [0x33, 0x33, 0, 0, 0, 1] } else { OUR_MAC };
        icmp6_frame(dst_mac, mac, host, dst, 255, &nd_body(NA, word, host, Some((2, mac))))
    };
    let mac_of = |e: &mut Engine| e.ext.get_or_default::<NeighborTable>().get(true, 1, host).map(|n| n.mac);
    // Unsolicited, override, for an unknown target: ignored.
    deliver(&mut e, &rx, na(ALL_NODES, FLAG_OVERRIDE, HOST_MAC));
    assert_eq!(mac_of(&mut e), None, "{}", neighbors(&mut e));
    deliver(&mut e, &rx, na(ours, FLAG_OVERRIDE, HOST_MAC));
    assert_eq!(mac_of(&mut e), None, "unsolicited though unicast");
    // The answer to a solicitation (solicited, to our address) creates it,
    // override flag or not.
    deliver(&mut e, &rx, na(ours, FLAG_SOLICITED, HOST_MAC));
    assert_eq!(mac_of(&mut e), Some(HOST_MAC));
    // Without override another MAC does not replace it, solicited or not.
    deliver(&mut e, &rx, na(ALL_NODES, 0, other));
    assert_eq!(mac_of(&mut e), Some(HOST_MAC));
    deliver(&mut e, &rx, na(ours, FLAG_SOLICITED, other));
    assert_eq!(mac_of(&mut e), Some(HOST_MAC));
    // With it, it does.
    deliver(&mut e, &rx, na(ALL_NODES, FLAG_OVERRIDE, other));
    assert_eq!(mac_of(&mut e), Some(other));
}

/// Two links each with a host at fe80::1: each is learned on its own
/// interface and our echo replies reach each on its own link; one going
/// away leaves the other reachable.
#[test]
fn link_local_neighbors_of_two_links_do_not_mix() {
    let mut e =
        Engine::builder().buffers(2048).workers(0).plugin(crate::register_all).plugin(wire_plugin).build().unwrap();
    let our_macs = [OUR_MAC, [2, 0, 0, 0, 0, 2]];
    let host_macs = [HOST_MAC, [0, 0x11, 0x22, 0x33, 0x44, 0x77]];
    let mut wires = Vec::new();
    for (k, mac) in our_macs.iter().enumerate() {
        let (rx, tx) = (Frames::default(), Frames::default());
        let name = format!("wire{k}");
        let sw = e.create_interface(name.clone(), *mac, 1500, Some(Arc::new(Wire { tx: tx.clone() })));
        place_rx_queue(&mut e, "wire-input", Box::new(WireRx { sw: sw.0, frames: rx.clone() }), 0);
        e.exec(&format!("set interface state {name} up")).unwrap();
        e.exec(&format!("set interface ip address {name} 2001:db8:{k}::1/64")).unwrap();
        wires.push((sw.0, rx, tx));
    }
    e.run_until(Duration::from_millis(20), |_| false);
    let peer: u128 = 0xfe80 << 112 | 1;
    let our_ll = |k: usize| u128::from(crate::ip::link_local(our_macs[k]));
    // Each host asks for our link-local address: learned on its link.
    for (k, (_, rx, tx)) in wires.iter().enumerate() {
        let ns = nd_body(135, 0, our_ll(k), Some((1, host_macs[k])));
        let dst = crate::ip::solicited_node(our_ll(k));
        deliver(&mut e, rx, icmp6_frame([0x33, 0x33, 0xff, 0, 0, 1], host_macs[k], peer, dst, 255, &ns));
        sent(tx);
    }
    let echo = |k: usize, seq: u8| {
        let body = [128, 0, 0, 0, 0x12, 0x34, 0, seq];
        icmp6_frame(our_macs[k], host_macs[k], peer, our_ll(k), 64, &body)
    };
    // Echo replies go straight back on each link, to that link's host.
    let replied = |e: &mut Engine, k: usize, seq: u8| {
        let (_, rx, tx) = &wires[k];
        deliver(e, rx, echo(k, seq));
        let out: Vec<Vec<u8>> = sent(tx);
        out.iter().any(|f| f[..12] == [host_macs[k], our_macs[k]].concat()[..] && f.len() > 54 && f[54] == 129)
    };
    for seq in 1..4 {
        assert!(replied(&mut e, 0, seq), "wire0, seq {seq}");
        assert!(replied(&mut e, 1, seq), "wire1, seq {seq}");
    }
    e.exec("set ip neighbor del wire0 fe80::1").unwrap();
    assert!(replied(&mut e, 1, 9), "wire1's neighbor stays when wire0's goes");
    let t = e.ext.get_or_default::<NeighborTable>();
    assert_eq!(t.get(true, wires[1].0, peer).map(|n| n.mac), Some(host_macs[1]));
}
