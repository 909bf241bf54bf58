//! Concentration–time profiles from the CSV of `twin run`.
//!
//! The CSV has a `time [unit]` column, value columns `name [unit]`, and, when it was run from
//! event records, a leading `ID` column. Columns are grouped by unit: each unit gets its own chart
//! (amounts in `mg` and concentrations in `mg/L` never share an axis), each column (and each `ID`)
//! its own line. On a log scale, zero and negative values are left out (the line breaks there)
//! and the legend says how many.

use super::csv::{Table, name_unit};
use super::{
    Axis, Entry, Mark, Panel, PlotError, Scale, Swatch, colour, render, runs, time_axis,
    value_range,
};

/// Options for [`profile_svg`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileOptions {
    /// Log-scaled y axes (non-positive values are skipped).
    pub log: bool,
    /// Columns to plot, by name (`conc`) or full header (`conc [mg/L]`); all when `None`.
    pub columns: Option<Vec<String>>,
    /// Dose times in the CSV's time unit (hours), drawn as vertical rules.
    pub doses: Vec<f64>,
    /// A title (the chart's, or a heading over several charts).
    pub title: Option<String>,
}

/// Draws the profiles in `csv_text` (the output of `twin run`) as an SVG document.
///
/// Errors name the column and line: a CSV without a `time` column, a cell that is not a number,
/// an empty file, an unknown column in `opts.columns`, or nothing positive to show on a log
/// scale.
pub fn profile_svg(csv_text: &str, opts: &ProfileOptions) -> Result<String, PlotError> {
    profile_svg_named("CSV", csv_text, opts)
}

/// [`profile_svg`] with the file's name for error messages.
pub fn profile_svg_named(
    file: &str,
    csv_text: &str,
    opts: &ProfileOptions,
) -> Result<String, PlotError> {
    let panels = panels(file, csv_text, opts)?;
    let heading = match (&opts.title, panels.len()) {
        (Some(t), n) if n > 1 => Some(t.as_str()),
        _ => None,
    };
    render(&panels, heading)
}

/// One series: a column for one subject.
struct Series {
    label: String,
    points: Vec<Option<(f64, f64)>>,
}

fn panels(file: &str, text: &str, opts: &ProfileOptions) -> Result<Vec<Panel>, PlotError> {
    let t = Table::parse(file, text)?;
    let Some(c_time) = t
        .header
        .iter()
        .position(|h| name_unit(h).0.eq_ignore_ascii_case("time"))
    else {
        return Err(PlotError::input(
            file,
            format!(
                "no `time [h]` column — is this the output of `twin run`? (the header has: {})",
                t.header.join(", ")
            ),
        ));
    };
    let c_id = t.header.iter().position(|h| h.eq_ignore_ascii_case("id"));
    let value_cols: Vec<usize> = (0..t.header.len())
        .filter(|c| *c != c_time && Some(*c) != c_id)
        .collect();
    let chosen: Vec<usize> = match &opts.columns {
        None => value_cols.clone(),
        Some(names) => {
            let mut chosen = Vec::new();
            for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let found = value_cols
                    .iter()
                    .find(|c| t.header[**c] == n || name_unit(&t.header[**c]).0 == n);
                match found {
                    Some(c) if !chosen.contains(c) => chosen.push(*c),
                    Some(_) => {}
                    None => {
                        return Err(PlotError::Usage(format!(
                            "--columns: {file} has no column `{n}` (it has: {})",
                            value_cols
                                .iter()
                                .map(|c| name_unit(&t.header[*c]).0)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(PlotError::input(
            file,
            "no value columns to plot (only time and ID)",
        ));
    }

    // Subjects in first-seen order; rows keep file order within a subject.
    let mut ids: Vec<String> = Vec::new();
    let mut subject_of_row = Vec::with_capacity(t.rows.len());
    let mut times = Vec::with_capacity(t.rows.len());
    for r in 0..t.rows.len() {
        let id = c_id.map(|c| t.text(r, c).to_string()).unwrap_or_default();
        let k = match ids.iter().position(|x| *x == id) {
            Some(k) => k,
            None => {
                ids.push(id);
                ids.len() - 1
            }
        };
        subject_of_row.push(k);
        let Some(time) = t.number(r, c_time)? else {
            return Err(PlotError::input(
                file,
                format!(
                    "line {}, column `{}`: the time is missing",
                    t.rows[r].0, t.header[c_time]
                ),
            ));
        };
        times.push(time);
    }
    let (tmin, tmax) = times
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let (tdiv, xlabel) = time_axis(name_unit(&t.header[c_time]).1, tmax - tmin);
    let (xlo, xhi) = if tmax > tmin {
        (tmin / tdiv, tmax / tdiv)
    } else {
        (tmin / tdiv - 0.5, tmax / tdiv + 0.5)
    };

    // Group the chosen columns by unit, in order of first appearance.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for c in &chosen {
        let unit = name_unit(&t.header[*c]).1.to_string();
        match groups.iter_mut().find(|g| g.0 == unit) {
            Some(g) => g.1.push(*c),
            None => groups.push((unit, vec![*c])),
        }
    }

    let mut panels = Vec::new();
    let mut empty_log: Vec<String> = Vec::new();
    let single = groups.len() == 1;
    for (unit, cols) in &groups {
        let mut series: Vec<Series> = Vec::new();
        let mut all = Vec::new();
        let mut skipped = 0usize;
        for c in cols {
            let name = name_unit(&t.header[*c]).0;
            for (k, id) in ids.iter().enumerate() {
                let mut points = Vec::new();
                for r in (0..t.rows.len()).filter(|r| subject_of_row[*r] == k) {
                    let v = t.number(r, *c)?;
                    let p = match v {
                        Some(v) if opts.log && v <= 0.0 => {
                            skipped += 1;
                            None
                        }
                        Some(v) => {
                            all.push(v);
                            Some((times[r] / tdiv, v))
                        }
                        None => None,
                    };
                    points.push(p);
                }
                let label = match (c_id.is_some(), cols.len() > 1) {
                    (false, _) => name.to_string(),
                    (true, false) => format!("ID {id}"),
                    (true, true) => format!("{name} · ID {id}"),
                };
                series.push(Series { label, points });
            }
        }
        let Some((ylo, yhi)) = value_range(all.iter().copied(), opts.log) else {
            empty_log.extend(cols.iter().map(|c| t.header[*c].clone()));
            continue;
        };
        let mut marks = Vec::new();
        let mut legend = Vec::new();
        for (i, s) in series.iter().enumerate() {
            let col = colour(i);
            let pts = s.points.iter().map(|p| {
                p.and_then(|(x, y)| {
                    let y = if opts.log { y.log10() } else { y };
                    // Below a log axis' floor: break the line rather than draw outside.
                    (y >= ylo).then_some((x, y))
                })
            });
            for run in runs(pts) {
                marks.push(Mark::Line {
                    points: run,
                    colour: col,
                    width: 2,
                });
            }
            legend.push(Entry {
                label: s.label.clone(),
                colour: col,
                swatch: Swatch::Line,
            });
        }
        let doses: Vec<f64> = opts
            .doses
            .iter()
            .map(|d| d / tdiv)
            .filter(|d| *d >= xlo && *d <= xhi)
            .collect();
        if !doses.is_empty() {
            for d in &doses {
                marks.push(Mark::VRule { x: *d });
            }
            legend.push(Entry {
                label: if doses.len() == 1 {
                    "dose".into()
                } else {
                    format!("doses ({})", doses.len())
                },
                colour: super::GREY,
                swatch: Swatch::Rule,
            });
        }
        if skipped > 0 {
            legend.push(Entry {
                label: if skipped == 1 {
                    "1 value ≤ 0 not shown".into()
                } else {
                    format!("{skipped} values ≤ 0 not shown")
                },
                colour: super::GREY,
                swatch: Swatch::None,
            });
        }
        let names: Vec<&str> = cols.iter().map(|c| name_unit(&t.header[*c]).0).collect();
        let unit_part = match unit.as_str() {
            "" | "1" => String::new(),
            u => format!(" [{u}]"),
        };
        let ylabel = if names.len() == 1 {
            format!("{}{unit_part}", names[0])
        } else if unit_part.is_empty() {
            "value".to_string()
        } else {
            format!("value{unit_part}")
        };
        let title = match (&opts.title, single) {
            (Some(t), true) => t.clone(),
            _ => {
                let what = format!("{}{unit_part}", names.join(", "));
                if opts.log {
                    format!("{what} (log scale)")
                } else {
                    what
                }
            }
        };
        panels.push(Panel {
            title,
            x: Axis {
                label: xlabel.clone(),
                lo: xlo,
                hi: xhi,
                scale: Scale::Linear,
            },
            y: Axis {
                label: ylabel,
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
                format!(
                    "nothing to plot on a log scale: every value of {} is zero, negative or missing",
                    empty_log.join(", ")
                )
            } else {
                format!("every value of {} is missing", empty_log.join(", "))
            },
        ));
    }
    Ok(panels)
}
