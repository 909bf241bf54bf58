//! Helpers shared by the integration tests: run one patient and read its CSV back.

use twin::run::{Failure, Request, execute};

/// Runs a request and returns (headers, rows); panics with the rendered report on failure.
pub fn table(req: &Request) -> (Vec<String>, Vec<Vec<f64>>) {
    let out = match execute(req) {
        Ok(o) => o,
        Err(Failure::Usage(m)) | Err(Failure::Solve(m)) => panic!("run failed: {m}"),
        Err(Failure::Diagnostics(c, d)) => {
            panic!("{}", twin::diagnostic::render(&c.sources, &d, false))
        }
    };
    let mut lines = out.csv.lines();
    let headers: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|c| c.parse::<f64>().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    (headers, rows)
}

/// The index of a column by its full header (`conc [mg/L]`).
pub fn column(headers: &[String], name: &str) -> usize {
    headers
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {headers:?}"))
}
