//! Continuation in the targets: the last path for targets the feasibility LP calls interior
//! when Newton from zero (or from the probe's point) did not reach them.
//!
//! At `theta = 0` the answer is `P*` of the loss alone, with means `e = E_0[phi]`; the
//! targets `c(t) = e + t (c - e)` run from `e` (`t = 0`, multipliers `0`) to the user's `c`
//! (`t = 1`), and every `c(t)` is interior when `c` is (a point of the segment between two
//! points of a convex set, one of them interior to it, is interior). The multipliers
//! `theta(t)` move continuously with `t`, so Newton from `theta(t)` reaches `theta(t + h)`
//! for a small enough step `h` in a few iterations. The step doubles after a stage that
//! converges within [`STAGE_ITERATIONS`] and is quartered after one that does not.
//!
//! This helps where the dual is a narrow curved valley far from `0`: reference masses near
//! `1e-250` whose states the targets need, with multipliers in the thousands, where Newton's
//! steps from `0` overshoot into a region whose Hessian is nearly singular (a few states
//! carry all the mass) and the line search then moves a fraction of a unit per iteration.

use super::super::newton::{self, Bound, Objective};
use super::engine::Engine;
use super::solve::Scaled;
use super::{ConvexSettings, MomentProblem};
use crate::error::Result;

/// Newton iterations per stage at most.
const STAGE_ITERATIONS: usize = 30;

/// The first step in `t`.
const FIRST_STEP: f64 = 0.25;

/// Below this step the continuation gives up.
const SMALLEST_STEP: f64 = 1.0 / 4096.0;

/// Stages converge to this many times the answer's own tolerances (each is only the next
/// stage's start; the last is finished by the caller at the full tolerance).
const STAGE_LOOSENESS: f64 = 100.0;

/// Stages at most (each at most [`STAGE_ITERATIONS`] Newton iterations).
const MAX_STAGES: usize = 60;

/// The stages' Newton iterations together at most, in multiples of the caller's budget
/// (`ConvexSettings::max_iterations`): a problem that no path solves costs at most about five
/// times what Newton alone would have.
const BUDGET: usize = 4;

/// Multipliers at `t = 1` reached by continuation, in the solver's units.
pub(super) struct Continued {
    pub theta: Vec<f64>,
    pub iterations: usize,
    pub sweeps: usize,
}

impl MomentProblem<'_> {
    /// Follows `theta(t)` from `t = 0` to `t = 1` on all allowed states (module docs);
    /// `None` when a stage fails at the smallest step or the stages or their iteration
    /// budget run out.
    ///
    /// # Errors
    /// Whatever an evaluation of the dual at `theta = 0` returns.
    pub(super) fn continued(
        &self,
        scaled: &Scaled,
        settings: &ConvexSettings,
    ) -> Result<Option<Continued>> {
        let m = self.senses.len();
        let bounds: Vec<Bound> = self.senses.iter().map(|s| s.bound()).collect();
        let at_zero = self
            .engine(scaled, self.allowed.clone())
            .point(&vec![0.0; m])?;
        // grad D(0) = c - E_0[phi].
        let mean: Vec<f64> = (scaled.targets.iter().zip(&at_zero.gradient))
            .map(|(c, g)| c - g)
            .collect();
        let mut stop = self.stopping(&scaled.map, settings);
        stop.gradient.iter_mut().for_each(|t| *t *= STAGE_LOOSENESS);
        stop.gap *= STAGE_LOOSENESS;
        stop.max_iterations = STAGE_ITERATIONS.min(settings.max_iterations);
        let budget = BUDGET * settings.max_iterations;
        let mut done = Continued {
            theta: vec![0.0; m],
            iterations: 0,
            sweeps: 1,
        };
        let (mut t, mut step) = (0.0f64, FIRST_STEP);
        for _ in 0..MAX_STAGES {
            if t >= 1.0 {
                return Ok(Some(done));
            }
            if step < SMALLEST_STEP || done.iterations >= budget {
                return Ok(None);
            }
            let next = (t + step).min(1.0);
            let targets: Vec<f64> = (mean.iter().zip(&scaled.targets))
                .map(|(e, c)| if next == 1.0 { *c } else { e + next * (c - e) })
                .collect();
            let engine = Engine::new(
                self.problem,
                &self.weights,
                &scaled.rows,
                &targets,
                self.allowed.clone(),
            );
            let run = newton::minimise(&engine, &bounds, &stop, done.theta.clone());
            match run {
                Ok(run) => {
                    done.iterations += run.iterations;
                    done.sweeps += run.evaluations;
                    if run.converged {
                        done.theta = run.x;
                        t = next;
                        step *= 2.0;
                        continue;
                    }
                }
                Err(_) => done.sweeps += 1,
            }
            step *= 0.25;
        }
        Ok((t >= 1.0).then_some(done))
    }
}
