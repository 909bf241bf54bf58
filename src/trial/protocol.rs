//! Protocol arms at run time: the plan of administrations, the visits, the measurements and the
//! rules that change the plan — and the [`Course`] of what happened, which protocol endpoints,
//! `patients.csv`, `doses.csv` and `visits.csv` report.
//!
//! Conventions (the guide's "Protocols" section states them for users):
//! - **The plan.** An arm's doses are expanded to single administrations up to the end of the
//!   simulation; `round dose to Q` and `cap dose at Q` apply to every planned amount into the
//!   first dose's state, at the start and after every change.
//! - **Visits.** At a visit at `t` every observable is *measured*: its value just before any
//!   dose at `t` (the pre-dose trough: the solver's left limit) plus residual error from the
//!   observable's `observe … ~` model, drawn from the patient's own stream
//!   ([`Purpose::Measurement`], sub-stream = arm), two normal deviates per observable per visit
//!   in declaration order — so the draws do not depend on threads, shards or other arms.
//! - **Rules.** Every rule's condition is evaluated on the same measurements, with `dose` the
//!   amount of the next planned administration into the first dose's state (at or after `t`;
//!   else the last one given; 0 if none). A rule's count grows at every visit where its
//!   condition holds; it fires when the condition holds and the count has reached its `twice`/
//!   `N times` (1 by default). The actions of every firing rule are applied in rule order to the
//!   administrations planned at or after `t` (so a dose at the visit's time is already the new
//!   one). After `stop`, visits are still measured but no rule fires.
//! - **Dose changes** count the visits after which the next planned amount differs from before.
//! - **Relative dose intensity** is the delivered dose intensity over the planned one, each the
//!   total amount divided by the time from the first planned administration to the last
//!   administration plus the planned dosing interval (the gap between the last two planned
//!   administration times; with one planned administration the intensity is the amount).

use super::evaluator::Evaluator;
use super::mipd::{self, Mipd};
use super::population;
use super::rng::{Purpose, Stream};
use crate::check::hir;
use crate::sim::PreparedModel;
use crate::solve::driver::same_time;
use crate::solve::{Control, Dose, DoseKind, Regimen, Repeat, SolveOptions};

/// One administration of a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Administration {
    /// Nominal time, h (before the dose record's own lag).
    pub time: f64,
    /// The dose as the solver gives it (its time includes the record's lag).
    pub dose: Dose,
}

/// One visit of a protocol arm.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    /// When, h.
    pub time: f64,
    /// Every observable as measured (model value plus residual error).
    pub measured: Vec<f64>,
    /// `dose` at the visit (before the rules).
    pub dose: f64,
    /// The indices of the rules that fired.
    pub fired: Vec<usize>,
    /// The value (1/0) of every visit summary's condition.
    pub summaries: Vec<f64>,
    /// What a `fit dose so` action found (the estimate and the new amount), or why it changed
    /// nothing.
    pub note: Option<String>,
}

/// What happened to one patient in one arm: the plan at the start, the administrations given
/// within the simulation, the visits and the discontinuation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Course {
    /// The administrations planned at the start.
    pub planned: Vec<Administration>,
    /// The administrations given (nominal time within the simulation).
    pub given: Vec<Administration>,
    /// The visits, in time order.
    pub visits: Vec<Visit>,
    /// Visits after which the next planned amount changed.
    pub dose_changes: u32,
    /// When the protocol stopped the treatment, and why.
    pub stop: Option<(f64, String)>,
    /// The state `dose`, `final_dose` and `total_dose` refer to.
    pub dose_state: u32,
}

/// The single administrations of `regimen` (from `arm`'s doses, in order) up to `end` (h).
pub fn plan(arm: &hir::Arm, regimen: &Regimen, end: f64) -> Vec<Administration> {
    let mut out = Vec::new();
    for (k, d) in regimen.doses.iter().enumerate() {
        let lag = arm.doses.get(k).map_or(0.0, |h| h.lag);
        let first = d.time - lag;
        let times: Vec<f64> = match d.repeat {
            Repeat::Once => vec![first],
            Repeat::Additional { interval, count } => (0..=count)
                .map(|i| first + f64::from(i) * interval)
                .collect(),
            Repeat::Until { interval, until } => {
                let mut v = Vec::new();
                let mut i = 0.0;
                while d.time + i * interval <= until + 1e-9 * until.abs().max(1.0)
                    && first + i * interval <= end
                {
                    v.push(first + i * interval);
                    i += 1.0;
                }
                v
            }
        };
        for t in times {
            if t > end && !same_time(t, end) {
                break;
            }
            out.push(Administration {
                time: t,
                dose: Dose {
                    time: t + lag,
                    repeat: Repeat::Once,
                    ..*d
                },
            });
        }
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    out
}

/// The solver regimen of a plan.
pub fn regimen(plan: &[Administration]) -> Regimen {
    Regimen {
        doses: plan.iter().map(|a| a.dose).collect(),
    }
}

/// The course of an arm without a protocol: the plan, all given.
pub fn fixed_course(plan: Vec<Administration>, dose_state: u32) -> Course {
    Course {
        given: plan.clone(),
        planned: plan,
        dose_state,
        ..Course::default()
    }
}

/// Sets an administration's amount, keeping an infusion's duration.
fn set_amount(a: &mut Administration, amount: f64) {
    if let DoseKind::Rate(rate) = &mut a.dose.kind
        && a.dose.amount > 0.0
    {
        *rate *= amount / a.dose.amount;
    }
    a.dose.amount = amount;
}

/// What a protocol's `fit dose so` actions need ([`super::mipd`]).
#[derive(Clone, Copy)]
pub struct MipdRun<'a> {
    /// The estimation model and prior.
    pub mipd: &'a Mipd,
    /// The trial's model, whose goal aggregates follow the endpoints' (from `goal_base` on).
    pub model: &'a PreparedModel,
    /// The trial's dense grid.
    pub grid: &'a [f64],
    /// Solver options.
    pub options: &'a SolveOptions,
    /// Index of the first goal aggregate in the model's aggregates.
    pub goal_base: usize,
}

/// A protocol running for one patient in one arm: the [`Control`] of its solve.
pub struct Protocol<'a> {
    protocol: &'a hir::Protocol,
    mipd: Option<MipdRun<'a>>,
    inputs: Vec<f64>,
    /// The plans of the arms `switch to` may name, for this patient.
    switches: Vec<(usize, Vec<Administration>)>,
    evaluator: &'a Evaluator,
    observables: &'a [hir::Observable],
    arm: usize,
    params: &'a [f64],
    stream: Stream,
    plan: Vec<Administration>,
    counts: Vec<u32>,
    course: Course,
    args: Vec<f64>,
    out: Vec<f64>,
    n_inputs: usize,
    end: f64,
    /// The first evaluation error (a patient whose rules cannot be evaluated fails).
    pub error: Option<String>,
}

impl<'a> Protocol<'a> {
    /// A protocol for the patient with `inputs` and `params` in arm `arm`, starting from `plan`;
    /// visits up to `end` (h).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        protocol: &'a hir::Protocol,
        evaluator: &'a Evaluator,
        observables: &'a [hir::Observable],
        arm: usize,
        inputs: &[f64],
        params: &'a [f64],
        plan: Vec<Administration>,
        (seed, id): (u64, u64),
        end: f64,
        mipd: Option<MipdRun<'a>>,
    ) -> Protocol<'a> {
        let n_obs = observables.len();
        let mut args = inputs.to_vec();
        let n_inputs = args.len();
        args.resize(n_inputs + n_obs + 3, 0.0);
        let mut p = Protocol {
            protocol,
            mipd,
            inputs: inputs.to_vec(),
            switches: Vec::new(),
            evaluator,
            observables,
            arm,
            params,
            stream: Stream::substream(seed, id, Purpose::Measurement, arm as u16),
            plan,
            counts: vec![0; protocol.rules.len()],
            course: Course {
                dose_state: protocol.dose_state as u32,
                ..Course::default()
            },
            out: vec![0.0; evaluator.n_visit_values(arm)],
            args,
            n_inputs,
            end,
            error: None,
        };
        p.limit_from(f64::NEG_INFINITY);
        p.course.planned = p.plan.clone();
        p
    }

    /// The arms `switch to` actions of the protocol name.
    pub fn switch_targets(protocol: &hir::Protocol) -> Vec<usize> {
        let mut v: Vec<usize> = protocol
            .rules
            .iter()
            .flat_map(|r| &r.actions)
            .filter_map(|a| match a {
                hir::Action::Switch(k) => Some(*k),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Gives the protocol the plan of arm `arm` for this patient, for `switch to`.
    pub fn with_switch(mut self, arm: usize, plan: Vec<Administration>) -> Self {
        self.switches.push((arm, plan));
        self
    }

    /// The regimen of the current plan.
    pub fn regimen(&self) -> Regimen {
        regimen(&self.plan)
    }

    /// The course so far; the administrations given are those of the plan within the
    /// simulation.
    pub fn finish(mut self) -> Course {
        let end = self.end;
        self.course.given = self
            .plan
            .into_iter()
            .filter(|a| a.time <= end || same_time(a.time, end))
            .collect();
        self.course
    }

    fn future(a: &Administration, t: f64) -> bool {
        a.time > t || same_time(a.time, t)
    }

    /// `dose` at `t`: the next planned amount into the dose state (else the last given; else 0).
    fn dose_at(&self, t: f64) -> f64 {
        let s = self.protocol.dose_state as u32;
        let into = |a: &&Administration| a.dose.target == s;
        self.plan
            .iter()
            .filter(into)
            .find(|a| Self::future(a, t))
            .or_else(|| self.plan.iter().filter(into).rev().find(|a| a.time < t))
            .map_or(0.0, |a| a.dose.amount)
    }

    /// `since_dose` at `t`: the time since the last administration into the dose state before
    /// `t` (a dose at `t` is not given yet when the visit measures); infinite if none.
    fn since_dose(&self, t: f64) -> f64 {
        let s = self.protocol.dose_state as u32;
        self.plan
            .iter()
            .rev()
            .find(|a| a.dose.target == s && a.time < t && !same_time(a.time, t))
            .map_or(f64::INFINITY, |a| t - a.time)
    }

    /// Applies `round` and `cap` to every planned amount into the dose state from `t` on.
    fn limit_from(&mut self, t: f64) {
        let (round, cap) = (self.protocol.round, self.protocol.cap);
        if round.is_none() && cap.is_none() {
            return;
        }
        let s = self.protocol.dose_state as u32;
        for a in self
            .plan
            .iter_mut()
            .filter(|a| a.dose.target == s && Self::future(a, t))
        {
            let mut x = a.dose.amount;
            if let Some(q) = round {
                x = (x / q).round() * q;
            }
            if let Some(c) = cap {
                x = x.min(c);
            }
            set_amount(a, x);
        }
    }

    /// Applies one action at visit time `t`; `value` is its evaluated value, if it has one.
    fn apply(&mut self, t: f64, action: &hir::Action, value: f64) {
        let future = |a: &Administration| Self::future(a, t);
        match action {
            hir::Action::Scale(_) | hir::Action::SetDose(_) => {
                let scale = matches!(action, hir::Action::Scale(_));
                let new = |a: &Administration| if scale { a.dose.amount * value } else { value };
                // A measurement can make a rule ask for an amount that is not a dose (a negative
                // trough with additive error, a division by zero): the plan is kept, and the
                // visit says why.
                if let Some(bad) = self
                    .plan
                    .iter()
                    .filter(|a| future(a))
                    .map(new)
                    .find(|x| !x.is_finite() || *x < 0.0)
                {
                    if let Some(v) = self.course.visits.last_mut() {
                        v.note = Some(format!(
                            "the rule asked for an amount of {bad}, not a dose; the plan is unchanged"
                        ));
                    }
                    return;
                }
                for a in self.plan.iter_mut().filter(|a| future(a)) {
                    let x = new(a);
                    set_amount(a, x);
                }
            }
            hir::Action::Switch(arm) => {
                let Some((_, other)) = self.switches.iter().find(|(a, _)| a == arm) else {
                    return;
                };
                let next: Vec<Administration> =
                    other.iter().filter(|a| future(a)).copied().collect();
                self.plan.retain(|a| !future(a));
                self.plan.extend(next);
            }
            hir::Action::Give(_) => {
                let s = self.protocol.dose_state as u32;
                let like = self
                    .plan
                    .iter()
                    .filter(|a| a.dose.target == s)
                    .find(|a| future(a))
                    .or_else(|| self.plan.iter().rev().find(|a| a.dose.target == s))
                    .copied();
                match like {
                    Some(mut a) if value.is_finite() && value > 0.0 => {
                        let lag = a.dose.time - a.time;
                        a.time = t;
                        a.dose.time = t + lag;
                        set_amount(&mut a, value);
                        self.plan.push(a);
                    }
                    _ => {
                        if let Some(v) = self.course.visits.last_mut() {
                            v.note = Some(format!(
                                "the rule asked to give {value}, not a dose; nothing was given"
                            ));
                        }
                    }
                }
            }
            hir::Action::Hold(n) => {
                let mut times: Vec<f64> = Vec::new();
                for a in self.plan.iter().filter(|a| future(a)) {
                    if !times.last().is_some_and(|&l| same_time(l, a.time)) {
                        times.push(a.time);
                    }
                }
                let held: Vec<f64> = times.into_iter().take(*n as usize).collect();
                self.plan
                    .retain(|a| !held.iter().any(|&h| same_time(h, a.time)));
            }
            hir::Action::Delay(_) => {
                if value.is_finite() && value > 0.0 {
                    for a in self.plan.iter_mut().filter(|a| future(a)) {
                        a.time += value;
                        a.dose.time += value;
                    }
                }
            }
            hir::Action::SetInterval(_) => {
                if !(value.is_finite() && value > 0.0) {
                    return;
                }
                let Some(first) = self.plan.iter().find(|a| future(a)).map(|a| a.time) else {
                    return;
                };
                let last = self
                    .plan
                    .iter()
                    .filter(|a| future(a))
                    .map(|a| a.time)
                    .fold(first, f64::max);
                let template: Vec<Administration> = self
                    .plan
                    .iter()
                    .filter(|a| same_time(a.time, first))
                    .copied()
                    .collect();
                self.plan.retain(|a| !future(a));
                let mut k = 0.0;
                while first + k * value <= last + 1e-9 * last.abs().max(1.0) {
                    let shift = k * value;
                    self.plan.extend(template.iter().map(|a| {
                        let mut b = *a;
                        b.time += shift;
                        b.dose.time += shift;
                        b
                    }));
                    k += 1.0;
                }
            }
            hir::Action::Stop(reason) => {
                self.plan.retain(|a| !future(a));
                self.course.stop = Some((t, reason.clone()));
            }
            hir::Action::FitDose { goal, target } => {
                let note = match self.fit_dose(t, *goal, *target) {
                    Ok(x) => {
                        for a in self.plan.iter_mut().filter(|a| future(a)) {
                            set_amount(a, x.1);
                        }
                        x.0
                    }
                    Err(e) => format!("fit dose: {e}; the plan is unchanged"),
                };
                if let Some(v) = self.course.visits.last_mut() {
                    v.note = Some(note);
                }
            }
        }
        self.plan.sort_by(|a, b| a.time.total_cmp(&b.time));
    }
}

impl Protocol<'_> {
    /// `fit dose so GOAL == TARGET` at `t`: the note (estimate and amount) and the amount.
    fn fit_dose(&self, t: f64, goal: usize, target: f64) -> Result<(String, f64), String> {
        let run = self
            .mipd
            .ok_or_else(|| "no estimation model was prepared".to_string())?;
        if !self.plan.iter().any(|a| Self::future(a, t)) {
            return Err("no dose left to set".into());
        }
        let visits: Vec<(f64, &[f64])> = self
            .course
            .visits
            .iter()
            .map(|v| (v.time, v.measured.as_slice()))
            .collect();
        let eta = run.mipd.estimate(
            &self.inputs,
            &regimen(&self.plan),
            &visits,
            self.observables,
        )?;
        let inputs = run.mipd.with_estimate(&self.inputs, &eta);
        let slot = run.goal_base + goal;
        let x0 = self.dose_at(t);
        let x = mipd::solve_amount(x0, target, |x| {
            let mut plan = self.plan.clone();
            for a in plan.iter_mut().filter(|a| Self::future(a, t)) {
                set_amount(a, x);
            }
            mipd::goal_value(
                run.model,
                &inputs,
                &regimen(&plan),
                run.grid,
                run.options,
                slot,
            )
        })?;
        let eta: Vec<String> = eta.iter().map(|v| format!("{v:.6}")).collect();
        Ok((format!("eta = [{}]; dose {x}", eta.join(" ")), x))
    }
}

impl Control for Protocol<'_> {
    fn next_visit(&self, after: f64) -> Option<f64> {
        let later = |t: f64| t >= 0.0 && t > after && !same_time(t, after);
        let listed = self.protocol.visits.iter().copied().find(|&t| later(t));
        let dosed = if self.protocol.before_each_dose {
            self.plan.iter().map(|a| a.time).find(|&t| later(t))
        } else {
            None
        };
        let after = self
            .protocol
            .after_each_dose
            .iter()
            .flat_map(|&off| self.plan.iter().map(move |a| a.time + off))
            .filter(|&t| later(t))
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))));
        [listed, dosed, after]
            .into_iter()
            .flatten()
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))))
    }

    fn visit(&mut self, t: f64, _states: &[f64], observables: &[f64]) -> Option<Regimen> {
        let n_obs = self.observables.len();
        let mut measured = Vec::with_capacity(n_obs);
        for (o, &v) in self.observables.iter().zip(observables) {
            measured.push(population::residual(&o.error, v, &mut self.stream));
        }
        let dose = self.dose_at(t);
        let base = self.n_inputs;
        self.args[base..base + n_obs].copy_from_slice(&measured);
        self.args[base + n_obs] = dose;
        self.args[base + n_obs + 1] = t;
        self.args[base + n_obs + 2] = self.since_dose(t);
        if let Err(e) = self
            .evaluator
            .visit(self.arm, &self.args, self.params, &mut self.out)
        {
            self.error.get_or_insert(e.to_string());
            return None;
        }
        let n_s = self.evaluator.n_visit_summaries();
        let summaries = self.out.get(..n_s).map(<[f64]>::to_vec).unwrap_or_default();
        let mut fired = Vec::new();
        let protocol = self.protocol;
        let mut actions: Vec<(&hir::Action, f64)> = Vec::new();
        if self.course.stop.is_none() {
            let mut k = n_s;
            for (r, rule) in protocol.rules.iter().enumerate() {
                let c = self.out.get(k).copied().unwrap_or(f64::NAN);
                let holds = c != 0.0 && !c.is_nan();
                k += 1;
                if holds {
                    self.counts[r] += 1;
                }
                let fires = holds && self.counts[r] >= rule.count;
                for a in &rule.actions {
                    let v = match a {
                        hir::Action::Hold(_)
                        | hir::Action::Stop(_)
                        | hir::Action::Switch(_)
                        | hir::Action::FitDose { .. } => 0.0,
                        hir::Action::Scale(_)
                        | hir::Action::SetDose(_)
                        | hir::Action::SetInterval(_)
                        | hir::Action::Give(_)
                        | hir::Action::Delay(_) => {
                            k += 1;
                            self.out.get(k - 1).copied().unwrap_or(f64::NAN)
                        }
                    };
                    if fires {
                        actions.push((a, v));
                    }
                }
                if fires {
                    fired.push(r);
                }
            }
        }
        let changed = !actions.is_empty();
        self.course.visits.push(Visit {
            time: t,
            measured,
            dose,
            fired,
            summaries,
            note: None,
        });
        for (a, v) in actions {
            self.apply(t, a, v);
            if self.course.stop.is_some() {
                break;
            }
        }
        if changed {
            self.limit_from(t);
            if self.course.stop.is_none() && self.dose_at(t) != dose {
                self.course.dose_changes += 1;
            }
        }
        changed.then(|| self.regimen())
    }
}

/// The value of protocol aggregate `kind` for `course`; `summary` is its index among the visit
/// summaries (`fraction_of_visits`, `first_visit`), `reason` the stop reason it asks about, `end`
/// the end of the simulation (h).
pub fn aggregate(
    kind: hir::Aggregate,
    course: &Course,
    summary: usize,
    reason: Option<&str>,
    end: f64,
) -> f64 {
    use hir::Aggregate as A;
    let s = course.dose_state;
    let into = |a: &&Administration| a.dose.target == s;
    match kind {
        A::FractionOfVisits => {
            if course.visits.is_empty() {
                return f64::NAN;
            }
            let n = course
                .visits
                .iter()
                .filter(|v| v.summaries.get(summary).is_some_and(|&x| x != 0.0))
                .count();
            n as f64 / course.visits.len() as f64
        }
        A::FirstVisit => course
            .visits
            .iter()
            .find(|v| v.summaries.get(summary).is_some_and(|&x| x != 0.0))
            .map_or(end, |v| v.time),
        A::DoseChanges => f64::from(course.dose_changes),
        A::FinalDose => course
            .given
            .iter()
            .rev()
            .find(|a| a.dose.target == s)
            .map_or(0.0, |a| a.dose.amount),
        A::TotalDose => course
            .given
            .iter()
            .filter(into)
            .map(|a| a.dose.amount)
            .sum(),
        A::RelativeDoseIntensity => {
            let planned: Vec<&Administration> = course.planned.iter().filter(into).collect();
            let given: Vec<&Administration> = course.given.iter().filter(into).collect();
            let total = |v: &[&Administration]| v.iter().map(|a| a.dose.amount).sum::<f64>();
            let (dp, dg) = (total(&planned), total(&given));
            if dp <= 0.0 {
                return f64::NAN;
            }
            if dg <= 0.0 {
                return 0.0;
            }
            let mut times: Vec<f64> = planned.iter().map(|a| a.time).collect();
            times.dedup_by(|a, b| same_time(*a, *b));
            let (Some(&t0), Some(&tl)) = (times.first(), times.last()) else {
                return dg / dp;
            };
            if times.len() < 2 {
                return dg / dp;
            }
            let tau = tl - times[times.len() - 2];
            let span_planned = tl - t0 + tau;
            let span_given = given.last().map_or(tl, |a| a.time) - t0 + tau;
            (dg / span_given) / (dp / span_planned)
        }
        A::Discontinued => match (&course.stop, reason) {
            (None, _) => 0.0,
            (Some(_), None) => 1.0,
            (Some((_, why)), Some(r)) => f64::from(u8::from(why == r)),
        },
        _ => f64::NAN,
    }
}
