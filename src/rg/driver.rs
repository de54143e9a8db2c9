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
    let (losses, mut conditionals) = coarse_grain_levels(family, g0, &cumulative[..d])?;
    let (free_energy, top) = family.top(losses.last().unwrap_or(g0), cumulative[d])?;
    conditionals.push(top);
    Ok(Flow {
        losses,
        conditionals,
        free_energy,
    })
}

/// The bottom-up steps alone: `g_1..g_m` and the conditionals of levels `0..m` from `g_0`,
/// for `m = cumulative.len()` (`S_0..S_{m-1}`, at most the family's depth), without the top.
/// A subtree of a larger problem is swept this way up to the level where its root sits.
///
/// # Errors
/// Whatever the family's steps return.
pub fn coarse_grain_levels<R: Renormalise>(
    family: &R,
    g0: &R::Loss,
    cumulative: &[R::Scalar],
) -> Result<Levels<R>> {
    let m = cumulative.len();
    let mut losses: Vec<R::Loss> = Vec::with_capacity(m);
    let mut conditionals = Vec::with_capacity(m + 1);
    for (level, &s) in cumulative.iter().enumerate() {
        let g = losses.last().unwrap_or(g0);
        let (coarser, conditional) = family.coarse_grain(level, g, s)?;
        conditionals.push(conditional);
        losses.push(coarser);
    }
    Ok((losses, conditionals))
}

/// Renormalised losses `g_1..g_m` and the conditionals of levels `0..m`.
pub type Levels<R> = (
    Vec<<R as Renormalise>::Loss>,
    Vec<<R as Renormalise>::Conditional>,
);

/// The bottom-up steps keeping only the losses ([`Renormalise::coarse_grain_loss`]):
/// `g_1..g_m` for `m = cumulative.len()`, each handed to `done` once the next is computed
/// (so a family may recycle its tables); returns `g_m` (`None` for `m = 0`).
///
/// # Errors
/// Whatever the family's steps return.
pub fn coarse_grain_losses<R: Renormalise>(
    family: &R,
    g0: &R::Loss,
    cumulative: &[R::Scalar],
    mut done: impl FnMut(R::Loss),
) -> Result<Option<R::Loss>> {
    let mut current: Option<R::Loss> = None;
    for (level, &s) in cumulative.iter().enumerate() {
        let next = family.coarse_grain_loss(level, current.as_ref().unwrap_or(g0), s)?;
        if let Some(previous) = current.replace(next) {
            done(previous);
        }
    }
    Ok(current)
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
    let mut conditionals = conditionals;
    // An empty list (not a flow's output) gives an empty reconstruction.
    let Some(top) = conditionals.pop() else {
        return Reconstruction {
            marginals: Vec::new(),
            conditional_entropies: Vec::new(),
        };
    };
    let (coarse, h) = family.top_marginal(top);
    let mut rec = refine_levels(family, conditionals, coarse);
    rec.conditional_entropies.push(h);
    rec
}

/// The top-down steps below a known marginal: from `P*_m` (`coarse`) and the conditionals
/// of levels `0..m`, the marginals `P*_0..P*_m` and `H(Y_k | Y_{k+1})` for `k < m` (so
/// `conditional_entropies` has one entry fewer than `marginals`). A subtree of a larger
/// problem is reconstructed this way from its roots' marginal.
pub fn refine_levels<R: Reconstruct>(
    family: &R,
    conditionals: Vec<R::Conditional>,
    coarse: R::Marginal,
) -> Reconstruction<R> {
    let mut marginals: Vec<R::Marginal> = Vec::with_capacity(conditionals.len() + 1);
    let (finest, entropies) = descend(family, conditionals, coarse, |m| marginals.push(m));
    marginals.push(finest);
    marginals.reverse();
    Reconstruction {
        marginals,
        conditional_entropies: entropies,
    }
}

/// The top-down pass of Theorem A keeping only the finest marginal: `P*_0` and
/// `H(Y_k | Y_{k+1})` for `k < d`, then `H(Y_d)`, as [`reconstruct`] gives them, with every
/// coarser marginal dropped as soon as the next is formed (memory: two levels). `None` for an
/// empty list.
pub fn reconstruct_finest<R: Reconstruct>(
    family: &R,
    conditionals: Vec<R::Conditional>,
) -> Option<(R::Marginal, Vec<R::Scalar>)> {
    let mut conditionals = conditionals;
    let top = conditionals.pop()?;
    let (coarse, h) = family.top_marginal(top);
    let (finest, mut entropies) = descend(family, conditionals, coarse, drop);
    entropies.push(h);
    Some((finest, entropies))
}

/// The one top-down loop: `P*_k = refine(P*_{k+1})` for `k = m-1..0`, each coarser marginal
/// handed to `coarser` once the finer one is formed; returns `P*_0` and `H(Y_k | Y_{k+1})`
/// for `k < m`, finest first.
fn descend<R: Reconstruct>(
    family: &R,
    conditionals: Vec<R::Conditional>,
    coarse: R::Marginal,
    mut coarser: impl FnMut(R::Marginal),
) -> (R::Marginal, Vec<R::Scalar>) {
    let mut entropies = Vec::with_capacity(conditionals.len() + 1);
    let mut coarse = coarse;
    for (level, conditional) in conditionals.into_iter().enumerate().rev() {
        let (fine, h) = family.refine(level, conditional, &coarse);
        coarser(std::mem::replace(&mut coarse, fine));
        entropies.push(h);
    }
    entropies.reverse();
    (coarse, entropies)
}

/// The chain rule `H(Y_k) = H(Y_k | Y_{k+1}) + H(Y_{k+1})`, summed from the top: every
/// level's entropy from `[H(Y_0 | Y_1), ..., H(Y_{d-1} | Y_d), H(Y_d)]` (the conditional
/// entropies a top-down pass or a flow's derivatives give). The one place the crate forms
/// these tail sums (tabulated solutions and every family, in `f64` or dual numbers).
///
/// ```
/// let h = hmaxent::rg::driver::level_entropies(&[0.5, 0.25, 1.0]);
/// assert_eq!(h, vec![1.75, 1.25, 1.0]);
/// ```
pub fn level_entropies<T: Copy + std::ops::Add<Output = T>>(conditional: &[T]) -> Vec<T> {
    let mut entropies = conditional.to_vec();
    for k in (0..entropies.len().saturating_sub(1)).rev() {
        entropies[k] = entropies[k] + entropies[k + 1];
    }
    entropies
}
