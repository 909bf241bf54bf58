//! Solving a compiled model for one patient: dosing events ([`dosing`]), the diffsol driver
//! ([`ode`]) and exact solutions of linear models ([`linear`]).
//!
//! Input: a [`ModelFns`] backend, inputs, a [`Regimen`], a grid, [`SolveOptions`].
//! Output: a [`Simulation`] or a [`SolveError`].

mod bdf;
pub mod dosing;
pub mod linear;
pub mod lu;
pub mod ode;

pub use dosing::{Dose, DoseError, DoseKind, Regimen, Repeat};
pub use linear::{LinearSystem, expm, is_linear};
pub use ode::{
    Failure, FailureReason, Method, ModelFns, Simulation, SolveError, SolveOptions, simulate,
};

#[cfg(test)]
mod tests;
