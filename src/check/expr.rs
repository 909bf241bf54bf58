//! Expression checking: AST expressions → typed [`hir::Expr`]s with units.
//!
//! Every rule of the unit algebra lives here: sums and comparisons need equal dimensions (the right
//! operand is converted to the left's unit), products multiply units, powers of dimensioned values
//! need constant integer exponents, math functions need dimensionless arguments, calls convert
//! arguments to the declared parameter units. Genotype `match`es become per-diplotype tables and
//! are checked for exhaustiveness.

use super::hir::{self, Aggregate, Builtin, ExprKind, Sym, Type};
use super::{Checker, Global, Scope, consts, error_expr};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::source::Span;
use crate::syntax::ast::{self, BinOp, UnOp};
use crate::units::{Dim, Rational, Unit};

fn mk(kind: ExprKind, ty: Type, span: Span) -> hir::Expr {
    hir::Expr { kind, ty, span }
}

/// What a `match` scrutinee ranges over.
enum Cases {
    Diplotypes(usize),
    Phenotypes(usize),
    Levels(usize),
}

impl Checker {
    /// Converts a numeric expression to `target` (same dimension), inserting a scale node if needed.
    pub fn convert(&self, e: hir::Expr, target: Unit) -> hir::Expr {
        let Type::Num(u) = e.ty else { return e };
        if u.scale == target.scale {
            return hir::Expr {
                ty: Type::Num(target),
                ..e
            };
        }
        let factor = u.scale.checked_div(target.scale).unwrap_or(Rational::ONE);
        let span = e.span;
        // Fold scale factors of literals right away; they are exact rationals either way.
        mk(
            ExprKind::Scale(Box::new(e), factor),
            Type::Num(target),
            span,
        )
    }

    /// Checks `e` and converts it to `target`, reporting a dimension mismatch with `code`.
    pub fn expect_unit(
        &mut self,
        e: &ast::Expr,
        target: Unit,
        code: &'static str,
        what: &str,
    ) -> hir::Expr {
        let h = self.expr(e);
        self.coerce(h, target, code, what)
    }

    /// Converts a checked expression to `target`, reporting a dimension mismatch with `code`.
    pub fn coerce(
        &mut self,
        h: hir::Expr,
        target: Unit,
        code: &'static str,
        what: &str,
    ) -> hir::Expr {
        match h.ty {
            Type::Num(u) if u.dim == target.dim => self.convert(h, target),
            Type::Error => h,
            other => {
                let d = Diagnostic::error(
                    code,
                    format!(
                        "{what} must be in {}, found {}",
                        self.describe(target),
                        self.describe_type(other)
                    ),
                    h.span,
                )
                .with_label_message(format!("this is {}", self.describe_type(other)));
                let d = match other {
                    Type::Num(u) => d.with_help(self.conversion_help(u, target)),
                    _ => d,
                };
                self.report(d);
                error_expr(h.span)
            }
        }
    }

    /// A help line explaining how to get from one unit to another.
    pub fn conversion_help(&self, from: Unit, to: Unit) -> String {
        let Some(ratio) = to.dim.div(from.dim) else {
            return "the dimensions differ".into();
        };
        // The exact ratio of the two units (`1/L` from `mg` to `mg/L`) prints by a familiar name,
        // where the ratio of SI base units would print as e.g. `mM/mol`; if the exact ratio has no
        // name (it would print as `1000000 1/m^6`), the SI ratio is clearer.
        let si_ratio = Unit {
            dim: ratio,
            scale: Rational::ONE,
        };
        let ratio_unit = to
            .div(from)
            .ok()
            .filter(|r| !self.units.format_unit(*r).contains(' '))
            .unwrap_or(si_ratio);
        let mass = self.units.get("g").map(|u| u.dim);
        let amount = self.units.get("mol").map(|u| u.dim);
        if let (Some(m), Some(a)) = (mass, amount)
            && let Some(r) = m.div(a)
            && (ratio == r || Some(ratio) == r.recip())
        {
            return "mass and amount convert through a molecular weight: declare `molecular_weight = … g/mol` in the model".into();
        }
        format!(
            "multiply by a quantity in {} to get there (dimensions differ by {})",
            self.units.format_unit(ratio_unit),
            self.units.describe_dim(ratio)
        )
    }

    fn num_unit(&mut self, e: &hir::Expr) -> Option<Unit> {
        match e.ty {
            Type::Num(u) => Some(u),
            Type::Error => None,
            other => {
                let d = Diagnostic::error(
                    codes::E0019,
                    format!("expected a number, found {}", self.describe_type(other)),
                    e.span,
                )
                .with_label_message("not a number");
                let d = match other {
                    Type::Genotype(_) => d.with_help(
                        "use `match` on a genotype, or `activity(g)` for its activity score",
                    ),
                    Type::Bool => d.with_help(
                        "use `if cond { a } else { b }` to turn a condition into a number",
                    ),
                    _ => d,
                };
                self.report(d);
                None
            }
        }
    }

    pub(super) fn expect_bool(&mut self, e: hir::Expr) -> hir::Expr {
        match e.ty {
            Type::Bool | Type::Error => e,
            other => {
                self.report(
                    Diagnostic::error(
                        codes::E0019,
                        format!("expected a condition, found {}", self.describe_type(other)),
                        e.span,
                    )
                    .with_label_message("not true/false")
                    .with_help("compare it, e.g. `x > 1 mg/L`"),
                );
                error_expr(e.span)
            }
        }
    }

    /// Converts a dimensionless value to plain numbers (scale 1), reporting dimensioned values.
    pub fn dimensionless(&mut self, e: hir::Expr, why: &str) -> hir::Expr {
        match e.ty {
            Type::Num(u) if u.dim.is_dimensionless() => self.convert(e, Unit::ONE),
            Type::Error => e,
            Type::Num(u) => {
                let d = Diagnostic::error(
                    codes::E0014,
                    format!("{why} must be dimensionless, found {}", self.describe(u)),
                    e.span,
                )
                .with_label_message(format!("this is {}", self.describe(u)))
                .with_help("divide by a reference value of the same unit, e.g. `(weight / 70 kg)`");
                self.report(d);
                error_expr(e.span)
            }
            other => {
                self.report(Diagnostic::error(
                    codes::E0019,
                    format!(
                        "{why} must be a number, found {}",
                        self.describe_type(other)
                    ),
                    e.span,
                ));
                error_expr(e.span)
            }
        }
    }

    /// Checks an expression, refusing one nested deeper than [`super::MAX_DEPTH`] (reported once
    /// per outermost expression).
    pub fn expr(&mut self, e: &ast::Expr) -> hir::Expr {
        if self.depth >= super::MAX_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.report(
                    Diagnostic::error(
                        codes::E0029,
                        format!(
                            "this expression is nested too deeply (more than {} levels)",
                            super::MAX_DEPTH
                        ),
                        e.span,
                    )
                    .with_label_message("the limit is reached here")
                    .with_help("split it into several `let`s"),
                );
            }
            return error_expr(e.span);
        }
        self.depth += 1;
        let h = self.expr_unguarded(e);
        self.depth -= 1;
        if self.depth == 0 {
            self.too_deep = false;
        }
        h
    }

    fn expr_unguarded(&mut self, e: &ast::Expr) -> hir::Expr {
        let span = e.span;
        match &e.kind {
            ast::ExprKind::Number { value, unit } => {
                let v: f64 = value.text.parse().unwrap_or(f64::NAN);
                let u = match unit {
                    None => Unit::ONE,
                    Some(u) => match self.unit(u) {
                        Some(u) => u,
                        None => return error_expr(span),
                    },
                };
                mk(ExprKind::Const(v), Type::Num(u), span)
            }
            ast::ExprKind::Bool(b) => mk(ExprKind::Bool(*b), Type::Bool, span),
            ast::ExprKind::Str(_) => mk(ExprKind::Error, Type::Str, span),
            ast::ExprKind::Path(p) => self.path(p),
            ast::ExprKind::Unary(op, x) => {
                let x = self.expr(x);
                match op {
                    UnOp::Neg => match self.num_unit(&x) {
                        Some(u) => mk(ExprKind::Unary(UnOp::Neg, Box::new(x)), Type::Num(u), span),
                        None => error_expr(span),
                    },
                    UnOp::Not => {
                        let x = self.expect_bool(x);
                        if x.ty == Type::Error {
                            return error_expr(span);
                        }
                        mk(ExprKind::Unary(UnOp::Not, Box::new(x)), Type::Bool, span)
                    }
                }
            }
            ast::ExprKind::Binary(op, a, b) => self.binary(*op, a, b, span),
            ast::ExprKind::Call(c) => self.call(c),
            ast::ExprKind::If(c, a, b) => {
                let c = self.expr(c);
                let c = self.expect_bool(c);
                let a = self.expr(a);
                let b = self.expr(b);
                match (a.ty, b.ty) {
                    (Type::Error, _) | (_, Type::Error) => error_expr(span),
                    (Type::Bool, Type::Bool) => mk(
                        ExprKind::If(Box::new(c), Box::new(a), Box::new(b)),
                        Type::Bool,
                        span,
                    ),
                    (Type::Num(ua), Type::Num(ub)) if ua.dim == ub.dim => {
                        let b = self.convert(b, ua);
                        mk(
                            ExprKind::If(Box::new(c), Box::new(a), Box::new(b)),
                            Type::Num(ua),
                            span,
                        )
                    }
                    (ta, tb) => {
                        self.mismatch("the branches of `if`", &a, ta, &b, tb);
                        error_expr(span)
                    }
                }
            }
            ast::ExprKind::Match(scrut, arms) => self.match_expr(scrut, arms, span),
            ast::ExprKind::Phenotype(x) => {
                let x = self.expr(x);
                match (x.ty, &x.kind) {
                    (Type::Genotype(g), ExprKind::Sym(Sym::Genotype(_))) => {
                        if self
                            .program
                            .genes
                            .get(g)
                            .is_some_and(|g| g.phenotypes.is_empty())
                        {
                            let name = self.program.genes[g].name.clone();
                            self.report(
                                Diagnostic::error(
                                    codes::E0026,
                                    format!("gene `{name}` defines no phenotype classes"),
                                    span,
                                )
                                .with_help(
                                    "add `phenotype NAME when activity …` rules to the gene",
                                ),
                            );
                            return error_expr(span);
                        }
                        mk(x.kind, Type::Phenotype(g), span)
                    }
                    (Type::Error, _) => error_expr(span),
                    (t, _) => {
                        self.report(
                            Diagnostic::error(
                                codes::E0019,
                                format!(
                                    "`phenotype` takes a genotype, found {}",
                                    self.describe_type(t)
                                ),
                                x.span,
                            )
                            .with_label_message("not a genotype variable"),
                        );
                        error_expr(span)
                    }
                }
            }
            ast::ExprKind::Activity(None) => {
                if matches!(self.scope, Scope::Gene) {
                    mk(ExprKind::Sym(Sym::GeneActivity), Type::Num(Unit::ONE), span)
                } else {
                    self.report(
                        Diagnostic::error(
                            codes::E0004,
                            "bare `activity` is only meaningful inside a `gene` block",
                            span,
                        )
                        .with_help("write `activity(g)` for the activity score of genotype `g`"),
                    );
                    error_expr(span)
                }
            }
            ast::ExprKind::Activity(Some(x)) => {
                let x = self.expr(x);
                match (x.ty, &x.kind) {
                    (Type::Genotype(g), ExprKind::Sym(Sym::Genotype(var))) => {
                        let var = *var;
                        let gene = &self.program.genes[g];
                        let mut arms = Vec::new();
                        for d in 0..gene.diplotypes.len() {
                            match gene.activity(d) {
                                Some(a) => {
                                    arms.push(mk(ExprKind::Const(a), Type::Num(Unit::ONE), span))
                                }
                                None => {
                                    let name = gene.name.clone();
                                    self.report(
                                        Diagnostic::error(codes::E0026, format!("gene `{name}` has alleles without an activity value"), span)
                                            .with_help("give every allele `activity <value>` in the gene declaration"),
                                    );
                                    return error_expr(span);
                                }
                            }
                        }
                        let table = (0..arms.len()).collect();
                        mk(
                            ExprKind::Switch {
                                genotype: var,
                                table,
                                arms,
                            },
                            Type::Num(Unit::ONE),
                            span,
                        )
                    }
                    (Type::Error, _) => error_expr(span),
                    (t, _) => {
                        self.report(
                            Diagnostic::error(
                                codes::E0019,
                                format!(
                                    "`activity` takes a genotype, found {}",
                                    self.describe_type(t)
                                ),
                                x.span,
                            )
                            .with_label_message("not a genotype variable"),
                        );
                        error_expr(span)
                    }
                }
            }
            ast::ExprKind::Window(_, _) => {
                self.report(
                    Diagnostic::error(
                        codes::E0028,
                        "a time window only makes sense as an endpoint argument",
                        span,
                    )
                    .with_help("use it in an endpoint, e.g. `auc(conc, from 0 h to 24 h)`"),
                );
                error_expr(span)
            }
            ast::ExprKind::List(_) => {
                self.report(
                    Diagnostic::error(codes::E0019, "a list is not a value here", span)
                        .with_help("lists are for `sample at [...]` and `bins [...]`"),
                );
                error_expr(span)
            }
        }
    }

    /// Reports two operands whose types do not fit together.
    pub fn mismatch(&mut self, what: &str, a: &hir::Expr, ta: Type, b: &hir::Expr, tb: Type) {
        let mut d = Diagnostic::error(
            codes::E0007,
            format!(
                "{what} have incompatible units: {} and {}",
                self.describe_type(ta),
                self.describe_type(tb)
            ),
            a.span.to(b.span),
        )
        .with_label_message("these cannot be combined")
        .with_label(a.span, format!("this is {}", self.describe_type(ta)))
        .with_label(b.span, format!("this is {}", self.describe_type(tb)));
        if let (Type::Num(ua), Type::Num(ub)) = (ta, tb) {
            d = d.with_help(self.conversion_help(ub, ua));
        }
        self.report(d);
    }

    /// `x / 120 mL/min` reads as one quantity but parses as `(x / 120 mL) / min`: a unit name
    /// written right after the `/` that follows a divisor with a unit (no space before the
    /// `/`) is E0046, with both readings spelled out.
    fn unit_after_divisor(
        &self,
        a: &ast::Expr,
        b: &ast::Expr,
        hb: &hir::Expr,
    ) -> Option<Diagnostic> {
        let ast::ExprKind::Binary(BinOp::Div, _, n) = &a.kind else {
            return None;
        };
        let ast::ExprKind::Number { unit: Some(_), .. } = &n.kind else {
            return None;
        };
        let ast::ExprKind::Path(p) = &b.kind else {
            return None;
        };
        // Only a unit name (the checker made it the constant 1 in that unit), written as
        // `mL/min` with nothing between the number's unit, the `/` and the name.
        if p.parts.len() != 1
            || !matches!(hb.kind, ExprKind::Const(_))
            || self.units.get(&p.parts[0].text).is_none()
            || b.span.start != n.span.end + 1
        {
            return None;
        }
        let written = format!("{}/{}", self.span_text_hint(n), p.parts[0].text);
        Some(
            Diagnostic::error(
                codes::E0046,
                format!("`{written}` after `/` is not one quantity: this divides by the number, then by `{}`", p.parts[0].text),
                n.span.to(b.span),
            )
            .with_label_message("read as two divisions")
            .with_help(format!(
                "write `/ ({written})` to divide by the quantity, or `/ {} / 1 {}` for two divisions",
                self.span_text_hint(n),
                p.parts[0].text
            )),
        )
    }

    /// A number literal as written (`120 mL`), for messages.
    fn span_text_hint(&self, n: &ast::Expr) -> String {
        match &n.kind {
            ast::ExprKind::Number { value, unit } => {
                let unit = match unit {
                    Some(ast::UnitExpr::Named(u)) => format!(" {}", u.text),
                    Some(ast::UnitExpr::Pow(u, k, _)) => match u.as_ref() {
                        ast::UnitExpr::Named(u) => format!(" {}^{k}", u.text),
                        _ => String::new(),
                    },
                    Some(ast::UnitExpr::Percent(_)) => "%".to_string(),
                    _ => String::new(),
                };
                format!("{}{unit}", value.text)
            }
            _ => String::new(),
        }
    }

    fn binary(&mut self, op: BinOp, a: &ast::Expr, b: &ast::Expr, span: Span) -> hir::Expr {
        if op == BinOp::Pow {
            return self.power(a, b, span);
        }
        let ha = self.expr(a);
        let hb = self.expr(b);
        if ha.ty == Type::Error || hb.ty == Type::Error {
            return error_expr(span);
        }
        if op == BinOp::Div
            && let Some(d) = self.unit_after_divisor(a, b, &hb)
        {
            self.report(d);
            return error_expr(span);
        }
        match op {
            BinOp::And | BinOp::Or => {
                let ha = self.expect_bool(ha);
                let hb = self.expect_bool(hb);
                if ha.ty == Type::Error || hb.ty == Type::Error {
                    return error_expr(span);
                }
                mk(
                    ExprKind::Binary(op, Box::new(ha), Box::new(hb)),
                    Type::Bool,
                    span,
                )
            }
            BinOp::Mul | BinOp::Div => {
                let (Some(ua), Some(ub)) = (self.num_unit(&ha), self.num_unit(&hb)) else {
                    return error_expr(span);
                };
                let r = if op == BinOp::Mul {
                    ua.mul(ub)
                } else {
                    ua.div(ub)
                };
                match r {
                    Ok(u) => mk(
                        ExprKind::Binary(op, Box::new(ha), Box::new(hb)),
                        Type::Num(u),
                        span,
                    ),
                    Err(_) => {
                        self.report(Diagnostic::error(
                            codes::E0029,
                            "the unit of this product overflows",
                            span,
                        ));
                        error_expr(span)
                    }
                }
            }
            BinOp::Add | BinOp::Sub => {
                let (Some(ua), Some(ub)) = (self.num_unit(&ha), self.num_unit(&hb)) else {
                    return error_expr(span);
                };
                if ua.dim != ub.dim {
                    let what = if op == BinOp::Add {
                        "the operands of `+`"
                    } else {
                        "the operands of `-`"
                    };
                    self.mismatch(what, &ha, ha.ty, &hb, hb.ty);
                    return error_expr(span);
                }
                let hb = self.convert(hb, ua);
                mk(
                    ExprKind::Binary(op, Box::new(ha), Box::new(hb)),
                    Type::Num(ua),
                    span,
                )
            }
            _ => self.comparison(op, ha, hb, b, span),
        }
    }

    fn comparison(
        &mut self,
        op: BinOp,
        ha: hir::Expr,
        hb: hir::Expr,
        b_ast: &ast::Expr,
        span: Span,
    ) -> hir::Expr {
        let equality = matches!(op, BinOp::Eq | BinOp::Ne);
        match (ha.ty, hb.ty) {
            (Type::Num(ua), Type::Num(ub)) => {
                if ua.dim != ub.dim {
                    self.mismatch(
                        &format!("the operands of `{}`", op.symbol()),
                        &ha,
                        ha.ty,
                        &hb,
                        hb.ty,
                    );
                    return error_expr(span);
                }
                let hb = self.convert(hb, ua);
                mk(
                    ExprKind::Binary(op, Box::new(ha), Box::new(hb)),
                    Type::Bool,
                    span,
                )
            }
            (Type::Bool, Type::Bool) if equality => mk(
                ExprKind::Binary(op, Box::new(ha), Box::new(hb)),
                Type::Bool,
                span,
            ),
            (Type::Category(c), Type::Category(c2)) if equality && c == c2 => mk(
                ExprKind::Binary(op, Box::new(ha), Box::new(hb)),
                Type::Bool,
                span,
            ),
            (Type::Genotype(_) | Type::Phenotype(_), _) if equality => {
                // `g == "*1/*3"`: a per-diplotype table of truth values.
                let (scrut_var, cases) = match self.cases_of(&ha) {
                    Some(c) => c,
                    None => return error_expr(span),
                };
                let pattern = match &b_ast.kind {
                    ast::ExprKind::Str(s) => ast::Name {
                        text: s.clone(),
                        span: b_ast.span,
                    },
                    ast::ExprKind::Path(p) if p.parts.len() == 1 => p.parts[0].clone(),
                    _ => {
                        self.report(
                            Diagnostic::error(
                                codes::E0016,
                                "compare a genotype with a diplotype such as \"*1/*3\"",
                                b_ast.span,
                            )
                            .with_label_message("not a diplotype"),
                        );
                        return error_expr(span);
                    }
                };
                let Some(matching) = self.pattern_members(&cases, &pattern) else {
                    return error_expr(span);
                };
                let n = self.case_count(&cases);
                let yes = op == BinOp::Eq;
                let table: Vec<usize> = (0..n)
                    .map(|d| usize::from(matching.contains(&d) != yes))
                    .collect();
                let arms = vec![
                    mk(ExprKind::Bool(true), Type::Bool, span),
                    mk(ExprKind::Bool(false), Type::Bool, span),
                ];
                self.switch(scrut_var, &cases, table, arms, Type::Bool, span)
            }
            (ta, tb) => {
                if ta == Type::Str || tb == Type::Str {
                    self.report(
                        Diagnostic::error(
                            codes::E0019,
                            "strings can only be compared with genotypes",
                            span,
                        )
                        .with_help("diplotypes are written as strings, e.g. `cyp2c9 == \"*1/*3\"`"),
                    );
                } else {
                    self.mismatch(
                        &format!("the operands of `{}`", op.symbol()),
                        &ha,
                        ta,
                        &hb,
                        tb,
                    );
                }
                error_expr(span)
            }
        }
    }

    fn power(&mut self, a: &ast::Expr, b: &ast::Expr, span: Span) -> hir::Expr {
        let ha = self.expr(a);
        let hb = self.expr(b);
        let (Some(ua), Some(_)) = (self.num_unit(&ha), self.num_unit(&hb)) else {
            return error_expr(span);
        };
        let hb = self.dimensionless(hb, "an exponent");
        if hb.ty == Type::Error {
            return error_expr(span);
        }
        if ua.dim.is_dimensionless() {
            let ha = self.convert(ha, Unit::ONE);
            return mk(
                ExprKind::Binary(BinOp::Pow, Box::new(ha), Box::new(hb)),
                Type::Num(Unit::ONE),
                span,
            );
        }
        match consts::eval(&hb) {
            Some(n) if n.fract() == 0.0 && n.abs() <= 64.0 => match ua.pow(n as i32) {
                Ok(u) => mk(
                    ExprKind::Binary(BinOp::Pow, Box::new(ha), Box::new(hb)),
                    Type::Num(u),
                    span,
                ),
                Err(_) => {
                    self.report(Diagnostic::error(
                        codes::E0029,
                        "the unit of this power overflows",
                        span,
                    ));
                    error_expr(span)
                }
            },
            _ => {
                let d = Diagnostic::error(
                    codes::E0011,
                    format!("cannot raise {} to a non-integer or non-constant power", self.describe(ua)),
                    span,
                )
                .with_label(ha.span, format!("this is {}", self.describe(ua)))
                .with_label(hb.span, "the exponent is not a constant integer")
                .with_help("make the base dimensionless first, e.g. `(conc / ec50)^gamma`, or use `hill(x, x50, n)`");
                self.report(d);
                error_expr(span)
            }
        }
    }

    /// Resolves a name used as a value.
    fn path(&mut self, p: &ast::Path) -> hir::Expr {
        let span = p.span;
        let full = p.joined();
        // Function parameters.
        if let Scope::Fn(params) = &self.scope
            && p.parts.len() == 1
            && let Some(i) = params.iter().position(|(n, _)| *n == full)
        {
            let u = params[i].1;
            return mk(ExprKind::Sym(Sym::FnArg(i)), Type::Num(u), span);
        }
        // At a visit: `dose`, and observables by their observed name (before a `let` of the
        // same name).
        if let Scope::Visit(dose_unit) = self.scope
            && p.parts.len() == 1
        {
            if full == "since_dose" {
                return mk(ExprKind::Sym(Sym::SinceDose), Type::Num(self.hour), span);
            }
            if full == "dose" {
                return match dose_unit {
                    Some(u) => mk(ExprKind::Sym(Sym::VisitDose), Type::Num(u), span),
                    None => {
                        self.report(
                            Diagnostic::error(codes::E0053, "this arm has no dose to read", span)
                                .with_help("give the arm a `dose` statement"),
                        );
                        error_expr(span)
                    }
                };
            }
            if let Some(i) = self
                .model
                .as_ref()
                .and_then(|m| m.observables.iter().position(|o| o.name == full))
                && let Some(e) = self.model_observable(i, span)
            {
                return e;
            }
        }
        // Model names, innermost pathway first.
        if self.model.is_some() && !matches!(self.scope, Scope::Const | Scope::Fn(_) | Scope::Gene)
        {
            let prefix = match &self.scope {
                Scope::Model { prefix } => prefix.clone(),
                _ => String::new(),
            };
            if let Some(e) = self.model_ref(&prefix, &full, span) {
                return e;
            }
        }
        if p.parts.len() == 1 {
            let name = &p.parts[0].text;
            if (name == "t" || name == "time")
                && self.model.is_some()
                && matches!(
                    self.scope,
                    Scope::Model { .. } | Scope::Endpoint | Scope::Visit(_)
                )
            {
                return mk(ExprKind::Sym(Sym::Time), Type::Num(self.hour), span);
            }
            if let Some(u) = self.units.get(name) {
                return mk(ExprKind::Const(1.0), Type::Num(u), span);
            }
        }
        self.unknown_name(p);
        error_expr(span)
    }

    /// Observable `i` of the trial's model as measured at a visit.
    fn model_observable(&self, i: usize, span: Span) -> Option<hir::Expr> {
        let m = self.program.models.get(self.trial_model?)?;
        let o = m.observables.get(i)?;
        Some(mk(ExprKind::Sym(Sym::Observable(i)), o.value.ty, span))
    }

    fn unknown_name(&mut self, p: &ast::Path) {
        let full = p.joined();
        let mut candidates: Vec<String> = Vec::new();
        if let Scope::Fn(params) = &self.scope {
            candidates.extend(params.iter().map(|(n, _)| n.clone()));
        }
        if let Some(m) = &self.model
            && !matches!(self.scope, Scope::Fn(_) | Scope::Const | Scope::Gene)
        {
            candidates.extend(m.names.keys().cloned());
            if let Scope::Model { prefix } = &self.scope {
                candidates.extend(
                    m.names
                        .keys()
                        .filter_map(|k| k.strip_prefix(prefix.as_str()).map(str::to_string)),
                );
            }
        }
        // Sorted: the names come from a hash map, and ties must resolve the same way every run.
        candidates.sort();
        candidates.dedup();
        let mut d = Diagnostic::error(codes::E0004, format!("unknown name `{full}`"), p.span)
            .with_label_message("not defined here");
        if let Some(s) = did_you_mean(&full, candidates.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if let Some(s) = did_you_mean(&full, self.units.names()) {
            d = d.with_help(format!("did you mean the unit `{s}`?"));
        } else if matches!(self.scope, Scope::Patient) {
            d = d.with_help("doses and population generators can use covariates, genotypes and params of the model");
        } else if matches!(self.scope, Scope::Fn(_)) {
            d = d.with_help(
                "functions only see their own parameters; pass the value as an argument",
            );
        }
        self.report(d);
    }

    fn call(&mut self, c: &ast::Call) -> hir::Expr {
        let span = c.span;
        let name = c.func.joined();
        if matches!(self.scope, Scope::Endpoint)
            && let Some(agg) = Aggregate::from_name(&name)
        {
            let positional = c
                .args
                .iter()
                .filter(|a| !matches!(a.value.kind, ast::ExprKind::Window(..)))
                .count();
            let elementwise = matches!(agg, Aggregate::Max | Aggregate::Min)
                && positional >= 2
                && name.len() == 3;
            if !elementwise {
                return self.aggregate(agg, c);
            }
        }
        // `max(conc)` or `min(x, from a to b)` outside an endpoint means the aggregate, which only
        // endpoints have: report that rather than the element-wise builtin's arity.
        let windowed = c
            .args
            .iter()
            .any(|a| matches!(a.value.kind, ast::ExprKind::Window(..)));
        let aggregate_only = !matches!(self.scope, Scope::Endpoint)
            && matches!(name.as_str(), "min" | "max")
            && (c.args.len() == 1 || windowed);
        if let Some(b) = Builtin::from_name(&name)
            && !aggregate_only
        {
            return self.builtin(b, c);
        }
        if c.func.parts.len() == 1 {
            match self.visible.names.get(&name).copied() {
                Some(Global::Fn(f)) => return self.user_call(f, c),
                Some(_) => {
                    self.report(Diagnostic::error(
                        codes::E0019,
                        format!("`{name}` is not a function"),
                        c.func.span,
                    ));
                    return error_expr(span);
                }
                None => {}
            }
        }
        if Aggregate::from_name(&name).is_some() {
            self.report(
                Diagnostic::error(
                    codes::E0028,
                    format!("`{name}` summarises a time course and is only available in endpoints"),
                    c.func.span,
                )
                .with_help("define it as `endpoint NAME = …` in a trial"),
            );
            return error_expr(span);
        }
        if self.current_fn.as_deref() == Some(name.as_str()) {
            self.report(
                Diagnostic::error(codes::E0032, format!("`{name}` calls itself"), c.func.span)
                    .with_label_message("recursive call")
                    .with_help("functions are inlined into the model, so they cannot recurse; write the repetition out or use a state"),
            );
            return error_expr(span);
        }
        let mut d = Diagnostic::error(
            codes::E0004,
            format!("unknown function `{name}`"),
            c.func.span,
        )
        .with_label_message("not a builtin or a declared `fn`");
        if let Some((_, module)) = self.all_globals.get(&name) {
            d = d.with_help(format!(
                "it is defined in the `{module}` module: add `use {module}.{name}`"
            ));
        } else {
            let mut cands: Vec<&str> = Builtin::NAMES.to_vec();
            let mut fns: Vec<String> = self
                .visible
                .names
                .iter()
                .filter(|(_, g)| matches!(g, Global::Fn(_)))
                .map(|(n, _)| n.clone())
                .collect();
            fns.sort();
            cands.extend(fns.iter().map(String::as_str));
            if let Some(s) = did_you_mean(&name, cands) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
        }
        self.report(d);
        error_expr(span)
    }

    fn arity(&mut self, c: &ast::Call, min: usize, max: usize, sig: &str) -> bool {
        let n = c.args.len();
        let named = c.args.iter().find_map(|a| a.name.as_ref());
        if let Some(nm) = named {
            self.report(
                Diagnostic::error(
                    codes::E0013,
                    format!("`{}` takes no named arguments", c.func.joined()),
                    nm.span,
                )
                .with_help(format!("call it as `{sig}`")),
            );
            return false;
        }
        if n < min || n > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            self.report(
                Diagnostic::error(
                    codes::E0013,
                    format!("`{}` takes {want} argument(s), found {n}", c.func.joined()),
                    c.span,
                )
                .with_help(format!("call it as `{sig}`")),
            );
            return false;
        }
        true
    }

    fn builtin(&mut self, b: Builtin, c: &ast::Call) -> hir::Expr {
        let span = c.span;
        let (min, max, sig) = match b {
            Builtin::Min | Builtin::Max => (2, usize::MAX, "max(a, b, …)"),
            Builtin::Pow => (2, 2, "pow(base, exponent)"),
            Builtin::Hill => (3, 3, "hill(x, x50, n)"),
            _ => (1, 1, "f(x)"),
        };
        if !self.arity(c, min, max, sig) {
            return error_expr(span);
        }
        if b == Builtin::Pow {
            return self.power(&c.args[0].value, &c.args[1].value, span);
        }
        let args: Vec<hir::Expr> = c.args.iter().map(|a| self.expr(&a.value)).collect();
        if args.iter().any(|a| a.ty == Type::Error) {
            return error_expr(span);
        }
        match b {
            Builtin::Exp | Builtin::Log | Builtin::Log10 | Builtin::Logit | Builtin::Expit => {
                let mut args = args;
                let x = args.remove(0);
                let x = self.dimensionless(x, &format!("the argument of `{}`", b.name()));
                if x.ty == Type::Error {
                    return error_expr(span);
                }
                mk(ExprKind::Builtin(b, vec![x]), Type::Num(Unit::ONE), span)
            }
            Builtin::Sqrt => {
                let Some(u) = self.num_unit(&args[0]) else {
                    return error_expr(span);
                };
                if u.dim.is_dimensionless() {
                    let x = self.convert(args[0].clone(), Unit::ONE);
                    return mk(ExprKind::Builtin(b, vec![x]), Type::Num(Unit::ONE), span);
                }
                let half = u.dim.0.iter().all(|e| e % 2 == 0);
                if !half {
                    self.report(
                        Diagnostic::error(codes::E0011, format!("the square root of {} has no unit", self.describe(u)), args[0].span)
                            .with_help("make the argument dimensionless, or give it a unit with even powers (e.g. m^2)"),
                    );
                    return error_expr(span);
                }
                let mut dim = Dim::NONE;
                for (i, e) in u.dim.0.iter().enumerate() {
                    dim.0[i] = e / 2;
                }
                let base = Unit {
                    dim: u.dim,
                    scale: Rational::ONE,
                };
                let x = self.convert(args[0].clone(), base);
                mk(
                    ExprKind::Builtin(b, vec![x]),
                    Type::Num(Unit {
                        dim,
                        scale: Rational::ONE,
                    }),
                    span,
                )
            }
            Builtin::Abs | Builtin::Floor | Builtin::Ceil => {
                let Some(u) = self.num_unit(&args[0]) else {
                    return error_expr(span);
                };
                mk(ExprKind::Builtin(b, args), Type::Num(u), span)
            }
            Builtin::Min | Builtin::Max => {
                let Some(u) = self.num_unit(&args[0]) else {
                    return error_expr(span);
                };
                let mut out = vec![args[0].clone()];
                for a in &args[1..] {
                    match a.ty {
                        Type::Num(ua) if ua.dim == u.dim => out.push(self.convert(a.clone(), u)),
                        t => {
                            self.mismatch(
                                &format!("the arguments of `{}`", b.name()),
                                &args[0],
                                args[0].ty,
                                a,
                                t,
                            );
                            return error_expr(span);
                        }
                    }
                }
                mk(ExprKind::Builtin(b, out), Type::Num(u), span)
            }
            Builtin::Pow => error_expr(span),
            Builtin::Hill => {
                let Some(u) = self.num_unit(&args[0]) else {
                    return error_expr(span);
                };
                let x50 = match args[1].ty {
                    Type::Num(u2) if u2.dim == u.dim => self.convert(args[1].clone(), u),
                    t => {
                        self.mismatch(
                            "the arguments `x` and `x50` of `hill`",
                            &args[0],
                            args[0].ty,
                            &args[1],
                            t,
                        );
                        return error_expr(span);
                    }
                };
                let n = self.dimensionless(args[2].clone(), "the Hill coefficient");
                if n.ty == Type::Error {
                    return error_expr(span);
                }
                mk(
                    ExprKind::Builtin(b, vec![args[0].clone(), x50, n]),
                    Type::Num(Unit::ONE),
                    span,
                )
            }
        }
    }

    fn user_call(&mut self, f: usize, c: &ast::Call) -> hir::Expr {
        let span = c.span;
        let Some(func) = self.program.fns.get(f).cloned() else {
            return error_expr(span);
        };
        let sig = format!(
            "{}({})",
            func.name,
            func.params
                .iter()
                .map(|(n, u)| format!("{n}: {}", self.units.format_unit(*u)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Place positional and named arguments.
        let mut slots: Vec<Option<&ast::Expr>> = vec![None; func.params.len()];
        let mut ok = true;
        for (i, a) in c.args.iter().enumerate() {
            let idx = match &a.name {
                None => i,
                Some(n) => match func.params.iter().position(|(p, _)| *p == n.text) {
                    Some(j) => j,
                    None => {
                        let mut d = Diagnostic::error(
                            codes::E0013,
                            format!("`{}` has no parameter `{}`", func.name, n.text),
                            n.span,
                        )
                        .with_help(format!("the signature is `{sig}`"));
                        if let Some(s) =
                            did_you_mean(&n.text, func.params.iter().map(|(p, _)| p.as_str()))
                        {
                            d = d.with_help(format!(
                                "did you mean `{s}`? (the signature is `{sig}`)"
                            ));
                        }
                        self.report(d);
                        ok = false;
                        continue;
                    }
                },
            };
            if idx >= slots.len() {
                self.report(
                    Diagnostic::error(
                        codes::E0013,
                        format!(
                            "`{}` takes {} argument(s), found {}",
                            func.name,
                            func.params.len(),
                            c.args.len()
                        ),
                        span,
                    )
                    .with_help(format!("the signature is `{sig}`")),
                );
                return error_expr(span);
            }
            slots[idx] = Some(&a.value);
        }
        let mut args = Vec::new();
        for (i, s) in slots.iter().enumerate() {
            let (pname, punit) = &func.params[i];
            match s {
                None => {
                    self.report(
                        Diagnostic::error(
                            codes::E0013,
                            format!("missing argument `{pname}` of `{}`", func.name),
                            span,
                        )
                        .with_help(format!("the signature is `{sig}`")),
                    );
                    ok = false;
                }
                Some(e) => {
                    let h = self.expr(e);
                    let h = match h.ty {
                        Type::Num(u) if u.dim == punit.dim => self.convert(h, *punit),
                        Type::Error => h,
                        t => {
                            self.report(
                                Diagnostic::error(
                                    codes::E0012,
                                    format!(
                                        "argument `{pname}` of `{}` must be in {}, found {}",
                                        func.name,
                                        self.describe(*punit),
                                        self.describe_type(t)
                                    ),
                                    h.span,
                                )
                                .with_label_message(format!("this is {}", self.describe_type(t)))
                                .with_help(format!("the signature is `{sig}`")),
                            );
                            ok = false;
                            h
                        }
                    };
                    args.push(h);
                }
            }
        }
        if !ok || args.iter().any(|a| a.ty == Type::Error) {
            return error_expr(span);
        }
        mk(ExprKind::Call(f, args), Type::Num(func.ret), span)
    }

    /// Checks a constant time expression and returns it in hours.
    pub fn const_time(&mut self, e: &ast::Expr, what: &str) -> Option<f64> {
        let saved = std::mem::replace(&mut self.scope, Scope::Const);
        let h = self.expr(e);
        self.scope = saved;
        let h = self.coerce(h, self.hour, codes::E0031, what);
        if h.ty == Type::Error {
            return None;
        }
        match consts::eval(&h) {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                self.report(Diagnostic::error(
                    codes::E0031,
                    format!("{what} must be a constant"),
                    e.span,
                ));
                None
            }
        }
    }

    fn aggregate(&mut self, agg: Aggregate, c: &ast::Call) -> hir::Expr {
        if agg.is_protocol() {
            return self.protocol_aggregate(agg, c);
        }
        let span = c.span;
        let mut from = None;
        let mut to = None;
        let mut args = Vec::new();
        for a in &c.args {
            if let ast::ExprKind::Window(f, t) = &a.value.kind {
                if let Some(f) = f {
                    from = self.const_time(f, "a window start");
                }
                if let Some(t) = t {
                    to = self.const_time(t, "a window end");
                }
                continue;
            }
            if let Some(n) = &a.name {
                self.report(Diagnostic::error(
                    codes::E0013,
                    format!("`{}` takes no named arguments", agg.name()),
                    n.span,
                ));
                return error_expr(span);
            }
            let saved = std::mem::replace(
                &mut self.scope,
                Scope::Model {
                    prefix: String::new(),
                },
            );
            let h = self.expr(&a.value);
            self.scope = saved;
            args.push(h);
        }
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            self.report(Diagnostic::error(
                codes::E0028,
                "the window ends before it starts",
                span,
            ));
            return error_expr(span);
        }
        if args.iter().any(|a| a.ty == Type::Error) {
            return error_expr(span);
        }
        let (want, sig) = match agg {
            Aggregate::Auc
            | Aggregate::Max
            | Aggregate::Min
            | Aggregate::Mean
            | Aggregate::Tmax
            | Aggregate::Tmin => (1, "f(x, from a to b)"),
            Aggregate::Value => (2, "value(x, t)"),
            Aggregate::Trough => (2, "trough(x, t)"),
            Aggregate::TimeAbove | Aggregate::TimeBelow => {
                (2, "time_above(x, threshold, from a to b)")
            }
            Aggregate::TimeIn => (3, "time_in(x, low, high, from a to b)"),
            Aggregate::FractionOfTime | Aggregate::FirstTime => {
                (1, "fraction_of_time(condition, from a to b)")
            }
            // Checked by `protocol_aggregate` above.
            Aggregate::FractionOfVisits
            | Aggregate::FirstVisit
            | Aggregate::DoseChanges
            | Aggregate::FinalDose
            | Aggregate::TotalDose
            | Aggregate::RelativeDoseIntensity
            | Aggregate::Discontinued => return error_expr(span),
        };
        if args.len() != want {
            self.report(
                Diagnostic::error(
                    codes::E0013,
                    format!(
                        "`{}` takes {want} argument(s) besides the window, found {}",
                        agg.name(),
                        args.len()
                    ),
                    span,
                )
                .with_help(format!("call it as `{sig}`")),
            );
            return error_expr(span);
        }
        let ty = match agg {
            Aggregate::FractionOfTime | Aggregate::FirstTime => {
                let cond = self.expect_bool(args.remove(0));
                if cond.ty == Type::Error {
                    return error_expr(span);
                }
                args = vec![cond];
                if agg == Aggregate::FirstTime {
                    Type::Num(self.hour)
                } else {
                    Type::Num(Unit::ONE)
                }
            }
            _ => {
                let Some(u) = self.num_unit(&args[0]) else {
                    return error_expr(span);
                };
                match agg {
                    Aggregate::Auc => match u.mul(self.hour) {
                        Ok(au) => Type::Num(au),
                        Err(_) => return error_expr(span),
                    },
                    Aggregate::Tmax | Aggregate::Tmin => Type::Num(self.hour),
                    Aggregate::Value | Aggregate::Trough => {
                        let what = format!("the time of `{}`", agg.name());
                        let t = args.remove(1);
                        let t = self.coerce(t, self.hour, codes::E0031, &what);
                        match consts::eval(&t) {
                            Some(v) => {
                                from = Some(v);
                                to = Some(v);
                            }
                            None => {
                                if t.ty != Type::Error {
                                    self.report(Diagnostic::error(
                                        codes::E0031,
                                        format!("{what} must be a constant"),
                                        t.span,
                                    ));
                                }
                                return error_expr(span);
                            }
                        }
                        Type::Num(u)
                    }
                    Aggregate::TimeAbove | Aggregate::TimeBelow | Aggregate::TimeIn => {
                        let mut rest = Vec::new();
                        let tail: Vec<hir::Expr> = args.drain(1..).collect();
                        for a in tail {
                            match a.ty {
                                Type::Num(ua) if ua.dim == u.dim => rest.push(self.convert(a, u)),
                                t => {
                                    self.mismatch(
                                        &format!("the arguments of `{}`", agg.name()),
                                        &args[0],
                                        args[0].ty,
                                        &a,
                                        t,
                                    );
                                    return error_expr(span);
                                }
                            }
                        }
                        args.extend(rest);
                        Type::Num(self.hour)
                    }
                    _ => Type::Num(u),
                }
            }
        };
        mk(
            ExprKind::Aggregate {
                kind: agg,
                args,
                from,
                to,
            },
            ty,
            span,
        )
    }

    /// The cases a `match` scrutinee ranges over, with the switch variable.
    fn cases_of(&mut self, h: &hir::Expr) -> Option<(usize, Cases)> {
        match (h.ty, &h.kind) {
            (Type::Genotype(g), ExprKind::Sym(Sym::Genotype(v))) => {
                Some((*v, Cases::Diplotypes(g)))
            }
            (Type::Phenotype(g), ExprKind::Sym(Sym::Genotype(v))) => {
                Some((*v, Cases::Phenotypes(g)))
            }
            (Type::Category(c), ExprKind::Sym(Sym::Covariate(_))) => Some((c, Cases::Levels(c))),
            (Type::Error, _) => None,
            (t, _) => {
                self.report(
                    Diagnostic::error(
                        codes::E0019,
                        format!("cannot `match` on {}", self.describe_type(t)),
                        h.span,
                    )
                    .with_label_message(
                        "expected a genotype, `phenotype(g)` or a categorical covariate",
                    )
                    .with_help("use `if … else …` for numeric conditions"),
                );
                None
            }
        }
    }

    fn case_count(&self, cases: &Cases) -> usize {
        match cases {
            Cases::Diplotypes(g) => self.program.genes[*g].diplotypes.len(),
            Cases::Phenotypes(g) => self.program.genes[*g].diplotypes.len(),
            Cases::Levels(c) => self
                .model
                .as_ref()
                .map(|m| m.covariates[*c].levels.len())
                .unwrap_or(0),
        }
    }

    fn case_names(&self, cases: &Cases) -> Vec<String> {
        match cases {
            Cases::Diplotypes(g) => self.program.genes[*g].diplotype_names.clone(),
            Cases::Phenotypes(g) => self.program.genes[*g].phenotypes.clone(),
            Cases::Levels(c) => self
                .model
                .as_ref()
                .map(|m| m.covariates[*c].levels.clone())
                .unwrap_or_default(),
        }
    }

    /// The diplotypes (or levels) a pattern covers; `None` after reporting an unknown pattern.
    fn pattern_members(&mut self, cases: &Cases, pat: &ast::Name) -> Option<Vec<usize>> {
        match cases {
            Cases::Diplotypes(g) => {
                match super::gene::diplotype_index(&self.program.genes[*g], &pat.text) {
                    Some(d) => Some(vec![d]),
                    None => {
                        let gene = &self.program.genes[*g];
                        let mut d = Diagnostic::error(
                            codes::E0016,
                            format!("`{}` is not a diplotype of `{}`", pat.text, gene.name),
                            pat.span,
                        )
                        .with_label_message("unknown diplotype");
                        if let Some(s) =
                            did_you_mean(&pat.text, gene.diplotype_names.iter().map(String::as_str))
                        {
                            d = d.with_help(format!("did you mean \"{s}\"?"));
                        } else {
                            d = d.with_help(format!(
                                "the diplotypes are {}",
                                list(&gene.diplotype_names)
                            ));
                        }
                        self.report(d);
                        None
                    }
                }
            }
            Cases::Phenotypes(g) => {
                let gene = &self.program.genes[*g];
                match gene.phenotypes.iter().position(|p| *p == pat.text) {
                    Some(p) => Some(
                        (0..gene.diplotypes.len())
                            .filter(|&d| gene.phenotype_of[d] == Some(p))
                            .collect(),
                    ),
                    None => {
                        let mut d = Diagnostic::error(
                            codes::E0016,
                            format!("`{}` is not a phenotype class of `{}`", pat.text, gene.name),
                            pat.span,
                        )
                        .with_label_message("unknown phenotype");
                        if let Some(s) =
                            did_you_mean(&pat.text, gene.phenotypes.iter().map(String::as_str))
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        } else {
                            d = d.with_help(format!("the classes are {}", list(&gene.phenotypes)));
                        }
                        self.report(d);
                        None
                    }
                }
            }
            Cases::Levels(c) => {
                let levels = self.case_names(&Cases::Levels(*c));
                match levels.iter().position(|l| *l == pat.text) {
                    Some(i) => Some(vec![i]),
                    None => {
                        let mut d = Diagnostic::error(
                            codes::E0016,
                            format!("`{}` is not a level of this covariate", pat.text),
                            pat.span,
                        );
                        if let Some(s) = did_you_mean(&pat.text, levels.iter().map(String::as_str))
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        self.report(d);
                        None
                    }
                }
            }
        }
    }

    fn switch(
        &mut self,
        var: usize,
        cases: &Cases,
        table: Vec<usize>,
        arms: Vec<hir::Expr>,
        ty: Type,
        span: Span,
    ) -> hir::Expr {
        match cases {
            Cases::Levels(_) => {
                // A categorical switch: nested ifs over the covariate's level index.
                let cov = mk(
                    ExprKind::Sym(Sym::Covariate(var)),
                    Type::Num(Unit::ONE),
                    span,
                );
                let mut out = arms[*table.last().unwrap_or(&0)].clone();
                for (level, &arm) in table.iter().enumerate().rev().skip(1) {
                    let cond = mk(
                        ExprKind::Binary(
                            BinOp::Eq,
                            Box::new(cov.clone()),
                            Box::new(mk(
                                ExprKind::Const(level as f64),
                                Type::Num(Unit::ONE),
                                span,
                            )),
                        ),
                        Type::Bool,
                        span,
                    );
                    out = mk(
                        ExprKind::If(Box::new(cond), Box::new(arms[arm].clone()), Box::new(out)),
                        ty,
                        span,
                    );
                }
                out
            }
            _ => mk(
                ExprKind::Switch {
                    genotype: var,
                    table,
                    arms,
                },
                ty,
                span,
            ),
        }
    }

    fn match_expr(&mut self, scrut: &ast::Expr, arms: &[ast::MatchArm], span: Span) -> hir::Expr {
        let hs = self.expr(scrut);
        let Some((var, cases)) = self.cases_of(&hs) else {
            return error_expr(span);
        };
        let n = self.case_count(&cases);
        let names = self.case_names(&cases);
        let mut table: Vec<Option<usize>> = vec![None; n];
        let mut values = Vec::new();
        let mut failed = false;
        for (ai, arm) in arms.iter().enumerate() {
            for pat in &arm.patterns {
                if pat.text == "_" {
                    for slot in table.iter_mut().filter(|s| s.is_none()) {
                        *slot = Some(ai);
                    }
                    continue;
                }
                match self.pattern_members(&cases, pat) {
                    Some(members) => {
                        for m in members {
                            if table[m].is_none() {
                                table[m] = Some(ai);
                            }
                        }
                    }
                    None => failed = true,
                }
            }
            values.push(self.expr(&arm.value));
        }
        let missing: Vec<String> = match &cases {
            Cases::Phenotypes(g) => {
                let gene = &self.program.genes[*g];
                let mut m: Vec<String> = Vec::new();
                for (d, slot) in table.iter().enumerate() {
                    if slot.is_none() {
                        let p = gene.phenotype_of[d]
                            .map(|p| gene.phenotypes[p].clone())
                            .unwrap_or_else(|| gene.diplotype_names[d].clone());
                        if !m.contains(&p) {
                            m.push(p);
                        }
                    }
                }
                m
            }
            _ => table
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_none())
                .map(|(d, _)| names[d].clone())
                .collect(),
        };
        if !missing.is_empty() && !failed {
            let quoted: Vec<String> = match &cases {
                Cases::Diplotypes(..) => missing.iter().map(|m| format!("\"{m}\"")).collect(),
                _ => missing.iter().map(|m| format!("`{m}`")).collect(),
            };
            self.report(
                Diagnostic::error(
                    codes::E0015,
                    format!("this `match` does not cover {}", quoted.join(", ")),
                    scrut.span,
                )
                .with_label_message(format!("{} case(s) missing", missing.len()))
                .with_help(format!(
                    "add arms for {}, or a catch-all `_ => …`",
                    quoted.join(", ")
                )),
            );
            failed = true;
        }
        if failed || values.iter().any(|v| v.ty == Type::Error) || values.is_empty() {
            return error_expr(span);
        }
        // Unify arm types.
        let ty = values[0].ty;
        let mut arms_out = Vec::new();
        for v in values {
            match (ty, v.ty) {
                (Type::Num(u), Type::Num(uv)) if u.dim == uv.dim => {
                    arms_out.push(self.convert(v, u))
                }
                (Type::Bool, Type::Bool) => arms_out.push(v),
                (_, tv) => {
                    let first = arms_out
                        .first()
                        .cloned()
                        .unwrap_or_else(|| error_expr(span));
                    self.mismatch("the arms of `match`", &first, ty, &v, tv);
                    return error_expr(span);
                }
            }
        }
        let table: Vec<usize> = table.into_iter().map(|s| s.unwrap_or(0)).collect();
        self.switch(var, &cases, table, arms_out, ty, span)
    }
}

fn list(items: &[String]) -> String {
    let shown: Vec<String> = items.iter().take(12).map(|s| format!("`{s}`")).collect();
    if items.len() > 12 {
        format!("{} and {} more", shown.join(", "), items.len() - 12)
    } else {
        shown.join(", ")
    }
}
