//! Vectorised `exp` and `ln` over slices of `f64`: branch-free polynomial kernels, chosen at
//! run time for the CPU's vector width.

use super::cpu::{self, Isa};
use crate::{Error, Result};

/// `x <- exp(x)` over a slice, vectorised (no branches, no libm calls), over the whole `f64`
/// range: `-inf` and arguments below about `-745.1` give exactly `0`, results below the
/// normal range are subnormal, arguments above `ln(f64::MAX)` (about `709.78`) and `+inf`
/// give `+inf`. NaN inputs are not supported.
///
/// Cody–Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, a degree-13 Taylor polynomial
/// (truncation error below `5e-18`, evaluated by Estrin's scheme), and `2^n` applied as two
/// factors `2^n1 2^n2` so subnormal results are exact to rounding and results past
/// `f64::MAX` round to `+inf`. Accurate to about 1 ulp. The kernel is chosen at run time for
/// the CPU ([`super::cpu::active`]): 8 lanes with AVX-512 (table-driven there: a reduction by
/// `ln 2 / 16`, a 16-entry table and a degree-7 polynomial, 2 ulp), 4 with AVX2 and FMA,
/// else portable.
///
/// ```
/// use hmaxent::numerics::exp_slice;
/// let mut x = [0.0, 1.0, -f64::INFINITY, 709.0, 710.0, -1e4];
/// exp_slice(&mut x);
/// assert_eq!(x[0], 1.0);
/// assert!((x[1] - std::f64::consts::E).abs() <= f64::EPSILON * 3.0);
/// assert_eq!((x[2], x[4], x[5]), (0.0, f64::INFINITY, 0.0));
/// assert!((x[3] / 709f64.exp() - 1.0).abs() <= 2.0 * f64::EPSILON);
/// ```
pub fn exp_slice(xs: &mut [f64]) {
    match cpu::active() {
        // SAFETY: `active` never exceeds what the CPU supports; `xs` is valid for reads and
        // writes of its length (each value read before it is written).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe {
            // One pointer for both (a shared reborrow beside the mutable one would alias).
            let p = xs.as_mut_ptr();
            exp_avx512_raw::<false>(p, p, xs.len())
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { exp_slice_avx2(xs) },
        _ => xs.iter_mut().for_each(|x| *x = exp_approx::<false>(*x)),
    }
}

/// From this many values on, [`exp_into`] writes `dst` with non-temporal stores (AVX-512):
/// `2^21` values are 16 MiB, where source and output no longer stay in the shared cache.
/// Below, plain stores keep the output in cache for its reader and are faster: measured
/// beside numpy's `exp` on the same array, at `2^20` values 0.72–0.99 ns per value with plain
/// stores against 0.86–1.14 with non-temporal ones (numpy 0.70–1.25); at `2^21` 1.40–1.50
/// against 1.33–1.36 (numpy 1.48); at `2^24` 1.21–1.25 with non-temporal stores.
const STREAM_FROM: usize = 1 << 21;

/// `dst <- exp(src)`, elementwise, with the kernels and accuracy of [`exp_slice`] (one read
/// of `src` and one write of `dst`, like `numpy.exp(src, out=dst)`; from `2^21` values on,
/// with AVX-512, `dst` is written with non-temporal stores, so it is not read first and does
/// not evict the caches).
///
/// # Errors
/// [`Error::LengthMismatch`] if the slices differ in length (nothing is written).
///
/// ```
/// use hmaxent::numerics::exp_into;
/// let src = [0.0, 1.0, -f64::INFINITY];
/// let mut dst = [0.0; 3];
/// exp_into(&src, &mut dst)?;
/// assert_eq!((dst[0], dst[2]), (1.0, 0.0));
/// assert!(exp_into(&src, &mut [0.0; 2]).is_err());
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub fn exp_into(src: &[f64], dst: &mut [f64]) -> Result<()> {
    if src.len() != dst.len() {
        return Err(Error::LengthMismatch {
            field: "dst".into(),
            len: dst.len(),
            expected: src.len(),
        });
    }
    match cpu::active() {
        // SAFETY: `active` never exceeds what the CPU supports; `src` is valid for reads and
        // `dst` for writes of the same length, and they do not overlap.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe {
            let (x, y, n) = (src.as_ptr(), dst.as_mut_ptr(), src.len());
            if n >= STREAM_FROM {
                exp_avx512_raw::<true>(x, y, n)
            } else {
                exp_avx512_raw::<false>(x, y, n)
            }
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { exp_into_avx2(src, dst) },
        _ => dst
            .iter_mut()
            .zip(src)
            .for_each(|(y, &x)| *y = exp_approx::<false>(x)),
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_slice_avx2(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = exp_approx::<true>(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_into_avx2(src: &[f64], dst: &mut [f64]) {
    for (y, &x) in dst.iter_mut().zip(src) {
        *y = exp_approx::<true>(x);
    }
}

/// The AVX-512 [`exp_slice`], table-driven: `x = (16 m + j) ln 2 / 16 + r`, `|r| <= ln 2 / 32`,
/// `exp(x) = 2^m 2^(j/16) (1 + p(r))` with `2^(j/16)` from a 16-entry table held in two
/// registers (one permute), `p` the degree-7 Taylor polynomial of `exp(r) - 1` (truncation
/// below `2e-18`), and `2^m` applied by `vscalefpd`, which rounds subnormal results once and
/// overflows to `+inf`. 16 vector operations per 8 values (15 without the clamp of large
/// arguments), where the first version took 30. Four registers (32 values) are in flight at
/// once, then the rest 8 at a time with the lanes past the end masked, so every element takes
/// the same path.
///
/// With `STREAM`, the 64-byte aligned middle of `dst` is written with non-temporal stores
/// followed by a store fence: a destination larger than the caches costs one write of its
/// lines instead of a read and a write (the values are the same).
///
/// # Safety
/// `src` must be valid for `n` reads and `dst` for `n` writes; the two are the same pointer
/// or do not overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn exp_avx512_raw<const STREAM: bool>(src: *const f64, dst: *mut f64, n: usize) {
    use std::arch::x86_64::*;
    let mut i = 0;
    if STREAM {
        // Up to the first 64-byte boundary of `dst` (at most 7 values).
        i = dst.align_offset(64).min(n);
        // SAFETY: `i <= n`, the caller's bounds.
        unsafe { exp_avx512_masked(src, dst, 0, i) };
    }
    while i + 32 <= n {
        // SAFETY: values `i..i + 32` are inside both slices; all four loads precede the stores;
        // with `STREAM`, `dst + i` is 64-byte aligned (the head ended at such an address and
        // every step is 64 bytes).
        unsafe {
            let x = [0, 8, 16, 24].map(|j| _mm512_loadu_pd(src.add(i + j)));
            let y = exp_avx512_n::<4, true>(x);
            for (j, y) in y.into_iter().enumerate() {
                match STREAM {
                    true => _mm512_stream_pd(dst.add(i + 8 * j), y),
                    false => _mm512_storeu_pd(dst.add(i + 8 * j), y),
                }
            }
        }
        i += 32;
    }
    // SAFETY: `i <= n`, the caller's bounds.
    unsafe { exp_avx512_masked(src, dst, i, n) };
    if STREAM {
        _mm_sfence();
    }
}

/// [`exp_avx512`] on values `from..to`, 8 at a time, the lanes past `to` masked.
///
/// # Safety
/// As [`exp_avx512_raw`], for values up to `to`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn exp_avx512_masked(src: *const f64, dst: *mut f64, from: usize, to: usize) {
    use std::arch::x86_64::*;
    let mut i = from;
    while i < to {
        let mask: __mmask8 = if to - i >= 8 {
            0xff
        } else {
            (1u8 << (to - i)) - 1
        };
        // SAFETY: lanes `i..min(i + 8, to)` are inside both slices; the others are masked off.
        unsafe {
            let x = _mm512_maskz_loadu_pd(mask, src.add(i));
            _mm512_mask_storeu_pd(dst.add(i), mask, exp_avx512(x));
        }
        i += 8;
    }
}

/// `2^(j/16)`, `j = 0..16`, rounded to nearest.
const EXP2_SIXTEENTHS: [f64; 16] = [
    1.0,
    1.0442737824274138,
    1.0905077326652577,
    1.1387886347566916,
    1.189207115002721,
    1.241857812073484,
    1.2968395546510096,
    1.3542555469368927,
    std::f64::consts::SQRT_2,
    1.4768261459394993,
    1.5422108254079407,
    1.6104903319492543,
    1.681792830507429,
    1.7562521603732995,
    1.8340080864093424,
    1.9152065613971474,
];

/// `[f(0), .., f(N - 1)]`: one operation on `N` registers, written as a loop the compiler
/// unrolls, so that `N` independent chains are interleaved in program order (one 8-lane
/// chain of `exp` or `ln_1p` is about 100 cycles of latency, longer than the out-of-order
/// window can hide; two or more in flight keep the multiply-add ports busy).
#[cfg(target_arch = "x86_64")]
macro_rules! each {
    ($n:ident, |$i:ident| $e:expr) => {{
        let mut out = [_mm512_setzero_pd(); $n];
        for $i in 0..$n {
            out[$i] = $e;
        }
        out
    }};
}
#[cfg(target_arch = "x86_64")]
pub(crate) use each;

/// [`exp_slice`] on 8 lanes (see [`exp_slice_avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
pub(crate) fn exp_avx512(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    exp_avx512_n::<1, true>([x])[0]
}

/// [`exp_avx512`] on `N` registers at once, interleaved (the same operations on every lane,
/// so the same values bit for bit). With `ANY = false` the arguments must be `<= 0` (or
/// `-inf`), and the clamp of large arguments is left out.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
pub(crate) fn exp_avx512_n<const N: usize, const ANY: bool>(
    x: [std::arch::x86_64::__m512d; N],
) -> [std::arch::x86_64::__m512d; N] {
    use std::arch::x86_64::*;
    // ln 2 in two parts; the high part has 21 significant bits, so m * hi is exact for the
    // sixteenths m below.
    #[allow(clippy::excessive_precision)]
    const HI: f64 = 6.931_471_803_691_238_164_90e-1;
    #[allow(clippy::excessive_precision)]
    const LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // SHIFT / 16: the unit in the last place of values near it is 1/16.
    const SHIFT_SIXTEENTHS: f64 = SHIFT / 16.0;
    let set = _mm512_set1_pd;
    let x = each!(N, |i| _mm512_max_pd(x[i], set(-746.0)));
    let x = match ANY {
        true => each!(N, |i| _mm512_min_pd(x[i], set(710.0))),
        false => x,
    };
    // t = (SHIFT + n) / 16: n = round(16 x / ln 2) sits in t's low mantissa bits, j = n mod
    // 16 in its lowest four (the permute's index), and m = t - SHIFT / 16 = n / 16 is exact
    // (every step is the one of `t = SHIFT + n` scaled by 1/16, rounded alike).
    let t = each!(N, |i| _mm512_fmadd_pd(
        x[i],
        set(std::f64::consts::LOG2_E),
        set(SHIFT_SIXTEENTHS)
    ));
    let m = each!(N, |i| _mm512_sub_pd(t[i], set(SHIFT_SIXTEENTHS)));
    let r = each!(N, |i| _mm512_fnmadd_pd(m[i], set(HI), x[i]));
    let r = each!(N, |i| _mm512_fnmadd_pd(m[i], set(LO), r[i]));
    // SAFETY: the table has 16 values, read as two registers of 8.
    let (lo, hi) = unsafe {
        (
            _mm512_loadu_pd(EXP2_SIXTEENTHS.as_ptr()),
            _mm512_loadu_pd(EXP2_SIXTEENTHS.as_ptr().add(8)),
        )
    };
    let table = each!(N, |i| _mm512_permutex2var_pd(
        lo,
        _mm512_castpd_si512(t[i]),
        hi
    ));
    // exp(r) - 1 = r + r^2 (1/2 + r/6 + ... + r^5/5040), by Horner's scheme: its chain is
    // longer than Estrin's, but the N chains hide that, and every step is one multiply-add
    // whose constant needs no copy.
    let r2 = each!(N, |i| _mm512_mul_pd(r[i], r[i]));
    let mut q = each!(N, |i| _mm512_fmadd_pd(
        set(1.0 / 5_040.0),
        r[i],
        set(1.0 / 720.0)
    ));
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5] {
        q = each!(N, |i| _mm512_fmadd_pd(q[i], r[i], set(c)));
    }
    let em1 = each!(N, |i| _mm512_fmadd_pd(r2[i], q[i], r[i]));
    let y = each!(N, |i| _mm512_fmadd_pd(table[i], em1[i], table[i]));
    // 2^floor(n / 16) = 2^floor(m).
    each!(N, |i| _mm512_scalef_pd(y[i], m[i]))
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
    // Past 710 the result is +inf anyway (2^n1 2^n2 p with n = 1024 overflows); below
    // -746 it is 0. The clamp keeps n in the range the two factors can represent.
    let x = x.clamp(-746.0, 710.0);
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
/// and `e ln 2` in two parts. Accurate to about 1 ulp. The kernel is chosen at run time as
/// for [`exp_slice`].
pub fn ln_slice(xs: &mut [f64]) {
    match cpu::active() {
        // SAFETY: `active` never exceeds what the CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { ln_slice_avx512(xs) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { ln_slice_avx2(xs) },
        _ => xs.iter_mut().for_each(|x| *x = ln_approx::<false>(*x)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ln_slice_avx2(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = ln_approx::<true>(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn ln_slice_avx512(xs: &mut [f64]) {
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

/// `x <- ln(1 + x)` over a slice, vectorised, for `0 <= x <= 1` (the weight `exp(-|a - b| / s)`
/// of the larger child of a block of two), to full relative accuracy also for tiny `x`
/// (where `ln` of the rounded `1 + x` would lose digits), with one division and no `ln`:
///
/// ```text
/// ln(1 + x) = 2 atanh(f) = g + g f^2 q(f^2),   f = x / (2 + x) <= 1/3,   g = 2f = 2x / (2 + x),
/// q(v) = sum_{k>=1} v^(k-1) / (2k + 1)  (a degree-9 fit on [0, 1/9], error below 5e-17)
/// ```
///
/// `g` is formed as `(x + x) / (2 + x)`, exact to rounding down to subnormal `x`. Accurate to
/// about 1 ulp; the kernel is chosen at run time as for [`exp_slice`] (with AVX-512 a
/// table-driven one without the division, `ln_1p_avx512`). Outside `[0, 1]` the values are
/// unspecified.
///
/// ```
/// use hmaxent::numerics::ln_1p_slice;
/// let mut x = [0.0, 1e-300, 0.5, 1.0];
/// ln_1p_slice(&mut x);
/// assert_eq!(x[..2], [0.0, 1e-300]);
/// assert!((x[2] - 1.5f64.ln()).abs() <= f64::EPSILON * x[2]);
/// assert!((x[3] - std::f64::consts::LN_2).abs() <= f64::EPSILON * x[3]);
/// ```
pub fn ln_1p_slice(xs: &mut [f64]) {
    match cpu::active() {
        // SAFETY: `active` never exceeds what the CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { ln_1p_slice_avx512(xs) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { ln_1p_slice_avx2(xs) },
        _ => xs.iter_mut().for_each(|x| *x = ln_1p_approx::<false>(*x)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ln_1p_slice_avx2(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = ln_1p_approx::<true>(*x);
    }
}

/// The AVX-512 [`ln_1p_slice`]: [`ln_1p_avx512`] on 8 lanes, the lanes past the end masked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn ln_1p_slice_avx512(xs: &mut [f64]) {
    use std::arch::x86_64::*;
    let n = xs.len();
    let p = xs.as_mut_ptr();
    let mut i = 0;
    while i < n {
        let mask: __mmask8 = if n - i >= 8 {
            0xff
        } else {
            (1u8 << (n - i)) - 1
        };
        // SAFETY: lanes `i..min(i + 8, n)` are inside `xs`; the others are masked off.
        unsafe {
            let x = _mm512_maskz_loadu_pd(mask, p.add(i));
            _mm512_mask_storeu_pd(p.add(i), mask, ln_1p_avx512(x));
        }
        i += 8;
    }
}

/// `c_j`: `1 / (1 + j/16)` rounded to nearest, `j = 0..16`.
const INV_1P_SIXTEENTHS: [f64; 16] = [
    1.0,
    0.9411764705882353,
    0.8888888888888888,
    0.8421052631578947,
    0.8,
    0.7619047619047619,
    0.7272727272727273,
    0.6956521739130435,
    0.6666666666666666,
    0.64,
    0.6153846153846154,
    0.5925925925925926,
    0.5714285714285714,
    0.5517241379310345,
    0.5333333333333333,
    0.5161290322580645,
];
/// `-ln c_j` (of the rounded `c_j`) as `hi + lo`: `hi` rounded to nearest, `lo` the rest.
const MINUS_LN_INV_HI: [f64; 16] = [
    0.0,
    0.060624621816434854,
    0.11778303565638351,
    0.17185025692665928,
    0.2231435513142097,
    0.2719337154836418,
    0.3184537311185346,
    0.3629054936893685,
    0.40546510810816444,
    0.4462871026284195,
    0.48550781578170077,
    0.5232481437645479,
    0.5596157879354228,
    0.5947071077466928,
    0.6286086594223742,
    0.661398482245365,
];
const MINUS_LN_INV_LO: [f64; 16] = [
    0.0,
    2.6424025938726934e-18,
    -1.1971685747593662e-18,
    -6.022453821011369e-18,
    -9.091270597324798e-18,
    7.833196376974436e-19,
    -6.407962483026777e-19,
    6.2632141603179415e-18,
    -2.881138025962641e-18,
    1.6511928324886544e-17,
    -1.6618350693852045e-17,
    2.3677269014906905e-17,
    -2.8656225429134744e-17,
    2.7629477772138132e-17,
    -5.360577204673081e-17,
    2.015224182999491e-17,
];

/// `ln(1 + x)` on 8 lanes for `0 <= x <= 1`, table-driven and without a division (the
/// portable kernel's `2x / (2 + x)`):
///
/// ```text
/// j = min(round(16 x), 15),   c = 1 / (1 + j/16) (rounded),   t = (1 + x) c - 1,   |t| <= 0.033,
/// ln(1 + x) = -ln c + ln(1 + t),   ln(1 + t) = t + t^2 q(t),   q(t) = sum_{k=2..11} (-1)^(k+1) t^(k-2) / k
/// ```
///
/// `t = fma(x, c, c - 1)` is rounded once (`c - 1` is exact, the product is not rounded), so
/// the only table errors are those of `-ln c` (held as `hi + lo`, exact to about `1e-33`);
/// the truncation of the series is below `1e-18` of the result. `j = 0` gives `c = 1` and
/// `t = x`, so tiny `x` keep their full relative accuracy. About 1 ulp, about 21 vector
/// operations per 8 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
pub(crate) fn ln_1p_avx512(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    ln_1p_avx512_n([x])[0]
}

/// [`ln_1p_avx512`] on `N` registers at once, interleaved (as [`exp_avx512_n`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
pub(crate) fn ln_1p_avx512_n<const N: usize>(
    x: [std::arch::x86_64::__m512d; N],
) -> [std::arch::x86_64::__m512d; N] {
    use std::arch::x86_64::*;
    let set = _mm512_set1_pd;
    // SHIFT + j: j sits in the low mantissa bits (the permutes' index).
    let index = each!(N, |i| _mm512_min_pd(
        _mm512_fmadd_pd(x[i], set(16.0), set(SHIFT)),
        set(SHIFT + 15.0),
    ));
    // SAFETY: each table has 16 values, read as two registers of 8.
    let table = |table: &[f64; 16]| unsafe {
        (
            _mm512_loadu_pd(table.as_ptr()),
            _mm512_loadu_pd(table.as_ptr().add(8)),
        )
    };
    let lookup = |(lo, hi): (__m512d, __m512d), index: __m512d| {
        _mm512_permutex2var_pd(lo, _mm512_castpd_si512(index), hi)
    };
    let inv = table(&INV_1P_SIXTEENTHS);
    let c = each!(N, |i| lookup(inv, index[i]));
    let t = each!(N, |i| _mm512_fmadd_pd(
        x[i],
        c[i],
        _mm512_sub_pd(c[i], set(1.0))
    ));
    // q(t) by Horner's scheme (see `exp_avx512_n`).
    let t2 = each!(N, |i| _mm512_mul_pd(t[i], t[i]));
    let mut q = each!(N, |i| _mm512_fmadd_pd(set(1.0 / 11.0), t[i], set(-0.1)));
    for c in [
        1.0 / 9.0,
        -0.125,
        1.0 / 7.0,
        -1.0 / 6.0,
        0.2,
        -0.25,
        1.0 / 3.0,
        -0.5,
    ] {
        q = each!(N, |i| _mm512_fmadd_pd(q[i], t[i], set(c)));
    }
    let small = each!(N, |i| _mm512_fmadd_pd(t2[i], q[i], t[i]));
    let (hi, lo) = (table(&MINUS_LN_INV_HI), table(&MINUS_LN_INV_LO));
    each!(N, |i| _mm512_add_pd(
        lookup(hi, index[i]),
        _mm512_add_pd(small[i], lookup(lo, index[i]))
    ))
}

/// `q(v) = sum_{k>=0} v^k / (2k + 3)` on `[0, 1/9]` as a polynomial of degree 9 (Chebyshev
/// interpolation, near-minimax: `|error| < 5e-17`, which the factor `g v <= g / 9` shrinks
/// below `1e-17` of the result); constant term first.
const Q_LN_1P: [f64; 10] = [
    0.3333333333333333,
    0.20000000000007292,
    0.1428571428355438,
    0.11111111358713932,
    0.09090894718066429,
    0.07692785032479312,
    0.06657072104827468,
    0.06000536404795356,
    0.04400369243072337,
    0.08082022805971766,
];

#[inline(always)]
fn ln_1p_approx<const FMA: bool>(x: f64) -> f64 {
    let g = (x + x) / (2.0 + x);
    let v = 0.25 * (g * g);
    // q(v) by Estrin's scheme, degree 9 (see Q_LN_1P).
    let c = Q_LN_1P;
    let v2 = v * v;
    let v4 = v2 * v2;
    let v8 = v4 * v4;
    let p0 = madd::<FMA>(v, c[1], c[0]);
    let p1 = madd::<FMA>(v, c[3], c[2]);
    let p2 = madd::<FMA>(v, c[5], c[4]);
    let p3 = madd::<FMA>(v, c[7], c[6]);
    let p4 = madd::<FMA>(v, c[9], c[8]);
    let q0 = madd::<FMA>(p1, v2, p0);
    let q1 = madd::<FMA>(p3, v2, p2);
    let r0 = madd::<FMA>(q1, v4, q0);
    let q = madd::<FMA>(p4, v8, r0);
    madd::<FMA>(g * v, q, g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Distance in units in the last place (0 for equal values, including infinities).
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        let key = |x: f64| {
            let i = x.to_bits() as i64;
            if i < 0 {
                i64::MIN - i
            } else {
                i
            }
        };
        key(a).abs_diff(key(b))
    }

    /// Inputs over the whole `f64` range: uniform on `[-760, 720]` (both ends past the
    /// limits of `exp`), random bit patterns (every magnitude), the edges, and specials.
    fn exp_inputs() -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut xs: Vec<f64> = (0..40_000)
            .map(|_| rng.random_range(-760.0..720.0))
            .collect();
        xs.extend((0..20_000).filter_map(|_| {
            let x = f64::from_bits(rng.random::<u64>());
            x.is_finite().then_some(x)
        }));
        xs.extend((0..4_000).map(|_| rng.random_range(709.0..710.0)));
        xs.extend((0..4_000).map(|_| rng.random_range(-746.0..-707.0)));
        xs.extend((0..4_000).map(|_| rng.random_range(-1e-6..1e-6)));
        xs.extend([
            0.0,
            -0.0,
            1.0,
            -1e-300,
            5e-324,
            709.782_712_893_383_9,
            709.782_712_893_384,
            709.79,
            -745.133_219_101_941_1,
            -745.2,
            -708.396_418_532_264_1,
            f64::MAX,
            -f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        xs
    }

    #[test]
    fn exp_slice_matches_libm_to_two_ulp_over_the_whole_range_for_every_kernel() {
        let xs = exp_inputs();
        for isa in cpu::available() {
            let mut ys = xs.clone();
            cpu::with_isa(isa, || exp_slice(&mut ys));
            for (&x, &y) in xs.iter().zip(&ys) {
                let e = x.exp();
                assert!(ulps(y, e) <= 2, "{isa:?}: exp({x:e}) = {y:e}, libm {e:e}");
            }
            // Out of place, from every offset (the four-register blocks and the masked
            // rest), the same values bit for bit.
            for skip in 0..40 {
                let mut zs = vec![f64::NAN; xs.len() - skip];
                cpu::with_isa(isa, || exp_into(&xs[skip..], &mut zs)).unwrap();
                assert!(zs
                    .iter()
                    .zip(&ys[skip..])
                    .all(|(z, y)| z.to_bits() == y.to_bits()));
            }
            // Past STREAM_FROM (non-temporal stores), into every alignment of the output.
            let big: Vec<f64> = xs.iter().cycle().take(STREAM_FROM + 77).copied().collect();
            let mut want = big.clone();
            cpu::with_isa(isa, || exp_slice(&mut want));
            let mut out = vec![f64::NAN; big.len() + 8];
            for shift in 0..8 {
                let dst = &mut out[shift..shift + big.len()];
                cpu::with_isa(isa, || exp_into(&big, dst)).unwrap();
                assert!(dst
                    .iter()
                    .zip(&want)
                    .all(|(z, y)| z.to_bits() == y.to_bits()));
            }
        }
        let mut z = [
            f64::NEG_INFINITY,
            -1e308,
            -800.0,
            710.0,
            1e308,
            f64::INFINITY,
        ];
        exp_slice(&mut z);
        assert_eq!(
            z,
            [0.0, 0.0, 0.0, f64::INFINITY, f64::INFINITY, f64::INFINITY]
        );
    }

    #[test]
    fn ln_slice_matches_libm_to_two_ulp_for_every_kernel() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(31);
        let mut xs: Vec<f64> = (0..20001)
            .map(|i| (-740.0 + i as f64 * 0.0724).exp())
            .collect();
        xs.extend((0..2000).map(|i| 1.0 + (i as f64 - 1000.0) * 1e-6));
        xs.extend((0..20_000).filter_map(|_| {
            let x = f64::from_bits(rng.random::<u64>() >> 1);
            x.is_finite().then_some(x)
        }));
        xs.extend([
            1.0,
            2.0,
            0.5,
            std::f64::consts::SQRT_2,
            1e-310,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1.0 + f64::EPSILON,
            1.0 - f64::EPSILON / 2.0,
            0.0,
            f64::INFINITY,
        ]);
        for isa in cpu::available() {
            let mut ys = xs.clone();
            cpu::with_isa(isa, || ln_slice(&mut ys));
            for (&x, &y) in xs.iter().zip(&ys) {
                let e = x.ln();
                assert!(ulps(y, e) <= 2, "{isa:?}: ln({x:e}) = {y:e}, libm {e:e}");
            }
        }
        let mut z = [0.0, f64::INFINITY, 1.0];
        ln_slice(&mut z);
        assert_eq!(z, [f64::NEG_INFINITY, f64::INFINITY, 0.0]);
    }

    /// `ln_1p_slice` over its whole domain `[0, 1]`: uniform, log-uniform down to the
    /// subnormals, and the ends, for every kernel family.
    #[test]
    fn ln_1p_slice_matches_libm_to_two_ulp_over_zero_to_one_for_every_kernel() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..40_000).map(|_| rng.random_range(0.0..=1.0)).collect();
        xs.extend((0..40_000).map(|_| 2f64.powf(rng.random_range(-1074.0..0.0))));
        xs.extend((0..4_000).map(|_| rng.random_range(0.99..=1.0)));
        xs.extend([
            0.0,
            5e-324,
            1e-310,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            1.0 / 3.0,
            0.5,
            1.0,
        ]);
        xs.extend([1.0 - f64::EPSILON / 2.0, 2.3e-16, 1.1e-16]);
        for isa in cpu::available() {
            let mut ys = xs.clone();
            cpu::with_isa(isa, || ln_1p_slice(&mut ys));
            for (&x, &y) in xs.iter().zip(&ys) {
                let e = x.ln_1p();
                assert!(ulps(y, e) <= 2, "{isa:?}: ln_1p({x:e}) = {y:e}, libm {e:e}");
            }
        }
    }
}
