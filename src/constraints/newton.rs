//! Projected Newton for smooth convex duals with sign-constrained variables.
//!
//! Minimises a smooth convex `D(x)` over the box `x_i >= 0` ([`Bound::NonNegative`]),
//! `x_i <= 0` ([`Bound::NonPositive`]) or free ([`Bound::Free`]), the shape of every
//! Lagrangian dual in this crate (moment constraints, entropy floors). The objective supplies
//! its value, gradient and **exact** Hessian (the moment dual gets it from one sweep with
//! [`crate::dual::Dual`] scalars, `proofs/convex_dual.md`).
//!
//! `argmin` 0.11 offers Newton and L-BFGS only without bounds, hence this method
//! (Bertsekas 1982): variables at (or within `epsilon` of) their bound with the gradient
//! pushing outward take a diagonally scaled gradient step; the others a Newton step with the
//! Hessian's pseudo-inverse (so affinely dependent constraints are fine); the step is capped,
//! projected and backtracked under the Armijo rule along the projection arc.
//!
//! **Stopping rule, per variable.** With the projected residual `r = x - P(x - grad D)` (the
//! gradient on free variables, `0` on a variable held at its bound by the gradient), the run
//! has converged when
//!
//! ```text
//! |r_i| <= tol_i  for every i,   and   |x·r| <= gap (1 + |D(x)|).
//! ```
//!
//! For a Lagrangian dual `r_i` is the residual of constraint `i` and `x·r` the duality gap,
//! so one badly scaled constraint cannot loosen another's test (each has its own `tol_i`).
//!
//! **Polishing.** The stopping rule bounds the residuals, not the distance to the optimum:
//! that is `H^+ r`, and with an ill-conditioned Hessian a residual of `1e-10` can leave the
//! answer `1e-9` off. So a run that meets the rule takes up to [`POLISH_STEPS`] more Newton
//! steps (with the last Hessian it computed, so each costs one evaluation without
//! derivatives) while each at least halves the largest scaled residual `max_i |r_i| / tol_i`
//! and keeps the rule met, stopping once that residual is below [`POLISH_TARGET`] or at a
//! step longer than [`POLISH_REACH`] (a flat direction, not a correction). Newton's
//! quadratic convergence takes a residual of `1e-10` to rounding in one or two such steps.
//!
//! **Step cap.** A Newton step is shortened so that it moves at most `cap` in every
//! coordinate (a variable pinned at its bound by the step does not count; a variable off its
//! bound counts with its whole step, since a step of `1e62` towards a bound projects onto the
//! bound for every halving the line search can make); the cap
//! starts at [`START_CAP`] and grows fourfold whenever a capped step is accepted whole. A
//! nearly singular Hessian (a state of mass `1e-300` under a tiny reference mass) then costs
//! a few iterations instead of a line search that cannot shrink a `1e300` step enough.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::error::Result;

/// The sign constraint of one variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Any real value.
    Free,
    /// `x_i >= 0`.
    NonNegative,
    /// `x_i <= 0`.
    NonPositive,
    /// `x_i = 0`: a multiplier held at zero (its row left to the others).
    Zero,
}

impl Bound {
    /// Whether `x` satisfies this sign constraint.
    pub(crate) fn admits(self, x: f64) -> bool {
        match self {
            Bound::Free => true,
            Bound::NonNegative => x >= 0.0,
            Bound::NonPositive => x <= 0.0,
            Bound::Zero => x == 0.0,
        }
    }

    /// Whether `x` sits at this bound and a move by `push` would cross it (a projection
    /// would cancel that move): always for [`Bound::Zero`], never for [`Bound::Free`].
    fn holds(self, x: f64, push: f64) -> bool {
        match self {
            Bound::Free => false,
            Bound::NonNegative => x <= 0.0 && push < 0.0,
            Bound::NonPositive => x >= 0.0 && push > 0.0,
            Bound::Zero => true,
        }
    }
}

/// The objective at one point.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// `D(x)`.
    pub value: f64,
    /// `grad D(x)`.
    pub gradient: Vec<f64>,
    /// An absolute bound on the rounding error of `value` (the Armijo test accepts within it).
    pub rounding: f64,
}

/// A smooth convex objective with an exact Hessian.
pub(crate) trait Objective {
    /// Value and gradient (one evaluation).
    fn point(&self, x: &[f64]) -> Result<Point>;
    /// Value, gradient and the Hessian (row-major `n x n`), with the number of evaluations
    /// it cost.
    fn point_with_hessian(&self, x: &[f64]) -> Result<(Point, Vec<f64>, usize)>;
    /// Whether `v` is a null direction of the problem itself, not only of one Hessian: for
    /// the moment dual, `v·phi(x)` the same on every state within rounding (dependent rows),
    /// so no multiplier move along `v` changes `P*`. A null slope along such a direction
    /// within a few tolerances is the targets' rounding; along any other (a curvature too
    /// small to see at this point) it is followed (see [`direction`]). By default every
    /// null direction is taken to be the problem's.
    fn fixed_along(&self, v: &[f64]) -> bool {
        let _ = v;
        true
    }
}

/// When to stop.
#[derive(Debug, Clone)]
pub(crate) struct Stopping {
    /// `tol_i` of each variable's projected residual.
    pub gradient: Vec<f64>,
    /// Relative tolerance on `|x·r|` (module docs).
    pub gap: f64,
    /// Newton iterations at most.
    pub max_iterations: usize,
    /// A null-space slope of variable `i` is followed only above `slope[i]` (`None`: above
    /// `gradient[i]` times the margin of [`direction`]). On a face whose affine hull misses
    /// the targets by less than the answer's tolerance the slope is that miss, which no
    /// finite multiplier removes: following it only runs the multipliers (and the duality
    /// gap `x·r`) off to infinity.
    pub slope: Option<Vec<f64>>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The last accepted point.
    pub x: Vec<f64>,
    /// Newton iterations.
    pub iterations: usize,
    /// Objective evaluations (line searches included).
    pub evaluations: usize,
    /// Whether the stopping rule was met at `x` (the moment solver judges its answers by
    /// its own acceptance test, and prefers an answer that also met this).
    pub converged: bool,
}

/// Armijo constant of the line search.
const ARMIJO: f64 = 1e-4;
/// Halvings of the step before the line search gives up.
const MAX_HALVINGS: usize = 40;
/// Bertsekas' `epsilon`-active threshold cap.
const ACTIVE_CAP: f64 = 1e-3;
/// The first step cap (per coordinate).
pub(crate) const START_CAP: f64 = 16.0;
/// Along equality multipliers only, a null-space slope is followed when it exceeds this
/// many tolerances.
const FLAT_MARGIN: f64 = 10.0;
/// Newton steps beyond the stopping rule at most (module docs, "Polishing").
const POLISH_STEPS: usize = 3;
/// Polishing stops once every `|r_i| <= POLISH_TARGET tol_i`.
const POLISH_TARGET: f64 = 1e-4;
/// A polishing step longer than this fraction of `max(1, max_i |x_i|)` is not a correction
/// but a flat direction of the dual (a Hessian of rounding-level entries, as on a face
/// where a feature is constant): the point is kept as it is.
const POLISH_REACH: f64 = 1e-3;
/// Eigenvalues below this fraction of the largest are treated as zero.
const PSEUDO_INVERSE_CUT: f64 = 1e-13;

/// Projection onto the bounds.
pub(crate) fn project(x: &mut [f64], bounds: &[Bound]) {
    for (t, b) in x.iter_mut().zip(bounds) {
        match b {
            Bound::Free => {}
            Bound::NonNegative => *t = t.max(0.0),
            Bound::NonPositive => *t = t.min(0.0),
            Bound::Zero => *t = 0.0,
        }
    }
}

/// `x - P(x - grad)`: the gradient on free variables, zero on a variable at its bound whose
/// gradient pushes outward. Computed case by case, not as that difference: with `x_i` in the
/// thousands a gradient of `1e-12` would round away in `x_i - grad_i`.
pub(crate) fn projected_residual(x: &[f64], grad: &[f64], bounds: &[Bound]) -> Vec<f64> {
    x.iter()
        .zip(grad)
        .zip(bounds)
        .map(|((&t, &g), b)| match b {
            // P(t - g) = 0 when t - g is beyond the bound: the residual is t itself.
            Bound::NonNegative if t - g < 0.0 => t,
            Bound::NonPositive if t - g > 0.0 => t,
            Bound::Zero => 0.0,
            _ => g,
        })
        .collect()
}

/// Whether the stopping rule holds at `x` with projected residual `r` and value `value`.
pub(crate) fn stopped(x: &[f64], r: &[f64], value: f64, stop: &Stopping) -> bool {
    r.iter().zip(&stop.gradient).all(|(r, t)| r.abs() <= *t)
        && dot(x, r).abs() <= stop.gap * (1.0 + value.abs())
}

/// Minimises `objective` over the box `bounds` from `start` (projected first).
///
/// # Errors
/// Whatever the objective's evaluations at the start and at accepted points return (a trial
/// point of the line search whose evaluation fails is a step too long, and is halved).
pub(crate) fn minimise(
    objective: &impl Objective,
    bounds: &[Bound],
    stop: &Stopping,
    start: Vec<f64>,
) -> Result<Run> {
    minimise_polished(objective, bounds, stop, start, POLISH_TARGET)
}

/// [`minimise`] with the polishing target `target` in place of [`POLISH_TARGET`]: `0` polishes
/// while each step halves the scaled residual, i.e. to rounding (the entropy-floor dual, whose
/// Hessian near a saturated floor is `~1e-8`: a residual of `1e-4` tolerances still leaves its
/// multipliers `1e-6` off).
///
/// # Errors
/// As [`minimise`].
pub(crate) fn minimise_polished(
    objective: &impl Objective,
    bounds: &[Bound],
    stop: &Stopping,
    start: Vec<f64>,
    target: f64,
) -> Result<Run> {
    let n = bounds.len();
    let mut x = start;
    project(&mut x, bounds);
    let (mut at, mut hessian, mut evaluations) = objective.point_with_hessian(&x)?;
    let mut iterations = 0;
    let mut cap = START_CAP;
    // A point that meets the stopping rule, polished (module docs, "Polishing").
    let converged = |x: Vec<f64>, at: Point, hessian: &[f64], iterations, mut evaluations| {
        let x = polish(
            objective,
            bounds,
            stop,
            target,
            hessian,
            x,
            at,
            &mut evaluations,
        );
        Run {
            x,
            iterations,
            evaluations,
            converged: true,
        }
    };
    loop {
        let residual = projected_residual(&x, &at.gradient, bounds);
        if stopped(&x, &residual, at.value, stop) {
            return Ok(converged(x, at, &hessian, iterations, evaluations));
        }
        if iterations >= stop.max_iterations {
            break;
        }
        iterations += 1;
        let fixed = |v: &[f64]| objective.fixed_along(v);
        let d = direction(
            &x,
            &at.gradient,
            &hessian,
            &residual,
            bounds,
            stop,
            at.value,
            cap,
            &fixed,
        );
        // A direction that is not finite (a Hessian of subnormal or underflowed entries
        // under reference masses near 1e-300, or multipliers that left every state but one
        // with mass 0) falls back to the gradient's direction, `cap` long: the gradient step
        // itself (`4e-6` beside a multiplier of `-1360`) would take a million iterations.
        let d = if d.iter().all(|v| v.is_finite()) {
            d
        } else {
            let top = residual.iter().fold(0.0f64, |m, r| m.max(r.abs()));
            let scale = if top > 0.0 && top.is_finite() {
                cap / top
            } else {
                1.0
            };
            residual.iter().map(|r| -r * scale).collect()
        };
        // The cap measures the move of every variable but one held at its bound by a steep
        // gradient (a huge `d_i` that projection cancels must not shrink the others' step).
        // An interior variable counts with its whole `d_i`, not its projected move: a step
        // of `1e62` towards a bound `592` away projects to the bound for every halving the
        // line search can make, and the search would fail on one trial point forty times.
        let longest = (0..n)
            .filter(|&i| !bounds[i].holds(x[i], d[i]))
            .fold(0.0f64, |a, i| a.max(d[i].abs()));
        // A step that reaches the cap (a flat direction is followed exactly `cap` long) lets
        // it grow when accepted whole.
        let capped = longest >= cap * (1.0 - 1e-9);
        let shrink = if longest > cap { cap / longest } else { 1.0 };
        // Armijo backtracking along the projection arc.
        let mut alpha = shrink;
        let mut accepted = None;
        for halving in 0..MAX_HALVINGS {
            let mut trial: Vec<f64> = x.iter().zip(&d).map(|(t, d)| t + alpha * d).collect();
            project(&mut trial, bounds);
            if trial == x {
                break;
            }
            // A trial point whose evaluation fails (its losses overflow) is too far: halve.
            let next = match objective.point(&trial) {
                Ok(next) if next.value.is_finite() => next,
                _ => {
                    evaluations += 1;
                    alpha *= 0.5;
                    continue;
                }
            };
            evaluations += 1;
            let change: Vec<f64> = trial.iter().zip(&x).map(|(a, b)| a - b).collect();
            let decrease = dot(&at.gradient, &change);
            let slack = at.rounding.max(next.rounding);
            if next.value <= at.value + ARMIJO * decrease + slack {
                accepted = Some((trial, next, halving == 0));
                break;
            }
            alpha *= 0.5;
        }
        let Some((trial, next, whole)) = accepted else {
            break;
        };
        if capped && whole {
            cap *= 4.0;
        }
        x = trial;
        // Only a point that is not yet optimal needs its Hessian.
        let r = projected_residual(&x, &next.gradient, bounds);
        let done = stopped(&x, &r, next.value, stop);
        if done {
            return Ok(converged(x, next, &hessian, iterations, evaluations));
        }
        if iterations >= stop.max_iterations {
            return Ok(Run {
                x,
                iterations,
                evaluations,
                converged: done,
            });
        }
        let (p, h, cost) = objective.point_with_hessian(&x)?;
        evaluations += cost;
        at = p;
        hessian = h;
    }
    debug_assert_eq!(x.len(), n);
    Ok(Run {
        x,
        iterations,
        evaluations,
        converged: false,
    })
}

/// The largest `|r_i| / tol_i`.
fn scaled_residual(r: &[f64], stop: &Stopping) -> f64 {
    r.iter()
        .zip(&stop.gradient)
        .fold(0.0f64, |m, (r, t)| m.max(r.abs() / t))
}

/// Newton steps from a point `x` that meets the stopping rule (module docs, "Polishing"),
/// with `hessian` from the last Newton iteration, until `|r_i| <= target tol_i`; `at` is the
/// objective at `x`. Returns the
/// last point kept; `evaluations` counts the trials.
#[allow(clippy::too_many_arguments)]
fn polish(
    objective: &impl Objective,
    bounds: &[Bound],
    stop: &Stopping,
    target: f64,
    hessian: &[f64],
    mut x: Vec<f64>,
    mut at: Point,
    evaluations: &mut usize,
) -> Vec<f64> {
    let n = bounds.len();
    for _ in 0..POLISH_STEPS {
        let r = projected_residual(&x, &at.gradient, bounds);
        let size = scaled_residual(&r, stop);
        if size <= target {
            break;
        }
        // Variables held at their bound by the gradient (`r_i = 0` there) stay; the others
        // take the Newton step of their block of the Hessian.
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
        let step = pseudo_solve(hf, &gf);
        if !step.iter().all(|v| v.is_finite()) {
            break;
        }
        let mut trial = x.clone();
        for (a, &i) in free.iter().enumerate() {
            trial[i] -= step[a];
        }
        project(&mut trial, bounds);
        let reach = POLISH_REACH * x.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let length = trial
            .iter()
            .zip(&x)
            .fold(0.0f64, |m, (t, v)| m.max((t - v).abs()));
        if length == 0.0 || length > reach {
            break;
        }
        *evaluations += 1;
        let Ok(next) = objective.point(&trial) else {
            break;
        };
        let r_next = projected_residual(&trial, &next.gradient, bounds);
        let kept = next.value.is_finite()
            && next.value <= at.value + at.rounding.max(next.rounding)
            && stopped(&trial, &r_next, next.value, stop)
            && scaled_residual(&r_next, stop) <= 0.5 * size;
        if !kept {
            break;
        }
        x = trial;
        at = next;
    }
    x
}

/// The projected Newton direction: a diagonally scaled gradient step on the
/// `epsilon`-active variables, the pseudo-inverse Newton step on the others.
///
/// Where the Hessian is singular (dependent constraints) `D` is linear along its null space,
/// and a gradient component there is a slope the Newton step cannot see: when it exceeds the
/// tolerances it is followed, `cap` long, until a bound or the line search stops it (two
/// rows that are one up to scale and offset, one slack `<=` and one `=`, need exactly that).
/// A slope within the tolerances is followed too when it alone fails the gap test
/// (`|x·null| > gap (1 + |D|)`) and it leads towards `0` (`x·null > 0`, no further than the
/// point of the line nearest to `0`), or towards a bound, or along rows that vary over the
/// states: residuals of `1e-10` beside multipliers in the thousands, in directions whose
/// curvature is the mass (`1e-100`) of states the answer needs.
#[allow(clippy::too_many_arguments)]
fn direction(
    x: &[f64],
    g: &[f64],
    hessian: &[f64],
    residual: &[f64],
    bounds: &[Bound],
    stop: &Stopping,
    value: f64,
    cap: f64,
    fixed_along: &dyn Fn(&[f64]) -> bool,
) -> Vec<f64> {
    let (tol, slope) = (&stop.gradient, stop.slope.as_deref());
    let n = bounds.len();
    let eps = norm(residual).min(ACTIVE_CAP);
    let active: Vec<bool> = (0..n)
        .map(|i| match bounds[i] {
            Bound::Free => false,
            Bound::NonNegative => x[i] <= eps && g[i] > 0.0,
            Bound::NonPositive => x[i] >= -eps && g[i] < 0.0,
            Bound::Zero => true,
        })
        .collect();
    let mut d = vec![0.0; n];
    for i in (0..n).filter(|&i| active[i] && bounds[i] != Bound::Zero) {
        // A subnormal diagonal (a row whose states have mass `1e-300`) would scale the step to
        // `inf`, and a direction that is not finite is thrown away whole: the plain gradient
        // step then, which projection cancels just the same.
        let scaled = -g[i] / hessian[i * n + i];
        d[i] = if scaled.is_finite() && hessian[i * n + i] > 0.0 {
            scaled
        } else {
            -g[i]
        };
    }
    // The free variables take the pseudo-inverse Newton step; a null-space slope beyond the
    // tolerances is followed as well, but only along variables that can move that way: a
    // variable at its bound that the slope would push out is held (it is a flat direction
    // only with every variable moving, and projection would leave a curved one) and the
    // split is recomputed without it.
    let mut held = active;
    loop {
        let free: Vec<usize> = (0..n).filter(|&i| !held[i]).collect();
        if free.is_empty() {
            return d;
        }
        let nf = free.len();
        let hf = DMatrix::from_fn(nf, nf, |a, b| hessian[free[a] * n + free[b]]);
        let gf = DVector::from_fn(nf, |a, _| g[free[a]]);
        let (step, null) = pseudo_solve_split(hf, &gf);
        // Along equalities alone a slope within a few tolerances is an inconsistency of
        // targets that agree up to rounding (duplicated rows), not a descent direction: it
        // is left alone (a larger one is a curvature too small to see, as under a reference
        // mass of 1e-300, or a real inconsistency that the feasibility LP will certify) —
        // unless the slope runs along a direction the rows do not fix: then it is such a
        // curvature whatever its size (mass `1e-8` off a vertex of reference mass `1e-263`).
        // Nor is it followed while the rest of the gradient is larger (in tolerances): the
        // Newton step comes first, and the slope it leaves is what remains to follow.
        let bounded = free.iter().any(|&i| bounds[i] != Bound::Free);
        let in_tolerances = |v: f64, i: usize| v.abs() / tol[i];
        let slope_size = (0..nf).fold(0.0f64, |m, a| m.max(in_tolerances(null[a], free[a])));
        let rest_size = (0..nf).fold(0.0f64, |m, a| {
            m.max(in_tolerances(gf[a] - null[a], free[a]))
        });
        let beyond = |margin: f64| {
            free.iter()
                .enumerate()
                .any(|(a, &i)| null[a].abs() > slope.map_or(margin * tol[i], |s| s[i]))
        };
        let along_rows_that_vary = || {
            let mut v = vec![0.0; n];
            free.iter().zip(null.iter()).for_each(|(&i, &s)| v[i] = s);
            !fixed_along(&v)
        };
        // A slope within the tolerances that alone fails the gap test (`|x·null|` beyond it)
        // is followed when that cannot run the multipliers off: towards `0` (`x·null > 0`,
        // stopping where `|x|` is least), towards a bound (a slack row's multiplier held off
        // zero by a state of mass `1e-103`: stopped at the bound), or along rows that vary
        // over the states (a curvature too small to see, not dependent rows' rounding).
        // Never where `slope` says such slopes are the targets' distance from a face.
        let allowed_gap = stop.gap * (1.0 + value.abs());
        let along_x: f64 = free.iter().zip(null.iter()).map(|(&i, s)| x[i] * s).sum();
        let null_squared: f64 = null.iter().map(|s| s * s).sum();
        let gap_driven = || {
            let towards_a_bound = || {
                free.iter()
                    .zip(null.iter())
                    .any(|(&i, &s)| bounds[i] != Bound::Free && x[i] * s > 0.0)
            };
            along_x > allowed_gap
                || (along_x.abs() > allowed_gap && (towards_a_bound() || along_rows_that_vary()))
        };
        let by_gap = slope_size >= rest_size && !beyond(1.0) && slope.is_none() && gap_driven();
        let flat = by_gap
            || slope_size >= rest_size
                && if bounded || slope.is_some() {
                    beyond(1.0)
                } else {
                    beyond(FLAT_MARGIN) || (beyond(1.0) && along_rows_that_vary())
                };
        let longest = max_abs(null.as_slice());
        let mut along = if flat && longest > 0.0 {
            cap / longest
        } else {
            0.0
        };
        if by_gap && along_x > 0.0 && null_squared > 0.0 {
            // No further than the point of the line nearest to `0`: `|x|` never grows.
            along = along.min(along_x / null_squared);
        }
        // No further than the first bound it reaches (projection beyond it would bend the
        // flat direction into a curved one).
        for (a, &i) in free.iter().enumerate() {
            let push = -null[a];
            let room = match bounds[i] {
                Bound::NonNegative if x[i] > 0.0 && push < 0.0 => x[i] / -push,
                Bound::NonPositive if x[i] < 0.0 && push > 0.0 => -x[i] / push,
                _ => continue,
            };
            along = along.min(room);
        }
        // The variables at their bounds that the slope pushes outward, held all at once (one
        // at a time would cost a decomposition each: hundreds with hundreds of rows).
        let blocked: Vec<usize> = (free.iter().enumerate())
            .filter(|&(a, &i)| bounds[i].holds(x[i], -along * null[a]))
            .map(|(_, &i)| i)
            .collect();
        if !blocked.is_empty() {
            for i in blocked {
                held[i] = true;
                d[i] = 0.0;
            }
            continue;
        }
        for (a, &i) in free.iter().enumerate() {
            d[i] = -step[a] - along * null[a];
        }
        return d;
    }
}

/// `H^+ g` for a symmetric positive semi-definite `H` (eigenvalues below
/// [`PSEUDO_INVERSE_CUT`] of the largest dropped).
pub(crate) fn pseudo_solve(h: DMatrix<f64>, g: &DVector<f64>) -> DVector<f64> {
    pseudo_solve_split(h, g).0
}

/// `(H^+ g, the part of g in the null space of H)`.
pub(crate) fn pseudo_solve_split(
    h: DMatrix<f64>,
    g: &DVector<f64>,
) -> (DVector<f64>, DVector<f64>) {
    if h.nrows() == 0 {
        // No variables (nalgebra cannot decompose an empty matrix).
        return (DVector::zeros(0), DVector::zeros(0));
    }
    let eig = SymmetricEigen::new(h);
    let top = eig.eigenvalues.iter().fold(0.0f64, |a, &l| a.max(l.abs()));
    let cut = PSEUDO_INVERSE_CUT * top;
    let coeff = eig.eigenvectors.transpose() * g;
    let mut step = DVector::zeros(g.len());
    let mut null = DVector::zeros(g.len());
    for (k, &l) in eig.eigenvalues.iter().enumerate() {
        // A normal eigenvalue only: `1 / l` of a subnormal one overflows.
        if l > cut && l.is_normal() && l > 0.0 {
            step += eig.eigenvectors.column(k) * (coeff[k] / l);
        } else {
            null += eig.eigenvectors.column(k) * coeff[k];
        }
    }
    (step, null)
}

/// `max_i |a_i|` (`0` for no entries).
pub(crate) fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The Euclidean norm, scaled by the largest entry so that it overflows only when the norm
/// itself does (entries of `1e200` square beyond `f64`).
pub(crate) fn norm(a: &[f64]) -> f64 {
    let top = max_abs(a);
    if top == 0.0 || !top.is_finite() {
        return top;
    }
    top * a.iter().map(|x| (x / top) * (x / top)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `D(x) = sum_i a_i (x_i - b_i)^2 / 2 + c_i x_i`: minimiser `x_i = b_i - c_i / a_i`
    /// projected onto the bounds, found exactly by one Newton step.
    struct Quadratic {
        a: Vec<f64>,
        b: Vec<f64>,
        c: Vec<f64>,
    }

    impl Objective for Quadratic {
        fn point(&self, x: &[f64]) -> Result<Point> {
            let value = (0..x.len())
                .map(|i| 0.5 * self.a[i] * (x[i] - self.b[i]).powi(2) + self.c[i] * x[i])
                .sum();
            let gradient = (0..x.len())
                .map(|i| self.a[i] * (x[i] - self.b[i]) + self.c[i])
                .collect();
            Ok(Point {
                value,
                gradient,
                rounding: 1e-15,
            })
        }
        fn point_with_hessian(&self, x: &[f64]) -> Result<(Point, Vec<f64>, usize)> {
            let n = x.len();
            let mut h = vec![0.0; n * n];
            for i in 0..n {
                h[i * n + i] = self.a[i];
            }
            Ok((self.point(x)?, h, 1))
        }
    }

    #[test]
    fn a_bounded_quadratic_stops_at_its_projected_minimiser() {
        let q = Quadratic {
            a: vec![1.0, 1e-6, 2.0],
            b: vec![-3.0, 5.0, 1e5],
            c: vec![0.0; 3],
        };
        let bounds = [Bound::NonNegative, Bound::Free, Bound::NonPositive];
        let stop = Stopping {
            gradient: vec![1e-12; 3],
            gap: 1e-12,
            max_iterations: 50,
            slope: None,
        };
        let run = minimise(&q, &bounds, &stop, vec![1.0, 0.0, -1.0]).unwrap();
        assert!(run.converged);
        assert_eq!(run.x[0], 0.0);
        assert!((run.x[1] - 5.0).abs() < 1e-9);
        assert_eq!(run.x[2], 0.0);
    }

    #[test]
    fn a_far_minimiser_is_reached_through_growing_step_caps() {
        // A tiny curvature sends the Newton step 1e6 away in one go: the cap takes it there
        // in a few accepted steps (16, 64, 256, ...).
        let q = Quadratic {
            a: vec![1e-9],
            b: vec![1e6],
            c: vec![0.0],
        };
        let stop = Stopping {
            gradient: vec![1e-14],
            gap: 1e-12,
            max_iterations: 30,
            slope: None,
        };
        let run = minimise(&q, &[Bound::Free], &stop, vec![0.0]).unwrap();
        assert!(run.converged, "{run:?}");
        assert!((run.x[0] - 1e6).abs() < 1e-3);
        assert!(run.iterations <= 12, "{}", run.iterations);
    }

    #[test]
    fn a_subnormal_curvature_at_a_held_bound_leaves_the_others_their_newton_step() {
        // x_0 is held at 0 by a gradient of 0.5 over a curvature of 1e-315 (a slack row whose
        // states have mass 1e-300): its scaled step 0.5 / 1e-315 overflows, and must not turn
        // the whole direction into a gradient step, which halves x_1's error per iteration.
        let q = Quadratic {
            a: vec![1e-315, 1.0],
            b: vec![0.0, 5.0],
            c: vec![0.5, 0.0],
        };
        let stop = Stopping {
            gradient: vec![1e-12; 2],
            gap: 1e-12,
            max_iterations: 10,
            slope: None,
        };
        let bounds = [Bound::NonNegative, Bound::Free];
        let run = minimise(&q, &bounds, &stop, vec![0.0, 0.0]).unwrap();
        assert!(run.converged, "{run:?}");
        assert_eq!(run.x[0], 0.0);
        assert!((run.x[1] - 5.0).abs() < 1e-12, "{run:?}");
        assert!(run.iterations <= 2, "{run:?}");
    }
}
