//! Property and reference tests of the unit algebra over the standard prelude.
//!
//! Input: random products, quotients and powers of prelude units (proptest), and published
//! conversion facts. Output: pass/fail. Guarantees checked: conversions between units of equal
//! dimension round-trip exactly, `Unit` multiplication is commutative and associative, dimensions
//! add under multiplication, division undoes multiplication, integer powers equal repeated
//! multiplication, and the prelude reproduces standard conversion factors exactly.

use proptest::prelude::*;
use std::sync::OnceLock;
use twin::source::FileId;
use twin::syntax::ast;
use twin::syntax::parser::parse_file;
use twin::units::{Rational, Unit, UnitTable, convert_factor, prelude, prelude_table};

fn table() -> &'static UnitTable {
    static TABLE: OnceLock<UnitTable> = OnceLock::new();
    TABLE.get_or_init(|| prelude_table().expect("the prelude evaluates"))
}

/// Prelude units grouped by dimension, each group holding at least two units.
fn groups() -> &'static Vec<Vec<Unit>> {
    static GROUPS: OnceLock<Vec<Vec<Unit>>> = OnceLock::new();
    GROUPS.get_or_init(|| {
        let t = table();
        let mut groups: Vec<Vec<Unit>> = Vec::new();
        for name in t.names() {
            let u = t.get(name).expect("listed names resolve");
            match groups.iter_mut().find(|g| g[0].dim == u.dim) {
                Some(g) => g.push(u),
                None => groups.push(vec![u]),
            }
        }
        groups.retain(|g| g.len() >= 2);
        groups
    })
}

/// Every prelude unit.
fn all_units() -> Vec<Unit> {
    let t = table();
    t.names()
        .map(|n| t.get(n).expect("listed names resolve"))
        .collect()
}

fn any_unit() -> impl Strategy<Value = Unit> {
    let units = all_units();
    (0..units.len()).prop_map(move |i| units[i])
}

/// A pair of (usually different) units with the same dimension.
fn compatible_leaf() -> impl Strategy<Value = (Unit, Unit)> {
    let gs = groups();
    (
        0..gs.len(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(g, a, b)| {
            let group = &gs[g];
            (group[a.index(group.len())], group[b.index(group.len())])
        })
}

/// How two sub-units combine.
#[derive(Clone, Copy, Debug)]
enum Op {
    Mul,
    Div,
}

/// A pair of compatible composite units: the same product/quotient/power structure with each leaf
/// replaced by a unit of the same dimension. `None` if a scale overflows.
fn compatible_pair() -> impl Strategy<Value = Option<(Unit, Unit)>> {
    let leaf = compatible_leaf().prop_map(Some).boxed();
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop_oneof![Just(Op::Mul), Just(Op::Div)]
            )
                .prop_map(|(a, b, op)| {
                    let ((a1, a2), (b1, b2)) = (a?, b?);
                    match op {
                        Op::Mul => Some((a1.mul(b1).ok()?, a2.mul(b2).ok()?)),
                        Op::Div => Some((a1.div(b1).ok()?, a2.div(b2).ok()?)),
                    }
                }),
            (inner, -2i32..=2).prop_map(|(a, n)| {
                let (a1, a2) = a?;
                Some((a1.pow(n).ok()?, a2.pow(n).ok()?))
            }),
        ]
    })
}

/// Evaluates a unit expression written in a parameter's type position.
fn unit(text: &str) -> Unit {
    let src = format!("model X {{\nparam x: {text} = 1\n}}\n");
    let file = parse_file(FileId(0), &src).expect("parses");
    let ast::ItemKind::Model(m) = &file.items[0].kind else {
        panic!("not a model")
    };
    let ast::StmtKind::Param { unit: Some(u), .. } = &m.body[0].kind else {
        panic!("not a parameter with a unit")
    };
    table().eval(u).expect("evaluates")
}

fn q(num: i128, den: i128) -> Rational {
    Rational::new(num, den).expect("valid fraction")
}

/// `1 from == factor to`, exactly.
fn assert_factor(from: &str, to: &str, factor: Rational) {
    assert_eq!(
        convert_factor(unit(from), unit(to)),
        Some(factor),
        "1 {from} in {to}"
    );
}

proptest! {
    #[test]
    fn conversion_round_trips_are_exact(pair in compatible_pair()) {
        let Some((a, b)) = pair else { return Ok(()) };
        prop_assert_eq!(a.dim, b.dim);
        prop_assert_eq!(convert_factor(a, a), Some(Rational::ONE));
        match (convert_factor(a, b), convert_factor(b, a)) {
            (Some(there), Some(back)) => {
                prop_assert_eq!(there.checked_mul(back), Some(Rational::ONE));
                prop_assert_eq!(back.recip(), Some(there));
            }
            // With equal dimensions the only reason for no factor is a scale ratio beyond i128.
            (there, back) => {
                prop_assert!(there.is_none() == a.scale.checked_div(b.scale).is_none());
                prop_assert!(back.is_none() == b.scale.checked_div(a.scale).is_none());
            }
        }
    }

    #[test]
    fn incompatible_units_do_not_convert(a in any_unit(), b in any_unit()) {
        prop_assert_eq!(convert_factor(a, b).is_some(), a.dim == b.dim);
    }

    #[test]
    fn multiplication_is_commutative(a in any_unit(), b in any_unit()) {
        prop_assert_eq!(a.mul(b).ok(), b.mul(a).ok());
    }

    #[test]
    fn multiplication_is_associative(a in any_unit(), b in any_unit(), c in any_unit()) {
        let left = a.mul(b).and_then(|ab| ab.mul(c));
        let right = b.mul(c).and_then(|bc| a.mul(bc));
        prop_assert_eq!(left.ok(), right.ok());
    }

    #[test]
    fn dimensions_add_under_multiplication(a in any_unit(), b in any_unit()) {
        let ab = a.mul(b).expect("prelude products fit");
        for i in 0..ab.dim.0.len() {
            prop_assert_eq!(ab.dim.0[i], a.dim.0[i] + b.dim.0[i]);
        }
        prop_assert_eq!(Some(ab.dim), a.dim.mul(b.dim));
    }

    #[test]
    fn division_undoes_multiplication(a in any_unit(), b in any_unit()) {
        let q = a.div(b).expect("prelude quotients fit");
        prop_assert_eq!(q.mul(b).ok(), Some(a));
        let p = a.mul(b).expect("prelude products fit");
        prop_assert_eq!(p.div(b).ok(), Some(a));
    }

    #[test]
    fn power_is_repeated_multiplication(a in any_unit(), n in 0i32..=3) {
        let mut acc = Unit::ONE;
        for _ in 0..n {
            acc = acc.mul(a).expect("small powers fit");
        }
        prop_assert_eq!(a.pow(n).ok(), Some(acc));
        let inv = a.pow(-n).expect("small powers fit");
        prop_assert_eq!(inv.mul(acc).ok(), Some(Unit::ONE));
    }

    #[test]
    fn format_unit_reads_back_as_the_same_unit(pair in compatible_pair()) {
        let Some((a, _)) = pair else { return Ok(()) };
        let text = table().format_unit(a);
        // Texts that start with a scale (`0.001`, `3.5 g`) are not unit expressions.
        if !text.starts_with(|c: char| c.is_ascii_digit()) || text.starts_with("1/") || text == "1" {
            prop_assert_eq!(unit(&text), a, "{}", text);
        }
    }
}

#[test]
fn the_prelude_parses() {
    let file = parse_file(FileId(0), prelude()).expect("the prelude parses");
    assert!(
        file.items
            .iter()
            .all(|i| matches!(i.kind, ast::ItemKind::Unit(_)))
    );
}

#[test]
fn published_conversions() {
    assert_factor("mg/L", "µg/mL", Rational::ONE);
    assert_factor("mg/L", "ug/mL", Rational::ONE);
    assert_factor("L/h", "mL/min", q(1000, 60));
    assert_factor("week", "s", Rational::int(604_800));
    assert_factor("mmHg", "Pa", q(133_322, 1000));
    assert_factor("nM", "mol/L", q(1, 1_000_000_000));
    assert_factor("ng*h/mL", "µg*h/L", Rational::ONE);
    assert_factor("ng·h/mL", "μg·h/L", Rational::ONE);
    assert_factor("%", "1", q(1, 100));
    assert_factor("kPa", "mmHg", q(1_000_000, 133_322));
    assert_factor("kg", "g", Rational::int(1000));
    assert_factor("dL", "mL", Rational::int(100));
    assert_factor("year", "d", q(1461, 4));
    assert_factor("month", "d", q(487, 16));
    assert_factor("mM", "µmol/mL", Rational::ONE);
    assert_factor("mL/min/kg", "L/h/kg", q(60, 1000));
}

#[test]
fn friendly_text() {
    let t = table();
    assert_eq!(t.format_unit(unit("ug/mL")), "mg/L");
    assert_eq!(t.format_unit(unit("L/h")), "L/h");
    assert_eq!(t.format_unit(unit("ng*h/mL")), "µg·h/L");
    assert_eq!(t.describe_dim(unit("ng*h/mL").dim), "exposure");
    assert_eq!(t.describe_dim(unit("mL/min").dim), "clearance or flow");
    assert_eq!(t.format_dim(unit("mg/L").dim), "g/m^3");
    assert_eq!(t.format_dim(unit("1/h").dim), "1/s");
    assert_eq!(t.format_dim(unit("L/h").dim), "m^3/s");
    assert_eq!(t.format_dim(Unit::ONE.dim), "1");
}
