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
pub fn apply_set(c: &mut Compilation, model: usize, slots: &[InputSlot], inputs: &mut [f64], text: &str) -> Result<(), Diagnostic> {
    let file = c.sources.add("--set", text);
    let whole = Span::new(file, 0, text.len());
    let Some((name, value)) = text.split_once('=') else {
        return Err(Diagnostic::error(codes::E0003, "expected NAME=VALUE", whole).with_help("e.g. --set weight=80kg or --set cyp2c9=*1/*3"));
    };
    let (name, value) = (name.trim(), value.trim());
    let vstart = text.find(value).unwrap_or(0);
    let vspan = Span::new(file, vstart, vstart + value.len());
    let m = &c.program.models[model];
    if let Some(i) = m.covariates.iter().position(|cv| cv.name == name) {
        let cov = &m.covariates[i];
        let slot = slots.iter().position(|s| *s == InputSlot::Covariate(i)).unwrap_or(0);
        if cov.unit.is_none() {
            return match cov.levels.iter().position(|l| l == value) {
                Some(l) => {
                    inputs[slot] = l as f64;
                    Ok(())
                }
                None => Err(Diagnostic::error(codes::E0016, format!("`{value}` is not a level of `{name}`"), vspan).with_help(format!("the levels are {}", cov.levels.join(", ")))),
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
            None => Err(Diagnostic::error(codes::E0019, "the value must be a constant", vspan)),
        };
    }
    if let Some(i) = m.genotypes.iter().position(|g| g.name == name) {
        let gene = &c.program.genes[m.genotypes[i].gene];
        let slot = slots.iter().position(|s| *s == InputSlot::Genotype(i)).unwrap_or(0);
        return match check::gene::diplotype_index(gene, value) {
            Some(d) => {
                inputs[slot] = d as f64;
                Ok(())
            }
            None => {
                let mut d = Diagnostic::error(codes::E0016, format!("`{value}` is not a diplotype of `{}`", gene.name), vspan);
                if let Some(s) = did_you_mean(value, gene.diplotype_names.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean {s}?"));
                }
                Err(d)
            }
        };
    }
    let names: Vec<&str> = m.covariates.iter().map(|c| c.name.as_str()).chain(m.genotypes.iter().map(|g| g.name.as_str())).collect();
    let nspan = Span::new(file, 0, name.len());
    let mut d = Diagnostic::error(codes::E0004, format!("`{name}` is not a covariate or genotype of `{}`", m.name), nspan);
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
            (Some(hir::Infusion::Duration(dur)), _) => Dose::infusion_duration(t, amount, target, *dur),
            (Some(hir::Infusion::Rate(_)), Some(k)) => Dose::infusion_rate(t, amount, target, params.get(k).copied().unwrap_or(f64::NAN)),
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
    if g.last().is_some_and(|&t| (until - t) > 1e-9 * until.max(1.0)) {
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
        let unit = m.flows.iter().find(|f| f.to.is_none()).map(|f| c.units.format_unit(m.states[f.from].unit)).unwrap_or_default();
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
pub fn summarise(names: &[(String, String)], times: &[f64], values: impl Fn(usize, usize) -> f64) -> Vec<Summary> {
    names
        .iter()
        .enumerate()
        .map(|(j, (name, unit))| {
            let mut s = Summary { name: name.clone(), unit: unit.clone(), cmax: f64::NEG_INFINITY, tmax: 0.0, cmin: f64::INFINITY, auc: 0.0 };
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
    let _ = writeln!(out, "{:<16} {:>14} {:>10} {:>14} {:>16}", "observable", "Cmax", "Tmax [h]", "Cmin", "AUC");
    for s in sums {
        let _ = writeln!(
            out,
            "{:<16} {:>14} {:>10} {:>14} {:>16}",
            s.name,
            format!("{:.6} {}", s.cmax, s.unit),
            format!("{:.3}", s.tmax),
            format!("{:.6}", s.cmin),
            format!("{:.6} {}·h", s.auc, s.unit)
        );
    }
    out
}

/// Lowers a model for a run with the given arms, reporting lowering problems as diagnostics.
pub fn lower_for_run(c: &Compilation, model: usize, arms: &[&hir::Arm]) -> Result<Lowered, Diagnostic> {
    let m = &c.program.models[model];
    lower::lower(&c.program, m, arms, lower::Options { track_elimination: true }).map_err(|errs| {
        let msg = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
        Diagnostic::error(codes::E0019, format!("model `{}` cannot be compiled: {msg}", m.name), m.span)
    })
}
