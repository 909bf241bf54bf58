//! Lowering of per-patient expressions: population generator arguments, `set` covariates, arm
//! overrides and endpoints → [`PatientModule`]s of IR functions, with the same code that lowers
//! the model (unit scale factors become constants, function calls are inlined, genotype `match`es
//! become selects on the diplotype index).
//!
//! Two modules come out, both with the model's input layout (covariates, genotypes, one η per
//! random effect; see [`super::Lowered::inputs`]):
//! - **population**: one function per generator of the population (in its order): the
//!   distribution's arguments (`normal`: mean, sd; `lognormal`: median, cv; `uniform`: low, high;
//!   `categorical`: none) or the value of a `set`; then one function per arm: its override values.
//!   A param is recomputed from its typical-value expression with the patient's η applied exactly
//!   as the model's `setup` does, so a generator sees the value the simulation will use.
//! - **endpoints**: one function (inputs ‖ aggregate values, the model's parameters) → endpoint
//!   values, aggregate `k` being input `n_inputs + k` with `k` its index in
//!   [`super::Lowered::aggregates`] (the pre-order of [`super::aggregates`]).
//!
//! Anything not known when a patient is generated (states, observables, `let`s of the model that
//! use them, time; summaries outside endpoints) is an error found here, once, with its span.

use super::{InputSlot, Lower, Mode, aggregates};
use crate::check::hir::{self, Distribution, Generator, Sym};
use crate::ir::builder::{Expr, ModuleBuilder};
use crate::ir::ir::PatientModule;
use crate::source::Span;

/// The per-patient expressions to lower.
#[derive(Debug, Clone, Copy, Default)]
pub struct PatientExprs<'a> {
    /// The population whose generators are lowered (none: no generator functions).
    pub population: Option<&'a hir::Population>,
    /// Arms whose overrides are lowered (one function each, in this order).
    pub arms: &'a [&'a hir::Arm],
    /// Endpoints (one function computing all of them).
    pub endpoints: &'a [hir::Endpoint],
}

/// Where the model's parameters are, for endpoints: the module param slot of every model param
/// ([`super::Lowered::param_index`]) and the number of slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParamLayout<'a> {
    /// Module param slot by model param index.
    pub index: &'a [usize],
    /// Number of module param slots.
    pub count: usize,
}

/// Per-patient expressions lowered to IR.
#[derive(Debug, Clone, PartialEq)]
pub struct LoweredPatient {
    /// Generator functions (one per generator), then override functions (one per arm).
    pub population: PatientModule,
    /// One function: endpoint values.
    pub endpoints: PatientModule,
    /// The input layout of both modules (the endpoint module's aggregates follow).
    pub inputs: Vec<InputSlot>,
    /// Number of generator functions (the first ones of `population`).
    pub n_generators: usize,
    /// The input slot each override of each arm writes (`None` for an override of something
    /// that is not an input).
    pub overrides: Vec<Vec<Option<InputSlot>>>,
    /// Number of aggregate inputs of the endpoint function.
    pub n_aggregates: usize,
    /// One function per arm (in `arms` order), read at a protocol visit: the value (1/0) of
    /// every visit summary's condition (`fraction_of_visits`, `first_visit`, in aggregate
    /// order), then for each rule of the arm its condition and the value of each of its
    /// actions that has one. Inputs: the patient's, then the measured value of every
    /// observable, `dose`, `t` and `since_dose`; params from the model's parameter slots.
    pub visits: PatientModule,
    /// Number of visit-summary conditions at the start of every visit function.
    pub n_visit_summaries: usize,
}

/// A per-patient expression that cannot be computed before (or, for an endpoint, from) the
/// simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientError {
    /// What went wrong, prefixed by what was being lowered.
    pub message: String,
    /// Where.
    pub span: Option<Span>,
}

/// Lowers `exprs` of model `m` (which must have no errors). `params` is needed only when
/// endpoints read params. Returns every error found.
pub fn lower_patient(
    p: &hir::Program,
    m: &hir::Model,
    exprs: PatientExprs<'_>,
    params: ParamLayout<'_>,
) -> Result<LoweredPatient, Vec<PatientError>> {
    let mut errors = Vec::new();
    let mut take = |l: &mut Lower<'_>, what: &str| {
        for (message, span) in l.errors.drain(..) {
            errors.push(PatientError {
                message: format!("{what}: {message}"),
                span: Some(span),
            });
        }
    };

    // Population generators and arm overrides.
    let (mut l, inputs) = Lower::new(p, m, ModuleBuilder::new(&m.name), Mode::Patient);
    let mut functions: Vec<(String, Vec<Expr>)> = Vec::new();
    let generators = exprs.population.map_or(&[][..], |p| &p.generators);
    for g in generators {
        let (c, args): (usize, Vec<&hir::Expr>) = match g {
            Generator::Draw { covariate, dist } => (
                *covariate,
                match dist {
                    Distribution::Normal { mean, sd, .. } => vec![mean, sd],
                    Distribution::LogNormal { median, cv, .. } => vec![median, cv],
                    Distribution::Uniform { low, high } => vec![low, high],
                    Distribution::Categorical(_) => Vec::new(),
                },
            ),
            Generator::Set { covariate, value } => (*covariate, vec![value]),
        };
        let what = format!(
            "covariate `{}`",
            m.covariates.get(c).map_or("?", |x| x.name.as_str())
        );
        let roots = args.into_iter().map(|a| l.expr(a)).collect();
        take(&mut l, &what);
        functions.push((what, roots));
    }
    let mut overrides = Vec::new();
    for arm in exprs.arms {
        let what = format!("arm `{}`", arm.name);
        let mut roots = Vec::new();
        let mut targets = Vec::new();
        for (s, e) in &arm.overrides {
            roots.push(l.expr(e));
            targets.push(match s {
                Sym::Covariate(i) => Some(InputSlot::Covariate(*i)),
                Sym::Genotype(i) => Some(InputSlot::Genotype(*i)),
                _ => None,
            });
        }
        take(&mut l, &what);
        functions.push((what, roots));
        overrides.push(targets);
    }
    let population = l.b.finish_patient(0, &functions);

    // Endpoints.
    let mut found = Vec::new();
    for e in exprs.endpoints {
        aggregates(&e.value, &mut found);
    }
    let (mut l, _) = Lower::new(p, m, ModuleBuilder::new(&m.name), Mode::Patient);
    let agg_inputs: Vec<Expr> = (0..found.len())
        .map(|k| l.b.input(&format!("#agg{k}")))
        .collect();
    l.mode = Mode::Endpoint {
        param_index: params.index,
        aggregates: &agg_inputs,
    };
    let mut values = Vec::new();
    for e in exprs.endpoints {
        let before = l.next_aggregate;
        let mut here = Vec::new();
        aggregates(&e.value, &mut here);
        let v = l.expr(&e.value);
        if l.next_aggregate - before != here.len() {
            l.errors.push((
                "internal error: the summaries were not met in pre-order".into(),
                e.span,
            ));
        }
        values.push(v);
        take(&mut l, &format!("endpoint `{}`", e.name));
    }
    let endpoints =
        l.b.finish_patient(params.count, &[("endpoints".to_string(), values)]);

    // Visits.
    let (mut l, _) = Lower::new(p, m, ModuleBuilder::new(&m.name), Mode::Patient);
    let mut visit_inputs: Vec<Expr> = (0..m.observables.len())
        .map(|k| l.b.input(&format!("#measured{k}")))
        .collect();
    visit_inputs.push(l.b.input("#dose"));
    visit_inputs.push(l.b.input("#time"));
    visit_inputs.push(l.b.input("#since_dose"));
    l.mode = Mode::Visit {
        param_index: params.index,
        visit: &visit_inputs,
    };
    let summaries: Vec<&hir::Expr> = found
        .iter()
        .filter_map(|e| match &e.kind {
            hir::ExprKind::Aggregate {
                kind: hir::Aggregate::FractionOfVisits | hir::Aggregate::FirstVisit,
                args,
                ..
            } => args.first(),
            _ => None,
        })
        .collect();
    let mut visit_functions = Vec::new();
    for arm in exprs.arms {
        let what = format!("the protocol of arm `{}`", arm.name);
        let mut roots: Vec<Expr> = Vec::new();
        let number = |l: &mut Lower<'_>, e: &hir::Expr| {
            let v = l.expr(e);
            if e.ty == hir::Type::Bool {
                let one = l.b.constant(1.0);
                let zero = l.b.constant(0.0);
                l.b.select(v, one, zero)
            } else {
                v
            }
        };
        for c in &summaries {
            let v = number(&mut l, c);
            roots.push(v);
        }
        for r in arm.protocol.iter().flat_map(|p| &p.rules) {
            let v = number(&mut l, &r.condition);
            roots.push(v);
            for a in &r.actions {
                match a {
                    hir::Action::Scale(e)
                    | hir::Action::SetDose(e)
                    | hir::Action::SetInterval(e)
                    | hir::Action::Give(e)
                    | hir::Action::Delay(e) => {
                        let v = number(&mut l, e);
                        roots.push(v);
                    }
                    hir::Action::Hold(_)
                    | hir::Action::Stop(_)
                    | hir::Action::Switch(_)
                    | hir::Action::FitDose { .. } => {}
                }
            }
        }
        take(&mut l, &what);
        visit_functions.push((what, roots));
    }
    let visits = l.b.finish_patient(params.count, &visit_functions);

    let build = |r: Result<PatientModule, Vec<crate::ir::BuildError>>,
                 errors: &mut Vec<PatientError>| {
        r.map_err(|es| {
            errors.extend(es.into_iter().map(|e| PatientError {
                message: e.to_string(),
                span: None,
            }))
        })
        .ok()
    };
    let population = build(population, &mut errors);
    let endpoints = build(endpoints, &mut errors);
    let visits = build(visits, &mut errors);
    match (population, endpoints, visits) {
        (Some(population), Some(endpoints), Some(visits)) if errors.is_empty() => {
            Ok(LoweredPatient {
                population,
                endpoints,
                inputs,
                n_generators: generators.len(),
                overrides,
                n_aggregates: found.len(),
                visits,
                n_visit_summaries: summaries.len(),
            })
        }
        _ => Err(errors),
    }
}
