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
    /// A param's value for this patient is outside its domain.
    Domain {
        /// The param.
        param: String,
        /// Its value, in its unit.
        value: f64,
        /// Its unit as text (empty for `1`).
        unit: String,
        /// The domain as text.
        domain: String,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Patient(e) => write!(f, "{e}"),
            SimError::Length(e) => write!(f, "{e}"),
            SimError::Solve(e) => write!(f, "{e}"),
            SimError::Domain {
                param,
                value,
                unit,
                domain,
            } => {
                let unit = if unit.is_empty() {
                    String::new()
                } else {
                    format!(" {unit}")
                };
                write!(
                    f,
                    "param `{param}` = {value}{unit} is outside its domain ({domain}) for this patient"
                )
            }
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
