//! Accuracy against closed forms, dosing conventions, mass balance and failure reports.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::ir::examples::{self, typical};
use crate::ir::{Interpreter, ModuleBuilder};
use crate::jit::compile;

fn tight(method: Method) -> SolveOptions {
    SolveOptions {
        method,
        rtol: 1e-8,
        atol: 1e-12,
        ..SolveOptions::default()
    }
}

fn grid(t_end: f64, dt: f64) -> Vec<f64> {
    let n = (t_end / dt).round() as usize;
    (0..=n).map(|k| k as f64 * dt).collect()
}

/// Max relative error where the reference exceeds 1e-6 of its peak.
fn max_rel_err(got: &[f64], want: &[f64]) -> f64 {
    let peak = want.iter().cloned().fold(0.0, f64::max);
    got.iter()
        .zip(want)
        .filter(|(_, w)| **w > 1e-6 * peak)
        .map(|(g, w)| ((g - w) / w).abs())
        .fold(0.0, f64::max)
}

fn bateman(t: f64, dose: f64, f: f64, ka: f64, cl: f64, v: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let k = cl / v;
    f * dose * ka / (v * (ka - k)) * ((-k * t).exp() - (-ka * t).exp())
}

fn biexp(t: f64, dose: f64) -> f64 {
    let [cl, v1, q, v2] = typical::TWO_CPT_IV;
    let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
    let s = k10 + k12 + k21;
    let disc = (s * s - 4.0 * k10 * k21).sqrt();
    let (alpha, beta) = ((s + disc) / 2.0, (s - disc) / 2.0);
    if t < 0.0 {
        return 0.0;
    }
    dose / v1
        * ((alpha - k21) / (alpha - beta) * (-alpha * t).exp()
            + (k21 - beta) / (alpha - beta) * (-beta * t).exp())
}

#[test]
fn one_compartment_oral_matches_bateman() {
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0));
    let g = grid(48.0, 0.5);
    for method in [Method::Bdf, Method::DiffsolBdf, Method::Esdirk34] {
        let sim = simulate(&jit, &typical::ONE_CPT_ORAL, &reg, &g, &tight(method)).unwrap();
        let want: Vec<f64> = g
            .iter()
            .map(|&t| bateman(t, 100.0, 1.0, 1.0, 5.0, 50.0))
            .collect();
        let err = max_rel_err(&sim.observable_series(0), &want);
        eprintln!(
            "Bateman {method:?}: max rel err {err:.2e}, {} steps",
            sim.steps
        );
        assert!(err <= 1e-6, "{method:?}: {err}");
    }
}

#[test]
fn bioavailability_and_lag_shift_and_scale() {
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let inputs = [5.0, 50.0, 1.0, 0.6, 0.75];
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0));
    let g = grid(48.0, 0.25);
    let sim = simulate(&jit, &inputs, &reg, &g, &tight(Method::Bdf)).unwrap();
    let want: Vec<f64> = g
        .iter()
        .map(|&t| bateman(t - 0.75, 100.0, 0.6, 1.0, 5.0, 50.0))
        .collect();
    let err = max_rel_err(&sim.observable_series(0), &want);
    eprintln!("Bateman F=0.6 lag=0.75: max rel err {err:.2e}");
    assert!(err <= 1e-6, "{err}");
    assert_eq!(sim.state(0, 0), 0.0, "nothing in the depot before the lag");
    assert!((sim.dosed[g.len() - 1] - 60.0).abs() < 1e-12);
}

#[test]
fn two_compartment_iv_bolus_is_biexponential() {
    let jit = compile(&examples::two_compartment_iv().unwrap()).unwrap();
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0));
    let g = grid(96.0, 0.5);
    for method in [Method::Bdf, Method::DiffsolBdf, Method::Esdirk34] {
        let sim = simulate(&jit, &typical::TWO_CPT_IV, &reg, &g, &tight(method)).unwrap();
        let want: Vec<f64> = g.iter().map(|&t| biexp(t, 100.0)).collect();
        let err = max_rel_err(&sim.observable_series(0), &want);
        eprintln!(
            "biexponential {method:?}: max rel err {err:.2e}, {} steps",
            sim.steps
        );
        assert!(err <= 1e-6, "{method:?}: {err}");
    }
}

#[test]
fn constant_rate_infusion_matches_closed_form() {
    // One compartment (CL 5, V 50): 100 mg over 2 h into `central`, by duration and by rate.
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let (cl, v, dur, amt) = (5.0, 50.0, 2.0, 100.0);
    let k = cl / v;
    let r = amt / dur;
    let closed = |t: f64| {
        if t <= dur {
            r / cl * (1.0 - (-k * t).exp())
        } else {
            r / cl * (1.0 - (-k * dur).exp()) * (-k * (t - dur)).exp()
        }
    };
    let g = grid(48.0, 0.25);
    let want: Vec<f64> = g.iter().map(|&t| closed(t)).collect();
    for dose in [
        Dose::infusion_duration(0.0, amt, 1, dur),
        Dose::infusion_rate(0.0, amt, 1, r),
    ] {
        // ESDIRK3(4)'s global error in the 46 h decay tail reaches 1.3e-6 at rtol 1e-8 (it grows
        // linearly with the number of steps); it needs rtol 1e-9 for the 1e-6 target here.
        let esdirk = SolveOptions {
            rtol: 1e-9,
            ..tight(Method::Esdirk34)
        };
        for opts in [tight(Method::Bdf), esdirk] {
            let method = opts.method;
            let reg = Regimen::new().with(dose);
            let sim = simulate(&jit, &typical::ONE_CPT_ORAL, &reg, &g, &opts).unwrap();
            let err = max_rel_err(&sim.observable_series(0), &want);
            eprintln!("infusion {:?} {method:?}: max rel err {err:.2e}", dose.kind);
            assert!(err <= 1e-6, "{err}");
        }
    }
}

#[test]
fn repeated_dosing_matches_superposition() {
    let jit = compile(&examples::two_compartment_iv().unwrap()).unwrap();
    // 100 mg every 12 h, 24 doses (t = 0 … 276 h), observed hourly to 288 h.
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).additional(12.0, 23));
    let g = grid(288.0, 1.0);
    let want: Vec<f64> = g
        .iter()
        .map(|&t| (0..24).map(|i| biexp(t - 12.0 * f64::from(i), 100.0)).sum())
        .collect();
    for method in [Method::Bdf, Method::DiffsolBdf, Method::Esdirk34] {
        let t0 = std::time::Instant::now();
        let sim = simulate(&jit, &typical::TWO_CPT_IV, &reg, &g, &tight(method)).unwrap();
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let err = max_rel_err(&sim.observable_series(0), &want);
        eprintln!(
            "superposition {method:?}: max rel err {err:.2e}, {} steps, {ms:.2} ms",
            sim.steps
        );
        assert!(err <= 1e-6, "{method:?}: {err}");
    }
    // `until` gives the same schedule.
    let reg2 = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).until(12.0, 276.0));
    let a = simulate(&jit, &typical::TWO_CPT_IV, &reg, &g, &tight(Method::Bdf)).unwrap();
    let b = simulate(&jit, &typical::TWO_CPT_IV, &reg2, &g, &tight(Method::Bdf)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn mass_is_conserved() {
    // Oral boluses, an infusion and IV boluses overlapping; all states (incl. eliminated) sum
    // to the bioavailable amount dosed so far.
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let inputs = [5.0, 50.0, 1.0, 0.8, 0.25];
    let reg = Regimen::new()
        .with(Dose::bolus(0.0, 100.0, 0).additional(8.0, 5))
        .with(Dose::infusion_rate(3.0, 40.0, 1, 7.0))
        .with(Dose::bolus(10.0, 25.0, 1));
    let g = grid(72.0, 0.1);
    let sim = simulate(&jit, &inputs, &reg, &g, &SolveOptions::default()).unwrap();
    let mut worst: f64 = 0.0;
    for k in 0..g.len() {
        let total: f64 = (0..3).map(|i| sim.state(k, i)).sum();
        let dosed = sim.dosed[k];
        worst = worst.max((total - dosed).abs() / dosed.max(1.0));
    }
    eprintln!("mass balance: worst relative defect {worst:.2e}");
    assert!(worst < 1e-9, "{worst}");
    assert!((sim.dosed[g.len() - 1] - (6.0 * 80.0 + 40.0 + 25.0)).abs() < 1e-9);
}

#[test]
fn interpreter_and_jit_give_identical_solutions() {
    let m = examples::friberg().unwrap();
    let jit = compile(&m).unwrap();
    let interp = Interpreter::new(m);
    let reg = Regimen::new().with(Dose::bolus(0.0, 500.0, 0).additional(24.0, 6));
    let g = grid(720.0, 6.0);
    let a = simulate(&jit, &typical::FRIBERG, &reg, &g, &SolveOptions::default()).unwrap();
    let b = simulate(
        &interp,
        &typical::FRIBERG,
        &reg,
        &g,
        &SolveOptions::default(),
    )
    .unwrap();
    assert_eq!(a, b);
    let anc = a.observable_series(1);
    let nadir = anc.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(
        nadir < 5.0 && nadir > 0.0,
        "myelosuppression shows a nadir: {nadir}"
    );
}

#[test]
fn pbpk_conserves_mass() {
    let m = examples::pbpk().unwrap();
    let jit = compile(&m).unwrap();
    let reg = Regimen::new()
        .with(Dose::bolus(0.0, 100.0, 0))
        .with(Dose::infusion_duration(1.0, 50.0, 2, 0.5));
    let g = grid(48.0, 0.5);
    let sim = simulate(&jit, &typical::PBPK, &reg, &g, &SolveOptions::default()).unwrap();
    let n = m.n_states();
    for k in 0..g.len() {
        let total: f64 = (0..n).map(|i| sim.state(k, i)).sum();
        assert!((total - sim.dosed[k]).abs() <= 1e-8 * sim.dosed[k].max(1.0));
    }
}

#[test]
fn blow_up_is_a_structured_error_naming_the_state() {
    // dy/dt = y^2, y(0) = 1 explodes at t = 1.
    let mut b = ModuleBuilder::new("blowup");
    let k_in = b.input("K");
    let k = b.param("K", k_in);
    let s = b.state("boom");
    let y = b.y(s);
    let y2 = b.powi(y, 2);
    let r = b.mul(k, y2);
    b.set_rhs(s, r);
    let one = b.constant(1.0);
    b.set_init(s, one);
    b.observe("y", y);
    let jit = compile(&b.finish().unwrap()).unwrap();
    let err = simulate(
        &jit,
        &[1.0],
        &Regimen::new(),
        &grid(2.0, 0.1),
        &SolveOptions::default(),
    )
    .unwrap_err();
    let SolveError::Failed(f) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(f.state, "boom");
    assert!(f.time > 0.9 && f.time <= 1.0 + 1e-6, "{}", f.time);
    assert_eq!(f.params, vec![("K".to_string(), 1.0)]);
    eprintln!("{err}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 7));
    let e = simulate(
        &jit,
        &typical::ONE_CPT_ORAL,
        &reg,
        &[0.0, 1.0],
        &SolveOptions::default(),
    );
    assert!(matches!(
        e,
        Err(SolveError::Dose(DoseError::UnknownState { .. }))
    ));
    let e = simulate(
        &jit,
        &[1.0],
        &Regimen::new(),
        &[0.0],
        &SolveOptions::default(),
    );
    assert!(matches!(e, Err(SolveError::Length(_))));
    let e = simulate(
        &jit,
        &typical::ONE_CPT_ORAL,
        &Regimen::new(),
        &[1.0, 0.0],
        &SolveOptions::default(),
    );
    assert!(matches!(e, Err(SolveError::BadGrid(_))));
    let inputs = [5.0, 0.0, 1.0, 1.0, 0.0]; // V = 0 → CL/V infinite
    let e = simulate(
        &jit,
        &inputs,
        &Regimen::new(),
        &[0.0, 1.0],
        &SolveOptions::default(),
    );
    assert!(
        matches!(e, Err(SolveError::Failed(ref f)) if f.reason == FailureReason::NonFiniteParameter)
    );
}

/// Logistic growth dx/dt = r·x·(1 − x/K) from x0: x(t) = K / (1 + (K/x0 − 1)·e^(−r·t)).
fn logistic(t: f64, x0: f64, r: f64, k: f64) -> f64 {
    k / (1.0 + (k / x0 - 1.0) * (-r * t).exp())
}

#[test]
fn nonlinear_logistic_growth_matches_closed_form_with_a_bolus() {
    let mut b = ModuleBuilder::new("logistic");
    let ri = b.input("R");
    let r = b.param("R", ri);
    let ki = b.input("K");
    let k = b.param("K", ki);
    let x = b.state("x");
    let x0 = b.constant(0.5);
    b.set_init(x, x0);
    let xv = b.y(x);
    let one = b.constant(1.0);
    let frac = b.div(xv, k);
    let room = b.sub(one, frac);
    let rx = b.mul(r, xv);
    let growth = b.mul(rx, room);
    b.add_rhs(x, growth);
    let m = b.finish().unwrap();
    let jit = compile(&m).unwrap();
    let (rate, cap) = (0.3, 10.0);
    // A bolus of 4 at t = 20 h: logistic again from x(20) + 4.
    let reg = Regimen::new().with(Dose::bolus(20.0, 4.0, 0));
    let g = grid(60.0, 0.25);
    let x20 = logistic(20.0, 0.5, rate, cap);
    let want: Vec<f64> = g
        .iter()
        .map(|&t| {
            if t < 20.0 {
                logistic(t, 0.5, rate, cap)
            } else {
                logistic(t - 20.0, x20 + 4.0, rate, cap)
            }
        })
        .collect();
    for method in [Method::Bdf, Method::DiffsolBdf, Method::Esdirk34] {
        let sim = simulate(&jit, &[rate, cap], &reg, &g, &tight(method)).unwrap();
        let err = max_rel_err(&sim.state_series(0), &want);
        assert!(err < 1e-6, "{method:?}: max relative error {err:e}");
    }
}

/// The crate's BDF and diffsol's BDF are two implementations of the same method: at tight
/// tolerances they agree with each other, and at the default tolerance both stay close to a
/// tight reference on a nonlinear model with repeated doses (Friberg myelosuppression).
#[test]
fn bdf_agrees_with_diffsol_bdf_on_friberg() {
    let m = examples::friberg().unwrap();
    let jit = compile(&m).unwrap();
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).additional(24.0, 4));
    let g = grid(504.0, 1.0);
    let very_tight = |method| SolveOptions {
        method,
        rtol: 1e-11,
        atol: 1e-14,
        ..SolveOptions::default()
    };
    let a = simulate(&jit, &typical::FRIBERG, &reg, &g, &very_tight(Method::Bdf)).unwrap();
    let b = simulate(
        &jit,
        &typical::FRIBERG,
        &reg,
        &g,
        &very_tight(Method::DiffsolBdf),
    )
    .unwrap();
    let n = m.n_states();
    for i in 0..n {
        let err = max_rel_err(&a.state_series(i), &b.state_series(i));
        assert!(err < 1e-7, "state {i}: tight BDF vs diffsol BDF {err:e}");
    }
    for method in [Method::Bdf, Method::DiffsolBdf] {
        let d = simulate(
            &jit,
            &typical::FRIBERG,
            &reg,
            &g,
            &SolveOptions {
                method,
                ..SolveOptions::default()
            },
        )
        .unwrap();
        for i in 0..n {
            let err = max_rel_err(&d.state_series(i), &a.state_series(i));
            // Global error at rtol 1e-6: the absorbed drug (fast, tracked to 1e-6 of its peak)
            // within 1e-3; the slow marrow states within 2e-5.
            let bound = if i < 2 { 1e-3 } else { 2e-5 };
            assert!(err < bound, "{method:?} state {i}: {err:e} vs reference");
        }
    }
}

#[test]
fn scaling_a_regimen_scales_amounts_and_rates_only() {
    let reg = Regimen::new()
        .with(Dose::bolus(1.0, 100.0, 0).additional(12.0, 3))
        .with(Dose::infusion_rate(2.0, 50.0, 1, 10.0))
        .with(Dose::infusion_duration(3.0, 30.0, 1, 2.0).until(24.0, 96.0));
    let s = reg.scaled(0.3);
    assert_eq!(s.doses.len(), 3);
    for (a, b) in reg.doses.iter().zip(&s.doses) {
        assert_eq!(b.amount, a.amount * 0.3);
        assert_eq!((b.time, b.target, b.repeat), (a.time, a.target, a.repeat));
    }
    assert_eq!(s.doses[0].kind, DoseKind::Bolus);
    assert_eq!(s.doses[1].kind, DoseKind::Rate(10.0 * 0.3));
    assert_eq!(s.doses[2].kind, DoseKind::Duration(2.0));
    assert_eq!(reg.scaled(1.0), reg);
    let mut in_place = reg.clone();
    in_place.scale(0.3);
    assert_eq!(in_place, s);
}
