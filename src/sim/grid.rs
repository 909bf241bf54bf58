//! Sampling grids, in hours.

use crate::check::hir;
use crate::lower::AggSlots;
use crate::solve::Simulation;

/// `0, step, 2·step, …, until` (the end included).
pub fn grid(until: f64, step: f64) -> Vec<f64> {
    let n = (until / step + 1e-9).floor() as usize;
    let mut g: Vec<f64> = (0..=n).map(|k| k as f64 * step).collect();
    if g.last()
        .is_some_and(|&t| (until - t) > 1e-9 * until.max(1.0))
    {
        g.push(until);
    }
    g
}

/// A list of sampling times with time 0 first (simulations start at 0).
pub fn from_zero(times: &[f64]) -> Vec<f64> {
    let mut g = times.to_vec();
    if g.first() != Some(&0.0) {
        g.insert(0, 0.0);
    }
    g
}

/// A trial's sampling grid: its `sample` schedule, or without one, every hour to the last window
/// edge or dose plus 24 h (at least 24 h).
pub fn trial_sampling(trial: &hir::Trial, aggregates: &[AggSlots]) -> Vec<f64> {
    match &trial.sampling {
        Some(hir::Sampling::Every { step, until }) => grid(*until, *step),
        Some(hir::Sampling::At(ts)) => from_zero(ts),
        None => {
            let last_window = aggregates
                .iter()
                .filter_map(|a| a.to.or(a.from))
                .fold(0.0, f64::max);
            let last_dose = trial
                .arms
                .iter()
                .flat_map(|a| &a.doses)
                .map(|d| {
                    d.start
                        + d.lag
                        + d.interval.unwrap_or(0.0)
                            * f64::from(d.count.unwrap_or(1).saturating_sub(1))
                })
                .fold(0.0, f64::max);
            grid(last_window.max(last_dose + 24.0).max(24.0), 1.0)
        }
    }
}

/// Index in `dense` of every time of `times` (each must be in `dense`, to 1e-9 relative).
pub fn positions(times: &[f64], dense: &[f64]) -> Vec<usize> {
    times
        .iter()
        .map(|t| {
            dense
                .iter()
                .position(|d| (d - t).abs() <= 1e-9 * t.abs().max(1.0))
                .unwrap_or(0)
        })
        .collect()
}

/// The rows `rows` of a simulation (states, observables and doses so far), in that order.
pub fn select_rows(sim: &Simulation, rows: &[usize]) -> Simulation {
    let (ns, no) = (sim.n_states, sim.n_observables);
    let mut out = Simulation {
        times: Vec::with_capacity(rows.len()),
        states: Vec::with_capacity(rows.len() * ns),
        observables: Vec::with_capacity(rows.len() * no),
        dosed: Vec::with_capacity(rows.len()),
        n_states: ns,
        n_observables: no,
        params: sim.params.clone(),
        steps: sim.steps,
    };
    for &k in rows {
        out.times.push(sim.times[k]);
        out.states
            .extend_from_slice(&sim.states[k * ns..(k + 1) * ns]);
        out.observables
            .extend_from_slice(&sim.observables[k * no..(k + 1) * no]);
        if let Some(d) = sim.dosed.get(k) {
            out.dosed.push(*d);
        }
    }
    out
}
