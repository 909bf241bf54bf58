//! CSV cells as twin writes them: numbers that read back to the same `f64`, text quoted only
//! when it must be.

/// Writes a number so that it reads back to the same f64 (`0` for zero).
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:?}")
    }
}

/// A text cell, quoted (RFC 4180) when it holds a comma, a quote or a line break.
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
