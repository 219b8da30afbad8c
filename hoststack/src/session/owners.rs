//! Which thread owns each session: a 5-tuple → thread index shared by
//! every thread's [`super::SessionTable`], so an input node that finds no
//! session for a packet can tell whether another thread has it (and hand
//! the packet there) or nobody does.
//!
//! A table writes its sessions' tuples here as it makes them (active
//! opens, accepted handshakes, connected UDP sessions) and takes them out
//! as it frees them; input nodes read it only on a lookup miss, so the
//! per-packet path of a session's own thread never comes here. With one
//! thread it stays off: nothing is written or read.
//!
//! Shards of small hash maps behind their own locks: a writer holds one
//! shard for one insert or removal, and two threads contend only when
//! their tuples fall in the same shard at the same moment.
//!
//! A lookup takes no lock for a tuple nobody has (a SYN to a listener, a
//! segment answered with a RST: the common misses): a counting filter of
//! atomics, one count per slot of the tuples' hashes, says "nobody" when
//! its slot counts none. Counts move under the shard's lock with the map,
//! so a lookup that reads 0 is one the insert has not reached yet or the
//! removal has passed, the same answer the map would give then. Only a
//! tuple somebody has (a hand-off follows) or a slot shared with one
//! takes the shard's lock.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use hashbrown::{DefaultHashBuilder, HashMap};

use super::FiveTuple;
use crate::nodes::lock;

/// Shards (a power of two).
const SHARDS: usize = 64;
/// Slots of the lookup filter (a power of two): 1 MiB of counts, so even
/// 100,000 tuples leave most slots empty.
const FILTER_SLOTS: usize = 1 << 18;

/// The shared tuple → owning thread index.
pub struct Owners {
    shards: Box<[Mutex<HashMap<FiveTuple, u32>>]>,
    /// Per slot of the tuples' hashes, how many are in the maps.
    filter: Box<[AtomicU32]>,
    hasher: DefaultHashBuilder,
    active: AtomicBool,
}

impl Default for Owners {
    fn default() -> Self {
        Owners {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            filter: (0..FILTER_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            hasher: DefaultHashBuilder::default(),
            active: AtomicBool::new(false),
        }
    }
}

impl Owners {
    /// Whether more than one thread has a table (the index is kept).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Turns the index on (a second thread got a table). Tables are made
    /// as the engine builds its threads, before any session exists.
    pub fn activate(&self) {
        self.active.store(true, Ordering::Relaxed);
    }

    /// The shard of `t` and its filter count (the hash's low bits pick
    /// the one, its high bits the other).
    fn place(&self, t: &FiveTuple) -> (&Mutex<HashMap<FiveTuple, u32>>, &AtomicU32) {
        let h = self.hasher.hash_one(t);
        (&self.shards[h as usize % SHARDS], &self.filter[(h >> 32) as usize % FILTER_SLOTS])
    }

    /// Records that `thread` owns the session of `t` (replacing an older
    /// owner: the newest session of a tuple is the live one).
    pub fn insert(&self, t: FiveTuple, thread: usize) {
        let (shard, count) = self.place(&t);
        let mut s = lock(shard);
        if s.insert(t, thread as u32).is_none() {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets `t` if `thread` still owns it (another thread may have
    /// made a session of the same tuple since).
    pub fn remove(&self, t: &FiveTuple, thread: usize) {
        let (shard, count) = self.place(t);
        let mut s = lock(shard);
        if s.get(t) == Some(&(thread as u32)) {
            s.remove(t);
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The thread owning the session of `t`, if any; no lock is taken
    /// when no tuple of its filter slot is recorded.
    pub fn owner(&self, t: &FiveTuple) -> Option<usize> {
        let (shard, count) = self.place(t);
        if count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        lock(shard).get(t).map(|&o| o as usize)
    }

    /// Tuples recorded.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no tuple is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;

    fn tcp(port: u16) -> FiveTuple {
        FiveTuple::tcp(SocketAddr::from(([10, 0, 0, 1], port)), SocketAddr::from(([10, 0, 0, 2], 80)))
    }

    #[test]
    fn owner_follows_inserts_and_removes() {
        let o = Owners::default();
        assert!(!o.active());
        o.activate();
        assert!(o.active());
        assert_eq!(o.owner(&tcp(1)), None);
        o.insert(tcp(1), 2);
        o.insert(tcp(2), 1);
        assert_eq!((o.owner(&tcp(1)), o.owner(&tcp(2))), (Some(2), Some(1)));
        // Same ports, other protocol or family: other tuples.
        let mut u = tcp(1);
        u.proto = super::super::PROTO_UDP;
        assert_eq!(o.owner(&u), None);
        let v6 = FiveTuple::tcp("[fd00::1]:1".parse().unwrap(), "[fd00::2]:80".parse().unwrap());
        assert_eq!(o.owner(&v6), None);
        o.remove(&tcp(1), 2);
        assert_eq!(o.owner(&tcp(1)), None);
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn an_old_owner_cannot_remove_a_newer_one() {
        let o = Owners::default();
        o.insert(tcp(7), 1);
        // Thread 2 made a session of the same tuple (1's is in TIME_WAIT).
        o.insert(tcp(7), 2);
        o.remove(&tcp(7), 1);
        assert_eq!(o.owner(&tcp(7)), Some(2));
        o.remove(&tcp(7), 2);
        assert!(o.is_empty());
    }

    #[test]
    fn a_table_records_its_sessions_while_active_and_forgets_them_once_freed() {
        use super::super::echo::EchoServer;
        use super::super::tests::Wire;
        use super::super::{SessionIndex, SessionTable};

        let o = Arc::new(Owners::default());
        let mut t = SessionTable::new(2, crate::tcp::Config::default());
        t.set_owners(o.clone());
        let app = t.attach(Box::new(EchoServer::default()));
        let (local, remote) = ("10.0.0.1".parse().unwrap(), SocketAddr::from(([10, 0, 0, 2], 7)));
        // One thread: nothing is written.
        t.connect_udp(app, local, remote, 1).unwrap();
        assert!(o.is_empty());

        o.activate();
        let tcp = t.connect(0, app, local, remote, 1).unwrap();
        let udp = t.connect_udp(app, local, remote, 1).unwrap();
        let tuple = |i: SessionIndex| t.session(i).unwrap().tuple;
        let (tt, ut) = (tuple(tcp), tuple(udp));
        assert_eq!((o.owner(&tt), o.owner(&ut)), (Some(2), Some(2)));
        // Reset and closed: freed, and gone from the index.
        assert!(t.abort(tcp));
        t.detach(app);
        let mut wire = Wire { room: 100, ..Default::default() };
        for _ in 0..3 {
            t.poll(0, &mut wire);
        }
        assert!(t.is_empty(), "{:?}", t.sessions(false));
        assert_eq!((o.owner(&tt), o.owner(&ut)), (None, None));
    }

    #[test]
    fn a_queued_handshake_is_owned_until_it_expires_or_becomes_a_session() {
        use super::super::echo::EchoServer;
        use super::super::tests::Wire;
        use super::super::{SessionTable, PROTO_TCP};
        use crate::tcp::{Flags, Seq, TcpRepr};

        const S: u64 = 1_000_000_000;
        let o = Arc::new(Owners::default());
        o.activate();
        let mut t = SessionTable::new(1, crate::tcp::Config::default());
        t.set_owners(o.clone());
        let app = t.attach(Box::new(EchoServer::default()));
        let local = SocketAddr::from(([10, 0, 0, 1], 80));
        t.listen(app, PROTO_TCP, local).unwrap();
        let mut wire = Wire { room: 1000, ..Default::default() };
        let syn = |port: u16| TcpRepr {
            src_port: port,
            dst_port: 80,
            seq: Seq(1000),
            flags: Flags::SYN,
            mss: Some(1460),
            window: 65535,
            ..TcpRepr::default()
        };
        let tuple = |port: u16| FiveTuple::tcp(local, SocketAddr::from(([10, 0, 0, 2], port)));
        // Two handshakes queued at 0 and 10 s: both this thread's.
        assert!(t.tcp_input(0, tuple(5000), 1, &syn(5000), &[], &mut wire));
        assert!(t.tcp_input(10 * S, tuple(5001), 1, &syn(5001), &[], &mut wire));
        assert_eq!((o.owner(&tuple(5000)), o.owner(&tuple(5001))), (Some(1), Some(1)));
        // The table wakes when the first one's time is up, after the
        // listener gave up on it (SYN-ACKs resent at 1, 3, 7... 63 s, given
        // up at 123 s).
        let mut now = 0;
        while o.owner(&tuple(5000)).is_some() && now < 1000 * S {
            now = t.next_deadline().expect("a deadline while a handshake is recorded").max(now + 1);
            t.poll(now, &mut wire);
        }
        assert!((123 * S..133 * S).contains(&now), "forgotten at {now} ns");
        assert!(t.is_empty());
        assert_eq!((o.owner(&tuple(5000)), o.owner(&tuple(5001))), (None, Some(1)));
        // A handshake that completes stays owned as the session.
        let synack = wire.packets.iter().rev().find_map(|(_, p)| {
            let r = super::super::tests::receive(p);
            (r.0 == FiveTuple::tcp(tuple(5001).remote, local)).then_some(r.1)
        });
        let synack = synack.expect("a SYN-ACK to port 5001");
        let ack = TcpRepr {
            src_port: 5001,
            dst_port: 80,
            seq: Seq(1001),
            ack: synack.seq + 1,
            flags: Flags::ACK,
            window: 65535,
            ..TcpRepr::default()
        };
        assert!(t.tcp_input(now, tuple(5001), 1, &ack, &[], &mut wire));
        assert_eq!(t.len(), 1);
        for _ in 0..100 {
            now = t.next_deadline().map_or(now + 10 * S, |d| d.max(now + 1));
            t.poll(now, &mut wire);
        }
        assert_eq!(o.owner(&tuple(5001)), Some(1), "the session's tuple went with the handshake's record");
    }

    /// A table of thread 1 listening on 10.0.0.1:80, sharing `o`.
    fn listening(o: &Arc<Owners>) -> super::super::SessionTable {
        use super::super::echo::EchoServer;
        use super::super::{SessionTable, PROTO_TCP};

        let mut t = SessionTable::new(1, crate::tcp::Config::default());
        t.set_owners(o.clone());
        let app = t.attach(Box::new(EchoServer::default()));
        t.listen(app, PROTO_TCP, SocketAddr::from(([10, 0, 0, 1], 80))).unwrap();
        t
    }

    fn segment(port: u16, seq: u32, flags: crate::tcp::Flags) -> crate::tcp::TcpRepr {
        crate::tcp::TcpRepr {
            src_port: port,
            dst_port: 80,
            seq: crate::tcp::Seq(seq),
            flags,
            mss: flags.syn().then_some(1460),
            window: 65535,
            ..crate::tcp::TcpRepr::default()
        }
    }

    fn from(port: u16) -> FiveTuple {
        FiveTuple::tcp(SocketAddr::from(([10, 0, 0, 1], 80)), SocketAddr::from(([10, 0, 0, 2], port)))
    }

    #[test]
    fn handshakes_reset_at_once_leave_no_record_and_a_flood_is_capped() {
        use super::super::tests::Wire;
        use crate::tcp::Flags;

        let o = Arc::new(Owners::default());
        o.activate();
        let mut t = listening(&o);
        let mut wire = Wire { room: usize::MAX, ..Default::default() };
        // A SYN, then a RST for it, from a new port each time: the listener
        // drops each handshake at once, and so goes its record.
        for port in 1000..6000 {
            assert!(t.tcp_input(0, from(port), 1, &segment(port, 7, Flags::SYN), &[], &mut wire));
            assert_eq!(o.owner(&from(port)), Some(1));
            t.tcp_input(0, from(port), 1, &segment(port, 8, Flags::RST), &[], &mut wire);
            wire.packets.clear();
        }
        assert_eq!((o.len(), t.half_open_owned()), (0, 0));
        // SYNs never answered: the listener queues 1024 and answers the
        // rest with cookies (no state): no more records than it holds.
        for port in 10_000..13_000 {
            t.tcp_input(0, from(port), 1, &segment(port, 7, Flags::SYN), &[], &mut wire);
            wire.packets.clear();
        }
        assert_eq!((o.len(), t.half_open_owned()), (1024, 1024));
        assert_eq!(t.listeners()[0].half_open, 1024);
        // Given up by the listener (or unlistened): forgotten.
        let mut now = 0;
        while t.listeners()[0].half_open > 0 && now < 1000 * 1_000_000_000 {
            now = t.next_deadline().expect("handshakes queued").max(now + 1);
            t.poll(now, &mut wire);
            wire.packets.clear();
        }
        assert_eq!((o.len(), t.half_open_owned()), (0, 0));
        t.tcp_input(now, from(20_000), 1, &segment(20_000, 7, Flags::SYN), &[], &mut wire);
        assert_eq!(o.len(), 1);
        t.clear_listeners_and_apps();
        assert!(o.is_empty());
    }

    #[test]
    fn a_handshake_of_a_tuple_seen_before_keeps_its_record_while_queued() {
        use super::super::tests::Wire;
        use crate::tcp::Flags;

        const S: u64 = 1_000_000_000;
        let o = Arc::new(Owners::default());
        o.activate();
        let mut t = listening(&o);
        let mut wire = Wire { room: usize::MAX, ..Default::default() };
        t.tcp_input(0, from(5000), 1, &segment(5000, 7, Flags::SYN), &[], &mut wire);
        t.tcp_input(S, from(5000), 1, &segment(5000, 8, Flags::RST), &[], &mut wire);
        assert_eq!(o.owner(&from(5000)), None);
        // The same tuple again a minute later: queued, recorded, and kept
        // as long as the listener holds it, past the first one's lifetime.
        t.tcp_input(60 * S, from(5000), 1, &segment(5000, 90_000, Flags::SYN), &[], &mut wire);
        let mut now = 60 * S;
        while t.listeners()[0].half_open > 0 && now < 1000 * S {
            assert_eq!(o.owner(&from(5000)), Some(1), "at {now} ns");
            now = t.next_deadline().expect("a handshake queued").max(now + 1);
            t.poll(now, &mut wire);
        }
        assert!(now > 180 * S, "given up at {now} ns");
        assert_eq!(o.owner(&from(5000)), None);
    }

    #[test]
    fn a_lookup_of_a_tuple_nobody_has_takes_no_lock() {
        let o = Arc::new(Owners::default());
        let (absent, present) = (tcp(1), tcp(2));
        o.insert(present, 3);
        // Every shard held by another thread: the miss still answers.
        let guards: Vec<_> = o.shards.iter().map(|s| s.lock().unwrap()).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let o2 = o.clone();
        std::thread::spawn(move || {
            let _ = tx.send(o2.owner(&absent));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        drop(guards);
        assert_eq!(got, Ok(None), "the lookup waited for a shard's lock");
        // The filter counts each tuple once and follows removals.
        assert_eq!(o.owner(&present), Some(3));
        o.insert(present, 4);
        o.remove(&present, 4);
        assert_eq!(o.owner(&present), None);
        assert!(o.filter.iter().all(|c| c.load(Ordering::Relaxed) == 0), "a count left behind");
    }

    #[test]
    fn threads_write_and_read_at_once() {
        let o = Arc::new(Owners::default());
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let o = o.clone();
                std::thread::spawn(move || {
                    for p in 0..2000u16 {
                        let tu = tcp(t * 10_000 + p);
                        o.insert(tu, t as usize);
                        assert_eq!(o.owner(&tu), Some(t as usize));
                        if p % 2 == 0 {
                            o.remove(&tu, t as usize);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(o.len(), 4 * 1000);
        assert_eq!(o.owner(&tcp(30_001)), Some(3));
        assert_eq!(o.owner(&tcp(30_000)), None);
    }
}
