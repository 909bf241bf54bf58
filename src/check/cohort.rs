//! Cohorts from data: `population from "cohort.csv"` reads a table of recorded patients, one per
//! row, whose columns feed the model's covariates and genotypes.
//!
//! Rules (each violation is E0050 at the path, naming the file's row, column and value):
//! - The file is read when the trial is checked, relative to the directory of the `.twin` file
//!   (an absolute path as it is); at most [`MAX_COHORT_BYTES`] bytes and [`MAX_COHORT_ROWS`] rows.
//! - It is CSV (the `csv` crate: RFC 4180 quoting, `\r\n` or `\n`, a UTF-8 byte-order mark
//!   ignored, lines starting with `#` skipped), with a header row. A header cell may carry a unit
//!   in brackets, `weight [kg]`, `cyp3a4 [pmol/mg]`; the values are converted exactly to the
//!   covariate's declared unit, and a unit that does not fit is an error naming the column. A
//!   column without a unit is in the covariate's declared unit.
//! - A column named like a covariate or genotype of the model feeds it; other columns (an `ID`,
//!   notes) are ignored. A categorical covariate's cells are level names, a genotype's cells
//!   diplotype names (`*1/*3`, either allele order).
//! - Every cell of a used column must have a value (`.` or empty is an error) and numbers must be
//!   finite.
//! - A covariate the file does not record must be drawn or set by the `population` block
//!   (otherwise E0050 names it); a covariate both recorded and drawn is E0006. Genotypes the file
//!   does not record are drawn from the ancestry's frequencies as usual.

use super::Checker;
use super::hir::{self, CohortColumn};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast;

/// Largest cohort file read, bytes.
pub const MAX_COHORT_BYTES: u64 = 256 << 20;
/// Most rows of a cohort.
pub const MAX_COHORT_ROWS: usize = 10_000_000;

impl Checker {
    /// Reads and checks the cohort file of `population from "path"`; `None` after reporting.
    pub(crate) fn cohort(&mut self, path: &ast::Name, resample: bool) -> Option<hir::Cohort> {
        let err = |c: &mut Checker, message: String, help: Option<&str>| {
            let mut d = Diagnostic::error(codes::E0050, message, path.span);
            if let Some(h) = help {
                d = d.with_help(h.to_string());
            }
            c.report(d);
            None
        };
        let full = match &self.base_dir {
            Some(dir) if std::path::Path::new(&path.text).is_relative() => dir.join(&path.text),
            _ => std::path::PathBuf::from(&path.text),
        };
        match std::fs::metadata(&full) {
            Ok(m) if m.len() > MAX_COHORT_BYTES => {
                return err(
                    self,
                    format!(
                        "`{}` has {} bytes; a cohort file may have at most {MAX_COHORT_BYTES}",
                        path.text,
                        m.len()
                    ),
                    Some("split the cohort, or `resample` from a smaller one"),
                );
            }
            Ok(_) => {}
            Err(e) => {
                return err(
                    self,
                    format!("cannot read the cohort `{}`: {e}", full.display()),
                    Some("the path is relative to the directory of the .twin file"),
                );
            }
        }
        let text = match std::fs::read(&full) {
            Ok(b) => b,
            Err(e) => {
                return err(
                    self,
                    format!("cannot read the cohort `{}`: {e}", full.display()),
                    None,
                );
            }
        };
        match self.read_cohort(&text, path, resample) {
            Ok(c) => Some(c),
            Err(message) => err(self, format!("`{}`: {message}", path.text), None),
        }
    }

    fn read_cohort(
        &mut self,
        bytes: &[u8],
        path: &ast::Name,
        resample: bool,
    ) -> Result<hir::Cohort, String> {
        let Some((covariates, genotypes)) = self
            .model
            .as_ref()
            .map(|m| (m.covariates.clone(), m.genotypes.clone()))
        else {
            return Err("no model to read it for".into());
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let mut records = reader.records();
        let header = match records.next() {
            Some(Ok(h)) => h,
            Some(Err(e)) => return Err(format!("the header cannot be read: {e}")),
            None => return Err("the file is empty; it needs a header row".into()),
        };
        let header_line = header.position().map_or(1, |p| p.line() as usize);
        // Which column feeds what, with its unit factor.
        let mut columns: Vec<(usize, CohortColumn, f64)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (k, cell) in header.iter().enumerate() {
            let (name, unit) = crate::dataset::split_unit(cell)
                .map_err(|m| format!("row {header_line}, column `{cell}`: {m}"))?;
            let (name, unit) = (name.as_str(), unit.as_deref());
            if names.iter().any(|n| n == name) {
                return Err(format!(
                    "row {header_line}, column `{name}`: the column is given twice"
                ));
            }
            names.push(name.to_string());
            if let Some(i) = covariates.iter().position(|c| c.name == name) {
                let factor = match (unit, covariates[i].unit) {
                    (Some(u), Some(to)) => {
                        super::unit_factor(&self.units, path.span.file, u, to)
                            .map_err(|e| format!("row {header_line}, column `{name}`: {e}"))?
                    }
                    (Some(u), None) => {
                        return Err(format!(
                            "row {header_line}, column `{name}`: `{name}` is categorical; its column takes level names, not a unit (`{u}`)"
                        ));
                    }
                    (None, _) => 1.0,
                };
                columns.push((k, CohortColumn::Covariate(i), factor));
            } else if let Some(i) = genotypes.iter().position(|g| g.name == name) {
                if let Some(u) = unit {
                    return Err(format!(
                        "row {header_line}, column `{name}`: a genotype column takes diplotype names, not a unit (`{u}`)"
                    ));
                }
                columns.push((k, CohortColumn::Genotype(i), 1.0));
            }
        }
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for rec in records {
            let rec = rec.map_err(|e| format!("{e}"))?;
            let line = rec.position().map_or(0, |p| p.line() as usize);
            if rec.iter().all(str::is_empty) {
                continue;
            }
            if rec.len() != header.len() {
                return Err(format!(
                    "row {line}: {} cells for {} columns",
                    rec.len(),
                    header.len()
                ));
            }
            if rows.len() >= MAX_COHORT_ROWS {
                return Err(format!("more than {MAX_COHORT_ROWS} rows"));
            }
            let mut values = Vec::with_capacity(columns.len());
            for &(k, target, factor) in &columns {
                let cell = rec.get(k).unwrap_or("");
                let at = || format!("row {line}, column `{}`, value `{cell}`", names[k]);
                if cell.is_empty() || cell == "." {
                    return Err(format!("{}: the value is missing", at()));
                }
                let v = match target {
                    CohortColumn::Covariate(i) if covariates[i].unit.is_some() => {
                        let x: f64 = cell
                            .parse()
                            .map_err(|_| format!("{}: not a number", at()))?;
                        let x = x * factor;
                        if !x.is_finite() {
                            return Err(format!("{}: not a finite number", at()));
                        }
                        x
                    }
                    CohortColumn::Covariate(i) => {
                        let levels = &covariates[i].levels;
                        levels.iter().position(|l| l == cell).ok_or_else(|| {
                            format!(
                                "{}: not a level of `{}` ({})",
                                at(),
                                names[k],
                                levels.join(", ")
                            )
                        })? as f64
                    }
                    CohortColumn::Genotype(i) => {
                        let gene = &self.program.genes[genotypes[i].gene];
                        let flipped = cell
                            .split_once('/')
                            .map(|(a, b)| format!("{b}/{a}"))
                            .unwrap_or_default();
                        gene.diplotype_names
                            .iter()
                            .position(|d| d == cell || *d == flipped)
                            .ok_or_else(|| format!("{}: not a diplotype of {}", at(), gene.name))?
                            as f64
                    }
                };
                values.push(v);
            }
            rows.push(values);
            lines.push(line);
        }
        if rows.is_empty() {
            return Err("the file has a header but no rows".into());
        }
        Ok(hir::Cohort {
            path: path.text.clone(),
            columns: columns.into_iter().map(|(_, c, _)| c).collect(),
            rows,
            lines,
            resample,
        })
    }
}
