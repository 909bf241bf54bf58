//! `twin run`: one patient (or every subject of an event file) → a table of states and
//! observables.
//!
//! [`simulate`] chooses the model and regimen from the request, prepares the model through
//! [`crate::driver::prepare`] (with `--arm`, exactly the module the trial runs:
//! [`crate::trial::runner::prepare_model`]), sets the patient's inputs (typical values, the arm's
//! overrides with the population's semantics, then `--set`), and solves through [`crate::sim`],
//! returning typed trajectories. [`execute`] formats them: CSV with `name [unit]` headers plus a
//! summary of each observable.
//!
//! A dataset run (`--events`) solves each subject piecewise on its rows' times
//! (`DatasetRun::subject`). [`simulate`] keeps every subject in memory (for the REPL, tests and
//! small runs; at most [`grid::MAX_RUN_VALUES`] values); [`stream`] and [`stream_to_file`]
//! (what the command line uses) read the dataset one subject at a time and write each subject's
//! table lines before reading the next, in memory bounded by one subject. Both go through the
//! same per-subject and per-line code, so their tables are the same bytes.

use crate::check::{self, Checker, Scope, hir};
use crate::csv_text::{csv_cell, fmt_sig, push_num};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::driver::{Compilation, PrepareError};
use crate::lower::{self, InputSlot, Lowered};
use crate::sim::{self, Patient, PreparedModel, SimError, grid};
use crate::solve::{Regimen, Simulation};
use crate::source::Span;
use crate::syntax::parser;
use std::fmt::Write;

/// Sets one input from `name=value` text (`weight=80 kg`, `cyp2c9=*1/*3`, `sex=female`, or the
/// random effect of a varied param, `eta_cl=0.2`). Values are checked against the covariate's unit
/// and converted exactly.
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
    let eta_names: Vec<String> = m
        .effects
        .iter()
        .map(|e| format!("eta_{}", m.params[e.param].name))
        .collect();
    if let Some(k) = eta_names.iter().position(|e| e == name) {
        let slot = slots
            .iter()
            .position(|s| *s == InputSlot::Eta(k))
            .unwrap_or(0);
        return match value.parse::<f64>() {
            Ok(v) if v.is_finite() => {
                inputs[slot] = v;
                Ok(())
            }
            _ => Err(Diagnostic::error(
                codes::E0019,
                format!("`{name}` needs a finite number"),
                vspan,
            )
            .with_help(format!(
                "e.g. --set {name}=0.2 (a random effect has no unit)"
            ))),
        };
    }
    let names: Vec<&str> = m
        .covariates
        .iter()
        .map(|c| c.name.as_str())
        .chain(m.genotypes.iter().map(|g| g.name.as_str()))
        .chain(m.params.iter().map(|p| p.name.as_str()))
        .chain(eta_names.iter().map(String::as_str))
        .collect();
    let nspan = Span::new(file, 0, name.len());
    let mut d = Diagnostic::error(
        codes::E0004,
        format!(
            "`{name}` is not a covariate, genotype, param or random effect of `{}`",
            m.name
        ),
        nspan,
    );
    if let Some(s) = did_you_mean(name, names.iter().copied()) {
        d = d.with_help(format!("did you mean `{s}`?"));
    } else if names.is_empty() {
        d = d.with_help(format!("`{}` has nothing to set", m.name));
    } else {
        d = d.with_help(format!("what can be set: {}", names.join(", ")));
    }
    Err(d)
}

/// Sets a param of model `model` from `name=value` text (`cl=4 L/h`): its definition becomes the
/// constant, checked against the param's unit like the model's own values and converted exactly,
/// so params computed from it follow. A random effect on it still applies (η is 0 unless set).
/// `Ok(false)` when `name` is not a param of the model.
pub fn apply_param_set(c: &mut Compilation, model: usize, text: &str) -> Result<bool, Diagnostic> {
    let Some((name, value)) = text.split_once('=') else {
        return Ok(false);
    };
    let (name, value) = (name.trim(), value.trim());
    let Some(i) = c.program.models[model]
        .params
        .iter()
        .position(|p| p.name == name)
    else {
        return Ok(false);
    };
    let unit = c.program.models[model].params[i].unit;
    let vfile = c.sources.add(format!("--set {name}"), value);
    let expr = parser::parse_expr(vfile, value)?;
    let mut ck = Checker::new(c.units.clone());
    ck.scope = Scope::Const;
    let h = ck.expr(&expr);
    let h = ck.coerce(h, unit, codes::E0008, &format!("param `{name}`"));
    if let Some(d) = ck.diags.into_iter().next() {
        return Err(d);
    }
    let Some(v) = check::consts::eval(&h) else {
        return Err(Diagnostic::error(
            codes::E0019,
            "the value must be a constant",
            expr.span,
        ));
    };
    let param = &mut c.program.models[model].params[i];
    if !param.domain.contains(v) {
        let unit = if param.domain.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", param.domain.unit)
        };
        return Err(Diagnostic::error(
            codes::E0045,
            format!(
                "param `{name}` = {v}{unit} is outside its domain ({})",
                param.domain.text
            ),
            expr.span,
        ));
    }
    param.value = h;
    Ok(true)
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
            format!("{}{unit}", fmt_sig(s.cmax, 7)),
            fmt_sig(s.tmax, 6),
            format!("{}{unit}", fmt_sig(s.cmin, 7)),
            format!("{} {auc_unit}", fmt_sig(s.auc, 7))
        );
    }
    out
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
    /// NONMEM-style event records (text of the CSV), for [`simulate`]; [`stream`] reads them
    /// from a reader instead.
    pub events: Option<String>,
    /// Solver options.
    pub options: crate::solve::SolveOptions,
    /// Whether the user chose the tolerances (`--rtol`, `--atol`): a model solved exactly then
    /// gets a note that they do not apply.
    pub tolerances_given: bool,
    /// `--eliminated`: add the running total of everything eliminated through `-> out` as a
    /// column (a state the solver integrates with the others, so it is opt-in).
    pub eliminated: bool,
    /// `--sample --seed N` (dataset runs): each subject with its own random effects (and
    /// per-occasion effects by `OCC`) and residual error drawn from seed N.
    pub sample: Option<u64>,
    /// `--interpolate NAME` (dataset runs): covariates interpolated linearly between their
    /// rows instead of carried forward.
    pub interpolate: Vec<String>,
    /// Params whose definition becomes an input, to be estimated (`twin fit --estimate`).
    pub estimate: Vec<String>,
    /// Compile the model with the forward sensitivities of its states and observables with
    /// respect to every η and every estimated param (what `twin fit` solves).
    pub sensitivities: bool,
    /// `twin fit` with per-occasion random effects: how many occasions get their own η
    /// ([`lower::Options::occasions`]).
    pub occasions: u32,
    /// A posterior band around the patient (a forecast of a fitted twin, `--twin DIR`): the
    /// 2.5 % and 97.5 % of every observable over draws of its random effects.
    pub band: Option<Band>,
    /// `--arm` of a protocol arm: the (seed, patient index) whose measurement stream draws the
    /// residual error of the visits' measurements, as `twin trial --seed SEED` draws them for
    /// that patient (default: seed 0, patient 0).
    pub measure: (u64, u64),
}

/// Draws of a patient's random effects from a normal posterior approximation `N(mean, Σ)` (the
/// Laplace approximation of `twin fit`), for the 2.5–97.5 % band of a forecast.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Band {
    /// The params whose between-patient random effects are drawn, in the order of `mean`.
    pub effects: Vec<String>,
    /// The posterior mode.
    pub mean: Vec<f64>,
    /// Σ, row-major.
    pub covariance: Vec<f64>,
    /// Number of draws.
    pub draws: usize,
    /// Seed of the draws.
    pub seed: u64,
}

/// The result of a run as CSV text and a summary table.
#[derive(Debug, Clone)]
pub struct Output {
    /// The CSV table.
    pub csv: String,
    /// The summary.
    pub summary: String,
    /// Warnings from the checker, rendered.
    pub warnings: String,
}

/// One simulated subject.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The event file's `ID`, if the run came from one.
    pub id: Option<String>,
    /// Its inputs and parameters.
    pub patient: Patient,
    /// Its states and observables on the grid.
    pub sim: Simulation,
    /// For a dataset run: every data row with its states and observables (the table has one
    /// line per data row).
    pub records: Option<Vec<RecordValues>>,
    /// With [`Request::band`]: per grid row, the 2.5 % and 97.5 % of every observable (row-major,
    /// `2 · observables` per row: low and high of the first, then of the second, …).
    pub band: Option<Vec<f64>>,
}

/// One data row of a dataset run and the model's values there.
#[derive(Debug, Clone)]
pub struct RecordValues {
    /// The row.
    pub row: crate::events::Row,
    /// The shown states at the row's time (pre-dose for an observation written before a dose
    /// row at the same time, else after the events at that time).
    pub states: Vec<f64>,
    /// The observables there.
    pub observables: Vec<f64>,
    /// With `--sample`, for a row with an observable: the typical patient's prediction (PRED,
    /// every η = 0), the individual's (IPRED, as `observables`), and IPRED with residual error
    /// drawn (the simulated DV), in the observable's unit.
    pub sampled: Option<[f64; 3]>,
}

/// The model side of a dataset run: which columns feed which inputs, their units, and how one
/// subject is simulated. [`simulate`] keeps every subject; [`stream`] writes each and drops it.
pub(crate) struct DatasetRun<'a> {
    c: &'a Compilation,
    m: &'a hir::Model,
    prepared: &'a PreparedModel,
    base: &'a Patient,
    options: &'a crate::solve::SolveOptions,
    /// Input columns, the slot each feeds, and its unit.
    inputs: Vec<(
        crate::events::InputColumn,
        usize,
        Option<crate::units::Unit>,
    )>,
    /// Shown states (the model's, and `eliminated` when tracked).
    shown: usize,
    /// `--sample`: the seed of the random effects and residual errors.
    sample: Option<u64>,
}

impl<'a> DatasetRun<'a> {
    pub(crate) fn new(
        setup: &'a Setup,
        base: &'a Patient,
        options: &'a crate::solve::SolveOptions,
        sample: Option<u64>,
    ) -> DatasetRun<'a> {
        use crate::events::{InputColumn, InputKind};
        let (c, prepared) = (&setup.c, &setup.prepared);
        let m = &setup.program.models[setup.model];
        let mut inputs = Vec::new();
        for (k, s) in prepared.lowered.inputs.iter().enumerate() {
            match *s {
                InputSlot::Covariate(i) => {
                    let cv = &m.covariates[i];
                    let kind = if cv.unit.is_none() {
                        InputKind::Levels(cv.levels.clone())
                    } else {
                        InputKind::Number
                    };
                    inputs.push((
                        InputColumn {
                            name: cv.name.clone(),
                            kind,
                        },
                        k,
                        cv.unit,
                    ));
                }
                InputSlot::Genotype(i) => {
                    let gene = &c.program.genes[m.genotypes[i].gene];
                    inputs.push((
                        InputColumn {
                            name: m.genotypes[i].name.clone(),
                            kind: InputKind::Levels(gene.diplotype_names.clone()),
                        },
                        k,
                        None,
                    ));
                }
                _ => {}
            }
        }
        DatasetRun {
            c,
            m,
            prepared,
            base,
            options,
            inputs,
            shown: setup.shown_states,
            sample,
        }
    }

    /// The factor from a unit written in the dataset's header to the model's unit of `q`.
    fn convert(&self, text: &str, q: crate::events::Quantity) -> Result<f64, String> {
        use crate::events::Quantity;
        let (c, m) = (self.c, self.m);
        let hour = c.units.get("h").unwrap_or(crate::units::Unit::ONE);
        let to = match q {
            Quantity::Time => hour,
            Quantity::Amount(i) => m.states[i].unit,
            Quantity::Rate(i) => m.states[i].unit.div(hour).map_err(|e| format!("{e:?}"))?,
            Quantity::Observable(o) => match m.observables[o].value.ty {
                hir::Type::Num(u) => u,
                _ => crate::units::Unit::ONE,
            },
            Quantity::Input(i) => self.inputs[i].2.unwrap_or(crate::units::Unit::ONE),
        };
        check::unit_factor(&c.units, c.file, text, to)
    }

    /// Every subject of `events`, read and given its meaning for the model, not simulated.
    pub(crate) fn subjects(&self, events: &str) -> Result<Vec<crate::events::Subject>, Failure> {
        let convert = |text: &str, q| self.convert(text, q);
        let schema = crate::events::Schema {
            states: self.m.states.iter().map(|s| s.name.clone()).collect(),
            observables: self.m.observables.iter().map(|o| o.name.clone()).collect(),
            inputs: self.inputs.iter().map(|i| i.0.clone()).collect(),
            convert: &convert,
        };
        crate::events::subjects(events, &schema).map_err(|e| Failure::Usage(format!("data: {e}")))
    }

    /// Reads the subjects of `events` one at a time, simulates each and hands it to `each`, in
    /// file order; the first problem (a malformed row, a failed subject, or `each`'s error)
    /// stops the run.
    fn for_each(
        &self,
        events: impl std::io::Read,
        mut each: impl FnMut(Subject) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let convert = |text: &str, q| self.convert(text, q);
        let schema = crate::events::Schema {
            states: self.m.states.iter().map(|s| s.name.clone()).collect(),
            observables: self.m.observables.iter().map(|o| o.name.clone()).collect(),
            inputs: self.inputs.iter().map(|i| i.0.clone()).collect(),
            convert: &convert,
        };
        let events_error = |e: crate::events::EventError| Failure::Usage(format!("events: {e}"));
        for (index, s) in crate::events::Subjects::new(events, &schema)
            .map_err(events_error)?
            .enumerate()
        {
            each(self.subject(s.map_err(events_error)?, index as u64)?)?;
        }
        Ok(())
    }

    /// One subject (the `index`-th of the file, from 0): the typical patient, or with
    /// `--sample` the individual with its drawn random effects, PRED and the residual error.
    fn subject(&self, s: crate::events::Subject, index: u64) -> Result<Subject, Failure> {
        let typical = self.solve_subject(&s, &[])?;
        let Some(seed) = self.sample else {
            return Ok(typical);
        };
        let m = self.m;
        let slots = &self.prepared.lowered.inputs;
        let slot_of = |k: usize| slots.iter().position(|x| *x == InputSlot::Eta(k));
        let bad = |e: crate::trial::PopError| Failure::Usage(format!("--sample: {e}"));
        let between = crate::trial::population::EtaDraws::patients(m).map_err(bad)?;
        let per_occasion = crate::trial::population::EtaDraws::occasions(m).map_err(bad)?;
        // η from the start; per-occasion η from the first row of each `OCC` (the first
        // occasion also covers the rows before it).
        let mut changes: Vec<(f64, usize, f64)> = Vec::new();
        for (k, v) in between.draws(seed, index, 0) {
            if let Some(i) = slot_of(k) {
                changes.push((f64::NEG_INFINITY, i, v));
            }
        }
        let mut current: Option<i64> = None;
        for r in &s.rows {
            let Some(o) = r.occ else { continue };
            if current == Some(o) {
                continue;
            }
            let occasion = u16::try_from(o).map_err(|_| {
                Failure::Usage(format!(
                    "events: row {}, column OCC: an occasion is a whole number from 0 to 65535 (value `{o}`)",
                    r.row
                ))
            })?;
            let time = if current.is_none() {
                f64::NEG_INFINITY
            } else {
                r.time
            };
            current = Some(o);
            for (k, v) in per_occasion.draws(seed, index, occasion) {
                if let Some(i) = slot_of(k) {
                    changes.push((time, i, v));
                }
            }
        }
        if current.is_none() {
            for (k, v) in per_occasion.draws(seed, index, 0) {
                if let Some(i) = slot_of(k) {
                    changes.push((f64::NEG_INFINITY, i, v));
                }
            }
        }
        let mut individual = self.solve_subject(&s, &changes)?;
        // Residual error in row order from the subject's own stream.
        let mut stream = crate::trial::rng::Stream::substream(
            seed,
            index,
            crate::trial::rng::Purpose::ResidualError,
            0,
        );
        let (Some(ind), Some(typ)) = (individual.records.as_mut(), typical.records.as_ref()) else {
            return Ok(individual);
        };
        for (r, p) in ind.iter_mut().zip(typ) {
            if let Some(o) = r.row.observable.filter(|_| r.row.evid == 0) {
                let ipred = r.observables[o];
                let sim =
                    crate::trial::population::residual(&m.observables[o].error, ipred, &mut stream);
                r.sampled = Some([p.observables[o], ipred, sim]);
            }
        }
        Ok(individual)
    }

    /// One subject's solve: covariates over time (last observation carried forward) and
    /// `extra` input changes (time, input slot, value; time −∞ for the start), resets and
    /// pre-dose observations as segments of one piecewise solve on the data rows' times; one
    /// [`RecordValues`] per row.
    pub(crate) fn solve_subject(
        &self,
        s: &crate::events::Subject,
        extra: &[(f64, usize, f64)],
    ) -> Result<Subject, Failure> {
        use crate::solve::{Segment, SegmentStart};
        let (prepared, inputs, shown) = (self.prepared, &self.inputs, self.shown);
        let fail = |error: SimError| Failure::Simulate {
            subject: Some(s.id.clone()),
            error,
        };
        // Every input change: (time, slot, value), in time order (file order within a time).
        // A linearly interpolated covariate holds its first value until its first row, then
        // runs from each row's value to the next row's (value, slope and origin change at
        // each row), and holds its last value.
        let slots = &prepared.lowered.inputs;
        let interp = |slot: usize| -> Option<(usize, usize)> {
            let InputSlot::Covariate(i) = *slots.get(slot)? else {
                return None;
            };
            let slope = slots.iter().position(|x| *x == InputSlot::Slope(i))?;
            let origin = slots.iter().position(|x| *x == InputSlot::Origin(i))?;
            Some((slope, origin))
        };
        // For each input value, the next value of the same column.
        let mut next_of = vec![None; s.inputs.len()];
        let mut later: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
        for (n, v) in s.inputs.iter().enumerate().rev() {
            next_of[n] = later.insert(v.input, n);
        }
        let mut started = vec![false; inputs.len()];
        let mut changes: Vec<(f64, usize, f64)> = Vec::new();
        for (n, v) in s.inputs.iter().enumerate() {
            let slot = inputs[v.input].1;
            let Some((slope, origin)) = interp(slot) else {
                changes.push((v.time, slot, v.value));
                continue;
            };
            if !std::mem::replace(&mut started[v.input], true) {
                changes.extend([
                    (f64::NEG_INFINITY, slot, v.value),
                    (f64::NEG_INFINITY, slope, 0.0),
                    (f64::NEG_INFINITY, origin, 0.0),
                ]);
            }
            let next = next_of[n].map(|k| &s.inputs[k]);
            let rate = match next {
                Some(u) if u.time > v.time => (u.value - v.value) / (u.time - v.time),
                _ => 0.0,
            };
            changes.extend([
                (v.time, slot, v.value),
                (v.time, slope, rate),
                (v.time, origin, v.time),
            ]);
        }
        changes.extend(extra.iter().copied());
        changes.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The inputs at the start: each input's first value, else the model's.
        let mut current = self.base.inputs.clone();
        let mut seen = vec![false; current.len()];
        for &(_, slot, value) in &changes {
            if !seen[slot] {
                seen[slot] = true;
                current[slot] = value;
            }
        }
        let first = Patient::new(prepared, current.clone()).map_err(fail)?;
        // Change times: input values, resets, and pre-dose observations (a segment that changes
        // nothing, for its left limit).
        let mut times: Vec<f64> = changes
            .iter()
            .map(|c| c.0)
            .filter(|t| t.is_finite())
            .collect();
        times.extend(&s.resets);
        times.extend(s.rows.iter().filter(|r| r.before_dose).map(|r| r.time));
        times.sort_by(f64::total_cmp);
        times.dedup();
        let mut segments: Vec<Segment> = Vec::new();
        let mut params = first.params.clone();
        let mut vi = 0;
        for &t in &times {
            let mut changed = false;
            while let Some(&(time, slot, value)) = changes.get(vi) {
                if time > t {
                    break;
                }
                if current[slot].to_bits() != value.to_bits() {
                    current[slot] = value;
                    changed = true;
                }
                vi += 1;
            }
            if changed {
                params = Patient::new(prepared, current.clone())
                    .map_err(fail)?
                    .params;
            }
            let reset = s.resets.contains(&t);
            let pre_dose = s.rows.iter().any(|r| r.before_dose && r.time == t);
            if changed || reset || pre_dose {
                segments.push(Segment {
                    time: t,
                    params: params.clone(),
                    start: if reset {
                        SegmentStart::Reset
                    } else {
                        SegmentStart::Continue
                    },
                });
            }
        }
        let mut g: Vec<f64> = s.rows.iter().map(|r| r.time).collect();
        g.dedup();
        let (sim, limits) = if segments.is_empty() {
            (
                sim::simulate(prepared, &first, &s.regimen, &g, self.options).map_err(fail)?,
                Vec::new(),
            )
        } else {
            sim::simulate_segments(prepared, &first, &segments, &s.regimen, &g, self.options)
                .map_err(fail)?
        };
        let mut records = Vec::with_capacity(s.rows.len());
        for row in &s.rows {
            let left = if row.before_dose {
                limits.iter().find(|l| l.time == row.time)
            } else {
                None
            };
            let (states, observables) = match left {
                // The state just before the dose; the observables with the covariates in force
                // at the row's time (its own values included).
                Some(l) => {
                    let params = segments
                        .iter()
                        .rev()
                        .find(|s| s.time <= row.time)
                        .map_or(&first.params, |s| &s.params);
                    let mut obs = vec![0.0; sim.n_observables];
                    if prepared
                        .compiled
                        .observe(row.time, &l.states, params, &mut obs)
                        .is_err()
                    {
                        obs.fill(f64::NAN);
                    }
                    (l.states[..shown].to_vec(), obs)
                }
                None => {
                    let k = sim.times.partition_point(|&t| t < row.time);
                    (
                        (0..shown).map(|i| sim.state(k, i)).collect(),
                        (0..sim.n_observables)
                            .map(|j| sim.observable(k, j))
                            .collect(),
                    )
                }
            };
            records.push(RecordValues {
                row: row.clone(),
                states,
                observables,
                sampled: None,
            });
        }
        Ok(Subject {
            id: Some(s.id.clone()),
            patient: first,
            sim,
            records: Some(records),
            band: None,
        })
    }
}

/// The band of `b` around a patient with `inputs` (`slots`: the input slot of each effect of
/// `b`): `draws` draws of the effects from
/// `N(mean, Σ)` (one seeded stream), each solved by `solve`; per grid row (`rows`) and observable
/// (`n_obs`) the 2.5 % and 97.5 % (type 7) of the draws that could be solved; and how many could
/// not.
fn band_values(
    b: &Band,
    slots: &[usize],
    inputs: &[f64],
    rows: usize,
    n_obs: usize,
    solve: impl Fn(Vec<f64>) -> Option<Simulation>,
) -> (Vec<f64>, usize) {
    let k = b.mean.len();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(b.draws); rows * n_obs];
    let mut failed = 0;
    // A covariance that is not positive definite gives every draw at the mode.
    let l = crate::linalg::cholesky(&b.covariance, k).unwrap_or_else(|| vec![0.0; k * k]);
    // The draws of `twin fit`'s band, so that the two agree.
    for eta in crate::fit::posterior_draws(b.seed, &b.mean, &l, b.draws) {
        let mut x = inputs.to_vec();
        for (&slot, v) in slots.iter().zip(eta) {
            x[slot] = v;
        }
        match solve(x) {
            Some(s) if s.times.len() == rows => {
                for r in 0..rows {
                    for o in 0..n_obs {
                        samples[r * n_obs + o].push(s.observable(r, o));
                    }
                }
            }
            _ => failed += 1,
        }
    }
    let mut out = Vec::with_capacity(rows * n_obs * 2);
    for s in &mut samples {
        let (lo, hi) = crate::trial::stats::central_95(s);
        out.push(lo);
        out.push(hi);
    }
    (out, failed)
}

/// The typed result of a run.
#[derive(Debug, Clone)]
pub struct Trajectories {
    /// Column headers of the table: (`ID`), `time [h]`, every state, (`eliminated`), every
    /// observable, each as `name [unit]`.
    pub headers: Vec<String>,
    /// Name and unit text of every observable.
    pub observables: Vec<(String, String)>,
    /// How many of the simulation's states are shown (the model's, and `eliminated` when
    /// tracked; running integrals of a trial's endpoints are not).
    pub shown_states: usize,
    /// Every subject, in file order.
    pub subjects: Vec<Subject>,
    /// Warnings from the checker, rendered.
    pub warnings: String,
    /// A dataset run with `--sample`: the table has `PRED`, `IPRED` and `SIM` after `DV`.
    pub sampled: bool,
}

/// Why a run did not produce output.
pub enum Failure {
    /// Problems in the model or the command-line additions, with the sources to render them.
    Diagnostics(Box<Compilation>, Vec<Diagnostic>),
    /// A problem with the request itself.
    Usage(String),
    /// The model could not be lowered or compiled.
    Prepare(PrepareError),
    /// The table could not be written ([`stream`], [`stream_to_file`]).
    Write(std::io::Error),
    /// A subject could not be simulated.
    Simulate {
        /// The event file's `ID`, if any.
        subject: Option<String>,
        /// Why.
        error: SimError,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Diagnostics(_, d) => {
                let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
                write!(f, "{}", msgs.join("; "))
            }
            Failure::Usage(m) => write!(f, "{m}"),
            Failure::Prepare(e) => write!(f, "{e}"),
            Failure::Write(e) => write!(f, "cannot write the table: {e}"),
            Failure::Simulate {
                subject: Some(id),
                error,
            } => write!(f, "subject {id}: {error}"),
            Failure::Simulate {
                subject: None,
                error,
            } => write!(f, "{error}"),
        }
    }
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

/// Which model the request names (by `--model`, by the trial of `--arm`, or the file's only one).
fn choose_model(req: &Request, first: &Compilation) -> Result<String, Failure> {
    let models: Vec<String> = first
        .program
        .models
        .iter()
        .filter(|m| m.span.file == first.file)
        .map(|m| m.name.clone())
        .collect();
    match (&req.model, &req.arm) {
        (Some(m), _) => {
            if !models.contains(m) {
                return Err(Failure::Usage(format!(
                    "no model `{m}` in {}; it has {}",
                    req.name,
                    models.join(", ")
                )));
            }
            Ok(m.clone())
        }
        (None, Some(arm)) => {
            let t = first.program.trials.iter().find(|t| {
                t.arms
                    .iter()
                    .any(|a| *arm == a.name || *arm == format!("{}.{}", t.name, a.name))
            });
            match t {
                Some(t) => Ok(first.program.models[t.model].name.clone()),
                None => {
                    let all: Vec<String> = first
                        .program
                        .trials
                        .iter()
                        .flat_map(|t| t.arms.iter().map(move |a| format!("{}.{}", t.name, a.name)))
                        .collect();
                    Err(Failure::Usage(format!(
                        "no arm `{arm}` in {}; arms: {}",
                        req.name,
                        if all.is_empty() {
                            "none".into()
                        } else {
                            all.join(", ")
                        }
                    )))
                }
            }
        }
        (None, None) => match models.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Failure::Usage(format!("{} has no model", req.name))),
            many => Err(Failure::Usage(format!(
                "{} has several models ({}); choose one with --model",
                req.name,
                many.join(", ")
            ))),
        },
    }
}

/// Runs one patient (or every subject of an event file) and formats the result.
pub fn execute(req: &Request) -> Result<Output, Failure> {
    let t = simulate(req)?;
    Ok(Output {
        csv: t.csv(),
        summary: t.summary(),
        warnings: t.warnings.clone(),
    })
}

impl Trajectories {
    /// Every row of every subject as numbers, in the order of [`Trajectories::headers`] (without
    /// the `ID` column).
    pub fn rows(&self) -> Vec<Vec<f64>> {
        let mut rows = Vec::new();
        for s in &self.subjects {
            let sim = &s.sim;
            for (k, time) in sim.times.iter().enumerate() {
                let mut row = Vec::with_capacity(1 + sim.n_states + sim.n_observables);
                row.push(*time);
                row.extend((0..self.shown_states).map(|i| sim.state(k, i)));
                row.extend((0..self.observables.len()).map(|j| sim.observable(k, j)));
                rows.push(row);
            }
        }
        rows
    }

    /// The CSV table: a header line, then one line per subject and grid time (a dataset run: per
    /// data row); numbers read back to the same `f64`.
    pub fn csv(&self) -> String {
        let mut csv = header_line(&self.headers);
        for s in &self.subjects {
            push_lines(
                &mut csv,
                s,
                self.shown_states,
                &self.observables,
                self.sampled,
            );
        }
        csv
    }

    /// The summary table of every subject's observables.
    pub fn summary(&self) -> String {
        let mut summary = String::new();
        for s in &self.subjects {
            push_summary(&mut summary, s, &self.observables);
        }
        summary
    }
}

/// The table's header line.
fn header_line(headers: &[String]) -> String {
    let mut line = headers
        .iter()
        .map(|h| csv_cell(h))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// Appends the table lines of one subject: one per data row for a dataset run, else one per
/// grid time.
fn push_lines(
    csv: &mut String,
    s: &Subject,
    shown_states: usize,
    observables: &[(String, String)],
    sampled: bool,
) {
    if let (Some(records), Some(id)) = (&s.records, &s.id) {
        let id = csv_cell(id);
        for r in records {
            csv.push_str(&id);
            csv.push(',');
            push_num(csv, r.row.time);
            let _ = write!(csv, ",{},{},", r.row.evid, u8::from(r.row.mdv));
            if let Some(o) = r.row.observable {
                csv.push_str(&csv_cell(&observables[o].0));
            }
            csv.push(',');
            if let Some(dv) = r.row.dv {
                push_num(csv, dv);
            }
            if sampled {
                match r.sampled {
                    Some(v) => v.iter().for_each(|&x| {
                        csv.push(',');
                        push_num(csv, x);
                    }),
                    None => csv.push_str(",,,"),
                }
            }
            for &v in r.states.iter().chain(&r.observables) {
                csv.push(',');
                push_num(csv, v);
            }
            csv.push('\n');
        }
        return;
    }
    let sim = &s.sim;
    for (k, time) in sim.times.iter().enumerate() {
        if let Some(id) = &s.id {
            csv.push_str(&csv_cell(id));
            csv.push(',');
        }
        push_num(csv, *time);
        for i in 0..shown_states {
            csv.push(',');
            push_num(csv, sim.state(k, i));
        }
        for j in 0..observables.len() {
            csv.push(',');
            push_num(csv, sim.observable(k, j));
        }
        if let Some(band) = &s.band {
            let n = 2 * observables.len();
            for &v in band.get(k * n..(k + 1) * n).unwrap_or(&[]) {
                csv.push(',');
                push_num(csv, v);
            }
        }
        csv.push('\n');
    }
}

/// Appends the summary of one subject's observables (headed by its `ID`, if it has one).
fn push_summary(summary: &mut String, s: &Subject, observables: &[(String, String)]) {
    let sim = &s.sim;
    let sums = summarise(observables, &sim.times, |k, j| sim.observable(k, j));
    if let Some(id) = &s.id {
        let _ = writeln!(summary, "subject {id}");
    }
    summary.push_str(&summary_text(&sums));
}

/// A request prepared: the model compiled for it, the patient, and the table's columns.
pub(crate) struct Setup {
    pub(crate) c: Compilation,
    pub(crate) program: hir::Program,
    pub(crate) model: usize,
    pub(crate) prepared: PreparedModel,
    /// The patient: typical values, `--set`, the arm's overrides.
    pub(crate) patient: Patient,
    /// (trial, arm): the `--dose` regimen's synthetic trial, or the arm named by `--arm`.
    arm: Option<(usize, usize)>,
    /// Whether the run is a trial arm's, in the trial's own module.
    from_trial: bool,
    until: Option<f64>,
    every: Option<f64>,
    /// `time [h]`, every shown state, every observable.
    headers: Vec<String>,
    pub(crate) observables: Vec<(String, String)>,
    shown_states: usize,
    pub(crate) warnings: String,
}

/// Compiles the model for `req`, prepares it and sets the patient's inputs.
pub(crate) fn setup(req: &Request) -> Result<Setup, Failure> {
    // The model, found once without command-line additions.
    let first = crate::driver::compile(&req.name, &req.text);
    if first.has_errors() {
        let diags = first.diagnostics.clone();
        return Err(Failure::Diagnostics(Box::new(first), diags));
    }
    let model_name = choose_model(req, &first)?;
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
    let mut warnings = crate::diagnostic::render(&c.sources, &c.diagnostics, false);
    let Some(model) = c.program.models.iter().position(|m| m.name == model_name) else {
        return Err(Failure::Usage(format!("no model `{model_name}`")));
    };
    // (trial, arm): the `--dose` regimen's synthetic trial, or the trial arm named by `--arm`.
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
    // Params set on the command line replace their definitions before the model is compiled;
    // the other settings are inputs, set below.
    let mut input_sets = Vec::new();
    for s in &req.sets {
        match apply_param_set(&mut c, model, s) {
            Ok(true) => {}
            Ok(false) => input_sets.push(s),
            Err(d) => return Err(Failure::Diagnostics(Box::new(c), vec![d])),
        }
    }
    // Covariates interpolated linearly between dataset rows.
    let mut interpolate = Vec::new();
    for name in &req.interpolate {
        if req.events.is_none() {
            return Err(Failure::Usage(
                "--interpolate applies to a dataset run (--events)".into(),
            ));
        }
        let m = &c.program.models[model];
        match m.covariates.iter().position(|cv| cv.name == *name) {
            Some(i) if m.covariates[i].unit.is_some() => interpolate.push(i),
            Some(_) => {
                return Err(Failure::Usage(format!(
                    "--interpolate {name}: a categorical covariate changes in steps"
                )));
            }
            None => {
                return Err(Failure::Usage(format!(
                    "--interpolate {name}: model `{}` has no covariate `{name}`",
                    m.name
                )));
            }
        }
    }
    // Params estimated as fixed effects: each must be defined by a constant.
    let mut estimate = Vec::new();
    for name in &req.estimate {
        let m = &c.program.models[model];
        match m.params.iter().position(|p| p.name == *name) {
            Some(i) if check::consts::eval(&m.params[i].value).is_some() => estimate.push(i),
            Some(_) => {
                return Err(Failure::Usage(format!(
                    "--estimate {name}: param `{name}` is computed from other values; estimate the constants it is computed from"
                )));
            }
            None => {
                let names: Vec<&str> = m.params.iter().map(|p| p.name.as_str()).collect();
                return Err(Failure::Usage(format!(
                    "--estimate {name}: model `{}` has no param `{name}`{}",
                    m.name,
                    did_you_mean(name, names.iter().copied())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default()
                )));
            }
        }
    }
    if (req.sensitivities || !estimate.is_empty()) && req.arm.is_some() && req.doses.is_empty() {
        return Err(Failure::Usage(
            "sensitivities and estimated params need the model's own regimen (--dose or --events), not a trial arm".into(),
        ));
    }
    let program = c.program.clone();
    // A trial arm runs in the trial's own module (every arm, every endpoint aggregate), so the
    // patient is solved exactly as `twin trial` solves it.
    let from_trial = req.doses.is_empty() && arm.is_some();
    let prepared: PreparedModel = match arm {
        Some((t, _)) if from_trial => {
            crate::trial::runner::prepare_model(&program, &program.trials[t])
        }
        Some((t, a)) => crate::driver::prepare(
            &program,
            model,
            crate::driver::Parts {
                arms: &[&program.trials[t].arms[a]],
                ..Default::default()
            },
            lower::Options {
                track_elimination: req.eliminated,
                interpolate: interpolate.clone(),
                estimate: estimate.clone(),
                sensitivities: req.sensitivities,
                occasions: req.occasions,
            },
        ),
        None => crate::driver::prepare(
            &program,
            model,
            crate::driver::Parts::default(),
            lower::Options {
                track_elimination: req.eliminated,
                interpolate: interpolate.clone(),
                estimate: estimate.clone(),
                sensitivities: req.sensitivities,
                occasions: req.occasions,
            },
        ),
    }
    .map_err(Failure::Prepare)?;
    if from_trial && req.eliminated {
        let _ = writeln!(
            warnings,
            "note: --eliminated is not available with --arm: the arm runs the trial's own model, which does not track it"
        );
    }
    if let (true, Some((t, a))) = (from_trial, arm) {
        let trial = &program.trials[t];
        if trial.dose_searches.iter().any(|d| d.arm == a) {
            let _ = writeln!(
                warnings,
                "note: trial `{}` searches the doses of arm `{}` (`find dose`); twin run gives them as written, twin trial at the dose found",
                trial.name, trial.arms[a].name
            );
        }
    }
    let exact = match req.options.method {
        crate::solve::Method::Exact => true,
        crate::solve::Method::Auto => crate::solve::is_linear(prepared.compiled.module()),
        _ => false,
    };
    if exact && req.tolerances_given {
        let _ = writeln!(
            warnings,
            "note: `{model_name}` is linear and solved exactly (matrix exponential), to rounding; --rtol and --atol do not apply (--method bdf integrates it instead)"
        );
    }
    let m = &program.models[model];
    let mut inputs = lower::typical_inputs(m, &prepared.lowered.inputs);
    // The patient first (`--set`), then the arm's overrides applied to that patient, as in a trial.
    for s in input_sets {
        if let Err(d) = apply_set(&mut c, model, &prepared.lowered.inputs, &mut inputs, s) {
            let diags = vec![d];
            return Err(Failure::Diagnostics(Box::new(c), diags));
        }
    }
    if let Some((_, a)) = arm {
        let k = if from_trial { a } else { 0 };
        crate::trial::population::apply_overrides(
            &prepared.evaluator,
            k,
            &prepared.lowered.inputs,
            &mut inputs,
        )
        .map_err(|e| Failure::Simulate {
            subject: None,
            error: SimError::Patient(e),
        })?;
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
    let headers = headers(&c, m, &prepared.lowered);
    let observables: Vec<(String, String)> = m
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
    let patient = Patient::new(&prepared, inputs).map_err(|error| Failure::Simulate {
        subject: None,
        error,
    })?;
    let shown_states = m.states.len() + usize::from(prepared.lowered.eliminated.is_some());
    Ok(Setup {
        c,
        program,
        model,
        prepared,
        patient,
        arm,
        from_trial,
        until,
        every,
        headers,
        observables,
        shown_states,
        warnings,
    })
}

/// The headers of a dataset run's table: `ID, TIME [h], EVID, MDV, DVID, DV`, then every state
/// and observable.
fn dataset_headers(headers: &[String], sampled: bool) -> Vec<String> {
    let mut h = vec![
        "ID".to_string(),
        "TIME [h]".into(),
        "EVID".into(),
        "MDV".into(),
        "DVID".into(),
        "DV".into(),
    ];
    if sampled {
        h.extend(["PRED".to_string(), "IPRED".into(), "SIM".into()]);
    }
    h.extend(headers.iter().skip(1).cloned());
    h
}

/// Runs one patient (or every subject of an event file, `req.events`): typed trajectories, all
/// held in memory (at most [`grid::MAX_RUN_VALUES`] values; [`stream`] writes a dataset run of
/// any size instead).
pub fn simulate(req: &Request) -> Result<Trajectories, Failure> {
    let setup = setup(req)?;
    if let Some(ev) = &req.events {
        let width = (setup.headers.len() + 6) as f64;
        let run = DatasetRun::new(&setup, &setup.patient, &req.options, req.sample);
        let (mut subjects, mut values) = (Vec::new(), 0.0);
        run.for_each(ev.as_bytes(), |s| {
            // Everything is held in memory: refuse more than MAX_RUN_VALUES values.
            values += s.sim.times.len() as f64 * width;
            if values > grid::MAX_RUN_VALUES as f64 {
                return Err(Failure::Usage(format!(
                    "events: the run would hold more than {} values in memory; \
                     `twin run --events` (twin::cmd::run::stream) writes them one subject at a time",
                    grid::MAX_RUN_VALUES
                )));
            }
            subjects.push(s);
            Ok(())
        })?;
        return Ok(Trajectories {
            headers: dataset_headers(&setup.headers, req.sample.is_some()),
            observables: setup.observables,
            shown_states: setup.shown_states,
            subjects,
            warnings: setup.warnings,
            sampled: req.sample.is_some(),
        });
    }
    let Setup {
        mut c,
        program,
        prepared,
        patient,
        arm,
        from_trial,
        until,
        every,
        headers,
        observables,
        shown_states,
        warnings,
        ..
    } = setup;
    let (arm_ref, dose_slots): (Option<&hir::Arm>, &[lower::DoseSlots]) = match arm {
        Some((t, a)) => (
            Some(&program.trials[t].arms[a]),
            prepared
                .lowered
                .dose_params
                .get(if from_trial { a } else { 0 })
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        ),
        None => (None, &[]),
    };
    let trial = arm.map(|(t, _)| &program.trials[t]);
    let default_grid = || -> Result<Vec<f64>, grid::GridTooLarge> {
        match (trial.and_then(|t| t.sampling.as_ref()), until, every) {
            (_, Some(u), Some(e)) => grid(u, e),
            (Some(hir::Sampling::Every { step, until: tu }), u, e) => {
                grid(u.unwrap_or(*tu), e.unwrap_or(*step))
            }
            (Some(hir::Sampling::At(ts)), None, None) => Ok(grid::from_zero(ts)),
            // A trial arm without a schedule: the trial's own default grid.
            (None, None, None) if from_trial => match trial {
                Some(t) => grid::trial_sampling(t, &prepared.lowered.aggregates),
                None => Ok(Vec::new()),
            },
            (_, u, e) => {
                let u = u.unwrap_or(24.0);
                grid(u, e.unwrap_or((u / 48.0).min(0.5)))
            }
        }
    };
    // A grid too large, refused before it is allocated: reported at the flags that asked for it,
    // else at the trial whose schedule did.
    let too_large = |c: &mut Compilation, error: String| -> Failure {
        let flags = [("--until", &req.until), ("--every", &req.every)]
            .iter()
            .filter_map(|(f, v)| v.as_ref().map(|v| format!("{f} {v}")))
            .collect::<Vec<_>>()
            .join(" ");
        let span = match (flags.is_empty(), trial) {
            (true, Some(t)) => t.span,
            _ => {
                let file = c.sources.add("<command line>", flags.clone());
                Span::new(file, 0, flags.len())
            }
        };
        let d = Diagnostic::error(codes::E0049, error, span)
            .with_label_message("this schedule")
            .with_help("coarsen `--every` (a larger step) or shorten `--until`");
        Failure::Diagnostics(Box::new(c.clone_shallow()), vec![d])
    };
    let g = default_grid().map_err(|e| too_large(&mut c, e.to_string()))?;
    let end = g.last().copied().unwrap_or(0.0);
    let regimen = match arm_ref {
        Some(a) => sim::arm_regimen(a, dose_slots, &patient.params, end),
        None => Regimen::new(),
    };
    // Everything a run returns is held in memory: refuse more than MAX_RUN_VALUES values.
    let values = g.len() as f64 * (headers.len() + 1) as f64;
    if values > grid::MAX_RUN_VALUES as f64 {
        return Err(too_large(
            &mut c,
            format!(
                "the run would return {values:.3e} values (subjects × grid points × columns); at most {} are allowed",
                grid::MAX_RUN_VALUES
            ),
        ));
    }
    // A trial arm is solved on the trial's dense grid (the sampling times refined, with every
    // endpoint window edge), so that every reported value is the trial's to the last bit.
    let dense = if from_trial {
        crate::trial::endpoints::dense_grid(&g, &prepared.lowered.aggregates)
            .map_err(|e| too_large(&mut c, e.to_string()))?
    } else {
        g.clone()
    };
    // A protocol arm runs its protocol, as the trial runs it for the patient of `req.measure`.
    let protocol = arm_ref
        .and_then(|a| a.protocol.as_ref().map(|p| (a, p)))
        .filter(|_| from_trial);
    let simulated = match (protocol, arm) {
        (Some((a, p)), Some((ti, ai))) => {
            let m = &program.models[prepared.model];
            let mipd = crate::trial::mipd::Mipd::new(&program, &program.trials[ti], req.options)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let plan = crate::trial::protocol::plan(a, &regimen, *dense.last().unwrap_or(&0.0));
            let mut control = crate::trial::protocol::Protocol::new(
                p,
                &prepared.evaluator,
                &m.observables,
                ai,
                &patient.inputs,
                &patient.params,
                plan,
                req.measure,
                *dense.last().unwrap_or(&0.0),
                mipd.as_ref().map(|mp| crate::trial::protocol::MipdRun {
                    mipd: mp,
                    model: &prepared,
                    grid: &dense,
                    options: &req.options,
                    goal_base: prepared.evaluator.n_aggregates(),
                }),
            );
            for other in crate::trial::protocol::Protocol::switch_targets(p) {
                if let Some(o) = program.trials[ti].arms.get(other) {
                    let slots = prepared
                        .lowered
                        .dose_params
                        .get(other)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let end = *dense.last().unwrap_or(&0.0);
                    let r = sim::arm_regimen(o, slots, &patient.params, end);
                    control = control.with_switch(other, crate::trial::protocol::plan(o, &r, end));
                }
            }
            let start = control.regimen();
            sim::simulate_controlled(
                &prepared,
                &patient,
                &[],
                &start,
                &dense,
                &req.options,
                &mut control,
            )
            .map(|(s, _)| s)
            .and_then(|s| match control.error.take() {
                Some(e) => Err(crate::sim::SimError::Patient(crate::trial::PopError::new(
                    format!("evaluating the protocol's rules: {e}"),
                ))),
                None => Ok(s),
            })
        }
        _ => sim::simulate(&prepared, &patient, &regimen, &dense, &req.options),
    };
    let sim = simulated
        .map(|s| {
            if from_trial {
                grid::select_rows(&s, &grid::positions(&g, &dense))
            } else {
                s
            }
        })
        .map_err(|error| Failure::Simulate {
            subject: None,
            error,
        })?;
    let mut headers = headers;
    let mut warnings = warnings;
    let band = match &req.band {
        Some(b) => {
            let slots = &prepared.lowered.inputs;
            let m = &program.models[prepared.model];
            let mut eta_slots = Vec::new();
            for name in &b.effects {
                let slot = m
                    .effects
                    .iter()
                    .position(|e| !e.per_occasion && m.params[e.param].name == *name)
                    .and_then(|k| slots.iter().position(|s| *s == InputSlot::Eta(k)));
                match slot {
                    Some(s) => eta_slots.push(s),
                    None => {
                        return Err(Failure::Usage(format!(
                            "--twin: the fit has a random effect on `{name}`, which model `{}` does not have",
                            m.name
                        )));
                    }
                }
            }
            let draw_one = |inputs: Vec<f64>| -> Option<crate::solve::Simulation> {
                let p = Patient::new(&prepared, inputs).ok()?;
                let regimen = match arm_ref {
                    Some(a) => sim::arm_regimen(a, dose_slots, &p.params, end),
                    None => Regimen::new(),
                };
                sim::simulate(&prepared, &p, &regimen, &dense, &req.options).ok()
            };
            let (values, failed) = band_values(
                b,
                &eta_slots,
                &patient.inputs,
                sim.times.len(),
                sim.n_observables,
                |inputs| {
                    draw_one(inputs).map(|s| {
                        if from_trial {
                            grid::select_rows(&s, &grid::positions(&g, &dense))
                        } else {
                            s
                        }
                    })
                },
            );
            if failed > 0 {
                let _ = writeln!(
                    warnings,
                    "warning: {failed} of {} posterior draws could not be simulated and are left out of the band",
                    b.draws
                );
            }
            for (name, unit) in &observables {
                for q in ["2.5%", "97.5%"] {
                    headers.push(if unit.is_empty() || unit == "1" {
                        format!("{name} {q}")
                    } else {
                        format!("{name} {q} [{unit}]")
                    });
                }
            }
            Some(values)
        }
        None => None,
    };
    Ok(Trajectories {
        headers,
        observables,
        shown_states,
        subjects: vec![Subject {
            id: None,
            patient,
            sim,
            records: None,
            band,
        }],
        warnings,
        sampled: false,
    })
}

/// What [`stream`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streamed {
    /// Subjects simulated.
    pub subjects: usize,
    /// Table lines after the header (one per data row).
    pub rows: usize,
}

/// Runs every subject of the dataset read from `events` (NONMEM-style records; `req.events` is
/// not read) and writes the table to `table` one subject at a time: the same bytes that
/// [`Trajectories::csv`] gives for the same records through [`simulate`] (the two share the
/// per-subject code). The checker's warnings go to `log` first, then each subject's summary once
/// its rows are written.
///
/// Memory holds one subject's rows and values, plus the set of `ID`s seen, whatever the length
/// of the file, so the [`grid::MAX_RUN_VALUES`] limit of [`simulate`] does not apply (one
/// subject may have at most [`crate::events::MAX_SUBJECT_ROWS`] rows). The first problem — a
/// malformed row, a subject that cannot be simulated, a failed write — stops the run; the lines
/// of the subjects before it have been written by then. [`stream_to_file`] makes the file
/// all-or-nothing.
pub fn stream(
    req: &Request,
    events: impl std::io::Read,
    table: &mut dyn std::io::Write,
    log: &mut dyn std::io::Write,
) -> Result<Streamed, Failure> {
    let setup = setup(req)?;
    // The log is stderr: a failure to write it does not stop the run.
    let _ = log.write_all(setup.warnings.as_bytes());
    let run = DatasetRun::new(&setup, &setup.patient, &req.options, req.sample);
    let mut done = Streamed::default();
    // The header line goes out with the first subject (or at the end, for a dataset without
    // rows), so that nothing is written when the file's header or first row is malformed.
    let mut lines = header_line(&dataset_headers(&setup.headers, req.sample.is_some()));
    let mut summary = String::new();
    run.for_each(events, |s| {
        if done.subjects > 0 {
            lines.clear();
        }
        push_lines(
            &mut lines,
            &s,
            setup.shown_states,
            &setup.observables,
            req.sample.is_some(),
        );
        table.write_all(lines.as_bytes()).map_err(Failure::Write)?;
        summary.clear();
        push_summary(&mut summary, &s, &setup.observables);
        let _ = log.write_all(summary.as_bytes());
        done.subjects += 1;
        done.rows += s.records.as_ref().map_or(0, Vec::len);
        Ok(())
    })?;
    if done.subjects == 0 {
        table.write_all(lines.as_bytes()).map_err(Failure::Write)?;
    }
    Ok(done)
}

/// [`stream`] into the file `path`, replacing it only when the whole table is written: the
/// lines go to a temporary file beside it ([`crate::files::AtomicFile`]), renamed over `path` at
/// the end. On any failure `path` is left as it was.
pub fn stream_to_file(
    req: &Request,
    events: impl std::io::Read,
    path: &std::path::Path,
    log: &mut dyn std::io::Write,
) -> Result<Streamed, Failure> {
    let file = crate::files::AtomicFile::create(path).map_err(Failure::Write)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let done = stream(req, events, &mut out, log)?;
    let file = out
        .into_inner()
        .map_err(|e| Failure::Write(e.into_error()))?;
    file.commit().map_err(Failure::Write)?;
    Ok(done)
}
