//! Feature arcs: ordered, per-interface optional nodes between an arc's
//! start node and its end node (`ip4-unicast`: ip4-input → [acl, nat...] →
//! ip4-lookup). The order comes from declared before/after constraints; each
//! interface enables its own subset. The arc's start node asks [`ArcConfig::
//! first`] for a packet's first next; each feature asks [`ArcConfig::next`].

use crate::error::Error;

/// A feature's place on an arc.
#[derive(Clone, Debug)]
pub struct FeatureReg {
    pub arc: &'static str,
    pub node: &'static str,
    pub runs_before: &'static [&'static str],
    pub runs_after: &'static [&'static str],
}

/// An arc: its features in resolved order and the node that ends it.
#[derive(Clone, Debug, Default)]
pub struct FeatureArc {
    pub name: &'static str,
    pub end_node: &'static str,
    pub order: Vec<&'static str>,
}

impl FeatureArc {
    /// Orders features by their constraints (stable: registration order
    /// breaks ties). A cycle is an error naming the features in it.
    pub fn new(name: &'static str, end_node: &'static str, feats: &[FeatureReg]) -> Result<FeatureArc, Error> {
        let fs: Vec<&FeatureReg> = feats.iter().filter(|f| f.arc == name).collect();
        let n = fs.len();
        let idx = |s: &str| fs.iter().position(|f| f.node == s);
        // edges[a] contains b when a must run before b
        let mut edges = vec![Vec::new(); n];
        let mut indeg = vec![0usize; n];
        for (a, f) in fs.iter().enumerate() {
            for b in f.runs_before.iter().filter_map(|s| idx(s)) {
                edges[a].push(b);
                indeg[b] += 1;
            }
            for b in f.runs_after.iter().filter_map(|s| idx(s)) {
                edges[b].push(a);
                indeg[a] += 1;
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut done = vec![false; n];
        while order.len() < n {
            let Some(k) = (0..n).find(|&k| !done[k] && indeg[k] == 0) else {
                let rest: Vec<&str> = (0..n).filter(|&k| !done[k]).map(|k| fs[k].node).collect();
                return Err(Error::Graph(format!("feature arc '{name}': ordering cycle among {}", rest.join(", "))));
            };
            done[k] = true;
            order.push(fs[k].node);
            for &b in &edges[k] {
                indeg[b] -= 1;
            }
        }
        Ok(FeatureArc { name, end_node, order })
    }
}

/// Per-interface enabled features of one arc, as next-node names in arc
/// order, ending with the arc's end node. Published to workers; each node
/// resolves the names to its own next indices once.
#[derive(Clone, Debug, Default)]
pub struct ArcConfig {
    /// Indexed by sw_if_index: the chain of node names to visit.
    pub chains: Vec<Vec<&'static str>>,
}

impl ArcConfig {
    /// Enables or disables a feature on an interface.
    pub fn set(&mut self, arc: &FeatureArc, sw_if_index: u32, feature: &'static str, on: bool) -> Result<(), Error> {
        if !arc.order.contains(&feature) {
            return Err(Error::Graph(format!("'{feature}' is not a feature of arc '{}'", arc.name)));
        }
        let i = sw_if_index as usize;
        if self.chains.len() <= i {
            self.chains.resize(i + 1, Vec::new());
        }
        let mut enabled: Vec<&'static str> =
            self.chains[i].iter().copied().filter(|n| *n != arc.end_node && *n != feature).collect();
        if on {
            enabled.push(feature);
        }
        let mut chain: Vec<&'static str> = arc.order.iter().copied().filter(|n| enabled.contains(n)).collect();
        if !chain.is_empty() {
            chain.push(arc.end_node);
        }
        self.chains[i] = chain;
        Ok(())
    }

    /// The first node after the arc start for a packet from this interface;
    /// None means "no features: go straight to the end node".
    #[inline]
    pub fn first(&self, sw_if_index: u32) -> Option<&'static str> {
        self.chains.get(sw_if_index as usize).and_then(|c| c.first().copied())
    }

    /// The node after position `pos` (the feature's `feature_index`).
    #[inline]
    pub fn next(&self, sw_if_index: u32, pos: u16) -> Option<&'static str> {
        self.chains.get(sw_if_index as usize).and_then(|c| c.get(pos as usize + 1).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs() -> Vec<FeatureReg> {
        vec![
            FeatureReg { arc: "ip4-unicast", node: "nat", runs_before: &[], runs_after: &["acl"] },
            FeatureReg { arc: "ip4-unicast", node: "acl", runs_before: &[], runs_after: &[] },
            FeatureReg { arc: "ip4-unicast", node: "policer", runs_before: &["acl"], runs_after: &[] },
            FeatureReg { arc: "ip4-output", node: "other", runs_before: &[], runs_after: &[] },
        ]
    }

    #[test]
    fn constraints_order_features() {
        let a = FeatureArc::new("ip4-unicast", "ip4-lookup", &regs()).unwrap();
        assert_eq!(a.order, vec!["policer", "acl", "nat"]);
    }

    #[test]
    fn cycles_are_errors() {
        let r = vec![
            FeatureReg { arc: "x", node: "a", runs_before: &["b"], runs_after: &[] },
            FeatureReg { arc: "x", node: "b", runs_before: &["a"], runs_after: &[] },
        ];
        let e = FeatureArc::new("x", "end", &r).unwrap_err().to_string();
        assert!(e.contains("cycle") && e.contains('a') && e.contains('b'), "{e}");
    }

    #[test]
    fn per_interface_chains() {
        let a = FeatureArc::new("ip4-unicast", "ip4-lookup", &regs()).unwrap();
        let mut c = ArcConfig::default();
        assert_eq!(c.first(1), None);
        c.set(&a, 1, "nat", true).unwrap();
        c.set(&a, 1, "policer", true).unwrap();
        assert_eq!(c.chains[1], vec!["policer", "nat", "ip4-lookup"]);
        assert_eq!(c.first(1), Some("policer"));
        assert_eq!(c.next(1, 0), Some("nat"));
        assert_eq!(c.next(1, 1), Some("ip4-lookup"));
        assert_eq!(c.first(2), None);
        c.set(&a, 1, "policer", false).unwrap();
        c.set(&a, 1, "nat", false).unwrap();
        assert_eq!(c.first(1), None);
        assert!(c.set(&a, 1, "other", true).is_err());
    }
}
