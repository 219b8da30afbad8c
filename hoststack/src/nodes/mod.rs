//! The graph nodes that drive the session layer: `tcp4-input` /
//! `tcp6-input` (segments from `ip4-local` / `ip6-local`), `udp4-input` /
//! `udp6-input` (datagrams from the same), the packet builder every node
//! sends segments and datagrams through ([`output::PacketSink`], into
//! `ip4-lookup` / `ip6-lookup`), and `session-queue`, the input node that
//! runs timers and deferred output and lets the thread sleep until the
//! next deadline.

pub mod output;
pub mod session_queue;
pub mod tcp_input;
#[cfg(test)]
mod tests;
pub mod udp_input;
#[cfg(test)]
mod udp_tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rvpp_dataplane::buffer::{flags, HEADROOM};
use rvpp_dataplane::{BufferIndex, Vm};
use rvpp_graph_nodes::ip::icmp::{set_error, Icmp};

use crate::session::{Owners, RouteMtu, SessionTable};
use crate::tcp;

/// The session layer's per-engine state (in the engine's `Extensions`):
/// each thread's table, the enable switch and the transport settings new
/// tables start with.
#[derive(Clone, Default)]
pub struct SessionLayer {
    tables: Arc<Mutex<Vec<Option<SharedTable>>>>,
    disabled: Arc<AtomicBool>,
    tcp: Arc<Mutex<tcp::Config>>,
    route_mtu: Arc<Mutex<Option<Arc<dyn RouteMtu>>>>,
    owners: Arc<Owners>,
}

/// One thread's table, shared by that thread's session nodes.
pub type SharedTable = Arc<Mutex<SessionTable>>;

/// Locks a mutex, surviving a panic elsewhere (the state stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionLayer {
    /// Thread `t`'s table, made on first use. Only thread `t` locks it on
    /// the data path; the CLI reaches it through a command run on that
    /// thread, so the lock is never contended.
    pub fn table(&self, t: usize) -> Arc<Mutex<SessionTable>> {
        let mut v = lock(&self.tables);
        if v.len() <= t {
            v.resize(t + 1, None);
        }
        let table = v[t]
            .get_or_insert_with(|| {
                let mut table = SessionTable::new(t, lock(&self.tcp).clone());
                if let Some(r) = lock(&self.route_mtu).clone() {
                    table.set_route_mtu(r);
                }
                table.set_owners(self.owners.clone());
                Arc::new(Mutex::new(table))
            })
            .clone();
        if v.iter().flatten().count() > 1 {
            // Several threads: flows may reach one that does not own them.
            self.owners.activate();
        }
        table
    }

    /// Which thread owns each session (kept once two threads have tables).
    pub fn owners(&self) -> &Arc<Owners> {
        &self.owners
    }

    /// Where tables made from now on look up the MTU toward a peer (the
    /// MSS of its connections follows it).
    pub fn set_route_mtu(&self, r: Arc<dyn RouteMtu>) {
        *lock(&self.route_mtu) = Some(r);
    }

    /// Whether segments reach sessions (`session enable`, the default).
    pub fn enabled(&self) -> bool {
        !self.disabled.load(Ordering::Relaxed)
    }

    /// `session enable` / `session disable`.
    pub fn set_enabled(&self, on: bool) {
        self.disabled.store(!on, Ordering::Relaxed);
    }

    /// The transport settings for tables made from now on.
    pub fn set_tcp_config(&self, cfg: tcp::Config) {
        *lock(&self.tcp) = cfg;
    }

    /// The transport settings.
    pub fn tcp_config(&self) -> tcp::Config {
        lock(&self.tcp).clone()
    }
}

/// What an L4 input node needs from the IP header before its header:
/// the addresses and how many L4 bytes the IP header says follow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4_len: usize,
}

/// Reads the IP header `ip4-local` / `ip6-local` left before
/// `current_data` (the L4 header); None when it is not there whole.
pub(crate) fn ip_info<const IP6: bool>(vm: &Vm, bi: BufferIndex) -> Option<IpInfo> {
    let m = vm.bufs.meta(bi);
    let hl: isize = if IP6 { 40 } else { 20 };
    let l3 = HEADROOM as isize + m.l3_hdr_offset as isize;
    let l4 = HEADROOM as isize + m.current_data as isize;
    if m.flags & flags::L3_HDR_VALID == 0 || l3 < 0 || l4 - l3 < hl {
        return None;
    }
    let h = vm.bufs.raw(bi).get(l3 as usize..l3 as usize + hl as usize)?;
    if IP6 {
        let s: [u8; 16] = h[8..24].try_into().ok()?;
        let d: [u8; 16] = h[24..40].try_into().ok()?;
        let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
        let ext = (l4 - l3 - hl) as usize;
        Some(IpInfo {
            src: IpAddr::V6(Ipv6Addr::from(s)),
            dst: IpAddr::V6(Ipv6Addr::from(d)),
            l4_len: plen.saturating_sub(ext),
        })
    } else {
        let s: [u8; 4] = h[12..16].try_into().ok()?;
        let d: [u8; 4] = h[16..20].try_into().ok()?;
        let total = u16::from_be_bytes([h[2], h[3]]) as usize;
        Some(IpInfo {
            src: IpAddr::V4(Ipv4Addr::from(s)),
            dst: IpAddr::V4(Ipv4Addr::from(d)),
            l4_len: total.saturating_sub((l4 - l3) as usize),
        })
    }
}

/// Puts the IP header back in front and marks the packet for an ICMP port
/// unreachable; false (drop it) when the header cannot be restored.
pub(crate) fn port_unreachable<const IP6: bool>(vm: &mut Vm, bi: BufferIndex) -> bool {
    let m = vm.bufs.meta(bi);
    let back = m.l3_hdr_offset as i32 - m.current_data as i32;
    if back > 0 || back < i16::MIN as i32 || !vm.bufs.advance(bi, back as i16) {
        return false;
    }
    let (t, c) = if IP6 { Icmp::PORT_UNREACHABLE6 } else { Icmp::PORT_UNREACHABLE4 };
    set_error(vm.bufs.meta_mut(bi), t, c, 0);
    true
}

/// The engine's TSC as the nanoseconds the TCP machine counts in.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    hz: u64,
}

impl Clock {
    /// A clock for this host's TSC rate.
    pub fn new() -> Self {
        Clock { hz: (rvpp_dataplane::arch::tsc_hz() as u64).max(1) }
    }

    /// A clock for a given TSC rate (tests).
    pub fn with_hz(hz: u64) -> Self {
        Clock { hz: hz.max(1) }
    }

    /// TSC ticks to nanoseconds.
    pub fn ns(&self, tsc: u64) -> u64 {
        (tsc as u128 * 1_000_000_000 / self.hz as u128) as u64
    }

    /// Nanoseconds to TSC ticks, rounded up (a deadline never wakes early).
    pub fn tsc(&self, ns: u64) -> u64 {
        (ns as u128 * self.hz as u128).div_ceil(1_000_000_000).min(u64::MAX as u128) as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn clock_round_trips() {
        let c = Clock::with_hz(2_500_000_000);
        assert_eq!(c.ns(2_500_000_000), 1_000_000_000);
        assert_eq!(c.tsc(40_000_000), 100_000_000);
        let c = Clock::with_hz(2_394_123_457);
        for ns in [0, 1, 123_456_789, 40_000_000_000_000] {
            let back = c.ns(c.tsc(ns));
            assert!(back >= ns && back <= ns + 1, "{ns} -> {back}");
        }
    }
}
