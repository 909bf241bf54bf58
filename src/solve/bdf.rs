//! Variable-order, variable-step BDF for the small dense systems of pharmacometric models
//! (`Method::Bdf`, the default for nonlinear models).
//!
//! The method is the one of diffsol's BDF and SciPy's `BDF` (both after Shampine and Reichelt,
//! "The MATLAB ODE suite", SIAM J Sci Comput 1997;18:1-22): the numerical differentiation
//! formulas (NDF, κ = −0.1850, −1/9, −0.0823, −0.0415, 0) of orders 1–5 in the
//! quasi-constant-step backward-difference form, a modified Newton iteration on `I − c·J`
//! with a Jacobian kept until Newton stops converging, the local error estimated from the
//! corrector's last difference, and an order/step change considered after `order + 1` steps of
//! equal size from the error estimates of orders `k − 1`, `k` and `k + 1`. Dense output
//! evaluates the interpolating polynomial held in the difference table.
//!
//! Choices within that method: the Newton convergence rate is carried from step to step (as in
//! CVODE), so a step whose first correction is already small enough takes one iteration. A
//! carried rate is only trusted while it is fresh: it is scaled up with `c` of the Newton matrix
//! `I − c·J` when the step grows, and it expires [`MAX_RATE_AGE`] accepted steps after it was
//! measured (the Jacobian is kept while Newton converges, so its true rate drifts with the
//! state; a stale, optimistic rate would accept unconverged corrections, whose error the local
//! error estimate does not see). The error weights `atol + rtol·|y|` are those of the predicted `y`, for Newton and the error test
//! alike; the step is left alone for factors between [`MAX_SHRINK`] and [`MIN_GROWTH`] (no
//! refactorisation for a negligible change, diffsol's dead zone with this crate's threshold),
//! changes by at least [`MIN_FACTOR`] and at most [`MAX_GROWTH`].
//!
//! Why not diffsol's BDF: the same method through diffsol's generic vector, operator and
//! linear-solver traits costs more per step than the arithmetic of a system of a few states.
//! Here every buffer is allocated once per patient, the difference table is one contiguous
//! array, and the Newton matrix is factorised by [`DenseLu`] straight from the JIT's sparse
//! Jacobian. On the trial benchmark (7-state PK + Friberg, BENCHMARKS.md section (d)) that is
//! 1.3–1.4× the patients per second of diffsol's BDF in the same run, at the same accuracy
//! against a tight reference. diffsol's BDF remains available as `Method::DiffsolBdf`.
//!
//! Dose events: the integration stops exactly at each discontinuity ([`super::driver`]
//! applies it), and the method restarts at first order from the edited state with a fresh
//! Jacobian and a Hairer–Wanner step estimate.

use super::driver::{Driver, FailureReason, SolveError, initial_step, same_time};
use super::lu::DenseLu;
use super::model::ModelFns;

/// Highest order.
const MAX_ORDER: usize = 5;

/// Newton iterations per attempt before the step is retried (fresh Jacobian, then half step).
const NEWTON_MAXITER: usize = 4;
/// Accepted steps after which a measured Newton convergence rate is no longer trusted for
/// accepting a step's first iteration (the state, and with it the true rate of the kept
/// Jacobian, drifts).
const MAX_RATE_AGE: usize = 10;
/// Smallest factor of a step change (after a failed error test or an order/step selection).
const MIN_FACTOR: f64 = 0.5;
/// Factors from [`MAX_SHRINK`] up to this keep the step (and the factorised Newton matrix)
/// unless the order changes.
const MIN_GROWTH: f64 = 1.2;
/// See [`MIN_GROWTH`].
const MAX_SHRINK: f64 = 0.9;
/// Largest growth factor per step change.
const MAX_GROWTH: f64 = 4.0;
/// NDF coefficients κ by order (0 unused).
const KAPPA: [f64; MAX_ORDER + 1] = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];

/// The integrator's state for one patient.
struct Bdf {
    n: usize,
    order: usize,
    /// Current step size (positive).
    h: f64,
    t: f64,
    /// Steps taken at the current size and order.
    n_equal: usize,
    /// Backward differences, `(MAX_ORDER + 3) × n`, row-major: row 0 is y.
    d: Vec<f64>,
    gamma: [f64; MAX_ORDER + 1],
    alpha: [f64; MAX_ORDER + 1],
    error_const: [f64; MAX_ORDER + 2],
    /// `R(order, 1)` by order (constant), for [`Bdf::change_d`].
    u: [[f64; 36]; MAX_ORDER + 1],
    newton_tol: f64,
    rtol: f64,
    atol: f64,
    /// Dense Jacobian, column-major.
    jac: Vec<f64>,
    /// Sparse Jacobian values from the model.
    jvals: Vec<f64>,
    /// The Jacobian was evaluated at the current step's start (no point in re-evaluating).
    jac_current: bool,
    /// `I − c·J` for `c = lu_c` is factorised in `lu`.
    lu: DenseLu,
    lu_c: Option<f64>,
    newton: Vec<f64>,
    /// Newton's convergence rate, carried from step to step (1 after a restart): with it the
    /// first iteration of a step can be accepted when its correction is already small enough
    /// (as in CVODE); a fresh estimate replaces it whenever a step iterates more than once,
    /// and [`Bdf::carried_rate`] decides how far it is trusted.
    rate: f64,
    /// The `c` of the Newton matrix `I − c·J` with which [`Bdf::rate`] was measured.
    rate_c: f64,
    /// Accepted steps since [`Bdf::rate`] was measured.
    rate_age: usize,
    // Work vectors.
    y_pred: Vec<f64>,
    psi: Vec<f64>,
    /// Reciprocal error weights `1 / (atol + rtol·|y|)` at the predicted `y`, for the Newton
    /// iteration and the error test of a step alike.
    inv_scale: Vec<f64>,
    y_new: Vec<f64>,
    corr: Vec<f64>,
    f: Vec<f64>,
    dy: Vec<f64>,
    tmp_d: Vec<f64>,
}

/// Root-mean-square norm of `coef · v · w` (`w`: reciprocal error weights).
fn rms(coef: f64, v: &[f64], w: &[f64]) -> f64 {
    let s: f64 = v
        .iter()
        .zip(w)
        .map(|(a, b)| {
            let e = coef * a * b;
            e * e
        })
        .sum();
    (s / v.len().max(1) as f64).sqrt()
}

/// `R(order, factor)` of the step-change formula (Shampine–Reichelt), row-major
/// `(order + 1)²`, written into `out`.
fn compute_r(order: usize, factor: f64, out: &mut [f64; 36]) {
    let m = order + 1;
    let mut mm = [0.0; 36];
    mm[..m].fill(1.0);
    for i in 1..m {
        for j in 1..m {
            mm[i * m + j] = (i as f64 - 1.0 - factor * j as f64) / i as f64;
        }
    }
    // Cumulative product down the rows.
    out[..m].copy_from_slice(&mm[..m]);
    for i in 1..m {
        for j in 0..m {
            out[i * m + j] = out[(i - 1) * m + j] * mm[i * m + j];
        }
    }
}

impl Bdf {
    fn new(n: usize, nnz: usize, rtol: f64, atol: f64) -> Bdf {
        let mut gamma = [0.0; MAX_ORDER + 1];
        for k in 1..=MAX_ORDER {
            gamma[k] = gamma[k - 1] + 1.0 / k as f64;
        }
        let mut alpha = [0.0; MAX_ORDER + 1];
        for k in 0..=MAX_ORDER {
            alpha[k] = (1.0 - KAPPA[k]) * gamma[k];
        }
        let mut error_const = [0.0; MAX_ORDER + 2];
        for k in 0..=MAX_ORDER {
            error_const[k] = KAPPA[k] * gamma[k] + 1.0 / (k as f64 + 1.0);
        }
        error_const[MAX_ORDER + 1] = 1.0 / (MAX_ORDER as f64 + 2.0);
        let mut u = [[0.0; 36]; MAX_ORDER + 1];
        for (order, u) in u.iter_mut().enumerate() {
            compute_r(order, 1.0, u);
        }
        Bdf {
            n,
            order: 1,
            h: 0.0,
            t: 0.0,
            n_equal: 0,
            d: vec![0.0; (MAX_ORDER + 3) * n],
            gamma,
            alpha,
            error_const,
            u,
            newton_tol: (10.0 * f64::EPSILON / rtol).max(0.03f64.min(rtol.sqrt())),
            rtol,
            atol,
            jac: vec![0.0; n * n],
            jvals: vec![0.0; nnz],
            jac_current: false,
            lu: DenseLu::default(),
            lu_c: None,
            newton: vec![0.0; n * n],
            rate: 1.0,
            rate_c: 1.0,
            rate_age: usize::MAX,
            y_pred: vec![0.0; n],
            psi: vec![0.0; n],
            inv_scale: vec![0.0; n],
            y_new: vec![0.0; n],
            corr: vec![0.0; n],
            f: vec![0.0; n],
            dy: vec![0.0; n],
            tmp_d: vec![0.0; (MAX_ORDER + 1) * n],
        }
    }

    /// The current solution (row 0 of the difference table).
    fn y(&self) -> &[f64] {
        &self.d[..self.n]
    }

    /// Rescales the difference table of the current order to a step `factor` times the current
    /// one (the same interpolating polynomial, new spacing).
    fn change_d(&mut self, factor: f64) {
        let (n, order) = (self.n, self.order);
        let m = order + 1;
        let mut r = [0.0; 36];
        compute_r(order, factor, &mut r);
        let u = &self.u[order];
        // RU = R·U; D[:m] = RUᵀ·D[:m].
        let mut ru = [0.0; 36];
        for i in 0..m {
            for j in 0..m {
                let mut s = 0.0;
                for k in 0..m {
                    s += r[i * m + k] * u[k * m + j];
                }
                ru[i * m + j] = s;
            }
        }
        let tmp = &mut self.tmp_d[..m * n];
        tmp.fill(0.0);
        for j in 0..m {
            for k in 0..m {
                let c = ru[k * m + j];
                if c != 0.0 {
                    let (dst, src) = (&mut tmp[j * n..(j + 1) * n], &self.d[k * n..(k + 1) * n]);
                    for (a, b) in dst.iter_mut().zip(src) {
                        *a += c * b;
                    }
                }
            }
        }
        self.d[..m * n].copy_from_slice(tmp);
        self.h *= factor;
        self.n_equal = 0;
        self.lu_c = None;
    }

    /// Evaluates the Jacobian at `(t, y)` into the dense column-major matrix; infinite slopes
    /// (x^0.4 at 0) are dropped from the Newton matrix only (as in [`super::diffsol_methods`]).
    fn eval_jac<F: ModelFns>(&mut self, drv: &Driver<'_, F>, t: f64, y: &[f64]) {
        let m = drv.model.module();
        let n = self.n;
        self.jac.fill(0.0);
        if drv
            .model
            .jacobian(t, y, drv.params, &mut self.jvals)
            .is_err()
        {
            self.jvals.fill(f64::NAN);
        }
        for (k, &(r, c)) in m.sparsity.iter().enumerate() {
            let v = self.jvals[k];
            let v = if v.is_finite() { v } else { 0.0 };
            self.jac[c as usize * n + r as usize] += v;
        }
        self.jac_current = true;
        self.lu_c = None;
    }

    /// Factorises `I − c·J` unless it already is.
    fn factor(&mut self, c: f64) -> bool {
        if self.lu_c == Some(c) {
            return true;
        }
        let n = self.n;
        for (dst, src) in self.newton.iter_mut().zip(&self.jac) {
            *dst = -c * src;
        }
        for i in 0..n {
            self.newton[i * n + i] += 1.0;
        }
        let ok = self.lu.factorize(n, &self.newton);
        self.lu_c = ok.then_some(c);
        ok
    }

    /// Restarts at first order from `y` at `t` with slope `f` and step `h`.
    fn restart(&mut self, t: f64, y: &[f64], f: &[f64], h: f64) {
        let n = self.n;
        self.t = t;
        self.h = h;
        self.order = 1;
        self.n_equal = 0;
        self.d.fill(0.0);
        self.d[..n].copy_from_slice(y);
        for (d, fi) in self.d[n..2 * n].iter_mut().zip(f) {
            *d = fi * h;
        }
        self.lu_c = None;
        self.jac_current = false;
        self.rate = 1.0;
        self.rate_age = usize::MAX;
    }

    /// The convergence rate assumed for the first iteration of a step with Newton matrix
    /// `I − c·J`: the last measured rate, scaled up by the growth of `c` since (the rate of a
    /// modified Newton iteration grows about in proportion to `c`), or 1 (no first-iteration
    /// acceptance) when it was measured more than [`MAX_RATE_AGE`] steps ago.
    fn carried_rate(&self, c: f64) -> f64 {
        if self.rate_age >= MAX_RATE_AGE {
            return 1.0;
        }
        self.rate * (c / self.rate_c).max(1.0)
    }

    /// The modified Newton iteration for the corrector. Returns (converged, iterations).
    fn newton<F: ModelFns>(&mut self, drv: &Driver<'_, F>, t_new: f64, c: f64) -> (bool, usize) {
        let n = self.n;
        self.y_new.copy_from_slice(&self.y_pred);
        self.corr.fill(0.0);
        let mut dy_norm_old: Option<f64> = None;
        for k in 0..NEWTON_MAXITER {
            drv.eval_f(t_new, &self.y_new, &mut self.f);
            if self.f.iter().any(|v| !v.is_finite()) {
                return (false, k + 1);
            }
            for i in 0..n {
                self.dy[i] = c * self.f[i] - self.psi[i] - self.corr[i];
            }
            if !self.lu.solve(&mut self.dy) {
                return (false, k + 1);
            }
            let dy_norm = rms(1.0, &self.dy, &self.inv_scale);
            let rate = dy_norm_old.map(|o: f64| dy_norm / o);
            if let Some(rate) = rate
                && (rate >= 1.0
                    || rate.powi((NEWTON_MAXITER - k) as i32) / (1.0 - rate) * dy_norm
                        > self.newton_tol)
            {
                self.rate = 1.0;
                return (false, k + 1);
            }
            for i in 0..n {
                self.y_new[i] += self.dy[i];
                self.corr[i] += self.dy[i];
            }
            let r = match rate {
                Some(r) => {
                    self.rate = r;
                    self.rate_c = c;
                    self.rate_age = 0;
                    r
                }
                None => self.carried_rate(c),
            };
            if dy_norm == 0.0 || (r < 1.0 && r / (1.0 - r) * dy_norm < self.newton_tol) {
                return (true, k + 1);
            }
            dy_norm_old = Some(dy_norm);
        }
        (false, NEWTON_MAXITER)
    }

    /// One accepted step towards `t_stop` (never past it). Returns the step's start time.
    fn step<F: ModelFns>(
        &mut self,
        drv: &Driver<'_, F>,
        t_stop: f64,
    ) -> Result<f64, FailureReason> {
        let n = self.n;
        let t = self.t;
        let min_step = 10.0 * (next_up(t.abs()) - t.abs());
        if self.h < min_step {
            self.change_d(min_step / self.h);
        }
        loop {
            if self.h < min_step {
                return Err(FailureReason::Solver(format!(
                    "step size too small ({:e}) at t = {t}",
                    self.h
                )));
            }
            let mut t_new = t + self.h;
            if t_new > t_stop || same_time(t_new, t_stop) {
                t_new = t_stop;
                let factor = (t_new - t) / self.h;
                if factor != 1.0 {
                    self.change_d(factor);
                }
            }
            // The difference table is scaled to `self.h`; `t_new − t` differs from it by the
            // rounding of `t_new` (up to an ulp of `t`), which must not enter the corrector.
            let h = self.h;
            let order = self.order;
            // Predictor and the history term of the corrector.
            self.y_pred.fill(0.0);
            self.psi.fill(0.0);
            for k in 0..=order {
                let row = &self.d[k * n..(k + 1) * n];
                for (p, v) in self.y_pred.iter_mut().zip(row) {
                    *p += v;
                }
                if k >= 1 {
                    let g = self.gamma[k] / self.alpha[order];
                    for (p, v) in self.psi.iter_mut().zip(row) {
                        *p += g * v;
                    }
                }
            }
            for (w, y) in self.inv_scale.iter_mut().zip(&self.y_pred) {
                *w = 1.0 / (self.atol + self.rtol * y.abs());
            }
            let c = h / self.alpha[order];
            let (converged, iters) = loop {
                if !self.factor(c) {
                    if self.jac_current {
                        break (false, NEWTON_MAXITER);
                    }
                    let yp = std::mem::take(&mut self.y_pred);
                    self.eval_jac(drv, t_new, &yp);
                    self.y_pred = yp;
                    continue;
                }
                let (ok, it) = self.newton(drv, t_new, c);
                if ok || self.jac_current {
                    break (ok, it);
                }
                let yp = std::mem::take(&mut self.y_pred);
                self.eval_jac(drv, t_new, &yp);
                self.y_pred = yp;
            };
            if !converged {
                self.change_d(0.5);
                continue;
            }
            let safety =
                0.9 * (2 * NEWTON_MAXITER + 1) as f64 / (2 * NEWTON_MAXITER + iters) as f64;
            let err = rms(self.error_const[order], &self.corr, &self.inv_scale);
            if err > 1.0 {
                let factor = MIN_FACTOR.max(safety * err.powf(-1.0 / (order as f64 + 1.0)));
                self.change_d(factor);
                continue;
            }

            // Accepted: update the differences (D^{j+1} y_n = D^j y_n − D^j y_{n−1}).
            self.n_equal += 1;
            self.rate_age = self.rate_age.saturating_add(1);
            self.t = t_new;
            self.jac_current = false;
            {
                let (_, tail) = self.d.split_at_mut((order + 1) * n);
                let (d1, d2) = tail.split_at_mut(n);
                for ((a, b), c) in d2[..n].iter_mut().zip(d1.iter_mut()).zip(&self.corr) {
                    *a = c - *b;
                    *b = *c;
                }
            }
            // Rows order..0, each += the row below it.
            for k in (0..=order).rev() {
                let (row, below) = self.d[k * n..(k + 2) * n].split_at_mut(n);
                for (a, b) in row.iter_mut().zip(below.iter()) {
                    *a += *b;
                }
            }
            if self.n_equal > order {
                self.adapt(err, safety);
            }
            return Ok(t);
        }
    }

    /// Order and step selection after `order + 1` equal steps.
    fn adapt(&mut self, err: f64, safety: f64) {
        let (n, order) = (self.n, self.order);
        let norm_row =
            |row: usize, coef: f64| rms(coef, &self.d[row * n..(row + 1) * n], &self.inv_scale);
        let err_m = if order > 1 {
            norm_row(order, self.error_const[order - 1])
        } else {
            f64::INFINITY
        };
        let err_p = if order < MAX_ORDER {
            norm_row(order + 2, self.error_const[order + 1])
        } else {
            f64::INFINITY
        };
        let factors = [
            err_m.powf(-1.0 / order as f64),
            err.powf(-1.0 / (order as f64 + 1.0)),
            err_p.powf(-1.0 / (order as f64 + 2.0)),
        ];
        let mut best = 0;
        for k in 1..3 {
            if factors[k] > factors[best] {
                best = k;
            }
        }
        let new_order = order + best - 1;
        let mut factor = (safety * factors[best]).clamp(MIN_FACTOR, MAX_GROWTH);
        if !factor.is_finite() {
            factor = MAX_GROWTH;
        }
        if new_order != order {
            self.order = new_order;
            self.change_d(factor);
        } else if factor > MAX_SHRINK && factor < MIN_GROWTH {
            self.n_equal = 0;
        } else {
            self.change_d(factor);
        }
    }

    /// The interpolating polynomial of the last step at `t` (between the step's start and end).
    fn interpolate(&self, t: f64, out: &mut [f64]) {
        let n = self.n;
        out.copy_from_slice(&self.d[..n]);
        let mut p = 1.0;
        for j in 0..self.order {
            let shift = self.t - self.h * j as f64;
            p *= (t - shift) / (self.h * (j as f64 + 1.0));
            let row = &self.d[(j + 1) * n..(j + 2) * n];
            for (o, v) in out.iter_mut().zip(row) {
                *o += p * v;
            }
        }
    }
}

/// The next representable number above a non-negative `x`.
fn next_up(x: f64) -> f64 {
    f64::from_bits(x.to_bits() + 1)
}

/// Integrates from `y0` at `t0` (events at `t0` applied, grid points at `t0` emitted) to
/// `t_end`, emitting grid points and applying events on the way.
pub(super) fn drive<F: ModelFns>(
    drv: &mut Driver<'_, F>,
    y0: &[f64],
    t0: f64,
    h0: f64,
    t_end: f64,
) -> Result<(), SolveError> {
    let m = drv.model.module();
    let n = m.n_states();
    let mut s = Bdf::new(n, m.sparsity.len(), drv.opts.rtol, drv.opts.atol);
    let mut f0 = vec![0.0; n];
    drv.eval_f(t0, y0, &mut f0);
    s.restart(t0, y0, &f0, h0);
    s.eval_jac(drv, t0, y0);
    let mut ybuf = vec![0.0; n];
    loop {
        let t_stop = match drv.events.get(drv.ei) {
            Some(e) if e.time < t_end && !same_time(e.time, t_end) => e.time,
            _ => t_end,
        };
        while s.t < t_stop && !same_time(s.t, t_stop) {
            drv.out.steps += 1;
            if drv.out.steps > drv.opts.max_steps {
                return Err(drv.failure(
                    s.t,
                    s.y(),
                    FailureReason::TooManySteps(drv.opts.max_steps),
                ));
            }
            let t_old = match s.step(drv, t_stop) {
                Ok(t) => t,
                Err(reason) => return Err(drv.failure(s.t, s.y(), reason)),
            };
            if s.y().iter().any(|v| !v.is_finite()) {
                return Err(drv.failure(s.t, s.y(), FailureReason::NonFinite));
            }
            let t = s.t;
            if let Some(d) = drv.dense.as_mut() {
                d.add_newton(t_old, t, s.order, s.h, &s.d);
            }
            while let Some(&g) = drv.grid.get(drv.gi) {
                if g < t && g < t_stop && !same_time(g, t_stop) && g >= t_old {
                    s.interpolate(g, &mut ybuf);
                    drv.emit(g, &ybuf);
                    drv.gi += 1;
                } else {
                    break;
                }
            }
        }
        // At a discontinuity or the end.
        let t_here = t_stop;
        ybuf.copy_from_slice(s.y());
        let at_event = drv
            .events
            .get(drv.ei)
            .is_some_and(|e| same_time(e.time, t_stop) || e.time <= t_stop);
        if at_event {
            drv.apply_events(t_here, &mut ybuf);
            let mut f = vec![0.0; n];
            drv.eval_f(t_here, &ybuf, &mut f);
            let h = initial_step(&ybuf, &f, drv.opts.atol, drv.opts.rtol);
            s.restart(t_here, &ybuf, &f, h);
            s.eval_jac(drv, t_here, &ybuf);
        }
        drv.emit_until(t_here, &ybuf, true);
        if t_here >= t_end || same_time(t_here, t_end) || drv.gi >= drv.grid.len() {
            return Ok(());
        }
    }
}
