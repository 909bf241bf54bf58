//! [`ModuleBuilder`]: the only way to make a [`Module`]. Expressions → hash-consed DAG → five
//! sorted functions.
//!
//! Input: calls such as [`ModuleBuilder::input`], [`ModuleBuilder::param`],
//! [`ModuleBuilder::state`], [`ModuleBuilder::set_rhs`], [`ModuleBuilder::observe`] and the
//! arithmetic methods ([`ModuleBuilder::add`], …), each returning an [`Expr`] handle.
//! Output: [`ModuleBuilder::finish`] → [`Module`] or every [`BuildError`] found.
//!
//! Guarantees:
//! - **CSE**: every node is hash-consed, so building the same expression twice yields the same
//!   [`Expr`]; commutative operators have their operands ordered first.
//! - **Constant folding** at build time with the IR's own operator semantics, so folding never
//!   changes a result relative to the interpreter or the JIT.
//! - **Algebraic identities** folded: `x*1`, `1*x`, `x/1`, `x+0`, `0+x`, `x-(+0)`, `(-1)*x → -x`,
//!   `-(-x)`, `x^1`, `x^0 → 1`, `select(c, a, a) → a`, `select(const, a, b)`. These are exact for
//!   every `x` including NaN and ±Inf; the one deviation is that `(-0.0)+0.0` folds to `-0.0`
//!   instead of `+0.0`, which no comparison can see. Identities that are *wrong* for NaN/Inf are
//!   deliberately not applied: `x*0 → 0`, `x-x → 0`, `x/x → 1`, `0/x → 0`.
//!   `x ^ n` with an integer literal `|n| <= 64` becomes [`Inst::PowI`] (repeated multiplication,
//!   within a few ulps of `pow`).
//! - **Hoisting**: any per-patient subexpression used by `init`, `rhs`, `jacobian`, `observe` or a
//!   dose adjustment becomes a hoisted parameter slot (`%hN`) computed once by `setup`; those
//!   functions only read parameter slots, states and `t`.
//! - **Determinism**: numbering depends only on the order of builder calls, so building the same
//!   model twice gives identical modules (and identical printed text).

use std::collections::HashMap;

use super::diff;
use super::ir::{
    BinOp, Class, DoseAdjust, Function, FunctionKind, Inst, Metadata, Module, ParamInfo,
    PatientModule, Scalar, UnOp, Val,
};

/// A handle to a node of the builder's expression DAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Expr(pub(crate) Val);

/// A declared state (its slot index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(pub u32);

/// A model that cannot become a module. The front end's checks should make these unreachable;
/// they are reported (not panicked) so a missing check shows up as an error.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildError {
    /// Two inputs, parameters, states or observables share a name.
    DuplicateName {
        /// "input", "param", "state" or "observable"
        kind: &'static str,
        /// The repeated name.
        name: String,
    },
    /// Something that must be fixed per patient depends on time or on a state.
    NotPerPatient {
        /// What it is, e.g. "parameter CL" or "initial value of central".
        what: String,
        /// What it depends on.
        class: Class,
    },
    /// The model has an `input` nothing defines (the checker reports it as E0037 where a model
    /// is run or used in a trial).
    UndefinedInput {
        /// The input's name.
        name: String,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::DuplicateName { kind, name } => write!(f, "duplicate {kind} name `{name}`"),
            BuildError::NotPerPatient { what, class } => write!(
                f,
                "{what} must be fixed per patient but depends on {}",
                class.name()
            ),
            BuildError::UndefinedInput { name } => write!(
                f,
                "input `{name}` is not defined; extend the model and define it"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds a [`Module`] from expressions. See the module docs for what it guarantees.
#[derive(Debug, Default)]
pub struct ModuleBuilder {
    name: String,
    pub(crate) insts: Vec<Inst>,
    pub(crate) classes: Vec<Class>,
    map: HashMap<Inst, Val>,
    pub(crate) inputs: Vec<String>,
    params: Vec<(String, Expr)>,
    pub(crate) states: Vec<String>,
    pub(crate) rhs: Vec<Option<Expr>>,
    pub(crate) init: Vec<Option<Expr>>,
    pub(crate) observables: Vec<(String, Expr)>,
    accumulators: Vec<u32>,
    pub(crate) bioavailability: Vec<Option<Expr>>,
    pub(crate) lag: Vec<Option<Expr>>,
    /// Set by [`super::sensitivity::augment`]: the layout and, per base state and input, the
    /// derivatives of F and of the lag time.
    pub(crate) sensitivity: Option<super::sensitivity::Pending>,
}

impl ModuleBuilder {
    /// A builder for a model called `name`.
    pub fn new(name: &str) -> Self {
        ModuleBuilder {
            name: name.to_string(),
            ..Default::default()
        }
    }

    pub(crate) fn inst(&self, e: Expr) -> Inst {
        self.insts[e.0.index()]
    }

    /// The defining expression of named parameter `q` (`None` for a slot read without a
    /// declaration, [`ModuleBuilder::param_slot`]).
    pub(crate) fn param_def(&self, q: u32) -> Option<Expr> {
        self.params.get(q as usize).map(|p| p.1)
    }

    /// The class (constant, per-patient, time, state) of an expression.
    pub fn class(&self, e: Expr) -> Class {
        self.classes[e.0.index()]
    }

    /// `e` with `t` replaced by the constant `t0` (an expression of class per-patient or
    /// constant when `e` does not read the states).
    pub fn at_time(&mut self, e: Expr, t0: f64) -> Expr {
        let top = e.0.index();
        if self.classes[top] < Class::Time {
            return e;
        }
        // Instructions are in topological order: rebuild those that read `t`, in order.
        let mut new: HashMap<u32, Val> = HashMap::new();
        for i in 0..=top {
            if self.classes[i] != Class::Time {
                continue;
            }
            let inst = self.insts[i];
            let rebuilt = match inst {
                Inst::Time => self.constant(t0),
                _ => {
                    let mapped =
                        inst.map_operands(|v| new.get(&(v.index() as u32)).copied().unwrap_or(v));
                    self.intern(mapped)
                }
            };
            new.insert(i as u32, rebuilt.0);
        }
        new.get(&(top as u32)).map_or(e, |&v| Expr(v))
    }

    /// The literal value of `e`, if it is a constant.
    pub fn as_const(&self, e: Expr) -> Option<f64> {
        match self.inst(e) {
            Inst::Const(c) => Some(c),
            _ => None,
        }
    }

    fn intern(&mut self, inst: Inst) -> Expr {
        if let Some(&v) = self.map.get(&inst) {
            return Expr(v);
        }
        let class = match inst {
            Inst::Const(_) => Class::Constant,
            Inst::Input(_) | Inst::Param(_) => Class::PerPatient,
            Inst::Time => Class::Time,
            Inst::State(_) => Class::State,
            _ => inst
                .operands()
                .map(|v| self.classes[v.index()])
                .max()
                .unwrap_or(Class::Constant),
        };
        let v = Val(self.insts.len() as u32);
        self.insts.push(inst);
        self.classes.push(class);
        self.map.insert(inst, v);
        Expr(v)
    }

    // ----- sources and declarations -------------------------------------------------------

    /// A literal (already in base units).
    pub fn constant(&mut self, c: f64) -> Expr {
        self.intern(Inst::Const(c))
    }

    /// The independent variable `t`.
    pub fn time(&mut self) -> Expr {
        self.intern(Inst::Time)
    }

    /// Declares the next per-patient input (covariate, random effect, …) and returns its value.
    /// Declaring the same name twice is reported by [`ModuleBuilder::finish`].
    pub fn input(&mut self, name: &str) -> Expr {
        let i = self.inputs.len() as u32;
        self.inputs.push(name.to_string());
        self.intern(Inst::Input(i))
    }

    /// Declares a named per-patient parameter `name = value` (computed once by `setup`, listed
    /// in output headers and error messages) and returns a handle that reads it. `value` may use
    /// constants, inputs and earlier parameters only (else [`BuildError::NotPerPatient`]).
    pub fn param(&mut self, name: &str, value: Expr) -> Expr {
        let i = self.params.len() as u32;
        self.params.push((name.to_string(), value));
        self.intern(Inst::Param(i))
    }

    /// Reads parameter slot `i` of the module a [`PatientModule`] accompanies, without declaring
    /// a parameter (for [`ModuleBuilder::finish_patient`] only).
    pub fn param_slot(&mut self, i: u32) -> Expr {
        self.intern(Inst::Param(i))
    }

    /// Declares the next state (initial value 0, derivative 0 until set).
    pub fn state(&mut self, name: &str) -> StateId {
        let i = self.states.len() as u32;
        self.states.push(name.to_string());
        self.rhs.push(None);
        self.init.push(None);
        self.bioavailability.push(None);
        self.lag.push(None);
        StateId(i)
    }

    /// The current value of state `s`.
    pub fn y(&mut self, s: StateId) -> Expr {
        self.intern(Inst::State(s.0))
    }

    /// Sets `d(s)/dt = value` (replacing an earlier setting).
    pub fn set_rhs(&mut self, s: StateId, value: Expr) {
        if let Some(slot) = self.rhs.get_mut(s.0 as usize) {
            *slot = Some(value);
        }
    }

    /// Adds `value` to `d(s)/dt` (convenient for flows between compartments).
    pub fn add_rhs(&mut self, s: StateId, value: Expr) {
        let cur = self.rhs.get(s.0 as usize).copied().flatten();
        let new = match cur {
            Some(c) => self.add(c, value),
            None => value,
        };
        self.set_rhs(s, new);
    }

    /// A flow of `rate` (amount/time) out of `from` into `to` (either may be `None` for the
    /// outside world): subtracts from one derivative, adds to the other.
    pub fn flow(&mut self, from: Option<StateId>, to: Option<StateId>, rate: Expr) {
        if let Some(f) = from {
            let n = self.neg(rate);
            self.add_rhs(f, n);
        }
        if let Some(t) = to {
            self.add_rhs(t, rate);
        }
    }

    /// Sets the initial value of `s` (per-patient only).
    pub fn set_init(&mut self, s: StateId, value: Expr) {
        if let Some(slot) = self.init.get_mut(s.0 as usize) {
            *slot = Some(value);
        }
    }

    /// Declares an observable `name = value` (may depend on anything).
    pub fn observe(&mut self, name: &str, value: Expr) {
        self.observables.push((name.to_string(), value));
    }

    /// Marks `s` as an accumulator of eliminated amount (for mass-balance checks and for
    /// excluding it from "amount in body" sums).
    pub fn accumulator(&mut self, s: StateId) {
        if !self.accumulators.contains(&s.0) {
            self.accumulators.push(s.0);
        }
    }

    /// Bioavailable fraction F applied to every dose into `s` (per-patient expression).
    pub fn set_bioavailability(&mut self, s: StateId, f: Expr) {
        if let Some(slot) = self.bioavailability.get_mut(s.0 as usize) {
            *slot = Some(f);
        }
    }

    /// Lag time added to every dose into `s` (per-patient expression, in model time units).
    pub fn set_lag(&mut self, s: StateId, lag: Expr) {
        if let Some(slot) = self.lag.get_mut(s.0 as usize) {
            *slot = Some(lag);
        }
    }

    // ----- operators ----------------------------------------------------------------------

    /// `op(x)`, folded when `x` is constant.
    pub fn unary(&mut self, op: UnOp, x: Expr) -> Expr {
        if let Some(c) = self.as_const(x) {
            return self.constant(op.apply(c));
        }
        if op == UnOp::Neg
            && let Inst::Unary(UnOp::Neg, inner) = self.inst(x)
        {
            return Expr(inner);
        }
        self.intern(Inst::Unary(op, x.0))
    }

    /// `a op b`, folded and canonicalised (see module docs).
    pub fn binary(&mut self, op: BinOp, a: Expr, b: Expr) -> Expr {
        let ca = self.as_const(a);
        let cb = self.as_const(b);
        if let (Some(x), Some(y)) = (ca, cb) {
            return self.constant(op.apply(x, y));
        }
        let pos_zero = |c: Option<f64>| c.is_some_and(|c| c == 0.0 && c.is_sign_positive());
        match op {
            BinOp::Add if cb == Some(0.0) => return a,
            BinOp::Add if ca == Some(0.0) => return b,
            BinOp::Sub if pos_zero(cb) => return a,
            BinOp::Mul if cb == Some(1.0) => return a,
            BinOp::Mul if ca == Some(1.0) => return b,
            BinOp::Mul if cb == Some(-1.0) => return self.unary(UnOp::Neg, a),
            BinOp::Mul if ca == Some(-1.0) => return self.unary(UnOp::Neg, b),
            BinOp::Div if cb == Some(1.0) => return a,
            BinOp::Pow => {
                if let Some(n) = cb
                    && n.fract() == 0.0
                    && n.abs() <= 64.0
                {
                    return self.powi(a, n as i32);
                }
            }
            _ => {}
        }
        let (a, b) = if op.commutative() && b.0 < a.0 {
            (b, a)
        } else {
            (a, b)
        };
        self.intern(Inst::Binary(op, a.0, b.0))
    }

    /// `x ^ n` for an integer literal `n`.
    pub fn powi(&mut self, x: Expr, n: i32) -> Expr {
        if n == 0 {
            return self.constant(1.0);
        }
        if n == 1 {
            return x;
        }
        if let Some(c) = self.as_const(x) {
            return self.constant(super::ir::powi(c, n));
        }
        self.intern(Inst::PowI(x.0, n))
    }

    /// `if c then a else b`.
    pub fn select(&mut self, c: Expr, a: Expr, b: Expr) -> Expr {
        if a == b {
            return a;
        }
        if let Some(cv) = self.as_const(c) {
            return if cv != 0.0 { a } else { b };
        }
        self.intern(Inst::Select(c.0, a.0, b.0))
    }

    /// `a + b`
    pub fn add(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Add, a, b)
    }
    /// `a - b`
    pub fn sub(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Sub, a, b)
    }
    /// `a * b`
    pub fn mul(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Mul, a, b)
    }
    /// `a / b`
    pub fn div(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Div, a, b)
    }
    /// `a ^ b`
    pub fn pow(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Pow, a, b)
    }
    /// `min(a, b)`
    pub fn min(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Min, a, b)
    }
    /// `max(a, b)`
    pub fn max(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Max, a, b)
    }
    /// `a < b`
    pub fn lt(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Lt, a, b)
    }
    /// `a <= b`
    pub fn le(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Le, a, b)
    }
    /// `a > b`
    pub fn gt(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Gt, a, b)
    }
    /// `a >= b`
    pub fn ge(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Ge, a, b)
    }
    /// `a == b`
    pub fn eq(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Eq, a, b)
    }
    /// `a != b`
    pub fn ne(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Ne, a, b)
    }
    /// `a and b`
    pub fn and(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::And, a, b)
    }
    /// `a or b`
    pub fn or(&mut self, a: Expr, b: Expr) -> Expr {
        self.binary(BinOp::Or, a, b)
    }
    /// `-x`
    pub fn neg(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Neg, x)
    }
    /// `not x`
    pub fn not(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Not, x)
    }
    /// `exp(x)`
    pub fn exp(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Exp, x)
    }
    /// `log(x)`
    pub fn log(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Log, x)
    }
    /// `log10(x)`
    pub fn log10(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Log10, x)
    }
    /// `sqrt(x)`
    pub fn sqrt(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Sqrt, x)
    }
    /// `abs(x)`
    pub fn abs(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Abs, x)
    }
    /// `floor(x)`
    pub fn floor(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Floor, x)
    }
    /// `ceil(x)`
    pub fn ceil(&mut self, x: Expr) -> Expr {
        self.unary(UnOp::Ceil, x)
    }

    // ----- finishing ----------------------------------------------------------------------

    fn check_names(&self, errors: &mut Vec<BuildError>) {
        let groups: [(&'static str, Vec<&String>); 4] = [
            ("input", self.inputs.iter().collect()),
            ("param", self.params.iter().map(|p| &p.0).collect()),
            ("state", self.states.iter().collect()),
            (
                "observable",
                self.observables.iter().map(|o| &o.0).collect(),
            ),
        ];
        for (kind, names) in groups {
            let mut seen = std::collections::HashSet::new();
            for n in names {
                if !seen.insert(n.as_str()) {
                    errors.push(BuildError::DuplicateName {
                        kind,
                        name: n.clone(),
                    });
                }
            }
        }
    }

    fn check_per_patient(&self, what: String, e: Expr, errors: &mut Vec<BuildError>) {
        let class = self.class(e);
        if class > Class::PerPatient {
            errors.push(BuildError::NotPerPatient { what, class });
        }
    }

    /// Checks the model, differentiates the right-hand side, hoists per-patient work and lowers
    /// everything into a [`Module`]. Returns every error found.
    pub fn finish(mut self) -> Result<Module, Vec<BuildError>> {
        let mut errors = Vec::new();
        self.check_names(&mut errors);
        for (name, e) in self.params.clone() {
            self.check_per_patient(format!("parameter {name}"), e, &mut errors);
        }
        for (i, name) in self.states.clone().iter().enumerate() {
            if let Some(e) = self.init[i] {
                self.check_per_patient(format!("initial value of {name}"), e, &mut errors);
            }
            if let Some(e) = self.bioavailability[i] {
                self.check_per_patient(format!("bioavailability of {name}"), e, &mut errors);
            }
            if let Some(e) = self.lag[i] {
                self.check_per_patient(format!("lag time of {name}"), e, &mut errors);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let zero = self.constant(0.0);
        let one = self.constant(1.0);
        let rhs: Vec<Expr> = self.rhs.iter().map(|r| r.unwrap_or(zero)).collect();
        let init: Vec<Expr> = self.init.iter().map(|r| r.unwrap_or(zero)).collect();
        let jac = diff::jacobian(&mut self, &rhs);
        let sparsity: Vec<(u32, u32)> = jac.iter().map(|&(r, c, _)| (r, c)).collect();
        let jac_exprs: Vec<Expr> = jac.iter().map(|&(_, _, e)| e).collect();
        let obs: Vec<Expr> = self.observables.iter().map(|o| o.1).collect();
        let f_exprs: Vec<Expr> = self
            .bioavailability
            .iter()
            .map(|f| f.unwrap_or(one))
            .collect();
        let lag_exprs: Vec<Expr> = self.lag.iter().map(|l| l.unwrap_or(zero)).collect();

        let n_named = self.params.len() as u32;
        let mut hoist = Hoist {
            n_named,
            nodes: Vec::new(),
            index: HashMap::new(),
        };
        let init_f = self.lower_hoisted(FunctionKind::Init, &init, &mut hoist);
        let rhs_f = self.lower_hoisted(FunctionKind::Rhs, &rhs, &mut hoist);
        let jac_f = self.lower_hoisted(FunctionKind::Jacobian, &jac_exprs, &mut hoist);
        let obs_f = self.lower_hoisted(FunctionKind::Observe, &obs, &mut hoist);
        let mut dosing = Vec::with_capacity(self.states.len());
        for i in 0..self.states.len() {
            let f = self.scalar(f_exprs[i], &mut hoist);
            let lag = self.scalar(lag_exprs[i], &mut hoist);
            dosing.push(DoseAdjust {
                bioavailability: f,
                lag,
            });
        }
        let sensitivity = self.sensitivity.take().map(|p| {
            let dose = p
                .dose
                .iter()
                .map(|per_input| {
                    per_input
                        .iter()
                        .map(|&(f, lag)| (self.scalar(f, &mut hoist), self.scalar(lag, &mut hoist)))
                        .collect()
                })
                .collect();
            super::ir::Sensitivity {
                wrt: p.wrt,
                base_states: p.base_states,
                base_observables: p.base_observables,
                dose,
            }
        });
        let setup_f = self.lower_setup(&hoist);

        let mut params: Vec<ParamInfo> = self
            .params
            .iter()
            .map(|(n, _)| ParamInfo {
                name: n.clone(),
                hoisted: false,
            })
            .collect();
        for k in 0..hoist.nodes.len() {
            params.push(ParamInfo {
                name: format!("%h{k}"),
                hoisted: true,
            });
        }
        Ok(Module {
            name: self.name.clone(),
            meta: Metadata {
                inputs: self.inputs.clone(),
                params,
                states: self.states.clone(),
                observables: self.observables.iter().map(|o| o.0.clone()).collect(),
                accumulators: self.accumulators.clone(),
                dosing,
                sensitivity,
            },
            setup: setup_f,
            init: init_f,
            rhs: rhs_f,
            jacobian: jac_f,
            observe: obs_f,
            sparsity,
        })
    }

    /// Lowers per-patient expression functions instead of a model: one [`Function`] of kind
    /// [`FunctionKind::Patient`] per entry of `functions`, whose outputs are that entry's
    /// expressions. Inputs are the declared ones; [`ModuleBuilder::param_slot`] reads read slots
    /// of a module with `n_params` parameters. Nothing may depend on `t` or a state
    /// ([`BuildError::NotPerPatient`], named after `what` of the function and the output index).
    pub fn finish_patient(
        self,
        n_params: usize,
        functions: &[(String, Vec<Expr>)],
    ) -> Result<PatientModule, Vec<BuildError>> {
        let mut errors = Vec::new();
        self.check_names(&mut errors);
        for (what, roots) in functions {
            for (k, &e) in roots.iter().enumerate() {
                self.check_per_patient(format!("{what} (value {k})"), e, &mut errors);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let functions = functions
            .iter()
            .map(|(_, roots)| self.lower_plain(roots))
            .collect();
        Ok(PatientModule {
            name: self.name.clone(),
            inputs: self.inputs.clone(),
            n_params,
            functions,
        })
    }

    /// One function computing `roots` from constants, inputs and parameter slots (no hoisting,
    /// no inlining of declared parameters).
    fn lower_plain(&self, roots: &[Expr]) -> Function {
        let mut arena = Arena::default();
        let mut memo: HashMap<Val, Val> = HashMap::new();
        let mut outputs = Vec::with_capacity(roots.len());
        for root in roots {
            let mut stack: Vec<(Val, bool)> = vec![(root.0, false)];
            while let Some((v, expanded)) = stack.pop() {
                if memo.contains_key(&v) {
                    continue;
                }
                let inst = self.insts[v.index()];
                let ops: Vec<Val> = inst.operands().collect();
                if ops.is_empty() || expanded {
                    let mapped = inst.map_operands(|o| memo.get(&o).copied().unwrap_or(o));
                    let nv = arena.push(mapped);
                    memo.insert(v, nv);
                } else {
                    stack.push((v, true));
                    for o in ops.into_iter().rev() {
                        if !memo.contains_key(&o) {
                            stack.push((o, false));
                        }
                    }
                }
            }
            outputs.push(memo.get(&root.0).copied().unwrap_or(Val(0)));
        }
        arena.finish(FunctionKind::Patient, outputs)
    }

    /// A per-patient expression as a literal or a parameter slot (hoisting it if needed).
    fn scalar(&self, e: Expr, hoist: &mut Hoist) -> Scalar {
        match self.inst(e) {
            Inst::Const(c) => Scalar::Const(c),
            Inst::Param(q) => Scalar::Param(q),
            _ => Scalar::Param(hoist.slot(e)),
        }
    }

    fn lower_hoisted(&self, kind: FunctionKind, roots: &[Expr], hoist: &mut Hoist) -> Function {
        let mut arena = Arena::default();
        let mut memo: HashMap<Val, Val> = HashMap::new();
        let outputs: Vec<Val> = roots
            .iter()
            .map(|&r| self.lower_one(r.0, &mut arena, &mut memo, hoist))
            .collect();
        arena.finish(kind, outputs)
    }

    fn lower_one(
        &self,
        root: Val,
        arena: &mut Arena,
        memo: &mut HashMap<Val, Val>,
        hoist: &mut Hoist,
    ) -> Val {
        // Iterative post-order walk (models can have long chains).
        let mut stack: Vec<(Val, bool)> = vec![(root, false)];
        while let Some((v, expanded)) = stack.pop() {
            if memo.contains_key(&v) {
                continue;
            }
            let inst = self.insts[v.index()];
            let class = self.classes[v.index()];
            let leaf = match inst {
                Inst::Const(_) | Inst::Param(_) | Inst::State(_) | Inst::Time => Some(inst),
                _ if class <= Class::PerPatient => Some(Inst::Param(hoist.slot(Expr(v)))),
                _ => None,
            };
            if let Some(l) = leaf {
                let nv = arena.push(l);
                memo.insert(v, nv);
                continue;
            }
            if expanded {
                let mapped = inst.map_operands(|o| memo.get(&o).copied().unwrap_or(o));
                let nv = arena.push(mapped);
                memo.insert(v, nv);
            } else {
                stack.push((v, true));
                let ops: Vec<Val> = inst.operands().collect();
                for o in ops.into_iter().rev() {
                    if !memo.contains_key(&o) {
                        stack.push((o, false));
                    }
                }
            }
        }
        memo.get(&root).copied().unwrap_or(Val(0))
    }

    fn lower_setup(&self, hoist: &Hoist) -> Function {
        let mut arena = Arena::default();
        let mut memo: HashMap<Val, Val> = HashMap::new();
        let mut outputs = Vec::new();
        let roots: Vec<Val> = self
            .params
            .iter()
            .map(|p| p.1.0)
            .chain(hoist.nodes.iter().map(|e| e.0))
            .collect();
        for root in roots {
            let mut stack: Vec<(Val, bool)> = vec![(root, false)];
            while let Some((v, expanded)) = stack.pop() {
                if memo.contains_key(&v) {
                    continue;
                }
                let inst = self.insts[v.index()];
                match inst {
                    Inst::Param(q) => {
                        // A named parameter read inside setup is its defining expression, which
                        // was lowered as an earlier output (parameters only see earlier ones).
                        let def = self.params[q as usize].1.0;
                        if let Some(&d) = memo.get(&def) {
                            memo.insert(v, d);
                        } else {
                            stack.push((v, false));
                            stack.push((def, false));
                        }
                    }
                    Inst::Const(_) | Inst::Input(_) | Inst::Time | Inst::State(_) => {
                        let nv = arena.push(inst);
                        memo.insert(v, nv);
                    }
                    _ if expanded => {
                        let mapped = inst.map_operands(|o| memo.get(&o).copied().unwrap_or(o));
                        let nv = arena.push(mapped);
                        memo.insert(v, nv);
                    }
                    _ => {
                        stack.push((v, true));
                        let ops: Vec<Val> = inst.operands().collect();
                        for o in ops.into_iter().rev() {
                            if !memo.contains_key(&o) {
                                stack.push((o, false));
                            }
                        }
                    }
                }
            }
            outputs.push(memo.get(&root).copied().unwrap_or(Val(0)));
        }
        arena.finish(FunctionKind::Setup, outputs)
    }
}

/// Hoisted per-patient subexpressions, numbered in order of first use.
struct Hoist {
    n_named: u32,
    nodes: Vec<Expr>,
    index: HashMap<Expr, u32>,
}

impl Hoist {
    fn slot(&mut self, e: Expr) -> u32 {
        if let Some(&k) = self.index.get(&e) {
            return self.n_named + k;
        }
        let k = self.nodes.len() as u32;
        self.nodes.push(e);
        self.index.insert(e, k);
        self.n_named + k
    }
}

/// A function under construction: hash-consed, in topological order.
#[derive(Default)]
struct Arena {
    insts: Vec<Inst>,
    classes: Vec<Class>,
    map: HashMap<Inst, Val>,
}

impl Arena {
    fn push(&mut self, inst: Inst) -> Val {
        if let Some(&v) = self.map.get(&inst) {
            return v;
        }
        let class = match inst {
            Inst::Const(_) => Class::Constant,
            Inst::Input(_) | Inst::Param(_) => Class::PerPatient,
            Inst::Time => Class::Time,
            Inst::State(_) => Class::State,
            _ => inst
                .operands()
                .map(|v| self.classes[v.index()])
                .max()
                .unwrap_or(Class::Constant),
        };
        let v = Val(self.insts.len() as u32);
        self.insts.push(inst);
        self.classes.push(class);
        self.map.insert(inst, v);
        v
    }

    /// Stable sort by class (valid: operands never have a higher class than their user), then
    /// renumber.
    fn finish(self, kind: FunctionKind, outputs: Vec<Val>) -> Function {
        let mut order: Vec<usize> = (0..self.insts.len()).collect();
        order.sort_by_key(|&i| self.classes[i]);
        let mut new_index = vec![Val(0); self.insts.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = Val(new as u32);
        }
        let insts = order
            .iter()
            .map(|&old| self.insts[old].map_operands(|o| new_index[o.index()]))
            .collect();
        let classes = order.iter().map(|&old| self.classes[old]).collect();
        Function {
            kind,
            insts,
            classes,
            outputs: outputs.iter().map(|o| new_index[o.index()]).collect(),
        }
    }
}
