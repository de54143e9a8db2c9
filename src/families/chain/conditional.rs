//! What the top-down pass of a chain needs of one level.

use std::sync::Arc;

/// What the top-down pass needs of one level (the [`crate::rg::Renormalise::Conditional`] of a
/// [`super::Decimation`]): the level's bonds `phi_{k,i}` (those of `g_k`, shared) and `S_k`, which fix
/// the conditional of every decimated site given its two neighbours,
///
/// ```text
/// P(b | a, c) = exp(-(phi_{k,2j}(a, b) + phi_{k,2j+1}(b, c)) / S_k) / Z(a, c),
/// ```
///
/// and, for the top, `P(a, c) ∝ exp(-phi_L(a, c) / S_L)` (open) or
/// `P(a) ∝ exp(-phi_L(a, a) / S_L)` (ring). `T` is the scalar of the flow: `f64`, or a dual
/// number for the derivative pass of [`crate::model::Model::sensitivity`]. A flow that reads
/// its finest level from `f64` bonds (`Decimation::input`) keeps no level-0 bonds here and is
/// not reconstructed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainConditional<T = f64> {
    /// The level's normalised bonds (row-major `q x q`, concatenated; one if homogeneous).
    pub bonds: Arc<[T]>,
    /// `S_k`.
    pub s: T,
}
