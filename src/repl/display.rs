//! Text for REPL results: numbers with a bounded number of significant digits, units in their
//! simplest declared spelling, dimensions in words, compact tables and terminal sparklines.
//!
//! Everything here is pure: values in, strings out.

use crate::units::{Dim, Rational, Unit, UnitTable};
use std::fmt::Write;

/// Significant digits of values printed at the prompt.
pub const DIGITS: usize = 10;

/// Significant digits of values in run tables.
pub const TABLE_DIGITS: usize = 5;

/// The most rows a run table shows; longer results are thinned evenly (first and last kept).
pub const MAX_ROWS: usize = 13;

/// The most columns a sparkline takes.
pub const SPARK_WIDTH: usize = 48;

/// `v` with at most `digits` significant digits and no trailing zeros: `2.5`, `2500`, `1.5e-7`
/// (the integer part of a number below 1e15 is kept whole).
pub fn number(v: f64, digits: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let digits = digits.clamp(1, 17);
    let sci = format!("{:.*e}", digits - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..15).contains(&exp) {
        let decimals = (digits as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}"))
    } else {
        format!("{}e{exp}", trim_zeros(mantissa))
    }
}

/// Removes trailing zeros after a decimal point (and the point itself if nothing is left).
fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A value in a unit, in the simplest spelling the unit table offers: `2.5 mg/L`, `50 %`, `3`.
///
/// Dimensionless values print as plain numbers (scaled to 1) unless their unit has a name of its
/// own such as `%`; a unit with no declared spelling prints in SI base units with the value scaled
/// to match.
pub fn quantity(units: &UnitTable, v: f64, u: Unit) -> String {
    if u == Unit::ONE {
        return number(v, DIGITS);
    }
    if u.is_dimensionless() {
        return match units.unit_name(u) {
            Some(name) => format!("{} {name}", number(v, DIGITS)),
            None => number(v * u.scale.to_f64(), DIGITS),
        };
    }
    let name = units.format_unit(u);
    let (v, name) = if name.contains(' ') {
        base_spelling(units, v, u)
    } else {
        (v, name)
    };
    // `0.1 /h` as the language writes it, not `0.1 1/h`.
    match name.strip_prefix("1/") {
        Some(rest) => format!("{} /{rest}", number(v, DIGITS)),
        None => format!("{} {name}", number(v, DIGITS)),
    }
}

/// The value and unit text in coherent base units (`g/m^3`) for a unit with no declared spelling.
fn base_spelling(units: &UnitTable, v: f64, u: Unit) -> (f64, String) {
    let base = Unit::new(u.dim, Rational::ONE);
    let name = units.format_unit(base);
    let name = if name.contains(' ') {
        units.format_dim(u.dim)
    } else {
        name
    };
    (v * u.scale.to_f64(), name)
}

/// The spelling of a unit for `:type`: its declared or composed name (`mg/L`, `1` when
/// dimensionless).
pub fn unit_text(units: &UnitTable, u: Unit) -> String {
    units.format_unit(u)
}

/// A dimension in words: `volume/time`, `mass/volume`, `1/time`, `amount/volume`, and the base unit
/// name for user-declared base units (`IU/volume`). `None` for dimensionless.
pub fn dim_words(units: &UnitTable, d: Dim) -> Option<String> {
    if d.is_dimensionless() {
        return None;
    }
    let word = |name: &str| -> String {
        match name {
            "g" => "mass".into(),
            "m" => "length".into(),
            "s" => "time".into(),
            "mol" => "amount".into(),
            other => other.into(),
        }
    };
    let length = units.base_index("m");
    let mut num = Vec::new();
    let mut den = Vec::new();
    for (i, e) in d.factors() {
        let name = units.base_names().get(i).cloned().unwrap_or_default();
        let k = e.unsigned_abs();
        let text = if Some(i) == length && k == 3 {
            "volume".to_string()
        } else if Some(i) == length && k == 2 {
            "area".to_string()
        } else if k == 1 {
            word(&name)
        } else {
            format!("{}^{k}", word(&name))
        };
        if e > 0 {
            num.push(text);
        } else {
            den.push(text);
        }
    }
    let top = if num.is_empty() {
        "1".to_string()
    } else {
        num.join("·")
    };
    Some(match den.len() {
        0 => top,
        1 => format!("{top}/{}", den[0]),
        _ => format!("{top}/({})", den.join("·")),
    })
}

/// The `:type` line of a unit: `L/h — volume/time (clearance or flow)`, `mg — mass`,
/// `1 — dimensionless`.
pub fn type_line(units: &UnitTable, u: Unit) -> String {
    let name = unit_text(units, u);
    let friendly = units.describe_dim(u.dim);
    match dim_words(units, u.dim) {
        None => format!("{name} — dimensionless"),
        Some(words) => {
            if friendly == words || friendly.is_empty() || friendly == units.format_dim(u.dim) {
                format!("{name} — {words}")
            } else {
                format!("{name} — {words} ({friendly})")
            }
        }
    }
}

/// Indices of at most `max` rows out of `n`, evenly spaced, first and last included.
pub fn thin(n: usize, max: usize) -> Vec<usize> {
    if n <= max || max < 2 {
        return (0..n.min(max)).collect();
    }
    let mut idx: Vec<usize> = (0..max)
        .map(|k| ((k as f64) * ((n - 1) as f64) / ((max - 1) as f64)).round() as usize)
        .collect();
    idx.dedup();
    idx
}

/// A right-aligned table: a header row, then rows of cells.
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:>w$}", c, w = *w))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(headers, &mut out);
    for r in rows {
        line(r, &mut out);
    }
    out
}

/// A sparkline of `values` in at most [`SPARK_WIDTH`] columns (each column shows the largest value
/// of its share of the points, so peaks are never lost). Non-finite values are blanks.
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() {
        return String::new();
    }
    let width = values.len().min(SPARK_WIDTH);
    let cols: Vec<f64> = (0..width)
        .map(|c| {
            let a = c * values.len() / width;
            let b = ((c + 1) * values.len() / width).max(a + 1);
            values[a..b.min(values.len())]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(f64::NAN, f64::max)
        })
        .collect();
    let finite = || cols.iter().copied().filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    cols.iter()
        .map(|&v| {
            if !v.is_finite() {
                ' '
            } else if hi - lo <= f64::EPSILON * hi.abs().max(lo.abs()) {
                BARS[0]
            } else {
                let k = ((v - lo) / (hi - lo) * 7.0).round().clamp(0.0, 7.0) as usize;
                BARS[k]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(2.5, DIGITS), "2.5");
        assert_eq!(number(2500.0, DIGITS), "2500");
        assert_eq!(number(0.1 + 0.2, DIGITS), "0.3");
        assert_eq!(number(1.0 / 3.0, DIGITS), "0.3333333333");
        assert_eq!(number(-1.5e-7, DIGITS), "-1.5e-7");
        assert_eq!(number(6.02214076e23, DIGITS), "6.02214076e23");
        assert_eq!(number(9.99999999999, DIGITS), "10");
        assert_eq!(number(123456.789, 5), "123457");
        assert_eq!(number(0.0, DIGITS), "0");
        assert_eq!(number(f64::NAN, DIGITS), "NaN");
    }

    #[test]
    fn thinning() {
        assert_eq!(thin(5, 13), vec![0, 1, 2, 3, 4]);
        let t = thin(49, 13);
        assert_eq!(t.len(), 13);
        assert_eq!(t[1], 4);
        assert_eq!(*t.last().unwrap_or(&0), 48);
    }

    #[test]
    fn sparklines() {
        assert_eq!(sparkline(&[0.0, 1.0, 0.5]), "▁█▅");
        assert_eq!(sparkline(&[2.0, 2.0]), "▁▁");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&vec![1.0; 100]).chars().count(), SPARK_WIDTH);
    }
}
