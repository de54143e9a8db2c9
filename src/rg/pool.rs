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

use crate::numerics::Real;

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
    /// (`level_vec`) if none does. Callers overwrite or clear it.
    pub fn take(&self, n: usize) -> Vec<T> {
        self.recycled(n).unwrap_or_else(|| level_vec(n))
    }

    /// The smallest spare vector with room for `n` values, if any.
    fn recycled(&self, n: usize) -> Option<Vec<T>> {
        let mut spare = self.spare.borrow_mut();
        let best = spare
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)?;
        Some(spare.swap_remove(best))
    }

    /// A vector of exactly `n` values whose contents the caller overwrites: the smallest
    /// spare vector that fits, cut or padded to `n`, or else fresh memory that the
    /// allocator hands out already zeroed (for `f64`, pages the operating system zeroes on
    /// first touch, so the solve's own writes are the only pass over them, not a second
    /// one after an explicit fill).
    pub(crate) fn take_len(&self, n: usize) -> Vec<T> {
        match self.recycled(n) {
            Some(mut v) => {
                v.truncate(n);
                v.resize(n, T::zero());
                v
            }
            None => {
                let v = vec![T::zero(); n];
                advise_huge_pages(v.as_ptr(), n * std::mem::size_of::<T>());
                v
            }
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

/// An empty vector with room for `n` values of a level of the sweep, not cleared (the sweep
/// writes every value once, chunk by chunk). On Linux, the 2 MiB-aligned part of a vector of
/// at least two huge pages is marked for transparent huge pages before it is first written:
/// 2 MiB pages make those first writes (page faults) several times cheaper, and every such
/// page lies inside the vector, which the sweep fills completely, so no memory is wasted.
/// Only a hint; the contents are the same either way.
pub(crate) fn level_vec<T: Real>(n: usize) -> Vec<T> {
    let v = Vec::with_capacity(n);
    advise_huge_pages(v.as_ptr(), n * std::mem::size_of::<T>());
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(ptr: *const T, bytes: usize) {
    const HUGE: usize = 2 << 20;
    // Level tables of 2..32 MiB usually come from the allocator's heap (glibc's mmap
    // threshold grows to 32 MiB after the first large free); the hint covers only whole
    // 2 MiB pages inside this vector there too, and a heap that shrinks drops it.
    if bytes < 2 * HUGE {
        return;
    }
    let start = ptr as usize;
    let end = start + bytes;
    let first = start.next_multiple_of(HUGE);
    let last = end / HUGE * HUGE;
    if last >= first + HUGE {
        // SAFETY: `first..last` lies inside the caller's allocation; MADV_HUGEPAGE
        // only changes how the kernel backs the pages, never their contents. Errors (e.g. no
        // THP support) are ignored: the hint is optional.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_: *const T, _: usize) {}

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

/// Something that owns tables a [`BufferPool`] can reuse: a solution whose marginals and
/// renormalised losses serve the next solve (see [`BufferPool::recycle`]).
pub trait Recyclable<T> {
    /// The tables, given up for reuse.
    fn into_tables(self) -> Vec<Vec<T>>;
}

impl<T: Real> BufferPool<T> {
    /// Keeps the tables of `item` (e.g. a [`crate::Solution`]'s marginals and renormalised
    /// losses) for the next [`crate::Problem::solve_with_pool`].
    pub fn recycle(&self, item: impl Recyclable<T>) {
        item.into_tables().into_iter().for_each(|v| self.give(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_len_gives_exactly_n_values_recycled_or_fresh() {
        let pool = BufferPool::<f64>::default();
        assert_eq!(pool.take_len(5), vec![0.0; 5]);
        pool.give(vec![7.0; 9]);
        let cut = pool.take_len(4);
        assert_eq!(cut, vec![7.0; 4]);
        assert!(cut.capacity() >= 9);
        let mut short = Vec::with_capacity(10);
        short.extend_from_slice(&[3.0, 3.0]);
        pool.give(short);
        assert_eq!(pool.take_len(6), vec![3.0, 3.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(pool.is_empty());
        // Large enough for the huge-page advice.
        let big = pool.take_len(1 << 20);
        assert_eq!(big.len(), 1 << 20);
        assert!(big.iter().all(|&x| x == 0.0));
    }
}
