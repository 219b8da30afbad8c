//! DPDK: ports of the system DPDK (22.11) as rvpp interfaces, VPP's `dpdk`
//! plugin. Built with the cargo feature `dpdk`; the `dpdk { }` section's
//! parser ([`config`]) is always there.
//!
//! # Start-up
//!
//! [`init`] starts the EAL from the section (`--in-memory`, `--no-huge -m`
//! when the host has no free huge pages, `-a <pci>` per `dev`, `--no-pci`),
//! then probes each `vdev` by hotplug, one at a time, so a vdev with bad
//! devargs or a missing PMD is an error naming it while the others come up.
//! Every port then gets one mbuf pool's worth of rx descriptors, its rx
//! queues (`num-rx-queues`, default 1) placed on workers round-robin, and
//! one tx queue per thread when the port has that many (else threads share
//! a queue under a lock), and is started. A port that fails any step is
//! reported with its name and left out; the daemon goes on.
//!
//! # Names
//!
//! As VPP names them: `name` from the section when given, else a prefix by
//! driver (VPP's table: `VirtioUser`, `VhostEthernet`, `FailsafeEthernet`,
//! `NetVSC`, ...; by link speed otherwise: `GigabitEthernet`,
//! `TenGigabitEthernet`..., `UnknownEthernet` when the speed is unknown),
//! then the PCI address as `<bus>/<dev>/<fn>` in hex for a PCI port, or the
//! port number for a virtual one (`TenGigabitEthernet0` for net_null0).
//!
//! # Buffers: zero copy
//!
//! As VPP does it: every rvpp buffer has an `rte_mbuf` right before it.
//! When the `dpdk` section will start DPDK, the daemon makes the buffer
//! arena with a per-buffer prefix ([`arena_prefix`]: the mempool object
//! header and the mbuf), laid out so that the mbuf's private area is
//! rvpp's metadata and its `buf_addr` is rvpp's headroom (`data_off` =
//! 128 + `current_data`). [`init`] makes one DPDK mempool over the arena
//! (its own mempool ops: dequeue takes buffers from rvpp's free pool,
//! enqueue gives them back, DPDK's per-lcore caches in front), so a PMD
//! receives into rvpp buffers and frees sent ones back to rvpp: rx fills
//! the metadata from the mbuf, tx the mbuf from the metadata, nothing is
//! copied (README, Performance: `rvpp-perf dpdk-null`).
//!
//! The copy path stays: with `no-zero-copy` in the section, when the arena
//! could not be laid out so (a DPDK build whose mbuf or mempool header is
//! larger, buffers larger than an mbuf can say), and for PCI ports, whose
//! DMA would need the arena registered with DPDK and mapped for the device
//! (`rte_extmem_register`, `rte_dev_dma_map`), which rvpp does not do. Then
//! received mbufs are copied into rvpp buffers and freed at once, and sent
//! packets are copied into fresh mbufs of a pool of `num-mbufs`.
//!
//! # Link state
//!
//! A main-thread timer reads each port's link twice a second (without
//! waiting) and sets the interface's link state; a port whose device went
//! away (a veth removed under net_af_packet) reads as down.

pub mod config;

#[cfg(feature = "dpdk")]
mod rx;
#[cfg(feature = "dpdk")]
mod sys;
#[cfg(feature = "dpdk")]
mod tx;

#[cfg(feature = "dpdk")]
pub use imp::*;

/// What [`init`] did: the interfaces it made, one line per device or step
/// that failed (the others still came up), and notes worth logging.
#[derive(Debug, Default)]
pub struct Started {
    pub interfaces: Vec<String>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

/// Bytes the buffer arena must keep before each buffer for the driver:
/// room for an mbuf when the section will start DPDK with zero copy, else
/// none.
pub fn arena_prefix(cfg: &config::DpdkConfig) -> usize {
    #[cfg(feature = "dpdk")]
    if cfg.present && !cfg.no_zero_copy {
        return sys::ZC_PREFIX;
    }
    let _ = cfg;
    0
}

/// Without the `dpdk` feature there is nothing to clean up.
#[cfg(not(feature = "dpdk"))]
pub fn shutdown() {}

/// Without the `dpdk` feature there is no DPDK to start: no interfaces,
/// and the daemon has already warned that the section is ignored.
#[cfg(not(feature = "dpdk"))]
pub fn init(_e: &mut rvpp_dataplane::engine::Engine, _cfg: &config::DpdkConfig) -> Started {
    Started::default()
}

/// The driver's input node.
pub const INPUT_NODE: &str = "dpdk-input";
/// The driver's name (`show hardware-interfaces`, `driver_of`).
pub const DRIVER: &str = "dpdk";

/// Per-port counters of the driver itself (DPDK's own are read live).
#[derive(Clone, Copy)]
#[repr(usize)]
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
enum Stat {
    RxPackets,
    RxBytes,
    RxAdminDown,
    RxTooLong,
    RxNoBuffer,
    TxPackets,
    TxBytes,
    TxNoMbuf,
    TxTooLong,
    TxRingFull,
}

#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
impl Stat {
    const COUNT: usize = 10;
    const NAMES: [&'static str; Stat::COUNT] = [
        "rx packets",
        "rx bytes",
        "rx admin-down drops",
        "rx too-long or bad-chain drops",
        "rx no-buffer drops",
        "tx packets",
        "tx bytes",
        "tx no-mbuf drops",
        "tx too-long drops",
        "tx queue-full drops",
    ];
}

/// A port's driver counters, summed from its threads.
#[derive(Default)]
struct DriverStats {
    v: [std::sync::atomic::AtomicU64; Stat::COUNT],
}

#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
impl DriverStats {
    fn add(&self, tally: &[u64; Stat::COUNT]) {
        for (d, &s) in self.v.iter().zip(tally) {
            if s != 0 {
                d.fetch_add(s, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// The interface name prefix VPP gives a driver's ports, by driver name
/// and link speed (Mb/s).
pub fn name_prefix(driver: &str, speed_mbps: u32) -> &'static str {
    match driver {
        "net_virtio_user" => "VirtioUser",
        "net_vhost" => "VhostEthernet",
        "net_failsafe" => "FailsafeEthernet",
        "net_netvsc" => "NetVSC",
        "net_fm10k" => "EthernetSwitch",
        "net_dpaa2" => "TenGigabitEthernet",
        "net_vmxnet3" | "net_virtio" => "GigabitEthernet",
        "net_iavf" | "net_i40e_vf" | "net_ixgbe_vf" | "net_e1000_igb_vf" | "net_ena" | "net_liovf" | "net_thunderx" => {
            "VirtualFunctionEthernet"
        }
        _ => match speed_mbps {
            1_000 => "GigabitEthernet",
            2_500 => "TwoDotFiveGigabitEthernet",
            5_000 => "FiveGigabitEthernet",
            10_000 => "TenGigabitEthernet",
            20_000 => "TwentyGigabitEthernet",
            25_000 => "TwentyFiveGigabitEthernet",
            40_000 => "FortyGigabitEthernet",
            50_000 => "FiftyGigabitEthernet",
            56_000 => "FiftySixGigabitEthernet",
            100_000 => "HundredGigabitEthernet",
            200_000 => "TwoHundredGigabitEthernet",
            400_000 => "FourHundredGigabitEthernet",
            _ => "UnknownEthernet",
        },
    }
}

/// (bus, device, function) of a DPDK port name that is a PCI address.
fn pci_addr(dpdk_name: &str) -> Option<(u32, u32, u32)> {
    dpdk_name.rsplit_once(':').and_then(|(head, devfn)| {
        let bus = head.rsplit(':').next()?;
        let (dev, func) = devfn.split_once('.')?;
        let p = |s: &str| u32::from_str_radix(s, 16).ok();
        Some((p(bus)?, p(dev)?, p(func)?))
    })
}

/// The name of a port: `<prefix><bus>/<dev>/<fn>` (hex) when its DPDK name
/// is a PCI address, `<prefix><port>` otherwise.
pub fn port_if_name(prefix: &str, dpdk_name: &str, port: u16) -> String {
    match pci_addr(dpdk_name) {
        Some((b, d, f)) => format!("{prefix}{b:x}/{d:x}/{f:x}"),
        None => format!("{prefix}{port}"),
    }
}

#[cfg(feature = "dpdk")]
mod imp {
    use std::any::Any;
    use std::fmt::Write;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use rvpp_dataplane::device::{place_rx_queue, Device, DeviceInput, ErrorDrop, TxQueue};
    use rvpp_dataplane::engine::{Engine, Registrar};
    use rvpp_dataplane::interface::format_mac;

    use super::config::DpdkConfig;
    use super::rx::{DpdkRx, COUNTERS};
    use super::sys::{self, Pool};
    use super::tx::{DpdkTx, TxHalf};
    use super::{name_prefix, port_if_name, DriverStats, Stat, DRIVER, INPUT_NODE};

    /// Default rx and tx descriptors per queue.
    const DEFAULT_DESC: u16 = 1024;
    /// Default mbufs in the pool.
    const DEFAULT_MBUFS: u32 = 32768;

    /// A DPDK port as an rvpp device.
    pub struct DpdkDevice {
        port: u16,
        info: sys::PortInfo,
        rx_queues: u16,
        rx_desc: u16,
        tx_desc: u16,
        pool: Arc<Pool>,
        /// Why the port copies when the arena could be its pool.
        copy_reason: Option<&'static str>,
        tx: Vec<Arc<Mutex<TxHalf>>>,
        stats: Arc<DriverStats>,
        /// The kernel interface under the port (`iface=` of its devargs).
        kernel_if: Option<String>,
    }

    impl DpdkDevice {
        pub fn port(&self) -> u16 {
            self.port
        }
        /// The PMD's name (`net_null`...).
        pub fn pmd(&self) -> &str {
            &self.info.driver
        }
    }

    impl Device for DpdkDevice {
        fn driver(&self) -> &'static str {
            DRIVER
        }

        fn tx_queue(&self, thread_index: usize) -> Option<Box<dyn TxQueue>> {
            let h = self.tx.get(thread_index % self.tx.len().max(1))?;
            Some(Box::new(DpdkTx::new(h.clone())))
        }

        fn input_node(&self) -> Option<&'static str> {
            Some(INPUT_NODE)
        }

        fn admin_change(&self, up: bool) {
            if up {
                sys::set_link_up(self.port);
                // PMDs over a kernel interface (net_af_packet) leave it as
                // they found it; rvpp brings it up as its own af_packet does.
                if let Some(k) = &self.kernel_if {
                    let _ = crate::af_packet::set_kernel_if_up(k);
                }
            }
        }

        fn format_hw(&self) -> String {
            let mut s = String::new();
            let (up, speed) = sys::link(self.port);
            let _ = writeln!(
                s,
                "dpdk port {} '{}' driver {}, link {} {} Mb/s, mac {}, mtu {}",
                self.port,
                self.info.name,
                self.info.driver,
                if up { "up" } else { "down" },
                speed,
                format_mac(&self.info.mac),
                self.info.mtu
            );
            let (avail, used) = self.pool.counts();
            let _ = write!(
                s,
                "  rx queues {} ({} descriptors), tx queues {} ({} descriptors); ",
                self.rx_queues,
                self.rx_desc,
                self.tx.len(),
                self.tx_desc,
            );
            match self.pool.zero_copy_arena() {
                Some(a) => {
                    // Free mbufs are rvpp's free pool plus DPDK's caches.
                    let free = a.free_buffers();
                    let _ = writeln!(
                        s,
                        "zero copy: mbufs are the buffers, {} in dpdk mempool caches, {} buffers in use, \
                         {} mbufs refused (no free buffer), {} foreign mbufs",
                        avail.saturating_sub(free),
                        used,
                        a.no_buffers.load(Ordering::Relaxed),
                        a.foreign.load(Ordering::Relaxed)
                    );
                }
                None => {
                    let why = self.copy_reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    let _ = writeln!(s, "mbufs copied{why}, pool {avail} free {used} in use");
                }
            }
            if let Some(p) = sys::port_stats(self.port) {
                let _ = writeln!(
                    s,
                    "  dpdk: ipackets {} ibytes {} imissed {} ierrors {} rx_nombuf {} opackets {} obytes {} oerrors {}",
                    p.ipackets, p.ibytes, p.imissed, p.ierrors, p.rx_nombuf, p.opackets, p.obytes, p.oerrors
                );
            }
            let mut line = String::from("  rvpp:");
            for (name, v) in Stat::NAMES.iter().zip(&self.stats.v) {
                let v = v.load(Ordering::Relaxed);
                if v > 0 {
                    let _ = write!(line, " {name} {v},");
                }
            }
            let _ = writeln!(s, "{}", line.trim_end_matches(','));
            s
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    /// Whether the EAL can run on huge pages: some are free and a hugetlbfs
    /// is mounted for them (or `huge-dir` names one).
    fn hugepages_usable(cfg: &DpdkConfig) -> bool {
        let free = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("HugePages_Free:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .is_some_and(|n| n > 0);
        let mounted = cfg.huge_dir.is_some()
            || std::fs::read_to_string("/proc/mounts")
                .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs")));
        free && mounted
    }

    /// Starts DPDK from the `dpdk` section and makes an interface of every
    /// port.
    pub fn init(e: &mut Engine, cfg: &DpdkConfig) -> super::Started {
        let mut st = super::Started::default();
        let huge = hugepages_usable(cfg);
        let args = cfg.eal_args(huge);
        if !huge && cfg.no_huge.is_none() {
            st.notes.push("dpdk: no free huge pages on a mounted hugetlbfs: the EAL runs with --no-huge".into());
        }
        st.notes.push(format!("dpdk: EAL arguments: {}", args[1..].join(" ")));
        if let Err(x) = sys::eal_init(&args) {
            st.errors.push(format!("dpdk: {x}"));
            return st;
        }
        for v in &cfg.vdevs {
            if let Err(x) = sys::probe(&v.args) {
                st.errors.push(format!("dpdk: vdev {}: probe failed: {x}", v.args));
            }
        }
        let ports = sys::ports();
        if ports.is_empty() {
            return st;
        }
        let mut pools = Pools { zc: None, copy: None, num_mbufs: cfg.num_mbufs.unwrap_or(DEFAULT_MBUFS) };
        if e.buffers.prefix() > 0 {
            match Pool::zero_copy("rvpp-arena", &e.buffers, -1) {
                Ok(p) => {
                    st.notes.push(format!("dpdk: zero copy: the {} buffers are the mbufs", e.buffers.count()));
                    pools.zc = Some(Arc::new(p));
                }
                Err(x) => st.notes.push(format!("dpdk: zero copy off, copying: {x}")),
            }
        } else {
            st.notes.push("dpdk: copying between mbufs and buffers (no-zero-copy)".into());
        }
        for port in ports {
            match add_port(e, cfg, port, &mut pools, &mut st) {
                Ok(n) => st.interfaces.push(n),
                Err(x) => st.errors.push(format!("dpdk: port {port}: {x}")),
            }
        }
        if !st.interfaces.is_empty() {
            e.add_periodic("dpdk-link", Duration::from_millis(500), poll_links);
            poll_links(e);
        }
        st
    }

    /// The zero-copy pool over the arena, and the copy path's own pool,
    /// made when a port first needs it.
    struct Pools {
        zc: Option<Arc<Pool>>,
        copy: Option<Arc<Pool>>,
        num_mbufs: u32,
    }

    impl Pools {
        fn copy(&mut self) -> Result<Arc<Pool>, String> {
            if let Some(p) = &self.copy {
                return Ok(p.clone());
            }
            let p = Arc::new(Pool::new("rvpp-mbufs", self.num_mbufs, -1)?);
            self.copy = Some(p.clone());
            Ok(p)
        }
    }

    fn add_port(
        e: &mut Engine,
        cfg: &DpdkConfig,
        port: u16,
        pools: &mut Pools,
        st: &mut super::Started,
    ) -> Result<String, String> {
        let info = sys::port_info(port)?;
        // A PCI device DMAs into its mbufs: the arena is no DPDK memory
        // (neither registered nor mapped for the device), so such a port
        // copies.
        let pci = super::pci_addr(&info.name).is_some();
        let (pool, copy_reason) = match (&pools.zc, pci) {
            (Some(z), false) => (z.clone(), None),
            (Some(_), true) => {
                st.notes.push(format!(
                    "dpdk: port {port} '{}' is a PCI device: zero copy would need the arena DMA-mapped \
                     (rte_extmem_register, rte_dev_dma_map), which rvpp does not do; it copies",
                    info.name
                ));
                (pools.copy()?, Some("PCI device: the arena is not DMA-mapped"))
            }
            (None, _) => (pools.copy()?, None),
        };
        let pool = &pool;
        let dc = cfg.dev_conf(&info.name);
        let nrx = dc.rx_queues.unwrap_or(1);
        if nrx > info.max_rx_queues.max(1) {
            return Err(format!("'{}' has {} rx queues; {nrx} asked", info.name, info.max_rx_queues));
        }
        let threads = e.num_threads() as u16;
        let ntx = dc.tx_queues.unwrap_or(threads).clamp(1, info.max_tx_queues.max(1));
        let rx_desc = dc.rx_desc.unwrap_or(DEFAULT_DESC);
        let tx_desc = dc.tx_desc.unwrap_or(DEFAULT_DESC);
        let multi_seg = !cfg.no_multi_seg && info.multi_seg_tx;
        sys::port_setup(port, nrx, ntx, rx_desc, tx_desc, multi_seg, pool)
            .map_err(|x| format!("'{}' ({}): {x}", info.name, info.driver))?;
        let (_, speed) = sys::link(port);
        let name = dc.name.clone().unwrap_or_else(|| port_if_name(name_prefix(&info.driver, speed), &info.name, port));
        if e.interfaces.by_name(&name).is_some() {
            return Err(format!("'{}': interface '{name}' already exists", info.name));
        }
        let stats = Arc::new(DriverStats::default());
        let tx = (0..ntx)
            .map(|q| Arc::new(Mutex::new(TxHalf::new(port, q, pool.clone(), stats.clone(), multi_seg))))
            .collect();
        let dev = DpdkDevice {
            port,
            info: info.clone(),
            rx_queues: nrx,
            rx_desc,
            tx_desc,
            pool: pool.clone(),
            copy_reason,
            tx,
            stats: stats.clone(),
            kernel_if: cfg.vdevs.iter().find(|v| v.dev_name() == info.name).and_then(|v| v.kernel_if()),
        };
        let mtu = u32::from(info.mtu).max(576);
        let sw = e.create_interface(name.clone(), info.mac, mtu, Some(Arc::new(dev)));
        for q in 0..nrx {
            let t = e.next_rx_thread();
            let rx = DpdkRx::new(sw.0, port, q, stats.clone(), pool.zero_copy_arena());
            place_rx_queue(e, INPUT_NODE, Box::new(rx), t);
        }
        Ok(name)
    }

    /// At daemon exit: removes the EAL's runtime directory (its files
    /// would otherwise outlive the process under /var/run/dpdk).
    pub fn shutdown() {
        if let Some(d) = sys::runtime_dir().filter(|d| d.starts_with("/var/run/dpdk/") || d.starts_with("/run/")) {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// Whether a kernel interface is there and up (`operstate` not down):
    /// what the PMDs over one (net_af_packet) do not report themselves.
    fn kernel_link(name: &str) -> bool {
        let st = std::fs::read_to_string(format!("/sys/class/net/{name}/operstate"));
        st.is_ok_and(|s| s.trim() != "down")
    }

    /// Sets each dpdk interface's link state from its port.
    fn poll_links(e: &mut Engine) {
        let mut changed = false;
        let ids: Vec<_> = e
            .interfaces
            .iter()
            .filter(|i| !i.deleted && i.sub.is_none())
            .filter_map(|i| {
                let d = i.device.as_ref()?.as_any().downcast_ref::<DpdkDevice>()?;
                Some((i.sw_if_index, d.port, d.kernel_if.clone()))
            })
            .collect();
        for (sw, port, kernel) in ids {
            let up = sys::link(port).0 && kernel.as_deref().is_none_or(kernel_link);
            if let Some(f) = e.interfaces.get_mut(sw) {
                if f.link_up != up {
                    f.link_up = up;
                    changed = true;
                }
            }
        }
        if changed {
            e.publish_interfaces();
        }
    }

    pub fn register(r: &mut Registrar) {
        r.node(DeviceInput::register_with_counters(INPUT_NODE, &["ethernet-input", ErrorDrop::NAME], &COUNTERS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_named_as_vpp_names_them() {
        assert_eq!(port_if_name(name_prefix("net_ixgbe", 10_000), "0000:00:08.0", 0), "TenGigabitEthernet0/8/0");
        assert_eq!(port_if_name(name_prefix("net_virtio", 0), "0000:00:1f.3", 2), "GigabitEthernet0/1f/3");
        assert_eq!(port_if_name(name_prefix("net_null", 10_000), "net_null0", 0), "TenGigabitEthernet0");
        assert_eq!(port_if_name(name_prefix("net_af_packet", 0), "net_af_packet1", 3), "UnknownEthernet3");
        assert_eq!(port_if_name(name_prefix("net_vhost", 0), "net_vhost0", 1), "VhostEthernet1");
    }
}
