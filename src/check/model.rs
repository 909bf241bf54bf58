//! Model checking: a `model` block → [`hir::Model`].
//!
//! First every declaration is registered under its qualified name (pathways prefix their names
//! with `pathway.`), so statements may come in any order. Then each definition is checked; a
//! parameter or `let` without a declared unit gets its unit from its value, inferred on demand.
//! Flows become terms of the right-hand sides of their source and target compartments, converted
//! to each compartment's unit per hour. Parameters and `let`s are finally sorted by dependency.

use super::hir::{self, ExprKind, Sym, Type};
use super::{Checker, Global, Scope, consts, error_expr};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::source::Span;
use crate::syntax::ast::{self, StmtKind};
use crate::units::Unit;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A definition whose value is checked on demand.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Qualified name.
    pub name: String,
    /// Pathway prefix of the declaration.
    pub prefix: String,
    /// Declared unit, if any.
    pub unit: Option<ast::UnitExpr>,
    /// The value (absent for `observe x` of an existing name).
    pub value: Option<ast::Expr>,
    /// Span of the name.
    pub name_span: Span,
    /// Span of the statement.
    pub span: Span,
    /// The checked value, once done.
    pub done: Option<hir::Expr>,
    /// Residual error calls (observables).
    pub error: Vec<ast::Call>,
    /// The declared domain (params).
    pub domain: Option<ast::Domain>,
}

/// Names and partial results of the model being checked.
#[derive(Debug, Clone, Default)]
pub struct ModelScope {
    /// Qualified name → symbol.
    pub names: HashMap<String, Sym>,
    /// Where each symbol was declared.
    pub spans: HashMap<Sym, Span>,
    /// Covariates.
    pub covariates: Vec<hir::Covariate>,
    /// Genotype variables.
    pub genotypes: Vec<hir::GenotypeVar>,
    /// Parameters.
    pub params: Vec<Pending>,
    /// `let`s.
    pub lets: Vec<Pending>,
    /// Observables defined with a value.
    pub observables: Vec<Pending>,
    /// States, unit resolved later.
    pub states: Vec<(String, StateDecl)>,
    /// Symbols whose value is being checked (cycle detection).
    pub in_progress: Vec<Sym>,
    /// Symbols already reported as part of a cycle.
    pub cyclic: BTreeSet<Sym>,
    /// Pathway names (qualified).
    pub pathways: Vec<String>,
    /// Symbols referenced anywhere (for unused warnings).
    pub used: BTreeSet<Sym>,
    /// Inputs no statement defines.
    pub inputs: Vec<hir::Input>,
}

impl ModelScope {
    /// Resolves `name` from inside pathway `prefix` (`a.b.`), innermost namespace first.
    pub fn lookup(&self, prefix: &str, name: &str) -> Option<Sym> {
        let mut p = prefix.to_string();
        loop {
            if let Some(s) = self.names.get(&format!("{p}{name}")) {
                return Some(*s);
            }
            if p.is_empty() {
                return None;
            }
            // Drop the innermost pathway: "a.b." → "a.".
            let trimmed = p.trim_end_matches('.');
            p = trimmed
                .rfind('.')
                .map(|i| trimmed[..=i].to_string())
                .unwrap_or_default();
        }
    }
}

/// A declared state before checking.
#[derive(Debug, Clone)]
pub struct StateDecl {
    /// Compartment or state.
    pub kind: hir::StateKind,
    /// Unit (resolved).
    pub unit: Option<Unit>,
    /// Initial value.
    pub init: Option<ast::Expr>,
    /// Pathway prefix.
    pub prefix: String,
    /// Statement span.
    pub span: Span,
    /// Name span.
    pub name_span: Span,
}

/// Collects every symbol an expression refers to.
pub fn refs(e: &hir::Expr, out: &mut Vec<(Sym, Span)>) {
    match &e.kind {
        ExprKind::Sym(s) => out.push((*s, e.span)),
        ExprKind::Scale(x, _) | ExprKind::Unary(_, x) => refs(x, out),
        ExprKind::Binary(_, a, b) => {
            refs(a, out);
            refs(b, out);
        }
        ExprKind::Builtin(_, args) | ExprKind::Call(_, args) | ExprKind::Aggregate { args, .. } => {
            args.iter().for_each(|a| refs(a, out));
        }
        ExprKind::If(c, a, b) => {
            refs(c, out);
            refs(a, out);
            refs(b, out);
        }
        ExprKind::Switch { genotype, arms, .. } => {
            out.push((Sym::Genotype(*genotype), e.span));
            arms.iter().for_each(|a| refs(a, out));
        }
        ExprKind::Const(_) | ExprKind::Bool(_) | ExprKind::Category(_) | ExprKind::Error => {}
    }
}

/// The first reference in `e` to something that changes over time (a state, `let`, observable
/// or `t`), which per-patient values must not use.
fn time_varying_ref(e: &hir::Expr) -> Option<(Sym, Span)> {
    let mut rs = Vec::new();
    refs(e, &mut rs);
    rs.into_iter().find(|(s, _)| {
        matches!(
            s,
            Sym::State(_) | Sym::Let(_) | Sym::Observable(_) | Sym::Time
        )
    })
}

impl Checker {
    /// Resolves `full` from inside pathway `prefix`, innermost namespace first.
    pub(super) fn model_ref(&mut self, prefix: &str, full: &str, span: Span) -> Option<hir::Expr> {
        let m = self.model.as_ref()?;
        let sym = m.lookup(prefix, full);
        let sym = match sym {
            Some(s) => s,
            None => {
                // A level of a categorical covariate.
                let level = m
                    .covariates
                    .iter()
                    .enumerate()
                    .find_map(|(i, c)| c.levels.iter().position(|l| l == full).map(|l| (i, l)));
                let (cov, l) = level?;
                return Some(hir::Expr {
                    kind: ExprKind::Const(l as f64),
                    ty: Type::Category(cov),
                    span,
                });
            }
        };
        if let Some(m) = self.model.as_mut() {
            m.used.insert(sym);
        }
        if matches!(self.scope, Scope::Visit(_))
            && !matches!(
                sym,
                Sym::Covariate(_) | Sym::Genotype(_) | Sym::Param(_) | Sym::Observable(_)
            )
        {
            let observed: Vec<String> = self
                .model
                .as_ref()
                .map(|m| m.observables.iter().map(|o| o.name.clone()).collect())
                .unwrap_or_default();
            self.report(
                Diagnostic::error(
                    codes::E0053,
                    format!("`{full}` is not measured at a visit"),
                    span,
                )
                .with_label_message("a state or `let` of the model, not an observable")
                .with_help(format!(
                    "rules read measured observables ({}), `dose`, `t`, covariates, genotypes and params; add `observe {full}` to the model to measure it",
                    observed.join(", ")
                )),
            );
            return Some(error_expr(span));
        }
        if matches!(self.scope, Scope::Patient)
            && !matches!(sym, Sym::Covariate(_) | Sym::Genotype(_) | Sym::Param(_))
        {
            self.report(
                Diagnostic::error(
                    codes::E0019,
                    format!("`{full}` changes over time and cannot be used here"),
                    span,
                )
                .with_label_message("a state, `let` or observable")
                .with_help(
                    "doses and population generators can use covariates, genotypes and params",
                ),
            );
            return Some(error_expr(span));
        }
        let ty = self.sym_type(sym);
        Some(hir::Expr {
            kind: ExprKind::Sym(sym),
            ty,
            span,
        })
    }

    /// The type of a model symbol, checking its definition first if its unit is inferred.
    pub(super) fn sym_type(&mut self, sym: Sym) -> Type {
        let Some(m) = self.model.as_ref() else {
            return Type::Error;
        };
        match sym {
            Sym::Covariate(i) => match m.covariates[i].unit {
                Some(u) => Type::Num(u),
                None => Type::Category(i),
            },
            Sym::Genotype(i) => Type::Genotype(m.genotypes[i].gene),
            Sym::State(i) => m.states[i].1.unit.map(Type::Num).unwrap_or(Type::Error),
            Sym::Param(_) | Sym::Let(_) | Sym::Observable(_) => {
                let done = match sym {
                    Sym::Param(i) => &m.params[i].done,
                    Sym::Let(i) => &m.lets[i].done,
                    Sym::Observable(i) => &m.observables[i].done,
                    _ => return Type::Error,
                };
                if let Some(d) = done {
                    return d.ty;
                }
                if m.in_progress.contains(&sym) {
                    self.report_cycle(sym);
                    return Type::Error;
                }
                self.check_pending(sym);
                self.pending(sym)
                    .and_then(|p| p.done.as_ref())
                    .map(|d| d.ty)
                    .unwrap_or(Type::Error)
            }
            Sym::Input(i) => Type::Num(m.inputs[i].unit),
            Sym::Time => Type::Num(self.hour),
            Sym::FnArg(_) | Sym::GeneActivity => Type::Num(Unit::ONE),
            Sym::VisitDose | Sym::SinceDose => Type::Error,
        }
    }

    fn pending(&self, sym: Sym) -> Option<&Pending> {
        let m = self.model.as_ref()?;
        match sym {
            Sym::Param(i) => m.params.get(i),
            Sym::Let(i) => m.lets.get(i),
            Sym::Observable(i) => m.observables.get(i),
            _ => None,
        }
    }

    fn pending_mut(&mut self, sym: Sym) -> Option<&mut Pending> {
        let m = self.model.as_mut()?;
        match sym {
            Sym::Param(i) => m.params.get_mut(i),
            Sym::Let(i) => m.lets.get_mut(i),
            Sym::Observable(i) => m.observables.get_mut(i),
            _ => None,
        }
    }

    fn report_cycle(&mut self, sym: Sym) {
        let Some(m) = self.model.as_ref() else { return };
        let start = m.in_progress.iter().position(|s| *s == sym).unwrap_or(0);
        let cycle: Vec<Sym> = m.in_progress[start..].to_vec();
        if cycle.iter().any(|s| m.cyclic.contains(s)) {
            return;
        }
        let names: Vec<String> = cycle
            .iter()
            .filter_map(|s| self.pending(*s).map(|p| p.name.clone()))
            .collect();
        let first = self.pending(sym).map(|p| p.name_span).unwrap_or_default();
        let mut d = Diagnostic::error(
            codes::E0023,
            format!(
                "`{}` is defined in terms of itself",
                names.first().cloned().unwrap_or_default()
            ),
            first,
        )
        .with_label_message("defined here")
        .with_note(format!(
            "the cycle is {} → {}",
            names.join(" → "),
            names.first().cloned().unwrap_or_default()
        ))
        .with_help("break the cycle: one of these must be a state with a `d/dt`, or a constant");
        for s in cycle.iter().skip(1) {
            if let Some(p) = self.pending(*s) {
                d = d.with_label(p.name_span, format!("`{}` depends on the next one", p.name));
            }
        }
        self.report(d);
        if let Some(m) = self.model.as_mut() {
            m.cyclic.extend(cycle);
        }
    }

    /// Checks the value of a param, let or observable (once).
    fn check_pending(&mut self, sym: Sym) {
        let Some(p) = self.pending(sym).cloned() else {
            return;
        };
        if p.done.is_some() {
            return;
        }
        if let Some(m) = self.model.as_mut() {
            m.in_progress.push(sym);
        }
        let saved = std::mem::replace(
            &mut self.scope,
            Scope::Model {
                prefix: p.prefix.clone(),
            },
        );
        let declared = match &p.unit {
            Some(u) => self.unit(u),
            None => None,
        };
        let value = match &p.value {
            Some(v) => self.expr(v),
            None => error_expr(p.span),
        };
        let what = match sym {
            Sym::Param(_) => format!("param `{}`", p.name),
            Sym::Let(_) => format!("`{}`", p.name),
            _ => format!("observable `{}`", p.name),
        };
        let value = match (declared, p.unit.is_some()) {
            (Some(u), _) => self.coerce_decl(value, u, &what, p.unit.as_ref().map(|u| u.span())),
            (None, true) => error_expr(p.span),
            (None, false) => value,
        };
        // A param is a per-patient value, or a time course of one through `t` or a `let` of
        // `t` (a time-varying covariate); it never reads the states or observables.
        if let Sym::Param(_) = sym
            && let Some((bad, at)) = time_varying_ref(&value)
                .filter(|(s, _)| matches!(s, Sym::State(_) | Sym::Observable(_)))
        {
            let name = self.sym_name(bad);
            self.report(
                Diagnostic::error(
                    codes::E0019,
                    format!(
                        "param `{}` depends on `{name}`, which changes over time",
                        p.name
                    ),
                    at,
                )
                .with_label(p.name_span, "a param is constant for each patient")
                .with_help(format!(
                    "declare `{}` with `let` instead of `param`",
                    p.name
                )),
            );
        }
        self.scope = saved;
        if let Some(m) = self.model.as_mut() {
            m.in_progress.retain(|s| *s != sym);
        }
        if let Some(pm) = self.pending_mut(sym) {
            pm.done = Some(value);
        }
    }

    fn coerce_decl(
        &mut self,
        value: hir::Expr,
        u: Unit,
        what: &str,
        unit_span: Option<Span>,
    ) -> hir::Expr {
        match value.ty {
            Type::Num(v) if v.dim == u.dim => self.convert(value, u),
            Type::Error => value,
            other => {
                let mut d = Diagnostic::error(
                    codes::E0008,
                    format!(
                        "{what} is declared in {} but its value is {}",
                        self.describe(u),
                        self.describe_type(other)
                    ),
                    value.span,
                )
                .with_label_message(format!("this is {}", self.describe_type(other)));
                if let Some(s) = unit_span {
                    d = d.with_label(s, format!("declared as {}", self.describe(u)));
                }
                if let Type::Num(v) = other {
                    d = d.with_help(self.conversion_help(v, u));
                }
                self.report(d);
                error_expr(value.span)
            }
        }
    }

    /// The qualified name of a model symbol.
    pub fn sym_name(&self, s: Sym) -> String {
        let Some(m) = self.model.as_ref() else {
            return String::new();
        };
        match s {
            Sym::Covariate(i) => m.covariates[i].name.clone(),
            Sym::Genotype(i) => m.genotypes[i].name.clone(),
            Sym::Param(i) => m.params[i].name.clone(),
            Sym::State(i) => m.states[i].0.clone(),
            Sym::Let(i) => m.lets[i].name.clone(),
            Sym::Observable(i) => m.observables[i].name.clone(),
            Sym::Input(i) => m.inputs[i].name.clone(),
            Sym::Time => "t".into(),
            Sym::FnArg(i) => format!("arg{i}"),
            Sym::GeneActivity => "activity".into(),
            Sym::VisitDose => "dose".into(),
            Sym::SinceDose => "since_dose".into(),
        }
    }

    fn declare(&mut self, name: String, sym: Sym, span: Span) {
        let Some(m) = self.model.as_mut() else { return };
        if let Some(prev) = m.names.get(&name).copied() {
            let prev_span = m.spans.get(&prev).copied().unwrap_or(span);
            self.report(
                Diagnostic::error(codes::E0006, format!("`{name}` is defined twice"), span)
                    .with_label_message("second definition")
                    .with_label(prev_span, "first defined here")
                    .with_help("rename one of them, or move it into a `pathway` namespace"),
            );
            return;
        }
        m.names.insert(name, sym);
        m.spans.insert(sym, span);
    }

    fn collect(
        &mut self,
        body: &[ast::Stmt],
        prefix: &str,
        deferred: &mut Vec<(String, ast::Stmt)>,
    ) {
        for st in body {
            let q = |n: &ast::Name| format!("{prefix}{}", n.text);
            match &st.kind {
                StmtKind::Covariate { name, ty, default } => {
                    let (unit, levels) = match ty {
                        ast::CovType::Unit(u) => (self.unit(u), Vec::new()),
                        ast::CovType::Categories(ls, _) => {
                            let mut seen: Vec<String> = Vec::new();
                            for l in ls {
                                if seen.contains(&l.text) {
                                    self.report(Diagnostic::error(
                                        codes::E0006,
                                        format!("level `{}` is listed twice", l.text),
                                        l.span,
                                    ));
                                } else {
                                    seen.push(l.text.clone());
                                }
                            }
                            (None, seen)
                        }
                    };
                    let is_cat = !levels.is_empty();
                    if !is_cat && unit.is_none() {
                        // Unknown unit already reported; still declare the name as dimensionless.
                    }
                    let idx = self.model.as_ref().map(|m| m.covariates.len()).unwrap_or(0);
                    let mut value = 0.0;
                    if let Some(d) = default {
                        if is_cat {
                            match &d.kind {
                                ast::ExprKind::Path(p) if p.parts.len() == 1 => {
                                    match levels.iter().position(|l| *l == p.parts[0].text) {
                                        Some(i) => value = i as f64,
                                        None => {
                                            let mut diag = Diagnostic::error(
                                                codes::E0016,
                                                format!(
                                                    "`{}` is not a level of `{}`",
                                                    p.parts[0].text, name.text
                                                ),
                                                d.span,
                                            );
                                            if let Some(s) = did_you_mean(
                                                &p.parts[0].text,
                                                levels.iter().map(String::as_str),
                                            ) {
                                                diag =
                                                    diag.with_help(format!("did you mean `{s}`?"));
                                            }
                                            self.report(diag);
                                        }
                                    }
                                }
                                _ => self.report(Diagnostic::error(
                                    codes::E0019,
                                    "the default of a categorical covariate is one of its levels",
                                    d.span,
                                )),
                            }
                        } else if let Some(u) = unit {
                            let saved = std::mem::replace(&mut self.scope, Scope::Const);
                            let h = self.expr(d);
                            self.scope = saved;
                            let h =
                                self.coerce_decl(h, u, &format!("covariate `{}`", name.text), None);
                            match consts::eval(&h) {
                                Some(v) => value = v,
                                None if h.ty != Type::Error => self.report(Diagnostic::error(
                                    codes::E0019,
                                    "a covariate default must be a constant",
                                    d.span,
                                )),
                                None => {}
                            }
                        }
                    }
                    let cov = hir::Covariate {
                        name: q(name),
                        unit: if is_cat {
                            None
                        } else {
                            Some(unit.unwrap_or(Unit::ONE))
                        },
                        levels,
                        default: value,
                        span: st.span,
                    };
                    if let Some(m) = self.model.as_mut() {
                        m.covariates.push(cov);
                    }
                    self.declare(q(name), Sym::Covariate(idx), name.span);
                }
                StmtKind::Genotype {
                    name,
                    gene,
                    default,
                } => {
                    let gname = gene.parts.last().cloned().unwrap_or_else(|| name.clone());
                    let gid = match self.global(&gname, "gene") {
                        Some(Global::Gene(g)) => Some(g),
                        Some(_) => {
                            self.report(Diagnostic::error(
                                codes::E0019,
                                format!("`{}` is not a gene", gname.text),
                                gene.span,
                            ));
                            None
                        }
                        None => None,
                    };
                    let Some(g) = gid else { continue };
                    let mut def = 0;
                    if let Some(d) = default {
                        match super::gene::diplotype_index(&self.program.genes[g], &d.text) {
                            Some(i) => def = i,
                            None => {
                                let gene_ref = &self.program.genes[g];
                                let mut diag = Diagnostic::error(
                                    codes::E0016,
                                    format!(
                                        "`{}` is not a diplotype of `{}`",
                                        d.text, gene_ref.name
                                    ),
                                    d.span,
                                );
                                if let Some(s) = did_you_mean(
                                    &d.text,
                                    gene_ref.diplotype_names.iter().map(String::as_str),
                                ) {
                                    diag = diag.with_help(format!("did you mean \"{s}\"?"));
                                }
                                self.report(diag);
                            }
                        }
                    } else if let Some(i) =
                        self.program.genes[g].diplotype_freq.first().and_then(|f| {
                            f.iter()
                                .enumerate()
                                .max_by(|a, b| a.1.total_cmp(b.1))
                                .map(|(i, _)| i)
                        })
                    {
                        // Without a default, the most frequent diplotype of the first ancestry.
                        def = i;
                    }
                    let idx = self.model.as_ref().map(|m| m.genotypes.len()).unwrap_or(0);
                    if let Some(m) = self.model.as_mut() {
                        m.genotypes.push(hir::GenotypeVar {
                            name: q(name),
                            gene: g,
                            default: def,
                            span: st.span,
                        });
                    }
                    self.declare(q(name), Sym::Genotype(idx), name.span);
                }
                StmtKind::Param {
                    name, unit, value, ..
                }
                | StmtKind::Let { name, unit, value } => {
                    let domain = match &st.kind {
                        StmtKind::Param { domain, .. } => domain.as_deref().cloned(),
                        _ => None,
                    };
                    let p = Pending {
                        domain,
                        name: q(name),
                        prefix: prefix.to_string(),
                        unit: unit.clone(),
                        value: Some(value.clone()),
                        name_span: name.span,
                        span: st.span,
                        done: None,
                        error: Vec::new(),
                    };
                    let Some(m) = self.model.as_mut() else {
                        continue;
                    };
                    let sym = if matches!(st.kind, StmtKind::Param { .. }) {
                        m.params.push(p);
                        Sym::Param(m.params.len() - 1)
                    } else {
                        m.lets.push(p);
                        Sym::Let(m.lets.len() - 1)
                    };
                    self.declare(q(name), sym, name.span);
                }
                StmtKind::Observe {
                    name,
                    unit,
                    value: Some(value),
                    error,
                } => {
                    let p = Pending {
                        name: q(name),
                        prefix: prefix.to_string(),
                        unit: unit.clone(),
                        value: Some(value.clone()),
                        name_span: name.span,
                        span: st.span,
                        done: None,
                        error: error.clone(),
                        domain: None,
                    };
                    let Some(m) = self.model.as_mut() else {
                        continue;
                    };
                    m.observables.push(p);
                    let sym = Sym::Observable(m.observables.len() - 1);
                    self.declare(q(name), sym, name.span);
                }
                StmtKind::Compartment { name, unit, init }
                | StmtKind::State { name, unit, init } => {
                    let kind = if matches!(st.kind, StmtKind::Compartment { .. }) {
                        hir::StateKind::Compartment
                    } else {
                        hir::StateKind::State
                    };
                    let u = self.unit(unit);
                    let decl = StateDecl {
                        kind,
                        unit: u,
                        init: init.clone(),
                        prefix: prefix.to_string(),
                        span: st.span,
                        name_span: name.span,
                    };
                    let Some(m) = self.model.as_mut() else {
                        continue;
                    };
                    m.states.push((q(name), decl));
                    let sym = Sym::State(m.states.len() - 1);
                    self.declare(q(name), sym, name.span);
                }
                StmtKind::Input { name, unit } => {
                    let Some(u) = self.unit(unit) else { continue };
                    let Some(m) = self.model.as_mut() else {
                        continue;
                    };
                    m.inputs.push(hir::Input {
                        name: q(name),
                        unit: u,
                        span: st.span,
                    });
                    let sym = Sym::Input(m.inputs.len() - 1);
                    self.declare(q(name), sym, name.span);
                }
                StmtKind::Pathway { name, body } => {
                    let inner = format!("{prefix}{}.", name.text);
                    if let Some(m) = self.model.as_mut() {
                        if m.pathways.contains(&q(name)) {
                            self.report(Diagnostic::error(
                                codes::E0006,
                                format!("pathway `{}` is defined twice", q(name)),
                                name.span,
                            ));
                        } else {
                            m.pathways.push(q(name));
                        }
                    }
                    self.collect(body, &inner, deferred);
                }
                _ => deferred.push((prefix.to_string(), st.clone())),
            }
        }
    }

    /// Checks one model.
    pub fn check_model(&mut self, decl: &ast::ModelDecl, span: Span) -> hir::Model {
        self.model = Some(ModelScope::default());
        let mut deferred = Vec::new();
        self.collect(&decl.body, "", &mut deferred);
        let inherited = std::mem::take(&mut self.merged_inputs);
        self.check_merged_inputs(&inherited);

        // Molecular weight first: flows and doses may need it.
        let mut molecular_weight = None;
        for (_, st) in &deferred {
            if let StmtKind::MolecularWeight { value } = &st.kind {
                if molecular_weight.is_some() {
                    self.report(Diagnostic::error(
                        codes::E0006,
                        "`molecular_weight` is declared twice",
                        st.span,
                    ));
                    continue;
                }
                let target = match (self.units.get("g"), self.units.get("mol")) {
                    (Some(g), Some(mol)) => g.div(mol).ok(),
                    _ => None,
                };
                let saved = std::mem::replace(&mut self.scope, Scope::Const);
                let h = self.expr(value);
                self.scope = saved;
                if let Some(t) = target {
                    let h = self.coerce(h, t, codes::E0008, "`molecular_weight`");
                    match consts::eval(&h) {
                        Some(v) if v > 0.0 && v.is_finite() => molecular_weight = Some(v),
                        Some(_) => self.report(Diagnostic::error(
                            codes::E0008,
                            "`molecular_weight` must be positive",
                            value.span,
                        )),
                        None if h.ty != Type::Error => self.report(Diagnostic::error(
                            codes::E0008,
                            "`molecular_weight` must be a constant",
                            value.span,
                        )),
                        None => {}
                    }
                }
            }
        }

        // Values of params, lets and observables.
        let np = self.model.as_ref().map(|m| m.params.len()).unwrap_or(0);
        for i in 0..np {
            self.check_pending(Sym::Param(i));
        }
        let nl = self.model.as_ref().map(|m| m.lets.len()).unwrap_or(0);
        for i in 0..nl {
            self.check_pending(Sym::Let(i));
        }
        let no = self
            .model
            .as_ref()
            .map(|m| m.observables.len())
            .unwrap_or(0);
        for i in 0..no {
            self.check_pending(Sym::Observable(i));
        }

        // States: initial values.
        let state_decls: Vec<(String, StateDecl)> = self
            .model
            .as_ref()
            .map(|m| m.states.clone())
            .unwrap_or_default();
        let mut states = Vec::new();
        for (name, sd) in &state_decls {
            let unit = sd.unit.unwrap_or(Unit::ONE);
            let init = match &sd.init {
                None => hir::Expr {
                    kind: ExprKind::Const(0.0),
                    ty: Type::Num(unit),
                    span: sd.span,
                },
                Some(e) => {
                    let saved = std::mem::replace(
                        &mut self.scope,
                        Scope::Model {
                            prefix: sd.prefix.clone(),
                        },
                    );
                    let h = self.expr(e);
                    self.scope = saved;
                    let h = self.coerce_to_state(
                        h,
                        unit,
                        molecular_weight,
                        &format!("the initial value of `{name}`"),
                        codes::E0008,
                    );
                    if let Some((bad, at)) = time_varying_ref(&h) {
                        let bad = self.sym_name(bad);
                        self.report(
                            Diagnostic::error(codes::E0019, format!("the initial value of `{name}` depends on `{bad}`, which changes over time"), at)
                                .with_help("initial values may use params, covariates and genotypes"),
                        );
                    }
                    h
                }
            };
            states.push(hir::State {
                name: name.clone(),
                unit,
                kind: sd.kind,
                init,
                rhs: Vec::new(),
                bioavailability: None,
                lag: None,
                span: sd.span,
            });
        }

        // Flows, derivatives, random effects, observations.
        let mut flows = Vec::new();
        let mut has_deriv = vec![None::<Span>; states.len()];
        let mut effects: Vec<hir::RandomEffect> = Vec::new();
        let mut effect_corr = Vec::new();
        let mut observe_existing = Vec::new();
        for (prefix, st) in &deferred {
            match &st.kind {
                StmtKind::Flow {
                    from,
                    to,
                    to_span,
                    rate,
                } => {
                    let src = self.state_ref(prefix, from, "a flow source");
                    let dst = match to {
                        Some(t) => self.state_ref(prefix, t, "a flow target"),
                        None => Some(usize::MAX),
                    };
                    let _ = to_span;
                    let saved = std::mem::replace(
                        &mut self.scope,
                        Scope::Model {
                            prefix: prefix.clone(),
                        },
                    );
                    let h = self.expr(rate);
                    self.scope = saved;
                    let (Some(src), Some(dst)) = (src, dst) else {
                        continue;
                    };
                    let su = states[src].unit;
                    let Ok(want) = su.div(self.hour) else {
                        continue;
                    };
                    let h = match h.ty {
                        Type::Num(u) if u.dim == want.dim => self.convert(h, want),
                        Type::Error => continue,
                        t => {
                            self.report(
                                Diagnostic::error(codes::E0009, format!("the rate of a flow out of `{}` must be in {} per time, found {}", states[src].name, self.describe(su), self.describe_type(t)), h.span)
                                    .with_label_message(format!("this is {}", self.describe_type(t)))
                                    .with_label(from.span, format!("`{}` holds {}", states[src].name, self.describe(su)))
                                    .with_help(match t {
                                        Type::Num(u) => self.conversion_help(u, want),
                                        _ => "a flow rate is an amount per time".into(),
                                    }),
                            );
                            continue;
                        }
                    };
                    let neg = hir::Expr {
                        kind: ExprKind::Unary(ast::UnOp::Neg, Box::new(h.clone())),
                        ty: h.ty,
                        span: h.span,
                    };
                    states[src].rhs.push(neg);
                    if dst != usize::MAX {
                        let du = states[dst].unit;
                        let Ok(dwant) = du.div(self.hour) else {
                            continue;
                        };
                        let term = self.coerce_to_state(
                            h.clone(),
                            dwant,
                            molecular_weight,
                            &format!("the flow into `{}`", states[dst].name),
                            codes::E0009,
                        );
                        if term.ty == Type::Error {
                            continue;
                        }
                        states[dst].rhs.push(term);
                    }
                    flows.push(hir::Flow {
                        from: src,
                        to: if dst == usize::MAX { None } else { Some(dst) },
                        rate: h,
                        span: st.span,
                    });
                }
                StmtKind::DoseAdjust {
                    target,
                    kind,
                    value,
                } => {
                    let saved = std::mem::replace(
                        &mut self.scope,
                        Scope::Model {
                            prefix: prefix.clone(),
                        },
                    );
                    let idx = self.model_ref(prefix, &target.joined(), target.span);
                    let h = self.expr(value);
                    self.scope = saved;
                    let i = match idx.map(|e| e.kind) {
                        Some(ExprKind::Sym(Sym::State(i))) => i,
                        Some(_) => {
                            self.report(
                                Diagnostic::error(
                                    codes::E0051,
                                    format!(
                                        "`{}` is not a compartment or state: doses go into states",
                                        target.joined()
                                    ),
                                    target.span,
                                )
                                .with_help(format!(
                                    "write `{} COMPARTMENT = …` with a compartment of this model",
                                    kind.keyword()
                                )),
                            );
                            continue;
                        }
                        None => {
                            self.unknown_state(prefix, target);
                            continue;
                        }
                    };
                    let (want, what) = match kind {
                        ast::DoseAdjustKind::Bioavailability => {
                            (Unit::ONE, "a bioavailable fraction")
                        }
                        ast::DoseAdjustKind::Lag => (self.hour, "a lag time"),
                    };
                    let h = self.coerce(h, want, codes::E0051, what);
                    if h.ty == Type::Error {
                        continue;
                    }
                    if let Some((bad, at)) = time_varying_ref(&h) {
                        let bad = self.sym_name(bad);
                        self.report(
                            Diagnostic::error(codes::E0051, format!("{what} of `{}` depends on `{bad}`, which changes over time", states[i].name), at)
                                .with_help("it is applied per dose; it may use params, covariates and genotypes"),
                        );
                        continue;
                    }
                    if let Some(v) = crate::check::consts::eval(&h)
                        && (!v.is_finite() || v < 0.0)
                    {
                        self.report(Diagnostic::error(
                            codes::E0051,
                            format!("{what} must not be negative (it is {v})"),
                            value.span,
                        ));
                        continue;
                    }
                    let slot = match kind {
                        ast::DoseAdjustKind::Bioavailability => &mut states[i].bioavailability,
                        ast::DoseAdjustKind::Lag => &mut states[i].lag,
                    };
                    if slot.is_some() {
                        self.report(
                            Diagnostic::error(
                                codes::E0051,
                                format!("`{} {}` is set twice", kind.keyword(), states[i].name),
                                st.span,
                            )
                            .with_help("keep one definition"),
                        );
                        continue;
                    }
                    *slot = Some(h);
                }
                StmtKind::Deriv { target, value } => {
                    let saved = std::mem::replace(
                        &mut self.scope,
                        Scope::Model {
                            prefix: prefix.clone(),
                        },
                    );
                    let idx = self.model_ref(prefix, &target.joined(), target.span);
                    let h = self.expr(value);
                    self.scope = saved;
                    let i = match idx.map(|e| e.kind) {
                        Some(ExprKind::Sym(Sym::State(i))) => i,
                        Some(_) => {
                            self.report(
                                Diagnostic::error(
                                    codes::E0022,
                                    format!("`{}` is not a state", target.joined()),
                                    target.span,
                                )
                                .with_help("declare it with `state NAME: unit = initial`"),
                            );
                            continue;
                        }
                        None => {
                            self.unknown_state(prefix, target);
                            continue;
                        }
                    };
                    if states[i].kind == hir::StateKind::Compartment {
                        self.report(
                            Diagnostic::error(codes::E0022, format!("`{}` is a compartment; it changes only through flows", states[i].name), target.span)
                                .with_help("write `flow A -> B = rate` (mass balance by construction), or declare it with `state` to write its d/dt"),
                        );
                        continue;
                    }
                    if let Some(prev) = has_deriv[i] {
                        self.report(
                            Diagnostic::error(
                                codes::E0022,
                                format!("`{}` has two `d/dt` equations", states[i].name),
                                st.span,
                            )
                            .with_label(prev, "first one here")
                            .with_help("add the terms into one equation"),
                        );
                        continue;
                    }
                    has_deriv[i] = Some(st.span);
                    let su = states[i].unit;
                    let Ok(want) = su.div(self.hour) else {
                        continue;
                    };
                    let h = match h.ty {
                        Type::Num(u) if u.dim == want.dim => self.convert(h, want),
                        Type::Error => continue,
                        t => {
                            self.report(
                                Diagnostic::error(
                                    codes::E0010,
                                    format!(
                                        "`d/dt {}` must be in {} per time, found {}",
                                        states[i].name,
                                        self.describe(su),
                                        self.describe_type(t)
                                    ),
                                    h.span,
                                )
                                .with_label_message(format!("this is {}", self.describe_type(t)))
                                .with_label(
                                    target.span,
                                    format!("`{}` is in {}", states[i].name, self.describe(su)),
                                )
                                .with_help(match t {
                                    Type::Num(u) => self.conversion_help(u, want),
                                    _ => "a derivative is a number per time".into(),
                                }),
                            );
                            continue;
                        }
                    };
                    states[i].rhs.push(h);
                }
                StmtKind::Vary {
                    target,
                    dist,
                    per_occasion,
                } => {
                    if let Some(e) =
                        self.random_effect(prefix, target, dist, per_occasion.is_some(), &effects)
                    {
                        effects.push(e);
                    }
                }
                StmtKind::Correlate { a, b, value } => {
                    let find = |c: &Checker, n: &ast::Name| -> Option<usize> {
                        let sym = c
                            .model
                            .as_ref()?
                            .names
                            .get(&format!("{prefix}{}", n.text))
                            .or_else(|| c.model.as_ref()?.names.get(&n.text))
                            .copied();
                        match sym {
                            Some(Sym::Param(p)) => effects
                                .iter()
                                .position(|e| e.param == p && !e.per_occasion)
                                .or_else(|| effects.iter().position(|e| e.param == p)),
                            _ => None,
                        }
                    };
                    let ia = find(self, a);
                    let ib = find(self, b);
                    for (n, i) in [(a, ia), (b, ib)] {
                        if i.is_none() {
                            self.report(
                                Diagnostic::error(
                                    codes::E0030,
                                    format!("`{}` has no random effect to correlate", n.text),
                                    n.span,
                                )
                                .with_help(format!(
                                    "add `vary {} ~ lognormal(cv: …)` first",
                                    n.text
                                )),
                            );
                        }
                    }
                    let rho = self.const_number(value, "a correlation");
                    if let (Some(ia), Some(ib), Some(r)) = (ia, ib, rho) {
                        if effects[ia].per_occasion != effects[ib].per_occasion {
                            self.report(
                                Diagnostic::error(
                                    codes::E0030,
                                    "a correlation is between two between-patient effects or two per-occasion effects",
                                    st.span,
                                )
                                .with_help("correlate the between-patient η's; per-occasion η's are correlated with each other only"),
                            );
                        } else if ia == ib || !(-1.0..=1.0).contains(&r) || r.abs() >= 1.0 {
                            self.report(
                                Diagnostic::error(codes::E0030, "a correlation must be strictly between -1 and 1, between two different effects", value.span)
                                    .with_label_message(format!("ρ = {r}")),
                            );
                        } else {
                            effect_corr.push((ia, ib, r, st.span));
                        }
                    }
                }
                StmtKind::Observe {
                    name,
                    unit,
                    value: None,
                    error,
                } => observe_existing.push((
                    prefix.clone(),
                    name.clone(),
                    unit.clone(),
                    error.clone(),
                    st.span,
                )),
                _ => {}
            }
        }
        for (i, s) in states.iter().enumerate() {
            if s.kind == hir::StateKind::State && has_deriv[i].is_none() {
                self.report(
                    Diagnostic::error(
                        codes::E0022,
                        format!("state `{}` has no `d/dt` equation", s.name),
                        state_decls[i].1.name_span,
                    )
                    .with_help(format!(
                        "add `d/dt {} = …`, or make it a `param` if it is constant",
                        s.name.rsplit('.').next().unwrap_or(&s.name)
                    )),
                );
            }
        }
        if !effect_corr.is_empty() {
            let n = effects.len();
            self.check_positive_definite(n, &effect_corr, "random effects");
        }

        // Observables: defined ones, then observed existing names.
        let mut observables = Vec::new();
        let pend_obs: Vec<Pending> = self
            .model
            .as_ref()
            .map(|m| m.observables.clone())
            .unwrap_or_default();
        for p in &pend_obs {
            let value = p.done.clone().unwrap_or_else(|| error_expr(p.span));
            let error = self.residual_error(&p.error, value.ty);
            observables.push(hir::Observable {
                name: p.name.clone(),
                value,
                error,
                span: p.span,
            });
        }
        for (prefix, name, unit, error, span) in observe_existing {
            let saved = std::mem::replace(
                &mut self.scope,
                Scope::Model {
                    prefix: prefix.clone(),
                },
            );
            let path = ast::Path {
                parts: vec![name.clone()],
                span: name.span,
            };
            let value = self.expr(&ast::Expr {
                kind: ast::ExprKind::Path(path),
                span: name.span,
            });
            self.scope = saved;
            let value = match unit.as_ref().and_then(|u| self.unit(u)) {
                Some(u) => self.coerce_decl(
                    value,
                    u,
                    &format!("observable `{}`", name.text),
                    unit.as_ref().map(|u| u.span()),
                ),
                None => value,
            };
            if let Type::Genotype(_) | Type::Phenotype(_) | Type::Category(_) | Type::Str = value.ty
            {
                self.report(Diagnostic::error(
                    codes::E0019,
                    "only numbers and conditions can be observed",
                    name.span,
                ));
                continue;
            }
            let error = self.residual_error(&error, value.ty);
            let full = format!("{prefix}{}", name.text);
            if observables.iter().any(|o: &hir::Observable| o.name == full) {
                self.report(Diagnostic::error(
                    codes::E0006,
                    format!("`{full}` is observed twice"),
                    span,
                ));
                continue;
            }
            observables.push(hir::Observable {
                name: full,
                value,
                error,
                span,
            });
        }

        let m = self.model.take().unwrap_or_default();
        self.model = Some(m.clone());
        let (params, lets, order) = self.sorted_definitions(&m);

        // Unused params (a random effect does not count as a use).
        let used = self
            .model
            .as_ref()
            .map(|m| m.used.clone())
            .unwrap_or_default();
        for (i, p) in m.params.iter().enumerate() {
            // A second definition of a name is already an error (E0006) and can never be used.
            let duplicate = m.names.get(&p.name) != Some(&Sym::Param(i));
            if !used.contains(&Sym::Param(i)) && !duplicate {
                self.report(
                    Diagnostic::warning(
                        codes::W0001,
                        format!("param `{}` is never used", p.name),
                        p.name_span,
                    )
                    .with_help("remove it, or use it in a flow, equation or observable"),
                );
            }
        }

        for (i, l) in m.lets.iter().enumerate() {
            if !used.contains(&Sym::Let(i)) {
                self.report(
                    Diagnostic::warning(
                        codes::W0002,
                        format!("`{}` is never used", l.name),
                        l.name_span,
                    )
                    .with_help("use it in an equation, or `observe` it to see it in the output"),
                );
            }
        }

        hir::Model {
            name: decl.name.text.clone(),
            covariates: m.covariates.clone(),
            genotypes: m.genotypes.clone(),
            params,
            effects,
            effect_correlations: effect_corr
                .into_iter()
                .map(|(a, b, r, _)| (a, b, r))
                .collect(),
            states,
            flows,
            lets,
            observables,
            molecular_weight,
            inputs: m.inputs.clone(),
            name_span: decl.name.span,
            order,
            span,
        }
    }

    /// Converts a value into a state's unit, through the molecular weight for mass ↔ amount.
    pub(super) fn coerce_to_state(
        &mut self,
        h: hir::Expr,
        target: Unit,
        mw: Option<f64>,
        what: &str,
        code: &'static str,
    ) -> hir::Expr {
        let Type::Num(u) = h.ty else {
            return self.coerce(h, target, code, what);
        };
        if u.dim == target.dim {
            return self.convert(h, target);
        }
        let (Some(g), Some(mol)) = (self.units.get("g"), self.units.get("mol")) else {
            return self.coerce(h, target, code, what);
        };
        let (Ok(per_mol), Ok(per_g)) = (g.div(mol), mol.div(g)) else {
            return self.coerce(h, target, code, what);
        };
        // mass → amount divides by MW (g/mol); amount → mass multiplies.
        let via = if u.dim.mul(per_g.dim) == Some(target.dim) {
            Some((per_g, true))
        } else if u.dim.mul(per_mol.dim) == Some(target.dim) {
            Some((per_mol, false))
        } else {
            None
        };
        match (via, mw) {
            (Some((factor_unit, divide)), Some(mw)) => {
                let value = if divide { 1.0 / mw } else { mw };
                let k = hir::Expr {
                    kind: ExprKind::Const(value),
                    ty: Type::Num(factor_unit),
                    span: h.span,
                };
                let span = h.span;
                let Ok(u2) = u.mul(factor_unit) else {
                    return error_expr(span);
                };
                let prod = hir::Expr {
                    kind: ExprKind::Binary(ast::BinOp::Mul, Box::new(h), Box::new(k)),
                    ty: Type::Num(u2),
                    span,
                };
                self.convert(prod, target)
            }
            (Some(_), None) => {
                self.report(
                    Diagnostic::error(codes::E0018, format!("{what} converts between mass and amount, which needs a molecular weight"), h.span)
                        .with_label_message(format!("this is {}, the target is {}", self.describe(u), self.describe(target)))
                        .with_help("declare `molecular_weight = … g/mol` in the model"),
                );
                error_expr(h.span)
            }
            (None, _) => self.coerce(h, target, code, what),
        }
    }

    fn unknown_state(&mut self, prefix: &str, p: &ast::Path) {
        let full = p.joined();
        let cands: Vec<String> = self
            .model
            .as_ref()
            .map(|m| {
                m.states
                    .iter()
                    .flat_map(|(n, _)| [n.clone(), n.strip_prefix(prefix).unwrap_or(n).to_string()])
                    .collect()
            })
            .unwrap_or_default();
        let mut d = Diagnostic::error(
            codes::E0021,
            format!("unknown compartment `{full}`"),
            p.span,
        )
        .with_label_message("no compartment or state of this name");
        if let Some(s) = did_you_mean(&full, cands.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else {
            d = d.with_help("declare it with `compartment NAME: unit`");
        }
        self.report(d);
    }

    /// Resolves a compartment reference in a flow (or dose), reporting non-compartments.
    pub fn state_ref(&mut self, prefix: &str, p: &ast::Path, what: &str) -> Option<usize> {
        let full = p.joined();
        let m = self.model.as_ref()?;
        let sym = m.lookup(prefix, &full);
        match sym {
            Some(Sym::State(i)) => Some(i),
            Some(other) => {
                let name = self.sym_name(other);
                self.report(
                    Diagnostic::error(
                        codes::E0021,
                        format!("{what} must be a compartment; `{name}` is not"),
                        p.span,
                    )
                    .with_help("flows and doses move amounts between `compartment`s"),
                );
                None
            }
            None => {
                self.unknown_state(prefix, p);
                None
            }
        }
    }

    /// Checks a constant dimensionless number.
    pub fn const_number(&mut self, e: &ast::Expr, what: &str) -> Option<f64> {
        let saved = std::mem::replace(&mut self.scope, Scope::Const);
        let h = self.expr(e);
        self.scope = saved;
        let h = self.dimensionless(h, what);
        if h.ty == Type::Error {
            return None;
        }
        match consts::eval(&h) {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                self.report(Diagnostic::error(
                    codes::E0019,
                    format!("{what} must be a constant"),
                    e.span,
                ));
                None
            }
        }
    }

    fn random_effect(
        &mut self,
        prefix: &str,
        target: &ast::Name,
        dist: &ast::Call,
        per_occasion: bool,
        existing: &[hir::RandomEffect],
    ) -> Option<hir::RandomEffect> {
        let sym = self.model.as_ref().and_then(|m| {
            m.names
                .get(&format!("{prefix}{}", target.text))
                .or_else(|| m.names.get(&target.text))
                .copied()
        });
        let p = match sym {
            Some(Sym::Param(p)) => p,
            Some(_) => {
                self.report(
                    Diagnostic::error(
                        codes::E0025,
                        format!(
                            "`{}` is not a param; only params vary between patients",
                            target.text
                        ),
                        target.span,
                    )
                    .with_help("covariates are drawn in a trial's `population` block"),
                );
                return None;
            }
            None => {
                let cands: Vec<String> = self
                    .model
                    .as_ref()
                    .map(|m| m.params.iter().map(|p| p.name.clone()).collect())
                    .unwrap_or_default();
                let mut d = Diagnostic::error(
                    codes::E0004,
                    format!("unknown param `{}`", target.text),
                    target.span,
                );
                if let Some(s) = did_you_mean(&target.text, cands.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.report(d);
                return None;
            }
        };
        if existing
            .iter()
            .any(|e| e.param == p && e.per_occasion == per_occasion)
        {
            let what = if per_occasion {
                "a per-occasion random effect"
            } else {
                "a random effect"
            };
            self.report(
                Diagnostic::error(
                    codes::E0006,
                    format!("`{}` already has {what}", target.text),
                    target.span,
                )
                .with_help("a param has at most one η between patients and one `per occasion`"),
            );
            return None;
        }
        let kind = match dist.func.joined().as_str() {
            "lognormal" => hir::EffectKind::LogNormal,
            "normal" => hir::EffectKind::Normal,
            "logit" | "logitnormal" => hir::EffectKind::Logit,
            other => {
                let mut d = Diagnostic::error(
                    codes::E0025,
                    format!("unknown random-effect distribution `{other}`"),
                    dist.func.span,
                )
                .with_help(
                    "use lognormal(cv: …), lognormal(omega: …), normal(sd: …) or logit(sd: …)",
                );
                if let Some(s) = did_you_mean(other, ["lognormal", "normal", "logit"]) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.report(d);
                return None;
            }
        };
        let [arg] = dist.args.as_slice() else {
            self.report(
                Diagnostic::error(
                    codes::E0025,
                    "a random effect takes one named argument",
                    dist.span,
                )
                .with_help("e.g. lognormal(cv: 30%) or lognormal(omega: 0.09)"),
            );
            return None;
        };
        let key = arg.name.as_ref().map(|n| n.text.as_str()).unwrap_or("");
        let param_unit = self.sym_type(Sym::Param(p)).unit().unwrap_or(Unit::ONE);
        let variance = match (kind, key) {
            (hir::EffectKind::LogNormal, "cv") => {
                let cv = self.const_number(&arg.value, "a CV")?;
                if cv <= 0.0 {
                    self.report(
                        Diagnostic::error(codes::E0025, "a CV must be positive", arg.value.span)
                            .with_label_message(format!("CV = {cv}")),
                    );
                    return None;
                }
                // Exact for a log-normal: CV² = exp(ω²) − 1.
                (1.0 + cv * cv).ln()
            }
            (_, "omega") | (_, "variance") => {
                let v = self.const_number(&arg.value, "a variance")?;
                if v <= 0.0 {
                    self.report(Diagnostic::error(
                        codes::E0025,
                        "a variance must be positive",
                        arg.value.span,
                    ));
                    return None;
                }
                v
            }
            (hir::EffectKind::Normal, "sd") => {
                let saved = std::mem::replace(&mut self.scope, Scope::Const);
                let h = self.expr(&arg.value);
                self.scope = saved;
                let h = self.coerce(
                    h,
                    param_unit,
                    codes::E0025,
                    "the SD of a normal random effect",
                );
                let v = consts::eval(&h)?;
                if v <= 0.0 {
                    self.report(Diagnostic::error(
                        codes::E0025,
                        "an SD must be positive",
                        arg.value.span,
                    ));
                    return None;
                }
                v * v
            }
            (_, "sd") => {
                let v = self.const_number(&arg.value, "an SD")?;
                if v <= 0.0 {
                    self.report(Diagnostic::error(
                        codes::E0025,
                        "an SD must be positive",
                        arg.value.span,
                    ));
                    return None;
                }
                v * v
            }
            _ => {
                self.report(
                    Diagnostic::error(codes::E0025, format!("`{}` does not take `{key}`", dist.func.joined()), arg.value.span)
                        .with_help("lognormal takes cv, omega or sd; normal takes sd or variance; logit takes sd or omega"),
                );
                return None;
            }
        };
        if let Some(other) = existing.iter().find(|e| e.param == p && e.kind != kind) {
            self.report(
                Diagnostic::error(
                    codes::E0025,
                    format!(
                        "the random effects of `{}` must enter the same way: both lognormal, both normal or both logit",
                        target.text
                    ),
                    dist.span,
                )
                .with_label_message("this one")
                .with_label(other.span, "differs from this one"),
            );
            return None;
        }
        Some(hir::RandomEffect {
            param: p,
            kind,
            variance,
            per_occasion,
            span: dist.span,
        })
    }

    /// Checks that a correlation matrix with unit diagonal is positive definite (Cholesky).
    pub fn check_positive_definite(
        &mut self,
        n: usize,
        entries: &[(usize, usize, f64, Span)],
        what: &str,
    ) {
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            m[i * n + i] = 1.0;
        }
        for &(a, b, r, _) in entries {
            m[a * n + b] = r;
            m[b * n + a] = r;
        }
        if crate::linalg::cholesky(&m, n).is_none() {
            let mut d = Diagnostic::error(codes::E0030, format!("the correlations between {what} do not form a valid correlation matrix"), entries[0].3)
                .with_help("the matrix must be positive definite; some of these correlations contradict each other");
            for e in entries.iter().skip(1) {
                d = d.with_label(e.3, "part of the same matrix");
            }
            self.report(d);
        }
    }

    fn residual_error(&mut self, calls: &[ast::Call], ty: Type) -> hir::ResidualError {
        let mut err = hir::ResidualError::default();
        for c in calls {
            let name = c.func.joined();
            let [arg] = c.args.as_slice() else {
                self.report(Diagnostic::error(
                    codes::E0025,
                    format!("`{name}` takes one argument"),
                    c.span,
                ));
                continue;
            };
            match name.as_str() {
                "proportional" => {
                    if let Some(v) = self.const_number(&arg.value, "a proportional error") {
                        if v < 0.0 {
                            self.report(Diagnostic::error(
                                codes::E0025,
                                "an error SD cannot be negative",
                                arg.value.span,
                            ));
                        }
                        err.proportional = v;
                    }
                }
                "additive" => {
                    let Type::Num(u) = ty else { continue };
                    let saved = std::mem::replace(&mut self.scope, Scope::Const);
                    let h = self.expr(&arg.value);
                    self.scope = saved;
                    let h = self.coerce(h, u, codes::E0025, "an additive error");
                    if let Some(v) = consts::eval(&h) {
                        if v < 0.0 {
                            self.report(Diagnostic::error(
                                codes::E0025,
                                "an error SD cannot be negative",
                                arg.value.span,
                            ));
                        }
                        err.additive = v;
                    }
                }
                other => {
                    let mut d = Diagnostic::error(
                        codes::E0025,
                        format!("unknown residual error model `{other}`"),
                        c.func.span,
                    )
                    .with_help("use `proportional(10%)`, `additive(0.1 mg/L)` or their sum");
                    if let Some(s) = did_you_mean(other, ["proportional", "additive"]) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.report(d);
                }
            }
        }
        err
    }

    /// Params and lets in dependency order; cycles among declared-unit definitions are reported.
    /// The domain of a param: the declared one (each bound a constant in the param's unit) or
    /// the default of the param's dimension (volumes `> 0`, clearances and flows `>= 0`, rate
    /// constants `>= 0`). A typical value that is a constant outside it is E0045 here; values
    /// that depend on the patient are checked when each patient is set up.
    fn param_domain(&mut self, p: &Pending, unit: Unit, value: &hir::Expr) -> hir::Domain {
        let shown = |ck: &Checker, v: f64| {
            if unit == Unit::ONE {
                format!("{v}")
            } else {
                format!("{v} {}", ck.units.format_unit(unit))
            }
        };
        let mut empty = false;
        let domain = match &p.domain {
            Some(decl) => {
                let bound = |ck: &mut Checker, b: &Option<ast::Bound>| -> Option<(f64, bool)> {
                    let b = b.as_ref()?;
                    let saved = std::mem::replace(&mut ck.scope, Scope::Const);
                    let h = ck.expr(&b.value);
                    ck.scope = saved;
                    let what = format!("the domain of `{}`", p.name);
                    let h = ck.coerce(h, unit, codes::E0008, &what);
                    if h.ty == Type::Error {
                        return None;
                    }
                    match consts::eval(&h) {
                        Some(v) if !v.is_nan() => Some((v, b.inclusive)),
                        _ => {
                            ck.report(
                                Diagnostic::error(
                                    codes::E0045,
                                    format!("a bound of {what} must be a constant"),
                                    b.value.span,
                                )
                                .with_help("write the bound as a number with the param's unit"),
                            );
                            None
                        }
                    }
                };
                let lower = bound(self, &decl.lower);
                let upper = bound(self, &decl.upper);
                if let (Some((lo, _)), Some((hi, _))) = (lower, upper)
                    && lo > hi
                {
                    empty = true;
                    self.report(
                        Diagnostic::error(
                            codes::E0045,
                            format!("the domain of `{}` is empty", p.name),
                            decl.span,
                        )
                        .with_help("the lower bound comes first: `in [low, high]`"),
                    );
                }
                hir::Domain {
                    lower,
                    upper,
                    declared: true,
                    text: String::new(),
                    unit: String::new(),
                }
            }
            None => hir::Domain {
                lower: self.default_lower_bound(unit),
                upper: None,
                declared: false,
                text: String::new(),
                unit: String::new(),
            },
        };
        let text = match (domain.lower, domain.upper) {
            (Some((lo, li)), Some((hi, hi_in))) => format!(
                "in {}{}, {}{}",
                if li { "[" } else { "(" },
                shown(self, lo),
                shown(self, hi),
                if hi_in { "]" } else { ")" }
            ),
            (Some((0.0, li)), None) => format!("{} 0", if li { ">=" } else { ">" }),
            (Some((lo, li)), None) => {
                format!("{} {}", if li { ">=" } else { ">" }, shown(self, lo))
            }
            (None, Some((hi, hi_in))) => {
                format!("{} {}", if hi_in { "<=" } else { "<" }, shown(self, hi))
            }
            (None, None) => String::new(),
        };
        let unit_text = if unit == Unit::ONE {
            String::new()
        } else {
            self.units.format_unit(unit)
        };
        let domain = hir::Domain {
            text,
            unit: unit_text,
            ..domain
        };
        if value.ty != Type::Error
            && !empty
            && let Some(v) = consts::eval(value)
            && !domain.contains(v)
        {
            let mut d = Diagnostic::error(
                codes::E0045,
                format!(
                    "param `{}` = {} is outside its domain ({})",
                    p.name,
                    shown(self, v),
                    domain.text
                ),
                value.span,
            );
            d = match &p.domain {
                Some(decl) => d.with_label(decl.span, "the domain is declared here"),
                None => d.with_help(format!(
                    "{} must be {}; if this one may not, declare its domain, \
                     e.g. `param {}: {} >= {} = …`",
                    self.dimension_kind(unit),
                    domain.text,
                    p.name.rsplit('.').next().unwrap_or(&p.name),
                    self.units.format_unit(unit),
                    if v.is_finite() {
                        shown(self, v.min(0.0))
                    } else {
                        "0".into()
                    },
                )),
            };
            self.report(d);
        }
        domain
    }

    /// The lower bound a param of this unit has unless it declares a domain: `> 0` for volumes,
    /// `>= 0` for clearances (volume per time) and rate constants (per time).
    fn default_lower_bound(&self, unit: Unit) -> Option<(f64, bool)> {
        let dim = |name: &str| self.units.get(name).map(|u| u.dim);
        let (Some(vol), Some(time)) = (dim("L"), dim("h")) else {
            return None;
        };
        if unit.dim == vol {
            Some((0.0, false))
        } else if Some(unit.dim) == vol.div(time) || Some(unit.dim) == time.recip() {
            Some((0.0, true))
        } else {
            None
        }
    }

    /// What params of this unit are, for messages: `volumes`, `clearances`, `rate constants`.
    fn dimension_kind(&self, unit: Unit) -> &'static str {
        let dim = |name: &str| self.units.get(name).map(|u| u.dim);
        match (dim("L"), dim("h")) {
            (Some(vol), _) if unit.dim == vol => "volumes",
            (Some(vol), Some(time)) if Some(unit.dim) == vol.div(time) => "clearances and flows",
            (_, Some(time)) if Some(unit.dim) == time.recip() => "rate constants",
            _ => "params",
        }
    }

    fn sorted_definitions(&mut self, m: &ModelScope) -> (Vec<hir::Param>, Vec<hir::Let>, Vec<Sym>) {
        let value_of = |p: &Pending| p.done.clone().unwrap_or_else(|| error_expr(p.span));
        let syms: Vec<Sym> = (0..m.params.len())
            .map(Sym::Param)
            .chain((0..m.lets.len()).map(Sym::Let))
            .collect();
        let deps = |s: Sym| -> Vec<Sym> {
            let p = match s {
                Sym::Param(i) => &m.params[i],
                Sym::Let(i) => &m.lets[i],
                _ => return Vec::new(),
            };
            let mut rs = Vec::new();
            if let Some(d) = &p.done {
                refs(d, &mut rs);
            }
            rs.into_iter()
                .map(|(s, _)| s)
                .filter(|s| matches!(s, Sym::Param(_) | Sym::Let(_)))
                .collect()
        };
        // Depth-first topological sort.
        let mut order = Vec::new();
        let mut state: HashMap<Sym, u8> = HashMap::new();
        let mut reported = m.cyclic.clone();
        fn visit(
            s: Sym,
            deps: &dyn Fn(Sym) -> Vec<Sym>,
            state: &mut HashMap<Sym, u8>,
            order: &mut Vec<Sym>,
            stack: &mut Vec<Sym>,
            cycles: &mut Vec<Vec<Sym>>,
        ) {
            match state.get(&s) {
                Some(2) => return,
                Some(1) => {
                    let start = stack.iter().position(|x| *x == s).unwrap_or(0);
                    cycles.push(stack[start..].to_vec());
                    return;
                }
                _ => {}
            }
            state.insert(s, 1);
            stack.push(s);
            for d in deps(s) {
                visit(d, deps, state, order, stack, cycles);
            }
            stack.pop();
            state.insert(s, 2);
            order.push(s);
        }
        let mut cycles = Vec::new();
        for s in &syms {
            visit(
                *s,
                &deps,
                &mut state,
                &mut order,
                &mut Vec::new(),
                &mut cycles,
            );
        }
        for cycle in cycles {
            if cycle.iter().any(|s| reported.contains(s)) {
                continue;
            }
            let name = |s: &Sym| match s {
                Sym::Param(i) => m.params[*i].name.clone(),
                Sym::Let(i) => m.lets[*i].name.clone(),
                _ => String::new(),
            };
            let span = |s: &Sym| match s {
                Sym::Param(i) => m.params[*i].name_span,
                Sym::Let(i) => m.lets[*i].name_span,
                _ => Span::default(),
            };
            let names: Vec<String> = cycle.iter().map(name).collect();
            let mut d = Diagnostic::error(
                codes::E0023,
                format!("`{}` is defined in terms of itself", names[0]),
                span(&cycle[0]),
            )
            .with_label_message("defined here")
            .with_note(format!("the cycle is {} → {}", names.join(" → "), names[0]))
            .with_help(
                "break the cycle: one of these must be a state with a `d/dt`, or a constant",
            );
            for s in cycle.iter().skip(1) {
                d = d.with_label(span(s), format!("`{}` is part of the cycle", name(s)));
            }
            self.report(d);
            reported.extend(cycle);
        }
        let mut params = Vec::new();
        let mut lets = Vec::new();
        // Params and lets stay in declaration order (their `Sym` indices refer to it); the
        // dependency order is returned separately.
        for p in &m.params {
            let value = value_of(p);
            let unit = value.ty.unit().unwrap_or(Unit::ONE);
            let domain = self.param_domain(p, unit, &value);
            params.push(hir::Param {
                name: p.name.clone(),
                unit,
                value,
                domain,
                span: p.span,
            });
        }
        for l in &m.lets {
            lets.push(hir::Let {
                name: l.name.clone(),
                value: value_of(l),
                span: l.span,
            });
        }
        (params, lets, order)
    }
}

/// What a statement declares or sets, for merging a model into the one it `extends`.
fn merge_key(k: &StmtKind) -> Option<String> {
    Some(match k {
        StmtKind::Covariate { name, .. }
        | StmtKind::Genotype { name, .. }
        | StmtKind::Param { name, .. }
        | StmtKind::Let { name, .. }
        | StmtKind::Compartment { name, .. }
        | StmtKind::State { name, .. }
        | StmtKind::Observe {
            name,
            value: Some(_),
            ..
        }
        | StmtKind::Input { name, .. } => format!("name {}", name.text),
        // A bare `observe x` shows a name declared elsewhere: it declares nothing, so a
        // definition of `x` never replaces it (nor it a definition).
        StmtKind::Observe {
            name, value: None, ..
        } => format!("observe {}", name.text),
        StmtKind::Pathway { name, .. } => format!("pathway {}", name.text),
        StmtKind::Deriv { target, .. } => format!("d/dt {}", target.joined()),
        StmtKind::Vary { target, .. } => format!("vary {}", target.text),
        StmtKind::Flow { from, to, .. } => format!(
            "flow {} -> {}",
            from.joined(),
            to.as_ref()
                .map(ast::Path::joined)
                .unwrap_or_else(|| "out".into())
        ),
        StmtKind::Correlate { a, b, .. } => format!("correlate {} {}", a.text, b.text),
        StmtKind::MolecularWeight { .. } => "molecular_weight".into(),
        StmtKind::DoseAdjust { target, kind, .. } => {
            format!("{} {}", kind.keyword(), target.joined())
        }
        StmtKind::For(_) | StmtKind::Error => return None,
    })
}

/// A merge key as the user would write it: `` `ktr` ``, `` `d/dt marrow.circ` ``.
fn describe_key(prefix: &str, key: &str) -> String {
    match key.split_once(' ') {
        Some(("name", n)) => format!("`{prefix}{n}`"),
        Some(("d/dt", n)) => format!("`d/dt {prefix}{n}`"),
        Some(("vary", n)) => format!("`vary {prefix}{n}`"),
        Some(("observe", n)) => format!("`observe {prefix}{n}`"),
        Some(("flow", f)) if prefix.is_empty() => format!("`flow {f}`"),
        Some(("flow", f)) => format!("`flow {f}` in `{}`", prefix.trim_end_matches('.')),
        Some(("correlate", ab)) => format!("`correlate {}`", ab.replace(' ', ", ")),
        _ => format!("`{prefix}{key}`"),
    }
}

/// The text of a statement without its spans and doc comment, so that two statements written
/// alike in different places compare equal.
fn shape(k: &StmtKind) -> String {
    let text = format!("{k:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("Span { file: FileId(") {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match rest.find(" }") {
            Some(j) => rest = &rest[j + 2..],
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Two bases of a model that set the same thing differently.
#[derive(Debug, Clone)]
pub struct MergeConflict {
    /// What both set, as the user would write it (`` `ktr` ``).
    pub what: String,
    /// The earlier base's statement.
    pub first: Span,
    /// The index of the earlier base in the `extends` list.
    pub first_base: usize,
    /// The later base's statement (the one that wins unless the model resolves it).
    pub second: Span,
    /// The index of the later base.
    pub second_base: usize,
}

/// An `input` met while merging: after checking, whatever defines its name must have its unit.
#[derive(Debug, Clone)]
pub struct MergedInput {
    /// Qualified name.
    pub name: String,
    /// The declared unit.
    pub unit: ast::UnitExpr,
    /// Span of the input's name.
    pub span: Span,
    /// Whether the model itself declares it (not one of its bases, already checked).
    pub own: bool,
}

/// The result of [`merge_models`].
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// The merged statements.
    pub body: Vec<ast::Stmt>,
    /// Disagreements between bases that the model does not resolve.
    pub conflicts: Vec<MergeConflict>,
    /// Every input of every base and of the model.
    pub inputs: Vec<MergedInput>,
    /// The statements of the bases (at any depth) that the merged model replaced.
    pub replaced: HashSet<Span>,
}

/// Where a merged statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// The base at this index of the `extends` list.
    Base(usize),
    /// The model's own body.
    Own,
}

struct Merger {
    conflicts: Vec<(String, MergeConflict)>,
    resolved: Vec<String>,
    inputs: Vec<MergedInput>,
    /// The layer each statement in the result came from, by the statement's span.
    layers: HashMap<Span, Layer>,
    /// For each base, the statements of its own bases that it replaced.
    base_replaced: Vec<HashSet<Span>>,
    /// Statements replaced so far (with those the bases replaced).
    replaced: HashSet<Span>,
}

impl Merger {
    /// Merges `stmts` (all from `layer`) into `out`.
    fn merge(&mut self, out: &mut Vec<ast::Stmt>, stmts: &[ast::Stmt], layer: Layer, prefix: &str) {
        for st in stmts {
            if let StmtKind::Input { name, unit } = &st.kind {
                self.inputs.push(MergedInput {
                    name: format!("{prefix}{}", name.text),
                    unit: unit.clone(),
                    span: name.span,
                    own: layer == Layer::Own,
                });
            }
            let key = merge_key(&st.kind);
            // A statement of the model's own body never replaces another of its own: two of them
            // are reported by the checker.
            let at = key.as_ref().and_then(|k| {
                out.iter().position(|b| {
                    merge_key(&b.kind).as_ref() == Some(k)
                        && !(layer == Layer::Own && self.layers.get(&b.span) == Some(&Layer::Own))
                })
            });
            let (Some(i), Some(key)) = (at, key) else {
                out.push(st.clone());
                self.record(st, layer);
                continue;
            };
            let qualified = format!("{prefix}{key}");
            let earlier = self.layers.get(&out[i].span).copied().unwrap_or(layer);
            match (&out[i].kind, &st.kind) {
                (
                    StmtKind::Pathway {
                        body: base_body, ..
                    },
                    StmtKind::Pathway { name, body },
                ) => {
                    let inner = format!("{prefix}{}.", name.text);
                    let mut merged = base_body.clone();
                    self.merge(&mut merged, body, layer, &inner);
                    let doc = if st.doc.is_empty() {
                        out[i].doc.clone()
                    } else {
                        st.doc.clone()
                    };
                    out[i] = ast::Stmt {
                        doc,
                        kind: StmtKind::Pathway {
                            name: name.clone(),
                            body: merged,
                        },
                        span: st.span,
                    };
                    self.layers.insert(st.span, layer);
                }
                // An input is met by any definition of its name: the definition stays.
                (_, StmtKind::Input { .. }) => {}
                (StmtKind::Input { .. }, _) => {
                    self.replaced.insert(out[i].span);
                    out[i] = st.clone();
                    self.record(st, layer);
                }
                _ => {
                    let overrides = |base: usize, span: Span| {
                        self.base_replaced
                            .get(base)
                            .is_some_and(|r| r.contains(&span))
                    };
                    match (earlier, layer) {
                        // Two bases with a common ancestor: the earlier base replaced the
                        // ancestor's statement that the later one still carries. Keep the
                        // earlier base's version.
                        (Layer::Base(a), Layer::Base(b)) if a != b && overrides(a, st.span) => {
                            continue;
                        }
                        // The later base replaced the ancestor's statement: it wins.
                        (Layer::Base(a), Layer::Base(b)) if a != b && overrides(b, out[i].span) => {
                        }
                        (Layer::Base(a), Layer::Base(b))
                            if a != b
                                && out[i].span != st.span
                                && shape(&out[i].kind) != shape(&st.kind) =>
                        {
                            self.conflicts.push((
                                qualified,
                                MergeConflict {
                                    what: describe_key(prefix, &key),
                                    first: out[i].span,
                                    first_base: a,
                                    second: st.span,
                                    second_base: b,
                                },
                            ));
                        }
                        (_, Layer::Own) => self.resolved.push(qualified),
                        _ => {}
                    }
                    if out[i].span != st.span {
                        self.replaced.insert(out[i].span);
                    }
                    out[i] = st.clone();
                    self.record(st, layer);
                }
            }
        }
    }

    /// Notes that `st` (and everything inside it, for a pathway) came from `layer`.
    fn record(&mut self, st: &ast::Stmt, layer: Layer) {
        self.layers.insert(st.span, layer);
        if let StmtKind::Pathway { body, .. } = &st.kind {
            for s in body {
                self.record(s, layer);
            }
        }
    }
}

/// The statements of a model that `extends` others: each base's statements (already merged with
/// its own bases) in order, then the model's own. A later statement replaces an earlier one that
/// sets the same thing (same name at the same pathway level, same `d/dt` target, same flow, same
/// `vary` target); pathways merge recursively; a definition meets an `input` of the same name
/// (the input is dropped); everything else is added in order. Two bases that set the same thing
/// differently are a conflict unless the model's own statements set it too, or one of them
/// replaced the very statement the other inherited from a common ancestor (`base_replaced[i]`:
/// what base `i` replaced); that one wins.
pub fn merge_models(
    bases: &[&[ast::Stmt]],
    base_replaced: &[&HashSet<Span>],
    own: &[ast::Stmt],
) -> Merged {
    let mut m = Merger {
        conflicts: Vec::new(),
        resolved: Vec::new(),
        inputs: Vec::new(),
        layers: HashMap::new(),
        base_replaced: base_replaced.iter().map(|r| (*r).clone()).collect(),
        replaced: base_replaced
            .iter()
            .flat_map(|r| r.iter().copied())
            .collect(),
    };
    let mut out = Vec::new();
    for (b, body) in bases.iter().enumerate() {
        m.merge(&mut out, body, Layer::Base(b), "");
    }
    m.merge(&mut out, own, Layer::Own, "");
    let resolved = m.resolved;
    Merged {
        body: out,
        conflicts: m
            .conflicts
            .into_iter()
            .filter(|(k, _)| !resolved.contains(k))
            .map(|(_, c)| c)
            .collect(),
        inputs: m.inputs,
        replaced: m.replaced,
    }
}

/// E0037 for every input `m` leaves undefined, reported at `used` (where a trial names the
/// model; the model's name when it is run directly), with the input and the model.
pub fn undefined_inputs(m: &hir::Model, used: Option<Span>) -> Vec<Diagnostic> {
    m.inputs
        .iter()
        .map(|i| {
            let d = Diagnostic::error(
                codes::E0037,
                format!("model `{}` leaves input `{}` undefined", m.name, i.name),
                used.unwrap_or(m.name_span),
            )
            .with_label_message("a model with an undefined input cannot run")
            .with_label(i.span, "the input is declared here");
            match used {
                Some(_) => d.with_label(m.name_span, format!("`{}` does not define it", m.name)),
                None => d,
            }
            .with_help(format!(
                "run a model that extends `{}` and defines `{}` (a `let`, `param` or `observe` of the same name)",
                m.name, i.name
            ))
        })
        .collect()
}

impl Checker {
    /// Whatever defines an inherited `input` must have the input's dimension (E0038); a wrong
    /// definition is then treated as invalid, so its uses report nothing more. Called once the
    /// merged model's names are collected.
    fn check_merged_inputs(&mut self, inputs: &[MergedInput]) {
        for input in inputs {
            let Some(sym) = self
                .model
                .as_ref()
                .and_then(|m| m.names.get(&input.name).copied())
            else {
                continue;
            };
            let def_span = self
                .model
                .as_ref()
                .and_then(|m| m.spans.get(&sym).copied())
                .unwrap_or(input.span);
            if def_span == input.span {
                continue;
            }
            // A base's input was checked with the base: an unknown unit is reported once.
            let want = if input.own {
                self.unit(&input.unit)
            } else {
                self.units.eval(&input.unit).ok()
            };
            let Some(want) = want else {
                continue;
            };
            let ty = self.sym_type(sym);
            let ok = match ty {
                Type::Num(u) => u.dim == want.dim,
                Type::Error => true,
                _ => false,
            };
            if ok {
                continue;
            }
            let found = self.describe_type(ty);
            let mut d = Diagnostic::error(
                codes::E0038,
                format!(
                    "`{}` is an input in {} but is defined as {found}",
                    input.name,
                    self.describe(want)
                ),
                def_span,
            )
            .with_label_message(format!("this is {found}"))
            .with_label(input.span, format!("required as {}", self.describe(want)));
            d = match ty {
                Type::Num(u) => d.with_help(self.conversion_help(u, want)),
                _ => d.with_help(format!(
                    "define `{}` as a number in {}",
                    input.name,
                    self.describe(want)
                )),
            };
            self.report(d);
            if let Some(p) = self.pending_mut(sym) {
                p.done = Some(error_expr(def_span));
            }
        }
    }
}
