//! `twin plot`: SVG charts of `twin run`, `twin trial` and `twin fit` outputs.
//!
//! - [`profile_svg`]: concentration–time profiles from the CSV of `twin run` (`time [h]` then
//!   `name [unit]` columns, optionally a leading `ID`): one chart per unit, one line per column
//!   (and per `ID`), optional log-y and dose markers.
//! - [`trial_svg`]: from a `twin trial --out DIR` directory, per-arm medians with 25–75 % and
//!   5–95 % bands over time for each observable of `bands.csv` (VPC-style) with the endpoints'
//!   target ranges of `targets.csv` shaded under them (thresholds dashed), and each endpoint of
//!   `summary.csv` by stratum as dots with whiskers (responder rates with their Wilson intervals;
//!   medians with 25–75 % and 5–95 % ranges for numeric endpoints), one colour per arm.
//! - [`fit_svg`]: from a `twin fit --out DIR` directory (recognised by its `predictions.csv` and
//!   `fit.json`), goodness-of-fit charts: DV vs IPRED and vs PRED with the identity line, IWRES
//!   over time, and individual fits (DV, IPRED, PRED and the IPRED band) for the first subjects.
//!   `--what` chooses trial charts, so a fit directory accepts only `all`.
//!
//! Charts are described as `Panel`s (data coordinates, ticks, legend) by `profile`, `trial` and
//! `fit` and drawn here with plotters' SVG backend, stacked vertically in one document. Text is
//! written as SVG `<text>` elements, so no fonts are needed. Tick positions are chosen here,
//! thinned until the labels fit; legends sit in a strip to the right of each chart, never over
//! the data.

pub mod csv;
pub mod fit;
pub mod profile;
pub mod trial;

pub use fit::{FitPlotOptions, fit_svg, is_fit_dir};
pub use profile::{ProfileOptions, profile_svg};
pub use trial::{TrialPlotOptions, TrialPlots, trial_svg};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Why a plot could not be made.
#[derive(Debug)]
pub enum PlotError {
    /// An input file is missing something or holds a bad value: the file and what is wrong
    /// (with the line and column where there is one).
    Input {
        /// The file, as given (or `CSV` for text passed directly).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// A bad option (an unknown column, a malformed dose time).
    Usage(String),
    /// The drawing backend failed.
    Draw(String),
}

impl PlotError {
    /// An input error in `file`.
    pub fn input(file: &str, message: impl Into<String>) -> Self {
        PlotError::Input {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlotError::Input { file, message } => write!(f, "{file}: {message}"),
            PlotError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            PlotError::Usage(m) | PlotError::Draw(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for PlotError {}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Draw(format!("drawing failed: {e}"))
}

/// Reads a file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String, PlotError> {
    std::fs::read_to_string(path).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// What `twin plot` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct PlotRequest {
    /// A `twin run` CSV, or a `twin trial --out` or `twin fit --out` directory.
    pub input: PathBuf,
    /// The SVG to write.
    pub out: PathBuf,
    /// Log-scaled y axes.
    pub log: bool,
    /// Columns (profiles) or observables (trial bands) to plot; all when empty.
    pub columns: Vec<String>,
    /// Dose times for markers, as written (`12`, `12h`, `1.5d`).
    pub doses: Vec<String>,
    /// NONMEM-style event records whose dose times become markers.
    pub doses_from_events: Option<PathBuf>,
    /// Which trial charts (a fit directory accepts only [`TrialPlots::All`]).
    pub what: TrialPlots,
    /// A title.
    pub title: Option<String>,
}

/// Parses dose times: a number of hours, optionally with `h`, `min` or `d`.
pub fn parse_times(items: &[String]) -> Result<Vec<f64>, PlotError> {
    let mut out = Vec::new();
    for item in items {
        let s = item.trim();
        if s.is_empty() {
            continue;
        }
        let (num, factor) = if let Some(n) = s.strip_suffix("min") {
            (n, 1.0 / 60.0)
        } else if let Some(n) = s.strip_suffix('h') {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix('d') {
            (n, 24.0)
        } else {
            (s, 1.0)
        };
        match num.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => out.push(v * factor),
            _ => {
                return Err(PlotError::Usage(format!(
                    "--doses: `{s}` is not a time (give hours, e.g. --doses 0,12,24 or 0h,1d)"
                )));
            }
        }
    }
    Ok(out)
}

/// Dose times (hours) from NONMEM-style event records, read by the one dataset reader
/// ([`crate::dataset`]: the same columns, units in headers, quoting and comments as
/// `twin run --events`): rows with `EVID` 1 or 4 at `TIME`, plus `ADDL` repeats every `II`.
/// Every subject's doses are merged.
pub fn dose_times_from_events(file: &str, text: &str) -> Result<Vec<f64>, PlotError> {
    let bad = |e: crate::dataset::DatasetError| PlotError::input(file, e.to_string());
    let reader = crate::dataset::Reader::new(text.as_bytes()).map_err(bad)?;
    // `TIME` (and `II`, which defaults to `TIME`'s unit) to hours.
    let units = crate::units::prelude_table()
        .map_err(|_| PlotError::input(file, "the unit prelude does not load"))?;
    let hour = units.get("h").unwrap_or(crate::units::Unit::ONE);
    let mut sources = crate::source::SourceMap::new();
    let at = sources.add(file, text);
    let factor = |name: &str| -> Result<Option<f64>, PlotError> {
        match reader.header().unit(name) {
            None => Ok(None),
            Some((_, u)) => crate::check::unit_factor(&units, at, u, hour)
                .map(Some)
                .map_err(|m| PlotError::input(file, format!("row 1, column {name}: {m}"))),
        }
    };
    let time = factor("TIME")?.unwrap_or(1.0);
    let ii = factor("II")?.unwrap_or(time);
    let mut out = Vec::new();
    for r in reader {
        let r = r.map_err(bad)?;
        if r.evid != 1 && r.evid != 4 {
            continue;
        }
        let t = r.time * time;
        out.push(t);
        if r.ii > 0.0 {
            for k in 1..=r.addl.clamp(0, 10_000) {
                out.push(t + r.ii * ii * k as f64);
            }
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

/// Runs `twin plot`: draws `req.input` (a file, or a fit or trial directory) and writes the SVG
/// to `req.out` atomically. Returns a one-line description of what was written.
pub fn run(req: &PlotRequest) -> Result<String, PlotError> {
    let svg = if req.input.is_dir() && is_fit_dir(&req.input) {
        if req.what != TrialPlots::All {
            return Err(PlotError::Usage(format!(
                "--what chooses trial charts; {} is a `twin fit` directory, whose charts are \
                 drawn together (leave out --what, or give --what all)",
                req.input.display()
            )));
        }
        if !req.doses.is_empty() || req.doses_from_events.is_some() {
            return Err(PlotError::Usage(format!(
                "--doses and --doses-from-events mark profiles; {} is a `twin fit` directory, \
                 whose subjects have doses of their own",
                req.input.display()
            )));
        }
        let opts = FitPlotOptions {
            log: req.log,
            observables: (!req.columns.is_empty()).then(|| req.columns.clone()),
            title: req.title.clone(),
        };
        fit_svg(&req.input, &opts)?
    } else if req.input.is_dir() {
        let opts = TrialPlotOptions {
            what: req.what,
            log: req.log,
            observables: (!req.columns.is_empty()).then(|| req.columns.clone()),
            title: req.title.clone(),
        };
        trial_svg(&req.input, &opts)?
    } else {
        let mut doses = parse_times(&req.doses)?;
        if let Some(p) = &req.doses_from_events {
            doses.extend(dose_times_from_events(&p.display().to_string(), &read(p)?)?);
        }
        let opts = ProfileOptions {
            log: req.log,
            columns: (!req.columns.is_empty()).then(|| req.columns.clone()),
            doses,
            title: req.title.clone(),
        };
        let text = read(&req.input)?;
        profile::profile_svg_named(&req.input.display().to_string(), &text, &opts)?
    };
    crate::files::write_atomic(&req.out, &svg).map_err(|source| PlotError::Io {
        path: req.out.clone(),
        source,
    })?;
    Ok(format!("wrote {}", req.out.display()))
}

// ---------------------------------------------------------------------------------------------
// Panels: what a chart shows, in data coordinates, and how to draw a stack of them.

/// Width of every chart, px.
const WIDTH: u32 = 960;
/// Width of the legend strip at the right of each chart, px.
const LEGEND: u32 = 200;
/// Space around the plotting area, px.
const MARGIN: u32 = 12;
/// Height of a chart's title, px.
const CAPTION: u32 = 34;
/// Height of the x tick labels and axis label, px.
const X_AREA: u32 = 52;
/// Tick label font size as written in the SVG, px.
const TICK_PX: f64 = 12.0;
/// plotters divides font sizes by this before writing them.
const PLOTTERS_FONT: f64 = 1.24;

/// A colour-blind-safe palette (Okabe–Ito, without black and yellow).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(120, 120, 120),
];

/// The `i`-th series colour.
pub(crate) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Grey for dose markers and separators.
const GREY: RGBColor = RGBColor(150, 150, 150);

/// Dark grey for target ranges and thresholds.
pub(crate) const TARGET: RGBColor = RGBColor(64, 64, 64);

/// How an axis maps and labels values.
#[derive(Debug, Clone)]
pub(crate) enum Scale {
    /// Values as they are, ticks at 1–2–5 steps.
    Linear,
    /// Values are log10 of the data; ticks at decades (or 1–2–5 within a decade).
    Log10,
    /// Fixed ticks with names (strata).
    Categories(Vec<(f64, String)>),
}

/// One axis: its label, range and scale.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub label: String,
    pub lo: f64,
    pub hi: f64,
    pub scale: Scale,
}

/// Something drawn in data coordinates.
#[derive(Debug, Clone)]
pub(crate) enum Mark {
    /// A polyline.
    Line {
        points: Vec<(f64, f64)>,
        colour: RGBColor,
        width: u32,
    },
    /// A filled band between two curves over the same x values.
    Band {
        upper: Vec<(f64, f64)>,
        lower: Vec<(f64, f64)>,
        colour: RGBColor,
        opacity: f64,
    },
    /// A vertical rule across the whole plot (a dose).
    VRule { x: f64 },
    /// A horizontal rule across the whole plot (a separator between groups).
    HRule { y: f64 },
    /// A dashed horizontal line across the whole plot (a threshold).
    Dashed { y: f64, colour: RGBColor },
    /// A dashed polyline (an identity line, a population prediction).
    DashedLine {
        points: Vec<(f64, f64)>,
        colour: RGBColor,
        width: u32,
    },
    /// A straight segment.
    Segment {
        from: (f64, f64),
        to: (f64, f64),
        colour: RGBColor,
        width: u32,
    },
    /// A filled dot.
    Dot {
        at: (f64, f64),
        colour: RGBColor,
        radius: u32,
    },
}

/// How a legend entry is pictured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Swatch {
    Line,
    Band(f64),
    DotWhisker,
    /// A dot (observations).
    Dot,
    Rule,
    /// A dashed line (a threshold).
    Dashed,
    /// Text only (a note).
    None,
}

/// One legend entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub label: String,
    pub colour: RGBColor,
    pub swatch: Swatch,
}

/// One chart.
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    /// Height of the plotting area, px.
    pub plot_height: u32,
    pub marks: Vec<Mark>,
    pub legend: Vec<Entry>,
}

/// Approximate width of `text` at font size `px` (sans-serif averages about 0.6 em).
fn text_width(text: &str, px: f64) -> f64 {
    text.chars().count() as f64 * px * 0.6
}

/// `text` cut to `max` characters with an ellipsis.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// A short, exact-looking tick label: as many decimals as the step needs, exponents for very
/// large or small magnitudes.
pub(crate) fn fmt_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        let s = format!("{v:e}");
        // `1.5e-7` stays; `1e6` stays; trim mantissa noise like `2.0000000000000004e-7`.
        return match s.split_once('e') {
            Some((m, e)) => {
                let m: f64 = m.parse().unwrap_or(0.0);
                let m = format!("{:.2}", m);
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        };
    }
    // As many decimals as the step needs (0.25 → 2), so neighbouring labels differ.
    let mut decimals = 0usize;
    while decimals < 12 && step > 0.0 {
        let s = step * 10f64.powi(decimals as i32);
        if (s - s.round()).abs() <= 1e-6 * s.max(1.0) {
            break;
        }
        decimals += 1;
    }
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Nice 1–2–5 ticks within `[lo, hi]`, about `n` of them, and their step.
pub(crate) fn nice_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() || n == 0 {
        return (vec![lo], 0.0);
    }
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    let mut ticks = Vec::new();
    let mut k = first;
    while k * step <= hi + step * 1e-9 && ticks.len() < 100 {
        // Snap to the step so labels do not show float noise.
        let v = k * step;
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        k += 1.0;
    }
    (ticks, step)
}

/// The smallest 1–2–2.5–5 multiple of a power of ten at or above `v` (> 0).
pub(crate) fn nice_ceil(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= v * 0.999_999)
        .unwrap_or(10.0 * mag)
}

/// Ticks (position, label) for an axis of `length` px; `min_gap(label)` is the space one label
/// needs along the axis. Fewer ticks are tried until neighbours no longer overlap.
fn ticks(axis: &Axis, length: f64, min_gap: &dyn Fn(&str) -> f64) -> Vec<(f64, String)> {
    let span = axis.hi - axis.lo;
    let px = |d: f64| if span > 0.0 { d / span * length } else { 0.0 };
    let fits = |t: &[(f64, String)]| {
        t.windows(2)
            .all(|w| px(w[1].0 - w[0].0) >= 0.5 * (min_gap(&w[0].1) + min_gap(&w[1].1)))
    };
    match &axis.scale {
        Scale::Categories(c) => c.clone(),
        Scale::Linear => {
            let mut best = Vec::new();
            for n in (2..=12).rev() {
                let (t, step) = nice_ticks(axis.lo, axis.hi, n);
                let t: Vec<(f64, String)> = t.into_iter().map(|v| (v, fmt_tick(v, step))).collect();
                best = t;
                if fits(&best) {
                    break;
                }
            }
            best
        }
        Scale::Log10 => {
            let label = |e: f64| {
                let v = 10f64.powf(e);
                fmt_tick(v, v)
            };
            // Decades, thinned by a stride until they fit.
            let decades: Vec<f64> = ((axis.lo.ceil() as i64)..=(axis.hi.floor() as i64))
                .map(|k| k as f64)
                .collect();
            if decades.len() >= 3 {
                for stride in 1..=decades.len() {
                    let t: Vec<(f64, String)> = decades
                        .iter()
                        .filter(|k| (**k as i64).rem_euclid(stride as i64) == 0)
                        .map(|k| (*k, label(*k)))
                        .collect();
                    if t.len() >= 2 && fits(&t) {
                        return t;
                    }
                }
            }
            // 1, 2, 5 × each decade.
            let mut t125 = Vec::new();
            for k in (axis.lo.floor() as i64)..=(axis.hi.ceil() as i64) {
                for m in [1.0f64, 2.0, 5.0] {
                    let e = k as f64 + m.log10();
                    if e >= axis.lo - 1e-9 && e <= axis.hi + 1e-9 {
                        let v = m * 10f64.powi(k as i32);
                        t125.push((e, fmt_tick(v, 10f64.powi(k as i32))));
                    }
                }
            }
            if t125.len() >= 3 && fits(&t125) {
                return t125;
            }
            if decades.len() >= 2 {
                return decades.iter().map(|k| (*k, label(*k))).collect();
            }
            // Less than a decade: linear ticks in value space, or the 1–2–5 ones when those
            // are fewer than two (1.1–9.3 has only the linear tick 5, but 2 and 5 of 1–2–5).
            let (t, step) = nice_ticks(10f64.powf(axis.lo), 10f64.powf(axis.hi), 4);
            let linear: Vec<(f64, String)> = t
                .into_iter()
                .filter(|v| *v > 0.0)
                .map(|v| (v.log10(), fmt_tick(v, step)))
                .collect();
            if linear.len() < 2 && t125.len() >= 2 && fits(&t125) {
                return t125;
            }
            linear
        }
    }
}

fn label_of(ticks: &[(f64, String)], v: f64) -> String {
    ticks
        .iter()
        .find(|(t, _)| (t - v).abs() <= 1e-9 * (1.0 + t.abs()))
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}

/// A linear f64 axis whose grid lines and labels sit at ticks chosen here.
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(axis: &Axis, ticks: &[(f64, String)]) -> Self {
        Ticked {
            lo: axis.lo,
            hi: axis.hi,
            ticks: ticks.iter().map(|t| t.0).collect(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        if span.is_nan() || span <= 0.0 {
            return limit.0;
        }
        let f = (v - self.lo) / span;
        let px = limit.0 as f64 + f * (limit.1 - limit.0) as f64;
        px.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The total height of a panel, px.
fn panel_height(p: &Panel) -> u32 {
    CAPTION + 2 * MARGIN + p.plot_height + X_AREA
}

/// Draws panels stacked vertically into one SVG document, with an optional heading.
pub(crate) fn render(panels: &[Panel], heading: Option<&str>) -> Result<String, PlotError> {
    let head_h = if heading.is_some() { 40 } else { 0 };
    let height = head_h + panels.iter().map(panel_height).sum::<u32>();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height.max(1))).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut rest = root.clone();
        if let Some(h) = heading {
            let (top, below) = rest.split_vertically(head_h);
            let style = ("sans-serif", 24.0 * PLOTTERS_FONT)
                .into_font()
                .style(FontStyle::Bold)
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            top.draw(&Text::new(
                truncate(h, 80),
                (WIDTH as i32 / 2, head_h as i32 / 2),
                style,
            ))
            .map_err(draw_err)?;
            rest = below;
        }
        for p in panels {
            let (area, below) = rest.split_vertically(panel_height(p));
            draw_panel(&area, p)?;
            rest = below;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_panel(area: &Area<'_>, p: &Panel) -> Result<(), PlotError> {
    let (chart_area, legend_area) = area.split_horizontally(WIDTH - LEGEND);
    let tick_gap = |s: &str| text_width(s, TICK_PX) + 14.0;
    let row_gap = |_: &str| TICK_PX * 2.2;
    let yt = ticks(&p.y, p.plot_height as f64, &row_gap);
    let y_label_w = yt
        .iter()
        .map(|(_, l)| text_width(l, TICK_PX))
        .fold(0.0, f64::max);
    let y_desc_w = if p.y.label.is_empty() { 0.0 } else { 26.0 };
    let y_area = (y_label_w + 14.0 + y_desc_w).ceil() as u32;
    let plot_w = (WIDTH - LEGEND).saturating_sub(2 * MARGIN + y_area) as f64;
    let xt = ticks(&p.x, plot_w, &tick_gap);
    let max_title = ((WIDTH - LEGEND) as f64 / (18.0 * 0.6)) as usize;
    let max_ydesc = (p.plot_height as f64 / (14.0 * 0.6)) as usize;
    let max_xdesc = (plot_w / (14.0 * 0.6)) as usize;

    let mut chart = ChartBuilder::on(&chart_area)
        .caption(
            truncate(&p.title, max_title),
            ("sans-serif", 18.0 * PLOTTERS_FONT)
                .into_font()
                .style(FontStyle::Bold),
        )
        .margin(MARGIN)
        .x_label_area_size(X_AREA)
        .y_label_area_size(y_area)
        .build_cartesian_2d(Ticked::new(&p.x, &xt), Ticked::new(&p.y, &yt))
        .map_err(draw_err)?;
    let xf = |v: &f64| label_of(&xt, *v);
    let yf = |v: &f64| label_of(&yt, *v);
    chart
        .configure_mesh()
        .x_desc(truncate(&p.x.label, max_xdesc))
        .y_desc(truncate(&p.y.label, max_ydesc))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(80, 80, 80))
        .label_style(("sans-serif", TICK_PX * PLOTTERS_FONT))
        .axis_desc_style(("sans-serif", 14.0 * PLOTTERS_FONT))
        .draw()
        .map_err(draw_err)?;

    // Bands first, then rules, then lines and dots on top.
    let order = |m: &Mark| match m {
        Mark::Band { .. } => 0,
        Mark::HRule { .. } | Mark::VRule { .. } | Mark::Dashed { .. } => 1,
        _ => 2,
    };
    for layer in 0..3 {
        for m in p.marks.iter().filter(|m| order(m) == layer) {
            match m {
                Mark::Line {
                    points,
                    colour,
                    width,
                } => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            points.clone(),
                            colour.stroke_width(*width),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::Band {
                    upper,
                    lower,
                    colour,
                    opacity,
                } => {
                    let mut pts = upper.clone();
                    pts.extend(lower.iter().rev());
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            pts,
                            colour.mix(*opacity).filled(),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::VRule { x } => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(*x, p.y.lo), (*x, p.y.hi)],
                            GREY.mix(0.7).stroke_width(1),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::HRule { y } => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(p.x.lo, *y), (p.x.hi, *y)],
                            GREY.stroke_width(1),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::Dashed { y, colour } => {
                    chart
                        .draw_series(std::iter::once(DashedPathElement::new(
                            vec![(p.x.lo, *y), (p.x.hi, *y)],
                            6,
                            4,
                            colour.stroke_width(2),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::DashedLine {
                    points,
                    colour,
                    width,
                } => {
                    chart
                        .draw_series(std::iter::once(DashedPathElement::new(
                            points.clone(),
                            6,
                            4,
                            colour.stroke_width(*width),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::Segment {
                    from,
                    to,
                    colour,
                    width,
                } => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![*from, *to],
                            colour.stroke_width(*width),
                        )))
                        .map_err(draw_err)?;
                }
                Mark::Dot { at, colour, radius } => {
                    chart
                        .draw_series(std::iter::once(Circle::new(*at, *radius, colour.filled())))
                        .map_err(draw_err)?;
                }
            }
        }
    }
    draw_legend(&legend_area, &p.legend, panel_height(p))
}

fn draw_legend(area: &Area<'_>, entries: &[Entry], height: u32) -> Result<(), PlotError> {
    const ROW: i32 = 20;
    let top = (CAPTION + MARGIN) as i32;
    let max_chars = ((LEGEND as f64 - 50.0) / (12.0 * 0.6)) as usize;
    // One line per entry; notes (no swatch) wrap onto further lines instead of being cut.
    let mut lines: Vec<(Option<&Entry>, String)> = Vec::new();
    for e in entries {
        if e.swatch == Swatch::None {
            for l in wrap(&e.label, max_chars + 4) {
                lines.push((None, l));
            }
        } else {
            lines.push((Some(e), truncate(&e.label, max_chars)));
        }
    }
    let fit = ((height as i32 - top - MARGIN as i32) / ROW).max(1) as usize;
    if lines.len() > fit {
        let shown = lines[..fit - 1].iter().filter(|l| l.0.is_some()).count();
        let more = entries.len().saturating_sub(shown);
        lines.truncate(fit - 1);
        lines.push((None, format!("… and {more} more")));
    }
    let text = |colour: RGBColor| {
        ("sans-serif", 12.0 * PLOTTERS_FONT)
            .into_font()
            .color(&colour)
            .pos(Pos::new(HPos::Left, VPos::Center))
    };
    let (x0, x1) = (6, 34);
    for (i, (entry, label)) in lines.iter().enumerate() {
        let y = top + i as i32 * ROW + ROW / 2;
        let Some(e) = entry else {
            area.draw(&Text::new(
                label.clone(),
                (x0, y),
                text(RGBColor(90, 90, 90)),
            ))
            .map_err(draw_err)?;
            continue;
        };
        match e.swatch {
            Swatch::Line => area
                .draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    e.colour.stroke_width(2),
                ))
                .map_err(draw_err)?,
            Swatch::Band(opacity) => area
                .draw(&Rectangle::new(
                    [(x0, y - 6), (x1, y + 6)],
                    e.colour.mix(opacity).filled(),
                ))
                .map_err(draw_err)?,
            Swatch::DotWhisker => {
                area.draw(&PathElement::new(
                    vec![(x0, y), (x1, y)],
                    e.colour.stroke_width(2),
                ))
                .map_err(draw_err)?;
                area.draw(&Circle::new(((x0 + x1) / 2, y), 4, e.colour.filled()))
                    .map_err(draw_err)?;
            }
            Swatch::Dot => area
                .draw(&Circle::new(((x0 + x1) / 2, y), 4, e.colour.filled()))
                .map_err(draw_err)?,
            Swatch::Dashed => area
                .draw(&DashedPathElement::new(
                    vec![(x0, y), (x1, y)],
                    6,
                    4,
                    e.colour.stroke_width(2),
                ))
                .map_err(draw_err)?,
            Swatch::Rule => area
                .draw(&PathElement::new(
                    vec![((x0 + x1) / 2, y - 7), ((x0 + x1) / 2, y + 7)],
                    GREY.stroke_width(1),
                ))
                .map_err(draw_err)?,
            Swatch::None => {}
        }
        area.draw(&Text::new(label.clone(), (x1 + 8, y), text(BLACK)))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Splits `text` at spaces into lines of at most `max` characters (longer words are cut).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines.into_iter().map(|l| truncate(&l, max)).collect()
}

/// A time axis: hours as given, or days when the span exceeds four days. Returns the factor to
/// divide hours by and the label.
pub(crate) fn time_axis(header_unit: &str, span: f64) -> (f64, String) {
    if header_unit == "h" && span > 96.0 {
        (24.0, "time [d]".into())
    } else if header_unit.is_empty() {
        (1.0, "time".into())
    } else {
        (1.0, format!("time [{header_unit}]"))
    }
}

/// A y-range for the values `vals` (data units), linear or log10, with a little headroom.
/// For log scales only positive values count, and the range spans at most `LOG_DECADES` below
/// the maximum. `None` when nothing can be shown.
pub(crate) fn value_range(vals: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let l = l.max(h - LOG_DECADES);
        if h - l < 1e-9 {
            return Some((l - 0.5, h + 0.5));
        }
        let pad = (h - l) * 0.04;
        Some((l - pad, h + pad))
    } else {
        let lo = lo.min(0.0);
        if hi - lo <= 0.0 {
            let d = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
            return Some((lo - d, hi + d));
        }
        Some((lo, hi + (hi - lo) * 0.05))
    }
}

/// How many decades below its maximum a log axis shows.
pub(crate) const LOG_DECADES: f64 = 6.0;

/// Splits a sequence of optional points into runs of present ones (a line breaks at a gap).
pub(crate) fn runs<T>(points: impl Iterator<Item = Option<T>>) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    for p in points {
        match p {
            Some(p) => {
                if let Some(last) = out.last_mut() {
                    last.push(p);
                }
            }
            None => {
                if out.last().is_some_and(|l| !l.is_empty()) {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_fit() {
        let (t, s) = nice_ticks(0.0, 72.0, 8);
        assert_eq!(s, 10.0);
        assert_eq!(t.first(), Some(&0.0));
        assert_eq!(t.last(), Some(&70.0));
        assert_eq!(fmt_tick(0.30000000000000004, 0.1), "0.3");
        assert_eq!(fmt_tick(2.5, 0.5), "2.5");
        assert_eq!(fmt_tick(1e-7, 1e-7), "1e-7");
        assert_eq!(nice_ceil(23.0), 25.0);
        let axis = Axis {
            label: String::new(),
            lo: 0.0,
            hi: 1000.0,
            scale: Scale::Linear,
        };
        let t = ticks(&axis, 100.0, &|s| text_width(s, TICK_PX) + 14.0);
        assert!(t.len() <= 3, "{t:?}");
    }

    #[test]
    fn log_ticks() {
        let axis = Axis {
            label: String::new(),
            lo: -3.2,
            hi: 0.4,
            scale: Scale::Log10,
        };
        let t = ticks(&axis, 300.0, &|_| 26.0);
        let labels: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert!(
            labels.contains(&"0.001") && labels.contains(&"1"),
            "{labels:?}"
        );
        // Less than a decade on a short axis: at least two labels.
        let axis = Axis {
            label: String::new(),
            lo: 1.1f64.log10(),
            hi: 9.3f64.log10(),
            scale: Scale::Log10,
        };
        let t = ticks(&axis, 170.0, &|_| 26.4);
        let labels: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["2", "5"]);
    }

    #[test]
    fn dose_times() {
        assert_eq!(
            parse_times(&["0".into(), " 12h".into(), "1d".into()]).expect("parses"),
            vec![0.0, 12.0, 24.0]
        );
        assert!(parse_times(&["x".into()]).is_err());
        let ev = "ID,TIME,AMT,EVID,II,ADDL\n1,0,100,1,12,2\n1,6,0,0,0,0\n2,3,50,1,.,.\n";
        assert_eq!(
            dose_times_from_events("e.csv", ev).expect("parses"),
            vec![0.0, 3.0, 12.0, 24.0]
        );
        // The dataset reader's rules: units in headers, comments, quoting.
        let ev = "# doses in days\nID,TIME [d],AMT,EVID,II [h],ADDL,NOTE\n1,0,100,1,12,1,\"a, b\"\n1,1,100,1,.,.,x\n";
        assert_eq!(
            dose_times_from_events("e.csv", ev).expect("parses"),
            vec![0.0, 12.0, 24.0]
        );
        let e = dose_times_from_events("e.csv", "ID,TIME [mg],AMT\n1,0,1\n");
        assert!(e.is_err_and(|e| e.to_string().contains("TIME")));
    }
}
