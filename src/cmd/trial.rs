//! A whole `twin trial` or `twin merge` job: choose the trial, run (or read) patients, write the
//! output files atomically, and return the summary.
//!
//! Output directory layout: `patients.csv`, `summary.csv`, `summary.json`, `run.json` (the
//! [`Meta`]: version, source, trial, seed, population size, shard). A shard writes the same files
//! for its patients; `merge` joins shards of one run into exactly the files a single run writes.

use crate::driver::Compilation;
use crate::files::write_atomic;
use crate::solve::SolveOptions;
use crate::trial::TrialError;
use crate::trial::output::{Context, Meta, Summary};
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
    /// `(i, n)`: run shard i of n (1-based).
    pub shard: Option<(u64, u64)>,
    /// Solver options.
    pub solve: SolveOptions,
    /// Output directory.
    pub out: Option<std::path::PathBuf>,
    /// Show a progress bar.
    pub progress: bool,
    /// Also write every patient's sampled observables (`trajectories.csv`, with residual error)
    /// and their quantile bands per arm over time (`bands.csv`).
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

fn write_outputs(
    dir: &Path,
    ctx: &Context<'_>,
    summary: &Summary,
    patients: Option<&str>,
) -> Result<(), TrialError> {
    std::fs::create_dir_all(dir).map_err(TrialError::io(dir))?;
    let w = |name: &str, text: &str| {
        write_atomic(&dir.join(name), text).map_err(TrialError::io(dir.join(name)))
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
    let _ = ctx;
    Ok(())
}

/// A temporary file `.NAME.tmpPID` in `dir`, holding `header` as its first line, for streaming rows
/// into before it is renamed to `NAME`.
fn open_stream(
    dir: &Path,
    name: &str,
    header: &str,
) -> Result<(std::path::PathBuf, std::io::BufWriter<std::fs::File>), TrialError> {
    std::fs::create_dir_all(dir).map_err(TrialError::io(dir))?;
    let path = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(&path).map_err(TrialError::io(&path))?);
    writeln!(f, "{header}").map_err(TrialError::io(&path))?;
    Ok((path, f))
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
    let size = trial.population.as_ref().map(|p| p.size).unwrap_or(1);
    if opts.shard.is_some() && !trial.dose_searches.is_empty() {
        return Err(TrialError::Request(format!(
            "trial `{}` searches doses (`find dose`), which needs every patient: run it without --shard",
            trial.name
        )));
    }
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
    // patients.csv (and trajectories.csv) stream into temporary files next to the final ones.
    let mut traj = match (&opts.out, prep.trajectories) {
        (Some(dir), true) => Some(open_stream(
            dir,
            "trajectories.csv",
            &ctx.trajectories_header(),
        )?),
        _ => None,
    };
    let mut tmp = match &opts.out {
        Some(dir) => Some(open_stream(dir, "patients.csv", &ctx.patients_header())?),
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
    if let Err(e) = result {
        for (path, _) in [tmp, traj].into_iter().flatten() {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    let meta = Meta {
        twin_version: env!("CARGO_PKG_VERSION").into(),
        source: source.into(),
        trial: trial.name.clone(),
        seed: opts.seed,
        patients: size,
        shard: opts.shard.map(|(i, n)| [i, n]),
        dose_search,
    };
    let summary = ctx.summarize(meta, &rows);
    if let (Some(dir), Some((path, f))) = (&opts.out, tmp) {
        f.into_inner()
            .map_err(|e| TrialError::Io {
                path: path.clone(),
                source: e.into_error(),
            })?
            .sync_all()
            .map_err(TrialError::io(&path))?;
        std::fs::rename(&path, dir.join("patients.csv")).map_err(TrialError::io(&path))?;
        write_outputs(dir, &ctx, &summary, None)?;
        if let Some((tpath, tf)) = traj {
            tf.into_inner()
                .map_err(|e| TrialError::Io {
                    path: tpath.clone(),
                    source: e.into_error(),
                })?
                .sync_all()
                .map_err(TrialError::io(&tpath))?;
            let text = std::fs::read_to_string(&tpath).map_err(TrialError::io(&tpath))?;
            std::fs::rename(&tpath, dir.join("trajectories.csv"))
                .map_err(TrialError::io(&tpath))?;
            write_atomic(&dir.join("bands.csv"), &crate::trial::output::bands(&text))
                .map_err(TrialError::io(dir.join("bands.csv")))?;
        }
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
    let mut seen = vec![false; n as usize];
    for (m, _, _) in &metas {
        if (m.source.as_str(), m.trial.as_str(), m.seed, m.patients)
            != (
                first.source.as_str(),
                first.trial.as_str(),
                first.seed,
                first.patients,
            )
        {
            return Err(TrialError::Shards(
                "the shards come from different runs (source, trial, seed or size differ)".into(),
            ));
        }
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
        for r in &part {
            text.push_str(&ctx.patient_line(r));
            text.push('\n');
        }
        rows.extend(part);
    }
    let meta = Meta {
        shard: None,
        ..first
    };
    let summary = ctx.summarize(meta, &rows);
    write_outputs(out, &ctx, &summary, Some(&text))?;
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
        write_atomic(&out.join("trajectories.csv"), &all)
            .map_err(TrialError::io(out.join("trajectories.csv")))?;
        write_atomic(&out.join("bands.csv"), &crate::trial::output::bands(&all))
            .map_err(TrialError::io(out.join("bands.csv")))?;
    }
    Ok(summary)
}
