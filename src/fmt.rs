//! `twin fmt`: one canonical layout for `.twin` files (work in progress: returns the source
//! unchanged once it parses).

use crate::diagnostic::Diagnostic;
use crate::source::FileId;
use crate::syntax::parser::parse_file;

/// Formats a whole file; syntax errors are returned as the parser reports them.
pub fn format(src: &str) -> Result<String, Diagnostic> {
    format_file(FileId(0), src)
}

/// Formats a file registered as `file` (diagnostic spans refer to that id).
pub fn format_file(file: FileId, src: &str) -> Result<String, Diagnostic> {
    parse_file(file, src)?;
    Ok(src.to_string())
}
