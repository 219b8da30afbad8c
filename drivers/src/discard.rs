//! Devices whose transmit side discards: `null` (for benchmarks: the cheapest
//! possible sink) and `loopback` (`create loopback interface`, an always-up
//! interface to hold addresses). Their tx queues free packets in bulk.

use std::any::Any;
use std::sync::Arc;

use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::device::{Device, TxQueue};
use rvpp_dataplane::engine::{Engine, Registrar};
use rvpp_dataplane::interface::parse_mac;
use rvpp_dataplane::{BufferIndex, ThreadBuffers};

/// A tx queue that frees whatever it is given.
pub struct DiscardTx;

impl TxQueue for DiscardTx {
    #[inline]
    fn tx(&mut self, bufs: &mut ThreadBuffers, pkts: &[BufferIndex]) -> usize {
        bufs.free(pkts);
        pkts.len()
    }
}

/// A device that discards on transmit.
pub struct DiscardDevice {
    pub driver: &'static str,
}

impl Device for DiscardDevice {
    fn driver(&self) -> &'static str {
        self.driver
    }
    fn tx_queue(&self, _thread_index: usize) -> Option<Box<dyn TxQueue>> {
        Some(Box::new(DiscardTx))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn next_free_name(e: &Engine, prefix: &str, instance: Option<u32>) -> Result<(String, u32), CliError> {
    if let Some(n) = instance {
        let name = format!("{prefix}{n}");
        if e.interfaces.by_name(&name).is_some() {
            return err(format!("interface '{name}' already exists"));
        }
        return Ok((name, n));
    }
    let n = (0..).find(|n| e.interfaces.by_name(&format!("{prefix}{n}")).is_none()).unwrap_or(0);
    Ok((format!("{prefix}{n}"), n))
}

fn create(e: &mut Engine, i: &mut Input, prefix: &str, driver: &'static str, mac_byte: u8) -> Result<String, CliError> {
    let mut mac = None;
    let mut instance = None;
    while !i.is_empty() {
        if i.keyword("mac") {
            let w = i.expect("MAC address")?;
            mac = Some(parse_mac(&w).ok_or_else(|| CliError(format!("{}: '{w}' is not a MAC address", i.command())))?);
        } else if i.keyword("instance") {
            instance = Some(i.parse::<u32>("instance")?);
        } else {
            return i.unexpected();
        }
    }
    let (name, n) = next_free_name(e, prefix, instance)?;
    let mac = mac.unwrap_or_else(|| crate::local_mac(mac_byte, n));
    let sw = e.create_interface(name.clone(), mac, 9000, Some(Arc::new(DiscardDevice { driver })));
    if driver == "null" {
        e.set_admin(sw, true);
    }
    Ok(format!("{name}\n"))
}

fn delete(e: &mut Engine, i: &mut Input, driver: &'static str) -> Result<String, CliError> {
    i.keyword("intfc");
    let sw = rvpp_dataplane::cli::builtin::parse_interface(e, i)?;
    i.done()?;
    if e.interfaces.driver_of(sw) != Some(driver) {
        return err(format!("{}: not a {driver} interface", i.command()));
    }
    e.delete_interface(sw);
    Ok(String::new())
}

pub fn register(r: &mut Registrar) {
    r.cli.add("create loopback interface", "create loopback interface [mac <mac>] [instance <n>]", |e, i| {
        create(e, i, "loop", "loopback", 0x10)
    });
    r.cli.add("delete loopback interface", "delete loopback interface intfc <if>", |e, i| delete(e, i, "loopback"));
    r.cli.add("create null interface", "create null interface [mac <mac>] [instance <n>]", |e, i| {
        create(e, i, "null", "null", 0x11)
    });
    r.cli.add("delete null interface", "delete null interface <if>", |e, i| delete(e, i, "null"));
}
