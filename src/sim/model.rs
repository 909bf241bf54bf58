//! A checked model lowered to IR and compiled to native code, with its per-patient expressions:
//! what every simulation runs.

use crate::jit::CompiledModel;
use crate::lower::Lowered;
use crate::trial::Evaluator;
use std::sync::Arc;

/// A model ready to simulate patients: its lowered IR (input layout, dose and aggregate slots)
/// and the native code of its functions. Made by [`crate::driver::prepare`].
pub struct PreparedModel {
    /// Index of the model in the checked program.
    pub model: usize,
    /// The lowered model.
    pub lowered: Lowered,
    /// Native code of the lowered module.
    pub compiled: CompiledModel,
    /// Native code of the per-patient expressions (population generators, arm overrides,
    /// endpoints), shared by every thread.
    pub evaluator: Arc<Evaluator>,
    /// The params with a domain, checked on every patient's values after `setup`.
    pub domains: Vec<ParamDomain>,
}

/// A param whose values are restricted, with where its value is after `setup`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDomain {
    /// The param's qualified name.
    pub name: String,
    /// Its slot among the module's params.
    pub slot: usize,
    /// Its unit, as text (empty for the unit `1`).
    pub unit: String,
    /// The values it may take.
    pub domain: crate::check::hir::Domain,
}

impl PreparedModel {
    /// Number of parameter slots of the module.
    pub fn n_params(&self) -> usize {
        self.compiled.module().n_params()
    }

    /// Number of states of the module (model states, then accumulators and running integrals).
    pub fn n_states(&self) -> usize {
        self.compiled.module().n_states()
    }
}
