//! Fitted patients as a trial's population: `population from fit "DIR" [id "7"] [resample N]`
//! reads the `fit.json` of a `twin fit --out DIR` and gives each virtual patient one fitted
//! subject's recorded covariates and genotypes. Without `resample`, patient `i` is subject `i`
//! at its estimate η̂ (the fitted twin itself: a dose found for it is that patient's dose); with
//! `resample N`, each patient is a subject drawn at random with random effects drawn from that
//! subject's posterior (the Laplace approximation `N(η̂, Σ)` of the fit), so that a responder
//! rate over the population is a probability of target attainment under the posterior.
//!
//! Rules (each violation is E0052 at the path or the id):
//! - the directory is relative to the `.twin` file (an absolute path as it is) and holds a
//!   `fit.json` of at most [`crate::fit::file::MAX_FIT_BYTES`] bytes;
//! - the fit is of the trial's model (its name), and every covariate and genotype of the model is
//!   recorded for every subject; every fitted random effect is a between-patient effect of the
//!   model (per-occasion effects are drawn from the prior, as they were not fitted);
//! - a fit that estimated params (`--estimate`) is refused: its estimates would have to replace
//!   the model's values, which the trial cannot do silently; set them in the model instead;
//! - only subjects with an estimate take part; `id "X"` keeps one of them (with `resample N`, N
//!   draws of its posterior).

use super::Checker;
use super::hir;
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast;

impl Checker {
    /// Whether the fit of `population from fit "path"` exists; W0004 when it does not (the
    /// trial cannot run until `twin fit` has written it).
    pub(crate) fn fit_exists(&mut self, keyword: &ast::Name, path: &ast::Name) -> bool {
        if keyword.text != "fit" {
            return true;
        }
        let dir = match &self.base_dir {
            Some(base) if std::path::Path::new(&path.text).is_relative() => base.join(&path.text),
            _ => std::path::PathBuf::from(&path.text),
        };
        if dir.join("fit.json").exists() {
            return true;
        }
        self.report(
            Diagnostic::warning(
                codes::W0004,
                format!(
                    "`{}` holds no fit yet: the trial cannot run until it does",
                    dir.display()
                ),
                path.span,
            )
            .with_help(format!(
                "run `twin fit MODEL --data DATA --out {}`",
                path.text
            )),
        );
        false
    }

    /// Reads the fit of `population from fit "path"`; `None` after reporting.
    pub(crate) fn fitted_population(
        &mut self,
        keyword: &ast::Name,
        path: &ast::Name,
        id: Option<&ast::Name>,
        resample: bool,
        model: &hir::Model,
    ) -> Option<hir::FittedPopulation> {
        let err = |c: &mut Checker, span, message: String, help: &str| {
            c.report(Diagnostic::error(codes::E0052, message, span).with_help(help.to_string()));
            None
        };
        if keyword.text != "fit" {
            return err(
                self,
                keyword.span,
                format!("unknown population source `{}`", keyword.text),
                "write `population from \"cohort.csv\"` for a cohort file or `population from fit \"DIR\"` for the subjects of `twin fit --out DIR`",
            );
        }
        let dir = match &self.base_dir {
            Some(base) if std::path::Path::new(&path.text).is_relative() => base.join(&path.text),
            _ => std::path::PathBuf::from(&path.text),
        };
        let file = dir.join("fit.json");
        let v = match crate::fit::file::read(&dir) {
            Ok(v) => v,
            Err(e) => {
                let help = match e {
                    crate::fit::file::ReadError::Missing(_) => {
                        "run `twin fit MODEL --data DATA --out DIR` first"
                    }
                    crate::fit::file::ReadError::TooLarge(_) => "fit fewer subjects",
                    crate::fit::file::ReadError::NotAFit(_) => "it is written by `twin fit --out`",
                };
                return err(self, path.span, e.to_string(), help);
            }
        };
        let fitted_model = v.get("model").and_then(|x| x.as_str()).unwrap_or("");
        if fitted_model != model.name {
            return err(
                self,
                path.span,
                format!(
                    "`{}` is a fit of model `{fitted_model}`, not of `{}`",
                    file.display(),
                    model.name
                ),
                "fit the trial's model, or use the model that was fitted",
            );
        }
        if v.get("thetas")
            .and_then(|t| t.as_array())
            .is_some_and(|t| !t.is_empty())
        {
            return err(
                self,
                path.span,
                format!(
                    "`{}` estimated params as fixed effects (--estimate)",
                    file.display()
                ),
                "write the estimates into the model's params, fit its random effects only, and use that fit",
            );
        }
        // The fitted effects, as the model's between-patient effects.
        let names = crate::fit::file::strings(&v, "etas");
        // Per-occasion estimates (`eta(cl; occasion 2)`) describe the data's occasions, not a
        // new one: they are left out, and a new occasion's η is drawn from the prior.
        let total = names.len();
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| !crate::fit::file::per_occasion(n))
            .collect();
        let mut effects = Vec::new();
        for n in &names {
            let param = n.trim_start_matches("eta(").trim_end_matches(')');
            match model
                .effects
                .iter()
                .position(|e| !e.per_occasion && model.params[e.param].name == param)
            {
                Some(k) => effects.push(k),
                None => {
                    return err(
                        self,
                        path.span,
                        format!(
                            "the fit has a random effect on `{param}`, which model `{}` does not vary",
                            model.name
                        ),
                        "fit the trial's model as it is now",
                    );
                }
            }
        }
        let k = effects.len();
        let mut subjects = Vec::new();
        for s in v
            .get("subjects")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            let sid = s
                .get("id")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string();
            if id.is_some_and(|i| i.text != sid) {
                continue;
            }
            let Some(mut mean) =
                crate::fit::file::numbers(s.get("eta")).filter(|m| m.len() == total)
            else {
                continue;
            };
            mean.truncate(k);
            let cov = crate::fit::file::matrix(s.get("covariance"));
            // The between-subject effects come first: their marginal covariance is the leading
            // block of Σ, and its Cholesky factor the leading block of Σ's.
            let chol = if k == 0 {
                Vec::new()
            } else {
                match crate::linalg::cholesky(&cov, total) {
                    Some(l) => crate::fit::file::leading_block(&l, total, k),
                    None => {
                        return err(
                            self,
                            path.span,
                            format!(
                                "subject `{sid}` of the fit has no positive-definite posterior covariance"
                            ),
                            "fit again; a subject whose Hessian is singular cannot be sampled",
                        );
                    }
                }
            };
            let mut covariates = Vec::new();
            for (i, cv) in model.covariates.iter().enumerate() {
                let value = s.get("covariates").and_then(|c| c.get(&cv.name));
                let x = match (value, cv.unit) {
                    (Some(x), Some(_)) => x.as_f64(),
                    (Some(x), None) => x
                        .as_str()
                        .and_then(|l| cv.levels.iter().position(|n| n == l))
                        .map(|p| p as f64),
                    (None, _) => None,
                };
                match x {
                    Some(x) if x.is_finite() => covariates.push((i, x)),
                    _ => {
                        return err(
                            self,
                            path.span,
                            format!(
                                "subject `{sid}` of the fit has no value of covariate `{}`",
                                cv.name
                            ),
                            "fit the trial's model as it is now",
                        );
                    }
                }
            }
            let mut genotypes = Vec::new();
            for (i, g) in model.genotypes.iter().enumerate() {
                let gene = &self.program.genes[g.gene];
                let d = s
                    .get("genotypes")
                    .and_then(|x| x.get(&g.name))
                    .and_then(|x| x.as_str())
                    .and_then(|t| super::gene::diplotype_index(gene, t));
                match d {
                    Some(d) => genotypes.push((i, d as f64)),
                    None => {
                        return err(
                            self,
                            path.span,
                            format!(
                                "subject `{sid}` of the fit has no diplotype of `{}`",
                                g.name
                            ),
                            "fit the trial's model as it is now",
                        );
                    }
                }
            }
            subjects.push(hir::FittedSubject {
                id: sid,
                covariates,
                genotypes,
                mean,
                chol,
            });
        }
        if subjects.is_empty() {
            let (span, what) = match id {
                Some(i) => (
                    i.span,
                    format!("no fitted subject `{}` in `{}`", i.text, file.display()),
                ),
                None => (
                    path.span,
                    format!("`{}` has no fitted subject", file.display()),
                ),
            };
            return err(
                self,
                span,
                what,
                "the subjects with an estimate are listed in individuals.csv",
            );
        }
        Some(hir::FittedPopulation {
            path: path.text.clone(),
            effects,
            subjects,
            resample,
        })
    }
}
