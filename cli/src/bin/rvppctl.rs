//! `rvppctl`: the command-line client of the rvpp daemon's CLI socket.
//!
//! - `rvppctl show interface` runs one command and prints its output;
//! - `rvppctl < script` runs the commands of a script, one per line;
//! - `rvppctl` on a terminal opens an interactive session (`rvpp# `) with
//!   history, line editing and tab completion answered by the daemon.
//!
//! Exit status: 0 on success, 1 when a command failed, 2 when the daemon
//! could not be reached (or went away) or the arguments were bad.

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use rvpp_dataplane::cli::{paths, proto};

const PROMPT: &str = "rvpp# ";
const HISTORY_FILE: &str = ".rvppctl_history";

fn usage() -> String {
    format!(
        "usage: rvppctl [-s <socket>] [command...]\n\n\
         Runs one rvpp CLI command, the commands read from stdin (one per line),\n\
         or, on a terminal, an interactive session.\n\n\
         options:\n  \
         -s, --socket <path>  the daemon's CLI socket (default: {})\n  \
         -h, --help           this text\n      \
         --version        the version",
        paths::default_socket_path().display()
    )
}

/// What the command line asked for.
#[derive(Debug, Default, PartialEq)]
struct Args {
    /// `-s <path>`; `None` means the default socket.
    socket: Option<PathBuf>,
    /// The command words, empty for a script or an interactive session.
    command: Vec<String>,
    help: bool,
    version: bool,
}

/// Parses the arguments after the program name. Options come first; the
/// first other word (or whatever follows `--`) starts the command.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => parsed.help = true,
            "--version" => parsed.version = true,
            "-s" | "--socket" => {
                let path = args.next().ok_or_else(|| format!("{arg} needs a socket path"))?;
                parsed.socket = Some(path.into());
            }
            "--" => break,
            _ => {
                if let Some(path) = arg.strip_prefix("--socket=").or(arg.strip_prefix("-s")) {
                    parsed.socket = Some(path.into());
                } else if arg.starts_with('-') {
                    return Err(format!("unknown option {arg}"));
                } else {
                    parsed.command.push(arg);
                    break;
                }
            }
        }
    }
    parsed.command.extend(args);
    Ok(parsed)
}

/// One connection to the daemon; it answers requests one at a time.
struct Client {
    stream: UnixStream,
    path: PathBuf,
}

impl Client {
    fn connect(path: &Path) -> io::Result<Self> {
        let stream = UnixStream::connect(path)?;
        Ok(Client { stream, path: path.to_owned() })
    }

    /// Runs `line`: `Ok(Ok(output))`, `Ok(Err(error text))`, or an I/O error
    /// when the connection is gone.
    fn request(&self, line: &str) -> io::Result<Result<String, String>> {
        proto::write_request(&mut &self.stream, line)?;
        proto::read_response(&mut &self.stream)
    }

    /// The daemon's completions of `line`, one candidate per line.
    fn complete(&self, line: &str) -> io::Result<Vec<String>> {
        let answer = self.request(&format!("{}{line}", proto::COMPLETE_PREFIX))?;
        Ok(answer.map(|words| words.lines().filter(|w| !w.is_empty()).map(str::to_owned).collect()).unwrap_or_default())
    }

    /// The message for a connection lost mid-session.
    fn lost(&self, e: &io::Error) -> String {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                format!("rvppctl: rvpp closed the connection on {}", self.path.display())
            }
            _ => format!("rvppctl: lost the connection to {}: {e}", self.path.display()),
        }
    }
}

/// Writes `text` with a trailing newline, ignoring a closed stdout/stderr.
fn emit(out: &mut impl Write, text: &str) {
    if text.is_empty() {
        return;
    }
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    let _ = write!(out, "{text}{newline}").and_then(|()| out.flush());
}

/// Prints a command's result; `true` when it succeeded.
fn report(result: &Result<String, String>) -> bool {
    match result {
        Ok(output) => {
            emit(&mut io::stdout(), output);
            true
        }
        Err(error) => {
            emit(&mut io::stderr(), error);
            false
        }
    }
}

fn is_quit(line: &str) -> bool {
    matches!(line, "quit" | "exit" | "q")
}

/// Runs the commands read from stdin; blank lines and `#` comments are
/// skipped, and a failed command does not stop the rest.
fn run_script(client: &Client) -> ExitCode {
    let mut failed = false;
    for line in io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("rvppctl: reading stdin: {e}");
                return ExitCode::from(1);
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if is_quit(line) {
            break;
        }
        match client.request(line) {
            Ok(result) => failed |= !report(&result),
            Err(e) => {
                eprintln!("{}", client.lost(&e));
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::from(u8::from(failed))
}

/// The interactive editor's helper: tab completion asked of the daemon.
struct CtlHelper {
    client: Rc<Client>,
}

impl Completer for CtlHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        // A lost connection shows up on the next command; here it just
        // offers nothing.
        let words = self.client.complete(before).unwrap_or_default();
        let unique = words.len() == 1;
        let candidates = words
            .into_iter()
            .map(|word| Pair { replacement: if unique { format!("{word} ") } else { word.clone() }, display: word })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for CtlHelper {
    type Hint = String;
}
impl Highlighter for CtlHelper {}
impl Validator for CtlHelper {}
impl Helper for CtlHelper {}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(HISTORY_FILE))
}

/// The interactive session: errors are shown and the session goes on; it
/// ends on Ctrl-D, `quit`, `exit` or `q`, or when the daemon goes away.
fn run_interactive(client: Client) -> ExitCode {
    let client = Rc::new(client);
    let config = Config::builder().completion_type(CompletionType::List).build();
    let mut editor = match Editor::<CtlHelper, DefaultHistory>::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("rvppctl: cannot set up the terminal: {e}");
            return ExitCode::from(2);
        }
    };
    editor.set_helper(Some(CtlHelper { client: Rc::clone(&client) }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let code = loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rvppctl: reading the terminal: {e}");
                break ExitCode::from(2);
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        if is_quit(line) {
            break ExitCode::SUCCESS;
        }
        match client.request(line) {
            Ok(result) => {
                report(&result);
            }
            Err(e) => {
                eprintln!("{}", client.lost(&e));
                break ExitCode::from(2);
            }
        }
    };
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    code
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("rvppctl: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("rvppctl {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let socket = args.socket.unwrap_or_else(paths::default_socket_path);
    let client = match Client::connect(&socket) {
        Ok(client) => client,
        Err(e) => {
            eprintln!(
                "rvppctl: cannot connect to {}: {e} (is rvpp running? its CLI socket is set by \
                 unix {{ cli-listen <path> }})",
                socket.display()
            );
            return ExitCode::from(2);
        }
    };
    if !args.command.is_empty() {
        return match client.request(&args.command.join(" ")) {
            Ok(result) => ExitCode::from(u8::from(!report(&result))),
            Err(e) => {
                eprintln!("{}", client.lost(&e));
                ExitCode::from(2)
            }
        };
    }
    if io::stdin().is_terminal() {
        run_interactive(client)
    } else {
        run_script(&client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn socket_forms_and_command_words() {
        for args in [
            &["-s", "/x.sock", "show", "interface"][..],
            &["-s/x.sock", "show", "interface"],
            &["--socket", "/x.sock", "show", "interface"],
            &["--socket=/x.sock", "show", "interface"],
        ] {
            let parsed = parse(args).unwrap();
            assert_eq!(parsed.socket, Some(PathBuf::from("/x.sock")), "{args:?}");
            assert_eq!(parsed.command, ["show", "interface"], "{args:?}");
        }
        assert_eq!(parse(&[]).unwrap(), Args::default());
    }

    #[test]
    fn options_stop_at_the_command() {
        let parsed = parse(&["ping", "10.0.0.1", "-s", "100"]).unwrap();
        assert_eq!(parsed.socket, None);
        assert_eq!(parsed.command, ["ping", "10.0.0.1", "-s", "100"]);
        assert_eq!(parse(&["--", "-x"]).unwrap().command, ["-x"]);
        assert!(parse(&["-h"]).unwrap().help);
        assert!(parse(&["--version"]).unwrap().version);
        assert!(parse(&["-s"]).is_err());
        assert!(parse(&["-x"]).is_err());
    }
}
