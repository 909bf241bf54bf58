//! The checked model: names resolved, every expression typed with a unit, genotype matches turned
//! into per-diplotype tables.
//!
//! A numeric [`Expr`] of type `Num(u)` computes a value `v` meaning the quantity `v × u`. Where two
//! values must share a unit (sums, comparisons, assignments to a declared unit) the checker inserts an
//! explicit [`ExprKind::Scale`] node with the exact rational factor; lowering folds these factors into
//! constants. Model time is measured in hours.

use crate::source::Span;
use crate::syntax::ast::{BinOp, UnOp};
use crate::units::{Rational, Unit};

/// Index of a gene (genotype type) in [`Program::genes`].
pub type GeneId = usize;

/// The type of an expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Type {
    /// A number with a unit.
    Num(Unit),
    /// A truth value.
    Bool,
    /// A diplotype of the gene.
    Genotype(GeneId),
    /// A phenotype class of the gene.
    Phenotype(GeneId),
    /// A level of a categorical covariate (index into the model's covariates).
    Category(usize),
    /// A string literal not yet interpreted.
    Str,
    /// The expression had an error (already reported).
    Error,
}

impl Type {
    /// The unit, for numeric types.
    pub fn unit(self) -> Option<Unit> {
        match self {
            Type::Num(u) => Some(u),
            _ => None,
        }
    }
}

/// What a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sym {
    /// A covariate of the model.
    Covariate(usize),
    /// A genotype variable of the model (value: diplotype index).
    Genotype(usize),
    /// A parameter (per-patient constant).
    Param(usize),
    /// A state (compartment or `state`).
    State(usize),
    /// A `let` definition.
    Let(usize),
    /// An observable defined by `observe x = …`.
    Observable(usize),
    /// An `input` no statement of the model defines (index into [`Model::inputs`]).
    Input(usize),
    /// Model time, in hours.
    Time,
    /// A parameter of the enclosing function.
    FnArg(usize),
    /// The activity score inside a `gene` block.
    GeneActivity,
    /// `dose` in a protocol rule: the amount of the next planned administration.
    VisitDose,
    /// `since_dose` in a protocol rule: the time since the last administration given.
    SinceDose,
}

/// Built-in functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `exp(x)`
    Exp,
    /// `log(x)` (natural)
    Log,
    /// `log10(x)`
    Log10,
    /// `sqrt(x)`
    Sqrt,
    /// `abs(x)`
    Abs,
    /// `floor(x)`
    Floor,
    /// `ceil(x)`
    Ceil,
    /// `min(a, b, …)`
    Min,
    /// `max(a, b, …)`
    Max,
    /// `pow(a, b)` — same as `a ^ b`.
    Pow,
    /// `hill(x, x50, n)` = x^n / (x50^n + x^n).
    Hill,
    /// `logit(p)` = ln(p / (1 − p)).
    Logit,
    /// `expit(x)` = 1 / (1 + e^−x).
    Expit,
}

impl Builtin {
    /// Looks a builtin up by name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "exp" => Builtin::Exp,
            "log" | "ln" => Builtin::Log,
            "log10" => Builtin::Log10,
            "sqrt" => Builtin::Sqrt,
            "abs" => Builtin::Abs,
            "floor" => Builtin::Floor,
            "ceil" => Builtin::Ceil,
            "min" => Builtin::Min,
            "max" => Builtin::Max,
            "pow" => Builtin::Pow,
            "hill" => Builtin::Hill,
            "logit" => Builtin::Logit,
            "expit" | "inv_logit" => Builtin::Expit,
            _ => return None,
        })
    }

    /// The surface name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Exp => "exp",
            Builtin::Log => "log",
            Builtin::Log10 => "log10",
            Builtin::Sqrt => "sqrt",
            Builtin::Abs => "abs",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::Pow => "pow",
            Builtin::Hill => "hill",
            Builtin::Logit => "logit",
            Builtin::Expit => "expit",
        }
    }

    /// All builtin names (for completion and "did you mean").
    pub const NAMES: &'static [&'static str] = &[
        "exp", "log", "log10", "sqrt", "abs", "floor", "ceil", "min", "max", "pow", "hill",
        "logit", "expit",
    ];
}

/// Aggregates over a patient's simulated time course (trial endpoints only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// `auc(x, from a to b)` — trapezoid-free integral of `x` over the window.
    Auc,
    /// `max(x, window)` / `cmax(x)`.
    Max,
    /// `min(x, window)` / `cmin(x)`.
    Min,
    /// `mean(x, window)` — time-weighted average.
    Mean,
    /// `tmax(x, window)` — time of the maximum.
    Tmax,
    /// `tmin(x, window)` — time of the minimum.
    Tmin,
    /// `value(x, t)` — value at one time (after any dose at `t`, as sampled).
    Value,
    /// `trough(x, t)` — value just before any dose at `t` (the pre-dose limit).
    Trough,
    /// `time_above(x, threshold, window)`.
    TimeAbove,
    /// `time_below(x, threshold, window)`.
    TimeBelow,
    /// `time_in(x, low, high, window)`.
    TimeIn,
    /// `fraction_of_time(condition, window)`.
    FractionOfTime,
    /// `first_time(condition, window)` — first time the condition holds (end of window if never).
    FirstTime,
    /// `fraction_of_visits(condition)` — the fraction of a protocol's visits at which the
    /// condition held on the measured values.
    FractionOfVisits,
    /// `first_visit(condition)` — the time of the first visit at which the condition held (the
    /// end of the simulation if none).
    FirstVisit,
    /// `dose_changes()` — visits at which a rule changed the planned amount.
    DoseChanges,
    /// `final_dose()` — the amount of the last administration.
    FinalDose,
    /// `total_dose()` — the sum of the administered amounts.
    TotalDose,
    /// `relative_dose_intensity()` — delivered over planned dose intensity.
    RelativeDoseIntensity,
    /// `discontinued()` / `discontinued("reason")` — the protocol stopped the treatment.
    Discontinued,
}

impl Aggregate {
    /// Looks an aggregate up by name (endpoint context only).
    pub fn from_name(name: &str) -> Option<Aggregate> {
        Some(match name {
            "auc" => Aggregate::Auc,
            "max" | "cmax" => Aggregate::Max,
            "min" | "cmin" => Aggregate::Min,
            "mean" => Aggregate::Mean,
            "tmax" => Aggregate::Tmax,
            "tmin" => Aggregate::Tmin,
            "value" => Aggregate::Value,
            "trough" => Aggregate::Trough,
            "time_above" => Aggregate::TimeAbove,
            "time_below" => Aggregate::TimeBelow,
            "time_in" => Aggregate::TimeIn,
            "fraction_of_time" => Aggregate::FractionOfTime,
            "first_time" => Aggregate::FirstTime,
            "fraction_of_visits" => Aggregate::FractionOfVisits,
            "first_visit" => Aggregate::FirstVisit,
            "dose_changes" => Aggregate::DoseChanges,
            "final_dose" => Aggregate::FinalDose,
            "total_dose" => Aggregate::TotalDose,
            "relative_dose_intensity" => Aggregate::RelativeDoseIntensity,
            "discontinued" => Aggregate::Discontinued,
            _ => return None,
        })
    }

    /// The surface name.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Auc => "auc",
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Mean => "mean",
            Aggregate::Tmax => "tmax",
            Aggregate::Tmin => "tmin",
            Aggregate::Value => "value",
            Aggregate::Trough => "trough",
            Aggregate::TimeAbove => "time_above",
            Aggregate::TimeBelow => "time_below",
            Aggregate::TimeIn => "time_in",
            Aggregate::FractionOfTime => "fraction_of_time",
            Aggregate::FirstTime => "first_time",
            Aggregate::FractionOfVisits => "fraction_of_visits",
            Aggregate::FirstVisit => "first_visit",
            Aggregate::DoseChanges => "dose_changes",
            Aggregate::FinalDose => "final_dose",
            Aggregate::TotalDose => "total_dose",
            Aggregate::RelativeDoseIntensity => "relative_dose_intensity",
            Aggregate::Discontinued => "discontinued",
        }
    }

    /// Whether the aggregate summarises a protocol's visits and administrations rather than
    /// the time course.
    pub fn is_protocol(self) -> bool {
        matches!(
            self,
            Aggregate::FractionOfVisits
                | Aggregate::FirstVisit
                | Aggregate::DoseChanges
                | Aggregate::FinalDose
                | Aggregate::TotalDose
                | Aggregate::RelativeDoseIntensity
                | Aggregate::Discontinued
        )
    }

    /// All aggregate names.
    pub const NAMES: &'static [&'static str] = &[
        "auc",
        "max",
        "cmax",
        "min",
        "cmin",
        "mean",
        "tmax",
        "tmin",
        "value",
        "trough",
        "time_above",
        "time_below",
        "time_in",
        "fraction_of_time",
        "first_time",
        "fraction_of_visits",
        "first_visit",
        "dose_changes",
        "final_dose",
        "total_dose",
        "relative_dose_intensity",
        "discontinued",
    ];
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its type.
    pub ty: Type,
    /// Where it was written.
    pub span: Span,
}

/// Typed expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number, in the unit of the expression's type.
    Const(f64),
    /// A truth value.
    Bool(bool),
    /// A reference.
    Sym(Sym),
    /// `value × factor` — a unit conversion (the type is the target unit).
    Scale(Box<Expr>, Rational),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation; operands of `+ - < …` already share a unit.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A builtin call; arguments converted as the builtin requires.
    Builtin(Builtin, Vec<Expr>),
    /// A call of a user or stdlib function (index into [`Program::fns`]), arguments converted to
    /// the declared parameter units.
    Call(usize, Vec<Expr>),
    /// `if c { a } else { b }` with both branches in one unit.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A value per diplotype of a genotype variable: `arms[table[d]]` for diplotype `d`.
    Switch {
        /// The genotype variable.
        genotype: usize,
        /// Arm index for every diplotype of the gene.
        table: Vec<usize>,
        /// The arm values.
        arms: Vec<Expr>,
    },
    /// A level of a categorical covariate.
    Category(usize),
    /// An aggregate over the time course (endpoints).
    Aggregate {
        /// Which aggregate.
        kind: Aggregate,
        /// Its arguments (model-level expressions; thresholds; a time for `value`).
        args: Vec<Expr>,
        /// Window start in hours (`None` = start of the simulation).
        from: Option<f64>,
        /// Window end in hours (`None` = end of the simulation).
        to: Option<f64>,
    },
    /// Placeholder for an expression that failed to check.
    Error,
}

/// A covariate.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariate {
    /// Qualified name.
    pub name: String,
    /// Unit, or `None` for a categorical covariate.
    pub unit: Option<Unit>,
    /// Category names for categorical covariates.
    pub levels: Vec<String>,
    /// Typical value (in `unit`), or the default level index.
    pub default: f64,
    /// Declaration span.
    pub span: Span,
}

/// A genotype variable.
#[derive(Debug, Clone, PartialEq)]
pub struct GenotypeVar {
    /// Qualified name.
    pub name: String,
    /// Its gene.
    pub gene: GeneId,
    /// Default diplotype index.
    pub default: usize,
    /// Declaration span.
    pub span: Span,
}

/// A parameter: constant per patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Qualified name.
    pub name: String,
    /// Unit of the stored value.
    pub unit: Unit,
    /// Typical value (converted to `unit`).
    pub value: Expr,
    /// The values it may take (declared, or the default of its dimension).
    pub domain: Domain,
    /// Declaration span.
    pub span: Span,
}

/// The values a param may take, in the param's unit. Checked on constants at compile time and on
/// every patient's value when the patient is set up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Domain {
    /// Lower bound and whether it is allowed.
    pub lower: Option<(f64, bool)>,
    /// Upper bound and whether it is allowed.
    pub upper: Option<(f64, bool)>,
    /// Whether the model declares it (otherwise it is the default of the param's dimension).
    pub declared: bool,
    /// The domain as text with the param's unit: `> 0`, `in [0, 1]`, `<= 100 L/h`.
    pub text: String,
    /// The param's unit as text, for messages (empty for `1`).
    pub unit: String,
}

impl Domain {
    /// Whether `v` lies in the domain (NaN never does).
    pub fn contains(&self, v: f64) -> bool {
        if v.is_nan() {
            return false;
        }
        let above = match self.lower {
            Some((lo, true)) => v >= lo,
            Some((lo, false)) => v > lo,
            None => true,
        };
        let below = match self.upper {
            Some((hi, true)) => v <= hi,
            Some((hi, false)) => v < hi,
            None => true,
        };
        above && below
    }

    /// Whether every value is allowed.
    pub fn is_any(&self) -> bool {
        self.lower.is_none() && self.upper.is_none()
    }
}

/// Kinds of random effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectKind {
    /// `p = typical · exp(η)`.
    LogNormal,
    /// `p = typical + η` (η in the parameter's unit).
    Normal,
    /// `logit(p) = logit(typical) + η`.
    Logit,
}

/// A random effect on a parameter (`vary`).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomEffect {
    /// The parameter.
    pub param: usize,
    /// How η enters.
    pub kind: EffectKind,
    /// Variance of η (ω²), in the parameter's unit squared for `Normal`.
    pub variance: f64,
    /// `per occasion`: a new η on every occasion (inter-occasion variability, added to the
    /// between-patient η of the same parameter).
    pub per_occasion: bool,
    /// Declaration span.
    pub span: Span,
}

/// Whether a state is a compartment (mass-balanced amount) or a free ODE state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// `compartment`.
    Compartment,
    /// `state`.
    State,
}

/// A state variable.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Qualified name.
    pub name: String,
    /// Unit.
    pub unit: Unit,
    /// Compartment or state.
    pub kind: StateKind,
    /// Initial value (in `unit`).
    pub init: Expr,
    /// Right-hand side terms (each already in `unit` per hour); their sum is d/dt.
    pub rhs: Vec<Expr>,
    /// `bioavailability NAME = …`: the fraction F of every dose into it (per patient).
    pub bioavailability: Option<Expr>,
    /// `lag NAME = …`: the lag time of every dose into it, in hours (per patient).
    pub lag: Option<Expr>,
    /// Declaration span.
    pub span: Span,
}

/// A flow between compartments (kept for mass-balance accounting).
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Source state.
    pub from: usize,
    /// Target state (`None` = eliminated).
    pub to: Option<usize>,
    /// Rate in source unit per hour.
    pub rate: Expr,
    /// Declaration span.
    pub span: Span,
}

/// A `let` definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    /// Qualified name.
    pub name: String,
    /// Value.
    pub value: Expr,
    /// Declaration span.
    pub span: Span,
}

/// Residual error terms of an observable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResidualError {
    /// Additive SD, in the observable's unit.
    pub additive: f64,
    /// Proportional SD as a fraction.
    pub proportional: f64,
}

/// An observable output.
#[derive(Debug, Clone, PartialEq)]
pub struct Observable {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Expr,
    /// Residual error model.
    pub error: ResidualError,
    /// Declaration span.
    pub span: Span,
}

/// An `input` the model requires but does not define: it can be extended, not run.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Qualified name.
    pub name: String,
    /// The unit the definition must have (its dimension).
    pub unit: Unit,
    /// Declaration span.
    pub span: Span,
}

/// A checked model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Model name.
    pub name: String,
    /// Covariates.
    pub covariates: Vec<Covariate>,
    /// Genotype variables.
    pub genotypes: Vec<GenotypeVar>,
    /// Parameters in dependency order.
    pub params: Vec<Param>,
    /// Random effects.
    pub effects: Vec<RandomEffect>,
    /// Correlations between random effects: (effect a, effect b, ρ).
    pub effect_correlations: Vec<(usize, usize, f64)>,
    /// States.
    pub states: Vec<State>,
    /// Flows.
    pub flows: Vec<Flow>,
    /// `let`s in dependency order.
    pub lets: Vec<Let>,
    /// Observables.
    pub observables: Vec<Observable>,
    /// Molecular weight in g/mol, if declared.
    pub molecular_weight: Option<f64>,
    /// Inputs left undefined: a model with any cannot be run or used in a trial.
    pub inputs: Vec<Input>,
    /// Span of the model's name.
    pub name_span: Span,
    /// Params and lets in dependency order (each after everything it refers to).
    pub order: Vec<Sym>,
    /// Declaration span.
    pub span: Span,
}

/// An allele of a gene.
#[derive(Debug, Clone, PartialEq)]
pub struct Allele {
    /// Name.
    pub name: String,
    /// Activity value.
    pub activity: Option<f64>,
    /// Frequency per ancestry (same order as [`Gene::ancestries`]).
    pub freq: Vec<f64>,
}

/// A genotype type.
#[derive(Debug, Clone, PartialEq)]
pub struct Gene {
    /// Gene name.
    pub name: String,
    /// Alleles in declaration order.
    pub alleles: Vec<Allele>,
    /// Diplotypes as allele index pairs (i ≤ j), in canonical order.
    pub diplotypes: Vec<(usize, usize)>,
    /// Canonical diplotype names.
    pub diplotype_names: Vec<String>,
    /// Phenotype class names.
    pub phenotypes: Vec<String>,
    /// Phenotype class of each diplotype (if the gene defines classes).
    pub phenotype_of: Vec<Option<usize>>,
    /// Ancestry names.
    pub ancestries: Vec<String>,
    /// Diplotype frequencies per ancestry: `freq[ancestry][diplotype]`.
    pub diplotype_freq: Vec<Vec<f64>>,
    /// Declaration span.
    pub span: Span,
}

impl Gene {
    /// Activity score of a diplotype (sum of its alleles), if every allele has one.
    pub fn activity(&self, d: usize) -> Option<f64> {
        let (a, b) = self.diplotypes.get(d).copied()?;
        Some(self.alleles.get(a)?.activity? + self.alleles.get(b)?.activity?)
    }
}

/// A unit-typed function.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Name.
    pub name: String,
    /// Parameter names and units.
    pub params: Vec<(String, Unit)>,
    /// Result unit.
    pub ret: Unit,
    /// Body, converted to `ret`.
    pub body: Expr,
}

/// A dose in an arm. Times in hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    /// Amount, converted to the target state's unit (may depend on covariates and genotypes).
    pub amount: Expr,
    /// Target state.
    pub target: usize,
    /// First dose time, h.
    pub start: f64,
    /// Infusion: rate in target unit per hour, or duration in hours.
    pub infusion: Option<Infusion>,
    /// Dosing interval, h.
    pub interval: Option<f64>,
    /// Number of doses in all (1 when not repeated; `None` = until the end of the simulation).
    pub count: Option<u32>,
    /// Lag time, h.
    pub lag: f64,
    /// Bioavailable fraction (may depend on covariates and genotypes).
    pub bioavailability: Option<Expr>,
    /// The first dose is given at the periodic steady state of the regimen (`at steady state`).
    pub steady_state: bool,
    /// Statement span.
    pub span: Span,
}

/// A zero-order input.
#[derive(Debug, Clone, PartialEq)]
pub enum Infusion {
    /// Duration in hours.
    Duration(f64),
    /// Rate (target unit per hour; may depend on covariates).
    Rate(Expr),
}

/// A trial arm.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// Arm name.
    pub name: String,
    /// Its doses.
    pub doses: Vec<Dose>,
    /// Covariate/genotype overrides: (symbol, value).
    pub overrides: Vec<(Sym, Expr)>,
    /// The arm's protocol (visits, rules, dose limits), if it has one.
    pub protocol: Option<Protocol>,
    /// Declaration span.
    pub span: Span,
}

/// A protocol arm's visits, rules and dose limits (see [`crate::trial::protocol`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// The listed visit times, h (sorted, distinct, within the simulation).
    pub visits: Vec<f64>,
    /// A visit just before every planned administration as well.
    pub before_each_dose: bool,
    /// Visits this long (h) after every administration as well.
    pub after_each_dose: Vec<f64>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// `round dose to Q`: every administered amount is a multiple of Q (in the unit of the
    /// arm's first dose target).
    pub round: Option<f64>,
    /// `cap dose at Q`: no administered amount above Q (same unit).
    pub cap: Option<f64>,
    /// The state of the arm's first dose: the unit of `dose` in rules, `round` and `cap`.
    pub dose_state: usize,
    /// Span of the first protocol statement.
    pub span: Span,
}

/// `when CONDITION [twice | N times] { ACTION; … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The condition (boolean), read at a visit: measured observables, `dose`, `t`,
    /// covariates, genotypes, params.
    pub condition: Expr,
    /// The rule fires at a visit where the condition holds and has held at this many visits in
    /// all (1 unless `twice` or `N times`).
    pub count: u32,
    /// The actions, applied in order.
    pub actions: Vec<Action>,
    /// Whole rule.
    pub span: Span,
}

/// An action of a rule, applied to every administration planned at or after the visit.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `scale dose by F` (dimensionless): amounts (and infusion rates) times F.
    Scale(Expr),
    /// `set dose to A`: amounts set to A (in the unit of the dose state), infusion rates
    /// scaled to match.
    SetDose(Expr),
    /// `set interval to T` (h): the remaining administrations re-timed every T from the next
    /// one, up to the last planned time.
    SetInterval(Expr),
    /// `hold N dose[s]`: the next N administration times are skipped.
    Hold(u32),
    /// `delay T` (h): every remaining administration moves T later.
    Delay(Expr),
    /// `switch to ARM`: the administrations planned from the visit on become those of arm
    /// `.0` (its doses for this patient; its overrides and rules are not taken over).
    Switch(usize),
    /// `give A`: one extra administration of A (in the unit of the dose state) at the visit,
    /// like the next planned one (else the last given).
    Give(Expr),
    /// `stop ["reason"]`: no more administrations; the patient is discontinued with the
    /// reason (the rule's text when none is given).
    Stop(String),
    /// `fit dose so GOAL == TARGET`: the patient's random effects are estimated (MAP) from the
    /// measurements so far, and every remaining amount is set so that the goal (the trial's
    /// [`Trial::goals`] `goal`, a summary of the time course) predicted for that estimate equals
    /// `target` (in the goal's unit).
    FitDose {
        /// Index into [`Trial::goals`].
        goal: usize,
        /// The target value.
        target: f64,
    },
}

/// How a covariate is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Normal with mean and SD (in the covariate's unit); optional truncation.
    Normal {
        /// Mean.
        mean: Expr,
        /// Standard deviation.
        sd: Expr,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Log-normal with median and CV (fraction); optional truncation.
    LogNormal {
        /// Median.
        median: Expr,
        /// Coefficient of variation (fraction).
        cv: Expr,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Uniform on [low, high].
    Uniform {
        /// Lower bound.
        low: Expr,
        /// Upper bound.
        high: Expr,
    },
    /// Categorical levels with probabilities (summing to 1).
    Categorical(Vec<(usize, f64)>),
}

/// A population generator statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// Draw a covariate.
    Draw {
        /// Covariate index.
        covariate: usize,
        /// Distribution.
        dist: Distribution,
    },
    /// Compute a covariate from others.
    Set {
        /// Covariate index.
        covariate: usize,
        /// Value.
        value: Expr,
    },
}

/// A virtual population.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    /// Number of patients.
    pub size: u64,
    /// Ancestry mixture: (name, fraction).
    pub ancestry: Vec<(String, f64)>,
    /// Generators in dependency order.
    pub generators: Vec<Generator>,
    /// Correlations between drawn covariates: (covariate a, covariate b, ρ).
    pub correlations: Vec<(usize, usize, f64)>,
    /// `population from "cohort.csv"`: the recorded patients the population replays.
    pub cohort: Option<Cohort>,
    /// `population from fit "DIR"`: fitted subjects, η from their posteriors.
    pub fitted: Option<FittedPopulation>,
    /// `population from fit "DIR"` whose `DIR/fit.json` does not exist yet (W0004): running the
    /// trial is an error naming it; other commands (`twin fit` of the model in the same file)
    /// are not held up.
    pub fit_missing: Option<(String, Span)>,
}

/// The subjects of a fit as a population (`population from fit "DIR"`).
#[derive(Debug, Clone, PartialEq)]
pub struct FittedPopulation {
    /// The directory as written in the source.
    pub path: String,
    /// The model's random effects (indices) the fit estimated, in the fit's order.
    pub effects: Vec<usize>,
    /// The subjects with an estimate (one, with `id`).
    pub subjects: Vec<FittedSubject>,
    /// `resample N`: each patient is a subject drawn at random; otherwise patient `i` is
    /// subject `i`.
    pub resample: bool,
}

/// One fitted subject.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedSubject {
    /// Its `ID`.
    pub id: String,
    /// Covariate values (index, value in the declared unit or level index).
    pub covariates: Vec<(usize, f64)>,
    /// Genotypes (index, diplotype index).
    pub genotypes: Vec<(usize, f64)>,
    /// The MAP estimate η̂, in the order of [`FittedPopulation::effects`].
    pub mean: Vec<f64>,
    /// Lower Cholesky factor of the posterior covariance Σ (row-major).
    pub chol: Vec<f64>,
}

/// A cohort read from a file (`population from "cohort.csv"`): per row, the values of the
/// covariates and genotypes it records, already in the model's units.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// The path as written in the source.
    pub path: String,
    /// What each column of `rows` feeds.
    pub columns: Vec<CohortColumn>,
    /// Per data row, one value per column: a covariate in its declared unit (a categorical
    /// covariate's level index), a genotype's diplotype index.
    pub rows: Vec<Vec<f64>>,
    /// The file's line number of each row (1-based; the header is on an earlier line).
    pub lines: Vec<usize>,
    /// `resample N`: each patient is a row drawn at random (with replacement); otherwise
    /// patient `i` is row `i`.
    pub resample: bool,
}

/// What a cohort column feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CohortColumn {
    /// A covariate (index into the model's covariates).
    Covariate(usize),
    /// A genotype variable (index into the model's genotypes).
    Genotype(usize),
}

/// A sampling schedule, hours.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// Every `step` from 0 until `until`.
    Every {
        /// Step, h.
        step: f64,
        /// End, h.
        until: f64,
    },
    /// Listed times, h (sorted).
    At(Vec<f64>),
}

/// A trial endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Name.
    pub name: String,
    /// Definition (numeric or boolean; aggregates inside).
    pub value: Expr,
    /// Declaration span.
    pub span: Span,
}

/// A stratification key.
#[derive(Debug, Clone, PartialEq)]
pub enum Stratum {
    /// By diplotype of a genotype variable.
    Genotype(usize),
    /// By phenotype class of a genotype variable.
    Phenotype(usize),
    /// By level of a categorical covariate.
    Category(usize),
    /// By bins of a continuous covariate (edges in its unit).
    Bins(usize, Vec<f64>),
    /// By bins of a quantity the model computes for each patient (edges in its unit): the
    /// quantity is [`Trial::quantities`]`[k]`, a param or a `let` of params, covariates and
    /// genotypes, valued as the patient's simulation uses it.
    Computed(usize, Vec<f64>),
}

/// A checked trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Trial name.
    pub name: String,
    /// The model (index into [`Program::models`]).
    pub model: usize,
    /// The population, if declared (otherwise one typical patient).
    pub population: Option<Population>,
    /// Arms.
    pub arms: Vec<Arm>,
    /// Parallel groups instead of the same patients in every arm.
    pub randomize: bool,
    /// Sampling schedule.
    pub sampling: Option<Sampling>,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Strata.
    pub strata: Vec<Stratum>,
    /// The computed quantities strata are taken by ([`Stratum::Computed`]): params
    /// ([`Sym::Param`]) and `let`s ([`Sym::Let`]), each once, in the order first stratified by.
    /// Each is a column of `patients.csv`.
    pub quantities: Vec<Sym>,
    /// Dose searches (`find dose of …`), one per searched arm, in the order written.
    pub dose_searches: Vec<DoseSearch>,
    /// When occasions start (`occasion every …`/`occasion at […]`); `None`: the whole trial is
    /// one occasion.
    pub occasions: Option<Occasions>,
    /// The summaries `fit dose so` actions aim at (hidden endpoints `#goal0`, …): their
    /// aggregates are lowered into the trial's model after the endpoints'.
    pub goals: Vec<Endpoint>,
    /// The reasons the arms' rules `stop` with, in order of appearance (`discontinued("reason")`
    /// reads index `k` of this list).
    pub stop_reasons: Vec<String>,
    /// Declaration span.
    pub span: Span,
}

/// When a trial's occasions start, in hours.
#[derive(Debug, Clone, PartialEq)]
pub enum Occasions {
    /// A new occasion every step (> 0) from time 0.
    Every(f64),
    /// Occasions start at these times (sorted, distinct); the first occasion also covers the
    /// time before the first of them.
    At(Vec<f64>),
}

/// Most occasions of one patient (occasion numbers key the random streams in 16 bits).
pub const MAX_OCCASIONS: usize = 65_535;

impl Occasions {
    /// The times after the first occasion at which a new one starts, within `(start, end)`:
    /// occasion `k + 1` (1-based, like NONMEM's `OCC`) starts at the `k`-th time. At most
    /// [`MAX_OCCASIONS`] occasions.
    pub fn boundaries(&self, start: f64, end: f64) -> Vec<f64> {
        let inside = |t: f64| t > start && t < end;
        let mut out: Vec<f64> = match self {
            Occasions::Every(step) if *step > 0.0 => (1..MAX_OCCASIONS)
                .map(|k| k as f64 * step)
                .take_while(|&t| t < end)
                .filter(|&t| inside(t))
                .collect(),
            Occasions::Every(_) => Vec::new(),
            Occasions::At(ts) => ts.iter().skip(1).copied().filter(|&t| inside(t)).collect(),
        };
        out.truncate(MAX_OCCASIONS - 1);
        out
    }
}

/// A statistic of an endpoint over the patients of an arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// Arithmetic mean.
    Mean,
    /// Median (type-7 quantile at 0.5, as in the summaries).
    Median,
    /// Geometric mean, exp(mean(log x)); every value must be positive.
    GeometricMean,
    /// A type-7 quantile in percent: `p90` → 90.
    Quantile(u8),
    /// Fraction of responders of a true/false endpoint.
    Rate,
}

impl Statistic {
    /// The name as written in a `find dose` clause (`median`, `p90`, `rate`).
    pub fn name(self) -> String {
        match self {
            Statistic::Mean => "mean".into(),
            Statistic::Median => "median".into(),
            Statistic::GeometricMean => "geomean".into(),
            Statistic::Quantile(q) => format!("p{q}"),
            Statistic::Rate => "rate".into(),
        }
    }
}

/// What a dose search aims at.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchTarget {
    /// A value in the endpoint's unit (a fraction for a rate).
    Value(f64),
    /// The same statistic of the same endpoint in this arm, at its written dose.
    Arm(usize),
}

/// `find dose of ARM so STAT(endpoint) == TARGET`: the factor on every dose amount and infusion
/// rate of the arm that makes the statistic equal the target.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseSearch {
    /// The arm whose doses are scaled.
    pub arm: usize,
    /// The endpoint (index into [`Trial::endpoints`]).
    pub endpoint: usize,
    /// The statistic of the endpoint over the arm's patients.
    pub statistic: Statistic,
    /// The target.
    pub target: SearchTarget,
    /// Relative tolerance on the statistic (0.001 unless `within` says otherwise).
    pub tolerance: f64,
    /// The clause.
    pub span: Span,
}

/// Everything checked in one compilation.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Genes (from the stdlib and user files).
    pub genes: Vec<Gene>,
    /// Functions.
    pub fns: Vec<Function>,
    /// Models.
    pub models: Vec<Model>,
    /// Trials.
    pub trials: Vec<Trial>,
}
