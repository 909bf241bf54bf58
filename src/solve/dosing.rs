//! Dose records → a sorted list of discontinuities (bolus amounts and infusion starts/ends).
//!
//! Input: a [`Regimen`] (what a clinician or a NONMEM data set says: amount, target state, time,
//! bolus or zero-order infusion by rate or duration, repeats by ADDL/II or `until`), the model's
//! per-state bioavailability F and lag time, and the patient's parameter values.
//! Output: [`Event`]s sorted by time (stable, so simultaneous doses keep regimen order).
//!
//! Conventions (NONMEM's): F scales bolus amounts; for an infusion given by *rate* F scales the
//! duration (`F·amount/rate`), for one given by *duration* F scales the rate
//! (`F·amount/duration`); the lag time shifts every dose (and both ends of an infusion).
//! Repeats: `Additional { interval, count }` gives `count` more doses after the first (ADDL/II);
//! `Until { interval, until }` gives doses at `time + k·interval` for every such time `<= until`.

use crate::ir::Module;

/// How a dose enters its state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DoseKind {
    /// The whole amount at once.
    Bolus,
    /// Zero-order infusion at this rate (amount per time unit).
    Rate(f64),
    /// Zero-order infusion lasting this long.
    Duration(f64),
}

/// Repetition of a dose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Repeat {
    /// Just once.
    Once,
    /// `count` additional doses every `interval` (NONMEM ADDL and II).
    Additional {
        /// Time between doses (II).
        interval: f64,
        /// Doses after the first (ADDL).
        count: u32,
    },
    /// Every `interval` from the first dose while the dose time is `<= until`.
    Until {
        /// Time between doses.
        interval: f64,
        /// Last allowed dose time.
        until: f64,
    },
}

/// A dose given at steady state (NONMEM `SS=1` / `SS=2`): just before it, the state is the
/// periodic steady state of this dose repeated every `interval` since forever.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteadyState {
    /// The dosing interval of the steady state (`II`).
    pub interval: f64,
    /// `SS=2`: the steady state is added to the state (superposition, for linear models);
    /// `SS=1` (`false`): it replaces the state, and infusions running from earlier doses stop.
    pub add: bool,
}

/// One dose record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dose {
    /// Nominal time of the (first) dose, before lag.
    pub time: f64,
    /// Amount, in the state's amount unit.
    pub amount: f64,
    /// The state the dose goes into.
    pub target: u32,
    /// Bolus or infusion.
    pub kind: DoseKind,
    /// Repetition.
    pub repeat: Repeat,
    /// Given at steady state (the first dose of the record).
    pub steady_state: Option<SteadyState>,
    /// A lag time of this record, added to the model's lag for its state (h).
    pub lag: f64,
}

impl Dose {
    /// A single bolus of `amount` into state `target` at `time`.
    pub fn bolus(time: f64, amount: f64, target: u32) -> Self {
        Dose {
            time,
            amount,
            target,
            kind: DoseKind::Bolus,
            repeat: Repeat::Once,
            steady_state: None,
            lag: 0.0,
        }
    }

    /// A zero-order infusion of `amount` at `rate` starting at `time`.
    pub fn infusion_rate(time: f64, amount: f64, target: u32, rate: f64) -> Self {
        Dose {
            kind: DoseKind::Rate(rate),
            ..Dose::bolus(time, amount, target)
        }
    }

    /// A zero-order infusion of `amount` over `duration` starting at `time`.
    pub fn infusion_duration(time: f64, amount: f64, target: u32, duration: f64) -> Self {
        Dose {
            kind: DoseKind::Duration(duration),
            ..Dose::bolus(time, amount, target)
        }
    }

    /// Repeats the dose `count` more times every `interval` (ADDL/II).
    pub fn additional(self, interval: f64, count: u32) -> Self {
        Dose {
            repeat: Repeat::Additional { interval, count },
            ..self
        }
    }

    /// The first dose is given at the steady state of this dose every `interval` (`SS=1`, or
    /// `SS=2` when `add`).
    pub fn at_steady_state(self, interval: f64, add: bool) -> Self {
        Dose {
            steady_state: Some(SteadyState { interval, add }),
            ..self
        }
    }

    /// Delays the dose (and its repeats) by `lag` beyond the model's lag for its state.
    pub fn lagged(self, lag: f64) -> Self {
        Dose { lag, ..self }
    }

    /// Repeats the dose every `interval` while the dose time is `<= until`.
    pub fn until(self, interval: f64, until: f64) -> Self {
        Dose {
            repeat: Repeat::Until { interval, until },
            ..self
        }
    }
}

/// A list of doses for one patient.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Regimen {
    /// The dose records, in any order.
    pub doses: Vec<Dose>,
}

impl Regimen {
    /// An empty regimen.
    pub fn new() -> Self {
        Regimen::default()
    }

    /// Adds a dose (builder style).
    pub fn with(mut self, dose: Dose) -> Self {
        self.doses.push(dose);
        self
    }

    /// Multiplies every dose amount and every infusion rate by `factor`; times, durations and
    /// repeats are unchanged (so an infusion given by duration delivers `factor` times the amount
    /// over the same time). A factor of exactly 1 leaves the regimen untouched.
    pub fn scale(&mut self, factor: f64) {
        if factor == 1.0 {
            return;
        }
        for d in &mut self.doses {
            d.amount *= factor;
            if let DoseKind::Rate(rate) = &mut d.kind {
                *rate *= factor;
            }
        }
    }

    /// A copy with every dose amount and infusion rate multiplied by `factor` (see
    /// [`Regimen::scale`]).
    pub fn scaled(&self, factor: f64) -> Regimen {
        let mut r = self.clone();
        r.scale(factor);
        r
    }
}

/// A dose record that cannot be given.
#[derive(Clone, Debug, PartialEq)]
pub enum DoseError {
    /// The target state does not exist.
    UnknownState {
        /// Index of the dose in the regimen.
        dose: usize,
        /// The target given.
        target: u32,
    },
    /// A number is not finite or has the wrong sign.
    BadValue {
        /// Index of the dose in the regimen.
        dose: usize,
        /// Which field ("amount", "rate", "duration", "interval", "time", "bioavailability",
        /// "lag").
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A repeat would create more than [`MAX_DOSES`] doses.
    TooManyDoses {
        /// Index of the dose in the regimen.
        dose: usize,
    },
    /// A combination the solver does not handle.
    Unsupported {
        /// Index of the dose in the regimen.
        dose: usize,
        /// What.
        what: &'static str,
    },
}

impl std::fmt::Display for DoseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DoseError::UnknownState { dose, target } => {
                write!(f, "dose {dose}: no state with index {target}")
            }
            DoseError::BadValue { dose, field, value } => {
                write!(f, "dose {dose}: invalid {field} {value}")
            }
            DoseError::TooManyDoses { dose } => {
                write!(f, "dose {dose}: repeats to more than {MAX_DOSES} doses")
            }
            DoseError::Unsupported { dose, what } => {
                write!(f, "dose {dose}: not supported: {what}")
            }
        }
    }
}

impl std::error::Error for DoseError {}

/// Upper bound on the doses one record may expand to.
pub const MAX_DOSES: usize = 1_000_000;

/// What happens at a discontinuity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// Add `amount` (already scaled by F) to the state.
    Bolus {
        /// Bioavailable amount.
        amount: f64,
    },
    /// Infusion number `id` starts adding `rate` to the state's derivative.
    InfusionStart {
        /// Identifies the matching end.
        id: usize,
        /// Amount per time unit.
        rate: f64,
    },
    /// Infusion number `id` stops.
    InfusionEnd {
        /// The infusion that ends.
        id: usize,
    },
    /// Adds `amount` to a sensitivity state (not a dose: the jump of `∂y/∂u` when a dose's
    /// amount or time depends on `u`).
    Jump {
        /// The change.
        amount: f64,
    },
    /// The jump of the sensitivity column `column` caused by a bolus of `amount` into `state`
    /// (applied just before this event) whose time moves with `u` by `dlag`:
    /// `Δ(∂y/∂u) = (f(y⁻) − f(y⁺))·dlag`, with `y⁻` the state before the bolus.
    LagJump {
        /// The bolus (bioavailable amount).
        amount: f64,
        /// The sensitivity column (index into the module's `Sensitivity::wrt`).
        column: u32,
        /// `∂(dose time)/∂u`.
        dlag: f64,
    },
}

/// A discontinuity at `time` affecting `state`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// When.
    pub time: f64,
    /// Which state.
    pub state: u32,
    /// What.
    pub kind: EventKind,
}

fn finite(dose: usize, field: &'static str, value: f64, positive: bool) -> Result<f64, DoseError> {
    if !value.is_finite() || value < 0.0 || (positive && value == 0.0) {
        Err(DoseError::BadValue { dose, field, value })
    } else {
        Ok(value)
    }
}

/// Expands the regimen into sorted events, applying the module's F and lag with the patient's
/// parameter values `params`.
pub fn expand(regimen: &Regimen, module: &Module, params: &[f64]) -> Result<Vec<Event>, DoseError> {
    let mut events = Vec::new();
    let mut next_id = 0usize;
    for (k, d) in regimen.doses.iter().enumerate() {
        expand_dose(k, d, module, params, &mut next_id, &mut events)?;
    }
    events.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(events)
}

/// The bioavailable fraction F and the lag (the model's for the target state plus the dose's
/// own) of dose `k` with the patient's `params`.
fn bioavailability_and_lag(
    k: usize,
    d: &Dose,
    module: &Module,
    params: &[f64],
) -> Result<(f64, f64), DoseError> {
    let Some(adj) = module.meta.dosing.get(d.target as usize) else {
        return Err(DoseError::UnknownState {
            dose: k,
            target: d.target,
        });
    };
    let f = finite(
        k,
        "bioavailability",
        adj.bioavailability.value(params),
        false,
    )?;
    let lag = finite(k, "lag", adj.lag.value(params) + d.lag, false)?;
    Ok((f, lag))
}

/// Appends the events of dose `k` (`d`, with its repeats) to `events`, unsorted; infusions are
/// numbered from `next_id`.
pub(super) fn expand_dose(
    k: usize,
    d: &Dose,
    module: &Module,
    params: &[f64],
    next_id: &mut usize,
    events: &mut Vec<Event>,
) -> Result<(), DoseError> {
    if !d.time.is_finite() {
        return Err(DoseError::BadValue {
            dose: k,
            field: "time",
            value: d.time,
        });
    }
    let amount = finite(k, "amount", d.amount, false)?;
    let (f, lag) = bioavailability_and_lag(k, d, module, params)?;
    // With forward sensitivities: (column, ∂F/∂u, ∂lag/∂u) of the target's dose handling.
    let sens: Vec<(usize, u32, f64, f64)> = match &module.meta.sensitivity {
        Some(layout) => layout
            .dose
            .get(d.target as usize)
            .map(|per_input| {
                per_input
                    .iter()
                    .enumerate()
                    .map(|(j, &(df, dlag))| {
                        (
                            layout.state(d.target as usize, j),
                            j as u32,
                            df.value(params),
                            dlag.value(params),
                        )
                    })
                    .filter(|&(_, _, df, dlag)| df != 0.0 || dlag != 0.0)
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let jump = |events: &mut Vec<Event>, time: f64, state: usize, amount: f64| {
        if amount != 0.0 {
            events.push(Event {
                time,
                state: state as u32,
                kind: EventKind::Jump { amount },
            });
        }
    };
    let times: Vec<f64> = match d.repeat {
        Repeat::Once => vec![d.time],
        Repeat::Additional { interval, count } => {
            let ii = finite(k, "interval", interval, true)?;
            if count as usize >= MAX_DOSES {
                return Err(DoseError::TooManyDoses { dose: k });
            }
            (0..=count).map(|i| d.time + f64::from(i) * ii).collect()
        }
        Repeat::Until { interval, until } => {
            let ii = finite(k, "interval", interval, true)?;
            let n = ((until - d.time) / ii + 1e-9).floor();
            if n.is_nan() || n >= MAX_DOSES as f64 {
                return Err(DoseError::TooManyDoses { dose: k });
            }
            let n = if n < 0.0 { -1 } else { n as i64 };
            (0..=n).map(|i| d.time + i as f64 * ii).collect()
        }
    };
    for t in times {
        let t = t + lag;
        match d.kind {
            DoseKind::Bolus => {
                events.push(Event {
                    time: t,
                    state: d.target,
                    kind: EventKind::Bolus { amount: f * amount },
                });
                for &(s, column, df, dlag) in &sens {
                    jump(events, t, s, amount * df);
                    if dlag != 0.0 {
                        events.push(Event {
                            time: t,
                            state: d.target,
                            kind: EventKind::LagJump {
                                amount: f * amount,
                                column,
                                dlag,
                            },
                        });
                    }
                }
            }
            DoseKind::Rate(r) | DoseKind::Duration(r) => {
                let is_rate = matches!(d.kind, DoseKind::Rate(_));
                let field = if is_rate { "rate" } else { "duration" };
                let r = finite(k, field, r, true)?;
                let (rate, dur) = if is_rate {
                    (r, f * amount / r)
                } else {
                    (f * amount / r, r)
                };
                if dur <= 0.0 || rate <= 0.0 {
                    continue;
                }
                let id = *next_id;
                *next_id += 1;
                events.push(Event {
                    time: t,
                    state: d.target,
                    kind: EventKind::InfusionStart { id, rate },
                });
                events.push(Event {
                    time: t + dur,
                    state: d.target,
                    kind: EventKind::InfusionEnd { id },
                });
                // The start moves with the lag, the end with the lag and (by rate) with F's
                // share of the duration; by duration, F scales the rate.
                for &(s, _, df, dlag) in &sens {
                    jump(events, t, s, -rate * dlag);
                    let end = if is_rate {
                        rate * dlag + amount * df
                    } else {
                        rate * dlag
                    };
                    jump(events, t + dur, s, end);
                    if !is_rate && df != 0.0 {
                        let id = *next_id;
                        *next_id += 1;
                        events.push(Event {
                            time: t,
                            state: s as u32,
                            kind: EventKind::InfusionStart {
                                id,
                                rate: amount * df / dur,
                            },
                        });
                        events.push(Event {
                            time: t + dur,
                            state: s as u32,
                            kind: EventKind::InfusionEnd { id },
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// The events after the nominal time `t` of a steady-state dose `d` (dose `k`) that come from
/// the doses before it in the steady state (at `t − τ`, `t − 2τ`, …, τ its interval): infusions
/// still running at `t` (restarted at `t` with their rate, ending when they would end) and
/// doses whose lag puts them at or after `t`. Appended to `events`, unsorted; infusions are
/// numbered from `next_id`.
pub(super) fn steady_state_history(
    k: usize,
    d: &Dose,
    module: &Module,
    params: &[f64],
    next_id: &mut usize,
    events: &mut Vec<Event>,
) -> Result<(), DoseError> {
    let Some(ss) = d.steady_state else {
        return Ok(());
    };
    let tau = finite(k, "interval", ss.interval, true)?;
    let (f, lag) = bioavailability_and_lag(k, d, module, params)?;
    // How long one dose acts after its nominal time: its lag plus its infusion's duration.
    let span = lag
        + match d.kind {
            DoseKind::Bolus => 0.0,
            DoseKind::Rate(r) => f * d.amount / r,
            DoseKind::Duration(r) => r,
        };
    let earlier = (span / tau).floor() + 1.0;
    if !earlier.is_finite() || earlier >= MAX_DOSES as f64 {
        return Err(DoseError::TooManyDoses { dose: k });
    }
    let t = d.time;
    for j in 1..=(earlier as u64) {
        let past = Dose {
            time: t - j as f64 * tau,
            repeat: Repeat::Once,
            steady_state: None,
            ..*d
        };
        let mut one = Vec::new();
        expand_dose(k, &past, module, params, next_id, &mut one)?;
        let base = module
            .meta
            .sensitivity
            .as_ref()
            .map_or(usize::MAX, |l| l.base_states);
        let sensitivity = one
            .iter()
            .any(|e| e.state as usize >= base || matches!(e.kind, EventKind::LagJump { .. }));
        one.retain(|e| (e.state as usize) < base && !matches!(e.kind, EventKind::LagJump { .. }));
        let carried = match one.as_slice() {
            [b] => b.time >= t,
            [_, end] => end.time > t,
            _ => false,
        };
        if sensitivity && carried {
            return Err(DoseError::Unsupported {
                dose: k,
                what: "sensitivities of F or the lag time of a steady-state dose that still acts after the next dose (its lag or infusion outlasts the interval)",
            });
        }
        match one.as_slice() {
            [b] if matches!(b.kind, EventKind::Bolus { .. }) && b.time >= t => events.push(*b),
            [start, end] if end.time > t => {
                if let EventKind::InfusionStart { id, rate } = start.kind {
                    events.push(Event {
                        time: start.time.max(t),
                        state: start.state,
                        kind: EventKind::InfusionStart { id, rate },
                    });
                    events.push(*end);
                }
            }
            _ => {}
        }
    }
    Ok(())
}
