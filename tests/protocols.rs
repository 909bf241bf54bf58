//! Protocol arms (`visit`, `when` rules, `round`/`cap`): rules fire exactly at their visits.
//!
//! - Hand-worked cases on a one-compartment bolus model without residual error (k = 0.1/h,
//!   V = 10 L, so a 100 mg dose gives 10 mg/L and 24 h multiply a concentration by e^(−2.4)):
//!   the documented dose sequences, stop times and dose-change counts, worked out in the comments;
//! - after every change, the concentration equals the closed form Σ Dᵢ/V·e^(−k(t−tᵢ)) of the
//!   doses the protocol gave;
//! - `twin run --arm` runs the protocol of a patient as `twin trial` does (same bits), with
//!   residual error in the measurements;
//! - patients.csv, summary.csv, doses.csv, visits.csv and trajectories.csv are byte-identical for
//!   1 and 2 threads and for 3 merged shards, with rules and residual error active;
//! - diagnostics: a unit mismatch, an unknown observable, a state read by a rule, an unknown
//!   action, a fractional hold, a rule without visits.

mod common;

use common::{column, table};
use twin::cmd::run::Request;
use twin::cmd::trial::{TrialOptions, merge, run_trial};
use twin::driver::compile;
use twin::solve::SolveOptions;
use twin::trial::protocol::Course;
use twin::trial::runner;

const K: f64 = 0.1;
const V: f64 = 10.0;

fn source(arm: &str, extra: &str) -> String {
    format!(
        r#"
model M {{
    param k: 1/h = 0.1/h
    param v: L = 10 L
    compartment central: mg
    flow central -> out = k * central
    observe conc: mg/L = central / v
}}
trial T {{
    model M
    arm A {{
        {arm}
    }}
    sample every 1 h until 168 h
    endpoint changes = dose_changes()
    endpoint total = total_dose()
    endpoint final = final_dose()
    endpoint rdi = relative_dose_intensity()
    endpoint stopped = discontinued()
    {extra}
}}
"#
    )
}

/// The course and endpoints of the single patient of a one-arm trial.
fn course(arm: &str, extra: &str) -> (Course, Vec<f64>, Vec<f64>) {
    first_arm(&source(arm, extra))
}

/// The course, endpoints and sampled `conc` of patient 0 in the first arm of `text`'s trial.
fn first_arm(text: &str) -> (Course, Vec<f64>, Vec<f64>) {
    let c = compile("p.twin", text);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    let trial = &c.program.trials[0];
    let mut prep = runner::prepare(&c.program, trial, SolveOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    prep.trajectories = true;
    let sampler = prep.sampler().unwrap_or_else(|e| panic!("{e}"));
    let rows = prep.patient(&sampler, 1, 0);
    let r = &rows[0];
    assert!(r.error.is_none(), "{:?}", r.error);
    let traj = r.trajectory.clone().unwrap_or_default();
    // Model values of `conc` at every sampling time (time-major, observable then its _dv).
    let conc: Vec<f64> = traj.chunks(2).map(|w| w[0]).collect();
    (
        r.course.clone().unwrap_or_else(|| panic!("no course")),
        r.endpoints.clone(),
        conc,
    )
}

fn given(c: &Course) -> Vec<(f64, f64)> {
    c.given.iter().map(|a| (a.time, a.dose.amount)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-3)
}

/// The closed form of the concentration at `t` after the doses `(time, amount)` (a dose at `t`
/// counts: right-continuous, as sampled).
fn closed_form(doses: &[(f64, f64)], t: f64) -> f64 {
    doses
        .iter()
        .filter(|(ti, _)| *ti <= t)
        .map(|(ti, d)| d / V * (-K * (t - ti)).exp())
        .sum()
}

fn check_closed_form(doses: &[(f64, f64)], conc: &[f64]) {
    for (h, &c) in conc.iter().enumerate() {
        let want = closed_form(doses, h as f64);
        assert!(
            (c - want).abs() <= 1e-9 * want.max(1e-6),
            "conc at {h} h: {c} vs closed form {want}"
        );
    }
}

#[test]
fn scale_and_round_fire_at_their_visits() {
    // Visits at 24..120 h, pre-dose. e24 = e^(−2.4) = 0.090718.
    // 24 h: C = 10·e24 = 0.907 > 0.5 → the doses from 24 h on are halved: 50 mg.
    // 48 h: C = (0.907 + 5)·e24 = 0.536 > 0.5 → halved again: 25 mg.
    // 72 h: C = (0.536 + 2.5)·e24 = 0.275; 96 h: 0.252; 120 h: 0.250 → no change.
    // `round dose to 5 mg` keeps 25 mg. Given: 100, 50, 25, 25, 25, 25 mg; two dose changes.
    let (c, e, conc) = course(
        "dose 100 mg into central every 24 h times 6
        visit at [24 h, 48 h] then every 24 h until 120 h
        when conc > 0.5 mg/L { scale dose by 0.5 }
        round dose to 5 mg",
        "",
    );
    let want = [
        (0.0, 100.0),
        (24.0, 50.0),
        (48.0, 25.0),
        (72.0, 25.0),
        (96.0, 25.0),
        (120.0, 25.0),
    ];
    assert_eq!(given(&c), want);
    let times: Vec<f64> = c.visits.iter().map(|v| v.time).collect();
    assert_eq!(times, [24.0, 48.0, 72.0, 96.0, 120.0]);
    let fired: Vec<usize> = c.visits.iter().map(|v| v.fired.len()).collect();
    assert_eq!(fired, [1, 1, 0, 0, 0]);
    let e24 = (-2.4f64).exp();
    assert!(close(c.visits[0].measured[0], 10.0 * e24));
    assert!(close(c.visits[1].measured[0], (10.0 * e24 + 5.0) * e24));
    // The measurement is the pre-dose trough; `dose` the next planned amount before the rules.
    assert_eq!(c.visits[1].dose, 50.0);
    assert_eq!(c.dose_changes, 2);
    // Endpoints: changes, total, final, RDI (same schedule: 250/600), not stopped.
    assert_eq!(e[0], 2.0);
    assert!(close(e[1], 250.0));
    assert_eq!(e[2], 25.0);
    assert!(close(e[3], 250.0 / 600.0));
    assert_eq!(e[4], 0.0);
    check_closed_form(&want, &conc);
}

#[test]
fn hold_and_a_stop_on_the_second_low_trough() {
    // 24 h: C = 0.907 > 0.8 → the 24 h dose is held.
    // 48 h: C = 10·e^(−4.8) = 0.0823 < 0.1: first low trough (no stop yet); the dose is given.
    // 72 h: C = (0.0823 + 10)·e24 = 0.915 > 0.8 → the 72 h dose is held.
    // 96 h: C = 0.915·e24 = 0.0830 < 0.1: second low trough → stop; 96 and 120 h are not given.
    // Holds do not change the amount: no dose change. RDI: 200 mg over (48 + 24) h against
    // 600 mg over (120 + 24) h = (200/72)/(600/144) = 2/3.
    let (c, e, conc) = course(
        "dose 100 mg into central every 24 h times 6
        visit at [24 h, 48 h, 72 h, 96 h]
        when conc > 0.8 mg/L { hold 1 dose }
        when conc < 0.1 mg/L twice { stop \"low trough\" }",
        "endpoint low = discontinued(\"low trough\")",
    );
    let want = [(0.0, 100.0), (48.0, 100.0)];
    assert_eq!(given(&c), want);
    assert_eq!(c.stop, Some((96.0, "low trough".to_string())));
    assert_eq!(c.dose_changes, 0);
    assert_eq!(e[0], 0.0);
    assert!(close(e[1], 200.0));
    assert!(close(e[3], 2.0 / 3.0), "rdi {}", e[3]);
    assert_eq!(e[4], 1.0);
    assert_eq!(e[5], 1.0);
    check_closed_form(&want, &conc);
}

#[test]
fn delay_set_dose_cap_and_interval_apply_in_order() {
    // 24 h: C = 0.907 > 0.5 → the doses from 24 h (24, 48, 72) move 12 h later (36, 60, 84),
    // are set to 200 mg and capped at 150 mg, then re-timed every 48 h from 36 h up to the last
    // planned time (84 h): 36 and 84 h.
    let (c, e, conc) = course(
        "dose 100 mg into central every 24 h times 4
        visit at [24 h]
        when conc > 0.5 mg/L { delay 12 h; set dose to 200 mg; set interval to 48 h }
        cap dose at 150 mg",
        "",
    );
    let want = [(0.0, 100.0), (36.0, 150.0), (84.0, 150.0)];
    assert_eq!(given(&c), want);
    assert_eq!(c.dose_changes, 1);
    assert_eq!(e[2], 150.0);
    check_closed_form(&want, &conc);
}

#[test]
fn give_adds_one_administration_at_the_visit() {
    // 24 h: C = 0.907 > 0.5 → today's 100 mg is held and half of it given instead (`dose` is
    // read before the changes); 48 h is given as planned. An amount that is not a dose (a
    // negative one) changes nothing and the visit says so.
    let (c, _, conc) = course(
        "dose 100 mg into central every 24 h times 3
        visit at [24 h, 48 h]
        when t < 30 h and conc > 0.5 mg/L { hold 1 dose; give (dose * 0.5) }
        when t > 30 h { set dose to dose - 200 mg }",
        "",
    );
    let want = [(0.0, 100.0), (24.0, 50.0), (48.0, 100.0)];
    assert_eq!(given(&c), want);
    assert!(
        c.visits[1]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("not a dose")),
        "{:?}",
        c.visits[1].note
    );
    check_closed_form(&want, &conc);
}

#[test]
fn visits_after_each_dose_and_the_time_since_the_dose() {
    // Visits before each dose (0, 24, 48 h) and 6 h after each (6, 30, 54 h).
    // 0 h: `since_dose` is infinite (no dose yet) → every dose set to 80 mg.
    // 6 h: since 6 h, C = 8·e^(−0.6) = 4.39 > 4 → the later doses halved: 40 mg.
    // 24 h: since 24 h (the first rule does not apply); 30 h: C = 8·e^(−3) + 4·e^(−0.6) = 2.59;
    // 48, 54 h: nothing.
    let (c, _, conc) = course(
        "dose 100 mg into central every 24 h times 3
        visit before each dose
        visit 6 h after each dose
        when since_dose < 12 h and conc > 4 mg/L { scale dose by 0.5 }
        when since_dose > 1000 h { set dose to 80 mg }",
        "",
    );
    let want = [(0.0, 80.0), (24.0, 40.0), (48.0, 40.0)];
    assert_eq!(given(&c), want);
    let times: Vec<f64> = c.visits.iter().map(|v| v.time).collect();
    assert_eq!(times, [0.0, 6.0, 24.0, 30.0, 48.0, 54.0]);
    let fired: Vec<Vec<usize>> = c.visits.iter().map(|v| v.fired.clone()).collect();
    assert_eq!(fired, [vec![1], vec![0], vec![], vec![], vec![], vec![]]);
    check_closed_form(&want, &conc);
}

#[test]
fn switch_to_another_arm_takes_its_remaining_doses() {
    // 48 h: C = (0.907 + 10)·e24 = 0.989 > 0.5 → from 48 h on, arm B's doses (30 mg every 12 h
    // from 0 h for 5 d: 48, 60, …, 108 h) replace A's (48, 72, 96 h).
    let text = source(
        "dose 100 mg into central every 24 h times 5
        visit at [48 h]
        when conc > 0.5 mg/L { switch to B }",
        "",
    )
    .replace(
        "    sample every 1 h",
        "    arm B { dose 30 mg into central every 12 h for 5 d }\n    sample every 1 h",
    );
    let (course, _, conc) = first_arm(&text);
    let mut want = vec![(0.0, 100.0), (24.0, 100.0)];
    want.extend((4..10).map(|k| (12.0 * f64::from(k), 30.0)));
    assert_eq!(given(&course), want);
    check_closed_form(&want, &conc);
    // An unknown arm.
    let bad = source(
        "dose 100 mg into central every 24 h times 5
        visit at [48 h]
        when conc > 0.5 mg/L { switch to Bee }",
        "",
    );
    assert!(
        compile("p.twin", &bad)
            .diagnostics
            .iter()
            .any(|d| d.code == "E0053")
    );
}

#[test]
fn an_infusion_runs_on_through_a_visit() {
    // A 10 h infusion of 100 mg with a visit at 5 h that changes nothing: the concentration is
    // the closed form R/(k·V)·(1 − e^(−k·t)) = 10·(1 − e^(−0.1 t)) mg/L on both sides of it.
    let text = source(
        "dose 100 mg into central over 10 h
        visit at [5 h]
        when conc > 100 mg/L { hold 1 dose }",
        "",
    );
    let (_, _, conc) = first_arm(&text);
    for t in [3usize, 5, 7, 10] {
        let want = 10.0 * (1.0 - (-0.1 * t as f64).exp());
        assert!(
            (conc[t] - want).abs() <= 1e-9 * want,
            "{t} h: {} vs {want}",
            conc[t]
        );
    }
}

#[test]
fn visits_before_each_dose_and_a_count() {
    // Visits just before every planned dose (0, 24, 48, 72 h); the rule fires from the 2nd visit
    // whose trough is above 0.5 mg/L.
    // 0 h: C = 0. 24 h: 0.907 (1st). 48 h: (0.907 + 10)·e24 = 0.989 (2nd) → 48 and 72 h halved.
    // 72 h: (0.989 + 5)·e24 = 0.543 (3rd) → 72 h halved again: 25 mg.
    let (c, _, conc) = course(
        "dose 100 mg into central every 24 h times 4
        visit before each dose
        when conc > 0.5 mg/L 2 times { scale dose by 0.5 }",
        "",
    );
    let want = [(0.0, 100.0), (24.0, 100.0), (48.0, 50.0), (72.0, 25.0)];
    assert_eq!(given(&c), want);
    let times: Vec<f64> = c.visits.iter().map(|v| v.time).collect();
    assert_eq!(times, [0.0, 24.0, 48.0, 72.0]);
    assert_eq!(c.visits[0].measured[0], 0.0);
    check_closed_form(&want, &conc);
}

#[test]
fn a_delay_moves_the_visits_before_each_dose() {
    // 24 h: 0.907 > 0.5 → every remaining dose moves 7 d later; the next visit is before the
    // delayed dose (192 h, after the simulation's 168 h), so only 0 and 24 h are visits.
    let (c, _, conc) = course(
        "dose 100 mg into central every 24 h times 3
        visit before each dose
        when conc > 0.5 mg/L { delay 7 d }",
        "",
    );
    let want = [(0.0, 100.0), (192.0, 100.0), (216.0, 100.0)];
    let planned: Vec<(f64, f64)> = want.iter().copied().filter(|d| d.0 <= 168.0).collect();
    assert_eq!(given(&c), planned);
    let times: Vec<f64> = c.visits.iter().map(|v| v.time).collect();
    assert_eq!(times, [0.0, 24.0]);
    check_closed_form(&planned, &conc);
}

const NOISY: &str = r#"
model M {
    param k: 1/h = 0.1/h
    param v: L = 10 L
    vary k ~ lognormal(omega: 0.09)
    compartment central: mg
    flow central -> out = k * central
    observe conc: mg/L = central / v ~ proportional(20%)
}
trial T {
    model M
    population 40 { }
    arm Fixed { dose 100 mg into central every 24 h times 7 }
    arm Titrated {
        dose 100 mg into central every 24 h times 7
        visit before each dose
        when conc > 0.6 mg/L { scale dose by 0.8 }
        when conc < 0.4 mg/L { scale dose by 1.25 }
        when conc > 1.2 mg/L twice { stop "toxic" }
        round dose to 5 mg
    }
    sample every 6 h until 168 h
    endpoint changes = dose_changes()
    endpoint ttr = fraction_of_visits(conc >= 0.4 mg/L and conc <= 0.6 mg/L)
    endpoint first = first_visit(conc >= 0.4 mg/L)
    endpoint rdi = relative_dose_intensity()
    endpoint auc_all = auc(conc)
}
"#;

fn opts(out: Option<std::path::PathBuf>) -> TrialOptions {
    TrialOptions {
        n: None,
        trial: None,
        seed: 5,
        shard: None,
        solve: SolveOptions::default(),
        out,
        progress: false,
        trajectories: true,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twin-protocol-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn protocol_outputs_are_the_same_whatever_the_threads_or_shards() {
    let c = compile("noisy.twin", NOISY);
    assert!(!c.has_errors());
    let files = |d: &std::path::Path| -> Vec<String> {
        [
            "patients.csv",
            "summary.csv",
            "doses.csv",
            "visits.csv",
            "trajectories.csv",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect()
    };
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (one, two) = (tmp("t1"), tmp("t2"));
    pool(1)
        .install(|| run_trial(&c, "noisy.twin", &opts(Some(one.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    pool(2)
        .install(|| run_trial(&c, "noisy.twin", &opts(Some(two.clone()))))
        .unwrap_or_else(|e| panic!("{e}"));
    let a = files(&one);
    assert_eq!(a, files(&two));
    // The rules did something: some doses changed, some visits fired.
    assert!(a[3].lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split(',').collect();
        !f[f.len() - 2].is_empty()
    }));
    let mut shards = Vec::new();
    for i in [3u64, 1, 2] {
        let d = tmp(&format!("s{i}"));
        let mut o = opts(Some(d.clone()));
        o.shard = Some((i, 3));
        run_trial(&c, "noisy.twin", &o).unwrap_or_else(|e| panic!("{e}"));
        shards.push(d);
    }
    let merged = tmp("merged");
    merge(&c, &shards, &merged, SolveOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, files(&merged));
}

#[test]
fn run_arm_runs_the_protocol_as_the_trial_does() {
    let c = compile("noisy.twin", NOISY);
    let trial = &c.program.trials[0];
    let mut prep = runner::prepare(&c.program, trial, SolveOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    prep.trajectories = true;
    let sampler = prep.sampler().unwrap_or_else(|e| panic!("{e}"));
    let slots = prep.sim.lowered.inputs.clone();
    let mut changed = 0;
    for id in 0..6u64 {
        let rows = prep.patient(&sampler, 5, id);
        let r = &rows[1];
        let traj = r.trajectory.clone().unwrap_or_default();
        if r.course.as_ref().is_some_and(|c| c.dose_changes > 0) {
            changed += 1;
        }
        // The patient's η, passed to `twin run` as the trial's random effect.
        let k = slots
            .iter()
            .position(|s| matches!(s, twin::lower::InputSlot::Eta(_)))
            .unwrap_or_else(|| panic!("no eta"));
        let req = Request {
            name: "noisy.twin".into(),
            text: NOISY.into(),
            arm: Some("Titrated".into()),
            sets: vec![format!("eta_k={:e}", r.inputs[k])],
            measure: (5, id),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let j = column(&h, "conc [mg/L]");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(
                row[j].to_bits(),
                traj[2 * i].to_bits(),
                "patient {id} at {} h",
                row[0]
            );
        }
    }
    assert!(changed > 0, "no patient's dose changed");
}

fn codes(arm: &str) -> Vec<&'static str> {
    let text = source(arm, "");
    compile("p.twin", &text)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn protocol_diagnostics() {
    let dose = "dose 100 mg into central every 24 h times 3\nvisit at [24 h]\n";
    // A unit mismatch in a condition.
    let c = codes(&format!("{dose}when conc < 0.5 mg {{ hold 1 dose }}"));
    assert!(
        !c.is_empty() && c.iter().all(|c| c.starts_with('E')),
        "{c:?}"
    );
    // An unknown observable.
    assert!(codes(&format!("{dose}when cnc < 0.5 mg/L {{ hold 1 dose }}")).contains(&"E0004"));
    // A state is not measured.
    assert!(codes(&format!("{dose}when central < 5 mg {{ hold 1 dose }}")).contains(&"E0053"));
    // An unknown action, a fractional hold, a factor with a unit.
    assert!(codes(&format!("{dose}when conc < 0.5 mg/L {{ skip 1 dose }}")).contains(&"E0053"));
    assert!(codes(&format!("{dose}when conc < 0.5 mg/L {{ hold 1.5 doses }}")).contains(&"E0053"));
    assert!(
        codes(&format!(
            "{dose}when conc < 0.5 mg/L {{ scale dose by 2 mg }}"
        ))
        .iter()
        .any(|c| c.starts_with('E'))
    );
    // `delay` needs a time, `set dose to` an amount.
    assert!(codes(&format!("{dose}when conc < 0.5 mg/L {{ delay 2 mg }}")).contains(&"E0053"));
    assert!(codes(&format!("{dose}when conc < 0.5 mg/L {{ set dose to 2 h }}")).contains(&"E0053"));
    // A rule without visits can never fire.
    assert_eq!(
        codes("dose 100 mg into central every 24 h times 3\nwhen conc < 0.5 mg/L { hold 1 dose }"),
        ["W0005"]
    );
    // Visits after the last sample (168 h), and a count above the number of visits.
    assert_eq!(
        codes(
            "dose 100 mg into central every 24 h times 3\nvisit at [200 h]\nwhen conc < 0.5 mg/L { hold 1 dose }"
        ),
        ["W0005"]
    );
    assert_eq!(
        codes(
            "dose 100 mg into central every 24 h times 3\nvisit at [24 h, 48 h]\nwhen conc < 0.5 mg/L 3 times { hold 1 dose }"
        ),
        ["W0005"]
    );
    // An empty visit list.
    assert_eq!(
        codes(
            "dose 100 mg into central every 24 h times 3\nvisit at []\nwhen conc < 0.5 mg/L { hold 1 dose }"
        ),
        ["W0005"]
    );
    // A clean protocol.
    assert!(
        codes(&format!(
            "{dose}when conc < 0.5 mg/L {{ hold 2 doses; scale dose by 0.5 }}"
        ))
        .is_empty()
    );
}

#[test]
fn protocol_syntax_survives_the_formatter() {
    let text = source(
        "dose 100 mg into central every 24 h times 6
        visit at [24 h, 48 h] then every 24 h until 120 h
        visit before each dose
        when conc > 0.5 mg/L and t >= 1 d twice { scale dose by 0.5; hold 2 doses; delay (2 * 12 h) }
        when conc < 0.1 mg/L 3 times { set dose to dose * 2; set interval to 48 h }
        when conc > 5 mg/L { stop \"toxic\" }
        round dose to 5 mg
        cap dose at 150 mg",
        "",
    );
    let once = twin::fmt::format(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let twice = twin::fmt::format(&once).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(once, twice);
    let c = compile("p.twin", &once);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    assert!(once.contains("when conc > 0.5 mg/L and t >= 1 d twice { scale dose by 0.5; hold 2 doses; delay (2 * 12 h) }"), "{once}");
}

const MIPD: &str = r#"
model M {
    param cl: L/h = 2 L/h
    param v: L = 20 L
    vary cl ~ lognormal(omega: 0.09)
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v ~ proportional(0.1%)
}
trial T {
    model M
    population 12 { }
    arm fixed { dose 500 mg into central over 1 h every 12 h for 7 d }
    arm mipd {
        dose 500 mg into central over 1 h every 12 h for 7 d
        visit at [24 h, 26 h]
        when t >= 26 h { fit dose so auc(conc, from 144 h to 168 h) == 500 mg*h/L }
    }
    sample every 2 h until 7 d
    endpoint auc7 = auc(conc, from 144 h to 168 h)
}
"#;

#[test]
fn fit_dose_meets_its_goal_for_the_true_patient() {
    // With a residual error of 0.1%, two levels pin the patient's CL (the prior's weight is
    // about 1e-5 of the data's), so the dose found for the estimate gives the true patient the
    // target AUC over day 7 to well within 1%. Without the protocol the same patients spread
    // with their CL (ω = 0.3).
    let c = compile("mipd.twin", MIPD);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    let trial = &c.program.trials[0];
    let prep = runner::prepare(&c.program, trial, SolveOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let sampler = prep.sampler().unwrap_or_else(|e| panic!("{e}"));
    let mut fixed = Vec::new();
    for id in 0..12u64 {
        let rows = prep.patient(&sampler, 3, id);
        fixed.push(rows[0].endpoints[0]);
        let r = &rows[1];
        assert!(r.error.is_none(), "{:?}", r.error);
        let auc = r.endpoints[0];
        assert!(
            (auc - 500.0).abs() <= 0.01 * 500.0,
            "patient {id}: AUC {auc}"
        );
        let course = r.course.as_ref().unwrap_or_else(|| panic!("no course"));
        let note = course.visits[1].note.as_deref().unwrap_or("");
        assert!(note.starts_with("eta = ["), "{note}");
        assert_eq!(course.dose_changes, 1);
    }
    let spread = fixed.iter().fold(0.0f64, |m, &a| m.max((a - 500.0).abs()));
    assert!(
        spread > 50.0,
        "the fixed arm's AUCs are all near 500: {fixed:?}"
    );
}

#[test]
fn run_arm_fits_as_the_trial_does() {
    let c = compile("mipd.twin", MIPD);
    let trial = &c.program.trials[0];
    let mut prep = runner::prepare(&c.program, trial, SolveOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    prep.trajectories = true;
    let sampler = prep.sampler().unwrap_or_else(|e| panic!("{e}"));
    let k = prep
        .sim
        .lowered
        .inputs
        .iter()
        .position(|s| matches!(s, twin::lower::InputSlot::Eta(_)))
        .unwrap_or_else(|| panic!("no eta"));
    for id in 0..3u64 {
        let rows = prep.patient(&sampler, 3, id);
        let r = &rows[1];
        let traj = r.trajectory.clone().unwrap_or_default();
        let req = Request {
            name: "mipd.twin".into(),
            text: MIPD.into(),
            arm: Some("mipd".into()),
            sets: vec![format!("eta_cl={:e}", r.inputs[k])],
            measure: (3, id),
            ..Default::default()
        };
        let (h, rows) = table(&req);
        let j = column(&h, "conc [mg/L]");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(
                row[j].to_bits(),
                traj[2 * i].to_bits(),
                "patient {id} row {i}"
            );
        }
    }
}

#[test]
fn fit_dose_diagnostics() {
    let base = |rule: &str| {
        MIPD.replace(
            "when t >= 26 h { fit dose so auc(conc, from 144 h to 168 h) == 500 mg*h/L }",
            rule,
        )
    };
    let codes = |text: String| -> Vec<&'static str> {
        compile("m.twin", &text)
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    };
    // No window, a target in the wrong unit, not a goal.
    assert!(
        codes(base(
            "when t >= 26 h { fit dose so auc(conc) == 500 mg*h/L }"
        ))
        .contains(&"E0053")
    );
    assert!(
        codes(base(
            "when t >= 26 h { fit dose so auc(conc, from 144 h to 168 h) == 500 mg }"
        ))
        .contains(&"E0053")
    );
    assert!(codes(base("when t >= 26 h { fit dose so 500 mg }")).contains(&"E0053"));
    assert!(
        codes(base(
            "when t >= 26 h { fit dose so trough(conc, 168 h) == 10 mg/L }"
        ))
        .is_empty()
    );
}
