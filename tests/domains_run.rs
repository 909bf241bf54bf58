//! Param domains through `twin run`: a patient whose value leaves the domain fails with the param,
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
