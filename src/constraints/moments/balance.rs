//! Canonical multipliers: the smallest `theta` that gives the same `P*`.
//!
//! Rows that are affinely dependent on the allowed states (a duplicated feature, one offset
//! by `1e6`, a row constant there) leave a null space `N = {v : sum_i v_i phi'_i constant on
//! the support}`: `theta + v` gives the same loss up to a constant, hence the same `P*`. The
//! dual moves along `N` only through `v·c'`, which is zero for consistent targets and a
//! rounding (`1e-10` for an offset of `1e6`) for targets that agree only up to rounding; so
//! Newton may end anywhere along `N`, with multipliers in the thousands whose duality gap
//! `theta·(c' - E phi')` is that rounding times their size. The representative with no
//! component in `N` has the same `P*` and the smallest gap.

use nalgebra::{DMatrix, SymmetricEigen};

use super::super::features::Row;
use super::super::newton::{max_abs, project, Bound};
use super::super::scaling::Scaling;
use super::witness::covariance;

/// How many roundings of a scaled row's values make a covariance eigenvalue count as zero.
const ROUNDINGS: f64 = 8.0;

/// Sweeps of one-dimensional projections along the null directions.
const SWEEPS: usize = 8;

/// The smallest multipliers with the same `P*` as `theta` on `support` (module docs) that
/// keep every bounded variable on its side: `theta + v`, `v` in the null space `N`, found by
/// exact minimisations of `‖theta + t u‖` along each null direction `u` within the bounds,
/// [`SWEEPS`] times over; `None` when nothing moves.
///
/// `N` is read off the rows' covariance under the uniform distribution on `support`: an
/// eigenvalue below the square of [`ROUNDINGS`] roundings of the scaled rows
/// (`eps (1 + |o_i| / s_i)` each), plus the eigensolver's error (`16 m eps` times the
/// largest eigenvalue), is zero. The caller checks the answer again: a direction
/// taken for null that is not changes `P*`, and the acceptance test then rejects it.
pub(super) fn balanced(
    rows: &[Row],
    support: &[bool],
    map: &Scaling,
    bounds: &[Bound],
    theta: &[f64],
) -> Option<Vec<f64>> {
    let n = support.iter().filter(|&&a| a).count();
    let m = rows.len();
    if n == 0 || theta.len() != m {
        return None;
    }
    let uniform: Vec<f64> = support
        .iter()
        .map(|&a| if a { 1.0 / n as f64 } else { 0.0 })
        .collect();
    let mean: Vec<f64> = rows.iter().map(|r| r.dot(&uniform)).collect();
    let cov = covariance(rows, &uniform, &mean);
    // A bounded multiplier at zero stays there: its row may be slack, where a nonzero
    // multiplier would add its slack to the duality gap.
    let movable: Vec<usize> = (0..m)
        .filter(|&i| bounds[i] == Bound::Free || theta[i] != 0.0)
        .collect();
    let rounding: f64 = (movable.iter())
        .map(|&i| ROUNDINGS * f64::EPSILON * (1.0 + map.offset[i].abs() / map.scale[i]))
        .sum();
    let k = movable.len();
    if k == 0 {
        // Every multiplier held at zero: nothing to balance (and no matrix to decompose).
        return None;
    }
    let sub = DMatrix::from_fn(k, k, |a, b| cov[movable[a] * m + movable[b]]);
    let eig = SymmetricEigen::new(sub);
    // The eigensolver's own error is about `eps` times the largest eigenvalue.
    let top = eig.eigenvalues.iter().fold(0.0f64, |t, l| t.max(l.abs()));
    let cut = rounding * rounding + 16.0 * m as f64 * f64::EPSILON * top;
    let null: Vec<Vec<f64>> = (0..k)
        .filter(|&c| eig.eigenvalues[c].abs() <= cut)
        .map(|c| {
            let mut u = vec![0.0; m];
            for (a, &i) in movable.iter().enumerate() {
                u[i] = eig.eigenvectors[(a, c)];
            }
            u
        })
        .collect();
    if null.is_empty() {
        return None;
    }
    let mut out = theta.to_vec();
    for _ in 0..SWEEPS {
        for u in &null {
            // The t that minimises ‖out + t u‖ (u has norm 1), within the interval that
            // keeps every bounded variable on its side.
            let best = -(0..m).map(|i| u[i] * out[i]).sum::<f64>();
            let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
            for i in (0..m).filter(|&i| u[i] != 0.0) {
                let edge = -out[i] / u[i];
                let below = match bounds[i] {
                    Bound::Free => continue,
                    Bound::Zero => {
                        lo = lo.max(0.0);
                        hi = hi.min(0.0);
                        continue;
                    }
                    // out_i + t u_i >= 0
                    Bound::NonNegative => u[i] > 0.0,
                    // out_i + t u_i <= 0
                    Bound::NonPositive => u[i] < 0.0,
                };
                if below {
                    lo = lo.max(edge);
                } else {
                    hi = hi.min(edge);
                }
            }
            if lo > hi {
                continue;
            }
            let t = best.clamp(lo, hi);
            for i in 0..m {
                out[i] += t * u[i];
            }
        }
    }
    // A bounded multiplier within a few roundings of the largest is zero: it moves no loss
    // by more than rounding, and the sweeps reach a corner of the bounds only geometrically
    // (two rows clamped at nearly the same `t` leave `1.8e-16`, halved by every sweep down to
    // `1e-130` beside `441`).
    let largest = max_abs(&out);
    for (t, b) in out.iter_mut().zip(bounds) {
        if *b != Bound::Free && t.abs() <= ROUNDINGS * f64::EPSILON * largest {
            *t = 0.0;
        }
    }
    // Exactly at the bound where the clamp put it (rounding may leave -1e-17).
    project(&mut out, bounds);
    (out != theta).then_some(out)
}
