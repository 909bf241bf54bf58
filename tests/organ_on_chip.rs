//! `examples/organ_on_chip.twin`: a liver-on-chip CLint fitted by `twin fit`, scaled into a
//! whole-body PBPK model of midazolam, with a receptor-occupancy and EEG layer and a virtual trial.
//! Checked here:
//! - re-fitting the bundled chip data (`examples/data/liver_chip.csv`) with the CLI's default
//!   settings gives the bundled `examples/data/liver_chip_fit/` files to the byte;
//! - the estimate is the least-squares estimate of the closed form C(t) = C0·exp(−k t),
//!   k = CLint·cells·fu_inc/V, found here by a golden-section search over CLint on the same
//!   objective, Σ (y − f)²/σ² + ln σ² with σ² = a² + (b f)² (the chip model has no `vary`, so there
//!   is no prior term); the predictions in `predictions.csv` are the closed form at the estimate;
//! - `Midazolam` uses that estimate, rounded to the 4 significant digits written in the file;
//! - the trial runs without a failed patient, and every patient's AUC over 14 days is
//!   dose / CL, with CL the well-stirred hepatic clearance computed here from the patient's sex,
//!   weight and random effects (see `well_stirred_clearance`).

mod common;
use common::{compiled, read, typical_param};

use twin::cmd::fit::{FitRequest, FitResult, fit};
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::SolveOptions;

const MODEL: &str = "examples/organ_on_chip.twin";
const DATA: &str = "examples/data/liver_chip.csv";
const BUNDLED: &str = "examples/data/liver_chip_fit";

/// The chip experiment as the model states it: medium volume (µL), hepatocytes (millions),
/// fraction unbound in the medium, and the residual error model (additive SD in µM, proportional
/// SD as a fraction).
const VOLUME_UL: f64 = 1000.0;
const CELLS: f64 = 0.15;
const FU_INC: f64 = 0.8;
const ADDITIVE: f64 = 0.005;
const PROPORTIONAL: f64 = 0.05;

/// `twin fit examples/organ_on_chip.twin --model LiverChip --data examples/data/liver_chip.csv
/// --estimate clint --out examples/data/liver_chip_fit`, with the command's defaults.
fn refit() -> FitResult {
    fit(&FitRequest {
        name: MODEL.into(),
        text: read(MODEL),
        model: Some("LiverChip".into()),
        data: read(DATA),
        estimate: vec!["clint".into()],
        seed: 1,
        starts: 1,
        draws: 200,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The estimated CLint (µL/min per 10^6 cells).
fn estimate(r: &FitResult) -> f64 {
    assert_eq!(r.thetas.len(), 1);
    assert_eq!(r.thetas[0].name, "clint");
    assert_eq!(r.thetas[0].unit, "µL/min");
    r.thetas[0].value
}

/// One chip of the dataset: the dose (nmol, into 1 mL) and the measurements (h, µM).
struct Chip {
    id: String,
    dose_nmol: f64,
    samples: Vec<(f64, f64)>,
}

/// The dataset read by hand (ID, TIME [h], AMT [nmol], CMT, EVID, DV [µM]).
fn chips() -> Vec<Chip> {
    let text = read(DATA);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    assert_eq!(
        header,
        ["ID", "TIME [h]", "AMT [nmol]", "CMT", "EVID", "DV [µM]"]
    );
    let mut out: Vec<Chip> = Vec::new();
    for line in lines {
        let r: Vec<&str> = line.split(',').collect();
        let num = |i: usize| -> f64 { r[i].parse().unwrap_or_else(|e| panic!("{line}: {e}")) };
        if out.last().is_none_or(|c| c.id != r[0]) {
            out.push(Chip {
                id: r[0].to_string(),
                dose_nmol: 0.0,
                samples: Vec::new(),
            });
        }
        let chip = out.last_mut().unwrap_or_else(|| unreachable!());
        match r[4] {
            "1" => {
                assert_eq!((num(1), r[3]), (0.0, "medium"), "{line}");
                chip.dose_nmol += num(2);
            }
            "0" => chip.samples.push((num(1), num(5))),
            e => panic!("EVID {e} in {line}"),
        }
    }
    out
}

/// Medium concentration (µM) of a chip at `t` h for CLint `clint` (µL/min per 10^6 cells).
fn closed_form(chip: &Chip, clint: f64, t: f64) -> f64 {
    let k_per_min = clint * CELLS * FU_INC / VOLUME_UL;
    chip.dose_nmol / (VOLUME_UL / 1000.0) * (-k_per_min * 60.0 * t).exp()
}

/// The objective of `twin fit` without random effects: Σ (y − f)²/σ² + ln σ².
fn objective(chips: &[Chip], clint: f64) -> f64 {
    let mut total = 0.0;
    for chip in chips {
        for &(t, y) in &chip.samples {
            let f = closed_form(chip, clint, t);
            let var = ADDITIVE * ADDITIVE + (PROPORTIONAL * f).powi(2);
            total += (y - f).powi(2) / var + var.ln();
        }
    }
    total
}

/// Golden-section search for the minimum of `f` on [lo, hi].
fn golden_section(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut fa, mut fb) = (f(a), f(b));
    while hi - lo > 1e-12 * hi {
        if fa < fb {
            hi = b;
            (b, fb) = (a, fa);
            a = hi - g * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            (a, fa) = (b, fb);
            b = lo + g * (hi - lo);
            fb = f(b);
        }
    }
    (lo + hi) / 2.0
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

/// The model states the chip design the closed form above assumes.
#[test]
fn the_chip_model_is_the_experiment_of_the_closed_form() {
    let c = compiled(MODEL, &read(MODEL));
    assert_eq!(typical_param(&c, "LiverChip", "volume"), 1.0, "mL");
    assert_eq!(typical_param(&c, "LiverChip", "cells"), CELLS);
    assert_eq!(typical_param(&c, "LiverChip", "fu_inc"), FU_INC);
    // The whole-body model scales with the chip's fu_inc.
    assert_eq!(typical_param(&c, "Midazolam", "fu_inc"), FU_INC);
    let m = c
        .program
        .models
        .iter()
        .find(|m| m.name == "LiverChip")
        .unwrap_or_else(|| panic!("no LiverChip"));
    assert_eq!(m.observables.len(), 1);
    let e = m.observables[0].error;
    assert_eq!((e.additive, e.proportional), (ADDITIVE, PROPORTIONAL));
}

/// `examples/data/liver_chip_fit` is what `twin fit` gives for the bundled data: every file the
/// same bytes.
#[test]
fn refitting_the_chips_gives_the_bundled_fit() {
    let r = refit();
    assert_eq!(
        r.individuals_csv(),
        read(&format!("{BUNDLED}/individuals.csv"))
    );
    assert_eq!(
        r.predictions_csv(),
        read(&format!("{BUNDLED}/predictions.csv"))
    );
    assert_eq!(r.json(), read(&format!("{BUNDLED}/fit.json")));
    assert_eq!(r.subjects.len(), 3);
    assert!(r.warnings.is_empty(), "{}", r.warnings);
}

/// The fitted CLint equals the least-squares estimate of the closed form (golden-section search
/// over CLint from 1 to 1000 µL/min) to 1e-6, the objectives agree, and every IPRED of
/// `predictions.csv` is the closed form at the estimate.
#[test]
fn the_estimate_is_the_least_squares_clint_of_the_closed_form() {
    let r = refit();
    let chips = chips();
    assert_eq!(chips.len(), 3);
    let twin = estimate(&r);
    let ours = golden_section(|clint| objective(&chips, clint), 1.0, 1000.0);
    eprintln!(
        "CLint: twin fit {twin} µL/min, golden section {ours} µL/min (relative difference {:.1e})",
        rel(twin, ours)
    );
    assert!(rel(twin, ours) <= 1e-6, "twin {twin} vs {ours}");
    // The objective at the estimate: the sum of the subjects' objectives.
    let total: f64 = r
        .subjects
        .iter()
        .map(|s| s.fit.as_ref().map_or(f64::NAN, |f| f.objective))
        .sum();
    assert!(rel(total, objective(&chips, twin)) <= 1e-9, "{total}");
    assert!(objective(&chips, ours) >= objective(&chips, twin) - 1e-9);
    // Predictions: one per measurement, in file order, PRED = IPRED (no random effects).
    let mut rows = 0;
    for (s, chip) in r.subjects.iter().zip(&chips) {
        assert_eq!(s.id, chip.id);
        assert_eq!(s.predictions.len(), chip.samples.len());
        for (p, &(t, y)) in s.predictions.iter().zip(&chip.samples) {
            let want = closed_form(chip, twin, t);
            assert_eq!((p.time, p.dv), (t, Some(y)));
            assert_eq!(p.pred, p.ipred);
            assert!(rel(p.ipred, want) <= 1e-9, "{} at {t} h", chip.id);
            rows += 1;
        }
    }
    assert_eq!(rows, 27);
}

/// The whole-body model's `clint_chip` is the estimate rounded to 4 significant digits.
#[test]
fn the_whole_body_model_uses_the_fitted_clint() {
    let text = read(MODEL);
    let c = compiled(MODEL, &text);
    let written = typical_param(&c, "Midazolam", "clint_chip");
    let fitted = estimate(&refit());
    let rounded: f64 = format!("{fitted:.3e}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("CLint fitted {fitted}, written {written}");
    assert_eq!(written, rounded);
    assert!(text.contains(&format!("param clint_chip: µL/min = {rounded} µL/min")));
}

// ============================================================================ the trial

/// ICRP 89 reference adult (stdlib `physiology.ReferenceAdult`): reference weight (kg), cardiac
/// output (L/h) at that weight, liver blood flow as a fraction of cardiac output, liver mass (g).
fn reference_adult(female: bool) -> (f64, f64, f64, f64) {
    if female {
        (60.0, 5.9 * 60.0, 0.27, 1400.0)
    } else {
        (73.0, 6.5 * 60.0, 0.255, 1800.0)
    }
}

/// Plasma clearance (L/h) of a patient of `Midazolam`: only the liver eliminates (no renal or
/// gut-wall clearance), so integrating every compartment's mass balance from 0 to ∞ gives
/// dose = CL_B·∫C_venous dt with the well-stirred blood clearance
/// CL_B = Q_H·fu_b·CLint,u / (Q_H + fu_b·CLint,u), fu_b = fu/BP, whatever the partition
/// coefficients: ∫ of every non-eliminating tissue's outflow equals ∫ of its arterial inflow, the
/// liver's outflow is Q_H/(Q_H + fu_b·CLint,u) times its inflow, and arterial and venous
/// integrals are equal through the lung. The plasma clearance is BP·CL_B.
fn well_stirred_clearance(female: bool, weight: f64, eta_clint: f64, eta_fu: f64) -> f64 {
    let (ref_weight, co, fq_liver, m_liver) = reference_adult(female);
    let size = weight / ref_weight;
    let q_liver = fq_liver * co * size.powf(0.75);
    // CLint,chip (µL/min per 10^6 cells) × 99 × 10^6 cells/g × liver mass (g) → L/h.
    let clint_u = 59.82 * 99.0 * m_liver * size * 60e-6 * eta_clint.exp();
    let bp = 283.0 / 502.0;
    let fu_b = 0.031 * eta_fu.exp() / bp;
    bp * q_liver * fu_b * clint_u / (q_liver + fu_b * clint_u)
}

/// `Sedation`: 500 patients × 2 arms, none failed; each patient's AUC over 14 days (by then the
/// concentration has fallen more than a million-fold, so this is AUC0-∞ up to a tail far below
/// the tolerance) equals dose / CL for its sex, weight and η to 1e-6, dose = 0.05 or 0.1 mg/kg.
#[test]
fn every_patient_s_auc_is_dose_over_the_well_stirred_clearance() {
    let dir = std::env::temp_dir().join(format!("twin-organ-on-chip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = compiled(MODEL, &read(MODEL));
    let summary = run_trial(
        &c,
        MODEL,
        &TrialOptions {
            trial: Some("Sedation".into()),
            seed: 1,
            n: None,
            shard: None,
            solve: SolveOptions::default(),
            out: Some(dir.clone()),
            progress: false,
            trajectories: false,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.arms.len(), 2);
    for a in &summary.arms {
        assert_eq!((a.patients, a.failed), (500, 0), "arm {}", a.arm);
    }
    let text = read(dir.join("patients.csv").to_str().unwrap_or_default());
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    let (mut worst, mut n) = (0.0f64, 0);
    for line in lines {
        let r: Vec<&str> = line.split(',').collect();
        let f = |name: &str| -> f64 {
            r[col(name)]
                .parse()
                .unwrap_or_else(|e| panic!("{name} in {line}: {e}"))
        };
        assert_eq!(r[col("error")], "", "{line}");
        let weight = f("weight [kg]");
        let per_kg = match r[col("arm")] {
            "low" => 0.05,
            "high" => 0.1,
            a => panic!("arm {a}"),
        };
        let female = match r[col("sex")] {
            "female" => true,
            "male" => false,
            s => panic!("sex {s}"),
        };
        let cl = well_stirred_clearance(female, weight, f("eta(clint_u)"), f("eta(fu)"));
        let want = per_kg * weight / cl;
        let e = rel(f("auc [mg·h/L]"), want);
        worst = worst.max(e);
        assert!(
            e <= 1e-6,
            "{line}: AUC {} vs dose/CL {want}",
            f("auc [mg·h/L]")
        );
        n += 1;
    }
    assert_eq!(n, 1000);
    eprintln!("Sedation, 1000 patient-arms: AUC vs dose/CL, max relative deviation {worst:.1e}");
    let _ = std::fs::remove_dir_all(&dir);
}
