//! [`CompiledModel`]: the native functions of one module behind safe, length-checked wrappers;
//! [`CompiledPatient`]: the same for the per-patient expression functions of a [`PatientModule`].
//!
//! Input: produced by [`super::compile`]. Output: calls that fill caller-provided buffers.
//! Guarantees: every wrapper checks each buffer's length against the module before calling
//! native code (a wrong length is a [`LengthError`], never memory corruption); nothing
//! allocates per call; the machine code lives as long as the `CompiledModel`.

use cranelift_jit::JITModule;

use super::abi::ModelFn;
use crate::ir::interp::{check_call, check_patient_call};
use crate::ir::{FunctionKind, LengthError, Module, PatientModule};

/// A JIT-compiled module.
pub struct CompiledModel {
    module: Module,
    jit: Option<JITModule>,
    fns: Vec<ModelFn>,
}

// SAFETY: after `finalize_definitions` the JIT module is never used again except to free its
// memory on drop (which needs `&mut self`, so no concurrent access); the generated functions are
// pure (they read only their argument buffers and write only `out`), so calling them from
// several threads at once is sound.
unsafe impl Send for CompiledModel {}
unsafe impl Sync for CompiledModel {}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("module", &self.module.name)
            .finish()
    }
}

impl Drop for CompiledModel {
    fn drop(&mut self) {
        if let Some(jit) = self.jit.take() {
            // SAFETY: no function pointer escapes `self` (the `fns` are private and only called
            // through `&self`), so none can be called after this point.
            unsafe { jit.free_memory() };
        }
    }
}

/// A slice's data pointer, or a dangling aligned pointer for an empty slice (never read).
fn ptr(s: &[f64]) -> *const f64 {
    s.as_ptr()
}

impl CompiledModel {
    pub(crate) fn new(module: Module, jit: JITModule, fns: Vec<ModelFn>) -> Self {
        CompiledModel {
            module,
            jit: Some(jit),
            fns,
        }
    }

    /// The module this was compiled from.
    pub fn module(&self) -> &Module {
        &self.module
    }

    fn call(
        &self,
        kind: FunctionKind,
        t: f64,
        inputs: &[f64],
        params: &[f64],
        states: &[f64],
        out: &mut [f64],
    ) {
        let k = match kind {
            FunctionKind::Setup => 0,
            FunctionKind::Init => 1,
            FunctionKind::Rhs => 2,
            FunctionKind::Jacobian => 3,
            FunctionKind::Observe => 4,
            FunctionKind::Patient => return,
        };
        if let Some(f) = self.fns.get(k) {
            // SAFETY: callers checked that every buffer the function kind reads has the length
            // the module declares, and `out` has exactly its number of outputs; the function
            // reads/writes nothing else.
            unsafe { f(t, ptr(inputs), ptr(params), ptr(states), out.as_mut_ptr()) }
        }
    }

    /// Checks every buffer's length for `kind`, then runs it.
    fn checked(
        &self,
        kind: FunctionKind,
        t: f64,
        inputs: &[f64],
        params: &[f64],
        states: &[f64],
        out: &mut [f64],
    ) -> Result<(), LengthError> {
        check_call(&self.module, kind, inputs, params, states, out)?;
        self.call(kind, t, inputs, params, states, out);
        Ok(())
    }

    /// inputs → parameters.
    pub fn setup(&self, inputs: &[f64], params: &mut [f64]) -> Result<(), LengthError> {
        self.checked(FunctionKind::Setup, 0.0, inputs, &[], &[], params)
    }

    /// parameters → initial states.
    pub fn init(&self, params: &[f64], y0: &mut [f64]) -> Result<(), LengthError> {
        self.checked(FunctionKind::Init, 0.0, &[], params, &[], y0)
    }

    /// (t, y, p) → dy/dt.
    pub fn rhs(
        &self,
        t: f64,
        y: &[f64],
        params: &[f64],
        dy: &mut [f64],
    ) -> Result<(), LengthError> {
        self.checked(FunctionKind::Rhs, t, &[], params, y, dy)
    }

    /// (t, y, p) → Jacobian non-zeros in [`Module::sparsity`] order.
    pub fn jacobian(
        &self,
        t: f64,
        y: &[f64],
        params: &[f64],
        values: &mut [f64],
    ) -> Result<(), LengthError> {
        self.checked(FunctionKind::Jacobian, t, &[], params, y, values)
    }

    /// (t, y, p) → observables.
    pub fn observe(
        &self,
        t: f64,
        y: &[f64],
        params: &[f64],
        out: &mut [f64],
    ) -> Result<(), LengthError> {
        self.checked(FunctionKind::Observe, t, &[], params, y, out)
    }
}

/// The JIT-compiled per-patient expression functions of a [`PatientModule`].
pub struct CompiledPatient {
    module: PatientModule,
    jit: Option<JITModule>,
    fns: Vec<ModelFn>,
}

// SAFETY: as for `CompiledModel`: the JIT module is only touched again to free its memory on drop,
// and the generated functions are pure (they read their input buffers and write only `out`).
unsafe impl Send for CompiledPatient {}
unsafe impl Sync for CompiledPatient {}

impl std::fmt::Debug for CompiledPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPatient")
            .field("module", &self.module.name)
            .field("functions", &self.fns.len())
            .finish()
    }
}

impl Drop for CompiledPatient {
    fn drop(&mut self) {
        if let Some(jit) = self.jit.take() {
            // SAFETY: the function pointers are private and only called through `&self`.
            unsafe { jit.free_memory() };
        }
    }
}

impl CompiledPatient {
    pub(crate) fn new(module: PatientModule, jit: JITModule, fns: Vec<ModelFn>) -> Self {
        CompiledPatient {
            module,
            jit: Some(jit),
            fns,
        }
    }

    /// The functions this was compiled from.
    pub fn module(&self) -> &PatientModule {
        &self.module
    }

    /// Runs function `k`: (inputs, params) → `out`, after checking every buffer's length (an
    /// out-of-range `k` is a function with no outputs and writes nothing).
    pub fn call(
        &self,
        k: usize,
        inputs: &[f64],
        params: &[f64],
        out: &mut [f64],
    ) -> Result<(), LengthError> {
        check_patient_call(&self.module, k, inputs, params, out)?;
        if let Some(f) = self.fns.get(k) {
            // SAFETY: the lengths of `inputs`, `params` and `out` were checked against the
            // function; it reads no time or state (`states` is never dereferenced).
            unsafe {
                f(
                    0.0,
                    ptr(inputs),
                    ptr(params),
                    std::ptr::NonNull::<f64>::dangling().as_ptr(),
                    out.as_mut_ptr(),
                )
            }
        }
        Ok(())
    }
}
