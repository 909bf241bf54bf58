//! The lexer adapter: logos tokens → `(start, token, end)` triples for lalrpop.
//!
//! Unknown characters and unterminated strings become [`LexError`]s carrying their byte range; the
//! parser turns them into diagnostics.

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

/// `(start, token, end)` as lalrpop expects.
pub type Spanned = Result<(usize, Token, usize), LexError>;

/// Tokenises `src`, yielding tokens with byte offsets or errors.
pub fn lex(src: &str) -> impl Iterator<Item = Spanned> + '_ {
    Token::lexer(src)
        .spanned()
        .map(move |(tok, range)| match tok {
            Ok(t) => Ok((range.start, t, range.end)),
            Err(()) => Err(LexError {
                start: range.start,
                end: range.end,
                text: src.get(range).unwrap_or("").to_string(),
            }),
        })
}
