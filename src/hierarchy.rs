//! Levels, coarse-graining maps and their blocks (docs/concepts.md, 'Levels, coarse-graining, blocks').
//!
//! A [`Hierarchy`] stores every level in *block order*: the children of a coarse state
//! are contiguous, and coarse states are themselves in the block order of their level, so
//! one bottom-up sweep touches memory linearly. The blocks of level `k + 1` are described
//! like a sparse matrix's column pointers (`offsets[y]..offsets[y + 1]`), or implicitly for
//! complete `b`-ary trees. The permutation back to the user's state order is kept, and
//! everything the crate returns is in the user's order.

use crate::error::{Error, Result};
use crate::memory;
use std::collections::HashMap;
use std::hash::Hash;

pub(crate) use crate::numerics::layout::Layout;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Blocks {
    Uniform(usize),
    Offsets(Vec<usize>),
}

/// A validated hierarchy of levels `X_0 -> X_1 -> ... -> X_d`.
///
/// ```
/// # use hmaxent::Hierarchy;
/// // Leaves 0,1 -> A; leaves 2,3 -> B (docs/concepts.md's example); a 3-leaf block and an empty block.
/// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
/// assert_eq!(h.depth(), 1);
/// let h2 = Hierarchy::new(vec![4, 2], vec![vec![1, 1, 1, 1]])?; // block of state 0 is empty
/// assert_eq!(h2.children(1, 0), Vec::<usize>::new());
/// assert!(Hierarchy::new(vec![4, 2], vec![vec![0, 2, 1, 1]]).is_err());
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    sizes: Vec<usize>,
    /// `blocks[k]`: blocks of level `k + 1` over level `k`.
    blocks: Vec<Blocks>,
    /// `order[k]`: block position -> user index at level `k` (`None`: identity).
    order: Vec<Option<Vec<usize>>>,
    /// `position[k]`: user index -> block position (`None`: identity).
    position: Vec<Option<Vec<usize>>>,
    /// User-order parent arrays (kept for `parent()`); `None` for complete trees.
    parents: Option<Vec<Vec<usize>>>,
}

/// The memory check of every constructor ([`crate::memory`]): `states` over `levels` levels.
fn check_size(states: usize, levels: usize) -> Result<()> {
    memory::check_tabulated(
        || format!("a tabulated hierarchy of {levels} levels"),
        states,
        levels,
    )
}

impl Hierarchy {
    /// A single level with `n` states (depth 0).
    ///
    /// # Errors
    /// [`Error::LevelSizes`] if `n = 0`, [`Error::TooLarge`] beyond memory ([`crate::memory`]).
    pub fn flat(n: usize) -> Result<Self> {
        Self::new(vec![n], vec![])
    }

    /// Builds a hierarchy from level sizes `n_0..n_d` and parent arrays:
    /// `parents[k-1][i]` is the level-`k` state of level-`(k-1)` state `i`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if `sizes` is empty;
    /// [`Error::LengthMismatch`] if `parents.len() != sizes.len() - 1` or a parent array
    /// does not have `n_{k-1}` entries; [`Error::ParentOutOfRange`]; [`Error::LevelSizes`] if
    /// a level is empty or larger than the level below; [`Error::TooLarge`] when the states
    /// and levels would not fit in memory ([`crate::memory`]).
    pub fn new(sizes: Vec<usize>, parents: Vec<Vec<usize>>) -> Result<Self> {
        if sizes.is_empty() {
            return Err(Error::InvalidInput(
                "a hierarchy needs at least one level".to_string(),
            ));
        }
        if parents.len() + 1 != sizes.len() {
            return Err(Error::length("parents", parents.len(), sizes.len() - 1));
        }
        let total = sizes.iter().fold(0usize, |a, &n| a.saturating_add(n));
        check_size(total, sizes.len())?;
        for (k, &n) in sizes.iter().enumerate() {
            if n == 0 {
                return Err(Error::LevelSizes {
                    level: k,
                    size: 0,
                    finer: k,
                    finer_size: 0,
                });
            }
            if k > 0 && n > sizes[k - 1] {
                return Err(Error::LevelSizes {
                    level: k,
                    size: n,
                    finer: k - 1,
                    finer_size: sizes[k - 1],
                });
            }
        }
        for (k, p) in parents.iter().enumerate() {
            if p.len() != sizes[k] {
                return Err(Error::length(format!("parents[{k}]"), p.len(), sizes[k]));
            }
            if let Some((i, &y)) = p.iter().enumerate().find(|(_, &y)| y >= sizes[k + 1]) {
                return Err(Error::ParentOutOfRange {
                    level: k,
                    state: i,
                    parent: y,
                    len: sizes[k + 1],
                });
            }
        }
        let d = sizes.len() - 1;
        let mut blocks = vec![Blocks::Uniform(1); d];
        let mut order: Vec<Option<Vec<usize>>> = vec![None; d + 1];
        let mut position: Vec<Option<Vec<usize>>> = vec![None; d + 1];
        // Level d keeps the user's order; each finer level is sorted (stably) by the block
        // position of its parent: a counting sort.
        for k in (0..d).rev() {
            let n_coarse = sizes[k + 1];
            let coarse_pos = |y: usize| position[k + 1].as_ref().map_or(y, |p| p[y]);
            let mut offsets = vec![0usize; n_coarse + 1];
            for &y in &parents[k] {
                offsets[coarse_pos(y) + 1] += 1;
            }
            for q in 0..n_coarse {
                offsets[q + 1] += offsets[q];
            }
            let mut next = offsets[..n_coarse].to_vec();
            let mut ord = vec![0usize; sizes[k]];
            for (i, &y) in parents[k].iter().enumerate() {
                let q = coarse_pos(y);
                ord[next[q]] = i;
                next[q] += 1;
            }
            if ord.iter().enumerate().any(|(pos, &i)| pos != i) {
                let mut pos = vec![0usize; sizes[k]];
                for (p, &i) in ord.iter().enumerate() {
                    pos[i] = p;
                }
                order[k] = Some(ord);
                position[k] = Some(pos);
            }
            let b = sizes[k] / n_coarse;
            blocks[k] = if b * n_coarse == sizes[k]
                && offsets.iter().enumerate().all(|(q, &o)| o == q * b)
            {
                Blocks::Uniform(b)
            } else {
                Blocks::Offsets(offsets)
            };
        }
        Ok(Self {
            sizes,
            blocks,
            order,
            position,
            parents: Some(parents),
        })
    }

    /// Builds a hierarchy from parent arrays alone, inferring `n_k = 1 + max(parents[k-1])`
    /// (the CLI's convention); `n_0` must be given.
    ///
    /// # Errors
    /// As [`Hierarchy::new`].
    pub fn from_parents(n0: usize, parents: Vec<Vec<usize>>) -> Result<Self> {
        let mut sizes = vec![n0];
        for p in &parents {
            sizes.push(p.iter().copied().max().map_or(0, |m| m.saturating_add(1)));
        }
        Self::new(sizes, parents)
    }

    /// A hierarchy from its coarse-graining maps as one function: `parent(k, x)` is the
    /// level-`(k+1)` state of level-`k` state `x`, for `k = 0..depth` and `x = 0..n_k`, with
    /// `n_{k+1} = 1 + max_x parent(k, x)` (the convention of [`Hierarchy::from_parents`]).
    /// `parent` is called once per state and level, finest level first.
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond memory ([`crate::memory`]: checked for `n_0` and the
    /// depth before `parent` is called, then level by level);
    /// [`Error::LevelSizes`] as soon as a level would be larger than the one below (nothing
    /// of that size is allocated); otherwise as [`Hierarchy::new`].
    ///
    /// ```
    /// # use hmaxent::Hierarchy;
    /// // 12 states; level 1 pairs them (x / 2), level 2 groups the pairs by threes.
    /// let h = Hierarchy::from_fn(12, 2, |level, x| if level == 0 { x / 2 } else { x / 3 })?;
    /// assert_eq!(h.sizes(), &[12, 6, 2]);
    /// assert_eq!(h.children(2, 1), vec![3, 4, 5]);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn from_fn(
        n0: usize,
        depth: usize,
        mut parent: impl FnMut(usize, usize) -> usize,
    ) -> Result<Self> {
        check_size(n0, depth.saturating_add(1))?;
        let mut sizes = vec![n0];
        let mut parents = Vec::with_capacity(depth);
        let mut total = n0;
        for k in 0..depth {
            // The level about to be listed has sizes[k] <= n0 states.
            total = total.saturating_add(sizes[k]);
            check_size(total, depth + 1)?;
            let p: Vec<usize> = (0..sizes[k]).map(|x| parent(k, x)).collect();
            let n = p.iter().max().map_or(0, |&m| m.saturating_add(1));
            if n > sizes[k] {
                return Err(Error::LevelSizes {
                    level: k + 1,
                    size: n,
                    finer: k,
                    finer_size: sizes[k],
                });
            }
            sizes.push(n);
            parents.push(p);
        }
        Self::new(sizes, parents)
    }

    /// A hierarchy from one coarse-graining map per level, `maps[k-1] = T_k : X_{k-1} -> X_k`
    /// on state indices (sizes inferred as in [`Hierarchy::from_fn`]).
    ///
    /// # Errors
    /// As [`Hierarchy::from_fn`].
    ///
    /// ```
    /// # use hmaxent::Hierarchy;
    /// // 8 sites' worth of states; T_1 halves, T_2 quarters.
    /// let h = Hierarchy::from_maps(8, &[&|x| x / 2, &|y| y / 4])?;
    /// assert_eq!(h.sizes(), &[8, 4, 1]);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn from_maps(n0: usize, maps: &[&dyn Fn(usize) -> usize]) -> Result<Self> {
        Self::from_fn(n0, maps.len(), |k, x| maps[k](x))
    }

    /// A hierarchy from labels of the level-0 states: `label(k, x)` (for `k = 1..=depth`) is
    /// the level-`k` block that level-0 state `x` belongs to, as any value (a block-spin
    /// configuration, a region name, a tuple). Level-`k` states are the distinct labels,
    /// numbered in order of first appearance over `x = 0, 1, ...`; the labels come back as
    /// `labels[k-1][y]` so results can be read by label. Each level's partition must refine
    /// the next (states with one level-`k` label share their level-`(k+1)` label).
    ///
    /// # Errors
    /// [`Error::TooLarge`] beyond memory ([`crate::memory`]); [`Error::InvalidMap`] naming the first
    /// level-0 state whose labels are not nested; otherwise as [`Hierarchy::new`].
    ///
    /// ```
    /// # use hmaxent::Hierarchy;
    /// // Three spins (x = bits); level 1: the magnetisation; level 2: its sign.
    /// let m = |x: usize| (0..3).map(|i| if x >> i & 1 == 1 { 1 } else { -1 }).sum::<i32>();
    /// let (h, labels) =
    ///     Hierarchy::from_labels(8, 2, |k, x| if k == 1 { m(x) } else { m(x).signum() })?;
    /// assert_eq!(labels, vec![vec![-3, -1, 1, 3], vec![-1, 1]]);
    /// assert_eq!(h.sizes(), &[8, 4, 2]);
    /// assert_eq!(h.children(1, 1), vec![1, 2, 4]); // the states with one spin up
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn from_labels<K: Eq + Hash + Clone>(
        n0: usize,
        depth: usize,
        mut label: impl FnMut(usize, usize) -> K,
    ) -> Result<(Self, Vec<Vec<K>>)> {
        check_size(n0, depth.saturating_add(1))?;
        // state[x]: the state of level-0 state x at the level being built (level 0: x).
        let mut state: Vec<usize> = (0..n0).collect();
        let mut sizes = vec![n0];
        let mut parents: Vec<Vec<usize>> = Vec::with_capacity(depth);
        let mut labels = Vec::with_capacity(depth);
        let mut total = n0;
        for k in 1..=depth {
            total = total.saturating_add(sizes[k - 1]);
            check_size(total, depth + 1)?;
            let mut index: HashMap<K, usize> = HashMap::new();
            let mut names: Vec<K> = Vec::new();
            let mut parent = vec![usize::MAX; sizes[k - 1]];
            for (x, s) in state.iter_mut().enumerate() {
                let key = label(k, x);
                let next = names.len();
                let y = *index.entry(key.clone()).or_insert(next);
                if y == next {
                    names.push(key);
                }
                match parent[*s] {
                    usize::MAX => parent[*s] = y,
                    p if p != y => return Err(Error::InvalidMap {
                        level: k,
                        state: x,
                        reason:
                            "level-0 states in one block of the level below get different labels",
                    }),
                    _ => {}
                }
                *s = y;
            }
            // A finer state with no level-0 descendant cannot occur: every state is a label.
            sizes.push(names.len());
            parents.push(parent);
            labels.push(names);
        }
        Ok((Self::new(sizes, parents)?, labels))
    }

    /// The complete `b`-ary tree of depth `d`: `n_k = b^(d-k)`, consecutive siblings
    /// (leaf `i` has parent `i / b`).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `b = 0`; [`Error::TooLarge`] when the `b^d + ... + 1`
    /// states and `d + 1` levels would not fit in memory ([`crate::memory`]; nothing is
    /// allocated).
    pub fn complete(b: usize, d: usize) -> Result<Self> {
        if b == 0 {
            return Err(Error::InvalidSetting {
                field: "branching",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        let n0 = b.saturating_pow(u32::try_from(d).unwrap_or(u32::MAX));
        // n_k = n0 / b^k: the sum of all levels (saturating), without allocating.
        let mut total = 0usize;
        let mut n = n0;
        for _ in 0..=d.min(usize::BITS as usize * 2) {
            total = total.saturating_add(n);
            n /= b;
        }
        total = total.saturating_add(d.saturating_sub(usize::BITS as usize * 2));
        memory::check_tabulated(
            || format!("the complete tree with branching {b} and depth {d}"),
            total,
            d.saturating_add(1),
        )?;
        let mut sizes = Vec::with_capacity(d + 1);
        let mut n = n0;
        for _ in 0..=d {
            sizes.push(n);
            n /= b;
        }
        Ok(Self {
            sizes,
            blocks: vec![Blocks::Uniform(b); d],
            order: vec![None; d + 1],
            position: vec![None; d + 1],
            parents: None,
        })
    }

    /// `d`, the index of the coarsest level.
    pub fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Number of levels, `d + 1`.
    pub fn levels(&self) -> usize {
        self.sizes.len()
    }

    /// `n_k`.
    pub fn size(&self, level: usize) -> usize {
        self.sizes[level]
    }

    /// `[n_0, ..., n_d]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Total number of states over all levels.
    pub fn total_states(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// Block layout of level `level + 1` over level `level` (block-ordered positions).
    pub(crate) fn layout(&self, level: usize) -> Layout<'_> {
        match &self.blocks[level] {
            Blocks::Uniform(b) => Layout::Uniform(*b),
            Blocks::Offsets(o) => Layout::Offsets(o),
        }
    }

    /// The parent (user index at level `level + 1`) of user state `state` at `level`.
    ///
    /// # Panics
    /// If `level >= depth()` or `state >= size(level)`.
    pub fn parent(&self, level: usize, state: usize) -> usize {
        match &self.parents {
            Some(p) => p[level][state],
            None => match self.blocks[level] {
                Blocks::Uniform(b) => state / b,
                Blocks::Offsets(_) => unreachable!("complete trees have uniform blocks"),
            },
        }
    }

    /// User indices (at `level - 1`) of the children of user state `state` at `level >= 1`.
    ///
    /// # Panics
    /// If `level == 0`, `level > depth()` or `state >= size(level)`.
    pub fn children(&self, level: usize, state: usize) -> Vec<usize> {
        let pos = self.position_of(level, state);
        self.layout(level - 1)
            .block(pos)
            .map(|p| self.user_index(level - 1, p))
            .collect()
    }

    /// Block position of user state `state` at `level`.
    #[inline]
    pub(crate) fn position_of(&self, level: usize, state: usize) -> usize {
        self.position[level].as_ref().map_or(state, |p| p[state])
    }

    /// User index of block position `pos` at `level`.
    #[inline]
    pub(crate) fn user_index(&self, level: usize, pos: usize) -> usize {
        self.order[level].as_ref().map_or(pos, |o| o[pos])
    }

    /// Whether level `level`'s block order is the user's order.
    pub(crate) fn is_identity_order(&self, level: usize) -> bool {
        self.order[level].is_none()
    }

    /// Push-forward of block-ordered values of `level` to `level + 1`: the sum over each block.
    pub(crate) fn push_forward(&self, level: usize, fine: &[f64]) -> Vec<f64> {
        let layout = self.layout(level);
        (0..self.size(level + 1))
            .map(|y| fine[layout.block(y)].iter().sum())
            .collect()
    }

    /// All push-forwards `[P_0, P_1, ..., P_d]` of block-ordered level-0 values `p0`.
    pub(crate) fn push_forwards(&self, p0: Vec<f64>) -> Vec<Vec<f64>> {
        let mut levels = Vec::with_capacity(self.levels());
        levels.push(p0);
        for k in 0..self.depth() {
            let coarse = self.push_forward(k, &levels[k]);
            levels.push(coarse);
        }
        levels
    }

    /// Validates a distribution on level 0 given in user order (`n_0` finite, non-negative
    /// entries with a positive sum) and returns it normalised, in block order.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::InvalidValue`] naming `field`, or
    /// [`Error::AllForbidden`] if it sums to 0.
    pub(crate) fn distribution(&self, field: &str, p: &[f64]) -> Result<Vec<f64>> {
        if p.len() != self.size(0) {
            return Err(Error::length(field, p.len(), self.size(0)));
        }
        if let Some(i) = p.iter().position(|x| !x.is_finite() || *x < 0.0) {
            return Err(Error::InvalidValue {
                field: field.to_string(),
                index: i,
                value: p[i],
                reason: "must be finite and non-negative",
            });
        }
        // Scaled by the largest entry first, so finite entries never overflow the sum.
        let max = p.iter().copied().fold(0.0, f64::max);
        if max <= 0.0 {
            return Err(Error::AllForbidden(format!(
                "{field} sums to 0; it needs positive mass"
            )));
        }
        let total: f64 = p.iter().map(|&x| x / max).sum();
        let mut b = vec![0.0; p.len()];
        self.to_block_order(0, p, &mut b);
        b.iter_mut().for_each(|x| *x = *x / max / total);
        Ok(b)
    }

    /// Copies user-ordered values of `level` into block order.
    pub(crate) fn to_block_order<T: Copy>(&self, level: usize, user: &[T], out: &mut [T]) {
        match &self.order[level] {
            None => out.copy_from_slice(user),
            Some(o) => {
                for (dst, &i) in out.iter_mut().zip(o) {
                    *dst = user[i];
                }
            }
        }
    }

    /// Copies block-ordered values of `level` into the user's order.
    pub(crate) fn to_user_order<T: Copy>(&self, level: usize, block: &[T], out: &mut [T]) {
        match &self.order[level] {
            None => out.copy_from_slice(block),
            Some(o) => {
                for (&v, &i) in block.iter().zip(o) {
                    out[i] = v;
                }
            }
        }
    }
}

/// Random hierarchies for the unit tests of the sweeps.
#[cfg(test)]
pub(crate) mod testing {
    use rand::rngs::StdRng;
    use rand::Rng;

    /// Sizes and parent arrays (finest first) of a random hierarchy with `depth` RG steps:
    /// a top of `1..=top` states, each coarse state with `1..=kids` children (none with
    /// probability 0.15: empty blocks), every level at least as large as the one above.
    pub(crate) fn random_levels(
        rng: &mut StdRng,
        depth: usize,
        top: usize,
        kids: usize,
    ) -> (Vec<usize>, Vec<Vec<usize>>) {
        let mut sizes = vec![rng.random_range(1..=top)];
        let mut parents: Vec<Vec<usize>> = Vec::new();
        for _ in 0..depth {
            let coarse = *sizes.last().unwrap();
            let mut p = Vec::new();
            for y in 0..coarse {
                let n = if rng.random_bool(0.15) {
                    0
                } else {
                    rng.random_range(1..=kids)
                };
                p.extend(std::iter::repeat_n(y, n));
            }
            // A level has at most as many states as the finer one.
            while p.len() < coarse {
                p.push(rng.random_range(0..coarse));
            }
            p.sort_unstable();
            sizes.push(p.len());
            parents.push(p);
        }
        sizes.reverse();
        parents.reverse();
        (sizes, parents)
    }
}
