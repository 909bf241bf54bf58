//! The runtime evaluator of per-patient expressions: population generator arguments, `set`
//! covariates, arm overrides and endpoints, lowered to IR by [`crate::lower::patient`] and
//! JIT-compiled like the model (or run by the IR interpreter, the oracle in tests).
//!
//! An [`Evaluator`] is built once per trial (or per `twin run` for an arm's overrides) and shared
//! by every thread: calls only read it. Every error a per-patient expression can have (a state or
//! time referenced, a summary outside an endpoint) is found when it is built, with its span; calls
//! fail only on buffers of the wrong length. Inputs are in the model's layout
//! ([`Evaluator::inputs`], the layout of [`crate::lower::Lowered::inputs`]).

use super::population::PopError;
use crate::check::hir;
use crate::ir::PatientModule;
use crate::ir::interp::eval_patient;
use crate::jit::CompiledPatient;
use crate::lower::patient::{self, LoweredPatient, ParamLayout, PatientExprs};
use crate::lower::{InputSlot, Lowered, typical_inputs};

/// How an [`Evaluator`] runs its functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Native code from Cranelift.
    Jit,
    /// The IR interpreter (the reference semantics; for tests).
    Interpreter,
}

/// The compiled per-patient expressions of one model (see the module docs).
pub struct Evaluator {
    lowered: LoweredPatient,
    typical: Vec<f64>,
    population: Option<CompiledPatient>,
    endpoints: Option<CompiledPatient>,
    visits: Option<CompiledPatient>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("model", &self.lowered.population.name)
            .field("generators", &self.lowered.n_generators)
            .field("arms", &self.lowered.overrides.len())
            .field("jit", &self.population.is_some())
            .finish()
    }
}

fn length(e: crate::ir::LengthError) -> PopError {
    PopError::new(format!("per-patient expressions: {e}"))
}

impl Evaluator {
    /// Lowers and compiles `exprs` of `model`; `params` locates the model's parameters for
    /// endpoints (see [`ParamLayout`]). Fails with the first error of a per-patient expression.
    pub fn new(
        program: &hir::Program,
        model: &hir::Model,
        exprs: PatientExprs<'_>,
        params: ParamLayout<'_>,
        backend: Backend,
    ) -> Result<Evaluator, PopError> {
        let lowered = patient::lower_patient(program, model, exprs, params).map_err(|es| {
            es.into_iter().next().map_or_else(
                || PopError::new("per-patient expressions failed to lower"),
                |e| PopError {
                    message: e.message,
                    span: e.span,
                },
            )
        })?;
        let compile = |m: &PatientModule| -> Result<Option<CompiledPatient>, PopError> {
            if backend == Backend::Interpreter || m.functions.iter().all(|f| f.outputs.is_empty()) {
                return Ok(None);
            }
            crate::jit::compile_patient(m)
                .map(Some)
                .map_err(|e| PopError::new(format!("native compilation failed: {e}")))
        };
        let population = compile(&lowered.population)?;
        let endpoints = compile(&lowered.endpoints)?;
        let visits = compile(&lowered.visits)?;
        Ok(Evaluator {
            typical: typical_inputs(model, &lowered.inputs),
            lowered,
            population,
            endpoints,
            visits,
        })
    }

    /// Everything a trial evaluates per patient: its population, every arm's overrides (arm `a`
    /// is [`Evaluator::overrides`] `a`) and its endpoints, reading params laid out as in
    /// `lowered` (the trial's lowered model).
    pub fn for_trial(
        program: &hir::Program,
        trial: &hir::Trial,
        lowered: &Lowered,
        backend: Backend,
    ) -> Result<Evaluator, PopError> {
        let model = program.models.get(trial.model).ok_or_else(|| {
            PopError::at(format!("trial `{}` has no model", trial.name), trial.span)
        })?;
        let arms: Vec<&hir::Arm> = trial.arms.iter().collect();
        let exprs = PatientExprs {
            population: trial.population.as_ref(),
            arms: &arms,
            endpoints: &trial.endpoints,
        };
        let params = ParamLayout {
            index: &lowered.param_index,
            count: lowered.module.n_params(),
        };
        Evaluator::new(program, model, exprs, params, backend)
    }

    /// The overrides of `arms` only (arm `k` of the slice is [`Evaluator::overrides`] `k`): what
    /// applying an arm to one patient outside a trial needs.
    pub fn for_arms(
        program: &hir::Program,
        model: &hir::Model,
        arms: &[&hir::Arm],
    ) -> Result<Evaluator, PopError> {
        let exprs = PatientExprs {
            arms,
            ..PatientExprs::default()
        };
        Evaluator::new(program, model, exprs, ParamLayout::default(), Backend::Jit)
    }

    /// The lowered functions.
    pub fn lowered(&self) -> &LoweredPatient {
        &self.lowered
    }

    /// The input layout every call uses (the endpoint call appends the aggregate values).
    pub fn inputs(&self) -> &[InputSlot] {
        &self.lowered.inputs
    }

    /// The model's typical inputs in [`Evaluator::inputs`] layout: covariate defaults, default
    /// diplotypes, η = 0.
    pub fn typical(&self) -> &[f64] {
        &self.typical
    }

    /// Number of generator functions (the population's generators, in order).
    pub fn n_generators(&self) -> usize {
        self.lowered.n_generators
    }

    /// Number of values function `k` of the population module writes.
    fn n_out(&self, k: usize) -> usize {
        self.lowered
            .population
            .functions
            .get(k)
            .map_or(0, |f| f.outputs.len())
    }

    fn population_call(&self, k: usize, inputs: &[f64], out: &mut [f64]) -> Result<(), PopError> {
        match &self.population {
            Some(c) => c.call(k, inputs, &[], out),
            None => eval_patient(&self.lowered.population, k, inputs, &[], out),
        }
        .map_err(length)
    }

    /// The arguments of generator `g` (see [`crate::lower::patient`] for which) for a patient
    /// whose values so far are `inputs`, into `out` (exactly as long as the arguments).
    pub fn generator(&self, g: usize, inputs: &[f64], out: &mut [f64]) -> Result<(), PopError> {
        if g >= self.lowered.n_generators {
            return Err(PopError::new(format!("no generator {g}")));
        }
        self.population_call(g, inputs, out)
    }

    /// Number of arguments of generator `g`.
    pub fn n_generator_values(&self, g: usize) -> usize {
        if g < self.lowered.n_generators {
            self.n_out(g)
        } else {
            0
        }
    }

    /// The input slots arm `arm`'s overrides write, in order (`None`: not an input).
    pub fn override_targets(&self, arm: usize) -> &[Option<InputSlot>] {
        self.lowered
            .overrides
            .get(arm)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The override values of arm `arm` for a patient with `inputs`, into `out` (as long as
    /// [`Evaluator::override_targets`]).
    pub fn overrides(&self, arm: usize, inputs: &[f64], out: &mut [f64]) -> Result<(), PopError> {
        if arm >= self.lowered.overrides.len() {
            return Err(PopError::new(format!("no overrides of arm {arm}")));
        }
        self.population_call(self.lowered.n_generators + arm, inputs, out)
    }

    /// Number of aggregate values the endpoint function reads after the patient's inputs.
    pub fn n_aggregates(&self) -> usize {
        self.lowered.n_aggregates
    }

    /// Number of values arm `arm`'s visit function writes (see
    /// [`crate::lower::patient::LoweredPatient::visits`]).
    pub fn n_visit_values(&self, arm: usize) -> usize {
        self.lowered
            .visits
            .functions
            .get(arm)
            .map_or(0, |f| f.outputs.len())
    }

    /// Number of visit-summary conditions at the start of every visit function.
    pub fn n_visit_summaries(&self) -> usize {
        self.lowered.n_visit_summaries
    }

    /// Arm `arm`'s visit values from `inputs` (the patient's inputs, then the measured value of
    /// every observable, `dose` and `t`) and the model's parameters, into `out`.
    pub fn visit(
        &self,
        arm: usize,
        inputs: &[f64],
        params: &[f64],
        out: &mut [f64],
    ) -> Result<(), PopError> {
        if arm >= self.lowered.visits.functions.len() {
            return Err(PopError::new(format!("no visit function of arm {arm}")));
        }
        match &self.visits {
            Some(c) => c.call(arm, inputs, params, out),
            None => eval_patient(&self.lowered.visits, arm, inputs, params, out),
        }
        .map_err(length)
    }

    /// Endpoint values from `inputs` (the patient's inputs followed by the value of every
    /// aggregate, in [`crate::lower::Lowered::aggregates`] order) and the model's parameters.
    pub fn endpoints(
        &self,
        inputs: &[f64],
        params: &[f64],
        out: &mut [f64],
    ) -> Result<(), PopError> {
        match &self.endpoints {
            Some(c) => c.call(0, inputs, params, out),
            None => eval_patient(&self.lowered.endpoints, 0, inputs, params, out),
        }
        .map_err(length)
    }
}
