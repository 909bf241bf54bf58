//! The parser entry points over the lalrpop-generated grammar.
//!
//! `parse_file` turns source text into an [`ast::File`] or a syntax [`Diagnostic`] that names what
//! was expected. Small constructors used by grammar actions live here too.

use crate::diagnostic::{Diagnostic, codes};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, Name, NumLit, UnitExpr};
use crate::syntax::lexer::{LexError, lex};
use crate::syntax::token::{NumTok, Token};
use lalrpop_util::ParseError;

#[allow(clippy::all, clippy::pedantic, unused_qualifications, missing_docs)]
mod generated {
    lalrpop_util::lalrpop_mod!(pub twin);
}

/// Parses a whole file.
pub fn parse_file(file: FileId, src: &str) -> Result<ast::File, Diagnostic> {
    generated::twin::FileParser::new()
        .parse(file, lex(src))
        .map_err(|e| syntax_diagnostic(file, src, e))
}

/// Parses a single expression (for the REPL and `--set`/`--dose` arguments).
pub fn parse_expr(file: FileId, src: &str) -> Result<Expr, Diagnostic> {
    generated::twin::ExprParser::new()
        .parse(file, lex(src))
        .map_err(|e| syntax_diagnostic(file, src, e))
}

fn describe_expected(expected: &[String]) -> String {
    let mut names: Vec<String> = expected
        .iter()
        .map(|e| match e.as_str() {
            "Ident" => "a name".to_string(),
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
                format!("{msg} `{}`", error.text.escape_debug()),
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
