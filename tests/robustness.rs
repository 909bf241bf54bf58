//! Robustness of the front end under malformed input (a deterministic fuzzer without dependencies).
//!
//! Input: mutations of every example, stdlib module and case file (byte-range deletion, duplication
//! and swaps, token deletion, duplication, swaps and replacement, inserted keywords, units, numbers,
//! punctuation and unicode, truncation), truncations at every line, and random token soups; all
//! drawn from a fixed-seed splitmix64 generator, so every run feeds the same inputs.
//!
//! Guarantees checked for every input:
//! - `twin::driver::compile` returns (no panic), and rendering its diagnostics (text and JSON)
//!   does not panic;
//! - every diagnostic span lies inside its file, on character boundaries;
//! - if the text does not parse, there is at least one error;
//! - a compilation without errors renders its checked models and trials without panicking, and
//!   compiling the same text again gives identical diagnostics (as does every 16th input).
//!
//! A failure names the first failing input. Run in release mode: `cargo test --release --test
//! robustness`.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;
use twin::diagnostic::{self, Diagnostic};
use twin::driver::compile;
use twin::source::FileId;
use twin::syntax::parser::parse_file;

/// splitmix64: small, fast and good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYWORDS: &[&str] = &[
    "use",
    "unit",
    "fn",
    "model",
    "trial",
    "gene",
    "allele",
    "phenotype",
    "activity",
    "when",
    "freq",
    "covariate",
    "genotype",
    "param",
    "vary",
    "correlate",
    "compartment",
    "flow",
    "state",
    "d/dt",
    "let",
    "observe",
    "pathway",
    "molecular_weight",
    "out",
    "match",
    "if",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    "from",
    "to",
    "population",
    "ancestry",
    "arm",
    "randomize",
    "dose",
    "into",
    "every",
    "for",
    "times",
    "over",
    "rate",
    "lag",
    "bioavailability",
    "at",
    "sample",
    "until",
    "endpoint",
    "stratify",
    "by",
    "bins",
];

const PUNCT: &[&str] = &[
    "(", ")", "{", "}", "[", "]", ",", ":", ";", ".", "=", "==", "!=", "<", "<=", ">", ">=", "+",
    "-", "*", "/", "^", "%", "->", "=>", "~", "|", "·", "×", "_",
];

const UNITS: &[&str] = &[
    "mg",
    "g",
    "kg",
    "µg",
    "ug",
    "μg",
    "ng",
    "L",
    "mL",
    "dL",
    "h",
    "min",
    "s",
    "d",
    "day",
    "week",
    "year",
    "mol",
    "µmol",
    "nM",
    "µM",
    "mg/L",
    "L/h",
    "1/h",
    "mL/min/kg",
    "ng*h/mL",
    "m^2",
    "m^-2",
    "kg^3",
    "Pa",
    "mmHg",
    "%",
    "mgg",
    "furlong",
    "g/mol",
    "1/(mg*h)",
    "cell",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "0.5",
    "70",
    "1e9",
    "1e-9",
    "1e308",
    "1e309",
    "1e-400",
    "0.0",
    "00",
    "4294967296",
    "99999999999999999999999",
    "1.5e",
    "3.",
    "-1",
    "1 /h",
    "5 mg",
    "24 h",
    "30%",
    "2 m^2",
    "1e400 mg",
    "0 h",
    "2 m^999",
    "1 kg^-3",
    "10 d",
    "1e-320 L",
];

const NAMES: &[&str] = &[
    "central",
    "depot",
    "gut",
    "peripheral",
    "cl",
    "v",
    "ka",
    "conc",
    "weight",
    "age",
    "sex",
    "t",
    "time",
    "x",
    "cyp2c9",
    "CYP2C9",
    "CYP2C19",
    "VKORC1",
    "TPMT",
    "pgx",
    "pk",
    "pd",
    "units",
    "allometric",
    "hill",
    "exp",
    "log",
    "sqrt",
    "max",
    "min",
    "auc",
    "value",
    "time_above",
    "fraction_of_time",
    "lognormal",
    "normal",
    "uniform",
    "categorical",
    "logit",
    "proportional",
    "additive",
    "european",
    "african",
    "east_asian",
    "PM",
    "NM",
    "IM",
    "UM",
    "_",
    "M",
    "T",
    "OneCompartmentOral",
    "Warfarin",
    "a",
    "b",
    "effect",
    "omega",
    "cv",
    "sd",
    "median",
];

const STRINGS: &[&str] = &[
    "\"*1/*1\"",
    "\"*1/*3\"",
    "\"\"",
    "\"GG\"",
    "\"*99/*1\"",
    "\"unterminated",
    "\"a\nb\"",
];

const UNICODE: &[&str] = &[
    "µ", "μ", "é", "ß", "😀", "\u{202e}", "\u{0}", "\u{feff}", "\u{301}", "e\u{301}", "ﬁ", "→",
    "≤", "−", "“", "\t", "\r\n", "\r", "\u{85}", "\u{2028}", "中", "Ω", "\u{7f}", "\\", "$", "#",
    "@", "?", "!", "&", "'", "`",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "\n", "", "\n    ", ";", "\t"];

/// One random token of any kind.
fn token(rng: &mut Rng) -> String {
    let s = match rng.below(100) {
        0..=24 => *rng.pick(KEYWORDS),
        25..=49 => *rng.pick(PUNCT),
        50..=59 => *rng.pick(UNITS),
        60..=71 => *rng.pick(NUMBERS),
        72..=89 => *rng.pick(NAMES),
        90..=93 => *rng.pick(STRINGS),
        94..=95 => "/// doc\n",
        96 => "// comment\n",
        _ => *rng.pick(UNICODE),
    };
    s.to_string()
}

/// A random character boundary of `s` (0 and `s.len()` included).
fn boundary(rng: &mut Rng, s: &str) -> usize {
    let mut i = rng.below(s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A random non-empty range of at most `max` bytes, on character boundaries (empty if `s` is).
fn range(rng: &mut Rng, s: &str, max: usize) -> (usize, usize) {
    let a = boundary(rng, s);
    let mut b = (a + 1 + rng.below(max)).min(s.len());
    while !s.is_char_boundary(b) {
        b += 1;
    }
    (a, b)
}

/// Splits text into tokens: runs of word characters, runs of whitespace, and single other chars.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let kind = |c: char| {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        }
    };
    let mut prev: Option<u8> = None;
    for (i, c) in s.char_indices() {
        let k = kind(c);
        if let Some(p) = prev
            && (p != k || k == 2)
        {
            out.push(&s[start..i]);
            start = i;
        }
        prev = Some(k);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Applies one random mutation.
fn mutate_once(rng: &mut Rng, s: &str) -> String {
    if s.is_empty() {
        return token(rng);
    }
    match rng.below(11) {
        // Delete a byte range.
        0 => {
            let (a, b) = range(rng, s, 40);
            format!("{}{}", &s[..a], &s[b..])
        }
        // Duplicate a byte range somewhere.
        1 => {
            let (a, b) = range(rng, s, 80);
            let at = boundary(rng, s);
            format!("{}{}{}", &s[..at], &s[a..b], &s[at..])
        }
        // Swap two byte ranges.
        2 => {
            let (a1, b1) = range(rng, s, 30);
            let (a2, b2) = range(rng, s, 30);
            let ((a1, b1), (a2, b2)) = if a1 <= a2 {
                ((a1, b1), (a2, b2))
            } else {
                ((a2, b2), (a1, b1))
            };
            if b1 > a2 {
                return s.to_string();
            }
            format!(
                "{}{}{}{}{}",
                &s[..a1],
                &s[a2..b2],
                &s[b1..a2],
                &s[a1..b1],
                &s[b2..]
            )
        }
        // Insert a random token (with or without spaces around it).
        3 | 4 => {
            let at = boundary(rng, s);
            let t = token(rng);
            if rng.chance(50) {
                format!("{} {t} {}", &s[..at], &s[at..])
            } else {
                format!("{}{t}{}", &s[..at], &s[at..])
            }
        }
        // Truncate.
        5 => s[..boundary(rng, s)].to_string(),
        // Insert a random unicode character or control code.
        6 => {
            let at = boundary(rng, s);
            format!("{}{}{}", &s[..at], *rng.pick(UNICODE), &s[at..])
        }
        // Token-level edits.
        _ => {
            let mut toks: Vec<String> = tokens(s).into_iter().map(str::to_string).collect();
            let n = toks.len();
            let i = rng.below(n);
            match rng.below(4) {
                0 => {
                    toks.remove(i);
                }
                1 => {
                    let t = toks[i].clone();
                    toks.insert(rng.below(n + 1), t);
                }
                2 => toks.swap(i, rng.below(n)),
                _ => toks[i] = token(rng),
            }
            toks.concat()
        }
    }
}

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut out = s.to_string();
    for _ in 0..1 + rng.below(4) {
        out = mutate_once(rng, &out);
    }
    out
}

/// A random sequence of tokens, sometimes wrapped in a model or trial block.
fn soup(rng: &mut Rng) -> String {
    let n = 1 + rng.below(120);
    let mut out = String::new();
    match rng.below(4) {
        0 => out.push_str("model M {\n"),
        1 => out.push_str(
            "use pgx.{CYP2C9}\nmodel M {\n    genotype g: CYP2C9\n    compartment central: mg\n",
        ),
        2 => out.push_str("trial T {\n    model M\n"),
        _ => {}
    }
    for _ in 0..n {
        out.push_str(&token(rng));
        let sep: &&str = rng.pick(SEPARATORS);
        out.push_str(sep);
    }
    if rng.chance(70) {
        out.push_str("\n}\n");
    }
    out
}

/// Every `.twin` file the fuzzer starts from: examples, stdlib modules and case files.
fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "examples",
        "stdlib",
        "tests/cases/valid",
        "tests/cases/errors",
    ] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "twin"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            files.push((
                format!(
                    "{dir}/{}",
                    p.file_name().expect("file name").to_string_lossy()
                ),
                text,
            ));
        }
    }
    assert!(
        files.len() >= 10,
        "the fuzz corpus is unexpectedly small: {} files",
        files.len()
    );
    files
}

fn fingerprint(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| format!("{d:?}")).collect()
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs every check on one input; `Err` describes the first violated guarantee.
fn check_input(text: &str, always_recompile: bool) -> Result<(), String> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let c = compile("fuzz.twin", text);
        let report = diagnostic::render(&c.sources, &c.diagnostics, false);
        let _ = diagnostic::to_json(&c.sources, &c.diagnostics);
        (c, report)
    }));
    let (c, report) =
        outcome.map_err(|e| format!("compile or render panicked: {}", panic_message(&*e)))?;
    for d in &c.diagnostics {
        for l in std::iter::once(&d.primary).chain(&d.secondary) {
            let f = c.sources.get(l.span.file);
            let (s, e) = (l.span.start as usize, l.span.end as usize);
            if s > e
                || e > f.text.len()
                || !f.text.is_char_boundary(s)
                || !f.text.is_char_boundary(e)
            {
                return Err(format!(
                    "{} `{}` has span {s}..{e} outside the character boundaries of {} ({} bytes)",
                    d.code,
                    d.message,
                    f.name,
                    f.text.len()
                ));
            }
        }
    }
    let parses = panic::catch_unwind(|| parse_file(FileId(0), text).is_ok())
        .map_err(|e| format!("parse_file panicked: {}", panic_message(&*e)))?;
    if !parses && !c.has_errors() {
        return Err(format!(
            "the text does not parse, but compile reports no error:\n{report}"
        ));
    }
    if !c.has_errors() {
        panic::catch_unwind(AssertUnwindSafe(|| {
            for m in &c.program.models {
                let _ = twin::check::print::model(&c.program, m, &c.units);
            }
            for t in &c.program.trials {
                let _ = twin::check::print::trial(&c.program, t, &c.units);
            }
        }))
        .map_err(|e| {
            format!(
                "printing the checked program panicked: {}",
                panic_message(&*e)
            )
        })?;
    }
    if always_recompile || !c.has_errors() {
        let again = panic::catch_unwind(|| compile("fuzz.twin", text))
            .map_err(|e| format!("the second compile panicked: {}", panic_message(&*e)))?;
        if fingerprint(&c.diagnostics) != fingerprint(&again.diagnostics) {
            return Err(format!(
                "two compilations report differently:\n{report}\n---- versus\n{}",
                diagnostic::render(&again.sources, &again.diagnostics, false)
            ));
        }
    }
    Ok(())
}

/// Serialises the tests of this file: the panic hook is process-wide.
static HOOK: Mutex<()> = Mutex::new(());

/// Feeds every input to `check_input` with a silent panic hook; returns how many were fed and the
/// first failure, after restoring the hook.
fn fuzz(
    inputs: impl Iterator<Item = (String, String)>,
) -> (usize, Option<(String, String, String)>) {
    let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut count = 0;
    let mut failure = None;
    for (origin, text) in inputs {
        count += 1;
        if let Err(why) = check_input(&text, count % 16 == 0) {
            failure = Some((origin, text, why));
            break;
        }
    }
    panic::set_hook(previous);
    (count, failure)
}

fn assert_clean(
    what: &str,
    min: usize,
    (count, failure): (usize, Option<(String, String, String)>),
) {
    if let Some((origin, text, why)) = failure {
        let shown: String = text.chars().take(4000).collect();
        panic!(
            "{what}: input #{count} ({origin}) fails: {why}\n---- input ({} bytes, Rust-escaped)\n{shown:?}",
            text.len()
        );
    }
    assert!(
        count >= min,
        "{what}: only {count} inputs were fed, expected at least {min}"
    );
    eprintln!("{what}: {count} inputs, all clean");
}

#[test]
fn the_corpus_itself() {
    let files = corpus();
    let n = files.len();
    assert_clean("corpus", n, fuzz(files.into_iter()));
}

#[test]
fn mutations_of_the_corpus() {
    const PER_FILE: usize = 400;
    let files = corpus();
    let mut rng = Rng(0x7717_C0DE_2024_0001);
    let inputs = files
        .iter()
        .flat_map(|(name, text)| (0..PER_FILE).map(move |i| (name, text, i)))
        .map(move |(name, text, i)| {
            let m = mutate(&mut rng, text);
            (format!("mutation {i} of {name}"), m)
        });
    assert_clean("mutations", 10_000, fuzz(inputs));
}

#[test]
fn truncations_at_every_line() {
    let files = corpus();
    let inputs = files.iter().flat_map(|(name, text)| {
        text.match_indices('\n')
            .map(move |(i, _)| (format!("{name} cut after byte {i}"), text[..i].to_string()))
    });
    assert_clean("truncations", 1_000, fuzz(inputs));
}

#[test]
fn token_soups() {
    let mut rng = Rng(0x5EED_50DA_0000_0002);
    let inputs = (0..10_000).map(move |i| (format!("soup {i}"), soup(&mut rng)));
    assert_clean("soups", 10_000, fuzz(inputs));
}

/// Deeply nested input: long operator chains, unary chains, nested calls, `if`s and units. The
/// checker refuses nesting deeper than its limit with a diagnostic instead of overflowing the stack.
#[test]
fn deep_nesting() {
    let mut inputs = Vec::new();
    for n in [10, 99, 100, 101, 1_000, 10_000] {
        let sum = vec!["1 mg"; n].join(" + ");
        inputs.push((
            format!("sum of {n} terms"),
            format!("model M {{\n    let y = {sum}\n}}\n"),
        ));
        let product = vec!["2"; n].join(" * ");
        inputs.push((
            format!("product of {n} factors"),
            format!("model M {{\n    param y: 1 = {product}\n    observe o: 1 = y\n}}\n"),
        ));
        inputs.push((
            format!("{n} unary minus"),
            format!("model M {{\n    let y = {}1\n}}\n", "-".repeat(n)),
        ));
        inputs.push((
            format!("{n} nots"),
            format!("model M {{\n    let y = {}true\n}}\n", "not ".repeat(n)),
        ));
        inputs.push((
            format!("{n} nested calls"),
            format!(
                "model M {{\n    let y = {}1{}\n}}\n",
                "abs(".repeat(n),
                ")".repeat(n)
            ),
        ));
        inputs.push((
            format!("{n} parentheses"),
            format!(
                "model M {{\n    let y = {}1{}\n}}\n",
                "(".repeat(n),
                ")".repeat(n)
            ),
        ));
        inputs.push((
            format!("{n} else-ifs"),
            format!(
                "model M {{\n    let y = {}{{ 2 }}\n}}\n",
                "if true { 1 } else ".repeat(n)
            ),
        ));
        let unit = vec!["mg"; n].join("/");
        inputs.push((
            format!("unit declaration of {n} factors"),
            format!("unit foo = 2 {unit}\n"),
        ));
        inputs.push((
            format!("unit of {n} factors"),
            format!("model M {{\n    param y: {unit} = 1\n    observe o = y\n}}\n"),
        ));
        inputs.push((
            format!("{n} in an endpoint"),
            format!(
                "model M {{\n    param k: 1/h = 1 /h\n    compartment c: mg\n    flow c -> out = k * c\n}}\ntrial T {{\n    model M\n    arm a {{ dose 1 mg into c }}\n    endpoint e = {}\n}}\n",
                vec!["max(c)"; n].join(" + ")
            ),
        ));
    }
    // On a thread with the main thread's stack (8 MiB), like `twin check`; the AST of a 10,000-deep
    // expression is still cloned and dropped recursively, which needs more than a test thread's
    // 2 MiB. (At about 30,000 levels that overflows 8 MiB too.)
    let all = inputs.clone();
    let (count, failure) = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || fuzz(all.into_iter()))
        .expect("spawn the fuzzing thread")
        .join()
        .expect("the fuzzing thread panicked");
    assert_clean("deep nesting", inputs.len(), (count, failure));
    // Just beyond the checker's expression depth (100) the checker must say so (parentheses add
    // no depth there); far beyond, the reader refuses the text before a tree is built (E0047).
    for (name, text) in inputs
        .iter()
        .filter(|(n, _)| n.contains("101 ") && !n.contains("parentheses"))
    {
        let c = compile("deep.twin", text);
        assert!(
            c.diagnostics.iter().any(|d| d.code == "E0029"),
            "{name}: expected E0029 for nesting beyond the limit"
        );
    }
    for (name, text) in inputs
        .iter()
        .filter(|(n, _)| n.contains("1000 ") || n.contains("10000 "))
    {
        let c = compile("deep.twin", text);
        let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec!["E0047"], "{name}: expected only E0047");
    }
}

// ---- Resource limits, through the CLI binary with a timeout -------------------------------------

/// What a finished (or killed) run of the CLI gave.
struct CliRun {
    /// Exit code (`None` when killed by a signal or by the timeout).
    code: Option<i32>,
    stderr: String,
    elapsed: std::time::Duration,
}

/// Runs `twin ARGS` in `dir`, killing it after `limit` seconds; stdout is discarded.
fn twin_cli(dir: &Path, args: &[&str], limit: u64) -> CliRun {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let start = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the twin binary");
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for twin") {
            break status.code();
        }
        if start.elapsed().as_secs() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("twin {args:?} still running after {limit} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    CliRun {
        code,
        stderr: reader.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// A fresh scratch directory under the target directory.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("robustness-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

const ONE_CPT: &str = "model M {\n    param k: 1/h = 0.1 /h\n    compartment central: mg = 100 mg\n    flow central -> out = k * central\n    observe amount: mg = central\n}\n";

#[test]
fn cli_refuses_deep_nesting_and_huge_sources_with_a_diagnostic() {
    let dir = scratch("nesting");
    let n = 100_000;
    let body = |e: String| format!("model M {{\n    compartment c: mg = {e}\n}}\n");
    let mut big = String::from(ONE_CPT);
    while big.len() <= 9 << 20 {
        big.push_str("// padding: a source file larger than the limit\n");
    }
    let cases: Vec<(&str, String, &str)> = vec![
        ("minus", body(format!("{}1 mg", "-".repeat(n))), "E0047"),
        (
            "parens",
            body(format!("{}1 mg{}", "(".repeat(n), ")".repeat(n))),
            "E0047",
        ),
        (
            "ifs",
            body(format!(
                "{}1 mg{}",
                "if true { ".repeat(n),
                " } else { 1 mg }".repeat(n)
            )),
            "E0047",
        ),
        ("chain", body(vec!["1 mg"; n].join(" + ")), "E0047"),
        ("big", big, "E0048"),
    ];
    for (name, text, code) in cases {
        let file = format!("{name}.twin");
        std::fs::write(dir.join(&file), &text).expect("write the input");
        for args in [
            vec!["check", file.as_str()],
            vec!["fmt", file.as_str()],
            vec!["run", file.as_str()],
        ] {
            let r = twin_cli(&dir, &args, 30);
            eprintln!("{args:?}: exit {:?} in {:.2?}", r.code, r.elapsed);
            assert_eq!(
                r.code,
                Some(1),
                "{args:?}: {}",
                &r.stderr[..r.stderr.len().min(2000)]
            );
            assert!(
                r.stderr.contains(&format!("[{code}]")),
                "{args:?}: expected {code}"
            );
        }
    }
}

#[test]
fn cli_refuses_a_huge_grid_before_allocating_and_runs_long_grids() {
    let dir = scratch("grid");
    std::fs::write(dir.join("m.twin"), ONE_CPT).expect("write the model");
    // 10^9 rows: refused at once, no allocation.
    let r = twin_cli(
        &dir,
        &["run", "m.twin", "--until", "1e9h", "--every", "1h"],
        30,
    );
    eprintln!("10^9 rows: exit {:?} in {:.2?}", r.code, r.elapsed);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("[E0049]") && r.stderr.contains("--every"),
        "{}",
        r.stderr
    );
    // 1.5·10^6 rows: more output rows than the step limit (10^6), which counts solver steps only.
    let r = twin_cli(
        &dir,
        &[
            "run", "m.twin", "--until", "1500000h", "--every", "1h", "--out", "out.csv",
        ],
        120,
    );
    eprintln!("1.5e6 rows: exit {:?} in {:.2?}", r.code, r.elapsed);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let csv = std::fs::read_to_string(dir.join("out.csv")).expect("the table was written");
    assert_eq!(
        csv.lines().count(),
        1 + 1_500_001,
        "a header and every grid row"
    );
    // A trial whose evaluation grid (sampling refined to 1 h) would exceed 10^7 points.
    std::fs::write(
        dir.join("t.twin"),
        format!("{ONE_CPT}trial T {{\n    model M\n    population 2 {{}}\n    arm a {{ dose 100 mg into central }}\n    sample at [0 h, 2000 year]\n}}\n"),
    )
    .expect("write the trial");
    let r = twin_cli(&dir, &["trial", "t.twin"], 30);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("[E0049]"), "{}", r.stderr);
    // Trajectories of 2·10^9 values (10^6 patients × 2001 times × 1 observable).
    std::fs::write(
        dir.join("traj.twin"),
        format!("{ONE_CPT}trial T {{\n    model M\n    population 1000000 {{}}\n    arm a {{ dose 100 mg into central }}\n    sample every 1 h until 2000 h\n}}\n"),
    )
    .expect("write the trial");
    let r = twin_cli(
        &dir,
        &["trial", "traj.twin", "--trajectories", "--out", "res"],
        30,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("[E0049]") && r.stderr.contains("2.001e9"),
        "{}",
        r.stderr
    );
}

/// `n` subjects with a dose and an observation each.
fn many_ids(n: usize) -> String {
    let mut s = String::from("ID,TIME,AMT,CMT,EVID\n");
    for i in 1..=n {
        s.push_str(&format!("{i},0,100,central,1\n{i},2,.,.,0\n"));
    }
    s
}

#[test]
fn events_with_many_ids_parse_in_linear_time() {
    let text = many_ids(100_000);
    let start = std::time::Instant::now();
    let subjects = twin::events::parse(&text, &["central".to_string()], &["conc".to_string()])
        .expect("valid records");
    let elapsed = start.elapsed();
    eprintln!("100 000 IDs × 2 rows: {elapsed:.2?}");
    assert_eq!(subjects.len(), 100_000);
    assert_eq!(subjects[99_999].id, "100000");
    assert_eq!(subjects[99_999].observation_times(), vec![2.0]);
    assert!(elapsed.as_secs() < 10, "smoke guard: {elapsed:.2?}");
}

#[test]
fn events_file_rules_through_the_cli() {
    let dir = scratch("events");
    std::fs::write(dir.join("m.twin"), ONE_CPT).expect("write the model");
    let run = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).expect("write the events");
        twin_cli(
            &dir,
            &["run", "m.twin", "--events", name, "--out", "o.csv"],
            30,
        )
    };
    // An Excel export: byte-order mark, CRLF, quoted header cells.
    let r = run(
        "bom.csv",
        "\u{feff}\"ID\",\"TIME\",AMT,CMT\r\n1,0,100,1\r\n1,4,.,.\r\n",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = std::fs::read_to_string(dir.join("o.csv")).expect("the table was written");
    // The subject's grid is its observation times from 0: rows at 0 h and 4 h.
    assert_eq!(out.lines().count(), 3, "{out}");
    for (name, text, want) in [
        (
            "evid.csv",
            "ID,TIME,AMT,CMT,EVID\n1,0,100,1,1.5\n",
            "row 2, column EVID",
        ),
        (
            "extra.csv",
            "ID,TIME,AMT,CMT\n1,0,100,1,7\n",
            "row 2, column 5",
        ),
        (
            "dup.csv",
            "ID,TIME,AMT,time\n1,0,100,0\n",
            "row 1, column TIME",
        ),
    ] {
        let r = run(name, text);
        assert_eq!(r.code, Some(2), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
    }
}
