//! Neighbors: which MAC address answers for an IP address on a link. IPv4
//! asks and answers with ARP (`arp-input`, `ip4-glean`, in [`arp`]), IPv6
//! with Neighbor Discovery (`ip6-nd`, `ip6-glean`, in [`nd`]); both glean
//! nodes are one generic node ([`glean`]), and so are `arp-input` and
//! `ip6-nd`: the node ([`input`]) parses, checks the interface, learns and
//! sends answers back; the protocol decides.
//!
//! The table ([`NeighborTable`], in the engine's extensions) belongs to the
//! main thread. Every change goes to the FIB ([`Fib::neighbor`]), which
//! turns adjacencies into rewrites and installs the host route. Workers
//! never touch the table: a node that hears a neighbor hands it to the main
//! thread through a [`Learner`] (a per-thread cache of what it already
//! posted, plus a rate cap), and reads the small published
//! [`NeighborShared`] (a generation number that tells it when entries were
//! removed, and how often to refresh what it keeps hearing). Packets the
//! nodes send carry the sub-interface's VLAN tags from the published
//! sub-interface table ([`l2_header`]), or, for replies, the tags of the
//! frame they answer ([`push_l2`]).
//!
//! Dynamic entries age (`set ip neighbor-config ... age`, 300 s by
//! default): an aged entry is probed with a unicast request at its MAC and
//! removed if it does not answer within [`PROBE_WAIT`]. They are capped per
//! family (`limit`, 50 000 by default; beyond it new dynamic entries are
//! refused and counted, or the oldest is recycled). The aging task is
//! registered the first time the main thread touches the table (the first
//! learned neighbor or neighbor command).
//!
//! Commands (VPP's names and layout) are in [`commands`].

pub mod arp;
pub mod commands;
pub mod glean;
pub mod input;
pub mod nd;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use rvpp_dataplane::buffer::{HEADROOM, TX};
use rvpp_dataplane::device::{ErrorDrop, InterfaceOutput};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::{IfSnapshot, InterfaceTable};
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::{BufferIndex, SwIfIndex, Vm};

use crate::ethernet::ethertype;
use crate::ethernet::sub::{SubTable, Subs};
use crate::ip::addr::{IfAddrTable, IfAddrs};
use crate::ip::addr_bits;
use crate::ip::fib::{fib, Fib};

/// Seconds a dynamic entry lives without being heard from (default).
pub const AGE_DEFAULT: u32 = 300;
/// Dynamic entries per family (default).
pub const LIMIT_DEFAULT: u32 = 50_000;

/// (ip6, sw_if_index, address bits): v4 entries sort first.
pub type NeighborKey = (bool, u32, u128);

/// One neighbor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    pub mac: [u8; 6],
    pub is_static: bool,
    /// Engine uptime (seconds) when it was last added, changed or heard.
    pub updated: f64,
    /// When it was probed for having aged (a unicast request); it goes if
    /// it does not answer within [`PROBE_WAIT`].
    pub probed: Option<f64>,
}

/// Seconds an aged neighbor has to answer its probe.
pub const PROBE_WAIT: f64 = 3.0;

/// `set ip neighbor-config` for one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FamilyConfig {
    /// Most dynamic entries.
    pub limit: u32,
    /// Seconds before an unrefreshed dynamic entry is removed; 0: never.
    pub age: u32,
    /// At the limit, replace the oldest dynamic entry instead of refusing.
    pub recycle: bool,
}

impl Default for FamilyConfig {
    fn default() -> Self {
        FamilyConfig { limit: LIMIT_DEFAULT, age: AGE_DEFAULT, recycle: false }
    }
}

/// What the nodes read of the control plane.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NeighborShared {
    /// Bumped whenever entries are removed: learners forget their caches.
    pub generation: u64,
    /// How often a learner re-posts a neighbor it keeps hearing from, so
    /// that it does not age out (0: the default, 60 s).
    pub refresh_secs: u32,
}

/// The published [`NeighborShared`].
pub type NeighborPub = Published<NeighborShared>;

/// What [`NeighborTable::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    New,
    /// Known with another MAC: updated.
    Changed,
    /// Known with this MAC: its time refreshed.
    Refreshed,
    /// A static entry: left alone.
    Static,
    /// Table full (or the interface is gone): not learned.
    Refused,
    /// A refresh for a neighbor not in the table: ignored.
    NotKnown,
    /// Known with another MAC, which the message may not replace (an
    /// advertisement without the override flag): left alone.
    Kept,
}

/// What hearing a neighbor may change in the table (RFC 4861 7.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    /// It may create the entry (ARP, a solicitation's source link-layer
    /// option, an advertisement answering a solicitation); else only a
    /// known entry is touched.
    pub create: bool,
    /// It may replace a known entry's different MAC; else that entry is
    /// left as it is (an advertisement without the override flag or
    /// without a link-layer option).
    pub replace: bool,
}

impl Heard {
    /// Creates the entry or replaces its MAC.
    pub const LEARN: Heard = Heard { create: true, replace: true };
    /// Refreshes or updates a known entry only.
    pub const REFRESH: Heard = Heard { create: false, replace: true };
}

/// What [`NeighborTable::age`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aged {
    /// Entries removed: aged and probed without answer, or their interface
    /// is gone.
    pub removed: usize,
    /// Entries that aged now: to probe at the MAC they had.
    pub probes: Vec<(NeighborKey, [u8; 6])>,
}

/// Errors of configured changes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NeighborError {
    #[error("{0} is not a unicast address")]
    NotUnicast(IpAddr),
    #[error("no such interface (sw_if_index {0})")]
    NoInterface(u32),
    #[error("the {0} neighbor table is full ({1} dynamic entries)")]
    Full(&'static str, u32),
}

/// The neighbor table (main thread only).
#[derive(Default)]
pub struct NeighborTable {
    entries: BTreeMap<NeighborKey, Neighbor>,
    config: [FamilyConfig; 2],
    dynamic: [usize; 2],
    refused: [u64; 2],
    generation: u64,
    shared: NeighborPub,
    started: bool,
}

pub(crate) fn family(ip6: bool) -> &'static str {
    if ip6 {
        "ip6"
    } else {
        "ip4"
    }
}

impl NeighborTable {
    /// The table the nodes read.
    pub fn shared(&self) -> NeighborPub {
        self.shared.clone()
    }

    /// A neighbor.
    pub fn get(&self, ip6: bool, sw: u32, addr: u128) -> Option<&Neighbor> {
        self.entries.get(&(ip6, sw, addr))
    }

    /// All entries in (family, interface, address) order.
    pub fn iter(&self) -> impl Iterator<Item = (&NeighborKey, &Neighbor)> {
        self.entries.iter()
    }

    /// Number of entries (static and dynamic).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Dynamic entries of a family.
    pub fn dynamic_count(&self, ip6: bool) -> usize {
        self.dynamic[ip6 as usize]
    }

    /// New dynamic entries refused because the family's table was full.
    pub fn refused(&self, ip6: bool) -> u64 {
        self.refused[ip6 as usize]
    }

    pub fn config(&self, ip6: bool) -> FamilyConfig {
        self.config[ip6 as usize]
    }

    pub fn set_config(&mut self, ip6: bool, c: FamilyConfig) {
        self.config[ip6 as usize] = c;
    }

    /// A neighbor heard on the wire (ARP, ND).
    pub fn learn(&mut self, fib: &mut Fib, ifs: &InterfaceTable, key: NeighborKey, mac: [u8; 6], now: f64) -> Learned {
        let (ip6, sw, addr) = key;
        if ifs.get(SwIfIndex(sw)).is_none() {
            return Learned::Refused;
        }
        if let Some(n) = self.entries.get_mut(&key) {
            if n.is_static {
                return Learned::Static;
            }
            n.updated = now;
            n.probed = None;
            if n.mac == mac {
                return Learned::Refreshed;
            }
            n.mac = mac;
            fib.neighbor(ifs, ip6, sw, addr, Some(mac));
            return Learned::Changed;
        }
        let f = ip6 as usize;
        if self.dynamic[f] >= self.config[f].limit as usize
            && !(self.config[f].recycle && self.evict_oldest(fib, ifs, ip6))
        {
            self.refused[f] += 1;
            return Learned::Refused;
        }
        self.entries.insert(key, Neighbor { mac, is_static: false, updated: now, probed: None });
        self.dynamic[f] += 1;
        fib.neighbor(ifs, ip6, sw, addr, Some(mac));
        Learned::New
    }

    /// A neighbor heard again that may not create an entry: refreshes (or
    /// updates) a known one only.
    pub fn refresh(
        &mut self,
        fib: &mut Fib,
        ifs: &InterfaceTable,
        key: NeighborKey,
        mac: [u8; 6],
        now: f64,
    ) -> Learned {
        self.heard(fib, ifs, key, mac, Heard::REFRESH, now)
    }

    /// A neighbor heard on the wire, changing what `heard` allows: an entry
    /// it may not create is not made, a MAC it may not replace is kept (and
    /// the entry not refreshed: it has to answer its probe when it ages).
    pub fn heard(
        &mut self,
        fib: &mut Fib,
        ifs: &InterfaceTable,
        key: NeighborKey,
        mac: [u8; 6],
        heard: Heard,
        now: f64,
    ) -> Learned {
        match self.entries.get(&key) {
            None if !heard.create => Learned::NotKnown,
            Some(n) if !heard.replace && !n.is_static && n.mac != mac => Learned::Kept,
            _ => self.learn(fib, ifs, key, mac, now),
        }
    }

    /// A configured neighbor (`set ip neighbor`): static, or dynamic (it
    /// then ages like a learned one). Replaces an existing entry.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        fib: &mut Fib,
        ifs: &InterfaceTable,
        a: IpAddr,
        sw: u32,
        mac: [u8; 6],
        is_static: bool,
        now: f64,
    ) -> Result<(), NeighborError> {
        let unicast = match a {
            IpAddr::V4(v) => !(v.is_unspecified() || v.is_multicast() || v.is_broadcast()),
            IpAddr::V6(v) => !(v.is_unspecified() || v.is_multicast()),
        };
        if !unicast {
            return Err(NeighborError::NotUnicast(a));
        }
        if ifs.get(SwIfIndex(sw)).is_none() {
            return Err(NeighborError::NoInterface(sw));
        }
        let (ip6, addr) = addr_bits(a);
        let f = ip6 as usize;
        let key = (ip6, sw, addr);
        let was = self.entries.get(&key).copied();
        let dynamic_before = was.is_some_and(|n| !n.is_static);
        if !is_static && !dynamic_before && self.dynamic[f] >= self.config[f].limit as usize {
            return Err(NeighborError::Full(family(ip6), self.config[f].limit));
        }
        self.dynamic[f] = self.dynamic[f] - dynamic_before as usize + !is_static as usize;
        self.entries.insert(key, Neighbor { mac, is_static, updated: now, probed: None });
        fib.neighbor(ifs, ip6, sw, addr, Some(mac));
        Ok(())
    }

    /// Removes an entry (static or dynamic); false when there was none.
    pub fn remove(&mut self, fib: &mut Fib, ifs: &InterfaceTable, ip6: bool, sw: u32, addr: u128) -> bool {
        let Some(n) = self.entries.remove(&(ip6, sw, addr)) else { return false };
        if !n.is_static {
            self.dynamic[ip6 as usize] -= 1;
        }
        self.generation += 1;
        fib.neighbor(ifs, ip6, sw, addr, None);
        true
    }

    /// Removes every entry, static ones too, of a deleted interface.
    pub fn forget_interface(&mut self, fib: &mut Fib, ifs: &InterfaceTable, sw: u32) -> usize {
        let keys: Vec<NeighborKey> = self.entries.keys().filter(|k| k.1 == sw).copied().collect();
        for &(f, s, a) in &keys {
            self.remove(fib, ifs, f, s, a);
        }
        keys.len()
    }

    /// Removes the dynamic entries of a family and/or interface
    /// (`clear ip neighbors`); returns how many.
    pub fn flush(&mut self, fib: &mut Fib, ifs: &InterfaceTable, ip6: Option<bool>, sw: Option<u32>) -> usize {
        let keys: Vec<NeighborKey> = self
            .entries
            .iter()
            .filter(|(k, n)| !n.is_static && ip6.is_none_or(|f| f == k.0) && sw.is_none_or(|s| s == k.1))
            .map(|(k, _)| *k)
            .collect();
        for &(f, s, a) in &keys {
            self.remove(fib, ifs, f, s, a);
        }
        keys.len()
    }

    /// Ages the table at `now`: a dynamic entry not heard from for its
    /// family's age is probed (returned in [`Aged::probes`]) and removed
    /// when it has not answered [`PROBE_WAIT`] seconds later; entries of a
    /// deleted interface are removed.
    pub fn age(&mut self, fib: &mut Fib, ifs: &InterfaceTable, now: f64) -> Aged {
        let cfg = self.config;
        let mut out = Aged::default();
        let mut gone = Vec::new();
        for (k, n) in self.entries.iter_mut() {
            if ifs.get(SwIfIndex(k.1)).is_none() {
                gone.push(*k);
                continue;
            }
            let age = cfg[k.0 as usize].age;
            if n.is_static || age == 0 || now - n.updated < age as f64 {
                continue;
            }
            match n.probed {
                None => {
                    n.probed = Some(now);
                    out.probes.push((*k, n.mac));
                }
                Some(t) if now - t >= PROBE_WAIT => gone.push(*k),
                Some(_) => {}
            }
        }
        for &(f, s, a) in &gone {
            self.remove(fib, ifs, f, s, a);
        }
        out.removed = gone.len();
        out
    }

    /// Removes the least recently updated dynamic entry of a family.
    fn evict_oldest(&mut self, fib: &mut Fib, ifs: &InterfaceTable, ip6: bool) -> bool {
        let oldest = self
            .entries
            .iter()
            .filter(|(k, n)| k.0 == ip6 && !n.is_static)
            .min_by(|a, b| a.1.updated.total_cmp(&b.1.updated))
            .map(|(k, _)| *k);
        match oldest {
            Some((f, s, a)) => self.remove(fib, ifs, f, s, a),
            None => false,
        }
    }

    /// Publishes what the nodes read when it changed.
    pub fn publish(&mut self) {
        let refresh_secs =
            self.config.iter().map(|c| if c.age == 0 { 60 } else { (c.age / 4).clamp(1, 60) }).min().unwrap_or(60);
        let now = NeighborShared { generation: self.generation, refresh_secs };
        if *self.shared.load() != now {
            self.shared.store(now);
        }
    }
}

/// Runs `f` on the table with the FIB and the interfaces, then publishes.
/// The first call starts the aging task.
/// Drops a deleted interface's neighbors, static ones too.
pub(crate) fn forget_interface(e: &mut Engine, sw: rvpp_dataplane::SwIfIndex) {
    with_table(e, |t, f, ifs| t.forget_interface(f, ifs, sw.0));
}

pub(crate) fn with_table<R>(e: &mut Engine, f: impl FnOnce(&mut NeighborTable, &mut Fib, &InterfaceTable) -> R) -> R {
    let mut t = std::mem::take(e.ext.get_or_default::<NeighborTable>());
    if !t.started {
        t.started = true;
        e.add_periodic("neighbor-age", Duration::from_secs(1), age_tick);
    }
    let Engine { ext, interfaces, .. } = e;
    let r = f(&mut t, fib(ext), interfaces);
    t.publish();
    *ext.get_or_default::<NeighborTable>() = t;
    r
}

/// A neighbor heard by a node (runs on the main thread, posted by a
/// [`Learner`]), changing what `heard` allows.
pub fn learn(e: &mut Engine, key: NeighborKey, mac: [u8; 6], heard: Heard) -> Learned {
    let now = e.uptime();
    with_table(e, |t, f, ifs| t.heard(f, ifs, key, mac, heard, now))
}

/// The aging task (every second): ages the table and sends the probes.
fn age_tick(e: &mut Engine) {
    let now = e.uptime();
    let aged = with_table(e, |t, f, ifs| t.age(f, ifs, now));
    for ((ip6, sw, addr), mac) in aged.probes {
        probe(e, ip6, sw, addr, mac);
    }
}

/// Sends a unicast ARP request / Neighbor Solicitation to a neighbor at
/// the MAC it had, from the main thread's graph.
fn probe(e: &mut Engine, ip6: bool, sw: u32, addr: u128, mac: [u8; 6]) -> bool {
    let addrs = e.ext.get_or_default::<IfAddrTable>().load();
    let subs = e.ext.get_or_default::<Subs>().load();
    let ifs = e.local.vm.ifs.clone();
    if !ifs.is_up(sw) {
        return false;
    }
    let mut frame = [0u8; REQUEST_MAX];
    let Ok(n) = build_request(&ifs, &subs, &addrs, ip6, sw, addr, Some(mac), &mut frame) else { return false };
    send_frame(e, sw, &frame[..n])
}

/// Sends a whole Ethernet frame out of `sw` from the main thread's graph.
fn send_frame(e: &mut Engine, sw: u32, frame: &[u8]) -> bool {
    let Some(out) = e.local.graph.node_index(InterfaceOutput::NAME) else { return false };
    let Some(bi) = e.local.vm.bufs.alloc_one() else { return false };
    e.local.vm.bufs.fill(bi, frame, sw);
    e.local.vm.bufs.meta_mut(bi).sw_if_index[TX] = sw;
    if !e.local.graph.inject(out, bi) {
        e.local.vm.bufs.free_one(bi);
        return false;
    }
    true
}

/// Tells the link that `addr` is ours at the interface's MAC: a
/// gratuitous ARP request (sender and target both `addr`, broadcast), or
/// an unsolicited Neighbor Advertisement with the router and override
/// flags to all-nodes — so neighbors that cached an older MAC for it (a
/// restarted router, a changed `mac address`) update at once instead of
/// waiting for their entry to go stale. Only on an interface that is up.
pub fn announce_address(e: &mut Engine, sw: u32, ip6: bool, addr: u128) -> bool {
    let subs = e.ext.get_or_default::<Subs>().load();
    let ifs = e.local.vm.ifs.clone();
    let Some(mac) = ifs.ifs.get(sw as usize).filter(|_| ifs.is_up(sw)).map(|f| f.mac) else { return false };
    let mut frame = [0u8; REQUEST_MAX];
    let n = if ip6 {
        let dst_mac = [0x33, 0x33, 0, 0, 0, 1];
        let Ok(l2) = l2_header(&ifs, &subs, sw, dst_mac, ethertype::IP6, &mut frame) else { return false };
        let Ok(body) = <&mut [u8; nd::MSG_LEN]>::try_from(&mut frame[l2..l2 + nd::MSG_LEN]) else { return false };
        nd::build_advertisement(body, nd::ALL_NODES, nd::FLAG_ROUTER | nd::FLAG_OVERRIDE, addr, mac);
        l2 + nd::MSG_LEN
    } else {
        let Ok(l2) = l2_header(&ifs, &subs, sw, [0xff; 6], ethertype::ARP, &mut frame) else { return false };
        let Ok(body) = <&mut [u8; arp::LEN]>::try_from(&mut frame[l2..l2 + arp::LEN]) else { return false };
        arp::build_request(body, mac, addr as u32, addr as u32);
        (l2 + arp::LEN).max(60)
    };
    send_frame(e, sw, &frame[..n])
}

/// Announces every address of `sw` (and of its link-local one): an
/// [`InterfaceAnnounceHooks`](rvpp_dataplane::engine::InterfaceAnnounceHooks)
/// function, run when the interface comes up or changes its MAC.
pub fn announce(e: &mut Engine, sw: SwIfIndex) {
    let addrs = e.ext.get_or_default::<IfAddrTable>().load();
    let k = sw.0 as usize;
    let v4: Vec<u32> = addrs.v4.get(k).map(|l| l.iter().map(|x| x.0).collect()).unwrap_or_default();
    let mut v6: Vec<u128> = addrs.v6.get(k).map(|l| l.iter().map(|x| x.0).collect()).unwrap_or_default();
    if let Some(&ll) = addrs.ll.get(k).filter(|&&a| a != 0) {
        v6.push(ll);
    }
    for a in v4 {
        announce_address(e, sw.0, false, a as u128);
    }
    for a in v6 {
        announce_address(e, sw.0, true, a);
    }
}

/// Room for a request frame: Ethernet with two tags and an NS.
pub const REQUEST_MAX: usize = 22 + nd::MSG_LEN;

/// Why a request could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The interface has no address to ask from.
    NoSource,
    /// The interface (or its sub-interface match) does not exist.
    NoInterface,
}

/// Writes a whole request frame for `target` on `sw`: an ARP request, or a
/// Neighbor Solicitation with our link-layer address. Broadcast / to the
/// target's solicited-node group, or, with `unicast`, to that MAC (and, for
/// IPv6, to the target's address): a probe. Returns its length.
#[allow(clippy::too_many_arguments)]
pub fn build_request(
    ifs: &IfSnapshot,
    subs: &SubTable,
    addrs: &IfAddrs,
    ip6: bool,
    sw: u32,
    target: u128,
    unicast: Option<[u8; 6]>,
    out: &mut [u8; REQUEST_MAX],
) -> Result<usize, RequestError> {
    let mac = ifs.ifs.get(sw as usize).ok_or(RequestError::NoInterface)?.mac;
    if ip6 {
        let src = nd::source_for(addrs, sw, target).ok_or(RequestError::NoSource)?;
        let t = target.to_be_bytes();
        let dst_mac = unicast.unwrap_or([0x33, 0x33, 0xff, t[13], t[14], t[15]]);
        let l2 = l2_header(ifs, subs, sw, dst_mac, ethertype::IP6, out).map_err(|_| RequestError::NoInterface)?;
        let body = <&mut [u8; nd::MSG_LEN]>::try_from(&mut out[l2..l2 + nd::MSG_LEN])
            .map_err(|_| RequestError::NoInterface)?;
        let dst = if unicast.is_some() { target } else { crate::ip::solicited_node(target) };
        nd::build_solicitation(body, src, dst, target, mac);
        Ok(l2 + nd::MSG_LEN)
    } else {
        let src = arp::source_for(addrs, sw, target as u32).ok_or(RequestError::NoSource)?;
        let l2 = l2_header(ifs, subs, sw, unicast.unwrap_or([0xff; 6]), ethertype::ARP, out)
            .map_err(|_| RequestError::NoInterface)?;
        let body =
            <&mut [u8; arp::LEN]>::try_from(&mut out[l2..l2 + arp::LEN]).map_err(|_| RequestError::NoInterface)?;
        arp::build_request(body, mac, src, target as u32);
        // Padded to Ethernet's 60-byte minimum.
        Ok((l2 + arp::LEN).max(60))
    }
}

/// What a learner decided about a neighbor it heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learn {
    /// New, changed or due for a refresh: posted to the main thread.
    Post,
    /// Posted recently with the same MAC.
    Known,
    /// Over this thread's rate: not learned.
    RateLimited,
}

/// Posts per second one node of one thread may send the main thread.
const LEARN_RATE: f64 = 1000.0;
const LEARN_BURST: f64 = 64.0;
/// Entries a learner remembers before starting over.
const CACHE_MAX: usize = 16384;

/// A node's per-thread side of learning: what it already posted, and a
/// token bucket so that a flood of ARP cannot flood the main thread.
pub struct Learner {
    cache: HashMap<NeighborKey, ([u8; 6], u64)>,
    generation: u64,
    tokens: f64,
    last: u64,
    hz: f64,
}

impl Default for Learner {
    fn default() -> Self {
        Learner {
            cache: HashMap::new(),
            generation: 0,
            tokens: LEARN_BURST,
            last: 0,
            hz: rvpp_dataplane::arch::tsc_hz(),
        }
    }
}

impl Learner {
    /// Decides whether hearing `mac` for `key` at TSC `now` is news for the
    /// main thread (and, with `remember`, remembers it when it is).
    pub fn check(
        &mut self,
        now: u64,
        shared: &NeighborShared,
        key: NeighborKey,
        mac: [u8; 6],
        remember: bool,
    ) -> Learn {
        if shared.generation != self.generation {
            self.cache.clear();
            self.generation = shared.generation;
        }
        let secs = if shared.refresh_secs == 0 { 60 } else { shared.refresh_secs };
        let refresh = (secs as f64 * self.hz) as u64;
        if let Some(&(m, t)) = self.cache.get(&key) {
            if m == mac && now.wrapping_sub(t) < refresh {
                return Learn::Known;
            }
        }
        self.tokens = (self.tokens + now.saturating_sub(self.last) as f64 * LEARN_RATE / self.hz).min(LEARN_BURST);
        self.last = self.last.max(now);
        if self.tokens < 1.0 {
            return Learn::RateLimited;
        }
        self.tokens -= 1.0;
        if remember {
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
            self.cache.insert(key, (mac, now));
        }
        Learn::Post
    }

    /// Learns a neighbor heard (on `key`'s interface): posts it to the main
    /// thread when [`Learner::check`] says so. Only what may both create and
    /// replace is remembered here: after anything else the table may not
    /// hold `mac`, and a later post that may must not be taken for known.
    pub fn learn(&mut self, vm: &Vm, shared: &NeighborShared, key: NeighborKey, mac: [u8; 6], heard: Heard) -> Learn {
        let r = self.check(vm.now, shared, key, mac, heard == Heard::LEARN);
        if r == Learn::Post {
            vm.post(move |e: &mut Engine| {
                learn(e, key, mac, heard);
            });
        }
        r
    }
}

/// Where the neighbor nodes send a packet: dropped, or out of an interface.
#[repr(u16)]
#[derive(Clone, Copy)]
pub enum Next {
    Drop = 0,
    Output = 1,
}

/// The next nodes of [`Next`].
pub const NEXTS: [&str; 2] = [ErrorDrop::NAME, InterfaceOutput::NAME];

/// Counts `c` and drops.
pub(crate) fn drop(vm: &mut Vm, c: impl Into<usize>) -> Next {
    vm.count(c.into(), 1);
    Next::Drop
}

/// Why a node could not put an Ethernet header on a packet it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2Error {
    /// No destination MAC to send to.
    NoAddress,
    /// The interface (or its sub-interface match) does not exist.
    NoInterface,
    /// No headroom.
    NoRoom,
}

/// Writes the Ethernet header for sending on `sw` to `dst` into `out`: the
/// interface's MAC, a sub-interface's VLAN tags (the outer one 802.1Q or
/// 802.1ad as the sub-interface was created, an inner one 802.1Q, as the
/// FIB's rewrites), and `ethertype`. Returns its length.
pub fn l2_header(
    ifs: &IfSnapshot,
    subs: &SubTable,
    sw: u32,
    dst: [u8; 6],
    ethertype: u16,
    out: &mut [u8],
) -> Result<usize, L2Error> {
    let f = ifs.ifs.get(sw as usize).ok_or(L2Error::NoInterface)?;
    let mut tags = [0u8; 8];
    let mut nt = 0;
    if f.sup_sw_if_index != sw {
        let s = subs
            .by_parent
            .get(f.sup_sw_if_index as usize)
            .and_then(|l| l.iter().find(|s| s.sw_if_index == sw))
            .ok_or(L2Error::NoInterface)?;
        for (tpid, vid) in [(s.outer_tpid(), s.outer), (ethertype::VLAN, s.inner)] {
            if let Some(v) = vid {
                tags[nt..nt + 2].copy_from_slice(&tpid.to_be_bytes());
                tags[nt + 2..nt + 4].copy_from_slice(&v.to_be_bytes());
                nt += 4;
            }
        }
    }
    let n = 14 + nt;
    let h = out.get_mut(..n).ok_or(L2Error::NoRoom)?;
    h[..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&f.mac);
    h[12..n - 2].copy_from_slice(&tags[..nt]);
    h[n - 2..].copy_from_slice(&ethertype.to_be_bytes());
    Ok(n)
}

/// The length of the Ethernet header (with its VLAN tags) the packet was
/// received with, when it is still intact in front of the packet and
/// carried `ethertype`.
pub fn received_l2(vm: &Vm, bi: BufferIndex, ethertype: u16) -> Option<usize> {
    let m = vm.bufs.meta(bi);
    let hl = m.current_data as isize - m.l2_hdr_offset as isize;
    if !matches!(hl, 14 | 18 | 22) {
        return None;
    }
    let s = usize::try_from(HEADROOM as isize + m.l2_hdr_offset as isize).ok()?;
    let h = vm.bufs.raw(bi).get(s..s + hl as usize)?;
    let hl = hl as usize;
    let tagged_ok = hl == 14 || matches!(u16::from_be_bytes([h[12], h[13]]), 0x8100 | 0x88a8);
    (tagged_ok && h[hl - 2..] == ethertype.to_be_bytes()).then_some(hl)
}

/// The source MAC of the frame the packet came in, when its header is
/// intact (see [`received_l2`]).
pub fn received_src(vm: &Vm, bi: BufferIndex, ethertype: u16) -> Option<[u8; 6]> {
    received_l2(vm, bi, ethertype)?;
    let m = vm.bufs.meta(bi);
    let s = (HEADROOM as isize + m.l2_hdr_offset as isize) as usize;
    vm.bufs.raw(bi).get(s + 6..s + 12).and_then(|x| x.try_into().ok())
}

/// Puts an Ethernet header in front of a reply leaving on `sw` (the
/// interface it came in on) towards `dst` (`None`: back to the frame's
/// source). The received header is reused when it is intact, so the reply
/// carries the same VLAN tags; otherwise the header is built from the
/// interface.
pub fn push_l2(
    vm: &mut Vm,
    bi: BufferIndex,
    subs: &SubTable,
    sw: u32,
    dst: Option<[u8; 6]>,
    ethertype: u16,
) -> Result<(), L2Error> {
    let src = vm.ifs.ifs.get(sw as usize).ok_or(L2Error::NoInterface)?.mac;
    if let (Some(hl), Some(back)) = (received_l2(vm, bi, ethertype), received_src(vm, bi, ethertype)) {
        if vm.bufs.advance(bi, -(hl as i16)) {
            let d = vm.bufs.data_mut(bi);
            d[..6].copy_from_slice(&dst.unwrap_or(back));
            d[6..12].copy_from_slice(&src);
            let m = vm.bufs.meta_mut(bi);
            m.l2_hdr_offset = m.current_data;
            return Ok(());
        }
    }
    let dst = dst.ok_or(L2Error::NoAddress)?;
    let mut h = [0u8; 22];
    let n = l2_header(&vm.ifs, subs, sw, dst, ethertype, &mut h)?;
    if !vm.bufs.advance(bi, -(n as i16)) {
        return Err(L2Error::NoRoom);
    }
    vm.bufs.data_mut(bi)[..n].copy_from_slice(&h[..n]);
    let m = vm.bufs.meta_mut(bi);
    m.l2_hdr_offset = m.current_data;
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<NeighborTable>();
    arp::register(r);
    nd::register(r);
    glean::register(r);
    commands::register(r);
}

#[cfg(test)]
mod tests;
#[cfg(test)]
#[path = "wire_tests.rs"]
mod wire_tests;
