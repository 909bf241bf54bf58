//! Tokens of the `.twin` language, recognised by a logos-generated lexer.
//!
//! Byte offsets come straight from logos; the lexer wrapper in `lexer.rs` turns them into
//! `(start, token, end)` triples for lalrpop. Plain `//` comments are skipped; `///` doc comments are
//! tokens so the grammar can attach them to the item or statement that follows.

use logos::Logos;
use std::fmt;

/// One token. Keyword variants carry no data; literals carry their text.
#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//([^/\n][^\n]*)?|////[^\n]*", allow_greedy = true))]
pub enum Token {
    /// `/// text` — documentation for the next item or statement.
    #[regex(r"///[^/\n][^\n]*|///", |lex| lex.slice()[3..].trim().to_string(), allow_greedy = true)]
    Doc(String),

    // ---- keywords: items
    #[token("use")]
    Use,
    #[token("unit")]
    Unit,
    #[token("fn")]
    Fn,
    #[token("table")]
    Table,
    #[token("model")]
    Model,
    #[token("extends")]
    Extends,
    #[token("trial")]
    Trial,
    #[token("gene")]
    Gene,
    #[token("allele")]
    Allele,
    #[token("phenotype")]
    Phenotype,
    #[token("activity")]
    Activity,
    #[token("when")]
    When,
    #[token("freq")]
    Freq,

    // ---- keywords: model statements
    #[token("covariate")]
    Covariate,
    #[token("genotype")]
    Genotype,
    #[token("param")]
    Param,
    #[token("vary")]
    Vary,
    #[token("correlate")]
    Correlate,
    #[token("compartment")]
    Compartment,
    #[token("flow")]
    Flow,
    #[token("state")]
    State,
    #[token("d/dt")]
    Ddt,
    #[token("let")]
    Let,
    #[token("observe")]
    Observe,
    #[token("input")]
    Input,
    #[token("pathway")]
    Pathway,
    #[token("molecular_weight")]
    MolecularWeight,
    #[token("out")]
    Out,

    // ---- keywords: expressions
    #[token("match")]
    Match,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("from")]
    From,
    #[token("to")]
    To,

    // ---- keywords: trials
    #[token("population")]
    Population,
    #[token("ancestry")]
    Ancestry,
    #[token("arm")]
    Arm,
    #[token("randomize")]
    Randomize,
    #[token("visit")]
    Visit,
    #[token("twice")]
    Twice,
    #[token("then")]
    Then,
    #[token("dose")]
    Dose,
    #[token("into")]
    Into,
    #[token("every")]
    Every,
    #[token("for")]
    For,
    #[token("times")]
    Times,
    #[token("over")]
    Over,
    #[token("rate")]
    Rate,
    #[token("lag")]
    Lag,
    #[token("bioavailability")]
    Bioavailability,
    #[token("at")]
    At,
    #[token("steady")]
    Steady,
    #[token("per")]
    Per,
    #[token("occasion")]
    Occasion,
    #[token("resample")]
    Resample,
    #[token("sample")]
    Sample,
    #[token("until")]
    Until,
    #[token("endpoint")]
    Endpoint,
    #[token("stratify")]
    Stratify,
    #[token("by")]
    By,
    #[token("bins")]
    Bins,
    #[token("find")]
    Find,
    #[token("of")]
    Of,
    #[token("so")]
    So,
    #[token("within")]
    Within,
    #[token("in")]
    In,

    // ---- literals
    /// A name: ASCII letters, digits, `_`, and the micro signs `µ`/`μ`.
    #[regex(r"[A-Za-z_µμ][A-Za-z0-9_µμ]*", |lex| lex.slice().to_string())]
    Ident(String),
    /// A name with splices of `for` loop variables, such as `cb_{t}` or `{t}`: letters, digits,
    /// `_` and `{name}` pieces, at least one of them a splice. Outside a `for` body, and for a
    /// lone `{name}` that no enclosing `for` binds, the lexer adapter splits it back into plain
    /// tokens (a block such as `{x}`).
    #[regex(r"([A-Za-z_µμ][A-Za-z0-9_µμ]*)?\{[A-Za-z_µμ][A-Za-z0-9_µμ]*\}([A-Za-z0-9_µμ]|\{[A-Za-z_µμ][A-Za-z0-9_µμ]*\})*", |lex| lex.slice().to_string())]
    TName(String),
    /// A decimal number, with the unit written right after it on the same line (`5 mg`, `31%`,
    /// `2 m^2`). Taking the unit in the lexer keeps the grammar free of juxtaposition conflicts.
    #[regex(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", number)]
    Number(NumTok),
    /// A double-quoted string (no escapes), without its quotes.
    #[regex(r#""[^"\n]*""#, |lex| { let s = lex.slice(); s[1..s.len() - 1].to_string() })]
    Str(String),

    // ---- punctuation
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
    #[token(".")]
    Dot,
    #[token("=")]
    Eq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    #[token("·")]
    #[token("×")]
    Star,
    #[token("/")]
    Slash,
    #[token("^")]
    Caret,
    #[token("%")]
    Percent,
    #[token("->")]
    Arrow,
    #[token("=>")]
    FatArrow,
    #[token("~")]
    Tilde,
    #[token("|")]
    Pipe,
}

/// A number token and the unit glued to it.
#[derive(Debug, Clone, PartialEq)]
pub struct NumTok {
    /// The digits as written.
    pub text: String,
    /// The unit written after the number, if any.
    pub unit: Option<UnitSuffix>,
}

/// A unit suffix of a number: `mg`, `%`, `m^2`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSuffix {
    /// The unit symbol (`%` for percent).
    pub name: String,
    /// Byte offset of the symbol from the start of the number token.
    pub offset: usize,
    /// Length of the symbol in bytes.
    pub len: usize,
    /// Integer power written as `^n` (1 when absent).
    pub power: i32,
    /// Byte length of the whole suffix including the power, from `offset`.
    pub full_len: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == 'µ' || c == 'μ'
}

/// Whether `word` is a reserved keyword (so `24 for 5 d` does not read `for` as a unit).
pub fn is_keyword(word: &str) -> bool {
    let mut lex = Token::lexer(word);
    !matches!(lex.next(), Some(Ok(Token::Ident(_))))
}

fn number(lex: &mut logos::Lexer<'_, Token>) -> NumTok {
    let text = lex.slice().to_string();
    let rest = lex.remainder();
    let ws = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let after = &rest[ws..];
    let number_len = text.len();
    if after.starts_with('%') {
        lex.bump(ws + 1);
        let unit = UnitSuffix {
            name: "%".into(),
            offset: number_len + ws,
            len: 1,
            power: 1,
            full_len: 1,
        };
        return NumTok {
            text,
            unit: Some(unit),
        };
    }
    let first = after.chars().next();
    let starts_ident =
        matches!(first, Some(c) if c.is_ascii_alphabetic() || c == '_' || c == 'µ' || c == 'μ');
    if !starts_ident {
        return NumTok { text, unit: None };
    }
    let word_len: usize = after
        .char_indices()
        .find(|&(_, c)| !is_ident_char(c))
        .map(|(i, _)| i)
        .unwrap_or(after.len());
    let word = &after[..word_len];
    // `2 e` is not a unit when the number already ends in an exponent marker; a keyword never is.
    if is_keyword(word) || after[word_len..].starts_with('(') {
        return NumTok { text, unit: None };
    }
    let mut full_len = word_len;
    let mut power = 1;
    let tail = &after[word_len..];
    if let Some(p) = tail.strip_prefix('^') {
        let (neg, digits_src) = match p.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, p),
        };
        let ndig = digits_src
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if ndig > 0 && ndig < 4 {
            let v: i32 = digits_src[..ndig].parse().unwrap_or(1);
            power = if neg { -v } else { v };
            full_len += 1 + usize::from(neg) + ndig;
        }
    }
    lex.bump(ws + full_len);
    NumTok {
        text,
        unit: Some(UnitSuffix {
            name: word.to_string(),
            offset: number_len + ws,
            len: word_len,
            power,
            full_len,
        }),
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Doc(_) => write!(f, "doc comment"),
            Token::Ident(s) | Token::TName(s) => write!(f, "name `{s}`"),
            Token::Number(n) => match &n.unit {
                Some(u) => write!(f, "quantity `{} {}`", n.text, u.name),
                None => write!(f, "number `{}`", n.text),
            },
            Token::Str(s) => write!(f, "string \"{s}\""),
            other => write!(f, "`{}`", other.text()),
        }
    }
}

impl Token {
    /// The surface text of a fixed token (keywords and punctuation).
    pub fn text(&self) -> &'static str {
        use Token::*;
        match self {
            Doc(_) => "///",
            Ident(_) | TName(_) => "name",
            Number(_) => "number",
            Str(_) => "string",
            Use => "use",
            Unit => "unit",
            Fn => "fn",
            Table => "table",
            Model => "model",
            Extends => "extends",
            Trial => "trial",
            Gene => "gene",
            Allele => "allele",
            Phenotype => "phenotype",
            Activity => "activity",
            When => "when",
            Freq => "freq",
            Covariate => "covariate",
            Genotype => "genotype",
            Param => "param",
            Vary => "vary",
            Correlate => "correlate",
            Compartment => "compartment",
            Flow => "flow",
            State => "state",
            Ddt => "d/dt",
            Let => "let",
            Observe => "observe",
            Input => "input",
            Pathway => "pathway",
            MolecularWeight => "molecular_weight",
            Out => "out",
            Match => "match",
            If => "if",
            Else => "else",
            And => "and",
            Or => "or",
            Not => "not",
            True => "true",
            False => "false",
            From => "from",
            To => "to",
            Population => "population",
            Ancestry => "ancestry",
            Arm => "arm",
            Randomize => "randomize",
            Visit => "visit",
            Twice => "twice",
            Then => "then",
            Dose => "dose",
            Into => "into",
            Every => "every",
            For => "for",
            Times => "times",
            Over => "over",
            Rate => "rate",
            Lag => "lag",
            Bioavailability => "bioavailability",
            At => "at",
            Steady => "steady",
            Per => "per",
            Occasion => "occasion",
            Resample => "resample",
            Sample => "sample",
            Until => "until",
            Endpoint => "endpoint",
            Stratify => "stratify",
            By => "by",
            Bins => "bins",
            Find => "find",
            Of => "of",
            So => "so",
            Within => "within",
            In => "in",
            LParen => "(",
            RParen => ")",
            LBrace => "{",
            RBrace => "}",
            LBracket => "[",
            RBracket => "]",
            Comma => ",",
            Colon => ":",
            Semi => ";",
            Dot => ".",
            Eq => "=",
            EqEq => "==",
            NotEq => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            Caret => "^",
            Percent => "%",
            Arrow => "->",
            FatArrow => "=>",
            Tilde => "~",
            Pipe => "|",
        }
    }
}
