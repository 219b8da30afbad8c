//! VLAN sub-interfaces: `create sub-interfaces <if> <id> [dot1q|dot1ad
//! <outer> [inner-dot1q <inner>] [exact-match]] | default`, `delete
//! sub-interface <if>`, and the match table `ethernet-input` uses to move
//! tagged frames onto them.

use rvpp_dataplane::cli::builtin::parse_interface;
use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::SubMatch;
use rvpp_dataplane::publish::Published;
use rvpp_dataplane::SwIfIndex;

use super::ethertype;

/// One sub-interface's match.
#[derive(Clone, Copy, Debug)]
pub struct SubEntry {
    pub sw_if_index: u32,
    pub outer: Option<u16>,
    pub inner: Option<u16>,
    /// The outer tag is 802.1ad (0x88a8), else 802.1Q (0x8100): `dot1q
    /// 100` and `dot1ad 100` are two sub-interfaces.
    pub dot1ad: bool,
    pub exact: bool,
    pub default: bool,
}

impl SubEntry {
    /// The TPID of the outer tag.
    #[inline]
    pub fn outer_tpid(&self) -> u16 {
        if self.dot1ad {
            ethertype::DOT1AD
        } else {
            ethertype::VLAN
        }
    }
}

/// Sub-interfaces per parent sw_if_index.
#[derive(Clone, Default, Debug)]
pub struct SubTable {
    pub by_parent: Vec<Vec<SubEntry>>,
}

/// The published table.
pub type Subs = Published<SubTable>;

impl SubTable {
    /// The sub-interface for a frame with these tags on `parent` (`dot1ad`:
    /// the outer TPID is 0x88a8, else 0x8100; a default sub-interface
    /// takes either).
    #[inline]
    pub fn lookup(&self, parent: u32, dot1ad: bool, outer: u16, inner: Option<u16>) -> Option<u32> {
        let subs = self.by_parent.get(parent as usize)?;
        let mut best: Option<(u8, u32)> = None;
        for s in subs {
            let same = s.dot1ad == dot1ad && s.outer == Some(outer);
            let score = match (s.inner, inner) {
                (Some(i), Some(x)) if same && i == x => 3,
                (None, None) if same => 3,
                (None, Some(_)) if same && !s.exact => 2,
                _ if s.default => 1,
                _ => 0,
            };
            if score > 0 && best.is_none_or(|b| score > b.0) {
                best = Some((score, s.sw_if_index));
            }
        }
        best.map(|b| b.1)
    }
}

fn vlan(i: &mut Input, what: &str) -> Result<u16, CliError> {
    let v: u16 = i.parse(what)?;
    if !(1..=4094).contains(&v) {
        return err(format!("{}: {what} {v} is outside 1..4094", i.command()));
    }
    Ok(v)
}

fn create(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let parent = parse_interface(e, i)?;
    if e.interfaces.get(parent).is_some_and(|f| f.sup_sw_if_index != parent) {
        return err("create sub-interfaces: the parent is itself a sub-interface");
    }
    let id: u32 = i.parse("sub-interface id")?;
    let mut m = SubMatch { sub_id: id, ..Default::default() };
    if i.is_empty() {
        // The short form: dot1q <id> exact-match.
        m.outer_vlan = Some(u16::try_from(id).ok().filter(|v| (1..=4094).contains(v)).ok_or_else(|| {
            CliError(format!("create sub-interfaces: id {id} is not a VLAN id; use '{id} dot1q <vlan>'"))
        })?);
        m.exact_match = true;
    } else if i.keyword("default") {
        m.default_sub = true;
    } else {
        m.dot1ad = i.keyword("dot1ad");
        if !m.dot1ad && !i.keyword("dot1q") {
            return i.unexpected();
        }
        m.outer_vlan = Some(vlan(i, "vlan id")?);
        if i.keyword("inner-dot1q") {
            m.inner_vlan = Some(vlan(i, "inner vlan id")?);
        }
        m.exact_match = i.keyword("exact-match");
    }
    i.done()?;
    let name = format!("{}.{id}", e.interfaces.get(parent).map_or("", |f| f.name.as_str()));
    if e.interfaces.by_name(&name).is_some() {
        return err(format!("create sub-interfaces: {name} already exists"));
    }
    let subs = e.ext.get_or_default::<Subs>().clone();
    let clash = subs.load().by_parent.get(parent.0 as usize).is_some_and(|l| {
        l.iter().any(|s| {
            (m.default_sub && s.default)
                || (!m.default_sub && s.dot1ad == m.dot1ad && s.outer == m.outer_vlan && s.inner == m.inner_vlan)
        })
    });
    if clash {
        return err("create sub-interfaces: another sub-interface already matches these tags");
    }
    let sw = e.interfaces.add_sub(parent, m).ok_or_else(|| CliError("create sub-interfaces: no such parent".into()))?;
    e.interface_added(sw);
    subs.update(|t| {
        let k = parent.0 as usize;
        if t.by_parent.len() <= k {
            t.by_parent.resize(k + 1, Vec::new());
        }
        t.by_parent[k].push(SubEntry {
            sw_if_index: sw.0,
            outer: m.outer_vlan,
            inner: m.inner_vlan,
            dot1ad: m.dot1ad,
            exact: m.exact_match,
            default: m.default_sub,
        });
    });
    Ok(format!("{name}\n"))
}

fn delete(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let sw = parse_interface(e, i)?;
    i.done()?;
    if e.interfaces.get(sw).is_none_or(|f| f.sub.is_none()) {
        return err("delete sub-interface: not a sub-interface");
    }
    e.ext.get_or_default::<Subs>().update(|t| {
        for l in &mut t.by_parent {
            l.retain(|s| s.sw_if_index != sw.0);
        }
    });
    e.delete_interface(SwIfIndex(sw.0));
    Ok(String::new())
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<Subs>();
    r.cli.add(
        "create sub-interfaces",
        "create sub-interfaces <if> <id> [dot1q|dot1ad <vlan> [inner-dot1q <vlan>] [exact-match] | default]",
        create,
    );
    r.cli.add("delete sub-interface", "delete sub-interface <if>", delete);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An engine with pg0 (sw 1, MAC 02:00:00:00:00:01, MTU 1500) after
    /// `cmds`.
    pub(crate) fn engine(cmds: &[&str]) -> Engine {
        let mut e = Engine::builder().buffers(1024).workers(0).plugin(crate::register_all).build().expect("engine");
        e.create_interface("pg0".into(), [2, 0, 0, 0, 0, 1], 1500, None);
        for c in cmds {
            e.exec(c).unwrap_or_else(|x| panic!("{c}: {x}"));
        }
        e
    }

    fn sw(e: &Engine, name: &str) -> u32 {
        e.interfaces.by_name(name).unwrap_or_else(|| panic!("no {name}")).0
    }

    #[test]
    fn dot1q_and_dot1ad_with_one_vlan_are_two_sub_interfaces() {
        let mut e = engine(&["create sub-interfaces pg0 1 dot1q 100", "create sub-interfaces pg0 2 dot1ad 100"]);
        let clash = e.exec("create sub-interfaces pg0 3 dot1ad 100").unwrap_err();
        assert!(clash.0.contains("already matches"), "{clash}");
        e.exec("create sub-interfaces pg0 4 dot1q 100 inner-dot1q 5").unwrap();
        e.exec("create sub-interfaces pg0 5 dot1ad 100 inner-dot1q 5").unwrap();
        assert!(e.exec("create sub-interfaces pg0 6 dot1q 100 inner-dot1q 5").is_err());
        let out = e.exec("show interface").unwrap();
        for n in ["pg0.1", "pg0.2", "pg0.4", "pg0.5"] {
            assert!(out.contains(n), "{out}");
        }
    }

    /// The outer tag of an adjacency's rewrite is 802.1ad only on a dot1ad
    /// sub-interface, whatever the number of tags.
    #[test]
    fn rewrites_carry_the_sub_interface_outer_tpid() {
        use crate::ip::fib::build_rewrite;
        let e = engine(&[
            "create sub-interfaces pg0 10 dot1ad 10",
            "create sub-interfaces pg0 11 dot1q 11 inner-dot1q 20",
            "create sub-interfaces pg0 12 dot1ad 12 inner-dot1q 20",
            "create sub-interfaces pg0 13",
        ]);
        let tags = |name: &str| {
            let (rw, len, _) = build_rewrite(&e.interfaces, sw(&e, name), [9; 6], false);
            rw[12..len as usize].to_vec()
        };
        assert_eq!(tags("pg0.10"), [0x88, 0xa8, 0, 10, 0x08, 0x00]);
        assert_eq!(tags("pg0.11"), [0x81, 0x00, 0, 11, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        assert_eq!(tags("pg0.12"), [0x88, 0xa8, 0, 12, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        assert_eq!(tags("pg0.13"), [0x81, 0x00, 0, 13, 0x08, 0x00]);
        // A full-size packet on a QinQ one would be a frame the drivers
        // refuse (MTU + 14 + 8): its adjacencies fragment or say too big.
        let mtu = |name: &str| build_rewrite(&e.interfaces, sw(&e, name), [9; 6], false).2;
        assert_eq!([mtu("pg0.10"), mtu("pg0.11"), mtu("pg0.12"), mtu("pg0.13")], [1500, 1496, 1496, 1500]);
    }

    #[test]
    fn matching_prefers_exact_then_loose_then_default() {
        let e = |sw_if_index, dot1ad, outer, inner, exact| SubEntry {
            sw_if_index,
            outer,
            inner,
            dot1ad,
            exact,
            default: outer.is_none(),
        };
        let t = SubTable {
            by_parent: vec![
                vec![],
                vec![
                    e(10, false, Some(100), None, true),
                    e(11, false, Some(200), None, false),
                    e(12, false, Some(200), Some(5), true),
                    e(13, false, None, None, false),
                    e(14, true, Some(100), None, false),
                ],
            ],
        };
        assert_eq!(t.lookup(1, false, 100, None), Some(10));
        assert_eq!(t.lookup(1, false, 100, Some(7)), Some(13), "exact-match refuses a second tag");
        assert_eq!(t.lookup(1, false, 200, Some(5)), Some(12));
        assert_eq!(t.lookup(1, false, 200, Some(6)), Some(11));
        assert_eq!(t.lookup(1, false, 300, None), Some(13));
        assert_eq!(t.lookup(1, true, 100, Some(7)), Some(14), "dot1ad 100 and dot1q 100 are two");
        assert_eq!(t.lookup(1, true, 200, Some(5)), Some(13), "a dot1ad frame is no dot1q sub-interface's");
        assert_eq!(t.lookup(0, false, 100, None), None);
        assert_eq!(t.lookup(9, false, 100, None), None);
    }
}
