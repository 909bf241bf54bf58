//! Reading a `fit.json` back (written by [`crate::cmd::fit::FitResult::json`]): the one reader
//! that `twin run --twin` and a trial's `population from fit` share — its size limit, and the
//! accessors for its arrays.

use serde_json::Value;

/// Largest `fit.json` read, bytes.
pub const MAX_FIT_BYTES: u64 = 256 << 20;

/// Why a `fit.json` could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The file is missing or unreadable (the message names it).
    Missing(String),
    /// It is larger than [`MAX_FIT_BYTES`].
    TooLarge(String),
    /// It is not JSON.
    NotAFit(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing(m) | ReadError::TooLarge(m) | ReadError::NotAFit(m) => {
                write!(f, "{m}")
            }
        }
    }
}

/// `DIR/fit.json`, parsed.
pub fn read(dir: &std::path::Path) -> Result<Value, ReadError> {
    let file = dir.join("fit.json");
    let meta = std::fs::metadata(&file)
        .map_err(|e| ReadError::Missing(format!("cannot read `{}`: {e}", file.display())))?;
    if meta.len() > MAX_FIT_BYTES {
        return Err(ReadError::TooLarge(format!(
            "`{}` has {} bytes; at most {MAX_FIT_BYTES} are read",
            file.display(),
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ReadError::Missing(format!("cannot read `{}`: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| ReadError::NotAFit(format!("`{}` is not a fit: {e}", file.display())))
}

/// An array of numbers (`None` if `v` is not one).
pub fn numbers(v: Option<&Value>) -> Option<Vec<f64>> {
    v?.as_array()?.iter().map(Value::as_f64).collect()
}

/// The strings of the array `key` of `v` (empty if there is none).
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A matrix written as an array of rows, row-major (empty if there is none).
pub fn matrix(v: Option<&Value>) -> Vec<f64> {
    v.and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|r| numbers(Some(r)))
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a random effect's name (`eta(cl; occasion 2)`) is a per-occasion estimate: it
/// describes an occasion of the data, not a new one.
pub fn per_occasion(name: &str) -> bool {
    name.contains("; occasion")
}

/// The leading `k`×`k` block of an `n`×`n` row-major matrix.
pub fn leading_block(m: &[f64], n: usize, k: usize) -> Vec<f64> {
    (0..k).flat_map(|i| m[i * n..i * n + k].to_vec()).collect()
}
