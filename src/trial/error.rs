//! Why a trial (or a merge of shards) did not complete, typed; rendered once by the command.

use super::PopError;
use crate::driver::PrepareError;
use std::fmt;
use std::path::PathBuf;

/// The reason a trial job stopped. Failures of single patients are not errors: they are recorded
/// in the patient's row and counted.
#[derive(Debug)]
pub enum TrialError {
    /// The request names something the file does not have, or asks for something impossible
    /// (an unknown trial, a shard that does not exist, `find dose` with `--shard`).
    Request(String),
    /// The trial's model could not be lowered or compiled.
    Prepare(PrepareError),
    /// The population block cannot generate patients.
    Population(PopError),
    /// A `find dose` search could not meet its target.
    DoseSearch(String),
    /// Shard directories that cannot be merged.
    Shards(String),
    /// A file could not be read or written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The output directory could not be locked, prepared or swapped in (the previous results
    /// are kept).
    Output(crate::files::OutputError),
    /// A results file could not be parsed.
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl TrialError {
    /// An I/O error on `path`, for `map_err`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrialError {
        let path = path.into();
        move |source| TrialError::Io { path, source }
    }
}

impl fmt::Display for TrialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrialError::Request(m) | TrialError::DoseSearch(m) | TrialError::Shards(m) => {
                f.write_str(m)
            }
            TrialError::Prepare(e) => write!(f, "{e}"),
            TrialError::Population(e) => write!(f, "{e}"),
            TrialError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TrialError::Parse { path, message } => write!(f, "{}: {message}", path.display()),
            TrialError::Output(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TrialError {}

impl From<PrepareError> for TrialError {
    fn from(e: PrepareError) -> Self {
        TrialError::Prepare(e)
    }
}

impl From<PopError> for TrialError {
    fn from(e: PopError) -> Self {
        TrialError::Population(e)
    }
}

impl From<crate::files::OutputError> for TrialError {
    fn from(e: crate::files::OutputError) -> Self {
        TrialError::Output(e)
    }
}
