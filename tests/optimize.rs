//! `find dose` through the whole pipeline (compile, search, run, write files), against closed
//! forms of linear pharmacokinetics: AUC = F·dose/CL, so the dose that gives a target AUC is
//! target·CL/F, and with random effects the median AUC scales linearly in the dose, so the factor is
//! the target over the median at the written dose (read from `patients.csv` of a run without the
//! search). Also: a reference arm with a covariate override (the allometric ratio), the tolerance,
//! a responder rate, identical files on 1 and 2 threads, and the runtime errors.

mod common;
use common::compiled;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::{Method, SolveOptions};

fn opts(out: Option<std::path::PathBuf>) -> TrialOptions {
    TrialOptions {
        n: None,
        trial: None,
        seed: 11,
        shard: None,
        solve: SolveOptions {
            method: Method::Auto,
            rtol: 1e-8,
            atol: 1e-10,
            ..Default::default()
        },
        out,
        progress: false,
        trajectories: false,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twin-optimize-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The found factor of an arm, from the summary.
fn factor(s: &twin::trial::output::Summary, arm: &str) -> f64 {
    s.meta
        .dose_search
        .iter()
        .find(|f| f.arm == arm)
        .unwrap_or_else(|| panic!("no dose search for {arm}"))
        .factor
}

/// The values of one column of `patients.csv` for one arm (failed rows skipped).
fn column(dir: &std::path::Path, arm: &str, header: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join("patients.csv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let k = head
        .iter()
        .position(|h| *h == header)
        .unwrap_or_else(|| panic!("no column {header} in {head:?}"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[1] == arm)
        .filter_map(|c| c[k].parse::<f64>().ok())
        .collect()
}

/// Type-7 median, written out independently of the library.
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let h = (s.len() - 1) as f64 * 0.5;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    s[lo] + (h - lo as f64) * (s[hi] - s[lo])
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

/// One typical patient: oral dose with F = 80 %, CL = 5 L/h; AUC(0–480 h) = F·dose/CL (the tail
/// beyond 480 h is e^{-48} of it).
const TYPICAL: &str = r#"
model Oral {
    covariate weight: kg = 70 kg
    param ka: 1/h = 1.5 /h
    param cl: L/h = 5 L/h * (weight / 70 kg) ^ 0.75
    param v: L = 50 L
    compartment depot: mg
    compartment central: mg
    flow depot -> central = ka * depot
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}

trial Typical {
    model Oral
    arm adult { dose 100 mg into depot bioavailability 80% }
    arm child {
        weight = 20 kg
        dose 100 mg into depot bioavailability 80%
    }
    arm target { dose 100 mg into depot bioavailability 80% }
    arm loose { dose 100 mg into depot bioavailability 80% }
    sample every 4 h until 480 h
    endpoint auc = auc(conc, from 0 h to 480 h)
    find dose of child so median(auc) == median(auc) of adult within 0.01%
    find dose of target so median(auc) == 2400 mg*min/L within 0.01%
    find dose of loose so mean(auc) == 40 mg*h/L within 5%
}
"#;

#[test]
fn typical_patient_doses_match_closed_forms() {
    let c = compiled("typical.twin", TYPICAL);
    let dir = tmp("typical");
    let s =
        run_trial(&c, "typical.twin", &opts(Some(dir.clone()))).unwrap_or_else(|e| panic!("{e}"));
    // 40 mg·h/L (written as 2400 mg·min/L) = F·dose/CL → dose = 40·5/0.8 = 250 mg: factor 2.5.
    let f = factor(&s, "target");
    assert!(rel(f, 2.5) < 2e-4, "{f}");
    // The arm is reported at the found dose: its AUC in patients.csv is the target.
    let auc = column(&dir, "target", "auc [mg·h/L]");
    assert_eq!(auc.len(), 1);
    assert!(rel(auc[0], 40.0) < 1e-4, "{}", auc[0]);
    // Child (20 kg) vs adult (70 kg): CL ∝ weight^0.75, so the factor is (20/70)^0.75.
    let f = factor(&s, "child");
    let allometric = (20.0f64 / 70.0).powf(0.75);
    assert!(rel(f, allometric) < 2e-4, "{f} vs {allometric}");
    // Tolerance honoured: within 5 %, the statistic reached is within 5 % of 40 (and the exact
    // factor is 2.5, so the factor is within 5 % too).
    let loose = s.meta.dose_search.iter().find(|x| x.arm == "loose");
    let loose = loose.unwrap_or_else(|| panic!("no loose search"));
    assert!(rel(loose.achieved, 40.0) <= 0.05, "{}", loose.achieved);
    assert!(rel(loose.factor, 2.5) <= 0.05 + 1e-6, "{}", loose.factor);
    // Linear PK: ×1, ×2, then the secant through them is exact.
    for d in &s.meta.dose_search {
        assert!(d.iterations <= 3, "{}: {} iterations", d.arm, d.iterations);
        assert_eq!(d.history.len(), d.iterations);
    }
    // Outputs: the factor column in summary.csv, the searches in run.json.
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap_or_default();
    let head: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    let k = head.iter().position(|h| *h == "dose_factor");
    let k = k.unwrap_or_else(|| panic!("no dose_factor in {head:?}"));
    for line in csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let want = match c[2] {
            "adult" => 1.0,
            arm => factor(&s, arm),
        };
        assert_eq!(c[k].parse::<f64>().unwrap_or(f64::NAN), want, "{line}");
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap_or_default())
            .unwrap_or(serde_json::Value::Null);
    let searches = run["dose_search"].as_array().cloned().unwrap_or_default();
    assert_eq!(searches.len(), 3);
    assert_eq!(searches[1]["arm"], "target");
    assert_eq!(searches[1]["doses"][0], "250 mg into depot");
    assert_eq!(searches[0]["reference"], "adult");
    // The stdout summary names the arm, the factor and the dose it gives.
    let table = s.table();
    assert!(
        table.contains("target: dose × 2.5 → 250 mg into depot; median auc = 40 mg·h/L"),
        "{table}"
    );
}

/// A population with between-subject variability in CL and weight-scaled clearance.
fn population(find: &str) -> String {
    format!(
        r#"
model Pk {{
    covariate weight: kg = 70 kg
    param cl: L/h = 5 L/h * (weight / 70 kg) ^ 0.75
    param v: L = 50 L * weight / 70 kg
    vary cl ~ lognormal(cv: 35%)
    vary v ~ lognormal(cv: 20%)
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}}

trial Pop {{
    model Pk
    population 301 {{
        weight ~ lognormal(median: 70 kg, cv: 20%)
    }}
    arm adult {{ dose 100 mg into central over 1 h every 24 h times 5 }}
    arm child {{
        weight = 18 kg
        dose 50 mg into central over 1 h every 24 h times 5
    }}
    arm infusion {{ dose 100 mg into central rate 25 mg/h every 24 h times 5 }}
    arm responders {{ dose 100 mg into central over 1 h every 24 h times 5 }}
    sample every 2 h until 120 h
    endpoint auc24 = auc(conc, from 96 h to 120 h)
    endpoint exposed = auc(conc, from 96 h to 120 h) > 30 mg*h/L
    {find}
}}
"#
    )
}

const SEARCHES: &str = "find dose of child so median(auc24) == median(auc24) of adult
    find dose of infusion so median(auc24) == 40 mg*h/L
    find dose of responders so rate(exposed) == 50% within 2%";

#[test]
fn population_factors_equal_the_target_over_the_unscaled_median() {
    // Without the search: the statistics at the written doses, from patients.csv.
    let plain = compiled("plain.twin", &population(""));
    let base = tmp("base");
    run_trial(&plain, "plain.twin", &opts(Some(base.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let m_adult = median(&column(&base, "adult", "auc24 [mg·h/L]"));
    let m_child = median(&column(&base, "child", "auc24 [mg·h/L]"));
    let m_infusion = median(&column(&base, "infusion", "auc24 [mg·h/L]"));
    // With the search.
    let c = compiled("find.twin", &population(SEARCHES));
    let dir = tmp("find");
    let s = run_trial(&c, "find.twin", &opts(Some(dir.clone()))).unwrap_or_else(|e| panic!("{e}"));
    // Linear PK: every patient's AUC is proportional to the dose, so the median is too, and the
    // factor is target / median at ×1 (tolerance 0.1 % on the statistic, so on the factor).
    let f = factor(&s, "child");
    assert!(
        rel(f, m_adult / m_child) < 1.1e-3,
        "{f} vs {}",
        m_adult / m_child
    );
    let f = factor(&s, "infusion");
    assert!(
        rel(f, 40.0 / m_infusion) < 1.1e-3,
        "{f} vs {}",
        40.0 / m_infusion
    );
    // The arms are reported at the found doses: their medians in patients.csv hit the targets.
    let child = median(&column(&dir, "child", "auc24 [mg·h/L]"));
    assert!(rel(child, m_adult) <= 1e-3, "{child} vs {m_adult}");
    let infusion = median(&column(&dir, "infusion", "auc24 [mg·h/L]"));
    assert!(rel(infusion, 40.0) <= 1e-3, "{infusion}");
    // The adult arm is not searched: identical to the plain run.
    assert_eq!(
        column(&dir, "adult", "auc24 [mg·h/L]"),
        column(&base, "adult", "auc24 [mg·h/L]")
    );
    // The responder rate: within 2 % of 50 %, and equal to the fraction in patients.csv.
    let r = s.meta.dose_search.iter().find(|x| x.arm == "responders");
    let r = r.unwrap_or_else(|| panic!("no responder search"));
    assert!((r.achieved - 0.5).abs() <= 0.02 * 0.5, "{}", r.achieved);
    let text = std::fs::read_to_string(dir.join("patients.csv")).unwrap_or_default();
    let yes = text
        .lines()
        .filter(|l| l.split(',').nth(1) == Some("responders"))
        .filter(|l| l.contains(",true,"))
        .count();
    assert_eq!(yes as f64 / 301.0, r.achieved);
    // With responders defined as AUC > 30, the rate is 50 % where the median AUC is 30: the found
    // factor lies within the bracket of the rate's step around 30 / median at ×1.
    let m_resp = median(&column(&base, "responders", "auc24 [mg·h/L]"));
    assert!(
        rel(r.factor, 30.0 / m_resp) < 0.05,
        "{} vs {}",
        r.factor,
        30.0 / m_resp
    );
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    ["patients.csv", "summary.csv", "summary.json", "run.json"]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")),
            )
        })
        .collect()
}

#[test]
fn identical_outputs_on_one_and_two_threads() {
    let c = compiled("find.twin", &population(SEARCHES));
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (one, two) = (tmp("one"), tmp("two"));
    pool(1)
        .install(|| run_trial(&c, "find.twin", &opts(Some(one.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    pool(2)
        .install(|| run_trial(&c, "find.twin", &opts(Some(two.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files(&one), files(&two));
}

#[test]
fn unreachable_targets_and_shards_are_clear_errors() {
    // tmax of an IV bolus does not depend on the dose.
    let flat = compiled(
        "flat.twin",
        r#"
model Pk {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / 20 L
}
trial T {
    model Pk
    arm a { dose 100 mg into central }
    sample every 1 h until 24 h
    endpoint peak_time = tmax(conc)
    find dose of a so median(peak_time) == 5 h
}
"#,
    );
    match run_trial(&flat, "flat.twin", &opts(None)) {
        Ok(_) => panic!("a dose-independent endpoint cannot be matched"),
        Err(e) => {
            assert!(e.to_string().contains("arm `a`"), "{e}");
            assert!(
                e.to_string().contains("values seen: 0 at ×1, 0 at ×2"),
                "{e}"
            );
            assert!(e.to_string().contains("hint"), "{e}");
        }
    }
    // A saturating endpoint: the fraction of time above 1 mg/L cannot exceed 100 %.
    let saturating = compiled(
        "sat.twin",
        r#"
model Pk {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / 20 L
}
trial T {
    model Pk
    arm a { dose 100 mg into central }
    sample every 1 h until 24 h
    endpoint above = time_above(conc, 1 mg/L, from 0 h to 24 h)
    find dose of a so mean(above) == 30 h
}
"#,
    );
    match run_trial(&saturating, "sat.twin", &opts(None)) {
        Ok(s) => panic!("found {:?}", s.meta.dose_search),
        Err(e) => assert!(
            e.to_string()
                .contains("no dose of arm `a` gives mean(above) = 30 h"),
            "{e}"
        ),
    }
    // The search needs every patient.
    let c = compiled("find.twin", &population(SEARCHES));
    let mut o = opts(None);
    o.shard = Some((1, 2));
    match run_trial(&c, "find.twin", &o) {
        Ok(_) => panic!("a shard of a dose search ran"),
        Err(e) => assert!(e.to_string().contains("--shard"), "{e}"),
    }
}
