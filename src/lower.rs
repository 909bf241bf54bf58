//! Lowering: a checked model ([`hir::Model`]) → the flat, unit-free IR ([`crate::ir::Module`]).
//!
//! This is the one place where unit scale factors become numbers: every [`hir::ExprKind::Scale`]
//! turns into a multiplication by a constant, which the builder folds. Values keep the units the
//! modeler declared (a compartment in mg holds milligrams, time is in hours), so outputs need no
//! conversion. Per-patient inputs are laid out as: covariates (value in declared unit; level index
//! for categorical ones), genotypes (diplotype index), then one η per random effect. Genotype
//! tables become selects on the diplotype index; function calls are inlined. Doses get their
//! amounts (and bioavailable fractions) as per-patient parameters named `dose#k`.

use crate::check::hir::{self, Builtin, EffectKind, ExprKind, Sym, Type};
use crate::ir::builder::{BuildError, Expr, ModuleBuilder, StateId};
use crate::ir::ir::{Class, Module};
use crate::source::Span;
use crate::syntax::ast::{BinOp, UnOp};

pub mod patient;

/// What each per-patient input slot holds.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSlot {
    /// A covariate (index into the model's covariates).
    Covariate(usize),
    /// A genotype variable (diplotype index).
    Genotype(usize),
    /// The η of a random effect (index into the model's effects).
    Eta(usize),
    /// The slope (covariate unit per hour) of a linearly interpolated covariate.
    Slope(usize),
    /// The time (h) at which a linearly interpolated covariate has its input value.
    Origin(usize),
    /// A param estimated as a fixed effect (index into the model's params): its value, in the
    /// param's declared unit, replaces its definition ([`Options::estimate`]).
    Theta(usize),
    /// The η of per-occasion random effect `.0` on occasion `.1` (1-based), each its own input
    /// ([`Options::occasions`]).
    Kappa(usize, u32),
    /// The current occasion (1-based) selecting among the [`InputSlot::Kappa`] inputs.
    Occasion,
}

/// A lowered model with the layout of its inputs.
#[derive(Debug)]
pub struct Lowered {
    /// The IR module.
    pub module: Module,
    /// Input slots in order.
    pub inputs: Vec<InputSlot>,
    /// Index of the accumulator of eliminated amount, if tracked.
    pub eliminated: Option<usize>,
    /// For every dose of every arm (arm order, then dose order): where its per-patient values are.
    pub dose_params: Vec<Vec<DoseSlots>>,
    /// Module param index of every model param (by the checked model's param index).
    pub param_index: Vec<usize>,
    /// Endpoint aggregates, in the order of [`aggregates`] over the endpoints.
    pub aggregates: Vec<AggSlots>,
    /// Module param slot of every computed quantity asked for ([`lower_trial`]'s `quantities`,
    /// e.g. a trial's [`hir::Trial::quantities`]): `setup` computes each exactly as the
    /// simulation uses it.
    pub quantities: Vec<usize>,
}

/// Where the values behind one endpoint aggregate are, in the order of [`aggregates`].
#[derive(Debug, Clone, PartialEq)]
pub struct AggSlots {
    /// Which aggregate.
    pub kind: hir::Aggregate,
    /// Observable indices of its arguments (conditions as 1/0).
    pub observables: Vec<usize>,
    /// State index of the running integral of the first argument (`auc`, `mean`).
    pub integral: Option<usize>,
    /// Window start, h.
    pub from: Option<f64>,
    /// Window end, h.
    pub to: Option<f64>,
    /// `discontinued("reason")`: the index of the reason in [`hir::Trial::stop_reasons`].
    pub reason: Option<usize>,
}

/// Every aggregate inside `e`, in pre-order (the order of [`Lowered::aggregates`]).
pub fn aggregates<'e>(e: &'e hir::Expr, out: &mut Vec<&'e hir::Expr>) {
    match &e.kind {
        ExprKind::Aggregate { .. } => out.push(e),
        ExprKind::Scale(x, _) | ExprKind::Unary(_, x) => aggregates(x, out),
        ExprKind::Binary(_, a, b) => {
            aggregates(a, out);
            aggregates(b, out);
        }
        ExprKind::If(c, a, b) => {
            aggregates(c, out);
            aggregates(a, out);
            aggregates(b, out);
        }
        ExprKind::Builtin(_, args) | ExprKind::Call(_, args) => {
            args.iter().for_each(|a| aggregates(a, out))
        }
        ExprKind::Switch { arms, .. } => arms.iter().for_each(|a| aggregates(a, out)),
        _ => {}
    }
}

/// Param indices holding one dose's per-patient values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoseSlots {
    /// The amount, already multiplied by the bioavailable fraction, in the target state's unit.
    pub amount: usize,
    /// The infusion rate (target unit per hour), for infusions given by rate.
    pub rate: Option<usize>,
}

/// Options of lowering.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Add a state accumulating everything eliminated through `flow … -> out` (when all
    /// eliminating compartments share a unit), for mass-balance checks and output.
    pub track_elimination: bool,
    /// Covariates (indices) interpolated linearly between dataset rows: each reads
    /// `value + slope·(t − origin)` with `slope` and `origin` two more inputs
    /// ([`InputSlot::Slope`], [`InputSlot::Origin`]) after the η's; params of them are time
    /// courses.
    pub interpolate: Vec<usize>,
    /// Params (indices) whose definition becomes an input ([`InputSlot::Theta`], after every
    /// other input): fixed effects to estimate. Each must have a constant definition.
    pub estimate: Vec<usize>,
    /// Augment the module with the forward sensitivities of every state and observable with
    /// respect to every η, θ and κ input ([`crate::ir::sensitivity`]).
    pub sensitivities: bool,
    /// With `n > 0`: every per-occasion random effect reads one input per occasion
    /// ([`InputSlot::Kappa`], occasions 1..=n) chosen by the [`InputSlot::Occasion`] input, so
    /// that each occasion's η is its own unknown (`twin fit`); its [`InputSlot::Eta`] input is
    /// then unused.
    pub occasions: u32,
}

/// What the expressions being lowered may see.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode<'a> {
    /// The model itself: every symbol; aggregates are NaN (endpoints are lowered separately).
    Model,
    /// A per-patient expression evaluated before the simulation (population generators, arm
    /// overrides): covariates, genotypes and params (recomputed from their definitions with the
    /// patient's η); anything that changes over time is an error.
    Patient,
    /// An endpoint: covariates, genotypes, params read from the model's parameter slots
    /// (`param_index`) and aggregates read from the inputs after the patient's
    /// (`aggregates`, in the order of [`aggregates`]).
    Endpoint {
        param_index: &'a [usize],
        aggregates: &'a [Expr],
    },
    /// A protocol rule or visit summary: covariates, genotypes, params read from the model's
    /// parameter slots (`param_index`), and from the inputs after the patient's (`visit`): the
    /// measured value of every observable, then `dose`, then `t`, then `since_dose`.
    Visit {
        param_index: &'a [usize],
        visit: &'a [Expr],
    },
}

struct Lower<'a> {
    p: &'a hir::Program,
    m: &'a hir::Model,
    b: ModuleBuilder,
    covs: Vec<Expr>,
    genos: Vec<Expr>,
    etas: Vec<Expr>,
    params: Vec<Option<Expr>>,
    lets: Vec<Option<Expr>>,
    states: Vec<StateId>,
    args: Vec<Vec<Expr>>,
    mode: Mode<'a>,
    /// Errors of patient and endpoint expressions (message, where).
    errors: Vec<(String, Span)>,
    /// What is being lowered, outermost first (`in `cl``), for error messages.
    context: Vec<String>,
    /// Aggregates met so far in endpoint mode.
    next_aggregate: usize,
}

impl<'a> Lower<'a> {
    /// A lowering of `m` into `b` after declaring the model's inputs (covariates, genotypes, one
    /// η per random effect, in that order): the layout of [`Lowered::inputs`].
    fn new(
        p: &'a hir::Program,
        m: &'a hir::Model,
        mut b: ModuleBuilder,
        mode: Mode<'a>,
    ) -> (Lower<'a>, Vec<InputSlot>) {
        let mut inputs = Vec::new();
        let mut covs = Vec::new();
        for (i, c) in m.covariates.iter().enumerate() {
            covs.push(b.input(&c.name));
            inputs.push(InputSlot::Covariate(i));
        }
        let mut genos = Vec::new();
        for (i, g) in m.genotypes.iter().enumerate() {
            genos.push(b.input(&g.name));
            inputs.push(InputSlot::Genotype(i));
        }
        let mut etas = Vec::new();
        for (i, e) in m.effects.iter().enumerate() {
            let occ = if e.per_occasion { "; occasion" } else { "" };
            etas.push(b.input(&format!("eta({}{occ})", m.params[e.param].name)));
            inputs.push(InputSlot::Eta(i));
        }
        let l = Lower {
            p,
            m,
            b,
            covs,
            genos,
            etas,
            params: vec![None; m.params.len()],
            lets: vec![None; m.lets.len()],
            states: Vec::new(),
            args: Vec::new(),
            mode,
            errors: Vec::new(),
            context: Vec::new(),
            next_aggregate: 0,
        };
        (l, inputs)
    }

    fn c(&mut self, v: f64) -> Expr {
        self.b.constant(v)
    }

    /// Records an error of a patient or endpoint expression (prefixed with the context) and
    /// returns NaN in its place.
    fn error(&mut self, message: String, span: Span) -> Expr {
        let mut text = String::new();
        for c in &self.context {
            text.push_str(c);
            text.push_str(": ");
        }
        text.push_str(&message);
        self.errors.push((text, span));
        self.c(f64::NAN)
    }

    /// Parameter `i` with its random effects applied to `typical` (unchanged without any): η is
    /// the sum of the between-patient and the per-occasion η.
    fn with_effects(&mut self, i: usize, typical: Expr) -> Expr {
        let m = self.m;
        let mut eta: Option<Expr> = None;
        let mut kind = EffectKind::LogNormal;
        for (k, e) in m.effects.iter().enumerate().filter(|(_, e)| e.param == i) {
            let Some(&x) = self.etas.get(k) else { continue };
            kind = e.kind;
            eta = Some(match eta {
                None => x,
                Some(s) => self.b.add(s, x),
            });
        }
        match eta {
            Some(eta) => self.with_effect(typical, eta, kind),
            None => typical,
        }
    }

    /// A parameter with its random effect applied to `typical`: `typical·e^η`, `typical + η` or
    /// `expit(logit(typical) + η)`.
    fn with_effect(&mut self, typical: Expr, eta: Expr, kind: EffectKind) -> Expr {
        match kind {
            EffectKind::LogNormal => {
                let x = self.b.exp(eta);
                self.b.mul(typical, x)
            }
            EffectKind::Normal => self.b.add(typical, eta),
            EffectKind::Logit => {
                let one = self.b.constant(1.0);
                let q = self.b.sub(one, typical);
                let r = self.b.div(typical, q);
                let lg = self.b.log(r);
                let z = self.b.add(lg, eta);
                let nz = self.b.neg(z);
                let ex = self.b.exp(nz);
                let den = self.b.add(one, ex);
                self.b.div(one, den)
            }
        }
    }

    /// A symbol of a per-patient (`Mode::Patient`) or endpoint expression.
    fn patient_sym(&mut self, s: Sym, span: Span) -> Expr {
        let m = self.m;
        let endpoint = matches!(self.mode, Mode::Endpoint { .. });
        if let Mode::Visit { param_index, visit } = self.mode {
            let n_obs = m.observables.len();
            let at = |k: usize| visit.get(k).copied();
            let v = match s {
                Sym::Observable(i) if i < n_obs => at(i),
                Sym::VisitDose => at(n_obs),
                Sym::Time => at(n_obs + 1),
                Sym::SinceDose => at(n_obs + 2),
                Sym::Param(i) => param_index
                    .get(i)
                    .map(|&slot| self.b.param_slot(slot as u32)),
                _ => None,
            };
            if let Some(v) = v {
                return v;
            }
        }
        let time_varying = |what: &str, name: &str| {
            if endpoint {
                "only covariates, genotypes, params and time-course summaries are known in an endpoint".to_string()
            } else {
                format!(
                    "{what} `{name}` changes during the simulation; only covariates, genotypes and parameters are known when a patient is generated"
                )
            }
        };
        match s {
            Sym::Covariate(i) => match self.covs.get(i) {
                Some(&e) => e,
                None => self.error("unknown covariate".into(), span),
            },
            Sym::Genotype(i) => match self.genos.get(i) {
                Some(&e) => e,
                None => self.error("unknown genotype variable".into(), span),
            },
            Sym::Param(i) => {
                if let Mode::Endpoint { param_index, .. } = self.mode {
                    return match param_index.get(i) {
                        Some(&slot) => self.b.param_slot(slot as u32),
                        None => self.error("parameters are not known here".into(), span),
                    };
                }
                if let Some(e) = self.params.get(i).copied().flatten() {
                    return e;
                }
                let Some(p) = m.params.get(i) else {
                    return self.error("unknown parameter".into(), span);
                };
                self.context.push(format!("in `{}`", p.name));
                let typical = self.expr(&p.value);
                self.context.pop();
                let v = self.with_effects(i, typical);
                self.params[i] = Some(v);
                v
            }
            Sym::Let(i) if !endpoint => {
                if let Some(e) = self.lets.get(i).copied().flatten() {
                    return e;
                }
                let Some(l) = m.lets.get(i) else {
                    return self.error("unknown definition".into(), span);
                };
                self.context.push(format!("in `{}`", l.name));
                let v = self.expr(&l.value);
                self.context.pop();
                self.lets[i] = Some(v);
                v
            }
            Sym::Let(i) => {
                let name = m.lets.get(i).map_or("?", |l| l.name.as_str());
                self.error(time_varying("definition", name), span)
            }
            Sym::State(i) => {
                let name = m.states.get(i).map_or("?", |s| s.name.as_str());
                self.error(time_varying("state", name), span)
            }
            Sym::Observable(i) => {
                let name = m.observables.get(i).map_or("?", |o| o.name.as_str());
                self.error(time_varying("observable", name), span)
            }
            Sym::Time => self.error(time_varying("time", "t"), span),
            Sym::Input(i) => {
                let name = m.inputs.get(i).map_or("?", |x| x.name.as_str());
                self.error(format!("input `{name}` is not defined"), span)
            }
            Sym::FnArg(i) => match self.args.last().and_then(|a| a.get(i)) {
                Some(e) => *e,
                None => self.error("function argument out of range".into(), span),
            },
            Sym::GeneActivity => self.error(
                "`activity` is only defined inside a gene block".into(),
                span,
            ),
            Sym::VisitDose | Sym::SinceDose => self.error(
                "`dose` and `since_dose` are only known at a protocol visit".into(),
                span,
            ),
        }
    }

    fn sym(&mut self, s: Sym, span: Span) -> Expr {
        if self.mode != Mode::Model {
            return self.patient_sym(s, span);
        }
        match s {
            Sym::Covariate(i) => self.covs[i],
            Sym::Genotype(i) => self.genos[i],
            Sym::Param(i) => match self.params[i] {
                Some(e) => e,
                // Params are lowered in dependency order; a missing one is a bug in the order.
                None => self.c(f64::NAN),
            },
            Sym::State(i) => {
                let id = self.states[i];
                self.b.y(id)
            }
            Sym::Let(i) => match self.lets[i] {
                Some(e) => e,
                None => {
                    let v = self.expr(&self.m.lets[i].value);
                    self.lets[i] = Some(v);
                    v
                }
            },
            Sym::Observable(i) => {
                let v = &self.m.observables[i].value;
                self.expr(v)
            }
            // Unreachable: a model with inputs is refused before lowering.
            Sym::Input(_) => self.c(f64::NAN),
            Sym::Time => self.b.time(),
            Sym::FnArg(i) => match self.args.last().and_then(|a| a.get(i)) {
                Some(e) => *e,
                None => self.c(f64::NAN),
            },
            Sym::GeneActivity | Sym::VisitDose | Sym::SinceDose => self.c(f64::NAN),
        }
    }

    fn expr(&mut self, e: &hir::Expr) -> Expr {
        match &e.kind {
            ExprKind::Const(v) => self.c(*v),
            ExprKind::Bool(b) => self.c(if *b { 1.0 } else { 0.0 }),
            ExprKind::Sym(s) => self.sym(*s, e.span),
            ExprKind::Scale(x, f) => {
                let x = self.expr(x);
                if f.is_one() {
                    return x;
                }
                let k = self.c(f.to_f64());
                self.b.mul(x, k)
            }
            ExprKind::Unary(UnOp::Neg, x) => {
                let x = self.expr(x);
                self.b.neg(x)
            }
            ExprKind::Unary(UnOp::Not, x) => {
                let x = self.expr(x);
                self.b.not(x)
            }
            ExprKind::Binary(op, a, b) => {
                if *op == BinOp::Pow
                    && let Some(n) = crate::check::consts::eval(b)
                    && n.fract() == 0.0
                    && n.abs() <= 64.0
                {
                    let a = self.expr(a);
                    return self.b.powi(a, n as i32);
                }
                let x = self.expr(a);
                let y = self.expr(b);
                match op {
                    BinOp::Add => self.b.add(x, y),
                    BinOp::Sub => self.b.sub(x, y),
                    BinOp::Mul => self.b.mul(x, y),
                    BinOp::Div => self.b.div(x, y),
                    BinOp::Pow => self.b.pow(x, y),
                    BinOp::Eq => self.b.eq(x, y),
                    BinOp::Ne => self.b.ne(x, y),
                    BinOp::Lt => self.b.lt(x, y),
                    BinOp::Le => self.b.le(x, y),
                    BinOp::Gt => self.b.gt(x, y),
                    BinOp::Ge => self.b.ge(x, y),
                    BinOp::And => self.b.and(x, y),
                    BinOp::Or => self.b.or(x, y),
                }
            }
            ExprKind::Builtin(f, args) => {
                let v: Vec<Expr> = args.iter().map(|a| self.expr(a)).collect();
                let x = v.first().copied().unwrap_or_else(|| self.c(f64::NAN));
                match f {
                    Builtin::Exp => self.b.exp(x),
                    Builtin::Log => self.b.log(x),
                    Builtin::Log10 => self.b.log10(x),
                    Builtin::Sqrt => self.b.sqrt(x),
                    Builtin::Abs => self.b.abs(x),
                    Builtin::Floor => self.b.floor(x),
                    Builtin::Ceil => self.b.ceil(x),
                    Builtin::Min => v.iter().skip(1).fold(x, |acc, y| self.b.min(acc, *y)),
                    Builtin::Max => v.iter().skip(1).fold(x, |acc, y| self.b.max(acc, *y)),
                    Builtin::Pow => {
                        let y = v.get(1).copied().unwrap_or_else(|| self.c(f64::NAN));
                        self.b.pow(x, y)
                    }
                    Builtin::Hill => {
                        // (x/x50)^n / (1 + (x/x50)^n): finite for x = 0 and any n > 0.
                        let nan = self.c(f64::NAN);
                        let x50 = v.get(1).copied().unwrap_or(nan);
                        let n = v.get(2).copied().unwrap_or(nan);
                        let ratio = self.b.div(x, x50);
                        let r = self.b.pow(ratio, n);
                        let one = self.c(1.0);
                        let den = self.b.add(one, r);
                        self.b.div(r, den)
                    }
                    Builtin::Logit => {
                        let one = self.c(1.0);
                        let q = self.b.sub(one, x);
                        let ratio = self.b.div(x, q);
                        self.b.log(ratio)
                    }
                    Builtin::Expit => {
                        let one = self.c(1.0);
                        let nx = self.b.neg(x);
                        let e = self.b.exp(nx);
                        let den = self.b.add(one, e);
                        self.b.div(one, den)
                    }
                }
            }
            ExprKind::Call(f, args) => {
                let v: Vec<Expr> = args.iter().map(|a| self.expr(a)).collect();
                let p = self.p;
                self.args.push(v);
                let r = self.expr(&p.fns[*f].body);
                self.args.pop();
                r
            }
            ExprKind::If(c, a, b) => {
                let c = self.expr(c);
                let a = self.expr(a);
                let b = self.expr(b);
                self.b.select(c, a, b)
            }
            ExprKind::Switch {
                genotype,
                table,
                arms,
            } => {
                let g = self.genos[*genotype];
                let values: Vec<Expr> = arms.iter().map(|a| self.expr(a)).collect();
                // The most frequent arm is the fallback; every other arm is selected by its
                // diplotypes.
                let mut counts = vec![0usize; values.len()];
                for &a in table {
                    counts[a] += 1;
                }
                let default = (0..values.len())
                    .max_by_key(|&a| (counts[a], std::cmp::Reverse(a)))
                    .unwrap_or(0);
                let mut acc = values
                    .get(default)
                    .copied()
                    .unwrap_or_else(|| self.c(f64::NAN));
                for (a, &value) in values.iter().enumerate().rev() {
                    if a == default {
                        continue;
                    }
                    let mut cond: Option<Expr> = None;
                    for (d, &arm) in table.iter().enumerate() {
                        if arm == a {
                            let k = self.c(d as f64);
                            let eq = self.b.eq(g, k);
                            cond = Some(match cond {
                                Some(c) => self.b.or(c, eq),
                                None => eq,
                            });
                        }
                    }
                    if let Some(c) = cond {
                        acc = self.b.select(c, value, acc);
                    }
                }
                acc
            }
            ExprKind::Category(l) => self.c(*l as f64),
            ExprKind::Aggregate { .. } => match self.mode {
                Mode::Model => self.c(f64::NAN),
                Mode::Patient | Mode::Visit { .. } => self.error(
                    "a time-course summary is only known in an endpoint".into(),
                    e.span,
                ),
                Mode::Endpoint { aggregates, .. } => {
                    let k = self.next_aggregate;
                    self.next_aggregate += 1;
                    match aggregates.get(k) {
                        Some(&a) => a,
                        None => self.error("unknown summary".into(), e.span),
                    }
                }
            },
            ExprKind::Error => match self.mode {
                Mode::Model => self.c(f64::NAN),
                _ => self.error(
                    "this expression has an error (reported when checking)".into(),
                    e.span,
                ),
            },
        }
    }
}

/// Lowers one model of a checked program (which must have no errors), with the doses of `arms`.
pub fn lower(
    p: &hir::Program,
    m: &hir::Model,
    arms: &[&hir::Arm],
    opts: Options,
) -> Result<Lowered, Vec<BuildError>> {
    lower_trial(p, m, arms, &[], &[], opts)
}

/// Lowers a model for a trial: as [`lower`], plus hidden observables for every endpoint
/// aggregate's arguments, a running-integral state for every `auc` and `mean`, and a named param
/// slot for every `let` among `quantities` (params have theirs; see [`Lowered::quantities`]).
/// A `let` in `quantities` must not change over time (the checker makes sure of it); the model
/// then reads it from its slot, so the value recorded is the value simulated.
pub fn lower_trial(
    p: &hir::Program,
    m: &hir::Model,
    arms: &[&hir::Arm],
    endpoints: &[hir::Endpoint],
    quantities: &[Sym],
    opts: Options,
) -> Result<Lowered, Vec<BuildError>> {
    if !m.inputs.is_empty() {
        return Err(m
            .inputs
            .iter()
            .map(|i| BuildError::UndefinedInput {
                name: i.name.clone(),
            })
            .collect());
    }
    let (mut l, mut inputs) = Lower::new(p, m, ModuleBuilder::new(&m.name), Mode::Model);
    // Linearly interpolated covariates: value + slope·(t − origin).
    for &i in &opts.interpolate {
        let (Some(&c), Some(cv)) = (l.covs.get(i), m.covariates.get(i)) else {
            continue;
        };
        let slope = l.b.input(&format!("slope({})", cv.name));
        let origin = l.b.input(&format!("origin({})", cv.name));
        inputs.push(InputSlot::Slope(i));
        inputs.push(InputSlot::Origin(i));
        let t = l.b.time();
        let dt = l.b.sub(t, origin);
        let rise = l.b.mul(slope, dt);
        l.covs[i] = l.b.add(c, rise);
    }
    // Fixed effects to estimate: inputs that replace their params' definitions.
    let mut thetas: Vec<Option<Expr>> = vec![None; m.params.len()];
    for &i in &opts.estimate {
        let Some(p) = m.params.get(i) else { continue };
        if thetas[i].is_none() {
            thetas[i] = Some(l.b.input(&format!("theta({})", p.name)));
            inputs.push(InputSlot::Theta(i));
        }
    }
    // Per-occasion effects as one input per occasion, selected by the current occasion.
    if opts.occasions > 0 && m.effects.iter().any(|e| e.per_occasion) {
        let occ = l.b.input("occasion");
        inputs.push(InputSlot::Occasion);
        for (k, e) in m.effects.iter().enumerate().filter(|(_, e)| e.per_occasion) {
            let zero = l.b.constant(0.0);
            let mut sum = zero;
            for o in 1..=opts.occasions {
                let kappa =
                    l.b.input(&format!("eta({}; occasion {o})", m.params[e.param].name));
                inputs.push(InputSlot::Kappa(k, o));
                let which = l.b.constant(f64::from(o));
                let on = l.b.eq(occ, which);
                let term = l.b.select(on, kappa, zero);
                sum = l.b.add(sum, term);
            }
            l.etas[k] = sum;
        }
    }
    let rhs_covs = l.covs.clone();
    for s in &m.states {
        let id = l.b.state(&s.name);
        l.states.push(id);
    }
    // Params in dependency order, with their random effects.
    let mut param_index = vec![0usize; m.params.len()];
    let mut declared = 0usize;
    // A param that depends on `t` (through a time-varying `let`) is time-varying: the right-hand
    // side and observables use its time course (`rhs_params`), everything per patient (initial
    // values, dose amounts, computed quantities, patients.csv) its value at t = 0, in its slot.
    let mut rhs_params: Vec<Option<Expr>> = vec![None; m.params.len()];
    for s in &m.order {
        if let Sym::Param(i) = s {
            let typical = match thetas[*i] {
                Some(theta) => theta,
                None => l.expr(&m.params[*i].value),
            };
            let v = l.with_effects(*i, typical);
            let handle = match l.b.class(v) {
                Class::Time => {
                    let v0 = l.b.at_time(v, 0.0);
                    let h = l.b.param(&m.params[*i].name, v0);
                    rhs_params[*i] = Some(v);
                    h
                }
                // A param that reads the states (through a `let`) is refused by `finish`.
                _ => {
                    let h = l.b.param(&m.params[*i].name, v);
                    rhs_params[*i] = Some(h);
                    h
                }
            };
            l.params[*i] = Some(handle);
            param_index[*i] = declared;
            declared += 1;
        }
    }
    // Per-patient values from here to the initial states (covariates at t = 0): lets computed
    // so far may hold time courses.
    l.lets.iter_mut().for_each(|x| *x = None);
    l.covs = rhs_covs.iter().map(|&c| l.b.at_time(c, 0.0)).collect();
    // Computed quantities: params are where they are; `let`s get a named slot of their own.
    let mut n_params = m.params.len();
    let mut quantity_slots = Vec::with_capacity(quantities.len());
    for (k, q) in quantities.iter().enumerate() {
        match *q {
            Sym::Param(i) => quantity_slots.push(param_index.get(i).copied().unwrap_or(usize::MAX)),
            Sym::Let(i) if i < m.lets.len() => {
                let v = l.expr(&m.lets[i].value);
                let handle = l.b.param(&format!("quantity#{k}"), v);
                l.lets[i] = Some(handle);
                quantity_slots.push(n_params);
                n_params += 1;
            }
            _ => quantity_slots.push(usize::MAX),
        }
    }
    // Dose amounts as per-patient params.
    let mut dose_params = Vec::new();
    for arm in arms {
        let mut ids = Vec::new();
        for d in &arm.doses {
            let mut amount = l.expr(&d.amount);
            if let Some(f) = &d.bioavailability {
                let f = l.expr(f);
                amount = l.b.mul(amount, f);
            }
            let k = ids.len();
            l.b.param(&format!("dose#{}.{k}", dose_params.len()), amount);
            let amount_slot = n_params;
            n_params += 1;
            let rate = match &d.infusion {
                Some(hir::Infusion::Rate(r)) => {
                    let r = l.expr(r);
                    l.b.param(&format!("rate#{}.{k}", dose_params.len()), r);
                    n_params += 1;
                    Some(n_params - 1)
                }
                _ => None,
            };
            ids.push(DoseSlots {
                amount: amount_slot,
                rate,
            });
        }
        dose_params.push(ids);
    }
    for (i, s) in m.states.iter().enumerate() {
        let init = l.expr(&s.init);
        l.b.set_init(l.states[i], init);
        if let Some(f) = &s.bioavailability {
            let f = l.expr(f);
            l.b.set_bioavailability(l.states[i], f);
        }
        if let Some(lag) = &s.lag {
            let lag = l.expr(lag);
            l.b.set_lag(l.states[i], lag);
        }
    }
    // The time courses: right-hand sides, observables, endpoint arguments.
    l.params = rhs_params;
    l.covs = rhs_covs;
    l.lets.iter_mut().for_each(|x| *x = None);
    for (i, s) in m.states.iter().enumerate() {
        let id = l.states[i];
        for t in &s.rhs {
            let v = l.expr(t);
            l.b.add_rhs(id, v);
        }
    }
    let mut eliminated = None;
    if opts.track_elimination {
        let out_units: Vec<_> = m
            .flows
            .iter()
            .filter(|f| f.to.is_none())
            .map(|f| m.states[f.from].unit)
            .collect();
        if !out_units.is_empty() && out_units.iter().all(|u| *u == out_units[0]) {
            let acc = l.b.state("eliminated");
            for f in m.flows.iter().filter(|f| f.to.is_none()) {
                let r = l.expr(&f.rate);
                l.b.add_rhs(acc, r);
            }
            l.b.accumulator(acc);
            eliminated = Some(m.states.len());
        }
    }
    for o in &m.observables {
        let v = l.expr(&o.value);
        let v = match o.value.ty {
            Type::Bool => {
                let one = l.b.constant(1.0);
                let zero = l.b.constant(0.0);
                l.b.select(v, one, zero)
            }
            _ => v,
        };
        l.b.observe(&o.name, v);
    }
    // Endpoint aggregates: their arguments as hidden observables, integrals as hidden states.
    let mut aggs = Vec::new();
    let mut n_obs = m.observables.len();
    let mut n_states = m.states.len() + usize::from(eliminated.is_some());
    let mut found = Vec::new();
    for e in endpoints {
        aggregates(&e.value, &mut found);
    }
    for (k, a) in found.iter().enumerate() {
        let ExprKind::Aggregate {
            kind,
            args,
            from,
            to,
        } = &a.kind
        else {
            continue;
        };
        let mut observables = Vec::new();
        let mut first = None;
        // A protocol summary's condition is read on measured values at visits (the visit
        // functions of `patient`), not on the model's time course.
        let reason = match (kind, args.first().map(|a| &a.kind)) {
            (hir::Aggregate::Discontinued, Some(ExprKind::Const(k))) => Some(*k as usize),
            _ => None,
        };
        let args: &[hir::Expr] = if kind.is_protocol() { &[] } else { args };
        for (j, arg) in args.iter().enumerate() {
            let v = l.expr(arg);
            let v = if arg.ty == Type::Bool {
                let one = l.b.constant(1.0);
                let zero = l.b.constant(0.0);
                l.b.select(v, one, zero)
            } else {
                v
            };
            if j == 0 {
                first = Some(v);
            }
            l.b.observe(&format!("#agg{k}.{j}"), v);
            observables.push(n_obs);
            n_obs += 1;
        }
        let integral = match (kind, first) {
            (hir::Aggregate::Auc | hir::Aggregate::Mean, Some(v)) => {
                let s = l.b.state(&format!("#integral{k}"));
                l.b.add_rhs(s, v);
                n_states += 1;
                Some(n_states - 1)
            }
            _ => None,
        };
        aggs.push(AggSlots {
            kind: *kind,
            observables,
            integral,
            from: *from,
            to: *to,
            reason,
        });
    }
    if opts.sensitivities {
        let wrt: Vec<u32> = inputs
            .iter()
            .enumerate()
            .filter(|(_, s)| match s {
                InputSlot::Eta(k) => !(opts.occasions > 0 && m.effects[*k].per_occasion),
                InputSlot::Theta(_) | InputSlot::Kappa(..) => true,
                _ => false,
            })
            .map(|(k, _)| k as u32)
            .collect();
        crate::ir::sensitivity::augment(&mut l.b, &wrt);
    }
    let module = l.b.finish()?;
    Ok(Lowered {
        module,
        inputs,
        eliminated,
        dose_params,
        param_index,
        aggregates: aggs,
        quantities: quantity_slots,
    })
}

/// Typical-value inputs of a model: covariate defaults, default diplotypes, η = 0.
pub fn typical_inputs(m: &hir::Model, slots: &[InputSlot]) -> Vec<f64> {
    slots
        .iter()
        .map(|s| match s {
            InputSlot::Covariate(i) => m.covariates[*i].default,
            InputSlot::Genotype(i) => m.genotypes[*i].default as f64,
            InputSlot::Eta(_) | InputSlot::Slope(_) | InputSlot::Origin(_) => 0.0,
            InputSlot::Theta(i) => {
                crate::check::consts::eval(&m.params[*i].value).unwrap_or(f64::NAN)
            }
            InputSlot::Kappa(..) => 0.0,
            InputSlot::Occasion => 1.0,
        })
        .collect()
}
