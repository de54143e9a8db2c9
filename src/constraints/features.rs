//! Feature vectors of moment constraints: dense, or sparse for large state spaces.
//!
//! A dense feature stores `phi(x)` for every level-0 state; a [`SparseFeature`] stores only
//! its nonzero entries, so `m` indicator-like features on `n_0` states cost memory in
//! proportion to their supports, not `m n_0`. Inside a [`super::MomentProblem`] each feature
//! is a `Row` in block order, and every use (the level-0 loss `theta·phi`, expectations,
//! the tangents of the exact Hessian, the feasibility LP) touches only the stored entries.

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::numerics::{sum_pairs, Real};
use crate::rg::tiled;

/// Stored feature values from which sums over the rows are shared among threads.
const PARALLEL_WORK: usize = 1 << 18;

/// States per part of [`Row::add_combination`] (fixed, so the parts do not depend on the
/// number of threads).
const PART: usize = 1 << 14;

/// A feature given by its nonzero entries: `phi(indices[j]) = values[j]`, `phi(x) = 0`
/// elsewhere (user state indices of level 0, any order, no repeats).
///
/// ```
/// # use hmaxent::{Hierarchy, Problem, constraints::{ConvexSettings, MomentProblem, SparseFeature}};
/// // P(Y_0 in {0, 1}) = 0.3 on 8 states, as an indicator feature.
/// let h = Hierarchy::complete(2, 3)?;
/// let p = Problem::new(&h, &[0.0; 8])?;
/// let phi = SparseFeature::new(vec![0, 1], vec![1.0, 1.0]);
/// let fit = MomentProblem::sparse(&p, &[phi], &[0.3], &[1.0; 4])?
///     .solve(&ConvexSettings::default())?;
/// let p0 = fit.solution.marginal(0);
/// assert!((p0[0] + p0[1] - 0.3).abs() < 1e-9); // to the gradient tolerance
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SparseFeature {
    /// Level-0 states (user order) with a nonzero value.
    pub indices: Vec<usize>,
    /// `phi` at those states.
    pub values: Vec<f64>,
}

impl SparseFeature {
    /// The feature with `phi(indices[j]) = values[j]` and 0 elsewhere (validated when a
    /// problem is built from it).
    pub fn new(indices: Vec<usize>, values: Vec<f64>) -> Self {
        Self { indices, values }
    }
}

/// One feature in block order.
#[derive(Debug, Clone)]
pub(crate) enum Row {
    /// `phi(x)` for every block position `x`.
    Dense(Vec<f64>),
    /// Nonzero entries, sorted by block position.
    Sparse { index: Vec<usize>, value: Vec<f64> },
}

fn non_finite(field: String, index: usize, value: f64) -> Error {
    Error::InvalidValue {
        field,
        index,
        value,
        reason: "features must be finite",
    }
}

impl Row {
    /// A dense user-order feature of `features[i]`, validated, in block order.
    pub(crate) fn dense(h: &Hierarchy, i: usize, phi: &[f64]) -> Result<Self> {
        let field = format!("features[{i}]");
        let n0 = h.size(0);
        if phi.len() != n0 {
            return Err(Error::length(field, phi.len(), n0));
        }
        if let Some(x) = phi.iter().position(|v| !v.is_finite()) {
            return Err(non_finite(field, x, phi[x]));
        }
        let mut b = vec![0.0; n0];
        h.to_block_order(0, phi, &mut b);
        Ok(Row::Dense(b))
    }

    /// A sparse feature `features[i]`, validated, in block order.
    pub(crate) fn sparse(h: &Hierarchy, i: usize, phi: &SparseFeature) -> Result<Self> {
        let field = format!("features[{i}]");
        let n0 = h.size(0);
        if phi.values.len() != phi.indices.len() {
            return Err(Error::length(
                format!("{field}.values"),
                phi.values.len(),
                phi.indices.len(),
            ));
        }
        let mut entries = Vec::with_capacity(phi.indices.len());
        for (j, (&x, &v)) in phi.indices.iter().zip(&phi.values).enumerate() {
            if x >= n0 {
                return Err(Error::InvalidValue {
                    field: format!("{field}.indices"),
                    index: j,
                    value: x as f64,
                    reason: "state index out of range",
                });
            }
            if !v.is_finite() {
                return Err(non_finite(format!("{field}.values"), j, v));
            }
            entries.push((h.position_of(0, x), v, j));
        }
        entries.sort_unstable_by_key(|e| (e.0, e.2));
        if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::InvalidValue {
                field: format!("{field}.indices"),
                index: w[1].2,
                value: phi.indices[w[1].2] as f64,
                reason: "state listed twice",
            });
        }
        entries.retain(|e| e.1 != 0.0);
        Ok(Row::Sparse {
            index: entries.iter().map(|e| e.0).collect(),
            value: entries.iter().map(|e| e.1).collect(),
        })
    }

    /// Calls `f(x, phi(x))` for every stored entry in increasing `x` (every state for a
    /// dense row, the nonzeros for a sparse one).
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, f64)) {
        match self {
            Row::Dense(v) => v.iter().enumerate().for_each(|(x, &v)| f(x, v)),
            Row::Sparse { index, value } => {
                index.iter().zip(value).for_each(|(&x, &v)| f(x, v));
            }
        }
    }

    /// `sum_x p(x) phi(x)` (features are finite, so states with `p(x) = 0` add 0).
    pub(crate) fn dot(&self, p: &[f64]) -> f64 {
        match self {
            // In the widest vector kernel the CPU has (8 partial sums, the same value).
            Row::Dense(v) => f64::kernel(
                #[inline(always)]
                || sum_pairs(v, p, |v, p| v * p),
            ),
            Row::Sparse { index, value } => index.iter().zip(value).map(|(&x, &v)| p[x] * v).sum(),
        }
    }

    /// The values of every row when all are dense (`None` if any is sparse): such sets are
    /// read state by state, in one pass over the states.
    pub(crate) fn all_dense(rows: &[Row]) -> Option<Vec<&[f64]>> {
        rows.iter()
            .map(|r| match r {
                Row::Dense(v) => Some(v.as_slice()),
                Row::Sparse { .. } => None,
            })
            .collect()
    }

    /// `(min_x phi(x), max_x phi(x))`; a sparse row counts its implicit zeros (an empty
    /// row is `(0, 0)`).
    pub(crate) fn range(&self) -> (f64, f64) {
        let (mut lo, mut hi) = match self {
            Row::Dense(v) if !v.is_empty() => (f64::INFINITY, f64::NEG_INFINITY),
            _ => (0.0, 0.0),
        };
        self.for_each(|_, v| {
            lo = lo.min(v);
            hi = hi.max(v);
        });
        (lo, hi)
    }

    /// `out[x] += sum_i theta_i phi_i(x)`, row by row in order at every `x`. From
    /// [`PARALLEL_WORK`] stored values on, the states are cut into parts of [`PART`] (the
    /// same parts whatever the number of threads) shared among the solve's threads
    /// ([`crate::rg::tiled::threads`]): each `out[x]` is summed in the same order either way.
    pub(crate) fn add_combination(rows: &[Row], theta: &[f64], out: &mut [f64]) {
        let threads = Self::threads_for(rows);
        let parts: Vec<(usize, &mut [f64])> =
            (0..).step_by(PART).zip(out.chunks_mut(PART)).collect();
        tiled::run(threads, parts, |(start, part)| {
            let range = start..start + part.len();
            for (row, &t) in rows.iter().zip(theta) {
                row.add_scaled_on(t, range.clone(), part);
            }
        });
    }

    /// `sum_x p(x) phi_i(x)` of every row (each by [`Row::dot`]; from [`PARALLEL_WORK`]
    /// stored values on, the rows are shared among the solve's threads, each summed whole by
    /// one).
    pub(crate) fn dots(rows: &[Row], p: &[f64]) -> Vec<f64> {
        tiled::run(Self::threads_for(rows), rows.iter().collect(), |row| {
            row.dot(p)
        })
    }

    /// The threads that sums over `rows` use: the solve's from [`PARALLEL_WORK`] stored
    /// values on, else one.
    fn threads_for(rows: &[Row]) -> usize {
        if Self::stored(rows) >= PARALLEL_WORK {
            tiled::threads()
        } else {
            1
        }
    }

    /// The values stored in `rows` (`n_0` per dense row, the entries of a sparse one).
    fn stored(rows: &[Row]) -> usize {
        rows.iter()
            .map(|r| match r {
                Row::Dense(v) => v.len(),
                Row::Sparse { index, .. } => index.len(),
            })
            .sum()
    }

    /// `out[x - range.start] += t phi(x)` for `x` in `range` (`out` the part of a vector
    /// over `range`).
    fn add_scaled_on(&self, t: f64, range: std::ops::Range<usize>, out: &mut [f64]) {
        match self {
            // Element by element in the widest vector kernel (the same values).
            Row::Dense(v) => f64::kernel(
                #[inline(always)]
                || {
                    for (o, &v) in out.iter_mut().zip(&v[range]) {
                        *o += t * v;
                    }
                },
            ),
            Row::Sparse { index, value } => {
                let from = index.partition_point(|&x| x < range.start);
                let to = index.partition_point(|&x| x < range.end);
                for (&x, &v) in index[from..to].iter().zip(&value[from..to]) {
                    out[x - range.start] += t * v;
                }
            }
        }
    }

    /// `out[x] += t phi(x)`.
    pub(crate) fn add_scaled(&self, t: f64, out: &mut [f64]) {
        self.add_scaled_on(t, 0..out.len(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Above the sharing threshold, the loss `theta·phi` and the expectations are the same
    /// bit for bit on one thread and on two, and equal the row-by-row sums over the whole
    /// vector (the parts cut sparse rows at their boundaries correctly).
    #[test]
    fn shared_sums_over_rows_do_not_depend_on_the_threads() {
        let n = 3 * PART + 17;
        let mut rng = StdRng::seed_from_u64(11);
        let rows: Vec<Row> = (0..(PARALLEL_WORK / n + 3))
            .map(|i| {
                if i % 3 == 0 {
                    let index: Vec<usize> = (0..n).filter(|_| rng.random_bool(0.2)).collect();
                    let value = index.iter().map(|_| rng.random_range(-1.0..1.0)).collect();
                    Row::Sparse { index, value }
                } else {
                    Row::Dense((0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
                }
            })
            .collect();
        assert!(Row::stored(&rows) >= PARALLEL_WORK);
        let theta: Vec<f64> = rows.iter().map(|_| rng.random_range(-2.0..2.0)).collect();
        let p: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..1.0)).collect();
        let mut by_row = vec![0.5; n];
        for (row, &t) in rows.iter().zip(&theta) {
            row.for_each(|x, v| by_row[x] += t * v);
        }
        let mut got = Vec::new();
        for threads in [1, 2] {
            tiled::set_threads(threads);
            let mut out = vec![0.5; n];
            Row::add_combination(&rows, &theta, &mut out);
            got.push((out, Row::dots(&rows, &p)));
        }
        tiled::set_threads(0);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got[0].0), bits(&got[1].0));
        assert_eq!(bits(&got[0].1), bits(&got[1].1));
        assert_eq!(bits(&got[0].0), bits(&by_row));
        for (row, &d) in rows.iter().zip(&got[0].1) {
            assert_eq!(d.to_bits(), row.dot(&p).to_bits());
        }
    }
}
