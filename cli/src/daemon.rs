//! Start-up: arguments, startup.conf, the engine, the CLI socket, the
//! startup-config file, signals, and shutdown.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use rvpp_dataplane::cli::builtin::split_script;
use rvpp_dataplane::cli::paths;
use rvpp_dataplane::config::StartupConfig;
use rvpp_dataplane::engine::Engine;

/// Plugins rvpp has an equivalent for (VPP's names).
const KNOWN_PLUGINS: &[&str] = &["af_packet_plugin.so", "memif_plugin.so", "dpdk_plugin.so", "ping_plugin.so"];

const USAGE: &str = "usage: rvpp [-c <startup.conf>] | rvpp <startup.conf sections...>\n\
  With no arguments, rvpp starts on its embedded default configuration.\n";

/// How the daemon was asked to start.
pub enum Args {
    Default,
    File(PathBuf),
    Inline(Vec<String>),
    Help,
    Version,
}

/// Parses the command line (without the program name).
pub fn parse_args(args: &[String]) -> anyhow::Result<Args> {
    match args.first().map(String::as_str) {
        None => Ok(Args::Default),
        Some("-h") | Some("--help") => Ok(Args::Help),
        Some("--version") => Ok(Args::Version),
        Some("-c") => match args.get(1) {
            Some(f) if args.len() == 2 => Ok(Args::File(PathBuf::from(f))),
            Some(_) => bail!("unexpected argument '{}' after -c <file>\n{USAGE}", args[2]),
            None => bail!("-c needs a file name\n{USAGE}"),
        },
        Some(_) => Ok(Args::Inline(args.to_vec())),
    }
}

/// Loads the configuration the arguments name.
pub fn load_config(a: &Args) -> anyhow::Result<StartupConfig> {
    let cfg = match a {
        Args::File(p) => StartupConfig::load(p)?,
        Args::Inline(w) => StartupConfig::parse_args(w)?,
        _ => StartupConfig::parse(crate::DEFAULT_STARTUP_CONF, "<embedded default>")?,
    };
    Ok(cfg)
}

/// The CLI socket path: `cli-listen`, else `<runtime-dir>/cli.sock`, else
/// the default.
pub fn socket_path(cfg: &StartupConfig) -> anyhow::Result<PathBuf> {
    if let Some(l) = &cfg.unix.cli_listen {
        if l.contains(':') && !l.starts_with('/') {
            bail!("cli-listen '{l}': TCP CLI sockets are not supported by rvpp; give a unix socket path");
        }
        return Ok(PathBuf::from(l));
    }
    Ok(cfg.unix.runtime_dir.clone().map_or_else(paths::default_socket_path, |d| d.join("cli.sock")))
}

/// Runs the lines of a startup-config (or `exec`) file; each failing line is
/// reported with its number and the rest still run. Returns failures.
pub fn run_startup_config(e: &mut Engine, path: &std::path::Path) -> anyhow::Result<usize> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("startup-config {file}"))?;
    let cmds = split_script(&text).map_err(|(l, m)| anyhow::anyhow!("{file}:{l}: {m}"))?;
    let mut failed = 0;
    for (line, cmd) in cmds {
        match e.exec(&cmd) {
            Ok(out) => {
                if !out.trim().is_empty() {
                    crate::info!("{file}:{line}: {}", out.trim_end());
                }
            }
            Err(x) => {
                failed += 1;
                crate::error!("{file}:{line}: '{}': {x}", cmd.lines().next().unwrap_or(""));
            }
        }
    }
    Ok(failed)
}

fn warn_unsupported(cfg: &StartupConfig) {
    for w in &cfg.warnings {
        crate::warn!("{w}");
    }
    for p in &cfg.plugins.plugins {
        if p.enable && !KNOWN_PLUGINS.contains(&p.name.as_str()) {
            crate::warn!("plugins: line {}: rvpp has no equivalent of '{}'; ignored", p.line, p.name);
        }
    }
    for s in &cfg.sections {
        if s.name == "dpdk" && !rvpp_drivers::HAS_DPDK {
            crate::warn!(
                "line {}: section 'dpdk': this rvpp was built without the dpdk driver (cargo feature dpdk); ignored",
                s.line
            );
        }
    }
    if !cfg.unix.nodaemon && !cfg.unix.interactive {
        crate::info!(
            "rvpp runs in the foreground (as with unix {{ nodaemon }}); use your service manager to background it"
        );
    }
}

/// Brings up the DPDK ports the `dpdk` section asks for; a failing device
/// is logged by name and the daemon goes on without it.
fn start_dpdk(e: &mut Engine, cfg: &rvpp_drivers::dpdk::config::DpdkConfig) {
    if !cfg.present || !rvpp_drivers::HAS_DPDK {
        return;
    }
    let st = rvpp_drivers::dpdk::init(e, cfg);
    for x in st.notes {
        crate::info!("{x}");
    }
    for x in st.errors {
        crate::error!("{x}");
    }
    if !st.interfaces.is_empty() {
        crate::info!("dpdk: interfaces {}", st.interfaces.join(", "));
    }
}

/// The whole daemon.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let a = parse_args(args)?;
    match a {
        Args::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Args::Version => {
            let dpdk = if rvpp_drivers::HAS_DPDK { " (with dpdk)" } else { "" };
            println!("rvpp v{}{dpdk}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        _ => {}
    }
    let cfg = load_config(&a)?;
    if let Some(log) = &cfg.unix.log {
        crate::log::open(log).with_context(|| format!("unix {{ log {} }}", log.display()))?;
    }
    warn_unsupported(&cfg);
    // The hoststack's `session { }` / `tcp { }` sections: a bad one stops here.
    let hoststack = rvpp_hoststack::config::parse(&cfg).map_err(|e| match &a {
        Args::File(p) => anyhow::anyhow!("{}: {e}", p.display()),
        _ => anyhow::anyhow!("startup config {e}"),
    })?;
    for (line, w) in &hoststack.warnings {
        crate::warn!("line {line}: {w}");
    }
    // The `dpdk { }` section: checked whether or not this build has DPDK.
    let dpdk = rvpp_drivers::dpdk::config::parse(&cfg).map_err(|e| match &a {
        Args::File(p) => anyhow::anyhow!("{}: {e}", p.display()),
        _ => anyhow::anyhow!("startup config {e}"),
    })?;
    for (line, w) in &dpdk.warnings {
        crate::warn!("line {line}: {w}");
    }
    let sock = socket_path(&cfg)?;
    // Bind first: a second daemon on the same socket must not touch anything.
    let listener = crate::server::bind(&sock, cfg.unix.gid).map_err(|e| anyhow::anyhow!("{e}"))?;
    let startup = cfg.unix.startup_config.clone();
    let exec = cfg.unix.exec.clone();
    // DPDK zero copy keeps an rte_mbuf before every buffer: the arena is
    // made with room for it when the section will start DPDK.
    let prefix = rvpp_drivers::dpdk::arena_prefix(&dpdk);
    let mut engine = match Engine::builder()
        .buffer_prefix(prefix)
        .config(cfg)
        .plugin(rvpp_graph_nodes::register_all)
        .plugin(rvpp_drivers::register_all)
        .plugin(rvpp_hoststack::register_all)
        .build()
    {
        Ok(e) => e,
        Err(x) => {
            let _ = std::fs::remove_file(&sock);
            return Err(x.into());
        }
    };
    start_dpdk(&mut engine, &dpdk);
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
    {
        let main = engine.main_handle();
        let stop = stop.clone();
        std::thread::Builder::new().name("rvpp-signals".into()).spawn(move || {
            if let Some(sig) = signals.forever().next() {
                crate::info!("signal {sig}: shutting down");
                stop.store(true, Ordering::SeqCst);
                main.send(Box::new(|e| e.quit = true));
            }
        })?;
    }
    for f in [startup, exec].into_iter().flatten() {
        match run_startup_config(&mut engine, &f) {
            Ok(0) => {}
            Ok(n) => crate::warn!("{}: {n} command(s) failed", f.display()),
            Err(x) => crate::error!("{x:#}"),
        }
    }
    crate::server::spawn(listener, engine.main_handle())?;
    crate::info!(
        "rvpp v{} up: {} worker thread(s), {} buffers, CLI socket {}",
        env!("CARGO_PKG_VERSION"),
        engine.num_workers(),
        engine.buffers.count(),
        sock.display()
    );
    if !stop.load(Ordering::SeqCst) {
        engine.run_main_loop();
    }
    engine.shutdown();
    rvpp_drivers::dpdk::shutdown();
    let _ = std::fs::remove_file(&sock);
    crate::info!("stopped");
    Ok(())
}
