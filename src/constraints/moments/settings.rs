//! Settings of the convex solvers.

use crate::error::Result;

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
    pub(super) gradient_tolerance: f64,
    pub(super) max_iterations: usize,
    pub(super) feasibility_check: bool,
}

impl Default for ConvexSettings {
    /// Gradient tolerance `1e-10` (per row: `|c_i - E phi_i| <= tol (1 + spread_i)`), 50
    /// iterations, feasibility verified.
    fn default() -> Self {
        Self {
            gradient_tolerance: 1e-10,
            max_iterations: 50,
            feasibility_check: true,
        }
    }
}

impl ConvexSettings {
    /// Stop when every active row meets its target to `tol (1 + spread_i)`, the spread
    /// being `max phi_i - min phi_i` over the allowed states, and the duality gap is at most
    /// `tol (1 + |objective|)`. Default `1e-10`. An answer is reported as converged only
    /// when, recomputed from the returned `P*`, every target holds to `9 tol (1 +
    /// spread_i)` and the gap to `9 tol (1 + |objective|)` (`9e-10`, inside the promised `1e-9`, by default).
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] unless `0 < tol < 1` (finite).
    pub fn with_gradient_tolerance(mut self, tol: f64) -> Result<Self> {
        self.gradient_tolerance = crate::constraints::status::gradient_tolerance(tol)?;
        Ok(self)
    }

    /// At most this many outer (Newton) iterations. Default 50.
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] for 0.
    pub fn with_max_iterations(mut self, n: usize) -> Result<Self> {
        self.max_iterations = crate::constraints::status::max_iterations(n)?;
        Ok(self)
    }

    /// Whether feasibility is verified (default `true`, docs/concepts.md, "12. Moment constraints"): an interior solution is
    /// returned only with a proof of interior built from the converged dual (a feasible
    /// distribution charging every allowed state); otherwise the feasibility LP decides
    /// between interior, face and infeasible (with a certificate). The LP costs far more than
    /// the dual on large problems, but runs only when the targets are infeasible, on or very
    /// near a face, or the dual needs more than 30 iterations.
    ///
    /// Turn it off only when the targets are known to lie in the relative interior: infeasible
    /// or boundary targets are then not detected; the iteration budget still bounds the run,
    /// which ends with [`Status::MaxIterations`](crate::constraints::Status::MaxIterations) (or converges to a point near the face).
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
