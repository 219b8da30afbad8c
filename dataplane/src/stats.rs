//! Runtime figures shared by `show runtime` and the benchmark harness.

use crate::engine::ThreadRuntime;
use crate::node::NodeKind;

/// Clocks per packet of each node that handled packets, over all threads:
/// (name, kind, vectors, clocks/vector).
pub fn clocks_per_packet(threads: &[ThreadRuntime]) -> Vec<(&'static str, NodeKind, u64, f64)> {
    let mut out: Vec<(&'static str, NodeKind, u64, u64)> = Vec::new();
    for t in threads {
        for (name, kind, st) in &t.nodes {
            if st.vectors == 0 {
                continue;
            }
            match out.iter_mut().find(|x| x.0 == *name) {
                Some(x) => {
                    x.2 += st.vectors;
                    x.3 += st.clocks;
                }
                None => out.push((name, *kind, st.vectors, st.clocks)),
            }
        }
    }
    out.into_iter().map(|(n, k, v, c)| (n, k, v, c as f64 / v as f64)).collect()
}
