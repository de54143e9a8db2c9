//! Forward-mode dual numbers: `x = re + sum_i eps_i e_i` with `e_i e_j = 0`.
//!
//! Passing [`Dual`] scalars through a sweep differentiates it exactly (Theorem A's envelope
//! identities: `dF/dtau_j = -H(Y_j)`, `dF/dt = E[u_k]` for `u_k -> (1+t) u_k`; the
//! Hessian of the dual as a multilevel covariance). `N` tangent directions travel in one
//! sweep. Comparisons (`<`, `min`, `max`, `==`) look at the real part only, which is what a
//! sweep needs: it branches on values, never on derivatives.

use std::cmp::Ordering;
use std::num::FpCategory;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

use num_traits::{Float, Num, NumCast, One, ToPrimitive, Zero};

use crate::numerics::Real;

/// A dual number with `N` tangent directions.
#[derive(Debug, Clone, Copy)]
pub struct Dual<const N: usize> {
    /// The value.
    pub re: f64,
    /// The derivatives along each direction.
    pub eps: [f64; N],
}

impl<const N: usize> Dual<N> {
    /// A constant (all derivatives zero).
    pub fn constant(re: f64) -> Self {
        Self { re, eps: [0.0; N] }
    }

    /// The variable number `i`: derivative 1 along direction `i`.
    ///
    /// # Panics
    /// If `i >= N`.
    pub fn variable(re: f64, i: usize) -> Self {
        let mut eps = [0.0; N];
        eps[i] = 1.0;
        Self { re, eps }
    }

    /// A value with the given derivatives.
    pub fn new(re: f64, eps: [f64; N]) -> Self {
        Self { re, eps }
    }

    /// `f(re) + f'(re) * eps`: the chain rule for a scalar function.
    #[inline]
    fn chain(self, f: f64, df: f64) -> Self {
        let mut eps = self.eps;
        if df.is_finite() && df != 0.0 {
            // Fast path (vectorisable): finite tangents times a finite slope are never NaN.
            for e in &mut eps {
                *e *= df;
            }
            return Self { re: f, eps };
        }
        for e in &mut eps {
            // A zero tangent or a zero slope (e.g. exp at -inf) gives exactly 0, never NaN.
            *e = if *e == 0.0 || df == 0.0 { 0.0 } else { *e * df };
        }
        Self { re: f, eps }
    }
}

impl<const N: usize> PartialEq for Dual<N> {
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re
    }
}

impl<const N: usize> PartialOrd for Dual<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
}

impl<const N: usize> Add for Dual<N> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        let mut eps = self.eps;
        for (a, b) in eps.iter_mut().zip(o.eps) {
            *a += b;
        }
        Self {
            re: self.re + o.re,
            eps,
        }
    }
}

impl<const N: usize> Sub for Dual<N> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        let mut eps = self.eps;
        for (a, b) in eps.iter_mut().zip(o.eps) {
            *a -= b;
        }
        Self {
            re: self.re - o.re,
            eps,
        }
    }
}

impl<const N: usize> Mul for Dual<N> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        let mut eps = [0.0; N];
        if self.re.is_finite() && o.re.is_finite() {
            // Fast path (vectorisable): no infinite factor, so no 0 * inf to guard against.
            for (i, e) in eps.iter_mut().enumerate() {
                *e = self.eps[i] * o.re + self.re * o.eps[i];
            }
            return Self {
                re: self.re * o.re,
                eps,
            };
        }
        for (i, e) in eps.iter_mut().enumerate() {
            // Zero tangents contribute nothing, even against infinite values.
            let a = if self.eps[i] == 0.0 {
                0.0
            } else {
                self.eps[i] * o.re
            };
            let b = if o.eps[i] == 0.0 {
                0.0
            } else {
                self.re * o.eps[i]
            };
            *e = a + b;
        }
        Self {
            re: self.re * o.re,
            eps,
        }
    }
}

impl<const N: usize> Div for Dual<N> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        let inv = 1.0 / o.re;
        let q = self.re * inv;
        let mut eps = [0.0; N];
        if inv.is_finite() && q.is_finite() {
            // Fast path (vectorisable): finite factors only.
            for (i, e) in eps.iter_mut().enumerate() {
                *e = self.eps[i] * inv - q * o.eps[i] * inv;
            }
            return Self { re: q, eps };
        }
        for (i, e) in eps.iter_mut().enumerate() {
            let a = if self.eps[i] == 0.0 {
                0.0
            } else {
                self.eps[i] * inv
            };
            let b = if o.eps[i] == 0.0 {
                0.0
            } else {
                q * o.eps[i] * inv
            };
            *e = a - b;
        }
        Self { re: q, eps }
    }
}

impl<const N: usize> Rem for Dual<N> {
    type Output = Self;
    fn rem(self, o: Self) -> Self {
        // x % y = x - trunc(x / y) y, derivative of the x part only (a.e.).
        Self {
            re: self.re % o.re,
            eps: self.eps,
        }
    }
}

impl<const N: usize> Neg for Dual<N> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        let mut eps = self.eps;
        for e in &mut eps {
            *e = -*e;
        }
        Self { re: -self.re, eps }
    }
}

impl<const N: usize> Zero for Dual<N> {
    fn zero() -> Self {
        Self::constant(0.0)
    }
    fn is_zero(&self) -> bool {
        self.re == 0.0
    }
}

impl<const N: usize> One for Dual<N> {
    fn one() -> Self {
        Self::constant(1.0)
    }
}

impl<const N: usize> Num for Dual<N> {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Self::constant)
    }
}

impl<const N: usize> ToPrimitive for Dual<N> {
    fn to_i64(&self) -> Option<i64> {
        self.re.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.re.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.re)
    }
}

impl<const N: usize> NumCast for Dual<N> {
    fn from<T: ToPrimitive>(n: T) -> Option<Self> {
        n.to_f64().map(Self::constant)
    }
}

macro_rules! constant_fn {
    ($($name:ident),*) => {$(
        fn $name() -> Self {
            Self::constant(f64::$name())
        }
    )*};
}

macro_rules! piecewise_constant {
    ($($name:ident),*) => {$(
        fn $name(self) -> Self {
            Self::constant(self.re.$name())
        }
    )*};
}

impl<const N: usize> Float for Dual<N> {
    constant_fn!(
        nan,
        infinity,
        neg_infinity,
        neg_zero,
        min_value,
        min_positive_value,
        max_value,
        epsilon
    );
    piecewise_constant!(floor, ceil, round, trunc, signum);

    fn is_nan(self) -> bool {
        self.re.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.re.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.re.is_finite()
    }
    fn is_normal(self) -> bool {
        self.re.is_normal()
    }
    fn classify(self) -> FpCategory {
        self.re.classify()
    }
    fn fract(self) -> Self {
        Self {
            re: self.re.fract(),
            eps: self.eps,
        }
    }
    fn abs(self) -> Self {
        if self.re < 0.0 {
            -self
        } else {
            self
        }
    }
    fn is_sign_positive(self) -> bool {
        self.re.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.re.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    fn recip(self) -> Self {
        Self::one() / self
    }
    fn powi(self, n: i32) -> Self {
        let f = self.re.powi(n);
        let df = if n == 0 {
            0.0
        } else {
            n as f64 * self.re.powi(n - 1)
        };
        self.chain(f, df)
    }
    fn powf(self, n: Self) -> Self {
        // x^n = exp(n ln x)
        (n * self.ln()).exp()
    }
    fn sqrt(self) -> Self {
        let s = self.re.sqrt();
        self.chain(s, 0.5 / s)
    }
    fn exp(self) -> Self {
        let e = self.re.exp();
        self.chain(e, e)
    }
    fn exp2(self) -> Self {
        let e = self.re.exp2();
        self.chain(e, e * std::f64::consts::LN_2)
    }
    fn ln(self) -> Self {
        self.chain(self.re.ln(), 1.0 / self.re)
    }
    fn log(self, base: Self) -> Self {
        self.ln() / base.ln()
    }
    fn log2(self) -> Self {
        self.chain(self.re.log2(), 1.0 / (self.re * std::f64::consts::LN_2))
    }
    fn log10(self) -> Self {
        self.chain(self.re.log10(), 1.0 / (self.re * std::f64::consts::LN_10))
    }
    fn max(self, o: Self) -> Self {
        if self.re >= o.re || o.re.is_nan() {
            self
        } else {
            o
        }
    }
    fn min(self, o: Self) -> Self {
        if self.re <= o.re || o.re.is_nan() {
            self
        } else {
            o
        }
    }
    fn abs_sub(self, o: Self) -> Self {
        if self.re > o.re {
            self - o
        } else {
            Self::zero()
        }
    }
    fn cbrt(self) -> Self {
        let c = self.re.cbrt();
        self.chain(c, 1.0 / (3.0 * c * c))
    }
    fn hypot(self, o: Self) -> Self {
        (self * self + o * o).sqrt()
    }
    fn sin(self) -> Self {
        self.chain(self.re.sin(), self.re.cos())
    }
    fn cos(self) -> Self {
        self.chain(self.re.cos(), -self.re.sin())
    }
    fn tan(self) -> Self {
        let t = self.re.tan();
        self.chain(t, 1.0 + t * t)
    }
    fn asin(self) -> Self {
        self.chain(self.re.asin(), 1.0 / (1.0 - self.re * self.re).sqrt())
    }
    fn acos(self) -> Self {
        self.chain(self.re.acos(), -1.0 / (1.0 - self.re * self.re).sqrt())
    }
    fn atan(self) -> Self {
        self.chain(self.re.atan(), 1.0 / (1.0 + self.re * self.re))
    }
    fn atan2(self, o: Self) -> Self {
        let r2 = self.re * self.re + o.re * o.re;
        let mut eps = [0.0; N];
        for (i, e) in eps.iter_mut().enumerate() {
            *e = (o.re * self.eps[i] - self.re * o.eps[i]) / r2;
        }
        Self {
            re: self.re.atan2(o.re),
            eps,
        }
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn exp_m1(self) -> Self {
        self.chain(self.re.exp_m1(), self.re.exp())
    }
    fn ln_1p(self) -> Self {
        self.chain(self.re.ln_1p(), 1.0 / (1.0 + self.re))
    }
    fn sinh(self) -> Self {
        self.chain(self.re.sinh(), self.re.cosh())
    }
    fn cosh(self) -> Self {
        self.chain(self.re.cosh(), self.re.sinh())
    }
    fn tanh(self) -> Self {
        let t = self.re.tanh();
        self.chain(t, 1.0 - t * t)
    }
    fn asinh(self) -> Self {
        self.chain(self.re.asinh(), 1.0 / (self.re * self.re + 1.0).sqrt())
    }
    fn acosh(self) -> Self {
        self.chain(self.re.acosh(), 1.0 / (self.re * self.re - 1.0).sqrt())
    }
    fn atanh(self) -> Self {
        self.chain(self.re.atanh(), 1.0 / (1.0 - self.re * self.re))
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.re.integer_decode()
    }
}

impl<const N: usize> Real for Dual<N> {
    fn of(x: f64) -> Self {
        Self::constant(x)
    }
    fn value(self) -> f64 {
        self.re
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_of_a_composite_match_the_closed_form() {
        // f(x, y) = ln(exp(x) + y^2) / y at (0.3, 1.7)
        let x = Dual::<2>::variable(0.3, 0);
        let y = Dual::<2>::variable(1.7, 1);
        let f = (x.exp() + y * y).ln() / y;
        let (xv, yv) = (0.3f64, 1.7f64);
        let s = xv.exp() + yv * yv;
        assert!((f.re - s.ln() / yv).abs() < 1e-15);
        assert!((f.eps[0] - xv.exp() / s / yv).abs() < 1e-15);
        assert!((f.eps[1] - (2.0 * yv / s / yv - s.ln() / (yv * yv))).abs() < 1e-15);
    }

    #[test]
    fn infinite_values_with_zero_tangents_stay_clean() {
        let inf = Dual::<1>::constant(f64::INFINITY);
        let t = Dual::<1>::variable(2.0, 0);
        let p = inf * Dual::<1>::constant(0.5) + t;
        assert!(p.re.is_infinite());
        assert_eq!(p.eps[0], 1.0);
        let e = (-(inf - t) / t).exp();
        assert_eq!(e.re, 0.0);
        assert!(!e.eps[0].is_nan());
    }
}
