//! The one one-dimensional root finder of the crate: every Lagrange multiplier of a scalar
//! constraint (a mean constraint on a tabulated problem or on a family, a frontier point) is
//! found here.
//!
//! The function is a continuous, monotone function of the multiplier (`E_lambda f - c`,
//! non-increasing in `lambda`; proof `proofs/monotonicity.md`). [`bracket`] doubles a step
//! outward from a point until the sign changes; [`brent`] is Brent's method (inverse
//! quadratic interpolation guarded by bisection) on the bracket, to relative tolerance
//! [`LAMBDA_RTOL`].
//!
//! Why not argmin's `BrentRoot`: its tolerance is absolute (`2 eps |b| + tol / 2`), while
//! multipliers range over `1e-308 .. 1e308` (losses spanning `1e300` give multipliers of
//! order `1e-300`), so the stopping rule must be relative with a subnormal floor; it also
//! re-evaluates both ends of the bracket, which the bracket search has already paid for (each
//! evaluation is a sweep), and its cost function cannot carry the crate's typed errors.

use crate::error::{Error, Result, Short};

/// Relative tolerance on the multiplier.
pub const LAMBDA_RTOL: f64 = 1e-15;
/// Evaluation budget of [`bracket`] and [`brent`] together.
pub const MAX_EVALUATIONS: usize = 400;

/// A sign change of `f` found by [`bracket`]: `f(a) = fa`, `f(b) = fb`, `fa fb <= 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bracket {
    /// One end.
    pub a: f64,
    /// `f(a)`.
    pub fa: f64,
    /// The other end.
    pub b: f64,
    /// `f(b)`.
    pub fb: f64,
}

/// Brackets a root of `f` starting from `(a, f(a))`: tries `b = step`, then `4 step`,
/// `16 step`, ... (each time moving `a` to the previous `b`) until `f(b)` has the other sign
/// or is zero; after every 16 tries the factor is squared (`4, 16, 256, 65536, ...`), so a
/// root `1e300` steps away (losses spanning `1e300`, a root of order 1) is bracketed within
/// about 80 evaluations, not 500. `evaluations` counts the calls of `f`.
///
/// # Errors
/// [`Error::Numerical`] when no sign change appears within [`MAX_EVALUATIONS`] or the step
/// overflows; whatever `f` returns.
pub fn bracket<F>(a: f64, fa: f64, step: f64, evaluations: &mut usize, f: &mut F) -> Result<Bracket>
where
    F: FnMut(f64) -> Result<f64>,
{
    let (mut a, mut fa) = (a, fa);
    let (mut factor, mut tries) = (4.0f64, 0u32);
    let mut b = step;
    *evaluations += 1;
    let mut fb = f(b)?;
    while fb.signum() == fa.signum() && fb != 0.0 {
        if *evaluations > MAX_EVALUATIONS || !b.is_finite() {
            return Err(Error::Numerical(format!(
                "could not bracket the multiplier (reached lambda = {})",
                Short(b)
            )));
        }
        a = b;
        fa = fb;
        tries += 1;
        if tries % 16 == 0 {
            factor *= factor;
        }
        b *= factor;
        *evaluations += 1;
        fb = f(b)?;
    }
    Ok(Bracket { a, fa, b, fb })
}

/// Brent's root finder on a bracket with `f(a) f(b) <= 0`, to relative tolerance
/// [`LAMBDA_RTOL`] (absolute floor: the smallest subnormal). `evaluations` counts calls.
///
/// ```
/// # use hmaxent::constraints::root::{brent, Bracket};
/// let mut n = 0;
/// let r = brent(Bracket { a: 1.0, fa: -1.0, b: 2.0, fb: 2.0 }, &mut n, &mut |x: f64| Ok(x * x - 2.0))?;
/// assert!((r - 2f64.sqrt()).abs() < 4e-15);
/// # Ok::<(), hmaxent::Error>(())
/// ```
///
/// # Errors
/// [`Error::Numerical`] beyond [`MAX_EVALUATIONS`]; whatever `f` returns.
pub fn brent<F>(bracket: Bracket, evaluations: &mut usize, f: &mut F) -> Result<f64>
where
    F: FnMut(f64) -> Result<f64>,
{
    let Bracket {
        mut a,
        mut fa,
        mut b,
        mut fb,
    } = bracket;
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    while *evaluations <= MAX_EVALUATIONS {
        if fb == 0.0 {
            return Ok(b);
        }
        if fb.signum() == fc.signum() {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        // The absolute floor is the smallest subnormal: multipliers of order 1/spread can be
        // as small as 1e-308 when losses span 1e300.
        let tol = 2.0 * LAMBDA_RTOL * b.abs() + f64::from_bits(1);
        let m = 0.5 * (c - b);
        if m.abs() <= tol {
            return Ok(b);
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * m * s;
                q = 1.0 - s;
            } else {
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * m * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * m * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = m;
                e = m;
            }
        } else {
            d = m;
            e = m;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(m) };
        *evaluations += 1;
        fb = f(b)?;
    }
    Err(Error::Numerical(format!(
        "the multiplier did not converge within {MAX_EVALUATIONS} evaluations (last lambda = {})",
        Short(b)
    )))
}
