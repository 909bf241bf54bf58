//! Exact rational numbers for unit scale factors.
//!
//! Input: integers or decimal literals as the lexer accepts them (`133.322`, `1e-3`, `2.5E6`).
//! Output: a [`Rational`] that is always normalised (numerator and denominator coprime, denominator
//! positive), so equal values compare equal and hash equally. Every operation that could overflow
//! `i128` is checked and returns `None` instead of wrapping or panicking.

use std::fmt;

/// An exact fraction `num / den`, always normalised: `gcd(num, den) == 1` and `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

/// Greatest common divisor of the magnitudes (`gcd(0, 0) == 0`).
fn gcd(a: i128, b: i128) -> u128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// `10^exp` as `i128`, or `None` when it does not fit.
fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

impl Rational {
    /// The number one.
    pub const ONE: Rational = Rational { num: 1, den: 1 };
    /// The number zero.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };

    /// `num / den` normalised; `None` when `den == 0` or normalisation overflows `i128`.
    pub fn new(num: i128, den: i128) -> Option<Rational> {
        if den == 0 {
            return None;
        }
        if num == 0 {
            return Some(Rational::ZERO);
        }
        let g = gcd(num, den);
        // `g` divides both magnitudes, so it is at most `2^127` only when both are `i128::MIN`.
        let g = i128::try_from(g).ok();
        let (mut n, mut d) = match g {
            Some(g) => (num / g, den / g),
            // Both are i128::MIN: the fraction is exactly 1.
            None => (1, 1),
        };
        if d < 0 {
            n = n.checked_neg()?;
            d = d.checked_neg()?;
        }
        Some(Rational { num: n, den: d })
    }

    /// The integer `n`.
    pub fn int(n: i128) -> Rational {
        Rational { num: n, den: 1 }
    }

    /// The numerator (carries the sign).
    pub fn numer(self) -> i128 {
        self.num
    }

    /// The denominator (always positive).
    pub fn denom(self) -> i128 {
        self.den
    }

    /// Parses a decimal literal exactly as the lexer accepts it:
    /// `[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`. `None` for any other text or when the value (or an
    /// intermediate power of ten) does not fit in `i128`.
    pub fn from_decimal(text: &str) -> Option<Rational> {
        let (mantissa, exp_text) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
            None => (mantissa, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return None;
        }
        if let Some(f) = frac_part
            && !all_digits(f)
        {
            return None;
        }
        let exp: i64 = match exp_text {
            None => 0,
            Some(e) => {
                let (neg, digits) = match e.as_bytes().first() {
                    Some(b'+') => (false, &e[1..]),
                    Some(b'-') => (true, &e[1..]),
                    _ => (false, e),
                };
                if !all_digits(digits) {
                    return None;
                }
                // Exponents beyond this cannot fit an i128 power of ten anyway.
                let digits = digits.trim_start_matches('0');
                if digits.len() > 6 {
                    return None;
                }
                let v: i64 = if digits.is_empty() {
                    0
                } else {
                    digits.parse().ok()?
                };
                if neg { -v } else { v }
            }
        };
        // Trailing zeros of the fraction do not change the value; dropping them keeps `0.5000…0`
        // from overflowing.
        let frac = frac_part.unwrap_or("").trim_end_matches('0');
        let mut num: i128 = 0;
        for b in int_part.bytes().chain(frac.bytes()) {
            num = num.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        let scale = exp - i64::try_from(frac.len()).ok()?;
        if num == 0 {
            return Some(Rational::ZERO);
        }
        if scale >= 0 {
            let p = pow10(u32::try_from(scale).ok()?)?;
            Some(Rational::int(num.checked_mul(p)?))
        } else {
            let p = pow10(u32::try_from(-scale).ok()?)?;
            Rational::new(num, p)
        }
    }

    /// `self * other`, or `None` on overflow.
    pub fn checked_mul(self, other: Rational) -> Option<Rational> {
        if self.num == 0 || other.num == 0 {
            return Some(Rational::ZERO);
        }
        // Cross-cancel first so that products of already-normalised fractions overflow only when
        // the result itself does not fit.
        let g1 = i128::try_from(gcd(self.num, other.den)).ok()?;
        let g2 = i128::try_from(gcd(other.num, self.den)).ok()?;
        let num = (self.num / g1).checked_mul(other.num / g2)?;
        let den = (self.den / g2).checked_mul(other.den / g1)?;
        Rational::new(num, den)
    }

    /// `self / other`, or `None` on overflow or division by zero.
    pub fn checked_div(self, other: Rational) -> Option<Rational> {
        self.checked_mul(other.recip()?)
    }

    /// `self ^ exp` for any integer exponent (negative exponents invert), or `None` on overflow or
    /// when zero is raised to a negative power. `x ^ 0 == 1` for every `x`.
    pub fn checked_pow(self, exp: i32) -> Option<Rational> {
        let base = if exp < 0 { self.recip()? } else { self };
        let mut e = exp.unsigned_abs();
        let mut acc = Rational::ONE;
        let mut sq = base;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.checked_mul(sq)?;
            }
            e >>= 1;
            if e > 0 {
                sq = sq.checked_mul(sq)?;
            }
        }
        Some(acc)
    }

    /// `1 / self`, or `None` for zero (and for a numerator of `i128::MIN`, whose sign cannot move
    /// to the denominator).
    pub fn recip(self) -> Option<Rational> {
        if self.num == 0 {
            return None;
        }
        Rational::new(self.den, self.num)
    }

    /// The nearest `f64` (computed as `num as f64 / den as f64`).
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Whether this is exactly one.
    pub fn is_one(self) -> bool {
        self == Rational::ONE
    }

    /// Whether this is exactly zero.
    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    /// The exact decimal expansion (`0.001`, `133.322`, `3600`) when the denominator has no prime
    /// factors other than 2 and 5; `None` for fractions such as 1/3.
    pub fn to_decimal_string(self) -> Option<String> {
        let mut d = self.den;
        let (mut twos, mut fives) = (0u32, 0u32);
        while d % 2 == 0 {
            d /= 2;
            twos += 1;
        }
        while d % 5 == 0 {
            d /= 5;
            fives += 1;
        }
        if d != 1 {
            return None;
        }
        let digits = twos.max(fives);
        // num / den == num * (10^digits / den) / 10^digits.
        let mult = pow10(digits)? / self.den;
        let scaled = self.num.checked_mul(mult)?;
        let sign = if scaled < 0 { "-" } else { "" };
        let mag = scaled.unsigned_abs().to_string();
        let digits = digits as usize;
        if digits == 0 {
            return Some(format!("{sign}{mag}"));
        }
        let padded = format!("{mag:0>width$}", width = digits + 1);
        let (int, frac) = padded.split_at(padded.len() - digits);
        Some(format!("{sign}{int}.{frac}"))
    }
}

impl fmt::Display for Rational {
    /// `3600` for integers, `66661/500` otherwise (always in lowest terms).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i128, d: i128) -> Rational {
        Rational::new(n, d).expect("valid fraction")
    }

    #[test]
    fn normalises_sign_and_common_factors() {
        assert_eq!(r(2, 4), r(1, 2));
        assert_eq!(r(1, -2), r(-1, 2));
        assert_eq!(r(-3, -6), r(1, 2));
        assert_eq!(r(0, -5), Rational::ZERO);
        assert_eq!(r(-1, 2).denom(), 2);
        assert_eq!(Rational::new(1, 0), None);
        assert_eq!(Rational::new(i128::MIN, i128::MIN), Some(Rational::ONE));
        assert_eq!(Rational::new(1, i128::MIN), None);
        assert_eq!(Rational::new(i128::MIN, -1), None);
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Rational::from_decimal("133.322"), Some(r(66661, 500)));
        assert_eq!(Rational::from_decimal("1e-3"), Some(r(1, 1000)));
        assert_eq!(
            Rational::from_decimal("2.5E6"),
            Some(Rational::int(2_500_000))
        );
        assert_eq!(Rational::from_decimal("0.000001"), Some(r(1, 1_000_000)));
        assert_eq!(Rational::from_decimal("365.25"), Some(r(1461, 4)));
        assert_eq!(Rational::from_decimal("1e+2"), Some(Rational::int(100)));
        assert_eq!(Rational::from_decimal("0"), Some(Rational::ZERO));
        assert_eq!(Rational::from_decimal("0.0e5"), Some(Rational::ZERO));
        assert_eq!(Rational::from_decimal("007"), Some(Rational::int(7)));
        assert_eq!(
            Rational::from_decimal("1.50000000000000000000000000000000000000000000"),
            Some(r(3, 2))
        );
        assert_eq!(Rational::from_decimal("1e-000003"), Some(r(1, 1000)));
    }

    #[test]
    fn rejects_text_the_lexer_does_not_accept() {
        for bad in [
            "", ".5", "1.", "1e", "1e+", "+1", "-1", "1.2.3", "1e3.5", "1_000", " 1", "abc", "1ee3",
        ] {
            assert_eq!(Rational::from_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn overflow_is_none() {
        assert_eq!(Rational::from_decimal("1e39"), None);
        assert_eq!(Rational::from_decimal("1e-39"), None);
        assert_eq!(Rational::from_decimal("1e9999999999"), None);
        assert_eq!(
            Rational::from_decimal("1000000000000000000000000000000000000000000"),
            None
        );
        assert!(Rational::from_decimal("1e38").is_some());
        let big = Rational::int(i128::MAX);
        assert_eq!(big.checked_mul(Rational::int(2)), None);
        assert_eq!(Rational::int(10).checked_pow(39), None);
        assert_eq!(Rational::int(10).checked_pow(-39), None);
        assert_eq!(Rational::ZERO.recip(), None);
        assert_eq!(Rational::ONE.checked_div(Rational::ZERO), None);
        assert_eq!(Rational::ZERO.checked_pow(-1), None);
    }

    #[test]
    fn arithmetic() {
        let a = r(2, 3);
        let b = r(9, 4);
        assert_eq!(a.checked_mul(b), Some(r(3, 2)));
        assert_eq!(a.checked_div(b), Some(r(8, 27)));
        assert_eq!(a.checked_pow(3), Some(r(8, 27)));
        assert_eq!(a.checked_pow(-2), Some(r(9, 4)));
        assert_eq!(a.checked_pow(0), Some(Rational::ONE));
        assert_eq!(Rational::ZERO.checked_pow(0), Some(Rational::ONE));
        assert_eq!(a.recip(), Some(r(3, 2)));
        assert_eq!(r(-2, 3).recip(), Some(r(-3, 2)));
        assert!(Rational::ONE.is_one());
        assert!((r(1, 3).to_f64() - 1.0 / 3.0).abs() < 1e-15);
        // Cross-cancellation keeps large but exact products representable.
        let huge = r(i128::MAX, 3);
        assert_eq!(huge.checked_mul(r(3, i128::MAX)), Some(Rational::ONE));
        assert_eq!(Rational::ONE.checked_pow(i32::MAX), Some(Rational::ONE));
        assert_eq!(Rational::int(2).checked_pow(i32::MIN), None);
    }

    #[test]
    fn display() {
        assert_eq!(r(1, 1000).to_string(), "1/1000");
        assert_eq!(Rational::int(3600).to_string(), "3600");
        assert_eq!(r(133_322, 1000).to_string(), "66661/500");
        assert_eq!(r(-1, 2).to_string(), "-1/2");
        assert_eq!(r(1, 1000).to_decimal_string().as_deref(), Some("0.001"));
        assert_eq!(
            r(66661, 500).to_decimal_string().as_deref(),
            Some("133.322")
        );
        assert_eq!(r(-1, 8).to_decimal_string().as_deref(), Some("-0.125"));
        assert_eq!(
            Rational::int(3600).to_decimal_string().as_deref(),
            Some("3600")
        );
        assert_eq!(r(1, 3).to_decimal_string(), None);
    }
}
