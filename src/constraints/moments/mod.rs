//! Hierarchical maximum entropy under vector moment constraints (docs/constraints.md).
//!
//! Maximise `sum_k w_k H(Y_k)` (with a reference: minimise `sum_k w_k D(P_k || Q_k)`) subject
//! to `E_P[phi_i] = c_i` (or `<= c_i`, `>= c_i`), `i = 1..m`, and optionally one constraint on
//! the expected total loss, `E_P[f] = c_0` or `<= c_0` (multiplier `lambda`). The optimum is
//! Theorem A for the loss `theta·phi (+ lambda f)` at temperatures `w`, where `theta` minimises
//! the convex dual
//!
//! ```text
//! D(theta) = theta·c - F(theta),     grad D = c - E_theta[phi],
//! Hess D   = -dE_theta[phi]/dtheta  (a multilevel covariance, proofs/convex_dual.md)
//! ```
//!
//! over `theta_i >= 0` on `<=` rows and `theta_i <= 0` on `>=` rows.
//!
//! One idea per file: `scaling` (rows centred and scaled to spread 1, in
//! `super::scaling`), `engine` (the dual, its gradient and its exact Hessian from one `f64`
//! sweep), `covariance` (that Hessian from every level's marginal),
//! `super::newton` (projected Newton with a per-row stopping rule), `lbfgs` (a warm start for
//! many equalities), `witness` (a proof of interior from a converged dual), `solve` (the
//! order of the dual, the feasibility LP and the acceptance test), `continuation` (targets
//! moved from `E_0[phi]` to `c` in stages, a last path), `settings`, `solution`.
//!
//! Feasibility is settled before any answer is returned, and every answer is checked: it is
//! reported as converged only when each target holds to `9 tol (1 + spread_i)` and the
//! duality gap to `9 tol (1 + |objective|)` (`tol = 1e-10` by default).

mod balance;
mod continuation;
mod covariance;
mod engine;
mod lbfgs;
mod parallel;
mod settings;
mod solution;
mod solve;
mod sparse_terms;
mod witness;

pub use super::sense::Sense;
pub use super::status::Status;
pub use settings::ConvexSettings;
pub use solution::{DualEvaluation, MomentSolution};

use super::features::{Row, SparseFeature};
use super::mean::MeanConstraint;
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::memory;
use crate::problem::Problem;
use crate::temperatures::validate_levels;
use engine::Engine;
use solve::Scaled;
use std::sync::OnceLock;

/// A moment-constrained problem on a tabulated hierarchy.
///
/// ```
/// # use hmaxent::{Hierarchy, Problem, constraints::{ConvexSettings, MomentProblem, Status}};
/// // Jaynes' die with mean 4.5 as one feature.
/// let h = Hierarchy::flat(6)?;
/// let p = Problem::new(&h, &[0.0; 6])?;
/// let phi = vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]];
/// let fit = MomentProblem::new(&p, &phi, &[4.5], &[1.0])?.solve(&ConvexSettings::default())?;
/// assert_eq!(fit.status, Status::Converged);
/// assert!((fit.multipliers.unwrap()[0] + 0.371048938081033338).abs() < 1e-12);
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MomentProblem<'a> {
    problem: &'a Problem,
    /// The number `m` of features.
    n_features: usize,
    /// `phi_i` in block order, then the total loss when a mean constraint is given.
    rows: Vec<Row>,
    targets: Vec<f64>,
    senses: Vec<Sense>,
    weights: Vec<f64>,
    mean: Option<MeanConstraint>,
    /// Allowed level-0 states, block order.
    allowed: Vec<bool>,
    /// The rows and targets as the solver sees them, made on first use.
    scaled: OnceLock<Scaled>,
}

impl<'a> MomentProblem<'a> {
    /// Features `phi_i` (user order, `n_0` finite numbers each) with targets `c_i` (all
    /// `=` until [`MomentProblem::with_senses`]) and level weights `w` on `problem`. Only the
    /// forbidden states of `problem` (loss `+inf`, forbidden ancestors, zero reference)
    /// matter, plus its reference; its loss values enter only through
    /// [`MomentProblem::with_mean`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::InvalidValue`] for non-finite features, targets
    /// or bad weights, [`Error::InvalidInput`] for more than [`MAX_FEATURES`] features,
    /// [`Error::TooLarge`] for tables beyond the memory budget ([`crate::memory`]).
    pub fn new<V: AsRef<[f64]>>(
        problem: &'a Problem,
        features: &[V],
        targets: &[f64],
        weights: &[f64],
    ) -> Result<Self> {
        let h = problem.hierarchy();
        let rows = features.iter().map(|phi| phi.as_ref());
        Self::from_rows(
            problem,
            rows,
            |i, phi| Row::dense(h, i, phi),
            targets,
            weights,
        )
    }

    /// [`MomentProblem::new`] with features given by their nonzero entries: memory and
    /// work per sweep grow with the supports of the features, not with `m n_0`.
    ///
    /// # Errors
    /// As [`MomentProblem::new`], and [`Error::InvalidValue`] for an index out of range or
    /// listed twice in one feature.
    pub fn sparse(
        problem: &'a Problem,
        features: &[SparseFeature],
        targets: &[f64],
        weights: &[f64],
    ) -> Result<Self> {
        let h = problem.hierarchy();
        Self::from_rows(
            problem,
            features,
            |i, phi| Row::sparse(h, i, phi),
            targets,
            weights,
        )
    }

    /// The problem with features `row(i, features[i])`, validated.
    fn from_rows<F>(
        problem: &'a Problem,
        features: impl IntoIterator<Item = F>,
        row: impl Fn(usize, F) -> Result<Row>,
        targets: &[f64],
        weights: &[f64],
    ) -> Result<Self> {
        let rows = features
            .into_iter()
            .enumerate()
            .map(|(i, phi)| row(i, phi))
            .collect::<Result<Vec<_>>>()?;
        let h = problem.hierarchy();
        validate_levels("weights", weights)?;
        if weights.len() != h.levels() {
            return Err(Error::length("weights", weights.len(), h.levels()));
        }
        if targets.len() != rows.len() {
            return Err(Error::length("targets", targets.len(), rows.len()));
        }
        if let Some(i) = targets.iter().position(|c| !c.is_finite()) {
            return Err(Error::InvalidValue {
                field: "targets".to_string(),
                index: i,
                value: targets[i],
                reason: "targets must be finite",
            });
        }
        check_size(h, FeatureShape::of(&rows))?;
        let allowed = problem
            .allowed_total_loss()
            .iter()
            .map(|f| f.is_finite())
            .collect();
        Ok(Self {
            problem,
            n_features: rows.len(),
            senses: vec![Sense::Eq; rows.len()],
            rows,
            targets: targets.to_vec(),
            weights: weights.to_vec(),
            mean: None,
            allowed,
            scaled: OnceLock::new(),
        })
    }

    /// The senses of the feature constraints (one per feature).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`].
    pub fn with_senses(mut self, senses: &[Sense]) -> Result<Self> {
        let m = self.n_features;
        if senses.len() != m {
            return Err(Error::length("sense", senses.len(), m));
        }
        self.senses[..m].copy_from_slice(senses);
        Ok(self)
    }

    /// One more constraint on the expected total loss `E[f] = c_0` (or `<= c_0`), with its
    /// own multiplier `lambda` (the problem's loss and potentials define `f`).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a non-finite `c_0`; [`Error::InvalidInput`] if a mean
    /// constraint was already given.
    pub fn with_mean(mut self, constraint: MeanConstraint) -> Result<Self> {
        let c = constraint.target();
        if !c.is_finite() {
            return Err(Error::InvalidSetting {
                field: "mean",
                value: c,
                reason: "must be finite",
            });
        }
        if self.mean.is_some() {
            return Err(Error::InvalidInput(
                "a moment problem takes at most one mean constraint".to_string(),
            ));
        }
        let f: Vec<f64> = self
            .problem
            .allowed_total_loss()
            .into_iter()
            .map(|x| if x.is_finite() { x } else { 0.0 })
            .collect();
        self.rows.push(Row::Dense(f));
        self.scaled = OnceLock::new();
        self.targets.push(c);
        self.senses.push(match constraint {
            MeanConstraint::Equal(_) => Sense::Eq,
            MeanConstraint::AtMost(_) => Sense::Le,
        });
        self.mean = Some(constraint);
        Ok(self)
    }

    /// The dual's engine on the solver's rows and targets, over the states of `support`.
    fn engine<'s>(&'s self, scaled: &'s Scaled, support: Vec<bool>) -> Engine<'s> {
        Engine::new(
            self.problem,
            &self.weights,
            &scaled.rows,
            &scaled.targets,
            support,
        )
    }

    /// The dual `D(theta) = theta·c - F(theta)`, its gradient and exact Hessian at `theta`
    /// (one entry per constraint: the features, then the mean constraint if any), on all
    /// allowed states. Costs one `f64` sweep and the multilevel covariance of its
    /// marginals (about `m (m + 3) / 2` multiply-adds per state).
    ///
    /// The sweep runs on the centred and scaled rows, `theta'_i = s_i theta_i`; the results
    /// are mapped back: `grad_i = s_i grad'_i`, `Hess_ij = s_i s_j Hess'_ij`,
    /// `E phi_i = o_i + s_i E phi'_i`, `F = F' + theta·o`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`]; [`Error::InvalidValue`] for a non-finite `theta`;
    /// [`Error::AllForbidden`].
    pub fn dual(&self, theta: &[f64]) -> Result<DualEvaluation> {
        if theta.len() != self.rows.len() {
            return Err(Error::length("theta", theta.len(), self.rows.len()));
        }
        if let Some(i) = theta.iter().position(|t| !t.is_finite()) {
            return Err(Error::InvalidValue {
                field: "theta".to_string(),
                index: i,
                value: theta[i],
                reason: "must be finite",
            });
        }
        let scaled = self.scaled();
        let map = &scaled.map;
        let e = self.engine(scaled, self.allowed.clone());
        let (ev, _) = e.newton_eval(&map.to_solver(theta))?;
        let mm = theta.len();
        let s = &map.scale;
        let offset: f64 = theta.iter().zip(&map.offset).map(|(t, o)| t * o).sum();
        Ok(DualEvaluation {
            value: ev.value,
            gradient: ev.gradient.iter().zip(s).map(|(g, s)| g * s).collect(),
            hessian: (0..mm * mm)
                .map(|k| ev.hessian[k] * s[k / mm] * s[k % mm])
                .collect(),
            expected: (0..mm)
                .map(|i| map.value_to_user(i, ev.expected[i]))
                .collect(),
            free_energy: ev.free_energy + offset,
        })
    }
}

/// The most moment features of one problem: each Newton step diagonalises the `m x m`
/// Hessian (`O(m^3)`: about 0.13 s at `m = 512`, 1.4 s at 1,000 and 15 s at 2,000 on the
/// machine of docs/performance.md), and a solve takes a few to a few dozen steps.
pub const MAX_FEATURES: usize = 512;

/// The shape of a problem's features, for [`check_size`]: rows given densely, rows given
/// by their nonzero entries, and those rows' stored entries in all.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FeatureShape {
    pub dense: usize,
    pub sparse: usize,
    pub entries: usize,
}

impl FeatureShape {
    /// The shape of `rows`.
    pub(crate) fn of(rows: &[Row]) -> Self {
        rows.iter().fold(Self::default(), |s, r| match r {
            Row::Dense(_) => Self {
                dense: s.dense + 1,
                ..s
            },
            Row::Sparse { index, .. } => Self {
                sparse: s.sparse + 1,
                entries: s.entries.saturating_add(index.len()),
                ..s
            },
        })
    }
}

/// Refuses moment constraints of `shape` on `h` that are too many ([`MAX_FEATURES`]) or
/// whose tables would not fit in memory, before anything of their size is allocated
/// ([`crate::memory`]). Counted in states of [`memory::BYTES_PER_STATE`] bytes:
/// - an `f64` solve's tables and its marginals: 1 per state;
/// - each dense row (a mean constraint included) and its renormalisation `G_k` on two
///   adjacent levels at a time: half a state per state (about a fifth of it is used on a
///   binary tree; a scaled copy of the row and the feasibility LP's column are within it);
/// - each stored entry of a sparse row (the row, its scaled copy, `G_k` on two levels, the
///   blocks it touches): 1;
/// - the `m x m` Hessian and the eigen-decomposition's matrices (six of that size): `m^2 / 2`;
/// - the feasibility LP: [`LP_STATES_PER_LEAF`] per level-0 state.
///
/// # Errors
/// [`Error::TooLarge`] naming the limit.
pub(crate) fn check_size(h: &Hierarchy, shape: FeatureShape) -> Result<()> {
    let m = shape.dense + shape.sparse;
    if m > MAX_FEATURES {
        return Err(Error::InvalidInput(format!(
            "{m} moment features exceed the limit of {MAX_FEATURES} (each Newton step \
             diagonalises an m x m matrix)"
        )));
    }
    let states: usize = h.sizes().iter().sum();
    memory::check_tabulated(
        || format!("moment constraints ({m} features) on this hierarchy"),
        counted_states(states, h.size(0), shape),
        h.levels(),
    )
}

/// The states [`check_size`] charges for features of `shape` on a hierarchy of `states`
/// states in all, `n0` of them on level 0.
fn counted_states(states: usize, n0: usize, shape: FeatureShape) -> usize {
    let m = shape.dense + shape.sparse;
    states
        .saturating_mul(shape.dense + 3)
        .saturating_div(2)
        .saturating_add(shape.entries)
        .saturating_add(m * m / 2)
        .saturating_add(n0.saturating_mul(LP_STATES_PER_LEAF))
}

/// The feasibility LP's memory per level-0 state, in units of [`memory::BYTES_PER_STATE`]
/// (measured: a binary tree of `2^22` leaves with three features peaks at 3.9 GB in all,
/// about 930 bytes per leaf, of which the LP takes about 350).
const LP_STATES_PER_LEAF: usize = 6;

#[cfg(test)]
mod tests {
    use super::*;

    /// Sparse features are charged by their stored entries, dense ones by the states they
    /// renormalise, and more than [`MAX_FEATURES`] are refused by name whatever their size.
    #[test]
    fn the_size_check_counts_sparse_features_by_their_entries() {
        // A binary tree of 2^19 leaves.
        let (states, n0) = ((1 << 20) - 1, 1 << 19);
        let sparse = FeatureShape {
            dense: 0,
            sparse: 100,
            entries: 800,
        };
        // 1.5 per state, 6 per leaf (the LP), the entries, the Hessian.
        let want = states * 3 / 2 + 6 * n0 + 800 + 5_000;
        assert_eq!(counted_states(states, n0, sparse), want);
        let dense = FeatureShape {
            dense: 100,
            ..FeatureShape::default()
        };
        let want = states * 103 / 2 + 6 * n0 + 5_000;
        assert_eq!(counted_states(states, n0, dense), want);
        let small = Hierarchy::complete(2, 3).unwrap();
        let many = FeatureShape {
            dense: 0,
            sparse: MAX_FEATURES + 1,
            entries: MAX_FEATURES + 1,
        };
        let e = check_size(&small, many).unwrap_err().to_string();
        assert!(
            e.contains("513 moment features") && e.contains("512"),
            "{e}"
        );
        let most = FeatureShape {
            sparse: MAX_FEATURES,
            entries: MAX_FEATURES,
            ..many
        };
        assert!(check_size(&small, most).is_ok());
    }
}
