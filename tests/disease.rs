//! The reusable PD and disease models of `stdlib/pd.twin` and `stdlib/disease.twin`, run through
//! the whole pipeline (`twin run`: check, lower, JIT, solve) and compared with independent figures:
//!
//! - indirect response models I-IV (Dayneka 1993): the baseline R0 = kin / kout without drug, the
//!   closed-form response at a constant concentration, and the steady state reached after a long
//!   constant infusion;
//! - the effect compartment (Sheiner 1979): Ce(t) in closed form after a concentration step and
//!   after an IV bolus;
//! - Friberg 2002 myelosuppression: the baseline is kept without drug, and a step through the
//!   transit chain is the Erlang(4, ktr) distribution whose mean is MTT = 4 / ktr;
//! - Simeoni 2004 tumour growth inhibition at a constant concentration: proliferating and first
//!   damaged compartments in closed form (the untreated growth phases are tested with
//!   `examples/oncology_tgi.twin` in tests/examples.rs);
//! - concentration-QTc: ΔΔQTc = slope · C and the Fridericia-corrected baseline;
//! - Hamberg 2007 warfarin INR: the stdlib part reproduces the inline model of
//!   `examples/warfarin_pgx.twin`, and INR stays at baseline without drug;
//! - TMDD (Mager & Jusko 2001): drug mass balance, total target conserved when kint = kdeg, and the
//!   quasi-steady-state approximation agreeing with the full model when binding is fast, and the
//!   Michaelis-Menten model agreeing with the QSS model for a small constant target;
//! - a model that leaves an `input` undefined is refused by `twin run` (E0037).

mod common;
use common::{column, table};

use twin::cmd::run::{Failure, Request, execute};
use twin::solve::{Method, SolveOptions};

fn tight() -> SolveOptions {
    SolveOptions {
        method: Method::Bdf,
        rtol: 1e-10,
        atol: 1e-12,
        ..Default::default()
    }
}

/// Runs `text` for one patient and returns the columns `names` (full headers) with the time in
/// hours as the first entry of every row.
fn run(
    text: &str,
    doses: &[&str],
    sets: &[&str],
    until: &str,
    every: &str,
    names: &[&str],
) -> Vec<Vec<f64>> {
    let req = Request {
        eliminated: true,
        name: "disease_test.twin".into(),
        text: text.into(),
        doses: doses.iter().map(|d| d.to_string()).collect(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        until: Some(until.into()),
        every: Some(every.into()),
        options: tight(),
        ..Default::default()
    };
    let (h, rows) = table(&req);
    let t = column(&h, "time [h]");
    let cols: Vec<usize> = names.iter().map(|n| column(&h, n)).collect();
    rows.iter()
        .map(|r| {
            let mut v = vec![r[t]];
            v.extend(cols.iter().map(|&c| r[c]));
            v
        })
        .collect()
}

fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    (got - want).abs() <= rel * want.abs() + abs
}

// ============================================================================ indirect response

/// The four indirect response models of Dayneka NL, Garg V, Jusko WJ. J Pharmacokinet Biopharm
/// 1993;21:457-478, with their stdlib default parameters (see stdlib/pd.twin): (name, R0, kout /h,
/// drug parameter max, drug parameter 50 % in mg/L).
const IDR: [(&str, f64, f64, f64, f64); 4] = [
    // Type I: warfarin PCA course estimates, kout = ln 2 / 13.3 h.
    (
        "IndirectResponseInhibitKin",
        0.959,
        std::f64::consts::LN_2 / 13.3,
        1.0,
        1.17,
    ),
    ("IndirectResponseInhibitKout", 1.0, 0.1, 0.8, 1.0),
    ("IndirectResponseStimulateKin", 1.0, 0.1, 2.0, 1.0),
    ("IndirectResponseStimulateKout", 1.0, 0.1, 2.0, 1.0),
];

/// The response at time t (h) after the concentration steps from 0 to c (mg/L) at t = 0, from
/// dR/dt = kin·a − kout·b·R with R(0) = R0 = kin/kout: R(t) = R∞ + (R0 − R∞)·e^{−kout·b·t},
/// R∞ = R0·a/b, where (a, b) = (1 − I, 1), (1, 1 − I), (1 + S, 1), (1, 1 + S) for types I-IV.
fn idr_closed_form(kind: usize, c: f64, t: f64) -> f64 {
    let (_, r0, kout, max, c50) = IDR[kind];
    let frac = max * c / (c50 + c);
    let (a, b) = match kind {
        0 => (1.0 - frac, 1.0),
        1 => (1.0, 1.0 - frac),
        2 => (1.0 + frac, 1.0),
        _ => (1.0, 1.0 + frac),
    };
    let r_inf = r0 * a / b;
    r_inf + (r0 - r_inf) * (-kout * b * t).exp()
}

/// A one-compartment IV model (k = 0.5 /h, V = 10 L) driving `base`.
fn with_one_compartment(import: &str, base: &str) -> String {
    format!(
        "use {import}.{base}\n\
         model M extends {base} {{\n\
             compartment central: mg\n\
             flow central -> out = 0.5/h * central\n\
             observe conc: mg/L = central / 10 L\n\
         }}\n"
    )
}

/// Without drug each indirect response model stays at its baseline R0 = kin / kout (to 1e-12).
#[test]
fn indirect_response_baseline_is_kin_over_kout() {
    for (name, r0, ..) in IDR {
        let rows = run(
            &with_one_compartment("pd", name),
            &[],
            &[],
            "100h",
            "5h",
            &["response [1]"],
        );
        assert_eq!(rows.len(), 21);
        for r in &rows {
            assert!(
                (r[1] - r0).abs() < 1e-12,
                "{name} at {} h: {} vs R0 {r0}",
                r[0],
                r[1]
            );
        }
    }
}

/// At a constant concentration (the input met by a `param`) each model follows its closed form
/// R(t) = R∞ + (R0 − R∞)·e^{−kout·b·t} to 1e-7 relative, including the analytic steady states
/// R0·(1 − I(C)), R0 / (1 − I(C)), R0·(1 + S(C)), R0 / (1 + S(C)).
#[test]
fn indirect_response_at_constant_concentration_follows_the_closed_form() {
    let c = 2.0;
    for (kind, (name, ..)) in IDR.iter().enumerate() {
        let text = format!(
            "use pd.{name}\nmodel M extends {name} {{\n    param conc: mg/L = {c} mg/L\n}}\n"
        );
        let rows = run(&text, &[], &[], "200h", "2h", &["response [1]"]);
        for r in &rows {
            let want = idr_closed_form(kind, c, r[0]);
            assert!(
                close(r[1], want, 1e-7, 0.0),
                "{name} at {} h: {} vs {want}",
                r[0],
                r[1]
            );
        }
    }
}

/// After a 400-h constant infusion into a one-compartment model (20 mg/h, k = 0.5 /h, V = 10 L,
/// so Css = 20 / (0.5 · 10) = 4 mg/L) the response equals the analytic steady state at 4 mg/L to
/// 1e-6 (the slowest approach, type II at rate kout·(1 − I) = 0.036 /h, leaves e^{−14} ≈ 8e-7 of
/// the initial gap).
#[test]
fn indirect_response_after_long_infusion_reaches_the_analytic_steady_state() {
    for (kind, (name, ..)) in IDR.iter().enumerate() {
        let rows = run(
            &with_one_compartment("pd", name),
            &["8000 mg into central rate 20 mg/h"],
            &[],
            "400h",
            "100h",
            &["conc [mg/L]", "response [1]"],
        );
        let last = rows.last().unwrap_or_else(|| panic!("{name}: no rows"));
        assert_eq!(last[0], 400.0);
        assert!(close(last[1], 4.0, 1e-9, 0.0), "{name}: Css {}", last[1]);
        let want = idr_closed_form(kind, 4.0, f64::INFINITY);
        assert!(
            close(last[2], want, 1e-6, 0.0),
            "{name}: R(400 h) {} vs R_ss {want}",
            last[2]
        );
    }
}

// ============================================================================ effect compartment

/// After a step to a constant C = 3 mg/L, Ce(t) = C·(1 − e^{−ke0·t}) with the default ke0 = 0.5 /h,
/// and the effect is Emax·Ce / (EC50 + Ce) with Emax 1, EC50 1 mg/L (Sheiner LB et al. Clin
/// Pharmacol Ther 1979;25:358-371). Tolerance 1e-7 relative (1e-12 absolute at t = 0).
#[test]
fn effect_compartment_after_a_concentration_step() {
    let text = "use pd.EffectCompartment\nmodel M extends EffectCompartment {\n    param conc: mg/L = 3 mg/L\n}\n";
    let rows = run(text, &[], &[], "12h", "0.25h", &["ce [mg/L]", "effect [1]"]);
    for r in &rows {
        let ce = 3.0 * (1.0 - (-0.5 * r[0]).exp());
        assert!(
            close(r[1], ce, 1e-7, 1e-12),
            "{} h: Ce {} vs {ce}",
            r[0],
            r[1]
        );
        let e = ce / (1.0 + ce);
        assert!(close(r[2], e, 1e-7, 1e-12), "{} h: E {} vs {e}", r[0], r[2]);
    }
}

/// After an IV bolus D = 100 mg into V = 10 L with k = 0.5 /h, C = (D/V)·e^{−k·t} and
/// Ce(t) = (D/V)·ke0/(ke0 − k)·(e^{−k·t} − e^{−ke0·t}); with ke0 = 1.5 /h (redefined in the derived
/// model's `biophase` pathway) the run agrees to 1e-7 relative.
#[test]
fn effect_compartment_after_an_iv_bolus() {
    let text = "use pd.EffectCompartment\n\
                model M extends EffectCompartment {\n\
                    compartment central: mg\n\
                    flow central -> out = 0.5/h * central\n\
                    let conc: mg/L = central / 10 L\n\
                    pathway biophase { param ke0: 1/h = 1.5/h }\n\
                }\n";
    let rows = run(
        text,
        &["100 mg into central"],
        &[],
        "24h",
        "0.5h",
        &["ce [mg/L]"],
    );
    let (c0, k, ke0) = (10.0, 0.5, 1.5);
    for r in &rows {
        let ce = c0 * ke0 / (ke0 - k) * ((-k * r[0]).exp() - (-ke0 * r[0]).exp());
        assert!(
            close(r[1], ce, 1e-7, 1e-12),
            "{} h: Ce {} vs {ce}",
            r[0],
            r[1]
        );
    }
}

// ============================================================================ Friberg

/// Friberg LE et al. J Clin Oncol 2002;20:4713-4721, docetaxel neutrophils: Circ0 5.05·10^9/L,
/// MTT 88.7 h. Without drug (a PK model never dosed) the count stays at Circ0 to 1e-12.
#[test]
fn friberg_keeps_the_baseline_without_drug() {
    let rows = run(
        &with_one_compartment("disease", "FribergMyelosuppression"),
        &[],
        &[],
        "60d",
        "1d",
        &["anc [Gcell/L]", "marrow.prol [Gcell/L]"],
    );
    for r in &rows {
        assert!(
            (r[1] - 5.05).abs() < 1e-12 && (r[2] - 5.05).abs() < 1e-12,
            "{r:?}"
        );
    }
}

/// A step through the maturation chain: with the feedback switched off (γ = 0) and no drug the
/// proliferating pool keeps its initial value, here doubled; the four first-order compartments of
/// the chain (three transit, one circulating, rate ktr = 4 / MTT) then pass the step on as the
/// Erlang(4, ktr) distribution: Circ(t) = Circ0·(1 + F(t)), F(t) = 1 − e^{−ktr·t}·Σ_{j<4}(ktr·t)^j/j!,
/// to 1e-7. Its mean, ∫(1 − F) dt by the trapezoid rule on a 0.5-h grid to 2000 h, is the published
/// MTT = 88.7 h = (n + 1) / ktr to 1e-4.
#[test]
fn friberg_transit_chain_has_the_mean_transit_time() {
    let text = "use disease.FribergMyelosuppression\n\
                model M extends FribergMyelosuppression {\n\
                    param conc: mg/L = 0 mg/L\n\
                    pathway marrow {\n\
                        param gamma: 1 = 0\n\
                        state prol: Gcell/L = 2 * circ0\n\
                    }\n\
                }\n";
    let rows = run(text, &[], &[], "2000h", "0.5h", &["anc [Gcell/L]"]);
    let (circ0, mtt) = (5.05, 88.7);
    let ktr = 4.0 / mtt;
    let mut mean = 0.0;
    for w in rows.windows(2) {
        let tail = |r: &Vec<f64>| 2.0 - r[1] / circ0;
        mean += (w[1][0] - w[0][0]) * (tail(&w[0]) + tail(&w[1])) / 2.0;
    }
    for r in &rows {
        let x = ktr * r[0];
        let f = 1.0 - (-x).exp() * (1.0 + x + x * x / 2.0 + x * x * x / 6.0);
        let want = circ0 * (1.0 + f);
        assert!(
            close(r[1], want, 1e-7, 0.0),
            "{} h: {} vs {want}",
            r[0],
            r[1]
        );
    }
    eprintln!("Friberg chain: mean transit time {mean:.5} h (MTT {mtt} h)");
    assert!(
        (mean / mtt - 1.0).abs() < 1e-4,
        "mean transit time {mean} h vs {mtt} h"
    );
}

// ============================================================================ Simeoni

/// Simeoni M et al. Cancer Res 2004;64:1094-1101 (λ0 0.273 /d, k1 0.968 /d, k2 0.000629 /d per
/// ng/mL). At a constant concentration C = 200 ng/mL and a small tumour (w0 = 0.01 mL, far below
/// λ1/λ0 = 2.98 mL, so the growth term is λ0·x1 to (λ0·w/λ1)^20 < 1e-18), the proliferating cells
/// follow x1 = w0·e^{r·t}, r = λ0 − k2·C, and the first damaged compartment
/// x2 = k2·C·w0·(e^{r·t} − e^{−k1·t}) / (r + k1), both to 1e-7 over 21 days.
#[test]
fn simeoni_at_constant_concentration_kills_at_k2_c() {
    let text = "use disease.SimeoniTGI\n\
                model M extends SimeoniTGI {\n\
                    param conc: ng/mL = 200 ng/mL\n\
                    pathway tumour { param w0: mL = 0.01 mL }\n\
                }\n";
    let rows = run(
        text,
        &[],
        &[],
        "21d",
        "12h",
        &["tumour.x1 [mL]", "tumour.x2 [mL]"],
    );
    let (l0, k1, k2, c, w0) = (0.273, 0.968, 0.000629, 200.0, 0.01);
    let r = l0 - k2 * c;
    for row in &rows {
        let t = row[0] / 24.0;
        let x1 = w0 * (r * t).exp();
        let x2 = k2 * c * w0 * ((r * t).exp() - (-k1 * t).exp()) / (r + k1);
        assert!(
            close(row[1], x1, 1e-7, 0.0),
            "day {t}: x1 {} vs {x1}",
            row[1]
        );
        assert!(
            close(row[2], x2, 1e-7, 1e-15),
            "day {t}: x2 {} vs {x2}",
            row[2]
        );
    }
}

// ============================================================================ QTc

/// Linear C-QTc with Florian 2011's moxifloxacin slope 3.1 ms per mg/L (classic_models.toml
/// [moxifloxacin_cqtc]): at C = 2.5 mg/L ΔΔQTc = 3.1 · 2.5 = 7.75 ms; with QT0 = 400 ms at
/// RR0 = 800 ms the Fridericia baseline is 400 / 0.8^(1/3) = 430.887 ms (computed here), and
/// QTcF = baseline + ΔΔQTc. Tolerance 1e-12 relative.
#[test]
fn qtc_change_is_slope_times_concentration() {
    let text = "use disease.ConcentrationQTc\n\
                model M extends ConcentrationQTc {\n\
                    param conc: mg/L = 2.5 mg/L\n\
                }\n";
    let rows = run(
        text,
        &[],
        &["qt0=400ms", "rr0=0.8s"],
        "2h",
        "1h",
        &["dqtc [ms]", "qtcf [ms]"],
    );
    let baseline = 400.0 / 0.8f64.powf(1.0 / 3.0);
    assert!((baseline - 430.887).abs() < 1e-3);
    for r in &rows {
        assert!(close(r[1], 7.75, 1e-12, 0.0), "ΔΔQTc {}", r[1]);
        assert!(close(r[2], baseline + 7.75, 1e-12, 0.0), "QTcF {}", r[2]);
    }
}

// ============================================================================ Hamberg warfarin

/// S-warfarin PK of examples/warfarin_pgx.twin for the typical patient (71 years, CYP2C9 *1/*1:
/// CL 0.314 L/h; Hamberg 2007 Table 2) driving the stdlib INR part.
const WARFARIN: &str = "use disease.HambergWarfarinInr\n\
    model W extends HambergWarfarinInr {\n\
        param fs: 1 = 0.5\n\
        param ka: 1/h = 2.0/h\n\
        param cl: L/h = 0.314 L/h\n\
        param v1: L = 13.8 L\n\
        param q: L/h = 0.131 L/h\n\
        param v2: L = 6.59 L\n\
        compartment gut: mg\n\
        compartment central: mg\n\
        compartment peripheral: mg\n\
        flow gut -> central = fs * ka * gut\n\
        flow gut -> out = (1 - fs) * ka * gut\n\
        flow central -> peripheral = q / v1 * central\n\
        flow peripheral -> central = q / v2 * peripheral\n\
        flow central -> out = cl / v1 * central\n\
        let conc: mg/L = central / v1\n\
    }\n";

/// Hamberg AK et al. Clin Pharmacol Ther 2007;81:529-538: the stdlib's `HambergWarfarinInr`
/// (driven by the same PK) gives the INR of the inline model in examples/warfarin_pgx.twin, a
/// second implementation of the same equations, to 1e-9 relative over 30 days of 5 mg daily, for
/// VKORC1 GG and AA; without drug INR stays at its baseline 1 (to 1e-12).
#[test]
fn hamberg_inr_matches_the_inline_warfarin_example() {
    let example = std::fs::read_to_string("examples/warfarin_pgx.twin")
        .unwrap_or_else(|e| panic!("examples/warfarin_pgx.twin: {e}"));
    for vkorc1 in ["vkorc1=GG", "vkorc1=AA"] {
        let dose = ["5 mg into gut every 24 h for 30 d"];
        let ours = run(WARFARIN, &dose, &[vkorc1], "30d", "6h", &["inr [1]"]);
        let req = Request {
            name: "examples/warfarin_pgx.twin".into(),
            text: example.clone(),
            doses: dose.iter().map(|d| d.to_string()).collect(),
            sets: vec![vkorc1.into()],
            until: Some("30d".into()),
            every: Some("6h".into()),
            options: tight(),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let inr = column(&h, "inr [1]");
        assert_eq!(ours.len(), rows.len());
        let mut peak: f64 = 0.0;
        for (a, b) in ours.iter().zip(&rows) {
            assert!(
                close(a[1], b[inr], 1e-9, 0.0),
                "{vkorc1} at {} h: {} vs {}",
                a[0],
                a[1],
                b[inr]
            );
            peak = peak.max(a[1]);
        }
        assert!(peak > 1.5, "{vkorc1}: INR never rises ({peak})");
    }
    for r in run(WARFARIN, &[], &[], "10d", "1d", &["inr [1]"]) {
        assert!((r[1] - 1.0).abs() < 1e-12, "{r:?}");
    }
}

// ============================================================================ TMDD

/// A derived TMDD model with a sizeable target: V 3 L, kel 0.1 /d, R0 2 nM, and the given binding
/// and turnover constants.
fn tmdd(base: &str, kon: f64, koff: f64, kint: f64, kdeg: f64) -> String {
    format!(
        "use disease.{base}\n\
         model T extends {base} {{\n\
             param kon: 1/nM/d = {kon}/nM/d\n\
             param koff: 1/d = {koff}/d\n\
             param kint: 1/d = {kint}/d\n\
             param kdeg: 1/d = {kdeg}/d\n\
             param r0: nM = 2 nM\n\
         }}\n"
    )
}

/// Mager DE, Jusko WJ. J Pharmacokinet Pharmacodyn 2001;28:507-532, full model. Drug mass balance:
/// free + bound + eliminated = the 30-nmol dose at every time (1e-9 relative); with kint = kdeg the
/// total target R + RC obeys d(Rtot)/dt = ksyn − kdeg·Rtot and stays R0 = 2 nM (1e-8 relative)
/// while the free target is depleted by binding.
#[test]
fn tmdd_full_conserves_drug_and_total_target() {
    let text = tmdd("TmddFull", 10.0, 1.0, 0.5, 0.5);
    let rows = run(
        &text,
        &["30 nmol into central"],
        &[],
        "40d",
        "12h",
        &[
            "central [nmol]",
            "complex [nmol]",
            "eliminated [nmol]",
            "total_target [nM]",
            "target [nM]",
        ],
    );
    let mut depleted = f64::INFINITY;
    for r in &rows {
        let total = r[1] + r[2] + r[3];
        assert!(
            close(total, 30.0, 1e-9, 0.0),
            "{} h: drug {total} nmol",
            r[0]
        );
        assert!(
            close(r[4], 2.0, 1e-8, 0.0),
            "{} h: total target {}",
            r[0],
            r[4]
        );
        depleted = depleted.min(r[5]);
    }
    assert!(depleted < 0.5, "free target never depleted ({depleted} nM)");
}

/// With fast binding (kon 1000 /nM/d, koff 1000 /d, KD 1 nM) the quasi-steady-state model
/// (Gibiansky 2008) gives the free drug and total target of the full model within 0.5 % from day 1
/// to day 30 after a 30-nmol dose, with kint 0.5 /d ≠ kdeg 1 /d so the target pool changes.
#[test]
fn tmdd_qss_agrees_with_the_full_model_when_binding_is_fast() {
    let names = ["conc [nM]", "total_target [nM]"];
    let dose = ["30 nmol into central"];
    let full = run(
        &tmdd("TmddFull", 1000.0, 1000.0, 0.5, 1.0),
        &dose,
        &[],
        "30d",
        "1d",
        &names,
    );
    let qss = run(
        &tmdd("TmddQss", 1000.0, 1000.0, 0.5, 1.0),
        &dose,
        &[],
        "30d",
        "1d",
        &names,
    );
    assert_eq!(full.len(), qss.len());
    let mut moved = false;
    let mut worst: f64 = 0.0;
    for (f, q) in full.iter().zip(&qss).skip(1) {
        assert!(
            close(q[1], f[1], 5e-3, 0.0),
            "{} h: free drug QSS {} vs full {}",
            f[0],
            q[1],
            f[1]
        );
        assert!(
            close(q[2], f[2], 5e-3, 0.0),
            "{} h: total target QSS {} vs full {}",
            f[0],
            q[2],
            f[2]
        );
        moved |= (f[2] - 2.0).abs() > 0.1;
        worst = worst
            .max((q[1] / f[1] - 1.0).abs())
            .max((q[2] / f[2] - 1.0).abs());
    }
    eprintln!("TMDD: largest relative QSS - full difference from day 1 to 30: {worst:.2e}");
    assert!(moved, "the total target never left its baseline");
}

// ============================================================================ inputs

/// A model whose input nothing defines cannot run: `twin run` reports E0037 instead.
#[test]
fn a_model_with_an_undefined_input_does_not_run() {
    let req = Request {
        name: "m.twin".into(),
        text: "use pd.EffectCompartment\nmodel M extends EffectCompartment {}\n".into(),
        until: Some("1h".into()),
        ..Default::default()
    };
    match execute(&req) {
        Err(Failure::Diagnostics(_, d)) => {
            assert!(
                d.iter().any(|d| d.code == "E0037"),
                "{:?}",
                d.iter().map(|d| d.code).collect::<Vec<_>>()
            );
        }
        Err(_) => panic!("expected E0037, got another failure"),
        Ok(_) => panic!("a model with an undefined input ran"),
    }
}

/// The Michaelis-Menten approximation (Kovalenko 2016 structure) is the limit of the QSS model when
/// the total target is constant (kint = kdeg = 10 /d) and small (R0 = 0.01 nM) against the drug:
/// with Vmax = kint·R0 = 0.1 per day and Km = Kss = (koff + kint)/kon = 1.01 (the same numbers in
/// mg/L as in nM, V 3 L, kel 0.1 /d, no peripheral exchange, a 30-unit IV dose) the free
/// concentrations agree within 1 % over 10 days, while the saturable route removes about a sixth of
/// the drug (without it the concentrations would differ by more than 10 %).
#[test]
fn tmdd_michaelis_menten_is_the_qss_limit_for_a_small_constant_target() {
    let qss = "use disease.TmddQss\n\
               model Q extends TmddQss {\n\
                   param kon: 1/nM/d = 1000/nM/d\n\
                   param koff: 1/d = 1000/d\n\
                   param kint: 1/d = 10/d\n\
                   param kdeg: 1/d = 10/d\n\
                   param r0: nM = 0.01 nM\n\
               }\n";
    let mm = "use disease.TmddMichaelisMenten\n\
              model M extends TmddMichaelisMenten {\n\
                  param v2: L = 3 L\n\
                  param kel: 1/d = 0.1/d\n\
                  param k23: 1/d = 0/d\n\
                  param vmax: mg/L/d = 0.1 mg/L/d\n\
                  param km: mg/L = 1.01 mg/L\n\
              }\n";
    let q = run(
        qss,
        &["30 nmol into central"],
        &[],
        "10d",
        "12h",
        &["conc [nM]"],
    );
    let m = run(
        mm,
        &["30 mg into central"],
        &[],
        "10d",
        "12h",
        &["conc [mg/L]"],
    );
    assert_eq!(q.len(), m.len());
    let mut worst: f64 = 0.0;
    for (a, b) in q.iter().zip(&m) {
        worst = worst.max((b[1] / a[1] - 1.0).abs());
        assert!(
            close(b[1], a[1], 1e-2, 0.0),
            "{} h: MM {} vs QSS {}",
            a[0],
            b[1],
            a[1]
        );
    }
    let linear_only = 10.0 * (-0.1f64 * 10.0).exp();
    let last = m.last().map(|r| r[1]).unwrap_or(f64::NAN);
    assert!(
        last < 0.9 * linear_only,
        "the saturable route is negligible ({last} vs {linear_only})"
    );
    eprintln!("TMDD: largest relative MM - QSS difference over 10 days: {worst:.2e}");
}

/// A bare `observe conc` shows a name declared elsewhere; it declares nothing, so a definition of
/// `conc` in an extending model replaces the definition, never the `observe`. Both when the base
/// leaves `conc` as an `input` and when it defines it with a `let` that the model replaces: the
/// observable is the model's own definition (10 mg / 10 L = 1 mg/L at t = 0).
#[test]
fn a_bare_observe_in_a_base_shows_the_extending_models_definition() {
    for base_def in ["input conc: mg/L", "let conc: mg/L = central / 7.4 L"] {
        let text = format!(
            "model Base {{\n    compartment central: mg\n    flow central -> out = 5 /h * central\n    \
             {base_def}\n    observe conc\n}}\n\
             model Drug extends Base {{\n    let conc: mg/L = central / 10 L\n}}\n"
        );
        let req = Request {
            name: "m.twin".into(),
            text,
            model: Some("Drug".into()),
            doses: vec!["10 mg into central".into()],
            until: Some("1h".into()),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let c = column(&h, "conc [mg/L]");
        assert_eq!(rows[0][c], 1.0, "base with `{base_def}`");
        let t = rows[rows.len() - 1][0];
        let want = (-5.0 * t).exp();
        assert!((rows[rows.len() - 1][c] - want).abs() < 1e-9 * want.max(1e-3));
    }
}
