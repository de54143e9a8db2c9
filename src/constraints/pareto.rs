//! The Pareto frontier over level weights (docs/concepts.md, "13. Trade-offs between levels").
//!
//! Each weight vector `w` (`w_0 > 0`, `w_k >= 0`) gives one frontier point:
//!
//! * without a mean constraint, the Theorem A minimiser at temperatures `tau = w`, i.e. the
//!   unique maximiser of `-E f + sum_k w_k H(Y_k)`: a Pareto-optimal point of the criteria
//!   `(-E f, H(Y_0), ..., H(Y_d))`;
//! * with `E f = c` (or `<= c`), the unique maximiser of `sum_k w_k H(Y_k)` on the feasible set
//!   (docs/concepts.md, "7. The mean-constrained problem"): a Pareto-optimal point of `(H(Y_0), ..., H(Y_d))` at that expected loss.
//!
//! Uniqueness (strict concavity from `w_0 > 0`) makes every such point Pareto optimal even
//! when some `w_k = 0` (proof `proofs/pareto.md`); so no computed point may dominate another,
//! which [`Frontier::dominated`] checks (test `no_frontier_point_dominates_another`).
//! With a reference distribution every `H(Y_k)` is replaced by `-D(P_k || Q_k)`.

use crate::constraints::floors::solve_floors;
use crate::constraints::mean::{solve_mean, MeanConstraint};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::solution::Solution;
use crate::temperatures::{validate_levels, Temperatures};

/// Relative tolerance within which two criteria values count as a tie (on the scale
/// `max(1, |value|)`, [`super::dominance`]).
pub const TIE_RTOL: f64 = super::dominance::TIE;
/// Absolute floor of the tie tolerance: values within `TIE_RTOL` of each other tie whatever
/// their size (the scale is at least 1).
pub const TIE_ATOL: f64 = super::dominance::TIE;
/// The largest weight grid [`weights_grid`] builds.
pub const MAX_GRID_POINTS: usize = 100_000;

/// One point of the frontier; `S` is the model's own answer (the tabulated [`Solution`], a
/// chain's flow, ...).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FrontierPoint<S = Solution> {
    /// The level weights `w_0..w_d`.
    pub weights: Vec<f64>,
    /// The temperatures of Theorem A that produced the point: `w` without a mean constraint,
    /// `w / lambda` with one (`w` when `lambda` is 0), `None` at a boundary; for a
    /// [`floors_frontier`] point `(1, mu) / lambda`, `None` when `lambda` is 0 or absent.
    pub temperatures: Option<Vec<f64>>,
    /// The multiplier `lambda` of the mean constraint (`None` without one, or at a boundary).
    pub multiplier: Option<f64>,
    /// `true` when the mean target is `min f` or `max f` (zero-temperature limit).
    pub boundary: bool,
    /// `E_P*[f]`, `f` the total loss.
    pub expected_loss: f64,
    /// `[H(Y_0), ..., H(Y_d)]`.
    pub entropies: Vec<f64>,
    /// `[D(P_0 || Q_0), ..., D(P_d || Q_d)]` with a reference.
    pub relative_entropies: Option<Vec<f64>>,
    /// `sum_k w_k H(Y_k)` (with a reference `-sum_k w_k D(P_k || Q_k)`).
    pub objective: f64,
    /// The full solution (for a negative multiplier of a family: its answer for `-f`).
    pub solution: S,
}

impl<S> FrontierPoint<S> {
    /// The criteria the frontier lives in (all to be maximised): `(-E f, H(Y_0..d))` without
    /// a mean constraint, `(H(Y_0..d))` with one; `-D` in place of `H` with a reference.
    pub fn criteria(&self, constrained: bool) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.entropies.len() + 1);
        if !constrained {
            out.push(-self.expected_loss);
        }
        match &self.relative_entropies {
            Some(d) => out.extend(d.iter().map(|x| -x)),
            None => out.extend_from_slice(&self.entropies),
        }
        out
    }
}

/// A traced frontier.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Frontier<S = Solution> {
    /// The points, in the order the weights were given.
    pub points: Vec<FrontierPoint<S>>,
    /// Pairs `(i, j)` where point `i` dominates point `j` (empty for a consistent frontier).
    pub dominated: Vec<(usize, usize)>,
    /// Whether a mean constraint was imposed (which criteria space the frontier lives in).
    pub constrained: bool,
}

/// Whether criteria vector `a` dominates `b` (all maximised), with ties per criterion within
/// `1e-9 max(1, |value|)` ([`super::dominance`]).
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    super::dominance::dominates(a, b)
}

/// All pairs `(i, j)`, `i != j`, where `criteria[i]` dominates `criteria[j]`, in
/// lexicographic order, by the sweep of [`super::dominance::dominated_pairs`] (not pair by
/// pair).
pub fn dominated_pairs(criteria: &[Vec<f64>]) -> Vec<(usize, usize)> {
    super::dominance::dominated_pairs(criteria)
}

/// The number of grid weight vectors for `levels` levels and `steps` steps:
/// compositions of `steps` into `levels` parts with the first `>= 1`,
/// `C(steps - 1 + d, d)` with `d = levels - 1` (`None` on overflow).
pub fn grid_size(levels: usize, steps: usize) -> Option<usize> {
    if levels == 0 || steps == 0 {
        return Some(0);
    }
    let d = levels - 1;
    // C(steps - 1 + d, d) by the multiplicative formula, exactly in u128.
    let mut c: u128 = 1;
    for i in 1..=d as u128 {
        c = c.checked_mul(steps as u128 - 1 + i)? / i;
    }
    usize::try_from(c).ok()
}

/// Every weight vector on the simplex whose entries are multiples of `1 / steps` and whose
/// `w_0 > 0`, in ascending lexicographic order of `(w_0, ..., w_d)` (docs/cli.md
/// `weights_grid`). There are [`grid_size`] of them.
///
/// # Errors
/// [`Error::InvalidInput`] for `levels = 0`, `steps = 0`, or more than [`MAX_GRID_POINTS`]
/// vectors.
///
/// ```
/// # use hmaxent::constraints::pareto::weights_grid;
/// let g = weights_grid(2, 2)?;
/// assert_eq!(g, vec![vec![0.5, 0.5], vec![1.0, 0.0]]);
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub fn weights_grid(levels: usize, steps: usize) -> Result<Vec<Vec<f64>>> {
    if levels == 0 || steps == 0 {
        return Err(Error::InvalidInput(format!(
            "weights_grid needs at least one level and steps >= 1 (got {levels} levels, steps = {steps})"
        )));
    }
    let count = grid_size(levels, steps);
    let Some(count) = count.filter(|&c| c <= MAX_GRID_POINTS) else {
        let count = count.map_or_else(|| "more than 2^64".to_string(), |c| c.to_string());
        return Err(Error::InvalidInput(format!(
            "weights_grid with steps = {steps} and {levels} levels has {count} weight vectors; the limit is {MAX_GRID_POINTS}"
        )));
    };
    let mut out = Vec::with_capacity(count);
    fill(levels, steps, &mut out);
    Ok(out)
}

/// Ascending enumeration of the parts `(p_0, .., p_d)`, `p_0 >= 1`, summing to `steps`, in
/// lexicographic order of `(p_0, .., p_{d-1})` (the last takes the remainder), each pushed as
/// `p / steps`. A loop, not a recursion per level, so a grid over `10^5` levels does not
/// exhaust the stack: from each vector, the next moves one unit from the remainder to
/// `p_{d-1}`, or, with no remainder, one unit to `p_{j-1}` from the last non-zero `p_j`, `1
/// <= j < d`, whose other units become the remainder (`p_j = 0`).
fn fill(levels: usize, steps: usize, out: &mut Vec<Vec<f64>>) {
    let emit = |parts: &[usize], out: &mut Vec<Vec<f64>>| {
        out.push(parts.iter().map(|&p| p as f64 / steps as f64).collect());
    };
    let mut parts = vec![0usize; levels];
    let last = levels - 1;
    if last == 0 {
        parts[0] = steps;
        emit(&parts, out);
        return;
    }
    parts[0] = 1;
    parts[last] = steps - 1;
    loop {
        emit(&parts, out);
        if parts[last] > 0 {
            parts[last - 1] += 1;
            parts[last] -= 1;
            continue;
        }
        let Some(j) = (1..last).rev().find(|&j| parts[j] > 0) else {
            return;
        };
        parts[j - 1] += 1;
        parts[last] = parts[j] - 1;
        parts[j] = 0;
    }
}

/// The frontier of any model (a family's flow or a tabulated problem) over `weights`
/// (each `d + 1` entries, `w_0 > 0`, `w_k >= 0`): without `mean`, the model's Theorem A
/// optimum at temperatures `w`; with `mean`, [`solve_mean`] at weights `w` (a few flows per
/// point). Points come back in the order given, with the dominance check.
///
/// ```
/// # use hmaxent::{Hierarchy, Problem};
/// # use hmaxent::constraints::{frontier, MeanConstraint};
/// // A tabulated problem ...
/// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
/// let p = Problem::new(&h, &[0.0, 0.5, 1.0, 3.0])?;
/// let fr = frontier(&p, &[vec![1.0, 0.0], vec![1.0, 1.0], vec![0.5, 2.0]], None)?;
/// assert!(fr.dominated.is_empty());
/// # use hmaxent::families::chain::{Boundary, Chain};
/// // ... or a chain of 2^40 + 1 sites at 10% broken bonds, over three weight vectors.
/// let chain = Chain::homogeneous(2, 40, Boundary::Open, &[0.0, 1.0, 1.0, 0.0])?;
/// let mut ws = vec![vec![0.0; 41]; 3];
/// ws[0][0] = 1.0;
/// ws[1].iter_mut().for_each(|w| *w = 1.0);
/// ws[2][0] = 0.5;
/// ws[2][40] = 1.0;
/// let c = MeanConstraint::Equal(0.1 * (1u64 << 40) as f64);
/// let fr = frontier(&chain, &ws, Some(c))?;
/// assert!(fr.dominated.is_empty());
/// # Ok::<(), hmaxent::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidInput`] for an empty list; the errors of [`solve_mean`] and of the model
/// (named `weights[i]` for a bad weight vector).
pub fn frontier<M: Model>(
    model: &M,
    weights: &[Vec<f64>],
    mean: Option<MeanConstraint>,
) -> Result<Frontier<M::Solution>> {
    trace(model.levels(), weights, mean, |w| {
        Ok(match mean {
            None => {
                let (solution, p) = model.solve_point(&Temperatures::new(w)?)?;
                FrontierPoint {
                    weights: w.to_vec(),
                    temperatures: Some(w.to_vec()),
                    multiplier: None,
                    boundary: false,
                    expected_loss: p.expected_loss,
                    objective: p.objective(w),
                    entropies: p.entropies,
                    relative_entropies: p.relative_entropies,
                    solution,
                }
            }
            Some(c) => {
                let fit = solve_mean(model, w, c)?;
                FrontierPoint {
                    weights: w.to_vec(),
                    temperatures: fit.temperatures,
                    multiplier: fit.multiplier,
                    boundary: fit.boundary,
                    expected_loss: fit.point.expected_loss,
                    objective: fit.objective,
                    entropies: fit.point.entropies,
                    relative_entropies: fit.point.relative_entropies,
                    solution: fit.solution,
                }
            }
        })
    })
}

/// The frontier of the epsilon-constraint form (docs/pareto.md, "Epsilon-constraint form:
/// entropy floors"): one [`solve_floors`] per floor vector (`d` entries each), with `E f <= c`
/// when `mean_at_most` is given. Each point's weights are the Lagrangian's `(1, mu)`, its
/// multiplier the mean constraint's `lambda`; the frontier lives in `(H(Y_0), ..., H(Y_d))`
/// (the unique maximiser of `H(Y_0)` under floors is Pareto optimal on the feasible set,
/// proofs/pareto.md), with the dominance check.
///
/// ```
/// # use hmaxent::{Hierarchy, Problem};
/// use hmaxent::constraints::floors_frontier;
/// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
/// let p = Problem::new(&h, &[0.0, 0.0, 1.0, 2.0])?;
/// let fr = floors_frontier(&p, Some(0.5), &[vec![0.0], vec![0.6], vec![0.69]])?;
/// assert!(fr.dominated.is_empty());
/// assert!((fr.points[2].entropies[1] - 0.69).abs() < 1e-9);
/// # Ok::<(), hmaxent::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidInput`] for an empty list; the errors of [`solve_floors`] (a run that
/// stops early is [`Error::NotConverged`]).
pub fn floors_frontier<M: Model>(
    model: &M,
    mean_at_most: Option<f64>,
    floors: &[Vec<f64>],
) -> Result<Frontier<M::Solution>> {
    if floors.is_empty() {
        return Err(Error::InvalidInput(
            "floors must list at least one floor vector".to_string(),
        ));
    }
    let mut points = Vec::with_capacity(floors.len());
    for h in floors {
        let fit = solve_floors(model, mean_at_most, h)?.converged()?;
        points.push(FrontierPoint {
            objective: fit.objective,
            temperatures: fit.temperatures,
            multiplier: fit.mean_multiplier,
            boundary: fit.boundary,
            expected_loss: fit.point.expected_loss,
            entropies: fit.point.entropies,
            relative_entropies: None,
            weights: fit.weights,
            solution: fit.solution,
        });
    }
    let criteria: Vec<Vec<f64>> = points.iter().map(|p| p.criteria(true)).collect();
    Ok(Frontier {
        dominated: dominated_pairs(&criteria),
        points,
        constrained: true,
    })
}

/// Validates every weight vector (named `weights[i]`), computes the points in order with
/// `point`, and checks dominance in the criteria space of the problem.
fn trace<S, F>(
    levels: usize,
    weights: &[Vec<f64>],
    mean: Option<MeanConstraint>,
    mut point: F,
) -> Result<Frontier<S>>
where
    F: FnMut(&[f64]) -> Result<FrontierPoint<S>>,
{
    if weights.is_empty() {
        return Err(Error::InvalidInput(
            "weights must list at least one weight vector".to_string(),
        ));
    }
    let mut points = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let field = format!("weights[{i}]");
        if w.len() != levels {
            return Err(Error::length(field, w.len(), levels));
        }
        validate_levels(&field, w)?;
        points.push(point(w)?);
    }
    let constrained = mean.is_some();
    let criteria: Vec<Vec<f64>> = points.iter().map(|p| p.criteria(constrained)).collect();
    Ok(Frontier {
        dominated: dominated_pairs(&criteria),
        points,
        constrained,
    })
}
