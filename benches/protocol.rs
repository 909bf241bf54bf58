//! The cost of a protocol: throughput of the same trial with and without visits and rules.
//!
//! - Warfarin (`examples/warfarin_pgx.twin`'s Hamberg model, 11 states, BDF): 10/5/5 mg loading
//!   then 5 mg daily for 12 weeks; the protocol arm adds 17 INR visits (days 4, 5, 8, then
//!   weekly) with the EU-PACT example's seven titration rules, `round` and `cap`.
//! - One-compartment bolus (exact linear path): 100 mg daily for 14 days; the protocol arm adds
//!   a trough visit before each dose with three rules (scale up, scale down, stop).
//!
//! Each trial runs its `n` patients (one arm) through `twin::cmd::trial::run_trial` (what
//! `twin trial` calls, no output files), without and with the protocol alternately, three
//! times; reported: the best time of each, patients per second and the ratio with/without,
//! measured side by side in one process on all threads.
//!
//! Run with `cargo bench --bench protocol`.

use std::time::Instant;
use twin::cmd::trial::{TrialOptions, run_trial};
use twin::solve::SolveOptions;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

const WARFARIN_ARMS: &str = r#"
trial Fixed {
    model Warfarin
    population 1000 { ancestry european; weight ~ lognormal(median: 78 kg, cv: 20%); age ~ uniform(30 year, 85 year) }
    arm a {
        dose 10 mg into gut
        dose 5 mg into gut at 1 d every 24 h for 83 d
    }
    sample every 6 h until 12 week
    endpoint ttr = fraction_of_time(inr >= 2 and inr <= 3, from 0 h to 12 week)
}
trial Protocol {
    model Warfarin
    population 1000 { ancestry european; weight ~ lognormal(median: 78 kg, cv: 20%); age ~ uniform(30 year, 85 year) }
    arm a {
        dose 10 mg into gut
        dose 5 mg into gut at 1 d every 24 h for 83 d
        round dose to 0.5 mg
        cap dose at 15 mg
        visit at [3 d, 4 d, 7 d] then every 7 d until 12 week
        when t >= 7 d and inr < 1.6 { scale dose by 1.10 }
        when t >= 7 d and inr >= 1.6 and inr < 1.8 { scale dose by 1.05 }
        when t >= 7 d and inr >= 1.8 and inr < 2 twice { scale dose by 1.05 }
        when t >= 7 d and inr > 3 and inr < 3.4 twice { scale dose by 0.95 }
        when t >= 7 d and inr >= 3.4 and inr < 5 { scale dose by 0.90 }
        when t >= 7 d and inr >= 4 and inr < 5 { hold 1 dose }
        when t >= 7 d and inr >= 5 { hold 2 doses; scale dose by 0.85 }
    }
    sample every 6 h until 12 week
    endpoint ttr = fraction_of_time(inr >= 2 and inr <= 3, from 0 h to 12 week)
}
"#;

const LINEAR: &str = r#"
model Pk {
    param k: 1/h = 0.1/h
    vary k ~ lognormal(omega: 0.09)
    compartment central: mg
    flow central -> out = k * central
    observe conc: mg/L = central / 10 L ~ proportional(10%)
}
trial Fixed {
    model Pk
    population 20000 { }
    arm a { dose 100 mg into central every 24 h for 14 d }
    sample every 1 h until 14 d
    endpoint auc_all = auc(conc)
}
trial Protocol {
    model Pk
    population 20000 { }
    arm a {
        dose 100 mg into central every 24 h for 14 d
        visit before each dose
        when conc > 0.6 mg/L { scale dose by 0.8 }
        when conc < 0.3 mg/L { scale dose by 1.25 }
        when conc > 1.5 mg/L twice { stop "toxic trough" }
    }
    sample every 1 h until 14 d
    endpoint auc_all = auc(conc)
}
"#;

fn time(c: &twin::driver::Compilation, trial: &str) -> f64 {
    let opts = TrialOptions {
        trial: Some(trial.into()),
        seed: 1,
        n: None,
        shard: None,
        solve: SolveOptions::default(),
        out: None,
        progress: false,
        trajectories: false,
    };
    let t0 = Instant::now();
    run_trial(c, "bench.twin", &opts).unwrap_or_else(|e| fail(e));
    t0.elapsed().as_secs_f64()
}

fn bench(label: &str, text: &str, n: f64) {
    let c = twin::driver::compile("bench.twin", text);
    if c.has_errors() {
        fail(twin::diagnostic::render(&c.sources, &c.diagnostics, false));
    }
    let (mut fixed, mut protocol) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..3 {
        fixed = fixed.min(time(&c, "Fixed"));
        protocol = protocol.min(time(&c, "Protocol"));
    }
    println!(
        "{label}: without rules {:.3} s ({:.0} patients/s), with rules {:.3} s ({:.0} patients/s), ratio {:.2}",
        fixed,
        n / fixed,
        protocol,
        n / protocol,
        protocol / fixed
    );
}

fn main() {
    let path = format!("{}/examples/warfarin_pgx.twin", env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    // The example's model (and its `use`), without its trials.
    let model_end = example
        .find("\n// Standard 5 mg daily")
        .unwrap_or_else(|| fail("the warfarin example's first trial was not found"));
    let warfarin = format!("{}\n{WARFARIN_ARMS}", &example[..model_end]);
    println!(
        "threads: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    bench("warfarin, 1000 patients, 12 weeks (BDF)", &warfarin, 1000.0);
    bench(
        "one-compartment, 20000 patients, 14 days (exact)",
        LINEAR,
        20000.0,
    );
}
