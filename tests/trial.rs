//! Trial runner tests: endpoints against closed forms, reproducibility across thread counts and
//! shards, failing patients, and the snapshot of the genotype-stratified warfarin trial.

mod common;
use common::compiled;
use twin::cmd::trial::{TrialOptions, merge, run_trial};
use twin::solve::{Method, SolveOptions};

fn opts(out: Option<std::path::PathBuf>) -> TrialOptions {
    TrialOptions {
        n: None,
        trial: None,
        seed: 7,
        shard: None,
        solve: SolveOptions {
            method: Method::Bdf,
            rtol: 1e-8,
            atol: 1e-10,
            ..Default::default()
        },
        out,
        progress: false,
        trajectories: true,
    }
}

/// A run of `pop.twin` with `--n n` (no trajectories).
fn resized_to(c: &twin::driver::Compilation, n: u64) -> std::path::PathBuf {
    let d = tmp(&format!("grown{n}"));
    let mut o = opts(Some(d.clone()));
    o.n = Some(n);
    o.trajectories = false;
    run_trial(c, "pop.twin", &o).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twin-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

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
trial Closed {
    model Oral
    arm oral { dose 100 mg into depot }
    arm partial { dose 100 mg into depot bioavailability 80% }
    arm bolus { dose 100 mg into central }
    sample every 1 h until 480 h
    endpoint auc_inf = auc(conc, from 0 h to 480 h)
    endpoint auc_0_12 = auc(conc, from 0 h to 12 h)
    endpoint cmax = max(conc)
    endpoint tmax = tmax(conc)
    endpoint c12 = value(conc, 12 h)
    endpoint above_1 = time_above(conc, 1 mg/L)
    endpoint mean_0_24 = mean(conc, from 0 h to 24 h)
    endpoint responder = max(conc) > 1.5 mg/L
}
"#;

fn endpoint(s: &twin::trial::output::Summary, arm: &str, name: &str) -> f64 {
    let g = s
        .arms
        .iter()
        .find(|g| g.arm == arm)
        .unwrap_or_else(|| panic!("arm {arm}"));
    let e = g
        .endpoints
        .iter()
        .find(|e| e.endpoint == name)
        .unwrap_or_else(|| panic!("endpoint {name}"));
    match (e.stats, e.rate) {
        (Some(s), _) => s[0],
        (_, Some(r)) => r[0],
        _ => f64::NAN,
    }
}

#[test]
fn endpoints_match_closed_forms() {
    let c = compiled("oral.twin", ORAL);
    let s = run_trial(&c, "oral.twin", &opts(None)).unwrap_or_else(|e| panic!("{e}"));
    let (dose, ka, cl, v): (f64, f64, f64, f64) = (100.0, 1.0, 5.0, 50.0);
    let k = cl / v;
    let bateman = |t: f64| dose * ka / (v * (ka - k)) * ((-k * t).exp() - (-ka * t).exp());
    let rel = |a: f64, b: f64| ((a - b) / b).abs();
    // AUC(0–∞) = F·dose/CL; the tail beyond 480 h is e^{-48} of it.
    assert!(
        rel(endpoint(&s, "oral", "auc_inf"), dose / cl) < 1e-6,
        "{}",
        endpoint(&s, "oral", "auc_inf")
    );
    assert!(rel(endpoint(&s, "partial", "auc_inf"), 0.8 * dose / cl) < 1e-6);
    assert!(rel(endpoint(&s, "bolus", "auc_inf"), dose / cl) < 1e-6);
    // AUC(0–12 h) of the Bateman function.
    let auc12 = dose * ka / (v * (ka - k))
        * ((1.0 - (-k * 12.0).exp()) / k - (1.0 - (-ka * 12.0).exp()) / ka);
    assert!(rel(endpoint(&s, "oral", "auc_0_12"), auc12) < 1e-6);
    assert!(
        rel(
            endpoint(&s, "oral", "mean_0_24"),
            dose * ka / (v * (ka - k))
                * ((1.0 - (-k * 24.0).exp()) / k - (1.0 - (-ka * 24.0).exp()) / ka)
                / 24.0
        ) < 1e-6
    );
    // Cmax from the dense output: tmax = ln(ka/k)/(ka−k) = 2.558 h lies between the hourly grid
    // points and is found there (to √rtol: the maximum is flat).
    let tmax = (ka / k).ln() / (ka - k);
    let th = endpoint(&s, "oral", "tmax");
    assert!((th - tmax).abs() < 1e-3, "tmax {th}, closed form {tmax}");
    assert!(rel(endpoint(&s, "oral", "cmax"), bateman(tmax)) < 1e-6);
    assert!(rel(endpoint(&s, "oral", "c12"), bateman(12.0)) < 1e-6);
    // IV bolus: C = 2 e^{-0.1 t} mg/L is above 1 mg/L for ln 2 / 0.1 = 6.93 h.
    assert!(
        (endpoint(&s, "bolus", "above_1") - 2f64.ln() / k).abs() < 1e-6,
        "{}",
        endpoint(&s, "bolus", "above_1")
    );
    // Responder rule: oral Cmax ≈ 1.55 > 1.5 (true), partial 0.8·that (false).
    assert_eq!(endpoint(&s, "oral", "responder"), 1.0);
    assert_eq!(endpoint(&s, "partial", "responder"), 0.0);
}

const POP: &str = r#"
model Pop {
    covariate weight: kg = 70 kg
    covariate sex: {female, male} = male
    param cl: L/h = 5 L/h * (weight / 70 kg)^0.75
    param v: L = 50 L * weight / 70 kg
    vary cl ~ lognormal(cv: 30%)
    vary v ~ lognormal(cv: 20%)
    correlate cl, v = 0.4
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
trial Pop {
    model Pop
    population 300 {
        sex ~ categorical(female: 50%, male: 50%)
        weight ~ lognormal(median: if sex == female { 65 kg } else { 80 kg }, cv: 20%)
    }
    arm low { dose 100 mg into central }
    arm high { dose 2 mg/kg * weight into central }
    sample every 2 h until 48 h
    endpoint auc = auc(conc, from 0 h to 48 h)
    endpoint high_exposure = auc(conc, from 0 h to 48 h) > 25 mg*h/L
    stratify by sex, weight bins [60 kg, 80 kg]
}
"#;

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    [
        "patients.csv",
        "summary.csv",
        "summary.json",
        "run.json",
        "trajectories.csv",
        "bands.csv",
        "targets.csv",
    ]
    .iter()
    .map(|f| {
        (
            f.to_string(),
            std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display())),
        )
    })
    .collect()
}

#[test]
fn identical_outputs_for_one_and_two_threads_and_for_merged_shards() {
    let c = compiled("pop.twin", POP);
    let one = tmp("one");
    let two = tmp("two");
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    pool(1)
        .install(|| run_trial(&c, "pop.twin", &opts(Some(one.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    pool(2)
        .install(|| run_trial(&c, "pop.twin", &opts(Some(two.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files(&one), files(&two), "1 vs 2 threads");
    // Three shards, run in a scrambled order, merged.
    let mut shards = Vec::new();
    for i in [2u64, 3, 1] {
        let d = tmp(&format!("shard{i}"));
        let mut o = opts(Some(d.clone()));
        o.shard = Some((i, 3));
        run_trial(&c, "pop.twin", &o).unwrap_or_else(|e| panic!("{e}"));
        shards.push(d);
    }
    let merged = tmp("merged");
    merge(&c, &shards, &merged, SolveOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files(&one), files(&merged), "single run vs 3 merged shards");
    // A missing shard is refused.
    assert!(merge(&c, &shards[..2], &tmp("bad"), SolveOptions::default()).is_err());
    // `--n` resizes the population: shards of the resized run merge into the resized single
    // run, whose patients are the first n of the declared population (same seed streams).
    let resized = |name: &str, shard: Option<(u64, u64)>| {
        let d = tmp(name);
        let mut o = opts(Some(d.clone()));
        o.n = Some(37);
        o.shard = shard;
        o.trajectories = false;
        run_trial(&c, "pop.twin", &o).unwrap_or_else(|e| panic!("{e}"));
        d
    };
    let single = resized("n37", None);
    let parts = vec![
        resized("n37-1", Some((1, 2))),
        resized("n37-2", Some((2, 2))),
    ];
    let merged37 = tmp("n37-merged");
    merge(&c, &parts, &merged37, SolveOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let read =
        |d: &std::path::Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    assert_eq!(
        read(&single, "patients.csv"),
        read(&merged37, "patients.csv")
    );
    assert_eq!(read(&single, "summary.csv"), read(&merged37, "summary.csv"));
    assert!(read(&single, "run.json").contains("\"patients\": 37"));
    let full = read(&one, "patients.csv");
    let first37: Vec<&str> = full
        .lines()
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|i| i.parse::<u64>().ok())
                .is_some_and(|i| i < 37)
        })
        .collect();
    let single_text = read(&single, "patients.csv");
    let mut got: Vec<&str> = single_text.lines().skip(1).collect();
    got.sort_unstable();
    let mut want = first37;
    want.sort_unstable();
    assert_eq!(
        got, want,
        "--n 37 keeps the first 37 patients of the declared population"
    );
    // More patients than declared: none fails, and the first 300 are the declared run's.
    let grown = resized_to(&c, 337);
    let grown_text = read(&grown, "patients.csv");
    assert!(read(&grown, "run.json").contains("\"patients\": 337"));
    let grown_lines: Vec<&str> = grown_text.lines().collect();
    assert!(
        !grown_text.contains("outside the population"),
        "a patient failed: {grown_text}"
    );
    let declared: Vec<&str> = full.lines().collect();
    assert_eq!(&grown_lines[..declared.len()], &declared[..]);
    assert!(grown_lines.len() > declared.len());
    // A shard whose patients.csv lost a patient is refused.
    let cut = parts[1].join("patients.csv");
    let text = read(&parts[1], "patients.csv");
    let keep: Vec<&str> = text.lines().take(text.lines().count() - 2).collect();
    std::fs::write(&cut, keep.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let e = merge(&c, &parts, &tmp("n37-bad"), SolveOptions::default())
        .err()
        .unwrap_or_else(|| panic!("a shard with a lost patient was merged"))
        .to_string();
    assert!(e.contains("patients where the run has 37"), "{e}");
    // Bands: 300 patients per arm at every sampling time; the median concentration falls with time.
    let bands = std::fs::read_to_string(one.join("bands.csv")).unwrap_or_default();
    let conc: Vec<Vec<String>> = bands
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .filter(|c: &Vec<String>| c[0] == "low" && c[2] == "conc [mg/L]")
        .collect();
    assert_eq!(conc.len(), 25);
    assert!(conc.iter().all(|c| c[3] == "300"));
    let median = |c: &Vec<String>| c[6].parse::<f64>().unwrap_or(f64::NAN);
    assert!(median(&conc[1]) > median(&conc[24]));
    // Another seed gives other patients.
    let other = tmp("other");
    let mut o = opts(Some(other.clone()));
    o.seed = 8;
    run_trial(&c, "pop.twin", &o).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(files(&one)[0], files(&other)[0]);
}

#[test]
fn weight_based_dosing_and_strata() {
    let c = compiled("pop.twin", POP);
    let s = run_trial(&c, "pop.twin", &opts(None)).unwrap_or_else(|e| panic!("{e}"));
    // AUC(0–48 h) ≈ dose/CL·(1 − e^{−k·48}); weight-based doses raise exposure in heavy patients.
    let low = endpoint(&s, "low", "auc");
    let high = endpoint(&s, "high", "auc");
    assert!(low > 10.0 && low < 30.0, "{low}");
    assert!(high > low, "{high} vs {low}");
    let levels: Vec<(String, String)> = s
        .strata
        .iter()
        .map(|g| (g.stratum.clone(), g.level.clone()))
        .collect();
    assert!(levels.contains(&("sex".into(), "female".into())));
    assert!(
        levels.contains(&("weight".into(), ">=80 kg".into()))
            || levels
                .iter()
                .any(|(k, l)| k == "weight" && l.contains("80"))
    );
    // Every patient lands in exactly one level of each stratum, per arm.
    for key in ["sex", "weight"] {
        let n: usize = s
            .strata
            .iter()
            .filter(|g| g.stratum == key && g.arm == "low")
            .map(|g| g.patients)
            .sum();
        assert_eq!(n, 300, "{key}");
    }
    // Paired differences: the same patients in both arms.
    assert_eq!(s.differences.len(), 2);
}

#[test]
fn failing_patients_are_reported_and_the_rest_complete() {
    // dx/dt = k·x² blows up at t = 1/k; heavier patients have larger k and fail within 2 h.
    let text = r#"
model Blow {
    covariate weight: kg = 70 kg
    param k: 1/h = 0.4 /h * (weight / 70 kg)^4
    state x: 1 = 1
    d/dt x = k * x^2
    observe x
}
trial T {
    model Blow
    population 200 { weight ~ lognormal(median: 70 kg, cv: 20%) }
    arm only { }
    sample every 0.5 h until 2 h
    endpoint xmax = max(x)
}
"#;
    let c = compiled("blow.twin", text);
    let out = tmp("blow");
    let s = run_trial(&c, "blow.twin", &opts(Some(out.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let g = &s.arms[0];
    assert!(g.failed > 10 && g.failed < 190, "failed {}", g.failed);
    assert_eq!(g.endpoints[0].n, 200 - g.failed);
    assert!(!s.failures.is_empty());
    let patients = std::fs::read_to_string(out.join("patients.csv")).unwrap_or_default();
    assert_eq!(patients.lines().count(), 201);
    assert!(patients.contains("solve failed at t = "));
    assert!(s.table().contains("failed"));
}

#[test]
fn warfarin_genotype_guided_trial_summary() {
    let path = "examples/warfarin_pgx.twin";
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    let c = compiled(path, &text);
    let mut o = opts(None);
    o.seed = 1;
    o.solve = SolveOptions::default();
    o.trial = Some("GenotypeGuided".into());
    let s = run_trial(&c, path, &o).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.arms.iter().map(|g| g.failed).sum::<usize>(), 0);
    insta::assert_snapshot!("warfarin_summary", s.table());
}

/// A param outside its domain for one patient fails that patient with the reason and the rest
/// complete: with weights drawn from normal(10 kg, 20 kg), exactly the patients of weight ≤ 0 kg
/// (v = 0.5 L/kg · weight ≤ 0 L, outside the default volume domain `> 0`) fail, and each of the
/// others has c0 = 100 mg / v.
#[test]
fn patients_outside_a_param_domain_fail_with_the_reason() {
    let text = r#"
model Pk {
    covariate weight: kg = 70 kg
    compartment central: mg
    param v: L = 0.5 L/kg * weight
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / v
}
trial T {
    model Pk
    population 200 { weight ~ normal(10 kg, 20 kg) }
    arm a { dose 100 mg into central }
    sample at [0 h, 1 h]
    endpoint c0 = value(conc, 0 h)
}
"#;
    let c = compiled("domain.twin", text);
    let out = tmp("domain");
    let s =
        run_trial(&c, "domain.twin", &opts(Some(out.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let patients = std::fs::read_to_string(out.join("patients.csv")).unwrap_or_default();
    let mut lines = patients.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (w, c0, err) = (col("weight [kg]"), col("c0 [mg/L]"), col("error"));
    let (mut failed, mut ok) = (0, 0);
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let weight: f64 = cells[w].parse().unwrap_or(f64::NAN);
        if weight <= 0.0 {
            failed += 1;
            assert!(
                cells[err].contains("param `v`") && cells[err].contains("outside its domain (> 0)"),
                "{line}"
            );
        } else {
            ok += 1;
            assert!(cells[err].is_empty(), "{line}");
            let want = 100.0 / (0.5 * weight);
            let got: f64 = cells[c0].parse().unwrap_or(f64::NAN);
            assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
        }
    }
    assert!(failed > 10 && ok > 100, "failed {failed}, ok {ok}");
    assert_eq!(s.arms[0].failed, failed);
}

#[test]
fn merge_refuses_shards_that_differ_in_provenance() {
    let c = compiled("pop.twin", POP);
    let edited = POP.replace("cv: 30%", "cv: 80%");
    assert_ne!(edited, POP);
    let c_edited = compiled("pop.twin", &edited);
    let shard =
        |c: &twin::driver::Compilation, i: u64, name: &str, edit: &dyn Fn(&mut TrialOptions)| {
            let d = tmp(name);
            let mut o = opts(Some(d.clone()));
            o.trajectories = false;
            o.shard = Some((i, 3));
            edit(&mut o);
            run_trial(c, "pop.twin", &o).unwrap_or_else(|e| panic!("{e}"));
            d
        };
    let same = |_: &mut TrialOptions| {};
    // Shard 1 before the edit, shards 2 and 3 after: refused, naming the model hash.
    let before = shard(&c, 1, "prov1", &same);
    let after: Vec<_> = [2, 3]
        .iter()
        .map(|&i| shard(&c_edited, i, &format!("prov-edited{i}"), &same))
        .collect();
    let mixed = vec![before.clone(), after[0].clone(), after[1].clone()];
    let out = tmp("prov-out");
    let e = merge(&c_edited, &mixed, &out, SolveOptions::default())
        .err()
        .unwrap_or_else(|| panic!("mixed model versions were merged"))
        .to_string();
    assert!(
        e.contains("`source_sha256`") && e.contains("model file changed"),
        "{e}"
    );
    assert!(!out.exists(), "nothing is written");
    // Every shard from the edited model, merged with the original file: refused.
    let edited_first = shard(&c_edited, 1, "prov-edited1", &same);
    let all_edited = vec![edited_first, after[0].clone(), after[1].clone()];
    let e = merge(&c, &all_edited, &out, SolveOptions::default())
        .err()
        .unwrap_or_else(|| panic!("merged with another model file"))
        .to_string();
    assert!(e.contains("another version of the model"), "{e}");
    // With the file the shards ran, they merge.
    merge(&c_edited, &all_edited, &out, SolveOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    // Another seed or other solver settings in one shard: refused, naming the field.
    let seed8 = shard(&c_edited, 1, "prov-seed", &|o| o.seed = 8);
    let e = merge(
        &c_edited,
        &[seed8, after[0].clone(), after[1].clone()],
        &tmp("prov-out2"),
        SolveOptions::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("merged shards of two seeds"))
    .to_string();
    assert!(e.contains("`seed` is 8") && e.contains("but 7"), "{e}");
    let esdirk = shard(&c_edited, 1, "prov-solver", &|o| {
        o.solve.method = Method::Esdirk34
    });
    let e = merge(
        &c_edited,
        &[esdirk, after[0].clone(), after[1].clone()],
        &tmp("prov-out3"),
        SolveOptions::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("merged shards of two solvers"))
    .to_string();
    assert!(e.contains("`solver`") && e.contains("esdirk"), "{e}");
}

#[test]
fn run_json_records_the_model_and_stdlib_hashes() {
    let c = compiled("pop.twin", POP);
    let d = tmp("hashes");
    let mut o = opts(Some(d.clone()));
    o.trajectories = false;
    run_trial(&c, "pop.twin", &o).unwrap_or_else(|e| panic!("{e}"));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    // SHA-256 of the model text, checked against a second implementation (coreutils sha256sum).
    let text_file = tmp("hashes-model");
    std::fs::write(&text_file, POP).unwrap_or_else(|e| panic!("{e}"));
    let sum = std::process::Command::new("sha256sum")
        .arg(&text_file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(expected.len(), 64);
    assert_eq!(run["source_sha256"], expected);
    assert_eq!(run["stdlib_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(run["solver"]["method"], "bdf");
    assert_eq!(run["solver"]["rtol"], 1e-8);
}

/// Cockcroft–Gault creatinine clearance as a param of covariates, a clearance with a random
/// effect on top of it, and a body surface area `let`: strata by all three.
const RENAL: &str = r#"
model Renal {
    covariate age: year = 60 year
    covariate weight: kg = 70 kg
    covariate sex: {female, male} = male
    param crcl: mL/min = (140 - age / 1 year) * (weight / 1 kg) / 72 * (if sex == female { 0.85 } else { 1 }) * 1 mL/min
    param cl: L/h = 3 L/h * crcl / (100 mL/min)
    vary cl ~ lognormal(cv: 30%)
    let bsa: m^2 = sqrt(weight / 1 kg * 170 / 3600) * 1 m^2
    param v: L = 40 L
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
trial Renal {
    model Renal
    population 240 {
        sex ~ categorical(female: 50%, male: 50%)
        age ~ uniform(20 year, 150 year)
        weight ~ lognormal(median: 75 kg, cv: 25%)
    }
    arm usual { dose 100 mg into central }
    arm heavy {
        weight = 110 kg
        dose 100 mg into central
    }
    sample every 2 h until 24 h
    endpoint auc = auc(conc, from 0 h to 24 h)
    stratify by crcl bins [30 mL/min, 3.6 L/h], cl bins [1 L/h, 2 L/h], bsa bins [1.9 m^2]
}
"#;

/// The columns of `patients.csv` by header, and its rows.
fn patients_table(dir: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir.join("patients.csv")).unwrap_or_default();
    let mut lines = text.lines();
    let header = lines
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

/// Strata by computed quantities put every patient where the closed form of its own covariates
/// (after the arm's override) and η puts it: the values in `patients.csv` are the simulated ones
/// (Cockcroft–Gault, and the clearance with its random effect), the counts per level add up to the
/// arm, failed patients (age over 140 years: a negative clearance, outside its domain) keep their
/// stratum, and merged shards give the single run's files byte for byte.
#[test]
fn strata_by_computed_quantities_follow_each_patients_values() {
    let c = compiled("renal.twin", RENAL);
    let one = tmp("renal-one");
    let s = run_trial(&c, "renal.twin", &opts(Some(one.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let (header, rows) = patients_table(&one);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {header:?}"))
    };
    let (c_arm, c_age, c_weight, c_sex, c_eta) = (
        col("arm"),
        col("age [year]"),
        col("weight [kg]"),
        col("sex"),
        col("eta(cl)"),
    );
    let (c_crcl, c_cl, c_bsa, c_err) = (
        col("crcl [mL/min]"),
        col("cl [L/h]"),
        col("bsa [L/mm]"),
        col("error"),
    );
    // The quantity columns sit between the inputs and the endpoints.
    assert!(c_eta < c_crcl && c_crcl < c_cl && c_cl < c_bsa && c_bsa < col("auc [mg·h/L]"));
    let num = |r: &Vec<String>, k: usize| r[k].parse::<f64>().unwrap_or(f64::NAN);
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.abs().max(1.0);
    // (arm, stratum, level) → patients expected there.
    let mut want: std::collections::BTreeMap<(String, String, String), usize> = Default::default();
    let mut failed = 0;
    for r in &rows {
        let (age, weight) = (num(r, c_age), num(r, c_weight));
        if r[c_arm] == "heavy" {
            assert_eq!(weight, 110.0, "the arm's override is in the row");
        }
        let sex = if r[c_sex] == "female" { 0.85 } else { 1.0 };
        let crcl = (140.0 - age) * weight / 72.0 * sex;
        assert!(close(num(r, c_crcl), crcl), "crcl {} vs {crcl}", r[c_crcl]);
        let cl = 3.0 * crcl / 100.0 * num(r, c_eta).exp();
        assert!(close(num(r, c_cl), cl), "cl {} vs {cl}", r[c_cl]);
        let bsa = (weight * 170.0 / 3600.0).sqrt();
        assert!(close(num(r, c_bsa), bsa), "bsa {} vs {bsa}", r[c_bsa]);
        if age > 140.0 {
            failed += 1;
            assert!(r[c_err].contains("outside its domain"), "{r:?}");
        }
        let level = |x: f64, edges: &[(f64, &str)], last: &str| {
            edges
                .iter()
                .find(|(e, _)| x < *e)
                .map_or(last.to_string(), |(_, l)| l.to_string())
        };
        let arm = r[c_arm].clone();
        for (key, l) in [
            (
                "crcl",
                level(
                    crcl,
                    &[(30.0, "<30 mL/min"), (60.0, "30-60 mL/min")],
                    ">=60 mL/min",
                ),
            ),
            (
                "cl",
                level(cl, &[(1.0, "<1 L/h"), (2.0, "1-2 L/h")], ">=2 L/h"),
            ),
            ("bsa", level(bsa, &[(1.9, "<1.9 L/mm")], ">=1.9 L/mm")),
        ] {
            *want.entry((arm.clone(), key.to_string(), l)).or_default() += 1;
        }
    }
    assert!(failed > 0, "some patients are older than 140 years");
    let got: std::collections::BTreeMap<(String, String, String), usize> = s
        .strata
        .iter()
        .map(|g| {
            (
                (g.arm.clone(), g.stratum.clone(), g.level.clone()),
                g.patients,
            )
        })
        .collect();
    assert_eq!(got, want);
    for g in &s.arms {
        for key in ["crcl", "cl", "bsa"] {
            let n: usize = s
                .strata
                .iter()
                .filter(|x| x.arm == g.arm && x.stratum == key)
                .map(|x| x.patients)
                .sum();
            assert_eq!(n, g.patients, "{key} in {}", g.arm);
        }
    }
    let failed_in_strata: usize = s
        .strata
        .iter()
        .filter(|g| g.stratum == "crcl")
        .map(|g| g.failed)
        .sum();
    assert_eq!(failed_in_strata, failed);
    // Shards merge into the single run, strata included.
    let mut shards = Vec::new();
    for i in [3u64, 1, 2] {
        let d = tmp(&format!("renal-shard{i}"));
        let mut o = opts(Some(d.clone()));
        o.shard = Some((i, 3));
        run_trial(&c, "renal.twin", &o).unwrap_or_else(|e| panic!("{e}"));
        shards.push(d);
    }
    let merged = tmp("renal-merged");
    let m = merge(&c, &shards, &merged, SolveOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files(&one), files(&merged), "single run vs 3 merged shards");
    assert_eq!(m.strata, s.strata);
}

/// The targets endpoints put on observables: ranges from `time_in` and from an `and` of bounds
/// inside `fraction_of_time`, thresholds from `time_above`/`time_below` and from comparisons of
/// `max`/`min`/`value` with a constant (either side), each in the observable's unit; an observable
/// of a `let` (`observe conc`) takes the targets on the `let`. Bounds that vary between patients
/// and summaries in other units (`auc`, `tmax`) set none.
#[test]
fn targets_are_read_from_endpoints_in_the_observables_units() {
    let text = r#"
model Pk {
    covariate mic: mg/L = 1 mg/L
    param v: L = 50 L
    compartment central: mg
    flow central -> out = 0.1 /h * central
    let conc: mg/L = central / v
    observe conc
    observe conc_ng: ng/mL = conc
}
trial T {
    model Pk
    arm a { dose 100 mg into central }
    sample every 1 h until 24 h
    endpoint in_window = time_in(conc, 500 µg/L, 1.5 mg/L)
    endpoint above = time_above(conc, 1 mg/L)
    endpoint below = time_below(conc, 250 ng/mL)
    endpoint in_range = fraction_of_time(conc >= 0.2 mg/L and 800 µg/L >= conc)
    endpoint peak_high = max(conc) > 1.8 mg/L
    endpoint trough_low = 100 µg/L > value(conc, 24 h)
    endpoint over_mic = time_above(conc, mic)
    endpoint exposure = auc(conc, from 0 h to 24 h) > 10 mg*h/L
    endpoint late = tmax(conc) > 2 h
}
"#;
    let c = compiled("targets.twin", text);
    let trial = &c.program.trials[0];
    let model = &c.program.models[trial.model];
    let mut found: Vec<(String, String, Option<f64>, Option<f64>)> =
        twin::trial::targets::targets(trial, model)
            .into_iter()
            .map(|t| {
                (
                    t.endpoint,
                    model.observables[t.observable].name.clone(),
                    t.low,
                    t.high,
                )
            })
            .collect();
    // Endpoint by endpoint; within one, `conc` before `conc_ng`.
    found.sort_by(|a, b| {
        let e = |x: &str| trial.endpoints.iter().position(|e| e.name == x);
        (e(&a.0), &a.1).cmp(&(e(&b.0), &b.1))
    });
    let t =
        |e: &str, o: &str, lo: Option<f64>, hi: Option<f64>| (e.to_string(), o.to_string(), lo, hi);
    assert_eq!(
        found,
        vec![
            t("in_window", "conc", Some(0.5), Some(1.5)),
            t("in_window", "conc_ng", Some(500.0), Some(1500.0)),
            t("above", "conc", Some(1.0), None),
            t("above", "conc_ng", Some(1000.0), None),
            t("below", "conc", None, Some(0.25)),
            t("below", "conc_ng", None, Some(250.0)),
            t("in_range", "conc", Some(0.2), Some(0.8)),
            t("in_range", "conc_ng", Some(200.0), Some(800.0)),
            t("peak_high", "conc", Some(1.8), None),
            t("peak_high", "conc_ng", Some(1800.0), None),
            t("trough_low", "conc", None, Some(0.1)),
            t("trough_low", "conc_ng", None, Some(100.0)),
        ]
    );
}
