//! Feasibility of moment constraints: a linear program solved before the dual (docs/concepts.md, "12. Moment constraints").
//!
//! Given feature vectors `phi(x) in R^m` of the allowed states and targets `c` with senses
//! (`=`, `<=`, `>=`), decide where `c` lies relative to the attainable set
//!
//! ```text
//! A = { E_p[phi] : p a distribution on the allowed states }  (the convex hull of phi(x)),
//! ```
//!
//! intersected with the half-spaces of the inequality constraints:
//!
//! * **infeasible**: no distribution meets the constraints. A separating direction `theta`
//!   (free on `=`, `>= 0` on `<=`, `<= 0` on `>=`, the sign convention of the multipliers) with
//!   `theta·c < min_x theta·phi(x)` is returned in [`Error::InfeasibleMoments`]: every feasible
//!   `p` would have `theta·E_p phi <= theta·c` (sign constraints) and
//!   `theta·E_p phi >= min_x theta·phi(x)` (an average), a contradiction
//!   (`proofs/convex_dual.md`, §3);
//! * **interior**: some feasible `p` gives every allowed state positive mass (refined Slater
//!   condition: the dual attains its minimum, the multipliers are finite);
//! * **face**: every feasible `p` vanishes on some allowed states. The *support* `S` — the
//!   states that carry mass in at least one feasible `p` — is the minimal face containing the
//!   target; the maximum-entropy solution is the one on `S` (the zero-temperature limit).
//!
//! One LP decides the last two: `max t` subject to `p_x >= t >= 0`, `sum p = 1` and the
//! moment constraints. `t* > 0` is the interior. When `t* = 0` every feasible `p` is optimal,
//! and by strict complementarity (which the interior-point solver `clarabel` delivers, up to
//! its tolerance) the dual multiplier `y_x` of `p_x >= t` is positive exactly on the states
//! outside `S`; we drop them and confirm with a second LP on `S` that `t* > 0` there.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolution, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

use super::features::Row;
use super::scaling::scale;
use super::sense::Sense;
use crate::error::{Error, Result};

/// Where the targets lie relative to the attainable set.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// In the relative interior: a feasible distribution with full support exists.
    Interior,
    /// On a proper face: `support[x]` is `true` exactly for the states whose `phi(x)` lie on
    /// the minimal face containing the target (the states some feasible `p` charges).
    Face(Vec<bool>),
}

/// What the LP found, in the units of the rows it was given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// In the relative interior.
    Interior,
    /// On the face of these states.
    Face(Vec<bool>),
    /// Within rounding of the face of these states: the LP on them found no point (or
    /// stalled), though it found the targets on the boundary one round before. A solver may try the face and
    /// judge the answer itself; [`locate`] reports it as [`Error::Numerical`].
    NearFace(Vec<bool>),
    /// Outside: a direction `theta` (sign convention of the multipliers) that the LP found
    /// separating; [`separation`] checks it.
    Outside(Vec<f64>),
}

/// `t* * n` below this is treated as `t* = 0` (clarabel solves to about `1e-10`).
pub(crate) const INTERIOR_MARGIN: f64 = 1e-7;
/// Rounds of face reduction before giving up.
const MAX_ROUNDS: usize = 16;

/// Decides whether `targets` are attainable by distributions on the allowed states and, if
/// so, whether they lie in the relative interior or on a face (module docs).
///
/// `features[i][x]` is `phi_i(x)` (any fixed state order, `n` entries each, finite),
/// `allowed[x]` marks the states a distribution may charge.
///
/// # Errors
/// [`Error::InfeasibleMoments`] with a separating direction; [`Error::AllForbidden`] when
/// no state is allowed; [`Error::Numerical`] when the LP solver fails.
///
/// ```
/// # use hmaxent::constraints::{feasibility::{locate, Location}, Sense};
/// // A die's faces 1..6: mean 6 is the face {6}, mean 3.5 the interior, 7 infeasible.
/// let phi = vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]];
/// let all = vec![true; 6];
/// assert_eq!(locate(&phi, &all, &[3.5], &[Sense::Eq])?, Location::Interior);
/// let face = locate(&phi, &all, &[6.0], &[Sense::Eq])?;
/// assert_eq!(face, Location::Face(vec![false, false, false, false, false, true]));
/// assert!(locate(&phi, &all, &[7.0], &[Sense::Eq]).is_err());
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub fn locate(
    features: &[Vec<f64>],
    allowed: &[bool],
    targets: &[f64],
    senses: &[Sense],
) -> Result<Location> {
    let rows: Vec<Row> = features.iter().map(|f| Row::Dense(f.clone())).collect();
    locate_rows(&rows, allowed, targets, senses)
}

/// [`locate`] for features stored as [`Row`]s (dense or sparse). The LP sees the rows
/// centred and scaled to spread 1 (`super::scaling`); a separating direction is mapped back
/// and checked in the rows' own units ([`separation`]).
pub(crate) fn locate_rows(
    features: &[Row],
    allowed: &[bool],
    targets: &[f64],
    senses: &[Sense],
) -> Result<Location> {
    let (rows, scaled_targets, map) = scale(features, targets, allowed);
    match locate_scaled(&rows, allowed, &scaled_targets, senses)? {
        Verdict::Interior => Ok(Location::Interior),
        Verdict::Face(support) => Ok(Location::Face(support)),
        Verdict::NearFace(support) => Err(Error::Numerical(format!(
            "the moment feasibility LP found the targets on the boundary of the attainable \
             set, then no point (or a stall) on the face of the {} states it kept: the targets \
             are within rounding of that face, too close to decide",
            support.iter().filter(|&&s| s).count()
        ))),
        Verdict::Outside(direction) => {
            let theta = map.to_user(&direction);
            Err(
                separation(features, allowed, targets, &theta).unwrap_or_else(|| {
                    Error::Numerical(format!(
                        "the moment targets lie within rounding of the boundary of the attainable \
                     set: the LP found them infeasible, but its direction {theta:?} does not \
                     separate them beyond rounding"
                    ))
                }),
            )
        }
    }
}

/// The LP's verdict on rows as given (best centred and scaled to spread 1).
///
/// # Errors
/// [`Error::AllForbidden`]; [`Error::Numerical`] when the LP fails or the face cannot be
/// identified.
pub(crate) fn locate_scaled(
    features: &[Row],
    allowed: &[bool],
    targets: &[f64],
    senses: &[Sense],
) -> Result<Verdict> {
    let mut support: Vec<bool> = allowed.to_vec();
    if !support.iter().any(|&a| a) {
        return Err(Error::AllForbidden(
            "no state is allowed, so no distribution meets the moment constraints".to_string(),
        ));
    }
    for round in 0..MAX_ROUNDS {
        let states: Vec<usize> = (0..support.len()).filter(|&x| support[x]).collect();
        let lp = match max_min_mass(support.len(), features, &states, targets, senses) {
            // After a round that found the targets on the boundary, an LP that stalls on the
            // states kept is degenerate because the targets are within rounding of their face.
            Err(Error::Numerical(_)) if round > 0 => return Ok(Verdict::NearFace(support)),
            lp => lp?,
        };
        let Some((t, slack, dual)) = lp else {
            if round == 0 {
                return Ok(Verdict::Outside(certificate(
                    features, allowed, targets, senses,
                )?));
            }
            return Ok(Verdict::NearFace(support));
        };
        if t * states.len() as f64 > INTERIOR_MARGIN {
            return Ok(if round == 0 {
                Verdict::Interior
            } else {
                Verdict::Face(support)
            });
        }
        // t* = 0: drop the states whose dual multiplier dominates their slack.
        let mut removed = 0;
        for (j, &x) in states.iter().enumerate() {
            if dual[j] > slack[j] {
                support[x] = false;
                removed += 1;
            }
        }
        if removed == 0 || removed == states.len() {
            return Err(Error::Numerical(format!(
                "could not identify the face of the attainable set containing the targets \
                 (LP round {round}, max-min mass {t})"
            )));
        }
    }
    Err(Error::Numerical(format!(
        "face reduction did not finish within {MAX_ROUNDS} LP rounds"
    )))
}

/// The LP solver's settings: tolerances `1e-11` (the first try) or `1e-9` (the retry after a
/// numerical stall, which near-degenerate targets cause at the tighter tolerance).
fn settings(retry: bool) -> Result<clarabel::solver::DefaultSettings<f64>> {
    let tol = if retry { 1e-9 } else { 1e-11 };
    DefaultSettingsBuilder::default()
        .verbose(false)
        .presolve_enable(false)
        .tol_gap_abs(tol)
        .tol_gap_rel(tol)
        .tol_feas(tol)
        .max_iter(if retry { 800 } else { 400 })
        .build()
        .map_err(|e| Error::Numerical(format!("LP solver settings: {e}")))
}

/// Solves one LP, retrying once with looser tolerances when the solver stalls.
#[allow(clippy::too_many_arguments)]
fn run_lp(
    what: &str,
    p: &CscMatrix<f64>,
    q: &[f64],
    a: &CscMatrix<f64>,
    b: &[f64],
    cones: &[SupportedConeT<f64>],
) -> Result<DefaultSolution<f64>> {
    let mut last = SolverStatus::Unsolved;
    for retry in [false, true] {
        let mut solver = DefaultSolver::new(p, q, a, b, cones, settings(retry)?);
        solver.solve();
        last = solver.solution.status;
        if !matches!(
            last,
            SolverStatus::NumericalError
                | SolverStatus::MaxIterations
                | SolverStatus::InsufficientProgress
                | SolverStatus::MaxTime
        ) {
            return Ok(solver.solution);
        }
    }
    Err(Error::Numerical(format!(
        "the {what} ({} constraints, {} variables) stopped with status {last:?} at \
         tolerance 1e-11 and again at 1e-9: the targets lie within about that of the \
         boundary of the attainable set, where the LP is degenerate",
        a.m, a.n
    )))
}

/// `max t` s.t. `p_x >= t >= 0` (x in `states`), `sum p = 1`, moment constraints.
/// `None` when infeasible; else `(t*, slacks p_x - t, duals y_x)`.
///
/// Written with `p_x = t + r_x`, `r_x >= 0`, so `t` appears only in the `m + 1` dense rows
/// (not in `n` rows of its own): the KKT system then factors in `O(n m^2)`.
#[allow(clippy::type_complexity)]
fn max_min_mass(
    n_states: usize,
    features: &[Row],
    states: &[usize],
    targets: &[f64],
    senses: &[Sense],
) -> Result<Option<(f64, Vec<f64>, Vec<f64>)>> {
    let n = states.len();
    let (mut rows, mut cols, mut vals, mut b) = (vec![], vec![], vec![], vec![]);
    let t_col = n;
    let mut row = 0;
    // Zero cone: normalisation n t + sum r = 1, and equalities.
    for j in 0..n {
        rows.push(row);
        cols.push(j);
        vals.push(1.0);
    }
    rows.push(row);
    cols.push(t_col);
    vals.push(n as f64);
    b.push(1.0);
    row += 1;
    // Column of each state in the LP (usize::MAX: not in `states`).
    let mut column = vec![usize::MAX; n_states];
    for (j, &x) in states.iter().enumerate() {
        column[x] = j;
    }
    let sums: Vec<f64> = features
        .iter()
        .map(|phi| {
            let mut acc = 0.0;
            phi.for_each(|x, v| {
                if column[x] != usize::MAX {
                    acc += v;
                }
            });
            acc
        })
        .collect();
    for (i, phi) in features.iter().enumerate() {
        if senses[i] == Sense::Eq {
            push_row(&mut rows, &mut cols, &mut vals, row, &column, phi, 1.0);
            rows.push(row);
            cols.push(t_col);
            vals.push(sums[i]);
            b.push(targets[i]);
            row += 1;
        }
    }
    let zero_rows = row;
    // Non-negative cone: r_x >= 0 first (so their duals are z[zero_rows..][..n]).
    for j in 0..n {
        rows.push(row);
        cols.push(j);
        vals.push(-1.0);
        b.push(0.0);
        row += 1;
    }
    for (i, phi) in features.iter().enumerate() {
        let sign = match senses[i] {
            Sense::Eq => continue,
            Sense::Le => 1.0,
            Sense::Ge => -1.0,
        };
        push_row(&mut rows, &mut cols, &mut vals, row, &column, phi, sign);
        rows.push(row);
        cols.push(t_col);
        vals.push(sign * sums[i]);
        b.push(sign * targets[i]);
        row += 1;
    }
    rows.push(row);
    cols.push(t_col);
    vals.push(-1.0);
    b.push(0.0);
    row += 1;
    let a = CscMatrix::new_from_triplets(row, n + 1, rows, cols, vals);
    let p = CscMatrix::<f64>::zeros((n + 1, n + 1));
    let mut q = vec![0.0; n + 1];
    q[t_col] = -1.0;
    let cones = [
        SupportedConeT::ZeroConeT(zero_rows),
        SupportedConeT::NonnegativeConeT(row - zero_rows),
    ];
    let what = format!("moment feasibility LP over {n} states");
    let sol = &run_lp(&what, &p, &q, &a, &b, &cones)?;
    match sol.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {
            let t = sol.x[t_col];
            let slack = sol.x[..n].to_vec();
            let dual = sol.z[zero_rows..zero_rows + n].to_vec();
            Ok(Some((t, slack, dual)))
        }
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => Ok(None),
        s => Err(Error::Numerical(format!(
            "the {what} stopped with status {s:?}"
        ))),
    }
}

/// The nonzero entries of `sign * phi` on the LP's columns, in LP row `row`.
fn push_row(
    rows: &mut Vec<usize>,
    cols: &mut Vec<usize>,
    vals: &mut Vec<f64>,
    row: usize,
    column: &[usize],
    phi: &Row,
    sign: f64,
) {
    phi.for_each(|x, v| {
        if v != 0.0 && column[x] != usize::MAX {
            rows.push(row);
            cols.push(column[x]);
            vals.push(sign * v);
        }
    });
}

/// The separating direction of an infeasible problem:
/// `max_{theta, s} s - theta·c` s.t. `theta·phi(x) >= s` (allowed x), `|theta_i| <= 1`, and
/// the sign constraints of the senses; signs made exact and entries below the solver's
/// resolution zeroed. Whether it separates is for [`separation`] to check.
pub(crate) fn certificate(
    features: &[Row],
    allowed: &[bool],
    targets: &[f64],
    senses: &[Sense],
) -> Result<Vec<f64>> {
    let m = features.len();
    let states: Vec<usize> = (0..allowed.len()).filter(|&x| allowed[x]).collect();
    let (mut rows, mut cols, mut vals, mut b) = (vec![], vec![], vec![], vec![]);
    let s_col = m;
    let mut row = 0;
    // Row of each allowed state: theta·phi(x) >= s, i.e. s - theta·phi(x) <= 0.
    let mut state_row = vec![usize::MAX; allowed.len()];
    for (r, &x) in states.iter().enumerate() {
        state_row[x] = r;
    }
    for (i, phi) in features.iter().enumerate() {
        phi.for_each(|x, v| {
            if v != 0.0 && state_row[x] != usize::MAX {
                rows.push(state_row[x]);
                cols.push(i);
                vals.push(-v);
            }
        });
    }
    for _ in &states {
        rows.push(row);
        cols.push(s_col);
        vals.push(1.0);
        b.push(0.0);
        row += 1;
    }
    row = push_box_and_signs(&mut rows, &mut cols, &mut vals, &mut b, row, senses);
    let a = CscMatrix::new_from_triplets(row, m + 1, rows, cols, vals);
    let p = CscMatrix::<f64>::zeros((m + 1, m + 1));
    let mut q = targets.to_vec();
    q.push(-1.0);
    let cones = [SupportedConeT::NonnegativeConeT(row)];
    let what = format!("moment certificate LP over {} states", states.len());
    let sol = &run_lp(&what, &p, &q, &a, &b, &cones)?;
    if !matches!(
        sol.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    ) {
        return Err(Error::Numerical(format!(
            "the {what} stopped with status {:?}",
            sol.status
        )));
    }
    Ok(exact_signs(&sol.x[..m], senses))
}

/// A separating direction for targets just outside a face of the attainable set, from one
/// state `x0` of that face: `max theta·w` with `w = (phi(x0) - c) / max_i |phi_i(x0) - c_i|`
/// subject to `theta·(phi(x) - phi(x0)) >= 0` on every allowed state (so `x0` minimises
/// `theta·phi`), `|theta_i| <= 1` and the senses' signs. Unlike [`certificate`], whose
/// optimum is the targets' distance from the hull (`1e-9` when they are that close, within
/// the interior-point solver's tolerance, which then returns a direction near `0` in no
/// particular direction), this LP's data and optimum are of order one whatever that
/// distance. `None` when the LP fails or `x0` is not allowed; whether the direction
/// separates is for [`separation`] to check.
pub(crate) fn certificate_at(
    features: &[Row],
    allowed: &[bool],
    targets: &[f64],
    senses: &[Sense],
    x0: usize,
) -> Option<Vec<f64>> {
    let m = features.len();
    if !allowed.get(x0).copied().unwrap_or(false) {
        return None;
    }
    let states: Vec<usize> = (0..allowed.len()).filter(|&x| allowed[x]).collect();
    let (mut rows, mut cols, mut vals, mut b) = (vec![], vec![], vec![], vec![]);
    let mut values = vec![0.0; allowed.len()];
    let mut w = vec![0.0; m];
    // theta·(phi(x0) - phi(x)) <= 0, one row per allowed state.
    for (i, phi) in features.iter().enumerate() {
        values.iter_mut().for_each(|v| *v = 0.0);
        phi.for_each(|x, v| values[x] = v);
        let at = values[x0];
        w[i] = at - targets[i];
        for (r, &x) in states.iter().enumerate() {
            let d = at - values[x];
            if d != 0.0 {
                rows.push(r);
                cols.push(i);
                vals.push(d);
            }
        }
    }
    b.resize(states.len(), 0.0);
    let row = push_box_and_signs(
        &mut rows,
        &mut cols,
        &mut vals,
        &mut b,
        states.len(),
        senses,
    );
    let top = w.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if top == 0.0 || !top.is_finite() {
        return None;
    }
    let q: Vec<f64> = w.iter().map(|v| -v / top).collect();
    let a = CscMatrix::new_from_triplets(row, m, rows, cols, vals);
    let p = CscMatrix::<f64>::zeros((m, m));
    let cones = [SupportedConeT::NonnegativeConeT(row)];
    let what = format!("face certificate LP over {} states", states.len());
    let sol = run_lp(&what, &p, &q, &a, &b, &cones).ok()?;
    if !matches!(
        sol.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    ) {
        return None;
    }
    Some(exact_signs(&sol.x[..m], senses))
}

/// The rows `|theta_i| <= 1` and the senses' signs (`theta_i >= 0` on `<=`, `<= 0` on `>=`)
/// of a certificate LP (non-negative cone, `b - A theta >= 0`), from LP row `row` on;
/// returns the next free row.
fn push_box_and_signs(
    rows: &mut Vec<usize>,
    cols: &mut Vec<usize>,
    vals: &mut Vec<f64>,
    b: &mut Vec<f64>,
    mut row: usize,
    senses: &[Sense],
) -> usize {
    for (i, sense) in senses.iter().enumerate() {
        for sign in [1.0, -1.0] {
            rows.push(row);
            cols.push(i);
            vals.push(sign);
            b.push(1.0);
            row += 1;
        }
        let sign = match sense {
            Sense::Eq => continue,
            Sense::Le => -1.0,
            Sense::Ge => 1.0,
        };
        rows.push(row);
        cols.push(i);
        vals.push(sign);
        b.push(0.0);
        row += 1;
    }
    row
}

/// Exact signs for the senses, and zeros below the solver's resolution.
fn exact_signs(theta: &[f64], senses: &[Sense]) -> Vec<f64> {
    theta
        .iter()
        .zip(senses)
        .map(|(&t, s)| {
            let t = if t.abs() < 1e-12 { 0.0 } else { t };
            match s {
                Sense::Eq => t,
                Sense::Le => t.max(0.0),
                Sense::Ge => t.min(0.0),
            }
        })
        .collect()
}

/// The certificate `theta` proves infeasibility when `min_x theta·(phi(x) - c) > 0` over the
/// allowed states, i.e. `theta·c < min_x theta·phi(x)`. The differences `phi_i(x) - c_i` are
/// taken first, so a common offset (`1e6` on a row) cancels exactly instead of rounding both
/// sums: state by state the computed `theta·(phi(x) - c)` is within
/// `2 (m + 2) eps sum_i |theta_i (phi_i(x) - c_i)|` of the exact value, and the certificate
/// is accepted when it exceeds that bound on every allowed state. The error reports
/// `target_value = theta·c` and `hull_min = theta·c + min_x theta·(phi(x) - c)`. `None`
/// when they are not that clearly apart (or no state is allowed).
pub(crate) fn separation(
    features: &[Row],
    allowed: &[bool],
    targets: &[f64],
    theta: &[f64],
) -> Option<Error> {
    let n = allowed.len();
    let mut margin = vec![0.0; n];
    let mut size = vec![0.0; n];
    let mut values = vec![0.0; n];
    // theta·phi(x) itself, for the reported minimum (`theta·c + margin` cancels).
    let mut along = vec![0.0; n];
    for ((row, &t), &c) in features.iter().zip(theta).zip(targets) {
        if t == 0.0 {
            continue;
        }
        values.iter_mut().for_each(|v| *v = 0.0);
        row.for_each(|x, v| values[x] = v);
        for (((m, s), a), &v) in margin
            .iter_mut()
            .zip(size.iter_mut())
            .zip(along.iter_mut())
            .zip(&values)
        {
            let term = t * (v - c);
            *m += term;
            *s += term.abs();
            *a += t * v;
        }
    }
    let bound = 2.0 * (theta.len() as f64 + 2.0) * f64::EPSILON;
    let mut least = f64::INFINITY;
    let mut hull_min = f64::INFINITY;
    for x in (0..n).filter(|&x| allowed[x]) {
        // (NaN fails too.)
        let separates = margin[x] > bound * size[x];
        if !separates {
            return None;
        }
        least = least.min(margin[x]);
        hull_min = hull_min.min(along[x]);
    }
    let target_value: f64 = theta.iter().zip(targets).map(|(t, c)| t * c).sum();
    least.is_finite().then_some(Error::InfeasibleMoments {
        direction: theta.to_vec(),
        target_value,
        hull_min,
    })
}
