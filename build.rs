//! Generates the parser from `grammar/twin.lalrpop` and the table of embedded stdlib modules.
use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=grammar/twin.lalrpop");
    println!("cargo:rerun-if-changed=stdlib");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(&out)
        .process()
        .expect("the grammar in grammar/twin.lalrpop is valid");
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("stdlib");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("stdlib/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".twin"))
        .collect();
    names.sort();
    let mut code = String::from(
        "/// Every stdlib module as (name, source).\npub static STDLIB: &[(&str, &str)] = &[\n",
    );
    for n in &names {
        println!("cargo:rerun-if-changed=stdlib/{n}");
        let stem = n.trim_end_matches(".twin");
        let path = dir.join(n);
        writeln!(
            code,
            "    ({stem:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    std::fs::write(std::path::Path::new(&out).join("stdlib_files.rs"), code)
        .expect("OUT_DIR is writable");
}
