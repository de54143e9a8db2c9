//! Solving a moment problem: the dual first, the feasibility LP when the dual cannot prove
//! an interior answer, and an acceptance test on every answer before it is called converged.
//!
//! **Acceptance.** Whatever path produced it, an answer is reported as converged (or as a
//! boundary solution) only if, recomputed from the returned `P*_0`, every row meets its target
//! in its sense to `9 tol (1 + spread_i)` and the duality gap is at most
//! `9 tol (1 + |objective|)` (`tol` the gradient tolerance, `1e-10` by default), a tenth inside
//! the promised `1e-9` so that an outside recomputation cannot round past it (the marginals
//! are normalised first, so that `sum P - 1` does not move an offset row's `E phi`). Otherwise the
//! next path is tried, and when none is left the status is [`Status::MaxIterations`].
//!
//! **Paths.** (1) Newton on all allowed states for at most [`PROBE_ITERATIONS`] (fewer
//! above [`PROBE_FULL_UP_TO`] constraints); an accepted
//! answer with an interior witness (`super::witness`) is returned. (2) The feasibility LP on
//! the scaled rows: *interior* resumes Newton from the probe's point; a *face* (or a face
//! within rounding of the targets, on which the LP found no point) is solved on its states,
//! and if that answer is not exact to Newton's own tolerance (the targets were near, not on,
//! the face) Newton on all states resumes; its answer is preferred when it passes, else the
//! face's, when it passes (the targets are then within the promised tolerance of the face,
//! and on the face the multipliers do not chase that distance: [`newton::Stopping`]'s
//! `slope`); *outside* returns the LP's separating direction once it
//! separates the targets in the user's own units by more than the rounding of the two sums
//! (`super::super::feasibility::separation`); a direction that does not separate that clearly
//! means the targets lie within rounding of the hull, and the face the direction exposes is
//! solved and accepted like any other answer.
//!
//! **Last resorts.** When neither the face's answer nor Newton on all states passes (and
//! when the LP itself fails), more is tried before giving up: on a face, the certificate LP
//! that makes one of its states the minimiser of `theta·phi` ([`certificate_at`]); then
//! continuation in the targets from `E_0[phi]` (`super::continuation`), whose end is finished
//! by Newton and judged by the acceptance test; and after the nearest-point certificate and
//! the merged parallel rows (`MomentProblem::solve_paths`), the certificate LP on all
//! states. Every direction is checked by [`separation`].

use super::super::exact_line::polish_by_lines;
use super::super::feasibility::{certificate, certificate_at, locate_scaled, separation, Verdict};
use super::super::features::Row;
use super::super::nearest::nearest_certificate;
use super::super::newton::{self, dot, max_abs, norm, projected_residual, Bound, Stopping};
use super::super::scaling::{scale, Scaling};
use super::balance::balanced;
use super::engine::Engine;
use super::witness::interior_witness;
use super::{lbfgs, ConvexSettings, MomentProblem, MomentSolution, Sense, Status};
use crate::error::{Error, Result};
use crate::numerics::compensated_sum;
use crate::temperatures::Temperatures;

/// Gradient norm (scaled features) below which a Newton run that used its whole budget is
/// taken to be at its rounding floor, and finished by exact line searches.
const FLOOR: f64 = 1e-8;

/// Newton iterations of the dual before the feasibility LP is consulted (about 30 suffice on
/// well-posed problems), for up to [`PROBE_FULL_UP_TO`] constraints.
pub(super) const PROBE_ITERATIONS: usize = 30;

/// Above this many constraints the probe is shortened in proportion (to no fewer than
/// [`PROBE_AT_LEAST`] iterations): each iteration diagonalises the `m x m` Hessian, and the
/// probe's point is where Newton resumes after the LP, so no progress is lost.
const PROBE_FULL_UP_TO: usize = 64;

/// The shortest probe.
const PROBE_AT_LEAST: usize = 8;

/// The probe's iterations for `m` constraints.
fn probe_iterations(m: usize) -> usize {
    if m <= PROBE_FULL_UP_TO {
        PROBE_ITERATIONS
    } else {
        (PROBE_ITERATIONS * PROBE_FULL_UP_TO / m).max(PROBE_AT_LEAST)
    }
}

/// Above this many constraints (all equalities) the dual is minimised by L-BFGS first.
const LBFGS_ABOVE: usize = 64;

/// The acceptance tolerance is this many gradient tolerances: `9e-10 (1 + spread_i)` by
/// default, a tenth below the promised `1e-9 (1 + spread_i)`, so that recomputing `E phi`
/// from the printed `P*` with the features as given (offsets and all) cannot round an
/// accepted answer past the promise.
pub(super) const ACCEPTANCE: f64 = 9.0;

/// Level weights whose largest and smallest differ by more than this factor are named in
/// the message of an answer that fails (docs/constraints.md, 'Limits').
const WEIGHT_SPAN: f64 = 1e6;

/// States of a face tried as the minimiser of a certificate, at most.
const FACE_CERTIFICATES: usize = 4;

/// The solver's view of the problem: centred and scaled rows and targets.
#[derive(Debug, Clone)]
pub(super) struct Scaled {
    pub rows: Vec<Row>,
    pub targets: Vec<f64>,
    pub map: Scaling,
}

/// One answer, with the solver's multipliers and whether it passed the acceptance test.
struct Attempt {
    fit: MomentSolution,
    theta: Vec<f64>,
    /// Whether Newton met its own (tighter) stopping rule; a face answer that did not is the
    /// face nearest to targets just inside it, kept only when no interior answer passes.
    tight: bool,
}

impl Attempt {
    fn accepted(&self) -> bool {
        matches!(self.fit.status, Status::Converged | Status::Boundary)
    }
}

impl MomentProblem<'_> {
    /// The rows and targets as the solver sees them (`super::scaling`), made once per problem.
    pub(super) fn scaled(&self) -> &Scaled {
        self.scaled.get_or_init(|| {
            let (rows, targets, map) = scale(&self.rows, &self.targets, &self.allowed);
            Scaled { rows, targets, map }
        })
    }

    /// Solves the problem: projected Newton on the dual with the exact Hessian and an Armijo
    /// line search along the projection arc (L-BFGS first above 64 equality constraints);
    /// the feasibility LP when the dual does not certify an interior solution; an acceptance
    /// test on every answer (module docs of `solve`).
    ///
    /// # Errors
    /// [`Error::InfeasibleMoments`] (with a separating direction) when no distribution meets
    /// the constraints, [`Error::AllForbidden`], [`Error::Numerical`] if the LP fails and no
    /// other path finds an answer.
    pub fn solve(&self, settings: &ConvexSettings) -> Result<MomentSolution> {
        self.solve_paths(settings, true)
    }

    /// [`MomentProblem::solve`]; with `merge`, rows that are one feature up to an affine map
    /// are merged when nothing else finds an answer or a certificate (`super::parallel`).
    pub(super) fn solve_paths(
        &self,
        settings: &ConvexSettings,
        merge: bool,
    ) -> Result<MomentSolution> {
        let scaled = self.scaled();
        if self.rows.is_empty() || !settings.feasibility_check {
            let all = self.allowed.clone();
            return Ok(self.attempt(scaled, all, false, settings, None)?.fit);
        }
        if let Some(e) = self.row_outside_its_range() {
            return Err(e);
        }
        let answer = self.paths(scaled, settings);
        let failed = match &answer {
            Ok(fit) => !matches!(fit.status, Status::Converged | Status::Boundary),
            Err(Error::Numerical(_)) => true,
            Err(_) => false,
        };
        if failed {
            // No path found an answer: the targets may lie just outside, where the LP's
            // direction is too coarse; their nearest point gives one that separates.
            let (rows, allowed, targets) = (&self.rows, &self.allowed, &self.targets);
            let scale = &scaled.map.scale;
            if let Some(e) = nearest_certificate(rows, allowed, targets, &self.senses, scale) {
                return Err(e);
            }
            // Or rows that are one feature, with targets that disagree within tolerance.
            if let Some(merged) = merge.then(|| self.merged_parallel_rows(settings)).flatten() {
                return merged;
            }
            // Or the certificate LP on all states, which the feasibility LP's verdict did not
            // call for (it stalled, or found a face).
            if let Some(e) = self.lp_certificate(scaled) {
                return Err(e);
            }
        }
        answer
    }

    /// A target outside its own row's range over the allowed states (`c_i < min phi_i` on an
    /// `=` or `<=` row, `c_i > max phi_i` on an `=` or `>=` row) is infeasible with the
    /// direction `+-e_i`, verified exactly by [`separation`] before any LP: the LP's solver
    /// fails on such targets near `1e308`, and the certificate needs no solver.
    fn row_outside_its_range(&self) -> Option<Error> {
        // The ranges were found once, with the scaling.
        for (i, range) in self.scaled().map.range.iter().enumerate() {
            let (lo, hi) = (*range)?;
            let c = self.targets[i];
            let sign = match self.senses[i] {
                Sense::Eq | Sense::Le if c < lo => 1.0,
                Sense::Eq | Sense::Ge if c > hi => -1.0,
                _ => continue,
            };
            let mut theta = vec![0.0; self.rows.len()];
            theta[i] = sign;
            if let Some(e) = separation(&self.rows, &self.allowed, &self.targets, &theta) {
                return Some(e);
            }
        }
        None
    }

    /// The paths of the module docs, in order.
    fn paths(&self, scaled: &Scaled, settings: &ConvexSettings) -> Result<MomentSolution> {
        let all = self.allowed.clone();
        let probe = ConvexSettings {
            max_iterations: settings
                .max_iterations
                .min(probe_iterations(scaled.rows.len())),
            ..*settings
        };
        let mut spent = (0, 0);
        let mut start = None;
        match self.attempt(scaled, all.clone(), false, &probe, None) {
            Ok(a) if a.accepted() => {
                let p = a.fit.solution.marginal_block(0);
                if interior_witness(
                    &scaled.rows,
                    &scaled.targets,
                    &self.senses,
                    &self.allowed,
                    p,
                    &a.theta,
                ) {
                    return Ok(a.fit);
                }
                spent = (a.fit.iterations, a.fit.sweeps);
                start = Some(a.theta);
            }
            Ok(a) => {
                spent = (a.fit.iterations, a.fit.sweeps);
                start = Some(a.theta);
            }
            Err(_) => {}
        }
        let add = |mut a: Attempt, spent: (usize, usize)| {
            a.fit.iterations += spent.0;
            a.fit.sweeps += spent.1;
            a
        };
        let verdict = locate_scaled(&scaled.rows, &self.allowed, &scaled.targets, &self.senses);
        let resume = |start: Option<Vec<f64>>, spent| -> Result<Attempt> {
            Ok(add(
                self.attempt(scaled, all.clone(), false, settings, start)?,
                spent,
            ))
        };
        match verdict {
            Ok(Verdict::Interior) => {
                let full = resume(start, spent)?;
                Ok(self.continuation(scaled, settings, full)?.fit)
            }
            Ok(Verdict::Face(support) | Verdict::NearFace(support)) => {
                let face = add(
                    self.attempt(scaled, support.clone(), true, settings, None)?,
                    spent,
                );
                if face.accepted() && face.tight {
                    return Ok(face.fit);
                }
                let spent = (face.fit.iterations, face.fit.sweeps);
                let full = resume(start, spent)?;
                Ok(if full.accepted() {
                    full.fit
                } else if face.accepted() {
                    face.fit
                } else {
                    if let Some(e) = self.face_certificate(scaled, &support) {
                        return Err(e);
                    }
                    self.continuation(scaled, settings, full)?.fit
                })
            }
            Ok(Verdict::Outside(direction)) => {
                let theta = scaled.map.to_user(&direction);
                if let Some(e) = separation(&self.rows, &self.allowed, &self.targets, &theta) {
                    return Err(e);
                }
                // Not separated beyond rounding: the targets are within rounding of the hull,
                // on the face the direction exposes.
                let face = exposed_face(&scaled.rows, &self.allowed, &direction);
                let near = add(self.attempt(scaled, face, true, settings, None)?, spent);
                if near.accepted() {
                    return Ok(near.fit);
                }
                Err(Error::Numerical(format!(
                    "the moment targets lie within rounding of the boundary of the attainable \
                     set: the LP's separating direction {theta:?} does not separate them \
                     beyond rounding, and the answer on the face it exposes fails ({})",
                    self.shortfall(&near.fit)
                )))
            }
            Err(Error::Numerical(why)) => {
                // The LP could not decide; an answer the acceptance test passes (from Newton or
                // from continuation) is still one.
                let full = self.continuation(scaled, settings, resume(start, spent)?)?;
                if full.accepted() {
                    Ok(full.fit)
                } else {
                    Err(Error::Numerical(format!(
                        "{why}; Newton on the dual alone did not pass the acceptance test \
                         ({})",
                        self.shortfall(&full.fit)
                    )))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `failed` if the acceptance test passed it after all; else the answer that continuation
    /// in the targets reaches (`super::continuation`) when the test passes that, counting the
    /// work of both; else `failed`.
    fn continuation(
        &self,
        scaled: &Scaled,
        settings: &ConvexSettings,
        failed: Attempt,
    ) -> Result<Attempt> {
        if failed.accepted() {
            return Ok(failed);
        }
        let spent = (failed.fit.iterations, failed.fit.sweeps);
        let Some(path) = self.continued(scaled, settings)? else {
            return Ok(failed);
        };
        let all = self.allowed.clone();
        let mut end = self.attempt(scaled, all, false, settings, Some(path.theta))?;
        end.fit.iterations += spent.0 + path.iterations;
        end.fit.sweeps += spent.1 + path.sweeps;
        Ok(if end.accepted() { end } else { failed })
    }

    /// A direction from [`certificate_at`] at one of the first states of the face `support`
    /// that separates the targets in the user's units beyond rounding: targets just outside
    /// a face on which the feasibility LP found no point.
    fn face_certificate(&self, scaled: &Scaled, support: &[bool]) -> Option<Error> {
        (0..support.len())
            .filter(|&x| support[x])
            .take(FACE_CERTIFICATES)
            .find_map(|x0| {
                let (rows, targets) = (&scaled.rows, &scaled.targets);
                certificate_at(rows, &self.allowed, targets, &self.senses, x0)
                    .and_then(|d| self.separates(scaled, &d))
            })
    }

    /// The certificate LP's direction on all states ([`certificate`]), when it separates.
    fn lp_certificate(&self, scaled: &Scaled) -> Option<Error> {
        let (rows, targets) = (&scaled.rows, &scaled.targets);
        let direction = certificate(rows, &self.allowed, targets, &self.senses).ok()?;
        self.separates(scaled, &direction)
    }

    /// [`separation`] of a direction in the solver's units, checked in the user's.
    fn separates(&self, scaled: &Scaled, direction: &[f64]) -> Option<Error> {
        let theta = scaled.map.to_user(direction);
        separation(&self.rows, &self.allowed, &self.targets, &theta)
    }

    /// What an answer that failed the acceptance test misses, for an error message: the row
    /// furthest outside the promised `1e-9 (1 + spread_i)` (its `E phi_i`, target and
    /// miss), the duality gap and the largest multiplier.
    pub(crate) fn shortfall(&self, fit: &MomentSolution) -> String {
        let spread = &self.scaled().map.spread;
        let worst = (0..fit.expected_features.len())
            .map(|i| {
                let (e, c) = (fit.expected_features[i], self.targets[i]);
                let miss = match self.senses[i] {
                    Sense::Eq => (e - c).abs(),
                    Sense::Le => (e - c).max(0.0),
                    Sense::Ge => (c - e).max(0.0),
                };
                (i, e, c, miss / (1e-9 * (1.0 + spread[i])))
            })
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let rows = match worst {
            Some((i, e, c, ratio)) => format!(
                "worst row {i}: E phi_{i} = {e:e} against target {c:e}, {ratio:.3} times its \
                 tolerance 1e-9 (1 + spread)"
            ),
            None => "no feature row".to_string(),
        };
        let largest = fit.multipliers.as_deref().map_or(0.0, max_abs);
        let positive = self.weights.iter().copied().filter(|w| *w > 0.0);
        let (least, most) =
            positive.fold((f64::INFINITY, 0.0f64), |(a, b), w| (a.min(w), b.max(w)));
        let span = if most / least > WEIGHT_SPAN {
            format!(
                "; the level weights span {:.0e} (from {least:e} to {most:e}): at such ratios the \
                 multipliers or the level-0 temperature leave the losses or the dual's kinks \
                 beyond f64's resolution (docs/constraints.md, 'Limits')",
                most / least
            )
        } else {
            String::new()
        };
        format!(
            "{rows}; duality gap {:e}; largest multiplier {largest:e}{span}",
            fit.duality_gap
        )
    }

    /// The per-row stopping rule of Newton in the solver's units. Row `i` must meet its
    /// target to `tol_i = tol min(1 + spread_i, (1 + ‖c‖) / sqrt(m))` in the user's units
    /// (so each row to its own scale, and all together to `‖c - E phi‖ <= tol (1 + ‖c‖)`),
    /// but never closer than `1e-3 tol spread_i`, about a thousand roundings of `E phi_i`;
    /// in the solver's units that is `tol_i / s_i`. The gap: `|theta·r| <= tol (1 + |D|)`.
    pub(super) fn stopping(&self, map: &Scaling, settings: &ConvexSettings) -> Stopping {
        let tol = settings.gradient_tolerance;
        let overall = (1.0 + norm(&self.targets)) / (self.targets.len().max(1) as f64).sqrt();
        Stopping {
            gradient: map
                .spread
                .iter()
                .zip(&map.scale)
                .map(|(d, s)| tol * (1.0 + d).min(overall).max(1e-3 * d) / s)
                .collect(),
            gap: tol,
            max_iterations: settings.max_iterations,
            slope: None,
        }
    }

    /// Newton on the dual over `support` (a face when `boundary`) from `start` (or from 0,
    /// through L-BFGS for many equalities), then `P*` and the acceptance test.
    fn attempt(
        &self,
        scaled: &Scaled,
        support: Vec<bool>,
        boundary: bool,
        settings: &ConvexSettings,
        start: Option<Vec<f64>>,
    ) -> Result<Attempt> {
        let mm = self.senses.len();
        let engine = self.engine(scaled, support);
        let bounds: Vec<Bound> = self.senses.iter().map(|s| s.bound()).collect();
        let mut stop = self.stopping(&scaled.map, settings);
        // A null-space slope within the acceptance tolerance, left alone: the multipliers
        // stay finite and the answer is judged by the acceptance test.
        let within_acceptance = acceptance(&scaled.map, settings);
        if boundary {
            // On a face such a slope is the targets' distance from the face's affine hull
            // (targets `1e-9` inside it).
            stop.slope = Some(within_acceptance.clone());
        }
        let (start, mut iterations, mut sweeps) = match start {
            Some(s) if s.len() == mm => (s, 0, 0),
            _ if mm > LBFGS_ABOVE && self.senses.iter().all(|s| *s == Sense::Eq) => {
                let budget = 10 * settings.max_iterations;
                lbfgs::warm_start(&engine, settings.gradient_tolerance, budget)?
            }
            _ => (vec![0.0; mm], 0, 0),
        };
        let run = newton::minimise(&engine, &bounds, &stop, start)?;
        let tight = run.converged;
        iterations += run.iterations;
        sweeps += run.evaluations;
        let mut fit = self.answer(scaled, &engine, &run.x, boundary, settings)?;
        let mut theta = run.x;
        // A run the caller's iteration budget stopped far from the answer is reported as
        // such; one that ended at Newton's floor (within `FLOOR` of a zero gradient) is
        // finished below it.
        let at_floor = run.iterations < settings.max_iterations || fit.gradient_norm <= FLOOR;
        if at_floor && !matches!(fit.status, Status::Converged | Status::Boundary) {
            // Below Newton's floor (a curvature under the pseudo-inverse's cut, multipliers
            // in the thousands): exact line searches (`super::super::exact_line`).
            let (polished, cost) = polish_by_lines(&engine, &bounds, &stop, theta.clone())?;
            sweeps += cost;
            if polished != theta {
                let better = self.answer(scaled, &engine, &polished, boundary, settings)?;
                if matches!(better.status, Status::Converged | Status::Boundary) {
                    fit = better;
                    theta = polished;
                }
            }
        }
        if !matches!(fit.status, Status::Converged | Status::Boundary) {
            // Multipliers run along the rows' null space (targets of dependent rows that
            // agree only up to rounding): the same P* from the smallest ones
            // (`super::balance`).
            let map = &scaled.map;
            if let Some(small) = balanced(&scaled.rows, &engine.allowed, map, &bounds, &theta) {
                let here = self.answer(scaled, &engine, &small, boundary, settings)?;
                sweeps += 1;
                if matches!(here.status, Status::Converged | Status::Boundary) {
                    fit = here;
                    theta = small;
                } else {
                    // Newton resumes there: a bounded multiplier the balance set to zero stays
                    // there, leaving its row to the others, which then meet their own targets
                    // (not a least-squares compromise between targets that disagree by their
                    // rounding). A slope along the null space within the acceptance tolerance
                    // is the targets' rounding, which sent the multipliers there in the first
                    // place: it is left alone.
                    let resume = Stopping {
                        max_iterations: settings.max_iterations.min(PROBE_ITERATIONS),
                        slope: Some(within_acceptance),
                        ..stop.clone()
                    };
                    let held: Vec<Bound> = (0..mm)
                        .map(|i| match bounds[i] {
                            Bound::Free => Bound::Free,
                            _ if small[i] == 0.0 && theta[i] != 0.0 => Bound::Zero,
                            b => b,
                        })
                        .collect();
                    let run = newton::minimise(&engine, &held, &resume, small)?;
                    iterations += run.iterations;
                    sweeps += run.evaluations;
                    let better = self.answer(scaled, &engine, &run.x, boundary, settings)?;
                    if matches!(better.status, Status::Converged | Status::Boundary) {
                        fit = better;
                        theta = run.x;
                    }
                }
            }
        }
        fit.iterations = iterations;
        fit.sweeps += sweeps;
        Ok(Attempt { fit, theta, tight })
    }

    /// `E phi_i` of every row in the user's units from `P*_0` (block order) and the solver's
    /// centred means `solver` (`E phi'_i`): `o_i sum P + s_i E phi'_i`, with `sum P` added with
    /// compensation. An outside check computes `sum_x P(x) phi_i(x)` from the returned `P*`,
    /// which is that, not `o_i + s_i E phi'_i` (the two differ by `o_i (sum P - 1)`, `1e-10`
    /// beside an offset `o_i = 3e6` even after [`crate::solution`]'s normalisation).
    pub(super) fn expected_as_returned(map: &Scaling, p0: &[f64], solver: &[f64]) -> Vec<f64> {
        let total = compensated_sum(p0);
        (0..solver.len())
            .map(|i| map.offset[i].mul_add(total, map.scale[i] * solver[i]))
            .collect()
    }

    /// Whether every row's `expected` value (user units) meets its target in its sense to
    /// `tol (1 + spread_i)`.
    pub(super) fn meets_targets(&self, map: &Scaling, expected: &[f64], tol: f64) -> bool {
        (0..expected.len())
            .all(|i| self.senses[i].met(expected[i], self.targets[i], tol * (1.0 + map.spread[i])))
    }

    /// `P*` for the solver's multipliers `theta` on `engine`'s support (Theorem A/B for
    /// `theta'·phi'` at `w`, one more sweep), its objective and duality gap, and the
    /// acceptance test (module docs) as its status; `iterations` 0, `sweeps` 1.
    pub(super) fn answer(
        &self,
        scaled: &Scaled,
        engine: &Engine,
        theta: &[f64],
        boundary: bool,
        settings: &ConvexSettings,
    ) -> Result<MomentSolution> {
        let bounds: Vec<Bound> = self.senses.iter().map(|s| s.bound()).collect();
        // The returned P*: Theorem A/B for theta'·phi' at w on the support (one more sweep).
        let n0 = self.problem.hierarchy().size(0);
        let mut loss = vec![0.0; n0];
        Row::add_combination(&scaled.rows, theta, &mut loss);
        for (l, &allowed) in loss.iter_mut().zip(&engine.allowed) {
            if !allowed {
                *l = f64::INFINITY;
            }
        }
        let w = Temperatures::new(&self.weights)?;
        let solution = self
            .problem
            .face(loss)?
            .solve(&w)?
            .with_expected_losses(self.problem)
            .normalised();

        let map = &scaled.map;
        let p0 = solution.marginal_block(0);
        // E phi' in the solver's units (for the gap); E phi in the user's, as an outside
        // check would compute it from the returned P*.
        let expected_solver: Vec<f64> = scaled.rows.iter().map(|phi| phi.dot(p0)).collect();
        let expected = Self::expected_as_returned(map, p0, &expected_solver);
        let gradient: Vec<f64> = self
            .targets
            .iter()
            .zip(&expected)
            .map(|(c, e)| c - e)
            .collect();
        let user_theta = map.to_user(theta);
        let gradient_norm = norm(&projected_residual(&user_theta, &gradient, &bounds));
        let objective = match solution.relative_entropies() {
            Some(d) => -self.weights.iter().zip(d).map(|(w, d)| w * d).sum::<f64>(),
            None => solution.weighted_entropy(&self.weights),
        };
        // F is reported for the user's loss: F' (the centred loss's free energy) + theta·o.
        let f_solver = solution.free_energy();
        // The gap D(theta) - objective, as theta'·(c' - E phi') in the solver's units: the
        // difference itself carries the rounding of F' and of the objective's terms `w_k D_k`,
        // which weights of `1e9` make `1e-7` when both are `0`.
        let duality_gap: f64 = (expected_solver.iter().zip(&scaled.targets).zip(theta))
            .map(|((e, c), t)| t * (c - e))
            .sum();
        let tol = ACCEPTANCE * settings.gradient_tolerance;
        let meets = self.meets_targets(map, &expected, tol)
            && duality_gap.abs() <= tol * (1.0 + objective.abs());
        // The acceptance test is the contract; a run that stalled at the rounding floor of its
        // own (tighter) stopping rule but passes it is an answer.
        let status = match (meets, boundary) {
            (false, _) => Status::MaxIterations,
            (true, true) => Status::Boundary,
            (true, false) => Status::Converged,
        };
        let m = self.n_features;
        let (multipliers, mean_multiplier, free_energy) = if boundary {
            (None, None, None)
        } else {
            (
                Some(user_theta[..m].to_vec()),
                self.mean.map(|_| user_theta[m]),
                Some(f_solver + dot(&user_theta, &map.offset)),
            )
        };
        Ok(MomentSolution {
            solution,
            status,
            boundary,
            multipliers,
            mean_multiplier,
            objective,
            free_energy,
            expected_features: expected[..m].to_vec(),
            iterations: 0,
            sweeps: 1,
            gradient_norm,
            duality_gap,
        })
    }
}

/// Each row's acceptance tolerance in the solver's units, `9 tol (1 + spread_i) / s_i`.
pub(super) fn acceptance(map: &Scaling, settings: &ConvexSettings) -> Vec<f64> {
    let accept = ACCEPTANCE * settings.gradient_tolerance;
    let slope = map.spread.iter().zip(&map.scale);
    slope.map(|(d, s)| accept * (1.0 + d) / s).collect()
}

/// The allowed states where `direction·phi'` is within rounding of its minimum: the face of
/// the hull that `direction` exposes.
fn exposed_face(rows: &[Row], allowed: &[bool], direction: &[f64]) -> Vec<bool> {
    let mut along = vec![0.0; allowed.len()];
    Row::add_combination(rows, direction, &mut along);
    let lo = (0..allowed.len())
        .filter(|&x| allowed[x])
        .map(|x| along[x])
        .fold(f64::INFINITY, f64::min);
    let slack = 1e-9 * (1.0 + direction.iter().map(|t| t.abs()).sum::<f64>());
    (0..allowed.len())
        .map(|x| allowed[x] && along[x] <= lo + slack)
        .collect()
}
