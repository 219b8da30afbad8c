//! The CLI command registry: VPP's command language, with commands as paths
//! of words (`show interface`), unique-prefix abbreviations (`sh int`), `?`
//! help, and argument parsing helpers that name the offending token.

pub mod builtin;
pub mod paths;
pub mod proto;

use std::fmt::Write;

use crate::engine::Engine;

/// A CLI error: the text the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    pub fn new(s: impl Into<String>) -> Self {
        CliError(s.into())
    }
}

/// Shorthand for an error result.
pub fn err<T>(s: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(s.into()))
}

/// A command handler.
pub type Handler = fn(&mut Engine, &mut Input) -> Result<String, CliError>;

/// A registered command.
#[derive(Clone)]
pub struct Command {
    pub path: Vec<&'static str>,
    pub short_help: &'static str,
    pub handler: Handler,
}

/// All commands.
#[derive(Clone, Default)]
pub struct Registry {
    cmds: Vec<Command>,
}

/// A command's arguments: the words after the command's path.
pub struct Input {
    /// (word, byte offset in the line)
    words: Vec<(String, usize)>,
    pos: usize,
    line: String,
    command: String,
}

fn tokenize(line: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((line[s..i].to_string(), s));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((line[s..].to_string(), s));
    }
    out
}

impl Input {
    /// Arguments from a string (tests, nested parsing).
    pub fn new(command: &str, args: &str) -> Input {
        Input { words: tokenize(args), pos: 0, line: args.to_string(), command: command.to_string() }
    }

    /// The rx mode after `keyword` (`mode`, `rx-mode`), or an error naming
    /// the word that is not one.
    pub fn rx_mode(&mut self, keyword: &str) -> Result<crate::interface::RxMode, CliError> {
        let cmd = self.command.clone();
        match self.next() {
            Some(w) => crate::interface::RxMode::parse(&w)
                .ok_or_else(|| CliError(format!("{cmd}: {keyword} '{w}' is not polling, interrupt or adaptive"))),
            None => Err(CliError(format!("{cmd}: expected polling, interrupt or adaptive after {keyword}"))),
        }
    }

    /// The command's name, for error messages.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The next word, not consumed.
    pub fn peek(&self) -> Option<&str> {
        self.words.get(self.pos).map(|w| w.0.as_str())
    }

    /// Consumes and returns the next word.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<String> {
        let w = self.words.get(self.pos).map(|w| w.0.clone());
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    /// Whether all words are consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.words.len()
    }

    /// Consumes the next word if it is `kw` (exactly, or a prefix of it of
    /// at least 2 characters when `kw` is longer).
    pub fn keyword(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(w) if w == kw || (w.len() >= 2 && kw.len() > w.len() && kw.starts_with(w)) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The next word, or an error saying what was expected.
    pub fn expect(&mut self, what: &str) -> Result<String, CliError> {
        self.next().ok_or_else(|| CliError(format!("{}: expected {what}", self.command)))
    }

    /// The next word parsed as T, or an error naming the token.
    pub fn parse<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, CliError> {
        let w = self.expect(what)?;
        parse_num(&w).ok_or_else(|| CliError(format!("{}: '{w}' is not a valid {what}", self.command)))
    }

    /// An error for the current (unexpected) word.
    pub fn unexpected<T>(&self) -> Result<T, CliError> {
        match self.peek() {
            Some(w) => err(format!("{}: unknown input '{w}'", self.command)),
            None => err(format!("{}: missing argument", self.command)),
        }
    }

    /// Errors if any word is left unconsumed.
    pub fn done(&self) -> Result<(), CliError> {
        match self.peek() {
            Some(w) => err(format!("{}: unknown input '{w}'", self.command)),
            None => Ok(()),
        }
    }

    /// The raw rest of the line from the next word on (consumes it all).
    pub fn rest(&mut self) -> String {
        let s = match self.words.get(self.pos) {
            Some((_, off)) => self.line[*off..].to_string(),
            None => String::new(),
        };
        self.pos = self.words.len();
        s
    }
}

/// Parses decimal or 0x-hex numbers.
pub fn parse_num<T: std::str::FromStr>(w: &str) -> Option<T> {
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        let v = u64::from_str_radix(h, 16).ok()?;
        return v.to_string().parse().ok();
    }
    w.parse().ok()
}

enum Match<'a> {
    Found(&'a Command, usize),
    Help(String),
}

impl Registry {
    /// Registers a command: `path` is its words (`"show interface"`).
    pub fn add(&mut self, path: &'static str, short_help: &'static str, handler: Handler) {
        let path: Vec<&'static str> = path.split_whitespace().collect();
        self.cmds.retain(|c| c.path != path);
        self.cmds.push(Command { path, short_help, handler });
        self.cmds.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// All commands.
    pub fn commands(&self) -> &[Command] {
        &self.cmds
    }

    /// The distinct words that can follow `prefix` (a command path so far).
    fn next_words(&self, prefix: &[&str]) -> Vec<(&'static str, Option<&Command>)> {
        let mut out: Vec<(&'static str, Option<&Command>)> = Vec::new();
        for c in &self.cmds {
            if c.path.len() > prefix.len() && c.path[..prefix.len()] == *prefix {
                let w = c.path[prefix.len()];
                let exact = (c.path.len() == prefix.len() + 1).then_some(c);
                match out.iter_mut().find(|(x, _)| *x == w) {
                    Some(e) => {
                        if exact.is_some() {
                            e.1 = exact;
                        }
                    }
                    None => out.push((w, exact)),
                }
            }
        }
        out
    }

    fn help_for(&self, prefix: &[&str]) -> String {
        let mut s = String::new();
        for c in &self.cmds {
            if c.path.len() >= prefix.len() && c.path[..prefix.len()] == *prefix {
                let _ = writeln!(s, "  {:<40} {}", c.path.join(" "), c.short_help);
            }
        }
        s
    }

    fn lookup<'a>(&'a self, words: &[(String, usize)]) -> Result<Match<'a>, CliError> {
        let mut path: Vec<&'static str> = Vec::new();
        let mut best: Option<(&Command, usize)> = None;
        for (d, (w, _)) in words.iter().enumerate() {
            if w == "?" {
                return Ok(Match::Help(self.help_for(&path)));
            }
            let nexts = self.next_words(&path);
            let exact: Vec<_> = nexts.iter().filter(|(x, _)| *x == w.as_str()).collect();
            let cands: Vec<_> = if exact.is_empty() {
                nexts.iter().filter(|(x, _)| x.starts_with(w.as_str())).collect()
            } else {
                exact
            };
            match cands.len() {
                0 => break,
                1 => {
                    path.push(cands[0].0);
                    if let Some(c) = cands[0].1 {
                        best = Some((c, d + 1));
                    }
                }
                _ => {
                    // An argument that happens to prefix several words (an
                    // interface name) belongs to the command found so far.
                    if best.is_some_and(|(c, _)| c.path.len() == path.len()) {
                        break;
                    }
                    let names: Vec<&str> = cands.iter().map(|c| c.0).collect();
                    return Err(CliError(format!("ambiguous '{w}': could be {}", names.join(", "))));
                }
            }
        }
        match best {
            Some((c, n)) if c.path.len() == path.len() || n == path.len() => Ok(Match::Found(c, n)),
            Some((c, n)) => {
                // Words matched past the command into a longer path that
                // does not complete: treat them as the command's arguments.
                Ok(Match::Found(c, n))
            }
            None => {
                let bad = words.get(path.len()).map_or("", |w| w.0.as_str());
                if bad.is_empty() {
                    Err(CliError(format!("incomplete command; possible completions:\n{}", self.help_for(&path))))
                } else {
                    Err(CliError(format!("unknown input '{bad}'")))
                }
            }
        }
    }

    /// Runs one line.
    pub fn run(&self, e: &mut Engine, line: &str) -> Result<String, CliError> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(String::new());
        }
        let words = tokenize(line);
        match self.lookup(&words)? {
            Match::Help(h) => Ok(h),
            Match::Found(c, n) => {
                let rest_off = words.get(n).map_or(line.len(), |w| w.1);
                let args = &line[rest_off..];
                let mut input = Input::new(&c.path.join(" "), args);
                if input.words.last().is_some_and(|w| w.0 == "?") {
                    return Ok(format!("  {:<40} {}\n", c.path.join(" "), c.short_help));
                }
                (c.handler)(e, &mut input)
            }
        }
    }

    /// Completion candidates for the last (partial) word of `line`.
    pub fn complete_words(&self, line: &str) -> Vec<String> {
        let words = tokenize(line);
        let trailing_space = line.ends_with(char::is_whitespace) || line.is_empty();
        let (done, partial) = if trailing_space {
            (&words[..], "")
        } else {
            (&words[..words.len() - 1], words.last().map_or("", |w| w.0.as_str()))
        };
        let mut path: Vec<&'static str> = Vec::new();
        for (w, _) in done {
            let nexts = self.next_words(&path);
            let c: Vec<_> = nexts.iter().filter(|(x, _)| x == w || x.starts_with(w.as_str())).collect();
            let exact = c.iter().find(|(x, _)| x == w);
            match (exact, c.len()) {
                (Some(x), _) => path.push(x.0),
                (None, 1) => path.push(c[0].0),
                _ => return Vec::new(),
            }
        }
        self.next_words(&path)
            .into_iter()
            .map(|(w, _)| w)
            .filter(|w| w.starts_with(partial))
            .map(String::from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(_: &mut Engine, i: &mut Input) -> Result<String, CliError> {
        let rest = i.rest();
        Ok(format!("{}|{rest}", i.command()))
    }

    fn reg() -> Registry {
        let mut r = Registry::default();
        r.add("show interface", "", h);
        r.add("show interface address", "", h);
        r.add("show interface rx-placement", "", h);
        r.add("show ip fib", "", h);
        r.add("set interface state", "", h);
        r.add("set interface mtu", "", h);
        r.add("set interface mac address", "", h);
        r
    }

    fn find(r: &Registry, line: &str) -> Result<(String, String), CliError> {
        let words = tokenize(line);
        match r.lookup(&words)? {
            Match::Found(c, n) => {
                Ok((c.path.join(" "), words[n..].iter().map(|w| w.0.clone()).collect::<Vec<_>>().join(" ")))
            }
            Match::Help(h) => Ok(("?".into(), h)),
        }
    }

    #[test]
    fn prefixes_resolve() {
        let r = reg();
        assert_eq!(find(&r, "sh int").unwrap().0, "show interface");
        assert_eq!(find(&r, "sh int addr").unwrap().0, "show interface address");
        assert_eq!(find(&r, "sh int pg0").unwrap(), ("show interface".into(), "pg0".into()));
        assert_eq!(find(&r, "set int st pg0 up").unwrap(), ("set interface state".into(), "pg0 up".into()));
        assert_eq!(find(&r, "set int mac addr pg0 00:01:02:03:04:05").unwrap().0, "set interface mac address");
    }

    #[test]
    fn unknown_and_ambiguous_are_errors() {
        let r = reg();
        assert_eq!(find(&r, "frobnicate").unwrap_err().0, "unknown input 'frobnicate'");
        assert!(find(&r, "s").unwrap_err().0.contains("ambiguous"));
        assert!(find(&r, "show").unwrap_err().0.contains("incomplete"));
        assert!(find(&r, "set int m").unwrap_err().0.contains("ambiguous"));
    }

    #[test]
    fn help_lists_continuations() {
        let r = reg();
        let (k, h) = find(&r, "show ?").unwrap();
        assert_eq!(k, "?");
        assert!(h.contains("show interface address") && h.contains("show ip fib"));
    }

    #[test]
    fn completion() {
        let r = reg();
        let words = |l: &str| {
            let mut v = r.complete_words(l);
            v.sort();
            v
        };
        assert_eq!(words("sh"), vec!["show"]);
        assert_eq!(words("show int"), vec!["interface"]);
        assert_eq!(words("show interface "), vec!["address", "rx-placement"]);
    }

    #[test]
    fn input_helpers_name_tokens() {
        let mut i = Input::new("set interface mtu", "abc pg0");
        assert_eq!(i.parse::<u32>("mtu").unwrap_err().0, "set interface mtu: 'abc' is not a valid mtu");
        let mut i = Input::new("x", "0x10 up extra");
        assert_eq!(i.parse::<u32>("n").unwrap(), 16);
        assert!(i.keyword("up"));
        assert_eq!(i.done().unwrap_err().0, "x: unknown input 'extra'");
        let mut i = Input::new("pg", "new { name s0\n limit 3 }");
        assert!(i.keyword("new"));
        assert_eq!(i.rest(), "{ name s0\n limit 3 }");
    }
}
