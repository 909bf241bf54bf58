//! The model interface of the solvers: the five functions of an IR [`Module`] (`setup`, `init`,
//! `rhs`, `jacobian`, `observe`), whichever backend runs them.
//!
//! [`ModelFns`] is implemented by the JIT's [`CompiledModel`] (native code, what `twin run` and
//! trials use) and by the IR [`Interpreter`] (the reference semantics, used to cross-check the
//! JIT). Every function writes into a caller-provided buffer and reports a buffer of the wrong
//! length as a [`LengthError`]; none of them allocates or panics.

use crate::ir::{Interpreter, LengthError, Module};
use crate::jit::CompiledModel;

/// The five model functions, by whichever backend runs them.
pub trait ModelFns {
    /// The module (names, sizes, sparsity, dose adjustments).
    fn module(&self) -> &Module;
    /// inputs → parameters.
    fn setup(&self, inputs: &[f64], params: &mut [f64]) -> Result<(), LengthError>;
    /// parameters → initial states.
    fn init(&self, params: &[f64], y0: &mut [f64]) -> Result<(), LengthError>;
    /// (t, y, p) → dy/dt (without dose input).
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) -> Result<(), LengthError>;
    /// (t, y, p) → Jacobian non-zeros in sparsity order.
    fn jacobian(&self, t: f64, y: &[f64], p: &[f64], v: &mut [f64]) -> Result<(), LengthError>;
    /// (t, y, p) → observables.
    fn observe(&self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) -> Result<(), LengthError>;
}

macro_rules! impl_model_fns {
    ($t:ty) => {
        impl ModelFns for $t {
            fn module(&self) -> &Module {
                <$t>::module(self)
            }
            fn setup(&self, inputs: &[f64], params: &mut [f64]) -> Result<(), LengthError> {
                <$t>::setup(self, inputs, params)
            }
            fn init(&self, params: &[f64], y0: &mut [f64]) -> Result<(), LengthError> {
                <$t>::init(self, params, y0)
            }
            fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) -> Result<(), LengthError> {
                <$t>::rhs(self, t, y, p, dy)
            }
            fn jacobian(
                &self,
                t: f64,
                y: &[f64],
                p: &[f64],
                v: &mut [f64],
            ) -> Result<(), LengthError> {
                <$t>::jacobian(self, t, y, p, v)
            }
            fn observe(
                &self,
                t: f64,
                y: &[f64],
                p: &[f64],
                out: &mut [f64],
            ) -> Result<(), LengthError> {
                <$t>::observe(self, t, y, p, out)
            }
        }
    };
}
impl_model_fns!(CompiledModel);
impl_model_fns!(Interpreter);
