//! `packet-generator new` stream text. An error names a line of the text;
//! a stream's packets have the lengths `size` gives, are the same every
//! time they are built, and a short output buffer gets their first bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvpp_drivers::pg::spec::{PgSpecError, StreamSpec};

/// The line an error names, if it names one.
fn line_of(e: &PgSpecError) -> Option<u32> {
    use PgSpecError::*;
    match e {
        UnknownKeyword { line, .. }
        | MissingValue { line, .. }
        | BadValue { line, .. }
        | UnexpectedData { line, .. }
        | Unbalanced { line, .. }
        | Trailing { line, .. }
        | Duplicate { line, .. }
        | Unsupported { line, .. }
        | HeadersTooLong { line, .. } => Some(*line),
        Missing { .. } => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let spec = match StreamSpec::parse(text) {
        Ok(s) => s,
        Err(e) => {
            let lines = text.split('\n').count() as u32;
            if let Some(l) = line_of(&e) {
                assert!((1..=lines).contains(&l), "error names line {l} of {lines}: {e}");
            }
            assert!(e.to_string().starts_with("pg: "), "{e}");
            return;
        }
    };
    assert!(spec.min_size <= spec.max_size, "size {}-{}", spec.min_size, spec.max_size);
    assert!(spec.header_len() <= 256, "header stack of {} bytes", spec.header_len());
    let mut full = vec![0u8; usize::from(spec.max_size)];
    let mut again = full.clone();
    let mut short = [0u8; 37];
    for seq in [0, 1, 5, 1 << 33] {
        let len = spec.packet_len(seq);
        assert!((usize::from(spec.min_size)..=usize::from(spec.max_size)).contains(&len), "seq {seq}: length {len}");
        assert_eq!(spec.packet(seq, &mut full), len, "seq {seq}: bytes written");
        assert_eq!(spec.packet(seq, &mut again), len);
        assert!(full[..len] == again[..len], "seq {seq}: two builds differ");
        let n = spec.packet(seq, &mut short);
        assert_eq!(n, len.min(short.len()), "seq {seq}: bytes written to a short buffer");
        assert!(short[..n] == full[..n], "seq {seq}: a short buffer gets another packet's start");
    }
});
