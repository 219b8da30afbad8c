//! startup.conf text. An error names a line of the file; a parsed
//! configuration's items, warnings and core list are consistent, and
//! parsing is deterministic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_dataplane::config::{Item, StartupConfig};

fn check_items(items: &[Item], lines: usize) {
    for it in items {
        assert!((1..=lines).contains(&it.line), "item {:?} at line {} of {lines}", it.words, it.line);
        if let Some(b) = &it.block {
            check_items(b, lines);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.split('\n').count();
    let c = match StartupConfig::parse(text, "fuzz") {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.file, "fuzz");
            assert!((1..=lines).contains(&e.line), "error at line {} of {lines}: {e}", e.line);
            assert!(!e.message.is_empty(), "error without a message at line {}", e.line);
            return;
        }
    };
    for s in &c.sections {
        assert!((1..=lines).contains(&s.line), "section {} at line {} of {lines}", s.name, s.line);
        check_items(&s.items, lines);
    }
    for w in &c.warnings {
        assert!(w.file == "fuzz" && (1..=lines).contains(&w.line), "warning at line {} of {lines}: {w}", w.line);
    }
    let cores = &c.cpu.corelist_workers;
    assert!(cores.windows(2).all(|w| w[0] < w[1]), "core list not sorted and distinct: {cores:?}");
    assert!(cores.iter().all(|&c| c <= 4095), "core above the limit: {cores:?}");
    assert_eq!(StartupConfig::parse(text, "fuzz").ok().as_ref(), Some(&c), "parsing twice differs");
});
