//! IR → Cranelift → native code. One straight-line Cranelift function per IR function.
//!
//! Input: a [`Module`]. Output: a [`CompiledModel`] (or a [`JitError`] if Cranelift refuses,
//! which a valid module never triggers). Guarantees:
//! - each IR instruction becomes the Cranelift instruction with exactly the IR semantics
//!   (`fmin`/`fmax` are IEEE 754-2019 and match [`crate::ir::ir::fmin`]; comparisons use ordered
//!   condition codes except `!=`, which is true for NaN; `powi` emits the same multiplication
//!   sequence as [`crate::ir::ir::powi`]; `exp`, `log`, `log10`, `pow` call the symbols of
//!   [`super::abi::Libm`]); Cranelift never fuses multiply-add, so results are bit-identical to
//!   the interpreter;
//! - the host ISA comes from `cranelift_native`, optimisation level "speed";
//! - no strings are looked up per instruction: libm functions are declared once per function.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, UserFuncName, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, ir::FuncRef};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module as _, default_libcall_names};

use super::abi::{Libm, ModelFn};
use super::compiled::{CompiledModel, CompiledPatient};
use crate::ir::{BinOp, Function, FunctionKind, Inst, Module, PatientModule, UnOp};

/// Why native code generation failed.
#[derive(Debug)]
pub enum JitError {
    /// The host is not supported by Cranelift or a flag was rejected.
    Isa(String),
    /// Cranelift rejected a function.
    Codegen {
        /// Which IR function ("rhs", …).
        function: &'static str,
        /// Cranelift's message.
        message: String,
    },
}

impl std::fmt::Display for JitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JitError::Isa(m) => write!(f, "cannot target this machine: {m}"),
            JitError::Codegen { function, message } => {
                write!(f, "code generation failed for `{function}`: {message}")
            }
        }
    }
}

impl std::error::Error for JitError {}

fn isa_err(e: impl std::fmt::Display) -> JitError {
    JitError::Isa(e.to_string())
}

/// Compiles all five functions of `module` to native code.
pub fn compile(module: &Module) -> Result<CompiledModel, JitError> {
    let (jit, fns) = compile_functions(&module.functions())?;
    Ok(CompiledModel::new(module.clone(), jit, fns))
}

/// Compiles the per-patient expression functions of `module` to native code.
pub fn compile_patient(module: &PatientModule) -> Result<CompiledPatient, JitError> {
    let functions: Vec<&Function> = module.functions.iter().collect();
    let (jit, fns) = compile_functions(&functions)?;
    Ok(CompiledPatient::new(module.clone(), jit, fns))
}

/// Compiles `functions` (in order) into one finalized JIT module: the function pointers, all
/// of signature [`ModelFn`].
fn compile_functions(functions: &[&Function]) -> Result<(JITModule, Vec<ModelFn>), JitError> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(isa_err)?;
    flags.set("is_pic", "false").map_err(isa_err)?;
    flags
        .set("use_colocated_libcalls", "false")
        .map_err(isa_err)?;
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    flags.set("enable_verifier", verify).map_err(isa_err)?;
    let isa = cranelift_native::builder()
        .map_err(isa_err)?
        .finish(settings::Flags::new(flags))
        .map_err(isa_err)?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for f in Libm::ALL {
        jb.symbol(f.symbol(), f.address());
    }
    let mut jit = JITModule::new(jb);

    let ptr = jit.target_config().pointer_type();
    let mut sig = jit.make_signature();
    sig.params.push(AbiParam::new(types::F64));
    for _ in 0..4 {
        sig.params.push(AbiParam::new(ptr));
    }

    let mut libm_ids = HashMap::new();
    for f in Libm::ALL {
        let mut s = jit.make_signature();
        for _ in 0..f.arity() {
            s.params.push(AbiParam::new(types::F64));
        }
        s.returns.push(AbiParam::new(types::F64));
        let id = jit
            .declare_function(f.symbol(), Linkage::Import, &s)
            .map_err(|e| JitError::Codegen {
                function: "libm",
                message: e.to_string(),
            })?;
        libm_ids.insert(f, id);
    }

    let mut ctx = jit.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut ids = Vec::new();
    for (k, f) in functions.iter().enumerate() {
        let name = f.kind.name();
        let symbol = match f.kind {
            FunctionKind::Patient => format!("twin_{name}{k}"),
            _ => format!("twin_{name}"),
        };
        let id = jit
            .declare_function(&symbol, Linkage::Local, &sig)
            .map_err(|e| JitError::Codegen {
                function: name,
                message: e.to_string(),
            })?;
        ctx.func.signature = sig.clone();
        ctx.func.name = UserFuncName::user(0, k as u32);
        emit(&mut jit, &mut ctx, &mut fctx, f, &libm_ids);
        jit.define_function(id, &mut ctx)
            .map_err(|e| JitError::Codegen {
                function: name,
                message: format!("{e:?}"),
            })?;
        jit.clear_context(&mut ctx);
        ids.push(id);
    }
    jit.finalize_definitions().map_err(|e| JitError::Codegen {
        function: "finalize",
        message: e.to_string(),
    })?;
    let mut fns: Vec<ModelFn> = Vec::with_capacity(ids.len());
    for id in ids {
        let p = jit.get_finalized_function(id);
        // SAFETY: `p` is the entry of a function we just defined with signature `sig`, which
        // is exactly `ModelFn` (f64 then four pointers, default call convention, no returns).
        let f: ModelFn = unsafe { std::mem::transmute::<*const u8, ModelFn>(p) };
        fns.push(f);
    }
    Ok((jit, fns))
}

fn emit(
    jit: &mut JITModule,
    ctx: &mut Context,
    fctx: &mut FunctionBuilderContext,
    f: &Function,
    libm_ids: &HashMap<Libm, FuncId>,
) {
    let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let params = b.block_params(block).to_vec();
    let (t, inputs, pars, states, out) = (params[0], params[1], params[2], params[3], params[4]);
    let flags = MemFlagsData::trusted().with_readonly();
    let mut libm: HashMap<Libm, FuncRef> = HashMap::new();
    let mut call = |b: &mut FunctionBuilder, which: Libm, args: &[Value]| -> Value {
        let fref = *libm
            .entry(which)
            .or_insert_with(|| jit.declare_func_in_func(libm_ids[&which], b.func));
        let c = b.ins().call(fref, args);
        b.inst_results(c)[0]
    };
    let mut vals: Vec<Value> = Vec::with_capacity(f.insts.len());
    let mut zero: Option<Value> = None;
    let mut one: Option<Value> = None;
    let mut get_zero = |b: &mut FunctionBuilder| *zero.get_or_insert_with(|| b.ins().f64const(0.0));
    let mut get_one = |b: &mut FunctionBuilder| *one.get_or_insert_with(|| b.ins().f64const(1.0));
    let off = |i: u32| (i as i32) * 8;
    for inst in &f.insts {
        let v = match *inst {
            Inst::Const(c) => b.ins().f64const(c),
            Inst::Input(i) => b.ins().load(types::F64, flags, inputs, off(i)),
            Inst::Param(i) => b.ins().load(types::F64, flags, pars, off(i)),
            Inst::State(i) => b.ins().load(types::F64, flags, states, off(i)),
            Inst::Time => t,
            Inst::Unary(op, a) => {
                let a = vals[a.index()];
                match op {
                    UnOp::Neg => b.ins().fneg(a),
                    UnOp::Exp => call(&mut b, Libm::Exp, &[a]),
                    UnOp::Log => call(&mut b, Libm::Log, &[a]),
                    UnOp::Log10 => call(&mut b, Libm::Log10, &[a]),
                    UnOp::Sqrt => b.ins().sqrt(a),
                    UnOp::Abs => b.ins().fabs(a),
                    UnOp::Floor => b.ins().floor(a),
                    UnOp::Ceil => b.ins().ceil(a),
                    UnOp::Not => {
                        let z = get_zero(&mut b);
                        let o = get_one(&mut b);
                        let c = b.ins().fcmp(FloatCC::Equal, a, z);
                        b.ins().select(c, o, z)
                    }
                }
            }
            Inst::Binary(op, x, y) => {
                let (x, y) = (vals[x.index()], vals[y.index()]);
                match op {
                    BinOp::Add => b.ins().fadd(x, y),
                    BinOp::Sub => b.ins().fsub(x, y),
                    BinOp::Mul => b.ins().fmul(x, y),
                    BinOp::Div => b.ins().fdiv(x, y),
                    BinOp::Pow => call(&mut b, Libm::Pow, &[x, y]),
                    BinOp::Min => b.ins().fmin(x, y),
                    BinOp::Max => b.ins().fmax(x, y),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => {
                        let cc = match op {
                            BinOp::Lt => FloatCC::LessThan,
                            BinOp::Le => FloatCC::LessThanOrEqual,
                            BinOp::Gt => FloatCC::GreaterThan,
                            BinOp::Ge => FloatCC::GreaterThanOrEqual,
                            BinOp::Eq => FloatCC::Equal,
                            _ => FloatCC::NotEqual,
                        };
                        let c = b.ins().fcmp(cc, x, y);
                        let z = get_zero(&mut b);
                        let o = get_one(&mut b);
                        b.ins().select(c, o, z)
                    }
                    BinOp::And | BinOp::Or => {
                        let z = get_zero(&mut b);
                        let o = get_one(&mut b);
                        let cx = b.ins().fcmp(FloatCC::NotEqual, x, z);
                        let cy = b.ins().fcmp(FloatCC::NotEqual, y, z);
                        let c = if op == BinOp::And {
                            b.ins().band(cx, cy)
                        } else {
                            b.ins().bor(cx, cy)
                        };
                        b.ins().select(c, o, z)
                    }
                }
            }
            Inst::PowI(a, n) => {
                let x = vals[a.index()];
                let mut e = n.unsigned_abs();
                let mut acc: Option<Value> = None;
                let mut base = x;
                while e > 0 {
                    if e & 1 == 1 {
                        acc = Some(match acc {
                            None => base,
                            Some(a) => b.ins().fmul(a, base),
                        });
                    }
                    e >>= 1;
                    if e > 0 {
                        base = b.ins().fmul(base, base);
                    }
                }
                let pos = match acc {
                    Some(p) => p,
                    None => get_one(&mut b),
                };
                if n < 0 {
                    let o = get_one(&mut b);
                    b.ins().fdiv(o, pos)
                } else {
                    pos
                }
            }
            Inst::Select(c, x, y) => {
                let z = get_zero(&mut b);
                let cv = b.ins().fcmp(FloatCC::NotEqual, vals[c.index()], z);
                b.ins().select(cv, vals[x.index()], vals[y.index()])
            }
        };
        vals.push(v);
    }
    let store = MemFlagsData::trusted();
    for (k, v) in f.outputs.iter().enumerate() {
        b.ins().store(store, vals[v.index()], out, off(k as u32));
    }
    b.ins().return_(&[]);
    b.finalize(jit.target_config());
}
