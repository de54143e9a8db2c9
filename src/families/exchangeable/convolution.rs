//! The soft min-plus self-convolution of one block's renormalised loss, blocked so that it
//! costs multiply-adds instead of exponentials (docs/families-exchangeable.md, "The flow";
//! proof: proofs/exchangeable.md).
//!
//! With log-weights `l(t) = -(gamma(t) - min gamma) / S` (`t` the block-sum index, `-inf` for
//! a forbidden sum) one step needs
//!
//! ```text
//! L(M) = log sum_{t1 + t2 = M} exp(l(t1) + l(t2))
//! ```
//!
//! for every `M`. The indices are cut into tiles of [`WIDTH`]; tile `i` is scaled by its own
//! maximum `lambda_i`, `e(t) = exp(l(t) - lambda_i) <= 1`, and the outputs into tiles of the
//! same width, scaled by `sigma_o = max (lambda_i + lambda_j)` over the tile pairs that reach
//! output tile `o`. Then
//!
//! ```text
//! exp(L(M) - sigma_o) = sum_{i, j} exp(lambda_i + lambda_j - sigma_o)
//!                        sum_{a + b = M - (i + j) WIDTH} e_i(a) e_j(b)
//! ```
//!
//! is a sum of non-negative products of numbers `<= 1`: two exponentials per tile pair, and
//! `WIDTH^2` multiply-adds. Every term lost to underflow is below `2.3e-308` and there are at
//! most `2 N` of them, so a scaled sum `>= 1e-280` is exact to `1e-22` relative; an output
//! below that is recomputed in the log domain term by term (a stable log-sum-exp with its
//! own maximum), so the result is exact whatever the dynamic range.
//!
//! The scalar is `f64` or a [`crate::dual::Dual`] number: every step above is an identity in
//! exact arithmetic (the tile maxima cancel), so the same code in dual numbers differentiates
//! `L` and the marginals exactly ([`crate::model::Model::sensitivity`]); branches look at
//! values only.

use crate::numerics::Real;

/// Tile width of the blocked convolution.
pub(crate) const WIDTH: usize = 16;

/// A scaled sum at least this large lost at most `1e-22` of itself to underflow.
const GUARD: f64 = 1e-280;

type Tile<T> = [T; WIDTH];

/// One level's convolution, kept for the top-down pass (block-sum marginals, sampling).
#[derive(Debug, Clone)]
pub struct Convolution<T = f64> {
    /// `l(t) = -(gamma_k(t) - min gamma_k) / S_k`, `t = 0..N_k`.
    pub(crate) log_weights: Vec<T>,
    /// `L(M) = log sum_{t1 + t2 = M} exp(l(t1) + l(t2))`, `M = 0..2 N_k - 1`.
    pub(crate) log_norms: Vec<T>,
    /// `e(t) = exp(l(t) - lambda_i)` per tile, zero-padded to whole tiles.
    factors: Vec<T>,
    /// `lambda_i`, the maximum log-weight of tile `i` (`-inf` for an all-forbidden tile).
    tile_max: Vec<T>,
    /// `sigma_o` per output tile.
    out_max: Vec<T>,
    /// `exp(L(M) - sigma_o)` (not used where `exact[M]`).
    sums: Vec<T>,
    /// Outputs recomputed in the log domain (scaled sum below [`GUARD`]).
    exact: Vec<bool>,
    /// Tiles with at least one allowed sum.
    live: Vec<usize>,
}

fn tile<T: Real>(v: &[T], i: usize) -> &Tile<T> {
    v[i * WIDTH..(i + 1) * WIDTH]
        .try_into()
        .expect("the factors are padded to whole tiles")
}

/// `out[a + b] += x[a] y[b]`: the convolution of two tiles (`2 WIDTH - 1` outputs).
#[inline]
fn tile_product<T: Real>(x: &Tile<T>, y: &Tile<T>) -> [T; 2 * WIDTH] {
    let mut out = [T::zero(); 2 * WIDTH];
    for (a, &xa) in x.iter().enumerate() {
        if xa.value() != 0.0 {
            for (o, &yb) in out[a..a + WIDTH].iter_mut().zip(y) {
                *o = *o + xa * yb;
            }
        }
    }
    out
}

/// `-inf` of the scalar.
fn minus_inf<T: Real>() -> T {
    T::neg_infinity()
}

/// `log sum_{t1 + t2 = m} exp(l(t1) + l(t2))` term by term, maximum factored out.
fn exact_log_norm<T: Real>(l: &[T], m: usize) -> T {
    let n = l.len();
    let lo = m.saturating_sub(n - 1);
    let hi = m.min(n - 1);
    let top = (lo..=hi).map(|t| l[t] + l[m - t]).fold(minus_inf(), T::max);
    if top.value() == f64::NEG_INFINITY {
        return top;
    }
    let s = (lo..=hi).fold(T::zero(), |a, t| a + (l[t] + l[m - t] - top).exp());
    top + s.ln()
}

impl<T: Real> Convolution<T> {
    /// The convolution of the log-weights `l` (at least one entry, none `NaN` or `+inf`).
    pub fn new(log_weights: Vec<T>) -> Self {
        let n = log_weights.len();
        let tiles = n.div_ceil(WIDTH);
        let mut factors = vec![T::zero(); tiles * WIDTH];
        let mut tile_max = vec![minus_inf::<T>(); tiles];
        for (i, chunk) in log_weights.chunks(WIDTH).enumerate() {
            let m = chunk.iter().copied().fold(minus_inf(), T::max);
            tile_max[i] = m;
            if m.value() > f64::NEG_INFINITY {
                for (f, &l) in factors[i * WIDTH..].iter_mut().zip(chunk) {
                    *f = (l - m).exp();
                }
            }
        }
        let live: Vec<usize> = (0..tiles)
            .filter(|&i| tile_max[i].value() > f64::NEG_INFINITY)
            .collect();
        let mut out_max = vec![minus_inf::<T>(); 2 * tiles];
        for &i in &live {
            for &j in &live {
                let s = tile_max[i] + tile_max[j];
                for o in [i + j, i + j + 1] {
                    out_max[o] = out_max[o].max(s);
                }
            }
        }
        let mut sums = vec![T::zero(); 2 * tiles * WIDTH];
        for (ii, &i) in live.iter().enumerate() {
            let ei = tile(&factors, i);
            for &j in &live[ii..] {
                let local = tile_product(ei, tile(&factors, j));
                let pairs = T::of(if i == j { 1.0 } else { 2.0 });
                let s = tile_max[i] + tile_max[j];
                let o = i + j;
                let f0 = pairs * (s - out_max[o]).exp();
                let f1 = pairs * (s - out_max[o + 1]).exp();
                let (low, high) = local.split_at(WIDTH);
                for (acc, &x) in sums[o * WIDTH..(o + 1) * WIDTH].iter_mut().zip(low) {
                    *acc = *acc + f0 * x;
                }
                for (acc, &x) in sums[(o + 1) * WIDTH..(o + 2) * WIDTH].iter_mut().zip(high) {
                    *acc = *acc + f1 * x;
                }
            }
        }
        let outputs = 2 * n - 1;
        let mut log_norms = vec![minus_inf::<T>(); outputs];
        let mut exact = vec![false; outputs];
        for m in 0..outputs {
            let acc = sums[m];
            if acc.value() >= GUARD {
                log_norms[m] = out_max[m / WIDTH] + acc.ln();
            } else {
                exact[m] = true;
                log_norms[m] = exact_log_norm(&log_weights, m);
            }
        }
        Self {
            log_weights,
            log_norms,
            factors,
            tile_max,
            out_max,
            sums,
            exact,
            live,
        }
    }

    /// Number of block-sum values of the finer level, `N_k`.
    pub fn len(&self) -> usize {
        self.log_weights.len()
    }

    /// The marginal of one child's sum given the parent's distribution `coarse` (`2 N_k - 1`
    /// entries):
    ///
    /// ```text
    /// p_k(t1) = sum_{t2} p_{k+1}(t1 + t2) exp(l(t1) + l(t2) - L(t1 + t2))
    /// ```
    ///
    /// tile by tile as in [`Convolution::new`] (rows of a tile pair for the left child,
    /// columns for the mirrored pair), and term by term for the outputs kept exact.
    pub fn marginal(&self, coarse: &[T]) -> Vec<T> {
        let n = self.len();
        let tiles = self.tile_max.len();
        let mut ratio = vec![T::zero(); 2 * tiles * WIDTH];
        for (m, &p) in coarse.iter().enumerate() {
            if p.value() > 0.0 && !self.exact[m] {
                ratio[m] = p / self.sums[m];
            }
        }
        let mut fine = vec![T::zero(); tiles * WIDTH];
        for (ii, &i) in self.live.iter().enumerate() {
            let ei = tile(&self.factors, i);
            for &j in &self.live[ii..] {
                let ej = tile(&self.factors, j);
                let s = self.tile_max[i] + self.tile_max[j];
                let o = i + j;
                let f0 = (s - self.out_max[o]).exp();
                let f1 = (s - self.out_max[o + 1]).exp();
                let mut r = [T::zero(); 2 * WIDTH];
                for (t, x) in r.iter_mut().enumerate() {
                    *x = ratio[o * WIDTH + t] * if t < WIDTH { f0 } else { f1 };
                }
                if r.iter().all(|&x| x.value() == 0.0) {
                    continue;
                }
                // rows[a] = sum_b e_j(b) r(a + b), columns[b] = sum_a e_i(a) r(a + b), both
                // as sums of shifted copies of r (independent accumulators per lane).
                let mut rows = [T::zero(); WIDTH];
                for (b, &eb) in ej.iter().enumerate() {
                    for (o, &x) in rows.iter_mut().zip(&r[b..b + WIDTH]) {
                        *o = *o + eb * x;
                    }
                }
                for (a, (&ea, &row)) in ei.iter().zip(&rows).enumerate() {
                    fine[i * WIDTH + a] = fine[i * WIDTH + a] + ea * row;
                }
                if i != j {
                    let mut columns = [T::zero(); WIDTH];
                    for (a, &ea) in ei.iter().enumerate() {
                        for (o, &x) in columns.iter_mut().zip(&r[a..a + WIDTH]) {
                            *o = *o + ea * x;
                        }
                    }
                    for (b, (&eb, &col)) in ej.iter().zip(&columns).enumerate() {
                        fine[j * WIDTH + b] = fine[j * WIDTH + b] + eb * col;
                    }
                }
            }
        }
        let l = &self.log_weights;
        for (m, &p) in coarse.iter().enumerate() {
            let lm = self.log_norms[m];
            if p.value() > 0.0 && self.exact[m] && lm.value() > f64::NEG_INFINITY {
                for t in m.saturating_sub(n - 1)..=m.min(n - 1) {
                    fine[t] = fine[t] + p * (l[t] + l[m - t] - lm).exp();
                }
            }
        }
        fine.truncate(n);
        fine
    }

    /// `sum_M p_{k+1}(M) H(t1, t2 | M)` from both marginals:
    ///
    /// ```text
    /// H(t1, t2 | M) averaged = sum_M p_{k+1}(M) L(M) - 2 sum_t p_k(t) l(t)
    /// ```
    ///
    /// since `-log P(t1, t2 | M) = L(M) - l(t1) - l(t2)` and both children have the marginal
    /// `p_k`. Terms of probability zero are skipped (`0 log 0 = 0`).
    pub fn pair_entropy(&self, coarse: &[T], fine: &[T]) -> T {
        let weighted = |p: &[T], l: &[T]| {
            p.iter()
                .zip(l)
                .filter(|(p, _)| p.value() > 0.0)
                .fold(T::zero(), |a, (&p, &l)| a + p * l)
        };
        let up = weighted(coarse, &self.log_norms);
        let down = weighted(fine, &self.log_weights);
        (up - T::of(2.0) * down).max(T::zero())
    }
}
