//! Trial outputs: `patients.csv` (one row per patient and arm), the summary by arm, arm
//! differences and strata, as an aligned table, `summary.csv` and `summary.json`.
//!
//! `patients.csv` has the patient's inputs (covariates, genotypes, η), then one column per
//! computed quantity the trial is stratified by (a param or `let`, `name [unit]`, the value the
//! patient's simulation used), then the endpoints: every stratum is a function of one row, so
//! strata come out the same from a run and from merged shards.
//!
//! Every number is written in its shortest round-trip form, so reading `patients.csv` back gives
//! bit-identical values: `twin merge` recomputes the summary of shards from their `patients.csv`
//! files with the very code a single run uses, and the merged files equal the single run's byte
//! for byte. Missing values are written `NA`. Summaries skip failed patients and report how many
//! there were.

use super::population;
use super::runner::Row;
use super::stats::{self, Interval};
use crate::check::hir::{self, Type};
use crate::csv_text::fmt_num;
use crate::lower::InputSlot;
use crate::units::UnitTable;
use std::fmt::Write;

/// What the output files describe.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// The twin version that produced the files.
    pub twin_version: String,
    /// The `.twin` file.
    pub source: String,
    /// SHA-256 (lowercase hex) of the `.twin` file's text: which model version ran.
    #[serde(default)]
    pub source_sha256: String,
    /// SHA-256 (lowercase hex) of the embedded standard library ([`stdlib_sha256`]).
    #[serde(default)]
    pub stdlib_sha256: String,
    /// The solver settings (absent in files of older versions).
    #[serde(default)]
    pub solver: Option<SolverMeta>,
    /// The trial.
    pub trial: String,
    /// The random seed.
    pub seed: u64,
    /// Patients in the whole population.
    pub patients: u64,
    /// `[i, n]` for shard i of n; `None` for a whole trial.
    pub shard: Option<[u64; 2]>,
    /// The doses found by `find dose` clauses (absent when the trial has none); the summaries and
    /// `patients.csv` of these arms are at the found doses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dose_search: Vec<super::optimize::FoundDose>,
}

/// The solver settings of a run, as recorded in `run.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolverMeta {
    /// The `--method` name (`auto`, `exact`, `bdf`, `diffsol-bdf`, `esdirk`, `trbdf2`).
    pub method: String,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Maximum solver steps.
    pub max_steps: usize,
}

impl SolverMeta {
    /// The record of `o`.
    pub fn of(o: &crate::solve::SolveOptions) -> SolverMeta {
        use crate::solve::Method;
        SolverMeta {
            method: match o.method {
                Method::Auto => "auto",
                Method::Exact => "exact",
                Method::Bdf => "bdf",
                Method::DiffsolBdf => "diffsol-bdf",
                Method::Esdirk34 => "esdirk",
                Method::TrBdf2 => "trbdf2",
            }
            .into(),
            rtol: o.rtol,
            atol: o.atol,
            max_steps: o.max_steps,
        }
    }
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 of the embedded standard library: every module as `name`, NUL, text, NUL, in the
/// order of [`crate::stdlib::modules`].
pub fn stdlib_sha256() -> String {
    let mut all = Vec::new();
    for (name, text) in crate::stdlib::modules() {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    sha256_hex(&all)
}

/// Everything needed to name and format a trial's columns.
pub struct Context<'a> {
    /// The checked program.
    pub program: &'a hir::Program,
    /// The trial.
    pub trial: &'a hir::Trial,
    /// Its model.
    pub model: &'a hir::Model,
    /// Input layout.
    pub slots: &'a [InputSlot],
    /// Units, for headers.
    pub units: &'a UnitTable,
    /// The random seed (a column of `patients.csv`).
    pub seed: u64,
}

fn num(v: f64) -> String {
    if v.is_nan() { "NA".into() } else { fmt_num(v) }
}

fn cell(s: &str) -> String {
    if s.contains(',') || s.contains('"') || s.contains('\n') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Context<'_> {
    fn unit_text(&self, t: Type) -> String {
        match t {
            Type::Num(u) if !(u.is_dimensionless() && u.scale.is_one()) => {
                self.units.format_unit(u)
            }
            _ => String::new(),
        }
    }

    /// Whether endpoint `k` is a responder rule (true/false).
    pub fn is_rule(&self, k: usize) -> bool {
        self.trial.endpoints[k].value.ty == Type::Bool
    }

    fn endpoint_header(&self, k: usize) -> String {
        let e = &self.trial.endpoints[k];
        let u = self.unit_text(e.value.ty);
        if u.is_empty() {
            e.name.clone()
        } else {
            format!("{} [{u}]", e.name)
        }
    }

    /// The name and unit (as written in headers, empty for `1`) of computed quantity `k` of
    /// [`hir::Trial::quantities`].
    fn quantity(&self, k: usize) -> (String, String) {
        match self.trial.quantities.get(k) {
            Some(hir::Sym::Param(i)) => self.model.params.get(*i).map_or_else(
                || ("?".into(), String::new()),
                |p| (p.name.clone(), self.unit_text(Type::Num(p.unit))),
            ),
            Some(hir::Sym::Let(i)) => self.model.lets.get(*i).map_or_else(
                || ("?".into(), String::new()),
                |l| (l.name.clone(), self.unit_text(l.value.ty)),
            ),
            _ => ("?".into(), String::new()),
        }
    }

    fn ancestry_name(&self, i: usize) -> String {
        self.trial
            .population
            .as_ref()
            .and_then(|p| p.ancestry.get(i))
            .map(|a| a.0.clone())
            .unwrap_or_else(|| "-".into())
    }

    /// The header of `patients.csv`.
    pub fn patients_header(&self) -> String {
        let mut h = vec!["id".to_string(), "arm".into(), "ancestry".into()];
        for s in self.slots {
            h.push(match s {
                InputSlot::Covariate(i) => {
                    let c = &self.model.covariates[*i];
                    match c.unit {
                        Some(u) => format!("{} [{}]", c.name, self.units.format_unit(u)),
                        None => c.name.clone(),
                    }
                }
                InputSlot::Genotype(i) => self.model.genotypes[*i].name.clone(),
                InputSlot::Eta(i) => {
                    let e = &self.model.effects[*i];
                    let occ = if e.per_occasion { "; occasion 1" } else { "" };
                    format!("eta({}{occ})", self.model.params[e.param].name)
                }
                InputSlot::Slope(i) => format!("slope({})", self.model.covariates[*i].name),
                InputSlot::Origin(i) => format!("origin({})", self.model.covariates[*i].name),
                InputSlot::Theta(i) => format!("theta({})", self.model.params[*i].name),
                InputSlot::Kappa(k, o) => format!(
                    "eta({}; occasion {o})",
                    self.model.params[self.model.effects[*k].param].name
                ),
                InputSlot::Occasion => "occasion".into(),
            });
        }
        for k in 0..self.trial.quantities.len() {
            h.push(match self.quantity(k) {
                (name, u) if u.is_empty() => name,
                (name, u) => format!("{name} [{u}]"),
            });
        }
        for k in 0..self.trial.endpoints.len() {
            h.push(self.endpoint_header(k));
        }
        if self.has_protocol() {
            h.push("doses_given".into());
            h.push(format!("total_dose [{}]", self.dose_unit()));
            h.push("dose_changes".into());
            h.push("stopped_at [h]".into());
            h.push("stop_reason".into());
        }
        h.push("error".into());
        h.push("seed".into());
        h.iter().map(|x| cell(x)).collect::<Vec<_>>().join(",")
    }

    /// One line of `patients.csv`.
    pub fn patient_line(&self, r: &Row) -> String {
        let mut v = vec![
            r.id.to_string(),
            cell(&self.trial.arms[r.arm].name),
            cell(&self.ancestry_name(r.ancestry)),
        ];
        for (s, x) in self
            .slots
            .iter()
            .zip(r.inputs.iter().chain(std::iter::repeat(&f64::NAN)))
        {
            v.push(match s {
                InputSlot::Covariate(i) if self.model.covariates[*i].unit.is_none() => {
                    self.model.covariates[*i]
                        .levels
                        .get(*x as usize)
                        .cloned()
                        .unwrap_or_else(|| "NA".into())
                }
                InputSlot::Genotype(i) => {
                    let gene = &self.program.genes[self.model.genotypes[*i].gene];
                    cell(
                        gene.diplotype_names
                            .get(*x as usize)
                            .map(String::as_str)
                            .unwrap_or("NA"),
                    )
                }
                _ => num(*x),
            });
        }
        for k in 0..self.trial.quantities.len() {
            v.push(num(r.quantities.get(k).copied().unwrap_or(f64::NAN)));
        }
        for (k, x) in r.endpoints.iter().enumerate() {
            v.push(if self.is_rule(k) && !x.is_nan() {
                (if *x != 0.0 { "true" } else { "false" }).into()
            } else {
                num(*x)
            });
        }
        if self.has_protocol() {
            match &r.course {
                Some(c) => {
                    let given = c.given.iter().filter(|a| a.dose.target == c.dose_state);
                    v.push(given.clone().count().to_string());
                    v.push(num(given.map(|a| a.dose.amount).sum()));
                    v.push(c.dose_changes.to_string());
                    match &c.stop {
                        Some((t, why)) => {
                            v.push(num(*t));
                            v.push(cell(why));
                        }
                        None => {
                            v.push("NA".into());
                            v.push(String::new());
                        }
                    }
                }
                None => v.extend(["NA", "NA", "NA", "NA", ""].map(String::from)),
            }
        }
        v.push(r.error.as_deref().map(cell).unwrap_or_default());
        v.push(self.seed.to_string());
        v.join(",")
    }

    /// Reads `patients.csv` back (the header must match this trial's).
    pub fn parse_patients(&self, text: &str) -> Result<Vec<Row>, String> {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        if header != self.patients_header() {
            return Err("the columns of patients.csv do not match this trial".into());
        }
        let ancestries: Vec<String> = self
            .trial
            .population
            .as_ref()
            .map(|p| p.ancestry.iter().map(|a| a.0.clone()).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        for (ln, line) in lines.enumerate() {
            let cells = split_csv(line);
            let bad = |what: &str| format!("patients.csv line {}: {what}", ln + 2);
            let n_end = self.trial.endpoints.len();
            let n_q = self.trial.quantities.len();
            let n_course = if self.has_protocol() { 5 } else { 0 };
            if cells.len() != 3 + self.slots.len() + n_q + n_end + n_course + 2 {
                return Err(bad("wrong number of columns"));
            }
            let id = cells[0].parse::<u64>().map_err(|_| bad("bad id"))?;
            let arm = self
                .trial
                .arms
                .iter()
                .position(|a| a.name == cells[1])
                .ok_or_else(|| bad("unknown arm"))?;
            let ancestry = ancestries.iter().position(|a| *a == cells[2]).unwrap_or(0);
            let parse_num = |s: &str| -> Result<f64, String> {
                if s == "NA" {
                    Ok(f64::NAN)
                } else {
                    s.parse::<f64>()
                        .map_err(|_| bad(&format!("bad number `{s}`")))
                }
            };
            let mut inputs = Vec::new();
            for (s, c) in self.slots.iter().zip(&cells[3..]) {
                inputs.push(match s {
                    InputSlot::Covariate(i) if self.model.covariates[*i].unit.is_none() => {
                        self.model.covariates[*i]
                            .levels
                            .iter()
                            .position(|l| l == c)
                            .map(|x| x as f64)
                            .unwrap_or(f64::NAN)
                    }
                    InputSlot::Genotype(i) => {
                        let gene = &self.program.genes[self.model.genotypes[*i].gene];
                        gene.diplotype_names
                            .iter()
                            .position(|d| d == c)
                            .map(|x| x as f64)
                            .unwrap_or(f64::NAN)
                    }
                    _ => parse_num(c)?,
                });
            }
            let first_q = 3 + self.slots.len();
            let quantities = cells[first_q..first_q + n_q]
                .iter()
                .map(|c| parse_num(c))
                .collect::<Result<Vec<f64>, String>>()?;
            let first_end = first_q + n_q;
            let mut endpoints = Vec::new();
            for c in &cells[first_end..first_end + n_end] {
                endpoints.push(match c.as_str() {
                    "true" => 1.0,
                    "false" => 0.0,
                    other => parse_num(other)?,
                });
            }
            let err = cells
                .get(first_end + n_end + n_course)
                .ok_or_else(|| bad("too few columns"))?;
            rows.push(Row {
                id,
                arm,
                ancestry,
                inputs,
                quantities,
                endpoints,
                error: if err.is_empty() {
                    None
                } else {
                    Some(err.clone())
                },
                trajectory: None,
                course: None,
            });
        }
        Ok(rows)
    }
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The summary of one endpoint in one group of patients.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EndpointSummary {
    /// Endpoint name.
    pub endpoint: String,
    /// The unit of its values and statistics (empty for a pure number or a responder rule).
    pub unit: String,
    /// Patients with a value.
    pub n: usize,
    /// Responder rate with its 95 % Wilson interval (rules only).
    pub rate: Option<[f64; 3]>,
    /// mean, sd, q05, q25, median, q75, q95 (numeric endpoints only).
    pub stats: Option<[f64; 7]>,
}

/// One group: an arm, or an arm within a stratum level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Group {
    /// Arm name.
    pub arm: String,
    /// Stratum key (empty for whole arms).
    pub stratum: String,
    /// Stratum level (empty for whole arms).
    pub level: String,
    /// Patients in the group.
    pub patients: usize,
    /// Patients whose simulation failed.
    pub failed: usize,
    /// One summary per endpoint.
    pub endpoints: Vec<EndpointSummary>,
}

/// An arm compared with the first arm.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Difference {
    /// The arm.
    pub arm: String,
    /// The reference arm.
    pub reference: String,
    /// Endpoint name.
    pub endpoint: String,
    /// Difference (arm − reference) with a 95 % interval: of rates (Newcombe) or of means
    /// (paired when every patient received every arm, Welch otherwise).
    pub difference: [f64; 3],
}

/// The whole summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Run description.
    pub meta: Meta,
    /// Whole arms.
    pub arms: Vec<Group>,
    /// Arm differences.
    pub differences: Vec<Difference>,
    /// Arms by stratum level.
    pub strata: Vec<Group>,
    /// The first failures, as (patient id, arm, error).
    pub failures: Vec<(u64, String, String)>,
}

fn interval(i: Interval) -> [f64; 3] {
    [i.estimate, i.low, i.high]
}

impl Context<'_> {
    fn group(&self, arm: usize, stratum: &str, level: &str, rows: &[&Row]) -> Group {
        let ok: Vec<&&Row> = rows.iter().filter(|r| r.error.is_none()).collect();
        let endpoints = self
            .trial
            .endpoints
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let vals: Vec<f64> = ok
                    .iter()
                    .map(|r| r.endpoints[k])
                    .filter(|v| !v.is_nan())
                    .collect();
                if self.is_rule(k) {
                    let yes = vals.iter().filter(|v| **v != 0.0).count() as u64;
                    EndpointSummary {
                        endpoint: e.name.clone(),
                        unit: String::new(),
                        n: vals.len(),
                        rate: Some(interval(stats::wilson(yes, vals.len() as u64))),
                        stats: None,
                    }
                } else {
                    let s = stats::summarize(&vals);
                    EndpointSummary {
                        endpoint: e.name.clone(),
                        unit: self.unit_text(e.value.ty),
                        n: vals.len(),
                        rate: None,
                        stats: Some([s.mean, s.sd, s.q05, s.q25, s.median, s.q75, s.q95]),
                    }
                }
            })
            .collect();
        Group {
            arm: self.trial.arms[arm].name.clone(),
            stratum: stratum.into(),
            level: level.into(),
            patients: rows.len(),
            failed: rows.len() - ok.len(),
            endpoints,
        }
    }

    fn stratum_name(&self, s: &hir::Stratum) -> (String, String) {
        match s {
            hir::Stratum::Genotype(g) => (self.model.genotypes[*g].name.clone(), String::new()),
            hir::Stratum::Phenotype(g) => (
                format!("phenotype({})", self.model.genotypes[*g].name),
                String::new(),
            ),
            hir::Stratum::Category(c) => (self.model.covariates[*c].name.clone(), String::new()),
            hir::Stratum::Bins(c, _) => {
                let cov = &self.model.covariates[*c];
                (
                    cov.name.clone(),
                    cov.unit
                        .map(|u| self.units.format_unit(u))
                        .unwrap_or_default(),
                )
            }
            hir::Stratum::Computed(q, _) => self.quantity(*q),
        }
    }

    /// Summarises rows (sorted by patient, then arm).
    pub fn summarize(&self, meta: Meta, rows: &[Row]) -> Summary {
        let n_arms = self.trial.arms.len();
        let by_arm: Vec<Vec<&Row>> = (0..n_arms)
            .map(|a| rows.iter().filter(|r| r.arm == a).collect())
            .collect();
        let arms: Vec<Group> = (0..n_arms)
            .map(|a| self.group(a, "", "", &by_arm[a]))
            .collect();
        let mut differences = Vec::new();
        for a in 1..n_arms {
            for (k, e) in self.trial.endpoints.iter().enumerate() {
                let ok = |r: &&&Row| r.error.is_none() && !r.endpoints[k].is_nan();
                let d = if self.is_rule(k) {
                    let count = |rs: &[&Row]| {
                        let v: Vec<&&Row> = rs.iter().filter(ok).collect();
                        (
                            v.iter().filter(|r| r.endpoints[k] != 0.0).count() as u64,
                            v.len() as u64,
                        )
                    };
                    let ((x1, n1), (x0, n0)) = (count(&by_arm[a]), count(&by_arm[0]));
                    stats::newcombe_difference(x1, n1, x0, n0)
                } else if self.trial.randomize {
                    let v = |rs: &[&Row]| {
                        rs.iter()
                            .filter(ok)
                            .map(|r| r.endpoints[k])
                            .collect::<Vec<f64>>()
                    };
                    stats::welch_difference(&v(&by_arm[a]), &v(&by_arm[0]))
                } else {
                    // Paired: the same patients in both arms; keep patients valid in both.
                    let mut x = Vec::new();
                    let mut y = Vec::new();
                    for (ra, r0) in by_arm[a].iter().zip(&by_arm[0]) {
                        if ok(&ra) && ok(&r0) && ra.id == r0.id {
                            x.push(ra.endpoints[k]);
                            y.push(r0.endpoints[k]);
                        }
                    }
                    stats::paired_difference(&x, &y)
                };
                differences.push(Difference {
                    arm: self.trial.arms[a].name.clone(),
                    reference: self.trial.arms[0].name.clone(),
                    endpoint: e.name.clone(),
                    difference: interval(d),
                });
            }
        }
        let mut strata = Vec::new();
        for s in &self.trial.strata {
            let (name, unit) = self.stratum_name(s);
            let labels = population::stratum_labels(self.program, self.model, s, &unit);
            for (l, label) in labels.iter().enumerate() {
                for (a, arm_rows) in by_arm.iter().enumerate() {
                    let members: Vec<&Row> = arm_rows
                        .iter()
                        .copied()
                        .filter(|r| {
                            population::stratum_level(
                                self.program,
                                self.model,
                                self.slots,
                                s,
                                &r.inputs,
                                &r.quantities,
                            ) == Some(l)
                        })
                        .collect();
                    if !members.is_empty() {
                        strata.push(self.group(a, &name, label, &members));
                    }
                }
            }
        }
        let failures = rows
            .iter()
            .filter_map(|r| {
                r.error
                    .as_ref()
                    .map(|e| (r.id, self.trial.arms[r.arm].name.clone(), e.clone()))
            })
            .take(20)
            .collect();
        Summary {
            meta,
            arms,
            differences,
            strata,
            failures,
        }
    }
}

fn pct(i: &[f64; 3]) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        100.0 * i[0],
        100.0 * i[1],
        100.0 * i[2]
    )
}

fn sig(v: f64) -> String {
    if v.is_nan() {
        "NA".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

fn group_lines(out: &mut String, groups: &[Group], with_stratum: bool) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for g in groups {
        for e in &g.endpoints {
            let mut r = Vec::new();
            if with_stratum {
                r.push(g.stratum.clone());
                r.push(g.level.clone());
            }
            r.push(g.arm.clone());
            r.push(e.endpoint.clone());
            r.push(e.unit.clone());
            r.push(format!("{}", e.n));
            match (&e.rate, &e.stats) {
                (Some(rate), _) => {
                    r.push(pct(rate));
                    r.extend(std::iter::repeat_n(String::new(), 3));
                }
                (_, Some(s)) => {
                    r.push(format!("{} ± {}", sig(s[0]), sig(s[1])));
                    r.push(sig(s[4]));
                    r.push(format!("{} – {}", sig(s[2]), sig(s[6])));
                    r.push(format!("{} – {}", sig(s[3]), sig(s[5])));
                }
                _ => {}
            }
            rows.push(r);
        }
    }
    let mut head: Vec<&str> = Vec::new();
    if with_stratum {
        head.extend(["stratum", "level"]);
    }
    head.extend([
        "arm",
        "endpoint",
        "unit",
        "n",
        "rate [95% CI] / mean ± SD",
        "median",
        "5–95%",
        "25–75%",
    ]);
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(
        out,
        "{}",
        line(head.iter().map(|s| s.to_string()).collect())
    );
    for r in rows {
        let _ = writeln!(out, "{}", line(r));
    }
}

impl Summary {
    /// The aligned table printed on stdout.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.meta;
        let _ = writeln!(
            out,
            "trial {} — {} patients, seed {}, twin {}",
            m.trial, m.patients, m.seed, m.twin_version
        );
        let failed: usize = self.arms.iter().map(|g| g.failed).sum();
        if failed > 0 {
            let _ = writeln!(
                out,
                "{failed} patient-arm simulations failed and are left out of the summaries (see patients.csv)"
            );
        }
        out.push('\n');
        group_lines(&mut out, &self.arms, false);
        if !m.dose_search.is_empty() {
            out.push('\n');
            let _ = writeln!(
                out,
                "dose search (every dose amount and infusion rate × factor, timing unchanged; the arms above are at the found doses):"
            );
            for f in &m.dose_search {
                let unit = if f.unit.is_empty() || f.statistic == "rate" {
                    String::new()
                } else {
                    format!(" {}", f.unit)
                };
                let (achieved, target) = if f.statistic == "rate" {
                    (
                        format!("{:.1}%", 100.0 * f.achieved),
                        format!("{:.1}%", 100.0 * f.target),
                    )
                } else {
                    (
                        format!("{}{unit}", super::optimize::sig4(f.achieved)),
                        super::optimize::sig4(f.target),
                    )
                };
                let reference = f
                    .reference
                    .as_deref()
                    .map(|r| format!(", {} in {r}", f.statistic))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{}: dose × {} → {}; {} {} = {achieved} (target {target}{reference}), {} iterations, n = {}",
                    f.arm,
                    super::optimize::sig4(f.factor),
                    f.doses.join(", "),
                    f.statistic,
                    f.endpoint,
                    f.iterations,
                    f.n
                );
            }
        }
        if !self.differences.is_empty() {
            out.push('\n');
            for d in &self.differences {
                let _ = writeln!(
                    out,
                    "{} − {}  {}: {} [{}, {}]",
                    d.arm,
                    d.reference,
                    d.endpoint,
                    sig(d.difference[0]),
                    sig(d.difference[1]),
                    sig(d.difference[2])
                );
            }
        }
        if !self.strata.is_empty() {
            out.push('\n');
            group_lines(&mut out, &self.strata, true);
        }
        out
    }

    /// `summary.csv`: one row per group and endpoint.
    pub fn csv(&self) -> String {
        // With dose searches, `dose_factor` (the factor on the arm's doses; 1 for arms not
        // searched) comes before `seed`.
        let searched = !self.meta.dose_search.is_empty();
        let mut out = String::from(
            "stratum,level,arm,endpoint,unit,patients,failed,n,rate,rate_low,rate_high,mean,sd,q05,q25,median,q75,q95,",
        );
        if searched {
            out.push_str("dose_factor,");
        }
        out.push_str("seed,twin_version\n");
        for g in self.arms.iter().chain(&self.strata) {
            for e in &g.endpoints {
                let r = e.rate.unwrap_or([f64::NAN; 3]);
                let s = e.stats.unwrap_or([f64::NAN; 7]);
                let mut cells = vec![
                    cell(&g.stratum),
                    cell(&g.level),
                    cell(&g.arm),
                    cell(&e.endpoint),
                    cell(&e.unit),
                    g.patients.to_string(),
                    g.failed.to_string(),
                    e.n.to_string(),
                ];
                cells.extend(r.iter().chain(&s).map(|v| num(*v)));
                if searched {
                    let factor = self
                        .meta
                        .dose_search
                        .iter()
                        .find(|f| f.arm == g.arm)
                        .map(|f| f.factor)
                        .unwrap_or(1.0);
                    cells.push(num(factor));
                }
                cells.push(self.meta.seed.to_string());
                cells.push(self.meta.twin_version.clone());
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
        out
    }

    /// `summary.json`.
    pub fn json(&self) -> String {
        // NaN is not JSON: serialise through a value where NaN becomes null.
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }
}

impl Context<'_> {
    /// Whether an arm of the trial has a protocol (`patients.csv` then has course columns, and
    /// `--trajectories` writes `doses.csv` and `visits.csv`).
    pub fn has_protocol(&self) -> bool {
        self.trial.arms.iter().any(|a| a.protocol.is_some())
    }

    /// The unit of protocol doses: that of the state of the first arm's first dose.
    fn dose_unit(&self) -> String {
        let state = self
            .trial
            .arms
            .iter()
            .find_map(|a| a.protocol.as_ref().map(|p| p.dose_state))
            .unwrap_or(0);
        self.model
            .states
            .get(state)
            .map(|s| self.units.format_unit(s.unit))
            .unwrap_or_default()
    }

    /// The header of `doses.csv`: one row per administration given.
    pub fn doses_header(&self) -> String {
        "id,arm,time [h],state,amount,unit".into()
    }

    /// The lines of `doses.csv` for one row (none without a course).
    pub fn dose_lines(&self, r: &Row, out: &mut String) {
        let Some(c) = &r.course else { return };
        for a in &c.given {
            let st = self.model.states.get(a.dose.target as usize);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                r.id,
                cell(&self.trial.arms[r.arm].name),
                num(a.time),
                cell(st.map_or("?", |s| s.name.as_str())),
                num(a.dose.amount),
                cell(
                    &st.map(|s| self.units.format_unit(s.unit))
                        .unwrap_or_default()
                )
            );
        }
    }

    /// The header of `visits.csv`: id, arm, time, every observable as measured, `dose` (the
    /// next planned amount before the rules), the rules that fired (1-based, in order) and what a
    /// `fit dose so` action found.
    pub fn visits_header(&self) -> String {
        let mut h = vec!["id".to_string(), "arm".into(), "time [h]".into()];
        for o in &self.model.observables {
            h.push(self.observable_header(o, "_dv"));
        }
        h.push(format!("dose [{}]", self.dose_unit()));
        h.push("rules".into());
        h.push("note".into());
        h.iter().map(|x| cell(x)).collect::<Vec<_>>().join(",")
    }

    /// The lines of `visits.csv` for one row.
    pub fn visit_lines(&self, r: &Row, out: &mut String) {
        let Some(c) = &r.course else { return };
        for v in &c.visits {
            let _ = write!(
                out,
                "{},{},{}",
                r.id,
                cell(&self.trial.arms[r.arm].name),
                num(v.time)
            );
            for x in &v.measured {
                out.push(',');
                out.push_str(&num(*x));
            }
            let fired: Vec<String> = v.fired.iter().map(|k| (k + 1).to_string()).collect();
            let _ = writeln!(
                out,
                ",{},{},{}",
                num(v.dose),
                fired.join(" "),
                cell(v.note.as_deref().unwrap_or(""))
            );
        }
    }

    /// The column of observable `o` in `trajectories.csv` and `bands.csv`: `name [unit]` (or
    /// `name_dv [unit]` with residual error), `name` for a pure number.
    fn observable_header(&self, o: &hir::Observable, suffix: &str) -> String {
        let u = self.unit_text(o.value.ty);
        if u.is_empty() {
            format!("{}{suffix}", o.name)
        } else {
            format!("{}{suffix} [{u}]", o.name)
        }
    }

    /// The header of `trajectories.csv`: id, arm, time, each observable, then each with residual
    /// error (`name_dv`, the simulated observation).
    pub fn trajectories_header(&self) -> String {
        let mut h = vec!["id".to_string(), "arm".into(), "time [h]".into()];
        for suffix in ["", "_dv"] {
            for o in &self.model.observables {
                h.push(self.observable_header(o, suffix));
            }
        }
        h.iter().map(|x| cell(x)).collect::<Vec<_>>().join(",")
    }

    /// `targets.csv`: the targets the endpoints put on observables ([`super::targets`]), one row
    /// per endpoint and observable: `endpoint`, `observable` (its column in `bands.csv`, with its
    /// unit), `low` and `high` in that unit (`NA` for a threshold without the other bound).
    pub fn targets_csv(&self) -> String {
        let mut out = String::from("endpoint,observable,low,high\n");
        for t in super::targets::targets(self.trial, self.model) {
            let Some(o) = self.model.observables.get(t.observable) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{},{},{},{}",
                cell(&t.endpoint),
                cell(&self.observable_header(o, "")),
                num(t.low.unwrap_or(f64::NAN)),
                num(t.high.unwrap_or(f64::NAN))
            );
        }
        out
    }

    /// The lines of `trajectories.csv` for one row (none if it failed).
    pub fn trajectory_lines(&self, r: &Row, sampling: &[f64], out: &mut String) {
        let Some(t) = &r.trajectory else { return };
        let width = 2 * self.model.observables.len();
        for (k, time) in sampling.iter().enumerate() {
            let _ = write!(
                out,
                "{},{},{}",
                r.id,
                cell(&self.trial.arms[r.arm].name),
                num(*time)
            );
            for v in t.iter().skip(k * width).take(width) {
                out.push(',');
                out.push_str(&num(*v));
            }
            out.push('\n');
        }
    }
}

/// `bands.csv` from the text of `trajectories.csv`: per arm, time and column, the number of
/// patients and the 5/25/50/75/95 % quantiles (type 7) — the bands of a visual predictive check.
pub fn bands(trajectories: &str) -> String {
    let mut lines = trajectories.lines();
    let header = split_csv(lines.next().unwrap_or_default());
    let cols: Vec<String> = header.iter().skip(3).cloned().collect();
    // (arm, time text) in first-seen order → per column values.
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut values: Vec<Vec<Vec<f64>>> = Vec::new();
    for line in lines {
        let c = split_csv(line);
        if c.len() < 3 {
            continue;
        }
        let key = (c[1].clone(), c[2].clone());
        let k = match keys.iter().position(|x| *x == key) {
            Some(k) => k,
            None => {
                keys.push(key);
                values.push(vec![Vec::new(); cols.len()]);
                keys.len() - 1
            }
        };
        for (j, v) in c.iter().skip(3).enumerate() {
            if let (Some(slot), Ok(x)) = (values[k].get_mut(j), v.parse::<f64>()) {
                slot.push(x);
            }
        }
    }
    let mut out = String::from("arm,time [h],observable,n,q05,q25,median,q75,q95\n");
    for (k, (arm, time)) in keys.iter().enumerate() {
        for (j, name) in cols.iter().enumerate() {
            let q = stats::quantiles(&values[k][j], &[0.05, 0.25, 0.5, 0.75, 0.95]);
            let _ = write!(
                out,
                "{},{},{},{}",
                cell(arm),
                time,
                cell(name),
                values[k][j].len()
            );
            for v in q {
                out.push(',');
                out.push_str(&num(v));
            }
            out.push('\n');
        }
    }
    out
}
