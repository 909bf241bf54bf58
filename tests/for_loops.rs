//! `for` statements: a model written with `for` lowers to exactly the IR of the same model written
//! out by hand; errors inside an expansion name the instance; `twin fmt` keeps `for` blocks; a
//! lone `{x}` outside a `for` body is still a block.

use twin::driver::compile;
use twin::ir::print::module_to_string;
use twin::lower::{Options, lower};

/// The IR text of every runnable model of `src`.
fn ir(src: &str) -> String {
    let c = compile("m.twin", src);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
    let mut out = String::new();
    for m in &c.program.models {
        let l = lower(&c.program, m, &[], Options::default()).expect("lowers");
        out.push_str(&module_to_string(&l.module));
    }
    out
}

const WITH_FOR: &str = "
model Body {
    param q_gut: L/h = 2 L/h
    param q_skin: L/h = 1 L/h
    param q_bone: L/h = 0.5 L/h
    param v_gut: L = 1 L
    param v_skin: L = 3 L
    param v_bone: L = 2 L
    compartment arterial: mg
    compartment venous: mg
    for t in [gut, skin, bone] {
        compartment {t}: mg
    }
    let c_arterial: mg/L = arterial / 1 L
    for t in [gut, skin, bone] {
        let cb_{t}: mg/L = {t} / v_{t} / 2
        flow arterial -> {t} = q_{t} * c_arterial
        flow {t} -> venous = q_{t} * cb_{t}
    }
    flow venous -> arterial = 3 L/h * venous / 1 L
    flow venous -> out = 0.1 /h * venous
    pathway pd {
        for s in [lo, hi] {
            for t in [gut, bone] {
                param w_{s}_{t}: 1 = 1
            }
        }
        observe load: mg = w_lo_gut * gut + w_hi_bone * bone + (w_hi_gut + w_lo_bone) * 0 mg
    }
}
";

const BY_HAND: &str = "
model Body {
    param q_gut: L/h = 2 L/h
    param q_skin: L/h = 1 L/h
    param q_bone: L/h = 0.5 L/h
    param v_gut: L = 1 L
    param v_skin: L = 3 L
    param v_bone: L = 2 L
    compartment arterial: mg
    compartment venous: mg
    compartment gut: mg
    compartment skin: mg
    compartment bone: mg
    let c_arterial: mg/L = arterial / 1 L
    let cb_gut: mg/L = gut / v_gut / 2
    flow arterial -> gut = q_gut * c_arterial
    flow gut -> venous = q_gut * cb_gut
    let cb_skin: mg/L = skin / v_skin / 2
    flow arterial -> skin = q_skin * c_arterial
    flow skin -> venous = q_skin * cb_skin
    let cb_bone: mg/L = bone / v_bone / 2
    flow arterial -> bone = q_bone * c_arterial
    flow bone -> venous = q_bone * cb_bone
    flow venous -> arterial = 3 L/h * venous / 1 L
    flow venous -> out = 0.1 /h * venous
    pathway pd {
        param w_lo_gut: 1 = 1
        param w_lo_bone: 1 = 1
        param w_hi_gut: 1 = 1
        param w_hi_bone: 1 = 1
        observe load: mg = w_lo_gut * gut + w_hi_bone * bone + (w_hi_gut + w_lo_bone) * 0 mg
    }
}
";

#[test]
fn a_for_model_lowers_to_the_ir_of_its_hand_written_equivalent() {
    let a = ir(WITH_FOR);
    assert!(a.contains("module Body"), "{a}");
    assert_eq!(a, ir(BY_HAND));
}

#[test]
fn a_derived_model_replaces_a_statement_of_a_base_loop() {
    let derived = "\nmodel Slow extends Body {\n    let cb_skin: mg/L = skin / v_skin / 4\n}\n";
    let a = ir(&format!("{WITH_FOR}{derived}"));
    let b = ir(&format!("{BY_HAND}{derived}"));
    assert_eq!(a, b);
    // The replacement took effect: the derived model differs from its base.
    let (base, slow) = b.split_at(b.find("module Slow").expect("derived module"));
    assert_ne!(
        base.replace("module Body", ""),
        slow.replace("module Slow", "")
    );
}

#[test]
fn an_error_in_an_expansion_names_the_instance() {
    let src = "model M {\n    param v_gut: L = 1 L\n    compartment central: mg\n    for t in [gut, skin] {\n        compartment {t}: mg\n        let c_{t}: mg/L = {t} / v_{t}\n        flow {t} -> central = 1 L/h * c_{t}\n    }\n    flow central -> out = 0.1 /h * central\n}\n";
    let c = compile("m.twin", src);
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.code == "E0004")
        .expect("unknown name");
    assert!(d.message.contains("v_skin"), "{}", d.message);
    assert_eq!(d.notes, vec!["in the expansion for `t = skin`".to_string()]);
    // The span is the template's.
    let at = src.find("v_{t}").expect("template");
    assert_eq!(d.primary.span.range(), at..at + "v_{t}".len());
}

#[test]
fn fmt_keeps_for_blocks_and_is_idempotent() {
    let src = "model M {\n  compartment central: mg\n  for t   in [a,b] {   // tissues\n  compartment {t}: mg\n      flow central->{t} = 1/h*central\n  }\n  flow central -> out = 0.1 /h * central\n}\n";
    let once = twin::fmt::format(src).expect("formats");
    assert_eq!(
        once,
        "model M {\n    compartment central: mg\n    for t in [a, b] { // tissues\n        compartment {t}: mg\n        flow central -> {t} = 1/h * central\n    }\n    flow central -> out = 0.1/h * central\n}\n"
    );
    assert_eq!(twin::fmt::format(&once).expect("formats"), once);
}

#[test]
fn a_lone_brace_name_outside_for_is_still_a_block() {
    let src = "model M {\n    covariate x: 1 = 1\n    compartment central: mg\n    let k: 1/h = if x > 0 {x} else {x} * 1 /h\n    flow central -> out = k * central\n}\n";
    let c = compile("m.twin", src);
    assert!(
        !c.has_errors(),
        "{}",
        twin::diagnostic::render(&c.sources, &c.diagnostics, false)
    );
}
