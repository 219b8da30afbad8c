//! `rvpp`: the daemon. `rvpp -c startup.conf`, or no arguments for the
//! embedded default configuration.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = rvpp_cli::daemon::run(&args) {
        eprintln!("rvpp: {e:#}");
        std::process::exit(1);
    }
}
