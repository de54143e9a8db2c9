//! The answer to a tabulated problem: everything from one sweep, nothing recomputed.

use std::sync::{Arc, OnceLock};

use rand::Rng;

use crate::hierarchy::Hierarchy;
use crate::numerics::{compensated_sum, deficit_from_one, gibbs_into, min, sum_pairs};
use crate::rg::pool::Recyclable;
use crate::rg::{coarse_grain_levels, tabulated::Tabulated};
use crate::sampling::Sampler;
use crate::temperatures::Temperatures;

/// The minimiser `P*` of a scalarised problem (Theorem A/B) and its statistics.
///
/// All vectors returned are in the user's state order. Level 0 is the finest. Accessors
/// taking a `level` panic if `level > d`.
///
/// ```
/// # use hmaxent::{Hierarchy, Problem, Temperatures};
/// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
/// let t = Temperatures::new(&[1.0, 1.0])?;
/// let sol = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0])?.solve(&t)?;
/// // Value identity (docs/concepts.md, "5. Theorem A"): F = E[f] - sum_k tau_k H(Y_k).
/// let j = sol.expected_total_loss() - sol.entropy(0) - sol.entropy(1);
/// assert!((sol.free_energy() - j).abs() < 1e-14);
/// // Block conditionals of B = {2, 3}: Gibbs of (0, 1) at S_0 = 1.
/// let b = sol.conditional(0, 1);
/// assert_eq!((b[0].0, b[1].0), (2, 3));
/// assert!((b[1].1 / b[0].1 - (-1f64).exp()).abs() < 1e-15);
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Solution {
    hierarchy: Arc<Hierarchy>,
    temperatures: Temperatures,
    free_energy: f64,
    /// `g_0` and the effective potentials `u_1..u_d` the sweep ran on (block order; `None`
    /// is zero), from which the renormalised losses are recomputed when first asked for.
    g0: Arc<Vec<f64>>,
    potentials: Vec<Option<Vec<f64>>>,
    /// `g_0..g_d`, block order, once computed (the solve itself keeps none of them).
    losses: OnceLock<Vec<Arc<Vec<f64>>>>,
    /// `P*_0..P*_d`, block order.
    marginals: Vec<Vec<f64>>,
    /// `H(Y_k | Y_{k+1})`, `k < d`, then `H(Y_d)`.
    conditional_entropies: Vec<f64>,
    /// `H(Y_k)`.
    entropies: Vec<f64>,
    expected_level_losses: Vec<f64>,
    relative_entropies: Option<Vec<f64>>,
}

impl Solution {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        hierarchy: Arc<Hierarchy>,
        temperatures: Temperatures,
        free_energy: f64,
        g0: Arc<Vec<f64>>,
        potentials: Vec<Option<Vec<f64>>>,
        marginals: Vec<Vec<f64>>,
        conditional_entropies: Vec<f64>,
        expected_level_losses: Vec<f64>,
        relative_entropies: Option<Vec<f64>>,
    ) -> Self {
        // Chain rule: H(Y_k) = H(Y_k | Y_{k+1}) + H(Y_{k+1}).
        let entropies = crate::rg::driver::level_entropies(&conditional_entropies);
        Self {
            hierarchy,
            temperatures,
            free_energy,
            g0,
            potentials,
            losses: OnceLock::new(),
            marginals,
            conditional_entropies,
            entropies,
            expected_level_losses,
            relative_entropies,
        }
    }

    /// The hierarchy solved on.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// `d`.
    pub fn depth(&self) -> usize {
        self.hierarchy.depth()
    }

    /// The temperatures solved at.
    pub fn temperatures(&self) -> &Temperatures {
        &self.temperatures
    }

    /// Free energy `F = -S_d log sum_y exp(-g_d(y) / S_d)` (docs/concepts.md, "5. Theorem A"): the minimum of
    /// `E[sum_k u_k] - sum_k tau_k H(Y_k)` (with a reference, `+ sum_k tau_k D(P_k || Q_k)`).
    pub fn free_energy(&self) -> f64 {
        self.free_energy
    }

    /// `P*_k` in user order (allocates).
    pub fn marginal(&self, level: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.hierarchy.size(level)];
        self.marginal_into(level, &mut out);
        out
    }

    /// `P*_k` in user order, into `out` (`n_k` entries).
    ///
    /// # Panics
    /// If `out.len() != n_k`.
    pub fn marginal_into(&self, level: usize, out: &mut [f64]) {
        self.hierarchy
            .to_user_order(level, &self.marginals[level], out);
    }

    /// `P*_k` borrowed without a copy, when level `k` is stored in the user's order (always
    /// for complete trees and for parent arrays that list each block contiguously); `None`
    /// otherwise (use [`Solution::marginal_into`]).
    pub fn marginal_slice(&self, level: usize) -> Option<&[f64]> {
        self.hierarchy
            .is_identity_order(level)
            .then(|| self.marginals[level].as_slice())
    }

    /// `log P*_k` in user order, computed in the log domain: finite wherever `P*_k > 0` in
    /// exact arithmetic, even where [`Solution::marginal`] underflows to 0 (importance
    /// weights, likelihood ratios); `-inf` exactly where a state is forbidden. From the top,
    ///
    /// ```text
    /// log P*_d(y) = -(g_d(y) - m_d) / S_d,
    /// log P*_k(x) = log P*_{k+1}(y) - (g_k(x) - m_k(y)) / S_k,   x in B(y),
    /// ```
    ///
    /// with `m_k(y) = -S_k log sum_{x' in B(y)} exp(-g_k(x') / S_k)` (the soft minimum of the
    /// block, computed with its minimum factored out). Cost `O(n_0 + ... + n_k)`.
    ///
    /// # Panics
    /// If `level > d`.
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem, Temperatures};
    /// // P*(1) = e^-2000 / (1 + e^-2000): 0 in f64, but its logarithm is -2000.
    /// let sol = Problem::new(&Hierarchy::flat(2)?, &[0.0, 2000.0])?
    ///     .solve(&Temperatures::new(&[1.0])?)?;
    /// assert_eq!(sol.marginal(0)[1], 0.0);
    /// assert_eq!(sol.log_marginal(0), vec![0.0, -2000.0]);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn log_marginal(&self, level: usize) -> Vec<f64> {
        let h = &*self.hierarchy;
        let d = h.depth();
        assert!(level <= d, "level {level} > depth {d}");
        let log_gibbs = |g: &[f64], s: f64, out: &mut [f64], offset: f64| {
            let m = min(g);
            if m == f64::INFINITY {
                out.iter_mut().for_each(|x| *x = f64::NEG_INFINITY);
                return;
            }
            let z: f64 = g.iter().map(|&x| (-(x - m) / s).exp()).sum();
            let ln_z = z.ln();
            for (o, &x) in out.iter_mut().zip(g) {
                *o = offset - (x - m) / s - ln_z;
            }
        };
        let losses = self.losses();
        let mut coarse = vec![0.0; h.size(d)];
        log_gibbs(
            &losses[d],
            self.temperatures.cumulative(d),
            &mut coarse,
            0.0,
        );
        for k in (level..d).rev() {
            let layout = h.layout(k);
            let (g, s) = (&losses[k], self.temperatures.cumulative(k));
            let mut fine = vec![f64::NEG_INFINITY; h.size(k)];
            for (y, &lp) in coarse.iter().enumerate() {
                let block = layout.block(y);
                log_gibbs(&g[block.clone()], s, &mut fine[block], lp);
            }
            coarse = fine;
        }
        let mut out = vec![0.0; coarse.len()];
        h.to_user_order(level, &coarse, &mut out);
        out
    }

    /// The expectation `E_{P*}[phi(Y_k)] = sum_y P*_k(y) phi(y)` of an observable of the
    /// level-`k` state (`y` a user index). `phi` is called only where `P*_k(y) > 0`, so it may
    /// be undefined (or `+inf`) on states of probability 0.
    ///
    /// # Panics
    /// If `level > d`.
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem, Temperatures};
    /// let h = Hierarchy::complete(2, 3)?;
    /// let loss: Vec<f64> = (0..8).map(|x| x as f64).collect();
    /// let sol = Problem::new(&h, &loss)?.solve(&Temperatures::new(&[1.0, 0.5, 0.5, 0.5])?)?;
    /// // The expected loss is the expectation of the loss; the mean of a block index too.
    /// assert!((sol.expectation(0, |x| loss[x]) - sol.expected_total_loss()).abs() < 1e-12);
    /// let p1 = sol.marginal(1);
    /// let mean_block: f64 = p1.iter().enumerate().map(|(y, p)| p * y as f64).sum();
    /// assert!((sol.expectation(1, |y| y as f64) - mean_block).abs() < 1e-12);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn expectation(&self, level: usize, mut phi: impl FnMut(usize) -> f64) -> f64 {
        let h = &*self.hierarchy;
        self.marginals[level]
            .iter()
            .enumerate()
            .filter(|(_, &p)| p > 0.0)
            .map(|(pos, &p)| p * phi(h.user_index(level, pos)))
            .sum()
    }

    /// All marginals `[P*_0, ..., P*_d]`, user order.
    pub fn marginals(&self) -> Vec<Vec<f64>> {
        (0..self.hierarchy.levels())
            .map(|k| self.marginal(k))
            .collect()
    }

    /// The renormalised loss `g_k` (docs/concepts.md, "5. Theorem A"), user order:
    /// `g_0 = u_0`, `g_{k+1}(y) = u_{k+1}(y) - S_k log sum_{x in B(y)} exp(-g_k(x) / S_k)`.
    /// With a reference or a scaled loss, `g_0` is the effective loss the sweep used.
    pub fn renormalised_loss(&self, level: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.hierarchy.size(level)];
        self.hierarchy
            .to_user_order(level, &self.losses()[level], &mut out);
        out
    }

    /// The block conditional `P*(x | y)` of the children `x` (user indices at `level`) of
    /// the user state `y` at `level + 1`:
    /// `P*(x | y) ∝ exp(-g_level(x) / S_level)`. Defined (by this formula) even where
    /// `P*(y) = 0`; an empty or all-forbidden block gives an empty list / zeros.
    ///
    /// # Panics
    /// If `level >= d` or `y >= n_{level+1}`.
    pub fn conditional(&self, level: usize, y: usize) -> Vec<(usize, f64)> {
        let h = &self.hierarchy;
        let block = h.layout(level).block(h.position_of(level + 1, y));
        let g = &self.losses()[level][block.clone()];
        let mut p = vec![0.0; g.len()];
        gibbs_into(g, self.temperatures.cumulative(level), &mut p);
        block.map(|pos| h.user_index(level, pos)).zip(p).collect()
    }

    /// Shannon entropy `H(Y_k)` of the level-`k` marginal (nats).
    pub fn entropy(&self, level: usize) -> f64 {
        self.entropies[level]
    }

    /// `[H(Y_0), ..., H(Y_d)]`.
    pub fn entropies(&self) -> &[f64] {
        &self.entropies
    }

    /// `H(Y_k | Y_{k+1})` for `k < d`; `H(Y_d)` for `k = d`.
    pub fn conditional_entropy(&self, level: usize) -> f64 {
        self.conditional_entropies[level]
    }

    /// `E_{P*}[u_k(Y_k)]` (0 for a level without potentials).
    pub fn expected_loss(&self, level: usize) -> f64 {
        self.expected_level_losses[level]
    }

    /// `[E u_0(Y_0), ..., E u_d(Y_d)]`.
    pub fn expected_level_losses(&self) -> &[f64] {
        &self.expected_level_losses
    }

    /// `E_{P*}[f]` for the total loss `f = u_0 + u_1∘T + ...`.
    pub fn expected_total_loss(&self) -> f64 {
        self.expected_level_losses.iter().sum()
    }

    /// `[D(P*_0 || Q_0), ..., D(P*_d || Q_d)]` when the problem has a reference.
    pub fn relative_entropies(&self) -> Option<&[f64]> {
        self.relative_entropies.as_deref()
    }

    /// `sum_k w_k H(Y_k)` for level weights `w` (`d + 1` entries).
    pub fn weighted_entropy(&self, weights: &[f64]) -> f64 {
        weights
            .iter()
            .zip(&self.entropies)
            .map(|(w, h)| w * h)
            .sum()
    }

    /// An exact sampler of `P*` (docs/concepts.md, "10. Sampling"): per-level block CDFs built once, then every sample
    /// costs one uniform and one binary search per level, with no allocation.
    pub fn sampler(&self) -> Sampler {
        Sampler::new(Arc::clone(&self.hierarchy), &self.marginals)
    }

    /// One exact sample of a level-0 state (user index). For many samples build a
    /// [`Solution::sampler`] once.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        crate::sampling::Sample::sample(&self.sampler(), rng)
    }

    /// `g_0..g_d` in block order: the bottom-up sweep run again on first use (the solve
    /// itself writes only marginals), then kept.
    fn losses(&self) -> &[Arc<Vec<f64>>] {
        self.losses.get_or_init(|| {
            let engine = Tabulated::new(&self.hierarchy, &self.potentials);
            let cumulative = self.temperatures.cumulative_slice();
            let d = self.hierarchy.depth();
            let (coarse, conditionals) = coarse_grain_levels(&engine, &self.g0, &cumulative[..d])
                .expect("tabulated coarse-graining steps cannot fail");
            drop(conditionals);
            std::iter::once(Arc::clone(&self.g0))
                .chain(coarse.into_iter().map(Arc::new))
                .collect()
        })
    }

    /// `P*_k` in block order (the order of the hierarchy's tables).
    pub(crate) fn marginal_block(&self, level: usize) -> &[f64] {
        &self.marginals[level]
    }

    /// Divides each marginal by its own sum, added with Neumaier's compensation, then adds
    /// what the divided entries still miss of 1 (computed exactly to its own rounding) to the
    /// largest entry, so that every `P*_k` sums to 1 in exact arithmetic within half a unit in
    /// the last place of its largest entry (`5.6e-17` or less). The sweep's marginals sum to 1
    /// only within `n eps` or so, and the division alone leaves up to `n eps / 2`; a feature
    /// offset by `o` moves `E phi = sum_x P(x) phi(x)` by `o (sum P - 1)`: `1.3e-9` at
    /// `o = 3e6`, as much as the accuracy the moment solver promises (`docs/constraints.md`,
    /// "Vector moment constraints").
    pub(crate) fn normalised(mut self) -> Self {
        for p in &mut self.marginals {
            let total = compensated_sum(p);
            if total > 0.0 && total.is_finite() {
                p.iter_mut().for_each(|v| *v /= total);
                let deficit = deficit_from_one(p);
                let largest = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
                if let Some(v) = p.get_mut(largest) {
                    *v += deficit;
                }
            }
        }
        self
    }

    /// Recomputes the expected level losses with `losses` (used when the sweep ran on a
    /// derived problem, e.g. the face of a constraint boundary).
    pub(crate) fn with_expected_losses(mut self, losses: &impl LevelLosses) -> Self {
        self.expected_level_losses = (0..self.hierarchy.levels())
            .map(|k| expectation(&self.marginals[k], losses.level_loss(k)))
            .collect();
        self
    }
}

/// The per-level losses `u_k` of a problem, block order (`None`: identically zero).
pub(crate) trait LevelLosses {
    /// `u_k` in block order.
    fn level_loss(&self, level: usize) -> Option<&[f64]>;
}

/// `sum_x p(x) u(x)` with `0 * (+inf) = 0`; `None` is the zero loss.
pub(crate) fn expectation(p: &[f64], u: Option<&[f64]>) -> f64 {
    match u {
        None => 0.0,
        Some(u) => sum_pairs(p, u, |p, u| if p > 0.0 { p * u } else { 0.0 }),
    }
}

/// The tables a solution owns (marginals, effective potentials, renormalised losses not
/// shared with the problem or another solution) go back to a pool: [`crate::rg::pool::BufferPool::recycle`].
impl Recyclable<f64> for Solution {
    fn into_tables(self) -> Vec<Vec<f64>> {
        let losses = self
            .losses
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .chain([self.g0])
            .filter_map(|g| Arc::try_unwrap(g).ok());
        let potentials = self.potentials.into_iter().flatten();
        self.marginals
            .into_iter()
            .chain(losses)
            .chain(potentials)
            .collect()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Solution {
    /// The statistics in the user's order, with the field names of the command line's
    /// `solve` output: `free_energy`, `temperatures`, `cumulative_temperatures`,
    /// `expected_loss`, `expected_level_losses`, `entropies`, `relative_entropies` (with a
    /// reference, else `null`) and `marginals`.
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = serializer.serialize_struct("Solution", 8)?;
        st.serialize_field("free_energy", &self.free_energy)?;
        st.serialize_field("temperatures", self.temperatures.as_slice())?;
        st.serialize_field(
            "cumulative_temperatures",
            self.temperatures.cumulative_slice(),
        )?;
        st.serialize_field("expected_loss", &self.expected_total_loss())?;
        st.serialize_field("expected_level_losses", &self.expected_level_losses)?;
        st.serialize_field("entropies", &self.entropies)?;
        st.serialize_field("relative_entropies", &self.relative_entropies)?;
        st.serialize_field("marginals", &self.marginals())?;
        st.end()
    }
}
