//! The session layer's commands: `session enable|disable`, `test echo
//! server uri <uri>`, `test echo client uri <uri>` (TCP or UDP), `show
//! session [verbose]`, `show tcp stats`, `clear session`. Each runs its
//! work on every thread (the tables are per worker) through the engine's
//! per-thread command rings.

use std::fmt::Write;

use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rvpp_dataplane::SwIfIndex;
use rvpp_graph_nodes::ip::addr::IfAddrTable;
use rvpp_graph_nodes::ip::addr_bits;
use rvpp_graph_nodes::ip::fib::{fib, AdjKind};

use super::echo::{EchoClient, EchoClientReport, EchoServer};
use super::udp_echo::UdpEchoClient;
use super::{App, SessionIndex, Transport, Uri};
use crate::nodes::{lock, SessionLayer};
use crate::tcp::State;

fn layer(e: &mut Engine) -> SessionLayer {
    e.ext.get_or_default::<SessionLayer>().clone()
}

/// VPP's state names.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::SynSent => "SYN_SENT",
        State::SynReceived => "SYN_RCVD",
        State::Established => "ESTABLISHED",
        State::FinWait1 => "FIN_WAIT_1",
        State::FinWait2 => "FIN_WAIT_2",
        State::CloseWait => "CLOSE_WAIT",
        State::Closing => "CLOSING",
        State::LastAck => "LAST_ACK",
        State::TimeWait => "TIME_WAIT",
        State::Closed => "CLOSED",
    }
}

fn session_enable(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let on = if i.keyword("enable") {
        true
    } else if i.keyword("disable") {
        false
    } else {
        return match i.peek() {
            Some(w) => err(format!("session: unknown input '{w}' (enable or disable)")),
            None => err("session: expected enable or disable"),
        };
    };
    i.done()?;
    let l = layer(e);
    l.set_enabled(on);
    if !on {
        // Disabling drops every listener and resets every session.
        let l2 = l.clone();
        e.on_all_threads(move |w| {
            let t = l2.table(w.index);
            let mut t = lock(&t);
            t.abort_all();
            t.clear_listeners_and_apps();
        });
    }
    Ok(String::new())
}

fn test_echo_server(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let mut uri = None;
    let mut fifo_size = None;
    while !i.is_empty() {
        if i.keyword("uri") {
            let w = i.expect("uri")?;
            uri = Some(Uri::parse(&w).map_err(|x| CliError(format!("test echo server: {x}")))?);
        } else if i.keyword("fifo-size") {
            // In KiB, as VPP's echo apps take it.
            let k: u32 = i.parse("fifo size")?;
            if !(1..=1 << 20).contains(&k) {
                return err(format!("test echo server: fifo-size {k} KiB not in 1..=1048576"));
            }
            fifo_size = Some(k * 1024);
        } else {
            return i.unexpected();
        }
    }
    let Some(uri) = uri else {
        return err("test echo server: expected uri tcp://<addr>/<port> or udp://<addr>/<port>");
    };
    let l = layer(e);
    if !l.enabled() {
        return err("test echo server: session layer is disabled (use 'session enable')");
    }
    let results = e.on_all_threads(move |w| {
        let t = l.table(w.index);
        let mut t = lock(&t);
        if let Some(size) = fifo_size {
            let mut cfg = t.config().clone();
            cfg.rx_fifo_size = size;
            cfg.tx_fifo_size = size;
            t.set_config(cfg);
        }
        let app = t.attach(Box::new(EchoServer::default()));
        t.listen(app, uri.transport.proto(), uri.endpoint).map(|_| ()).map_err(|x| x.to_string())
    });
    for r in results {
        if let Err(x) = r {
            return err(format!("test echo server: {x}"));
        }
    }
    Ok(String::new())
}

/// The egress interface and source address toward `dst`, from the FIB.
fn route_source(e: &mut Engine, dst: IpAddr) -> Option<(u32, IpAddr)> {
    let (ip6, bits) = addr_bits(dst);
    let f = fib(&mut e.ext);
    let lb = if ip6 { f.table6.load().lookup(bits) } else { Some(f.mtrie.lookup(bits as u32)) };
    let fw = f.forwarding();
    let adj = lb
        .and_then(|l| fw.lbs.get(l as usize))
        .and_then(|l| fw.adjs.get(l.pick(0) as usize))
        .filter(|a| matches!(a.kind, AdjKind::Rewrite | AdjKind::Incomplete | AdjKind::Glean | AdjKind::Local))?;
    let sw = adj.sw_if_index;
    if adj.kind == AdjKind::Local {
        // One of our own addresses: the connection runs to ourselves
        // through ip-local, from that same address.
        return Some((sw, dst));
    }
    let addrs = e.ext.get_or_default::<IfAddrTable>().load();
    let src = if ip6 {
        let ll = bits >> 118 == 0x3fa;
        addrs.source6(sw, ll).map(|a| IpAddr::V6(a.into()))
    } else {
        addrs.source4(sw).map(|a| IpAddr::V4(a.into()))
    }?;
    Some((sw, src))
}

/// The thread that receives `sw`'s packets (its first rx queue's), where
/// the flows toward it must live.
fn rx_thread(e: &Engine, sw: u32) -> usize {
    let Some(i) = e.interfaces.get(SwIfIndex(sw)) else { return 0 };
    let hw = i.sup_sw_if_index;
    e.interfaces.get(hw).and_then(|h| h.rx_queues.first()).map_or(0, |q| q.1)
}

fn test_echo_client(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let mut uri = None;
    let (mut bytes, mut nclients, mut timeout) = (8192u64, 1u32, 20.0f64);
    while !i.is_empty() {
        if i.keyword("uri") {
            let w = i.expect("uri")?;
            uri = Some(Uri::parse(&w).map_err(|x| CliError(format!("test echo client: {x}")))?);
        } else if i.keyword("bytes") {
            let w = i.expect("byte count")?;
            bytes = rvpp_dataplane::config::parse_size(&w)
                .ok_or_else(|| CliError(format!("test echo client: '{w}' is not a byte count")))?;
        } else if i.keyword("nclients") {
            nclients = i.parse("client count")?;
        } else if i.keyword("test-timeout") || i.keyword("syn-timeout") {
            timeout = i.parse("timeout in seconds")?;
        } else {
            return i.unexpected();
        }
    }
    let Some(uri) = uri else {
        return err("test echo client: expected uri tcp://<addr>/<port> or udp://<addr>/<port>");
    };
    if !(1..=1000).contains(&nclients) || bytes == 0 || !(0.1..=3600.0).contains(&timeout) {
        return err("test echo client: nclients must be 1..1000, bytes > 0 and test-timeout 0.1..3600 s");
    }
    let l = layer(e);
    if !l.enabled() {
        return err("test echo client: session layer is disabled (use 'session enable')");
    }
    let remote = uri.endpoint;
    let Some((sw, src)) = route_source(e, remote.ip()) else {
        return err(format!("test echo client: no route or source address toward {}", remote.ip()));
    };
    let thread = rx_thread(e, sw);
    let report = Arc::new(Mutex::new(EchoClientReport { clients: nclients, ..Default::default() }));
    let (r2, l2) = (report.clone(), l.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let t0 = Instant::now();
    let transport = uri.transport;
    e.on_thread(
        thread,
        Box::new(move |w| {
            let t = l2.table(w.index);
            let mut t = lock(&t);
            let client: Box<dyn App> = match transport {
                Transport::Tcp => Box::new(EchoClient::new(bytes, r2)),
                Transport::Udp => Box::new(UdpEchoClient::new(bytes, r2)),
            };
            let app = t.attach(client);
            let now = crate::nodes::Clock::new().ns(rvpp_dataplane::arch::rdtsc());
            let mut res = Ok(app);
            for _ in 0..nclients {
                let opened = match transport {
                    Transport::Tcp => t.connect(now, app, src, remote, sw),
                    Transport::Udp => t.connect_udp(app, src, remote, sw),
                };
                if let Err(x) = opened {
                    res = Err(x.to_string());
                    break;
                }
            }
            let _ = tx.send(res);
        }),
    );
    let app = loop {
        if let Ok(r) = rx.try_recv() {
            break r.map_err(|x| CliError(format!("test echo client: {x}")))?;
        }
        if t0.elapsed() > Duration::from_secs(2) {
            return err(format!("test echo client: thread {thread} did not answer"));
        }
        e.run_until(Duration::from_millis(1), |_| false);
    };
    let limit = Duration::from_secs_f64(timeout);
    let mut handshakes_at = None;
    let finished = e.run_until(limit, |_| {
        let r = *lock(&report);
        if handshakes_at.is_none() && r.connected >= r.clients {
            handshakes_at = Some(t0.elapsed());
        }
        r.done()
    });
    let secs = t0.elapsed().as_secs_f64();
    let r = *lock(&report);
    // The app goes; its sessions finish closing on their own.
    let l3 = l.clone();
    e.on_thread(
        thread,
        Box::new(move |w| {
            let t = l3.table(w.index);
            lock(&t).detach(app);
        }),
    );
    if !finished {
        return err(format!(
            "test echo client: timed out after {timeout} s: {} of {} clients connected, {} finished, {} failed, \
             {} of {} bytes back",
            r.connected,
            r.clients,
            r.finished,
            r.failed,
            r.bytes_received,
            bytes * nclients as u64
        ));
    }
    if r.failed > 0 {
        return err(format!("test echo client: {} of {} clients failed (reset or timed out)", r.failed, r.clients));
    }
    if r.mismatches > 0 {
        return err(format!("test echo client: {} bytes came back different from what was sent", r.mismatches));
    }
    let mut out = String::new();
    let hs = handshakes_at.map_or(secs, |d| d.as_secs_f64());
    match transport {
        Transport::Tcp => {
            let _ = writeln!(
                out,
                "{} three-way handshakes in {hs:.2} seconds {:.2}/s",
                r.connected,
                r.connected as f64 / hs
            );
        }
        Transport::Udp => {
            let _ = writeln!(
                out,
                "{} udp sessions, {} datagrams sent, {} received back",
                r.connected, r.datagrams_sent, r.datagrams_received
            );
        }
    }
    let total = r.bytes_sent + r.bytes_received;
    let _ = writeln!(out, " {total} bytes ({} mbytes, {} gbytes) in {secs:.2} seconds", total >> 20, total >> 30);
    let _ = writeln!(out, " {:.2} bytes/second full-duplex", total as f64 / secs);
    let _ = writeln!(out, " {:.4} gbit/second full-duplex", total as f64 * 8.0 / secs / 1e9);
    Ok(out)
}

fn show_session(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let verbose = i.keyword("verbose");
    i.done()?;
    let l = layer(e);
    let per_thread = e.on_all_threads(move |w| {
        let t = l.table(w.index);
        let t = lock(&t);
        (w.index, t.listeners(), t.sessions(verbose))
    });
    let mut out = String::new();
    let any = per_thread.iter().any(|(_, ls, ss)| !ls.is_empty() || !ss.is_empty());
    if any {
        let _ = writeln!(out, "{:<60}{:<15}{:<10}{:<10}", "Connection", "State", "Rx-f", "Tx-f");
    }
    for (thread, listeners, sessions) in &per_thread {
        for li in listeners {
            let name = format!(
                "[{thread}:L{}][{}] {}->{}",
                li.index,
                super::Transport::letter(li.proto),
                li.endpoint,
                std::net::SocketAddr::new(super::unspecified(&li.endpoint.ip()), 0)
            );
            let _ = writeln!(out, "{name:<60}{:<15}{:<10}{:<10}", "LISTEN", li.rx_len, li.tx_len);
            if verbose && li.detail.is_empty() {
                let _ = writeln!(out, "  app {} half-open {}", li.app, li.half_open);
            } else if verbose {
                let _ = writeln!(out, "  {}", li.detail);
            }
        }
        for s in sessions {
            let name = format!(
                "[{thread}:{}][{}] {}->{}",
                s.index,
                super::Transport::letter(s.tuple.proto),
                s.tuple.local,
                s.tuple.remote
            );
            let _ = writeln!(out, "{name:<60}{:<15}{:<10}{:<10}", s.state, s.rx_len, s.tx_len);
            if verbose {
                let _ = writeln!(out, "  {}", s.detail);
            }
        }
    }
    for (thread, listeners, sessions) in &per_thread {
        let _ = writeln!(out, "Thread {thread}: active sessions {}", listeners.len() + sessions.len());
    }
    Ok(out)
}

fn show_tcp_stats(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    i.done()?;
    let l = layer(e);
    let per_thread = e.on_all_threads(move |w| {
        let t = l.table(w.index);
        let t = lock(&t);
        (w.index, t.stats(), t.len())
    });
    let mut out = String::new();
    for (thread, s, live) in per_thread {
        let _ = writeln!(out, "Thread {thread}:");
        let lines: [(u64, &str); 27] = [
            (live as u64, "sessions open"),
            (s.sessions_opened, "sessions opened"),
            (s.sessions_closed, "sessions closed"),
            (s.tcp.segs_in, "segments received"),
            (s.tcp.segs_out, "segments sent"),
            (s.tcp.retransmits, "segments retransmitted"),
            (s.tcp.bytes_retransmitted, "bytes retransmitted"),
            (s.tcp.fast_recoveries, "fast recoveries"),
            (s.tcp.rto_expiries, "retransmit timer expirations"),
            (s.tcp.dup_acks, "duplicate acks received"),
            (s.tcp.ooo_segments, "out-of-order segments received"),
            (s.tcp.out_of_window, "segments outside the window"),
            (s.tcp.paws_drops, "paws drops"),
            (s.tcp.challenge_acks, "challenge acks sent"),
            (s.tcp.window_probes, "zero-window probes sent"),
            (s.tcp.pmtu_lowered, "mss lowered by path mtu discovery"),
            (s.listen.syns, "syns received by listeners"),
            (s.listen.accepted, "handshakes completed"),
            (s.listen.cookies_sent, "syn cookies sent"),
            (s.listen.cookies_accepted, "syn cookies accepted"),
            (s.listen.synack_retransmits, "syn-ack retransmits"),
            (s.listen.expired, "half-open handshakes expired"),
            (s.resets_sent, "resets sent"),
            (s.timer_expirations, "timer expirations"),
            (s.output_deferred, "output deferred (no room)"),
            (s.sessions_refused, "sessions refused at the limit"),
            (s.tcp_handed_off, "segments handed to the thread owning their session"),
        ];
        for (v, name) in lines {
            if v != 0 {
                let _ = writeln!(out, " {v} {name}");
            }
        }
    }
    Ok(out)
}

fn clear_session(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let mut target: Option<(usize, u32)> = None;
    if i.keyword("all") || i.is_empty() {
        // every session
    } else if i.keyword("thread") {
        let t: usize = i.parse("thread index")?;
        if !i.keyword("session") {
            return err("clear session: expected 'session <index>' after the thread");
        }
        let s: u32 = i.parse("session index")?;
        if t >= e.num_threads() {
            return err(format!("clear session: no thread {t}"));
        }
        target = Some((t, s));
    } else {
        return i.unexpected();
    }
    i.done()?;
    let l = layer(e);
    let counts = e.on_all_threads(move |w| {
        let t = l.table(w.index);
        let mut t = lock(&t);
        match target {
            None => t.abort_all(),
            Some((th, s)) if th == w.index => t.abort(SessionIndex(s)) as usize,
            Some(_) => 0,
        }
    });
    if target.is_some() && counts.iter().sum::<usize>() == 0 {
        if let Some((t, s)) = target {
            return err(format!("clear session: no session {s} on thread {t}"));
        }
    }
    Ok(String::new())
}

pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<SessionLayer>();
    r.cli.add("session", "session enable|disable", session_enable);
    r.cli.add("test echo server", "test echo server uri tcp|udp://<addr>/<port> [fifo-size <KiB>]", test_echo_server);
    r.cli.add(
        "test echo client",
        "test echo client uri tcp|udp://<addr>/<port> [bytes <n>] [nclients <n>] [test-timeout <s>]",
        test_echo_client,
    );
    r.cli.add("show session", "show session [verbose]", show_session);
    r.cli.add("show tcp stats", "show tcp stats", show_tcp_stats);
    r.cli.add("clear session", "clear session [all | thread <n> session <index>]", clear_session);
}
