//! twin: a modeling language, compiler and runtime for pharmacological digital twins.
//!
//! The pipeline: [`syntax`] (lexer, grammar, AST) → [`check`] (names, units, genotypes → typed
//! model) → [`lower`] (flat IR, [`ir`]) → [`jit`] (native code) → [`solve`] (stiff solver with
//! doses) → [`run`] (one patient) and trials. [`driver`] is the one place that knows the order of
//! the phases.
#![deny(clippy::unwrap_used)]
// Diagnostics travel on cold error paths only; boxing them would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod diagnostic;
pub mod doc;
pub mod driver;
pub mod events;
pub mod fmt;
pub mod ir;
pub mod jit;
pub mod lower;
pub mod plot;
pub mod repl;
pub mod run;
pub mod solve;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod trial;
pub mod units;
