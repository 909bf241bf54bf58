//! A dense LU solver for the small Newton matrices of pharmacometric models.
//!
//! diffsol's own nalgebra LU ([`diffsol::NalgebraLU`]) works on dynamically sized nalgebra
//! views and supports batched matrices. For a model with a handful of states, its triangular
//! solves (one per Newton iteration) are chains of dependent additions. [`DenseLu`] keeps the
//! factors in one contiguous column-major buffer and solves column by column: each unknown, once
//! known, updates the rest of the right-hand side with independent multiply–subtracts, and the
//! pivots' reciprocals are stored. It is the same algorithm (partial pivoting, unit lower
//! triangle), so results agree with diffsol's to rounding. Orders up to 12 use a copy of the
//! forward and back substitution with the order fixed at compile time, so the loops unroll
//! without bounds checks. Measured on the 7-state Friberg trial model: BDF solves 2–6 % faster
//! than with diffsol's LU with the generic loops, and about 15 % faster again with the fixed
//! orders (BENCHMARKS.md, section (d)).
//!
//! It implements diffsol's linear-solver trait for [`diffsol::NalgebraMat`] with one batch,
//! which is what diffsol's methods here (`diffsol_methods`) build.

use diffsol::{Context, LaError, Matrix, MatrixCommon, NalgebraMat, NalgebraVec, Vector};
use diffsol_la::LinearOp;
use diffsol_la::error::LinearSolverError;

type Mat = NalgebraMat<f64>;

/// Dense LU with partial pivoting; factors stored column-major in one buffer.
#[derive(Default)]
pub struct DenseLu {
    /// Matrix buffer that the Newton operator writes into.
    a: Option<Mat>,
    /// `n × n` factors, column-major: strictly lower part is `L` (unit diagonal), the rest `U`.
    lu: Vec<f64>,
    /// Reciprocals of `U`'s diagonal.
    inv_diag: Vec<f64>,
    /// Row `k` of the factors came from row `piv[k]` of the matrix (after earlier swaps).
    piv: Vec<usize>,
    /// Order of the matrix.
    n: usize,
    /// A zero pivot was met: solves fail until the next factorisation.
    singular: bool,
    /// A factorisation has been done.
    factored: bool,
}

impl DenseLu {
    /// Factorises the `n × n` column-major matrix `a` directly (for the solvers in this crate
    /// that drive the LU themselves). Returns `false` when a pivot is zero.
    pub(crate) fn factorize(&mut self, n: usize, a: &[f64]) -> bool {
        if self.n != n || self.lu.len() != n * n {
            self.n = n;
            self.lu = vec![0.0; n * n];
            self.piv = vec![0; n];
            self.inv_diag = vec![0.0; n];
        }
        if a.len() != n * n {
            self.factored = false;
            return false;
        }
        self.lu.copy_from_slice(a);
        self.factor();
        self.factored = true;
        !self.singular
    }

    /// Solves `A x = b` in place with the factors of the last [`DenseLu::factorize`]. Returns
    /// `false` when there is no usable factorisation.
    pub(crate) fn solve(&self, b: &mut [f64]) -> bool {
        self.solve_slice(b, false).is_ok()
    }

    /// Factorises the `n × n` column-major matrix in `self.lu` in place (right-looking, so the
    /// inner loops run down contiguous columns).
    fn factor(&mut self) {
        let n = self.n;
        let lu = &mut self.lu;
        self.singular = false;
        for k in 0..n {
            // Pivot: the largest magnitude in column k at or below the diagonal.
            let col = &lu[k * n..(k + 1) * n];
            let mut p = k;
            let mut best = col[k].abs();
            for (i, v) in col.iter().enumerate().skip(k + 1) {
                if v.abs() > best {
                    best = v.abs();
                    p = i;
                }
            }
            self.piv[k] = p;
            if p != k {
                for j in 0..n {
                    lu.swap(j * n + k, j * n + p);
                }
            }
            let d = lu[k * n + k];
            if d == 0.0 {
                self.singular = true;
                self.inv_diag[k] = f64::NAN;
                continue;
            }
            let r = 1.0 / d;
            self.inv_diag[k] = r;
            let (left, right) = lu.split_at_mut((k + 1) * n);
            let l = &mut left[k * n + k + 1..(k + 1) * n];
            for v in l.iter_mut() {
                *v *= r;
            }
            for j in 0..n - k - 1 {
                let cj = &mut right[j * n..(j + 1) * n];
                let ukj = cj[k];
                if ukj != 0.0 {
                    for (c, lv) in cj[k + 1..].iter_mut().zip(l.iter()) {
                        *c -= lv * ukj;
                    }
                }
            }
        }
    }

    /// Solves `A x = b` in place (`transpose`: `Aᵀ x = b`).
    fn solve_slice(&self, b: &mut [f64], transpose: bool) -> Result<(), LaError> {
        let n = self.n;
        if !self.factored || b.len() != n {
            return Err(LaError::Other(format!(
                "dense LU: {} right-hand side of length {} for a {n} × {n} matrix",
                if self.factored {
                    "a"
                } else {
                    "no factorisation for"
                },
                b.len()
            )));
        }
        if self.singular {
            return Err(LinearSolverError::LuSolveFailed.into());
        }
        let lu = &self.lu;
        if !transpose {
            macro_rules! fixed {
                ($($k:literal)*) => {
                    match n {
                        $($k => solve_fixed::<$k>(lu, &self.inv_diag, &self.piv, b),)*
                        _ => solve_any(n, lu, &self.inv_diag, &self.piv, b),
                    }
                };
            }
            fixed!(1 2 3 4 5 6 7 8 9 10 11 12);
        } else {
            // Uᵀ z = b: row i of Uᵀ is column i of U (contiguous).
            for i in 0..n {
                let s: f64 = lu[i * n..i * n + i]
                    .iter()
                    .zip(&b[..i])
                    .map(|(u, z)| u * z)
                    .sum();
                b[i] = (b[i] - s) * self.inv_diag[i];
            }
            // Lᵀ w = z: row i of Lᵀ is column i of L below the diagonal.
            for i in (0..n).rev() {
                let s: f64 = lu[i * n + i + 1..(i + 1) * n]
                    .iter()
                    .zip(&b[i + 1..])
                    .map(|(l, w)| l * w)
                    .sum();
                b[i] -= s;
            }
            for (k, &p) in self.piv.iter().enumerate().rev() {
                b.swap(k, p);
            }
        }
        Ok(())
    }
}

/// `A x = b` from the factors, for any order `n`: column-oriented substitutions.
fn solve_any(n: usize, lu: &[f64], inv_diag: &[f64], piv: &[usize], b: &mut [f64]) {
    for (k, &p) in piv.iter().enumerate() {
        b.swap(k, p);
    }
    // L y = P b (unit diagonal), column by column: independent updates below.
    for i in 0..n {
        let (head, tail) = b.split_at_mut(i + 1);
        let yi = head[i];
        for (t, l) in tail.iter_mut().zip(&lu[i * n + i + 1..(i + 1) * n]) {
            *t -= l * yi;
        }
    }
    // U x = y, column by column from the last.
    for i in (0..n).rev() {
        let (head, tail) = b.split_at_mut(i);
        let xi = tail[0] * inv_diag[i];
        tail[0] = xi;
        for (h, u) in head.iter_mut().zip(&lu[i * n..i * n + i]) {
            *h -= u * xi;
        }
    }
}

/// [`solve_any`] for an order known at compile time, so the loops unroll without bounds checks
/// (most models have a handful of states).
fn solve_fixed<const N: usize>(lu: &[f64], inv_diag: &[f64], piv: &[usize], b: &mut [f64]) {
    let (Some(lu), Some(inv_diag), Some(piv)) = (lu.get(..N * N), inv_diag.get(..N), piv.get(..N))
    else {
        return solve_any(N, lu, inv_diag, piv, b);
    };
    let Ok(b) = <&mut [f64; N]>::try_from(b) else {
        return;
    };
    for (k, &p) in piv.iter().enumerate() {
        b.swap(k, p.min(N - 1));
    }
    for i in 0..N {
        let yi = b[i];
        for j in i + 1..N {
            b[j] -= lu[i * N + j] * yi;
        }
    }
    for i in (0..N).rev() {
        let xi = b[i] * inv_diag[i];
        b[i] = xi;
        for j in 0..i {
            b[j] -= lu[i * N + j] * xi;
        }
    }
}

/// The single-batch vector's storage as a slice.
fn host_slice(v: &mut NalgebraVec<f64>) -> &mut [f64] {
    v.batch_as_mut_slice(0)
}

impl diffsol_la::LinearSolver<Mat> for DenseLu {
    fn set_linearisation<
        C: LinearOp<T = f64, V = NalgebraVec<f64>, M = Mat, C = diffsol::NalgebraContext>,
    >(
        &mut self,
        op: &C,
    ) {
        let n = self.n;
        let Some(a) = self.a.as_mut() else {
            self.factored = false;
            return;
        };
        op.matrix_inplace(a);
        // Both nalgebra's storage and the factors are column-major.
        let src = a.inner().as_slice();
        if src.len() != n * n {
            self.factored = false;
            return;
        }
        self.lu.copy_from_slice(src);
        self.factor();
        self.factored = true;
    }

    fn set_sparsity<
        C: LinearOp<T = f64, V = NalgebraVec<f64>, M = Mat, C = diffsol::NalgebraContext>,
    >(
        &mut self,
        op: &C,
    ) {
        let n = op.nrows();
        self.n = n;
        self.a = Some(Mat::new_from_sparsity(
            n,
            op.ncols(),
            op.sparsity(),
            *op.context(),
        ));
        self.lu = vec![0.0; n * n];
        self.piv = vec![0; n];
        self.inv_diag = vec![0.0; n];
        self.singular = false;
        self.factored = false;
    }

    fn solve_in_place(&self, b: &mut NalgebraVec<f64>) -> Result<(), LaError> {
        if b.context().nbatch() != 1 {
            return Err(LaError::Other(
                "dense LU: batched vectors are not supported".into(),
            ));
        }
        self.solve_slice(host_slice(b), false)
    }

    fn solve_transpose_in_place(&self, b: &mut NalgebraVec<f64>) -> Result<(), LaError> {
        if b.context().nbatch() != 1 {
            return Err(LaError::Other(
                "dense LU: batched vectors are not supported".into(),
            ));
        }
        self.solve_slice(host_slice(b), true)
    }
}

#[cfg(test)]
mod tests {
    use super::DenseLu;

    fn with(a: &[f64], n: usize) -> DenseLu {
        let mut lu = DenseLu {
            lu: a.to_vec(),
            piv: vec![0; n],
            inv_diag: vec![0.0; n],
            n,
            factored: true,
            ..DenseLu::default()
        };
        lu.factor();
        lu
    }

    fn mul(a: &[f64], x: &[f64], n: usize, transpose: bool) -> Vec<f64> {
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        // Column-major: A[i][j] = a[j·n + i].
                        if transpose {
                            a[i * n + j] * x[j]
                        } else {
                            a[j * n + i] * x[j]
                        }
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn solves_with_pivoting_and_transposed() {
        let n = 4;
        // Column-major; a zero leading entry forces a row swap.
        let a = [
            0.0, 2.0, 1.0, -1.0, //
            3.0, -1.0, 0.5, 2.0, //
            1.0, 4.0, -2.0, 0.0, //
            -2.0, 1.0, 1.0, 5.0,
        ];
        let lu = with(&a, n);
        let x = [1.0, -2.0, 0.5, 3.0];
        for transpose in [false, true] {
            let mut b = mul(&a, &x, n, transpose);
            lu.solve_slice(&mut b, transpose).expect("solve");
            for (got, want) in b.iter().zip(&x) {
                assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn every_fixed_order_matches_the_general_solve() {
        for n in 1..=13 {
            // Diagonally weighted but with a large off-diagonal entry so rows swap.
            let a: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k % n, k / n);
                    if i == j {
                        1.0 + i as f64
                    } else {
                        ((i * 7 + j * 3) % 5) as f64 - 2.0
                            + if i == (j + 1) % n { 9.0 } else { 0.0 }
                    }
                })
                .collect();
            let lu = with(&a, n);
            let x: Vec<f64> = (0..n).map(|i| 1.0 - 0.5 * i as f64).collect();
            let mut b = mul(&a, &x, n, false);
            lu.solve_slice(&mut b, false).expect("solve");
            for (got, want) in b.iter().zip(&x) {
                assert!((got - want).abs() < 1e-10, "n = {n}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn singular_matrix_fails_to_solve() {
        let lu = with(&[1.0, 2.0, 2.0, 4.0], 2);
        let mut b = [1.0, 1.0];
        assert!(lu.solve_slice(&mut b, false).is_err());
    }
}
