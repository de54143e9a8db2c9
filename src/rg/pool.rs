//! Recycled level tables: repeated solves on one hierarchy without fresh memory.
//!
//! A solve of a tabulated problem writes about `3 n_0` values into new tables (conditionals
//! that become marginals, renormalised losses, block entropies). Fresh memory from the
//! operating system is zeroed page by page on first touch, which on large problems costs
//! as much as the sweep's arithmetic. A [`BufferPool`] holds tables from an earlier solve
//! (see [`crate::Problem::solve_with_pool`] and [`BufferPool::recycle`]) and hands them
//! back to the next one; the results are bit-for-bit the same.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

use crate::numerics::{level_vec, Real};

/// A set of spare vectors, handed out best-fit by capacity.
///
/// ```
/// use hmaxent::rg::pool::BufferPool;
/// let pool = BufferPool::<f64>::default();
/// pool.give(Vec::with_capacity(100));
/// let v = pool.take(60); // the recycled vector, as it was given
/// assert!(v.is_empty() && v.capacity() >= 100);
/// pool.give(vec![1.0; 8]);
/// assert_eq!(pool.take(4), vec![1.0; 8]); // contents are the caller's to overwrite
/// assert!(pool.is_empty());
/// ```
#[derive(Debug)]
pub struct BufferPool<T> {
    spare: RefCell<Vec<Vec<T>>>,
}

impl<T> Default for BufferPool<T> {
    fn default() -> Self {
        Self {
            spare: RefCell::new(Vec::new()),
        }
    }
}

impl<T: Real> BufferPool<T> {
    /// A vector with room for `n` values: the smallest spare vector that fits (as it was
    /// given: its length and contents are whatever they were), or a new empty one
    /// ([`level_vec`]) if none does. Callers overwrite or clear it.
    pub fn take(&self, n: usize) -> Vec<T> {
        let mut spare = self.spare.borrow_mut();
        let best = spare
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => spare.swap_remove(i),
            None => level_vec(n),
        }
    }

    /// Returns `v` to the pool (vectors without capacity are dropped).
    pub fn give(&self, v: Vec<T>) {
        if v.capacity() > 0 {
            self.spare.borrow_mut().push(v);
        }
    }

    /// Whether the pool holds no spare vector.
    pub fn is_empty(&self) -> bool {
        self.spare.borrow().is_empty()
    }
}

/// One [`BufferPool`] per scalar type, for an engine that sweeps with several (`f64` for
/// values and gradients, dual numbers for Hessians).
#[derive(Debug, Default)]
pub(crate) struct Pools {
    by_type: RefCell<HashMap<TypeId, Box<dyn Any>>>,
}

impl Pools {
    /// Runs `f` with the pool of `T` (created empty on first use).
    pub(crate) fn with<T: Real, R>(&self, f: impl FnOnce(&BufferPool<T>) -> R) -> R {
        // Taken out of the map while `f` runs, so `f` may use the pools of other types.
        let pool = self
            .by_type
            .borrow_mut()
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<BufferPool<T>>().ok())
            .unwrap_or_default();
        let out = f(&pool);
        self.by_type.borrow_mut().insert(TypeId::of::<T>(), pool);
        out
    }
}
