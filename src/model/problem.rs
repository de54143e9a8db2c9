//! The tabulated [`Problem`] as a [`Model`]: Theorem A (or B, with a reference) by one sweep
//! over the listed states; `-f` is the same tables with the loss scaled by `-1` (forbidden
//! states stay forbidden); the boundary limit is Theorem A on the face of the minimisers
//! (maximisers) of `f` with zero loss.

use super::{LossRange, Model, ModelPoint, Orientation, Side};
use crate::error::Result;
use crate::problem::Problem;
use crate::solution::Solution;
use crate::temperatures::Temperatures;

impl Model for Problem {
    type Solution = Solution;

    fn levels(&self) -> usize {
        self.hierarchy().levels()
    }

    fn solve_oriented(&self, orientation: Orientation, tau: &Temperatures) -> Result<Solution> {
        let beta = match orientation {
            Orientation::Loss => 1.0,
            Orientation::Negated => -1.0,
        };
        self.solve_scaled(beta, tau)
    }

    /// The solution reports the expected losses of the unscaled `f` already.
    fn point(&self, s: &Solution, _orientation: Orientation) -> ModelPoint {
        ModelPoint {
            free_energy: s.free_energy(),
            expected_loss: s.expected_total_loss(),
            expected_level_losses: s.expected_level_losses().to_vec(),
            entropies: s.entropies().to_vec(),
            relative_entropies: s.relative_entropies().map(<[f64]>::to_vec),
        }
    }

    fn negatable(&self) -> bool {
        true
    }

    fn loss_range(&self) -> Result<LossRange> {
        let (_, min, max) = self.allowed_loss_range()?;
        Ok(LossRange {
            min,
            max,
            min_attained: true,
        })
    }

    /// The loss scaled by `0` (forbidden states kept) at temperatures `w`: exact.
    fn solve_free(&self, weights: &Temperatures) -> Result<(Solution, ModelPoint)> {
        let sol = self.solve_scaled(0.0, weights)?;
        let point = self.point(&sol, Orientation::Loss);
        Ok((sol, point))
    }

    fn boundary(&self, side: Side, weights: &Temperatures) -> Result<(Solution, ModelPoint)> {
        let (f, min, max) = self.allowed_loss_range()?;
        let target = match side {
            Side::Min => min,
            Side::Max => max,
        };
        let mask: Vec<f64> = f
            .iter()
            .map(|&x| if x == target { 0.0 } else { f64::INFINITY })
            .collect();
        let sol = self.face(mask)?.solve(weights)?.with_expected_losses(self);
        let point = self.point(&sol, Orientation::Loss);
        Ok((sol, point))
    }
}
