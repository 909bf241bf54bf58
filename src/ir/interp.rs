//! The IR interpreter: the test oracle for the JIT, and a fallback backend.
//!
//! Input: a [`Function`] and its sources (t, inputs, parameters, states). Output: its output
//! slots. Guarantees: evaluates each instruction once, in order, with the reference semantics of
//! [`crate::ir::UnOp::apply`], [`crate::ir::BinOp::apply`] and [`powi`] — the definition the JIT must match bit for bit.
//! Sources out of range read as NaN (a built module never does that; [`Interpreter`] checks
//! lengths up front).

use super::ir::{Function, FunctionKind, Inst, Module, PatientModule, powi};
use std::fmt;

/// The sources of one function call.
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    /// The independent variable.
    pub t: f64,
    /// Per-patient inputs (read by `setup`).
    pub inputs: &'a [f64],
    /// Parameter slots.
    pub params: &'a [f64],
    /// States.
    pub states: &'a [f64],
}

/// Evaluates `f`, writing `out[k]` for every output `k` (`out` must be at least as long as the
/// outputs; extra entries are left untouched). `scratch` is reused between calls to avoid
/// allocation.
pub fn eval(f: &Function, src: Sources<'_>, scratch: &mut Vec<f64>, out: &mut [f64]) {
    scratch.clear();
    scratch.reserve(f.insts.len());
    for inst in &f.insts {
        let v = match *inst {
            Inst::Const(c) => c,
            Inst::Input(i) => src.inputs.get(i as usize).copied().unwrap_or(f64::NAN),
            Inst::Param(i) => src.params.get(i as usize).copied().unwrap_or(f64::NAN),
            Inst::State(i) => src.states.get(i as usize).copied().unwrap_or(f64::NAN),
            Inst::Time => src.t,
            Inst::Unary(op, a) => op.apply(scratch[a.index()]),
            Inst::Binary(op, a, b) => op.apply(scratch[a.index()], scratch[b.index()]),
            Inst::PowI(a, n) => powi(scratch[a.index()], n),
            Inst::Select(c, a, b) => {
                if scratch[c.index()] != 0.0 {
                    scratch[a.index()]
                } else {
                    scratch[b.index()]
                }
            }
        };
        scratch.push(v);
    }
    for (slot, v) in out.iter_mut().zip(&f.outputs) {
        *slot = scratch[v.index()];
    }
}

/// A buffer of the wrong length was passed to a model function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthError {
    /// Which function was called.
    pub function: &'static str,
    /// Which argument.
    pub argument: &'static str,
    /// The length the module needs.
    pub expected: usize,
    /// The length given.
    pub found: usize,
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}` has length {}, expected {}",
            self.function, self.argument, self.found, self.expected
        )
    }
}

impl std::error::Error for LengthError {}

/// Checks `found == expected`.
pub fn check_len(
    function: &'static str,
    argument: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), LengthError> {
    if expected == found {
        Ok(())
    } else {
        Err(LengthError {
            function,
            argument,
            expected,
            found,
        })
    }
}

/// Checks the buffers of a call of function `kind` of `m` (unused ones are ignored).
pub fn check_call(
    m: &Module,
    kind: FunctionKind,
    inputs: &[f64],
    params: &[f64],
    states: &[f64],
    out: &[f64],
) -> Result<(), LengthError> {
    let (name, out_name, out_len) = match kind {
        FunctionKind::Setup => ("setup", "params", m.n_params()),
        FunctionKind::Init => ("init", "y0", m.n_states()),
        FunctionKind::Rhs => ("rhs", "dy", m.n_states()),
        FunctionKind::Jacobian => ("jacobian", "values", m.sparsity.len()),
        FunctionKind::Observe => ("observe", "out", m.n_observables()),
        // A module has no per-patient expression functions: nothing may be written.
        FunctionKind::Patient => ("patient", "out", 0),
    };
    match kind {
        FunctionKind::Setup => check_len(name, "inputs", m.n_inputs(), inputs.len())?,
        FunctionKind::Init => check_len(name, "params", m.n_params(), params.len())?,
        FunctionKind::Patient => {}
        _ => {
            check_len(name, "y", m.n_states(), states.len())?;
            check_len(name, "params", m.n_params(), params.len())?;
        }
    }
    check_len(name, out_name, out_len, out.len())
}

/// Checks the buffers of a call of function `k` of a [`PatientModule`] (`out` must have exactly
/// the function's number of outputs).
pub fn check_patient_call(
    m: &PatientModule,
    k: usize,
    inputs: &[f64],
    params: &[f64],
    out: &[f64],
) -> Result<(), LengthError> {
    let n_out = m.functions.get(k).map_or(0, |f| f.outputs.len());
    check_len("patient", "inputs", m.n_inputs(), inputs.len())?;
    check_len("patient", "params", m.n_params, params.len())?;
    check_len("patient", "out", n_out, out.len())
}

/// Runs function `k` of a [`PatientModule`] after checking its buffers (an out-of-range `k` is
/// a function with no outputs).
pub fn eval_patient(
    m: &PatientModule,
    k: usize,
    inputs: &[f64],
    params: &[f64],
    out: &mut [f64],
) -> Result<(), LengthError> {
    check_patient_call(m, k, inputs, params, out)?;
    if let Some(f) = m.functions.get(k) {
        let src = Sources {
            t: 0.0,
            inputs,
            params,
            states: &[],
        };
        eval(f, src, &mut Vec::new(), out);
    }
    Ok(())
}

/// A module run by the interpreter, with the same checked API as the JIT's compiled model.
#[derive(Debug)]
pub struct Interpreter {
    module: Module,
    scratch: std::cell::RefCell<Vec<f64>>,
}

impl Interpreter {
    /// Wraps a module.
    pub fn new(module: Module) -> Self {
        Interpreter {
            module,
            scratch: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The module being interpreted.
    pub fn module(&self) -> &Module {
        &self.module
    }

    fn run(
        &self,
        kind: FunctionKind,
        t: f64,
        inputs: &[f64],
        params: &[f64],
        states: &[f64],
        out: &mut [f64],
    ) {
        let f = match kind {
            FunctionKind::Setup => &self.module.setup,
            FunctionKind::Init => &self.module.init,
            FunctionKind::Rhs => &self.module.rhs,
            FunctionKind::Jacobian => &self.module.jacobian,
            FunctionKind::Observe => &self.module.observe,
            FunctionKind::Patient => return,
        };
        let src = Sources {
            t,
            inputs,
            params,
            states,
        };
        match self.scratch.try_borrow_mut() {
            Ok(mut s) => eval(f, src, &mut s, out),
            // Re-entrant use (not possible through this API) falls back to a fresh buffer.
            Err(_) => eval(f, src, &mut Vec::new(), out),
        }
    }

    /// Checks every buffer's length for `kind`, then runs it.
    fn checked(
        &self,
        kind: FunctionKind,
        t: f64,
        inputs: &[f64],
        params: &[f64],
        states: &[f64],
        out: &mut [f64],
    ) -> Result<(), LengthError> {
        check_call(&self.module, kind, inputs, params, states, out)?;
        self.run(kind, t, inputs, params, states, out);
        Ok(())
    }

    /// inputs → parameters.
    pub fn setup(&self, inputs: &[f64], params: &mut [f64]) -> Result<(), LengthError> {
        self.checked(FunctionKind::Setup, 0.0, inputs, &[], &[], params)
    }

    /// parameters → initial states.
    pub fn init(&self, params: &[f64], y0: &mut [f64]) -> Result<(), LengthError> {
        self.checked(FunctionKind::Init, 0.0, &[], params, &[], y0)
    }

    /// (t, y, p) → dy/dt.
    pub fn rhs(
        &self,
        t: f64,
        y: &[f64],
        params: &[f64],
        dy: &mut [f64],
    ) -> Result<(), LengthError> {
        self.checked(FunctionKind::Rhs, t, &[], params, y, dy)
    }

    /// (t, y, p) → Jacobian non-zeros in [`Module::sparsity`] order.
    pub fn jacobian(
        &self,
        t: f64,
        y: &[f64],
        params: &[f64],
        values: &mut [f64],
    ) -> Result<(), LengthError> {
        self.checked(FunctionKind::Jacobian, t, &[], params, y, values)
    }

    /// (t, y, p) → observables.
    pub fn observe(
        &self,
        t: f64,
        y: &[f64],
        params: &[f64],
        out: &mut [f64],
    ) -> Result<(), LengthError> {
        self.checked(FunctionKind::Observe, t, &[], params, y, out)
    }
}
