//! The `twin` command line: arguments → driver → rendered diagnostics → exit code.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::process::ExitCode;
use twin::diagnostic::{self, codes};

/// twin — models and virtual trials for pharmacological digital twins.
#[derive(Parser)]
#[command(name = "twin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Format {
    /// ariadne reports on stderr.
    Human,
    /// One JSON array of diagnostics on stdout.
    Json,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// Nothing besides diagnostics.
    None,
    /// The checked model and trials.
    Hir,
    /// The lowered, unit-free IR of every model.
    Ir,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check files; exit 1 if any has errors.
    Check {
        /// `.twin` files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Diagnostic format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Also print an intermediate form.
        #[arg(long, value_enum, default_value = "none")]
        emit: Emit,
    },
    /// Explain a diagnostic code, e.g. `twin explain E0007`.
    Explain {
        /// The code.
        code: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            files,
            format,
            emit,
        } => check(&files, format, emit),
        Command::Explain { code } => match codes::lookup(&code) {
            Some(info) => {
                println!(
                    "{}: {}\n\n{}",
                    info.code,
                    info.title,
                    info.explanation.trim()
                );
                ExitCode::SUCCESS
            }
            None => {
                eprintln!(
                    "error: `{code}` is not a twin diagnostic code (codes look like E0007 or W0001)"
                );
                ExitCode::from(2)
            }
        },
    }
}

fn check(files: &[std::path::PathBuf], format: Format, emit: Emit) -> ExitCode {
    let mut failed = false;
    let mut json = Vec::new();
    let color = std::io::stderr().is_terminal();
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {name}: {e}");
                failed = true;
                continue;
            }
        };
        let c = twin::driver::compile(&name, &text);
        failed |= c.has_errors();
        match format {
            Format::Human => eprint!("{}", diagnostic::render(&c.sources, &c.diagnostics, color)),
            Format::Json => json.extend(diagnostic::to_json(&c.sources, &c.diagnostics)),
        }
        if emit == Emit::Ir && !c.has_errors() {
            for m in &c.program.models {
                match twin::lower::lower(&c.program, m, &[], twin::lower::Options::default()) {
                    Ok(l) => print!("{}", twin::ir::print::module_to_string(&l.module)),
                    Err(errs) => {
                        for e in errs {
                            eprintln!("error: lowering `{}`: {e}", m.name);
                        }
                        failed = true;
                    }
                }
            }
        }
        if emit == Emit::Hir && !c.has_errors() {
            for m in &c.program.models {
                print!("{}", twin::check::print::model(&c.program, m, &c.units));
            }
            for t in &c.program.trials {
                print!("{}", twin::check::print::trial(&c.program, t, &c.units));
            }
        }
    }
    if format == Format::Json {
        match serde_json::to_string_pretty(&json) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
