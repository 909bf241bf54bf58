//! One patient, one regimen, one sampling grid → states and observables.
//!
//! Input: a model ([`ModelFns`]: the JIT's [`CompiledModel`] or the [`Interpreter`]), the
//! patient's inputs, a [`Regimen`], a sorted sampling grid and [`SolveOptions`].
//! Output: a [`Simulation`] (one row per grid time) or a structured [`SolveError`]; never a
//! panic.
//!
//! How: `setup` computes the parameters once; the regimen expands to sorted discontinuities
//! ([`super::dosing`]). The integrator runs from one discontinuity to the next (for diffsol's
//! methods with its stop time; [`super::bdf`] stops there itself); at each one it edits the solver state in place (bolus amounts added to `y`, the
//! piecewise-constant infusion input changed, `dy` recomputed, a fresh step-size estimate) and
//! carries on. The method then restarts at first order from the edited state; the problem, the
//! solver, its linear solver and its Jacobian storage are reused, nothing is rebuilt. Infusion rates are added to `f` by the solver (they are not part of the IR).
//! Grid values between steps come from the method's dense output (interpolation within the
//! step); grid points exactly at a discontinuity report the state *after* it (right-continuous,
//! so a sample at a bolus time includes the bolus).
//!
//! Linear algebra (diffsol's methods): the `nalgebra` backend only, and the Newton matrix factorised by
//! [`DenseLu`] (a contiguous dense LU whose solves are not one chain of dependent additions;
//! 2–6 % faster BDF solves than with diffsol's nalgebra LU on a 7-state model). Pharmacometric models have a few to a few dozen states, where dense LU beats
//! sparse factorisation and nalgebra is the lighter dependency; faer would add nothing here.
//! diffsol's BDF step-size controller acts on growth from 1.2× up to 4× per step ([`BDF_MIN_GROWTH`],
//! [`BDF_MAX_GROWTH`]) instead of diffsol's fixed doubling. The Jacobian is the IR's symbolic one:
//! diffsol asks for `J·v`, which is served from one evaluation of the JIT'd Jacobian cached per
//! `(t, y)`.
//!
//! Methods: [`Method::Exact`] solves linear time-invariant models (`dy/dt = A·y + c`, detected
//! from the IR by [`super::linear::is_linear`]) exactly between discontinuities with cached
//! matrix exponentials ([`super::linear`]); [`Method::Bdf`] is the crate's own variable-order
//! BDF for small dense systems ([`super::bdf`]), the same method as diffsol's BDF with less
//! overhead per step; [`Method::DiffsolBdf`], ESDIRK3(4) and TR-BDF2 are diffsol's, driven here.
//!
//! Defaults (see [`SolveOptions::default`]): [`Method::Auto`], `rtol = 1e-6`, `atol = 1e-9` (in
//! the model's amount units, applied to every state), at most 1 000 000 steps. `Auto` is the
//! exact method when the model is linear and [`Method::Bdf`] otherwise: for linear models the exact path is
//! both more accurate (rounding only, not `rtol`) and one to two orders of magnitude faster
//! (BENCHMARKS.md), and every accuracy, dosing, mass-balance and failure test of the
//! integrators passes unchanged with it as the default. Tolerances apply to the integrators
//! only.

use std::cell::RefCell;

use diffsol::OdeSolverStopReason;
use diffsol::{NalgebraMat, OdeBuilder, OdeEquations, OdeSolverMethod, Vector};

use super::dosing::{DoseError, Event, EventKind, Regimen, expand};
use super::linear::{LinearSystem, is_linear};
use super::lu::DenseLu;
use crate::ir::interp::check_len;
use crate::ir::{Interpreter, LengthError, Module};
use crate::jit::CompiledModel;

type Mat = NalgebraMat<f64>;
type Lu = DenseLu;

/// The five model functions, by whichever backend runs them.
pub trait ModelFns {
    /// The module (names, sizes, sparsity, dose adjustments).
    fn module(&self) -> &Module;
    /// inputs → parameters.
    fn setup(&self, inputs: &[f64], params: &mut [f64]) -> Result<(), LengthError>;
    /// parameters → initial states.
    fn init(&self, params: &[f64], y0: &mut [f64]) -> Result<(), LengthError>;
    /// (t, y, p) → dy/dt (without dose input).
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) -> Result<(), LengthError>;
    /// (t, y, p) → Jacobian non-zeros in sparsity order.
    fn jacobian(&self, t: f64, y: &[f64], p: &[f64], v: &mut [f64]) -> Result<(), LengthError>;
    /// (t, y, p) → observables.
    fn observe(&self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) -> Result<(), LengthError>;
}

macro_rules! impl_model_fns {
    ($t:ty) => {
        impl ModelFns for $t {
            fn module(&self) -> &Module {
                <$t>::module(self)
            }
            fn setup(&self, inputs: &[f64], params: &mut [f64]) -> Result<(), LengthError> {
                <$t>::setup(self, inputs, params)
            }
            fn init(&self, params: &[f64], y0: &mut [f64]) -> Result<(), LengthError> {
                <$t>::init(self, params, y0)
            }
            fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) -> Result<(), LengthError> {
                <$t>::rhs(self, t, y, p, dy)
            }
            fn jacobian(
                &self,
                t: f64,
                y: &[f64],
                p: &[f64],
                v: &mut [f64],
            ) -> Result<(), LengthError> {
                <$t>::jacobian(self, t, y, p, v)
            }
            fn observe(
                &self,
                t: f64,
                y: &[f64],
                p: &[f64],
                out: &mut [f64],
            ) -> Result<(), LengthError> {
                <$t>::observe(self, t, y, p, out)
            }
        }
    };
}
impl_model_fns!(CompiledModel);
impl_model_fns!(Interpreter);

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
    /// Variable-order BDF (NDF orders 1–5) for small dense systems ([`super::bdf`]): best for
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

/// Everything that can go wrong in [`simulate`].
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
}

impl std::fmt::Display for SolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SolveError::Length(e) => write!(f, "{e}"),
            SolveError::Dose(e) => write!(f, "{e}"),
            SolveError::BadGrid(m) => write!(f, "bad sampling grid: {m}"),
            SolveError::BadOptions(m) => write!(f, "bad solver options: {m}"),
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

/// Two times closer than this (relative) are the same instant.
pub(super) fn same_time(a: f64, b: f64) -> bool {
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

struct JacCache {
    valid: bool,
    t: f64,
    y: Vec<f64>,
    vals: Vec<f64>,
}

/// Solves one patient. See the module docs for conventions.
pub fn simulate<F: ModelFns>(
    model: &F,
    inputs: &[f64],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<Simulation, SolveError> {
    let m = model.module();
    let n = m.n_states();
    if !(opts.rtol > 0.0 && opts.rtol.is_finite()) {
        return Err(SolveError::BadOptions("rtol must be positive and finite"));
    }
    if !(opts.atol > 0.0 && opts.atol.is_finite()) {
        return Err(SolveError::BadOptions("atol must be positive and finite"));
    }
    let linear = match opts.method {
        Method::Auto | Method::Exact => is_linear(m),
        _ => false,
    };
    if opts.method == Method::Exact && !linear {
        return Err(SolveError::BadOptions(
            "the exact method needs a linear model (dy/dt = A·y + c with per-patient A, c)",
        ));
    }
    check_len("simulate", "inputs", m.n_inputs(), inputs.len())?;
    let (Some(&g0), Some(&t_end)) = (grid.first(), grid.last()) else {
        return Err(SolveError::BadGrid("empty"));
    };
    if grid.iter().any(|t| !t.is_finite()) {
        return Err(SolveError::BadGrid("not finite"));
    }
    if grid.windows(2).any(|w| w[1] < w[0]) {
        return Err(SolveError::BadGrid("not sorted"));
    }
    let mut params = vec![0.0; m.n_params()];
    model.setup(inputs, &mut params)?;
    let named: Vec<(String, f64)> = m
        .meta
        .params
        .iter()
        .zip(&params)
        .filter(|(i, _)| !i.hoisted)
        .map(|(i, v)| (i.name.clone(), *v))
        .collect();
    if let Some(k) = params.iter().position(|p| !p.is_finite()) {
        let info = &m.meta.params[k];
        return Err(SolveError::Failed(Box::new(Failure {
            time: g0,
            state: info.name.clone(),
            value: params[k],
            params: named,
            reason: FailureReason::NonFiniteParameter,
        })));
    }
    let events = expand(regimen, m, &params)?;
    let mut y0 = vec![0.0; n];
    model.init(&params, &mut y0)?;
    let t0 = events.first().map_or(g0, |e| e.time.min(g0));

    let rates = RefCell::new(vec![0.0; n]);
    let mut drv = Driver {
        model,
        params: &params,
        named,
        grid,
        events: &events,
        opts,
        rates: &rates,
        active: Vec::new(),
        cum_dose: 0.0,
        t_break: t0,
        out: Simulation {
            times: Vec::with_capacity(grid.len()),
            states: Vec::with_capacity(grid.len() * n),
            observables: Vec::with_capacity(grid.len() * m.n_observables()),
            dosed: Vec::with_capacity(grid.len()),
            n_states: n,
            n_observables: m.n_observables(),
            params: params.clone(),
            steps: 0,
        },
        obs_buf: vec![0.0; m.n_observables()],
        ybuf: vec![0.0; n],
        fbuf: vec![0.0; n],
        gi: 0,
        ei: 0,
    };
    // Discontinuities at t0 act on the initial state.
    drv.apply_events(t0, &mut y0);
    let mut f0 = vec![0.0; n];
    drv.eval_f(t0, &y0, &mut f0);
    let h0 = initial_step(&y0, &f0, opts.atol, opts.rtol);
    drv.emit_until(t0, &y0, true);
    if same_time(t0, t_end) || drv.gi >= grid.len() {
        return Ok(drv.out);
    }
    if linear {
        let sys = LinearSystem::new(model, &params)?;
        super::linear::drive(&mut drv, &sys, y0, t0)?;
        return Ok(drv.out);
    }
    if matches!(opts.method, Method::Auto | Method::Bdf) {
        super::bdf::drive(&mut drv, &y0, t0, h0, t_end)?;
        return Ok(drv.out);
    }

    let cache = RefCell::new(JacCache {
        valid: false,
        t: f64::NAN,
        y: vec![0.0; n],
        vals: vec![0.0; m.sparsity.len()],
    });
    let sparsity = &m.sparsity;
    let rates = &rates;
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
            |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(&y0),
            n,
        )
        .build()
        .map_err(|e| drv.failure(t0, &y0, FailureReason::Solver(e.to_string())))?;

    match opts.method {
        Method::DiffsolBdf | Method::Bdf | Method::Auto | Method::Exact => {
            let mut s = problem
                .bdf::<Lu>()
                .map_err(|e| drv.failure(t0, &y0, FailureReason::Solver(e.to_string())))?;
            let c = s.config_mut();
            c.minimum_timestep_growth = BDF_MIN_GROWTH;
            c.maximum_timestep_growth = BDF_MAX_GROWTH;
            drv.drive(s, t_end)?;
        }
        Method::Esdirk34 => {
            let s = problem
                .esdirk34::<Lu>()
                .map_err(|e| drv.failure(t0, &y0, FailureReason::Solver(e.to_string())))?;
            drv.drive(s, t_end)?;
        }
        Method::TrBdf2 => {
            let s = problem
                .tr_bdf2::<Lu>()
                .map_err(|e| drv.failure(t0, &y0, FailureReason::Solver(e.to_string())))?;
            drv.drive(s, t_end)?;
        }
    }
    Ok(drv.out)
}

pub(super) struct Driver<'d, F: ModelFns> {
    pub(super) model: &'d F,
    pub(super) params: &'d [f64],
    named: Vec<(String, f64)>,
    pub(super) grid: &'d [f64],
    pub(super) events: &'d [Event],
    pub(super) opts: &'d SolveOptions,
    pub(super) rates: &'d RefCell<Vec<f64>>,
    /// Running infusions: (id, state, rate).
    active: Vec<(usize, u32, f64)>,
    /// Bioavailable amount dosed up to `t_break`.
    cum_dose: f64,
    /// Time of the last discontinuity.
    t_break: f64,
    pub(super) out: Simulation,
    obs_buf: Vec<f64>,
    ybuf: Vec<f64>,
    fbuf: Vec<f64>,
    /// Next grid index to emit.
    pub(super) gi: usize,
    /// Next event index to apply.
    pub(super) ei: usize,
}

impl<F: ModelFns> Driver<'_, F> {
    fn total_rate(&self) -> f64 {
        self.active.iter().map(|a| a.2).sum()
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
            }
            self.ei += 1;
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
            params: self.named.clone(),
            reason,
        }))
    }

    fn drive<'a, Eqn, S>(&mut self, mut solver: S, t_end: f64) -> Result<(), SolveError>
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
