//! Helpers shared by the integration tests: compile a source, run one patient and read its CSV
//! back, evaluate a param at the typical patient. Each test binary uses some of them.

use twin::check::consts::{EvalError, Leaves, eval_in};
use twin::check::hir::{self, Sym};
use twin::cmd::run::{Failure, Request, execute};
use twin::driver::{Compilation, compile};
use twin::source::Span;

/// Runs a request and returns (headers, rows); panics with the rendered report on failure.
#[allow(dead_code)]
pub fn table(req: &Request) -> (Vec<String>, Vec<Vec<f64>>) {
    let out = match execute(req) {
        Ok(o) => o,
        Err(Failure::Diagnostics(c, d)) => {
            panic!("{}", twin::diagnostic::render(&c.sources, &d, false))
        }
        Err(f) => panic!("run failed: {f}"),
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
#[allow(dead_code)]
pub fn column(headers: &[String], name: &str) -> usize {
    headers
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {headers:?}"))
}

/// Values of a model's params at the typical patient: params are evaluated from their definitions,
/// covariates take their defaults (genotypes are not available).
#[allow(dead_code)]
struct Typical<'a> {
    model: &'a hir::Model,
    fns: &'a [hir::Function],
}

impl Leaves for Typical<'_> {
    fn sym(&mut self, s: Sym, span: Span) -> Result<f64, EvalError> {
        match s {
            Sym::Param(i) => {
                let e = &self.model.params[i].value;
                let (model, fns) = (self.model, self.fns);
                eval_in(e, fns, &mut Typical { model, fns })
            }
            Sym::Covariate(i) => Ok(self.model.covariates[i].default),
            _ => Err(EvalError::new("not available at the typical patient", span)),
        }
    }
}

/// The value of param `name` of `model` at the typical patient, by the checker's own evaluator.
#[allow(dead_code)]
pub fn typical_param(c: &Compilation, model: &str, name: &str) -> f64 {
    let m = c
        .program
        .models
        .iter()
        .find(|m| m.name == model)
        .unwrap_or_else(|| panic!("no model {model}"));
    let p = m
        .params
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no param {name} in {model}"));
    eval_in(
        &p.value,
        &c.program.fns,
        &mut Typical {
            model: m,
            fns: &c.program.fns,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {}", e.message))
}

/// Compiles a source text; panics with the rendered report if it has errors.
#[allow(dead_code)]
pub fn compiled(name: &str, text: &str) -> Compilation {
    let c = compile(name, text);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    c
}

/// A file of the repository as text; panics naming the path if it cannot be read.
#[allow(dead_code)]
pub fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
