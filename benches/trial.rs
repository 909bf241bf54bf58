//! Trial throughput: patients per second for 10 000 patients of the 7-state oral PK + Friberg
//! myelosuppression model over 21 days (hourly samples, endpoints only, rtol 1e-6), on 1 and 2
//! threads in one run, and the process's peak resident memory.
//!
//! Run with `cargo bench --bench trial`. The compile step (parse, check, lower, JIT) happens once
//! and is timed separately.

use std::time::Instant;
use twin::solve::SolveOptions;
use twin::trial::job::{TrialOptions, run_trial};

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
    let opts = TrialOptions {
        trial: None,
        seed: 1,
        shard: None,
        solve: SolveOptions::default(),
        out: None,
        progress: false,
        trajectories: false,
    };
    let mut rates = Vec::new();
    let mut summaries = Vec::new();
    for threads in [1usize, 2] {
        let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let start = Instant::now();
        let result = pool.install(|| run_trial(&c, path, &opts));
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(s) => {
                let failed: usize = s.arms.iter().map(|g| g.failed).sum();
                let rate = 10_000.0 / secs;
                println!(
                    "{threads} thread(s): {secs:.2} s, {rate:.0} patients/s ({:.0} per thread), {failed} failed",
                    rate / threads as f64
                );
                rates.push(rate);
                summaries.push(s.csv());
            }
            Err(e) => {
                eprintln!("trial failed: {e}");
                std::process::exit(1);
            }
        }
    }
    if rates.len() == 2 {
        println!("speed-up on 2 threads: {:.2}x", rates[1] / rates[0]);
        println!(
            "identical summaries on 1 and 2 threads: {}",
            summaries[0] == summaries[1]
        );
    }
    if let Some(m) = peak_rss_mib() {
        println!("peak resident memory: {m:.1} MiB");
    }
}
