//! One patient: the input vector in the lowered layout and the parameters `setup` computes from it.

use super::{PreparedModel, SimError};

/// A patient's inputs (covariates, genotypes, η in [`crate::lower::InputSlot`] order) and the
/// parameters computed from them, once.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    /// Inputs in the lowered layout.
    pub inputs: Vec<f64>,
    /// Parameters (named, then hoisted slots) from the model's `setup` function.
    pub params: Vec<f64>,
}

impl Patient {
    /// Runs the model's `setup` on `inputs` and checks every param against its domain.
    pub fn new(model: &PreparedModel, inputs: Vec<f64>) -> Result<Patient, SimError> {
        let mut params = vec![0.0; model.n_params()];
        model
            .compiled
            .setup(&inputs, &mut params)
            .map_err(SimError::Length)?;
        for d in &model.domains {
            let value = params.get(d.slot).copied().unwrap_or(f64::NAN);
            if !d.domain.contains(value) {
                return Err(SimError::Domain {
                    param: d.name.clone(),
                    value,
                    unit: d.unit.clone(),
                    domain: d.domain.text.clone(),
                });
            }
        }
        Ok(Patient { inputs, params })
    }
}
