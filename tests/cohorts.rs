//! Cohorts from data (`population from "cohort.csv"`): every row's covariates and genotypes are
//! replayed exactly (read back from patients.csv, units converted from the header), `resample`
//! draws rows with replacement uniformly and reproducibly, covariates the file lacks come from the
//! block's own generators or are an error naming them, and malformed files are E0050 naming row,
//! column and value.

mod common;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::driver::compile;
use twin::solve::SolveOptions;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twin-cohort-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn opts(out: Option<std::path::PathBuf>) -> TrialOptions {
    TrialOptions {
        n: None,
        trial: None,
        seed: 5,
        shard: None,
        solve: SolveOptions::default(),
        out,
        progress: false,
        trajectories: false,
    }
}

const MODEL: &str = r#"
use pgx.{CYP2C9}

model Pk {
    covariate weight: kg = 70 kg
    covariate sex: {female, male} = male
    /// Hepatic CYP3A4 abundance from proteomics.
    covariate cyp3a4: pmol/mg = 100 pmol/mg
    covariate age: year = 50 year
    genotype cyp2c9: CYP2C9 = "*1/*1"
    param cl: L/h = 5 L/h * cyp3a4 / (100 pmol/mg) * activity(cyp2c9) / 2
    param v: L = 0.7 L/kg * weight
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
"#;

fn trial(population: &str) -> String {
    format!(
        "{MODEL}
trial T {{
    model Pk
    {population}
    arm a {{ dose 100 mg into central }}
    sample every 1 h until 24 h
    endpoint auc24 = auc(conc, from 0 h to 24 h)
    stratify by cl bins [2 L/h, 5 L/h]
}}
"
    )
}

/// Compiles `text` as `<dir>/t.twin` so that the cohort path is relative to `dir`.
fn compiled_in(dir: &std::path::Path, text: &str) -> twin::driver::Compilation {
    let name = dir.join("t.twin");
    compile(&name.to_string_lossy(), text)
}

fn codes_and_messages(c: &twin::driver::Compilation) -> Vec<(String, String)> {
    c.diagnostics
        .iter()
        .map(|d| (d.code.to_string(), d.message.clone()))
        .collect()
}

const COHORT: &str = "ID,weight [g],sex,cyp3a4 [pmol/mg],age [year],cyp2c9,note
1,54000,female,137.5,34,*1/*1,first
2,90500,male,58.25,71,*3/*1,\"quoted, with a comma\"
3,41250,female,412.0,22,*2/*3,
";

#[test]
fn every_row_is_replayed_exactly() {
    let d = dir("replay");
    std::fs::write(d.join("cohort.csv"), COHORT).unwrap_or_else(|e| panic!("{e}"));
    let c = compiled_in(
        &d,
        &trial("population from \"cohort.csv\" { ancestry european }"),
    );
    assert!(!c.has_errors(), "{:?}", codes_and_messages(&c));
    let out = d.join("out");
    let s = run_trial(&c, "t.twin", &opts(Some(out.clone()))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.arms[0].patients, s.arms[0].failed), (3, 0));
    let text = std::fs::read_to_string(out.join("patients.csv")).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| *h == n || h.starts_with(&format!("{n} [")))
            .unwrap_or_else(|| panic!("{n} in {header:?}"))
    };
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Grams to kilograms; the other units are the model's.
    let expected = [
        (54.0, "female", 137.5, 34.0, "*1/*1"),
        (90.5, "male", 58.25, 71.0, "*1/*3"),
        (41.25, "female", 412.0, 22.0, "*2/*3"),
    ];
    for (r, e) in rows.iter().zip(&expected) {
        let num = |n: &str| r[col(n)].parse::<f64>().unwrap_or_else(|x| panic!("{x}"));
        assert!(
            (num("weight") - e.0).abs() <= 1e-12 * e.0,
            "{} vs {}",
            num("weight"),
            e.0
        );
        assert_eq!(r[col("sex")], e.1);
        assert_eq!(num("cyp3a4"), e.2);
        assert_eq!(num("age"), e.3);
        assert_eq!(r[col("cyp2c9")], e.4);
        // The omics covariate scales clearance: CL = 5 L/h · abundance/100 · activity/2.
        let activity = match e.4 {
            "*1/*1" => 2.0,
            "*1/*3" => 1.0,
            _ => 0.5,
        };
        let cl = 5.0 * e.2 / 100.0 * activity / 2.0;
        assert!(
            (num("cl") - cl).abs() <= 1e-12 * cl,
            "{} vs {cl}",
            num("cl")
        );
    }
}

#[test]
fn resampling_draws_rows_uniformly_and_reproducibly() {
    let d = dir("resample");
    std::fs::write(d.join("cohort.csv"), COHORT).unwrap_or_else(|e| panic!("{e}"));
    let c = compiled_in(
        &d,
        &trial("population from \"cohort.csv\" resample 3000 { ancestry european }"),
    );
    assert!(!c.has_errors(), "{:?}", codes_and_messages(&c));
    let out = d.join("out");
    run_trial(&c, "t.twin", &opts(Some(out.clone()))).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(out.join("patients.csv")).unwrap_or_else(|e| panic!("{e}"));
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    let k = header
        .iter()
        .position(|h| h.starts_with("age"))
        .unwrap_or(0);
    let mut counts = [0usize; 3];
    for l in text.lines().skip(1) {
        let age: f64 = l
            .split(',')
            .nth(k)
            .unwrap_or("")
            .parse()
            .unwrap_or(f64::NAN);
        let i = [34.0, 71.0, 22.0].iter().position(|&a| a == age);
        counts[i.unwrap_or_else(|| panic!("age {age} is not a row's"))] += 1;
    }
    // Each row has probability 1/3: counts within 4 binomial standard deviations of 1000.
    let sd = (3000.0f64 * (1.0 / 3.0) * (2.0 / 3.0)).sqrt();
    for c in counts {
        assert!((c as f64 - 1000.0).abs() < 4.0 * sd, "{counts:?}");
    }
    // The same seed gives the same rows.
    let again = d.join("again");
    run_trial(&c, "t.twin", &opts(Some(again.clone()))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read(out.join("patients.csv")).ok(),
        std::fs::read(again.join("patients.csv")).ok()
    );
}

#[test]
fn missing_covariates_are_drawn_by_the_block_or_named_in_an_error() {
    let d = dir("missing");
    std::fs::write(
        d.join("cohort.csv"),
        "weight [kg],sex\n70,female\n80,male\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // age and cyp3a4 are missing and not drawn: one E0050 naming both.
    let c = compiled_in(
        &d,
        &trial("population from \"cohort.csv\" { ancestry european }"),
    );
    let m = codes_and_messages(&c);
    assert!(
        m.iter()
            .any(|(c, m)| c == "E0050" && m.contains("`cyp3a4`") && m.contains("`age`")),
        "{m:?}"
    );
    // Drawn by the block: fine; and a covariate both recorded and drawn is E0006.
    let ok = trial(
        "population from \"cohort.csv\" { ancestry european\n age ~ normal(mean: 50 year, sd: 10 year)\n cyp3a4 ~ lognormal(median: 100 pmol/mg, cv: 40%) }",
    );
    let c = compiled_in(&d, &ok);
    assert!(!c.has_errors(), "{:?}", codes_and_messages(&c));
    run_trial(&c, "t.twin", &opts(None)).unwrap_or_else(|e| panic!("{e}"));
    let both = trial(
        "population from \"cohort.csv\" { ancestry european\n weight ~ normal(mean: 70 kg, sd: 10 kg)\n age = 50 year\n cyp3a4 = 100 pmol/mg }",
    );
    let m = codes_and_messages(&compiled_in(&d, &both));
    assert!(
        m.iter()
            .any(|(c, m)| c == "E0006" && m.contains("`weight`")),
        "{m:?}"
    );
}

#[test]
fn malformed_cohorts_name_row_column_and_value() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("weight [kg],sex,cyp3a4,age\n", "no rows"),
        ("weight [kg],sex,cyp3a4,age\n70,female,100\n", "cells for"),
        (
            "weight [kg],sex,cyp3a4,age\n70,female,100,.\n",
            "row 2, column `age`, value `.`",
        ),
        (
            "weight [kg],sex,cyp3a4,age\nabc,female,100,40\n",
            "row 2, column `weight`, value `abc`",
        ),
        (
            "weight [kg],sex,cyp3a4,age\n70,other,100,40\n",
            "value `other`: not a level",
        ),
        (
            "weight [L],sex,cyp3a4,age\n70,female,100,40\n",
            "column `weight`",
        ),
        (
            "weight [kg,sex,cyp3a4,age\n70,female,100,40\n",
            "is not closed",
        ),
        (
            "weight,weight,sex,cyp3a4,age\n70,70,female,100,40\n",
            "given twice",
        ),
        (
            "weight,sex,cyp3a4,age,cyp2c9\n70,female,100,40,*9/*9\n",
            "not a diplotype",
        ),
        (
            "weight,sex [kg],cyp3a4,age\n70,female,100,40\n",
            "categorical",
        ),
        (
            "weight,sex,cyp3a4,age\n1e999,female,100,40\n",
            "not a finite number",
        ),
    ];
    let d = dir("bad");
    for (i, (text, expect)) in cases.iter().enumerate() {
        let f = format!("bad{i}.csv");
        std::fs::write(d.join(&f), text).unwrap_or_else(|e| panic!("{e}"));
        let c = compiled_in(
            &d,
            &trial(&format!("population from \"{f}\" {{ ancestry european }}")),
        );
        let m = codes_and_messages(&c);
        assert!(
            m.iter().any(|(c, m)| c == "E0050" && m.contains(expect)),
            "case {i}: expected `{expect}`, got {m:?}"
        );
    }
    // A file that does not exist.
    let c = compiled_in(
        &d,
        &trial("population from \"nope.csv\" { ancestry european }"),
    );
    assert!(
        codes_and_messages(&c)
            .iter()
            .any(|(c, m)| c == "E0050" && m.contains("nope.csv"))
    );
}
