//! The scalar of a sweep: `f64` or a dual number, with its vectorised hot spots.

use std::fmt::Debug;

use num_traits::Float;

use super::cpu::{self, Isa};
use super::stream::copy_streaming;
use super::vector::{exp_slice, ln_1p_slice, ln_slice};
#[cfg(target_arch = "x86_64")]
use super::{lanes, pair_lanes};

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
    /// `x <- ln(1 + x)` for every element, `0 <= x <= 1` (`f64`: [`ln_1p_slice`]).
    fn ln_1p_in_place(xs: &mut [Self]) {
        for x in xs {
            *x = x.ln_1p();
        }
    }
    /// `dst <- src` for an output written once and read much later (`f64`:
    /// [`copy_streaming`], non-temporal stores).
    fn copy_out(src: &[Self], dst: &mut [Self]) {
        dst.copy_from_slice(src);
    }
    /// The groups of 8 of the top-down scaling of blocks of two with its weighted sum
    /// (`out[2y + i] *= coarse[y]`, `acc[y mod 8] += coarse[y] h[y]`), done by a faster
    /// kernel where there is one (`f64` with AVX-512): `Some((acc, blocks done))`, the rest
    /// left to the caller. `None`: nothing done.
    fn scale_pairs_lanes(
        coarse: &[Self],
        h: &[Self],
        out: &mut [Self],
    ) -> Option<([Self; 8], usize)> {
        let _ = (coarse, h, out);
        None
    }
    /// The groups of 8 of `sum_i p_i w_i` over `p_i > 0` (`acc[i mod 8]`), as
    /// [`Real::scale_pairs_lanes`].
    fn positive_dot_lanes(p: &[Self], w: &[Self]) -> Option<([Self; 8], usize)> {
        let _ = (p, w);
        None
    }
    /// The top-down step of blocks of two (`fine.len() == 2 coarse.len()`) in one pass where
    /// there is a kernel for it (`f64` with AVX-512): `fine[x] *= coarse[x / 2]`, copied
    /// into `out` as by [`Real::copy_out`], and `Some((sum_y coarse[y] h[y], sum_x fine[x]
    /// w[x]))` over `coarse[y] > 0` and `fine[x] > 0` (the second `0` without `w`). With
    /// `last` (the finest level of a tile, whose scaled values nobody reads again) `fine`
    /// may be left unscaled. `None`: nothing done.
    fn scale_pairs_out(
        coarse: &[Self],
        fine: &mut [Self],
        h: &[Self],
        w: Option<&[Self]>,
        out: &mut [Self],
        last: bool,
    ) -> Option<(Self, Self)> {
        let _ = (coarse, fine, h, w, out, last);
        None
    }
    /// The whole groups of 8 blocks of two of the bottom-up step (`gibbs_blocks` with blocks
    /// of two: conditionals, soft minima and entropies), done in registers by a faster kernel
    /// where there is one (`f64` with AVX-512), prefetching `ahead` (the input to come):
    /// the number of blocks done, the rest left to the caller (`0`: nothing done).
    fn gibbs_pairs_lanes(
        g: &[Self],
        ahead: &[Self],
        s: Self,
        cond: &mut [Self],
        soft: &mut [Self],
        entropy: &mut [Self],
    ) -> usize {
        let _ = (g, ahead, s, cond, soft, entropy);
        0
    }
    /// The soft minima alone of [`Real::gibbs_pairs_lanes`].
    fn soft_pairs_lanes(g: &[Self], ahead: &[Self], s: Self, soft: &mut [Self]) -> usize {
        let _ = (g, ahead, s, soft);
        0
    }
    /// Runs a kernel (`f`, with everything it inlines). `f64` compiles it again for AVX2 and
    /// FMA and for AVX-512, and runs the version of [`super::cpu::active`]; the results
    /// differ only by the rounding of fused multiply-adds.
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
    fn ln_1p_in_place(xs: &mut [Self]) {
        ln_1p_slice(xs);
    }
    fn copy_out(src: &[Self], dst: &mut [Self]) {
        copy_streaming(src, dst);
    }
    // SAFETY (the five below): the AVX-512 kernels run only when `active` says so, which
    // never exceeds what the CPU supports.
    #[cfg(target_arch = "x86_64")]
    fn scale_pairs_lanes(
        coarse: &[Self],
        h: &[Self],
        out: &mut [Self],
    ) -> Option<([Self; 8], usize)> {
        if_avx512(|| unsafe { lanes::scale_pairs_weighted(coarse, h, out) })
    }
    #[cfg(target_arch = "x86_64")]
    fn scale_pairs_out(
        coarse: &[Self],
        fine: &mut [Self],
        h: &[Self],
        w: Option<&[Self]>,
        out: &mut [Self],
        last: bool,
    ) -> Option<(Self, Self)> {
        if_avx512(|| unsafe { lanes::scale_pairs_out(coarse, fine, h, w, out, last) })
    }
    #[cfg(target_arch = "x86_64")]
    fn gibbs_pairs_lanes(
        g: &[Self],
        ahead: &[Self],
        s: Self,
        cond: &mut [Self],
        soft: &mut [Self],
        entropy: &mut [Self],
    ) -> usize {
        if_avx512(|| unsafe { pair_lanes::gibbs_pairs(g, ahead, s, cond, soft, entropy) })
            .unwrap_or(0)
    }
    #[cfg(target_arch = "x86_64")]
    fn soft_pairs_lanes(g: &[Self], ahead: &[Self], s: Self, soft: &mut [Self]) -> usize {
        if_avx512(|| unsafe { pair_lanes::soft_pairs(g, ahead, s, soft) }).unwrap_or(0)
    }
    #[cfg(target_arch = "x86_64")]
    fn positive_dot_lanes(p: &[Self], w: &[Self]) -> Option<([Self; 8], usize)> {
        if_avx512(|| unsafe { lanes::positive_dot(p, w) })
    }
    #[inline(always)]
    fn kernel<R, F: FnOnce() -> R>(f: F) -> R {
        match cpu::active() {
            // SAFETY: `active` never exceeds what the CPU supports.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { run_avx512(f) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { run_avx2(f) },
            _ => f(),
        }
    }
}

/// `Some(f())` if the AVX-512 kernels are the active family on this thread, else `None`.
#[cfg(target_arch = "x86_64")]
fn if_avx512<R>(f: impl FnOnce() -> R) -> Option<R> {
    (cpu::active() == Isa::Avx512).then(f)
}

/// Calls `f` from a function compiled for AVX2 and FMA, so an `#[inline(always)]` `f`
/// (and what it inlines) is compiled for them too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// [`run_avx2`] with AVX-512 (F and DQ) as well.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn run_avx512<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}
