//! The unit algebra: dimensions, exact scale factors, the unit table and the unit prelude.
//!
//! Input: `unit` declarations and unit expressions from the syntax tree. Output: [`Unit`]s
//! (a [`Dim`] plus an exact [`Rational`] scale), exact conversion factors between units of equal
//! dimension, and text for diagnostics.
//!
//! A dimension is an integer exponent vector over base units. The base units are whatever the
//! prelude declares (`unit g`, `unit m`, `unit s`, `unit mol`) plus any a user declares the same way
//! (`unit IU`); at most [`MAX_BASES`] in total. Every other unit is a base-unit combination times an
//! exact rational scale, computed once at compile time from the decimal factors as written, so
//! `1 mg/L` and `1 µg/mL` are the same unit exactly and conversions never accumulate floating-point
//! error. Nothing in this module knows specific units except the table of friendly dimension names
//! used by [`UnitTable::describe_dim`]; the units themselves live in `stdlib/units.twin`.

pub mod dim;
pub mod rational;
pub mod table;

pub use dim::{Dim, MAX_BASES};
pub use rational::Rational;
pub use table::{Unit, UnitError, UnitErrorKind, UnitTable, convert_factor};

use crate::source::FileId;
use crate::syntax::parser::parse_file;

/// The text of the unit prelude, `stdlib/units.twin`.
pub fn prelude() -> &'static str {
    include_str!("../../stdlib/units.twin")
}

/// A unit table holding every unit of the prelude.
///
/// The prelude is parsed as `FileId(0)`, so error spans refer to that id; they point into the
/// prelude only if the caller registered [`prelude`] as file 0 of its source map. Non-unit items
/// are ignored. A syntax error is reported as one [`UnitErrorKind::Syntax`] error; otherwise all
/// declaration errors are returned together.
pub fn prelude_table() -> Result<UnitTable, Vec<UnitError>> {
    let file = parse_file(FileId(0), prelude()).map_err(|d| {
        vec![UnitError::new(
            d.primary.span,
            UnitErrorKind::Syntax(d.message),
        )]
    })?;
    let mut table = UnitTable::new();
    let errors = table.eval_items(&file);
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_loads_without_errors() {
        let t = prelude_table().expect("prelude is valid");
        assert_eq!(t.base_names(), ["g", "m", "s", "mol"]);
        for name in [
            "kg", "mg", "µg", "ng", "pg", "L", "dL", "mL", "µL", "nL", "cm", "mm", "µm", "nm",
        ] {
            assert!(t.get(name).is_some(), "{name}");
        }
        for name in ["mmol", "µmol", "nmol", "pmol", "M", "mM", "µM", "nM", "pM"] {
            assert!(t.get(name).is_some(), "{name}");
        }
        for name in [
            "min", "h", "d", "day", "week", "year", "month", "%", "Pa", "kPa", "mmHg",
        ] {
            assert!(t.get(name).is_some(), "{name}");
        }
        assert_eq!(t.get("ug"), t.get("µg"));
        assert_eq!(t.get("uM"), t.get("\u{3bc}M"));
    }

    #[test]
    fn prelude_time_units() {
        let t = prelude_table().expect("prelude is valid");
        let s = |n: &str| t.get(n).map(|u| u.scale);
        assert_eq!(s("d"), Some(Rational::int(86_400)));
        assert_eq!(s("day"), s("d"));
        assert_eq!(s("year"), Some(Rational::int(31_557_600)));
        let month = t.get("month").expect("month");
        let year = t.get("year").expect("year");
        assert_eq!(convert_factor(year, month), Some(Rational::int(12)));
    }
}
