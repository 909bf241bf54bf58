//! One patient: a checked model, a regimen, a grid → a table of states and observables.
//!
//! This is the engine of `twin run`: it lowers and JIT-compiles the model once, sets the patient's
//! inputs (typical values, `--set` overrides, arm overrides), turns the arm's doses into a solver
//! [`Regimen`] (amounts and infusion rates come from the compiled setup function, so they may
//! depend on covariates and genotypes), solves, and formats CSV with `name [unit]` headers plus a
//! summary of each observable.

use crate::check::{self, Checker, Scope, hir};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::driver::Compilation;
use crate::lower::{self, DoseSlots, InputSlot, Lowered};
use crate::solve::dosing::{Dose, Regimen};
use crate::source::Span;
use crate::syntax::parser;
use std::fmt::Write;

/// Sets one input from `name=value` text (`weight=80 kg`, `cyp2c9=*1/*3`, `sex=female`).
/// Values are checked against the covariate's unit and converted exactly.
pub fn apply_set(
    c: &mut Compilation,
    model: usize,
    slots: &[InputSlot],
    inputs: &mut [f64],
    text: &str,
) -> Result<(), Diagnostic> {
    let file = c.sources.add("--set", text);
    let whole = Span::new(file, 0, text.len());
    let Some((name, value)) = text.split_once('=') else {
        return Err(
            Diagnostic::error(codes::E0003, "expected NAME=VALUE", whole)
                .with_help("e.g. --set weight=80kg or --set cyp2c9=*1/*3"),
        );
    };
    let (name, value) = (name.trim(), value.trim());
    let vstart = text.find(value).unwrap_or(0);
    let vspan = Span::new(file, vstart, vstart + value.len());
    let m = &c.program.models[model];
    if let Some(i) = m.covariates.iter().position(|cv| cv.name == name) {
        let cov = &m.covariates[i];
        let slot = slots
            .iter()
            .position(|s| *s == InputSlot::Covariate(i))
            .unwrap_or(0);
        if cov.unit.is_none() {
            return match cov.levels.iter().position(|l| l == value) {
                Some(l) => {
                    inputs[slot] = l as f64;
                    Ok(())
                }
                None => Err(Diagnostic::error(
                    codes::E0016,
                    format!("`{value}` is not a level of `{name}`"),
                    vspan,
                )
                .with_help(format!("the levels are {}", cov.levels.join(", ")))),
            };
        }
        let unit = cov.unit.unwrap_or(crate::units::Unit::ONE);
        let vfile = c.sources.add(format!("--set {name}"), value);
        let expr = parser::parse_expr(vfile, value)?;
        let mut ck = Checker::new(c.units.clone());
        ck.scope = Scope::Const;
        let h = ck.expr(&expr);
        let h = ck.coerce(h, unit, codes::E0008, &format!("covariate `{name}`"));
        if let Some(d) = ck.diags.into_iter().next() {
            return Err(d);
        }
        return match check::consts::eval(&h) {
            Some(v) => {
                inputs[slot] = v;
                Ok(())
            }
            None => Err(Diagnostic::error(
                codes::E0019,
                "the value must be a constant",
                vspan,
            )),
        };
    }
    if let Some(i) = m.genotypes.iter().position(|g| g.name == name) {
        let gene = &c.program.genes[m.genotypes[i].gene];
        let slot = slots
            .iter()
            .position(|s| *s == InputSlot::Genotype(i))
            .unwrap_or(0);
        return match check::gene::diplotype_index(gene, value) {
            Some(d) => {
                inputs[slot] = d as f64;
                Ok(())
            }
            None => {
                let mut d = Diagnostic::error(
                    codes::E0016,
                    format!("`{value}` is not a diplotype of `{}`", gene.name),
                    vspan,
                );
                if let Some(s) =
                    did_you_mean(value, gene.diplotype_names.iter().map(String::as_str))
                {
                    d = d.with_help(format!("did you mean {s}?"));
                }
                Err(d)
            }
        };
    }
    let names: Vec<&str> = m
        .covariates
        .iter()
        .map(|c| c.name.as_str())
        .chain(m.genotypes.iter().map(|g| g.name.as_str()))
        .collect();
    let nspan = Span::new(file, 0, name.len());
    let mut d = Diagnostic::error(
        codes::E0004,
        format!("`{name}` is not a covariate or genotype of `{}`", m.name),
        nspan,
    );
    if let Some(s) = did_you_mean(name, names.iter().copied()) {
        d = d.with_help(format!("did you mean `{s}`?"));
    } else {
        d = d.with_help(format!("the model's inputs are {}", names.join(", ")));
    }
    Err(d)
}

/// Applies an arm's covariate and genotype overrides.
pub fn apply_overrides(arm: &hir::Arm, slots: &[InputSlot], inputs: &mut [f64]) {
    for (sym, value) in &arm.overrides {
        let slot = match sym {
            hir::Sym::Covariate(i) => slots.iter().position(|s| *s == InputSlot::Covariate(*i)),
            hir::Sym::Genotype(i) => slots.iter().position(|s| *s == InputSlot::Genotype(*i)),
            _ => None,
        };
        if let (Some(s), Some(v)) = (slot, check::consts::eval(value)) {
            inputs[s] = v;
        }
    }
}

/// The solver regimen of an arm for one patient, given the patient's computed params.
pub fn regimen(arm: &hir::Arm, slots: &[DoseSlots], params: &[f64], end: f64) -> Regimen {
    let mut r = Regimen::new();
    for (d, s) in arm.doses.iter().zip(slots) {
        let amount = params.get(s.amount).copied().unwrap_or(f64::NAN);
        let t = d.start + d.lag;
        let target = d.target as u32;
        let mut dose = match (&d.infusion, s.rate) {
            (Some(hir::Infusion::Duration(dur)), _) => {
                Dose::infusion_duration(t, amount, target, *dur)
            }
            (Some(hir::Infusion::Rate(_)), Some(k)) => Dose::infusion_rate(
                t,
                amount,
                target,
                params.get(k).copied().unwrap_or(f64::NAN),
            ),
            _ => Dose::bolus(t, amount, target),
        };
        if let Some(ii) = d.interval {
            dose = match d.count {
                Some(n) if n > 1 => dose.additional(ii, n - 1),
                Some(_) => dose,
                None => dose.until(ii, end),
            };
        }
        r = r.with(dose);
    }
    r
}

/// `0, step, 2·step, …, until` (the end included).
pub fn grid(until: f64, step: f64) -> Vec<f64> {
    let n = (until / step + 1e-9).floor() as usize;
    let mut g: Vec<f64> = (0..=n).map(|k| k as f64 * step).collect();
    if g.last()
        .is_some_and(|&t| (until - t) > 1e-9 * until.max(1.0))
    {
        g.push(until);
    }
    g
}

/// Column headers: `time [h]`, each state, each observable, as `name [unit]`.
pub fn headers(c: &Compilation, m: &hir::Model, lowered: &Lowered) -> Vec<String> {
    let mut h = vec!["time [h]".to_string()];
    for s in &m.states {
        h.push(format!("{} [{}]", s.name, c.units.format_unit(s.unit)));
    }
    if lowered.eliminated.is_some() {
        let unit = m
            .flows
            .iter()
            .find(|f| f.to.is_none())
            .map(|f| c.units.format_unit(m.states[f.from].unit))
            .unwrap_or_default();
        h.push(format!("eliminated [{unit}]"));
    }
    for o in &m.observables {
        let unit = match o.value.ty {
            hir::Type::Num(u) => c.units.format_unit(u),
            _ => "1".into(),
        };
        h.push(format!("{} [{unit}]", o.name));
    }
    h
}

/// Writes a number so that it reads back to the same f64.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:?}")
    }
}

/// Summary statistics of one observable on the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Observable name.
    pub name: String,
    /// Unit text.
    pub unit: String,
    /// Maximum.
    pub cmax: f64,
    /// Time of the maximum, h.
    pub tmax: f64,
    /// Minimum after the first dose.
    pub cmin: f64,
    /// Area under the curve over the grid (linear trapezoids), unit·h.
    pub auc: f64,
}

/// Summarises each observable column of a simulation.
pub fn summarise(
    names: &[(String, String)],
    times: &[f64],
    values: impl Fn(usize, usize) -> f64,
) -> Vec<Summary> {
    names
        .iter()
        .enumerate()
        .map(|(j, (name, unit))| {
            let mut s = Summary {
                name: name.clone(),
                unit: unit.clone(),
                cmax: f64::NEG_INFINITY,
                tmax: 0.0,
                cmin: f64::INFINITY,
                auc: 0.0,
            };
            for (k, &t) in times.iter().enumerate() {
                let v = values(k, j);
                if v > s.cmax {
                    s.cmax = v;
                    s.tmax = t;
                }
                if v < s.cmin {
                    s.cmin = v;
                }
                if k > 0 {
                    s.auc += 0.5 * (v + values(k - 1, j)) * (t - times[k - 1]);
                }
            }
            s
        })
        .collect()
}

/// The text of a summary table.
pub fn summary_text(sums: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>14} {:>10} {:>14} {:>16}",
        "observable", "Cmax", "Tmax [h]", "Cmin", "AUC"
    );
    for s in sums {
        let (unit, auc_unit) = if s.unit == "1" {
            (String::new(), "h".to_string())
        } else {
            (format!(" {}", s.unit), format!("{}·h", s.unit))
        };
        let _ = writeln!(
            out,
            "{:<16} {:>14} {:>10} {:>14} {:>16}",
            s.name,
            format!("{:.6}{unit}", s.cmax),
            format!("{:.3}", s.tmax),
            format!("{:.6}", s.cmin),
            format!("{:.6} {auc_unit}", s.auc)
        );
    }
    out
}

/// Lowers a model for a run with the given arms, reporting lowering problems as diagnostics.
pub fn lower_for_run(
    c: &Compilation,
    model: usize,
    arms: &[&hir::Arm],
) -> Result<Lowered, Diagnostic> {
    let m = &c.program.models[model];
    lower::lower(
        &c.program,
        m,
        arms,
        lower::Options {
            track_elimination: true,
        },
    )
    .map_err(|errs| {
        let msg = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        Diagnostic::error(
            codes::E0019,
            format!("model `{}` cannot be compiled: {msg}", m.name),
            m.span,
        )
    })
}

/// What `twin run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// File name (for diagnostics).
    pub name: String,
    /// File text.
    pub text: String,
    /// `--model`: which model, when the file has several.
    pub model: Option<String>,
    /// `--dose` statements (`100 mg into depot every 12 h times 24`).
    pub doses: Vec<String>,
    /// `--arm`: an arm of a trial in the file (`arm` or `trial.arm`).
    pub arm: Option<String>,
    /// `--set NAME=VALUE`.
    pub sets: Vec<String>,
    /// `--until` (a duration such as `48h`).
    pub until: Option<String>,
    /// `--every` (a duration such as `0.5h`).
    pub every: Option<String>,
    /// NONMEM-style event records (text of the CSV).
    pub events: Option<String>,
    /// Solver options.
    pub options: crate::solve::SolveOptions,
}

/// The result of a run: CSV text and a summary table.
#[derive(Debug, Clone)]
pub struct Output {
    /// The CSV table.
    pub csv: String,
    /// The summary.
    pub summary: String,
    /// Warnings from the checker, rendered.
    pub warnings: String,
}

/// Why a run did not produce output.
pub enum Failure {
    /// Problems in the model or the command-line additions, with the sources to render them.
    Diagnostics(Box<Compilation>, Vec<Diagnostic>),
    /// A problem with the request itself.
    Usage(String),
    /// The solver failed.
    Solve(String),
}

fn duration(c: &mut Compilation, flag: &str, text: &str) -> Result<f64, Diagnostic> {
    let file = c.sources.add(flag.to_string(), text);
    let e = parser::parse_expr(file, text)?;
    let mut ck = Checker::new(c.units.clone());
    ck.scope = Scope::Const;
    let v = ck.const_time(&e, &format!("`{flag}`"));
    if let Some(d) = ck.diags.into_iter().next() {
        return Err(d);
    }
    match v {
        Some(v) if v > 0.0 => Ok(v),
        _ => Err(Diagnostic::error(
            codes::E0031,
            format!("`{flag}` must be a positive duration"),
            Span::new(file, 0, text.len()),
        )
        .with_help("e.g. 48h or 30 d")),
    }
}

/// Runs one patient (or every subject of an event file).
pub fn execute(req: &Request) -> Result<Output, Failure> {
    // The model, found once without command-line additions.
    let first = crate::driver::compile(&req.name, &req.text);
    if first.has_errors() {
        let diags = first.diagnostics.clone();
        return Err(Failure::Diagnostics(Box::new(first), diags));
    }
    let models: Vec<String> = first
        .program
        .models
        .iter()
        .filter(|m| m.span.file == first.file)
        .map(|m| m.name.clone())
        .collect();
    let model_name = match (&req.model, &req.arm) {
        (Some(m), _) => {
            if !models.contains(m) {
                return Err(Failure::Usage(format!(
                    "no model `{m}` in {}; it has {}",
                    req.name,
                    models.join(", ")
                )));
            }
            m.clone()
        }
        (None, Some(arm)) => {
            let t = first.program.trials.iter().find(|t| {
                t.arms
                    .iter()
                    .any(|a| *arm == a.name || *arm == format!("{}.{}", t.name, a.name))
            });
            match t {
                Some(t) => first.program.models[t.model].name.clone(),
                None => {
                    let all: Vec<String> = first
                        .program
                        .trials
                        .iter()
                        .flat_map(|t| t.arms.iter().map(move |a| format!("{}.{}", t.name, a.name)))
                        .collect();
                    return Err(Failure::Usage(format!(
                        "no arm `{arm}` in {}; arms: {}",
                        req.name,
                        if all.is_empty() {
                            "none".into()
                        } else {
                            all.join(", ")
                        }
                    )));
                }
            }
        }
        (None, None) => match models.as_slice() {
            [one] => one.clone(),
            [] => return Err(Failure::Usage(format!("{} has no model", req.name))),
            many => {
                return Err(Failure::Usage(format!(
                    "{} has several models ({}); choose one with --model",
                    req.name,
                    many.join(", ")
                )));
            }
        },
    };
    if let Some(m) = first.program.models.iter().find(|m| m.name == model_name) {
        let diags = crate::check::model::undefined_inputs(m, None);
        if !diags.is_empty() {
            return Err(Failure::Diagnostics(Box::new(first), diags));
        }
    }
    let extras: Vec<(String, String)> = if req.doses.is_empty() {
        Vec::new()
    } else {
        let mut t = format!("trial cli_regimen {{\nmodel {model_name}\narm cli {{\n");
        for d in &req.doses {
            t.push_str("dose ");
            t.push_str(d);
            t.push('\n');
        }
        t.push_str("}\n}\n");
        vec![("--dose".to_string(), t)]
    };
    let mut c = crate::driver::compile_with(&req.name, &req.text, &extras);
    if c.has_errors() {
        let diags = c.diagnostics.clone();
        return Err(Failure::Diagnostics(Box::new(c), diags));
    }
    let warnings = crate::diagnostic::render(&c.sources, &c.diagnostics, false);
    let Some(model) = c.program.models.iter().position(|m| m.name == model_name) else {
        return Err(Failure::Usage(format!("no model `{model_name}`")));
    };
    let arm: Option<(usize, usize)> = if !req.doses.is_empty() {
        c.program
            .trials
            .iter()
            .position(|t| t.name == "cli_regimen")
            .map(|t| (t, 0))
    } else if let Some(a) = &req.arm {
        c.program.trials.iter().enumerate().find_map(|(ti, t)| {
            t.arms
                .iter()
                .position(|x| *a == x.name || *a == format!("{}.{}", t.name, x.name))
                .map(|ai| (ti, ai))
        })
    } else {
        None
    };
    let program = c.program.clone();
    let arm_ref: Option<&hir::Arm> = arm.map(|(t, a)| &program.trials[t].arms[a]);
    let lowered = lower_for_run(&c, model, &arm_ref.into_iter().collect::<Vec<_>>())
        .map_err(|d| Failure::Usage(d.message))?;
    let compiled = crate::jit::compile(&lowered.module)
        .map_err(|e| Failure::Usage(format!("native compilation failed: {e}")))?;
    let m = &program.models[model];
    let mut inputs = lower::typical_inputs(m, &lowered.inputs);
    if let Some(a) = arm_ref {
        apply_overrides(a, &lowered.inputs, &mut inputs);
    }
    for s in &req.sets {
        if let Err(d) = apply_set(&mut c, model, &lowered.inputs, &mut inputs, s) {
            let diags = vec![d];
            return Err(Failure::Diagnostics(Box::new(c), diags));
        }
    }
    let flag_duration =
        |c: &mut Compilation, flag: &str, v: &Option<String>| -> Result<Option<f64>, Failure> {
            match v {
                None => Ok(None),
                Some(t) => duration(c, flag, t).map(Some).map_err(|d| {
                    let diags = vec![d];
                    Failure::Diagnostics(Box::new(c.clone_shallow()), diags)
                }),
            }
        };
    let until = flag_duration(&mut c, "--until", &req.until)?;
    let every = flag_duration(&mut c, "--every", &req.every)?;
    let trial_sampling = arm.and_then(|(t, _)| program.trials[t].sampling.clone());
    let default_grid = || -> Vec<f64> {
        match (&trial_sampling, until, every) {
            (_, Some(u), Some(e)) => grid(u, e),
            (Some(hir::Sampling::Every { step, until: tu }), u, e) => {
                grid(u.unwrap_or(*tu), e.unwrap_or(*step))
            }
            (Some(hir::Sampling::At(ts)), None, None) => {
                let mut g = ts.clone();
                if g.first() != Some(&0.0) {
                    g.insert(0, 0.0);
                }
                g
            }
            (_, u, e) => {
                let u = u.unwrap_or(24.0);
                grid(u, e.unwrap_or((u / 48.0).min(0.5)))
            }
        }
    };
    let mut names = headers(&c, m, &lowered);
    let obs_units: Vec<(String, String)> = m
        .observables
        .iter()
        .map(|o| {
            (
                o.name.clone(),
                match o.value.ty {
                    hir::Type::Num(u) => c.units.format_unit(u),
                    _ => "1".into(),
                },
            )
        })
        .collect();
    let n_states = compiled.module().n_states();
    let mut params = vec![0.0; compiled.module().n_params()];
    compiled
        .setup(&inputs, &mut params)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut subjects: Vec<(Option<String>, Regimen, Vec<f64>)> = Vec::new();
    if let Some(ev) = &req.events {
        let states: Vec<String> = m.states.iter().map(|s| s.name.clone()).collect();
        let subs = crate::events::parse(ev, &states)
            .map_err(|e| Failure::Usage(format!("events: {e}")))?;
        for s in subs {
            let g = if until.is_some() || s.observations.is_empty() {
                default_grid()
            } else {
                let mut g = s.observations.clone();
                if g.first() != Some(&0.0) {
                    g.insert(0, 0.0);
                }
                g
            };
            subjects.push((Some(s.id), s.regimen, g));
        }
        names.insert(0, "ID".into());
    } else {
        let g = default_grid();
        let end = g.last().copied().unwrap_or(0.0);
        let r = match (arm_ref, arm) {
            (Some(a), Some(_)) => regimen(a, &lowered.dose_params[0], &params, end),
            _ => Regimen::new(),
        };
        subjects.push((None, r, g));
    }
    let mut csv = names
        .iter()
        .map(|h| csv_cell(h))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    let mut summary = String::new();
    for (id, reg, g) in &subjects {
        let sim =
            crate::solve::simulate(&compiled, &inputs, reg, g, &req.options).map_err(|e| {
                Failure::Solve(match id {
                    Some(id) => format!("subject {id}: {e}"),
                    None => e.to_string(),
                })
            })?;
        for (k, t) in sim.times.iter().enumerate() {
            let mut row: Vec<String> = Vec::new();
            if let Some(id) = id {
                row.push(csv_cell(id));
            }
            row.push(fmt_num(*t));
            for i in 0..n_states {
                row.push(fmt_num(sim.state(k, i)));
            }
            for j in 0..sim.n_observables {
                row.push(fmt_num(sim.observable(k, j)));
            }
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        let sums = summarise(&obs_units, &sim.times, |k, j| sim.observable(k, j));
        if let Some(id) = id {
            let _ = writeln!(summary, "subject {id}");
        }
        summary.push_str(&summary_text(&sums));
    }
    Ok(Output {
        csv,
        summary,
        warnings,
    })
}

fn csv_cell(s: &str) -> String {
    if s.contains(',') || s.contains('"') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, then a rename.
pub fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
