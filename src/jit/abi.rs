//! Every `extern "C"` signature the JIT uses: the one shape of a generated model function and
//! the libm symbols generated code calls.
//!
//! Input: nothing. Output: types and symbol tables. Guarantees: generated code and Rust agree on
//! these signatures because both sides use only the definitions in this file; the libm functions
//! registered with the JIT are the very ones Rust's `f64::exp`/`ln`/`log10`/`powf` call on this
//! platform, so JIT and interpreter results are bit-identical.

/// The signature of every generated function (`setup`, `init`, `rhs`, `jacobian`, `observe`):
/// reads `t` and the `inputs`/`params`/`states` buffers, writes `out`. Which buffers a function
/// reads depends on its kind; unused pointers may be dangling-but-aligned (never read).
///
/// # Safety
/// Every buffer must be valid for the number of slots the module declares (checked by
/// [`crate::jit::CompiledModel`]'s safe wrappers).
pub type ModelFn = unsafe extern "C" fn(
    t: f64,
    inputs: *const f64,
    params: *const f64,
    states: *const f64,
    out: *mut f64,
);

/// The libm functions generated code may call, with their C symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Libm {
    /// `double exp(double)`
    Exp,
    /// `double log(double)`
    Log,
    /// `double log10(double)`
    Log10,
    /// `double pow(double, double)`
    Pow,
}

impl Libm {
    /// All of them, in a fixed order.
    pub const ALL: [Libm; 4] = [Libm::Exp, Libm::Log, Libm::Log10, Libm::Pow];

    /// The C symbol name.
    pub fn symbol(self) -> &'static str {
        match self {
            Libm::Exp => "exp",
            Libm::Log => "log",
            Libm::Log10 => "log10",
            Libm::Pow => "pow",
        }
    }

    /// Number of f64 arguments.
    pub fn arity(self) -> usize {
        match self {
            Libm::Pow => 2,
            _ => 1,
        }
    }

    /// The address registered with the JIT builder.
    pub fn address(self) -> *const u8 {
        match self {
            Libm::Exp => c_exp as *const u8,
            Libm::Log => c_log as *const u8,
            Libm::Log10 => c_log10 as *const u8,
            Libm::Pow => c_pow as *const u8,
        }
    }
}

// Thin `extern "C"` trampolines over Rust's math functions (which lower to the platform libm).
// Going through Rust rather than declaring libm ourselves keeps the interpreter and the JIT on
// literally the same implementation on every platform.
extern "C" fn c_exp(x: f64) -> f64 {
    x.exp()
}
extern "C" fn c_log(x: f64) -> f64 {
    x.ln()
}
extern "C" fn c_log10(x: f64) -> f64 {
    x.log10()
}
extern "C" fn c_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}
