//! Exact solutions of linear time-invariant models between dose events (`Method::Exact`).
//!
//! Input: a model whose right-hand side is *affine* in the states with per-patient coefficients,
//! `dy/dt = A·y + c` (every linear compartment model, with or without zero-order production),
//! plus the dose events and sampling grid prepared by [`super::simulate`].
//! Output: the same [`super::Simulation`] as the integrators, exact up to rounding at every grid
//! time: between two consecutive stops (grid times and discontinuities) the input
//! `b = c + infusion rates` is constant, so
//!
//! ```text
//! y(t + h) = e^{A h} · y(t) + ∫₀ʰ e^{A s} ds · b
//! ```
//!
//! Both blocks come from one matrix exponential of the augmented matrix
//! `[[A·h, B·h], [0, 0]]` (Van Loan 1978), where the columns of `B` span every input the
//! regimen can produce (the constant `c`, scaled to unit size, and one unit column per state
//! that receives an infusion); the top-right block is then `∫₀ʰ e^{As} ds · B`.
//! The exponential is Higham's scaling-and-squaring with Padé approximants of degree 3–13
//! ([`super::exponential`]: [`AugmentedExp`], the one builder of that augmented matrix, which the
//! dense output uses too), on small dense row-major matrices (PK models have a few to a few
//! dozen states).
//!
//! Cost: one exponential per *distinct* step length. The pairs `(e^{Ah}, ∫e^{As}ds·B)` are
//! cached by `h` for the whole solve, so an hourly grid with doses on the hour needs a single
//! exponential and then one `n×n` matrix–vector product per sample.
//!
//! Which models qualify ([`is_linear`]), decided from the IR's structure, never from values:
//! - the right-hand side never reads `t`, and every output is affine in the states: states
//!   enter only through `+`, `-`, negation, multiplication by a state-free factor, division by
//!   a state-free divisor, and `select` with a state-free condition;
//! - the Jacobian's instructions are all constant or per-patient (no time, no state).
//!
//! The first rule matters on its own: the symbolic Jacobian of a piecewise-constant operator
//! (`floor`, comparisons) is zero, so a constant Jacobian alone would not prove linearity.
//! `A` is then the Jacobian at `y = 0`, and `c = f(0)`.
//!
//! Dose semantics are those of the integrators by construction: the same event list and the
//! same event application and output code (bolus, F, lag, infusions by rate or duration,
//! ADDL/II, `until`, right-continuous at dose times). Tolerances do not apply (the result is
//! exact to rounding). [`super::Simulation::steps`] counts every propagation (to a grid point
//! or to a dose event); `max_steps` bounds only the propagations that end at a dose event, the
//! method's steps proper: output rows are bounded by the grid's own limit
//! ([`crate::sim::grid::MAX_POINTS`]), not by the step limit.

use super::driver::{Driver, FailureReason, SolveError, same_time};
pub use super::exponential::{AugmentedExp, Expm, expm};
use super::model::ModelFns;
use crate::ir::{BinOp, Class, Inst, Module, UnOp};

/// How a value depends on the states, for the affinity check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Degree {
    /// Does not read any state (nor `t`).
    Free,
    /// Affine in the states.
    Affine,
    /// Anything else: nonlinear in the states, or reads `t`.
    Other,
}

/// Whether the model is linear time-invariant with per-patient coefficients:
/// `dy/dt = A·y + c` with `A` and `c` fixed for a patient. See the module docs for the rules.
pub fn is_linear(module: &Module) -> bool {
    if module
        .jacobian
        .classes
        .iter()
        .any(|c| *c > Class::PerPatient)
    {
        return false;
    }
    let f = &module.rhs;
    let mut deg: Vec<Degree> = Vec::with_capacity(f.insts.len());
    for inst in &f.insts {
        let d = |v: crate::ir::Val| deg.get(v.index()).copied().unwrap_or(Degree::Other);
        let all_free = |deg: &[Degree]| {
            inst.operands().all(|v| {
                deg.get(v.index())
                    .is_some_and(|d| matches!(d, Degree::Free))
            })
        };
        let r = match *inst {
            Inst::Const(_) | Inst::Input(_) | Inst::Param(_) => Degree::Free,
            Inst::State(_) => Degree::Affine,
            Inst::Time => Degree::Other,
            Inst::Unary(UnOp::Neg, a) => d(a),
            Inst::Binary(BinOp::Add | BinOp::Sub, a, b) => d(a).max(d(b)),
            Inst::Binary(BinOp::Mul, a, b) => match (d(a), d(b)) {
                (Degree::Free, x) | (x, Degree::Free) => x,
                _ => Degree::Other,
            },
            Inst::Binary(BinOp::Div, a, b) => match d(b) {
                Degree::Free => d(a),
                _ => Degree::Other,
            },
            Inst::PowI(a, 1) => d(a),
            Inst::Select(c, a, b) if d(c) == Degree::Free => d(a).max(d(b)),
            _ if all_free(&deg) => Degree::Free,
            _ => Degree::Other,
        };
        deg.push(r);
    }
    f.outputs
        .iter()
        .all(|v| deg.get(v.index()).is_some_and(|d| *d != Degree::Other))
}

/// `dy/dt = A·y + c` for one patient.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSystem {
    /// Number of states.
    pub n: usize,
    /// `A`, row-major `n × n` (row = equation).
    pub a: Vec<f64>,
    /// `c = f(0)`, the state-free part of the right-hand side.
    pub c: Vec<f64>,
}

impl LinearSystem {
    /// Evaluates `A` (the Jacobian) and `c` (the right-hand side at `y = 0`) for the parameter
    /// values `params`. Only meaningful when [`is_linear`] holds for the model's module.
    pub fn new<F: ModelFns>(model: &F, params: &[f64]) -> Result<Self, SolveError> {
        let m = model.module();
        let n = m.n_states();
        let zeros = vec![0.0; n];
        let mut vals = vec![0.0; m.sparsity.len()];
        model.jacobian(0.0, &zeros, params, &mut vals)?;
        let mut a = vec![0.0; n * n];
        for (&(r, col), v) in m.sparsity.iter().zip(&vals) {
            if let Some(x) = a.get_mut(r as usize * n + col as usize) {
                *x += v;
            }
        }
        let mut c = vec![0.0; n];
        model.rhs(0.0, &zeros, params, &mut c)?;
        Ok(LinearSystem { n, a, c })
    }
}

/// One cached step length: `e^{Ah}` and `∫₀ʰ e^{As} ds · B`.
#[derive(Clone, Debug)]
struct Step {
    h: f64,
    /// `n × n`.
    e: Vec<f64>,
    /// `n × k`.
    g: Vec<f64>,
}

/// At most this many step lengths are cached (then the oldest is replaced).
const CACHE: usize = 32;

/// Propagates `y` over steps of any length with cached exponentials.
struct Propagator {
    n: usize,
    /// Number of input directions.
    k: usize,
    /// Steps closer than this are the same step (time resolution of the grid).
    tol: f64,
    cache: Vec<Step>,
    next: usize,
    aug: AugmentedExp,
}

/// The propagator of a solve, kept from one piece of a piecewise solve to the next: a piece with
/// the same system (`A`, input directions and time resolution) reuses its cached exponentials,
/// as one unbroken solve would.
#[derive(Default)]
pub struct LinearCache {
    prop: Option<Propagator>,
}

impl Propagator {
    /// Whether this propagator serves `dy/dt = A·y + B·u` with `B` `b` (`k` columns) at time
    /// resolution `tol`.
    fn serves(&self, sys: &LinearSystem, b: &[f64], k: usize, tol: f64) -> bool {
        self.n == sys.n && self.k == k && self.tol == tol && self.aug.is_system(&sys.a, b)
    }

    fn new(sys: &LinearSystem, b: &[f64], k: usize, tol: f64) -> Self {
        let n = sys.n;
        Propagator {
            n,
            k,
            tol,
            cache: Vec::with_capacity(CACHE),
            next: 0,
            aug: AugmentedExp::new(&sys.a, b, n, k),
        }
    }

    /// The cached step for `h`, computing it if needed.
    fn step_for(&mut self, h: f64) -> usize {
        if let Some(i) = self.cache.iter().position(|s| (s.h - h).abs() <= self.tol) {
            return i;
        }
        let (n, k) = (self.n, self.k);
        let nk = n + k;
        let em = self.aug.exp(h);
        let mut e = vec![0.0; n * n];
        let mut g = vec![0.0; n * k];
        for i in 0..n {
            e[i * n..(i + 1) * n].copy_from_slice(&em[i * nk..i * nk + n]);
            g[i * k..(i + 1) * k].copy_from_slice(&em[i * nk + n..(i + 1) * nk]);
        }
        let s = Step { h, e, g };
        if self.cache.len() < CACHE {
            self.cache.push(s);
            self.cache.len() - 1
        } else {
            let i = self.next;
            self.cache[i] = s;
            self.next = (i + 1) % CACHE;
            i
        }
    }

    /// `out = e^{Ah} y + (∫₀ʰ e^{As} ds · B) u`.
    fn propagate(&mut self, h: f64, y: &[f64], u: &[f64], out: &mut [f64]) {
        let i = self.step_for(h);
        let s = &self.cache[i];
        let (n, k) = (self.n, self.k);
        for (r, o) in out.iter_mut().enumerate().take(n) {
            let mut acc = 0.0;
            for (e, yj) in s.e[r * n..(r + 1) * n].iter().zip(y) {
                acc += e * yj;
            }
            for (g, uj) in s.g[r * k..(r + 1) * k].iter().zip(u) {
                acc += g * uj;
            }
            *o = acc;
        }
    }
}

/// The columns of `B` and how to weight them from the current infusion rates.
struct Inputs {
    /// Scale of the `c` column (its ∞-norm), if `c ≠ 0`; it is column 0.
    c_scale: Option<f64>,
    /// States receiving infusions, one column each, after the `c` column.
    targets: Vec<u32>,
}

impl Inputs {
    /// Coefficients `u` such that `B·u = c + rates`.
    fn coefficients(&self, rates: &[f64], u: &mut [f64]) {
        let off = usize::from(self.c_scale.is_some());
        if let Some(s) = self.c_scale {
            u[0] = s;
        }
        for (j, &s) in self.targets.iter().enumerate() {
            u[off + j] = rates.get(s as usize).copied().unwrap_or(0.0);
        }
    }
}

/// Runs the exact solution from the state `y` at `t0` (events at `t0` already applied and
/// the grid points at `t0` already emitted) to the end of the grid.
pub(super) fn drive<F: ModelFns>(
    drv: &mut Driver<'_, F>,
    sys: &LinearSystem,
    mut y: Vec<f64>,
    t0: f64,
    cache: &mut LinearCache,
    horizon: f64,
) -> Result<(), SolveError> {
    let n = sys.n;
    if sys.a.iter().chain(&sys.c).any(|v| !v.is_finite()) {
        return Err(drv.failure(t0, &y, FailureReason::NonFinite));
    }
    // Input directions: c (normalised) and one unit column per infused state.
    let c_norm = sys.c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut targets: Vec<u32> = drv
        .events
        .iter()
        .filter(|e| matches!(e.kind, super::dosing::EventKind::InfusionStart { .. }))
        .map(|e| e.state)
        .filter(|&s| (s as usize) < n)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let inputs = Inputs {
        c_scale: (c_norm > 0.0).then_some(c_norm),
        targets,
    };
    let k = usize::from(inputs.c_scale.is_some()) + inputs.targets.len();
    let mut b = vec![0.0; n * k];
    if inputs.c_scale.is_some() {
        for i in 0..n {
            b[i * k] = sys.c[i] / c_norm;
        }
    }
    let off = usize::from(inputs.c_scale.is_some());
    for (j, &s) in inputs.targets.iter().enumerate() {
        b[s as usize * k + off + j] = 1.0;
    }
    let t_last = drv.grid.last().copied().unwrap_or(t0).max(horizon);
    let tol = 4.0 * f64::EPSILON * t0.abs().max(t_last.abs()).max(1.0);
    if !cache
        .prop
        .as_ref()
        .is_some_and(|p| p.serves(sys, &b, k, tol))
    {
        cache.prop = Some(Propagator::new(sys, &b, k, tol));
    }
    let Some(prop) = cache.prop.as_mut() else {
        return Err(SolveError::BadOptions("no propagator"));
    };
    if let Some(d) = drv.dense.as_mut() {
        d.set_linear(prop.aug.clone());
    }
    let mut u = vec![0.0; k];
    inputs.coefficients(&drv.rates.borrow(), &mut u);
    let mut next = vec![0.0; n];
    let mut t = t0;
    let mut event_steps = 0usize;
    while let Some(&g) = drv.grid.get(drv.gi) {
        let event = drv
            .events
            .get(drv.ei)
            .map(|e| e.time)
            .filter(|&te| te < g || same_time(te, g));
        let target = event.unwrap_or(g);
        let h = target - t;
        if h > 0.0 {
            drv.out.steps += 1;
            if event.is_some() {
                event_steps += 1;
                if event_steps > drv.opts.max_steps {
                    return Err(drv.failure(
                        t,
                        &y,
                        FailureReason::TooManySteps(drv.opts.max_steps),
                    ));
                }
            }
            prop.propagate(h, &y, &u, &mut next);
            if let Some(d) = drv.dense.as_mut() {
                d.add_exact(t, target, &y, &u);
            }
            std::mem::swap(&mut y, &mut next);
            if y.iter().any(|v| !v.is_finite()) {
                return Err(drv.failure(target, &y, FailureReason::NonFinite));
            }
            t = target;
        }
        match event {
            Some(te) => {
                drv.apply_events(te, &mut y);
                inputs.coefficients(&drv.rates.borrow(), &mut u);
                drv.emit_until(te, &y, true);
            }
            None => {
                drv.emit(g, &y);
                drv.gi += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn linearity_is_structural() {
        use crate::ir::ModuleBuilder;
        use crate::ir::examples;
        assert!(is_linear(&examples::one_compartment_oral().unwrap()));
        assert!(is_linear(&examples::two_compartment_iv().unwrap()));
        assert!(is_linear(&examples::pbpk().unwrap()));
        assert!(!is_linear(&examples::friberg().unwrap()));
        assert!(!is_linear(&examples::operator_zoo().unwrap()));
        // floor(y) has a zero Jacobian but is not linear; k·t is time-dependent; kin − k·y is
        // affine (zero-order production) and qualifies.
        let build = |which: u8| {
            let mut b = ModuleBuilder::new("m");
            let k_in = b.input("K");
            let k = b.param("K", k_in);
            let s = b.state("x");
            let y = b.y(s);
            let r = match which {
                0 => b.floor(y),
                1 => {
                    let t = b.time();
                    b.mul(k, t)
                }
                _ => {
                    let ky = b.mul(k, y);
                    let kin = b.constant(3.0);
                    b.sub(kin, ky)
                }
            };
            b.set_rhs(s, r);
            b.finish().unwrap()
        };
        assert!(!is_linear(&build(0)));
        assert!(!is_linear(&build(1)));
        assert!(is_linear(&build(2)));
    }
}
