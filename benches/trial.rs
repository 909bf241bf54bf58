//! Trial throughput, two sections:
//!
//! - `friberg`: patients per second for 10 000 patients of the 7-state oral PK + Friberg
//!   myelosuppression model over 21 days (hourly samples, endpoints only, rtol 1e-6), on 1 and 2
//!   threads in one run, and the process's peak resident memory;
//! - `exact`: three examples whose linear models the exact method solves, with maxima located on
//!   its dense output, on 1 thread: `qt_risk.twin` (1 000 patients × 3 arms, 3 states, a
//!   0.02 h grid over 24 h), `voriconazole_pbpk.twin` (300 × 3, a 17-state PBPK model, hourly
//!   over 14 days, the maximum in the last dosing interval) and `consumer_safety.twin`
//!   (400 × 2, dermal absorption, hourly over 28 days, the maximum on the last day). For each,
//!   the whole trial (5 runs), then per patient-arm the solve alone, the solve recording its
//!   dense output, and the solve with every endpoint, raced round-robin, so that the share of
//!   the endpoints comes from one loop.
//!
//! Run with `cargo bench --bench trial` (both sections) or `cargo bench --bench trial -- exact`
//! (one section). The compile step (parse, check, lower, JIT) happens once and is timed
//! separately.

use std::time::Instant;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::driver::Compilation;
use twin::solve::{Method, SolveOptions};
use twin::trial::{population, runner};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

/// Parses and checks `path`, printing the time it took.
fn compile(path: &str) -> Compilation {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let t0 = Instant::now();
    let c = twin::driver::compile(path, &text);
    if c.has_errors() {
        fail(twin::diagnostic::render(&c.sources, &c.diagnostics, false));
    }
    println!(
        "compile (parse + check): {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    c
}

/// Median, 10th and 90th percentile.
fn quantiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    (q(0.5), q(0.1), q(0.9))
}

fn main() {
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |s: &str| sections.is_empty() || sections.iter().any(|a| a == s);
    if wants("friberg") {
        friberg();
    }
    if wants("exact") {
        for name in ["qt_risk", "voriconazole_pbpk", "consumer_safety"] {
            exact(name);
        }
    }
    if let Some(m) = peak_rss_mib() {
        println!("peak resident memory: {m:.1} MiB");
    }
}

/// An example on the exact path: the whole trial on 1 thread, then the cost per patient-arm of
/// solving, recording the dense output and computing the endpoints.
fn exact(name: &str) {
    println!(
        "\n== exact: examples/{name}.twin (exact method, dense-output endpoints), 1 thread =="
    );
    let path = format!("{}/examples/{name}.twin", env!("CARGO_MANIFEST_DIR"));
    let path = path.as_str();
    let c = compile(path);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap_or_else(|e| fail(e));
    let opts = TrialOptions {
        n: None,
        trial: None,
        seed: 1,
        shard: None,
        solve: SolveOptions::default(),
        out: None,
        progress: false,
        trajectories: false,
    };
    let mut rates = Vec::new();
    let mut summary: Option<String> = None;
    for _ in 0..5 {
        let start = Instant::now();
        let s = pool
            .install(|| run_trial(&c, path, &opts))
            .unwrap_or_else(|e| fail(format!("trial failed: {e}")));
        let secs = start.elapsed().as_secs_f64();
        let arms: usize = s.arms.iter().map(|g| g.patients).sum();
        let failed: usize = s.arms.iter().map(|g| g.failed).sum();
        if failed > 0 {
            fail(format!("{failed} patient-arms failed"));
        }
        rates.push(arms as f64 / secs);
        let csv = s.csv();
        if summary.as_ref().is_some_and(|p| *p != csv) {
            fail("the summaries of two identical runs differ");
        }
        summary = Some(csv);
    }
    let (m, lo, hi) = quantiles(rates);
    println!(
        "whole trial (sampling, solve, endpoints, summaries), 5 runs: {m:.0} patient-arms/s [{lo:.0} – {hi:.0}]"
    );

    // Per patient-arm, raced round-robin over every patient-arm of the trial.
    let trial = &c.program.trials[0];
    let prep = runner::prepare(&c.program, trial, SolveOptions::default())
        .unwrap_or_else(|e| fail(format!("{e:?}")));
    let sampler = prep.sampler().unwrap_or_else(|e| fail(e));
    let mut cases = Vec::new();
    for i in 0..sampler.size() {
        let p = sampler.sample(1, i).unwrap_or_else(|e| fail(e));
        for arm in 0..trial.arms.len() {
            let mut inputs = p.inputs.clone();
            population::apply_overrides(
                &prep.sim.evaluator,
                arm,
                &prep.sim.lowered.inputs,
                &mut inputs,
            )
            .unwrap_or_else(|e| fail(e));
            cases.push((inputs, arm));
        }
    }
    let solve = |record: bool| {
        let mut sink = 0.0;
        for (inputs, arm) in &cases {
            let patient =
                twin::sim::Patient::new(&prep.sim, inputs.clone()).unwrap_or_else(|e| fail(e));
            let regimen = prep.regimen(&patient, *arm, 1.0);
            let sim = if record {
                twin::sim::simulate_dense(
                    &prep.sim,
                    &patient,
                    &[],
                    &regimen,
                    &prep.dense,
                    &prep.options,
                )
                .map(|(s, _)| s)
            } else {
                twin::sim::simulate(&prep.sim, &patient, &regimen, &prep.dense, &prep.options)
            };
            let sim = sim.unwrap_or_else(|e| fail(e));
            sink += sim.observable(sim.times.len() - 1, 0);
        }
        sink
    };
    let endpoints = || {
        let mut sink = 0.0;
        for (i, (inputs, arm)) in cases.iter().enumerate() {
            let (v, _, _) = prep
                .simulate_arm(inputs, *arm, 1, i as u64)
                .unwrap_or_else(|e| fail(e));
            sink += v.iter().sum::<f64>();
        }
        sink
    };
    let labels = ["solve", "solve + dense record", "solve + endpoints"];
    let mut times: [Vec<f64>; 3] = Default::default();
    let mut sink = 0.0;
    for round in 0..6 {
        for (k, t) in times.iter_mut().enumerate() {
            let start = Instant::now();
            sink += match k {
                0 => solve(false),
                1 => solve(true),
                _ => endpoints(),
            };
            if round > 0 {
                t.push(start.elapsed().as_secs_f64() * 1e6 / cases.len() as f64);
            }
        }
    }
    std::hint::black_box(sink);
    let medians: Vec<f64> = times.iter().map(|t| quantiles(t.clone()).0).collect();
    for (label, t) in labels.iter().zip(&times) {
        let (m, lo, hi) = quantiles(t.clone());
        println!("{label:<22} {m:7.2} µs per patient-arm [{lo:.2} – {hi:.2}], 5 rounds");
    }
    println!(
        "endpoints: {:.2} µs per patient-arm ({:.2}x the solve alone)",
        medians[2] - medians[1],
        medians[2] / medians[0]
    );
}

/// The Friberg trial: default method on 1 and 2 threads and diffsol's BDF on 1 thread.
fn friberg() {
    println!("== friberg: benches/models/friberg_trial.twin ==");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/models/friberg_trial.twin"
    );
    let c = compile(path);
    let base = TrialOptions {
        n: None,
        trial: None,
        seed: 1,
        shard: None,
        solve: SolveOptions::default(),
        out: None,
        progress: false,
        trajectories: false,
    };
    // The default (Auto = the crate's own BDF for this nonlinear model) on 1 and 2 threads, and
    // diffsol's BDF on 1 thread for a side-by-side ratio, alternated twice.
    let runs = [
        ("bdf", Method::Auto, 1usize),
        ("diffsol-bdf", Method::DiffsolBdf, 1),
        ("bdf", Method::Auto, 2),
        ("bdf", Method::Auto, 1),
        ("diffsol-bdf", Method::DiffsolBdf, 1),
        ("bdf", Method::Auto, 2),
    ];
    let mut by_run: Vec<(&str, usize, f64)> = Vec::new();
    let mut summaries = Vec::new();
    for (label, method, threads) in runs {
        let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let opts = TrialOptions {
            n: None,
            solve: SolveOptions {
                method,
                ..SolveOptions::default()
            },
            ..base.clone()
        };
        let start = Instant::now();
        let result = pool.install(|| run_trial(&c, path, &opts));
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(s) => {
                let failed: usize = s.arms.iter().map(|g| g.failed).sum();
                let rate = 10_000.0 / secs;
                println!(
                    "{label:<12} {threads} thread(s): {secs:.2} s, {rate:.0} patients/s ({:.0} per thread), {failed} failed",
                    rate / threads as f64
                );
                by_run.push((label, threads, rate));
                if label == "bdf" {
                    summaries.push(s.csv());
                }
            }
            Err(e) => {
                eprintln!("trial failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let best = |label: &str, threads: usize| {
        by_run
            .iter()
            .filter(|r| r.0 == label && r.1 == threads)
            .map(|r| r.2)
            .fold(0.0f64, f64::max)
    };
    let (b1, b2, d1) = (best("bdf", 1), best("bdf", 2), best("diffsol-bdf", 1));
    println!("best of two: bdf {b1:.0}/s on 1 thread, {b2:.0}/s on 2; diffsol-bdf {d1:.0}/s on 1");
    println!("bdf vs diffsol-bdf on 1 thread: {:.2}x", b1 / d1);
    println!("speed-up on 2 threads: {:.2}x", b2 / b1);
    println!(
        "identical summaries on 1 and 2 threads: {}",
        summaries.windows(2).all(|w| w[0] == w[1])
    );
}
