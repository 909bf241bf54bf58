//! The REPL session: its state and the interpreter of what is typed, with no terminal I/O.
//!
//! Input: text, one complete entry at a time ([`Session::feed`] buffers lines while braces are
//! open). Output: a [`Reply`] — results for stdout and ariadne reports for stderr.
//!
//! The session's source is the loaded file followed by the declarations typed at the prompt
//! (`unit IU`, `fn …`, `model … { … }`, `trial … { … }`, `use …`). Every new declaration is
//! checked together with everything before it; if that fails the reports are shown and the
//! session keeps its previous, good state. Reports about typed declarations point into `<repl>`
//! (the typed text alone, with its own line numbers); reports about the file name the file.
//! Expressions are checked with the checker's constant scope (plus the current model's
//! covariates, genotypes and params, at their typical or `:set` values) and evaluated exactly as
//! the compiler folds constants. Nothing typed panics: every problem becomes a report.

use super::display;
use crate::check::{self, Checker, Global, Scope, Visibility, consts, hir};
use crate::diagnostic::{self, Diagnostic, codes, did_you_mean};
use crate::driver::{self, Compilation};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::{ast, lexer, parser, token::Token};
use crate::units::Unit;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one entry printed: results (for stdout) and reports (for stderr).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Results.
    pub out: String,
    /// Diagnostics and error messages.
    pub err: String,
}

impl Reply {
    fn out(text: impl Into<String>) -> Reply {
        Reply {
            out: text.into(),
            err: String::new(),
        }
    }

    fn err(text: impl Into<String>) -> Reply {
        Reply {
            out: String::new(),
            err: text.into(),
        }
    }

    /// Both parts, reports first (the order of a transcript).
    pub fn text(&self) -> String {
        format!("{}{}", self.err, self.out)
    }
}

/// The result of feeding input to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The entry is incomplete (a `{` is still open); feed more lines.
    More,
    /// The entry was handled.
    Done(Reply),
    /// `:quit`.
    Quit(Reply),
}

/// A covariate or genotype value set with `:set`.
#[derive(Debug, Clone, PartialEq)]
struct Setting {
    /// Covariate or genotype name.
    name: String,
    /// The value as typed (handed to the runner, which converts it again).
    text: String,
    /// The value in the covariate's unit, the level index or the diplotype index.
    value: f64,
}

/// The file the session was loaded from.
#[derive(Debug, Clone)]
struct Loaded {
    path: PathBuf,
    text: String,
}

/// The table of the last `:run`.
#[derive(Debug, Clone, PartialEq)]
pub struct LastRun {
    /// The model that ran.
    pub model: String,
    /// The CSV text as `twin run` writes it.
    pub csv: String,
    /// Column headers (`time [h]`, `conc [mg/L]`, …).
    pub headers: Vec<String>,
    /// Rows of values, time first.
    pub rows: Vec<Vec<f64>>,
    /// Columns of the observables (or of the states, for a model without observables).
    pub shown: Vec<usize>,
    /// Dose times (hours) within the run.
    pub doses: Vec<f64>,
}

impl LastRun {
    /// The value of column `name` (its name without the unit) at time `t`, if `t` is on the grid.
    pub fn value_at(&self, name: &str, t: f64) -> Option<f64> {
        let col = self.headers.iter().position(|h| header_name(h) == name)?;
        let row = self.rows.iter().find(|r| {
            r.first()
                .is_some_and(|x| (x - t).abs() <= 1e-9 * t.abs().max(1.0))
        })?;
        row.get(col).copied()
    }
}

/// `conc` from `conc [mg/L]`.
fn header_name(h: &str) -> &str {
    h.split_once(" [").map_or(h, |(n, _)| n)
}

/// `mg/L` from `conc [mg/L]`.
fn header_unit(h: &str) -> &str {
    h.split_once(" [")
        .map_or("", |(_, u)| u.trim_end_matches(']'))
}

/// The commands, for `:help`, completion and did-you-mean.
pub const COMMANDS: &[(&str, &str)] = &[
    (":load FILE", "load a .twin file (starts a fresh session)"),
    (":reload", "re-read the file, re-check and recompile"),
    (":model [NAME]", "show or switch the current model"),
    (":type EXPR", "the unit and dimension of an expression"),
    (
        ":convert EXPR to UNIT",
        "convert a quantity, e.g. :convert 2.5 mg/L to ng/mL",
    ),
    (
        ":set NAME = VALUE",
        "set a covariate or genotype (:set lists them, :set clear)",
    ),
    (
        ":dose TEXT",
        "add a dose, e.g. :dose 100 mg into depot every 12 h times 4 (:dose clear)",
    ),
    (
        ":run [until T] [every S]",
        "simulate the current model: a table and a sparkline per observable",
    ),
    (
        ":plot NAME",
        "write an SVG of an observable of the last run",
    ),
    (":ir", "the compiled IR of the current model"),
    (":source", "the declarations typed in this session"),
    (":help", "this list"),
    (":quit", "leave (also Ctrl-D)"),
];

/// Keywords and builtin functions, for completion.
const KEYWORDS: &[&str] = &[
    "use",
    "unit",
    "fn",
    "table",
    "gene",
    "model",
    "extends",
    "trial",
    "covariate",
    "genotype",
    "param",
    "vary",
    "correlate",
    "compartment",
    "flow",
    "state",
    "let",
    "observe",
    "pathway",
    "input",
    "molecular_weight",
    "out",
    "match",
    "if",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    "population",
    "ancestry",
    "arm",
    "randomize",
    "dose",
    "into",
    "every",
    "for",
    "times",
    "over",
    "rate",
    "lag",
    "bioavailability",
    "steady",
    "sample",
    "until",
    "endpoint",
    "stratify",
    "find",
    "of",
    "so",
    "within",
    "phenotype",
    "activity",
    "exp",
    "log",
    "log10",
    "sqrt",
    "abs",
    "floor",
    "ceil",
    "min",
    "max",
    "pow",
    "hill",
    "logit",
    "expit",
    "lognormal",
    "normal",
    "proportional",
    "additive",
];

/// Which names an expression typed at the prompt may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// Units and functions only.
    Const,
    /// Also the current model's covariates, genotypes and params (values known before a run).
    Patient,
    /// Every name of the current model, states and observables included (for `:type`).
    Model,
}

/// The name of the session source when no file is loaded.
const SESSION: &str = "<session>";

/// The display name of the declarations typed at the prompt.
const REPL: &str = "<repl>";

/// The display name of the entry being handled.
const INPUT: &str = "<input>";

/// One REPL session.
pub struct Session {
    /// Colour in reports.
    color: bool,
    /// Where `:plot` writes.
    out_dir: PathBuf,
    /// The file whose text starts the session source.
    file: Option<Loaded>,
    /// What `:reload` reads (the last `:load`, even if that failed).
    reload_path: Option<PathBuf>,
    /// Declarations typed at the prompt, in order.
    entries: Vec<String>,
    /// The last good compilation of the session source.
    comp: Compilation,
    /// The session source: the file, then the entries.
    text: String,
    /// Where the entries start in `text`.
    split: usize,
    /// The current model.
    model: Option<String>,
    /// `:set` values of the current model.
    sets: Vec<Setting>,
    /// `:dose` statements.
    doses: Vec<String>,
    /// The last `:run`.
    last_run: Option<LastRun>,
    /// Lines of an entry whose braces are still open.
    pending: String,
    /// Every stdlib function as (name, module), for imports and "add `use`" hints.
    stdlib_fns: Vec<(String, String)>,
}

impl Default for Session {
    fn default() -> Session {
        Session::new(false)
    }
}

/// The session source: the file text, then each entry on its own lines. Returns the text and
/// where the entries start.
fn compose(file: Option<&Loaded>, entries: &[String]) -> (String, usize) {
    let mut text = file.map(|f| f.text.clone()).unwrap_or_default();
    if !entries.is_empty() && !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let split = text.len();
    for e in entries {
        text.push_str(e);
        if !e.ends_with('\n') {
            text.push('\n');
        }
    }
    (text, split)
}

/// Byte offset of the first `{` that is never closed, if any (comments and strings are skipped).
pub fn unclosed_brace(text: &str) -> Option<usize> {
    let mut open = Vec::new();
    for (l, tok, _) in lexer::lex(text).flatten() {
        match tok {
            Token::LBrace => open.push(l),
            Token::RBrace => {
                open.pop();
            }
            _ => {}
        }
    }
    open.first().copied()
}

/// Whether the last token of `text` is a doc comment (which documents the item that follows).
pub fn ends_with_doc(text: &str) -> bool {
    matches!(
        lexer::lex(text).flatten().last(),
        Some((_, Token::Doc(_), _))
    )
}

/// Completes the word before `pos` in `line` from `words`: the start of the word and the
/// candidates. Commands complete only at the start of a line.
pub fn complete(words: &[String], line: &str, pos: usize) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | 'µ' | 'μ')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    if word.is_empty() {
        return (pos, Vec::new());
    }
    let command = word.starts_with(':');
    if command && !before[..start].trim().is_empty() {
        return (pos, Vec::new());
    }
    let mut out: Vec<String> = words
        .iter()
        .filter(|w| w.starts_with(':') == command && w.starts_with(word) && w.as_str() != word)
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    (start, out)
}

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// The name and kind of a named item (for replacing a declaration typed again).
fn item_key(item: &ast::Item) -> Option<(&'static str, String)> {
    match &item.kind {
        ast::ItemKind::Unit(u) => Some(("unit", u.name.text.clone())),
        ast::ItemKind::Fn(f) => Some(("fn", f.name.text.clone())),
        ast::ItemKind::Table(t) => Some(("table", t.name.text.clone())),
        ast::ItemKind::Gene(g) => Some(("gene", g.name.text.clone())),
        ast::ItemKind::Model(m) => Some(("model", m.name.text.clone())),
        ast::ItemKind::Trial(t) => Some(("trial", t.name.text.clone())),
        ast::ItemKind::Use(_) | ast::ItemKind::Error => None,
    }
}

/// The items of one entry parsed on its own.
fn entry_items(text: &str) -> Vec<ast::Item> {
    parser::parse_file_recovering(FileId(0), text)
        .0
        .map(|f| f.items)
        .unwrap_or_default()
}

/// The single named item of an entry, if it has exactly one.
fn single_key(text: &str) -> Option<(&'static str, String)> {
    match entry_items(text).as_slice() {
        [one] => item_key(one),
        _ => None,
    }
}

/// Values of a model's inputs for evaluating expressions: typical values with `:set` overrides,
/// params computed from them.
struct PatientValues<'a> {
    model: &'a hir::Model,
    fns: &'a [hir::Function],
    covariates: Vec<f64>,
    genotypes: Vec<f64>,
    /// Params set with `:set` (by param index), which replace their definitions.
    params: Vec<Option<f64>>,
    depth: usize,
}

impl consts::Leaves for PatientValues<'_> {
    fn sym(&mut self, s: hir::Sym, span: Span) -> Result<f64, consts::EvalError> {
        let missing = |what: &str| consts::EvalError::new(what, span);
        match s {
            hir::Sym::Covariate(i) => self
                .covariates
                .get(i)
                .copied()
                .ok_or_else(|| missing("unknown covariate")),
            hir::Sym::Genotype(i) => self
                .genotypes
                .get(i)
                .copied()
                .ok_or_else(|| missing("unknown genotype")),
            hir::Sym::Param(i) => {
                if let Some(Some(v)) = self.params.get(i) {
                    return Ok(*v);
                }
                if self.depth > check::MAX_DEPTH {
                    return Err(missing("params nest too deeply"));
                }
                let (model, fns) = (self.model, self.fns);
                let e = &model
                    .params
                    .get(i)
                    .ok_or_else(|| missing("unknown param"))?
                    .value;
                self.depth += 1;
                let v = consts::eval_in(e, fns, self);
                self.depth -= 1;
                v
            }
            _ => Err(missing(
                "this changes over time; it has a value only in a simulation",
            )),
        }
    }
}

/// Splits `text` at the last `to` keyword token: (before, start of `to`, after).
fn split_to(text: &str) -> Option<(usize, usize)> {
    let mut at = None;
    for (l, tok, r) in lexer::lex(text).flatten() {
        if tok == Token::To {
            at = Some((l, r));
        }
    }
    at
}

impl Session {
    /// An empty session (the unit prelude only). `color` turns on colour in reports.
    pub fn new(color: bool) -> Session {
        let mut stdlib_fns = Vec::new();
        for (module, src) in crate::stdlib::modules() {
            if *module == "units" {
                continue;
            }
            for item in entry_items(src) {
                match &item.kind {
                    ast::ItemKind::Fn(f) => {
                        stdlib_fns.push((f.name.text.clone(), module.to_string()))
                    }
                    ast::ItemKind::Table(t) => {
                        stdlib_fns.push((t.name.text.clone(), module.to_string()))
                    }
                    _ => {}
                }
            }
        }
        let (text, split) = compose(None, &[]);
        Session {
            color,
            out_dir: std::env::temp_dir(),
            file: None,
            reload_path: None,
            entries: Vec::new(),
            comp: driver::compile(SESSION, &text),
            text,
            split,
            model: None,
            sets: Vec::new(),
            doses: Vec::new(),
            last_run: None,
            pending: String::new(),
            stdlib_fns,
        }
    }

    /// Sets the directory `:plot` writes into (the system's temporary directory by default).
    pub fn set_out_dir(&mut self, dir: impl Into<PathBuf>) {
        self.out_dir = dir.into();
    }

    /// The current model, if any.
    pub fn current_model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The table of the last `:run`.
    pub fn last_run(&self) -> Option<&LastRun> {
        self.last_run.as_ref()
    }

    /// Whether an entry is waiting for more lines.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The source text of the session (the file, then the typed declarations).
    pub fn source(&self) -> &str {
        &self.text
    }

    fn source_name(&self) -> String {
        match &self.file {
            Some(f) => f.path.display().to_string(),
            None => SESSION.to_string(),
        }
    }

    /// Feeds one line (or several, separated by newlines). Lines are buffered while a `{` is open
    /// (commands, starting with `:`, never continue).
    pub fn feed(&mut self, input: &str) -> Step {
        // A command cannot be part of a declaration: the open block is reported, then the command
        // runs (so a script with a missing `}` does not swallow everything after it).
        if !self.pending.is_empty() && input.trim_start().starts_with(':') {
            let mut reply = self
                .close("a command came before the closing `}`; the block was dropped")
                .unwrap_or_default();
            return match self.feed(input) {
                Step::Done(r) => {
                    reply.err.push_str(&r.err);
                    reply.out.push_str(&r.out);
                    Step::Done(reply)
                }
                Step::Quit(r) => {
                    reply.err.push_str(&r.err);
                    reply.out.push_str(&r.out);
                    Step::Quit(reply)
                }
                Step::More => Step::Done(reply),
            };
        }
        if !self.pending.is_empty() {
            self.pending.push('\n');
        }
        self.pending.push_str(input.trim_end_matches(['\n', '\r']));
        let command = self.pending.trim_start().starts_with(':');
        if !command && (unclosed_brace(&self.pending).is_some() || ends_with_doc(&self.pending)) {
            return Step::More;
        }
        let text = std::mem::take(&mut self.pending);
        self.process(&text)
    }

    /// Ends the input: an entry still waiting for its closing `}` is reported.
    pub fn finish(&mut self) -> Option<Reply> {
        self.close("the input ended first; close the block with `}`")
    }

    /// Handles the buffered entry now, reporting an open `{` with `help`.
    fn close(&mut self, help: &str) -> Option<Reply> {
        let text = std::mem::take(&mut self.pending);
        if text.trim().is_empty() {
            return None;
        }
        match unclosed_brace(&text) {
            Some(at) => {
                let mut sources = SourceMap::new();
                let input = sources.add(INPUT, text.as_str());
                let d =
                    Diagnostic::error(codes::E0002, "unclosed `{`", Span::new(input, at, at + 1))
                        .with_label_message("this `{` is never closed")
                        .with_help(help);
                Some(Reply::err(diagnostic::render(&sources, &[d], self.color)))
            }
            None => match self.process(&text) {
                Step::Done(r) | Step::Quit(r) => Some(r),
                Step::More => None,
            },
        }
    }

    /// Handles one complete entry.
    fn process(&mut self, text: &str) -> Step {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Step::Done(Reply::default());
        }
        if trimmed.starts_with(':') {
            return self.command(text);
        }
        let first = lexer::lex(text).next();
        let reply = match first {
            Some(Ok((
                _,
                Token::Doc(_)
                | Token::Use
                | Token::Unit
                | Token::Fn
                | Token::Table
                | Token::Gene
                | Token::Model
                | Token::Trial,
                _,
            ))) => self.declare(text),
            Some(Ok((
                _,
                Token::Covariate
                | Token::Genotype
                | Token::Param
                | Token::Vary
                | Token::Correlate
                | Token::Compartment
                | Token::Flow
                | Token::State
                | Token::Ddt
                | Token::Let
                | Token::Observe
                | Token::Pathway
                | Token::Input
                | Token::MolecularWeight,
                _,
            ))) => Reply::err(
                "error: model statements go inside a model\n  help: type the whole `model NAME { … }` (again, to replace it), or edit the file and `:reload`\n",
            ),
            _ => self.evaluate(text),
        };
        Step::Done(reply)
    }

    // ------------------------------------------------------------------ rendering

    /// Renders diagnostics whose spans may lie in the session source (file `file` of `sources`,
    /// whose entries start at `split`): spans in the typed declarations are shown in `<repl>`.
    fn render_in(
        &self,
        sources: &SourceMap,
        file: FileId,
        split: usize,
        diags: &[Diagnostic],
    ) -> String {
        let text = &sources.get(file).text;
        let inside = |s: Span| s.file == file && s.start as usize >= split;
        let touches = diags
            .iter()
            .any(|d| inside(d.primary.span) || d.secondary.iter().any(|l| inside(l.span)));
        if !touches || split > text.len() {
            return diagnostic::render(sources, diags, self.color);
        }
        let mut map = sources.clone();
        let repl = map.add(REPL, text.get(split..).unwrap_or(""));
        let fix = |s: Span| {
            if inside(s) {
                Span::new(
                    repl,
                    s.start as usize - split,
                    (s.end as usize).max(split) - split,
                )
            } else {
                s
            }
        };
        let moved: Vec<Diagnostic> = diags
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.primary.span = fix(d.primary.span);
                for l in &mut d.secondary {
                    l.span = fix(l.span);
                }
                d
            })
            .collect();
        diagnostic::render(&map, &moved, self.color)
    }

    /// Renders diagnostics of the current compilation plus `sources` additions.
    fn render(&self, sources: &SourceMap, diags: &[Diagnostic]) -> String {
        self.render_in(sources, self.comp.file, self.split, diags)
    }

    /// The current compilation's sources plus one file holding the entry being handled.
    fn input_sources(&self, text: &str) -> (SourceMap, FileId) {
        let mut sources = self.comp.sources.clone();
        let id = sources.add(INPUT, text);
        (sources, id)
    }

    // ------------------------------------------------------------------ expressions

    fn model_index(&self) -> Option<usize> {
        let name = self.model.as_deref()?;
        self.comp.program.models.iter().position(|m| m.name == name)
    }

    /// Functions visible at the prompt (those declared in the session and those imported with
    /// `use`), and every stdlib function with its module (for "add `use`" hints).
    fn visibility(&self) -> (Visibility, HashMap<String, (Global, String)>) {
        let fns = &self.comp.program.fns;
        let mut names = HashMap::new();
        for item in entry_items(&self.text) {
            match &item.kind {
                ast::ItemKind::Use(u) => {
                    let module = &u.module.text;
                    let wanted = |n: &str| match &u.names {
                        ast::UseNames::All(_) => true,
                        ast::UseNames::Some(list) => list.iter().any(|x| x.text == n),
                    };
                    for (n, m) in &self.stdlib_fns {
                        if m == module
                            && wanted(n)
                            && let Some(i) = fns.iter().position(|f| f.name == *n)
                        {
                            names.insert(n.clone(), Global::Fn(i));
                        }
                    }
                }
                ast::ItemKind::Fn(ast::FnDecl { name, .. })
                | ast::ItemKind::Table(ast::TableDecl { name, .. }) => {
                    if let Some(i) = fns.iter().rposition(|x| x.name == name.text) {
                        names.insert(name.text.clone(), Global::Fn(i));
                    }
                }
                _ => {}
            }
        }
        let mut all = HashMap::new();
        for (n, m) in &self.stdlib_fns {
            if !names.contains_key(n) {
                all.insert(n.clone(), (Global::Fn(0), m.clone()));
            }
        }
        (Visibility { names }, all)
    }

    /// A checker that sees the session's units, functions and (if `model`) the current model.
    fn checker(&self, names: Names) -> Checker {
        let mut ck = Checker::new(self.comp.units.clone());
        ck.program = self.comp.program.clone();
        let (vis, all) = self.visibility();
        ck.visible = vis;
        ck.all_globals = all;
        ck.scope = Scope::Const;
        if names != Names::Const
            && let Some(name) = &self.model
            && let Some((_, scope)) = self.comp.scopes.iter().find(|(n, _)| n == name)
        {
            ck.scope = if names == Names::Model {
                Scope::Model {
                    prefix: String::new(),
                }
            } else {
                Scope::Patient
            };
            ck.model = Some(scope.clone());
        }
        ck
    }

    /// Parses and checks the expression at `range` of `full` (the rest is blanked so that spans
    /// point into the whole line). Errors come back rendered.
    fn typed(
        &self,
        full: &str,
        range: std::ops::Range<usize>,
        names: Names,
    ) -> Result<(hir::Expr, Checker), String> {
        let (sources, input) = self.input_sources(full);
        let padded = format!(
            "{}{}",
            " ".repeat(range.start),
            full.get(range.clone()).unwrap_or("")
        );
        let e = match parser::parse_expr(input, &padded) {
            Ok(e) => e,
            Err(d) => return Err(self.render(&sources, &[d])),
        };
        let mut ck = self.checker(names);
        let h = ck.expr(&e);
        let h = if h.ty == hir::Type::Str {
            ck.report(
                Diagnostic::error(codes::E0019, "a string is not a value here", h.span).with_help(
                    "diplotypes are written as strings only where a genotype is expected",
                ),
            );
            check::error_expr(h.span)
        } else {
            h
        };
        if ck.diags.iter().any(Diagnostic::is_error) {
            let diags: Vec<Diagnostic> = std::mem::take(&mut ck.diags)
                .into_iter()
                .map(|mut d| {
                    if d.help.as_deref().is_some_and(|h| h.starts_with("doses and population")) {
                        d.help = Some("at the prompt, names are units, functions and the current model's covariates, genotypes and params".into());
                    }
                    d
                })
                .collect();
            return Err(self.render(&sources, &diags));
        }
        Ok((h, ck))
    }

    /// The value of a checked expression (covariates and genotypes at their `:set` or typical
    /// values).
    fn value_of(&self, h: &hir::Expr) -> Result<f64, consts::EvalError> {
        let fns = &self.comp.program.fns;
        match self.model_index() {
            Some(mi) => {
                let m = &self.comp.program.models[mi];
                let mut leaves = PatientValues {
                    model: m,
                    fns,
                    covariates: m.covariates.iter().map(|c| c.default).collect(),
                    genotypes: m.genotypes.iter().map(|g| g.default as f64).collect(),
                    params: vec![None; m.params.len()],
                    depth: 0,
                };
                for s in &self.sets {
                    if let Some(i) = m.covariates.iter().position(|c| c.name == s.name) {
                        leaves.covariates[i] = s.value;
                    } else if let Some(i) = m.genotypes.iter().position(|g| g.name == s.name) {
                        leaves.genotypes[i] = s.value;
                    } else if let Some(i) = m.params.iter().position(|p| p.name == s.name) {
                        leaves.params[i] = Some(s.value);
                    }
                }
                consts::eval_in(h, fns, &mut leaves)
            }
            None => consts::eval_in(h, fns, &mut NoValues),
        }
    }

    /// A value of type `ty` as text.
    fn show(&self, ty: hir::Type, v: f64) -> String {
        let p = &self.comp.program;
        let index = |v: f64| {
            if v >= 0.0 && v.fract() == 0.0 {
                Some(v as usize)
            } else {
                None
            }
        };
        let text = match ty {
            hir::Type::Num(u) => Some(display::quantity(&self.comp.units, v, u)),
            hir::Type::Bool => Some(if v != 0.0 { "true" } else { "false" }.to_string()),
            hir::Type::Genotype(g) => p
                .genes
                .get(g)
                .and_then(|g| g.diplotype_names.get(index(v)?).cloned()),
            hir::Type::Phenotype(g) => p.genes.get(g).and_then(|g| {
                let ph = (*g.phenotype_of.get(index(v)?)?)?;
                g.phenotypes.get(ph).cloned()
            }),
            hir::Type::Category(c) => self
                .model_index()
                .and_then(|mi| p.models[mi].covariates.get(c))
                .and_then(|c| c.levels.get(index(v)?).cloned()),
            hir::Type::Str | hir::Type::Error => None,
        };
        text.unwrap_or_else(|| display::number(v, display::DIGITS))
    }

    /// An expression typed at the prompt: its value.
    fn evaluate(&self, text: &str) -> Reply {
        let (h, _) = match self.typed(text, 0..text.len(), Names::Patient) {
            Ok(x) => x,
            Err(e) => return Reply::err(e),
        };
        match self.value_of(&h) {
            Ok(v) => Reply::out(format!("{}\n", self.show(h.ty, v))),
            Err(e) => Reply::err(self.eval_error(text, e)),
        }
    }

    /// Renders a failed evaluation of an entry `text`.
    fn eval_error(&self, text: &str, e: consts::EvalError) -> String {
        let (sources, input) = self.input_sources(text);
        let span = if e.span.file == input || e.span == Span::default() {
            Span::new(input, e.span.start as usize, e.span.end as usize)
        } else {
            e.span
        };
        let d = Diagnostic::error(codes::E0019, e.message, span)
            .with_help("use `:type` for its unit, or `:run` to simulate the model");
        self.render(&sources, &[d])
    }

    /// `:type EXPR`.
    fn type_of(&self, full: &str, range: std::ops::Range<usize>) -> Reply {
        let (h, ck) = match self.typed(full, range, Names::Model) {
            Ok(x) => x,
            Err(e) => return Reply::err(e),
        };
        let line = match h.ty {
            hir::Type::Num(u) => display::type_line(&self.comp.units, u),
            other => ck.describe_type(other),
        };
        Reply::out(format!("{line}\n"))
    }

    /// `:convert EXPR to UNIT`.
    fn convert(&self, full: &str, range: std::ops::Range<usize>) -> Reply {
        let arg = full.get(range.clone()).unwrap_or("");
        let Some((to_start, to_end)) = split_to(arg) else {
            return Reply::err(
                "error: expected `:convert EXPR to UNIT`\n  help: e.g. :convert 2.5 mg/L to ng/mL\n",
            );
        };
        let (value_range, unit_range) = (
            range.start..range.start + to_start,
            range.start + to_end..range.end,
        );
        let unit_text = full
            .get(unit_range.clone())
            .unwrap_or("")
            .trim()
            .to_string();
        if unit_text.is_empty() {
            return Reply::err(
                "error: expected a unit after `to`\n  help: e.g. :convert 2.5 mg/L to ng/mL\n",
            );
        }
        let (h, mut ck) = match self.typed(full, value_range, Names::Patient) {
            Ok(x) => x,
            Err(e) => return Reply::err(e),
        };
        // The target: a unit expression (`ng/mL`, `1/h`), or `1 UNIT` for units that only follow a
        // number (`%`).
        let target = match self.typed(full, unit_range.clone(), Names::Const) {
            Ok((t, _)) => t,
            Err(first) => {
                let padded = format!(
                    "{}1 {}",
                    " ".repeat(unit_range.start.saturating_sub(2)),
                    unit_text
                );
                match self.typed(&padded, 0..padded.len(), Names::Const) {
                    Ok((t, _)) => t,
                    Err(_) => return Reply::err(first),
                }
            }
        };
        let (Some(tv), hir::Type::Num(tu)) = (consts::eval(&target), target.ty) else {
            return Reply::err(format!("error: `{unit_text}` is not a unit\n"));
        };
        let converted = ck.coerce(h, tu, codes::E0008, "the value");
        if ck.diags.iter().any(Diagnostic::is_error) {
            let (sources, _) = self.input_sources(full);
            return Reply::err(self.render(&sources, &ck.diags));
        }
        match self.value_of(&converted) {
            Ok(v) => Reply::out(format!(
                "{} {unit_text}\n",
                display::number(v / tv, display::DIGITS)
            )),
            Err(e) => Reply::err(self.eval_error(full, e)),
        }
    }

    // ------------------------------------------------------------------ declarations

    /// A declaration typed at the prompt: checked with everything before it, kept if clean.
    fn declare(&mut self, text: &str) -> Reply {
        let entry = text.trim_end().to_string();
        let mut entries = self.entries.clone();
        let replaced = single_key(&entry).and_then(|key| {
            entries
                .iter()
                .position(|e| single_key(e).as_ref() == Some(&key))
        });
        let at = match replaced {
            Some(i) => {
                entries[i] = entry.clone();
                i
            }
            None => {
                entries.push(entry.clone());
                entries.len() - 1
            }
        };
        let (text, split) = compose(self.file.as_ref(), &entries);
        let comp = driver::compile(&self.source_name(), &text);
        if comp.has_errors() {
            let errors: Vec<Diagnostic> = comp
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            return Reply::err(self.render_in(&comp.sources, comp.file, split, &errors));
        }
        // Where the new entry lies in the session source, for its own warnings.
        let (before, _) = compose(self.file.as_ref(), &entries[..at]);
        let start = if at == 0 { split } else { before.len() };
        let end = start + entry.len();
        let warnings: Vec<Diagnostic> = comp
            .diagnostics
            .iter()
            .filter(|d| {
                d.primary.span.file == comp.file
                    && (start..=end).contains(&(d.primary.span.start as usize))
            })
            .cloned()
            .collect();
        let err = self.render_in(&comp.sources, comp.file, split, &warnings);
        self.entries = entries;
        self.comp = comp;
        self.text = text;
        self.split = split;
        let mut out = String::new();
        if replaced.is_some() {
            out.push_str("(replaces the earlier declaration)\n");
        }
        for item in entry_items(&entry) {
            out.push_str(&self.describe_item(&item));
        }
        self.retarget_model();
        Reply { out, err }
    }

    /// After a recompilation: keep the current model if it still exists, else take the last model
    /// declared at the prompt or the first of the file; drop settings that no longer apply.
    fn retarget_model(&mut self) {
        let models = &self.comp.program.models;
        if !self
            .model
            .as_ref()
            .is_some_and(|m| models.iter().any(|x| x.name == *m))
        {
            self.model = models.first().map(|m| m.name.clone());
            self.sets.clear();
            self.doses.clear();
        }
        if let Some(mi) = self.model_index() {
            let m = &self.comp.program.models[mi];
            self.sets.retain(|s| {
                m.covariates.iter().any(|c| c.name == s.name)
                    || m.genotypes.iter().any(|g| g.name == s.name)
                    || m.params.iter().any(|p| p.name == s.name)
            });
        }
    }

    /// One line (or block) describing a declared item.
    fn describe_item(&mut self, item: &ast::Item) -> String {
        let units = &self.comp.units;
        let p = &self.comp.program;
        match &item.kind {
            ast::ItemKind::Use(u) => {
                let names = match &u.names {
                    ast::UseNames::All(_) => "*".to_string(),
                    ast::UseNames::Some(list) => list
                        .iter()
                        .map(|n| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                format!("use {}.{names}\n", u.module.text)
            }
            ast::ItemKind::Unit(u) => {
                let name = &u.name.text;
                match (units.get(name), &u.def) {
                    (_, None) => format!("unit {name} — a new base dimension\n"),
                    (Some(unit), Some(_)) => {
                        let dim = if unit.is_dimensionless() {
                            "dimensionless".to_string()
                        } else {
                            display::dim_words(units, unit.dim).unwrap_or_default()
                        };
                        let same = units
                            .names()
                            .filter(|n| *n != name.as_str() && units.get(n) == Some(unit))
                            .min_by_key(|n| n.chars().count());
                        match same {
                            Some(s) => format!("unit {name} — {dim}, the same as {s}\n"),
                            None => format!("unit {name} — {dim}\n"),
                        }
                    }
                    (None, Some(_)) => format!("unit {name}\n"),
                }
            }
            ast::ItemKind::Fn(f) => match p.fns.iter().rev().find(|x| x.name == f.name.text) {
                Some(func) => {
                    let params: Vec<String> = func
                        .params
                        .iter()
                        .map(|(n, u)| format!("{n}: {}", units.format_unit(*u)))
                        .collect();
                    format!(
                        "fn {}({}) -> {}\n",
                        func.name,
                        params.join(", "),
                        units.format_unit(func.ret)
                    )
                }
                None => format!("fn {}\n", f.name.text),
            },
            ast::ItemKind::Table(t) => match p.fns.iter().rev().find(|x| x.name == t.name.text) {
                Some(func) => format!(
                    "table {}({}: {}) -> {} — {} rows, linear between rows, constant beyond\n",
                    func.name,
                    t.param.name.text,
                    func.params
                        .first()
                        .map(|(_, u)| units.format_unit(*u))
                        .unwrap_or_default(),
                    units.format_unit(func.ret),
                    t.rows.len()
                ),
                None => format!("table {}\n", t.name.text),
            },
            ast::ItemKind::Gene(g) => match p.genes.iter().rev().find(|x| x.name == g.name.text) {
                Some(gene) => format!(
                    "gene {} — {}, {}\n",
                    gene.name,
                    count(gene.alleles.len(), "allele"),
                    count(gene.diplotypes.len(), "diplotype")
                ),
                None => format!("gene {}\n", g.name.text),
            },
            ast::ItemKind::Model(m) => {
                let name = m.name.text.clone();
                if self.model.as_deref() != Some(name.as_str()) {
                    self.sets.clear();
                    self.doses.clear();
                }
                self.model = Some(name.clone());
                match self.comp.program.models.iter().position(|x| x.name == name) {
                    Some(mi) => self.model_summary(mi),
                    None => format!("model {name}\n"),
                }
            }
            ast::ItemKind::Trial(t) => {
                match p.trials.iter().rev().find(|x| x.name == t.name.text) {
                    Some(trial) => {
                        let arms: Vec<&str> = trial.arms.iter().map(|a| a.name.as_str()).collect();
                        format!(
                            "trial {} — {}: {}\n",
                            trial.name,
                            count(arms.len(), "arm"),
                            arms.join(", ")
                        )
                    }
                    None => format!("trial {}\n", t.name.text),
                }
            }
            ast::ItemKind::Error => String::new(),
        }
    }

    /// The names of a model, grouped, with units.
    fn model_summary(&self, mi: usize) -> String {
        let m = &self.comp.program.models[mi];
        let units = &self.comp.units;
        let current = if self.model.as_deref() == Some(m.name.as_str()) {
            " (current)"
        } else {
            ""
        };
        let mut out = format!("model {}{current}\n", m.name);
        let list = |names: Vec<String>| -> String {
            const MAX: usize = 12;
            let n = names.len();
            let mut shown: Vec<String> = names.into_iter().take(MAX).collect();
            if n > MAX {
                shown.push(format!("… ({} more)", n - MAX));
            }
            shown.join(", ")
        };
        let with_unit = |name: &str, u: Unit| {
            if u == Unit::ONE {
                name.to_string()
            } else {
                format!("{name} [{}]", units.format_unit(u))
            }
        };
        let mut row = |label: &str, names: Vec<String>| {
            if !names.is_empty() {
                let _ = writeln!(out, "  {label:<12} {}", list(names));
            }
        };
        row(
            "covariates",
            m.covariates
                .iter()
                .map(|c| match c.unit {
                    Some(u) => with_unit(&c.name, u),
                    None => c.name.clone(),
                })
                .collect(),
        );
        row(
            "genotypes",
            m.genotypes.iter().map(|g| g.name.clone()).collect(),
        );
        row(
            "params",
            m.params
                .iter()
                .map(|x| with_unit(&x.name, x.unit))
                .collect(),
        );
        row(
            "states",
            m.states
                .iter()
                .map(|s| with_unit(&s.name, s.unit))
                .collect(),
        );
        row(
            "observables",
            m.observables
                .iter()
                .map(|o| match o.value.ty {
                    hir::Type::Num(u) => with_unit(&o.name, u),
                    _ => o.name.clone(),
                })
                .collect(),
        );
        out
    }

    // ------------------------------------------------------------------ commands

    fn command(&mut self, text: &str) -> Step {
        let full = text.trim_end();
        let lead = full.len() - full.trim_start().len();
        let body = &full[lead..];
        let name_len = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_len];
        let rest_start = lead + name_len;
        let rest = full[rest_start..].trim();
        // The argument's byte range in `full` (leading and trailing blanks skipped).
        let arg = {
            let s = rest_start + (full[rest_start..].len() - full[rest_start..].trim_start().len());
            s..s + rest.len()
        };
        let reply = match name {
            ":quit" | ":q" | ":exit" => return Step::Quit(Reply::default()),
            ":help" | ":h" | ":?" => Reply::out(help()),
            ":load" | ":l" => {
                if rest.is_empty() {
                    Reply::err(
                        "error: `:load` needs a file\n  help: e.g. :load examples/one_compartment_oral.twin\n",
                    )
                } else {
                    self.load(Path::new(rest))
                }
            }
            ":reload" | ":r" => self.reload(),
            ":model" | ":m" => self.model_cmd(rest),
            ":type" | ":t" => {
                if rest.is_empty() {
                    Reply::err("error: `:type` needs an expression\n  help: e.g. :type 10 L/h\n")
                } else {
                    self.type_of(full, arg)
                }
            }
            ":convert" | ":c" => self.convert(full, arg),
            ":set" | ":s" => self.set(full, arg),
            ":dose" | ":d" => self.dose(rest),
            ":run" => self.run(rest),
            ":plot" | ":p" => self.plot(rest),
            ":ir" => self.ir(),
            ":source" => {
                if self.entries.is_empty() {
                    Reply::out("no declarations typed in this session\n")
                } else {
                    Reply::out(self.text.get(self.split..).unwrap_or("").to_string())
                }
            }
            _ => {
                let names: Vec<&str> = COMMANDS
                    .iter()
                    .map(|(c, _)| c.split_whitespace().next().unwrap_or(c))
                    .collect();
                let mut msg = format!("error: unknown command `{name}`\n");
                if let Some(s) = did_you_mean(name, names.iter().copied()) {
                    let _ = writeln!(msg, "  help: did you mean `{s}`?");
                }
                let _ = writeln!(msg, "  help: the commands are {}", names.join(" "));
                Reply::err(msg)
            }
        };
        Step::Done(reply)
    }

    /// `:load FILE`: a fresh session from the file. On errors the session keeps its state, and
    /// `:reload` retries the file.
    pub fn load(&mut self, path: &Path) -> Reply {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return Reply::err(format!("error: cannot read {}: {e}\n", path.display())),
        };
        self.reload_path = Some(path.to_path_buf());
        let name = path.display().to_string();
        let comp = driver::compile(&name, &text);
        let report = diagnostic::render(&comp.sources, &comp.diagnostics, self.color);
        if comp.has_errors() {
            return Reply::err(format!(
                "{report}{name} was not loaded; the session keeps its previous state (fix the file and `:reload`)\n"
            ));
        }
        self.split = text.len();
        self.file = Some(Loaded {
            path: path.to_path_buf(),
            text: text.clone(),
        });
        self.text = text;
        self.entries.clear();
        self.comp = comp;
        self.model = self.comp.program.models.first().map(|m| m.name.clone());
        self.sets.clear();
        self.doses.clear();
        self.last_run = None;
        let mut out = format!("loaded {name}\n");
        if let Some(mi) = self.model_index() {
            out.push_str(&self.model_summary(mi));
        }
        let others: Vec<&str> = self
            .comp
            .program
            .models
            .iter()
            .skip(1)
            .map(|m| m.name.as_str())
            .collect();
        if !others.is_empty() {
            let _ = writeln!(
                out,
                "other models: {} (switch with `:model NAME`)",
                others.join(", ")
            );
        }
        Reply { out, err: report }
    }

    /// `:reload`: re-read the file, re-check the session and compile the current model to native
    /// code, with the time taken.
    fn reload(&mut self) -> Reply {
        let t0 = Instant::now();
        let file = match &self.reload_path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => Some(Loaded {
                    path: p.clone(),
                    text,
                }),
                Err(e) => {
                    return Reply::err(format!("error: cannot read {}: {e}\n", p.display()));
                }
            },
            None => None,
        };
        let name = file
            .as_ref()
            .map_or(SESSION.to_string(), |f| f.path.display().to_string());
        let (text, split) = compose(file.as_ref(), &self.entries);
        let comp = driver::compile(&name, &text);
        let checked = t0.elapsed();
        if comp.has_errors() {
            let report = self.render_in(&comp.sources, comp.file, split, &comp.diagnostics);
            return Reply::err(format!(
                "{report}not reloaded; the session keeps its previous state\n"
            ));
        }
        let fresh = self.file.as_ref().map(|f| &f.path) != file.as_ref().map(|f| &f.path);
        self.file = file;
        self.comp = comp;
        self.text = text;
        self.split = split;
        if fresh {
            self.model = None;
        }
        self.retarget_model();
        let t1 = Instant::now();
        let mut err = String::new();
        if let Some(mi) = self.model_index() {
            let options = crate::lower::Options {
                track_elimination: true,
                ..Default::default()
            };
            if let Err(e) =
                crate::driver::prepare(&self.comp.program, mi, Default::default(), options)
            {
                match e {
                    crate::driver::PrepareError::Lower { .. }
                    | crate::driver::PrepareError::Grid { .. }
                    | crate::driver::PrepareError::Evaluator(_) => {
                        let d = e.diagnostic(&self.comp.program);
                        err.push_str(&self.render(&self.comp.sources, &[d]));
                    }
                    crate::driver::PrepareError::Native { .. } => {
                        let _ = writeln!(err, "error: {e}");
                    }
                }
            }
        }
        let native = t1.elapsed();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let what = match &self.file {
            Some(f) => f.path.display().to_string(),
            None => "the session".to_string(),
        };
        let out = format!(
            "reloaded {what} in {:.1} ms (check {:.1} ms, native code {:.1} ms)\n",
            ms(checked + native),
            ms(checked),
            ms(native)
        );
        Reply { out, err }
    }

    /// `:model [NAME]`.
    fn model_cmd(&mut self, rest: &str) -> Reply {
        let models: Vec<String> = self
            .comp
            .program
            .models
            .iter()
            .map(|m| m.name.clone())
            .collect();
        if rest.is_empty() {
            return match self.model_index() {
                Some(mi) => {
                    let mut out = self.model_summary(mi);
                    if models.len() > 1 {
                        let _ = writeln!(out, "models: {}", models.join(", "));
                    }
                    Reply::out(out)
                }
                None => Reply::out("no model yet: `:load` a file or type a `model NAME { … }`\n"),
            };
        }
        if !models.iter().any(|m| m == rest) {
            let mut msg = format!("error: no model `{rest}`\n");
            if let Some(s) = did_you_mean(rest, models.iter().map(String::as_str)) {
                let _ = writeln!(msg, "  help: did you mean `{s}`?");
            } else if !models.is_empty() {
                let _ = writeln!(msg, "  help: the models are {}", models.join(", "));
            }
            return Reply::err(msg);
        }
        if self.model.as_deref() != Some(rest) {
            self.model = Some(rest.to_string());
            self.sets.clear();
            self.doses.clear();
        }
        match self.model_index() {
            Some(mi) => Reply::out(self.model_summary(mi)),
            None => Reply::default(),
        }
    }

    fn no_model() -> Reply {
        Reply::err("error: no model yet\n  help: `:load` a file or type a `model NAME { … }`\n")
    }

    /// `:set NAME = VALUE`, `:set` (list) and `:set clear`.
    fn set(&mut self, full: &str, arg: std::ops::Range<usize>) -> Reply {
        let rest = full.get(arg.clone()).unwrap_or("");
        if rest.is_empty() {
            if self.sets.is_empty() {
                return Reply::out("no values set; inputs are at their typical values\n");
            }
            let mut out = String::new();
            for s in &self.sets {
                let _ = writeln!(out, "{} = {}", s.name, s.text);
            }
            return Reply::out(out);
        }
        if rest == "clear" {
            self.sets.clear();
            return Reply::out("inputs are back at their typical values\n");
        }
        let Some(mi) = self.model_index() else {
            return Session::no_model();
        };
        let Some(eq) = rest.find('=') else {
            return Reply::err(
                "error: expected `:set NAME = VALUE`\n  help: e.g. :set weight = 80 kg or :set cyp2c9 = *1/*3\n",
            );
        };
        let name = rest[..eq].trim();
        if name.is_empty() {
            return Reply::err(
                "error: expected `:set NAME = VALUE`\n  help: e.g. :set weight = 80 kg or :set cyp2c9 = *1/*3\n",
            );
        }
        let value_raw = &rest[eq + 1..];
        let value = value_raw.trim();
        let vstart = arg.start + eq + 1 + (value_raw.len() - value_raw.trim_start().len());
        let vrange = vstart..vstart + value.len();
        let nstart = arg.start + (rest.len() - rest.trim_start().len());
        let (sources, input) = self.input_sources(full);
        let m = &self.comp.program.models[mi];
        if value.is_empty() {
            return Reply::err("error: expected a value after `=`\n");
        }
        let (stored, shown) = if let Some(c) = m.covariates.iter().find(|c| c.name == name) {
            match c.unit {
                Some(unit) => {
                    let (h, mut ck) = match self.typed(full, vrange, Names::Const) {
                        Ok(x) => x,
                        Err(e) => return Reply::err(e),
                    };
                    let h = ck.coerce(h, unit, codes::E0008, &format!("covariate `{name}`"));
                    if ck.diags.iter().any(Diagnostic::is_error) {
                        return Reply::err(self.render(&sources, &ck.diags));
                    }
                    match consts::eval(&h) {
                        Some(v) => (v, display::quantity(&self.comp.units, v, unit)),
                        None => return Reply::err("error: the value must be a constant\n"),
                    }
                }
                None => match c.levels.iter().position(|l| l == value) {
                    Some(l) => (l as f64, value.to_string()),
                    None => {
                        let d = Diagnostic::error(
                            codes::E0016,
                            format!("`{value}` is not a level of `{name}`"),
                            Span::new(input, vstart, vstart + value.len()),
                        )
                        .with_help(format!("the levels are {}", c.levels.join(", ")));
                        return Reply::err(self.render(&sources, &[d]));
                    }
                },
            }
        } else if let Some(g) = m.genotypes.iter().find(|g| g.name == name) {
            let Some(gene) = self.comp.program.genes.get(g.gene) else {
                return Reply::err("error: unknown gene\n");
            };
            let bare = value.trim_matches('"');
            match check::gene::diplotype_index(gene, bare) {
                Some(d) => (
                    d as f64,
                    gene.diplotype_names
                        .get(d)
                        .cloned()
                        .unwrap_or_else(|| bare.to_string()),
                ),
                None => {
                    let mut d = Diagnostic::error(
                        codes::E0016,
                        format!("`{bare}` is not a diplotype of `{}`", gene.name),
                        Span::new(input, vstart, vstart + value.len()),
                    );
                    if let Some(s) =
                        did_you_mean(bare, gene.diplotype_names.iter().map(String::as_str))
                    {
                        d = d.with_help(format!("did you mean {s}?"));
                    } else {
                        d = d.with_help(format!(
                            "e.g. {}",
                            gene.diplotype_names
                                .iter()
                                .take(4)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    return Reply::err(self.render(&sources, &[d]));
                }
            }
        } else if let Some(p) = m.params.iter().find(|p| p.name == name) {
            // A param: its definition becomes the constant when the patient is run (as
            // `twin run --set`), checked here against its unit and domain.
            let (unit, domain) = (p.unit, p.domain.clone());
            let (h, mut ck) = match self.typed(full, vrange, Names::Const) {
                Ok(x) => x,
                Err(e) => return Reply::err(e),
            };
            let h = ck.coerce(h, unit, codes::E0008, &format!("param `{name}`"));
            if ck.diags.iter().any(Diagnostic::is_error) {
                return Reply::err(self.render(&sources, &ck.diags));
            }
            match consts::eval(&h) {
                Some(v) if domain.contains(v) => (v, display::quantity(&self.comp.units, v, unit)),
                Some(v) => {
                    let d = Diagnostic::error(
                        codes::E0045,
                        format!(
                            "param `{name}` = {} is outside its domain ({})",
                            display::quantity(&self.comp.units, v, unit),
                            domain.text
                        ),
                        Span::new(input, vstart, vstart + value.len()),
                    );
                    return Reply::err(self.render(&sources, &[d]));
                }
                None => return Reply::err("error: the value must be a constant\n"),
            }
        } else {
            let names: Vec<&str> = m
                .covariates
                .iter()
                .map(|c| c.name.as_str())
                .chain(m.genotypes.iter().map(|g| g.name.as_str()))
                .chain(m.params.iter().map(|p| p.name.as_str()))
                .collect();
            let mut d = Diagnostic::error(
                codes::E0004,
                format!(
                    "`{name}` is not a covariate, genotype or param of `{}`",
                    m.name
                ),
                Span::new(input, nstart, nstart + name.len()),
            );
            d = if let Some(s) = did_you_mean(name, names.iter().copied()) {
                d.with_help(format!("did you mean `{s}`?"))
            } else if names.is_empty() {
                d.with_help(format!("`{}` has nothing to set", m.name))
            } else {
                d.with_help(format!("what can be set: {}", names.join(", ")))
            };
            return Reply::err(self.render(&sources, &[d]));
        };
        let setting = Setting {
            name: name.to_string(),
            text: value.to_string(),
            value: stored,
        };
        match self.sets.iter_mut().find(|s| s.name == name) {
            Some(s) => *s = setting,
            None => self.sets.push(setting),
        }
        Reply::out(format!("{name} = {shown}\n"))
    }

    /// `:dose TEXT`, `:dose` (list) and `:dose clear`.
    fn dose(&mut self, rest: &str) -> Reply {
        if rest.is_empty() {
            if self.doses.is_empty() {
                return Reply::out("no doses\n");
            }
            let mut out = String::new();
            for d in &self.doses {
                let _ = writeln!(out, "dose {d}");
            }
            return Reply::out(out);
        }
        if rest == "clear" {
            self.doses.clear();
            return Reply::out("no doses\n");
        }
        let Some(model) = self.model.clone() else {
            return Session::no_model();
        };
        let rest = rest.strip_prefix("dose ").unwrap_or(rest).trim();
        let wrapper =
            format!("trial cli_regimen {{ model {model} arm cli {{ dose\n{rest}\n}} }}\n");
        let comp = driver::compile_with(
            &self.source_name(),
            &self.text,
            &[("<dose>".to_string(), wrapper)],
        );
        if comp.has_errors() {
            let errors: Vec<Diagnostic> = comp
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            return Reply::err(self.render_in(&comp.sources, comp.file, self.split, &errors));
        }
        self.doses.push(rest.to_string());
        let mut out = String::new();
        for d in &self.doses {
            let _ = writeln!(out, "dose {d}");
        }
        Reply::out(out)
    }

    /// `:run [until T] [every S]`.
    fn run(&mut self, rest: &str) -> Reply {
        let Some(model) = self.model.clone() else {
            return Session::no_model();
        };
        let mut until: Option<String> = None;
        let mut every: Option<String> = None;
        let mut key: Option<&str> = None;
        for w in rest.split_whitespace() {
            match w {
                "until" | "every" => {
                    key = Some(if w == "until" { "until" } else { "every" });
                    let slot = if w == "until" { &mut until } else { &mut every };
                    *slot = Some(String::new());
                }
                _ => {
                    let slot = match key {
                        Some("until") => &mut until,
                        Some(_) => &mut every,
                        None => {
                            return Reply::err(format!(
                                "error: unexpected `{w}`\n  help: `:run until 48 h every 1 h` (both optional)\n"
                            ));
                        }
                    };
                    if let Some(s) = slot {
                        if !s.is_empty() {
                            s.push(' ');
                        }
                        s.push_str(w);
                    }
                }
            }
        }
        for (k, v) in [("until", &until), ("every", &every)] {
            if v.as_deref() == Some("") {
                return Reply::err(format!("error: `{k}` needs a duration, e.g. `{k} 24 h`\n"));
            }
        }
        let req = crate::cmd::run::Request {
            name: self.source_name(),
            text: self.text.clone(),
            model: Some(model.clone()),
            doses: self.doses.clone(),
            arm: None,
            measure: (1, 0),
            sets: self
                .sets
                .iter()
                .map(|s| format!("{}={}", s.name, s.text))
                .collect(),
            until,
            every,
            events: None,
            options: crate::solve::SolveOptions::default(),
            tolerances_given: false,
            eliminated: false,
            sample: None,
            interpolate: Vec::new(),
            estimate: Vec::new(),
            sensitivities: false,
            band: None,
            occasions: 0,
        };
        let out = match crate::cmd::run::simulate(&req) {
            Ok(o) => o,
            Err(crate::cmd::run::Failure::Diagnostics(c, diags)) => {
                return Reply::err(self.render_in(&c.sources, c.file, self.split, &diags));
            }
            Err(f @ crate::cmd::run::Failure::Simulate { .. }) => {
                return Reply::err(format!("error: the solver failed: {f}\n"));
            }
            Err(f) => return Reply::err(format!("error: {f}\n")),
        };
        let headers = out.headers.clone();
        let rows = out.rows();
        let n_obs = self
            .model_index()
            .map_or(0, |mi| self.comp.program.models[mi].observables.len());
        let shown: Vec<usize> = if n_obs > 0 {
            (headers.len().saturating_sub(n_obs)..headers.len()).collect()
        } else {
            (1..headers.len()).collect()
        };
        let end = rows.last().and_then(|r| r.first()).copied().unwrap_or(0.0);
        let doses = self.dose_times(&model, end);
        let run = LastRun {
            model,
            csv: out.csv(),
            headers,
            rows,
            shown,
            doses,
        };
        let text = run_text(&run, self.doses.is_empty());
        self.last_run = Some(run);
        Reply::out(text)
    }

    /// `:plot [NAME] [log]`.
    fn plot(&self, rest: &str) -> Reply {
        let Some(run) = &self.last_run else {
            return Reply::err("error: nothing to plot yet\n  help: `:run` first\n");
        };
        let names: Vec<&str> = run
            .shown
            .iter()
            .filter_map(|&c| run.headers.get(c).map(|h| header_name(h)))
            .collect();
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        let log = words.last() == Some(&"log");
        if log {
            words.pop();
        }
        let name = match words.as_slice() {
            [] => match names.first() {
                Some(n) => *n,
                None => return Reply::err("error: the last run has nothing to plot\n"),
            },
            [one] => *one,
            _ => {
                return Reply::err(
                    "error: expected `:plot NAME` or `:plot NAME log`\n  help: one observable at a time, e.g. :plot conc\n",
                );
            }
        };
        if !run.headers.iter().skip(1).any(|h| header_name(h) == name) {
            let mut msg = format!("error: the last run has no column `{name}`\n");
            if let Some(s) = did_you_mean(name, names.iter().copied()) {
                let _ = writeln!(msg, "  help: did you mean `{s}`?");
            } else {
                let _ = writeln!(msg, "  help: the observables are {}", names.join(", "));
            }
            return Reply::err(msg);
        }
        let suffix = if log { "-log" } else { "" };
        let path = self
            .out_dir
            .join(format!("twin-{}-{name}{suffix}.svg", run.model));
        let opts = crate::plot::ProfileOptions {
            log,
            columns: Some(vec![name.to_string()]),
            doses: run.doses.clone(),
            title: Some(format!("{} — {name}", run.model)),
        };
        match plot_svg(&run.csv, &path, &opts) {
            Ok(()) => Reply::out(format!("wrote {}\n", path.display())),
            Err(e) => Reply::err(format!("error: {e}\n")),
        }
    }

    /// The times of the `:dose` statements up to `end` (hours), for dose markers.
    fn dose_times(&self, model: &str, end: f64) -> Vec<f64> {
        if self.doses.is_empty() {
            return Vec::new();
        }
        let mut wrapper = format!("trial cli_regimen {{ model {model} arm cli {{\n");
        for d in &self.doses {
            let _ = writeln!(wrapper, "dose {d}");
        }
        wrapper.push_str("} }\n");
        let comp = driver::compile_with(
            &self.source_name(),
            &self.text,
            &[("<dose>".to_string(), wrapper)],
        );
        let Some(arm) = comp
            .program
            .trials
            .iter()
            .find(|t| t.name == "cli_regimen")
            .and_then(|t| t.arms.first())
        else {
            return Vec::new();
        };
        let mut times = Vec::new();
        for d in &arm.doses {
            let t0 = d.start + d.lag;
            match d.interval.filter(|ii| *ii > 0.0) {
                None => times.push(t0),
                Some(ii) => {
                    let n = d.count.map_or(usize::MAX, |n| n.max(1) as usize);
                    let mut k = 0;
                    while k < n && times.len() < 10_000 {
                        let t = t0 + k as f64 * ii;
                        if t > end {
                            break;
                        }
                        times.push(t);
                        k += 1;
                    }
                }
            }
        }
        times.retain(|t| *t <= end);
        times.sort_by(f64::total_cmp);
        times.dedup();
        times
    }

    /// `:ir`.
    fn ir(&self) -> Reply {
        let Some(mi) = self.model_index() else {
            return Session::no_model();
        };
        match crate::driver::ir_text(&self.comp.program, mi) {
            Ok(text) => Reply::out(text),
            Err(e) => Reply::err(format!("error: {e}\n")),
        }
    }

    /// Words for tab completion: commands, keywords, units, functions, models and every name of
    /// every model.
    pub fn completions(&self) -> Vec<String> {
        let mut words: Vec<String> = COMMANDS
            .iter()
            .filter_map(|(c, _)| c.split_whitespace().next())
            .map(str::to_string)
            .collect();
        words.extend(KEYWORDS.iter().map(|k| k.to_string()));
        words.extend(self.comp.units.names().map(str::to_string));
        words.extend(self.comp.program.fns.iter().map(|f| f.name.clone()));
        words.extend(self.stdlib_fns.iter().map(|(n, _)| n.clone()));
        words.extend(self.comp.program.genes.iter().map(|g| g.name.clone()));
        words.extend(self.comp.program.trials.iter().map(|t| t.name.clone()));
        for m in &self.comp.program.models {
            words.push(m.name.clone());
            words.extend(m.covariates.iter().map(|c| c.name.clone()));
            words.extend(m.covariates.iter().flat_map(|c| c.levels.iter().cloned()));
            words.extend(m.genotypes.iter().map(|g| g.name.clone()));
            words.extend(m.params.iter().map(|p| p.name.clone()));
            words.extend(m.states.iter().map(|s| s.name.clone()));
            words.extend(m.lets.iter().map(|l| l.name.clone()));
            words.extend(m.observables.iter().map(|o| o.name.clone()));
        }
        words.sort();
        words.dedup();
        words
    }
}

/// No leaves: for expressions outside any model.
struct NoValues;

impl consts::Leaves for NoValues {
    fn sym(&mut self, _s: hir::Sym, span: Span) -> Result<f64, consts::EvalError> {
        Err(consts::EvalError::new("not a constant", span))
    }
}

/// The text of `:help`.
fn help() -> String {
    let mut out = String::from(
        "Type an expression to evaluate it (`5 mg / 2 L`), or a declaration to add it to the\n\
         session (`unit IU`, `fn f(x: mg) -> mg = 2 * x`, `model M { … }` over several lines,\n\
         `trial T { … }`, `use pk.*`). Typing a declaration again replaces it.\n\nCommands:\n",
    );
    let width = COMMANDS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    for (c, what) in COMMANDS {
        let _ = writeln!(out, "  {c:<width$}  {what}");
    }
    out
}

/// The table and sparklines of a run.
fn run_text(run: &LastRun, no_doses: bool) -> String {
    let mut cols = vec![0];
    cols.extend(run.shown.iter().copied());
    let headers: Vec<String> = cols
        .iter()
        .map(|&c| run.headers.get(c).cloned().unwrap_or_default())
        .collect();
    let rows: Vec<Vec<String>> = display::thin(run.rows.len(), display::MAX_ROWS)
        .into_iter()
        .filter_map(|k| run.rows.get(k))
        .map(|r| {
            cols.iter()
                .map(|&c| {
                    r.get(c).map_or(String::new(), |v| {
                        display::number(*v, display::TABLE_DIGITS)
                    })
                })
                .collect()
        })
        .collect();
    let mut out = display::table(&headers, &rows);
    if run.rows.len() > display::MAX_ROWS {
        let _ = writeln!(
            out,
            "({} of {} rows; `:plot NAME` for the whole curve)",
            rows.len(),
            run.rows.len()
        );
    }
    let width = run
        .shown
        .iter()
        .filter_map(|&c| run.headers.get(c))
        .map(|h| header_name(h).chars().count())
        .max()
        .unwrap_or(0);
    for &c in &run.shown {
        let Some(h) = run.headers.get(c) else {
            continue;
        };
        let values: Vec<f64> = run
            .rows
            .iter()
            .map(|r| r.get(c).copied().unwrap_or(f64::NAN))
            .collect();
        let times: Vec<f64> = run
            .rows
            .iter()
            .map(|r| r.first().copied().unwrap_or(f64::NAN))
            .collect();
        let (mut lo, mut hi, mut at) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for (v, t) in values.iter().zip(&times) {
            if v.is_finite() {
                lo = lo.min(*v);
                if *v > hi {
                    hi = *v;
                    at = *t;
                }
            }
        }
        let unit = header_unit(h);
        let unit = if unit == "1" || unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        let _ = writeln!(
            out,
            "{:<width$}  {}  min {}, max {}{unit} at {} h",
            header_name(h),
            display::sparkline(&values),
            display::number(lo, display::TABLE_DIGITS),
            display::number(hi, display::TABLE_DIGITS),
            display::number(at, display::TABLE_DIGITS),
        );
    }
    if no_doses {
        out.push_str("(no doses: add some with `:dose 100 mg into depot`)\n");
    }
    out
}

/// Writes an SVG of one column of a `twin run` CSV (atomically).
fn plot_svg(csv: &str, path: &Path, opts: &crate::plot::ProfileOptions) -> Result<(), String> {
    let svg = crate::plot::profile_svg(csv, opts).map_err(|e| e.to_string())?;
    crate::files::write_atomic(path, &svg)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
