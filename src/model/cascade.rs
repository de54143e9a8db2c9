//! The logarithmic cascade as a [`Model`]: [`Cascade::solve`]; `-f = kappa log Q` is the same
//! cascade with `kappa` negated (the flow's formulas hold for either sign; zeros of `Q` stay
//! forbidden).
//!
//! The attainable interval `[min f, max f]` comes from the tree: a node's smallest (largest)
//! loss below it is `min_a (-kappa log q(a | y) + m(child a))` over its children with
//! `q > 0`, so for a homogeneous cascade `min f = -kappa sum_k log max_a q_k(a)` and
//! `max f = -kappa sum_k log min_{q_k(a) > 0} q_k(a)`. At the boundary of a homogeneous
//! cascade the minimisers (maximisers) are the leaves whose path takes, at every level, one
//! of the `m_k` children with the largest (smallest positive) `q_k`: every node of the set
//! has the same number of children in it, so Theorem A with zero loss there is the uniform
//! distribution on it, i.e. the cascade with uniform conditionals on those children
//! (proofs/model_interface.md). A general cascade refuses the boundary.

use super::{
    boundary_unsupported, cascade_sensitivity, scaled_temperatures, LossRange, Model, ModelPoint,
    Orientation, Sensitivity, Side,
};
use crate::error::Result;
use crate::families::cascade::{Cascade, CascadeSolution};
use crate::temperatures::Temperatures;

/// The best child's log-probability of each node of every level, per `pick` (`max` for the
/// minimisers of `f`, the smallest positive for the maximisers), as the loss sum
/// `-kappa sum log q` along the best path from the root.
fn extreme_loss(c: &Cascade, side: Side) -> f64 {
    let b = c.branching();
    let better = |x: f64, y: f64| match side {
        Side::Min => x < y,
        Side::Max => x > y,
    };
    let start = match side {
        Side::Min => f64::INFINITY,
        Side::Max => f64::NEG_INFINITY,
    };
    // m: per node of the current level, the extreme loss of its subtree (leaves: 0).
    let mut m: Option<Vec<f64>> = None;
    for q in c.conditionals() {
        let nodes = if c.is_homogeneous() { 1 } else { q.len() / b };
        let next: Vec<f64> = (0..nodes)
            .map(|y| {
                let block = &q[y * b..(y + 1) * b];
                let mut best = start;
                for (a, &p) in block.iter().enumerate() {
                    if p <= 0.0 {
                        continue;
                    }
                    let below = match &m {
                        None => 0.0,
                        Some(m) if c.is_homogeneous() => m[0],
                        Some(m) => m[y * b + a],
                    };
                    let v = -c.kappa() * p.ln() + below;
                    if better(v, best) {
                        best = v;
                    }
                }
                best
            })
            .collect();
        m = Some(next);
    }
    m.map_or(0.0, |m| m[0])
}

/// `E_P* f = -kappa sum_k E log q(Y_k | Y_{k+1})` from the optimal conditionals (escorts)
/// of `s`, whatever loss was solved: the marginals are built top-down,
/// `P_k(x) = P_{k+1}(y) P*(x | y)`, and no difference of large numbers is formed.
fn expected_loss(c: &Cascade, s: &CascadeSolution) -> f64 {
    let b = c.branching();
    let kappa = c.kappa();
    if c.is_homogeneous() {
        // P* is a product of the per-level escorts.
        return c
            .conditionals()
            .iter()
            .zip(&s.escorts)
            .map(|(q, e)| {
                -kappa
                    * q.iter()
                        .zip(e)
                        .filter(|(_, &p)| p > 0.0)
                        .map(|(&q, &p)| p * q.ln())
                        .sum::<f64>()
            })
            .sum();
    }
    let mut marginal = vec![1.0];
    let mut total = 0.0;
    for (q, e) in c.conditionals().iter().zip(&s.escorts).rev() {
        let mut fine = Vec::with_capacity(q.len());
        for (y, &py) in marginal.iter().enumerate() {
            for a in 0..b {
                let i = y * b + a;
                let p = py * e[i];
                if p > 0.0 {
                    total -= kappa * p * q[i].ln();
                }
                fine.push(p);
            }
        }
        marginal = fine;
    }
    total
}

impl Model for Cascade {
    type Solution = CascadeSolution;

    fn levels(&self) -> usize {
        self.depth() + 1
    }

    fn solve_oriented(
        &self,
        orientation: Orientation,
        tau: &Temperatures,
    ) -> Result<CascadeSolution> {
        match orientation {
            Orientation::Loss => self.solve(tau),
            Orientation::Negated => self.negated().solve(tau),
        }
    }

    /// `E f` from the escorts (the same formula for either orientation).
    fn point(&self, s: &CascadeSolution, _orientation: Orientation) -> ModelPoint {
        ModelPoint::level_zero(
            s.summary.free_energy,
            expected_loss(self, s),
            s.summary.entropies.clone(),
        )
    }

    fn negatable(&self) -> bool {
        true
    }

    fn loss_range(&self) -> Result<LossRange> {
        let (min, max) = (extreme_loss(self, Side::Min), extreme_loss(self, Side::Max));
        LossRange::attained(min, max, "the cascade's loss")
    }

    /// Closed form (homogeneous) or the tabulated engine's dual-number sweep (general: the
    /// tree is stored node by node already).
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        w.expect_levels(Model::levels(self))?;
        if !self.is_homogeneous() {
            let (_, problem) = self.tabulate()?;
            return problem.sensitivity(lambda, w);
        }
        let (tau, seed) = scaled_temperatures(self, lambda, w)?;
        cascade_sensitivity::sensitivity(self, &tau, seed)
    }

    fn boundary(
        &self,
        side: Side,
        weights: &Temperatures,
    ) -> Result<(CascadeSolution, ModelPoint)> {
        let range = self.loss_range()?;
        if !self.is_homogeneous() {
            return Err(boundary_unsupported(side, range));
        }
        let uniform: Vec<Vec<f64>> = self
            .conditionals()
            .iter()
            .map(|q| {
                let positive = q.iter().copied().filter(|&p| p > 0.0);
                let target = match side {
                    Side::Min => positive.fold(f64::NEG_INFINITY, f64::max),
                    Side::Max => positive.fold(f64::INFINITY, f64::min),
                };
                let count = q.iter().filter(|&&p| p == target).count() as f64;
                q.iter()
                    .map(|&p| if p == target { 1.0 / count } else { 0.0 })
                    .collect()
            })
            .collect();
        let face = Cascade::homogeneous(self.kappa(), self.branching(), self.depth(), &uniform)?;
        let s = face.solve(weights)?;
        let value = match side {
            Side::Min => range.min,
            Side::Max => range.max,
        };
        let mut point = self.point(&s, Orientation::Loss);
        point.expected_loss = value;
        point.expected_level_losses[0] = value;
        Ok((s, point))
    }
}
