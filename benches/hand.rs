//! Hand-written Rust right-hand sides and Jacobians for the benchmark models, behind the same
//! [`ModelFns`] trait as the JIT's `CompiledModel`, so all backends run on the same solver.
//!
//! Input: the lowered module of `benches/models/friberg.twin` or `benches/models/pbpk14.twin`
//! (used for names, sizes, sparsity and dose metadata only). Output: a model whose `setup`
//! precomputes every per-patient quantity (as the IR's hoisting does) and whose `rhs` and
//! `jacobian` are straight-line Rust over fixed indices — what a careful engineer would write by
//! hand. Construction checks that the module has exactly the layout the code assumes
//! (state order, inputs, Jacobian sparsity), so the comparison is always of the same model.

use twin::ir::interp::check_len;
use twin::ir::{LengthError, Module, ParamInfo, Scalar};
use twin::solve::ModelFns;

fn named_params(names: &[&str]) -> Vec<ParamInfo> {
    names
        .iter()
        .map(|n| ParamInfo {
            name: (*n).to_string(),
            // Derived per-patient slots, like the IR's hoisted ones.
            hoisted: n.starts_with('%'),
        })
        .collect()
}

/// The module with the hand-written parameter layout, after checking the assumptions.
fn adopt(
    module: &Module,
    states: &[&str],
    inputs: &[&str],
    params: &[&str],
) -> Result<Module, String> {
    if module.meta.states != states {
        return Err(format!("states {:?} != {states:?}", module.meta.states));
    }
    if module.meta.inputs != inputs {
        return Err(format!("inputs {:?} != {inputs:?}", module.meta.inputs));
    }
    let plain = |s: Scalar| matches!(s, Scalar::Const(_));
    if !module
        .meta
        .dosing
        .iter()
        .all(|d| plain(d.bioavailability) && plain(d.lag))
    {
        return Err("dose adjustments read parameters".into());
    }
    let mut m = module.clone();
    m.meta.params = named_params(params);
    Ok(m)
}

// ---------------------------------------------------------------------------------------------
// PK + Friberg (7 states).

/// Parameter slots of [`HandFriberg`].
mod fp {
    pub const KA: usize = 0;
    pub const CL: usize = 1;
    pub const V: usize = 2;
    pub const MTT: usize = 3;
    pub const CIRC0: usize = 4;
    pub const GAMMA: usize = 5;
    pub const SLOPE: usize = 6;
    /// CL / V
    pub const K: usize = 7;
    /// 4 / MTT
    pub const KTR: usize = 8;
    /// SLOPE / V
    pub const SV: usize = 9;
    pub const N: usize = 10;
}

/// `benches/models/friberg.twin`, by hand.
pub struct HandFriberg {
    module: Module,
    obs_anc: usize,
    obs_conc: usize,
}

const FRIBERG_SPARSITY: [(u32, u32); 14] = [
    (0, 0),
    (1, 0),
    (1, 1),
    (2, 1),
    (2, 2),
    (2, 6),
    (3, 2),
    (3, 3),
    (4, 3),
    (4, 4),
    (5, 4),
    (5, 5),
    (6, 5),
    (6, 6),
];

impl HandFriberg {
    /// Wraps the lowered module of `friberg.twin` (lowered without an elimination state).
    pub fn new(module: &Module) -> Result<Self, String> {
        let m = adopt(
            module,
            &[
                "depot", "central", "prol", "transit1", "transit2", "transit3", "circ",
            ],
            &["eta(cl)", "eta(v)", "eta(mtt)", "eta(slope)"],
            &[
                "ka", "cl", "v", "mtt", "circ0", "gamma", "slope", "%k", "%ktr", "%sv",
            ],
        )?;
        if m.sparsity != FRIBERG_SPARSITY {
            return Err(format!("sparsity {:?}", m.sparsity));
        }
        let obs = |n: &str| {
            m.meta
                .observables
                .iter()
                .position(|o| o == n)
                .ok_or(format!("no observable {n}"))
        };
        let (obs_anc, obs_conc) = (obs("anc")?, obs("conc")?);
        debug_assert_eq!(m.n_params(), fp::N);
        Ok(HandFriberg {
            module: m,
            obs_anc,
            obs_conc,
        })
    }
}

impl ModelFns for HandFriberg {
    fn module(&self) -> &Module {
        &self.module
    }

    fn setup(&self, inputs: &[f64], p: &mut [f64]) -> Result<(), LengthError> {
        check_len("setup", "inputs", 4, inputs.len())?;
        check_len("setup", "params", fp::N, p.len())?;
        p[fp::KA] = 1.0;
        p[fp::CL] = 10.0 * inputs[0].exp();
        p[fp::V] = 50.0 * inputs[1].exp();
        p[fp::MTT] = 125.0 * inputs[2].exp();
        p[fp::CIRC0] = 5.0;
        p[fp::GAMMA] = 0.17;
        p[fp::SLOPE] = 0.1 * inputs[3].exp();
        p[fp::K] = p[fp::CL] / p[fp::V];
        p[fp::KTR] = 4.0 / p[fp::MTT];
        p[fp::SV] = p[fp::SLOPE] / p[fp::V];
        Ok(())
    }

    fn init(&self, p: &[f64], y0: &mut [f64]) -> Result<(), LengthError> {
        check_len("init", "params", fp::N, p.len())?;
        check_len("init", "y0", 7, y0.len())?;
        y0[0] = 0.0;
        y0[1] = 0.0;
        y0[2..].fill(p[fp::CIRC0]);
        Ok(())
    }

    #[inline]
    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) -> Result<(), LengthError> {
        check_len("rhs", "y", 7, y.len())?;
        check_len("rhs", "params", fp::N, p.len())?;
        check_len("rhs", "dy", 7, dy.len())?;
        let ktr = p[fp::KTR];
        let absorption = p[fp::KA] * y[0];
        dy[0] = -absorption;
        dy[1] = absorption - p[fp::K] * y[1];
        let feedback = (p[fp::CIRC0] / y[6]).powf(p[fp::GAMMA]);
        let kp = ktr * y[2];
        dy[2] = kp * (1.0 - p[fp::SV] * y[1]) * feedback - kp;
        let (k1, k2, k3, kc) = (ktr * y[3], ktr * y[4], ktr * y[5], ktr * y[6]);
        dy[3] = kp - k1;
        dy[4] = k1 - k2;
        dy[5] = k2 - k3;
        dy[6] = k3 - kc;
        Ok(())
    }

    #[inline]
    fn jacobian(&self, _t: f64, y: &[f64], p: &[f64], v: &mut [f64]) -> Result<(), LengthError> {
        check_len("jacobian", "y", 7, y.len())?;
        check_len("jacobian", "params", fp::N, p.len())?;
        check_len("jacobian", "values", 14, v.len())?;
        let (ka, ktr, sv) = (p[fp::KA], p[fp::KTR], p[fp::SV]);
        let feedback = (p[fp::CIRC0] / y[6]).powf(p[fp::GAMMA]);
        let inhibition = 1.0 - sv * y[1];
        let kp = ktr * y[2];
        v[0] = -ka;
        v[1] = ka;
        v[2] = -p[fp::K];
        v[3] = -kp * sv * feedback;
        v[4] = ktr * inhibition * feedback - ktr;
        v[5] = -kp * inhibition * p[fp::GAMMA] * feedback / y[6];
        for k in 0..4 {
            v[6 + 2 * k] = ktr;
            v[7 + 2 * k] = -ktr;
        }
        Ok(())
    }

    fn observe(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) -> Result<(), LengthError> {
        check_len("observe", "y", 7, y.len())?;
        check_len("observe", "out", 2, out.len())?;
        out[self.obs_anc] = y[6];
        out[self.obs_conc] = y[1] / p[fp::V];
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-body PBPK (16 compartments + eliminated amount).

/// State slots of `pbpk14.twin` (with the eliminated amount tracked).
mod ps {
    pub const LUMEN: usize = 0;
    pub const ART: usize = 1;
    pub const VEN: usize = 2;
    pub const LUNG: usize = 3;
    pub const ADI: usize = 4;
    pub const BON: usize = 5;
    pub const BRA: usize = 6;
    pub const GUT: usize = 7;
    pub const HEA: usize = 8;
    pub const KID: usize = 9;
    pub const LIV: usize = 10;
    pub const MUS: usize = 11;
    pub const SKI: usize = 12;
    pub const SPL: usize = 13;
    pub const PAN: usize = 14;
    pub const ROB: usize = 15;
    pub const ELIM: usize = 16;
    pub const N: usize = 17;
}

/// Tissues fed by arterial blood: (state, volume L at 73 kg, fraction of cardiac output, Kp).
/// The liver's fraction is its hepatic-artery share; its outflow is the total liver flow.
const TISSUES: [(usize, f64, f64, f64); 12] = [
    (ps::ADI, 15.7609, 0.05, 9.89),
    (ps::BON, 8.0769, 0.05, 7.91),
    (ps::BRA, 1.45, 0.12, 7.35),
    (ps::GUT, 1.02, 0.14, 5.82),
    (ps::HEA, 0.33, 0.04, 1.95),
    (ps::KID, 0.31, 0.19, 2.90),
    (ps::LIV, 1.8, 0.255 - 0.14 - 0.03 - 0.01, 4.66),
    (ps::MUS, 29.0, 0.17, 2.94),
    (ps::SKI, 3.3, 0.05, 2.94),
    (ps::SPL, 0.15, 0.03, 2.96),
    (ps::PAN, 0.14, 0.01, 2.94),
    (ps::ROB, 4.70, 0.075, 2.94),
];

/// Parameter slots of [`HandPbpk`]: for each tissue `i` of [`TISSUES`], `IN + i` is the
/// arterial inflow rate constant (Q_T / V_art) and `OUT + i` the outflow rate constant
/// (Q_T·BP / (V_T·Kp_T), total liver flow for the liver).
mod pp {
    pub const KA: usize = 0;
    /// CO / V_ven
    pub const KVEN: usize = 1;
    /// CO·BP / (V_lung·Kp_lung)
    pub const KLUNG: usize = 2;
    /// CO / V_art
    pub const KART: usize = 3;
    /// Hepatic elimination rate constant.
    pub const KH: usize = 4;
    /// Renal elimination rate constant.
    pub const KR: usize = 5;
    /// 1 / (V_ven·BP)
    pub const INV_VVEN_BP: usize = 6;
    /// 1 / V_liv
    pub const INV_VLIV: usize = 7;
    pub const IN: usize = 8;
    pub const OUT: usize = 20;
    pub const N: usize = 32;
}

/// Jacobian non-zeros of `pbpk14.twin` with the eliminated amount, row-major.
const PBPK_SPARSITY: [(u32, u32); 45] = [
    (0, 0),
    (1, 1),
    (1, 3),
    (2, 2),
    (2, 4),
    (2, 5),
    (2, 6),
    (2, 8),
    (2, 9),
    (2, 10),
    (2, 11),
    (2, 12),
    (2, 15),
    (3, 2),
    (3, 3),
    (4, 1),
    (4, 4),
    (5, 1),
    (5, 5),
    (6, 1),
    (6, 6),
    (7, 0),
    (7, 1),
    (7, 7),
    (8, 1),
    (8, 8),
    (9, 1),
    (9, 9),
    (10, 1),
    (10, 7),
    (10, 10),
    (10, 13),
    (10, 14),
    (11, 1),
    (11, 11),
    (12, 1),
    (12, 12),
    (13, 1),
    (13, 13),
    (14, 1),
    (14, 14),
    (15, 1),
    (15, 15),
    (16, 9),
    (16, 10),
];

/// `benches/models/pbpk14.twin`, by hand.
pub struct HandPbpk {
    module: Module,
    obs_plasma: usize,
    obs_liver: usize,
}

impl HandPbpk {
    /// Wraps the lowered module of `pbpk14.twin` (lowered with an elimination state).
    pub fn new(module: &Module) -> Result<Self, String> {
        let names: Vec<String> = (0..pp::N).map(|i| format!("%p{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = adopt(
            module,
            &[
                "lumen",
                "arterial",
                "venous",
                "lung",
                "adipose",
                "bone",
                "brain",
                "gut",
                "heart",
                "kidney",
                "liver",
                "muscle",
                "skin",
                "spleen",
                "pancreas",
                "rest",
                "eliminated",
            ],
            &["weight", "eta(clint)", "eta(ka)"],
            &names,
        )?;
        if m.sparsity != PBPK_SPARSITY {
            return Err(format!("sparsity {:?}", m.sparsity));
        }
        let obs = |n: &str| {
            m.meta
                .observables
                .iter()
                .position(|o| o == n)
                .ok_or(format!("no observable {n}"))
        };
        let (obs_plasma, obs_liver) = (obs("c_plasma")?, obs("c_liver")?);
        Ok(HandPbpk {
            module: m,
            obs_plasma,
            obs_liver,
        })
    }
}

impl ModelFns for HandPbpk {
    fn module(&self) -> &Module {
        &self.module
    }

    fn setup(&self, inputs: &[f64], p: &mut [f64]) -> Result<(), LengthError> {
        check_len("setup", "inputs", 3, inputs.len())?;
        check_len("setup", "params", pp::N, p.len())?;
        let (fu, bp, gfr) = (0.42, 1.0, 7.5);
        let clint = 60.0 * inputs[1].exp();
        let size = inputs[0] / 73.0;
        let co = 390.0 * size.powf(0.75);
        let (v_art, v_ven, v_lun) = (1.5635 * size, 3.7365 * size, 0.5 * size);
        p[pp::KA] = 1.2 * inputs[2].exp();
        p[pp::KVEN] = co / v_ven;
        p[pp::KLUNG] = co * bp / (v_lun * 0.83);
        p[pp::KART] = co / v_art;
        p[pp::INV_VVEN_BP] = 1.0 / (v_ven * bp);
        p[pp::INV_VLIV] = 1.0 / (1.8 * size);
        for (i, &(s, v, q, kp)) in TISSUES.iter().enumerate() {
            let v = v * size;
            p[pp::IN + i] = q * co / v_art;
            let q_out = if s == ps::LIV { 0.255 } else { q };
            p[pp::OUT + i] = q_out * co * bp / (v * kp);
            if s == ps::LIV {
                p[pp::KH] = clint * fu / (v * kp);
            }
            if s == ps::KID {
                p[pp::KR] = gfr * fu / (v * kp);
            }
        }
        Ok(())
    }

    fn init(&self, p: &[f64], y0: &mut [f64]) -> Result<(), LengthError> {
        check_len("init", "params", pp::N, p.len())?;
        check_len("init", "y0", ps::N, y0.len())?;
        y0.fill(0.0);
        Ok(())
    }

    #[inline]
    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) -> Result<(), LengthError> {
        check_len("rhs", "y", ps::N, y.len())?;
        check_len("rhs", "params", pp::N, p.len())?;
        check_len("rhs", "dy", ps::N, dy.len())?;
        let art = y[ps::ART];
        let absorption = p[pp::KA] * y[ps::LUMEN];
        let lung_out = p[pp::KLUNG] * y[ps::LUNG];
        let ven_out = p[pp::KVEN] * y[ps::VEN];
        // Outflows of the twelve tissues.
        let o = |i: usize, s: usize| p[pp::OUT + i] * y[s];
        let (o_adi, o_bon, o_bra, o_gut) =
            (o(0, ps::ADI), o(1, ps::BON), o(2, ps::BRA), o(3, ps::GUT));
        let (o_hea, o_kid, o_liv, o_mus) =
            (o(4, ps::HEA), o(5, ps::KID), o(6, ps::LIV), o(7, ps::MUS));
        let (o_ski, o_spl, o_pan, o_rob) =
            (o(8, ps::SKI), o(9, ps::SPL), o(10, ps::PAN), o(11, ps::ROB));
        let i = |k: usize| p[pp::IN + k] * art;
        let hep = p[pp::KH] * y[ps::LIV];
        let ren = p[pp::KR] * y[ps::KID];
        dy[ps::LUMEN] = -absorption;
        dy[ps::ART] = lung_out - p[pp::KART] * art;
        dy[ps::VEN] =
            o_adi + o_bon + o_bra + o_hea + o_kid + o_liv + o_mus + o_ski + o_rob - ven_out;
        dy[ps::LUNG] = ven_out - lung_out;
        dy[ps::ADI] = i(0) - o_adi;
        dy[ps::BON] = i(1) - o_bon;
        dy[ps::BRA] = i(2) - o_bra;
        dy[ps::GUT] = absorption + i(3) - o_gut;
        dy[ps::HEA] = i(4) - o_hea;
        dy[ps::KID] = i(5) - o_kid - ren;
        dy[ps::LIV] = i(6) + o_gut + o_spl + o_pan - o_liv - hep;
        dy[ps::MUS] = i(7) - o_mus;
        dy[ps::SKI] = i(8) - o_ski;
        dy[ps::SPL] = i(9) - o_spl;
        dy[ps::PAN] = i(10) - o_pan;
        dy[ps::ROB] = i(11) - o_rob;
        dy[ps::ELIM] = hep + ren;
        Ok(())
    }

    #[inline]
    fn jacobian(&self, _t: f64, y: &[f64], p: &[f64], v: &mut [f64]) -> Result<(), LengthError> {
        check_len("jacobian", "y", ps::N, y.len())?;
        check_len("jacobian", "params", pp::N, p.len())?;
        check_len("jacobian", "values", PBPK_SPARSITY.len(), v.len())?;
        let o = |i: usize| p[pp::OUT + i];
        let i = |k: usize| p[pp::IN + k];
        let (ka, kart, kven, klung) = (p[pp::KA], p[pp::KART], p[pp::KVEN], p[pp::KLUNG]);
        let (kh, kr) = (p[pp::KH], p[pp::KR]);
        // In PBPK_SPARSITY order; tissue indices as in TISSUES.
        v.copy_from_slice(&[
            -ka,
            -kart,
            klung,
            -kven,
            o(0),
            o(1),
            o(2),
            o(4),
            o(5),
            o(6),
            o(7),
            o(8),
            o(11),
            kven,
            -klung,
            i(0),
            -o(0),
            i(1),
            -o(1),
            i(2),
            -o(2),
            ka,
            i(3),
            -o(3),
            i(4),
            -o(4),
            i(5),
            -o(5) - kr,
            i(6),
            o(3),
            -o(6) - kh,
            o(9),
            o(10),
            i(7),
            -o(7),
            i(8),
            -o(8),
            i(9),
            -o(9),
            i(10),
            -o(10),
            i(11),
            -o(11),
            kr,
            kh,
        ]);
        Ok(())
    }

    fn observe(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) -> Result<(), LengthError> {
        check_len("observe", "y", ps::N, y.len())?;
        check_len("observe", "out", 2, out.len())?;
        out[self.obs_plasma] = y[ps::VEN] * p[pp::INV_VVEN_BP];
        out[self.obs_liver] = y[ps::LIV] * p[pp::INV_VLIV];
        Ok(())
    }
}
