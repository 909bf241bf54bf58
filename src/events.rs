//! NONMEM-style event records (`ID, TIME, AMT, RATE, CMT, EVID, II, ADDL`) → one regimen and one
//! set of observation times per subject.
//!
//! Columns are found by header name (case-insensitive, any order, extra columns such as `DV` are
//! ignored). `CMT` is a compartment name or its 1-based number in declaration order. `EVID` 0 is
//! an observation, 1 a dose, 2 is ignored; resets (3, 4) and steady-state doses are rejected with
//! a clear error rather than silently mis-simulated. `RATE` 0 is a bolus, a positive `RATE` a
//! zero-order infusion at that rate. Amounts are in the target compartment's declared unit, times
//! in hours. Every problem names its row (1-based, header = row 1), column and value.

use crate::solve::dosing::{Dose, Regimen};

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

/// A malformed record.
#[derive(Debug, Clone, PartialEq)]
pub struct EventError {
    /// 1-based line number (the header is line 1).
    pub row: usize,
    /// Column name.
    pub column: String,
    /// The offending value.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {}, column {}: {} (value `{}`)",
            self.row, self.column, self.message, self.value
        )
    }
}

fn split(line: &str) -> Vec<String> {
    let sep = if line.contains(',') { ',' } else { ' ' };
    line.split(sep)
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| sep == ',' || !s.is_empty())
        .collect()
}

/// Parses event records for a model whose states are `states` (names in declaration order).
pub fn parse(text: &str, states: &[String]) -> Result<Vec<Subject>, EventError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hrow, header)) = lines.next() else {
        return Err(EventError {
            row: 1,
            column: "-".into(),
            value: String::new(),
            message: "the file is empty".into(),
        });
    };
    let cols: Vec<String> = split(header).iter().map(|c| c.to_uppercase()).collect();
    let find = |name: &str| cols.iter().position(|c| c == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| EventError {
            row: hrow + 1,
            column: name.into(),
            value: header.to_string(),
            message: format!("the header has no `{name}` column"),
        })
    };
    let (c_id, c_time) = (need("ID")?, need("TIME")?);
    let (c_amt, c_rate, c_cmt, c_evid, c_ii, c_addl, c_ss) = (
        find("AMT"),
        find("RATE"),
        find("CMT"),
        find("EVID"),
        find("II"),
        find("ADDL"),
        find("SS"),
    );
    let mut subjects: Vec<Subject> = Vec::new();
    for (i, line) in lines {
        let row = i + 1;
        let cells = split(line);
        if cells.len() < cols.len() {
            return Err(EventError {
                row,
                column: cols.get(cells.len()).cloned().unwrap_or_default(),
                value: line.to_string(),
                message: format!("expected {} values, found {}", cols.len(), cells.len()),
            });
        }
        let cell = |c: usize| cells[c].as_str();
        let num = |c: Option<usize>, default: f64| -> Result<f64, EventError> {
            match c {
                None => Ok(default),
                Some(c) => {
                    let v = cell(c);
                    if v.is_empty() || v == "." {
                        return Ok(default);
                    }
                    v.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| EventError {
                            row,
                            column: cols[c].clone(),
                            value: v.to_string(),
                            message: "not a number".into(),
                        })
                }
            }
        };
        let id = cell(c_id).to_string();
        let time = num(Some(c_time), f64::NAN)?;
        if time.is_nan() || time < 0.0 {
            return Err(EventError {
                row,
                column: "TIME".into(),
                value: cell(c_time).into(),
                message: "TIME must be a non-negative number of hours".into(),
            });
        }
        let amt = num(c_amt, 0.0)?;
        let evid_default = if amt > 0.0 { 1.0 } else { 0.0 };
        let evid = num(c_evid, evid_default)?;
        let subject = match subjects.iter().position(|s| s.id == id) {
            Some(k) => k,
            None => {
                subjects.push(Subject {
                    id: id.clone(),
                    regimen: Regimen::new(),
                    observations: Vec::new(),
                });
                subjects.len() - 1
            }
        };
        let bad = |column: &str, c: Option<usize>, message: &str| EventError {
            row,
            column: column.into(),
            value: c.map(|c| cells[c].clone()).unwrap_or_default(),
            message: message.into(),
        };
        match evid as i64 {
            0 => subjects[subject].observations.push(time),
            2 => {}
            1 => {
                if num(c_ss, 0.0)? != 0.0 {
                    return Err(bad(
                        "SS",
                        c_ss,
                        "steady-state doses are not supported; give the doses explicitly with II and ADDL",
                    ));
                }
                if amt <= 0.0 {
                    return Err(bad("AMT", c_amt, "a dose needs a positive AMT"));
                }
                let Some(cc) = c_cmt else {
                    return Err(bad("CMT", None, "a dose needs a CMT column"));
                };
                let v = cell(cc);
                let target = match v.parse::<usize>() {
                    Ok(n) if n >= 1 && n <= states.len() => n - 1,
                    Ok(_) => {
                        return Err(bad(
                            "CMT",
                            c_cmt,
                            &format!("compartment numbers run from 1 to {}", states.len()),
                        ));
                    }
                    Err(_) => match states.iter().position(|s| s == v) {
                        Some(k) => k,
                        None => {
                            return Err(bad(
                                "CMT",
                                c_cmt,
                                &format!(
                                    "no compartment of this name; the model has {}",
                                    states.join(", ")
                                ),
                            ));
                        }
                    },
                };
                let rate = num(c_rate, 0.0)?;
                let mut dose = if rate == 0.0 {
                    Dose::bolus(time, amt, target as u32)
                } else if rate > 0.0 {
                    Dose::infusion_rate(time, amt, target as u32, rate)
                } else {
                    return Err(bad(
                        "RATE",
                        c_rate,
                        "modelled rates and durations (RATE -1, -2) are not supported; give the rate",
                    ));
                };
                let ii = num(c_ii, 0.0)?;
                let addl = num(c_addl, 0.0)?;
                if addl < 0.0 || addl.fract() != 0.0 {
                    return Err(bad(
                        "ADDL",
                        c_addl,
                        "ADDL must be a non-negative whole number",
                    ));
                }
                if addl > 0.0 {
                    if ii <= 0.0 {
                        return Err(bad("II", c_ii, "additional doses need a positive II"));
                    }
                    dose = dose.additional(ii, addl as u32);
                }
                subjects[subject].regimen.doses.push(dose);
            }
            _ => {
                return Err(bad(
                    "EVID",
                    c_evid,
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
