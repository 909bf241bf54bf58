//! Small dense linear algebra shared by the checker, the population sampler and the estimation.

/// The lower Cholesky factor L (row-major, n×n) of a symmetric positive-definite matrix `a`
/// (row-major), with A = L Lᵀ; `None` if a pivot is not positive (relative to its diagonal
/// entry: `d ≤ 1e-12·|a_ii|`), so the test does not depend on the scale of the matrix.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    if a.len() != n * n {
        return None;
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d.is_nan() || d <= 1e-12 * a[i * n + i].abs().max(f64::MIN_POSITIVE) {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `L·z` for a lower-triangular `l` (row-major, n×n, n = `z.len()`), summing each row from its
/// first column: how a correlated normal draw is made from standard normals.
pub fn lower_mul(l: &[f64], z: &[f64]) -> Vec<f64> {
    let n = z.len();
    (0..n)
        .map(|i| (0..=i).map(|j| l[i * n + j] * z[j]).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cholesky;

    #[test]
    fn factor_reproduces_the_matrix() {
        let a = [4.0, 2.0, 0.6, 2.0, 2.0, 0.5, 0.6, 0.5, 3.0];
        let l = cholesky(&a, 3).expect("positive definite");
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((v - a[i * 3 + j]).abs() < 1e-14, "{i},{j}");
            }
        }
    }

    #[test]
    fn singular_and_indefinite_matrices_have_none() {
        assert!(cholesky(&[1.0, 1.0, 1.0, 1.0], 2).is_none());
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
        assert!(cholesky(&[1e-20, 0.0, 0.0, 1e-20], 2).is_some());
        assert!(cholesky(&[f64::NAN], 1).is_none());
        assert!(cholesky(&[1.0], 2).is_none());
    }
}
