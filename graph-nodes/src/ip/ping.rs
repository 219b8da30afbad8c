//! `ping <addr> [source <if>] [repeat <n>] [interval <s>] [size <n>]`: ICMP
//! echo from the dataplane itself. Requests are injected at the lookup on
//! the main thread; `ip4-local`/`ip6-local` record the replies (whichever
//! thread receives them) in a shared table the command waits on.

use std::fmt::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rvpp_dataplane::buffer::HEADROOM;
use rvpp_dataplane::cli::builtin::parse_interface;
use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};

use super::addr::IfAddrTable;
use super::fib::{fib, AdjKind};
use super::{addr_bits, checksum, names, proto};

/// One echo reply as a local node saw it.
#[derive(Clone, Debug)]
pub struct PingReply {
    pub id: u16,
    pub seq: u16,
    pub from: u128,
    pub ttl: u8,
    pub bytes: usize,
    pub tsc: u64,
}

/// Replies for the ping in progress (at most one at a time).
#[derive(Default, Debug)]
pub struct PingTable {
    pub active: Option<u16>,
    pub replies: Vec<PingReply>,
}

impl PingTable {
    /// Keeps a reply when it belongs to the ping in progress.
    pub fn record(&mut self, r: PingReply) {
        if self.active == Some(r.id) && self.replies.len() < 10_000 {
            self.replies.push(r);
        }
    }
}

fn build(ip6: bool, src: u128, dst: u128, id: u16, seq: u16, size: usize, out: &mut [u8]) -> usize {
    let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
    if ip6 {
        let len = 40 + 8 + size;
        let d = &mut out[..len];
        d[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
        d[4..6].copy_from_slice(&((8 + size) as u16).to_be_bytes());
        d[6] = proto::ICMP6;
        d[7] = 64;
        d[8..24].copy_from_slice(&src.to_be_bytes());
        d[24..40].copy_from_slice(&dst.to_be_bytes());
        d[40..48].copy_from_slice(&[128, 0, 0, 0, (id >> 8) as u8, id as u8, (seq >> 8) as u8, seq as u8]);
        d[48..].copy_from_slice(&payload);
        let c = checksum::l4(
            checksum::pseudo6(&src.to_be_bytes(), &dst.to_be_bytes(), proto::ICMP6, (8 + size) as u32),
            &d[40..],
        );
        d[42..44].copy_from_slice(&c.to_be_bytes());
        len
    } else {
        let len = 20 + 8 + size;
        let d = &mut out[..len];
        d[..12].copy_from_slice(&[
            0x45,
            0,
            (len >> 8) as u8,
            len as u8,
            (seq >> 8) as u8,
            seq as u8,
            0,
            0,
            64,
            1,
            0,
            0,
        ]);
        d[12..16].copy_from_slice(&(src as u32).to_be_bytes());
        d[16..20].copy_from_slice(&(dst as u32).to_be_bytes());
        let c = checksum::checksum(&d[..20]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        d[20..28].copy_from_slice(&[8, 0, 0, 0, (id >> 8) as u8, id as u8, (seq >> 8) as u8, seq as u8]);
        d[28..].copy_from_slice(&payload);
        let c = checksum::checksum(&d[20..]);
        d[22..24].copy_from_slice(&c.to_be_bytes());
        len
    }
}

fn ping(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let w = i.expect("address")?;
    let dst: IpAddr = w.parse().map_err(|_| CliError(format!("ping: '{w}' is not an IP address")))?;
    let (mut repeat, mut interval, mut size, mut source) = (5u32, 1.0f64, 56usize, None);
    while !i.is_empty() {
        if i.keyword("repeat") {
            repeat = i.parse("repeat count")?;
        } else if i.keyword("interval") {
            interval = i.parse("interval")?;
        } else if i.keyword("size") {
            size = i.parse("size")?;
        } else if i.keyword("source") {
            source = Some(parse_interface(e, i)?);
        } else if i.keyword("ip4") || i.keyword("ip6") || i.keyword("verbose") {
        } else {
            return i.unexpected();
        }
    }
    if !(0.001..=10.0).contains(&interval) || repeat == 0 || repeat > 100_000 {
        return err("ping: interval must be 0.001..10 s and repeat 1..100000");
    }
    let (ip6, dbits) = addr_bits(dst);
    let hdr = if ip6 { 48 } else { 28 };
    if size + hdr > e.buffers.data_size() - HEADROOM {
        return err(format!("ping: size {size} does not fit a buffer"));
    }
    // The egress interface and source address, from the FIB.
    let out_sw = match source {
        Some(s) => Some(s.0),
        None => {
            let f = fib(&mut e.ext);
            let lb = if ip6 { f.table6.load().lookup(dbits) } else { Some(f.mtrie.lookup(dbits as u32)) };
            let fw = f.forwarding();
            lb.and_then(|l| fw.lbs.get(l as usize))
                .and_then(|l| fw.adjs.get(l.pick(0) as usize))
                .filter(|a| matches!(a.kind, AdjKind::Rewrite | AdjKind::Incomplete | AdjKind::Glean | AdjKind::Local))
                .map(|a| a.sw_if_index)
        }
    };
    let Some(out_sw) = out_sw else {
        if ip6 && dbits >> 118 == 0x3fa {
            // A link-local address names a host only with its link.
            return err(format!("ping: {dst} is link-local: say on which interface (source <if>)"));
        }
        return err(format!("ping: no route to {dst}"));
    };
    let addrs = e.ext.get_or_default::<IfAddrTable>().load();
    let ll = ip6 && dbits >> 118 == 0x3fa;
    let src = if ip6 { addrs.source6(out_sw, ll) } else { addrs.source4(out_sw).map(|a| a as u128) };
    let Some(src) = src else { return err(format!("ping: no source address for {dst}")) };
    let table = e.ext.get_or_default::<Arc<Mutex<PingTable>>>().clone();
    let id = (std::process::id() as u16) ^ (rvpp_dataplane::arch::rdtsc() as u16);
    if let Ok(mut t) = table.lock() {
        t.active = Some(id);
        t.replies.clear();
    }
    let lookup = e.local.graph.node_index(names(ip6).lookup).ok_or_else(|| CliError("ping: no lookup node".into()))?;
    let hz = rvpp_dataplane::arch::tsc_hz();
    let mut out = String::new();
    let mut sent_at = Vec::new();
    let mut received = 0usize;
    let mut seen = 0usize;
    for seq in 1..=repeat {
        let Some(bi) = e.local.vm.bufs.alloc_one() else { return err("ping: no buffers") };
        let (m, raw) = e.local.vm.bufs.split_mut(bi);
        let len = build(ip6, src, dbits, id, seq as u16, size, &mut raw[HEADROOM..]);
        m.reset_rx(len as u16, out_sw);
        m.flags |= rvpp_dataplane::buffer::flags::LOCALLY_ORIGINATED;
        sent_at.push(rvpp_dataplane::arch::rdtsc());
        if !e.local.graph.inject(lookup, bi) {
            e.local.vm.bufs.free_one(bi);
        }
        let deadline = Duration::from_secs_f64(interval);
        let t0 = Instant::now();
        e.run_until(deadline, |e| {
            let _ = e;
            t0.elapsed() >= deadline
        });
        let replies = table.lock().map(|t| t.replies.clone()).unwrap_or_default();
        for r in &replies[seen..] {
            let rtt = r.tsc.saturating_sub(*sent_at.get(r.seq as usize - 1).unwrap_or(&r.tsc)) as f64 / hz * 1e3;
            let _ = writeln!(
                out,
                "{} bytes from {}: icmp_seq={} ttl={} time={:.4} ms",
                r.bytes,
                super::bits_addr(ip6, r.from),
                r.seq,
                r.ttl,
                rtt
            );
            received += 1;
        }
        seen = replies.len();
    }
    if let Ok(mut t) = table.lock() {
        t.active = None;
    }
    let loss = 100.0 * (repeat as f64 - received as f64) / repeat as f64;
    let _ = writeln!(out, "\nStatistics: {repeat} sent, {received} received, {loss:.0}% packet loss");
    Ok(out)
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<Arc<Mutex<PingTable>>>();
    r.cli.add("ping", "ping <addr> [source <if>] [repeat <n>] [interval <s>] [size <n>]", ping);
}

#[cfg(test)]
mod tests {
    /// A neighbor's link-local address without an interface is refused
    /// with a message saying what is missing (not "no route").
    #[test]
    fn a_link_local_ping_asks_for_its_interface() {
        let mut e = crate::ethernet::sub::tests::engine(&["set interface ip address pg0 2001:db8::1/64"]);
        let x = e.exec("ping fe80::5 repeat 1").unwrap_err();
        assert!(x.0.contains("link-local") && x.0.contains("source <if>"), "{x}");
        let x = e.exec("ping 2001:db9::5 repeat 1").unwrap_err();
        assert!(x.0.contains("no route"), "{x}");
    }
}
