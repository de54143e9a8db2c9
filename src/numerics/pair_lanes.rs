//! AVX-512 bodies of the bottom-up step of blocks of two (binary trees): each group of 8
//! blocks is done in registers — minimum, one `exp`, one `ln_1p`, one reciprocal — instead of
//! one pass over arrays per operation, and `WIDE` groups at a time with their chains of
//! dependent operations interleaved (one chain is longer than the core's out-of-order window
//! overlaps). Same formulas as the portable kernels of `blocks` (`gibbs_pairs`,
//! `soft_pairs`), with the vector `exp`/`ln_1p` of `vector`, but with fused multiply-adds
//! where those round twice (values within an ulp or so); they return how many blocks they
//! did (whole groups of 8), the caller does the rest.

use std::arch::x86_64::*;

use super::vector::{each, exp_avx512_n, ln_1p_avx512_n};

/// Lanes `0, 2, .., 14` and `1, 3, .., 15` of two registers (the first and second child of
/// 8 blocks), and back.
const EVEN: [i64; 8] = [0, 2, 4, 6, 8, 10, 12, 14];
const ODD: [i64; 8] = [1, 3, 5, 7, 9, 11, 13, 15];
const INTERLEAVE_LOW: [i64; 8] = [0, 8, 1, 9, 2, 10, 3, 11];
const INTERLEAVE_HIGH: [i64; 8] = [4, 12, 5, 13, 6, 14, 7, 15];

/// `N` groups of 8 blocks of two from `g[16 i..16 i + 16]` (`a`, `b` the first and second
/// child): `b < a`, with `lo = min(a, b)`, `hi` the other, `finite = lo < +inf`, `x = (base -
/// hi) / s <= 0` and `w = exp(x)`, `base = lo` (`0` where `lo = +inf`, so `w = 0` there;
/// `x = -inf` where `hi = +inf`).
struct Groups<const N: usize> {
    b_lt_a: [__mmask8; N],
    lo: [__m512d; N],
    finite: [__mmask8; N],
    x: [__m512d; N],
    w: [__m512d; N],
}

/// `[f(0), .., f(N - 1)]` for masks, as `each!` for registers.
macro_rules! each_mask {
    ($n:ident, |$i:ident| $e:expr) => {{
        let mut out: [__mmask8; $n] = [0; $n];
        for $i in 0..$n {
            out[$i] = $e;
        }
        out
    }};
}

/// Loads the `N` groups of 8 blocks at `g` (`16 N` values) and computes their [`Groups`],
/// the `N` chains interleaved. Without `FULL` (the soft minima alone) `b_lt_a` and `finite`
/// are left out (zero), and `lo`, `hi` and `base` come from minima and maxima (the same
/// values but for the sign of a zero).
///
/// # Safety
/// `g..g + 16 N` must be readable; the CPU must have AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
unsafe fn groups<const N: usize, const FULL: bool>(g: *const f64, inv_s: __m512d) -> Groups<N> {
    // SAFETY: the index tables hold 8 values each.
    let (even, odd) = unsafe {
        (
            _mm512_loadu_si512(EVEN.as_ptr().cast()),
            _mm512_loadu_si512(ODD.as_ptr().cast()),
        )
    };
    // SAFETY: the caller guarantees `g..g + 16 N`.
    let v0 = each!(N, |i| unsafe { _mm512_loadu_pd(g.add(16 * i)) });
    // SAFETY: as above.
    let v1 = each!(N, |i| unsafe { _mm512_loadu_pd(g.add(16 * i + 8)) });
    let a = each!(N, |i| _mm512_permutex2var_pd(v0[i], even, v1[i]));
    let b = each!(N, |i| _mm512_permutex2var_pd(v0[i], odd, v1[i]));
    let (b_lt_a, lo, hi, finite, base) = if FULL {
        let b_lt_a = each_mask!(N, |i| _mm512_cmp_pd_mask::<_CMP_LT_OQ>(b[i], a[i]));
        let lo = each!(N, |i| _mm512_mask_blend_pd(b_lt_a[i], a[i], b[i]));
        let hi = each!(N, |i| _mm512_mask_blend_pd(b_lt_a[i], b[i], a[i]));
        let infinity = _mm512_set1_pd(f64::INFINITY);
        let finite = each_mask!(N, |i| _mm512_cmp_pd_mask::<_CMP_LT_OQ>(lo[i], infinity));
        let base = each!(N, |i| _mm512_maskz_mov_pd(finite[i], lo[i]));
        (b_lt_a, lo, hi, finite, base)
    } else {
        let lo = each!(N, |i| _mm512_min_pd(a[i], b[i]));
        let hi = each!(N, |i| _mm512_max_pd(a[i], b[i]));
        // f64::MAX - inf = -inf, as 0 - inf: w = 0 where lo = +inf.
        let base = each!(N, |i| _mm512_min_pd(lo[i], _mm512_set1_pd(f64::MAX)));
        ([0; N], lo, hi, [0; N], base)
    };
    let x = each!(N, |i| _mm512_mul_pd(_mm512_sub_pd(base[i], hi[i]), inv_s));
    let w = exp_avx512_n::<N, false>(x);
    Groups {
        b_lt_a,
        lo,
        finite,
        x,
        w,
    }
}

/// Prefetches the two cache lines at `ahead[x..x + 16]` if they are inside `ahead`.
#[inline(always)]
fn prefetch_lines(ahead: &[f64], x: usize) {
    if x + 16 <= ahead.len() {
        // SAFETY: both addresses are inside `ahead` (prefetches never fault anyway).
        unsafe {
            _mm_prefetch(ahead.as_ptr().add(x).cast::<i8>(), _MM_HINT_T0);
            _mm_prefetch(ahead.as_ptr().add(x + 8).cast::<i8>(), _MM_HINT_T0);
        }
    }
}

/// The full step of blocks of two over the first `n / 8 * 8` blocks, `n = min(g.len() / 2,
/// soft, entropy, cond.len() / 2)`: with `w = exp(-(hi - lo) / s)`, `Z = 1 + w`,
///
/// ```text
/// cond = (1 / Z, w / Z) for (lo, hi),   soft = lo - s ln_1p(w),   entropy = ln_1p(w) + (w / Z) (hi - lo) / s
/// ```
///
/// (the last term only where `w / Z > 0`); a block whose smaller child is `+inf` gets
/// `cond = 0`, `soft = +inf`, `entropy = 0`. `ahead[x]` is prefetched while `g[x]` is
/// read (the caller's next chunks). Returns `n / 8 * 8`.
///
/// # Safety
/// The CPU must have AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(crate) unsafe fn gibbs_pairs(
    g: &[f64],
    ahead: &[f64],
    s: f64,
    cond: &mut [f64],
    soft: &mut [f64],
    entropy: &mut [f64],
) -> usize {
    let n = (g.len() / 2)
        .min(cond.len() / 2)
        .min(soft.len())
        .min(entropy.len());
    let split = n / 8 * 8;
    // SAFETY: the index tables hold 8 values each.
    let (low, high) = unsafe {
        (
            _mm512_loadu_si512(INTERLEAVE_LOW.as_ptr().cast()),
            _mm512_loadu_si512(INTERLEAVE_HIGH.as_ptr().cast()),
        )
    };
    let mut y = 0;
    while y + 8 * WIDE <= split {
        (0..WIDE).for_each(|i| prefetch_lines(ahead, 2 * (y + 8 * i)));
        // SAFETY: `y + 8 WIDE <= split <= n`, so `g[2y..2y + 16 WIDE]` and
        // `cond[2y..2y + 16 WIDE]`, `soft[y..y + 8 WIDE]` and `entropy[y..y + 8 WIDE]` are in
        // bounds.
        unsafe { gibbs_groups::<WIDE>(g, s, (low, high), cond, soft, entropy, y) };
        y += 8 * WIDE;
    }
    while y < split {
        prefetch_lines(ahead, 2 * y);
        // SAFETY: as above, for one group.
        unsafe { gibbs_groups::<1>(g, s, (low, high), cond, soft, entropy, y) };
        y += 8;
    }
    split
}

/// The soft minima alone of blocks of two, `soft = lo - s ln_1p(exp(-(hi - lo) / s))` (`+inf`
/// where `lo = +inf`), over the first `n / 8 * 8` blocks, `n = min(g.len() / 2, soft)`;
/// prefetching `ahead` as [`gibbs_pairs`]. Returns `n / 8 * 8`.
///
/// # Safety
/// The CPU must have AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(crate) unsafe fn soft_pairs(g: &[f64], ahead: &[f64], s: f64, soft: &mut [f64]) -> usize {
    let n = (g.len() / 2).min(soft.len());
    let split = n / 8 * 8;
    let mut y = 0;
    while y + 8 * WIDE <= split {
        (0..WIDE).for_each(|i| prefetch_lines(ahead, 2 * (y + 8 * i)));
        // SAFETY: `y + 8 WIDE <= split <= n`: `g[2y..2y + 16 WIDE]` and
        // `soft[y..y + 8 WIDE]` are in bounds.
        unsafe { soft_groups::<WIDE>(g, s, soft, y) };
        y += 8 * WIDE;
    }
    while y < split {
        prefetch_lines(ahead, 2 * y);
        // SAFETY: as above, for one group.
        unsafe { soft_groups::<1>(g, s, soft, y) };
        y += 8;
    }
    split
}

/// Groups of 8 blocks done at once by the pair kernels (their chains interleaved).
const WIDE: usize = 4;

/// The body of [`gibbs_pairs`] for the `N` groups of blocks `y..y + 8 N`, with the
/// permutations `(low, high)` that interleave two registers back into children.
///
/// # Safety
/// `g[2y..2y + 16 N]`, `cond[2y..2y + 16 N]`, `soft[y..y + 8 N]` and `entropy[y..y + 8 N]`
/// must be in bounds; the CPU must have AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
unsafe fn gibbs_groups<const N: usize>(
    g: &[f64],
    s: f64,
    (low, high): (__m512i, __m512i),
    cond: &mut [f64],
    soft: &mut [f64],
    entropy: &mut [f64],
    y: usize,
) {
    let (inv_s, s) = (_mm512_set1_pd(1.0 / s), _mm512_set1_pd(s));
    let one = _mm512_set1_pd(1.0);
    let zero = _mm512_setzero_pd();
    // SAFETY: the caller guarantees `g[2y..2y + 16 N]`.
    let grp = unsafe { groups::<N, true>(g.as_ptr().add(2 * y), inv_s) };
    // P(lo) = 1 / (1 + w), 0 where lo = +inf; P(hi) = w P(lo) (w = 0 there).
    let p_lo = each!(N, |i| _mm512_maskz_div_pd(
        grp.finite[i],
        one,
        _mm512_add_pd(one, grp.w[i])
    ));
    let p_hi = each!(N, |i| _mm512_mul_pd(grp.w[i], p_lo[i]));
    let c_a = each!(N, |i| _mm512_mask_blend_pd(grp.b_lt_a[i], p_lo[i], p_hi[i]));
    let c_b = each!(N, |i| _mm512_mask_blend_pd(grp.b_lt_a[i], p_hi[i], p_lo[i]));
    let lz = ln_1p_avx512_n(grp.w);
    // p_hi = 0 exactly where hi = +inf (x = -inf) or w underflows: the entropy is ln_1p(w)
    // there (0 where lo = +inf too, since w = 0).
    let spread = each_mask!(N, |i| _mm512_cmp_pd_mask::<_CMP_GT_OQ>(p_hi[i], zero));
    let sf = each!(N, |i| soft_value(grp.lo[i], s, lz[i]));
    let en = each!(N, |i| _mm512_mask3_fnmadd_pd(
        p_hi[i], grp.x[i], lz[i], spread[i]
    ));
    for i in 0..N {
        let y = y + 8 * i;
        // SAFETY: `y + 8 <= ` the caller's bound, so these are in bounds.
        unsafe {
            let c = cond.as_mut_ptr().add(2 * y);
            _mm512_storeu_pd(c, _mm512_permutex2var_pd(c_a[i], low, c_b[i]));
            _mm512_storeu_pd(c.add(8), _mm512_permutex2var_pd(c_a[i], high, c_b[i]));
            _mm512_storeu_pd(soft.as_mut_ptr().add(y), sf[i]);
            _mm512_storeu_pd(entropy.as_mut_ptr().add(y), en[i]);
        }
    }
}

/// The body of [`soft_pairs`] for the `N` groups of blocks `y..y + 8 N`.
///
/// # Safety
/// `g[2y..2y + 16 N]` and `soft[y..y + 8 N]` must be in bounds; the CPU must have AVX-512 F
/// and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
unsafe fn soft_groups<const N: usize>(g: &[f64], s: f64, soft: &mut [f64], y: usize) {
    let (inv_s, s) = (_mm512_set1_pd(1.0 / s), _mm512_set1_pd(s));
    // SAFETY: the caller guarantees `g[2y..2y + 16 N]`.
    let grp = unsafe { groups::<N, false>(g.as_ptr().add(2 * y), inv_s) };
    let lz = ln_1p_avx512_n(grp.w);
    let sf = each!(N, |i| soft_value(grp.lo[i], s, lz[i]));
    for (i, sf) in sf.iter().enumerate() {
        // SAFETY: the caller guarantees `soft[y..y + 8 N]`.
        unsafe { _mm512_storeu_pd(soft.as_mut_ptr().add(y + 8 * i), *sf) };
    }
}

/// The soft minimum `lo - s ln_1p(w)` of a block, rounded once (`+inf` where `lo = +inf`,
/// since `w = 0` there).
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
fn soft_value(lo: __m512d, s: __m512d, lz: __m512d) -> __m512d {
    _mm512_fnmadd_pd(s, lz, lo)
}
