//! The numerics of the crate, in one place (SPEC §8).
//!
//! Log domain everywhere: every exponential of a loss is taken of a *shifted* loss
//! `-(g - m) / s <= 0` with `m` the block minimum, so it never overflows; `+inf` losses give
//! exact zeros; an all-`+inf` (or empty) block has soft minimum `+inf`. Nothing outside this
//! module calls `exp` on a loss.

use std::fmt::Debug;

use num_traits::Float;

use crate::hierarchy::Layout;

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
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { run_avx2(f) };
        }
        f()
    }
}

/// Calls `f` from a function compiled for AVX2 and FMA, so an `#[inline(always)]` `f`
/// (and what it inlines) is compiled for them too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Whether the CPU has AVX2 and FMA (checked once, then cached by `std`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// `x <- exp(x)` over a slice, vectorised (no branches, no libm calls), for arguments
/// `<= 709`; `-inf` gives exactly `0`, results below the normal range are subnormal or `0`.
///
/// Cody–Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, a degree-13 Taylor polynomial
/// (truncation error below `5e-18`, evaluated by Estrin's scheme), and `2^n` applied as two factors `2^n1 2^n2` so
/// subnormal results are exact to rounding. Accurate to about 1 ulp; NaN inputs are not
/// supported. On x86-64 CPUs with AVX2 and FMA a 4-lane version is chosen at run time.
pub fn exp_slice(xs: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { exp_slice_avx2(xs) };
        return;
    }
    for x in xs.iter_mut() {
        *x = exp_approx::<false>(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_slice_avx2(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = exp_approx::<true>(*x);
    }
}

/// `a * b + c`, fused when the caller is compiled with FMA (`FMA = true`).
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// `2^k` for an integer-valued `t = k + SHIFT`, `-1022 <= k <= 1023`, with integer
/// operations that vectorise on SSE2/AVX2 (no float-to-int conversion): the mantissa of
/// `t` holds `2^51 + k`, and shifting it left by 52 leaves `k` in the exponent field.
#[inline(always)]
fn pow2_shifted(t: f64) -> f64 {
    f64::from_bits((t.to_bits() << 52).wrapping_add(1023 << 52))
}

#[inline(always)]
fn exp_approx<const FMA: bool>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    #[allow(clippy::excessive_precision)]
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    #[allow(clippy::excessive_precision)]
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    let x = x.clamp(-746.0, 709.78);
    let t = madd::<FMA>(x, LOG2E, SHIFT);
    let n = t - SHIFT;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, x));
    // Degree-13 Taylor polynomial 1 + r + r^2 t(r): the tail t by Estrin's scheme (short
    // dependency chains; its rounding is damped by r^2 <= 0.121), then the two leading terms
    // in order, so the result is within about 1 ulp.
    let r2 = r * r;
    let r4 = r2 * r2;
    let t0 = madd::<FMA>(r, 1.0 / 6.0, 0.5);
    let t1 = madd::<FMA>(r, 1.0 / 120.0, 1.0 / 24.0);
    let t2 = madd::<FMA>(r, 1.0 / 5_040.0, 1.0 / 720.0);
    let t3 = madd::<FMA>(r, 1.0 / 362_880.0, 1.0 / 40_320.0);
    let t4 = madd::<FMA>(r, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0);
    let t5 = madd::<FMA>(r, 1.0 / 6_227_020_800.0, 1.0 / 479_001_600.0);
    let u0 = madd::<FMA>(t1, r2, t0);
    let u1 = madd::<FMA>(t3, r2, t2);
    let u2 = madd::<FMA>(t5, r2, t4);
    let t = madd::<FMA>(madd::<FMA>(u2, r4, u1), r4, u0);
    let p = 1.0 + madd::<FMA>(r2, t, r);
    // 2^n = 2^n1 * 2^n2 with n1 = round(n / 2), both factors normal for n >= -1076.
    let t1 = madd::<FMA>(n, 0.5, SHIFT);
    let n2 = n - (t1 - SHIFT);
    p * pow2_shifted(t1) * pow2_shifted(n2 + SHIFT)
}

/// `x <- ln(x)` over a slice, vectorised (no branches, no libm calls), for `x >= 0`:
/// `ln 0 = -inf`, `ln(+inf) = +inf`, subnormals are handled; negative or NaN inputs are
/// not supported.
///
/// `x = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))`, `ln m = 2 atanh(f)`, `f = (m - 1) / (m + 1)`,
/// `|f| <= 0.172`, an odd polynomial of degree 19 in `f` (truncation error below `3e-17`),
/// and `e ln 2` in two parts. Accurate to about 1 ulp. On x86-64 CPUs with AVX2 and FMA a
/// 4-lane version is chosen at run time.
pub fn ln_slice(xs: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { ln_slice_avx2(xs) };
        return;
    }
    for x in xs.iter_mut() {
        *x = ln_approx::<false>(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ln_slice_avx2(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = ln_approx::<true>(*x);
    }
}

#[inline(always)]
fn ln_approx<const FMA: bool>(x: f64) -> f64 {
    #[allow(clippy::excessive_precision)]
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    #[allow(clippy::excessive_precision)]
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const MANTISSA: u64 = (1 << 52) - 1;
    const TWO52: f64 = 4_503_599_627_370_496.0;
    // Subnormals: scale by 2^54 first.
    let tiny = x < f64::MIN_POSITIVE;
    let xs = if tiny {
        x * 18_014_398_509_481_984.0
    } else {
        x
    };
    let bits = xs.to_bits();
    // Biased exponent as a float, without a float-to-int conversion.
    let eb = f64::from_bits((bits >> 52) | TWO52.to_bits()) - TWO52;
    let m = f64::from_bits((bits & MANTISSA) | 1f64.to_bits());
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = eb - 1023.0 + if big { 1.0 } else { 0.0 } - if tiny { 54.0 } else { 0.0 };
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    // 2 atanh(f) = 2 (f + f^3/3 + f^5/5 + ...) = 2f + f^3 q(f^2), q up to f^18 (Estrin);
    // the first omitted term is below 2.3e-17 relative.
    let f4 = f2 * f2;
    let f8 = f4 * f4;
    let a0 = madd::<FMA>(f2, 2.0 / 5.0, 2.0 / 3.0);
    let a1 = madd::<FMA>(f2, 2.0 / 9.0, 2.0 / 7.0);
    let a2 = madd::<FMA>(f2, 2.0 / 13.0, 2.0 / 11.0);
    let a3 = madd::<FMA>(f2, 2.0 / 17.0, 2.0 / 15.0);
    let b0 = madd::<FMA>(a1, f4, a0);
    let b1 = madd::<FMA>(a3, f4, a2);
    let q = madd::<FMA>(madd::<FMA>(f8, 2.0 / 19.0, b1), f8, b0);
    // ln m = 2f + f^3 q, with 2f exact.
    let ln_m = madd::<FMA>(f * f2, q, 2.0 * f);
    let r = madd::<FMA>(e, LN2_HI, madd::<FMA>(e, LN2_LO, ln_m));
    if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        f64::INFINITY
    } else {
        r
    }
}

/// Soft min-plus product of two `q x q` matrices (row-major), the log-domain matrix product
/// of one decimation step (SPEC §6.3), with the minimum over the summed index factored out:
///
/// ```text
/// out[a][c] = -s log sum_b exp(-(left[a][b] + right[b][c]) / s)
///           = m_ac - s log sum_b exp(-(x_b - m_ac) / s),   x_b = left[a][b] + right[b][c],
///                                                           m_ac = min_b x_b
/// ```
///
/// `s > 0`; `+inf` entries weigh exactly 0 and an all-`+inf` sum gives `+inf`; no exponential
/// of an unshifted loss is taken. `scratch` must hold at least `q^3` values (its contents are
/// overwritten): the `q^3` shifted exponents are exponentiated in one [`Real::exp_in_place`]
/// call, which is vectorised for `f64`.
///
/// # Panics
/// If a slice is shorter than stated (`left`, `right`, `out`: `q^2`; `scratch`: `q^3`).
///
/// ```
/// # use hmaxent::numerics::soft_min_plus;
/// // Two binary bonds with zero loss: sum over the middle site gives -log 2 everywhere.
/// let mut out = [0.0; 4];
/// let mut scratch = [0.0; 8];
/// soft_min_plus(&[0.0; 4], &[0.0; 4], 2, 1.0, &mut out, &mut scratch);
/// assert!(out.iter().all(|&x| (x + 2f64.ln()).abs() < 1e-15));
/// ```
pub fn soft_min_plus<T: Real>(
    left: &[T],
    right: &[T],
    q: usize,
    s: T,
    out: &mut [T],
    scratch: &mut [T],
) {
    let (left, right) = (&left[..q * q], &right[..q * q]);
    let (out, scratch) = (&mut out[..q * q], &mut scratch[..q * q * q]);
    let inv_s = T::one() / s;
    let use_inv = inv_s.is_finite();
    for a in 0..q {
        let row = &left[a * q..(a + 1) * q];
        for c in 0..q {
            let w = &mut scratch[(a * q + c) * q..(a * q + c + 1) * q];
            let mut m = T::infinity();
            for (b, (x, &l)) in w.iter_mut().zip(row).enumerate() {
                *x = l + right[b * q + c];
                m = m.min(*x);
            }
            out[a * q + c] = m;
            if m == T::infinity() {
                w.iter_mut().for_each(|x| *x = T::neg_infinity());
            } else {
                for x in w.iter_mut() {
                    let d = m - *x;
                    *x = if use_inv { d * inv_s } else { d / s };
                }
            }
        }
    }
    T::exp_in_place(scratch);
    for (ac, o) in out.iter_mut().enumerate() {
        if *o != T::infinity() {
            let z = scratch[ac * q..(ac + 1) * q]
                .iter()
                .fold(T::zero(), |acc, &w| acc + w);
            *o = *o - s * z.ln();
        }
    }
}

/// Scratch length [`soft_min_plus_factored`] needs for alphabet size `q`: `2 q^2 + 3 q`.
pub fn soft_min_plus_scratch(q: usize) -> usize {
    2 * q * q + 3 * q
}

/// The `f64` soft min-plus product of [`soft_min_plus`] with row and column minima factored
/// out, so it takes `2 q^2` exponentials instead of `q^3`:
///
/// ```text
/// r_a = min_b left[a][b],  c_c = min_b right[b][c],
/// E1[a][b] = exp(-(left[a][b] - r_a) / s),  E2[b][c] = exp(-(right[b][c] - c_c) / s)
/// out[a][c] = r_a + c_c - s log sum_b E1[a][b] E2[b][c]
/// ```
///
/// Every factor is `<= 1` and the sum is of positive terms, so it is accurate to a few ulp of
/// `max(|out|, s)`. When the sum falls below about `1e-270` (the best middle state is far
/// from both minima) that entry is recomputed with its own minimum factored out, exactly as
/// [`soft_min_plus`]. If `weights` is given (`q^3` values) it receives the Gibbs weights of
/// the sum, `weights[(a q + c) q + b] = exp(-(left[a][b] + right[b][c] - out[a][c]) / s)`
/// (zeros where `out = +inf`). `scratch` needs [`soft_min_plus_scratch`]`(q)` values.
///
/// # Panics
/// If a slice is shorter than stated.
pub fn soft_min_plus_factored(
    left: &[f64],
    right: &[f64],
    q: usize,
    s: f64,
    out: &mut [f64],
    scratch: &mut [f64],
    mut weights: Option<&mut [f64]>,
) {
    // 2^-200 * 2^-200 * 1e-150, about 1e-270.
    const TINY: f64 = 1.0 / (1u128 << 100) as f64 / (1u128 << 100) as f64 / 1e210;
    let qq = q * q;
    let (left, right, out) = (&left[..qq], &right[..qq], &mut out[..qq]);
    let (e1, rest) = scratch.split_at_mut(qq);
    let (e2, rest) = rest.split_at_mut(qq);
    let (rmin, rest) = rest.split_at_mut(q);
    let (cmin, rest) = rest.split_at_mut(q);
    let terms = &mut rest[..q];
    let inv_s = 1.0 / s;
    let use_inv = inv_s.is_finite();
    let scaled = |d: f64| if use_inv { d * inv_s } else { d / s };
    for a in 0..q {
        let row = &left[a * q..(a + 1) * q];
        let m = row.iter().fold(f64::INFINITY, |acc, &x| acc.min(x));
        rmin[a] = m;
        for (e, &x) in e1[a * q..(a + 1) * q].iter_mut().zip(row) {
            *e = if m == f64::INFINITY {
                f64::NEG_INFINITY
            } else {
                scaled(m - x)
            };
        }
    }
    cmin.iter_mut().for_each(|c| *c = f64::INFINITY);
    for row in right.chunks_exact(q) {
        for (c, &x) in cmin.iter_mut().zip(row) {
            *c = c.min(x);
        }
    }
    for (erow, row) in e2.chunks_exact_mut(q).zip(right.chunks_exact(q)) {
        for ((e, &x), &m) in erow.iter_mut().zip(row).zip(cmin.iter()) {
            *e = if m == f64::INFINITY {
                f64::NEG_INFINITY
            } else {
                scaled(m - x)
            };
        }
    }
    exp_slice(e1);
    exp_slice(e2);
    for a in 0..q {
        let erow = &e1[a * q..(a + 1) * q];
        for c in 0..q {
            for (b, t) in terms.iter_mut().enumerate() {
                *t = erow[b] * e2[b * q + c];
            }
            let z: f64 = terms.iter().sum();
            let base = rmin[a] + cmin[c];
            let v = if z >= TINY {
                base - s * z.ln()
            } else if base == f64::INFINITY {
                f64::INFINITY
            } else {
                // Recompute with this entry's own minimum.
                let x = |b: usize| left[a * q + b] + right[b * q + c];
                let m = (0..q).fold(f64::INFINITY, |acc, b| acc.min(x(b)));
                if m == f64::INFINITY {
                    f64::INFINITY
                } else {
                    for (b, t) in terms.iter_mut().enumerate() {
                        *t = scaled(m - x(b)).exp();
                    }
                    m - s * terms.iter().sum::<f64>().ln()
                }
            };
            out[a * q + c] = v;
            if let Some(w) = weights.as_deref_mut() {
                let w = &mut w[(a * q + c) * q..(a * q + c + 1) * q];
                if v == f64::INFINITY {
                    w.iter_mut().for_each(|p| *p = 0.0);
                } else {
                    let inv_z = 1.0 / terms.iter().sum::<f64>();
                    for (p, &t) in w.iter_mut().zip(terms.iter()) {
                        *p = t * inv_z;
                    }
                }
            }
        }
    }
}

/// Soft minimum `-s log sum_i exp(-g_i / s)` (SPEC §3), computed with the minimum factored out.
///
/// `s = 0` gives `min g` (the zero-temperature limit); `+inf` entries weigh exactly 0; an
/// empty or all-`+inf` slice gives `+inf`.
pub fn soft_min<T: Real>(g: &[T], s: T) -> T {
    let m = min(g);
    if s == T::zero() || m == T::infinity() {
        return m;
    }
    let z = g
        .iter()
        .fold(T::zero(), |acc, &x| acc + (-(x - m) / s).exp());
    m - s * z.ln()
}

/// `log sum_i exp(a_i)` with the maximum factored out; `-inf` entries weigh 0, an empty or
/// all-`-inf` slice gives `-inf`.
pub fn log_sum_exp<T: Real>(a: &[T]) -> T {
    let m = a.iter().fold(T::neg_infinity(), |acc, &x| acc.max(x));
    if m == T::neg_infinity() {
        return m;
    }
    m + a.iter().fold(T::zero(), |acc, &x| acc + (x - m).exp()).ln()
}

/// `a` and `b` agree to 4 ulps of the larger magnitude (used to recognise constraint
/// targets that sit on a boundary up to rounding).
#[inline]
pub fn nearly_equal(a: f64, b: f64) -> bool {
    (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

/// Minimum of a slice (`+inf` when empty).
#[inline]
pub fn min<T: Real>(g: &[T]) -> T {
    g.iter().fold(T::infinity(), |acc, &x| acc.min(x))
}

/// The Gibbs distribution `p_i = exp(-(g_i - sm) / s)`, `sm = soft_min(g, s)`, into `out`.
/// An all-`+inf` block gives all zeros; `s = 0` gives the uniform distribution on the minimisers.
pub fn gibbs_into<T: Real>(g: &[T], s: T, out: &mut [T]) {
    let m = min(g);
    if m == T::infinity() {
        out.iter_mut().for_each(|p| *p = T::zero());
        return;
    }
    if s == T::zero() {
        let count = T::of(g.iter().filter(|&&x| x == m).count() as f64);
        for (p, &x) in out.iter_mut().zip(g) {
            *p = if x == m { T::one() / count } else { T::zero() };
        }
        return;
    }
    for (p, &x) in out.iter_mut().zip(g) {
        *p = -(x - m) / s;
    }
    T::exp_in_place(out);
    let z = out.iter().fold(T::zero(), |acc, &p| acc + p);
    out.iter_mut().for_each(|p| *p = *p / z);
}

/// `-p log p` with `0 log 0 = 0`.
#[inline]
pub fn entropy_term(p: f64) -> f64 {
    if p > 0.0 {
        -p * p.ln()
    } else {
        0.0
    }
}

/// An empty vector with room for `n` values of a level of the sweep, not cleared (the sweep
/// writes every value once, chunk by chunk). On Linux, the 2 MiB-aligned part of a vector of
/// at least two huge pages is marked for transparent huge pages before it is first written:
/// 2 MiB pages make those first writes (page faults) several times cheaper, and every such
/// page lies inside the vector, which the sweep fills completely, so no memory is wasted.
/// Only a hint; the contents are the same either way.
pub fn level_vec<T: Real>(n: usize) -> Vec<T> {
    let v = Vec::with_capacity(n);
    advise_huge_pages(v.as_ptr(), n * std::mem::size_of::<T>());
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(ptr: *const T, bytes: usize) {
    const HUGE: usize = 2 << 20;
    // Level tables of 2..32 MiB usually come from the allocator's heap (glibc's mmap
    // threshold grows to 32 MiB after the first large free); the hint covers only whole
    // 2 MiB pages inside this vector there too, and a heap that shrinks drops it.
    if bytes < 2 * HUGE {
        return;
    }
    let start = ptr as usize;
    let end = start + bytes;
    let first = start.next_multiple_of(HUGE);
    let last = end / HUGE * HUGE;
    if last >= first + HUGE {
        // SAFETY: `first..last` lies inside the caller's allocation; MADV_HUGEPAGE
        // only changes how the kernel backs the pages, never their contents. Errors (e.g. no
        // THP support) are ignored: the hint is optional.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_: *const T, _: usize) {}

/// `sum_i f(a_i, b_i)` over the common length, with 8 partial sums so the reduction is
/// not bound by the latency of one addition chain (and vectorises).
#[inline]
pub fn sum_pairs<T: Real, F: Fn(T, T) -> T>(a: &[T], b: &[T], f: F) -> T {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let split = n / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for (ca, cb) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] = acc[i] + f(ca[i], cb[i]);
        }
    }
    let tail = a[split..]
        .iter()
        .zip(&b[split..])
        .fold(T::zero(), |t, (&x, &y)| t + f(x, y));
    let half = |k: usize| (acc[k] + acc[k + 1]) + (acc[k + 2] + acc[k + 3]);
    (half(0) + half(4)) + tail
}

/// `out[x] <- out[x] * coarse[y]` for every child `x` of every block `y` (the top-down step
/// `P*(x) = P*(y) P*(x | y)` of SPEC §3); blocks of 2 get a loop that vectorises.
pub fn scale_blocks<T: Real>(layout: Layout<'_>, coarse: &[T], out: &mut [T]) {
    match layout {
        Layout::Uniform(2) => scale_uniform::<T, 2>(coarse, out),
        Layout::Uniform(4) => scale_uniform::<T, 4>(coarse, out),
        Layout::Uniform(b) => {
            for (block, &py) in out.chunks_exact_mut(b.max(1)).zip(coarse) {
                block.iter_mut().for_each(|c| *c = *c * py);
            }
        }
        Layout::Offsets(o) => {
            for (w, &py) in o.windows(2).zip(coarse) {
                out[w[0]..w[1]].iter_mut().for_each(|c| *c = *c * py);
            }
        }
    }
}

/// [`scale_blocks`] fused with the weighted sum `sum_y coarse[y] h[y]` (the top-down step and
/// `H(Y_k | Y_{k+1}) = sum_y P*(y) H(X | y)`), so the coarse marginal is read once. The sum
/// has the 8 partial sums of [`sum_pairs`] (for blocks of 2 and 4 the same value bit for bit).
pub fn scale_blocks_weighted<T: Real>(
    layout: Layout<'_>,
    coarse: &[T],
    h: &[T],
    out: &mut [T],
) -> T {
    match layout {
        Layout::Uniform(2) => T::kernel(
            #[inline(always)]
            || scale_uniform_weighted::<T, 2>(coarse, h, out),
        ),
        Layout::Uniform(4) => T::kernel(
            #[inline(always)]
            || scale_uniform_weighted::<T, 4>(coarse, h, out),
        ),
        _ => {
            scale_blocks(layout, coarse, out);
            sum_pairs(coarse, h, |py, hy| py * hy)
        }
    }
}

#[inline(always)]
fn scale_uniform_weighted<T: Real, const B: usize>(coarse: &[T], h: &[T], out: &mut [T]) -> T {
    const LANES: usize = 8;
    let n = coarse.len().min(h.len()).min(out.len() / B);
    let (coarse, h, out) = (&coarse[..n], &h[..n], &mut out[..n * B]);
    let split = n / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for ((c, hy), o) in coarse[..split]
        .chunks_exact(LANES)
        .zip(h[..split].chunks_exact(LANES))
        .zip(out[..split * B].chunks_exact_mut(LANES * B))
    {
        for i in 0..LANES {
            acc[i] = acc[i] + c[i] * hy[i];
            for x in &mut o[i * B..(i + 1) * B] {
                *x = *x * c[i];
            }
        }
    }
    scale_uniform::<T, B>(&coarse[split..], &mut out[split * B..]);
    let tail = coarse[split..]
        .iter()
        .zip(&h[split..])
        .fold(T::zero(), |t, (&x, &y)| t + x * y);
    let half = |k: usize| (acc[k] + acc[k + 1]) + (acc[k + 2] + acc[k + 3]);
    (half(0) + half(4)) + tail
}

#[inline(always)]
fn scale_uniform<T: Real, const B: usize>(coarse: &[T], out: &mut [T]) {
    for (block, &py) in out.chunks_exact_mut(B).zip(coarse) {
        for c in block {
            *c = *c * py;
        }
    }
}

/// Positions per chunk of the blocked kernel: small enough for L1, large enough to vectorise.
const CHUNK: usize = 512;

/// One renormalisation step over every block of a level (SPEC §3), in the log domain.
///
/// For each coarse state `y` (block `B(y)` of `g` given by `layout`), at cumulative
/// temperature `s > 0`, with `m_y = min_{B(y)} g`:
///
/// ```text
/// cond[x]    = exp(-(g[x] - m_y) / s) / Z_y,     Z_y = sum_{x in B(y)} exp(-(g[x] - m_y) / s)
/// soft[y]    = m_y - s log Z_y                    (= -s log sum exp(-g / s))
/// entropy[y] = -sum_x cond[x] log cond[x]         (= log Z_y + sum_x cond[x] (g[x] - m_y) / s)
/// ```
///
/// An empty or all-`+inf` block gets `soft = +inf`, `entropy = 0`, conditionals 0. The work
/// is done in chunks of about `CHUNK` (512) positions so the exponentials of a chunk are one
/// vectorised call ([`Real::exp_in_place`]), the logarithms of its `Z_y` another
/// ([`Real::ln_in_place`]), and the data stays in L1. Blocks of 2 and 4 children get
/// fixed-size kernels whose loops vectorise across blocks.
pub fn gibbs_blocks<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    s: T,
    cond: &mut [T],
    soft: &mut [T],
    entropy: &mut [T],
) {
    let nb = soft.len();
    assert!(entropy.len() == nb && cond.len() == g.len());
    let outputs = [
        Out::Slice(cond, 0),
        Out::Slice(soft, 0),
        Out::Slice(entropy, 0),
    ];
    gibbs_dispatch(g, layout, nb, s, outputs);
}

/// [`gibbs_blocks`] into new vectors `(cond, soft, entropy)` for `n_coarse` blocks. The
/// vectors are allocated without being cleared ([`level_vec`]) and filled chunk by chunk
/// while each chunk is in L1, so each output is written to memory once.
pub fn gibbs_blocks_owned<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    n_coarse: usize,
    s: T,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let buffers = [level_vec(g.len()), level_vec(n_coarse), level_vec(n_coarse)];
    gibbs_blocks_grow(g, layout, n_coarse, s, buffers)
}

/// [`gibbs_blocks_owned`] into the given vectors `[cond, soft, entropy]`, reusing their
/// memory (e.g. from a [`crate::rg::pool::BufferPool`]): a vector already holding at least
/// as many values as it must return is truncated and overwritten in place; a shorter one is
/// cleared and grown chunk by chunk.
pub fn gibbs_blocks_grow<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    n_coarse: usize,
    s: T,
    buffers: [Vec<T>; 3],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let [mut cond, mut soft, mut entropy] = buffers;
    let outputs = [
        Out::reuse(&mut cond, g.len()),
        Out::reuse(&mut soft, n_coarse),
        Out::reuse(&mut entropy, n_coarse),
    ];
    gibbs_dispatch(g, layout, n_coarse, s, outputs);
    (cond, soft, entropy)
}

/// Where a kernel writes: a caller's slice (with the next position), or a vector grown by
/// one chunk at a time.
enum Out<'a, T> {
    Slice(&'a mut [T], usize),
    Grow(&'a mut Vec<T>),
}

impl<'a, T: Real> Out<'a, T> {
    /// Writes `len` values over `v`: in place if it holds that many already (no clearing
    /// pass), else grown from empty.
    fn reuse(v: &'a mut Vec<T>, len: usize) -> Self {
        if v.len() >= len {
            v.truncate(len);
            Out::Slice(v.as_mut_slice(), 0)
        } else {
            v.clear();
            Out::Grow(v)
        }
    }

    /// The next `len` outputs, in order.
    #[inline(always)]
    fn next(&mut self, len: usize) -> &mut [T] {
        match self {
            Out::Slice(s, pos) => {
                let start = *pos;
                *pos += len;
                &mut s[start..start + len]
            }
            Out::Grow(v) => {
                let start = v.len();
                v.resize(start + len, T::zero());
                &mut v[start..]
            }
        }
    }
}

fn gibbs_dispatch<T: Real>(g: &[T], layout: Layout<'_>, nb: usize, s: T, out: [Out<'_, T>; 3]) {
    if !(T::one() / s).is_finite() {
        // 1/s overflows (s below ~5.6e-309): divide, in the general kernel.
        let blocks = |y| layout.block(y);
        return gibbs_general(g, blocks, nb, s, out);
    }
    match layout {
        Layout::Uniform(2) => T::kernel(
            #[inline(always)]
            || gibbs_pairs(g, s, out),
        ),
        Layout::Uniform(4) => T::kernel(
            #[inline(always)]
            || gibbs_uniform::<T, 4>(g, s, out),
        ),
        Layout::Uniform(b) => gibbs_general(g, |y| b * y..b * (y + 1), nb, s, out),
        Layout::Offsets(o) => gibbs_general(g, |y| o[y]..o[y + 1], nb, s, out),
    }
}

/// `(m - x) / s` as a multiplication by `1/s` (exact enough, much cheaper), or a division
/// where `1/s` overflows.
#[derive(Clone, Copy)]
struct Scale<T> {
    s: T,
    inv_s: T,
    use_inv: bool,
}

impl<T: Real> Scale<T> {
    fn new(s: T) -> Self {
        let inv_s = T::one() / s;
        Self {
            s,
            inv_s,
            use_inv: inv_s.is_finite(),
        }
    }

    #[inline(always)]
    fn apply(self, d: T) -> T {
        if self.use_inv {
            d * self.inv_s
        } else {
            d / self.s
        }
    }
}

/// Minimum of a non-empty block (`+inf` if all `+inf`), as selects that vectorise.
#[inline(always)]
fn block_min<T: Real>(g: &[T]) -> T {
    match g.split_first() {
        Some((&first, rest)) => rest.iter().fold(first, |m, &x| if x < m { x } else { m }),
        None => T::infinity(),
    }
}

/// Step 1 of a block: `cond = (m - g) / s` (`-inf` everywhere in an all-`+inf` block, where
/// `m` is replaced by 0 so that `0 - inf = -inf`). No branches, so it vectorises.
#[inline(always)]
fn shifted_block<T: Real>(g: &[T], m: T, scale: Scale<T>, cond: &mut [T]) {
    let base = if m < T::infinity() { m } else { T::zero() };
    if scale.use_inv {
        for (c, &x) in cond.iter_mut().zip(g) {
            *c = (base - x) * scale.inv_s;
        }
    } else {
        for (c, &x) in cond.iter_mut().zip(g) {
            *c = (base - x) / scale.s;
        }
    }
}

/// [`shifted_block`] when `1/s` is finite: one form, so loops over blocks vectorise.
#[inline(always)]
fn shifted_block_mul<T: Real>(g: &[T], m: T, inv_s: T, cond: &mut [T]) {
    let base = if m < T::infinity() { m } else { T::zero() };
    for (c, &x) in cond.iter_mut().zip(g) {
        *c = (base - x) * inv_s;
    }
}

/// Step 2 of a block, after the exponentials: `(1 / Z, Z)` (`1 / Z = 0` for `Z = 0`).
#[inline(always)]
fn block_partition<T: Real>(w: &[T]) -> (T, T) {
    let z = w.iter().fold(T::zero(), |acc, &w| acc + w);
    let inv = if z > T::zero() {
        T::one() / z
    } else {
        T::zero()
    };
    (inv, z)
}

/// Step 3 of a block, after `ln Z`: normalise the conditionals, return `(soft, entropy)`.
#[inline(always)]
fn finish_block<T: Real>(
    g: &[T],
    m: T,
    inv_z: T,
    ln_z: T,
    scale: Scale<T>,
    cond: &mut [T],
) -> (T, T) {
    let mut acc = T::zero();
    for (c, &x) in cond.iter_mut().zip(g) {
        let p = *c * inv_z;
        *c = p;
        // p = 0 exactly where x = +inf (or underflow): contributes nothing.
        acc = acc
            + if p > T::zero() {
                p * (x - m)
            } else {
                T::zero()
            };
    }
    if m < T::infinity() {
        (m - scale.s * ln_z, ln_z + scale.apply(acc))
    } else {
        (T::infinity(), T::zero())
    }
}

/// [`gibbs_blocks`] for blocks of exactly `B` consecutive children, when `1/s` is finite.
#[inline(always)]
fn gibbs_uniform<T: Real, const B: usize>(g: &[T], s: T, out: [Out<'_, T>; 3]) {
    let [mut cond_out, mut soft_out, mut entropy_out] = out;
    let scale = Scale::new(s);
    let per = (CHUNK / B).max(1);
    let mut mins = vec![T::zero(); per.min(g.len() / B)];
    let mut inv_z = mins.clone();
    let mut ln_z = mins.clone();
    for g in g.chunks(per * B) {
        let k = g.len() / B;
        let cond = cond_out.next(g.len());
        let (soft, entropy) = (soft_out.next(k), entropy_out.next(k));
        let (mins, inv_z, ln_z) = (&mut mins[..k], &mut inv_z[..k], &mut ln_z[..k]);
        for ((m, gb), cb) in mins
            .iter_mut()
            .zip(g.chunks_exact(B))
            .zip(cond.chunks_exact_mut(B))
        {
            *m = block_min(gb);
            shifted_block_mul(gb, *m, scale.inv_s, cb);
        }
        T::exp_in_place(cond);
        for ((iz, lz), cb) in inv_z
            .iter_mut()
            .zip(ln_z.iter_mut())
            .zip(cond.chunks_exact(B))
        {
            (*iz, *lz) = block_partition(cb);
        }
        T::ln_in_place(ln_z);
        let per_block = mins.iter().zip(inv_z.iter()).zip(ln_z.iter());
        let outputs = soft.iter_mut().zip(entropy.iter_mut());
        let data = g.chunks_exact(B).zip(cond.chunks_exact_mut(B));
        for (((&m, &iz), &lz), ((sf, en), (gb, cb))) in per_block.zip(outputs.zip(data)) {
            (*sf, *en) = finish_block(gb, m, iz, lz, scale, cb);
        }
    }
}

/// [`gibbs_blocks`] for blocks of two (binary trees), when `1/s` is finite. The smaller
/// child has weight `exp(0) = 1`, so one exponential per block suffices:
/// `w = exp(-(hi - lo) / s)`, `Z = 1 + w`, `P(lo) = 1 / Z`, `P(hi) = w / Z`,
/// `entropy = log Z + P(hi) (hi - lo) / s` — the general formulas with one term known.
#[inline(always)]
fn gibbs_pairs<T: Real>(g: &[T], s: T, out: [Out<'_, T>; 3]) {
    let [mut cond_out, mut soft_out, mut entropy_out] = out;
    let inv_s = T::one() / s;
    let per = CHUNK / 2;
    let mut mins = vec![T::zero(); per.min(g.len() / 2)];
    let mut w = mins.clone();
    let mut ln_z = mins.clone();
    for g in g.chunks(per * 2) {
        let k = g.len() / 2;
        let cond = cond_out.next(g.len());
        let (soft, entropy) = (soft_out.next(k), entropy_out.next(k));
        let (mins, w, ln_z) = (&mut mins[..k], &mut w[..k], &mut ln_z[..k]);
        for ((m, w), pair) in mins.iter_mut().zip(w.iter_mut()).zip(g.chunks_exact(2)) {
            let (a, b) = (pair[0], pair[1]);
            let (lo, hi) = if b < a { (b, a) } else { (a, b) };
            *m = lo;
            // All +inf: 0 - inf = -inf, so w = 0 (the block is masked below).
            let base = if lo < T::infinity() { lo } else { T::zero() };
            *w = (base - hi) * inv_s;
        }
        T::exp_in_place(w);
        for (z, &w) in ln_z.iter_mut().zip(w.iter()) {
            *z = T::one() + w;
        }
        T::ln_in_place(ln_z);
        let per_block = mins.iter().zip(w.iter()).zip(ln_z.iter());
        let outputs = soft.iter_mut().zip(entropy.iter_mut());
        let data = g.chunks_exact(2).zip(cond.chunks_exact_mut(2));
        for (((&m, &w), &ln_u), ((sf, en), (pair, cp))) in per_block.zip(outputs.zip(data)) {
            let finite = m < T::infinity();
            let u = T::one() + w;
            // log1p(w) to full relative accuracy from log(u) of the rounded u = 1 + w
            // (Goldberg's trick): for tiny w, log(u) alone would lose digits of Z's log.
            let lz = if u == T::one() {
                w
            } else {
                ln_u * (w / (u - T::one()))
            };
            let inv_z = T::one() / u;
            let p_lo = if finite { inv_z } else { T::zero() };
            let p_hi = if finite { w * inv_z } else { T::zero() };
            let (a, b) = (pair[0], pair[1]);
            let a_is_lo = a <= b;
            cp[0] = if a_is_lo { p_lo } else { p_hi };
            cp[1] = if a_is_lo { p_hi } else { p_lo };
            let hi = if a_is_lo { b } else { a };
            // p_hi = 0 exactly where hi = +inf (or underflow): contributes nothing.
            let acc = if p_hi > T::zero() {
                p_hi * (hi - m)
            } else {
                T::zero()
            };
            *sf = if finite { m - s * lz } else { T::infinity() };
            *en = if finite { lz + acc * inv_s } else { T::zero() };
        }
    }
}

/// [`gibbs_blocks`] for any layout given by `block(y)`.
fn gibbs_general<T: Real, B: Fn(usize) -> std::ops::Range<usize>>(
    g: &[T],
    block: B,
    nb: usize,
    s: T,
    out: [Out<'_, T>; 3],
) {
    let [mut cond_out, mut soft_out, mut entropy_out] = out;
    let scale = Scale::new(s);
    let mut mins: Vec<T> = Vec::with_capacity(CHUNK.min(nb));
    let mut inv_z: Vec<T> = Vec::with_capacity(CHUNK.min(nb));
    let mut ln_z: Vec<T> = Vec::with_capacity(CHUNK.min(nb));
    let mut y0 = 0;
    while y0 < nb {
        let start = block(y0).start;
        let mut y1 = y0 + 1;
        while y1 < nb && y1 - y0 < CHUNK && block(y1).end - start <= CHUNK {
            y1 += 1;
        }
        let end = block(y1 - 1).end;
        // Blocks tile the level in order, so chunk positions are `start..end`.
        let cond = cond_out.next(end - start);
        let (soft, entropy) = (soft_out.next(y1 - y0), entropy_out.next(y1 - y0));
        let local = |y: usize| {
            let r = block(y);
            r.start - start..r.end - start
        };
        let g = &g[start..end];
        mins.clear();
        inv_z.clear();
        ln_z.clear();
        for y in y0..y1 {
            let r = local(y);
            let m = block_min(&g[r.clone()]);
            mins.push(m);
            shifted_block(&g[r.clone()], m, scale, &mut cond[r]);
        }
        T::exp_in_place(cond);
        for y in y0..y1 {
            let (iz, z) = block_partition(&cond[local(y)]);
            inv_z.push(iz);
            ln_z.push(z);
        }
        T::ln_in_place(&mut ln_z);
        for y in y0..y1 {
            let r = local(y);
            let j = y - y0;
            (soft[j], entropy[j]) = finish_block(
                &g[r.clone()],
                mins[j],
                inv_z[j],
                ln_z[j],
                scale,
                &mut cond[r],
            );
        }
        y0 = y1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_slice_matches_libm_to_two_ulp() {
        let mut xs: Vec<f64> = (0..20001).map(|i| -745.0 + i as f64 * 0.0727).collect();
        xs.extend([0.0, -0.0, -1e-300, -1e-10, 1.0, 700.0, -708.5, -744.4]);
        let mut ys = xs.clone();
        exp_slice(&mut ys);
        // The dispatched version and the portable one (the same on CPUs without AVX2).
        let portable = xs.iter().map(|&x| exp_approx::<false>(x));
        let ys = ys.into_iter().chain(portable);
        for (&x, y) in xs.iter().cycle().zip(ys) {
            let e = x.exp();
            if e >= f64::MIN_POSITIVE {
                assert!(
                    (y - e).abs() <= 2.0 * f64::EPSILON * e,
                    "exp({x}) = {y} vs {e}"
                );
            } else {
                assert!(
                    (y - e).abs() <= 2.0 * 4.9e-324 + 1e-15 * e,
                    "exp({x}) = {y} vs {e}"
                );
            }
        }
        let mut z = [f64::NEG_INFINITY, -1e308, -800.0];
        exp_slice(&mut z);
        assert_eq!(z, [0.0, 0.0, 0.0]);
    }

    #[test]
    fn ln_slice_matches_libm_to_two_ulp() {
        let mut xs: Vec<f64> = (0..20001)
            .map(|i| (-740.0 + i as f64 * 0.0724).exp())
            .collect();
        xs.extend((0..2000).map(|i| 1.0 + (i as f64 - 1000.0) * 1e-6));
        xs.extend([
            1.0,
            2.0,
            0.5,
            std::f64::consts::SQRT_2,
            1e-310,
            5e-324,
            f64::MAX,
        ]);
        xs.extend([
            f64::MIN_POSITIVE,
            1.0 + f64::EPSILON,
            1.0 - f64::EPSILON / 2.0,
        ]);
        let mut ys = xs.clone();
        ln_slice(&mut ys);
        let portable = xs.iter().map(|&x| ln_approx::<false>(x));
        let ys = ys.into_iter().chain(portable);
        for (&x, y) in xs.iter().cycle().zip(ys) {
            let e = x.ln();
            assert!(
                (y - e).abs() <= 2.0 * f64::EPSILON * e.abs(),
                "ln({x}) = {y} vs {e}"
            );
        }
        let mut z = [0.0, f64::INFINITY, 1.0];
        ln_slice(&mut z);
        assert_eq!(z, [f64::NEG_INFINITY, f64::INFINITY, 0.0]);
    }

    /// Every kernel of `gibbs_blocks` (blocks of 2, 4, 3 and uneven offsets) against
    /// `soft_min` and `gibbs_into` block by block, with `+inf` entries and all-`+inf` blocks.
    #[test]
    fn gibbs_blocks_kernels_match_blockwise_formulas() {
        let n = 2400;
        let g: Vec<f64> = (0..n)
            .map(|i| {
                let v = ((i * 7919) % 1009) as f64 * 0.013 - 3.0;
                if i % 11 == 3 || (1200..1204).contains(&i) {
                    f64::INFINITY
                } else {
                    v
                }
            })
            .collect();
        let mut g = g;
        for i in (1..n).step_by(13) {
            g[i] = g[i - 1]; // ties inside blocks
        }
        let uneven: Vec<usize> = {
            let mut o = vec![0];
            let mut i = 0;
            while i < n {
                i = (i + (i * 31 % 7)).min(n);
                o.push(i);
                if i < n {
                    i += 1;
                    *o.last_mut().unwrap() = i;
                }
            }
            o
        };
        for s in [0.7, 1e-3, 40.0, 1e-310] {
            for layout in [
                Layout::Uniform(2),
                Layout::Uniform(4),
                Layout::Uniform(3),
                Layout::Offsets(&uneven),
                Layout::Uniform(n),
            ] {
                let nb = match layout {
                    Layout::Uniform(b) => n / b,
                    Layout::Offsets(o) => o.len() - 1,
                };
                let mut cond = vec![f64::NAN; n];
                let (mut soft, mut ent) = (vec![f64::NAN; nb], vec![f64::NAN; nb]);
                gibbs_blocks(&g, layout, s, &mut cond, &mut soft, &mut ent);
                // The owned variant runs the same kernels into new vectors.
                let owned = gibbs_blocks_owned(&g, layout, nb, s);
                let same = |a: &[f64], b: &[f64]| {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                };
                assert!(same(&owned.0, &cond) && same(&owned.1, &soft) && same(&owned.2, &ent));
                for y in 0..nb {
                    let r = layout.block(y);
                    let mut p = vec![0.0; r.len()];
                    gibbs_into(&g[r.clone()], s, &mut p);
                    let sm = soft_min(&g[r.clone()], s);
                    let h: f64 = p.iter().map(|&q| entropy_term(q)).sum();
                    assert!((soft[y] - sm).abs() <= 1e-13 * sm.abs().max(1.0) || soft[y] == sm);
                    assert!((ent[y] - h).abs() <= 1e-12 * h.max(1.0), "{layout:?} {y}");
                    for (a, b) in cond[r].iter().zip(&p) {
                        // exp(t) inherits the rounding of its argument t = -(g - m) / s.
                        let tol = (4.0 + b.max(1e-300).ln().abs()) * f64::EPSILON * b + 1e-300;
                        assert!((a - b).abs() <= tol, "{a} vs {b}");
                    }
                }
            }
        }
    }

    /// The kernels with dual numbers: values as with `f64`, and `d soft / ds = -entropy`
    /// (the derivative of `-s log sum exp(-g / s)` is minus the block entropy).
    #[test]
    fn gibbs_blocks_with_duals_differentiates_in_s() {
        use crate::dual::Dual;
        let n = 48;
        let gf: Vec<f64> = (0..n)
            .map(|i| match i % 7 {
                3 => f64::INFINITY,
                _ => ((i * 37) % 11) as f64 * 0.3 - 1.0,
            })
            .collect();
        let g: Vec<Dual<1>> = gf.iter().map(|&x| Dual::constant(x)).collect();
        let s = 0.8;
        for b in [2usize, 4, 3] {
            let nb = n / b;
            let mut cond = vec![Dual::constant(0.0); n];
            let mut soft = vec![Dual::constant(0.0); nb];
            let mut ent = soft.clone();
            let layout = Layout::Uniform(b);
            gibbs_blocks(
                &g,
                layout,
                Dual::variable(s, 0),
                &mut cond,
                &mut soft,
                &mut ent,
            );
            let (mut cf, mut sf, mut ef) = (vec![0.0; n], vec![0.0; nb], vec![0.0; nb]);
            gibbs_blocks(&gf, layout, s, &mut cf, &mut sf, &mut ef);
            for y in 0..nb {
                assert!((soft[y].re - sf[y]).abs() <= 1e-14 || soft[y].re == sf[y]);
                assert!((ent[y].re - ef[y]).abs() <= 1e-14);
                if sf[y].is_finite() {
                    assert!((soft[y].eps[0] + ef[y]).abs() <= 1e-13, "b = {b}, y = {y}");
                }
            }
            for (c, &f) in cond.iter().zip(&cf) {
                assert!((c.re - f).abs() <= 1e-15);
            }
        }
    }

    /// The fused top-down step against a plain loop: every child scaled by its block's
    /// coarse value, and the weighted sum to rounding (blocks of 2, 4, 3 and uneven offsets,
    /// lengths that are not multiples of the 8 lanes).
    #[test]
    fn scale_blocks_weighted_matches_a_plain_loop() {
        for nb in [0usize, 1, 7, 8, 9, 101] {
            let coarse: Vec<f64> = (0..nb).map(|y| ((y * 37) % 11) as f64 / 13.0).collect();
            let h: Vec<f64> = (0..nb).map(|y| ((y * 17) % 5) as f64 * 0.3 + 0.1).collect();
            let offsets: Vec<usize> = (0..=nb).map(|y| y * (y + 1) / 2).collect();
            for layout in [
                Layout::Uniform(2),
                Layout::Uniform(4),
                Layout::Uniform(3),
                Layout::Offsets(&offsets),
            ] {
                let n = match layout {
                    Layout::Uniform(b) => b * nb,
                    Layout::Offsets(o) => o[nb],
                };
                let cond: Vec<f64> = (0..n).map(|x| 1.0 + (x % 7) as f64 * 0.25).collect();
                let mut out = cond.clone();
                let got = scale_blocks_weighted(layout, &coarse, &h, &mut out);
                let mut want = 0.0;
                for y in 0..nb {
                    want += coarse[y] * h[y];
                    for x in layout.block(y) {
                        assert_eq!(out[x], cond[x] * coarse[y], "{layout:?} x = {x}");
                    }
                }
                assert!(
                    (got - want).abs() <= 1e-14 * want.max(1.0),
                    "{got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn soft_min_plus_matches_soft_min_of_each_sum() {
        let inf = f64::INFINITY;
        let l = [0.3, inf, -1.2, 1e3, 2.0, inf, 0.0, 0.5, 700.0];
        let r = [inf, 1.0, 0.0, -0.4, inf, 2.5, 1e-3, 3.0, inf];
        let (mut out, mut scratch) = ([0.0; 9], [0.0; 27]);
        for s in [1e-12, 0.7, 1e6] {
            soft_min_plus(&l, &r, 3, s, &mut out, &mut scratch);
            for a in 0..3 {
                for c in 0..3 {
                    let x: Vec<f64> = (0..3).map(|b| l[a * 3 + b] + r[b * 3 + c]).collect();
                    let want = soft_min(&x, s);
                    let got = out[a * 3 + c];
                    assert!(
                        got == want || (got - want).abs() <= 1e-14 * want.abs().max(1.0),
                        "s = {s}, ({a}, {c}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn factored_soft_min_plus_matches_the_exact_kernel() {
        let inf = f64::INFINITY;
        let l = [0.3, inf, 0.0, 1e3, 2.0, inf, inf, inf, inf];
        let r = [inf, 1.0, 0.0, 0.0, inf, 2.5, 1e-3, 3.0, inf];
        let (mut out, mut exact) = ([0.0; 9], [0.0; 9]);
        let mut scratch = vec![0.0; soft_min_plus_scratch(3)];
        let mut s27 = [0.0; 27];
        let mut w = [0.0; 27];
        for s in [1e-12, 0.01, 0.7, 1e6] {
            soft_min_plus_factored(&l, &r, 3, s, &mut out, &mut scratch, Some(&mut w));
            soft_min_plus(&l, &r, 3, s, &mut exact, &mut s27);
            for ac in 0..9 {
                let (g, e) = (out[ac], exact[ac]);
                assert!(
                    g == e || (g - e).abs() <= 1e-14 * e.abs().max(s),
                    "s = {s}, entry {ac}: {g} vs {e}"
                );
                let z: f64 = w[ac * 3..ac * 3 + 3].iter().sum();
                assert!(
                    e == inf && z == 0.0 || (z - 1.0).abs() < 1e-14,
                    "weights {z}"
                );
            }
        }
    }

    #[test]
    fn pair_blocks_keep_full_accuracy_at_low_temperature() {
        // Blocks of two with a tiny Boltzmann weight w = exp(-30): Z = 1 + w, and the block
        // entropy is log1p(w) + w (30) / (1 + w), which a plain log(1 + w) gets wrong.
        let g = [0.0, 30.0, 5.0, 5.0 + 1e-9];
        let (mut cond, mut soft, mut ent) = ([0.0; 4], [0.0; 2], [0.0; 2]);
        gibbs_blocks(&g, Layout::Uniform(2), 1.0, &mut cond, &mut soft, &mut ent);
        let w = (-30.0f64).exp();
        let h = w.ln_1p() + w * 30.0 / (1.0 + w);
        assert!((ent[0] - h).abs() <= 1e-14 * h, "{} vs {h}", ent[0]);
        assert!((soft[0] + w.ln_1p()).abs() <= 1e-14 * w, "{}", soft[0]);
        let w = (-1e-9f64).exp();
        let h = w.ln_1p() + w * 1e-9 / (1.0 + w);
        assert!((ent[1] - h).abs() <= 1e-14 * h);
    }

    #[test]
    fn soft_min_factors_out_the_minimum() {
        let g = [1e300, 1e300, f64::INFINITY];
        assert_eq!(soft_min(&g, 1.0), 1e300);
        let g = [0.0, 0.0];
        assert!((soft_min(&g, 1.0) + 2f64.ln()).abs() < 1e-15);
        assert_eq!(soft_min::<f64>(&[], 1.0), f64::INFINITY);
        assert_eq!(soft_min(&[3.0, 2.0], 0.0), 2.0);
    }
}
