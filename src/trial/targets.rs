//! Target ranges and thresholds that a trial's endpoints put on its observables, for plots.
//!
//! An endpoint names a target on an observable `x` when it is (anywhere inside the endpoint):
//!
//! - `time_in(x, low, high)`: the range [low, high];
//! - `time_above(x, t)` / `time_below(x, t)`: the threshold t (a lower / an upper bound);
//! - a comparison of `x` with a constant inside `fraction_of_time` or `first_time`
//!   (`x > t`, `t >= x`, …); an `and` of a lower and an upper bound of the same observable is the
//!   range between them (`fraction_of_time(inr >= 2 and inr <= 3)`);
//! - a comparison with a constant of a summary in the unit of `x`: `max`, `min`, `mean`, `value`
//!   or `trough` of `x` (`min(anc) < 0.5 Gcell/L`).
//!
//! `x` is a model observable, or a `let` or state that an observable shows (`observe conc`).
//! Bounds that are not constants (a covariate, a param) differ between patients and are left out,
//! as are summaries in other units (`auc`, times). Every bound is converted to the observable's
//! unit, the unit of its column in `trajectories.csv` and `bands.csv`: `0.5 Gcell/L` on an
//! observable in `cell/µL` is 500, never 0.5.

use crate::check::consts;
use crate::check::hir::{self, Aggregate, ExprKind, Sym, Type};
use crate::syntax::ast::BinOp;
use crate::units::Unit;

/// A target of one endpoint on one observable, in the observable's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The endpoint's name.
    pub endpoint: String,
    /// The observable (index into the model's observables).
    pub observable: usize,
    /// Lower bound: values above it are on target (`None`: no lower bound).
    pub low: Option<f64>,
    /// Upper bound: values below it are on target (`None`: no upper bound).
    pub high: Option<f64>,
}

/// A bound found in an expression: the observed symbol, the value and the unit it is in, and
/// whether it bounds from below.
#[derive(Debug, Clone, Copy)]
struct Bound {
    sym: Sym,
    value: f64,
    unit: Unit,
    lower: bool,
}

/// The targets of every endpoint of `trial` (whose model is `model`), endpoint by endpoint, each
/// once.
pub fn targets(trial: &hir::Trial, model: &hir::Model) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for e in &trial.endpoints {
        let mut found = Vec::new();
        walk(&e.value, &mut found);
        for (sym, low, high) in found {
            for (o, obs) in model.observables.iter().enumerate() {
                if sym != Sym::Observable(o) && !shows(obs, sym) {
                    continue;
                }
                let Type::Num(to) = obs.value.ty else {
                    continue;
                };
                let conv = |b: Option<(f64, Unit)>| -> Result<Option<f64>, ()> {
                    match b {
                        None => Ok(None),
                        Some((v, u)) => convert(v, u, to).map(Some).ok_or(()),
                    }
                };
                let (Ok(low), Ok(high)) = (conv(low), conv(high)) else {
                    continue;
                };
                let t = Target {
                    endpoint: e.name.clone(),
                    observable: o,
                    low,
                    high,
                };
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

type Found = (Sym, Option<(f64, Unit)>, Option<(f64, Unit)>);

/// Whether observable `o` shows `sym`: it is the observable, or the observable's value is `sym`
/// (possibly converted to another unit).
fn shows(o: &hir::Observable, sym: Sym) -> bool {
    match sym {
        Sym::Observable(_) => false,
        _ => strip(&o.value).kind == ExprKind::Sym(sym),
    }
}

/// `e` without unit conversions around it.
fn strip(e: &hir::Expr) -> &hir::Expr {
    match &e.kind {
        ExprKind::Scale(x, _) => strip(x),
        _ => e,
    }
}

/// `v` in unit `from` expressed in unit `to` (same dimension), rounded to 15 significant digits
/// so that the binary rounding of the conversion does not show; `None` across dimensions.
fn convert(v: f64, from: Unit, to: Unit) -> Option<f64> {
    if from.dim != to.dim || !v.is_finite() {
        return None;
    }
    let f = from.scale.checked_div(to.scale)?;
    let x = v * f.numer() as f64 / f.denom() as f64;
    format!("{x:.14e}")
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

/// A constant's value and unit.
fn constant(e: &hir::Expr) -> Option<(f64, Unit)> {
    let Type::Num(u) = e.ty else { return None };
    consts::eval(e).map(|v| (v, u))
}

/// `a OP b` as a bound on the symbol `side` picks out of one operand, the other a constant.
fn comparison(
    op: BinOp,
    a: &hir::Expr,
    b: &hir::Expr,
    side: &dyn Fn(&hir::Expr) -> Option<Sym>,
) -> Option<Bound> {
    // x > t and t < x bound x from below.
    let (sym, (value, unit), lower) = match (side(a), side(b)) {
        (Some(s), None) => (s, constant(b)?, matches!(op, BinOp::Gt | BinOp::Ge)),
        (None, Some(s)) => (s, constant(a)?, matches!(op, BinOp::Lt | BinOp::Le)),
        _ => return None,
    };
    Some(Bound {
        sym,
        value,
        unit,
        lower,
    })
}

fn is_order(op: BinOp) -> bool {
    matches!(op, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
}

/// The symbol of a time course: a bare observable, `let` or state.
fn course(e: &hir::Expr) -> Option<Sym> {
    match strip(e).kind {
        ExprKind::Sym(s @ (Sym::Observable(_) | Sym::Let(_) | Sym::State(_))) => Some(s),
        _ => None,
    }
}

/// The time course a summary in its unit reads: `max(x)`, `min(x)`, `mean(x)`, `value(x, t)`,
/// `trough(x, t)`.
fn summary_of(e: &hir::Expr) -> Option<Sym> {
    match &strip(e).kind {
        ExprKind::Aggregate {
            kind:
                Aggregate::Max | Aggregate::Min | Aggregate::Mean | Aggregate::Value | Aggregate::Trough,
            args,
            ..
        } => course(args.first()?),
        _ => None,
    }
}

/// Bounds on time courses inside a condition: comparisons, and `and`s of a lower and an upper
/// bound of one course (a range).
fn condition(e: &hir::Expr, out: &mut Vec<Found>) {
    match &e.kind {
        ExprKind::Binary(op, a, b) if is_order(*op) => {
            if let Some(bd) = comparison(*op, a, b, &course) {
                out.push(single(bd));
            }
        }
        ExprKind::Binary(BinOp::And, a, b) => {
            let pair = |x: &hir::Expr| match &x.kind {
                ExprKind::Binary(op, l, r) if is_order(*op) => comparison(*op, l, r, &course),
                _ => None,
            };
            match (pair(a), pair(b)) {
                (Some(x), Some(y)) if x.sym == y.sym && x.lower != y.lower => {
                    let (lo, hi) = if x.lower { (x, y) } else { (y, x) };
                    out.push((lo.sym, Some((lo.value, lo.unit)), Some((hi.value, hi.unit))));
                }
                _ => {
                    condition(a, out);
                    condition(b, out);
                }
            }
        }
        ExprKind::Binary(BinOp::Or, a, b) => {
            condition(a, out);
            condition(b, out);
        }
        ExprKind::Unary(_, x) => condition(x, out),
        _ => {}
    }
}

fn single(b: Bound) -> Found {
    let v = Some((b.value, b.unit));
    if b.lower {
        (b.sym, v, None)
    } else {
        (b.sym, None, v)
    }
}

/// Every target inside an endpoint expression.
fn walk(e: &hir::Expr, out: &mut Vec<Found>) {
    match &e.kind {
        ExprKind::Aggregate { kind, args, .. } => {
            let arg = |k: usize| args.get(k).and_then(constant);
            match kind {
                Aggregate::TimeIn => {
                    if let (Some(s), Some(lo), Some(hi)) =
                        (args.first().and_then(course), arg(1), arg(2))
                    {
                        out.push((s, Some(lo), Some(hi)));
                    }
                }
                Aggregate::TimeAbove | Aggregate::TimeBelow => {
                    if let (Some(s), Some(t)) = (args.first().and_then(course), arg(1)) {
                        out.push(if *kind == Aggregate::TimeAbove {
                            (s, Some(t), None)
                        } else {
                            (s, None, Some(t))
                        });
                    }
                }
                Aggregate::FractionOfTime | Aggregate::FirstTime => {
                    if let Some(c) = args.first() {
                        condition(c, out);
                    }
                }
                _ => {}
            }
        }
        ExprKind::Binary(op, a, b) => {
            if is_order(*op)
                && let Some(bd) = comparison(*op, a, b, &summary_of)
            {
                out.push(single(bd));
            }
            walk(a, out);
            walk(b, out);
        }
        ExprKind::Scale(x, _) | ExprKind::Unary(_, x) => walk(x, out),
        ExprKind::If(c, a, b) => {
            walk(c, out);
            walk(a, out);
            walk(b, out);
        }
        ExprKind::Builtin(_, args) | ExprKind::Call(_, args) => {
            args.iter().for_each(|a| walk(a, out))
        }
        ExprKind::Switch { arms, .. } => arms.iter().for_each(|a| walk(a, out)),
        _ => {}
    }
}
