//! The solver's dense output: the solution as a function of time over the whole solve, for
//! endpoints that need values between grid points (extrema, crossings, values just before a
//! dose).
//!
//! Input: what each method knows within one step. The integrators record every accepted step
//! `[t₀, t₁]` as the polynomial of their own interpolant: [`super::Method::Bdf`] its difference
//! table (the same polynomial its grid output evaluates); diffsol's methods their interpolant
//! sampled at 6 Chebyshev–Lobatto points of the step (which reproduce interpolants of
//! degree ≤ 5). The exact method records, for every propagation, its start state
//! and constant input, and evaluates `e^{A h}·y₀ + ∫₀ʰ e^{As} ds·B·u` at any `h` (exact to
//! rounding).
//! Output: [`DenseOutput::state_at`], the state at any time of the solve, from either side of a
//! discontinuity ([`Side`]): at a dose time `Side::Left` is the state just before the dose (the
//! pre-dose limit) and `Side::Right` the state just after it (what the grid reports).
//!
//! Pieces are contiguous and sorted by time; every discontinuity (dose event) is a piece
//! boundary, listed in [`DenseOutput::breaks`]. Recording is opt-in
//! ([`super::simulate_dense`]); it does not change the grid output in any way.

use super::linear::AugmentedExp;

/// Which limit to take at a discontinuity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The limit from the left: before the events at that time (pre-dose).
    Left,
    /// The limit from the right: after the events at that time (what a grid point reports).
    Right,
}

/// One step of the solution.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Piece {
    t0: f64,
    t1: f64,
    /// How the piece is evaluated.
    kind: Kind,
    /// Offset in `DenseOutput::values` of the piece's data (see [`Kind`]).
    off: usize,
}

/// The representation of one piece.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Values at `m ≥ 2` Chebyshev–Lobatto nodes (node 0 at `t1`, the last at `t0`), `m × n`.
    Lobatto(usize),
    /// A backward-difference (Newton) polynomial of degree `order` on steps of size `h` ending
    /// at `t1`: `order + 1` rows of `n` (the BDF difference table).
    Newton { order: usize, h: f64 },
    /// An exact propagation: the start state (`n`) then the input (`k`).
    Exact,
}

/// The solution of one solve as a function of time. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseOutput {
    n: usize,
    /// Start time of the solve.
    t_start: f64,
    /// The state at `t_start` before and after the events there.
    start: [Vec<f64>; 2],
    pieces: Vec<Piece>,
    values: Vec<f64>,
    breaks: Vec<f64>,
    /// `dy/dt = A·y + B·u` of the exact method, to evaluate its pieces.
    linear: Option<AugmentedExp>,
}

impl DenseOutput {
    /// An empty record for `n` states.
    pub(super) fn new(n: usize) -> Self {
        DenseOutput {
            n,
            t_start: 0.0,
            start: [vec![0.0; n], vec![0.0; n]],
            pieces: Vec::with_capacity(256),
            values: Vec::with_capacity(256 * 6 * n),
            breaks: Vec::new(),
            linear: None,
        }
    }

    /// Records the start of the solve: time `t`, the state before (`before`) and after
    /// (`after`) the events at `t`.
    pub(super) fn set_start(&mut self, t: f64, before: &[f64], after: &[f64]) {
        self.t_start = t;
        self.start = [before.to_vec(), after.to_vec()];
    }

    /// Records that events changed the state or the inputs at `t`.
    pub(super) fn add_break(&mut self, t: f64) {
        if self.breaks.last() != Some(&t) {
            self.breaks.push(t);
        }
    }

    /// Records a step `[t0, t1]` of an integrator from its interpolant `interp(t, out)`,
    /// sampled at `nodes` Chebyshev–Lobatto points (at least 2).
    pub(super) fn add_poly(
        &mut self,
        t0: f64,
        t1: f64,
        nodes: usize,
        mut interp: impl FnMut(f64, &mut [f64]),
    ) {
        if t1 <= t0 {
            return;
        }
        let nodes = nodes.max(2);
        let off = self.values.len();
        self.values.resize(off + nodes * self.n, 0.0);
        let (mid, half) = (0.5 * (t0 + t1), 0.5 * (t1 - t0));
        for j in 0..nodes {
            let t = match j {
                0 => t1,
                _ if j == nodes - 1 => t0,
                _ => mid + half * (std::f64::consts::PI * j as f64 / (nodes - 1) as f64).cos(),
            };
            interp(
                t,
                &mut self.values[off + j * self.n..off + (j + 1) * self.n],
            );
        }
        self.pieces.push(Piece {
            t0,
            t1,
            kind: Kind::Lobatto(nodes),
            off,
        });
    }

    /// Records a step `[t0, t1]` of the BDF method from its difference table `d` (at least
    /// `order + 1` rows of `n`) and step size `h`: the polynomial
    /// `y(t) = Σ_j D_j · Π_{i<j} (t − (t1 − i·h)) / ((i + 1)·h)`.
    pub(super) fn add_newton(&mut self, t0: f64, t1: f64, order: usize, h: f64, d: &[f64]) {
        if t1 <= t0 || d.len() < (order + 1) * self.n {
            return;
        }
        let off = self.values.len();
        self.values.extend_from_slice(&d[..(order + 1) * self.n]);
        self.pieces.push(Piece {
            t0,
            t1,
            kind: Kind::Newton { order, h },
            off,
        });
    }

    /// Sets the system of the exact method, `dy/dt = A·y + B·u` with `n` states.
    pub(super) fn set_linear(&mut self, system: AugmentedExp) {
        self.linear = (system.n() == self.n).then_some(system);
    }

    /// Records an exact propagation from state `y0` at `t0` to `t1` with constant input `u`.
    pub(super) fn add_exact(&mut self, t0: f64, t1: f64, y0: &[f64], u: &[f64]) {
        if t1 <= t0 {
            return;
        }
        let off = self.values.len();
        self.values.extend_from_slice(y0);
        self.values.extend_from_slice(u);
        self.pieces.push(Piece {
            t0,
            t1,
            kind: Kind::Exact,
            off,
        });
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.n
    }

    /// The times at which events changed the state or the inputs (doses, infusion starts and
    /// ends), sorted.
    pub fn breaks(&self) -> &[f64] {
        &self.breaks
    }

    /// The first and last time of the solve.
    pub fn span(&self) -> (f64, f64) {
        (
            self.t_start,
            self.pieces.last().map_or(self.t_start, |p| p.t1),
        )
    }

    /// The state at `t` into `out` (`n` values), from the `side` of a discontinuity. Times
    /// before the start give the state before the first events; times after the end the last
    /// state.
    pub fn state_at(&mut self, t: f64, side: Side, out: &mut [f64]) {
        let n = self.n;
        if out.len() != n {
            out.fill(f64::NAN);
            return;
        }
        if t < self.t_start || (t == self.t_start && side == Side::Left) {
            out.copy_from_slice(&self.start[0]);
            return;
        }
        if self.pieces.is_empty() || t == self.t_start {
            out.copy_from_slice(&self.start[1]);
            return;
        }
        // The piece holding t: for the right limit the last one starting at or before t, for
        // the left limit the first one ending at or after t.
        let i = match side {
            Side::Right => self.pieces.partition_point(|p| p.t0 <= t).saturating_sub(1),
            Side::Left => self
                .pieces
                .partition_point(|p| p.t1 < t)
                .min(self.pieces.len() - 1),
        };
        let p = self.pieces[i];
        let t = t.clamp(p.t0, p.t1);
        match p.kind {
            Kind::Exact => self.eval_exact(p, t, out),
            Kind::Lobatto(m) => self.eval_poly(p, m, t, out),
            Kind::Newton { order, h } => {
                let n = self.n;
                let d = &self.values[p.off..p.off + (order + 1) * n];
                out.copy_from_slice(&d[..n]);
                let mut prod = 1.0;
                for j in 0..order {
                    let shift = p.t1 - h * j as f64;
                    prod *= (t - shift) / (h * (j as f64 + 1.0));
                    for (o, v) in out.iter_mut().zip(&d[(j + 1) * n..(j + 2) * n]) {
                        *o += prod * v;
                    }
                }
            }
        }
    }

    /// Barycentric interpolation at Chebyshev–Lobatto points (weights `(−1)^j`, halved at the
    /// ends; Berrut & Trefethen, SIAM Review 46(3), 2004).
    fn eval_poly(&self, p: Piece, m: usize, t: f64, out: &mut [f64]) {
        let n = self.n;
        let s = (2.0 * t - p.t0 - p.t1) / (p.t1 - p.t0);
        let node = |j: usize| match j {
            0 => 1.0,
            _ if j == m - 1 => -1.0,
            _ => (std::f64::consts::PI * j as f64 / (m - 1) as f64).cos(),
        };
        let vals = &self.values[p.off..p.off + m * n];
        if let Some(j) = (0..m).find(|&j| s == node(j)) {
            out.copy_from_slice(&vals[j * n..(j + 1) * n]);
            return;
        }
        out.fill(0.0);
        let mut den = 0.0;
        for j in 0..m {
            let mut w = if j % 2 == 0 { 1.0 } else { -1.0 };
            if j == 0 || j == m - 1 {
                w *= 0.5;
            }
            let c = w / (s - node(j));
            den += c;
            for (o, v) in out.iter_mut().zip(&vals[j * n..(j + 1) * n]) {
                *o += c * v;
            }
        }
        for o in out.iter_mut() {
            *o /= den;
        }
    }

    /// `e^{A h}·y₀ + ∫₀ʰ e^{As} ds·B·u` with `h = t − t₀`.
    fn eval_exact(&mut self, p: Piece, t: f64, out: &mut [f64]) {
        let n = self.n;
        let Some(lin) = self.linear.as_mut() else {
            out.fill(f64::NAN);
            return;
        };
        let k = lin.k();
        let y0 = &self.values[p.off..p.off + n];
        let u = &self.values[p.off + n..p.off + n + k];
        let h = t - p.t0;
        if h == 0.0 {
            out.copy_from_slice(y0);
            return;
        }
        let nk = n + k;
        let em = lin.exp(h);
        for (i, o) in out.iter_mut().enumerate() {
            let row = &em[i * nk..(i + 1) * nk];
            let mut acc = 0.0;
            for (e, yj) in row[..n].iter().zip(y0) {
                acc += e * yj;
            }
            for (g, uj) in row[n..].iter().zip(u) {
                acc += g * uj;
            }
            *o = acc;
        }
    }
}
