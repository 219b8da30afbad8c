use super::*;

const SEED: &str = "\
unix {
  nodaemon
  log /var/log/vpp/vpp.log
  full-coredump
  cli-listen /run/vpp/cli.sock
  gid 0
  startup-config /etc/vpp/startup.vpp
}
api-segment { prefix vpp1 }
cpu { main-core 1 corelist-workers 2-3 }
buffers { buffers-per-numa 128000 default data-size 2048 page-size default-hugepage }
plugins { plugin dpdk_plugin.so { disable } }
";

fn parse(text: &str) -> StartupConfig {
    match StartupConfig::parse(text, "startup.conf") {
        Ok(cfg) => cfg,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn fail(text: &str) -> ConfigError {
    match StartupConfig::parse(text, "startup.conf") {
        Ok(cfg) => panic!("expected an error, got {cfg:?}"),
        Err(e) => e,
    }
}

#[test]
fn seed_config() {
    let cfg = parse(SEED);
    assert!(cfg.unix.nodaemon && cfg.unix.full_coredump && !cfg.unix.interactive);
    assert_eq!(cfg.unix.log, Some(PathBuf::from("/var/log/vpp/vpp.log")));
    assert_eq!(cfg.unix.cli_listen.as_deref(), Some("/run/vpp/cli.sock"));
    assert_eq!(cfg.unix.gid, Some(0));
    assert_eq!(cfg.unix.startup_config, Some(PathBuf::from("/etc/vpp/startup.vpp")));
    assert_eq!(cfg.api_segment.prefix.as_deref(), Some("vpp1"));
    assert_eq!(cfg.cpu.main_core, Some(1));
    assert_eq!(cfg.cpu.corelist_workers, vec![2, 3]);
    assert_eq!(cfg.cpu.worker_count(), 2);
    assert_eq!(cfg.buffers.buffers_per_numa, 128000);
    assert_eq!(cfg.buffers.data_size, 2048);
    assert_eq!(cfg.buffers.page_size, PageSize::DefaultHugepage);
    let dpdk = PluginLine { line: 12, name: "dpdk_plugin.so".into(), enable: false };
    assert_eq!(cfg.plugins.plugins, vec![dpdk]);
    assert!(!cfg.plugins.is_enabled("dpdk_plugin.so") && cfg.plugins.is_enabled("acl_plugin.so"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let names: Vec<&str> = cfg.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["unix", "api-segment", "cpu", "buffers", "plugins"]);
    assert_eq!(cfg.section("cpu").map(|s| s.line), Some(10));
}

#[test]
fn defaults() {
    let cfg = StartupConfig::default();
    assert_eq!(cfg, parse(""));
    assert_eq!(cfg.buffers.buffers_per_numa, 16384);
    assert_eq!(cfg.buffers.data_size, 2048);
    assert_eq!(cfg.buffers.page_size, PageSize::Default);
    assert_eq!(cfg.cpu.worker_count(), 0);
}

#[test]
fn every_unix_keyword() {
    let cfg = parse(
        "unix { nodaemon interactive cli-listen localhost:5002 log /tmp/l startup-config /a\n\
         exec /b runtime-dir /run/x gid 0x0 cli-prompt \"vpp# \" cli-no-pager\n\
         poll-sleep-usec 100 full-coredump coredump-size unlimited }",
    );
    let u = &cfg.unix;
    assert!(u.nodaemon && u.interactive && u.cli_no_pager && u.full_coredump);
    assert_eq!(u.cli_listen.as_deref(), Some("localhost:5002"));
    assert_eq!(u.log, Some(PathBuf::from("/tmp/l")));
    assert_eq!(u.startup_config, Some(PathBuf::from("/a")));
    assert_eq!(u.exec, Some(PathBuf::from("/b")));
    assert_eq!(u.runtime_dir, Some(PathBuf::from("/run/x")));
    assert_eq!(u.gid, Some(0));
    assert_eq!(u.cli_prompt.as_deref(), Some("vpp# "));
    assert_eq!(u.poll_sleep_usec, Some(100));
    assert_eq!(u.coredump_size.as_deref(), Some("unlimited"));
    assert_eq!(parse("unix { coredump-size 4G }").unix.coredump_size.as_deref(), Some("4G"));
    assert_eq!(fail("unix {\ncoredump-size lots }").line, 2);
}

#[test]
fn gid_by_group_name() {
    // Resolve the first entry of this machine's /etc/group, whatever it is.
    let Ok(groups) = std::fs::read_to_string("/etc/group") else {
        return;
    };
    let Some(name) = groups.lines().find_map(|l| l.split(':').next().filter(|n| !n.is_empty())) else {
        return;
    };
    let cfg = parse(&format!("unix {{ gid {name} }}\napi-segment {{ gid {name} }}"));
    assert_eq!(cfg.unix.gid, lookup_id(&groups, name));
    assert_eq!(cfg.api_segment.gid, cfg.unix.gid);
}

#[test]
fn ignored_keywords_warn() {
    let cfg = parse("unix {\n cli-history-limit 50\n cli-line-mode\n pidfile /run/vpp.pid\n nodaemon\n}");
    assert!(cfg.unix.nodaemon);
    let lines: Vec<usize> = cfg.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert_eq!(
        cfg.warnings[0].to_string(),
        "startup.conf:2: 'cli-history-limit' in section 'unix' is accepted but ignored by rvpp"
    );
    let cfg = parse("api-segment { global-size 64M api-size 16M gid 0 uid 0 }");
    assert_eq!((cfg.api_segment.gid, cfg.api_segment.uid), (Some(0), Some(0)));
    assert_eq!(cfg.warnings.len(), 2);
}

#[test]
fn every_cpu_keyword() {
    let cfg = parse(
        "cpu { main-core 0 workers 4 skip-cores 2 main-thread-io relative thread-prefix rv\n\
         scheduler-policy fifo scheduler-priority 50 }",
    );
    let c = &cfg.cpu;
    assert_eq!((c.main_core, c.workers, c.skip_cores), (Some(0), Some(4), 2));
    assert!(c.main_thread_io && c.relative);
    assert_eq!(c.thread_prefix.as_deref(), Some("rv"));
    assert_eq!(c.scheduler_policy.as_deref(), Some("fifo"));
    assert_eq!(c.scheduler_priority, Some(50));
    assert_eq!(c.worker_count(), 4);
    assert_eq!(fail("cpu { scheduler-policy fast }").token, "fast");
    assert_eq!(fail("cpu { scheduler-priority 100 }").token, "100");
}

#[test]
fn corelists() {
    assert_eq!(parse_corelist("1-3,5"), Ok(vec![1, 2, 3, 5]));
    assert_eq!(parse_corelist("2,4,6"), Ok(vec![2, 4, 6]));
    assert_eq!(parse_corelist("5,1,3-4,1"), Ok(vec![1, 3, 4, 5]));
    assert_eq!(parse_corelist("7"), Ok(vec![7]));
    for bad in ["3-1", "", "1,", "a-b", "1-", "-1", "1-2-3", "1;2", "0-99999"] {
        assert!(parse_corelist(bad).is_err(), "{bad}");
    }
    let e = fail("cpu {\n corelist-workers 4-2\n}");
    assert_eq!((e.line, e.token.as_str()), (2, "4-2"));
}

#[test]
fn every_buffers_keyword() {
    let b = parse("buffers { buffers-per-numa 0x100 default data-size 9216 page-size 2M preallocated 512 }").buffers;
    assert_eq!(b.buffers_per_numa, 256);
    assert_eq!(b.data_size, 9216);
    assert_eq!(b.page_size, PageSize::Bytes(2 << 20));
    assert_eq!(b.preallocated, Some(512));
    let page = |p: &str| parse(&format!("buffers {{ page-size {p} }}")).buffers.page_size;
    assert_eq!(page("default"), PageSize::Default);
    assert_eq!(page("default-4k"), PageSize::Bytes(4096));
    assert_eq!(page("4K"), PageSize::Bytes(4096));
    assert_eq!(page("1G"), PageSize::Bytes(1 << 30));
    for bad in [
        "page-size 3K",
        "page-size 512",
        "default data-size 64",
        "default data-size 70000",
        "default size 2048",
        "buffers-per-numa 0",
    ] {
        assert!(StartupConfig::parse(&format!("buffers {{ {bad} }}"), "f").is_err(), "{bad}");
    }
}

const PLUGINS_LOGGING: &str = "\
plugins {
  path /usr/lib/a
  add-path /opt/b
  plugin default { disable }
  plugin dpdk_plugin.so { enable }
  plugin acl_plugin.so
  {
    enable skip-version-check
  }
  plugin dpdk_plugin.so { disable }
}
logging {
  default-log-level info default-syslog-log-level warn size 512
  class dpdk { level debug rate-limit 100 }
  unthrottle-time 10
}
";

#[test]
fn plugins_and_logging() {
    let cfg = parse(PLUGINS_LOGGING);
    let p = &cfg.plugins;
    assert_eq!(p.path.as_deref(), Some("/usr/lib/a:/opt/b"));
    assert!(p.default_disable);
    let got: Vec<(usize, &str, bool)> = p.plugins.iter().map(|l| (l.line, l.name.as_str(), l.enable)).collect();
    assert_eq!(got, [(10, "dpdk_plugin.so", false), (6, "acl_plugin.so", true)]);
    assert!(!p.is_enabled("nat_plugin.so") && p.is_enabled("acl_plugin.so"));
    let l = &cfg.logging;
    assert_eq!(l.default_log_level.as_deref(), Some("info"));
    assert_eq!(l.default_syslog_log_level.as_deref(), Some("warn"));
    assert_eq!(l.size, Some(512));
    assert_eq!(l.classes, [("dpdk".to_string(), "debug".to_string())]);
    let lines: Vec<usize> = cfg.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [8, 14, 15]);
    assert_eq!(fail("plugins { plugin x.so }").token, "x.so");
    assert_eq!(fail("plugins { plugin x.so { } }").token, "x.so");
    assert_eq!(fail("plugins { plugin x.so { on } }").token, "on");
    assert_eq!(fail("logging { default-log-level loud }").token, "loud");
}

const COMMENTED: &str = "\
## deployment
/* a comment
   over lines { } */
unix # trailing
{
  nodaemon /* inline */ interactive
}
dpdk
{
  dev 0000:00:08.0 { num-rx-queues 2 name eth0 }
  dev 0000:00:09.0
  {
    num-rx-queues 4
  }
  uio-driver vfio-pci
}
";

#[test]
fn comments_braces_and_raw_blocks() {
    let cfg = parse(COMMENTED);
    assert!(cfg.unix.nodaemon && cfg.unix.interactive);
    assert_eq!(cfg.section("unix").map(|s| s.line), Some(4));
    let dpdk = cfg.section("dpdk").expect("dpdk kept");
    assert_eq!(dpdk.line, 8);
    let rx = |words: &[&str]| vec![Item { line: 0, words: words.iter().map(|w| w.to_string()).collect(), block: None }];
    let mut first = rx(&["num-rx-queues", "2", "name", "eth0"]);
    first[0].line = 10;
    let mut second = rx(&["num-rx-queues", "4"]);
    second[0].line = 13;
    assert_eq!(dpdk.items.len(), 3);
    assert_eq!(dpdk.items[0].words, ["dev", "0000:00:08.0"]);
    assert_eq!(dpdk.items[0].block.as_ref(), Some(&first));
    assert_eq!((dpdk.items[1].line, dpdk.items[1].block.as_ref()), (11, Some(&second)));
    assert_eq!((dpdk.items[2].line, dpdk.items[2].words.len()), (15, 2));
    assert!(cfg.warnings.is_empty());
}

#[test]
fn repeated_sections_merge() {
    let text = "cpu { main-core 1 }\nunix { nodaemon }\ncpu { main-core 2 skip-cores 1 }\n";
    let cfg = parse(&format!("{text}tcp {{ a }}\ntcp {{ b }}"));
    assert_eq!((cfg.cpu.main_core, cfg.cpu.skip_cores), (Some(2), 1));
    assert_eq!(cfg.sections.len(), 5);
    let tcp: Vec<&str> = cfg.section_items("tcp").map(|i| i.words[0].as_str()).collect();
    assert_eq!(tcp, ["a", "b"]);
}

#[test]
fn top_level_words() {
    let cfg = parse("heapsize 1G\nfoo bar\nunix interactive");
    assert_eq!(cfg.section("heapsize").map(|s| s.items[0].words.clone()), Some(vec!["1G".into()]));
    assert!(cfg.unix.interactive);
    assert_eq!(cfg.warnings.len(), 1);
    assert_eq!(cfg.warnings[0].line, 2);
    assert!(cfg.warnings[0].message.contains("'foo bar'"));
}

#[test]
fn command_line() {
    let args: Vec<String> =
        "unix { nodaemon cli-listen localhost:5002 } cpu { workers 2 }".split(' ').map(String::from).collect();
    let cfg = StartupConfig::parse_args(&args).expect("parses");
    assert!(cfg.unix.nodaemon);
    assert_eq!(cfg.unix.cli_listen.as_deref(), Some("localhost:5002"));
    assert_eq!(cfg.cpu.worker_count(), 2);
    let e = StartupConfig::parse_args(&["cpu".into(), "{".into(), "workers".into(), "x".into(), "}".into()])
        .expect_err("bad number");
    assert_eq!(e.to_string(), "<command line>:1: 'x' is not a number for 'workers' in section 'cpu'");
}

#[test]
fn load_from_file() {
    let path = std::env::temp_dir().join(format!("rvpp-config-test-{}.conf", std::process::id()));
    std::fs::write(&path, SEED).expect("write temp file");
    let cfg = StartupConfig::load(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(cfg.map(|c| c.cpu.corelist_workers), Ok(vec![2, 3]));
    let e = StartupConfig::load(Path::new("/nonexistent/rvpp/startup.conf")).expect_err("missing");
    assert_eq!(e.line, 0);
    assert!(e.to_string().starts_with("/nonexistent/rvpp/startup.conf:0: cannot read"));
}

#[test]
fn numbers_and_sizes() {
    assert_eq!(parse_number("42"), Some(42));
    assert_eq!(parse_number("0x1F"), Some(31));
    for bad in ["", "0x", "+1", "-1", "1.5", "12a", " 1"] {
        assert_eq!(parse_number(bad), None, "{bad}");
    }
    assert_eq!(parse_size("1G"), Some(1 << 30));
    assert_eq!(parse_size("512m"), Some(512 << 20));
    assert_eq!(parse_size("64K"), Some(64 << 10));
    assert_eq!(parse_size("2MB"), Some(2 << 20));
    assert_eq!(parse_size("100"), Some(100));
    assert_eq!(parse_size("100b"), Some(100));
    assert_eq!(parse_size("0x1b"), Some(27));
    assert_eq!(parse_size("0x10kb"), Some(16 << 10));
    for bad in ["", "G", "1T", "1.5G", "99999999999999G"] {
        assert_eq!(parse_size(bad), None, "{bad}");
    }
    assert_eq!(lookup_id("root:x:0:\nvpp:x:998:alice\n", "vpp"), Some(998));
    assert_eq!(lookup_id("root:x:0:\n", "vpp"), None);
}

#[test]
fn error_lines_and_messages() {
    let e = fail("unix {\n nodaemon\n}\n\ncpu {\n main-core 1\n maincore 2\n}");
    assert_eq!((e.line, e.token.as_str()), (7, "maincore"));
    let head = "startup.conf:7: unexpected token 'maincore' in section 'cpu': expected one of ";
    assert!(e.to_string().starts_with(&format!("{head}main-core, corelist-workers, workers,")));
    let e = fail("cpu {\n main-core\n}");
    assert_eq!((e.line, e.token.as_str()), (2, "main-core"));
    assert!(e.message.starts_with("missing value for 'main-core' in section 'cpu'"));
    let e = fail("cpu { main-core corelist-workers 2-3 }");
    assert_eq!(e.token, "main-core");
    let e = fail("\n\ncpu { workers abc }");
    assert_eq!(e.to_string(), "startup.conf:3: 'abc' is not a number for 'workers' in section 'cpu'");
    let e = fail("unix {\n nodaemon\n}\ndpdk {\n dev 0000:00:08.0 {\n  num-rx-queues 2\n }\n");
    assert_eq!((e.line, e.token.as_str()), (4, "{"));
    let e = fail("unix {\n nodaemon\n}\n}\n");
    assert_eq!((e.line, e.token.as_str()), (4, "}"));
    let e = fail("unix { }\n\nfrobnicate {\n x\n}");
    assert_eq!((e.line, e.token.as_str()), (3, "frobnicate"));
    assert!(e.message.starts_with("unknown section 'frobnicate': expected one of unix, cpu,"));
    let e = fail("cpu {\n workers 2\n corelist-workers 2-3\n}");
    assert_eq!((e.line, e.token.as_str()), (3, "corelist-workers"));
    let e = fail("cpu { corelist-workers 2-3 }\ncpu { workers 2 }");
    assert_eq!((e.line, e.token.as_str()), (2, "workers"));
    assert_eq!(fail("unix {\n/* never closed\n}").line, 2);
    assert_eq!(fail("unix { cli-prompt \"vpp# }").token, "\"");
    assert_eq!(fail("unix { nodaemon { } }").token, "nodaemon");
    assert_eq!(fail("dpdk { { } }").token, "{");
    assert_eq!(fail("{ }").token, "{");
    assert_eq!(fail(&format!("dpdk {{ {} {} }}", "a {".repeat(40), "}".repeat(40))).token, "{");
    assert_eq!(fail("unix { gid no-such-group-rvpp }").token, "no-such-group-rvpp");
    assert_eq!(fail("unix { gid 0x100000000 }").token, "0x100000000");
}

/// xorshift64: deterministic pseudo-random numbers without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "unix",
        "cpu",
        "buffers",
        "plugins",
        "logging",
        "api-segment",
        "dpdk",
        "{",
        "}",
        "\n",
        " ",
        "#",
        "/*",
        "*/",
        "\"",
        "main-core",
        "corelist-workers",
        "workers",
        "1",
        "2-3",
        "0x",
        "default",
        "data-size",
        "page-size",
        "plugin",
        "x.so",
        "enable",
        "class",
        "level",
        "debug",
        "gid",
        "heapsize",
        "1G",
        "-",
        ",",
        "é",
        "\0",
        "\r\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let len = rng.below(64);
        let text = if round % 2 == 0 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect::<Vec<_>>().join(" ")
        };
        let lines = text.lines().count() + 1;
        if let Err(e) = StartupConfig::parse(&text, "fuzz") {
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines} for {text:?}", e.line);
            assert!(e.to_string().starts_with("fuzz:"));
        }
    }
}
