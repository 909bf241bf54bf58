//! The standard library, embedded in the binary: every `stdlib/*.twin` file, discovered by
//! `build.rs`. `units` is the prelude, loaded for every compilation; other modules are loaded when
//! a `use` names them.

include!(concat!(env!("OUT_DIR"), "/stdlib_files.rs"));

/// The source of a stdlib module, by name (`pgx`, `pk`, …).
pub fn module(name: &str) -> Option<&'static str> {
    STDLIB.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Names of all stdlib modules.
pub fn module_names() -> Vec<String> {
    STDLIB.iter().map(|(n, _)| n.to_string()).collect()
}

/// All modules as (name, source).
pub fn modules() -> &'static [(&'static str, &'static str)] {
    STDLIB
}
