//! The interface table: software interfaces (`sw_if_index`), their names,
//! admin state, MTU and MAC; the per-thread counters; and the snapshot that
//! workers read.

use std::fmt::Write;
use std::sync::Arc;

use crate::device::Device;

/// A software interface's index (`sw_if_index`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SwIfIndex(pub u32);

/// Sub-interface matching (`create sub-interfaces`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SubMatch {
    pub sub_id: u32,
    pub outer_vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
    /// The outer tag is 802.1ad (`dot1ad`, TPID 0x88a8), else 802.1Q
    /// (`dot1q`, 0x8100), whatever the number of tags; an inner tag is
    /// always 802.1Q.
    pub dot1ad: bool,
    pub exact_match: bool,
    pub default_sub: bool,
}

impl SubMatch {
    /// The TPID of the outer tag.
    pub fn outer_tpid(&self) -> u16 {
        if self.dot1ad {
            0x88a8
        } else {
            0x8100
        }
    }
}

/// Rx mode of a queue (`set interface rx-mode`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum RxMode {
    #[default]
    Polling,
    Interrupt,
    Adaptive,
}

impl RxMode {
    /// The mode a CLI word names.
    pub fn parse(w: &str) -> Option<RxMode> {
        match w {
            "polling" => Some(RxMode::Polling),
            "interrupt" => Some(RxMode::Interrupt),
            "adaptive" => Some(RxMode::Adaptive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RxMode::Polling => "polling",
            RxMode::Interrupt => "interrupt",
            RxMode::Adaptive => "adaptive",
        }
    }
}

/// One software interface as the control plane holds it.
#[derive(Clone)]
pub struct Interface {
    pub sw_if_index: SwIfIndex,
    pub name: String,
    /// Hardware interface index (0-based among hardware interfaces).
    pub hw_if_index: u32,
    /// The hardware (parent) interface; itself for a hardware interface.
    pub sup_sw_if_index: SwIfIndex,
    pub sub: Option<SubMatch>,
    pub admin_up: bool,
    pub link_up: bool,
    /// MTU: L3, IP4, IP6, MPLS (`show interface` column).
    pub mtu: [u32; 4],
    pub mac: [u8; 6],
    pub device: Option<Arc<dyn Device>>,
    /// Rx queues: (queue id, thread index, mode).
    pub rx_queues: Vec<(u32, usize, RxMode)>,
    pub deleted: bool,
}

/// What a worker needs to know of an interface, per packet.
#[derive(Clone, Copy, Debug, Default)]
pub struct IfFast {
    pub admin_up: bool,
    pub link_up: bool,
    pub sup_sw_if_index: u32,
    pub mtu: u32,
    pub mac: [u8; 6],
    /// [`crate::device::Device::tso_max`] of the interface's device (0:
    /// segments no larger than the MTU).
    pub tso_max: u32,
}

/// The interface table as published to workers, indexed by sw_if_index.
#[derive(Clone, Debug, Default)]
pub struct IfSnapshot {
    pub ifs: Vec<IfFast>,
}

impl IfSnapshot {
    /// Whether the interface exists and is admin up.
    #[inline(always)]
    pub fn is_up(&self, sw_if_index: u32) -> bool {
        self.ifs.get(sw_if_index as usize).is_some_and(|i| i.admin_up)
    }
}

/// Per-thread interface counters, indexed by sw_if_index.
#[derive(Clone, Debug, Default)]
pub struct IfCounters {
    pub rx_packets: Vec<u64>,
    pub rx_bytes: Vec<u64>,
    pub tx_packets: Vec<u64>,
    pub tx_bytes: Vec<u64>,
    pub drops: Vec<u64>,
    pub punts: Vec<u64>,
    pub rx_no_buf: Vec<u64>,
    pub tx_errors: Vec<u64>,
}

/// Counter names in `show interface` order.
pub const COUNTER_NAMES: [&str; 8] =
    ["rx packets", "rx bytes", "tx packets", "tx bytes", "drops", "punt", "rx-no-buf", "tx-error"];

impl IfCounters {
    fn all_mut(&mut self) -> [&mut Vec<u64>; 8] {
        [
            &mut self.rx_packets,
            &mut self.rx_bytes,
            &mut self.tx_packets,
            &mut self.tx_bytes,
            &mut self.drops,
            &mut self.punts,
            &mut self.rx_no_buf,
            &mut self.tx_errors,
        ]
    }
    fn all(&self) -> [&Vec<u64>; 8] {
        [
            &self.rx_packets,
            &self.rx_bytes,
            &self.tx_packets,
            &self.tx_bytes,
            &self.drops,
            &self.punts,
            &self.rx_no_buf,
            &self.tx_errors,
        ]
    }

    /// Makes room for interfaces up to `n` (control plane, between frames).
    pub fn ensure(&mut self, n: usize) {
        for v in self.all_mut() {
            if v.len() < n {
                v.resize(n, 0);
            }
        }
    }

    /// Zeroes every counter.
    pub fn clear(&mut self) {
        for v in self.all_mut() {
            v.fill(0);
        }
    }

    /// Adds another thread's counters into these.
    pub fn add(&mut self, o: &IfCounters) {
        let n = o.rx_packets.len().max(self.rx_packets.len());
        self.ensure(n);
        for (a, b) in self.all_mut().into_iter().zip(o.all()) {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += *y;
            }
        }
    }

    /// One interface's counters in `show interface` order.
    pub fn of(&self, sw_if_index: u32) -> [u64; 8] {
        let i = sw_if_index as usize;
        self.all().map(|v| v.get(i).copied().unwrap_or(0))
    }

    #[inline(always)]
    pub fn rx(&mut self, sw: u32, bytes: usize) {
        if let (Some(p), Some(b)) = (self.rx_packets.get_mut(sw as usize), self.rx_bytes.get_mut(sw as usize)) {
            *p += 1;
            *b += bytes as u64;
        }
    }

    /// Adds a batch of received packets to one interface.
    #[inline(always)]
    pub fn rx_batch(&mut self, sw: u32, packets: u64, bytes: u64) {
        if let (Some(p), Some(b)) = (self.rx_packets.get_mut(sw as usize), self.rx_bytes.get_mut(sw as usize)) {
            *p += packets;
            *b += bytes;
        }
    }

    #[inline(always)]
    pub fn tx_batch(&mut self, sw: u32, packets: u64, bytes: u64) {
        if let (Some(p), Some(b)) = (self.tx_packets.get_mut(sw as usize), self.tx_bytes.get_mut(sw as usize)) {
            *p += packets;
            *b += bytes;
        }
    }

    #[inline(always)]
    pub fn drop(&mut self, sw: u32, n: u64) {
        if let Some(d) = self.drops.get_mut(sw as usize) {
            *d += n;
        }
    }

    #[inline(always)]
    pub fn tx_error(&mut self, sw: u32, n: u64) {
        if let Some(d) = self.tx_errors.get_mut(sw as usize) {
            *d += n;
        }
    }

    #[inline(always)]
    pub fn rx_no_buf(&mut self, sw: u32, n: u64) {
        if let Some(d) = self.rx_no_buf.get_mut(sw as usize) {
            *d += n;
        }
    }
}

/// The control plane's table.
#[derive(Default)]
pub struct InterfaceTable {
    pub(crate) ifs: Vec<Interface>,
    hw_count: u32,
}

/// Formats a MAC as VPP does (`02:fe:12:34:56:78`).
pub fn format_mac(m: &[u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

/// Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-...` or VPP's `aabb.ccdd.eeff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    if s.len() == 14 && s.as_bytes()[4] == b'.' && s.as_bytes()[9] == b'.' {
        let hex: String = s.split('.').collect();
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        return Some(out);
    }
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    for (o, p) in out.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

impl InterfaceTable {
    /// Adds a hardware interface; returns its sw_if_index.
    pub fn add_hw(&mut self, name: String, mac: [u8; 6], mtu: u32, device: Option<Arc<dyn Device>>) -> SwIfIndex {
        let sw = SwIfIndex(self.ifs.len() as u32);
        let hw = self.hw_count;
        self.hw_count += 1;
        self.ifs.push(Interface {
            sw_if_index: sw,
            name,
            hw_if_index: hw,
            sup_sw_if_index: sw,
            sub: None,
            admin_up: false,
            link_up: true,
            mtu: [mtu, 0, 0, 0],
            mac,
            device,
            rx_queues: Vec::new(),
            deleted: false,
        });
        sw
    }

    /// Adds a sub-interface of `parent`. Its MTUs are the parent's (VPP's
    /// rule), less 4 bytes for a QinQ one: drivers (and the kernel behind
    /// af_packet, whose tx takes at most MTU + 14 + 4) send one tag beyond
    /// the MTU, not two.
    pub fn add_sub(&mut self, parent: SwIfIndex, sub: SubMatch) -> Option<SwIfIndex> {
        let p = self.get(parent)?.clone();
        let mut mtu = p.mtu;
        if sub.outer_vlan.is_some() && sub.inner_vlan.is_some() {
            // 0 (follow the L3 MTU) stays 0.
            mtu = mtu.map(|m| m.saturating_sub(4));
        }
        let sw = SwIfIndex(self.ifs.len() as u32);
        self.ifs.push(Interface {
            sw_if_index: sw,
            name: format!("{}.{}", p.name, sub.sub_id),
            hw_if_index: p.hw_if_index,
            sup_sw_if_index: parent,
            sub: Some(sub),
            admin_up: false,
            link_up: p.link_up,
            mtu,
            mac: p.mac,
            device: p.device.clone(),
            rx_queues: Vec::new(),
            deleted: false,
        });
        Some(sw)
    }

    /// An interface by index (not deleted).
    pub fn get(&self, sw: SwIfIndex) -> Option<&Interface> {
        self.ifs.get(sw.0 as usize).filter(|i| !i.deleted)
    }

    pub fn get_mut(&mut self, sw: SwIfIndex) -> Option<&mut Interface> {
        self.ifs.get_mut(sw.0 as usize).filter(|i| !i.deleted)
    }

    /// An interface by exact name.
    pub fn by_name(&self, name: &str) -> Option<SwIfIndex> {
        self.ifs.iter().find(|i| !i.deleted && i.name == name).map(|i| i.sw_if_index)
    }

    /// The driver of an interface's device (None: no such interface, or no
    /// device, as local0 and sub-interfaces).
    pub fn driver_of(&self, sw: SwIfIndex) -> Option<&'static str> {
        self.get(sw).and_then(|f| f.device.as_ref()).map(|d| d.driver())
    }

    /// Live interfaces in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Interface> {
        self.ifs.iter().filter(|i| !i.deleted)
    }

    /// Slots in use (deleted included): the size of per-thread arrays.
    pub fn capacity(&self) -> usize {
        self.ifs.len()
    }

    /// Number of hardware interfaces created so far.
    pub fn hw_count(&self) -> u32 {
        self.hw_count
    }

    /// The table as workers see it.
    pub fn snapshot(&self) -> IfSnapshot {
        IfSnapshot {
            ifs: self
                .ifs
                .iter()
                .map(|i| IfFast {
                    admin_up: i.admin_up && !i.deleted,
                    link_up: i.link_up,
                    sup_sw_if_index: i.sup_sw_if_index.0,
                    mtu: i.mtu[0],
                    mac: i.mac,
                    tso_max: if i.sub.is_none() { i.device.as_ref().map_or(0, |d| d.tso_max()) } else { 0 },
                })
                .collect(),
        }
    }

    /// `show interface` with counters summed over threads.
    pub fn format_show(&self, ctr: &IfCounters, only: Option<SwIfIndex>) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>21}{:>17}{:>9}{:>22}{:>14}{:>16}",
            "Name", "Idx", "State", "MTU (L3/IP4/IP6/MPLS)", "Counter", "Count"
        );
        for i in self.iter() {
            if only.is_some_and(|o| o != i.sw_if_index) {
                continue;
            }
            let state = if i.admin_up { "up" } else { "down" };
            let mtu = format!("{}/{}/{}/{}", i.mtu[0], i.mtu[1], i.mtu[2], i.mtu[3]);
            let vals = ctr.of(i.sw_if_index.0);
            let mut first = true;
            let lead = format!("{:<33}{:<6}{:<8}{:<20}", i.name, i.sw_if_index.0, state, mtu);
            for (name, v) in COUNTER_NAMES.iter().zip(vals) {
                if v == 0 {
                    continue;
                }
                if first {
                    let _ = writeln!(s, "{lead}{name:<20}{v:>14}");
                    first = false;
                } else {
                    let _ = writeln!(s, "{:67}{name:<20}{v:>14}", "");
                }
            }
            if first {
                let _ = writeln!(s, "{}", lead.trim_end());
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_formats() {
        assert_eq!(parse_mac("00:01:02:03:04:05"), Some([0, 1, 2, 3, 4, 5]));
        assert_eq!(parse_mac("0001.0203.0a05"), Some([0, 1, 2, 3, 10, 5]));
        assert_eq!(parse_mac("00-01-02-03-04-ff"), Some([0, 1, 2, 3, 4, 255]));
        assert_eq!(parse_mac("00:01:02:03:04"), None);
        assert_eq!(parse_mac("00:01:02:03:04:zz"), None);
        assert_eq!(parse_mac("000:01:02:03:04:05"), None);
        assert_eq!(format_mac(&[2, 0xfe, 0, 0, 0, 1]), "02:fe:00:00:00:01");
    }

    /// A QinQ sub-interface's frames carry a second tag the drivers' one
    /// tag of slack beyond MTU + 14 does not cover: its L3 MTUs are 4
    /// bytes below its parent's, so IP fragments or says "too big" instead
    /// of a tx drop. A one-tag sub-interface keeps its parent's.
    #[test]
    fn qinq_sub_interfaces_leave_room_for_the_second_tag() {
        let mut t = InterfaceTable::default();
        let p = t.add_hw("eth0".into(), [0; 6], 1500, None);
        t.get_mut(p).unwrap().mtu[2] = 1400;
        let dot1q = t.add_sub(p, SubMatch { sub_id: 1, outer_vlan: Some(1), ..Default::default() }).unwrap();
        let qinq = SubMatch { sub_id: 2, outer_vlan: Some(2), inner_vlan: Some(3), ..Default::default() };
        let qinq = t.add_sub(p, qinq).unwrap();
        assert_eq!(t.get(dot1q).unwrap().mtu, [1500, 0, 1400, 0]);
        assert_eq!(t.get(qinq).unwrap().mtu, [1496, 0, 1396, 0]);
        assert_eq!(t.snapshot().ifs[qinq.0 as usize].mtu, 1496);
    }

    #[test]
    fn show_lists_nonzero_counters() {
        let mut t = InterfaceTable::default();
        let a = t.add_hw("pg0".into(), [0; 6], 9000, None);
        t.get_mut(a).unwrap().admin_up = true;
        let mut c = IfCounters::default();
        c.ensure(1);
        c.rx(0, 60);
        let out = t.format_show(&c, None);
        assert!(out.contains("pg0"), "{out}");
        assert!(out.contains("rx packets"), "{out}");
        assert!(out.contains(" up "), "{out}");
        assert!(!out.contains("tx packets"), "{out}");
    }
}
