//! VPP's `startup.conf`: sections of words and nested `{ }` blocks.
//!
//! Parsing goes in three steps. Bytes become tokens (words, `{`, `}`; `#` and
//! `/* */` comments dropped, `"..."` kept as one word). Tokens become a raw
//! tree of [`Section`]s and [`Item`]s: an item is the words of one line, plus
//! the block that follows them if any. Then the sections the engine interprets
//! (`unix`, `cpu`, `buffers`, `api-segment`, `plugins`, `logging`) are read as
//! a stream of words in which each keyword takes the values it expects, so
//! `cpu { main-core 1 corelist-workers 2-3 }` on one line works as in VPP.
//! Other known sections (`dpdk`, `session`, `tcp`, ...) are only kept raw in
//! [`StartupConfig::sections`] for the crates that own them.
//!
//! As in VPP, a known section given a single word needs no braces
//! (`unix interactive`, `heapsize 1G`). Repeated sections merge: later values
//! win for scalar keys. Every error names file, line and offending token, and
//! parsing never panics, whatever the input.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(test)]
mod tests;

/// Sections whose keywords this module interprets.
#[rustfmt::skip]
pub const INTERPRETED_SECTIONS: &[&str] = &[
    "unix", "cpu", "buffers", "api-segment", "plugins", "logging",
];

/// Sections of VPP kept raw for other parts of rvpp to read.
#[rustfmt::skip]
pub const RAW_SECTIONS: &[&str] = &[
    "session", "tcp", "udp", "dpdk", "statseg", "socksvr", "api-trace", "memory", "heapsize",
    "ip", "ip6", "punt", "l2learn", "nat", "acl-plugin", "vlib", "physmem", "tuntap", "memif",
    "node", "api-queue", "linux-cp", "tls", "quic", "http", "lcp",
];

/// Deepest nesting of `{ }` blocks accepted (VPP needs two or three).
const MAX_DEPTH: usize = 32;
/// Highest CPU number accepted in a core list.
const MAX_CORE: u64 = 4095;
#[rustfmt::skip]
const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", "disabled",
];
const SCHED_POLICIES: &[&str] = &["rr", "fifo", "batch", "idle", "other"];

/// A startup.conf error: where, which token, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub token: String,
    pub message: String,
}

/// Something accepted but not honoured (an ignored keyword or top-level word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// One line of words inside a section, with the block that follows it if any:
/// `dev 0000:00:08.0 { num-rx-queues 2 }` is words `dev 0000:00:08.0` and a
/// block holding the item `num-rx-queues 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: usize,
    pub words: Vec<String>,
    pub block: Option<Vec<Item>>,
}

impl Item {
    fn bare(line: usize) -> Item {
        Item { line, words: Vec::new(), block: None }
    }
}

/// A top-level `name { ... }`, raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub items: Vec<Item>,
}

/// The whole startup configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartupConfig {
    pub unix: UnixConfig,
    pub cpu: CpuConfig,
    pub buffers: BuffersConfig,
    pub api_segment: ApiSegmentConfig,
    pub plugins: PluginsConfig,
    pub logging: LoggingConfig,
    /// Every section, raw, in file order (a repeated section appears twice).
    pub sections: Vec<Section>,
    pub warnings: Vec<ConfigWarning>,
}

/// `unix { ... }`: process, CLI and logging-to-file settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnixConfig {
    pub nodaemon: bool,
    /// VPP's `interactive` implies `nodaemon`; the flags are kept as written.
    pub interactive: bool,
    /// A socket path or a `host:port` TCP address, as written.
    pub cli_listen: Option<String>,
    pub log: Option<PathBuf>,
    pub startup_config: Option<PathBuf>,
    pub exec: Option<PathBuf>,
    pub runtime_dir: Option<PathBuf>,
    pub gid: Option<u32>,
    pub cli_prompt: Option<String>,
    pub cli_no_pager: bool,
    pub poll_sleep_usec: Option<u64>,
    pub full_coredump: bool,
    /// `unlimited` or a size such as `4G`, as written.
    pub coredump_size: Option<String>,
}

/// `cpu { ... }`: thread placement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuConfig {
    pub main_core: Option<usize>,
    /// Sorted, without duplicates.
    pub corelist_workers: Vec<usize>,
    pub workers: Option<usize>,
    pub skip_cores: usize,
    pub main_thread_io: bool,
    pub relative: bool,
    pub thread_prefix: Option<String>,
    pub scheduler_policy: Option<String>,
    pub scheduler_priority: Option<u32>,
}

impl CpuConfig {
    /// Number of worker threads: the core list's length, else `workers`, else 0.
    pub fn worker_count(&self) -> usize {
        if self.corelist_workers.is_empty() {
            self.workers.unwrap_or(0)
        } else {
            self.corelist_workers.len()
        }
    }
}

/// `buffers { page-size ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageSize {
    /// The system's normal page size.
    #[default]
    Default,
    /// The system's default huge page size.
    DefaultHugepage,
    /// An explicit size: a power of two, at least 4 KiB.
    Bytes(u64),
}

/// `buffers { ... }`: the packet buffer pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuffersConfig {
    pub buffers_per_numa: u32,
    /// `default data-size N`: bytes of packet data per buffer.
    pub data_size: u32,
    pub page_size: PageSize,
    pub preallocated: Option<u32>,
}

impl Default for BuffersConfig {
    fn default() -> Self {
        BuffersConfig { buffers_per_numa: 16384, data_size: 2048, page_size: PageSize::Default, preallocated: None }
    }
}

/// `api-segment { ... }`: the shared-memory API segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiSegmentConfig {
    pub prefix: Option<String>,
    pub gid: Option<u32>,
    pub uid: Option<u32>,
}

/// `plugins { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginsConfig {
    /// `path`, with each `add-path` appended after a `:`.
    pub path: Option<String>,
    /// `plugin default { disable }`.
    pub default_disable: bool,
    /// One entry per plugin named; a later line for the same plugin replaces it.
    pub plugins: Vec<PluginLine>,
}

impl PluginsConfig {
    /// Whether the plugin `name` should be loaded, given its line or the default.
    pub fn is_enabled(&self, name: &str) -> bool {
        match self.plugins.iter().find(|p| p.name == name) {
            Some(p) => p.enable,
            None => !self.default_disable,
        }
    }
}

/// `plugin NAME { enable }` or `plugin NAME { disable }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLine {
    pub line: usize,
    pub name: String,
    pub enable: bool,
}

/// `logging { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoggingConfig {
    pub default_log_level: Option<String>,
    pub default_syslog_log_level: Option<String>,
    /// Number of entries the log ring keeps.
    pub size: Option<u64>,
    /// `class NAME { level L }`: (class, level), one per class.
    pub classes: Vec<(String, String)>,
}

impl StartupConfig {
    /// Parses the text of a startup.conf; `file` is used in messages only.
    pub fn parse(text: &str, file: &str) -> Result<StartupConfig, ConfigError> {
        let tokens = tokenize(text, file)?;
        let mut cfg = StartupConfig::default();
        let mut tree = Tree { tokens, pos: 0, file };
        cfg.sections = tree.sections(&mut cfg.warnings)?;
        for section in &cfg.sections {
            let ctx = format!("section '{}'", section.name);
            let (known, ignored): (&[&str], &[(&str, usize)]) = match section.name.as_str() {
                "unix" => (UNIX_KEYS, UNIX_IGNORED),
                "cpu" => (CPU_KEYS, CPU_IGNORED),
                "buffers" => (BUFFERS_KEYS, &[]),
                "api-segment" => (API_SEGMENT_KEYS, API_SEGMENT_IGNORED),
                "plugins" => (PLUGINS_KEYS, &[]),
                "logging" => (LOGGING_KEYS, LOGGING_IGNORED),
                _ => continue,
            };
            let mut s = Stream::new(&section.items, file, ctx, known, ignored);
            match section.name.as_str() {
                "unix" => apply_unix(&mut cfg.unix, &mut s)?,
                "cpu" => apply_cpu(&mut cfg.cpu, &mut s)?,
                "buffers" => apply_buffers(&mut cfg.buffers, &mut s)?,
                "api-segment" => apply_api_segment(&mut cfg.api_segment, &mut s)?,
                "plugins" => apply_plugins(&mut cfg.plugins, &mut s)?,
                _ => apply_logging(&mut cfg.logging, &mut s)?,
            }
            cfg.warnings.append(&mut s.warnings);
        }
        Ok(cfg)
    }

    /// Reads and parses a file; a read failure is an error at line 0.
    pub fn load(path: &Path) -> Result<StartupConfig, ConfigError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => StartupConfig::parse(&text, &file),
            Err(e) => Err(ConfigError {
                token: file.clone(),
                message: format!("cannot read the configuration: {e}"),
                file,
                line: 0,
            }),
        }
    }

    /// Parses command-line words (`unix { nodaemon } cpu { workers 2 }`), joined
    /// with spaces as VPP does.
    pub fn parse_args(args: &[String]) -> Result<StartupConfig, ConfigError> {
        StartupConfig::parse(&args.join(" "), "<command line>")
    }

    /// The first section of that name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The items of every section of that name, in file order (repeated
    /// sections merged).
    pub fn section_items<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.sections.iter().filter(move |s| s.name == name).flat_map(|s| s.items.iter())
    }
}

/// Parses a size: decimal or `0x` hex, then an optional `K`, `M` or `G`
/// (case-insensitive, times 1024 each), then an optional `B`.
pub fn parse_size(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let mut body = lower.as_str();
    let hex = body.starts_with("0x");
    if let Some(rest) = body.strip_suffix('b') {
        // In hex a lone trailing `b` is a digit.
        if rest.ends_with(['k', 'm', 'g']) || !hex {
            body = rest;
        }
    }
    let (digits, shift) = match body.strip_suffix(['k', 'm', 'g']) {
        Some(d) if body.ends_with('k') => (d, 10),
        Some(d) if body.ends_with('m') => (d, 20),
        Some(d) => (d, 30),
        None => (body, 0),
    };
    parse_number(digits)?.checked_mul(1u64 << shift)
}

/// Parses a decimal or `0x` hex number; nothing else (no sign, no spaces).
pub fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) => u64::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

/// Parses a VPP core list (`2-3`, `1,3-5`, `2,4,6`) into sorted, distinct
/// CPU numbers; the error says what is wrong.
pub fn parse_corelist(s: &str) -> Result<Vec<usize>, String> {
    let mut cores = BTreeSet::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let num = |t: &str| parse_number(t).ok_or_else(|| format!("'{t}' is not a CPU number"));
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("range {part} runs backwards"));
        }
        if hi > MAX_CORE {
            return Err(format!("CPU {hi} is above the limit of {MAX_CORE}"));
        }
        cores.extend((lo..=hi).filter_map(|c| usize::try_from(c).ok()));
    }
    Ok(cores.into_iter().collect())
}

/// Finds `name` in an `/etc/group` or `/etc/passwd` style text
/// (`name:x:id:...`) and returns its numeric id.
pub fn lookup_id(db: &str, name: &str) -> Option<u32> {
    db.lines().find_map(|l| {
        let mut fields = l.split(':');
        if fields.next()? != name {
            return None;
        }
        fields.nth(1)?.trim().parse().ok()
    })
}

fn error(file: &str, line: usize, token: &str, message: String) -> ConfigError {
    ConfigError { file: file.to_string(), line, token: token.to_string(), message }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str, file: &str) -> Result<Vec<(usize, Tok)>, ConfigError> {
    // All delimiters are ASCII, so byte indices at them are char boundaries.
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    match b.get(i) {
                        None => {
                            let msg = "comment opened here is never closed: expected '*/'";
                            return Err(error(file, start, "/*", msg.into()));
                        }
                        Some(b'*') if b.get(i + 1) == Some(&b'/') => {
                            i += 2;
                            break;
                        }
                        Some(c) => {
                            line += usize::from(*c == b'\n');
                            i += 1;
                        }
                    }
                }
            }
            b'{' | b'}' => {
                out.push((line, if b[i] == b'{' { Tok::Open } else { Tok::Close }));
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                match b[start..].iter().position(|&c| c == b'"' || c == b'\n') {
                    Some(n) if b[start + n] == b'"' => {
                        out.push((line, Tok::Word(text[start..start + n].to_string())));
                        i = start + n + 1;
                    }
                    _ => {
                        let msg = "string is never closed: expected '\"' on the same line";
                        return Err(error(file, line, "\"", msg.into()));
                    }
                }
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'{' && b[i] != b'}' {
                    i += 1;
                }
                out.push((line, Tok::Word(text[start..i].to_string())));
            }
        }
    }
    Ok(out)
}

/// Tokens to the raw tree.
struct Tree<'a> {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
    file: &'a str,
}

impl Tree<'_> {
    fn peek(&self, ahead: usize) -> Option<&(usize, Tok)> {
        self.tokens.get(self.pos + ahead)
    }

    fn sections(&mut self, warnings: &mut Vec<ConfigWarning>) -> Result<Vec<Section>, ConfigError> {
        let mut sections = Vec::new();
        let mut loose: Option<Item> = None;
        let file = self.file;
        let flush = |loose: &mut Option<Item>, warnings: &mut Vec<ConfigWarning>| {
            if let Some(item) = loose.take() {
                warnings.push(ConfigWarning {
                    file: file.to_string(),
                    line: item.line,
                    message: format!("'{}' is not a section (no '{{ }}' block follows): ignored", item.words.join(" ")),
                });
            }
        };
        while let Some((line, tok)) = self.tokens.get(self.pos).cloned() {
            self.pos += 1;
            let name = match tok {
                Tok::Close => {
                    let msg = "unexpected '}': no '{' is open".to_string();
                    return Err(error(self.file, line, "}", msg));
                }
                Tok::Open => {
                    let msg = "unexpected '{': expected a section name before it".to_string();
                    return Err(error(self.file, line, "{", msg));
                }
                Tok::Word(w) => w,
            };
            let known = INTERPRETED_SECTIONS.contains(&name.as_str()) || RAW_SECTIONS.contains(&name.as_str());
            let block_follows = matches!(self.peek(0), Some((_, Tok::Open)));
            // VPP: a section with a single parameter needs no braces.
            let single = match (self.peek(0), self.peek(1)) {
                (Some((l, Tok::Word(w))), next) if *l == line && known => {
                    (!matches!(next, Some((_, Tok::Open)))).then(|| w.clone())
                }
                _ => None,
            };
            if !block_follows && single.is_none() {
                if loose.as_ref().is_some_and(|it| it.line != line) {
                    flush(&mut loose, warnings);
                }
                loose.get_or_insert_with(|| Item::bare(line)).words.push(name);
                continue;
            }
            flush(&mut loose, warnings);
            if !known {
                let expected: Vec<&str> = INTERPRETED_SECTIONS.iter().chain(RAW_SECTIONS).copied().collect();
                let msg = format!("unknown section '{name}': expected one of {}", expected.join(", "));
                return Err(error(self.file, line, &name, msg));
            }
            let open_line = self.tokens[self.pos].0;
            self.pos += 1;
            let items = match single {
                Some(word) => vec![Item { words: vec![word], ..Item::bare(line) }],
                None => self.block(open_line, 1)?,
            };
            sections.push(Section { name, line, items });
        }
        flush(&mut loose, warnings);
        Ok(sections)
    }

    /// Items up to the `}` closing the `{` seen at `open_line`.
    fn block(&mut self, open_line: usize, depth: usize) -> Result<Vec<Item>, ConfigError> {
        if depth > MAX_DEPTH {
            let msg = format!("blocks nested deeper than {MAX_DEPTH} levels");
            return Err(error(self.file, open_line, "{", msg));
        }
        let mut items = Vec::new();
        let mut cur: Option<Item> = None;
        loop {
            let Some((line, tok)) = self.tokens.get(self.pos).cloned() else {
                let msg = "'{' opened here is never closed: expected '}'".to_string();
                return Err(error(self.file, open_line, "{", msg));
            };
            self.pos += 1;
            match tok {
                Tok::Close => {
                    items.extend(cur);
                    return Ok(items);
                }
                Tok::Word(w) => {
                    if cur.as_ref().is_some_and(|c| c.line != line) {
                        items.extend(cur.take());
                    }
                    cur.get_or_insert_with(|| Item::bare(line)).words.push(w);
                }
                Tok::Open => {
                    let Some(mut item) = cur.take() else {
                        let msg = "unexpected '{': expected a name before the block".to_string();
                        return Err(error(self.file, line, "{", msg));
                    };
                    item.block = Some(self.block(line, depth + 1)?);
                    items.push(item);
                }
            }
        }
    }
}

/// One word of a section read as a stream; the block, if any, follows it.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    line: usize,
    text: &'a str,
    block: Option<&'a [Item]>,
}

/// A section's words, read keyword by keyword.
struct Stream<'a> {
    words: Vec<Word<'a>>,
    pos: usize,
    file: &'a str,
    /// "section 'cpu'", "plugin 'x.so' in section 'plugins'"...
    ctx: String,
    known: &'static [&'static str],
    /// Keywords accepted with a warning, and how many values each takes.
    ignored: &'static [(&'static str, usize)],
    warnings: Vec<ConfigWarning>,
}

impl<'a> Stream<'a> {
    fn new(
        items: &'a [Item],
        file: &'a str,
        ctx: String,
        known: &'static [&'static str],
        ignored: &'static [(&'static str, usize)],
    ) -> Self {
        let mut words = Vec::new();
        for item in items {
            let last = item.words.len().saturating_sub(1);
            for (i, text) in item.words.iter().enumerate() {
                let block = if i == last { item.block.as_deref() } else { None };
                words.push(Word { line: item.line, text, block });
            }
        }
        Stream { words, pos: 0, file, ctx, known, ignored, warnings: Vec::new() }
    }

    fn err(&self, w: &Word, message: String) -> ConfigError {
        error(self.file, w.line, w.text, message)
    }

    /// "'VALUE' PROBLEM for 'KEY' in CTX: TAIL", naming the value's line.
    fn bad(&self, v: &Word, key: &Word, problem: &str, tail: &str) -> ConfigError {
        let mut msg = format!("'{}' {problem} for '{}' in {}", v.text, key.text, self.ctx);
        if !tail.is_empty() {
            msg = format!("{msg}: {tail}");
        }
        self.err(v, msg)
    }

    /// Whether `text` is one of the section's keywords, so cannot be a value
    /// (`main-core corelist-workers 2-3` lacks the main core). The first word
    /// of a two-word keyword (`default data-size`) is not counted: it doubles
    /// as a value (`page-size default`).
    fn is_keyword(&self, text: &str) -> bool {
        self.known.contains(&text) || self.ignored.iter().any(|(k, _)| *k == text)
    }

    /// The next keyword; a known keyword may not carry a block.
    fn next_keyword(&mut self) -> Result<Option<Word<'a>>, ConfigError> {
        let Some(w) = self.words.get(self.pos).copied() else {
            return Ok(None);
        };
        self.pos += 1;
        if w.block.is_some() && self.is_keyword(w.text) {
            let msg = format!("unexpected '{{' block after '{}' in {}", w.text, self.ctx);
            return Err(self.err(&w, msg));
        }
        Ok(Some(w))
    }

    /// The value after `key`, which may carry a block.
    fn value_with_block(&mut self, key: &Word, what: &str) -> Result<Word<'a>, ConfigError> {
        match self.words.get(self.pos).copied() {
            Some(w) if !self.is_keyword(w.text) => {
                self.pos += 1;
                Ok(w)
            }
            _ => {
                let msg = format!("missing value for '{}' in {}: expected {what}", key.text, self.ctx);
                Err(self.err(key, msg))
            }
        }
    }

    fn value(&mut self, key: &Word, what: &str) -> Result<Word<'a>, ConfigError> {
        let v = self.value_with_block(key, what)?;
        if v.block.is_some() {
            let msg = format!("unexpected '{{' block after '{} {}' in {}", key.text, v.text, self.ctx);
            return Err(self.err(&v, msg));
        }
        Ok(v)
    }

    fn string(&mut self, key: &Word, what: &str) -> Result<String, ConfigError> {
        Ok(self.value(key, what)?.text.to_string())
    }

    fn path(&mut self, key: &Word) -> Result<PathBuf, ConfigError> {
        Ok(PathBuf::from(self.value(key, "a file name")?.text))
    }

    /// A number within `lo..=hi`, converted to `T`.
    fn number_in<T: TryFrom<u64>>(&mut self, key: &Word, what: &str, lo: u64, hi: u64) -> Result<T, ConfigError> {
        let v = self.value(key, what)?;
        let Some(n) = parse_number(v.text) else {
            return Err(self.bad(&v, key, "is not a number", ""));
        };
        match T::try_from(n) {
            Ok(t) if (lo..=hi).contains(&n) => Ok(t),
            _ => Err(self.bad(&v, key, "is out of range", &format!("expected {what}"))),
        }
    }

    fn number<T: TryFrom<u64>>(&mut self, key: &Word, what: &str) -> Result<T, ConfigError> {
        self.number_in(key, what, 0, u64::MAX)
    }

    /// One word out of `choices`.
    fn choice(&mut self, key: &Word, choices: &[&str]) -> Result<String, ConfigError> {
        let list = choices.join(", ");
        let v = self.value(key, &format!("one of {list}"))?;
        if !choices.contains(&v.text) {
            return Err(self.bad(&v, key, "is not valid", &format!("expected one of {list}")));
        }
        Ok(v.text.to_string())
    }

    /// A numeric id or a name looked up in `db` (`/etc/group`, `/etc/passwd`).
    fn id(&mut self, key: &Word, db: &str, kind: &str) -> Result<u32, ConfigError> {
        let v = self.value(key, &format!("a {kind} name or number"))?;
        if let Some(n) = parse_number(v.text) {
            let tail = format!("expected a {kind} id below 2^32");
            return u32::try_from(n).map_err(|_| self.bad(&v, key, "is out of range", &tail));
        }
        let text = std::fs::read_to_string(db).unwrap_or_default();
        let problem = format!("is not a known {kind}");
        lookup_id(&text, v.text).ok_or_else(|| self.bad(&v, key, &problem, &format!("not in {db}")))
    }

    /// Accepts an ignored keyword (with a warning) or fails on an unknown one.
    fn ignore_or_fail(&mut self, key: &Word) -> Result<(), ConfigError> {
        let Some(&(_, arity)) = self.ignored.iter().find(|(k, _)| *k == key.text) else {
            let expected: Vec<&str> = self.known.iter().copied().chain(self.ignored.iter().map(|(k, _)| *k)).collect();
            let msg =
                format!("unexpected token '{}' in {}: expected one of {}", key.text, self.ctx, expected.join(", "));
            return Err(self.err(key, msg));
        };
        for _ in 0..arity {
            self.value(key, "a value")?;
        }
        self.warnings.push(ConfigWarning {
            file: self.file.to_string(),
            line: key.line,
            message: format!("'{}' in {} is accepted but ignored by rvpp", key.text, self.ctx),
        });
        Ok(())
    }
}

#[rustfmt::skip]
const UNIX_KEYS: &[&str] = &[
    "nodaemon", "interactive", "cli-listen", "log", "startup-config", "exec", "runtime-dir",
    "gid", "cli-prompt", "cli-no-pager", "poll-sleep-usec", "full-coredump", "coredump-size",
];
#[rustfmt::skip]
const UNIX_IGNORED: &[(&str, usize)] = &[
    ("cli-line-mode", 0), ("cli-no-banner", 0), ("nobanner", 0), ("cli-history-limit", 1),
    ("cli-pager-buffer-limit", 1), ("pidfile", 1), ("nosyslog", 0), ("nocolor", 0),
    ("color", 0),
];

fn apply_unix(u: &mut UnixConfig, s: &mut Stream) -> Result<(), ConfigError> {
    while let Some(key) = s.next_keyword()? {
        match key.text {
            "nodaemon" => u.nodaemon = true,
            "interactive" => u.interactive = true,
            "full-coredump" => u.full_coredump = true,
            "cli-no-pager" => u.cli_no_pager = true,
            "cli-listen" => u.cli_listen = Some(s.string(&key, "a socket path or host:port")?),
            "cli-prompt" => u.cli_prompt = Some(s.string(&key, "a prompt string")?),
            "log" => u.log = Some(s.path(&key)?),
            "startup-config" => u.startup_config = Some(s.path(&key)?),
            "exec" => u.exec = Some(s.path(&key)?),
            "runtime-dir" => u.runtime_dir = Some(s.path(&key)?),
            "gid" => u.gid = Some(s.id(&key, "/etc/group", "group")?),
            "poll-sleep-usec" => u.poll_sleep_usec = Some(s.number(&key, "microseconds")?),
            "coredump-size" => {
                let what = "a size such as 4G, or 'unlimited'";
                let v = s.value(&key, what)?;
                if v.text != "unlimited" && parse_size(v.text).is_none() {
                    return Err(s.bad(&v, &key, "is not a size", &format!("expected {what}")));
                }
                u.coredump_size = Some(v.text.to_string());
            }
            _ => s.ignore_or_fail(&key)?,
        }
    }
    Ok(())
}

#[rustfmt::skip]
const CPU_KEYS: &[&str] = &[
    "main-core", "corelist-workers", "workers", "skip-cores", "main-thread-io", "relative",
    "thread-prefix", "scheduler-policy", "scheduler-priority",
];
const CPU_IGNORED: &[(&str, usize)] = &[("use-pthreads", 0), ("coremask-workers", 1)];

fn apply_cpu(c: &mut CpuConfig, s: &mut Stream) -> Result<(), ConfigError> {
    // VPP refuses both: which cores would the extra workers run on?
    let conflict = |s: &Stream, key: &Word, other: &str| {
        let msg = format!("'{}' cannot be combined with '{other}' in {}: expected one or the other", key.text, s.ctx);
        s.err(key, msg)
    };
    while let Some(key) = s.next_keyword()? {
        match key.text {
            "main-core" => c.main_core = Some(s.number_in(&key, "a CPU number", 0, MAX_CORE)?),
            "corelist-workers" => {
                let v = s.value(&key, "a core list such as 2-3 or 1,3-5")?;
                if c.workers.is_some() {
                    return Err(conflict(s, &key, "workers"));
                }
                c.corelist_workers =
                    parse_corelist(v.text).map_err(|why| s.bad(&v, &key, "is not a core list", &why))?;
            }
            "workers" => {
                let n = s.number_in(&key, "a worker count up to 4096", 0, MAX_CORE + 1)?;
                if !c.corelist_workers.is_empty() {
                    return Err(conflict(s, &key, "corelist-workers"));
                }
                c.workers = Some(n);
            }
            "skip-cores" => c.skip_cores = s.number_in(&key, "a CPU count", 0, MAX_CORE)?,
            "main-thread-io" => c.main_thread_io = true,
            "relative" => c.relative = true,
            "thread-prefix" => c.thread_prefix = Some(s.string(&key, "a thread name prefix")?),
            "scheduler-policy" => c.scheduler_policy = Some(s.choice(&key, SCHED_POLICIES)?),
            "scheduler-priority" => c.scheduler_priority = Some(s.number_in(&key, "a priority from 0 to 99", 0, 99)?),
            _ => s.ignore_or_fail(&key)?,
        }
    }
    Ok(())
}

#[rustfmt::skip]
const BUFFERS_KEYS: &[&str] = &[
    "buffers-per-numa", "default data-size", "page-size", "preallocated",
];

fn apply_buffers(b: &mut BuffersConfig, s: &mut Stream) -> Result<(), ConfigError> {
    while let Some(key) = s.next_keyword()? {
        match key.text {
            "buffers-per-numa" => {
                let what = "a buffer count from 1 to 2^32-1";
                b.buffers_per_numa = s.number_in(&key, what, 1, u64::from(u32::MAX))?;
            }
            "preallocated" => b.preallocated = Some(s.number(&key, "a buffer count")?),
            "default" => {
                let v = s.value(&key, "data-size")?;
                if v.text != "data-size" {
                    let msg = format!("unexpected token '{}' after 'default' in {}: expected data-size", v.text, s.ctx);
                    return Err(s.err(&v, msg));
                }
                b.data_size = s.number_in(&v, "a data size from 128 to 65536", 128, 65536)?;
            }
            "page-size" => {
                let what = "default, default-hugepage, default-4k or a size such as 4K, 2M, 1G";
                let v = s.value(&key, what)?;
                b.page_size = match v.text {
                    "default" => PageSize::Default,
                    "default-hugepage" => PageSize::DefaultHugepage,
                    "default-4k" => PageSize::Bytes(4096),
                    t => match parse_size(t) {
                        Some(n) if n >= 4096 && n.is_power_of_two() => PageSize::Bytes(n),
                        _ => {
                            let tail = format!("expected {what}");
                            return Err(s.bad(&v, &key, "is not a page size", &tail));
                        }
                    },
                };
            }
            _ => s.ignore_or_fail(&key)?,
        }
    }
    Ok(())
}

const API_SEGMENT_KEYS: &[&str] = &["prefix", "gid", "uid"];
#[rustfmt::skip]
const API_SEGMENT_IGNORED: &[(&str, usize)] = &[
    ("api-size", 1), ("global-size", 1), ("api-pvt-heap-size", 1), ("global-pvt-heap-size", 1),
    ("baseva", 1),
];

fn apply_api_segment(a: &mut ApiSegmentConfig, s: &mut Stream) -> Result<(), ConfigError> {
    while let Some(key) = s.next_keyword()? {
        match key.text {
            "prefix" => a.prefix = Some(s.string(&key, "a segment name prefix")?),
            "gid" => a.gid = Some(s.id(&key, "/etc/group", "group")?),
            "uid" => a.uid = Some(s.id(&key, "/etc/passwd", "user")?),
            _ => s.ignore_or_fail(&key)?,
        }
    }
    Ok(())
}

const PLUGINS_KEYS: &[&str] = &["path", "add-path", "plugin"];
const PLUGIN_KEYS: &[&str] = &["enable", "disable"];
const PLUGIN_IGNORED: &[(&str, usize)] = &[("skip-version-check", 0)];

fn apply_plugins(p: &mut PluginsConfig, s: &mut Stream) -> Result<(), ConfigError> {
    while let Some(key) = s.next_keyword()? {
        match key.text {
            "path" => p.path = Some(s.string(&key, "a directory list such as /usr/lib/vpp_plugins")?),
            "add-path" => {
                let dir = s.string(&key, "a directory")?;
                p.path = Some(match p.path.take() {
                    Some(old) => format!("{old}:{dir}"),
                    None => dir,
                });
            }
            "plugin" => {
                let v = s.value_with_block(&key, "a plugin name such as dpdk_plugin.so")?;
                let ctx = format!("plugin '{}' in {}", v.text, s.ctx);
                let missing = format!("missing '{{ enable }}' or '{{ disable }}' for plugin '{}' in {}", v.text, s.ctx);
                let Some(block) = v.block else {
                    return Err(s.err(&v, missing));
                };
                let mut inner = Stream::new(block, s.file, ctx, PLUGIN_KEYS, PLUGIN_IGNORED);
                let mut enable = None;
                while let Some(k) = inner.next_keyword()? {
                    match k.text {
                        "enable" => enable = Some(true),
                        "disable" => enable = Some(false),
                        _ => inner.ignore_or_fail(&k)?,
                    }
                }
                s.warnings.append(&mut inner.warnings);
                let Some(enable) = enable else {
                    return Err(s.err(&v, missing));
                };
                if v.text == "default" {
                    p.default_disable = !enable;
                    continue;
                }
                let entry = PluginLine { line: v.line, name: v.text.to_string(), enable };
                match p.plugins.iter_mut().find(|q| q.name == v.text) {
                    Some(old) => *old = entry,
                    None => p.plugins.push(entry),
                }
            }
            _ => s.ignore_or_fail(&key)?,
        }
    }
    Ok(())
}

#[rustfmt::skip]
const LOGGING_KEYS: &[&str] = &[
    "default-log-level", "default-syslog-log-level", "size", "class",
];
const LOGGING_IGNORED: &[(&str, usize)] = &[("unthrottle-time", 1)];
const CLASS_KEYS: &[&str] = &["level"];
const CLASS_IGNORED: &[(&str, usize)] = &[("syslog-level", 1), ("rate-limit", 1)];

fn apply_logging(l: &mut LoggingConfig, s: &mut Stream) -> Result<(), ConfigError> {
    while let Some(key) = s.next_keyword()? {
        match key.text {
            "default-log-level" => l.default_log_level = Some(s.choice(&key, LOG_LEVELS)?),
            "default-syslog-log-level" => l.default_syslog_log_level = Some(s.choice(&key, LOG_LEVELS)?),
            "size" => l.size = Some(s.number(&key, "a number of log entries")?),
            "class" => {
                let v = s.value_with_block(&key, "a log class name such as dpdk")?;
                let Some(block) = v.block else {
                    let msg =
                        format!("missing block for class '{}' in {}: expected '{{ level LEVEL }}'", v.text, s.ctx);
                    return Err(s.err(&v, msg));
                };
                let ctx = format!("class '{}' in {}", v.text, s.ctx);
                let mut inner = Stream::new(block, s.file, ctx, CLASS_KEYS, CLASS_IGNORED);
                while let Some(k) = inner.next_keyword()? {
                    match k.text {
                        "level" => {
                            let level = inner.choice(&k, LOG_LEVELS)?;
                            match l.classes.iter_mut().find(|(c, _)| c == v.text) {
                                Some(old) => old.1 = level,
                                None => l.classes.push((v.text.to_string(), level)),
                            }
                        }
                        _ => inner.ignore_or_fail(&k)?,
                    }
                }
                s.warnings.append(&mut inner.warnings);
            }
            _ => s.ignore_or_fail(&key)?,
        }
    }
    Ok(())
}
