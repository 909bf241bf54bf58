//! The dataset reader: a NONMEM-style table (`ID, TIME, AMT, RATE, CMT, EVID, MDV, DV, DVID,
//! II, ADDL, SS, OCC` and any further column) → typed [`Record`]s, one per data row, with every
//! malformed cell reported by row, column and value. What the records mean for a model (units,
//! covariates, doses) is [`crate::events`]'s business.
//!
//! Format rules:
//! - The first line that is neither blank nor a `#` comment is the header. A file whose header
//!   contains a comma is comma-separated and read as CSV (RFC 4180 quoting, `\r\n` or `\n` line
//!   ends, a leading UTF-8 byte-order mark ignored); otherwise cells are separated by runs of
//!   spaces or tabs. Cells are trimmed; blank lines and lines starting with `#` are skipped.
//! - Columns are found by header name, case-insensitively, in any order; `ID` and `TIME` are
//!   required, the others optional; other columns (covariates, anything else) are kept as text
//!   ([`Record::cells`]). A header cell may carry a unit in brackets, `weight [kg]` or
//!   `TIME [d]` ([`Dataset::units`]). A name given twice is an error.
//! - Every row has exactly as many cells as the header.
//! - An empty cell or `.` is missing: the column's default ([`Record`] documents each).
//!   Numbers must be finite; `EVID`, `ADDL` and `SS` must be whole numbers.
//!
//! Row numbers are 1-based line numbers of the file (a header on the first line is row 1).

/// A malformed cell, row or header.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetError {
    /// 1-based line number (a header on the first line is row 1).
    pub row: usize,
    /// Column name (`-` when the problem is not one column's).
    pub column: String,
    /// The offending value.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DatasetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {}, column {}: {} (value `{}`)",
            self.row, self.column, self.message, self.value
        )
    }
}

/// One data row, typed. Missing optional cells take the defaults given here.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number in the file.
    pub row: usize,
    /// `ID` as written (never empty).
    pub id: String,
    /// `TIME` as written (required, finite, non-negative), in the header's unit (hours when it
    /// gives none).
    pub time: f64,
    /// `AMT` (default 0).
    pub amt: f64,
    /// `RATE` (default 0).
    pub rate: f64,
    /// `CMT` as written: a compartment name or number (default none).
    pub cmt: Option<String>,
    /// `EVID` (default 1 when `AMT` > 0, else 0).
    pub evid: i64,
    /// `II` (default 0).
    pub ii: f64,
    /// `ADDL` as written (default 0); may be negative, left to the consumer to judge.
    pub addl: i64,
    /// `SS` (default 0).
    pub ss: i64,
    /// `DV` (missing: none).
    pub dv: Option<f64>,
    /// `MDV` (missing: none; the consumer decides the default from `EVID` and `DV`).
    pub mdv: Option<i64>,
    /// `DVID` as written (missing: none).
    pub dvid: Option<String>,
    /// `OCC` (missing: none).
    pub occ: Option<i64>,
    /// Every cell of the row as written (trimmed), in column order.
    pub cells: Vec<String>,
}

/// A dataset: its header and its rows in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The header's column names without their units, upper-cased, in file order.
    pub columns: Vec<String>,
    /// The header's column names without their units, as written.
    pub names: Vec<String>,
    /// The unit of each column, when its header gives one in brackets (`TIME [d]`).
    pub units: Vec<Option<String>>,
    /// The data rows.
    pub records: Vec<Record>,
}

/// Positions of the columns the reader types.
struct Layout {
    id: usize,
    time: usize,
    amt: Option<usize>,
    rate: Option<usize>,
    cmt: Option<usize>,
    evid: Option<usize>,
    ii: Option<usize>,
    addl: Option<usize>,
    ss: Option<usize>,
    dv: Option<usize>,
    mdv: Option<usize>,
    dvid: Option<usize>,
    occ: Option<usize>,
}

/// One line's cells with its line number.
type Line = (usize, Vec<String>);

/// Reads a dataset (see the module docs for the rules).
pub fn read(text: &str) -> Result<Dataset, DatasetError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some(header_line) = header_line else {
        return Err(DatasetError {
            row: 1,
            column: "-".into(),
            value: String::new(),
            message: "the file is empty".into(),
        });
    };
    let lines: Vec<Line> = if header_line.contains(',') {
        csv_lines(text)?
    } else {
        whitespace_lines(text)
    };
    let mut lines = lines.into_iter();
    let Some((hrow, header)) = lines.next() else {
        return Err(DatasetError {
            row: 1,
            column: "-".into(),
            value: String::new(),
            message: "the file is empty".into(),
        });
    };
    let mut names = Vec::with_capacity(header.len());
    let mut units = Vec::with_capacity(header.len());
    for h in &header {
        let (name, unit) = split_unit(h).map_err(|message| DatasetError {
            row: hrow,
            column: h.clone(),
            value: h.clone(),
            message,
        })?;
        names.push(name);
        units.push(unit);
    }
    let columns: Vec<String> = names.iter().map(|c| c.to_uppercase()).collect();
    for (k, c) in columns.iter().enumerate() {
        if columns[..k].contains(c) {
            return Err(DatasetError {
                row: hrow,
                column: c.clone(),
                value: header[k].clone(),
                message: format!("the column `{c}` is named twice in the header"),
            });
        }
    }
    let find = |name: &str| columns.iter().position(|c| c == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| DatasetError {
            row: hrow,
            column: name.into(),
            value: header.join(","),
            message: format!("the header has no `{name}` column"),
        })
    };
    let layout = Layout {
        id: need("ID")?,
        time: need("TIME")?,
        amt: find("AMT"),
        rate: find("RATE"),
        cmt: find("CMT"),
        evid: find("EVID"),
        ii: find("II"),
        addl: find("ADDL"),
        ss: find("SS"),
        dv: find("DV"),
        mdv: find("MDV"),
        dvid: find("DVID"),
        occ: find("OCC"),
    };
    let mut records = Vec::with_capacity(lines.len());
    for (row, cells) in lines {
        records.push(record(&columns, &layout, row, &cells)?);
    }
    Ok(Dataset {
        columns,
        names,
        units,
        records,
    })
}

/// Splits a header cell `name [unit]` into the name and the unit text.
fn split_unit(h: &str) -> Result<(String, Option<String>), String> {
    let Some(open) = h.find('[') else {
        return if h.contains(']') {
            Err("a `]` without `[` in the header".into())
        } else if h.is_empty() {
            Err("a column without a name".into())
        } else {
            Ok((h.to_string(), None))
        };
    };
    let name = h[..open].trim();
    let rest = &h[open + 1..];
    let Some(close) = rest.find(']') else {
        return Err("the unit's `[` is not closed with `]`".into());
    };
    if !rest[close + 1..].trim().is_empty() {
        return Err("text after the unit; write `name [unit]`".into());
    }
    if name.is_empty() {
        return Err("a unit without a column name".into());
    }
    let unit = rest[..close].trim();
    if unit.is_empty() {
        return Err("empty unit brackets; remove them or name the unit".into());
    }
    Ok((name.to_string(), Some(unit.to_string())))
}

/// The lines of a comma-separated file, through the `csv` crate.
fn csv_lines(text: &str) -> Result<Vec<Line>, DatasetError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    // The reader's byte offset of a record may point at the blank or comment lines before it:
    // skip those, then count line ends incrementally.
    let (mut at, mut line) = (0usize, 1usize);
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let row = e.position().map_or(0, |p| p.line() as usize);
            DatasetError {
                row,
                column: "-".into(),
                value: String::new(),
                message: format!("not valid CSV: {e}"),
            }
        })?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let mut start = rec
            .position()
            .map_or(at, |p| usize::try_from(p.byte()).unwrap_or(at))
            .clamp(at, text.len());
        while let Some(rest) = text.get(start..) {
            let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
            let l = &rest[..len];
            if len == rest.len() || !(l.trim().is_empty() || l.starts_with('#')) {
                break;
            }
            start += len;
        }
        line += text.as_bytes()[at..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        at = start;
        out.push((line, rec.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

/// The lines of a file whose cells are separated by spaces or tabs.
fn whitespace_lines(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_string).collect()))
        .collect()
}

/// A missing cell: empty or `.`.
pub fn missing(v: &str) -> bool {
    v.is_empty() || v == "."
}

/// Types one data row.
fn record(
    columns: &[String],
    layout: &Layout,
    row: usize,
    cells: &[String],
) -> Result<Record, DatasetError> {
    if cells.len() != columns.len() {
        let (column, message) = if cells.len() < columns.len() {
            (
                columns[cells.len()].clone(),
                format!(
                    "expected {} values, found {}: the row ends before this column",
                    columns.len(),
                    cells.len()
                ),
            )
        } else {
            (
                format!("{} (past the last column)", columns.len() + 1),
                format!(
                    "expected {} values, found {}: the row has more cells than the header",
                    columns.len(),
                    cells.len()
                ),
            )
        };
        return Err(DatasetError {
            row,
            column,
            value: cells.join(","),
            message,
        });
    }
    let err = |c: usize, message: &str| DatasetError {
        row,
        column: columns[c].clone(),
        value: cells[c].clone(),
        message: message.into(),
    };
    let num = |c: Option<usize>| -> Result<Option<f64>, DatasetError> {
        match c {
            Some(c) if !missing(&cells[c]) => cells[c]
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| err(c, "not a number")),
            _ => Ok(None),
        }
    };
    let whole = |c: Option<usize>| -> Result<Option<i64>, DatasetError> {
        match num(c)? {
            None => Ok(None),
            Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => Ok(Some(x as i64)),
            Some(_) => Err(err(c.unwrap_or(0), "must be a whole number")),
        }
    };
    let id = &cells[layout.id];
    if missing(id) {
        return Err(err(layout.id, "every row needs an ID"));
    }
    let time = match num(Some(layout.time)) {
        Ok(Some(t)) if t >= 0.0 => t,
        _ => {
            return Err(err(
                layout.time,
                "TIME must be a non-negative number (hours, or the unit in the header)",
            ));
        }
    };
    let amt = num(layout.amt)?.unwrap_or(0.0);
    let evid = whole(layout.evid)?.unwrap_or(i64::from(amt > 0.0));
    Ok(Record {
        row,
        id: id.clone(),
        time,
        amt,
        rate: num(layout.rate)?.unwrap_or(0.0),
        cmt: layout.cmt.map(|c| cells[c].clone()).filter(|v| !missing(v)),
        evid,
        ii: num(layout.ii)?.unwrap_or(0.0),
        addl: whole(layout.addl)?.unwrap_or(0),
        ss: whole(layout.ss)?.unwrap_or(0),
        dv: num(layout.dv)?,
        mdv: whole(layout.mdv)?,
        dvid: layout
            .dvid
            .map(|c| cells[c].clone())
            .filter(|v| !missing(v)),
        occ: whole(layout.occ)?,
        cells: cells.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn typed_rows_with_defaults() {
        let d = read("ID,TIME,AMT,CMT,DV\n1,0,100,depot,.\n1,2,.,,3.5\n").unwrap();
        assert_eq!(d.columns, vec!["ID", "TIME", "AMT", "CMT", "DV"]);
        assert_eq!(d.records.len(), 2);
        let (a, b) = (&d.records[0], &d.records[1]);
        assert_eq!(
            (a.row, a.evid, a.amt, a.cmt.as_deref()),
            (2, 1, 100.0, Some("depot"))
        );
        assert_eq!((b.row, b.evid, b.amt, b.cmt.as_deref()), (3, 0, 0.0, None));
    }

    #[test]
    fn bom_crlf_quotes_and_comments() {
        let d =
            read("\u{feff}\"ID\",TIME,AMT\r\n# a note\r\n\"a,1\",0.5,10\r\n\r\n2,1,.\r\n").unwrap();
        assert_eq!(d.records.len(), 2);
        assert_eq!((d.records[0].id.as_str(), d.records[0].row), ("a,1", 3));
        assert_eq!((d.records[1].id.as_str(), d.records[1].row), ("2", 5));
    }

    #[test]
    fn whitespace_separated() {
        let d = read("ID TIME  AMT\n1\t0   5\n").unwrap();
        assert_eq!(d.records[0].amt, 5.0);
    }

    #[test]
    fn malformed_rows_name_row_and_column() {
        let e = read("ID,TIME,EVID\n1,0,1.5\n").unwrap_err();
        assert_eq!(
            (e.row, e.column.as_str(), e.value.as_str()),
            (2, "EVID", "1.5")
        );
        let e = read("ID,TIME\n1,0\n1,0,7\n").unwrap_err();
        assert_eq!(e.row, 3);
        assert!(e.message.contains("more cells than the header"), "{e}");
        let e = read("ID,TIME,id\n1,0,2\n").unwrap_err();
        assert_eq!((e.row, e.column.as_str()), (1, "ID"));
        let e = read("ID,TIME\n.,0\n").unwrap_err();
        assert_eq!((e.row, e.column.as_str()), (2, "ID"));
        let e = read("ID,TIME\n1,-1\n").unwrap_err();
        assert_eq!(e.column, "TIME");
        let e = read("ID,TIME,AMT\n1,0,inf\n").unwrap_err();
        assert_eq!(
            (e.column.as_str(), e.message.as_str()),
            ("AMT", "not a number")
        );
    }
}
