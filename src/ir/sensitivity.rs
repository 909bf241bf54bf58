//! Forward sensitivity equations, generated symbolically on the builder DAG.
//!
//! Input: a [`ModuleBuilder`] holding a complete model, and the per-patient inputs `u_j` to
//! differentiate against (random effects η, fixed effects θ declared as inputs, covariates).
//! Output: the same builder augmented, before [`ModuleBuilder::finish`], with
//! - a state `∂y_i/∂u_j` for every state `y_i` and input `u_j`, whose right-hand side is
//!   `Σ_k ∂f_i/∂y_k · ∂y_k/∂u_j + ∂f_i/∂u_j` and whose initial value is `∂y_i(0)/∂u_j`;
//! - an observable `∂g_o/∂u_j = Σ_k ∂g_o/∂y_k · ∂y_k/∂u_j + ∂g_o/∂u_j` for every observable;
//! - `∂F/∂u_j` and `∂lag/∂u_j` of every state's dose handling, which the solver's dose expansion
//!   turns into jumps of the sensitivity states ([`crate::solve::dosing`]).
//!
//! A product `∂f/∂y_k · ∂y_k/∂u_j` whose partial derivative changes with the state is 0 where the
//! sensitivity is 0 (see `guarded`): `0·∞ = 0` at a non-Lipschitz point such as `C^γ`, `γ < 1`, at
//! `C = 0`.
//!
//! Everything is differentiated by [`super::diff`] (parameters through their definitions), so
//! the finished module's Jacobian covers the augmented system, per-patient parts are hoisted into
//! `setup` like any other, and every solver path (exact linear — the augmented system of a linear
//! model is linear —, BDF, diffsol, steady state, piecewise solves) integrates the sensitivities
//! together with the states. The layout is [`super::ir::Sensitivity`].

use super::builder::{Expr, ModuleBuilder};
use super::diff;
use super::ir::Class;

/// What [`augment`] leaves for [`ModuleBuilder::finish`]: the layout and the dose-handling
/// derivatives as expressions (made parameter slots there).
#[derive(Debug, Clone)]
pub struct Pending {
    /// Input slots differentiated against.
    pub wrt: Vec<u32>,
    /// States before augmentation.
    pub base_states: usize,
    /// Observables before augmentation.
    pub base_observables: usize,
    /// Per base state, per input: `(∂F/∂u_j, ∂lag/∂u_j)`.
    pub dose: Vec<Vec<(Expr, Expr)>>,
}

/// `∂f/∂y_k · s_k`, taken as 0 where `s_k = 0` when the partial derivative changes with the
/// state: a power `y^γ` with `γ < 1` has an infinite derivative at `y = 0` (an Emax model's
/// `C^γ` before the first dose), where the sensitivity is 0 too and the product's limit is 0.
/// A partial derivative that is fixed per patient (every one of a linear model) is used as it is,
/// so the augmented system of a linear model stays linear.
fn guarded(b: &mut ModuleBuilder, partial: Expr, s: Expr) -> Expr {
    let product = b.mul(partial, s);
    if b.class(partial) <= Class::PerPatient {
        return product;
    }
    let zero = b.constant(0.0);
    let none = b.eq(s, zero);
    b.select(none, zero, product)
}

/// Augments the model in `b` with the forward sensitivities with respect to the inputs `wrt`
/// (slots of [`ModuleBuilder::input`], in order). Call once, after every state, right-hand
/// side, initial value, observable and dose adjustment is set.
pub fn augment(b: &mut ModuleBuilder, wrt: &[u32]) {
    let n = b.states.len();
    let zero = b.constant(0.0);
    let one = b.constant(1.0);
    let rhs: Vec<Expr> = b.rhs.iter().map(|r| r.unwrap_or(zero)).collect();
    let init: Vec<Expr> = b.init.iter().map(|r| r.unwrap_or(zero)).collect();
    let obs: Vec<Expr> = b.observables.iter().map(|o| o.1).collect();
    let f_exprs: Vec<Expr> = b.bioavailability.iter().map(|f| f.unwrap_or(one)).collect();
    let lag_exprs: Vec<Expr> = b.lag.iter().map(|l| l.unwrap_or(zero)).collect();
    let jac = diff::jacobian(b, &rhs);
    let jac_obs = diff::jacobian(b, &obs);
    let base_states = b.states.clone();
    let base_obs: Vec<String> = b.observables.iter().map(|o| o.0.clone()).collect();
    let mut dose = vec![Vec::with_capacity(wrt.len()); n];
    // Declare every sensitivity state first so that their slots follow the layout.
    let mut cols = Vec::with_capacity(wrt.len());
    for &u in wrt {
        let name = b.inputs.get(u as usize).cloned().unwrap_or_default();
        let ids: Vec<_> = base_states
            .iter()
            .map(|s| b.state(&format!("d({s})/d({name})")))
            .collect();
        cols.push(ids);
    }
    for (j, &u) in wrt.iter().enumerate() {
        let name = b.inputs.get(u as usize).cloned().unwrap_or_default();
        let s: Vec<Expr> = cols[j].iter().map(|&id| b.y(id)).collect();
        let df = diff::wrt_input(b, &rhs, u);
        let d0 = diff::wrt_input(b, &init, u);
        let dg = diff::wrt_input(b, &obs, u);
        let d_f = diff::wrt_input(b, &f_exprs, u);
        let d_lag = diff::wrt_input(b, &lag_exprs, u);
        // Right-hand sides: J·s + ∂f/∂u.
        let mut acc: Vec<Option<Expr>> = df;
        for &(row, col, e) in &jac {
            let term = guarded(b, e, s[col as usize]);
            let slot = &mut acc[row as usize];
            *slot = Some(match *slot {
                Some(a) => b.add(a, term),
                None => term,
            });
        }
        for i in 0..n {
            if let Some(e) = acc[i] {
                b.set_rhs(cols[j][i], e);
            }
            if let Some(e) = d0[i] {
                b.set_init(cols[j][i], e);
            }
            dose[i].push((d_f[i].unwrap_or(zero), d_lag[i].unwrap_or(zero)));
        }
        // Observables: ∂g/∂y·s + ∂g/∂u.
        let mut acc: Vec<Option<Expr>> = dg;
        for &(row, col, e) in &jac_obs {
            let term = guarded(b, e, s[col as usize]);
            let slot = &mut acc[row as usize];
            *slot = Some(match *slot {
                Some(a) => b.add(a, term),
                None => term,
            });
        }
        for (o, e) in acc.into_iter().enumerate() {
            b.observe(&format!("d({})/d({name})", base_obs[o]), e.unwrap_or(zero));
        }
    }
    b.sensitivity = Some(Pending {
        wrt: wrt.to_vec(),
        base_states: n,
        base_observables: base_obs.len(),
        dose,
    });
}
