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
//! order of the dual, the feasibility LP and the acceptance test), `settings`, `solution`.
//!
//! Feasibility is settled before any answer is returned, and every answer is checked: it is
//! reported as converged only when each target holds to `9 tol (1 + spread_i)` and the
//! duality gap to `9 tol (1 + |objective|)` (`tol = 1e-10` by default).

mod balance;
mod covariance;
mod engine;
mod lbfgs;
mod settings;
mod solution;
mod solve;
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
    /// or bad weights.
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
        check_size(h, rows.len())?;
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
        let e = Engine::new(
            self.problem,
            &self.weights,
            &scaled.rows,
            &scaled.targets,
            self.allowed.clone(),
        );
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

/// Refuses `features` moment constraints on `h` whose tables would not fit in memory, before
/// anything of their size is allocated ([`crate::memory`]): the Hessian's renormalised
/// features take one `f64` per constraint (a mean constraint included) on two adjacent levels
/// at a time, beside an `f64` solve's tables; up to 32 constraints, each is counted as half a
/// state (an ample bound: about a fifth of that is used on a binary tree). The feasibility
/// LP (clarabel, one variable per level-0 state) adds [`LP_STATES_PER_LEAF`] states' worth
/// per level-0 state.
///
/// # Errors
/// [`Error::TooLarge`] naming the limit.
pub(crate) fn check_size(h: &Hierarchy, features: usize) -> Result<()> {
    let directions = (features + 1).min(32);
    let states: usize = h.sizes().iter().sum();
    let lp = h.size(0).saturating_mul(LP_STATES_PER_LEAF);
    memory::check_tabulated(
        || format!("moment constraints ({features} features) on this hierarchy"),
        (states.saturating_mul(directions + 2) / 2).saturating_add(lp),
        h.levels(),
    )
}

/// The feasibility LP's memory per level-0 state, in units of [`memory::BYTES_PER_STATE`]
/// (measured: a binary tree of `2^22` leaves with three features peaks at 3.9 GB in all,
/// about 930 bytes per leaf, of which the LP takes about 350).
const LP_STATES_PER_LEAF: usize = 6;
