//! Native code for a [`crate::ir::Module`] through Cranelift (cranelift-codegen, -frontend,
//! -jit, -module, -native, all 0.135.8: the newest release whose minimum Rust version matches
//! the project's toolchain).
//!
//! Input: a module. Output: a [`CompiledModel`] with the five functions as safe, length-checked
//! calls (and, for a [`crate::ir::PatientModule`] of per-patient expressions, a
//! [`CompiledPatient`]). [`abi`] holds every `extern "C"` signature; [`codegen`] translates instructions;
//! [`compiled`] wraps the function pointers. Compile latency is a few milliseconds (see the
//! tests' printed figures and BENCHMARKS.md once it exists).

pub mod abi;
pub mod codegen;
pub mod compiled;

pub use codegen::{JitError, compile, compile_patient};
pub use compiled::{CompiledModel, CompiledPatient};

#[cfg(test)]
mod tests;
