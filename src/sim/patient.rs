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
        let p = Patient::setup(model, inputs)?;
        p.check_domains(model)?;
        Ok(p)
    }

    /// Runs the model's `setup` on `inputs`, without checking the params' domains: the values a
    /// patient has even when it cannot be simulated. [`Patient::new`] checks them too.
    pub fn setup(model: &PreparedModel, inputs: Vec<f64>) -> Result<Patient, SimError> {
        let mut params = vec![0.0; model.n_params()];
        model
            .compiled
            .setup(&inputs, &mut params)
            .map_err(SimError::Length)?;
        Ok(Patient { inputs, params })
    }

    /// Checks every param with a domain against it: the first one outside is the error.
    pub fn check_domains(&self, model: &PreparedModel) -> Result<(), SimError> {
        let params = &self.params;
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
        Ok(())
    }

    /// The values of the computed quantities of [`crate::lower::Lowered::quantities`], read from
    /// the params `setup` computed (NaN for a slot that does not exist).
    pub fn quantities(&self, model: &PreparedModel) -> Vec<f64> {
        model
            .lowered
            .quantities
            .iter()
            .map(|&s| self.params.get(s).copied().unwrap_or(f64::NAN))
            .collect()
    }
}
