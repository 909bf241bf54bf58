//! Unit tests of the IR: CSE, folding, hoisting, determinism and the symbolic Jacobian.
#![allow(clippy::unwrap_used)]

use super::examples;
use super::interp::Interpreter;
use super::ir::{Class, Inst, Module};
use super::print::module_to_string;
use super::{BuildError, ModuleBuilder};

type Ctor = fn() -> Result<Module, Vec<BuildError>>;

pub(crate) fn all_examples() -> Vec<(Ctor, &'static [f64])> {
    vec![
        (
            examples::one_compartment_oral as Ctor,
            &examples::typical::ONE_CPT_ORAL[..],
        ),
        (
            examples::two_compartment_iv,
            &examples::typical::TWO_CPT_IV[..],
        ),
        (examples::friberg, &examples::typical::FRIBERG[..]),
        (examples::pbpk, &examples::typical::PBPK[..]),
        (examples::operator_zoo, &examples::typical::ZOO[..]),
    ]
}

#[test]
fn cse_shares_identical_expressions() {
    let mut b = ModuleBuilder::new("m");
    let x = b.input("x");
    let y = b.input("y");
    let e1 = b.mul(x, y);
    let e2 = b.mul(y, x);
    assert_eq!(e1, e2, "commutative operands are canonicalised");
    let a = b.exp(e1);
    let c = b.exp(e2);
    assert_eq!(a, c);
}

#[test]
fn constants_fold_and_safe_identities_only() {
    let mut b = ModuleBuilder::new("m");
    let two = b.constant(2.0);
    let three = b.constant(3.0);
    let s = b.add(two, three);
    assert_eq!(b.as_const(s), Some(5.0));
    let x = b.input("x");
    let one = b.constant(1.0);
    let zero = b.constant(0.0);
    assert_eq!(b.mul(x, one), x);
    assert_eq!(b.add(zero, x), x);
    let nx = b.neg(x);
    assert_eq!(b.neg(nx), x);
    // x*0 is NOT folded: it is NaN for x = NaN or Inf.
    let m0 = b.mul(x, zero);
    assert_eq!(b.as_const(m0), None);
    let d = b.sub(x, x);
    assert_eq!(b.as_const(d), None);
    let sq = b.constant(2.0);
    let p = b.pow(x, sq);
    assert!(matches!(b.inst(p), Inst::PowI(_, 2)));
}

#[test]
fn per_patient_work_is_hoisted_out_of_rhs() {
    let m = examples::one_compartment_oral().unwrap();
    // CL/V is per-patient: rhs must read it as a parameter, never divide params itself.
    for (inst, class) in m.rhs.insts.iter().zip(&m.rhs.classes) {
        if *class == Class::PerPatient {
            assert!(matches!(inst, Inst::Param(_)), "{inst:?} not hoisted");
        }
        assert!(!matches!(inst, Inst::Input(_)));
    }
    assert!(m.meta.params.iter().any(|p| p.hoisted));
    // Classes are sorted.
    for f in m.functions() {
        assert!(f.classes.windows(2).all(|w| w[0] <= w[1]), "{:?}", f.kind);
        for (i, inst) in f.insts.iter().enumerate() {
            assert!(inst.operands().all(|o| o.index() < i));
        }
    }
}

#[test]
fn building_twice_gives_identical_text() {
    for (ctor, _) in all_examples() {
        let a = module_to_string(&ctor().unwrap());
        let b = module_to_string(&ctor().unwrap());
        assert_eq!(a, b);
    }
}

#[test]
fn ir_text_of_one_compartment_model() {
    let text = module_to_string(&examples::one_compartment_oral().unwrap());
    insta::assert_snapshot!(text);
}

/// Deterministic pseudo-random numbers in [0, 1) (SplitMix64), so tests need no RNG crate.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn jacobian_matches_finite_differences_on_every_example() {
    let mut rng = Rng(42);
    for (ctor, inputs) in all_examples() {
        let m = ctor().unwrap();
        let n = m.n_states();
        let interp = Interpreter::new(m.clone());
        let mut p = vec![0.0; m.n_params()];
        interp.setup(inputs, &mut p).unwrap();
        for _trial in 0..5 {
            let y: Vec<f64> = (0..n).map(|_| 0.5 + 4.0 * rng.next()).collect();
            let t = 0.3 + 2.0 * rng.next();
            let mut vals = vec![0.0; m.sparsity.len()];
            interp.jacobian(t, &y, &p, &mut vals).unwrap();
            let mut dense = vec![0.0; n * n];
            for (k, &(r, c)) in m.sparsity.iter().enumerate() {
                dense[r as usize * n + c as usize] = vals[k];
            }
            for j in 0..n {
                let h = 1e-6 * y[j].abs().max(1.0);
                let mut yp = y.clone();
                let mut ym = y.clone();
                yp[j] += h;
                ym[j] -= h;
                let mut fp = vec![0.0; n];
                let mut fm = vec![0.0; n];
                interp.rhs(t, &yp, &p, &mut fp).unwrap();
                interp.rhs(t, &ym, &p, &mut fm).unwrap();
                for i in 0..n {
                    let fd = (fp[i] - fm[i]) / (2.0 * h);
                    let an = dense[i * n + j];
                    let scale = 1.0 + an.abs().max(fd.abs());
                    assert!(
                        (fd - an).abs() <= 1e-6 * scale,
                        "{}: d f{i}/d y{j}: symbolic {an}, fd {fd}",
                        m.name
                    );
                }
            }
        }
    }
}

#[test]
fn state_dependent_parameter_is_an_error() {
    let mut b = ModuleBuilder::new("bad");
    let s = b.state("a");
    let y = b.y(s);
    b.param("P", y);
    b.state("a");
    let errs = b.finish().unwrap_err();
    assert_eq!(errs.len(), 2);
    assert!(matches!(errs[0], BuildError::DuplicateName { .. }));
    assert!(matches!(errs[1], BuildError::NotPerPatient { .. }));
}
