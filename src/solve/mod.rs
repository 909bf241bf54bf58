//! Solving a compiled model for one patient: dosing events ([`dosing`]) and the diffsol driver
//! ([`ode`]).
//!
//! Input: a [`ModelFns`] backend, inputs, a [`Regimen`], a grid, [`SolveOptions`].
//! Output: a [`Simulation`] or a [`SolveError`].

pub mod dosing;
pub mod ode;

pub use dosing::{Dose, DoseError, DoseKind, Regimen, Repeat};
pub use ode::{
    Failure, FailureReason, Method, ModelFns, Simulation, SolveError, SolveOptions, simulate,
};

#[cfg(test)]
mod tests;
