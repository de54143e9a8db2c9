//! What a moment solve returns, and the dual at one point.

use super::Status;
use crate::error::Result;
use crate::solution::Solution;

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
    /// `D(theta) - objective = theta·(c - E phi) (+ lambda (c_0 - E f))`, computed by the
    /// right-hand side from the returned `P*` (the difference of the dual value, from `F`,
    /// and the primal value, from the entropies, is the same number in exact arithmetic but
    /// carries the rounding of both: `1e-7` under weights of `1e9`).
    pub duality_gap: f64,
}

impl MomentSolution {
    /// This solution if it converged ([`Status::is_converged`]); otherwise
    /// [`crate::Error::NotConverged`] with the iterations used and the final gradient norm.
    ///
    /// # Errors
    /// [`crate::Error::NotConverged`] for [`Status::MaxIterations`].
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
