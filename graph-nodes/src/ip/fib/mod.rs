//! The FIB: routes from several sources per prefix, load-balances (ECMP
//! sets of adjacencies, shared between routes with the same paths) and
//! adjacencies (what to do with a packet: rewrite and send, resolve the
//! neighbor, deliver locally, drop).
//!
//! Workers read three things: the IPv4 [`Mtrie4`] (shared, updated in place
//! with atomic stores), the IPv6 [`Table6`] snapshot and the [`Forwarding`]
//! snapshot (load-balances and adjacencies), both published RCU style. A new
//! load-balance is always published before a trie leaf can name it.

pub mod commands;
pub mod mtrie4;
pub mod table6;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::interface::InterfaceTable;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::SwIfIndex;

pub use mtrie4::Mtrie4;
pub use table6::Table6;

use super::{bits_addr, mask};

/// What an adjacency does with a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AdjKind {
    /// No route: ICMP destination unreachable.
    Unreachable,
    /// Explicit drop.
    Drop,
    /// Addressed to rvpp: ip-local.
    Local,
    /// On a connected subnet, neighbor not known yet: resolve the
    /// destination (ARP/ND) and drop the packet (counted).
    Glean,
    /// Neighbor known: rewrite and send.
    Rewrite,
    /// Next hop's neighbor not known yet: resolve the next hop.
    Incomplete,
    /// To the host stack's punt path (counted drop for now).
    Punt,
}

/// The longest rewrite an adjacency holds (Ethernet + two VLAN tags = 22).
pub const REWRITE_MAX: usize = 24;

/// One adjacency.
#[derive(Clone, Debug)]
pub struct Adjacency {
    pub kind: AdjKind,
    pub ip6: bool,
    pub sw_if_index: u32,
    /// Next hop (Rewrite/Incomplete) or connected prefix (Glean).
    pub addr: u128,
    /// Connected prefix length (Glean).
    pub prefix_len: u8,
    /// Ethernet header (+ VLAN tags) to prepend, right-aligned: its last
    /// `rewrite_len` bytes, so the rewrite node copies all of it in two
    /// fixed-size moves whatever the length.
    pub rewrite: [u8; REWRITE_MAX],
    pub rewrite_len: u8,
    /// L3 MTU of the tx interface.
    pub mtu: u16,
    /// `mtu` for a complete rewrite adjacency, else 0: the rewrite node's
    /// one-compare fast test. Set by [`Forwarding::seal`].
    pub fast_mtu: u16,
}

impl Adjacency {
    pub(crate) fn new(kind: AdjKind, ip6: bool, sw: u32, addr: u128) -> Self {
        Adjacency {
            kind,
            ip6,
            sw_if_index: sw,
            addr,
            prefix_len: 0,
            rewrite: [0; REWRITE_MAX],
            rewrite_len: 0,
            mtu: 1500,
            fast_mtu: 0,
        }
    }
    /// The rewrite bytes.
    #[inline(always)]
    pub fn rewrite(&self) -> &[u8] {
        &self.rewrite[REWRITE_MAX - (self.rewrite_len as usize).min(REWRITE_MAX)..]
    }
    /// Sets the rewrite (at most [`REWRITE_MAX`] bytes are kept).
    pub fn set_rewrite(&mut self, rw: &[u8]) {
        let n = rw.len().min(REWRITE_MAX);
        self.rewrite = [0; REWRITE_MAX];
        self.rewrite[REWRITE_MAX - n..].copy_from_slice(&rw[..n]);
        self.rewrite_len = n as u8;
    }
}

/// A set of adjacencies a flow hash picks from; the bucket count is a
/// power of two.
#[derive(Clone, Debug, Default)]
pub struct LoadBalance {
    pub buckets: Vec<u32>,
}

impl LoadBalance {
    /// The adjacency for a flow hash.
    #[inline(always)]
    pub fn pick(&self, hash: u32) -> u32 {
        match self.buckets.len() {
            0 => ADJ_UNREACHABLE,
            1 => self.buckets[0],
            n => self.buckets[hash as usize & (n - 1)],
        }
    }
}

/// Load-balances and adjacencies as workers see them.
#[derive(Clone, Debug)]
pub struct Forwarding {
    pub lbs: Vec<LoadBalance>,
    pub adjs: Vec<Adjacency>,
    /// Per interface: the glean adjacency for IPv6 link-local destinations.
    pub ll_glean: Vec<u32>,
    /// Per load-balance, what the lookup needs when it has one bucket:
    /// `adjacency | kind << 32`, else [`LB_FAST_NONE`]. Derived from `lbs`
    /// and `adjs` by [`Forwarding::seal`] on publish; a missing entry means
    /// the full path.
    pub fast: Vec<u64>,
}

/// A [`Forwarding::fast`] entry that sends the lookup down the full path.
pub const LB_FAST_NONE: u64 = u64::MAX;

impl Forwarding {
    /// Derives `fast` from the load-balances and adjacencies, and each
    /// adjacency's `fast_mtu`.
    pub fn seal(&mut self) {
        for a in &mut self.adjs {
            a.fast_mtu = if a.kind == AdjKind::Rewrite && a.rewrite_len > 0 { a.mtu } else { 0 };
        }
        let adjs = &self.adjs;
        self.fast = self
            .lbs
            .iter()
            .map(|l| match l.buckets[..] {
                [ai] => adjs.get(ai as usize).map_or(LB_FAST_NONE, |a| ai as u64 | (a.kind as u64) << 32),
                _ => LB_FAST_NONE,
            })
            .collect();
    }
}

/// The adjacency of "no route".
pub const ADJ_UNREACHABLE: u32 = 0;
/// The adjacency of explicit drops.
pub const ADJ_DROP: u32 = 1;
/// The load-balance of "no route" (what the trie holds by default).
pub const LB_UNREACHABLE: u32 = 0;

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            lbs: vec![LoadBalance { buckets: vec![ADJ_UNREACHABLE] }],
            adjs: vec![
                Adjacency::new(AdjKind::Unreachable, false, u32::MAX, 0),
                Adjacency::new(AdjKind::Drop, false, u32::MAX, 0),
            ],
            ll_glean: Vec::new(),
            fast: Vec::new(),
        }
    }
}

/// Where a route sends packets.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Path {
    /// Via a next hop, optionally on a given interface.
    Via {
        nh: u128,
        sw: Option<u32>,
    },
    /// Attached to an interface (neighbors resolved per destination).
    Attached(u32),
    /// Addressed to rvpp on an interface.
    Local(u32),
    Drop,
    Punt,
}

/// Who installed a route; the lowest present source is active.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Source {
    /// An interface address (/32, /128).
    Local,
    /// A connected subnet.
    Interface,
    /// `ip route add`.
    Cli,
    /// A resolved neighbor on a connected subnet.
    AdjFib,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Interface => "interface",
            Source::Cli => "CLI",
            Source::AdjFib => "adjacency",
        }
    }
}

/// A prefix: family, masked address bits, length.
pub type Prefix = (bool, u128, u8);

/// Errors of route changes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FibError {
    #[error("prefix length {len} is longer than {max}")]
    BadLength { len: u8, max: u8 },
    #[error("no route to delete for {0}")]
    NoSuchRoute(String),
    #[error("address families of prefix and next hop differ")]
    FamilyMismatch,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct AdjKey {
    kind: AdjKind,
    ip6: bool,
    sw: u32,
    addr: u128,
}

/// IPv6 link-local neighbors by interface (VPP's per-interface `ip6-ll`
/// tables): a link-local address names a host only together with its link
/// (fe80::1 on one link and on another are two hosts), so `ip6-lookup`
/// finds a link-local destination's adjacency here by the interface the
/// packet concerns, never through a /128 route in the shared table.
/// Published after the adjacencies it names.
#[derive(Clone, Debug, Default)]
pub struct LinkLocal6 {
    adjs: hashbrown::HashMap<(u32, u128), u32>,
}

impl LinkLocal6 {
    /// The adjacency of neighbor `addr` on `sw`.
    #[inline]
    pub fn get(&self, sw: u32, addr: u128) -> Option<u32> {
        self.adjs.get(&(sw, addr)).copied()
    }
}

/// A neighbor as the FIB needs it.
#[derive(Clone, Copy, Debug)]
pub struct NeighborMac {
    pub mac: [u8; 6],
}

/// The FIB's control-plane state (main thread only).
pub struct Fib {
    pub mtrie: Arc<Mtrie4>,
    pub table6: Published<Table6>,
    pub fwd: Published<Forwarding>,
    /// Link-local neighbors' adjacencies by interface.
    pub ll6: Published<LinkLocal6>,
    work: Forwarding,
    work6: Table6,
    routes: BTreeMap<Prefix, BTreeMap<Source, Vec<Path>>>,
    /// (hashbrown's hasher: a million routes are installed in one go.)
    active_lb: hashbrown::HashMap<Prefix, u32>,
    adj_index: HashMap<AdjKey, u32>,
    lb_index: HashMap<Vec<u32>, u32>,
    lb_refs: Vec<u32>,
    lb_free: Vec<u32>,
    /// Known neighbor MACs per (ip6, sw, addr).
    neighbors: HashMap<(bool, u32, u128), [u8; 6]>,
    /// Adjacencies waiting for a fwd publish.
    dirty: bool,
}

impl Default for Fib {
    fn default() -> Self {
        let work = Forwarding::default();
        let mut lb_index = HashMap::new();
        lb_index.insert(vec![ADJ_UNREACHABLE], LB_UNREACHABLE);
        Fib {
            mtrie: Arc::new(Mtrie4::new(LB_UNREACHABLE)),
            table6: Published::default(),
            fwd: Published::new(work.clone()),
            ll6: Published::default(),
            work,
            work6: Table6::default(),
            routes: BTreeMap::new(),
            active_lb: hashbrown::HashMap::new(),
            adj_index: HashMap::new(),
            lb_index,
            lb_refs: vec![u32::MAX / 2],
            lb_free: Vec::new(),
            neighbors: HashMap::new(),
            dirty: false,
        }
    }
}

/// Builds the Ethernet header for sending on `sw` to `dst`, with a
/// sub-interface's tags: the outer one 802.1Q or 802.1ad as the
/// sub-interface was created (`dot1q`/`dot1ad`), an inner one 802.1Q.
pub fn build_rewrite(ifs: &InterfaceTable, sw: u32, dst: [u8; 6], ip6: bool) -> ([u8; 22], u8, u16) {
    let mut rw = [0u8; 22];
    let Some(f) = ifs.get(SwIfIndex(sw)) else { return (rw, 0, 0) };
    rw[..6].copy_from_slice(&dst);
    rw[6..12].copy_from_slice(&f.mac);
    let mut off = 12;
    if let Some(sub) = f.sub {
        for (tpid, vid) in [(sub.outer_tpid(), sub.outer_vlan), (0x8100u16, sub.inner_vlan)] {
            if let Some(v) = vid {
                rw[off..off + 2].copy_from_slice(&tpid.to_be_bytes());
                rw[off + 2..off + 4].copy_from_slice(&v.to_be_bytes());
                off += 4;
            }
        }
    }
    let et: u16 = if ip6 { 0x86dd } else { 0x0800 };
    rw[off..off + 2].copy_from_slice(&et.to_be_bytes());
    let mtu = match f.mtu[if ip6 { 2 } else { 1 }] {
        0 => f.mtu[0],
        m => m,
    };
    (rw, (off + 2) as u8, mtu.min(u16::MAX as u32) as u16)
}

impl Fib {
    fn adj(&mut self, ifs: &InterfaceTable, kind: AdjKind, ip6: bool, sw: u32, addr: u128, plen: u8) -> u32 {
        let key = AdjKey { kind, ip6, sw, addr };
        if let Some(&i) = self.adj_index.get(&key) {
            return i;
        }
        let mut a = Adjacency::new(kind, ip6, sw, addr);
        a.prefix_len = plen;
        let (_, _, mtu) = build_rewrite(ifs, sw, [0; 6], ip6);
        a.mtu = mtu;
        if kind == AdjKind::Incomplete {
            if let Some(mac) = self.neighbors.get(&(ip6, sw, addr)) {
                let (rw, len, mtu) = build_rewrite(ifs, sw, *mac, ip6);
                a.kind = AdjKind::Rewrite;
                a.set_rewrite(&rw[..len as usize]);
                a.mtu = mtu;
            }
        }
        let i = self.work.adjs.len() as u32;
        self.work.adjs.push(a);
        self.adj_index.insert(key, i);
        self.dirty = true;
        i
    }

    /// The adjacencies a path resolves to now.
    fn resolve(&mut self, ifs: &InterfaceTable, ip6: bool, p: Path, prefix: u128, plen: u8) -> u32 {
        match p {
            Path::Drop => ADJ_DROP,
            Path::Punt => self.adj(ifs, AdjKind::Punt, ip6, u32::MAX, 0, 0),
            Path::Local(sw) => self.adj(ifs, AdjKind::Local, ip6, sw, 0, 0),
            Path::Attached(sw) => self.adj(ifs, AdjKind::Glean, ip6, sw, prefix, plen),
            Path::Via { nh, sw: Some(sw) } => self.adj(ifs, AdjKind::Incomplete, ip6, sw, nh, 0),
            Path::Via { nh, sw: None } => match self.connected_interface(ip6, nh) {
                Some(sw) => self.adj(ifs, AdjKind::Incomplete, ip6, sw, nh, 0),
                None => ADJ_UNREACHABLE,
            },
        }
    }

    /// The interface whose connected subnet covers `a`, longest first.
    pub fn connected_interface(&self, ip6: bool, a: u128) -> Option<u32> {
        let max = if ip6 { 128 } else { 32 };
        for len in (0..=max).rev() {
            let k = (ip6, mask(ip6, a, len), len);
            if let Some(src) = self.routes.get(&k) {
                if let Some(paths) = src.get(&Source::Interface) {
                    if let Some(Path::Attached(sw)) = paths.first() {
                        return Some(*sw);
                    }
                }
            }
        }
        None
    }

    fn lb_for(&mut self, mut adjs: Vec<u32>) -> u32 {
        adjs.sort_unstable();
        // Buckets: a power of two, paths repeated as evenly as possible.
        let n = adjs.len().clamp(1, 64).next_power_of_two();
        let buckets: Vec<u32> =
            if adjs.is_empty() { vec![ADJ_UNREACHABLE] } else { (0..n).map(|k| adjs[k % adjs.len()]).collect() };
        if let Some(&i) = self.lb_index.get(&buckets) {
            self.lb_refs[i as usize] += 1;
            return i;
        }
        let lb = LoadBalance { buckets: buckets.clone() };
        let i = match self.lb_free.pop() {
            Some(i) => {
                self.work.lbs[i as usize] = lb;
                self.lb_refs[i as usize] = 1;
                i
            }
            None => {
                self.work.lbs.push(lb);
                self.lb_refs.push(1);
                self.work.lbs.len() as u32 - 1
            }
        };
        self.lb_index.insert(buckets, i);
        self.dirty = true;
        i
    }

    fn lb_release(&mut self, i: u32) {
        if i == LB_UNREACHABLE {
            return;
        }
        let r = &mut self.lb_refs[i as usize];
        *r = r.saturating_sub(1);
        if *r == 0 {
            let b = std::mem::take(&mut self.work.lbs[i as usize].buckets);
            self.lb_index.remove(&b);
            self.work.lbs[i as usize].buckets = b;
            self.lb_free.push(i);
        }
    }

    /// Recomputes a prefix's active load-balance and writes it to the trie.
    fn refresh(&mut self, ifs: &InterfaceTable, p: Prefix) {
        let (ip6, a, len) = p;
        let paths = self.routes.get(&p).and_then(|s| s.values().next()).cloned();
        let new_lb = match &paths {
            Some(paths) => {
                let adjs: Vec<u32> = paths.iter().map(|&x| self.resolve(ifs, ip6, x, a, len)).collect();
                Some(self.lb_for(adjs))
            }
            None => None,
        };
        // The load-balance must be visible before the trie names it.
        self.publish();
        let old = match new_lb {
            Some(lb) => {
                if ip6 {
                    self.work6.insert(a, len, lb);
                } else {
                    self.mtrie.insert(a as u32, len, lb);
                }
                self.active_lb.insert(p, lb)
            }
            None => {
                if ip6 {
                    self.work6.remove(a, len);
                } else {
                    self.mtrie.remove(a as u32, len);
                }
                self.active_lb.remove(&p)
            }
        };
        if let Some(o) = old {
            self.lb_release(o);
        }
        if ip6 {
            self.table6.store(self.work6.clone());
        }
    }

    /// Publishes adjacency and load-balance changes to workers.
    pub fn publish(&mut self) {
        if self.dirty {
            self.work.seal();
            self.fwd.store(self.work.clone());
            self.dirty = false;
        }
    }

    /// Adds paths to a prefix for a source (ECMP when several).
    pub fn add(
        &mut self,
        ifs: &InterfaceTable,
        a: IpAddr,
        len: u8,
        src: Source,
        paths: &[Path],
    ) -> Result<(), FibError> {
        let (ip6, bits) = super::addr_bits(a);
        let max = if ip6 { 128 } else { 32 };
        if len > max {
            return Err(FibError::BadLength { len, max });
        }
        let p = (ip6, mask(ip6, bits, len), len);
        let e = self.routes.entry(p).or_default().entry(src).or_default();
        for x in paths {
            if !e.contains(x) {
                e.push(*x);
            }
        }
        self.refresh(ifs, p);
        if src == Source::Interface {
            self.refresh_recursive(ifs, ip6);
        }
        Ok(())
    }

    /// Removes paths (all when `paths` is empty) of a source from a prefix.
    pub fn del(
        &mut self,
        ifs: &InterfaceTable,
        a: IpAddr,
        len: u8,
        src: Source,
        paths: &[Path],
    ) -> Result<(), FibError> {
        let (ip6, bits) = super::addr_bits(a);
        let p = (ip6, mask(ip6, bits, len), len);
        let Some(srcs) = self.routes.get_mut(&p) else {
            return Err(FibError::NoSuchRoute(format!("{}/{len}", bits_addr(ip6, p.1))));
        };
        let Some(list) = srcs.get_mut(&src) else {
            return Err(FibError::NoSuchRoute(format!("{}/{len}", bits_addr(ip6, p.1))));
        };
        if paths.is_empty() {
            list.clear();
        } else {
            let before = list.len();
            list.retain(|x| !paths.contains(x));
            if list.len() == before {
                return Err(FibError::NoSuchRoute(format!("{}/{len} via that path", bits_addr(ip6, p.1))));
            }
        }
        if list.is_empty() {
            srcs.remove(&src);
        }
        if srcs.is_empty() {
            self.routes.remove(&p);
        }
        self.refresh(ifs, p);
        if src == Source::Interface {
            self.refresh_recursive(ifs, ip6);
        }
        Ok(())
    }

    /// Adds many IPv4 CLI routes with the same paths at once (scale tests):
    /// one load-balance, one publish, one bulk trie insert.
    pub fn add_many4(&mut self, ifs: &InterfaceTable, prefixes: &[(u32, u8)], paths: &[Path]) {
        let adjs: Vec<u32> = paths.iter().map(|&x| self.resolve(ifs, false, x, 0, 0)).collect();
        let lb = self.lb_for(adjs);
        self.publish();
        // In address order, so the route table's inserts walk it once
        // rather than missing cache on every one (every route carries the
        // same paths: duplicates are one).
        let mut sorted: Vec<(u32, u8)> =
            prefixes.iter().map(|&(a, len)| (mask(false, a as u128, len) as u32, len.min(32))).collect();
        sorted.sort_unstable();
        sorted.dedup();
        self.active_lb.reserve(sorted.len());
        let mut bulk = Vec::with_capacity(sorted.len());
        for &(a, len) in &sorted {
            let p = (false, a as u128, len);
            let srcs = self.routes.entry(p).or_default();
            srcs.insert(Source::Cli, paths.to_vec());
            if srcs.keys().next() == Some(&Source::Cli) {
                self.lb_refs[lb as usize] += 1;
                if let Some(o) = self.active_lb.insert(p, lb) {
                    self.lb_release(o);
                }
                bulk.push((p.1 as u32, p.2, lb));
            }
        }
        self.lb_release(lb);
        self.mtrie.insert_many(&bulk);
    }

    /// A neighbor was learned, changed (`Some(mac)`) or removed (`None`):
    /// adjacencies towards it are rewritten; on a connected subnet a host
    /// route (adjacency source) follows it, and a link-local one is found by
    /// its interface ([`LinkLocal6`]) instead.
    pub fn neighbor(&mut self, ifs: &InterfaceTable, ip6: bool, sw: u32, addr: u128, mac: Option<[u8; 6]>) {
        match mac {
            Some(m) => {
                if self.neighbors.get(&(ip6, sw, addr)) == Some(&m) {
                    return;
                }
                self.neighbors.insert((ip6, sw, addr), m);
            }
            None => {
                if self.neighbors.remove(&(ip6, sw, addr)).is_none() {
                    return;
                }
            }
        }
        let ai = self
            .adj_index
            .get(&AdjKey { kind: AdjKind::Incomplete, ip6, sw, addr })
            .copied()
            .unwrap_or_else(|| self.adj(ifs, AdjKind::Incomplete, ip6, sw, addr, 0));
        let a = &mut self.work.adjs[ai as usize];
        match mac {
            Some(m) => {
                let (rw, len, mtu) = build_rewrite(ifs, sw, m, ip6);
                a.kind = AdjKind::Rewrite;
                a.set_rewrite(&rw[..len as usize]);
                a.mtu = mtu;
            }
            None => {
                a.kind = AdjKind::Incomplete;
                a.rewrite_len = 0;
            }
        }
        self.dirty = true;
        self.publish();
        if ip6 && addr >> 118 == 0x3fa {
            let mut t = (*self.ll6.load()).clone();
            let changed = match mac {
                Some(_) => t.adjs.insert((sw, addr), ai) != Some(ai),
                None => t.adjs.remove(&(sw, addr)).is_some(),
            };
            if changed {
                self.ll6.store(t);
            }
            return;
        }
        let host = if ip6 { 128 } else { 32 };
        let addr_ip = bits_addr(ip6, addr);
        let path = Path::Via { nh: addr, sw: Some(sw) };
        if mac.is_some() && self.connected_interface(ip6, addr) == Some(sw) {
            let _ = self.add(ifs, addr_ip, host, Source::AdjFib, &[path]);
        } else if mac.is_none() {
            let _ = self.del(ifs, addr_ip, host, Source::AdjFib, &[path]);
        }
    }

    /// Rebuilds every rewrite on an interface (its MAC or MTU changed).
    pub fn interface_changed(&mut self, ifs: &InterfaceTable, sw: u32) {
        let keys: Vec<(bool, u128, [u8; 6])> =
            self.neighbors.iter().filter(|(k, _)| k.1 == sw).map(|(k, m)| (k.0, k.2, *m)).collect();
        for (ip6, addr, mac) in keys {
            if let Some(&ai) = self.adj_index.get(&AdjKey { kind: AdjKind::Incomplete, ip6, sw, addr }) {
                let (rw, len, mtu) = build_rewrite(ifs, sw, mac, ip6);
                let a = &mut self.work.adjs[ai as usize];
                a.set_rewrite(&rw[..len as usize]);
                a.mtu = mtu;
                self.dirty = true;
            }
        }
        for a in self.work.adjs.iter_mut().filter(|a| a.sw_if_index == sw) {
            a.mtu = build_rewrite(ifs, sw, [0; 6], a.ip6).2;
            self.dirty = true;
        }
        self.publish();
    }

    /// Resolves again every route of a family whose next hop names no
    /// interface: the connected prefix it resolved through came or went.
    fn refresh_recursive(&mut self, ifs: &InterfaceTable, ip6: bool) {
        let recursive: Vec<Prefix> = self
            .routes
            .iter()
            .filter(|(p, srcs)| {
                p.0 == ip6
                    && srcs.values().next().is_some_and(|v| v.iter().any(|x| matches!(x, Path::Via { sw: None, .. })))
            })
            .map(|(p, _)| *p)
            .collect();
        for p in recursive {
            self.refresh(ifs, p);
        }
    }

    /// Drops every path through a deleted interface (a prefix left with no
    /// path goes) and its link-local glean.
    pub fn forget_interface(&mut self, ifs: &InterfaceTable, sw: u32) {
        let through = |p: &Path| match *p {
            Path::Via { sw: Some(s), .. } | Path::Attached(s) | Path::Local(s) => s == sw,
            _ => false,
        };
        let touched: Vec<Prefix> =
            self.routes.iter().filter(|(_, srcs)| srcs.values().flatten().any(through)).map(|(p, _)| *p).collect();
        for p in touched {
            if let Some(srcs) = self.routes.get_mut(&p) {
                for paths in srcs.values_mut() {
                    paths.retain(|x| !through(x));
                }
                srcs.retain(|_, paths| !paths.is_empty());
                if srcs.is_empty() {
                    self.routes.remove(&p);
                }
            }
            self.refresh(ifs, p);
        }
        if let Some(g) = self.work.ll_glean.get_mut(sw as usize) {
            *g = ADJ_UNREACHABLE;
            self.dirty = true;
        }
        self.refresh_recursive(ifs, false);
        self.refresh_recursive(ifs, true);
        self.publish();
    }

    /// Sets the link-local glean adjacency of an interface.
    pub fn set_ll_glean(&mut self, ifs: &InterfaceTable, sw: u32) {
        let ai = self.adj(ifs, AdjKind::Glean, true, sw, 0xfe80u128 << 112, 64);
        let i = sw as usize;
        let ll = &mut self.work.ll_glean;
        if ll.len() <= i {
            ll.resize(i + 1, ADJ_UNREACHABLE);
        }
        ll[i] = ai;
        self.dirty = true;
        self.publish();
    }

    /// Routes for `show ip fib`: (prefix, active source, paths, lb index).
    pub fn routes(&self, ip6: bool) -> Vec<(Prefix, Source, Vec<Path>, u32)> {
        self.routes
            .iter()
            .filter(|(p, _)| p.0 == ip6)
            .filter_map(|(p, s)| {
                let (src, paths) = s.iter().next()?;
                Some((*p, *src, paths.clone(), self.active_lb.get(p).copied().unwrap_or(0)))
            })
            .collect()
    }

    /// The control plane's copy of the forwarding tables.
    pub fn forwarding(&self) -> &Forwarding {
        &self.work
    }

    /// Number of routes of a family.
    pub fn route_count(&self, ip6: bool) -> usize {
        self.routes.keys().filter(|p| p.0 == ip6).count()
    }
}

/// The FIB as the engine's extension state.
pub fn fib(ext: &mut rvpp_dataplane::engine::Extensions) -> &mut Fib {
    ext.get_or_default::<Fib>()
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<Fib>();
    commands::register(r);
}

#[cfg(test)]
pub(crate) mod tests;
