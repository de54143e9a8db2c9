//! Transfer kernels of nearest-neighbour chains.

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

/// Levels 1 and 0 of [`chain_top_down`] for a fixed alphabet `Q`, from the level-2 pair
/// marginals `marg`, in blocks of level-2 bonds (the level-1 pair marginals are kept for one
/// block only): `(H(Y_1 | Y_2), H(Y_0 | Y_1), E[f] - C_0)`.
#[inline(always)]
pub(crate) fn top_down_bottom<const Q: usize>(
    bonds1: &[f64],
    s1: f64,
    bonds0: &[f64],
    s0: f64,
    marg: &[f64],
) -> (f64, f64, f64) {
    const BLOCK: usize = 256;
    let qq = Q * Q;
    let mut local = vec![0.0; 2 * BLOCK * qq];
    let (mut h1, mut h0, mut e0) = (
        CompensatedSum::default(),
        CompensatedSum::default(),
        CompensatedSum::default(),
    );
    for (i, m2) in marg.chunks(BLOCK * qq).enumerate() {
        let n = m2.len() / qq;
        let b1 = &bonds1[2 * i * BLOCK * qq..][..2 * n * qq];
        let b0 = &bonds0[4 * i * BLOCK * qq..][..4 * n * qq];
        let m1 = &mut local[..2 * n * qq];
        m1.fill(0.0);
        let (h, _) = top_down_level::<Q, false>(b1, s1, m2, m1);
        h1.add(h);
        let (h, e) = top_down_level::<Q, true>(b0, s0, m1, &mut []);
        h0.add(h);
        e0.add(e);
    }
    (h1.value(), h0.value(), e0.value())
}

/// One level of [`chain_top_down`] for a fixed alphabet `Q`: pair marginals `marg` of the
/// level-`(k+1)` bonds to those of the level-`k` bonds (`finer`, zeroed; not written at
/// level 0, `LEVEL0`), with the level's conditional entropy and, at level 0, the expected
/// normalised loss.
#[inline(always)]
pub(crate) fn top_down_level<const Q: usize, const LEVEL0: bool>(
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
        let pairs = if LEVEL0 {
            &mut none[..]
        } else {
            finer_batches
                .next()
                .expect("one finer pair per coarse bond")
        };
        for (i, (mj, lr)) in margs
            .chunks_exact(qq)
            .zip(lrs.chunks_exact(2 * qq))
            .enumerate()
        {
            let (left, right) = lr.split_at(qq);
            let pair = if LEVEL0 {
                &mut pairs[..0]
            } else {
                &mut pairs[2 * qq * i..][..2 * qq]
            };
            let (ml, mr) = pair.split_at_mut(if LEVEL0 { 0 } else { qq });
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
                            if LEVEL0 {
                                eac += pb * (left[a * Q + b] + right[b * Q + c]);
                            } else {
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
