//! Tests of the exact solver for linear compartment models (`Method::Exact`, chosen by `Method::Auto`):
//! closed forms to 1e-9 relative, agreement with BDF at rtol 1e-10, the linearity test, mass
//! balance, dose semantics shared with the integrators, and failures.
#![allow(clippy::unwrap_used)]

use crate::ir::examples::{self, typical};
use crate::ir::{Interpreter, Module, ModuleBuilder};
use crate::jit::{CompiledModel, compile};
use crate::solve::{
    Dose, FailureReason, Method, Regimen, SolveError, SolveOptions, is_linear, simulate,
};

fn exact() -> SolveOptions {
    SolveOptions {
        method: Method::Exact,
        ..SolveOptions::default()
    }
}

fn bdf_tight() -> SolveOptions {
    SolveOptions {
        method: Method::Bdf,
        rtol: 1e-10,
        atol: 1e-14,
        ..SolveOptions::default()
    }
}

fn grid(t_end: f64, dt: f64) -> Vec<f64> {
    let n = (t_end / dt).round() as usize;
    (0..=n).map(|k| k as f64 * dt).collect()
}

/// Max relative error where the reference exceeds 1e-6 of its peak.
fn max_rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
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

/// Macro-constants of the two-compartment model: (α, β, k21).
fn two_cpt_rates() -> (f64, f64, f64) {
    let [cl, v1, q, v2] = typical::TWO_CPT_IV;
    let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
    let s = k10 + k12 + k21;
    let disc = (s * s - 4.0 * k10 * k21).sqrt();
    ((s + disc) / 2.0, (s - disc) / 2.0, k21)
}

/// Central concentration after an IV bolus `dose` at t = 0 (biexponential).
fn biexp(t: f64, dose: f64) -> f64 {
    if t < 0.0 {
        return 0.0;
    }
    let v1 = typical::TWO_CPT_IV[1];
    let (a, b, k21) = two_cpt_rates();
    dose / v1 * ((a - k21) / (a - b) * (-a * t).exp() + (k21 - b) / (a - b) * (-b * t).exp())
}

/// Central concentration under a constant infusion of `rate` started at t = 0 (never stopped).
fn biexp_infusion(t: f64, rate: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let v1 = typical::TWO_CPT_IV[1];
    let (a, b, k21) = two_cpt_rates();
    rate / v1
        * ((a - k21) / (a - b) * (1.0 - (-a * t).exp()) / a
            + (k21 - b) / (a - b) * (1.0 - (-b * t).exp()) / b)
}

/// `examples/two_compartment_iv.twin` through the whole front end, with the eliminated amount
/// tracked: states central, peripheral, eliminated; observable conc.
fn lowered_two_cpt() -> (CompiledModel, Vec<f64>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/two_compartment_iv.twin"
    ))
    .unwrap();
    let c = crate::driver::compile("two_compartment_iv.twin", &text);
    assert!(!c.has_errors());
    let m = &c.program.models[0];
    let lowered = crate::lower::lower(
        &c.program,
        m,
        &[],
        crate::lower::Options {
            track_elimination: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        lowered.module.meta.states,
        ["central", "peripheral", "eliminated"]
    );
    let inputs = crate::lower::typical_inputs(m, &lowered.inputs);
    (compile(&lowered.module).unwrap(), inputs)
}

/// Every two-compartment variant: (label, model, inputs).
fn two_cpt_models() -> Vec<(&'static str, CompiledModel, Vec<f64>)> {
    let (lowered, inputs) = lowered_two_cpt();
    vec![
        (
            "hand-built",
            compile(&examples::two_compartment_iv().unwrap()).unwrap(),
            typical::TWO_CPT_IV.to_vec(),
        ),
        ("two_compartment_iv.twin", lowered, inputs),
    ]
}

#[test]
fn linear_models_are_recognised_and_nonlinear_ones_are_not() {
    assert!(is_linear(&examples::one_compartment_oral().unwrap()));
    assert!(is_linear(&examples::two_compartment_iv().unwrap()));
    assert!(is_linear(&examples::pbpk().unwrap()));
    for (_, m, _) in two_cpt_models() {
        assert!(is_linear(m.module()));
    }
    let friberg = examples::friberg().unwrap();
    assert!(!is_linear(&friberg), "Friberg feedback (circ0/circ)^γ");
    // Asking for the exact method on it is a clear error, and Auto falls back to BDF exactly.
    let jit = compile(&friberg).unwrap();
    let reg = Regimen::new().with(Dose::bolus(0.0, 500.0, 0).additional(24.0, 6));
    let g = grid(720.0, 6.0);
    let e = simulate(&jit, &typical::FRIBERG, &reg, &g, &exact());
    assert!(matches!(e, Err(SolveError::BadOptions(_))), "{e:?}");
    let auto = simulate(&jit, &typical::FRIBERG, &reg, &g, &SolveOptions::default()).unwrap();
    let bdf = SolveOptions {
        method: Method::Bdf,
        ..SolveOptions::default()
    };
    assert_eq!(
        auto,
        simulate(&jit, &typical::FRIBERG, &reg, &g, &bdf).unwrap()
    );
}

#[test]
fn one_compartment_oral_matches_bateman_with_f_and_lag() {
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let g = grid(48.0, 0.25);
    for (inputs, f, lag) in [
        (typical::ONE_CPT_ORAL, 1.0, 0.0),
        ([5.0, 50.0, 1.0, 0.6, 0.75], 0.6, 0.75),
    ] {
        let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0));
        let sim = simulate(&jit, &inputs, &reg, &g, &exact()).unwrap();
        let want: Vec<f64> = g
            .iter()
            .map(|&t| bateman(t - lag, 100.0, f, 1.0, 5.0, 50.0))
            .collect();
        let err = max_rel_err(&sim.observable_series(0), &want);
        eprintln!("exact Bateman F={f} lag={lag}: max rel err {err:.2e}");
        assert!(err <= 1e-9, "{err}");
        let vs_bdf = max_rel_err(
            &sim.observable_series(0),
            &simulate(&jit, &inputs, &reg, &g, &bdf_tight())
                .unwrap()
                .observable_series(0),
        );
        eprintln!("exact vs BDF(rtol 1e-10) Bateman: {vs_bdf:.2e}");
        assert!(vs_bdf <= 1e-8, "{vs_bdf}");
    }
}

#[test]
fn two_compartment_bolus_is_biexponential() {
    let g = grid(96.0, 0.5);
    let want: Vec<f64> = g.iter().map(|&t| biexp(t, 100.0)).collect();
    for (label, jit, inputs) in two_cpt_models() {
        let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0));
        let sim = simulate(&jit, &inputs, &reg, &g, &exact()).unwrap();
        let err = max_rel_err(&sim.observable_series(0), &want);
        let bdf = simulate(&jit, &inputs, &reg, &g, &bdf_tight()).unwrap();
        let vs_bdf = max_rel_err(&sim.observable_series(0), &bdf.observable_series(0));
        eprintln!("{label}: biexponential max rel err {err:.2e}; vs BDF(1e-10) {vs_bdf:.2e}");
        assert!(err <= 1e-9, "{label}: {err}");
        assert!(vs_bdf <= 1e-8, "{label}: {vs_bdf}");
    }
}

#[test]
fn repeated_doses_match_superposition_with_one_exponential() {
    // 100 mg every 12 h, 24 doses (t = 0 … 276 h), hourly to 288 h.
    let g = grid(288.0, 1.0);
    let want: Vec<f64> = g
        .iter()
        .map(|&t| (0..24).map(|i| biexp(t - 12.0 * f64::from(i), 100.0)).sum())
        .collect();
    for (label, jit, inputs) in two_cpt_models() {
        let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).additional(12.0, 23));
        let sim = simulate(&jit, &inputs, &reg, &g, &exact()).unwrap();
        let err = max_rel_err(&sim.observable_series(0), &want);
        let bdf = simulate(&jit, &inputs, &reg, &g, &bdf_tight()).unwrap();
        let vs_bdf = max_rel_err(&sim.observable_series(0), &bdf.observable_series(0));
        eprintln!(
            "{label}: superposition max rel err {err:.2e} ({} propagations); vs BDF(1e-10) \
             {vs_bdf:.2e} ({} steps)",
            sim.steps, bdf.steps
        );
        assert!(err <= 1e-9, "{label}: {err}");
        assert!(vs_bdf <= 1e-8, "{label}: {vs_bdf}");
        assert_eq!(sim.steps, 288, "one propagation per grid interval");
        // A sample at a dose time includes the dose (right-continuous), as with BDF.
        let k12 = 12;
        assert!(sim.observable(k12, 0) > sim.observable(k12 - 1, 0) + 4.0);
        // Auto picks the exact path.
        let auto = simulate(&jit, &inputs, &reg, &g, &SolveOptions::default()).unwrap();
        assert_eq!(auto, sim);
    }
}

#[test]
fn constant_rate_infusions_match_closed_forms() {
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
    let g = grid(48.0, 0.1);
    let want: Vec<f64> = g.iter().map(|&t| closed(t)).collect();
    for dose in [
        Dose::infusion_duration(0.0, amt, 1, dur),
        Dose::infusion_rate(0.0, amt, 1, r),
    ] {
        let reg = Regimen::new().with(dose);
        let sim = simulate(&jit, &typical::ONE_CPT_ORAL, &reg, &g, &exact()).unwrap();
        let err = max_rel_err(&sim.observable_series(0), &want);
        eprintln!("exact one-compartment infusion {:?}: {err:.2e}", dose.kind);
        assert!(err <= 1e-9, "{err}");
    }

    // Two compartments: 100 mg over 1 h every 12 h, 24 times (the `.twin` file's infusion arm),
    // against the superposition of infusions switched on and off.
    let g = grid(288.0, 0.5);
    let want: Vec<f64> = g
        .iter()
        .map(|&t| {
            (0..24)
                .map(|i| {
                    let s = t - 12.0 * f64::from(i);
                    biexp_infusion(s, 100.0) - biexp_infusion(s - 1.0, 100.0)
                })
                .sum()
        })
        .collect();
    for (label, jit, inputs) in two_cpt_models() {
        let reg =
            Regimen::new().with(Dose::infusion_duration(0.0, 100.0, 0, 1.0).additional(12.0, 23));
        let sim = simulate(&jit, &inputs, &reg, &g, &exact()).unwrap();
        let err = max_rel_err(&sim.observable_series(0), &want);
        let bdf = simulate(&jit, &inputs, &reg, &g, &bdf_tight()).unwrap();
        let vs_bdf = max_rel_err(&sim.observable_series(0), &bdf.observable_series(0));
        eprintln!("{label}: repeated infusions max rel err {err:.2e}; vs BDF(1e-10) {vs_bdf:.2e}");
        assert!(err <= 1e-9, "{label}: {err}");
        assert!(vs_bdf <= 1e-8, "{label}: {vs_bdf}");
    }
}

#[test]
fn zero_order_production_is_part_of_the_linear_system() {
    // Turnover: dR/dt = kin − kout·R with R(0) = 1, plus an infusion of 2/h into R over 3 h.
    let mut b = ModuleBuilder::new("turnover");
    let kin_in = b.input("KIN");
    let kout_in = b.input("KOUT");
    let kin = b.param("KIN", kin_in);
    let kout = b.param("KOUT", kout_in);
    let s = b.state("R");
    let y = b.y(s);
    let loss = b.mul(kout, y);
    let d = b.sub(kin, loss);
    b.set_rhs(s, d);
    let one = b.constant(1.0);
    b.set_init(s, one);
    b.observe("R", y);
    let m = b.finish().unwrap();
    assert!(is_linear(&m));
    let jit = compile(&m).unwrap();
    let (kin, kout, rate, dur) = (4.0, 0.5, 2.0, 3.0);
    let reg = Regimen::new().with(Dose::infusion_rate(1.0, rate * dur, 0, rate));
    let g = grid(24.0, 0.25);
    let sim = simulate(&jit, &[kin, kout], &reg, &g, &exact()).unwrap();
    // Superposition: baseline approach plus the infusion's response (on at 1 h, off at 4 h).
    let inf = |t: f64| {
        if t <= 0.0 {
            0.0
        } else {
            rate / kout * (1.0 - (-kout * t).exp())
        }
    };
    let want: Vec<f64> = g
        .iter()
        .map(|&t| {
            let ss = kin / kout;
            ss + (1.0 - ss) * (-kout * t).exp() + inf(t - 1.0) - inf(t - 1.0 - dur)
        })
        .collect();
    let err = max_rel_err(&sim.observable_series(0), &want);
    eprintln!("turnover with infusion: {err:.2e}");
    assert!(err <= 1e-12, "{err}");
}

#[test]
fn mass_is_conserved_exactly() {
    // Oral boluses with F and lag, an infusion and IV boluses, on a grid of 0.1 h (whose steps
    // differ in the last bits): amounts in all states sum to the bioavailable amount dosed.
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let inputs = [5.0, 50.0, 1.0, 0.8, 0.25];
    let reg = Regimen::new()
        .with(Dose::bolus(0.0, 100.0, 0).additional(8.0, 5))
        .with(Dose::infusion_rate(3.0, 40.0, 1, 7.0))
        .with(Dose::bolus(10.0, 25.0, 1));
    let g = grid(72.0, 0.1);
    let sim = simulate(&jit, &inputs, &reg, &g, &exact()).unwrap();
    let mut worst: f64 = 0.0;
    for k in 0..g.len() {
        let total: f64 = (0..3).map(|i| sim.state(k, i)).sum();
        worst = worst.max((total - sim.dosed[k]).abs() / sim.dosed[k].max(1.0));
    }
    eprintln!("exact mass balance: worst relative defect {worst:.2e}");
    assert!(worst < 1e-12, "{worst}");
    assert!((sim.dosed[g.len() - 1] - (6.0 * 80.0 + 40.0 + 25.0)).abs() < 1e-9);

    // The lowered two-compartment model with its eliminated-amount state, and the 18-state PBPK.
    let (lowered, li) = lowered_two_cpt();
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).additional(12.0, 23));
    let g = grid(288.0, 1.0);
    let sim = simulate(&lowered, &li, &reg, &g, &exact()).unwrap();
    for k in 0..g.len() {
        let total: f64 = (0..3).map(|i| sim.state(k, i)).sum();
        assert!((total - sim.dosed[k]).abs() <= 1e-12 * sim.dosed[k].max(1.0));
    }
    let pbpk = examples::pbpk().unwrap();
    let n = pbpk.n_states();
    let jit = compile(&pbpk).unwrap();
    let reg = Regimen::new()
        .with(Dose::bolus(0.0, 100.0, 0))
        .with(Dose::infusion_duration(1.0, 50.0, 2, 0.5));
    let g = grid(48.0, 0.5);
    let sim = simulate(&jit, &typical::PBPK, &reg, &g, &exact()).unwrap();
    for k in 0..g.len() {
        let total: f64 = (0..n).map(|i| sim.state(k, i)).sum();
        assert!((total - sim.dosed[k]).abs() <= 1e-11 * sim.dosed[k].max(1.0));
    }
    let bdf = simulate(&jit, &typical::PBPK, &reg, &g, &bdf_tight()).unwrap();
    let vs_bdf = max_rel_err(&sim.observable_series(0), &bdf.observable_series(0));
    eprintln!("PBPK-18 exact vs BDF(1e-10): {vs_bdf:.2e}");
    assert!(vs_bdf <= 1e-7, "{vs_bdf}");
}

#[test]
fn interpreter_and_jit_agree_on_the_exact_path() {
    let m: Module = examples::two_compartment_iv().unwrap();
    let jit = compile(&m).unwrap();
    let interp = Interpreter::new(m);
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).until(12.0, 276.0));
    let g = grid(288.0, 1.0);
    let a = simulate(&jit, &typical::TWO_CPT_IV, &reg, &g, &exact()).unwrap();
    let b = simulate(&interp, &typical::TWO_CPT_IV, &reg, &g, &exact()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn grids_and_events_off_the_grid_are_handled() {
    // Doses before the first sample, between samples, at the last sample and after it; a
    // repeated sample time; an unsorted grid is an error as with BDF.
    let jit = compile(&examples::two_compartment_iv().unwrap()).unwrap();
    let reg = Regimen::new()
        .with(Dose::bolus(-2.0, 50.0, 0))
        .with(Dose::bolus(3.3, 20.0, 0))
        .with(Dose::bolus(10.0, 10.0, 0))
        .with(Dose::bolus(11.0, 10.0, 0));
    let g = [0.0, 1.0, 1.0, 2.5, 7.0, 10.0];
    let sim = simulate(&jit, &typical::TWO_CPT_IV, &reg, &g, &exact()).unwrap();
    let want: Vec<f64> = g
        .iter()
        .map(|&t| biexp(t + 2.0, 50.0) + biexp(t - 3.3, 20.0) + biexp(t - 10.0, 10.0))
        .collect();
    let err = max_rel_err(&sim.observable_series(0), &want);
    assert!(err <= 1e-9, "{err}");
    assert_eq!(sim.times, g);
    assert_eq!(sim.observable(1, 0), sim.observable(2, 0));
    assert!(
        (sim.dosed[5] - 80.0).abs() < 1e-12,
        "the 11 h dose is after the grid"
    );
    let bdf = simulate(&jit, &typical::TWO_CPT_IV, &reg, &g, &bdf_tight()).unwrap();
    assert_eq!(bdf.times, sim.times);
    assert_eq!(bdf.dosed, sim.dosed);
    let e = simulate(&jit, &typical::TWO_CPT_IV, &reg, &[1.0, 0.0], &exact());
    assert!(matches!(e, Err(SolveError::BadGrid(_))));
}

#[test]
fn failures_match_the_integrators() {
    let jit = compile(&examples::one_compartment_oral().unwrap()).unwrap();
    let inputs = [5.0, 0.0, 1.0, 1.0, 0.0]; // V = 0 → CL/V infinite
    for method in [Method::Exact, Method::Auto, Method::Bdf] {
        let opts = SolveOptions {
            method,
            ..SolveOptions::default()
        };
        let e = simulate(&jit, &inputs, &Regimen::new(), &[0.0, 1.0], &opts);
        assert!(
            matches!(e, Err(SolveError::Failed(ref f)) if f.reason == FailureReason::NonFiniteParameter),
            "{method:?}: {e:?}"
        );
    }
    // Exponential growth overflows: dy/dt = K·y with K = 800/h over 10 h.
    let mut b = ModuleBuilder::new("growth");
    let k_in = b.input("K");
    let k = b.param("K", k_in);
    let s = b.state("boom");
    let y = b.y(s);
    let r = b.mul(k, y);
    b.set_rhs(s, r);
    let one = b.constant(1.0);
    b.set_init(s, one);
    let jit = compile(&b.finish().unwrap()).unwrap();
    let e = simulate(&jit, &[800.0], &Regimen::new(), &grid(10.0, 0.5), &exact()).unwrap_err();
    let SolveError::Failed(f) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(f.reason, FailureReason::NonFinite);
    assert_eq!(f.state, "boom");
    assert_eq!(f.params, vec![("K".to_string(), 800.0)]);
    // max_steps bounds the method's steps (propagations to dose times), never the output rows:
    // 20 grid intervals pass with a limit of 5, and `steps` still counts every propagation.
    let opts = SolveOptions {
        max_steps: 5,
        ..exact()
    };
    let sim = simulate(&jit, &[0.1], &Regimen::new(), &grid(10.0, 0.5), &opts).unwrap();
    assert_eq!(sim.steps, 20);
    assert!((sim.state(20, 0) - 1.0f64.exp()).abs() < 1e-12);
    // Five doses off the grid are five steps (allowed); six are one too many.
    let doses = |n: u32| Regimen::new().with(Dose::bolus(0.25, 1.0, 0).additional(1.0, n - 1));
    assert!(simulate(&jit, &[0.1], &doses(5), &grid(10.0, 0.5), &opts).is_ok());
    let e = simulate(&jit, &[0.1], &doses(6), &grid(10.0, 0.5), &opts);
    assert!(
        matches!(e, Err(SolveError::Failed(ref f)) if f.reason == FailureReason::TooManySteps(5)),
        "{e:?}"
    );
}
