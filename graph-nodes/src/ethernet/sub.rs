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

/// One sub-interface's match.
#[derive(Clone, Copy, Debug)]
pub struct SubEntry {
    pub sw_if_index: u32,
    pub outer: Option<u16>,
    pub inner: Option<u16>,
    pub exact: bool,
    pub default: bool,
}

/// Sub-interfaces per parent sw_if_index.
#[derive(Clone, Default, Debug)]
pub struct SubTable {
    pub by_parent: Vec<Vec<SubEntry>>,
}

/// The published table.
pub type Subs = Published<SubTable>;

impl SubTable {
    /// The sub-interface for a frame with these tags on `parent`.
    #[inline]
    pub fn lookup(&self, parent: u32, outer: u16, inner: Option<u16>) -> Option<u32> {
        let subs = self.by_parent.get(parent as usize)?;
        let mut best: Option<(u8, u32)> = None;
        for s in subs {
            let score = match (s.outer, s.inner, inner) {
                (Some(o), Some(i), Some(x)) if o == outer && i == x => 3,
                (Some(o), None, None) if o == outer => 3,
                (Some(o), None, Some(_)) if o == outer && !s.exact => 2,
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
    } else if i.keyword("dot1q") || i.keyword("dot1ad") {
        m.outer_vlan = Some(vlan(i, "vlan id")?);
        if i.keyword("inner-dot1q") {
            m.inner_vlan = Some(vlan(i, "inner vlan id")?);
        }
        m.exact_match = i.keyword("exact-match");
    } else {
        return i.unexpected();
    }
    i.done()?;
    let name = format!("{}.{id}", e.interfaces.get(parent).map_or("", |f| f.name.as_str()));
    if e.interfaces.by_name(&name).is_some() {
        return err(format!("create sub-interfaces: {name} already exists"));
    }
    let subs = e.ext.get_or_default::<Subs>().clone();
    let clash = subs.load().by_parent.get(parent.0 as usize).is_some_and(|l| {
        l.iter().any(|s| {
            (m.default_sub && s.default) || (!m.default_sub && s.outer == m.outer_vlan && s.inner == m.inner_vlan)
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
mod tests {
    use super::*;

    #[test]
    fn matching_prefers_exact_then_loose_then_default() {
        let t = SubTable {
            by_parent: vec![
                vec![],
                vec![
                    SubEntry { sw_if_index: 10, outer: Some(100), inner: None, exact: true, default: false },
                    SubEntry { sw_if_index: 11, outer: Some(200), inner: None, exact: false, default: false },
                    SubEntry { sw_if_index: 12, outer: Some(200), inner: Some(5), exact: true, default: false },
                    SubEntry { sw_if_index: 13, outer: None, inner: None, exact: false, default: true },
                ],
            ],
        };
        assert_eq!(t.lookup(1, 100, None), Some(10));
        assert_eq!(t.lookup(1, 100, Some(7)), Some(13), "exact-match refuses a second tag");
        assert_eq!(t.lookup(1, 200, Some(5)), Some(12));
        assert_eq!(t.lookup(1, 200, Some(6)), Some(11));
        assert_eq!(t.lookup(1, 300, None), Some(13));
        assert_eq!(t.lookup(0, 100, None), None);
        assert_eq!(t.lookup(9, 100, None), None);
    }
}
