//! Exact line searches that take a dual past the floor of its Newton steps.
//!
//! Near a face of the attainable set (targets `1e-9` inside it) or under reference masses near
//! `1e-300`, one curvature of the dual `D` is below the pseudo-inverse's cut (`1e-13` of the
//! largest): the Newton step drops that direction, and the residual `r` along it stays near
//! `1e-12` while the multipliers there are in the thousands, so the duality gap `x·r` stays
//! above its tolerance. The curvature is too small to compute, but the sign of the slope is
//! not: `h(t) = grad D(x + t u)·u` is nondecreasing in `t` for convex `D`, and its root is
//! found by bracketing (doubling `t`) and bisection, whatever the curvature.
//!
//! [`polish_by_lines`] alternates such exact searches along `u = -(null-space part of the
//! gradient)` and along the Newton step `u = -H^+ grad` (on the variables not held at their
//! bound), keeping a point only when `D` does not rise beyond its rounding, until the stopping
//! rule holds.

use nalgebra::{DMatrix, DVector};

use super::newton::{
    dot, max_abs, norm, projected_residual, pseudo_solve_split, stopped, Bound, Objective, Point,
    Stopping,
};
use crate::error::Result;

/// Rounds of (null-space search, Newton search) at most.
const ROUNDS: usize = 6;
/// Doublings of `t` while bracketing the root (from `1` in units of `max |u_i|` = 1).
const DOUBLINGS: usize = 60;
/// Bisections of the bracket at most (the bracket shrinks to an ulp of `x` well before).
const BISECTIONS: usize = 80;

/// Exact line searches from `x` (module docs) until the stopping rule `stop` holds or no
/// search moves; returns the last point kept and the evaluations spent.
///
/// # Errors
/// Whatever the objective's evaluation at `x` returns (trial points that fail count as
/// beyond the root).
pub(crate) fn polish_by_lines(
    objective: &impl Objective,
    bounds: &[Bound],
    stop: &Stopping,
    mut x: Vec<f64>,
) -> Result<(Vec<f64>, usize)> {
    let n = bounds.len();
    let mut evaluations = 0;
    for _ in 0..ROUNDS {
        let (at, hessian, cost) = objective.point_with_hessian(&x)?;
        evaluations += cost;
        let r = projected_residual(&x, &at.gradient, bounds);
        if stopped(&x, &r, at.value, stop) {
            break;
        }
        // Variables held at their bound by the gradient stay.
        let free: Vec<usize> = (0..n)
            .filter(|&i| bounds[i] == Bound::Free || x[i] != 0.0 || r[i] != 0.0)
            .collect();
        if free.is_empty() {
            break;
        }
        let hf = DMatrix::from_fn(free.len(), free.len(), |a, b| {
            hessian[free[a] * n + free[b]]
        });
        let gf = DVector::from_fn(free.len(), |a, _| at.gradient[free[a]]);
        let (step, null) = pseudo_solve_split(hf, &gf);
        let mut moved = false;
        let mut current = at;
        // The null-space slope from t = 1 (its curvature is unknown), the Newton step from
        // its own length.
        for (part, newton_length) in [(null, false), (step, true)] {
            let mut u = vec![0.0; n];
            for (a, &i) in free.iter().enumerate() {
                u[i] = -part[a];
            }
            if let Some((next, point, cost)) =
                search(objective, bounds, &x, &current, &u, newton_length)
            {
                evaluations += cost;
                x = next;
                current = point;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    Ok((x, evaluations))
}

/// The root of `h(t) = grad D(x + t u')·u'` (`u' = u / max_i |u_i|`) for `t` in `(0, t_max]`
/// (`t_max`: the first bound `u'` reaches), when `h(0) < 0`, bracketed from `t = 1` (or from
/// `max_i |u_i|`, the step `u` itself, when `from_length`); the point is kept if `D` there is
/// within rounding of `D(x)` or below. Returns the point, its evaluation and the evaluations
/// spent.
fn search(
    objective: &impl Objective,
    bounds: &[Bound],
    x: &[f64],
    at: &Point,
    u: &[f64],
    from_length: bool,
) -> Option<(Vec<f64>, Point, usize)> {
    let top = max_abs(u);
    if top == 0.0 || !top.is_finite() {
        return None;
    }
    let u: Vec<f64> = u.iter().map(|v| v / top).collect();
    if dot(&at.gradient, &u) >= 0.0 {
        return None;
    }
    // The longest step that keeps every bounded variable on its side.
    let t_max = (0..x.len())
        .filter_map(|i| match bounds[i] {
            Bound::NonNegative if u[i] < 0.0 => Some(x[i] / -u[i]),
            Bound::NonPositive if u[i] > 0.0 => Some(x[i] / -u[i]),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    let mut evaluations = 0;
    let at_t = |t: f64, evaluations: &mut usize| -> Option<(Vec<f64>, Point)> {
        *evaluations += 1;
        let trial: Vec<f64> = x.iter().zip(&u).map(|(a, d)| a + t * d).collect();
        match objective.point(&trial) {
            Ok(p) if p.value.is_finite() && p.gradient.iter().all(|g| g.is_finite()) => {
                Some((trial, p))
            }
            _ => None,
        }
    };
    let slope = |p: &Point| dot(&p.gradient, &u);
    // Bracket: lo with h < 0, hi with h >= 0 (or a failed evaluation, or t_max).
    let first = if from_length { top } else { 1.0 };
    let (mut lo, mut hi) = (0.0f64, first.min(t_max));
    let mut best: Option<(Vec<f64>, Point)> = None;
    let mut bracketed = false;
    for _ in 0..DOUBLINGS {
        match at_t(hi, &mut evaluations) {
            Some((trial, p)) if slope(&p) < 0.0 => {
                lo = hi;
                best = Some((trial, p));
                if hi >= t_max {
                    break;
                }
                hi = (2.0 * hi).min(t_max);
            }
            Some((trial, p)) => {
                if slope(&p) == 0.0 {
                    best = Some((trial, p));
                    lo = hi;
                }
                bracketed = true;
                break;
            }
            None => {
                bracketed = true;
                break;
            }
        }
    }
    if !bracketed {
        // No root within 2^60 of the start: D is linear along u (targets off the affine hull
        // of a face, or rows that agree only up to rounding), not a slope to follow.
        return None;
    }
    if lo < hi {
        for _ in 0..BISECTIONS {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            match at_t(mid, &mut evaluations) {
                Some((trial, p)) if slope(&p) < 0.0 => {
                    lo = mid;
                    best = Some((trial, p));
                }
                Some((trial, p)) if slope(&p) == 0.0 => {
                    best = Some((trial, p));
                    break;
                }
                _ => hi = mid,
            }
        }
    }
    let (trial, p) = best?;
    let slack = at.rounding.max(p.rounding);
    (p.value <= at.value + slack && norm(&p.gradient).is_finite()).then_some((
        trial,
        p,
        evaluations,
    ))
}
