//! Endpoints of one patient, computed from the solver's dense output.
//!
//! The solver reports every observable on a dense evaluation grid: the sampling grid refined to at
//! most [`MAX_SPACING`] hours, plus every window edge and `value` time, so aggregates see the curve
//! between samples. `auc` and `mean` are exact integrals: lowering adds a running-integral state
//! for each, and the endpoint is the difference of that state at the window edges (accurate to the
//! solver tolerance). Extremes take the largest/smallest grid value; `time_above`, `time_below`
//! and `time_in` measure where the linear interpolant between grid points is in range;
//! `fraction_of_time` and `first_time` count a grid interval as true when both ends are (half when
//! one is). Booleans are 1 (true) or 0. The endpoint expressions themselves (aggregates combined
//! with covariates, genotypes and params) are compiled functions of the trial's
//! [`Evaluator`], whose inputs are the patient's followed by the aggregate values.

use super::evaluator::Evaluator;
use crate::check::hir::Aggregate;
use crate::lower::{AggSlots, Lowered};
use crate::solve::Simulation;

/// Largest spacing of the dense evaluation grid, in hours.
pub const MAX_SPACING: f64 = 1.0;

/// The dense evaluation grid: `sampling` refined to [`MAX_SPACING`], with every window edge;
/// refused before allocating when longer than [`crate::sim::grid::MAX_POINTS`].
pub fn dense_grid(
    sampling: &[f64],
    aggs: &[AggSlots],
) -> Result<Vec<f64>, crate::sim::grid::GridTooLarge> {
    let len: f64 = 2.0
        + 2.0 * aggs.len() as f64
        + sampling
            .windows(2)
            .map(|w| ((w[1] - w[0]) / MAX_SPACING).ceil().max(1.0))
            .sum::<f64>();
    crate::sim::grid::check_len(len)?;
    let end = sampling.last().copied().unwrap_or(0.0);
    let mut g: Vec<f64> = vec![0.0];
    for w in sampling.windows(2) {
        let n = ((w[1] - w[0]) / MAX_SPACING).ceil().max(1.0) as usize;
        for k in 1..=n {
            g.push(if k == n {
                w[1]
            } else {
                w[0] + (w[1] - w[0]) * k as f64 / n as f64
            });
        }
    }
    if let Some(&first) = sampling.first()
        && first > 0.0
    {
        g.push(first);
    }
    for a in aggs {
        for t in [a.from, a.to].into_iter().flatten() {
            if (0.0..=end).contains(&t) {
                g.push(t);
            }
        }
    }
    g.sort_by(f64::total_cmp);
    g.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs().max(1.0));
    Ok(g)
}

fn window(times: &[f64], a: &AggSlots) -> (usize, usize) {
    let end = times.last().copied().unwrap_or(0.0);
    let lo = a.from.unwrap_or(0.0).clamp(0.0, end);
    let hi = a.to.unwrap_or(end).clamp(lo, end);
    let eps = |t: f64| 1e-9 * t.abs().max(1.0);
    let i0 = times.iter().position(|&t| t >= lo - eps(lo)).unwrap_or(0);
    let i1 = times
        .iter()
        .rposition(|&t| t <= hi + eps(hi))
        .unwrap_or(times.len().saturating_sub(1));
    (i0, i1.max(i0))
}

/// Length of the part of `[0, 1]` where `x0 + s·(x1 − x0)` lies in `[lo, hi]`.
fn fraction_in(x0: f64, x1: f64, lo: f64, hi: f64) -> f64 {
    if x0 == x1 {
        return f64::from(u8::from(x0 >= lo && x0 <= hi));
    }
    let (s_lo, s_hi) = ((lo - x0) / (x1 - x0), (hi - x0) / (x1 - x0));
    let (a, b) = if s_lo <= s_hi {
        (s_lo, s_hi)
    } else {
        (s_hi, s_lo)
    };
    (b.min(1.0) - a.max(0.0)).max(0.0)
}

/// The value of one aggregate from a simulation on the dense grid.
pub fn aggregate_value(a: &AggSlots, sim: &Simulation) -> f64 {
    let t = &sim.times;
    if t.is_empty() {
        return f64::NAN;
    }
    let (i0, i1) = window(t, a);
    let x = |k: usize, j: usize| sim.observable(k, a.observables.get(j).copied().unwrap_or(0));
    let span = t[i1] - t[i0];
    match a.kind {
        Aggregate::Max | Aggregate::Tmax => {
            let k = (i0..=i1).fold(i0, |best, k| if x(k, 0) > x(best, 0) { k } else { best });
            if a.kind == Aggregate::Max {
                x(k, 0)
            } else {
                t[k]
            }
        }
        Aggregate::Min | Aggregate::Tmin => {
            let k = (i0..=i1).fold(i0, |best, k| if x(k, 0) < x(best, 0) { k } else { best });
            if a.kind == Aggregate::Min {
                x(k, 0)
            } else {
                t[k]
            }
        }
        Aggregate::Value => x(i0, 0),
        Aggregate::Auc | Aggregate::Mean => {
            let Some(s) = a.integral else { return f64::NAN };
            let auc = sim.state(i1, s) - sim.state(i0, s);
            if a.kind == Aggregate::Auc {
                auc
            } else if span > 0.0 {
                auc / span
            } else {
                x(i0, 0)
            }
        }
        Aggregate::TimeAbove | Aggregate::TimeBelow | Aggregate::TimeIn => (i0..i1)
            .map(|k| {
                let (lo, hi) = match a.kind {
                    Aggregate::TimeAbove => (x(k, 1), f64::INFINITY),
                    Aggregate::TimeBelow => (f64::NEG_INFINITY, x(k, 1)),
                    _ => (x(k, 1), x(k, 2)),
                };
                (t[k + 1] - t[k]) * fraction_in(x(k, 0), x(k + 1, 0), lo, hi)
            })
            .sum(),
        Aggregate::FractionOfTime => {
            if span <= 0.0 {
                return x(i0, 0);
            }
            let inside: f64 = (i0..i1)
                .map(|k| (t[k + 1] - t[k]) * 0.5 * (x(k, 0) + x(k + 1, 0)))
                .sum();
            inside / span
        }
        Aggregate::FirstTime => (i0..=i1)
            .find(|&k| x(k, 0) != 0.0)
            .map(|k| t[k])
            .unwrap_or(t[i1]),
    }
}

/// Every endpoint of a trial for one patient, by the trial's compiled `evaluator` from the
/// patient's `inputs` (in `lowered`'s layout), the simulation's parameters and the value of every
/// aggregate of `lowered` (NaN everywhere if the buffers do not fit the evaluator).
pub fn evaluate(
    evaluator: &Evaluator,
    lowered: &Lowered,
    inputs: &[f64],
    sim: &Simulation,
) -> Vec<f64> {
    let n = evaluator
        .lowered()
        .endpoints
        .functions
        .first()
        .map_or(0, |f| f.outputs.len());
    let mut args = Vec::with_capacity(inputs.len() + lowered.aggregates.len());
    args.extend_from_slice(inputs);
    args.extend(lowered.aggregates.iter().map(|a| aggregate_value(a, sim)));
    let mut out = vec![f64::NAN; n];
    if evaluator.endpoints(&args, &sim.params, &mut out).is_err() {
        out.fill(f64::NAN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fraction_in;

    #[test]
    fn fraction_of_a_linear_segment_in_a_range() {
        assert_eq!(fraction_in(0.0, 2.0, 1.0, f64::INFINITY), 0.5);
        assert_eq!(fraction_in(2.0, 0.0, 1.0, f64::INFINITY), 0.5);
        assert_eq!(fraction_in(0.0, 4.0, 1.0, 3.0), 0.5);
        assert_eq!(fraction_in(5.0, 6.0, 1.0, 3.0), 0.0);
        assert_eq!(fraction_in(2.0, 2.0, 1.0, 3.0), 1.0);
    }
}
