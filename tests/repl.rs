//! Scripted REPL sessions: each `tests/repl/*.txt` is a sequence of input lines fed to a
//! [`Session`]; the transcript (inputs prefixed with `> `, then what the session printed) is an
//! insta snapshot. Closed-form checks (the Bateman function) and the real binary with piped stdin
//! are tested besides.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use twin::repl::{Session, Step};

/// A scratch directory for one test (`:plot` output, files to reload).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twin-repl-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Replaces what differs between runs: timings and the scratch directory.
fn mask(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "$OUT");
    text.lines()
        .map(|l| {
            if l.starts_with("reloaded ") {
                // `in 0.4 ms (check 0.2 ms, native code 0.2 ms)` → `in N ms (check N ms, …)`.
                let words: Vec<&str> = l.split(' ').collect();
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let next_is_ms =
                            words.get(i + 1) == Some(&"ms") || words.get(i + 1) == Some(&"ms,");
                        let next_is_ms =
                            next_is_ms || words.get(i + 1).is_some_and(|n| n.starts_with("ms"));
                        if next_is_ms && w.chars().all(|c| c.is_ascii_digit() || c == '.') {
                            "N".to_string()
                        } else {
                            w.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Feeds `lines` to `s` and returns the transcript.
fn feed_all<'a>(s: &mut Session, lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str("> ");
        out.push_str(line);
        out.push('\n');
        match s.feed(line) {
            Step::More => {}
            Step::Done(r) | Step::Quit(r) => out.push_str(&r.text()),
        }
    }
    if let Some(r) = s.finish() {
        out.push_str("(end of input)\n");
        out.push_str(&r.text());
    }
    out
}

/// Runs `tests/repl/NAME.txt` and returns the session and its masked transcript.
fn script(name: &str) -> (Session, String) {
    let path = format!("tests/repl/{name}.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let dir = scratch(name);
    let mut s = Session::new(false);
    s.set_out_dir(&dir);
    let t = feed_all(&mut s, text.lines());
    let t = mask(&t, &dir);
    (s, t)
}

#[test]
fn units() {
    let (_, t) = script("units");
    assert!(t.contains("> 5 mg / 2 L\n2.5 mg/L\n"), "{t}");
    assert!(t.contains("L/h — volume/time (clearance or flow)"), "{t}");
    assert!(t.contains("2500 ng/mL"), "{t}");
    insta::assert_snapshot!("units", t);
}

#[test]
fn errors() {
    let (_, t) = script("errors");
    assert!(t.contains("unclosed `{`"), "{t}");
    assert!(
        t.contains("> 10 IU / 2 L\n5 IU/L\n"),
        "the session carries on after errors:\n{t}"
    );
    insta::assert_snapshot!("errors", t);
}

#[test]
fn declarations() {
    let (s, t) = script("declarations");
    assert!(t.contains("> double(3 mg)\n6 mg\n"), "{t}");
    assert!(
        t.contains("> quad(1 mg)\n9 mg\n"),
        "a replaced function is used by later ones:\n{t}"
    );
    assert_eq!(s.current_model(), Some("Tiny"));
    insta::assert_snapshot!("declarations", t);
}

/// C(t) = D·ka / (V·(ka − k)) · (e^(−k·t) − e^(−ka·t)) with k = CL/V.
fn bateman(t: f64) -> f64 {
    let (dose, ka, cl, v) = (100.0, 1.0, 5.0, 50.0);
    let k = cl / v;
    dose * ka / (v * (ka - k)) * ((-k * t).exp() - (-ka * t).exp())
}

#[test]
fn one_compartment() {
    let (mut s, t) = script("one_compartment");
    insta::assert_snapshot!("one_compartment", t);
    // The 24 h run (every 2 h) shows the 2 h row; compare it with the Bateman function.
    let table = t
        .split("> :run until 24 h every 2 h\n")
        .nth(1)
        .expect("the 24 h run");
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some("2"))
        .expect("a row at 2 h");
    let printed: f64 = row
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a concentration");
    let exact = bateman(2.0);
    assert!(
        ((printed - exact) / exact).abs() < 1e-4,
        "printed {printed}, Bateman {exact}"
    );
    // And the full-precision value of the last single-dose run.
    s.feed(":dose clear");
    s.feed(":dose 100 mg into depot");
    s.feed(":run until 24 h every 2 h");
    let run = s.last_run().expect("a run");
    let got = run.value_at("conc", 2.0).expect("conc at 2 h");
    assert!(((got - exact) / exact).abs() < 1e-5, "{got} vs {exact}");
    // `:ir` prints the IR of the current model.
    match s.feed(":ir") {
        Step::Done(r) => assert!(r.out.starts_with("module OneCompartmentOral"), "{}", r.out),
        other => panic!("{other:?}"),
    }
    // `:plot` wrote an SVG.
    let svg = scratch("one_compartment").join("twin-OneCompartmentOral-conc.svg");
    let text = std::fs::read_to_string(&svg).expect("the plot");
    assert!(text.starts_with("<svg"), "{text}");
}

#[test]
fn set_with_units() {
    let (_, t) = script("set");
    // 176.37 lb = 80.0001 kg: v = 50 L · weight / 70 kg.
    assert!(
        t.contains("> :set weight = 80000 g\nweight = 80 kg\n"),
        "{t}"
    );
    assert!(t.contains("> v\n57.14285714 L\n"), "{t}");
    insta::assert_snapshot!("set", t);
}

#[test]
fn warfarin_genotypes() {
    let (_, t) = script("warfarin");
    assert!(t.contains("cyp2c9 = *1/*3"), "{t}");
    insta::assert_snapshot!("warfarin", t);
}

#[test]
fn reload() {
    let dir = scratch("reload");
    let file = dir.join("model.twin");
    let write = |k: &str| {
        std::fs::write(
            &file,
            format!(
                "model M {{\n    param k: 1/h = {k}\n    compartment c: mg\n    flow c -> out = k * c\n    observe amount: mg = c\n}}\n"
            ),
        )
        .expect("write");
    };
    write("0.1 /h");
    let mut s = Session::new(false);
    let mut t = feed_all(&mut s, [format!(":load {}", file.display()).as_str(), "k"]);
    write("0.2 /h");
    t += &feed_all(&mut s, [":reload", "k"]);
    write("0.3 mg");
    t += &feed_all(&mut s, [":reload", "k"]);
    write("0.4 /h");
    t += &feed_all(&mut s, ["unit IU", ":reload", "k", "1 IU"]);
    let t = mask(&t, &dir);
    assert!(t.contains("> k\n0.2 /h\n"), "{t}");
    assert!(t.contains("> k\n0.4 /h\n"), "{t}");
    insta::assert_snapshot!("reload", t);
}

#[test]
fn brace_counting_and_completion() {
    use twin::repl::session::{complete, unclosed_brace};
    assert_eq!(unclosed_brace("model M {"), Some(8));
    assert_eq!(unclosed_brace("model M { x }"), None);
    assert_eq!(unclosed_brace("// {\n\"{\""), None);
    let mut s = Session::new(false);
    s.feed(":load examples/one_compartment_oral.twin");
    let words = s.completions();
    let (start, c) = complete(&words, "cl / ce", 7);
    assert_eq!(
        (start, c),
        (5, vec!["ceil".to_string(), "central".to_string()])
    );
    let (_, c) = complete(&words, ":re", 3);
    assert_eq!(c, vec![":reload".to_string()]);
    let (_, c) = complete(&words, "5 n", 3);
    assert!(
        c.contains(&"ng".to_string()) && c.contains(&"nM".to_string()),
        "{c:?}"
    );
    let (_, c) = complete(&words, "One", 3);
    assert_eq!(c, vec!["OneCompartmentOral".to_string()]);
}

/// The "Done when" example, through the real binary with piped stdin.
#[test]
fn binary_piped() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("twin runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"5 mg / 2 L\n:type 10 L/h\n")
            .expect("write");
    }
    let out = child.wait_with_output().expect("twin exits");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2.5 mg/L\nL/h — volume/time (clearance or flow)\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Errors do not change the exit code; an unreadable FILE does.
#[test]
fn binary_exit_codes() {
    let run = |args: &[&str], input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("twin runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(input).expect("write");
        }
        child.wait_with_output().expect("twin exits")
    };
    let out = run(&["repl"], b"5 mg + 2 L\nmodel X {\n");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0007") && err.contains("unclosed `{`"),
        "{err}"
    );
    let out = run(&["repl", "examples/one_compartment_oral.twin"], b"cl\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("5 L/h\n"));
    let out = run(&["repl", "no/such/file.twin"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// Nothing typed panics: every line of the examples and the stdlib, fed one by one (so blocks are
/// cut at arbitrary places when a line is skipped), then junk commands, then a failing solve.
#[test]
fn nothing_panics() {
    let mut s = Session::new(false);
    s.set_out_dir(scratch("nothing_panics"));
    let mut lines: Vec<String> = Vec::new();
    for dir in ["examples", "stdlib"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "twin"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            lines.extend(text.lines().map(str::to_string));
            // The same file with every third line dropped.
            lines.extend(
                text.lines()
                    .enumerate()
                    .filter(|(i, _)| i % 3 != 1)
                    .map(|(_, l)| l.to_string()),
            );
            lines.push("}".into());
            lines.push("}".into());
        }
    }
    for junk in [
        ":load",
        ":load /",
        ":load no/such.twin",
        ":reload",
        ":set",
        ":set =",
        ":set = 5",
        ":set x =",
        ":set clear",
        ":dose",
        ":dose clear",
        ":dose into",
        ":run until",
        ":run every x",
        ":run until -5 h",
        ":run until 0 h every 1 h",
        ":run foo",
        ":plot",
        ":plot a b c",
        ":ir",
        ":model",
        ":model nope",
        ":convert",
        ":convert to",
        ":convert 1 h to",
        ":convert 1 h to 5",
        ":convert 1 h to mg/",
        ":type )",
        "}}}}",
        "(((",
        "\"",
        "5 mg ^ 0.5",
        "1 / 0 mg",
        "10 ^ 400",
        "-",
        "µ",
        ":",
        "::",
        "::load",
        "max(1 mg)",
        "auc(conc)",
        "t",
        "activity",
        "1e999 mg",
        "0.0000000001 pg / 1e30 L",
    ] {
        lines.push(junk.to_string());
    }
    for l in &lines {
        let _ = s.feed(l);
    }
    let _ = s.finish();
    s.feed("model Blow { state x: 1 = 1; d/dt x = 10 /h * x * x; observe y: 1 = x }");
    match s.feed(":run until 10 h every 1 h") {
        Step::Done(r) => assert!(r.err.contains("the solver failed"), "{r:?}"),
        other => panic!("{other:?}"),
    }
    match s.feed("2 * 3 mg") {
        Step::Done(r) => assert_eq!(r.out, "6 mg\n"),
        other => panic!("{other:?}"),
    }
}
