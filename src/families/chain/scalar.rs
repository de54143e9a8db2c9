//! The scalar of a chain flow and its decimation kernel.

use std::sync::Arc;

use super::conditional::ChainConditional;
use crate::dual::Dual;
use crate::numerics::transfer::{exact_level, f64_kernel, kernel_scratch};
use crate::numerics::Real;

/// The scalar of a chain flow: `f64` or a dual number, with the decimation kernel
/// `out = left ⊕_s right` (the soft min-plus product of [`crate::numerics::soft_min_plus`]).
///
/// `f64` uses [`crate::numerics::soft_min_plus`] for `q <= 3` and `soft_min_plus_factored` (`2 q^2`
/// exponentials) above. [`Dual`] computes the value with the same `f64` kernel and the tangents by the derivative of the soft minimum,
///
/// ```text
/// d out[a][c] = sum_b p_b (d left[a][b] + d right[b][c]) + (ds / s) sum_b p_b (out[a][c] - x_b),
/// p_b = exp(-(x_b - out[a][c]) / s),  x_b = left[a][b] + right[b][c],
/// ```
///
/// which is forward-mode differentiation of the kernel done by hand (test
/// `dual_kernel_matches_generic_dual_arithmetic`).
pub trait BondScalar: Real {
    /// What a step at this scalar keeps for the top-down pass: the level's bonds and `S_k`
    /// ([`ChainConditional`], shared with the step's loss: no copy).
    type Conditional;

    /// The conditional of a level with bonds `bonds` at `s = S_k`.
    fn conditional(bonds: &Arc<[Self]>, s: Self) -> Self::Conditional;

    /// `x` as a scalar whose derivative along direction 0 is `x` itself (for finite `x`;
    /// `+inf` gets none): the seed of `f -> (1 + t) f`. `f64` has no tangents: `x`.
    fn seed_t(x: f64) -> Self;

    /// A whole level at once: `out[j] = bonds[2j] ⊕_s bonds[2j+1]` for every pair of
    /// consecutive `q x q` matrices, if the scalar has a batched kernel for this `q`
    /// (returns `false`, leaving `out` alone, if not).
    fn soft_min_plus_level(_bonds: &[Self], _q: usize, _s: Self, _out: &mut [Self]) -> bool {
        false
    }

    /// `out = left ⊕_s right` for `q x q` row-major matrices; `ws` is reused between calls.
    fn soft_min_plus(
        left: &[Self],
        right: &[Self],
        q: usize,
        s: Self,
        out: &mut [Self],
        ws: &mut Vec<f64>,
    );
}

impl BondScalar for f64 {
    type Conditional = ChainConditional;

    fn conditional(bonds: &Arc<[f64]>, s: f64) -> ChainConditional {
        ChainConditional {
            bonds: Arc::clone(bonds),
            s,
        }
    }

    fn seed_t(x: f64) -> f64 {
        x
    }

    fn soft_min_plus_level(bonds: &[f64], q: usize, s: f64, out: &mut [f64]) -> bool {
        match q {
            2 => <f64 as Real>::kernel(
                #[inline(always)]
                || exact_level::<2>(bonds, s, out),
            ),
            3 => <f64 as Real>::kernel(
                #[inline(always)]
                || exact_level::<3>(bonds, s, out),
            ),
            _ => return false,
        }
        true
    }

    fn soft_min_plus(
        left: &[f64],
        right: &[f64],
        q: usize,
        s: f64,
        out: &mut [f64],
        ws: &mut Vec<f64>,
    ) {
        ws.resize(kernel_scratch(q), 0.0);
        f64_kernel(left, right, q, s, out, ws, None);
    }
}

impl<const N: usize> BondScalar for Dual<N> {
    type Conditional = ChainConditional<Self>;

    fn conditional(bonds: &Arc<[Self]>, s: Self) -> ChainConditional<Self> {
        ChainConditional {
            bonds: Arc::clone(bonds),
            s,
        }
    }

    fn seed_t(x: f64) -> Self {
        let mut d = Dual::constant(x);
        if x.is_finite() && N > 0 {
            d.eps[0] = x;
        }
        d
    }

    fn soft_min_plus(
        left: &[Self],
        right: &[Self],
        q: usize,
        s: Self,
        out: &mut [Self],
        ws: &mut Vec<f64>,
    ) {
        let qq = q * q;
        let k = kernel_scratch(q);
        ws.resize(k + 3 * qq + qq * q, 0.0);
        let (scratch, rest) = ws.split_at_mut(k);
        let (lv, rest) = rest.split_at_mut(qq);
        let (rv, rest) = rest.split_at_mut(qq);
        let (ov, w) = rest.split_at_mut(qq);
        for (v, x) in lv.iter_mut().zip(left) {
            *v = x.re;
        }
        for (v, x) in rv.iter_mut().zip(right) {
            *v = x.re;
        }
        f64_kernel(lv, rv, q, s.re, ov, scratch, Some(w));
        let ds_over_s = {
            let mut e = s.eps;
            e.iter_mut().for_each(|x| *x /= s.re);
            e
        };
        let s_moves = ds_over_s.iter().any(|&x| x != 0.0);
        for a in 0..q {
            for c in 0..q {
                let v = ov[a * q + c];
                let o = &mut out[a * q + c];
                if v == f64::INFINITY {
                    *o = Dual::constant(f64::INFINITY);
                    continue;
                }
                let mut eps = [0.0; N];
                let mut spread = 0.0;
                for b in 0..q {
                    let p = w[(a * q + c) * q + b];
                    if p == 0.0 {
                        continue;
                    }
                    let (l, r) = (&left[a * q + b], &right[b * q + c]);
                    for (e, (dl, dr)) in eps.iter_mut().zip(l.eps.iter().zip(&r.eps)) {
                        *e += p * (dl + dr);
                    }
                    if s_moves {
                        spread += p * (v - (lv[a * q + b] + rv[b * q + c]));
                    }
                }
                if s_moves {
                    for (e, d) in eps.iter_mut().zip(&ds_over_s) {
                        *e += d * spread;
                    }
                }
                *o = Dual::new(v, eps);
            }
        }
    }
}
