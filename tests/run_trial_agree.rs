//! `twin run --arm` and `twin trial` give the same patient the same numbers, to the last bit:
//! - every kind of arm override (a constant, an expression of the patient's covariate, a genotype)
//!   is applied by `twin run --arm` as the trial applies it (independent expectation: the closed
//!   form C(0) = dose / V of a one-compartment bolus);
//! - for every example's every trial arm, the first patients of the trial (covariates, genotypes
//!   and η passed to `twin run` with `--set`) have bit-identical observables at every sampling
//!   time in both commands — protocol arms included (visits, rules and `fit dose so`, with the
//!   measurements drawn for the same seed and patient);
//! - the day-21 neutrophil count of a Friberg model after a docetaxel bolus is bit-identical in
//!   `twin run --arm` (on any output grid) and `twin trial`, and within the default tolerance's
//!   error weights of a reference at rtol 1e-12.

mod common;

use common::{column, table};
use twin::check::hir;
use twin::cmd::run::Request;
use twin::driver::compile;
use twin::lower::InputSlot;
use twin::solve::SolveOptions;
use twin::trial::population::Sampler;
use twin::trial::runner;

const PK: &str = r#"
use pgx.{CYP2C9}
model Pk {
    covariate weight: kg = 70 kg
    genotype cyp2c9: CYP2C9 = "*1/*1"
    compartment central: mg
    param v: L = 0.5 L/kg * weight * match cyp2c9 { "*3/*3" => 2.0, _ => 1.0 }
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / v
}
trial T {
    model Pk
    population 3 { ancestry european  weight ~ uniform(60 kg, 80 kg) }
    arm heavy { weight = weight * 2  dose 100 mg into central }
    arm fixed { weight = 110 kg  dose 100 mg into central }
    arm poor { cyp2c9 = "*3/*3"  dose 100 mg into central }
    sample at [0 h, 1 h]
    endpoint c0 = value(conc, 0 h)
}
"#;

fn run_c0(arm: &str, sets: &[&str]) -> f64 {
    let req = Request {
        name: "pk.twin".into(),
        text: PK.into(),
        arm: Some(arm.into()),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let (h, rows) = table(&req);
    assert_eq!(rows[0][column(&h, "time [h]")], 0.0);
    rows[0][column(&h, "conc [mg/L]")]
}

#[test]
fn run_applies_every_kind_of_arm_override() {
    // An expression of the patient's own covariate: 2 × 70 kg → V = 70 L.
    assert!((run_c0("heavy", &[]) - 100.0 / 70.0).abs() < 1e-12);
    // … applied to the patient given with --set (the patient first, then the arm).
    assert!((run_c0("heavy", &["weight=80 kg"]) - 100.0 / 80.0).abs() < 1e-12);
    // A constant.
    assert!((run_c0("fixed", &[]) - 100.0 / 55.0).abs() < 1e-12);
    // A genotype: V doubles for *3/*3.
    assert!((run_c0("poor", &[]) - 100.0 / 70.0).abs() < 1e-12);
}

#[test]
fn trial_endpoint_agrees_with_run_for_every_override_kind() {
    let c = compile("pk.twin", PK);
    assert!(!c.has_errors());
    let trial = &c.program.trials[0];
    let prep = runner::prepare(&c.program, trial, SolveOptions::default()).expect("prepares");
    let sampler = Sampler::new(&c.program, trial, &prep.sim.lowered.inputs).expect("sampler");
    for id in 0..3 {
        let p = sampler.sample(1, id).expect("patient");
        let weight = p.inputs[0];
        for (arm, expected) in [
            ("heavy", 100.0 / weight),
            ("fixed", 100.0 / 55.0),
            ("poor", 100.0 / weight),
        ] {
            let rows = prep.patient(&sampler, 1, id);
            let a = trial.arms.iter().position(|x| x.name == arm).expect("arm");
            let row = rows.iter().find(|r| r.arm == a).expect("row");
            let c0 = row.endpoints[0];
            assert!((c0 - expected).abs() < 1e-12, "{arm} patient {id}: {c0}");
            let w = format!("weight={weight:?} kg");
            assert_eq!(run_c0(arm, &[&w]).to_bits(), c0.to_bits(), "{arm} {id}");
        }
    }
}

/// `--set` lines that give `twin run` the trial patient's inputs (before the arm's overrides).
fn sets_for(
    c: &twin::driver::Compilation,
    m: &hir::Model,
    slots: &[InputSlot],
    inputs: &[f64],
) -> Vec<String> {
    slots
        .iter()
        .zip(inputs)
        .map(|(s, &v)| match s {
            InputSlot::Covariate(i) => {
                let cv = &m.covariates[*i];
                match cv.unit {
                    None => format!("{}={}", cv.name, cv.levels[v as usize]),
                    Some(u) => format!("{}={v:?} {}", cv.name, c.units.format_unit(u)),
                }
            }
            InputSlot::Genotype(i) => {
                let g = &m.genotypes[*i];
                let gene = &c.program.genes[g.gene];
                format!("{}={}", g.name, gene.diplotype_names[v as usize])
            }
            InputSlot::Eta(k) => format!("eta_{}={v:?}", m.params[m.effects[*k].param].name),
            InputSlot::Slope(_)
            | InputSlot::Origin(_)
            | InputSlot::Theta(_)
            | InputSlot::Kappa(..)
            | InputSlot::Occasion => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_example_arm_gives_the_same_patient_in_run_and_trial() {
    let mut compared = 0;
    for entry in std::fs::read_dir("examples").expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("twin") {
            continue;
        }
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        let c = compile(&name, &text);
        assert!(!c.has_errors(), "{name}");
        for trial in &c.program.trials {
            let mut prep =
                runner::prepare(&c.program, trial, SolveOptions::default()).expect("prepares");
            prep.trajectories = true;
            let slots = prep.sim.lowered.inputs.clone();
            let sampler = Sampler::new(&c.program, trial, &slots).expect("sampler");
            let m = prep.model;
            let n_obs = m.observables.len();
            for id in 0..sampler.size().min(2) {
                let p = sampler.sample(7, id).expect("patient");
                let sets = sets_for(&c, m, &slots, &p.inputs);
                for (a, arm) in trial.arms.iter().enumerate() {
                    if p.arm.is_some_and(|x| x != a) {
                        continue;
                    }
                    let mut inputs = p.inputs.clone();
                    twin::trial::population::apply_overrides(
                        &prep.sim.evaluator,
                        a,
                        &slots,
                        &mut inputs,
                    )
                    .expect("overrides");
                    let (_, traj, _) = prep
                        .simulate_scaled(&inputs, a, 7, id, 1.0, true)
                        .unwrap_or_else(|e| panic!("{name} {}: {e}", arm.name));
                    let traj = traj.expect("trajectory");
                    let req = Request {
                        name: name.clone(),
                        text: text.clone(),
                        arm: Some(format!("{}.{}", trial.name, arm.name)),
                        sets: sets.clone(),
                        // A protocol arm's measurements: drawn as for patient `id` of seed 7.
                        measure: (7, id),
                        ..Default::default()
                    };
                    let (h, rows) = table(&req);
                    assert_eq!(rows.len(), prep.sampling.len(), "{name} {}", arm.name);
                    for (k, row) in rows.iter().enumerate() {
                        assert_eq!(row[0].to_bits(), prep.sampling[k].to_bits());
                        for (j, o) in m.observables.iter().enumerate() {
                            let col = h
                                .iter()
                                .position(|x| x.starts_with(&format!("{} [", o.name)))
                                .expect("column");
                            let trial_value = traj[k * 2 * n_obs + j];
                            assert_eq!(
                                row[col].to_bits(),
                                trial_value.to_bits(),
                                "{name} {}.{} patient {id} `{}` at {} h: run {} trial {}",
                                trial.name,
                                arm.name,
                                o.name,
                                row[0],
                                row[col],
                                trial_value
                            );
                        }
                    }
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 20, "compared {compared} patient-arms");
}

/// Docetaxel (Bruno 1996 three-compartment PK, one 180 mg bolus) driving the stdlib's Friberg
/// myelosuppression model; the day-21 neutrophil count is the figure of the solver-accuracy issue.
const FRIBERG: &str = r#"
use disease.FribergMyelosuppression
model Docetaxel extends FribergMyelosuppression {
    compartment central: mg
    compartment peripheral1: mg
    compartment peripheral2: mg
    flow central -> out = 5.2/h * central
    flow central -> peripheral1 = 1.06/h * central
    flow peripheral1 -> central = 1.51/h * peripheral1
    flow central -> peripheral2 = 1.26/h * central
    flow peripheral2 -> central = 0.084/h * peripheral2
    let conc: mg/L = central / 7.4 L
    observe conc
}
trial T {
    model Docetaxel
    population 1 { }
    arm bolus { dose 180 mg into central }
    sample every 1 h until 21 d
    endpoint anc21 = value(anc, 21 d)
}
"#;

/// The trial's day-21 ANC of its one patient, solved with `opts`.
fn friberg_trial_anc21(opts: SolveOptions) -> f64 {
    let c = compile("friberg.twin", FRIBERG);
    assert!(!c.has_errors());
    let trial = &c.program.trials[0];
    let prep = runner::prepare(&c.program, trial, opts).expect("prepares");
    let sampler = Sampler::new(&c.program, trial, &prep.sim.lowered.inputs).expect("sampler");
    let rows = prep.patient(&sampler, 1, 0);
    rows[0].endpoints[0]
}

#[test]
fn friberg_day_21_anc_is_the_same_in_run_and_trial_and_accurate_to_the_tolerance() {
    let req = Request {
        name: "friberg.twin".into(),
        text: FRIBERG.into(),
        arm: Some("bolus".into()),
        ..Default::default()
    };
    let (h, rows) = table(&req);
    let day21 = rows.iter().find(|r| r[0] == 504.0).expect("row at 21 d");
    let run = day21[column(&h, "anc [Gcell/L]")];
    let defaults = SolveOptions::default();
    let trial = friberg_trial_anc21(defaults);
    assert_eq!(run.to_bits(), trial.to_bits(), "run {run} trial {trial}");
    // The output grid does not steer the integration: the method steps freely and interpolates.
    for every in ["1 d", "21 d", "7 h"] {
        let (h, rows) = table(&Request {
            until: Some("21 d".into()),
            every: Some(every.into()),
            ..req.clone()
        });
        let day21 = rows.iter().find(|r| r[0] == 504.0).expect("row at 21 d");
        let value = day21[column(&h, "anc [Gcell/L]")];
        assert_eq!(value.to_bits(), trial.to_bits(), "every {every}: {value}");
    }
    // Reference: diffsol's ESDIRK3(4) at rtol 1e-12 (diffsol's BDF and the crate's BDF at the
    // same tolerance agree with it to 1e-10).
    let reference = friberg_trial_anc21(SolveOptions {
        method: twin::solve::Method::Esdirk34,
        rtol: 1e-12,
        atol: 1e-18,
        ..SolveOptions::default()
    });
    assert!(
        (reference - 6.2121271114).abs() < 1e-9,
        "reference {reference}"
    );
    // Global error in error weights atol + rtol·|y| of the default tolerances (measured 1.2;
    // 0.15 % = 1500 weights before the Newton rate was kept fresh).
    let weights = (trial - reference).abs() / (defaults.atol + defaults.rtol * reference.abs());
    assert!(
        weights <= 5.0,
        "default {trial} vs {reference}: {weights} weights"
    );
}
