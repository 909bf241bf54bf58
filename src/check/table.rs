//! Checking `table` items: rows of plain numbers → a piecewise-linear [`hir::Function`].
//!
//! A table `table f(x: u) -> v { x0: y0, x1: y1, … }` is a function of one argument. Its rows are
//! numbers in the header's units, with strictly increasing `x`. Between two rows the value is
//! interpolated linearly; below the first row it is `y0` and above the last row the last `y`
//! (constant extrapolation, so a lookup never runs away outside the published range). At a row's
//! `x` the value is that row's `y` exactly; a NaN argument gives NaN.
//!
//! The checked table is an ordinary function whose body is a balanced tree of `if x < xk { … }
//! else { … }` over the linear pieces, so everything downstream (the constant evaluator, lowering
//! to the IR with its selects, the JIT, the interpreter) handles it like any other function; the
//! argument is converted exactly to the header's unit at every call, as for a `fn`.

use super::{Checker, hir};
use crate::diagnostic::{Diagnostic, codes};
use crate::source::Span;
use crate::syntax::ast::{self, ExprKind, UnOp};
use crate::units::Unit;

/// A row value read from the source, with where it was written.
#[derive(Debug, Clone, Copy)]
struct Cell {
    value: f64,
    span: Span,
}

impl Checker {
    /// Checks a `table` item, reporting malformed rows (E0033–E0035); `None` when it has errors.
    pub fn check_table(&mut self, t: &ast::TableDecl) -> Option<hir::Function> {
        let xu = self.unit(&t.param.unit);
        let yu = self.unit(&t.ret);
        let mut ok = xu.is_some() && yu.is_some();
        let mut rows: Vec<(Cell, Cell)> = Vec::with_capacity(t.rows.len());
        for r in &t.rows {
            let x = self.table_cell(&r.x, &t.param.unit, "first");
            let y = self.table_cell(&r.y, &t.ret, "second");
            match (x, y) {
                (Some(x), Some(y)) => rows.push((x, y)),
                _ => ok = false,
            }
        }
        if t.rows.len() < 2 {
            let span = t.rows.first().map_or(t.name.span, |r| r.span);
            self.report(
                Diagnostic::error(
                    codes::E0034,
                    format!(
                        "table `{}` has {} row{}; interpolation needs at least 2",
                        t.name.text,
                        t.rows.len(),
                        if t.rows.len() == 1 { "" } else { "s" }
                    ),
                    span,
                )
                .with_label_message(if t.rows.is_empty() { "this table" } else { "the only row" })
                .with_label(t.name.span, "this table")
                .with_help(
                    "add a second row `x: y`; for a constant write a `fn` (`fn f(x: u) -> v = 5 v`)",
                ),
            );
            ok = false;
        }
        for w in rows.windows(2) {
            let ((xa, _), (xb, _)) = (w[0], w[1]);
            if xb.value <= xa.value {
                let what = if xb.value == xa.value {
                    "repeats"
                } else {
                    "is smaller than"
                };
                self.report(
                    Diagnostic::error(
                        codes::E0033,
                        format!(
                            "the rows of table `{}` are not in strictly increasing order: {} {what} the row before it",
                            t.name.text,
                            fmt_num(xb.value)
                        ),
                        xb.span,
                    )
                    .with_label_message("not larger than the row before")
                    .with_label(xa.span, "the previous row")
                    .with_help(
                        "sort the rows by their first column; a jump needs two distinct x values (`4.999: 1, 5: 2`)",
                    ),
                );
                ok = false;
            }
        }
        if ok {
            // Rows so close for their values that the slope overflows would give NaN at the row.
            for w in rows.windows(2) {
                let ((xa, ya), (xb, yb)) = (w[0], w[1]);
                if !((yb.value - ya.value) / (xb.value - xa.value)).is_finite() {
                    self.report(
                        Diagnostic::error(
                            codes::E0034,
                            format!(
                                "the slope between two rows of table `{}` is not a finite number",
                                t.name.text
                            ),
                            xb.span.to(yb.span),
                        )
                        .with_label(xa.span.to(ya.span), "the previous row")
                        .with_help("the rows are too close for the difference of their values; rescale the units of the header"),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let (xu, yu) = (xu?, yu?);
        let slope_unit = match yu.div(xu) {
            Ok(u) => u,
            Err(e) => {
                self.report_unit_error(e.with_span(t.ret.span()));
                return None;
            }
        };
        let pts: Vec<(f64, f64)> = rows.iter().map(|(x, y)| (x.value, y.value)).collect();
        let body = Builder {
            pts: &pts,
            xu,
            yu,
            slope_unit,
            span: t.name.span,
        }
        .tree(0, pts.len());
        Some(hir::Function {
            name: t.name.text.clone(),
            params: vec![(t.param.name.text.clone(), xu)],
            ret: yu,
            body,
        })
    }

    /// Reads one cell of a row: a number without a unit, possibly negated, and finite.
    fn table_cell(&mut self, e: &ast::Expr, unit: &ast::UnitExpr, column: &str) -> Option<Cell> {
        let value = match &e.kind {
            ExprKind::Number { value, unit: None } => value,
            ExprKind::Unary(UnOp::Neg, inner) => {
                let c = self.table_cell(inner, unit, column)?;
                return Some(Cell {
                    value: -c.value,
                    span: e.span,
                });
            }
            ExprKind::Number {
                value,
                unit: Some(u),
            } => {
                self.report(
                    Diagnostic::error(
                        codes::E0035,
                        "a table row holds plain numbers, without units",
                        u.span(),
                    )
                    .with_label_message(format!(
                        "the {column} column is already in `{}` (from the header)",
                        self.units.format_unit(self.units.eval(unit).unwrap_or(Unit::ONE))
                    ))
                    .with_help(format!(
                        "write `{}` and put the unit in the header; convert the row first if it is in another unit",
                        value.text
                    )),
                );
                return None;
            }
            _ => {
                self.report(
                    Diagnostic::error(codes::E0035, "a table row holds plain numbers", e.span)
                        .with_help("write each row as `x: y` with two numbers"),
                );
                return None;
            }
        };
        let v: f64 = value.text.parse().unwrap_or(f64::NAN);
        if !v.is_finite() {
            self.report(
                Diagnostic::error(
                    codes::E0034,
                    format!("`{}` is not a finite number", value.text),
                    value.span,
                )
                .with_label_message("too large for a 64-bit float")
                .with_help("table values must be finite; check the exponent"),
            );
            return None;
        }
        Some(Cell {
            value: v,
            span: e.span,
        })
    }
}

/// A number for messages: as short as Rust prints it.
fn fmt_num(v: f64) -> String {
    format!("{v}")
}

/// Builds the select tree of a table's linear pieces.
struct Builder<'a> {
    pts: &'a [(f64, f64)],
    xu: Unit,
    yu: Unit,
    slope_unit: Unit,
    span: Span,
}

impl Builder<'_> {
    fn mk(&self, kind: hir::ExprKind, ty: hir::Type) -> hir::Expr {
        hir::Expr {
            kind,
            ty,
            span: self.span,
        }
    }

    fn num(&self, v: f64, u: Unit) -> hir::Expr {
        self.mk(hir::ExprKind::Const(v), hir::Type::Num(u))
    }

    fn arg(&self) -> hir::Expr {
        self.mk(
            hir::ExprKind::Sym(hir::Sym::FnArg(0)),
            hir::Type::Num(self.xu),
        )
    }

    /// Piece `k` of `n + 1` (for `n` rows): piece 0 holds below the first row, piece `n` from the
    /// last row on, and piece `k` in between is the segment from row `k - 1` to row `k`.
    fn piece(&self, k: usize) -> hir::Expr {
        let n = self.pts.len();
        if k == 0 {
            return self.num(self.pts[0].1, self.yu);
        }
        if k >= n {
            // y_last + 0 · (x − x_last): y_last for every finite x, and NaN for a NaN argument
            // (which fails every `x < xk` and so always lands here) instead of a silent y_last.
            let (xl, yl) = self.pts[n - 1];
            let dx = self.mk(
                hir::ExprKind::Binary(
                    ast::BinOp::Sub,
                    Box::new(self.arg()),
                    Box::new(self.num(xl, self.xu)),
                ),
                hir::Type::Num(self.xu),
            );
            let zero = self.mk(
                hir::ExprKind::Binary(
                    ast::BinOp::Mul,
                    Box::new(self.num(0.0, self.slope_unit)),
                    Box::new(dx),
                ),
                hir::Type::Num(self.yu),
            );
            return self.mk(
                hir::ExprKind::Binary(
                    ast::BinOp::Add,
                    Box::new(self.num(yl, self.yu)),
                    Box::new(zero),
                ),
                hir::Type::Num(self.yu),
            );
        }
        let (x0, y0) = self.pts[k - 1];
        let (x1, y1) = self.pts[k];
        let slope = (y1 - y0) / (x1 - x0);
        if slope == 0.0 {
            return self.num(y0, self.yu);
        }
        // y0 + slope · (x − x0): exactly y0 at x0.
        let dx = self.mk(
            hir::ExprKind::Binary(
                ast::BinOp::Sub,
                Box::new(self.arg()),
                Box::new(self.num(x0, self.xu)),
            ),
            hir::Type::Num(self.xu),
        );
        let dy = self.mk(
            hir::ExprKind::Binary(
                ast::BinOp::Mul,
                Box::new(self.num(slope, self.slope_unit)),
                Box::new(dx),
            ),
            hir::Type::Num(self.yu),
        );
        self.mk(
            hir::ExprKind::Binary(
                ast::BinOp::Add,
                Box::new(self.num(y0, self.yu)),
                Box::new(dy),
            ),
            hir::Type::Num(self.yu),
        )
    }

    /// The pieces `lo..=hi` as a balanced tree of selects; the boundary between pieces `k - 1`
    /// and `k` is row `k - 1`'s `x` (which belongs to piece `k`).
    fn tree(&self, lo: usize, hi: usize) -> hir::Expr {
        if lo == hi {
            return self.piece(lo);
        }
        let mid = (lo + hi).div_ceil(2);
        let cond = self.mk(
            hir::ExprKind::Binary(
                ast::BinOp::Lt,
                Box::new(self.arg()),
                Box::new(self.num(self.pts[mid - 1].0, self.xu)),
            ),
            hir::Type::Bool,
        );
        self.mk(
            hir::ExprKind::If(
                Box::new(cond),
                Box::new(self.tree(lo, mid - 1)),
                Box::new(self.tree(mid, hi)),
            ),
            hir::Type::Num(self.yu),
        )
    }
}
