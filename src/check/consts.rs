//! Evaluation of checked expressions outside the compiled model: compile-time constants
//! ([`eval`]), and per-patient or per-trajectory values where the caller supplies the leaves
//! ([`eval_in`]: covariates, genotypes, params, endpoint aggregates).
//!
//! The operators have exactly the semantics lowering gives them in the IR (booleans are 1/0,
//! `hill` is `(x/x50)^n / (1 + (x/x50)^n)`), so a value computed here equals the compiled one.

use super::hir::{Builtin, Expr, ExprKind, Function, Sym};
use crate::source::Span;
use crate::syntax::ast::{BinOp, UnOp};

/// Why a value could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// What went wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

impl EvalError {
    /// An error at `span`.
    pub fn new(message: impl Into<String>, span: Span) -> EvalError {
        EvalError {
            message: message.into(),
            span,
        }
    }
}

/// Supplies the values an expression refers to.
pub trait Leaves {
    /// The value of a symbol written at `span`. Implementations may evaluate other expressions
    /// (a param's definition) by calling [`eval_in`] with `self`.
    fn sym(&mut self, s: Sym, span: Span) -> Result<f64, EvalError>;
    /// The value of an aggregate node (endpoints only).
    fn aggregate(&mut self, e: &Expr) -> Result<f64, EvalError> {
        Err(EvalError::new(
            "a time-course summary is only known in an endpoint",
            e.span,
        ))
    }
}

struct NoLeaves;

impl Leaves for NoLeaves {
    fn sym(&mut self, _s: Sym, span: Span) -> Result<f64, EvalError> {
        Err(EvalError::new("not a constant", span))
    }
}

/// The value of `e` in the unit of its type, when it is a compile-time constant.
pub fn eval(e: &Expr) -> Option<f64> {
    eval_in(e, &[], &mut NoLeaves).ok()
}

/// The value of `e` with symbols and aggregates from `leaves`; calls are inlined from `fns`.
pub fn eval_in(e: &Expr, fns: &[Function], leaves: &mut dyn Leaves) -> Result<f64, EvalError> {
    Evaluator {
        fns,
        leaves,
        args: Vec::new(),
    }
    .eval(e)
}

/// The builtin functions on numbers (`None` when arguments are missing).
pub fn builtin(f: Builtin, v: &[f64]) -> Option<f64> {
    let x = *v.first()?;
    Some(match f {
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
            let r = (x / *v.get(1)?).powf(*v.get(2)?);
            r / (1.0 + r)
        }
        Builtin::Logit => (x / (1.0 - x)).ln(),
        Builtin::Expit => 1.0 / (1.0 + (-x).exp()),
    })
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
    fn eval(&mut self, e: &Expr) -> Result<f64, EvalError> {
        let err = |m: &str| EvalError::new(m, e.span);
        Ok(match &e.kind {
            ExprKind::Const(v) => *v,
            ExprKind::Bool(b) => truth(*b),
            ExprKind::Category(l) => *l as f64,
            ExprKind::Sym(Sym::FnArg(i)) => *self
                .args
                .last()
                .and_then(|a| a.get(*i))
                .ok_or_else(|| err("function argument out of range"))?,
            ExprKind::Sym(s) => self.leaves.sym(*s, e.span)?,
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
                let v = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<f64>, _>>()?;
                builtin(*f, &v)
                    .ok_or_else(|| err(&format!("`{}` has too few arguments", f.name())))?
            }
            ExprKind::Call(f, args) => {
                let v = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<f64>, _>>()?;
                let body = &self
                    .fns
                    .get(*f)
                    .ok_or_else(|| err("call of an unknown function"))?
                    .body;
                self.args.push(v);
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
                let d = self.leaves.sym(Sym::Genotype(*genotype), e.span)?;
                let arm = (d >= 0.0 && d.fract() == 0.0)
                    .then_some(d as usize)
                    .and_then(|i| table.get(i))
                    .and_then(|&a| arms.get(a));
                let arm = arm.ok_or_else(|| err(&format!("no diplotype with index {d}")))?;
                self.eval(arm)?
            }
            ExprKind::Error => {
                return Err(err("this expression has an error (reported when checking)"));
            }
        })
    }
}
