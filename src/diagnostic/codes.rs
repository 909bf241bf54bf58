//! The stable diagnostic codes, each with a title and a longer explanation for `twin explain`.
//!
//! Codes are never reused or renumbered: tools and CI scripts may match on them.

/// One code with its documentation.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The code, e.g. `E0007`.
    pub code: &'static str,
    /// A short title.
    pub title: &'static str,
    /// A longer explanation with an example, printed by `twin explain`.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($name:ident => $title:literal, $expl:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: &str = stringify!($name);
        )*
        /// Every code, in order.
        pub const ALL: &[CodeInfo] = &[
            $(CodeInfo { code: stringify!($name), title: $title, explanation: $expl },)*
        ];
    };
}

codes! {
    E0001 => "unrecognised character", r#"
The lexer found text that is not a twin token: a character outside the language, or a string
with no closing `"` on its line. Names use ASCII letters, digits, `_` and `µ`; the operators are
`+ - * / ^` (also `·` and `×`), the comparisons, and the words `and`, `or` and `not`.

Erroneous example:

```twin
model M {
    covariate weight: kg = 70 kg
    covariate age: year = 50 year
    let f: 1 = if weight > 100 kg && age > 65 year { 0.8 } else { 1 }
}
```

Fixed:

```twin
model M {
    covariate weight: kg = 70 kg
    covariate age: year = 50 year
    let f: 1 = if weight > 100 kg and age > 65 year { 0.8 } else { 1 }
}
```
"#;
    E0002 => "unexpected end of file", r#"
The file ended while a declaration was still open: usually a block missing its closing `}`, or a
statement missing its value after `=`. The label at the end of the file says what the parser
still expected there.

Erroneous example:

```twin
model M {
    compartment central: mg
    flow central -> out = 0.1 /h * central
```

Fixed:

```twin
model M {
    compartment central: mg
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0003 => "unexpected token", r#"
The parser found a token that cannot come at this point; the label lists what could. Typical
causes are a missing `-> unit` on a `fn`, `:` where `=` belongs, or a missing `,` between list
items or `match` arms. Note that a name written right after a number is read as the number's
unit (`50 L`), which can make the next token unexpected.

Erroneous example:

```twin
fn size(weight: kg) = weight / 70 kg
```

Fixed (a function declares the unit of its result):

```twin
fn size(weight: kg) -> 1 = weight / 70 kg
```
"#;
    E0004 => "unknown name", r#"
A name is used where it is not defined. Inside a model, expressions see the model's covariates,
genotypes, params, states, `let`s and observables (a pathway's names from outside it as
`pathway.name`), unit names and the time `t`; a `fn` body sees only its own parameters. The same
code covers unknown functions, genes, `vary` targets, trial settings that are not covariates or
genotypes of the model, and bare `activity` outside a `gene` block. The help suggests close
spellings, or the `use` that would import a stdlib item.

Erroneous example:

```twin
model M {
    compartment central: mg
    flow central -> out = 0.1 /h * centrl
}
```

Fixed:

```twin
model M {
    compartment central: mg
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0005 => "unknown unit", r#"
A unit name is neither in the prelude (`mg`, `L`, `h`, `d`, `year`, `mol`, `%`, …) nor declared
with `unit`. Units are part of every quantity's type, so twin cannot check a value with an unknown
unit. Declare a new base unit with `unit IU`, or a derived one with `unit mcg = 1 µg`. In a unit
position only the number `1` may stand for a unit: write `1/h`, not `2/h`.

Erroneous example:

```twin
model M {
    covariate age: yr = 50 yr
}
```

Fixed:

```twin
model M {
    covariate age: year = 50 year
}
```
"#;
    E0006 => "duplicate definition", r#"
The same name is declared twice where names must be unique: items of a file, definitions in a
model (a `pathway` is a separate namespace), parameters of a `fn`, alleles, covariate levels,
arms and endpoints. Things allowed once are reported the same way: a second `molecular_weight`,
`vary` of one param, `population`, `sample` or `ancestry`, a covariate drawn or set twice.

Erroneous example:

```twin
model M {
    param cl: L/h = 5 L/h
    param cl: L/h = 1 L/h
    compartment central: mg; flow central -> out = cl / 50 L * central
}
```

Fixed:

```twin
model M {
    param cl_hepatic: L/h = 5 L/h
    param cl_renal: L/h = 1 L/h
    compartment central: mg; flow central -> out = (cl_hepatic + cl_renal) / 50 L * central
}
```
"#;
    E0007 => "incompatible units", r#"
Two values that must have the same dimension do not: the operands of `+`, `-` and comparisons,
the branches of `if` and the arms of `match`, the arguments of `min`, `max`, `hill(x, x50, n)` and
of `time_above` and friends, and the bin edges of a `stratify`. twin converts between units of one
dimension (`1 g + 500 mg` is fine) but never between dimensions. A bare number is dimensionless.

Erroneous example:

```twin
model M {
    covariate weight: kg = 70 kg
    let f: 1 = if weight > 100 { 0.8 } else { 1 }
}
```

Fixed:

```twin
model M {
    covariate weight: kg = 70 kg
    let f: 1 = if weight > 100 kg { 0.8 } else { 1 }
}
```
"#;
    E0008 => "value does not have the declared unit", r#"
A value's dimension differs from the unit declared for it: a `param`, `let` or `observe` with
`: unit`, the result of a `fn`, a covariate's default or a value set for it in a trial, and
`molecular_weight`, which must also be a positive constant in `g/mol`. The declared unit is a
promise the rest of the model relies on, so twin checks it rather than adopting the value's unit.

Erroneous example:

```twin
model M {
    param cl: L/h = 5 L
    compartment central: mg
    flow central -> out = cl / 50 L * central
}
```

Fixed:

```twin
model M {
    param cl: L/h = 5 L/h
    compartment central: mg
    flow central -> out = cl / 50 L * central
}
```
"#;
    E0009 => "flow rate has the wrong unit", r#"
In `flow A -> B = rate`, the rate is the amount moved per time, in the unit of `A` per time:
`mg/h` (or `mg/min`, `g/d`, …) for a compartment in `mg`. A rate constant alone (`1/h`) is not a
flow; multiply it by the compartment. This check is what keeps flows mass-balanced.

Erroneous example:

```twin
model M {
    param cl: L/h = 5 L/h
    param v: L = 50 L
    compartment central: mg
    flow central -> out = cl / v
}
```

Fixed:

```twin
model M {
    param cl: L/h = 5 L/h
    param v: L = 50 L
    compartment central: mg
    flow central -> out = cl / v * central
}
```
"#;
    E0010 => "derivative has the wrong unit", r#"
The right-hand side of `d/dt x = …` must be in the unit of the state `x` per time: `1/h` for a
dimensionless state, `mg/L/h` for a concentration. A result in the state's own unit, or in that
unit times a time, usually means a rate constant is missing or divided by instead of multiplied.

Erroneous example:

```twin
model M {
    state factor: 1 = 1
    param kout: 1/h = 0.03 /h
    d/dt factor = (1 - factor) / kout
}
```

Fixed:

```twin
model M {
    state factor: 1 = 1
    param kout: 1/h = 0.03 /h
    d/dt factor = kout * (1 - factor)
}
```
"#;
    E0011 => "invalid power", r#"
A value with a unit can only be raised to a constant whole power (`conc^2`): the unit of
`conc^1.5` is no unit at all. Make the base dimensionless first, as in `(conc / ec50)^gamma`, or
use `hill(x, x50, n)`. Likewise `sqrt` needs a dimensionless value or even powers (`m^2`).

Erroneous example:

```twin
model M {
    compartment central: mg
    let conc: mg/L = central / 50 L
    let effect: 1 = conc^1.5 / ((2 mg/L)^1.5 + conc^1.5)
}
```

Fixed:

```twin
model M {
    compartment central: mg
    let conc: mg/L = central / 50 L
    let effect: 1 = hill(conc, 2 mg/L, 1.5)
}
```
"#;
    E0012 => "function argument has the wrong unit", r#"
An argument of a `fn` call does not have the dimension of the parameter it is passed to. Each
argument is converted to its parameter's declared unit (a height in `cm` is fine for a parameter
in `m`), so only a different dimension is an error; it often means swapped arguments.

Erroneous example:

```twin
fn bmi(weight: kg, height: m) -> kg/m^2 = weight / height^2
model M {
    covariate weight: kg = 70 kg
    covariate height: cm = 175 cm
    let b: kg/m^2 = bmi(height, weight)
}
```

Fixed:

```twin
fn bmi(weight: kg, height: m) -> kg/m^2 = weight / height^2
model M {
    covariate weight: kg = 70 kg
    covariate height: cm = 175 cm
    let b: kg/m^2 = bmi(weight, height)
}
```
"#;
    E0013 => "wrong arguments", r#"
A call has the wrong number of arguments, a named argument the function does not have, or
misses one. Builtins (`exp`, `hill`, `max`, …) and endpoint aggregates (`auc`, `value`, …) take
positional arguments only; a `fn` may also be called with `name: value`. The help shows the
expected signature.

Erroneous example:

```twin
model M {
    state conc: mg/L = 1 mg/L
    d/dt conc = -0.1 /h * conc
    let effect: 1 = hill(conc, 2 mg/L)
}
```

Fixed:

```twin
model M {
    state conc: mg/L = 1 mg/L
    d/dt conc = -0.1 /h * conc
    let effect: 1 = hill(conc, 2 mg/L, 1)
}
```
"#;
    E0014 => "dimensionless value required", r#"
A value with a unit is used where only a pure number makes sense: the argument of `exp`, `log`,
`log10`, `logit` and `expit`, an exponent, a Hill coefficient, a CV, a bioavailability, a
frequency, probability or correlation. `log(70 kg)` would change with the unit it is written in;
divide by a reference value of the same unit first.

Erroneous example:

```twin
model M {
    covariate weight: kg = 70 kg
    let effect: 1 = 0.3 * log(weight)
}
```

Fixed:

```twin
model M {
    covariate weight: kg = 70 kg
    let effect: 1 = 0.3 * log(weight / 70 kg)
}
```
"#;
    E0015 => "non-exhaustive match", r#"
A `match` leaves some cases without an arm. A match on a genotype must cover every diplotype of
the gene, on `phenotype(g)` every phenotype class, on a categorical covariate every level: a
virtual patient can have any of them, and twin will not invent a value for one. Add the missing
arms, or a catch-all `_ => …`.

Erroneous example:

```twin
use pgx.VKORC1
model M {
    genotype vkorc1: VKORC1 = GG
    let ec50: mg/L = match vkorc1 { GG => 4.61 mg/L, GA => 3.02 mg/L }
}
```

Fixed:

```twin
use pgx.VKORC1
model M {
    genotype vkorc1: VKORC1 = GG
    let ec50: mg/L = match vkorc1 { GG => 4.61 mg/L, GA => 3.02 mg/L, AA => 2.20 mg/L }
}
```
"#;
    E0016 => "invalid match pattern", r#"
A pattern names a case that does not exist: a diplotype the gene cannot form (`"*1/*4"` when the
gene has no `*4` allele), a phenotype class the gene does not define, or a level the covariate
does not have. The same check applies to genotype defaults, genotype settings in trial arms,
`categorical(...)` draws and comparisons such as `cyp2c9 == "*1/*3"`.

Erroneous example:

```twin
model M {
    covariate sex: {female, male} = female
    let f: 1 = match sex { female => 0.8, man => 1 }
}
```

Fixed:

```twin
model M {
    covariate sex: {female, male} = female
    let f: 1 = match sex { female => 0.8, male => 1 }
}
```
"#;
    E0017 => "dose incompatible with its target", r#"
An amount is put into a compartment whose unit has another dimension: a dose of `500 mL` into a
compartment in `mg`, an infusion `rate` that is not the compartment's unit per time, a flow into
a compartment of a different kind than its source, or an initial value in the wrong unit.
(Mass into an amount compartment is E0018.)

Erroneous example:

```twin
model M { compartment central: mg; flow central -> out = 0.1 /h * central }
trial T {
    model M
    arm standard { dose 500 mL into central every 12 h for 7 d }
}
```

Fixed:

```twin
model M { compartment central: mg; flow central -> out = 0.1 /h * central }
trial T {
    model M
    arm standard { dose 500 mg into central every 12 h for 7 d }
}
```
"#;
    E0018 => "molecular weight required", r#"
A dose, flow or initial value converts between mass (`mg`) and amount of substance (`µmol`),
which takes the drug's molecular weight. twin never guesses it: declare
`molecular_weight = … g/mol` in the model, and doses and flows are converted through it.

Erroneous example:

```twin
model M {
    compartment central: µmol
    flow central -> out = 0.1 /h * central
}
trial T { model M; arm a { dose 5 mg into central } }
```

Fixed:

```twin
model M {
    molecular_weight = 308.33 g/mol
    compartment central: µmol
    flow central -> out = 0.1 /h * central
}
trial T { model M; arm a { dose 5 mg into central } }
```
"#;
    E0019 => "type mismatch", r#"
A value of the wrong kind: a condition where a number is needed or the reverse, a genotype or
category used as a number, calling something that is not a function, `match` on a number. The
code also covers values that change over time where a per-patient value is required: a `param`
cannot depend on a state or observable (use `let`; a param of `t` or of a `let` of `t` is a
time-varying param), and initial values, doses and population settings may use only covariates,
genotypes and params.

Erroneous example:

```twin
model M {
    covariate sex: {female, male} = female
    let f: 1 = if sex { 0.8 } else { 1 }
}
```

Fixed:

```twin
model M {
    covariate sex: {female, male} = female
    let f: 1 = if sex == female { 0.8 } else { 1 }
}
```
"#;
    E0020 => "unknown import", r#"
A `use` names a module that does not exist, or an item the module does not define. The standard
library modules are `pgx` (genes), `pk` and `pd` (functions); units of the prelude need no `use`.

Erroneous example:

```twin
use pgx.{CYP2C9, VKORC}
```

Fixed:

```twin
use pgx.{CYP2C9, VKORC1}
```
"#;
    E0021 => "not a compartment", r#"
Flows and doses move amounts between compartments, so the source and target of a `flow` and the
target of a `dose` must be a declared `compartment` (or `state`), not a param, `let` or
observable. An unknown name in these positions is reported with this code as well.

Erroneous example:

```twin
model M {
    compartment central: mg
    let conc: mg/L = central / 50 L
    flow conc -> out = 5 L/h * conc
}
```

Fixed:

```twin
model M {
    compartment central: mg
    let conc: mg/L = central / 50 L
    flow central -> out = 5 L/h * conc
}
```
"#;
    E0022 => "invalid state or derivative", r#"
`d/dt` equations belong to `state`s, one each: a `compartment` changes only through its flows
(which keeps mass balance by construction), `d/dt` of a name that is not a state is meaningless,
a state with two equations is ambiguous, and a state with none has no dynamics.

Erroneous example:

```twin
model M {
    compartment central: mg
    d/dt central = -0.1 /h * central
}
```

Fixed:

```twin
model M {
    compartment central: mg
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0023 => "circular definition", r#"
Params, `let`s and observables may be declared in any order; twin sorts them by what they depend
on. A definition that depends on itself, directly or through others, has no order and no value.
Break the cycle: one of the names must be a constant, or a state with a `d/dt`.

Erroneous example:

```twin
model M {
    param v: L = 50 L
    param cl: L/h = k * v
    param k: 1/h = cl / v
    compartment central: mg; flow central -> out = k * central
}
```

Fixed:

```twin
model M {
    param v: L = 50 L
    param cl: L/h = 5 L/h
    param k: 1/h = cl / v
    compartment central: mg; flow central -> out = k * central
}
```
"#;
    E0024 => "invalid unit declaration", r#"
A `unit` declaration cannot be accepted: its symbol is already a unit (units are global, and the
prelude already defines the common ones such as `mg`, `h` and `mmHg`), or its factor is zero.
(The same code reports a broken unit prelude.)

Erroneous example:

```twin
unit mmHg = 133.322 Pa
```

Fixed (use the prelude's `mmHg`, or declare a unit that does not exist yet):

```twin
unit cmH2O = 98.0665 Pa
```
"#;
    E0025 => "invalid distribution", r#"
A random effect, residual error or population distribution is malformed. `vary p ~` takes
`lognormal`, `normal` or `logit` with one named argument (`cv`, `omega`, `sd` or `variance`), and
only params vary; `observe` errors are `proportional(…)`, `additive(…)` or their sum. Population
draws are `normal(mean, sd)`, `lognormal(median, cv)` and `uniform(min, max)` in the covariate's
unit, or `categorical(level: p, …)` summing to 1. SDs and CVs are positive.

Erroneous example:

```twin
model M {
    param ka: 1/h = 1 /h
    vary ka ~ lognormal(median: 1 /h, cv: 30%)
    compartment gut: mg; flow gut -> out = ka * gut
}
```

Fixed (the median is the param's own value):

```twin
model M {
    param ka: 1/h = 1 /h
    vary ka ~ lognormal(cv: 30%)
    compartment gut: mg; flow gut -> out = ka * gut
}
```
"#;
    E0026 => "invalid gene declaration", r#"
A `gene` block does not describe a consistent set of diplotypes. Allele frequencies for each
ancestry must lie in [0, 1] and sum to 1; at most one allele may omit `freq` and take the
remainder; every allele lists the same ancestries. When phenotype classes are declared, every
diplotype must fall in one class, and `activity` rules need every allele to have an activity.

Erroneous example:

```twin
gene G {
    allele A freq { european: 0.7 }
    allele B freq { european: 0.2 }
}
```

Fixed (the reference allele takes the remainder, 0.8):

```twin
gene G {
    allele A
    allele B freq { european: 0.2 }
}
```
"#;
    E0027 => "invalid trial", r#"
A trial is incomplete or inconsistent. It names exactly one known `model` and has at least one
`arm`; a population size is a positive whole number; if the model has genotypes the population
needs an `ancestry` known to every gene, with fractions summing to 1; `stratify by` takes
genotypes, `phenotype(g)`, covariates, and quantities the model computes for each patient (a
`param`, or a `let` computed only from covariates, genotypes and params); continuous covariates
and computed quantities need increasing `bins`, in a unit of their dimension (E0007 otherwise).
A `let` that uses a state, an observable or `t` changes during the simulation and cannot put a
patient in a stratum.

Erroneous example:

```twin
model M { covariate weight: kg = 70 kg; compartment central: mg }
trial T {
    model M
    arm a { dose 100 mg into central }
    stratify by weight
}
```

Fixed:

```twin
model M { covariate weight: kg = 70 kg; compartment central: mg }
trial T {
    model M
    arm a { dose 100 mg into central }
    stratify by weight bins [60 kg, 80 kg]
}
```
"#;
    E0028 => "invalid endpoint", r#"
An endpoint is one number per virtual patient, so it summarises the time course with an
aggregate (`max`, `min`, `mean`, `auc`, `value(x, t)`, `time_above`, `fraction_of_time`, …) rather
than using a state, `let` or observable directly. Aggregates and time windows
(`from 0 h to 24 h`) exist only in endpoints, and a window must end after it starts.

Erroneous example:

```twin
model M { compartment central: mg; flow central -> out = 0.1 /h * central }
trial T {
    model M
    arm a { dose 100 mg into central }
    endpoint peak = central
}
```

Fixed:

```twin
model M { compartment central: mg; flow central -> out = 0.1 /h * central }
trial T {
    model M
    arm a { dose 100 mg into central }
    endpoint peak = max(central, from 0 h to 24 h)
}
```
"#;
    E0029 => "unit overflow or too many base units", r#"
A unit can no longer be represented exactly. twin keeps every unit as small integer powers of
base units times an exact fraction, so a high power of a unit with a scale (`kg^20` is
10^60 g^20) overflows; so do very long chains of prefixed units. At most 12 base units exist,
the prelude's four included, so declaring more new ones with `unit NAME` fails too. Make values
dimensionless before raising them to high powers.

Erroneous example:

```twin
model M {
    covariate weight: kg = 70 kg
    let heavy: 1 = weight^20 / ((70 kg)^20 + weight^20)
}
```

Fixed:

```twin
model M {
    covariate weight: kg = 70 kg
    let heavy: 1 = hill(weight, 70 kg, 20)
}
```
"#;
    E0030 => "invalid correlation", r#"
In `correlate a, b = ρ`, ρ lies strictly between -1 and 1 and `a`, `b` differ: in a model both
are params with a `vary` random effect, in a population both are covariates drawn from `normal` or
`lognormal`. All correlations together must form a positive definite matrix.

Erroneous example:

```twin
model M {
    param cl: L/h = 5 L/h
    param v: L = 50 L
    vary cl ~ lognormal(cv: 30%)
    correlate cl, v = 0.5
    compartment central: mg; flow central -> out = cl / v * central
}
```

Fixed:

```twin
model M {
    param cl: L/h = 5 L/h
    param v: L = 50 L
    vary cl ~ lognormal(cv: 30%)
    vary v ~ lognormal(cv: 20%)
    correlate cl, v = 0.5
    compartment central: mg; flow central -> out = cl / v * central
}
```
"#;
    E0031 => "invalid schedule", r#"
A dose or sampling schedule cannot be simulated. Times (`at`, `every`, `for`, `over`, `lag`,
sampling, the time of `value`) must be constant times; intervals, durations, rates and counts
positive; bioavailability between 0 and 100%. Repeated dosing needs `every` and takes `for` a
duration or a number of `times`, not both; an infusion takes `over` or `rate`, not both; and each
option appears once per dose.

Erroneous example:

```twin
model M { compartment central: mg; flow central -> out = 0.1 /h * central }
trial T {
    model M
    arm a { dose 100 mg into central for 7 d }
}
```

Fixed:

```twin
model M { compartment central: mg; flow central -> out = 0.1 /h * central }
trial T {
    model M
    arm a { dose 100 mg into central every 12 h for 7 d }
}
```
"#;
    E0032 => "recursive function", r#"
twin functions are not recursive: a `fn` body may call builtins and the functions declared before
it, but not itself, so every function is a closed-form expression that always terminates and can
be unit-checked once (functions are inlined into the model). Write the closed form instead.

Erroneous example:

```twin
fn accumulation(k: 1/h, tau: h, n: 1) -> 1 =
    if n <= 1 { 1 } else { 1 + exp(-k * tau) * accumulation(k, tau, n - 1) }
```

Fixed:

```twin
fn accumulation(k: 1/h, tau: h, n: 1) -> 1 =
    (1 - exp(-n * k * tau)) / (1 - exp(-k * tau))
```
"#;
    E0033 => "table rows not in increasing order", r#"
The first column of a `table` must increase strictly from row to row: the value at `x` is
interpolated between the two rows around it, which is only defined when every `x` appears once
and in order. A repeated `x` usually means a copied row; a step (a jump in the value) is written
with two close but distinct `x` values.

Erroneous example:

```twin
table dose_band(weight: kg) -> mg {
    10: 100,
    30: 250,
    20: 200,
}
```

Fixed:

```twin
table dose_band(weight: kg) -> mg {
    10: 100,
    20: 200,
    30: 250,
}
```
"#;
    E0034 => "table too short or not finite", r#"
A `table` needs at least two rows (a line between two points), and every number in it must be
finite: a literal such as `1e400` does not fit in a 64-bit float, and neither may the slope
between two rows (`0: 0, 1e-300: 1e300`). For a value that does not depend on the argument, write
a `fn` instead.

Erroneous example:

```twin
table clearance_by_age(age: year) -> L/h {
    0: 1.5,
}
```

Fixed:

```twin
table clearance_by_age(age: year) -> L/h {
    0: 1.5,
    18: 6.0,
}
```
"#;
    E0035 => "malformed table row", r#"
A `table` row is two plain numbers, `x: y`, in the units written in the header: the first column
in the argument's unit, the second in the result unit. A row cannot carry its own unit or be an
expression; convert the numbers when you write the table (a generator script can do it).

Values between rows are interpolated linearly; below the first row a table gives the first row's
value and above the last row the last row's value.

Erroneous example:

```twin
table liver_mass(age: year) -> kg {
    0 year: 130 g,
    1 year: 330 g,
}
```

Fixed:

```twin
table liver_mass(age: year) -> kg {
    0: 0.13,
    1: 0.33,
}
```
"#;
    E0036 => "bases of a model disagree", r#"
A model that `extends` several bases merges them left to right; a later base's statement replaces
an earlier base's statement that sets the same thing (the same name at the same pathway level, the
same `d/dt` target, flow or `vary` target). When two bases set it differently the model must say
which one it means: a statement in the model itself replaces both. Keeping independent parts in
their own `pathway` namespaces avoids such clashes.

Erroneous example:

```twin
model Pk { param k: 1/h = 0.1 /h; compartment central: mg; flow central -> out = k * central }
model Turnover {
    param k: 1/h = 0.05 /h
    state r: 1 = 1
    d/dt r = k * (1 - r)
}
model Both extends Pk, Turnover {}
```

Fixed:

```twin
model Pk { param k: 1/h = 0.1 /h; compartment central: mg; flow central -> out = k * central }
model Turnover {
    pathway response {
        param k: 1/h = 0.05 /h
        state r: 1 = 1
        d/dt r = k * (1 - r)
    }
}
model Both extends Pk, Turnover {}
```
"#;
    E0037 => "undefined input", r#"
A model declares `input NAME: unit` for a value it uses but does not define, such as the drug
concentration driving an effect model. Such a model is a part to be extended: it can be checked
and extended, but not run or used in a trial until a model that extends it defines the input with
a `let`, `param`, `observe`, covariate or state of the same name (in the model itself or in
another of its bases).

Erroneous example:

```twin
model Effect {
    input conc: mg/L
    observe effect: 1 = conc / (2 mg/L + conc)
}
trial T { model Effect; arm a {} }
```

Fixed:

```twin
model Effect {
    input conc: mg/L
    observe effect: 1 = conc / (2 mg/L + conc)
}
model Drug extends Effect {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    let conc: mg/L = central / 10 L
}
trial T { model Drug; arm a { dose 100 mg into central } }
```
"#;
    E0038 => "input defined with another unit", r#"
The definition that meets an `input` must have the input's dimension (any unit of that dimension
converts exactly): an input `conc: mg/L` is met by a mass concentration such as `ng/mL`, not by an
amount or a molar concentration.

Erroneous example:

```twin
model Effect {
    input conc: mg/L
    observe effect: 1 = conc / (2 mg/L + conc)
}
model Drug extends Effect {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    let conc: mg = central
}
```

Fixed:

```twin
model Effect {
    input conc: mg/L
    observe effect: 1 = conc / (2 mg/L + conc)
}
model Drug extends Effect {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    let conc: mg/L = central / 10 L
}
```
"#;
    E0039 => "invalid dose search", r#"
`find dose of ARM so STAT(endpoint) == TARGET` scales every dose amount and infusion rate of the
arm by one factor until the statistic of the endpoint over the arm's patients equals the target.
The clause is refused when the arm has no doses to scale, when its dose is searched twice, when
an arm is its own reference (`… of ARM` names the searched arm), when a reference arm has its own
dose searched (a reference runs at its written dose), when the reference side is not the same
statistic of the same endpoint, when a rate target is outside 0–100 %, or when the tolerance of
`within` is not a fraction between 0 and 100 %.

Erroneous example:

```twin
model Pk {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / 20 L
}

trial T {
    model Pk
    arm adult { dose 100 mg into central }
    arm child { dose 50 mg into central }
    endpoint exposure = auc(conc, from 0 h to 48 h)
    find dose of child so median(exposure) == median(exposure) of child
}
```

Fixed:

```twin
model Pk {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / 20 L
}

trial T {
    model Pk
    arm adult { dose 100 mg into central }
    arm child { dose 50 mg into central }
    endpoint exposure = auc(conc, from 0 h to 48 h)
    find dose of child so median(exposure) == median(exposure) of adult
}
```
"#;
    E0040 => "statistic does not apply to the endpoint", r#"
A dose search targets a statistic of an endpoint over an arm's patients: `mean`, `median`,
`geomean` (geometric mean) or a quantile `p1` … `p99` of a numeric endpoint, or `rate`, the
responder rate of a true/false endpoint. Anything else on either side of `==` is this error: an
unknown statistic, a statistic of something that is not a single endpoint name, `rate` of a
numeric endpoint, or a median of a true/false endpoint.

Erroneous example:

```twin
model Pk {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / 20 L
}

trial T {
    model Pk
    arm a { dose 100 mg into central }
    endpoint peak = max(conc)
    find dose of a so rate(peak) == 50%
}
```

Fixed:

```twin
model Pk {
    compartment central: mg
    flow central -> out = 0.1 /h * central
    observe conc: mg/L = central / 20 L
}

trial T {
    model Pk
    arm a { dose 100 mg into central }
    endpoint above_target = max(conc) > 4 mg/L
    find dose of a so rate(above_target) == 50%
}
```
"#;
    E0041 => "`for` over an empty list", r#"
A `for` statement repeats its body once for each name of its list; an empty list `[]` repeats it
never, which is almost certainly a mistake (a list emptied while editing).

Erroneous example:

```twin
model M {
    for t in [] {
        compartment {t}: mg
    }
}
```

Fixed:

```twin
model M {
    for t in [gut, central] {
        compartment {t}: mg
    }
    flow gut -> central = 1 /h * gut
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0042 => "name listed twice in a `for`", r#"
Every name in the list of a `for` must be different: the body would otherwise be expanded twice
for the same name and define the same statements twice.

Erroneous example:

```twin
model M {
    for t in [gut, central, gut] {
        compartment {t}: mg
    }
}
```

Fixed:

```twin
model M {
    for t in [gut, central] {
        compartment {t}: mg
    }
    flow gut -> central = 1 /h * gut
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0043 => "unknown splice variable", r#"
Inside a `for` body, `{name}` glued to a name (`cb_{t}`) or standing alone as a name (`{t}`) is a
splice: it is replaced by the current element of the list of the enclosing `for` whose variable
is `name`. A splice of a name that no enclosing `for` binds is this error, as is an inner `for`
that reuses the variable of an outer one. A block written right after a name inside a `for` body
(`if ok{x}`) needs a space before its `{`.

Erroneous example:

```twin
model M {
    param q_gut: L/h = 1 L/h
    compartment central: mg
    for t in [gut] {
        compartment {t}: mg
        flow {t} -> central = q_{organ} / 1 L * {t}
    }
    flow central -> out = 0.1 /h * central
}
```

Fixed:

```twin
model M {
    param q_gut: L/h = 1 L/h
    compartment central: mg
    for t in [gut] {
        compartment {t}: mg
        flow {t} -> central = q_{t} / 1 L * {t}
    }
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0044 => "splice makes a keyword", r#"
Replacing the splices of a templated name must give a name. A list element can complete a
template into a keyword (`le{t}` with `t = t` gives `let`), which cannot name anything.

Erroneous example:

```twin
model M {
    compartment central: mg
    for t in [t, x] {
        param le{t}: L = 1 L
    }
    flow central -> out = 0.1 /h * central
}
```

Fixed:

```twin
model M {
    compartment central: mg
    for t in [t, x] {
        param v_{t}: L = 1 L
    }
    flow central -> out = 1 L/h / (v_t + v_x) * central
}
```
"#;
    E0045 => "value outside its domain", r##"
A `param` declares the values it may take after its unit: `> 0 L`, `>= 0`, `< 1`, `<= 100 L/h`,
or an interval `in [0, 1]`, `in (0 L, 100 L]` (square brackets include the bound, round ones
exclude it). Without a declaration, volumes must be `> 0`, clearances and flows (volume per time)
and rate constants (per time) `>= 0`; other params may take any value. A typical value that is a
constant outside its domain is this error; a value that depends on the patient (covariates,
random effects) is checked when each patient is set up, and a patient outside it fails with the
param, its value and the domain. The bounds must be constants in the param's unit, lower first.

Erroneous example:

```twin
model M {
    param v: L = 0 L
    param fu: 1 in [0, 1] = 1.3
    compartment central: mg
    flow central -> out = fu * 5 L/h / v * central
}
```

Fixed:

```twin
model M {
    param v: L = 50 L
    param fu: 1 in [0, 1] = 0.3
    compartment central: mg
    flow central -> out = fu * 5 L/h / v * central
}
```

A param that may be negative declares so: `param slope: 1/h >= -1 /h = -0.02 /h`.
"##;
    E0046 => "unit after a divisor", r##"
A unit written after a number binds to that number only (`120 mL`); a following `/min` is a
second division. So `crcl / 120 mL/min` reads as one quantity but means `(crcl / 120 mL) / min`,
which has the wrong dimension or, worse, the right one by accident. twin refuses a unit name
written right after the `/` that follows a divisor with a unit, and asks for the reading meant.

Erroneous example:

```twin
model M {
    covariate crcl: mL/min = 100 mL/min
    param renal: 1 = crcl / 120 mL/min
    compartment central: mg
    flow central -> out = renal * 5 L/h / 50 L * central
}
```

Fixed:

```twin
model M {
    covariate crcl: mL/min = 100 mL/min
    param renal: 1 = crcl / (120 mL/min)
    compartment central: mg
    flow central -> out = renal * 5 L/h / 50 L * central
}
```
"##;
    E0047 => "nesting too deep", r#"
An expression or unit nests deeper than twin accepts (256 levels). The measure counts the open
brackets `(`, `[` and `{`, plus the operators (`+ - * / ^ %`, comparisons, `and`, `or`, `not`,
`if`) written since the last `=`, `,`, `:`, `;` or statement keyword at each bracket level: a
chain of 300 `+` is 300 deep, and so are 300 nested parentheses. Reading stops at the token that
goes past the limit.

Erroneous example (300 nested parentheses, shortened):

```text
model M {
    let x: mg = ((((((((((((((((((( … 1 mg … )))))))))))))))))))
}
```

Fixed: name the parts with `let` and combine the names.

```twin
model M {
    compartment central: mg
    let a: mg = 1 mg + 2 mg + 3 mg
    let b: mg = 4 mg + 5 mg
    let total: mg = a + b
    flow central -> out = 0.1 /h * central
}
```
"#;
    E0048 => "source file too large", r#"
A source file is larger than twin reads (8 MiB, 8 388 608 bytes). A model or trial of that size
is almost certainly generated by mistake; nothing in it is parsed, and a larger file is not
read past the limit.

Erroneous example: a generated file of 9 MB.

```text
$ twin check generated.twin
[E0048] Error: the source is larger than 8388608 bytes (8 MiB), the most twin reads
```

Fixed: split the text into modules that `use` one another, or check the generator.
"#;
    E0049 => "sampling grid too large", r#"
A run or a trial asks for more output than twin accepts, and is refused before anything is
computed: a sampling grid (`twin run --until … --every …`) or a trial's evaluation grid (its
sampling times refined to at most 1 h apart) of more than 10 000 000 points, or trajectories of
more than 1 000 000 000 values (patients × sampling times × observables).

Erroneous example:

```text
twin run model.twin --until 1e9h --every 1h
```

Fixed: sample more coarsely (a larger `--every`) or over a shorter time, e.g.
`--until 1e9h --every 1000h`.
"#;
    E0050 => "bad cohort file", r#"
`population from "cohort.csv"` could not use its file: it cannot be read, is larger than 256 MiB
or has more than 10 000 000 rows, or a cell, a header or a unit is wrong. The message names the
row (the file's line number), the column and the value. A model covariate that the file does not
record and the population block does not draw is also E0050.

Erroneous example (the file has `weight [kg]` and `sex`; `age` is neither in it nor drawn):

```text
model M { covariate weight: kg = 70 kg; covariate age: year = 50 year; … }
trial T { model M; population from "cohort.csv" { } … }
```

Fixed: add an `age [year]` column to the file, or draw it in the block:
`population from "cohort.csv" { age ~ normal(mean: 50 year, sd: 10 year) }`.
"#;
    E0051 => "bad dose adjustment", r#"
`bioavailability STATE = …` and `lag STATE = …` set the fraction F and the lag time of every dose
into a state (NONMEM's `F1` and `ALAG1`). The target must be a compartment or state of the
model; F is a fraction (no unit) and the lag a time; both are fixed per patient (they may use
params, covariates and genotypes, not the states or anything that changes over time), neither
may be negative, and each may be set once per state.

Erroneous example:

```twin
model M {
    param tlag: h = 0.5 h
    compartment gut: mg
    compartment central: mg
    flow gut -> central = 1 /h * gut
    lag gut = 30 mg
}
```

Fixed: a lag is a time, `lag gut = tlag`.
"#;
    E0052 => "bad fit for a population", r#"
`population from fit "DIR"` could not use the fit in `DIR/fit.json` (written by `twin fit --out
DIR`): the file cannot be read or is not a fit, the fit is of another model, the model no longer
has a fitted random effect or a recorded covariate or genotype, the fit estimated params
(`--estimate`, which the trial cannot apply silently), a subject's posterior covariance is not
positive definite, or `id "X"` names no fitted subject. The source before `fit` must be the word
`fit`.

Erroneous example (subject 99 was not in the data):

```text
trial T { model M; population from fit "fit_out" id "99" resample 1000 { } … }
```

Fixed: name a subject of `fit_out/individuals.csv`.
"#;
    E0053 => "bad protocol statement", r#"
A protocol arm's `visit`, `when` rule or dose limit is wrong:

- a rule reads something that is not measured at a visit. Rules see the model's observables as
  measured (model value plus residual error), `dose` (the next planned administration), `t`,
  covariates, genotypes and params; a state or `let` must be observed (`observe x`) first;
- an action is unknown or has the wrong unit: `scale dose by` takes a plain number, `set dose to`
  an amount of the dose's kind, `delay` and `set interval to` a time, `hold` a whole number of
  doses; nothing follows `stop`;
- a rule has no action, or its count (`N times`) is not a whole number;
- a visit time is negative or not a constant, a visit step is not positive, or a schedule lists
  more than 100 000 visits;
- `round dose to` / `cap dose at` is not a positive constant amount;
- a protocol arm starts a dose `at steady state`, or reads `dose` without a dose.

Erroneous example (`anc` is in cells/L, not an amount):

```text
when anc < 0.5 mg { delay 7 d }
```

Fixed: `when anc < 0.5e9/L { delay 7 d }`.
"#;
    W0001 => "unused parameter", r#"
A `param` of a model is never used inside the model: no flow, equation, `let`, observable or
other param refers to it. It is probably a leftover, or a sign of a misspelling. A `vary`
random effect on it does not count as a use.

Erroneous example:

```twin
model M {
    param cl: L/h = 5 L/h
    param q: L/h = 2 L/h
    compartment central: mg
    flow central -> out = cl / 50 L * central
}
```

Fixed:

```twin
model M {
    param cl: L/h = 5 L/h
    compartment central: mg
    flow central -> out = cl / 50 L * central
}
```
"#;
    W0002 => "unused definition", r#"
A `let` that nothing in the model uses: no flow, equation, observable or other definition refers
to it. Remove it, or `observe` it if it is an output. Unused params are reported as W0001.

Erroneous example:

```twin
model M {
    compartment central: mg
    let conc: mg/L = central / 50 L
    flow central -> out = 0.1 /h * central
}
```

Fixed:

```twin
model M {
    compartment central: mg
    observe conc: mg/L = central / 50 L
    flow central -> out = 0.1 /h * central
}
```
"#;
    W0003 => "per-occasion effects without occasions", r#"
The model has random effects `per occasion` (inter-occasion variability) and the trial draws a
population, but declares no occasions: the whole trial is then one occasion, and each patient's
per-occasion η simply adds to its between-patient η for the whole simulation. Declare when
occasions start.

Erroneous example:

```twin
model M {
    param cl: L/h = 5 L/h
    vary cl ~ lognormal(cv: 30%)
    vary cl ~ lognormal(cv: 15%) per occasion
    compartment central: mg
    flow central -> out = cl / 50 L * central
}
trial T {
    model M
    population 100 { }
    arm a { dose 100 mg into central every 24 h for 28 d }
}
```

Fixed:

```twin
trial T {
    model M
    population 100 { }
    arm a { dose 100 mg into central every 24 h for 28 d }
    occasion every 7 d
}
```
"#;
    W0005 => "rule that can never fire", r#"
A protocol rule is applied at visits, and this one can never be: the arm has no visit, every
visit is after the end of the simulation, or the rule asks for more visits (`N times`) than the
arm has. The trial still runs; the rule changes nothing.

Erroneous example:

```text
arm A { dose 5 mg into gut every 24 h for 84 d; when inr > 4 { hold 1 dose } }
```

Fixed: add `visit every 7 d until 12 wk` (or `visit before each dose`) to the arm.
"#;
    W0004 => "fit not made yet", r#"
A trial's `population from fit "DIR"` names a directory without a `fit.json`: `twin fit` has not
written it yet. The file still checks, and `twin fit` of a model in the same file works (that is
how the fit is made), but running the trial is an error until the fit exists.

Erroneous example:

```text
trial T { model M; population from fit "fit_out" { } … }
```

Fixed: `twin fit model.twin --data data.csv --out fit_out`, then run the trial.
"#;
}

/// Looks up a code (case-insensitive, `7` and `E7` accepted).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    let c = code.trim().to_uppercase();
    let normal = if let Some(rest) = c.strip_prefix('E').or_else(|| c.strip_prefix('W')) {
        rest.parse::<u32>()
            .ok()
            .map(|n| format!("{}{n:04}", &c[..1]))
    } else {
        c.parse::<u32>().ok().map(|n| format!("E{n:04}"))
    };
    let normal = normal?;
    ALL.iter().find(|i| i.code == normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_explanation_with_an_example() {
        for info in ALL {
            let text = info.explanation.trim();
            assert!(!text.is_empty(), "{} has no explanation", info.code);
            assert!(
                text.contains("Erroneous example"),
                "the explanation of {} has no \"Erroneous example\"",
                info.code
            );
            assert!(
                text.contains("Fixed"),
                "the explanation of {} has no fixed example",
                info.code
            );
        }
    }
}
