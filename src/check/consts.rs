//! Compile-time evaluation of checked expressions that depend on nothing but constants.
//!
//! Used for schedule times, windows, distribution bounds, frequencies and exponents. Returns `None`
//! as soon as anything refers to a per-patient or time-varying value.

use super::hir::{Builtin, Expr, ExprKind};
use crate::syntax::ast::{BinOp, UnOp};

/// The value of `e` in the unit of its type, when it is a compile-time constant.
pub fn eval(e: &Expr) -> Option<f64> {
    Some(match &e.kind {
        ExprKind::Const(v) => *v,
        ExprKind::Bool(b) => f64::from(u8::from(*b)),
        ExprKind::Scale(x, f) => eval(x)? * f.to_f64(),
        ExprKind::Unary(UnOp::Neg, x) => -eval(x)?,
        ExprKind::Unary(UnOp::Not, x) => f64::from(u8::from(eval(x)? == 0.0)),
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (eval(a)?, eval(b)?);
            let t = |c: bool| f64::from(u8::from(c));
            match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::Pow => a.powf(b),
                BinOp::Eq => t(a == b),
                BinOp::Ne => t(a != b),
                BinOp::Lt => t(a < b),
                BinOp::Le => t(a <= b),
                BinOp::Gt => t(a > b),
                BinOp::Ge => t(a >= b),
                BinOp::And => t(a != 0.0 && b != 0.0),
                BinOp::Or => t(a != 0.0 || b != 0.0),
            }
        }
        ExprKind::Builtin(f, args) => {
            let v: Option<Vec<f64>> = args.iter().map(eval).collect();
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
        ExprKind::If(c, a, b) => {
            if eval(c)? != 0.0 {
                eval(a)?
            } else {
                eval(b)?
            }
        }
        _ => return None,
    })
}
