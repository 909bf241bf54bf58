//! Virtual populations: generator moments and frequencies at large n, correlations, random
//! effects, determinism, and the statistics helpers against textbook values.
//!
//! Run in release mode (`cargo test --release --test population`). Moment checks draw
//! n = 200,000 patients and allow 5 standard errors of the estimate (SE stated at each check), so
//! a correct generator fails with probability below 1e-6 per check; the streams are
//! deterministic, so the outcome is in fact fixed for the seed.

use twin::check::hir;
use twin::lower::{self, InputSlot};
use twin::trial::population::{self, Patient, Sampler};
use twin::trial::rng::{self, Purpose, Stream};
use twin::trial::stats;

const N: u64 = 200_000;
const SEED: u64 = 20_240_611;

const SOURCE: &str = r#"
use pgx.{CYP2C9}
use pk.allometric

model M {
    covariate weight: kg = 70 kg
    covariate height: cm = 170 cm
    covariate age: year = 50 year
    covariate crcl: mL/min = 100 mL/min
    covariate sex: {female, male, other} = female
    covariate bmi: kg/m^2 = 24 kg/m^2
    covariate score: 1 = 0
    covariate cl_copy: L/h = 0 L/h
    covariate wt_t: kg = 70 kg
    covariate untouched: kg = 42 kg
    genotype cyp2c9: CYP2C9 = "*1/*1"
    param cl: L/h = 5 L/h * (weight / 70 kg)^0.75
    param v: L = 40 L
    param ka: 1/h = 1 /h
    param fu: 1 = 0.3
    vary cl ~ lognormal(omega: 0.09)
    vary v ~ lognormal(omega: 0.04)
    vary ka ~ normal(sd: 0.2 /h)
    vary fu ~ logit(sd: 0.5)
    correlate cl, v = 0.6
    compartment central: mg
    flow central -> out = cl / v * central
    observe conc: mg/L = central / v ~ proportional(10%) + additive(0.5 mg/L)
}

trial T {
    model M
    population 200000 {
        ancestry european
        weight ~ lognormal(median: 75 kg, cv: 20%)
        height ~ normal(mean: 170 cm, sd: 9 cm)
        age ~ normal(mean: 50 year, sd: 15 year, min: 30 year, max: 60 year)
        crcl ~ uniform(60 mL/min, 120 mL/min)
        sex ~ categorical(female: 50%, male: 30%, other: 20%)
        wt_t ~ lognormal(median: 70 kg, cv: 30%, min: 50 kg, max: 100 kg)
        correlate weight, height = 0.5
        bmi = weight / (height * height)
        score = (if sex == male { 2 } else { 1 }) * match cyp2c9 { "*1/*1" => 1, _ => 10 } + allometric(weight, 70 kg, 0.75)
        cl_copy = cl
    }
    arm a { dose 100 mg into central }
    arm b {
        weight = 110 kg
        cyp2c9 = "*3/*3"
        dose 200 mg into central
    }
}

trial R {
    model M
    population 3000 {
        ancestry { european: 60%, african: 40% }
        weight ~ normal(mean: 70 kg, sd: 10 kg)
    }
    randomize
    arm a { dose 100 mg into central }
    arm b { dose 200 mg into central }
    arm c { dose 300 mg into central }
    stratify by cyp2c9, phenotype(cyp2c9), sex, weight bins [60 kg, 80 kg]
}

trial Bad {
    model M
    population 10 {
        ancestry european
        weight ~ normal(mean: 0 kg, sd: 1 kg, min: 50 kg, max: 60 kg)
    }
    arm a { dose 100 mg into central }
}

trial Typical {
    model M
    arm a { dose 100 mg into central }
}
"#;

struct Setup {
    program: hir::Program,
    slots: Vec<InputSlot>,
}

fn setup() -> Setup {
    let c = twin::driver::compile("population.twin", SOURCE);
    assert!(
        !c.has_errors(),
        "compile errors: {:#?}",
        c.diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
    );
    let program = c.program;
    let m = &program.models[0];
    let lowered = lower::lower(&program, m, &[], lower::Options::default()).expect("lowers");
    Setup {
        slots: lowered.inputs,
        program,
    }
}

fn trial<'a>(s: &'a Setup, name: &str) -> &'a hir::Trial {
    s.program
        .trials
        .iter()
        .find(|t| t.name == name)
        .expect("trial exists")
}

fn covariate(s: &Setup, name: &str) -> usize {
    s.program.models[0]
        .covariates
        .iter()
        .position(|c| c.name == name)
        .expect("covariate exists")
}

fn slot(s: &Setup, want: InputSlot) -> usize {
    s.slots.iter().position(|x| *x == want).expect("slot")
}

/// All N patients of trial T (generated once per test binary run).
fn population(s: &Setup) -> Vec<Patient> {
    let sampler = Sampler::new(&s.program, trial(s, "T"), &s.slots).expect("sampler");
    (0..N)
        .map(|k| sampler.sample(SEED, k).expect("patient"))
        .collect()
}

fn column(pop: &[Patient], i: usize) -> Vec<f64> {
    pop.iter().map(|p| p.inputs[i]).collect()
}

fn within(what: &str, got: f64, want: f64, se: f64) {
    eprintln!("{what}: {got} vs {want} ({:+.2} SE)", (got - want) / se);
    assert!(
        (got - want).abs() <= 5.0 * se,
        "{what}: got {got}, want {want} ± 5 × {se}"
    );
}

#[test]
fn covariate_moments_frequencies_and_correlation() {
    let s = setup();
    let pop = population(&s);
    let n = N as f64;

    // Normal: SE(mean) = σ/√n, SE(sd) ≈ σ/√(2n).
    let height = column(
        &pop,
        slot(&s, InputSlot::Covariate(covariate(&s, "height"))),
    );
    within("height mean", stats::mean(&height), 170.0, 9.0 / n.sqrt());
    within("height sd", stats::sd(&height), 9.0, 9.0 / (2.0 * n).sqrt());

    // Lognormal by median and CV: ln x ~ N(ln 75, σ²), σ² = ln(1 + 0.2²); arithmetic mean
    // 75·√(1 + cv²) with SE = 0.2·mean/√n.
    let weight = column(
        &pop,
        slot(&s, InputSlot::Covariate(covariate(&s, "weight"))),
    );
    let logw: Vec<f64> = weight.iter().map(|w| w.ln()).collect();
    let sigma = (1.0f64 + 0.04).ln().sqrt();
    within(
        "ln weight mean",
        stats::mean(&logw),
        75f64.ln(),
        sigma / n.sqrt(),
    );
    within(
        "ln weight sd",
        stats::sd(&logw),
        sigma,
        sigma / (2.0 * n).sqrt(),
    );
    let am = 75.0 * 1.04f64.sqrt();
    within("weight mean", stats::mean(&weight), am, 0.2 * am / n.sqrt());
    within(
        "weight median",
        stats::quantile(&weight, 0.5),
        75.0,
        // SE of a median ≈ 1/(2 f(m) √n), f(m) = 1/(m σ √(2π)) for a lognormal.
        75.0 * sigma * (2.0 * std::f64::consts::PI).sqrt() / (2.0 * n.sqrt()),
    );

    // Uniform(60, 120): mean 90, variance 60²/12 = 300; SE(mean) = √300/√n,
    // SE(sd) = √((μ₄ − σ⁴)/n)/(2σ) with μ₄ = 60⁴/80.
    let crcl = column(&pop, slot(&s, InputSlot::Covariate(covariate(&s, "crcl"))));
    assert!(crcl.iter().all(|&x| x > 60.0 && x < 120.0));
    within(
        "crcl mean",
        stats::mean(&crcl),
        90.0,
        300f64.sqrt() / n.sqrt(),
    );
    let se_sd = ((60f64.powi(4) / 80.0 - 300.0 * 300.0) / n).sqrt() / (2.0 * 300f64.sqrt());
    within("crcl sd", stats::sd(&crcl), 300f64.sqrt(), se_sd);

    // Truncated normal N(50, 15²) on [30, 60]: all values inside; mean
    // μ + σ(φ(α) − φ(β))/Z, variance σ²[1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²].
    let age = column(&pop, slot(&s, InputSlot::Covariate(covariate(&s, "age"))));
    assert!(age.iter().all(|&x| (30.0..=60.0).contains(&x)));
    let (a, b) = ((30.0 - 50.0) / 15.0, (60.0 - 50.0) / 15.0);
    let (mean_t, sd_t) = truncated_moments(a, b);
    within(
        "truncated age mean",
        stats::mean(&age),
        50.0 + 15.0 * mean_t,
        15.0 * sd_t / n.sqrt(),
    );
    within(
        "truncated age sd",
        stats::sd(&age),
        15.0 * sd_t,
        15.0 * sd_t / (2.0 * n).sqrt() * 1.5,
    );

    // Truncated lognormal: log values are a truncated normal.
    let wt = column(&pop, slot(&s, InputSlot::Covariate(covariate(&s, "wt_t"))));
    assert!(wt.iter().all(|&x| (50.0..=100.0).contains(&x)));
    let sl = (1.0f64 + 0.09).ln().sqrt();
    let (a, b) = (
        (50f64.ln() - 70f64.ln()) / sl,
        (100f64.ln() - 70f64.ln()) / sl,
    );
    let (mean_t, sd_t) = truncated_moments(a, b);
    let logt: Vec<f64> = wt.iter().map(|x| x.ln()).collect();
    within(
        "truncated ln wt mean",
        stats::mean(&logt),
        70f64.ln() + sl * mean_t,
        sl * sd_t / n.sqrt(),
    );

    // Categorical: SE = √(p(1 − p)/n).
    let sex = column(&pop, slot(&s, InputSlot::Covariate(covariate(&s, "sex"))));
    for (level, p) in [(0.0, 0.5), (1.0, 0.3), (2.0, 0.2)] {
        let f = sex.iter().filter(|&&x| x == level).count() as f64 / n;
        within(
            &format!("sex level {level}"),
            f,
            p,
            (p * (1.0 - p) / n).sqrt(),
        );
    }

    // Gaussian copula: corr(ln weight, height) = 0.5, SE ≈ (1 − ρ²)/√n.
    within(
        "corr(ln weight, height)",
        stats::correlation(&logw, &height),
        0.5,
        0.75 / n.sqrt(),
    );
    // Uncorrelated pairs stay uncorrelated (SE 1/√n).
    within(
        "corr(height, crcl)",
        stats::correlation(&height, &crcl),
        0.0,
        1.0 / n.sqrt(),
    );

    // Not generated: default; set from others: exact.
    let untouched = slot(&s, InputSlot::Covariate(covariate(&s, "untouched")));
    assert!(pop.iter().all(|p| p.inputs[untouched] == 42.0));
    let bmi = column(&pop, slot(&s, InputSlot::Covariate(covariate(&s, "bmi"))));
    for k in 0..1000 {
        let want = weight[k] / (height[k] * height[k]) * 10_000.0;
        assert!((bmi[k] - want).abs() <= 1e-12 * want, "bmi {k}");
    }
}

/// Mean and SD of a standard normal truncated to [a, b].
fn truncated_moments(a: f64, b: f64) -> (f64, f64) {
    let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let z = stats::normal_cdf(b) - stats::normal_cdf(a);
    let m = (phi(a) - phi(b)) / z;
    let v = 1.0 + (a * phi(a) - b * phi(b)) / z - m * m;
    (m, v.sqrt())
}

#[test]
fn genotype_frequencies_match_the_gene() {
    let s = setup();
    let sampler = Sampler::new(&s.program, trial(&s, "T"), &s.slots).expect("sampler");
    let gi = slot(&s, InputSlot::Genotype(0));
    let gene = &s.program.genes[s.program.models[0].genotypes[0].gene];
    assert_eq!(gene.name, "CYP2C9");
    let eur = gene
        .ancestries
        .iter()
        .position(|a| a == "european")
        .expect("european");
    let mut counts = vec![0u64; gene.diplotypes.len()];
    for k in 0..N {
        let p = sampler.sample(SEED, k).expect("patient");
        counts[p.inputs[gi] as usize] += 1;
    }
    let n = N as f64;
    for (d, &c) in counts.iter().enumerate() {
        let f = gene.diplotype_freq[eur][d];
        let got = c as f64 / n;
        if f == 0.0 {
            assert_eq!(c, 0, "{} has frequency 0", gene.diplotype_names[d]);
        } else {
            within(
                &format!("frequency of {}", gene.diplotype_names[d]),
                got,
                f,
                (f * (1.0 - f) / n).sqrt(),
            );
        }
    }
    // *1/*1 is the Hardy–Weinberg square of the remainder allele frequency.
    let d11 = gene
        .diplotype_names
        .iter()
        .position(|x| x == "*1/*1")
        .expect("*1/*1");
    assert!((gene.diplotype_freq[eur][d11] - 0.7987f64.powi(2)).abs() < 1e-9);
}

#[test]
fn random_effects_match_omega_and_parameters_see_them() {
    let s = setup();
    let pop = population(&s);
    let m = &s.program.models[0];
    let n = N as f64;
    let etas: Vec<Vec<f64>> = (0..m.effects.len())
        .map(|k| column(&pop, slot(&s, InputSlot::Eta(k))))
        .collect();
    for (k, e) in m.effects.iter().enumerate() {
        let w2 = e.variance;
        // SE(mean) = ω/√n; SE(variance) = ω²·√(2/n).
        within(
            &format!("η{k} mean"),
            stats::mean(&etas[k]),
            0.0,
            w2.sqrt() / n.sqrt(),
        );
        within(
            &format!("η{k} variance"),
            stats::variance(&etas[k]),
            w2,
            w2 * (2.0 / n).sqrt(),
        );
    }
    assert_eq!(m.effect_correlations.len(), 1);
    let (a, b, rho) = m.effect_correlations[0];
    within(
        "corr(η_cl, η_v)",
        stats::correlation(&etas[a], &etas[b]),
        rho,
        (1.0 - rho * rho) / n.sqrt(),
    );
    within(
        "corr(η_cl, η_ka)",
        stats::correlation(&etas[a], &etas[2]),
        0.0,
        1.0 / n.sqrt(),
    );

    // `cl_copy = cl`: the parameter with the patient's covariates and η applied.
    let cl_eff = m
        .effects
        .iter()
        .position(|e| m.params[e.param].name.ends_with("cl"))
        .expect("cl effect");
    let w = slot(&s, InputSlot::Covariate(covariate(&s, "weight")));
    let c = slot(&s, InputSlot::Covariate(covariate(&s, "cl_copy")));
    let e = slot(&s, InputSlot::Eta(cl_eff));
    let score = slot(&s, InputSlot::Covariate(covariate(&s, "score")));
    let sex = slot(&s, InputSlot::Covariate(covariate(&s, "sex")));
    let g = slot(&s, InputSlot::Genotype(0));
    for p in pop.iter().take(1000) {
        let want = 5.0 * (p.inputs[w] / 70.0).powf(0.75) * p.inputs[e].exp();
        assert!((p.inputs[c] - want).abs() <= 1e-12 * want);
        // score = (2 if male else 1) × (1 if *1/*1 else 10) + (weight/70)^0.75
        let gene = &s.program.genes[m.genotypes[0].gene];
        let is11 = gene.diplotype_names[p.inputs[g] as usize] == "*1/*1";
        let want = (if p.inputs[sex] == 1.0 { 2.0 } else { 1.0 }) * (if is11 { 1.0 } else { 10.0 })
            + (p.inputs[w] / 70.0).powf(0.75);
        assert!((p.inputs[score] - want).abs() <= 1e-12 * want, "score");
    }
}

#[test]
fn patients_are_deterministic_and_independent() {
    let s = setup();
    let t = trial(&s, "T");
    let sampler = Sampler::new(&s.program, t, &s.slots).expect("sampler");
    // Patient 777 alone equals patient 777 generated after 0..777.
    let alone = population::generate(&s.program, t, &s.slots, SEED, 777).expect("alone");
    let mut after = None;
    for k in 0..=777 {
        after = Some(sampler.sample(SEED, k).expect("patient"));
    }
    assert_eq!(Some(alone.clone()), after);
    assert_eq!(alone.id, 777);
    // Bit-identical across threads: two threads over interleaved halves.
    let serial: Vec<Patient> = (0..2000)
        .map(|k| sampler.sample(SEED, k).expect("patient"))
        .collect();
    let mut parallel: Vec<Option<Patient>> = vec![None; 2000];
    std::thread::scope(|scope| {
        let (even, odd): (Vec<_>, Vec<_>) = parallel
            .iter_mut()
            .enumerate()
            .partition(|(k, _)| k % 2 == 0);
        for half in [even, odd] {
            let sampler = &sampler;
            scope.spawn(move || {
                for (k, out) in half {
                    *out = Some(sampler.sample(SEED, k as u64).expect("patient"));
                }
            });
        }
    });
    let parallel: Vec<Patient> = parallel.into_iter().map(|p| p.expect("set")).collect();
    assert_eq!(serial, parallel);
    // Another seed gives another patient; indices beyond the population are refused.
    let other = sampler.sample(SEED + 1, 777).expect("patient");
    assert_ne!(other.inputs, alone.inputs);
    assert!(sampler.sample(SEED, N).is_err());
}

#[test]
fn randomization_ancestry_overrides_and_strata() {
    let s = setup();
    let t = trial(&s, "R");
    let sampler = Sampler::new(&s.program, t, &s.slots).expect("sampler");
    let pop: Vec<Patient> = (0..3000)
        .map(|k| sampler.sample(SEED, k).expect("patient"))
        .collect();
    // Permuted blocks of 3: every block holds each arm once.
    for block in pop.chunks(3) {
        let mut arms: Vec<usize> = block.iter().map(|p| p.arm.expect("arm")).collect();
        arms.sort_unstable();
        assert_eq!(arms, vec![0, 1, 2]);
    }
    // Ancestry mixture 60/40 (SE √(0.24/3000)).
    let eur = pop.iter().filter(|p| p.ancestry == 0).count() as f64 / 3000.0;
    within("european fraction", eur, 0.6, (0.24f64 / 3000.0).sqrt());
    // Not randomized: no arm.
    let p = population::generate(&s.program, trial(&s, "T"), &s.slots, SEED, 0).expect("p");
    assert_eq!(p.arm, None);

    // Strata.
    let m = &s.program.models[0];
    let labels: Vec<Vec<String>> = t
        .strata
        .iter()
        .map(|st| population::stratum_labels(&s.program, m, st, "kg"))
        .collect();
    assert_eq!(labels[2], vec!["female", "male", "other"]);
    assert_eq!(labels[3], vec!["<60 kg", "60-80 kg", ">=80 kg"]);
    assert!(labels[1].contains(&"PM".to_string()));
    let w = slot(&s, InputSlot::Covariate(covariate(&s, "weight")));
    for p in &pop {
        for (st, l) in t.strata.iter().zip(&labels) {
            let level = population::stratum_level(&s.program, m, &s.slots, st, &p.inputs, &[])
                .expect("level");
            assert!(level < l.len());
        }
        let bin = population::stratum_level(&s.program, m, &s.slots, &t.strata[3], &p.inputs, &[]);
        let x = p.inputs[w];
        let want = if x < 60.0 {
            0
        } else if x < 80.0 {
            1
        } else {
            2
        };
        assert_eq!(bin, Some(want));
    }

    // Arm overrides of trial T's arm b: weight 110 kg, CYP2C9 *3/*3.
    let tt = trial(&s, "T");
    let mut p = population::generate(&s.program, tt, &s.slots, SEED, 5).expect("p");
    let ev = twin::trial::Evaluator::for_arms(&s.program, m, &[&tt.arms[1]]).expect("evaluator");
    population::apply_overrides(&ev, 0, &s.slots, &mut p.inputs).expect("overrides");
    assert_eq!(p.inputs[w], 110.0);
    let gene = &s.program.genes[m.genotypes[0].gene];
    let g = slot(&s, InputSlot::Genotype(0));
    assert_eq!(gene.diplotype_names[p.inputs[g] as usize], "*3/*3");
}

#[test]
fn typical_patient_and_errors() {
    let s = setup();
    let m = &s.program.models[0];
    let p =
        population::generate(&s.program, trial(&s, "Typical"), &s.slots, SEED, 0).expect("typical");
    assert_eq!(p.inputs, lower::typical_inputs(m, &s.slots));
    assert!(population::generate(&s.program, trial(&s, "Typical"), &s.slots, SEED, 1).is_err());
    // Truncation bounds 50 SDs above the mean: no probability left, and the error says which
    // covariate.
    let err = population::generate(&s.program, trial(&s, "Bad"), &s.slots, SEED, 0)
        .expect_err("no probability");
    eprintln!("{err}");
    assert!(err.message.contains("weight"), "{}", err.message);
}

#[test]
fn residual_error_moments() {
    // value·(1 + 0.1 ε₁) + 0.5 ε₂ at value 10: mean 10, variance 1² + 0.5² = 1.25;
    // SE(mean) = √1.25/√n, SE(variance) ≈ 1.25·√(2/n).
    let e = hir::ResidualError {
        additive: 0.5,
        proportional: 0.1,
    };
    let mut st = Stream::new(SEED, 3, Purpose::ResidualError);
    let ys: Vec<f64> = (0..N)
        .map(|_| population::residual(&e, 10.0, &mut st))
        .collect();
    let n = N as f64;
    within(
        "residual mean",
        stats::mean(&ys),
        10.0,
        1.25f64.sqrt() / n.sqrt(),
    );
    within(
        "residual variance",
        stats::variance(&ys),
        1.25,
        1.25 * (2.0 / n).sqrt(),
    );
}

#[test]
fn streams() {
    // Random123 known-answer vectors for Philox4x32-10 (tests/kat_vectors).
    assert_eq!(
        rng::philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        rng::philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        rng::philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
    // Same key, same numbers; other patient or purpose, other numbers.
    let a: Vec<u64> = {
        let mut s = Stream::new(1, 2, Purpose::Etas);
        (0..10).map(|_| s.next_u64()).collect()
    };
    let b: Vec<u64> = {
        let mut s = Stream::new(1, 2, Purpose::Etas);
        (0..10).map(|_| s.next_u64()).collect()
    };
    assert_eq!(a, b);
    let mut c = Stream::new(1, 3, Purpose::Etas);
    let mut d = Stream::new(1, 2, Purpose::Covariates);
    assert_ne!(a[0], c.next_u64());
    assert_ne!(a[0], d.next_u64());
    // Uniforms inside (0, 1) with mean ½ and variance 1/12; normals N(0, 1).
    let mut s = Stream::new(9, 9, Purpose::Other(7));
    let u: Vec<f64> = (0..N).map(|_| s.uniform()).collect();
    assert!(u.iter().all(|&x| x > 0.0 && x < 1.0));
    let n = N as f64;
    within(
        "uniform mean",
        stats::mean(&u),
        0.5,
        (1.0f64 / 12.0).sqrt() / n.sqrt(),
    );
    let z: Vec<f64> = (0..N).map(|_| s.normal()).collect();
    within("normal mean", stats::mean(&z), 0.0, 1.0 / n.sqrt());
    within(
        "normal variance",
        stats::variance(&z),
        1.0,
        (2.0 / n).sqrt(),
    );
    // below(n) is uniform over 0..n.
    let mut counts = [0u64; 7];
    for _ in 0..70_000 {
        counts[s.below(7) as usize] += 1;
    }
    for c in counts {
        within(
            "below(7)",
            c as f64,
            10_000.0,
            (70_000.0f64 * (1.0 / 7.0) * (6.0 / 7.0)).sqrt(),
        );
    }
}

#[test]
fn normal_distribution_functions() {
    // Reference values: Python's math.erfc (C library) and statistics.NormalDist.
    let erfc = [
        (0.1, 0.8875370839817152),
        (0.3, 0.6713732405408726),
        (0.5, 0.4795001221869535),
        (0.9, 0.20309178757716786),
        (1.0, 0.15729920705028513),
        (1.3, 0.06599205505934755),
        (2.0, 0.004677734981047265),
        (3.0, 2.2090496998585438e-05),
        (5.0, 1.5374597944280351e-12),
        (10.0, 2.088487583762545e-45),
        (26.0, 5.663192408856143e-296),
        (-0.5, 1.5204998778130465),
        (-1.0, 1.842700792949715),
        (-2.0, 1.9953222650189528),
        (-7.0, 2.0),
    ];
    for (x, want) in erfc {
        let got = stats::erfc(x);
        assert!(
            (got - want).abs() <= 4e-16 * want,
            "erfc({x}) = {got}, want {want}"
        );
    }
    let q = [
        (0.975, 1.9599639845400536),
        (0.5, 0.0),
        (0.3, -0.5244005127080407),
        (1e-10, -6.361340902404056),
        (1e-300, -37.0470962993612),
        (0.999999, 4.753424308817089),
    ];
    for (p, want) in q {
        let got = stats::normal_quantile(p);
        assert!(
            (got - want).abs() <= 1e-14 * want.abs().max(1.0),
            "Φ⁻¹({p}) = {got}"
        );
    }
    for p in [1e-12, 1e-5, 0.01, 0.2, 0.5, 0.7, 0.95] {
        let back = stats::normal_cdf(stats::normal_quantile(p));
        assert!((back - p).abs() <= 1e-14 * p, "Φ(Φ⁻¹({p})) = {back}");
    }
}

#[test]
fn statistics_against_textbook_values() {
    // R: quantile(1:10, c(.05, .25, .5, .75, .95)) = 1.45 3.25 5.50 7.75 9.55
    let x: Vec<f64> = (1..=10).rev().map(f64::from).collect();
    let q = stats::quantiles(&x, &[0.05, 0.25, 0.5, 0.75, 0.95]);
    for (got, want) in q.iter().zip([1.45, 3.25, 5.5, 7.75, 9.55]) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    let s = stats::summarize(&x);
    assert_eq!((s.n, s.min, s.max, s.median), (10, 1.0, 10.0, 5.5));
    assert!((s.mean - 5.5).abs() < 1e-15);
    // sd(1:10) = 3.0276503540974917
    assert!((s.sd - 3.0276503540974917).abs() < 1e-14);

    // Wilson 95 % for 8/10: [0.4902, 0.9433] (Newcombe 1998, Stat Med 17:857, Table I).
    let w = stats::wilson(8, 10);
    assert_eq!(w.estimate, 0.8);
    assert!(
        (w.low - 0.4902).abs() < 5e-5 && (w.high - 0.9433).abs() < 5e-5,
        "{w:?}"
    );
    // 0/10: [0, 0.2775].
    let w = stats::wilson(0, 10);
    assert!(w.low == 0.0 && (w.high - 0.2775).abs() < 5e-5, "{w:?}");

    // Newcombe's method 10 for 56/70 − 48/80: 0.2000 [0.0524, 0.3339]
    // (Newcombe 1998, Stat Med 17:873, Table II, example (a)).
    let d = stats::newcombe_difference(56, 70, 48, 80);
    assert!((d.estimate - 0.2).abs() < 1e-12);
    assert!(
        (d.low - 0.0524).abs() < 5e-5 && (d.high - 0.3339).abs() < 5e-5,
        "{d:?}"
    );

    // Welch: difference 2, SE √(var(a)/n + var(b)/n).
    let a = [1.0, 2.0, 3.0, 4.0, 5.0];
    let b = [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, -3.0];
    let w = stats::welch_difference(&a, &b);
    let se = (2.5f64 / 5.0 + stats::variance(&b) / 7.0).sqrt();
    assert!((w.estimate - (3.0 - 6.0 / 7.0)).abs() < 1e-12);
    assert!((w.high - w.estimate - stats::Z95 * se).abs() < 1e-12);
    // Paired: differences 1, 1, 1, 1, 1 + noise.
    let p = stats::paired_difference(&[2.0, 3.0, 4.0, 5.0], &[1.0, 2.0, 3.0, 3.0]);
    assert!((p.estimate - 1.25).abs() < 1e-12 && p.low < 1.25 && p.high > 1.25);

    // Bins: [60, 80) is bin 1; edges belong to the bin above.
    let edges = [60.0, 80.0, 100.0];
    assert_eq!(stats::bin_index(&edges, 59.9), Some(0));
    assert_eq!(stats::bin_index(&edges, 60.0), Some(1));
    assert_eq!(stats::bin_index(&edges, 100.0), Some(3));
    assert_eq!(stats::bin_index(&edges, f64::NAN), None);
    assert_eq!(
        stats::bin_labels(&edges, "kg"),
        vec!["<60 kg", "60-80 kg", "80-100 kg", ">=100 kg"]
    );
}
