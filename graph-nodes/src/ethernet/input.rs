//! `ethernet-input`: checks the frame, sends cross-connected interfaces'
//! frames to `l2-output`, and dispatches the rest by ethertype to the node
//! registered for it (ip4-input, ip6-input, arp-input...). Frames shorter
//! than a header, with an ethertype nobody registered, or (on an L3
//! interface) addressed to another unicast MAC are counted drops.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::buffer::{RX, TX};
use rvpp_dataplane::device::ErrorDrop;
use rvpp_dataplane::engine::Registrar;
use rvpp_dataplane::graph::NodeReg;
use rvpp_dataplane::node::FRAME_SIZE;
use rvpp_dataplane::{BufferIndex, CounterDesc, Frame, Node, Vm};

use super::sub::{SubTable, Subs};
use super::{ethertype, ethertype_name, format_mac, EtherTypes, HEADER_LEN};
use crate::l2::{L2Output, L2Table, NONE};

#[repr(u16)]
#[derive(Clone, Copy)]
enum Next {
    Drop = 0,
    L2Output = 1,
    /// First arc of the ethertype table.
    Types = 2,
}

#[repr(usize)]
#[derive(Clone, Copy)]
enum Counter {
    TooShort,
    UnknownType,
    MacMismatch,
    UnknownVlan,
    SubDown,
}

static COUNTERS: [CounterDesc; 5] = [
    CounterDesc::error("frame too short"),
    CounterDesc::error("unknown ethernet type"),
    CounterDesc::error("l3 mac mismatch"),
    CounterDesc::error("unknown vlan"),
    CounterDesc::error("sub-interface down"),
];

/// The `ethernet-input` node.
pub struct EthernetInput {
    nexts: Vec<&'static str>,
    /// (ethertype, next arc), most common first.
    types: Vec<(u16, u16)>,
    l2: L2Table,
    subs: Subs,
}

impl EthernetInput {
    pub const NAME: &'static str = "ethernet-input";

    /// A node dispatching `types` (ethertype, node name).
    pub fn new(types: &EtherTypes, l2: L2Table, subs: Subs) -> Self {
        let mut nexts = vec![ErrorDrop::NAME, L2Output::NAME];
        let mut t = Vec::new();
        for (k, (et, node)) in types.0.iter().enumerate() {
            nexts.push(node);
            t.push((*et, Next::Types as u16 + k as u16));
        }
        EthernetInput { nexts, types: t, l2, subs }
    }

    /// Moves a tagged frame to its sub-interface: Ok(Some((sub, inner
    /// ethertype, header length))), Ok(None) when the sub-interface is
    /// cross-connected (TX set), or the drop reason. A priority tag (VID
    /// 0, 802.1Q's untagged traffic with a priority) leaves the frame on
    /// its interface, or, with a second tag behind it, lets that one
    /// decide.
    #[cold]
    fn vlan(
        &self,
        vm: &mut Vm,
        bi: BufferIndex,
        subs: &SubTable,
        ifs: &rvpp_dataplane::interface::IfSnapshot,
        l2: &crate::l2::L2Config,
    ) -> Result<Option<(u32, u16, usize)>, Counter> {
        let d = vm.bufs.data(bi);
        let rx = vm.bufs.meta(bi).sw_if_index[RX];
        if d.len() < 18 {
            return Err(Counter::TooShort);
        }
        let dot1ad = u16::from_be_bytes([d[12], d[13]]) == ethertype::DOT1AD;
        let outer = u16::from_be_bytes([d[14], d[15]]) & 0x0fff;
        let et2 = u16::from_be_bytes([d[16], d[17]]);
        let (inner, et, len) = if et2 == ethertype::VLAN {
            if d.len() < 22 {
                return Err(Counter::TooShort);
            }
            (Some(u16::from_be_bytes([d[18], d[19]]) & 0x0fff), u16::from_be_bytes([d[20], d[21]]), 22)
        } else {
            (None, et2, 18)
        };
        let sub = match (outer, inner) {
            // Priority-tagged: the parent's own traffic (a cross-connected
            // parent's frames never get here).
            (0, None) => return Ok(Some((rx, et, len))),
            (0, Some(vid)) => subs.lookup(rx, false, vid, None),
            _ => subs.lookup(rx, dot1ad, outer, inner),
        };
        let sub = sub.ok_or(Counter::UnknownVlan)?;
        if !ifs.is_up(sub) {
            return Err(Counter::SubDown);
        }
        let xc = l2.xconnect_of(sub);
        if xc != NONE {
            let m = vm.bufs.meta_mut(bi);
            m.sw_if_index[RX] = sub;
            m.sw_if_index[TX] = xc;
            return Ok(None);
        }
        Ok(Some((sub, et, len)))
    }

    /// The slow path of a tagged frame: its sub-interface, then dispatch on
    /// the inner ethertype.
    #[cold]
    fn tagged(
        &self,
        vm: &mut Vm,
        bi: BufferIndex,
        subs: &SubTable,
        ifs: &rvpp_dataplane::interface::IfSnapshot,
        l2: &crate::l2::L2Config,
        unknown: &mut u64,
    ) -> u16 {
        match self.vlan(vm, bi, subs, ifs, l2) {
            // An L3 sub-interface takes frames for the hardware MAC (the
            // parent's; the frame's rx is still the parent here).
            Ok(Some(_))
                if {
                    let d = vm.bufs.data(bi);
                    let parent = vm.bufs.meta(bi).sw_if_index[RX];
                    d[0] & 1 == 0 && ifs.ifs.get(parent as usize).is_some_and(|f| d[..6] != f.mac)
                } =>
            {
                vm.count(Counter::MacMismatch as usize, 1);
                Next::Drop as u16
            }
            Ok(Some((sub, et, hdr))) => match self.type_next(et) {
                Some(next) => {
                    let m = vm.bufs.meta_mut(bi);
                    m.sw_if_index[RX] = sub;
                    m.l2_hdr_offset = m.current_data;
                    m.current_data += hdr as i16;
                    m.current_length -= hdr as u16;
                    m.l3_hdr_offset = m.current_data;
                    next
                }
                None => {
                    *unknown += 1;
                    Next::Drop as u16
                }
            },
            // A cross-connected sub-interface: the raw frame to l2-output.
            Ok(None) => Next::L2Output as u16,
            Err(c) => {
                vm.count(c as usize, 1);
                Next::Drop as u16
            }
        }
    }

    /// The full check of one untagged frame the fast loops left: its next,
    /// or None for a tagged one (the sub-interface pass decides).
    #[inline(never)]
    fn classify(
        &self,
        m: &mut rvpp_dataplane::BufferMeta,
        d: &[u8],
        l2: &crate::l2::L2Config,
        ifs: &rvpp_dataplane::interface::IfSnapshot,
        c: &mut Counts,
    ) -> Option<u16> {
        let rx = m.sw_if_index[RX];
        let Some(h) = d.first_chunk::<HEADER_LEN>() else {
            c.short += 1;
            return Some(Next::Drop as u16);
        };
        let xc = l2.xconnect_of(rx);
        if xc != NONE {
            m.sw_if_index[TX] = xc;
            return Some(Next::L2Output as u16);
        }
        let et = u16::from_be_bytes([h[12], h[13]]);
        if et == ethertype::VLAN || et == ethertype::DOT1AD {
            // The sub-interface decides (an L2 one takes any MAC).
            return None;
        }
        if h[0] & 1 == 0 && ifs.ifs.get(rx as usize).is_some_and(|f| h[..6] != f.mac) {
            c.mismatch += 1;
            return Some(Next::Drop as u16);
        }
        Some(match self.type_next(et) {
            Some(next) => {
                m.l2_hdr_offset = m.current_data;
                m.current_data += HEADER_LEN as i16;
                m.current_length = (d.len() - HEADER_LEN) as u16;
                m.l3_hdr_offset = m.current_data;
                next
            }
            None => {
                c.unknown += 1;
                Next::Drop as u16
            }
        })
    }

    #[inline(always)]
    fn type_next(&self, et: u16) -> Option<u16> {
        self.types.iter().find(|t| t.0 == et).map(|t| t.1)
    }
}

#[derive(Default)]
struct Counts {
    short: u64,
    unknown: u64,
    mismatch: u64,
}

/// A MAC address as a 48-bit word.
#[inline(always)]
fn mac48(m: &[u8; 6]) -> u64 {
    u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0])
}

impl Node for EthernetInput {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn next_nodes(&self) -> &[&'static str] {
        &self.nexts
    }
    fn counters(&self) -> &'static [CounterDesc] {
        &COUNTERS
    }

    fn process(&mut self, vm: &mut Vm, frame: &mut Frame) {
        let l2 = self.l2.load();
        let subs = self.subs.load();
        let ifs = vm.ifs.clone();
        let mut c = Counts::default();
        // Frames the loops below do not take wait here for the full check;
        // tagged ones then wait for the sub-interface pass.
        let mut later = [0u16; FRAME_SIZE];
        let mut nlater = 0;
        let mut tagged = [0u16; FRAME_SIZE];
        let mut ntagged = 0;
        let mut pk = vm.bufs.view();
        // The frame's packets nearly always share the first one's rx
        // interface and ethertype: what those decide is worked out once.
        let (rx0, et0) = match frame.pkts.first() {
            Some(&bi) => {
                let (m, d) = pk.data_mut(bi);
                (m.sw_if_index[RX], d.get(12..14).map_or(0, |e| u16::from_be_bytes([e[0], e[1]])))
            }
            None => (u32::MAX, 0),
        };
        let xc = l2.xconnect_of(rx0);
        // The interface's MAC as a 48-bit word in the top bits, as the
        // loops see it (an impossible value when unknown or cross-connected,
        // so unicast frames take the full check).
        let mac = match ifs.ifs.get(rx0 as usize) {
            Some(f) if xc == NONE => mac48(&f.mac) << 16,
            _ => u64::MAX,
        };
        // The loops below set the next only of packets that do not take
        // the frame's common one; the full checks set theirs.
        if xc != NONE {
            frame.all_to(Next::L2Output as u16);
            for (k, &bi) in frame.pkts.iter().enumerate() {
                match pk.head_mut::<HEADER_LEN>(bi) {
                    Some((m, _)) if m.sw_if_index[RX] == rx0 => {
                        m.sw_if_index[TX] = xc;
                        continue;
                    }
                    _ => {}
                }
                if let Some(x) = later.get_mut(nlater) {
                    *x = k as u16;
                    nlater += 1;
                }
            }
        } else {
            // An ethertype nobody takes, or a tag, never matches here (its
            // stand-in is no 16-bit value).
            let next0 = match et0 {
                ethertype::VLAN | ethertype::DOT1AD => None,
                et => self.type_next(et),
            };
            let (et0, next0) = next0.map_or((u32::MAX, 0), |n| (u16::to_be(et0) as u32, n));
            frame.all_to(next0);
            for (k, &bi) in frame.pkts.iter().enumerate() {
                if let Some((m, h)) = pk.head_mut::<HEADER_LEN>(bi) {
                    // Destination and the first two source bytes in one
                    // load; the ethertype as it lies in memory.
                    let w = u64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
                    let et = u16::from_ne_bytes(h[12..14].try_into().unwrap_or_default()) as u32;
                    let same = m.sw_if_index[RX] == rx0;
                    // Unicast to us; multicast and broadcast (rarer) take
                    // the full check.
                    if (w << 16 == mac) & same & (et == et0) {
                        m.l2_hdr_offset = m.current_data;
                        m.current_data = m.current_data.wrapping_add(HEADER_LEN as i16);
                        m.current_length -= HEADER_LEN as u16;
                        m.l3_hdr_offset = m.current_data;
                        continue;
                    }
                }
                // The full check decides.
                if let Some(x) = later.get_mut(nlater) {
                    *x = k as u16;
                    nlater += 1;
                }
            }
        }
        let tags = (u16::to_be(ethertype::VLAN) as u32, u16::to_be(ethertype::DOT1AD) as u32);
        for &k in &later[..nlater] {
            let k = k as usize;
            // Another host's untagged unicast on the frame's interface (a
            // known one, not cross-connected): a counted drop, told in a
            // few compares.
            if let Some((m, h)) = pk.head_mut::<HEADER_LEN>(frame.pkts[k]) {
                let w = u64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
                let et = u16::from_ne_bytes(h[12..14].try_into().unwrap_or_default()) as u32;
                let tagged = (et == tags.0) | (et == tags.1);
                let ours = (w & 1 != 0) | (w << 16 == mac);
                if !ours & (m.sw_if_index[RX] == rx0) & !tagged & (mac != u64::MAX) {
                    c.mismatch += 1;
                    frame.nexts[k] = Next::Drop as u16;
                    continue;
                }
            }
            let (m, d) = pk.data_mut(frame.pkts[k]);
            match self.classify(m, d, &l2, &ifs, &mut c) {
                Some(next) => frame.nexts[k] = next,
                None => {
                    if let Some(t) = tagged.get_mut(ntagged) {
                        *t = k as u16;
                        ntagged += 1;
                    }
                }
            }
        }
        let mut unknown = c.unknown;
        for &k in &tagged[..ntagged] {
            let k = k as usize;
            frame.nexts[k] = self.tagged(vm, frame.pkts[k], &subs, &ifs, &l2, &mut unknown);
        }
        vm.count(Counter::TooShort as usize, c.short);
        vm.count(Counter::UnknownType as usize, unknown);
        vm.count(Counter::MacMismatch as usize, c.mismatch);
        if vm.tracing() {
            for &bi in frame.pkts.iter() {
                vm.trace(bi, |b| trace_line(b, bi));
            }
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `IP4: 00:01:02:03:04:05 -> 00:02:03:04:05:06`, read from the frame's
/// Ethernet header wherever the packet now starts.
fn trace_line(b: &rvpp_dataplane::ThreadBuffers, bi: BufferIndex) -> String {
    let m = b.meta(bi);
    let raw = b.raw(bi);
    let start = (rvpp_dataplane::buffer::HEADROOM as isize
        + if m.current_data as i32 >= HEADER_LEN as i32 && m.l3_hdr_offset == m.current_data {
            m.l2_hdr_offset as isize
        } else {
            m.current_data as isize
        })
    .max(0) as usize;
    match raw.get(start..start + HEADER_LEN) {
        Some(h) if m.current_length as usize + (m.current_data - m.l2_hdr_offset).max(0) as usize >= HEADER_LEN => {
            format!(
                "{}: {} -> {}",
                ethertype_name(u16::from_be_bytes([h[12], h[13]])),
                format_mac(&h[6..12]),
                format_mac(&h[0..6])
            )
        }
        _ => format!("frame too short ({} bytes)", m.current_length),
    }
}

pub fn register(r: &mut Registrar) {
    let l2 = r.ext.get_or_default::<L2Table>().clone();
    let subs = r.ext.get_or_default::<Subs>().clone();
    r.node(NodeReg {
        name: EthernetInput::NAME,
        factory: Arc::new(move |init| {
            let types = init.ext.get::<EtherTypes>().cloned().unwrap_or_default();
            Box::new(EthernetInput::new(&types, l2.clone(), subs.clone()))
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2::L2Config;
    use rvpp_dataplane::testing::Harness;

    fn frame(dst: [u8; 6], et: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&[0, 1, 2, 3, 4, 5]);
        f[12..14].copy_from_slice(&et.to_be_bytes());
        f
    }

    fn harness(xc: Option<(u32, u32)>) -> Harness {
        let types = EtherTypes(vec![(0x0800, "ip4-input"), (0x86dd, "ip6-input")]);
        let l2 = L2Table::default();
        if let Some((a, b)) = xc {
            let mut c = L2Config { xconnect: vec![NONE; 4] };
            c.xconnect[a as usize] = b;
            l2.store(c);
        }
        Harness::new(Box::new(EthernetInput::new(&types, l2, Subs::default())), 4)
    }

    #[test]
    fn dispatches_by_ethertype_and_strips_header() {
        let mut h = harness(None);
        let mac1 = [2, 0, 0, 0, 0, 1];
        let mut p = [
            h.packet(&frame(mac1, 0x0800, 60), 1),
            h.packet(&frame(mac1, 0x86dd, 60), 1),
            h.packet(&frame([0xff; 6], 0x0800, 60), 1),
        ];
        let n = h.run(&mut p);
        let names: Vec<&str> = n.iter().map(|&x| h.next_name(x)).collect();
        assert_eq!(names, ["ip4-input", "ip6-input", "ip4-input"]);
        assert_eq!(h.bytes(p[0]).len(), 46);
        let m = h.vm.bufs.meta(p[0]);
        assert_eq!((m.l2_hdr_offset, m.l3_hdr_offset), (0, 14));
    }

    #[test]
    fn bad_frames_are_counted_drops() {
        let mut h = harness(None);
        let mac1 = [2, 0, 0, 0, 0, 1];
        let mut p = [
            h.packet(&[1, 2, 3], 1),
            h.packet(&frame(mac1, 0x1234, 60), 1),
            h.packet(&frame([2, 9, 9, 9, 9, 9], 0x0800, 60), 1),
            h.packet(&[], 1),
            h.packet(&frame(mac1, 0x0800, 14), 1),
        ];
        let n = h.run(&mut p);
        let names: Vec<&str> = n.iter().map(|&x| h.next_name(x)).collect();
        assert_eq!(names, ["error-drop", "error-drop", "error-drop", "error-drop", "ip4-input"]);
        assert_eq!(h.counter("frame too short"), 2);
        assert_eq!(h.counter("unknown ethernet type"), 1);
        assert_eq!(h.counter("l3 mac mismatch"), 1);
    }

    #[test]
    fn cross_connected_frames_go_to_l2_output_unchanged() {
        let mut h = harness(Some((1, 2)));
        let f = frame([9; 6], 0x1234, 64);
        let mut p = [h.packet(&f, 1), h.packet(&f, 3)];
        let n = h.run(&mut p);
        assert_eq!(h.next_name(n[0]), "l2-output");
        assert_eq!(h.vm.bufs.meta(p[0]).sw_if_index[TX], 2);
        assert_eq!(h.bytes(p[0]), f);
        assert_eq!(h.next_name(n[1]), "error-drop", "rx 3 is not cross-connected");
    }

    #[test]
    fn tagged_frames_move_to_their_sub_interface() {
        use super::super::sub::{SubEntry, SubTable};
        let types = EtherTypes(vec![(0x0800, "ip4-input")]);
        let subs = Subs::default();
        let mut t = SubTable { by_parent: vec![vec![]; 2] };
        t.by_parent[1].push(SubEntry {
            sw_if_index: 3,
            outer: Some(123),
            inner: None,
            dot1ad: false,
            exact: true,
            default: false,
        });
        subs.store(t);
        let mut h = Harness::new(Box::new(EthernetInput::new(&types, L2Table::default(), subs)), 4);
        let mac1 = [2, 0, 0, 0, 0, 1];
        let mut tagged = frame(mac1, 0x8100, 64);
        tagged[14..18].copy_from_slice(&[0x00, 123, 0x08, 0x00]);
        let mut other = tagged.clone();
        other[15] = 124;
        let untagged = frame(mac1, 0x0800, 60);
        let mut p = [h.packet(&tagged, 1), h.packet(&other, 1), h.packet(&untagged, 1)];
        let n = h.run(&mut p);
        let names: Vec<&str> = n.iter().map(|&x| h.next_name(x)).collect();
        assert_eq!(names, ["ip4-input", "error-drop", "ip4-input"]);
        assert_eq!(h.vm.bufs.meta(p[0]).sw_if_index[RX], 3);
        assert_eq!(h.bytes(p[0]).len(), 64 - 18);
        assert_eq!(h.vm.bufs.meta(p[2]).sw_if_index[RX], 1, "untagged stays on the parent");
        assert_eq!(h.counter("unknown vlan"), 1);
    }

    /// ethernet-input over the sub-interfaces `cmds` make on pg0 (sw 1),
    /// all of them up, and the sw_if_index of each name.
    fn sub_harness(cmds: &[&str]) -> (Harness, impl Fn(&str) -> u32) {
        let mut e = super::super::sub::tests::engine(cmds);
        let names: Vec<(String, u32)> = e.interfaces.iter().map(|f| (f.name.clone(), f.sw_if_index.0)).collect();
        for (n, _) in &names {
            e.exec(&format!("set interface state {n} up")).unwrap();
        }
        let types = EtherTypes(vec![(0x0800, "ip4-input")]);
        let subs = e.ext.get::<Subs>().cloned().expect("sub-interface table");
        let mut h = Harness::new(Box::new(EthernetInput::new(&types, L2Table::default(), subs)), names.len());
        h.set_interfaces(e.interfaces.snapshot());
        let sw = move |n: &str| names.iter().find(|x| x.0 == n).map_or(u32::MAX, |x| x.1);
        (h, sw)
    }

    /// A frame to pg0 with these (TPID, TCI) tags carrying IP4.
    fn tagged(tags: &[(u16, u16)]) -> Vec<u8> {
        let mut f = frame([2, 0, 0, 0, 0, 1], tags[0].0, 14);
        for (k, &(_, tci)) in tags.iter().enumerate() {
            f.extend_from_slice(&tci.to_be_bytes());
            f.extend_from_slice(&tags.get(k + 1).map_or(0x0800, |t| t.0).to_be_bytes());
        }
        f.resize(64, 0);
        f
    }

    #[test]
    fn the_outer_tpid_picks_dot1q_or_dot1ad() {
        let (mut h, sw) = sub_harness(&[
            "create sub-interfaces pg0 1 dot1q 100",
            "create sub-interfaces pg0 2 dot1ad 200",
            "create sub-interfaces pg0 3 dot1q 300 inner-dot1q 5",
            "create sub-interfaces pg0 4 dot1ad 400 inner-dot1q 5",
        ]);
        let frames = [
            (tagged(&[(0x8100, 100)]), "pg0.1"),
            (tagged(&[(0x88a8, 100)]), ""),
            (tagged(&[(0x88a8, 200)]), "pg0.2"),
            (tagged(&[(0x8100, 200)]), ""),
            (tagged(&[(0x8100, 300), (0x8100, 5)]), "pg0.3"),
            (tagged(&[(0x88a8, 300), (0x8100, 5)]), ""),
            (tagged(&[(0x88a8, 400), (0x8100, 5)]), "pg0.4"),
            (tagged(&[(0x8100, 400), (0x8100, 5)]), ""),
        ];
        let mut p: Vec<BufferIndex> = frames.iter().map(|f| h.packet(&f.0, 1)).collect();
        let n = h.run(&mut p);
        for (k, (f, want)) in frames.iter().enumerate() {
            let got = (h.next_name(n[k]), h.vm.bufs.meta(p[k]).sw_if_index[RX]);
            let want = if want.is_empty() { ("error-drop", 1) } else { ("ip4-input", sw(want)) };
            assert_eq!(got, want, "frame {k}: {:02x?}", &f[12..22]);
        }
        assert_eq!(h.counter("unknown vlan"), 4);
    }

    /// A priority tag (VID 0) is the parent's untagged traffic: stripped,
    /// and the frame dispatched by what it carries (another tag included).
    #[test]
    fn priority_tagged_frames_belong_to_the_parent() {
        let (mut h, sw) = sub_harness(&["create sub-interfaces pg0 1 dot1q 100"]);
        let frames = [
            tagged(&[(0x8100, 0x6000)]),
            tagged(&[(0x8100, 0x0000)]),
            tagged(&[(0x8100, 0xe000), (0x8100, 100)]),
            tagged(&[(0x8100, 0x6000), (0x8100, 101)]),
        ];
        let mut p: Vec<BufferIndex> = frames.iter().map(|f| h.packet(f, 1)).collect();
        let n = h.run(&mut p);
        let got: Vec<(&str, u32, usize)> = (0..p.len())
            .map(|k| (h.next_name(n[k]), h.vm.bufs.meta(p[k]).sw_if_index[RX], h.bytes(p[k]).len()))
            .collect();
        let ip4 = "ip4-input";
        assert_eq!(got, [(ip4, 1, 64 - 18), (ip4, 1, 64 - 18), (ip4, sw("pg0.1"), 64 - 22), ("error-drop", 1, 64)]);
        let m = h.vm.bufs.meta(p[0]);
        assert_eq!((m.l2_hdr_offset, m.l3_hdr_offset), (0, 18));
        assert_eq!(h.counter("unknown vlan"), 1);
    }

    /// Mixed frames (rx interfaces, one of them cross-connected, MACs,
    /// ethertypes, tags, runts) get the same next whichever packet leads
    /// the frame, i.e. whether the per-frame fast loops or the full check
    /// take them, and the one a plain model of the rules says.
    #[test]
    fn fast_loops_agree_with_the_rules() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..300 {
            let mut h = harness(Some((3, 1)));
            let mut pkts = Vec::new();
            let mut want = Vec::new();
            for _ in 0..24 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly frames like the first, so both loops see work.
                let same = round % 2 == 0 && !x.is_multiple_of(4);
                let rx = if same { 1 } else { 1 + (x >> 8) as u32 % 3 };
                let dst = match if same { 0 } else { (x >> 16) % 4 } {
                    0 => [2, 0, 0, 0, 0, rx as u8],
                    1 => [2, 0, 0, 0, 0, 9],
                    2 => [0xff; 6],
                    _ => [0x33, 0x33, 0, 0, 0, 1],
                };
                let et = if same { 0x0800 } else { [0x0800u16, 0x86dd, 0x0806, 0x8100][(x >> 24) as usize % 4] };
                let len = if !same && (x >> 32).is_multiple_of(8) { 10 } else { 60 };
                pkts.push(h.packet(&frame(dst, et, 60)[..len], rx));
                // Runts, tags (no sub-interfaces here; the zero TCI is a
                // priority tag in front of ethertype 0) and other hosts'
                // unicast are drops.
                let other = dst[0] & 1 == 0 && dst[5] != rx as u8;
                want.push(if len >= HEADER_LEN && rx == 3 {
                    "l2-output"
                } else if len < HEADER_LEN || et == 0x8100 || other {
                    "error-drop"
                } else {
                    match et {
                        0x0800 => "ip4-input",
                        0x86dd => "ip6-input",
                        _ => "error-drop",
                    }
                });
            }
            let n = h.run(&mut pkts.clone());
            let got: Vec<&str> = n.iter().map(|&k| h.next_name(k)).collect();
            assert_eq!(got, want, "round {round}");
        }
    }

    #[test]
    fn survives_random_bytes() {
        let mut h = harness(Some((2, 1)));
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..200 {
            let mut pk = Vec::new();
            for k in 0..32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = (x % 100) as usize;
                let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
                pk.push(h.packet(&bytes, (k % 4) as u32));
            }
            let _ = h.run(&mut pk);
            h.vm.bufs.free(&pk);
        }
    }
}
