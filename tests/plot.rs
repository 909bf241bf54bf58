//! `twin plot`: SVG text of small hand-written cases (snapshots), well-formedness, axis labels
//! with units, log scales, `ID` columns, trial directories, and bad input (errors, never panics,
//! no output file left behind).

use std::path::{Path, PathBuf};
use std::process::Command;
use twin::plot::{PlotError, ProfileOptions, TrialPlotOptions, TrialPlots, profile_svg, trial_svg};

const TINY: &str = "\
time [h],central [mg],conc [mg/L]
0,0,0
1,50,2.5
2,40,2.0
4,20,1.0
8,5,0.25
";

/// A scratch directory unique to this test process and `name`, emptied first.
fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("twin-plot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
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

#[test]
fn profile_snapshot() {
    let opts = ProfileOptions {
        doses: vec![0.0, 4.0],
        title: Some("Tiny".into()),
        ..Default::default()
    };
    let svg = profile_svg(TINY, &opts).expect("plots");
    insta::assert_snapshot!("profile_tiny", svg);
}

#[test]
fn profile_is_well_formed_with_unit_labels() {
    let svg = profile_svg(TINY, &ProfileOptions::default()).expect("plots");
    assert_well_formed(&svg);
    let t = texts(&svg);
    // One chart per unit, each y axis labelled with its unit; the time axis with hours.
    for want in ["time [h]", "central [mg]", "conc [mg/L]"] {
        assert!(t.iter().any(|x| x == want), "no `{want}` in {t:?}");
    }
    assert_eq!(svg.matches(">\ntime [h]\n<").count(), 2, "two charts");
}

#[test]
fn columns_choose_charts() {
    let opts = ProfileOptions {
        columns: Some(vec!["conc".into()]),
        ..Default::default()
    };
    let svg = profile_svg(TINY, &opts).expect("plots");
    let t = texts(&svg);
    assert!(t.iter().any(|x| x == "conc [mg/L]"));
    assert!(!t.iter().any(|x| x.contains("central")), "{t:?}");
    let bad = ProfileOptions {
        columns: Some(vec!["auc".into()]),
        ..Default::default()
    };
    let e = profile_svg(TINY, &bad)
        .expect_err("unknown column")
        .to_string();
    assert!(e.contains("`auc`") && e.contains("central, conc"), "{e}");
}

#[test]
fn log_scale_skips_zeros() {
    let opts = ProfileOptions {
        log: true,
        columns: Some(vec!["conc [mg/L]".into()]),
        ..Default::default()
    };
    let svg = profile_svg(TINY, &opts).expect("plots");
    assert_well_formed(&svg);
    let t = texts(&svg);
    assert!(t.iter().any(|x| x == "1 value ≤ 0 not shown"), "{t:?}");
    // Decade ticks: 0.25 … 2.5 mg/L spans 1 and the 1–2–5 steps around it.
    assert!(t.iter().any(|x| x == "1"), "{t:?}");
    let zeros = t.iter().filter(|x| *x == "0").count();
    assert_eq!(zeros, 1, "only the time axis has a 0 tick: {t:?}");
    let zeros = "time [h],conc [mg/L]\n0,0\n1,0\n2,-1\n";
    let e = profile_svg(zeros, &opts).expect_err("nothing positive");
    assert!(e.to_string().contains("log scale"), "{e}");
}

#[test]
fn one_line_per_id() {
    let csv = "ID,time [h],conc [mg/L]\n1,0,0\n1,1,2\n1,2,1\n2,0,0\n2,1,3\n2,2,1.5\n";
    let svg = profile_svg(csv, &ProfileOptions::default()).expect("plots");
    let t = texts(&svg);
    assert!(
        t.iter().any(|x| x == "ID 1") && t.iter().any(|x| x == "ID 2"),
        "{t:?}"
    );
    // Two data lines of three points each, not one zig-zag of six.
    let lines: Vec<usize> = svg
        .lines()
        .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
        .filter_map(|l| l.split("points=\"").nth(1))
        .map(|p| p.split_whitespace().count() - 1)
        .collect();
    assert_eq!(lines.iter().filter(|n| **n == 3).count(), 2, "{lines:?}");
    assert!(!lines.contains(&6), "{lines:?}");
}

#[test]
fn bad_profiles_are_errors() {
    let o = ProfileOptions::default();
    let msg = |text: &str| profile_svg(text, &o).expect_err(text).to_string();
    let e = msg("t,conc [mg/L]\n0,1\n");
    assert!(
        e.contains("no `time [h]` column") && e.contains("t, conc"),
        "{e}"
    );
    let e = msg("time [h],conc [mg/L]\n0,1\n1,abc\n");
    assert!(
        e.contains("line 3") && e.contains("`conc [mg/L]`") && e.contains("`abc`"),
        "{e}"
    );
    assert!(msg("").contains("empty"));
    assert!(msg("\n\n").contains("empty"));
    assert!(msg("time [h],conc [mg/L]\n").contains("no data rows"));
    assert!(msg("time [h],conc [mg/L]\n0\n").contains("line 2"));
    assert!(msg("time [h]\n0\n1\n").contains("no value columns"));
    assert!(msg("time [h],c [mg]\n,1\n").contains("time is missing"));
    // Gaps (NA) are not errors.
    profile_svg("time [h],c [mg]\n0,1\n1,NA\n2,3\n", &o).expect("gaps are fine");
    assert!(matches!(
        profile_svg("time [h],c [mg]\n0,x\n", &o),
        Err(PlotError::Input { .. })
    ));
}

#[test]
fn garbage_never_panics() {
    let o = ProfileOptions {
        log: true,
        doses: vec![f64::NAN, -1.0, 1e300],
        ..Default::default()
    };
    for text in [
        "\u{feff}time [h],a [mg]\n0,1e308\n1,-1e308\n",
        "time [h],a [mg]\n5,1\n5,2\n",
        "time [h],a [mg]\ninf,1\n",
        "\"time [h]\",\"a, b [mg]\"\n0,\"1\"\n1,2\n",
        "time,a\n0,0\n",
        "ID,time [h],a [1]\nx,0,1\ny,0,2\n",
        ",,,\n,,,\n",
    ] {
        for log in [false, true] {
            let _ = profile_svg(text, &ProfileOptions { log, ..o.clone() });
        }
    }
}

const BANDS: &str = "\
arm,time [h],observable,n,q05,q25,median,q75,q95
standard,0,conc [mg/L],10,0,0,0,0,0
guided,0,conc [mg/L],10,0,0,0,0,0
standard,0,conc_dv [mg/L],10,0,0,0,0,0
standard,12,conc [mg/L],10,0.5,0.8,1.0,1.2,1.6
guided,12,conc [mg/L],10,0.3,0.5,0.6,0.8,1.1
standard,12,conc_dv [mg/L],10,0.4,0.8,1.0,1.2,1.7
standard,24,conc [mg/L],10,0.2,0.4,0.5,0.6,0.9
guided,24,conc [mg/L],10,0.1,0.2,0.3,0.4,0.5
standard,24,conc_dv [mg/L],10,0.2,0.4,0.5,0.6,1.0
";

const SUMMARY: &str = "\
stratum,level,arm,endpoint,patients,failed,n,rate,rate_low,rate_high,mean,sd,q05,q25,median,q75,q95,seed,twin_version
,,standard,responder,100,0,100,0.3,0.22,0.4,NA,NA,NA,NA,NA,NA,NA,1,0.1.0
,,guided,responder,100,0,100,0.5,0.4,0.6,NA,NA,NA,NA,NA,NA,NA,1,0.1.0
,,standard,auc [mg·h/L],100,0,100,NA,NA,NA,20,5,12,16,19,23,30,1,0.1.0
,,guided,auc [mg·h/L],100,0,100,NA,NA,NA,15,4,9,12,14,18,22,1,0.1.0
cyp2c9,*1/*1,standard,responder,60,0,60,0.25,0.16,0.37,NA,NA,NA,NA,NA,NA,NA,1,0.1.0
cyp2c9,*1/*1,guided,responder,60,0,60,0.45,0.33,0.58,NA,NA,NA,NA,NA,NA,NA,1,0.1.0
cyp2c9,*1/*3 and a very long level name indeed,standard,responder,40,0,40,0.375,0.24,0.53,NA,NA,NA,NA,NA,NA,NA,1,0.1.0
cyp2c9,*1/*3 and a very long level name indeed,guided,responder,40,0,40,0.575,0.42,0.71,NA,NA,NA,NA,NA,NA,NA,1,0.1.0
";

fn trial_dir(name: &str, bands: bool) -> PathBuf {
    let d = scratch(name);
    std::fs::write(d.join("summary.csv"), SUMMARY).expect("write");
    if bands {
        std::fs::write(d.join("bands.csv"), BANDS).expect("write");
    }
    d
}

#[test]
fn trial_snapshot() {
    let d = trial_dir("snapshot", true);
    let svg = trial_svg(&d, &TrialPlotOptions::default()).expect("plots");
    assert_well_formed(&svg);
    insta::assert_snapshot!("trial_small", svg);
}

#[test]
fn trial_charts_have_labels_and_legends() {
    let d = trial_dir("labels", true);
    let svg = trial_svg(&d, &TrialPlotOptions::default()).expect("plots");
    let t = texts(&svg);
    for want in [
        "conc [mg/L]",
        "standard: median",
        "guided: median",
        "5–95 %",
        "responder — responders [%]",
        "auc [mg·h/L]",
        "all patients (n=100)",
        "cyp2c9 *1/*1 (n=60)",
        "line: 95 % Wilson",
    ] {
        assert!(t.iter().any(|x| x.contains(want)), "no `{want}` in {t:?}");
    }
    // `_dv` bands are left out when the error-free observable is there; long levels are cut.
    assert!(!t.iter().any(|x| x.contains("conc_dv")), "{t:?}");
    assert!(t.iter().any(|x| x.contains('…')), "{t:?}");
    let dv = TrialPlotOptions {
        what: TrialPlots::Bands,
        observables: Some(vec!["conc_dv".into()]),
        ..Default::default()
    };
    let t = texts(&trial_svg(&d, &dv).expect("plots"));
    assert!(t.iter().any(|x| x == "conc_dv [mg/L]"), "{t:?}");
    assert!(!t.iter().any(|x| x.contains("responder")), "{t:?}");
}

#[test]
fn trial_without_bands() {
    let d = trial_dir("nobands", false);
    let e = trial_svg(&d, &TrialPlotOptions::default())
        .expect_err("no bands.csv")
        .to_string();
    assert!(
        e.contains("bands.csv") && e.contains("--trajectories"),
        "{e}"
    );
    let strata = TrialPlotOptions {
        what: TrialPlots::Strata,
        ..Default::default()
    };
    let svg = trial_svg(&d, &strata).expect("strata only");
    assert_well_formed(&svg);
    let e = trial_svg(Path::new("/nonexistent/twin"), &strata)
        .expect_err("no dir")
        .to_string();
    assert!(e.contains("not a directory"), "{e}");
}

#[test]
fn bad_trial_files_are_errors() {
    let d = scratch("badtrial");
    std::fs::write(d.join("summary.csv"), "stratum,level,arm\n,,a\n").expect("write");
    std::fs::write(
        d.join("bands.csv"),
        "arm,time [h],observable,n,q05,q25,median,q75,q95\na,0,c,1,0,0,zero,0,0\n",
    )
    .expect("write");
    let e = trial_svg(&d, &TrialPlotOptions::default())
        .expect_err("bad bands")
        .to_string();
    assert!(
        e.contains("bands.csv") && e.contains("line 2") && e.contains("`median`"),
        "{e}"
    );
    let strata = TrialPlotOptions {
        what: TrialPlots::Strata,
        ..Default::default()
    };
    let e = trial_svg(&d, &strata).expect_err("bad summary").to_string();
    assert!(
        e.contains("summary.csv") && e.contains("no `endpoint` column"),
        "{e}"
    );
}

fn twin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .output()
        .expect("runs twin")
}

#[test]
fn cli_writes_svg_or_fails_cleanly() {
    let d = scratch("cli");
    let csv = d.join("a.csv");
    std::fs::write(&csv, TINY).expect("write");
    let out = d.join("a.svg");
    let s = |p: &Path| p.display().to_string();
    let o = twin(&[
        "plot",
        &s(&csv),
        "--out",
        &s(&out),
        "--log",
        "--doses",
        "0,4h",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_well_formed(&std::fs::read_to_string(&out).expect("svg written"));

    std::fs::write(&csv, "time [h],conc [mg/L]\n0,1\n1,oops\n").expect("write");
    let bad_out = d.join("bad.svg");
    let o = twin(&["plot", &s(&csv), "--out", &s(&bad_out)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("a.csv") && err.contains("line 3"), "{err}");
    assert!(!bad_out.exists(), "no output on error");
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "only a.csv and a.svg: {leftovers:?}");

    let o = twin(&["plot", &s(&d), "--out", &s(&bad_out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bands.csv"));
    assert!(!bad_out.exists());

    let o = twin(&["plot", &s(&d.join("missing.csv")), "--out", &s(&bad_out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.csv"));

    let ev = d.join("ev.csv");
    std::fs::write(&ev, "ID,TIME,AMT,EVID,II,ADDL,CMT\n1,0,100,1,2,1,1\n").expect("write");
    std::fs::write(&csv, TINY).expect("write");
    let o = twin(&[
        "plot",
        &s(&csv),
        "--out",
        &s(&out),
        "--doses-from-events",
        &s(&ev),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&out).expect("svg");
    assert!(svg.contains(">\ndoses (2)\n<"), "doses at 0 and 2 h");
}

/// A trial whose endpoints put targets on an observable in `cell/µL`, written in other units:
/// `min(anc) < 0.5 Gcell/L` (a threshold of 500 cell/µL) and `time_in(anc, 1 Gcell/L,
/// 2000 cell/µL)` (a range of 1000–2000 cell/µL). The count falls from 4300 to about 660 cell/µL.
const TARGETS: &str = "\
unit cell
unit Gcell = 1e9 cell
model Marrow {
    state x: 1 = 1
    d/dt x = -0.05 /h * x
    observe anc: cell/µL = 300 cell/µL + 4000 cell/µL * x
}
trial T {
    model Marrow
    arm only {}
    sample every 2 h until 48 h
    endpoint grade4 = min(anc) < 0.5 Gcell/L
    endpoint in_band = time_in(anc, 1 Gcell/L, 2000 cell/µL)
}
";

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

/// Every element `<TAG …>` of `svg` whose attributes contain `attr`.
fn elements<'s>(svg: &'s str, tag: &str, attr: &str) -> Vec<&'s str> {
    svg.split(&format!("<{tag} "))
        .skip(1)
        .filter_map(|e| e.split('>').next())
        .filter(|e| e.contains(attr))
        .collect()
}

/// The pixel row of value `v` on the y axis, from the y tick labels (right-aligned `<text>`
/// elements, whose `y` is the tick's row): the least-squares line through (value, row).
fn y_pixel(svg: &str, v: f64) -> f64 {
    let ticks: Vec<(f64, f64)> = svg
        .split("<text ")
        .skip(1)
        .filter(|t| t.contains("text-anchor=\"end\""))
        .filter_map(|t| {
            let y = t
                .split("y=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse::<f64>()
                .ok()?;
            let label = t.split('>').nth(1)?.split('<').next()?.trim();
            Some((label.parse::<f64>().ok()?, y))
        })
        .collect();
    assert!(ticks.len() >= 3, "y ticks: {ticks:?}");
    let n = ticks.len() as f64;
    let (mx, my) = (
        ticks.iter().map(|t| t.0).sum::<f64>() / n,
        ticks.iter().map(|t| t.1).sum::<f64>() / n,
    );
    let sxy: f64 = ticks.iter().map(|t| (t.0 - mx) * (t.1 - my)).sum();
    let sxx: f64 = ticks.iter().map(|t| (t.0 - mx).powi(2)).sum();
    my + sxy / sxx * (v - mx)
}

#[test]
fn target_ranges_are_drawn_in_the_unit_of_the_axis() {
    let d = scratch("targets");
    let src = d.join("marrow.twin");
    std::fs::write(&src, TARGETS).expect("write");
    let out = d.join("out");
    let s = |p: &Path| p.display().to_string();
    let o = twin(&["trial", &s(&src), "--out", &s(&out), "--trajectories"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The thresholds are converted to the observable's unit where they are written down.
    let targets = std::fs::read_to_string(out.join("targets.csv")).expect("targets.csv");
    assert_eq!(
        targets,
        "endpoint,observable,low,high\n\
         grade4,anc [cell/µL],NA,500.0\n\
         in_band,anc [cell/µL],1000.0,2000.0\n"
    );
    let bands = TrialPlotOptions {
        what: TrialPlots::Bands,
        ..Default::default()
    };
    let svg = trial_svg(&out, &bands).expect("plots");
    assert_well_formed(&svg);
    let t = texts(&svg);
    for want in [
        "anc [cell/µL]",
        "below 500",
        "(grade4)",
        "range 1000–2000",
        "(in_band)",
    ] {
        assert!(t.iter().any(|x| x == want), "no `{want}` in {t:?}");
    }
    // The threshold: a dashed line (many short dark grey segments) at 500 cell/µL, not at 0.5.
    // The chart is the left 760 px; the legend's dashed swatch is right of it.
    let want = y_pixel(&svg, 500.0);
    assert!(
        (want - y_pixel(&svg, 0.5)).abs() > 20.0,
        "500 and 0.5 are apart"
    );
    let dashes: Vec<Vec<(f64, f64)>> = elements(&svg, "polyline", "stroke=\"#404040\"")
        .into_iter()
        .map(points)
        .filter(|p| p.iter().all(|q| q.0 < 760.0))
        .collect();
    assert!(dashes.len() > 20, "a dashed line: {}", dashes.len());
    for p in dashes.iter().flatten() {
        assert!(
            (p.1 - want).abs() <= 1.5,
            "dash at row {} for 500 at {want}",
            p.1
        );
    }
    // The range: a light band between the rows of 1000 and 2000 cell/µL, across the chart.
    let bands_drawn = elements(&svg, "polygon", "fill=\"#404040\"");
    assert_eq!(bands_drawn.len(), 1, "{bands_drawn:?}");
    assert!(bands_drawn[0].contains("opacity=\"0.12\""));
    let ys: Vec<f64> = points(bands_drawn[0]).iter().map(|p| p.1).collect();
    let (top, bottom) = (y_pixel(&svg, 2000.0), y_pixel(&svg, 1000.0));
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (lo - top).abs() <= 1.5 && (hi - bottom).abs() <= 1.5,
        "{ys:?} vs {top}, {bottom}"
    );

    // A targets.csv in another unit than the bands is refused, never drawn on the wrong scale.
    std::fs::write(
        out.join("targets.csv"),
        "endpoint,observable,low,high\ngrade4,anc [Gcell/L],NA,0.5\n",
    )
    .expect("write");
    let e = trial_svg(&out, &bands)
        .expect_err("units differ")
        .to_string();
    assert!(
        e.contains("targets.csv") && e.contains("Gcell/L") && e.contains("cell/µL"),
        "{e}"
    );
    // Without targets.csv (an older directory) the bands are drawn without them.
    std::fs::remove_file(out.join("targets.csv")).expect("remove");
    let svg = trial_svg(&out, &bands).expect("plots");
    assert!(elements(&svg, "polyline", "stroke=\"#404040\"").is_empty());
}
