//! Data-path tests over a datagram socket pair standing in for the tap fd
//! (one frame per read and write, as a tap): rx bursts, EAGAIN, chains for
//! large frames, oversize and exhaustion drops, tx of buffers and chains,
//! and a short tx when the peer stops reading.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use rvpp_dataplane::buffer::flags;
use rvpp_dataplane::device::{DeviceInput, RxQueue, TxQueue};
use rvpp_dataplane::testing::Harness;
use rvpp_dataplane::BufferIndex;

use super::sys::{self, TapFd};
use super::{open_queues, TapRx, TapStats, TapTx, TAP_INPUT, TAP_INPUT_NEXTS};

const SW: u32 = 1;

fn harness() -> Harness {
    Harness::new(Box::new(DeviceInput::new(TAP_INPUT, TAP_INPUT_NEXTS)), 2)
}

/// Our end as a tap queue, and the peer playing the kernel.
fn pair() -> (Arc<TapFd>, UnixDatagram) {
    let (ours, peer) = UnixDatagram::pair().expect("socketpair");
    ours.set_nonblocking(true).expect("nonblocking");
    (Arc::new(TapFd::from_fd(ours.into())), peer)
}

fn rx_queue(h: &Harness, fd: Arc<TapFd>) -> (TapRx, Arc<TapStats>) {
    let stats = Arc::new(TapStats::default());
    let q = TapRx::new(SW, 0, fd, h.vm.bufs.data_size(), stats.clone());
    (q, stats)
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

fn poll(h: &mut Harness, q: &mut TapRx) -> Vec<BufferIndex> {
    let mut out = vec![BufferIndex(0); 256];
    let n = q.rx(&mut h.vm, &mut out);
    out.truncate(n);
    out
}

#[test]
fn rx_reads_a_burst_until_eagain() {
    let mut h = harness();
    let (fd, peer) = pair();
    let (mut q, _) = rx_queue(&h, fd);
    let frames = [frame(60, 1), frame(1514, 2), frame(14, 3)];
    for f in &frames {
        peer.send(f).unwrap();
    }
    let got = poll(&mut h, &mut q);
    assert_eq!(got.len(), 3);
    for (bi, f) in got.iter().zip(&frames) {
        assert_eq!(&h.bytes(*bi), f);
        let m = h.vm.bufs.meta(*bi);
        assert_eq!(m.sw_if_index[0], SW);
        assert_eq!(m.flags & flags::NEXT_PRESENT, 0);
    }
    let c = h.vm.ifc.of(SW);
    assert_eq!((c[0], c[1]), (3, 60 + 1514 + 14), "rx packets, rx bytes");
    assert!(poll(&mut h, &mut q).is_empty(), "nothing left: EAGAIN");
    h.vm.bufs.free(&got);
}

#[test]
fn rx_stops_at_the_frame_size_and_resumes() {
    let mut h = harness();
    let (fd, peer) = pair();
    let (mut q, _) = rx_queue(&h, fd);
    for k in 0..5u8 {
        peer.send(&frame(64, k)).unwrap();
    }
    let mut out = vec![BufferIndex(0); 3];
    assert_eq!(q.rx(&mut h.vm, &mut out), 3);
    h.vm.bufs.free(&out);
    let rest = poll(&mut h, &mut q);
    assert_eq!(rest.len(), 2);
    assert_eq!(h.bytes(rest[0]), frame(64, 3));
    h.vm.bufs.free(&rest);
}

#[test]
fn rx_chains_a_frame_larger_than_a_buffer() {
    let mut h = harness();
    let (fd, peer) = pair();
    let (mut q, _) = rx_queue(&h, fd);
    let big = frame(9000 + 14, 9);
    peer.send(&big).unwrap();
    peer.send(&frame(100, 4)).unwrap();
    let got = poll(&mut h, &mut q);
    assert_eq!(got.len(), 2);
    let m = h.vm.bufs.meta(got[0]);
    assert_ne!(m.flags & flags::NEXT_PRESENT, 0, "a chain");
    assert_eq!(m.current_length as usize, h.vm.bufs.data_size());
    assert_eq!(h.vm.bufs.chain_len(got[0]), big.len());
    assert_eq!(h.vm.bufs.chain_bytes(got[0]), big);
    assert_eq!(h.bytes(got[1]), frame(100, 4));
    assert_eq!(h.vm.ifc.of(SW)[1], (big.len() + 100) as u64);
    let before = h.vm.bufs.cached();
    h.vm.bufs.free(&got);
    assert_eq!(h.vm.bufs.cached(), before + 1 + 4 + 1, "head, 4 tail buffers, small frame");
}

#[test]
fn rx_drops_a_frame_too_long_and_goes_on() {
    let mut h = harness();
    let (fd, peer) = pair();
    let (mut q, stats) = rx_queue(&h, fd);
    peer.send(&frame(super::MAX_FRAME + 100, 5)).unwrap();
    peer.send(&frame(60, 6)).unwrap();
    let got = poll(&mut h, &mut q);
    assert_eq!(got.len(), 1);
    assert_eq!(h.bytes(got[0]), frame(60, 6));
    assert_eq!(stats.rx_too_long.load(std::sync::atomic::Ordering::Relaxed), 1);
    let c = h.vm.ifc.of(SW);
    assert_eq!(c[4], 1, "counted as an interface drop");
    assert_eq!(c[0], 1);
    h.vm.bufs.free(&got);
}

#[test]
fn rx_counts_buffer_exhaustion_and_recovers() {
    let mut h = harness();
    let (fd, peer) = pair();
    let (mut q, _) = rx_queue(&h, fd);
    let mut all = vec![BufferIndex(0); 8192];
    let n = h.vm.bufs.alloc(&mut all);
    all.truncate(n);
    peer.send(&frame(60, 7)).unwrap();
    assert!(poll(&mut h, &mut q).is_empty());
    assert_eq!(h.vm.ifc.of(SW)[6], 1, "rx-no-buf");
    for &b in &all {
        h.vm.bufs.meta_mut(b).flags = 0;
    }
    h.vm.bufs.free(&all);
    let got = poll(&mut h, &mut q);
    assert_eq!(got.len(), 1, "the frame waited in the kernel");
    assert_eq!(h.bytes(got[0]), frame(60, 7));
    h.vm.bufs.free(&got);
}

#[test]
fn rx_releases_the_spare_buffer_on_eagain() {
    let mut h = harness();
    let (fd, _peer) = pair();
    let (mut q, _) = rx_queue(&h, fd);
    // The buffer rx will get carries stale chain flags from its last user:
    // they must not make the release free a second buffer.
    let b = h.vm.bufs.alloc_one().unwrap();
    h.vm.bufs.free_one(b);
    let m = h.vm.bufs.meta_mut(b);
    m.flags = flags::NEXT_PRESENT;
    m.next_buffer = 3;
    let before = h.vm.bufs.cached();
    for _ in 0..10 {
        assert!(poll(&mut h, &mut q).is_empty());
    }
    assert_eq!(h.vm.bufs.cached(), before, "no buffer lost or freed twice");
}

#[test]
fn tx_writes_buffers_and_chains() {
    let mut h = harness();
    let (fd, peer) = pair();
    let stats = Arc::new(TapStats::default());
    let mut tx = TapTx { fd, stats };
    let a = h.packet(&frame(60, 1), 0);
    let head = h.packet(&frame(1000, 2), 0);
    let tail = h.packet(&frame(500, 3), 0);
    let m = h.vm.bufs.meta_mut(head);
    m.flags |= flags::NEXT_PRESENT;
    m.next_buffer = tail.0;
    m.total_length_not_including_first_buffer = 500;
    let before = h.vm.bufs.cached();
    assert_eq!(tx.tx(&mut h.vm.bufs, &[a, head]), 2);
    assert_eq!(h.vm.bufs.cached(), before + 3, "sent packets are freed, chains whole");
    let mut buf = vec![0u8; 4096];
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &frame(60, 1)[..]);
    let n = peer.recv(&mut buf).unwrap();
    let mut want = frame(1000, 2);
    want.extend(frame(500, 3));
    assert_eq!(&buf[..n], &want[..]);
}

#[test]
fn tx_returns_fewer_when_the_fd_would_block() {
    let mut h = harness();
    let (fd, peer) = pair();
    let stats = Arc::new(TapStats::default());
    let mut tx = TapTx { fd, stats: stats.clone() };
    // A unix datagram peer queues only a few frames before EAGAIN.
    let pkts: Vec<BufferIndex> = (0..256).map(|k| h.packet(&frame(1500, k as u8), 0)).collect();
    let sent = tx.tx(&mut h.vm.bufs, &pkts);
    assert!(sent > 0 && sent < pkts.len(), "sent {sent}");
    assert_eq!(stats.tx_again.load(std::sync::atomic::Ordering::Relaxed), 1);
    // The rest still belongs to the caller, untouched.
    assert_eq!(h.bytes(pkts[sent]), frame(1500, sent as u8));
    h.vm.bufs.free(&pkts[sent..]);
    let mut buf = vec![0u8; 2048];
    for k in 0..sent {
        let n = peer.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &frame(1500, k as u8)[..]);
    }
}

#[test]
fn rx_queue_reports_its_fd_and_mode() {
    let h = harness();
    let (fd, _peer) = pair();
    let raw = fd.raw();
    let (mut q, _) = rx_queue(&h, fd);
    assert_eq!(q.fd(), Some(raw));
    assert_eq!(q.mode(), rvpp_dataplane::interface::RxMode::Adaptive);
    q.set_mode(rvpp_dataplane::interface::RxMode::Polling);
    assert_eq!(q.mode(), rvpp_dataplane::interface::RxMode::Polling);
    assert_eq!((q.sw_if_index(), q.queue_id()), (SW, 0));
}

/// Runs `f` on a thread of its own in a new network namespace; where the
/// host cannot make one (no CAP_SYS_ADMIN) the test is skipped, and says so.
fn in_private_netns(test: &str, f: impl FnOnce() + Send + 'static) {
    let t = std::thread::spawn(move || {
        sys::enter_private_netns()?;
        f();
        Ok::<(), std::io::Error>(())
    });
    match t.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("{test}: SKIPPED: cannot make a network namespace ({e}): needs CAP_SYS_ADMIN"),
        Err(p) => std::panic::resume_unwind(p),
    }
}

#[test]
fn a_numbered_host_name_gives_all_queues_one_device() {
    in_private_netns("a_numbered_host_name_gives_all_queues_one_device", || {
        if !std::path::Path::new(sys::TUN_PATH).exists() {
            eprintln!("a_numbered_host_name_gives_all_queues_one_device: SKIPPED: no {}", sys::TUN_PATH);
            return;
        }
        let (fds, name) = open_queues("hx31t%d", 3).expect("open");
        assert_eq!(fds.len(), 3);
        assert_eq!(name, "hx31t0", "the kernel's name for the device");
        assert!(sys::if_exists("hx31t0"));
        assert!(!sys::if_exists("hx31t1") && !sys::if_exists("hx31t2"), "one device, three queues");
    });
}
