//! The epsilon-constraint form of the Pareto problem (docs/concepts.md, sections 12, 13).
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
//! by the free-energy minimiser of the loss `lambda f` at temperatures `w = (1, mu)`, so the
//! dual function is
//!
//! ```text
//! g(lambda, mu) = -F(lambda f; w = (1, mu)) + lambda c - sum_k mu_k h_k,
//! dg/dlambda = c - E f,    dg/dmu_k = H(Y_k) - h_k         (the constraint slacks)
//! ```
//!
//! (envelope identities, docs/concepts.md, "5. Theorem A"). `g` is convex (a supremum of affine functions of
//! `(lambda, mu)`), and its minimiser over the orthant gives the multipliers; the proof is in
//! `proofs/pareto.md`, the KKT test is `floors_satisfy_kkt` in `tests/pareto.rs`.

use nalgebra::{DMatrix, DVector};

pub use super::status::Status;
use crate::constraints::mean::MeanConstraint;
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::numerics::nearly_equal;
use crate::problem::Problem;
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

/// The answer of the epsilon-constraint problem.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FloorSolution {
    /// `P*` and its statistics (expected losses of the original problem).
    pub solution: Solution,
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
    /// `E f <= c`); each floor was checked against it.
    pub max_entropies: Vec<f64>,
    /// `true` when `c = min f` and the problem was solved on the face of the minimisers.
    pub boundary: bool,
    /// Outer iterations.
    pub iterations: usize,
    /// Sweeps in all (finite-difference Hessians and line searches included).
    pub sweeps: usize,
    /// How the solver stopped.
    pub status: Status,
}

impl FloorSolution {
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
/// Multipliers beyond this (in units of their natural scale) mean an unbounded dual.
const DIVERGENCE: f64 = 1e14;

impl Problem {
    /// The epsilon-constraint problem with default [`FloorSettings`]:
    /// maximise `H(Y_0)` subject to `E f <= c` (when `mean_at_most` is given) and
    /// `H(Y_k) >= floors[k-1]` for `k = 1..d` (a floor `<= 0` is no constraint).
    ///
    /// # Errors
    /// See [`Problem::solve_floors_with`].
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem};
    /// // Leaves {0,1} -> A, {2,3} -> B, f = (0, 0, 1, 2), E f <= 0.5.
    /// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
    /// let p = Problem::new(&h, &[0.0, 0.0, 1.0, 2.0])?;
    /// // Without a floor H(Y_1) = 0.6518; the floor 0.5 is slack and gets multiplier 0 ...
    /// let slack = p.solve_floors(Some(0.5), &[0.5])?;
    /// assert_eq!(slack.floor_multipliers[0], 0.0);
    /// // ... while 0.69 (below the attainable log 2) is active: H(Y_1) = 0.69.
    /// let fit = p.solve_floors(Some(0.5), &[0.69])?;
    /// assert!(fit.floor_multipliers[0] > 0.0);
    /// assert!((fit.solution.entropy(1) - 0.69).abs() < 1e-9);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn solve_floors(&self, mean_at_most: Option<f64>, floors: &[f64]) -> Result<FloorSolution> {
        self.solve_floors_with(mean_at_most, floors, &FloorSettings::default())
    }

    /// The epsilon-constraint problem (docs/concepts.md, sections 12, 13): maximise `H(Y_0)` subject to
    /// `E f <= c` and `H(Y_k) >= h_k`, `k >= 1`, by minimising the convex dual
    /// `g(lambda, mu) = -F(lambda f; (1, mu)) + lambda c - mu . h` over `lambda, mu >= 0`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] with a reference distribution (floors are on Shannon
    /// entropies); [`Error::LengthMismatch`] unless `floors` has `d` entries;
    /// [`Error::InvalidValue`] / [`Error::InvalidSetting`] for non-finite floors or `c`;
    /// [`Error::AllForbidden`]; [`Error::Infeasible`] when `c < min f`;
    /// [`Error::InfeasibleProblem`] when a floor exceeds the largest attainable `H(Y_k)` on
    /// the feasible set, or the floors are jointly infeasible (the dual is unbounded).
    pub fn solve_floors_with(
        &self,
        mean_at_most: Option<f64>,
        floors: &[f64],
        settings: &FloorSettings,
    ) -> Result<FloorSolution> {
        if self.has_reference() {
            return Err(Error::InvalidInput(
                "entropy floors are on Shannon entropies; a reference distribution is not supported"
                    .to_string(),
            ));
        }
        let h = self.hierarchy();
        let d = h.depth();
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
        let (f, fmin, fmax) = self.allowed_loss_range()?;
        let mode = match mean_at_most {
            None => Mode::Free { slack_mean: false },
            Some(c) if c < fmin && !nearly_equal(c, fmin) => {
                return Err(Error::Infeasible {
                    target: c,
                    min: fmin,
                    max: fmax,
                })
            }
            Some(c) if nearly_equal(c, fmin) || fmin == fmax => {
                if fmin == fmax {
                    Mode::Free { slack_mean: true }
                } else {
                    Mode::Face
                }
            }
            Some(c) if c >= fmax => Mode::Free { slack_mean: true },
            Some(c) => Mode::Mean(c),
        };
        // The problem the sweeps run on: the face of the minimisers at the boundary.
        let base = match mode {
            Mode::Face => self.face(
                f.iter()
                    .map(|&x| if x == fmin { 0.0 } else { f64::INFINITY })
                    .collect(),
            )?,
            _ => self.clone(),
        };
        let max_entropies = max_level_entropies(h, &f, &mode)?;
        for (k, (&floor, &hmax)) in floors.iter().zip(&max_entropies).enumerate() {
            if floor > hmax + FLOOR_RTOL * (1.0 + hmax) {
                let on = match mean_at_most {
                    Some(c) => format!("allowed states with E[f] <= {c}"),
                    None => "allowed states".to_string(),
                };
                return Err(Error::InfeasibleProblem(format!(
                    "entropy floor floors[{k}] = {floor} for H(Y_{}) exceeds its largest attainable value {hmax} on the feasible set ({on})",
                    k + 1
                )));
            }
        }

        let c = match mode {
            Mode::Mean(c) => c,
            _ => 0.0,
        };
        let has_lambda = matches!(mode, Mode::Mean(_));
        let off = usize::from(has_lambda);
        let n = off + d;
        let spread = fmax - fmin;
        // Natural scales of the variables (for finite-difference steps and divergence).
        let mut scale = vec![1.0; n];
        if has_lambda {
            scale[0] = if spread > 0.0 { 1.0 / spread } else { 1.0 };
        }
        let fabs = f
            .iter()
            .filter(|x| x.is_finite())
            .fold(0.0f64, |a, x| a.max(x.abs()));
        let habs = floors.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let tol = settings.gradient_tolerance * (1.0 + c.abs() + fabs + habs);

        let mut sweeps = 0usize;
        let eval = |x: &[f64], sweeps: &mut usize| -> Result<Eval> {
            *sweeps += 1;
            let lambda = if has_lambda { x[0] } else { 0.0 };
            let mut w = vec![1.0];
            w.extend_from_slice(&x[off..]);
            let sol = base.solve_scaled(lambda, &Temperatures::new(&w)?)?;
            let mut value = -sol.free_energy() + lambda * c;
            let mut grad = Vec::with_capacity(n);
            if has_lambda {
                grad.push(c - sol.expected_total_loss());
            }
            for k in 1..=d {
                value -= x[off + k - 1] * floors[k - 1];
                grad.push(sol.entropy(k) - floors[k - 1]);
            }
            Ok(Eval { value, grad, sol })
        };

        // Start at the solution without floors: lambda from the mean solver, mu = 0.
        let mut x = vec![0.0; n];
        if let Mode::Mean(c) = mode {
            let mut w0 = vec![0.0; d + 1];
            w0[0] = 1.0;
            let start = base.solve_mean(&w0, MeanConstraint::AtMost(c))?;
            sweeps += start.sweeps;
            x[0] = start.multiplier.unwrap_or(0.0).max(0.0);
        }
        let mut cur = eval(&x, &mut sweeps)?;
        let mut status = Status::MaxIterations;
        let mut iterations = 0;
        let mut pg_norm = projected_norm(&x, &cur.grad);
        // Why a hand-written projected Newton method: the dual lives on the orthant
        // `lambda, mu >= 0` and its solution is often on the boundary (slack constraints get
        // multiplier exactly 0). argmin 0.11 offers unconstrained Newton / L-BFGS / trust
        // region but no bound-constrained smooth solver (no L-BFGS-B or projected Newton),
        // and reparametrisations (`mu = e^s`, `mu = v^2`) either never reach 0 or add spurious
        // stationary points. With `d + 1` variables a projected Newton step (Bertsekas 1982)
        // with a finite-difference Hessian of the exact gradient is small and fast.
        while iterations < settings.max_iterations {
            if pg_norm <= tol {
                status = Status::Converged;
                break;
            }
            iterations += 1;
            if x.iter().zip(&scale).any(|(v, s)| *v > DIVERGENCE * s) {
                return Err(jointly_infeasible(floors));
            }
            // Bertsekas' epsilon-active set: at (or next to) 0 with a pushing gradient.
            let eps = pg_norm.min(1e-8);
            let free: Vec<usize> = (0..n)
                .filter(|&i| !(x[i] <= eps * scale[i] && cur.grad[i] > 0.0))
                .collect();
            let mut dir = vec![0.0; n];
            let mut curvature = 1.0;
            if !free.is_empty() {
                let m = free.len();
                let mut hess = DMatrix::<f64>::zeros(m, m);
                for (a, &j) in free.iter().enumerate() {
                    let step = 1e-6 * x[j].max(scale[j]);
                    let mut xs = x.clone();
                    xs[j] += step;
                    let e = eval(&xs, &mut sweeps)?;
                    for (b, &i) in free.iter().enumerate() {
                        hess[(b, a)] = (e.grad[i] - cur.grad[i]) / step;
                    }
                }
                // The gradient of g is the slack vector, so its Jacobian is the Hessian of
                // the convex g (positive semidefinite); symmetrise the difference quotients.
                let hs = (&hess + hess.transpose()) * 0.5;
                // Solve with the eigenvalues clamped below at `1e-7` of the largest: the dual
                // Hessian is singular when two floors coincide on the feasible set (e.g. a
                // level map that is one-to-one on the allowed states makes H(Y_k) = H(Y_k+1),
                // and only mu_k + mu_k+1 is determined), and difference quotients carry
                // relative noise ~1e-6; clamping keeps the step finite and the null
                // directions (where the gradient vanishes) untouched.
                let eig = hs.symmetric_eigen();
                let top = eig.eigenvalues.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                curvature = if top > 0.0 { top } else { 1.0 };
                let floor = 1e-7 * curvature;
                let rhs = DVector::from_iterator(m, free.iter().map(|&i| -cur.grad[i]));
                let proj = eig.eigenvectors.transpose() * &rhs;
                let scaled = DVector::from_iterator(
                    m,
                    proj.iter()
                        .zip(eig.eigenvalues.iter())
                        .map(|(p, &v)| p / v.max(floor)),
                );
                let sol = &eig.eigenvectors * scaled;
                for (a, &i) in free.iter().enumerate() {
                    dir[i] = sol[a];
                }
            }
            for (i, di) in dir.iter_mut().enumerate() {
                if !free.contains(&i) {
                    *di = -cur.grad[i] / curvature;
                }
            }
            // Armijo search along the projection arc x(alpha) = max(0, x + alpha dir).
            let mut alpha = 1.0;
            let mut accepted = None;
            for _ in 0..60 {
                let xn: Vec<f64> = x
                    .iter()
                    .zip(&dir)
                    .map(|(v, dv)| (v + alpha * dv).max(0.0))
                    .collect();
                let e = eval(&xn, &mut sweeps)?;
                let decrease: f64 = cur
                    .grad
                    .iter()
                    .zip(xn.iter().zip(&x))
                    .map(|(g, (a, b))| g * (a - b))
                    .sum();
                let roundoff = 1e-14 * (1.0 + cur.value.abs());
                let pg_new = projected_norm(&xn, &e.grad);
                if e.value <= cur.value + 1e-4 * decrease + roundoff
                    || (alpha == 1.0 && pg_new < 0.5 * pg_norm && e.value <= cur.value + roundoff)
                {
                    accepted = Some((xn, e, pg_new));
                    break;
                }
                alpha *= 0.5;
            }
            match accepted {
                Some((xn, e, pg_new)) => {
                    x = xn;
                    cur = e;
                    pg_norm = pg_new;
                }
                None => break,
            }
        }
        if status != Status::Converged && pg_norm <= tol {
            status = Status::Converged;
        }
        if x.iter().zip(&scale).any(|(v, s)| *v > DIVERGENCE * s) {
            return Err(jointly_infeasible(floors));
        }

        let lambda = if has_lambda { x[0] } else { 0.0 };
        let mu = x[off..].to_vec();
        let mut weights = vec![1.0];
        weights.extend_from_slice(&mu);
        let sol = cur.sol.with_expected_losses(self);
        let objective = sol.entropy(0);
        let temperatures = (lambda > 0.0).then(|| weights.iter().map(|w| w / lambda).collect());
        let mean_multiplier = match mode {
            Mode::Mean(_) => Some(lambda),
            Mode::Free { slack_mean: true } => Some(0.0),
            Mode::Free { slack_mean: false } | Mode::Face => None,
        };
        Ok(FloorSolution {
            duality_gap: cur.value - objective,
            dual_value: cur.value,
            solution: sol,
            mean_multiplier,
            floor_multipliers: mu,
            weights,
            temperatures,
            objective,
            gradient_norm: pg_norm,
            max_entropies,
            boundary: matches!(mode, Mode::Face),
            iterations,
            sweeps,
            status,
        })
    }
}

struct Eval {
    value: f64,
    grad: Vec<f64>,
    sol: Solution,
}

/// `||x - max(0, x - grad)||_inf`: zero exactly at a KKT point of the orthant problem.
fn projected_norm(x: &[f64], grad: &[f64]) -> f64 {
    x.iter()
        .zip(grad)
        .map(|(&v, &g)| (v - (v - g).max(0.0)).abs())
        .fold(0.0, f64::max)
}

fn jointly_infeasible(floors: &[f64]) -> Error {
    Error::InfeasibleProblem(format!(
        "the entropy floors {floors:?} are each attainable but not jointly with the mean constraint (the dual is unbounded)"
    ))
}

/// The largest `H(Y_k)`, `k = 1..d`, on the feasible set. `H(Y_k)` depends only on `P_k`, and
/// the least `E f` compatible with `P_k` is `sum_y P_k(y) m_k(y)`, `m_k(y)` the least total
/// loss below `y` (`+inf` for an empty or all-forbidden block), so the maximum is the
/// one-level maximum-entropy problem on `X_k` with loss `m_k` and `E m_k <= c`.
fn max_level_entropies(h: &Hierarchy, f: &[f64], mode: &Mode) -> Result<Vec<f64>> {
    let mut m = f.to_vec();
    let fmin = f.iter().copied().fold(f64::INFINITY, f64::min);
    if matches!(mode, Mode::Face) {
        m.iter_mut()
            .for_each(|x| *x = if *x == fmin { 0.0 } else { f64::INFINITY });
    }
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
        let hmax = match mode {
            Mode::Mean(c) => {
                let flat = Hierarchy::flat(m.len())?;
                Problem::new(&flat, &m)?
                    .solve_mean(&[1.0], MeanConstraint::AtMost(*c))?
                    .objective
            }
            _ => (m.iter().filter(|x| x.is_finite()).count() as f64).ln(),
        };
        out.push(hmax);
    }
    Ok(out)
}
