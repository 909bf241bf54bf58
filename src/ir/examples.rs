//! Hand-built models (through [`ModuleBuilder`]) used by tests and benchmarks until the front
//! end lowers `.twin` files: one-compartment oral, two-compartment IV, oral PK + Friberg
//! myelosuppression (7 states), an 18-state flow-limited PBPK chain, and an operator zoo.
//!
//! Input: nothing. Output: built [`Module`]s. Units are folded by hand: time in h, amounts in
//! mg, volumes in L, flows in L/h, concentrations in mg/L.

use super::builder::{BuildError, ModuleBuilder};
use super::ir::Module;

/// One-compartment model with first-order absorption.
/// Inputs `CL` (L/h), `V` (L), `KA` (1/h), `F` (fraction), `TLAG` (h).
/// States `depot`, `central`, `eliminated` (accumulator). Observable `Cp = central / V`.
pub fn one_compartment_oral() -> Result<Module, Vec<BuildError>> {
    let mut b = ModuleBuilder::new("one_compartment_oral");
    let cl_in = b.input("CL");
    let v_in = b.input("V");
    let ka_in = b.input("KA");
    let f_in = b.input("F");
    let lag_in = b.input("TLAG");
    let cl = b.param("CL", cl_in);
    let v = b.param("V", v_in);
    let ka = b.param("KA", ka_in);
    let depot = b.state("depot");
    let central = b.state("central");
    let elim = b.state("eliminated");
    let a_d = b.y(depot);
    let a_c = b.y(central);
    let absorption = b.mul(ka, a_d);
    b.flow(Some(depot), Some(central), absorption);
    let k = b.div(cl, v);
    let out = b.mul(k, a_c);
    b.flow(Some(central), Some(elim), out);
    b.accumulator(elim);
    b.set_bioavailability(depot, f_in);
    b.set_lag(depot, lag_in);
    let cp = b.div(a_c, v);
    b.observe("Cp", cp);
    b.finish()
}

/// Two-compartment model for IV doses. Inputs `CL`, `V1`, `Q`, `V2`.
/// States `central`, `peripheral`, `eliminated` (accumulator). Observable `Cp = central / V1`.
pub fn two_compartment_iv() -> Result<Module, Vec<BuildError>> {
    let mut b = ModuleBuilder::new("two_compartment_iv");
    let names = ["CL", "V1", "Q", "V2"];
    let mut p = Vec::new();
    for n in names {
        let i = b.input(n);
        p.push(b.param(n, i));
    }
    let (cl, v1, q, v2) = (p[0], p[1], p[2], p[3]);
    let c = b.state("central");
    let pe = b.state("peripheral");
    let el = b.state("eliminated");
    let ac = b.y(c);
    let ap = b.y(pe);
    let c1 = b.div(ac, v1);
    let c2 = b.div(ap, v2);
    let e = b.mul(cl, c1);
    b.flow(Some(c), Some(el), e);
    let f12 = b.mul(q, c1);
    b.flow(Some(c), Some(pe), f12);
    let f21 = b.mul(q, c2);
    b.flow(Some(pe), Some(c), f21);
    b.accumulator(el);
    b.observe("Cp", c1);
    b.finish()
}

/// Oral one-compartment PK driving the Friberg semi-mechanistic myelosuppression model:
/// states `depot`, `central`, `prol`, `transit1..3`, `circ` (7). Inputs `KA`, `CL`, `V`, `MTT`,
/// `CIRC0`, `GAMMA`, `SLOPE`. Observables `Cp`, `ANC`.
pub fn friberg() -> Result<Module, Vec<BuildError>> {
    let mut b = ModuleBuilder::new("pk_friberg");
    let names = ["KA", "CL", "V", "MTT", "CIRC0", "GAMMA", "SLOPE"];
    let mut p = Vec::new();
    for n in names {
        let i = b.input(n);
        p.push(b.param(n, i));
    }
    let (ka, cl, v, mtt, circ0, gamma, slope) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
    let four = b.constant(4.0);
    let ktr = b.div(four, mtt);
    let depot = b.state("depot");
    let central = b.state("central");
    let prol = b.state("prol");
    let t1 = b.state("transit1");
    let t2 = b.state("transit2");
    let t3 = b.state("transit3");
    let circ = b.state("circ");
    for s in [prol, t1, t2, t3, circ] {
        b.set_init(s, circ0);
    }
    let ad = b.y(depot);
    let ac = b.y(central);
    let abs_ = b.mul(ka, ad);
    b.flow(Some(depot), Some(central), abs_);
    let k = b.div(cl, v);
    let el = b.mul(k, ac);
    b.flow(Some(central), None, el);
    let cp = b.div(ac, v);
    let edrug = b.mul(slope, cp);
    let yp = b.y(prol);
    let yc = b.y(circ);
    let ratio = b.div(circ0, yc);
    let feedback = b.pow(ratio, gamma);
    let one = b.constant(1.0);
    let inhib = b.sub(one, edrug);
    let kp = b.mul(ktr, yp);
    let prolif = b.mul(kp, inhib);
    let prolif = b.mul(prolif, feedback);
    b.add_rhs(prol, prolif);
    let chain = [prol, t1, t2, t3, circ];
    for w in chain.windows(2) {
        let yv = b.y(w[0]);
        let fl = b.mul(ktr, yv);
        b.flow(Some(w[0]), Some(w[1]), fl);
    }
    let yv = b.y(circ);
    let out = b.mul(ktr, yv);
    b.flow(Some(circ), None, out);
    b.observe("Cp", cp);
    b.observe("ANC", yc);
    b.finish()
}

/// A flow-limited whole-body PBPK model: 14 tissues plus arterial and venous blood, a gut
/// lumen and an elimination accumulator (18 states). Inputs `WT` (kg), `KA`, `CLINT`, `FU`,
/// `CLR`, `BP`. Cardiac output scales allometrically, `15 L/h · (WT/70)^0.75`.
/// Observable `Cven` (venous plasma concentration).
pub fn pbpk() -> Result<Module, Vec<BuildError>> {
    // (name, fraction of cardiac output, volume fraction of body weight in L/kg, Kp)
    const TISSUES: [(&str, f64, f64, f64); 14] = [
        ("lung", 1.0, 0.0076, 0.8),
        ("brain", 0.12, 0.020, 0.6),
        ("heart", 0.04, 0.0047, 1.1),
        ("kidney", 0.19, 0.0044, 1.6),
        ("muscle", 0.17, 0.40, 0.9),
        ("adipose", 0.05, 0.21, 3.0),
        ("skin", 0.05, 0.037, 1.2),
        ("bone", 0.05, 0.086, 0.7),
        ("spleen", 0.02, 0.0026, 1.0),
        ("gut", 0.14, 0.017, 1.3),
        ("liver", 0.065, 0.026, 2.0),
        ("pancreas", 0.01, 0.0014, 1.0),
        ("thymus", 0.005, 0.0004, 1.0),
        ("rest", 0.085, 0.05, 1.0),
    ];
    let mut b = ModuleBuilder::new("pbpk18");
    let wt_in = b.input("WT");
    let ka_in = b.input("KA");
    let clint_in = b.input("CLINT");
    let fu_in = b.input("FU");
    let clr_in = b.input("CLR");
    let bp_in = b.input("BP");
    let wt = b.param("WT", wt_in);
    let ka = b.param("KA", ka_in);
    let clint = b.param("CLINT", clint_in);
    let fu = b.param("FU", fu_in);
    let clr = b.param("CLR", clr_in);
    let bp = b.param("BP", bp_in);
    let seventy = b.constant(70.0);
    let rel = b.div(wt, seventy);
    let e075 = b.constant(0.75);
    let scale = b.pow(rel, e075);
    let fifteen = b.constant(15.0);
    let co_e = b.mul(fifteen, scale);
    let co = b.param("CO", co_e);
    let vart_f = b.constant(0.026);
    let vven_f = b.constant(0.052);
    let vart = b.mul(vart_f, wt);
    let vven = b.mul(vven_f, wt);

    let lumen = b.state("gut_lumen");
    let art = b.state("arterial");
    let ven = b.state("venous");
    let mut ids = Vec::new();
    for (name, ..) in TISSUES {
        ids.push(b.state(name));
    }
    let elim = b.state("eliminated");
    b.accumulator(elim);

    let a_art = b.y(art);
    let c_art = b.div(a_art, vart);
    let a_ven = b.y(ven);
    let c_ven = b.div(a_ven, vven);
    // Outflow concentration of each tissue: A / (V * Kp / BP).
    let mut c_out = Vec::new();
    for (k, (_, _, vfrac, kp)) in TISSUES.iter().enumerate() {
        let vf = b.constant(*vfrac);
        let vol = b.mul(vf, wt);
        let kpc = b.constant(*kp);
        let kp_bp = b.div(kpc, bp);
        let denom = b.mul(vol, kp_bp);
        let a = b.y(ids[k]);
        c_out.push(b.div(a, denom));
    }
    // Lung: venous → lung → arterial.
    let lung = 0;
    let in_lung = b.mul(co, c_ven);
    b.flow(Some(ven), Some(ids[lung]), in_lung);
    let out_lung = b.mul(co, c_out[lung]);
    b.flow(Some(ids[lung]), Some(art), out_lung);
    let idx = |n: &str| TISSUES.iter().position(|t| t.0 == n).unwrap_or(0);
    let (gut, spleen, pancreas, liver) = (idx("gut"), idx("spleen"), idx("pancreas"), idx("liver"));
    for (k, (name, qfrac, ..)) in TISSUES.iter().enumerate().skip(1) {
        let qf = b.constant(*qfrac);
        let q = b.mul(qf, co);
        let inflow = b.mul(q, c_art);
        b.flow(Some(art), Some(ids[k]), inflow);
        let out = b.mul(q, c_out[k]);
        // Splanchnic organs drain into the liver, the rest into venous blood.
        let dest = if [gut, spleen, pancreas].contains(&k) {
            ids[liver]
        } else {
            ven
        };
        b.flow(Some(ids[k]), Some(dest), out);
        let _ = name;
    }
    // Hepatic clearance (well-stirred intrinsic) and renal clearance.
    let cl_h = b.mul(clint, fu);
    let cl_h_bp = b.div(cl_h, bp);
    let hep = b.mul(cl_h_bp, c_out[liver]);
    b.flow(Some(ids[liver]), Some(elim), hep);
    let kid = idx("kidney");
    let ren = b.mul(clr, c_out[kid]);
    b.flow(Some(ids[kid]), Some(elim), ren);
    // Absorption from the gut lumen into the gut wall.
    let al = b.y(lumen);
    let abs_ = b.mul(ka, al);
    b.flow(Some(lumen), Some(ids[gut]), abs_);
    let cp = b.div(c_ven, bp);
    b.observe("Cven", cp);
    b.finish()
}

/// A model that uses every operator, for JIT-versus-interpreter agreement tests.
/// Inputs `A`, `B`; states `x`, `y`; observables `o0..o5`.
pub fn operator_zoo() -> Result<Module, Vec<BuildError>> {
    let mut b = ModuleBuilder::new("zoo");
    let a = b.input("A");
    let bb = b.input("B");
    let pa = b.param("A", a);
    let pb = b.param("B", bb);
    let x = b.state("x");
    let y = b.state("y");
    let one = b.constant(1.0);
    let xa = b.add(one, pa);
    b.set_init(x, xa);
    b.set_init(y, pb);
    let vx = b.y(x);
    let vy = b.y(y);
    let t = b.time();
    let ax = b.abs(vx);
    let s = b.sqrt(ax);
    let l = b.log(ax);
    let l10 = b.log10(ax);
    let e = b.exp(vy);
    let p = b.pow(ax, pb);
    let p3 = b.powi(vy, 3);
    let pm2 = b.powi(vx, -2);
    let fl = b.floor(vy);
    let ce = b.ceil(t);
    let mn = b.min(vx, vy);
    let mx = b.max(vx, t);
    let lt = b.lt(vx, vy);
    let ge = b.ge(vy, pa);
    let and = b.and(lt, ge);
    let or = b.or(lt, ge);
    let not = b.not(and);
    let le = b.le(vx, t);
    let gt = b.gt(t, pb);
    let eq = b.eq(fl, ce);
    let ne = b.ne(vx, vy);
    let sel = b.select(or, s, l);
    let sel2 = b.select(not, p, e);
    let r1 = b.sub(sel, sel2);
    let r1 = b.mul(r1, pa);
    let den = b_add3(&mut b, p3, pm2, l10);
    let r1 = b.div(r1, den);
    b.set_rhs(x, r1);
    let r2 = b.add(mn, mx);
    let r2 = b.sub(r2, le);
    let neg = b.neg(r2);
    let r2 = b.add(neg, gt);
    let r2 = b.add(r2, eq);
    let r2 = b.sub(r2, ne);
    b.set_rhs(y, r2);
    b.observe("o0", sel);
    b.observe("o1", sel2);
    b.observe("o2", r1);
    b.observe("o3", r2);
    b.observe("o4", fl);
    b.observe("o5", ce);
    b.finish()
}

fn b_add3(b: &mut ModuleBuilder, x: super::Expr, y: super::Expr, z: super::Expr) -> super::Expr {
    let s = b.add(x, y);
    b.add(s, z)
}

/// Typical inputs for each example model, in input order.
pub mod typical {
    /// `one_compartment_oral`: CL 5 L/h, V 50 L, KA 1/h, F 1, TLAG 0.
    pub const ONE_CPT_ORAL: [f64; 5] = [5.0, 50.0, 1.0, 1.0, 0.0];
    /// `two_compartment_iv`: CL 10 L/h, V1 20 L, Q 5 L/h, V2 100 L.
    pub const TWO_CPT_IV: [f64; 4] = [10.0, 20.0, 5.0, 100.0];
    /// `friberg`: KA 1, CL 10, V 50, MTT 125 h, CIRC0 5, GAMMA 0.17, SLOPE 0.1 L/mg.
    pub const FRIBERG: [f64; 7] = [1.0, 10.0, 50.0, 125.0, 5.0, 0.17, 0.1];
    /// `pbpk`: WT 70, KA 1, CLINT 30, FU 0.2, CLR 2, BP 1.
    pub const PBPK: [f64; 6] = [70.0, 1.0, 30.0, 0.2, 2.0, 1.0];
    /// `operator_zoo`: A 0.7, B 1.3.
    pub const ZOO: [f64; 2] = [0.7, 1.3];
}
