//! The `twin check` and `twin explain` command lines: exit codes, human and JSON diagnostics.

use std::process::Command;

fn twin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bad_file() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("twin-cli-{}.twin", std::process::id()));
    std::fs::write(&p, "model M {\n    param x = 5 mg + 2 L\n    compartment central: mg\n    flow centrl -> out = 1 /h * central\n}\n").unwrap_or_else(|e| panic!("{e}"));
    p
}

#[test]
fn check_exit_codes_and_reports() {
    let examples: Vec<String> = std::fs::read_dir("examples")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".twin"))
        .collect();
    let mut args = vec!["check"];
    args.extend(examples.iter().map(String::as_str));
    let (code, _, err) = twin(&args);
    assert_eq!(code, 0, "{err}");

    let bad = bad_file();
    let (code, _, err) = twin(&["check", &bad.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("E0007") && err.contains("`mg` (mass)") && err.contains("`L` (volume)"),
        "{err}"
    );
    assert!(err.contains("did you mean `central`?"), "{err}");
}

#[test]
fn json_diagnostics_have_code_position_and_help() {
    let bad = bad_file();
    let (code, out, _) = twin(&["check", "--format", "json", &bad.display().to_string()]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let diags = v.as_array().cloned().unwrap_or_default();
    let mismatch = diags
        .iter()
        .find(|d| d["code"] == "E0007")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(mismatch["severity"], "error");
    assert_eq!(mismatch["span"]["start"]["line"], 2);
    assert_eq!(mismatch["span"]["start"]["column"], 15);
    assert_eq!(mismatch["labels"].as_array().map(Vec::len), Some(2));
    let typo = diags
        .iter()
        .find(|d| d["code"] == "E0021")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(typo["help"], "did you mean `central`?");
}

#[test]
fn explain_prints_an_example_and_rejects_unknown_codes() {
    let (code, out, _) = twin(&["explain", "E0007"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("E0007: incompatible units") && out.contains("Erroneous example"),
        "{out}"
    );
    let (code, _, err) = twin(&["explain", "E9999"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a twin diagnostic code"));
}
