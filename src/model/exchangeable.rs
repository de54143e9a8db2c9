//! Exchangeable blocks as a [`Model`]: [`Exchangeable::solve`]; `-f` is the same model with
//! every finite site and block loss negated ([`Exchangeable::negated`], forbidden stays
//! forbidden); `[min f, max f]` by the hard min-plus convolution flow
//! ([`Exchangeable::min_loss`]). The boundary limits are refused (`invalid_input` naming the
//! boundary): the minimisers of a general block-sum loss need not form a set on which
//! Theorem A with zero loss is again an exchangeable model.

use super::{
    exchangeable_sensitivity, scaled_temperatures, LossRange, Model, ModelPoint, Orientation,
    Sensitivity,
};
use crate::error::Result;
use crate::families::exchangeable::{Exchangeable, ExchangeableSolution};
use crate::temperatures::Temperatures;

impl Model for Exchangeable {
    type Solution = ExchangeableSolution;

    fn levels(&self) -> usize {
        Exchangeable::levels(self) + 1
    }

    fn solve_oriented(
        &self,
        orientation: Orientation,
        tau: &Temperatures,
    ) -> Result<ExchangeableSolution> {
        match orientation {
            Orientation::Loss => self.solve(tau),
            Orientation::Negated => self.negated().solve(tau),
        }
    }

    /// The expected level losses of the solved model, negated back to `f` for
    /// [`Orientation::Negated`] (they are computed from the block-sum distributions, so the
    /// sign flip is exact).
    fn point(&self, s: &ExchangeableSolution, orientation: Orientation) -> ModelPoint {
        let sign = match orientation {
            Orientation::Loss => 1.0,
            Orientation::Negated => -1.0,
        };
        let level: Vec<f64> = s.expected_level_losses.iter().map(|x| sign * x).collect();
        ModelPoint {
            free_energy: s.summary.free_energy,
            expected_loss: sign * s.summary.expected_loss,
            expected_level_losses: level,
            entropies: s.summary.entropies.clone(),
            relative_entropies: None,
        }
    }

    fn negatable(&self) -> bool {
        true
    }

    fn loss_range(&self) -> Result<LossRange> {
        let min = self.min_loss()?;
        let max = -self.negated().min_loss()?;
        LossRange::attained(min, max, "the exchangeable loss")
    }

    /// The flow and its top-down pass in dual numbers through the driver (eight directions
    /// per pass; module docs of `exchangeable_sensitivity`).
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        w.expect_levels(Model::levels(self))?;
        let (tau, seed) = scaled_temperatures(self, lambda, w)?;
        exchangeable_sensitivity::sensitivity(self, &tau, seed)
    }
}
