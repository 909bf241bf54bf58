//! NONMEM-style event records (`ID, TIME, AMT, RATE, CMT, EVID, II, ADDL`) → one regimen and one
//! set of observation times per subject.
//!
//! The file is read by [`crate::dataset`] (format, header and cell rules); this module gives the
//! records their meaning. `CMT` is a compartment name or its 1-based number in declaration order.
//! `EVID` 0 is an observation, 1 a dose, 2 is ignored; resets (3, 4) and steady-state doses are
//! rejected with a clear error rather than silently mis-simulated. `RATE` 0 is a bolus, a
//! positive `RATE` a zero-order infusion at that rate. Amounts are in the target compartment's
//! declared unit, times in hours. Subjects are listed in order of first appearance; the rows of
//! one subject need not be consecutive. Every problem names its row (1-based, header = row 1),
//! column and value.

use std::collections::HashMap;

use crate::dataset::{self, Record};
use crate::solve::dosing::{Dose, Regimen};

/// A malformed record (the dataset reader's error).
pub use crate::dataset::DatasetError as EventError;

/// One subject's records.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The `ID` as written.
    pub id: String,
    /// Its doses.
    pub regimen: Regimen,
    /// Observation times (EVID 0), sorted.
    pub observations: Vec<f64>,
}

/// Parses event records for a model whose states are `states` (names in declaration order).
pub fn parse(text: &str, states: &[String]) -> Result<Vec<Subject>, EventError> {
    let data = dataset::read(text)?;
    let mut subjects: Vec<Subject> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for r in &data.records {
        let k = *index.entry(r.id.as_str()).or_insert_with(|| {
            subjects.push(Subject {
                id: r.id.clone(),
                regimen: Regimen::new(),
                observations: Vec::new(),
            });
            subjects.len() - 1
        });
        let subject = &mut subjects[k];
        match r.evid {
            0 => subject.observations.push(r.time),
            2 => {}
            1 => subject.regimen.doses.push(dose(r, states)?),
            _ => {
                return Err(bad(
                    r,
                    "EVID",
                    r.evid.to_string(),
                    "only EVID 0 (observation), 1 (dose) and 2 (other) are supported",
                ));
            }
        }
    }
    for s in &mut subjects {
        s.observations.sort_by(f64::total_cmp);
        s.observations.dedup();
    }
    Ok(subjects)
}

fn bad(r: &Record, column: &str, value: String, message: &str) -> EventError {
    EventError {
        row: r.row,
        column: column.into(),
        value,
        message: message.into(),
    }
}

/// The dose of an EVID 1 record.
fn dose(r: &Record, states: &[String]) -> Result<Dose, EventError> {
    if r.ss != 0 {
        return Err(bad(
            r,
            "SS",
            r.ss.to_string(),
            "steady-state doses are not supported; give the doses explicitly with II and ADDL",
        ));
    }
    if r.amt <= 0.0 {
        return Err(bad(
            r,
            "AMT",
            r.amt.to_string(),
            "a dose needs a positive AMT",
        ));
    }
    let Some(v) = r.cmt.as_deref() else {
        return Err(bad(
            r,
            "CMT",
            String::new(),
            "a dose needs a CMT (a CMT column with a value on every dose row)",
        ));
    };
    let target = match v.parse::<usize>() {
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
    };
    let mut dose = if r.rate == 0.0 {
        Dose::bolus(r.time, r.amt, target as u32)
    } else if r.rate > 0.0 {
        Dose::infusion_rate(r.time, r.amt, target as u32, r.rate)
    } else {
        return Err(bad(
            r,
            "RATE",
            r.rate.to_string(),
            "modelled rates and durations (RATE -1, -2) are not supported; give the rate",
        ));
    };
    let addl = u32::try_from(r.addl).map_err(|_| {
        bad(
            r,
            "ADDL",
            r.addl.to_string(),
            "ADDL must be a non-negative whole number below 2^32",
        )
    })?;
    if addl > 0 {
        if r.ii <= 0.0 {
            return Err(bad(
                r,
                "II",
                r.ii.to_string(),
                "additional doses need a positive II",
            ));
        }
        dose = dose.additional(r.ii, addl);
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
        let s = parse(text, &states()).expect("valid records");
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].regimen.doses,
            vec![Dose::bolus(0.0, 100.0, 0).additional(12.0, 2)]
        );
        assert_eq!(s[0].observations, vec![1.0]);
        assert_eq!(
            s[1].regimen.doses,
            vec![Dose::infusion_rate(0.0, 50.0, 1, 25.0)]
        );
    }

    #[test]
    fn errors_name_row_column_and_value() {
        let e = parse("ID,TIME,AMT,CMT,EVID\n1,0,100,gut,1\n", &states())
            .expect_err("unknown compartment");
        assert_eq!(
            (e.row, e.column.as_str(), e.value.as_str()),
            (2, "CMT", "gut")
        );
        let e = parse("ID,TIME,AMT,CMT,EVID\n1,x,100,1,1\n", &states()).expect_err("bad time");
        assert_eq!((e.row, e.column.as_str()), (2, "TIME"));
        let e = parse("ID,TIME,AMT,CMT,EVID,II,ADDL\n1,0,100,1,1,0,3\n", &states())
            .expect_err("ADDL without II");
        assert_eq!(e.column, "II");
        let e = parse("ID,AMT\n1,100\n", &states()).expect_err("no TIME");
        assert_eq!(e.column, "TIME");
        let e = parse("ID,TIME,AMT,CMT,EVID\n1,0,100,1,4\n", &states()).expect_err("reset");
        assert_eq!(e.column, "EVID");
    }
}
