//! Params through `twin run`: `--set` on a param, and domains: a patient whose value leaves the domain fails with the param,
//! its value and the domain; a domain the model declares replaces the default of its dimension.

use twin::cmd::run::{Failure, Request, execute};
use twin::sim::SimError;

const PK: &str = "model Pk {\n    covariate weight: kg = 70 kg\n    compartment central: mg\n    \
                  param v: L = 0.5 L/kg * weight\n    flow central -> out = 0.1 /h * central\n    \
                  observe conc: mg/L = central / v\n}\n";

fn run(text: &str, set: &[&str]) -> Result<twin::cmd::run::Output, Failure> {
    execute(&Request {
        name: "pk.twin".into(),
        text: text.into(),
        sets: set.iter().map(|s| s.to_string()).collect(),
        doses: vec!["100 mg into central".into()],
        until: Some("1h".into()),
        ..Default::default()
    })
}

#[test]
fn a_negative_weight_makes_a_negative_volume_and_the_run_fails() {
    match run(PK, &["weight=-70kg"]) {
        Err(Failure::Simulate {
            error:
                SimError::Domain {
                    param,
                    value,
                    domain,
                    unit,
                },
            ..
        }) => {
            assert_eq!(param, "v");
            assert_eq!(value, -35.0);
            assert_eq!(unit, "L");
            assert_eq!(domain, "> 0");
        }
        Err(f) => panic!("another failure: {f}"),
        Ok(_) => panic!("a negative volume ran"),
    }
    // Zero is outside `> 0` as well; a positive weight runs.
    assert!(matches!(
        run(PK, &["weight=0kg"]),
        Err(Failure::Simulate { .. })
    ));
    assert!(run(PK, &["weight=1g"]).is_ok());
}

#[test]
fn a_declared_domain_replaces_the_default() {
    // `v >= -100 L` admits the negative volume (an odd model, but the model says so) ...
    let relaxed = PK.replace("param v: L =", "param v: L >= -100 L =");
    assert!(run(&relaxed, &["weight=-70kg"]).is_ok());
    // ... and `in [10 L, 50 L]` refuses 60 L (weight 120 kg) while the default would admit it.
    let narrow = PK.replace("param v: L =", "param v: L in [10 L, 50 L] =");
    match run(&narrow, &["weight=120kg"]) {
        Err(Failure::Simulate {
            error: SimError::Domain { value, domain, .. },
            ..
        }) => {
            assert_eq!(value, 60.0);
            assert_eq!(domain, "in [10 L, 50 L]");
        }
        Err(f) => panic!("another failure: {f}"),
        Ok(_) => panic!("60 L ran in [10 L, 50 L]"),
    }
    assert!(run(&narrow, &["weight=100kg"]).is_ok());
}

/// `--set cl=…` replaces the param's definition before the model is compiled (converted exactly
/// from any unit of its dimension): params computed from it follow (k = cl / v), so
/// central(1 h) = 100 mg · e^(−cl/v · 1 h). A value outside the param's domain or in another
/// dimension is a diagnostic.
#[test]
fn set_a_param() {
    let text = "model Pk {\n    covariate weight: kg = 70 kg\n    compartment central: mg\n    \
                param v: L = 0.5 L/kg * weight\n    param cl: L/h = 5 L/h\n    param k: 1/h = cl / v\n    \
                flow central -> out = k * central\n}\n";
    let req = |set: &str| Request {
        name: "pk.twin".into(),
        text: text.into(),
        sets: vec![set.into()],
        doses: vec!["100 mg into central".into()],
        until: Some("1h".into()),
        every: Some("1h".into()),
        ..Default::default()
    };
    for (set, cl) in [
        ("cl=7 L/h", 7.0),
        ("cl=0.1 L/min", 6.0),
        ("cl = 5000 mL/h", 5.0),
    ] {
        let out = execute(&req(set)).unwrap_or_else(|_| panic!("{set} failed"));
        let last = out.csv.lines().last().unwrap_or_default().to_string();
        let central: f64 = last
            .split(',')
            .nth(1)
            .unwrap_or("")
            .parse()
            .unwrap_or(f64::NAN);
        let want = 100.0 * (-cl / 35.0f64).exp();
        assert!(
            (central - want).abs() <= 1e-12 * want,
            "{set}: {central} vs {want}"
        );
    }
    for (set, code) in [
        ("cl=-1 L/h", "E0045"),
        ("cl=1 mg", "E0008"),
        ("cll=1 L/h", "E0004"),
    ] {
        match execute(&req(set)) {
            Err(Failure::Diagnostics(_, d)) => assert_eq!(d[0].code, code, "{set}"),
            _ => panic!("{set} was accepted"),
        }
    }
}
