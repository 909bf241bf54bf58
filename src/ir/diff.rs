//! Symbolic differentiation on the builder DAG: the Jacobian `∂f_i/∂y_j` of the right-hand side
//! with its sparsity pattern ([`jacobian`]), and derivatives with respect to one per-patient
//! input ([`wrt_input`], for the forward sensitivity equations of [`super::sensitivity`]).
//!
//! Input: the builder (its hash-consed DAG) and the expressions to differentiate.
//! Output: [`jacobian`]: `(row, col, expr)` for every entry that is not identically zero,
//! row-major with columns ascending; [`wrt_input`]: one optional expression per expression
//! (`None` when the derivative is identically zero). A named parameter is differentiated
//! through its definition (the chain rule over `setup`).
//!
//! Guarantees:
//! - the pattern is *structural*: entry `(i, j)` appears only if `f_i` reaches `y_j` through an
//!   operator with a non-zero derivative; piecewise-constant operators (`floor`, `ceil`,
//!   comparisons, logic) contribute zero, and entries that fold to the literal 0 are dropped;
//! - derivatives are built with the builder's own folding and CSE, so they share
//!   subexpressions with `f` (e.g. `d exp(u) = exp(u)·du` reuses `exp(u)`);
//! - non-smooth points take one side: `d|x|` is `+dx` at `x = 0`, `d min(a, b)` follows `a` when
//!   `a <= b`, `d max(a, b)` follows `a` when `a >= b`; where an outer derivative is infinite
//!   (`x^γ`, `γ < 1`, or `sqrt(x)` at `x = 0`) and the inner one is 0, the product is 0.

use std::collections::HashMap;

use super::builder::{Expr, ModuleBuilder};
use super::ir::{BinOp, Inst, UnOp, Val};

/// The non-zero entries of ∂rhs/∂y as `(row, col, expression)`.
pub fn jacobian(b: &mut ModuleBuilder, rhs: &[Expr]) -> Vec<(u32, u32, Expr)> {
    let deps = deps(b, Var::State);
    let mut d = Differ {
        deps,
        var: Var::State,
        memo: HashMap::new(),
    };
    let mut out = Vec::new();
    for (i, &f) in rhs.iter().enumerate() {
        let cols = d.deps[f.0.index()].clone();
        for j in cols {
            if let Some(e) = d.diff(b, f, j)
                && b.as_const(e) != Some(0.0)
            {
                out.push((i as u32, j, e));
            }
        }
    }
    out
}

/// `∂e/∂u` for every `e` of `exprs`, `u` being per-patient input `input`; named parameters are
/// differentiated through their definitions.
pub fn wrt_input(b: &mut ModuleBuilder, exprs: &[Expr], input: u32) -> Vec<Option<Expr>> {
    let deps = deps(b, Var::Input);
    let mut d = Differ {
        deps,
        var: Var::Input,
        memo: HashMap::new(),
    };
    exprs
        .iter()
        .map(|&e| d.diff(b, e, input).filter(|&x| b.as_const(x) != Some(0.0)))
        .collect()
}

/// What is differentiated against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Var {
    /// A state `y_j`: parameters and inputs are constants.
    State,
    /// A per-patient input `u_j`: parameters depend on it through their definitions.
    Input,
}

/// For every builder node, the sorted set of states (or inputs) it reads.
fn deps(b: &ModuleBuilder, var: Var) -> Vec<Vec<u32>> {
    let mut deps: Vec<Vec<u32>> = Vec::with_capacity(b.insts.len());
    for inst in &b.insts {
        let d = match (var, inst) {
            (Var::State, Inst::State(i)) | (Var::Input, Inst::Input(i)) => vec![*i],
            (Var::Input, Inst::Param(q)) => b
                .param_def(*q)
                .and_then(|e| deps.get(e.0.index()).cloned())
                .unwrap_or_default(),
            _ => {
                let mut acc: Vec<u32> = Vec::new();
                for o in inst.operands() {
                    acc = merge(&acc, &deps[o.index()]);
                }
                acc
            }
        };
        deps.push(d);
    }
    deps
}

fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] < b[j] {
            out.push(a[i]);
            i += 1;
        } else if b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `d`, or 0 where the inner derivative `dx` is 0: the chain-rule product `f'(x)·dx` whose
/// outer factor is infinite at a point (`x^γ` with `γ < 1`, `sqrt(x)`, at `x = 0`) is taken as
/// its limit 0 there rather than NaN. A literal `dx` needs no guard.
fn zero_if_zero(b: &mut ModuleBuilder, dx: Expr, d: Expr) -> Expr {
    if b.as_const(dx).is_some() {
        return d;
    }
    let zero = b.constant(0.0);
    let none = b.eq(dx, zero);
    b.select(none, zero, d)
}

struct Differ {
    deps: Vec<Vec<u32>>,
    var: Var,
    memo: HashMap<(Val, u32), Option<Expr>>,
}

impl Differ {
    /// `∂e/∂y_j`, or `None` when it is identically zero.
    fn diff(&mut self, b: &mut ModuleBuilder, e: Expr, j: u32) -> Option<Expr> {
        if self.deps[e.0.index()].binary_search(&j).is_err() {
            return None;
        }
        if let Some(r) = self.memo.get(&(e.0, j)) {
            return *r;
        }
        let r = self.diff_uncached(b, e, j);
        // Nodes created while differentiating have no entry in `deps`; extend it so that later
        // queries on them (none today, but cheap) stay in range.
        while self.deps.len() < b.insts.len() {
            self.deps.push(Vec::new());
        }
        self.memo.insert((e.0, j), r);
        r
    }

    fn diff_uncached(&mut self, b: &mut ModuleBuilder, e: Expr, j: u32) -> Option<Expr> {
        let inst = b.inst(e);
        match inst {
            Inst::State(i) if self.var == Var::State => (i == j).then(|| b.constant(1.0)),
            Inst::Input(i) if self.var == Var::Input => (i == j).then(|| b.constant(1.0)),
            Inst::Param(q) if self.var == Var::Input => {
                let def = b.param_def(q)?;
                self.diff(b, def, j)
            }
            Inst::State(_) | Inst::Const(_) | Inst::Input(_) | Inst::Param(_) | Inst::Time => None,
            Inst::Unary(op, x) => {
                let x = Expr(x);
                let dx = self.diff(b, x, j)?;
                Some(match op {
                    UnOp::Neg => b.neg(dx),
                    UnOp::Exp => b.mul(dx, e),
                    UnOp::Log => b.div(dx, x),
                    UnOp::Log10 => {
                        let ln10 = b.constant(std::f64::consts::LN_10);
                        let den = b.mul(x, ln10);
                        b.div(dx, den)
                    }
                    UnOp::Sqrt => {
                        let two = b.constant(2.0);
                        let den = b.mul(two, e);
                        let d = b.div(dx, den);
                        zero_if_zero(b, dx, d)
                    }
                    UnOp::Abs => {
                        let zero = b.constant(0.0);
                        let c = b.lt(x, zero);
                        let n = b.neg(dx);
                        b.select(c, n, dx)
                    }
                    UnOp::Floor | UnOp::Ceil | UnOp::Not => return None,
                })
            }
            Inst::PowI(x, n) => {
                let x = Expr(x);
                let dx = self.diff(b, x, j)?;
                let p = b.powi(x, n - 1);
                let nn = b.constant(f64::from(n));
                let k = b.mul(nn, p);
                Some(b.mul(k, dx))
            }
            Inst::Select(c, x, y) => {
                let dx = self.diff(b, Expr(x), j);
                let dy = self.diff(b, Expr(y), j);
                if dx.is_none() && dy.is_none() {
                    return None;
                }
                let zero = b.constant(0.0);
                Some(b.select(Expr(c), dx.unwrap_or(zero), dy.unwrap_or(zero)))
            }
            Inst::Binary(op, x, y) => {
                let (x, y) = (Expr(x), Expr(y));
                let dx = self.diff(b, x, j);
                let dy = self.diff(b, y, j);
                self.diff_binary(b, op, e, x, y, dx, dy)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn diff_binary(
        &mut self,
        b: &mut ModuleBuilder,
        op: BinOp,
        e: Expr,
        x: Expr,
        y: Expr,
        dx: Option<Expr>,
        dy: Option<Expr>,
    ) -> Option<Expr> {
        let zero = b.constant(0.0);
        match op {
            BinOp::Add => match (dx, dy) {
                (Some(a), Some(c)) => Some(b.add(a, c)),
                (a, c) => a.or(c),
            },
            BinOp::Sub => match (dx, dy) {
                (Some(a), Some(c)) => Some(b.sub(a, c)),
                (Some(a), None) => Some(a),
                (None, Some(c)) => Some(b.neg(c)),
                (None, None) => None,
            },
            BinOp::Mul => {
                let t1 = dx.map(|a| b.mul(a, y));
                let t2 = dy.map(|c| b.mul(x, c));
                match (t1, t2) {
                    (Some(a), Some(c)) => Some(b.add(a, c)),
                    (a, c) => a.or(c),
                }
            }
            BinOp::Div => {
                // d(x/y) = dx/y - (x/y)·dy/y
                let t1 = dx.map(|a| b.div(a, y));
                let t2 = dy.map(|c| {
                    let q = b.mul(e, c);
                    b.div(q, y)
                });
                match (t1, t2) {
                    (Some(a), Some(c)) => Some(b.sub(a, c)),
                    (Some(a), None) => Some(a),
                    (None, Some(c)) => Some(b.neg(c)),
                    (None, None) => None,
                }
            }
            BinOp::Pow => {
                // d(x^y) = y·x^(y-1)·dx + x^y·ln(x)·dy
                let t1 = dx.map(|a| {
                    let one = b.constant(1.0);
                    let ym1 = b.sub(y, one);
                    let p = b.pow(x, ym1);
                    let k = b.mul(y, p);
                    let d = b.mul(k, a);
                    zero_if_zero(b, a, d)
                });
                let t2 = dy.map(|c| {
                    let l = b.log(x);
                    let k = b.mul(e, l);
                    b.mul(k, c)
                });
                match (t1, t2) {
                    (Some(a), Some(c)) => Some(b.add(a, c)),
                    (a, c) => a.or(c),
                }
            }
            BinOp::Min | BinOp::Max => {
                if dx.is_none() && dy.is_none() {
                    return None;
                }
                let c = if op == BinOp::Min {
                    b.le(x, y)
                } else {
                    b.ge(x, y)
                };
                Some(b.select(c, dx.unwrap_or(zero), dy.unwrap_or(zero)))
            }
            BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Eq
            | BinOp::Ne
            | BinOp::And
            | BinOp::Or => None,
        }
    }
}
