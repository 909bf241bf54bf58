//! The shared kernel of the solvers: options, results and errors, and the `Driver` that every
//! method uses for dose events and grid output.
//!
//! [`SolveOptions`] (method, tolerances, step limit), [`Simulation`] (one row per grid time),
//! [`SolveError`] and [`Failure`] (what a modeller needs to find the cause of a failed solve) are
//! the solver's public types. `prepare` checks the grid and computes what a solve needs once
//! per patient: the parameters (`setup`), the regimen expanded to sorted discontinuities
//! ([`super::dosing`]) and the initial state (`init`).
//!
//! How a method uses the `Driver`: it integrates from one discontinuity to the next (diffsol's
//! methods with its stop time; `super::bdf` and [`super::linear`] stop there themselves); at
//! each one `Driver::apply_events` edits the state (bolus amounts added to `y`) and the
//! piecewise-constant infusion input, and the method carries on from the edited state with
//! `dy` recomputed by `Driver::eval_f` and a fresh step-size estimate (`initial_step`).
//! Infusion rates are added to `f` by the solver (they are not part of the IR). Grid values
//! between steps come from the method's dense output (interpolation within the step); grid
//! points exactly at a discontinuity report the state *after* it (right-continuous, so a sample
//! at a bolus time includes the bolus). The driver also keeps the cumulative dosed amount for
//! mass-balance checks and builds the [`Failure`] report.

use std::cell::RefCell;

use super::dense::DenseOutput;
use super::dosing::{DoseError, Event, EventKind, Regimen, expand};
use super::model::ModelFns;
use crate::ir::LengthError;
use crate::ir::interp::check_len;

/// The integration method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// [`Method::Exact`] when the model is linear ([`super::linear::is_linear`]), else
    /// [`Method::Bdf`]: the default.
    Auto,
    /// Exact solution of a linear time-invariant model by matrix exponentials
    /// ([`super::linear`]); a nonlinear model is a [`SolveError::BadOptions`]. Ignores the
    /// tolerances (the result is exact to rounding).
    Exact,
    /// Variable-order BDF (NDF orders 1–5) for small dense systems (the `bdf` module): best for
    /// long smooth stretches of nonlinear models; the default for them.
    Bdf,
    /// diffsol's variable-order BDF (the same method family as [`Method::Bdf`], through
    /// diffsol's generic vector and operator traits): a second implementation to compare with.
    DiffsolBdf,
    /// ESDIRK3(4), an L-stable one-step method: restarts cost nothing, good for frequent doses.
    Esdirk34,
    /// TR-BDF2, a cheap second-order L-stable one-step method.
    TrBdf2,
}

/// Tolerances and method.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveOptions {
    /// Integration method (default [`Method::Auto`]: exact for linear models, else BDF).
    pub method: Method,
    /// Relative tolerance (default 1e-6).
    pub rtol: f64,
    /// Absolute tolerance for every state, in its amount unit (default 1e-9).
    pub atol: f64,
    /// Maximum number of accepted-or-rejected solver steps (default 1 000 000).
    pub max_steps: usize,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            method: Method::Auto,
            rtol: 1e-6,
            atol: 1e-9,
            max_steps: 1_000_000,
        }
    }
}

/// The result of a solve: one row per grid time.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// The sampling grid.
    pub times: Vec<f64>,
    /// Row-major `times.len() × n_states`.
    pub states: Vec<f64>,
    /// Row-major `times.len() × n_observables`.
    pub observables: Vec<f64>,
    /// Cumulative bioavailable amount dosed up to each grid time (bolus amounts plus infused
    /// amounts), for mass-balance checks.
    pub dosed: Vec<f64>,
    /// Number of states per row.
    pub n_states: usize,
    /// Number of observables per row.
    pub n_observables: usize,
    /// The parameter values used (named then hoisted slots).
    pub params: Vec<f64>,
    /// Solver steps taken.
    pub steps: usize,
}

impl Simulation {
    /// State `i` at grid row `k`.
    pub fn state(&self, k: usize, i: usize) -> f64 {
        self.states[k * self.n_states + i]
    }
    /// Observable `j` at grid row `k`.
    pub fn observable(&self, k: usize, j: usize) -> f64 {
        self.observables[k * self.n_observables + j]
    }
    /// The time course of observable `j`.
    pub fn observable_series(&self, j: usize) -> Vec<f64> {
        (0..self.times.len())
            .map(|k| self.observable(k, j))
            .collect()
    }
    /// The time course of state `i`.
    pub fn state_series(&self, i: usize) -> Vec<f64> {
        (0..self.times.len()).map(|k| self.state(k, i)).collect()
    }
}

/// Why a solve stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureReason {
    /// A state or derivative became NaN or infinite.
    NonFinite,
    /// A parameter computed by `setup` is NaN or infinite.
    NonFiniteParameter,
    /// The solver gave up (step size too small, Newton failure, …); diffsol's message.
    Solver(String),
    /// More than `max_steps` steps.
    TooManySteps(usize),
}

/// A failed solve, with what a modeller needs to find the cause.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Time reached.
    pub time: f64,
    /// The state that diverged (first non-finite one, else the one changing fastest relative
    /// to its tolerance) — or the offending parameter for [`FailureReason::NonFiniteParameter`].
    pub state: String,
    /// Its last value.
    pub value: f64,
    /// The model's named parameters and their values.
    pub params: Vec<(String, f64)>,
    /// Why.
    pub reason: FailureReason,
}

/// Everything that can go wrong in [`simulate`](super::simulate).
#[derive(Clone, Debug, PartialEq)]
pub enum SolveError {
    /// An input buffer has the wrong length.
    Length(LengthError),
    /// A dose record is invalid.
    Dose(DoseError),
    /// The grid is empty, unsorted or not finite.
    BadGrid(&'static str),
    /// A tolerance or limit is invalid.
    BadOptions(&'static str),
    /// The integration failed.
    Failed(Box<Failure>),
    /// No periodic steady state was found for a steady-state dose (neither Newton's method nor
    /// repeated intervals converged to the solver tolerance).
    SteadyState {
        /// The dose time (h).
        time: f64,
        /// The dosing interval (h).
        interval: f64,
    },
}

impl std::fmt::Display for SolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SolveError::Length(e) => write!(f, "{e}"),
            SolveError::Dose(e) => write!(f, "{e}"),
            SolveError::BadGrid(m) => write!(f, "bad sampling grid: {m}"),
            SolveError::BadOptions(m) => write!(f, "bad solver options: {m}"),
            SolveError::SteadyState { time, interval } => write!(
                f,
                "no steady state for the dose at t = {time} h every {interval} h: neither Newton's \
                 method nor {} repeated intervals converged to the solver tolerance (the model may \
                 have no periodic steady state at this dose, e.g. elimination saturated below \
                 the dosing rate)",
                super::piecewise::REPEATED_INTERVALS
            ),
            SolveError::Failed(fl) => {
                let why = match &fl.reason {
                    FailureReason::NonFinite => "a value became NaN or infinite".to_string(),
                    FailureReason::NonFiniteParameter => "a parameter is NaN or infinite".into(),
                    FailureReason::Solver(m) => m.clone(),
                    FailureReason::TooManySteps(n) => format!("more than {n} steps"),
                };
                let ps: Vec<String> = fl
                    .params
                    .iter()
                    .map(|(n, v)| format!("{n} = {v}"))
                    .collect();
                write!(
                    f,
                    "solve failed at t = {} ({why}); `{}` = {}; parameters: {}",
                    fl.time,
                    fl.state,
                    fl.value,
                    ps.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for SolveError {}

impl From<LengthError> for SolveError {
    fn from(e: LengthError) -> Self {
        SolveError::Length(e)
    }
}

impl From<DoseError> for SolveError {
    fn from(e: DoseError) -> Self {
        SolveError::Dose(e)
    }
}

/// Two times closer than this (relative) are the same instant; an infinite time (the open start
/// of a piecewise solve) is the same only as itself.
pub fn same_time(a: f64, b: f64) -> bool {
    if !(a.is_finite() && b.is_finite()) {
        return a == b;
    }
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// Hairer–Wanner's first guess for a step size after a (re)start.
pub(super) fn initial_step(y: &[f64], f: &[f64], atol: f64, rtol: f64) -> f64 {
    let n = y.len().max(1) as f64;
    let (mut d0, mut d1) = (0.0, 0.0);
    for (yi, fi) in y.iter().zip(f) {
        let w = atol + rtol * yi.abs();
        d0 += (yi / w).powi(2);
        d1 += (fi / w).powi(2);
    }
    let (d0, d1) = ((d0 / n).sqrt(), (d1 / n).sqrt());
    if d0 < 1e-5 || d1 < 1e-5 || !d0.is_finite() || !d1.is_finite() {
        1e-6
    } else {
        0.01 * d0 / d1
    }
}

/// Checks the tolerances of `opts`.
pub(super) fn check_tolerances(opts: &SolveOptions) -> Result<(), SolveError> {
    if !(opts.rtol > 0.0 && opts.rtol.is_finite()) {
        return Err(SolveError::BadOptions("rtol must be positive and finite"));
    }
    if !(opts.atol > 0.0 && opts.atol.is_finite()) {
        return Err(SolveError::BadOptions("atol must be positive and finite"));
    }
    Ok(())
}

/// What a solve computes once per patient before the first step (see [`prepare`]); a
/// [`Driver`] borrows it.
pub(super) struct Patient {
    /// Parameter values (named then hoisted slots).
    pub(super) params: Vec<f64>,
    /// The regimen's discontinuities, sorted by time.
    pub(super) events: Vec<Event>,
    /// The current infusion input per state, read by the methods' right-hand sides.
    rates: RefCell<Vec<f64>>,
    /// The start: the first dose or the first grid time, whichever is earlier.
    pub(super) t0: f64,
    /// The last grid time.
    pub(super) t_end: f64,
}

/// Checks a sampling grid: non-empty, finite, sorted. Returns its first and last time.
pub(super) fn check_grid(grid: &[f64]) -> Result<(f64, f64), SolveError> {
    let (Some(&g0), Some(&t_end)) = (grid.first(), grid.last()) else {
        return Err(SolveError::BadGrid("empty"));
    };
    if grid.iter().any(|t| !t.is_finite()) {
        return Err(SolveError::BadGrid("not finite"));
    }
    if grid.windows(2).any(|w| w[1] < w[0]) {
        return Err(SolveError::BadGrid("not sorted"));
    }
    Ok((g0, t_end))
}

/// The named (not hoisted) parameters and their values, for failure reports.
fn named_params(module: &crate::ir::Module, params: &[f64]) -> Vec<(String, f64)> {
    module
        .meta
        .params
        .iter()
        .zip(params)
        .filter(|(i, _)| !i.hoisted)
        .map(|(i, v)| (i.name.clone(), *v))
        .collect()
}

/// Checks the parameters and the grid, expands the regimen and computes
/// the initial state (before the events at `t0`, which [`Driver::begin`] applies).
pub(super) fn prepare<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    regimen: &Regimen,
    grid: &[f64],
) -> Result<(Patient, Vec<f64>), SolveError> {
    let m = model.module();
    let (g0, t_end) = check_grid(grid)?;
    check_params(m, &params, g0)?;
    let events = expand(regimen, m, &params)?;
    let mut y0 = vec![0.0; m.n_states()];
    model.init(&params, &mut y0)?;
    let t0 = events.first().map_or(g0, |e| e.time.min(g0));
    Ok((Patient::piece(m, params, events, t0, t_end), y0))
}

impl Patient {
    /// The patient of a solve (or of one piece of a piecewise solve, [`super::piecewise`]):
    /// `params` (already checked), the sorted `events`, from `t0` to `t_end`.
    pub(super) fn piece(
        module: &crate::ir::Module,
        params: Vec<f64>,
        events: Vec<Event>,
        t0: f64,
        t_end: f64,
    ) -> Patient {
        Patient {
            params,
            events,
            rates: RefCell::new(vec![0.0; module.n_states()]),
            t0,
            t_end,
        }
    }
}

/// Checks parameters: the right number, every value finite (else the failure names the first
/// one, at time `t`).
pub(super) fn check_params(
    module: &crate::ir::Module,
    params: &[f64],
    t: f64,
) -> Result<(), SolveError> {
    check_len("simulate", "params", module.n_params(), params.len())?;
    if let Some(k) = params.iter().position(|p| !p.is_finite()) {
        return Err(SolveError::Failed(Box::new(Failure {
            time: t,
            state: module.meta.params[k].name.clone(),
            value: params[k],
            params: named_params(module, params),
            reason: FailureReason::NonFiniteParameter,
        })));
    }
    Ok(())
}

/// One solve in progress: the patient's events and infusion input, the grid and the output
/// built so far. Every method calls it at discontinuities and grid points.
pub(super) struct Driver<'d, F: ModelFns> {
    pub(super) model: &'d F,
    pub(super) params: &'d [f64],
    pub(super) grid: &'d [f64],
    pub(super) events: &'d [Event],
    pub(super) opts: &'d SolveOptions,
    pub(super) rates: &'d RefCell<Vec<f64>>,
    /// Running infusions: (id, state, rate).
    active: Vec<(usize, u32, f64)>,
    /// Bioavailable amount dosed up to `t_break`.
    pub(super) cum_dose: f64,
    /// Time of the last discontinuity.
    t_break: f64,
    pub(super) out: Simulation,
    obs_buf: Vec<f64>,
    /// Scratch state buffer of the diffsol methods (the state after a step).
    pub(super) ybuf: Vec<f64>,
    /// Scratch state buffer of the diffsol methods (an interpolated state).
    pub(super) fbuf: Vec<f64>,
    /// Next grid index to emit.
    pub(super) gi: usize,
    /// Next event index to apply.
    pub(super) ei: usize,
    /// The dense output being recorded, when asked for.
    pub(super) dense: Option<DenseOutput>,
}

impl<'d, F: ModelFns> Driver<'d, F> {
    /// A driver for `patient` on `grid`, before any event or output.
    pub(super) fn new(
        model: &'d F,
        patient: &'d Patient,
        grid: &'d [f64],
        opts: &'d SolveOptions,
    ) -> Self {
        let m = model.module();
        let n = m.n_states();
        Driver {
            model,
            params: &patient.params,
            grid,
            events: &patient.events,
            opts,
            rates: &patient.rates,
            active: Vec::new(),
            cum_dose: 0.0,
            t_break: patient.t0,
            out: Simulation {
                times: Vec::with_capacity(grid.len()),
                states: Vec::with_capacity(grid.len() * n),
                observables: Vec::with_capacity(grid.len() * m.n_observables()),
                dosed: Vec::with_capacity(grid.len()),
                n_states: n,
                n_observables: m.n_observables(),
                params: patient.params.clone(),
                steps: 0,
            },
            obs_buf: vec![0.0; m.n_observables()],
            ybuf: vec![0.0; n],
            fbuf: vec![0.0; n],
            gi: 0,
            ei: 0,
            dense: None,
        }
    }

    /// Applies the discontinuities at `t0` to the initial state `y0` and emits the grid points
    /// at `t0`. Returns the first step-size estimate, or `None` when the grid is then complete
    /// (nothing left to integrate).
    pub(super) fn begin(&mut self, t0: f64, t_end: f64, y0: &mut [f64]) -> Option<f64> {
        let n = y0.len();
        let before = self.dense.as_ref().map(|_| y0.to_vec());
        self.apply_events(t0, y0);
        if let (Some(d), Some(b)) = (self.dense.as_mut(), before) {
            d.set_start(t0, &b, y0);
        }
        let mut f0 = vec![0.0; n];
        self.eval_f(t0, y0, &mut f0);
        let h0 = initial_step(y0, &f0, self.opts.atol, self.opts.rtol);
        self.emit_until(t0, y0, true);
        if same_time(t0, t_end) || self.gi >= self.grid.len() {
            return None;
        }
        Some(h0)
    }
}

impl<F: ModelFns> Driver<'_, F> {
    /// The rate of every running infusion into a state of the model itself (not into a
    /// sensitivity state).
    fn total_rate(&self) -> f64 {
        let base = self
            .model
            .module()
            .meta
            .sensitivity
            .as_ref()
            .map_or(usize::MAX, |l| l.base_states);
        self.active
            .iter()
            .filter(|a| (a.1 as usize) < base)
            .map(|a| a.2)
            .sum()
    }

    /// `Δ(∂y/∂u_column) = (f(y⁻) − f(y⁺))·dlag` for a bolus of `amount` into `state` just
    /// applied to `y` (see [`EventKind::LagJump`]).
    fn lag_jump(&self, t: f64, y: &mut [f64], state: usize, amount: f64, column: usize, dlag: f64) {
        let Some(layout) = self.model.module().meta.sensitivity.as_ref() else {
            return;
        };
        let n = layout.base_states;
        let mut before = y.to_vec();
        if let Some(v) = before.get_mut(state) {
            *v -= amount;
        }
        let mut f_before = vec![0.0; y.len()];
        let mut f_after = vec![0.0; y.len()];
        if self
            .model
            .rhs(t, &before, self.params, &mut f_before)
            .is_err()
            || self.model.rhs(t, y, self.params, &mut f_after).is_err()
        {
            f_before.fill(f64::NAN);
        }
        for i in 0..n {
            if let Some(s) = y.get_mut(layout.state(i, column)) {
                *s += (f_before[i] - f_after[i]) * dlag;
            }
        }
    }

    /// f(t, y) including the current infusion input.
    pub(super) fn eval_f(&self, t: f64, y: &[f64], f: &mut [f64]) {
        if self.model.rhs(t, y, self.params, f).is_err() {
            f.fill(f64::NAN);
        }
        for (fi, r) in f.iter_mut().zip(self.rates.borrow().iter()) {
            *fi += r;
        }
    }

    /// Applies every event at time `t` (which must be the next one) to `y` and the rates.
    pub(super) fn apply_events(&mut self, t: f64, y: &mut [f64]) {
        self.cum_dose += self.total_rate() * (t - self.t_break);
        self.t_break = t;
        let first = self.ei;
        while let Some(e) = self.events.get(self.ei) {
            if !same_time(e.time, t) && e.time > t {
                break;
            }
            let i = e.state as usize;
            match e.kind {
                EventKind::Bolus { amount } => {
                    if let Some(yi) = y.get_mut(i) {
                        *yi += amount;
                    }
                    self.cum_dose += amount;
                }
                EventKind::InfusionStart { id, rate } => self.active.push((id, e.state, rate)),
                EventKind::InfusionEnd { id } => self.active.retain(|a| a.0 != id),
                EventKind::Jump { amount } => {
                    if let Some(yi) = y.get_mut(i) {
                        *yi += amount;
                    }
                }
                EventKind::LagJump {
                    amount,
                    column,
                    dlag,
                } => self.lag_jump(t, y, i, amount, column as usize, dlag),
            }
            self.ei += 1;
        }
        if self.ei > first
            && let Some(d) = self.dense.as_mut()
        {
            d.add_break(t);
        }
        // Recompute the sums from the active list so rates return exactly to 0.
        let mut r = self.rates.borrow_mut();
        r.fill(0.0);
        for &(_, s, rate) in &self.active {
            if let Some(ri) = r.get_mut(s as usize) {
                *ri += rate;
            }
        }
    }

    pub(super) fn emit(&mut self, t: f64, y: &[f64]) {
        self.out.times.push(t);
        self.out.states.extend_from_slice(y);
        if self
            .model
            .observe(t, y, self.params, &mut self.obs_buf)
            .is_err()
        {
            self.obs_buf.fill(f64::NAN);
        }
        self.out.observables.extend_from_slice(&self.obs_buf);
        let dosed = self.cum_dose + self.total_rate() * (t - self.t_break);
        self.out.dosed.push(dosed);
    }

    /// Emits grid points up to `t` (inclusive if `inclusive`) from the exact state `y` at `t`.
    pub(super) fn emit_until(&mut self, t: f64, y: &[f64], inclusive: bool) {
        while let Some(&g) = self.grid.get(self.gi) {
            if same_time(g, t) && inclusive {
                self.emit(g, y);
                self.gi += 1;
            } else {
                break;
            }
        }
    }

    pub(super) fn failure(&self, t: f64, y: &[f64], reason: FailureReason) -> SolveError {
        let m = self.model.module();
        let mut f = vec![0.0; y.len()];
        self.eval_f(t, y, &mut f);
        let idx = y
            .iter()
            .position(|v| !v.is_finite())
            .or_else(|| f.iter().position(|v| !v.is_finite()))
            .or_else(|| {
                let score = |i: usize| f[i].abs() / (self.opts.atol + self.opts.rtol * y[i].abs());
                (0..y.len()).max_by(|&a, &b| score(a).total_cmp(&score(b)))
            })
            .unwrap_or(0);
        SolveError::Failed(Box::new(Failure {
            time: t,
            state: m.meta.states.get(idx).cloned().unwrap_or_default(),
            value: y.get(idx).copied().unwrap_or(f64::NAN),
            params: named_params(m, self.params),
            reason,
        }))
    }
}
