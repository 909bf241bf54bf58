//! The terminal around a [`Session`]: rustyline line editing with persistent history, tab
//! completion of names, units, keywords and commands, and multi-line entry while braces are open.
//! When stdin is not a terminal, lines are read from it plainly (no prompts, no banner) until EOF.
//!
//! Results go to stdout and reports to stderr, flushed after every entry so that piped output
//! keeps its order. The exit code is 0 whatever the entries did; only a FILE argument that cannot
//! be read fails (exit code 2).

use super::session::{self, Reply, Session, Step};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Context, Editor};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `twin repl [FILE]`.
pub fn run(file: Option<&Path>) -> ExitCode {
    let mut session = Session::new(std::io::stderr().is_terminal());
    if let Some(path) = file {
        if let Err(e) = std::fs::read_to_string(path) {
            eprintln!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
        print_reply(&session.load(path));
    }
    if std::io::stdin().is_terminal() {
        interactive(session)
    } else {
        piped(session, std::io::stdin().lock())
    }
}

/// Prints a reply: reports on stderr, results on stdout, both flushed.
fn print_reply(r: &Reply) {
    if !r.err.is_empty() {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(r.err.as_bytes());
        let _ = e.flush();
    }
    if !r.out.is_empty() {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(r.out.as_bytes());
        let _ = o.flush();
    }
}

/// Reads entries from a non-terminal input until EOF (or `:quit`).
fn piped(mut session: Session, mut input: impl BufRead) -> ExitCode {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: reading input: {e}");
                break;
            }
        }
        let line = String::from_utf8_lossy(&buf);
        match session.feed(&line) {
            Step::More => {}
            Step::Done(r) => print_reply(&r),
            Step::Quit(r) => {
                print_reply(&r);
                return ExitCode::SUCCESS;
            }
        }
    }
    if let Some(r) = session.finish() {
        print_reply(&r);
    }
    ExitCode::SUCCESS
}

/// Where the history is kept: `$XDG_DATA_HOME/twin/history` when that is set, else
/// `~/.twin_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(d).join("twin");
        if std::fs::create_dir_all(&dir).is_ok() {
            return Some(dir.join("history"));
        }
    }
    std::env::home_dir().map(|h| h.join(".twin_history"))
}

/// Completion, multi-line validation and (default) hints and highlighting.
struct Helper {
    /// Words the session knows (refreshed after every entry).
    words: Vec<String>,
    /// File names for `:load`.
    files: FilenameCompleter,
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let t = line.trim_start();
        if t.starts_with(":load ") || t.starts_with(":l ") {
            return self.files.complete(line, pos, ctx);
        }
        let (start, words) = session::complete(&self.words, line, pos);
        Ok((
            start,
            words
                .into_iter()
                .map(|w| Pair {
                    display: w.clone(),
                    replacement: w,
                })
                .collect(),
        ))
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl Validator for Helper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if !input.trim_start().starts_with(':')
            && (session::unclosed_brace(input).is_some() || session::ends_with_doc(input))
        {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl rustyline::Helper for Helper {}

/// The interactive loop.
fn interactive(mut session: Session) -> ExitCode {
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List);
    let config = match config.clone().max_history_size(2000) {
        Ok(c) => c,
        Err(_) => config,
    }
    .build();
    let mut editor: Editor<Helper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: no line editing ({e}); reading plain lines");
            return piped(session, std::io::stdin().lock());
        }
    };
    editor.set_helper(Some(Helper {
        words: session.completions(),
        files: FilenameCompleter::new(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("twin repl — `:help` for commands, `:quit` or Ctrl-D to leave");
    loop {
        let prompt = if session.is_pending() {
            "... ".to_string()
        } else {
            match session.current_model() {
                Some(m) => format!("twin [{m}]> "),
                None => "twin> ".to_string(),
            }
        };
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match session.feed(&line) {
                    Step::More => {}
                    Step::Done(r) => print_reply(&r),
                    Step::Quit(r) => {
                        print_reply(&r);
                        break;
                    }
                }
                if let Some(h) = editor.helper_mut() {
                    h.words = session.completions();
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(r) = session.finish() {
        print_reply(&r);
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ExitCode::SUCCESS
}
