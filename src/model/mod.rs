//! One interface for the convex layer over every model: the tabulated [`Problem`](crate::Problem) and the
//! parameter flows of the families (docs/constraints-families.md, proofs/model_interface.md).
//!
//! Mean constraints, the Pareto frontier and their multipliers need from a solver only the
//! optimum of the scalarised problem at temperatures `tau` (`tau_0 > 0`, `tau_k >= 0`):
//!
//! ```text
//! F = min_P E_P[f] - sum_k tau_k H(Y_k),   E_P*[f],   E_P*[u_k(Y_k)],   H_P*(Y_k)
//! ```
//!
//! (with a reference, `D(P_k || Q_k)` in place of `-H`), and the same for the negated loss
//! `-f` (forbidden states stay forbidden) where the family contains it: a negative
//! multiplier `lambda` of `max sum_k w_k H(Y_k) - lambda (E f - c)` is Theorem A for `-f` at
//! `w / |lambda|`. A chain negates its bonds, a cascade its `kappa`; a Gaussian has no
//! negation (`-f` is unbounded below), and its mean obeys the exact scale law
//! `E f = min f + K(w) / lambda` instead ([`Model::inverse_scaling`]).
//!
//! Every implementor's entropies and expected losses come from its own exact computation:
//! the tabulated marginals, or the dual-number derivatives of a flow (the envelope identities
//! `H(Y_k) = -dF/dtau_k`, `E f = dF/dt` for `f -> (1 + t) f`; no finite differences).
//! [`crate::constraints::solve_mean`] is the mean-constrained problem over any model, the
//! entropy floors [`crate::constraints::solve_floors`], the frontier over level weights
//! [`crate::constraints::frontier`].

mod cascade;
mod cascade_sensitivity;
mod chain;
mod chain_sensitivity;
mod dual_pass;
mod exchangeable;
mod exchangeable_sensitivity;
mod problem;
mod problem_sensitivity;
mod quadratic;
mod quadratic_sensitivity;
mod sensitivity;

pub use sensitivity::Sensitivity;

use crate::error::{Error, Result, Short};
use crate::temperatures::Temperatures;

/// Which loss a model is solved for.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Theorem A for the loss `f` itself.
    Loss,
    /// Theorem A for `-f` (forbidden states stay forbidden): a negative multiplier.
    Negated,
}

/// Which end of the attainable interval `[min f, max f]`.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `c = min f`: the limit on the minimisers of `f`.
    Min,
    /// `c = max f`: the limit on the maximisers of `f`.
    Max,
}

/// The statistics of an optimum that the convex layer uses, always stated for the loss `f`
/// of the model (also when `-f` was solved).
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPoint {
    /// `F` of the problem that was solved (for [`Orientation::Negated`], that of `-f`).
    pub free_energy: f64,
    /// `E_P*[f]`, `f` the total loss.
    pub expected_loss: f64,
    /// `[E u_0(Y_0), ..., E u_d(Y_d)]` (families: `[E f, 0, ..., 0]`).
    pub expected_level_losses: Vec<f64>,
    /// `[H(Y_0), ..., H(Y_d)]` (differential for a Gaussian).
    pub entropies: Vec<f64>,
    /// `[D(P_0 || Q_0), ..., D(P_d || Q_d)]` with a reference, else `None`.
    pub relative_entropies: Option<Vec<f64>>,
}

impl ModelPoint {
    /// The point of a family whose loss is a level-0 loss: `E f = expected_loss` (already
    /// stated for `f`), all of it on level 0, no reference.
    pub(crate) fn level_zero(free_energy: f64, expected_loss: f64, entropies: Vec<f64>) -> Self {
        let mut expected_level_losses = vec![0.0; entropies.len()];
        expected_level_losses[0] = expected_loss;
        ModelPoint {
            free_energy,
            expected_loss,
            expected_level_losses,
            entropies,
            relative_entropies: None,
        }
    }

    /// `sum_k w_k H(Y_k)`, or `-sum_k w_k D(P_k || Q_k)` with a reference.
    pub fn objective(&self, weights: &[f64]) -> f64 {
        match &self.relative_entropies {
            Some(d) => -weights.iter().zip(d).map(|(w, d)| w * d).sum::<f64>(),
            None => weights
                .iter()
                .zip(&self.entropies)
                .map(|(w, h)| w * h)
                .sum(),
        }
    }
}

/// The attainable interval of `E f` over the distributions the model allows.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossRange {
    /// `min f` over allowed states (the infimum, for an open interval).
    pub min: f64,
    /// `max f` over allowed states (`+inf` when unbounded).
    pub max: f64,
    /// Whether `min f` itself is attainable (`false` for a Gaussian: `E f > min f`).
    pub min_attained: bool,
}

impl LossRange {
    /// `[min, max]`, both ends attained, when both are finite; else [`Error::Overflow`]
    /// naming the interval of `what` (a loss summed over `2^L` sites can exceed `f64`).
    ///
    /// # Errors
    /// [`Error::Overflow`] as above.
    pub(crate) fn attained(min: f64, max: f64, what: &str) -> Result<Self> {
        if !(min.is_finite() && max.is_finite()) {
            return Err(Error::overflow(
                format!(
                    "the attainable interval [{}, {}] of {what}",
                    Short(min),
                    Short(max)
                ),
                None,
                None,
            ));
        }
        Ok(LossRange {
            min,
            max,
            min_attained: true,
        })
    }

    /// The interval as text, `[a, b]`, `(a, +inf)`, ...
    pub fn describe(&self) -> String {
        let open = if self.min_attained { '[' } else { '(' };
        if self.max.is_finite() {
            format!("{open}{}, {}]", Short(self.min), Short(self.max))
        } else {
            format!("{open}{}, +inf)", Short(self.min))
        }
    }
}

/// What the convex layer needs from a solver (module docs).
pub trait Model {
    /// The model's own answer at one temperature vector (marginals, renormalised bonds,
    /// covariances, escorts, ...).
    type Solution;

    /// `d + 1`, the number of levels (temperatures and weights have this many entries).
    fn levels(&self) -> usize;

    /// Theorem A at `tau` for `f` or for `-f`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for [`Orientation::Negated`] on a model without negation; the
    /// model's own errors.
    fn solve_oriented(
        &self,
        orientation: Orientation,
        tau: &Temperatures,
    ) -> Result<Self::Solution>;

    /// The statistics of a solution returned by [`Model::solve_oriented`] with
    /// `orientation`, stated for `f`.
    fn point(&self, solution: &Self::Solution, orientation: Orientation) -> ModelPoint;

    /// Whether `-f` is in the model ([`Orientation::Negated`] works).
    fn negatable(&self) -> bool;

    /// The attainable interval of `E f`.
    ///
    /// # Errors
    /// [`Error::AllForbidden`] when no state is allowed; [`Error::Numerical`] when an end does
    /// not fit in `f64`.
    fn loss_range(&self) -> Result<LossRange>;

    /// The zero-temperature limit at `c = min f` or `max f` with weights `w`: Theorem A with
    /// zero loss on the minimisers (maximisers) of `f` at temperatures `w`, and its statistics
    /// (for `f`: `E f` is the boundary value).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the boundary when the model cannot compute the limit
    /// exactly (the default).
    fn boundary(&self, side: Side, weights: &Temperatures) -> Result<(Self::Solution, ModelPoint)> {
        let _ = weights;
        Err(boundary_unsupported(side, self.loss_range()?))
    }

    /// `Some(K(w))` when `E f = min f + K(w) / lambda` exactly at temperatures `w / lambda`
    /// (every level covariance of a Gaussian scales as `1 / lambda`), else `None`.
    ///
    /// # Errors
    /// The model's own errors.
    fn inverse_scaling(&self, weights: &Temperatures) -> Result<Option<f64>> {
        let _ = weights;
        Ok(None)
    }

    /// The unconstrained optimum of `max sum_k w_k H(Y_k)` (multiplier `lambda = 0`): Theorem
    /// A with zero loss on the allowed states at temperatures `w`, with `E f` under it.
    ///
    /// The default evaluates the model at `tau = w K` with `K = 2^600 / max(1, |min f|,
    /// |max f|)`, i.e. at `lambda = 1 / K`: every Gibbs weight `exp(-f / (K S))` differs from
    /// its zero-loss value `1` by less than `2^-600` relative, far below `f64` rounding, so
    /// the result is the `lambda = 0` optimum to working precision (the statistics are exact
    /// derivatives or marginals, not differences of `F`).
    ///
    /// # Errors
    /// [`Error::Numerical`] when `w K` overflows; the model's own errors.
    fn solve_free(&self, weights: &Temperatures) -> Result<(Self::Solution, ModelPoint)> {
        let range = self.loss_range()?;
        let scale = 1f64.max(range.min.abs()).max(range.max.abs());
        let k = 2f64.powi(600) / scale;
        let tau = weights.scaled(k).map_err(|_| {
            Error::Numerical(format!(
                "the zero-multiplier temperatures w * {k:e} do not fit in f64"
            ))
        })?;
        self.solve_point(&tau)
    }

    /// Theorem A at `tau` for `f` and its statistics.
    ///
    /// # Errors
    /// As [`Model::solve_oriented`].
    fn solve_point(&self, tau: &Temperatures) -> Result<(Self::Solution, ModelPoint)> {
        let s = self.solve_oriented(Orientation::Loss, tau)?;
        let p = self.point(&s, Orientation::Loss);
        Ok((s, p))
    }

    /// The optimum for the loss `lambda f` at temperatures `w`, `lambda` signed: Theorem A
    /// for `f` at `w / lambda` (`lambda > 0`), for `-f` at `w / |lambda|` (`lambda < 0`), the
    /// unconstrained optimum [`Model::solve_free`] (`lambda = 0`). Statistics for `f`.
    ///
    /// # Errors
    /// As [`Model::solve_oriented`] and [`Model::solve_free`].
    fn solve_scaled(&self, lambda: f64, w: &Temperatures) -> Result<(Self::Solution, ModelPoint)> {
        if lambda == 0.0 {
            return self.solve_free(w);
        }
        let orientation = if lambda < 0.0 {
            Orientation::Negated
        } else {
            Orientation::Loss
        };
        let tau = w.divided(lambda.abs())?;
        let s = self.solve_oriented(orientation, &tau)?;
        let p = self.point(&s, orientation);
        Ok((s, p))
    }

    /// The statistics of the optimum for the loss `lambda f` (`lambda >= 0`, `0` the
    /// unconstrained optimum) at temperatures `w`, with their exact derivatives in `lambda`
    /// and `w` ([`Sensitivity`]): what Newton steps on the entropy-floor dual need.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a model without exact second derivatives (the default);
    /// the model's own errors.
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        let _ = (lambda, w);
        Err(Error::InvalidInput(
            "this model does not provide the exact derivatives of its entropies that entropy \
             floors need"
                .to_string(),
        ))
    }

    /// The model restricted to the minimisers of `f`, with zero loss on them (the face of
    /// the boundary `E f = min f`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the boundary when the model cannot list its minimisers
    /// (the default).
    fn minimisers(&self) -> Result<Self>
    where
        Self: Sized,
    {
        Err(boundary_unsupported(Side::Min, self.loss_range()?))
    }

    /// The largest `H(Y_k)`, `k = 1..d`, attainable on the model's distributions with
    /// `E f <= c` (all of them without `c`), or `None` when the model cannot compute it
    /// (the default; an entropy floor above it then shows as an unbounded dual).
    ///
    /// # Errors
    /// The model's own errors.
    fn max_level_entropies(&self, mean_at_most: Option<f64>) -> Result<Option<Vec<f64>>> {
        let _ = mean_at_most;
        Ok(None)
    }
}

/// The temperatures `tau = w / lambda` of the loss `lambda f` at weights `w`, with
/// `1 / lambda`, for [`Model::sensitivity`]; for `lambda = 0` (the unconstrained optimum)
/// `lambda = 1 / K` with `K = 2^300 / max(1, |min f|, |max f|)`: like [`Model::solve_free`]'s
/// `2^600` far below `f64` rounding (`f / (K S)` changes a Gibbs weight by `2^-300`
/// relative), while tangents of order `K^2` and `1 / K^2` still fit in `f64`.
///
/// # Errors
/// [`Error::Numerical`] when `w / lambda` overflows; the errors of [`Model::loss_range`].
pub(crate) fn scaled_temperatures<M: Model + ?Sized>(
    model: &M,
    lambda: f64,
    w: &Temperatures,
) -> Result<(Temperatures, f64)> {
    let k = if lambda > 0.0 {
        1.0 / lambda
    } else {
        let range = model.loss_range()?;
        2f64.powi(300) / 1f64.max(range.min.abs()).max(range.max.abs())
    };
    let tau = w.scaled(k).map_err(|_| {
        Error::Numerical(format!(
            "the temperatures w * {k:e} of the loss scale {} do not fit in f64",
            Short(lambda)
        ))
    })?;
    Ok((tau, k))
}

/// The error of a model that cannot compute a boundary limit exactly.
pub(crate) fn boundary_unsupported(side: Side, range: LossRange) -> Error {
    let (name, value) = match side {
        Side::Min => ("min f", range.min),
        Side::Max => ("max f", range.max),
    };
    Error::InvalidInput(format!(
        "the target is the boundary {name} = {value} of the attainable interval {}; this model \
         cannot compute the zero-temperature limit there exactly",
        range.describe()
    ))
}
