//! Solving a compiled model for one patient: one regimen, one sampling grid → states and
//! observables.
//!
//! Input: a model ([`ModelFns`]: the JIT's [`CompiledModel`](crate::jit::CompiledModel) or the
//! [`Interpreter`](crate::ir::Interpreter)), the patient's inputs, a [`Regimen`], a sorted
//! sampling grid and [`SolveOptions`].
//! Output: a [`Simulation`] (one row per grid time) or a structured [`SolveError`]; never a
//! panic.
//!
//! [`simulate`] checks the options, computes the parameters once, expands the regimen to sorted
//! discontinuities ([`dosing`]) and sets up the [`driver`] (event application, grid output,
//! failure reports), then hands the integration to one method. Every method stops exactly at
//! each discontinuity; a grid point at a dose time reports the state after the dose.
//!
//! Methods: [`Method::Exact`] solves linear time-invariant models (`dy/dt = A·y + c`, detected
//! from the IR by [`is_linear`]) exactly between discontinuities with cached matrix exponentials
//! ([`linear`]); [`Method::Bdf`] is the crate's own variable-order BDF for small dense systems
//! (`bdf`), the same method as diffsol's BDF with less overhead per step;
//! [`Method::DiffsolBdf`], ESDIRK3(4) and TR-BDF2 are diffsol's (`diffsol_methods`).
//!
//! Defaults (see [`SolveOptions::default`]): [`Method::Auto`], `rtol = 1e-6`, `atol = 1e-9` (in
//! the model's amount units, applied to every state), at most 1 000 000 steps. `Auto` is the
//! exact method when the model is linear and [`Method::Bdf`] otherwise: for linear models the
//! exact path is both more accurate (rounding only, not `rtol`) and one to two orders of
//! magnitude faster (BENCHMARKS.md), and every accuracy, dosing, mass-balance and failure test
//! of the integrators passes unchanged with it as the default. Tolerances apply to the
//! integrators only.
//!
//! Modules and their imports within `solve` (an acyclic graph; `tests` aside):
//!
//! ```text
//! mod.rs (simulate) ──→ piecewise, linear, bdf, diffsol_methods, driver, dense, model, dosing
//! piecewise         ──→ driver, dense, model, dosing, lu (and mod.rs's run_piece)
//! linear            ──→ driver, model, dosing, exponential
//! bdf               ──→ driver, model, lu
//! diffsol_methods   ──→ driver, model, lu
//! driver            ──→ dense, model, dosing
//! dense             ──→ exponential
//! model, dosing, lu, exponential ──→ (nothing in solve)
//! ```

mod bdf;
pub mod dense;
mod diffsol_methods;
pub mod dosing;
pub mod driver;
pub mod exponential;
pub mod linear;
pub mod lu;
pub mod model;
pub mod piecewise;

pub use dense::{DenseOutput, Side};
pub use dosing::{Dose, DoseError, DoseKind, Regimen, Repeat, SteadyState};
pub use driver::{Failure, FailureReason, Method, Simulation, SolveError, SolveOptions};
pub use linear::{LinearSystem, expm, is_linear};
pub use model::ModelFns;
pub use piecewise::{Control, LeftLimit, Segment, SegmentStart};

use driver::Driver;

/// Solves one patient. See the module docs for conventions.
pub fn simulate<F: ModelFns>(
    model: &F,
    inputs: &[f64],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<Simulation, SolveError> {
    let m = model.module();
    crate::ir::interp::check_len("simulate", "inputs", m.n_inputs(), inputs.len())?;
    let mut params = vec![0.0; m.n_params()];
    model.setup(inputs, &mut params)?;
    simulate_with_params(model, params, regimen, grid, opts)
}

/// [`simulate`] for a patient whose parameters `setup` has already computed (`params`, one per
/// parameter slot of the module), so that a caller that needs them first (dose amounts, checks)
/// does not compute them twice.
pub fn simulate_with_params<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<Simulation, SolveError> {
    solve(model, params, &[], regimen, grid, opts, false).map(|(s, _)| s)
}

/// [`simulate_with_params`] for a patient whose parameters or state change during the solve
/// (time-varying covariates, occasions, resets): `params` hold from the start, each
/// [`Segment`] from its time on. See [`piecewise`] for the conventions.
pub fn simulate_segments<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    segments: &[Segment],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<Simulation, SolveError> {
    solve(model, params, segments, regimen, grid, opts, false).map(|(s, _)| s)
}

/// [`simulate_segments`] that also gives the left limit at every segment time
/// ([`piecewise::LeftLimit`]: the state and observables just before the change and the doses
/// there; a segment that changes nothing gives the pre-dose values at its time).
pub fn simulate_segments_with_limits<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    segments: &[Segment],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<(Simulation, Vec<piecewise::LeftLimit>), SolveError> {
    let linear = exact_path(model, opts)?;
    piecewise::solve(
        model, params, segments, regimen, grid, opts, linear, false, None,
    )
    .map(|(s, _, l)| (s, l))
}

/// [`simulate_segments`] that also records the dense output (see [`simulate_dense`]).
pub fn simulate_segments_dense<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    segments: &[Segment],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<(Simulation, DenseOutput), SolveError> {
    let (s, d) = solve(model, params, segments, regimen, grid, opts, true)?;
    let n = s.n_states;
    Ok((s, d.unwrap_or_else(|| DenseOutput::new(n))))
}

/// [`simulate_with_params`] that also records the solver's dense output ([`DenseOutput`]): the
/// solution at any time of the solve, from either side of a dose. The [`Simulation`] is the
/// same, bit for bit, as without the record.
pub fn simulate_dense<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
) -> Result<(Simulation, DenseOutput), SolveError> {
    let (s, d) = solve(model, params, &[], regimen, grid, opts, true)?;
    let n = s.n_states;
    Ok((s, d.unwrap_or_else(|| DenseOutput::new(n))))
}

/// [`simulate_segments_dense`] under a protocol ([`Control`]): every visit it gives is a
/// boundary of the solve where it sees the left limit (the state just before the events at the
/// visit) and may change the regimen from then on (see [`piecewise`]).
pub fn simulate_controlled<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    segments: &[Segment],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
    control: &mut dyn Control,
) -> Result<(Simulation, DenseOutput), SolveError> {
    let linear = exact_path(model, opts)?;
    let (s, d, _) = piecewise::solve(
        model,
        params,
        segments,
        regimen,
        grid,
        opts,
        linear,
        true,
        Some(control),
    )?;
    let n = s.n_states;
    Ok((s, d.unwrap_or_else(|| DenseOutput::new(n))))
}

/// Checks the options; whether the exact linear path solves this model under them.
fn exact_path<F: ModelFns>(model: &F, opts: &SolveOptions) -> Result<bool, SolveError> {
    driver::check_tolerances(opts)?;
    let linear = match opts.method {
        Method::Auto | Method::Exact => is_linear(model.module()),
        _ => false,
    };
    if opts.method == Method::Exact && !linear {
        return Err(SolveError::BadOptions(
            "the exact method needs a linear model (dy/dt = A·y + c with per-patient A, c)",
        ));
    }
    Ok(linear)
}

fn solve<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    segments: &[Segment],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
    record: bool,
) -> Result<(Simulation, Option<DenseOutput>), SolveError> {
    let linear = exact_path(model, opts)?;
    if !segments.is_empty() || regimen.doses.iter().any(|d| d.steady_state.is_some()) {
        return piecewise::solve(
            model, params, segments, regimen, grid, opts, linear, record, None,
        )
        .map(|(s, d, _)| (s, d));
    }
    let (patient, y0) = driver::prepare(model, params, regimen, grid)?;
    let horizon = grid.last().copied().unwrap_or(0.0);
    let mut cache = linear::LinearCache::default();
    let piece = run_piece(
        model, &patient, y0, grid, opts, linear, record, 0.0, &mut cache, horizon,
    )?;
    Ok((piece.sim, piece.dense))
}

/// What one piece of a solve gives: the grid output, the dense output when recorded, and the
/// state after the last step (the state at the last grid time, before the events there that
/// belong to a later piece).
struct Piece {
    sim: Simulation,
    dense: Option<DenseOutput>,
}

/// Solves one patient (or one piece of a piecewise solve) from `y0` at `patient.t0`, before the
/// events there, over `grid`; `dosed` is the amount dosed before the piece.
#[allow(clippy::too_many_arguments)]
fn run_piece<F: ModelFns>(
    model: &F,
    patient: &driver::Patient,
    mut y0: Vec<f64>,
    grid: &[f64],
    opts: &SolveOptions,
    linear: bool,
    record: bool,
    dosed: f64,
    cache: &mut linear::LinearCache,
    horizon: f64,
) -> Result<Piece, SolveError> {
    let (t0, t_end) = (patient.t0, patient.t_end);
    let mut drv = Driver::new(model, patient, grid, opts);
    drv.cum_dose = dosed;
    if record {
        drv.dense = Some(DenseOutput::with_capacity(
            y0.len(),
            grid.len() + patient.events.len() + 2,
        ));
    }
    let Some(h0) = drv.begin(t0, t_end, &mut y0) else {
        return Ok(Piece {
            sim: drv.out,
            dense: drv.dense,
        });
    };
    if linear {
        let sys = LinearSystem::new(model, &patient.params)?;
        linear::drive(&mut drv, &sys, y0, t0, cache, horizon)?;
    } else if matches!(opts.method, Method::Auto | Method::Bdf) {
        bdf::drive(&mut drv, &y0, t0, h0, t_end)?;
    } else {
        diffsol_methods::drive(&mut drv, &y0, t0, h0, t_end)?;
    }
    Ok(Piece {
        sim: drv.out,
        dense: drv.dense,
    })
}

#[cfg(test)]
mod linear_tests;
#[cfg(test)]
mod tests;
