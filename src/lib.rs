//! twin: a modeling language, compiler and runtime for pharmacological digital twins.
//!
//! The pipeline: [`syntax`] (lexer, grammar, AST) → [`check`] (names, units, genotypes → typed
//! model) → lowering and native code → solver → trials. [`driver`] is the one place that knows the
//! order of the phases.
#![deny(clippy::unwrap_used)]

pub mod diagnostic;
pub mod ir;
pub mod jit;
pub mod solve;
pub mod source;
pub mod syntax;
