//! Virtual populations and trial statistics.
//!
//! - [`rng`]: counter-based random streams keyed by (seed, patient, purpose), so that every
//!   patient's draws are reproducible on their own, whatever the threading or sharding.
//! - [`population`]: one virtual patient by index from a trial's `population` block (ancestry,
//!   genotypes, covariates, random effects, arm), arm overrides, strata.
//! - [`stats`]: summaries and intervals (quantiles, Wilson, Newcombe, Welch), normal CDF and
//!   quantile, bins.

pub mod population;
pub mod rng;
pub mod stats;

pub use population::{
    Patient, PatientEnv, PopError, Sampler, eval_patient_expr, generate, residual,
};
pub use rng::{Purpose, Stream};
