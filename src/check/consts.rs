//! Evaluation of checked expressions outside the compiled model: compile-time constants
//! ([`eval`]), and per-patient or per-trajectory values where the caller supplies the leaves
//! ([`eval_in`]: covariates, genotypes, params, endpoint aggregates).
//!
//! [`eval`] returns `None` as soon as anything refers to a per-patient or time-varying value.

use super::hir::{Builtin, Expr, ExprKind, Function, Sym};
use crate::syntax::ast::{BinOp, UnOp};

/// Supplies the values an expression refers to.
pub trait Leaves {
    /// The value of a symbol (`None` when it has none here).
    fn sym(&mut self, s: Sym) -> Option<f64>;
    /// The value of an aggregate node (endpoints only).
    fn aggregate(&mut self, _e: &Expr) -> Option<f64> {
        None
    }
}

struct NoLeaves;

impl Leaves for NoLeaves {
    fn sym(&mut self, _s: Sym) -> Option<f64> {
        None
    }
}

/// The value of `e` in the unit of its type, when it is a compile-time constant.
pub fn eval(e: &Expr) -> Option<f64> {
    eval_in(e, &[], &mut NoLeaves)
}

/// The value of `e` with symbols and aggregates from `leaves`; calls are inlined from `fns`.
pub fn eval_in(e: &Expr, fns: &[Function], leaves: &mut dyn Leaves) -> Option<f64> {
    Evaluator {
        fns,
        leaves,
        args: Vec::new(),
    }
    .eval(e)
}

struct Evaluator<'a> {
    fns: &'a [Function],
    leaves: &'a mut dyn Leaves,
    args: Vec<Vec<f64>>,
}

fn truth(c: bool) -> f64 {
    f64::from(u8::from(c))
}

impl Evaluator<'_> {
    fn eval(&mut self, e: &Expr) -> Option<f64> {
        Some(match &e.kind {
            ExprKind::Const(v) => *v,
            ExprKind::Bool(b) => truth(*b),
            ExprKind::Category(l) => *l as f64,
            ExprKind::Sym(Sym::FnArg(i)) => *self.args.last()?.get(*i)?,
            ExprKind::Sym(s) => self.leaves.sym(*s)?,
            ExprKind::Aggregate { .. } => self.leaves.aggregate(e)?,
            ExprKind::Scale(x, f) => self.eval(x)? * f.to_f64(),
            ExprKind::Unary(UnOp::Neg, x) => -self.eval(x)?,
            ExprKind::Unary(UnOp::Not, x) => truth(self.eval(x)? == 0.0),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Pow => a.powf(b),
                    BinOp::Eq => truth(a == b),
                    BinOp::Ne => truth(a != b),
                    BinOp::Lt => truth(a < b),
                    BinOp::Le => truth(a <= b),
                    BinOp::Gt => truth(a > b),
                    BinOp::Ge => truth(a >= b),
                    BinOp::And => truth(a != 0.0 && b != 0.0),
                    BinOp::Or => truth(a != 0.0 || b != 0.0),
                }
            }
            ExprKind::Builtin(f, args) => {
                let v: Option<Vec<f64>> = args.iter().map(|a| self.eval(a)).collect();
                let v = v?;
                let x = *v.first()?;
                match f {
                    Builtin::Exp => x.exp(),
                    Builtin::Log => x.ln(),
                    Builtin::Log10 => x.log10(),
                    Builtin::Sqrt => x.sqrt(),
                    Builtin::Abs => x.abs(),
                    Builtin::Floor => x.floor(),
                    Builtin::Ceil => x.ceil(),
                    Builtin::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
                    Builtin::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    Builtin::Pow => x.powf(*v.get(1)?),
                    Builtin::Hill => {
                        let (x50, n) = (*v.get(1)?, *v.get(2)?);
                        let r = (x / x50).powf(n);
                        r / (1.0 + r)
                    }
                    Builtin::Logit => (x / (1.0 - x)).ln(),
                    Builtin::Expit => 1.0 / (1.0 + (-x).exp()),
                }
            }
            ExprKind::Call(f, args) => {
                let v: Option<Vec<f64>> = args.iter().map(|a| self.eval(a)).collect();
                let body = &self.fns.get(*f)?.body;
                self.args.push(v?);
                let r = self.eval(body);
                self.args.pop();
                r?
            }
            ExprKind::If(c, a, b) => {
                if self.eval(c)? != 0.0 {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            ExprKind::Switch {
                genotype,
                table,
                arms,
            } => {
                let d = self.leaves.sym(Sym::Genotype(*genotype))?;
                let arm = *table.get(d as usize)?;
                self.eval(arms.get(arm)?)?
            }
            ExprKind::Error => return None,
        })
    }
}
