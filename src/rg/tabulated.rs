//! Explicit states and blocks: the reference implementor of [`Renormalise`].

use std::ops::Range;

use super::pool::BufferPool;
use super::{Reconstruct, Renormalise};
use crate::error::{Error, Result};
use crate::hierarchy::{Hierarchy, Layout};
use crate::numerics::{
    gibbs_blocks, gibbs_blocks_grow, scale_blocks_weighted, soft_pairs_grow, Real,
};

/// The tabulated engine: losses are tables over block-ordered states of a [`Hierarchy`],
/// with optional per-level potentials `u_1..u_d` (block order; `None` is zero), and an
/// optional [`BufferPool`] its tables are taken from (block entropies go back to it once
/// the top-down pass has used them).
#[derive(Debug, Clone, Copy)]
pub struct Tabulated<'a, T> {
    hierarchy: &'a Hierarchy,
    potentials: &'a [Option<Vec<T>>],
    pool: Option<&'a BufferPool<T>>,
    /// The levels `base..=base + depth` of the hierarchy this engine sweeps.
    base: usize,
    depth: usize,
    /// Block-ordered positions of each swept level (`depth + 1` ranges, a subtree window),
    /// or empty for whole levels.
    ranges: &'a [Range<usize>],
}

/// Block conditionals of one level and the entropy of each block.
#[derive(Debug, Clone)]
pub struct BlockConditionals<T> {
    /// `P*(x | y)` for every block-ordered state `x` of the level (the top: `P*(y_d)`).
    pub probabilities: Vec<T>,
    /// `-sum_{x in B(y)} P(x|y) log P(x|y)` per coarse state (the top: `[H(Y_d)]`).
    pub block_entropies: Vec<T>,
}

impl<'a, T: Real> Tabulated<'a, T> {
    /// An engine over `hierarchy` with potentials `u_1..u_d` (`potentials.len() == d`, or
    /// empty for none), in block order.
    ///
    /// # Panics
    /// If `potentials` has the wrong number of levels or a level the wrong length (the
    /// public constructors in [`crate::Problem`] validate this).
    pub fn new(hierarchy: &'a Hierarchy, potentials: &'a [Option<Vec<T>>]) -> Self {
        assert!(potentials.is_empty() || potentials.len() == hierarchy.depth());
        for (k, u) in potentials.iter().enumerate() {
            if let Some(u) = u {
                assert_eq!(u.len(), hierarchy.size(k + 1));
            }
        }
        Self {
            hierarchy,
            potentials,
            pool: None,
            base: 0,
            depth: hierarchy.depth(),
            ranges: &[],
        }
    }

    /// The same engine restricted to levels `base..=base + ranges.len() - 1` and, at each of
    /// them, to the positions `ranges[l]` (level `base + l`): a forest of whole subtrees, so
    /// `ranges[l]` must be exactly the children of the blocks `ranges[l + 1]`. An empty
    /// `ranges` keeps whole levels from `base` to the top.
    pub(crate) fn window(self, base: usize, ranges: &'a [Range<usize>]) -> Self {
        let depth = if ranges.is_empty() {
            self.hierarchy.depth() - base
        } else {
            ranges.len() - 1
        };
        Self {
            base,
            depth,
            ranges,
            ..self
        }
    }

    /// Number of states of swept level `l`.
    fn size(&self, l: usize) -> usize {
        match self.ranges.get(l) {
            Some(r) => r.len(),
            None => self.hierarchy.size(self.base + l),
        }
    }

    /// The blocks of swept level `l + 1` over level `l` (relative to the window).
    fn layout(&self, l: usize) -> Layout<'a> {
        match (self.hierarchy.layout(self.base + l), self.ranges.get(l + 1)) {
            (Layout::Offsets(o), Some(r)) => Layout::Offsets(&o[r.start..=r.end]),
            (layout, _) => layout,
        }
    }

    /// `u_{l+1}` of swept level `l + 1`, restricted to the window (`None` is zero).
    fn potential(&self, l: usize) -> Option<&'a [T]> {
        let u = self.potentials.get(self.base + l)?.as_deref()?;
        Some(match self.ranges.get(l + 1) {
            Some(r) => &u[r.clone()],
            None => u,
        })
    }

    /// The same engine, taking its tables from `pool` (same results, recycled memory).
    pub fn with_pool(self, pool: &'a BufferPool<T>) -> Self {
        Self {
            pool: Some(pool),
            ..self
        }
    }

    /// A vector with room for `n` values (contents unspecified), from the pool if any.
    fn table(&self, n: usize) -> Vec<T> {
        match self.pool {
            Some(pool) => pool.take(n),
            None => super::pool::level_vec(n),
        }
    }
}

impl<T: Real> Renormalise for Tabulated<'_, T> {
    type Scalar = T;
    type Loss = Vec<T>;
    type Conditional = BlockConditionals<T>;

    fn depth(&self) -> usize {
        self.depth
    }

    fn coarse_grain(
        &self,
        level: usize,
        g: &Vec<T>,
        s: T,
    ) -> Result<(Vec<T>, BlockConditionals<T>)> {
        let n_coarse = self.size(level + 1);
        let buffers = [
            self.table(g.len()),
            self.table(n_coarse),
            self.table(n_coarse),
        ];
        let (probabilities, mut coarse, block_entropies) =
            gibbs_blocks_grow(g, self.layout(level), n_coarse, s, buffers);
        if let Some(u) = self.potential(level) {
            for (c, &u) in coarse.iter_mut().zip(u) {
                *c = *c + u;
            }
        }
        Ok((
            coarse,
            BlockConditionals {
                probabilities,
                block_entropies,
            },
        ))
    }

    fn coarse_grain_loss(&self, level: usize, g: &Vec<T>, s: T) -> Result<Vec<T>> {
        let n_coarse = self.size(level + 1);
        let layout = self.layout(level);
        let mut coarse = match soft_pairs_grow(g, layout, n_coarse, s, self.table(n_coarse)) {
            Some(coarse) => coarse,
            None => {
                let (coarse, conditional) = self.coarse_grain(level, g, s)?;
                if let Some(pool) = self.pool {
                    pool.give(conditional.probabilities);
                    pool.give(conditional.block_entropies);
                }
                return Ok(coarse);
            }
        };
        if let Some(u) = self.potential(level) {
            for (c, &u) in coarse.iter_mut().zip(u) {
                *c = *c + u;
            }
        }
        Ok(coarse)
    }

    fn top(&self, g: &Vec<T>, s: T) -> Result<(T, BlockConditionals<T>)> {
        let mut probabilities = self.table(g.len());
        probabilities.resize(g.len(), T::zero());
        let mut f = [T::zero()];
        let mut h = [T::zero()];
        gibbs_blocks(
            g,
            Layout::Uniform(g.len()),
            s,
            &mut probabilities,
            &mut f,
            &mut h,
        );
        if f[0] == T::infinity() {
            return Err(Error::AllForbidden(
                "every state has loss +inf (or is excluded by a forbidden ancestor or a zero reference)"
                    .to_string(),
            ));
        }
        Ok((
            f[0],
            BlockConditionals {
                probabilities,
                block_entropies: h.to_vec(),
            },
        ))
    }
}

impl<T: Real> Reconstruct for Tabulated<'_, T> {
    type Marginal = Vec<T>;

    fn top_marginal(&self, top: BlockConditionals<T>) -> (Vec<T>, T) {
        (top.probabilities, top.block_entropies[0])
    }

    fn refine(
        &self,
        level: usize,
        conditional: BlockConditionals<T>,
        coarse: &Vec<T>,
    ) -> (Vec<T>, T) {
        let mut p = conditional.probabilities;
        let layout = self.layout(level);
        let h = scale_blocks_weighted(layout, coarse, &conditional.block_entropies, &mut p);
        if let Some(pool) = self.pool {
            pool.give(conditional.block_entropies);
        }
        (p, h)
    }
}
