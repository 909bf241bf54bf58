//! `twin fmt`: one canonical layout for `.twin` files, so that diffs show meaning, not whitespace.
//!
//! [`format()`] parses the file, prints the tree back in the layout below, and re-attaches every
//! comment (the lexer skips `//` comments, so they are found by [`comments`], a scan of the source
//! outside strings). Before returning it checks its own work: the output must parse to the same tree
//! up to spans ([`same_syntax`]) and hold the same comments, otherwise the file is refused with an
//! error instead of being changed.
//!
//! # Layout rules
//!
//! - **Indentation and lines.** 4 spaces per level, one statement per line, `;` separators dropped,
//!   no trailing whitespace, one final newline. Lines are aimed at 100 columns, but only `match`
//!   (and a `fn` body) is ever broken to get there: a long `dose` or `param` stays on one line.
//! - **Blank lines.** Runs of blank lines become one. Blank lines the source has between statements
//!   or comments are kept; there is none after `{` or before `}`. Top-level items are always
//!   separated by one blank line, except that consecutive `use` items and consecutive `unit` items
//!   keep the source's choice (so a list of units stays a list).
//! - **Blocks.** `model`, `trial`, `gene` and `pathway` bodies are always one statement per line;
//!   a `table` has one `x: y,` row per line, each with a trailing `,`.
//!   An `arm` or `population` block is written on one line, `arm a { dose 5 mg into gut }`, when it
//!   holds exactly one statement, contains no comment and fits in 100 columns. Empty blocks are `{}`.
//! - **Spacing.** One space around binary operators, `=`, `->`, `=>`, `~` and `|`; `a: b` in
//!   declarations, named arguments and tables; `, ` between list items; `{ a: 1, b: 2 }` tables and
//!   `{a, b}` category and import lists; no space inside `( )` and `[ ]`. `^` is spaced like every
//!   operator: `(w / ref) ^ 0.75`, `2 ^ -1`.
//! - **Units.** Unit expressions in type positions and unit definitions have no spaces:
//!   `mg/L`, `mL/min/kg`, `kg/(m*s^2)`, `1/h`. A number's own unit follows it after one space
//!   (`5 mg`, `2 m^2`), except `%`, which is glued (`31%`). A `/` (or `*`) that continues a
//!   quantity with a unit name is glued too, `0.174 L/h`, `2.0/h`, `1 mg/dL`, `75 mg/m^2`: the left
//!   operand is a number or such a quantity (for `*`, a number with a unit), the right operand a
//!   name declared as a unit (the prelude's or the file's `unit` items), possibly with an integer
//!   power. `14.3 L * weight` stays spaced.
//! - **Literals.** Numbers keep their digits as written; strings and quoted labels (`"*1/*1"`) stay
//!   quoted exactly when they were.
//! - **Parentheses.** The tree does not keep them, so only the needed ones are printed, by the
//!   grammar's precedence (loosest first): `or`, `and`, `not`, comparisons (non-associative),
//!   `+ -`, `* /`, unary `-`, `^` (right-associative, its left operand an atom), atoms. So
//!   `(a + b) * c` keeps them, `a + (b * c)` prints `a + b * c`, `-x ^ 2` is `-(x ^ 2)`, and
//!   `(-x) ^ 2` keeps them.
//! - **Expressions.** `if c { a } else if d { b } else { e }` on one line, in parentheses when it
//!   is an operand (`(if c { a } else { b }) * x`, the one parenthesis kept though not needed).
//!   `use m.{a}` prints as `use m.a`.
//! - **`match`.** Inline, `match g { A => 1, _ => 2 }`, when the statement fits in 100 columns;
//!   otherwise every outermost `match` of the statement is broken, one arm per line with a trailing
//!   `,`, and each arm is fitted the same way in turn. A `match` with a comment between its
//!   scrutinee and its `}` is always broken.
//! - **`fn`.** On one line when it fits; otherwise a body that is a `match` breaks the match, and
//!   any other body moves to the next line, indented once.
//!
//! # Comments
//!
//! Every `//` comment and `///` doc comment is kept, with its text as written (trailing whitespace
//! removed: an indented line in a doc comment stays indented). A comment on a line of its own goes
//! before the next item, statement or match arm (the doc comments of the tree are printed from
//! there too, so their order relative to plain comments is kept). A comment after code on the same
//! line stays at the end of that node's last line; one right after a block's `{` stays there.
//! Comments left inside a block after its last statement stay before its `}`. A comment inside a
//! statement that is none of these (inside an expression, say) moves to just before that statement
//! (or before the match arm holding it).

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::ast::{
    Action, Arg, ArmStmt, BinOp, Call, CovType, Domain, DoseStmt, Expr, ExprKind, File, GeneStmt,
    Item, ItemKind, MatchArm, Name, NumLit, Occasions, Path, PopStmt, PopulationSize, RuleCount,
    Sampling, Stmt, StmtKind, TableDecl, TableRow, TrialStmt, UnOp, UnitDef, UnitExpr, UseNames,
    VisitTimes,
};
use crate::syntax::parser::parse_file;
use crate::units::UnitTable;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The column limit lines are fitted to.
pub const WIDTH: usize = 100;

const INDENT: &str = "    ";

/// Formats a whole file (registered as `FileId(0)` for diagnostics).
///
/// Returns the parser's diagnostic if the file does not parse; the text is never half-formatted.
pub fn format(src: &str) -> Result<String, Diagnostic> {
    format_file(FileId(0), src)
}

/// Formats a file registered as `file` in a source map, so that a syntax error's span points into
/// it.
pub fn format_file(file: FileId, src: &str) -> Result<String, Diagnostic> {
    let tree = parse_file(file, src)?;
    let (out, _) = Printer::new(src, &tree).file(&tree);
    verify(file, src, &tree, &out)?;
    Ok(out)
}

/// How many comments of `src` the formatter could not attach to a node and appended at the end
/// of the file instead (always 0 unless the formatter has a bug; for tests).
#[doc(hidden)]
pub fn unplaced_comments(src: &str) -> Result<usize, Diagnostic> {
    let tree = parse_file(FileId(0), src)?;
    Ok(Printer::new(src, &tree).file(&tree).1)
}

/// Checks that `out` means what `src` means: the same tree up to spans and the same comments.
fn verify(file: FileId, src: &str, tree: &File, out: &str) -> Result<(), Diagnostic> {
    let refuse = |what: &str| {
        Diagnostic::error(
            "fmt",
            format!("twin fmt cannot format this file: its output would {what}"),
            Span::new(file, 0, 0),
        )
        .with_note("this is a bug in the formatter; the file is left unchanged")
    };
    match parse_file(file, out) {
        Ok(t) if same_syntax(&t, tree) => {}
        Ok(_) => return Err(refuse("parse to a different tree")),
        Err(_) => return Err(refuse("not parse")),
    }
    let texts = |s: &str| {
        let mut v: Vec<String> = comments(s).into_iter().map(|c| c.text).collect();
        v.sort();
        v
    };
    if texts(src) != texts(out) {
        return Err(refuse("lose or change a comment"));
    }
    Ok(())
}

/// A `//` or `///` comment found in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Byte offset of the first `/`.
    pub start: usize,
    /// Byte offset after the comment's last non-blank character.
    pub end: usize,
    /// The text as written, without trailing whitespace (the formatter writes it so).
    pub text: String,
    /// Whether it is a `///` doc comment (which the parser attaches to the next item or statement).
    pub doc: bool,
}

/// Every comment of `src`, in order, found the way the lexer finds them: from `//` outside a
/// string to the end of the line. `///` followed by anything but `/` is a doc comment.
pub fn comments(src: &str) -> Vec<Comment> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' && b[j] != b'\n' {
                    j += 1;
                }
                i = if j < b.len() && b[j] == b'"' {
                    j + 1
                } else {
                    j
                };
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let line_end = src[i..].find('\n').map_or(b.len(), |k| i + k);
                let raw = src[i..line_end].trim_end();
                out.push(Comment {
                    start: i,
                    end: i + raw.len(),
                    text: raw.to_string(),
                    doc: raw.starts_with("///") && !raw.starts_with("////"),
                });
                i = line_end;
            }
            _ => i += 1,
        }
    }
    out
}

/// The `Debug` text of a tree with every span blanked, for comparisons that ignore positions.
pub fn without_spans(file: &File) -> String {
    const OPEN: &str = "Span { file: FileId(";
    let text = format!("{file:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        out.push_str("Span");
        let after = &rest[i..];
        match after.find('}') {
            Some(j) => rest = &after[j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether two trees are equal up to spans.
pub fn same_syntax(a: &File, b: &File) -> bool {
    without_spans(a) == without_spans(b)
}

// ---------------------------------------------------------------------------------------------
// Units known to the file, for gluing `0.174 L/h`.

fn prelude_units() -> Option<&'static UnitTable> {
    static TABLE: OnceLock<Option<UnitTable>> = OnceLock::new();
    TABLE
        .get_or_init(|| crate::units::prelude_table().ok())
        .as_ref()
}

// ---------------------------------------------------------------------------------------------
// Layout helpers.

/// How an expression is laid out: everything inline (`match` too, unless a comment forces it
/// open), or with the outermost `match`es broken one arm per line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

/// Where a unit expression stands, for its parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UnitPos {
    /// A whole unit expression: a number may start it (`1/h`).
    Top,
    /// A unit expression that may not start with a number (a `unit` definition without factor).
    NoNumber,
    /// The right operand of `*` or `/`: a single factor.
    Right,
}

/// Whether every line of `text` fits when its first line starts at indentation level `ind` (the
/// other lines carry their own indentation).
fn fits(ind: usize, text: &str) -> bool {
    text.split('\n').enumerate().all(|(i, l)| {
        let start = if i == 0 { ind * INDENT.len() } else { 0 };
        start + l.chars().count() <= WIDTH
    })
}

fn indent(ind: usize) -> String {
    INDENT.repeat(ind)
}

/// Joins `a op b` without spaces, unless that would spell the `d/dt` keyword.
fn glue(a: &str, op: &str, b: &str) -> String {
    if op == "/" && a.ends_with('d') && b.starts_with("dt") {
        format!("{a} / {b}")
    } else {
        format!("{a}{op}{b}")
    }
}

/// Precedence levels of the grammar, loosest first.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const NEG: u8 = 7;
const POW: u8 = 8;
const ATOM: u8 = 9;

/// The level of a binary operator and the minimum levels of its left and right operands.
fn bin_levels(op: BinOp) -> (u8, u8, u8) {
    match op {
        BinOp::Or => (OR, OR, AND),
        BinOp::And => (AND, AND, NOT),
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => (CMP, ADD, ADD),
        BinOp::Add | BinOp::Sub => (ADD, ADD, MUL),
        BinOp::Mul | BinOp::Div => (MUL, MUL, NEG),
        BinOp::Pow => (POW, ATOM, NEG),
    }
}

/// A node printed on lines of its own.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Stmt(&'a Stmt),
    Gene(&'a GeneStmt),
    Trial(&'a TrialStmt),
    Pop(&'a PopStmt),
    Arm(&'a ArmStmt),
    /// A `table` row, `x: y,`.
    Row(&'a TableRow),
}

/// A node with a `{ … }` body.
struct Block<'a> {
    header: String,
    /// End of the header's last token (the `{` follows).
    header_end: usize,
    children: Vec<Node<'a>>,
    /// Whether a single short statement may share the header's line.
    inline_ok: bool,
}

impl<'a> Node<'a> {
    fn span(self) -> Span {
        match self {
            Node::Item(i) => i.span,
            Node::Stmt(s) => s.span,
            Node::Gene(g) => match g {
                GeneStmt::Allele { span, .. }
                | GeneStmt::PhenotypeList { span, .. }
                | GeneStmt::PhenotypeWhen { span, .. }
                | GeneStmt::DiplotypeFreq { span, .. } => *span,
            },
            Node::Trial(t) => match t {
                TrialStmt::Model(p) => p.span,
                TrialStmt::Population { span, .. }
                | TrialStmt::Arm { span, .. }
                | TrialStmt::Endpoint { span, .. } => *span,
                TrialStmt::Randomize(s) | TrialStmt::Stratify(_, s) | TrialStmt::Error(s) => *s,
                TrialStmt::Sample(Sampling::Every { span, .. } | Sampling::At { span, .. })
                | TrialStmt::Occasions(
                    Occasions::Every { span, .. } | Occasions::At { span, .. },
                ) => *span,
                TrialStmt::FindDose(f) => f.span,
            },
            Node::Pop(p) => match p {
                PopStmt::Ancestry(_, span)
                | PopStmt::Draw { span, .. }
                | PopStmt::Set { span, .. }
                | PopStmt::Correlate { span, .. } => *span,
            },
            Node::Arm(a) => match a {
                ArmStmt::Dose(d) => d.span,
                ArmStmt::Visit(v) => v.span,
                ArmStmt::Rule(r) => r.span,
                ArmStmt::Set { span, .. } | ArmStmt::Limit { span, .. } => *span,
            },
            Node::Row(r) => r.span,
        }
    }

    fn start(self) -> usize {
        self.span().start as usize
    }

    fn end(self) -> usize {
        self.span().end as usize
    }

    fn block(self) -> Option<Block<'a>> {
        let (header, header_end, children, inline_ok) = match self {
            Node::Item(i) => match &i.kind {
                ItemKind::Gene(g) => (
                    format!("gene {}", g.name.text),
                    g.name.span,
                    g.body.iter().map(Node::Gene).collect(),
                    false,
                ),
                ItemKind::Model(m) => match m.bases.last() {
                    None => (
                        format!("model {}", m.name.text),
                        m.name.span,
                        m.body.iter().map(Node::Stmt).collect(),
                        false,
                    ),
                    Some(last) => (
                        format!(
                            "model {} extends {}",
                            m.name.text,
                            m.bases
                                .iter()
                                .map(Path::joined)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        last.span,
                        m.body.iter().map(Node::Stmt).collect(),
                        false,
                    ),
                },
                ItemKind::Trial(t) => (
                    format!("trial {}", t.name.text),
                    t.name.span,
                    t.body.iter().map(Node::Trial).collect(),
                    false,
                ),
                ItemKind::Table(t) => (
                    table_header(t),
                    t.ret.span(),
                    t.rows.iter().map(Node::Row).collect(),
                    false,
                ),
                _ => return None,
            },
            Node::Stmt(s) => match &s.kind {
                StmtKind::Pathway { name, body } => (
                    format!("pathway {}", name.text),
                    name.span,
                    body.iter().map(Node::Stmt).collect(),
                    false,
                ),
                StmtKind::For(f) => (
                    format!("for {} in [{}]", f.var.text, names(&f.items)),
                    f.items.last().map_or(f.var.span, |n| n.span),
                    f.body.iter().map(Node::Stmt).collect(),
                    false,
                ),
                _ => return None,
            },
            Node::Trial(t) => match t {
                TrialStmt::Population { size, body, .. } => (
                    match size {
                        PopulationSize::Count(n) => format!("population {}", n.text),
                        PopulationSize::File { path, resample } => format!(
                            "population from \"{}\"{}",
                            path.text,
                            resample
                                .as_ref()
                                .map_or(String::new(), |n| format!(" resample {}", n.text))
                        ),
                        PopulationSize::Fit {
                            keyword,
                            path,
                            id,
                            resample,
                        } => format!(
                            "population from {} \"{}\"{}{}",
                            keyword.text,
                            path.text,
                            id.as_ref()
                                .map_or(String::new(), |i| format!(" id \"{}\"", i.text)),
                            resample
                                .as_ref()
                                .map_or(String::new(), |n| format!(" resample {}", n.text))
                        ),
                    },
                    match size {
                        PopulationSize::Count(n) => n.span,
                        PopulationSize::File {
                            resample: Some(n), ..
                        } => n.span,
                        PopulationSize::File { path, .. } => path.span,
                        PopulationSize::Fit {
                            resample: Some(n), ..
                        } => n.span,
                        PopulationSize::Fit { id: Some(i), .. } => i.span,
                        PopulationSize::Fit { path, .. } => path.span,
                    },
                    body.iter().map(Node::Pop).collect(),
                    true,
                ),
                TrialStmt::Arm { name, body, .. } => (
                    format!("arm {}", name.text),
                    name.span,
                    body.iter().map(Node::Arm).collect(),
                    true,
                ),
                _ => return None,
            },
            Node::Gene(_) | Node::Pop(_) | Node::Arm(_) | Node::Row(_) => return None,
        };
        Some(Block {
            header,
            header_end: header_end.end as usize,
            children,
            inline_ok,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The printer.

struct Printer<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    used: Vec<bool>,
    /// `(scrutinee end, match end)` of every `match`: comments there belong to its arms.
    regions: Vec<(usize, usize)>,
    /// Units declared by the file itself.
    file_units: HashSet<String>,
    out: String,
}

impl<'s> Printer<'s> {
    fn new(src: &'s str, tree: &File) -> Printer<'s> {
        let comments = comments(src);
        let used = vec![false; comments.len()];
        let mut regions = Vec::new();
        let mut file_units = HashSet::new();
        for item in &tree.items {
            if let ItemKind::Unit(u) = &item.kind {
                file_units.insert(u.name.text.clone());
            }
            collect_regions_item(item, &mut regions);
        }
        Printer {
            src,
            comments,
            used,
            regions,
            file_units,
            out: String::new(),
        }
    }

    // ---- comments

    /// Whether a newline separates byte offsets `a` and `b`.
    fn same_line(&self, a: usize, b: usize) -> bool {
        a <= b && !self.src.get(a..b).unwrap_or("\n").contains('\n')
    }

    /// Whether the source has a blank line between offsets `a` and `b` (a whole line of
    /// whitespace after the line of `a` and before the line of `b`).
    fn blank_between(&self, a: usize, b: usize) -> bool {
        let Some(text) = self.src.get(a..b) else {
            return false;
        };
        let lines: Vec<&str> = text.split('\n').collect();
        lines.len() > 2
            && lines[1..lines.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    /// Indices of comments starting in `a..b`.
    fn comments_in(&self, a: usize, b: usize) -> impl Iterator<Item = usize> + '_ {
        self.comments
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.start >= a && c.start < b)
            .map(|(i, _)| i)
    }

    /// Unused comments starting in `a..b`, marked used.
    fn take(&mut self, a: usize, b: usize) -> Vec<usize> {
        let taken: Vec<usize> = self.comments_in(a, b).filter(|&i| !self.used[i]).collect();
        for &i in &taken {
            self.used[i] = true;
        }
        taken
    }

    /// Whether any comment starts in `a..b`.
    fn any_comment(&self, a: usize, b: usize) -> bool {
        self.comments_in(a, b).next().is_some()
    }

    /// Comments in `a..b` outside every match region nested in `a..b`: they cannot be attached to
    /// a match arm, so they go before the node spanning `a..b`.
    fn loose_comments(&self, a: usize, b: usize) -> Vec<usize> {
        self.comments_in(a, b)
            .filter(|&i| {
                let c = self.comments[i].start;
                !self
                    .regions
                    .iter()
                    .any(|&(rs, re)| rs >= a && re <= b && c >= rs && c < re)
            })
            .collect()
    }

    // ---- output

    fn emit(&mut self, ind: usize, text: &str) {
        self.out.push_str(&indent(ind));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Appends a comment to the last written line.
    fn append(&mut self, c: usize) {
        if self.out.ends_with('\n') {
            self.out.pop();
        }
        self.out.push(' ');
        let text = self.comments[c].text.clone();
        self.out.push_str(&text);
        self.out.push('\n');
    }

    // ---- file and blocks

    /// The formatted file and the number of comments the walk did not place (moved to the end).
    fn file(mut self, tree: &File) -> (String, usize) {
        let mut last = 0;
        let mut prev: Option<&Item> = None;
        for (k, item) in tree.items.iter().enumerate() {
            let node = Node::Item(item);
            let leading = self.take(0, node.start());
            let forced = prev.is_some_and(|p| !same_group(p, item));
            let mut first = true;
            for c in leading {
                let start = self.comments[c].start;
                if (first && forced) || self.blank_between(last, start) {
                    self.blank();
                }
                first = false;
                self.emit(0, &self.comments[c].text.clone());
                last = self.comments[c].end;
            }
            if (first && forced) || self.blank_between(last, node.start()) {
                self.blank();
            }
            self.node(node, 0);
            let limit = tree
                .items
                .get(k + 1)
                .map_or(self.src.len(), |n| n.span.start as usize);
            last = self.trailing(node, limit).max(node.end());
            prev = Some(item);
        }
        for c in self.take(0, self.src.len()) {
            if self.blank_between(last, self.comments[c].start) {
                self.blank();
            }
            self.emit(0, &self.comments[c].text.clone());
            last = self.comments[c].end;
        }
        // Comments the walk did not reach (none, if the walk is right) are kept at the end.
        let mut stray = 0;
        for c in 0..self.comments.len() {
            if !self.used[c] {
                self.used[c] = true;
                stray += 1;
                self.emit(0, &self.comments[c].text.clone());
            }
        }
        (self.out, stray)
    }

    /// Writes a trailing comment of `node` (on the line where it ends, before `limit`); returns the
    /// end of what was consumed.
    fn trailing(&mut self, node: Node<'_>, limit: usize) -> usize {
        let end = node.end();
        let next = self
            .comments_in(end, limit)
            .find(|&i| !self.used[i])
            .filter(|&i| self.same_line(end, self.comments[i].start));
        match next {
            Some(c) => {
                self.used[c] = true;
                self.append(c);
                self.comments[c].end
            }
            None => end,
        }
    }

    /// Writes a node (at indentation `ind`) with the comments inside it.
    fn node(&mut self, node: Node<'_>, ind: usize) {
        match node.block() {
            Some(b) => self.block(node, b, ind),
            None => {
                let text = self.leaf(node, ind);
                for c in self.loose_comments(node.start(), node.end()) {
                    self.emit(ind, &self.comments[c].text.clone());
                }
                self.emit(ind, &text);
                for c in self
                    .comments_in(node.start(), node.end())
                    .collect::<Vec<_>>()
                {
                    self.used[c] = true;
                }
            }
        }
    }

    fn block(&mut self, node: Node<'_>, b: Block<'_>, ind: usize) {
        let (start, end) = (node.start(), node.end());
        let close = end.saturating_sub(1);
        let quiet = !self.any_comment(start, end);
        if quiet && b.children.is_empty() {
            self.emit(ind, &format!("{} {{}}", b.header));
            return;
        }
        if quiet
            && b.inline_ok
            && let [child] = b.children.as_slice()
            && child.block().is_none()
        {
            let line = format!(
                "{} {{ {} }}",
                b.header,
                self.leaf_text(*child, ind, Mode::Flat)
            );
            if !line.contains('\n') && fits(ind, &line) {
                self.emit(ind, &line);
                return;
            }
        }
        self.emit(ind, &format!("{} {{", b.header));
        // A comment on the line of `{`, before the first statement, stays there.
        let open = self.brace_after(b.header_end);
        let first_child = b.children.first().map_or(close, |c| c.start());
        let mut last = start;
        let header_comment = self
            .comments_in(open, first_child.min(close))
            .find(|&i| !self.used[i])
            .filter(|&i| self.same_line(open, self.comments[i].start));
        if let Some(c) = header_comment {
            self.used[c] = true;
            self.append(c);
            last = self.comments[c].end;
        }
        let mut first = true;
        for (k, &child) in b.children.iter().enumerate() {
            for c in self.take(start, child.start()) {
                if !first && self.blank_between(last, self.comments[c].start) {
                    self.blank();
                }
                first = false;
                self.emit(ind + 1, &self.comments[c].text.clone());
                last = self.comments[c].end;
            }
            if !first && self.blank_between(last, child.start()) {
                self.blank();
            }
            first = false;
            self.node(child, ind + 1);
            let limit = b.children.get(k + 1).map_or(close, |n| n.start());
            last = self.trailing(child, limit).max(child.end());
        }
        for c in self.take(start, close) {
            if !first && self.blank_between(last, self.comments[c].start) {
                self.blank();
            }
            first = false;
            self.emit(ind + 1, &self.comments[c].text.clone());
            last = self.comments[c].end;
        }
        self.emit(ind, "}");
    }

    /// The offset of the `{` after a block header (skipping blanks and comments).
    fn brace_after(&self, from: usize) -> usize {
        let b = self.src.as_bytes();
        let mut i = from;
        while i < b.len() {
            match b[i] {
                b'{' => return i,
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    i = self.src[i..].find('\n').map_or(b.len(), |k| i + k);
                }
                c if c.is_ascii_whitespace() => i += 1,
                _ => return from,
            }
        }
        from
    }

    // ---- leaves

    /// A statement fitted to the width: inline if it fits, else with its matches broken (and a long
    /// `fn` body on its own line).
    fn leaf(&self, node: Node<'_>, ind: usize) -> String {
        let flat = self.leaf_text(node, ind, Mode::Flat);
        if fits(ind, &flat) {
            return flat;
        }
        if let Node::Item(Item {
            kind: ItemKind::Fn(f),
            ..
        }) = node
            && !matches!(f.body.kind, ExprKind::Match(..))
        {
            return format!(
                "{} =\n{}{}",
                self.fn_header(f),
                indent(ind + 1),
                self.fit(&f.body, ind + 1, "")
            );
        }
        self.leaf_text(node, ind, Mode::Break)
    }

    /// An expression on a line starting at `ind`, followed by `suffix`: inline if it fits.
    fn fit(&self, e: &Expr, ind: usize, suffix: &str) -> String {
        let flat = self.expr(e, OR, ind, Mode::Flat);
        if fits(ind, &format!("{flat}{suffix}")) {
            flat
        } else {
            self.expr(e, OR, ind, Mode::Break)
        }
    }

    fn fn_header(&self, f: &crate::syntax::ast::FnDecl) -> String {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name.text, self.unit(&p.unit, UnitPos::Top)))
            .collect();
        format!(
            "fn {}({}) -> {}",
            f.name.text,
            params.join(", "),
            self.unit(&f.ret, UnitPos::Top)
        )
    }

    /// A statement on one line (matches broken only in `Break` mode or when a comment forces
    /// them).
    fn leaf_text(&self, node: Node<'_>, ind: usize, mode: Mode) -> String {
        let e = |x: &Expr| self.expr(x, OR, ind, mode);
        let add = |x: &Expr| self.expr(x, ADD, ind, mode);
        match node {
            Node::Item(item) => match &item.kind {
                ItemKind::Use(u) => {
                    let names = match &u.names {
                        UseNames::All(_) => "*".to_string(),
                        UseNames::Some(ns) if ns.len() == 1 => ns[0].text.clone(),
                        UseNames::Some(ns) => format!("{{{}}}", names(ns)),
                    };
                    format!("use {}.{names}", u.module.text)
                }
                ItemKind::Unit(u) => match &u.def {
                    None => format!("unit {}", u.name.text),
                    Some(d) => format!("unit {} = {}", u.name.text, self.unit_def(d)),
                },
                ItemKind::Fn(f) => format!("{} = {}", self.fn_header(f), e(&f.body)),
                ItemKind::Gene(_)
                | ItemKind::Model(_)
                | ItemKind::Trial(_)
                | ItemKind::Table(_)
                | ItemKind::Error => String::new(),
            },
            Node::Gene(g) => match g {
                GeneStmt::Allele {
                    name,
                    activity,
                    freq,
                    ..
                } => {
                    let mut s = format!("allele {}", self.label(name));
                    if let Some(a) = activity {
                        s.push_str(&format!(" activity {}", e(a)));
                    }
                    if let Some(f) = freq {
                        s.push_str(&format!(" freq {}", self.table(f, ind, mode)));
                    }
                    s
                }
                GeneStmt::PhenotypeList {
                    name, diplotypes, ..
                } => {
                    let ds: Vec<String> = diplotypes.iter().map(|d| self.label(d)).collect();
                    format!("phenotype {} = {}", name.text, ds.join(", "))
                }
                GeneStmt::PhenotypeWhen { name, cond, .. } => {
                    format!("phenotype {} when {}", name.text, e(cond))
                }
                GeneStmt::DiplotypeFreq { name, freq, .. } => format!(
                    "genotype {} freq {}",
                    self.label(name),
                    self.table(freq, ind, mode)
                ),
            },
            Node::Stmt(s) => self.stmt(&s.kind, ind, mode),
            Node::Trial(t) => match t {
                TrialStmt::Model(p) => format!("model {}", p.joined()),
                TrialStmt::Randomize(_) => "randomize".to_string(),
                TrialStmt::Sample(Sampling::Every { step, until, .. }) => {
                    format!("sample every {} until {}", e(step), e(until))
                }
                TrialStmt::Sample(Sampling::At { times, .. }) => {
                    format!("sample at [{}]", self.list(times, ind, mode))
                }
                TrialStmt::Occasions(Occasions::Every { step, .. }) => {
                    format!("occasion every {}", e(step))
                }
                TrialStmt::Occasions(Occasions::At { times, .. }) => {
                    format!("occasion at [{}]", self.list(times, ind, mode))
                }
                TrialStmt::Endpoint { name, value, .. } => {
                    format!("endpoint {} = {}", name.text, e(value))
                }
                TrialStmt::Stratify(keys, _) => {
                    let ks: Vec<String> = keys
                        .iter()
                        .map(|k| match &k.bins {
                            None => add(&k.key),
                            Some(b) => {
                                format!("{} bins [{}]", add(&k.key), self.list(b, ind, mode))
                            }
                        })
                        .collect();
                    format!("stratify by {}", ks.join(", "))
                }
                TrialStmt::FindDose(f) => {
                    let arms: Vec<&str> = f.arms.iter().map(|a| a.text.as_str()).collect();
                    let mut s = format!(
                        "find dose of {} so {} == {}",
                        arms.join(", "),
                        add(&f.statistic),
                        add(&f.target)
                    );
                    if let Some(r) = &f.reference {
                        s.push_str(&format!(" of {}", r.text));
                    }
                    if let Some(t) = &f.tolerance {
                        s.push_str(&format!(" within {}", add(t)));
                    }
                    s
                }
                TrialStmt::Population { .. } | TrialStmt::Arm { .. } | TrialStmt::Error(_) => {
                    String::new()
                }
            },
            Node::Pop(p) => match p {
                PopStmt::Ancestry(entries, _) => match entries.as_slice() {
                    [(n, None)] => format!("ancestry {}", n.text),
                    _ => {
                        let es: Vec<String> = entries
                            .iter()
                            .map(|(n, v)| match v {
                                Some(v) => format!("{}: {}", n.text, e(v)),
                                None => n.text.clone(),
                            })
                            .collect();
                        if es.is_empty() {
                            "ancestry {}".to_string()
                        } else {
                            format!("ancestry {{ {} }}", es.join(", "))
                        }
                    }
                },
                PopStmt::Draw { target, dist, .. } => {
                    format!("{} ~ {}", target.text, self.call(dist, ind, mode))
                }
                PopStmt::Set { target, value, .. } => format!("{} = {}", target.text, e(value)),
                PopStmt::Correlate { a, b, value, .. } => {
                    format!("correlate {}, {} = {}", a.text, b.text, e(value))
                }
            },
            Node::Arm(a) => match a {
                ArmStmt::Dose(d) => self.dose(d, ind, mode),
                ArmStmt::Set { target, value, .. } => format!("{} = {}", target.text, e(value)),
                ArmStmt::Visit(v) => match &v.times {
                    VisitTimes::At { times, then } => {
                        let mut s = format!("visit at [{}]", self.list(times, ind, mode));
                        if let Some((_, step, until)) = then {
                            s.push_str(&format!(" then every {} until {}", e(step), e(until)));
                        }
                        s
                    }
                    VisitTimes::Every { step, until } => {
                        format!("visit every {} until {}", e(step), e(until))
                    }
                    VisitTimes::BeforeEachDose { words } => {
                        format!("visit {} {} dose", words.0.text, words.1.text)
                    }
                    VisitTimes::AfterEachDose { offset, words } => {
                        let v = match &offset.kind {
                            ExprKind::Number { .. } => e(offset),
                            _ => format!("({})", e(offset)),
                        };
                        format!("visit {v} {} {} dose", words.0.text, words.1.text)
                    }
                },
                ArmStmt::Rule(r) => {
                    let count = match &r.count {
                        None => String::new(),
                        Some(RuleCount::Twice(_)) => " twice".into(),
                        Some(RuleCount::Times(n)) => format!(" {} times", n.text),
                    };
                    let actions: Vec<String> = r
                        .actions
                        .iter()
                        .map(|a| self.action(a, ind, mode))
                        .collect();
                    format!(
                        "when {}{count} {{ {} }}",
                        e(&r.condition),
                        actions.join("; ")
                    )
                }
                ArmStmt::Limit { verb, value, .. } => {
                    let word = if verb.text == "cap" { "at" } else { "to" };
                    format!("{} dose {word} {}", verb.text, e(value))
                }
            },
            Node::Row(r) => format!("{}: {},", e(&r.x), e(&r.y)),
        }
    }

    /// A param's domain: `> 0 L`, `in [0, 1]`.
    fn domain(&self, d: &Domain, ind: usize, mode: Mode) -> String {
        let e = |x: &Expr| self.expr(x, OR, ind, mode);
        match (&d.lower, &d.upper) {
            (Some(lo), Some(hi)) => format!(
                "in {}{}, {}{}",
                if lo.inclusive { "[" } else { "(" },
                e(&lo.value),
                e(&hi.value),
                if hi.inclusive { "]" } else { ")" }
            ),
            (Some(lo), None) => {
                format!("{} {}", if lo.inclusive { ">=" } else { ">" }, e(&lo.value))
            }
            (None, Some(hi)) => {
                format!("{} {}", if hi.inclusive { "<=" } else { "<" }, e(&hi.value))
            }
            (None, None) => String::new(),
        }
    }

    fn stmt(&self, kind: &StmtKind, ind: usize, mode: Mode) -> String {
        let e = |x: &Expr| self.expr(x, OR, ind, mode);
        let typed = |name: &Name, unit: &Option<UnitExpr>| match unit {
            Some(u) => format!("{}: {}", name.text, self.unit(u, UnitPos::Top)),
            None => name.text.clone(),
        };
        let init = |v: &Option<Expr>| v.as_ref().map_or(String::new(), |v| format!(" = {}", e(v)));
        match kind {
            StmtKind::Covariate { name, ty, default } => {
                let ty = match ty {
                    CovType::Unit(u) => self.unit(u, UnitPos::Top),
                    CovType::Categories(cs, _) => format!("{{{}}}", names(cs)),
                };
                format!("covariate {}: {ty}{}", name.text, init(default))
            }
            StmtKind::Genotype {
                name,
                gene,
                default,
            } => {
                let d = default
                    .as_ref()
                    .map_or(String::new(), |d| format!(" = {}", self.label(d)));
                format!("genotype {}: {}{d}", name.text, gene.joined())
            }
            StmtKind::Param {
                name,
                unit,
                domain,
                value,
            } => {
                let domain = domain
                    .as_ref()
                    .map_or(String::new(), |d| format!(" {}", self.domain(d, ind, mode)));
                format!("param {}{domain} = {}", typed(name, unit), e(value))
            }
            StmtKind::Vary {
                target,
                dist,
                per_occasion,
            } => {
                let occ = if per_occasion.is_some() {
                    " per occasion"
                } else {
                    ""
                };
                format!("vary {} ~ {}{occ}", target.text, self.call(dist, ind, mode))
            }
            StmtKind::Correlate { a, b, value } => {
                format!("correlate {}, {} = {}", a.text, b.text, e(value))
            }
            StmtKind::Compartment {
                name,
                unit,
                init: v,
            } => format!(
                "compartment {}: {}{}",
                name.text,
                self.unit(unit, UnitPos::Top),
                init(v)
            ),
            StmtKind::Flow { from, to, rate, .. } => format!(
                "flow {} -> {} = {}",
                from.joined(),
                to.as_ref().map_or("out".to_string(), Path::joined),
                e(rate)
            ),
            StmtKind::State {
                name,
                unit,
                init: v,
            } => format!(
                "state {}: {}{}",
                name.text,
                self.unit(unit, UnitPos::Top),
                init(v)
            ),
            StmtKind::Deriv { target, value } => {
                format!("d/dt {} = {}", target.joined(), e(value))
            }
            StmtKind::Let { name, unit, value } => {
                format!("let {} = {}", typed(name, unit), e(value))
            }
            StmtKind::Observe {
                name,
                unit,
                value,
                error,
            } => {
                let mut s = format!("observe {}{}", typed(name, unit), init(value));
                if !error.is_empty() {
                    let terms: Vec<String> =
                        error.iter().map(|c| self.call(c, ind, mode)).collect();
                    s.push_str(&format!(" ~ {}", terms.join(" + ")));
                }
                s
            }
            StmtKind::MolecularWeight { value } => format!("molecular_weight = {}", e(value)),
            StmtKind::DoseAdjust {
                target,
                kind,
                value,
            } => format!("{} {} = {}", kind.keyword(), target.joined(), e(value)),
            StmtKind::Input { name, unit } => {
                format!("input {}: {}", name.text, self.unit(unit, UnitPos::Top))
            }
            StmtKind::Pathway { .. } | StmtKind::For(_) | StmtKind::Error => String::new(),
        }
    }

    fn dose(&self, d: &DoseStmt, ind: usize, mode: Mode) -> String {
        let mut s = format!(
            "dose {} into {}",
            self.expr(&d.amount, OR, ind, mode),
            d.target.joined()
        );
        for o in &d.options {
            match o.value() {
                Some(v) => s.push_str(&format!(
                    " {} {}",
                    o.keyword(),
                    self.expr(v, ADD, ind, mode)
                )),
                None => s.push_str(&format!(" {}", o.keyword())),
            }
        }
        s
    }

    /// One action of a rule: `scale dose by 0.85`, `hold 1 dose`, `stop "reason"`.
    fn action(&self, a: &Action, ind: usize, mode: Mode) -> String {
        let e = |x: &Expr| self.expr(x, OR, ind, mode);
        match a {
            Action::Dose {
                verb, by, value, ..
            } => format!(
                "{} dose {} {}",
                verb.text,
                if *by { "by" } else { "to" },
                e(value)
            ),
            Action::Goal { verb, goal, .. } => format!("{} dose so {}", verb.text, e(goal)),
            Action::Switch { verb, target, .. } => format!("{} to {}", verb.text, target.text),
            Action::Set {
                verb,
                object,
                value,
                ..
            } => format!("{} {} to {}", verb.text, object.text, e(value)),
            Action::Quantity {
                verb,
                value,
                dose_word,
                ..
            } => {
                let v = match &value.kind {
                    ExprKind::Number { .. } => e(value),
                    _ => format!("({})", e(value)),
                };
                if *dose_word {
                    format!("{} {v} dose", verb.text)
                } else {
                    format!("{} {v}", verb.text)
                }
            }
            Action::Word { verb, reason, .. } => match reason {
                Some(r) => format!("{} \"{}\"", verb.text, r.text),
                None => verb.text.clone(),
            },
        }
    }

    /// `{ a: 1, b: 2 }`.
    fn table(&self, entries: &[(Name, Expr)], ind: usize, mode: Mode) -> String {
        if entries.is_empty() {
            return "{}".to_string();
        }
        let es: Vec<String> = entries
            .iter()
            .map(|(n, v)| format!("{}: {}", n.text, self.expr(v, OR, ind, mode)))
            .collect();
        format!("{{ {} }}", es.join(", "))
    }

    fn list(&self, items: &[Expr], ind: usize, mode: Mode) -> String {
        let xs: Vec<String> = items.iter().map(|x| self.expr(x, OR, ind, mode)).collect();
        xs.join(", ")
    }

    /// A name that may have been written as a string: quoted exactly when it was.
    fn label(&self, n: &Name) -> String {
        if self.src.as_bytes().get(n.span.start as usize) == Some(&b'"') {
            format!("\"{}\"", n.text)
        } else {
            n.text.clone()
        }
    }

    // ---- units

    fn unit(&self, u: &UnitExpr, pos: UnitPos) -> String {
        match u {
            UnitExpr::Named(n) => {
                if pos != UnitPos::Top && n.text.starts_with(|c: char| c.is_ascii_digit()) {
                    format!("({})", n.text)
                } else {
                    n.text.clone()
                }
            }
            UnitExpr::One(_) => {
                if pos == UnitPos::Top {
                    "1".to_string()
                } else {
                    "(1)".to_string()
                }
            }
            UnitExpr::Percent(_) => "%".to_string(),
            UnitExpr::Pow(b, p, _) => format!("{}^{p}", self.unit(b, UnitPos::Right)),
            UnitExpr::Mul(a, b, _) | UnitExpr::Div(a, b, _) => {
                let op = if matches!(u, UnitExpr::Mul(..)) {
                    "*"
                } else {
                    "/"
                };
                let left = if pos == UnitPos::Right {
                    UnitPos::Top
                } else {
                    pos
                };
                let s = glue(&self.unit(a, left), op, &self.unit(b, UnitPos::Right));
                if pos == UnitPos::Right {
                    format!("({s})")
                } else {
                    s
                }
            }
        }
    }

    /// `133.322 Pa`, `0.001 m^3`, `60/min`, `mol/L`, `0.01`.
    fn unit_def(&self, d: &UnitDef) -> String {
        match (&d.factor, &d.unit) {
            (Some(f), None) => f.text.clone(),
            (None, Some(u)) => self.unit(u, UnitPos::NoNumber),
            (None, None) => String::new(),
            (Some(f), Some(u)) => {
                let mut leftmost = u;
                while let UnitExpr::Mul(a, _, _) | UnitExpr::Div(a, _, _) = leftmost {
                    leftmost = a;
                }
                match leftmost {
                    UnitExpr::One(_) => format!("{}{}", f.text, self.unit_tail(u)),
                    UnitExpr::Percent(_) => format!("{}{}", f.text, self.unit(u, UnitPos::Top)),
                    _ => format!("{} {}", f.text, self.unit(u, UnitPos::Top)),
                }
            }
        }
    }

    /// A unit chain whose leftmost factor is the implicit `1` of a definition, without that `1`.
    fn unit_tail(&self, u: &UnitExpr) -> String {
        match u {
            UnitExpr::One(_) => String::new(),
            UnitExpr::Mul(a, b, _) => glue(&self.unit_tail(a), "*", &self.unit(b, UnitPos::Right)),
            UnitExpr::Div(a, b, _) => glue(&self.unit_tail(a), "/", &self.unit(b, UnitPos::Right)),
            other => self.unit(other, UnitPos::Top),
        }
    }

    fn number(&self, value: &NumLit, unit: &Option<UnitExpr>) -> String {
        match unit {
            None => value.text.clone(),
            Some(UnitExpr::Percent(_)) => format!("{}%", value.text),
            Some(u) => format!("{} {}", value.text, self.unit(u, UnitPos::Top)),
        }
    }

    fn is_unit_name(&self, name: &str) -> bool {
        self.file_units.contains(name) || prelude_units().is_some_and(|t| t.get(name).is_some())
    }

    /// Whether `e` is a quantity that a glued `/unit` may continue: a number, or a quantity
    /// already continued by a glued unit.
    fn is_quantity(&self, e: &Expr, with_unit: bool) -> bool {
        match &e.kind {
            ExprKind::Number { unit, .. } => !with_unit || unit.is_some(),
            ExprKind::Unary(UnOp::Neg, x) => {
                matches!(&x.kind, ExprKind::Number { unit, .. } if !with_unit || unit.is_some())
            }
            ExprKind::Binary(op, a, b) => self.glued(*op, a, b),
            _ => false,
        }
    }

    /// Whether `e` is a unit name, possibly with an integer power: `h`, `m^2`, `h^-1`.
    fn is_unit_factor(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Path(p) => p.parts.len() == 1 && self.is_unit_name(&p.parts[0].text),
            ExprKind::Binary(BinOp::Pow, base, exp) => {
                matches!(base.kind, ExprKind::Path(_)) && self.is_unit_factor(base) && {
                    let n = match &exp.kind {
                        ExprKind::Unary(UnOp::Neg, n) => n,
                        _ => exp,
                    };
                    matches!(&n.kind, ExprKind::Number { value, unit: None }
                        if value.text.bytes().all(|b| b.is_ascii_digit()))
                }
            }
            _ => false,
        }
    }

    /// Whether `a op b` is written without spaces (`0.174 L/h`, `75 mg/m^2`).
    fn glued(&self, op: BinOp, a: &Expr, b: &Expr) -> bool {
        self.is_unit_factor(b)
            && match op {
                BinOp::Div => self.is_quantity(a, false),
                BinOp::Mul => self.is_quantity(a, true),
                _ => false,
            }
    }

    /// A unit factor of a glued quantity without spaces: `m^2`, `h^-1`.
    fn unit_factor(&self, e: &Expr) -> Option<String> {
        match &e.kind {
            ExprKind::Binary(BinOp::Pow, base, exp) => Some(format!(
                "{}^{}",
                self.expr(base, ATOM, 0, Mode::Flat),
                self.expr(exp, NEG, 0, Mode::Flat)
            )),
            _ => None,
        }
    }

    // ---- expressions

    /// An expression, parenthesised if its level is below `min`. `ind` is the indentation of the
    /// line it starts on (for the arms of a broken match).
    fn expr(&self, e: &Expr, min: u8, ind: usize, mode: Mode) -> String {
        let (level, text) = self.expr_inner(e, ind, mode);
        // An `if` that is an operand is parenthesised for the reader, though the grammar needs
        // no parentheses: `(if c { a } else { b }) * x`.
        if level < min || (min > OR && matches!(e.kind, ExprKind::If(..))) {
            format!("({text})")
        } else {
            text
        }
    }

    fn expr_inner(&self, e: &Expr, ind: usize, mode: Mode) -> (u8, String) {
        let sub = |x: &Expr, min: u8| self.expr(x, min, ind, mode);
        match &e.kind {
            ExprKind::Number { value, unit } => (ATOM, self.number(value, unit)),
            ExprKind::Bool(b) => (ATOM, b.to_string()),
            ExprKind::Str(s) => (ATOM, format!("\"{s}\"")),
            ExprKind::Path(p) => (ATOM, p.joined()),
            ExprKind::Binary(op, a, b) => {
                let (level, lmin, rmin) = bin_levels(*op);
                let (l, r) = (sub(a, lmin), sub(b, rmin));
                let text = if self.glued(*op, a, b) {
                    glue(&l, op.symbol(), &self.unit_factor(b).unwrap_or(r))
                } else {
                    format!("{l} {} {r}", op.symbol())
                };
                (level, text)
            }
            ExprKind::Unary(UnOp::Neg, a) => (NEG, format!("-{}", sub(a, NEG))),
            ExprKind::Unary(UnOp::Not, a) => (NOT, format!("not {}", sub(a, NOT))),
            ExprKind::Call(c) => (ATOM, self.call(c, ind, mode)),
            ExprKind::If(c, a, b) => {
                let mut s = format!("if {} {{ {} }} else ", sub(c, OR), sub(a, OR));
                if matches!(b.kind, ExprKind::If(..)) {
                    s.push_str(&sub(b, OR));
                } else {
                    s.push_str(&format!("{{ {} }}", sub(b, OR)));
                }
                (ATOM, s)
            }
            ExprKind::Match(scrut, arms) => (ATOM, self.match_expr(e, scrut, arms, ind, mode)),
            ExprKind::Phenotype(x) => (ATOM, format!("phenotype({})", sub(x, OR))),
            ExprKind::Activity(None) => (ATOM, "activity".to_string()),
            ExprKind::Activity(Some(x)) => (ATOM, format!("activity({})", sub(x, OR))),
            ExprKind::Window(a, b) => {
                let mut parts = Vec::new();
                if let Some(a) = a {
                    parts.push(format!("from {}", sub(a, ADD)));
                }
                if let Some(b) = b {
                    parts.push(format!("to {}", sub(b, ADD)));
                }
                (ATOM, parts.join(" "))
            }
            ExprKind::List(items) => (ATOM, format!("[{}]", self.list(items, ind, mode))),
        }
    }

    fn call(&self, c: &Call, ind: usize, mode: Mode) -> String {
        let args: Vec<String> = c.args.iter().map(|a| self.arg(a, ind, mode)).collect();
        format!("{}({})", c.func.joined(), args.join(", "))
    }

    fn arg(&self, a: &Arg, ind: usize, mode: Mode) -> String {
        let v = self.expr(&a.value, OR, ind, mode);
        match &a.name {
            Some(n) => format!("{}: {v}", n.text),
            None => v,
        }
    }

    fn patterns(&self, arm: &MatchArm) -> String {
        let ps: Vec<String> = arm.patterns.iter().map(|p| self.label(p)).collect();
        ps.join(" | ")
    }

    fn match_expr(
        &self,
        e: &Expr,
        scrut: &Expr,
        arms: &[MatchArm],
        ind: usize,
        mode: Mode,
    ) -> String {
        let (region_start, end) = (scrut.span.end as usize, e.span.end as usize);
        let forced = self.any_comment(region_start, end);
        let head = format!("match {}", self.expr(scrut, OR, ind, Mode::Flat));
        if !forced && mode == Mode::Flat {
            if arms.is_empty() {
                return format!("{head} {{}}");
            }
            let arms: Vec<String> = arms
                .iter()
                .map(|a| {
                    format!(
                        "{} => {}",
                        self.patterns(a),
                        self.expr(&a.value, OR, ind, Mode::Flat)
                    )
                })
                .collect();
            return format!("{head} {{ {} }}", arms.join(", "));
        }
        let inner = indent(ind + 1);
        let mut s = format!("{head} {{");
        let mut last = region_start;
        let mut prev_end: Option<usize> = None;
        for arm in arms {
            let (a_start, a_end) = (arm.span.start as usize, arm.span.end as usize);
            for c in self.comments_in(last, a_start) {
                let cm = &self.comments[c];
                if prev_end.is_some_and(|p| self.same_line(p, cm.start)) {
                    s.push(' ');
                } else {
                    s.push('\n');
                    s.push_str(&inner);
                }
                s.push_str(&cm.text);
            }
            for c in self.loose_comments(a_start, a_end) {
                s.push('\n');
                s.push_str(&inner);
                s.push_str(&self.comments[c].text);
            }
            let pats = self.patterns(arm);
            let prefix = format!("{pats} => ");
            let flat = self.expr(&arm.value, OR, ind + 1, Mode::Flat);
            let value = if fits(ind + 1, &format!("{prefix}{flat},")) {
                flat
            } else {
                self.expr(&arm.value, OR, ind + 1, Mode::Break)
            };
            s.push('\n');
            s.push_str(&inner);
            s.push_str(&prefix);
            s.push_str(&value);
            s.push(',');
            last = a_end;
            prev_end = Some(a_end);
        }
        for c in self.comments_in(last, end) {
            let cm = &self.comments[c];
            if prev_end.is_some_and(|p| self.same_line(p, cm.start)) {
                s.push(' ');
            } else {
                s.push('\n');
                s.push_str(&inner);
            }
            s.push_str(&cm.text);
            prev_end = None;
        }
        s.push('\n');
        s.push_str(&indent(ind));
        s.push('}');
        s
    }
}

/// `a, b, c`.
fn names(ns: &[Name]) -> String {
    ns.iter()
        .map(|n| n.text.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `table name(x: unit) -> unit`, the header of a table block.
fn table_header(t: &TableDecl) -> String {
    // Unit text needs no source: an empty printer writes it.
    let p = Printer::new(
        "",
        &File {
            items: Vec::new(),
            expansions: Vec::new(),
        },
    );
    format!(
        "table {}({}: {}) -> {}",
        t.name.text,
        t.param.name.text,
        p.unit(&t.param.unit, UnitPos::Top),
        p.unit(&t.ret, UnitPos::Top)
    )
}

/// Whether two consecutive items may stay without a blank line between them (both `use` or both
/// `unit`).
fn same_group(a: &Item, b: &Item) -> bool {
    matches!(
        (&a.kind, &b.kind),
        (ItemKind::Use(_), ItemKind::Use(_)) | (ItemKind::Unit(_), ItemKind::Unit(_))
    )
}

// ---------------------------------------------------------------------------------------------
// Match regions.

fn collect_regions_item(item: &Item, out: &mut Vec<(usize, usize)>) {
    match &item.kind {
        ItemKind::Fn(f) => collect_regions(&f.body, out),
        ItemKind::Gene(g) => {
            for s in &g.body {
                match s {
                    GeneStmt::Allele { activity, freq, .. } => {
                        if let Some(a) = activity {
                            collect_regions(a, out);
                        }
                        for (_, v) in freq.iter().flatten() {
                            collect_regions(v, out);
                        }
                    }
                    GeneStmt::PhenotypeList { .. } => {}
                    GeneStmt::PhenotypeWhen { cond, .. } => collect_regions(cond, out),
                    GeneStmt::DiplotypeFreq { freq, .. } => {
                        for (_, v) in freq {
                            collect_regions(v, out);
                        }
                    }
                }
            }
        }
        ItemKind::Model(m) => collect_regions_stmts(&m.body, out),
        // Table rows are numbers: no `match` inside.
        ItemKind::Table(_) => {}
        ItemKind::Trial(t) => {
            for s in &t.body {
                match s {
                    TrialStmt::Population { body, .. } => {
                        for p in body {
                            match p {
                                PopStmt::Ancestry(es, _) => {
                                    for v in es.iter().filter_map(|(_, v)| v.as_ref()) {
                                        collect_regions(v, out);
                                    }
                                }
                                PopStmt::Draw { dist, .. } => collect_regions_call(dist, out),
                                PopStmt::Set { value, .. } | PopStmt::Correlate { value, .. } => {
                                    collect_regions(value, out)
                                }
                            }
                        }
                    }
                    TrialStmt::Arm { body, .. } => {
                        for a in body {
                            match a {
                                ArmStmt::Dose(d) => {
                                    collect_regions(&d.amount, out);
                                    for o in d.options.iter().filter_map(|o| o.value()) {
                                        collect_regions(o, out);
                                    }
                                }
                                ArmStmt::Set { value, .. } | ArmStmt::Limit { value, .. } => {
                                    collect_regions(value, out)
                                }
                                ArmStmt::Visit(v) => match &v.times {
                                    VisitTimes::At { times, then } => {
                                        for t in times {
                                            collect_regions(t, out);
                                        }
                                        if let Some((_, a, b)) = then {
                                            collect_regions(a, out);
                                            collect_regions(b, out);
                                        }
                                    }
                                    VisitTimes::Every { step, until } => {
                                        collect_regions(step, out);
                                        collect_regions(until, out);
                                    }
                                    VisitTimes::BeforeEachDose { .. } => {}
                                    VisitTimes::AfterEachDose { offset, .. } => {
                                        collect_regions(offset, out)
                                    }
                                },
                                ArmStmt::Rule(r) => {
                                    collect_regions(&r.condition, out);
                                    for a in &r.actions {
                                        match a {
                                            Action::Dose { value, .. }
                                            | Action::Goal { goal: value, .. }
                                            | Action::Set { value, .. }
                                            | Action::Quantity { value, .. } => {
                                                collect_regions(value, out)
                                            }
                                            Action::Word { .. } | Action::Switch { .. } => {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                    TrialStmt::Sample(Sampling::Every { step, until, .. }) => {
                        collect_regions(step, out);
                        collect_regions(until, out);
                    }
                    TrialStmt::Sample(Sampling::At { times, .. })
                    | TrialStmt::Occasions(Occasions::At { times, .. }) => {
                        for t in times {
                            collect_regions(t, out);
                        }
                    }
                    TrialStmt::Occasions(Occasions::Every { step, .. }) => {
                        collect_regions(step, out);
                    }
                    TrialStmt::Endpoint { value, .. } => collect_regions(value, out),
                    TrialStmt::Stratify(keys, _) => {
                        for k in keys {
                            collect_regions(&k.key, out);
                            for b in k.bins.iter().flatten() {
                                collect_regions(b, out);
                            }
                        }
                    }
                    TrialStmt::FindDose(f) => {
                        collect_regions(&f.statistic, out);
                        collect_regions(&f.target, out);
                        for t in f.tolerance.iter() {
                            collect_regions(t, out);
                        }
                    }
                    TrialStmt::Model(_) | TrialStmt::Randomize(_) | TrialStmt::Error(_) => {}
                }
            }
        }
        ItemKind::Use(_) | ItemKind::Unit(_) | ItemKind::Error => {}
    }
}

fn collect_regions_stmts(body: &[Stmt], out: &mut Vec<(usize, usize)>) {
    for s in body {
        match &s.kind {
            StmtKind::Covariate { default: v, .. }
            | StmtKind::Compartment { init: v, .. }
            | StmtKind::State { init: v, .. } => {
                if let Some(v) = v {
                    collect_regions(v, out);
                }
            }
            StmtKind::Observe { value, error, .. } => {
                if let Some(v) = value {
                    collect_regions(v, out);
                }
                for c in error {
                    collect_regions_call(c, out);
                }
            }
            StmtKind::Param { value, domain, .. } => {
                if let Some(d) = domain {
                    for b in d.lower.iter().chain(d.upper.iter()) {
                        collect_regions(&b.value, out);
                    }
                }
                collect_regions(value, out)
            }
            StmtKind::Correlate { value, .. }
            | StmtKind::Deriv { value, .. }
            | StmtKind::Let { value, .. }
            | StmtKind::DoseAdjust { value, .. }
            | StmtKind::MolecularWeight { value } => collect_regions(value, out),
            StmtKind::Flow { rate, .. } => collect_regions(rate, out),
            StmtKind::Vary { dist, .. } => collect_regions_call(dist, out),
            StmtKind::Pathway { body, .. } => collect_regions_stmts(body, out),
            StmtKind::For(f) => collect_regions_stmts(&f.body, out),
            StmtKind::Genotype { .. } | StmtKind::Input { .. } | StmtKind::Error => {}
        }
    }
}

fn collect_regions_call(c: &Call, out: &mut Vec<(usize, usize)>) {
    for a in &c.args {
        collect_regions(&a.value, out);
    }
}

fn collect_regions(e: &Expr, out: &mut Vec<(usize, usize)>) {
    match &e.kind {
        ExprKind::Number { .. } | ExprKind::Bool(_) | ExprKind::Str(_) | ExprKind::Path(_) => {}
        ExprKind::Activity(None) => {}
        ExprKind::Binary(_, a, b) => {
            collect_regions(a, out);
            collect_regions(b, out);
        }
        ExprKind::Unary(_, a) | ExprKind::Phenotype(a) | ExprKind::Activity(Some(a)) => {
            collect_regions(a, out)
        }
        ExprKind::Call(c) => collect_regions_call(c, out),
        ExprKind::If(c, a, b) => {
            collect_regions(c, out);
            collect_regions(a, out);
            collect_regions(b, out);
        }
        ExprKind::Match(s, arms) => {
            out.push((s.span.end as usize, e.span.end as usize));
            collect_regions(s, out);
            for a in arms {
                collect_regions(&a.value, out);
            }
        }
        ExprKind::Window(a, b) => {
            for x in [a, b].into_iter().flatten() {
                collect_regions(x, out);
            }
        }
        ExprKind::List(items) => {
            for x in items {
                collect_regions(x, out);
            }
        }
    }
}
