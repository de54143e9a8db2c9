//! The epsilon-constraint form of the Pareto problem over any [`Model`] (docs/concepts.md,
//! sections 12, 13; docs/constraints-families.md).
//!
//! ```text
//! maximise   H(Y_0)
//! subject to E_P[f] <= c            (optional)
//!            H(Y_k) >= h_k          k = 1..d
//! ```
//!
//! The feasible set is convex (entropies are concave in `P`, the mean is linear), so strong
//! duality holds under Slater's condition. With multipliers `lambda >= 0` (mean) and
//! `mu_k >= 0` (floors), the Lagrangian
//!
//! ```text
//! L(P; lambda, mu) = H(Y_0) + sum_k mu_k (H(Y_k) - h_k) - lambda (E_P f - c)
//! ```
//!
//! is maximised over `P` by Theorem A at temperatures `(1, mu_1, ..., mu_d) / lambda`, i.e.
//! by the model's optimum for the loss `lambda f` at temperatures `w = (1, mu)`
//! ([`Model::solve_scaled`]; `lambda = 0`: the unconstrained optimum), so the dual function is
//!
//! ```text
//! g(lambda, mu) = H(Y_0) + sum_k mu_k (H(Y_k) - h_k) + lambda (c - E f)    at that optimum,
//! dg/dlambda = c - E f,    dg/dmu_k = H(Y_k) - h_k         (the constraint slacks),
//! d2g/dlambda2 = -dE f/dlambda,   d2g/dlambda dmu_k = -dE f/dw_k,   d2g/dmu_j dmu_k = dH_k/dw_j
//! ```
//!
//! (envelope identities, docs/concepts.md, "5. Theorem A"). `g` is convex (a supremum of
//! affine functions of `(lambda, mu)`), and its minimiser over the orthant gives the
//! multipliers; the proof is in `proofs/pareto.md` and `proofs/convex_dual.md` ("The floors
//! dual and its exact Hessian"), the KKT test is `floors_satisfy_kkt` in `tests/pareto.rs`.
//! The Hessian is exact ([`Model::sensitivity`]: dual-number sweeps or covariance formulas),
//! and the dual is minimised by the crate's one projected Newton method
//! (`super::newton`).
//!
//! **Polishing.** The stopping rule bounds the slacks (`1e-10` of the problem's scale), not
//! the multipliers: the multiplier error is the Newton step `H^{-1} g`, and where a floor lies
//! near the largest attainable `H(Y_k)`, `dH_k/dmu_k` is small (`5e-8` for a floor `6e-8`
//! below its maximum) and a slack of `5e-13` still leaves `mu_k` off by `8e-6`. So the run is
//! polished to rounding (`newton::minimise_polished` with target `0`: Newton steps while each
//! halves the residual), and the multipliers are then exact to `|H^{-1}| r`, `r` the rounding
//! of the slacks (`tests/floors_models.rs`, `multipliers_agree`).

use super::newton::{self, Bound, Objective, Point, Stopping};
pub use super::status::Status;
use crate::constraints::mean::{infeasible, solve_mean, MeanConstraint};
use crate::error::{Error, Result, Short};
use crate::model::{LossRange, Model, ModelPoint, Side};
use crate::numerics::nearly_equal;
use crate::solution::Solution;
use crate::temperatures::Temperatures;

/// Settings of the floor-constrained dual solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorSettings {
    /// Relative tolerance on the projected gradient (the constraint slacks), scaled by
    /// `1 + |c| + max |f| + max |h_k|`. Default `1e-10`.
    pub gradient_tolerance: f64,
    /// Outer (Newton) iterations. Default `100`.
    pub max_iterations: usize,
}

impl Default for FloorSettings {
    fn default() -> Self {
        Self {
            gradient_tolerance: 1e-10,
            max_iterations: 100,
        }
    }
}

impl FloorSettings {
    /// Sets the gradient tolerance (`0 < tol < 1`).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] otherwise.
    pub fn with_gradient_tolerance(mut self, tol: f64) -> Result<Self> {
        self.gradient_tolerance = super::status::gradient_tolerance(tol)?;
        Ok(self)
    }

    /// Sets the iteration budget (at least 1).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for 0.
    pub fn with_max_iterations(mut self, n: usize) -> Result<Self> {
        self.max_iterations = super::status::max_iterations(n)?;
        Ok(self)
    }
}

/// The answer of the epsilon-constraint problem; `S` is the model's own answer (the tabulated
/// [`Solution`], a chain's flow, ...).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FloorSolution<S = Solution> {
    /// `P*` as the model gives it.
    pub solution: S,
    /// The statistics of `P*` for `f` (`E f`, `H(Y_0..Y_d)`, ...).
    pub point: ModelPoint,
    /// `lambda` of the mean constraint: `Some(0.0)` when slack, `None` without a mean
    /// constraint or at the boundary `c = min f` (the problem was solved on the face of the
    /// minimisers of `f`).
    pub mean_multiplier: Option<f64>,
    /// `mu_1..mu_d`: `0` on a slack floor, `> 0` on an active one (`H(Y_k) = h_k`).
    pub floor_multipliers: Vec<f64>,
    /// The level weights `(1, mu_1, ..., mu_d)` of the Lagrangian.
    pub weights: Vec<f64>,
    /// The temperatures `(1, mu) / lambda` of Theorem A (only when `lambda > 0`).
    pub temperatures: Option<Vec<f64>>,
    /// `H(Y_0)` at the optimum.
    pub objective: f64,
    /// The dual value `g(lambda, mu)` at the returned multipliers.
    pub dual_value: f64,
    /// `g - H(Y_0) = lambda (c - E f) + sum_k mu_k (H(Y_k) - h_k)`; `~0` at convergence.
    pub duality_gap: f64,
    /// Infinity norm of the projected dual gradient (the violated or active slacks).
    pub gradient_norm: f64,
    /// The largest `H(Y_k)`, `k = 1..d`, attainable on the feasible set (allowed states,
    /// `E f <= c`), against which each floor was checked; `None` when the model cannot
    /// compute it ([`Model::max_level_entropies`]).
    pub max_entropies: Option<Vec<f64>>,
    /// `true` when `c = min f` and the problem was solved on the face of the minimisers.
    pub boundary: bool,
    /// Outer (Newton) iterations.
    pub iterations: usize,
    /// Model solves in all (line searches, Hessians and the starting mean solve included).
    pub sweeps: usize,
    /// How the solver stopped.
    pub status: Status,
}

impl<S> FloorSolution<S> {
    /// This solution if it converged ([`Status::is_converged`]); otherwise
    /// [`Error::NotConverged`] with the iterations used and the final gradient norm.
    ///
    /// # Errors
    /// [`Error::NotConverged`] for [`Status::MaxIterations`].
    pub fn converged(self) -> Result<Self> {
        let (iterations, residual) = (self.iterations, self.gradient_norm);
        self.status
            .check("the entropy-floor dual", iterations, residual)?;
        Ok(self)
    }
}

/// How the mean constraint enters the dual.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `lambda` is a dual variable.
    Mean(f64),
    /// `lambda = 0` fixed: no mean constraint, or `c >= max f` (always slack).
    Free { slack_mean: bool },
    /// `c = min f`: the face of the minimisers, zero loss.
    Face,
}

/// Tie tolerance when a floor is compared with its attainable maximum.
const FLOOR_RTOL: f64 = 1e-12;
/// Multipliers beyond this (in units of their natural scale) that do not meet the
/// tolerance mean an unbounded dual.
const DIVERGENCE: f64 = 1e8;

/// The epsilon-constraint problem with default [`FloorSettings`]: maximise `H(Y_0)` over the
/// model's distributions subject to `E f <= c` (when `mean_at_most` is given) and
/// `H(Y_k) >= floors[k-1]` for `k = 1..d`.
///
/// # Errors
/// See [`solve_floors_with`].
///
/// ```
/// # use hmaxent::{Hierarchy, Problem};
/// use hmaxent::constraints::solve_floors;
/// // Leaves {0,1} -> A, {2,3} -> B, f = (0, 0, 1, 2), E f <= 0.5.
/// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
/// let p = Problem::new(&h, &[0.0, 0.0, 1.0, 2.0])?;
/// // Without a floor H(Y_1) = 0.6518; the floor 0.5 is slack and gets multiplier 0 ...
/// let slack = solve_floors(&p, Some(0.5), &[0.5])?;
/// assert_eq!(slack.floor_multipliers[0], 0.0);
/// // ... while 0.69 (below the attainable log 2) is active: H(Y_1) = 0.69.
/// let fit = solve_floors(&p, Some(0.5), &[0.69])?;
/// assert!(fit.floor_multipliers[0] > 0.0);
/// assert!((fit.solution.entropy(1) - 0.69).abs() < 1e-9);
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub fn solve_floors<M: Model>(
    model: &M,
    mean_at_most: Option<f64>,
    floors: &[f64],
) -> Result<FloorSolution<M::Solution>> {
    solve_floors_with(model, mean_at_most, floors, &FloorSettings::default())
}

/// The epsilon-constraint problem (docs/concepts.md, sections 12, 13): maximise `H(Y_0)`
/// subject to `E f <= c` and `H(Y_k) >= h_k`, `k >= 1`, by minimising the convex dual
/// `g(lambda, mu)` (module docs) over `lambda, mu >= 0` with projected Newton steps and the
/// exact Hessian of [`Model::sensitivity`].
///
/// # Errors
/// [`Error::InvalidInput`] with a reference distribution (floors are on Shannon
/// entropies), for a model without exact derivatives, or without a mean constraint on a
/// model whose entropies are unbounded (a Gaussian); [`Error::LengthMismatch`] unless
/// `floors` has `d` entries; [`Error::InvalidValue`] / [`Error::InvalidSetting`] for
/// non-finite floors or `c`; [`Error::AllForbidden`]; [`Error::Infeasible`] /
/// [`Error::InfeasibleProblem`] when `c < min f`, when a floor exceeds the largest
/// attainable `H(Y_k)` on the feasible set, or when the floors are jointly infeasible (the
/// dual is unbounded).
pub fn solve_floors_with<M: Model>(
    model: &M,
    mean_at_most: Option<f64>,
    floors: &[f64],
    settings: &FloorSettings,
) -> Result<FloorSolution<M::Solution>> {
    let d = model.levels() - 1;
    if floors.len() != d {
        return Err(Error::length("floors", floors.len(), d));
    }
    if let Some(i) = floors.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidValue {
            field: "floors".to_string(),
            index: i,
            value: floors[i],
            reason: "must be finite",
        });
    }
    if let Some(c) = mean_at_most.filter(|c| !c.is_finite()) {
        return Err(Error::InvalidSetting {
            field: "mean_at_most",
            value: c,
            reason: "must be finite",
        });
    }
    let range = model.loss_range()?;
    let mode = match mean_at_most {
        None => Mode::Free { slack_mean: false },
        Some(c) if c < range.min && !nearly_equal(c, range.min) => {
            return Err(infeasible(c, range))
        }
        Some(_) if range.min == range.max => Mode::Free { slack_mean: true },
        Some(c) if nearly_equal(c, range.min) => {
            if !range.min_attained {
                return Err(infeasible(c, range));
            }
            Mode::Face
        }
        Some(c) if c >= range.max => Mode::Free { slack_mean: true },
        Some(c) => Mode::Mean(c),
    };
    if matches!(mode, Mode::Free { .. }) && range.max == f64::INFINITY {
        return Err(Error::InvalidInput(
            "without a mean constraint the entropies of this model are unbounded (a Gaussian): \
             entropy floors need mean_at_most"
                .to_string(),
        ));
    }
    let max_entropies = match mode {
        Mode::Face => model.minimisers()?.max_level_entropies(None)?,
        Mode::Mean(c) => model.max_level_entropies(Some(c))?,
        Mode::Free { .. } => model.max_level_entropies(None)?,
    };
    if let Some(max) = &max_entropies {
        check_floors(floors, max, mean_at_most)?;
    }
    let fit = match mode {
        Mode::Face => {
            let face = model.minimisers()?;
            let run = run(
                &face,
                Mode::Free { slack_mean: false },
                floors,
                settings,
                range,
                max_entropies.is_some(),
            )?;
            let (solution, point) = model.boundary(Side::Min, &run.weights)?;
            run.finish(solution, point)
        }
        _ => {
            let run = run(
                model,
                mode,
                floors,
                settings,
                range,
                max_entropies.is_some(),
            )?;
            let (solution, point) = model.solve_scaled(run.lambda, &run.weights)?;
            run.finish(solution, point)
        }
    };
    let mean_multiplier = match mode {
        Mode::Mean(_) => Some(fit.lambda),
        Mode::Free { slack_mean: true } => Some(0.0),
        Mode::Free { slack_mean: false } | Mode::Face => None,
    };
    Ok(FloorSolution {
        mean_multiplier,
        max_entropies,
        boundary: matches!(mode, Mode::Face),
        ..fit.answer
    })
}

fn check_floors(floors: &[f64], max: &[f64], mean_at_most: Option<f64>) -> Result<()> {
    for (k, (&floor, &hmax)) in floors.iter().zip(max).enumerate() {
        if floor > hmax + FLOOR_RTOL * (1.0 + hmax) {
            let on = match mean_at_most {
                Some(c) => format!("allowed states with E[f] <= {}", Short(c)),
                None => "allowed states".to_string(),
            };
            return Err(Error::InfeasibleProblem(format!(
                "entropy floor floors[{k}] = {} for H(Y_{}) exceeds its largest attainable value {} on the feasible set ({on})",
                Short(floor),
                k + 1,
                Short(hmax)
            )));
        }
    }
    Ok(())
}

/// The dual `g(lambda, mu)` of one model (module docs) as a Newton [`Objective`].
struct FloorDual<'a, M> {
    model: &'a M,
    /// `Some(c)` when `lambda` is a variable (index 0).
    mean: Option<f64>,
    floors: &'a [f64],
    /// `g(0, mu) = +inf` (the entropies are unbounded without the loss).
    unbounded_at_zero: bool,
}

impl<M: Model> FloorDual<'_, M> {
    fn offset(&self) -> usize {
        usize::from(self.mean.is_some())
    }

    /// `(lambda, w = (1, mu))` of the variables `x`.
    fn split(&self, x: &[f64]) -> Result<(f64, Temperatures)> {
        let off = self.offset();
        let lambda = if off == 1 { x[0] } else { 0.0 };
        let mut w = vec![1.0];
        w.extend_from_slice(&x[off..]);
        Ok((lambda, Temperatures::new(&w)?))
    }

    /// Value and gradient of `g` from the statistics at `(lambda, w)`.
    fn evaluate(&self, x: &[f64], lambda: f64, p: &ModelPoint) -> Point {
        let off = self.offset();
        let c = self.mean.unwrap_or(0.0);
        let mut value = p.entropies[0] + lambda * (c - p.expected_loss);
        let mut size = p.entropies[0].abs() + lambda * (c.abs() + p.expected_loss.abs());
        let mut gradient = Vec::with_capacity(x.len());
        if off == 1 {
            gradient.push(c - p.expected_loss);
        }
        for (k, &h) in self.floors.iter().enumerate() {
            let mu = x[off + k];
            let slack = p.entropies[k + 1] - h;
            value += mu * slack;
            size += mu * (p.entropies[k + 1].abs() + h.abs());
            gradient.push(slack);
        }
        Point {
            value,
            gradient,
            rounding: 64.0 * f64::EPSILON * (1.0 + size),
        }
    }

    fn outside(&self, x: &[f64]) -> Option<Point> {
        (self.unbounded_at_zero && self.mean.is_some() && x[0] <= 0.0).then(|| Point {
            value: f64::INFINITY,
            gradient: vec![0.0; x.len()],
            rounding: 0.0,
        })
    }
}

impl<M: Model> Objective for FloorDual<'_, M> {
    fn point(&self, x: &[f64]) -> Result<Point> {
        if let Some(p) = self.outside(x) {
            return Ok(p);
        }
        let (lambda, w) = self.split(x)?;
        let (_, p) = self.model.solve_scaled(lambda, &w)?;
        Ok(self.evaluate(x, lambda, &p))
    }

    fn point_with_hessian(&self, x: &[f64]) -> Result<(Point, Vec<f64>, usize)> {
        let n = x.len();
        if let Some(p) = self.outside(x) {
            return Ok((p, vec![0.0; n * n], 0));
        }
        let (lambda, w) = self.split(x)?;
        let (p, s) = self.model.sensitivity(lambda, &w)?;
        let off = self.offset();
        let mut hessian = vec![0.0; n * n];
        if off == 1 {
            hessian[0] = -s.loss_by_scale;
            for k in 1..n {
                // -dE f/dw_k and dH_k/dlambda: the same mixed derivative of g.
                let v = 0.5 * (-s.loss_by_weight[k] + s.entropy_by_scale[k]);
                hessian[k] = v;
                hessian[k * n] = v;
            }
        }
        for a in off..n {
            for b in off..n {
                let (j, k) = (a - off + 1, b - off + 1);
                hessian[a * n + b] = 0.5 * (s.entropy_by_weight(j, k) + s.entropy_by_weight(k, j));
            }
        }
        Ok((self.evaluate(x, lambda, &p), hessian, 1))
    }
}

/// A finished Newton run, before the final solve.
struct Finished {
    lambda: f64,
    mu: Vec<f64>,
    weights: Temperatures,
    dual: FloorDualSummary,
}

/// What the final solve needs from the run.
struct FloorDualSummary {
    mean: Option<f64>,
    floors: Vec<f64>,
    tolerance: f64,
    iterations: usize,
    sweeps: usize,
}

/// The answer without the mode-dependent fields.
struct Answer<S> {
    lambda: f64,
    answer: FloorSolution<S>,
}

impl Finished {
    fn finish<S>(self, solution: S, point: ModelPoint) -> Answer<S> {
        let d = &self.dual;
        let c = d.mean.unwrap_or(0.0);
        let lambda = self.lambda;
        let mut value = point.entropies[0] + lambda * (c - point.expected_loss);
        let mut x = Vec::with_capacity(self.mu.len() + 1);
        let mut gradient = Vec::with_capacity(self.mu.len() + 1);
        if d.mean.is_some() {
            x.push(lambda);
            gradient.push(c - point.expected_loss);
        }
        for (k, (&mu, &h)) in self.mu.iter().zip(&d.floors).enumerate() {
            let slack = point.entropies[k + 1] - h;
            value += mu * slack;
            x.push(mu);
            gradient.push(slack);
        }
        let gradient_norm = projected_norm(&x, &gradient);
        let status = if gradient_norm <= d.tolerance {
            Status::Converged
        } else {
            Status::MaxIterations
        };
        let weights = self.weights.as_slice().to_vec();
        let objective = point.entropies[0];
        Answer {
            lambda,
            answer: FloorSolution {
                temperatures: (lambda > 0.0).then(|| weights.iter().map(|w| w / lambda).collect()),
                solution,
                point,
                mean_multiplier: None,
                floor_multipliers: self.mu,
                weights,
                objective,
                dual_value: value,
                duality_gap: value - objective,
                gradient_norm,
                max_entropies: None,
                boundary: false,
                iterations: d.iterations,
                sweeps: d.sweeps + 1,
                status,
            },
        }
    }
}

/// Minimises the dual of `model` in `mode` (not [`Mode::Face`]).
fn run<M: Model>(
    model: &M,
    mode: Mode,
    floors: &[f64],
    settings: &FloorSettings,
    range: LossRange,
    known_maxima: bool,
) -> Result<Finished> {
    let d = floors.len();
    let mean = match mode {
        Mode::Mean(c) => Some(c),
        _ => None,
    };
    let off = usize::from(mean.is_some());
    let n = off + d;
    let spread = range.max - range.min;
    // Natural scales of the variables (for the divergence test).
    let mut scale = vec![1.0; n];
    if mean.is_some() && spread > 0.0 && spread.is_finite() {
        scale[0] = 1.0 / spread;
    }
    let fabs = [range.min, range.max]
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f64, |a, x| a.max(x.abs()));
    let habs = floors.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let tolerance = settings.gradient_tolerance * (1.0 + mean.map_or(0.0, f64::abs) + fabs + habs);
    // Start at the solution without floors: lambda from the mean solver, mu = 0.
    let mut start = vec![0.0; n];
    let mut sweeps = 0;
    if let Some(c) = mean {
        let mut w0 = vec![0.0; d + 1];
        w0[0] = 1.0;
        let fit = solve_mean(model, &w0, MeanConstraint::AtMost(c))?;
        sweeps += fit.sweeps;
        start[0] = fit.multiplier.unwrap_or(0.0).max(0.0);
    }
    let objective = FloorDual {
        model,
        mean,
        floors,
        unbounded_at_zero: range.max == f64::INFINITY,
    };
    let stop = Stopping {
        gradient: vec![tolerance; n],
        gap: f64::INFINITY,
        max_iterations: settings.max_iterations,
        slope: None,
    };
    let bounds = vec![Bound::NonNegative; n];
    // Polished to rounding (module docs, "Polishing").
    let out = newton::minimise_polished(&objective, &bounds, &stop, start, 0.0)?;
    let far = out.x.iter().zip(&scale).any(|(v, s)| *v > DIVERGENCE * s);
    // Newton's residual `x - P(x - g)` rounds to 0 for a huge `x`: recheck exactly.
    let stalled = !out.converged || {
        let p = objective.point(&out.x)?;
        projected_norm(&out.x, &p.gradient) > tolerance
    };
    if far && stalled {
        return Err(unbounded(floors, known_maxima));
    }
    let (lambda, weights) = objective.split(&out.x)?;
    Ok(Finished {
        lambda,
        mu: out.x[off..].to_vec(),
        weights,
        dual: FloorDualSummary {
            mean,
            floors: floors.to_vec(),
            tolerance,
            iterations: out.iterations,
            sweeps: sweeps + out.evaluations,
        },
    })
}

/// The largest projected dual gradient, exactly: `|g_i|` where `x_i > 0`, the part of `g_i`
/// pointing into the orthant where `x_i = 0` (zero exactly at a KKT point).
fn projected_norm(x: &[f64], gradient: &[f64]) -> f64 {
    x.iter()
        .zip(gradient)
        .map(|(&x, &g)| if x > 0.0 { g.abs() } else { (-g).max(0.0) })
        .fold(0.0, f64::max)
}

/// The dual is unbounded: the floors cannot all hold (with the mean budget).
fn unbounded(floors: &[f64], known_maxima: bool) -> Error {
    let why = if known_maxima {
        "are each attainable but not jointly with the mean constraint"
    } else {
        "cannot all hold on the feasible set (with the mean constraint, if any)"
    };
    Error::InfeasibleProblem(format!(
        "the entropy floors {floors:?} {why} (the dual is unbounded)"
    ))
}
