//! Physical dimensions as integer exponent vectors over base units.
//!
//! Input: base-unit ids (indices into the unit table's list of base units, at most [`MAX_BASES`]).
//! Output: a [`Dim`], e.g. `[1, -3, 0, …]` for mass/length³ when base 0 is `g` and base 1 is `m`.
//! Combining dimensions adds, subtracts or multiplies exponents; every operation is checked and
//! returns `None` instead of wrapping when an exponent leaves the `i8` range.

/// The maximum number of base units a unit table can hold.
pub const MAX_BASES: usize = 12;

/// The exponent of each base unit; index = base id. All zeros is dimensionless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dim(pub [i8; MAX_BASES]);

impl Dim {
    /// The dimensionless dimension (all exponents zero).
    pub const NONE: Dim = Dim([0; MAX_BASES]);

    /// The dimension of base unit `i` alone (exponent 1 at `i`).
    ///
    /// # Panics
    /// If `i >= MAX_BASES`; base ids come from the unit table, which never hands out such an id.
    pub fn base(i: usize) -> Dim {
        let mut d = Dim::NONE;
        d.0[i] = 1;
        d
    }

    /// The dimension of a product: exponents add. `None` if an exponent overflows `i8`.
    #[allow(clippy::should_implement_trait)] // checked: returns `Option`, unlike `Mul::mul`
    pub fn mul(self, other: Dim) -> Option<Dim> {
        let mut out = Dim::NONE;
        for (o, (a, b)) in out.0.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a.checked_add(*b)?;
        }
        Some(out)
    }

    /// The dimension of a quotient: exponents subtract. `None` if an exponent overflows `i8`.
    #[allow(clippy::should_implement_trait)] // checked: returns `Option`, unlike `Div::div`
    pub fn div(self, other: Dim) -> Option<Dim> {
        let mut out = Dim::NONE;
        for (o, (a, b)) in out.0.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a.checked_sub(*b)?;
        }
        Some(out)
    }

    /// The dimension raised to an integer power: exponents multiply. `None` on `i8` overflow.
    pub fn pow(self, n: i32) -> Option<Dim> {
        let mut out = Dim::NONE;
        for (o, a) in out.0.iter_mut().zip(self.0.iter()) {
            *o = i8::try_from(i64::from(*a) * i64::from(n)).ok()?;
        }
        Some(out)
    }

    /// The reciprocal dimension: exponents negate. `None` only for an exponent of `-128`.
    pub fn recip(self) -> Option<Dim> {
        Dim::NONE.div(self)
    }

    /// Whether every exponent is zero.
    pub fn is_dimensionless(self) -> bool {
        self == Dim::NONE
    }

    /// The base ids with a non-zero exponent, with that exponent, in base order.
    pub fn factors(self) -> impl Iterator<Item = (usize, i8)> {
        self.0.into_iter().enumerate().filter(|&(_, e)| e != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algebra() {
        let g = Dim::base(0);
        let m = Dim::base(1);
        let vol = m.pow(3).expect("small");
        let conc = g.div(vol).expect("small");
        assert_eq!(conc.0[..3], [1, -3, 0]);
        assert_eq!(conc.mul(vol), Some(g));
        assert_eq!(conc.recip().and_then(|r| r.mul(conc)), Some(Dim::NONE));
        assert!(Dim::NONE.is_dimensionless());
        assert!(!g.is_dimensionless());
        assert_eq!(Dim::default(), Dim::NONE);
        assert_eq!(conc.factors().collect::<Vec<_>>(), vec![(0, 1), (1, -3)]);
        assert_eq!(g.pow(0), Some(Dim::NONE));
        assert_eq!(g.pow(-2).map(|d| d.0[0]), Some(-2));
    }

    #[test]
    fn overflow_is_none() {
        let g = Dim::base(0);
        assert_eq!(g.pow(127).map(|d| d.0[0]), Some(127));
        assert_eq!(g.pow(128), None);
        assert_eq!(g.pow(-128).map(|d| d.0[0]), Some(-128));
        assert_eq!(g.pow(i32::MAX), None);
        let top = g.pow(127).expect("fits");
        assert_eq!(top.mul(g), None);
        let bottom = g.pow(-128).expect("fits");
        assert_eq!(bottom.div(g), None);
        assert_eq!(bottom.recip(), None);
        assert_eq!(Dim::NONE.pow(i32::MAX), Some(Dim::NONE));
    }
}
