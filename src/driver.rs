//! The one place that knows the order of the phases: source → parse → load stdlib modules →
//! check ([`compile`]), then checked model → lowered IR → native code ([`prepare`]). Everything
//! here is pure (no file system access besides what the caller hands in).

use crate::check::{self, hir, model::ModelScope};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir::builder::BuildError;
use crate::lower;
use crate::lower::patient::{ParamLayout, PatientExprs};
use crate::sim::PreparedModel;
use crate::source::{FileId, SourceMap};
use crate::stdlib;
use crate::syntax::{ast, parser};
use crate::trial::{Backend, Evaluator};
use crate::units::UnitTable;
use std::collections::HashMap;

/// The result of compiling one user file.
pub struct Compilation {
    /// Every file read (user file and stdlib modules).
    pub sources: SourceMap,
    /// The checked program (complete only if there are no errors).
    pub program: hir::Program,
    /// Diagnostics in report order.
    pub diagnostics: Vec<Diagnostic>,
    /// The unit table after all declarations.
    pub units: UnitTable,
    /// Name tables of each model, for the REPL and the runner.
    pub scopes: Vec<(String, ModelScope)>,
    /// The user file's id.
    pub file: FileId,
}

impl Compilation {
    /// A copy of the sources and diagnostics only (enough to render a report).
    pub fn clone_shallow(&self) -> Compilation {
        Compilation {
            sources: self.sources.clone(),
            program: hir::Program::default(),
            diagnostics: Vec::new(),
            units: self.units.clone(),
            scopes: Vec::new(),
            file: self.file,
        }
    }

    /// Whether any error was reported.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

fn uses(file: &ast::File) -> Vec<ast::Name> {
    file.items
        .iter()
        .filter_map(|i| match &i.kind {
            ast::ItemKind::Use(u) => Some(u.module.clone()),
            _ => None,
        })
        .collect()
}

/// Compiles one source text named `name`.
pub fn compile(name: &str, text: &str) -> Compilation {
    compile_with(name, text, &[])
}

/// Compiles `text` followed by extra sources (name, text) that see its items, such as a trial
/// synthesised from command-line options.
///
/// The front end recurses over the syntax tree, so the work runs on a thread with a large stack
/// ([`STACK_BYTES`]) as a second line of defence: source nested deeper than [`MAX_NESTING`] is
/// rejected while it is read (E0047), and a source larger than
/// [`crate::syntax::parser::MAX_SOURCE_BYTES`] before (E0048).
pub fn compile_with(name: &str, text: &str, extras: &[(String, String)]) -> Compilation {
    let (name, text, extras) = (name.to_string(), text.to_string(), extras.to_vec());
    let worker = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || compile_on_this_thread(&name, &text, &extras));
    match worker.map(|h| h.join()) {
        Ok(Ok(c)) => c,
        // The thread could not start or the front end panicked (a bug): report it as a diagnostic
        // rather than taking the process down.
        Ok(Err(_)) | Err(_) => {
            let mut sources = SourceMap::new();
            let file = sources.add("<internal>", "");
            let d = Diagnostic::error(
                codes::E0029,
                "internal error while compiling this file",
                crate::source::Span::new(file, 0, 0),
            )
            .with_help("please report this input; the compiler should never stop here");
            Compilation {
                sources,
                program: hir::Program::default(),
                diagnostics: vec![d],
                units: UnitTable::new(),
                scopes: Vec::new(),
                file,
            }
        }
    }
}

/// Stack size of the compiling thread.
pub const STACK_BYTES: usize = 512 << 20;

/// Deepest nesting accepted in a source file (brackets plus operator chains), enforced by the
/// lexer: see [`crate::syntax::lexer`].
pub use crate::syntax::lexer::MAX_NESTING;

fn compile_on_this_thread(name: &str, text: &str, extras: &[(String, String)]) -> Compilation {
    let mut sources = SourceMap::new();
    let mut diagnostics = Vec::new();
    let file = sources.add(name, text);
    let (user, mut syntax) = parser::parse_file_recovering(file, text);
    diagnostics.append(&mut syntax);
    let mut extra_files = Vec::new();
    for (n, t) in extras {
        let id = sources.add(n.clone(), t.clone());
        let (f, mut syntax) = parser::parse_file_recovering(id, t);
        diagnostics.append(&mut syntax);
        if let Some(f) = f {
            extra_files.push((n.clone(), f));
        }
    }
    // Load stdlib modules named by `use`, transitively; dependencies come first.
    let mut loaded: Vec<(String, ast::File)> = Vec::new();
    // Checking the prelude itself (`twin check stdlib/units.twin`) must not load it twice.
    let prelude_text = if Some(text) == stdlib::module("units") {
        ""
    } else {
        stdlib::module("units").unwrap_or("")
    };
    let prelude_id = sources.add("<stdlib>/units.twin", prelude_text);
    let prelude = match parser::parse_file(prelude_id, sources.get(prelude_id).text.as_str()) {
        Ok(f) => f,
        Err(d) => {
            diagnostics.push(d);
            ast::File {
                items: Vec::new(),
                expansions: Vec::new(),
            }
        }
    };
    fn load(
        name: &ast::Name,
        sources: &mut SourceMap,
        loaded: &mut Vec<(String, ast::File)>,
        visiting: &mut Vec<String>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let n = &name.text;
        if n == "units" || loaded.iter().any(|(m, _)| m == n) || visiting.contains(n) {
            return;
        }
        let Some(text) = stdlib::module(n) else {
            return;
        };
        let id = sources.add(format!("<stdlib>/{n}.twin"), text);
        match parser::parse_file(id, text) {
            Ok(f) => {
                visiting.push(n.clone());
                for u in uses(&f) {
                    load(&u, sources, loaded, visiting, diagnostics);
                }
                visiting.pop();
                loaded.push((n.clone(), f));
            }
            Err(d) => diagnostics.push(d),
        }
    }
    if let Some(u) = &user {
        let mut visiting = Vec::new();
        for name in uses(u) {
            load(
                &name,
                &mut sources,
                &mut loaded,
                &mut visiting,
                &mut diagnostics,
            );
        }
    }
    let mut modules = vec![check::Module {
        name: "units".into(),
        stdlib: true,
        file: &prelude,
        inherits: false,
    }];
    for (n, f) in &loaded {
        modules.push(check::Module {
            name: n.clone(),
            stdlib: true,
            file: f,
            inherits: false,
        });
    }
    if let Some(u) = &user {
        modules.push(check::Module {
            name: name.to_string(),
            stdlib: false,
            file: u,
            inherits: false,
        });
        for (n, f) in &extra_files {
            modules.push(check::Module {
                name: n.clone(),
                stdlib: false,
                file: f,
                inherits: true,
            });
        }
    }
    let (program, mut diags, scopes) = check::check_program(UnitTable::new(), &modules);
    // Rebuild the final unit table the same way for callers (REPL, runner).
    let mut units = UnitTable::new();
    for m in &modules {
        for item in &m.file.items {
            if let ast::ItemKind::Unit(u) = &item.kind {
                let _ = units.eval_decl(u);
            }
        }
    }
    diagnostics.append(&mut diags);
    // An unknown splice variable (E0043) leaves the name unexpanded: the checker's report of that
    // name as unknown says nothing more.
    let unbound: Vec<(FileId, u32, u32)> = diagnostics
        .iter()
        .filter(|d| d.code == codes::E0043)
        .map(|d| {
            (
                d.primary.span.file,
                d.primary.span.start,
                d.primary.span.end,
            )
        })
        .collect();
    if !unbound.is_empty() {
        diagnostics.retain(|d| {
            let s = d.primary.span;
            d.code == codes::E0043 || !unbound.contains(&(s.file, s.start, s.end))
        });
    }
    // Diagnostics about a statement written by a `for` name the instance.
    let mut expansions: HashMap<FileId, &[String]> = HashMap::new();
    for m in &modules {
        if let Some(id) = m.file.items.first().map(|i| i.span.file) {
            expansions.insert(id, &m.file.expansions);
        }
    }
    for d in &mut diagnostics {
        let span = d.primary.span;
        if span.inst == 0 {
            continue;
        }
        if let Some(note) = expansions
            .get(&span.file)
            .and_then(|e| e.get(span.inst as usize - 1))
            && !d.notes.contains(note)
        {
            d.notes.push(note.clone());
        }
    }
    if user.is_some()
        && diagnostics
            .iter()
            .any(|d| d.code == codes::E0024 && d.primary.span.file == prelude_id)
    {
        // A broken prelude is a bug in the binary, reported like any other diagnostic.
    }
    Compilation {
        sources,
        program,
        diagnostics,
        units,
        scopes,
        file,
    }
}

/// Why a checked model could not be prepared for simulation.
#[derive(Debug)]
pub enum PrepareError {
    /// Lowering to IR failed (e.g. a parameter that depends on time).
    Lower {
        /// The model's name.
        model: String,
        /// Every lowering problem.
        errors: Vec<BuildError>,
    },
    /// A per-patient expression (population generator, arm override, endpoint) cannot be
    /// evaluated per patient.
    Evaluator(crate::trial::PopError),
    /// A sampling or evaluation grid would be larger than [`crate::sim::grid::MAX_POINTS`].
    Grid {
        /// How large.
        error: crate::sim::grid::GridTooLarge,
        /// The declaration whose schedule asks for it.
        span: crate::source::Span,
    },
    /// Native code generation failed.
    Native {
        /// The model's name.
        model: String,
        /// The code generator's message.
        message: String,
    },
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrepareError::Lower { model, errors } => {
                let msg: Vec<String> = errors.iter().map(ToString::to_string).collect();
                write!(f, "model `{model}` cannot be compiled: {}", msg.join("; "))
            }
            PrepareError::Native { message, .. } => {
                write!(f, "native compilation failed: {message}")
            }
            PrepareError::Evaluator(e) => write!(f, "{e}"),
            PrepareError::Grid { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for PrepareError {}

impl PrepareError {
    /// The error as a diagnostic at the model's declaration.
    pub fn diagnostic(&self, program: &hir::Program) -> Diagnostic {
        let name = match self {
            PrepareError::Lower { model, .. } | PrepareError::Native { model, .. } => model,
            PrepareError::Evaluator(e) => {
                return Diagnostic::error(
                    codes::E0019,
                    e.message.clone(),
                    e.span.unwrap_or_default(),
                );
            }
            PrepareError::Grid { span, .. } => {
                return Diagnostic::error(codes::E0049, self.to_string(), *span)
                    .with_label_message("this schedule")
                    .with_help("sample more coarsely or over a shorter time");
            }
        };
        let span = program
            .models
            .iter()
            .find(|m| &m.name == name)
            .map(|m| m.span)
            .unwrap_or_default();
        Diagnostic::error(codes::E0019, self.to_string(), span)
    }
}

/// The IR of model `model` as text (`twin check --emit ir`, the REPL's `:ir`): the model lowered
/// as [`prepare`] lowers it without a trial, and not compiled.
pub fn ir_text(program: &hir::Program, model: usize) -> Result<String, PrepareError> {
    let m = &program.models[model];
    lower::lower(program, m, &[], lower::Options::default())
        .map(|l| crate::ir::print::module_to_string(&l.module))
        .map_err(|errors| PrepareError::Lower {
            model: m.name.clone(),
            errors,
        })
}

/// What [`prepare`] compiles besides the model: a trial's population, and the arms and endpoints
/// whose doses, overrides and summaries a simulation needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parts<'a> {
    /// The population whose generators are compiled (a trial's).
    pub population: Option<&'a hir::Population>,
    /// Arms: their doses are lowered into the model, their overrides into the evaluator (arm `k`
    /// of the slice is dose set and override function `k`).
    pub arms: &'a [&'a hir::Arm],
    /// Endpoints: their aggregates are lowered into the model, their expressions into the
    /// evaluator.
    pub endpoints: &'a [hir::Endpoint],
    /// Goals of `fit dose so` actions: their aggregates are lowered into the model after the
    /// endpoints' (not into the evaluator).
    pub goals: &'a [hir::Endpoint],
    /// Computed quantities whose per-patient values are wanted (a trial's strata): see
    /// [`lower::Lowered::quantities`].
    pub quantities: &'a [hir::Sym],
}

/// Lowers model `model` of a checked program with `parts`, and compiles the model and its
/// per-patient expressions (the [`Evaluator`]) to native code: the one place where lowering and
/// native compilation happen.
pub fn prepare(
    program: &hir::Program,
    model: usize,
    parts: Parts<'_>,
    options: lower::Options,
) -> Result<PreparedModel, PrepareError> {
    let m = &program.models[model];
    let with_goals: Vec<hir::Endpoint>;
    let summarised = if parts.goals.is_empty() {
        parts.endpoints
    } else {
        with_goals = parts.endpoints.iter().chain(parts.goals).cloned().collect();
        &with_goals
    };
    let lowered = lower::lower_trial(
        program,
        m,
        parts.arms,
        summarised,
        parts.quantities,
        options,
    )
    .map_err(|errors| PrepareError::Lower {
        model: m.name.clone(),
        errors,
    })?;
    let compiled = crate::jit::compile(&lowered.module).map_err(|e| PrepareError::Native {
        model: m.name.clone(),
        message: e.to_string(),
    })?;
    let exprs = PatientExprs {
        population: parts.population,
        arms: parts.arms,
        endpoints: parts.endpoints,
    };
    let params = ParamLayout {
        index: &lowered.param_index,
        count: lowered.module.n_params(),
    };
    let evaluator =
        Evaluator::new(program, m, exprs, params, Backend::Jit).map_err(PrepareError::Evaluator)?;
    let domains = m
        .params
        .iter()
        .zip(&lowered.param_index)
        .filter(|(p, _)| !p.domain.is_any())
        .map(|(p, &slot)| crate::sim::ParamDomain {
            name: p.name.clone(),
            slot,
            unit: p.domain.unit.clone(),
            domain: p.domain.clone(),
        })
        .collect();
    Ok(PreparedModel {
        model,
        lowered,
        compiled,
        evaluator: std::sync::Arc::new(evaluator),
        domains,
    })
}
