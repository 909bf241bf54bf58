//! A small CSV reader for the files twin writes: a header line, comma-separated cells, double
//! quotes around cells that contain commas or quotes. Every problem names the file, the line
//! (1-based, the header is line 1) and the column.

use super::PlotError;

/// A parsed CSV file.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file name, for messages.
    pub file: String,
    /// Header cells, trimmed.
    pub header: Vec<String>,
    /// Data rows: the 1-based line number and the cells.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Splits one CSV line into cells (`""` inside quotes is a quote).
pub fn split_line(line: &str) -> Vec<String> {
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
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

impl Table {
    /// Parses `text`; blank lines are skipped. Errors on an empty file, a file with a header but
    /// no data rows, and rows with fewer cells than the header.
    pub fn parse(file: &str, text: &str) -> Result<Table, PlotError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(PlotError::input(file, "the file is empty"));
        };
        let header = split_line(header.trim_start_matches('\u{feff}'));
        let mut rows = Vec::new();
        for (i, line) in lines {
            let cells = split_line(line);
            if cells.len() < header.len() {
                return Err(PlotError::input(
                    file,
                    format!(
                        "line {}: expected {} cells (as in the header), found {}",
                        i + 1,
                        header.len(),
                        cells.len()
                    ),
                ));
            }
            rows.push((i + 1, cells));
        }
        if rows.is_empty() {
            return Err(PlotError::input(
                file,
                "the file has a header but no data rows",
            ));
        }
        Ok(Table {
            file: file.to_string(),
            header,
            rows,
        })
    }

    /// The index of the column named exactly `name`, if any.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The index of the column named `name`, or an error listing the columns there are.
    pub fn need(&self, name: &str) -> Result<usize, PlotError> {
        self.find(name).ok_or_else(|| {
            PlotError::input(
                &self.file,
                format!(
                    "no `{name}` column (the header has: {})",
                    self.header.join(", ")
                ),
            )
        })
    }

    /// The number in row `r` (an index into `rows`), column `c`: `None` for an empty cell, `NA`
    /// or `NaN` (a gap), an error naming the line and column for anything else that is not a
    /// number.
    pub fn number(&self, r: usize, c: usize) -> Result<Option<f64>, PlotError> {
        let (line, cells) = &self.rows[r];
        let v = cells[c].as_str();
        if v.is_empty() || v == "NA" || v.eq_ignore_ascii_case("nan") || v == "." {
            return Ok(None);
        }
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            Ok(_) => Ok(None),
            Err(_) => Err(PlotError::input(
                &self.file,
                format!(
                    "line {line}, column `{}`: `{v}` is not a number",
                    self.header[c]
                ),
            )),
        }
    }

    /// The text in row `r`, column `c`.
    pub fn text(&self, r: usize, c: usize) -> &str {
        &self.rows[r].1[c]
    }
}

/// Splits a header `name [unit]` into the name and the unit (empty when there is none).
pub fn name_unit(header: &str) -> (&str, &str) {
    match (header.rfind('['), header.ends_with(']')) {
        (Some(i), true) => (header[..i].trim_end(), &header[i + 1..header.len() - 1]),
        _ => (header.trim(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cells_and_units() {
        assert_eq!(split_line(r#"a,"b,c","d""e""#), vec!["a", "b,c", "d\"e"]);
        assert_eq!(name_unit("conc [mg/L]"), ("conc", "mg/L"));
        assert_eq!(name_unit("inr"), ("inr", ""));
        assert_eq!(name_unit("auc [mg/L·h]"), ("auc", "mg/L·h"));
    }

    #[test]
    fn errors_name_line_and_column() {
        let t = Table::parse("x.csv", "time [h],c [mg]\n0,1\n1,abc\n").expect("parses");
        let e = t.number(1, 1).expect_err("not a number").to_string();
        assert!(e.contains("x.csv") && e.contains("line 3") && e.contains("`c [mg]`"));
        assert!(Table::parse("x.csv", "").is_err());
        assert!(Table::parse("x.csv", "a,b\n").is_err());
        assert!(Table::parse("x.csv", "a,b\n1\n").is_err());
    }
}
