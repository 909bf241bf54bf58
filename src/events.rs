//! NONMEM-style data records → one [`Subject`] per `ID` for one model: doses, observations with
//! their `DV`, covariate values over time and resets.
//!
//! The file is read by [`crate::dataset`] (format, header and cell rules); this module gives the
//! records their meaning for the model described by a [`Schema`]. Every problem names its row
//! (1-based, header = row 1), column and value.
//!
//! Conventions (the guide's "Datasets" section states them for users):
//! - **Units.** `TIME` is in hours unless its header gives a unit (`TIME [d]`); `II` is in
//!   `TIME`'s unit unless it has its own. `AMT` is in the target state's unit unless the header
//!   gives one (`AMT [mg]`); `RATE` in `AMT`'s unit per `TIME`'s unit unless it has its own.
//!   `DV` is in its observable's unit unless the header gives one. A covariate column is in the
//!   covariate's declared unit unless the header gives one (`weight [lb]`). Conversions are
//!   exact; a unit that does not fit is an error naming the column.
//! - **Events.** `EVID` 0 is an observation, 1 a dose, 2 another event (a covariate change), 3 a
//!   reset (the state returns to the model's initial state, infusions stop), 4 a reset and a
//!   dose. `EVID` defaults to 1 when `AMT` > 0, else 0. `MDV` defaults to 0 for an observation
//!   with a `DV` and 1 otherwise.
//! - **Doses.** `CMT` is a compartment name or its 1-based number in declaration order (it may be
//!   left out when the model has one state). `RATE` 0 is a bolus, a positive `RATE` a zero-order
//!   infusion; modelled rates (`RATE` −1, −2) are refused. `ADDL` more doses every `II`. `SS` 1:
//!   the dose is given at steady state (the state before it is the periodic steady state of the
//!   dose every `II`, replacing the state); `SS` 2: the steady state is added to the state.
//! - **Observations.** A `DV` belongs to the observable named (or numbered, from 1) by `DVID`; without
//!   a `DVID` column, to the model's only observable, else to the observable that `CMT` names.
//!   An observation at the time of a dose that comes *before* the dose row in the file is the
//!   pre-dose value (a trough); one that comes after it is the post-dose value.
//! - **Time.** Times within one `ID` must not decrease (NONMEM allows it after a reset; twin
//!   does not).
//! - **Subjects.** The rows of one `ID` are consecutive; subjects come in file order. An `ID`
//!   that appears again after other `ID`s is an error naming its row: NONMEM starts a new
//!   individual at every change of `ID`, so it would take those rows as another individual
//!   with the same `ID`, and earlier versions of twin merged them with the first block; twin
//!   refuses rather than guess. This is what lets [`Subjects`] read a file of any length one
//!   subject at a time, holding only the set of `ID`s seen.
//! - **Covariates.** A column named like a model covariate or genotype (case-insensitively)
//!   feeds it. Its first value applies from the start; each later value applies from its row's
//!   time on (last observation carried forward); a missing cell keeps the current value.

use std::collections::HashMap;

use crate::dataset::{self, DatasetError, Record};
use crate::solve::dosing::{Dose, Regimen};

/// A malformed record (the dataset reader's error).
pub use crate::dataset::DatasetError as EventError;

/// What a dataset can say about a quantity with a unit: the column's unit is converted to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// `TIME` and `II`: to hours.
    Time,
    /// `AMT`: to the unit of state `i`.
    Amount(usize),
    /// `RATE`: to the unit of state `i` per hour.
    Rate(usize),
    /// `DV`: to the unit of observable `i`.
    Observable(usize),
    /// A covariate column: to the unit of input column `i` of the [`Schema`].
    Input(usize),
}

/// A model input a dataset column can feed.
#[derive(Clone, Debug, PartialEq)]
pub struct InputColumn {
    /// The covariate's or genotype's name.
    pub name: String,
    /// Its values.
    pub kind: InputKind,
}

/// How a column's cells become input values.
#[derive(Clone, Debug, PartialEq)]
pub enum InputKind {
    /// A number with a unit.
    Number,
    /// One of these texts (a categorical covariate's levels, a gene's diplotypes); the value is
    /// the index.
    Levels(Vec<String>),
}

/// What the records are read against: the model's states, observables and inputs, and unit
/// conversion.
pub struct Schema<'a> {
    /// State names in declaration order (`CMT`).
    pub states: Vec<String>,
    /// Observable names in declaration order (`DVID`).
    pub observables: Vec<String>,
    /// Inputs that columns may feed.
    pub inputs: Vec<InputColumn>,
    /// The factor that converts a value in the unit written in a header into the unit the
    /// quantity has in the model, or why it cannot.
    pub convert: &'a dyn Fn(&str, Quantity) -> Result<f64, String>,
}

/// One data row of a subject, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1-based line number in the file.
    pub row: usize,
    /// Time in hours.
    pub time: f64,
    /// `EVID`.
    pub evid: i64,
    /// `MDV` (true: no observation on this row).
    pub mdv: bool,
    /// `DV` in its observable's unit, when the row has one.
    pub dv: Option<f64>,
    /// The observable `DV` belongs to, when the row has a `DV`.
    pub observable: Option<usize>,
    /// An observation written before a dose row at the same time: the pre-dose value.
    pub before_dose: bool,
    /// `OCC`, when the row has one (the occasion, for per-occasion random effects).
    pub occ: Option<i64>,
}

/// One input value from a row: from `time` on, input column `input` has `value`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputValue {
    /// Time in hours.
    pub time: f64,
    /// Index into [`Schema::inputs`].
    pub input: usize,
    /// The value, in the input's model unit (or the level index).
    pub value: f64,
    /// 1-based line number in the file.
    pub row: usize,
}

/// One subject's records.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The `ID` as written.
    pub id: String,
    /// Its doses.
    pub regimen: Regimen,
    /// Every row, in file order.
    pub rows: Vec<Row>,
    /// Input values given by rows, in file order (times never decrease).
    pub inputs: Vec<InputValue>,
    /// Times of resets (`EVID` 3 and 4), in file order.
    pub resets: Vec<f64>,
}

impl Subject {
    /// Times of observations (`EVID` 0), sorted, without repeats.
    pub fn observation_times(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r.evid == 0)
            .map(|r| r.time)
            .collect();
        t.dedup();
        t
    }
}

/// Parses event records for a model with `states` and `observables` (names in declaration
/// order), no inputs, and units as in the model (header units are refused).
pub fn parse(
    text: &str,
    states: &[String],
    observables: &[String],
) -> Result<Vec<Subject>, EventError> {
    let convert = |_: &str, _: Quantity| Err("units are not read here".to_string());
    let schema = Schema {
        states: states.to_vec(),
        observables: observables.to_vec(),
        inputs: Vec::new(),
        convert: &convert,
    };
    subjects(text, &schema)
}

/// Conversion factors of the standard columns, computed once.
struct Factors {
    time: f64,
    ii: f64,
    /// Per target state, when first needed.
    amount: Vec<Option<Result<f64, String>>>,
    rate: Vec<Option<Result<f64, String>>>,
    dv: Vec<Option<Result<f64, String>>>,
}

/// The most rows one subject may have: its rows and values are held while it is simulated.
pub const MAX_SUBJECT_ROWS: usize = crate::sim::grid::MAX_POINTS;

/// Reads `text` into subjects for the model of `schema` (see the module docs): [`Subjects`]
/// collected.
pub fn subjects(text: &str, schema: &Schema) -> Result<Vec<Subject>, EventError> {
    Subjects::new(text.as_bytes(), schema)?.collect()
}

/// The subjects of a dataset read from a byte stream, one at a time: an [`Iterator`] that
/// reads the rows of one `ID` (and the first row of the next), gives them their meaning and
/// yields the [`Subject`]. It holds one subject's rows, the conversion factors and the `ID`s
/// already seen; it stops after the first error.
pub struct Subjects<'s, R: std::io::Read> {
    reader: dataset::Reader<R>,
    schema: &'s Schema<'s>,
    factors: Factors,
    /// Input columns: (column index, input index, factor).
    input_cols: Vec<(usize, usize, f64)>,
    /// The first row of the next subject, read ahead.
    ahead: Option<Record>,
    /// Every `ID` whose rows have ended, with the line of its last row.
    ended: HashMap<String, usize>,
    failed: bool,
}

impl<'s, R: std::io::Read> Subjects<'s, R> {
    /// Reads the header of `input` and checks its columns against the model of `schema`
    /// (units, covariates); the subjects follow through the iterator.
    pub fn new(input: R, schema: &'s Schema<'s>) -> Result<Subjects<'s, R>, EventError> {
        let reader = dataset::Reader::new(input)?;
        let data = reader.header();
        let header_error = |k: usize, message: String| DatasetError {
            row: 1,
            column: data.names[k].clone(),
            value: data.units[k].clone().unwrap_or_default(),
            message,
        };
        let factor = |name: &str, q: Quantity| -> Result<f64, DatasetError> {
            match data.unit(name) {
                None => Ok(1.0),
                Some((k, u)) => (schema.convert)(u, q).map_err(|m| header_error(k, m)),
            }
        };
        let time = factor("TIME", Quantity::Time)?;
        let ii = if data.unit("II").is_some() {
            factor("II", Quantity::Time)?
        } else {
            time
        };
        for name in ["ID", "EVID", "MDV", "CMT", "DVID", "SS", "ADDL", "OCC"] {
            if let Some((k, _)) = data.unit(name) {
                return Err(header_error(k, format!("`{name}` has no unit")));
            }
        }
        let n = schema.states.len();
        let factors = Factors {
            time,
            ii,
            amount: vec![None; n],
            rate: vec![None; n],
            dv: vec![None; schema.observables.len()],
        };
        let mut input_cols: Vec<(usize, usize, f64)> = Vec::new();
        for (i, input) in schema.inputs.iter().enumerate() {
            let want = input.name.to_uppercase();
            if let Some(k) = data.position(&want) {
                let fac = match (&input.kind, data.units[k].as_deref()) {
                    (InputKind::Number, Some(u)) => {
                        (schema.convert)(u, Quantity::Input(i)).map_err(|m| header_error(k, m))?
                    }
                    (InputKind::Levels(_), Some(_)) => {
                        return Err(header_error(
                            k,
                            format!("`{}` is categorical: its column has no unit", input.name),
                        ));
                    }
                    _ => 1.0,
                };
                input_cols.push((k, i, fac));
            }
        }
        Ok(Subjects {
            reader,
            schema,
            factors,
            input_cols,
            ahead: None,
            ended: HashMap::new(),
            failed: false,
        })
    }

    /// The dataset's header.
    pub fn header(&self) -> &dataset::Header {
        self.reader.header()
    }

    /// The next subject: its first row (read ahead, or the next one), then every following
    /// row with the same `ID`.
    fn subject(&mut self) -> Option<Result<Subject, EventError>> {
        let mut record = match self.ahead.take() {
            Some(r) => r,
            None => match self.reader.next()? {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            },
        };
        if let Some(&last) = self.ended.get(&record.id) {
            return Some(Err(bad(
                &record,
                "ID",
                record.id.clone(),
                &format!(
                    "ID {} appears again after other IDs (its rows ended at row {last}); \
                     each ID's rows must be consecutive: sort the file by ID, or give these \
                     rows another ID if they are another individual (as NONMEM would take them)",
                    record.id
                ),
            )));
        }
        let mut subject = Subject {
            id: record.id.clone(),
            regimen: Regimen::new(),
            rows: Vec::new(),
            inputs: Vec::new(),
            resets: Vec::new(),
        };
        loop {
            if subject.rows.len() == MAX_SUBJECT_ROWS {
                return Some(Err(bad(
                    &record,
                    "ID",
                    record.id.clone(),
                    &format!(
                        "ID {} has more than {MAX_SUBJECT_ROWS} rows; one subject's rows are \
                         held in memory while it is simulated",
                        record.id
                    ),
                )));
            }
            if let Err(e) = self.add(&mut subject, &record) {
                return Some(Err(e));
            }
            match self.reader.next() {
                None => break,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(r)) if r.id == subject.id => record = r,
                Some(Ok(r)) => {
                    self.ahead = Some(r);
                    break;
                }
            }
        }
        self.ended.insert(subject.id.clone(), record.row);
        // An observation before a dose row at the same time is the pre-dose value.
        let mut dose_at: Option<f64> = None;
        for row in subject.rows.iter_mut().rev() {
            if dose_at.is_some_and(|t| t != row.time) {
                dose_at = None;
            }
            if matches!(row.evid, 1 | 4) {
                dose_at = Some(row.time);
            } else if row.evid == 0 && dose_at == Some(row.time) {
                row.before_dose = true;
            }
        }
        Some(Ok(subject))
    }

    /// Gives record `r` its meaning and adds it to `subject`.
    fn add(&mut self, subject: &mut Subject, r: &Record) -> Result<(), EventError> {
        let schema = self.schema;
        let data = self.reader.header();
        let f = &mut self.factors;
        let t = r.time * f.time;
        if let Some(prev) = subject.rows.last()
            && t < prev.time
        {
            return Err(bad(
                r,
                "TIME",
                r.time.to_string(),
                &format!(
                    "time goes back within ID {} (row {} is at a later time); sort each ID's rows by TIME",
                    r.id, prev.row
                ),
            ));
        }
        for &(col, input, fac) in &self.input_cols {
            let cell = &r.cells[col];
            if dataset::missing(cell) {
                continue;
            }
            let value = match &schema.inputs[input].kind {
                InputKind::Number => match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => v * fac,
                    _ => {
                        return Err(bad(r, &data.names[col], cell.clone(), "not a number"));
                    }
                },
                InputKind::Levels(levels) => match levels.iter().position(|l| l == cell) {
                    Some(l) => l as f64,
                    None => {
                        return Err(bad(
                            r,
                            &data.names[col],
                            cell.clone(),
                            &format!("not one of {}", levels.join(", ")),
                        ));
                    }
                },
            };
            subject.inputs.push(InputValue {
                time: t,
                input,
                value,
                row: r.row,
            });
        }
        let mdv = match r.mdv {
            None => r.evid != 0 || r.dv.is_none(),
            Some(0) => false,
            Some(1) => true,
            Some(m) => return Err(bad(r, "MDV", m.to_string(), "MDV is 0 or 1")),
        };
        if !mdv && r.evid != 0 {
            return Err(bad(
                r,
                "MDV",
                "0".into(),
                "only an observation (EVID 0) has MDV 0",
            ));
        }
        let (dv, observable) = if !mdv {
            let Some(dv) = r.dv else {
                return Err(bad(
                    r,
                    "DV",
                    String::new(),
                    "an observation with MDV 0 needs a DV",
                ));
            };
            let o = observable_of(r, schema)?;
            (Some(dv * dv_factor(f, data, schema, r, o)?), Some(o))
        } else {
            (None, None)
        };
        match r.evid {
            0 | 2 => {}
            1 => subject.regimen.doses.push(dose(r, schema, f, data)?),
            3 => subject.resets.push(t),
            4 => {
                subject.resets.push(t);
                subject.regimen.doses.push(dose(r, schema, f, data)?);
            }
            _ => {
                return Err(bad(
                    r,
                    "EVID",
                    r.evid.to_string(),
                    "EVID is 0 (observation), 1 (dose), 2 (other event), 3 (reset) or 4 (reset and dose)",
                ));
            }
        }
        subject.rows.push(Row {
            row: r.row,
            time: t,
            evid: r.evid,
            mdv,
            dv,
            observable,
            before_dose: false,
            occ: r.occ,
        });
        Ok(())
    }
}

impl<R: std::io::Read> Iterator for Subjects<'_, R> {
    type Item = Result<Subject, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = self.subject()?;
        self.failed = result.is_err();
        Some(result)
    }
}

fn bad(r: &Record, column: &str, value: String, message: &str) -> EventError {
    EventError {
        row: r.row,
        column: column.into(),
        value,
        message: message.into(),
    }
}

/// The observable a row's `DV` belongs to.
fn observable_of(r: &Record, schema: &Schema) -> Result<usize, EventError> {
    let obs = &schema.observables;
    let by_name_or_number = |v: &str, column: &str| -> Result<usize, EventError> {
        if let Some(k) = obs.iter().position(|o| o == v) {
            return Ok(k);
        }
        match v.parse::<usize>() {
            Ok(n) if n >= 1 && n <= obs.len() => Ok(n - 1),
            _ => Err(bad(
                r,
                column,
                v.into(),
                &format!("not an observable of the model ({})", obs.join(", ")),
            )),
        }
    };
    if let Some(v) = &r.dvid {
        return by_name_or_number(v, "DVID");
    }
    if obs.len() == 1 {
        return Ok(0);
    }
    if let Some(v) = &r.cmt
        && let Some(k) = obs.iter().position(|o| o == v)
    {
        return Ok(k);
    }
    if obs.is_empty() {
        return Err(bad(
            r,
            "DV",
            r.dv.map(|v| v.to_string()).unwrap_or_default(),
            "the model has no observable for a DV",
        ));
    }
    Err(bad(
        r,
        "DVID",
        String::new(),
        &format!(
            "the model has several observables ({}): say which one each DV is with a DVID column",
            obs.join(", ")
        ),
    ))
}

fn cached(
    slot: &mut Option<Result<f64, String>>,
    compute: impl FnOnce() -> Result<f64, String>,
) -> Result<f64, String> {
    slot.get_or_insert_with(compute).clone()
}

fn dv_factor(
    f: &mut Factors,
    data: &dataset::Header,
    schema: &Schema,
    r: &Record,
    o: usize,
) -> Result<f64, EventError> {
    let Some((_, u)) = data.unit("DV") else {
        return Ok(1.0);
    };
    cached(&mut f.dv[o], || {
        (schema.convert)(u, Quantity::Observable(o))
    })
    .map_err(|m| {
        bad(
            r,
            "DV",
            u.into(),
            &format!("for observable `{}`: {m}", schema.observables[o]),
        )
    })
}

/// The dose of an `EVID` 1 or 4 record.
fn dose(
    r: &Record,
    schema: &Schema,
    f: &mut Factors,
    data: &dataset::Header,
) -> Result<Dose, EventError> {
    let states = &schema.states;
    if r.amt <= 0.0 {
        return Err(bad(
            r,
            "AMT",
            r.amt.to_string(),
            "a dose needs a positive AMT",
        ));
    }
    let target = match r.cmt.as_deref() {
        None if states.len() == 1 => 0,
        None => {
            return Err(bad(
                r,
                "CMT",
                String::new(),
                &format!(
                    "a dose needs a CMT (a CMT column with a value on every dose row): one of {}",
                    states.join(", ")
                ),
            ));
        }
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 && n <= states.len() => n - 1,
            Ok(_) => {
                return Err(bad(
                    r,
                    "CMT",
                    v.into(),
                    &format!("compartment numbers run from 1 to {}", states.len()),
                ));
            }
            Err(_) => match states.iter().position(|s| s == v) {
                Some(k) => k,
                None => {
                    return Err(bad(
                        r,
                        "CMT",
                        v.into(),
                        &format!(
                            "no compartment of this name; the model has {}",
                            states.join(", ")
                        ),
                    ));
                }
            },
        },
    };
    let unit = |name: &str| -> Option<String> { data.unit(name).map(|(_, u)| u.to_string()) };
    let amount_factor = match unit("AMT") {
        None => 1.0,
        Some(u) => cached(&mut f.amount[target], || {
            (schema.convert)(&u, Quantity::Amount(target))
        })
        .map_err(|m| {
            bad(
                r,
                "AMT",
                u.clone(),
                &format!("for compartment `{}`: {m}", states[target]),
            )
        })?,
    };
    let amount = r.amt * amount_factor;
    let time = r.time * f.time;
    let mut dose = if r.rate == 0.0 {
        Dose::bolus(time, amount, target as u32)
    } else if r.rate > 0.0 {
        let rate_factor = match unit("RATE") {
            None => amount_factor / f.time,
            Some(u) => cached(&mut f.rate[target], || {
                (schema.convert)(&u, Quantity::Rate(target))
            })
            .map_err(|m| {
                bad(
                    r,
                    "RATE",
                    u.clone(),
                    &format!("for compartment `{}`: {m}", states[target]),
                )
            })?,
        };
        Dose::infusion_rate(time, amount, target as u32, r.rate * rate_factor)
    } else {
        return Err(bad(
            r,
            "RATE",
            r.rate.to_string(),
            "modelled rates and durations (RATE -1, -2) are not supported; give the rate",
        ));
    };
    let ii = r.ii * f.ii;
    let addl = u32::try_from(r.addl).map_err(|_| {
        bad(
            r,
            "ADDL",
            r.addl.to_string(),
            "ADDL must be a non-negative whole number below 2^32",
        )
    })?;
    if (addl > 0 || r.ss != 0) && r.ii <= 0.0 {
        return Err(bad(
            r,
            "II",
            r.ii.to_string(),
            if addl > 0 {
                "additional doses need a positive II"
            } else {
                "a steady-state dose needs a positive II (its interval)"
            },
        ));
    }
    match r.ss {
        0 => {}
        1 | 2 => dose = dose.at_steady_state(ii, r.ss == 2),
        other => {
            return Err(bad(
                r,
                "SS",
                other.to_string(),
                "SS is 0, 1 (dose at steady state) or 2 (steady state added)",
            ));
        }
    }
    if addl > 0 {
        dose = dose.additional(ii, addl);
    }
    Ok(dose)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> Vec<String> {
        vec!["depot".into(), "central".into()]
    }

    #[test]
    fn doses_and_observations_by_subject() {
        let text = "ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,DV\n1,0,100,0,depot,1,12,2,.\n1,1,.,.,.,0,.,.,3.2\n2,0,50,25,2,1,0,0,.\n2,4,0,0,2,0,0,0,1.0\n";
        let s = parse(text, &states(), &["conc".into()]).expect("valid records");
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].regimen.doses,
            vec![Dose::bolus(0.0, 100.0, 0).additional(12.0, 2)]
        );
        assert_eq!(s[0].observation_times(), vec![1.0]);
        assert_eq!(
            s[1].regimen.doses,
            vec![Dose::infusion_rate(0.0, 50.0, 1, 25.0)]
        );
    }

    #[test]
    fn errors_name_row_column_and_value() {
        let e = parse(
            "ID,TIME,AMT,CMT,EVID\n1,0,100,gut,1\n",
            &states(),
            &["conc".into()],
        )
        .expect_err("unknown compartment");
        assert_eq!(
            (e.row, e.column.as_str(), e.value.as_str()),
            (2, "CMT", "gut")
        );
        let e = parse(
            "ID,TIME,AMT,CMT,EVID\n1,x,100,1,1\n",
            &states(),
            &["conc".into()],
        )
        .expect_err("bad time");
        assert_eq!((e.row, e.column.as_str()), (2, "TIME"));
        let e = parse(
            "ID,TIME,AMT,CMT,EVID,II,ADDL\n1,0,100,1,1,0,3\n",
            &states(),
            &["conc".into()],
        )
        .expect_err("ADDL without II");
        assert_eq!(e.column, "II");
        let e = parse("ID,AMT\n1,100\n", &states(), &["conc".into()]).expect_err("no TIME");
        assert_eq!(e.column, "TIME");
        let e = parse(
            "ID,TIME,AMT,CMT,EVID\n1,0,100,1,5\n",
            &states(),
            &["conc".into()],
        )
        .expect_err("EVID 5");
        assert_eq!(e.column, "EVID");
    }

    /// Hands out `text`, then fails: what was read before the failure is usable.
    struct FailsAfter<'a>(&'a [u8]);

    impl std::io::Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn subjects_are_read_one_at_a_time() {
        let text = "ID,TIME,AMT,CMT\n1,0,5,1\n1,2,.,.\n2,0,5,1\n2,3,.,.\n3,0,5,1\n";
        let convert = |_: &str, _: Quantity| Err("no units".to_string());
        let schema = Schema {
            states: states(),
            observables: vec!["conc".into()],
            inputs: Vec::new(),
            convert: &convert,
        };
        // The file breaks off inside subject 3's first row: subject 1 comes out whole; subject
        // 2 ends only at that row, which cannot be read: the read error, then nothing.
        let cut = text.find("3,0").unwrap_or(text.len()) + 2;
        let mut it = Subjects::new(FailsAfter(&text.as_bytes()[..cut]), &schema)
            .expect("the header is read");
        let ids: Vec<String> = it
            .by_ref()
            .take(1)
            .map(|s| s.map(|s| s.id).unwrap_or_default())
            .collect();
        assert_eq!(ids, ["1"]);
        match it.next() {
            Some(Err(e)) => assert!(
                e.message.contains("not valid CSV") || e.message.contains("cannot read"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(it.next().is_none(), "the iterator stops after an error");
        // Read whole, three subjects in file order.
        let all = subjects(text, &schema).expect("valid records");
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(all[1].observation_times(), vec![3.0]);
    }

    #[test]
    fn an_id_may_not_come_back() {
        let e = parse("ID,TIME\n1,0\n2,0\n2,1\n1,5\n", &states(), &["conc".into()])
            .expect_err("ID 1 again");
        assert_eq!((e.row, e.column.as_str(), e.value.as_str()), (5, "ID", "1"));
    }

    #[test]
    fn a_trough_row_before_the_dose_row_is_pre_dose() {
        let text = "ID,TIME,AMT,CMT,EVID,DV\n1,0,100,1,1,.\n1,12,.,.,0,2.5\n1,12,100,1,1,.\n1,12,.,.,0,9\n";
        let s = parse(text, &states(), &["conc".into()]).expect("valid records");
        let before: Vec<bool> = s[0].rows.iter().map(|r| r.before_dose).collect();
        assert_eq!(before, vec![false, true, false, false]);
    }
}
