//! A stable text form of a [`Module`] for snapshots and `--emit ir`.
//!
//! Input: a module. Output: text. Guarantees: deterministic (numbering is the arena order,
//! constants printed with `{:?}` which round-trips every f64), one instruction per line with its
//! class, names only in comments and headers.

use std::fmt::Write;

use super::ir::{Function, Inst, Module, Scalar};

/// Renders the whole module.
pub fn module_to_string(m: &Module) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "module {}", m.name);
    let list = |v: &[String]| v.join(", ");
    let _ = writeln!(s, "inputs: {}", list(&m.meta.inputs));
    let names: Vec<String> = m.meta.params.iter().map(|p| p.name.clone()).collect();
    let _ = writeln!(s, "params: {}", list(&names));
    let _ = writeln!(s, "states: {}", list(&m.meta.states));
    let _ = writeln!(s, "observables: {}", list(&m.meta.observables));
    if !m.meta.accumulators.is_empty() {
        let acc: Vec<String> = m
            .meta
            .accumulators
            .iter()
            .map(|&i| m.meta.states[i as usize].clone())
            .collect();
        let _ = writeln!(s, "accumulators: {}", list(&acc));
    }
    for (i, d) in m.meta.dosing.iter().enumerate() {
        if d.bioavailability != Scalar::Const(1.0) || d.lag != Scalar::Const(0.0) {
            let _ = writeln!(
                s,
                "dosing {}: F = {}, lag = {}",
                m.meta.states[i],
                scalar(d.bioavailability),
                scalar(d.lag)
            );
        }
    }
    let pattern: Vec<String> = m
        .sparsity
        .iter()
        .map(|(r, c)| format!("({r},{c})"))
        .collect();
    let _ = writeln!(s, "sparsity: {}", pattern.join(" "));
    for f in m.functions() {
        s.push('\n');
        function_into(&mut s, f);
    }
    s
}

fn scalar(x: Scalar) -> String {
    match x {
        Scalar::Const(c) => format!("{c:?}"),
        Scalar::Param(i) => format!("p{i}"),
    }
}

/// Renders one function.
pub fn function_to_string(f: &Function) -> String {
    let mut s = String::new();
    function_into(&mut s, f);
    s
}

fn function_into(s: &mut String, f: &Function) {
    let _ = writeln!(s, "fn {} {{", f.kind.name());
    for (i, inst) in f.insts.iter().enumerate() {
        let rhs = match *inst {
            Inst::Const(c) => format!("const {c:?}"),
            Inst::Input(k) => format!("input {k}"),
            Inst::Param(k) => format!("param {k}"),
            Inst::State(k) => format!("state {k}"),
            Inst::Time => "time".to_string(),
            Inst::Unary(op, a) => format!("{} v{}", op.name(), a.0),
            Inst::Binary(op, a, b) => format!("{} v{}, v{}", op.name(), a.0, b.0),
            Inst::PowI(a, n) => format!("powi v{}, {n}", a.0),
            Inst::Select(c, a, b) => format!("select v{}, v{}, v{}", c.0, a.0, b.0),
        };
        let _ = writeln!(s, "  v{i} = {rhs}    ; {}", f.classes[i].name());
    }
    for (k, v) in f.outputs.iter().enumerate() {
        let _ = writeln!(s, "  out {k} = v{}", v.0);
    }
    s.push_str("}\n");
}
