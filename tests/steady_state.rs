//! Doses at steady state (`at steady state`, NONMEM SS=1) against closed forms: the
//! one-compartment oral model (Bateman superposed to infinity) with and without a lag time and
//! bioavailability, the IV bolus, zero-order infusions shorter and longer than the interval, the
//! two-compartment IV bolus; and for a nonlinear model (Michaelis–Menten elimination) the limit
//! of repeated dosing.

use twin::cmd::run::{Request, simulate};
use twin::solve::{Method, SolveOptions};

/// Concentrations (`conc`, the first observable) at the grid times of a run.
fn run(model: &str, dose: &str, until: &str, every: &str, opts: SolveOptions) -> Vec<(f64, f64)> {
    let t = simulate(&Request {
        name: "ss.twin".into(),
        text: model.into(),
        doses: vec![dose.into()],
        until: Some(until.into()),
        every: Some(every.into()),
        options: opts,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{dose}: {e}"));
    let s = &t.subjects[0].sim;
    (0..s.times.len())
        .map(|k| (s.times[k], s.observable(k, 0)))
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

const ORAL: &str = r#"
model Oral {
    param ka: 1/h = 1.2 /h
    param cl: L/h = 4 L/h
    param v: L = 30 L
    compartment gut: mg
    compartment central: mg
    flow gut -> central = ka * gut
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
"#;

/// Steady state of the Bateman function: Σⱼ c₁(t + jτ) = D·ka/(V(ka − k))·(e^{−kt}/(1 − e^{−kτ})
/// − e^{−ka·t}/(1 − e^{−ka·τ})), t the time since the last dose.
fn oral_ss(t: f64, dose: f64, tau: f64) -> f64 {
    let (ka, k, v) = (1.2, 4.0 / 30.0, 30.0);
    dose * ka / (v * (ka - k))
        * ((-k * t).exp() / (1.0 - (-k * tau).exp()) - (-ka * t).exp() / (1.0 - (-ka * tau).exp()))
}

#[test]
fn oral_steady_state_is_the_bateman_sum() {
    let c = run(
        ORAL,
        "100 mg into gut every 12 h at steady state",
        "48h",
        "0.5h",
        SolveOptions::default(),
    );
    for &(t, v) in &c {
        let want = oral_ss(t % 12.0, 100.0, 12.0);
        assert!(rel(v, want) < 1e-9, "t = {t}: {v} vs {want}");
    }
    // Through the integrator instead of the exact path: the same to the solver tolerance.
    let bdf = run(
        ORAL,
        "100 mg into gut every 12 h at steady state",
        "24h",
        "1h",
        SolveOptions {
            method: Method::Bdf,
            rtol: 1e-10,
            atol: 1e-12,
            ..Default::default()
        },
    );
    for &(t, v) in &bdf {
        let want = oral_ss(t % 12.0, 100.0, 12.0);
        assert!(rel(v, want) < 1e-6, "bdf t = {t}: {v} vs {want}");
    }
}

#[test]
fn lag_and_bioavailability_shift_and_scale_the_steady_state() {
    let c = run(
        ORAL,
        "100 mg into gut every 12 h lag 1.5 h bioavailability 80% at steady state",
        "24h",
        "0.25h",
        SolveOptions::default(),
    );
    for &(t, v) in &c {
        // The absorbed doses are 80 mg at 1.5 h, 13.5 h, …: the Bateman sum 1.5 h later.
        let want = oral_ss((t - 1.5).rem_euclid(12.0), 80.0, 12.0);
        assert!(rel(v, want) < 1e-9, "t = {t}: {v} vs {want}");
    }
}

const IV: &str = r#"
model Iv {
    param cl: L/h = 5 L/h
    param v: L = 50 L
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
"#;

#[test]
fn iv_bolus_and_infusions_at_steady_state() {
    let (k, v) = (0.1, 50.0);
    // Bolus: D/V·e^{−kt}/(1 − e^{−kτ}).
    let c = run(
        IV,
        "500 mg into central every 8 h at steady state",
        "16h",
        "0.5h",
        SolveOptions::default(),
    );
    for &(t, x) in &c {
        let s = t % 8.0;
        let want = 500.0 / v * (-k * s).exp() / (1.0 - (-k * 8.0_f64).exp());
        assert!(rel(x, want) < 1e-9, "bolus t = {t}: {x} vs {want}");
    }
    // Infusions of duration T every τ: the single-infusion response superposed over the past
    // doses (a geometric series, summed here term by term until it is below rounding).
    let single = |t: f64, rate: f64, dur: f64| -> f64 {
        if t <= 0.0 {
            0.0
        } else if t <= dur {
            rate / (k * v) * (1.0 - (-k * t).exp())
        } else {
            rate / (k * v) * (1.0 - (-k * dur).exp()) * (-k * (t - dur)).exp()
        }
    };
    for (dose, dur, tau) in [
        ("600 mg", 2.0, 12.0),
        ("600 mg", 30.0, 12.0),
        ("240 mg", 8.0, 8.0),
    ] {
        let amount: f64 = dose.trim_end_matches(" mg").parse().unwrap_or(f64::NAN);
        let text = format!("{dose} into central over {dur} h every {tau} h at steady state");
        let c = run(IV, &text, "36h", "0.5h", SolveOptions::default());
        for &(t, x) in &c {
            // Doses every τ up to t (the regimen goes on after the steady-state dose at 0).
            let want: f64 = (0..4000)
                .map(|j| single(t % tau + j as f64 * tau, amount / dur, dur))
                .sum();
            assert!(rel(x, want) < 1e-9, "{text}: t = {t}: {x} vs {want}");
        }
        // A continuous infusion (T = τ) sits at its plateau rate/CL.
        if dur == tau {
            for &(_, x) in &c {
                assert!(rel(x, amount / dur / 5.0) < 1e-9, "plateau {x}");
            }
        }
    }
}

#[test]
fn two_compartment_steady_state_is_the_biexponential_sum() {
    let model = r#"
model Two {
    param cl: L/h = 6 L/h
    param v1: L = 20 L
    param q: L/h = 10 L/h
    param v2: L = 60 L
    compartment central: mg
    compartment periph: mg
    flow central -> out = cl / v1 * central
    flow central -> periph = q / v1 * central
    flow periph -> central = q / v2 * periph
    observe conc: mg/L = central / v1
}
"#;
    let (cl, v1, q, v2): (f64, f64, f64, f64) = (6.0, 20.0, 10.0, 60.0);
    let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
    let s = k10 + k12 + k21;
    let disc = (s * s - 4.0 * k10 * k21).sqrt();
    let (alpha, beta) = ((s + disc) / 2.0, (s - disc) / 2.0);
    let dose = 1000.0;
    let a = dose / v1 * (alpha - k21) / (alpha - beta);
    let b = dose / v1 * (k21 - beta) / (alpha - beta);
    let tau = 24.0;
    let c = run(
        model,
        "1000 mg into central every 24 h at steady state",
        "48h",
        "1h",
        SolveOptions::default(),
    );
    for &(t, x) in &c {
        let u = t % tau;
        let want = a * (-alpha * u).exp() / (1.0 - (-alpha * tau).exp())
            + b * (-beta * u).exp() / (1.0 - (-beta * tau).exp());
        assert!(rel(x, want) < 1e-9, "t = {t}: {x} vs {want}");
    }
}

#[test]
fn nonlinear_steady_state_is_the_limit_of_repeated_dosing() {
    let model = r#"
model Mm {
    param vmax: mg/h = 20 mg/h
    param km: mg/L = 2 mg/L
    param v: L = 40 L
    param ka: 1/h = 0.8 /h
    compartment gut: mg
    compartment central: mg
    flow gut -> central = ka * gut
    flow central -> out = vmax * (central / v) / (km + central / v)
    observe conc: mg/L = central / v
}
"#;
    let tight = SolveOptions {
        method: Method::Bdf,
        rtol: 1e-10,
        atol: 1e-12,
        ..Default::default()
    };
    let ss = run(
        model,
        "150 mg into gut every 12 h at steady state",
        "12h",
        "1h",
        tight,
    );
    // 50 intervals of ordinary dosing from zero: the last interval (600–612 h) is periodic.
    let repeated = run(
        model,
        "150 mg into gut every 12 h times 51",
        "612h",
        "1h",
        tight,
    );
    for (k, &(t, x)) in ss.iter().enumerate() {
        let (t50, y) = repeated[600 + k];
        assert_eq!(t50, t + 600.0);
        assert!(rel(x, y) < 1e-6, "t = {t}: steady state {x}, dose 51 {y}");
    }
    // The default tolerances give the same steady state to about their own accuracy.
    let loose = run(
        model,
        "150 mg into gut every 12 h at steady state",
        "12h",
        "1h",
        SolveOptions::default(),
    );
    for (a, b) in loose.iter().zip(&ss) {
        assert!(rel(a.1, b.1) < 1e-4, "{a:?} vs {b:?}");
    }
}

#[test]
fn a_steady_state_dose_without_an_interval_is_an_error() {
    let e = simulate(&Request {
        name: "ss.twin".into(),
        text: ORAL.into(),
        doses: vec!["100 mg into gut at steady state".into()],
        until: Some("12h".into()),
        ..Default::default()
    })
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("needs its interval"), "{e}");
}

/// The median of endpoint `name` in arm `arm` of a trial summary.
fn endpoint(s: &twin::trial::output::Summary, arm: &str, name: &str) -> f64 {
    let g = s.arms.iter().find(|g| g.arm == arm).expect("arm");
    let e = g
        .endpoints
        .iter()
        .find(|e| e.endpoint == name)
        .expect("endpoint");
    e.stats.map_or(f64::NAN, |s| s[0])
}

#[test]
fn trial_arms_at_steady_state_have_the_closed_form_endpoints() {
    let text = format!(
        "{ORAL}
trial Ss {{
    model Oral
    arm oral {{ dose 100 mg into gut every 12 h at steady state }}
    arm infusion {{ dose 100 mg into central over 16 h every 12 h at steady state }}
    sample every 1 h until 24 h
    endpoint auc_tau = auc(conc, from 0 h to 12 h)
    endpoint cmax = max(conc, from 0 h to 12 h)
    endpoint tmax = tmax(conc, from 0 h to 12 h)
    endpoint trough_12 = trough(conc, 12 h)
    endpoint c_3_3 = value(conc, 3.3 h)
    endpoint c_3 = value(conc, 3 h)
}}
"
    );
    let c = twin::driver::compile("ss.twin", &text);
    let opts = twin::cmd::trial::TrialOptions {
        n: None,
        trial: None,
        seed: 1,
        shard: None,
        solve: SolveOptions::default(),
        out: None,
        progress: false,
        trajectories: false,
    };
    let s = twin::cmd::trial::run_trial(&c, "ss.twin", &opts).unwrap_or_else(|e| panic!("{e}"));
    let (dose, tau, cl) = (100.0, 12.0, 4.0);
    // Over one interval at steady state everything dosed is eliminated: AUC_τ = F·D/CL.
    assert!(rel(endpoint(&s, "oral", "auc_tau"), dose / cl) < 1e-9);
    let inf = endpoint(&s, "infusion", "auc_tau");
    assert!(rel(inf, dose / cl) < 1e-9, "{inf}");
    // The pre-dose trough at 12 h is the steady state just before a dose.
    assert!(rel(endpoint(&s, "oral", "trough_12"), oral_ss(tau, dose, tau)) < 1e-9);
    assert!(rel(endpoint(&s, "oral", "c_3_3"), oral_ss(3.3, dose, tau)) < 1e-9);
    // Cmax and tmax: the root of the derivative of the steady-state Bateman sum, by bisection.
    let (ka, k) = (1.2, 4.0 / 30.0);
    let slope = |t: f64| {
        -k * (-k * t).exp() / (1.0 - (-k * tau).exp())
            + ka * (-ka * t).exp() / (1.0 - (-ka * tau).exp())
    };
    let (mut a, mut b) = (0.0, tau);
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        if slope(m) > 0.0 { a = m } else { b = m }
    }
    let tmax = 0.5 * (a + b);
    assert!(rel(endpoint(&s, "oral", "cmax"), oral_ss(tmax, dose, tau)) < 1e-9);
    // `twin run --arm` solves the same patient: the same value to the last bit.
    for arm in ["oral", "infusion"] {
        let t = simulate(&Request {
            name: "ss.twin".into(),
            text: text.clone(),
            arm: Some(arm.into()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let sim = &t.subjects[0].sim;
        let k = sim.times.iter().position(|&t| t == 3.0).expect("3 h");
        assert_eq!(
            sim.observable(k, 0).to_bits(),
            endpoint(&s, arm, "c_3").to_bits()
        );
    }
    // tmax to the square root of rounding (the maximum is flat).
    assert!(
        (endpoint(&s, "oral", "tmax") - tmax).abs() < 1e-5,
        "{}",
        endpoint(&s, "oral", "tmax")
    );
}
