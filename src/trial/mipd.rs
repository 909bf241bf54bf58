//! Model-informed precision dosing inside a protocol: `fit dose so GOAL == TARGET`.
//!
//! At a visit, the patient's random effects are estimated from every measurement made so far in
//! the arm — the MAP estimate of `twin fit` ([`crate::fit::map_estimate`]: the model's `vary`
//! terms with their `correlate` blocks as the prior, each observable's `observe … ~` residual
//! error, exact gradients from the forward sensitivities, one start at η = 0) — with the
//! patient's own covariates and genotypes and the doses given so far. Then the amount of every
//! remaining administration is chosen so that the goal, a summary of the time course over its
//! window (`auc(conc, from 144 h to 168 h)`), predicted for that estimate under the new plan,
//! equals the target: by the secant method on the amount (exact after one step for a linear
//! model, whose summaries are affine in the amount), to a relative 1e-6 of the target, at most 30
//! steps. The new amount is then rounded and capped by the arm's limits.
//!
//! Conventions: measurements are fitted as they were taken (pre-dose, at the visit time); only
//! observables with a residual error model are fitted; per-occasion effects are not estimated
//! (they stay 0). A patient whose fit or dose search fails keeps the plan unchanged, and the
//! visit records why ([`crate::trial::protocol::Visit`]).

use super::endpoints;
use crate::check::hir;
use crate::driver::PrepareError;
use crate::fit::lm::Settings;
use crate::fit::objective::Observation;
use crate::fit::{Predicted, Prior};
use crate::lower::InputSlot;
use crate::sim::{self, Patient, PreparedModel};
use crate::solve::{Regimen, Segment, SegmentStart, SolveOptions};

/// Most secant steps of the dose search.
pub const MAX_STEPS: usize = 30;

/// What a trial's `fit dose so` actions share: the model compiled with its sensitivities with
/// respect to every between-patient η, and the prior.
pub struct Mipd {
    model: PreparedModel,
    /// Per estimated effect: its input slot and its sensitivity column.
    etas: Vec<(usize, usize)>,
    prior: Prior,
    options: SolveOptions,
}

impl Mipd {
    /// The estimation model of `trial` (compiled only when one of its arms has a `fit dose so`
    /// action).
    pub fn new(
        program: &hir::Program,
        trial: &hir::Trial,
        options: SolveOptions,
    ) -> Result<Option<Mipd>, PrepareError> {
        let fits = trial.arms.iter().any(|a| {
            a.protocol.as_ref().is_some_and(|p| {
                p.rules.iter().any(|r| {
                    r.actions
                        .iter()
                        .any(|x| matches!(x, hir::Action::FitDose { .. }))
                })
            })
        });
        if !fits {
            return Ok(None);
        }
        let arms: Vec<&hir::Arm> = trial.arms.iter().collect();
        let parts = crate::driver::Parts {
            arms: &arms,
            ..Default::default()
        };
        let model = crate::driver::prepare(
            program,
            trial.model,
            parts,
            crate::lower::Options {
                sensitivities: true,
                ..Default::default()
            },
        )?;
        let m = &program.models[trial.model];
        let slots = &model.lowered.inputs;
        let wrt = model
            .compiled
            .module()
            .meta
            .sensitivity
            .as_ref()
            .map(|s| s.wrt.clone())
            .unwrap_or_default();
        let mut etas = Vec::new();
        let mut effects = Vec::new();
        for (k, e) in m.effects.iter().enumerate() {
            if e.per_occasion {
                continue;
            }
            let Some(slot) = slots.iter().position(|s| *s == InputSlot::Eta(k)) else {
                continue;
            };
            let Some(col) = wrt.iter().position(|&w| w as usize == slot) else {
                continue;
            };
            etas.push((slot, col));
            effects.push(k);
        }
        let prior = Prior::of_effects(m, &effects, |_| 0)
            .map_err(|message| PrepareError::Evaluator(super::PopError::at(message, trial.span)))?;
        Ok(Some(Mipd {
            model,
            etas,
            prior,
            options,
        }))
    }

    /// The MAP estimate of η (in the order of the model's between-patient effects) of the patient
    /// with `inputs`, given the doses of `regimen` and the measurements `visits` (time, every
    /// observable as measured); `None` when it cannot be computed.
    pub fn estimate(
        &self,
        inputs: &[f64],
        regimen: &Regimen,
        visits: &[(f64, &[f64])],
        observables: &[hir::Observable],
    ) -> Result<Vec<f64>, String> {
        let n_obs = observables.len();
        let fitted: Vec<usize> = (0..n_obs)
            .filter(|&j| {
                observables[j].error.additive > 0.0 || observables[j].error.proportional > 0.0
            })
            .collect();
        let mut obs = Vec::new();
        let mut rows = Vec::new();
        for (v, (_, measured)) in visits.iter().enumerate() {
            for &j in &fitted {
                let Some(&dv) = measured.get(j) else { continue };
                if !dv.is_finite() {
                    continue;
                }
                let e = observables[j].error;
                obs.push(Observation {
                    dv,
                    additive: e.additive,
                    proportional: e.proportional,
                });
                rows.push((v, j));
            }
        }
        if obs.is_empty() {
            return Err("no measurement to fit".into());
        }
        let times: Vec<f64> = visits.iter().map(|(t, _)| *t).collect();
        let predict = |eta: &[f64]| -> Option<Predicted> {
            let mut x = inputs.to_vec();
            for (&(slot, _), &v) in self.etas.iter().zip(eta) {
                *x.get_mut(slot)? = v;
            }
            let p = Patient::setup(&self.model, x).ok()?;
            // A boundary at every visit gives the left limit there: the pre-dose measurement.
            let segments: Vec<Segment> = times
                .iter()
                .map(|&t| Segment {
                    time: t,
                    params: p.params.clone(),
                    start: SegmentStart::Continue,
                })
                .collect();
            let grid = [times.last().copied().unwrap_or(0.0)];
            let (_, limits) =
                sim::simulate_segments(&self.model, &p, &segments, regimen, &grid, &self.options)
                    .ok()?;
            let mut f = Vec::with_capacity(rows.len());
            let mut df = Vec::with_capacity(rows.len());
            for &(v, j) in &rows {
                let t = times[v];
                let l = limits
                    .iter()
                    .find(|l| crate::solve::driver::same_time(l.time, t))?;
                f.push(*l.observables.get(j)?);
                df.push(
                    self.etas
                        .iter()
                        .map(|&(_, col)| l.observables.get(n_obs * (1 + col) + j).copied())
                        .collect::<Option<Vec<f64>>>()?,
                );
            }
            Some(Predicted { f, df })
        };
        let start = vec![vec![0.0; self.prior.k]];
        let ind =
            crate::fit::map_estimate(&self.prior, &obs, &start, &Settings::default(), &predict);
        match ind.status {
            crate::fit::lm::Status::Converged => Ok(ind.eta),
            s => Err(format!("the MAP estimate did not converge ({s:?})")),
        }
    }

    /// The patient's inputs with the estimate `eta` in its random-effect slots.
    pub fn with_estimate(&self, inputs: &[f64], eta: &[f64]) -> Vec<f64> {
        let mut x = inputs.to_vec();
        for (&(slot, _), &v) in self.etas.iter().zip(eta) {
            if let Some(s) = x.get_mut(slot) {
                *s = v;
            }
        }
        x
    }
}

/// The value of goal aggregate `slot` of `model` for the patient with `inputs` under `regimen`,
/// solved on `grid` (the trial's dense grid).
pub fn goal_value(
    model: &PreparedModel,
    inputs: &[f64],
    regimen: &Regimen,
    grid: &[f64],
    options: &SolveOptions,
    slot: usize,
) -> Result<f64, String> {
    let p = Patient::new(model, inputs.to_vec()).map_err(|e| e.to_string())?;
    let (s, mut dense) =
        sim::simulate_dense(model, &p, &[], regimen, grid, options).map_err(|e| e.to_string())?;
    let a = model
        .lowered
        .aggregates
        .get(slot)
        .ok_or_else(|| "no such goal".to_string())?;
    let mut curve = endpoints::Curve::new(&model.compiled, &s, &mut dense);
    Ok(endpoints::aggregate_value(a, &mut curve))
}

/// The amount `x` for which `g(x)` equals `target` by the secant method from `x0` (see the
/// module docs); `None` when no positive finite amount is found.
pub fn solve_amount(
    x0: f64,
    target: f64,
    mut g: impl FnMut(f64) -> Result<f64, String>,
) -> Result<f64, String> {
    let (mut a, mut b) = (x0.max(f64::MIN_POSITIVE), 2.0 * x0.max(f64::MIN_POSITIVE));
    let (mut ga, mut gb) = (g(a)? - target, g(b)? - target);
    for _ in 0..MAX_STEPS {
        if gb.abs() <= 1e-6 * target.abs() {
            return Ok(b);
        }
        let slope = (gb - ga) / (b - a);
        if !slope.is_finite() || slope == 0.0 {
            return Err("the goal does not change with the dose".into());
        }
        let next = b - gb / slope;
        let next = if next <= 0.0 { b / 2.0 } else { next };
        (a, ga) = (b, gb);
        b = next;
        gb = g(b)? - target;
    }
    if gb.abs() <= 1e-6 * target.abs() {
        Ok(b)
    } else {
        Err(format!(
            "no dose reaches the target in {MAX_STEPS} steps (last {b}, off by {gb})"
        ))
    }
}
