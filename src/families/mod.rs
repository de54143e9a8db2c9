//! Hierarchically invariant loss families and their parameter flows (docs/concepts.md, "15. Parameter flows").
//!
//! Each family implements [`crate::rg::Renormalise`]; the generic driver runs it through the
//! same temperatures as the tabulated engine, and every family can tabulate itself on small
//! instances so the property tests compare the two.

pub mod cascade;
pub mod chain;
pub mod exchangeable;
pub mod quadratic;

use crate::error::{Error, Result};

/// What a parameter flow reports about `P*` without listing states (docs/concepts.md, "5. Theorem A" envelope
/// identities): the free energy and, by forward-mode differentiation of the flow, every
/// level's entropy and the expected loss.
///
/// ```text
/// F = min_P E_P[f] - sum_k tau_k H(Y_k),   H(Y_k) = -dF/dtau_k,
/// H(Y_k | Y_{k+1}) = -dF/dS_k,             E_P*[f] = dF/dt for f -> (1 + t) f at t = 0
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FlowSolution {
    /// `F`, in loss units.
    pub free_energy: f64,
    /// `[H(Y_0), ..., H(Y_d)]` under `P*` (nats).
    pub entropies: Vec<f64>,
    /// `[H(Y_0 | Y_1), ..., H(Y_{d-1} | Y_d), H(Y_d)]` (nats); `entropies` are its tail sums.
    pub conditional_entropies: Vec<f64>,
    /// `E_P*[f]`, the expected total loss.
    pub expected_loss: f64,
}

impl FlowSolution {
    /// The summary itself when every quantity is finite, else [`Error::Overflow`] naming the
    /// first that is not (`F`, `E f`, or `H(Y_k)` with its level `k`). Extensive quantities of
    /// a flow grow with the number of sites (`2^L` or `b^L`), so finite parameters can give
    /// results beyond `f64`; such a result is an overflow, never a forbidden state.
    ///
    /// # Errors
    /// [`Error::Overflow`] as above.
    pub(crate) fn checked(self) -> Result<Self> {
        if !self.free_energy.is_finite() {
            return Err(Error::overflow("the free energy F", None, None));
        }
        if !self.expected_loss.is_finite() {
            return Err(Error::overflow("the expected loss E f", None, None));
        }
        if let Some(k) = self.entropies.iter().position(|h| !h.is_finite()) {
            return Err(Error::overflow("the entropy H(Y_k)", Some(k), None));
        }
        Ok(self)
    }
}
