//! `twin fit`: MAP estimates against an independent minimisation of the closed-form posterior,
//! simulation–re-estimation (recovery with rich data, shrinkage with sparse data), fixed
//! effects against closed-form least squares, thread invariance and bad data.

use twin::cmd::fit::{FitRequest, FitResult, fit};
use twin::fit::lm::Status;
use twin::solve::{Method, SolveOptions};

/// A one-compartment oral model with correlated effects on CL and V; `error` is its residual
/// error model.
fn model(error: &str) -> String {
    format!(
        r#"
model Oral {{
    param ka: 1/h = 1.2 /h
    param cl: L/h = 4 L/h
    param v: L = 30 L
    vary ka ~ lognormal(omega: 0.16)
    vary cl ~ lognormal(omega: 0.09)
    vary v ~ lognormal(omega: 0.04)
    correlate cl, v = 0.5
    compartment gut: mg
    compartment central: mg
    flow gut -> central = ka * gut
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v ~ {error}
}}
"#
    )
}

/// Concentration of 100 mg orally (Bateman) for η = (ka, cl, v).
fn bateman(eta: &[f64], t: f64) -> f64 {
    let ka = 1.2 * eta[0].exp();
    let cl = 4.0 * eta[1].exp();
    let v = 30.0 * eta[2].exp();
    let k = cl / v;
    100.0 * ka / (v * (ka - k)) * ((-k * t).exp() - (-ka * t).exp())
}

/// A small deterministic generator (SplitMix64 and Box–Muller), independent of twin's.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next(), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// η drawn from Ω of [`model`] (ω² 0.16, 0.09, 0.04; ρ(cl, v) = 0.5).
fn draw_eta(rng: &mut Rng) -> [f64; 3] {
    let (z0, z1, z2) = (rng.normal(), rng.normal(), rng.normal());
    let (s1, s2) = (0.3, 0.2);
    [0.4 * z0, s1 * z1, s2 * (0.5 * z1 + (0.75f64).sqrt() * z2)]
}

/// A dataset: per subject a 100 mg dose into gut at 0 and the given (time, DV) rows.
fn dataset(subjects: &[Vec<(f64, f64)>]) -> String {
    let mut s = String::from("ID,TIME,AMT,CMT,EVID,DV\n");
    for (i, rows) in subjects.iter().enumerate() {
        s.push_str(&format!("{},0,100,gut,1,\n", i + 1));
        for (t, dv) in rows {
            s.push_str(&format!("{},{t},,gut,0,{dv}\n", i + 1));
        }
    }
    s
}

fn request(text: String, data: String) -> FitRequest {
    FitRequest {
        name: "oral.twin".into(),
        text,
        data,
        options: SolveOptions {
            method: Method::Auto,
            ..Default::default()
        },
        seed: 1,
        starts: 1,
        draws: 0,
        ..Default::default()
    }
}

fn run(req: &FitRequest) -> FitResult {
    fit(req).unwrap_or_else(|e| panic!("fit failed: {e}"))
}

/// Nelder–Mead (adaptive parameters of Gao & Han 2012) on `f`, restarted until the best value
/// stops improving.
fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, x0: &[f64]) -> (Vec<f64>, f64) {
    let n = x0.len();
    let nf = n as f64;
    let (alpha, beta, gamma, delta) =
        (1.0, 1.0 + 2.0 / nf, 0.75 - 1.0 / (2.0 * nf), 1.0 - 1.0 / nf);
    let mut best = (x0.to_vec(), f(x0));
    for _restart in 0..20 {
        let mut simplex: Vec<(Vec<f64>, f64)> = vec![best.clone()];
        for i in 0..n {
            let mut x = best.0.clone();
            x[i] += 0.05;
            let v = f(&x);
            simplex.push((x, v));
        }
        for _ in 0..20000 {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            if (simplex[n].1 - simplex[0].1).abs() < 1e-15 {
                break;
            }
            let centroid: Vec<f64> = (0..n)
                .map(|j| simplex[..n].iter().map(|s| s.0[j]).sum::<f64>() / nf)
                .collect();
            let towards = |k: f64| -> Vec<f64> {
                (0..n)
                    .map(|j| centroid[j] + k * (simplex[n].0[j] - centroid[j]))
                    .collect()
            };
            let xr = towards(-alpha);
            let fr = f(&xr);
            if fr < simplex[0].1 {
                let xe = towards(-beta);
                let fe = f(&xe);
                simplex[n] = if fe < fr { (xe, fe) } else { (xr, fr) };
            } else if fr < simplex[n - 1].1 {
                simplex[n] = (xr, fr);
            } else {
                let (xc, fc) = if fr < simplex[n].1 {
                    let x = towards(-gamma);
                    let v = f(&x);
                    (x, v)
                } else {
                    let x = towards(gamma);
                    let v = f(&x);
                    (x, v)
                };
                if fc < simplex[n].1.min(fr) {
                    simplex[n] = (xc, fc);
                } else {
                    let x0 = simplex[0].0.clone();
                    for s in simplex.iter_mut().skip(1) {
                        let x: Vec<f64> =
                            (0..n).map(|j| x0[j] + delta * (s.0[j] - x0[j])).collect();
                        *s = (x.clone(), f(&x));
                    }
                }
            }
        }
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let improved = simplex[0].1 < best.1 - 1e-15;
        best = simplex[0].clone();
        if !improved {
            break;
        }
    }
    best
}

#[test]
fn map_equals_nelder_mead_on_the_closed_form_posterior() {
    let times = [0.5, 1.0, 2.0, 3.0, 6.0, 12.0];
    let dvs = [1.7, 2.4, 2.7, 2.3, 1.6, 0.55];
    let data = dataset(&[times.iter().copied().zip(dvs).collect()]);
    let r = run(&request(
        model("proportional(10%) + additive(0.05 mg/L)"),
        data,
    ));
    let est = r.subjects[0].fit.as_ref().expect("fitted");
    assert_eq!(est.status, Status::Converged);
    // The same posterior written out by hand.
    let omega = [[0.16, 0.0, 0.0], [0.0, 0.09, 0.03], [0.0, 0.03, 0.04]];
    let det = 0.16 * (0.09 * 0.04 - 0.03 * 0.03);
    let inv = [
        [1.0 / 0.16, 0.0, 0.0],
        [0.0, 0.04 * 0.16 / det, -0.03 * 0.16 / det],
        [0.0, -0.03 * 0.16 / det, 0.09 * 0.16 / det],
    ];
    let _ = omega;
    let obj = |eta: &[f64]| {
        let mut s = 0.0;
        for (t, y) in times.iter().zip(dvs) {
            let f = bateman(eta, *t);
            let var = 0.05f64.powi(2) + (0.1 * f).powi(2);
            s += (y - f).powi(2) / var + var.ln();
        }
        for a in 0..3 {
            for b in 0..3 {
                s += eta[a] * inv[a][b] * eta[b];
            }
        }
        s
    };
    let (x, v) = nelder_mead(&obj, &[0.0, 0.0, 0.0]);
    for (a, (nm, tw)) in x.iter().zip(&est.eta).enumerate() {
        assert!(
            (nm - tw).abs() < 1e-4,
            "η{a}: Nelder–Mead {nm} vs twin {tw}"
        );
    }
    assert!(
        (v - est.objective).abs() < 1e-6,
        "objective {v} vs {}",
        est.objective
    );
    eprintln!(
        "η twin {:?} vs Nelder–Mead {x:?}; objective {} vs {v}",
        est.eta, est.objective
    );
}

/// Simulates `n` subjects with η from the prior and the design `times`, DV with proportional
/// error `cv` (0 for none): (true η, dataset).
fn simulate(n: usize, times: &[f64], cv: f64, seed: u64) -> (Vec<[f64; 3]>, String) {
    let mut rng = Rng(seed);
    let mut etas = Vec::new();
    let mut subjects = Vec::new();
    for _ in 0..n {
        let eta = draw_eta(&mut rng);
        let rows = times
            .iter()
            .map(|&t| {
                let f = bateman(&eta, t);
                (t, f * (1.0 + cv * rng.normal()))
            })
            .collect();
        etas.push(eta);
        subjects.push(rows);
    }
    (etas, dataset(&subjects))
}

#[test]
fn rich_sampling_and_tiny_error_recover_every_eta() {
    let times: Vec<f64> = (1..=24)
        .map(|k| 0.25 * f64::from(k) * f64::from(k) / 6.0)
        .collect();
    let (truth, data) = simulate(300, &times, 0.0, 7);
    let r = run(&request(model("proportional(0.001%)"), data));
    let mut worst: f64 = 0.0;
    for (s, eta) in r.subjects.iter().zip(&truth) {
        let f = s.fit.as_ref().expect("fitted");
        assert_eq!(f.status, Status::Converged, "subject {}", s.id);
        for (e, t) in f.eta.iter().zip(eta) {
            worst = worst.max((e - t).abs());
        }
    }
    eprintln!("largest |η̂ − η| over 300 subjects: {worst:.2e}");
    assert!(worst < 1e-3, "largest |η̂ − η| = {worst}");
}

#[test]
fn sparse_sampling_shrinks_as_theory_predicts() {
    // Two samples each and 20 % error: η(ka) is poorly informed, η(cl) well.
    let (truth, data) = simulate(300, &[1.0, 12.0], 0.2, 11);
    let r = run(&request(model("proportional(20%)"), data));
    for a in 0..3 {
        let est: Vec<f64> = r
            .subjects
            .iter()
            .map(|s| s.fit.as_ref().expect("fit").eta[a])
            .collect();
        let tru: Vec<f64> = truth.iter().map(|e| e[a]).collect();
        let corr = correlation(&est, &tru);
        let shrink = r.shrinkage[a];
        // For a linear-Gaussian model η̂ = E[η | y], so cov(η̂, η) = var(η̂) and
        // corr(η̂, η) = SD(η̂)/ω = 1 − shrinkage.
        eprintln!("{}: shrinkage {shrink:.3}, corr(η̂, η) {corr:.3}", r.etas[a]);
        assert!(
            (corr - (1.0 - shrink)).abs() < 0.08,
            "{}: corr {corr} vs 1 − shrinkage {}",
            r.etas[a],
            1.0 - shrink
        );
    }
    assert!(
        r.shrinkage[0] > r.shrinkage[1],
        "ka should shrink more than cl"
    );
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (_, data) = simulate(40, &[0.5, 2.0, 8.0], 0.15, 3);
    let mut req = request(model("proportional(15%)"), data);
    req.draws = 50;
    req.starts = 3;
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| run(&req));
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool")
        .install(|| run(&req));
    assert_eq!(one.individuals_csv(), two.individuals_csv());
    assert_eq!(one.predictions_csv(), two.predictions_csv());
    assert_eq!(one.json(), two.json());
}

#[test]
fn bad_data_gets_a_reason_and_the_others_finish() {
    // Subject 1 fine; subject 2 has only a dose; subject 3 only missing DVs (MDV = 1).
    let data = "ID,TIME,AMT,CMT,EVID,MDV,DV\n\
                1,0,100,gut,1,1,\n1,1,,gut,0,0,2.3\n1,6,,gut,0,0,1.5\n\
                2,0,100,gut,1,1,\n\
                3,0,100,gut,1,1,\n3,2,,gut,0,1,\n";
    let r = run(&request(
        model("proportional(10%) + additive(0.05 mg/L)"),
        data.into(),
    ));
    assert_eq!(r.subjects.len(), 3);
    assert!(r.subjects[0].note.is_none());
    for s in &r.subjects[1..] {
        let f = s.fit.as_ref().expect("prior mode");
        assert!(f.eta.iter().all(|&e| e == 0.0));
        assert!(
            s.note
                .as_deref()
                .is_some_and(|n| n.contains("no observations")),
            "{:?}",
            s.note
        );
    }
    assert!(!r.predictions_csv().contains("NaN"));
    // A measurement where the prediction is 0 with a proportional-only model: that subject
    // fails with the row named; the other is fitted.
    let data = "ID,TIME,AMT,CMT,EVID,DV\n1,0,,gut,0,0.1\n1,0,100,gut,1,\n1,2,,gut,0,2.5\n\
                2,0,100,gut,1,\n2,2,,gut,0,2.5\n";
    let r = run(&request(model("proportional(10%)"), data.into()));
    let why = r.subjects[0].fit.as_ref().expect_err("zero variance");
    assert!(
        why.contains("data row 2") && why.contains("zero variance"),
        "{why}"
    );
    assert!(r.subjects[1].fit.is_ok());
    assert!(r.individuals_csv().contains("failed: data row 2"));
    // A model without any `vary` and nothing to estimate.
    let plain = "model P { param k: 1/h = 0.1 /h\n compartment c: mg\n flow c -> out = k * c\n observe a: mg = c ~ additive(0.1 mg) }";
    let e = fit(&FitRequest {
        text: plain.into(),
        ..request(
            String::new(),
            "ID,TIME,AMT,EVID,DV\n1,0,10,1,\n1,1,,0,9\n".into(),
        )
    })
    .expect_err("nothing to fit");
    assert!(e.to_string().contains("nothing to fit"), "{e}");
    // An observable without a residual error model.
    let no_error = "model P { param k: 1/h = 0.1 /h\n vary k ~ lognormal(cv: 20%)\n compartment c: mg\n flow c -> out = k * c\n observe a: mg = c }";
    let e = fit(&FitRequest {
        text: no_error.into(),
        ..request(
            String::new(),
            "ID,TIME,AMT,EVID,DV\n1,0,10,1,\n1,1,,0,9\n".into(),
        )
    })
    .expect_err("no error model");
    assert!(e.to_string().contains("no residual error model"), "{e}");
}

/// The fitted twin: `twin run --events` with the subject's MAP η gives the fit's IPRED to the
/// last bit; a `--twin` forecast (another grid) gives IPRED and the posterior band to rounding.
#[test]
fn a_fitted_twin_forecasts_what_the_fit_predicts() {
    let times = [1.0, 2.0, 4.0, 8.0, 12.0];
    let data = dataset(&[times
        .iter()
        .map(|&t| (t, bateman(&[0.2, -0.1, 0.1], t) * 1.05))
        .collect()]);
    let text = model("proportional(10%) + additive(0.05 mg/L)");
    let mut req = request(text.clone(), data.clone());
    req.draws = 40;
    let r = run(&req);
    let dir = std::env::temp_dir().join(format!("twin-fit-forecast-{}", std::process::id()));
    r.write(&dir).expect("write");
    let s = &r.subjects[0];
    let eta = &s.fit.as_ref().expect("fit").eta;
    // The dataset run at the estimate.
    let sets = ["ka", "cl", "v"]
        .iter()
        .zip(eta)
        .map(|(p, e)| format!("eta_{p}={e:?}"))
        .collect();
    let t = twin::cmd::run::simulate(&twin::cmd::run::Request {
        name: "oral.twin".into(),
        text: text.clone(),
        events: Some(data),
        sets,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let records = t.subjects[0].records.as_ref().expect("records");
    let ipred: Vec<f64> = records
        .iter()
        .filter(|r| r.row.evid == 0)
        .map(|r| r.observables[0])
        .collect();
    let fitted: Vec<f64> = s.predictions.iter().map(|p| p.ipred).collect();
    assert_eq!(ipred, fitted, "twin run --events at the MAP η equals IPRED");
    // The forecast on an hourly grid, with the band.
    let base = twin::cmd::run::Request {
        name: "oral.twin".into(),
        text,
        until: Some("12h".into()),
        every: Some("1h".into()),
        band: Some(twin::cmd::run::Band {
            draws: 40,
            seed: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let f = twin::cmd::fit::forecast_request(&dir, "1", &base).unwrap_or_else(|e| panic!("{e}"));
    let t = twin::cmd::run::simulate(&f).unwrap_or_else(|e| panic!("{e}"));
    let sub = &t.subjects[0];
    let band = sub.band.as_ref().expect("band");
    for p in &s.predictions {
        let k = sub
            .sim
            .times
            .iter()
            .position(|&x| x == p.time)
            .expect("grid time");
        let c = sub.sim.observable(k, 0);
        assert!(
            (c - p.ipred).abs() <= 1e-12 * p.ipred,
            "t = {}: {c} vs {}",
            p.time,
            p.ipred
        );
        for (got, want) in [(band[2 * k], p.band.0), (band[2 * k + 1], p.band.1)] {
            assert!(
                (got - want).abs() <= 1e-10 * want,
                "band at {}: {got} vs {want}",
                p.time
            );
        }
    }
    // Another model version is refused.
    let other = twin::cmd::run::Request {
        text: model("proportional(20%)"),
        ..base
    };
    let e = twin::cmd::fit::forecast_request(&dir, "1", &other).expect_err("stale fit");
    assert!(e.to_string().contains("another version of model"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

mod common;

/// `population from fit`: without `resample` every subject at its estimate (patients.csv
/// replays η̂ exactly), with `resample` draws of one subject's posterior (mean and covariance of
/// the draws match η̂ and Σ); `find dose` for one fitted patient hits its target in a forward
/// run of that patient (`twin run --twin`).
#[test]
fn a_fit_is_a_population() {
    use twin::cmd::trial::{TrialOptions, run_trial};
    let (_, data) = simulate(3, &[0.5, 2.0, 6.0, 12.0], 0.1, 5);
    let text = model("proportional(10%) + additive(0.05 mg/L)");
    let mut req = request(text.clone(), data);
    req.draws = 0;
    let r = run(&req);
    let base = std::env::temp_dir().join(format!("twin-fit-pop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("dir");
    let fit_dir = base.join("fit");
    r.write(&fit_dir).expect("write");
    let fit_path = fit_dir.display().to_string();
    let trial = |body: &str| {
        format!(
            "{text}\ntrial T {{\n model Oral\n {body}\n arm a {{ dose 100 mg into gut every 12 h times 4 }}\n sample every 1 h until 48 h\n endpoint c48 = trough(conc, 48 h)\n endpoint ok = trough(conc, 48 h) >= 1 mg/L\n}}\n"
        )
    };
    let opts = |out: &std::path::Path| TrialOptions {
        n: None,
        trial: None,
        seed: 9,
        shard: None,
        solve: SolveOptions::default(),
        out: Some(out.to_path_buf()),
        progress: false,
        trajectories: false,
    };
    let etas_of = |dir: &std::path::Path| -> Vec<[f64; 3]> {
        let t = std::fs::read_to_string(dir.join("patients.csv")).expect("patients.csv");
        let h: Vec<&str> = t.lines().next().unwrap_or_default().split(',').collect();
        let col = |n: &str| {
            h.iter()
                .position(|x| *x == n)
                .unwrap_or_else(|| panic!("{n} in {h:?}"))
        };
        let (a, b, c) = (col("eta(ka)"), col("eta(cl)"), col("eta(v)"));
        t.lines()
            .skip(1)
            .map(|l| {
                let v: Vec<f64> = l
                    .split(',')
                    .map(|x| x.parse().unwrap_or(f64::NAN))
                    .collect();
                [v[a], v[b], v[c]]
            })
            .collect()
    };
    // Every subject at its estimate.
    let c = common::compiled(
        "pop.twin",
        &trial(&format!("population from fit \"{fit_path}\" {{ }}")),
    );
    let out = base.join("all");
    run_trial(&c, "pop.twin", &opts(&out)).unwrap_or_else(|e| panic!("{e}"));
    let etas = etas_of(&out);
    assert_eq!(etas.len(), 3);
    for (e, s) in etas.iter().zip(&r.subjects) {
        assert_eq!(e.to_vec(), s.fit.as_ref().expect("fit").eta);
    }
    // Draws of subject 2's posterior.
    let c = common::compiled(
        "pop.twin",
        &trial(&format!(
            "population from fit \"{fit_path}\" id \"2\" resample 4000 {{ }}"
        )),
    );
    let out = base.join("posterior");
    run_trial(&c, "pop.twin", &opts(&out)).unwrap_or_else(|e| panic!("{e}"));
    let draws = etas_of(&out);
    let f = r.subjects[1].fit.as_ref().expect("fit");
    let cov = f.covariance.as_ref().expect("covariance");
    let n = draws.len() as f64;
    for a in 0..3 {
        let mean = draws.iter().map(|d| d[a]).sum::<f64>() / n;
        let sd = cov[a * 3 + a].sqrt();
        assert!(
            (mean - f.eta[a]).abs() < 4.0 * sd / n.sqrt(),
            "η{a}: mean {mean} vs {}",
            f.eta[a]
        );
        for b in 0..3 {
            let mb = draws.iter().map(|d| d[b]).sum::<f64>() / n;
            let c_ab = draws
                .iter()
                .map(|d| (d[a] - mean) * (d[b] - mb))
                .sum::<f64>()
                / (n - 1.0);
            let scale = (cov[a * 3 + a] * cov[b * 3 + b]).sqrt();
            // The SE of a sample covariance is at most about √(2/n) of the scale.
            assert!(
                (c_ab - cov[a * 3 + b]).abs() < 4.0 * (2.0 / n).sqrt() * scale,
                "Σ{a}{b}: {c_ab} vs {}",
                cov[a * 3 + b]
            );
        }
    }
    // The dose that gives subject 2 a 48 h trough of 1.5 mg/L, checked by a forecast.
    let c = common::compiled(
        "pop.twin",
        &format!(
            "{}\n",
            trial(&format!(
                "population from fit \"{fit_path}\" id \"2\" {{ }}\n find dose of a so median(c48) == 1.5 mg/L"
            ))
        ),
    );
    let out = base.join("dose");
    let summary = run_trial(&c, "pop.twin", &opts(&out)).unwrap_or_else(|e| panic!("{e}"));
    let found = &summary.meta.dose_search[0];
    let amount = 100.0 * found.factor;
    let forecast = twin::cmd::fit::forecast_request(
        &fit_dir,
        "2",
        &twin::cmd::run::Request {
            name: "oral.twin".into(),
            text: text.clone(),
            until: Some("48h".into()),
            every: Some("1h".into()),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The data's dose is replaced by the trial's regimen at the found dose.
    let forecast = twin::cmd::run::Request {
        doses: vec![format!("{amount:?} mg into gut every 12 h times 4")],
        ..forecast
    };
    let t = twin::cmd::run::simulate(&forecast).unwrap_or_else(|e| panic!("{e}"));
    let s = &t.subjects[0].sim;
    // The trough at 48 h is the value before the dose there: the value at 48 h of a run whose
    // last dose is at 36 h.
    let k = s.times.iter().position(|&x| x == 48.0).expect("48 h");
    let c48 = s.observable(k, 0);
    assert!((c48 - 1.5).abs() < 1.5e-3, "trough at the found dose {c48}");
    let _ = std::fs::remove_dir_all(&base);
}

/// Inter-occasion variability: the η of every occasion is its own unknown (`OCC` column), with
/// the between-subject η; the MAP equals Nelder–Mead on the closed-form posterior of a
/// one-compartment bolus whose clearance changes at the second occasion.
#[test]
fn per_occasion_effects_are_estimated_per_occasion() {
    let text = "model Iov {
    param cl: L/h = 4 L/h
    param v: L = 30 L
    vary cl ~ lognormal(omega: 0.09)
    vary cl ~ lognormal(omega: 0.04) per occasion
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v ~ proportional(10%)
}";
    let rows = [
        (1.0, 1, 2.9),
        (4.0, 1, 1.95),
        (8.0, 1, 1.2),
        (25.0, 2, 3.4),
        (28.0, 2, 2.6),
        (32.0, 2, 1.75),
    ];
    let mut data = String::from("ID,TIME,AMT,CMT,EVID,OCC,DV\n1,0,100,central,1,1,\n");
    for (t, o, dv) in rows {
        if t == 25.0 {
            data.push_str("1,24,100,central,1,2,\n");
        }
        data.push_str(&format!("1,{t},,central,0,{o},{dv}\n"));
    }
    let r = run(&request(text.into(), data));
    assert_eq!(
        r.etas,
        ["eta(cl)", "eta(cl; occasion 1)", "eta(cl; occasion 2)"]
    );
    let est = r.subjects[0].fit.as_ref().expect("fitted");
    assert_eq!(est.status, Status::Converged);
    let conc = |x: &[f64], t: f64| {
        let k1 = 4.0 * (x[0] + x[1]).exp() / 30.0;
        let k2 = 4.0 * (x[0] + x[2]).exp() / 30.0;
        if t < 24.0 {
            100.0 * (-k1 * t).exp() / 30.0
        } else {
            (100.0 * (-k1 * 24.0).exp() + 100.0) * (-k2 * (t - 24.0)).exp() / 30.0
        }
    };
    let obj = |x: &[f64]| {
        let mut s = x[0] * x[0] / 0.09 + x[1] * x[1] / 0.04 + x[2] * x[2] / 0.04;
        for (t, _, y) in rows {
            let f = conc(x, t);
            let var = (0.1 * f).powi(2);
            s += (y - f).powi(2) / var + var.ln();
        }
        s
    };
    let (x, v) = nelder_mead(&obj, &[0.0, 0.0, 0.0]);
    for (a, (nm, tw)) in x.iter().zip(&est.eta).enumerate() {
        assert!(
            (nm - tw).abs() < 1e-4,
            "η{a}: Nelder–Mead {nm} vs twin {tw}"
        );
    }
    assert!(
        (v - est.objective).abs() < 1e-6,
        "objective {v} vs {}",
        est.objective
    );
    // IPRED follows each occasion's clearance.
    for p in &s_predictions(&r) {
        assert!(
            (p.1 - conc(&est.eta, p.0)).abs() < 1e-9 * p.1,
            "t = {}",
            p.0
        );
    }
}

fn s_predictions(r: &FitResult) -> Vec<(f64, f64)> {
    r.subjects[0]
        .predictions
        .iter()
        .map(|p| (p.time, p.ipred))
        .collect()
}

/// Example (a): the 12 theophylline subjects fitted with the population priors of
/// examples/theophylline.twin; each subject's MAP equals Nelder–Mead on its closed-form posterior
/// (Bateman function with CL = exp(lCl)·weight·e^η(cl), V = CL/ke, ka = exp(lKa)·e^η(ka)).
#[test]
fn theophylline_subjects_match_their_closed_form_posteriors() {
    let text = std::fs::read_to_string("examples/theophylline.twin").expect("example");
    let data = std::fs::read_to_string("examples/data/theoph_nm.csv").expect("data");
    let r = fit(&FitRequest {
        name: "examples/theophylline.twin".into(),
        text,
        data: data.clone(),
        seed: 1,
        starts: 1,
        draws: 0,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.subjects.len(), 12);
    let ke = (-2.454704f64).exp();
    for s in &r.subjects {
        let est = s.fit.as_ref().expect("fitted");
        assert_eq!(est.status, Status::Converged, "subject {}", s.id);
        // The subject's rows: (time, dv) of observations, the dose and the weight.
        let mut obs = Vec::new();
        let (mut dose, mut weight) = (0.0, 0.0);
        for line in data.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            if c[0] != s.id {
                continue;
            }
            weight = c[6].parse().expect("weight");
            match c[4] {
                "1" => dose = c[2].parse().expect("amt"),
                _ => obs.push((
                    c[1].parse::<f64>().expect("time"),
                    c[5].parse::<f64>().expect("dv"),
                )),
            }
        }
        let obj = |x: &[f64]| {
            let ka = 0.465734f64.exp() * x[0].exp();
            let cl = (-3.227223f64).exp() * weight * x[1].exp();
            let v = cl / ke;
            let mut sum = x[0] * x[0] / 0.6439f64.powi(2) + x[1] * x[1] / 0.1669f64.powi(2);
            for &(t, y) in &obs {
                let f = dose * ka / (v * (ka - ke)) * ((-ke * t).exp() - (-ka * t).exp());
                let var = 0.7092f64.powi(2);
                sum += (y - f).powi(2) / var + var.ln();
            }
            sum
        };
        let (x, v) = nelder_mead(&obj, &[0.0, 0.0]);
        for (a, (nm, tw)) in x.iter().zip(&est.eta).enumerate() {
            assert!(
                (nm - tw).abs() < 1e-4,
                "subject {} η{a}: Nelder–Mead {nm} vs twin {tw}",
                s.id
            );
        }
        assert!(
            (v - est.objective).abs() < 1e-6,
            "subject {}: objective {v} vs {}",
            s.id,
            est.objective
        );
    }
}

/// A subject whose data has an `SS=2` dose is fitted, but its forecast is refused: `--dose`
/// text cannot express a steady state added to the state, and replaying it as `SS=1` would be
/// another regimen.
#[test]
fn a_forecast_refuses_doses_it_cannot_replay() {
    let text = model("proportional(10%) + additive(0.05 mg/L)");
    let data = "ID,TIME,AMT,CMT,EVID,SS,II,DV\n1,0,100,gut,1,2,12,\n1,2,,gut,0,0,,3.9\n1,6,,gut,0,0,,3.1\n";
    let r = run(&request(text.clone(), data.into()));
    assert!(r.subjects[0].fit.is_ok());
    assert!(r.subjects[0].doses_unavailable);
    let dir = std::env::temp_dir().join(format!("twin-fit-ss2-{}", std::process::id()));
    r.write(&dir).expect("write");
    let base = twin::cmd::run::Request {
        name: "oral.twin".into(),
        text,
        until: Some("12h".into()),
        ..Default::default()
    };
    let e = twin::cmd::fit::forecast_request(&dir, "1", &base).expect_err("SS=2");
    assert!(e.to_string().contains("SS=2"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
