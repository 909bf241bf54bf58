//! Name resolution and unit checking: parsed files → [`hir::Program`] plus diagnostics.
//!
//! The checker never stops at the first error: every problem in every file is reported, and an
//! expression that failed to check gets [`hir::Type::Error`] so it causes no further reports.
//! Declarations inside a model are order-independent; parameters and `let`s are sorted by what they
//! depend on, and a cycle is an error.

pub mod cohort;
pub mod consts;
pub mod expr;
pub mod fitted;
pub mod gene;
pub mod hir;
pub mod model;
pub mod print;
pub mod protocol;
pub mod table;
pub mod trial;

use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Unit, UnitTable};
use std::collections::HashMap;

/// What a global name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// A gene (index into `Program::genes`).
    Gene(usize),
    /// A function (index into `Program::fns`).
    Fn(usize),
    /// A model (index into `Program::models`).
    Model(usize),
}

/// One checked module (a user file or a stdlib module) with what it can see.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Names visible in the module: its own items and its imports.
    pub names: HashMap<String, Global>,
}

/// Where names in an expression are looked up, and which constructs are allowed.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Only constants (unit declarations, frequencies, windows, schedule times).
    Const,
    /// A function body: its parameters.
    Fn(Vec<(String, Unit)>),
    /// A `gene` block: `activity` is the diplotype's activity score.
    Gene,
    /// A model body, inside the given pathway prefix (`a.b.`).
    Model {
        /// Pathway prefix, empty at the top level.
        prefix: String,
    },
    /// A trial endpoint: model names and aggregates over time.
    Endpoint,
    /// A dose or population expression: covariates, genotypes and params of the model.
    Patient,
    /// A protocol rule or visit summary, read at a visit: measured observables, `dose` (in the
    /// given unit; `None` when the arm has no dose), `t`, covariates, genotypes and params.
    Visit(Option<Unit>),
}

/// The shared state of one check: unit table, global items, diagnostics.
pub struct Checker {
    /// All units (prelude and user declarations).
    pub units: UnitTable,
    /// The hour, the model time unit.
    pub hour: Unit,
    /// Output under construction.
    pub program: hir::Program,
    /// Diagnostics so far.
    pub diags: Vec<Diagnostic>,
    /// Names visible in the module being checked.
    pub visible: Visibility,
    /// Every global by name, visible or not (for "did you forget `use`" hints).
    pub all_globals: HashMap<String, (Global, String)>,
    /// Current expression scope.
    pub scope: Scope,
    /// The model being checked (for model, endpoint and patient scopes).
    pub model: Option<model::ModelScope>,
    /// The function whose body is being checked (to report recursion).
    pub current_fn: Option<String>,
    /// The model of the trial being checked (its observables are what a visit measures).
    pub trial_model: Option<usize>,
    /// The unit of `dose`, `final_dose()` and `total_dose()` in the trial's endpoints: that of
    /// the state its first arm's first dose goes into.
    pub trial_dose_unit: Option<Unit>,
    /// The reasons the trial's protocol rules `stop` with, in order of appearance.
    pub stop_reasons: Vec<String>,
    /// The goals of the trial's `fit dose so` actions, as they are checked.
    pub trial_goals: Vec<hir::Endpoint>,
    /// The names of the trial's arms, in order (what `switch to` may name).
    pub trial_arms: Vec<String>,
    /// The statements of every checked model (after `extends` merging), by model index.
    pub model_asts: Vec<ast::ModelDecl>,
    /// What each checked model's module could see: statements a model inherits through
    /// `extends` resolve names as in the module that wrote them.
    pub model_visibility: Vec<Visibility>,
    /// The inputs of the bases of the model about to be checked, whose definitions must match
    /// them (see [`model::merge_models`]).
    pub merged_inputs: Vec<model::MergedInput>,
    /// For every checked model (by index), the statements of its bases (at any depth) that it
    /// replaced: where two bases share an ancestor, the one that replaced an inherited statement
    /// wins over the other's unchanged copy.
    pub model_replaced: Vec<std::collections::HashSet<Span>>,
    /// How deeply the expression being checked is nested (see [`MAX_DEPTH`]).
    pub depth: usize,
    /// Whether the outermost expression being checked was already reported as too deep.
    pub too_deep: bool,
    /// The directory of the module being checked, for files it names (cohorts).
    pub base_dir: Option<std::path::PathBuf>,
}

/// The deepest expression or unit the checker accepts. The checker and every later pass recurse on
/// the tree, so a deeper one (a sum of thousands of terms) would overflow the stack.
pub const MAX_DEPTH: usize = 100;

/// How deeply a unit expression is nested (without recursion, so any depth is safe to measure).
pub fn unit_depth(u: &ast::UnitExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(u, 1)];
    while let Some((u, d)) = stack.pop() {
        deepest = deepest.max(d);
        match u {
            ast::UnitExpr::Mul(a, b, _) | ast::UnitExpr::Div(a, b, _) => {
                stack.push((a, d + 1));
                stack.push((b, d + 1));
            }
            ast::UnitExpr::Pow(a, _, _) => stack.push((a, d + 1)),
            ast::UnitExpr::Named(_) | ast::UnitExpr::One(_) | ast::UnitExpr::Percent(_) => {}
        }
    }
    deepest
}

/// The factor from a unit written as text (`mg/dL`, in a dataset's or cohort's header) to `to`,
/// or why it does not fit; `file` is where the text is said to come from.
pub fn unit_factor(
    units: &UnitTable,
    file: crate::source::FileId,
    text: &str,
    to: Unit,
) -> Result<f64, String> {
    let src = format!("1 {text}");
    let expr = crate::syntax::parser::parse_expr(file, &src)
        .map_err(|d| format!("`{text}` is not a unit ({})", d.message))?;
    let mut ck = Checker::new(units.clone());
    ck.scope = Scope::Const;
    let h = ck.expr(&expr);
    if let Some(d) = ck.diags.first() {
        return Err(format!("`{text}` is not a unit ({})", d.message));
    }
    let h = ck.coerce(h, to, crate::diagnostic::codes::E0008, "the column");
    if !ck.diags.is_empty() {
        return Err(format!(
            "the unit `{text}` does not fit `{}`",
            units.format_unit(to)
        ));
    }
    consts::eval(&h)
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("`{text}` is not a unit"))
}

impl Checker {
    /// A checker over the given unit table.
    pub fn new(units: UnitTable) -> Checker {
        let hour = units.get("h").unwrap_or(Unit::ONE);
        Checker {
            units,
            hour,
            program: hir::Program::default(),
            diags: Vec::new(),
            visible: Visibility::default(),
            all_globals: HashMap::new(),
            scope: Scope::Const,
            model: None,
            current_fn: None,
            trial_model: None,
            trial_dose_unit: None,
            stop_reasons: Vec::new(),
            trial_goals: Vec::new(),
            trial_arms: Vec::new(),
            model_asts: Vec::new(),
            model_visibility: Vec::new(),
            merged_inputs: Vec::new(),
            model_replaced: Vec::new(),
            depth: 0,
            too_deep: false,
            base_dir: None,
        }
    }

    /// Records a diagnostic.
    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Evaluates a unit expression, reporting unknown units.
    pub fn unit(&mut self, u: &ast::UnitExpr) -> Option<Unit> {
        if !self.unit_depth_ok(u) {
            return None;
        }
        match self.units.eval(u) {
            Ok(unit) => Some(unit),
            Err(e) => {
                self.report_unit_error(e);
                None
            }
        }
    }

    /// Reports a unit nested deeper than [`MAX_DEPTH`]; `false` if it is.
    pub fn unit_depth_ok(&mut self, u: &ast::UnitExpr) -> bool {
        if unit_depth(u) <= MAX_DEPTH {
            return true;
        }
        self.report(
            Diagnostic::error(
                codes::E0029,
                format!("this unit is nested too deeply (more than {MAX_DEPTH} levels)"),
                u.span(),
            )
            .with_help("write the unit with fewer factors"),
        );
        false
    }

    /// Turns a unit-table error into a diagnostic.
    pub fn report_unit_error(&mut self, e: crate::units::UnitError) {
        use crate::units::UnitErrorKind as K;
        let d = match &e.kind {
            K::Unknown(name) => {
                let mut d =
                    Diagnostic::error(codes::E0005, format!("unknown unit `{name}`"), e.span)
                        .with_label_message("not a declared unit");
                if let Some(s) = did_you_mean(name, self.units.names()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else {
                    d = d.with_help(format!(
                        "declare it with `unit {name}` (a new base unit) or `unit {name} = <factor> <unit>`"
                    ));
                }
                d
            }
            K::NotANumberUnit(text) => {
                Diagnostic::error(codes::E0005, format!("`{text}` is not a unit"), e.span)
                    .with_label_message("only `1` may stand for a unit")
                    .with_help("write `1/h` for a rate, or give the number its unit after the `=`")
            }
            K::Overflow => Diagnostic::error(codes::E0029, "unit scale factor overflows", e.span)
                .with_help(
                    "the exact factor of this unit no longer fits; use fewer prefixes or powers",
                ),
            K::AlreadyDeclared(name) => Diagnostic::error(
                codes::E0024,
                format!("unit `{name}` is already declared"),
                e.span,
            )
            .with_help("units are global; pick another symbol"),
            K::ZeroFactor(name) => Diagnostic::error(
                codes::E0024,
                format!("unit `{name}` is defined as zero"),
                e.span,
            )
            .with_help("a unit's factor must be non-zero"),
            K::Syntax(msg) => Diagnostic::error(
                codes::E0024,
                format!("the unit prelude does not parse: {msg}"),
                e.span,
            ),
            K::TooManyBases => Diagnostic::error(codes::E0029, "too many base units", e.span)
                .with_help(format!(
                    "at most {} base dimensions are supported; derive this unit from existing ones",
                    crate::units::MAX_BASES
                )),
        };
        self.report(d);
    }

    /// Describes a unit for messages: `mg/L (mass concentration)`.
    pub fn describe(&self, u: Unit) -> String {
        let name = self.units.format_unit(u);
        let kind = self.units.describe_dim(u.dim);
        if kind == name || kind.is_empty() {
            format!("`{name}`")
        } else {
            format!("`{name}` ({kind})")
        }
    }

    /// Describes a type for messages.
    pub fn describe_type(&self, t: hir::Type) -> String {
        match t {
            hir::Type::Num(u) => self.describe(u),
            hir::Type::Bool => "a truth value".into(),
            hir::Type::Genotype(g) => format!(
                "a `{}` genotype",
                self.program
                    .genes
                    .get(g)
                    .map(|g| g.name.as_str())
                    .unwrap_or("?")
            ),
            hir::Type::Phenotype(g) => format!(
                "a `{}` phenotype",
                self.program
                    .genes
                    .get(g)
                    .map(|g| g.name.as_str())
                    .unwrap_or("?")
            ),
            hir::Type::Category(_) => "a category".into(),
            hir::Type::Str => "a string".into(),
            hir::Type::Error => "an invalid value".into(),
        }
    }

    /// Looks a global up, reporting unknown or unimported names.
    pub fn global(&mut self, name: &ast::Name, what: &str) -> Option<Global> {
        if let Some(g) = self.visible.names.get(&name.text) {
            return Some(*g);
        }
        let mut d = Diagnostic::error(
            codes::E0004,
            format!("unknown {what} `{}`", name.text),
            name.span,
        );
        if let Some((_, module)) = self.all_globals.get(&name.text) {
            d = d.with_help(format!(
                "it is defined in the `{module}` module: add `use {module}.{}`",
                name.text
            ));
        } else if let Some(s) = did_you_mean(&name.text, sorted_keys(&self.visible.names)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.report(d);
        None
    }
}

/// The keys of a hash map in sorted order, so that a did-you-mean tie resolves the same way on
/// every run.
fn sorted_keys<V>(map: &HashMap<String, V>) -> Vec<&str> {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// A span-less placeholder used when building synthetic expressions.
pub fn error_expr(span: Span) -> hir::Expr {
    hir::Expr {
        kind: hir::ExprKind::Error,
        ty: hir::Type::Error,
        span,
    }
}

/// One parsed module handed to [`check_program`].
pub struct Module<'a> {
    /// Module name (`pgx` for stdlib modules; the file name for user files).
    pub name: String,
    /// Whether it is a stdlib module.
    pub stdlib: bool,
    /// The syntax tree.
    pub file: &'a ast::File,
    /// Whether it sees everything the previous module sees and declares (command-line
    /// additions such as `--dose` see the user's models).
    pub inherits: bool,
}

/// Checks modules in order (dependencies first) and returns the program and all diagnostics.
///
/// Unit declarations of every module are global; genes, functions and models are visible in the
/// module that declares them and wherever a `use` imports them.
pub fn check_program(
    units: UnitTable,
    modules: &[Module<'_>],
) -> (
    hir::Program,
    Vec<Diagnostic>,
    Vec<(String, model::ModelScope)>,
) {
    let mut c = Checker::new(units);
    // Units first: they are global and order-independent across files.
    for m in modules {
        for item in &m.file.items {
            if let ast::ItemKind::Unit(u) = &item.kind
                && u.def
                    .as_ref()
                    .and_then(|d| d.unit.as_ref())
                    .is_none_or(|x| c.unit_depth_ok(x))
                && let Err(e) = c.units.eval_decl(u)
            {
                c.report_unit_error(e);
            }
        }
    }
    c.hour = c.units.get("h").unwrap_or(Unit::ONE);
    let mut exports: HashMap<String, HashMap<String, Global>> = HashMap::new();
    let mut scopes: Vec<(String, model::ModelScope)> = Vec::new();
    for m in modules {
        if !m.inherits {
            c.visible = Visibility::default();
        }
        if !m.stdlib && !m.inherits {
            c.base_dir = std::path::Path::new(&m.name)
                .parent()
                .map(|p| p.to_path_buf());
        }
        // Imports.
        for item in &m.file.items {
            if let ast::ItemKind::Use(u) = &item.kind {
                let Some(ex) = exports.get(&u.module.text) else {
                    let mut d = Diagnostic::error(
                        codes::E0020,
                        format!("unknown module `{}`", u.module.text),
                        u.module.span,
                    );
                    let mut mods: Vec<String> = exports.keys().cloned().collect();
                    mods.sort();
                    if let Some(s) = did_you_mean(&u.module.text, mods.iter().map(String::as_str)) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    } else {
                        let mut names = crate::stdlib::module_names();
                        names.sort();
                        d = d.with_help(format!("the standard library has {}", names.join(", ")));
                    }
                    c.report(d);
                    continue;
                };
                match &u.names {
                    ast::UseNames::All(_) => {
                        for (k, v) in ex {
                            c.visible.names.insert(k.clone(), *v);
                        }
                    }
                    ast::UseNames::Some(names) => {
                        for n in names {
                            match ex.get(&n.text) {
                                Some(g) => {
                                    c.visible.names.insert(n.text.clone(), *g);
                                }
                                None => {
                                    let mut d = Diagnostic::error(
                                        codes::E0020,
                                        format!(
                                            "module `{}` has no item `{}`",
                                            u.module.text, n.text
                                        ),
                                        n.span,
                                    );
                                    if let Some(s) = did_you_mean(&n.text, sorted_keys(ex)) {
                                        d = d.with_help(format!("did you mean `{s}`?"));
                                    }
                                    c.report(d);
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut own: HashMap<String, Global> = HashMap::new();
        let mut own_spans: HashMap<String, Span> = HashMap::new();
        let mut declare =
            |c: &mut Checker, name: &ast::Name, g: Global, own: &mut HashMap<String, Global>| {
                if let Some(prev) = own_spans.get(&name.text) {
                    c.report(
                        Diagnostic::error(
                            codes::E0006,
                            format!("`{}` is defined twice", name.text),
                            name.span,
                        )
                        .with_label(*prev, "first defined here"),
                    );
                    return;
                }
                own_spans.insert(name.text.clone(), name.span);
                own.insert(name.text.clone(), g);
                c.visible.names.insert(name.text.clone(), g);
                c.all_globals.insert(name.text.clone(), (g, m.name.clone()));
            };
        // Genes, tables, then functions (in order; a function sees those before it), then models,
        // trials.
        for item in &m.file.items {
            if let ast::ItemKind::Gene(g) = &item.kind {
                let gene = c.check_gene(g, item.span);
                c.program.genes.push(gene);
                let id = Global::Gene(c.program.genes.len() - 1);
                declare(&mut c, &g.name, id, &mut own);
            }
        }
        // Tables (plain data) before functions, so every function may use every table.
        for item in &m.file.items {
            if let ast::ItemKind::Table(t) = &item.kind
                && let Some(f) = c.check_table(t)
            {
                c.program.fns.push(f);
                let id = Global::Fn(c.program.fns.len() - 1);
                declare(&mut c, &t.name, id, &mut own);
            }
        }
        for item in &m.file.items {
            if let ast::ItemKind::Fn(f) = &item.kind {
                let mut params = Vec::new();
                let mut ok = true;
                for p in &f.params {
                    if params
                        .iter()
                        .any(|(n, _): &(String, Unit)| *n == p.name.text)
                    {
                        c.report(Diagnostic::error(
                            codes::E0006,
                            format!("parameter `{}` is listed twice", p.name.text),
                            p.name.span,
                        ));
                        ok = false;
                    }
                    match c.unit(&p.unit) {
                        Some(u) => params.push((p.name.text.clone(), u)),
                        None => ok = false,
                    }
                }
                let ret = c.unit(&f.ret);
                c.scope = Scope::Fn(params.clone());
                // A function cannot call itself: it is not visible in its own body.
                if c.visible.names.contains_key(&f.name.text) {
                    // Shadowing an import: checked by `declare` below.
                }
                c.current_fn = Some(f.name.text.clone());
                let body = c.expr(&f.body);
                c.current_fn = None;
                c.scope = Scope::Const;
                let body = match ret {
                    Some(r) => c.coerce(
                        body,
                        r,
                        codes::E0008,
                        &format!("the result of `{}`", f.name.text),
                    ),
                    None => body,
                };
                if let Some(r) = ret
                    && ok
                {
                    c.program.fns.push(hir::Function {
                        name: f.name.text.clone(),
                        params,
                        ret: r,
                        body,
                    });
                    let id = Global::Fn(c.program.fns.len() - 1);
                    declare(&mut c, &f.name, id, &mut own);
                }
            }
        }
        for item in &m.file.items {
            if let ast::ItemKind::Model(md) = &item.kind {
                let merged;
                let own_visible = c.visible.clone();
                let mut inherited_inputs = Vec::new();
                let mut replaced = std::collections::HashSet::new();
                // `for` statements are expanded in place before merging and checking.
                let expanded_md;
                let md = if ast::has_for(&md.body) {
                    expanded_md = ast::ModelDecl {
                        name: md.name.clone(),
                        bases: md.bases.clone(),
                        body: ast::expand_in_place(&md.body),
                    };
                    &expanded_md
                } else {
                    md
                };
                let md = if md.bases.is_empty() {
                    md
                } else {
                    let mut bases: Vec<usize> = Vec::new();
                    for base in &md.bases {
                        let name = base
                            .parts
                            .last()
                            .cloned()
                            .unwrap_or_else(|| md.name.clone());
                        match c.global(&name, "model") {
                            Some(Global::Model(b)) => {
                                // Names the base's own module could see stay visible (the
                                // model's own module wins where both define one).
                                if let Some(v) = c.model_visibility.get(b).cloned() {
                                    for (k, g) in v.names {
                                        c.visible.names.entry(k).or_insert(g);
                                    }
                                }
                                bases.push(b);
                            }
                            Some(_) => c.report(Diagnostic::error(
                                codes::E0019,
                                format!("`{}` is not a model", name.text),
                                base.span,
                            )),
                            None => {}
                        }
                    }
                    let bodies: Vec<&[ast::Stmt]> = bases
                        .iter()
                        .map(|b| c.model_asts[*b].body.as_slice())
                        .collect();
                    let base_replaced: Vec<&std::collections::HashSet<Span>> =
                        bases.iter().map(|b| &c.model_replaced[*b]).collect();
                    let m = model::merge_models(&bodies, &base_replaced, &md.body);
                    for conflict in &m.conflicts {
                        let base_name = |i: usize| {
                            bases
                                .get(i)
                                .and_then(|b| c.program.models.get(*b))
                                .map(|m| m.name.clone())
                                .unwrap_or_default()
                        };
                        let (a, b) = (
                            base_name(conflict.first_base),
                            base_name(conflict.second_base),
                        );
                        let at = md
                            .bases
                            .iter()
                            .find(|p| p.parts.last().is_some_and(|n| n.text == b))
                            .map(|p| p.span)
                            .unwrap_or(md.name.span);
                        c.report(
                            Diagnostic::error(
                                codes::E0036,
                                format!(
                                    "`{a}` and `{b}` both set {} differently",
                                    conflict.what
                                ),
                                at,
                            )
                            .with_label_message(format!("`{}` extends both", md.name.text))
                            .with_label(conflict.first, format!("set by `{a}`"))
                            .with_label(conflict.second, format!("set by `{b}`"))
                            .with_help(format!(
                                "set {} in `{}` itself to choose (a statement of the model replaces both)",
                                conflict.what, md.name.text
                            )),
                        );
                    }
                    inherited_inputs = m.inputs;
                    replaced = m.replaced;
                    merged = ast::ModelDecl {
                        name: md.name.clone(),
                        bases: Vec::new(),
                        body: m.body,
                    };
                    &merged
                };
                c.merged_inputs = inherited_inputs;
                let model = c.check_model(md, item.span);
                c.model_asts.push(md.clone());
                c.model_replaced.push(replaced);
                c.model_visibility
                    .push(std::mem::replace(&mut c.visible, own_visible));
                let scope = c.model.take().unwrap_or_default();
                c.program.models.push(model);
                scopes.push((md.name.text.clone(), scope));
                let id = Global::Model(c.program.models.len() - 1);
                declare(&mut c, &md.name, id, &mut own);
            }
        }
        for item in &m.file.items {
            if let ast::ItemKind::Trial(t) = &item.kind
                && let Some(trial) = c.check_trial(t, item.span, &scopes)
            {
                c.program.trials.push(trial);
            }
        }
        if m.stdlib {
            exports.insert(m.name.clone(), own);
        }
    }
    (c.program, c.diags, scopes)
}
