//! A proof of interior from a converged dual: the feasible full-support distribution the
//! feasibility LP would find, built from `P*` by a small linear correction.

use nalgebra::{DMatrix, DVector};

use super::super::feasibility::INTERIOR_MARGIN;
use super::super::features::Row;
use super::super::newton::pseudo_solve;
use super::covariance::dense_covariance;
use super::Sense;
use crate::numerics::sum_pairs;

/// The feasibility tolerance of the LP: a witness must meet each tight row this closely,
/// relative to `1 +` the row's spread (plus the rounding of its sums).
const LP_FEASIBILITY: f64 = 1e-11;

/// Whether the converged `fit` proves that the targets lie in the relative interior of
/// the attainable set, by the LP's own standard (proofs/convex_dual.md §3).
///
/// `p = P*_0` meets the targets up to the residual `r = c - E_p phi` on the tight rows
/// `T` (equalities and inequalities with a nonzero multiplier). With
/// `y = Cov_p(phi_T)^+ r_T`, the distribution `p'(x) = p(x) (1 + (phi_T(x) - E_p phi_T)·y)`
/// sums to 1 and has `E_p' phi = E_p phi + Cov_p(phi, phi_T) y`: it meets the tight rows
/// exactly (to the LP's feasibility tolerance) and keeps a slack row slack if the shift
/// does not cross its target. If `|(phi_T(x) - E_p phi_T)·y| <= 1/2` everywhere, then
/// `p' >= p / 2`, and if that exceeds the LP's interior margin on every allowed state,
/// `p'` is the full-support feasible point the LP would find.
///
/// `rows`, `targets` are the solver's (centred and scaled), `theta` its multipliers, `p` the
/// level-0 marginal of `P*` in block order.
pub(super) fn interior_witness(
    rows: &[Row],
    targets: &[f64],
    senses: &[Sense],
    allowed: &[bool],
    p: &[f64],
    theta: &[f64],
) -> bool {
    let n = allowed.iter().filter(|&&a| a).count();
    let floor = INTERIOR_MARGIN / n as f64;
    if allowed
        .iter()
        .zip(p)
        .any(|(&a, &px)| a && px / 2.0 <= floor)
    {
        return false;
    }
    let mm = rows.len();
    if theta.len() != mm {
        return false;
    }
    let mean: Vec<f64> = rows.iter().map(|r| r.dot(p)).collect();
    let cov = covariance(rows, p, &mean);
    let tight: Vec<usize> = (0..mm)
        .filter(|&i| senses[i] == Sense::Eq || theta[i] != 0.0)
        .collect();
    let r: Vec<f64> = tight.iter().map(|&i| targets[i] - mean[i]).collect();
    let k = tight.len();
    // Solve Cov_TT y = r in the scaled variables of the correlation matrix, so that rows
    // of very different scales (1e6 and 1e-6) are resolved alike; a row constant on the
    // support (zero variance) cannot be corrected (y = 0 there) and must already be met.
    let sd: Vec<f64> = tight
        .iter()
        .map(|&i| cov[i * mm + i].max(0.0).sqrt())
        .collect();
    let live: Vec<usize> = (0..k).filter(|&a| sd[a] > 0.0).collect();
    let mut y = vec![0.0; mm];
    if !live.is_empty() {
        let kl = live.len();
        let corr = DMatrix::from_fn(kl, kl, |a, b| {
            let (i, j) = (live[a], live[b]);
            cov[tight[i] * mm + tight[j]] / (sd[i] * sd[j])
        });
        let rv = DVector::from_fn(kl, |a, _| r[live[a]] / sd[live[a]]);
        let z = pseudo_solve(corr, &rv);
        for (a, &i) in live.iter().enumerate() {
            y[tight[i]] = z[a] / sd[i];
        }
    }
    // The shift of every moment, Cov y; each tight row must land on its target to the
    // LP's feasibility tolerance relative to its own magnitude, the slack rows must stay
    // on their side.
    for i in 0..mm {
        let shifted = mean[i] + (0..mm).map(|j| cov[i * mm + j] * y[j]).sum::<f64>();
        let ok = match (senses[i], tight.contains(&i)) {
            (_, true) => {
                // Relative to the row's spread (an offset common to all states carries
                // no information), plus the rounding of sums of its values.
                let (lo, hi) = rows[i].range();
                let rounding = 64.0 * f64::EPSILON * (lo.abs().max(hi.abs()) + targets[i].abs());
                (shifted - targets[i]).abs() <= LP_FEASIBILITY * (1.0 + hi - lo) + rounding
            }
            (Sense::Le, false) => shifted <= targets[i],
            (Sense::Ge, false) => shifted >= targets[i],
            (Sense::Eq, false) => false,
        };
        if !ok {
            return false;
        }
    }
    // The relative change (phi(x) - E phi)·y of every allowed state's mass.
    // Dense rows are centred state by state (no cancellation across large offsets);
    // a sparse row adds its off-support value -E phi_i y_i to every state once.
    let mut change = vec![0.0; p.len()];
    let mut offset = 0.0;
    for ((row, &yi), &m) in rows.iter().zip(&y).zip(&mean) {
        match row {
            _ if yi == 0.0 => {}
            Row::Dense(v) => {
                for (c, &v) in change.iter_mut().zip(v) {
                    *c += yi * (v - m);
                }
            }
            Row::Sparse { .. } => {
                offset -= yi * m;
                row.add_scaled(yi, &mut change);
            }
        }
    }
    allowed
        .iter()
        .zip(&change)
        .all(|(&a, &v)| !a || (v + offset).abs() <= 0.5)
}

/// `Cov_p(phi_i, phi_j)` of the rows under `p` (block order), row-major, given the means.
pub(super) fn covariance(rows: &[Row], p: &[f64], mean: &[f64]) -> Vec<f64> {
    let mm = rows.len();
    let mut cov = vec![0.0; mm * mm];
    match Row::all_dense(rows) {
        // Centred block-wise by the Hessian's chunked kernel (each row less its mean under
        // `p`, which is `mean` up to rounding).
        Some(rows) => return dense_covariance(&rows, p),
        // Centred as well: with d_i = phi_i - E phi_i written out densely (one row at a
        // time), Cov_ij = sum_{x in supp j} p d_i (phi_j - E phi_j) - E phi_j sum_{x off
        // supp j} p d_i, the last sum taken as (sum_x p d_i) - (sum_{supp j} p d_i).
        None => {
            let mut d = vec![0.0; p.len()];
            for i in 0..mm {
                d.iter_mut().for_each(|v| *v = -mean[i]);
                rows[i].for_each(|x, v| d[x] = v - mean[i]);
                let total: f64 = sum_pairs(p, &d, |p, d| p * d);
                for j in 0..=i {
                    let (mut on, mut on_mass) = (0.0, 0.0);
                    rows[j].for_each(|x, v| {
                        let w = p[x] * d[x];
                        on += w * (v - mean[j]);
                        on_mass += w;
                    });
                    cov[i * mm + j] = on - mean[j] * (total - on_mass);
                }
            }
        }
    }
    for i in 0..mm {
        for j in 0..i {
            cov[j * mm + i] = cov[i * mm + j];
        }
    }
    cov
}
