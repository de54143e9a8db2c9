//! The Hessian's terms that involve a sparse row, from that row's support alone.
//!
//! A sparse row's renormalised feature `G_k` (`super::covariance`) is zero outside the blocks
//! above its support, so on level `k` its deviation `G_k(x) - G_{k+1}(y)` is nonzero only in
//! the blocks `y` its support touches, and there it is `-G_{k+1}(y)` at every position off
//! the support. For the rows `T_y` touching block `y`, with `U` the union of their supports
//! in `y` and `R` the block's other positions,
//!
//! ```text
//! sum_{x in y} w_x dev_a(x) dev_b(x) = sum_{x in U} w_x dev_a(x) dev_b(x) + W_R mu_a mu_b
//! sum_{x in y} w_x dev_a(x) dev_l(x) = sum_{x in U} w_x dev_a(x) dev_l(x) - mu_a sum_{x in R} w_x dev_l(x)
//! ```
//!
//! (`w_x = P*_k(x) / S_k`, `W_R` the weight of `R`, `mu_a = G_{k+1}(y)` of row `a`, `l` a dense
//! row): every sum is of deviations, as in the dense kernel, with no cancellation across a
//! block's mean. The work is `|T_y|^2 (|U| + 1) / 2` per block, not `m^2 / 2` per state, and
//! no sparse row is ever written out densely.

use super::super::features::Row;
use crate::numerics::layout::Layout;
use crate::numerics::sum_pairs;

/// Positions of `U` whose deviations are gathered at a time.
const CHUNK: usize = 256;

/// One sparse row's `G_k` on the current level: nonzero positions (ascending) and values.
#[derive(Default)]
struct Column {
    index: Vec<usize>,
    value: Vec<f64>,
}

/// A sparse row touching a block: which row, its entries `start..end` in the block, and its
/// block mean `mu`.
#[derive(Clone, Copy)]
struct Touch {
    row: usize,
    start: usize,
    end: usize,
    mu: f64,
}

/// The sparse rows' `G_k`, level by level, and the terms they add to the Hessian.
pub(super) struct SparseTerms {
    /// The Hessian's order `m` (all rows).
    m: usize,
    /// Index among all rows of each sparse row (ascending).
    global: Vec<usize>,
    columns: Vec<Column>,
}

impl SparseTerms {
    /// `G_0` of the sparse rows among `rows`.
    pub(super) fn new(rows: &[Row]) -> Self {
        let mut global = Vec::new();
        let mut columns = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if let Row::Sparse { index, value } = row {
                global.push(i);
                columns.push(Column {
                    index: index.clone(),
                    value: value.clone(),
                });
            }
        }
        Self {
            m: rows.len(),
            global,
            columns,
        }
    }

    /// Adds level `k`'s terms with a sparse row to `lower` (row-major `m x m`, entry
    /// `[j * m + l]` for `l <= j`) and moves the sparse rows up to `G_{k+1}`; blocks of level
    /// `k + 1` by `layout`.
    pub(super) fn level(
        &mut self,
        layout: Layout<'_>,
        blocks: usize,
        lv: &Level<'_>,
        lower: &mut [f64],
    ) {
        let p = lv.p;
        if self.columns.is_empty() {
            return;
        }
        let mass: Vec<f64> = (0..blocks)
            .map(|y| p[layout.block(y)].iter().sum())
            .collect();
        // Every (row, block) touch, bucketed by block (rows ascending within a block).
        let mut touches: Vec<(usize, Touch)> = Vec::new();
        let mut next = Vec::with_capacity(self.columns.len());
        for (row, col) in self.columns.iter().enumerate() {
            let mut up = Column::default();
            let mut start = 0;
            while start < col.index.len() {
                let y = block_of(layout, blocks, col.index[start]);
                let r = layout.block(y);
                let end = start + col.index[start..].partition_point(|&x| x < r.end);
                let z = mass[y];
                if z > 0.0 {
                    let (index, value) = (&col.index[start..end], &col.value[start..end]);
                    let mu = block_mean(index, value, p, r.len(), z);
                    up.index.push(y);
                    up.value.push(mu);
                    touches.push((
                        y,
                        Touch {
                            row,
                            start,
                            end,
                            mu,
                        },
                    ));
                }
                start = end;
            }
            next.push(up);
        }
        touches.sort_by_key(|&(y, t)| (y, t.row));
        let mut scratch = Scratch::new(p.len(), lv.dense.len());
        let mut at = 0;
        while at < touches.len() {
            let y = touches[at].0;
            let len = touches[at..].partition_point(|&(b, _)| b == y);
            scratch.group.clear();
            scratch
                .group
                .extend(touches[at..at + len].iter().map(|&(_, t)| t));
            self.block(layout.block(y), y, lv, &mut scratch, lower);
            at += len;
        }
        self.columns = next;
    }

    /// The terms of block `y` (positions `r`), touched by the sparse rows `s.group`.
    fn block(
        &self,
        r: std::ops::Range<usize>,
        y: usize,
        lv: &Level<'_>,
        s: &mut Scratch,
        lower: &mut [f64],
    ) {
        let (p, inv_s, dense, dense_global) = (lv.p, lv.inv_s, lv.dense, lv.dense_global);
        s.means.clear();
        s.means.extend(lv.dense_next.iter().map(|n| n[y]));
        let m = self.m;
        // U, the union of the group's supports in the block, ascending.
        s.union.clear();
        for t in &s.group {
            s.union
                .extend_from_slice(&self.columns[t.row].index[t.start..t.end]);
        }
        s.union.sort_unstable();
        s.union.dedup();
        s.stamp += 1;
        for (i, &x) in s.union.iter().enumerate() {
            s.mark[x] = s.stamp;
            s.slot[x] = i;
        }
        // R: the weight and each dense row's weighted deviation sum, position by position.
        let mut w_rest = 0.0;
        s.dense_rest.iter_mut().for_each(|v| *v = 0.0);
        if s.union.len() < r.len() {
            for x in r.clone().filter(|&x| s.mark[x] != s.stamp) {
                let w = p[x] * inv_s;
                w_rest += w;
                for ((acc, g), mu) in s.dense_rest.iter_mut().zip(dense).zip(&s.means) {
                    *acc += w * (g[x] - mu);
                }
            }
        }
        let t_len = s.group.len();
        // R's share of every pair.
        for (a, ta) in s.group.iter().enumerate() {
            let ga = self.global[ta.row];
            for tb in &s.group[..=a] {
                let gb = self.global[tb.row];
                lower[ga * m + gb] += w_rest * ta.mu * tb.mu;
            }
            for (l, &gl) in dense_global.iter().enumerate() {
                let (j, k) = (ga.max(gl), ga.min(gl));
                lower[j * m + k] -= ta.mu * s.dense_rest[l];
            }
        }
        // U's share, a chunk of positions at a time.
        for c0 in (0..s.union.len()).step_by(CHUNK) {
            let n = CHUNK.min(s.union.len() - c0);
            let chunk = &s.union[c0..c0 + n];
            s.dev.resize(t_len * CHUNK, 0.0);
            for (a, t) in s.group.iter().enumerate() {
                let dev = &mut s.dev[a * CHUNK..a * CHUNK + n];
                dev.iter_mut().for_each(|d| *d = -t.mu);
                let col = &self.columns[t.row];
                for (&x, &v) in col.index[t.start..t.end]
                    .iter()
                    .zip(&col.value[t.start..t.end])
                {
                    let i = s.slot[x];
                    if (c0..c0 + n).contains(&i) {
                        dev[i - c0] = v - t.mu;
                    }
                }
            }
            for (w, &x) in s.weight[..n].iter_mut().zip(chunk) {
                *w = p[x] * inv_s;
            }
            for (a, ta) in s.group.iter().enumerate() {
                let ga = self.global[ta.row];
                let da = &s.dev[a * CHUNK..a * CHUNK + n];
                for ((sc, &w), &d) in s.scaled[..n].iter_mut().zip(&s.weight[..n]).zip(da) {
                    *sc = w * d;
                }
                for (b, tb) in s.group[..=a].iter().enumerate() {
                    let gb = self.global[tb.row];
                    let db = &s.dev[b * CHUNK..b * CHUNK + n];
                    lower[ga * m + gb] += sum_pairs(&s.scaled[..n], db, |u, v| u * v);
                }
                for ((g, &mu), &gl) in dense.iter().zip(&s.means).zip(dense_global) {
                    let sum: f64 = s.scaled[..n]
                        .iter()
                        .zip(chunk)
                        .map(|(&sc, &x)| sc * (g[x] - mu))
                        .sum();
                    let (j, k) = (ga.max(gl), ga.min(gl));
                    lower[j * m + k] += sum;
                }
            }
        }
    }
}

/// One level's data as the sparse terms see it.
pub(super) struct Level<'a> {
    /// `P*_k`, block order.
    pub p: &'a [f64],
    /// `1 / S_k`.
    pub inv_s: f64,
    /// The dense rows' `G_k`.
    pub dense: &'a [&'a [f64]],
    /// The dense rows' `G_{k+1}` (their block means).
    pub dense_next: &'a [Vec<f64>],
    /// The dense rows' indices among all rows.
    pub dense_global: &'a [usize],
}

/// Working space of one level's blocks.
struct Scratch {
    /// The sparse rows touching the current block.
    group: Vec<Touch>,
    /// The dense rows' means on the current block.
    means: Vec<f64>,
    union: Vec<usize>,
    /// `mark[x] == stamp` for `x` in the current block's `U`, at slot `slot[x]`.
    mark: Vec<u64>,
    slot: Vec<usize>,
    stamp: u64,
    dense_rest: Vec<f64>,
    dev: Vec<f64>,
    weight: Vec<f64>,
    scaled: Vec<f64>,
}

impl Scratch {
    fn new(positions: usize, dense: usize) -> Self {
        Self {
            group: Vec::new(),
            means: Vec::with_capacity(dense),
            union: Vec::new(),
            mark: vec![0; positions],
            slot: vec![0; positions],
            stamp: 0,
            dense_rest: vec![0.0; dense],
            dev: Vec::new(),
            weight: vec![0.0; CHUNK],
            scaled: vec![0.0; CHUNK],
        }
    }
}

/// The block holding position `x`.
fn block_of(layout: Layout<'_>, blocks: usize, x: usize) -> usize {
    match layout {
        Layout::Uniform(b) => x / b,
        // The last block starting at or before x (empty blocks start where the next does).
        Layout::Offsets(o) => o[..=blocks].partition_point(|&v| v - o[0] <= x) - 1,
    }
}

/// `G_{k+1}(y) = sum_x P*_k(x) G_k(x) / z` of a row whose entries in the block are
/// `(index, value)`, the block having `len` positions and mass `z > 0`. A row stored on the
/// whole block is shifted by its first value, as the dense rows are, so a row constant there
/// has that constant as its mean exactly.
fn block_mean(index: &[usize], value: &[f64], p: &[f64], len: usize, z: f64) -> f64 {
    let shift = if index.len() == len { value[0] } else { 0.0 };
    let s: f64 = index
        .iter()
        .zip(value)
        .map(|(&x, &v)| p[x] * (v - shift))
        .sum();
    shift + s / z
}
