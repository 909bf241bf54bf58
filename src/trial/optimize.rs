//! Dose finding: `find dose of ARM so STAT(endpoint) == TARGET`.
//!
//! Input: a prepared trial whose [`hir::Trial::dose_searches`] name arms, an endpoint, a statistic
//! (mean, median, geometric mean, a quantile, or the responder rate of a true/false endpoint) and a
//! target (a value in the endpoint's unit, or the same statistic in a reference arm at its written
//! dose). Output: for each searched arm the factor `s` on every dose amount and infusion rate
//! (timing unchanged) that makes the statistic over the arm's patients equal the target, within a
//! relative tolerance on the statistic.
//!
//! The same virtual patients are simulated at every trial factor (common random numbers: each
//! patient is generated once from its counter-based stream, so the statistic is a deterministic,
//! piecewise-smooth function of `s`). The search starts at `s = 1` and `s = 2`, brackets the target
//! by doubling or halving `s` (at most [`MAX_BRACKET_STEPS`] times), then narrows the bracket by
//! the Illinois variant of regula falsi, which is exact in one step when the statistic is
//! proportional to the dose (linear pharmacokinetics). A responder rate moves in steps of 1/N, so
//! it is bisected on log `s` until the bracket is narrower than the tolerance, and the end closer to
//! the target is kept. Patients whose solve fails are left out of the statistic, as they are left
//! out of the summaries. Patients are simulated in parallel and collected in patient order, so the
//! result does not depend on the number of threads.

use super::population::{self, Sampler};
use super::runner::Prepared;
use super::stats;
use crate::check::{consts, hir};
use crate::units::UnitTable;
use rayon::prelude::*;

/// How many times the factor is doubled (or halved) from 1 before giving up: 2^30 ≈ 10⁹.
pub const MAX_BRACKET_STEPS: usize = 30;

/// Most statistic evaluations after the target is bracketed.
pub const MAX_REFINE_STEPS: usize = 100;

/// The result of one dose search, as written to `run.json` and `summary.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FoundDose {
    /// The arm whose doses were scaled.
    pub arm: String,
    /// The factor on every dose amount and infusion rate of the arm.
    pub factor: f64,
    /// The arm's doses at the found factor, as text (`41.2 mg into central every 24 h`).
    pub doses: Vec<String>,
    /// The statistic (`median`, `p90`, `rate`, …).
    pub statistic: String,
    /// The endpoint.
    pub endpoint: String,
    /// The endpoint's unit (empty for dimensionless endpoints and rates).
    pub unit: String,
    /// The target value of the statistic.
    pub target: f64,
    /// The reference arm the target comes from, if any.
    pub reference: Option<String>,
    /// The statistic at the found factor.
    pub achieved: f64,
    /// The relative tolerance on the statistic.
    pub tolerance: f64,
    /// Patients of the arm with a value at the found factor.
    pub n: usize,
    /// Statistic evaluations (each one simulates every patient of the arm).
    pub iterations: usize,
    /// Every evaluation in order: `[factor, statistic]`.
    pub history: Vec<[f64; 2]>,
}

/// The statistic of a set of endpoint values (NaN when there are none).
pub fn statistic(s: hir::Statistic, values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    match s {
        hir::Statistic::Mean => stats::mean(values),
        hir::Statistic::Median => stats::quantile(values, 0.5),
        hir::Statistic::Quantile(q) => stats::quantile(values, f64::from(q) / 100.0),
        hir::Statistic::GeometricMean => {
            if values.iter().any(|v| *v <= 0.0) {
                return f64::NAN;
            }
            let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
            stats::mean(&logs).exp()
        }
        hir::Statistic::Rate => {
            values.iter().filter(|v| **v != 0.0).count() as f64 / values.len() as f64
        }
    }
}

/// Four significant digits, for messages and the summary table.
pub fn sig4(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NA".into()
        } else {
            v.to_string()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&mag) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The patients of one arm, generated once: (patient index, inputs after the arm's overrides).
struct ArmPatients {
    arm: usize,
    patients: Vec<(u64, Vec<f64>)>,
}

impl ArmPatients {
    fn new(prep: &Prepared<'_>, sampler: &Sampler<'_>, seed: u64, size: u64, arm: usize) -> Self {
        let patients: Vec<Option<(u64, Vec<f64>)>> = (0..size)
            .into_par_iter()
            .map(|i| {
                let p = sampler.sample(seed, i).ok()?;
                if p.arm.is_some_and(|a| a != arm) {
                    return None;
                }
                let mut inputs = p.inputs;
                population::apply_overrides(
                    &prep.sim.evaluator,
                    arm,
                    &prep.sim.lowered.inputs,
                    &mut inputs,
                )
                .ok()?;
                Some((i, inputs))
            })
            .collect();
        ArmPatients {
            arm,
            patients: patients.into_iter().flatten().collect(),
        }
    }

    /// The endpoint values of every patient whose solve succeeds, at dose factor `s`.
    fn values(&self, prep: &Prepared<'_>, seed: u64, endpoint: usize, s: f64) -> Vec<f64> {
        let v: Vec<Option<f64>> = self
            .patients
            .par_iter()
            .map(|(id, inputs)| {
                prep.simulate_scaled(inputs, self.arm, seed, *id, s, false)
                    .ok()
                    .map(|(e, _, _)| e[endpoint])
                    .filter(|x| !x.is_nan())
            })
            .collect();
        v.into_iter().flatten().collect()
    }
}

/// The value of every patient of the arm for each dose: (amount, rate) per dose, from the
/// patient's computed params (amounts include the bioavailable fraction).
fn dose_values(prep: &Prepared<'_>, patients: &ArmPatients) -> Vec<Vec<(f64, Option<f64>)>> {
    let slots = prep
        .sim
        .lowered
        .dose_params
        .get(patients.arm)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut out = vec![Vec::new(); slots.len()];
    for (_, inputs) in &patients.patients {
        let Ok(patient) = crate::sim::Patient::new(&prep.sim, inputs.clone()) else {
            continue;
        };
        for (k, sl) in slots.iter().enumerate() {
            let get = |i: usize| patient.params.get(i).copied().unwrap_or(f64::NAN);
            out[k].push((get(sl.amount), sl.rate.map(get)));
        }
    }
    out
}

/// A value that is the same for every patient, or its median and range.
fn spread(values: &[f64], unit: &str) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return format!("NA {unit}");
    }
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if sig4(lo) == sig4(hi) {
        format!("{} {unit}", sig4(lo))
    } else {
        format!(
            "median {} {unit} (range {}–{})",
            sig4(stats::quantile(&finite, 0.5)),
            sig4(lo),
            sig4(hi)
        )
    }
}

/// The arm's doses at factor `s`, as text: the amount each patient receives (one number when every
/// patient gets the same), the target, the infusion, the start and the repetition.
fn describe_doses(
    prep: &Prepared<'_>,
    units: &UnitTable,
    patients: &ArmPatients,
    s: f64,
) -> Vec<String> {
    let values = dose_values(prep, patients);
    prep.trial.arms[patients.arm]
        .doses
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let st = &prep.model.states[d.target];
            let unit = units.format_unit(st.unit);
            let vals = values.get(k).map(Vec::as_slice).unwrap_or(&[]);
            // Amounts in the params include a constant bioavailability: written amounts shown.
            let f = match &d.bioavailability {
                None => Some(1.0),
                Some(e) => consts::eval(e),
            };
            let amounts: Vec<f64> = vals.iter().map(|(a, _)| a * s / f.unwrap_or(1.0)).collect();
            let mut text = format!("{} into {}", spread(&amounts, &unit), st.name);
            if f.is_none() {
                text.push_str(" (bioavailable amount)");
            }
            match &d.infusion {
                Some(hir::Infusion::Duration(h)) => text.push_str(&format!(" over {} h", sig4(*h))),
                Some(hir::Infusion::Rate(_)) => {
                    let rates: Vec<f64> = vals
                        .iter()
                        .map(|(_, r)| r.unwrap_or(f64::NAN) * s)
                        .collect();
                    text.push_str(&format!(" rate {}", spread(&rates, &format!("{unit}/h"))));
                }
                None => {}
            }
            if d.start > 0.0 {
                text.push_str(&format!(" at {} h", sig4(d.start)));
            }
            if let Some(ii) = d.interval {
                text.push_str(&format!(" every {} h", sig4(ii)));
                if let Some(n) = d.count.filter(|n| *n > 1) {
                    text.push_str(&format!(" times {n}"));
                }
            }
            text
        })
        .collect()
}

/// Runs every dose search of the prepared trial over patients `0..size`; returns the results in
/// the order written (the factors are also what [`Prepared::dose_scale`] should be set to).
pub fn search_all(
    prep: &Prepared<'_>,
    units: &UnitTable,
    seed: u64,
    size: u64,
) -> Result<Vec<FoundDose>, String> {
    let trial = prep.trial;
    if trial.dose_searches.is_empty() {
        return Ok(Vec::new());
    }
    let sampler = prep.sampler().map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for ds in &trial.dose_searches {
        let endpoint = &trial.endpoints[ds.endpoint];
        let unit = match endpoint.value.ty {
            hir::Type::Num(u) if !(u.is_dimensionless() && u.scale.is_one()) => {
                units.format_unit(u)
            }
            _ => String::new(),
        };
        let arm_name = &trial.arms[ds.arm].name;
        let stat_text = format!("{}({})", ds.statistic.name(), endpoint.name);
        let (target, reference) = match ds.target {
            hir::SearchTarget::Value(v) => (v, None),
            hir::SearchTarget::Arm(r) => {
                let patients = ArmPatients::new(prep, &sampler, seed, size, r);
                let v = statistic(ds.statistic, &patients.values(prep, seed, ds.endpoint, 1.0));
                if !v.is_finite() {
                    return Err(format!(
                        "the dose search of arm `{arm_name}` cannot use reference arm `{}`: {stat_text} there is not a number (no patient with a value{})",
                        trial.arms[r].name,
                        if ds.statistic == hir::Statistic::GeometricMean {
                            ", or a value ≤ 0"
                        } else {
                            ""
                        }
                    ));
                }
                (v, Some(trial.arms[r].name.clone()))
            }
        };
        let patients = ArmPatients::new(prep, &sampler, seed, size, ds.arm);
        let mut history: Vec<[f64; 2]> = Vec::new();
        let mut eval = |s: f64| -> (f64, usize) {
            let v = patients.values(prep, seed, ds.endpoint, s);
            let y = statistic(ds.statistic, &v);
            history.push([s, y]);
            (y, v.len())
        };
        let result = find_factor(&mut eval, ds.statistic, target, ds.tolerance);
        let seen = |h: &[[f64; 2]]| {
            h.iter()
                .map(|[s, y]| format!("{} at ×{}", sig4(*y), sig4(*s)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let target_text = if unit.is_empty() {
            sig4(target)
        } else {
            format!("{} {unit}", sig4(target))
        };
        match result {
            Ok((s, y, n)) => found.push(FoundDose {
                arm: arm_name.clone(),
                factor: s,
                doses: describe_doses(prep, units, &patients, s),
                statistic: ds.statistic.name(),
                endpoint: endpoint.name.clone(),
                unit: unit.clone(),
                target,
                reference,
                achieved: y,
                tolerance: ds.tolerance,
                n,
                iterations: history.len(),
                history,
            }),
            Err(why) => {
                return Err(format!(
                    "no dose of arm `{arm_name}` gives {stat_text} = {target_text}{}: {why}; values seen: {}",
                    reference
                        .as_deref()
                        .map(|r| format!(" (as in arm `{r}`)"))
                        .unwrap_or_default(),
                    seen(&history)
                ));
            }
        }
    }
    Ok(found)
}

/// Finds `s > 0` with `f(s)` within `tol` (relative) of `target`; `f` returns the statistic and
/// the number of patients behind it. Returns (s, f(s), n) or why it failed, with a hint.
pub fn find_factor(
    f: &mut dyn FnMut(f64) -> (f64, usize),
    stat: hir::Statistic,
    target: f64,
    tol: f64,
) -> Result<(f64, f64, usize), String> {
    let scale = if target == 0.0 { 1.0 } else { target.abs() };
    let close = |y: f64| (y - target).abs() <= tol * scale;
    let nan_error = |s: f64| {
        format!(
            "the statistic is not a number at dose ×{} (every patient failed{})",
            sig4(s),
            if stat == hir::Statistic::GeometricMean {
                ", or a value ≤ 0"
            } else {
                ""
            }
        )
    };
    let mut call = |s: f64| -> Result<(f64, usize), String> {
        let (y, n) = f(s);
        if y.is_finite() {
            Ok((y, n))
        } else {
            Err(nan_error(s))
        }
    };
    let (y1, n1) = call(1.0)?;
    if close(y1) {
        return Ok((1.0, y1, n1));
    }
    let (y2, n2) = call(2.0)?;
    if close(y2) {
        return Ok((2.0, y2, n2));
    }
    if y2 == y1 {
        return Err(
            "the statistic does not change between dose ×1 and ×2 (hint: does the endpoint depend on the dose? a responder rate may need a wider range)"
                .into(),
        );
    }
    // Every point seen, sorted by factor; a shortcut through the secant of the first two (exact
    // when the statistic is proportional to the dose) before bracketing.
    let mut points: Vec<(f64, f64, usize)> = vec![(1.0, y1, n1), (2.0, y2, n2)];
    let secant = 1.0 + (target - y1) / (y2 - y1);
    if stat != hir::Statistic::Rate
        && secant.is_finite()
        && secant > 0.0
        && secant != 1.0
        && secant != 2.0
    {
        let (y, n) = call(secant)?;
        if close(y) {
            return Ok((secant, y, n));
        }
        points.push((secant, y, n));
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    // Bracket: (lo, y(lo)) and (hi, y(hi)) on either side of the target, lo < hi.
    let side = |y: f64| (y - target).signum();
    let adjacent = points
        .windows(2)
        .find(|w| side(w[0].1) != side(w[1].1))
        .map(|w| (w[0].0, w[0].1, w[0].2, w[1].0, w[1].1, w[1].2));
    let (mut lo, mut ylo, mut nlo, mut hi, mut yhi, mut nhi);
    if let Some(b) = adjacent {
        (lo, ylo, nlo, hi, yhi, nhi) = b;
    } else {
        let increasing = y2 > y1;
        let up = (y1 < target) == increasing;
        let start = if up {
            points[points.len() - 1]
        } else {
            points[0]
        };
        let (mut s_prev, mut y_prev, mut n_prev) = start;
        let mut bracket = None;
        for _ in 0..MAX_BRACKET_STEPS {
            let s = if up { s_prev * 2.0 } else { s_prev / 2.0 };
            let (y, n) = call(s)?;
            if close(y) {
                return Ok((s, y, n));
            }
            if side(y) != side(y_prev) {
                bracket = Some(if up {
                    (s_prev, y_prev, n_prev, s, y, n)
                } else {
                    (s, y, n, s_prev, y_prev, n_prev)
                });
                break;
            }
            // Moving away from the target, or no longer moving: not monotone in the dose.
            if (y - target).abs() >= (y_prev - target).abs() {
                return Err(format!(
                    "the statistic stops approaching the target at dose ×{} (hint: it is not monotone in the dose, or it levels off before the target — an exposure that saturates, a rate that cannot reach it)",
                    sig4(s)
                ));
            }
            (s_prev, y_prev, n_prev) = (s, y, n);
        }
        let Some(b) = bracket else {
            return Err(format!(
                "the target is not reached between dose ×{} and ×{} (hint: check the target's unit and magnitude, or whether the endpoint depends on the dose)",
                sig4(0.5f64.powi(MAX_BRACKET_STEPS as i32)),
                sig4(2f64.powi(MAX_BRACKET_STEPS as i32 + 1))
            ));
        };
        (lo, ylo, nlo, hi, yhi, nhi) = b;
    }
    if stat == hir::Statistic::Rate {
        // A rate moves in steps of 1/N: bisect on log s until the bracket is narrower than the
        // tolerance, then keep the end closer to the target (the lower dose on a tie).
        for _ in 0..MAX_REFINE_STEPS {
            if hi / lo - 1.0 <= tol {
                break;
            }
            let s = (lo * hi).sqrt();
            let (y, n) = call(s)?;
            if close(y) {
                return Ok((s, y, n));
            }
            if (y - target).signum() == (ylo - target).signum() {
                (lo, ylo, nlo) = (s, y, n);
            } else {
                (hi, yhi, nhi) = (s, y, n);
            }
        }
        return Ok(if (yhi - target).abs() < (ylo - target).abs() {
            (hi, yhi, nhi)
        } else {
            (lo, ylo, nlo)
        });
    }
    // Illinois: regula falsi on s, halving the retained end's residual when one end is kept twice.
    let (mut flo, mut fhi) = (ylo - target, yhi - target);
    let mut kept = 0i8; // -1: lo kept last time, 1: hi kept last time
    for _ in 0..MAX_REFINE_STEPS {
        let mut s = (lo * fhi - hi * flo) / (fhi - flo);
        if !(s > lo && s < hi && s.is_finite()) {
            s = (lo * hi).sqrt();
        }
        let (y, n) = call(s)?;
        if close(y) {
            return Ok((s, y, n));
        }
        let fy = y - target;
        if fy.signum() == flo.signum() {
            (lo, flo) = (s, fy);
            if kept == 1 {
                fhi /= 2.0;
            }
            kept = 1;
        } else {
            (hi, fhi) = (s, fy);
            if kept == -1 {
                flo /= 2.0;
            }
            kept = -1;
        }
        if hi / lo - 1.0 <= 1e-12 {
            return Err(format!(
                "the statistic jumps across the target near dose ×{} (hint: a statistic over few patients can jump where one patient's value crosses another's; a wider tolerance with `within` or more patients help)",
                sig4(s)
            ));
        }
    }
    let _ = (nlo, nhi);
    Err(format!(
        "no convergence after {MAX_REFINE_STEPS} steps between dose ×{} and ×{}",
        sig4(lo),
        sig4(hi)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_statistic_is_found_in_one_interpolation() {
        // stat = 12.5·s.
        let mut calls = 0;
        let mut f = |s: f64| {
            calls += 1;
            (12.5 * s, 10)
        };
        let (s, y, _) = find_factor(&mut f, hir::Statistic::Median, 40.0, 1e-3)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!((s - 3.2).abs() < 1e-12, "{s}");
        assert!((y - 40.0).abs() < 1e-9);
        // s = 1, s = 2, then the secant through them, which is exact.
        assert_eq!(calls, 3);
    }

    #[test]
    fn nonlinear_and_decreasing_statistics_converge_to_the_tolerance() {
        // Saturable exposure s / (1 + s) · 100 must reach 75 → s = 3.
        let mut f = |s: f64| (100.0 * s / (1.0 + s), 5);
        let (s, y, _) =
            find_factor(&mut f, hir::Statistic::Mean, 75.0, 1e-6).unwrap_or_else(|e| panic!("{e}"));
        assert!((y - 75.0).abs() <= 75.0 * 1e-6);
        assert!((s - 3.0).abs() < 1e-4, "{s}");
        // Decreasing in the dose: 10 / s = 40 → s = 0.25.
        let mut g = |s: f64| (10.0 / s, 5);
        let (s, _, _) =
            find_factor(&mut g, hir::Statistic::Mean, 40.0, 1e-6).unwrap_or_else(|e| panic!("{e}"));
        assert!((s - 0.25).abs() < 1e-6, "{s}");
    }

    #[test]
    fn unreachable_targets_are_errors() {
        let mut f = |s: f64| (100.0 * s / (1.0 + s), 5);
        match find_factor(&mut f, hir::Statistic::Mean, 150.0, 1e-3) {
            Err(e) => assert!(e.contains("hint"), "{e}"),
            Ok(r) => panic!("found {r:?} for an unreachable target"),
        }
        let mut flat = |_: f64| (3.0, 5);
        assert!(find_factor(&mut flat, hir::Statistic::Mean, 4.0, 1e-3).is_err());
    }

    #[test]
    fn rates_are_bisected_to_the_tolerance_on_the_factor() {
        // 10 patients with thresholds 1..10: the rate of s ≥ threshold is floor(s)/10.
        let mut f = |s: f64| ((s.floor().clamp(0.0, 10.0)) / 10.0, 10);
        let (s, y, _) =
            find_factor(&mut f, hir::Statistic::Rate, 0.5, 1e-3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(y, 0.5);
        assert!((5.0..6.0).contains(&s), "{s}");
    }

    #[test]
    fn statistics_match_their_definitions() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(statistic(hir::Statistic::Mean, &v), 3.75);
        assert_eq!(statistic(hir::Statistic::Median, &v), 3.0);
        assert!((statistic(hir::Statistic::GeometricMean, &v) - 64f64.powf(0.25)).abs() < 1e-12);
        // Type-7 p90 of 4 values: position 0.9·3 = 2.7 → 4 + 0.7·4.
        assert!((statistic(hir::Statistic::Quantile(90), &v) - 6.8).abs() < 1e-12);
        assert_eq!(statistic(hir::Statistic::Rate, &[1.0, 0.0, 1.0, 1.0]), 0.75);
        assert!(statistic(hir::Statistic::GeometricMean, &[1.0, 0.0]).is_nan());
    }
}
