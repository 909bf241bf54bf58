//! The solver's dense output: the solution as a function of time over the whole solve, for
//! endpoints that need values between grid points (extrema, crossings, values just before a
//! dose).
//!
//! Input: what each method knows within one step. The integrators record every accepted step
//! `[t₀, t₁]` as the polynomial of their own interpolant: [`super::Method::Bdf`] its difference
//! table (the same polynomial its grid output evaluates); diffsol's methods their interpolant
//! sampled at 6 Chebyshev–Lobatto points of the step (which reproduce interpolants of
//! degree ≤ 5). The exact method records, for every propagation, its start state
//! and constant input, and evaluates `e^{A h}·y₀ + ∫₀ʰ e^{As} ds·B·u` at any `h`, exact to
//! rounding, without a matrix exponential per call: as a product of the exponentials at the
//! binary fractions of the piece's length, tabulated once per length, and a Taylor series for
//! the rest.
//! Output: [`DenseOutput::state_at`], the state at any time of the solve, from either side of a
//! discontinuity ([`Side`]): at a dose time `Side::Left` is the state just before the dose (the
//! pre-dose limit) and `Side::Right` the state just after it (what the grid reports).
//!
//! Pieces are contiguous and sorted by time; every discontinuity (dose event) is a piece
//! boundary, listed in [`DenseOutput::breaks`]. Recording is opt-in
//! ([`super::simulate_dense`]); it does not change the grid output in any way.

use super::exponential::{AugmentedExp, THETA13};

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
    /// An exact propagation with system `sys` (index into `DenseOutput::linear`): the start
    /// state (`n`) then the input (`k`).
    Exact { sys: usize },
    /// A constant state over a zero-length piece (`n` values): the state just after a piece
    /// boundary of a piecewise solve, where the next piece may take no step.
    Constant,
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
    /// `dy/dt = A·y + B·u` of the exact method, one per parameter set, to evaluate its pieces.
    linear: Vec<Exact>,
    /// For a piecewise solve: the parameters in force from each time on (the first from the
    /// start); empty for a solve with one parameter set.
    params: Vec<(f64, Vec<f64>)>,
}

impl DenseOutput {
    /// An empty record for `n` states.
    pub(super) fn new(n: usize) -> Self {
        Self::with_capacity(n, 256)
    }

    /// Room for `pieces` more steps.
    pub(super) fn reserve(&mut self, pieces: usize) {
        self.pieces.reserve(pieces);
        self.values.reserve(pieces * 6 * self.n);
    }

    /// An empty record for `n` states with room for `pieces` steps (at most 256 reserved).
    pub(super) fn with_capacity(n: usize, pieces: usize) -> Self {
        let pieces = pieces.min(256);
        DenseOutput {
            n,
            t_start: 0.0,
            start: [vec![0.0; n], vec![0.0; n]],
            pieces: Vec::with_capacity(pieces),
            values: Vec::with_capacity(pieces * 6 * n),
            breaks: Vec::new(),
            linear: Vec::new(),
            params: Vec::new(),
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
        if system.n() == self.n {
            self.linear.push(Exact::new(system));
        }
    }

    /// Records an exact propagation from state `y0` at `t0` to `t1` with constant input `u`.
    pub(super) fn add_exact(&mut self, t0: f64, t1: f64, y0: &[f64], u: &[f64]) {
        if t1 <= t0 {
            return;
        }
        let Some(sys) = self.linear.len().checked_sub(1) else {
            return;
        };
        let off = self.values.len();
        self.values.extend_from_slice(y0);
        self.values.extend_from_slice(u);
        self.pieces.push(Piece {
            t0,
            t1,
            kind: Kind::Exact { sys },
            off,
        });
    }

    /// Appends the record of the next piece of a piecewise solve, which starts at `t` (at or
    /// after the end of this record) with parameters `params`: the state just after the
    /// boundary is recorded as a zero-length piece, `t` becomes a break, and the parameters in
    /// force from `t` on are `params` (those before, `before`, if none were recorded yet).
    pub(super) fn append(&mut self, t: f64, next: DenseOutput, before: &[f64], params: &[f64]) {
        if self.params.is_empty() {
            self.params.push((self.t_start, before.to_vec()));
        }
        self.params.push((t, params.to_vec()));
        let off = self.values.len();
        self.values.extend_from_slice(&next.start[1]);
        self.pieces.push(Piece {
            t0: t,
            t1: t,
            kind: Kind::Constant,
            off,
        });
        self.add_break(t);
        let shift = self.values.len();
        self.values.extend_from_slice(&next.values);
        // The next piece's exact systems, each kept once (a piece after a visit usually has the
        // system of the piece before).
        let mut index = Vec::with_capacity(next.linear.len());
        for e in next.linear {
            match self.linear.iter().rposition(|x| x.aug == e.aug) {
                Some(i) => index.push(i),
                None => {
                    index.push(self.linear.len());
                    self.linear.push(e);
                }
            }
        }
        self.pieces.extend(next.pieces.iter().map(|p| Piece {
            off: p.off + shift,
            kind: match p.kind {
                Kind::Exact { sys } => Kind::Exact {
                    sys: index.get(sys).copied().unwrap_or(sys),
                },
                k => k,
            },
            ..*p
        }));
        for b in next.breaks {
            self.add_break(b);
        }
    }

    /// The parameters in force at `t` from `side` of a change, for a piecewise solve; `None`
    /// when the solve had one parameter set throughout.
    pub fn params_at(&self, t: f64, side: Side) -> Option<&[f64]> {
        let i = match side {
            Side::Right => self.params.partition_point(|(s, _)| *s <= t),
            Side::Left => self.params.partition_point(|(s, _)| *s < t),
        };
        self.params
            .get(i.saturating_sub(1))
            .map(|(_, p)| p.as_slice())
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
            Kind::Exact { sys } => self.eval_exact(p, sys, t, out),
            Kind::Constant => out.copy_from_slice(&self.values[p.off..p.off + n]),
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
    fn eval_exact(&mut self, p: Piece, sys: usize, t: f64, out: &mut [f64]) {
        let n = self.n;
        let Some(lin) = self.linear.get_mut(sys) else {
            out.fill(f64::NAN);
            return;
        };
        let k = lin.aug.k();
        let y0 = &self.values[p.off..p.off + n];
        let u = &self.values[p.off + n..p.off + n + k];
        let h = t - p.t0;
        if h == 0.0 {
            out.copy_from_slice(y0);
            return;
        }
        lin.eval(p.t1 - p.t0, h, y0, u, out);
    }
}

/// The finest level of a table has `H·2^-depth·‖M‖₁ ≤ 2^-REST_BITS`, which bounds the rest
/// `r` of an evaluation (`|r|·‖M‖₁ ≤ 2^-REST_BITS`, to within the table's length tolerance).
const REST_BITS: i64 = 6;

/// At most this many piece lengths keep their tables (then the oldest is replaced).
const TABLES: usize = 4;

/// Most terms of the Taylor series of the rest (each is at most `2^-REST_BITS / m` times the
/// previous one, so the series is at rounding level after about 8 terms).
const MAX_TERMS: usize = 30;

/// The table of one piece length `H`: the top `n` rows of `e^{M·H·2^{-j}}` for
/// `j = 0..=depth`.
#[derive(Clone, Debug)]
struct Levels {
    h: f64,
    depth: usize,
    /// `(depth + 1) × n × (n + k)`, level `j` at `j·n·(n + k)`.
    mats: Vec<f64>,
}

/// The exact method's pieces as functions of time.
///
/// Between two stops the input is constant, so with `M = [[A, B], [0, 0]]` and `v = (y₀, u)`
/// the state at `t₀ + s` is the top of `e^{M s}·v`. For a piece of length `H`, `s` is written
/// `s = H·Σ_{j ∈ J} 2^{-j} + r` (the binary digits of `s/H` down to `2^-depth`), so that
/// `e^{Ms}·v = e^{Mr} · Π_{j ∈ J} e^{M·H·2^{-j}}·v`:
///
/// - the factors depend on `H` only. They are computed once per piece length (the first time
///   a piece of that length is evaluated; `H` is the piece's length rounded to
///   `depth + 12` significant bits, so that a grid's steps, whose lengths differ by rounding,
///   share them) down to the level with `H·2^-depth·‖M‖₁ ≤ 2^-6`. A level whose scaled norm is at most θ₁₃ is
///   [`AugmentedExp::exp`] of its own (any `A`, defective or not); a coarser one is the square
///   of the next finer, which is how `expm` itself reaches it (scaling and squaring), so every
///   factor is the one a fresh exponential would give, to rounding;
/// - `e^{Mr}·v` is its Taylor series applied to the vector, summed until the next terms are
///   below rounding (`|r|·‖M‖₁ ≤ 2^-6`, to within the rounding of `H`: about 8 terms).
///
/// The value at a time is a function of its piece only (not of what was evaluated before).
///
/// An evaluation thus costs at most `depth + 9` matrix–vector products of size `n × (n + k)`,
/// with `depth ≈ log₂(H·‖M‖₁) + 6`, where a fresh exponential of the augmented matrix costs
/// several `(n + k)³` products, a factorisation and `log₂(H·‖M‖₁ / θ₁₃)` squarings. The result
/// agrees with the fresh exponential to rounding; the tests compare the two on stiff,
/// defective and oscillating systems with inputs.
#[derive(Clone, Debug)]
struct Exact {
    aug: AugmentedExp,
    /// `‖M‖₁`.
    norm: f64,
    tables: Vec<Levels>,
    next: usize,
    /// The state being transformed, the current Taylor term and scratch.
    y: Vec<f64>,
    z: [Vec<f64>; 2],
}

impl PartialEq for Exact {
    fn eq(&self, o: &Self) -> bool {
        self.aug == o.aug
    }
}

impl Exact {
    fn new(aug: AugmentedExp) -> Self {
        let (n, k) = (aug.n(), aug.k());
        let (a, b) = (aug.a(), aug.b());
        // Column sums of M (its last k rows are zero).
        let norm = (0..n + k)
            .map(|j| {
                (0..n)
                    .map(|i| {
                        if j < n {
                            a[i * n + j].abs()
                        } else {
                            b[i * k + j - n].abs()
                        }
                    })
                    .sum::<f64>()
            })
            .fold(0.0, |m, c| if c > m || c.is_nan() { c } else { m });
        Exact {
            aug,
            norm,
            tables: Vec::with_capacity(TABLES),
            next: 0,
            y: vec![0.0; n],
            z: [vec![0.0; n], vec![0.0; n]],
        }
    }

    /// The table for a piece of length `len`: for `len` rounded to `depth + 12` significant
    /// bits (so that the rest stays within its bound), computed if no table has that length
    /// and depth. The pieces of a grid, whose lengths differ by rounding, thus share one
    /// table, and the value at a time is a function of its piece alone, whatever was
    /// evaluated before.
    fn table(&mut self, len: f64) -> Option<usize> {
        let x = len * self.norm;
        if !x.is_finite() || len.is_nan() || len <= 0.0 {
            return None;
        }
        // ceil(log2 x) ≤ 1024 for finite x; −∞ (x = 0) saturates and is clamped.
        let depth = (x.log2().ceil() as i64)
            .max(0)
            .saturating_add(REST_BITS)
            .min(1000) as usize;
        let h = round_to_bits(len, depth + 12);
        if let Some(i) = self
            .tables
            .iter()
            .position(|l| l.h == h && l.depth == depth)
        {
            return Some(i);
        }
        let (n, k) = (self.aug.n(), self.aug.k());
        let nk = n + k;
        let size = n * nk;
        let mut mats = vec![0.0; (depth + 1) * size];
        // Finest first. A level whose scaled norm is within the reach of the degree-13 Padé
        // approximant is an exponential of its own; a coarser one is the square of the next
        // finer, [[E, G], [0, I]]² = [[E·E, E·G + G], [0, I]]: each level is what `expm` makes
        // of it, with no more squarings.
        for j in (0..=depth).rev() {
            let hj = h * 0.5f64.powi(j as i32);
            let (coarse, fine) = mats.split_at_mut((j + 1) * size);
            let level = &mut coarse[j * size..];
            if j == depth || hj * self.norm <= THETA13 {
                let em = self.aug.exp(hj);
                for r in 0..n {
                    level[r * nk..(r + 1) * nk].copy_from_slice(&em[r * nk..(r + 1) * nk]);
                }
                continue;
            }
            let fine = &fine[..size];
            for r in 0..n {
                let out = &mut level[r * nk..(r + 1) * nk];
                out[..n].fill(0.0);
                out[n..].copy_from_slice(&fine[r * nk + n..(r + 1) * nk]);
                for q in 0..n {
                    let e = fine[r * nk + q];
                    if e == 0.0 {
                        continue;
                    }
                    for (o, f) in out.iter_mut().zip(&fine[q * nk..(q + 1) * nk]) {
                        *o += e * f;
                    }
                }
            }
        }
        let l = Levels { h, depth, mats };
        if self.tables.len() < TABLES {
            self.tables.push(l);
            Some(self.tables.len() - 1)
        } else {
            let i = self.next;
            self.tables[i] = l;
            self.next = (i + 1) % TABLES;
            Some(i)
        }
    }

    /// `y ← top rows of e^{M·H·2^{-j}} · (y, u)` for table `i`.
    fn apply(&mut self, i: usize, j: usize, u: &[f64]) {
        let (n, k) = (self.aug.n(), self.aug.k());
        let nk = n + k;
        let size = n * nk;
        let mat = &self.tables[i].mats[j * size..(j + 1) * size];
        let z = &mut self.z[0];
        for (r, o) in z.iter_mut().enumerate() {
            let row = &mat[r * nk..(r + 1) * nk];
            let mut acc = 0.0;
            for (e, yj) in row[..n].iter().zip(&self.y) {
                acc += e * yj;
            }
            for (g, uj) in row[n..].iter().zip(u) {
                acc += g * uj;
            }
            *o = acc;
        }
        std::mem::swap(&mut self.y, z);
    }

    /// The state at `s` into a piece of length `len` that starts at `y0` with input `u`.
    fn eval(&mut self, len: f64, s: f64, y0: &[f64], u: &[f64], out: &mut [f64]) {
        let Some(i) = self.table(len) else {
            out.fill(f64::NAN);
            return;
        };
        let (h, depth) = (self.tables[i].h, self.tables[i].depth);
        self.y.copy_from_slice(y0);
        // s/h is in [0, 1 + 2^-(depth + 12)]: its binary digits, most significant first (x stays
        // exact: doubling and subtracting 1 from x in [1, 2) round nothing).
        let mut x = s / h;
        let mut d = 0.0;
        if x >= 1.0 {
            self.apply(i, 0, u);
            x -= 1.0;
            d = 1.0;
        }
        let mut w = 1.0;
        for j in 1..=depth {
            if x == 0.0 {
                break;
            }
            x *= 2.0;
            w *= 0.5;
            if x >= 1.0 {
                self.apply(i, j, u);
                x -= 1.0;
                d += w;
            }
        }
        let r = s - h * d;
        if r != 0.0 {
            self.rest(r, u);
        }
        out.copy_from_slice(&self.y);
    }

    /// `y ← top rows of e^{M·r} · (y, u)` by the Taylor series, for `|r|·‖M‖₁` well below 1:
    /// term `m` is `(r/m)·A·(term m−1)` (the first `r·(A·y + B·u)`), and the sum stops when a
    /// term is below `ε/8` of the sum in the 1-norm (the rest of the series is then smaller
    /// still, each term being at most `|r|·‖M‖₁/m` times the previous one).
    fn rest(&mut self, r: f64, u: &[f64]) {
        let (n, k) = (self.aug.n(), self.aug.k());
        let (a, b) = (self.aug.a(), self.aug.b());
        let [term, next] = &mut self.z;
        for (i, o) in term.iter_mut().enumerate() {
            let mut acc = 0.0;
            for (x, yj) in a[i * n..(i + 1) * n].iter().zip(&self.y) {
                acc += x * yj;
            }
            for (x, uj) in b[i * k..(i + 1) * k].iter().zip(u) {
                acc += x * uj;
            }
            *o = r * acc;
        }
        let theta = r.abs() * self.norm;
        for m in 2..=MAX_TERMS + 1 {
            let mut size = 0.0;
            for (y, t) in self.y.iter_mut().zip(term.iter()) {
                *y += t;
                size += t.abs();
            }
            let total: f64 = self.y.iter().map(|v| v.abs()).sum();
            if size == 0.0 || (size <= 0.125 * f64::EPSILON * total && m as f64 > 2.0 * theta) {
                break;
            }
            let c = r / m as f64;
            for (i, o) in next.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (x, t) in a[i * n..(i + 1) * n].iter().zip(term.iter()) {
                    acc += x * t;
                }
                *o = c * acc;
            }
            std::mem::swap(term, next);
        }
    }
}

/// `x > 0` rounded to the nearest number with `bits` bits after its leading one.
fn round_to_bits(x: f64, bits: usize) -> f64 {
    if bits >= 52 {
        return x;
    }
    let drop = 52 - bits as u32;
    let half = 1u64 << (drop - 1);
    f64::from_bits((x.to_bits() + half) & !((1u64 << drop) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator in [0, 1) (SplitMix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The state `s` into a piece from `y0` with input `u`, from one fresh exponential.
    fn fresh(aug: &mut AugmentedExp, s: f64, y0: &[f64], u: &[f64]) -> Vec<f64> {
        let (n, k) = (aug.n(), aug.k());
        let em = aug.exp(s).to_vec();
        (0..n)
            .map(|i| {
                let row = &em[i * (n + k)..(i + 1) * (n + k)];
                row[..n].iter().zip(y0).map(|(e, y)| e * y).sum::<f64>()
                    + row[n..].iter().zip(u).map(|(g, v)| g * v).sum::<f64>()
            })
            .collect()
    }

    /// Records pieces of the given lengths from `y0` (each starting at the fresh end state of
    /// the previous one) and compares the dense output with a fresh exponential at the piece
    /// ends and at 40 random times in each piece, to `tol` relative to the size of the
    /// solution and input over the piece.
    fn agrees(sys: (&[f64], &[f64], usize, usize), y0: &[f64], u: &[f64], lens: &[f64], tol: f64) {
        let (a, b, n, k) = sys;
        let mut reference = AugmentedExp::new(a, b, n, k);
        let mut d = DenseOutput::new(n);
        d.set_start(0.0, y0, y0);
        d.set_linear(AugmentedExp::new(a, b, n, k));
        let mut starts = Vec::new();
        let (mut t, mut y) = (0.0, y0.to_vec());
        for &h in lens {
            d.add_exact(t, t + h, &y, u);
            starts.push((t, h, y.clone()));
            y = fresh(&mut reference, h, &y, u);
            t += h;
        }
        let mut rng = Rng(7);
        let mut out = vec![0.0; n];
        let mut worst = 0.0f64;
        for (t0, h, y0) in &starts {
            let mut times = vec![0.0, *h, 1e-12 * h, h * (1.0 - 1e-12)];
            times.extend((0..40).map(|_| rng.next() * h));
            for s in times {
                d.state_at(t0 + s, Side::Left, &mut out);
                // The time the dense output sees, relative to its piece.
                let s = (t0 + s).clamp(*t0, t0 + h) - t0;
                let want = fresh(&mut reference, s, y0, u);
                let size = want.iter().chain(y0).map(|v| v.abs()).fold(0.0, f64::max)
                    + h * b.iter().map(|v| v.abs()).fold(0.0, f64::max)
                        * u.iter().map(|v| v.abs()).fold(0.0, f64::max);
                for (g, w) in out.iter().zip(&want) {
                    let e = (g - w).abs() / size;
                    worst = worst.max(e);
                    assert!(e <= tol, "t0 {t0}, h {h}, s {s}: {out:?} vs fresh {want:?}");
                }
            }
        }
        assert!(worst.is_finite());
    }

    #[test]
    fn exact_pieces_agree_with_a_fresh_exponential_on_stiff_compartments_with_inputs() {
        // Fast absorption (ka = 50 /h) into a two-compartment model, an infusion into the
        // depot and a constant production; grid-like pieces (lengths a few ulps apart share a
        // table) and long ones (H·‖M‖ ≈ 2500, 2^-18 levels).
        let (ka, k10, k12, k21) = (50.0, 0.1, 2.0, 0.05);
        let a = [
            -ka,
            0.0,
            0.0, //
            ka,
            -(k10 + k12),
            k21, //
            0.0,
            k12,
            -k21,
        ];
        let b = [1.0, 0.0, 0.0, 0.5, 0.0, 0.0];
        let mut lens: Vec<f64> = (1..=20)
            .map(|i| 0.02 * i as f64 - 0.02 * (i - 1) as f64)
            .collect();
        lens.extend([0.44, 0.7, 1.0, 24.0, 1.0]);
        agrees(
            (&a, &b, 3, 2),
            &[100.0, 0.0, 0.0],
            &[2.0, 3.0],
            &lens,
            1e-12,
        );
        // Far stiffer: k = 1e4 /h over 24 h (H·‖M‖ = 5e5). A fresh exponential then squares
        // 17 times and is itself off the closed form by up to 1e-11 relative, as are the
        // tables: the two agree to 5e-11, and both match the closed form to 2e-11.
        let a = [-1e4, 0.0, 1e4, -0.2];
        agrees(
            (&a, &[], 2, 0),
            &[5.0, 1.0],
            &[],
            &[0.001, 1.0, 24.0],
            5e-11,
        );
        let mut d = DenseOutput::new(2);
        d.set_start(0.0, &[5.0, 1.0], &[5.0, 1.0]);
        d.set_linear(AugmentedExp::new(&a, &[], 2, 0));
        d.add_exact(0.0, 24.0, &[5.0, 1.0], &[]);
        let mut out = [0.0; 2];
        let mut rng = Rng(3);
        for _ in 0..200 {
            let t = 24.0 * rng.next();
            d.state_at(t, Side::Right, &mut out);
            let y2 = (-0.2 * t).exp() + 5e4 / (1e4 - 0.2) * ((-0.2 * t).exp() - (-1e4 * t).exp());
            let y1 = 5.0 * (-1e4 * t).exp();
            assert!((out[0] - y1).abs() <= 2e-11 * 5.0, "{t}: {out:?}");
            assert!((out[1] - y2).abs() <= 2e-11 * y2, "{t}: {out:?} vs {y2}");
        }
    }

    #[test]
    fn exact_pieces_agree_with_a_fresh_exponential_on_a_defective_transit_chain() {
        // Four transit compartments with one rate: A has a single eigenvalue, −3, and one
        // Jordan block of size 4 (not diagonalisable).
        let ktr = 3.0;
        let mut a = [0.0; 16];
        for i in 0..4 {
            a[i * 4 + i] = -ktr;
            if i > 0 {
                a[i * 4 + i - 1] = ktr;
            }
        }
        let lens = [0.02, 0.5, 1.0, 12.0];
        agrees((&a, &[], 4, 0), &[10.0, 0.0, 0.0, 0.0], &[], &lens, 1e-12);
        // The same chain fed by an infusion into the first compartment.
        let b = [1.0, 0.0, 0.0, 0.0];
        agrees((&a, &b, 4, 1), &[0.0; 4], &[7.0], &[0.25, 2.0, 48.0], 1e-12);
    }

    #[test]
    fn exact_pieces_agree_with_a_fresh_exponential_on_oscillations_and_a_zero_system() {
        // Complex eigenvalues −0.01 ± 40i: 150 turns over 24 h.
        let a = [-0.01, -40.0, 40.0, -0.01];
        let b = [1.0, 0.0];
        agrees(
            (&a, &b, 2, 1),
            &[1.0, 0.0],
            &[0.3],
            &[0.1, 1.0, 24.0],
            1e-12,
        );
        // A = 0: a pure integrator of the input (y = y0 + s·B·u); no states move without it.
        let (zero, b) = ([0.0; 4], [0.0, 1.0]);
        agrees((&zero, &b, 2, 1), &[1.0, 2.0], &[4.0], &[0.5, 3.0], 1e-15);
        agrees((&zero, &[], 2, 0), &[1.0, 2.0], &[], &[0.5, 3.0], 0.0);
    }

    #[test]
    fn an_exact_value_does_not_depend_on_what_was_evaluated_before() {
        // Pieces of 9 lengths (grid steps a few ulps apart, and more lengths than the tables
        // kept): every value is the same, bit for bit, read first or after all the others.
        let a = [-2.0, 0.0, 2.0, -0.1];
        let mut lens: Vec<f64> = (1..=4)
            .map(|i| 0.1 * i as f64 - 0.1 * (i - 1) as f64)
            .collect();
        lens.extend([0.3, 0.7, 1.1, 2.5, 5.0]);
        let record = || {
            let mut d = DenseOutput::new(2);
            d.set_start(0.0, &[10.0, 0.0], &[10.0, 0.0]);
            d.set_linear(AugmentedExp::new(&a, &[0.5, 0.0], 2, 1));
            let (mut t, mut y) = (0.0, [10.0, 0.0]);
            for &h in &lens {
                d.add_exact(t, t + h, &y, &[1.0]);
                let mut next = [0.0; 2];
                d.state_at(t + h, Side::Left, &mut next);
                y = next;
                t += h;
            }
            (d, t)
        };
        let (mut warm, end) = record();
        let mut rng = Rng(11);
        let times: Vec<f64> = (0..200).map(|_| end * rng.next()).collect();
        let mut out = [0.0; 2];
        for &t in &times {
            warm.state_at(t, Side::Right, &mut out);
        }
        for &t in times.iter().rev() {
            let (mut cold, _) = record();
            let mut first = [0.0; 2];
            cold.state_at(t, Side::Right, &mut first);
            warm.state_at(t, Side::Right, &mut out);
            assert_eq!(first, out, "{t}");
        }
    }
}
