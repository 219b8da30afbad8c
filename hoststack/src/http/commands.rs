//! `http static server www-root <dir> uri tcp://<addr>/<port> [cache-size
//! <n>[k|m|g]] ...` (VPP's syntax) and `show http static server`, and the
//! once-a-second sweep that resets connections idle past the keep-alive
//! timeout (the session layer has no app timers; the sweep runs on each
//! thread through the engine's command rings).
//!
//! VPP options rvpp has no use for (`private-segment-size`,
//! `prealloc-fifos`, `ptr-thresh`, `rx-buff-thresh`, `url-handlers`,
//! `debug`) are accepted and ignored, with a line saying so.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::config::parse_size;
use rvpp_dataplane::engine::{Engine, Registrar};

use super::request::Limits;
use super::server::{Activity, HttpServer, ServerConfig, Shared};
use crate::nodes::{lock, SessionLayer};
use crate::session::{AppIndex, Transport, Uri};

const CMD: &str = "http static server";

/// One running server: its shared state and, per thread, its app and the
/// activity map the idle sweep reads.
struct Running {
    shared: Arc<Shared>,
    endpoint: SocketAddr,
    proto: u8,
    threads: Vec<(usize, AppIndex, Activity)>,
}

/// The servers started so far (in the engine's `Extensions`).
#[derive(Clone, Default)]
pub struct HttpServers(Arc<Mutex<Vec<Running>>>);

fn bad(msg: String) -> CliError {
    CliError(format!("{CMD}: {msg}"))
}

fn size_arg(i: &mut Input, what: &str) -> Result<u64, CliError> {
    let w = i.expect(what)?;
    parse_size(&w).ok_or_else(|| bad(format!("'{w}' is not a valid {what} (a number with an optional k, m or g)")))
}

fn http_static_server(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    let mut root: Option<String> = None;
    let mut uri = Uri::parse("tcp://0.0.0.0/80").map_err(|x| bad(x.to_string()))?;
    let mut uri_text = "tcp://0.0.0.0/80".to_string();
    let mut cache_size: u64 = 10 << 20;
    let mut fifo_size: Option<u32> = None;
    let mut max_age: u32 = 600;
    let mut keepalive: u64 = 60;
    let mut limits = Limits::default();
    let mut ignored = Vec::new();
    while !i.is_empty() {
        if i.keyword("www-root") {
            root = Some(i.expect("www-root directory")?);
        } else if i.keyword("uri") {
            let w = i.expect("uri")?;
            uri = Uri::parse(&w).map_err(|x| bad(x.to_string()))?;
            if uri.transport != Transport::Tcp {
                return Err(bad(format!("'{w}': http runs over tcp, not udp")));
            }
            uri_text = w;
        } else if i.keyword("cache-size") {
            cache_size = size_arg(i, "cache size")?;
        } else if i.keyword("fifo-size") {
            // KiB, as VPP's http_static takes it.
            let k: u32 = i.parse("fifo size")?;
            if !(4..=1 << 20).contains(&k) {
                return Err(bad(format!("fifo-size {k} KiB not in 4..=1048576")));
            }
            fifo_size = Some(k * 1024);
        } else if i.keyword("max-age") {
            max_age = i.parse("max-age in seconds")?;
        } else if i.keyword("keepalive-timeout") {
            keepalive = i.parse("keepalive-timeout in seconds")?;
            if keepalive == 0 {
                return Err(bad("keepalive-timeout must be at least 1 second".into()));
            }
        } else if i.keyword("max-body-size") {
            limits.body = size_arg(i, "max-body-size")?;
        } else if let Some(kw) = ["private-segment-size", "prealloc-fifos", "ptr-thresh", "rx-buff-thresh"]
            .into_iter()
            .find(|kw| i.keyword(kw))
        {
            let v = i.expect(kw)?;
            ignored.push(format!("{kw} {v}"));
        } else if i.keyword("url-handlers") {
            ignored.push("url-handlers".into());
        } else if i.keyword("debug") {
            let level = match i.peek() {
                Some(w) if w.bytes().all(|b| b.is_ascii_digit()) => i.next().unwrap_or_default(),
                _ => String::new(),
            };
            ignored.push(format!("debug {level}").trim_end().to_string());
        } else {
            return i.unexpected();
        }
    }
    let Some(root) = root else { return Err(bad("expected www-root <dir>".into())) };
    let root_path = std::fs::canonicalize(&root).map_err(|x| bad(format!("www-root '{root}': {x}")))?;
    if !root_path.is_dir() {
        return Err(bad(format!("www-root '{root}' is not a directory")));
    }
    let layer = e.ext.get_or_default::<SessionLayer>().clone();
    if !layer.enabled() {
        return Err(bad("session layer is disabled (use 'session enable')".into()));
    }
    let servers = e.ext.get_or_default::<HttpServers>().clone();
    prune(e, &servers);
    let proto = uri.transport.proto();
    if lock(&servers.0).iter().any(|r| r.endpoint == uri.endpoint && r.proto == proto) {
        return Err(bad(format!("{uri_text} is already served")));
    }
    let shared = Shared::new(ServerConfig {
        root: root_path,
        uri: uri_text.clone(),
        cache_size,
        limits,
        max_age,
        keepalive_timeout: Duration::from_secs(keepalive),
    });
    let (s2, l2) = (shared.clone(), layer.clone());
    let results = e.on_all_threads(move |w| {
        let t = l2.table(w.index);
        let mut t = lock(&t);
        if let Some(size) = fifo_size {
            let mut cfg = t.config().clone();
            cfg.rx_fifo_size = size;
            cfg.tx_fifo_size = size;
            t.set_config(cfg);
        }
        let activity = Activity::default();
        let app = t.attach(Box::new(HttpServer::new(s2.clone(), activity.clone())));
        match t.listen(app, proto, uri.endpoint) {
            Ok(_) => Ok((w.index, app, activity)),
            Err(x) => {
                t.detach(app);
                Err(x.to_string())
            }
        }
    });
    let mut threads = Vec::new();
    let mut failure = None;
    for r in results {
        match r {
            Ok(t) => threads.push(t),
            Err(x) => failure = Some(x),
        }
    }
    if let Some(x) = failure {
        // Undo what the other threads did.
        let apps: Vec<(usize, AppIndex)> = threads.iter().map(|t| (t.0, t.1)).collect();
        e.on_all_threads(move |w| {
            for &(th, app) in &apps {
                if th == w.index {
                    lock(&layer.table(w.index)).detach(app);
                }
            }
        });
        return Err(bad(x));
    }
    lock(&servers.0).push(Running { shared, endpoint: uri.endpoint, proto, threads });
    e.add_periodic("http-static-idle", Duration::from_secs(1), idle_sweep);
    let mut out = String::new();
    for x in ignored {
        let line = format!("{CMD}: ignoring '{x}' (not used by rvpp)");
        eprintln!("{line}");
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}

/// Forgets servers whose apps are gone (`session disable` detaches every
/// app).
fn prune(e: &mut Engine, servers: &HttpServers) {
    let apps: Vec<(usize, AppIndex)> =
        lock(&servers.0).iter().flat_map(|r| r.threads.iter().map(|t| (t.0, t.1))).collect();
    if apps.is_empty() {
        return;
    }
    let layer = e.ext.get_or_default::<SessionLayer>().clone();
    let gone: Vec<(usize, AppIndex)> = e
        .on_all_threads(move |w| {
            let t = layer.table(w.index);
            let t = lock(&t);
            apps.iter().filter(|(th, app)| *th == w.index && t.app(*app).is_none()).copied().collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    if !gone.is_empty() {
        lock(&servers.0).retain(|r| !r.threads.iter().any(|t| gone.contains(&(t.0, t.1))));
    }
}

/// Resets connections without an event for longer than their server's
/// keep-alive timeout.
fn idle_sweep(e: &mut Engine) {
    let Some(servers) = e.ext.get::<HttpServers>().cloned() else { return };
    let work: Vec<(usize, Activity, Duration, Arc<Shared>)> = lock(&servers.0)
        .iter()
        .flat_map(|r| {
            r.threads.iter().map(|(th, _, a)| (*th, a.clone(), r.shared.config.keepalive_timeout, r.shared.clone()))
        })
        .collect();
    // No connection anywhere: no thread needs waking.
    if work.iter().all(|w| lock(&w.1).is_empty()) {
        return;
    }
    let layer = e.ext.get_or_default::<SessionLayer>().clone();
    e.on_all_threads(move |w| {
        let mine: Vec<_> = work.iter().filter(|x| x.0 == w.index).collect();
        if mine.is_empty() {
            return;
        }
        let t = layer.table(w.index);
        let mut t = lock(&t);
        let now = Instant::now();
        for (_, activity, timeout, shared) in mine {
            let idle: Vec<_> = {
                let mut a = lock(activity);
                let idle: Vec<_> =
                    a.iter().filter(|(_, &t0)| now.saturating_duration_since(t0) > *timeout).map(|(&k, _)| k).collect();
                for k in &idle {
                    a.remove(k);
                }
                idle
            };
            for k in idle {
                if t.abort(k) {
                    shared.stats.idle_resets.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
}

fn show_http_static_server(e: &mut Engine, i: &mut Input) -> Result<String, CliError> {
    i.done()?;
    let Some(servers) = e.ext.get::<HttpServers>().cloned() else { return Ok("no http static server\n".into()) };
    prune(e, &servers);
    let list = lock(&servers.0);
    if list.is_empty() {
        return Ok("no http static server\n".into());
    }
    let mut out = String::new();
    for r in list.iter() {
        let c = &r.shared.config;
        let cs = lock(&r.shared.cache).stats();
        let st = &r.shared.stats;
        let open: usize = r.threads.iter().map(|t| lock(&t.2).len()).sum();
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "www-root {} uri {}", c.root.display(), c.uri);
        let _ = writeln!(
            out,
            "  cache: {} of {} bytes in {} files, {} hits, {} misses, {} evictions",
            cs.used, cs.capacity, cs.entries, cs.hits, cs.misses, cs.evictions
        );
        let _ = writeln!(
            out,
            "  connections: {open} open, {} accepted, {} reset idle after {} s",
            ld(&st.connections),
            ld(&st.idle_resets),
            c.keepalive_timeout.as_secs()
        );
        let _ = writeln!(
            out,
            "  requests: {}, 2xx {}, 4xx {}, 5xx {}, body bytes sent {}",
            ld(&st.requests),
            ld(&st.ok),
            ld(&st.client_errors),
            ld(&st.server_errors),
            ld(&st.body_bytes)
        );
    }
    Ok(out)
}

/// Registers `http static server` and `show http static server`.
pub fn register(r: &mut Registrar) {
    r.ext.get_or_default::<HttpServers>();
    r.cli.add(
        "http static server",
        "http static server www-root <dir> uri tcp://<addr>/<port> [cache-size <n>[k|m|g]] [fifo-size <KiB>] \
         [max-age <s>] [keepalive-timeout <s>] [max-body-size <n>]",
        http_static_server,
    );
    r.cli.add("show http static server", "show http static server", show_http_static_server);
}

#[cfg(test)]
mod tests {
    use rvpp_dataplane::engine::Engine;

    fn engine() -> Engine {
        Engine::builder()
            .buffers(1024)
            .workers(0)
            .plugin(rvpp_graph_nodes::register_all)
            .plugin(crate::register_all)
            .build()
            .expect("engine")
    }

    fn root() -> String {
        std::env::temp_dir().to_str().expect("utf-8 temp dir").to_string()
    }

    #[test]
    fn starts_lists_and_refuses_a_second_server_on_the_same_uri() {
        let mut e = engine();
        let r = root();
        let out = e
            .exec(&format!(
                "http static server www-root {r} uri tcp://0.0.0.0/8080 cache-size 2m private-segment-size 64m \
                 prealloc-fifos 4 debug 2 url-handlers keepalive-timeout 5 max-age 60"
            ))
            .expect("starts");
        for w in ["private-segment-size 64m", "prealloc-fifos 4", "'debug 2'", "'url-handlers'"] {
            assert!(out.contains(w), "{w} not reported ignored:\n{out}");
        }
        let sessions = e.exec("show session").unwrap();
        assert!(sessions.contains("0.0.0.0:8080->0.0.0.0:0") && sessions.contains("LISTEN"), "{sessions}");
        let show = e.exec("show http static server").unwrap();
        let canon = std::fs::canonicalize(&r).unwrap();
        assert!(show.contains(&format!("www-root {} uri tcp://0.0.0.0/8080", canon.display())), "{show}");
        assert!(show.contains(&format!("cache: 0 of {} bytes", 2 << 20)), "{show}");
        assert!(show.contains("reset idle after 5 s"), "{show}");
        let dup = e.exec(&format!("http static server www-root {r} uri tcp://0.0.0.0/8080")).unwrap_err();
        assert!(dup.0.contains("tcp://0.0.0.0/8080 is already served"), "{}", dup.0);
        // The default uri is VPP's, port 80; an address of its own is fine.
        e.exec(&format!("http static server www-root {r}")).expect("default uri");
        e.exec(&format!("http static server www-root {r} uri tcp://[::]/80")).expect("ip6 wildcard");
        assert_eq!(e.exec("show http static server").unwrap().matches("www-root").count(), 3);
        // `session disable` takes the servers away; after `session enable`
        // one can start again on the same uri.
        e.exec("session disable").unwrap();
        assert_eq!(e.exec("show http static server").unwrap(), "no http static server\n");
        e.exec("session enable").unwrap();
        e.exec(&format!("http static server www-root {r} uri tcp://0.0.0.0/8080")).expect("starts again");
        assert_eq!(e.exec("show http static server").unwrap().matches("www-root").count(), 1);
    }

    #[test]
    fn bad_input_names_its_token_and_starts_nothing() {
        let mut e = engine();
        let r = root();
        for (line, token) in [
            ("http static server uri tcp://0.0.0.0/80".to_string(), "www-root <dir>"),
            ("http static server www-root /no/such/rvpp/dir".into(), "/no/such/rvpp/dir"),
            (format!("http static server www-root {r} cache-size lots"), "'lots'"),
            (format!("http static server www-root {r} fifo-size 1"), "fifo-size 1"),
            (format!("http static server www-root {r} keepalive-timeout 0"), "keepalive-timeout"),
            (format!("http static server www-root {r} uri tcp://0.0.0.0/http"), "port"),
            (format!("http static server www-root {r} uri quic://0.0.0.0/80"), "quic"),
            (format!("http static server www-root {r} frobnicate"), "'frobnicate'"),
            (format!("http static server www-root {r} uri"), "expected uri"),
        ] {
            let err = e.exec(&line).expect_err(&line);
            assert!(err.0.contains(token), "{line}: {}", err.0);
        }
        let file = std::env::temp_dir().join(format!("rvpp-http-cmd-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let err = e.exec(&format!("http static server www-root {}", file.display())).unwrap_err();
        assert!(err.0.contains("is not a directory"), "{}", err.0);
        let _ = std::fs::remove_file(&file);
        assert_eq!(e.exec("show http static server").unwrap(), "no http static server\n");
        assert!(!e.exec("show session").unwrap().contains("LISTEN"));
        e.exec("session disable").unwrap();
        let err = e.exec(&format!("http static server www-root {r}")).unwrap_err();
        assert!(err.0.contains("session enable"), "{}", err.0);
    }
}
