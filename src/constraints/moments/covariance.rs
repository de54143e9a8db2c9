//! The exact Hessian of the moment dual from the marginals of one `f64` solve: a multilevel
//! covariance of the renormalised features (proofs/convex_dual.md, "2. The Hessian is a
//! multilevel covariance"):
//!
//! ```text
//! Hess D = sum_{k=0}^{d} (1 / S_k) sum_x P*_k(x) (G_k(x) - G_{k+1}(y)) (G_k(x) - G_{k+1}(y))^T
//! G_0 = phi,   G_{k+1}(y) = sum_{x in B(y)} P*_k(x) G_k(x) / sum_{x in B(y)} P*_k(x)
//! ```
//!
//! with `y` the block of `x` (level `d + 1`: one block of every level-`d` state), and
//! `G_{k+1}(y) = 0` for a block without mass (it adds nothing). The terms are added block by
//! block, in chunks of positions whose deviations stay in cache, as `m (m + 1) / 2` dot
//! products per chunk. No dual numbers: one `f64` solve gives every level's marginal, and
//! this pass costs about `m (m + 3) / 2` multiply-adds per state of the hierarchy for dense
//! rows; the terms with a sparse row are taken from its support (`super::sparse_terms`).

use super::super::features::Row;
use super::sparse_terms::{Level, SparseTerms};
use crate::hierarchy::Hierarchy;
use crate::numerics::layout::Layout;
use crate::numerics::{sum_pairs, Real};
use crate::rg::tiled;

/// Positions whose deviations are gathered before they are added into the Hessian.
const CHUNK: usize = 256;

/// From this many rows on, a chunk's `m (m + 1) / 2` dot products are shared among threads.
const PARALLEL_FROM: usize = 48;

/// `Hess D` (row-major `m x m`, `m = rows.len()`) at the point whose level marginals are
/// `marginals` (`P*_0..P*_d`, block order), for cumulative temperatures `cumulative`
/// (`S_0..S_d`).
pub(super) fn multilevel_covariance(
    h: &Hierarchy,
    rows: &[Row],
    marginals: &[Vec<f64>],
    cumulative: &[f64],
) -> Vec<f64> {
    let m = rows.len();
    let d = h.depth();
    let mut hessian = vec![0.0; m * m];
    if m == 0 {
        return hessian;
    }
    // Dense rows through the chunked kernel; every pair with a sparse row from its support.
    let dense_global: Vec<usize> = (0..m)
        .filter(|&i| matches!(rows[i], Row::Dense(_)))
        .collect();
    let level0: Vec<&[f64]> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Dense(v) => Some(v.as_slice()),
            Row::Sparse { .. } => None,
        })
        .collect();
    let mut acc = Accumulator::new(dense_global.len());
    let mut sparse = SparseTerms::new(rows);
    let mut current: Vec<Vec<f64>> = Vec::new();
    for k in 0..=d {
        let (layout, blocks) = if k < d {
            (h.layout(k), h.size(k + 1))
        } else {
            (Layout::Uniform(h.size(d)), 1)
        };
        let g: Vec<&[f64]> = if k == 0 {
            level0.clone()
        } else {
            current.iter().map(Vec::as_slice).collect()
        };
        let inv_s = 1.0 / cumulative[k];
        let next = acc.level(layout, blocks, &marginals[k], &g, inv_s);
        let lv = Level {
            p: &marginals[k],
            inv_s,
            dense: &g,
            dense_next: &next,
            dense_global: &dense_global,
        };
        sparse.level(layout, blocks, &lv, &mut hessian);
        current = next;
    }
    // The dense rows' block of the lower triangle, then the whole matrix made symmetric.
    acc.flush();
    let md = dense_global.len();
    for (j, &gj) in dense_global.iter().enumerate() {
        for (l, &gl) in dense_global[..=j].iter().enumerate() {
            hessian[gj * m + gl] += acc.lower[j * md + l];
        }
    }
    for j in 0..m {
        for l in 0..j {
            hessian[l * m + j] = hessian[j * m + l];
        }
    }
    hessian
}

/// `Cov_p(phi_i, phi_j)` of dense rows under `p` (summing to 1; states with `p(x) = 0` add
/// nothing), row-major: the Hessian's top level alone (one block of every state), through
/// the same chunked kernel.
pub(super) fn dense_covariance(rows: &[&[f64]], p: &[f64]) -> Vec<f64> {
    let m = rows.len();
    let mut out = vec![0.0; m * m];
    if m == 0 || p.is_empty() {
        return out;
    }
    let mut acc = Accumulator::new(m);
    acc.level(Layout::Uniform(p.len()), 1, p, rows, 1.0);
    acc.finish(&mut out);
    out
}

/// The Hessian's lower triangle and the chunk of deviations not yet added to it.
struct Accumulator {
    m: usize,
    /// `lower[j * m + l]` for `l <= j`.
    lower: Vec<f64>,
    /// Deviations `G_k(x) - G_{k+1}(y)`, feature `j` at `j * CHUNK..`.
    dev: Vec<f64>,
    /// `P*_k(x) / S_k` of each gathered position.
    weight: Vec<f64>,
    /// Gathered positions.
    len: usize,
}

impl Accumulator {
    fn new(m: usize) -> Self {
        Self {
            m,
            lower: vec![0.0; m * m],
            dev: vec![0.0; m * CHUNK],
            weight: vec![0.0; CHUNK],
            len: 0,
        }
    }

    /// Level `k`'s term (`p = P*_k`, `g` the columns of `G_k`, `inv_s = 1 / S_k`, blocks of
    /// level `k + 1` by `layout`); returns the columns of `G_{k+1}`.
    fn level(
        &mut self,
        layout: Layout<'_>,
        blocks: usize,
        p: &[f64],
        g: &[&[f64]],
        inv_s: f64,
    ) -> Vec<Vec<f64>> {
        let m = self.m;
        let mut next = vec![vec![0.0; blocks]; m];
        if layout == Layout::Uniform(2) {
            self.pairs(p, g, inv_s, &mut next);
            return next;
        }
        let mut mean = vec![0.0; m];
        if blocks == 1 {
            self.one_block(p, g, inv_s, &mut mean);
            for (nj, mj) in next.iter_mut().zip(&mean) {
                nj[0] = *mj;
            }
            return next;
        }
        #[allow(clippy::needless_range_loop)] // y names a block and a column entry
        for y in 0..blocks {
            let r = layout.block(y);
            let z: f64 = p[r.clone()].iter().sum();
            if z <= 0.0 {
                continue;
            }
            for (j, gj) in g.iter().enumerate() {
                // Shifted by the block's first value, so a row constant on the block has
                // its mean and deviations exactly (a constant row has Hessian exactly 0).
                let first = gj[r.start];
                let s: f64 = p[r.clone()]
                    .iter()
                    .zip(&gj[r.clone()])
                    .map(|(p, g)| p * (g - first))
                    .sum();
                mean[j] = first + s / z;
                next[j][y] = mean[j];
            }
            for x in r.filter(|&x| p[x] > 0.0) {
                let at = self.len;
                for (j, gj) in g.iter().enumerate() {
                    self.dev[j * CHUNK + at] = gj[x] - mean[j];
                }
                self.weight[at] = p[x] * inv_s;
                self.len += 1;
                if self.len == CHUNK {
                    self.flush();
                }
            }
        }
        next
    }

    /// [`Self::level`] for one block of every position (the top level, and a plain
    /// covariance): the deviations of each feature are gathered a chunk at a time as
    /// contiguous runs, not position by position. Positions with `p = 0` add `0` (features
    /// are finite). Writes the block's means into `mean`.
    fn one_block(&mut self, p: &[f64], g: &[&[f64]], inv_s: f64, mean: &mut [f64]) {
        self.flush();
        let z: f64 = sum_pairs(p, p, |p, _| p);
        if z <= 0.0 {
            return;
        }
        for (mj, gj) in mean.iter_mut().zip(g) {
            // Shifted by the first value, as in the general case.
            let first = gj[0];
            *mj = first + sum_pairs(p, gj, |p, g| p * (g - first)) / z;
        }
        for x0 in (0..p.len()).step_by(CHUNK) {
            let n = CHUNK.min(p.len() - x0);
            for (w, &px) in self.weight[..n].iter_mut().zip(&p[x0..x0 + n]) {
                *w = px * inv_s;
            }
            for (j, (gj, &mj)) in g.iter().zip(mean.iter()).enumerate() {
                let dev = &mut self.dev[j * CHUNK..j * CHUNK + n];
                for (dv, &v) in dev.iter_mut().zip(&gj[x0..x0 + n]) {
                    *dv = v - mj;
                }
            }
            self.len = n;
            self.flush();
        }
    }

    /// [`Self::level`] for blocks of two, one deviation per block: with `P(a|y) + P(b|y) = 1`
    /// the block's covariance is `P(a|y) P(b|y) (G(a) - G(b)) (G(a) - G(b))^T`, so its term
    /// is `P*(a) P*(b) / (P*(a) + P*(b)) / S_k` times that outer product.
    fn pairs(&mut self, p: &[f64], g: &[&[f64]], inv_s: f64, next: &mut [Vec<f64>]) {
        let blocks = next.first().map_or(0, Vec::len);
        // Deviations still gathered from a coarser level's blocks go in first.
        self.flush();
        let mut share = vec![0.0; CHUNK];
        for y0 in (0..blocks).step_by(CHUNK) {
            let n = CHUNK.min(blocks - y0);
            let pairs = p[2 * y0..2 * (y0 + n)].chunks_exact(2);
            for ((sh, w), pair) in share[..n].iter_mut().zip(&mut self.weight[..n]).zip(pairs) {
                let (a, b) = (pair[0], pair[1]);
                let z = a + b;
                (*sh, *w) = if z > 0.0 {
                    (b / z, a * b / z * inv_s)
                } else {
                    (0.0, 0.0)
                };
            }
            for (j, (gj, nj)) in g.iter().zip(next.iter_mut()).enumerate() {
                let dev = &mut self.dev[j * CHUNK..j * CHUNK + n];
                let pairs = gj[2 * y0..2 * (y0 + n)].chunks_exact(2);
                let out = nj[y0..y0 + n].iter_mut().zip(dev);
                for (((o, dv), pair), sh) in out.zip(pairs).zip(&share[..n]) {
                    // a + P(b|y) (b - a): exactly a for a row constant on the block.
                    let (a, b) = (pair[0], pair[1]);
                    *o = a + sh * (b - a);
                    *dv = a - b;
                }
            }
            self.len = n;
            self.flush();
        }
    }

    /// Adds the gathered deviations: `lower[j, l] += sum_x w_x dev_j(x) dev_l(x)`. From
    /// [`PARALLEL_FROM`] rows on, the rows `j` are split among the solve's threads
    /// ([`crate::rg::tiled::threads`]) in parts of equal work; every entry is summed in the
    /// same order whatever the number of threads.
    fn flush(&mut self) {
        let (m, n) = (self.m, self.len);
        self.len = 0;
        if n == 0 || m == 0 {
            return;
        }
        let (dev, weight) = (&self.dev, &self.weight);
        let threads = if m >= PARALLEL_FROM {
            tiled::threads()
        } else {
            1
        };
        let mut parts = Vec::new();
        let mut rest = &mut self.lower[..];
        let mut j0 = 0;
        for t in 1..=threads {
            // Rows j0..j1 hold about t / threads of the triangle's m (m + 1) / 2 entries.
            let j1 = if t == threads {
                m
            } else {
                let share = (m * (m + 1)) as f64 * t as f64 / threads as f64;
                (share.sqrt() as usize).clamp(j0, m)
            };
            let (head, tail) = rest.split_at_mut((j1 - j0) * m);
            parts.push((j0, head));
            (j0, rest) = (j1, tail);
        }
        tiled::run(threads, parts, |(j0, rows)| {
            let mut scaled = [0.0; CHUNK];
            f64::kernel(
                #[inline(always)]
                || {
                    for (row, j) in rows.chunks_exact_mut(m).zip(j0..) {
                        let dj = &dev[j * CHUNK..j * CHUNK + n];
                        for ((s, &w), &v) in scaled[..n].iter_mut().zip(&weight[..n]).zip(dj) {
                            *s = w * v;
                        }
                        for (l, out) in row[..=j].iter_mut().enumerate() {
                            let dl = &dev[l * CHUNK..l * CHUNK + n];
                            *out += sum_pairs(&scaled[..n], dl, |a, b| a * b);
                        }
                    }
                },
            );
        });
    }

    /// The remaining deviations added, and the full symmetric matrix into `out`.
    fn finish(&mut self, out: &mut [f64]) {
        self.flush();
        let m = self.m;
        for j in 0..m {
            for l in 0..=j {
                out[j * m + l] = self.lower[j * m + l];
                out[l * m + j] = self.lower[j * m + l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dual::Dual;
    use crate::rg::tabulated::Tabulated;
    use crate::rg::{reconstruct, sweep};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A random hierarchy in block order (unequal and empty blocks, or a complete binary
    /// tree), forbidden leaves, potentials (a reference) on some levels, temperatures.
    /// Hierarchy, leaf losses, potentials `u_1..u_d`, cumulative temperatures.
    type Instance = (Hierarchy, Vec<f64>, Vec<Option<Vec<f64>>>, Vec<f64>);

    fn instance(seed: u64) -> Instance {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = rng.random_range(0..=4);
        let h = if seed.is_multiple_of(3) {
            Hierarchy::complete(2, d + 1).unwrap()
        } else {
            let (sizes, parents) = crate::hierarchy::testing::random_levels(&mut rng, d, 3, 4);
            Hierarchy::new(sizes, parents).unwrap()
        };
        let mut g0: Vec<f64> = (0..h.size(0))
            .map(|_| {
                if rng.random_bool(0.1) {
                    f64::INFINITY
                } else {
                    rng.random_range(-2.0..2.0)
                }
            })
            .collect();
        g0[0] = 0.25;
        let potentials = (1..h.levels())
            .map(|k| {
                rng.random_bool(0.4).then(|| {
                    (0..h.size(k))
                        .map(|_| rng.random_range(-1.0..1.0))
                        .collect()
                })
            })
            .collect();
        let mut s = 0.0;
        let cumulative = (0..h.levels())
            .map(|_| {
                s += rng.random_range(0.1..2.0);
                s
            })
            .collect();
        (h, g0, potentials, cumulative)
    }

    /// The covariance formula against the derivatives of a dual-number sweep (tangent `k` of
    /// the level-0 loss is `phi_k` on the allowed states): `Hess_kj = -sum_x phi_j(x)
    /// dP*_0(x)/dtheta_k`, to `1e-12` of the largest entry, for dense and sparse rows.
    #[test]
    fn the_multilevel_covariance_is_the_dual_number_hessian() {
        const M: usize = 3;
        for seed in 0..200u64 {
            let (h, g0, potentials, cumulative) = instance(seed);
            let mut rng = StdRng::seed_from_u64(seed ^ 0xfeed);
            let n = h.size(0);
            let phi: Vec<Vec<f64>> = (0..M)
                .map(|j| {
                    (0..n)
                        .map(|_| match j {
                            2 if rng.random_bool(0.6) => 0.0,
                            _ => rng.random_range(-1.0..1.0),
                        })
                        .collect()
                })
                .collect();
            let engine = Tabulated::new(&h, &potentials);
            let Ok(flow) = sweep(&engine, &g0, &cumulative) else {
                continue;
            };
            let marginals = reconstruct(&engine, flow.conditionals).marginals;
            let lift = |v: &f64| Dual::<M>::constant(*v);
            let dual_potentials: Vec<Option<Vec<Dual<M>>>> = potentials
                .iter()
                .map(|u| u.as_ref().map(|u| u.iter().map(lift).collect()))
                .collect();
            let dual_g0: Vec<Dual<M>> = (0..n)
                .map(|x| {
                    let mut t = Dual::constant(g0[x]);
                    if g0[x].is_finite() {
                        (0..M).for_each(|k| t.eps[k] = phi[k][x]);
                    }
                    t
                })
                .collect();
            let dual_cumulative: Vec<Dual<M>> = cumulative.iter().map(lift).collect();
            let dual_engine = Tabulated::new(&h, &dual_potentials);
            let flow = sweep(&dual_engine, &dual_g0, &dual_cumulative).unwrap();
            let p0 = reconstruct(&dual_engine, flow.conditionals)
                .marginals
                .swap_remove(0);
            let sparse = |v: &[f64]| {
                let index: Vec<usize> = (0..v.len()).filter(|&x| v[x] != 0.0).collect();
                let value = index.iter().map(|&x| v[x]).collect();
                Row::Sparse { index, value }
            };
            let rows: Vec<Row> = vec![
                Row::Dense(phi[0].clone()),
                Row::Dense(phi[1].clone()),
                sparse(&phi[2]),
            ];
            let got = multilevel_covariance(&h, &rows, &marginals, &cumulative);
            let want: Vec<f64> = (0..M * M)
                .map(|e| {
                    let (k, j) = (e / M, e % M);
                    -(0..n).map(|x| phi[j][x] * p0[x].eps[k]).sum::<f64>()
                })
                .collect();
            let top = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (e, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * top,
                    "seed {seed}, entry {e}: {a} vs {b}"
                );
            }
        }
    }

    /// Sparse rows (overlapping supports, one stored on every state, one empty, mixed with
    /// dense rows, in any order) give the Hessian of the same rows written out densely, to
    /// `1e-13` of the largest entry: the support-only terms (`super::sparse_terms`) against
    /// the dense kernel, on trees with unequal and empty blocks and on flat hierarchies
    /// (one block of every state).
    #[test]
    fn sparse_rows_give_the_hessian_of_their_dense_copies() {
        let mut checked = 0;
        for seed in 0..300u64 {
            let (h, g0, potentials, cumulative) = if seed % 5 == 4 {
                let mut rng = StdRng::seed_from_u64(seed);
                let n = rng.random_range(1..40);
                let g0 = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
                (Hierarchy::flat(n).unwrap(), g0, vec![], vec![0.7])
            } else {
                instance(seed)
            };
            let engine = Tabulated::new(&h, &potentials);
            let Ok(flow) = sweep(&engine, &g0, &cumulative) else {
                continue;
            };
            let marginals = reconstruct(&engine, flow.conditionals).marginals;
            let n = h.size(0);
            let mut rng = StdRng::seed_from_u64(seed ^ 0xabc);
            let m = rng.random_range(1..8);
            let dense: Vec<Vec<f64>> = (0..m)
                .map(|j| {
                    let density = [0.0, 1.0, 0.1, 0.3, 0.6][j % 5];
                    (0..n)
                        .map(|_| {
                            if rng.random_bool(density) {
                                rng.random_range(-2.0..2.0)
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect();
            let rows: Vec<Row> = dense
                .iter()
                .map(|v| {
                    if rng.random_bool(0.25) {
                        return Row::Dense(v.clone());
                    }
                    let index: Vec<usize> = (0..n).filter(|&x| v[x] != 0.0).collect();
                    let value = index.iter().map(|&x| v[x]).collect();
                    Row::Sparse { index, value }
                })
                .collect();
            let as_dense: Vec<Row> = dense.iter().map(|v| Row::Dense(v.clone())).collect();
            let got = multilevel_covariance(&h, &rows, &marginals, &cumulative);
            let want = multilevel_covariance(&h, &as_dense, &marginals, &cumulative);
            let top = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (e, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-13 * top.max(1e-300),
                    "seed {seed}, entry {e}: {a} vs {b}"
                );
            }
            checked += 1;
        }
        assert!(checked > 200, "{checked}");
    }

    /// With enough rows to share a chunk's dot products among threads, the Hessian is the
    /// same bit for bit on one thread and on two, and equals the dense-copy reference built
    /// entry by entry (one dot product per level and entry, no chunks) to `1e-13`.
    #[test]
    fn many_rows_give_the_same_hessian_on_any_number_of_threads() {
        let (h, g0, potentials, cumulative) = instance(3); // a complete binary tree
        let engine = Tabulated::new(&h, &potentials);
        let flow = sweep(&engine, &g0, &cumulative).unwrap();
        let marginals = reconstruct(&engine, flow.conditionals).marginals;
        let n = h.size(0);
        let mut rng = StdRng::seed_from_u64(7);
        let m = PARALLEL_FROM + 13;
        let rows: Vec<Row> = (0..m)
            .map(|_| Row::Dense((0..n).map(|_| rng.random_range(-1.0..1.0)).collect()))
            .collect();
        crate::rg::tiled::set_threads(1);
        let one = multilevel_covariance(&h, &rows, &marginals, &cumulative);
        crate::rg::tiled::set_threads(2);
        let two = multilevel_covariance(&h, &rows, &marginals, &cumulative);
        crate::rg::tiled::set_threads(0);
        assert!(one
            .iter()
            .zip(&two)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // Entry by entry: G_k level by level, sum_x P*_k(x)/S_k (G_k(x) - G_{k+1}(y))_j (..)_l.
        let mut g: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| match r {
                Row::Dense(v) => v.clone(),
                Row::Sparse { .. } => unreachable!(),
            })
            .collect();
        let mut want = vec![0.0; m * m];
        for k in 0..h.levels() {
            let p = &marginals[k];
            let up: Vec<usize> = (0..h.size(k))
                .map(|x| {
                    if k < h.depth() {
                        h.parent(k, h.user_index(k, x))
                    } else {
                        0
                    }
                })
                .map(|y| {
                    if k < h.depth() {
                        h.position_of(k + 1, y)
                    } else {
                        0
                    }
                })
                .collect();
            let blocks = if k < h.depth() { h.size(k + 1) } else { 1 };
            let mut z = vec![0.0; blocks];
            let mut mean = vec![vec![0.0; blocks]; m];
            for x in 0..h.size(k) {
                z[up[x]] += p[x];
                for j in 0..m {
                    mean[j][up[x]] += p[x] * g[j][x];
                }
            }
            for mj in mean.iter_mut() {
                for (v, &zy) in mj.iter_mut().zip(&z) {
                    *v = if zy > 0.0 { *v / zy } else { 0.0 };
                }
            }
            for j in 0..m {
                let mj = &mean[j];
                for l in 0..=j {
                    want[j * m + l] += (0..h.size(k))
                        .map(|x| p[x] * (g[j][x] - mj[up[x]]) * (g[l][x] - mean[l][up[x]]))
                        .sum::<f64>()
                        / cumulative[k];
                }
            }
            g = mean;
        }
        let top = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for j in 0..m {
            for l in 0..=j {
                let (a, b) = (one[j * m + l], want[j * m + l]);
                assert!((a - b).abs() <= 1e-13 * top, "entry {j},{l}: {a} vs {b}");
            }
        }
    }

    /// A row constant on the allowed states has no variance at any level: its Hessian row is
    /// exactly 0, not rounding noise (Newton's pseudo-inverse would read noise as a tiny
    /// curvature and step far along a flat direction).
    #[test]
    fn a_constant_row_has_an_exactly_zero_hessian() {
        for seed in 0..60u64 {
            let (h, g0, potentials, cumulative) = instance(seed);
            let engine = Tabulated::new(&h, &potentials);
            let Ok(flow) = sweep(&engine, &g0, &cumulative) else {
                continue;
            };
            let marginals = reconstruct(&engine, flow.conditionals).marginals;
            let n = h.size(0);
            let rows = vec![
                Row::Dense(vec![-0.5; n]),
                Row::Dense((0..n).map(|x| (x % 5) as f64 * 0.3).collect()),
            ];
            let got = multilevel_covariance(&h, &rows, &marginals, &cumulative);
            assert_eq!([got[0], got[1], got[2]], [0.0; 3], "seed {seed}");
        }
    }
}
