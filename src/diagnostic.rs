//! Diagnostics: the one error type every phase produces, and the one place that renders them.
//!
//! A [`Diagnostic`] has a stable code (see [`codes`]), a severity, a message, a primary span with an
//! optional label, secondary labels, notes and a help line. [`render`] draws them with ariadne
//! (colourless for tests and pipes) and [`to_json`] emits them for editors and CI.

use crate::source::{SourceMap, Span};
use serde::Serialize;

pub mod codes;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted; something looks wrong.
    Warning,
}

/// A span with a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
}

/// One problem found in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Stable code such as `E0007`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One-line summary.
    pub message: String,
    /// The main place.
    pub primary: Label,
    /// Other places that explain the problem.
    pub secondary: Vec<Label>,
    /// Extra facts.
    pub notes: Vec<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span)
        }
    }

    /// Sets the message under the primary span.
    pub fn with_label_message(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Renders diagnostics as ariadne reports. `color` is off for tests, pipes and snapshots.
pub fn render(sources: &SourceMap, diags: &[Diagnostic], color: bool) -> String {
    use ariadne::{Config, IndexType, Label as ALabel, Report, ReportKind};
    let mut out = Vec::new();
    let cache_sources: Vec<(String, String)> = sources
        .files()
        .map(|(_, f)| (f.name.clone(), f.text.clone()))
        .collect();
    let mut cache = ariadne::sources(cache_sources);
    for d in diags {
        let file_name = |span: Span| sources.get(span.file).name.clone();
        let clamp = |span: Span| {
            let len = sources.get(span.file).text.len();
            let start = (span.start as usize).min(len);
            let end = (span.end as usize).clamp(start, len);
            start..end
        };
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let mut report = Report::build(kind, (file_name(d.primary.span), clamp(d.primary.span)))
            .with_config(
                Config::default()
                    .with_color(color)
                    .with_index_type(IndexType::Byte),
            )
            .with_code(d.code)
            .with_message(&d.message);
        let mut primary =
            ALabel::new((file_name(d.primary.span), clamp(d.primary.span))).with_order(0);
        if !d.primary.message.is_empty() {
            primary = primary.with_message(&d.primary.message);
        }
        if color {
            primary = primary.with_color(ariadne::Color::Red);
        }
        report = report.with_label(primary);
        for (i, l) in d.secondary.iter().enumerate() {
            let mut label =
                ALabel::new((file_name(l.span), clamp(l.span))).with_order(i as i32 + 1);
            if !l.message.is_empty() {
                label = label.with_message(&l.message);
            }
            if color {
                label = label.with_color(ariadne::Color::Blue);
            }
            report = report.with_label(label);
        }
        for n in &d.notes {
            report = report.with_note(n);
        }
        if let Some(h) = &d.help {
            report = report.with_help(h);
        }
        // Writing into a Vec cannot fail for I/O reasons; a failure here would only drop the report.
        let _ = report.finish().write(&mut cache, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A diagnostic position as one-based line and column (in characters).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonPos {
    /// One-based line.
    pub line: usize,
    /// One-based column.
    pub column: usize,
}

/// A span in JSON output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonSpan {
    /// File name.
    pub file: String,
    /// Start position.
    pub start: JsonPos,
    /// End position.
    pub end: JsonPos,
    /// Byte offsets.
    pub bytes: [u32; 2],
    /// The label text.
    pub message: String,
}

/// One diagnostic in JSON output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonDiagnostic {
    /// Stable code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// Summary.
    pub message: String,
    /// File of the primary span.
    pub file: String,
    /// Primary span.
    pub span: JsonSpan,
    /// Secondary labels.
    pub labels: Vec<JsonSpan>,
    /// Notes.
    pub notes: Vec<String>,
    /// Help line.
    pub help: Option<String>,
}

fn json_span(sources: &SourceMap, l: &Label) -> JsonSpan {
    let f = sources.get(l.span.file);
    let (sl, sc) = f.line_col(l.span.start as usize);
    let (el, ec) = f.line_col(l.span.end as usize);
    JsonSpan {
        file: f.name.clone(),
        start: JsonPos {
            line: sl + 1,
            column: sc + 1,
        },
        end: JsonPos {
            line: el + 1,
            column: ec + 1,
        },
        bytes: [l.span.start, l.span.end],
        message: l.message.clone(),
    }
}

/// Converts diagnostics to their JSON form.
pub fn to_json(sources: &SourceMap, diags: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    diags
        .iter()
        .map(|d| JsonDiagnostic {
            code: d.code.to_string(),
            severity: d.severity,
            message: d.message.clone(),
            file: sources.get(d.primary.span.file).name.clone(),
            span: json_span(sources, &d.primary),
            labels: d.secondary.iter().map(|l| json_span(sources, l)).collect(),
            notes: d.notes.clone(),
            help: d.help.clone(),
        })
        .collect()
}

/// The closest candidate to `name` by edit distance, if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = strsim::damerau_levenshtein(&name.to_lowercase(), &c.to_lowercase());
        let limit = (name.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit {
            let score = d as f64 - strsim::jaro_winkler(name, c);
            if best.is_none_or(|(_, s)| score < s) {
                best = Some((c, score));
            }
        }
    }
    best.map(|(c, _)| c)
}
