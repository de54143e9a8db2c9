//! The tabulated [`Problem`] as a [`Model`]: Theorem A (or B, with a reference) by one sweep
//! over the listed states; `-f` is the same tables with the loss scaled by `-1` (forbidden
//! states stay forbidden); the boundary limit is Theorem A on the face of the minimisers
//! (maximisers) of `f` with zero loss.

use super::{problem_sensitivity, LossRange, Model, ModelPoint, Orientation, Sensitivity, Side};
use crate::constraints::mean::{solve_mean, MeanConstraint};
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
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

    /// The loss `lambda u` at temperatures `w` when `|lambda| <= 1` (never overflows), else
    /// `sign(lambda) u` at `w / |lambda|` (tiny temperatures are safe in the sweep).
    fn solve_scaled(&self, lambda: f64, w: &Temperatures) -> Result<(Solution, ModelPoint)> {
        let sol = if lambda.abs() <= 1.0 {
            Problem::solve_scaled(self, lambda, w)?
        } else {
            Problem::solve_scaled(self, lambda.signum(), &w.divided(lambda.abs())?)?
        };
        let point = self.point(&sol, Orientation::Loss);
        Ok((sol, point))
    }

    /// One sweep with dual numbers per eight directions (`lambda`, `w_0..w_d`).
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        problem_sensitivity::sensitivity(self, lambda, w)
    }

    /// The face: zero loss on the minimisers of the total loss, `+inf` elsewhere.
    fn minimisers(&self) -> Result<Problem> {
        let (f, min, _) = self.allowed_loss_range()?;
        self.face(
            f.iter()
                .map(|&x| if x == min { 0.0 } else { f64::INFINITY })
                .collect(),
        )
    }

    /// `H(Y_k)` depends only on `P_k`, and the least `E f` compatible with `P_k` is
    /// `sum_y P_k(y) m_k(y)`, `m_k(y)` the least total loss below `y` (`+inf` for an empty or
    /// all-forbidden block), so the maximum is the one-level maximum-entropy problem on `X_k`
    /// with loss `m_k` and `E m_k <= c` (without `c`: `log` of the allowed states).
    fn max_level_entropies(&self, mean_at_most: Option<f64>) -> Result<Option<Vec<f64>>> {
        if self.has_reference() {
            return Err(Error::InvalidInput(
                "entropy floors are on Shannon entropies; a reference distribution is not \
                 supported"
                    .to_string(),
            ));
        }
        let h = self.hierarchy();
        let (mut m, _, _) = self.allowed_loss_range()?;
        let mut out = Vec::with_capacity(h.depth());
        for k in 0..h.depth() {
            let layout = h.layout(k);
            m = (0..h.size(k + 1))
                .map(|y| {
                    m[layout.block(y)]
                        .iter()
                        .copied()
                        .fold(f64::INFINITY, f64::min)
                })
                .collect();
            let hmax = match mean_at_most {
                Some(c) => {
                    let flat = Problem::new(&Hierarchy::flat(m.len())?, &m)?;
                    solve_mean(&flat, &[1.0], MeanConstraint::AtMost(c))?.objective
                }
                None => (m.iter().filter(|x| x.is_finite()).count() as f64).ln(),
            };
            out.push(hmax);
        }
        Ok(Some(out))
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
