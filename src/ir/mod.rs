//! The backend's intermediate representation: builder → [`Module`] (flat, unit-free f64 SSA),
//! symbolic Jacobian, interpreter and printer.
//!
//! Input: the front end's lowered model, expressed through [`ModuleBuilder`]. Output: a
//! [`Module`] of five functions (`setup`, `init`, `rhs`, `jacobian`, `observe`) consumed by the
//! interpreter ([`interp`]) and the JIT ([`crate::jit`]). See each submodule for its guarantees.

pub mod builder;
pub mod diff;
#[cfg(test)]
pub(crate) mod examples;
pub mod interp;
#[allow(clippy::module_inception)]
pub mod ir;
pub mod print;
pub mod sensitivity;

pub use builder::{BuildError, Expr, ModuleBuilder, StateId};
pub use interp::{Interpreter, LengthError};
pub use ir::{
    BinOp, Class, DoseAdjust, Function, FunctionKind, Inst, Metadata, Module, ParamInfo,
    PatientModule, Scalar, Sensitivity, UnOp, Val,
};
#[cfg(test)]
pub(crate) mod tests;
