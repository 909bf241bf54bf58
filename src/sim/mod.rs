//! Simulating one patient: the one path that `twin run`, `twin trial`, dose finding, the REPL and
//! plots take from a checked model to typed trajectories.
//!
//! - [`model`]: a model lowered and compiled to native code ([`PreparedModel`], made by
//!   [`crate::driver::prepare`], the one place that lowers and JIT-compiles).
//! - [`patient`]: one patient's inputs and the parameters computed from them by one `setup` call.
//! - [`regimen`]: an arm's doses as a solver [`crate::solve::Regimen`] for one patient.
//! - [`mod@grid`]: sampling grids (`0, step, …, until`; a trial's schedule).
//! - [`error`]: [`SimError`], the typed reason a patient could not be simulated.
//!
//! [`simulate`] solves a patient under a regimen on a grid. CSV, tables and summaries are written
//! by the commands (`crate::cmd`), never here.

pub mod error;
pub mod grid;
pub mod model;
pub mod patient;
pub mod regimen;

pub use error::SimError;
pub use grid::grid;
pub use model::{ParamDomain, PreparedModel};
pub use patient::Patient;
pub use regimen::arm_regimen;

use crate::solve::{DenseOutput, Regimen, Simulation, SolveOptions};

/// Solves `patient` under `regimen` on `grid` (sorted, h) with the prepared model's native code.
pub fn simulate(
    model: &PreparedModel,
    patient: &Patient,
    regimen: &Regimen,
    grid: &[f64],
    options: &SolveOptions,
) -> Result<Simulation, SimError> {
    crate::solve::simulate_with_params(
        &model.compiled,
        patient.params.clone(),
        regimen,
        grid,
        options,
    )
    .map_err(SimError::Solve)
}

/// [`simulate`] for a patient whose parameters change or whose state is reset during the solve
/// (`segments`, each with the parameters `setup` computed for its inputs), with the left limit
/// at every segment time (see [`crate::solve::piecewise`]).
pub fn simulate_segments(
    model: &PreparedModel,
    patient: &Patient,
    segments: &[crate::solve::Segment],
    regimen: &Regimen,
    grid: &[f64],
    options: &SolveOptions,
) -> Result<(Simulation, Vec<crate::solve::LeftLimit>), SimError> {
    crate::solve::simulate_segments_with_limits(
        &model.compiled,
        patient.params.clone(),
        segments,
        regimen,
        grid,
        options,
    )
    .map_err(SimError::Solve)
}

/// [`simulate_dense`] under a protocol: `control` sees the patient at every visit it gives and
/// may change the regimen from then on ([`crate::solve::Control`]).
pub fn simulate_controlled(
    model: &PreparedModel,
    patient: &Patient,
    segments: &[crate::solve::Segment],
    regimen: &Regimen,
    grid: &[f64],
    options: &SolveOptions,
    control: &mut dyn crate::solve::Control,
) -> Result<(Simulation, DenseOutput), SimError> {
    crate::solve::simulate_controlled(
        &model.compiled,
        patient.params.clone(),
        segments,
        regimen,
        grid,
        options,
        control,
    )
    .map_err(SimError::Solve)
}

/// [`simulate`] (with `segments`: [`simulate_segments`]) that also records the solver's dense
/// output, for endpoints that need the solution between grid points; the [`Simulation`] is the
/// same, bit for bit.
pub fn simulate_dense(
    model: &PreparedModel,
    patient: &Patient,
    segments: &[crate::solve::Segment],
    regimen: &Regimen,
    grid: &[f64],
    options: &SolveOptions,
) -> Result<(Simulation, DenseOutput), SimError> {
    crate::solve::simulate_segments_dense(
        &model.compiled,
        patient.params.clone(),
        segments,
        regimen,
        grid,
        options,
    )
    .map_err(SimError::Solve)
}
