//! Time-varying covariates in the language: a `let` of `t` (declining renal function, a child's
//! growth from the CDC charts) makes every param computed from it a time course. Checked against
//! the closed form of a one-compartment model whose clearance declines linearly, for the typical
//! patient (`twin run`) and for every patient of a trial (its η read back from patients.csv);
//! the per-patient part stays hoisted out of the right-hand side; steady state is refused for a
//! model that depends on time.

mod common;
use common::compiled;
use twin::cmd::run::{Request, simulate};
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::{Method, SolveOptions};

const MODEL: &str = r#"
model Renal {
    covariate crcl0: mL/min = 100 mL/min
    /// Renal function declining linearly, by half over 10 days.
    let crcl: mL/min = crcl0 * (1 - 0.05 /d * t)
    param cl: L/h = 0.06 L/h * crcl / (1 mL/min)
    param v: L = 50 L
    vary cl ~ lognormal(cv: 20%)
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
    observe clearance: L/h = cl
}
"#;

fn tight() -> SolveOptions {
    SolveOptions {
        method: Method::Bdf,
        rtol: 1e-10,
        atol: 1e-16,
        ..Default::default()
    }
}

/// c(t) for a 100 mg bolus into 50 L with CL(t) = a·(1 − b·t): 2·exp(−(a/V)(t − b·t²/2)).
fn closed(a: f64, t: f64) -> f64 {
    let b = 0.05 / 24.0;
    2.0 * (-(a / 50.0) * (t - b * t * t / 2.0)).exp()
}

#[test]
fn a_param_of_a_declining_covariate_follows_it_exactly() {
    let t = simulate(&Request {
        name: "renal.twin".into(),
        text: MODEL.into(),
        doses: vec!["100 mg into central".into()],
        until: Some("240h".into()),
        every: Some("1h".into()),
        options: tight(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let s = &t.subjects[0].sim;
    let mut worst: f64 = 0.0;
    for k in 0..s.times.len() {
        let time = s.times[k];
        let c = s.observable(k, 0);
        worst = worst.max(((c - closed(6.0, time)) / closed(6.0, time)).abs());
        // The observed clearance is the time course itself.
        let cl = 6.0 * (1.0 - 0.05 / 24.0 * time);
        assert!((s.observable(k, 1) - cl).abs() <= 1e-12 * cl, "t = {time}");
    }
    assert!(worst < 1e-7, "largest relative deviation {worst}");
    // The param's slot (what patients.csv and `twin run` report) is its value at t = 0.
    assert_eq!(s.params[0], 6.0);
}

#[test]
fn every_patient_of_a_trial_follows_its_own_time_course() {
    let text = format!(
        "{MODEL}
trial T {{
    model Renal
    population 50 {{
        crcl0 ~ uniform(low: 60 mL/min, high: 120 mL/min)
    }}
    arm a {{ dose 100 mg into central }}
    sample every 1 d until 10 d
    endpoint c5 = value(conc, 5 d)
    stratify by cl bins [6 L/h]
}}
"
    );
    let c = compiled("renal.twin", &text);
    let dir = std::env::temp_dir().join(format!("twin-tv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = TrialOptions {
        n: None,
        trial: None,
        seed: 3,
        shard: None,
        solve: tight(),
        out: Some(dir.clone()),
        progress: false,
        trajectories: false,
    };
    run_trial(&c, "renal.twin", &opts).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(dir.join("patients.csv")).unwrap_or_else(|e| panic!("{e}"));
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| *h == n || h.starts_with(&format!("{n} [")))
            .unwrap_or_else(|| panic!("{n} in {header:?}"))
    };
    let (kc, ke, kcl, k5) = (col("crcl0"), col("eta(cl)"), col("cl"), col("c5"));
    let mut n = 0;
    for line in text.lines().skip(1) {
        let r: Vec<f64> = line
            .split(',')
            .map(|x| x.parse::<f64>().unwrap_or(f64::NAN))
            .collect();
        let a = 0.06 * r[kc] * r[ke].exp();
        assert!(
            (r[kcl] - a).abs() <= 1e-12 * a,
            "cl at t = 0: {} vs {a}",
            r[kcl]
        );
        let expected = closed(a, 120.0);
        assert!(
            ((r[k5] - expected) / expected).abs() < 1e-7,
            "{} vs {expected}",
            r[k5]
        );
        n += 1;
    }
    assert_eq!(n, 50);
}

#[test]
fn the_per_patient_part_stays_out_of_the_right_hand_side() {
    let c = compiled("renal.twin", MODEL);
    let lowered = twin::lower::lower(&c.program, &c.program.models[0], &[], Default::default())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let rhs = twin::ir::print::function_to_string(&lowered.module.rhs);
    // exp(η) and the product of the constants are computed once per patient, by setup: the
    // right-hand side multiplies a hoisted slot by (1 − b·t) and the state.
    assert!(!rhs.contains("exp"), "{rhs}");
    assert!(rhs.contains("time") || rhs.contains(" t"), "{rhs}");
    let setup = twin::ir::print::function_to_string(&lowered.module.setup);
    assert!(setup.contains("exp"), "{setup}");
}

#[test]
fn steady_state_needs_a_model_that_does_not_depend_on_time() {
    let e = simulate(&Request {
        name: "renal.twin".into(),
        text: MODEL.into(),
        doses: vec!["100 mg into central every 12 h at steady state".into()],
        until: Some("24h".into()),
        ..Default::default()
    })
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("does not depend on time"), "{e}");
}
