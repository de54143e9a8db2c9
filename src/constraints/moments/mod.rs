//! Hierarchical maximum entropy under vector moment constraints (SPEC §2.3, §5).
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
//! over `theta_i >= 0` on `<=` rows and `theta_i <= 0` on `>=` rows. The Hessian is exact: one
//! sweep with [`Dual`] scalars whose tangent `i` is `d/dtheta_i` carries every column at once
//! (up to 32; more take one sweep per 32). Projected Newton with an Armijo line search solves
//! the dual; with more than 64 constraints, all equalities, `argmin`'s L-BFGS runs first (one
//! `f64` sweep per evaluation) and Newton polishes its point.
//!
//! Feasibility is settled before any answer is returned. The dual runs first, for at most 30
//! Newton iterations: if it converges and a small linear correction of its `P*` is an exactly
//! feasible distribution charging every allowed state (more than the LP's interior margin),
//! that distribution proves that the targets lie in the relative interior, and the dual's
//! answer is returned. Otherwise the feasibility LP
//! ([`super::feasibility::locate`]) decides: it rejects infeasible targets with a certificate
//! and replaces boundary targets by the problem on their face, where the dual has a finite
//! minimiser. No iteration is left to diverge: the probe is bounded, and after the LP the dual
//! always has a minimiser.

use std::cell::{Cell, RefCell};

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::feasibility::{locate_rows, Location, INTERIOR_MARGIN};
use super::features::{Row, SparseFeature};
use super::mean::MeanConstraint;
pub use super::status::Status;
use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::numerics::{sum_pairs, Real};
use crate::problem::Problem;
use crate::rg::pool::{BufferPool, Pools};
use crate::rg::tabulated::Tabulated;
use crate::rg::{reconstruct, sweep};
use crate::solution::Solution;
use crate::temperatures::{validate_levels, Temperatures};

/// The sense of one moment constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// `E[phi_i] = c_i` (multiplier free).
    Eq,
    /// `E[phi_i] <= c_i` (multiplier `>= 0`).
    Le,
    /// `E[phi_i] >= c_i` (multiplier `<= 0`).
    Ge,
}

/// Settings of the convex solvers, validated once (STYLE §3).
///
/// ```
/// # use hmaxent::constraints::ConvexSettings;
/// let s = ConvexSettings::default().with_gradient_tolerance(1e-12)?.with_max_iterations(40)?;
/// assert_eq!(s.max_iterations(), 40);
/// assert!(ConvexSettings::default().with_gradient_tolerance(-1.0).is_err());
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvexSettings {
    gradient_tolerance: f64,
    max_iterations: usize,
    feasibility_check: bool,
}

impl Default for ConvexSettings {
    /// Gradient tolerance `1e-10` (relative: `‖grad‖ <= tol (1 + ‖c‖)`), 50 iterations,
    /// feasibility verified.
    fn default() -> Self {
        Self {
            gradient_tolerance: 1e-10,
            max_iterations: 50,
            feasibility_check: true,
        }
    }
}

impl ConvexSettings {
    /// Stop when the projected gradient `‖c - E phi‖` (over the active constraints) is at
    /// most `tol * (1 + ‖c‖)`. Default `1e-10`.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] unless `0 < tol < 1` (finite).
    pub fn with_gradient_tolerance(mut self, tol: f64) -> Result<Self> {
        self.gradient_tolerance = super::status::gradient_tolerance(tol)?;
        Ok(self)
    }

    /// At most this many outer (Newton) iterations. Default 50.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for 0.
    pub fn with_max_iterations(mut self, n: usize) -> Result<Self> {
        self.max_iterations = super::status::max_iterations(n)?;
        Ok(self)
    }

    /// Whether feasibility is verified (default `true`, SPEC §5): an interior solution is
    /// returned only with a proof of interior built from the converged dual (a feasible
    /// distribution charging every allowed state); otherwise the feasibility LP decides
    /// between interior, face and infeasible (with a certificate). The LP costs far more than
    /// the dual on large problems, but runs only when the targets are infeasible, on or very
    /// near a face, or the dual needs more than 30 iterations.
    ///
    /// Turn it off only when the targets are known to lie in the relative interior: infeasible
    /// or boundary targets are then not detected; the iteration budget still bounds the run,
    /// which ends with [`Status::MaxIterations`] (or converges to a point near the face).
    pub fn with_feasibility_check(mut self, on: bool) -> Self {
        self.feasibility_check = on;
        self
    }

    /// Whether feasibility is verified.
    pub fn feasibility_check(&self) -> bool {
        self.feasibility_check
    }

    /// The gradient tolerance.
    pub fn gradient_tolerance(&self) -> f64 {
        self.gradient_tolerance
    }

    /// The iteration budget.
    pub fn max_iterations(&self) -> usize {
        self.max_iterations
    }
}

/// The solution of a moment-constrained problem.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MomentSolution {
    /// `P*` and its statistics (expected losses are those of the problem's own loss).
    pub solution: Solution,
    /// How the solve ended.
    pub status: Status,
    /// `true` when the targets lie on the boundary and the face problem was solved.
    pub boundary: bool,
    /// `theta` of the Lagrangian `sum_k w_k H - theta·(E phi - c) - lambda (E f - c_0)`:
    /// `>= 0` on an active `<=`, `<= 0` on an active `>=`, `0` on a slack inequality;
    /// `None` on the boundary.
    pub multipliers: Option<Vec<f64>>,
    /// `lambda` of the mean constraint, when one was given (`None` on the boundary).
    pub mean_multiplier: Option<f64>,
    /// `sum_k w_k H(Y_k)` at the optimum (with a reference: `-sum_k w_k D(P_k || Q_k)`).
    pub objective: f64,
    /// `F` of the loss `theta·phi (+ lambda f)` at temperatures `w` (`None` on the boundary).
    pub free_energy: Option<f64>,
    /// `E_P*[phi_i]`, `i = 1..m`.
    pub expected_features: Vec<f64>,
    /// Outer iterations of the dual optimiser.
    pub iterations: usize,
    /// Engine sweeps in all (line searches and the final reconstruction included).
    pub sweeps: usize,
    /// The projected gradient norm `‖c - E phi‖` over the active constraints.
    pub gradient_norm: f64,
    /// `D(theta) - objective = theta·(c - E phi) (+ lambda (c_0 - E f))`, computed as the
    /// difference of the dual value (from `F`) and the primal value (from the entropies).
    pub duality_gap: f64,
}

impl MomentSolution {
    /// This solution if it converged ([`Status::is_converged`]); otherwise
    /// [`Error::NotConverged`] with the iterations used and the final gradient norm.
    ///
    /// # Errors
    /// [`Error::NotConverged`] for [`Status::MaxIterations`].
    pub fn converged(self) -> Result<Self> {
        let (iterations, residual) = (self.iterations, self.gradient_norm);
        self.status.check("the moment dual", iterations, residual)?;
        Ok(self)
    }
}

/// The dual function at one point (on all allowed states).
#[derive(Debug, Clone)]
pub struct DualEvaluation {
    /// `D(theta) = theta·c - F(theta)`.
    pub value: f64,
    /// `c - E_theta[phi]`.
    pub gradient: Vec<f64>,
    /// `Hess D = -dE_theta[phi_j]/dtheta_i`, row-major `M x M`.
    pub hessian: Vec<f64>,
    /// `E_theta[phi]`.
    pub expected: Vec<f64>,
    /// `F(theta)`.
    pub free_energy: f64,
}

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
        self.targets.push(c);
        self.senses.push(match constraint {
            MeanConstraint::Equal(_) => Sense::Eq,
            MeanConstraint::AtMost(_) => Sense::Le,
        });
        self.mean = Some(constraint);
        Ok(self)
    }

    fn engine(&self, allowed: Vec<bool>) -> Engine<'_> {
        let h = self.problem.hierarchy();
        let reference = self.problem.reference_levels();
        // -w_k log Q_k (SPEC §4), +inf where Q_k = 0.
        let term = |k: usize, q: &[f64]| -> Vec<f64> {
            q.iter()
                .map(|&q| {
                    if q == 0.0 {
                        f64::INFINITY
                    } else if self.weights[k] > 0.0 {
                        -self.weights[k] * q.ln()
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let base: Vec<f64> = match reference {
            Some(q) => term(0, &q[0]),
            None => vec![0.0; h.size(0)],
        };
        let potentials: Vec<Option<Vec<f64>>> = match reference {
            Some(q) => (1..h.levels()).map(|k| Some(term(k, &q[k]))).collect(),
            None => Vec::new(),
        };
        let mut cumulative = Vec::with_capacity(self.weights.len());
        let mut s = 0.0;
        for w in &self.weights {
            s += w;
            cumulative.push(s);
        }
        Engine {
            hierarchy: h,
            allowed,
            rows: &self.rows,
            targets: &self.targets,
            base,
            potentials,
            cumulative,
            pools: Pools::default(),
        }
    }

    /// The dual `D(theta) = theta·c - F(theta)`, its gradient and exact Hessian at `theta`
    /// (one entry per constraint: the features, then the mean constraint if any), on all
    /// allowed states. Costs one sweep with dual numbers (more than one above 32
    /// constraints).
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
        let e = self.engine(self.allowed.clone());
        let (ev, _) = e.newton_eval(theta)?;
        Ok(DualEvaluation {
            value: ev.value,
            gradient: ev.gradient,
            hessian: ev.hessian,
            expected: ev.expected,
            free_energy: ev.free_energy,
        })
    }

    /// Solves the problem: projected Newton on the dual with the exact Hessian and an Armijo
    /// line search along the projection arc (L-BFGS first above 64 equality constraints);
    /// the feasibility LP when the dual does not certify an interior solution (module docs).
    ///
    /// # Errors
    /// [`Error::InfeasibleMoments`] (with a separating direction) when no distribution meets
    /// the constraints, [`Error::AllForbidden`], [`Error::Numerical`] if the LP fails.
    pub fn solve(&self, settings: &ConvexSettings) -> Result<MomentSolution> {
        if self.rows.is_empty() || !settings.feasibility_check {
            return self.solve_on(self.allowed.clone(), false, settings, Spent::default());
        }
        // The dual first. A converged dual is accepted only with a proof that the targets
        // lie in the relative interior: an exactly feasible distribution with full support,
        // built from its P* (`interior_witness`). Anything else (no convergence within the
        // probe's budget, no such witness, a numerical failure on the way to a face) goes to
        // the LP, and an interior verdict then resumes Newton from the probe's point.
        let probe = ConvexSettings {
            max_iterations: settings.max_iterations.min(PROBE_ITERATIONS),
            ..*settings
        };
        let spent = match self.solve_on(self.allowed.clone(), false, &probe, Spent::default()) {
            Ok(fit) if fit.status == Status::Converged && self.interior_witness(&fit) => {
                return Ok(fit);
            }
            Ok(fit) => Spent {
                sweeps: fit.sweeps,
                iterations: fit.iterations,
                start: fit.multipliers.map(|mut t| {
                    t.extend(fit.mean_multiplier);
                    t
                }),
            },
            Err(_) => Spent::default(),
        };
        // The LP works on the allowed states only.
        match locate_rows(&self.rows, &self.allowed, &self.targets, &self.senses)? {
            Location::Interior => self.solve_on(self.allowed.clone(), false, settings, spent),
            Location::Face(support) => {
                let spent = Spent {
                    start: None,
                    ..spent
                };
                self.solve_on(support, true, settings, spent)
            }
        }
    }

    /// Whether the converged `fit` proves that the targets lie in the relative interior of
    /// the attainable set, by the LP's own standard (proofs/convex_dual.md §3).
    ///
    /// `p = P*_0` meets the targets up to the residual `r = c - E_p phi` on the tight rows
    /// `T` (equalities and inequalities with a nonzero multiplier). With
    /// `y = Cov_p(phi_T)^+ r_T`, the distribution `p'(x) = p(x) (1 + (phi_T(x) - E_p phi_T)·y)`
    /// sums to 1 and has `E_p' phi = E_p phi + Cov_p(phi, phi_T) y`: it meets the tight rows
    /// exactly (to the LP's feasibility tolerance) and keeps a slack row slack if the shift
    /// does not cross its target. If `|(phi_T(x) - E_p phi_T)·y| <= 1/2` everywhere, then
    /// `p' >= p / 2`, and if that exceeds the LP's interior margin on every allowed state,
    /// `p'` is the full-support feasible point the LP would find.
    fn interior_witness(&self, fit: &MomentSolution) -> bool {
        let p = fit.solution.marginal_block(0);
        let allowed = &self.allowed;
        let n = allowed.iter().filter(|&&a| a).count();
        let floor = INTERIOR_MARGIN / n as f64;
        if allowed
            .iter()
            .zip(p)
            .any(|(&a, &px)| a && px / 2.0 <= floor)
        {
            return false;
        }
        let mut theta = fit.multipliers.clone().unwrap_or_default();
        theta.extend(fit.mean_multiplier);
        let mm = self.rows.len();
        if theta.len() != mm {
            return false;
        }
        let mean: Vec<f64> = self.rows.iter().map(|r| r.dot(p)).collect();
        let cov = covariance(&self.rows, p, &mean);
        let tight: Vec<usize> = (0..mm)
            .filter(|&i| self.senses[i] == Sense::Eq || theta[i] != 0.0)
            .collect();
        let r: Vec<f64> = tight.iter().map(|&i| self.targets[i] - mean[i]).collect();
        let k = tight.len();
        // Solve Cov_TT y = r in the scaled variables of the correlation matrix, so that rows
        // of very different scales (1e6 and 1e-6) are resolved alike; a row constant on the
        // support (zero variance) cannot be corrected (y = 0 there) and must already be met.
        let sd: Vec<f64> = tight
            .iter()
            .map(|&i| cov[i * mm + i].max(0.0).sqrt())
            .collect();
        let live: Vec<usize> = (0..k).filter(|&a| sd[a] > 0.0).collect();
        let mut y = vec![0.0; mm];
        if !live.is_empty() {
            let kl = live.len();
            let corr = DMatrix::from_fn(kl, kl, |a, b| {
                let (i, j) = (live[a], live[b]);
                cov[tight[i] * mm + tight[j]] / (sd[i] * sd[j])
            });
            let eig = SymmetricEigen::new(corr);
            let top = eig.eigenvalues.iter().fold(0.0f64, |a, &l| a.max(l.abs()));
            let rv = DVector::from_fn(kl, |a, _| r[live[a]] / sd[live[a]]);
            let coeff = eig.eigenvectors.transpose() * &rv;
            let mut z = DVector::zeros(kl);
            for (j, &l) in eig.eigenvalues.iter().enumerate() {
                if l > 1e-13 * top && l > 0.0 {
                    z += eig.eigenvectors.column(j) * (coeff[j] / l);
                }
            }
            for (a, &i) in live.iter().enumerate() {
                y[tight[i]] = z[a] / sd[i];
            }
        }
        // The shift of every moment, Cov y; each tight row must land on its target to the
        // LP's feasibility tolerance relative to its own magnitude, the slack rows must stay
        // on their side.
        for i in 0..mm {
            let shifted = mean[i] + (0..mm).map(|j| cov[i * mm + j] * y[j]).sum::<f64>();
            let ok = match (self.senses[i], tight.contains(&i)) {
                (_, true) => {
                    // Relative to the row's spread (an offset common to all states carries
                    // no information), plus the rounding of sums of its values.
                    let (lo, hi) = self.rows[i].range();
                    let rounding =
                        64.0 * f64::EPSILON * (lo.abs().max(hi.abs()) + self.targets[i].abs());
                    (shifted - self.targets[i]).abs() <= LP_FEASIBILITY * (1.0 + hi - lo) + rounding
                }
                (Sense::Le, false) => shifted <= self.targets[i],
                (Sense::Ge, false) => shifted >= self.targets[i],
                (Sense::Eq, false) => unreachable!("equalities are tight"),
            };
            if !ok {
                return false;
            }
        }
        // The relative change (phi(x) - E phi)·y of every allowed state's mass.
        // Dense rows are centred state by state (no cancellation across large offsets);
        // a sparse row adds its off-support value -E phi_i y_i to every state once.
        let mut change = vec![0.0; p.len()];
        let mut offset = 0.0;
        for ((row, &yi), &m) in self.rows.iter().zip(&y).zip(&mean) {
            match row {
                _ if yi == 0.0 => {}
                Row::Dense(v) => {
                    for (c, &v) in change.iter_mut().zip(v) {
                        *c += yi * (v - m);
                    }
                }
                Row::Sparse { .. } => {
                    offset -= yi * m;
                    row.add_scaled(yi, &mut change);
                }
            }
        }
        allowed
            .iter()
            .zip(&change)
            .all(|(&a, &v)| !a || (v + offset).abs() <= 0.5)
    }

    /// The dual on `support` (a face when `boundary`), then the returned `P*`, after what a
    /// probe `spent` (its sweeps and iterations are added; Newton starts at its point).
    fn solve_on(
        &self,
        support: Vec<bool>,
        boundary: bool,
        settings: &ConvexSettings,
        spent: Spent,
    ) -> Result<MomentSolution> {
        let engine = self.engine(support);
        let mut run = match spent.start {
            Some(start) if start.len() == self.senses.len() => {
                newton(&engine, &self.senses, settings, start)?
            }
            _ => optimise(&engine, &self.senses, settings)?,
        };
        run.iterations += spent.iterations;
        let mut sweeps = spent.sweeps + run.sweeps;

        // The returned P*: Theorem A/B for theta·phi at w on the support (one more sweep).
        let n0 = self.problem.hierarchy().size(0);
        let mut loss = vec![0.0; n0];
        Row::add_combination(&self.rows, &run.theta, &mut loss);
        for (l, &allowed) in loss.iter_mut().zip(&engine.allowed) {
            if !allowed {
                *l = f64::INFINITY;
            }
        }
        let w = Temperatures::new(&self.weights)?;
        let solution = self
            .problem
            .face(loss)?
            .solve(&w)?
            .with_expected_losses(self.problem);
        sweeps += 1;

        let p0 = solution.marginal_block(0);
        let mut expected: Vec<f64> = self.rows[..self.n_features]
            .iter()
            .map(|phi| phi.dot(p0))
            .collect();
        let expected_features = expected.clone();
        if self.mean.is_some() {
            expected.push(solution.expected_total_loss());
        }
        let gradient: Vec<f64> = self
            .targets
            .iter()
            .zip(&expected)
            .map(|(c, e)| c - e)
            .collect();
        let gradient_norm = norm(&projected_residual(&run.theta, &gradient, &self.senses));
        let objective = match solution.relative_entropies() {
            Some(d) => -self.weights.iter().zip(d).map(|(w, d)| w * d).sum::<f64>(),
            None => solution.weighted_entropy(&self.weights),
        };
        let dual_value = dot(&run.theta, &self.targets) - solution.free_energy();
        let duality_gap = dual_value - objective;
        let status = match (run.converged, boundary) {
            (false, _) => Status::MaxIterations,
            (true, true) => Status::Boundary,
            (true, false) => Status::Converged,
        };
        let m = self.n_features;
        let (multipliers, mean_multiplier, free_energy) = if boundary {
            (None, None, None)
        } else {
            (
                Some(run.theta[..m].to_vec()),
                self.mean.map(|_| run.theta[m]),
                Some(solution.free_energy()),
            )
        };
        Ok(MomentSolution {
            solution,
            status,
            boundary,
            multipliers,
            mean_multiplier,
            objective,
            free_energy,
            expected_features,
            iterations: run.iterations,
            sweeps,
            gradient_norm,
            duality_gap,
        })
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Projection onto the sign constraints of the multipliers.
fn project(theta: &mut [f64], senses: &[Sense]) {
    for (t, s) in theta.iter_mut().zip(senses) {
        match s {
            Sense::Eq => {}
            Sense::Le => *t = t.max(0.0),
            Sense::Ge => *t = t.min(0.0),
        }
    }
}

/// `theta - P(theta - grad)`: the gradient on free and `=` rows, zero on an inequality
/// whose multiplier sits at 0 and whose constraint is slack.
fn projected_residual(theta: &[f64], grad: &[f64], senses: &[Sense]) -> Vec<f64> {
    let mut step: Vec<f64> = theta.iter().zip(grad).map(|(t, g)| t - g).collect();
    project(&mut step, senses);
    theta.iter().zip(&step).map(|(t, s)| t - s).collect()
}

/// The sweep engine of one moment problem on a set of allowed states.
struct Engine<'a> {
    hierarchy: &'a Hierarchy,
    allowed: Vec<bool>,
    rows: &'a [Row],
    targets: &'a [f64],
    /// `-w_0 log Q_0` (zeros without a reference), block order.
    base: Vec<f64>,
    /// `-w_k log Q_k`, `k = 1..d` (empty without a reference).
    potentials: Vec<Option<Vec<f64>>>,
    cumulative: Vec<f64>,
    /// Tables recycled between passes (one pool per scalar type).
    pools: Pools,
}

/// One evaluation of the dual with its exact Hessian.
struct Evaluation {
    value: f64,
    gradient: Vec<f64>,
    hessian: Vec<f64>,
    expected: Vec<f64>,
    free_energy: f64,
}

impl Engine<'_> {
    /// One sweep + reconstruction for the level-0 loss `g0 = make(theta·phi + base)`
    /// (block order, scalars `T`; `make` receives the `f64` loss, `+inf` off the allowed
    /// states, and writes `g0` into an empty vector): `F` and `read(P*_0)`. The tables are
    /// recycled from pass to pass.
    fn pass<T: Real, R>(
        &self,
        theta: &[f64],
        make: impl FnOnce(&[f64], &mut Vec<T>),
        read: impl FnOnce(&[T]) -> R,
    ) -> Result<(T, R)> {
        let n = self.hierarchy.size(0);
        // The f64 loss: base, then + theta_i phi_i row by row (+inf stays +inf).
        let mut loss = self.pools.with(|pool: &BufferPool<f64>| pool.take(n));
        loss.clear();
        loss.extend(
            self.base
                .iter()
                .zip(&self.allowed)
                .map(|(&b, &a)| if a { b } else { f64::INFINITY }),
        );
        Row::add_combination(self.rows, theta, &mut loss);
        let potentials: Vec<Option<Vec<T>>> = self
            .potentials
            .iter()
            .map(|u| u.as_ref().map(|u| u.iter().map(|&v| T::of(v)).collect()))
            .collect();
        let cumulative: Vec<T> = self.cumulative.iter().map(|&s| T::of(s)).collect();
        let out = self.pools.with(|pool: &BufferPool<T>| {
            let mut g0 = pool.take(n);
            g0.clear();
            make(&loss, &mut g0);
            let engine = Tabulated::new(self.hierarchy, &potentials).with_pool(pool);
            let flow = sweep(&engine, &g0, &cumulative);
            pool.give(g0);
            let flow = flow?;
            let free_energy = flow.free_energy;
            flow.losses.into_iter().for_each(|g| pool.give(g));
            let rec = reconstruct(&engine, flow.conditionals);
            let out = read(&rec.marginals[0]);
            rec.marginals.into_iter().for_each(|p| pool.give(p));
            Ok((free_energy, out))
        });
        self.pools.with(|pool: &BufferPool<f64>| pool.give(loss));
        out
    }

    /// The `f64` loss as it is.
    fn copy(loss: &[f64], g0: &mut Vec<f64>) {
        g0.extend_from_slice(loss);
    }

    /// Dual value, gradient and the Hessian columns `start..start + N` (one dual-number
    /// sweep: tangent `k` is `d/dtheta_{start + k}`). The level-0 loss and the expectations
    /// are linear in the features, so their tangents are written directly.
    fn dual_pass<const N: usize>(
        &self,
        theta: &[f64],
        start: usize,
        hessian: &mut [f64],
    ) -> Result<(f64, Vec<f64>)> {
        let mm = theta.len();
        let width = N.min(mm - start);
        // Tangent k of g0(x) is phi_{start+k}(x) where g0(x) is finite.
        // All-dense features are read state by state (one pass over the tables); sparse
        // ones feature by feature (their entries only).
        let dense = Row::all_dense(self.rows);
        let make = |loss: &[f64], g0: &mut Vec<Dual<N>>| match &dense {
            Some(rows) => g0.extend(loss.iter().enumerate().map(|(x, &v)| {
                let mut d = Dual::constant(v);
                if v.is_finite() {
                    for (e, row) in d.eps.iter_mut().zip(&rows[start..start + width]) {
                        *e = row[x];
                    }
                }
                d
            })),
            None => {
                g0.extend(loss.iter().map(|&v| Dual::constant(v)));
                for (k, row) in self.rows[start..start + width].iter().enumerate() {
                    row.for_each(|x, v| {
                        if g0[x].re.is_finite() {
                            g0[x].eps[k] = v;
                        }
                    });
                }
            }
        };
        // E[phi_j] and dE[phi_j]/dtheta_{start+k} = sum_x dP(x)/dtheta phi_j(x) (each sum
        // in increasing x either way).
        let read = |p0: &[Dual<N>]| {
            let mut expected = vec![0.0; mm];
            let mut tangents = vec![[0.0; N]; mm];
            let mut add = |j: usize, p: &Dual<N>, v: f64| {
                expected[j] += p.re * v;
                for (t, d) in tangents[j].iter_mut().zip(&p.eps) {
                    *t += d * v;
                }
            };
            match &dense {
                Some(rows) => {
                    for (x, p) in p0.iter().enumerate().filter(|(_, p)| p.re > 0.0) {
                        for (j, row) in rows.iter().enumerate() {
                            add(j, p, row[x]);
                        }
                    }
                }
                None => {
                    for (j, row) in self.rows.iter().enumerate() {
                        row.for_each(|x, v| {
                            if p0[x].re > 0.0 {
                                add(j, &p0[x], v);
                            }
                        });
                    }
                }
            }
            (expected, tangents)
        };
        let (f, (expected, tangents)) = self.pass(theta, make, read)?;
        for (j, t) in tangents.iter().enumerate() {
            for (k, &d) in t.iter().enumerate().take(width) {
                hessian[(start + k) * mm + j] = -d;
            }
        }
        Ok((f.re, expected))
    }

    /// Value and gradient only (one `f64` sweep).
    fn value_gradient(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (f, gradient) = self.pass(theta, Self::copy, |p0| {
            self.rows
                .iter()
                .zip(self.targets)
                .map(|(r, c)| c - r.dot(p0))
                .collect()
        })?;
        Ok((dot(theta, self.targets) - f, gradient))
    }

    /// Value, gradient and exact Hessian; returns the number of sweeps used.
    fn newton_eval(&self, theta: &[f64]) -> Result<(Evaluation, usize)> {
        let mm = theta.len();
        let mut hessian = vec![0.0; mm * mm];
        let mut passes = 1;
        let (f, expected) = match mm {
            0 => (self.pass(theta, Self::copy, |_| ())?.0, Vec::new()),
            1 => self.dual_pass::<1>(theta, 0, &mut hessian)?,
            2 => self.dual_pass::<2>(theta, 0, &mut hessian)?,
            3 => self.dual_pass::<3>(theta, 0, &mut hessian)?,
            4 => self.dual_pass::<4>(theta, 0, &mut hessian)?,
            5..=6 => self.dual_pass::<6>(theta, 0, &mut hessian)?,
            7..=8 => self.dual_pass::<8>(theta, 0, &mut hessian)?,
            9..=10 => self.dual_pass::<10>(theta, 0, &mut hessian)?,
            11..=12 => self.dual_pass::<12>(theta, 0, &mut hessian)?,
            13..=16 => self.dual_pass::<16>(theta, 0, &mut hessian)?,
            17..=24 => self.dual_pass::<24>(theta, 0, &mut hessian)?,
            _ => {
                // Above 32 constraints the columns come 32 at a time (one sweep each).
                let mut out = self.dual_pass::<32>(theta, 0, &mut hessian)?;
                let mut start = 32;
                while start < mm {
                    out = self.dual_pass::<32>(theta, start, &mut hessian)?;
                    start += 32;
                    passes += 1;
                }
                out
            }
        };
        // Symmetrise (the two triangles agree to rounding).
        for i in 0..mm {
            for j in 0..i {
                let s = 0.5 * (hessian[i * mm + j] + hessian[j * mm + i]);
                hessian[i * mm + j] = s;
                hessian[j * mm + i] = s;
            }
        }
        let gradient: Vec<f64> = self
            .targets
            .iter()
            .zip(&expected)
            .map(|(c, e)| c - e)
            .collect();
        let value = dot(theta, self.targets) - f;
        Ok((
            Evaluation {
                value,
                gradient,
                hessian,
                expected,
                free_energy: f,
            },
            passes,
        ))
    }
}

struct Run {
    theta: Vec<f64>,
    iterations: usize,
    sweeps: usize,
    converged: bool,
}

/// What a probe of the dual used, and where it stopped.
#[derive(Debug, Default)]
struct Spent {
    sweeps: usize,
    iterations: usize,
    start: Option<Vec<f64>>,
}

/// `Cov_p(phi_i, phi_j)` of the rows under `p` (block order), row-major, given the means.
fn covariance(rows: &[Row], p: &[f64], mean: &[f64]) -> Vec<f64> {
    let mm = rows.len();
    let mut cov = vec![0.0; mm * mm];
    match Row::all_dense(rows) {
        // Centred, state by state.
        Some(rows) => {
            let mut d = vec![0.0; mm];
            for (x, &px) in p.iter().enumerate().filter(|(_, &px)| px > 0.0) {
                for (di, (row, m)) in d.iter_mut().zip(rows.iter().zip(mean)) {
                    *di = row[x] - m;
                }
                for (i, c) in cov.chunks_exact_mut(mm).enumerate() {
                    let w = px * d[i];
                    for (c, dj) in c[..=i].iter_mut().zip(&d[..=i]) {
                        *c += w * dj;
                    }
                }
            }
        }
        // Centred as well: with d_i = phi_i - E phi_i written out densely (one row at a
        // time), Cov_ij = sum_{x in supp j} p d_i (phi_j - E phi_j) - E phi_j sum_{x off
        // supp j} p d_i, the last sum taken as (sum_x p d_i) - (sum_{supp j} p d_i).
        None => {
            let mut d = vec![0.0; p.len()];
            for i in 0..mm {
                d.iter_mut().for_each(|v| *v = -mean[i]);
                rows[i].for_each(|x, v| d[x] = v - mean[i]);
                let total: f64 = sum_pairs(p, &d, |p, d| p * d);
                for j in 0..=i {
                    let (mut on, mut on_mass) = (0.0, 0.0);
                    rows[j].for_each(|x, v| {
                        let w = p[x] * d[x];
                        on += w * (v - mean[j]);
                        on_mass += w;
                    });
                    cov[i * mm + j] = on - mean[j] * (total - on_mass);
                }
            }
        }
    }
    for i in 0..mm {
        for j in 0..i {
            cov[j * mm + i] = cov[i * mm + j];
        }
    }
    cov
}

/// The feasibility tolerance of the LP: a witness must meet each tight row this closely,
/// relative to `1 +` the row's spread (plus the rounding of its sums).
const LP_FEASIBILITY: f64 = 1e-11;

/// Newton iterations of the dual before the feasibility LP is consulted (SPEC §5: about 30
/// sweeps suffice on well-posed problems).
const PROBE_ITERATIONS: usize = 30;

/// Above this many constraints (all equalities) the dual is minimised by L-BFGS first.
const LBFGS_ABOVE: usize = 64;
/// Memory of L-BFGS.
const LBFGS_MEMORY: usize = 20;

/// Newton with the exact Hessian for up to [`LBFGS_ABOVE`] constraints or any inequality;
/// otherwise `argmin`'s L-BFGS (one `f64` sweep per evaluation, `10 x max_iterations`
/// iterations at most) followed by Newton from its point to polish (usually one iteration):
/// a Newton iteration then costs `ceil(M / 32)` sweeps, L-BFGS one or two.
fn optimise(engine: &Engine<'_>, senses: &[Sense], settings: &ConvexSettings) -> Result<Run> {
    let mm = senses.len();
    if mm <= LBFGS_ABOVE || senses.iter().any(|s| *s != Sense::Eq) {
        return newton(engine, senses, settings, vec![0.0; mm]);
    }
    let sweeps = Cell::new(0);
    let op = DualObjective {
        engine,
        cache: RefCell::new(None),
        sweeps: &sweeps,
    };
    let tol = settings.gradient_tolerance * (1.0 + norm(engine.targets));
    let to_error = |e: argmin::core::Error| match e.downcast::<Error>() {
        Ok(e) => e,
        Err(e) => Error::Numerical(format!("L-BFGS on the moment dual: {e}")),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(tol)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(to_error)?;
    let budget = 10 * settings.max_iterations as u64;
    let result = Executor::new(op, solver)
        .configure(|s| s.param(vec![0.0; mm]).max_iters(budget))
        .run()
        .map_err(to_error)?;
    let state = result.state();
    let start = state
        .get_best_param()
        .cloned()
        .unwrap_or_else(|| vec![0.0; mm]);
    let lbfgs_iterations = state.get_iter() as usize;
    let mut run = newton(engine, senses, settings, start)?;
    run.iterations += lbfgs_iterations;
    run.sweeps += sweeps.get();
    Ok(run)
}

/// The dual as an `argmin` problem: one `f64` sweep gives both value and gradient, cached
/// for the last point so `cost` and `gradient` at the same point cost one sweep.
struct DualObjective<'a, 'b> {
    engine: &'a Engine<'b>,
    #[allow(clippy::type_complexity)]
    cache: RefCell<Option<(Vec<f64>, f64, Vec<f64>)>>,
    sweeps: &'a Cell<usize>,
}

impl DualObjective<'_, '_> {
    fn eval(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        if let Some((t, v, g)) = &*self.cache.borrow() {
            if t.as_slice() == theta {
                return Ok((*v, g.clone()));
            }
        }
        let (v, g) = self.engine.value_gradient(theta)?;
        self.sweeps.set(self.sweeps.get() + 1);
        *self.cache.borrow_mut() = Some((theta.to_vec(), v, g.clone()));
        Ok((v, g))
    }
}

impl CostFunction for DualObjective<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(theta)?.0)
    }
}

impl Gradient for DualObjective<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(theta)?.1)
    }
}

/// Armijo constant of the line search.
const ARMIJO: f64 = 1e-4;
/// Halvings of the step before the line search gives up.
const MAX_HALVINGS: usize = 40;
/// Bertsekas' `epsilon`-active threshold cap.
const ACTIVE_CAP: f64 = 1e-3;

/// Projected Newton (Bertsekas 1982) on `D` with sign constraints on the inequality rows.
///
/// `argmin` 0.11 offers Newton and L-BFGS only for unconstrained problems; the multipliers of
/// inequality rows are sign-constrained, so this is the smallest correct bound-constrained
/// Newton method: variables at (or within `epsilon` of) their bound with the gradient pushing
/// outward take a diagonally scaled gradient step, the others a Newton step with the exact
/// Hessian (pseudo-inverse, so affinely dependent features are fine), and the step is
/// projected and backtracked under the Armijo rule along the projection arc. Trial points
/// cost one plain sweep (value and gradient); only an accepted point that is not yet optimal
/// gets the dual-number sweep for its Hessian.
fn newton(
    engine: &Engine<'_>,
    senses: &[Sense],
    settings: &ConvexSettings,
    start: Vec<f64>,
) -> Result<Run> {
    let mm = senses.len();
    let tol = settings.gradient_tolerance * (1.0 + norm(engine.targets));
    let mut theta = start;
    let (mut ev, mut sweeps) = engine.newton_eval(&theta)?;
    let mut iterations = 0;
    loop {
        let residual = projected_residual(&theta, &ev.gradient, senses);
        let rnorm = norm(&residual);
        if rnorm <= tol {
            return Ok(Run {
                theta,
                iterations,
                sweeps,
                converged: true,
            });
        }
        if iterations >= settings.max_iterations {
            break;
        }
        iterations += 1;
        let eps = rnorm.min(ACTIVE_CAP);
        let g = &ev.gradient;
        let active: Vec<bool> = (0..mm)
            .map(|i| match senses[i] {
                Sense::Eq => false,
                Sense::Le => theta[i] <= eps && g[i] > 0.0,
                Sense::Ge => theta[i] >= -eps && g[i] < 0.0,
            })
            .collect();
        let free: Vec<usize> = (0..mm).filter(|&i| !active[i]).collect();
        let mut d = vec![0.0; mm];
        for i in (0..mm).filter(|&i| active[i]) {
            let hii = ev.hessian[i * mm + i];
            d[i] = if hii > 0.0 { -g[i] / hii } else { -g[i] };
        }
        if !free.is_empty() {
            let nf = free.len();
            let hf = DMatrix::from_fn(nf, nf, |a, b| ev.hessian[free[a] * mm + free[b]]);
            let gf = DVector::from_fn(nf, |a, _| g[free[a]]);
            let eig = SymmetricEigen::new(hf);
            let top = eig.eigenvalues.iter().fold(0.0f64, |a, &l| a.max(l.abs()));
            let cut = 1e-13 * top;
            let coeff = eig.eigenvectors.transpose() * gf;
            let mut step = DVector::zeros(nf);
            for (k, &l) in eig.eigenvalues.iter().enumerate() {
                if l > cut && l > 0.0 {
                    step -= eig.eigenvectors.column(k) * (coeff[k] / l);
                }
            }
            for (a, &i) in free.iter().enumerate() {
                d[i] = step[a];
            }
        }
        // Armijo backtracking along the projection arc.
        let mut alpha = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_HALVINGS {
            let mut trial: Vec<f64> = theta.iter().zip(&d).map(|(t, d)| t + alpha * d).collect();
            project(&mut trial, senses);
            if trial == theta {
                break;
            }
            let (value, gradient) = engine.value_gradient(&trial)?;
            sweeps += 1;
            let change: Vec<f64> = trial.iter().zip(&theta).map(|(a, b)| a - b).collect();
            let decrease = dot(g, &change);
            // D is computed to a few ulps of its largest terms; within that, accept.
            let slack = 64.0
                * f64::EPSILON
                * (1.0 + ev.value.abs() + ev.free_energy.abs() + dot(&theta, engine.targets).abs());
            if value <= ev.value + ARMIJO * decrease + slack {
                accepted = Some((trial, gradient));
                break;
            }
            alpha *= 0.5;
        }
        let Some((trial, gradient)) = accepted else {
            break;
        };
        theta = trial;
        // Only a point that is not yet optimal needs its Hessian (the dual-number sweep).
        let r = norm(&projected_residual(&theta, &gradient, senses));
        if r <= tol || iterations >= settings.max_iterations {
            return Ok(Run {
                theta,
                iterations,
                sweeps,
                converged: r <= tol,
            });
        }
        let (next, passes) = engine.newton_eval(&theta)?;
        sweeps += passes;
        ev = next;
    }
    Ok(Run {
        theta,
        iterations,
        sweeps,
        converged: false,
    })
}
