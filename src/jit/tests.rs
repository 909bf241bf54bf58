//! JIT versus interpreter on every example model with random inputs and states.
#![allow(clippy::unwrap_used)]

use super::compile;
use crate::ir::Interpreter;
use crate::ir::tests::{Rng, all_examples};

/// Distance in units in the last place (0 for identical values, incl. equal NaN-ness).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    if a == b {
        return 0;
    }
    let ia = a.to_bits() as i64;
    let ib = b.to_bits() as i64;
    let ia = if ia < 0 { i64::MIN - ia } else { ia };
    let ib = if ib < 0 { i64::MIN - ib } else { ib };
    ia.abs_diff(ib)
}

#[test]
fn jit_agrees_with_interpreter_on_random_inputs() {
    let mut rng = Rng(7);
    let mut worst = 0u64;
    for (ctor, typical) in all_examples() {
        let m = ctor().unwrap();
        let t0 = std::time::Instant::now();
        let jit = compile(&m).unwrap();
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        eprintln!(
            "compile {}: {:.2} ms ({} states, {} rhs insts, {} jacobian nnz)",
            m.name,
            ms,
            m.n_states(),
            m.rhs.insts.len(),
            m.sparsity.len()
        );
        let interp = Interpreter::new(m.clone());
        let (ni, np, ns, no, nj) = (
            m.n_inputs(),
            m.n_params(),
            m.n_states(),
            m.n_observables(),
            m.sparsity.len(),
        );
        for _ in 0..200 {
            let inputs: Vec<f64> = typical.iter().map(|x| x * (0.5 + rng.next())).collect();
            assert_eq!(inputs.len(), ni);
            let (mut p1, mut p2) = (vec![0.0; np], vec![0.0; np]);
            interp.setup(&inputs, &mut p1).unwrap();
            jit.setup(&inputs, &mut p2).unwrap();
            let y: Vec<f64> = (0..ns).map(|_| 10.0 * rng.next() - 2.0).collect();
            let t = 30.0 * rng.next();
            let mut pairs: Vec<(Vec<f64>, Vec<f64>)> = vec![(p1.clone(), p2.clone())];
            let (mut a, mut b) = (vec![0.0; ns], vec![0.0; ns]);
            interp.init(&p1, &mut a).unwrap();
            jit.init(&p1, &mut b).unwrap();
            pairs.push((a.clone(), b.clone()));
            interp.rhs(t, &y, &p1, &mut a).unwrap();
            jit.rhs(t, &y, &p1, &mut b).unwrap();
            pairs.push((a, b));
            let (mut a, mut b) = (vec![0.0; nj], vec![0.0; nj]);
            interp.jacobian(t, &y, &p1, &mut a).unwrap();
            jit.jacobian(t, &y, &p1, &mut b).unwrap();
            pairs.push((a, b));
            let (mut a, mut b) = (vec![0.0; no], vec![0.0; no]);
            interp.observe(t, &y, &p1, &mut a).unwrap();
            jit.observe(t, &y, &p1, &mut b).unwrap();
            pairs.push((a, b));
            for (a, b) in pairs {
                for (x, y) in a.iter().zip(&b) {
                    let u = ulps(*x, *y);
                    worst = worst.max(u);
                    assert!(u <= 4, "{}: interp {x} vs jit {y}", m.name);
                }
            }
        }
    }
    eprintln!("worst JIT/interpreter difference: {worst} ulp");
}

#[test]
fn wrong_buffer_lengths_are_errors() {
    let m = crate::ir::examples::two_compartment_iv().unwrap();
    let jit = compile(&m).unwrap();
    let mut dy = vec![0.0; 2];
    let e = jit.rhs(0.0, &[0.0; 3], &vec![0.0; m.n_params()], &mut dy);
    assert!(e.is_err());
}
