//! Exact sampling of an exchangeable model's `P*` by inverse RG: draw the total, then split
//! every block's sum into its two halves, level by level, down to the sites
//! (proof: proofs/sampling.md and proofs/exchangeable.md).
//!
//! Given its parent's sum `M`, the sums of the two halves have the conditional
//!
//! ```text
//! P(t1, M - t1 | M) = exp(l_k(t1) + l_k(M - t1) - L_{k+1}(M))
//! ```
//!
//! independently of every other block. Levels with small tables get 64-bit thresholds per
//! `M` (a binary search per draw); the widest levels walk the conditional on the fly.

use rand::Rng;

use super::ExchangeableSolution;
use crate::error::{Error, Result};
use crate::sampling::Sample;

/// Largest number of thresholds tabulated over all levels (`2^22`, 32 MiB).
const TABLE_BUDGET: usize = 1 << 22;

#[derive(Debug, Clone)]
enum Level {
    /// `thresholds[start[M]..start[M + 1]]` over `t1 = low(M)..`.
    Table {
        start: Vec<usize>,
        thresholds: Vec<u64>,
    },
    /// `l_k` and `L_{k+1}`.
    Walk {
        log_weights: Vec<f64>,
        log_norms: Vec<f64>,
    },
}

/// Exact sampler of an [`ExchangeableSolution`]. Sampling allocates nothing.
#[derive(Debug, Clone)]
pub struct ExchangeableSampler {
    sites: usize,
    top: Vec<u64>,
    /// Per level `k < n`: the split of a level-`k + 1` sum into two level-`k` sums.
    levels: Vec<Level>,
    /// Number of block-sum values of each level `k < n`.
    widths: Vec<usize>,
    /// State of each site-level lattice index (`u32::MAX` between states).
    state_of: Vec<u32>,
}

/// Cumulative thresholds `floor(2^64 (p_0 + .. + p_i))`, the last positive entry (and all
/// after it) at `u64::MAX`.
fn thresholds(p: &[f64], out: &mut Vec<u64>) {
    let total: f64 = p.iter().sum();
    let last = p.iter().rposition(|&x| x > 0.0).unwrap_or(p.len() - 1);
    let mut acc = 0.0;
    for (i, &x) in p.iter().enumerate() {
        acc += x;
        out.push(if i >= last {
            u64::MAX
        } else {
            (acc / total * 18_446_744_073_709_551_616.0) as u64
        });
    }
}

#[inline]
fn pick(t: &[u64], r: u64) -> usize {
    t.partition_point(|&x| x <= r).min(t.len() - 1)
}

/// The children's range `t1 = low..=high` for a parent sum `m` of two halves with `n`
/// values each.
#[inline]
fn range(m: usize, n: usize) -> (usize, usize) {
    (m.saturating_sub(n - 1), m.min(n - 1))
}

impl ExchangeableSampler {
    pub(crate) fn new(sol: &ExchangeableSolution) -> Result<Self> {
        let n = sol.steps.len();
        let mut top = Vec::new();
        let p_top = &sol.block_sum_distributions[n];
        if !p_top.iter().any(|&x| x > 0.0) {
            return Err(Error::AllForbidden(
                "the total has no allowed value".to_string(),
            ));
        }
        thresholds(p_top, &mut top);
        let mut budget = TABLE_BUDGET;
        let mut levels = Vec::with_capacity(n);
        let mut widths = Vec::with_capacity(n);
        let mut p = Vec::new();
        for (l, lz) in &sol.steps {
            let width = l.len();
            widths.push(width);
            let entries = width * width;
            if entries <= budget {
                budget -= entries;
                let mut start = Vec::with_capacity(lz.len() + 1);
                let mut thr = Vec::with_capacity(entries);
                start.push(0);
                for (m, &norm) in lz.iter().enumerate() {
                    let (low, high) = range(m, width);
                    p.clear();
                    p.extend((low..=high).map(|t| {
                        if norm == f64::NEG_INFINITY {
                            0.0
                        } else {
                            (l[t] + l[m - t] - norm).exp()
                        }
                    }));
                    if p.iter().all(|&x| x == 0.0) {
                        p.iter_mut().for_each(|x| *x = 1.0);
                    }
                    thresholds(&p, &mut thr);
                    start.push(thr.len());
                }
                levels.push(Level::Table {
                    start,
                    thresholds: thr,
                });
            } else {
                levels.push(Level::Walk {
                    log_weights: l.clone(),
                    log_norms: lz.clone(),
                });
            }
        }
        let states = sol.states();
        let mut state_of = vec![u32::MAX; states.span() + 1];
        for i in 0..states.len() {
            state_of[states.index(i)] = i as u32;
        }
        Ok(Self {
            sites: 1 << n,
            top,
            levels,
            widths,
            state_of,
        })
    }

    /// Number of sites of a sample, `2^n`.
    pub fn sites(&self) -> usize {
        self.sites
    }

    /// One configuration exactly from `P*` into `out` (`out.len()` the number of sites;
    /// `out[i]` is the state of site `i`, an index into the model's site values).
    ///
    /// The block sums are drawn in place: the sum of the level-`k` block starting at site
    /// `i` is kept at `out[i]` until it is split.
    fn draw<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [u32]) {
        out[0] = pick(&self.top, rng.next_u64()) as u32;
        for k in (0..self.levels.len()).rev() {
            let half = 1usize << k;
            let width = self.widths[k];
            for i in (0..self.sites).step_by(2 * half) {
                let m = out[i] as usize;
                let (low, high) = range(m, width);
                let t1 = low
                    + match &self.levels[k] {
                        Level::Table { start, thresholds } => {
                            pick(&thresholds[start[m]..start[m + 1]], rng.next_u64())
                        }
                        Level::Walk {
                            log_weights,
                            log_norms,
                        } => walk(log_weights, log_norms[m], m, low, high, rng.random()),
                    };
                out[i] = t1 as u32;
                out[i + half] = (m - t1) as u32;
            }
        }
        for x in out.iter_mut() {
            *x = self.state_of[*x as usize];
        }
    }
}

/// Draws are the states of every site (indices into the model's site values), site 0 first.
impl Sample for ExchangeableSampler {
    type Draw = Vec<u32>;

    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut Vec<u32>) {
        out.resize(self.sites, 0);
        self.draw(rng, out);
    }
}

/// The first `t1 - low` whose running sum of `exp(l(t1) + l(m - t1) - norm)` exceeds `u`
/// (the last positive one if rounding leaves `u` above the total).
fn walk(l: &[f64], norm: f64, m: usize, low: usize, high: usize, u: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for t in low..=high {
        let p = (l[t] + l[m - t] - norm).exp();
        if p > 0.0 {
            last = t - low;
            acc += p;
            if u < acc {
                return last;
            }
        }
    }
    last
}
