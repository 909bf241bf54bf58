//! The `twin check`, `twin explain`, `twin trial` and `twin run --events` command lines: exit
//! codes, human and JSON diagnostics, failed patients, a streamed `--out` that is replaced only
//! when complete.

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

/// dx/dt = k·x² with x(0) = 1 blows up at t = 1/k: with `k_h` per hour and sampling until 2 h,
/// every patient whose k exceeds 0.5 /h fails.
fn blow_file(name: &str, k_h: f64) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("twin-cli-{}-{name}.twin", std::process::id()));
    let text = format!(
        "model Blow {{
    covariate weight: kg = 70 kg
    param k: 1/h = {k_h} /h * (weight / 70 kg)^4
    state x: 1 = 1
    d/dt x = k * x^2
    observe x
}}
trial T {{
    model Blow
    population 50 {{ weight ~ lognormal(median: 70 kg, cv: 20%) }}
    arm only {{ }}
    sample every 0.5 h until 2 h
    endpoint xmax = max(x)
}}
"
    );
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p
}

#[test]
fn trial_exit_code_counts_failed_patients() {
    // k = 0.4 /h at 70 kg: the heavier patients fail, the others finish: exit 0, a warning.
    let some = blow_file("some", 0.4);
    let (code, out, err) = twin(&["trial", &some.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    let failed: usize = warning["warning: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{warning}"));
    assert!(failed > 0 && failed < 50, "{warning}");
    assert!(warning.contains(&format!("{failed} of 50 patient-arm simulations failed")));
    assert!(err.contains("solve failed at t = "), "{err}");
    assert!(out.contains("failed"), "{out}");
    // k = 100 /h: every patient blows up before 0.5 h: exit 1 with the failures.
    let all = blow_file("all", 100.0);
    let (code, _, err) = twin(&["trial", &all.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: 50 of 50 patient-arm simulations failed"),
        "{err}"
    );
    assert!(err.contains("patient 0, arm only: solve failed"), "{err}");
}

/// `twin run --events --out`: the table is streamed into a temporary file beside `--out` and
/// renamed over it only when complete. A malformed row in the middle of the file (after
/// hundreds of subjects were written), or a subject that cannot be simulated, leaves the previous
/// file as it was, with no temporary left behind; a valid dataset then replaces it with exactly
/// what stdout gets.
#[test]
fn a_dataset_error_midway_leaves_the_previous_out_file_untouched() {
    let dir = std::env::temp_dir().join(format!("twin-cli-{}-stream", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let model = dir.join("m.twin");
    std::fs::write(
        &model,
        "model M {\n    covariate weight: kg = 70 kg\n    param v: L = 0.7 L/kg * weight\n    compartment depot: mg\n    compartment central: mg\n    flow depot -> central = 1 /h * depot\n    flow central -> out = 5 L/h / v * central\n    observe conc: mg/L = central / v\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dataset = |bad_at: Option<usize>| {
        let mut d = String::from("ID,TIME,AMT,CMT,EVID,weight\n");
        for i in 1..=600 {
            d.push_str(&format!("{i},0,100,depot,1,{}\n", 50 + i % 40));
            for t in 1..=5 {
                let evid = if bad_at == Some(i) && t == 3 {
                    "1.5"
                } else {
                    "0"
                };
                d.push_str(&format!("{i},{t},.,.,{evid},.\n"));
            }
        }
        d
    };
    let (good, bad) = (dir.join("good.csv"), dir.join("bad.csv"));
    std::fs::write(&good, dataset(None)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&bad, dataset(Some(500))).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("pred.csv");
    std::fs::write(&out, "the previous run\n").unwrap_or_else(|e| panic!("{e}"));
    let (m, o) = (model.display().to_string(), out.display().to_string());
    let (code, stdout, err) = twin(&[
        "run",
        &m,
        "--events",
        &bad.display().to_string(),
        "--out",
        &o,
    ]);
    assert_eq!(code, 2, "{err}");
    // Row 1 is the header; subject i's rows are 6(i−1)+2 … 6i+1: subject 500's third
    // observation is row 6·499 + 5.
    assert!(
        err.contains(&format!("row {}, column EVID:", 6 * 499 + 5))
            && err.contains("(value `1.5`)"),
        "{err}"
    );
    assert!(err.contains("is unchanged"), "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "the previous run\n"
    );
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(), ["bad.csv", "good.csv", "m.twin", "pred.csv"]);
    // A subject that cannot be simulated (a negative weight makes a negative volume) stops the
    // run as before streaming: `subject ID: …`, exit 1, and the file is left as it was.
    let failing = dir.join("failing.csv");
    let text = dataset(None).replace("\n400,0,100,depot,1,50\n", "\n400,0,100,depot,1,-5\n");
    assert!(text.contains(",-5\n"));
    std::fs::write(&failing, text).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = twin(&[
        "run",
        &m,
        "--events",
        &failing.display().to_string(),
        "--out",
        &o,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: subject 400: ") && err.contains("outside its domain"),
        "{err}"
    );
    assert!(err.contains("is unchanged"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        "the previous run\n"
    );
    std::fs::remove_file(&failing).unwrap_or_else(|e| panic!("{e}"));
    // The valid dataset replaces the file: the same bytes as the table on stdout.
    let (code, _, err) = twin(&[
        "run",
        &m,
        "--events",
        &good.display().to_string(),
        "--out",
        &o,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = twin(&["run", &m, "--events", &good.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(written.lines().count(), 1 + 600 * 6);
    assert!(written == stdout, "--out and stdout differ");
    assert_eq!(names(), ["bad.csv", "good.csv", "m.twin", "pred.csv"]);
    let _ = std::fs::remove_dir_all(&dir);
}
