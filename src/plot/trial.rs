//! Trial charts from a `twin trial --out DIR` directory.
//!
//! - From `bands.csv` (written with `--trajectories`): for each observable, each arm's median over
//!   time as a line with its 25–75 % and 5–95 % bands (a visual predictive check without
//!   observed data). Observables with residual error (`name_dv`) are left out unless asked for,
//!   when the error-free observable is there too. The targets the endpoints put on an
//!   observable (`targets.csv`, written next to `bands.csv`: `time_in(inr, 2, 3)`,
//!   `time_above(conc, 1 mg/L)`, `min(anc) < 0.5 Gcell/L`) are drawn under the bands: a range as
//!   a light band between its bounds, a threshold as a dashed line, the y axis widened to show
//!   them. Their values are in the observable's unit, the unit of the axis; a `targets.csv` whose
//!   unit differs from the axis's is an error, never drawn at the wrong height.
//! - From `summary.csv`: for each endpoint, one row per stratum level (the whole trial first),
//!   one dot per arm: responder rates with their 95 % Wilson intervals for rules, medians with
//!   25–75 % (thick) and 5–95 % (thin) ranges for numeric endpoints.

use super::csv::{Table, name_unit};
use super::{
    Axis, Entry, Mark, Panel, PlotError, Scale, Swatch, colour, nice_ceil, read, render, runs,
    time_axis, truncate, value_range,
};
use std::path::Path;

/// Which trial charts to draw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrialPlots {
    /// Bands over time, then endpoints by stratum.
    #[default]
    All,
    /// Only the bands over time (`bands.csv`).
    Bands,
    /// Only the endpoints by stratum (`summary.csv`).
    Strata,
}

/// Options for [`trial_svg`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrialPlotOptions {
    /// Which charts.
    pub what: TrialPlots,
    /// Log-scaled y axes for the bands.
    pub log: bool,
    /// Observables of `bands.csv` to draw, by name or full header; when `None`, every observable
    /// without residual error (`_dv`), or all of them if there are only `_dv` ones.
    pub observables: Option<Vec<String>>,
    /// A heading over the charts.
    pub title: Option<String>,
}

/// Draws the charts of the trial output directory `dir` as one SVG document.
///
/// Errors: a directory without `bands.csv` (unless `what` is [`TrialPlots::Strata`]) or
/// `summary.csv` (unless [`TrialPlots::Bands`]), missing columns, bad numbers — each naming the
/// file, the line and the column.
pub fn trial_svg(dir: &Path, opts: &TrialPlotOptions) -> Result<String, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::input(
            &dir.display().to_string(),
            "not a directory (expected the --out directory of `twin trial`)",
        ));
    }
    let load = |name: &str, hint: &str| -> Result<(String, String), PlotError> {
        let p = dir.join(name);
        if !p.is_file() {
            return Err(PlotError::input(
                &dir.display().to_string(),
                format!("no {name} here ({hint})"),
            ));
        }
        Ok((p.display().to_string(), read(&p)?))
    };
    let bands = match opts.what {
        TrialPlots::Strata => None,
        _ => Some(load(
            "bands.csv",
            "run `twin trial --out DIR --trajectories`, or plot only the strata with --what strata",
        )?),
    };
    let summary = match opts.what {
        TrialPlots::Bands => None,
        _ => Some(load(
            "summary.csv",
            "is this the --out directory of `twin trial`?",
        )?),
    };
    // Targets accompany the bands; directories of older versions have none.
    let targets = match &bands {
        Some(_) if dir.join("targets.csv").is_file() => {
            let p = dir.join("targets.csv");
            Some((p.display().to_string(), read(&p)?))
        }
        _ => None,
    };
    trial_svg_text(
        TrialTexts {
            bands: bands.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            targets: targets.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            summary: summary.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        },
        opts,
    )
}

/// The files of a trial directory [`trial_svg_text`] draws, each `(file name, text)` and each
/// optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrialTexts<'a> {
    /// `bands.csv`.
    pub bands: Option<(&'a str, &'a str)>,
    /// `targets.csv` (drawn on the bands).
    pub targets: Option<(&'a str, &'a str)>,
    /// `summary.csv`.
    pub summary: Option<(&'a str, &'a str)>,
}

/// [`trial_svg`] on texts already read.
pub fn trial_svg_text(texts: TrialTexts<'_>, opts: &TrialPlotOptions) -> Result<String, PlotError> {
    let TrialTexts {
        bands,
        targets,
        summary,
    } = texts;
    let targets = match targets {
        Some((file, text)) => read_targets(file, text)?,
        None => Vec::new(),
    };
    let mut panels = Vec::new();
    if let Some((file, text)) = bands {
        panels.extend(band_panels(file, text, &targets, opts)?);
    }
    if let Some((file, text)) = summary {
        panels.extend(strata_panels(file, text)?);
    }
    if panels.is_empty() {
        return Err(PlotError::Usage("nothing to plot".into()));
    }
    render(&panels, opts.title.as_deref())
}

/// A target range or threshold on an observable, from `targets.csv`.
#[derive(Debug, Clone, PartialEq)]
struct TargetRow {
    /// The file it came from, for errors.
    file: String,
    /// The observable's column, `name [unit]`.
    observable: String,
    /// The endpoints that set it.
    endpoints: Vec<String>,
    /// Lower bound, in the observable's unit.
    low: Option<f64>,
    /// Upper bound, in the observable's unit.
    high: Option<f64>,
}

/// The rows of `targets.csv`; targets with the same bounds on the same observable are one, with
/// every endpoint that sets them.
fn read_targets(file: &str, text: &str) -> Result<Vec<TargetRow>, PlotError> {
    let t = Table::parse(file, text)?;
    let (c_end, c_obs, c_low, c_high) = (
        t.need("endpoint")?,
        t.need("observable")?,
        t.need("low")?,
        t.need("high")?,
    );
    let mut out: Vec<TargetRow> = Vec::new();
    for r in 0..t.rows.len() {
        let (low, high) = (t.number(r, c_low)?, t.number(r, c_high)?);
        if low.is_none() && high.is_none() {
            continue;
        }
        let observable = t.text(r, c_obs).to_string();
        let endpoint = t.text(r, c_end).to_string();
        match out
            .iter_mut()
            .find(|x| x.observable == observable && x.low == low && x.high == high)
        {
            Some(x) => x.endpoints.push(endpoint),
            None => out.push(TargetRow {
                file: file.to_string(),
                observable,
                endpoints: vec![endpoint],
                low,
                high,
            }),
        }
    }
    Ok(out)
}

/// The targets on the observable of the column `column` of `bands.csv` (`name [unit]`, or
/// `name_dv [unit]`, which shares the targets of `name`). A target on the same observable in
/// another unit is an error: its values would be drawn on the wrong scale.
fn targets_of<'t>(targets: &'t [TargetRow], column: &str) -> Result<Vec<&'t TargetRow>, PlotError> {
    let (name, unit) = name_unit(column);
    let base = name.strip_suffix("_dv").unwrap_or(name);
    let mut out = Vec::new();
    for t in targets {
        let (tn, tu) = name_unit(&t.observable);
        if tn != base && tn != name {
            continue;
        }
        if tu != unit {
            return Err(PlotError::input(
                &t.file,
                format!(
                    "the target of `{}` is in `{tu}` but bands.csv plots `{column}` in `{unit}`; \
                     the files come from different runs (run the trial again)",
                    t.endpoints.join(", ")
                ),
            ));
        }
        out.push(t);
    }
    Ok(out)
}

/// A legend note naming the endpoints that set a target.
fn note(endpoints: &str) -> Entry {
    Entry {
        label: format!("({endpoints})"),
        colour: super::GREY,
        swatch: Swatch::None,
    }
}

/// A bound as the legend shows it.
fn bound_text(v: f64) -> String {
    let s = format!("{v}");
    if s.len() > 10 { format!("{v:.4e}") } else { s }
}

/// One arm's quantiles of one observable at one time.
struct BandRow {
    time: f64,
    q: [Option<f64>; 5],
}

/// An observable's name and, per arm (name, rows), its quantiles over time.
type Observable = (String, Vec<(String, Vec<BandRow>)>);

fn band_panels(
    file: &str,
    text: &str,
    targets: &[TargetRow],
    opts: &TrialPlotOptions,
) -> Result<Vec<Panel>, PlotError> {
    let t = Table::parse(file, text)?;
    let c_arm = t.need("arm")?;
    let Some(c_time) = t
        .header
        .iter()
        .position(|h| name_unit(h).0.eq_ignore_ascii_case("time"))
    else {
        return Err(PlotError::input(
            file,
            format!(
                "no `time [h]` column (the header has: {})",
                t.header.join(", ")
            ),
        ));
    };
    let c_obs = t.need("observable")?;
    let cq = [
        t.need("q05")?,
        t.need("q25")?,
        t.need("median")?,
        t.need("q75")?,
        t.need("q95")?,
    ];
    // observable → arm → rows, in first-seen order.
    let mut data: Vec<Observable> = Vec::new();
    for r in 0..t.rows.len() {
        let Some(time) = t.number(r, c_time)? else {
            return Err(PlotError::input(
                file,
                format!(
                    "line {}, column `{}`: the time is missing",
                    t.rows[r].0, t.header[c_time]
                ),
            ));
        };
        let mut q = [None; 5];
        for (k, c) in cq.iter().enumerate() {
            q[k] = t.number(r, *c)?;
        }
        let obs = t.text(r, c_obs).to_string();
        let arm = t.text(r, c_arm).to_string();
        let o = match data.iter().position(|d| d.0 == obs) {
            Some(o) => o,
            None => {
                data.push((obs, Vec::new()));
                data.len() - 1
            }
        };
        let arms = &mut data[o].1;
        let a = match arms.iter().position(|d| d.0 == arm) {
            Some(a) => a,
            None => {
                arms.push((arm, Vec::new()));
                arms.len() - 1
            }
        };
        arms[a].1.push(BandRow { time, q });
    }
    let names: Vec<String> = data.iter().map(|d| d.0.clone()).collect();
    let chosen: Vec<usize> = match &opts.observables {
        Some(wanted) => {
            let mut chosen = Vec::new();
            for w in wanted.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
                match names.iter().position(|n| n == w || name_unit(n).0 == w) {
                    Some(i) if !chosen.contains(&i) => chosen.push(i),
                    Some(_) => {}
                    None => {
                        return Err(PlotError::Usage(format!(
                            "--columns: {file} has no observable `{w}` (it has: {})",
                            names
                                .iter()
                                .map(|n| name_unit(n).0)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
            chosen
        }
        None => {
            let plain: Vec<usize> = (0..names.len())
                .filter(|i| {
                    let n = name_unit(&names[*i]).0;
                    match n.strip_suffix("_dv") {
                        Some(base) => !names.iter().any(|m| name_unit(m).0 == base),
                        None => true,
                    }
                })
                .collect();
            plain
        }
    };
    // Arms get the same colour in every chart.
    let mut arm_names: Vec<String> = Vec::new();
    for (_, arms) in &data {
        for (a, _) in arms {
            if !arm_names.contains(a) {
                arm_names.push(a.clone());
            }
        }
    }
    let arm_colour = |a: &str| colour(arm_names.iter().position(|x| x == a).unwrap_or(0));

    let mut panels = Vec::new();
    for i in chosen {
        let (obs, arms) = &data[i];
        let (name, unit) = name_unit(obs);
        let all_t = arms.iter().flat_map(|a| a.1.iter().map(|r| r.time));
        let (tmin, tmax) = all_t.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (tdiv, xlabel) = time_axis(name_unit(&t.header[c_time]).1, tmax - tmin);
        let (xlo, xhi) = if tmax > tmin {
            (tmin / tdiv, tmax / tdiv)
        } else {
            (tmin / tdiv - 0.5, tmax / tdiv + 0.5)
        };
        let on_target = targets_of(targets, obs)?;
        let vals = arms
            .iter()
            .flat_map(|a| a.1.iter().flat_map(|r| r.q.iter().flatten().copied()));
        // The axis shows the targets too.
        let bounds = on_target
            .iter()
            .flat_map(|t| t.low.into_iter().chain(t.high));
        let Some((ylo, yhi)) = value_range(vals.chain(bounds), opts.log) else {
            continue;
        };
        let tr = |v: f64| -> Option<f64> {
            if opts.log {
                (v > 0.0).then(|| v.log10().max(ylo))
            } else {
                Some(v)
            }
        };
        let mut marks = Vec::new();
        let mut legend = Vec::new();
        for t in &on_target {
            let ends = t.endpoints.join(", ");
            match (t.low.and_then(tr), t.high.and_then(tr)) {
                (Some(lo), Some(hi)) => {
                    marks.push(Mark::Band {
                        upper: vec![(xlo, hi), (xhi, hi)],
                        lower: vec![(xlo, lo), (xhi, lo)],
                        colour: super::TARGET,
                        opacity: TARGET_OPACITY,
                    });
                    legend.push(Entry {
                        label: format!(
                            "range {}–{}",
                            bound_text(t.low.unwrap_or(lo)),
                            bound_text(t.high.unwrap_or(hi))
                        ),
                        colour: super::TARGET,
                        swatch: Swatch::Band(TARGET_OPACITY),
                    });
                    legend.push(note(&ends));
                }
                (lo, hi) => {
                    // A threshold, or a range with a bound ≤ 0 on a log axis: dashed lines.
                    for (y, v, side) in [(lo, t.low, "above"), (hi, t.high, "below")] {
                        let (Some(y), Some(v)) = (y, v) else { continue };
                        marks.push(Mark::Dashed {
                            y,
                            colour: super::TARGET,
                        });
                        legend.push(Entry {
                            label: format!("{side} {}", bound_text(v)),
                            colour: super::TARGET,
                            swatch: Swatch::Dashed,
                        });
                        legend.push(note(&ends));
                    }
                }
            }
        }
        for (arm, rows) in arms {
            let col = arm_colour(arm);
            for (lo_k, hi_k, opacity) in [(0, 4, 0.14), (1, 3, 0.28)] {
                // A band: where both bounds are known; a lower bound ≤ 0 on a log axis sits on
                // the axis floor.
                let pts: Vec<Option<(f64, f64, f64)>> = rows
                    .iter()
                    .map(|r| match (r.q[lo_k], r.q[hi_k]) {
                        (Some(l), Some(h)) => {
                            let l = tr(l).unwrap_or(ylo);
                            tr(h).map(|h| (r.time / tdiv, l, h))
                        }
                        _ => None,
                    })
                    .collect();
                for seg in runs(pts.into_iter()) {
                    marks.push(Mark::Band {
                        upper: seg.iter().map(|(x, _, h)| (*x, *h)).collect(),
                        lower: seg.iter().map(|(x, l, _)| (*x, *l)).collect(),
                        colour: col,
                        opacity,
                    });
                }
            }
            let med = rows
                .iter()
                .map(|r| r.q[2].and_then(tr).map(|y| (r.time / tdiv, y)));
            for run in runs(med) {
                marks.push(Mark::Line {
                    points: run,
                    colour: col,
                    width: 2,
                });
            }
            legend.push(Entry {
                label: format!("{arm}: median"),
                colour: col,
                swatch: Swatch::Line,
            });
        }
        let key = super::GREY;
        legend.push(Entry {
            label: "25–75 %".into(),
            colour: key,
            swatch: Swatch::Band(0.5),
        });
        legend.push(Entry {
            label: "5–95 %".into(),
            colour: key,
            swatch: Swatch::Band(0.22),
        });
        let unit_part = match unit {
            "" | "1" => String::new(),
            u => format!(" [{u}]"),
        };
        let scale_note = if opts.log { ", log scale" } else { "" };
        panels.push(Panel {
            title: format!(
                "{name}{unit_part}: median and 25–75 % / 5–95 % bands by arm{scale_note}"
            ),
            x: Axis {
                label: xlabel,
                lo: xlo,
                hi: xhi,
                scale: Scale::Linear,
            },
            y: Axis {
                label: format!("{name}{unit_part}"),
                lo: ylo,
                hi: yhi,
                scale: if opts.log {
                    Scale::Log10
                } else {
                    Scale::Linear
                },
            },
            plot_height: 300,
            marks,
            legend,
        });
    }
    if panels.is_empty() {
        return Err(PlotError::input(
            file,
            if opts.log {
                "no observable has positive quantiles to show on a log scale"
            } else {
                "no observable has any quantiles to show"
            },
        ));
    }
    Ok(panels)
}

/// One group of `summary.csv` for one endpoint: a stratum level and an arm.
struct Cell {
    row: usize,
    arm: usize,
    patients: Option<f64>,
    /// rate, low, high (rules) or median, q25, q75, q05, q95 (numeric).
    v: Vec<Option<f64>>,
}

/// Opacity of a target range's band.
const TARGET_OPACITY: f64 = 0.12;

/// Longest stratum label, characters.
const MAX_STRATUM: usize = 26;
/// Height of one stratum row, px.
const ROW_PX: u32 = 24;

fn strata_panels(file: &str, text: &str) -> Result<Vec<Panel>, PlotError> {
    let t = Table::parse(file, text)?;
    let (c_stratum, c_level, c_arm, c_end) = (
        t.need("stratum")?,
        t.need("level")?,
        t.need("arm")?,
        t.need("endpoint")?,
    );
    let rate_cols = [t.need("rate")?, t.need("rate_low")?, t.need("rate_high")?];
    let stat_cols: Option<[usize; 5]> = match (
        t.find("median"),
        t.find("q25"),
        t.find("q75"),
        t.find("q05"),
        t.find("q95"),
    ) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => Some([a, b, c, d, e]),
        _ => None,
    };
    let c_patients = t.find("patients");

    let mut endpoints: Vec<String> = Vec::new();
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut arms: Vec<String> = Vec::new();
    let mut cells: Vec<Vec<Cell>> = Vec::new();
    let mut is_rule: Vec<bool> = Vec::new();
    let index = |v: &mut Vec<String>, s: &str| match v.iter().position(|x| x == s) {
        Some(i) => i,
        None => {
            v.push(s.to_string());
            v.len() - 1
        }
    };
    // summary.csv gives each endpoint's unit in its own column; the panels show `name [unit]`.
    let c_unit = t.find("unit");
    for r in 0..t.rows.len() {
        let name = match c_unit.map(|c| t.text(r, c)) {
            Some(u) if !u.is_empty() => format!("{} [{u}]", t.text(r, c_end)),
            _ => t.text(r, c_end).to_string(),
        };
        let e = index(&mut endpoints, &name);
        if e == cells.len() {
            cells.push(Vec::new());
            is_rule.push(false);
        }
        let key = (
            t.text(r, c_stratum).to_string(),
            t.text(r, c_level).to_string(),
        );
        let row = match rows.iter().position(|x| *x == key) {
            Some(i) => i,
            None => {
                rows.push(key);
                rows.len() - 1
            }
        };
        let arm = index(&mut arms, t.text(r, c_arm));
        let rate: Vec<Option<f64>> = rate_cols
            .iter()
            .map(|c| t.number(r, *c))
            .collect::<Result<_, _>>()?;
        let v = if rate[0].is_some() {
            is_rule[e] = true;
            rate.iter().map(|x| x.map(|x| x * 100.0)).collect()
        } else if let Some(sc) = stat_cols {
            sc.iter()
                .map(|c| t.number(r, *c))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let patients = match c_patients {
            Some(c) => t.number(r, c)?,
            None => None,
        };
        cells[e].push(Cell {
            row,
            arm,
            patients,
            v,
        });
    }

    let k = arms.len().max(1);
    let dodge = (0.7 / k as f64).min(0.25);
    let offset = |a: usize| ((k - 1) as f64 / 2.0 - a as f64) * dodge;

    let mut panels = Vec::new();
    for (e, name) in endpoints.iter().enumerate() {
        let rule = is_rule[e];
        let cs: Vec<&Cell> = cells[e]
            .iter()
            .filter(|c| c.v.first().is_some_and(|v| v.is_some()))
            .collect();
        if cs.is_empty() {
            continue;
        }
        // The stratum levels this endpoint has rows for, in file order; the i-th of them is
        // drawn at y = n - 1 - i, so the first (the whole trial) is on top.
        let used: Vec<usize> = (0..rows.len())
            .filter(|j| cells[e].iter().any(|c| c.row == *j))
            .collect();
        let n_rows = used.len();
        let y_of = |j: usize| {
            let i = used.iter().position(|u| *u == j).unwrap_or(0);
            (n_rows - 1 - i) as f64
        };
        // Labels: "cyp2c9 *1/*3", with n when every arm has the same number of patients.
        let labels: Vec<(f64, String)> = used
            .iter()
            .map(|&j| {
                let (s, l) = &rows[j];
                let base = if s.is_empty() {
                    "all patients".to_string()
                } else {
                    format!("{s} {l}")
                };
                let ns: Vec<f64> = cells[e]
                    .iter()
                    .filter(|c| c.row == j)
                    .filter_map(|c| c.patients)
                    .collect();
                let label = match ns.first() {
                    Some(n) if ns.iter().all(|m| m == n) => {
                        format!("{} (n={})", truncate(&base, MAX_STRATUM), n)
                    }
                    _ => truncate(&base, MAX_STRATUM),
                };
                (y_of(j), label)
            })
            .collect();
        let mut marks = Vec::new();
        // Separators between strata.
        for w in used.windows(2) {
            if rows[w[1]].0 != rows[w[0]].0 {
                marks.push(Mark::HRule {
                    y: y_of(w[1]) + 0.5,
                });
            }
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for c in &cs {
            for v in c.v.iter().flatten() {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
        let (xlo, xhi) = if rule {
            (
                0.0,
                if hi > 60.0 {
                    100.0
                } else {
                    nice_ceil(hi * 1.05).min(100.0)
                },
            )
        } else if hi > lo {
            let pad = (hi - lo) * 0.04;
            (lo - pad, hi + pad)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        for c in &cs {
            let y = y_of(c.row) + offset(c.arm);
            let col = colour(c.arm);
            let Some(mid) = c.v[0] else { continue };
            let whiskers: &[(usize, usize, u32)] = if rule {
                &[(1, 2, 2)]
            } else {
                &[(3, 4, 1), (1, 2, 4)]
            };
            for (l, h, w) in whiskers {
                if let (Some(Some(a)), Some(Some(b))) = (c.v.get(*l), c.v.get(*h)) {
                    marks.push(Mark::Segment {
                        from: (*a, y),
                        to: (*b, y),
                        colour: col,
                        width: *w,
                    });
                }
            }
            marks.push(Mark::Dot {
                at: (mid, y),
                colour: col,
                radius: 4,
            });
        }
        let mut legend: Vec<Entry> = arms
            .iter()
            .enumerate()
            .map(|(a, arm)| Entry {
                label: arm.clone(),
                colour: colour(a),
                swatch: Swatch::DotWhisker,
            })
            .collect();
        let (ename, eunit) = name_unit(name);
        let unit_part = if eunit.is_empty() {
            String::new()
        } else {
            format!(" [{eunit}]")
        };
        let (title, xlabel) = if rule {
            legend.push(Entry {
                label: "line: 95 % Wilson interval".into(),
                colour: super::GREY,
                swatch: Swatch::None,
            });
            (
                format!("{ename}: responder rate by stratum"),
                format!("{ename} — responders [%]"),
            )
        } else {
            legend.push(Entry {
                label: "dot: median".into(),
                colour: super::GREY,
                swatch: Swatch::None,
            });
            for label in ["thick: 25–75 %", "thin: 5–95 %"] {
                legend.push(Entry {
                    label: label.into(),
                    colour: super::GREY,
                    swatch: Swatch::None,
                });
            }
            (
                format!("{ename}{unit_part}: median by stratum"),
                format!("{ename}{unit_part}"),
            )
        };
        panels.push(Panel {
            title,
            x: Axis {
                label: xlabel,
                lo: xlo,
                hi: xhi,
                scale: Scale::Linear,
            },
            y: Axis {
                label: String::new(),
                lo: -0.6,
                hi: n_rows as f64 - 0.4,
                scale: Scale::Categories(labels),
            },
            plot_height: (n_rows as u32 * ROW_PX).max(3 * ROW_PX) + 4,
            marks,
            legend,
        });
    }
    if panels.is_empty() {
        return Err(PlotError::input(
            file,
            "no endpoint has a rate or a median to show",
        ));
    }
    Ok(panels)
}
