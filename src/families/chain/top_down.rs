//! The top-down pass of an inhomogeneous chain.

use super::definition::Boundary;
use super::flow::ChainFlow;
use crate::numerics::transfer::{top_down_bottom, top_down_level};
use crate::numerics::{exp_slice, gibbs_into, ln_slice, min, CompensatedSum as Sum, Real};

/// The top-down pass of an inhomogeneous chain flow (see [`Chain::solve`]): the conditional
/// entropies `H(Y_k | Y_{k+1})` for `k < L`, then `H(Y_L)`, and `E[f]`, from the pair
/// marginals `M_{k,j}` of the sites of each level-`k` bond, passed down level by level.
///
/// The top is `P(a, c) = exp(-phi_L(a, c) / S_L) / Z` (open) or
/// `P(a) = exp(-phi_L(a, a) / S_L) / Z` with `M_L(a, c) = P(a) [a = c]` (ring). Below it, the
/// site between the two sites of bond `j` of level `k + 1` has, given them in states `a, c`,
///
/// ```text
/// P(b | a, c) = exp(-d_b) / z,   d_b = (x_b - m) / S_k,   x_b = phi_{k,2j}(a, b) + phi_{k,2j+1}(b, c),
/// m = min_b x_b,   z = sum_b exp(-d_b),   H(P(. | a, c)) = sum_b P(b | a, c) d_b + log z.
/// ```
///
/// Cost `O(2^L q^3)`; memory two levels of pair marginals.
pub(super) fn chain_top_down(flow: &ChainFlow) -> (Vec<f64>, f64) {
    let q = flow.q;
    let qq = q * q;
    let l = flow.levels;
    let mut cond = vec![0.0; l + 1];
    // The top.
    let top = &flow.losses[l].bonds[..qq];
    let s = flow.cumulative[l];
    let values: Vec<f64> = match flow.boundary {
        Boundary::Open => top.to_vec(),
        Boundary::Ring => (0..q).map(|a| top[a * q + a]).collect(),
    };
    let mut p = vec![0.0; values.len()];
    gibbs_into(&values, s, &mut p);
    let m = min(&values);
    let mut h_top = Sum::default();
    let mut z = 0.0;
    for &v in &values {
        z += (-(v - m) / s).exp();
    }
    for (&pi, &v) in p.iter().zip(&values) {
        if pi > 0.0 {
            h_top.add(pi * ((v - m) / s));
        }
    }
    h_top.add(z.ln());
    cond[l] = h_top.value();
    let mut marg: Vec<f64> = match flow.boundary {
        Boundary::Open => p,
        Boundary::Ring => {
            let mut mm = vec![0.0; qq];
            for a in 0..q {
                mm[a * q + a] = p[a];
            }
            mm
        }
    };
    let c0 = flow.losses[0].constant;
    if l == 0 {
        let mut e = Sum::default();
        for (&w, &x) in marg.iter().zip(top) {
            if w > 0.0 {
                e.add(w * x);
            }
        }
        return (cond, c0 + e.value());
    }
    let mut expected = Sum::default();
    // Pair marginals of levels L-1..1 (level 0's are not needed), allocated once.
    let most = flow.losses.get(1).map_or(0, |g| g.bonds.len());
    let mut finer = Vec::with_capacity(most);
    marg.reserve(most.saturating_sub(marg.len()));
    let mut e = vec![0.0; qq * q];
    let mut d = vec![0.0; qq * q];
    let mut lnz = vec![0.0; qq];
    for k in (0..l).rev() {
        let bonds = &flow.losses[k].bonds;
        let s = flow.cumulative[k];
        finer.clear();
        if k == 1 && (q == 2 || q == 3) {
            // Levels 1 and 0 together, a block of level-2 bonds at a time: the level-1 pair
            // marginals live only in a small buffer.
            let (b0, s0) = (&flow.losses[0].bonds, flow.cumulative[0]);
            let (h1, h0, e0) = if q == 2 {
                <f64 as Real>::kernel(
                    #[inline(always)]
                    || top_down_bottom::<2>(bonds, s, b0, s0, &marg),
                )
            } else {
                <f64 as Real>::kernel(
                    #[inline(always)]
                    || top_down_bottom::<3>(bonds, s, b0, s0, &marg),
                )
            };
            cond[1] = h1;
            cond[0] = h0;
            expected.add(e0);
            break;
        }
        let fixed = match (q, k) {
            (2, 0) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<2, true>(bonds, s, &marg, &mut finer),
            )),
            (3, 0) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<3, true>(bonds, s, &marg, &mut finer),
            )),
            (2, _) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || {
                    finer.resize(bonds.len(), 0.0);
                    top_down_level::<2, false>(bonds, s, &marg, &mut finer)
                },
            )),
            (3, _) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || {
                    finer.resize(bonds.len(), 0.0);
                    top_down_level::<3, false>(bonds, s, &marg, &mut finer)
                },
            )),
            _ => None,
        };
        if let Some((hk, ek)) = fixed {
            cond[k] = hk;
            if k == 0 {
                expected.add(ek);
            }
            std::mem::swap(&mut marg, &mut finer);
            continue;
        }
        finer.resize(bonds.len(), 0.0);
        let mut h = Sum::default();
        for (j, (mj, pair)) in marg
            .chunks_exact(qq)
            .zip(finer.chunks_exact_mut(2 * qq))
            .enumerate()
        {
            let left = &bonds[2 * j * qq..][..qq];
            let right = &bonds[(2 * j + 1) * qq..][..qq];
            // Shifted exponents of every (a, c) with weight, then one vectorised exp.
            for a in 0..q {
                for c in 0..q {
                    let ac = a * q + c;
                    let db = &mut d[ac * q..][..q];
                    let mut mn = f64::INFINITY;
                    for (b, x) in db.iter_mut().enumerate() {
                        *x = left[a * q + b] + right[b * q + c];
                        mn = mn.min(*x);
                    }
                    let eb = &mut e[ac * q..][..q];
                    if mj[ac] > 0.0 && mn < f64::INFINITY {
                        for (y, x) in eb.iter_mut().zip(db.iter_mut()) {
                            *x = (*x - mn) / s;
                            *y = -*x;
                        }
                    } else {
                        eb.iter_mut().for_each(|y| *y = f64::NEG_INFINITY);
                    }
                }
            }
            exp_slice(&mut e);
            for (ac, zac) in lnz.iter_mut().enumerate() {
                *zac = e[ac * q..][..q].iter().sum::<f64>();
                if *zac == 0.0 {
                    *zac = 1.0;
                }
            }
            ln_slice(&mut lnz);
            let (ml, mr) = pair.split_at_mut(qq);
            let mut hj = 0.0;
            let mut ej = 0.0;
            for a in 0..q {
                for c in 0..q {
                    let ac = a * q + c;
                    let w = mj[ac];
                    if w <= 0.0 {
                        continue;
                    }
                    let zac = e[ac * q..][..q].iter().sum::<f64>();
                    if zac == 0.0 {
                        continue;
                    }
                    let inv_z = 1.0 / zac;
                    let mut hac = 0.0;
                    let mut eac = 0.0;
                    for b in 0..q {
                        let pb = e[ac * q + b] * inv_z;
                        if pb > 0.0 {
                            hac += pb * d[ac * q + b];
                            ml[a * q + b] += w * pb;
                            mr[b * q + c] += w * pb;
                            if k == 0 {
                                eac += pb * (left[a * q + b] + right[b * q + c]);
                            }
                        }
                    }
                    hj += w * (hac + lnz[ac]);
                    ej += w * eac;
                }
            }
            h.add(hj);
            if k == 0 {
                expected.add(ej);
            }
        }
        cond[k] = h.value();
        std::mem::swap(&mut marg, &mut finer);
    }
    (cond, c0 + expected.value())
}
