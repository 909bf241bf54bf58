//! Virtual patients: one patient at a time, by index, from a trial's `population` block.
//!
//! [`generate`] (or [`Sampler::sample`], which keeps the per-trial set-up) makes patient `index`
//! from nothing but the program, the trial, the input layout and the seed, so runners can shard
//! and parallelise freely. For each patient:
//!
//! 1. **Ancestry** from the population's mixture (one uniform of the `Ancestry` stream).
//! 2. **Random effects** η ~ N(0, Ω), Ω from the `vary` variances ω² and the `correlate`d
//!    correlations (Ωᵢⱼ = ρᵢⱼ ωᵢ ωⱼ): η = L z with L the Cholesky factor of Ω and z independent
//!    standard normals, one per effect from its own sub-stream of `Etas`. Effects with ω² = 0 stay
//!    0. Lognormal, normal and logit effects all use η the same way; the model applies it.
//! 3. **Genotypes**, each from the diplotype frequencies of its gene for the patient's ancestry
//!    (inverse CDF of one uniform from the genotype's sub-stream of `Genotypes`).
//! 4. **Covariates** by the population's generators in order, starting from the model defaults
//!    (covariates that are not generated keep their default). Each drawn covariate uses the first
//!    uniform u of its own sub-stream of `Covariates`:
//!    - normal: x = mean + sd·z, z = Φ⁻¹(u);
//!    - lognormal: x = median·exp(σz), σ² = ln(1 + cv²) (so that the CV of x is `cv`);
//!    - truncation by inversion, not rejection: with standardised bounds a, b,
//!      x = Φ⁻¹(Φ(a) + Φ(z)·(Φ(b) − Φ(a))) (computed on the lower-tail side for precision); for a
//!      lognormal the bounds are taken on the log scale;
//!    - uniform: x = low + (high − low)·u; categorical: inverse CDF of u over the levels;
//!    - `set`: the expression, evaluated with the values so far.
//!
//!    Correlated covariates share a Gaussian copula: their z's are L·(Φ⁻¹(u₁), …) with L the
//!    Cholesky factor of their correlation matrix, so ρ is the correlation on the normal scale
//!    (of the log values for lognormals). Means, SDs, medians, CVs and bounds of uniforms may be
//!    expressions of earlier covariates, genotypes and parameters, computed by the trial's
//!    compiled [`Evaluator`] from the values drawn so far.
//! 5. **Arm**, for `randomize`d trials only: permuted blocks of one patient per arm (block
//!    `index / arms` is shuffled by Fisher–Yates from the `Randomization` stream of the block), so
//!    arm sizes differ by at most one; otherwise `None` (every patient gets every arm).
//!
//! A trial without a population has one typical patient: defaults and η = 0.

use std::fmt;

use std::sync::Arc;

use super::evaluator::{Backend, Evaluator};
use super::rng::{Purpose, Stream};
use super::stats;
use crate::check::hir::{self, Distribution, Generator};
use crate::linalg::lower_mul;
use crate::lower::InputSlot;
use crate::lower::patient::{ParamLayout, PatientExprs};
use crate::source::Span;

/// One virtual patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    /// The patient's index in the population (0-based).
    pub id: u64,
    /// Index into the population's ancestry mixture (0 if it has none).
    pub ancestry: usize,
    /// Per-patient inputs in [`InputSlot`] order: covariates in their declared unit (categorical:
    /// level index), genotypes as diplotype indices, then η of each random effect.
    pub inputs: Vec<f64>,
    /// The arm of a randomized trial; `None` when every arm is given to every patient.
    pub arm: Option<usize>,
}

impl Patient {
    /// The input value of `slot` (e.g. `InputSlot::Covariate(2)`), if the layout has it.
    pub fn value(&self, slots: &[InputSlot], slot: &InputSlot) -> Option<f64> {
        let i = slots.iter().position(|s| s == slot)?;
        self.inputs.get(i).copied()
    }
}

/// Why a patient could not be generated: a message and, where it comes from a declaration, its
/// span.
#[derive(Debug, Clone, PartialEq)]
pub struct PopError {
    /// What went wrong.
    pub message: String,
    /// Where, if known.
    pub span: Option<Span>,
}

impl PopError {
    pub(crate) fn new(message: impl Into<String>) -> PopError {
        PopError {
            message: message.into(),
            span: None,
        }
    }

    pub(crate) fn at(message: impl Into<String>, span: Span) -> PopError {
        PopError {
            message: message.into(),
            span: Some(span),
        }
    }

    /// Prefixes the message with what was being computed.
    fn context(self, what: &str) -> PopError {
        PopError {
            message: format!("{what}: {}", self.message),
            span: self.span,
        }
    }
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PopError {}

/// A non-negative whole number as an index.
fn index_of(v: f64) -> Option<usize> {
    (v >= 0.0 && v.fract() == 0.0 && v < usize::MAX as f64).then_some(v as usize)
}

// ------------------------------------------------------------------------------------------------
// Distributions

/// A standard normal truncated to [lo, hi] (standardised bounds, possibly infinite), by inversion
/// of the untruncated draw z: Φ⁻¹(Φ(lo) + Φ(z)·(Φ(hi) − Φ(lo))). Bounds above the median are
/// reflected so that every Φ is evaluated in the lower tail, where it is relatively accurate.
/// `None` if the interval has (numerically) no probability.
fn truncated_standard(z: f64, lo: f64, hi: f64) -> Option<f64> {
    if lo > 0.0 {
        return truncated_standard(-z, -hi, -lo).map(|x| -x);
    }
    let (plo, phi) = (stats::normal_cdf(lo), stats::normal_cdf(hi));
    let mass = phi - plo;
    if mass.is_nan() || mass <= 0.0 {
        return None;
    }
    let p = plo + stats::normal_cdf(z) * mass;
    let x = stats::normal_quantile(p);
    Some(x.max(lo).min(hi))
}

/// A standardised value of a possibly truncated normal: `z` itself when there are no bounds.
fn standard_draw(z: f64, lo: f64, hi: f64) -> Option<f64> {
    if lo == f64::NEG_INFINITY && hi == f64::INFINITY {
        Some(z)
    } else {
        truncated_standard(z, lo, hi)
    }
}

fn num(v: f64) -> String {
    format!("{v}")
}

/// The random number behind one covariate draw: its own uniform, or a standard normal from the
/// Gaussian copula.
#[derive(Debug, Clone, Copy)]
enum Std {
    /// A uniform in (0, 1).
    U(f64),
    /// A standard normal.
    Z(f64),
}

impl Std {
    fn z(self) -> f64 {
        match self {
            Std::U(u) => stats::normal_quantile(u),
            Std::Z(z) => z,
        }
    }

    fn u(self) -> f64 {
        match self {
            Std::U(u) => u,
            Std::Z(z) => stats::normal_cdf(z),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The sampler

/// A trial's population, set up once (frequency tables, Cholesky factors) for many patients.
#[derive(Debug, Clone)]
pub struct Sampler<'a> {
    trial: &'a hir::Trial,
    model: &'a hir::Model,
    slots: &'a [InputSlot],
    size: u64,
    /// Cumulative ancestry fractions (normalised; empty = no mixture).
    ancestry_cdf: Vec<f64>,
    /// `[genotype variable][ancestry]` cumulative diplotype frequencies (normalised).
    genotype_cdf: Vec<Vec<Vec<f64>>>,
    /// Covariates in the Gaussian copula, ascending.
    copula: Vec<usize>,
    /// Cholesky factor of their correlation matrix.
    copula_chol: Vec<f64>,
    /// The between-patient random effects.
    etas: EtaDraws,
    /// Per-occasion effects.
    occasions: EtaDraws,
    /// The compiled generator arguments (shared with the trial's other users).
    evaluator: Arc<Evaluator>,
}

/// A model's random effects of one kind, set up for drawing: the between-patient effects
/// ([`EtaDraws::patients`]) or the per-occasion ones ([`EtaDraws::occasions`]). η = L z with L
/// the Cholesky factor of the kind's Ω and z one standard normal per effect from its own stream:
/// (seed, patient, effect) between patients, (seed, patient, occasion, effect) per occasion. A
/// draw depends on nothing else (not on threads, shards, other occasions or other effects).
#[derive(Debug, Clone, Default)]
pub struct EtaDraws {
    /// Effects of this kind with ω² > 0.
    effects: Vec<usize>,
    /// Cholesky factor of their Ω.
    chol: Vec<f64>,
    per_occasion: bool,
}

impl EtaDraws {
    /// The between-patient effects of `model`.
    pub fn patients(model: &hir::Model) -> Result<EtaDraws, PopError> {
        let (effects, chol) = omega_block(model, false)?;
        sub(effects.last().copied().unwrap_or(0), "random effects")?;
        Ok(EtaDraws {
            effects,
            chol,
            per_occasion: false,
        })
    }

    /// The per-occasion effects of `model` (at most the first 256 random effects may be).
    pub fn occasions(model: &hir::Model) -> Result<EtaDraws, PopError> {
        let (effects, chol) = omega_block(model, true)?;
        if effects.last().is_some_and(|&k| k > usize::from(u8::MAX)) {
            return Err(PopError::at(
                "a per-occasion random effect must be among the model's first 256 random effects",
                model.span,
            ));
        }
        Ok(EtaDraws {
            effects,
            chol,
            per_occasion: true,
        })
    }

    /// Whether there is any effect with ω² > 0.
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
    }

    /// The η of patient `index` (on occasion `occasion`, 0-based, for per-occasion effects; the
    /// occasion is ignored between patients), as (effect index, η).
    pub fn draws(&self, seed: u64, index: u64, occasion: u16) -> Vec<(usize, f64)> {
        let z: Vec<f64> = self
            .effects
            .iter()
            .map(|&k| {
                let mut s = if self.per_occasion {
                    Stream::substream(seed, index, Purpose::OccasionEtas(k as u8), occasion)
                } else {
                    Stream::substream(seed, index, Purpose::Etas, k as u16)
                };
                s.normal()
            })
            .collect();
        let eta = lower_mul(&self.chol, &z);
        self.effects.iter().copied().zip(eta).collect()
    }
}

/// The effects with ω² > 0 that are (`per_occasion`) or are not per occasion, and the Cholesky
/// factor of their Ω (Ωᵢⱼ = ρᵢⱼ ωᵢ ωⱼ with the declared correlations).
fn omega_block(model: &hir::Model, per_occasion: bool) -> Result<(Vec<usize>, Vec<f64>), PopError> {
    let active: Vec<usize> = (0..model.effects.len())
        .filter(|&k| {
            model.effects[k].variance > 0.0 && model.effects[k].per_occasion == per_occasion
        })
        .collect();
    let n = active.len();
    let mut omega = vec![0.0; n * n];
    for (i, &k) in active.iter().enumerate() {
        omega[i * n + i] = model.effects[k].variance;
    }
    for &(a, b, rho) in &model.effect_correlations {
        let (Some(i), Some(j)) = (
            active.iter().position(|&k| k == a),
            active.iter().position(|&k| k == b),
        ) else {
            continue;
        };
        let cov = rho * (omega[i * n + i] * omega[j * n + j]).sqrt();
        omega[i * n + j] = cov;
        omega[j * n + i] = cov;
    }
    let chol = crate::linalg::cholesky(&omega, n).ok_or_else(|| {
        PopError::at(
            if per_occasion {
                "the per-occasion random-effect covariance matrix is not positive definite"
            } else {
                "the random-effect covariance matrix (Ω) is not positive definite"
            },
            model.span,
        )
    })?;
    Ok((active, chol))
}

/// `covs`, `genos` and `etas` laid out by `slots`, into `out`.
fn layout(slots: &[InputSlot], covs: &[f64], genos: &[f64], etas: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.extend(slots.iter().map(|s| {
        let v = match s {
            InputSlot::Covariate(i) => covs.get(*i),
            InputSlot::Genotype(i) => genos.get(*i),
            InputSlot::Eta(i) => etas.get(*i),
            // Interpolation inputs of dataset runs: a constant covariate.
            InputSlot::Slope(_) | InputSlot::Origin(_) => Some(&0.0),
            InputSlot::Theta(_) | InputSlot::Kappa(..) | InputSlot::Occasion => None,
        };
        v.copied().unwrap_or(f64::NAN)
    }));
}

/// Whether `x` is finite and above 0.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Cumulative sums of `w`, normalised to end at 1; `None` if the total is not positive.
fn cumulative(w: impl Iterator<Item = f64>) -> Option<Vec<f64>> {
    let mut acc = 0.0;
    let mut c: Vec<f64> = w
        .map(|x| {
            acc += x.max(0.0);
            acc
        })
        .collect();
    if !positive(acc) {
        return None;
    }
    for x in &mut c {
        *x /= acc;
    }
    Some(c)
}

/// The first index whose cumulative probability exceeds u (the last positive one at worst).
fn pick(cdf: &[f64], u: f64) -> usize {
    let i = cdf.partition_point(|&c| c <= u);
    if i < cdf.len() {
        return i;
    }
    // u ≥ the final sum only by rounding: the last entry with positive probability.
    let mut prev = 0.0;
    let mut last = 0;
    for (k, &c) in cdf.iter().enumerate() {
        if c > prev {
            last = k;
        }
        prev = c;
    }
    last
}

fn sub(i: usize, what: &str) -> Result<u16, PopError> {
    u16::try_from(i).map_err(|_| PopError::new(format!("too many {what} (at most 65536)")))
}

impl<'a> Sampler<'a> {
    /// Prepares the population of `trial` for the input layout `slots` (see
    /// [`crate::lower::Lowered::inputs`]), compiling its generators. Fails on an unknown model, a
    /// slot outside the model, a generator that uses something not known before the simulation,
    /// genes without frequencies for an ancestry of the mixture, or correlation matrices that are
    /// not positive definite. A trial's runner shares one evaluator through
    /// [`Sampler::with_evaluator`] instead.
    pub fn new(
        program: &'a hir::Program,
        trial: &'a hir::Trial,
        slots: &'a [InputSlot],
    ) -> Result<Sampler<'a>, PopError> {
        let model = program.models.get(trial.model).ok_or_else(|| {
            PopError::at(format!("trial `{}` has no model", trial.name), trial.span)
        })?;
        let exprs = PatientExprs {
            population: trial.population.as_ref(),
            ..PatientExprs::default()
        };
        let evaluator =
            Evaluator::new(program, model, exprs, ParamLayout::default(), Backend::Jit)?;
        Sampler::with_evaluator(program, trial, slots, Arc::new(evaluator))
    }

    /// [`Sampler::new`] with generator arguments from `evaluator`, which must have been built
    /// with the population of `trial` (e.g. by [`Evaluator::for_trial`]).
    pub fn with_evaluator(
        program: &'a hir::Program,
        trial: &'a hir::Trial,
        slots: &'a [InputSlot],
        evaluator: Arc<Evaluator>,
    ) -> Result<Sampler<'a>, PopError> {
        if let Some((path, span)) = trial
            .population
            .as_ref()
            .and_then(|p| p.fit_missing.as_ref())
        {
            return Err(PopError::at(
                format!(
                    "`population from fit \"{path}\"`: there is no fit.json there yet; run `twin fit MODEL --data DATA --out {path}` first"
                ),
                *span,
            ));
        }
        let generators = trial.population.as_ref().map_or(0, |p| p.generators.len());
        if evaluator.n_generators() != generators {
            return Err(PopError::new(format!(
                "the evaluator has {} generators, the population of `{}` {generators}",
                evaluator.n_generators(),
                trial.name
            )));
        }
        let model = program.models.get(trial.model).ok_or_else(|| {
            PopError::at(format!("trial `{}` has no model", trial.name), trial.span)
        })?;
        for s in slots {
            let ok = match s {
                InputSlot::Covariate(i) => *i < model.covariates.len(),
                InputSlot::Genotype(i) => *i < model.genotypes.len(),
                InputSlot::Eta(i) => *i < model.effects.len(),
                InputSlot::Slope(_)
                | InputSlot::Origin(_)
                | InputSlot::Theta(_)
                | InputSlot::Kappa(..)
                | InputSlot::Occasion => false,
            };
            if !ok {
                return Err(PopError::new(format!(
                    "input slot {s:?} is not part of model `{}`",
                    model.name
                )));
            }
        }
        sub(model.covariates.len().saturating_sub(1), "covariates")?;
        sub(
            model.genotypes.len().saturating_sub(1),
            "genotype variables",
        )?;
        let pop = trial.population.as_ref();
        let size = pop.map_or(1, |p| p.size);

        // Ancestry mixture.
        let mixture: &[(String, f64)] = pop.map_or(&[], |p| &p.ancestry);
        let ancestry_cdf = if mixture.is_empty() {
            Vec::new()
        } else {
            cumulative(mixture.iter().map(|a| a.1))
                .ok_or_else(|| PopError::at("the ancestry fractions do not sum to 1", trial.span))?
        };

        // Genotype frequency tables (only needed when genotypes are drawn).
        let mut genotype_cdf = Vec::new();
        if pop.is_some() {
            for g in &model.genotypes {
                let gene = program
                    .genes
                    .get(g.gene)
                    .ok_or_else(|| PopError::at(format!("unknown gene of `{}`", g.name), g.span))?;
                if mixture.is_empty() {
                    return Err(PopError::at(
                        format!(
                            "the population has no ancestry to draw genotype `{}` from",
                            g.name
                        ),
                        trial.span,
                    ));
                }
                let mut per = Vec::new();
                for (name, _) in mixture {
                    let freq = gene
                        .ancestries
                        .iter()
                        .position(|a| a == name)
                        .and_then(|k| gene.diplotype_freq.get(k))
                        .ok_or_else(|| {
                            PopError::at(
                                format!(
                                    "gene `{}` has no frequencies for ancestry `{name}`",
                                    gene.name
                                ),
                                g.span,
                            )
                        })?;
                    if freq.len() != gene.diplotypes.len() {
                        return Err(PopError::at(
                            format!("gene `{}` has a malformed frequency table", gene.name),
                            gene.span,
                        ));
                    }
                    per.push(cumulative(freq.iter().copied()).ok_or_else(|| {
                        PopError::at(
                            format!(
                                "the diplotype frequencies of `{}` for `{name}` sum to 0",
                                gene.name
                            ),
                            gene.span,
                        )
                    })?);
                }
                genotype_cdf.push(per);
            }
        }

        // Gaussian copula of correlated covariates.
        let correlations: &[(usize, usize, f64)] = pop.map_or(&[], |p| &p.correlations);
        let mut copula: Vec<usize> = correlations.iter().flat_map(|c| [c.0, c.1]).collect();
        copula.sort_unstable();
        copula.dedup();
        for &c in &copula {
            let ok = pop.is_some_and(|p| {
                p.generators.iter().any(|g| {
                    matches!(g, Generator::Draw { covariate, dist: Distribution::Normal { .. } | Distribution::LogNormal { .. } } if *covariate == c)
                })
            });
            if !ok {
                let name = model.covariates.get(c).map_or("?", |c| c.name.as_str());
                return Err(PopError::at(
                    format!(
                        "`{name}` must be drawn from a normal or log-normal distribution to be correlated"
                    ),
                    trial.span,
                ));
            }
        }
        let n = copula.len();
        let mut r = vec![0.0; n * n];
        for i in 0..n {
            r[i * n + i] = 1.0;
        }
        for &(a, b, rho) in correlations {
            let (Ok(i), Ok(j)) = (copula.binary_search(&a), copula.binary_search(&b)) else {
                continue;
            };
            r[i * n + j] = rho;
            r[j * n + i] = rho;
        }
        let copula_chol = crate::linalg::cholesky(&r, n).ok_or_else(|| {
            PopError::at(
                "the covariate correlation matrix is not positive definite",
                trial.span,
            )
        })?;

        // Ω of the random effects.
        for e in &model.effects {
            if !(e.variance.is_finite() && e.variance >= 0.0) {
                return Err(PopError::at(
                    format!("a random effect has variance {}", e.variance),
                    e.span,
                ));
            }
        }
        let etas = EtaDraws::patients(model)?;
        let occasions = EtaDraws::occasions(model)?;

        Ok(Sampler {
            trial,
            model,
            slots,
            size,
            ancestry_cdf,
            genotype_cdf,
            copula,
            copula_chol,
            etas,
            occasions,
            evaluator,
        })
    }

    /// The model of the trial.
    pub fn model(&self) -> &'a hir::Model {
        self.model
    }

    /// The same population with `n` patients (patient k is the same patient whatever `n`).
    pub fn resized(mut self, n: u64) -> Self {
        self.size = n;
        self
    }

    /// Number of patients (1 without a population).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Generates patient `index` (0 ≤ index < [`Sampler::size`]) for `seed`.
    pub fn sample(&self, seed: u64, index: u64) -> Result<Patient, PopError> {
        if index >= self.size {
            return Err(PopError::new(format!(
                "patient {index} is outside the population of {}",
                self.size
            )));
        }
        let m = self.model;
        let mut covs: Vec<f64> = m.covariates.iter().map(|c| c.default).collect();
        let mut genos: Vec<f64> = m.genotypes.iter().map(|g| g.default as f64).collect();
        let mut etas = vec![0.0; m.effects.len()];
        let mut ancestry = 0;
        if let Some(pop) = &self.trial.population {
            if self.ancestry_cdf.len() > 1 {
                let u = Stream::new(seed, index, Purpose::Ancestry).uniform();
                ancestry = pick(&self.ancestry_cdf, u);
            }
            // Random effects: between patients, and those of the first occasion.
            for (k, v) in self.etas.draws(seed, index, 0) {
                etas[k] = v;
            }
            for (k, v) in self.occasions.draws(seed, index, 0) {
                etas[k] = v;
            }
            // Genotypes.
            for (g, per) in self.genotype_cdf.iter().enumerate() {
                let u = Stream::substream(seed, index, Purpose::Genotypes, g as u16).uniform();
                if let Some(cdf) = per.get(ancestry) {
                    genos[g] = pick(cdf, u) as f64;
                }
            }
            // A cohort's recorded covariates and genotypes.
            if let Some(cohort) = &pop.cohort {
                let rows = cohort.rows.len() as u64;
                let row = if cohort.resample {
                    let u = Stream::new(seed, index, Purpose::CohortRow).uniform();
                    ((u * rows as f64) as u64).min(rows.saturating_sub(1))
                } else {
                    index
                };
                let values = cohort.rows.get(row as usize).ok_or_else(|| {
                    PopError::new(format!(
                        "patient {index} is beyond the {rows} rows of `{}` (use `resample` for more patients than rows)",
                        cohort.path
                    ))
                })?;
                for (col, &v) in cohort.columns.iter().zip(values) {
                    match *col {
                        hir::CohortColumn::Covariate(c) => covs[c] = v,
                        hir::CohortColumn::Genotype(g) => genos[g] = v,
                    }
                }
            }
            // A fitted subject: its covariates and genotypes, and η from its posterior.
            if let Some(fit) = &pop.fitted {
                let n = fit.subjects.len() as u64;
                let pick = if fit.resample {
                    let u = Stream::new(seed, index, Purpose::CohortRow).uniform();
                    ((u * n as f64) as u64).min(n.saturating_sub(1))
                } else {
                    index
                };
                let s = fit.subjects.get(pick as usize).ok_or_else(|| {
                    PopError::new(format!(
                        "patient {index} is beyond the {n} fitted subjects of `{}` (use `resample` for more patients)",
                        fit.path
                    ))
                })?;
                for &(c, v) in &s.covariates {
                    covs[c] = v;
                }
                for &(g, v) in &s.genotypes {
                    genos[g] = v;
                }
                // Without `resample`, each subject at its estimate (the twin itself); with it, a
                // draw from the subject's posterior.
                let k = fit.effects.len();
                let mut stream = Stream::new(seed, index, Purpose::Other(4));
                let z: Vec<f64> = (0..k)
                    .map(|_| if fit.resample { stream.normal() } else { 0.0 })
                    .collect();
                let shift = lower_mul(&s.chol, &z);
                for (a, &e) in fit.effects.iter().enumerate() {
                    etas[e] = s.mean[a] + shift[a];
                }
                // At the estimate, a new occasion is a typical one.
                if !fit.resample {
                    for (e, eff) in m.effects.iter().enumerate() {
                        if eff.per_occasion {
                            etas[e] = 0.0;
                        }
                    }
                }
            }
            // Covariates.
            let uniform =
                |c: usize| Stream::substream(seed, index, Purpose::Covariates, c as u16).uniform();
            let z: Vec<f64> = self
                .copula
                .iter()
                .map(|&c| stats::normal_quantile(uniform(c)))
                .collect();
            let copula_z = lower_mul(&self.copula_chol, &z);
            let mut vals = Vec::with_capacity(self.evaluator.inputs().len());
            let mut args = [0.0; 2];
            for (k, g) in pop.generators.iter().enumerate() {
                let n = self.evaluator.n_generator_values(k).min(args.len());
                let args = &mut args[..n];
                layout(self.evaluator.inputs(), &covs, &genos, &etas, &mut vals);
                self.evaluator.generator(k, &vals, args)?;
                let (c, v) = match g {
                    Generator::Draw { covariate, dist } => {
                        let c = *covariate;
                        let u = match self.copula.binary_search(&c) {
                            Ok(i) => Std::Z(copula_z[i]),
                            Err(_) => Std::U(uniform(c)),
                        };
                        let v = self
                            .draw(dist, args, u)
                            .map_err(|e| e.context(&self.covariate_label(c)))?;
                        (c, v)
                    }
                    Generator::Set { covariate, .. } => {
                        (*covariate, args.first().copied().unwrap_or(f64::NAN))
                    }
                };
                let cov = m
                    .covariates
                    .get(c)
                    .ok_or_else(|| PopError::new("a generator sets an unknown covariate"))?;
                if !v.is_finite() {
                    return Err(PopError::at(
                        format!("{}: the value is {v}", self.covariate_label(c)),
                        cov.span,
                    ));
                }
                if !cov.levels.is_empty() && index_of(v).is_none_or(|l| l >= cov.levels.len()) {
                    return Err(PopError::at(
                        format!("{}: {v} is not a level", self.covariate_label(c)),
                        cov.span,
                    ));
                }
                covs[c] = v;
            }
        }
        let mut inputs = Vec::with_capacity(self.slots.len());
        layout(self.slots, &covs, &genos, &etas, &mut inputs);
        let arms = self.trial.arms.len();
        let arm = (self.trial.randomize && arms > 0).then(|| randomized_arm(seed, index, arms));
        Ok(Patient {
            id: index,
            ancestry,
            inputs,
            arm,
        })
    }

    fn covariate_label(&self, c: usize) -> String {
        let name = self
            .model
            .covariates
            .get(c)
            .map_or("?", |c| c.name.as_str());
        format!("covariate `{name}`")
    }

    /// One draw from `dist` given its evaluated arguments `args` (see
    /// [`crate::lower::patient`]) and the covariate's random number.
    fn draw(&self, dist: &Distribution, args: &[f64], r: Std) -> Result<f64, PopError> {
        let arg = |k: usize| args.get(k).copied().unwrap_or(f64::NAN);
        let no_mass = |what: String, span: Span| {
            PopError::at(
                format!("the bounds leave no probability under {what}; widen them"),
                span,
            )
        };
        let bad_bounds =
            |span: Span| PopError::at("the lower bound is not below the upper bound", span);
        match dist {
            Distribution::Normal { mean, sd, min, max } => {
                let (mu, s) = (arg(0), arg(1));
                if !positive(s) || !mu.is_finite() {
                    return Err(PopError::at(
                        format!(
                            "normal(mean: {}, sd: {}) needs a positive SD",
                            num(mu),
                            num(s)
                        ),
                        sd.span,
                    ));
                }
                let lo = min.map_or(f64::NEG_INFINITY, |a| (a - mu) / s);
                let hi = max.map_or(f64::INFINITY, |b| (b - mu) / s);
                if lo >= hi {
                    return Err(bad_bounds(mean.span));
                }
                let t = standard_draw(r.z(), lo, hi).ok_or_else(|| {
                    no_mass(
                        format!("normal(mean: {}, sd: {})", num(mu), num(s)),
                        mean.span,
                    )
                })?;
                let x = mu + s * t;
                Ok(x.max(min.unwrap_or(x)).min(max.unwrap_or(x)))
            }
            Distribution::LogNormal {
                median,
                cv,
                min,
                max,
            } => {
                let (md, cv_v) = (arg(0), arg(1));
                if !positive(md) {
                    return Err(PopError::at(
                        format!("a lognormal median must be positive, not {}", num(md)),
                        median.span,
                    ));
                }
                if !positive(cv_v) {
                    return Err(PopError::at(
                        format!("a CV must be positive, not {}", num(cv_v)),
                        cv.span,
                    ));
                }
                let mu = md.ln();
                let s = (cv_v * cv_v).ln_1p().sqrt();
                let lo = match min {
                    Some(a) if *a > 0.0 => (a.ln() - mu) / s,
                    _ => f64::NEG_INFINITY,
                };
                let hi = match max {
                    Some(b) if *b > 0.0 => (b.ln() - mu) / s,
                    Some(_) => {
                        return Err(PopError::at(
                            "the upper bound of a lognormal must be positive",
                            median.span,
                        ));
                    }
                    None => f64::INFINITY,
                };
                if lo >= hi {
                    return Err(bad_bounds(median.span));
                }
                let t = standard_draw(r.z(), lo, hi).ok_or_else(|| {
                    no_mass(
                        format!("lognormal(median: {}, cv: {})", num(md), num(cv_v)),
                        median.span,
                    )
                })?;
                let x = (mu + s * t).exp();
                Ok(x.max(min.unwrap_or(x)).min(max.unwrap_or(x)))
            }
            Distribution::Uniform { low, .. } => {
                let (a, b) = (arg(0), arg(1));
                if !(a.is_finite() && b.is_finite() && a <= b) {
                    return Err(PopError::at(
                        format!("uniform({}, {}) needs low ≤ high", num(a), num(b)),
                        low.span,
                    ));
                }
                Ok(a + (b - a) * r.u())
            }
            Distribution::Categorical(levels) => {
                let cdf = cumulative(levels.iter().map(|l| l.1))
                    .ok_or_else(|| PopError::new("the level probabilities sum to 0"))?;
                let k = pick(&cdf, r.u());
                Ok(levels.get(k).map_or(f64::NAN, |l| l.0 as f64))
            }
        }
    }
}

/// Generates patient `index` of `trial` for `seed`, with inputs in the order of `slots`. Patient
/// k is a pure function of (program, trial, slots, seed, k). Runners generating many patients
/// should build a [`Sampler`] once instead.
pub fn generate(
    program: &hir::Program,
    trial: &hir::Trial,
    slots: &[InputSlot],
    seed: u64,
    index: u64,
) -> Result<Patient, PopError> {
    Sampler::new(program, trial, slots)?.sample(seed, index)
}

/// The arm of patient `index` among `arms` arms under permuted-block randomization: patients
/// `b·arms … b·arms + arms − 1` form block b, whose arm order is a Fisher–Yates shuffle driven by
/// the `Randomization` stream keyed by the block. Each patient is equally likely to get any arm
/// and every complete block holds each arm once.
pub fn randomized_arm(seed: u64, index: u64, arms: usize) -> usize {
    if arms <= 1 {
        return 0;
    }
    let k = arms as u64;
    let mut perm: Vec<usize> = (0..arms).collect();
    let mut s = Stream::new(seed, index / k, Purpose::Randomization);
    for i in (1..arms).rev() {
        let j = s.below(i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    perm[(index % k) as usize]
}

/// Residual error of one sampled observation, combined model: value·(1 + prop·ε₁) + add·ε₂ with
/// ε₁, ε₂ independent standard normals. Always consumes two normals from `stream`, whatever the
/// model, so positions in the stream do not depend on which terms are present.
pub fn residual(obs: &hir::ResidualError, value: f64, stream: &mut Stream) -> f64 {
    let e1 = stream.normal();
    let e2 = stream.normal();
    value * (1.0 + obs.proportional * e1) + obs.additive * e2
}

// ------------------------------------------------------------------------------------------------
// Arms and strata

/// The model's covariates, genotypes and η of `inputs` (laid out by `slots`); values missing from
/// the layout are the defaults (η = 0).
fn split_inputs(
    model: &hir::Model,
    slots: &[InputSlot],
    inputs: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut covs: Vec<f64> = model.covariates.iter().map(|c| c.default).collect();
    let mut genos: Vec<f64> = model.genotypes.iter().map(|g| g.default as f64).collect();
    let mut etas = vec![0.0; model.effects.len()];
    for (s, &v) in slots.iter().zip(inputs) {
        let target = match s {
            InputSlot::Covariate(i) => covs.get_mut(*i),
            InputSlot::Genotype(i) => genos.get_mut(*i),
            InputSlot::Eta(i) => etas.get_mut(*i),
            InputSlot::Slope(_)
            | InputSlot::Origin(_)
            | InputSlot::Theta(_)
            | InputSlot::Kappa(..)
            | InputSlot::Occasion => None,
        };
        if let Some(t) = target {
            *t = v;
        }
    }
    (covs, genos, etas)
}

/// Applies the covariate and genotype overrides of arm `arm` of `evaluator` (`weight = 110 kg`,
/// `weight = weight * 2`, `cyp2c9 = "*3/*3"`) to a patient's `inputs` (laid out by `slots`; values
/// missing from the layout are the model's typical ones). Every override is evaluated with the
/// patient's own values before any is applied; covariates computed from an overridden one by
/// `set` are not recomputed. In a trial, `evaluator` is the trial's ([`Evaluator::for_trial`],
/// arm = the trial's arm index); for one patient outside a trial, [`Evaluator::for_arms`].
pub fn apply_overrides(
    evaluator: &Evaluator,
    arm: usize,
    slots: &[InputSlot],
    inputs: &mut [f64],
) -> Result<(), PopError> {
    let targets = evaluator.override_targets(arm);
    if targets.is_empty() {
        return Ok(());
    }
    let mut vals = evaluator.typical().to_vec();
    for (s, &v) in slots.iter().zip(inputs.iter()) {
        if let Some(i) = evaluator.inputs().iter().position(|x| x == s) {
            vals[i] = v;
        }
    }
    let mut values = vec![0.0; targets.len()];
    evaluator.overrides(arm, &vals, &mut values)?;
    for (target, v) in targets.iter().zip(values) {
        let Some(t) = target else { continue };
        if let Some(i) = slots.iter().position(|x| x == t) {
            inputs[i] = v;
        }
    }
    Ok(())
}

/// The level of a patient in `stratum` (an index into [`stratum_labels`]), from its `inputs` and
/// the values of the trial's computed quantities (`quantities`, in [`hir::Trial::quantities`]
/// order, as the runner records them in [`super::runner::Row::quantities`]): the diplotype, the
/// phenotype class (unclassified diplotypes last), the category, or the bin of
/// [`stats::bin_index`]. `None` if the value is not a valid level (a computed quantity of a
/// patient whose parameters could not be computed is NaN).
pub fn stratum_level(
    program: &hir::Program,
    model: &hir::Model,
    slots: &[InputSlot],
    stratum: &hir::Stratum,
    inputs: &[f64],
    quantities: &[f64],
) -> Option<usize> {
    let (covs, genos, _) = split_inputs(model, slots, inputs);
    match stratum {
        hir::Stratum::Genotype(g) => {
            let d = index_of(*genos.get(*g)?)?;
            let gene = program.genes.get(model.genotypes.get(*g)?.gene)?;
            (d < gene.diplotypes.len()).then_some(d)
        }
        hir::Stratum::Phenotype(g) => {
            let d = index_of(*genos.get(*g)?)?;
            let gene = program.genes.get(model.genotypes.get(*g)?.gene)?;
            Some(gene.phenotype_of.get(d)?.unwrap_or(gene.phenotypes.len()))
        }
        hir::Stratum::Category(c) => {
            let l = index_of(*covs.get(*c)?)?;
            (l < model.covariates.get(*c)?.levels.len()).then_some(l)
        }
        hir::Stratum::Bins(c, edges) => stats::bin_index(edges, *covs.get(*c)?),
        hir::Stratum::Computed(q, edges) => stats::bin_index(edges, *quantities.get(*q)?),
    }
}

/// Names of the levels of `stratum`: diplotype names, phenotype classes (plus `unclassified` if
/// some diplotype has no class), category levels, or bin labels with `unit` (the unit of the
/// covariate or computed quantity as written, e.g. `kg`).
pub fn stratum_labels(
    program: &hir::Program,
    model: &hir::Model,
    stratum: &hir::Stratum,
    unit: &str,
) -> Vec<String> {
    let gene = |g: usize| {
        model
            .genotypes
            .get(g)
            .and_then(|v| program.genes.get(v.gene))
    };
    match stratum {
        hir::Stratum::Genotype(g) => gene(*g).map_or(Vec::new(), |x| x.diplotype_names.clone()),
        hir::Stratum::Phenotype(g) => gene(*g).map_or(Vec::new(), |x| {
            let mut v = x.phenotypes.clone();
            if x.phenotype_of.iter().any(Option::is_none) {
                v.push("unclassified".to_string());
            }
            v
        }),
        hir::Stratum::Category(c) => model
            .covariates
            .get(*c)
            .map_or(Vec::new(), |x| x.levels.clone()),
        hir::Stratum::Bins(_, edges) | hir::Stratum::Computed(_, edges) => {
            stats::bin_labels(edges, unit)
        }
    }
}
