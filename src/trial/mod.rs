//! Virtual populations and trial statistics.
//!
//! - [`rng`]: counter-based random streams keyed by (seed, patient, purpose), so that every
//!   patient's draws are reproducible on their own, whatever the threading or sharding.
//! - [`population`]: one virtual patient by index from a trial's `population` block (ancestry,
//!   genotypes, covariates, random effects, arm), arm overrides, strata.
//! - [`stats`]: summaries and intervals (quantiles, Wilson, Newcombe, Welch), normal CDF and
//!   quantile, bins.
//! - [`endpoints`]: endpoint values of one patient from the solver's dense output.
//! - [`evaluator`]: the compiled per-patient expressions (generator arguments, arm overrides,
//!   endpoints) that population, runner and endpoints call.
//! - [`protocol`]: protocol arms at run time (plan, visits, measurements, rules) and the course
//!   of what happened, read by protocol endpoints.
//! - [`mipd`]: `fit dose so`: the MAP estimate at a visit and the dose that meets a goal.
//! - [`runner`]: compile once, simulate every patient in every arm in parallel.
//! - [`optimize`]: dose finding (`find dose of ARM so STAT(endpoint) == TARGET`) on common
//!   random numbers.
//! - [`output`]: `patients.csv`, summaries by arm and stratum, `summary.csv`/`.json`, merging shards.
//! - [`targets`]: the target ranges and thresholds endpoints put on observables
//!   (`targets.csv`, shaded by `twin plot`).
//! - [`error`]: [`TrialError`], why a trial job stopped.

pub mod endpoints;
pub mod error;
pub mod evaluator;
pub mod mipd;
pub mod optimize;
pub mod output;
pub mod population;
pub mod protocol;
pub mod rng;
pub mod runner;
pub mod stats;
pub mod targets;

pub use error::TrialError;
pub use evaluator::{Backend, Evaluator};
pub use population::{Patient, PopError, Sampler, generate, residual};
pub use rng::{Purpose, Stream};
