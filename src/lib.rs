//! twin: a modeling language, compiler and runtime for pharmacological digital twins.
//!
//! The pipeline: [`syntax`] (lexer, grammar, AST) → [`check`] (names, units, genotypes → typed
//! model) → [`lower`] (flat IR, [`ir`]) → [`jit`] (native code) → [`solve`] (stiff solver with
//! doses) → [`sim`] (one patient) → [`trial`] (populations, endpoints, summaries). [`driver`] is
//! the one place that knows the order of the phases; [`cmd`] holds the commands, which write
//! files at the edge ([`files`], [`csv_text`]). docs/ARCHITECTURE.md has the picture.
#![deny(clippy::unwrap_used)]
// Diagnostics travel on cold error paths only; boxing them would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod cmd;
pub mod csv_text;
pub mod dataset;
pub mod diagnostic;
pub mod doc;
pub mod driver;
pub mod events;
pub mod files;
pub mod fit;
pub mod fmt;
pub mod ir;
pub mod jit;
pub mod linalg;
pub mod lower;
pub mod plot;
pub mod repl;
pub mod sim;
pub mod solve;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod trial;
pub mod units;
