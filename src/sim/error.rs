//! Why a patient could not be simulated, typed; rendered once, where it is reported.

use crate::ir::LengthError;
use crate::solve::SolveError;
use crate::trial::PopError;
use std::fmt;

/// The reason one patient's simulation failed.
#[derive(Debug)]
pub enum SimError {
    /// The patient could not be generated or an arm's override could not be evaluated.
    Patient(PopError),
    /// A buffer had the wrong length (a bug in the caller).
    Length(LengthError),
    /// The solver failed (with the time, state and parameter values).
    Solve(SolveError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Patient(e) => write!(f, "{e}"),
            SimError::Length(e) => write!(f, "{e}"),
            SimError::Solve(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<SolveError> for SimError {
    fn from(e: SolveError) -> Self {
        SimError::Solve(e)
    }
}

impl From<PopError> for SimError {
    fn from(e: PopError) -> Self {
        SimError::Patient(e)
    }
}
