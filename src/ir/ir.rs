//! The flat, unit-free f64 IR: [`Module`] → five [`Function`]s, each an SSA arena of [`Inst`].
//!
//! Input: built only through [`crate::ir::ModuleBuilder`] (the front end lowers its checked model
//! into the builder; tests build models by hand). Output: a [`Module`] that the interpreter
//! ([`crate::ir::interp`]) and the Cranelift JIT ([`crate::jit`]) execute with identical results.
//!
//! Guarantees:
//! - every operand of an instruction refers to an *earlier* instruction of the same function
//!   (SSA in topological order), so one forward pass evaluates a function;
//! - instructions are sorted by [`Class`] (constant, per-patient, time, state), stable within a
//!   class; in `rhs`, `jacobian`, `observe` and `init` nothing of class per-patient is computed
//!   except reading a parameter: per-patient work is hoisted into `setup`;
//! - operators are enums and the semantics of each operator is defined once, here
//!   ([`UnOp::apply`], [`BinOp::apply`], [`powi`]); the JIT emits code with exactly these
//!   semantics (the same libm symbols, the same multiplication order), so the interpreter is an
//!   exact oracle.
//! - strings appear only in [`Metadata`] (headers and error messages), never in code paths.

use std::hash::{Hash, Hasher};

/// Index of an instruction inside one [`Function`] (or inside the builder's arena).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Val(pub u32);

impl Val {
    /// The arena index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One-operand operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `exp(x)` (libm `exp`)
    Exp,
    /// `log(x)`, natural logarithm (libm `log`)
    Log,
    /// `log10(x)` (libm `log10`)
    Log10,
    /// `sqrt(x)` (IEEE, correctly rounded)
    Sqrt,
    /// `abs(x)`
    Abs,
    /// `floor(x)` (libm `floor`)
    Floor,
    /// `ceil(x)` (libm `ceil`)
    Ceil,
    /// `not x`: 1.0 if `x == 0.0`, else 0.0 (NaN counts as true, so `not NaN` is 0.0)
    Not,
}

impl UnOp {
    /// The reference semantics of the operator.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            UnOp::Neg => -x,
            UnOp::Exp => x.exp(),
            UnOp::Log => x.ln(),
            UnOp::Log10 => x.log10(),
            UnOp::Sqrt => x.sqrt(),
            UnOp::Abs => x.abs(),
            UnOp::Floor => x.floor(),
            UnOp::Ceil => x.ceil(),
            UnOp::Not => bool_f64(x == 0.0),
        }
    }

    /// Stable lower-case name used by the printer.
    pub fn name(self) -> &'static str {
        match self {
            UnOp::Neg => "neg",
            UnOp::Exp => "exp",
            UnOp::Log => "log",
            UnOp::Log10 => "log10",
            UnOp::Sqrt => "sqrt",
            UnOp::Abs => "abs",
            UnOp::Floor => "floor",
            UnOp::Ceil => "ceil",
            UnOp::Not => "not",
        }
    }
}

/// Two-operand operators. Comparisons and logic produce 1.0 (true) or 0.0 (false); a logic
/// operand is true when it is not equal to 0.0 (so NaN is true).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b` with a non-integer or state-dependent exponent (libm `pow`)
    Pow,
    /// `min(a, b)`: NaN if either is NaN; `min(-0, +0) = -0`
    Min,
    /// `max(a, b)`: NaN if either is NaN; `max(-0, +0) = +0`
    Max,
    /// `a < b` (false if either is NaN)
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
    /// `a == b`
    Eq,
    /// `a != b` (true if either is NaN)
    Ne,
    /// `a and b`
    And,
    /// `a or b`
    Or,
}

impl BinOp {
    /// The reference semantics of the operator.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
            BinOp::Min => fmin(a, b),
            BinOp::Max => fmax(a, b),
            BinOp::Lt => bool_f64(a < b),
            BinOp::Le => bool_f64(a <= b),
            BinOp::Gt => bool_f64(a > b),
            BinOp::Ge => bool_f64(a >= b),
            BinOp::Eq => bool_f64(a == b),
            BinOp::Ne => bool_f64(a != b),
            BinOp::And => bool_f64(a != 0.0 && b != 0.0),
            BinOp::Or => bool_f64(a != 0.0 || b != 0.0),
        }
    }

    /// Whether `a op b == b op a` bit for bit (used to canonicalise operands for CSE).
    pub fn commutative(self) -> bool {
        matches!(
            self,
            BinOp::Add
                | BinOp::Mul
                | BinOp::Min
                | BinOp::Max
                | BinOp::Eq
                | BinOp::Ne
                | BinOp::And
                | BinOp::Or
        )
    }

    /// Stable lower-case name used by the printer.
    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
            BinOp::Pow => "pow",
            BinOp::Min => "min",
            BinOp::Max => "max",
            BinOp::Lt => "lt",
            BinOp::Le => "le",
            BinOp::Gt => "gt",
            BinOp::Ge => "ge",
            BinOp::Eq => "eq",
            BinOp::Ne => "ne",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// 1.0 for true, 0.0 for false.
pub fn bool_f64(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// IEEE 754-2019 `minimum`: NaN-propagating, `-0 < +0` (what Cranelift's `fmin` does).
pub fn fmin(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b {
        a
    } else if b < a {
        b
    } else if a.is_sign_negative() {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `maximum`: NaN-propagating, `+0 > -0` (what Cranelift's `fmax` does).
pub fn fmax(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b {
        a
    } else if b > a {
        b
    } else if a.is_sign_positive() {
        a
    } else {
        b
    }
}

/// `x^n` for an integer `n` by binary exponentiation: the exact sequence of multiplications that
/// the JIT emits (`1/x^|n|` for negative `n`). `x^0 = 1` for every `x`, as libm `pow` does.
pub fn powi(x: f64, n: i32) -> f64 {
    let mut e = n.unsigned_abs();
    let mut acc: Option<f64> = None;
    let mut base = x;
    while e > 0 {
        if e & 1 == 1 {
            acc = Some(match acc {
                None => base,
                Some(a) => a * base,
            });
        }
        e >>= 1;
        if e > 0 {
            base = base * base;
        }
    }
    let pos = acc.unwrap_or(1.0);
    if n < 0 { 1.0 / pos } else { pos }
}

/// One SSA instruction. Operands are [`Val`]s of earlier instructions.
#[derive(Clone, Copy, Debug)]
pub enum Inst {
    /// A literal, e.g. `0.5` (unit factors are already folded in by lowering).
    Const(f64),
    /// Per-patient input `i` (covariate, random effect, genotype-derived number). Read only by
    /// `setup`.
    Input(u32),
    /// Per-patient parameter `i`, an output of `setup` (named or hoisted).
    Param(u32),
    /// State `i` (an amount in a compartment, an effect state, …).
    State(u32),
    /// The independent variable `t`.
    Time,
    /// `op(x)`
    Unary(UnOp, Val),
    /// `a op b`
    Binary(BinOp, Val, Val),
    /// `x ^ n` with a small integer literal `n`
    PowI(Val, i32),
    /// `if c then a else b` (`c` true when `c != 0.0`); both arms are evaluated (no side
    /// effects exist).
    Select(Val, Val, Val),
}

impl PartialEq for Inst {
    fn eq(&self, other: &Self) -> bool {
        use Inst::*;
        match (self, other) {
            (Const(a), Const(b)) => a.to_bits() == b.to_bits(),
            (Input(a), Input(b)) | (Param(a), Param(b)) | (State(a), State(b)) => a == b,
            (Time, Time) => true,
            (Unary(o, a), Unary(p, b)) => o == p && a == b,
            (Binary(o, a, b), Binary(p, c, d)) => o == p && a == c && b == d,
            (PowI(a, n), PowI(b, m)) => a == b && n == m,
            (Select(a, b, c), Select(d, e, f)) => a == d && b == e && c == f,
            _ => false,
        }
    }
}

impl Eq for Inst {}

impl Hash for Inst {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Inst::Const(c) => c.to_bits().hash(state),
            Inst::Input(i) | Inst::Param(i) | Inst::State(i) => i.hash(state),
            Inst::Time => {}
            Inst::Unary(o, a) => (o, a).hash(state),
            Inst::Binary(o, a, b) => (o, a, b).hash(state),
            Inst::PowI(a, n) => (a, n).hash(state),
            Inst::Select(a, b, c) => (a, b, c).hash(state),
        }
    }
}

impl Inst {
    /// The operands of this instruction, in order.
    pub fn operands(&self) -> impl Iterator<Item = Val> {
        let (a, b, c) = match *self {
            Inst::Unary(_, a) | Inst::PowI(a, _) => (Some(a), None, None),
            Inst::Binary(_, a, b) => (Some(a), Some(b), None),
            Inst::Select(a, b, c) => (Some(a), Some(b), Some(c)),
            _ => (None, None, None),
        };
        a.into_iter().chain(b).chain(c)
    }

    /// The same instruction with every operand replaced through `f`.
    pub fn map_operands(&self, mut f: impl FnMut(Val) -> Val) -> Inst {
        match *self {
            Inst::Unary(o, a) => Inst::Unary(o, f(a)),
            Inst::Binary(o, a, b) => Inst::Binary(o, f(a), f(b)),
            Inst::PowI(a, n) => Inst::PowI(f(a), n),
            Inst::Select(a, b, c) => Inst::Select(f(a), f(b), f(c)),
            other => other,
        }
    }
}

/// What a value depends on. Ordered: an instruction's class is the maximum of its operands'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Known at compile time.
    Constant,
    /// Fixed for one patient (inputs, parameters).
    PerPatient,
    /// Varies with `t` but not with the states.
    Time,
    /// Varies with the states (and possibly `t`).
    State,
}

impl Class {
    /// Stable lower-case name used by the printer.
    pub fn name(self) -> &'static str {
        match self {
            Class::Constant => "const",
            Class::PerPatient => "patient",
            Class::Time => "time",
            Class::State => "state",
        }
    }
}

/// Which of the five module functions this is; fixes what its sources and outputs mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// inputs → parameters (named, then hoisted)
    Setup,
    /// parameters → initial states
    Init,
    /// t, states, parameters → dy/dt (dose infusion rates are added by the solver)
    Rhs,
    /// t, states, parameters → the non-zeros of ∂rhs/∂y in [`Module::sparsity`] order
    Jacobian,
    /// t, states, parameters → observables
    Observe,
    /// inputs, parameters → values: one per-patient expression function of a [`PatientModule`]
    /// (population generator arguments, arm overrides, endpoints)
    Patient,
}

impl FunctionKind {
    /// Stable lower-case name used by the printer and the JIT symbol names.
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Setup => "setup",
            FunctionKind::Init => "init",
            FunctionKind::Rhs => "rhs",
            FunctionKind::Jacobian => "jacobian",
            FunctionKind::Observe => "observe",
            FunctionKind::Patient => "patient",
        }
    }
}

/// One function: an SSA arena plus the values written to its output slots.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// What the function computes.
    pub kind: FunctionKind,
    /// Instructions in evaluation order (sorted by class, topological within a class).
    pub insts: Vec<Inst>,
    /// The class of each instruction (same length as `insts`).
    pub classes: Vec<Class>,
    /// `out[k] = outputs[k]`.
    pub outputs: Vec<Val>,
}

/// A value that is either a literal or a parameter slot (used for dose adjustments).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// A literal.
    Const(f64),
    /// Parameter slot `i` (output `i` of `setup`).
    Param(u32),
}

impl Scalar {
    /// The value given the parameter vector. Out-of-range slots (impossible for a built module)
    /// read as NaN.
    pub fn value(self, params: &[f64]) -> f64 {
        match self {
            Scalar::Const(c) => c,
            Scalar::Param(i) => params.get(i as usize).copied().unwrap_or(f64::NAN),
        }
    }
}

/// Per-state dose handling declared by the model (bioavailability and lag time of doses into
/// that state). Defaults: F = 1, lag = 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoseAdjust {
    /// Bioavailable fraction F of doses into this state.
    pub bioavailability: Scalar,
    /// Lag time added to the time of every dose into this state.
    pub lag: Scalar,
}

impl Default for DoseAdjust {
    fn default() -> Self {
        DoseAdjust {
            bioavailability: Scalar::Const(1.0),
            lag: Scalar::Const(0.0),
        }
    }
}

/// A parameter slot's description.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// The model's name for it, or `%hN` for a hoisted per-patient subexpression.
    pub name: String,
    /// True for slots created by hoisting (not part of the model's surface).
    pub hoisted: bool,
}

/// Names and per-slot facts; strings live here only.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Metadata {
    /// Input names, by slot.
    pub inputs: Vec<String>,
    /// Parameter slots: named ones first, hoisted ones after.
    pub params: Vec<ParamInfo>,
    /// State names, by slot.
    pub states: Vec<String>,
    /// Observable names, by slot.
    pub observables: Vec<String>,
    /// States that only accumulate an eliminated amount (for mass-balance checks).
    pub accumulators: Vec<u32>,
    /// Dose handling for each state (same length as `states`).
    pub dosing: Vec<DoseAdjust>,
    /// For a module with forward sensitivities ([`crate::ir::sensitivity`]): their layout.
    pub sensitivity: Option<Sensitivity>,
}

/// The layout of a module augmented with forward sensitivities: after the `base_states` states
/// come `∂y_i/∂u_j` for every input `u_j` of `wrt` (index `base_states·(1 + j) + i`), and after
/// the `base_observables` observables `∂g_o/∂u_j` (index `base_observables·(1 + j) + o`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sensitivity {
    /// The input slots differentiated against, in column order.
    pub wrt: Vec<u32>,
    /// States of the model itself.
    pub base_states: usize,
    /// Observables of the model itself.
    pub base_observables: usize,
    /// For every base state and every input of `wrt`: `(∂F/∂u_j, ∂lag/∂u_j)` of doses into it.
    pub dose: Vec<Vec<(Scalar, Scalar)>>,
}

impl Sensitivity {
    /// Index of the state `∂y_i/∂u_j`.
    pub fn state(&self, i: usize, j: usize) -> usize {
        self.base_states * (1 + j) + i
    }
    /// Index of the observable `∂g_o/∂u_j`.
    pub fn observable(&self, o: usize, j: usize) -> usize {
        self.base_observables * (1 + j) + o
    }
}

/// A compiled-model description: the five functions plus metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// The model's name (for headers and messages).
    pub name: String,
    /// Names and per-slot facts.
    pub meta: Metadata,
    /// inputs → parameters.
    pub setup: Function,
    /// parameters → initial states.
    pub init: Function,
    /// (t, y, p) → dy/dt.
    pub rhs: Function,
    /// (t, y, p) → non-zero entries of ∂f/∂y, in the order of `sparsity`.
    pub jacobian: Function,
    /// (t, y, p) → observables.
    pub observe: Function,
    /// `(row, col)` of each Jacobian non-zero, row-major (row = equation, col = state).
    pub sparsity: Vec<(u32, u32)>,
}

impl Module {
    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.meta.inputs.len()
    }
    /// Number of parameter slots (named and hoisted).
    pub fn n_params(&self) -> usize {
        self.meta.params.len()
    }
    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.meta.states.len()
    }
    /// Number of observables.
    pub fn n_observables(&self) -> usize {
        self.meta.observables.len()
    }
    /// The five functions in a fixed order.
    pub fn functions(&self) -> [&Function; 5] {
        [
            &self.setup,
            &self.init,
            &self.rhs,
            &self.jacobian,
            &self.observe,
        ]
    }
    /// Number of slots each function writes.
    pub fn n_outputs(&self, kind: FunctionKind) -> usize {
        match kind {
            FunctionKind::Setup => self.n_params(),
            FunctionKind::Init | FunctionKind::Rhs => self.n_states(),
            FunctionKind::Jacobian => self.sparsity.len(),
            FunctionKind::Observe => self.n_observables(),
            FunctionKind::Patient => 0,
        }
    }
}

/// Per-patient expression functions that accompany a model (population generator arguments, arm
/// overrides, endpoints): each [`Function`] (of kind [`FunctionKind::Patient`]) reads `n_inputs`
/// inputs and `n_params` parameters and writes its own outputs; none reads `t` or a state. Built
/// by [`crate::ir::ModuleBuilder::finish_patient`].
#[derive(Clone, Debug, PartialEq)]
pub struct PatientModule {
    /// The model's name (for messages).
    pub name: String,
    /// Input names, by slot.
    pub inputs: Vec<String>,
    /// Number of parameter slots read (those of the accompanying module; 0 if none are read).
    pub n_params: usize,
    /// The functions, each with its own outputs.
    pub functions: Vec<Function>,
}

impl PatientModule {
    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.inputs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powi_matches_powf_closely() {
        for &x in &[0.5, 1.3, -2.0, 7.25, 1e-3] {
            for n in -7..=9 {
                let a = powi(x, n);
                let b = f64::powi(x, n);
                assert!((a - b).abs() <= 1e-14 * b.abs().max(1e-300), "{x}^{n}");
            }
        }
        assert_eq!(powi(f64::NAN, 0), 1.0);
    }

    #[test]
    fn min_max_follow_ieee_2019() {
        assert!(fmin(f64::NAN, 1.0).is_nan());
        assert!(fmax(1.0, f64::NAN).is_nan());
        assert!(fmin(0.0, -0.0).is_sign_negative());
        assert!(fmax(-0.0, 0.0).is_sign_positive());
    }
}
