//! The flagship examples against published or independently computed figures:
//! - `examples/theophylline.twin` against the Boeckmann theophylline data and the Pinheiro & Bates
//!   population fit;
//! - `examples/qt_risk.twin`: the fraction of subjects with ΔΔQTc > 10 ms per dose level against a
//!   Monte Carlo computation from the closed-form two-compartment concentrations;
//! - `examples/oncology_tgi.twin`: Simeoni growth phases in closed form, the Friberg steady state,
//!   rates monotone in dose intensity, and the summary table.

mod common;
use common::{column, compiled, read, table};

use twin::cmd::run::Request;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::{Method, SolveOptions};
use twin::trial::output::Summary;

fn tight() -> SolveOptions {
    SolveOptions {
        method: Method::Bdf,
        rtol: 1e-8,
        atol: 1e-12,
        ..Default::default()
    }
}

fn trial_options(trial: Option<&str>, out: Option<std::path::PathBuf>) -> TrialOptions {
    TrialOptions {
        n: None,
        trial: trial.map(str::to_string),
        seed: 1,
        shard: None,
        solve: SolveOptions::default(),
        trajectories: out.is_some(),
        out,
        progress: false,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twin-examples-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// (numeric stats: mean, sd, q05, q25, median, q75, q95) or (rate, lo, hi) of an arm's endpoint.
fn summary_of<'a>(
    s: &'a Summary,
    arm: &str,
    name: &str,
) -> &'a twin::trial::output::EndpointSummary {
    let g = s
        .arms
        .iter()
        .find(|g| g.arm == arm)
        .unwrap_or_else(|| panic!("arm {arm}"));
    assert_eq!(g.failed, 0, "{arm}: failed patients");
    g.endpoints
        .iter()
        .find(|e| e.endpoint == name)
        .unwrap_or_else(|| panic!("endpoint {name}"))
}

fn rate(s: &Summary, arm: &str, name: &str) -> [f64; 3] {
    summary_of(s, arm, name)
        .rate
        .unwrap_or_else(|| panic!("{arm}/{name} is not a rule"))
}

fn stats(s: &Summary, arm: &str, name: &str) -> [f64; 7] {
    summary_of(s, arm, name)
        .stats
        .unwrap_or_else(|| panic!("{arm}/{name} is not numeric"))
}

// ============================================================================ theophylline

/// Pinheiro JC, Bates DM. Mixed-Effects Models in S and S-PLUS (Springer 2000), pp. 352-365: the
/// fixed effects of `fm3Theo.nlme` (natural-log scale), as in
/// docs/reference-data/models/classic_models.toml [theophylline_boeckmann].
const L_KE: f64 = -2.454704;
const L_KA: f64 = 0.465734;
const L_CL: f64 = -3.227223;

/// nlme's `SSfol`: C(t) = Dose·ke·ka / (Cl·(ka − ke)) · (e^{−ke·t} − e^{−ka·t}), Dose in mg/kg and
/// Cl in L/h/kg.
fn ssfol(dose_per_kg: f64, t: f64) -> f64 {
    let (ke, ka, cl) = (L_KE.exp(), L_KA.exp(), L_CL.exp());
    dose_per_kg * ke * ka / (cl * (ka - ke)) * ((-ke * t).exp() - (-ka * t).exp())
}

/// One subject of the bundled Boeckmann data.
struct Subject {
    id: String,
    weight: f64,
    dose_per_kg: f64,
    times: Vec<f64>,
    conc: Vec<f64>,
}

fn theoph() -> Vec<Subject> {
    let text = read("examples/data/theoph.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Subject,Wt,Dose,Time,conc"));
    let mut subjects: Vec<Subject> = Vec::new();
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        let num = |i: usize| {
            c[i].parse::<f64>()
                .unwrap_or_else(|e| panic!("{line}: {e}"))
        };
        if subjects.last().map(|s| s.id.as_str()) != Some(c[0]) {
            subjects.push(Subject {
                id: c[0].to_string(),
                weight: num(1),
                dose_per_kg: num(2),
                times: Vec::new(),
                conc: Vec::new(),
            });
        }
        let s = subjects.last_mut().unwrap_or_else(|| unreachable!());
        s.times.push(num(3));
        s.conc.push(num(4));
    }
    assert_eq!(subjects.len(), 12);
    assert_eq!(subjects.iter().map(|s| s.times.len()).sum::<usize>(), 132);
    subjects
}

/// Each subject simulated with `twin run`-style event records (the dose Dose·Wt mg into `gut`,
/// observation records at the subject's own sampling times) and `--set weight=Wt kg`: the typical
/// (population) predictions equal nlme's SSfol with the fm3Theo.nlme fixed effects to 1e-6, and the
/// half-life is Pinheiro & Bates' ln 2 / exp(lKe) = 8.07 h.
#[test]
fn theophylline_population_predictions_are_the_published_fit() {
    let text = read("examples/theophylline.twin");
    for s in theoph() {
        let mut events = String::from("ID,TIME,AMT,CMT,EVID\n");
        events.push_str(&format!("{},0,{},gut,1\n", s.id, s.dose_per_kg * s.weight));
        for t in &s.times {
            events.push_str(&format!("{},{t},0,gut,0\n", s.id));
        }
        let req = Request {
            name: "examples/theophylline.twin".into(),
            text: text.clone(),
            sets: vec![format!("weight={}kg", s.weight)],
            events: Some(events),
            options: tight(),
            ..Default::default()
        };
        let (h, all) = table(&req);
        // One line per data row: the observations are the EVID 0 rows.
        let (t, c, evid) = (
            column(&h, "TIME [h]"),
            column(&h, "conc [mg/L]"),
            column(&h, "EVID"),
        );
        let rows: Vec<Vec<f64>> = all.into_iter().filter(|r| r[evid] == 0.0).collect();
        assert_eq!(rows.len(), s.times.len(), "subject {}", s.id);
        for (r, time) in rows.iter().zip(&s.times) {
            assert_eq!(r[t], *time);
            let expected = ssfol(s.dose_per_kg, *time);
            assert!(
                (r[c] - expected).abs() <= 1e-6 * expected.max(1e-3),
                "subject {} at {time} h: {} vs SSfol {expected}",
                s.id,
                r[c]
            );
        }
        // Terminal half-life from the last two samples (absorption is over: e^{−ka·t} < 1e-6).
        let n = rows.len();
        let (t1, t2) = (rows[n - 2][t], rows[n - 1][t]);
        let half_life = 2f64.ln() * (t2 - t1) / (rows[n - 2][c] / rows[n - 1][c]).ln();
        assert!(
            (half_life - 8.07).abs() < 0.005,
            "subject {}: t½ = {half_life} h, published 8.07 h",
            s.id
        );
    }
}

/// Type-7 quantile of sorted values.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - h.floor()) * (sorted[hi] - sorted[lo])
}

/// A visual predictive check of the example model against the 132 observed concentrations of the
/// Boeckmann data: for each subject, 500 virtual replicates (the subject's weight and dose, random
/// effects and additive residual error of the fit) give a 90 % prediction interval (5th-95th
/// percentiles of `conc_dv` from `trajectories.csv`) at each of the subject's sampling times.
/// A model that describes the data puts about 90 % of the observations inside; we require at least
/// 80 % (observations within a subject are correlated, so the spread about 90 % is wider than the
/// binomial ±5 % for 132 independent points) and at most 98 % (an interval that is not uselessly
/// wide). It also reports the median absolute error of the typical predictions.
#[test]
fn theophylline_observations_fall_in_the_90_percent_prediction_interval() {
    let mut text = read("examples/theophylline.twin");
    let subjects = theoph();
    for s in &subjects {
        let times: Vec<String> = s.times.iter().map(|t| format!("{t} h")).collect();
        text.push_str(&format!(
            "\ntrial Subject{id} {{\n    model Theophylline\n    population 500 {{ weight = {w} kg }}\n    \
             arm replicate {{ dose {d} mg into gut }}\n    sample at [{times}]\n    endpoint cmax = max(conc)\n}}\n",
            id = s.id,
            w = s.weight,
            d = s.dose_per_kg * s.weight,
            times = times.join(", ")
        ));
    }
    let c = compiled("theophylline_vpc.twin", &text);
    let (mut inside, mut total) = (0usize, 0usize);
    let mut abs_err = Vec::new();
    for s in &subjects {
        let name = format!("Subject{}", s.id);
        let dir = tmp(&format!("theoph-{}", s.id));
        run_trial(
            &c,
            "theophylline_vpc.twin",
            &trial_options(Some(&name), Some(dir.clone())),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let traj = read(dir.join("trajectories.csv").to_str().unwrap_or_default());
        let mut lines = traj.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let (ct, cdv) = (
            header
                .iter()
                .position(|h| *h == "time [h]")
                .unwrap_or(usize::MAX),
            header
                .iter()
                .position(|h| *h == "conc_dv [mg/L]")
                .unwrap_or_else(|| panic!("{header:?}")),
        );
        let mut by_time: Vec<Vec<f64>> = vec![Vec::new(); s.times.len()];
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let t: f64 = cells[ct].parse().unwrap_or(f64::NAN);
            let k = s
                .times
                .iter()
                .position(|x| (x - t).abs() < 1e-9)
                .unwrap_or_else(|| panic!("time {t}"));
            by_time[k].push(cells[cdv].parse().unwrap_or(f64::NAN));
        }
        for (k, v) in by_time.iter_mut().enumerate() {
            assert_eq!(v.len(), 500);
            v.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile(v, 0.05), quantile(v, 0.95));
            let obs = s.conc[k];
            total += 1;
            if obs >= lo && obs <= hi {
                inside += 1;
            }
            if s.times[k] > 0.0 {
                abs_err.push((obs - ssfol(s.dose_per_kg, s.times[k])).abs());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let coverage = inside as f64 / total as f64;
    abs_err.sort_by(f64::total_cmp);
    let median_abs_err = quantile(&abs_err, 0.5);
    eprintln!(
        "theophylline VPC: {inside}/{total} = {:.1} % of observations inside the 90 % PI; median |obs − PRED| = {median_abs_err:.3} mg/L",
        100.0 * coverage
    );
    assert_eq!(total, 132);
    assert!(
        (0.80..=0.98).contains(&coverage),
        "coverage {coverage} of the 90 % prediction interval"
    );
}

// ============================================================================ QT risk

/// SplitMix64 → uniform (0, 1) → standard normal by Box–Muller: a generator independent of twin's.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Two-compartment model with first-order absorption after a lag: the closed-form concentration
/// (Gibaldi & Perrier, Pharmacokinetics 2nd ed., 1982), D·ka/Vc · Σ over the exponents
/// λ ∈ {α, β, ka} of (k21 − λ) / Π_{μ≠λ}(μ − λ) · e^{−λ·t'}, t' = t − lag.
struct TwoCmtOral {
    d_ka_v: f64,
    k21: f64,
    rates: [f64; 3],
    lag: f64,
}

impl TwoCmtOral {
    fn new(dose: f64, ka: f64, cl: f64, vc: f64, q: f64, vp: f64, lag: f64) -> Self {
        let (k10, k12, k21) = (cl / vc, q / vc, q / vp);
        let s = k10 + k12 + k21;
        let disc = (s * s - 4.0 * k10 * k21).sqrt();
        TwoCmtOral {
            d_ka_v: dose * ka / vc,
            k21,
            rates: [(s + disc) / 2.0, (s - disc) / 2.0, ka],
            lag,
        }
    }
    fn conc(&self, t: f64) -> f64 {
        let tp = t - self.lag;
        if tp <= 0.0 {
            return 0.0;
        }
        let r = self.rates;
        (0..3)
            .map(|i| {
                let prod: f64 = (0..3).filter(|&j| j != i).map(|j| r[j] - r[i]).product();
                (self.k21 - r[i]) / prod * (-r[i] * tp).exp()
            })
            .sum::<f64>()
            * self.d_ka_v
    }
    /// The maximum over the grid k·step, 0 ≤ k·step ≤ end (the trial's sampling grid): the curve
    /// has one peak, found by golden-section search; the grid maximum is at a grid point next to it.
    fn grid_max(&self, step: f64, end: f64) -> f64 {
        let (mut a, mut b) = (self.lag, end);
        let g = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..100 {
            let (x1, x2) = (b - g * (b - a), a + g * (b - a));
            if self.conc(x1) < self.conc(x2) {
                a = x1;
            } else {
                b = x2;
            }
        }
        let k = ((a + b) / 2.0 / step).floor() as i64;
        (k - 3..=k + 4)
            .filter(|&i| i >= 0 && i as f64 * step <= end + 1e-9)
            .map(|i| self.conc(i as f64 * step))
            .fold(0.0, f64::max)
    }
}

/// Hong T et al. Drug Des Devel Ther 2015;9:1233-1245, Table 3 (via nlmixr2lib), as in
/// examples/qt_risk.twin: CL/F, V2/F, Q/F, V3/F, lag, ka by dose level, CVs and correlation.
const MOXI: (f64, f64, f64, f64, f64) = (11.8, 173.0, 5.62, 47.1, 0.46);
/// Florian JA et al. J Clin Pharmacol 2011;51:1152: ΔΔQTc slope 3.1 ms per mg/L; intercept 0 ms
/// (assumed in the example: the reference gives none).
const QTC_SLOPE: f64 = 3.1;

/// The fraction of subjects with ΔΔQTc > 10 ms and the mean of max ΔΔQTc at a dose, by Monte
/// Carlo over the log-normal random effects with the closed-form concentration (n draws).
fn qt_monte_carlo(dose: f64, n: usize) -> (f64, f64) {
    let (cl, vc, q, vp, lag) = MOXI;
    let ka = if dose >= 600.0 { 1.90 } else { 16.7 };
    let w = |cv: f64| (1.0 + cv * cv).ln().sqrt();
    let (w_cl, w_vc, w_ka, rho) = (w(0.27), w(0.174), w(0.959), 0.92);
    let mut rng = Rng(0x5eed_0000 + dose as u64);
    let (mut above, mut sum) = (0usize, 0.0);
    for _ in 0..n {
        let (z1, z2, z3) = (rng.normal(), rng.normal(), rng.normal());
        let eta_cl = w_cl * z1;
        let eta_vc = w_vc * (rho * z1 + (1.0 - rho * rho).sqrt() * z2);
        let m = TwoCmtOral::new(
            dose,
            ka * (w_ka * z3).exp(),
            cl * eta_cl.exp(),
            vc * eta_vc.exp(),
            q,
            vp,
            lag,
        );
        let dqtc = QTC_SLOPE * m.grid_max(0.02, 24.0);
        sum += dqtc;
        if dqtc > 10.0 {
            above += 1;
        }
    }
    (above as f64 / n as f64, sum / n as f64)
}

/// The closed form used by the Monte Carlo check is the example's model: the typical subject's
/// concentrations from `twin run --arm` agree with it to 1e-6 at 200, 400 and 800 mg.
#[test]
fn qt_closed_form_matches_twin_run_for_the_typical_subject() {
    let (cl, vc, q, vp, lag) = MOXI;
    for (arm, dose, ka) in [
        ("mg200", 200.0, 16.7),
        ("mg400", 400.0, 16.7),
        ("mg800", 800.0, 1.90),
    ] {
        let req = Request {
            name: "examples/qt_risk.twin".into(),
            text: read("examples/qt_risk.twin"),
            arm: Some(arm.into()),
            until: Some("24h".into()),
            every: Some("0.1h".into()),
            options: tight(),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let (t, c, d) = (
            column(&h, "time [h]"),
            column(&h, "conc [mg/L]"),
            column(&h, "dqtc [ms]"),
        );
        let m = TwoCmtOral::new(dose, ka, cl, vc, q, vp, lag);
        for r in &rows {
            let expected = m.conc(r[t]);
            assert!(
                (r[c] - expected).abs() <= 1e-6 * expected.max(1e-3),
                "{arm} at {} h: {} vs {expected}",
                r[t],
                r[c]
            );
            assert!((r[d] - QTC_SLOPE * r[c]).abs() <= 1e-9 * r[d].abs().max(1.0));
        }
    }
}

/// Fraction of subjects with ΔΔQTc above 10 ms per dose level (ICH E14's threshold of regulatory
/// concern). Independent figure: Monte Carlo over the published random effects (Hong 2015 PK,
/// 200 000 draws from a generator independent of twin's) with the closed-form two-compartment
/// concentration and Florian 2011's linear C-QTc slope, evaluated on the trial's sampling grid.
/// The trial's rate (1000 subjects) must contain it in its 95 % Wilson interval, and the mean of
/// max ΔΔQTc must agree within 4 standard errors; the rates increase with dose.
#[test]
fn qt_fraction_above_10ms_per_dose_matches_monte_carlo() {
    let path = "examples/qt_risk.twin";
    let c = compiled(path, &read(path));
    let s = run_trial(&c, path, &trial_options(None, None)).unwrap_or_else(|e| panic!("{e}"));
    let mut previous = -1.0;
    for (arm, dose) in [("mg200", 200.0), ("mg400", 400.0), ("mg800", 800.0)] {
        let [p, lo, hi] = rate(&s, arm, "dqtc_above_10ms");
        let (p_mc, mean_mc) = qt_monte_carlo(dose, 200_000);
        eprintln!(
            "{arm}: trial {p:.4} [{lo:.4}, {hi:.4}], Monte Carlo {p_mc:.4}; mean max ΔΔQTc {mean_mc:.3} ms"
        );
        // (The interval's bounds carry rounding error of order 1e-16 at a rate of 0.)
        assert!(
            p_mc >= lo - 1e-12 && p_mc <= hi + 1e-12,
            "{arm}: Monte Carlo {p_mc} outside the trial's Wilson interval [{lo}, {hi}] (rate {p})"
        );
        let st = stats(&s, arm, "dqtc_max");
        let se = st[1] / (1000f64).sqrt();
        assert!(
            (st[0] - mean_mc).abs() < 4.0 * se,
            "{arm}: mean max ΔΔQTc {} vs Monte Carlo {mean_mc} (SE {se})",
            st[0]
        );
        assert!(p_mc > previous, "{arm}: the rate must increase with dose");
        previous = p_mc;
    }
    let r = |arm| rate(&s, arm, "dqtc_above_10ms")[0];
    assert!(r("mg200") <= r("mg400") && r("mg400") < r("mg800"));
    insta::assert_snapshot!("qt_risk_summary", s.table());
}

// ============================================================================ oncology

const LAMBDA0: f64 = 0.273; // /day, Simeoni 2004 Table 2 (paclitaxel experiment 1)
const LAMBDA1: f64 = 0.814; // cm³/day
const PSI: f64 = 20.0;

fn untreated_tumour(w0: f64) -> (Vec<f64>, Vec<f64>) {
    let req = Request {
        name: "examples/oncology_tgi.twin".into(),
        text: read("examples/oncology_tgi.twin"),
        sets: vec![format!("tumour0={w0}mL")],
        until: Some("21d".into()),
        every: Some("6h".into()),
        // The closed forms below are asserted to 1e-6. A BDF's global error on ten days of
        // exponential growth is 50-150x its rtol (1.3e-6 with the crate's BDF at rtol 1e-8,
        // 5.9e-7 with diffsol's), so this solve asks for rtol 1e-10.
        options: SolveOptions {
            rtol: 1e-10,
            atol: 1e-14,
            ..tight()
        },
        ..Default::default()
    };
    let (h, rows) = table(&req);
    let (t, w) = (column(&h, "time [h]"), column(&h, "tumour [mL]"));
    (
        rows.iter().map(|r| r[t] / 24.0).collect(),
        rows.iter().map(|r| r[w]).collect(),
    )
}

/// Simeoni 2004: an untreated tumour grows exponentially at λ0 while w ≪ λ1/λ0 (2.98 cm³) and
/// linearly at λ1 once w ≫ λ1/λ0. Closed forms w0·e^{λ0·t} and w0 + λ1·t hold to 1e-6 in their
/// phases (the ψ = 20 switch contributes (λ0·w/λ1)^20 < 1e-11 there); across the switch the run
/// follows an independent RK4 integration of dw/dt = λ0·w / (1 + (λ0·w/λ1)^ψ)^{1/ψ} to 1e-6, and
/// at day 21 it is within 2 % of the sharp-switch (ψ → ∞) closed form.
#[test]
fn untreated_tumour_follows_the_simeoni_growth_phases() {
    // Exponential phase: 0.05 cm³ reaches λ1/λ0 on day ln(2.98/0.05)/0.273 = 15.0.
    let w0 = 0.05;
    let (days, w) = untreated_tumour(w0);
    for (t, w) in days.iter().zip(&w) {
        if *t <= 10.0 {
            let expected = w0 * (LAMBDA0 * t).exp();
            assert!(
                ((w - expected) / expected).abs() < 1e-6,
                "day {t}: {w} vs {expected}"
            );
        }
    }
    // Across the switch: RK4 on the scalar ODE with a 1e-3-day step.
    let f = |w: f64| LAMBDA0 * w / (1.0 + (LAMBDA0 / LAMBDA1 * w).powf(PSI)).powf(1.0 / PSI);
    let (mut y, mut t, dt): (f64, f64, f64) = (w0, 0.0, 1e-3);
    let mut k = 0;
    while k < days.len() {
        if (t - days[k]).abs() < 1e-9 {
            assert!(
                ((w[k] - y) / y).abs() < 1e-6,
                "day {}: twin {} vs RK4 {y}",
                days[k],
                w[k]
            );
            k += 1;
            continue;
        }
        let h = dt.min(days[k] - t);
        let (a, b) = (f(y), f(y + h / 2.0 * f(y)));
        let c = f(y + h / 2.0 * b);
        let d = f(y + h * c);
        y += h / 6.0 * (a + 2.0 * b + 2.0 * c + d);
        t += h;
    }
    let threshold = LAMBDA1 / LAMBDA0;
    let switch = (threshold / w0).ln() / LAMBDA0;
    let sharp = threshold + LAMBDA1 * (21.0 - switch);
    let last = *w.last().unwrap_or(&f64::NAN);
    assert!(
        ((last - sharp) / sharp).abs() < 0.02,
        "day 21: {last} vs {sharp}"
    );
    // Linear phase: 30 cm³ is ten times λ1/λ0.
    let w0 = 30.0;
    let (days, w) = untreated_tumour(w0);
    for (t, w) in days.iter().zip(&w) {
        let expected = w0 + LAMBDA1 * t;
        assert!(
            ((w - expected) / expected).abs() < 1e-6,
            "day {t}: {w} vs {expected}"
        );
    }
}

/// Friberg 2002: without drug the system stays at its baseline (Circ0 = the patient's baseline
/// ANC); after one 100 mg/m² dose of docetaxel the ANC falls to a nadir and, with the feedback
/// (Circ0/Circ)^γ, returns to the baseline within 1 % by day 90.
#[test]
fn friberg_neutrophils_stay_at_and_return_to_baseline() {
    let text = read("examples/oncology_tgi.twin");
    let run = |doses: Vec<String>, until: &str| {
        let req = Request {
            name: "examples/oncology_tgi.twin".into(),
            text: text.clone(),
            doses,
            sets: vec!["anc0=4 Gcell/L".into()],
            until: Some(until.into()),
            every: Some("12h".into()),
            options: tight(),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let (t, a) = (column(&h, "time [h]"), column(&h, "anc [Gcell/L]"));
        rows.iter().map(|r| (r[t], r[a])).collect::<Vec<_>>()
    };
    for (_, anc) in run(vec![], "42d") {
        assert!((anc - 4.0).abs() < 1e-9, "{anc}");
    }
    let after = run(vec!["180 mg into central over 1 h".into()], "90d");
    let nadir = after.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    assert!(nadir < 2.0, "nadir {nadir}");
    let (t_end, anc_end) = after[after.len() - 1];
    assert_eq!(t_end, 90.0 * 24.0);
    assert!(
        (anc_end / 4.0 - 1.0).abs() < 0.01,
        "ANC at day 90 = {anc_end}, baseline 4"
    );
}

/// The schedules trial: no failed patients; the untreated arm has neither grade-4 neutropenia nor
/// responses; on the every-3-weeks schedule both the grade-4 neutropenia rate and the response
/// rate increase with the dose (75 → 100 mg/m²), and the mean tumour ratio at day 42 falls with dose
/// intensity (0, 75, 100, 105 mg/m² per 3 weeks for untreated, q3w 75, q3w 100, weekly 35); the
/// weekly schedule, at the highest dose intensity, has less grade-4 neutropenia than 100 mg/m² every
/// 3 weeks. The summary table is snapshotted.
#[test]
fn oncology_schedules_are_monotone_in_dose_intensity() {
    let path = "examples/oncology_tgi.twin";
    let c = compiled(path, &read(path));
    let s = run_trial(&c, path, &trial_options(None, None)).unwrap_or_else(|e| panic!("{e}"));
    let g4 = |arm| rate(&s, arm, "grade4_neutropenia")[0];
    let resp = |arm| rate(&s, arm, "response")[0];
    let ratio = |arm| stats(&s, arm, "tumour_ratio_42d")[0];
    assert_eq!(g4("untreated"), 0.0);
    assert_eq!(resp("untreated"), 0.0);
    assert!(g4("untreated") < g4("q3w_75") && g4("q3w_75") < g4("q3w_100"));
    assert!(resp("untreated") <= resp("q3w_75") && resp("q3w_75") <= resp("q3w_100"));
    assert!(resp("q3w_100") > 0.0);
    assert!(ratio("untreated") > ratio("q3w_75"));
    assert!(ratio("q3w_75") > ratio("q3w_100"));
    assert!(ratio("q3w_100") > ratio("weekly_35"));
    assert!(g4("weekly_35") < g4("q3w_100"));
    insta::assert_snapshot!("oncology_tgi_summary", s.table());
}

/// Hamberg 2007 (Clin Pharmacol Ther 2007;81:529-538, Table 2, as relayed in
/// docs/reference-data/models/classic_models.toml [hamberg2007_warfarin]): S-warfarin apparent
/// clearance 0.314 L/h for a 71-year-old CYP2C9 *1/*1 patient, reduced by 31.5 % (*1/*2),
/// 45.3 % (*1/*3), 72.2 % (*2/*2) and 85.2 % (*3/*3), and by 0.91 % per year of age above 71.
/// Whatever the model's structure, the exposure to S-warfarin after one racemic dose must be
/// AUC(0–∞) = fs·dose / CL (fs = 0.5): `examples/warfarin_pgx.twin` run for the typical patient of
/// each genotype, AUC by the trapezoidal rule on a 0.05 h grid to 3000 h plus the log-linear tail
/// C_last/λz (λz from the last 500 h, as in non-compartmental analysis), within 1e-4 (measured
/// 9.5e-6 for *1/*1).
#[test]
fn warfarin_exposure_by_cyp2c9_genotype_follows_hamberg_clearance() {
    let dose = 10.0;
    for (genotype, age, reduction) in [
        ("*1/*1", 71.0, 0.0),
        ("*1/*1", 50.0, 0.0),
        ("*1/*2", 71.0, 0.315),
        ("*1/*3", 71.0, 0.453),
        ("*2/*2", 71.0, 0.722),
        ("*3/*3", 71.0, 0.852),
    ] {
        let req = Request {
            name: "examples/warfarin_pgx.twin".into(),
            text: read("examples/warfarin_pgx.twin"),
            sets: vec![format!("cyp2c9={genotype}"), format!("age={age}year")],
            doses: vec![format!("{dose} mg into gut")],
            until: Some("3000h".into()),
            every: Some("0.05h".into()),
            options: tight(),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let (t, c) = (column(&h, "time [h]"), column(&h, "conc [mg/L]"));
        let auc_t: f64 = rows
            .windows(2)
            .map(|w| 0.5 * (w[0][c] + w[1][c]) * (w[1][t] - w[0][t]))
            .sum();
        let last = &rows[rows.len() - 1];
        let earlier = &rows[rows.len() - 1 - 10_000];
        let lambda_z = (earlier[c] / last[c]).ln() / (last[t] - earlier[t]);
        let auc = auc_t + last[c] / lambda_z;
        let cl = 0.314 * (1.0 - 0.0091 * (age - 71.0)) * (1.0 - reduction);
        let expected = 0.5 * dose / cl;
        assert!(
            ((auc - expected) / expected).abs() < 1e-4,
            "{genotype}, {age} y: AUC {auc} mg·h/L vs fs·dose/CL = {expected}"
        );
    }
}
