//! Gene checking: a `gene` block → [`hir::Gene`] with diplotypes, phenotype classes and
//! per-ancestry diplotype frequencies.
//!
//! Diplotypes are all unordered allele pairs. Frequencies come from allele frequencies by
//! Hardy–Weinberg unless a diplotype frequency is given; the one allele without a frequency takes the
//! remainder. Every diplotype must fall in exactly one phenotype class when classes are declared.

use super::hir::{self, ExprKind, Sym, Type};
use super::{Checker, Scope, consts};
use crate::diagnostic::{Diagnostic, codes};
use crate::source::Span;
use crate::syntax::ast::{self, GeneStmt};

/// The canonical name of a diplotype.
pub fn diplotype_name(alleles: &[hir::Allele], a: usize, b: usize) -> String {
    let snp = alleles.iter().all(|x| x.name.chars().count() == 1);
    if snp {
        format!("{}{}", alleles[a].name, alleles[b].name)
    } else {
        format!("{}/{}", alleles[a].name, alleles[b].name)
    }
}

/// Finds a diplotype by any spelling: canonical, reversed order, or `a/b` for SNP genes.
pub fn diplotype_index(gene: &hir::Gene, text: &str) -> Option<usize> {
    if let Some(i) = gene.diplotype_names.iter().position(|n| n == text) {
        return Some(i);
    }
    let find = |n: &str| gene.alleles.iter().position(|a| a.name == n);
    let pair = if let Some((a, b)) = text.split_once('/') {
        (find(a.trim())?, find(b.trim())?)
    } else {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 2 {
            return None;
        }
        (find(&chars[0].to_string())?, find(&chars[1].to_string())?)
    };
    let (a, b) = if pair.0 <= pair.1 {
        pair
    } else {
        (pair.1, pair.0)
    };
    gene.diplotypes.iter().position(|&d| d == (a, b))
}

fn substitute_activity(e: &hir::Expr, a: f64) -> hir::Expr {
    let mut e = e.clone();
    fn walk(e: &mut hir::Expr, a: f64) {
        match &mut e.kind {
            ExprKind::Sym(Sym::GeneActivity) => e.kind = ExprKind::Const(a),
            ExprKind::Scale(x, _) | ExprKind::Unary(_, x) => walk(x, a),
            ExprKind::Binary(_, x, y) => {
                walk(x, a);
                walk(y, a);
            }
            ExprKind::If(c, x, y) => {
                walk(c, a);
                walk(x, a);
                walk(y, a);
            }
            ExprKind::Builtin(_, args) => args.iter_mut().for_each(|x| walk(x, a)),
            _ => {}
        }
    }
    walk(&mut e, a);
    e
}

impl Checker {
    fn freq_table(
        &mut self,
        entries: &[(ast::Name, ast::Expr)],
        ancestries: &mut Vec<String>,
        span: Span,
    ) -> Option<Vec<f64>> {
        let names: Vec<String> = entries.iter().map(|(n, _)| n.text.clone()).collect();
        if ancestries.is_empty() {
            *ancestries = names.clone();
        }
        let mut out = vec![0.0; ancestries.len()];
        let mut ok = true;
        for (n, e) in entries {
            let Some(i) = ancestries.iter().position(|a| *a == n.text) else {
                self.report(
                    Diagnostic::error(
                        codes::E0026,
                        format!(
                            "ancestry `{}` is not used by the gene's other alleles",
                            n.text
                        ),
                        n.span,
                    )
                    .with_help(format!(
                        "every allele lists the same ancestries: {}",
                        ancestries.join(", ")
                    )),
                );
                ok = false;
                continue;
            };
            let v = self.const_number(e, "a frequency")?;
            if !(0.0..=1.0).contains(&v) {
                self.report(
                    Diagnostic::error(codes::E0026, "a frequency must be between 0 and 1", e.span)
                        .with_label_message(format!("{v}")),
                );
                ok = false;
            }
            out[i] = v;
        }
        for a in ancestries.iter() {
            if !names.contains(a) {
                self.report(
                    Diagnostic::error(
                        codes::E0026,
                        format!("no frequency for ancestry `{a}`"),
                        span,
                    )
                    .with_help(format!(
                        "every allele lists the same ancestries: {}",
                        ancestries.join(", ")
                    )),
                );
                ok = false;
            }
        }
        ok.then_some(out)
    }

    /// Checks a gene declaration.
    #[allow(clippy::needless_range_loop)]
    pub fn check_gene(&mut self, g: &ast::GeneDecl, span: Span) -> hir::Gene {
        let mut alleles: Vec<hir::Allele> = Vec::new();
        let mut ancestries: Vec<String> = Vec::new();
        let mut missing_freq: Vec<(usize, Span)> = Vec::new();
        let mut any_freq = false;
        let mut freq_ok = true;
        for st in &g.body {
            if let GeneStmt::Allele {
                name,
                activity,
                freq,
                span,
            } = st
            {
                if alleles.iter().any(|a| a.name == name.text) {
                    self.report(Diagnostic::error(
                        codes::E0006,
                        format!("allele `{}` is declared twice", name.text),
                        name.span,
                    ));
                    continue;
                }
                let act = activity
                    .as_ref()
                    .and_then(|e| self.const_number(e, "an activity value"));
                let f = match freq {
                    Some(entries) => {
                        any_freq = true;
                        match self.freq_table(entries, &mut ancestries, *span) {
                            Some(f) => f,
                            None => {
                                freq_ok = false;
                                Vec::new()
                            }
                        }
                    }
                    None => {
                        missing_freq.push((alleles.len(), name.span));
                        Vec::new()
                    }
                };
                alleles.push(hir::Allele {
                    name: name.text.clone(),
                    activity: act,
                    freq: f,
                });
            }
        }
        if alleles.is_empty() {
            self.report(
                Diagnostic::error(
                    codes::E0026,
                    format!("gene `{}` declares no alleles", g.name.text),
                    g.name.span,
                )
                .with_help("add `allele NAME …` lines"),
            );
        }
        if any_freq && missing_freq.len() > 1 {
            let mut d = Diagnostic::error(
                codes::E0026,
                "only one allele may omit its frequency (it takes the remainder)",
                missing_freq[1].1,
            );
            d = d.with_label(missing_freq[0].1, "this one already takes the remainder");
            self.report(d);
            freq_ok = false;
        }
        let na = ancestries.len();
        if any_freq && freq_ok {
            for k in 0..na {
                let rest_idx = missing_freq.first().map(|m| m.0);
                let sum: f64 = alleles
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != rest_idx)
                    .map(|(_, a)| a.freq.get(k).copied().unwrap_or(0.0))
                    .sum();
                if let Some(&(rest, _)) = missing_freq.first() {
                    if sum > 1.0 + 1e-9 {
                        self.report(Diagnostic::error(
                            codes::E0026,
                            format!(
                                "allele frequencies for `{}` sum to {sum:.4}, more than 1",
                                ancestries[k]
                            ),
                            g.name.span,
                        ));
                        freq_ok = false;
                    } else if alleles[rest].freq.len() == k {
                        alleles[rest].freq.push((1.0 - sum).max(0.0));
                    }
                } else if (sum - 1.0).abs() > 1e-3 {
                    self.report(
                        Diagnostic::error(codes::E0026, format!("allele frequencies for `{}` sum to {sum:.4}, not 1", ancestries[k]), g.name.span)
                            .with_help("leave one allele (usually the reference) without `freq` to take the remainder"),
                    );
                    freq_ok = false;
                }
            }
        }
        // Diplotypes.
        let mut diplotypes = Vec::new();
        for a in 0..alleles.len() {
            for b in a..alleles.len() {
                diplotypes.push((a, b));
            }
        }
        let diplotype_names: Vec<String> = diplotypes
            .iter()
            .map(|&(a, b)| diplotype_name(&alleles, a, b))
            .collect();
        let mut gene = hir::Gene {
            name: g.name.text.clone(),
            alleles,
            diplotypes,
            diplotype_names,
            phenotypes: Vec::new(),
            phenotype_of: Vec::new(),
            ancestries: Vec::new(),
            diplotype_freq: Vec::new(),
            span,
        };
        gene.phenotype_of = vec![None; gene.diplotypes.len()];
        let nd = gene.diplotypes.len();
        // Frequencies (Hardy–Weinberg, with overrides).
        let mut overrides: Vec<(usize, Vec<f64>, Span)> = Vec::new();
        for st in &g.body {
            if let GeneStmt::DiplotypeFreq { name, freq, span } = st {
                match diplotype_index(&gene, &name.text) {
                    Some(d) => {
                        if let Some(f) = self.freq_table(freq, &mut ancestries, *span) {
                            overrides.push((d, f, *span));
                        }
                    }
                    None => self.report(Diagnostic::error(
                        codes::E0016,
                        format!("`{}` is not a diplotype of `{}`", name.text, gene.name),
                        name.span,
                    )),
                }
            }
        }
        if any_freq && freq_ok && ancestries.len() == na {
            gene.ancestries = ancestries.clone();
            for k in 0..na {
                let p: Vec<f64> = gene
                    .alleles
                    .iter()
                    .map(|a| a.freq.get(k).copied().unwrap_or(0.0))
                    .collect();
                let mut f: Vec<f64> = gene
                    .diplotypes
                    .iter()
                    .map(|&(a, b)| {
                        if a == b {
                            p[a] * p[a]
                        } else {
                            2.0 * p[a] * p[b]
                        }
                    })
                    .collect();
                if !overrides.is_empty() {
                    let fixed: f64 = overrides.iter().map(|o| o.1[k]).sum();
                    if fixed > 1.0 + 1e-9 {
                        self.report(Diagnostic::error(
                            codes::E0026,
                            format!(
                                "diplotype frequencies for `{}` sum to more than 1",
                                ancestries[k]
                            ),
                            overrides[0].2,
                        ));
                    }
                    let free: f64 = (0..nd)
                        .filter(|d| !overrides.iter().any(|o| o.0 == *d))
                        .map(|d| f[d])
                        .sum();
                    let scale = if free > 0.0 {
                        (1.0 - fixed).max(0.0) / free
                    } else {
                        0.0
                    };
                    for (d, fd) in f.iter_mut().enumerate() {
                        match overrides.iter().find(|o| o.0 == d) {
                            Some(o) => *fd = o.1[k],
                            None => *fd *= scale,
                        }
                    }
                }
                gene.diplotype_freq.push(f);
            }
        }
        // Phenotype classes: explicit lists first, then `when` rules in order.
        for st in &g.body {
            if let GeneStmt::PhenotypeList {
                name, diplotypes, ..
            } = st
            {
                let class = self.phenotype_class(&mut gene, name);
                for d in diplotypes {
                    match diplotype_index(&gene, &d.text) {
                        Some(i) => {
                            if let Some(prev) = gene.phenotype_of[i]
                                && prev != class
                            {
                                self.report(Diagnostic::error(
                                    codes::E0026,
                                    format!(
                                        "diplotype `{}` is listed in both `{}` and `{}`",
                                        gene.diplotype_names[i], gene.phenotypes[prev], name.text
                                    ),
                                    d.span,
                                ));
                            }
                            gene.phenotype_of[i] = Some(class);
                        }
                        None => {
                            let mut diag = Diagnostic::error(
                                codes::E0016,
                                format!("`{}` is not a diplotype of `{}`", d.text, gene.name),
                                d.span,
                            );
                            if let Some(s) = crate::diagnostic::did_you_mean(
                                &d.text,
                                gene.diplotype_names.iter().map(String::as_str),
                            ) {
                                diag = diag.with_help(format!("did you mean \"{s}\"?"));
                            }
                            self.report(diag);
                        }
                    }
                }
            }
        }
        let mut has_when = false;
        for st in &g.body {
            if let GeneStmt::PhenotypeWhen { name, cond, .. } = st {
                has_when = true;
                let class = self.phenotype_class(&mut gene, name);
                let saved = std::mem::replace(&mut self.scope, Scope::Gene);
                let h = self.expr(cond);
                self.scope = saved;
                if h.ty != Type::Bool {
                    if h.ty != Type::Error {
                        self.report(
                            Diagnostic::error(
                                codes::E0019,
                                "a phenotype rule needs a condition on `activity`",
                                cond.span,
                            )
                            .with_help("e.g. `phenotype PM when activity == 0`"),
                        );
                    }
                    continue;
                }
                for d in 0..nd {
                    if gene.phenotype_of[d].is_some() {
                        continue;
                    }
                    let Some(a) = gene.activity(d) else {
                        self.report(
                            Diagnostic::error(
                                codes::E0026,
                                format!(
                                    "diplotype `{}` has no activity score for this rule",
                                    gene.diplotype_names[d]
                                ),
                                cond.span,
                            )
                            .with_help("give every allele `activity <value>`"),
                        );
                        break;
                    };
                    if consts::eval(&substitute_activity(&h, a)).is_some_and(|v| v != 0.0) {
                        gene.phenotype_of[d] = Some(class);
                    }
                }
            }
        }
        if !gene.phenotypes.is_empty() {
            let uncovered: Vec<String> = (0..nd)
                .filter(|d| gene.phenotype_of[*d].is_none())
                .map(|d| format!("\"{}\"", gene.diplotype_names[d]))
                .collect();
            if !uncovered.is_empty() {
                let mut d = Diagnostic::error(
                    codes::E0026,
                    format!("no phenotype class for {}", uncovered.join(", ")),
                    g.name.span,
                )
                .with_label_message(format!("in gene `{}`", gene.name));
                d = d.with_help(if has_when {
                    "widen a `when` rule or list these diplotypes explicitly"
                } else {
                    "list these diplotypes in a `phenotype` class"
                });
                self.report(d);
            }
        }
        gene
    }

    fn phenotype_class(&mut self, gene: &mut hir::Gene, name: &ast::Name) -> usize {
        match gene.phenotypes.iter().position(|p| *p == name.text) {
            Some(i) => i,
            None => {
                gene.phenotypes.push(name.text.clone());
                gene.phenotypes.len() - 1
            }
        }
    }
}
