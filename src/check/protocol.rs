//! Checking a protocol arm: `visit` schedules, `when` rules and `round`/`cap` dose limits →
//! [`hir::Protocol`].
//!
//! Rules and visit summaries are checked in [`Scope::Visit`]: they read measured observables
//! (by their observed name), `dose` (in the unit of the arm's first dose target), `t`,
//! covariates, genotypes and params; a state or `let` is refused (E0053) since it is not
//! measured. Visit times are constants; actions are checked for their units (`scale` a plain
//! number, `set dose to` an amount, `delay` and `set interval to` a time, `hold` a whole
//! number of doses).

use super::hir::{self, Aggregate, ExprKind, Type};
use super::{Checker, Scope, consts, error_expr};
use crate::diagnostic::{Diagnostic, codes, did_you_mean};
use crate::source::Span;
use crate::syntax::ast::{self, Action, ArmStmt, RuleCount, VisitTimes};
use crate::units::Unit;

/// Most visits one arm may list (a schedule beyond this is refused before it is built).
pub const MAX_VISITS: usize = 100_000;

/// The verbs of rule actions, for "did you mean".
const VERBS: &[&str] = &[
    "scale", "set", "hold", "delay", "stop", "fit", "give", "switch",
];

impl Checker {
    /// The unit `dose` has in rules of an arm whose first dose goes into `state`.
    fn dose_unit(&self, model: &hir::Model, state: Option<usize>) -> Option<Unit> {
        state.and_then(|s| model.states.get(s)).map(|s| s.unit)
    }

    /// An expression read at a visit (a rule's condition or action value, a visit summary's
    /// condition), `dose` being in `dose_unit`.
    pub(super) fn visit_expr(&mut self, e: &ast::Expr, dose_unit: Option<Unit>) -> hir::Expr {
        let saved = std::mem::replace(&mut self.scope, Scope::Visit(dose_unit));
        let h = self.expr(e);
        self.scope = saved;
        h
    }

    /// The protocol of an arm from its statements (`None` when it has no visit, rule or
    /// limit); `doses` are the arm's checked doses.
    pub(super) fn protocol(
        &mut self,
        body: &[ArmStmt],
        doses: &[hir::Dose],
        model: &hir::Model,
    ) -> Option<hir::Protocol> {
        let stmts: Vec<&ArmStmt> = body
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    ArmStmt::Visit(_) | ArmStmt::Rule(_) | ArmStmt::Limit { .. }
                )
            })
            .collect();
        let first = stmts.first()?;
        let span = match first {
            ArmStmt::Visit(v) => v.span,
            ArmStmt::Rule(r) => r.span,
            ArmStmt::Limit { span, .. } => *span,
            ArmStmt::Dose(d) => d.span,
            ArmStmt::Set { span, .. } => *span,
        };
        if let Some(d) = doses.iter().find(|d| d.steady_state) {
            self.report(
                Diagnostic::error(
                    codes::E0053,
                    "a protocol arm cannot start a dose at steady state",
                    d.span,
                )
                .with_help("rules change the regimen visit by visit; start the doses at time 0 and let the protocol run to steady state"),
            );
        }
        let dose_state = doses.first().map(|d| d.target);
        let dose_unit = self.dose_unit(model, dose_state);
        let mut protocol = hir::Protocol {
            visits: Vec::new(),
            before_each_dose: false,
            after_each_dose: Vec::new(),
            rules: Vec::new(),
            round: None,
            cap: None,
            dose_state: dose_state.unwrap_or(0),
            span,
        };
        for s in stmts {
            match s {
                ArmStmt::Visit(v) => self.visits(v, &mut protocol),
                ArmStmt::Rule(r) => {
                    if let Some(rule) = self.rule(r, dose_unit, doses, model) {
                        protocol.rules.push(rule);
                    }
                }
                ArmStmt::Limit { verb, value, span } => {
                    let Some(u) = dose_unit else {
                        self.report(Diagnostic::error(
                            codes::E0053,
                            format!("`{} dose` needs a dose in the arm", verb.text),
                            *span,
                        ));
                        continue;
                    };
                    let what = format!("`{} dose`", verb.text);
                    let Some(q) = self.const_quantity(value, u, &what) else {
                        continue;
                    };
                    if q <= 0.0 {
                        self.report(Diagnostic::error(
                            codes::E0053,
                            format!("{what} needs a positive amount"),
                            value.span,
                        ));
                        continue;
                    }
                    match verb.text.as_str() {
                        "round" => protocol.round = Some(q),
                        "cap" => protocol.cap = Some(q),
                        other => {
                            let mut d = Diagnostic::error(
                                codes::E0053,
                                format!("`{other} dose` is not a dose limit"),
                                verb.span,
                            )
                            .with_help("limits are `round dose to 0.5 mg` and `cap dose at 15 mg`");
                            if let Some(s) = did_you_mean(other, ["round", "cap"]) {
                                d = d.with_help(format!("did you mean `{s}`?"));
                            }
                            self.report(d);
                        }
                    }
                }
                ArmStmt::Dose(_) | ArmStmt::Set { .. } => {}
            }
        }
        protocol.visits.sort_by(f64::total_cmp);
        protocol.visits.dedup();
        if !protocol.rules.is_empty()
            && protocol.visits.is_empty()
            && !protocol.before_each_dose
            && protocol.after_each_dose.is_empty()
        {
            self.report(
                Diagnostic::warning(
                    codes::W0005,
                    "these rules can never fire: the arm has no visit",
                    protocol.rules[0].span,
                )
                .with_help("rules are applied at visits: add `visit at [1 d, 7 d]`, `visit every 7 d until 12 wk` or `visit before each dose`"),
            );
        }
        Some(protocol)
    }

    /// W0005 for every rule of `trial` that can never fire although its arm has visits: the
    /// arm's visits are all listed ones and all after the last sample, or fewer than the
    /// rule's count (`N times`). (An arm without any visit is reported where it is checked.)
    pub(super) fn rules_that_cannot_fire(&mut self, trial: &hir::Trial) {
        let end = match &trial.sampling {
            Some(hir::Sampling::Every { until, .. }) => Some(*until),
            Some(hir::Sampling::At(ts)) => ts.last().copied(),
            None => None,
        };
        for arm in &trial.arms {
            let Some(p) = &arm.protocol else { continue };
            if p.before_each_dose || !p.after_each_dose.is_empty() || p.visits.is_empty() {
                continue;
            }
            let made = match end {
                Some(e) => p
                    .visits
                    .iter()
                    .filter(|&&t| t <= e + 1e-9 * e.abs().max(1.0))
                    .count(),
                None => p.visits.len(),
            };
            for r in &p.rules {
                let why = if made == 0 {
                    "every visit of this arm is after the end of the simulation (its last sample)"
                        .to_string()
                } else if (r.count as usize) > made {
                    format!(
                        "this rule needs {} visits where its condition holds, and the arm makes {made}",
                        r.count
                    )
                } else {
                    continue;
                };
                self.report(
                    Diagnostic::warning(
                        codes::W0005,
                        format!("this rule can never fire: {why}"),
                        r.span,
                    )
                    .with_help("add visits, or sample longer (`sample every … until …`)"),
                );
            }
        }
    }

    /// A constant quantity converted to `unit`.
    fn const_quantity(&mut self, e: &ast::Expr, unit: Unit, what: &str) -> Option<f64> {
        let saved = std::mem::replace(&mut self.scope, Scope::Const);
        let h = self.expr(e);
        self.scope = saved;
        let h = self.coerce(h, unit, codes::E0053, what);
        if h.ty == Type::Error {
            return None;
        }
        let v = consts::eval(&h);
        if v.is_none() {
            self.report(Diagnostic::error(
                codes::E0053,
                format!("{what} must be a constant"),
                e.span,
            ));
        }
        v.filter(|v| v.is_finite())
    }

    /// Adds a `visit` statement's times to `p`.
    fn visits(&mut self, v: &ast::Visit, p: &mut hir::Protocol) {
        let too_many = |ck: &mut Checker, span: Span| {
            ck.report(
                Diagnostic::error(
                    codes::E0053,
                    format!("a visit schedule lists more than {MAX_VISITS} visits"),
                    span,
                )
                .with_help("use a longer step"),
            );
        };
        let every = |ck: &mut Checker, from: f64, step: &ast::Expr, until: &ast::Expr| {
            let mut out = Vec::new();
            let (Some(st), Some(un)) = (
                ck.const_time(step, "a visit step"),
                ck.const_time(until, "the last visit"),
            ) else {
                return out;
            };
            if st <= 0.0 {
                ck.report(Diagnostic::error(
                    codes::E0053,
                    "visits need a positive step",
                    step.span,
                ));
                return out;
            }
            if (un - from) / st > MAX_VISITS as f64 {
                too_many(ck, v.span);
                return out;
            }
            let mut k = 1.0;
            while from + k * st <= un + 1e-9 * un.abs().max(1.0) {
                out.push(from + k * st);
                k += 1.0;
            }
            out
        };
        match &v.times {
            VisitTimes::At { times, then } => {
                if times.len() > MAX_VISITS {
                    too_many(self, v.span);
                    return;
                }
                let mut last = 0.0f64;
                for t in times {
                    if let Some(x) = self.const_time(t, "a visit time") {
                        if x < 0.0 {
                            self.report(Diagnostic::error(
                                codes::E0053,
                                "a visit time cannot be negative",
                                t.span,
                            ));
                            continue;
                        }
                        p.visits.push(x);
                        last = last.max(x);
                    }
                }
                if let Some((_, step, until)) = then {
                    let more = every(self, last, step, until);
                    p.visits.extend(more);
                }
            }
            VisitTimes::Every { step, until } => {
                let more = every(self, 0.0, step, until);
                p.visits.extend(more);
            }
            VisitTimes::BeforeEachDose { words } => {
                if self.schedule_words(words, "before", "visit before each dose", v.span) {
                    p.before_each_dose = true;
                }
            }
            VisitTimes::AfterEachDose { offset, words } => {
                if !self.schedule_words(words, "after", "visit 7 d after each dose", v.span) {
                    return;
                }
                if let Some(x) = self.const_time(offset, "the time of a visit after each dose") {
                    if x <= 0.0 {
                        self.report(Diagnostic::error(
                            codes::E0053,
                            "a visit after each dose needs a positive time",
                            offset.span,
                        ));
                        return;
                    }
                    p.after_each_dose.push(x);
                }
            }
        }
    }

    /// Whether the two words of a dose-relative visit are `WORD each` (else E0053, with the
    /// statement as it should be written in `example`).
    fn schedule_words(
        &mut self,
        words: &(ast::Name, ast::Name),
        word: &str,
        example: &str,
        span: Span,
    ) -> bool {
        if words.0.text == word && words.1.text == "each" {
            return true;
        }
        self.report(
            Diagnostic::error(
                codes::E0053,
                format!(
                    "`{} {} dose` is not a visit schedule",
                    words.0.text, words.1.text
                ),
                span,
            )
            .with_help(format!("write `{example}`")),
        );
        false
    }

    /// A checked `when` rule.
    fn rule(
        &mut self,
        r: &ast::Rule,
        dose_unit: Option<Unit>,
        doses: &[hir::Dose],
        model: &hir::Model,
    ) -> Option<hir::Rule> {
        let cond = self.visit_expr(&r.condition, dose_unit);
        let cond = self.expect_bool(cond);
        let count = match &r.count {
            None => 1,
            Some(RuleCount::Twice(_)) => 2,
            Some(RuleCount::Times(n)) => match n.text.parse::<f64>() {
                Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= 1e6 => v as u32,
                _ => {
                    self.report(Diagnostic::error(
                        codes::E0053,
                        "a rule's count is a whole number of visits, at least 1",
                        n.span,
                    ));
                    return None;
                }
            },
        };
        let mut actions = Vec::new();
        let mut ok = cond.ty != Type::Error;
        for a in &r.actions {
            match self.action(a, dose_unit, doses, model) {
                Some(x) => actions.push(x),
                None => ok = false,
            }
        }
        if actions.is_empty() && ok {
            self.report(
                Diagnostic::error(codes::E0053, "this rule does nothing", r.span)
                    .with_help("give it an action: `scale dose by 0.85`, `set dose to 5 mg`, `hold 1 dose`, `delay 7 d`, `set interval to 48 h` or `stop \"reason\"`"),
            );
            ok = false;
        }
        let stop = actions
            .iter()
            .position(|a| matches!(a, hir::Action::Stop(_)));
        if let Some(k) = stop
            && k + 1 < actions.len()
        {
            self.report(Diagnostic::error(
                codes::E0053,
                "nothing can follow `stop` in a rule",
                r.actions[k + 1].span(),
            ));
            ok = false;
        }
        ok.then_some(hir::Rule {
            condition: cond,
            count,
            actions,
            span: r.span,
        })
    }

    /// `fit dose so SUMMARY == TARGET`: the summary is an endpoint aggregate of the time course
    /// over an explicit window (`auc`, `mean`, `max`, `min` with `from … to …`; `value` or
    /// `trough` at a time), the target a constant in its unit.
    fn fit_goal(&mut self, goal: &ast::Expr, model: &hir::Model) -> Option<hir::Action> {
        let bad = |ck: &mut Checker, msg: &str| {
            ck.report(
                Diagnostic::error(codes::E0053, msg.to_string(), goal.span).with_help(
                    "e.g. `fit dose so auc(conc, from 144 h to 168 h) == 500 mg*h/L` or `fit dose so trough(conc, 96 h) == 15 mg/L`",
                ),
            );
            None
        };
        let ast::ExprKind::Binary(ast::BinOp::Eq, lhs, rhs) = &goal.kind else {
            return bad(self, "`fit dose so` needs a goal `SUMMARY == TARGET`");
        };
        if model.effects.iter().all(|e| e.per_occasion) {
            return bad(
                self,
                "`fit dose so` estimates the patient's random effects, and the model has none (`vary`)",
            );
        }
        if !model
            .observables
            .iter()
            .any(|o| o.error.additive > 0.0 || o.error.proportional > 0.0)
        {
            return bad(
                self,
                "`fit dose so` fits measured observables, and no observable has a residual error model (`observe x ~ proportional(…)`)",
            );
        }
        let saved = std::mem::replace(&mut self.scope, Scope::Endpoint);
        let summary = self.expr(lhs);
        self.scope = saved;
        let (kind, from, to) = match &summary.kind {
            ExprKind::Aggregate { kind, from, to, .. } => (*kind, *from, *to),
            ExprKind::Error => return None,
            _ => {
                return bad(
                    self,
                    "the goal of `fit dose so` is one summary of the time course",
                );
            }
        };
        let windowed = matches!(
            kind,
            Aggregate::Auc | Aggregate::Mean | Aggregate::Max | Aggregate::Min
        );
        let at_time = matches!(kind, Aggregate::Value | Aggregate::Trough);
        if !(windowed && from.is_some() && to.is_some() || at_time) {
            return bad(
                self,
                "the goal of `fit dose so` is `auc`, `mean`, `max` or `min` over an explicit window (`from A to B`), or `value`/`trough` at a time",
            );
        }
        let Type::Num(unit) = summary.ty else {
            return None;
        };
        let target = self.const_quantity(rhs, unit, "the target of `fit dose so`")?;
        if target <= 0.0 {
            return bad(self, "the target of `fit dose so` must be positive");
        }
        let k = self.trial_goals.len();
        self.trial_goals.push(hir::Endpoint {
            name: format!("#goal{k}"),
            value: summary,
            span: goal.span,
        });
        Some(hir::Action::FitDose { goal: k, target })
    }

    /// A checked action.
    fn action(
        &mut self,
        a: &Action,
        dose_unit: Option<Unit>,
        doses: &[hir::Dose],
        model: &hir::Model,
    ) -> Option<hir::Action> {
        let verb = a.verb();
        let unknown = |ck: &mut Checker| {
            let mut d = Diagnostic::error(
                codes::E0053,
                format!("`{}` is not an action", verb.text),
                a.span(),
            )
            .with_help("actions are `scale dose by 0.85`, `set dose to 5 mg`, `set interval to 48 h`, `hold 1 dose`, `delay 7 d` and `stop \"reason\"`");
            if let Some(s) = did_you_mean(&verb.text, VERBS.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            ck.report(d);
            None
        };
        let needs_dose = |ck: &mut Checker| {
            ck.report(Diagnostic::error(
                codes::E0053,
                format!("`{}` needs a dose in the arm", verb.text),
                a.span(),
            ));
            None
        };
        match a {
            Action::Dose {
                by: true, value, ..
            } if verb.text == "scale" => {
                dose_unit?;
                let h = self.visit_expr(value, dose_unit);
                let h = self.dimensionless(h, "a dose factor");
                (h.ty != Type::Error).then_some(hir::Action::Scale(h))
            }
            Action::Dose {
                by: false, value, ..
            } if verb.text == "set" => {
                let Some(u) = dose_unit else {
                    return needs_dose(self);
                };
                let units: Vec<_> = doses
                    .iter()
                    .filter_map(|d| model.states.get(d.target).map(|s| s.unit))
                    .collect();
                if units.iter().any(|x| x.dim != u.dim) {
                    self.report(
                        Diagnostic::error(
                            codes::E0053,
                            "`set dose to` needs every dose of the arm in one kind of amount",
                            a.span(),
                        )
                        .with_help(
                            "use `scale dose by` to change doses of different kinds together",
                        ),
                    );
                    return None;
                }
                let h = self.visit_expr(value, dose_unit);
                let h = self.coerce(h, u, codes::E0053, "a dose");
                (h.ty != Type::Error).then_some(hir::Action::SetDose(h))
            }
            Action::Set { object, value, .. } if verb.text == "set" => {
                if object.text != "interval" {
                    self.report(
                        Diagnostic::error(
                            codes::E0053,
                            format!("`set {}` is not an action", object.text),
                            object.span,
                        )
                        .with_help("`set dose to 5 mg` or `set interval to 48 h`"),
                    );
                    return None;
                }
                if dose_unit.is_none() {
                    return needs_dose(self);
                }
                let h = self.visit_expr(value, dose_unit);
                let h = self.coerce(h, self.hour, codes::E0053, "a dosing interval");
                (h.ty != Type::Error).then_some(hir::Action::SetInterval(h))
            }
            Action::Quantity {
                value, dose_word, ..
            } if verb.text == "hold" => {
                if dose_unit.is_none() {
                    return needs_dose(self);
                }
                // `hold 2 doses`: the word is read as the number's unit by the lexer.
                let n = match &value.kind {
                    ast::ExprKind::Number {
                        value: v,
                        unit: Some(u),
                    } if !*dose_word && matches!(unit_name(u).as_str(), "dose" | "doses") => {
                        v.text.parse::<f64>().ok()
                    }
                    _ => self.const_number(value, "the number of doses held"),
                }?;
                if n < 1.0 || n.fract() != 0.0 || n > 1e6 {
                    self.report(Diagnostic::error(
                        codes::E0053,
                        "`hold` takes a whole number of doses, at least 1",
                        value.span,
                    ));
                    return None;
                }
                Some(hir::Action::Hold(n as u32))
            }
            Action::Quantity {
                value, dose_word, ..
            } if verb.text == "delay" => {
                if *dose_word {
                    return unknown(self);
                }
                if dose_unit.is_none() {
                    return needs_dose(self);
                }
                let h = self.visit_expr(value, dose_unit);
                let h = self.coerce(h, self.hour, codes::E0053, "a delay");
                (h.ty != Type::Error).then_some(hir::Action::Delay(h))
            }
            Action::Goal { goal, .. } if verb.text == "fit" => self.fit_goal(goal, model),
            Action::Switch { target, .. } if verb.text == "switch" => {
                match self.trial_arms.iter().position(|a| *a == target.text) {
                    Some(k) => Some(hir::Action::Switch(k)),
                    None => {
                        let mut d = Diagnostic::error(
                            codes::E0053,
                            format!("no arm `{}` to switch to", target.text),
                            target.span,
                        );
                        if let Some(s) =
                            did_you_mean(&target.text, self.trial_arms.iter().map(String::as_str))
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        self.report(d);
                        None
                    }
                }
            }
            Action::Quantity {
                value,
                dose_word: false,
                ..
            } if verb.text == "give" => {
                let Some(u) = dose_unit else {
                    return needs_dose(self);
                };
                let h = self.visit_expr(value, dose_unit);
                let h = self.coerce(h, u, codes::E0053, "an extra dose");
                (h.ty != Type::Error).then_some(hir::Action::Give(h))
            }
            Action::Word { reason, .. } if verb.text == "stop" => Some(hir::Action::Stop(
                reason
                    .as_ref()
                    .map_or_else(|| "stopped by a rule".to_string(), |r| r.text.clone()),
            )),
            _ => unknown(self),
        }
    }
}

impl Checker {
    /// A protocol summary in an endpoint: `fraction_of_visits(cond)`, `first_visit(cond)`,
    /// `dose_changes()`, `final_dose()`, `total_dose()`, `relative_dose_intensity()`,
    /// `discontinued()`, `discontinued("reason")`.
    pub(super) fn protocol_aggregate(&mut self, agg: Aggregate, c: &ast::Call) -> hir::Expr {
        let span = c.span;
        let error = |ck: &mut Checker, msg: String, help: &str| {
            ck.report(Diagnostic::error(codes::E0013, msg, span).with_help(help.to_string()));
            hir::Expr {
                kind: ExprKind::Error,
                ty: Type::Error,
                span,
            }
        };
        if let Some(a) = c.args.iter().find(|a| a.name.is_some()) {
            let n = a.name.as_ref().map_or(span, |n| n.span);
            self.report(Diagnostic::error(
                codes::E0013,
                format!("`{}` takes no named arguments", agg.name()),
                n,
            ));
            return error_expr(span);
        }
        let mk = |kind: Aggregate, args: Vec<hir::Expr>, ty: Type| hir::Expr {
            kind: ExprKind::Aggregate {
                kind,
                args,
                from: None,
                to: None,
            },
            ty,
            span,
        };
        match agg {
            Aggregate::FractionOfVisits | Aggregate::FirstVisit => {
                let [arg] = c.args.as_slice() else {
                    return error(
                        self,
                        format!("`{}` takes one condition", agg.name()),
                        "e.g. `fraction_of_visits(inr >= 2 and inr <= 3)`",
                    );
                };
                let h = self.visit_expr(&arg.value, self.trial_dose_unit);
                let h = self.expect_bool(h);
                if h.ty == Type::Error {
                    return error_expr(span);
                }
                let ty = if agg == Aggregate::FirstVisit {
                    Type::Num(self.hour)
                } else {
                    Type::Num(Unit::ONE)
                };
                mk(agg, vec![h], ty)
            }
            Aggregate::Discontinued => match c.args.as_slice() {
                [] => mk(agg, Vec::new(), Type::Bool),
                [a] => {
                    let ast::ExprKind::Str(why) = &a.value.kind else {
                        return error(
                            self,
                            "`discontinued` takes the reason as a string".into(),
                            "e.g. `discontinued(\"grade 4 neutropenia\")`",
                        );
                    };
                    match self.stop_reasons.iter().position(|r| r == why) {
                        Some(k) => {
                            let idx = hir::Expr {
                                kind: ExprKind::Const(k as f64),
                                ty: Type::Num(Unit::ONE),
                                span: a.value.span,
                            };
                            mk(agg, vec![idx], Type::Bool)
                        }
                        None => {
                            let mut d = Diagnostic::error(
                                codes::E0053,
                                format!("no rule of this trial stops with \"{why}\""),
                                a.value.span,
                            );
                            if let Some(s) =
                                did_you_mean(why, self.stop_reasons.iter().map(String::as_str))
                            {
                                d = d.with_help(format!("did you mean \"{s}\"?"));
                            } else if !self.stop_reasons.is_empty() {
                                d = d.with_help(format!(
                                    "the reasons are {}",
                                    self.stop_reasons
                                        .iter()
                                        .map(|r| format!("\"{r}\""))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ));
                            }
                            self.report(d);
                            error_expr(span)
                        }
                    }
                }
                _ => error(
                    self,
                    "`discontinued` takes at most one reason".into(),
                    "`discontinued()` or `discontinued(\"reason\")`",
                ),
            },
            _ => {
                if !c.args.is_empty() {
                    return error(
                        self,
                        format!("`{}` takes no arguments", agg.name()),
                        &format!("write `{}()`", agg.name()),
                    );
                }
                let ty = match agg {
                    Aggregate::FinalDose | Aggregate::TotalDose => match self.trial_dose_unit {
                        Some(u) => Type::Num(u),
                        None => {
                            return error(
                                self,
                                format!("`{}` needs an arm with a dose", agg.name()),
                                "give the trial's first arm a `dose`",
                            );
                        }
                    },
                    _ => Type::Num(Unit::ONE),
                };
                mk(agg, Vec::new(), ty)
            }
        }
    }
}

/// The text of a number's unit suffix.
fn unit_name(u: &ast::UnitExpr) -> String {
    match u {
        ast::UnitExpr::Named(n) => n.text.clone(),
        _ => String::new(),
    }
}
