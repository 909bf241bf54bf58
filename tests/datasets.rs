//! Clinical datasets through `twin run --events`: a dataset run equals the same regimen given
//! with `--dose`/`--set` bit for bit; units in headers convert exactly; a covariate step changes
//! the solution exactly at the step (a piecewise closed form); pre-dose rows are troughs; SS=1
//! rows equal `at steady state`; EVID 3 resets; and a corpus of malformed datasets each gets an
//! error naming its row, column and value.

use twin::cmd::run::{Request, Trajectories, simulate};

const RENAL: &str = r#"
model Renal {
    covariate crcl: mL/min = 100 mL/min
    param cl: L/h = 4 L/h * crcl / (100 mL/min)
    param v: L = 40 L
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
"#;

fn run_events(model: &str, data: &str) -> Result<Trajectories, String> {
    simulate(&Request {
        name: "m.twin".into(),
        text: model.into(),
        events: Some(data.into()),
        ..Default::default()
    })
    .map_err(|e| e.to_string())
}

/// (time, conc) of every data row of subject `k`.
fn rows(t: &Trajectories, k: usize) -> Vec<(f64, f64)> {
    t.subjects[k]
        .records
        .as_ref()
        .map(|r| r.iter().map(|r| (r.row.time, r.observables[0])).collect())
        .unwrap_or_default()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn a_dataset_run_equals_the_same_regimen_from_the_command_line() {
    // Observations on the command line's grid (every hour): the same solve, step for step.
    let mut data = String::from("ID,TIME,AMT,CMT,EVID,crcl\n1,0,500,central,1,60\n");
    for t in 1..=8 {
        data.push_str(&format!("1,{t},.,.,0,.\n"));
    }
    let d = run_events(RENAL, &data).unwrap_or_else(|e| panic!("{e}"));
    let cli = simulate(&Request {
        name: "m.twin".into(),
        text: RENAL.into(),
        doses: vec!["500 mg into central".into()],
        sets: vec!["crcl=60 mL/min".into()],
        until: Some("8h".into()),
        every: Some("1h".into()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let s = &cli.subjects[0].sim;
    for (t, c) in rows(&d, 0) {
        let k = s.times.iter().position(|&x| x == t).unwrap_or(usize::MAX);
        assert_eq!(c.to_bits(), s.observable(k, 0).to_bits(), "t = {t}");
    }
}

#[test]
fn units_in_headers_convert_exactly() {
    // 0.5 g at day 0, observed at 0.25 d = 6 h; crcl in L/h (6 L/h = 100 mL/min).
    let data = "ID,TIME [d],AMT [g],CMT,EVID,DV [ug/mL],crcl [L/h]\n1,0,0.5,central,1,.,6\n1,0.25,.,.,0,7,.\n";
    let d = run_events(RENAL, data).unwrap_or_else(|e| panic!("{e}"));
    let r = &d.subjects[0]
        .records
        .as_ref()
        .unwrap_or_else(|| panic!("records"))[1];
    assert_eq!(r.row.time, 6.0);
    assert_eq!(r.row.dv, Some(7.0));
    let want = 500.0 / 40.0 * (-0.1f64 * 6.0).exp();
    assert!(rel(r.observables[0], want) < 1e-13, "{}", r.observables[0]);
    // A unit of the wrong dimension is an error naming the column.
    let e = run_events(RENAL, "ID,TIME [mg],AMT\n1,0,1\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("TIME") && e.contains("does not fit"), "{e}");
    let e = run_events(RENAL, "ID,TIME,AMT,crcl [kg]\n1,0,1,70\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("crcl") && e.contains("does not fit"), "{e}");
}

#[test]
fn a_covariate_step_changes_the_solution_exactly_at_the_step() {
    // 1000 mg at 0 (CL 4 L/h, k = 0.1/h); creatinine clearance halves at 24 h (k = 0.05/h).
    let data = "ID,TIME,AMT,CMT,EVID,crcl\n1,0,1000,central,1,100\n1,12,.,.,0,.\n1,24,.,.,2,50\n1,30,.,.,0,.\n1,48,.,.,0,.\n";
    let d = run_events(RENAL, data).unwrap_or_else(|e| panic!("{e}"));
    let c = |t: f64| {
        let c0 = 1000.0 / 40.0;
        if t <= 24.0 {
            c0 * (-0.1 * t).exp()
        } else {
            c0 * (-2.4f64).exp() * (-0.05 * (t - 24.0)).exp()
        }
    };
    for (t, x) in rows(&d, 0) {
        assert!(rel(x, c(t)) < 1e-12, "t = {t}: {x} vs {}", c(t));
    }
}

#[test]
fn an_observation_before_the_dose_row_is_the_trough() {
    let data = "ID,TIME,AMT,CMT,EVID,DV\n1,0,1000,central,1,.\n1,24,.,.,0,2.2\n1,24,1000,central,1,.\n1,24,.,.,0,27\n";
    let d = run_events(RENAL, data).unwrap_or_else(|e| panic!("{e}"));
    let r = rows(&d, 0);
    let trough = 25.0 * (-2.4f64).exp();
    assert!(rel(r[1].1, trough) < 1e-12, "pre-dose {}", r[1].1);
    assert!(rel(r[3].1, trough + 25.0) < 1e-12, "post-dose {}", r[3].1);
}

#[test]
fn a_pre_dose_row_reports_its_own_covariates() {
    // The volume follows weight; weight changes on the trough row written before the dose at
    // 24 h. The amount just before the dose is continuous; the row's concentration uses its own
    // weight: A(24⁻)/V(60 kg), the row's covariate in force from its time on.
    let model = r#"
model Wt {
    covariate weight: kg = 70 kg
    param cl: L/h = 4 L/h
    param v: L = 0.5 L/kg * weight
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v
}
"#;
    let data = "ID,TIME,AMT,CMT,EVID,weight\n1,0,1000,central,1,80\n1,24,.,.,0,60\n1,24,1000,central,1,.\n1,30,.,.,0,.\n";
    let d = run_events(model, data).unwrap_or_else(|e| panic!("{e}"));
    let r = rows(&d, 0);
    let a24 = 1000.0 * (-4.0f64 / 40.0 * 24.0).exp();
    assert!(
        rel(r[1].1, a24 / 30.0) < 1e-12,
        "pre-dose {} vs {}",
        r[1].1,
        a24 / 30.0
    );
    let a30 = (a24 + 1000.0) * (-4.0f64 / 30.0 * 6.0).exp();
    assert!(rel(r[3].1, a30 / 30.0) < 1e-12, "6 h later {}", r[3].1);
}

#[test]
fn ss_rows_equal_steady_state_doses_and_evid3_resets() {
    let data = "ID,TIME,AMT,CMT,EVID,SS,II\n1,0,1000,central,1,1,12\n1,6,.,.,0,0,.\n1,12,.,.,3,0,.\n1,13,.,.,0,0,.\n";
    let d = run_events(RENAL, data).unwrap_or_else(|e| panic!("{e}"));
    let r = rows(&d, 0);
    let ss6 = 25.0 * (-0.6f64).exp() / (1.0 - (-1.2f64).exp());
    assert!(rel(r[1].1, ss6) < 1e-12, "{}", r[1].1);
    // After the reset nothing is left.
    assert_eq!(r[3].1, 0.0);
    let cli = simulate(&Request {
        name: "m.twin".into(),
        text: RENAL.into(),
        doses: vec!["1000 mg into central every 12 h times 1 at steady state".into()],
        until: Some("6h".into()),
        every: Some("6h".into()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cli.subjects[0].sim.observable(1, 0).to_bits(),
        r[1].1.to_bits()
    );
}

#[test]
fn malformed_datasets_name_row_column_and_value() {
    let two_obs = r#"
model Two {
    param v: L = 10 L
    compartment gut: mg
    compartment central: mg
    flow gut -> central = 1 /h * gut
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / v
    observe gut_amount: mg = gut
}
"#;
    // (model, data, row, column, value) — the row is the 1-based line (header = 1).
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (RENAL, "ID,TIME\n1,-1\n", 2, "TIME", "-1"),
        (RENAL, "ID,TIME\n1,nan\n", 2, "TIME", "nan"),
        (RENAL, "ID,TIME\n1,inf\n", 2, "TIME", "inf"),
        (RENAL, "ID,TIME\n1,x\n", 2, "TIME", "x"),
        (RENAL, "ID,TIME\n.,0\n", 2, "ID", "."),
        (RENAL, "ID,TIME,AMT\n1,0,abc\n", 2, "AMT", "abc"),
        (RENAL, "ID,TIME,AMT,EVID\n1,0,5,1.5\n", 2, "EVID", "1.5"),
        (RENAL, "ID,TIME,AMT,EVID\n1,0,5,7\n", 2, "EVID", "7"),
        (RENAL, "ID,TIME,AMT,EVID\n1,0,0,1\n", 2, "AMT", "0"),
        (RENAL, "ID,TIME,AMT,EVID\n1,0,-5,1\n", 2, "AMT", "-5"),
        (RENAL, "ID,TIME,AMT,CMT\n1,0,5,gut\n", 2, "CMT", "gut"),
        (RENAL, "ID,TIME,AMT,CMT\n1,0,5,3\n", 2, "CMT", "3"),
        (RENAL, "ID,TIME,AMT,RATE\n1,0,5,-1\n", 2, "RATE", "-1"),
        (RENAL, "ID,TIME,AMT,RATE\n1,0,5,-2\n", 2, "RATE", "-2"),
        (RENAL, "ID,TIME,AMT,ADDL\n1,0,5,3\n", 2, "II", "0"),
        (RENAL, "ID,TIME,AMT,ADDL,II\n1,0,5,-3,12\n", 2, "ADDL", "-3"),
        (RENAL, "ID,TIME,AMT,SS\n1,0,5,1\n", 2, "II", "0"),
        (RENAL, "ID,TIME,AMT,SS,II\n1,0,5,3,12\n", 2, "SS", "3"),
        (RENAL, "ID,TIME,AMT,SS,II\n1,0,5,0.5,12\n", 2, "SS", "0.5"),
        (RENAL, "ID,TIME,DV,MDV\n1,0,3,2\n", 2, "MDV", "2"),
        (RENAL, "ID,TIME,DV,MDV\n1,0,.,0\n", 2, "DV", ""),
        (RENAL, "ID,TIME,AMT,DV,MDV\n1,0,5,3,0\n", 2, "MDV", "0"),
        (RENAL, "ID,TIME,DV\n1,0,x\n", 2, "DV", "x"),
        (RENAL, "ID,TIME\n1,5\n1,2\n", 3, "TIME", "2"),
        (
            RENAL,
            "ID,TIME\n1,0\n1,0,7\n",
            3,
            "3 (past the last column)",
            "1,0,7",
        ),
        (RENAL, "ID,TIME,AMT\n1,0\n", 2, "AMT", "1,0"),
        (RENAL, "ID,TIME,crcl\n1,0,fast\n", 2, "crcl", "fast"),
        (RENAL, "ID,TIME,id\n1,0,2\n", 1, "ID", "id"),
        (RENAL, "ID,TIME [kg]\n1,0\n", 1, "TIME", "kg"),
        (RENAL, "ID,TIME,EVID [h]\n1,0,0\n", 1, "EVID", "h"),
        (RENAL, "ID,TIME,crcl [mg]\n1,0,5\n", 1, "crcl", "mg"),
        (RENAL, "ID,TIME,AMT [L]\n1,0,5\n", 2, "AMT", "L"),
        (RENAL, "ID,TIME,DV [kg]\n1,0,5\n", 2, "DV", "kg"),
        (RENAL, "ID,TIME,DV [\n1,0,5\n", 1, "DV [", "DV ["),
        (RENAL, "ID,TIME,DVID,DV\n1,0,auc,5\n", 2, "DVID", "auc"),
        (RENAL, "ID,TIME,DVID,DV\n1,0,2,5\n", 2, "DVID", "2"),
        (two_obs, "ID,TIME,DV\n1,0,5\n", 2, "DVID", ""),
        (two_obs, "ID,TIME,AMT\n1,0,5\n", 2, "CMT", ""),
        (RENAL, "ID\n1\n", 1, "TIME", "ID"),
    ];
    assert!(cases.len() >= 30);
    for (model, data, row, column, value) in cases {
        let e = std::panic::catch_unwind(|| run_events(model, data))
            .unwrap_or_else(|_| panic!("panicked on {data:?}"))
            .err()
            .unwrap_or_else(|| panic!("accepted {data:?}"));
        let want = format!("row {row}, column {column}:");
        assert!(e.contains(&want), "{data:?}: {e}\n(wanted `{want}`)");
        assert!(e.contains(&format!("(value `{value}`)")), "{data:?}: {e}");
    }
}

/// A reader that hands out at most 7 bytes per call, so that every buffer boundary falls
/// somewhere inside a row.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// A few thousand rows over many subjects: doses (bolus, infusion, steady state), covariate
/// changes, troughs written before the dose row, resets, comments and blank lines.
fn many_subjects(n: usize) -> String {
    let mut d = String::from("# generated\nID,TIME,AMT,RATE,CMT,EVID,SS,II,DV,crcl\n");
    for i in 1..=n {
        let crcl = 40 + (i * 7) % 90;
        d.push_str(&format!("{i},0,500,0,central,1,0,.,.,{crcl}\n"));
        for t in 1..=24 {
            d.push_str(&format!("{i},{t},.,.,.,0,.,.,{}.5,.\n", t % 9));
        }
        d.push_str(&format!(
            "{i},24,.,.,.,0,.,.,1,.\n{i},24,300,100,central,1,0,.,.,.\n"
        ));
        if i % 5 == 0 {
            d.push_str(&format!(
                "\n# subject {i} changes\n{i},30,.,.,.,2,.,.,.,{}\n",
                crcl / 2
            ));
        }
        d.push_str(&format!(
            "{i},36,.,.,.,3,.,.,.,.\n{i},36,250,0,central,1,1,12,.,.\n"
        ));
        for t in 37..=60 {
            d.push_str(&format!("{i},{t},.,.,.,0,.,.,.,.\n"));
        }
    }
    d
}

#[test]
fn streaming_writes_the_same_bytes_as_the_in_memory_table() {
    let data = many_subjects(60);
    let rows = data
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
        - 1;
    assert!(rows > 3000, "{rows} rows");
    let req = Request {
        name: "m.twin".into(),
        text: RENAL.into(),
        events: Some(data.clone()),
        ..Default::default()
    };
    let memory = simulate(&req).unwrap_or_else(|e| panic!("{e}"));
    let (mut table, mut log) = (Vec::new(), Vec::new());
    let done = twin::cmd::run::stream(
        &Request {
            events: None,
            ..req.clone()
        },
        Trickle(data.as_bytes()),
        &mut table,
        &mut log,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((done.subjects, done.rows), (60, rows));
    assert_eq!(memory.subjects.len(), 60);
    assert!(
        String::from_utf8_lossy(&table) == memory.csv(),
        "the streamed table differs from the in-memory one"
    );
    assert_eq!(
        String::from_utf8_lossy(&log),
        format!("{}{}", memory.warnings, memory.summary())
    );
}

#[test]
fn an_id_that_reappears_after_other_ids_is_an_error_at_its_row() {
    let data = "ID,TIME,AMT,CMT\n1,0,5,central\n1,2,.,.\n2,0,5,central\n1,3,.,.\n";
    let e = run_events(RENAL, data).err().unwrap_or_default();
    assert!(
        e.contains("row 5, column ID:") && e.contains("(value `1`)"),
        "{e}"
    );
    assert!(e.contains("rows ended at row 3"), "{e}");
}

#[test]
fn sample_draws_each_subjects_effects_occasions_and_residual_error() {
    let model = r#"
model Iov {
    param cl: L/h = 4 L/h
    param v: L = 40 L
    vary cl ~ lognormal(omega: 0.09)
    vary cl ~ lognormal(omega: 0.04) per occasion
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v ~ proportional(10%) + additive(0.1 mg/L)
}
"#;
    // Two subjects; occasion 2 starts at 24 h for subject 1, OCC 7 throughout for subject 2.
    let data = "ID,TIME,AMT,CMT,EVID,DV,OCC\n\
        1,0,1000,central,1,.,1\n1,12,.,.,0,5,1\n1,24,.,.,2,.,2\n1,36,.,.,0,3,2\n\
        2,0,1000,central,1,.,7\n2,12,.,.,0,5,7\n2,36,.,.,0,3,7\n";
    let run = |seed: Option<u64>| {
        simulate(&Request {
            name: "m.twin".into(),
            text: model.into(),
            events: Some(data.into()),
            sample: seed,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let typical = run(None);
    let sampled = run(Some(42));
    assert!(sampled.sampled && !typical.sampled);
    let c = twin::driver::compile("m.twin", model);
    let m = &c.program.models[0];
    let between = twin::trial::population::EtaDraws::patients(m).unwrap_or_else(|e| panic!("{e}"));
    let per_occ = twin::trial::population::EtaDraws::occasions(m).unwrap_or_else(|e| panic!("{e}"));
    for (index, occs) in [(0u64, [1u16, 2]), (1, [7, 7])] {
        let eta = between.draws(42, index, 0)[0].1;
        let k = |o: u16| 4.0 * (eta + per_occ.draws(42, index, o)[0].1).exp() / 40.0;
        let conc = |t: f64| {
            let (k1, k2) = (k(occs[0]), k(occs[1]));
            if t <= 24.0 {
                25.0 * (-k1 * t).exp()
            } else {
                25.0 * (-k1 * 24.0).exp() * (-k2 * (t - 24.0)).exp()
            }
        };
        let mut stream = twin::trial::rng::Stream::substream(
            42,
            index,
            twin::trial::rng::Purpose::ResidualError,
            0,
        );
        let recs = sampled.subjects[index as usize]
            .records
            .as_ref()
            .unwrap_or_else(|| panic!("records"));
        let typ = typical.subjects[index as usize]
            .records
            .as_ref()
            .unwrap_or_else(|| panic!("records"));
        for (r, p) in recs.iter().zip(typ) {
            if r.row.evid != 0 {
                assert!(r.sampled.is_none());
                continue;
            }
            let [pred, ipred, sim] = r.sampled.unwrap_or_else(|| panic!("row {}", r.row.row));
            // PRED is the typical patient's value, bit for bit.
            assert_eq!(pred.to_bits(), p.observables[0].to_bits());
            assert!(
                rel(ipred, conc(r.row.time)) < 1e-12,
                "{ipred} vs {}",
                conc(r.row.time)
            );
            assert_eq!(ipred.to_bits(), r.observables[0].to_bits());
            let (e1, e2) = (stream.normal(), stream.normal());
            let want = ipred * (1.0 + 0.1 * e1) + 0.1 * e2;
            assert!((sim - want).abs() <= 1e-15 * want.abs(), "{sim} vs {want}");
        }
    }
    // The same seed gives the same table; another seed another one.
    let again = run(Some(42));
    let other = run(Some(43));
    let cells = |t: &Trajectories| {
        t.subjects
            .iter()
            .flat_map(|s| s.records.iter().flatten().map(|r| r.sampled.map(|v| v[2])))
            .collect::<Vec<_>>()
    };
    assert_eq!(cells(&sampled), cells(&again));
    assert_ne!(cells(&sampled), cells(&other));
}

#[test]
fn an_interpolated_covariate_runs_linearly_between_its_rows() {
    // crcl 100 mL/min at 0 h, 50 at 24 h, linear in between: k(t) = 0.1/h · (1 − t/48 h), so
    // c(t) = 25·exp(−0.1·(t − t²/96)) up to 24 h, then k = 0.05/h.
    let data = "ID,TIME,AMT,CMT,EVID,crcl\n1,0,1000,central,1,100\n1,12,.,.,0,.\n1,24,.,.,2,50\n1,30,.,.,0,.\n1,48,.,.,0,.\n";
    let t = simulate(&Request {
        name: "m.twin".into(),
        text: RENAL.into(),
        events: Some(data.into()),
        interpolate: vec!["crcl".into()],
        options: twin::solve::SolveOptions {
            method: twin::solve::Method::Bdf,
            rtol: 1e-10,
            atol: 1e-14,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let c = |t: f64| {
        if t <= 24.0 {
            25.0 * (-0.1 * (t - t * t / 96.0)).exp()
        } else {
            25.0 * (-1.8f64).exp() * (-0.05 * (t - 24.0)).exp()
        }
    };
    for (time, x) in rows(&t, 0) {
        assert!(rel(x, c(time)) < 1e-8, "t = {time}: {x} vs {}", c(time));
    }
    // Without the option the same data is a step at 24 h (last observation carried forward).
    let steps = run_events(RENAL, data).unwrap_or_else(|e| panic!("{e}"));
    assert!(rel(rows(&steps, 0)[1].1, 25.0 * (-1.2f64).exp()) < 1e-12);
    // Only numeric covariates of a dataset run interpolate.
    let e = simulate(&Request {
        name: "m.twin".into(),
        text: RENAL.into(),
        events: Some(data.into()),
        interpolate: vec!["crcl_typo".into()],
        ..Default::default()
    })
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("no covariate `crcl_typo`"), "{e}");
}
