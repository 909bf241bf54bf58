//! Matrix exponentials for the exact method: [`Expm`], Higham's scaling-and-squaring with Padé
//! approximants of degree 3–13 (Higham, SIAM J. Matrix Anal. Appl. 26(4):1179–1193, 2005), on
//! small dense row-major matrices (PK models have a few to a few dozen states), and
//! [`AugmentedExp`], the exponential of the augmented matrix `[[A·h, B·h], [0, 0]]` of
//! `dy/dt = A·y + B·u` (Van Loan 1978) that both the exact solver ([`super::linear`]) and its
//! dense output ([`super::dense`]) evaluate. Imports nothing else of `solve`.

/// Padé coefficients `b_0 … b_m` (Higham 2005, Table 2.3 / Algorithm 2.3).
const PADE3: [f64; 4] = [120.0, 60.0, 12.0, 1.0];
const PADE5: [f64; 6] = [30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0];
const PADE7: [f64; 8] = [
    17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0,
];
const PADE9: [f64; 10] = [
    17643225600.0,
    8821612800.0,
    2075673600.0,
    302702400.0,
    30270240.0,
    2162160.0,
    110880.0,
    3960.0,
    90.0,
    1.0,
];
const PADE13: [f64; 14] = [
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
];
/// θ_m: the largest 1-norm for which the degree-m Padé approximant is accurate to unit
/// roundoff in backward-error terms (Higham 2005, Table 2.3).
const THETA: [(usize, f64); 4] = [
    (3, 1.495585217958292e-2),
    (5, 2.53939833006323e-1),
    (7, 9.504178996162932e-1),
    (9, 2.097847961257068e0),
];
/// θ₁₃: the largest 1-norm for which the degree-13 Padé approximant is used without scaling.
pub(super) const THETA13: f64 = 5.371920351148152e0;

/// `out = a · b` for row-major `n × n` matrices.
fn matmul(n: usize, a: &[f64], b: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    for i in 0..n {
        let row = &mut out[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (o, bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *o += aik * bkj;
            }
        }
    }
}

/// The maximum absolute column sum.
fn norm1(n: usize, a: &[f64]) -> f64 {
    (0..n)
        .map(|j| (0..n).map(|i| a[i * n + j].abs()).sum::<f64>())
        .fold(0.0, |m, s| if s > m || s.is_nan() { s } else { m })
}

/// Reusable buffers for [`expm`] on `n × n` matrices, so that repeated exponentials allocate
/// nothing.
#[derive(Clone, Debug)]
pub struct Expm {
    n: usize,
    a: Vec<f64>,
    a2: Vec<f64>,
    a4: Vec<f64>,
    a6: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    tmp: Vec<f64>,
}

impl Expm {
    /// Workspace for `n × n` matrices.
    pub fn new(n: usize) -> Self {
        let z = vec![0.0; n * n];
        Expm {
            n,
            a: z.clone(),
            a2: z.clone(),
            a4: z.clone(),
            a6: z.clone(),
            u: z.clone(),
            v: z.clone(),
            tmp: z,
        }
    }

    /// The matrix size this workspace serves.
    pub fn size(&self) -> usize {
        self.n
    }

    /// `out = e^{a}` for a row-major `n × n` matrix `a` (`n` as given to [`Expm::new`]; other
    /// lengths fill `out` with NaN). Non-finite entries give a NaN result.
    pub fn compute(&mut self, a: &[f64], out: &mut [f64]) {
        let n = self.n;
        if a.len() != n * n || out.len() != n * n {
            out.fill(f64::NAN);
            return;
        }
        let nrm = norm1(n, a);
        if !nrm.is_finite() {
            out.fill(f64::NAN);
            return;
        }
        self.a.copy_from_slice(a);
        if let Some(&(m, _)) = THETA.iter().find(|(_, th)| nrm <= *th) {
            self.pade_low(m);
            self.solve(out);
            return;
        }
        let s = (nrm / THETA13).log2().ceil().max(0.0);
        // `s` is at most ~1100 for finite norms, far inside i32.
        let s = s as i32;
        let scale = 2f64.powi(-s);
        for x in &mut self.a {
            *x *= scale;
        }
        self.pade13();
        self.solve(out);
        for _ in 0..s {
            self.tmp.copy_from_slice(out);
            matmul(n, &self.tmp, &self.tmp, out);
        }
    }

    /// `u = A·Σ b_{2j+1} A^{2j}`, `v = Σ b_{2j} A^{2j}` for m ∈ {3, 5, 7, 9}.
    fn pade_low(&mut self, m: usize) {
        let n = self.n;
        let b: &[f64] = match m {
            3 => &PADE3,
            5 => &PADE5,
            7 => &PADE7,
            _ => &PADE9,
        };
        matmul(n, &self.a, &self.a, &mut self.a2);
        // odd = Σ b_{2j+1} A^{2j}, even = Σ b_{2j} A^{2j}; `a4` holds the running power A^{2j}.
        self.tmp.fill(0.0);
        self.v.fill(0.0);
        for i in 0..n {
            self.tmp[i * n + i] = b[1];
            self.v[i * n + i] = b[0];
        }
        self.a4.copy_from_slice(&self.a2);
        for j in 1..=(m - 1) / 2 {
            for ((t, v), p) in self.tmp.iter_mut().zip(&mut self.v).zip(&self.a4) {
                *t += b[2 * j + 1] * p;
                *v += b[2 * j] * p;
            }
            if j < (m - 1) / 2 {
                matmul(n, &self.a4, &self.a2, &mut self.a6);
                std::mem::swap(&mut self.a4, &mut self.a6);
            }
        }
        matmul(n, &self.a, &self.tmp, &mut self.u);
    }

    /// Degree-13 `u` and `v` with the grouping of Higham 2005, Algorithm 2.3.
    fn pade13(&mut self) {
        let n = self.n;
        let b = &PADE13;
        matmul(n, &self.a, &self.a, &mut self.a2);
        matmul(n, &self.a2, &self.a2, &mut self.a4);
        matmul(n, &self.a4, &self.a2, &mut self.a6);
        // u = A·(A6·(b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I)
        for k in 0..n * n {
            self.tmp[k] = b[13] * self.a6[k] + b[11] * self.a4[k] + b[9] * self.a2[k];
        }
        matmul(n, &self.a6, &self.tmp, &mut self.v);
        for k in 0..n * n {
            self.v[k] += b[7] * self.a6[k] + b[5] * self.a4[k] + b[3] * self.a2[k];
        }
        for i in 0..n {
            self.v[i * n + i] += b[1];
        }
        matmul(n, &self.a, &self.v, &mut self.u);
        // v = A6·(b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I
        for k in 0..n * n {
            self.tmp[k] = b[12] * self.a6[k] + b[10] * self.a4[k] + b[8] * self.a2[k];
        }
        matmul(n, &self.a6, &self.tmp, &mut self.v);
        for k in 0..n * n {
            self.v[k] += b[6] * self.a6[k] + b[4] * self.a4[k] + b[2] * self.a2[k];
        }
        for i in 0..n {
            self.v[i * n + i] += b[0];
        }
    }

    /// `out = (v − u)⁻¹ (v + u)` by LU with partial pivoting.
    fn solve(&mut self, out: &mut [f64]) {
        let n = self.n;
        // p = v − u (factorised in `tmp`), q = v + u (into `out`).
        for (((p, q), v), u) in self
            .tmp
            .iter_mut()
            .zip(out.iter_mut())
            .zip(&self.v)
            .zip(&self.u)
        {
            *p = v - u;
            *q = v + u;
        }
        let p = &mut self.tmp;
        for col in 0..n {
            let mut best = col;
            for r in col + 1..n {
                if p[r * n + col].abs() > p[best * n + col].abs() {
                    best = r;
                }
            }
            if best != col {
                for j in 0..n {
                    p.swap(col * n + j, best * n + j);
                    out.swap(col * n + j, best * n + j);
                }
            }
            let d = p[col * n + col];
            if d == 0.0 || !d.is_finite() {
                out.fill(f64::NAN);
                return;
            }
            for r in col + 1..n {
                let l = p[r * n + col] / d;
                if l == 0.0 {
                    continue;
                }
                p[r * n + col] = l;
                for j in col + 1..n {
                    p[r * n + j] -= l * p[col * n + j];
                }
                for j in 0..n {
                    out[r * n + j] -= l * out[col * n + j];
                }
            }
        }
        // Back substitution, all columns at once.
        for r in (0..n).rev() {
            let d = p[r * n + r];
            for j in 0..n {
                let mut s = out[r * n + j];
                for k in r + 1..n {
                    s -= p[r * n + k] * out[k * n + j];
                }
                out[r * n + j] = s / d;
            }
        }
    }
}

/// `e^{a}` for a row-major `n × n` matrix (allocating convenience around [`Expm`]).
pub fn expm(n: usize, a: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    Expm::new(n).compute(a, &mut out);
    out
}

/// The exponential of the augmented matrix `[[A·h, B·h], [0, 0]]` of `dy/dt = A·y + B·u`
/// (Van Loan 1978): its top `n` rows are `[e^{Ah}, ∫₀ʰ e^{As} ds · B]`, so that
/// `y(h) = e^{Ah}·y(0) + (∫₀ʰ e^{As} ds · B)·u` for a constant input `u`.
///
/// The one place the exact method builds that matrix: the propagator of the solve and the
/// dense output ([`super::dense`]) both evaluate it here, so they agree bit for bit.
#[derive(Clone, Debug)]
pub struct AugmentedExp {
    n: usize,
    k: usize,
    /// `A`, row-major `n × n`.
    a: Vec<f64>,
    /// `B`, row-major `n × k`.
    b: Vec<f64>,
    expm: Expm,
    /// The augmented matrix, `(n + k) × (n + k)`.
    m: Vec<f64>,
    /// Its exponential.
    em: Vec<f64>,
}

impl PartialEq for AugmentedExp {
    /// Equal systems (the workspaces are scratch).
    fn eq(&self, o: &Self) -> bool {
        self.n == o.n && self.k == o.k && self.a == o.a && self.b == o.b
    }
}

impl AugmentedExp {
    /// Whether this is the system of `A` `a` and `B` `b` (same sizes and entries).
    pub fn is_system(&self, a: &[f64], b: &[f64]) -> bool {
        self.a == a && self.b == b
    }

    /// For `A` (row-major `n × n`) and `B` (row-major `n × k`); entries missing from short
    /// slices are taken as zero.
    pub fn new(a: &[f64], b: &[f64], n: usize, k: usize) -> Self {
        let nk = n + k;
        let mut av = vec![0.0; n * n];
        let mut bv = vec![0.0; n * k];
        for (d, s) in av.iter_mut().zip(a) {
            *d = *s;
        }
        for (d, s) in bv.iter_mut().zip(b) {
            *d = *s;
        }
        AugmentedExp {
            n,
            k,
            a: av,
            b: bv,
            expm: Expm::new(nk),
            m: vec![0.0; nk * nk],
            em: vec![0.0; nk * nk],
        }
    }

    /// Number of states `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of input directions `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// `A`, row-major `n × n`.
    pub fn a(&self) -> &[f64] {
        &self.a
    }

    /// `B`, row-major `n × k`.
    pub fn b(&self) -> &[f64] {
        &self.b
    }

    /// The exponential of `[[A·h, B·h], [0, 0]]`, row-major `(n + k) × (n + k)`: row `i < n`
    /// holds row `i` of `e^{Ah}` in its first `n` entries and of `∫₀ʰ e^{As} ds · B` in the
    /// last `k`. NaN when `h` or the system is not finite.
    pub fn exp(&mut self, h: f64) -> &[f64] {
        let (n, k) = (self.n, self.k);
        let nk = n + k;
        self.m.fill(0.0);
        for i in 0..n {
            for j in 0..n {
                self.m[i * nk + j] = self.a[i * n + j] * h;
            }
            for j in 0..k {
                self.m[i * nk + n + j] = self.b[i * k + j] * h;
            }
        }
        self.expm.compute(&self.m, &mut self.em);
        &self.em
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * y.abs().max(1.0))
    }

    #[test]
    fn expm_of_a_rotation_is_cos_sin() {
        for t in [1e-3, 0.1, 1.0, 3.0, 30.0] {
            let e = expm(2, &[0.0, -t, t, 0.0]);
            let want = [t.cos(), -t.sin(), t.sin(), t.cos()];
            assert!(close(&e, &want, 1e-13 * t.max(1.0)), "{t}: {e:?}");
        }
    }

    #[test]
    fn expm_of_a_diagonalisable_matrix() {
        // A = V diag(λ) V⁻¹ with V = [[1, 1], [0, 1]], λ = (-1, -50): every Padé degree and
        // scaling level as the size grows.
        for h in [1e-3, 1e-2, 0.05, 0.2, 1.0, 10.0, 100.0] {
            let (l1, l2) = (-h, -50.0 * h);
            let a = [l1, l2 - l1, 0.0, l2];
            let e = expm(2, &a);
            let want = [l1.exp(), l2.exp() - l1.exp(), 0.0, l2.exp()];
            assert!(close(&e, &want, 1e-13), "{h}: {e:?} vs {want:?}");
        }
    }

    #[test]
    fn expm_of_zero_and_empty() {
        assert_eq!(
            expm(3, &[0.0; 9]),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        );
        assert!(expm(0, &[]).is_empty());
        assert!(expm(1, &[f64::NAN])[0].is_nan());
    }

    #[test]
    fn expm_of_a_nilpotent_block_is_its_taylor_series() {
        // [[0, 1, 0], [0, 0, 1], [0, 0, 0]] · t → [[1, t, t²/2], [0, 1, t], [0, 0, 1]].
        for t in [0.01, 1.0, 7.0, 300.0] {
            let e = expm(3, &[0.0, t, 0.0, 0.0, 0.0, t, 0.0, 0.0, 0.0]);
            let want = [1.0, t, t * t / 2.0, 0.0, 1.0, t, 0.0, 0.0, 1.0];
            assert!(close(&e, &want, 1e-13), "{t}: {e:?}");
        }
    }
}
