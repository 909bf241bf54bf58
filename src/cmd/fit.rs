//! `twin fit`: every subject of a NONMEM-style dataset → its MAP random effects under the model's
//! priors and residual error, with the Laplace covariance, predictions and a posterior band;
//! optionally fixed effects (θ) shared by every subject (`--estimate`).
//!
//! The model is compiled with its forward sensitivities with respect to every η and estimated θ
//! ([`crate::ir::sensitivity`]) and each subject is solved exactly as `twin run --events` solves
//! it (the same per-subject code, [`super::run`]'s dataset run), so a prediction of `twin fit` is
//! the value `twin run` prints for the same row and parameters. The estimation itself is
//! [`crate::fit`].
//!
//! Conventions (the guide's "Fitting" section states them):
//! - the unknowns of a subject are the η of every `vary`, a `per occasion` one once per
//!   occasion (the distinct `OCC` values of the subject in order of appearance; without `OCC` one
//!   occasion), each occasion's η its own input ([`crate::lower::Options::occasions`]); their
//!   prior is `N(0, Ω)` with the model's `correlate` blocks, the per-occasion block repeated per
//!   occasion;
//! - θ of `--estimate` are estimated jointly with every subject's η (the joint posterior mode,
//!   flat prior within the param's domain), on the log scale for a param whose domain is
//!   non-negative; their standard errors come from the expected information;
//! - PRED is the prediction with every η = 0 (and the estimated θ), IPRED with the estimate,
//!   IWRES = (DV − IPRED)/σ(IPRED); the band is the 2.5–97.5 % range of IPRED over `draws`
//!   draws of η from the Laplace approximation `N(η̂, Σ)`, seeded per subject;
//! - a subject that cannot be fitted is reported with its reason and the others finish.

use crate::check::hir;
use crate::fit::lm::{self, Evaluation, Settings, Status};
use crate::fit::objective::{self, Observation};
use crate::fit::{Individual, Predicted, Prior};
use crate::lower::InputSlot;
use crate::trial::rng::{Purpose, Stream};
use rayon::prelude::*;

use super::run::{DatasetRun, Failure, Request};

/// Most starts per subject (`--starts`).
pub const MAX_STARTS: usize = 1000;
/// Most posterior draws for a band (`--draws`, of `twin fit` and `twin run --twin`).
pub const MAX_DRAWS: usize = 100_000;

/// What to fit.
#[derive(Debug, Clone, Default)]
pub struct FitRequest {
    /// The model file's name (for diagnostics).
    pub name: String,
    /// The model file's text.
    pub text: String,
    /// `--model`, when the file has several.
    pub model: Option<String>,
    /// The dataset's text.
    pub data: String,
    /// `--set NAME=VALUE` (params and covariates not in the data).
    pub sets: Vec<String>,
    /// `--estimate`: params estimated as fixed effects.
    pub estimate: Vec<String>,
    /// Solver options.
    pub options: crate::solve::SolveOptions,
    /// Seed of the extra starts and of the posterior draws.
    pub seed: u64,
    /// Starts per subject (1: from η = 0 only).
    pub starts: usize,
    /// Draws of the posterior band (0: none).
    pub draws: usize,
}

/// One estimated fixed effect.
#[derive(Debug, Clone)]
pub struct Theta {
    /// The param.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// The model's value (the start).
    pub initial: f64,
    /// The estimate.
    pub value: f64,
    /// Its standard error (expected information), NaN when not available.
    pub se: f64,
}

/// One row of `predictions.csv`.
#[derive(Debug, Clone)]
pub struct PredictionRow {
    /// Time (h).
    pub time: f64,
    /// Observable index.
    pub observable: usize,
    /// The measurement, if any.
    pub dv: Option<f64>,
    /// Prediction with η = 0.
    pub pred: f64,
    /// Prediction with the estimate.
    pub ipred: f64,
    /// (DV − IPRED)/σ(IPRED), NaN without DV.
    pub iwres: f64,
    /// 2.5 % and 97.5 % of IPRED under the posterior (NaN without draws).
    pub band: (f64, f64),
}

/// One subject's fit.
#[derive(Debug, Clone)]
pub struct SubjectFit {
    /// Its ID.
    pub id: String,
    /// The estimate, or why there is none.
    pub fit: Result<Individual, String>,
    /// A note (e.g. no observations: the estimate is the prior mode).
    pub note: Option<String>,
    /// Its measurements (rows with a DV).
    pub observations: usize,
    /// The individual values of the varied params (as [`FitResult::params`]).
    pub params: Vec<f64>,
    /// The subject's inputs at its first record (covariates, genotypes, η, θ), in the model's
    /// input layout.
    pub inputs: Vec<f64>,
    /// Its covariates and genotypes at the first record as `--set` text (`weight=79.6 kg`).
    pub sets: Vec<String>,
    /// Its covariates at the first record: name and value in the model's unit (a categorical
    /// covariate's level name as text).
    pub covariates: Vec<(String, serde_json::Value)>,
    /// Its genotypes: name and diplotype.
    pub genotypes: Vec<(String, String)>,
    /// Its doses as `--dose` text, on the data's time axis (`320 mg into gut at 0 h`).
    pub doses: Vec<String>,
    /// The data gives a dose `--dose` cannot express (`SS=2`): `doses` is empty.
    pub doses_unavailable: bool,
    /// Every observation row of the subject.
    pub predictions: Vec<PredictionRow>,
}

/// A finished fit.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// The model's name.
    pub model: String,
    /// Names of the fitted random effects (`eta(cl)`).
    pub etas: Vec<String>,
    /// Ω of the fitted random effects (row-major).
    pub omega: Vec<f64>,
    /// Varied params reported per subject: name and unit.
    pub params: Vec<(String, String)>,
    /// Observables: name and unit.
    pub observables: Vec<(String, String)>,
    /// Estimated fixed effects.
    pub thetas: Vec<Theta>,
    /// Per subject, in file order.
    pub subjects: Vec<SubjectFit>,
    /// η-shrinkage per fitted effect over the subjects that converged.
    pub shrinkage: Vec<f64>,
    /// Warnings (rendered).
    pub warnings: String,
    /// The model's fingerprint ([`model_fingerprint`]).
    pub model_sha256: String,
    /// The settings.
    pub request: FitRequest,
}

/// Where a subject's unknowns are in the model.
struct Layout {
    /// Per fitted effect: its input slot and its sensitivity column.
    etas: Vec<(usize, usize)>,
    /// Per θ: its input slot, sensitivity column, param index, log scale, bounds (in the
    /// optimiser's scale).
    thetas: Vec<ThetaSlot>,
    /// Observables of the model itself.
    n_obs: usize,
    /// The input slot of the current occasion, when per-occasion effects are estimated.
    occasion: Option<usize>,
}

struct ThetaSlot {
    slot: usize,
    column: usize,
    param: usize,
    log: bool,
    low: f64,
    high: f64,
}

impl ThetaSlot {
    fn value(&self, x: f64) -> f64 {
        if self.log { x.exp() } else { x }
    }
    fn scale(&self, v: f64) -> f64 {
        if self.log { v.ln() } else { v }
    }
}

/// One subject's data as the estimation sees it.
struct Data<'a> {
    subject: &'a crate::events::Subject,
    /// When each occasion starts (time, 1-based occasion; the first covers the rows before it).
    occasions: Vec<(f64, f64)>,
    /// Indices of the rows with a measurement, and the measurement.
    rows: Vec<usize>,
    obs: Vec<Observation>,
}

/// Runs the fit.
pub fn fit(req: &FitRequest) -> Result<FitResult, Failure> {
    if req.starts > MAX_STARTS {
        return Err(Failure::Usage(format!(
            "--starts {}: at most {MAX_STARTS} starts per subject",
            req.starts
        )));
    }
    if req.draws > MAX_DRAWS {
        return Err(Failure::Usage(format!(
            "--draws {}: at most {MAX_DRAWS} posterior draws",
            req.draws
        )));
    }
    // Occasions: the distinct `OCC` values of a subject, in order of appearance (at least one).
    let dataset =
        crate::dataset::read(&req.data).map_err(|e| Failure::Usage(format!("data: {e}")))?;
    let mut occasions: u32 = 1;
    {
        let mut seen: Vec<i64> = Vec::new();
        let mut id: Option<&str> = None;
        for r in &dataset.records {
            if id != Some(r.id.as_str()) {
                id = Some(r.id.as_str());
                seen.clear();
            }
            if let Some(o) = r.occ
                && !seen.contains(&o)
            {
                seen.push(o);
                occasions = occasions.max(seen.len() as u32);
            }
        }
    }
    drop(dataset);
    let run_req = Request {
        name: req.name.clone(),
        text: req.text.clone(),
        model: req.model.clone(),
        sets: req.sets.clone(),
        events: Some(req.data.clone()),
        options: req.options,
        estimate: req.estimate.clone(),
        sensitivities: true,
        occasions,
        ..Default::default()
    };
    let setup = super::run::setup(&run_req)?;
    let m: &hir::Model = &setup.program.models[setup.model];
    let prepared = &setup.prepared;
    let layout_meta = prepared
        .compiled
        .module()
        .meta
        .sensitivity
        .clone()
        .ok_or_else(|| Failure::Usage("the model was compiled without sensitivities".into()))?;
    let slots = &prepared.lowered.inputs;
    let column = |slot: usize| layout_meta.wrt.iter().position(|&w| w as usize == slot);
    let mut warnings = setup.warnings.clone();
    // The unknowns.
    let mut etas = Vec::new();
    let mut eta_names = Vec::new();
    let mut fitted_effects = Vec::new();
    for (k, e) in m.effects.iter().enumerate() {
        let Some(slot) = slots.iter().position(|s| *s == InputSlot::Eta(k)) else {
            continue;
        };
        if e.per_occasion {
            continue;
        }
        let Some(col) = column(slot) else { continue };
        etas.push((slot, col));
        eta_names.push(format!("eta({})", m.params[e.param].name));
        fitted_effects.push(k);
    }
    // Per-occasion effects: one unknown per effect and occasion, after the between-subject ones.
    let per_occasion: Vec<usize> = m
        .effects
        .iter()
        .enumerate()
        .filter(|(_, e)| e.per_occasion)
        .map(|(k, _)| k)
        .collect();
    let mut occasion_effects = Vec::new();
    for o in 1..=occasions {
        for &k in &per_occasion {
            let Some(slot) = slots.iter().position(|s| *s == InputSlot::Kappa(k, o)) else {
                continue;
            };
            let Some(col) = column(slot) else { continue };
            etas.push((slot, col));
            eta_names.push(format!(
                "eta({}; occasion {o})",
                m.params[m.effects[k].param].name
            ));
            occasion_effects.push(k);
        }
    }
    let occasion_slot = slots.iter().position(|s| *s == InputSlot::Occasion);
    let mut thetas = Vec::new();
    for (slot, s) in slots.iter().enumerate() {
        let InputSlot::Theta(i) = *s else { continue };
        let Some(col) = column(slot) else { continue };
        let d = &m.params[i].domain;
        let initial = setup.patient.inputs[slot];
        let log = d.lower.is_some_and(|(lo, _)| lo >= 0.0) && initial > 0.0;
        let (mut low, mut high) = (
            d.lower.map_or(f64::NEG_INFINITY, |b| b.0),
            d.upper.map_or(f64::INFINITY, |b| b.0),
        );
        if log {
            low = if low > 0.0 {
                low.ln()
            } else {
                f64::NEG_INFINITY
            };
            high = high.ln();
        }
        thetas.push(ThetaSlot {
            slot,
            column: col,
            param: i,
            log,
            low,
            high,
        });
    }
    if etas.is_empty() && thetas.is_empty() {
        return Err(Failure::Usage(format!(
            "model `{}` has no `vary` and no param is estimated: nothing to fit (add `vary` terms or --estimate PARAM)",
            m.name
        )));
    }
    // Ω: the between-subject block, then one block of the per-occasion effects per occasion.
    let n_iiv = fitted_effects.len();
    let all_effects: Vec<usize> = fitted_effects
        .iter()
        .chain(&occasion_effects)
        .copied()
        .collect();
    let block = |i: usize| {
        if i < n_iiv {
            0
        } else {
            1 + (i - n_iiv) / per_occasion.len().max(1)
        }
    };
    let prior = Prior::of_effects(m, &all_effects, block).map_err(Failure::Usage)?;
    let layout = Layout {
        etas,
        thetas,
        n_obs: layout_meta.base_observables,
        occasion: occasion_slot,
    };
    let run = DatasetRun::new(&setup, &setup.patient, &req.options, None);
    // Reported values (PRED, IPRED, the band) come from the model without sensitivities, solved
    // as `twin run --events` solves it, so that they are its values to the last bit.
    let plain_setup = super::run::setup(&Request {
        sensitivities: false,
        ..run_req.clone()
    })?;
    let plain = DatasetRun::new(&plain_setup, &plain_setup.patient, &req.options, None);
    let subjects = run.subjects(&req.data)?;
    // Measurements, and a residual error model for every observable that has one.
    let mut data = Vec::with_capacity(subjects.len());
    for s in &subjects {
        let mut rows = Vec::new();
        let mut obs = Vec::new();
        for (k, r) in s.rows.iter().enumerate() {
            let (Some(dv), Some(o), false, 0) = (r.dv, r.observable, r.mdv, r.evid) else {
                continue;
            };
            let e = m.observables[o].error;
            if e.additive == 0.0 && e.proportional == 0.0 {
                return Err(Failure::Usage(format!(
                    "data row {}: observable `{}` has no residual error model, so a measurement of it has no likelihood; declare one (`observe {} … ~ additive(…)` or `proportional(…)`)",
                    r.row, m.observables[o].name, m.observables[o].name
                )));
            }
            if !dv.is_finite() {
                return Err(Failure::Usage(format!(
                    "data row {}: DV `{dv}` is not a finite number",
                    r.row
                )));
            }
            rows.push(k);
            obs.push(Observation {
                dv,
                additive: e.additive,
                proportional: e.proportional,
            });
        }
        let mut occasions = vec![(f64::NEG_INFINITY, 1.0)];
        let mut seen: Vec<i64> = Vec::new();
        for r in &s.rows {
            let Some(o) = r.occ else { continue };
            if seen.contains(&o) {
                continue;
            }
            seen.push(o);
            if seen.len() > 1 {
                occasions.push((r.time, seen.len() as f64));
            }
        }
        data.push(Data {
            subject: s,
            occasions,
            rows,
            obs,
        });
    }
    let ctx = Context {
        run: &run,
        plain: &plain,
        layout: &layout,
        prior: &prior,
        req,
    };
    // Fixed effects first (jointly with every subject's η), then each subject at them.
    let mut theta_x: Vec<f64> = layout
        .thetas
        .iter()
        .map(|t| t.scale(setup.patient.inputs[t.slot]))
        .collect();
    let mut theta_se = vec![f64::NAN; layout.thetas.len()];
    if !layout.thetas.is_empty() {
        let (x, se, note) = ctx.joint(&data, &theta_x);
        theta_x = x;
        theta_se = se;
        if let Some(n) = note {
            warnings.push_str(&format!("warning: {n}\n"));
        }
    }
    let subjects_fit: Vec<SubjectFit> = data
        .par_iter()
        .enumerate()
        .map(|(index, d)| ctx.subject(index as u64, d, &theta_x))
        .collect();
    // Shrinkage over the subjects with a converged estimate and observations.
    let shrinkage = (0..prior.k)
        .map(|a| {
            let est: Vec<f64> = subjects_fit
                .iter()
                .filter(|s| s.observations > 0)
                .filter_map(|s| s.fit.as_ref().ok())
                .filter(|f| f.status == Status::Converged)
                .map(|f| f.eta[a])
                .collect();
            crate::fit::shrinkage(&est, prior.omega[a * prior.k + a].sqrt())
        })
        .collect();
    let units = &setup.c.units;
    let mut varied: Vec<usize> = fitted_effects.iter().map(|&k| m.effects[k].param).collect();
    varied.dedup();
    let params = varied
        .iter()
        .map(|&i| {
            (
                m.params[i].name.clone(),
                units.format_unit(m.params[i].unit),
            )
        })
        .collect();
    let mut subjects_fit = subjects_fit;
    for (s, d) in subjects_fit.iter_mut().zip(&data) {
        s.sets = input_sets(&setup.c, m, slots, &s.inputs);
        for (slot, &v) in slots.iter().zip(&s.inputs) {
            match *slot {
                InputSlot::Covariate(i) => {
                    let cv = &m.covariates[i];
                    let value = match cv.unit {
                        Some(_) => serde_json::json!(v),
                        None => serde_json::json!(cv.levels.get(v as usize)),
                    };
                    s.covariates.push((cv.name.clone(), value));
                }
                InputSlot::Genotype(i) => {
                    let g = &m.genotypes[i];
                    if let Some(name) = setup.c.program.genes[g.gene]
                        .diplotype_names
                        .get(v as usize)
                    {
                        s.genotypes.push((g.name.clone(), name.clone()));
                    }
                }
                _ => {}
            }
        }
        // An `SS=2` dose (steady state added to the state) has no `--dose` text: such a
        // subject's doses are not recorded, and a forecast of it says so.
        if d.subject
            .regimen
            .doses
            .iter()
            .any(|dose| dose.steady_state.is_some_and(|ss| ss.add))
        {
            s.doses_unavailable = true;
        } else {
            s.doses = d
                .subject
                .regimen
                .doses
                .iter()
                .map(|dose| dose_text(units, m, dose))
                .collect();
        }
        let values = std::mem::take(&mut s.params);
        s.params = varied
            .iter()
            .map(|&i| {
                values
                    .get(prepared.lowered.param_index[i])
                    .copied()
                    .unwrap_or(f64::NAN)
            })
            .collect();
    }
    let thetas_out = layout
        .thetas
        .iter()
        .zip(&theta_x)
        .zip(&theta_se)
        .map(|((t, &x), &se)| {
            let value = t.value(x);
            Theta {
                name: m.params[t.param].name.clone(),
                unit: units.format_unit(m.params[t.param].unit),
                initial: setup.patient.inputs[t.slot],
                value,
                se: if t.log { value * se } else { se },
            }
        })
        .collect();
    Ok(FitResult {
        model: m.name.clone(),
        etas: eta_names,
        omega: prior.omega.clone(),
        params,
        observables: setup.observables.clone(),
        thetas: thetas_out,
        subjects: subjects_fit,
        shrinkage,
        warnings,
        model_sha256: model_fingerprint(&setup.program, setup.model)?,
        request: req.clone(),
    })
}

/// What every subject's estimation shares.
struct Context<'a> {
    /// The model with sensitivities (what the estimation solves).
    run: &'a DatasetRun<'a>,
    /// The model itself (what is reported).
    plain: &'a DatasetRun<'a>,
    layout: &'a Layout,
    prior: &'a Prior,
    req: &'a FitRequest,
}

/// A subject solved at some η and θ: every row's observables (with sensitivities) and the
/// subject's params.
struct Solved {
    rows: Vec<Vec<f64>>,
    params: Vec<f64>,
    inputs: Vec<f64>,
}

impl Context<'_> {
    /// Solves subject `d` with η `eta` and θ (optimiser scale) `theta`, with sensitivities.
    fn solve(&self, d: &Data, eta: &[f64], theta: &[f64]) -> Result<Solved, String> {
        self.solve_with(self.run, d, eta, theta)
    }

    /// [`Context::solve`] without sensitivities: the values `twin run` gives.
    fn report(&self, d: &Data, eta: &[f64], theta: &[f64]) -> Result<Solved, String> {
        self.solve_with(self.plain, d, eta, theta)
    }

    fn solve_with(
        &self,
        run: &DatasetRun,
        d: &Data,
        eta: &[f64],
        theta: &[f64],
    ) -> Result<Solved, String> {
        let mut changes: Vec<(f64, usize, f64)> = Vec::new();
        for (&(slot, _), &v) in self.layout.etas.iter().zip(eta) {
            changes.push((f64::NEG_INFINITY, slot, v));
        }
        for (t, &x) in self.layout.thetas.iter().zip(theta) {
            changes.push((f64::NEG_INFINITY, t.slot, t.value(x)));
        }
        if let Some(slot) = self.layout.occasion {
            changes.extend(d.occasions.iter().map(|&(t, o)| (t, slot, o)));
        }
        match run.solve_subject(d.subject, &changes) {
            Ok(s) => Ok(Solved {
                rows: s
                    .records
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.observables)
                    .collect(),
                params: s.patient.params,
                inputs: s.patient.inputs,
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Predictions at the measurements and their gradients with respect to (η, θ) in the
    /// optimiser's scale (θ columns after the η columns when `with_theta`).
    fn predicted(&self, d: &Data, s: &Solved, theta: &[f64], with_theta: bool) -> Predicted {
        let n_obs = self.layout.n_obs;
        let mut f = Vec::with_capacity(d.rows.len());
        let mut df = Vec::with_capacity(d.rows.len());
        for &k in &d.rows {
            let row = &s.rows[k];
            let Some(o) = d.subject.rows[k].observable else {
                continue;
            };
            f.push(row[o]);
            let mut g: Vec<f64> = self
                .layout
                .etas
                .iter()
                .map(|&(_, col)| row[n_obs * (1 + col) + o])
                .collect();
            if with_theta {
                for (t, &x) in self.layout.thetas.iter().zip(theta) {
                    let d = row[n_obs * (1 + t.column) + o];
                    g.push(if t.log { d * t.value(x) } else { d });
                }
            }
            df.push(g);
        }
        Predicted { f, df }
    }

    /// The first starting point and `starts − 1` more drawn from the prior (seeded per
    /// subject and start).
    fn starts(&self, index: u64, first: &[f64], n: usize) -> Vec<Vec<f64>> {
        let k = self.prior.k;
        let mut out = vec![first.to_vec()];
        let Some(l) = crate::linalg::cholesky(&self.prior.omega, k) else {
            return out;
        };
        for s in 1..n.max(1) {
            let mut stream =
                Stream::substream(self.req.seed, index, Purpose::Other(1), s.min(65535) as u16);
            let z: Vec<f64> = (0..k).map(|_| stream.normal()).collect();
            out.push(crate::linalg::lower_mul(&l, &z));
        }
        out
    }

    /// One subject at fixed θ: MAP, predictions, band.
    fn subject(&self, index: u64, d: &Data, theta: &[f64]) -> SubjectFit {
        let id = d.subject.id.clone();
        let k = self.prior.k;
        let fail = |why: String| SubjectFit {
            id: id.clone(),
            fit: Err(why),
            note: None,
            observations: d.obs.len(),
            params: Vec::new(),
            inputs: Vec::new(),
            sets: Vec::new(),
            covariates: Vec::new(),
            genotypes: Vec::new(),
            doses: Vec::new(),
            doses_unavailable: false,
            predictions: Vec::new(),
        };
        let predict = |eta: &[f64]| -> Option<Predicted> {
            let s = self.solve(d, eta, theta).ok()?;
            Some(self.predicted(d, &s, theta, false))
        };
        // The start must be evaluable; say why when it is not.
        let zero = vec![0.0; k];
        let at_zero = match self.solve(d, &zero, theta) {
            Ok(s) => s,
            Err(e) => return fail(format!("cannot be simulated with η = 0: {e}")),
        };
        let p0 = self.predicted(d, &at_zero, theta, false);
        for (i, (o, &f)) in d.obs.iter().zip(&p0.f).enumerate() {
            if o.variance(f) <= 0.0 || !f.is_finite() {
                let row = d.subject.rows[d.rows[i]].row;
                return fail(format!(
                    "data row {row}: the prediction there is {f} and the error model is proportional only, so the measurement has zero variance; add an additive term or leave the row out (MDV = 1)"
                ));
            }
        }
        let (individual, note) = if d.obs.is_empty() || k == 0 {
            let note = if d.obs.is_empty() {
                Some("no observations: the estimate is the prior mode (η = 0)".to_string())
            } else {
                None
            };
            (
                Individual {
                    eta: zero.clone(),
                    objective: crate::fit::evaluate(self.prior, &d.obs, &zero, &predict)
                        .map_or(f64::NAN, |e| e.value),
                    status: Status::Converged,
                    iterations: 0,
                    evaluations: 1,
                    starts: 1,
                    optima: 1,
                    covariance: Some(self.prior.omega.clone()).filter(|_| d.obs.is_empty()),
                },
                note,
            )
        } else {
            let starts = self.starts(index, &zero, self.req.starts);
            let individual = crate::fit::map_estimate(
                self.prior,
                &d.obs,
                &starts,
                &Settings::default(),
                &predict,
            );
            (individual, None)
        };
        let Ok(at_map) = self.report(d, &individual.eta, theta) else {
            return fail("cannot be simulated at its estimate".into());
        };
        let Ok(at_zero) = self.report(d, &zero, theta) else {
            return fail("cannot be simulated with η = 0".into());
        };
        // Band: IPRED over draws of η ~ N(η̂, Σ).
        let n_rows = d.subject.rows.len();
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); n_rows];
        if let (Some(cov), true) = (&individual.covariance, self.req.draws > 0 && k > 0)
            && let Some(l) = crate::linalg::cholesky(cov, k)
        {
            // The same standard normal draws for every subject and for `twin run --twin`'s band,
            // so that a forecast's band at the data's times is the fit's.
            let draws =
                crate::fit::posterior_draws(self.req.seed, &individual.eta, &l, self.req.draws);
            for eta in draws {
                if let Ok(s) = self.report(d, &eta, theta) {
                    for (r, row) in d.subject.rows.iter().enumerate() {
                        if let Some(o) = row.observable {
                            samples[r].push(s.rows[r][o]);
                        }
                    }
                }
            }
        }
        let mut predictions = Vec::new();
        for (r, row) in d.subject.rows.iter().enumerate() {
            let (Some(o), 0) = (row.observable, row.evid) else {
                continue;
            };
            let ipred = at_map.rows[r][o];
            let pred = at_zero.rows[r][o];
            let dv = row.dv.filter(|_| !row.mdv);
            let iwres = match (dv, d.rows.iter().position(|&k| k == r)) {
                (Some(y), Some(i)) => (y - ipred) / d.obs[i].variance(ipred).sqrt(),
                _ => f64::NAN,
            };
            let band = crate::trial::stats::central_95(&mut samples[r]);
            predictions.push(PredictionRow {
                time: row.time,
                observable: o,
                dv,
                pred,
                ipred,
                iwres,
                band,
            });
        }
        SubjectFit {
            id,
            fit: Ok(individual),
            note,
            observations: d.obs.len(),
            params: at_map.params,
            inputs: at_map.inputs,
            sets: Vec::new(),
            covariates: Vec::new(),
            genotypes: Vec::new(),
            doses: Vec::new(),
            doses_unavailable: false,
            predictions,
        }
    }

    /// θ jointly with every subject's η: the joint posterior mode. Returns θ (optimiser scale),
    /// their standard errors (same scale) and a note when the search did not converge or a
    /// subject was left out.
    fn joint(&self, data: &[Data], theta0: &[f64]) -> (Vec<f64>, Vec<f64>, Option<String>) {
        let p = theta0.len();
        let k = self.prior.k;
        // Subjects that can be simulated at the start take part.
        let usable: Vec<&Data> = data
            .iter()
            .filter(|d| !d.obs.is_empty() && self.solve(d, &vec![0.0; k], theta0).is_ok())
            .collect();
        let left_out = data.iter().filter(|d| !d.obs.is_empty()).count() - usable.len();
        let n = p + k * usable.len();
        let eval = |x: &[f64]| -> Option<Evaluation> {
            let theta = &x[..p];
            let parts: Vec<Option<Evaluation>> = usable
                .par_iter()
                .enumerate()
                .map(|(i, d)| {
                    let eta = &x[p + i * k..p + (i + 1) * k];
                    let s = self.solve(d, eta, theta).ok()?;
                    let pr = self.predicted(d, &s, theta, true);
                    let mut e = objective::zero(k + p);
                    objective::add_residuals(&mut e, &d.obs, &pr.f, &pr.df);
                    objective::add_prior(&mut e, eta, 0, &self.prior.omega_inv, k);
                    Some(e)
                })
                .collect();
            let mut total = objective::zero(n);
            for (i, part) in parts.into_iter().enumerate() {
                let e = part?;
                total.value += e.value;
                // Local order: η (k) then θ (p); global: θ (p) then η blocks.
                let map = |a: usize| if a < k { p + i * k + a } else { a - k };
                for a in 0..k + p {
                    total.gradient[map(a)] += e.gradient[a];
                    for b in 0..k + p {
                        total.hessian[map(a) * n + map(b)] += e.hessian[a * (k + p) + b];
                    }
                }
            }
            total.value.is_finite().then_some(total)
        };
        let mut x0 = theta0.to_vec();
        x0.resize(n, 0.0);
        let bounds: Vec<(f64, f64)> = self.layout.thetas.iter().map(|t| (t.low, t.high)).collect();
        let out = lm::minimise(
            &x0,
            &Settings {
                max_iterations: 1000,
                ..Settings::default()
            },
            eval,
            |x| {
                for (v, &(lo, hi)) in x.iter_mut().zip(&bounds) {
                    *v = v.clamp(lo, hi);
                }
            },
        );
        let mut note = match &out.status {
            Status::Converged => None,
            Status::Failed(why) => Some(format!("the fixed effects did not converge: {why}")),
        };
        if left_out > 0 {
            let n = format!(
                "{left_out} subject(s) cannot be simulated at the model's values and were left out of the fixed-effect estimation"
            );
            note = Some(match note {
                Some(a) => format!("{a}; {n}"),
                None => n,
            });
        }
        for (t, &x) in self.layout.thetas.iter().zip(&out.x) {
            if x <= t.low || x >= t.high {
                let n = "a fixed effect is at a bound of its param's domain".to_string();
                note = Some(match note {
                    Some(a) => format!("{a}; {n}"),
                    None => n,
                });
                break;
            }
        }
        let se = match lm::inverse_spd(&out.at.hessian, n) {
            // Covariance (½ H)⁻¹ = 2 H⁻¹.
            Some(inv) => (0..p).map(|a| (2.0 * inv[a * n + a]).sqrt()).collect(),
            None => vec![f64::NAN; p],
        };
        (out.x[..p].to_vec(), se, note)
    }
}

/// The SHA-256 of the model's IR, lowered alone (no trial, no sensitivities), with its random
/// effects (Ω) and residual error models: what the model computes and what a fit depends on,
/// whatever else its file holds. A fit is used (`--twin`) only with a model of the same
/// fingerprint.
pub fn model_fingerprint(program: &hir::Program, model: usize) -> Result<String, Failure> {
    let lowered = crate::lower::lower(program, &program.models[model], &[], Default::default())
        .map_err(|errors| {
            Failure::Prepare(crate::driver::PrepareError::Lower {
                model: program.models[model].name.clone(),
                errors,
            })
        })?;
    let m = &program.models[model];
    let mut text = crate::ir::print::module_to_string(&lowered.module);
    for e in &m.effects {
        text.push_str(&format!(
            "effect {} {:?} {:?} {}\n",
            m.params[e.param].name, e.kind, e.variance, e.per_occasion
        ));
    }
    for (a, b, rho) in &m.effect_correlations {
        text.push_str(&format!("correlation {a} {b} {rho:?}\n"));
    }
    for o in &m.observables {
        text.push_str(&format!(
            "error {} {:?} {:?}\n",
            o.name, o.error.additive, o.error.proportional
        ));
    }
    Ok(crate::trial::output::sha256_hex(text.as_bytes()))
}

// ------------------------------------------------------------------------------------------------
// Output

impl FitResult {
    /// `individuals.csv`: one line per subject.
    pub fn individuals_csv(&self) -> String {
        use crate::csv_text::{csv_cell, fmt_num};
        let mut h: Vec<String> = vec!["ID".into()];
        h.extend(self.etas.iter().cloned());
        h.extend(self.params.iter().map(|(n, u)| {
            if u.is_empty() || u == "1" {
                n.clone()
            } else {
                format!("{n} [{u}]")
            }
        }));
        h.extend(
            [
                "objective",
                "status",
                "iterations",
                "evaluations",
                "starts",
                "optima",
                "note",
            ]
            .map(String::from),
        );
        let mut out = h.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",") + "\n";
        for s in &self.subjects {
            let mut cells = vec![csv_cell(&s.id)];
            match &s.fit {
                Ok(f) => {
                    cells.extend(f.eta.iter().map(|&v| fmt_num(v)));
                    cells.extend(s.params.iter().map(|&v| fmt_num(v)));
                    cells.push(fmt_num(f.objective));
                    cells.push(csv_cell(&status_text(&f.status)));
                    cells.extend(
                        [f.iterations, f.evaluations, f.starts, f.optima].map(|n| n.to_string()),
                    );
                }
                Err(why) => {
                    cells.extend(std::iter::repeat_n(
                        String::new(),
                        self.etas.len() + self.params.len() + 1,
                    ));
                    cells.push(csv_cell(&format!("failed: {why}")));
                    cells.extend(std::iter::repeat_n(String::new(), 4));
                }
            }
            cells.push(csv_cell(s.note.as_deref().unwrap_or("")));
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// `predictions.csv`: one line per observation row of every fitted subject.
    pub fn predictions_csv(&self) -> String {
        use crate::csv_text::{csv_cell, fmt_num};
        let mut out = String::from(
            "ID,TIME [h],observable,unit,DV,PRED,IPRED,IWRES,IPRED_2.5%,IPRED_97.5%\n",
        );
        let num = |v: f64| {
            if v.is_finite() {
                fmt_num(v)
            } else {
                String::new()
            }
        };
        for s in &self.subjects {
            for p in &s.predictions {
                let (name, unit) = &self.observables[p.observable];
                let cells = [
                    csv_cell(&s.id),
                    fmt_num(p.time),
                    csv_cell(name),
                    csv_cell(unit),
                    p.dv.map(fmt_num).unwrap_or_default(),
                    num(p.pred),
                    num(p.ipred),
                    num(p.iwres),
                    num(p.band.0),
                    num(p.band.1),
                ];
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
        out
    }

    /// `fit.json`: settings, model hash, Ω, θ, shrinkage and every subject's estimate with its
    /// Laplace covariance.
    pub fn json(&self) -> String {
        use serde_json::json;
        let opt = |v: f64| if v.is_finite() { json!(v) } else { json!(null) };
        let k = self.etas.len();
        let subjects: Vec<_> = self
            .subjects
            .iter()
            .map(|s| match &s.fit {
                Ok(f) => json!({
                    "id": s.id,
                    "eta": f.eta.iter().map(|&v| opt(v)).collect::<Vec<_>>(),
                    "covariance": f.covariance.as_ref().map(|c| (0..k).map(|i| c[i * k..(i + 1) * k].iter().map(|&v| opt(v)).collect::<Vec<_>>()).collect::<Vec<_>>()),
                    "objective": opt(f.objective),
                    "status": status_text(&f.status),
                    "iterations": f.iterations,
                    "evaluations": f.evaluations,
                    "note": s.note,
                    "sets": s.sets,
                    "covariates": s.covariates.iter().cloned().collect::<serde_json::Map<_, _>>(),
                    "genotypes": s.genotypes.iter().map(|(n, d)| (n.clone(), json!(d))).collect::<serde_json::Map<_, _>>(),
                    "doses": s.doses,
                    "doses_unavailable": s.doses_unavailable,
                }),
                Err(why) => json!({"id": s.id, "status": format!("failed: {why}")}),
            })
            .collect();
        let o = &self.request.options;
        let v = json!({
            "model": self.model,
            "model_sha256": self.model_sha256,
            "data_sha256": crate::trial::output::sha256_hex(self.request.data.as_bytes()),
            "objective": "sum over observations of (DV - IPRED)^2/var + ln(var), var = additive^2 + (proportional*IPRED)^2, plus eta' Omega^-1 eta (no 2*pi or ln det Omega constants)",
            "settings": {
                "seed": self.request.seed,
                "starts": self.request.starts.max(1),
                "draws": self.request.draws,
                "estimate": self.request.estimate,
                "sets": self.request.sets,
                "method": format!("{:?}", o.method),
                "rtol": o.rtol,
                "atol": o.atol,
            },
            "etas": self.etas,
            "omega": (0..k).map(|i| self.omega[i * k..(i + 1) * k].to_vec()).collect::<Vec<_>>(),
            "shrinkage": self.etas.iter().zip(&self.shrinkage).map(|(n, &s)| (n.clone(), opt(s))).collect::<serde_json::Map<_, _>>(),
            "thetas": self.thetas.iter().map(|t| json!({"name": t.name, "unit": t.unit, "initial": t.initial, "estimate": t.value, "se": opt(t.se)})).collect::<Vec<_>>(),
            "total_objective": opt(self.subjects.iter().filter_map(|s| s.fit.as_ref().ok()).map(|f| f.objective).sum()),
            "subjects": subjects,
        });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    /// The summary printed on stdout.
    pub fn summary(&self) -> String {
        use crate::csv_text::fmt_sig;
        let n = self.subjects.len();
        let ok = self
            .subjects
            .iter()
            .filter(|s| s.fit.as_ref().is_ok_and(|f| f.status == Status::Converged))
            .count();
        let mut out = format!("model {}: {n} subject(s), {ok} converged\n", self.model);
        for t in &self.thetas {
            out.push_str(&format!(
                "  {} = {} {} (SE {}; model value {})\n",
                t.name,
                fmt_sig(t.value, 6),
                t.unit,
                fmt_sig(t.se, 3),
                fmt_sig(t.initial, 6)
            ));
        }
        for (e, s) in self.etas.iter().zip(&self.shrinkage) {
            if s.is_finite() {
                out.push_str(&format!("  shrinkage {e}: {:.1} %\n", 100.0 * s));
            } else {
                out.push_str(&format!("  shrinkage {e}: n/a (needs two or more converged subjects with observations)\n"));
            }
        }
        for s in &self.subjects {
            match &s.fit {
                Ok(f) if f.status == Status::Converged => {}
                Ok(f) => out.push_str(&format!("  subject {}: {}\n", s.id, status_text(&f.status))),
                Err(why) => out.push_str(&format!("  subject {}: failed: {why}\n", s.id)),
            }
        }
        out
    }

    /// Writes `individuals.csv`, `predictions.csv` and `fit.json` into `dir`, replacing what
    /// was there as one step (the directory holds one complete fit, old or new).
    pub fn write(&self, dir: &std::path::Path) -> Result<(), crate::files::OutputError> {
        let staging = crate::files::OutputDir::begin(dir)?;
        let io =
            |path: std::path::PathBuf| move |source| crate::files::OutputError::Io { path, source };
        for (name, text) in [
            ("individuals.csv", self.individuals_csv()),
            ("predictions.csv", self.predictions_csv()),
            ("fit.json", self.json()),
        ] {
            let p = staging.path().join(name);
            crate::files::write_synced(&p, text.as_bytes()).map_err(io(p.clone()))?;
        }
        staging.commit()
    }
}

/// The covariates and genotypes of `inputs` as `--set` text, values written exactly.
fn input_sets(
    c: &crate::driver::Compilation,
    m: &hir::Model,
    slots: &[InputSlot],
    inputs: &[f64],
) -> Vec<String> {
    let mut out = Vec::new();
    for (s, &v) in slots.iter().zip(inputs) {
        match *s {
            InputSlot::Covariate(i) => {
                let cv = &m.covariates[i];
                match cv.unit {
                    Some(u) => {
                        let unit = c.units.format_unit(u);
                        out.push(if unit.is_empty() || unit == "1" {
                            format!("{}={v:?}", cv.name)
                        } else {
                            format!("{}={v:?} {unit}", cv.name)
                        });
                    }
                    None => {
                        if let Some(level) = cv.levels.get(v as usize) {
                            out.push(format!("{}={level}", cv.name));
                        }
                    }
                }
            }
            InputSlot::Genotype(i) => {
                let g = &m.genotypes[i];
                if let Some(name) = c.program.genes[g.gene].diplotype_names.get(v as usize) {
                    out.push(format!("{}={name}", g.name));
                }
            }
            _ => {}
        }
    }
    out
}

/// A dose of a dataset as `--dose` text, amounts and times written exactly.
fn dose_text(units: &crate::units::UnitTable, m: &hir::Model, d: &crate::solve::Dose) -> String {
    use crate::solve::{DoseKind, Repeat};
    let state = &m.states[d.target as usize];
    let unit = units.format_unit(state.unit);
    let mut s = format!(
        "{:?} {unit} into {} at {:?} h",
        d.amount, state.name, d.time
    );
    match d.kind {
        DoseKind::Bolus => {}
        DoseKind::Rate(r) => s.push_str(&format!(" rate {r:?} {unit}/h")),
        DoseKind::Duration(t) => s.push_str(&format!(" over {t:?} h")),
    }
    match d.repeat {
        Repeat::Once => {}
        Repeat::Additional { interval, count } => {
            s.push_str(&format!(" every {interval:?} h times {}", count + 1));
        }
        Repeat::Until { interval, until } => {
            s.push_str(&format!(
                " every {interval:?} h for {:?} h",
                until - d.time + interval
            ));
        }
    }
    if d.steady_state.is_some() {
        s.push_str(" at steady state");
    }
    if d.lag != 0.0 {
        s.push_str(&format!(" lag {:?} h", d.lag));
    }
    s
}

/// The `twin run` request of a fitted twin's forecast: subject `id` of the fit in `dir`
/// (its covariates, genotypes, MAP random effects and the estimated params as `--set`, its
/// doses from the data before `base`'s own), with the posterior band of [`super::run::Band`].
pub fn forecast_request(
    dir: &std::path::Path,
    id: &str,
    base: &Request,
) -> Result<Request, Failure> {
    if let Some(b) = &base.band
        && b.draws > MAX_DRAWS
    {
        return Err(Failure::Usage(format!(
            "--draws {}: at most {MAX_DRAWS} posterior draws",
            b.draws
        )));
    }
    use crate::fit::file;
    let path = dir.join("fit.json");
    let bad = |what: &str| Failure::Usage(format!("--twin: {} {what}", path.display()));
    let v = file::read(dir).map_err(|e| Failure::Usage(format!("--twin: {e}")))?;
    let model_name = v.get("model").and_then(|h| h.as_str()).unwrap_or_default();
    let c = crate::driver::compile(&base.name, &base.text);
    if c.has_errors() {
        let diags = c.diagnostics.clone();
        return Err(Failure::Diagnostics(Box::new(c), diags));
    }
    let Some(m) = c.program.models.iter().position(|m| m.name == model_name) else {
        return Err(bad(&format!(
            "is a fit of model `{model_name}`, which {} does not have",
            base.name
        )));
    };
    if v.get("model_sha256").and_then(|h| h.as_str()) != Some(&model_fingerprint(&c.program, m)?) {
        return Err(bad(&format!(
            "was fitted with another version of model `{model_name}` (its model_sha256 differs); fit again"
        )));
    }
    let subjects = v
        .get("subjects")
        .and_then(|s| s.as_array())
        .ok_or_else(|| bad("has no subjects"))?;
    let Some(s) = subjects
        .iter()
        .find(|s| s.get("id").and_then(|i| i.as_str()) == Some(id))
    else {
        let ids: Vec<&str> = subjects
            .iter()
            .filter_map(|s| s.get("id")?.as_str())
            .collect();
        return Err(Failure::Usage(format!(
            "--id {id}: no subject `{id}` in {} (subjects: {})",
            path.display(),
            ids.join(", ")
        )));
    };
    let Some(eta) = file::numbers(s.get("eta")) else {
        return Err(Failure::Usage(format!(
            "--id {id}: the subject was not fitted ({})",
            s.get("status")
                .and_then(|x| x.as_str())
                .unwrap_or("no estimate")
        )));
    };
    let all_names = file::strings(&v, "etas");
    let total = all_names.len();
    // Per-occasion estimates describe the data's occasions; a forecast is a new occasion (η = 0).
    let names: Vec<String> = all_names
        .iter()
        .filter(|n| !file::per_occasion(n))
        .cloned()
        .collect();
    let k = names.len();
    let eta: Vec<f64> = eta.into_iter().take(k).collect();
    let covariance = file::matrix(s.get("covariance"));
    let mut req = base.clone();
    req.model = Some(model_name.to_string());
    let mut sets = file::strings(s, "sets");
    let mut effects = Vec::new();
    for (name, value) in names.iter().zip(&eta) {
        let param = name.trim_start_matches("eta(").trim_end_matches(')');
        sets.push(format!("eta_{param}={value:?}"));
        effects.push(param.to_string());
    }
    for t in v
        .get("thetas")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        let (Some(n), Some(u), Some(x)) = (
            t.get("name").and_then(|x| x.as_str()),
            t.get("unit").and_then(|x| x.as_str()),
            t.get("estimate").and_then(serde_json::Value::as_f64),
        ) else {
            continue;
        };
        sets.push(if u.is_empty() || u == "1" {
            format!("{n}={x:?}")
        } else {
            format!("{n}={x:?} {u}")
        });
    }
    sets.extend(base.sets.iter().cloned());
    req.sets = sets;
    if s.get("doses_unavailable")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
    {
        return Err(Failure::Usage(format!(
            "--id {id}: the subject's data has an SS=2 dose (a steady state added to the state), which a forecast cannot replay; give its regimen with --dose and a dataset run (--events) for its history"
        )));
    }
    let mut doses = file::strings(s, "doses");
    doses.extend(base.doses.iter().cloned());
    req.doses = doses;
    if req.doses.is_empty() {
        return Err(Failure::Usage(format!(
            "--id {id}: the subject has no doses in the data; give the forecast's regimen with --dose"
        )));
    }
    if let Some(b) = &mut req.band {
        b.mean = eta;
        b.covariance = if covariance.len() == total * total {
            file::leading_block(&covariance, total, k)
        } else {
            vec![0.0; k * k]
        };
        b.effects = effects;
    }
    Ok(req)
}

fn status_text(s: &Status) -> String {
    match s {
        Status::Converged => "converged".into(),
        Status::Failed(why) => format!("not converged: {why}"),
    }
}
