//! Hierarchical maximum entropy under a mean constraint (docs/concepts.md, sections 7, 12).
//!
//! Maximise `sum_k w_k H(Y_k)` (with a reference: minimise `sum_k w_k D(P_k || Q_k)`) subject
//! to `E[f] = c` or `E[f] <= c`, `f` the total loss. The optimum is Theorem A at temperatures
//! `w / lambda`; `m(lambda) = E_lambda[f]` is continuous and non-increasing in the signed
//! multiplier `lambda` (proof `proofs/monotonicity.md`), so `lambda` is a bracketed
//! one-dimensional root, found by the crate's one root finder ([`crate::constraints::root`]).
//! The same problem over any model (a family's flow) is [`crate::model::solve_mean`].

use crate::constraints::root::{bracket, brent};
use crate::error::{Error, Result};
use crate::numerics::nearly_equal;
use crate::problem::Problem;
use crate::rg::pool::BufferPool;
use crate::solution::Solution;
use crate::temperatures::{validate_levels, Temperatures};

/// The constraint on `E[f]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MeanConstraint {
    /// `E[f] = c`.
    Equal(f64),
    /// `E[f] <= c`.
    AtMost(f64),
}

impl MeanConstraint {
    /// Checks the weights of a mean-constrained problem with `levels` levels (`w_0 > 0`,
    /// `w_k >= 0`, finite, one per level) and that `c` is finite; returns `w` as
    /// temperatures and `c`.
    pub(crate) fn checked(self, weights: &[f64], levels: usize) -> Result<(Temperatures, f64)> {
        validate_levels("weights", weights)?;
        if weights.len() != levels {
            return Err(Error::length("weights", weights.len(), levels));
        }
        let c = self.target();
        if !c.is_finite() {
            return Err(Error::InvalidSetting {
                field: "mean",
                value: c,
                reason: "must be finite",
            });
        }
        Ok((Temperatures::new(weights)?, c))
    }

    /// The level `c`.
    pub fn target(&self) -> f64 {
        match *self {
            MeanConstraint::Equal(c) | MeanConstraint::AtMost(c) => c,
        }
    }
}

/// The solution of a mean-constrained problem.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MeanSolution {
    /// `P*` and its statistics.
    pub solution: Solution,
    /// The signed Lagrange multiplier `lambda` of `max sum w_k H - lambda (E f - c)`:
    /// `> 0` below the unconstrained mean, `< 0` above, `0` when slack or met by the
    /// unconstrained optimum; `None` at a boundary `c = min f` or `c = max f`.
    pub multiplier: Option<f64>,
    /// `true` when `c` is `min f` or `max f` and the zero-temperature limit was returned.
    pub boundary: bool,
    /// `sum_k w_k H(Y_k)` at the optimum (with a reference: `-sum_k w_k D(P_k || Q_k)`).
    pub objective: f64,
    /// The signed temperatures `tau_k = w_k / lambda` (finite, non-zero `lambda` only).
    pub temperatures: Option<Vec<f64>>,
    /// `F = E[f] - sum_k tau_k H(Y_k)` (with a reference, `+ sum_k tau_k D`) at those
    /// temperatures (finite, non-zero `lambda` only).
    pub free_energy: Option<f64>,
    /// Sweeps used by the root finder.
    pub sweeps: usize,
}

impl Problem {
    /// Maximises `sum_k w_k H(Y_k)` (or minimises `sum_k w_k D(P_k || Q_k)` with a reference)
    /// subject to a constraint on the expected total loss (docs/concepts.md, "7. The mean-constrained problem").
    ///
    /// The multiplier `lambda` of `max sum_k w_k H(Y_k) - lambda (E f - c)` is positive when
    /// `c` is below the unconstrained mean, negative above it (then `P*` is Theorem A for `-f`
    /// at `w / |lambda|`), zero when slack; at `c = min f` or `max f` the zero-temperature
    /// limit is returned with `boundary = true` and no multiplier (docs/concepts.md, "8. Boundaries").
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no weights, [`Error::InvalidValue`] for bad weights
    /// (`w_0 > 0`, `w_k >= 0`, finite), [`Error::LengthMismatch`] for the wrong number of
    /// weights, [`Error::InvalidSetting`] for a non-finite `c`, [`Error::AllForbidden`],
    /// [`Error::Infeasible`] (with the attainable interval) when `c` is outside
    /// `[min f, max f]`, and [`Error::Numerical`] if the root finder exceeds its sweep budget.
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem, constraints::MeanConstraint};
    /// // Jaynes' die: mean 4.5.
    /// let h = Hierarchy::flat(6)?;
    /// let fit = Problem::new(&h, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?
    ///     .solve_mean(&[1.0], MeanConstraint::Equal(4.5))?;
    /// assert!((fit.multiplier.unwrap() + 0.371048938081033338).abs() < 1e-12);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn solve_mean(&self, weights: &[f64], constraint: MeanConstraint) -> Result<MeanSolution> {
        let (w, c) = constraint.checked(weights, self.hierarchy().levels())?;
        let (f, fmin, fmax) = self.allowed_loss_range()?;
        let (lo_ok, hi_ok) = (
            c >= fmin || nearly_equal(c, fmin),
            c <= fmax || nearly_equal(c, fmax),
        );
        if !lo_ok || (!hi_ok && matches!(constraint, MeanConstraint::Equal(_))) {
            return Err(Error::Infeasible {
                target: c,
                min: fmin,
                max: fmax,
            });
        }
        // Every sweep of the root search shares one set of tables.
        let pool = BufferPool::default();
        let unconstrained = self.solve_at(0.0, &w, &pool)?;
        let m0 = unconstrained.expected_total_loss();
        let slack = matches!(constraint, MeanConstraint::AtMost(_)) && m0 <= c;
        if slack || c == m0 || fmin == fmax {
            return Ok(self.finish(unconstrained, Some(0.0), false, weights, 1));
        }
        if nearly_equal(c, fmin) || nearly_equal(c, fmax) {
            let target = if nearly_equal(c, fmin) { fmin } else { fmax };
            let mask: Vec<f64> = f
                .iter()
                .map(|&x| if x == target { 0.0 } else { f64::INFINITY })
                .collect();
            let face = self.face(mask)?;
            let sol = face.solve(&w)?;
            let sol = sol.with_expected_losses(self);
            return Ok(self.finish(sol, None, true, weights, 2));
        }
        // Bracket the root of phi(lambda) = E_lambda f - c, non-increasing in lambda.
        let sign = if c < m0 { 1.0 } else { -1.0 };
        let spread = (fmax - fmin).max(f64::MIN_POSITIVE);
        let total_w: f64 = weights.iter().sum();
        let mut sweeps = 1;
        pool.recycle(unconstrained);
        let mut phi = |lambda: f64| -> Result<f64> {
            let sol = self.solve_at(lambda, &w, &pool)?;
            let mean = sol.expected_total_loss();
            pool.recycle(sol);
            Ok(mean - c)
        };
        let found = bracket(0.0, m0 - c, sign * total_w / spread, &mut sweeps, &mut phi)?;
        let lambda = brent(found, &mut sweeps, &mut phi)?;
        let sol = self.solve_at(lambda, &w, &pool)?;
        Ok(self.finish(sol, Some(lambda), false, weights, sweeps + 1))
    }

    /// Theorem A/B at temperatures `w / lambda` for the signed multiplier `lambda`: the loss
    /// `lambda * u` at temperatures `w` when `|lambda| <= 1` (never overflows), else
    /// `sign(lambda) * u` at `w / |lambda|` (tiny temperatures are safe in the sweep).
    fn solve_at(&self, lambda: f64, w: &Temperatures, pool: &BufferPool<f64>) -> Result<Solution> {
        if lambda.abs() <= 1.0 {
            self.solve_scaled_in(lambda, w, pool)
        } else {
            self.solve_scaled_in(lambda.signum(), &w.scaled(1.0 / lambda.abs())?, pool)
        }
    }

    fn finish(
        &self,
        solution: Solution,
        multiplier: Option<f64>,
        boundary: bool,
        weights: &[f64],
        sweeps: usize,
    ) -> MeanSolution {
        let reference = solution.relative_entropies().map(|d| d.to_vec());
        let objective = match &reference {
            Some(d) => -weights.iter().zip(d).map(|(w, d)| w * d).sum::<f64>(),
            None => solution.weighted_entropy(weights),
        };
        let (temperatures, free_energy) = match multiplier {
            Some(l) if l != 0.0 && l.is_finite() => {
                let tau: Vec<f64> = weights.iter().map(|w| w / l).collect();
                // F = E f - sum tau H = E f - objective / lambda (with a reference:
                // E f + sum tau D = E f - objective / lambda as well).
                let f = solution.expected_total_loss() - objective / l;
                (Some(tau), Some(f))
            }
            _ => (None, None),
        };
        MeanSolution {
            solution,
            multiplier,
            boundary,
            objective,
            temperatures,
            free_energy,
            sweeps,
        }
    }
}
