//! The stable diagnostic codes, each with a title and a longer explanation for `twin explain`.
//!
//! Codes are never reused or renumbered: tools and CI scripts may match on them.

/// One code with its documentation.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The code, e.g. `E0007`.
    pub code: &'static str,
    /// A short title.
    pub title: &'static str,
    /// A longer explanation with an example, printed by `twin explain`.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($name:ident => $title:literal, $expl:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: &str = stringify!($name);
        )*
        /// Every code, in order.
        pub const ALL: &[CodeInfo] = &[
            $(CodeInfo { code: stringify!($name), title: $title, explanation: $expl },)*
        ];
    };
}

codes! {
    E0001 => "unrecognised character", "";
    E0002 => "unexpected end of file", "";
    E0003 => "unexpected token", "";
    E0004 => "unknown name", "";
    E0005 => "unknown unit", "";
    E0006 => "duplicate definition", "";
    E0007 => "incompatible units", "";
    E0008 => "value does not have the declared unit", "";
    E0009 => "flow rate has the wrong unit", "";
    E0010 => "derivative has the wrong unit", "";
    E0011 => "invalid power", "";
    E0012 => "function argument has the wrong unit", "";
    E0013 => "wrong arguments", "";
    E0014 => "dimensionless value required", "";
    E0015 => "non-exhaustive match", "";
    E0016 => "invalid match pattern", "";
    E0017 => "dose incompatible with its target", "";
    E0018 => "molecular weight required", "";
    E0019 => "type mismatch", "";
    E0020 => "unknown import", "";
    E0021 => "not a compartment", "";
    E0022 => "invalid state or derivative", "";
    E0023 => "circular definition", "";
    E0024 => "invalid unit declaration", "";
    E0025 => "invalid distribution", "";
    E0026 => "invalid gene declaration", "";
    E0027 => "invalid trial", "";
    E0028 => "invalid endpoint", "";
    E0029 => "unit overflow or too many base units", "";
    E0030 => "invalid correlation", "";
    E0031 => "invalid schedule", "";
    E0032 => "recursive function", "";
    W0001 => "unused parameter", "";
    W0002 => "unused definition", "";
}

/// Looks up a code (case-insensitive, `7` and `E7` accepted).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let c = code.trim().to_uppercase();
    let normal = if let Some(rest) = c.strip_prefix('E').or_else(|| c.strip_prefix('W')) {
        rest.parse::<u32>()
            .ok()
            .map(|n| format!("{}{n:04}", &c[..1]))
    } else {
        c.parse::<u32>().ok().map(|n| format!("E{n:04}"))
    };
    let normal = normal?;
    ALL.iter().find(|i| i.code == normal)
}
