//! Statistics for trial summaries: the normal distribution (CDF, quantile), sample moments,
//! quantiles, confidence intervals for proportions and differences, and bins for strata.
//!
//! Everything here is a pure function of its arguments. Inputs are expected to be finite: a NaN
//! propagates into means and SDs and sorts last in quantiles (callers leave failed patients out
//! before summarising). All intervals are two-sided 95 % intervals unless a `z` is passed.
//!
//! Algorithms:
//! - `erfc`: the rational approximations of FreeBSD's `s_erf.c` (Sun fdlibm, 1993), error below
//!   1 ulp, relative accuracy kept deep into the upper tail (erfc(26) ≈ 5.7e-296).
//! - Normal quantile: Wichura's algorithm AS 241 (`PPND16`, Appl. Statist. 37:477–484, 1988),
//!   relative accuracy about 1e-16 for p in (1e-300, 1 − 1e-16).
//! - Quantiles: Hyndman & Fan type 7, the default of R's `quantile()`.
//! - Proportions: Wilson score interval; differences by Newcombe's hybrid score method (method 10
//!   of Newcombe 1998, Stat Med 17:873–890).
//! - Differences of means: Welch's unequal-variance standard error with a normal critical value
//!   (independent groups), or the SD of paired differences (same patients in two arms).

// The approximation coefficients keep the digits of their published sources.
#![allow(clippy::excessive_precision)]

/// The 97.5 % point of the standard normal distribution, z for two-sided 95 % intervals.
pub const Z95: f64 = 1.959_963_984_540_054;

/// An estimate with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Point estimate.
    pub estimate: f64,
    /// Lower limit.
    pub low: f64,
    /// Upper limit.
    pub high: f64,
}

/// Summary statistics of one sample: n, mean, SD and the quantiles of a trial summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample SD (n − 1 denominator).
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// 5 % quantile (type 7).
    pub q05: f64,
    /// 25 % quantile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75 % quantile.
    pub q75: f64,
    /// 95 % quantile.
    pub q95: f64,
    /// Largest value.
    pub max: f64,
}

// ------------------------------------------------------------------------------------------------
// The normal distribution

// Coefficients of fdlibm's s_erf.c (the hexadecimal images are in the original source).
const ERX: f64 = 8.450_629_115_104_675_292_97e-1;
const EFX: f64 = 1.283_791_670_955_125_863_16e-1;
const PP: [f64; 5] = [
    1.283_791_670_955_125_585_61e-1,
    -3.250_421_072_470_014_993_70e-1,
    -2.848_174_957_559_851_047_66e-2,
    -5.770_270_296_489_441_591_57e-3,
    -2.376_301_665_665_016_260_84e-5,
];
const QQ: [f64; 5] = [
    3.979_172_239_591_553_528_19e-1,
    6.502_224_998_876_729_444_85e-2,
    5.081_306_281_875_765_627_76e-3,
    1.324_947_380_043_216_445_26e-4,
    -3.960_228_278_775_368_123_20e-6,
];
const PA: [f64; 7] = [
    -2.362_118_560_752_659_440_77e-3,
    4.148_561_186_837_483_316_66e-1,
    -3.722_078_760_357_013_238_47e-1,
    3.183_466_199_011_617_536_74e-1,
    -1.108_946_942_823_966_774_76e-1,
    3.547_830_432_561_823_593_71e-2,
    -2.166_375_594_868_790_843_00e-3,
];
const QA: [f64; 6] = [
    1.064_208_804_008_442_282_86e-1,
    5.403_979_177_021_710_489_37e-1,
    7.182_865_441_419_626_628_68e-2,
    1.261_712_198_087_616_421_12e-1,
    1.363_708_391_202_905_073_62e-2,
    1.198_449_984_679_910_741_70e-2,
];
const RA: [f64; 8] = [
    -9.864_944_034_847_148_227_05e-3,
    -6.938_585_727_071_817_643_72e-1,
    -1.055_862_622_532_329_098_14e1,
    -6.237_533_245_032_600_603_96e1,
    -1.623_966_694_625_734_703_55e2,
    -1.846_050_929_067_110_359_94e2,
    -8.128_743_550_630_659_342_46e1,
    -9.814_329_344_169_145_485_92,
];
const SA: [f64; 8] = [
    1.965_127_166_743_925_712_92e1,
    1.376_577_541_435_190_426_00e2,
    4.345_658_774_752_292_288_21e2,
    6.453_872_717_332_678_803_36e2,
    4.290_081_400_275_678_333_86e2,
    1.086_350_055_417_794_351_34e2,
    6.570_249_770_319_281_701_35,
    -6.042_441_521_485_809_874_38e-2,
];
const RB: [f64; 7] = [
    -9.864_942_924_700_099_285_97e-3,
    -7.992_832_376_805_230_065_74e-1,
    -1.775_795_491_775_475_198_89e1,
    -1.606_363_848_558_219_160_62e2,
    -6.375_664_433_683_896_277_22e2,
    -1.025_095_131_611_077_249_54e3,
    -4.835_191_916_086_513_970_19e2,
];
const SB: [f64; 7] = [
    3.033_806_074_348_245_829_24e1,
    3.257_925_129_965_739_188_26e2,
    1.536_729_586_084_436_959_94e3,
    3.199_858_219_508_595_539_08e3,
    2.553_050_406_433_164_425_83e3,
    4.745_285_412_069_553_672_15e2,
    -2.244_095_244_658_581_833_62e1,
];

/// `c[0] + c[1]·x + … + c[n]·x^n` by Horner's rule.
fn poly(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
}

/// `1 + c[0]·x + c[1]·x² + …`.
fn poly1(c: &[f64], x: f64) -> f64 {
    1.0 + x * poly(c, x)
}

/// The complementary error function erfc(x) = (2/√π) ∫ₓ^∞ e^(−t²) dt.
///
/// fdlibm's method: a rational approximation of erf on |x| < 0.84375, a Taylor-like rational
/// expansion around 1 on [0.84375, 1.25), and erfc(x) = exp(−x² − 0.5625 + R(1/x²)/S(1/x²)) / x
/// beyond, with the −x² split into an exactly representable part to keep relative accuracy.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x == f64::NEG_INFINITY {
        return 2.0;
    }
    let neg = x < 0.0;
    let a = x.abs();
    if a < 0.843_75 {
        if a < 1.0 / (1u64 << 56) as f64 {
            return 1.0 - x;
        }
        let z = x * x;
        let y = poly(&PP, z) / poly1(&QQ, z);
        if x < 0.25 {
            return 1.0 - (x + x * y);
        }
        let r = x * y + (x - 0.5);
        return 0.5 - r;
    }
    if a < 1.25 {
        let s = a - 1.0;
        let p = poly(&PA, s) / poly1(&QA, s);
        return if neg { 1.0 + ERX + p } else { 1.0 - ERX - p };
    }
    if a < 28.0 {
        let s = 1.0 / (a * a);
        let (r, q) = if a < 1.0 / 0.35 {
            (poly(&RA, s), poly1(&SA, s))
        } else {
            if neg && a > 6.0 {
                return 2.0;
            }
            (poly(&RB, s), poly1(&SB, s))
        };
        // z = a with the low 32 bits of the mantissa cleared, so that z² is exact.
        let z = f64::from_bits(a.to_bits() & 0xffff_ffff_0000_0000);
        let e = (-z * z - 0.5625).exp() * ((z - a) * (z + a) + r / q).exp() / a;
        return if neg { 2.0 - e } else { e };
    }
    if neg { 2.0 } else { 0.0 }
}

/// erf(x) = 1 − erfc(x) (accurate in absolute terms; use [`erfc`] for tails).
pub fn erf(x: f64) -> f64 {
    if x.abs() < 0.843_75 {
        if x.abs() < 1.0 / (1u64 << 28) as f64 {
            return x + EFX * x;
        }
        let z = x * x;
        return x + x * (poly(&PP, z) / poly1(&QQ, z));
    }
    if x < 0.0 {
        erfc(-x) - 1.0
    } else {
        1.0 - erfc(x)
    }
}

/// The standard normal CDF Φ(x) = erfc(−x/√2) / 2, relatively accurate in the lower tail
/// (Φ(−37) ≈ 5.7e-300); in the upper tail use `1 − Φ(x) = Φ(−x)`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

const AS241_A: [f64; 8] = [
    3.387_132_872_796_366_608_0,
    1.331_416_678_917_843_774_5e2,
    1.971_590_950_306_551_442_7e3,
    1.373_169_376_550_946_112_5e4,
    4.592_195_393_154_987_145_7e4,
    6.726_577_092_700_870_085_3e4,
    3.343_057_558_358_812_810_5e4,
    2.509_080_928_730_122_672_7e3,
];
const AS241_B: [f64; 8] = [
    1.0,
    4.231_333_070_160_091_125_2e1,
    6.871_870_074_920_579_083_0e2,
    5.394_196_021_424_751_107_7e3,
    2.121_379_430_158_659_586_7e4,
    3.930_789_580_009_271_061_0e4,
    2.872_908_573_572_194_267_4e4,
    5.226_495_278_852_854_561_0e3,
];
const AS241_C: [f64; 8] = [
    1.423_437_110_749_683_577_34,
    4.630_337_846_156_545_295_90,
    5.769_497_221_460_691_405_50,
    3.647_848_324_763_204_605_04,
    1.270_458_252_452_368_382_58,
    2.417_807_251_774_506_117_70e-1,
    2.272_384_498_926_918_458_33e-2,
    7.745_450_142_783_414_076_40e-4,
];
const AS241_D: [f64; 8] = [
    1.0,
    2.053_191_626_637_758_821_87,
    1.676_384_830_183_803_849_40,
    6.897_673_349_851_000_045_50e-1,
    1.481_039_764_274_800_745_90e-1,
    1.519_866_656_361_645_719_66e-2,
    5.475_938_084_995_344_946_00e-4,
    1.050_750_071_644_416_843_24e-9,
];
const AS241_E: [f64; 8] = [
    6.657_904_643_501_103_777_20,
    5.463_784_911_164_114_369_90,
    1.784_826_539_917_291_335_80,
    2.965_605_718_285_048_912_30e-1,
    2.653_218_952_657_612_309_30e-2,
    1.242_660_947_388_078_438_60e-3,
    2.711_555_568_743_487_578_15e-5,
    2.010_334_399_292_288_132_65e-7,
];
const AS241_F: [f64; 8] = [
    1.0,
    5.998_322_065_558_879_376_90e-1,
    1.369_298_809_227_358_053_10e-1,
    1.487_536_129_085_061_485_25e-2,
    7.868_691_311_456_132_591_00e-4,
    1.846_318_317_510_054_681_80e-5,
    1.421_511_758_316_445_888_70e-7,
    2.044_263_103_389_939_785_64e-15,
];

/// The standard normal quantile Φ⁻¹(p) by Wichura's AS 241 (PPND16): a rational function of
/// q = p − ½ for |q| ≤ 0.425, otherwise of r = √(−ln min(p, 1 − p)) on r ≤ 5 and r > 5.
/// Returns −∞ for p = 0, +∞ for p = 1 and NaN outside [0, 1].
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        return q * poly(&AS241_A, r) / poly(&AS241_B, r);
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let r = (-r.ln()).sqrt();
    let v = if r <= 5.0 {
        let r = r - 1.6;
        poly(&AS241_C, r) / poly(&AS241_D, r)
    } else {
        let r = r - 5.0;
        poly(&AS241_E, r) / poly(&AS241_F, r)
    };
    if q < 0.0 { -v } else { v }
}

// ------------------------------------------------------------------------------------------------
// Moments and quantiles

/// The arithmetic mean Σx / n (NaN for an empty slice). Summed with a second, corrective pass
/// (mean + Σ(x − mean)/n) to limit rounding error.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    m + xs.iter().map(|x| x - m).sum::<f64>() / n
}

/// The sample variance Σ(x − x̄)² / (n − 1) (NaN for fewer than two values), two-pass.
pub fn variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    let (ss, s) = xs.iter().fold((0.0, 0.0), |(ss, s), x| {
        let d = x - m;
        (ss + d * d, s + d)
    });
    let n = xs.len() as f64;
    // Corrected two-pass formula (Chan, Golub & LeVeque): subtracts the rounding error of the mean.
    ((ss - s * s / n) / (n - 1.0)).max(0.0)
}

/// The sample standard deviation √variance (n − 1 denominator; NaN for fewer than two values).
pub fn sd(xs: &[f64]) -> f64 {
    variance(xs).sqrt()
}

/// The sample correlation coefficient Σ(x − x̄)(y − ȳ) / √(Σ(x − x̄)² Σ(y − ȳ)²) of paired
/// values (NaN if the lengths differ or fewer than two pairs).
pub fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
    if xs.len() != ys.len() || xs.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    sxy / (sxx * syy).sqrt()
}

/// The type-7 quantile of already sorted values (R's default): with h = (n − 1)·p,
/// Q(p) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋ + 1] − x[⌊h⌋]) (0-based). NaN for an empty slice or p outside
/// [0, 1].
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let frac = h - lo as f64;
    if frac == 0.0 { a } else { a + frac * (b - a) }
}

/// Sorts a copy of `xs` (NaN last).
fn sorted_copy(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The type-7 quantile of `xs` at probability `p` (see [`quantile_sorted`]); sorts a copy.
pub fn quantile(xs: &[f64], p: f64) -> f64 {
    quantile_sorted(&sorted_copy(xs), p)
}

/// The 2.5 % and 97.5 % type-7 quantiles of the finite values of `xs` (which it sorts in place,
/// dropping the others): the band of a posterior prediction. NaN for none.
pub fn central_95(xs: &mut Vec<f64>) -> (f64, f64) {
    xs.retain(|x| x.is_finite());
    xs.sort_by(f64::total_cmp);
    (quantile_sorted(xs, 0.025), quantile_sorted(xs, 0.975))
}

/// Type-7 quantiles of `xs` at each of `ps`, sorting once.
pub fn quantiles(xs: &[f64], ps: &[f64]) -> Vec<f64> {
    let s = sorted_copy(xs);
    ps.iter().map(|&p| quantile_sorted(&s, p)).collect()
}

/// n, mean, SD, min, 5/25/50/75/95 % type-7 quantiles and max of `xs`.
pub fn summarize(xs: &[f64]) -> Summary {
    let s = sorted_copy(xs);
    let q = |p| quantile_sorted(&s, p);
    Summary {
        n: xs.len(),
        mean: mean(xs),
        sd: sd(xs),
        min: s.first().copied().unwrap_or(f64::NAN),
        q05: q(0.05),
        q25: q(0.25),
        median: q(0.5),
        q75: q(0.75),
        q95: q(0.95),
        max: s.last().copied().unwrap_or(f64::NAN),
    }
}

// ------------------------------------------------------------------------------------------------
// Intervals

/// The Wilson score interval for a proportion x/n at critical value z:
/// centre = (p̂ + z²/2n) / (1 + z²/n), half-width = z/(1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²),
/// with p̂ = x/n as the estimate. For n = 0 the estimate is NaN and the interval [0, 1].
pub fn wilson_z(successes: u64, n: u64, z: f64) -> Interval {
    if n == 0 {
        return Interval {
            estimate: f64::NAN,
            low: 0.0,
            high: 1.0,
        };
    }
    let nf = n as f64;
    let p = successes.min(n) as f64 / nf;
    let z2 = z * z;
    let den = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / den;
    let half = z / den * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    Interval {
        estimate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// The 95 % Wilson score interval for a proportion x/n (see [`wilson_z`]); e.g. 8/10 →
/// [0.490, 0.943].
pub fn wilson(successes: u64, n: u64) -> Interval {
    wilson_z(successes, n, Z95)
}

/// The difference p₁ − p₂ of two independent proportions x₁/n₁ − x₂/n₂ with Newcombe's hybrid
/// score interval (method 10): with Wilson limits (l₁, u₁), (l₂, u₂) at the same z,
/// [d − √((p₁ − l₁)² + (u₂ − p₂)²), d + √((u₁ − p₁)² + (p₂ − l₂)²)]. 95 %.
pub fn newcombe_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Interval {
    let a = wilson(x1, n1);
    let b = wilson(x2, n2);
    let d = a.estimate - b.estimate;
    let down = ((a.estimate - a.low).powi(2) + (b.high - b.estimate).powi(2)).sqrt();
    let up = ((a.high - a.estimate).powi(2) + (b.estimate - b.low).powi(2)).sqrt();
    Interval {
        estimate: d,
        low: d - down,
        high: d + up,
    }
}

/// The difference of means of two independent groups, x̄₁ − x̄₂ ± z·√(s₁²/n₁ + s₂²/n₂) (Welch's
/// standard error with a normal critical value, 95 %; adequate for trial-sized groups). NaN
/// limits if either group has fewer than two values.
pub fn welch_difference(a: &[f64], b: &[f64]) -> Interval {
    let d = mean(a) - mean(b);
    let se = (variance(a) / a.len() as f64 + variance(b) / b.len() as f64).sqrt();
    Interval {
        estimate: d,
        low: d - Z95 * se,
        high: d + Z95 * se,
    }
}

/// The mean paired difference of two arms given to the same patients, mean(aᵢ − bᵢ) ±
/// z·sd(aᵢ − bᵢ)/√n (normal approximation, 95 %). Pairs are taken position by position; NaN if
/// the lengths differ. For 0/1 responder values this is the paired difference of proportions.
pub fn paired_difference(a: &[f64], b: &[f64]) -> Interval {
    if a.len() != b.len() {
        return Interval {
            estimate: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let d = mean(&diffs);
    let se = sd(&diffs) / (diffs.len() as f64).sqrt();
    Interval {
        estimate: d,
        low: d - Z95 * se,
        high: d + Z95 * se,
    }
}

// ------------------------------------------------------------------------------------------------
// Bins

/// The bin of `x` for increasing `edges` e₀ < e₁ < … < eₖ₋₁: bin 0 is x < e₀, bin i is
/// eᵢ₋₁ ≤ x < eᵢ, bin k is x ≥ eₖ₋₁ (k + 1 bins in all). `None` for NaN.
pub fn bin_index(edges: &[f64], x: f64) -> Option<usize> {
    if x.is_nan() {
        return None;
    }
    Some(edges.partition_point(|&e| e <= x))
}

/// Labels of the k + 1 bins of [`bin_index`], with `unit` appended when not empty:
/// `<60 kg`, `60-80 kg`, …, `>=100 kg` (each bin includes its lower edge).
pub fn bin_labels(edges: &[f64], unit: &str) -> Vec<String> {
    let u = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    let mut out = Vec::with_capacity(edges.len() + 1);
    if let Some(first) = edges.first() {
        out.push(format!("<{first}{u}"));
    }
    for w in edges.windows(2) {
        out.push(format!("{}-{}{u}", w[0], w[1]));
    }
    match edges.last() {
        Some(last) => out.push(format!(">={last}{u}")),
        None => out.push("all".to_string()),
    }
    out
}
