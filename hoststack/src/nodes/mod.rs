//! The graph nodes that drive the session layer: `tcp4-input` /
//! `tcp6-input` (segments from `ip4-local` / `ip6-local`), `udp4-input` /
//! `udp6-input` (datagrams from the same) with what those two share
//! (`l4_input`), `tcp4-icmp-input` / `tcp6-icmp-input` (ICMP errors about
//! our segments: path MTU discovery), the packet builder every node
//! sends segments and datagrams through ([`output::PacketSink`], into
//! `ip4-lookup` / `ip6-lookup`), and `session-queue`, the input node that
//! runs timers and deferred output and lets the thread sleep until the
//! next deadline.

pub mod icmp_input;
mod l4_input;
pub mod output;
pub mod session_queue;
pub mod tcp_input;
#[cfg(test)]
mod tests;
pub mod udp_input;
#[cfg(test)]
mod udp_tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
