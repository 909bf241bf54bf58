//! Sampling grids, in hours.
//!
//! A grid is never allocated beyond [`MAX_POINTS`] points: its length is computed first and a
//! larger request is a [`GridTooLarge`] (reported as E0049).

use crate::check::hir;
use crate::lower::AggSlots;
use crate::solve::Simulation;

/// The most points one sampling grid (or a trial's dense evaluation grid) may have.
pub const MAX_POINTS: usize = 10_000_000;

/// The most values `twin run` returns (subjects × grid points × columns), all held in memory.
pub const MAX_RUN_VALUES: usize = 100_000_000;

/// The most trajectory values a trial writes (patients × sampling times × observables).
pub const MAX_TRAJECTORY_VALUES: usize = 1_000_000_000;

/// A grid, or an output over a grid, larger than allowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GridTooLarge {
    /// A grid of more than [`MAX_POINTS`] points.
    Points {
        /// How many points it would have (may be infinite).
        points: f64,
    },
    /// An output of more values than `max`.
    Values {
        /// How many values it would have.
        values: f64,
        /// The limit ([`MAX_RUN_VALUES`] or [`MAX_TRAJECTORY_VALUES`]).
        max: usize,
    },
}

impl std::fmt::Display for GridTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GridTooLarge::Points { points } => write!(
                f,
                "the sampling grid would have {points:.3e} points; at most {MAX_POINTS} are allowed"
            ),
            GridTooLarge::Values { values, max } => write!(
                f,
                "the output would have {values:.3e} values; at most {max} are allowed"
            ),
        }
    }
}

impl std::error::Error for GridTooLarge {}

/// The number of points of [`grid`]`(until, step)`, as a float (it may not fit a `usize`).
pub fn grid_len(until: f64, step: f64) -> f64 {
    (until / step + 1e-9).floor() + 2.0
}

/// Refuses a grid of `points` points if it is larger than [`MAX_POINTS`].
pub fn check_len(points: f64) -> Result<(), GridTooLarge> {
    if points.is_nan() || points > MAX_POINTS as f64 {
        Err(GridTooLarge::Points { points })
    } else {
        Ok(())
    }
}

/// `0, step, 2·step, …, until` (the end included); refused before allocating when longer than
/// [`MAX_POINTS`].
pub fn grid(until: f64, step: f64) -> Result<Vec<f64>, GridTooLarge> {
    check_len(grid_len(until, step))?;
    Ok(grid_unchecked(until, step))
}

fn grid_unchecked(until: f64, step: f64) -> Vec<f64> {
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
pub fn trial_sampling(
    trial: &hir::Trial,
    aggregates: &[AggSlots],
) -> Result<Vec<f64>, GridTooLarge> {
    match &trial.sampling {
        Some(hir::Sampling::Every { step, until }) => grid(*until, *step),
        Some(hir::Sampling::At(ts)) => Ok(from_zero(ts)),
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

/// Index in `dense` of every time of `times` (each must be in `dense`, to 1e-9 relative; both
/// sorted): one merge pass, linear in the two lengths.
pub fn positions(times: &[f64], dense: &[f64]) -> Vec<usize> {
    let mut k = 0;
    times
        .iter()
        .map(|t| {
            let near = |d: f64| (d - t).abs() <= 1e-9 * t.abs().max(1.0);
            while k < dense.len() && dense[k] < *t && !near(dense[k]) {
                k += 1;
            }
            if dense.get(k).is_some_and(|&d| near(d)) {
                k
            } else {
                0
            }
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
