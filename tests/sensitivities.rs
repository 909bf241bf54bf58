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
    let text = std::fs::read_to_string(file).expect("example");
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
