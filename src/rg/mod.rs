//! The renormalisation-group engine: one trait for a coarse-graining step, one driver.
//!
//! Theorem A (docs/concepts.md, 'Theorem A') is a bottom-up sweep of soft minima at cumulative temperatures
//! followed by an exact top-down reconstruction. A *family* of losses implements
//! [`Renormalise`] (one RG step: `g_k -> g_{k+1}` at `S_k`, plus the top) and optionally
//! [`Reconstruct`] (the top-down pass). The tabulated engine ([`tabulated::Tabulated`]) is
//! the reference implementor: explicit states and blocks. Closed-form families implement
//! the same traits, and the [`driver`] runs all of them. `docs/api.md` walks through a
//! complete toy family, differentiated by dual numbers.
//!
//! ```
//! use hmaxent::rg::{reconstruct, sweep, tabulated::Tabulated};
//! use hmaxent::Hierarchy;
//! // Leaves {0,1} -> A, {2,3} -> B; g_0 = (0, 0, 0, 1); S = (1, 2); no potentials.
//! let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
//! let engine = Tabulated::<f64>::new(&h, &[]);
//! let flow = sweep(&engine, &vec![0.0, 0.0, 0.0, 1.0], &[1.0, 2.0])?;
//! assert!((flow.losses[0][0] + 2f64.ln()).abs() < 1e-15); // g_1(A) = -log 2
//! let rec = reconstruct(&engine, flow.conditionals);
//! assert!((rec.marginals[1].iter().sum::<f64>() - 1.0).abs() < 1e-15);
//! # Ok::<(), hmaxent::Error>(())
//! ```

pub mod driver;
pub mod pool;
pub mod tabulated;
pub mod tiled;

use crate::error::Result;
use crate::numerics::Real;

pub use driver::{
    coarse_grain_levels, coarse_grain_losses, reconstruct, reconstruct_finest, refine_levels,
    sweep, Flow, Reconstruction,
};

/// One renormalisation-group step of a loss family (docs/concepts.md, 'Theorem A').
pub trait Renormalise {
    /// Scalar of the sweep (`f64`, or a dual number for forward-mode derivatives).
    type Scalar: Real;
    /// A renormalised loss `g_k`: a table, `(K, h)`, `(A_k, b_k)`, ...
    type Loss;
    /// What the top-down pass needs at one level (block conditionals, ...).
    type Conditional;

    /// `d`, the number of RG steps.
    fn depth(&self) -> usize;

    /// `g_{k+1}` from `g_k` at cumulative temperature `s = S_k`, with the conditionals
    /// `P*(x | y)` of level `k`:
    /// `g_{k+1}(y) = u_{k+1}(y) - S_k log sum_{x in B(y)} exp(-g_k(x) / S_k)`.
    ///
    /// # Errors
    /// Family-specific numerical failures.
    fn coarse_grain(
        &self,
        level: usize,
        g: &Self::Loss,
        s: Self::Scalar,
    ) -> Result<(Self::Loss, Self::Conditional)>;

    /// `g_{k+1}` alone, for sweeps that discard the conditionals (the first phase of a tiled
    /// sweep). The default runs [`Renormalise::coarse_grain`] and drops the conditional.
    ///
    /// # Errors
    /// As [`Renormalise::coarse_grain`].
    fn coarse_grain_loss(
        &self,
        level: usize,
        g: &Self::Loss,
        s: Self::Scalar,
    ) -> Result<Self::Loss> {
        self.coarse_grain(level, g, s).map(|(g, _)| g)
    }

    /// The free energy `F = -S_d log sum_y exp(-g_d(y) / S_d)` and the top distribution.
    ///
    /// # Errors
    /// [`crate::Error::AllForbidden`] if every top state has loss `+inf`.
    fn top(&self, g: &Self::Loss, s: Self::Scalar) -> Result<(Self::Scalar, Self::Conditional)>;
}

/// The top-down pass of a family: marginals from conditionals (docs/concepts.md, 'Theorem A').
pub trait Reconstruct: Renormalise {
    /// A level marginal `P*_k`.
    type Marginal;

    /// `P*_d` and `H(Y_d)` from the top conditional.
    fn top_marginal(&self, top: Self::Conditional) -> (Self::Marginal, Self::Scalar);

    /// `P*_k` from `P*_{k+1}` and the level-`k` conditionals, and `H(Y_k | Y_{k+1})`.
    fn refine(
        &self,
        level: usize,
        conditional: Self::Conditional,
        coarse: &Self::Marginal,
    ) -> (Self::Marginal, Self::Scalar);
}
