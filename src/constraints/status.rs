//! How a convex solve ended, shared by the moment and floor solvers.

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
