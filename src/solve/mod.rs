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
//! mod.rs (simulate) ──→ linear, bdf, diffsol_methods, driver, dense, model, dosing
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

pub use dense::{DenseOutput, Side};
pub use dosing::{Dose, DoseError, DoseKind, Regimen, Repeat};
pub use driver::{Failure, FailureReason, Method, Simulation, SolveError, SolveOptions};
pub use linear::{LinearSystem, expm, is_linear};
pub use model::ModelFns;

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
    solve(model, params, regimen, grid, opts, false).map(|(s, _)| s)
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
    let (s, d) = solve(model, params, regimen, grid, opts, true)?;
    let n = s.n_states;
    Ok((s, d.unwrap_or_else(|| DenseOutput::new(n))))
}

fn solve<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
    record: bool,
) -> Result<(Simulation, Option<DenseOutput>), SolveError> {
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
    let (patient, mut y0) = driver::prepare(model, params, regimen, grid)?;
    let (t0, t_end) = (patient.t0, patient.t_end);
    let mut drv = Driver::new(model, &patient, grid, opts);
    if record {
        drv.dense = Some(DenseOutput::new(y0.len()));
    }
    let Some(h0) = drv.begin(t0, t_end, &mut y0) else {
        return Ok((drv.out, drv.dense));
    };
    if linear {
        let sys = LinearSystem::new(model, &patient.params)?;
        linear::drive(&mut drv, &sys, y0, t0)?;
    } else if matches!(opts.method, Method::Auto | Method::Bdf) {
        bdf::drive(&mut drv, &y0, t0, h0, t_end)?;
    } else {
        diffsol_methods::drive(&mut drv, &y0, t0, h0, t_end)?;
    }
    Ok((drv.out, drv.dense))
}

#[cfg(test)]
mod linear_tests;
#[cfg(test)]
mod tests;
