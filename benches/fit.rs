//! `twin fit` throughput: MAP estimates (with the Laplace covariance) per second for
//! - `benches/models/fit_oral.twin`: one-compartment oral, 3 correlated η, 10 samples per
//!   patient (0.5–24 h after 100 mg), solved exactly;
//! - `benches/models/fit_friberg.twin`: oral PK + Friberg myelosuppression (7 states, BDF),
//!   4 η, 5 daily doses of 100 mg and 10 ANC samples over 21 days.
//!
//! Each dataset's DVs are simulated by `twin run --events --sample --seed 1` (η and residual
//! error drawn from the model), then fitted with `twin::cmd::fit::fit` (what `twin fit` calls:
//! one start from η = 0, no posterior band, default tolerances) on 1 and on 2 threads, in the
//! same process one after the other. Reported: time per patient, patients per second, objective
//! evaluations per patient (each a solve of the model with its sensitivities) and how many
//! patients converged. Results are identical on 1 and 2 threads (checked here).
//!
//! Run with `cargo bench --bench fit`.

use std::time::Instant;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

fn model(name: &str) -> (String, String) {
    let path = format!("{}/benches/models/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    (path, text)
}

/// A dataset with DVs drawn by `twin run --events --sample`: `patients` subjects, the doses
/// `doses` (time, amount into `cmt`) and observation rows of `observable` at `times`.
fn dataset(
    name: &str,
    text: &str,
    patients: usize,
    doses: &[f64],
    cmt: &str,
    observable: &str,
    times: &[f64],
) -> String {
    let mut plan = String::from("ID,TIME,AMT,CMT,EVID,DVID,DV\n");
    for id in 1..=patients {
        let mut rows: Vec<(f64, String)> = doses
            .iter()
            .map(|&t| (t, format!("{id},{t},100,{cmt},1,,\n")))
            .collect();
        rows.extend(
            times
                .iter()
                .map(|&t| (t, format!("{id},{t},,,0,{observable},1\n"))),
        );
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        rows.iter().for_each(|r| plan.push_str(&r.1));
    }
    let t = twin::cmd::run::simulate(&twin::cmd::run::Request {
        name: name.into(),
        text: text.into(),
        events: Some(plan),
        sample: Some(1),
        ..Default::default()
    })
    .unwrap_or_else(|e| fail(format!("simulating {name}: {e}")));
    let mut out = String::from("ID,TIME,AMT,CMT,EVID,DVID,DV\n");
    for s in &t.subjects {
        let id = s.id.clone().unwrap_or_default();
        for r in s.records.iter().flatten() {
            match r.sampled {
                Some([_, _, sim]) if r.row.evid == 0 => {
                    out.push_str(&format!("{id},{},,,0,{observable},{sim}\n", r.row.time))
                }
                _ if r.row.evid == 1 => {
                    out.push_str(&format!("{id},{},100,{cmt},1,,\n", r.row.time))
                }
                _ => {}
            }
        }
    }
    out
}

fn bench(label: &str, name: &str, text: &str, data: &str, patients: usize) {
    let req = twin::cmd::fit::FitRequest {
        name: name.into(),
        text: text.into(),
        data: data.into(),
        seed: 1,
        starts: 1,
        draws: 0,
        ..Default::default()
    };
    let mut first: Option<String> = None;
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap_or_else(|e| fail(e));
        let start = Instant::now();
        let r = pool
            .install(|| twin::cmd::fit::fit(&req))
            .unwrap_or_else(|e| fail(format!("{label}: {e}")));
        let secs = start.elapsed().as_secs_f64();
        let evals: usize = r
            .subjects
            .iter()
            .filter_map(|s| s.fit.as_ref().ok())
            .map(|f| f.evaluations)
            .sum();
        let converged = r
            .subjects
            .iter()
            .filter(|s| {
                s.fit
                    .as_ref()
                    .is_ok_and(|f| f.status == twin::fit::lm::Status::Converged)
            })
            .count();
        if let Some(why) = r.subjects.iter().find_map(|s| match &s.fit {
            Ok(f) if f.status != twin::fit::lm::Status::Converged => {
                Some(format!("{:?}", f.status))
            }
            Err(e) => Some(e.clone()),
            _ => None,
        }) {
            eprintln!("{label}: first patient not converged: {why}");
        }
        let csv = r.individuals_csv();
        match &first {
            None => first = Some(csv),
            Some(f) if *f != csv => {
                fail(format!("{label}: results differ between 1 and 2 threads"))
            }
            Some(_) => {}
        }
        println!(
            "| {label} | {threads} | {patients} | {:.3} s | {:.3} ms | {:.0} | {:.1} | {converged}/{patients} |",
            secs,
            1e3 * secs / patients as f64,
            patients as f64 / secs,
            evals as f64 / patients as f64,
        );
    }
}

fn main() {
    println!(
        "| model | threads | patients | total | per patient | patients/s | evaluations/patient | converged |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (name, text) = model("fit_oral.twin");
    let times = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0];
    let data = dataset(&name, &text, 1000, &[0.0], "gut", "conc", &times);
    bench(
        "one-compartment oral, 10 samples",
        &name,
        &text,
        &data,
        1000,
    );
    let (name, text) = model("fit_friberg.twin");
    let days = [0.0, 24.0, 48.0, 72.0, 96.0];
    let times: Vec<f64> = [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 18.0, 21.0]
        .iter()
        .map(|d| d * 24.0)
        .collect();
    let data = dataset(&name, &text, 200, &days, "depot", "anc", &times);
    bench(
        "PK + Friberg (7 states), 10 ANC samples",
        &name,
        &text,
        &data,
        200,
    );
}
