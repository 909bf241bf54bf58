//! End-to-end tests of the pipeline (source → check → lower → JIT → solve → CSV) against closed
//! forms, conservation of mass, a second backend (the IR interpreter), and stable IR text.

mod common;
use common::{column, table};

use twin::cmd::run::{Failure, Request, execute};
use twin::solve::{Method, SolveOptions};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn tight() -> SolveOptions {
    SolveOptions {
        method: Method::Bdf,
        rtol: 1e-8,
        atol: 1e-12,
        ..Default::default()
    }
}

/// Max relative error over points where the reference exceeds 1e-6 of its peak.
fn max_rel_err(reference: &[f64], got: &[f64]) -> f64 {
    let peak = reference.iter().copied().fold(0.0, f64::max);
    reference
        .iter()
        .zip(got)
        .filter(|(r, _)| **r > 1e-6 * peak)
        .map(|(r, g)| ((g - r) / r).abs())
        .fold(0.0, f64::max)
}

fn request(file: &str, dose: &[&str], until: &str, every: &str) -> Request {
    Request {
        eliminated: true,
        name: file.into(),
        text: read(file),
        doses: dose.iter().map(|d| d.to_string()).collect(),
        until: Some(until.into()),
        every: Some(every.into()),
        options: tight(),
        ..Default::default()
    }
}

#[test]
fn one_compartment_oral_matches_bateman() {
    let (h, rows) = table(&request(
        "examples/one_compartment_oral.twin",
        &["100 mg into depot"],
        "48h",
        "0.5h",
    ));
    let (t, c) = (column(&h, "time [h]"), column(&h, "conc [mg/L]"));
    let (dose, ka, cl, v) = (100.0, 1.0, 5.0, 50.0);
    let k = cl / v;
    let reference: Vec<f64> = rows
        .iter()
        .map(|r| dose * ka / (v * (ka - k)) * ((-k * r[t]).exp() - (-ka * r[t]).exp()))
        .collect();
    let got: Vec<f64> = rows.iter().map(|r| r[c]).collect();
    assert_eq!(rows.len(), 97);
    let err = max_rel_err(&reference, &got);
    assert!(err <= 1e-6, "max relative error {err:e}");
}

/// Two-compartment IV bolus: C(t) = D/V1 · [(α−k21)/(α−β)·e^{−αt} + (k21−β)/(α−β)·e^{−βt}].
fn biexponential(dose: f64, t: f64) -> f64 {
    let (cl, v1, q, v2): (f64, f64, f64, f64) = (10.0, 20.0, 5.0, 100.0);
    let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
    let s = k10 + k12 + k21;
    let disc = (s * s - 4.0 * k10 * k21).sqrt();
    let (alpha, beta) = ((s + disc) / 2.0, (s - disc) / 2.0);
    dose / v1
        * ((alpha - k21) / (alpha - beta) * (-alpha * t).exp()
            + (k21 - beta) / (alpha - beta) * (-beta * t).exp())
}

#[test]
fn two_compartment_repeated_doses_match_superposition_and_conserve_mass() {
    let (h, rows) = table(&request(
        "examples/two_compartment_iv.twin",
        &["100 mg into central every 12 h times 24"],
        "288h",
        "1h",
    ));
    let t = column(&h, "time [h]");
    let c = column(&h, "conc [mg/L]");
    let reference: Vec<f64> = rows
        .iter()
        .map(|r| {
            (0..24)
                .map(|i| 12.0 * i as f64)
                .filter(|&td| td <= r[t])
                .map(|td| biexponential(100.0, r[t] - td))
                .sum()
        })
        .collect();
    let got: Vec<f64> = rows.iter().map(|r| r[c]).collect();
    assert_eq!(rows.len(), 289);
    let err = max_rel_err(&reference, &got);
    assert!(err <= 1e-6, "max relative error {err:e}");
    // Mass balance: central + peripheral + eliminated = doses given so far.
    let (a, p, e) = (
        column(&h, "central [mg]"),
        column(&h, "peripheral [mg]"),
        column(&h, "eliminated [mg]"),
    );
    for r in &rows {
        let given = 100.0 * (0..24).filter(|i| 12.0 * *i as f64 <= r[t]).count() as f64;
        let total = r[a] + r[p] + r[e];
        assert!(
            (total - given).abs() <= 1e-8 * given,
            "t = {}: {total} vs {given}",
            r[t]
        );
    }
}

#[test]
fn constant_rate_infusion_matches_closed_form() {
    // 100 mg over 2 h into central of the one-compartment model (k = CL/V = 0.1 /h).
    let (h, rows) = table(&request(
        "examples/one_compartment_oral.twin",
        &["100 mg into central over 2 h"],
        "24h",
        "0.25h",
    ));
    let (t, c) = (column(&h, "time [h]"), column(&h, "conc [mg/L]"));
    let (rate, cl, k, dur) = (50.0, 5.0, 0.1, 2.0);
    let reference: Vec<f64> = rows
        .iter()
        .map(|r| {
            let tt: f64 = r[t];
            if tt <= dur {
                rate / cl * (1.0 - (-k * tt).exp())
            } else {
                rate / cl * (1.0 - (-k * dur).exp()) * (-k * (tt - dur)).exp()
            }
        })
        .collect();
    let got: Vec<f64> = rows.iter().map(|r| r[c]).collect();
    let err = max_rel_err(&reference, &got);
    assert!(err <= 1e-6, "max relative error {err:e}");
}

#[test]
fn infusion_by_rate_equals_infusion_by_duration() {
    let (_, a) = table(&request(
        "examples/one_compartment_oral.twin",
        &["100 mg into central over 2 h"],
        "24h",
        "1h",
    ));
    let (_, b) = table(&request(
        "examples/one_compartment_oral.twin",
        &["100 mg into central rate 50 mg/h"],
        "24h",
        "1h",
    ));
    for (ra, rb) in a.iter().zip(&b) {
        for (x, y) in ra.iter().zip(rb) {
            assert!((x - y).abs() <= 1e-9 * x.abs().max(1e-9), "{x} vs {y}");
        }
    }
}

#[test]
fn dose_units_convert_exactly() {
    // 0.1 g is 100 mg: the same trajectory.
    let (_, a) = table(&request(
        "examples/one_compartment_oral.twin",
        &["100 mg into depot"],
        "12h",
        "1h",
    ));
    let (_, b) = table(&request(
        "examples/one_compartment_oral.twin",
        &["0.1 g into depot"],
        "12h",
        "1h",
    ));
    assert_eq!(a, b);
}

#[test]
fn event_records_equal_command_line_doses() {
    let mut req = request("examples/two_compartment_iv.twin", &[], "48h", "1h");
    // The dose row, then an observation every hour: one output line per data row.
    let mut data = String::from("ID,TIME,AMT,RATE,CMT,EVID,II,ADDL\n1,0,100,0,central,1,12,3\n");
    for t in 1..=48 {
        data.push_str(&format!("1,{t},.,.,.,0,.,.\n"));
    }
    req.events = Some(data);
    req.until = None;
    req.every = None;
    let (h, ev) = table(&req);
    assert_eq!(&h[..6], ["ID", "TIME [h]", "EVID", "MDV", "DVID", "DV"]);
    let (_, cli) = table(&request(
        "examples/two_compartment_iv.twin",
        &["100 mg into central every 12 h times 4"],
        "48h",
        "1h",
    ));
    assert_eq!(ev.len(), cli.len());
    for (re, rc) in ev.iter().zip(&cli) {
        assert_eq!(re[1], rc[0]);
        assert_eq!(&re[6..], &rc[1..]);
    }
}

#[test]
fn covariates_set_from_the_command_line_convert_units() {
    let text = "model M {\n covariate weight: kg = 70 kg\n param v: L = 0.7 L/kg * weight\n compartment central: mg\n flow central -> out = 5 L/h / v * central\n observe conc: mg/L = central / v\n}\n";
    let mk = |set: &str| Request {
        name: "m.twin".into(),
        text: text.into(),
        doses: vec!["100 mg into central".into()],
        sets: vec![set.into()],
        until: Some("4h".into()),
        every: Some("1h".into()),
        options: tight(),
        ..Default::default()
    };
    let (h, kg) = table(&mk("weight=80kg"));
    let (_, g) = table(&mk("weight = 80000 g"));
    assert_eq!(kg, g);
    // C(0) = 100 mg / (0.7 L/kg · 80 kg).
    assert!((kg[0][column(&h, "conc [mg/L]")] - 100.0 / 56.0).abs() < 1e-12);
    match execute(&mk("weight=80 L")) {
        Err(Failure::Diagnostics(_, d)) => assert_eq!(d[0].code, "E0008"),
        _ => panic!("a volume is not a weight"),
    }
    match execute(&mk("wieght=80 kg")) {
        Err(Failure::Diagnostics(_, d)) => {
            assert!(d[0].help.as_deref().unwrap_or("").contains("weight"))
        }
        _ => panic!("unknown covariate"),
    }
}

#[test]
fn a_failing_solve_names_time_state_and_parameters() {
    // dx/dt = k·x² with x(0) = 1 blows up at t = 1/k = 1 h.
    let text = "model Blow {\n param k = 1 /h\n state x: 1 = 1\n d/dt x = k * x^2\n observe x\n}\n";
    let req = Request {
        name: "blow.twin".into(),
        text: text.into(),
        until: Some("2h".into()),
        every: Some("0.1h".into()),
        ..Default::default()
    };
    match execute(&req) {
        Err(f @ Failure::Simulate { .. }) => {
            let m = f.to_string();
            assert!(m.contains("t = "), "{m}");
            assert!(m.contains("`x`"), "{m}");
            assert!(m.contains("k = 1"), "{m}");
        }
        Err(Failure::Diagnostics(c, d)) => {
            panic!("{}", twin::diagnostic::render(&c.sources, &d, false))
        }
        Err(f) => panic!("not a solve failure: {f}"),
        Ok(_) => panic!("the solve should fail"),
    }
}

fn lowered(path: &str) -> Vec<twin::lower::Lowered> {
    let c = twin::driver::compile(path, &read(path));
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    // Models with an undefined `input` (parts such as the stdlib's PD models) cannot run.
    c.program
        .models
        .iter()
        .filter(|m| m.inputs.is_empty())
        .map(|m| {
            twin::lower::lower(&c.program, m, &[], twin::lower::Options::default())
                .unwrap_or_else(|e| panic!("{e:?}"))
        })
        .collect()
}

/// Every bundled example, the syntax tour and the benchmark models.
fn examples() -> Vec<String> {
    let mut v: Vec<String> = ["examples", "benches/models"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".twin"))
        .collect();
    v.push("docs/syntax_tour.twin".into());
    v.sort();
    v
}

#[test]
fn jit_and_interpreter_agree_on_every_example() {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rand = move || {
        seed = seed.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    for path in &examples() {
        for l in lowered(path) {
            let m = &l.module;
            let jit = twin::jit::compile(m).unwrap_or_else(|e| panic!("{path}: {e}"));
            let interp = twin::ir::Interpreter::new(m.clone());
            for _ in 0..50 {
                // Inputs near their typical scale; genotype inputs are diplotype indices.
                let inputs: Vec<f64> = (0..m.n_inputs())
                    .map(|i| match &l.inputs[i] {
                        twin::lower::InputSlot::Genotype(_) => (rand() * 3.0).floor(),
                        twin::lower::InputSlot::Covariate(_) => 10.0 + 90.0 * rand(),
                        twin::lower::InputSlot::Eta(_) => rand() - 0.5,
                        twin::lower::InputSlot::Slope(_)
                        | twin::lower::InputSlot::Origin(_)
                        | twin::lower::InputSlot::Theta(_)
                        | twin::lower::InputSlot::Kappa(..)
                        | twin::lower::InputSlot::Occasion => 0.0,
                    })
                    .collect();
                let (mut pj, mut pi) = (vec![0.0; m.n_params()], vec![0.0; m.n_params()]);
                jit.setup(&inputs, &mut pj)
                    .unwrap_or_else(|e| panic!("{e}"));
                interp
                    .setup(&inputs, &mut pi)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    pj.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "{path}: setup"
                );
                let y: Vec<f64> = (0..m.n_states()).map(|_| 10.0 * rand()).collect();
                let t = 100.0 * rand();
                let (mut dj, mut di) = (vec![0.0; m.n_states()], vec![0.0; m.n_states()]);
                jit.rhs(t, &y, &pj, &mut dj)
                    .unwrap_or_else(|e| panic!("{e}"));
                interp
                    .rhs(t, &y, &pi, &mut di)
                    .unwrap_or_else(|e| panic!("{e}"));
                for (a, b) in dj.iter().zip(&di) {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{path}: rhs {a} vs {b}"
                    );
                }
                let (mut oj, mut oi) = (vec![0.0; m.n_observables()], vec![0.0; m.n_observables()]);
                jit.observe(t, &y, &pj, &mut oj)
                    .unwrap_or_else(|e| panic!("{e}"));
                interp
                    .observe(t, &y, &pi, &mut oi)
                    .unwrap_or_else(|e| panic!("{e}"));
                for (a, b) in oj.iter().zip(&oi) {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{path}: observe {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn symbolic_jacobian_matches_finite_differences_on_every_example() {
    for path in &examples() {
        for l in lowered(path) {
            let m = &l.module;
            let interp = twin::ir::Interpreter::new(m.clone());
            let inputs: Vec<f64> = (0..m.n_inputs())
                .map(|i| match &l.inputs[i] {
                    twin::lower::InputSlot::Genotype(_) => 1.0,
                    twin::lower::InputSlot::Covariate(_) => 60.0,
                    twin::lower::InputSlot::Eta(_) => 0.1,
                    twin::lower::InputSlot::Slope(_)
                    | twin::lower::InputSlot::Origin(_)
                    | twin::lower::InputSlot::Theta(_)
                    | twin::lower::InputSlot::Kappa(..)
                    | twin::lower::InputSlot::Occasion => 0.0,
                })
                .collect();
            let mut p = vec![0.0; m.n_params()];
            interp
                .setup(&inputs, &mut p)
                .unwrap_or_else(|e| panic!("{e}"));
            let n = m.n_states();
            let y: Vec<f64> = (0..n).map(|i| 0.5 + 0.37 * i as f64).collect();
            let mut vals = vec![0.0; m.sparsity.len()];
            interp
                .jacobian(3.0, &y, &p, &mut vals)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut dense = vec![0.0; n * n];
            for (k, &(i, j)) in m.sparsity.iter().enumerate() {
                dense[i as usize * n + j as usize] = vals[k];
            }
            for j in 0..n {
                let h = 1e-6 * y[j].abs().max(1.0);
                let (mut yp, mut ym) = (y.clone(), y.clone());
                yp[j] += h;
                ym[j] -= h;
                let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
                interp
                    .rhs(3.0, &yp, &p, &mut fp)
                    .unwrap_or_else(|e| panic!("{e}"));
                interp
                    .rhs(3.0, &ym, &p, &mut fm)
                    .unwrap_or_else(|e| panic!("{e}"));
                for i in 0..n {
                    let fd = (fp[i] - fm[i]) / (2.0 * h);
                    let exact = dense[i * n + j];
                    assert!(
                        (fd - exact).abs() <= 1e-5 * exact.abs().max(1e-3),
                        "{path}: ∂f{i}/∂y{j}: {exact} vs {fd}"
                    );
                }
            }
        }
    }
}

#[test]
fn ir_text_is_stable_and_snapshotted() {
    for path in [
        "examples/one_compartment_oral.twin",
        "examples/two_compartment_iv.twin",
        "examples/warfarin_pgx.twin",
    ] {
        let a: Vec<String> = lowered(path)
            .iter()
            .map(|l| twin::ir::print::module_to_string(&l.module))
            .collect();
        let b: Vec<String> = lowered(path)
            .iter()
            .map(|l| twin::ir::print::module_to_string(&l.module))
            .collect();
        assert_eq!(a, b, "compiling twice must give identical IR");
        let name = path
            .trim_start_matches("examples/")
            .trim_end_matches(".twin");
        insta::assert_snapshot!(format!("ir_{name}"), a.join("\n"));
    }
}
