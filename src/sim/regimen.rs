//! An arm's doses as the solver regimen of one patient.

use crate::check::hir;
use crate::lower::DoseSlots;
use crate::solve::dosing::{Dose, Regimen};

/// The solver regimen of `arm` for one patient: amounts and infusion rates come from the
/// patient's computed `params` (they may depend on covariates and genotypes) through the arm's
/// lowered dose `slots`; open-ended repeats stop at `end` (h).
pub fn arm_regimen(arm: &hir::Arm, slots: &[DoseSlots], params: &[f64], end: f64) -> Regimen {
    let mut r = Regimen::new();
    for (d, s) in arm.doses.iter().zip(slots) {
        let amount = params.get(s.amount).copied().unwrap_or(f64::NAN);
        // A steady-state dose is anchored at its nominal time (the steady state is the state
        // there), so its lag is applied when the regimen is expanded; other doses are shifted
        // here.
        let t = if d.steady_state {
            d.start
        } else {
            d.start + d.lag
        };
        let target = d.target as u32;
        let mut dose = match (&d.infusion, s.rate) {
            (Some(hir::Infusion::Duration(dur)), _) => {
                Dose::infusion_duration(t, amount, target, *dur)
            }
            (Some(hir::Infusion::Rate(_)), Some(k)) => Dose::infusion_rate(
                t,
                amount,
                target,
                params.get(k).copied().unwrap_or(f64::NAN),
            ),
            _ => Dose::bolus(t, amount, target),
        };
        if let (true, Some(ii)) = (d.steady_state, d.interval) {
            dose = dose.at_steady_state(ii, false).lagged(d.lag);
        }
        if let Some(ii) = d.interval {
            dose = match d.count {
                Some(n) if n > 1 => dose.additional(ii, n - 1),
                Some(_) => dose,
                None => dose.until(ii, end),
            };
        }
        r = r.with(dose);
    }
    r
}
