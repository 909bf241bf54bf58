//! `cargo bench --bench twin`: the figures of BENCHMARKS.md, every comparison side by side in
//! one run.
//!
//! (a) compile latency, source text → native code, split into front end (parse + check),
//!     lowering (IR builder: folding, CSE, hoisting, symbolic Jacobian) and Cranelift;
//! (b) single simulations: the two-compartment IV model with 24 doses (every method), the
//!     7-state PK + Friberg model over 720 h (JIT vs IR interpreter vs hand-written Rust on the
//!     same solver), and a 17-state whole-body PBPK model;
//! (c) nanoseconds per right-hand-side (and Jacobian) call for Friberg and PBPK.
//!
//! Method: `std::time::Instant` around each repetition (or each batch of calls for (c)), after
//! warm-up; the tables give the median and the 10th and 90th percentiles. The machine is
//! shared, so percentiles matter more than means. Accuracy is printed next to speed: each
//! simulation is checked against a closed form or against the other backends before timing.

mod hand;

use std::hint::black_box;
use std::time::Instant;

use twin::ir::{Interpreter, Module};
use twin::jit::CompiledModel;
use twin::solve::{Dose, Method, ModelFns, Regimen, SolveOptions, simulate};

/// Median and 10th/90th percentiles of a sample, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Stats {
    median: f64,
    p10: f64,
    p90: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    Stats {
        median: q(0.5),
        p10: q(0.1),
        p90: q(0.9),
    }
}

/// Times the closures in turn, round-robin, so that drift on a shared machine affects all of
/// them alike: `warm` untimed rounds, then `reps` timed rounds. One [`Stats`] per closure, in
/// nanoseconds per call of the closure divided by `per` (calls made inside one closure call).
fn race(warm: usize, reps: usize, per: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<Stats> {
    for _ in 0..warm {
        for f in fs.iter_mut() {
            f();
        }
    }
    let mut v = vec![Vec::with_capacity(reps); fs.len()];
    for _ in 0..reps {
        for (k, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            v[k].push(t.elapsed().as_nanos() as f64 / per as f64);
        }
    }
    v.into_iter().map(stats).collect()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn fmt_stats(s: Stats) -> String {
    format!(
        "{} [{} – {}]",
        fmt_ns(s.median),
        fmt_ns(s.p10),
        fmt_ns(s.p90)
    )
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Front end + lowering of the first model of a file.
fn lower(name: &str, text: &str, track_elimination: bool) -> (Module, Vec<f64>) {
    let c = twin::driver::compile(name, text);
    assert!(!c.has_errors(), "{name} has errors");
    let m = &c.program.models[0];
    let l = twin::lower::lower(
        &c.program,
        m,
        &[],
        twin::lower::Options {
            track_elimination,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let inputs = twin::lower::typical_inputs(m, &l.inputs);
    (l.module, inputs)
}

fn grid(t_end: f64, dt: f64) -> Vec<f64> {
    let n = (t_end / dt).round() as usize;
    (0..=n).map(|k| k as f64 * dt).collect()
}

fn opts(method: Method, rtol: f64) -> SolveOptions {
    SolveOptions {
        method,
        rtol,
        ..SolveOptions::default()
    }
}

/// Max relative difference where `want` exceeds 1e-6 of its peak.
fn max_rel(got: &[f64], want: &[f64]) -> f64 {
    let peak = want.iter().cloned().fold(0.0, f64::max);
    got.iter()
        .zip(want)
        .filter(|(_, w)| **w > 1e-6 * peak)
        .map(|(g, w)| ((g - w) / w).abs())
        .fold(0.0, f64::max)
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cores} logical cores available, CPU `{cpu}`");
    println!("stats: median [p10 – p90]\n");
}

// ---------------------------------------------------------------------------------------------

fn compile_latency() {
    println!("## (a) compile latency: source text → native code\n");
    println!("| model | states | IR insts | front end | lowering | Cranelift | total | reps |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, path, reps) in [
        (
            "two_compartment_iv.twin",
            "examples/two_compartment_iv.twin",
            400,
        ),
        ("pbpk14.twin", "benches/models/pbpk14.twin", 300),
    ] {
        let text = read(path);
        let (mut fe, mut lw, mut cl, mut tot) = (vec![], vec![], vec![], vec![]);
        let mut shape = (0, 0);
        for rep in 0..reps + 20 {
            let t0 = Instant::now();
            let c = twin::driver::compile(name, &text);
            let t1 = Instant::now();
            assert!(!c.has_errors());
            let l = twin::lower::lower(
                &c.program,
                &c.program.models[0],
                &[],
                twin::lower::Options {
                    track_elimination: true,
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
            let t2 = Instant::now();
            let jit = twin::jit::compile(&l.module).unwrap_or_else(|e| panic!("{e:?}"));
            let t3 = Instant::now();
            black_box(&jit);
            let m = &l.module;
            shape = (
                m.n_states(),
                m.functions().iter().map(|f| f.insts.len()).sum::<usize>(),
            );
            drop(jit);
            if rep >= 20 {
                let ns = |a: Instant, b: Instant| (b - a).as_nanos() as f64;
                fe.push(ns(t0, t1));
                lw.push(ns(t1, t2));
                cl.push(ns(t2, t3));
                tot.push(ns(t0, t3));
            }
        }
        println!(
            "| {name} | {} | {} | {} | {} | {} | **{}** | {reps} |",
            shape.0,
            shape.1,
            fmt_stats(stats(fe)),
            fmt_stats(stats(lw)),
            fmt_stats(stats(cl)),
            fmt_stats(stats(tot)),
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------------

/// Central concentration of the two-compartment model after a 100 mg bolus at t = 0
/// (CL 10 L/h, V1 20 L, Q 5 L/h, V2 100 L, the values of `two_compartment_iv.twin`).
fn biexp(t: f64) -> f64 {
    let (cl, v1, q, v2): (f64, f64, f64, f64) = (10.0, 20.0, 5.0, 100.0);
    let (k10, k12, k21) = (cl / v1, q / v1, q / v2);
    let s = k10 + k12 + k21;
    let disc = (s * s - 4.0 * k10 * k21).sqrt();
    let (a, b) = ((s + disc) / 2.0, (s - disc) / 2.0);
    if t < 0.0 {
        return 0.0;
    }
    100.0 / v1 * ((a - k21) / (a - b) * (-a * t).exp() + (k21 - b) / (a - b) * (-b * t).exp())
}

fn two_compartment() {
    println!(
        "## (b) two-compartment IV, 24 × 100 mg every 12 h, hourly output to 288 h, rtol 1e-6\n"
    );
    let (module, inputs) = lower(
        "two_compartment_iv.twin",
        &read("examples/two_compartment_iv.twin"),
        true,
    );
    let jit = twin::jit::compile(&module).unwrap_or_else(|e| panic!("{e:?}"));
    let interp = Interpreter::new(module);
    let reg = Regimen::new().with(Dose::bolus(0.0, 100.0, 0).additional(12.0, 23));
    let g = grid(288.0, 1.0);
    let want: Vec<f64> = g
        .iter()
        .map(|&t| (0..24).map(|i| biexp(t - 12.0 * f64::from(i))).sum())
        .collect();
    let methods = [
        ("Exact (JIT)", Method::Exact),
        ("BDF (JIT)", Method::Bdf),
        ("ESDIRK3(4) (JIT)", Method::Esdirk34),
        ("TR-BDF2 (JIT)", Method::TrBdf2),
        ("Exact (interpreter)", Method::Exact),
        ("diffsol BDF (JIT)", Method::DiffsolBdf),
    ];
    let solve = |k: usize| {
        let o = opts(methods[k].1, 1e-6);
        let r = if k == 4 {
            simulate(&interp, &inputs, &reg, &g, &o)
        } else {
            simulate(&jit, &inputs, &reg, &g, &o)
        };
        r.unwrap_or_else(|e| panic!("{e}"))
    };
    let mut fs: Vec<Box<dyn FnMut()>> = (0..methods.len())
        .map(|k| Box::new(move || drop(black_box(solve(k)))) as Box<dyn FnMut()>)
        .collect();
    let mut refs: Vec<&mut dyn FnMut()> = fs
        .iter_mut()
        .map(|f| &mut **f as &mut dyn FnMut())
        .collect();
    let times = race(10, 300, 1, &mut refs);
    let rows: Vec<(&str, Stats, usize, f64)> = (0..methods.len())
        .map(|k| {
            let sim = solve(k);
            let err = max_rel(&sim.observable_series(0), &want);
            (methods[k].0, times[k], sim.steps, err)
        })
        .collect();
    let base = rows[0].1.median;
    println!("| method | time | steps | max rel err vs closed form | × Exact |");
    println!("|---|---|---|---|---|");
    for (label, s, steps, err) in rows {
        println!(
            "| {label} | {} | {steps} | {err:.1e} | {:.1} |",
            fmt_stats(s),
            s.median / base
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------------

fn friberg_models() -> (CompiledModel, Interpreter, hand::HandFriberg, Vec<f64>) {
    let (module, inputs) = lower("friberg.twin", &read("benches/models/friberg.twin"), false);
    let jit = twin::jit::compile(&module).unwrap_or_else(|e| panic!("{e:?}"));
    let hand = hand::HandFriberg::new(&module).unwrap_or_else(|e| panic!("{e}"));
    (jit, Interpreter::new(module), hand, inputs)
}

fn pbpk_models() -> (CompiledModel, Interpreter, hand::HandPbpk, Vec<f64>) {
    let (module, inputs) = lower("pbpk14.twin", &read("benches/models/pbpk14.twin"), true);
    let jit = twin::jit::compile(&module).unwrap_or_else(|e| panic!("{e:?}"));
    let hand = hand::HandPbpk::new(&module).unwrap_or_else(|e| panic!("{e}"));
    (jit, Interpreter::new(module), hand, inputs)
}

/// One patient's simulation problem.
struct Case<'a> {
    inputs: &'a [f64],
    reg: &'a Regimen,
    g: &'a [f64],
    /// The observable compared between backends.
    obs: usize,
}

/// One simulation per backend and method, side by side; ratios against the hand-written model.
fn backends_table<A: ModelFns, B: ModelFns, C: ModelFns>(
    jit: &A,
    interp: &B,
    hand: &C,
    case: &Case<'_>,
    methods: &[(Method, usize)],
) {
    let Case {
        inputs,
        reg,
        g,
        obs,
    } = *case;
    println!("| method | backend | time | steps | × hand-written | max rel diff vs JIT |");
    println!("|---|---|---|---|---|---|");
    for &(method, reps) in methods {
        let o = opts(method, 1e-6);
        let sims = (
            simulate(jit, inputs, reg, g, &o).unwrap_or_else(|e| panic!("{e}")),
            simulate(interp, inputs, reg, g, &o).unwrap_or_else(|e| panic!("{e}")),
            simulate(hand, inputs, reg, g, &o).unwrap_or_else(|e| panic!("{e}")),
        );
        let r_jit = sims.0.observable_series(obs);
        let t = race(
            5,
            reps,
            1,
            &mut [
                &mut || drop(black_box(simulate(jit, inputs, reg, g, &o))),
                &mut || drop(black_box(simulate(interp, inputs, reg, g, &o))),
                &mut || drop(black_box(simulate(hand, inputs, reg, g, &o))),
            ],
        );
        let rows = [
            ("JIT", t[0], sims.0.steps, 0.0),
            (
                "interpreter",
                t[1],
                sims.1.steps,
                max_rel(&sims.1.observable_series(obs), &r_jit),
            ),
            (
                "hand-written",
                t[2],
                sims.2.steps,
                max_rel(&sims.2.observable_series(obs), &r_jit),
            ),
        ];
        for (label, s, steps, diff) in rows {
            println!(
                "| {method:?} | {label} | {} | {steps} | **{:.2}** | {diff:.1e} |",
                fmt_stats(s),
                s.median / t[2].median
            );
        }
    }
    println!();
}

fn friberg() {
    println!(
        "## (b) PK + Friberg myelosuppression (7 states), 7 × 500 mg oral every 24 h, hourly \
         output to 720 h, rtol 1e-6\n"
    );
    let (jit, interp, hand, inputs) = friberg_models();
    let reg = Regimen::new().with(Dose::bolus(0.0, 500.0, 0).additional(24.0, 6));
    let g = grid(720.0, 1.0);
    let anc = jit
        .module()
        .meta
        .observables
        .iter()
        .position(|o| o == "anc")
        .unwrap_or(0);
    let sim = simulate(&jit, &inputs, &reg, &g, &opts(Method::Bdf, 1e-6))
        .unwrap_or_else(|e| panic!("{e}"));
    let nadir = sim
        .observable_series(anc)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    println!("ANC nadir {nadir:.3} (baseline 5); differences below are on ANC.\n");
    let case = Case {
        inputs: &inputs,
        reg: &reg,
        g: &g,
        obs: anc,
    };
    backends_table(
        &jit,
        &interp,
        &hand,
        &case,
        &[
            (Method::Bdf, 300),
            (Method::DiffsolBdf, 300),
            (Method::Esdirk34, 200),
        ],
    );
}

fn pbpk_sim() {
    println!(
        "## (b) whole-body PBPK (pbpk14.twin: 16 compartments + eliminated), 14 × 200 mg oral \
         every 12 h, hourly output to 168 h, rtol 1e-6\n"
    );
    let (jit, interp, hand, inputs) = pbpk_models();
    let reg = Regimen::new().with(Dose::bolus(0.0, 200.0, 0).additional(12.0, 13));
    let g = grid(168.0, 1.0);
    let plasma = jit
        .module()
        .meta
        .observables
        .iter()
        .position(|o| o == "c_plasma")
        .unwrap_or(0);
    let case = Case {
        inputs: &inputs,
        reg: &reg,
        g: &g,
        obs: plasma,
    };
    backends_table(
        &jit,
        &interp,
        &hand,
        &case,
        &[(Method::Exact, 1000), (Method::Bdf, 100)],
    );
}

// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*) for reproducible random states.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Random positive states around `scale`.
fn states(n: usize, count: usize, scale: f64) -> Vec<Vec<f64>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|_| (0..n).map(|_| scale * (0.2 + 1.8 * rng.next())).collect())
        .collect()
}

/// Closures making `REPS × ys.len()` calls of the right-hand side or of the Jacobian.
const REPS: usize = 40;

fn rhs_loop<'a, F: ModelFns>(m: &'a F, inputs: &[f64], ys: &'a [Vec<f64>]) -> impl FnMut() + 'a {
    let module = m.module();
    let mut p = vec![0.0; module.n_params()];
    m.setup(inputs, &mut p).unwrap_or_else(|e| panic!("{e}"));
    let mut dy = vec![0.0; module.n_states()];
    move || {
        for _ in 0..REPS {
            for y in ys {
                m.rhs(black_box(0.5), black_box(y), black_box(&p), &mut dy)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(&mut dy);
            }
        }
    }
}

fn jac_loop<'a, F: ModelFns>(m: &'a F, inputs: &[f64], ys: &'a [Vec<f64>]) -> impl FnMut() + 'a {
    let module = m.module();
    let mut p = vec![0.0; module.n_params()];
    m.setup(inputs, &mut p).unwrap_or_else(|e| panic!("{e}"));
    let mut jv = vec![0.0; module.sparsity.len()];
    move || {
        for _ in 0..REPS {
            for y in ys {
                m.jacobian(black_box(0.5), black_box(y), black_box(&p), &mut jv)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(&mut jv);
            }
        }
    }
}

/// ns per rhs call and per Jacobian call for (JIT, interpreter, hand-written), raced.
fn call_ns<A: ModelFns, B: ModelFns, C: ModelFns>(
    (a, b, c): (&A, &B, &C),
    inputs: &[f64],
    ys: &[Vec<f64>],
) -> [(Stats, Stats); 3] {
    let per = REPS * ys.len();
    let r = race(
        20,
        300,
        per,
        &mut [
            &mut rhs_loop(a, inputs, ys),
            &mut rhs_loop(b, inputs, ys),
            &mut rhs_loop(c, inputs, ys),
        ],
    );
    let j = race(
        20,
        300,
        per,
        &mut [
            &mut jac_loop(a, inputs, ys),
            &mut jac_loop(b, inputs, ys),
            &mut jac_loop(c, inputs, ys),
        ],
    );
    [(r[0], j[0]), (r[1], j[1]), (r[2], j[2])]
}

/// Checks that two backends compute the same right-hand side and Jacobian (to rounding).
fn same_functions<A: ModelFns, B: ModelFns>(a: &A, b: &B, inputs: &[f64], ys: &[Vec<f64>]) -> f64 {
    let (ma, mb) = (a.module(), b.module());
    let (mut pa, mut pb) = (vec![0.0; ma.n_params()], vec![0.0; mb.n_params()]);
    a.setup(inputs, &mut pa).unwrap_or_else(|e| panic!("{e}"));
    b.setup(inputs, &mut pb).unwrap_or_else(|e| panic!("{e}"));
    let n = ma.n_states();
    let (mut fa, mut fb) = (vec![0.0; n], vec![0.0; n]);
    let (mut ja, mut jb) = (vec![0.0; ma.sparsity.len()], vec![0.0; mb.sparsity.len()]);
    let mut worst: f64 = 0.0;
    for y in ys {
        a.rhs(0.5, y, &pa, &mut fa)
            .unwrap_or_else(|e| panic!("{e}"));
        b.rhs(0.5, y, &pb, &mut fb)
            .unwrap_or_else(|e| panic!("{e}"));
        a.jacobian(0.5, y, &pa, &mut ja)
            .unwrap_or_else(|e| panic!("{e}"));
        b.jacobian(0.5, y, &pb, &mut jb)
            .unwrap_or_else(|e| panic!("{e}"));
        for (u, v) in [(&fa, &fb), (&ja, &jb)] {
            let scale = u.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
            for (x, z) in u.iter().zip(v.iter()) {
                worst = worst.max((x - z).abs() / scale);
            }
        }
    }
    assert!(
        worst < 1e-12,
        "hand-written and JIT functions differ: {worst:e}"
    );
    worst
}

/// `pbpk14.twin` with every tissue concentration rewritten from `A / V * bp / Kp` to
/// `A * (bp / (V * Kp))`, so that the per-patient factor is hoisted and the right-hand side
/// multiplies instead of dividing. Same model; different rounding.
fn factored(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let (true, Some((head, rhs))) = (t.starts_with("let c_"), line.split_once(" = ")) {
            let w: Vec<&str> = rhs.split_whitespace().collect();
            let new = match w.as_slice() {
                [a, "/", v] => format!("{a} * (1 / {v})"),
                [a, "/", v, "*", bp, "/", kp] => format!("{a} * ({bp} / ({v} * {kp}))"),
                _ => panic!("unexpected concentration line: {line}"),
            };
            out.push_str(&format!("{head} = {new}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn count_divisions(m: &Module) -> usize {
    m.rhs
        .insts
        .iter()
        .filter(|i| matches!(i, twin::ir::Inst::Binary(twin::ir::BinOp::Div, ..)))
        .count()
}

fn calls() {
    println!("## (c) nanoseconds per call (64 random states, through the `ModelFns` trait)\n");
    let (fj, fi, fh, finputs) = friberg_models();
    let ys = states(7, 64, 5.0);
    let d_f = same_functions(&fj, &fh, &finputs, &ys);
    let (pj, pi, ph, pinputs) = pbpk_models();
    let yp = states(17, 64, 3.0);
    let d_p = same_functions(&pj, &ph, &pinputs, &yp);
    let (fmod, _) = lower(
        "pbpk14_factored",
        &factored(&read("benches/models/pbpk14.twin")),
        true,
    );
    let (qj, qi) = (
        twin::jit::compile(&fmod).unwrap_or_else(|e| panic!("{e:?}")),
        Interpreter::new(fmod),
    );
    let d_q = same_functions(&qj, &ph, &pinputs, &yp);
    println!(
        "Divisions per rhs call: Friberg {}, PBPK {}, PBPK factored {}.\n",
        count_divisions(fj.module()),
        count_divisions(pj.module()),
        count_divisions(qj.module())
    );
    println!("| model | function | JIT | interpreter | hand-written | JIT / hand | interp / JIT |");
    println!("|---|---|---|---|---|---|---|");
    for (label, r) in [
        ("Friberg (7)", call_ns((&fj, &fi, &fh), &finputs, &ys)),
        ("PBPK (17)", call_ns((&pj, &pi, &ph), &pinputs, &yp)),
        (
            "PBPK (17), factored source",
            call_ns((&qj, &qi, &ph), &pinputs, &yp),
        ),
    ] {
        let [j, i, h] = r;
        for (f, j, i, h) in [("rhs", j.0, i.0, h.0), ("jacobian", j.1, i.1, h.1)] {
            println!(
                "| {label} | {f} | {} | {} | {} | **{:.2}** | {:.1} |",
                fmt_stats(j),
                fmt_stats(i),
                fmt_stats(h),
                j.median / h.median,
                i.median / j.median
            );
        }
    }
    println!(
        "\nhand-written vs JIT, max difference relative to the largest entry: Friberg {d_f:.1e}, \
         PBPK {d_p:.1e}, PBPK factored {d_q:.1e}\n"
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter selects sections (a, b, c).
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let on = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    machine();
    if on("a") {
        compile_latency();
    }
    if on("b") {
        two_compartment();
        friberg();
        pbpk_sim();
    }
    if on("c") {
        calls();
    }
}
