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

/// Appends [`fmt_num`]'s text of `v` to `out`, without allocating.
pub fn push_num(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if v == 0.0 {
        out.push('0');
    } else {
        let _ = write!(out, "{v:?}");
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

/// A number for a table read by people: `digits` significant digits, fixed-point when the
/// magnitude is between 1e-4 and 10^digits, scientific otherwise (`1.234568e300`, never hundreds of
/// digits; `2.500000e-7`, never `0.000000`).
pub fn fmt_sig(v: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let e = v.abs().log10().floor();
    if (-4.0..digits as f64).contains(&e) {
        let decimals = (digits as f64 - 1.0 - e).max(0.0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.*e}", digits - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(fmt_sig(2.857142857142857, 7), "2.857143");
        assert_eq!(fmt_sig(1e300, 7), "1.000000e300");
        assert_eq!(fmt_sig(-2.5e-7, 7), "-2.500000e-7");
        assert_eq!(fmt_sig(123456.789, 7), "123456.8");
        assert_eq!(fmt_sig(0.00012345678, 7), "0.0001234568");
        assert_eq!(fmt_sig(0.0, 7), "0");
        for v in [
            0.0,
            -0.0,
            1.0,
            -2.5e-300,
            1e22,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
        ] {
            let mut s = String::from("x");
            push_num(&mut s, v);
            assert_eq!(s, format!("x{}", fmt_num(v)));
        }
        assert_eq!(fmt_sig(f64::NAN, 7), "NaN");
        for v in [1e-9, 3.3e-5, 0.1, 42.0, 9.87e6, 1e300] {
            let back: f64 = fmt_sig(v, 7).parse().expect("parses");
            assert!((back - v).abs() <= 5e-7 * v.abs(), "{v}");
        }
    }
}
