//! The runtime evaluator of per-patient expressions: endpoints that divide by a quantity in
//! another unit are plain numbers (closed forms of a one-compartment oral model), the JIT and the
//! IR interpreter agree bit for bit on every population, override and endpoint expression of
//! every example, and expressions that need the simulation are refused when the evaluator is
//! built, with their span.

mod common;
use common::{compiled, read};
use std::sync::Arc;
use twin::check::hir;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::{Method, SolveOptions};
use twin::trial::evaluator::{Backend, Evaluator};
use twin::trial::population::{self, Sampler};
use twin::trial::runner;

const ORAL: &str = r#"
model Oral {
    param ka: 1/h = 1 /h
    param cl: L/h = 5 L/h
    param v: L = 50 L
    compartment depot: mg
    compartment central: mg
    flow depot -> central = ka * depot
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
trial Ratios {
    model Oral
    arm oral { dose 100 mg into depot }
    sample every 0.25 h until 48 h
    endpoint tmax_h = tmax(conc)
    endpoint tmax_d = tmax(conc) / 1 d
    endpoint cmax = max(conc)
    endpoint cmax_ng = max(conc) / (1 ng/mL)
    endpoint cmax_ug = max(conc) / (1 ug/mL)
    endpoint tmax_per_12h = tmax(conc) / 12 h
    endpoint cmin_per_1000 = min(conc, from 24 h to 48 h) / (1000 ng/mL)
    endpoint c_per_mmol = max(conc) / (1 mg/L) * 1 mmol/mmol
}
"#;

fn endpoint(s: &twin::trial::output::Summary, name: &str) -> f64 {
    let e = s.arms[0]
        .endpoints
        .iter()
        .find(|e| e.endpoint == name)
        .unwrap_or_else(|| panic!("endpoint {name}"));
    e.stats.map_or(f64::NAN, |s| s[0])
}

#[test]
fn ratio_endpoints_are_plain_numbers() {
    let c = compiled("ratios.twin", ORAL);
    let opts = TrialOptions {
        n: None,
        trial: None,
        seed: 1,
        shard: None,
        solve: SolveOptions {
            method: Method::Bdf,
            rtol: 1e-10,
            atol: 1e-12,
            ..Default::default()
        },
        out: None,
        progress: false,
        trajectories: false,
    };
    let s = run_trial(&c, "ratios.twin", &opts).unwrap_or_else(|e| panic!("{e}"));
    let (dose, ka, cl, v): (f64, f64, f64, f64) = (100.0, 1.0, 5.0, 50.0);
    let k = cl / v;
    let bateman = |t: f64| dose * ka / (v * (ka - k)) * ((-k * t).exp() - (-ka * t).exp());
    // tmax = ln(ka/k)/(ka − k) = 2.558 h, located on the dense output between the grid points
    // (every 0.25 h) to the solver tolerance (a flat maximum: √rtol in time).
    let tmax = (ka / k).ln() / (ka - k);
    let th = endpoint(&s, "tmax_h");
    assert!((th - tmax).abs() < 1e-4, "tmax {th}, closed form {tmax}");
    // In days: the hours / 24 (not the hours).
    let d = endpoint(&s, "tmax_d");
    assert!((d - th / 24.0).abs() < 1e-12, "tmax in days: {d}");
    assert!((endpoint(&s, "tmax_per_12h") - th / 12.0).abs() < 1e-12);
    // Cmax in mg/L; in multiples of 1 ng/mL it is 1000 times that, of 1 µg/mL the same number.
    let cmax = bateman(tmax);
    let rel = |a: f64, b: f64| ((a - b) / b).abs();
    assert!(rel(endpoint(&s, "cmax"), cmax) < 1e-7);
    let ng = endpoint(&s, "cmax_ng");
    assert!(rel(ng, 1000.0 * cmax) < 1e-7, "cmax in ng/mL: {ng}");
    assert!(rel(endpoint(&s, "cmax_ug"), cmax) < 1e-7);
    // A literal with a multiplier and a compound unit: the minimum over 24–48 h is at 48 h (the
    // curve falls after tmax), in multiples of 1000 ng/mL = 1 mg/L: the same number as in mg/L.
    assert!(rel(endpoint(&s, "cmin_per_1000"), bateman(48.0)) < 1e-7);
    assert!(rel(endpoint(&s, "c_per_mmol"), cmax) < 1e-7);
    // Every ratio is a plain number: its unit cell is empty and no header carries a scale.
    for e in &s.arms[0].endpoints {
        if e.endpoint != "tmax_h" && e.endpoint != "cmax" {
            assert_eq!(e.unit, "", "{}", e.endpoint);
        }
    }
    let table = s.table();
    assert!(
        !table.contains("[0.0416") && !table.contains("[1000]"),
        "{table}"
    );
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// For every trial of every example: the JIT-compiled evaluator and the interpreted one generate
/// the same patients, apply the same overrides and compute the same endpoints (from the patient's
/// parameters and made-up aggregate values), bit for bit.
#[test]
fn jit_and_interpreter_agree_on_every_example() {
    let mut files: Vec<_> = std::fs::read_dir("examples")
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "twin"))
        .collect();
    files.sort();
    let mut checked = 0;
    for path in files {
        let name = path.display().to_string();
        let c = compiled(&name, &read(&name));
        for trial in &c.program.trials {
            let prep = runner::prepare(&c.program, trial, SolveOptions::default())
                .unwrap_or_else(|e| panic!("{name} {}: {e}", trial.name));
            let jit = Arc::new(
                Evaluator::for_trial(&c.program, trial, &prep.sim.lowered, Backend::Jit)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            let interp = Arc::new(
                Evaluator::for_trial(&c.program, trial, &prep.sim.lowered, Backend::Interpreter)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            let slots = &prep.sim.lowered.inputs;
            let sj = Sampler::with_evaluator(&c.program, trial, slots, jit.clone()).expect("s");
            let si = Sampler::with_evaluator(&c.program, trial, slots, interp.clone()).expect("s");
            for i in 0..sj.size().min(5) {
                let (pj, pi) = (sj.sample(3, i), si.sample(3, i));
                assert_eq!(pj, pi, "{name} {} patient {i}", trial.name);
                let Ok(p) = pj else { continue };
                for a in 0..trial.arms.len() {
                    let (mut xj, mut xi) = (p.inputs.clone(), p.inputs.clone());
                    population::apply_overrides(&jit, a, slots, &mut xj).expect("overrides");
                    population::apply_overrides(&interp, a, slots, &mut xi).expect("overrides");
                    assert!(same(&xj, &xi), "{name} arm {a}: {xj:?} {xi:?}");
                    let mut params = vec![0.0; prep.sim.compiled.module().n_params()];
                    prep.sim.compiled.setup(&xj, &mut params).expect("setup");
                    let mut args = xj.clone();
                    args.extend((0..jit.n_aggregates()).map(|k| 0.5 + 1.7 * k as f64));
                    let n = trial.endpoints.len();
                    let (mut ej, mut ei) = (vec![0.0; n], vec![0.0; n]);
                    jit.endpoints(&args, &params, &mut ej).expect("endpoints");
                    interp
                        .endpoints(&args, &params, &mut ei)
                        .expect("endpoints");
                    assert!(same(&ej, &ei), "{name} arm {a}: {ej:?} {ei:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} patient-arms compared");
}

/// A generator that reads a state (which the checker refuses; here the checked program is edited)
/// is refused once, when the evaluator is built, naming the state at its span.
#[test]
fn time_varying_generator_is_an_error_with_its_span() {
    let src = r#"
model M {
    covariate weight: kg = 70 kg
    param v: L = 50 L * weight / 70 kg
    compartment central: mg
    flow central -> out = 1 /h * central
    observe conc: mg/L = central / v
}
trial T {
    model M
    population 10 { weight ~ normal(mean: 70 kg, sd: 10 kg) }
    arm a { dose 1 mg into central }
}
"#;
    let mut c = compiled("bad.twin", src);
    let trial = &mut c.program.trials[0];
    let pop = trial.population.as_mut().expect("population");
    let hir::Generator::Draw {
        dist: hir::Distribution::Normal { mean, .. },
        ..
    } = &mut pop.generators[0]
    else {
        panic!("a normal draw")
    };
    let span = mean.span;
    mean.kind = hir::ExprKind::Sym(hir::Sym::State(0));
    let t = &c.program.trials[0];
    let err = Sampler::new(&c.program, t, &[]).expect_err("refused");
    assert!(
        err.message.contains("covariate `weight`"),
        "{}",
        err.message
    );
    assert!(err.message.contains("state `central`"), "{}", err.message);
    assert_eq!(err.span, Some(span));
    assert!(runner::prepare(&c.program, t, SolveOptions::default()).is_err());
}
