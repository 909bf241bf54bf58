//! Estimation: the maximum a posteriori (MAP) random effects of one patient given the model's
//! priors and residual error, with their Laplace covariance, and fixed effects shared by several
//! patients. `twin fit` ([`crate::cmd::fit`]) feeds it the predictions and forward
//! sensitivities of the compiled model ([`crate::ir::sensitivity`]).
//!
//! - [`objective`]: `OBJ = Σ [(y − f)²/σ² + ln σ²] + ηᵀΩ⁻¹η`, its gradient and Fisher Hessian.
//! - [`lm`]: the damped Gauss–Newton minimiser.
//! - [`file`]: reading a `fit.json` back.
//! - [`Prior`]: `Ω` of the model's `vary` terms with their `correlate` blocks.
//! - [`map_estimate`]: one patient from one or more starts, with the Laplace covariance (the
//!   inverse of half the Hessian of `OBJ` at the optimum, that Hessian by central differences of
//!   the exact gradient).

pub mod file;
pub mod lm;
pub mod objective;

use lm::{Evaluation, Outcome, Settings, Status};
use objective::Observation;

/// The prior of the random effects: `η ~ N(0, Ω)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    /// Number of random effects.
    pub k: usize,
    /// Ω (row-major, k×k).
    pub omega: Vec<f64>,
    /// Ω⁻¹.
    pub omega_inv: Vec<f64>,
}

impl Prior {
    /// The prior of variances `variances` and correlations `(a, b, ρ)`; an error when Ω is not
    /// positive definite.
    pub fn new(variances: &[f64], correlations: &[(usize, usize, f64)]) -> Result<Prior, String> {
        let k = variances.len();
        let mut omega = vec![0.0; k * k];
        for (i, v) in variances.iter().enumerate() {
            omega[i * k + i] = *v;
        }
        for &(a, b, rho) in correlations {
            if a < k && b < k {
                let c = rho * (variances[a] * variances[b]).sqrt();
                omega[a * k + b] = c;
                omega[b * k + a] = c;
            }
        }
        let omega_inv = lm::inverse_spd(&omega, k).ok_or_else(|| {
            "the random effects' covariance matrix is not positive definite".to_string()
        })?;
        Ok(Prior {
            k,
            omega,
            omega_inv,
        })
    }
}

impl Prior {
    /// The prior of the model's random effects `effects` (indices into `model.effects`, in
    /// order): their variances, and every `correlate` term between two of them in the same block
    /// (`block(i)` of position `i`: per-occasion copies of an effect correlate only within their
    /// occasion).
    pub fn of_effects(
        model: &crate::check::hir::Model,
        effects: &[usize],
        block: impl Fn(usize) -> usize,
    ) -> Result<Prior, String> {
        let variances: Vec<f64> = effects
            .iter()
            .map(|&k| model.effects.get(k).map_or(f64::NAN, |e| e.variance))
            .collect();
        let mut correlations: Vec<(usize, usize, f64)> = Vec::new();
        for &(a, b, rho) in &model.effect_correlations {
            for (i, &ka) in effects.iter().enumerate() {
                for (j, &kb) in effects.iter().enumerate() {
                    if ka == a && kb == b && block(i) == block(j) {
                        correlations.push((i, j, rho));
                    }
                }
            }
        }
        Prior::new(&variances, &correlations)
    }
}

/// Predictions at one patient's observations and their gradients with respect to the unknowns.
#[derive(Debug, Clone)]
pub struct Predicted {
    /// One prediction per observation.
    pub f: Vec<f64>,
    /// Row `i`: `∂fᵢ/∂x`.
    pub df: Vec<Vec<f64>>,
}

/// The MAP estimate of one patient.
#[derive(Debug, Clone)]
pub struct Individual {
    /// The estimate.
    pub eta: Vec<f64>,
    /// The objective there.
    pub objective: f64,
    /// Whether the best start converged.
    pub status: Status,
    /// Iterations of the best start.
    pub iterations: usize,
    /// Objective evaluations over all starts.
    pub evaluations: usize,
    /// Starts tried.
    pub starts: usize,
    /// Distinct local optima found among the starts that converged (objectives more than 1e-6
    /// apart).
    pub optima: usize,
    /// The Laplace covariance of η (k×k), when the Hessian is positive definite.
    pub covariance: Option<Vec<f64>>,
}

/// The objective of one patient at `eta`: residual terms plus the prior.
pub fn evaluate(
    prior: &Prior,
    obs: &[Observation],
    eta: &[f64],
    predict: &dyn Fn(&[f64]) -> Option<Predicted>,
) -> Option<Evaluation> {
    let p = predict(eta)?;
    let mut e = objective::zero(eta.len());
    objective::add_residuals(&mut e, obs, &p.f, &p.df);
    objective::add_prior(&mut e, eta, 0, &prior.omega_inv, prior.k);
    e.value.is_finite().then_some(e)
}

/// The MAP estimate from every start of `starts` (the best objective wins, a converged start
/// before one that did not), with the Laplace covariance at it.
pub fn map_estimate(
    prior: &Prior,
    obs: &[Observation],
    starts: &[Vec<f64>],
    settings: &Settings,
    predict: &dyn Fn(&[f64]) -> Option<Predicted>,
) -> Individual {
    let mut best: Option<Outcome> = None;
    let mut evaluations = 0;
    let mut optima: Vec<f64> = Vec::new();
    for s in starts {
        let out = lm::minimise(s, settings, |x| evaluate(prior, obs, x, predict), |_| {});
        evaluations += out.evaluations;
        if out.status == Status::Converged
            && !optima.iter().any(|o| (o - out.at.value).abs() <= 1e-6)
        {
            optima.push(out.at.value);
        }
        let better = match &best {
            None => true,
            Some(b) => {
                let (bc, oc) = (
                    b.status == Status::Converged,
                    out.status == Status::Converged,
                );
                (oc && !bc) || (oc == bc && out.at.value < b.at.value)
            }
        };
        if better {
            best = Some(out);
        }
    }
    let Some(best) = best else {
        return Individual {
            eta: Vec::new(),
            objective: f64::NAN,
            status: Status::Failed("no start".into()),
            iterations: 0,
            evaluations,
            starts: 0,
            optima: 0,
            covariance: None,
        };
    };
    let covariance =
        laplace(&best.x, &best.at, |x| evaluate(prior, obs, x, predict)).map(|(c, n)| {
            evaluations += n;
            c
        });
    Individual {
        eta: best.x,
        objective: best.at.value,
        status: best.status,
        iterations: best.iterations,
        evaluations,
        starts: starts.len(),
        optima: optima.len(),
        covariance,
    }
}

/// The Laplace covariance `(½ H)⁻¹` at `x`, `H` the Hessian of the objective by central
/// differences of its exact gradient (step `1e-4·max(1, |xᵢ|)`), symmetrised; with the
/// evaluations it took. Falls back to the Fisher Hessian of `at` where a difference cannot be
/// evaluated; `None` if the Hessian is not positive definite.
pub fn laplace(
    x: &[f64],
    at: &Evaluation,
    f: impl Fn(&[f64]) -> Option<Evaluation>,
) -> Option<(Vec<f64>, usize)> {
    let n = x.len();
    let mut h = at.hessian.clone();
    let mut evaluations = 0;
    for j in 0..n {
        let step = 1e-4 * x[j].abs().max(1.0);
        let mut a = x.to_vec();
        let mut b = x.to_vec();
        a[j] += step;
        b[j] -= step;
        evaluations += 2;
        if let (Some(ea), Some(eb)) = (f(&a), f(&b)) {
            for i in 0..n {
                h[i * n + j] = (ea.gradient[i] - eb.gradient[i]) / (2.0 * step);
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            let s = 0.5 * (h[i * n + j] + h[j * n + i]);
            h[i * n + j] = s;
            h[j * n + i] = s;
        }
    }
    let half: Vec<f64> = h.iter().map(|v| 0.5 * v).collect();
    lm::inverse_spd(&half, n).map(|c| (c, evaluations))
}

/// `n` draws of `mean + L·z` (`l` lower-triangular, row-major), `z` standard normal from the
/// stream of `seed` kept for posterior bands. `twin fit`'s band and a `twin run --twin` forecast
/// draw through here, so that the two give the same band.
pub fn posterior_draws(seed: u64, mean: &[f64], l: &[f64], n: usize) -> Vec<Vec<f64>> {
    use crate::trial::rng::{Purpose, Stream};
    let mut stream = Stream::new(seed, 0, Purpose::Other(2));
    (0..n)
        .map(|_| {
            let z: Vec<f64> = mean.iter().map(|_| stream.normal()).collect();
            let shift = crate::linalg::lower_mul(l, &z);
            mean.iter().zip(shift).map(|(m, s)| m + s).collect()
        })
        .collect()
}

/// η-shrinkage of one random effect: `1 − SD(η̂)/ω` over the patients' estimates (NONMEM's
/// definition; the SD with divisor n − 1). NaN with fewer than two patients.
pub fn shrinkage(estimates: &[f64], omega_sd: f64) -> f64 {
    let n = estimates.len();
    if n < 2 || omega_sd <= 0.0 {
        return f64::NAN;
    }
    let mean = estimates.iter().sum::<f64>() / n as f64;
    let var = estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    1.0 - var.sqrt() / omega_sd
}
