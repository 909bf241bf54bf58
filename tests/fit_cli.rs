//! `twin fit`, `twin plot` on its directory and `twin run --twin` through the binary: exit codes,
//! the files written, and the messages for bad input (a malformed dataset names its row and
//! column; an unknown subject lists the fitted ones; a failed run leaves `--out` unchanged).

use std::process::Command;

fn twin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run twin: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fit_plot_and_forecast_through_the_command_line() {
    let dir = std::env::temp_dir().join(format!("twin-fit-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("fit");
    let out_s = out.to_str().expect("path");
    let (code, stdout, stderr) = twin(&[
        "fit",
        "examples/theophylline.twin",
        "--data",
        "examples/data/theoph_nm.csv",
        "--out",
        out_s,
        "--draws",
        "20",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("12 subject(s), 12 converged"), "{stdout}");
    for f in ["individuals.csv", "predictions.csv", "fit.json"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // The same fit on one thread: the same bytes.
    let out1 = dir.join("fit1");
    let (code, _, stderr) = twin(&[
        "fit",
        "examples/theophylline.twin",
        "--data",
        "examples/data/theoph_nm.csv",
        "--out",
        out1.to_str().expect("path"),
        "--draws",
        "20",
        "--threads",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for f in ["individuals.csv", "predictions.csv", "fit.json"] {
        assert_eq!(
            std::fs::read(out.join(f)).expect("read"),
            std::fs::read(out1.join(f)).expect("read"),
            "{f}"
        );
    }
    // Plot.
    let svg = dir.join("fit.svg");
    let (code, _, stderr) = twin(&["plot", out_s, "--out", svg.to_str().expect("path")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::read_to_string(&svg).expect("svg").contains("<svg"));
    // Forecast subject 1 with a second dose.
    let (code, stdout, stderr) = twin(&[
        "run",
        "examples/theophylline.twin",
        "--twin",
        out_s,
        "--id",
        "1",
        "--dose",
        "320 mg into gut at 24 h",
        "--until",
        "48h",
        "--every",
        "12h",
        "--draws",
        "20",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let header = stdout.lines().next().unwrap_or_default();
    assert_eq!(
        header,
        "time [h],gut [mg],central [mg],conc [mg/L],conc 2.5% [mg/L],conc 97.5% [mg/L]"
    );
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
    // An unknown subject lists the fitted ones.
    let (code, _, stderr) = twin(&[
        "run",
        "examples/theophylline.twin",
        "--twin",
        out_s,
        "--id",
        "99",
        "--until",
        "24h",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no subject `99`") && stderr.contains("1, 2, 3"),
        "{stderr}"
    );
    // A malformed dataset: row and column named, exit 2, the fit directory unchanged.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "ID,TIME,AMT,CMT,EVID,DV\n1,0,320,gut,1,\n1,x,,gut,0,3.1\n",
    )
    .expect("write");
    let before = std::fs::read(out.join("individuals.csv")).expect("read");
    let (code, _, stderr) = twin(&[
        "fit",
        "examples/theophylline.twin",
        "--data",
        bad.to_str().expect("path"),
        "--out",
        out_s,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("row 3") && stderr.contains("TIME"),
        "{stderr}"
    );
    assert!(stderr.contains("is unchanged"), "{stderr}");
    assert_eq!(
        std::fs::read(out.join("individuals.csv")).expect("read"),
        before
    );
    // An unknown --estimate param gets a suggestion.
    let (code, _, stderr) = twin(&[
        "fit",
        "examples/theophylline.twin",
        "--data",
        "examples/data/theoph_nm.csv",
        "--estimate",
        "kee",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `ke`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn requests_beyond_the_limits_are_refused() {
    for (flag, value) in [("--starts", "1001"), ("--draws", "100001")] {
        let (code, _, stderr) = twin(&[
            "fit",
            "examples/theophylline.twin",
            "--data",
            "examples/data/theoph_nm.csv",
            flag,
            value,
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{flag} {value}: at most")),
            "{stderr}"
        );
    }
}
