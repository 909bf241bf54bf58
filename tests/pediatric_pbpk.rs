//! examples/pediatric_pbpk.twin: the child doses found by `find dose` against the model's own
//! steady-state clearance.
//!
//! The model is linear, so the AUC over a dosing interval at steady state after an intravenous
//! regimen is dose / CL, with CL the well-stirred hepatic plus renal clearance of the patient
//! (matured intrinsic clearance, matured filtration, the age's liver flow). The example observes
//! that clearance (`cl_total`, a per-patient constant); `twin run --set age=… --set weight=…` reads
//! it for each age without simulating a dose. Matching the adult's AUC then needs
//! dose_child / dose_adult = CL_child / CL_adult, i.e. a factor on the written child regimen
//! (4 mg/kg × the child's weight, against 4 mg/kg × 73 kg) of CL_child / CL_adult × 73 / weight.
//! The trial reaches that factor by simulating the 18-compartment model over 28 days and searching;
//! the two agree within 0.02 % (search tolerance 0.01 % on the AUC, and the last interval of day 28
//! is within 0.003 % of steady state).

mod common;

use common::{column, table};
use twin::cmd::run::Request;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::{Method, SolveOptions};

const FILE: &str = "examples/pediatric_pbpk.twin";

fn source() -> String {
    std::fs::read_to_string(FILE).unwrap_or_else(|e| panic!("{FILE}: {e}"))
}

fn options() -> SolveOptions {
    SolveOptions {
        method: Method::Auto,
        rtol: 1e-8,
        atol: 1e-10,
        ..Default::default()
    }
}

/// The model's total clearance (L/h) of the typical patient of an age and weight.
fn clearance(age_years: f64, weight_kg: f64) -> f64 {
    let (h, rows) = table(&Request {
        name: FILE.into(),
        text: source(),
        model: Some("PediatricVoriconazole".into()),
        sets: vec![
            format!("age={age_years}year"),
            format!("weight={weight_kg}kg"),
        ],
        until: Some("1h".into()),
        every: Some("1h".into()),
        options: options(),
        ..Default::default()
    });
    rows[0][column(&h, "cl_total [L/h]")]
}

#[test]
fn child_doses_match_the_clearance_ratio() {
    let c = twin::driver::compile(FILE, &source());
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    let opts = TrialOptions {
        n: None,
        trial: None,
        seed: 1,
        shard: None,
        solve: options(),
        out: None,
        progress: false,
        trajectories: false,
    };
    let s = run_trial(&c, FILE, &opts).unwrap_or_else(|e| panic!("{e}"));
    let cl_adult = clearance(30.0, 73.0);
    // ICRP 89 reference boys (Table 2.9): 10, 19, 32 and 56 kg at 1, 5, 10 and 15 years; the adult
    // is the reference man, 73 kg.
    let mut mg_per_kg = Vec::new();
    for (arm, age, weight) in [
        ("child_1y", 1.0, 10.0),
        ("child_5y", 5.0, 19.0),
        ("child_10y", 10.0, 32.0),
        ("child_15y", 15.0, 56.0),
    ] {
        let found = s.meta.dose_search.iter().find(|f| f.arm == arm);
        let found = found.unwrap_or_else(|| panic!("no dose search for {arm}"));
        let expected = clearance(age, weight) / cl_adult * 73.0 / weight;
        assert!(
            ((found.factor - expected) / expected).abs() < 2e-4,
            "{arm}: factor {} vs CL ratio {expected}",
            found.factor
        );
        // The maintenance dose the child receives, from the dose text (4 mg/kg × weight × factor).
        let maintenance = format!(
            "{} mg into venous over 2 h at 24 h",
            twin::trial::optimize::sig4(4.0 * weight * found.factor)
        );
        assert!(
            found.doses.iter().any(|d| d.starts_with(&maintenance)),
            "{arm}: {:?} vs {maintenance}",
            found.doses
        );
        mg_per_kg.push(4.0 * found.factor);
    }
    // Physiology (a sanity check, not the main assertion): from 5 years on, the dose per kg falls
    // with age toward the adult's 4 mg/kg — younger children have larger livers and cardiac outputs
    // per kg. At 1 year the immature CYP2C19 and CYP3A4 (Johnson 2006: 66 % and 76 % of adult
    // activity) outweigh the larger liver, and the dose per kg is below the 5-year-old's.
    let [m1, m5, m10, m15] = [mg_per_kg[0], mg_per_kg[1], mg_per_kg[2], mg_per_kg[3]];
    assert!(m5 > m10 && m10 > m15, "{mg_per_kg:?}");
    assert!(m5 > 4.0, "{mg_per_kg:?}");
    assert!(m1 < m5, "{mg_per_kg:?}");
    // The label's 2-12-year dose is twice the adult's per kg (8 against 4 mg/kg every 12 h, see the
    // example's notes); this linear model, without the adults' saturable clearance, needs less than
    // that for a 5-year-old, but more than the adult dose.
    assert!(m5 / 4.0 > 1.0 && m5 / 4.0 < 2.0, "{}", m5 / 4.0);
}
