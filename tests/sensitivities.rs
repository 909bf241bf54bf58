//! Forward sensitivities generated from the IR (`∂y/∂η`, `∂y/∂θ`, solved with the states)
//! against central finite differences of the model itself, run through `--set`: for every
//! example model with random effects, for the exact linear path and for BDF, for infusions and
//! repeated doses.

use twin::cmd::run::{Request, simulate};
use twin::solve::{Method, SolveOptions};

fn tight(method: Method) -> SolveOptions {
    SolveOptions {
        method,
        rtol: 1e-11,
        atol: 1e-13,
        ..Default::default()
    }
}

/// Observables of the run (row-major: time, observable).
fn observables(req: &Request) -> (Vec<f64>, Vec<Vec<f64>>) {
    let t = simulate(req).unwrap_or_else(|e| panic!("{}: {e}", req.name));
    let s = &t.subjects[0].sim;
    let rows = (0..s.times.len())
        .map(|k| (0..s.n_observables).map(|j| s.observable(k, j)).collect())
        .collect();
    (s.times.clone(), rows)
}

/// What one sensitivity column is taken against.
enum Wrt {
    /// `eta_<param>` (a random effect's η).
    Eta(&'static str),
    /// A param estimated as a fixed effect, at its model value `value` (in its declared unit,
    /// written with `unit`).
    Theta(&'static str, f64, &'static str),
}

/// Checks every sensitivity observable against central differences with step `h` (relative
/// for θ); `n_obs` is the model's own observable count.
fn check(
    file: &str,
    doses: &[&str],
    sets: &[&str],
    until: &str,
    wrt: &[Wrt],
    method: Method,
    tol: f64,
) {
    let text = if file.ends_with(".twin") {
        std::fs::read_to_string(file).expect("example")
    } else {
        file.to_string()
    };
    let file = if file.ends_with(".twin") {
        file
    } else {
        "model"
    };
    let mut sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    // θ at the value the differences are taken around.
    for w in wrt {
        if let Wrt::Theta(p, v, u) = w {
            sets.push(format!("{p}={v} {u}"));
        }
    }
    let base = Request {
        name: file.into(),
        text,
        doses: doses.iter().map(|d| d.to_string()).collect(),
        sets,
        until: Some(until.into()),
        every: Some("1h".into()),
        options: tight(method),
        ..Default::default()
    };
    let estimate: Vec<String> = wrt
        .iter()
        .filter_map(|w| match w {
            Wrt::Theta(n, _, _) => Some(n.to_string()),
            Wrt::Eta(_) => None,
        })
        .collect();
    let (times, plain) = observables(&base);
    let n_obs = plain[0].len();
    let (_, aug) = observables(&Request {
        sensitivities: true,
        estimate,
        ..base.clone()
    });
    // Columns: every η of the model in declaration order, then the θ in `--estimate` order.
    let etas: Vec<&Wrt> = wrt.iter().filter(|w| matches!(w, Wrt::Eta(_))).collect();
    let n_etas = (aug[0].len() / n_obs) - 1 - (wrt.len() - etas.len());
    assert_eq!(etas.len(), n_etas, "{file}: list every η of the model");
    let mut worst: f64 = 0.0;
    for (j, w) in wrt.iter().enumerate() {
        let (plus, minus, step) = match w {
            Wrt::Eta(p) => {
                let h = 1e-4;
                let set = |v: f64| {
                    let mut r = base.clone();
                    r.sets.push(format!("eta_{p}={v}"));
                    observables(&r).1
                };
                (set(h), set(-h), 2.0 * h)
            }
            Wrt::Theta(p, v, u) => {
                let h = 1e-4 * v;
                let set = |x: f64| {
                    let mut r = base.clone();
                    r.sets.push(format!("{p}={x} {u}"));
                    observables(&r).1
                };
                (set(v + h), set(v - h), 2.0 * h)
            }
        };
        for k in 0..times.len() {
            for o in 0..n_obs {
                let fd = (plus[k][o] - minus[k][o]) / step;
                let exact = aug[k][n_obs * (1 + j) + o];
                let scale = plain
                    .iter()
                    .map(|r| r[o].abs())
                    .fold(0.0f64, f64::max)
                    .max(1e-300);
                let err = (fd - exact).abs() / (fd.abs().max(exact.abs()).max(1e-3 * scale));
                worst = worst.max(err);
                assert!(
                    err < tol,
                    "{file}: column {j}, observable {o}, t = {}: exact {exact}, finite differences {fd}",
                    times[k]
                );
            }
        }
    }
    eprintln!("{file}: worst relative deviation {worst:.2e}");
}

#[test]
fn theophylline_exact_path() {
    check(
        "examples/theophylline.twin",
        &["320 mg into gut"],
        &["weight=70kg"],
        "25h",
        &[
            Wrt::Eta("ka"),
            Wrt::Eta("cl"),
            Wrt::Theta("ke", 0.0859, "/h"),
        ],
        Method::Auto,
        1e-6,
    );
}

#[test]
fn theophylline_bdf() {
    check(
        "examples/theophylline.twin",
        &["320 mg into gut every 12 h times 3"],
        &[],
        "48h",
        &[Wrt::Eta("ka"), Wrt::Eta("cl")],
        Method::Bdf,
        1e-5,
    );
}

#[test]
fn vancomycin_infusions() {
    check(
        "examples/vancomycin.twin",
        &["1 g into central over 1 h every 12 h times 4"],
        &[],
        "48h",
        &[
            Wrt::Eta("cl"),
            Wrt::Eta("v1"),
            Wrt::Eta("q"),
            Wrt::Eta("v2"),
        ],
        Method::Auto,
        1e-5,
    );
}

/// Oral absorption with a bioavailable fraction and a lag time (both with random effects), into a
/// linear or a saturable (Michaelis–Menten) elimination.
fn absorption(elimination: &str) -> String {
    format!(
        r#"
model Absorb {{
    param ka: 1/h = 1.1 /h
    param cl: L/h = 3 L/h
    param v: L = 25 L
    param vmax: mg/h = 20 mg/h
    param km: mg/L = 2 mg/L
    param f: 1 in [0, 1] = 0.7
    param tlag: h = 0.4 h
    vary f ~ logit(sd: 0.5)
    vary tlag ~ lognormal(cv: 30%)
    vary cl ~ lognormal(cv: 30%)
    compartment gut: mg
    compartment central: mg
    bioavailability gut = f
    lag gut = tlag
    bioavailability central = f
    lag central = tlag
    flow gut -> central = ka * gut
    flow central -> out = {elimination}
    observe conc: mg/L = central / v
}}
"#
    )
}

const ABSORB_ETAS: [Wrt; 3] = [Wrt::Eta("f"), Wrt::Eta("tlag"), Wrt::Eta("cl")];

#[test]
fn bioavailability_and_lag_of_oral_doses() {
    for (elimination, method) in [
        ("cl / v * central", Method::Auto),
        ("cl / v * central", Method::Bdf),
        ("vmax * central / (km * v + central)", Method::Bdf),
    ] {
        let mut wrt: Vec<Wrt> = ABSORB_ETAS.into();
        wrt.push(Wrt::Theta("f", 0.7, ""));
        wrt.push(Wrt::Theta("tlag", 0.4, "h"));
        wrt.push(Wrt::Theta("ka", 1.1, "/h"));
        check(
            &absorption(elimination),
            &["100 mg into gut every 6 h times 3"],
            &[],
            "24h",
            &wrt,
            method,
            1e-5,
        );
    }
}

#[test]
fn bioavailability_and_lag_of_infusions_by_rate_and_by_duration() {
    for dose in [
        "50 mg into central over 2 h every 8 h times 2",
        "35 mg into central rate 20 mg/h every 8 h times 2",
    ] {
        for (elimination, method) in [
            ("cl / v * central", Method::Auto),
            ("vmax * central / (km * v + central)", Method::Bdf),
        ] {
            let mut wrt: Vec<Wrt> = ABSORB_ETAS.into();
            wrt.push(Wrt::Theta("f", 0.7, ""));
            wrt.push(Wrt::Theta("tlag", 0.4, "h"));
            check(
                &absorption(elimination),
                &[dose],
                &[],
                "24h",
                &wrt,
                method,
                1e-5,
            );
        }
    }
}

/// Every example model: its random effects (or, without any, a few of its constant params as θ).
#[test]
fn every_example_model() {
    let cases: Vec<(&str, &str, &str, Vec<Wrt>)> = vec![
        (
            "examples/one_compartment_oral.twin",
            "100 mg into depot",
            "24h",
            vec![
                Wrt::Theta("ka", 1.0, "/h"),
                Wrt::Theta("cl", 5.0, "L/h"),
                Wrt::Theta("v", 50.0, "L"),
            ],
        ),
        (
            "examples/two_compartment_iv.twin",
            "100 mg into central over 1 h every 12 h times 3",
            "48h",
            vec![
                Wrt::Theta("cl", 10.0, "L/h"),
                Wrt::Theta("q", 5.0, "L/h"),
                Wrt::Theta("v2", 100.0, "L"),
            ],
        ),
        (
            "examples/cyp3a4_cohort.twin",
            "2 mg into central over 0.5 h",
            "24h",
            vec![
                Wrt::Theta("clint_pmol", 1.2, "uL/min/pmol"),
                Wrt::Theta("mppgl", 40.0, "mg/g"),
            ],
        ),
        (
            "examples/warfarin_pgx.twin",
            "5 mg into gut every 24 h times 5",
            "144h",
            vec![
                Wrt::Eta("cl"),
                Wrt::Eta("v1"),
                Wrt::Eta("v2"),
                Wrt::Eta("coagulation.ec50"),
                Wrt::Eta("coagulation.mtt1"),
                Wrt::Eta("coagulation.mtt2"),
            ],
        ),
        (
            "examples/qt_risk.twin",
            "400 mg into gut",
            "24h",
            vec![Wrt::Eta("cl"), Wrt::Eta("vc"), Wrt::Eta("ka")],
        ),
        (
            "examples/oncology_tgi.twin",
            "135 mg into central over 1 h",
            "240h",
            vec![Wrt::Eta("marrow.mtt"), Wrt::Eta("marrow.slope")],
        ),
        (
            "examples/voriconazole_pbpk.twin",
            "400 mg into lumen every 12 h times 2",
            "36h",
            vec![Wrt::Eta("clint_u")],
        ),
        (
            "examples/pediatric_pbpk.twin",
            "100 mg into venous over 2 h",
            "24h",
            vec![Wrt::Theta("fu", 0.42, "")],
        ),
        (
            "examples/consumer_safety.twin",
            "10 mg into surface",
            "48h",
            vec![Wrt::Eta("cl_total"), Wrt::Eta("kp")],
        ),
    ];
    for (file, dose, until, wrt) in cases {
        check(file, &[dose], &[], until, &wrt, Method::Auto, 1e-5);
    }
}
