//! How a convex solve ended, and the settings checks shared by the moment and floor
//! solvers.

use crate::error::{Error, Result};

/// How a convex solve ended.
///
/// A solve that returns `Ok` has a point, but only [`Status::Converged`] and
/// [`Status::Boundary`] are answers to the problem; [`Status::MaxIterations`] is the best
/// point of a run that stopped early. Check [`Status::is_converged`], or call the
/// solution's `converged()` (e.g. [`crate::constraints::MomentSolution::converged`]), which
/// turns an early stop into [`Error::NotConverged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[must_use = "a solve that ran out of iterations is not an answer: check the status"]
pub enum Status {
    /// The projected gradient met the tolerance in the relative interior.
    Converged,
    /// The targets lie on the boundary of the attainable set; the problem was solved on that
    /// face (the zero-temperature limit), and the multipliers are not finite.
    Boundary,
    /// The iteration budget ran out (or the line search stalled); the best point is returned.
    MaxIterations,
}

impl Status {
    /// Whether the solve met its tolerance ([`Status::Converged`] or [`Status::Boundary`]);
    /// `false` for [`Status::MaxIterations`].
    pub fn is_converged(self) -> bool {
        match self {
            Status::Converged | Status::Boundary => true,
            Status::MaxIterations => false,
        }
    }

    /// `Ok(())` when converged, else [`Error::NotConverged`] naming `solver`, the iterations
    /// used and the residual it stopped at.
    pub(crate) fn check(self, solver: &str, iterations: usize, residual: f64) -> Result<()> {
        if self.is_converged() {
            Ok(())
        } else {
            Err(Error::NotConverged {
                solver: solver.to_string(),
                iterations,
                residual,
            })
        }
    }
}

/// Validates a gradient tolerance: `0 < tol < 1`, finite.
///
/// # Errors
/// [`Error::InvalidSetting`] naming `gradient_tolerance`.
pub(crate) fn gradient_tolerance(tol: f64) -> Result<f64> {
    if tol > 0.0 && tol < 1.0 {
        Ok(tol)
    } else {
        Err(Error::InvalidSetting {
            field: "gradient_tolerance",
            value: tol,
            reason: "must lie in (0, 1)",
        })
    }
}

/// Validates an iteration budget: at least 1.
///
/// # Errors
/// [`Error::InvalidSetting`] naming `max_iterations`.
pub(crate) fn max_iterations(n: usize) -> Result<usize> {
    if n > 0 {
        Ok(n)
    } else {
        Err(Error::InvalidSetting {
            field: "max_iterations",
            value: 0.0,
            reason: "must be at least 1",
        })
    }
}
