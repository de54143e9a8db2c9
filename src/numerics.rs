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
/// `exp_in_place` is the hot spot of the tabulated sweep; `f64` overrides it with a
/// vectorisable exponential accurate to about 1 ulp ([`exp_slice`]).
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
}

/// `x <- exp(x)` over a slice, vectorisable (no branches, no libm calls), for arguments
/// `<= 709`; `-inf` gives exactly `0`, results below the normal range are subnormal or `0`.
///
/// Cody–Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, a degree-13 Taylor polynomial
/// (truncation error below `5e-18`), and `2^n` applied as two factors so subnormal results
/// are exact to rounding. Accurate to about 1 ulp; NaN inputs are not supported.
pub fn exp_slice(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = exp_approx(*x);
    }
}

#[inline(always)]
fn exp_approx(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    #[allow(clippy::excessive_precision)]
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    #[allow(clippy::excessive_precision)]
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-746.0, 709.78);
    let t = x * LOG2E + SHIFT;
    let n = t - SHIFT;
    let ni = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Horner, degree 13.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let n1 = ni >> 1;
    let n2 = ni - n1;
    let s1 = f64::from_bits(((n1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((n2 + 1023) as u64) << 52);
    p * s1 * s2
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
/// is done in chunks of about 512 positions so the exponentials of a chunk are one
/// vectorised call and the data stays in L1.
pub fn gibbs_blocks<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    s: T,
    cond: &mut [T],
    soft: &mut [T],
    entropy: &mut [T],
) {
    match layout {
        Layout::Uniform(b) => gibbs_blocks_with(g, |y| b * y..b * (y + 1), s, cond, soft, entropy),
        Layout::Offsets(o) => gibbs_blocks_with(g, |y| o[y]..o[y + 1], s, cond, soft, entropy),
    }
}

#[inline(always)]
fn gibbs_blocks_with<T: Real, B: Fn(usize) -> std::ops::Range<usize>>(
    g: &[T],
    block: B,
    s: T,
    cond: &mut [T],
    soft: &mut [T],
    entropy: &mut [T],
) {
    let inv_s = T::one() / s;
    // Multiplying by 1/s is exact enough and much cheaper than dividing, unless 1/s overflows.
    let use_inv = inv_s.is_finite();
    let scaled = |d: T| if use_inv { d * inv_s } else { d / s };
    let nb = soft.len();
    let mut mins: Vec<T> = Vec::with_capacity(CHUNK);
    let mut y0 = 0;
    while y0 < nb {
        let start = block(y0).start;
        let mut y1 = y0 + 1;
        while y1 < nb && y1 - y0 < CHUNK && block(y1).end - start <= CHUNK {
            y1 += 1;
        }
        let end = block(y1 - 1).end;
        mins.clear();
        for y in y0..y1 {
            let r = block(y);
            let m = min(&g[r.clone()]);
            mins.push(m);
            if m == T::infinity() {
                cond[r].iter_mut().for_each(|c| *c = T::neg_infinity());
            } else {
                for (c, &x) in cond[r.clone()].iter_mut().zip(&g[r]) {
                    *c = scaled(m - x);
                }
            }
        }
        T::exp_in_place(&mut cond[start..end]);
        for y in y0..y1 {
            let r = block(y);
            let m = mins[y - y0];
            if m == T::infinity() {
                soft[y] = T::infinity();
                entropy[y] = T::zero();
                continue;
            }
            let c = &mut cond[r.clone()];
            let z = c.iter().fold(T::zero(), |acc, &w| acc + w);
            let inv_z = T::one() / z;
            let ln_z = z.ln();
            let mut acc = T::zero();
            for (w, &x) in c.iter_mut().zip(&g[r]) {
                let p = *w * inv_z;
                *w = p;
                // p = 0 exactly where x = +inf (or underflow): contributes nothing.
                acc = acc
                    + if p > T::zero() {
                        p * (x - m)
                    } else {
                        T::zero()
                    };
            }
            soft[y] = m - s * ln_z;
            entropy[y] = ln_z + scaled(acc);
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
        for (&x, &y) in xs.iter().zip(&ys) {
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
    fn soft_min_factors_out_the_minimum() {
        let g = [1e300, 1e300, f64::INFINITY];
        assert_eq!(soft_min(&g, 1.0), 1e300);
        let g = [0.0, 0.0];
        assert!((soft_min(&g, 1.0) + 2f64.ln()).abs() < 1e-15);
        assert_eq!(soft_min::<f64>(&[], 1.0), f64::INFINITY);
        assert_eq!(soft_min(&[3.0, 2.0], 0.0), 2.0);
    }
}
