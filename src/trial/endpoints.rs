//! Endpoints of one patient, computed from the solver's dense output.
//!
//! The solver reports every observable on a dense evaluation grid (the sampling grid refined to
//! at most [`MAX_SPACING`] hours, plus every window edge and `value` time) and records its dense
//! output ([`DenseOutput`]: the solution at any time, from either side of a dose), so aggregates
//! see the curve between samples and do not depend on `sample`:
//!
//! - **Which side of a dose.** A window `[a, b]` sees the state just after a dose at `a` and just
//!   before a dose at `b` (the pre-dose trough); a dose strictly inside the window contributes
//!   both its pre-dose and post-dose values. `value(x, t)` is the value after any dose at `t`
//!   (what a sample at `t` reports); `trough(x, t)` the value just before it (equal to `value`
//!   when no dose is at `t`).
//! - **Extremes** (`max`, `min`, `tmax`, `tmin`) start from the values at the grid points and
//!   at both sides of every dose in the window; every discrete local extremum (and every
//!   stretch end whose neighbour moves away from it) is refined by Brent's minimisation on the
//!   dense output between its neighbours, to [`TIME_TOL`] in time (a smooth extremum's time is
//!   limited to about √ε relative by rounding of the values). Ties go to the earliest time.
//! - **Crossings** (`time_above`, `time_below`, `time_in`) are located by root-finding (Illinois
//!   regula falsi) on the dense output in every grid interval whose ends are on opposite sides of
//!   a threshold, to [`TIME_TOL`]; `fraction_of_time` and `first_time` bisect the switching time
//!   of their condition the same way. A threshold crossed twice within one grid interval
//!   (at most [`MAX_SPACING`] long) is not seen.
//! - `auc` and `mean` are exact integrals: lowering adds a running-integral state for each, and
//!   the endpoint is the difference of that state at the window edges (accurate to the solver
//!   tolerance).
//!
//! Booleans are 1 (true) or 0. The endpoint expressions themselves (aggregates combined with
//! covariates, genotypes and params) are compiled functions of the trial's [`Evaluator`], whose
//! inputs are the patient's followed by the aggregate values.

use super::evaluator::Evaluator;
use super::protocol::Course;
use crate::check::hir::Aggregate;
use crate::lower::{AggSlots, Lowered};
use crate::solve::{DenseOutput, ModelFns, Side, Simulation};
use std::rc::Rc;

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

/// Time resolution of located extrema and crossings, h (relative to the time above 1 h).
pub const TIME_TOL: f64 = 1e-9;

fn same_time(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
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

/// Brent's minimisation of `f` on `[a, b]` (R. P. Brent, *Algorithms for Minimization without
/// Derivatives*, 1973, ch. 5: golden section with parabolic steps) to `tol` in `x`. Returns the
/// minimiser and the minimum found.
pub fn brent_min(mut a: f64, mut b: f64, tol: f64, mut f: impl FnMut(f64) -> f64) -> (f64, f64) {
    const GOLD: f64 = 0.381_966_011_250_105_1;
    let mut x = a + GOLD * (b - a);
    let (mut w, mut v) = (x, x);
    let mut fx = f(x);
    let (mut fw, mut fv) = (fx, fx);
    let (mut d, mut e) = (0.0f64, 0.0f64);
    for _ in 0..200 {
        let xm = 0.5 * (a + b);
        let tol1 = tol + 1e-10 * x.abs();
        let tol2 = 2.0 * tol1;
        if (x - xm).abs() <= tol2 - 0.5 * (b - a) {
            break;
        }
        let mut golden = true;
        if e.abs() > tol1 {
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            let e_old = e;
            e = d;
            if p.abs() < (0.5 * q * e_old).abs() && p > q * (a - x) && p < q * (b - x) {
                d = p / q;
                let u = x + d;
                if u - a < tol2 || b - u < tol2 {
                    d = if xm >= x { tol1 } else { -tol1 };
                }
                golden = false;
            }
        }
        if golden {
            e = if x >= xm { a - x } else { b - x };
            d = GOLD * e;
        }
        let u = if d.abs() >= tol1 {
            x + d
        } else if d > 0.0 {
            x + tol1
        } else {
            x - tol1
        };
        let fu = f(u);
        if fu <= fx {
            if u >= x {
                a = x;
            } else {
                b = x;
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    (x, fx)
}

/// A root of `f` in `[a, b]` where `fa = f(a)` and `fb = f(b)` have opposite signs, by the
/// Illinois variant of regula falsi (Dowell & Jarratt, BIT 11, 1971), to `tol` in `x`.
pub fn root(
    mut a: f64,
    mut fa: f64,
    mut b: f64,
    mut fb: f64,
    tol: f64,
    mut f: impl FnMut(f64) -> f64,
) -> f64 {
    let mut side = 0i8;
    let mut c = 0.5 * (a + b);
    for _ in 0..200 {
        if (b - a).abs() <= tol {
            break;
        }
        c = (fa * b - fb * a) / (fa - fb);
        if !(c > a.min(b) && c < a.max(b)) {
            c = 0.5 * (a + b);
        }
        let fc = f(c);
        if fc.is_nan() || fc == 0.0 {
            return c;
        }
        if fc * fb > 0.0 {
            (b, fb) = (c, fc);
            if side == -1 {
                fa *= 0.5;
            }
            side = -1;
        } else {
            (a, fa) = (c, fc);
            if side == 1 {
                fb *= 0.5;
            }
            side = 1;
        }
    }
    c
}

/// The first time in `[a, b]` where `f` is true, when it is false at `a` and true at `b`, by
/// bisection to `tol`.
fn switch(mut a: f64, mut b: f64, tol: f64, mut f: impl FnMut(f64) -> bool) -> f64 {
    for _ in 0..200 {
        if b - a <= tol {
            break;
        }
        let m = 0.5 * (a + b);
        if f(m) {
            b = m;
        } else {
            a = m;
        }
    }
    b
}

/// One point where a window's curve is known: a grid row, or one side of a dose.
#[derive(Clone, Copy, Debug)]
struct Node {
    t: f64,
    side: Side,
    /// The grid row holding its values, if any.
    row: Option<usize>,
}

/// Whether the curve is smooth between two consecutive nodes (no dose between them).
fn smooth(p: &Node, q: &Node) -> bool {
    q.t > p.t && !same_time(p.t, q.t)
}

/// The nodes of one window, by its first and last grid row.
type WindowNodes = ((usize, usize), Rc<[Node]>);

/// One patient's solution as a function of time: the grid rows of a [`Simulation`] where they
/// hold, its [`DenseOutput`] between them and at either side of a dose, and the model's
/// observables of that state.
pub struct Curve<'a, F: ModelFns> {
    model: &'a F,
    sim: &'a Simulation,
    dense: &'a mut DenseOutput,
    y: Vec<f64>,
    obs: Vec<f64>,
    /// The nodes of the windows seen so far.
    windows: Vec<WindowNodes>,
}

impl<'a, F: ModelFns> Curve<'a, F> {
    /// The curve of `sim` (solved by `model`) with its dense output `dense`.
    pub fn new(model: &'a F, sim: &'a Simulation, dense: &'a mut DenseOutput) -> Self {
        Curve {
            model,
            sim,
            y: vec![0.0; dense.n_states()],
            obs: vec![0.0; sim.n_observables],
            dense,
            windows: Vec::new(),
        }
    }

    /// The observables at `t` from `side` of a dose (NaN when the model cannot evaluate them).
    fn observables(&mut self, t: f64, side: Side) -> &[f64] {
        self.dense.state_at(t, side, &mut self.y);
        let params = self.dense.params_at(t, side).unwrap_or(&self.sim.params);
        if self
            .model
            .observe(t, &self.y, params, &mut self.obs)
            .is_err()
        {
            self.obs.fill(f64::NAN);
        }
        &self.obs
    }

    /// Observable `j` at `t` from `side` of a dose.
    pub fn observable(&mut self, t: f64, side: Side, j: usize) -> f64 {
        self.observables(t, side)
            .get(j)
            .copied()
            .unwrap_or(f64::NAN)
    }

    #[inline]
    fn value(&mut self, n: &Node, j: usize) -> f64 {
        match n.row {
            Some(k) if j < self.sim.n_observables => self.sim.observable(k, j),
            _ => self.observable(n.t, n.side, j),
        }
    }

    /// The nodes of window `a`: every grid row in it and both sides of every dose inside it
    /// (only the post-dose side at its start and the pre-dose side at its end). Built once per
    /// window and shared by its aggregates.
    fn nodes(&mut self, a: &AggSlots) -> Rc<[Node]> {
        let rows = window(&self.sim.times, a);
        if let Some((_, n)) = self.windows.iter().find(|w| w.0 == rows) {
            return Rc::clone(n);
        }
        let n: Rc<[Node]> = self.build_nodes(rows).into();
        self.windows.push((rows, Rc::clone(&n)));
        n
    }

    fn build_nodes(&self, (i0, i1): (usize, usize)) -> Vec<Node> {
        let times = &self.sim.times;
        let breaks = self.dense.breaks();
        let lo = times[i0];
        let mut bi = breaks.partition_point(|&b| b < lo && !same_time(b, lo));
        let mut out = Vec::with_capacity(i1 - i0 + 3);
        for (k, &t) in times.iter().enumerate().take(i1 + 1).skip(i0) {
            while let Some(&b) = breaks.get(bi) {
                if b < t && !same_time(b, t) {
                    out.push(Node {
                        t: b,
                        side: Side::Left,
                        row: None,
                    });
                    out.push(Node {
                        t: b,
                        side: Side::Right,
                        row: None,
                    });
                    bi += 1;
                } else {
                    break;
                }
            }
            let right = Node {
                t,
                side: Side::Right,
                row: Some(k),
            };
            match breaks.get(bi) {
                Some(&b) if same_time(b, t) => {
                    bi += 1;
                    if k != i0 {
                        out.push(Node {
                            t: b,
                            side: Side::Left,
                            row: None,
                        });
                    }
                    if k != i1 || i0 == i1 {
                        out.push(right);
                    }
                }
                _ => out.push(right),
            }
        }
        out
    }

    /// The largest (`sign = 1`) or smallest (`sign = −1`) value of observable `j` over `nodes`
    /// and the dense output between them, and its time (the earliest on ties).
    fn extremum(&mut self, nodes: &[Node], j: usize, sign: f64) -> (f64, f64) {
        let vals: Vec<f64> = nodes.iter().map(|n| self.value(n, j)).collect();
        if nodes.is_empty() || vals.iter().any(|v| v.is_nan()) {
            return (f64::NAN, f64::NAN);
        }
        let mut best = (nodes[0].t, vals[0]);
        for (n, &v) in nodes.iter().zip(&vals) {
            if sign * v > sign * best.1 {
                best = (n.t, v);
            }
        }
        // smooth[i]: between nodes i and i + 1.
        let smooth: Vec<bool> = nodes.windows(2).map(|w| smooth(&w[0], &w[1])).collect();
        for i in 0..nodes.len() {
            let left = i > 0 && smooth[i - 1];
            let right = i < smooth.len() && smooth[i];
            let s = |v: f64| sign * v;
            let up_l = !left || s(vals[i]) >= s(vals[i - 1]);
            let up_r = !right || s(vals[i]) >= s(vals[i + 1]);
            let strict =
                (left && s(vals[i]) > s(vals[i - 1])) || (right && s(vals[i]) > s(vals[i + 1]));
            if !(up_l && up_r && (left || right) && (strict || !(left && right))) {
                continue;
            }
            let (a, b) = (
                if left { nodes[i - 1].t } else { nodes[i].t },
                if right { nodes[i + 1].t } else { nodes[i].t },
            );
            if !(left && right) {
                // A stretch end (a dose or the window edge): refine only when the curve moves
                // towards a better value from it.
                let h = 1e-6 * (b - a);
                let probe = if left { nodes[i].t - h } else { nodes[i].t + h };
                if s(self.observable(probe, Side::Right, j)) <= s(vals[i]) {
                    continue;
                }
            }
            let tol = TIME_TOL * nodes[i].t.abs().max(1.0);
            let (t, v) = brent_min(a, b, tol, |t| -s(self.observable(t, Side::Right, j)));
            let v = -sign * v;
            if sign * v > sign * best.1 || (sign * v == sign * best.1 && t < best.0) {
                best = (t, v);
            }
        }
        best
    }

    /// How long the curve spends where `inside(values)` holds over `nodes`, locating every
    /// crossing of `x − threshold` (observable `x` = `obs[0]`, thresholds `obs[1..]`).
    fn time_where(
        &mut self,
        nodes: &[Node],
        obs: &[usize],
        inside: impl Fn(&[f64]) -> bool,
    ) -> f64 {
        let m = obs.len();
        // A brief excursion across a threshold between two grid points: refine every discrete
        // local extremum of x − threshold that stays on one side, and split there if the
        // refined extremum is on the other.
        let mut split: Vec<Node> = Vec::new();
        for k in 1..m {
            let f: Vec<f64> = nodes
                .iter()
                .map(|n| self.value(n, obs[0]) - self.value(n, obs[k]))
                .collect();
            for i in 1..nodes.len().saturating_sub(1) {
                if !smooth(&nodes[i - 1], &nodes[i]) || !smooth(&nodes[i], &nodes[i + 1]) {
                    continue;
                }
                let sign = if f[i] < 0.0 && f[i] > f[i - 1] && f[i] >= f[i + 1] {
                    1.0
                } else if f[i] > 0.0 && f[i] < f[i - 1] && f[i] <= f[i + 1] {
                    -1.0
                } else {
                    continue;
                };
                let tol = TIME_TOL * nodes[i].t.abs().max(1.0);
                let (j0, jk) = (obs[0], obs[k]);
                let (t, v) = brent_min(nodes[i - 1].t, nodes[i + 1].t, tol, |t| {
                    let o = self.observables(t, Side::Right);
                    -sign
                        * (o.get(j0).copied().unwrap_or(f64::NAN)
                            - o.get(jk).copied().unwrap_or(f64::NAN))
                });
                if -sign * v * f[i] < 0.0 {
                    split.push(Node {
                        t,
                        side: Side::Right,
                        row: None,
                    });
                }
            }
        }
        let merged;
        let nodes = if split.is_empty() {
            nodes
        } else {
            let mut all = nodes.to_vec();
            all.extend(split);
            // Stable: a dose's two sides keep their order.
            all.sort_by(|a, b| a.t.total_cmp(&b.t));
            merged = all;
            &merged[..]
        };
        let mut total = 0.0;
        let mut vp: Vec<f64> = Vec::with_capacity(m);
        let mut vq: Vec<f64> = Vec::with_capacity(m);
        let mut pts: Vec<f64> = Vec::with_capacity(4);
        let mut buf = vec![0.0; m];
        for w in nodes.windows(2) {
            let (p, q) = (&w[0], &w[1]);
            if !smooth(p, q) {
                continue;
            }
            vp.clear();
            vq.clear();
            for &j in obs {
                let a = self.value(p, j);
                vp.push(a);
                let b = self.value(q, j);
                vq.push(b);
            }
            pts.clear();
            pts.push(p.t);
            for k in 1..m {
                let (fp, fq) = (vp[0] - vp[k], vq[0] - vq[k]);
                if fp * fq < 0.0 {
                    let tol = TIME_TOL * q.t.abs().max(1.0);
                    let (j0, jk) = (obs[0], obs[k]);
                    pts.push(root(p.t, fp, q.t, fq, tol, |t| {
                        let o = self.observables(t, Side::Right);
                        o.get(j0).copied().unwrap_or(f64::NAN)
                            - o.get(jk).copied().unwrap_or(f64::NAN)
                    }));
                }
            }
            pts.push(q.t);
            pts.sort_by(f64::total_cmp);
            if pts.len() == 2 && inside(&vp) == inside(&vq) {
                if inside(&vp) {
                    total += q.t - p.t;
                }
                continue;
            }
            for s in pts.windows(2) {
                let mid = 0.5 * (s[0] + s[1]);
                let o = self.observables(mid, Side::Right);
                for (b, &j) in buf.iter_mut().zip(obs) {
                    *b = o.get(j).copied().unwrap_or(f64::NAN);
                }
                if inside(&buf) {
                    total += s[1] - s[0];
                }
            }
        }
        total
    }

    /// Whether condition observable `j` holds at `t` (right side).
    fn holds(&mut self, t: f64, j: usize) -> bool {
        self.observable(t, Side::Right, j) != 0.0
    }
}

/// The value of one aggregate of a patient's solution.
pub fn aggregate_value<F: ModelFns>(a: &AggSlots, c: &mut Curve<'_, F>) -> f64 {
    let sim = c.sim;
    let t = &sim.times;
    if t.is_empty() {
        return f64::NAN;
    }
    let (i0, i1) = window(t, a);
    let ob = |j: usize| a.observables.get(j).copied().unwrap_or(0);
    let span = t[i1] - t[i0];
    match a.kind {
        Aggregate::Max | Aggregate::Tmax | Aggregate::Min | Aggregate::Tmin => {
            let nodes = c.nodes(a);
            let sign = if matches!(a.kind, Aggregate::Max | Aggregate::Tmax) {
                1.0
            } else {
                -1.0
            };
            let (tt, v) = c.extremum(&nodes, ob(0), sign);
            if matches!(a.kind, Aggregate::Max | Aggregate::Min) {
                v
            } else {
                tt
            }
        }
        Aggregate::Value => sim.observable(i0, ob(0)),
        Aggregate::Trough => {
            if c.dense.breaks().iter().any(|&b| same_time(b, t[i0])) {
                let tb = c
                    .dense
                    .breaks()
                    .iter()
                    .copied()
                    .find(|&b| same_time(b, t[i0]))
                    .unwrap_or(t[i0]);
                c.observable(tb, Side::Left, ob(0))
            } else {
                sim.observable(i0, ob(0))
            }
        }
        Aggregate::Auc | Aggregate::Mean => {
            let Some(s) = a.integral else { return f64::NAN };
            let auc = sim.state(i1, s) - sim.state(i0, s);
            if a.kind == Aggregate::Auc {
                auc
            } else if span > 0.0 {
                auc / span
            } else {
                sim.observable(i0, ob(0))
            }
        }
        Aggregate::TimeAbove => {
            let nodes = c.nodes(a);
            c.time_where(&nodes, &[ob(0), ob(1)], |v| v[0] >= v[1])
        }
        Aggregate::TimeBelow => {
            let nodes = c.nodes(a);
            c.time_where(&nodes, &[ob(0), ob(1)], |v| v[0] <= v[1])
        }
        Aggregate::TimeIn => {
            let nodes = c.nodes(a);
            c.time_where(&nodes, &[ob(0), ob(1), ob(2)], |v| {
                v[0] >= v[1] && v[0] <= v[2]
            })
        }
        Aggregate::FractionOfTime => {
            if span <= 0.0 {
                return sim.observable(i0, ob(0));
            }
            let nodes = c.nodes(a);
            let j = ob(0);
            let mut inside = 0.0;
            for w in nodes.windows(2) {
                let (p, q) = (&w[0], &w[1]);
                if !smooth(p, q) {
                    continue;
                }
                let (vp, vq) = (c.value(p, j) != 0.0, c.value(q, j) != 0.0);
                let tol = TIME_TOL * q.t.abs().max(1.0);
                inside += match (vp, vq) {
                    (true, true) => q.t - p.t,
                    (false, false) => 0.0,
                    (false, true) => q.t - switch(p.t, q.t, tol, |t| c.holds(t, j)),
                    (true, false) => switch(p.t, q.t, tol, |t| !c.holds(t, j)) - p.t,
                };
            }
            inside / span
        }
        Aggregate::FirstTime => {
            let nodes = c.nodes(a);
            let j = ob(0);
            let Some(first) = nodes.first() else {
                return t[i1];
            };
            if c.value(first, j) != 0.0 {
                return first.t;
            }
            for w in nodes.windows(2) {
                let (p, q) = (&w[0], &w[1]);
                if c.value(q, j) != 0.0 {
                    if !smooth(p, q) {
                        return q.t;
                    }
                    let tol = TIME_TOL * q.t.abs().max(1.0);
                    return switch(p.t, q.t, tol, |t| c.holds(t, j));
                }
            }
            t[i1]
        }
        // Read from the protocol's course by `evaluate`.
        Aggregate::FractionOfVisits
        | Aggregate::FirstVisit
        | Aggregate::DoseChanges
        | Aggregate::FinalDose
        | Aggregate::TotalDose
        | Aggregate::RelativeDoseIntensity
        | Aggregate::Discontinued => f64::NAN,
    }
}

/// Every endpoint of a trial for one patient, by the trial's compiled `evaluator` from the
/// patient's `inputs` (in `lowered`'s layout), the simulation's parameters and the value of every
/// aggregate of `lowered` on the patient's `curve` (NaN everywhere if the buffers do not fit the
/// evaluator); protocol summaries read `course` (with the trial's stop reasons), NaN without.
pub fn evaluate<F: ModelFns>(
    evaluator: &Evaluator,
    lowered: &Lowered,
    inputs: &[f64],
    curve: &mut Curve<'_, F>,
    course: Option<(&Course, &[String])>,
) -> Vec<f64> {
    let sim = curve.sim;
    let n = evaluator
        .lowered()
        .endpoints
        .functions
        .first()
        .map_or(0, |f| f.outputs.len());
    let mut args = Vec::with_capacity(inputs.len() + lowered.aggregates.len());
    args.extend_from_slice(inputs);
    let end = sim.times.last().copied().unwrap_or(0.0);
    let mut summary = 0usize;
    // The endpoints' aggregates (the goals of `fit dose so` follow them in `lowered`).
    for a in lowered.aggregates.iter().take(evaluator.n_aggregates()) {
        if a.kind.is_protocol() {
            let v = match course {
                Some((c, reasons)) => {
                    let reason = a.reason.and_then(|k| reasons.get(k)).map(String::as_str);
                    super::protocol::aggregate(a.kind, c, summary, reason, end)
                }
                None => f64::NAN,
            };
            if matches!(a.kind, Aggregate::FractionOfVisits | Aggregate::FirstVisit) {
                summary += 1;
            }
            args.push(v);
        } else {
            args.push(aggregate_value(a, curve));
        }
    }
    let mut out = vec![f64::NAN; n];
    if evaluator.endpoints(&args, &sim.params, &mut out).is_err() {
        out.fill(f64::NAN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{brent_min, root, switch};

    #[test]
    fn brent_finds_the_minimum_of_a_smooth_function() {
        // (t − 1.7)² + 3 on [0, 5] and −t·e^{−t} (minimum at t = 1, value −1/e). A smooth
        // minimum is located to about √ε relative in x (f changes by ε·f there).
        let (t, v) = brent_min(0.0, 5.0, 1e-10, |t| (t - 1.7) * (t - 1.7) + 3.0);
        assert!((t - 1.7).abs() < 1e-7 && (v - 3.0).abs() < 1e-15, "{t} {v}");
        let (t, v) = brent_min(0.0, 4.0, 1e-10, |t| -t * (-t).exp());
        assert!(
            (t - 1.0).abs() < 1e-7 && (v + (-1.0f64).exp()).abs() < 1e-14,
            "{t} {v}"
        );
    }

    #[test]
    fn illinois_and_bisection_locate_a_crossing() {
        let f = |t: f64| (-0.3 * t).exp() - 0.5;
        let want = 2f64.ln() / 0.3;
        let r = root(0.0, f(0.0), 5.0, f(5.0), 1e-12, f);
        assert!((r - want).abs() < 1e-10, "{r} vs {want}");
        let s = switch(0.0, 5.0, 1e-12, |t| f(t) <= 0.0);
        assert!((s - want).abs() < 1e-11, "{s} vs {want}");
    }
}
