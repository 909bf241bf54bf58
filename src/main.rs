//! The `twin` command line: arguments → driver → rendered diagnostics → exit code.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::process::ExitCode;
use twin::diagnostic::{self, codes};

/// twin — models and virtual trials for pharmacological digital twins.
#[derive(Parser)]
#[command(name = "twin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Format {
    /// ariadne reports on stderr.
    Human,
    /// One JSON array of diagnostics on stdout.
    Json,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// Nothing besides diagnostics.
    None,
    /// The checked model and trials.
    Hir,
    /// The lowered, unit-free IR of every model.
    Ir,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum MethodArg {
    /// Exact matrix-exponential solution for linear models, BDF otherwise.
    Auto,
    /// Exact solution (linear models only).
    Exact,
    /// Variable-order BDF (NDF orders 1–5) for small dense systems.
    Bdf,
    /// diffsol's variable-order BDF (a second implementation of the same method).
    DiffsolBdf,
    /// ESDIRK3(4), cheap restarts for frequent doses.
    Esdirk,
    /// TR-BDF2.
    Trbdf2,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check files; exit 1 if any has errors.
    Check {
        /// `.twin` files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Diagnostic format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Also print an intermediate form.
        #[arg(long, value_enum, default_value = "none")]
        emit: Emit,
    },
    /// Simulate one patient: typical values, `--set` overrides, a regimen from `--dose`, `--arm`
    /// or `--events`; CSV to `--out` or stdout, a summary on stderr.
    Run {
        /// The `.twin` file.
        file: std::path::PathBuf,
        /// A dose statement, e.g. '100 mg into gut every 12 h for 5 d' (repeatable).
        #[arg(long)]
        dose: Vec<String>,
        /// An arm of a trial in the file (`arm` or `trial.arm`).
        #[arg(long)]
        arm: Option<String>,
        /// The model, when the file has several.
        #[arg(long)]
        model: Option<String>,
        /// Set a covariate or genotype: weight=80kg, cyp2c9=*1/*3 (repeatable).
        #[arg(long)]
        set: Vec<String>,
        /// End of the simulation, e.g. 48h.
        #[arg(long)]
        until: Option<String>,
        /// Output interval, e.g. 0.5h.
        #[arg(long)]
        every: Option<String>,
        /// NONMEM-style event records (ID, TIME, AMT, RATE, CMT, EVID, II, ADDL).
        #[arg(long)]
        events: Option<std::path::PathBuf>,
        /// Write the CSV here instead of stdout (atomically).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// With --events: simulate each subject with random effects (and per-occasion effects by
        /// OCC) and residual error drawn from --seed; adds PRED, IPRED and SIM columns.
        #[arg(long, requires = "events")]
        sample: bool,
        /// Random seed of --sample, of the posterior draws of --twin, and of the measurements at a
        /// protocol arm's visits (--arm: drawn as for patient 0 of `twin trial --seed`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// With --events: interpolate this covariate linearly between its rows instead of
        /// carrying each value forward (repeatable).
        #[arg(long, requires = "events")]
        interpolate: Vec<String>,
        /// Add a column with the running total eliminated through `-> out` (in the unit of the
        /// eliminating compartments), for mass-balance checks.
        #[arg(long)]
        eliminated: bool,
        /// Forecast a fitted patient: the `twin fit --out` directory (needs --id). Its
        /// covariates, MAP random effects, estimated params and doses from the data, then --dose.
        #[arg(long, requires = "id", conflicts_with_all = ["events", "arm"])]
        twin: Option<std::path::PathBuf>,
        /// The subject of --twin.
        #[arg(long, requires = "twin")]
        id: Option<String>,
        /// Posterior draws for the 2.5–97.5 % band of a --twin forecast (0: none).
        #[arg(long, default_value_t = 200)]
        draws: usize,
        /// Relative tolerance of the integrators, 1e-13 to 0.1 [default: 1e-6].
        #[arg(long, value_parser = parse_rtol)]
        rtol: Option<f64>,
        /// Absolute tolerance of the integrators, in each state's unit, positive [default: 1e-9].
        #[arg(long, value_parser = parse_atol)]
        atol: Option<f64>,
        /// Integration method.
        #[arg(long, value_enum, default_value = "auto")]
        method: MethodArg,
    },
    /// Fit every subject of a NONMEM-style dataset: MAP random effects under the model's priors,
    /// with Laplace covariance, predictions and posterior bands (individuals.csv,
    /// predictions.csv, fit.json in --out).
    Fit {
        /// The model file.
        file: std::path::PathBuf,
        /// The dataset (ID, TIME, AMT, EVID, DV, CMT, … and covariate columns).
        #[arg(long)]
        data: std::path::PathBuf,
        /// Output directory (replaced as a whole).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Which model, when the file has several.
        #[arg(long)]
        model: Option<String>,
        /// Params to estimate as fixed effects shared by every subject (`--estimate clint,ka`).
        #[arg(long, value_delimiter = ',')]
        estimate: Vec<String>,
        /// Set a param or covariate (`--set weight=70kg`).
        #[arg(long)]
        set: Vec<String>,
        /// Seed of the extra starts and of the posterior draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Starts per subject: η = 0, then draws from the prior.
        #[arg(long, default_value_t = 1)]
        starts: usize,
        /// Draws of η from each subject's posterior for the IPRED band (0: no band).
        #[arg(long, default_value_t = 200)]
        draws: usize,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Relative tolerance of the integrator.
        #[arg(long, value_parser = parse_rtol)]
        rtol: Option<f64>,
        /// Absolute tolerance of the integrator.
        #[arg(long, value_parser = parse_atol)]
        atol: Option<f64>,
        /// The integration method.
        #[arg(long, value_enum, default_value = "auto")]
        method: MethodArg,
    },
    /// Run a virtual trial: every patient of the population in every arm; summary on stdout.
    Trial {
        /// The `.twin` file.
        file: std::path::PathBuf,
        /// The trial, when the file has several.
        #[arg(long)]
        trial: Option<String>,
        /// Write patients.csv, summary.csv, summary.json and run.json here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Random seed (written into every output).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of patients, instead of the population's `n` (recorded in run.json).
        #[arg(long)]
        n: Option<u64>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Run only shard I of N (I/N, 1-based), e.g. for a cluster job array; join with `twin merge`.
        #[arg(long)]
        shard: Option<String>,
        /// Also write trajectories.csv (sampled observables, with residual error as `_dv`) and
        /// bands.csv (5/25/50/75/95 % quantiles per arm over time, for VPC-style plots).
        #[arg(long)]
        trajectories: bool,
        /// Relative tolerance of the integrators, 1e-13 to 0.1 [default: 1e-6].
        #[arg(long, value_parser = parse_rtol)]
        rtol: Option<f64>,
        /// Absolute tolerance of the integrators, in each state's unit, positive [default: 1e-9].
        #[arg(long, value_parser = parse_atol)]
        atol: Option<f64>,
        /// Integration method.
        #[arg(long, value_enum, default_value = "auto")]
        method: MethodArg,
    },
    /// Join the output directories of `twin trial --shard` runs into one.
    Merge {
        /// The `.twin` file the shards ran.
        file: std::path::PathBuf,
        /// Shard output directories.
        #[arg(required = true)]
        shards: Vec<std::path::PathBuf>,
        /// Where to write the merged files.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Rewrite files in the canonical layout (only those that change), or with `--check` list the
    /// files that would change and exit 1. Files with syntax errors are reported and left alone.
    Fmt {
        /// `.twin` files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Change nothing; exit 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Plot `twin run` output (profiles, one chart per unit), a `twin trial --out` directory
    /// (per-arm bands over time, endpoints by stratum) or a `twin fit --out` directory
    /// (goodness of fit, individual fits) as SVG.
    Plot {
        /// A `twin run` CSV, or a `twin trial --out` or `twin fit --out` directory.
        input: std::path::PathBuf,
        /// The SVG file to write (atomically).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Log-scaled y axes (values <= 0 are skipped).
        #[arg(long)]
        log: bool,
        /// Columns (profiles) or observables (trial bands) to plot, e.g. conc,central.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Dose times to mark, in hours, e.g. 0,12,24 (or 1d).
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        doses: Vec<String>,
        /// Mark the dose times of NONMEM-style event records.
        #[arg(long)]
        doses_from_events: Option<std::path::PathBuf>,
        /// Trial charts: all, bands (over time) or strata (endpoints by stratum).
        #[arg(long, default_value = "all", value_parser = ["all", "bands", "strata"])]
        what: String,
        /// A title.
        #[arg(long)]
        title: Option<String>,
    },
    /// An interactive session: evaluate expressions with units (`5 mg / 2 L`), add declarations,
    /// set covariates, dose, run and plot; `:help` lists the commands. Reads plain lines when
    /// stdin is not a terminal.
    Repl {
        /// A `.twin` file to load first.
        file: Option<std::path::PathBuf>,
    },
    /// Explain a diagnostic code, e.g. `twin explain E0007`.
    Explain {
        /// The code.
        code: String,
    },
    /// Generate the Markdown reference of the standard library (stdout, or `--out FILE`), or with
    /// `--check FILE` exit 1 if FILE differs from it.
    Doc {
        /// Write the reference here (atomically) instead of stdout.
        #[arg(long, conflicts_with = "check")]
        out: Option<std::path::PathBuf>,
        /// Change nothing; exit 1 if this file is not the current reference.
        #[arg(long)]
        check: Option<std::path::PathBuf>,
        /// Document the `.twin` files of this directory instead of the embedded standard library.
        #[arg(long)]
        stdlib: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    // Like other command-line tools, stop quietly when stdout is a closed pipe (`twin run | head`)
    // instead of failing on the write.
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            files,
            format,
            emit,
        } => check(&files, format, emit),
        Command::Run {
            file,
            dose,
            arm,
            model,
            set,
            until,
            every,
            events,
            out,
            sample,
            seed,
            interpolate,
            eliminated,
            twin,
            id,
            draws,
            rtol,
            atol,
            method,
        } => {
            let name = file.display().to_string();
            let text = match twin::files::read_source(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {name}: {e}");
                    return ExitCode::from(2);
                }
            };
            let tolerances_given = rtol.is_some() || atol.is_some();
            let options = solve_options(method, rtol, atol);
            let req = twin::cmd::run::Request {
                tolerances_given,
                eliminated,
                name,
                text,
                model,
                doses: dose,
                arm,
                sets: set,
                until,
                every,
                events: None,
                options,
                sample: sample.then_some(seed),
                measure: (seed, 0),
                interpolate,
                band: (draws > 0).then(|| twin::cmd::run::Band {
                    draws,
                    seed,
                    ..Default::default()
                }),
                ..Default::default()
            };
            let req = match (&twin, &id) {
                (Some(dir), Some(id)) => match twin::cmd::fit::forecast_request(dir, id, &req) {
                    Ok(r) => r,
                    Err(f) => return run_failure(f, out.as_deref()),
                },
                _ => twin::cmd::run::Request { band: None, ..req },
            };
            match events {
                Some(events) => run_events(&req, &events, out.as_deref()),
                None => run(&req, out.as_deref()),
            }
        }
        Command::Fit {
            file,
            data,
            out,
            model,
            estimate,
            set,
            seed,
            starts,
            draws,
            threads,
            rtol,
            atol,
            method,
        } => {
            let name = file.display().to_string();
            let text = match twin::files::read_source(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {name}: {e}");
                    return ExitCode::from(2);
                }
            };
            let data_text = match std::fs::read_to_string(&data) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", data.display());
                    return ExitCode::from(2);
                }
            };
            let req = twin::cmd::fit::FitRequest {
                name,
                text,
                model,
                data: data_text,
                sets: set,
                estimate,
                options: solve_options(method, rtol, atol),
                seed,
                starts,
                draws,
            };
            with_threads(threads, || fit_cmd(&req, out.as_deref()))
        }
        Command::Trial {
            file,
            trial,
            out,
            seed,
            n,
            threads,
            shard,
            trajectories,
            rtol,
            atol,
            method,
        } => {
            let shard = match shard.as_deref().map(parse_shard) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(m)) => {
                    eprintln!("error: {m}");
                    return ExitCode::from(2);
                }
            };
            let opts = twin::cmd::trial::TrialOptions {
                n,
                trial,
                seed,
                shard,
                solve: solve_options(method, rtol, atol),
                out,
                progress: std::io::stderr().is_terminal(),
                trajectories,
            };
            with_threads(threads, || trial_cmd(&file, &opts))
        }
        Command::Merge { file, shards, out } => {
            let Some(c) = compile_file(&file) else {
                return ExitCode::FAILURE;
            };
            match twin::cmd::trial::merge(&c, &shards, &out, twin::solve::SolveOptions::default()) {
                Ok(s) => {
                    print!("{}", s.table());
                    eprintln!("wrote {}", out.display());
                    trial_exit(&s)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("note: {} is unchanged", out.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Plot {
            input,
            out,
            log,
            columns,
            doses,
            doses_from_events,
            what,
            title,
        } => {
            let req = twin::plot::PlotRequest {
                input,
                out,
                log,
                columns,
                doses,
                doses_from_events,
                what: match what.as_str() {
                    "bands" => twin::plot::TrialPlots::Bands,
                    "strata" => twin::plot::TrialPlots::Strata,
                    _ => twin::plot::TrialPlots::All,
                },
                title,
            };
            match twin::plot::run(&req) {
                Ok(msg) => {
                    eprintln!("{msg}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Repl { file } => twin::repl::frontend::run(file.as_deref()),
        Command::Doc { out, check, stdlib } => {
            doc(out.as_deref(), check.as_deref(), stdlib.as_deref())
        }
        Command::Explain { code } => match codes::lookup(&code) {
            Some(info) => {
                println!(
                    "{}: {}\n\n{}",
                    info.code,
                    info.title,
                    info.explanation.trim()
                );
                ExitCode::SUCCESS
            }
            None => {
                eprintln!(
                    "error: `{code}` is not a twin diagnostic code (codes look like E0007 or W0001)"
                );
                ExitCode::from(2)
            }
        },
    }
}

/// `twin doc [--out FILE | --check FILE] [--stdlib DIR]`: exit 2 on I/O errors, 1 when the stdlib
/// does not parse or (with `--check`) the file is out of date.
fn doc(
    out: Option<&std::path::Path>,
    check: Option<&std::path::Path>,
    stdlib: Option<&std::path::Path>,
) -> ExitCode {
    let generated = match stdlib {
        None => twin::doc::generate(),
        Some(dir) => match twin::doc::read_modules(dir) {
            Ok(modules) => {
                let refs: Vec<(&str, &str)> = modules
                    .iter()
                    .map(|(n, t)| (n.as_str(), t.as_str()))
                    .collect();
                twin::doc::generate_from(&refs)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let text = match generated {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = check {
        let name = path.display().to_string();
        let existing = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {name}: {e}");
                eprintln!("help: generate it with `twin doc --out {name}`");
                return ExitCode::from(2);
            }
        };
        return match twin::doc::compare(&name, &existing, &text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(m) => {
                eprintln!("error: {m}");
                ExitCode::FAILURE
            }
        };
    }
    match out {
        Some(path) => match twin::files::write_atomic(path, &text) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                ExitCode::from(2)
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// `--rtol`: a finite number from 1e-13 (a few hundred times the f64 rounding unit, below which
/// the error estimate is rounding noise) to 0.1.
fn parse_rtol(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (1e-13..=0.1).contains(&v) => Ok(v),
        Ok(v) => Err(format!(
            "{v:e} is outside the allowed range 1e-13 to 0.1 (the default is 1e-6)"
        )),
        Err(_) => Err(format!("`{s}` is not a number (e.g. 1e-8)")),
    }
}

/// `--atol`: a finite positive number, in each state's own unit.
fn parse_atol(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(v) => Err(format!(
            "{v} is not allowed: the absolute tolerance must be positive and finite (the default is 1e-9, in each state's unit)"
        )),
        Err(_) => Err(format!("`{s}` is not a number (e.g. 1e-12)")),
    }
}

fn solve_options(
    method: MethodArg,
    rtol: Option<f64>,
    atol: Option<f64>,
) -> twin::solve::SolveOptions {
    let rtol = rtol.unwrap_or(1e-6);
    let atol = atol.unwrap_or(1e-9);
    twin::solve::SolveOptions {
        method: match method {
            MethodArg::Auto => twin::solve::Method::Auto,
            MethodArg::Exact => twin::solve::Method::Exact,
            MethodArg::Bdf => twin::solve::Method::Bdf,
            MethodArg::DiffsolBdf => twin::solve::Method::DiffsolBdf,
            MethodArg::Esdirk => twin::solve::Method::Esdirk34,
            MethodArg::Trbdf2 => twin::solve::Method::TrBdf2,
        },
        rtol,
        atol,
        ..Default::default()
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard takes I/N with 1 <= I <= N, e.g. 2/8 (got `{s}`)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<u64>().map_err(|_| bad())?,
        n.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

fn with_threads(threads: Option<usize>, f: impl FnOnce() -> ExitCode + Send) -> ExitCode {
    match threads {
        None => f(),
        Some(n) => match rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
        {
            Ok(pool) => pool.install(f),
            Err(e) => {
                eprintln!("error: cannot start {n} threads: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Reads and compiles a file, printing diagnostics; `None` when it has errors.
fn compile_file(path: &std::path::Path) -> Option<twin::driver::Compilation> {
    let name = path.display().to_string();
    let text = match twin::files::read_source(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {name}: {e}");
            return None;
        }
    };
    let c = twin::driver::compile(&name, &text);
    eprint!(
        "{}",
        diagnostic::render(&c.sources, &c.diagnostics, std::io::stderr().is_terminal())
    );
    if c.has_errors() { None } else { Some(c) }
}

fn trial_cmd(file: &std::path::Path, opts: &twin::cmd::trial::TrialOptions) -> ExitCode {
    let Some(c) = compile_file(file) else {
        return ExitCode::FAILURE;
    };
    match twin::cmd::trial::run_trial(&c, &file.display().to_string(), opts) {
        Ok(s) => {
            print!("{}", s.table());
            if let Some(out) = &opts.out {
                eprintln!("wrote {}", out.display());
            }
            trial_exit(&s)
        }
        Err(twin::trial::TrialError::Prepare(e @ twin::driver::PrepareError::Grid { .. })) => {
            let d = e.diagnostic(&c.program);
            let color = std::io::stderr().is_terminal();
            eprint!("{}", diagnostic::render(&c.sources, &[d], color));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(out) = &opts.out {
                eprintln!("note: {} is unchanged", out.display());
            }
            ExitCode::FAILURE
        }
    }
}

/// The exit code of a finished trial: 1 when every patient-arm simulation failed, 0 otherwise;
/// failures are counted on stderr with the first few errors.
fn trial_exit(s: &twin::trial::output::Summary) -> ExitCode {
    let total: usize = s.arms.iter().map(|g| g.patients).sum();
    let failed: usize = s.arms.iter().map(|g| g.failed).sum();
    if failed == 0 {
        return ExitCode::SUCCESS;
    }
    let all = failed == total;
    eprintln!(
        "{}: {failed} of {total} patient-arm simulations failed{}",
        if all { "error" } else { "warning" },
        if all {
            "; there are no results"
        } else {
            " and are left out of the summaries"
        }
    );
    for (id, arm, e) in s.failures.iter().take(5) {
        eprintln!("  patient {id}, arm {arm}: {e}");
    }
    if failed > 5 {
        eprintln!("  … and {} more", failed - 5);
    }
    if all {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(req: &twin::cmd::run::Request, out: Option<&std::path::Path>) -> ExitCode {
    match twin::cmd::run::execute(req) {
        Ok(o) => {
            eprint!("{}", o.warnings);
            match out {
                Some(p) => {
                    if let Err(e) = twin::files::write_atomic(p, &o.csv) {
                        eprintln!("error: cannot write {}: {e}", p.display());
                        return ExitCode::FAILURE;
                    }
                }
                None => print!("{}", o.csv),
            }
            eprint!("{}", o.summary);
            ExitCode::SUCCESS
        }
        Err(f) => run_failure(f, out),
    }
}

/// `twin run --events`: the dataset is read and the table written one subject at a time, to
/// `--out` (replaced only when the whole table is written) or to stdout (where the lines of
/// the subjects before a failure have been written by then).
fn run_events(
    req: &twin::cmd::run::Request,
    events: &std::path::Path,
    out: Option<&std::path::Path>,
) -> ExitCode {
    use std::io::Write as _;
    let file = match std::fs::File::open(events) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", events.display());
            return ExitCode::from(2);
        }
    };
    let mut log = std::io::stderr();
    let result = match out {
        Some(p) => twin::cmd::run::stream_to_file(req, file, p, &mut log),
        None => {
            let mut table = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            twin::cmd::run::stream(req, file, &mut table, &mut log).and_then(|done| {
                table
                    .flush()
                    .map(|()| done)
                    .map_err(twin::cmd::run::Failure::Write)
            })
        }
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(f) => {
            let code = run_failure(f, out);
            if let Some(p) = out {
                eprintln!("note: {} is unchanged", p.display());
            }
            code
        }
    }
}

/// `twin fit`: the summary on stdout, the files in `out`.
fn fit_cmd(req: &twin::cmd::fit::FitRequest, out: Option<&std::path::Path>) -> ExitCode {
    match twin::cmd::fit::fit(req) {
        Ok(r) => {
            eprint!("{}", r.warnings);
            print!("{}", r.summary());
            if let Some(dir) = out {
                if let Err(e) = r.write(dir) {
                    eprintln!("error: {e}");
                    eprintln!("note: {} is unchanged", dir.display());
                    return ExitCode::FAILURE;
                }
            } else {
                print!("{}", r.individuals_csv());
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            let code = run_failure(f, out);
            if let Some(p) = out {
                eprintln!("note: {} is unchanged", p.display());
            }
            code
        }
    }
}

/// Reports why `twin run` failed; the exit code: 2 for a usage problem (a malformed dataset
/// among them), 1 otherwise.
fn run_failure(f: twin::cmd::run::Failure, out: Option<&std::path::Path>) -> ExitCode {
    use twin::cmd::run::Failure;
    match f {
        Failure::Diagnostics(c, diags) => {
            let color = std::io::stderr().is_terminal();
            eprint!("{}", diagnostic::render(&c.sources, &diags, color));
            ExitCode::FAILURE
        }
        f @ (Failure::Usage(_) | Failure::Prepare(_)) => {
            eprintln!("error: {f}");
            ExitCode::from(2)
        }
        f @ Failure::Simulate { .. } => {
            eprintln!("error: {f}");
            ExitCode::FAILURE
        }
        Failure::Write(e) => {
            match out {
                Some(p) => eprintln!("error: cannot write {}: {e}", p.display()),
                None => eprintln!("error: cannot write the table: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// `twin fmt [--check] FILE…`: exit 2 on I/O errors, 1 on syntax errors or (with `--check`) files
/// that would change, 0 otherwise.
fn fmt(files: &[std::path::PathBuf], check: bool) -> ExitCode {
    let color = std::io::stderr().is_terminal();
    let (mut io_error, mut failed, mut changed) = (false, false, 0usize);
    for path in files {
        let name = path.display().to_string();
        let text = match twin::files::read_source(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {name}: {e}");
                io_error = true;
                continue;
            }
        };
        let mut sources = twin::source::SourceMap::new();
        let id = sources.add(name.clone(), text.clone());
        let formatted = match twin::fmt::format_file(id, &text) {
            Ok(f) => f,
            Err(d) => {
                eprint!("{}", diagnostic::render(&sources, &[d], color));
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        changed += 1;
        if check {
            let old: Vec<&str> = text.lines().collect();
            let new: Vec<&str> = formatted.lines().collect();
            match (0..old.len().max(new.len())).find(|&i| old.get(i) != new.get(i)) {
                Some(i) => {
                    println!("{name}:{}", i + 1);
                    println!("-{}", old.get(i).copied().unwrap_or(""));
                    println!("+{}", new.get(i).copied().unwrap_or(""));
                }
                None => println!("{name}: line endings or trailing whitespace"),
            }
        } else if let Err(e) = twin::files::write_atomic(path, &formatted) {
            eprintln!("error: cannot write {name}: {e}");
            io_error = true;
        } else {
            eprintln!("formatted {name}");
        }
    }
    if check && changed > 0 {
        eprintln!(
            "{changed} file{} would be reformatted (run `twin fmt` on {})",
            if changed == 1 { "" } else { "s" },
            if changed == 1 { "it" } else { "them" }
        );
    }
    if io_error {
        ExitCode::from(2)
    } else if failed || (check && changed > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn check(files: &[std::path::PathBuf], format: Format, emit: Emit) -> ExitCode {
    let mut failed = false;
    let mut json = Vec::new();
    let color = std::io::stderr().is_terminal();
    for path in files {
        let name = path.display().to_string();
        let text = match twin::files::read_source(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {name}: {e}");
                failed = true;
                continue;
            }
        };
        let c = twin::driver::compile(&name, &text);
        failed |= c.has_errors();
        match format {
            Format::Human => eprint!("{}", diagnostic::render(&c.sources, &c.diagnostics, color)),
            Format::Json => json.extend(diagnostic::to_json(&c.sources, &c.diagnostics)),
        }
        if emit == Emit::Ir && !c.has_errors() {
            // A model with an undefined `input` is a part to extend: it has no IR of its own.
            for (mi, _) in
                (c.program.models.iter().enumerate()).filter(|(_, m)| m.inputs.is_empty())
            {
                match twin::driver::ir_text(&c.program, mi) {
                    Ok(text) => print!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
        }
        if emit == Emit::Hir && !c.has_errors() {
            for m in &c.program.models {
                print!("{}", twin::check::print::model(&c.program, m, &c.units));
            }
            for t in &c.program.trials {
                print!("{}", twin::check::print::trial(&c.program, t, &c.units));
            }
        }
    }
    if format == Format::Json {
        match serde_json::to_string_pretty(&json) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
