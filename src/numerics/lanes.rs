//! AVX-512 bodies of two top-down loops over `f64` (the marginal scaling of blocks of two and
//! the expectation of a weight), which the compiler's vectoriser splits into 2-lane pieces:
//! each returns the 8 partial sums of the whole groups of 8 and where the groups end, so the
//! caller adds them and the tail exactly as the portable loop does (same values, bit for bit).

/// For each group of 8 blocks of two: `out[2y + i] *= coarse[y]` and `acc[y mod 8] +=
/// coarse[y] h[y]`, over the first `n / 8 * 8` blocks, `n = min(coarse, h, out / 2)`.
/// Returns `(acc, n / 8 * 8)`.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(crate) unsafe fn scale_pairs_weighted(
    coarse: &[f64],
    h: &[f64],
    out: &mut [f64],
) -> ([f64; 8], usize) {
    use std::arch::x86_64::*;
    let n = coarse.len().min(h.len()).min(out.len() / 2);
    let split = n / 8 * 8;
    let low = _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0);
    let high = _mm512_set_epi64(7, 7, 6, 6, 5, 5, 4, 4);
    let mut acc = _mm512_setzero_pd();
    let (c, hp, o) = (coarse.as_ptr(), h.as_ptr(), out.as_mut_ptr());
    for y in (0..split).step_by(8) {
        // SAFETY: `y + 8 <= split <= n`, so `coarse[y..y + 8]`, `h[y..y + 8]` and
        // `out[2y..2y + 16]` are in bounds.
        unsafe {
            let cy = _mm512_loadu_pd(c.add(y));
            acc = _mm512_add_pd(acc, _mm512_mul_pd(cy, _mm512_loadu_pd(hp.add(y))));
            let x = o.add(2 * y);
            _mm512_storeu_pd(
                x,
                _mm512_mul_pd(_mm512_loadu_pd(x), _mm512_permutexvar_pd(low, cy)),
            );
            let x = x.add(8);
            _mm512_storeu_pd(
                x,
                _mm512_mul_pd(_mm512_loadu_pd(x), _mm512_permutexvar_pd(high, cy)),
            );
        }
    }
    let mut lanes = [0.0; 8];
    // SAFETY: `lanes` holds 8 values.
    unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
    (lanes, split)
}

/// `acc[i mod 8] += p[i] w[i]` for `p[i] > 0` (other terms add nothing, so `w = +inf` where
/// `p = 0` is harmless), over the first `n / 8 * 8` positions, `n = min(p, w)`. Returns
/// `(acc, n / 8 * 8)`.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(crate) unsafe fn positive_dot(p: &[f64], w: &[f64]) -> ([f64; 8], usize) {
    use std::arch::x86_64::*;
    let n = p.len().min(w.len());
    let split = n / 8 * 8;
    let zero = _mm512_setzero_pd();
    let mut acc = zero;
    for i in (0..split).step_by(8) {
        // SAFETY: `i + 8 <= split <= n`.
        unsafe {
            let pi = _mm512_loadu_pd(p.as_ptr().add(i));
            let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(pi, zero);
            let term = _mm512_maskz_mul_pd(positive, pi, _mm512_loadu_pd(w.as_ptr().add(i)));
            acc = _mm512_add_pd(acc, term);
        }
    }
    let mut lanes = [0.0; 8];
    // SAFETY: `lanes` holds 8 values.
    unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
    (lanes, split)
}
