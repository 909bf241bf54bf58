//! The untyped syntax tree produced by the parser.
//!
//! Every node carries a [`Span`]; names are [`Name`]s with their own span. The tree is exactly what
//! the user wrote (no desugaring), so the formatter can print it back and diagnostics can point at
//! any part of it. Name resolution and unit checking happen later, in `check/`.

use crate::source::Span;

/// An identifier with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The text of the identifier.
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

/// A dotted path such as `coagulation.factor` or `pgx.CYP2C9`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The segments, left to right (never empty).
    pub parts: Vec<Name>,
    /// The whole path.
    pub span: Span,
}

impl Path {
    /// The segments joined with `.`.
    pub fn joined(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A whole `.twin` file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Top-level items in source order.
    pub items: Vec<Item>,
    /// For each `for` expansion instance `k` (spans with `inst == k`), at index `k - 1`: the
    /// bindings it was made with, as a diagnostic note (``in the expansion for `t = bone` ``).
    pub expansions: Vec<String>,
}

/// A top-level declaration with its doc comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `///` lines before the item.
    pub doc: Vec<String>,
    /// The declaration.
    pub kind: ItemKind,
    /// The whole item.
    pub span: Span,
}

/// The kinds of top-level declarations.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// `use pgx.{CYP2C9, VKORC1}` / `use pk.allometric` / `use pk.*`.
    Use(UseDecl),
    /// `unit IU` (new base dimension) or `unit mmHg = 133.322 Pa` (derived unit).
    Unit(UnitDecl),
    /// `fn name(x: unit, …) -> unit = expr`.
    Fn(FnDecl),
    /// `table name(x: unit) -> unit { x1: y1, x2: y2, … }` — a piecewise-linear lookup.
    Table(TableDecl),
    /// `gene CYP2C9 { allele … phenotype … }`.
    Gene(GeneDecl),
    /// `model Name { … }` or `model Name extends Base, Other { … }`.
    Model(ModelDecl),
    /// `trial Name { … }`.
    Trial(TrialDecl),
    /// Text that did not parse (already reported).
    Error,
}

/// `use module.name`, `use module.{a, b}` or `use module.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct UseDecl {
    /// The stdlib module, e.g. `pgx`.
    pub module: Name,
    /// What is imported.
    pub names: UseNames,
}

/// The imported names of a `use`.
#[derive(Debug, Clone, PartialEq)]
pub enum UseNames {
    /// `use m.*`.
    All(Span),
    /// `use m.a` or `use m.{a, b}`.
    Some(Vec<Name>),
}

/// `unit NAME` or `unit NAME = factor unit-expression`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitDecl {
    /// The new unit's symbol.
    pub name: Name,
    /// `None` declares a new base dimension.
    pub def: Option<UnitDef>,
}

/// The right-hand side of a derived unit: `133.322 Pa`, `1000 g`, `mol/L`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitDef {
    /// The numeric factor as written (`1` when absent).
    pub factor: Option<NumLit>,
    /// The unit the factor multiplies (`None` for a pure number such as `unit % = 0.01`).
    pub unit: Option<UnitExpr>,
    /// The whole definition.
    pub span: Span,
}

/// A number as written.
#[derive(Debug, Clone, PartialEq)]
pub struct NumLit {
    /// The digits, exactly as in the source (kept for exact rational conversion).
    pub text: String,
    /// Where it was written.
    pub span: Span,
}

/// A unit expression in a type position: `mg/L`, `mL/min/kg`, `1/h`, `ng*h/mL`, `m^2`, `1`.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitExpr {
    /// A unit symbol, `mg`.
    Named(Name),
    /// The dimensionless unit `1`.
    One(Span),
    /// `%` (the dimensionless 1/100).
    Percent(Span),
    /// `a * b` (also written `a·b`).
    Mul(Box<UnitExpr>, Box<UnitExpr>, Span),
    /// `a / b`.
    Div(Box<UnitExpr>, Box<UnitExpr>, Span),
    /// `a ^ n` with an integer `n`.
    Pow(Box<UnitExpr>, i32, Span),
}

impl UnitExpr {
    /// The span of the whole unit expression.
    pub fn span(&self) -> Span {
        match self {
            UnitExpr::Named(n) => n.span,
            UnitExpr::One(s) | UnitExpr::Percent(s) => *s,
            UnitExpr::Mul(_, _, s) | UnitExpr::Div(_, _, s) | UnitExpr::Pow(_, _, s) => *s,
        }
    }
}

/// `fn name(a: unit, …) -> unit = body`.
#[derive(Debug, Clone, PartialEq)]
pub struct FnDecl {
    /// Function name.
    pub name: Name,
    /// Parameters with their units.
    pub params: Vec<FnParam>,
    /// Declared result unit.
    pub ret: UnitExpr,
    /// The body expression.
    pub body: Expr,
}

/// The values a `param` may take: `> 0 L`, `>= 0`, `< 1`, `<= 100 L/h`, or an interval
/// `in [0, 1]`, `in (0 L, 100 L]` (square brackets include the bound, round ones exclude it).
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// The lower bound, if any.
    pub lower: Option<Bound>,
    /// The upper bound, if any.
    pub upper: Option<Bound>,
    /// The whole domain clause.
    pub span: Span,
}

/// One bound of a [`Domain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The bound (a constant in the param's unit).
    pub value: Expr,
    /// Whether the bound itself is allowed.
    pub inclusive: bool,
}

/// One function parameter `name: unit`.
#[derive(Debug, Clone, PartialEq)]
pub struct FnParam {
    /// Parameter name.
    pub name: Name,
    /// Its unit.
    pub unit: UnitExpr,
}

/// `table name(x: unit) -> unit { x1: y1, … }`: rows of plain numbers in the header's units,
/// interpolated linearly between rows and held constant beyond the first and last row.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDecl {
    /// Table name (called like a function).
    pub name: Name,
    /// The one argument and the unit of the first column.
    pub param: FnParam,
    /// The unit of the second column (the result).
    pub ret: UnitExpr,
    /// The rows in source order.
    pub rows: Vec<TableRow>,
}

/// One row `x: y` of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// The argument value: a number, possibly negated (`-` applied to a number).
    pub x: Expr,
    /// The result value, written the same way.
    pub y: Expr,
    /// The whole row.
    pub span: Span,
}

/// `gene NAME { allele …  phenotype … }` — a genotype type.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneDecl {
    /// The gene (type) name.
    pub name: Name,
    /// Statements in the body.
    pub body: Vec<GeneStmt>,
}

/// A statement inside a `gene` block.
#[derive(Debug, Clone, PartialEq)]
pub enum GeneStmt {
    /// `allele "*2" activity 0.5 freq { european: 0.12, … }`.
    Allele {
        /// Allele name (`"*2"` or `A`).
        name: Name,
        /// Activity value, if given.
        activity: Option<Expr>,
        /// Frequency by ancestry, if given (the allele without one takes the remainder).
        freq: Option<Vec<(Name, Expr)>>,
        /// Whole statement.
        span: Span,
    },
    /// `phenotype PM = "*2/*2", "*2/*3"` (explicit diplotypes).
    PhenotypeList {
        /// Phenotype class name.
        name: Name,
        /// The diplotypes in this class.
        diplotypes: Vec<Name>,
        /// Whole statement.
        span: Span,
    },
    /// `phenotype NM when activity >= 1.5` (by activity score; first match wins).
    PhenotypeWhen {
        /// Phenotype class name.
        name: Name,
        /// Condition over `activity`.
        cond: Expr,
        /// Whole statement.
        span: Span,
    },
    /// `diplotype "*1/*1" freq { … }` is expressed as an allele pair frequency override.
    DiplotypeFreq {
        /// Diplotype as written.
        name: Name,
        /// Frequency by ancestry.
        freq: Vec<(Name, Expr)>,
        /// Whole statement.
        span: Span,
    },
}

/// `model Name { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDecl {
    /// Model name.
    pub name: Name,
    /// `extends A, B, …`: start from other models' statements, merged left to right. A statement
    /// that declares a name an earlier base declares (at the same pathway level) replaces it (two
    /// bases that disagree must be resolved by the model itself), a `pathway` merges into the
    /// pathway of the same name, a definition satisfies an `input` of the same name, everything
    /// else is added. Empty without `extends`.
    pub bases: Vec<Path>,
    /// Statements in source order.
    pub body: Vec<Stmt>,
}

/// A statement in a model or pathway, with its doc comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// `///` lines before the statement.
    pub doc: Vec<String>,
    /// The statement.
    pub kind: StmtKind,
    /// The whole statement.
    pub span: Span,
}

/// Which dose adjustment a [`StmtKind::DoseAdjust`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoseAdjustKind {
    /// The bioavailable fraction F of every dose into the state.
    Bioavailability,
    /// The lag time added to every dose into the state.
    Lag,
}

impl DoseAdjustKind {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            DoseAdjustKind::Bioavailability => "bioavailability",
            DoseAdjustKind::Lag => "lag",
        }
    }
}

/// Statements of a model body.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `covariate weight: kg = 70 kg` or `covariate sex: {female, male} = male`.
    Covariate {
        /// Name.
        name: Name,
        /// Declared unit or category list.
        ty: CovType,
        /// Default (typical) value.
        default: Option<Expr>,
    },
    /// `genotype cyp2c9: CYP2C9 = "*1/*1"`.
    Genotype {
        /// Name.
        name: Name,
        /// The gene type.
        gene: Path,
        /// Default diplotype.
        default: Option<Name>,
    },
    /// `param cl: L/h = 0.174 L/h * …` (unit optional, inferred from the value).
    Param {
        /// Name.
        name: Name,
        /// Declared unit, if any.
        unit: Option<UnitExpr>,
        /// Declared domain (`> 0 L`, `in [0, 1]`), if any.
        domain: Option<Box<Domain>>,
        /// The value.
        value: Expr,
    },
    /// `vary cl ~ lognormal(cv: 31%)`.
    Vary {
        /// The parameter the random effect acts on.
        target: Name,
        /// Distribution call.
        dist: Call,
        /// `per occasion`: a new η on every occasion (inter-occasion variability), its span.
        per_occasion: Option<Span>,
    },
    /// `correlate cl, v = 0.3` — correlation between two random effects.
    Correlate {
        /// First random effect.
        a: Name,
        /// Second random effect.
        b: Name,
        /// The correlation coefficient.
        value: Expr,
    },
    /// `compartment central: mg = 0 mg`.
    Compartment {
        /// Name.
        name: Name,
        /// Amount unit.
        unit: UnitExpr,
        /// Initial amount (zero when absent).
        init: Option<Expr>,
    },
    /// `flow a -> b = rate` or `flow a -> out = rate`.
    Flow {
        /// Source compartment.
        from: Path,
        /// Target compartment (`None` for `out`).
        to: Option<Path>,
        /// Span of the target (`out` included).
        to_span: Span,
        /// Rate in source unit per time.
        rate: Expr,
    },
    /// `state x: unit = init`.
    State {
        /// Name.
        name: Name,
        /// Unit of the state.
        unit: UnitExpr,
        /// Initial value.
        init: Option<Expr>,
    },
    /// `d/dt x = expr`.
    Deriv {
        /// The state.
        target: Path,
        /// Its rate of change.
        value: Expr,
    },
    /// `let name: unit = expr` (unit optional).
    Let {
        /// Name.
        name: Name,
        /// Declared unit, if any.
        unit: Option<UnitExpr>,
        /// Value.
        value: Expr,
    },
    /// `observe conc` / `observe inr = expr` with optional `~ proportional(…) + additive(…)`.
    Observe {
        /// Observable name.
        name: Name,
        /// Declared unit, if any.
        unit: Option<UnitExpr>,
        /// Value (`None` observes an existing name).
        value: Option<Expr>,
        /// Residual error terms.
        error: Vec<Call>,
    },
    /// `pathway name { … }`.
    Pathway {
        /// Namespace name.
        name: Name,
        /// Statements inside.
        body: Vec<Stmt>,
    },
    /// `input conc: mg/L` — a value the model uses but does not define: a model that extends this
    /// one defines it (`let`, `param`, `observe`, … of the same name and dimension). A model with an
    /// undefined input can be extended but not run.
    Input {
        /// Name.
        name: Name,
        /// The unit (dimension) the definition must have.
        unit: UnitExpr,
    },
    /// `bioavailability gut = f` or `lag gut = tlag`: how every dose into a state is given
    /// (NONMEM's `F1`, `ALAG1`), per patient.
    DoseAdjust {
        /// The state doses go into.
        target: Path,
        /// Which adjustment.
        kind: DoseAdjustKind,
        /// Its value (a fraction; a time).
        value: Expr,
    },
    /// `molecular_weight = 308.33 g/mol`.
    MolecularWeight {
        /// The molar mass.
        value: Expr,
    },
    /// `for t in [a, b] { … }`: the body once per name of the list, with `{t}` spliced.
    For(ForLoop),
    /// A statement that did not parse (already reported).
    Error,
}

/// `for t in [adipose, bone] { let cb_{t} = … }`: statements written once for each name of a list.
/// A splice `{t}` inside a name (`cb_{t}`) or standing alone as a name (`{t}`) is replaced by the
/// list element. The expansion is syntactic and happens in the parser.
#[derive(Debug, Clone, PartialEq)]
pub struct ForLoop {
    /// The loop variable.
    pub var: Name,
    /// The names it takes, in order.
    pub items: Vec<Name>,
    /// The template statements, as written (splices unreplaced).
    pub body: Vec<Stmt>,
    /// The source text of the body between its braces.
    pub body_span: Span,
    /// The body instantiated once per item, in order (a nested `for` carries its own expansion);
    /// empty when
    /// the loop is invalid (reported by the parser).
    pub expanded: Vec<Stmt>,
}

/// `stmts` with every `for` replaced in place by its expansion (also inside pathways): the
/// statements the checker sees.
pub fn expand_in_place(stmts: &[Stmt]) -> Vec<Stmt> {
    let mut out = Vec::with_capacity(stmts.len());
    for st in stmts {
        match &st.kind {
            StmtKind::For(f) => out.extend(expand_in_place(&f.expanded)),
            StmtKind::Pathway { name, body } => out.push(Stmt {
                doc: st.doc.clone(),
                kind: StmtKind::Pathway {
                    name: name.clone(),
                    body: expand_in_place(body),
                },
                span: st.span,
            }),
            _ => out.push(st.clone()),
        }
    }
    out
}

/// Whether any statement (at any depth) is a `for`.
pub fn has_for(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::For(_) => true,
        StmtKind::Pathway { body, .. } => has_for(body),
        _ => false,
    })
}

/// The type of a covariate.
#[derive(Debug, Clone, PartialEq)]
pub enum CovType {
    /// A continuous covariate with a unit.
    Unit(UnitExpr),
    /// A categorical covariate: `{female, male}`.
    Categories(Vec<Name>, Span),
}

/// A call `f(a, name: b)`; used for expressions and for distributions/error models.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The callee.
    pub func: Path,
    /// Arguments in order.
    pub args: Vec<Arg>,
    /// The whole call.
    pub span: Span,
}

/// One call argument, possibly named (`cv: 31%`).
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The name, for named arguments.
    pub name: Option<Name>,
    /// The value.
    pub value: Expr,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// The whole expression.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and`
    And,
    /// `or`
    Or,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// Expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `5`, `5 mg`, `0.174 L/h` (the unit part is `mg`; `/h` parses as a division), `31%`.
    Number {
        /// The number.
        value: NumLit,
        /// A unit written right after it (`mg`, `m^2`, `%`).
        unit: Option<UnitExpr>,
    },
    /// `true` / `false`.
    Bool(bool),
    /// A string (diplotype literal) — only meaningful in genotype positions.
    Str(String),
    /// A name or dotted path (`conc`, `coagulation.factor`, or a unit used as a value: `/h`).
    Path(Path),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `-a`, `not a`.
    Unary(UnOp, Box<Expr>),
    /// `f(args)`.
    Call(Call),
    /// `if c { a } else { b }`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `match x { pat => e, … }`.
    Match(Box<Expr>, Vec<MatchArm>),
    /// `phenotype(g)` — the CPIC phenotype class of a genotype.
    Phenotype(Box<Expr>),
    /// `activity(g)` — the activity score of a genotype; bare `activity` inside a gene block.
    Activity(Option<Box<Expr>>),
    /// A window `from a to b` (endpoint argument).
    Window(Option<Box<Expr>>, Option<Box<Expr>>),
    /// `[a, b, c]` (sampling times, bins).
    List(Vec<Expr>),
}

/// One `match` arm: `"*1/*1" | "*1/*2" => 1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchArm {
    /// Alternatives (`_` is a wildcard).
    pub patterns: Vec<Name>,
    /// Value.
    pub value: Expr,
    /// The whole arm.
    pub span: Span,
}

/// `trial Name { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialDecl {
    /// Trial name.
    pub name: Name,
    /// Statements.
    pub body: Vec<TrialStmt>,
}

/// Statements in a trial.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialStmt {
    /// `model Warfarin`.
    Model(Path),
    /// `population 2000 { … }` or `population from "cohort.csv" [resample 10000] { … }`.
    Population {
        /// Number of virtual patients, or the cohort file they come from.
        size: PopulationSize,
        /// Generator statements.
        body: Vec<PopStmt>,
        /// Whole block.
        span: Span,
    },
    /// `arm name { dose … }`.
    Arm {
        /// Arm name.
        name: Name,
        /// Doses and per-arm settings.
        body: Vec<ArmStmt>,
        /// Whole block.
        span: Span,
    },
    /// `randomize` — parallel groups instead of the same patients in every arm.
    Randomize(Span),
    /// `sample every 6 h until 30 d` or `sample at [0 h, 1 h]`.
    Sample(Sampling),
    /// `occasion every 7 d` or `occasion at [0 d, 14 d]`: when occasions start.
    Occasions(Occasions),
    /// `endpoint name = expr`.
    Endpoint {
        /// Endpoint name.
        name: Name,
        /// Its definition.
        value: Expr,
        /// Whole statement.
        span: Span,
    },
    /// `stratify by cyp2c9, phenotype(cyp2c19), weight bins [60 kg, 80 kg]`.
    Stratify(Vec<Stratum>, Span),
    /// `find dose of child so median(auc24) == median(auc24) of adult within 1%`.
    FindDose(FindDose),
    /// A statement that did not parse (already reported).
    Error(Span),
}

/// `find dose of ARM, … so STAT(endpoint) == TARGET [of REFERENCE] [within TOLERANCE]`: scale
/// each named arm's doses by one factor so that a statistic of an endpoint over the arm's patients
/// equals a target.
#[derive(Debug, Clone, PartialEq)]
pub struct FindDose {
    /// The arms whose doses are searched (each on its own).
    pub arms: Vec<Name>,
    /// The statistic: a call such as `median(auc24)`, `p90(cmax)`, `rate(responder)`.
    pub statistic: Expr,
    /// The target: a quantity, or (with `reference`) the same statistic written again.
    pub target: Expr,
    /// `of ARM`: the target is the statistic in this arm, at its written dose.
    pub reference: Option<Name>,
    /// `within 1%`: relative tolerance on the statistic.
    pub tolerance: Option<Expr>,
    /// Whole statement.
    pub span: Span,
}

/// A stratification key.
#[derive(Debug, Clone, PartialEq)]
pub struct Stratum {
    /// Genotype, `phenotype(g)`, or covariate.
    pub key: Expr,
    /// Bin edges for a continuous covariate.
    pub bins: Option<Vec<Expr>>,
    /// Whole key.
    pub span: Span,
}

/// Statements in a `population` block.
#[derive(Debug, Clone, PartialEq)]
pub enum PopStmt {
    /// `ancestry european` or `ancestry { european: 60%, african: 40% }`.
    Ancestry(Vec<(Name, Option<Expr>)>, Span),
    /// `weight ~ lognormal(median: 78 kg, cv: 20%)`, optionally `given sex` via named args.
    Draw {
        /// The covariate or genotype.
        target: Name,
        /// The distribution.
        dist: Call,
        /// Whole statement.
        span: Span,
    },
    /// `weight = expr` — a covariate derived from others.
    Set {
        /// The covariate.
        target: Name,
        /// Its value.
        value: Expr,
        /// Whole statement.
        span: Span,
    },
    /// `correlate weight, height = 0.6`.
    Correlate {
        /// First covariate.
        a: Name,
        /// Second covariate.
        b: Name,
        /// Correlation.
        value: Expr,
        /// Whole statement.
        span: Span,
    },
}

/// Statements in an `arm` block.
#[derive(Debug, Clone, PartialEq)]
pub enum ArmStmt {
    /// A dosing statement.
    Dose(DoseStmt),
    /// `covariate = value` overrides inside an arm (e.g. a fixed genotype).
    Set {
        /// The covariate.
        target: Name,
        /// Its value.
        value: Expr,
        /// Whole statement.
        span: Span,
    },
    /// `visit at [1 d, 2 d] then every 7 d until 12 wk`, `visit every 7 d until 12 wk` or
    /// `visit before each dose`: when the protocol measures and applies its rules.
    Visit(Visit),
    /// `when inr > 4 [twice | N times] { hold 1 dose; scale dose by 0.85 }`.
    Rule(Rule),
    /// `round dose to 0.5 mg` or `cap dose at 15 mg`: a limit on every dose the arm gives.
    Limit {
        /// `round` or `cap`.
        verb: Name,
        /// The quantity.
        value: Expr,
        /// Whole statement.
        span: Span,
    },
}

/// A visit schedule of a protocol arm.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitTimes {
    /// `at [t1, t2, …]`, optionally `then every STEP until END` (from the last listed time).
    At {
        /// The listed times.
        times: Vec<Expr>,
        /// `then every STEP until END`: the word `then`, the step and the end.
        then: Option<(Name, Expr, Expr)>,
    },
    /// `every STEP until END` (the first visit at STEP).
    Every {
        /// The step.
        step: Expr,
        /// The last time.
        until: Expr,
    },
    /// `before each dose`: just before every planned administration.
    BeforeEachDose {
        /// The words `before` and `each`.
        words: (Name, Name),
    },
    /// `7 d after each dose`: this long after every administration (moving with it).
    AfterEachDose {
        /// The time after each administration.
        offset: Expr,
        /// The words `after` and `each`.
        words: (Name, Name),
    },
}

/// `visit …`.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    /// When.
    pub times: VisitTimes,
    /// Whole statement.
    pub span: Span,
}

/// `when CONDITION [twice | N times] { ACTION; … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The condition, on measured observables, `dose`, `t`, covariates, genotypes and params.
    pub condition: Expr,
    /// `twice` (its span) or `N times`: the rule fires from the N-th visit at which the
    /// condition held.
    pub count: Option<RuleCount>,
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// Whole statement.
    pub span: Span,
}

/// How many visits a rule's condition must have held before it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleCount {
    /// `twice`.
    Twice(Span),
    /// `N times`.
    Times(NumLit),
}

/// An action of a rule. The verbs are checked, not parsed: `scale dose by F`, `set dose to A`,
/// `set interval to T`, `hold N dose[s]`, `delay T`, `stop ["reason"]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `VERB dose by|to VALUE` (`scale dose by 0.85`, `set dose to 5 mg`).
    Dose {
        /// The verb.
        verb: Name,
        /// `by` (true) or `to`.
        by: bool,
        /// The value.
        value: Expr,
        /// Whole action.
        span: Span,
    },
    /// `VERB dose so GOAL` (`fit dose so auc(conc, from 144 h to 168 h) == 500 mg*h/L`).
    Goal {
        /// The verb.
        verb: Name,
        /// The goal: a summary of the time course equal to a target.
        goal: Expr,
        /// Whole action.
        span: Span,
    },
    /// `VERB to ARM` (`switch to second_line`).
    Switch {
        /// The verb.
        verb: Name,
        /// The arm.
        target: Name,
        /// Whole action.
        span: Span,
    },
    /// `VERB OBJECT to VALUE` (`set interval to 48 h`).
    Set {
        /// The verb.
        verb: Name,
        /// What is set.
        object: Name,
        /// The value.
        value: Expr,
        /// Whole action.
        span: Span,
    },
    /// `VERB QUANTITY [dose]` (`hold 1 dose`, `hold 2 doses`, `delay 7 d`).
    Quantity {
        /// The verb.
        verb: Name,
        /// The quantity (a number, or an expression in parentheses).
        value: Expr,
        /// Followed by the word `dose`.
        dose_word: bool,
        /// Whole action.
        span: Span,
    },
    /// `VERB ["reason"]` (`stop`, `stop "grade 4 neutropenia"`).
    Word {
        /// The verb.
        verb: Name,
        /// The reason, with its span.
        reason: Option<Name>,
        /// Whole action.
        span: Span,
    },
}

impl Action {
    /// The action's verb.
    pub fn verb(&self) -> &Name {
        match self {
            Action::Dose { verb, .. }
            | Action::Switch { verb, .. }
            | Action::Goal { verb, .. }
            | Action::Set { verb, .. }
            | Action::Quantity { verb, .. }
            | Action::Word { verb, .. } => verb,
        }
    }

    /// The whole action's span.
    pub fn span(&self) -> Span {
        match self {
            Action::Dose { span, .. }
            | Action::Switch { span, .. }
            | Action::Goal { span, .. }
            | Action::Set { span, .. }
            | Action::Quantity { span, .. }
            | Action::Word { span, .. } => *span,
        }
    }
}

/// `dose AMT into CMT [at T] [over D | rate R] [every II (for D | times N)] [lag L] [bioavailability F]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseStmt {
    /// Amount (may depend on covariates and genotypes).
    pub amount: Expr,
    /// Target compartment.
    pub target: Path,
    /// Options in the order written.
    pub options: Vec<DoseOpt>,
    /// Whole statement.
    pub span: Span,
}

/// One option of a dose.
#[derive(Debug, Clone, PartialEq)]
pub enum DoseOpt {
    /// `at 12 h` — time of the first dose.
    At(Expr),
    /// `over 2 h` — zero-order infusion by duration.
    Over(Expr),
    /// `rate 50 mg/h` — zero-order infusion by rate.
    Rate(Expr),
    /// `every 12 h` — dosing interval (II).
    Every(Expr),
    /// `for 5 d` — how long repeated dosing lasts.
    For(Expr),
    /// `times 24` — number of doses (ADDL + 1).
    Times(Expr),
    /// `lag 0.5 h`.
    Lag(Expr),
    /// `bioavailability 80%`.
    Bioavailability(Expr),
    /// `at steady state` — the first dose is given at the periodic steady state of the
    /// regimen (NONMEM `SS=1`); needs `every`.
    SteadyState(Span),
}

impl DoseOpt {
    /// The keyword that introduces the option.
    pub fn keyword(&self) -> &'static str {
        match self {
            DoseOpt::At(_) => "at",
            DoseOpt::Over(_) => "over",
            DoseOpt::Rate(_) => "rate",
            DoseOpt::Every(_) => "every",
            DoseOpt::For(_) => "for",
            DoseOpt::Times(_) => "times",
            DoseOpt::Lag(_) => "lag",
            DoseOpt::Bioavailability(_) => "bioavailability",
            DoseOpt::SteadyState(_) => "at steady state",
        }
    }

    /// The option's value (none for `at steady state`).
    pub fn value(&self) -> Option<&Expr> {
        match self {
            DoseOpt::At(e)
            | DoseOpt::Over(e)
            | DoseOpt::Rate(e)
            | DoseOpt::Every(e)
            | DoseOpt::For(e)
            | DoseOpt::Times(e)
            | DoseOpt::Lag(e)
            | DoseOpt::Bioavailability(e) => Some(e),
            DoseOpt::SteadyState(_) => None,
        }
    }

    /// Where the option's value is (the keywords of `at steady state`).
    pub fn span(&self) -> Span {
        match self {
            DoseOpt::SteadyState(s) => *s,
            other => other.value().map_or(Span::default(), |e| e.span),
        }
    }
}

/// How many patients a population has.
#[derive(Debug, Clone, PartialEq)]
pub enum PopulationSize {
    /// `population 2000`.
    Count(NumLit),
    /// `population from "cohort.csv" resample 10000`: one patient per row of the file, or
    /// `resample` patients each from a row drawn at random.
    File {
        /// The path as written (without quotes), with the span of the string literal.
        path: Name,
        /// `resample N`.
        resample: Option<NumLit>,
    },
    /// `population from fit "DIR" [id "7"] [resample 1000]`: the subjects of a `twin fit --out
    /// DIR`, each with its recorded covariates and genotypes and η drawn from its posterior.
    Fit {
        /// The word `fit` as written (any other word is an error).
        keyword: Name,
        /// The directory as written (without quotes).
        path: Name,
        /// `id "7"`: only this subject.
        id: Option<Name>,
        /// `resample N`.
        resample: Option<NumLit>,
    },
}

/// When a trial's occasions start (inter-occasion variability, `vary … per occasion`).
#[derive(Debug, Clone, PartialEq)]
pub enum Occasions {
    /// `occasion every 7 d`: a new occasion every step from the start to the end of sampling.
    Every {
        /// The length of an occasion.
        step: Expr,
        /// Whole statement.
        span: Span,
    },
    /// `occasion at [0 d, 14 d, 28 d]`: occasions start at these times.
    At {
        /// Start times.
        times: Vec<Expr>,
        /// Whole statement.
        span: Span,
    },
}

/// A sampling schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// `sample every STEP until END` (from time zero).
    Every {
        /// Step.
        step: Expr,
        /// Last time.
        until: Expr,
        /// Whole statement.
        span: Span,
    },
    /// `sample at [t1, t2, …]`.
    At {
        /// The times.
        times: Vec<Expr>,
        /// Whole statement.
        span: Span,
    },
}
