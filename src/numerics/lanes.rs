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

/// The top-down step of blocks of two in one pass, for `fine.len() == 2 coarse.len()`:
/// `fine[x] *= coarse[x / 2]`, the result also written to `out` with non-temporal stores
/// (from the first 64-byte aligned position of `out`; plain stores before it and in the
/// tail), the blocks' share `sum_y coarse[y] h[y]` over `coarse[y] > 0`, and `sum_x fine[x]
/// w[x]` over `fine[x] > 0` if `w` is given (else 0). With `last` (the finest level of a
/// tile) `fine` is left as it was, since nobody reads its scaled values, and the
/// non-temporal stores of this and earlier calls are fenced; without it they are not fenced
/// (a fence waits for the stores in flight to reach memory). Each sum has 8 partial sums, of
/// the positions `y` (or `x`) `= j mod 8`, each added in order of position, then added
/// pairwise, so neither depends on where `out` lies in memory (nor on the number of
/// threads). Where `out` starts at an even distance from a 64-byte boundary (always, for
/// tables of the allocator) each step takes 8 whole blocks: one load of `coarse` and `h`
/// for 16 children.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(crate) unsafe fn scale_pairs_out(
    coarse: &[f64],
    fine: &mut [f64],
    h: &[f64],
    w: Option<&[f64]>,
    out: &mut [f64],
    last: bool,
) -> (f64, f64) {
    use std::arch::x86_64::*;
    let nb = coarse.len();
    let n = 2 * nb;
    assert!(fine.len() == n && out.len() == n && h.len() == nb);
    assert!(w.is_none_or(|w| w.len() == n));
    let one = |x: usize, sums: &mut [f64; 8], fine: &mut [f64], out: &mut [f64]| {
        let v = fine[x] * coarse[x / 2];
        if !last {
            fine[x] = v;
        }
        out[x] = v;
        if let Some(w) = w {
            if v > 0.0 {
                sums[x % 8] += v * w[x];
            }
        }
    };
    let block = |y: usize, blocks: &mut [f64; 8]| {
        if coarse[y] > 0.0 {
            blocks[y % 8] += coarse[y] * h[y];
        }
    };
    let mut sums = [0.0; 8];
    let mut blocks = [0.0; 8];
    let head = out.as_ptr().align_offset(64).min(n);
    (0..head).for_each(|x| one(x, &mut sums, fine, out));
    let whole_blocks = head.is_multiple_of(2);
    if whole_blocks {
        (0..head / 2).for_each(|y| block(y, &mut blocks));
    }
    // Lane l holds the positions x = head + l mod 8 (and blocks y = head / 2 + l mod 8).
    let rotated = |sums: &[f64; 8], from: usize| -> [f64; 8] {
        std::array::from_fn(|l| sums[(from + l) % 8])
    };
    let unrotate = |lanes: __m512d, sums: &mut [f64; 8], from: usize| {
        let mut v = [0.0; 8];
        // SAFETY: `v` holds 8 values.
        unsafe { _mm512_storeu_pd(v.as_mut_ptr(), lanes) };
        for (l, &v) in v.iter().enumerate() {
            sums[(from + l) % 8] = v;
        }
    };
    // SAFETY: both arrays hold 8 values.
    let (mut acc, mut acc_h) = unsafe {
        (
            _mm512_loadu_pd(rotated(&sums, head).as_ptr()),
            _mm512_loadu_pd(rotated(&blocks, head / 2).as_ptr()),
        )
    };
    let zero = _mm512_setzero_pd();
    let (c, hp, f, o) = (
        coarse.as_ptr(),
        h.as_ptr(),
        fine.as_mut_ptr(),
        out.as_mut_ptr(),
    );
    // One group of 8 children from `x` on, each scaled by the lane of `cy` that `spread`
    // picks: stored, streamed out and weighted.
    let children = |x: usize, cy: __m512d, spread: __m512i, acc: &mut __m512d| {
        // SAFETY: the callers' bounds put `fine[x..x + 8]`, `out[x..x + 8]` (64-byte
        // aligned: `head` made it so, and steps are multiples of 64 bytes) and `w[x..x + 8]`
        // in bounds.
        unsafe {
            let v = _mm512_mul_pd(_mm512_loadu_pd(f.add(x)), _mm512_permutexvar_pd(spread, cy));
            if !last {
                _mm512_storeu_pd(f.add(x), v);
            }
            _mm512_stream_pd(o.add(x), v);
            if let Some(w) = w {
                let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, zero);
                let term = _mm512_maskz_mul_pd(positive, v, _mm512_loadu_pd(w.as_ptr().add(x)));
                *acc = _mm512_add_pd(*acc, term);
            }
        }
    };
    let low = _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0);
    let high = _mm512_set_epi64(7, 7, 6, 6, 5, 5, 4, 4);
    let mut x = head;
    if whole_blocks {
        while x + 16 <= n {
            // SAFETY: `x` is even and `x + 16 <= n`, so `coarse[x / 2..x / 2 + 8]` and
            // `h[x / 2..x / 2 + 8]` are in bounds, and `children` gets `x + 16 <= n`.
            unsafe {
                let cy = _mm512_loadu_pd(c.add(x / 2));
                let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(cy, zero);
                let term = _mm512_maskz_mul_pd(positive, cy, _mm512_loadu_pd(hp.add(x / 2)));
                acc_h = _mm512_add_pd(acc_h, term);
                children(x, cy, low, &mut acc);
                children(x + 8, cy, high, &mut acc);
            }
            x += 16;
        }
        unrotate(acc_h, &mut blocks, head / 2);
        (x / 2..nb).for_each(|y| block(y, &mut blocks));
    } else {
        // Each group of 8 children starts at an odd child: spread the coarse values loaded
        // from block x / 2 on accordingly.
        let spread = _mm512_set_epi64(4, 3, 3, 2, 2, 1, 1, 0);
        while x + 8 <= n && x / 2 + 8 <= nb {
            // SAFETY: `coarse[x / 2..x / 2 + 8]` is in bounds, and `children` gets `x + 8 <= n`.
            unsafe { children(x, _mm512_loadu_pd(c.add(x / 2)), spread, &mut acc) };
            x += 8;
        }
        (0..nb).for_each(|y| block(y, &mut blocks));
    }
    if last {
        _mm_sfence();
    }
    unrotate(acc, &mut sums, head);
    (x..n).for_each(|x| one(x, &mut sums, fine, out));
    let pairwise = |s: &[f64; 8]| ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    (pairwise(&blocks), pairwise(&sums))
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Against plain loops, for every alignment of `out` and lengths around the vector
    /// width; the expectation is the same bit for bit wherever `out` lies.
    #[test]
    fn pair_kernels_match_plain_loops_at_every_alignment() {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq")) {
            return;
        }
        for nb in [0usize, 1, 3, 4, 7, 8, 9, 12, 13, 40, 101] {
            let coarse: Vec<f64> = (0..nb).map(|y| ((y * 37) % 11) as f64 / 13.0).collect();
            let h: Vec<f64> = (0..nb).map(|y| ((y * 17) % 5) as f64 * 0.3 + 0.1).collect();
            // Forbidden children (probability 0) have weight +inf, which adds nothing.
            let cond: Vec<f64> = (0..2 * nb)
                .map(|x| {
                    if x % 9 == 4 {
                        0.0
                    } else {
                        0.25 + (x % 7) as f64 * 0.1
                    }
                })
                .collect();
            let w: Vec<f64> = (0..2 * nb)
                .map(|x| {
                    if x % 9 == 4 {
                        f64::INFINITY
                    } else {
                        x as f64 * 0.37 - 3.0
                    }
                })
                .collect();
            let plain: Vec<f64> = (0..2 * nb).map(|x| cond[x] * coarse[x / 2]).collect();
            let want: f64 = plain
                .iter()
                .zip(&w)
                .filter(|(p, _)| **p > 0.0)
                .map(|(p, w)| p * w)
                .sum();
            // Forbidden blocks (coarse 0) may have any entropy; they add nothing.
            let coarse_h: Vec<f64> = (0..nb)
                .map(|y| if coarse[y] > 0.0 { h[y] } else { f64::INFINITY })
                .collect();
            let want_h: f64 = (0..nb)
                .filter(|&y| coarse[y] > 0.0)
                .map(|y| coarse[y] * h[y])
                .sum();
            let mut first = None;
            for start in 0..8 {
                let mut fine = cond.clone();
                let mut buffer = vec![f64::NAN; 2 * nb + 8];
                let out = &mut buffer[start..start + 2 * nb];
                // SAFETY: the CPU has AVX-512 F (checked above).
                let (got_h, got) =
                    unsafe { scale_pairs_out(&coarse, &mut fine, &coarse_h, Some(&w), out, false) };
                assert_eq!(fine, plain);
                assert_eq!(out, &plain[..]);
                assert!(
                    (got - want).abs() <= 1e-13 * want.abs().max(1.0),
                    "{got} vs {want}"
                );
                assert!(
                    (got_h - want_h).abs() <= 1e-14 * want_h.max(1.0),
                    "{got_h} vs {want_h}"
                );
                let bits = (got.to_bits(), got_h.to_bits());
                assert_eq!(*first.get_or_insert(bits), bits, "start {start}");
                let mut fine = cond.clone();
                // SAFETY: as above.
                let (none_h, none) =
                    unsafe { scale_pairs_out(&coarse, &mut fine, &coarse_h, None, out, true) };
                assert_eq!(none, 0.0);
                assert_eq!(none_h.to_bits(), got_h.to_bits());
                assert_eq!(fine, cond);
                assert_eq!(out, &plain[..]);
            }
            let mut scaled = cond.clone();
            // SAFETY: as above.
            let (acc, split) = unsafe { scale_pairs_weighted(&coarse, &h, &mut scaled) };
            assert_eq!(split, nb / 8 * 8);
            assert_eq!(&scaled[..2 * split], &plain[..2 * split]);
            let dot: f64 = (0..split).map(|y| coarse[y] * h[y]).sum();
            assert!((acc.iter().sum::<f64>() - dot).abs() <= 1e-14 * dot.max(1.0));
            // SAFETY: as above.
            let (acc, split) = unsafe { positive_dot(&plain, &w) };
            let dot: f64 = (0..split)
                .filter(|&x| plain[x] > 0.0)
                .map(|x| plain[x] * w[x])
                .sum();
            assert!((acc.iter().sum::<f64>() - dot).abs() <= 1e-13 * dot.abs().max(1.0));
        }
    }
}
