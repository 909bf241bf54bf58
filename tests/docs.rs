//! The documentation cannot drift from the software.
//!
//! (a) `docs/stdlib.md` is exactly what `twin doc` generates from the embedded standard library.
//!
//! (b) Every ` ```twin ` code block of `docs/guide.md` is compiled by the library:
//!   - ` ```twin ` — the block must check without errors (warnings are allowed);
//!   - ` ```twin,error=E0007 ` — exactly that code must be reported: at least one diagnostic with
//!     it, and no error with any other code (for a warning code such as `W0001`, the block must
//!     report that warning and no error at all).
//!
//!   A block is a whole file when its first line that is not a comment starts an item (`use`,
//!   `unit`, `fn`, `table`, `gene`, `model` or `trial`). Otherwise it is a **fragment**: model
//!   statements, compiled inside `model Fragment { … }`; its leading `use` lines stay outside the
//!   model, so a fragment can import what it needs (`use pgx.CYP2C9` then `genotype …`).
//!   Other fences (` ```sh `, ` ```text `) are not compiled.
//!
//! (c) Every code of the diagnostic registry (`twin::diagnostic::codes::ALL`) is mentioned in the
//!     guide's "Diagnostics" section, so a new code arrives with its documentation.
//!
//! (d) Every subcommand that `twin --help` lists appears in the guide as `twin NAME`.

use std::path::PathBuf;

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A fenced code block of the guide.
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string after the backticks (`twin`, `twin,error=E0007`, `sh`, …).
    info: String,
    /// The code.
    text: String,
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some(Block {
                        line: i + 1,
                        info: info.trim().to_string(),
                        text: String::new(),
                    });
                }
            }
            Some(mut b) => {
                if trimmed.starts_with("```") {
                    out.push(b);
                } else {
                    b.text.push_str(line);
                    b.text.push('\n');
                    open = Some(b);
                }
            }
        }
    }
    assert!(open.is_none(), "docs/guide.md has an unclosed code fence");
    out
}

const ITEM_KEYWORDS: &[&str] = &["use", "unit", "fn", "table", "gene", "model", "trial"];

/// The source to compile for a ` ```twin ` block (see the convention at the top).
fn program(block: &str) -> String {
    let is_file = first_item_is_file(block);
    if is_file {
        return block.to_string();
    }
    let (uses, body): (Vec<&str>, Vec<&str>) = {
        let mut uses = Vec::new();
        let mut body = Vec::new();
        let mut leading = true;
        for l in block.lines() {
            if leading && is_use_or_blank(l) {
                uses.push(l);
            } else {
                leading = false;
                body.push(l);
            }
        }
        (uses, body)
    };
    let mut text = uses.join("\n");
    text.push_str("\nmodel Fragment {\n");
    for l in body {
        text.push_str("    ");
        text.push_str(l);
        text.push('\n');
    }
    text.push_str("}\n");
    text
}

fn is_use_or_blank(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with("use ")
}

/// Whether the first line after the leading `use` lines and comments starts an item.
fn first_item_is_file(block: &str) -> bool {
    block
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("use "))
        .is_none_or(|l| {
            let word = l.split_whitespace().next().unwrap_or("");
            ITEM_KEYWORDS.contains(&word)
        })
}

#[test]
fn stdlib_reference_is_up_to_date() {
    let generated = twin::doc::generate().expect("the standard library parses");
    let existing = repo_file("docs/stdlib.md");
    if let Err(message) = twin::doc::compare("docs/stdlib.md", &existing, &generated) {
        panic!(
            "{message}\n\nThe standard library changed: run `{}` and commit docs/stdlib.md.",
            twin::doc::REGENERATE
        );
    }
}

#[test]
fn guide_code_blocks_compile() {
    let guide = repo_file("docs/guide.md");
    let mut failures = Vec::new();
    let mut compiled = 0;
    for b in blocks(&guide) {
        let mut parts = b.info.split(',').map(str::trim);
        if parts.next() != Some("twin") {
            continue;
        }
        let expected = parts
            .find_map(|p| p.strip_prefix("error="))
            .map(str::to_string);
        let text = program(&b.text);
        let name = format!("docs/guide.md:{}", b.line);
        let c = twin::driver::compile(&name, &text);
        compiled += 1;
        let errors: Vec<&str> = c
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.code)
            .collect();
        let all: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
        let ok = match &expected {
            None => errors.is_empty(),
            Some(code) if code.starts_with('W') => {
                errors.is_empty() && all.contains(&code.as_str())
            }
            Some(code) => !errors.is_empty() && errors.iter().all(|e| e == code),
        };
        if !ok {
            let report = twin::diagnostic::render(&c.sources, &c.diagnostics, false);
            failures.push(format!(
                "{name}: expected {}, got [{}]\n--- compiled text ---\n{text}--- diagnostics ---\n{report}",
                expected
                    .as_deref()
                    .map_or("no errors".to_string(), |c| format!("exactly {c}")),
                all.join(", ")
            ));
        }
    }
    assert!(
        compiled >= 10,
        "only {compiled} twin blocks found in the guide"
    );
    assert!(
        failures.is_empty(),
        "{} guide block(s) do not behave as fenced:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The text of the `## Diagnostics` section of the guide.
fn diagnostics_section(guide: &str) -> &str {
    let start = guide
        .find("\n## Diagnostics")
        .expect("docs/guide.md has a `## Diagnostics` section");
    let rest = &guide[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

#[test]
fn every_diagnostic_code_is_documented() {
    let guide = repo_file("docs/guide.md");
    let section = diagnostics_section(&guide);
    let missing: Vec<String> = twin::diagnostic::codes::ALL
        .iter()
        .filter(|info| !section.contains(info.code))
        .map(|info| format!("{} ({})", info.code, info.title))
        .collect();
    assert!(
        missing.is_empty(),
        "diagnostic codes not mentioned in the Diagnostics section of docs/guide.md: {}\n\
         add a row for each to its table",
        missing.join(", ")
    );
}

#[test]
fn every_subcommand_is_in_the_guide() {
    let guide = repo_file("docs/guide.md");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twin"))
        .arg("--help")
        .output()
        .expect("twin runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.len() >= 9,
        "could not read the subcommands from `twin --help`:\n{help}"
    );
    let missing: Vec<&&str> = commands
        .iter()
        .filter(|c| !guide.contains(&format!("twin {c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "subcommands not described in docs/guide.md: {missing:?}"
    );
}

#[test]
fn fragment_convention() {
    assert_eq!(
        program("use pgx.CYP2C9\ngenotype g: CYP2C9\n"),
        "use pgx.CYP2C9\nmodel Fragment {\n    genotype g: CYP2C9\n}\n"
    );
    let file = "/// doc\nmodel M {}\n";
    assert_eq!(program(file), file);
    let file = "use pk.allometric\n\nmodel M {}\n";
    assert_eq!(program(file), file);
}
