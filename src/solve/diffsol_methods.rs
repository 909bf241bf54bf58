//! diffsol's methods, driven by the solver's [`Driver`]: [`Method::DiffsolBdf`] (diffsol's
//! variable-order BDF), [`Method::Esdirk34`] (ESDIRK3(4)) and [`Method::TrBdf2`] (TR-BDF2).
//!
//! The problem is built once per patient and integrated with diffsol's stop time set at each
//! discontinuity; there the driver edits the solver state in place (bolus amounts added to `y`,
//! the infusion input changed, `dy` recomputed, a fresh step-size estimate) and the method
//! restarts at first order from the edited state. The problem, the solver, its linear solver and
//! its Jacobian storage are reused, nothing is rebuilt. Grid values between steps come from
//! diffsol's dense output.
//!
//! Linear algebra: the `nalgebra` backend only, and the Newton matrix factorised by [`DenseLu`]
//! (a contiguous dense LU whose solves are not one chain of dependent additions; 2–6 % faster
//! BDF solves than with diffsol's nalgebra LU on a 7-state model). Pharmacometric models have a
//! few to a few dozen states, where dense LU beats sparse factorisation and nalgebra is the
//! lighter dependency; faer would add nothing here. diffsol's BDF step-size controller acts on
//! growth from 1.2× up to 4× per step ([`BDF_MIN_GROWTH`], [`BDF_MAX_GROWTH`]) instead of
//! diffsol's fixed doubling. The Jacobian is the IR's symbolic one: diffsol asks for `J·v`,
//! which is served from one evaluation of the JIT'd Jacobian cached per `(t, y)`.

use std::cell::RefCell;

use diffsol::OdeSolverStopReason;
use diffsol::{NalgebraMat, OdeBuilder, OdeEquations, OdeSolverMethod, Vector};

use super::driver::{Driver, FailureReason, Method, SolveError, initial_step, same_time};
use super::lu::DenseLu;
use super::model::ModelFns;

type Mat = NalgebraMat<f64>;
type Lu = DenseLu;

/// BDF step-size controller: the smallest growth factor acted on. diffsol's default (2) leaves
/// the step unchanged until it could double; on long smooth stretches that keeps BDF at up to
/// half the step the error test allows. 1.2 (as in CVODE's threshold of 1.5, a little finer)
/// costs an extra Newton-matrix factorisation per change, which [`DenseLu`] makes cheap. With
/// [`BDF_MAX_GROWTH`], 24 % fewer steps on the Friberg trial model at the same error against a
/// tight-tolerance reference (BENCHMARKS.md, section (d)).
const BDF_MIN_GROWTH: f64 = 1.2;

/// BDF step-size controller: the largest growth factor per step (diffsol's default is 2). 4 lets
/// the step recover faster after the first-order restart at each dose.
const BDF_MAX_GROWTH: f64 = 4.0;

struct JacCache {
    valid: bool,
    t: f64,
    y: Vec<f64>,
    vals: Vec<f64>,
}

/// Integrates with the diffsol method of `drv`'s options from `y0` at `t0` (events at `t0`
/// applied, grid points at `t0` emitted, `h0` the first step-size estimate) to `t_end`, emitting
/// grid points and applying events on the way.
pub(super) fn drive<F: ModelFns>(
    drv: &mut Driver<'_, F>,
    y0: &[f64],
    t0: f64,
    h0: f64,
    t_end: f64,
) -> Result<(), SolveError> {
    let (model, params, rates, opts) = (drv.model, drv.params, drv.rates, drv.opts);
    let m = model.module();
    let n = m.n_states();
    let cache = RefCell::new(JacCache {
        valid: false,
        t: f64::NAN,
        y: vec![0.0; n],
        vals: vec![0.0; m.sparsity.len()],
    });
    let sparsity = &m.sparsity;
    let problem = OdeBuilder::<Mat>::new()
        .t0(t0)
        .h0(h0)
        .rtol(opts.rtol)
        .atol([opts.atol])
        .p(params.iter().copied())
        .rhs_implicit(
            |x: &[f64], p: &[f64], t: f64, y: &mut [f64]| {
                if model.rhs(t, x, p, y).is_err() {
                    y.fill(f64::NAN);
                }
                for (yi, r) in y.iter_mut().zip(rates.borrow().iter()) {
                    *yi += r;
                }
            },
            |x: &[f64], p: &[f64], t: f64, v: &[f64], y: &mut [f64]| {
                let mut c = cache.borrow_mut();
                if !(c.valid && c.t == t && c.y.as_slice() == x) {
                    c.y.copy_from_slice(x);
                    c.t = t;
                    let c = &mut *c;
                    c.valid = model.jacobian(t, x, p, &mut c.vals).is_ok();
                    if !c.valid {
                        c.vals.fill(f64::NAN);
                    } else {
                        // The Jacobian only shapes the Newton matrix; an infinite slope (such as
                        // d/dx x^0.4 at x = 0, common in Hill and Emax terms) would stall Newton
                        // at the first step. Such entries are dropped; the residual stays exact,
                        // so accuracy is still controlled by the error estimate.
                        for v in c.vals.iter_mut().filter(|v| !v.is_finite()) {
                            *v = 0.0;
                        }
                    }
                }
                y.fill(0.0);
                for (k, &(r, col)) in sparsity.iter().enumerate() {
                    y[r as usize] += c.vals[k] * v[col as usize];
                }
            },
        )
        .init(
            |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(y0),
            n,
        )
        .build()
        .map_err(|e| drv.failure(t0, y0, FailureReason::Solver(e.to_string())))?;

    match opts.method {
        Method::DiffsolBdf | Method::Bdf | Method::Auto | Method::Exact => {
            let mut s = problem
                .bdf::<Lu>()
                .map_err(|e| drv.failure(t0, y0, FailureReason::Solver(e.to_string())))?;
            let c = s.config_mut();
            c.minimum_timestep_growth = BDF_MIN_GROWTH;
            c.maximum_timestep_growth = BDF_MAX_GROWTH;
            drv.drive_solver(s, t_end)?;
        }
        Method::Esdirk34 => {
            let s = problem
                .esdirk34::<Lu>()
                .map_err(|e| drv.failure(t0, y0, FailureReason::Solver(e.to_string())))?;
            drv.drive_solver(s, t_end)?;
        }
        Method::TrBdf2 => {
            let s = problem
                .tr_bdf2::<Lu>()
                .map_err(|e| drv.failure(t0, y0, FailureReason::Solver(e.to_string())))?;
            drv.drive_solver(s, t_end)?;
        }
    }
    Ok(())
}

impl<F: ModelFns> Driver<'_, F> {
    /// Steps `solver` from one discontinuity to the next up to `t_end`, emitting the grid from
    /// its dense output and applying the events in its state.
    fn drive_solver<'a, Eqn, S>(&mut self, mut solver: S, t_end: f64) -> Result<(), SolveError>
    where
        Eqn: OdeEquations<T = f64> + 'a,
        S: OdeSolverMethod<'a, Eqn>,
    {
        let mut tmp = solver.state().y.clone();
        let n = self.out.n_states;
        loop {
            let t_now = solver.state().t;
            let t_stop = match self.events.get(self.ei) {
                Some(e) if e.time < t_end && !same_time(e.time, t_end) => e.time,
                _ => t_end,
            };
            solver
                .set_stop_time(t_stop)
                .map_err(|e| self.fail_at(&solver, FailureReason::Solver(e.to_string())))?;
            let mut t_prev = t_now;
            loop {
                self.out.steps += 1;
                if self.out.steps > self.opts.max_steps {
                    return Err(
                        self.fail_at(&solver, FailureReason::TooManySteps(self.opts.max_steps))
                    );
                }
                let reason = solver
                    .step()
                    .map_err(|e| self.fail_at(&solver, FailureReason::Solver(e.to_string())))?;
                let st = solver.state();
                let t = st.t;
                for i in 0..n {
                    self.ybuf[i] = st.y.get_index(i);
                }
                if self.ybuf.iter().any(|v| !v.is_finite()) {
                    return Err(self.fail_at(&solver, FailureReason::NonFinite));
                }
                if let Some(d) = self.dense.as_mut() {
                    d.add_poly(t_prev, t, 6, |tt, out| {
                        match solver.interpolate_inplace(tt, &mut tmp) {
                            Ok(()) => {
                                for (i, o) in out.iter_mut().enumerate() {
                                    *o = tmp.get_index(i);
                                }
                            }
                            Err(_) => out.fill(f64::NAN),
                        }
                    });
                }
                t_prev = t;
                while let Some(&g) = self.grid.get(self.gi) {
                    if g < t && g < t_stop && !same_time(g, t_stop) && g >= t_now {
                        solver.interpolate_inplace(g, &mut tmp).map_err(|e| {
                            self.fail_at(&solver, FailureReason::Solver(e.to_string()))
                        })?;
                        for i in 0..n {
                            self.fbuf[i] = tmp.get_index(i);
                        }
                        let yv = std::mem::take(&mut self.fbuf);
                        self.emit(g, &yv);
                        self.fbuf = yv;
                        self.gi += 1;
                    } else {
                        break;
                    }
                }
                if matches!(reason, OdeSolverStopReason::TstopReached) {
                    break;
                }
            }
            // At a discontinuity or the end.
            let mut y = std::mem::take(&mut self.ybuf);
            let at_event = self
                .events
                .get(self.ei)
                .is_some_and(|e| same_time(e.time, t_stop) || e.time <= t_stop);
            if at_event {
                self.apply_events(t_stop, &mut y);
                let mut f = vec![0.0; n];
                self.eval_f(t_stop, &y, &mut f);
                let h = initial_step(&y, &f, self.opts.atol, self.opts.rtol);
                let st = solver.state_mut();
                for i in 0..n {
                    st.y.set_index(i, y[i]);
                    st.dy.set_index(i, f[i]);
                }
                *st.t = t_stop;
                *st.h = h;
            }
            self.emit_until(t_stop, &y, true);
            self.ybuf = y;
            if t_stop >= t_end || same_time(t_stop, t_end) || self.gi >= self.grid.len() {
                return Ok(());
            }
        }
    }

    /// The failure report at the solver's current time and state.
    fn fail_at<'a, Eqn, S>(&self, solver: &S, reason: FailureReason) -> SolveError
    where
        Eqn: OdeEquations<T = f64> + 'a,
        S: OdeSolverMethod<'a, Eqn>,
    {
        let st = solver.state();
        let y: Vec<f64> = (0..self.out.n_states).map(|i| st.y.get_index(i)).collect();
        self.failure(st.t, &y, reason)
    }
}
