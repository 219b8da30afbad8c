//! Both ends of one connection in one process: the client's region and
//! rings, and a server view of the same memory, driven through the real rx
//! queues (in `memif-input`) and tx queues. Frames of every size cross both
//! ways byte for byte: single descriptors, descriptor chains (frames larger
//! than a memif buffer) and rvpp buffer chains (larger than an rvpp buffer).

use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::{DeviceInput, ErrorDrop, TxQueue};
use rvpp_dataplane::testing::Harness;
use rvpp_dataplane::{BufferIndex, Frame, ThreadBuffers};

use super::control::{client_conn, MemifMain};
use super::proto::{self, Hello, Mode};
use super::rx::{MemifRx, QueueStats, COUNTERS};
use super::tx::{MemifTx, TxRingState};
use super::{Conn, IfConfig, MemifDevice, RingSide, Role, INPUT_NODE};

/// A client connection (buffer size `bs`, 2^log2 slots) and the server's
/// view of the same region and eventfds.
fn pair(bs: u32, log2: u8) -> (Arc<Conn>, Arc<Conn>) {
    let cfg = IfConfig { log2_ring_size: log2, buffer_size: bs, ..IfConfig::default() };
    let dev = Arc::new(MemifDevice {
        mode: Mode::Ethernet,
        input_node: INPUT_NODE,
        rx_mode: Arc::new(AtomicU8::new(0)),
        rx_stats: vec![],
        tx_stats: vec![],
        queues: Default::default(),
    });
    let mut m = MemifMain::default();
    m.new_if(rvpp_dataplane::SwIfIndex(1), "memif0/0".into(), cfg, dev);
    let h = Hello {
        name: "t".into(),
        min_version: proto::VERSION,
        max_version: proto::VERSION,
        max_region: 0,
        max_m2s_ring: 0,
        max_s2m_ring: 0,
        max_log2_ring_size: 14,
    };
    let client = client_conn(&m.ifs[0], &h).unwrap();
    let view = |r: &RingSide| RingSide {
        ring: r.ring.clone(),
        event: r.event.try_clone().unwrap(),
        index: r.index,
        region: r.region,
        offset: r.offset,
        buf_region: 0,
        buf_base: 0,
        buf_size: 0,
    };
    let server = Arc::new(Conn {
        role: Role::Server,
        regions: client.regions.clone(),
        // The server receives on the client's tx (s2m) rings.
        rx: client.tx.iter().map(view).collect(),
        tx: client.rx.iter().map(view).collect(),
        buffer_size: 0,
    });
    (client, server)
}

fn input(conn: &Arc<Conn>) -> Harness {
    // The node as registered (with the driver's counters).
    let reg = DeviceInput::register_with_counters(INPUT_NODE, &["ethernet-input", ErrorDrop::NAME], &COUNTERS);
    let ext = rvpp_dataplane::engine::Extensions::default();
    let node = (reg.factory)(&rvpp_dataplane::graph::NodeInit { thread_index: 0, ext: &ext });
    let mut h = Harness::new(node, 2);
    let q = MemifRx::new(1, 0, conn.clone(), Arc::new(AtomicU8::new(0)), Arc::new(QueueStats::default()));
    let Harness { node, vm, .. } = &mut h;
    node.as_any_mut().downcast_mut::<DeviceInput>().unwrap().add_queue(Box::new(q), vm);
    h
}

fn poll(h: &mut Harness) -> Vec<BufferIndex> {
    let mut pkts = vec![BufferIndex(0); 256];
    let mut nexts = vec![0u16; 256];
    let n = h.node.poll(&mut h.vm, &mut Frame { pkts: &mut pkts, nexts: &mut nexts });
    pkts.truncate(n);
    pkts
}

/// A frame of `len` bytes (pattern from `seed`) as an rvpp buffer chain.
fn frame(bufs: &mut ThreadBuffers, len: usize, seed: u8) -> BufferIndex {
    let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let ds = bufs.data_size();
    let chunks: Vec<&[u8]> = bytes.chunks(ds).collect();
    let mut bis = Vec::new();
    for c in &chunks {
        let b = bufs.alloc_one().unwrap();
        bufs.fill(b, c, 0);
        bis.push(b);
    }
    for k in 0..bis.len() - 1 {
        let m = bufs.meta_mut(bis[k]);
        m.flags |= flags::NEXT_PRESENT;
        m.next_buffer = bis[k + 1].0;
    }
    bufs.meta_mut(bis[0]).total_length_not_including_first_buffer = (len - chunks[0].len()) as u32;
    bis[0]
}

fn tx_queue(conn: &Arc<Conn>) -> MemifTx {
    MemifTx::new(conn.clone(), Arc::new(Mutex::new(TxRingState { index: 0, stats: Default::default() })), 0)
}

const SIZES: [usize; 7] = [60, 64, 1500, 2047, 2048, 3000, 9000];

fn expect(bufs: &ThreadBuffers, got: &[BufferIndex], seed0: u8) {
    assert_eq!(got.len(), SIZES.len());
    for (k, (&bi, &len)) in got.iter().zip(&SIZES).enumerate() {
        let want: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed0 + k as u8)).collect();
        assert_eq!(bufs.chain_len(bi), len, "frame {k}");
        assert_eq!(bufs.chain_bytes(bi), want, "frame {k} of {len} bytes");
    }
}

#[test]
fn frames_of_every_size_cross_both_ways() {
    // 1024-byte memif buffers: a 9000-byte frame takes 9 descriptors.
    let (client, server) = pair(1024, 6);
    let mut at_server = input(&server);
    let mut at_client = input(&client);
    // Client -> server.
    let mut ctx = tx_queue(&client);
    let pkts: Vec<BufferIndex> =
        SIZES.iter().enumerate().map(|(k, &l)| frame(&mut at_client.vm.bufs, l, k as u8)).collect();
    assert_eq!(ctx.tx(&mut at_client.vm.bufs, &pkts), pkts.len());
    let got = poll(&mut at_server);
    expect(&at_server.vm.bufs, &got, 0);
    at_server.vm.bufs.free(&got);
    // Server -> client: nothing can go before the client posts buffers.
    let mut stx = tx_queue(&server);
    let pkts: Vec<BufferIndex> =
        SIZES.iter().enumerate().map(|(k, &l)| frame(&mut at_server.vm.bufs, l, 100 + k as u8)).collect();
    assert_eq!(stx.tx(&mut at_server.vm.bufs, &pkts[..1]), 0, "no posted buffers yet");
    assert!(poll(&mut at_client).is_empty()); // posts the whole ring
    assert_eq!(stx.tx(&mut at_server.vm.bufs, &pkts), pkts.len());
    let got = poll(&mut at_client);
    expect(&at_client.vm.bufs, &got, 100);
    at_client.vm.bufs.free(&got);
    // Every buffer is back.
    assert_eq!(at_server.buffers_in_use(), 0);
    assert_eq!(at_client.buffers_in_use(), 0);
}

#[test]
fn a_full_ring_takes_what_fits_and_wraps() {
    // 16 slots of 2048 bytes.
    let (client, server) = pair(2048, 4);
    let mut at_server = input(&server);
    let mut at_client = input(&client);
    let mut ctx = tx_queue(&client);
    let mut total = 0;
    for round in 0..5u8 {
        let pkts: Vec<BufferIndex> = (0..20).map(|k| frame(&mut at_client.vm.bufs, 100, round + k)).collect();
        let sent = ctx.tx(&mut at_client.vm.bufs, &pkts);
        assert_eq!(sent, 16, "round {round}: 16 slots");
        at_client.vm.bufs.free(&pkts[sent..]);
        let got = poll(&mut at_server);
        assert_eq!(got.len(), 16);
        total += got.len();
        at_server.vm.bufs.free(&got);
    }
    assert_eq!(total, 80);
    assert_eq!(at_server.buffers_in_use(), 0);
    assert_eq!(at_client.buffers_in_use(), 0);
}

#[test]
fn bad_descriptors_from_the_peer_are_dropped_and_counted() {
    let (client, server) = pair(2048, 4);
    let mut at_server = input(&server);
    let ring = &client.tx[0].ring;
    let size = client.regions.0[0].len() as u32;
    let descs = [
        proto::Desc { flags: 0, region: 0, length: 64, offset: size - 10, metadata: 0 },
        proto::Desc { flags: 0, region: 3, length: 64, offset: 0, metadata: 0 },
        proto::Desc { flags: proto::DESC_FLAG_NEXT, region: 0, length: 64, offset: u32::MAX, metadata: 0 },
        proto::Desc { flags: 0, region: 0, length: 64, offset: 4096, metadata: 0 },
    ];
    for (k, d) in descs.iter().enumerate() {
        ring.set_desc(k as u16, d);
    }
    // A head far beyond the ring is refused as a whole.
    ring.store_head(1000);
    assert!(poll(&mut at_server).is_empty());
    assert_eq!(at_server.counter("ring index out of range"), 1);
    ring.store_head(4);
    let got = poll(&mut at_server);
    // Two bad, the chained bad one takes its successor with it.
    assert_eq!(got.len(), 0);
    assert_eq!(at_server.counter("bad descriptor (outside its region)"), 3);
    assert_eq!(ring.tail(), 4, "the slots are given back");
    assert_eq!(at_server.buffers_in_use(), 0);
}

/// In ip mode a frame that carries neither IPv4 nor IPv6 is taken and
/// dropped: reported through `take_dropped`, so interface-output counts it
/// as a tx error, not as sent.
#[test]
fn ip_mode_drops_non_ip_frames_as_tx_errors() {
    let (client, server) = pair(2048, 4);
    let mut at_server = input(&server);
    let mut at_client = input(&client);
    let mut ctx =
        MemifTx::new(client.clone(), Arc::new(Mutex::new(TxRingState { index: 0, stats: Default::default() })), 14);
    let mut eth = |et: u16, len: usize| {
        let mut f = vec![0u8; len];
        f[12..14].copy_from_slice(&et.to_be_bytes());
        let b = at_client.vm.bufs.alloc_one().unwrap();
        at_client.vm.bufs.fill(b, &f, 0);
        b
    };
    let pkts = [eth(0x0800, 60), eth(0x0806, 60), eth(0x86dd, 100), eth(0x8100, 70)];
    assert_eq!(ctx.tx(&mut at_client.vm.bufs, &pkts), 4, "all taken");
    assert_eq!(ctx.take_dropped(), (2, 130), "the ARP and the tagged frame");
    assert_eq!(ctx.take_dropped(), (0, 0), "reported once");
    let got = poll(&mut at_server);
    assert_eq!(got.len(), 2);
    at_server.vm.bufs.free(&got);
    assert_eq!(at_client.buffers_in_use(), 0);
}
