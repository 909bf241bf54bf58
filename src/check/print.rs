//! A stable, human-readable text form of checked models, for snapshot tests and `--emit hir`.
//!
//! Units print by name (`mg/L`), conversions as `[×factor]`, genotype matches as per-diplotype
//! tables. The output depends only on the program, never on hash order.

use super::hir::{self, ExprKind, Sym, Type};
use crate::units::UnitTable;
use std::fmt::Write;

/// Prints a model.
pub fn model(p: &hir::Program, m: &hir::Model, units: &UnitTable) -> String {
    let mut out = String::new();
    let u = |x: crate::units::Unit| units.format_unit(x);
    let _ = writeln!(out, "model {}", m.name);
    for c in &m.covariates {
        match c.unit {
            Some(un) => {
                let _ = writeln!(
                    out,
                    "  covariate {}: {} = {}",
                    c.name,
                    u(un),
                    num(c.default)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  covariate {}: {{{}}} = {}",
                    c.name,
                    c.levels.join(", "),
                    c.levels
                        .get(c.default as usize)
                        .cloned()
                        .unwrap_or_default()
                );
            }
        }
    }
    for g in &m.genotypes {
        let gene = &p.genes[g.gene];
        let _ = writeln!(
            out,
            "  genotype {}: {} = {}",
            g.name, gene.name, gene.diplotype_names[g.default]
        );
    }
    for i in &m.inputs {
        let _ = writeln!(out, "  input {}: {}", i.name, u(i.unit));
    }
    let cx = Cx { p, m, units };
    for s in &m.order {
        match s {
            Sym::Param(i) => {
                let pr = &m.params[*i];
                let _ = writeln!(
                    out,
                    "  param {}: {} = {}",
                    pr.name,
                    u(pr.unit),
                    cx.expr(&pr.value)
                );
            }
            Sym::Let(i) => {
                let l = &m.lets[*i];
                let _ = writeln!(
                    out,
                    "  let {}: {} = {}",
                    l.name,
                    cx.ty(l.value.ty),
                    cx.expr(&l.value)
                );
            }
            _ => {}
        }
    }
    for e in &m.effects {
        let kind = match e.kind {
            hir::EffectKind::LogNormal => "lognormal",
            hir::EffectKind::Normal => "normal",
            hir::EffectKind::Logit => "logit",
        };
        let _ = writeln!(
            out,
            "  vary {} ~ {kind}(omega²: {}){}",
            m.params[e.param].name,
            num(e.variance),
            if e.per_occasion { " per occasion" } else { "" }
        );
    }
    for (a, b, r) in &m.effect_correlations {
        let _ = writeln!(
            out,
            "  correlate {}, {} = {}",
            m.params[m.effects[*a].param].name,
            m.params[m.effects[*b].param].name,
            num(*r)
        );
    }
    for s in &m.states {
        let kind = match s.kind {
            hir::StateKind::Compartment => "compartment",
            hir::StateKind::State => "state",
        };
        let _ = writeln!(
            out,
            "  {kind} {}: {} = {}",
            s.name,
            u(s.unit),
            cx.expr(&s.init)
        );
        let terms: Vec<String> = s.rhs.iter().map(|t| cx.expr(t)).collect();
        let _ = writeln!(
            out,
            "    d/dt [{} per h] = {}",
            u(s.unit),
            if terms.is_empty() {
                "0".into()
            } else {
                terms.join(" + ")
            }
        );
    }
    for o in &m.observables {
        let _ = write!(
            out,
            "  observe {}: {} = {}",
            o.name,
            cx.ty(o.value.ty),
            cx.expr(&o.value)
        );
        if o.error.additive > 0.0 || o.error.proportional > 0.0 {
            let _ = write!(
                out,
                " ~ proportional({}) + additive({})",
                num(o.error.proportional),
                num(o.error.additive)
            );
        }
        out.push('\n');
    }
    if let Some(mw) = m.molecular_weight {
        let _ = writeln!(out, "  molecular_weight = {} g/mol", num(mw));
    }
    out
}

/// Prints a trial.
pub fn trial(p: &hir::Program, t: &hir::Trial, units: &UnitTable) -> String {
    let m = &p.models[t.model];
    let cx = Cx { p, m, units };
    let mut out = String::new();
    let _ = writeln!(out, "trial {} (model {})", t.name, m.name);
    if let Some(pop) = &t.population {
        let anc: Vec<String> = pop
            .ancestry
            .iter()
            .map(|(a, f)| format!("{a}: {}", num(*f)))
            .collect();
        let _ = writeln!(out, "  population {} [{}]", pop.size, anc.join(", "));
        for g in &pop.generators {
            match g {
                hir::Generator::Draw { covariate, dist } => {
                    let d = match dist {
                        hir::Distribution::Normal { mean, sd, min, max } => format!(
                            "normal(mean: {}, sd: {}{})",
                            cx.expr(mean),
                            cx.expr(sd),
                            bounds(*min, *max, m.covariates[*covariate].unit, units)
                        ),
                        hir::Distribution::LogNormal {
                            median,
                            cv,
                            min,
                            max,
                        } => format!(
                            "lognormal(median: {}, cv: {}{})",
                            cx.expr(median),
                            cx.expr(cv),
                            bounds(*min, *max, m.covariates[*covariate].unit, units)
                        ),
                        hir::Distribution::Uniform { low, high } => {
                            format!("uniform({}, {})", cx.expr(low), cx.expr(high))
                        }
                        hir::Distribution::Categorical(ps) => {
                            let l: Vec<String> = ps
                                .iter()
                                .map(|(l, pr)| {
                                    format!("{}: {}", m.covariates[*covariate].levels[*l], num(*pr))
                                })
                                .collect();
                            format!("categorical({})", l.join(", "))
                        }
                    };
                    let _ = writeln!(out, "    {} ~ {d}", m.covariates[*covariate].name);
                }
                hir::Generator::Set { covariate, value } => {
                    let _ = writeln!(
                        out,
                        "    {} = {}",
                        m.covariates[*covariate].name,
                        cx.expr(value)
                    );
                }
            }
        }
        for (a, b, r) in &pop.correlations {
            let _ = writeln!(
                out,
                "    correlate {}, {} = {}",
                m.covariates[*a].name,
                m.covariates[*b].name,
                num(*r)
            );
        }
    }
    if t.randomize {
        let _ = writeln!(out, "  randomize");
    }
    for a in &t.arms {
        let _ = writeln!(out, "  arm {}", a.name);
        for (sym, value) in &a.overrides {
            let shown = match (sym, &value.kind) {
                (Sym::Genotype(g), ExprKind::Const(d)) => {
                    let gene = &p.genes[m.genotypes[*g].gene];
                    let name = gene
                        .diplotype_names
                        .get(*d as usize)
                        .cloned()
                        .unwrap_or_default();
                    format!("\"{name}\"")
                }
                _ => cx.expr(value),
            };
            let _ = writeln!(out, "    set {} = {shown}", cx.sym(*sym));
        }
        for d in &a.doses {
            let st = &m.states[d.target];
            let _ = write!(
                out,
                "    dose {} [{}] into {} at {} h",
                cx.expr(&d.amount),
                units.format_unit(st.unit),
                st.name,
                num(d.start)
            );
            match &d.infusion {
                Some(hir::Infusion::Duration(x)) => {
                    let _ = write!(out, " over {} h", num(*x));
                }
                Some(hir::Infusion::Rate(r)) => {
                    let _ = write!(out, " rate {}", cx.expr(r));
                }
                None => {}
            }
            if let Some(ii) = d.interval {
                let _ = write!(out, " every {} h", num(ii));
            }
            match d.count {
                Some(n) => {
                    let _ = write!(out, " doses {n}");
                }
                None => out.push_str(" until end"),
            }
            if d.lag > 0.0 {
                let _ = write!(out, " lag {} h", num(d.lag));
            }
            if d.steady_state {
                out.push_str(" at steady state");
            }
            if let Some(f) = &d.bioavailability {
                let _ = write!(out, " F {}", cx.expr(f));
            }
            out.push('\n');
        }
    }
    match &t.sampling {
        Some(hir::Sampling::Every { step, until }) => {
            let _ = writeln!(
                out,
                "  sample every {} h until {} h",
                num(*step),
                num(*until)
            );
        }
        Some(hir::Sampling::At(ts)) => {
            let v: Vec<String> = ts.iter().map(|x| num(*x)).collect();
            let _ = writeln!(out, "  sample at [{}] h", v.join(", "));
        }
        None => {}
    }
    match &t.occasions {
        Some(hir::Occasions::Every(step)) => {
            let _ = writeln!(out, "  occasion every {} h", num(*step));
        }
        Some(hir::Occasions::At(ts)) => {
            let v: Vec<String> = ts.iter().map(|x| num(*x)).collect();
            let _ = writeln!(out, "  occasion at [{}] h", v.join(", "));
        }
        None => {}
    }
    for e in &t.endpoints {
        let _ = writeln!(
            out,
            "  endpoint {}: {} = {}",
            e.name,
            cx.ty(e.value.ty),
            cx.expr(&e.value)
        );
    }
    for s in &t.dose_searches {
        let e = &t.endpoints[s.endpoint];
        let target = match &s.target {
            hir::SearchTarget::Value(v) => match e.value.ty {
                hir::Type::Num(u) if s.statistic != hir::Statistic::Rate => {
                    format!("{} [{}]", num(*v), units.format_unit(u))
                }
                _ => num(*v),
            },
            hir::SearchTarget::Arm(a) => format!("arm {}", t.arms[*a].name),
        };
        let _ = writeln!(
            out,
            "  find dose of {} so {}({}) == {target} within {}",
            t.arms[s.arm].name,
            s.statistic.name(),
            e.name,
            num(s.tolerance)
        );
    }
    for s in &t.strata {
        let _ = match s {
            hir::Stratum::Genotype(g) => writeln!(out, "  stratify by {}", m.genotypes[*g].name),
            hir::Stratum::Phenotype(g) => {
                writeln!(out, "  stratify by phenotype({})", m.genotypes[*g].name)
            }
            hir::Stratum::Category(c) => writeln!(out, "  stratify by {}", m.covariates[*c].name),
            hir::Stratum::Bins(c, e) => writeln!(
                out,
                "  stratify by {} bins [{}]",
                m.covariates[*c].name,
                e.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ")
            ),
            hir::Stratum::Computed(q, e) => {
                let (kind, name, unit) = match t.quantities.get(*q) {
                    Some(hir::Sym::Param(i)) => {
                        ("param", m.params[*i].name.as_str(), Some(m.params[*i].unit))
                    }
                    Some(hir::Sym::Let(i)) => {
                        ("let", m.lets[*i].name.as_str(), m.lets[*i].value.ty.unit())
                    }
                    _ => ("?", "?", None),
                };
                let unit = match unit {
                    Some(u) if !(u.is_dimensionless() && u.scale.is_one()) => {
                        format!(" {}", units.format_unit(u))
                    }
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "  stratify by {kind} {name} bins [{}]{unit}",
                    e.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ")
                )
            }
        };
    }
    out
}

/// `, min: …, max: …` of a truncated distribution, in the covariate's unit.
fn bounds(
    min: Option<f64>,
    max: Option<f64>,
    unit: Option<crate::units::Unit>,
    units: &UnitTable,
) -> String {
    let name = unit.map(|u| units.format_unit(u)).unwrap_or_default();
    let mut out = String::new();
    for (key, v) in [("min", min), ("max", max)] {
        if let Some(v) = v {
            let _ = write!(out, ", {key}: {} {name}", num(v));
        }
    }
    out
}

fn num(v: f64) -> String {
    format!("{v}")
}

struct Cx<'a> {
    p: &'a hir::Program,
    m: &'a hir::Model,
    units: &'a UnitTable,
}

impl Cx<'_> {
    fn ty(&self, t: Type) -> String {
        match t {
            Type::Num(u) => self.units.format_unit(u),
            Type::Bool => "bool".into(),
            Type::Genotype(g) => self.p.genes[g].name.clone(),
            Type::Phenotype(g) => format!("phenotype({})", self.p.genes[g].name),
            Type::Category(c) => self
                .m
                .covariates
                .get(c)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            Type::Str => "string".into(),
            Type::Error => "?".into(),
        }
    }

    fn sym(&self, s: Sym) -> String {
        match s {
            Sym::Covariate(i) => self.m.covariates[i].name.clone(),
            Sym::Genotype(i) => self.m.genotypes[i].name.clone(),
            Sym::Param(i) => self.m.params[i].name.clone(),
            Sym::State(i) => self.m.states[i].name.clone(),
            Sym::Let(i) => self.m.lets[i].name.clone(),
            Sym::Observable(i) => self
                .m
                .observables
                .get(i)
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            Sym::Input(i) => self
                .m
                .inputs
                .get(i)
                .map(|x| x.name.clone())
                .unwrap_or_default(),
            Sym::Time => "t".into(),
            Sym::FnArg(i) => format!("${i}"),
            Sym::GeneActivity => "activity".into(),
            Sym::VisitDose => "dose".into(),
            Sym::SinceDose => "since_dose".into(),
        }
    }

    fn expr(&self, e: &hir::Expr) -> String {
        match &e.kind {
            ExprKind::Const(v) => match e.ty {
                Type::Num(u) if !u.is_dimensionless() || !u.scale.is_one() => {
                    format!("{} {}", num(*v), self.units.format_unit(u))
                }
                _ => num(*v),
            },
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Sym(s) => self.sym(*s),
            ExprKind::Scale(x, f) => format!("{}[×{}]", self.expr(x), f),
            ExprKind::Unary(op, x) => match op {
                crate::syntax::ast::UnOp::Neg => format!("-{}", self.expr(x)),
                crate::syntax::ast::UnOp::Not => format!("not {}", self.expr(x)),
            },
            ExprKind::Binary(op, a, b) => {
                format!("({} {} {})", self.expr(a), op.symbol(), self.expr(b))
            }
            ExprKind::Builtin(b, args) => format!(
                "{}({})",
                b.name(),
                args.iter()
                    .map(|a| self.expr(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ExprKind::Call(f, args) => format!(
                "{}({})",
                self.p.fns[*f].name,
                args.iter()
                    .map(|a| self.expr(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ExprKind::If(c, a, b) => format!(
                "if {} {{ {} }} else {{ {} }}",
                self.expr(c),
                self.expr(a),
                self.expr(b)
            ),
            ExprKind::Switch {
                genotype,
                table,
                arms,
            } => {
                let g = &self.m.genotypes[*genotype];
                let gene = &self.p.genes[g.gene];
                let cases: Vec<String> = table
                    .iter()
                    .enumerate()
                    .map(|(d, a)| {
                        format!(
                            "\"{}\" => {}",
                            gene.diplotype_names[d],
                            self.expr(&arms[*a])
                        )
                    })
                    .collect();
                format!("match {} {{ {} }}", g.name, cases.join(", "))
            }
            ExprKind::Category(c) => format!("level {c}"),
            ExprKind::Aggregate {
                kind,
                args,
                from,
                to,
            } => {
                let mut parts: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                if from.is_some() || to.is_some() {
                    parts.push(format!(
                        "from {} h to {} h",
                        from.map(num).unwrap_or_else(|| "start".into()),
                        to.map(num).unwrap_or_else(|| "end".into())
                    ));
                }
                format!("{}({})", kind.name(), parts.join(", "))
            }
            ExprKind::Error => "<error>".into(),
        }
    }
}
