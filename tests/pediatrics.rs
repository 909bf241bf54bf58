//! `table` items and `stdlib/pediatrics.twin`, checked against hand computation and published
//! values:
//!
//! - table interpolation: exact at the rows, linear between them, constant outside, with the
//!   argument converted exactly (years → months), evaluated by the checked-program evaluator and by
//!   the compiled model (`twin run`), and the JIT against the IR interpreter bit for bit;
//! - CDC 2000 growth charts: the published P50 and P3 check values;
//! - Rhodin 2009 renal maturation at one year; `pk.gfr_rhodin` built on the same definition;
//! - Johnson 2006 CYP ontogeny, albumin and AAG against the formulas evaluated here;
//! - ICRP 89 organ masses at the table ages against the CSV; `Child` at adult age against
//!   `ReferenceAdult`; mass balance of a drug in `Child`;
//! - a trial whose population takes each child's weight from the growth charts.

mod common;
use common::{column, table};

use std::collections::HashMap;
use twin::check::consts::{EvalError, Leaves, eval_in};
use twin::check::hir::{self, Sym};
use twin::cmd::run::Request;
use twin::driver::{Compilation, compile};
use twin::solve::{Method, SolveOptions};
use twin::source::Span;

fn compiled(text: &str) -> Compilation {
    let c = compile("test.twin", text);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    c
}

/// Params of a model evaluated from their definitions, with covariates taken from `set` (in the
/// covariate's own unit; a categorical covariate by level name) or else their defaults.
struct Patient<'a> {
    model: &'a hir::Model,
    fns: &'a [hir::Function],
    set: &'a HashMap<&'a str, Value<'a>>,
}

/// A covariate value for [`Patient`].
#[derive(Clone, Copy)]
enum Value<'a> {
    Num(f64),
    Level(&'a str),
}

impl Leaves for Patient<'_> {
    fn sym(&mut self, s: Sym, span: Span) -> Result<f64, EvalError> {
        match s {
            Sym::Param(i) => {
                let e = &self.model.params[i].value;
                let (model, fns, set) = (self.model, self.fns, self.set);
                eval_in(e, fns, &mut Patient { model, fns, set })
            }
            Sym::Covariate(i) => {
                let c = &self.model.covariates[i];
                Ok(match self.set.get(c.name.as_str()) {
                    Some(Value::Num(v)) => *v,
                    Some(Value::Level(l)) => {
                        c.levels
                            .iter()
                            .position(|x| x == l)
                            .expect("level of the covariate") as f64
                    }
                    None => c.default,
                })
            }
            _ => Err(EvalError::new("not available here", span)),
        }
    }
}

/// The value of param `name` of `model` (in its declared unit) for the covariates `set`.
fn param(c: &Compilation, model: &str, name: &str, set: &[(&str, Value<'_>)]) -> f64 {
    let m = c
        .program
        .models
        .iter()
        .find(|m| m.name == model)
        .unwrap_or_else(|| panic!("no model {model}"));
    let p = m
        .params
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no param {name} in {model}"));
    let set: HashMap<&str, Value<'_>> = set.iter().copied().collect();
    eval_in(
        &p.value,
        &c.program.fns,
        &mut Patient {
            model: m,
            fns: &c.program.fns,
            set: &set,
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {}", e.message))
}

fn tight() -> SolveOptions {
    SolveOptions {
        method: Method::Bdf,
        rtol: 1e-8,
        atol: 1e-10,
        ..Default::default()
    }
}

// ---------------------------------------------------------------- tables

/// Illustrative rows (not published data): the hand computations below use them.
const GROWTH: &str = "
table growth(age: month) -> kg {
    0: 3.5,
    6: 7.9,
    12: 9.6,
    24: 12.5,
}
";

/// The same interpolation written out by hand: linear between rows, constant outside.
fn growth_by_hand(age_months: f64) -> f64 {
    let rows = [(0.0, 3.5), (6.0, 7.9), (12.0, 9.6), (24.0, 12.5)];
    if age_months <= rows[0].0 {
        return rows[0].1;
    }
    for w in rows.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if age_months < x1 {
            return y0 + (y1 - y0) * (age_months - x0) / (x1 - x0);
        }
    }
    rows[3].1
}

#[test]
fn tables_interpolate_exactly_at_rows_linearly_between_and_clamp_outside() {
    let text = format!(
        "{GROWTH}
model M {{
    covariate age: month = 0 month
    covariate age_years: year = 1 year
    param w: kg = growth(age)
    param w_years: kg = growth(age_years)
    param w_grams: g = growth(age)
}}"
    );
    let c = compiled(&text);
    let at = |months: f64| param(&c, "M", "w", &[("age", Value::Num(months))]);
    // Exactly the row values at the rows.
    for (x, y) in [(0.0, 3.5), (6.0, 7.9), (12.0, 9.6), (24.0, 12.5)] {
        assert_eq!(at(x), y, "at {x} months");
    }
    // Midpoints: (3.5 + 7.9) / 2 = 5.7; (9.6 + 12.5) / 2 = 11.05; a quarter of the way 0 → 6:
    // 3.5 + 4.4 / 4 = 4.6.
    for (x, y) in [(3.0, 5.7), (18.0, 11.05), (1.5, 4.6)] {
        assert!(
            (at(x) - y).abs() <= 1e-12,
            "at {x} months: {} vs {y}",
            at(x)
        );
    }
    // Constant beyond the first and the last row.
    assert_eq!(at(-5.0), 3.5);
    assert_eq!(at(240.0), 12.5);
    // A NaN argument is not hidden behind a row value.
    assert!(at(f64::NAN).is_nan());
    // The argument is converted exactly: 1.5 years = 18 months; 0.5 year = 6 months (a row).
    let years = |y: f64| param(&c, "M", "w_years", &[("age_years", Value::Num(y))]);
    assert!((years(1.5) - 11.05).abs() <= 1e-12, "{}", years(1.5));
    assert_eq!(years(0.5), 7.9);
    // And the result: kg → g.
    let grams = param(&c, "M", "w_grams", &[("age", Value::Num(6.0))]);
    assert!((grams - 7900.0).abs() <= 1e-9, "{grams}");
}

/// The compiled model (JIT, through `twin run`) gives the hand-computed values at every hour when
/// the argument varies with time: 0-30 months covers every segment and the clamp above.
#[test]
fn compiled_tables_match_hand_computation_over_time() {
    let text = format!(
        "{GROWTH}
model M {{
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe w: kg = growth(time / 1 h * 1 month)
    observe w_before: kg = growth(time / 1 h * 1 month - 3 month)
}}"
    );
    let (h, rows) = table(&Request {
        name: "growth.twin".into(),
        text,
        until: Some("30h".into()),
        every: Some("0.5h".into()),
        options: tight(),
        ..Default::default()
    });
    let (t, w, wb) = (
        column(&h, "time [h]"),
        column(&h, "w [kg]"),
        column(&h, "w_before [kg]"),
    );
    assert_eq!(rows.len(), 61);
    for r in &rows {
        let months = r[t];
        for (got, x) in [(r[w], months), (r[wb], months - 3.0)] {
            let want = growth_by_hand(x);
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "at {x} months: {got} vs {want}"
            );
        }
    }
}

/// The lowered table (a select tree) gives bit-identical results in the JIT and the IR
/// interpreter, in setup (per-patient argument) and in the observables (time-varying argument).
#[test]
fn jit_and_interpreter_agree_on_tables() {
    let text = format!(
        "{GROWTH}
model M {{
    covariate age: month = 5 month
    param w: kg = growth(age)
    compartment central: mg
    flow central -> out = 0.1 /h * central * w / 10 kg
    observe now: kg = growth(time / 1 h * 1 month)
}}"
    );
    let c = compiled(&text);
    let m = &c.program.models[0];
    let l = twin::lower::lower(&c.program, m, &[], twin::lower::Options::default())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let jit = twin::jit::compile(&l.module).unwrap_or_else(|e| panic!("{e}"));
    let interp = twin::ir::Interpreter::new(l.module.clone());
    let n = l.module.n_params();
    for age in [-2.0, 0.0, 0.5, 6.0, 11.999, 12.0, 17.25, 24.0, 99.0] {
        let mut inputs = vec![0.0; l.module.n_inputs()];
        for (i, slot) in l.inputs.iter().enumerate() {
            if let twin::lower::InputSlot::Covariate(_) = slot {
                inputs[i] = age;
            }
        }
        let (mut pj, mut pi) = (vec![0.0; n], vec![0.0; n]);
        jit.setup(&inputs, &mut pj).expect("jit setup");
        interp.setup(&inputs, &mut pi).expect("interp setup");
        assert_eq!(
            pj.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "setup at {age}"
        );
        let y = vec![1.0; l.module.n_states()];
        let (mut oj, mut oi) = (
            vec![0.0; l.module.n_observables()],
            vec![0.0; l.module.n_observables()],
        );
        jit.observe(age, &y, &pj, &mut oj).expect("jit observe");
        interp
            .observe(age, &y, &pi, &mut oi)
            .expect("interp observe");
        assert_eq!(oj[0].to_bits(), oi[0].to_bits(), "observe at {age}");
        let want = growth_by_hand(age);
        assert!((oj[0] - want).abs() <= 1e-12 * want, "{} vs {want}", oj[0]);
    }
}

// ---------------------------------------------------------------- CDC 2000 growth charts

#[test]
fn cdc_growth_charts_reproduce_the_published_check_values() {
    let c = compiled(
        "use pediatrics.*
model M {
    covariate age: month = 240 month
    covariate z: 1 = 0
    param w_male: kg = cdc_weight_for_age_male(age, z)
    param w_female: kg = cdc_weight_for_age_female(age, z)
    param h_male: cm = cdc_stature_for_age_male(age, z)
    param h_female: cm = cdc_stature_for_age_female(age, z)
    param l_male: cm = cdc_length_for_age_male(age, z)
    param z_male: 1 = cdc_weight_z_male(age, 10.3821 kg)
    param w_male_years: kg = cdc_weight_for_age_male(20 year, z)
}",
    );
    // CDC 2000 check values (Kuczmarski RJ et al. Vital Health Stat 11(246), 2002; as listed in
    // docs/reference-data/pediatrics/maturation_and_scaling.toml [growth_charts]), published to 4
    // decimals: the result must round to them (tolerance half a unit of the last digit).
    let tol = 0.5e-4;
    let p = |name: &str, age: f64, z: f64| {
        param(
            &c,
            "M",
            name,
            &[("age", Value::Num(age)), ("z", Value::Num(z))],
        )
    };
    for (name, want) in [
        ("w_male", 70.5976),
        ("w_female", 58.2190),
        ("h_male", 176.8492),
        ("h_female", 163.3383),
    ] {
        let got = p(name, 240.0, 0.0);
        assert!(
            (got - want).abs() <= tol,
            "{name} at 240 months: {got} vs {want}"
        );
    }
    // 20 years converts exactly to 240 months.
    assert_eq!(p("w_male_years", 0.0, 0.0), p("w_male", 240.0, 0.0));
    // The 3rd percentile (z = -1.880794) of boys' weight at 24 months: 10.3821 kg; the CSV's P3
    // column (cdc_wtage_2to20y_lms.csv) has 10.38209025.
    let p3 = p("w_male", 24.0, -1.880794);
    assert!((p3 - 10.3821).abs() <= tol, "P3 at 24 months: {p3}");
    assert!((p3 - 10.38209025).abs() <= 1e-6, "P3 at 24 months: {p3}");
    // The z-score function inverts it.
    let z = p("z_male", 24.0, 0.0);
    assert!(
        (z + 1.880794).abs() <= 1e-4,
        "z of 10.3821 kg at 24 months: {z}"
    );
    // Length-for-age: the median at birth is the first row's M (49.98888408 cm), and between the
    // rows at 0.5 and 1.5 months the median is their mean (52.6959753 + 56.62842855) / 2.
    assert!((p("l_male", 0.0, 0.0) - 49.98888408).abs() <= 1e-9);
    let mid = (52.6959753 + 56.62842855) / 2.0;
    assert!((p("l_male", 1.0, 0.0) - mid).abs() <= 1e-9);
}

// ---------------------------------------------------------------- maturation and ontogeny

#[test]
fn rhodin_maturation_at_one_year_and_gfr() {
    let c = compiled(
        "use pk.{rhodin_maturation, gfr_rhodin}
model M {
    covariate pma: week = 92.2 week
    covariate weight: kg = 70 kg
    param mf: 1 = rhodin_maturation(pma)
    param gfr: mL/min = gfr_rhodin(weight, pma)
}",
    );
    // Rhodin MM et al. Pediatr Nephrol 2009;24:67-76: at 1 year postnatal age (PMA 40 + 52.2
    // weeks) GFR is 90% of the adult size-standardised value; MF = 0.904 to 3 decimals
    // (maturation_and_scaling.toml [gfr_maturation_rhodin2009]).
    let mf = param(&c, "M", "mf", &[]);
    assert!((mf - 0.904).abs() <= 0.5e-3, "MF(92.2 weeks) = {mf}");
    // The closed form evaluated here.
    let want = 92.2f64.powf(3.4) / (47.7f64.powf(3.4) + 92.2f64.powf(3.4));
    assert!((mf - want).abs() <= 1e-12, "{mf} vs {want}");
    // gfr_rhodin uses the same maturation: 121.2 mL/min × MF at 70 kg.
    let gfr = param(&c, "M", "gfr", &[]);
    assert!((gfr - 121.2 * want).abs() <= 1e-9, "{gfr}");
}

/// Johnson 2006 ontogeny functions (as implemented in dfped 1.1) evaluated here, age in years.
fn johnson(enzyme: &str, a: f64) -> f64 {
    match enzyme {
        "cyp1a2" => a.powf(1.41) / (1.13 + a.powf(1.41)),
        "cyp2b6" => 1.07 * a / (1.31 + a),
        "cyp2c8" => 0.716 * a / (0.02 + a) + 0.3,
        "cyp2c9" => 0.821 * a / (0.01 + a) + 0.21,
        "cyp2c19" => 0.857 * a / (0.99 + a) + 0.23,
        "cyp2d6" => 1.01 * a / (0.101 + a) + 0.036,
        "cyp2e1" => 4.22 * a.powf(0.27) / (7.66 + a.powf(0.27)),
        "cyp3a4" => a.powf(0.83) / (0.31 + a.powf(0.83)),
        "cyp3a_gut" => 0.639 * a / (2.36 + a) + 0.42,
        _ => unreachable!(),
    }
}

const ENZYMES: [&str; 9] = [
    "cyp1a2",
    "cyp2b6",
    "cyp2c8",
    "cyp2c9",
    "cyp2c19",
    "cyp2d6",
    "cyp2e1",
    "cyp3a4",
    "cyp3a_gut",
];

#[test]
fn johnson_ontogeny_albumin_and_aag_match_the_formulas() {
    let mut text = String::from("use pediatrics.*\nmodel M {\n    covariate age: year = 1 year\n");
    for e in ENZYMES {
        text.push_str(&format!("    param {e}: 1 = {e}_ontogeny(age)\n"));
    }
    text.push_str("    param albumin: g/L = albumin_for_age(age)\n");
    text.push_str("    param aag: 1 = aag_fraction_for_age(age)\n");
    text.push_str("    param cyp3a4_months: 1 = cyp3a4_ontogeny(age * 12 month / 1 year)\n}\n");
    let c = compiled(&text);
    for age in [0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 12.0, 18.0, 35.0] {
        let set = [("age", Value::Num(age))];
        for e in ENZYMES {
            let got = param(&c, "M", e, &set);
            let want = johnson(e, age);
            assert!(
                (got - want).abs() <= 1e-12,
                "{e} at {age} y: {got} vs {want}"
            );
        }
        // Newborns: the published fractions at birth are the intercepts (CYP1A2 0, CYP2C9 0.21,
        // CYP3A intestinal 0.42).
        if age == 0.0 {
            assert_eq!(param(&c, "M", "cyp1a2", &set), 0.0);
            assert!((param(&c, "M", "cyp2c9", &set) - 0.21).abs() <= 1e-15);
            assert!((param(&c, "M", "cyp3a_gut", &set) - 0.42).abs() <= 1e-15);
            continue;
        }
        let alb = param(&c, "M", "albumin", &set);
        assert!(
            (alb - (1.1287 * age.ln() + 33.746)).abs() <= 1e-12,
            "albumin {alb}"
        );
        let aag = param(&c, "M", "aag", &set);
        let want = 0.887 * age.powf(0.38) / (8.89f64.powf(0.38) + age.powf(0.38));
        assert!((aag - want).abs() <= 1e-12, "aag {aag} vs {want}");
    }
    // A month-valued argument converts to years exactly: age 1 year → 12 months → 1 year.
    let a = param(&c, "M", "cyp3a4_months", &[("age", Value::Num(1.0))]);
    assert!((a - johnson("cyp3a4", 1.0)).abs() <= 1e-12, "{a}");
}

// ---------------------------------------------------------------- ICRP 89 and the Child model

/// The ICRP 89 masses by age (docs/reference-data/physiology/icrp89_organ_masses_g.csv), as
/// organ -> column -> grams.
fn icrp_csv() -> HashMap<String, HashMap<String, f64>> {
    let text = std::fs::read_to_string("docs/reference-data/physiology/icrp89_organ_masses_g.csv")
        .expect("ICRP CSV");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut out = HashMap::new();
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        let mut row = HashMap::new();
        for (h, v) in header.iter().zip(&cells).skip(1) {
            if let Ok(x) = v.parse::<f64>() {
                row.insert(h.to_string(), x);
            }
        }
        out.insert(cells[0].to_string(), row);
    }
    out
}

/// The PBPK organ params of `ReferenceAdult` and the ICRP rows they lump.
const ORGANS: [(&str, &[&str]); 15] = [
    ("m_adipose", &["separable_adipose"]),
    ("m_bone", &["total_skeleton"]),
    ("m_brain", &["brain"]),
    ("m_heart", &["heart_tissue_only"]),
    ("m_kidney", &["kidneys"]),
    ("m_liver", &["liver"]),
    ("m_lung", &["lung_tissue_only"]),
    ("m_muscle", &["skeletal_muscle"]),
    ("m_skin", &["skin"]),
    ("m_spleen", &["spleen"]),
    ("m_pancreas", &["pancreas"]),
    ("m_stomach", &["stomach_wall"]),
    ("m_small_intestine", &["small_intestine_wall"]),
    (
        "m_large_intestine",
        &[
            "large_intestine_right_colon_wall",
            "large_intestine_left_colon_wall",
            "large_intestine_rectosigmoid_wall",
        ],
    ),
    ("m_blood", &["total_blood"]),
];

const CHILD: &str =
    "use pediatrics.Child\nuse physiology.ReferenceAdult\nmodel Kid extends Child {}\n";

#[test]
fn child_organ_masses_are_the_icrp_values_at_the_table_ages() {
    let csv = icrp_csv();
    let c = compiled(CHILD);
    for (age, male_col, female_col) in [
        (0.0, "newborn", "newborn"),
        (1.0, "age1", "age1"),
        (5.0, "age5", "age5"),
        (10.0, "age10", "age10"),
        (15.0, "age15m", "age15f"),
        (20.0, "adult_male", "adult_female"),
    ] {
        for (sex, col) in [("male", male_col), ("female", female_col)] {
            let set = [("age", Value::Num(age)), ("sex", Value::Level(sex))];
            for (p, rows) in ORGANS {
                let grams: f64 = rows.iter().map(|r| csv[*r][col]).sum();
                let got = param(&c, "Kid", p, &set);
                assert!(
                    (got - grams / 1000.0).abs() <= 1e-12 * grams,
                    "{p} {sex} at {age} y: {got} kg vs {grams} g"
                );
            }
            let w = param(&c, "Kid", "ref_weight", &set);
            assert_eq!(
                w, csv["body_weight_kg"][col],
                "reference weight {sex} {age} y"
            );
        }
    }
    // Between rows the mass is linear in age: a 3-year-old's liver is halfway between 1 and 5 y.
    let set = [("age", Value::Num(3.0)), ("sex", Value::Level("male"))];
    let liver = param(&c, "Kid", "m_liver", &set);
    assert!((liver - (0.33 + 0.57) / 2.0).abs() <= 1e-12, "{liver}");
    // ICRP 89 Table 2.39 cardiac output, 5 years: 3.4 L/min = 204 L/h at the reference weight.
    let set = [
        ("age", Value::Num(5.0)),
        ("weight", Value::Num(19.0)),
        ("sex", Value::Level("female")),
    ];
    let co = param(&c, "Kid", "cardiac_output", &set);
    assert!((co - 204.0).abs() <= 1e-9, "{co}");
}

#[test]
fn child_at_adult_age_is_the_reference_adult() {
    let c = compiled(CHILD);
    let adult = c
        .program
        .models
        .iter()
        .find(|m| m.name == "ReferenceAdult")
        .expect("ReferenceAdult");
    let names: Vec<&str> = adult
        .params
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| {
            n.starts_with("v_")
                || n.starts_with("m_")
                || n.starts_with("fq_")
                || *n == "cardiac_output"
                || *n == "size"
        })
        .collect();
    assert!(names.len() > 40, "{names:?}");
    for (sex, weight) in [
        ("male", 73.0),
        ("female", 60.0),
        ("female", 90.0),
        ("male", 55.0),
    ] {
        for age in [20.0, 35.0, 80.0] {
            let set = [
                ("age", Value::Num(age)),
                ("weight", Value::Num(weight)),
                ("sex", Value::Level(sex)),
            ];
            for n in &names {
                let child = param(&c, "Kid", n, &set);
                let reference = param(&c, "ReferenceAdult", n, &set);
                assert!(
                    (child - reference).abs() <= 1e-12 * reference.abs().max(1.0),
                    "{n}, {sex} {weight} kg at {age} y: Child {child} vs ReferenceAdult {reference}"
                );
            }
        }
    }
}

/// A drug in a 2-year-old: every amount plus what was eliminated equals the dose, with hepatic,
/// gut-wall and renal clearance all matured (the child's total volume is also its body weight
/// scaled like the adult's, so the run also exercises every flow).
#[test]
fn drug_in_a_child_conserves_mass() {
    let text = "use pediatrics.Child
model Drug extends Child {
    param clint_u: L/h = 20 L/h
    param clint_gut_u: L/h = 2 L/h
    param cl_renal_u: L/h = 3 L/h
    param fm_cyp3a4: 1 = 0.7
    param fm_cyp2c9: 1 = 0.2
    param fu: 1 = 0.3
    observe total: mg = lumen + arterial + venous + lung + adipose + bone + brain + heart + kidney + muscle + skin + spleen + pancreas + stomach + small_intestine + large_intestine + liver + rest
}";
    let (h, rows) = table(&Request {
        eliminated: true,
        name: "drug.twin".into(),
        text: text.into(),
        model: Some("Drug".into()),
        doses: vec!["10 mg into lumen".into(), "5 mg into venous at 2 h".into()],
        sets: vec!["age=2year".into(), "weight=12kg".into()],
        until: Some("24h".into()),
        every: Some("1h".into()),
        options: tight(),
        ..Default::default()
    });
    let (t, total, elim) = (
        column(&h, "time [h]"),
        column(&h, "total [mg]"),
        column(&h, "eliminated [mg]"),
    );
    for r in &rows {
        let dose = if r[t] >= 2.0 { 15.0 } else { 10.0 };
        assert!(
            (r[total] + r[elim] - dose).abs() <= 1e-6 * dose,
            "t = {}: {} + {} vs {dose}",
            r[t],
            r[total],
            r[elim]
        );
    }
    assert!(rows.last().expect("rows")[elim] > 1.0, "nothing eliminated");
}

/// The CDC M (median) column of a chart for one sex, linearly interpolated in months and constant
/// outside — computed here from the CSV, independently of the generated tables.
fn cdc_median(file: &str, sex: &str, months: f64) -> f64 {
    let text =
        std::fs::read_to_string(format!("docs/reference-data/pediatrics/{file}")).expect("CDC CSV");
    let rows: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[0] == sex)
        .map(|c| (c[1].parse().expect("age"), c[3].parse().expect("M")))
        .collect();
    if months <= rows[0].0 {
        return rows[0].1;
    }
    for w in rows.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if months < x1 {
            return y0 + (y1 - y0) * (months - x0) / (x1 - x0);
        }
    }
    rows[rows.len() - 1].1
}

/// Tables in a trial: the population sets each child's weight to the CDC median for its age and
/// sex, and the children are simulated with `Child`.
#[test]
fn a_pediatric_trial_draws_weights_from_the_growth_charts() {
    let text = "use pediatrics.{Child, cdc_weight_for_age_female, cdc_weight_for_age_male}

model Kid extends Child {
    param clint_u: L/h = 10 L/h
    param fm_cyp3a4: 1 = 1
}

trial Peds {
    model Kid
    population 40 {
        sex ~ categorical(female: 50%, male: 50%)
        age ~ uniform(min: 2 year, max: 18 year)
        weight = if sex == female { cdc_weight_for_age_female(age, 0) } else { cdc_weight_for_age_male(age, 0) }
    }
    arm mgkg { dose 1 mg/kg * weight into venous }
    sample every 1 h until 12 h
    endpoint auc = auc(c_plasma)
}
";
    assert_eq!(twin::fmt::format(text).expect("formats"), text);
    let c = compiled(text);
    let dir = std::env::temp_dir().join(format!("twin-pediatrics-{}", std::process::id()));
    let opts = twin::cmd::trial::TrialOptions {
        n: None,
        trial: None,
        seed: 7,
        shard: None,
        solve: SolveOptions::default(),
        trajectories: false,
        out: Some(dir.clone()),
        progress: false,
    };
    let s = twin::cmd::trial::run_trial(&c, "peds.twin", &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let csv = std::fs::read_to_string(dir.join("patients.csv")).expect("patients.csv");
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect(n);
    let (sex, weight, age) = (col("sex"), col("weight [kg]"), col("age [year]"));
    let mut n = 0;
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        let a: f64 = c[age].parse().expect("age");
        let w: f64 = c[weight].parse().expect("weight");
        let code = if c[sex] == "female" { "2" } else { "1" };
        let want = cdc_median("cdc_wtage_2to20y_lms.csv", code, a * 12.0);
        assert!(
            (w - want).abs() <= 1e-12 * want,
            "{} aged {a} y: {w} vs {want}",
            c[sex]
        );
        n += 1;
    }
    assert_eq!(n, 40);
}
