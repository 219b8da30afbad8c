//! The session layer's commands: `session enable|disable`, `test echo
//! server uri <uri>`, `show session [verbose]`, `show tcp stats`,
//! `clear session`. Each runs its work on every thread (the tables are
//! per worker) through the engine's per-thread command rings.

use std::fmt::Write;

use rvpp_dataplane::cli::{err, CliError, Input};
use rvpp_dataplane::engine::{Engine, Registrar};

use super::echo::EchoServer;
use super::{SessionIndex, Uri};
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
    let Some(uri) = uri else { return err("test echo server: expected uri tcp://<addr>/<port>") };
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
            let _ = writeln!(out, "{name:<60}{:<15}{:<10}{:<10}", "LISTEN", 0, 0);
            if verbose {
                let _ = writeln!(out, "  app {} half-open {}", li.app, li.half_open);
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
            let _ = writeln!(out, "{name:<60}{:<15}{:<10}{:<10}", state_name(s.state), s.rx_len, s.tx_len);
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
        let lines: [(u64, &str); 24] = [
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
            (s.listen.syns, "syns received by listeners"),
            (s.listen.accepted, "handshakes completed"),
            (s.listen.cookies_sent, "syn cookies sent"),
            (s.listen.cookies_accepted, "syn cookies accepted"),
            (s.listen.synack_retransmits, "syn-ack retransmits"),
            (s.listen.expired, "half-open handshakes expired"),
            (s.resets_sent, "resets sent"),
            (s.timer_expirations, "timer expirations"),
            (s.output_deferred, "output deferred (no room)"),
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
    r.cli.add("test echo server", "test echo server uri tcp://<addr>/<port> [fifo-size <KiB>]", test_echo_server);
    r.cli.add("show session", "show session [verbose]", show_session);
    r.cli.add("show tcp stats", "show tcp stats", show_tcp_stats);
    r.cli.add("clear session", "clear session [all | thread <n> session <index>]", clear_session);
}
