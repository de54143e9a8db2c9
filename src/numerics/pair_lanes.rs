//! AVX-512 bodies of the bottom-up step of blocks of two (binary trees): each group of 8
//! blocks is done in registers — minimum, one `exp`, one `ln_1p`, one reciprocal — instead of
//! one pass over arrays per operation. Same formulas as the portable kernels of `blocks`
//! (`gibbs_pairs`, `soft_pairs`), with the vector `exp`/`ln_1p` of `vector`; they return
//! how many blocks they did (whole groups of 8), the caller does the rest.

use std::arch::x86_64::*;

use super::vector::{exp_avx512, ln_1p_avx512};

/// Lanes `0, 2, .., 14` and `1, 3, .., 15` of two registers (the first and second child of
/// 8 blocks), and back.
const EVEN: [i64; 8] = [0, 2, 4, 6, 8, 10, 12, 14];
const ODD: [i64; 8] = [1, 3, 5, 7, 9, 11, 13, 15];
const INTERLEAVE_LOW: [i64; 8] = [0, 8, 1, 9, 2, 10, 3, 11];
const INTERLEAVE_HIGH: [i64; 8] = [4, 12, 5, 13, 6, 14, 7, 15];

/// 8 blocks of two from `g[16 i..16 i + 16]` (`a`, `b` the first and second child): `b < a`, with
/// `lo = min(a, b)`, `hi` the other, `finite = lo < +inf` and `w = exp((base - hi) / s)`,
/// `base = lo` (`0` where `lo = +inf`, so `w = 0` there).
struct Group {
    b_lt_a: __mmask8,
    lo: __m512d,
    hi: __m512d,
    finite: __mmask8,
    w: __m512d,
}

/// Loads the group of 8 blocks at `g` (16 values) and computes its [`Group`].
///
/// # Safety
/// `g..g + 16` must be readable; the CPU must have AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
#[inline]
unsafe fn group(g: *const f64, inv_s: __m512d) -> Group {
    // SAFETY: the caller guarantees `g..g + 16`; the index tables hold 8 values each.
    let (v0, v1, even, odd) = unsafe {
        (
            _mm512_loadu_pd(g),
            _mm512_loadu_pd(g.add(8)),
            _mm512_loadu_si512(EVEN.as_ptr().cast()),
            _mm512_loadu_si512(ODD.as_ptr().cast()),
        )
    };
    let a = _mm512_permutex2var_pd(v0, even, v1);
    let b = _mm512_permutex2var_pd(v0, odd, v1);
    let b_lt_a = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(b, a);
    let lo = _mm512_mask_blend_pd(b_lt_a, a, b);
    let hi = _mm512_mask_blend_pd(b_lt_a, b, a);
    let finite = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(lo, _mm512_set1_pd(f64::INFINITY));
    let base = _mm512_maskz_mov_pd(finite, lo);
    let w = exp_avx512(_mm512_mul_pd(_mm512_sub_pd(base, hi), inv_s));
    Group {
        b_lt_a,
        lo,
        hi,
        finite,
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
    let inv_s = 1.0 / s;
    let (inv_s_v, s_v) = (_mm512_set1_pd(inv_s), _mm512_set1_pd(s));
    let one = _mm512_set1_pd(1.0);
    let zero = _mm512_setzero_pd();
    let infinity = _mm512_set1_pd(f64::INFINITY);
    // SAFETY: the index tables hold 8 values each.
    let (low, high) = unsafe {
        (
            _mm512_loadu_si512(INTERLEAVE_LOW.as_ptr().cast()),
            _mm512_loadu_si512(INTERLEAVE_HIGH.as_ptr().cast()),
        )
    };
    for y in (0..split).step_by(8) {
        prefetch_lines(ahead, 2 * y);
        // SAFETY: `y + 8 <= split <= n`, so `g[2y..2y + 16]` and `cond[2y..2y + 16]`,
        // `soft[y..y + 8]` and `entropy[y..y + 8]` are in bounds.
        let grp = unsafe { group(g.as_ptr().add(2 * y), inv_s_v) };
        let inv_z = _mm512_div_pd(one, _mm512_add_pd(one, grp.w));
        let p_lo = _mm512_maskz_mov_pd(grp.finite, inv_z);
        let p_hi = _mm512_maskz_mul_pd(grp.finite, grp.w, inv_z);
        let c_a = _mm512_mask_blend_pd(grp.b_lt_a, p_lo, p_hi);
        let c_b = _mm512_mask_blend_pd(grp.b_lt_a, p_hi, p_lo);
        let lz = ln_1p_avx512(grp.w);
        let spread = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(p_hi, zero);
        let acc = _mm512_maskz_mul_pd(spread, p_hi, _mm512_sub_pd(grp.hi, grp.lo));
        let sf = _mm512_sub_pd(grp.lo, _mm512_mul_pd(s_v, lz));
        let sf = _mm512_mask_blend_pd(grp.finite, infinity, sf);
        let en = _mm512_maskz_add_pd(grp.finite, lz, _mm512_mul_pd(acc, inv_s_v));
        // SAFETY: as above.
        unsafe {
            let c = cond.as_mut_ptr().add(2 * y);
            _mm512_storeu_pd(c, _mm512_permutex2var_pd(c_a, low, c_b));
            _mm512_storeu_pd(c.add(8), _mm512_permutex2var_pd(c_a, high, c_b));
            _mm512_storeu_pd(soft.as_mut_ptr().add(y), sf);
            _mm512_storeu_pd(entropy.as_mut_ptr().add(y), en);
        }
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
    let inv_s = _mm512_set1_pd(1.0 / s);
    let s_v = _mm512_set1_pd(s);
    let infinity = _mm512_set1_pd(f64::INFINITY);
    for y in (0..split).step_by(8) {
        prefetch_lines(ahead, 2 * y);
        // SAFETY: `y + 8 <= split <= n`: `g[2y..2y + 16]` and `soft[y..y + 8]` are in bounds.
        let grp = unsafe { group(g.as_ptr().add(2 * y), inv_s) };
        let lz = ln_1p_avx512(grp.w);
        let sf = _mm512_sub_pd(grp.lo, _mm512_mul_pd(s_v, lz));
        let sf = _mm512_mask_blend_pd(grp.finite, infinity, sf);
        // SAFETY: as above.
        unsafe { _mm512_storeu_pd(soft.as_mut_ptr().add(y), sf) };
    }
    split
}
