//! A whole `twin trial` or `twin merge` job: choose the trial, run (or read) patients, write the
//! output directory as one transaction, and return the summary.
//!
//! Output directory layout: `patients.csv`, `summary.csv`, `summary.json`, `run.json` (the
//! [`Meta`]: version, source and its SHA-256, stdlib SHA-256, solver, trial, seed, population
//! size, shard); with `--trajectories`, also `trajectories.csv`, `bands.csv` and `targets.csv`
//! (the endpoints' target ranges on observables, in the observables' units). A shard writes the same files for its patients; `merge` joins shards of one run
//! (refusing shards whose provenance differs) into exactly the files a single run writes. The
//! files are written into a staging directory and swapped in at the end ([`OutputDir`]): the
//! target always holds one complete run.

use crate::driver::Compilation;
use crate::files::{OutputDir, write_synced};
use crate::solve::SolveOptions;
use crate::trial::TrialError;
use crate::trial::output::{Context, Meta, SolverMeta, Summary, sha256_hex, stdlib_sha256};
use crate::trial::runner::{self, Row};
use std::io::Write as _;
use std::path::Path;

/// Options of a trial job.
#[derive(Debug, Clone)]
pub struct TrialOptions {
    /// Which trial (when the file has several).
    pub trial: Option<String>,
    /// Random seed.
    pub seed: u64,
    /// Population size instead of the trial's `population … n` (`twin trial --n`).
    pub n: Option<u64>,
    /// `(i, n)`: run shard i of n (1-based).
    pub shard: Option<(u64, u64)>,
    /// Solver options.
    pub solve: SolveOptions,
    /// Output directory.
    pub out: Option<std::path::PathBuf>,
    /// Show a progress bar.
    pub progress: bool,
    /// Also write every patient's sampled observables (`trajectories.csv`, with residual error)
    /// and their quantile bands per arm over time (`bands.csv`), with the endpoints' target
    /// ranges on the observables (`targets.csv`).
    pub trajectories: bool,
}

/// Picks the trial to run.
pub fn choose_trial(c: &Compilation, name: Option<&str>) -> Result<usize, TrialError> {
    let names: Vec<&str> = c.program.trials.iter().map(|t| t.name.as_str()).collect();
    match name {
        Some(n) => names.iter().position(|t| *t == n).ok_or_else(|| {
            TrialError::Request(format!(
                "no trial `{n}`; the file has {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        }),
        None => match names.len() {
            1 => Ok(0),
            0 => Err(TrialError::Request("the file has no trial".into())),
            _ => Err(TrialError::Request(format!(
                "the file has several trials ({}); choose one with --trial",
                names.join(", ")
            ))),
        },
    }
}

/// Writes the summary files (and `patients.csv` when given) into the staging directory `dir`.
fn write_outputs(dir: &Path, summary: &Summary, patients: Option<&str>) -> Result<(), TrialError> {
    let w = |name: &str, text: &str| {
        write_synced(&dir.join(name), text.as_bytes()).map_err(TrialError::io(dir.join(name)))
    };
    if let Some(p) = patients {
        w("patients.csv", p)?;
    }
    w("summary.csv", &summary.csv())?;
    w("summary.json", &summary.json())?;
    let meta = serde_json::to_string_pretty(&summary.meta).map_err(|e| TrialError::Parse {
        path: dir.join("run.json"),
        message: e.to_string(),
    })? + "\n";
    w("run.json", &meta)?;
    Ok(())
}

/// Writes `targets.csv` (the endpoints' target ranges on observables, for `twin plot`) into the
/// staging directory `dir`; it accompanies `bands.csv`.
fn write_targets(dir: &Path, ctx: &Context<'_>) -> Result<(), TrialError> {
    let path = dir.join("targets.csv");
    write_synced(&path, ctx.targets_csv().as_bytes()).map_err(TrialError::io(path))
}

/// A file `NAME` in the staging directory `dir`, holding `header` as its first line, for
/// streaming rows into.
fn open_stream(
    dir: &Path,
    name: &str,
    header: &str,
) -> Result<(std::path::PathBuf, std::io::BufWriter<std::fs::File>), TrialError> {
    let path = dir.join(name);
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(&path).map_err(TrialError::io(&path))?);
    writeln!(f, "{header}").map_err(TrialError::io(&path))?;
    Ok((path, f))
}

/// Flushes a streamed file to disk.
fn finish_stream(
    (path, f): (std::path::PathBuf, std::io::BufWriter<std::fs::File>),
) -> Result<std::path::PathBuf, TrialError> {
    f.into_inner()
        .map_err(|e| TrialError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(TrialError::io(&path))?;
    Ok(path)
}

/// Largest `--n`: a trial keeps one summary row per patient in memory.
pub const MAX_PATIENTS: u64 = 100_000_000;

/// The number of patients: `--n` when given, else the population's declared size (1 without a
/// population).
fn population_size(trial: &crate::check::hir::Trial, n: Option<u64>) -> Result<u64, TrialError> {
    match (n, &trial.population) {
        (None, p) => Ok(p.as_ref().map(|p| p.size).unwrap_or(1)),
        (Some(_), None) => Err(TrialError::Request(format!(
            "trial `{}` has no population to resize; --n applies to a trial with `population … n`",
            trial.name
        ))),
        (Some(0), _) => Err(TrialError::Request("--n must be at least 1 patient".into())),
        (Some(n), _) if n > MAX_PATIENTS => Err(TrialError::Request(format!(
            "--n {n} is more than {MAX_PATIENTS} patients\nhelp: split the run with --shard"
        ))),
        (Some(n), Some(p))
            if p.cohort
                .as_ref()
                .is_some_and(|c| !c.resample && n > c.rows.len() as u64) =>
        {
            Err(TrialError::Request(format!(
                "--n {n} is more than the {} rows of the cohort `{}`\nhelp: write `population from \"{}\" resample {n}` to draw rows with replacement",
                p.cohort.as_ref().map_or(0, |c| c.rows.len()),
                p.cohort.as_ref().map_or("", |c| c.path.as_str()),
                p.cohort.as_ref().map_or("", |c| c.path.as_str()),
            )))
        }
        (Some(n), _) => Ok(n),
    }
}

/// Runs a trial from a compiled file; writes the files when `out` is set; returns the summary.
pub fn run_trial(
    c: &Compilation,
    source: &str,
    opts: &TrialOptions,
) -> Result<Summary, TrialError> {
    let t = choose_trial(c, opts.trial.as_deref())?;
    let trial = &c.program.trials[t];
    let mut prep = runner::prepare(&c.program, trial, opts.solve)?;
    let size = population_size(trial, opts.n)?;
    prep.size = size;
    if opts.shard.is_some() && !trial.dose_searches.is_empty() {
        return Err(TrialError::Request(format!(
            "trial `{}` searches doses (`find dose`), which needs every patient: run it without --shard",
            trial.name
        )));
    }
    // The output directory is locked from here to the end; files go to a staging directory.
    let staging = match &opts.out {
        Some(dir) => Some(OutputDir::begin(dir)?),
        None => None,
    };
    // Dose searches first: the arms are then run (and reported) at the found doses.
    let dose_search = crate::trial::optimize::search_all(&prep, &c.units, opts.seed, size)
        .map_err(TrialError::DoseSearch)?;
    for (ds, found) in trial.dose_searches.iter().zip(&dose_search) {
        prep.dose_scale[ds.arm] = found.factor;
    }
    prep.trajectories = opts.trajectories && opts.out.is_some();
    if prep.trajectories {
        // trajectories.csv: one value per patient, sampling time and observable.
        let values = size as f64 * prep.sampling.len() as f64 * prep.model.observables.len() as f64;
        if values > crate::sim::grid::MAX_TRAJECTORY_VALUES as f64 {
            return Err(TrialError::Prepare(crate::driver::PrepareError::Grid {
                error: crate::sim::grid::GridTooLarge::Values {
                    values,
                    max: crate::sim::grid::MAX_TRAJECTORY_VALUES,
                },
                span: trial.span,
            }));
        }
    }
    let range = match opts.shard {
        Some((i, n)) if i >= 1 && i <= n => runner::shard_range(size, i, n),
        Some((i, n)) => {
            return Err(TrialError::Request(format!("shard {i}/{n} does not exist")));
        }
        None => 0..size,
    };
    let ctx = Context {
        program: &c.program,
        trial,
        model: prep.model,
        slots: &prep.sim.lowered.inputs,
        units: &c.units,
        seed: opts.seed,
    };
    // patients.csv (and trajectories.csv) stream into the staging directory.
    let mut traj = match (&staging, prep.trajectories) {
        (Some(dir), true) => Some(open_stream(
            dir.path(),
            "trajectories.csv",
            &ctx.trajectories_header(),
        )?),
        _ => None,
    };
    // doses.csv and visits.csv: the protocol's course of every patient, with the trajectories.
    let mut logs = match (&staging, prep.trajectories && ctx.has_protocol()) {
        (Some(dir), true) => Some((
            open_stream(dir.path(), "doses.csv", &ctx.doses_header())?,
            open_stream(dir.path(), "visits.csv", &ctx.visits_header())?,
        )),
        _ => None,
    };
    let mut tmp = match &staging {
        Some(dir) => Some(open_stream(
            dir.path(),
            "patients.csv",
            &ctx.patients_header(),
        )?),
        None => None,
    };
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(range.end - range.start);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} patients {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut rows: Vec<Row> = Vec::new();
    let result = runner::run(
        &prep,
        opts.seed,
        range,
        |chunk| {
            if let Some((path, f)) = tmp.as_mut() {
                for r in &chunk {
                    writeln!(f, "{}", ctx.patient_line(r)).map_err(TrialError::io(&*path))?;
                }
            }
            let mut chunk = chunk;
            if let Some(((dpath, d), (vpath, v))) = logs.as_mut() {
                let (mut dt, mut vt) = (String::new(), String::new());
                for r in &chunk {
                    ctx.dose_lines(r, &mut dt);
                    ctx.visit_lines(r, &mut vt);
                }
                d.write_all(dt.as_bytes())
                    .map_err(TrialError::io(&*dpath))?;
                v.write_all(vt.as_bytes())
                    .map_err(TrialError::io(&*vpath))?;
            }
            for r in &mut chunk {
                r.course = None;
            }
            if let Some((path, f)) = traj.as_mut() {
                let mut text = String::new();
                for r in &mut chunk {
                    ctx.trajectory_lines(r, &prep.sampling, &mut text);
                    r.trajectory = None;
                }
                f.write_all(text.as_bytes())
                    .map_err(TrialError::io(&*path))?;
            }
            rows.extend(chunk);
            Ok(())
        },
        |done| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    // On error the staging directory is removed (when `staging` drops) and the target is kept.
    result?;
    let meta = Meta {
        twin_version: env!("CARGO_PKG_VERSION").into(),
        source: source.into(),
        source_sha256: sha256_hex(c.sources.get(c.file).text.as_bytes()),
        stdlib_sha256: stdlib_sha256(),
        solver: Some(SolverMeta::of(&opts.solve)),
        trial: trial.name.clone(),
        seed: opts.seed,
        patients: size,
        shard: opts.shard.map(|(i, n)| [i, n]),
        dose_search,
    };
    let summary = ctx.summarize(meta, &rows);
    if let Some(out) = staging {
        let dir = out.path().to_path_buf();
        if let Some(t) = tmp {
            finish_stream(t)?;
        }
        if let Some((d, v)) = logs {
            finish_stream(d)?;
            finish_stream(v)?;
        }
        write_outputs(&dir, &summary, None)?;
        if let Some(t) = traj {
            let tpath = finish_stream(t)?;
            let text = std::fs::read_to_string(&tpath).map_err(TrialError::io(&tpath))?;
            write_synced(
                &dir.join("bands.csv"),
                crate::trial::output::bands(&text).as_bytes(),
            )
            .map_err(TrialError::io(dir.join("bands.csv")))?;
            write_targets(&dir, &ctx)?;
        }
        out.commit()?;
    }
    Ok(summary)
}

/// Joins shard directories of one run into `out`: the same files a single run writes.
pub fn merge(
    c: &Compilation,
    shards: &[std::path::PathBuf],
    out: &Path,
    solve: SolveOptions,
) -> Result<Summary, TrialError> {
    let mut metas: Vec<(Meta, String, std::path::PathBuf)> = Vec::new();
    for d in shards {
        let run_json = d.join("run.json");
        let meta: Meta = serde_json::from_str(
            &std::fs::read_to_string(&run_json).map_err(TrialError::io(&run_json))?,
        )
        .map_err(|e| TrialError::Parse {
            path: run_json.clone(),
            message: e.to_string(),
        })?;
        let patients = std::fs::read_to_string(d.join("patients.csv"))
            .map_err(TrialError::io(d.join("patients.csv")))?;
        metas.push((meta, patients, d.clone()));
    }
    let Some((first, _, _)) = metas.first() else {
        return Err(TrialError::Shards("nothing to merge".into()));
    };
    let first = first.clone();
    let Some([_, n]) = first.shard else {
        return Err(TrialError::Shards(
            "the first directory is not a shard".into(),
        ));
    };
    // Provenance: every shard must come from the same model text, stdlib, solver and run.
    let model_sha = sha256_hex(c.sources.get(c.file).text.as_bytes());
    let first_dir = metas[0].2.display().to_string();
    for (m, _, d) in &metas {
        if m.source_sha256.is_empty() {
            return Err(TrialError::Shards(format!(
                "{}/run.json has no `source_sha256` (written by an older twin), so it cannot be \
                 checked against the other shards\nhelp: run that shard again",
                d.display()
            )));
        }
        if let Some((field, a, b)) = provenance_difference(&first, m) {
            return Err(TrialError::Shards(format!(
                "the shards come from different runs: `{field}` is {a} in {first_dir} but {b} in {}{}",
                d.display(),
                match field {
                    "source_sha256" =>
                        "\nhelp: the model file changed between shards; run every shard from the same file",
                    "stdlib_sha256" | "twin_version" =>
                        "\nhelp: the shards ran different twin builds; run every shard with the same one",
                    _ =>
                        "\nhelp: run every shard with the same file, --trial, --seed and solver options",
                }
            )));
        }
    }
    if first.source_sha256 != model_sha {
        return Err(TrialError::Shards(format!(
            "the shards ran another version of the model: `source_sha256` is {} in {first_dir} \
             but {model_sha} for the file given to merge\nhelp: merge with the file the shards ran",
            first.source_sha256
        )));
    }
    let mut seen = vec![false; n as usize];
    for (m, _, _) in &metas {
        match m.shard {
            Some([i, k]) if k == n && i >= 1 && i <= n && !seen[(i - 1) as usize] => {
                seen[(i - 1) as usize] = true
            }
            _ => {
                return Err(TrialError::Shards(
                    "the shards are not distinct parts of one split".into(),
                ));
            }
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(TrialError::Shards(format!(
            "shard {}/{n} is missing",
            missing + 1
        )));
    }
    let t = choose_trial(c, Some(&first.trial))?;
    let trial = &c.program.trials[t];
    let prep = runner::prepare(&c.program, trial, solve)?;
    let ctx = Context {
        program: &c.program,
        trial,
        model: prep.model,
        slots: &prep.sim.lowered.inputs,
        units: &c.units,
        seed: first.seed,
    };
    metas.sort_by_key(|(m, _, _)| m.shard.map(|s| s[0]).unwrap_or(0));
    let shards_sorted: Vec<std::path::PathBuf> = metas.iter().map(|(_, _, d)| d.clone()).collect();
    let mut rows = Vec::new();
    let mut text = ctx.patients_header() + "\n";
    for (_, p, dir) in &metas {
        let part = ctx.parse_patients(p).map_err(|message| TrialError::Parse {
            path: dir.join("patients.csv"),
            message,
        })?;
        // The shard's own lines (the protocol's course columns are not read back).
        for line in p.lines().skip(1) {
            text.push_str(line);
            text.push('\n');
        }
        rows.extend(part);
    }
    // Every patient of the run (each with its rows, one per arm it is in), in order.
    let mut next = 0u64;
    for r in &rows {
        match r.id {
            i if i == next => next += 1,
            i if i + 1 == next => {}
            i => {
                return Err(TrialError::Shards(format!(
                    "the shards do not hold patients 0 to {} in order (found patient {i} after {})",
                    first.patients.saturating_sub(1),
                    next as i64 - 1
                )));
            }
        }
    }
    if next != first.patients {
        return Err(TrialError::Shards(format!(
            "the shards hold {next} patients where the run has {}",
            first.patients
        )));
    }
    let meta = Meta {
        shard: None,
        ..first
    };
    let summary = ctx.summarize(meta, &rows);
    let staging = OutputDir::begin(out)?;
    let dir = staging.path().to_path_buf();
    write_outputs(&dir, &summary, Some(&text))?;
    // Trajectories, when every shard has them: concatenated in shard order, bands recomputed.
    let parts: Vec<Option<String>> = shards_sorted
        .iter()
        .map(|d| std::fs::read_to_string(d.join("trajectories.csv")).ok())
        .collect();
    if !parts.is_empty() && parts.iter().all(Option::is_some) {
        let mut all = ctx.trajectories_header() + "\n";
        for p in parts.iter().flatten() {
            all.extend(p.lines().skip(1).map(|l| format!("{l}\n")));
        }
        write_synced(&dir.join("trajectories.csv"), all.as_bytes())
            .map_err(TrialError::io(dir.join("trajectories.csv")))?;
        write_synced(
            &dir.join("bands.csv"),
            crate::trial::output::bands(&all).as_bytes(),
        )
        .map_err(TrialError::io(dir.join("bands.csv")))?;
        write_targets(&dir, &ctx)?;
        // The protocol's doses and visits, in shard order.
        for (name, header) in [
            ("doses.csv", ctx.doses_header()),
            ("visits.csv", ctx.visits_header()),
        ] {
            let parts: Vec<Option<String>> = shards_sorted
                .iter()
                .map(|d| std::fs::read_to_string(d.join(name)).ok())
                .collect();
            if parts.iter().all(Option::is_some) && ctx.has_protocol() {
                let mut all = header + "\n";
                for p in parts.iter().flatten() {
                    all.extend(p.lines().skip(1).map(|l| format!("{l}\n")));
                }
                write_synced(&dir.join(name), all.as_bytes())
                    .map_err(TrialError::io(dir.join(name)))?;
            }
        }
    }
    staging.commit()?;
    Ok(summary)
}

/// The first field (name, value in `a`, value in `b`) in which two shards' run descriptions
/// differ, besides the shard index.
fn provenance_difference(a: &Meta, b: &Meta) -> Option<(&'static str, String, String)> {
    let solver = |m: &Meta| {
        m.solver
            .as_ref()
            .map(|s| {
                format!(
                    "{} rtol={} atol={} max_steps={}",
                    s.method, s.rtol, s.atol, s.max_steps
                )
            })
            .unwrap_or_else(|| "unrecorded".into())
    };
    let fields: [(&'static str, String, String); 9] = [
        (
            "source_sha256",
            a.source_sha256.clone(),
            b.source_sha256.clone(),
        ),
        (
            "stdlib_sha256",
            a.stdlib_sha256.clone(),
            b.stdlib_sha256.clone(),
        ),
        (
            "twin_version",
            a.twin_version.clone(),
            b.twin_version.clone(),
        ),
        ("source", a.source.clone(), b.source.clone()),
        ("trial", a.trial.clone(), b.trial.clone()),
        ("seed", a.seed.to_string(), b.seed.to_string()),
        ("patients", a.patients.to_string(), b.patients.to_string()),
        ("solver", solver(a), solver(b)),
        (
            "shards",
            a.shard
                .map(|s| s[1].to_string())
                .unwrap_or_else(|| "none".into()),
            b.shard
                .map(|s| s[1].to_string())
                .unwrap_or_else(|| "none".into()),
        ),
    ];
    fields.into_iter().find(|(_, x, y)| x != y)
}
