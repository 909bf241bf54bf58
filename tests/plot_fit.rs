//! `twin plot` on a `twin fit --out` directory: the directory is made by fitting the theophylline
//! example through the library, then plotted, and the SVG is checked structurally — well-formed,
//! the expected titles and axis labels, the identity lines, one individual chart per ID up to 12,
//! one dot per DV row — and malformed files are input errors naming the line and column.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use twin::cmd::fit::{FitRequest, FitResult, fit};
use twin::plot::{FitPlotOptions, PlotError, PlotRequest, TrialPlots, fit_svg};

/// The width of the charts' plotting side; legends are drawn to the right of it.
const CHART_WIDTH: f64 = 760.0;

/// A scratch directory unique to this test process and `name`, emptied first.
fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("twin-plot-fit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

fn example(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The theophylline data with `extra` more subjects: copies of the first ones under new IDs.
fn theoph_data(extra: usize) -> String {
    let data = example("examples/data/theoph_nm.csv");
    let mut lines = data.lines();
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut out = format!("{header}\n");
    for r in &rows {
        out.push_str(r);
        out.push('\n');
    }
    for k in 0..extra {
        let (src, id) = ((k + 1).to_string(), (100 + k).to_string());
        for r in &rows {
            if let Some(rest) = r.strip_prefix(&format!("{src},")) {
                out.push_str(&format!("{id},{rest}\n"));
            }
        }
    }
    out
}

fn fit_theoph(extra: usize) -> FitResult {
    let req = FitRequest {
        name: "theophylline.twin".into(),
        text: example("examples/theophylline.twin"),
        data: theoph_data(extra),
        draws: 20,
        starts: 1,
        seed: 1,
        ..Default::default()
    };
    fit(&req).unwrap_or_else(|e| panic!("fit failed: {e}"))
}

/// The fit of the 12 theophylline subjects, made once.
fn theoph() -> &'static FitResult {
    static FIT: OnceLock<FitResult> = OnceLock::new();
    FIT.get_or_init(|| fit_theoph(0))
}

/// Writes `result` as a fit directory.
fn fit_dir(name: &str, result: &FitResult) -> PathBuf {
    let d = scratch(name).join("fit");
    result
        .write(&d)
        .unwrap_or_else(|e| panic!("writing the fit: {e}"));
    d
}

/// Checks that `svg` is one `<svg>` element whose tags are balanced.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let j = rest.find('>').expect("unterminated tag");
        let tag = &rest[..j];
        rest = &rest[j + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag.split_whitespace().next().unwrap_or_default();
            stack.push(name.to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

/// The text content of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let start = t.find('>')? + 1;
            let end = t.find("</text>")?;
            Some(t[start..end].trim().to_string())
        })
        .collect()
}

/// Every element `<TAG …>` of `svg` whose attributes contain `attr`.
fn elements<'s>(svg: &'s str, tag: &str, attr: &str) -> Vec<&'s str> {
    svg.split(&format!("<{tag} "))
        .skip(1)
        .filter_map(|e| e.split('>').next())
        .filter(|e| e.contains(attr))
        .collect()
}

/// The number in attribute `name` of an element.
fn attr(element: &str, name: &str) -> Option<f64> {
    element
        .split(&format!(" {name}=\""))
        .nth(1)
        .or_else(|| element.split(&format!("{name}=\"")).nth(1))?
        .split('"')
        .next()?
        .parse()
        .ok()
}

/// The numbers of a `points="x,y x,y …"` attribute.
fn points(element: &str) -> Vec<(f64, f64)> {
    let Some(start) = element.find("points=\"") else {
        return Vec::new();
    };
    let rest = &element[start + 8..];
    let end = rest.find('"').unwrap_or(rest.len());
    rest[..end]
        .split_whitespace()
        .filter_map(|p| {
            let (x, y) = p.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

/// Data dots (circles left of the legends) in `svg`.
fn dots(svg: &str) -> usize {
    elements(svg, "circle", "cx=")
        .into_iter()
        .filter(|c| attr(c, "cx").is_some_and(|x| x < CHART_WIDTH))
        .count()
}

/// The part of `svg` from the first individual chart's title on.
fn individual_part(svg: &str) -> &str {
    let at = svg.find(">\nIndividual fits").expect("individual charts");
    &svg[at..]
}

/// The titles of the individual charts (`ID 7`, the first with its prefix).
fn individual_titles(t: &[String]) -> Vec<String> {
    t.iter()
        .filter(|x| {
            x.starts_with("Individual fits")
                || x.strip_prefix("ID ")
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

/// (rows with DV, with DV and IPRED, with DV and PRED, with IWRES) of `result`, for the first
/// `ids` subjects.
fn counts(result: &FitResult, ids: usize) -> (usize, usize, usize, usize) {
    let mut c = (0, 0, 0, 0);
    for (i, s) in result.subjects.iter().enumerate() {
        for p in &s.predictions {
            let dv = p.dv.is_some();
            if i < ids {
                c.0 += dv as usize;
            }
            c.1 += (dv && p.ipred.is_finite()) as usize;
            c.2 += (dv && p.pred.is_finite()) as usize;
            c.3 += p.iwres.is_finite() as usize;
        }
    }
    c
}

#[test]
fn fit_directory_charts() {
    let result = theoph();
    assert_eq!(result.subjects.len(), 12);
    let d = fit_dir("charts", result);
    let out = d.parent().expect("parent").join("fit.svg");
    // Through `run`, as `twin plot DIR --out fit.svg` does: the directory is recognised.
    let req = PlotRequest {
        input: d.clone(),
        out: out.clone(),
        ..Default::default()
    };
    let msg = twin::plot::run(&req).expect("plots");
    assert!(msg.contains("fit.svg"), "{msg}");
    let svg = std::fs::read_to_string(&out).expect("svg written");
    assert_well_formed(&svg);
    let t = texts(&svg);
    for want in [
        "Theophylline: goodness of fit",
        "conc [mg/L]: DV vs IPRED",
        "conc [mg/L]: DV vs PRED",
        "IPRED [mg/L]",
        "PRED [mg/L]",
        "DV [mg/L]",
        "identity (y = x)",
        "IWRES vs time",
        "IWRES",
        "±1.96",
        "time [h]",
        "Individual fits — ID 1",
        "conc [mg/L]",
        "IPRED 2.5–97.5 %",
    ] {
        assert!(t.iter().any(|x| x == want), "no `{want}` in {t:?}");
    }
    // One individual chart per ID, in file order, and no note about IDs left out.
    let titles = individual_titles(&t);
    let ids: Vec<String> = result.subjects.iter().map(|s| s.id.clone()).collect();
    assert_eq!(titles.len(), 12, "{titles:?}");
    for (title, id) in titles.iter().zip(&ids) {
        assert!(title.ends_with(&format!("ID {id}")), "{title} for {id}");
    }
    assert!(!t.iter().any(|x| x.contains("first 12")), "{t:?}");

    // Dots: DV vs IPRED, DV vs PRED, IWRES, and each DV row once in the individual charts.
    let (dv, dv_ipred, dv_pred, iwres) = counts(result, 12);
    let table = std::fs::read_to_string(d.join("predictions.csv")).expect("predictions.csv");
    let dv_rows = table
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(4).is_some_and(|c| !c.is_empty()))
        .count();
    assert_eq!(dv, dv_rows);
    assert!(dv > 100, "{dv} observations");
    let individual = individual_part(&svg);
    assert_eq!(dots(individual), dv, "one dot per DV row");
    assert_eq!(
        elements(individual, "circle", "fill=\"#404040\"")
            .into_iter()
            .filter(|c| attr(c, "cx").is_some_and(|x| x < CHART_WIDTH))
            .count(),
        dv
    );
    assert_eq!(dots(&svg), dv_ipred + dv_pred + iwres + dv);
    assert!(t.iter().any(|x| x == &format!("observations ({dv_ipred})")));
    assert!(t.iter().any(|x| x == &format!("IWRES ({iwres})")));

    // The identity lines: dark grey dashes, not horizontal (the ±1.96 lines are), in two groups
    // (the two scatter charts), each on one straight line rising to the right.
    let gof = &svg[..svg.find(">\nIWRES vs time").expect("IWRES chart")];
    let mut diagonal: Vec<(f64, f64)> = elements(gof, "polyline", "stroke=\"#404040\"")
        .into_iter()
        .map(points)
        .filter(|p| p.len() >= 2 && p.iter().all(|q| q.0 < CHART_WIDTH))
        .filter(|p| (p[0].1 - p[p.len() - 1].1).abs() > 0.5)
        .flatten()
        .collect();
    assert!(diagonal.len() > 40, "dashes: {}", diagonal.len());
    diagonal.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut groups: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for p in diagonal {
        if let Some(last) = groups.last().and_then(|g| g.last())
            && p.1 - last.1 > 50.0
        {
            groups.push(Vec::new());
        }
        groups.last_mut().expect("a group").push(p);
    }
    assert_eq!(groups.len(), 2, "two identity lines");
    for g in &groups {
        let left = g
            .iter()
            .copied()
            .fold((f64::INFINITY, 0.0), |a, p| if p.0 < a.0 { p } else { a });
        let right = g.iter().copied().fold(
            (f64::NEG_INFINITY, 0.0),
            |a, p| {
                if p.0 > a.0 { p } else { a }
            },
        );
        assert!(
            right.0 - left.0 > 500.0,
            "spans the chart: {left:?} {right:?}"
        );
        assert!(right.1 < left.1 - 200.0, "rises: {left:?} {right:?}");
        let slope = (right.1 - left.1) / (right.0 - left.0);
        for p in g {
            let on = left.1 + slope * (p.0 - left.0);
            assert!(
                (p.1 - on).abs() <= 2.0,
                "{p:?} off the line by {}",
                p.1 - on
            );
        }
    }
    // The ±1.96 lines: horizontal dark grey dashes in the IWRES chart.
    let iwres_part = &svg[svg.find(">\nIWRES vs time").expect("IWRES")..];
    let iwres_part = &iwres_part[..iwres_part.find(">\nIndividual fits").expect("individual")];
    let flat = elements(iwres_part, "polyline", "stroke=\"#404040\"")
        .into_iter()
        .map(points)
        .filter(|p| p.len() >= 2 && p.iter().all(|q| q.0 < CHART_WIDTH))
        .filter(|p| (p[0].1 - p[p.len() - 1].1).abs() < 0.5)
        .count();
    assert!(flat > 40, "dashed ±1.96 lines: {flat}");
}

#[test]
fn log_scale_and_title() {
    let d = fit_dir("log", theoph());
    let opts = FitPlotOptions {
        log: true,
        title: Some("Theophylline fit".into()),
        ..Default::default()
    };
    let svg = fit_svg(&d, &opts).expect("plots");
    assert_well_formed(&svg);
    let t = texts(&svg);
    for want in [
        "Theophylline fit",
        "conc [mg/L]: DV vs IPRED, log scale",
        "conc [mg/L]: DV vs PRED, log scale",
        "IWRES vs time",
    ] {
        assert!(t.iter().any(|x| x == want), "no `{want}` in {t:?}");
    }
    assert!(!t.iter().any(|x| x.contains("goodness of fit")), "{t:?}");
    // Values ≤ 0 (the samples before the dose) are left out and counted.
    let (dv, ..) = counts(theoph(), 12);
    let zero_dv = theoph()
        .subjects
        .iter()
        .flat_map(|s| &s.predictions)
        .filter(|p| p.dv.is_some_and(|v| v <= 0.0))
        .count();
    assert!(zero_dv > 0);
    assert_eq!(dots(individual_part(&svg)), dv - zero_dv);
    assert!(t.iter().any(|x| x.ends_with("≤ 0 not shown")), "{t:?}");
    // --columns chooses observables by name; an unknown one is a usage error.
    let conc = FitPlotOptions {
        observables: Some(vec!["conc [mg/L]".into()]),
        ..Default::default()
    };
    fit_svg(&d, &conc).expect("conc by its header");
    let auc = FitPlotOptions {
        observables: Some(vec!["auc".into()]),
        ..Default::default()
    };
    match fit_svg(&d, &auc) {
        Err(PlotError::Usage(m)) => assert!(m.contains("`auc`") && m.contains("conc"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_than_twelve_ids_are_capped() {
    let result = fit_theoph(2);
    assert_eq!(result.subjects.len(), 14);
    let d = fit_dir("cap", &result);
    let svg = fit_svg(&d, &FitPlotOptions::default()).expect("plots");
    assert_well_formed(&svg);
    let t = texts(&svg);
    let titles = individual_titles(&t);
    assert_eq!(titles.len(), 12, "{titles:?}");
    assert_eq!(titles[0], "Individual fits (first 12 of 14 IDs) — ID 1");
    assert!(!titles.iter().any(|x| x == "ID 100" || x == "ID 101"));
    let (dv, dv_ipred, ..) = counts(&result, 12);
    assert_eq!(dots(individual_part(&svg)), dv);
    // The scatter charts still show every subject.
    assert!(t.iter().any(|x| x == &format!("observations ({dv_ipred})")));
}

#[test]
fn malformed_fit_directories_are_input_errors() {
    let d = fit_dir("bad", theoph());
    let good = std::fs::read_to_string(d.join("predictions.csv")).expect("predictions.csv");
    let lines: Vec<&str> = good.lines().collect();
    let write = |text: &str| std::fs::write(d.join("predictions.csv"), text).expect("write");
    let input_error = |what: &str| -> String {
        match fit_svg(&d, &FitPlotOptions::default()) {
            Err(e @ PlotError::Input { .. }) => {
                let m = e.to_string();
                assert!(m.contains("predictions.csv"), "{what}: {m}");
                m
            }
            other => panic!("{what}: {other:?}"),
        }
    };

    // A cell that is not a number: the line and the column.
    let mut bad: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut cells: Vec<&str> = lines[2].split(',').collect();
    cells[6] = "abc";
    bad[2] = cells.join(",");
    write(&(bad.join("\n") + "\n"));
    let m = input_error("bad IPRED");
    assert!(
        m.contains("line 3") && m.contains("`IPRED`") && m.contains("`abc`"),
        "{m}"
    );

    // A missing column.
    let no_iwres: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            c.remove(7);
            c.join(",")
        })
        .collect();
    write(&(no_iwres.join("\n") + "\n"));
    let m = input_error("no IWRES");
    assert!(m.contains("no `IWRES` column"), "{m}");

    // A missing time.
    let mut no_time: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut cells: Vec<&str> = lines[5].split(',').collect();
    cells[1] = "";
    no_time[5] = cells.join(",");
    write(&(no_time.join("\n") + "\n"));
    let m = input_error("no time");
    assert!(
        m.contains("line 6") && m.contains("`TIME [h]`") && m.contains("missing"),
        "{m}"
    );

    // A short row, and a file with a header only.
    write(&format!("{}\n1,0,conc\n", lines[0]));
    let m = input_error("short row");
    assert!(m.contains("line 2"), "{m}");
    write(&format!("{}\n", lines[0]));
    let m = input_error("header only");
    assert!(m.contains("no data rows"), "{m}");

    // fit.json that is not JSON names the file.
    write(&good);
    std::fs::write(d.join("fit.json"), "{ not json").expect("write");
    match fit_svg(&d, &FitPlotOptions::default()) {
        Err(e @ PlotError::Input { .. }) => assert!(e.to_string().contains("fit.json"), "{e}"),
        other => panic!("{other:?}"),
    }

    // Through `run`: no SVG is left behind on an error, and --what is for trial charts.
    std::fs::write(d.join("fit.json"), "{}").expect("write");
    write(&(bad.join("\n") + "\n"));
    let out = d.parent().expect("parent").join("bad.svg");
    let req = PlotRequest {
        input: d.clone(),
        out: out.clone(),
        ..Default::default()
    };
    assert!(matches!(
        twin::plot::run(&req),
        Err(PlotError::Input { .. })
    ));
    assert!(!out.exists(), "no output on error");
    write(&good);
    let bands = PlotRequest {
        what: TrialPlots::Bands,
        ..req.clone()
    };
    match twin::plot::run(&bands) {
        Err(PlotError::Usage(m)) => assert!(m.contains("--what"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(!out.exists());
    // Without fit.json's model name there is no default heading; the charts are the same.
    twin::plot::run(&req).expect("plots");
    let t = texts(&std::fs::read_to_string(&out).expect("svg"));
    assert!(!t.iter().any(|x| x.contains("goodness of fit")), "{t:?}");
    assert!(t.iter().any(|x| x == "conc [mg/L]: DV vs IPRED"), "{t:?}");
}

#[test]
fn cli_plots_a_fit_directory() {
    let d = fit_dir("cli", theoph());
    let out = d.parent().expect("parent").join("fit.svg");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "plot",
            &d.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--log",
        ])
        .output()
        .expect("runs twin");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&out).expect("svg written");
    assert_well_formed(&svg);
    assert!(texts(&svg).iter().any(|x| x == "IWRES vs time"));
}
