//! Units, the unit table, and evaluation of unit expressions.
//!
//! Input: `unit` declarations ([`ast::UnitDecl`]) and unit expressions ([`ast::UnitExpr`]) from the
//! parser. Output: [`Unit`]s — a dimension plus an exact scale relative to the base units — and
//! conversion factors between units of the same dimension, or a [`UnitError`] pointing at the
//! offending part of the source. Guarantees: scales are exact (no floating point), every overflow
//! is reported instead of wrapping, and lookups treat the micro sign `µ` (U+00B5), the Greek `μ`
//! (U+03BC) and a leading ASCII `u` as the same prefix. Printing helpers turn dimensions and units
//! back into text for diagnostics (`g/m^3`, "mass concentration", `mg/L`).

use crate::source::Span;
use crate::syntax::ast;
use crate::units::dim::{Dim, MAX_BASES};
use crate::units::rational::Rational;
use std::collections::HashMap;
use std::fmt;

/// A unit: one of it equals `scale` times the base-unit combination `dim`.
///
/// For example with bases `g`, `m`, `s`, `mol`, `mg/L` is `dim = g·m^-3`, `scale = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unit {
    /// The dimension (exponents over the table's base units).
    pub dim: Dim,
    /// How many base-unit combinations one of this unit is.
    pub scale: Rational,
}

impl Unit {
    /// The dimensionless unit `1`.
    pub const ONE: Unit = Unit {
        dim: Dim::NONE,
        scale: Rational::ONE,
    };

    /// A unit from its dimension and scale.
    pub fn new(dim: Dim, scale: Rational) -> Unit {
        Unit { dim, scale }
    }

    /// A dimensionless unit with the given scale (`%` is `dimensionless(1/100)`).
    pub fn dimensionless(scale: Rational) -> Unit {
        Unit {
            dim: Dim::NONE,
            scale,
        }
    }

    /// The product unit (`mg · h`). On overflow the error's span is `Span::default()`; callers
    /// replace it with [`UnitError::with_span`].
    #[allow(clippy::should_implement_trait)] // fallible: returns `Result`, unlike `Mul::mul`
    pub fn mul(self, other: Unit) -> Result<Unit, UnitError> {
        match (self.dim.mul(other.dim), self.scale.checked_mul(other.scale)) {
            (Some(dim), Some(scale)) => Ok(Unit { dim, scale }),
            _ => Err(UnitError::overflow()),
        }
    }

    /// The quotient unit (`mg / L`). Errors (overflow, or dividing by a zero-scale unit) carry
    /// `Span::default()`; callers replace it with [`UnitError::with_span`].
    #[allow(clippy::should_implement_trait)] // fallible: returns `Result`, unlike `Div::div`
    pub fn div(self, other: Unit) -> Result<Unit, UnitError> {
        match (self.dim.div(other.dim), self.scale.checked_div(other.scale)) {
            (Some(dim), Some(scale)) => Ok(Unit { dim, scale }),
            _ => Err(UnitError::overflow()),
        }
    }

    /// The unit raised to an integer power (`m^3`, `h^-1`). On overflow the error's span is
    /// `Span::default()`; callers replace it with [`UnitError::with_span`].
    pub fn pow(self, n: i32) -> Result<Unit, UnitError> {
        match (self.dim.pow(n), self.scale.checked_pow(n)) {
            (Some(dim), Some(scale)) => Ok(Unit { dim, scale }),
            _ => Err(UnitError::overflow()),
        }
    }

    /// `1 / self`, with the same error convention as [`Unit::div`].
    pub fn recip(self) -> Result<Unit, UnitError> {
        Unit::ONE.div(self)
    }

    /// Whether the unit has no dimension (it may still have a scale, like `%`).
    pub fn is_dimensionless(self) -> bool {
        self.dim.is_dimensionless()
    }
}

/// The factor that converts a value in `from` into a value in `to` (`value_to = value_from *
/// factor`): `Some(from.scale / to.scale)` exactly when the dimensions are equal (and `to` does not
/// have a zero scale).
pub fn convert_factor(from: Unit, to: Unit) -> Option<Rational> {
    if from.dim != to.dim {
        return None;
    }
    from.scale.checked_div(to.scale)
}

/// What went wrong with a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitErrorKind {
    /// A name that is not a declared unit.
    Unknown(String),
    /// A number other than 1 where a unit is expected (`2/h` in a unit position); the parser keeps
    /// it as a named unit whose text is the digits.
    NotANumberUnit(String),
    /// A scale factor or exponent that does not fit (scales are `i128` fractions, exponents `i8`).
    Overflow,
    /// A unit name declared twice (or one that already resolves, such as `ug` next to `µg`).
    AlreadyDeclared(String),
    /// More than [`MAX_BASES`] base units.
    TooManyBases,
    /// A unit defined as zero times another (`unit z = 0 g`), which no value can convert to.
    ZeroFactor(String),
    /// The unit prelude itself did not parse (only from [`crate::units::prelude_table`]).
    Syntax(String),
}

impl fmt::Display for UnitErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitErrorKind::Unknown(n) => write!(f, "unknown unit `{n}`"),
            UnitErrorKind::NotANumberUnit(t) => {
                write!(
                    f,
                    "`{t}` is not a unit: the only number allowed in a unit is `1`"
                )
            }
            UnitErrorKind::Overflow => {
                write!(
                    f,
                    "unit arithmetic overflows (scale factor or exponent too large)"
                )
            }
            UnitErrorKind::AlreadyDeclared(n) => write!(f, "unit `{n}` is already declared"),
            UnitErrorKind::TooManyBases => {
                write!(f, "too many base units (at most {MAX_BASES})")
            }
            UnitErrorKind::ZeroFactor(n) => write!(f, "unit `{n}` is defined as zero"),
            UnitErrorKind::Syntax(m) => write!(f, "the unit prelude does not parse: {m}"),
        }
    }
}

/// A unit error at a place in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitError {
    /// Where (`Span::default()` when produced by [`Unit`] arithmetic without a source position).
    pub span: Span,
    /// What.
    pub kind: UnitErrorKind,
}

impl UnitError {
    /// An error of `kind` at `span`.
    pub fn new(span: Span, kind: UnitErrorKind) -> UnitError {
        UnitError { span, kind }
    }

    /// The same error at another place.
    pub fn with_span(self, span: Span) -> UnitError {
        UnitError { span, ..self }
    }

    fn overflow() -> UnitError {
        UnitError::new(Span::default(), UnitErrorKind::Overflow)
    }
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for UnitError {}

/// The micro sign used for stored names.
const MICRO: &str = "\u{b5}";
/// The Greek small letter mu, accepted as the micro sign.
const GREEK_MU: char = '\u{3bc}';

/// `name` with the Greek `μ` replaced by the micro sign `µ`.
fn canonical(name: &str) -> String {
    name.replace(GREEK_MU, MICRO)
}

/// Friendly names of common dimensions as exponents over (`g`, `m`, `s`, `mol`).
const FRIENDLY: &[(&str, [i8; 4])] = &[
    ("mass", [1, 0, 0, 0]),
    ("length", [0, 1, 0, 0]),
    ("area", [0, 2, 0, 0]),
    ("volume", [0, 3, 0, 0]),
    ("time", [0, 0, 1, 0]),
    ("amount", [0, 0, 0, 1]),
    ("mass concentration", [1, -3, 0, 0]),
    ("molar concentration", [0, -3, 0, 1]),
    ("rate", [0, 0, -1, 0]),
    ("clearance or flow", [0, 3, -1, 0]),
    ("mass rate", [1, 0, -1, 0]),
    ("amount rate", [0, 0, -1, 1]),
    ("exposure", [1, -3, 1, 0]),
    ("molar exposure", [0, -3, 1, 1]),
    ("molar mass", [1, 0, 0, -1]),
    ("pressure", [1, -1, -2, 0]),
];

/// The base names [`FRIENDLY`] exponents refer to, in order.
const FRIENDLY_BASES: [&str; 4] = ["g", "m", "s", "mol"];

/// Largest number of combinations [`UnitTable::format_unit`] tries when composing a name factor by
/// factor.
const MAX_COMBINATIONS: usize = 50_000;

/// All declared units: base units first declared with `unit NAME`, derived units with their exact
/// dimension and scale. Names are kept in declaration order.
#[derive(Clone, Debug, Default)]
pub struct UnitTable {
    bases: Vec<String>,
    units: Vec<(String, Unit)>,
    index: HashMap<String, usize>,
}

impl UnitTable {
    /// An empty table (no base units; see [`crate::units::prelude_table`] for the standard one).
    pub fn new() -> UnitTable {
        UnitTable::default()
    }

    /// Declares a new base unit (a new dimension) and returns its base id.
    pub fn declare_base(&mut self, name: &str) -> Result<usize, UnitErrorKind> {
        if self.get(name).is_some() {
            return Err(UnitErrorKind::AlreadyDeclared(name.to_string()));
        }
        let id = self.bases.len();
        if id >= MAX_BASES {
            return Err(UnitErrorKind::TooManyBases);
        }
        self.bases.push(canonical(name));
        self.declare(name, Unit::new(Dim::base(id), Rational::ONE))?;
        Ok(id)
    }

    /// Declares a derived unit. Fails if `name` already resolves to a unit (including through the
    /// `µ`/`μ`/`u` aliases).
    pub fn declare(&mut self, name: &str, unit: Unit) -> Result<(), UnitErrorKind> {
        if self.get(name).is_some() {
            return Err(UnitErrorKind::AlreadyDeclared(name.to_string()));
        }
        let key = canonical(name);
        self.index.insert(key.clone(), self.units.len());
        self.units.push((key, unit));
        Ok(())
    }

    /// Looks up a unit by name. `μ` (Greek) and `µ` (micro sign) are interchangeable, and a name
    /// starting with `u` that is not declared finds the `µ` unit (`ug` → `µg`).
    pub fn get(&self, name: &str) -> Option<Unit> {
        self.lookup(name).map(|i| self.units[i].1)
    }

    /// The declared spelling a name resolves to (`ug` → `µg`), if any.
    pub fn resolve_name(&self, name: &str) -> Option<&str> {
        self.lookup(name).map(|i| self.units[i].0.as_str())
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        let key = canonical(name);
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
        let rest = key.strip_prefix('u')?;
        self.index.get(&format!("{MICRO}{rest}")).copied()
    }

    /// All declared unit names (base and derived) in declaration order, with the micro sign `µ`.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.units.iter().map(|(n, _)| n.as_str())
    }

    /// The base unit names; index = base id.
    pub fn base_names(&self) -> &[String] {
        &self.bases
    }

    /// The base id of a base unit name.
    pub fn base_index(&self, name: &str) -> Option<usize> {
        let key = canonical(name);
        self.bases.iter().position(|b| *b == key)
    }

    /// Evaluates a unit expression. `1` is dimensionless, `%` is dimensionless 1/100; a number
    /// other than 1 is [`UnitErrorKind::NotANumberUnit`].
    pub fn eval(&self, e: &ast::UnitExpr) -> Result<Unit, UnitError> {
        match e {
            ast::UnitExpr::Named(n) => {
                if n.text.starts_with(|c: char| c.is_ascii_digit()) {
                    // The parser keeps numbers in unit positions as names; `1` (however written)
                    // is the dimensionless unit, anything else is an error.
                    return match Rational::from_decimal(&n.text) {
                        Some(r) if r.is_one() => Ok(Unit::ONE),
                        _ => Err(UnitError::new(
                            n.span,
                            UnitErrorKind::NotANumberUnit(n.text.clone()),
                        )),
                    };
                }
                self.get(&n.text)
                    .ok_or_else(|| UnitError::new(n.span, UnitErrorKind::Unknown(n.text.clone())))
            }
            ast::UnitExpr::One(_) => Ok(Unit::ONE),
            ast::UnitExpr::Percent(_) => Ok(percent()),
            ast::UnitExpr::Mul(a, b, span) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                a.mul(b).map_err(|e| e.with_span(*span))
            }
            ast::UnitExpr::Div(a, b, span) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                a.div(b).map_err(|e| e.with_span(*span))
            }
            ast::UnitExpr::Pow(a, n, span) => {
                let a = self.eval(a)?;
                a.pow(*n).map_err(|e| e.with_span(*span))
            }
        }
    }

    /// Evaluates a `unit` declaration into the table: `unit IU` declares a base unit, `unit mmHg =
    /// 133.322 Pa` a derived one (factor times unit), `unit % = 0.01` a dimensionless one and
    /// `unit M = mol/L` one with factor 1.
    pub fn eval_decl(&mut self, d: &ast::UnitDecl) -> Result<(), UnitError> {
        let name = &d.name;
        let Some(def) = &d.def else {
            return self
                .declare_base(&name.text)
                .map(|_| ())
                .map_err(|k| UnitError::new(name.span, k));
        };
        let factor = match &def.factor {
            Some(lit) => Rational::from_decimal(&lit.text)
                .ok_or_else(|| UnitError::new(lit.span, UnitErrorKind::Overflow))?,
            None => Rational::ONE,
        };
        let unit = match &def.unit {
            Some(u) => self.eval(u)?,
            None => Unit::ONE,
        };
        let scale = factor
            .checked_mul(unit.scale)
            .ok_or_else(|| UnitError::new(def.span, UnitErrorKind::Overflow))?;
        if scale.is_zero() {
            return Err(UnitError::new(
                def.span,
                UnitErrorKind::ZeroFactor(name.text.clone()),
            ));
        }
        self.declare(&name.text, Unit::new(unit.dim, scale))
            .map_err(|k| UnitError::new(name.span, k))
    }

    /// Evaluates every `unit` item of a file in order, skipping other items, and returns the
    /// errors (an erroneous declaration is skipped; later ones are still evaluated).
    pub fn eval_items(&mut self, file: &ast::File) -> Vec<UnitError> {
        let mut errors = Vec::new();
        for item in &file.items {
            if let ast::ItemKind::Unit(d) = &item.kind
                && let Err(e) = self.eval_decl(d)
            {
                errors.push(e);
            }
        }
        errors
    }

    /// Same as the free function [`convert_factor`].
    pub fn convert_factor(&self, from: Unit, to: Unit) -> Option<Rational> {
        convert_factor(from, to)
    }

    fn base_name(&self, i: usize) -> String {
        self.bases
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("base{i}"))
    }

    /// A dimension as a formula over base unit names: `g/m^3`, `1/s`, `m^3/s`, `g/(m·s^2)`, and `1`
    /// for dimensionless. Numerator factors are joined with `·`; several denominator factors are
    /// parenthesised, so the text is itself a valid unit expression.
    pub fn format_dim(&self, d: Dim) -> String {
        let power = |name: String, e: i8| {
            let e = e.unsigned_abs();
            if e == 1 { name } else { format!("{name}^{e}") }
        };
        let mut num = Vec::new();
        let mut den = Vec::new();
        for (i, e) in d.factors() {
            let text = power(self.base_name(i), e);
            if e > 0 {
                num.push(text);
            } else {
                den.push(text);
            }
        }
        compose(&num, &den)
    }

    /// A friendly physical name for a dimension ("mass concentration", "clearance or flow",
    /// "dimensionless", …) when it is one of the common ones over the base units `g`, `m`, `s` and
    /// `mol`; otherwise the formula from [`UnitTable::format_dim`].
    pub fn describe_dim(&self, d: Dim) -> String {
        if d.is_dimensionless() {
            return "dimensionless".to_string();
        }
        let ids: Vec<Option<usize>> = FRIENDLY_BASES.iter().map(|b| self.base_index(b)).collect();
        'entries: for (name, exps) in FRIENDLY {
            let mut want = Dim::NONE;
            for (id, &e) in ids.iter().zip(exps.iter()) {
                if e == 0 {
                    continue;
                }
                match id {
                    Some(i) => want.0[*i] = e,
                    None => continue 'entries,
                }
            }
            if want == d {
                return (*name).to_string();
            }
        }
        self.format_dim(d)
    }

    /// The declared unit name exactly equal to `u` (same dimension and scale): the shortest one,
    /// the earliest declared among equally short ones.
    pub fn unit_name(&self, u: Unit) -> Option<String> {
        self.units
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| *v == u)
            .min_by_key(|(i, (n, _))| (n.chars().count(), *i))
            .map(|(_, (n, _))| n.clone())
    }

    /// Text for a unit, for results and diagnostics: `1` for the dimensionless unit, a declared
    /// name (`mg`), else a quotient of two declared names (`mg/L`, `1/h`), else a product of
    /// declared units per base dimension (`ng·h/mL`), else `<scale> <dimension formula>`. Among
    /// several exact spellings the one with fewest parts, then fewest characters, then earliest
    /// declared units wins, so the result is deterministic.
    pub fn format_unit(&self, u: Unit) -> String {
        if u == Unit::ONE {
            return "1".to_string();
        }
        if let Some(n) = self.unit_name(u) {
            return n;
        }
        if u.is_dimensionless() {
            return format_scale(u.scale);
        }
        if let Some(t) = self.quotient_name(u) {
            return t;
        }
        if let Some(t) = self.factor_name(u) {
            return t;
        }
        format!("{} {}", format_scale(u.scale), self.format_dim(u.dim))
    }

    /// `a/b` over declared names `a` (or `1`) and `b` (not dimensionless) exactly equal to `u`.
    fn quotient_name(&self, u: Unit) -> Option<String> {
        let mut best: Option<((usize, usize), String)> = None;
        for (bi, (bname, b)) in self.units.iter().enumerate() {
            if b.is_dimensionless() {
                continue;
            }
            let Ok(a) = u.mul(*b) else { continue };
            let aname = if a == Unit::ONE {
                "1".to_string()
            } else {
                match self.unit_name(a) {
                    Some(n) => n,
                    None => continue,
                }
            };
            let text = format!("{aname}/{bname}");
            let key = (text.chars().count(), bi);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, text));
            }
        }
        best.map(|(_, t)| t)
    }

    /// A product of one declared unit (or a declared unit raised to a power) per base dimension,
    /// exactly equal to `u`: `mg·h/L`, `mL/(kg·min)`, `m^2`.
    fn factor_name(&self, u: Unit) -> Option<String> {
        // Per base factor: whether it is in the numerator, and its candidates.
        let mut slots: Vec<(bool, Vec<Candidate>)> = Vec::new();
        for (i, e) in u.dim.factors() {
            let k = i32::from(e.unsigned_abs());
            let exact = Dim::base(i).pow(k)?;
            let mut cands = Vec::new();
            for (idx, (name, v)) in self.units.iter().enumerate() {
                let (text, scale) = if v.dim == exact {
                    (name.clone(), v.scale)
                } else if k > 1 && v.dim == Dim::base(i) {
                    let Some(s) = v.scale.checked_pow(k) else {
                        continue;
                    };
                    (format!("{name}^{k}"), s)
                } else {
                    continue;
                };
                let scale = if e > 0 { Some(scale) } else { scale.recip() };
                if let Some(scale) = scale {
                    cands.push(Candidate { text, scale, idx });
                }
            }
            if cands.is_empty() {
                return None;
            }
            slots.push((e > 0, cands));
        }
        let total = slots
            .iter()
            .try_fold(1usize, |acc, (_, c)| acc.checked_mul(c.len()))?;
        if total > MAX_COMBINATIONS || slots.is_empty() {
            return None;
        }
        let mut best: Option<((usize, usize), String)> = None;
        let mut choice = vec![0usize; slots.len()];
        for _ in 0..total {
            let mut scale = Some(Rational::ONE);
            for (slot, &c) in slots.iter().zip(choice.iter()) {
                scale = scale.and_then(|s| s.checked_mul(slot.1[c].scale));
            }
            if scale == Some(u.scale) {
                let mut num = Vec::new();
                let mut den = Vec::new();
                let mut idx_sum = 0;
                for (slot, &c) in slots.iter().zip(choice.iter()) {
                    let cand = &slot.1[c];
                    idx_sum += cand.idx;
                    if slot.0 {
                        num.push(cand.text.clone());
                    } else {
                        den.push(cand.text.clone());
                    }
                }
                let text = compose(&num, &den);
                let key = (text.chars().count(), idx_sum);
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    best = Some((key, text));
                }
            }
            // Advance the mixed-radix counter.
            for (slot, c) in slots.iter().zip(choice.iter_mut()) {
                *c += 1;
                if *c < slot.1.len() {
                    break;
                }
                *c = 0;
            }
        }
        best.map(|(_, t)| t)
    }
}

/// One way to spell one base factor of a unit in [`UnitTable::format_unit`].
struct Candidate {
    /// `mL`, `m^2`.
    text: String,
    /// Its contribution to the unit's scale (inverted for a denominator factor).
    scale: Rational,
    /// Declaration index of the named unit (earlier wins ties).
    idx: usize,
}

/// The dimensionless unit `%`.
fn percent() -> Unit {
    Unit::dimensionless(Rational::new(1, 100).unwrap_or(Rational::ONE))
}

/// A scale for display: exact decimal when it terminates, else the nearest `f64`.
fn format_scale(r: Rational) -> String {
    r.to_decimal_string()
        .unwrap_or_else(|| format!("{}", r.to_f64()))
}

/// `a·b/(c·d)` from numerator and denominator parts (`1` for an empty numerator).
fn compose(num: &[String], den: &[String]) -> String {
    let top = if num.is_empty() {
        "1".to_string()
    } else {
        num.join("·")
    };
    match den.len() {
        0 => top,
        1 => format!("{top}/{}", den[0]),
        _ => format!("{top}/({})", den.join("·")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use crate::syntax::parser::parse_file;

    fn table(src: &str) -> UnitTable {
        let file = parse_file(FileId(0), src).expect("parses");
        let mut t = UnitTable::new();
        let errors = t.eval_items(&file);
        assert!(errors.is_empty(), "{errors:?}");
        t
    }

    fn basic() -> UnitTable {
        table(
            "unit g\nunit m\nunit s\nunit mol\nunit kg = 1000 g\nunit mg = 0.001 g\nunit µg = 1e-6 g\n\
             unit ng = 1e-9 g\nunit L = 0.001 m^3\nunit mL = 0.001 L\nunit µL = 1e-6 L\nunit min = 60 s\n\
             unit h = 60 min\nunit M = mol/L\nunit nM = 1e-9 M\nunit % = 0.01\nunit Pa = kg/(m*s^2)\n",
        )
    }

    /// Parses `param x: <unit> = 1` and evaluates the unit.
    fn eval(t: &UnitTable, unit: &str) -> Result<Unit, UnitError> {
        let src = format!("model X {{\nparam x: {unit} = 1\n}}\n");
        let file = parse_file(FileId(0), &src).expect("parses");
        let ast::ItemKind::Model(m) = &file.items[0].kind else {
            panic!("not a model")
        };
        let ast::StmtKind::Param { unit: Some(u), .. } = &m.body[0].kind else {
            panic!("not a param with a unit")
        };
        t.eval(u)
    }

    fn ok(t: &UnitTable, unit: &str) -> Unit {
        eval(t, unit).expect("evaluates")
    }

    #[test]
    fn bases_and_derived() {
        let t = basic();
        assert_eq!(t.base_names(), ["g", "m", "s", "mol"]);
        let g = t.get("g").expect("g");
        assert_eq!(g, Unit::new(Dim::base(0), Rational::ONE));
        let mg = t.get("mg").expect("mg");
        assert_eq!(mg.scale, Rational::new(1, 1000).expect("ok"));
        let pct = t.get("%").expect("%");
        assert_eq!(pct, percent());
        let m_unit = t.get("M").expect("M");
        assert_eq!(m_unit.scale, Rational::int(1000));
        assert_eq!(t.format_dim(m_unit.dim), "mol/m^3");
    }

    #[test]
    fn micro_aliases() {
        let t = basic();
        let ug = t.get("µg");
        assert!(ug.is_some());
        assert_eq!(t.get("ug"), ug);
        assert_eq!(t.get("\u{3bc}g"), ug);
        assert_eq!(t.resolve_name("ug"), Some("µg"));
        assert_eq!(t.get("u"), None);
        let mut t2 = t.clone();
        assert_eq!(
            t2.declare("ug", Unit::ONE),
            Err(UnitErrorKind::AlreadyDeclared("ug".into()))
        );
        assert_eq!(
            t2.declare("\u{3bc}L", Unit::ONE),
            Err(UnitErrorKind::AlreadyDeclared("\u{3bc}L".into()))
        );
        // A Greek-mu declaration is stored with the micro sign.
        t2.declare("\u{3bc}x", Unit::ONE).expect("new");
        assert!(t2.names().any(|n| n == "µx"));
        assert!(t2.get("ux").is_some());
    }

    #[test]
    fn evaluates_expressions() {
        let t = basic();
        let conc = ok(&t, "mg/L");
        assert_eq!(conc.scale, Rational::ONE);
        assert_eq!(t.format_dim(conc.dim), "g/m^3");
        assert_eq!(ok(&t, "1/h").scale, Rational::new(1, 3600).expect("ok"));
        assert_eq!(t.format_dim(ok(&t, "1/h").dim), "1/s");
        assert_eq!(ok(&t, "ng*h/mL"), ok(&t, "ug*h/L"));
        assert_eq!(ok(&t, "ng·h/mL"), ok(&t, "µg·h/L"));
        assert_eq!(ok(&t, "m^2").dim, Dim::base(1).pow(2).expect("ok"));
        assert_eq!(ok(&t, "%"), percent());
        assert_eq!(ok(&t, "1"), Unit::ONE);
        assert_eq!(ok(&t, "mL/min/kg"), ok(&t, "mL/(min*kg)"));
        let pa = t.get("Pa").expect("Pa");
        assert_eq!(t.format_dim(pa.dim), "g/(m·s^2)");
        assert_eq!(pa.scale, Rational::int(1000));
    }

    #[test]
    fn expression_errors_point_at_the_culprit() {
        let t = basic();
        let e = eval(&t, "mg/Lx").expect_err("unknown");
        assert_eq!(e.kind, UnitErrorKind::Unknown("Lx".into()));
        assert_eq!(e.span.end - e.span.start, 2);
        let e = eval(&t, "2/h").expect_err("number");
        assert_eq!(e.kind, UnitErrorKind::NotANumberUnit("2".into()));
        assert_eq!(
            e.to_string(),
            "`2` is not a unit: the only number allowed in a unit is `1`"
        );
        let e = eval(&t, "g^100*g^100").expect_err("overflow");
        assert_eq!(e.kind, UnitErrorKind::Overflow);
        let e = eval(&t, "kg^20").expect_err("overflow");
        assert_eq!(e.kind, UnitErrorKind::Overflow);
    }

    #[test]
    fn declaration_errors() {
        let file = parse_file(FileId(0), "unit g\nunit g\nunit x = 1 nope\nunit z = 0 g\nunit big = 1e30 g\nunit bigger = 1e30 big\n")
            .expect("parses");
        let mut t = UnitTable::new();
        let errs: Vec<UnitErrorKind> = t.eval_items(&file).into_iter().map(|e| e.kind).collect();
        assert_eq!(
            errs,
            vec![
                UnitErrorKind::AlreadyDeclared("g".into()),
                UnitErrorKind::Unknown("nope".into()),
                UnitErrorKind::ZeroFactor("z".into()),
                UnitErrorKind::Overflow,
            ]
        );
        let mut t = UnitTable::new();
        for i in 0..MAX_BASES {
            t.declare_base(&format!("b{i}")).expect("room");
        }
        assert_eq!(t.declare_base("one_more"), Err(UnitErrorKind::TooManyBases));
    }

    #[test]
    fn conversion() {
        let t = basic();
        let f = convert_factor(ok(&t, "mg/L"), ok(&t, "ng/mL"));
        assert_eq!(f, Some(Rational::int(1000)));
        assert_eq!(
            t.convert_factor(ok(&t, "h"), ok(&t, "min")),
            Some(Rational::int(60))
        );
        assert_eq!(convert_factor(ok(&t, "mg"), ok(&t, "L")), None);
    }

    #[test]
    fn descriptions() {
        let t = basic();
        let d = |u: &str| t.describe_dim(ok(&t, u).dim);
        assert_eq!(d("mg/L"), "mass concentration");
        assert_eq!(d("nM"), "molar concentration");
        assert_eq!(d("L/h"), "clearance or flow");
        assert_eq!(d("1/h"), "rate");
        assert_eq!(d("mg/h"), "mass rate");
        assert_eq!(d("mg*h/L"), "exposure");
        assert_eq!(d("%"), "dimensionless");
        assert_eq!(d("g/mol"), "molar mass");
        assert_eq!(d("m^2"), "area");
        assert_eq!(d("Pa"), "pressure");
        assert_eq!(d("g*mol"), "g·mol");
        // Without the conventional base names only formulas are printed.
        let mut other = UnitTable::new();
        let iu = other.declare_base("IU").expect("room");
        assert_eq!(other.describe_dim(Dim::base(iu)), "IU");
        assert_eq!(other.describe_dim(Dim::NONE), "dimensionless");
        assert_eq!(other.format_dim(Dim::base(5)), "base5");
    }

    #[test]
    fn unit_names() {
        let t = basic();
        let f = |u: &str| t.format_unit(ok(&t, u));
        assert_eq!(f("mg"), "mg");
        assert_eq!(f("ug"), "µg");
        assert_eq!(f("mg/L"), "mg/L");
        assert_eq!(f("ug/mL"), "mg/L");
        assert_eq!(f("L/h"), "L/h");
        assert_eq!(f("1/h"), "1/h");
        assert_eq!(f("mol/L"), "M");
        assert_eq!(f("1"), "1");
        assert_eq!(f("%"), "%");
        assert_eq!(f("mg/g"), "0.001");
        assert_eq!(f("mg*h/L"), "mg·h/L");
        assert_eq!(f("m^2"), "m^2");
        assert_eq!(f("mL/min/kg"), "µL/(g·min)");
        assert_eq!(t.unit_name(ok(&t, "mg/L")), None);
        let kg = t.get("kg").expect("kg");
        assert_eq!(t.unit_name(kg), Some("kg".into()));
        assert_eq!(
            t.unit_name(Unit::new(kg.dim, Rational::int(1000))),
            Some("kg".into())
        );
        // No declared spelling at all: scale and formula.
        let odd = Unit::new(ok(&t, "g").dim, Rational::new(1, 3).expect("ok"));
        assert_eq!(t.format_unit(odd), format!("{} g", 1.0 / 3.0));
        let g_mol = ok(&t, "g*mol");
        assert_eq!(t.format_unit(g_mol.pow(2).expect("ok")), "g^2·mol^2");
    }
}
