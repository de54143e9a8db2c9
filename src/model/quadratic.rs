//! The quadratic (Gaussian) family as a [`Model`]: general ([`Quadratic`]) and modular
//! ([`Modular`]).
//!
//! `-f` is not in the family (it is unbounded below), so there is no negative multiplier:
//! the attainable interval of `E f` is `(min f, +inf)`, open, with
//! `min f = -1/2 b'A^{-1}b` (`0` for the modular case). At temperatures `w / lambda` every
//! level covariance is `1 / lambda` times that at `w` while the mean `A^{-1} b` stays, so
//!
//! ```text
//! E f = min f + K(w) / lambda,     K(w) = 1/2 tr(A C_0(w))
//! ```
//!
//! and the multiplier of `E f = c` is `K(w) / (c - min f)` in closed form
//! ([`Model::inverse_scaling`], proofs/model_interface.md).

use nalgebra::Cholesky;

use super::{
    quadratic_sensitivity, scaled_temperatures, LossRange, Model, ModelPoint, Orientation,
    Sensitivity,
};
use crate::error::{Error, Result};
use crate::families::quadratic::{GaussianSolution, Modular, ModularSolution, Quadratic};
use crate::temperatures::Temperatures;

fn no_negation() -> Error {
    Error::InvalidInput(
        "a quadratic loss has no negated family (-f is unbounded below): its multiplier is \
         positive"
            .to_string(),
    )
}

impl Model for Quadratic {
    type Solution = GaussianSolution;

    fn levels(&self) -> usize {
        self.depth() + 1
    }

    fn solve_oriented(
        &self,
        orientation: Orientation,
        tau: &Temperatures,
    ) -> Result<GaussianSolution> {
        match orientation {
            Orientation::Loss => self.solve(tau),
            Orientation::Negated => Err(no_negation()),
        }
    }

    fn point(&self, s: &GaussianSolution, _orientation: Orientation) -> ModelPoint {
        ModelPoint::level_zero(s.free_energy, s.expected_loss, s.entropies.clone())
    }

    fn negatable(&self) -> bool {
        false
    }

    /// `min f = -1/2 b'A^{-1}b`, attained only by the point mass (not a density).
    fn loss_range(&self) -> Result<LossRange> {
        let ch = Cholesky::new(self.a().clone())
            .ok_or_else(|| Error::InvalidInput("A is not positive definite".to_string()))?;
        let u = ch.solve(self.b());
        Ok(LossRange {
            min: -0.5 * self.b().dot(&u),
            max: f64::INFINITY,
            min_attained: false,
        })
    }

    /// `K(w) = 1/2 tr(A C_0)` at temperatures `w`.
    fn inverse_scaling(&self, weights: &Temperatures) -> Result<Option<f64>> {
        let s = self.solve(weights)?;
        Ok(Some(0.5 * (self.a() * &s.covariance).trace()))
    }

    /// Covariance formulas (every conditional covariance is linear in its `S_j`).
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        let (tau, seed) = gaussian_temperatures(self, lambda, w)?;
        quadratic_sensitivity::sensitivity(self, &tau, seed)
    }
}

impl Model for Modular {
    type Solution = ModularSolution;

    fn levels(&self) -> usize {
        self.depth() + 1
    }

    fn solve_oriented(
        &self,
        orientation: Orientation,
        tau: &Temperatures,
    ) -> Result<ModularSolution> {
        match orientation {
            Orientation::Loss => self.solve(tau),
            Orientation::Negated => Err(no_negation()),
        }
    }

    fn point(&self, s: &ModularSolution, _orientation: Orientation) -> ModelPoint {
        ModelPoint::level_zero(s.free_energy, s.expected_loss, s.entropies.clone())
    }

    fn negatable(&self) -> bool {
        false
    }

    /// `b = 0`: `min f = 0`.
    fn loss_range(&self) -> Result<LossRange> {
        Ok(LossRange {
            min: 0.0,
            max: f64::INFINITY,
            min_attained: false,
        })
    }

    /// `K(w) = E f` at temperatures `w` (`min f = 0`).
    fn inverse_scaling(&self, weights: &Temperatures) -> Result<Option<f64>> {
        Ok(Some(self.solve(weights)?.expected_loss))
    }

    /// Closed form: `h(Y_k) = 1/2 (n_k log(2 pi e) + sum_{j >= k} d_j log(S_j / l_j) - ...)`
    /// and `E f = 1/2 sum_j d_j S_j`, so `dh_k/dS_j = d_j / (2 S_j)` (`j >= k`),
    /// `dE f/dS_j = d_j / 2`, and the loss `(1 + t) f` divides every `S_j` by `1 + t`.
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        let (tau, seed) = gaussian_temperatures(self, lambda, w)?;
        let s = self.solve(&tau)?;
        let l = self.depth();
        let levels = l + 1;
        let b = self.branching() as f64;
        let dim = |j: usize| {
            if j == l {
                1.0
            } else {
                (b - 1.0) * b.powi((l - j - 1) as i32)
            }
        };
        let cum = tau.cumulative_slice();
        // Seeded dS_j derivatives: d_j / (2 S_j / seed) and d_j seed / 2.
        let dh_ds: Vec<f64> = (0..levels)
            .map(|j| dim(j) / (2.0 * (cum[j] / seed)))
            .collect();
        let by_tau: Vec<Vec<f64>> = (0..levels)
            .map(|i| {
                let mut row = vec![(i..levels).map(|j| dim(j) * seed / 2.0).sum::<f64>()];
                row.extend((0..levels).map(|k| dh_ds[i.max(k)..].iter().sum::<f64>()));
                row
            })
            .collect();
        let mut by_t = vec![-s.expected_loss * seed];
        by_t.extend((0..levels).map(|k| -0.5 * b.powi((l - k) as i32) * seed));
        let point = self.point(&s, Orientation::Loss);
        Ok((point, Sensitivity::from_seeded(&by_t, &by_tau)))
    }
}

/// The temperatures `w / lambda` of a Gaussian's sensitivity pass (with their scale, as
/// [`scaled_temperatures`]), after checking `w` has one entry per level and `lambda > 0`:
/// a Gaussian has no unconstrained optimum.
fn gaussian_temperatures<M: Model>(
    model: &M,
    lambda: f64,
    w: &Temperatures,
) -> Result<(Temperatures, f64)> {
    w.expect_levels(model.levels())?;
    if lambda <= 0.0 {
        return Err(Error::InvalidInput(
            "a Gaussian has no unconstrained optimum (its entropies are unbounded): the \
             loss scale must be positive"
                .to_string(),
        ));
    }
    scaled_temperatures(model, lambda, w)
}
