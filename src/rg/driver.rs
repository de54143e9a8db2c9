//! The only sweep: coarse-grain up, reconstruct down (docs/concepts.md, 'Theorem A').

use super::{Reconstruct, Renormalise};
use crate::error::Result;

/// The result of the bottom-up sweep.
#[derive(Debug)]
pub struct Flow<R: Renormalise> {
    /// Renormalised losses `g_1, ..., g_d` (`g_0` is the input).
    pub losses: Vec<R::Loss>,
    /// Conditionals of levels `0..d`, then the top distribution (`d + 1` entries).
    pub conditionals: Vec<R::Conditional>,
    /// `F = -S_d log sum_y exp(-g_d(y) / S_d)`.
    pub free_energy: R::Scalar,
}

/// The bottom-up sweep of Theorem A: `g_{k+1}` from `g_k` at `S_k`, then `F` at `S_d`.
///
/// `cumulative` holds `S_0..S_d` (`d + 1` values, `d = family.depth()`).
///
/// # Errors
/// Whatever the family's steps return.
pub fn sweep<R: Renormalise>(
    family: &R,
    g0: &R::Loss,
    cumulative: &[R::Scalar],
) -> Result<Flow<R>> {
    let d = family.depth();
    debug_assert_eq!(cumulative.len(), d + 1);
    let mut losses: Vec<R::Loss> = Vec::with_capacity(d);
    let mut conditionals = Vec::with_capacity(d + 1);
    for (level, &s) in cumulative.iter().enumerate().take(d) {
        let g = losses.last().unwrap_or(g0);
        let (coarser, conditional) = family.coarse_grain(level, g, s)?;
        conditionals.push(conditional);
        losses.push(coarser);
    }
    let (free_energy, top) = family.top(losses.last().unwrap_or(g0), cumulative[d])?;
    conditionals.push(top);
    Ok(Flow {
        losses,
        conditionals,
        free_energy,
    })
}

/// The result of the top-down pass.
#[derive(Debug)]
pub struct Reconstruction<R: Reconstruct> {
    /// `P*_0, ..., P*_d`.
    pub marginals: Vec<R::Marginal>,
    /// `H(Y_k | Y_{k+1})` for `k < d`, then `H(Y_d)`.
    pub conditional_entropies: Vec<R::Scalar>,
}

/// The top-down pass of Theorem A: `P*(y_d)`, then `P*(y_k) = P*(y_{k+1}) P*(y_k | y_{k+1})`.
///
/// Consumes the conditionals (a family may turn them into marginals in place).
pub fn reconstruct<R: Reconstruct>(
    family: &R,
    conditionals: Vec<R::Conditional>,
) -> Reconstruction<R> {
    let levels = conditionals.len();
    let mut marginals: Vec<R::Marginal> = Vec::with_capacity(levels);
    let mut entropies = Vec::with_capacity(levels);
    let mut conditionals = conditionals;
    // An empty list (not a flow's output) gives an empty reconstruction.
    if let Some(top) = conditionals.pop() {
        let (mut coarse, h) = family.top_marginal(top);
        entropies.push(h);
        for (level, conditional) in conditionals.into_iter().enumerate().rev() {
            let (fine, h) = family.refine(level, conditional, &coarse);
            marginals.push(std::mem::replace(&mut coarse, fine));
            entropies.push(h);
        }
        marginals.push(coarse);
    }
    marginals.reverse();
    entropies.reverse();
    Reconstruction {
        marginals,
        conditional_entropies: entropies,
    }
}

/// The chain rule `H(Y_k) = H(Y_k | Y_{k+1}) + H(Y_{k+1})`, summed from the top: every
/// level's entropy from `[H(Y_0 | Y_1), ..., H(Y_{d-1} | Y_d), H(Y_d)]` (the conditional
/// entropies a top-down pass or a flow's derivatives give). The one place the crate forms
/// these tail sums (tabulated solutions and every family).
///
/// ```
/// let h = hmaxent::rg::driver::level_entropies(&[0.5, 0.25, 1.0]);
/// assert_eq!(h, vec![1.75, 1.25, 1.0]);
/// ```
pub fn level_entropies(conditional: &[f64]) -> Vec<f64> {
    let mut entropies = conditional.to_vec();
    for k in (0..entropies.len().saturating_sub(1)).rev() {
        entropies[k] += entropies[k + 1];
    }
    entropies
}
