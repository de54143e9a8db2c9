//! Soft min-plus products of `q x q` matrices: the log-domain matrix product of a chain's
//! decimation step.

use super::real::Real;
use super::vector::exp_slice;

/// Soft min-plus product of two `q x q` matrices (row-major), the log-domain matrix product
/// of one decimation step (docs/families-chain.md), with the minimum over the summed index factored out:
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
pub(crate) fn soft_min_plus_scratch(q: usize) -> usize {
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
pub(crate) fn soft_min_plus_factored(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::soft_min;

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
}
