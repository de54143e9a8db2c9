//! The exact derivatives of a cascade's optimum ([`super::Model::sensitivity`] for
//! [`Cascade`]) (proofs/convex_dual.md, "The floors dual and its exact Hessian").
//!
//! A homogeneous cascade splits every node of level `k + 1` by the escort
//! `e_k(a) = q_k(a)^r / sum_b q_k(b)^r`, `r_k = kappa / S_k`, so with `l = log q_k`
//!
//! ```text
//! H(Y_k | Y_{k+1}) = H(e_k),   dH(e_k)/dr_k = -r_k Var_e(l),
//! E f = -kappa sum_k E_e[l],   dE_e[l]/dr_k = Var_e(l),
//! dr_k/dS_k = -r_k / S_k,      dr_k/dt = r_k          (the loss (1 + t) f),
//! ```
//!
//! in closed form, `O(L b)`. A general cascade stores one conditional per node, as many
//! numbers as its tabulated problem has leaves, so it takes the tabulated engine's
//! dual-number sweep ([`Cascade::tabulate`]; its flow in dual numbers loses the loss-scale
//! tangent to cancellation at high temperature: `log R / (kappa / S)` is of order `S`).

use super::{ModelPoint, Sensitivity};
use crate::error::{Error, Result};
use crate::families::cascade::Cascade;
use crate::rg::driver::level_entropies;
use crate::temperatures::Temperatures;

/// A homogeneous cascade in closed form: `(by_lambda, by_S, E f, H)`, the derivative rows
/// `[dE f, dH_0..dH_L]` in `lambda` and (seeded) in each `S_j`. `r_k seed` (`= dr_k/dlambda`)
/// is formed before any product with `r_k`, so nothing underflows at `lambda = 2^-300`.
fn homogeneous(c: &Cascade, cum: &[f64], seed: f64) -> (Vec<f64>, Vec<Vec<f64>>, f64, Vec<f64>) {
    let l = c.depth();
    let kappa = c.kappa();
    let levels = l + 1;
    let mut cond = vec![0.0; levels];
    let mut d_cond_dl = vec![0.0; levels];
    let mut d_cond_ds = vec![0.0; levels];
    let mut d_e_dl = 0.0;
    let mut d_e_ds = vec![0.0; levels];
    let mut expected = 0.0;
    for (k, q) in c.conditionals().iter().enumerate() {
        let r = kappa / cum[k];
        let rs = kappa / (cum[k] / seed);
        let logs: Vec<f64> = q.iter().map(|&p| p.ln()).collect();
        let m = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = logs
            .iter()
            .map(|&x| {
                if x.is_finite() {
                    (r * (x - m)).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let z: f64 = w.iter().sum();
        let (mut mean, mut second, mut h) = (0.0, 0.0, z.ln());
        for (&wa, &x) in w.iter().zip(&logs) {
            if wa > 0.0 {
                let e = wa / z;
                mean += e * (x - m);
                second += e * (x - m) * (x - m);
                h -= e * r * (x - m);
            }
        }
        let var = (second - mean * mean).max(0.0);
        cond[k] = h;
        expected += -kappa * (mean + m);
        // dH(e)/dr = -r Var, dE f/dr = -kappa Var; dr/dlambda = rs, dr/dS_k (seeded) = -rs / S_k.
        d_cond_dl[k] = -r * var * rs;
        d_e_dl += -kappa * var * rs;
        d_cond_ds[k] = r * var * rs / cum[k];
        d_e_ds[k] = kappa * var * rs / cum[k];
    }
    // H(Y_k) = sum_{i >= k} cond_i.
    let by_s: Vec<Vec<f64>> = (0..levels)
        .map(|j| {
            let mut row = vec![d_e_ds[j]];
            row.extend((0..levels).map(|k| if j >= k { d_cond_ds[j] } else { 0.0 }));
            row
        })
        .collect();
    let mut by_lambda = vec![d_e_dl];
    by_lambda.extend((0..levels).map(|k| d_cond_dl[k..].iter().sum::<f64>()));
    (by_lambda, by_s, expected, level_entropies(&cond))
}

/// The statistics of a homogeneous cascade at `tau` and their derivatives in `(lambda, w)`
/// for `tau = w / lambda`, `seed = 1 / lambda` ([`Sensitivity::from_seeded`]).
pub(super) fn sensitivity(
    c: &Cascade,
    tau: &Temperatures,
    seed: f64,
) -> Result<(ModelPoint, Sensitivity)> {
    let levels = c.depth() + 1;
    let (by_t, by_s, expected, entropies) = homogeneous(c, tau.cumulative_slice(), seed);
    // d/dtau_j = sum_{i >= j} d/dS_i.
    let mut by_tau = vec![vec![0.0; levels + 1]; levels];
    let mut acc = vec![0.0; levels + 1];
    for j in (0..levels).rev() {
        acc.iter_mut().zip(&by_s[j]).for_each(|(a, x)| *a += x);
        by_tau[j] = acc.clone();
    }
    let s = c.solve(tau)?;
    let finite = expected.is_finite()
        && entropies.iter().all(|h| h.is_finite())
        && by_t
            .iter()
            .chain(by_tau.iter().flatten())
            .all(|x| x.is_finite());
    if !finite {
        return Err(Error::Numerical(
            "the cascade's statistics or their derivatives do not fit in a finite f64".to_string(),
        ));
    }
    let point = ModelPoint::level_zero(s.summary.free_energy, expected, entropies);
    Ok((point, Sensitivity::from_seeded(&by_t, &by_tau)))
}
