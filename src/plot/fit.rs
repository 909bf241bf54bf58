//! Goodness-of-fit charts from a `twin fit --out DIR` directory (the plots NONMEM and nlmixr2
//! users look at first).
//!
//! The directory holds `predictions.csv` (one row per observation record:
//! `ID,TIME [h],observable,unit,DV,PRED,IPRED,IWRES,IPRED_2.5%,IPRED_97.5%`, where DV, PRED,
//! IPRED, IWRES and the band may be empty) and `fit.json`. Charts, stacked vertically:
//!
//! 1. For each observable, DV against IPRED and DV against PRED: one dot per row with both
//!    values, both axes over the same range, the identity line dashed, the axes labelled with the
//!    observable's unit.
//! 2. IWRES against time for every observable (one colour each), with a line at 0 and dashed
//!    lines at ±1.96.
//! 3. Individual fits: one small chart per subject (and per observable when there are several)
//!    for the first [`MAX_INDIVIDUALS`] IDs in file order — the first chart's title says how
//!    many IDs were left out. DV as dots, IPRED as a line, PRED dashed and, when the file has it,
//!    the 2.5–97.5 % posterior band of IPRED shaded. The predictions are only known at the
//!    observation records, so the lines join those times.
//!
//! `--log` (`opts.log`) puts the concentration axes of 1 and 3 on a log scale; values ≤ 0 are not
//! drawn there (and the legend says how many were left out). IWRES is always linear. `--columns`
//! chooses observables (by name or `name [unit]`). `--title` is the heading; without it the
//! heading is the model's name from `fit.json`. `--what` selects trial charts, so for a fit
//! directory only `all` (the default) is accepted, and `--doses` markers are refused (the doses
//! are per subject and `predictions.csv` does not have them); [`super::run`] checks both.
//!
//! `fit.json` supplies the model's name and each subject's status: a subject that did not
//! converge says so in its title; subjects whose fit failed (and so have no predictions) are
//! named in a note. A `predictions.csv` with a missing column or a cell that is not a number is
//! an error naming the file, the line and the column.

use super::csv::{Table, name_unit};
use super::{
    Axis, Entry, GREY, Mark, Panel, PlotError, Scale, Swatch, TARGET, colour, read, render, runs,
    time_axis, value_range,
};
use std::path::Path;

/// At most this many subjects get an individual chart.
pub const MAX_INDIVIDUALS: usize = 12;

/// Options for [`fit_svg`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitPlotOptions {
    /// Log-scaled concentration axes (DV vs (I)PRED and the individual fits).
    pub log: bool,
    /// Observables to draw, by name (`conc`) or `name [unit]`; all when `None`.
    pub observables: Option<Vec<String>>,
    /// A heading over the charts (default: the model's name from `fit.json`).
    pub title: Option<String>,
}

/// Whether `dir` looks like the output directory of `twin fit` (it holds `predictions.csv` and
/// `fit.json`).
pub fn is_fit_dir(dir: &Path) -> bool {
    dir.join("predictions.csv").is_file() && dir.join("fit.json").is_file()
}

/// Draws the goodness-of-fit charts of the `twin fit --out` directory `dir` as one SVG document.
///
/// Errors: `dir` is not a directory or lacks `predictions.csv` or `fit.json`; `fit.json` is not
/// JSON; `predictions.csv` misses a column or holds a bad number (naming the line and column);
/// an unknown observable in `opts.observables`; nothing to show.
pub fn fit_svg(dir: &Path, opts: &FitPlotOptions) -> Result<String, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::input(
            &dir.display().to_string(),
            "not a directory (expected the --out directory of `twin fit`)",
        ));
    }
    let load = |name: &str| -> Result<(String, String), PlotError> {
        let p = dir.join(name);
        if !p.is_file() {
            return Err(PlotError::input(
                &dir.display().to_string(),
                format!("no {name} here (is this the --out directory of `twin fit`?)"),
            ));
        }
        Ok((p.display().to_string(), read(&p)?))
    };
    let predictions = load("predictions.csv")?;
    let json = load("fit.json")?;
    fit_svg_text(
        FitTexts {
            predictions: (&predictions.0, &predictions.1),
            fit_json: Some((&json.0, &json.1)),
        },
        opts,
    )
}

/// The files of a fit directory [`fit_svg_text`] draws, each `(file name, text)`.
#[derive(Debug, Clone, Copy)]
pub struct FitTexts<'a> {
    /// `predictions.csv`.
    pub predictions: (&'a str, &'a str),
    /// `fit.json` (the model's name and the subjects' status), optional.
    pub fit_json: Option<(&'a str, &'a str)>,
}

/// [`fit_svg`] on texts already read.
pub fn fit_svg_text(texts: FitTexts<'_>, opts: &FitPlotOptions) -> Result<String, PlotError> {
    let info = match texts.fit_json {
        Some((file, text)) => read_info(file, text)?,
        None => Info::default(),
    };
    let (file, text) = texts.predictions;
    let data = read_predictions(file, text)?;
    let chosen = choose(file, &data, opts)?;
    let mut panels = Vec::new();
    for &o in &chosen {
        for against in [Against::Ipred, Against::Pred] {
            panels.extend(gof_panel(&data, o, against, opts.log));
        }
    }
    panels.extend(iwres_panel(&data, &chosen));
    let (individuals, any_values) = individual_panels(&data, &chosen, &info, opts.log);
    if panels.is_empty() && !any_values {
        return Err(PlotError::input(
            file,
            if opts.log {
                "nothing to show: no row has positive DV, PRED or IPRED values for a log scale"
            } else {
                "nothing to show: no row has DV, PRED, IPRED or IWRES values"
            },
        ));
    }
    panels.extend(individuals);
    let heading = match (&opts.title, &info.model) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(m)) => Some(format!("{m}: goodness of fit")),
        (None, None) => None,
    };
    render(&panels, heading.as_deref())
}

/// What `fit.json` tells the charts.
#[derive(Debug, Default)]
struct Info {
    /// The model's name.
    model: Option<String>,
    /// Each subject's ID and status (`converged`, `not converged: …`, `failed: …`).
    status: Vec<(String, String)>,
}

/// Reads the model's name and the subjects' status from `fit.json`; a file that is not JSON is
/// an error, fields it lacks are simply not used.
fn read_info(file: &str, text: &str) -> Result<Info, PlotError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| PlotError::input(file, format!("not the JSON of `twin fit`: {e}")))?;
    let id_text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let status = v
        .get("subjects")
        .and_then(|s| s.as_array())
        .map(|subjects| {
            subjects
                .iter()
                .filter_map(|s| {
                    let id = id_text(s.get("id")?)?;
                    let status = s.get("status")?.as_str()?.to_string();
                    Some((id, status))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Info {
        model: v.get("model").and_then(|m| m.as_str()).map(str::to_string),
        status,
    })
}

/// One row of `predictions.csv`.
#[derive(Debug, Clone)]
struct Row {
    /// Index into [`Predictions::ids`].
    id: usize,
    /// Time, in the unit of the `TIME` column.
    time: f64,
    /// Index into [`Predictions::observables`].
    obs: usize,
    dv: Option<f64>,
    pred: Option<f64>,
    ipred: Option<f64>,
    iwres: Option<f64>,
    /// 2.5 % and 97.5 % of IPRED.
    band: (Option<f64>, Option<f64>),
}

/// The contents of `predictions.csv`.
#[derive(Debug)]
struct Predictions {
    /// Subject IDs in file order.
    ids: Vec<String>,
    /// Observables (name, unit) in file order.
    observables: Vec<(String, String)>,
    rows: Vec<Row>,
    /// The unit of the `TIME` column (`h`).
    time_unit: String,
}

/// The index of `key` in `v`, appending it when new.
fn index_of<T: PartialEq>(v: &mut Vec<T>, key: T) -> usize {
    match v.iter().position(|x| *x == key) {
        Some(i) => i,
        None => {
            v.push(key);
            v.len() - 1
        }
    }
}

fn read_predictions(file: &str, text: &str) -> Result<Predictions, PlotError> {
    let t = Table::parse(file, text)?;
    let c_id = t.need("ID")?;
    let Some(c_time) = t
        .header
        .iter()
        .position(|h| name_unit(h).0.eq_ignore_ascii_case("time"))
    else {
        return Err(PlotError::input(
            file,
            format!(
                "no `TIME [h]` column (the header has: {})",
                t.header.join(", ")
            ),
        ));
    };
    let (c_obs, c_unit) = (t.need("observable")?, t.need("unit")?);
    let (c_dv, c_pred, c_ipred, c_iwres) = (
        t.need("DV")?,
        t.need("PRED")?,
        t.need("IPRED")?,
        t.need("IWRES")?,
    );
    // The band is there when the fit drew from the posterior; older files may lack the columns.
    let c_band = (t.find("IPRED_2.5%"), t.find("IPRED_97.5%"));
    let missing = |r: usize, c: usize, what: &str| {
        PlotError::input(
            file,
            format!(
                "line {}, column `{}`: the {what} is missing",
                t.rows[r].0, t.header[c]
            ),
        )
    };
    let opt = |r: usize, c: Option<usize>| -> Result<Option<f64>, PlotError> {
        match c {
            Some(c) => t.number(r, c),
            None => Ok(None),
        }
    };
    let mut ids = Vec::new();
    let mut observables = Vec::new();
    let mut rows = Vec::with_capacity(t.rows.len());
    for r in 0..t.rows.len() {
        let id = t.text(r, c_id);
        if id.is_empty() {
            return Err(missing(r, c_id, "ID"));
        }
        let time = t
            .number(r, c_time)?
            .ok_or_else(|| missing(r, c_time, "time"))?;
        let name = t.text(r, c_obs);
        if name.is_empty() {
            return Err(missing(r, c_obs, "observable"));
        }
        let key = (name.to_string(), t.text(r, c_unit).to_string());
        rows.push(Row {
            id: index_of(&mut ids, id.to_string()),
            time,
            obs: index_of(&mut observables, key),
            dv: t.number(r, c_dv)?,
            pred: t.number(r, c_pred)?,
            ipred: t.number(r, c_ipred)?,
            iwres: t.number(r, c_iwres)?,
            band: (opt(r, c_band.0)?, opt(r, c_band.1)?),
        });
    }
    Ok(Predictions {
        ids,
        observables,
        rows,
        time_unit: name_unit(&t.header[c_time]).1.to_string(),
    })
}

/// The observables to draw, as indices into `data.observables`.
fn choose(file: &str, data: &Predictions, opts: &FitPlotOptions) -> Result<Vec<usize>, PlotError> {
    let Some(wanted) = &opts.observables else {
        return Ok((0..data.observables.len()).collect());
    };
    let mut chosen = Vec::new();
    for w in wanted.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let hits: Vec<usize> = (0..data.observables.len())
            .filter(|&i| {
                let (n, u) = &data.observables[i];
                n == w || format!("{n} [{u}]") == w
            })
            .collect();
        if hits.is_empty() {
            let names: Vec<&str> = data.observables.iter().map(|o| o.0.as_str()).collect();
            return Err(PlotError::Usage(format!(
                "--columns: {file} has no observable `{w}` (it has: {})",
                names.join(", ")
            )));
        }
        for i in hits {
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
    }
    if chosen.is_empty() {
        return Ok((0..data.observables.len()).collect());
    }
    Ok(chosen)
}

/// ` [unit]`, or nothing for a dimensionless observable.
fn unit_part(unit: &str) -> String {
    match unit {
        "" | "1" => String::new(),
        u => format!(" [{u}]"),
    }
}

/// Maps data values onto a y (or x) axis: log10 (values ≤ 0 are not drawn, values below the
/// axis floor sit on it) or as they are.
#[derive(Debug, Clone, Copy)]
struct Transform {
    log: bool,
    floor: f64,
}

impl Transform {
    fn apply(&self, v: f64) -> Option<f64> {
        if self.log {
            (v > 0.0).then(|| v.log10().max(self.floor))
        } else {
            Some(v)
        }
    }
}

fn scale(log: bool) -> Scale {
    if log { Scale::Log10 } else { Scale::Linear }
}

/// A legend note saying how many values ≤ 0 a log scale left out.
fn skipped_note(skipped: usize, what: &str) -> Option<Entry> {
    (skipped > 0).then(|| Entry {
        label: if skipped == 1 {
            format!("1 {what} ≤ 0 not shown")
        } else {
            format!("{skipped} {what}s ≤ 0 not shown")
        },
        colour: GREY,
        swatch: Swatch::None,
    })
}

/// Which prediction the DV is plotted against.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Against {
    Ipred,
    Pred,
}

/// Radius of a data point, px.
const DOT: u32 = 3;
/// Opacity of the IPRED band.
const BAND_OPACITY: f64 = 0.22;
/// Height of a DV-vs-prediction chart, px.
const GOF_HEIGHT: u32 = 340;
/// Height of the IWRES chart, px.
const IWRES_HEIGHT: u32 = 260;
/// Height of an individual chart, px.
const INDIVIDUAL_HEIGHT: u32 = 170;
/// The 97.5 % quantile of the standard normal.
const Z975: f64 = 1.96;

/// DV against IPRED or PRED for observable `o`; `None` when no row has both.
fn gof_panel(data: &Predictions, o: usize, against: Against, log: bool) -> Option<Panel> {
    let (name, unit) = &data.observables[o];
    let label = match against {
        Against::Ipred => "IPRED",
        Against::Pred => "PRED",
    };
    let pairs: Vec<(f64, f64)> = data
        .rows
        .iter()
        .filter(|r| r.obs == o)
        .filter_map(|r| {
            let x = match against {
                Against::Ipred => r.ipred,
                Against::Pred => r.pred,
            };
            Some((x?, r.dv?))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let shown: Vec<(f64, f64)> = pairs
        .iter()
        .copied()
        .filter(|(x, y)| !log || (*x > 0.0 && *y > 0.0))
        .collect();
    // One range for both axes, so the identity line is the diagonal.
    let (lo, hi) = value_range(shown.iter().flat_map(|(x, y)| [*x, *y]), log)?;
    let tr = Transform { log, floor: lo };
    let mut marks = vec![Mark::DashedLine {
        points: vec![(lo, lo), (hi, hi)],
        colour: TARGET,
        width: 1,
    }];
    for (x, y) in &shown {
        if let (Some(x), Some(y)) = (tr.apply(*x), tr.apply(*y)) {
            marks.push(Mark::Dot {
                at: (x, y),
                colour: colour(0),
                radius: DOT,
            });
        }
    }
    let u = unit_part(unit);
    let mut legend = vec![
        Entry {
            label: format!("observations ({})", shown.len()),
            colour: colour(0),
            swatch: Swatch::Dot,
        },
        Entry {
            label: "identity (y = x)".into(),
            colour: TARGET,
            swatch: Swatch::Dashed,
        },
    ];
    legend.extend(skipped_note(pairs.len() - shown.len(), "point"));
    let axis = |label: String| Axis {
        label,
        lo,
        hi,
        scale: scale(log),
    };
    Some(Panel {
        title: format!(
            "{name}{u}: DV vs {label}{}",
            if log { ", log scale" } else { "" }
        ),
        x: axis(format!("{label}{u}")),
        y: axis(format!("DV{u}")),
        plot_height: GOF_HEIGHT,
        marks,
        legend,
    })
}

/// The x axis for times `lo..=hi` (data unit): the divisor, label and range.
fn time_range(data: &Predictions, lo: f64, hi: f64) -> (f64, String, f64, f64) {
    let all = data
        .rows
        .iter()
        .map(|r| r.time)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
            (a.min(t), b.max(t))
        });
    // The same time unit in every chart, chosen from the span of the whole file.
    let (div, label) = time_axis(&data.time_unit, all.1 - all.0);
    if hi > lo {
        (div, label, lo / div, hi / div)
    } else {
        (div, label, lo / div - 0.5, hi / div + 0.5)
    }
}

/// IWRES against time for the observables `chosen`; `None` when no row has IWRES.
fn iwres_panel(data: &Predictions, chosen: &[usize]) -> Option<Panel> {
    let rows: Vec<&Row> = data
        .rows
        .iter()
        .filter(|r| chosen.contains(&r.obs) && r.iwres.is_some())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let (tlo, thi) = rows
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
            (a.min(r.time), b.max(r.time))
        });
    let (div, xlabel, xlo, xhi) = time_range(data, tlo, thi);
    let m = rows
        .iter()
        .filter_map(|r| r.iwres)
        .fold(Z975, |m, v| m.max(v.abs()))
        * 1.08;
    let mut marks = vec![
        Mark::HRule { y: 0.0 },
        Mark::Dashed {
            y: Z975,
            colour: TARGET,
        },
        Mark::Dashed {
            y: -Z975,
            colour: TARGET,
        },
    ];
    let mut legend = Vec::new();
    let several = chosen.len() > 1;
    for (k, &o) in chosen.iter().enumerate() {
        let mut n = 0;
        for r in rows.iter().filter(|r| r.obs == o) {
            if let Some(v) = r.iwres {
                marks.push(Mark::Dot {
                    at: (r.time / div, v),
                    colour: colour(k),
                    radius: DOT,
                });
                n += 1;
            }
        }
        if n > 0 {
            legend.push(Entry {
                label: if several {
                    format!("{} ({n})", data.observables[o].0)
                } else {
                    format!("IWRES ({n})")
                },
                colour: colour(k),
                swatch: Swatch::Dot,
            });
        }
    }
    legend.push(Entry {
        label: "±1.96".into(),
        colour: TARGET,
        swatch: Swatch::Dashed,
    });
    Some(Panel {
        title: "IWRES vs time".into(),
        x: Axis {
            label: xlabel,
            lo: xlo,
            hi: xhi,
            scale: Scale::Linear,
        },
        y: Axis {
            label: "IWRES".into(),
            lo: -m,
            hi: m,
            scale: Scale::Linear,
        },
        plot_height: IWRES_HEIGHT,
        marks,
        legend,
    })
}

/// One chart per subject (and per observable of `chosen` it has rows of) for the first
/// [`MAX_INDIVIDUALS`] subjects, and whether any of them has values to show.
fn individual_panels(
    data: &Predictions,
    chosen: &[usize],
    info: &Info,
    log: bool,
) -> (Vec<Panel>, bool) {
    // Subjects with rows of the chosen observables, in file order.
    let ids: Vec<usize> = (0..data.ids.len())
        .filter(|&i| {
            data.rows
                .iter()
                .any(|r| r.id == i && chosen.contains(&r.obs))
        })
        .collect();
    let cap_note = if ids.len() > MAX_INDIVIDUALS {
        format!(" (first {MAX_INDIVIDUALS} of {} IDs)", ids.len())
    } else {
        String::new()
    };
    let failed: Vec<&str> = info
        .status
        .iter()
        .filter(|(id, s)| s.starts_with("failed") && !data.ids.contains(id))
        .map(|(id, _)| id.as_str())
        .collect();
    let several = chosen.len() > 1;
    let mut panels = Vec::new();
    let mut any_values = false;
    for &i in ids.iter().take(MAX_INDIVIDUALS) {
        let id = &data.ids[i];
        let status = info
            .status
            .iter()
            .find(|(s, _)| s == id)
            .map(|(_, s)| s.as_str())
            .filter(|s| *s != "converged");
        for &o in chosen {
            let mut rows: Vec<&Row> = data
                .rows
                .iter()
                .filter(|r| r.id == i && r.obs == o)
                .collect();
            if rows.is_empty() {
                continue;
            }
            rows.sort_by(|a, b| a.time.total_cmp(&b.time));
            let (name, unit) = &data.observables[o];
            let first = panels.is_empty();
            let mut title = if several {
                format!("ID {id}: {name}")
            } else {
                format!("ID {id}")
            };
            if let Some(s) = status {
                title.push_str(&format!(" ({s})"));
            }
            if first {
                title = format!("Individual fits{cap_note} — {title}");
            }
            let (mut panel, values) = individual(data, &rows, title, name, unit, log);
            any_values |= values;
            if first && !failed.is_empty() {
                panel.legend.push(Entry {
                    label: format!("failed, not drawn: ID {}", failed.join(", ")),
                    colour: GREY,
                    swatch: Swatch::None,
                });
            }
            panels.push(panel);
        }
    }
    (panels, any_values)
}

/// One subject's chart of one observable (`rows` sorted by time), and whether it shows any
/// value.
fn individual(
    data: &Predictions,
    rows: &[&Row],
    title: String,
    name: &str,
    unit: &str,
    log: bool,
) -> (Panel, bool) {
    let (tlo, thi) = (rows[0].time, rows[rows.len() - 1].time);
    let (div, xlabel, xlo, xhi) = time_range(data, tlo, thi);
    let values = rows.iter().flat_map(|r| {
        [r.dv, r.pred, r.ipred, r.band.0, r.band.1]
            .into_iter()
            .flatten()
    });
    let range = value_range(values, log);
    let (ylo, yhi) = range.unwrap_or(if log { (-1.0, 1.0) } else { (0.0, 1.0) });
    let tr = Transform { log, floor: ylo };
    let x = |r: &Row| r.time / div;
    let mut marks = Vec::new();
    // The band where both bounds are known; a lower bound ≤ 0 on a log axis sits on the floor.
    let band: Vec<Option<(f64, f64, f64)>> = rows
        .iter()
        .map(|r| match r.band {
            (Some(l), Some(h)) => tr.apply(h).map(|h| (x(r), tr.apply(l).unwrap_or(ylo), h)),
            _ => None,
        })
        .collect();
    let has_band = band.iter().any(Option::is_some);
    for seg in runs(band.into_iter()) {
        marks.push(Mark::Band {
            upper: seg.iter().map(|(x, _, h)| (*x, *h)).collect(),
            lower: seg.iter().map(|(x, l, _)| (*x, *l)).collect(),
            colour: colour(0),
            opacity: BAND_OPACITY,
        });
    }
    for run in runs(
        rows.iter()
            .map(|r| r.pred.and_then(|v| tr.apply(v)).map(|y| (x(r), y))),
    ) {
        marks.push(Mark::DashedLine {
            points: run,
            colour: colour(1),
            width: 2,
        });
    }
    for run in runs(
        rows.iter()
            .map(|r| r.ipred.and_then(|v| tr.apply(v)).map(|y| (x(r), y))),
    ) {
        marks.push(Mark::Line {
            points: run,
            colour: colour(0),
            width: 2,
        });
    }
    let mut skipped = 0;
    for r in rows {
        let Some(dv) = r.dv else { continue };
        match tr.apply(dv) {
            Some(y) => marks.push(Mark::Dot {
                at: (x(r), y),
                colour: TARGET,
                radius: DOT,
            }),
            None => skipped += 1,
        }
    }
    let mut legend = vec![
        Entry {
            label: "DV".into(),
            colour: TARGET,
            swatch: Swatch::Dot,
        },
        Entry {
            label: "IPRED".into(),
            colour: colour(0),
            swatch: Swatch::Line,
        },
        Entry {
            label: "PRED".into(),
            colour: colour(1),
            swatch: Swatch::Dashed,
        },
    ];
    if has_band {
        legend.push(Entry {
            label: "IPRED 2.5–97.5 %".into(),
            colour: colour(0),
            swatch: Swatch::Band(BAND_OPACITY),
        });
    }
    legend.extend(skipped_note(skipped, "DV"));
    if range.is_none() {
        legend.push(Entry {
            label: "no values to show".into(),
            colour: GREY,
            swatch: Swatch::None,
        });
    }
    let panel = Panel {
        title,
        x: Axis {
            label: xlabel,
            lo: xlo,
            hi: xhi,
            scale: Scale::Linear,
        },
        y: Axis {
            label: format!("{name}{}", unit_part(unit)),
            lo: ylo,
            hi: yhi,
            scale: scale(log),
        },
        plot_height: INDIVIDUAL_HEIGHT,
        marks,
        legend,
    };
    (panel, range.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "ID,TIME [h],observable,unit,DV,PRED,IPRED,IWRES,IPRED_2.5%,IPRED_97.5%\n";

    fn plot(body: &str, opts: &FitPlotOptions) -> Result<String, PlotError> {
        let text = format!("{HEADER}{body}");
        fit_svg_text(
            FitTexts {
                predictions: ("predictions.csv", &text),
                fit_json: None,
            },
            opts,
        )
    }

    #[test]
    fn rows_and_errors() {
        let body = "1,0,conc,mg/L,0,0,0,0,0,0\n1,1,conc,mg/L,2,1.5,2.1,-0.3,1.8,2.4\n";
        plot(body, &FitPlotOptions::default()).expect("plots");
        plot(
            body,
            &FitPlotOptions {
                log: true,
                ..Default::default()
            },
        )
        .expect("plots on a log scale");
        let e = plot("1,0,conc,mg/L,1,x,1,0,,\n", &FitPlotOptions::default())
            .expect_err("bad PRED")
            .to_string();
        assert!(
            e.contains("predictions.csv") && e.contains("line 2") && e.contains("`PRED`"),
            "{e}"
        );
        let e = plot("1,,conc,mg/L,1,1,1,0,,\n", &FitPlotOptions::default())
            .expect_err("no time")
            .to_string();
        assert!(e.contains("`TIME [h]`") && e.contains("missing"), "{e}");
        let e = plot("1,0,conc,mg/L,,,,,,\n", &FitPlotOptions::default())
            .expect_err("nothing")
            .to_string();
        assert!(e.contains("nothing to show"), "{e}");
        let e = plot(
            body,
            &FitPlotOptions {
                observables: Some(vec!["auc".into()]),
                ..Default::default()
            },
        )
        .expect_err("unknown observable")
        .to_string();
        assert!(e.contains("`auc`") && e.contains("conc"), "{e}");
    }
}
