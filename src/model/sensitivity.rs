//! The derivatives of an optimum that Newton steps on the floors dual need
//! (proofs/convex_dual.md, "The floors dual and its exact Hessian").
//!
//! At the optimum of Theorem A for the loss `lambda f` at level weights (temperatures) `w`
//! (the same `P*` as the loss `f` at `tau = w / lambda`), the statistics `E f` and
//! `H(Y_0..Y_d)` are smooth in `(lambda, w)`, and
//!
//! ```text
//! d/dlambda = (1 / lambda) d/dt,      d/dw_j = (1 / lambda) d/dtau_j,
//! ```
//!
//! `t` the scale of the loss `(1 + t) f` at fixed `tau`. The symmetric matrix
//! `dH_k/dw_j = -d^2 F'/dw_j dw_k` (`F'` the free energy of `lambda f` at `w`, concave in `w`)
//! is positive semidefinite, and `dE f/dw_j = -dH_j/dlambda` (both are
//! `-d^2 F'/dlambda dw_j`). Every implementor computes them exactly: dual-number sweeps or
//! closed covariance formulas, never difference quotients.

/// Exact first derivatives of `E f` and `H(Y_0..Y_d)` in the loss scale `lambda` and the level
/// weights `w_0..w_d` (module docs).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sensitivity {
    /// `dE f / dlambda` (`<= 0`).
    pub loss_by_scale: f64,
    /// `dE f / dw_j`, `j = 0..d`.
    pub loss_by_weight: Vec<f64>,
    /// `dH(Y_k) / dlambda`, `k = 0..d`.
    pub entropy_by_scale: Vec<f64>,
    /// `dH(Y_k) / dw_j`, row `j`, column `k` (row-major, `(d + 1)^2` entries).
    pub entropy_by_weight: Vec<f64>,
}

impl Sensitivity {
    /// The derivatives at `(lambda, w)` from those in `(t, tau)` at `tau = w / lambda`
    /// (module docs) when the `tau`-derivatives were seeded with `1 / lambda` already: only
    /// a renaming. `by_t[0]` is `dE f/dt`, `by_t[1 + k]` is `dH_k/dt`; likewise each row
    /// of `by_tau`.
    pub(crate) fn from_seeded(by_t: &[f64], by_tau: &[Vec<f64>]) -> Self {
        let levels = by_tau.len();
        let mut entropy_by_weight = Vec::with_capacity(levels * levels);
        for row in by_tau {
            entropy_by_weight.extend_from_slice(&row[1..]);
        }
        Self {
            loss_by_scale: by_t[0],
            loss_by_weight: by_tau.iter().map(|r| r[0]).collect(),
            entropy_by_scale: by_t[1..].to_vec(),
            entropy_by_weight,
        }
    }

    /// `dH(Y_k) / dw_j`.
    pub fn entropy_by_weight(&self, j: usize, k: usize) -> f64 {
        let levels = self.loss_by_weight.len();
        self.entropy_by_weight[j * levels + k]
    }
}
