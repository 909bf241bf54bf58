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
//!
//! [`Reader`] reads the rows incrementally from any [`std::io::Read`]: it holds the header, the
//! row being typed and a window of at most a few kilobytes of input (the `csv` crate's buffer
//! and the lines since the last row), so a file of any length is read in bounded memory.
//! [`read`] collects a whole text through it.

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

/// A dataset's header: column names and units.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The column names without their units, upper-cased, in file order.
    pub columns: Vec<String>,
    /// The column names without their units, as written.
    pub names: Vec<String>,
    /// The unit of each column, when its header gives one in brackets (`TIME [d]`).
    pub units: Vec<Option<String>>,
}

impl Header {
    /// The position of column `name` (upper case), if the header has it.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The position and unit of column `name` (upper case), when the header gives it a unit.
    pub fn unit(&self, name: &str) -> Option<(usize, &str)> {
        let k = self.position(name)?;
        self.units[k].as_deref().map(|u| (k, u))
    }
}

/// A whole dataset: its header and its rows in file order.
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

/// Reads a whole dataset from text (see the module docs for the rules).
pub fn read(text: &str) -> Result<Dataset, DatasetError> {
    let reader = Reader::new(text.as_bytes())?;
    let header = reader.header().clone();
    let records = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(Dataset {
        columns: header.columns,
        names: header.names,
        units: header.units,
        records,
    })
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// The input after the byte-order mark and the lines up to the header (kept to be read again),
/// then the rest.
type Input<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, std::io::BufReader<R>>;

/// Reads a dataset's rows one at a time from a byte stream; an [`Iterator`] of typed
/// [`Record`]s in file order. It stops after the first error.
pub struct Reader<R: std::io::Read> {
    header: Header,
    layout: Layout,
    lines: Lines<R>,
    failed: bool,
}

/// The untyped lines of the file: CSV or whitespace-separated.
enum Lines<R: std::io::Read> {
    Csv(CsvLines<R>),
    Whitespace(WhitespaceLines<R>),
}

impl<R: std::io::Read> Reader<R> {
    /// Reads the header (skipping a UTF-8 byte-order mark, blank lines and `#` comments), so
    /// that every header problem is reported here; the rows follow through the iterator.
    pub fn new(input: R) -> Result<Reader<R>, DatasetError> {
        use std::io::BufRead;
        let io_error = |row: usize, e: std::io::Error| DatasetError {
            row,
            column: "-".into(),
            value: String::new(),
            message: format!("cannot read the file: {e}"),
        };
        let empty = || DatasetError {
            row: 1,
            column: "-".into(),
            value: String::new(),
            message: "the file is empty".into(),
        };
        let mut input = std::io::BufReader::new(input);
        // The header is the first line that is neither blank nor a comment; whether it has a
        // comma decides the format. The lines up to it are read again by the line reader.
        let mut prefix = Vec::new();
        let mut line = 0usize;
        let comma = loop {
            let start = prefix.len();
            let n = input
                .read_until(b'\n', &mut prefix)
                .map_err(|e| io_error(line + 1, e))?;
            if n == 0 {
                return Err(empty());
            }
            line += 1;
            // A leading byte-order mark is not part of the first line.
            if line == 1 && prefix.starts_with(BOM) {
                prefix.drain(..BOM.len());
            }
            let text = String::from_utf8_lossy(&prefix[start..]);
            let l = text.strip_suffix('\n').unwrap_or(&text);
            let l = l.strip_suffix('\r').unwrap_or(l);
            if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
                break l.contains(',');
            }
        };
        let input = std::io::Read::chain(std::io::Cursor::new(prefix), input);
        let mut lines = if comma {
            Lines::Csv(CsvLines::new(input))
        } else {
            Lines::Whitespace(WhitespaceLines {
                input,
                line: 0,
                buf: Vec::new(),
            })
        };
        let Some((hrow, header)) = lines.next().transpose()? else {
            return Err(empty());
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
        Ok(Reader {
            header: Header {
                columns,
                names,
                units,
            },
            layout,
            lines,
            failed: false,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

impl<R: std::io::Read> Iterator for Reader<R> {
    type Item = Result<Record, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = match self.lines.next()? {
            Ok((row, cells)) => record(&self.header.columns, &self.layout, row, cells),
            Err(e) => Err(e),
        };
        self.failed = result.is_err();
        Some(result)
    }
}

impl<R: std::io::Read> Lines<R> {
    fn next(&mut self) -> Option<Result<Line, DatasetError>> {
        match self {
            Lines::Csv(l) => l.next(),
            Lines::Whitespace(l) => l.next(),
        }
    }
}

/// The input as the `csv` crate reads it, with the bytes it has taken since the start of the
/// last row kept, to give each row its line number.
struct Tee<R: std::io::Read> {
    inner: Input<R>,
    /// Bytes from offset `base` of the input on.
    kept: Vec<u8>,
    base: u64,
}

impl<R: std::io::Read> std::io::Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The lines of a comma-separated file, through the `csv` crate.
struct CsvLines<R: std::io::Read> {
    reader: csv::Reader<Tee<R>>,
    record: csv::StringRecord,
    /// Input offset of the last row's first line, and that line's number.
    at: u64,
    line: usize,
}

impl<R: std::io::Read> CsvLines<R> {
    fn new(input: Input<R>) -> CsvLines<R> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(Tee {
                inner: input,
                kept: Vec::new(),
                base: 0,
            });
        CsvLines {
            reader,
            record: csv::StringRecord::new(),
            at: 0,
            line: 1,
        }
    }

    fn next(&mut self) -> Option<Result<Line, DatasetError>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    let row = e.position().map_or(self.line, |p| p.line() as usize);
                    let message = if e.is_io_error() {
                        format!("cannot read the file: {e}")
                    } else {
                        format!("not valid CSV: {e}")
                    };
                    return Some(Err(DatasetError {
                        row,
                        column: "-".into(),
                        value: String::new(),
                        message,
                    }));
                }
            }
            if self.record.iter().all(str::is_empty) {
                continue;
            }
            // The reader's byte offset of a record may point at the blank or comment lines
            // before it: skip those, then count line ends since the last row.
            let tee = self.reader.get_mut();
            let end = tee.base + tee.kept.len() as u64;
            let mut start = self
                .record
                .position()
                .map_or(self.at, |p| p.byte())
                .clamp(self.at, end);
            loop {
                let rest = &tee.kept[(start - tee.base) as usize..];
                let len = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                let l = &rest[..len];
                if len == rest.len()
                    || !(String::from_utf8_lossy(l).trim().is_empty() || l.starts_with(b"#"))
                {
                    break;
                }
                start += len as u64;
            }
            let from = (self.at - tee.base) as usize;
            let to = (start - tee.base) as usize;
            self.line += tee.kept[from..to].iter().filter(|&&b| b == b'\n').count();
            self.at = start;
            // Forget what lies before this row.
            tee.kept.drain(..to);
            tee.base = start;
            return Some(Ok((
                self.line,
                self.record.iter().map(str::to_string).collect(),
            )));
        }
    }
}

/// The lines of a file whose cells are separated by spaces or tabs.
struct WhitespaceLines<R: std::io::Read> {
    input: Input<R>,
    line: usize,
    buf: Vec<u8>,
}

impl<R: std::io::Read> WhitespaceLines<R> {
    fn next(&mut self) -> Option<Result<Line, DatasetError>> {
        use std::io::BufRead;
        loop {
            self.buf.clear();
            let n = match self.input.read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    return Some(Err(DatasetError {
                        row: self.line + 1,
                        column: "-".into(),
                        value: String::new(),
                        message: format!("cannot read the file: {e}"),
                    }));
                }
            };
            if n == 0 {
                return None;
            }
            self.line += 1;
            let Ok(l) = std::str::from_utf8(&self.buf) else {
                return Some(Err(DatasetError {
                    row: self.line,
                    column: "-".into(),
                    value: String::new(),
                    message: "not UTF-8 text".into(),
                }));
            };
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            return Some(Ok((
                self.line,
                l.split_whitespace().map(str::to_string).collect(),
            )));
        }
    }
}

/// Splits a header cell `name [unit]` into the name and the unit text (also used for cohorts).
pub fn split_unit(h: &str) -> Result<(String, Option<String>), String> {
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

/// A missing cell: empty or `.`.
pub fn missing(v: &str) -> bool {
    v.is_empty() || v == "."
}

/// Types one data row.
fn record(
    columns: &[String],
    layout: &Layout,
    row: usize,
    cells: Vec<String>,
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
    // In the order the cells are checked.
    let rate = num(layout.rate)?.unwrap_or(0.0);
    let ii = num(layout.ii)?.unwrap_or(0.0);
    let addl = whole(layout.addl)?.unwrap_or(0);
    let ss = whole(layout.ss)?.unwrap_or(0);
    let dv = num(layout.dv)?;
    let mdv = whole(layout.mdv)?;
    let occ = whole(layout.occ)?;
    Ok(Record {
        row,
        id: id.clone(),
        time,
        amt,
        rate,
        cmt: layout.cmt.map(|c| cells[c].clone()).filter(|v| !missing(v)),
        evid,
        ii,
        addl,
        ss,
        dv,
        mdv,
        dvid: layout
            .dvid
            .map(|c| cells[c].clone())
            .filter(|v| !missing(v)),
        occ,
        cells,
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
