//! The parser entry points over the lalrpop-generated grammar.
//!
//! `parse_file` turns source text into an [`ast::File`] or a syntax [`Diagnostic`] that names what
//! was expected. Small constructors used by grammar actions live here too.

use crate::diagnostic::{Diagnostic, codes};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, Name, NumLit, UnitExpr};
use crate::syntax::lexer::{LexError, Lexer, SpliceProblem, lex};
use crate::syntax::token::{NumTok, Token};
use lalrpop_util::ParseError;

#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unused_qualifications,
    missing_docs
)]
mod generated {
    lalrpop_util::lalrpop_mod!(pub twin);
}

/// Parses a whole file, recovering at item and statement boundaries so that every syntax error
/// is reported, and expands `for` statements. Returns the tree (with error placeholders) and the
/// syntax diagnostics, with those of `for` expansions (E0041–E0044).
pub fn parse_file_recovering(file: FileId, src: &str) -> (Option<ast::File>, Vec<Diagnostic>) {
    if src.len() > MAX_SOURCE_BYTES {
        return (None, vec![too_large(file)]);
    }
    let mut errors = Vec::new();
    let mut lexer = lex(src);
    let result = generated::twin::FileParser::new().parse(file, &mut errors, &mut lexer);
    if let Some(at) = lexer.too_deep {
        return (None, vec![too_deep(file, at)]);
    }
    let mut diags: Vec<Diagnostic> = errors
        .into_iter()
        .map(|e| syntax_diagnostic(file, src, e.error))
        .collect();
    let mut x = Expander {
        file,
        src,
        notes: Vec::new(),
        diags: Vec::new(),
        seen: std::collections::HashSet::new(),
    };
    x.problems(std::mem::take(&mut lexer.problems));
    match result {
        Ok(mut f) => {
            for item in &mut f.items {
                if let ast::ItemKind::Model(m) = &mut item.kind {
                    x.stmts(&mut m.body, &[]);
                }
            }
            f.expansions = x.notes;
            diags.append(&mut x.diags);
            (Some(f), diags)
        }
        Err(e) => {
            diags.append(&mut x.diags);
            diags.push(syntax_diagnostic(file, src, e));
            (None, diags)
        }
    }
}

/// The largest source file read, in bytes (8 MiB).
pub const MAX_SOURCE_BYTES: usize = 8 << 20;

/// E0048: the source is larger than [`MAX_SOURCE_BYTES`].
fn too_large(file: FileId) -> Diagnostic {
    Diagnostic::error(
        codes::E0048,
        format!("the source is larger than {MAX_SOURCE_BYTES} bytes (8 MiB), the most twin reads"),
        Span::new(file, 0, 0),
    )
    .with_label_message("file starts here")
    .with_help("split the text into modules that `use` one another")
}

/// E0047: the nesting limit was exceeded at the token `at`.
fn too_deep(file: FileId, at: (usize, usize)) -> Diagnostic {
    Diagnostic::error(
        codes::E0047,
        format!(
            "nesting deeper than {} levels",
            crate::syntax::lexer::MAX_NESTING
        ),
        Span::new(file, at.0, at.1),
    )
    .with_label_message("the limit is exceeded here")
    .with_help("name parts of the expression with `let` and combine the names")
}

/// Most `for` body copies one file may expand to (nested loops multiply).
pub const MAX_EXPANSIONS: usize = 100_000;

/// Expands the `for` statements of a parsed file.
struct Expander<'s> {
    file: FileId,
    src: &'s str,
    /// The note of each expansion instance (instance `k` at `k - 1`).
    notes: Vec<String>,
    diags: Vec<Diagnostic>,
    /// Reported (code, span) pairs: every instance of a template meets the same problems.
    seen: std::collections::HashSet<(&'static str, u32, u32, String)>,
}

impl Expander<'_> {
    fn report(&mut self, d: Diagnostic, key: String) {
        let span = d.primary.span;
        if self.seen.insert((d.code, span.start, span.end, key)) {
            self.diags.push(d);
        }
    }

    fn problems(&mut self, problems: Vec<SpliceProblem>) {
        for p in problems {
            match p {
                SpliceProblem::Unbound { start, end, var } => {
                    let span = Span::new(self.file, start, end);
                    self.report(
                        Diagnostic::error(
                            codes::E0043,
                            format!("`{{{var}}}` splices `{var}`, which no enclosing `for` binds"),
                            span,
                        )
                        .with_label_message("unknown loop variable")
                        .with_help("a splice `{t}` names the variable of an enclosing `for t in [...]`; a block written right after a name needs a space before `{`"),
                        var,
                    );
                }
                SpliceProblem::Keyword {
                    start,
                    end,
                    template,
                    result,
                } => {
                    let span = Span::new(self.file, start, end);
                    let note = self.note_of(span);
                    let mut d = Diagnostic::error(
                        codes::E0044,
                        format!("`{template}` becomes `{result}`, which is a keyword, not a name"),
                        span,
                    )
                    .with_label_message("not a valid name after splicing")
                    .with_help(
                        "rename the template or the list element so that every instance is a name",
                    );
                    if let Some(n) = note {
                        d = d.with_note(n);
                    }
                    self.report(d, result);
                }
            }
        }
    }

    fn note_of(&self, span: Span) -> Option<String> {
        let k = span.inst as usize;
        (k > 0).then(|| self.notes.get(k - 1).cloned()).flatten()
    }

    /// Expands every `for` in `stmts` (and in pathways), with `env` bound by enclosing loops.
    fn stmts(&mut self, stmts: &mut [ast::Stmt], env: &[(String, String)]) {
        for st in stmts {
            match &mut st.kind {
                ast::StmtKind::Pathway { body, .. } => self.stmts(body, env),
                ast::StmtKind::For(f) => self.expand_for(f, env),
                _ => {}
            }
        }
    }

    fn expand_for(&mut self, f: &mut ast::ForLoop, env: &[(String, String)]) {
        if f.items.is_empty() {
            self.report(
                Diagnostic::error(
                    codes::E0041,
                    format!("`for {}` runs over an empty list", f.var.text),
                    f.var.span,
                )
                .with_label_message("no names to expand for")
                .with_help("list at least one name in `[...]`, or remove the `for`"),
                String::new(),
            );
            return;
        }
        let mut bad = false;
        for (i, item) in f.items.iter().enumerate() {
            if let Some(first) = f.items[..i].iter().find(|p| p.text == item.text) {
                bad = true;
                let d = Diagnostic::error(
                    codes::E0042,
                    format!("`{}` is listed twice in `for {}`", item.text, f.var.text),
                    item.span,
                )
                .with_label_message("listed again here")
                .with_label(first.span, "first listed here")
                .with_help("each name may appear once: its statements would be defined twice");
                self.report(d, item.text.clone());
            }
        }
        if env.iter().any(|(v, _)| *v == f.var.text) {
            bad = true;
            let d = Diagnostic::error(
                codes::E0043,
                format!(
                    "`for {}` reuses the variable of an enclosing `for`",
                    f.var.text
                ),
                f.var.span,
            )
            .with_label_message("already bound")
            .with_help("give the inner loop another variable name");
            self.report(d, f.var.text.clone());
        }
        if bad {
            return;
        }
        let start = f.body_span.start as usize;
        let end = f.body_span.end as usize;
        let Some(text) = self.src.get(start..end) else {
            return;
        };
        let mut out = Vec::new();
        for item in &f.items {
            if self.notes.len() >= MAX_EXPANSIONS {
                let d = Diagnostic::error(
                    codes::E0029,
                    format!("`for` loops expand to more than {MAX_EXPANSIONS} copies"),
                    f.var.span,
                )
                .with_label_message("expanded here")
                .with_help("nested loops multiply: split the model or shorten the lists");
                self.report(d, String::new());
                return;
            }
            let mut bindings = env.to_vec();
            bindings.push((f.var.text.clone(), item.text.clone()));
            let note = format!(
                "in the expansion for {}",
                bindings
                    .iter()
                    .map(|(v, x)| format!("`{v} = {x}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.notes.push(note);
            let inst = u32::try_from(self.notes.len()).unwrap_or(u32::MAX);
            let mut lexer = Lexer::new(text, start, inst, bindings.clone());
            let mut errors = Vec::new();
            let parsed =
                generated::twin::StmtsParser::new().parse(self.file, &mut errors, &mut lexer);
            if let Some(at) = lexer.too_deep {
                // An instance nests as deep as its template, which passed; kept as a guard.
                self.report(too_deep(self.file, at), String::new());
                continue;
            }
            let problems = std::mem::take(&mut lexer.problems)
                .into_iter()
                .filter(|p| matches!(p, SpliceProblem::Keyword { .. }))
                .collect();
            self.problems(problems);
            match parsed {
                Ok(mut stmts) if errors.is_empty() => {
                    self.stmts(&mut stmts, &bindings);
                    out.extend(stmts);
                }
                // The template parsed, so an instance only fails on a spliced keyword, which is
                // reported above.
                _ => {}
            }
        }
        f.expanded = out;
    }
}

/// Parses a whole file; the first syntax error is returned if there is any (problems of `for`
/// expansions are left to [`parse_file_recovering`]).
#[allow(clippy::result_large_err)]
pub fn parse_file(file: FileId, src: &str) -> Result<ast::File, Diagnostic> {
    let (f, mut diags) = parse_file_recovering(file, src);
    // Problems of `for` expansions are not syntax errors: the tree is complete (the checker
    // reports them through `parse_file_recovering`).
    diags.retain(|d| ![codes::E0041, codes::E0042, codes::E0043, codes::E0044].contains(&d.code));
    match (f, diags.is_empty()) {
        (Some(f), true) => Ok(f),
        _ => Err(diags.remove(0)),
    }
}

/// Parses a single expression (for the REPL and `--set`/`--dose` arguments).
#[allow(clippy::result_large_err)]
pub fn parse_expr(file: FileId, src: &str) -> Result<Expr, Diagnostic> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(too_large(file));
    }
    let mut errors = Vec::new();
    let mut lexer = lex(src);
    let result = generated::twin::ExprParser::new().parse(file, &mut errors, &mut lexer);
    if let Some(at) = lexer.too_deep {
        return Err(too_deep(file, at));
    }
    result.map_err(|e| syntax_diagnostic(file, src, e))
}

fn describe_expected(expected: &[String]) -> String {
    let mut names: Vec<String> = expected
        .iter()
        .map(|e| match e.as_str() {
            "Ident" | "TName" => "a name".to_string(),
            "Num" => "a number".to_string(),
            "Str" => "a string".to_string(),
            "Doc" => "a doc comment".to_string(),
            other => format!("`{}`", other.trim_matches('"')),
        })
        .collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n if n <= 8 => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
        _ => format!(
            "one of {} and {} more",
            names[..6].join(", "),
            names.len() - 6
        ),
    }
}

#[allow(clippy::result_large_err)]
fn syntax_diagnostic(
    file: FileId,
    src: &str,
    err: ParseError<usize, Token, LexError>,
) -> Diagnostic {
    match err {
        ParseError::InvalidToken { location } => Diagnostic::error(
            codes::E0001,
            "unrecognised character",
            Span::new(file, location, location + 1),
        ),
        ParseError::UnrecognizedEof { location, expected } => {
            let at = location.min(src.len());
            Diagnostic::error(
                codes::E0002,
                "the file ends too early",
                Span::new(file, at, at),
            )
            .with_label_message(format!("expected {} here", describe_expected(&expected)))
            .with_help("a block may be missing its closing `}` or a statement its value")
        }
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let mut d = Diagnostic::error(
                codes::E0003,
                format!("unexpected {tok}"),
                Span::new(file, l, r),
            )
            .with_label_message(format!("expected {}", describe_expected(&expected)));
            if let Token::Number(n) = &tok
                && n.unit.is_some()
            {
                d = d.with_help("a name written right after a number on the same line is read as its unit; put the next statement on its own line or after `;`");
            } else if matches!(tok, Token::Ident(_)) && expected.iter().any(|e| e == "\",\"") {
                d = d.with_help("separate items with `,`");
            }
            d
        }
        ParseError::ExtraToken { token: (l, tok, r) } => Diagnostic::error(
            codes::E0003,
            format!("unexpected {tok}"),
            Span::new(file, l, r),
        ),
        ParseError::User { error } => {
            let (msg, help) = if error.text.starts_with('"') {
                (
                    "unterminated string",
                    "close the string with `\"` on the same line",
                )
            } else {
                (
                    "unrecognised character",
                    "names use ASCII letters, digits, `_` and `µ`; operators are + - * / ^ · and comparisons",
                )
            };
            Diagnostic::error(
                codes::E0001,
                format!(
                    "{msg} `{}`",
                    error.text.escape_debug().to_string().replace("\\\"", "\"")
                ),
                Span::new(file, error.start, error.end),
            )
            .with_help(help)
        }
    }
}

/// `a op b` spanning `l..r`.
pub fn bin(file: FileId, l: usize, r: usize, op: BinOp, a: Expr, b: Expr) -> Expr {
    Expr {
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
        span: Span::new(file, l, r),
    }
}

/// Splits a number token starting at byte `l` into the number and its glued unit.
pub fn split_num(file: FileId, l: usize, n: NumTok) -> (NumLit, Option<UnitExpr>) {
    let lit = NumLit {
        span: Span::new(file, l, l + n.text.len()),
        text: n.text,
    };
    let unit = n.unit.map(|u| {
        let start = l + u.offset;
        let name_span = Span::new(file, start, start + u.len);
        let base = if u.name == "%" {
            UnitExpr::Percent(name_span)
        } else {
            UnitExpr::Named(Name {
                text: u.name,
                span: name_span,
            })
        };
        if u.power == 1 {
            base
        } else {
            UnitExpr::Pow(
                Box::new(base),
                u.power,
                Span::new(file, start, start + u.full_len),
            )
        }
    });
    (lit, unit)
}

/// A number in a unit position (`1/h`): `1` is the dimensionless unit; any other number is kept as
/// a name so the checker can report it.
pub fn unit_from_num(file: FileId, l: usize, _r: usize, n: NumTok) -> UnitExpr {
    let span = Span::new(file, l, l + n.text.len());
    let text = n.text.clone();
    let (_, glued) = split_num(file, l, n);
    let base = if text == "1" {
        UnitExpr::One(span)
    } else {
        UnitExpr::Named(Name { text, span })
    };
    match glued {
        None => base,
        Some(u) => {
            let s = span.to(u.span());
            UnitExpr::Mul(Box::new(base), Box::new(u), s)
        }
    }
}
