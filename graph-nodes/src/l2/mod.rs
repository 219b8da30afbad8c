//! L2: cross-connects (`set interface l2 xconnect`) and `l2-output`.

pub mod output;

use std::fmt::Write;

use rvpp_dataplane::cli::builtin::parse_interface;
use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::publish::Published;

pub use output::L2Output;

/// Per-interface L2 mode, published to workers.
#[derive(Clone, Default, Debug)]
pub struct L2Config {
    /// Indexed by rx sw_if_index: the tx interface of a cross-connect, or
    /// `u32::MAX` when the interface is in L3 mode.
    pub xconnect: Vec<u32>,
}

/// No cross-connect.
pub const NONE: u32 = u32::MAX;

impl L2Config {
    /// The cross-connect target of an rx interface.
    #[inline(always)]
    pub fn xconnect_of(&self, rx: u32) -> u32 {
        self.xconnect.get(rx as usize).copied().unwrap_or(NONE)
    }
}

/// The published L2 table, shared by the CLI and the nodes.
pub type L2Table = Published<L2Config>;

fn table(e: &mut Engine) -> L2Table {
    e.ext.get_or_default::<L2Table>().clone()
}

/// Drops the cross-connects from and to a deleted interface.
pub(crate) fn forget_interface(e: &mut Engine, sw: rvpp_dataplane::SwIfIndex) {
    table(e).update(|c| {
        for (rx, tx) in c.xconnect.iter_mut().enumerate() {
            if rx == sw.0 as usize || *tx == sw.0 {
                *tx = NONE;
            }
        }
    });
}

fn set_xconnect(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let rx = parse_interface(e, i)?;
    let tx = parse_interface(e, i)?;
    i.done()?;
    table(e).update(|c| {
        let k = rx.0 as usize;
        if c.xconnect.len() <= k {
            c.xconnect.resize(k + 1, NONE);
        }
        c.xconnect[k] = tx.0;
    });
    Ok(String::new())
}

fn set_l3(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let sw = parse_interface(e, i)?;
    i.done()?;
    table(e).update(|c| {
        if let Some(x) = c.xconnect.get_mut(sw.0 as usize) {
            *x = NONE;
        }
    });
    Ok(String::new())
}

fn show_mode(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let only = if i.is_empty() { None } else { Some(parse_interface(e, i)?) };
    i.done()?;
    let cfg = table(e).load();
    let mut s = String::new();
    for f in e.interfaces.iter() {
        if only.is_some_and(|o| o != f.sw_if_index) {
            continue;
        }
        match cfg.xconnect_of(f.sw_if_index.0) {
            NONE => {
                let _ = writeln!(s, "l3 {}", f.name);
            }
            tx => {
                let name = e.interfaces.get(rvpp_dataplane::SwIfIndex(tx)).map_or("?", |t| t.name.as_str());
                let _ = writeln!(s, "l2 xconnect {} {}", f.name, name);
            }
        }
    }
    Ok(s)
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<L2Table>();
    r.cli.add("set interface l2 xconnect", "set interface l2 xconnect <rx-if> <tx-if>", set_xconnect);
    r.cli.add("set interface l3", "set interface l3 <if>", set_l3);
    r.cli.add("show mode", "show mode [<if>]", show_mode);
    output::register(r);
}
