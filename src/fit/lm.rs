//! A damped Gauss–Newton (Levenberg–Marquardt / Fisher scoring) minimiser for the small, smooth
//! objectives of `twin fit`: a few to a few hundred unknowns, an exact gradient and a positive
//! semi-definite approximation of the Hessian from the forward sensitivities.
//!
//! Each iteration solves `(H + λ·D) δ = −g` (`D` the diagonal of `H`, floored) by Cholesky and
//! accepts the step when the objective decreases; λ falls tenfold after an accepted step and
//! rises tenfold after a rejected one (or a failed evaluation). Convergence: the Newton decrement
//! `gᵀ H⁻¹ g` below `decrement` (1e-12), or — when the objective stops decreasing because its
//! noise (the ODE solver's tolerance) is reached: three accepted steps that change it by less
//! than 1e-10 relative and by less than a tenth of the decrease a quadratic model predicts, or no
//! step accepted at all — the decrement below `stall_decrement`
//! (1e-6: the objective within about 5e-7 of its minimum). Evaluations that fail (a patient who
//! cannot be simulated at the trial point) count as rejected steps, so the search backs off
//! instead of stopping.
//!
//! Written here rather than taken from argmin: the objective is not a plain sum of squares
//! (proportional error makes the variance depend on the prediction), the Hessian approximation
//! is assembled by the caller from the sensitivities, evaluations may fail, and the problems are
//! tiny, so a 100-line damped Newton method with these rules is simpler to verify than an
//! adaptation of a generic solver. Tests compare its optimum with Nelder–Mead on closed forms.

use crate::linalg::cholesky;

/// One evaluation: objective, gradient, and the positive semi-definite Hessian approximation
/// (row-major, n×n).
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The objective.
    pub value: f64,
    /// Its gradient.
    pub gradient: Vec<f64>,
    /// The Hessian approximation.
    pub hessian: Vec<f64>,
}

/// Settings of [`minimise`].
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most iterations (accepted or rejected steps).
    pub max_iterations: usize,
    /// Convergence threshold on the Newton decrement `gᵀ H⁻¹ g`.
    pub decrement: f64,
    /// Largest step in any coordinate (a trust bound for wild starts).
    pub max_step: f64,
    /// Convergence threshold on the Newton decrement when no step lowers the objective any more
    /// (its noise, from the solver's tolerance, is reached): the objective is then within about
    /// half of it of the minimum.
    pub stall_decrement: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_iterations: 400,
            decrement: 1e-12,
            max_step: 2.0,
            stall_decrement: 1e-6,
        }
    }
}

/// How a minimisation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// The convergence criterion was met.
    Converged,
    /// Why not.
    Failed(String),
}

/// The result of [`minimise`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The best point found.
    pub x: Vec<f64>,
    /// Its evaluation.
    pub at: Evaluation,
    /// How it ended.
    pub status: Status,
    /// Iterations taken.
    pub iterations: usize,
    /// Objective evaluations (including failed ones).
    pub evaluations: usize,
}

/// Solves `a x = b` for symmetric positive-definite `a` (n×n); `None` if `a` is not.
pub fn solve_spd(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, n)?;
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i * n + i];
    }
    Some(x)
}

/// The inverse of a symmetric positive-definite matrix, or `None`.
pub fn inverse_spd(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut inv = vec![0.0; n * n];
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let col = solve_spd(a, &e, n)?;
        for i in 0..n {
            inv[i * n + j] = col[i];
        }
    }
    Some(inv)
}

/// Minimises `f` from `x0`. `f` returns `None` where it cannot be evaluated; `project` maps a
/// trial point into the feasible set (bounds).
pub fn minimise(
    x0: &[f64],
    settings: &Settings,
    mut f: impl FnMut(&[f64]) -> Option<Evaluation>,
    project: impl Fn(&mut [f64]),
) -> Outcome {
    let n = x0.len();
    let mut x = x0.to_vec();
    project(&mut x);
    let mut evaluations = 1;
    let Some(mut at) = f(&x).filter(|e| e.value.is_finite()) else {
        return Outcome {
            at: Evaluation {
                value: f64::NAN,
                gradient: vec![f64::NAN; n],
                hessian: vec![f64::NAN; n * n],
            },
            x,
            status: Status::Failed("the starting point cannot be evaluated".into()),
            iterations: 0,
            evaluations,
        };
    };
    if n == 0 {
        return Outcome {
            x,
            at,
            status: Status::Converged,
            iterations: 0,
            evaluations,
        };
    }
    let mut lambda = 1e-3;
    let mut status = Status::Failed(format!(
        "no convergence in {} iterations",
        settings.max_iterations
    ));
    let mut iterations = 0;
    let mut small_changes = 0;
    while iterations < settings.max_iterations {
        iterations += 1;
        let decrement = newton_decrement(&at, n);
        if decrement.is_some_and(|d| d < settings.decrement) {
            status = Status::Converged;
            break;
        }
        let mut a = at.hessian.clone();
        for i in 0..n {
            let d = at.hessian[i * n + i].abs().max(1e-12);
            a[i * n + i] += lambda * d;
        }
        let rhs: Vec<f64> = at.gradient.iter().map(|g| -g).collect();
        let Some(mut step) = solve_spd(&a, &rhs, n) else {
            lambda *= 10.0;
            if lambda > 1e16 {
                status = Status::Failed("the Hessian approximation is singular".into());
                break;
            }
            continue;
        };
        let largest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        if largest > settings.max_step {
            let k = settings.max_step / largest;
            step.iter_mut().for_each(|s| *s *= k);
        }
        let mut trial: Vec<f64> = x.iter().zip(&step).map(|(a, b)| a + b).collect();
        project(&mut trial);
        evaluations += 1;
        match f(&trial).filter(|e| e.value.is_finite()) {
            Some(e) if e.value < at.value => {
                let change = (at.value - e.value) / at.value.abs().max(1.0);
                // The decrease a quadratic model predicts (half the decrement): far more than
                // the step achieved means noise, not curvature.
                let predicted = decrement.map_or(0.0, |d| 0.5 * d) / at.value.abs().max(1.0);
                x = trial;
                at = e;
                lambda = (lambda / 10.0).max(1e-12);
                if change < 1e-10 && predicted > 10.0 * change {
                    // Steps that no longer change the objective: its noise (the solver's
                    // tolerance) is reached.
                    small_changes += 1;
                    let d = newton_decrement(&at, n);
                    if small_changes >= 3 && d.is_some_and(|d| d < settings.stall_decrement) {
                        status = Status::Converged;
                        break;
                    }
                    if small_changes >= 20 {
                        status = Status::Failed(format!(
                            "the objective stopped decreasing with a Newton decrement of {:.3e}",
                            d.unwrap_or(f64::NAN)
                        ));
                        break;
                    }
                } else {
                    small_changes = 0;
                }
            }
            _ => {
                lambda *= 10.0;
                if lambda > 1e16 {
                    let d = newton_decrement(&at, n);
                    status = if d.is_some_and(|d| d < settings.stall_decrement) {
                        Status::Converged
                    } else {
                        Status::Failed(format!(
                            "no step lowers the objective (Newton decrement {:.3e})",
                            d.unwrap_or(f64::NAN)
                        ))
                    };
                    break;
                }
            }
        }
    }
    Outcome {
        x,
        at,
        status,
        iterations,
        evaluations,
    }
}

/// `gᵀ H⁻¹ g` at an evaluation (`None` when H is not positive definite).
fn newton_decrement(at: &Evaluation, n: usize) -> Option<f64> {
    let s = solve_spd(&at.hessian, &at.gradient, n)?;
    Some(s.iter().zip(&at.gradient).map(|(a, b)| a * b).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock's function as a sum of squares r = (10(y − x²), 1 − x): exact gradient and
    /// Gauss–Newton Hessian 2 JᵀJ.
    fn rosenbrock(x: &[f64]) -> Option<Evaluation> {
        let (a, b) = (x[0], x[1]);
        let r = [10.0 * (b - a * a), 1.0 - a];
        let j = [[-20.0 * a, 10.0], [-1.0, 0.0]];
        let value = r[0] * r[0] + r[1] * r[1];
        let mut gradient = vec![0.0; 2];
        let mut hessian = vec![0.0; 4];
        for k in 0..2 {
            for p in 0..2 {
                gradient[p] += 2.0 * r[k] * j[k][p];
                for q in 0..2 {
                    hessian[p * 2 + q] += 2.0 * j[k][p] * j[k][q];
                }
            }
        }
        Some(Evaluation {
            value,
            gradient,
            hessian,
        })
    }

    #[test]
    fn finds_the_minimum_of_rosenbrock() {
        let out = minimise(&[-1.2, 1.0], &Settings::default(), rosenbrock, |_| {});
        assert_eq!(out.status, Status::Converged);
        // Converged means a Newton decrement below 1e-12: the objective within about 1e-12 of
        // its minimum 0, so x within about √1e-12 = 1e-6 of (1, 1).
        assert!(out.at.value < 1e-12, "{}", out.at.value);
        assert!(
            (out.x[0] - 1.0).abs() < 1e-5 && (out.x[1] - 1.0).abs() < 1e-5,
            "{:?}",
            out.x
        );
    }

    #[test]
    fn bounds_hold_and_failures_back_off() {
        // Minimum at x = 3, but x is bounded by 2 and evaluation fails beyond 2.5.
        let f = |x: &[f64]| -> Option<Evaluation> {
            if x[0] > 2.5 {
                return None;
            }
            Some(Evaluation {
                value: (x[0] - 3.0).powi(2),
                gradient: vec![2.0 * (x[0] - 3.0)],
                hessian: vec![2.0],
            })
        };
        let out = minimise(&[0.0], &Settings::default(), f, |x| x[0] = x[0].min(2.0));
        assert!((out.x[0] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn spd_solve_and_inverse() {
        let a = [4.0, 1.0, 1.0, 3.0];
        let inv = inverse_spd(&a, 2).expect("spd");
        let id = [
            a[0] * inv[0] + a[1] * inv[2],
            a[0] * inv[1] + a[1] * inv[3],
            a[2] * inv[0] + a[3] * inv[2],
            a[2] * inv[1] + a[3] * inv[3],
        ];
        for (v, e) in id.iter().zip([1.0, 0.0, 0.0, 1.0]) {
            assert!((v - e).abs() < 1e-14);
        }
        assert!(solve_spd(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 2).is_none());
    }
}
