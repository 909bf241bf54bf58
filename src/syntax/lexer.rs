//! The lexer adapter: logos tokens → `(start, token, end)` triples for lalrpop.
//!
//! Unknown characters and unterminated strings become [`LexError`]s carrying their byte range; the
//! parser turns them into diagnostics.
//!
//! The adapter also tracks `for` bodies (`for t in [a, b] { … }`): inside one, a name with splices
//! such as `cb_{t}` stays a [`Token::TName`]; outside, and for a lone `{x}` whose `x` no enclosing
//! `for` binds, the text is split back into plain tokens, so `{x}` is still a block everywhere
//! else. When lexing one instance of a `for` body, splices of bound variables are replaced
//! ([`Lexer::substitute`]), and positions carry the instance in their high bits (see
//! [`crate::source::Span::new`]).
//!
//! The adapter bounds how deep a syntax tree can get before the parser builds it, so that no
//! recursive pass (checker, lowering, printers, `fmt`, dropping the tree) can overflow the stack.
//! Its nesting measure is the number of open brackets (`(`, `[`, `{`) plus, at every open
//! bracket level, the operator tokens (`+ - * / ^ %`, comparisons, `and`, `or`, `not`, `if`)
//! met since that level's last separator (`=`, `,`, `;`, `:`, `=>`, `~`, `->`, a doc comment or
//! a statement keyword). It bounds the depth of every expression and unit tree: a chain of `n`
//! binary operators or `n` prefix operators is `n` deep. Past [`MAX_NESTING`] the stream ends and
//! [`Lexer::too_deep`] holds the token where it was exceeded.

use crate::syntax::token::Token;
use logos::Logos;

/// A character sequence that is not a token.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    /// Byte offset of the bad text.
    pub start: usize,
    /// One past its end.
    pub end: usize,
    /// The text itself.
    pub text: String,
}

/// The deepest nesting a source may have (see the module docs for the measure).
pub const MAX_NESTING: usize = 256;

/// `(start, token, end)` as lalrpop expects.
pub type Spanned = Result<(usize, Token, usize), LexError>;

/// Tokenises `src`, yielding tokens with byte offsets or errors.
pub fn lex(src: &str) -> Lexer<'_> {
    Lexer::new(src, 0, 0, Vec::new())
}

/// A splice problem met while lexing, reported by the parser.
#[derive(Debug, Clone, PartialEq)]
pub enum SpliceProblem {
    /// A splice `{name}` inside a `for` body names no loop variable in scope.
    Unbound {
        /// Byte range of the templated name (with the instance bits).
        start: usize,
        /// One past its end.
        end: usize,
        /// The unknown variable.
        var: String,
    },
    /// Replacing the splices produced a keyword.
    Keyword {
        /// Byte range of the templated name (with the instance bits).
        start: usize,
        /// One past its end.
        end: usize,
        /// The name as written.
        template: String,
        /// What it became.
        result: String,
    },
}

/// The token iterator with `for`-body tracking and splice substitution.
pub struct Lexer<'a> {
    inner: logos::SpannedIter<'a, Token>,
    src: &'a str,
    /// Added to every position: the byte offset of `src` in its file plus `inst << 32`.
    base: usize,
    /// Loop variables bound by enclosing `for`s outside `src`, with their values.
    env: Vec<(String, String)>,
    /// Loop variables of `for` bodies opened inside `src`, with the brace depth of the body.
    scopes: Vec<(String, usize)>,
    depth: usize,
    /// Last two tokens, to recognise `for NAME in`.
    prev: [Option<Token>; 2],
    /// The variable of a `for` header whose body has not opened yet.
    pending: Option<String>,
    queue: std::collections::VecDeque<Spanned>,
    /// Splice problems met so far.
    pub problems: Vec<SpliceProblem>,
    /// Operator tokens since the last separator, per open bracket level (the outermost first).
    ops: Vec<usize>,
    /// Open brackets plus every level's operator count: the nesting measure.
    nesting: usize,
    /// The byte range of the token that took the nesting past [`MAX_NESTING`]; the stream has
    /// ended there.
    pub too_deep: Option<(usize, usize)>,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src`, whose first byte is at `offset` in its file, for expansion instance
    /// `inst` (0 for ordinary text), with the loop variables `env` bound to their values.
    pub fn new(src: &'a str, offset: usize, inst: u32, env: Vec<(String, String)>) -> Lexer<'a> {
        Lexer {
            inner: Token::lexer(src).spanned(),
            src,
            base: offset + ((u64::from(inst) << 32) as usize),
            env,
            scopes: Vec::new(),
            depth: 0,
            prev: [None, None],
            pending: None,
            queue: std::collections::VecDeque::new(),
            problems: Vec::new(),
            ops: vec![0],
            nesting: 0,
            too_deep: None,
        }
    }

    /// Updates the nesting measure for `tok`; false once it exceeds [`MAX_NESTING`].
    fn nest(&mut self, tok: &Token) -> bool {
        use Token as T;
        match tok {
            T::LParen | T::LBrace | T::LBracket => {
                self.ops.push(0);
                self.nesting += 1;
            }
            T::RParen | T::RBrace | T::RBracket if self.ops.len() > 1 => {
                let k = self.ops.pop().unwrap_or(0);
                self.nesting = self.nesting.saturating_sub(k + 1);
            }
            T::Plus
            | T::Minus
            | T::Star
            | T::Slash
            | T::Caret
            | T::Percent
            | T::EqEq
            | T::NotEq
            | T::Lt
            | T::Le
            | T::Gt
            | T::Ge
            | T::And
            | T::Or
            | T::Not
            | T::If => {
                if let Some(k) = self.ops.last_mut() {
                    *k += 1;
                }
                self.nesting += 1;
            }
            T::Eq
            | T::Comma
            | T::Semi
            | T::Colon
            | T::FatArrow
            | T::Tilde
            | T::Arrow
            | T::Doc(_)
            | T::Use
            | T::Unit
            | T::Fn
            | T::Table
            | T::Model
            | T::Trial
            | T::Gene
            | T::Allele
            | T::Phenotype
            | T::Covariate
            | T::Genotype
            | T::Param
            | T::Vary
            | T::Correlate
            | T::Compartment
            | T::Flow
            | T::State
            | T::Ddt
            | T::Let
            | T::Observe
            | T::Input
            | T::Pathway
            | T::MolecularWeight
            | T::Population
            | T::Arm
            | T::Dose
            | T::Sample
            | T::Occasion
            | T::Endpoint
            | T::Stratify => {
                if let Some(k) = self.ops.last_mut() {
                    self.nesting -= *k;
                    *k = 0;
                }
            }
            _ => {}
        }
        self.nesting <= MAX_NESTING
    }

    fn bound(&self, var: &str) -> bool {
        self.env.iter().any(|(v, _)| v == var) || self.scopes.iter().any(|(v, _)| v == var)
    }

    /// Replaces the splices of bound variables in `text` and returns the token: a plain name once
    /// no splice is left, else the partly substituted template.
    pub fn substitute(&mut self, text: &str, start: usize, end: usize) -> Token {
        let pieces = split_template(text);
        let mut out = String::new();
        let mut spliced = false;
        for p in &pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Splice(v) => {
                    if let Some((_, val)) = self.env.iter().find(|(n, _)| n == v) {
                        out.push_str(val);
                    } else {
                        if !self.scopes.iter().any(|(n, _)| n == v) {
                            self.problems.push(SpliceProblem::Unbound {
                                start,
                                end,
                                var: (*v).to_string(),
                            });
                        }
                        out.push('{');
                        out.push_str(v);
                        out.push('}');
                        spliced = true;
                    }
                }
            }
        }
        if spliced {
            return Token::TName(out);
        }
        if crate::syntax::token::is_keyword(&out) {
            self.problems.push(SpliceProblem::Keyword {
                start,
                end,
                template: text.to_string(),
                result: out.clone(),
            });
        }
        Token::Ident(out)
    }

    /// Splits a templated name into plain tokens (`cb_{t}` → `cb_`, `{`, `t`, `}`).
    fn split_plain(&mut self, text: &str, start: usize) {
        let mut at = 0;
        for p in split_template(text) {
            match p {
                Piece::Text(t) => {
                    let tok = Token::lexer(t)
                        .next()
                        .and_then(Result::ok)
                        .unwrap_or_else(|| Token::Ident(t.to_string()));
                    self.queue
                        .push_back(Ok((start + at, tok, start + at + t.len())));
                    at += t.len();
                }
                Piece::Splice(v) => {
                    let s = start + at;
                    self.queue.push_back(Ok((s, Token::LBrace, s + 1)));
                    let tok = Token::lexer(v)
                        .next()
                        .and_then(Result::ok)
                        .unwrap_or_else(|| Token::Ident(v.to_string()));
                    self.queue.push_back(Ok((s + 1, tok, s + 1 + v.len())));
                    let e = s + 1 + v.len();
                    self.queue.push_back(Ok((e, Token::RBrace, e + 1)));
                    at += v.len() + 2;
                }
            }
        }
    }

    fn note(&mut self, tok: &Token) {
        match tok {
            Token::In => {
                if let [Some(Token::For), Some(Token::Ident(v))] = &self.prev {
                    self.pending = Some(v.clone());
                }
            }
            Token::LBrace => {
                self.depth += 1;
                if let Some(v) = self.pending.take() {
                    self.scopes.push((v, self.depth));
                }
            }
            Token::RBrace => {
                if self.scopes.last().is_some_and(|(_, d)| *d == self.depth) {
                    self.scopes.pop();
                }
                self.depth = self.depth.saturating_sub(1);
            }
            _ => {}
        }
        self.prev = [self.prev[1].take(), Some(tok.clone())];
    }
}

enum Piece<'t> {
    Text(&'t str),
    Splice(&'t str),
}

fn split_template(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('{') {
            let close = r.find('}').unwrap_or(r.len());
            out.push(Piece::Splice(&r[..close]));
            rest = r.get(close + 1..).unwrap_or("");
        } else {
            let open = rest.find('{').unwrap_or(rest.len());
            out.push(Piece::Text(&rest[..open]));
            rest = &rest[open..];
        }
    }
    out
}

impl Iterator for Lexer<'_> {
    type Item = Spanned;

    fn next(&mut self) -> Option<Spanned> {
        if self.too_deep.is_some() {
            return None;
        }
        let item = self.next_token()?;
        if let Ok((start, tok, end)) = &item
            && !self.nest(tok)
        {
            self.too_deep = Some((*start, *end));
            return None;
        }
        Some(item)
    }
}

impl Lexer<'_> {
    fn next_token(&mut self) -> Option<Spanned> {
        loop {
            if let Some(t) = self.queue.pop_front() {
                if let Ok((_, tok, _)) = &t {
                    let tok = tok.clone();
                    self.note(&tok);
                }
                return Some(t);
            }
            let (tok, range) = self.inner.next()?;
            let (start, end) = (self.base + range.start, self.base + range.end);
            match tok {
                Ok(Token::TName(text)) => {
                    let in_body = !self.env.is_empty() || !self.scopes.is_empty();
                    let lone = text.starts_with('{')
                        && text.ends_with('}')
                        && text[1..].find('{').is_none();
                    let lone_bound = lone && self.bound(&text[1..text.len() - 1]);
                    if !in_body || (lone && !lone_bound) {
                        self.split_plain(&text, start);
                        continue;
                    }
                    let tok = self.substitute(&text, start, end);
                    self.note(&tok);
                    return Some(Ok((start, tok, end)));
                }
                Ok(t) => {
                    self.note(&t);
                    return Some(Ok((start, t, end)));
                }
                Err(()) => {
                    return Some(Err(LexError {
                        start,
                        end,
                        text: self.src.get(range).unwrap_or("").to_string(),
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    /// Lexes `src` to the end; the place where the nesting limit was exceeded, if any.
    fn too_deep(src: &str) -> Option<(usize, usize)> {
        let mut lx = lex(src);
        for _ in lx.by_ref() {}
        lx.too_deep
    }

    #[test]
    fn the_limit_is_exact_for_chains_prefixes_and_brackets() {
        let chain = |n: usize| format!("let x = {}", vec!["1"; n + 1].join(" + "));
        assert_eq!(too_deep(&chain(MAX_NESTING)), None);
        let over = chain(MAX_NESTING + 1);
        // The offending token is the 257th `+`.
        let at = over
            .match_indices('+')
            .nth(MAX_NESTING)
            .map(|(i, _)| (i, i + 1));
        assert_eq!(too_deep(&over), at);
        let minus = |n: usize| format!("let x = {}1", "-".repeat(n));
        assert_eq!(too_deep(&minus(MAX_NESTING)), None);
        assert!(too_deep(&minus(MAX_NESTING + 1)).is_some());
        let parens = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(too_deep(&parens(MAX_NESTING)), None);
        assert!(too_deep(&parens(MAX_NESTING + 1)).is_some());
    }

    #[test]
    fn separators_and_closed_brackets_reset_the_count() {
        // 200 statements of 200 operators each, and 200 bracketed sums side by side: never
        // deeper than 201.
        let stmt = format!("let x = {}\n", vec!["1"; 201].join(" * "));
        assert_eq!(too_deep(&stmt.repeat(200)), None);
        let group = format!("({})", vec!["1"; 201].join(" - "));
        assert_eq!(
            too_deep(&format!("f({})", vec![group; 200].join(", "))),
            None
        );
        // A parenthesised sum still counts once at the outer level.
        let outer = vec!["(1 + 1)"; MAX_NESTING + 1].join(" + ");
        assert!(too_deep(&outer).is_some());
    }
}
