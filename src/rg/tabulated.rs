//! Explicit states and blocks: the reference implementor of [`Renormalise`].

use super::pool::BufferPool;
use super::{Reconstruct, Renormalise};
use crate::error::{Error, Result};
use crate::hierarchy::{Hierarchy, Layout};
use crate::numerics::{gibbs_blocks, gibbs_blocks_grow, scale_blocks_weighted, Real};

/// The tabulated engine: losses are tables over block-ordered states of a [`Hierarchy`],
/// with optional per-level potentials `u_1..u_d` (block order; `None` is zero), and an
/// optional [`BufferPool`] its tables are taken from (block entropies go back to it once
/// the top-down pass has used them).
#[derive(Debug, Clone, Copy)]
pub struct Tabulated<'a, T> {
    hierarchy: &'a Hierarchy,
    potentials: &'a [Option<Vec<T>>],
    pool: Option<&'a BufferPool<T>>,
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
        }
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
        self.hierarchy.depth()
    }

    fn coarse_grain(
        &self,
        level: usize,
        g: &Vec<T>,
        s: T,
    ) -> Result<(Vec<T>, BlockConditionals<T>)> {
        let n_coarse = self.hierarchy.size(level + 1);
        let buffers = [
            self.table(g.len()),
            self.table(n_coarse),
            self.table(n_coarse),
        ];
        let (probabilities, mut coarse, block_entropies) =
            gibbs_blocks_grow(g, self.hierarchy.layout(level), n_coarse, s, buffers);
        if let Some(Some(u)) = self.potentials.get(level) {
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
        let layout = self.hierarchy.layout(level);
        let h = scale_blocks_weighted(layout, coarse, &conditional.block_entropies, &mut p);
        if let Some(pool) = self.pool {
            pool.give(conditional.block_entropies);
        }
        (p, h)
    }
}
