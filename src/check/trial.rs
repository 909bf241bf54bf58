//! Trial checking: a `trial` block → [`hir::Trial`].
//!
//! Population generators are checked against the model's covariates (units of every distribution
//! argument, categorical probabilities summing to 1, ancestries known to the genes drawn, a positive
//! definite correlation matrix); doses against their target compartments; schedules must be
//! constant times; endpoints may use aggregates over the time course.

use super::hir::{self, Sym, Type};
use super::{Checker, Global, Scope, consts, error_expr};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::source::Span;
use crate::syntax::ast::{self, ArmStmt, DoseOpt, PopStmt, TrialStmt};
use crate::units::Unit;

/// Records that covariate `c` is generated; reports a second generator for it.
fn first_generator(ck: &mut Checker, drawn: &mut Vec<usize>, c: usize, target: &ast::Name) -> bool {
    if drawn.contains(&c) {
        ck.report(Diagnostic::error(
            codes::E0006,
            format!("`{}` is drawn twice", target.text),
            target.span,
        ));
        return false;
    }
    drawn.push(c);
    true
}

/// The first thing `let` `l` depends on, directly or through other `let`s, that changes during
/// the simulation (a state, an observable, `t`, an undefined input); `None` when it is fixed for
/// each patient.
fn changing_in_let(model: &hir::Model, l: usize) -> Option<Sym> {
    let mut todo = vec![l];
    let mut seen = vec![l];
    while let Some(i) = todo.pop() {
        let mut refs = Vec::new();
        if let Some(x) = model.lets.get(i) {
            super::model::refs(&x.value, &mut refs);
        }
        for (s, _) in refs {
            match s {
                Sym::State(_) | Sym::Observable(_) | Sym::Time | Sym::Input(_) => return Some(s),
                Sym::Let(j) if !seen.contains(&j) => {
                    seen.push(j);
                    todo.push(j);
                }
                _ => {}
            }
        }
    }
    None
}

/// The name of a model symbol.
fn sym_label_name(model: &hir::Model, s: Sym) -> String {
    let name = match s {
        Sym::Covariate(i) => model.covariates.get(i).map(|x| x.name.as_str()),
        Sym::Genotype(i) => model.genotypes.get(i).map(|x| x.name.as_str()),
        Sym::Param(i) => model.params.get(i).map(|x| x.name.as_str()),
        Sym::State(i) => model.states.get(i).map(|x| x.name.as_str()),
        Sym::Let(i) => model.lets.get(i).map(|x| x.name.as_str()),
        Sym::Observable(i) => model.observables.get(i).map(|x| x.name.as_str()),
        Sym::Input(i) => model.inputs.get(i).map(|x| x.name.as_str()),
        Sym::Time => Some("t"),
        Sym::VisitDose => Some("dose"),
        Sym::SinceDose => Some("since_dose"),
        Sym::FnArg(_) | Sym::GeneActivity => None,
    };
    name.unwrap_or("?").to_string()
}

/// A model symbol with its kind, for messages: "state `central`", "time `t`".
fn sym_label(model: &hir::Model, s: Sym) -> String {
    let kind = match s {
        Sym::Covariate(_) => "covariate",
        Sym::Genotype(_) => "genotype",
        Sym::Param(_) => "param",
        Sym::State(_) => "state",
        Sym::Let(_) => "let",
        Sym::Observable(_) => "observable",
        Sym::Input(_) => "input",
        Sym::Time => "time",
        Sym::VisitDose | Sym::SinceDose => "dose",
        Sym::FnArg(_) | Sym::GeneActivity => "name",
    };
    format!("{kind} `{}`", sym_label_name(model, s))
}

impl Checker {
    fn patient_expr(&mut self, e: &ast::Expr) -> hir::Expr {
        let saved = std::mem::replace(&mut self.scope, Scope::Patient);
        let h = self.expr(e);
        self.scope = saved;
        h
    }

    fn covariate_named(&mut self, n: &ast::Name) -> Option<usize> {
        let m = self.model.as_ref()?;
        match m.names.get(&n.text) {
            Some(Sym::Covariate(i)) => Some(*i),
            _ => {
                let cands: Vec<String> = m.covariates.iter().map(|c| c.name.clone()).collect();
                let mut d = Diagnostic::error(
                    codes::E0004,
                    format!("`{}` is not a covariate of the model", n.text),
                    n.span,
                );
                if let Some(s) = did_you_mean(&n.text, cands.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else if !cands.is_empty() {
                    d = d.with_help(format!("the model's covariates are {}", cands.join(", ")));
                } else {
                    d = d.with_help(
                        "declare it in the model with `covariate NAME: unit = typical value`",
                    );
                }
                self.report(d);
                None
            }
        }
    }

    fn arg<'a>(&mut self, c: &'a ast::Call, names: &[&str], pos: usize) -> Option<&'a ast::Expr> {
        c.args
            .iter()
            .find(|a| {
                a.name
                    .as_ref()
                    .is_some_and(|n| names.contains(&n.text.as_str()))
            })
            .map(|a| &a.value)
            .or_else(|| {
                let positional: Vec<&ast::Arg> =
                    c.args.iter().filter(|a| a.name.is_none()).collect();
                positional.get(pos).map(|a| &a.value)
            })
    }

    fn distribution(&mut self, cov: usize, c: &ast::Call) -> Option<hir::Distribution> {
        let (unit, levels) = {
            let m = self.model.as_ref()?;
            (m.covariates[cov].unit, m.covariates[cov].levels.clone())
        };
        let name = c.func.joined();
        let known = ["normal", "lognormal", "uniform", "categorical"];
        for a in &c.args {
            if let Some(n) = &a.name {
                let allowed: &[&str] = match name.as_str() {
                    "normal" => &["mean", "sd", "min", "max"],
                    "lognormal" => &["median", "cv", "min", "max"],
                    "uniform" => &["min", "max", "low", "high"],
                    _ => &[],
                };
                if name != "categorical"
                    && known.contains(&name.as_str())
                    && !allowed.contains(&n.text.as_str())
                {
                    self.report(
                        Diagnostic::error(
                            codes::E0025,
                            format!("`{name}` has no argument `{}`", n.text),
                            n.span,
                        )
                        .with_help(format!("`{name}` takes {}", allowed.join(", "))),
                    );
                    return None;
                }
            }
        }
        let bound = |this: &mut Checker, key: &str, u: Unit| -> Option<Option<f64>> {
            let e = c
                .args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.text == key))
                .map(|a| &a.value);
            match e {
                None => Some(None),
                Some(e) => {
                    let h = this.patient_expr(e);
                    let h = this.coerce(h, u, codes::E0025, &format!("the bound `{key}`"));
                    Some(Some(consts::eval(&h)?))
                }
            }
        };
        match (name.as_str(), unit) {
            ("categorical", None) => {
                let mut probs = Vec::new();
                let mut total = 0.0;
                for a in &c.args {
                    let Some(n) = &a.name else {
                        self.report(Diagnostic::error(
                            codes::E0025,
                            "categorical takes `level: probability` pairs",
                            a.value.span,
                        ));
                        return None;
                    };
                    let Some(l) = levels.iter().position(|x| *x == n.text) else {
                        let mut d = Diagnostic::error(
                            codes::E0016,
                            format!("`{}` is not a level of this covariate", n.text),
                            n.span,
                        );
                        if let Some(s) = did_you_mean(&n.text, levels.iter().map(String::as_str)) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        self.report(d);
                        return None;
                    };
                    let p = self.const_number(&a.value, "a probability")?;
                    if !(0.0..=1.0).contains(&p) {
                        self.report(Diagnostic::error(
                            codes::E0025,
                            "a probability must be between 0 and 1",
                            a.value.span,
                        ));
                        return None;
                    }
                    total += p;
                    probs.push((l, p));
                }
                if (total - 1.0).abs() > 1e-6 {
                    self.report(
                        Diagnostic::error(
                            codes::E0025,
                            format!("the probabilities sum to {total}, not 1"),
                            c.span,
                        )
                        .with_help("the levels' probabilities must add up to 100%"),
                    );
                    return None;
                }
                Some(hir::Distribution::Categorical(probs))
            }
            (_, None) => {
                self.report(
                    Diagnostic::error(
                        codes::E0025,
                        format!(
                            "a categorical covariate is drawn with `categorical(...)`, not `{name}`"
                        ),
                        c.func.span,
                    )
                    .with_help("e.g. `sex ~ categorical(female: 50%, male: 50%)`"),
                );
                None
            }
            ("normal", Some(u)) => {
                let (Some(m), Some(s)) = (self.arg(c, &["mean"], 0), self.arg(c, &["sd"], 1))
                else {
                    self.report(
                        Diagnostic::error(codes::E0025, "`normal` needs `mean` and `sd`", c.span)
                            .with_help("e.g. normal(mean: 170 cm, sd: 7 cm)"),
                    );
                    return None;
                };
                let mean = self.patient_expr(m);
                let mean = self.coerce(mean, u, codes::E0025, "the mean");
                let sd = self.patient_expr(s);
                let sd = self.coerce(sd, u, codes::E0025, "the SD");
                if consts::eval(&sd).is_some_and(|v| v <= 0.0) {
                    self.report(Diagnostic::error(
                        codes::E0025,
                        "an SD must be positive",
                        s.span,
                    ));
                    return None;
                }
                let (min, max) = (bound(self, "min", u)?, bound(self, "max", u)?);
                Some(hir::Distribution::Normal { mean, sd, min, max })
            }
            ("lognormal", Some(u)) => {
                let (Some(m), Some(cv_e)) = (self.arg(c, &["median"], 0), self.arg(c, &["cv"], 1))
                else {
                    self.report(
                        Diagnostic::error(
                            codes::E0025,
                            "`lognormal` needs `median` and `cv`",
                            c.span,
                        )
                        .with_help("e.g. lognormal(median: 78 kg, cv: 20%)"),
                    );
                    return None;
                };
                let median = self.patient_expr(m);
                let median = self.coerce(median, u, codes::E0025, "the median");
                let cv = self.patient_expr(cv_e);
                let cv = self.dimensionless(cv, "a CV");
                if consts::eval(&cv).is_some_and(|v| v <= 0.0) {
                    self.report(
                        Diagnostic::error(codes::E0025, "a CV must be positive", cv_e.span)
                            .with_label_message("negative or zero CV"),
                    );
                    return None;
                }
                let (min, max) = (bound(self, "min", u)?, bound(self, "max", u)?);
                Some(hir::Distribution::LogNormal {
                    median,
                    cv,
                    min,
                    max,
                })
            }
            ("uniform", Some(u)) => {
                let (Some(a), Some(b)) = (
                    self.arg(c, &["min", "low"], 0),
                    self.arg(c, &["max", "high"], 1),
                ) else {
                    self.report(
                        Diagnostic::error(codes::E0025, "`uniform` needs two bounds", c.span)
                            .with_help("e.g. uniform(30 year, 85 year)"),
                    );
                    return None;
                };
                let low = self.patient_expr(a);
                let low = self.coerce(low, u, codes::E0025, "the lower bound");
                let high = self.patient_expr(b);
                let high = self.coerce(high, u, codes::E0025, "the upper bound");
                if let (Some(l), Some(h)) = (consts::eval(&low), consts::eval(&high))
                    && h <= l
                {
                    self.report(Diagnostic::error(
                        codes::E0025,
                        "the upper bound must exceed the lower bound",
                        c.span,
                    ));
                    return None;
                }
                Some(hir::Distribution::Uniform { low, high })
            }
            (other, _) => {
                let mut d = Diagnostic::error(codes::E0025, format!("unknown distribution `{other}`"), c.func.span)
                    .with_help("use normal(mean, sd), lognormal(median, cv), uniform(min, max) or categorical(level: p, …)");
                if let Some(s) = did_you_mean(other, known) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.report(d);
                None
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn population(
        &mut self,
        size: &ast::PopulationSize,
        body: &[PopStmt],
        span: Span,
        model: &hir::Model,
    ) -> hir::Population {
        let count = |c: &mut Self, size: &ast::NumLit| -> u64 {
            match size.text.parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    c.report(Diagnostic::error(
                        codes::E0027,
                        "a population size is a positive whole number",
                        size.span,
                    ));
                    1
                }
            }
        };
        let mut fitted = None;
        let mut fit_missing = None;
        let (n, cohort) = match size {
            ast::PopulationSize::Count(s) => (count(self, s), None),
            ast::PopulationSize::File { path, resample } => {
                let resampled = resample.as_ref().map(|s| count(self, s));
                match self.cohort(path, resampled.is_some()) {
                    Some(c) => (resampled.unwrap_or(c.rows.len() as u64), Some(c)),
                    None => (resampled.unwrap_or(1), None),
                }
            }
            ast::PopulationSize::Fit {
                keyword,
                path,
                id,
                resample,
            } => {
                let resampled = resample.as_ref().map(|s| count(self, s));
                match self.fit_exists(keyword, path) {
                    true => {
                        fitted = self.fitted_population(
                            keyword,
                            path,
                            id.as_ref(),
                            resampled.is_some(),
                            model,
                        )
                    }
                    false => fit_missing = Some((path.text.clone(), path.span)),
                }
                let rows = fitted.as_ref().map_or(1, |f| f.subjects.len() as u64);
                (resampled.unwrap_or(rows), None)
            }
        };
        let mut pop = hir::Population {
            size: n,
            ancestry: Vec::new(),
            generators: Vec::new(),
            correlations: Vec::new(),
            cohort,
            fitted,
            fit_missing,
        };
        let mut corr = Vec::new();
        let mut drawn: Vec<usize> = Vec::new();
        for st in body {
            match st {
                PopStmt::Ancestry(entries, sp) => {
                    if !pop.ancestry.is_empty() {
                        self.report(Diagnostic::error(
                            codes::E0006,
                            "`ancestry` is given twice",
                            *sp,
                        ));
                        continue;
                    }
                    let mut total = 0.0;
                    for (name, frac) in entries {
                        let f = match frac {
                            None => 1.0,
                            Some(e) => self.const_number(e, "an ancestry fraction").unwrap_or(0.0),
                        };
                        total += f;
                        // The ancestry must be known to every gene the model draws.
                        let genes: Vec<usize> = self
                            .model
                            .as_ref()
                            .map(|m| m.genotypes.iter().map(|g| g.gene).collect())
                            .unwrap_or_default();
                        for g in genes {
                            let gene = &self.program.genes[g];
                            if !gene.ancestries.contains(&name.text) {
                                let mut d = Diagnostic::error(
                                    codes::E0027,
                                    format!(
                                        "gene `{}` has no frequencies for ancestry `{}`",
                                        gene.name, name.text
                                    ),
                                    name.span,
                                );
                                if let Some(s) = did_you_mean(
                                    &name.text,
                                    gene.ancestries.iter().map(String::as_str),
                                ) {
                                    d = d.with_help(format!("did you mean `{s}`?"));
                                } else if !gene.ancestries.is_empty() {
                                    d = d.with_help(format!(
                                        "known ancestries: {}",
                                        gene.ancestries.join(", ")
                                    ));
                                }
                                self.report(d);
                                break;
                            }
                        }
                        pop.ancestry.push((name.text.clone(), f));
                    }
                    if (total - 1.0).abs() > 1e-6 {
                        self.report(Diagnostic::error(
                            codes::E0027,
                            format!("ancestry fractions sum to {total}, not 1"),
                            *sp,
                        ));
                    }
                }
                PopStmt::Draw { target, dist, .. } => {
                    let Some(c) = self.covariate_named(target) else {
                        continue;
                    };
                    if !first_generator(self, &mut drawn, c, target) {
                        continue;
                    }
                    if let Some(d) = self.distribution(c, dist) {
                        pop.generators.push(hir::Generator::Draw {
                            covariate: c,
                            dist: d,
                        });
                    }
                }
                PopStmt::Set { target, value, .. } => {
                    let Some(c) = self.covariate_named(target) else {
                        continue;
                    };
                    if !first_generator(self, &mut drawn, c, target) {
                        continue;
                    }
                    let unit = self.model.as_ref().and_then(|m| m.covariates[c].unit);
                    let h = self.patient_expr(value);
                    let h = match unit {
                        Some(u) => {
                            self.coerce(h, u, codes::E0008, &format!("covariate `{}`", target.text))
                        }
                        None => h,
                    };
                    pop.generators.push(hir::Generator::Set {
                        covariate: c,
                        value: h,
                    });
                }
                PopStmt::Correlate { a, b, value, span } => {
                    let (Some(ca), Some(cb)) = (self.covariate_named(a), self.covariate_named(b))
                    else {
                        continue;
                    };
                    let Some(r) = self.const_number(value, "a correlation") else {
                        continue;
                    };
                    if ca == cb || r.abs() >= 1.0 {
                        self.report(Diagnostic::error(codes::E0030, "a correlation must be strictly between -1 and 1, between two different covariates", value.span));
                        continue;
                    }
                    corr.push((ca, cb, r, *span));
                }
            }
        }
        // Correlated covariates must be drawn from normal or log-normal distributions.
        for &(a, b, _, sp) in &corr {
            for c in [a, b] {
                let ok = pop.generators.iter().any(|g| matches!(g, hir::Generator::Draw { covariate, dist: hir::Distribution::Normal { .. } | hir::Distribution::LogNormal { .. } } if *covariate == c));
                if !ok {
                    let name = self
                        .model
                        .as_ref()
                        .map(|m| m.covariates[c].name.clone())
                        .unwrap_or_default();
                    self.report(
                        Diagnostic::error(codes::E0030, format!("`{name}` must be drawn from a normal or log-normal distribution to be correlated"), sp)
                            .with_help("correlations act on the normal scale (a Gaussian copula)"),
                    );
                }
            }
        }
        if !corr.is_empty() {
            let ncov = self.model.as_ref().map(|m| m.covariates.len()).unwrap_or(0);
            self.check_positive_definite(ncov, &corr, "covariates");
        }
        pop.correlations = corr.into_iter().map(|(a, b, r, _)| (a, b, r)).collect();
        let recorded_genotypes = self.cohort_coverage(&pop, size, span);
        if let Some(fit) = &pop.fitted {
            for g in &pop.generators {
                let (hir::Generator::Draw { covariate, .. }
                | hir::Generator::Set { covariate, .. }) = g;
                if let Some(cv) = model.covariates.get(*covariate) {
                    self.report(
                        Diagnostic::error(
                            codes::E0006,
                            format!("`{}` is recorded for every subject of `{}` and set by the population", cv.name, fit.path),
                            span,
                        )
                        .with_help("a fitted population replays the subjects' covariates; remove the generator"),
                    );
                }
            }
        }
        if pop.ancestry.is_empty() {
            let needs = self
                .model
                .as_ref()
                .is_some_and(|m| m.genotypes.len() > recorded_genotypes);
            if needs {
                self.report(
                    Diagnostic::error(codes::E0027, "the model has genotypes, so the population needs an `ancestry`", span)
                        .with_help("add e.g. `ancestry european` or `ancestry { european: 60%, african: 40% }`"),
                );
            }
        }
        pop
    }

    /// For a cohort population: every covariate is recorded by the file or generated by the
    /// block, not both (E0050, E0006). Returns how many genotypes the file records.
    fn cohort_coverage(
        &mut self,
        pop: &hir::Population,
        size: &ast::PopulationSize,
        span: Span,
    ) -> usize {
        let (Some(cohort), ast::PopulationSize::File { path, .. }) = (&pop.cohort, size) else {
            return 0;
        };
        let Some(covariates) = self.model.as_ref().map(|m| m.covariates.clone()) else {
            return 0;
        };
        let generated = |c: usize| {
            pop.generators.iter().any(|g| match g {
                hir::Generator::Draw { covariate, .. } | hir::Generator::Set { covariate, .. } => {
                    *covariate == c
                }
            })
        };
        let recorded = |c: usize| cohort.columns.contains(&hir::CohortColumn::Covariate(c));
        let mut missing = Vec::new();
        for (i, c) in covariates.iter().enumerate() {
            match (recorded(i), generated(i)) {
                (true, true) => self.report(
                    Diagnostic::error(
                        codes::E0006,
                        format!(
                            "`{}` is both recorded in `{}` and drawn by the population",
                            c.name, cohort.path
                        ),
                        span,
                    )
                    .with_label(path.span, "the file has a column for it")
                    .with_help("remove the draw to replay the recorded values"),
                ),
                (false, false) => missing.push(c.name.clone()),
                _ => {}
            }
        }
        if !missing.is_empty() {
            self.report(
                Diagnostic::error(
                    codes::E0050,
                    format!(
                        "`{}` has no column for {} and the population does not draw {}",
                        cohort.path,
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if missing.len() == 1 { "it" } else { "them" }
                    ),
                    path.span,
                )
                .with_help(format!(
                    "add a `{} [unit]` column to the file, or draw or set it in the block: `{} ~ …` / `{} = …`",
                    missing[0], missing[0], missing[0]
                )),
            );
        }
        cohort
            .columns
            .iter()
            .filter(|c| matches!(c, hir::CohortColumn::Genotype(_)))
            .count()
    }

    fn dose(&mut self, d: &ast::DoseStmt, model: &hir::Model) -> Option<hir::Dose> {
        let target = self.state_ref("", &d.target, "a dose target")?;
        let st = &model.states[target];
        let su = st.unit;
        let amount = self.patient_expr(&d.amount);
        let amount = match amount.ty {
            Type::Num(u) if u.dim == su.dim => self.convert(amount, su),
            Type::Num(u) => {
                let what = format!("a dose into `{}`", st.name);
                let h =
                    self.coerce_to_state(amount, su, model.molecular_weight, &what, codes::E0017);
                if h.ty == Type::Error {
                    let _ = u;
                    return None;
                }
                h
            }
            Type::Error => return None,
            t => {
                self.report(Diagnostic::error(
                    codes::E0017,
                    format!(
                        "a dose amount must be a quantity, found {}",
                        self.describe_type(t)
                    ),
                    d.amount.span,
                ));
                return None;
            }
        };
        let mut dose = hir::Dose {
            amount,
            target,
            start: 0.0,
            infusion: None,
            interval: None,
            count: Some(1),
            lag: 0.0,
            bioavailability: None,
            steady_state: false,
            span: d.span,
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut duration_for = None;
        let mut times = None;
        let mut ok = true;
        for o in &d.options {
            let kw = o.keyword();
            if seen.contains(&kw) {
                self.report(Diagnostic::error(
                    codes::E0031,
                    format!("`{kw}` is given twice"),
                    o.span(),
                ));
                ok = false;
                continue;
            }
            seen.push(kw);
            match o {
                DoseOpt::At(e) => dose.start = self.const_time(e, "the dose time")?,
                DoseOpt::SteadyState(_) => dose.steady_state = true,
                DoseOpt::Over(e) => {
                    let v = self.const_time(e, "an infusion duration")?;
                    if v <= 0.0 {
                        self.report(Diagnostic::error(
                            codes::E0031,
                            "an infusion duration must be positive",
                            e.span,
                        ));
                        ok = false;
                    }
                    dose.infusion = Some(hir::Infusion::Duration(v));
                }
                DoseOpt::Rate(e) => {
                    let h = self.patient_expr(e);
                    let Ok(want) = su.div(self.hour) else {
                        continue;
                    };
                    let h = self.coerce(h, want, codes::E0017, "an infusion rate");
                    if h.ty == Type::Error {
                        ok = false;
                    }
                    if consts::eval(&h).is_some_and(|v| v <= 0.0) {
                        self.report(Diagnostic::error(
                            codes::E0031,
                            "an infusion rate must be positive",
                            e.span,
                        ));
                        ok = false;
                    }
                    dose.infusion = Some(hir::Infusion::Rate(h));
                }
                DoseOpt::Every(e) => {
                    let v = self.const_time(e, "a dosing interval")?;
                    if v <= 0.0 {
                        self.report(Diagnostic::error(
                            codes::E0031,
                            "a dosing interval must be positive",
                            e.span,
                        ));
                        ok = false;
                    }
                    dose.interval = Some(v);
                }
                DoseOpt::For(e) => {
                    duration_for = Some((self.const_time(e, "a dosing duration")?, e.span))
                }
                DoseOpt::Times(e) => {
                    let v = self.const_number(e, "a number of doses")?;
                    if v < 1.0 || v.fract() != 0.0 || v > 1e7 {
                        self.report(Diagnostic::error(
                            codes::E0031,
                            "the number of doses is a positive whole number",
                            e.span,
                        ));
                        ok = false;
                    }
                    times = Some((v as u32, e.span));
                }
                DoseOpt::Lag(e) => {
                    dose.lag = self.const_time(e, "a lag time")?;
                    if dose.lag < 0.0 {
                        self.report(Diagnostic::error(
                            codes::E0031,
                            "a lag time cannot be negative",
                            e.span,
                        ));
                        ok = false;
                    }
                }
                DoseOpt::Bioavailability(e) => {
                    let h = self.patient_expr(e);
                    let h = self.dimensionless(h, "bioavailability");
                    if let Some(f) = consts::eval(&h)
                        && !(0.0..=1.0).contains(&f)
                    {
                        self.report(
                            Diagnostic::error(
                                codes::E0031,
                                "bioavailability must be between 0 and 100%",
                                e.span,
                            )
                            .with_label_message(format!("F = {f}")),
                        );
                        ok = false;
                    }
                    dose.bioavailability = Some(h);
                }
            }
        }
        if dose.steady_state && dose.interval.is_none() {
            self.report(
                Diagnostic::error(
                    codes::E0031,
                    "a dose at steady state needs its interval (`every`)",
                    d.span,
                )
                .with_help("e.g. `dose 100 mg into gut every 12 h at steady state`"),
            );
            ok = false;
        }
        if seen.contains(&"over") && seen.contains(&"rate") {
            self.report(Diagnostic::error(
                codes::E0031,
                "give an infusion either a duration (`over`) or a `rate`, not both",
                d.span,
            ));
            ok = false;
        }
        match (dose.interval, duration_for, times) {
            (_, Some(_), Some((_, sp))) => {
                self.report(Diagnostic::error(
                    codes::E0031,
                    "give repeated dosing either `for` a duration or a number of `times`, not both",
                    sp,
                ));
                ok = false;
            }
            (None, Some((_, sp)), _) | (None, _, Some((_, sp))) => {
                self.report(
                    Diagnostic::error(codes::E0031, "repeated dosing needs an interval", sp)
                        .with_help("add `every 12 h` (the interval, NONMEM's II)"),
                );
                ok = false;
            }
            (Some(ii), Some((dur, _)), None) => {
                dose.count = Some(((dur / ii) - 1e-9).ceil().max(1.0) as u32)
            }
            (Some(_), None, Some((n, _))) => dose.count = Some(n),
            (Some(_), None, None) => dose.count = None,
            (None, None, None) => {}
        }
        ok.then_some(dose)
    }

    /// Checks a trial against the already-checked models.
    pub fn check_trial(
        &mut self,
        t: &ast::TrialDecl,
        span: Span,
        model_scopes: &[(String, super::model::ModelScope)],
    ) -> Option<hir::Trial> {
        let model_stmts: Vec<&ast::Path> = t
            .body
            .iter()
            .filter_map(|s| {
                if let TrialStmt::Model(p) = s {
                    Some(p)
                } else {
                    None
                }
            })
            .collect();
        let Some(mp) = model_stmts.first() else {
            self.report(
                Diagnostic::error(
                    codes::E0027,
                    format!("trial `{}` does not name its model", t.name.text),
                    t.name.span,
                )
                .with_help("add `model NAME` to the trial"),
            );
            return None;
        };
        if model_stmts.len() > 1 {
            self.report(Diagnostic::error(
                codes::E0027,
                "a trial names exactly one model",
                model_stmts[1].span,
            ));
        }
        let mname = mp.joined();
        let midx = match self.visible.names.get(&mname) {
            Some(Global::Model(i)) => *i,
            _ => {
                let cands: Vec<String> = model_scopes.iter().map(|(n, _)| n.clone()).collect();
                let mut d =
                    Diagnostic::error(codes::E0027, format!("unknown model `{mname}`"), mp.span);
                if let Some(s) = did_you_mean(&mname, cands.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.report(d);
                return None;
            }
        };
        let model = self.program.models[midx].clone();
        for d in super::model::undefined_inputs(&model, Some(mp.span)) {
            self.report(d);
        }
        self.model = model_scopes.get(midx).map(|(_, s)| s.clone());
        self.trial_model = Some(midx);
        self.trial_dose_unit = None;
        self.stop_reasons.clear();
        self.trial_goals.clear();
        self.trial_arms.clear();
        for st in &t.body {
            let TrialStmt::Arm { body, name, .. } = st else {
                continue;
            };
            self.trial_arms.push(name.text.clone());
            for s in body {
                match s {
                    ArmStmt::Dose(d) if self.trial_dose_unit.is_none() => {
                        let name = d.target.joined();
                        self.trial_dose_unit =
                            model.states.iter().find(|s| s.name == name).map(|s| s.unit);
                    }
                    ArmStmt::Rule(r) => {
                        for a in &r.actions {
                            if let ast::Action::Word { verb, reason, .. } = a
                                && verb.text == "stop"
                            {
                                let why = reason
                                    .as_ref()
                                    .map_or("stopped by a rule", |r| r.text.as_str());
                                if !self.stop_reasons.iter().any(|x| x == why) {
                                    self.stop_reasons.push(why.to_string());
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut trial = hir::Trial {
            name: t.name.text.clone(),
            model: midx,
            population: None,
            arms: Vec::new(),
            randomize: false,
            sampling: None,
            endpoints: Vec::new(),
            strata: Vec::new(),
            quantities: Vec::new(),
            dose_searches: Vec::new(),
            occasions: None,
            stop_reasons: self.stop_reasons.clone(),
            goals: Vec::new(),
            span,
        };
        let mut finds: Vec<&ast::FindDose> = Vec::new();
        for st in &t.body {
            match st {
                TrialStmt::Model(_) | TrialStmt::Error(_) => {}
                TrialStmt::FindDose(f) => finds.push(f),
                TrialStmt::Population { size, body, span } => {
                    if trial.population.is_some() {
                        self.report(Diagnostic::error(
                            codes::E0006,
                            "a trial has one `population`",
                            *span,
                        ));
                        continue;
                    }
                    trial.population = Some(self.population(size, body, *span, &model));
                }
                TrialStmt::Arm { name, body, span } => {
                    if trial.arms.iter().any(|a| a.name == name.text) {
                        self.report(Diagnostic::error(
                            codes::E0006,
                            format!("arm `{}` is defined twice", name.text),
                            name.span,
                        ));
                        continue;
                    }
                    let mut arm = hir::Arm {
                        name: name.text.clone(),
                        doses: Vec::new(),
                        overrides: Vec::new(),
                        protocol: None,
                        span: *span,
                    };
                    for s in body {
                        match s {
                            ArmStmt::Dose(d) => {
                                if let Some(d) = self.dose(d, &model) {
                                    arm.doses.push(d);
                                }
                            }
                            ArmStmt::Set { target, value, .. } => {
                                let sym = self
                                    .model
                                    .as_ref()
                                    .and_then(|m| m.names.get(&target.text).copied());
                                match sym {
                                    Some(Sym::Covariate(c)) => {
                                        let h = self.patient_expr(value);
                                        let h = match model.covariates[c].unit {
                                            Some(u) => self.coerce(
                                                h,
                                                u,
                                                codes::E0008,
                                                &format!("covariate `{}`", target.text),
                                            ),
                                            None => h,
                                        };
                                        arm.overrides.push((Sym::Covariate(c), h));
                                    }
                                    Some(Sym::Genotype(g)) => {
                                        let text = match &value.kind {
                                            ast::ExprKind::Str(s) => s.clone(),
                                            ast::ExprKind::Path(p) => p.joined(),
                                            _ => String::new(),
                                        };
                                        let gene = &self.program.genes[model.genotypes[g].gene];
                                        match super::gene::diplotype_index(gene, &text) {
                                            Some(d) => arm.overrides.push((
                                                Sym::Genotype(g),
                                                hir::Expr {
                                                    kind: hir::ExprKind::Const(d as f64),
                                                    ty: Type::Genotype(model.genotypes[g].gene),
                                                    span: value.span,
                                                },
                                            )),
                                            None => {
                                                let msg = format!(
                                                    "`{text}` is not a diplotype of `{}`",
                                                    gene.name
                                                );
                                                self.report(Diagnostic::error(
                                                    codes::E0016,
                                                    msg,
                                                    value.span,
                                                ));
                                            }
                                        }
                                    }
                                    _ => {
                                        self.report(Diagnostic::error(
                                            codes::E0004,
                                            format!(
                                                "`{}` is not a covariate or genotype of the model",
                                                target.text
                                            ),
                                            target.span,
                                        ));
                                    }
                                }
                            }
                            ArmStmt::Visit(_) | ArmStmt::Rule(_) | ArmStmt::Limit { .. } => {}
                        }
                    }
                    arm.protocol = self.protocol(body, &arm.doses, &model);
                    trial.arms.push(arm);
                }
                TrialStmt::Randomize(_) => trial.randomize = true,
                TrialStmt::Sample(s) => {
                    if trial.sampling.is_some() {
                        self.report(Diagnostic::error(
                            codes::E0006,
                            "a trial has one `sample` schedule",
                            t.name.span,
                        ));
                        continue;
                    }
                    trial.sampling = match s {
                        ast::Sampling::Every { step, until, .. } => {
                            let st = self.const_time(step, "a sampling step");
                            let un = self.const_time(until, "the end of sampling");
                            match (st, un) {
                                (Some(st), Some(un)) if st > 0.0 && un > 0.0 && un / st <= 1e7 => {
                                    Some(hir::Sampling::Every {
                                        step: st,
                                        until: un,
                                    })
                                }
                                (Some(_), Some(_)) => {
                                    self.report(Diagnostic::error(codes::E0031, "sampling needs a positive step and end (at most 10 million samples)", step.span));
                                    None
                                }
                                _ => None,
                            }
                        }
                        ast::Sampling::At { times, .. } => {
                            let mut v: Vec<f64> = times
                                .iter()
                                .filter_map(|e| self.const_time(e, "a sampling time"))
                                .collect();
                            v.sort_by(f64::total_cmp);
                            v.dedup();
                            Some(hir::Sampling::At(v))
                        }
                    };
                }
                TrialStmt::Occasions(o) => {
                    if trial.occasions.is_some() {
                        self.report(Diagnostic::error(
                            codes::E0006,
                            "a trial has one `occasion` schedule",
                            t.name.span,
                        ));
                        continue;
                    }
                    trial.occasions = match o {
                        ast::Occasions::Every { step, span } => {
                            match self.const_time(step, "the length of an occasion") {
                                Some(st) if st > 0.0 => Some(hir::Occasions::Every(st)),
                                Some(st) => {
                                    self.report(
                                        Diagnostic::error(
                                            codes::E0031,
                                            "occasions need a positive length",
                                            *span,
                                        )
                                        .with_label_message(format!("{st} h")),
                                    );
                                    None
                                }
                                None => None,
                            }
                        }
                        ast::Occasions::At { times, span } => {
                            let mut v: Vec<f64> = times
                                .iter()
                                .filter_map(|e| self.const_time(e, "the start of an occasion"))
                                .collect();
                            v.sort_by(f64::total_cmp);
                            v.dedup();
                            if v.is_empty() || v.len() > hir::MAX_OCCASIONS {
                                self.report(Diagnostic::error(
                                    codes::E0031,
                                    format!(
                                        "`occasion at` needs between 1 and {} start times",
                                        hir::MAX_OCCASIONS
                                    ),
                                    *span,
                                ));
                                None
                            } else {
                                Some(hir::Occasions::At(v))
                            }
                        }
                    };
                }
                TrialStmt::Endpoint { name, value, span } => {
                    if trial.endpoints.iter().any(|e| e.name == name.text) {
                        self.report(Diagnostic::error(
                            codes::E0006,
                            format!("endpoint `{}` is defined twice", name.text),
                            name.span,
                        ));
                        continue;
                    }
                    let saved = std::mem::replace(&mut self.scope, Scope::Endpoint);
                    let h = self.expr(value);
                    self.scope = saved;
                    if h.ty == Type::Error {
                        continue;
                    }
                    // A ratio of quantities in different units is a pure number in a scaled unit
                    // with no name (`tmin(anc) / 1 d` is in h/d, `max(conc) / (1 ng/mL)` in
                    // (mg/L)/(ng/mL)): report it as the plain number (days, multiples of 1 ng/mL).
                    let h = match h.ty {
                        Type::Num(u)
                            if u.is_dimensionless()
                                && !u.scale.is_one()
                                && self.units.unit_name(u).is_none() =>
                        {
                            self.convert(h, Unit::ONE)
                        }
                        _ => h,
                    };
                    let mut has_agg = false;
                    fn any_agg(e: &hir::Expr, found: &mut bool, bare: &mut Vec<Span>) {
                        match &e.kind {
                            hir::ExprKind::Aggregate { .. } => *found = true,
                            hir::ExprKind::Sym(
                                Sym::State(_) | Sym::Let(_) | Sym::Observable(_) | Sym::Time,
                            ) => bare.push(e.span),
                            hir::ExprKind::Scale(x, _) | hir::ExprKind::Unary(_, x) => {
                                any_agg(x, found, bare)
                            }
                            hir::ExprKind::Binary(_, a, b) => {
                                any_agg(a, found, bare);
                                any_agg(b, found, bare);
                            }
                            hir::ExprKind::If(c, a, b) => {
                                any_agg(c, found, bare);
                                any_agg(a, found, bare);
                                any_agg(b, found, bare);
                            }
                            hir::ExprKind::Builtin(_, args) | hir::ExprKind::Call(_, args) => {
                                args.iter().for_each(|a| any_agg(a, found, bare))
                            }
                            hir::ExprKind::Switch { arms, .. } => {
                                arms.iter().for_each(|a| any_agg(a, found, bare))
                            }
                            _ => {}
                        }
                    }
                    let mut bare = Vec::new();
                    any_agg(&h, &mut has_agg, &mut bare);
                    if let Some(b) = bare.first() {
                        self.report(
                            Diagnostic::error(codes::E0028, "an endpoint must summarise a time course, not use it directly", *b)
                                .with_label_message("this changes over time")
                                .with_help("wrap it in an aggregate such as `max(x)`, `auc(x, from 0 h to 24 h)` or `value(x, 24 h)`"),
                        );
                        continue;
                    }
                    let _ = has_agg;
                    trial.endpoints.push(hir::Endpoint {
                        name: name.text.clone(),
                        value: h,
                        span: *span,
                    });
                }
                TrialStmt::Stratify(keys, _) => {
                    for k in keys {
                        if let Some(s) = self.stratum(k, &model, &mut trial.quantities) {
                            trial.strata.push(s);
                        }
                    }
                }
            }
        }
        if trial.arms.is_empty() {
            self.report(
                Diagnostic::error(
                    codes::E0027,
                    format!("trial `{}` has no arms", t.name.text),
                    t.name.span,
                )
                .with_help("add `arm NAME { dose … }`"),
            );
        }
        if trial.sampling.is_none() && !trial.endpoints.is_empty() {
            // Endpoints use dense output; without a schedule the simulation ends at the last window.
        }
        // A window past the end of the schedule would be cut at the last sample: refuse it.
        let last_sample = match &trial.sampling {
            Some(hir::Sampling::Every { until, .. }) => Some(*until),
            Some(hir::Sampling::At(ts)) => ts.last().copied(),
            None => None,
        };
        if let Some(last) = last_sample {
            for e in &trial.endpoints {
                let mut found = Vec::new();
                crate::lower::aggregates(&e.value, &mut found);
                for a in found {
                    let hir::ExprKind::Aggregate { from, to, .. } = &a.kind else {
                        continue;
                    };
                    let edge = to.or(*from).unwrap_or(0.0);
                    if edge > last * (1.0 + 1e-9) {
                        self.report(
                            Diagnostic::error(
                                codes::E0028,
                                format!(
                                    "endpoint `{}` looks at {edge} h, after the last sample ({last} h): the simulation ends there",
                                    e.name
                                ),
                                a.span,
                            )
                            .with_help(format!(
                                "sample until at least {edge} h (`sample every … until …`), or end the window by the last sample"
                            )),
                        );
                    }
                }
            }
        }
        if trial.occasions.is_none()
            && trial.population.is_some()
            && model.effects.iter().any(|e| e.per_occasion)
        {
            self.report(
                Diagnostic::warning(
                    codes::W0003,
                    format!(
                        "model `{}` has per-occasion random effects but trial `{}` declares no occasions: the whole trial is one occasion",
                        model.name, t.name.text
                    ),
                    t.name.span,
                )
                .with_help("declare when occasions start: `occasion every 7 d` or `occasion at [0 d, 14 d]`"),
            );
        }
        // Dose searches refer to arms and endpoints, which may be declared after them.
        for f in finds {
            self.find_dose(f, &mut trial);
        }
        // A reference arm runs at its written dose: it cannot have its own dose searched.
        let mut chained: Vec<(String, String, Span)> = Vec::new();
        for s in &trial.dose_searches {
            if let hir::SearchTarget::Arm(r) = s.target
                && trial.dose_searches.iter().any(|x| x.arm == r)
                && !chained.iter().any(|c| c.2 == s.span)
            {
                chained.push((
                    trial.arms[r].name.clone(),
                    trial.arms[s.arm].name.clone(),
                    s.span,
                ));
            }
        }
        for (reference, arm, span) in chained {
            self.report(
                Diagnostic::error(
                    codes::E0039,
                    format!("reference arm `{reference}` of `{arm}` has its own dose searched"),
                    span,
                )
                .with_help("a reference arm runs at its written dose; match both arms to a quantity, or to an arm whose dose is not searched"),
            );
        }
        // Ensure windows fit the simulation horizon when there is a sampling schedule.
        let _ = error_expr;
        self.model = None;
        trial.goals = std::mem::take(&mut self.trial_goals);
        self.rules_that_cannot_fire(&trial);
        Some(trial)
    }

    /// Checks one `stratify by` key. Computed quantities (params, and `let`s of params,
    /// covariates and genotypes) are added to `quantities` (each once) and referred to by index.
    fn stratum(
        &mut self,
        k: &ast::Stratum,
        model: &hir::Model,
        quantities: &mut Vec<Sym>,
    ) -> Option<hir::Stratum> {
        // Resolved like an endpoint, so that every model name (a `let` too) is found here and a
        // quantity that changes over time gets its own diagnostic below.
        let saved = std::mem::replace(&mut self.scope, Scope::Endpoint);
        let h = self.expr(&k.key);
        self.scope = saved;
        let needs_bins = |this: &mut Checker, what: String, unit: Unit| {
            let u = this.units.format_unit(unit);
            let help = if u.is_empty() || u == "1" {
                "add `bins [EDGE, …]` with increasing edges".to_string()
            } else {
                format!(
                    "add `bins [EDGE {u}, …]` with increasing edges in {u} (or another unit of its dimension)"
                )
            };
            this.report(
                Diagnostic::error(
                    codes::E0027,
                    format!("{what} needs bins to stratify by"),
                    k.span,
                )
                .with_help(help),
            );
        };
        match (&h.kind, h.ty, &k.bins) {
            (hir::ExprKind::Sym(Sym::Genotype(g)), Type::Genotype(_), None) => {
                Some(hir::Stratum::Genotype(*g))
            }
            (hir::ExprKind::Sym(Sym::Genotype(g)), Type::Phenotype(_), None) => {
                Some(hir::Stratum::Phenotype(*g))
            }
            (hir::ExprKind::Sym(Sym::Covariate(c)), Type::Category(_), None) => {
                Some(hir::Stratum::Category(*c))
            }
            (hir::ExprKind::Sym(Sym::Covariate(c)), Type::Num(u), Some(bins)) => {
                let edges = self.bin_edges(k, bins, u)?;
                Some(hir::Stratum::Bins(*c, edges))
            }
            (hir::ExprKind::Sym(Sym::Covariate(c)), Type::Num(_), None) => {
                self.report(
                    Diagnostic::error(
                        codes::E0027,
                        format!(
                            "continuous covariate `{}` needs bins to stratify by",
                            model.covariates[*c].name
                        ),
                        k.span,
                    )
                    .with_help("add `bins [60 kg, 80 kg]`"),
                );
                None
            }
            (hir::ExprKind::Sym(q @ (Sym::Param(_) | Sym::Let(_))), Type::Num(u), bins) => {
                let q = *q;
                if let Sym::Let(l) = q
                    && let Some(bad) = changing_in_let(model, l)
                {
                    let name = model.lets.get(l).map_or("?", |x| x.name.as_str());
                    let mut d = Diagnostic::error(
                        codes::E0027,
                        format!(
                            "`{name}` changes over time (it uses {}), so it cannot stratify patients",
                            sym_label(model, bad)
                        ),
                        h.span,
                    )
                    .with_help(
                        "stratify by a genotype, `phenotype(g)`, a covariate, a param, or a `let` computed only from covariates, genotypes and params",
                    );
                    if let Some(l) = model.lets.get(l) {
                        d = d.with_label(l.span, "defined here");
                    }
                    self.report(d);
                    return None;
                }
                let Some(bins) = bins else {
                    let what = match q {
                        Sym::Param(p) => format!(
                            "param `{}`",
                            model.params.get(p).map_or("?", |x| x.name.as_str())
                        ),
                        _ => format!("`{}`", sym_label_name(model, q)),
                    };
                    needs_bins(self, what, u);
                    return None;
                };
                let edges = self.bin_edges(k, bins, u)?;
                // Stratifying uses it: the model's "never used" warning no longer holds.
                let name_span = self.model.as_ref().and_then(|m| match q {
                    Sym::Param(i) => m.params.get(i).map(|p| p.name_span),
                    Sym::Let(i) => m.lets.get(i).map(|l| l.name_span),
                    _ => None,
                });
                if let Some(at) = name_span {
                    self.diags.retain(|d| {
                        !((d.code == codes::W0001 || d.code == codes::W0002)
                            && d.primary.span == at)
                    });
                }
                let index = match quantities.iter().position(|x| *x == q) {
                    Some(i) => i,
                    None => {
                        quantities.push(q);
                        quantities.len() - 1
                    }
                };
                Some(hir::Stratum::Computed(index, edges))
            }
            (_, Type::Error, _) => None,
            (hir::ExprKind::Sym(s @ (Sym::State(_) | Sym::Observable(_) | Sym::Time)), _, _) => {
                self.report(
                    Diagnostic::error(
                        codes::E0027,
                        format!(
                            "{} changes over time, so it cannot stratify patients",
                            sym_label(model, *s)
                        ),
                        k.span,
                    )
                    .with_help(
                        "stratify by a genotype, `phenotype(g)`, a covariate, a param, or a `let` computed only from covariates, genotypes and params",
                    ),
                );
                None
            }
            _ => {
                self.report(
                    Diagnostic::error(
                        codes::E0027,
                        "stratify by a genotype, `phenotype(g)`, a covariate, a param or a `let` of the model",
                        k.span,
                    )
                    .with_help(
                        "e.g. `stratify by cyp2c9, phenotype(cyp2c19), weight bins [60 kg, 80 kg], crcl bins [30 mL/min, 60 mL/min]`",
                    ),
                );
                None
            }
        }
    }

    /// The bin edges of a stratum, constants converted to `unit` (E0007 for another dimension),
    /// increasing. Each edge is rounded to 15 significant digits, so that the binary rounding of a
    /// unit conversion (3.6 L/h is 60.00000000000001 mL/min in floating point) neither moves the
    /// edge nor shows in the level names.
    fn bin_edges(&mut self, k: &ast::Stratum, bins: &[ast::Expr], unit: Unit) -> Option<Vec<f64>> {
        let mut edges = Vec::new();
        for b in bins {
            let saved = std::mem::replace(&mut self.scope, Scope::Const);
            let e = self.expr(b);
            self.scope = saved;
            let e = self.coerce(e, unit, codes::E0007, "a bin edge");
            let v = consts::eval(&e)?;
            edges.push(format!("{v:.14e}").parse::<f64>().unwrap_or(v));
        }
        if edges.windows(2).any(|w| w[1] <= w[0]) || edges.is_empty() {
            self.report(Diagnostic::error(
                codes::E0027,
                "bin edges must be increasing",
                k.span,
            ));
            return None;
        }
        Some(edges)
    }

    /// An arm of the trial by name; reports E0004 (with a suggestion) when there is none.
    fn arm_named(&mut self, trial: &hir::Trial, n: &ast::Name) -> Option<usize> {
        if let Some(a) = trial.arms.iter().position(|a| a.name == n.text) {
            return Some(a);
        }
        let names: Vec<&str> = trial.arms.iter().map(|a| a.name.as_str()).collect();
        let mut d = Diagnostic::error(
            codes::E0004,
            format!("the trial has no arm `{}`", n.text),
            n.span,
        );
        if let Some(s) = did_you_mean(&n.text, names.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if !names.is_empty() {
            d = d.with_help(format!("the arms are {}", names.join(", ")));
        }
        self.report(d);
        None
    }

    /// Reads `STAT(endpoint)` of a `find dose` clause: the statistic and the endpoint's index.
    fn search_statistic(
        &mut self,
        trial: &hir::Trial,
        e: &ast::Expr,
    ) -> Option<(hir::Statistic, usize)> {
        let form_error = |this: &mut Checker| {
            this.report(
                Diagnostic::error(
                    codes::E0040,
                    "expected a statistic of an endpoint",
                    e.span,
                )
                .with_help(
                    "write `median(auc24)`, `mean(x)`, `geomean(x)`, `p90(x)` or `rate(responder)`",
                ),
            );
            None
        };
        let ast::ExprKind::Call(c) = &e.kind else {
            return form_error(self);
        };
        let endpoint_name = match c.args.as_slice() {
            [
                ast::Arg {
                    name: None,
                    value:
                        ast::Expr {
                            kind: ast::ExprKind::Path(p),
                            ..
                        },
                },
            ] if p.parts.len() == 1 => &p.parts[0],
            _ => return form_error(self),
        };
        let fname = c.func.joined();
        let quantile = fname
            .strip_prefix('p')
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|q| (1..=99).contains(q) && !fname[1..].starts_with('0'));
        let statistic = match (fname.as_str(), quantile) {
            ("mean", _) => hir::Statistic::Mean,
            ("median", _) => hir::Statistic::Median,
            ("geomean" | "geometric_mean", _) => hir::Statistic::GeometricMean,
            ("rate", _) => hir::Statistic::Rate,
            (_, Some(q)) => hir::Statistic::Quantile(q),
            (other, None) => {
                let known = ["mean", "median", "geomean", "rate", "p90"];
                let mut d = Diagnostic::error(
                    codes::E0040,
                    format!("`{other}` is not a statistic a dose search can target"),
                    c.func.span,
                )
                .with_help("the statistics are mean, median, geomean, p1 … p99 (quantiles) and rate (of a true/false endpoint)");
                if let Some(s) = did_you_mean(other, known) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.report(d);
                return None;
            }
        };
        let Some(k) = trial
            .endpoints
            .iter()
            .position(|x| x.name == endpoint_name.text)
        else {
            let names: Vec<&str> = trial.endpoints.iter().map(|x| x.name.as_str()).collect();
            let mut d = Diagnostic::error(
                codes::E0004,
                format!("the trial has no endpoint `{}`", endpoint_name.text),
                endpoint_name.span,
            );
            if let Some(s) = did_you_mean(&endpoint_name.text, names.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if names.is_empty() {
                d = d.with_help("declare it with `endpoint NAME = …`");
            } else {
                d = d.with_help(format!("the endpoints are {}", names.join(", ")));
            }
            self.report(d);
            return None;
        };
        let is_rule = trial.endpoints[k].value.ty == Type::Bool;
        match (statistic, is_rule) {
            (hir::Statistic::Rate, false) => {
                self.report(
                    Diagnostic::error(
                        codes::E0040,
                        format!(
                            "`rate` needs a true/false endpoint; `{}` is a number",
                            endpoint_name.text
                        ),
                        e.span,
                    )
                    .with_help("use `median`, `mean`, `geomean` or a quantile such as `p90` for a numeric endpoint, or define a responder endpoint such as `endpoint exposed = auc(conc) > 40 mg*h/L`"),
                );
                None
            }
            (s, true) if s != hir::Statistic::Rate => {
                self.report(
                    Diagnostic::error(
                        codes::E0040,
                        format!(
                            "`{}` needs a numeric endpoint; `{}` is true/false",
                            s.name(),
                            endpoint_name.text
                        ),
                        e.span,
                    )
                    .with_help(format!(
                        "the statistic of a true/false endpoint is its responder rate: `rate({})`",
                        endpoint_name.text
                    )),
                );
                None
            }
            _ => Some((statistic, k)),
        }
    }

    /// Checks `find dose of ARM, … so STAT(endpoint) == TARGET [of REF] [within TOL]` into one
    /// [`hir::DoseSearch`] per arm.
    fn find_dose(&mut self, f: &ast::FindDose, trial: &mut hir::Trial) {
        let Some((statistic, k)) = self.search_statistic(trial, &f.statistic) else {
            return;
        };
        let endpoint_unit = match trial.endpoints[k].value.ty {
            Type::Num(u) => Some(u),
            _ => None,
        };
        let target = match &f.reference {
            Some(r) => {
                let same = self.search_statistic(trial, &f.target);
                match same {
                    Some((s2, k2)) if s2 == statistic && k2 == k => {}
                    Some(_) => {
                        self.report(
                            Diagnostic::error(
                                codes::E0039,
                                "a reference arm is matched on the same statistic of the same endpoint",
                                f.target.span,
                            )
                            .with_label_message("this differs from the left-hand side")
                            .with_help(format!(
                                "write `… == {} of {}`",
                                span_text_hint(statistic, &trial.endpoints[k].name),
                                r.text
                            )),
                        );
                        return;
                    }
                    None => return,
                }
                let Some(a) = self.arm_named(trial, r) else {
                    return;
                };
                if let Some(me) = f.arms.iter().find(|n| n.text == r.text) {
                    self.report(
                        Diagnostic::error(
                            codes::E0039,
                            format!("arm `{}` cannot be its own reference", r.text),
                            me.span,
                        )
                        .with_label_message("searched here")
                        .with_help("the reference arm runs at its written dose; name another arm after `of`, or give the target as a quantity"),
                    );
                    return;
                }
                hir::SearchTarget::Arm(a)
            }
            None => {
                let saved = std::mem::replace(&mut self.scope, Scope::Const);
                let h = self.expr(&f.target);
                self.scope = saved;
                let h = match (statistic, endpoint_unit) {
                    (hir::Statistic::Rate, _) | (_, None) => {
                        self.dimensionless(h, "a responder rate")
                    }
                    (_, Some(u)) => self.coerce(
                        h,
                        u,
                        codes::E0007,
                        &format!("the target of endpoint `{}`", trial.endpoints[k].name),
                    ),
                };
                if h.ty == Type::Error {
                    return;
                }
                let Some(v) = consts::eval(&h).filter(|v| v.is_finite()) else {
                    self.report(
                        Diagnostic::error(codes::E0039, "the target must be a constant", f.target.span)
                            .with_help("write a quantity such as `40 mg*h/L`, or `… of ARM` to match another arm"),
                    );
                    return;
                };
                if statistic == hir::Statistic::Rate && !(0.0..=1.0).contains(&v) {
                    self.report(Diagnostic::error(
                        codes::E0039,
                        "a responder rate is between 0% and 100%",
                        f.target.span,
                    ));
                    return;
                }
                if statistic == hir::Statistic::GeometricMean && v <= 0.0 {
                    self.report(Diagnostic::error(
                        codes::E0039,
                        "a geometric mean is positive",
                        f.target.span,
                    ));
                    return;
                }
                hir::SearchTarget::Value(v)
            }
        };
        let tolerance = match &f.tolerance {
            None => 0.001,
            Some(e) => {
                let Some(v) = self.const_number(e, "a tolerance") else {
                    return;
                };
                if !(v > 0.0 && v < 1.0) {
                    self.report(
                        Diagnostic::error(
                            codes::E0039,
                            "a tolerance is a fraction between 0 and 100% (exclusive)",
                            e.span,
                        )
                        .with_help("e.g. `within 1%` (the default is 0.1%)"),
                    );
                    return;
                }
                v
            }
        };
        for n in &f.arms {
            let Some(a) = self.arm_named(trial, n) else {
                continue;
            };
            if trial.arms[a].doses.is_empty() {
                self.report(
                    Diagnostic::error(
                        codes::E0039,
                        format!("arm `{}` has no doses to scale", n.text),
                        n.span,
                    )
                    .with_help("a dose search multiplies the arm's dose amounts and infusion rates; add `dose … into …` to the arm"),
                );
                continue;
            }
            if trial.dose_searches.iter().any(|s| s.arm == a) {
                self.report(
                    Diagnostic::error(
                        codes::E0039,
                        format!("the dose of arm `{}` is searched twice", n.text),
                        n.span,
                    )
                    .with_help(
                        "an arm's doses are scaled by one factor; keep one `find dose` for it",
                    ),
                );
                continue;
            }
            trial.dose_searches.push(hir::DoseSearch {
                arm: a,
                endpoint: k,
                statistic,
                target: target.clone(),
                tolerance,
                span: f.span,
            });
        }
    }
}

/// `median(auc24)` as written in a help line.
fn span_text_hint(s: hir::Statistic, endpoint: &str) -> String {
    format!("{}({endpoint})", s.name())
}
