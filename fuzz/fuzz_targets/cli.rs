//! CLI lines (one per input line, at most 32) on a fresh engine with every
//! plugin. Commands that reach outside the process (host interfaces, taps,
//! `exec` of a file) or wait on the graph (`ping`) are fenced: their
//! handlers are replaced, so that no abbreviation can reach them. An error
//! always says something, and afterwards every `show` command still works.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_dataplane::cli::{CliError, Input};
use rvpp_dataplane::Engine;

const FENCED: &[&str] = &["exec", "create host-interface", "delete host-interface", "create tap", "delete tap", "ping"];

/// Commands that must work in any state.
const SHOWS: &[&str] = &[
    "show interface",
    "show hardware-interfaces",
    "show interface address",
    "show mode",
    "show ip fib",
    "show ip6 fib",
    "show ip neighbors",
    "show ip neighbor-config",
    "show packet-generator",
    "show errors",
    "show runtime",
    "show buffers",
    "show interface rx-placement",
];

fn fenced(_: &mut Engine, _: &mut Input) -> Result<String, CliError> {
    Ok(String::new())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut e = Engine::builder()
        .buffers(512)
        .plugin(rvpp_graph_nodes::register_all)
        .plugin(rvpp_drivers::register_all)
        .build()
        .expect("engine");
    for path in FENCED {
        assert!(e.cli.commands().iter().any(|c| c.path.join(" ") == *path), "no command '{path}' to fence");
        e.cli.add(path, "fenced by the fuzz target", fenced);
    }
    for line in text.lines().take(32) {
        if let Err(err) = e.exec(line) {
            assert!(!err.0.trim().is_empty(), "'{line}' failed without a message");
        }
    }
    // Whatever the commands did, the tables still show.
    for show in SHOWS {
        if let Err(err) = e.exec(show) {
            panic!("'{show}' fails after the input's commands: {err}");
        }
    }
});
