//! Hierarchical maximum entropy under a mean constraint over any [`Model`] (docs/concepts.md,
//! sections 7, 12; proofs/model_interface.md): the tabulated [`crate::Problem`] and every
//! family's flow take this one code path.
//!
//! ```text
//! maximise sum_k w_k H(Y_k)   subject to   E_P[f] = c   (or <= c)
//! ```
//!
//! The optimum is the model's Theorem A solution at `tau = w / lambda` for the signed
//! multiplier `lambda` (for `lambda < 0`: Theorem A for `-f` at `w / |lambda|`), and
//! `lambda -> E_lambda f` is continuous and non-increasing (proofs/monotonicity.md), so
//! `lambda` is a bracketed root ([`crate::constraints::root`]). A model with the inverse scale
//! law `E f = min f + K(w) / lambda` (a Gaussian) gets `lambda = K(w) / (c - min f)` in
//! closed form; its interval `(min f, +inf)` is open and `E f <= c` always binds.

use crate::constraints::root::{bracket, brent};
use crate::error::{Error, Result, Short};
use crate::model::{LossRange, Model, ModelPoint, Orientation, Side};
use crate::numerics::nearly_equal;
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

/// The answer of [`solve_mean`]; `S` is the model's own answer (the tabulated [`Solution`], a
/// chain's flow, ...).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MeanSolution<S = Solution> {
    /// The model's own answer at the optimum: for `lambda > 0` (or `0`) at temperatures
    /// `w / lambda` for `f`; for `lambda < 0` at `w / |lambda|` for `-f` (see `orientation`);
    /// at a boundary, the limit on the minimisers (maximisers) of `f` at temperatures `w`.
    pub solution: S,
    /// For which loss `solution` was computed.
    pub orientation: Orientation,
    /// Statistics of `P*` for `f`.
    pub point: ModelPoint,
    /// The signed multiplier `lambda` of `max sum w_k H - lambda (E f - c)`: `> 0` below the
    /// unconstrained mean, `< 0` above, `0` when slack or met by the unconstrained optimum;
    /// `None` at a boundary.
    pub multiplier: Option<f64>,
    /// `true` when `c` is `min f` or `max f` and the zero-temperature limit was returned.
    pub boundary: bool,
    /// `sum_k w_k H(Y_k)` at the optimum (with a reference `-sum_k w_k D(P_k || Q_k)`).
    pub objective: f64,
    /// The temperatures of Theorem A that produced `P*`: `w / lambda` (negative with a
    /// negative multiplier), the unconstrained `w` when `lambda = 0`, `None` at a boundary.
    pub temperatures: Option<Vec<f64>>,
    /// `F = E f - sum_k tau_k H(Y_k)` at the signed temperatures `w / lambda` (`lambda`
    /// finite and non-zero only: `E f - objective / lambda`).
    pub free_energy: Option<f64>,
    /// Model solves used.
    pub sweeps: usize,
}

pub(crate) fn infeasible(c: f64, range: LossRange) -> Error {
    if range.min_attained && range.max.is_finite() {
        Error::Infeasible {
            target: c,
            min: range.min,
            max: range.max,
        }
    } else {
        Error::InfeasibleProblem(format!(
            "target {} for E[f] is outside the attainable interval {}",
            Short(c),
            range.describe()
        ))
    }
}

/// Maximises `sum_k w_k H(Y_k)` (with a reference `-sum_k w_k D(P_k || Q_k)`) over the
/// model's distributions subject to `E f = c` or `E f <= c` (module docs).
///
/// ```
/// # use hmaxent::families::chain::{Boundary, Chain};
/// # use hmaxent::constraints::MeanConstraint;
/// // A free binary chain with 2^40 + 1 sites, bond loss [a != b]: ask for 10% broken bonds.
/// let chain = Chain::homogeneous(2, 40, Boundary::Open, &[0.0, 1.0, 1.0, 0.0])?;
/// let bonds = (1u64 << 40) as f64;
/// let fit = hmaxent::constraints::solve_mean(&chain, &[1.0; 41], MeanConstraint::Equal(0.1 * bonds))?;
/// // Only H(Y_0) ... all levels count; the constraint holds to 1e-12 relative.
/// assert!((fit.point.expected_loss / bonds - 0.1).abs() < 1e-12);
/// assert!(fit.multiplier.unwrap() > 0.0);
/// # Ok::<(), hmaxent::Error>(())
/// ```
///
/// # Errors
/// [`Error::LengthMismatch`] for the wrong number of weights; [`Error::InvalidValue`] for bad
/// weights (`w_0 > 0`, `w_k >= 0`, finite); [`Error::InvalidSetting`] for a non-finite `c`;
/// [`Error::Infeasible`] / [`Error::InfeasibleProblem`] naming the attainable interval when
/// `c` is outside it; [`Error::InvalidInput`] at a boundary the model cannot compute exactly;
/// [`Error::Numerical`] when the root finder exceeds its budget; [`Error::Overflow`] when
/// the objective or the multiplier of weights whose sum exceeds `f64` does not fit; the
/// model's own errors.
///
/// Weights whose sum overflows `f64` (two weights of `1e308`) are solved at `w 2^-j`, the
/// smallest such scaling whose sum fits: `P*` depends on `w / lambda` only, so the optimum
/// and the temperatures are those of `w`, and the objective and the multiplier are scaled
/// back by `2^j` (exactly: a power of two).
pub fn solve_mean<M: Model>(
    model: &M,
    weights: &[f64],
    constraint: MeanConstraint,
) -> Result<MeanSolution<M::Solution>> {
    let scale = weight_scale(weights);
    if scale == 1.0 {
        return solve_mean_fitting(model, weights, constraint);
    }
    let scaled: Vec<f64> = weights.iter().map(|w| w * scale).collect();
    let mut fit = solve_mean_fitting(model, &scaled, constraint)?;
    fit.objective /= scale;
    if !fit.objective.is_finite() {
        return Err(Error::overflow(
            "the objective sum_k w_k H(Y_k) of weights whose sum exceeds f64",
            None,
            None,
        ));
    }
    if let Some(l) = fit.multiplier {
        let l = l / scale;
        if !l.is_finite() {
            return Err(Error::overflow(
                "the multiplier of weights whose sum exceeds f64",
                None,
                None,
            ));
        }
        fit.multiplier = Some(l);
        if l == 0.0 {
            fit.temperatures = Some(weights.to_vec());
        }
    }
    Ok(fit)
}

/// `1`, or the power of two `2^-j` (`j >= 1`, smallest) that brings the sum of finite
/// `weights` within `f64` when it overflows.
fn weight_scale(weights: &[f64]) -> f64 {
    if !weights.iter().all(|w| w.is_finite()) {
        return 1.0; // refused by the checks
    }
    let mut scale = 1.0;
    while !weights.iter().map(|w| w * scale).sum::<f64>().is_finite() {
        scale *= 0.5;
    }
    scale
}

/// [`solve_mean`] for weights whose sum fits in `f64`.
fn solve_mean_fitting<M: Model>(
    model: &M,
    weights: &[f64],
    constraint: MeanConstraint,
) -> Result<MeanSolution<M::Solution>> {
    let (w, c) = constraint.checked(weights, model.levels())?;
    let range = model.loss_range()?;
    let equality = matches!(constraint, MeanConstraint::Equal(_));
    if let Some(k) = model.inverse_scaling(&w)? {
        return inverse_scaling(model, weights, &w, c, range, k);
    }
    let lo_ok = c >= range.min || nearly_equal(c, range.min);
    let hi_ok = c <= range.max || nearly_equal(c, range.max);
    if !lo_ok || (!hi_ok && equality) {
        return Err(infeasible(c, range));
    }
    let (unconstrained, p0) = model.solve_free(&w)?;
    let m0 = p0.expected_loss;
    let slack = !equality && m0 <= c;
    if slack || c == m0 || range.min == range.max {
        return Ok(finish(
            weights,
            unconstrained,
            Orientation::Loss,
            p0,
            Some(0.0),
            1,
        ));
    }
    for (side, end) in [(Side::Min, range.min), (Side::Max, range.max)] {
        if nearly_equal(c, end) {
            let (solution, point) = model.boundary(side, &w)?;
            let objective = point.objective(weights);
            return Ok(MeanSolution {
                solution,
                orientation: Orientation::Loss,
                point,
                multiplier: None,
                boundary: true,
                objective,
                temperatures: None,
                free_energy: None,
                sweeps: 2,
            });
        }
    }
    drop(unconstrained);
    // P* depends on w / lambda only: the root is sought for the weights divided by their
    // largest, `w' = w / w_max` (so weights near 1e308 neither overflow the bracket nor
    // push the multiplier past f64), and `lambda = lambda' w_max` at the end.
    let w_max = weights.iter().fold(0.0f64, |m, v| m.max(*v));
    let w = w.divided(w_max)?;
    // phi(lambda') = E f - c at w' / lambda' is non-increasing in lambda' and changes sign.
    let sign = if c < m0 { 1.0 } else { -1.0 };
    // The starting scale only: a spread beyond f64 (losses -1e308 and 1e308) counts as f64::MAX.
    let spread = (range.max - range.min).clamp(f64::MIN_POSITIVE, f64::MAX);
    let total_w: f64 = w.as_slice().iter().sum();
    let mut sweeps = 1;
    let mut phi = |lambda: f64| -> Result<f64> {
        let (_, p) = solve_signed(model, &w, lambda)?;
        Ok(p.expected_loss - c)
    };
    let found = bracket(0.0, m0 - c, sign * total_w / spread, &mut sweeps, &mut phi)?;
    let lambda_normalised = brent(found, &mut sweeps, &mut phi)?;
    let lambda = lambda_normalised * w_max;
    if !lambda.is_finite() {
        return Err(Error::Numerical(format!(
            "the multiplier {lambda_normalised:e} * {w_max:e} (the largest weight) does not fit in f64"
        )));
    }
    let (solution, orientation, point) = {
        let (s, p) = solve_signed(model, &w, lambda_normalised)?;
        let o = if lambda < 0.0 {
            Orientation::Negated
        } else {
            Orientation::Loss
        };
        (s, o, p)
    };
    Ok(finish(
        weights,
        solution,
        orientation,
        point,
        Some(lambda),
        sweeps + 1,
    ))
}

/// The model at `w / lambda` for the signed `lambda` (for `-f` at `w / |lambda|` when
/// negative): [`Model::solve_scaled`].
fn solve_signed<M: Model>(
    model: &M,
    w: &Temperatures,
    lambda: f64,
) -> Result<(M::Solution, ModelPoint)> {
    model.solve_scaled(lambda, w)
}

/// The Gaussian branch: `lambda = K(w) / (c - min f)`, one more solve at `w / lambda`.
fn inverse_scaling<M: Model>(
    model: &M,
    weights: &[f64],
    w: &Temperatures,
    c: f64,
    range: LossRange,
    k: f64,
) -> Result<MeanSolution<M::Solution>> {
    if c <= range.min || nearly_equal(c, range.min) {
        return Err(infeasible(c, range));
    }
    let lambda = k / (c - range.min);
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(Error::Numerical(format!(
            "the multiplier K(w) / (c - min f) = {} / {} does not fit in a finite f64",
            Short(k),
            Short(c - range.min)
        )));
    }
    let (solution, point) = solve_signed(model, w, lambda)?;
    Ok(finish(
        weights,
        solution,
        Orientation::Loss,
        point,
        Some(lambda),
        2,
    ))
}

fn finish<S>(
    weights: &[f64],
    solution: S,
    orientation: Orientation,
    point: ModelPoint,
    multiplier: Option<f64>,
    sweeps: usize,
) -> MeanSolution<S> {
    let objective = point.objective(weights);
    let (temperatures, free_energy) = match multiplier {
        Some(l) if l != 0.0 => {
            let tau: Vec<f64> = weights.iter().map(|w| w / l).collect();
            // F = E f - sum tau H = E f - objective / lambda (with a reference, likewise).
            (Some(tau), Some(point.expected_loss - objective / l))
        }
        // lambda = 0: the optimum ignores the loss (tau = w / 0); the temperatures reported are
        // the unconstrained ones, `w`, and there is no finite free energy.
        Some(_) => (Some(weights.to_vec()), None),
        None => (None, None),
    };
    MeanSolution {
        solution,
        orientation,
        point,
        multiplier,
        boundary: false,
        objective,
        temperatures,
        free_energy,
        sweeps,
    }
}
