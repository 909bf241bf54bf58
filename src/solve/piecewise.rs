//! Piecewise solves: a patient whose parameters or state change during the solve.
//!
//! Input: the parameters at the start, [`Segment`]s (from a time on, other parameters: a
//! time-varying covariate's new value, a new occasion's random effects; or a reset of the state,
//! NONMEM `EVID 3`), and a regimen that may contain steady-state doses ([`Dose::steady_state`],
//! NONMEM `SS=1`/`SS=2`).
//! Output: the same [`Simulation`] as an ordinary solve, one row per grid time, and when asked
//! the [`DenseOutput`] over all pieces: every boundary is one of its breaks, with the state on
//! either side and the parameters in force on either side ([`DenseOutput::params_at`]).
//!
//! Conventions:
//! - Every segment time and every steady-state dose time is a boundary; the solve runs each piece
//!   between boundaries as an ordinary solve (`run_piece` of the `solve` module) and carries the state across
//!   (the state is continuous at a parameter change: only the right-hand side changes). A grid
//!   time exactly at a boundary reports the state after it (right-continuous, as at a dose).
//! - A dose uses the parameters in force at its nominal time (F, lag, and the amount computed
//!   from them); its repeats keep them. An infusion running across a boundary keeps its rate.
//! - A reset (`SegmentStart::Reset`, NONMEM `EVID 3`) sets the state to the model's initial
//!   state under the new parameters and stops running infusions.
//! - A steady-state dose at time `t` with interval τ: just before `t` the state is the periodic
//!   steady state `y*` of the dose repeated every τ, the fixed point of the one-interval map
//!   `Φ(y)` = the state at `t + τ` (before the events there) from `y` at `t` under the dose at
//!   `t` and what earlier doses of the steady state still contribute (running infusions, lagged
//!   doses; [`super::dosing`]). `Φ` is solved by Newton's method with a finite-difference
//!   Jacobian of `Φ` (for a linear model `Φ` is affine and one Newton step solves
//!   `(I − e^{Aτ}) y* = Φ(0)` up to rounding; iterations continue until the residual is below
//!   the solver tolerance), then by repeated intervals if Newton stalls. `SS=1` replaces the
//!   state by `y*` and stops infusions running from earlier doses; `SS=2` adds `y*` to the state.
//!   The dose at `t` and the earlier doses' remaining infusions then act as ordinary events.
//!   States that no right-hand side depends on (running totals: a urine compartment, the
//!   `eliminated` column, the integrals behind `auc` and `mean` endpoints) have no periodic
//!   steady state; they are left out of the fixed point and carry on through a steady-state
//!   dose unchanged.

use super::dense::DenseOutput;
use super::dosing::{self, Dose, Event, EventKind, Regimen};
use super::driver::{self, Patient, SolveError, SolveOptions, same_time};
use super::lu::DenseLu;
use super::model::ModelFns;
use super::{Simulation, run_piece};

/// A change of a patient's parameters (and possibly state) from `time` on.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// When the change takes effect.
    pub time: f64,
    /// The parameter values from then on (named then hoisted slots, as `setup` computes them).
    pub params: Vec<f64>,
    /// What happens to the state.
    pub start: SegmentStart,
}

/// What happens to the state at a [`Segment`]'s time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentStart {
    /// The state carries on (continuous); only the parameters change.
    Continue,
    /// The state is reset to the model's initial state under the new parameters and running
    /// infusions stop (NONMEM `EVID 3`).
    Reset,
}

/// The state and observables just before a boundary's changes (the left limit at a segment
/// time or a steady-state dose time, before the events there).
#[derive(Clone, Debug, PartialEq)]
pub struct LeftLimit {
    /// The boundary time.
    pub time: f64,
    /// The state.
    pub states: Vec<f64>,
    /// The observables (with the parameters in force before the boundary).
    pub observables: Vec<f64>,
}

/// A protocol that looks at the patient during the solve and may change the regimen: see
/// [`solve`]'s `control`.
pub trait Control {
    /// The first visit strictly after `after` (any visit when `after` is −∞), if any.
    fn next_visit(&self, after: f64) -> Option<f64>;
    /// A visit at `time`, with the left limit there (`states` and `observables` just before the
    /// events at `time`). Returns the regimen from then on when the visit changes it: the doses
    /// given before `time` must be the same as before (they are re-expanded with the rest).
    fn visit(&mut self, time: f64, states: &[f64], observables: &[f64]) -> Option<Regimen>;
}

/// Most Newton iterations for a steady state before falling back to repeated intervals.
const NEWTON_ITERATIONS: usize = 30;
/// Most repeated intervals for a steady state when Newton's method stalls.
pub const REPEATED_INTERVALS: usize = 10_000;

/// What happens at one boundary.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// Parameters from `params[i]` on.
    Params(usize, SegmentStart),
    /// The steady state of dose `k` (with the parameters in force).
    SteadyState(usize),
}

/// Solves a patient piece by piece. See the module docs.
///
/// With a `control`, every visit it gives (up to the last grid time) is a boundary too: the
/// piece before it ends there, the control sees the left limit and may replace the regimen, and
/// the solve carries on from the same state with the new regimen's events. Left limits are
/// returned for every boundary, visits included.
#[allow(clippy::too_many_arguments)]
pub(super) fn solve<F: ModelFns>(
    model: &F,
    params: Vec<f64>,
    segments: &[Segment],
    regimen: &Regimen,
    grid: &[f64],
    opts: &SolveOptions,
    linear: bool,
    record: bool,
    mut control: Option<&mut dyn Control>,
) -> Result<(Simulation, Option<DenseOutput>, Vec<LeftLimit>), SolveError> {
    let m = model.module();
    let n = m.n_states();
    let (g0, _) = driver::check_grid(grid)?;
    let grid_end = grid.last().copied().unwrap_or(g0);
    if control.is_some() && regimen.doses.iter().any(|d| d.steady_state.is_some()) {
        return Err(SolveError::BadOptions(
            "a protocol cannot start a dose at steady state",
        ));
    }
    if regimen.doses.iter().any(|d| d.steady_state.is_some())
        && m.rhs.classes.contains(&crate::ir::Class::Time)
    {
        return Err(SolveError::BadOptions(
            "a steady state needs a model that does not depend on time: its right-hand side reads `t` (a time-varying covariate or param), so no dosing interval repeats",
        ));
    }
    if segments.iter().any(|s| !s.time.is_finite()) {
        return Err(SolveError::BadOptions("a segment time is not finite"));
    }
    if segments.windows(2).any(|w| w[1].time < w[0].time) {
        return Err(SolveError::BadOptions("segments are not sorted by time"));
    }
    // Parameter sets: the initial one, then one per segment.
    let mut sets: Vec<&[f64]> = vec![&params];
    driver::check_params(m, &params, g0)?;
    for s in segments {
        driver::check_params(m, &s.params, s.time)?;
        sets.push(&s.params);
    }
    // The parameter set in force at time t (a change at t is in force at t).
    let set_at = |t: f64| {
        segments
            .iter()
            .rposition(|s| s.time <= t || same_time(s.time, t))
            .map_or(0, |i| i + 1)
    };
    // Boundaries, sorted by time (stable: segments first, then steady-state doses in order).
    let mut bounds: Vec<(f64, Action)> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.time, Action::Params(i + 1, s.start)))
        .collect();
    // Events: each dose with the parameters in force at its nominal time.
    let mut events: Vec<Event> = Vec::new();
    let mut next_id = 0usize;
    for (k, d) in regimen.doses.iter().enumerate() {
        let p = sets[set_at(d.time)];
        dosing::expand_dose(k, d, m, p, &mut next_id, &mut events)?;
        if d.steady_state.is_some() {
            dosing::steady_state_history(k, d, m, p, &mut next_id, &mut events)?;
            bounds.push((d.time, Action::SteadyState(k)));
        }
    }
    events.sort_by(|a, b| a.time.total_cmp(&b.time));
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Distinct static boundary times; visits of the control are boundaries as well.
    let mut times: Vec<f64> = Vec::new();
    for (t, _) in &bounds {
        if !times.last().is_some_and(|&l| same_time(l, *t)) {
            times.push(*t);
        }
    }
    // When each infusion ends.
    let infusion_ends = |events: &[Event]| {
        let mut ends = std::collections::HashMap::new();
        for e in events {
            if let EventKind::InfusionEnd { id } = e.kind {
                ends.insert(id, e.time);
            }
        }
        ends
    };
    let mut ends = infusion_ends(&events);
    let mut out = Simulation {
        times: Vec::with_capacity(grid.len()),
        states: Vec::with_capacity(grid.len() * n),
        observables: Vec::with_capacity(grid.len() * m.n_observables()),
        dosed: Vec::with_capacity(grid.len()),
        n_states: n,
        n_observables: m.n_observables(),
        params: params.clone(),
        steps: 0,
    };
    let mut y = vec![0.0; n];
    model.init(&params, &mut y)?;
    let free = dynamic_states(m);
    let mut set = 0usize;
    let mut dosed = 0.0;
    // Infusions stopped by a reset (SS=1 or EVID 3): their later end events are no-ops.
    let mut stopped_before = f64::NEG_INFINITY;
    let mut b = 0usize;
    let mut limits = Vec::with_capacity(times.len());
    let mut dense: Option<DenseOutput> = None;
    let mut dense_set = 0usize;
    // The piece runs from `start` (−∞ for the first) to the next boundary.
    let mut start = f64::NEG_INFINITY;
    let mut si = 0usize;
    let mut gi = 0usize;
    let mut visit_here = false;
    let mut first = true;
    let mut cache = super::linear::LinearCache::default();
    loop {
        if !first {
            if visit_here
                && let Some(c) = control.as_deref_mut()
                && let Some(l) = limits.last()
            {
                let l: &LeftLimit = l;
                if let Some(r) = c.visit(start, &l.states, &l.observables) {
                    if r.doses.iter().any(|d| d.steady_state.is_some()) {
                        return Err(SolveError::BadOptions(
                            "a protocol cannot start a dose at steady state",
                        ));
                    }
                    events.clear();
                    let mut next_id = 0usize;
                    for (k, d) in r.doses.iter().enumerate() {
                        let p = sets[set_at(d.time)];
                        dosing::expand_dose(k, d, m, p, &mut next_id, &mut events)?;
                    }
                    events.sort_by(|a, b| a.time.total_cmp(&b.time));
                    ends = infusion_ends(&events);
                }
            }
            // Apply this boundary's actions in order.
            while let Some(&(t, action)) = bounds.get(b) {
                if !same_time(t, start) {
                    break;
                }
                b += 1;
                match action {
                    Action::Params(i, how) => {
                        set = i;
                        if how == SegmentStart::Reset {
                            model.init(sets[set], &mut y)?;
                            stopped_before = start;
                        }
                    }
                    Action::SteadyState(dk) => {
                        let d = &regimen.doses[dk];
                        let p = sets[set];
                        let ss = steady_state(model, dk, d, p, opts, linear)?;
                        let add = d.steady_state.is_some_and(|s| s.add);
                        for &i in &free {
                            y[i] = if add { y[i] + ss[i] } else { ss[i] };
                        }
                        if !add {
                            stopped_before = start;
                        }
                    }
                }
            }
        }
        // The next boundary: a static one, a visit, or both.
        let next_static = times.get(si).copied();
        let next_visit = control
            .as_deref()
            .and_then(|c| c.next_visit(start))
            .filter(|&t| t <= grid_end || same_time(t, grid_end));
        let next = match (next_static, next_visit) {
            (Some(a), Some(v)) => Some(a.min(v)),
            (a, v) => a.or(v),
        };
        visit_here = next_visit.is_some_and(|v| next.is_some_and(|t| same_time(v, t)));
        if let Some(t) = next
            && next_static.is_some_and(|a| same_time(a, t))
        {
            si += 1;
        }
        let last = next.is_none();
        let before_next = |t: f64| next.is_none_or(|x| t < x && !same_time(t, x));
        let mut piece_grid: Vec<f64> = Vec::new();
        while let Some(&g) = grid.get(gi) {
            if !before_next(g) {
                break;
            }
            piece_grid.push(g);
            gi += 1;
        }
        if let Some(t) = next {
            piece_grid.push(t);
        } else if piece_grid.is_empty() {
            break;
        }
        let in_piece = |t: f64| (first || t > start || same_time(t, start)) && before_next(t);
        let mut piece_events: Vec<Event> = Vec::new();
        if !first {
            // Infusions started before this piece and still running carry on from its start.
            for e in &events {
                if let EventKind::InfusionStart { id, .. } = e.kind
                    && e.time < start
                    && !same_time(e.time, start)
                    && e.time > stopped_before
                    && !same_time(e.time, stopped_before)
                    && ends
                        .get(&id)
                        .is_some_and(|&end| end > start && !same_time(end, start))
                {
                    piece_events.push(Event { time: start, ..*e });
                }
            }
        }
        piece_events.extend(events.iter().filter(|e| in_piece(e.time)).copied());
        let t_end = piece_grid.last().copied().unwrap_or(start);
        let t0 = if first {
            piece_events
                .first()
                .map_or(piece_grid[0], |e| e.time.min(piece_grid[0]))
        } else {
            start
        };
        let patient = Patient::piece(m, sets[set].to_vec(), piece_events, t0, t_end);
        let piece = run_piece(
            model,
            &patient,
            y.clone(),
            &piece_grid,
            opts,
            linear,
            record,
            dosed,
            &mut cache,
            grid_end,
        )?;
        if let Some(mut next) = piece.dense {
            match dense.as_mut() {
                None => {
                    // The record of the whole solve: room for every grid point and event.
                    next.reserve(grid.len() + events.len());
                    dense = Some(next)
                }
                Some(d) => d.append(start, next, sets[dense_set], sets[set]),
            }
            dense_set = set;
        }
        let mut sim = piece.sim;
        out.steps += sim.steps;
        if let Some(t) = next {
            // The extra row at the boundary: the state there, before the boundary's changes.
            let rows = sim.times.len();
            if rows == 0 {
                return Err(SolveError::BadGrid("a piece produced no output"));
            }
            y.copy_from_slice(&sim.states[(rows - 1) * n..rows * n]);
            dosed = sim.dosed[rows - 1];
            let no = sim.n_observables;
            limits.push(LeftLimit {
                time: t,
                states: y.clone(),
                observables: sim.observables[(rows - 1) * no..rows * no].to_vec(),
            });
            sim.times.truncate(rows - 1);
            sim.states.truncate((rows - 1) * n);
            sim.observables.truncate((rows - 1) * sim.n_observables);
            sim.dosed.truncate(rows - 1);
        }
        out.times.extend_from_slice(&sim.times);
        out.states.extend_from_slice(&sim.states);
        out.observables.extend_from_slice(&sim.observables);
        out.dosed.extend_from_slice(&sim.dosed);
        if last {
            break;
        }
        start = next.unwrap_or(start);
        first = false;
    }
    Ok((out, dense, limits))
}

/// The states some right-hand side depends on (a column of the Jacobian's sparsity): every state
/// but the running totals (amounts eliminated, integrals of endpoints), which have no steady
/// state.
fn dynamic_states(m: &crate::ir::Module) -> Vec<usize> {
    let mut read = vec![false; m.n_states()];
    for &(_, c) in &m.sparsity {
        if let Some(r) = read.get_mut(c as usize) {
            *r = true;
        }
    }
    (0..m.n_states()).filter(|&i| read[i]).collect()
}

/// The periodic steady state just before steady-state dose `k` (`d`) with parameters `p`: the
/// fixed point of the one-interval map (module docs).
fn steady_state<F: ModelFns>(
    model: &F,
    k: usize,
    d: &Dose,
    p: &[f64],
    opts: &SolveOptions,
    linear: bool,
) -> Result<Vec<f64>, SolveError> {
    let m = model.module();
    let n = m.n_states();
    let Some(ss) = d.steady_state else {
        return Err(SolveError::BadOptions("not a steady-state dose"));
    };
    let (t, tau) = (d.time, ss.interval);
    let once = Dose {
        repeat: dosing::Repeat::Once,
        steady_state: None,
        ..*d
    };
    let mut events = Vec::new();
    let mut next_id = 0usize;
    dosing::expand_dose(k, &once, m, p, &mut next_id, &mut events)?;
    dosing::steady_state_history(k, d, m, p, &mut next_id, &mut events)?;
    let t1 = t + tau;
    events.retain(|e| e.time < t1 && !same_time(e.time, t1));
    events.sort_by(|a, b| a.time.total_cmp(&b.time));
    let grid = [t1];
    let patient = Patient::piece(m, p.to_vec(), events, t, t1);
    let phi = |y: &[f64]| -> Result<Vec<f64>, SolveError> {
        let mut cache = super::linear::LinearCache::default();
        let piece = run_piece(
            model,
            &patient,
            y.to_vec(),
            &grid,
            opts,
            linear,
            false,
            0.0,
            &mut cache,
            t1,
        )?;
        Ok(piece.sim.states)
    };
    let (rtol, atol) = if linear {
        (1e-12, opts.atol.min(1e-12))
    } else {
        (opts.rtol, opts.atol)
    };
    // Running totals (states nothing depends on) have no steady state: they are left out of
    // the fixed point and carry on through it.
    let free = dynamic_states(m);
    let converged = |y: &[f64], fy: &[f64]| {
        free.iter()
            .all(|&i| (fy[i] - y[i]).abs() <= rtol * y[i].abs().max(fy[i].abs()) + atol)
    };
    let nf = free.len();
    let mut y = vec![0.0; n];
    model.init(p, &mut y)?;
    let mut lu = DenseLu::default();
    let mut jac = vec![0.0; nf * nf];
    for _ in 0..NEWTON_ITERATIONS {
        let fy = phi(&y)?;
        if free.iter().any(|&i| !fy[i].is_finite()) {
            break;
        }
        if converged(&y, &fy) {
            return Ok(fy);
        }
        let scale = free.iter().fold(0.0f64, |a, &i| a.max(fy[i].abs()));
        let rel = if linear { 1e-3 } else { rtol.sqrt().max(1e-7) };
        for (c, &i) in free.iter().enumerate() {
            let h = rel * y[i].abs().max(fy[i].abs()).max(1e-3 * scale).max(atol);
            let mut yh = y.clone();
            yh[i] += h;
            let fh = phi(&yh)?;
            for (r, &j) in free.iter().enumerate() {
                // Column c of J − I, column-major.
                jac[c * nf + r] = (fh[j] - fy[j]) / h - if r == c { 1.0 } else { 0.0 };
            }
        }
        let mut delta: Vec<f64> = free.iter().map(|&i| y[i] - fy[i]).collect();
        if !lu.factorize(nf, &jac) || !lu.solve(&mut delta) || delta.iter().any(|v| !v.is_finite())
        {
            break;
        }
        for (&i, di) in free.iter().zip(&delta) {
            y[i] += di;
        }
    }
    // Repeated intervals from the initial state.
    model.init(p, &mut y)?;
    for _ in 0..REPEATED_INTERVALS {
        let fy = phi(&y)?;
        if converged(&y, &fy) {
            return Ok(fy);
        }
        y = fy;
    }
    Err(SolveError::SteadyState {
        time: t,
        interval: tau,
    })
}
