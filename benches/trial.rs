//! Trial throughput: patients per second for 10 000 patients of the 7-state oral PK + Friberg
//! myelosuppression model over 21 days (hourly samples, endpoints only, rtol 1e-6), on 1 and 2
//! threads in one run, and the process's peak resident memory.
//!
//! Run with `cargo bench --bench trial`. The compile step (parse, check, lower, JIT) happens once
//! and is timed separately.

use std::time::Instant;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::{Method, SolveOptions};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/models/friberg_trial.twin"
    );
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let t0 = Instant::now();
    let c = twin::driver::compile(path, &text);
    if c.has_errors() {
        eprint!(
            "{}",
            twin::diagnostic::render(&c.sources, &c.diagnostics, false)
        );
        std::process::exit(1);
    }
    println!(
        "compile (parse + check): {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
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
    if let Some(m) = peak_rss_mib() {
        println!("peak resident memory: {m:.1} MiB");
    }
}
