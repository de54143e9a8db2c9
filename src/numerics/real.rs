//! The scalar of a sweep: `f64` or a dual number, with its vectorised hot spots.

use std::fmt::Debug;

use num_traits::Float;

use super::cpu::{self, Isa};
use super::vector::{exp_slice, ln_slice};

/// The scalar of a sweep: `f64`, or a forward-mode dual number carrying derivatives.
///
/// `exp_in_place` and `ln_in_place` are the hot spots of the tabulated sweep; `f64`
/// overrides them with vectorised versions accurate to about 1 ulp ([`exp_slice`],
/// [`ln_slice`]).
pub trait Real: Float + Debug + Send + Sync + 'static {
    /// Converts an `f64` constant.
    fn of(x: f64) -> Self;
    /// The value part (for duals: the primal value).
    fn value(self) -> f64;
    /// `x <- exp(x)` for every element.
    fn exp_in_place(xs: &mut [Self]) {
        for x in xs {
            *x = x.exp();
        }
    }
    /// `x <- ln(x)` for every element (`x >= 0`).
    fn ln_in_place(xs: &mut [Self]) {
        for x in xs {
            *x = x.ln();
        }
    }
    /// Runs a kernel (`f`, with everything it inlines). `f64` compiles it a second time for
    /// AVX2 and FMA and picks that version at run time on CPUs that have them; the result
    /// is the same up to the rounding of fused multiply-adds.
    #[inline(always)]
    fn kernel<R, F: FnOnce() -> R>(f: F) -> R {
        f()
    }
}

impl Real for f64 {
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn value(self) -> f64 {
        self
    }
    fn exp_in_place(xs: &mut [Self]) {
        exp_slice(xs);
    }
    fn ln_in_place(xs: &mut [Self]) {
        ln_slice(xs);
    }
    #[inline(always)]
    fn kernel<R, F: FnOnce() -> R>(f: F) -> R {
        match cpu::active() {
            // SAFETY: `active` never exceeds what the CPU supports.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { run_avx2(f) },
            _ => f(),
        }
    }
}

/// Calls `f` from a function compiled for AVX2 and FMA, so an `#[inline(always)]` `f`
/// (and what it inlines) is compiled for them too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}
