//! Snapshot tests of the front end over the case files in `tests/cases/`.
//!
//! Input: every `tests/cases/errors/*.twin` and `tests/cases/valid/*.twin` (sorted by name).
//! Output: one insta snapshot per case in `tests/snapshots/`, named after the case file, holding the
//! source and either the colourless diagnostic report (errors) or the stable text of every checked
//! model and trial (valid).
//!
//! Besides the snapshots:
//! - an error case starts with `// expect: CODE[, CODE…]`; every listed code must appear among its
//!   diagnostics. A case whose codes are all errors (`E…`) must have at least one error; a case whose
//!   codes are all warnings (`W…`) must have none, so it shows the warning on its own;
//! - a valid case has no errors;
//! - compiling the same text twice gives the same report (diagnostics are deterministic).
//!
//! Review a changed snapshot before accepting it (`cargo insta review`, or `INSTA_UPDATE=always`
//! followed by reading the diff).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use twin::diagnostic::{self, Severity};
use twin::driver::{Compilation, compile};

/// The `.twin` files of `tests/cases/<dir>`, sorted.
fn case_files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "twin"))
        .collect();
    files.sort();
    files
}

/// The case's name (file stem) and its path relative to the crate root, as passed to `compile`.
fn names(path: &Path, dir: &str) -> (String, String) {
    let stem = path
        .file_stem()
        .expect("file stem")
        .to_string_lossy()
        .into_owned();
    (stem.clone(), format!("tests/cases/{dir}/{stem}.twin"))
}

/// The codes listed on the first line, `// expect: E0007` or `// expect: E0005, E0007`.
fn expected_codes(stem: &str, text: &str) -> Vec<String> {
    let first = text.lines().next().unwrap_or("");
    let Some(list) = first.trim().strip_prefix("// expect:") else {
        panic!("error case `{stem}` must start with `// expect: E00xx`, found {first:?}");
    };
    let codes: Vec<String> = list
        .split([',', ' '])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    assert!(
        !codes.is_empty(),
        "error case `{stem}` names no code on its `// expect:` line"
    );
    for c in &codes {
        assert!(
            diagnostic::codes::lookup(c).is_some_and(|i| i.code == c),
            "error case `{stem}` expects `{c}`, which is not a diagnostic code"
        );
    }
    codes
}

fn report(c: &Compilation) -> String {
    diagnostic::render(&c.sources, &c.diagnostics, false)
}

fn summary(c: &Compilation) -> String {
    c.diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compiles the case twice and checks that both runs report the same.
fn compile_checked(stem: &str, rel: &str, text: &str) -> Compilation {
    let c = compile(rel, text);
    let again = compile(rel, text);
    assert_eq!(
        report(&c),
        report(&again),
        "case `{stem}`: two compilations of the same text report differently"
    );
    c
}

fn snapshot(dir: &str, stem: &str, rel: &str, body: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(rel);
    settings.bind(|| insta::assert_snapshot!(format!("{dir}__{stem}"), body));
}

/// Runs `check` on every case of `dir`, collecting the failures so one run lists all of them.
fn run_dir(dir: &str, min_cases: usize, check: impl Fn(&str, &str, &str)) {
    let files = case_files(dir);
    assert!(
        files.len() >= min_cases,
        "expected at least {min_cases} cases in tests/cases/{dir}, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let (stem, rel) = names(path, dir);
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&stem, &rel, &text))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            failures.push(format!("{rel}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases in tests/cases/{dir} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn error_cases() {
    run_dir("errors", 45, |stem, rel, text| {
        let expected = expected_codes(stem, text);
        let c = compile_checked(stem, rel, text);
        for code in &expected {
            assert!(
                c.diagnostics.iter().any(|d| d.code == code),
                "case `{stem}` expects {code}, but the diagnostics are:\n{}",
                summary(&c)
            );
        }
        if expected.iter().all(|c| c.starts_with('E')) {
            assert!(
                c.has_errors(),
                "case `{stem}` must have an error, but the diagnostics are:\n{}",
                summary(&c)
            );
        } else if expected.iter().all(|c| c.starts_with('W')) {
            assert!(
                !c.has_errors(),
                "warning case `{stem}` must have no error, but the diagnostics are:\n{}",
                summary(&c)
            );
            for code in &expected {
                assert!(
                    c.diagnostics
                        .iter()
                        .any(|d| d.code == code && d.severity == Severity::Warning),
                    "case `{stem}`: {code} must be a warning"
                );
            }
        }
        let body = format!(
            "---- source: {rel}\n{text}\n---- diagnostics\n{}",
            report(&c)
        );
        snapshot("errors", stem, rel, &body);
    });
}

#[test]
fn valid_cases() {
    run_dir("valid", 8, |stem, rel, text| {
        let c = compile_checked(stem, rel, text);
        assert!(
            !c.has_errors(),
            "valid case `{stem}` has errors:\n{}",
            report(&c)
        );
        let mut body = format!("---- source: {rel}\n{text}\n");
        let models: Vec<_> = c
            .program
            .models
            .iter()
            .filter(|m| m.span.file == c.file)
            .collect();
        let trials: Vec<_> = c
            .program
            .trials
            .iter()
            .filter(|t| t.span.file == c.file)
            .collect();
        assert!(!models.is_empty(), "valid case `{stem}` declares no model");
        for m in models {
            body.push_str("---- checked\n");
            body.push_str(&twin::check::print::model(&c.program, m, &c.units));
        }
        for t in trials {
            body.push_str("---- checked\n");
            body.push_str(&twin::check::print::trial(&c.program, t, &c.units));
        }
        if !c.diagnostics.is_empty() {
            body.push_str("---- diagnostics\n");
            body.push_str(&report(&c));
        }
        snapshot("valid", stem, rel, &body);
    });
}
