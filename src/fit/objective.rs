//! The objective `twin fit` minimises for one patient, with its exact gradient and the
//! Fisher-scoring Hessian, from predictions and their sensitivities.
//!
//! For observations `yᵢ` with predictions `fᵢ(x)` and residual variances
//! `σᵢ² = a² + (b·fᵢ)²` (the model's `additive(a)` and `proportional(b)` terms), and random effects
//! `η` with covariance `Ω`, the objective is minus twice the log posterior up to a constant:
//!
//! `OBJ = Σᵢ [ (yᵢ − fᵢ)²/σᵢ² + ln σᵢ² ] + ηᵀ Ω⁻¹ η`
//!
//! (the constants `n·ln 2π` and `ln det Ω` are left out, as in NONMEM's objective function
//! value). The gradient is exact given `∂fᵢ/∂x`; the Hessian approximation is the expected
//! (Fisher) information `Σᵢ [ 2 ∇fᵢ∇fᵢᵀ/σᵢ² + ∇σᵢ²∇σᵢ²ᵀ/σᵢ⁴ ] + 2 Ω⁻¹`, positive definite.

use super::lm::Evaluation;

/// One measured value and its residual error model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The measurement (DV), in the observable's unit.
    pub dv: f64,
    /// Additive residual SD, in the observable's unit.
    pub additive: f64,
    /// Proportional residual SD, a fraction.
    pub proportional: f64,
}

impl Observation {
    /// The residual variance at prediction `f`.
    pub fn variance(&self, f: f64) -> f64 {
        self.additive * self.additive + (self.proportional * f).powi(2)
    }
}

/// Adds the residual terms of `obs` with predictions `f` and their gradients `df` (row `i`:
/// `∂fᵢ/∂x`, `n` entries) to `e`.
pub fn add_residuals(e: &mut Evaluation, obs: &[Observation], f: &[f64], df: &[Vec<f64>]) {
    let n = e.gradient.len();
    for ((o, &fi), d) in obs.iter().zip(f).zip(df) {
        let v = o.variance(fi);
        let r = o.dv - fi;
        e.value += r * r / v + v.ln();
        // ∂σ²/∂x = 2 b² f ∂f/∂x
        let k = 2.0 * o.proportional * o.proportional * fi;
        let dv_coef = 1.0 / v - r * r / (v * v);
        for p in 0..n {
            let dvp = k * d[p];
            e.gradient[p] += -2.0 * r / v * d[p] + dv_coef * dvp;
            for q in 0..n {
                let dvq = k * d[q];
                e.hessian[p * n + q] += 2.0 * d[p] * d[q] / v + dvp * dvq / (v * v);
            }
        }
    }
}

/// Adds the prior `ηᵀ Ω⁻¹ η` on the coordinates `at..at + k` of `x` (`omega_inv` k×k).
pub fn add_prior(e: &mut Evaluation, x: &[f64], at: usize, omega_inv: &[f64], k: usize) {
    let n = e.gradient.len();
    for a in 0..k {
        for b in 0..k {
            let w = omega_inv[a * k + b];
            e.value += x[at + a] * w * x[at + b];
            e.gradient[at + a] += 2.0 * w * x[at + b];
            e.hessian[(at + a) * n + at + b] += 2.0 * w;
        }
    }
}

/// An empty evaluation over `n` unknowns.
pub fn zero(n: usize) -> Evaluation {
    Evaluation {
        value: 0.0,
        gradient: vec![0.0; n],
        hessian: vec![0.0; n * n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = x0·exp(−x1·t) at a few t: the gradient equals central differences of the
    /// objective, for a combined error model.
    #[test]
    fn gradient_matches_differences() {
        let ts = [0.5, 1.0, 2.0, 4.0];
        let dvs = [9.0, 7.5, 5.9, 3.1];
        let omega_inv = [4.0, 1.0, 1.0, 9.0];
        let obj = |x: &[f64]| {
            let mut e = zero(2);
            let obs: Vec<Observation> = dvs
                .iter()
                .map(|&dv| Observation {
                    dv,
                    additive: 0.3,
                    proportional: 0.1,
                })
                .collect();
            let f: Vec<f64> = ts.iter().map(|t| x[0] * (-x[1] * t).exp()).collect();
            let df: Vec<Vec<f64>> = ts
                .iter()
                .map(|t| {
                    let e = (-x[1] * t).exp();
                    vec![e, -x[0] * t * e]
                })
                .collect();
            add_residuals(&mut e, &obs, &f, &df);
            add_prior(&mut e, x, 0, &omega_inv, 2);
            e
        };
        let x = [10.0, 0.3];
        let e = obj(&x);
        for p in 0..2 {
            let h = 1e-6;
            let mut a = x;
            let mut b = x;
            a[p] += h;
            b[p] -= h;
            let fd = (obj(&a).value - obj(&b).value) / (2.0 * h);
            assert!((fd - e.gradient[p]).abs() < 1e-6 * fd.abs().max(1.0), "{p}");
        }
    }
}
