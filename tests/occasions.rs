//! Inter-occasion variability (`vary … per occasion`, `occasion every …`): the variance of log CL
//! across patients and occasions is ω²_IIV + ω²_IOV and between occasions of one patient 2·ω²_IOV
//! (within sampling error); the solution changes exactly at an occasion's start (a piecewise
//! closed form); draws are the same whatever the thread count or sharding; and the checker's rules.

mod common;
use common::compiled;
use twin::cmd::trial::{TrialOptions, merge, run_trial};
use twin::driver::compile;
use twin::solve::SolveOptions;

fn opts(out: Option<std::path::PathBuf>) -> TrialOptions {
    TrialOptions {
        n: None,
        trial: None,
        seed: 11,
        shard: None,
        solve: SolveOptions::default(),
        out,
        progress: false,
        trajectories: false,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twin-occ-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const OMEGA_IIV: f64 = 0.09;
const OMEGA_IOV: f64 = 0.04;

fn model(n: u64) -> String {
    format!(
        r#"
model Iov {{
    param cl: L/h = 5 L/h
    param v: L = 50 L
    vary cl ~ lognormal(omega: {OMEGA_IIV})
    vary cl ~ lognormal(omega: {OMEGA_IOV}) per occasion
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
    observe clearance: L/h = cl
}}
trial T {{
    model Iov
    population {n} {{ }}
    arm a {{ dose 100 mg into central }}
    occasion every 7 d
    sample every 1 d until 21 d
    endpoint log_cl1 = log(value(clearance, 3 d) / (1 L/h))
    endpoint log_cl2 = log(value(clearance, 10 d) / (1 L/h))
    endpoint log_cl3 = log(value(clearance, 17 d) / (1 L/h))
    endpoint between = log(value(clearance, 10 d) / value(clearance, 3 d))
    endpoint cl1 = value(clearance, 3 d)
    endpoint cl2 = value(clearance, 10 d)
    endpoint c10 = value(conc, 10 d)
}}
"#
    )
}

/// patients.csv as a header and rows of cells.
fn table(dir: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join("patients.csv")).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name || h.starts_with(&format!("{name} [")))
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

fn variance(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0)
}

#[test]
fn log_cl_varies_by_omega_iiv_plus_iov_and_between_occasions_by_twice_omega_iov() {
    let n = 20_000;
    let c = compiled("iov.twin", &model(n));
    let dir = tmp("variance");
    run_trial(&c, "iov.twin", &opts(Some(dir.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let (h, rows) = table(&dir);
    let col = |name: &str| -> Vec<f64> {
        let k = column(&h, name);
        rows.iter()
            .map(|r| r[k].parse::<f64>().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    };
    let total = OMEGA_IIV + OMEGA_IOV;
    // The sample variance of n normals has standard error σ²·√(2/(n − 1)); allow 4 of them.
    let se = |s2: f64| 4.0 * s2 * (2.0 / (n as f64 - 1.0)).sqrt();
    for name in ["log_cl1", "log_cl2", "log_cl3"] {
        let v = variance(&col(name));
        assert!(
            (v - total).abs() < se(total),
            "{name}: var {v}, expected {total}"
        );
    }
    // Across all patients and occasions together.
    let all: Vec<f64> = ["log_cl1", "log_cl2", "log_cl3"]
        .iter()
        .flat_map(|c| col(c))
        .collect();
    let v = variance(&all);
    eprintln!("var(log CL) over patients and occasions: {v:.5} (expected {total})");
    assert!((v - total).abs() < se(total), "all occasions: var {v}");
    // Within a patient, between occasions: the difference of two occasions' log CL has
    // variance 2·ω²_IOV (the between-patient η cancels).
    let v = variance(&col("between"));
    eprintln!(
        "var between occasions: {v:.5} (expected {})",
        2.0 * OMEGA_IOV
    );
    assert!(
        (v - 2.0 * OMEGA_IOV).abs() < se(2.0 * OMEGA_IOV),
        "between occasions: var {v}, expected {}",
        2.0 * OMEGA_IOV
    );
    // The first occasion's η is the one in patients.csv: log CL₁ = log 5 + η_IIV + η_IOV.
    let (e1, e2) = (col("eta(cl)"), col("eta(cl; occasion 1)"));
    for ((l, a), b) in col("log_cl1").iter().zip(&e1).zip(&e2).take(100) {
        assert!((l - (5f64.ln() + a + b)).abs() < 1e-12, "{l} vs {a} + {b}");
    }
}

#[test]
fn the_solution_changes_exactly_at_the_start_of_an_occasion() {
    let c = compiled("iov.twin", &model(200));
    let dir = tmp("closed");
    run_trial(&c, "iov.twin", &opts(Some(dir.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let (h, rows) = table(&dir);
    let (k1, k2, kc) = (column(&h, "cl1"), column(&h, "cl2"), column(&h, "c10"));
    let mut changed = 0;
    for r in &rows {
        let num = |k: usize| r[k].parse::<f64>().unwrap_or_else(|e| panic!("{e}"));
        let (cl1, cl2, c10) = (num(k1), num(k2), num(kc));
        // 100 mg bolus at 0 into 50 L: CL₁ for the first 7 days, CL₂ from day 7 on.
        let expected = 100.0 / 50.0 * (-cl1 / 50.0 * 168.0).exp() * (-cl2 / 50.0 * 72.0).exp();
        assert!(
            ((c10 - expected) / expected).abs() < 1e-9,
            "{c10} vs {expected}"
        );
        if cl1 != cl2 {
            changed += 1;
        }
    }
    assert_eq!(
        changed,
        rows.len(),
        "every patient has a new CL on occasion 2"
    );
}

#[test]
fn occasion_draws_are_the_same_whatever_the_threads_or_shards() {
    let c = compiled("iov.twin", &model(700));
    let files = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("patients.csv")).unwrap_or_else(|e| panic!("{e}"))
    };
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (one, two) = (tmp("t1"), tmp("t2"));
    pool(1)
        .install(|| run_trial(&c, "iov.twin", &opts(Some(one.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    pool(2)
        .install(|| run_trial(&c, "iov.twin", &opts(Some(two.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files(&one), files(&two));
    let mut shards = Vec::new();
    for i in [2u64, 1] {
        let d = tmp(&format!("s{i}"));
        let mut o = opts(Some(d.clone()));
        o.shard = Some((i, 2));
        run_trial(&c, "iov.twin", &o).unwrap_or_else(|e| panic!("{e}"));
        shards.push(d);
    }
    let merged = tmp("merged");
    merge(&c, &shards, &merged, SolveOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files(&one), files(&merged));
}

/// The codes of a source's diagnostics.
fn codes(text: &str) -> Vec<&'static str> {
    compile("m.twin", text)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn the_checker_rules_for_per_occasion_effects() {
    let base = |varies: &str, trial: &str| {
        format!(
            "model M {{
    param cl: L/h = 5 L/h
    {varies}
    compartment central: mg
    flow central -> out = cl / 50 L * central
}}
trial T {{
    model M
    population 10 {{ }}
    arm a {{ dose 100 mg into central }}
    {trial}
}}"
        )
    };
    let ok = "vary cl ~ lognormal(cv: 30%)\n    vary cl ~ lognormal(cv: 10%) per occasion";
    assert!(codes(&base(ok, "occasion every 7 d")).is_empty());
    assert!(codes(&base(ok, "occasion at [0 d, 14 d]")).is_empty());
    // No occasions declared: a warning.
    assert_eq!(codes(&base(ok, "")), vec!["W0003"]);
    // Two per-occasion effects on one param.
    let twice =
        "vary cl ~ lognormal(cv: 10%) per occasion\n    vary cl ~ lognormal(cv: 10%) per occasion";
    assert!(codes(&base(twice, "occasion every 7 d")).contains(&"E0006"));
    // Different kinds.
    let mixed = "vary cl ~ lognormal(cv: 30%)\n    vary cl ~ normal(sd: 1 L/h) per occasion";
    assert!(codes(&base(mixed, "occasion every 7 d")).contains(&"E0025"));
    // A non-positive occasion length, two schedules.
    assert!(codes(&base(ok, "occasion every 0 d")).contains(&"E0031"));
    assert!(codes(&base(ok, "occasion every 7 d\n    occasion every 3 d")).contains(&"E0006"));
}

/// An infusion that runs across the start of an occasion carries on through it: with the
/// per-occasion effect on a param the kinetics do not read, the concentration is the closed form
/// of a 10 h zero-order infusion, R/(k·V)·(1 − e^(−k·t)), on both sides of the boundary at 5 h.
#[test]
fn an_infusion_runs_on_across_an_occasion() {
    let text = r#"
model M {
    param k: 1/h = 0.1/h
    param e0: 1 = 1
    vary e0 ~ lognormal(omega: 0.04) per occasion
    compartment central: mg
    flow central -> out = k * central
    observe conc: mg/L = central / 10 L
    observe effect: 1 = e0
}
trial T {
    model M
    population 2 { }
    arm a { dose 100 mg into central over 10 h }
    occasion every 5 h
    sample every 1 h until 12 h
    endpoint c3 = value(conc, 3 h)
    endpoint c7 = value(conc, 7 h)
    endpoint c10 = value(conc, 10 h)
}
"#;
    let c = compiled("inf.twin", text);
    let s = run_trial(&c, "inf.twin", &opts(None)).unwrap_or_else(|e| panic!("{e}"));
    for (k, t) in [3.0f64, 7.0, 10.0].iter().enumerate() {
        let want = 10.0 * (1.0 - (-0.1 * t).exp());
        let got = s.arms[0].endpoints[k].stats.map_or(f64::NAN, |v| v[0]);
        assert!((got - want).abs() <= 1e-9 * want, "{t} h: {got} vs {want}");
    }
}
