//! `twin fmt`: the layout rules on small inputs, and the properties over the whole corpus and
//! mutated variants of it: the output parses to the same tree (up to spans), formatting is
//! idempotent, and every comment survives. Also the CLI: in-place rewrite, `--check`, files with
//! syntax errors left untouched, exit codes.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use twin::fmt::{comments, format};
use twin::source::FileId;
use twin::syntax::ast;
use twin::syntax::parser::parse_file;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The `Debug` text of a tree with every span's numbers zeroed (independent of the formatter's
/// own comparison).
fn spanless(tree: &ast::File) -> String {
    let out = format!("{tree:?}");
    // Zero every number that follows `start: `, `end: ` or `FileId(`.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    loop {
        let next = ["start: ", "end: ", "FileId("]
            .iter()
            .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
            .min();
        let Some((i, n)) = next else {
            result.push_str(rest);
            break;
        };
        result.push_str(&rest[..i + n]);
        rest = &rest[i + n..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            result.push('0');
        }
        rest = &rest[digits..];
    }
    result
}

fn parse(src: &str) -> Option<ast::File> {
    parse_file(FileId(0), src).ok()
}

fn fmt(src: &str) -> String {
    format(src).unwrap_or_else(|d| panic!("format failed: {}\n{src}", d.message))
}

fn sorted_comments(src: &str) -> Vec<String> {
    let mut v: Vec<String> = comments(src).into_iter().map(|c| c.text).collect();
    v.sort();
    v
}

/// The formatter's properties on one input that parses: the output parses to the same tree, is a
/// fixed point, keeps every comment, and has no trailing whitespace.
fn check_properties(origin: &str, src: &str) -> Result<(), String> {
    let Some(tree) = parse(src) else {
        return Ok(());
    };
    let out = format(src).map_err(|d| format!("{origin}: format failed: {}\n{src}", d.message))?;
    let again = parse(&out).ok_or_else(|| format!("{origin}: output does not parse:\n{out}"))?;
    if spanless(&tree) != spanless(&again) {
        return Err(format!(
            "{origin}: output parses to a different tree\n--- input\n{src}\n--- output\n{out}"
        ));
    }
    let twice = fmt(&out);
    if twice != out {
        return Err(format!(
            "{origin}: not idempotent\n--- input\n{src}\n--- once\n{out}\n--- twice\n{twice}"
        ));
    }
    if comments(src).len() != comments(&out).len() || sorted_comments(src) != sorted_comments(&out)
    {
        return Err(format!(
            "{origin}: comments changed\n--- input\n{src}\n--- output\n{out}"
        ));
    }
    if twin::fmt::unplaced_comments(src).ok() != Some(0) {
        return Err(format!(
            "{origin}: a comment was not attached to a node\n--- input\n{src}\n--- output\n{out}"
        ));
    }
    if out.lines().any(|l| l.ends_with([' ', '\t'])) || !(out.is_empty() || out.ends_with('\n')) {
        return Err(format!("{origin}: stray whitespace\n{out}"));
    }
    Ok(())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn twin_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "twin"))
        .collect();
    v.sort();
    v
}

/// Every `.twin` file of the corpus: examples, stdlib, the syntax tour and the test cases.
fn corpus() -> Vec<(String, String)> {
    let r = root();
    let mut files = Vec::new();
    for dir in [
        "examples",
        "stdlib",
        "tests/cases/valid",
        "tests/cases/errors",
    ] {
        files.extend(twin_files(&r.join(dir)));
    }
    files.push(r.join("docs/syntax_tour.twin"));
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{e}"));
            (p.display().to_string(), text)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The corpus.

#[test]
fn every_corpus_file_round_trips() {
    let mut parsed = 0;
    for (name, text) in corpus() {
        if parse(&text).is_some() {
            parsed += 1;
        }
        check_properties(&name, &text).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(parsed >= 50, "only {parsed} corpus files parse");
}

// ---------------------------------------------------------------------------------------------
// Mutations: whitespace, newlines, semicolons and comments inserted at random places. A mutant
// that no longer parses is skipped; one that parses must satisfy every property.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Byte offsets where one token ends (from the lexer).
fn token_ends(src: &str) -> Vec<usize> {
    twin::syntax::lexer::lex(src)
        .filter_map(|t| t.ok().map(|(_, _, end)| end))
        .collect()
}

/// Byte offsets of the ends of lines.
fn line_ends(src: &str) -> Vec<usize> {
    let mut v: Vec<usize> = src.match_indices('\n').map(|(i, _)| i).collect();
    v.push(src.len());
    v
}

fn mutate_once(rng: &mut Rng, src: &str, n: usize) -> String {
    let ends = token_ends(src);
    let lines = line_ends(src);
    let at_token = |rng: &mut Rng| ends.get(rng.below(ends.len())).copied().unwrap_or(0);
    let (at, insert) = match rng.below(8) {
        0 | 1 => (
            at_token(rng),
            rng.pick(&[" ", "   ", "\t", "\n", "\n\n", "\n\n\n", " \n        "])
                .to_string(),
        ),
        2 => (at_token(rng), ";".to_string()),
        3 | 4 => (
            lines[rng.below(lines.len())],
            format!(" {}", rng.pick(&["// trailing", "//x", "//   spaced  "])),
        ),
        5 => {
            // A comment on its own line, before a random line.
            let starts: Vec<usize> = std::iter::once(0)
                .chain(lines.iter().map(|&e| (e + 1).min(src.len())))
                .collect();
            (
                starts[rng.below(starts.len())],
                format!("{}// own line {n}\n", rng.pick(&["", "    ", "\t"])),
            )
        }
        6 => (at_token(rng), format!(" // inside {n}\n")),
        _ => (
            at_token(rng),
            rng.pick(&["\n/// doc\n", "\n//// four\n", "\n//\n", "\n\n// blank\n\n"])
                .to_string(),
        ),
    };
    let mut s = src.to_string();
    s.insert_str(at, &insert);
    s
}

fn mutant(seed: u64, corpus: &[(String, String)]) -> (String, String) {
    let mut rng = Rng(seed);
    let (name, text) = &corpus[rng.below(corpus.len())];
    let mut s = text.clone();
    let count = 1 + rng.below(6);
    for n in 0..count {
        s = mutate_once(&mut rng, &s, n);
    }
    (format!("{name} (seed {seed})"), s)
}

fn parsing_corpus() -> &'static [(String, String)] {
    static C: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        corpus()
            .into_iter()
            .filter(|(_, t)| parse(t).is_some())
            .collect()
    })
}

#[test]
fn many_mutants_round_trip() {
    let corpus = parsing_corpus();
    let mut tested = 0;
    // `TWIN_FMT_MUTANTS=100000 cargo test --release --test fmt` for a longer run.
    let count = std::env::var("TWIN_FMT_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000u64);
    for seed in 0..count {
        let (origin, text) = mutant(seed, corpus);
        if parse(&text).is_some() {
            tested += 1;
        }
        check_properties(&origin, &text).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(tested > 1000, "only {tested} mutants parse");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutants_round_trip(seed in any::<u64>()) {
        let (origin, text) = mutant(seed, parsing_corpus());
        if let Err(e) = check_properties(&origin, &text) {
            prop_assert!(false, "{}", e);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layout rules.

#[test]
fn parentheses_follow_precedence() {
    let src = "model M {
    let a = (x + y) * z
    let b = x + (y * z)
    let c = -x^2
    let d = (-x)^2
    let e = 2^-1
    let f = x - (y - z)
    let g = (x - y) - z
    let h = not (p and q)
    let i = (p or q) and r
    let j = 2^3^4
    let k = (2^3)^4
    let l = -(x + y)
    let m = (x < y) == p
    let n = x / (y * z)
    let o = (((x)))
    let p = - - x
    let q = x - -y
    let r = not not p or (q)
}
";
    let want = "model M {
    let a = (x + y) * z
    let b = x + y * z
    let c = -x ^ 2
    let d = (-x) ^ 2
    let e = 2 ^ -1
    let f = x - (y - z)
    let g = x - y - z
    let h = not (p and q)
    let i = (p or q) and r
    let j = 2 ^ 3 ^ 4
    let k = (2 ^ 3) ^ 4
    let l = -(x + y)
    let m = (x < y) == p
    let n = x / (y * z)
    let o = x
    let p = --x
    let q = x - -y
    let r = not not p or q
}
";
    assert_eq!(fmt(src), want);
    check_properties("precedence", src).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn units_numbers_and_spacing() {
    let src = "unit IU
unit   kPa   =   1000   Pa
unit Pa2 = kg / (m * s^2)
unit perh = 60 / min
unit % = 0.01
model M {
    param a : mg / L = 5   mg/L
    param b: 1 / h = 31 %
    param c: mL/min/kg = 2 m^2 * x
    let d = 0.174 L / h * 14.3 L * weight / 70 kg
    let e = 2.0 /h + 1e-6 g + 0.0010 + 2.50 ng*h/mL + 75 mg / m ^ 2 * bsa + 5 mg/m^-1 + 2 mg/m^x
    let f = scr / (1 mg/dL)
    let g: 1/(mg*h) = 0.001 /mg/h
    covariate sex: { female , male } = male
    observe conc: mg/L = central/v ~ proportional( 10% )+additive(cv:0.1 mg/L)
    flow gut->out = ka*gut
    vary cl ~ lognormal(cv: 31%)
    correlate cl,v = 0.3
    d/dt x = -k * x
}
";
    let want = "unit IU
unit kPa = 1000 Pa
unit Pa2 = kg/(m*s^2)
unit perh = 60/min
unit % = 0.01

model M {
    param a: mg/L = 5 mg/L
    param b: 1/h = 31%
    param c: mL/min/kg = 2 m^2 * x
    let d = 0.174 L/h * 14.3 L * weight / 70 kg
    let e = 2.0/h + 1e-6 g + 0.0010 + 2.50 ng*h/mL + 75 mg/m^2 * bsa + 5 mg/m^-1 + 2 mg / m ^ x
    let f = scr / (1 mg/dL)
    let g: 1/(mg*h) = 0.001/mg/h
    covariate sex: {female, male} = male
    observe conc: mg/L = central / v ~ proportional(10%) + additive(cv: 0.1 mg/L)
    flow gut -> out = ka * gut
    vary cl ~ lognormal(cv: 31%)
    correlate cl, v = 0.3
    d/dt x = -k * x
}
";
    assert_eq!(fmt(src), want);
}

#[test]
fn matches_are_inline_when_they_fit_and_broken_otherwise() {
    let src = "model M {
    let a = match g {
        A => 1,
        B => 2
    }
    let b = match g { \"*1/*1\" | \"*1/*2\" => 1.0, _ => 0.5 }
    let c = 1 + match some_long_genotype_name { first_phenotype => 1.0, second_phenotype => 2.0, _ => 3 }
    let d = match g { A => match h { X => 1, Y => 2 }, B => match h { X => 3, Y => 4, Z => 5, W => 6, V => 7, U => 8 } }
}
";
    let want = "model M {
    let a = match g { A => 1, B => 2 }
    let b = match g { \"*1/*1\" | \"*1/*2\" => 1.0, _ => 0.5 }
    let c = 1 + match some_long_genotype_name {
        first_phenotype => 1.0,
        second_phenotype => 2.0,
        _ => 3,
    }
    let d = match g {
        A => match h { X => 1, Y => 2 },
        B => match h { X => 3, Y => 4, Z => 5, W => 6, V => 7, U => 8 },
    }
}
";
    assert_eq!(fmt(src), want);
}

#[test]
fn comments_stay_attached() {
    let src = "// header

///doc one
// plain between
///   doc two
model M { // after brace
    /// x doc
    param x = 1 // trailing
    param y = 1 + // inside
        2
    let a = match g {
        A => 1,   // first
        // before b
        B => 2
        // last
    }

    // dangling
}
// eof
";
    let want = "// header

///doc one
// plain between
///   doc two
model M { // after brace
    /// x doc
    param x = 1 // trailing
    // inside
    param y = 1 + 2
    let a = match g {
        A => 1, // first
        // before b
        B => 2,
        // last
    }

    // dangling
}
// eof
";
    assert_eq!(fmt(src), want);
    check_properties("comments", src).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn blocks_blank_lines_and_items() {
    let src = "use pgx.{CYP2C9}
use pk.*
model A {


    param x = 1;   param y = 2



    param z = 3

}
model B   extends
  A {
}
trial T {
    model A
    arm a {
        dose 5 mg into gut
    }
    arm b { dose 5 mg into gut; x = 2 }
    arm c {}
    population 10 { ancestry european }
    population 20 { ancestry { european: 60%, african: 40% } weight ~ normal(mean: 70 kg, sd: 10 kg) }
    arm long { dose 2.5 mg * activity(cyp2c9) into gut every 24 h for 30 d lag 0.5 h bioavailability 90% }
    sample at [ 0 h,1 h ]
    sample every 1 h until 2 d
    randomize
    endpoint e = max(conc, from 0 h to 24 h) > 4 mg/L
    stratify by cyp2c9, phenotype(cyp2c9), weight bins [60 kg, 80 kg]
}
";
    let want = "use pgx.CYP2C9
use pk.*

model A {
    param x = 1
    param y = 2

    param z = 3
}

model B extends A {}

trial T {
    model A
    arm a { dose 5 mg into gut }
    arm b {
        dose 5 mg into gut
        x = 2
    }
    arm c {}
    population 10 { ancestry european }
    population 20 {
        ancestry { european: 60%, african: 40% }
        weight ~ normal(mean: 70 kg, sd: 10 kg)
    }
    arm long {
        dose 2.5 mg * activity(cyp2c9) into gut every 24 h for 30 d lag 0.5 h bioavailability 90%
    }
    sample at [0 h, 1 h]
    sample every 1 h until 2 d
    randomize
    endpoint e = max(conc, from 0 h to 24 h) > 4 mg/L
    stratify by cyp2c9, phenotype(cyp2c9), weight bins [60 kg, 80 kg]
}
";
    assert_eq!(fmt(src), want);
}

#[test]
fn stratify_by_computed_quantities() {
    let src = "trial T {
    model Renal
    stratify by   crcl bins[30 mL/min,3.6 L/h] ,bsa   bins [ 1.8 m^2 ]
}
";
    let want = "trial T {
    model Renal
    stratify by crcl bins [30 mL/min, 3.6 L/h], bsa bins [1.8 m^2]
}
";
    assert_eq!(fmt(src), want);
    assert_eq!(fmt(want), want);
    check_properties("computed strata", src).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn genes_labels_and_conditionals() {
    let src = "gene G {
    allele \"A\" activity 1
    allele B freq {european: 0.5}
    phenotype P = \"A/B\", BB
    phenotype Q when activity>=1
    genotype \"A/A\" freq { european: 0.1 }
}
model M {
    genotype g: G = \"A/B\"
    genotype h: G = BB
    let a = (if p { 1 } else { 2 }) * 3
    let b = if p { 1 } else { if q { 2 } else { 3 } }
    let c = phenotype(g) == P and activity(g) > 1
}
";
    let want = "gene G {
    allele \"A\" activity 1
    allele B freq { european: 0.5 }
    phenotype P = \"A/B\", BB
    phenotype Q when activity >= 1
    genotype \"A/A\" freq { european: 0.1 }
}

model M {
    genotype g: G = \"A/B\"
    genotype h: G = BB
    let a = (if p { 1 } else { 2 }) * 3
    let b = if p { 1 } else if q { 2 } else { 3 }
    let c = phenotype(g) == P and activity(g) > 1
}
";
    assert_eq!(fmt(src), want);
}

#[test]
fn long_fn_bodies_move_to_the_next_line() {
    let src = "fn f(height: cm, weight: kg) -> m^2 = sqrt(height / 1 cm * (weight / 1 kg) / 3600) * 1 m^2 * 1.0000 * 2.0000
fn g(x: 1) -> 1 = match x { first_long_name => 1, second_long_name => 2, third_long_name => 3, _ => 4 }
";
    let want = "fn f(height: cm, weight: kg) -> m^2 =
    sqrt(height / 1 cm * (weight / 1 kg) / 3600) * 1 m^2 * 1.0000 * 2.0000

fn g(x: 1) -> 1 = match x {
    first_long_name => 1,
    second_long_name => 2,
    third_long_name => 3,
    _ => 4,
}
";
    assert_eq!(fmt(src), want);
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("\n\n  \n"), "");
    assert_eq!(fmt("// a\n\n\n// b   \n"), "// a\n\n// b\n");
}

#[test]
fn syntax_errors_are_returned() {
    let d = format("model M {\n    param x = \n}\n").expect_err("does not parse");
    assert_eq!(d.code, "E0003");
}

// ---------------------------------------------------------------------------------------------
// The CLI.

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("twin-fmt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn twin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cli_rewrites_checks_and_refuses_broken_files() {
    let dir = TempDir::new("cli");
    let messy = dir.0.join("messy.twin");
    let clean = dir.0.join("clean.twin");
    let broken = dir.0.join("broken.twin");
    let messy_text = "model M {\n  param ka = 2 /h // rate\n}\n";
    let clean_text = "model M {\n    param ka = 2/h // rate\n}\n";
    let broken_text = "model M {\n  param ka = \n";
    std::fs::write(&messy, messy_text).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&clean, clean_text).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&broken, broken_text).unwrap_or_else(|e| panic!("{e}"));
    let (m, c, b) = (
        messy.to_string_lossy().into_owned(),
        clean.to_string_lossy().into_owned(),
        broken.to_string_lossy().into_owned(),
    );

    // --check: lists the file that would change with its first differing line, changes nothing.
    let out = twin(&["fmt", "--check", &m, &c]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{m}:2")), "{stdout}");
    assert!(stdout.contains("+    param ka = 2/h // rate"), "{stdout}");
    assert!(!stdout.contains(&c), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&messy).ok().as_deref(),
        Some(messy_text)
    );

    // A clean file passes the check.
    assert_eq!(twin(&["fmt", "--check", &c]).status.code(), Some(0));

    // Rewriting: the messy file is formatted, the clean one untouched.
    let out = twin(&["fmt", &m, &c]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&messy).ok().as_deref(),
        Some(clean_text)
    );
    assert_eq!(twin(&["fmt", "--check", &m]).status.code(), Some(0));

    // A file that does not parse gets its diagnostic and is never touched.
    let out = twin(&["fmt", &b, &m]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("E0002") || stderr.contains("E0003"),
        "{stderr}"
    );
    assert!(stderr.contains("broken.twin"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&broken).ok().as_deref(),
        Some(broken_text)
    );

    // I/O errors exit 2.
    let missing = dir.0.join("missing.twin").to_string_lossy().into_owned();
    assert_eq!(twin(&["fmt", &missing]).status.code(), Some(2));
    assert_eq!(
        twin(&["fmt", "--check", &missing, &c]).status.code(),
        Some(2)
    );

    // No temporary files are left behind.
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn crlf_tabs_and_unicode_operators_format_like_the_plain_file() {
    let tour = std::fs::read_to_string(root().join("docs/syntax_tour.twin"))
        .unwrap_or_else(|e| panic!("{e}"));
    let crlf = tour.replace('\n', "\r\n").replace("    ", "\t");
    assert_eq!(fmt(&crlf), fmt(&tour));
    let src = "model M {\r\n\tlet a = x · y × z // dot\r\n\tparam k: kg·m = 1 kg·m\r\n}\r\n";
    assert_eq!(
        fmt(src),
        "model M {\n    let a = x * y * z // dot\n    param k: kg*m = 1 kg*m\n}\n"
    );
}
