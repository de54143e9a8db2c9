//! How a convex solve ended, and the settings checks shared by the moment and floor
//! solvers.

use crate::error::{Error, Result};

/// How a convex solve ended (a run that stops is a success; its status says how).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The projected gradient met the tolerance in the relative interior.
    Converged,
    /// The targets lie on the boundary of the attainable set; the problem was solved on that
    /// face (the zero-temperature limit), and the multipliers are not finite.
    Boundary,
    /// The iteration budget ran out (or the line search stalled); the best point is returned.
    MaxIterations,
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
