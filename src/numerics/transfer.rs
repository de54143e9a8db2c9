//! Kernels of nearest-neighbour chains (docs/families-chain.md): the soft min-plus product
//! of two `q x q` bonds (one decimation step, `phi'(a, c) = -s log sum_b exp(-(l(a, b) +
//! r(b, c)) / s)`, for one pair or a whole level) and one level of the top-down pass (pair
//! marginals, conditional entropy, expected loss). Fixed alphabets `q = 2, 3` use stack
//! arrays and batched vectorised `exp`/`ln`; larger ones the factored product of `min_plus`.

use super::logsumexp::{gibbs_into, min};
use super::min_plus::{soft_min_plus, soft_min_plus_factored, soft_min_plus_scratch};
use super::reduce::CompensatedSum;
use super::vector::{exp_slice, ln_slice};

/// Alphabets up to this size use the per-entry-minimum kernel (`q^3` exponentials in one
/// vectorised call, faster for tiny `q`); larger ones the factored kernel (`2 q^2`).
pub(crate) const EXACT_MAX_Q: usize = 3;

pub(crate) fn kernel_scratch(q: usize) -> usize {
    soft_min_plus_scratch(q).max(q * q * q)
}

/// The `f64` decimation kernel, with the Gibbs weights of each sum when asked
/// (`weights[(a q + c) q + b]`, zeros where the output is `+inf`).
pub(crate) fn f64_kernel(
    left: &[f64],
    right: &[f64],
    q: usize,
    s: f64,
    out: &mut [f64],
    scratch: &mut [f64],
    weights: Option<&mut [f64]>,
) {
    if q > EXACT_MAX_Q {
        soft_min_plus_factored(left, right, q, s, out, scratch, weights);
        return;
    }
    match q {
        2 => return exact_kernel::<2>(left, right, s, out, weights),
        3 => return exact_kernel::<3>(left, right, s, out, weights),
        _ => {}
    }
    let scratch = &mut scratch[..q * q * q];
    soft_min_plus(left, right, q, s, out, scratch);
    if let Some(w) = weights {
        for (ac, (wb, e)) in w
            .chunks_exact_mut(q)
            .zip(scratch.chunks_exact(q))
            .enumerate()
        {
            if out[ac] == f64::INFINITY {
                wb.iter_mut().for_each(|p| *p = 0.0);
            } else {
                let inv_z = 1.0 / e.iter().sum::<f64>();
                for (p, &x) in wb.iter_mut().zip(e) {
                    *p = x * inv_z;
                }
            }
        }
    }
}

/// The shifted exponents of one bond pair for a fixed alphabet `Q`: for every `(a, c)`,
/// `t[a][c][b] = -(x_b - m) / s` with `x_b = left[a][b] + right[b][c]`, `m = m[a][c] = min_b x_b`
/// (`-inf` where `x_b = +inf`, and everywhere where `m = +inf`).
#[inline(always)]
pub(crate) fn shifted_exponents<const Q: usize>(
    left: &[f64],
    right: &[f64],
    s: f64,
    t: &mut [[[f64; Q]; Q]; Q],
    m: &mut [[f64; Q]; Q],
) {
    let (left, right) = (&left[..Q * Q], &right[..Q * Q]);
    let inv_s = 1.0 / s;
    let use_inv = inv_s.is_finite();
    for a in 0..Q {
        for c in 0..Q {
            let tb = &mut t[a][c];
            let mut mn = f64::INFINITY;
            for (b, x) in tb.iter_mut().enumerate() {
                *x = left[a * Q + b] + right[b * Q + c];
                mn = mn.min(*x);
            }
            m[a][c] = mn;
            if mn == f64::INFINITY {
                tb.iter_mut().for_each(|x| *x = f64::NEG_INFINITY);
            } else {
                for x in tb.iter_mut() {
                    let d = mn - *x;
                    *x = if use_inv { d * inv_s } else { d / s };
                }
            }
        }
    }
}

/// [`soft_min_plus`] for a fixed alphabet `Q` (stack arrays, one vectorised `exp` of the
/// `Q^3` shifted exponents and one vectorised `ln` of the `Q^2` sums), with the Gibbs weights
/// when asked (as [`f64_kernel`]).
#[inline(always)]
pub(crate) fn exact_kernel<const Q: usize>(
    left: &[f64],
    right: &[f64],
    s: f64,
    out: &mut [f64],
    weights: Option<&mut [f64]>,
) {
    let mut e = [[[0.0; Q]; Q]; Q];
    let mut m = [[0.0; Q]; Q];
    shifted_exponents::<Q>(left, right, s, &mut e, &mut m);
    exp_slice(e.as_flattened_mut().as_flattened_mut());
    let mut z = [[1.0; Q]; Q];
    for a in 0..Q {
        for c in 0..Q {
            if m[a][c] != f64::INFINITY {
                z[a][c] = e[a][c].iter().sum::<f64>();
            }
        }
    }
    let mut lnz = z;
    ln_slice(lnz.as_flattened_mut());
    let out = &mut out[..Q * Q];
    for a in 0..Q {
        for c in 0..Q {
            out[a * Q + c] = if m[a][c] == f64::INFINITY {
                f64::INFINITY
            } else {
                m[a][c] - s * lnz[a][c]
            };
        }
    }
    if let Some(w) = weights {
        let w = &mut w[..Q * Q * Q];
        for a in 0..Q {
            for c in 0..Q {
                let inv_z = 1.0 / z[a][c];
                for b in 0..Q {
                    // e = 0 everywhere where m = +inf.
                    w[(a * Q + c) * Q + b] = e[a][c][b] * inv_z;
                }
            }
        }
    }
}

/// Bond pairs per batch of [`exact_level`] and [`top_down_level`] (longer vectorised `exp`
/// and `ln` calls).
pub(crate) const BATCH: usize = 8;

/// [`exact_kernel`] (without weights) over a whole level, [`BATCH`] pairs at a time.
#[inline(always)]
pub(crate) fn exact_level<const Q: usize>(bonds: &[f64], s: f64, out: &mut [f64]) {
    let qq = Q * Q;
    let mut e = [[[[0.0; Q]; Q]; Q]; BATCH];
    let mut m = [[[0.0; Q]; Q]; BATCH];
    let mut z = [[[1.0; Q]; Q]; BATCH];
    for (pairs, outs) in bonds.chunks(2 * qq * BATCH).zip(out.chunks_mut(qq * BATCH)) {
        let n = outs.len() / qq;
        for (i, lr) in pairs.chunks_exact(2 * qq).enumerate() {
            let (left, right) = lr.split_at(qq);
            shifted_exponents::<Q>(left, right, s, &mut e[i], &mut m[i]);
        }
        exp_slice(
            e[..n]
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
        );
        for i in 0..n {
            for a in 0..Q {
                for c in 0..Q {
                    z[i][a][c] = if m[i][a][c] == f64::INFINITY {
                        1.0
                    } else {
                        e[i][a][c].iter().sum::<f64>()
                    };
                }
            }
        }
        ln_slice(z[..n].as_flattened_mut().as_flattened_mut());
        for (i, o) in outs.chunks_exact_mut(qq).enumerate() {
            for a in 0..Q {
                for c in 0..Q {
                    o[a * Q + c] = if m[i][a][c] == f64::INFINITY {
                        f64::INFINITY
                    } else {
                        m[i][a][c] - s * z[i][a][c]
                    };
                }
            }
        }
    }
}

/// One level of a chain's top-down pass for a fixed alphabet `Q`: from the pair marginals
/// `marg` of the level-`(k+1)` bonds (`M_{k+1,j}(a, c)`, `Q^2` per bond) and the level-`k`
/// bonds at `s = S_k`, the pair marginals of the level-`k` bonds into `finer` (zeroed, two per
/// coarse bond; written only if `WRITE`),
///
/// ```text
/// M_{k,2j}(a, b) += M_{k+1,j}(a, c) P(b | a, c),   M_{k,2j+1}(b, c) += M_{k+1,j}(a, c) P(b | a, c),
/// P(b | a, c) = exp(-d_b) / z,   d_b = (x_b - m) / s,   x_b = phi_{k,2j}(a, b) + phi_{k,2j+1}(b, c),
/// ```
///
/// and `(H(Y_k | Y_{k+1}), E[sum_i phi_{k,i}])` with
/// `H(Y_k | Y_{k+1}) = sum_j sum_{a,c} M_{k+1,j}(a, c) (sum_b P(b | a, c) d_b + log z)`.
/// [`BATCH`] bond pairs share one vectorised `exp` and one `ln`.
#[inline(always)]
pub(crate) fn top_down_level<const Q: usize, const WRITE: bool>(
    bonds: &[f64],
    s: f64,
    marg: &[f64],
    finer: &mut [f64],
) -> (f64, f64) {
    let qq = Q * Q;
    let mut h = CompensatedSum::default();
    let mut expected = CompensatedSum::default();
    let mut t = [[[[0.0; Q]; Q]; Q]; BATCH];
    let mut e = t;
    let mut m = [[[0.0; Q]; Q]; BATCH];
    let mut z = [[[1.0; Q]; Q]; BATCH];
    let mut none = [0.0; 0];
    let mut finer_batches = finer.chunks_mut(2 * qq * BATCH);
    for (margs, lrs) in marg.chunks(qq * BATCH).zip(bonds.chunks(2 * qq * BATCH)) {
        let n = margs.len() / qq;
        for (i, lr) in lrs.chunks_exact(2 * qq).enumerate() {
            let (left, right) = lr.split_at(qq);
            shifted_exponents::<Q>(left, right, s, &mut t[i], &mut m[i]);
        }
        e[..n].copy_from_slice(&t[..n]);
        exp_slice(
            e[..n]
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
        );
        for i in 0..n {
            for a in 0..Q {
                for c in 0..Q {
                    z[i][a][c] = if m[i][a][c] == f64::INFINITY {
                        1.0
                    } else {
                        e[i][a][c].iter().sum::<f64>()
                    };
                }
            }
        }
        let mut lnz = z;
        ln_slice(lnz[..n].as_flattened_mut().as_flattened_mut());
        let pairs = if WRITE {
            finer_batches
                .next()
                .expect("one finer pair per coarse bond")
        } else {
            &mut none[..]
        };
        for (i, (mj, lr)) in margs
            .chunks_exact(qq)
            .zip(lrs.chunks_exact(2 * qq))
            .enumerate()
        {
            let (left, right) = lr.split_at(qq);
            let pair = if WRITE {
                &mut pairs[2 * qq * i..][..2 * qq]
            } else {
                &mut pairs[..0]
            };
            let (ml, mr) = pair.split_at_mut(if WRITE { qq } else { 0 });
            let mut hj = 0.0;
            let mut ej = 0.0;
            for a in 0..Q {
                for c in 0..Q {
                    let w = mj[a * Q + c];
                    if !(w > 0.0 && m[i][a][c] != f64::INFINITY) {
                        continue;
                    }
                    let inv_z = 1.0 / z[i][a][c];
                    let mut hac = 0.0;
                    let mut eac = 0.0;
                    for b in 0..Q {
                        let pb = e[i][a][c][b] * inv_z;
                        if pb > 0.0 {
                            hac -= pb * t[i][a][c][b];
                            eac += pb * (left[a * Q + b] + right[b * Q + c]);
                            if WRITE {
                                ml[a * Q + b] += w * pb;
                                mr[b * Q + c] += w * pb;
                            }
                        }
                    }
                    hj += w * (hac + lnz[i][a][c]);
                    ej += w * eac;
                }
            }
            h.add(hj);
            expected.add(ej);
        }
    }
    (h.value(), expected.value())
}

/// [`top_down_level`] for any alphabet `q`, one bond pair at a time; `bond(i)` is the
/// level-`k` bond `i` (`q x q`), `finer` is written when given. `e` and `d` are scratch of
/// `q^3` entries, `lnz` of `q^2`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn top_down_level_any<'b>(
    bond: impl Fn(usize) -> &'b [f64],
    q: usize,
    s: f64,
    marg: &[f64],
    mut finer: Option<&mut [f64]>,
    scratch: &mut Vec<f64>,
) -> (f64, f64) {
    let qq = q * q;
    scratch.resize(2 * qq * q + qq, 0.0);
    let (e, rest) = scratch.split_at_mut(qq * q);
    let (d, lnz) = rest.split_at_mut(qq * q);
    let mut h = CompensatedSum::default();
    let mut expected = CompensatedSum::default();
    for (j, mj) in marg.chunks_exact(qq).enumerate() {
        let (left, right) = (bond(2 * j), bond(2 * j + 1));
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
        exp_slice(e);
        for (ac, zac) in lnz.iter_mut().enumerate() {
            *zac = e[ac * q..][..q].iter().sum::<f64>();
            if *zac == 0.0 {
                *zac = 1.0;
            }
        }
        ln_slice(lnz);
        let mut pair = finer
            .as_deref_mut()
            .map(|f| f[2 * j * qq..][..2 * qq].split_at_mut(qq));
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
                        eac += pb * (left[a * q + b] + right[b * q + c]);
                        if let Some((ml, mr)) = pair.as_mut() {
                            ml[a * q + b] += w * pb;
                            mr[b * q + c] += w * pb;
                        }
                    }
                }
                hj += w * (hac + lnz[ac]);
                ej += w * eac;
            }
        }
        h.add(hj);
        expected.add(ej);
    }
    (h.value(), expected.value())
}

/// The Gibbs distribution of `values` at `s` into `p`, and its entropy
/// `H = sum_i p_i (v_i - m) / s + log z`, `m = min_i v_i`, `z = sum_i exp(-(v_i - m) / s)`
/// (compensated sum).
pub(crate) fn gibbs_entropy(values: &[f64], s: f64, p: &mut [f64]) -> f64 {
    gibbs_into(values, s, p);
    let m = min(values);
    let mut h = CompensatedSum::default();
    let mut z = 0.0;
    for &v in values {
        z += (-(v - m) / s).exp();
    }
    for (&pi, &v) in p.iter().zip(values) {
        if pi > 0.0 {
            h.add(pi * ((v - m) / s));
        }
    }
    h.add(z.ln());
    h.value()
}
