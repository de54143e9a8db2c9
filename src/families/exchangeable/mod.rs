//! Exchangeable blocks: losses that depend on block sums at every level, and their
//! convolution flow (Dyson's hierarchical model and its relatives).
//!
//! `2^n` sites take states from a finite set of numbers (Ising: `{-1, +1}`); level `k` is the
//! vector of **block sums** `m_{k,b} = sum_{i in b} s_i` over the `2^(n-k)` blocks of `2^k`
//! consecutive sites (binary blocks). The loss is a sum over blocks of a function of the
//! block sum at every level,
//!
//! ```text
//! u_0(Y_0) = sum_i v_0(s_i),     u_k(Y_k) = sum_b v_k(m_{k,b})     (k = 1..n)
//! ```
//!
//! Dyson's hierarchical Ising model is `v_0(s) = -h s`, `v_k(m) = -(J/2) (c/4)^k m^2`
//! ([`Exchangeable::hierarchical_ising`]). Every renormalised loss is again additive over
//! blocks, `g_k(Y_k) = sum_b gamma_k(m_{k,b})`, and one RG step is a soft min-plus
//! convolution of one block's function with itself (proof: `proofs/exchangeable.md`):
//!
//! ```text
//! gamma_{k+1}(M) = v_{k+1}(M) - S_k log sum_{m1 + m2 = M} exp(-(gamma_k(m1) + gamma_k(m2)) / S_k)
//! F              = -S_n log sum_M exp(-gamma_n(M) / S_n)
//! ```
//!
//! Block sums take `O(2^k)` values at level `k`, so the flow costs `O(4^n)` (for `N = 2^n`
//! sites, `O(N^2)` instead of `2^N` states). Top-down, all blocks of a level share one
//! block-sum distribution `p_k`, and
//!
//! ```text
//! H(Y_k) = H(Y_n) + sum_{j >= k} 2^(n-j-1) sum_M p_{j+1}(M) H(m1, m2 | M)
//! ```
//!
//! Site values must lie on a lattice `offset + step * t` with integer `t` (any finite set of
//! integers, or of multiples of a common step, qualifies); block sums of level `k` are then
//! `2^k offset + step * t`, `t = 0..=2^k r` with `r` the largest index of a state.
//!
//! ```
//! # use hmaxent::families::exchangeable::Exchangeable;
//! # use hmaxent::Temperatures;
//! // Two spins, J = 1, c = 4 (so v_1(m) = -m^2 / 2), no field, tau = (1, 0): the Gibbs
//! // measure with weights e^2 for the two aligned states and 1 for the two others.
//! let model = Exchangeable::hierarchical_ising(1, 1.0, 4.0, 0.0)?;
//! let sol = model.solve(&Temperatures::new(&[1.0, 0.0])?)?;
//! let z = 2.0 * 2f64.exp() + 2.0;
//! assert!((sol.summary.free_energy + z.ln()).abs() < 1e-14);
//! // The total M = -2, 0, 2 with probabilities e^2 / z, 2 / z, e^2 / z.
//! assert!((sol.block_sum_distributions[1][1] - 2.0 / z).abs() < 1e-15);
//! # Ok::<(), hmaxent::Error>(())
//! ```

mod convolution;
mod flow;
mod sampler;

pub use flow::{BlockSumFlow, Step};
pub use sampler::ExchangeableSampler;

use crate::error::{Error, Result};
use crate::families::FlowSolution;
use crate::hierarchy::Hierarchy;
use crate::problem::Problem;
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct, sweep};
use crate::temperatures::Temperatures;

/// Largest `2^n r` (the number of block-sum values of the top level, minus one): `2^18`, so
/// up to `n = 18` levels of `±1` spins. The flow costs about `(2^n r)^2 / 3` multiply-adds.
pub const MAX_TOP_SPAN: usize = 1 << 18;

/// Largest number of levels of [`Exchangeable::hierarchical_ising`] (`2^16` spins): the flow
/// costs `O(4^n)`, measured 1.7 s at `n = 16` and 21 s at `n = 18`.
pub const MAX_LEVELS: usize = 16;

/// Largest number of level-0 states [`Exchangeable::tabulate`] builds (`2^22`).
pub const MAX_TABULATED_STATES: usize = 1 << 22;

/// Largest ratio between the smallest difference of two site values and the lattice step.
const MAX_DIVISOR: usize = 64;

/// Relative tolerance for recognising site values as points of one lattice.
const LATTICE_TOLERANCE: f64 = 1e-9;

/// The states of one site: distinct finite numbers on a lattice `offset + step * t`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SiteStates {
    values: Vec<f64>,
    offset: f64,
    step: f64,
    /// Lattice index `t` of every state.
    index: Vec<usize>,
    /// `r`, the largest index.
    span: usize,
}

impl SiteStates {
    /// The states `values` (in the user's order: state `i` has value `values[i]`). The
    /// lattice is found from the values: `offset` is their minimum and `step` the largest
    /// number of which every difference to it is an integer multiple (relative tolerance
    /// `1e-9`), among the smallest positive difference divided by `1..=64`, with indices at
    /// most [`MAX_TOP_SPAN`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no state, a repeated value, or values on no such lattice;
    /// [`Error::InvalidValue`] for a non-finite value.
    pub fn new(values: &[f64]) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::InvalidInput(
                "site states: at least one value is needed".to_string(),
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidValue {
                field: "site values".to_string(),
                index: i,
                value: values[i],
                reason: "site values must be finite",
            });
        }
        let offset = values.iter().copied().fold(f64::INFINITY, f64::min);
        let diffs: Vec<f64> = values.iter().map(|v| v - offset).collect();
        let smallest = diffs
            .iter()
            .copied()
            .filter(|&d| d > 0.0)
            .fold(f64::INFINITY, f64::min);
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::InvalidInput(
                "site states: the values must be distinct".to_string(),
            ));
        }
        if smallest == f64::INFINITY {
            return Ok(Self {
                values: values.to_vec(),
                offset,
                step: 1.0,
                index: vec![0],
                span: 0,
            });
        }
        let largest = diffs.iter().copied().fold(0.0, f64::max);
        for divisor in 1..=MAX_DIVISOR {
            let step = smallest / divisor as f64;
            if largest / step > MAX_TOP_SPAN as f64 + 0.5 {
                break;
            }
            let index: Vec<usize> = diffs.iter().map(|d| (d / step).round() as usize).collect();
            let on_lattice = diffs
                .iter()
                .zip(&index)
                .all(|(&d, &t)| (d - t as f64 * step).abs() <= LATTICE_TOLERANCE * d.max(smallest));
            if on_lattice {
                let span = index.iter().copied().max().unwrap_or(0);
                return Ok(Self {
                    values: values.to_vec(),
                    offset,
                    step,
                    index,
                    span,
                });
            }
        }
        Err(Error::InvalidInput(format!(
            "site values {values:?} lie on no lattice offset + step * t with integer t <= {MAX_TOP_SPAN} and step = (smallest difference) / j, j <= {MAX_DIVISOR}"
        )))
    }

    /// The Ising states `[-1, +1]` (state 0 is `-1`).
    pub fn ising() -> Self {
        Self {
            values: vec![-1.0, 1.0],
            offset: -1.0,
            step: 2.0,
            index: vec![0, 1],
            span: 1,
        }
    }

    /// The values, state by state.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Number of states.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false (a site has at least one state).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `r`, the largest lattice index of a state.
    pub fn span(&self) -> usize {
        self.span
    }

    /// The lattice index `t` of state `i`.
    pub fn index(&self, state: usize) -> usize {
        self.index[state]
    }

    /// The value of a block sum of `2^level` sites with lattice index `t`:
    /// `2^level offset + step t`.
    pub fn sum_value(&self, level: usize, t: usize) -> f64 {
        2f64.powi(level as i32) * self.offset + self.step * t as f64
    }
}

/// An exchangeable-blocks model: `2^n` sites, a loss per site state and per block sum of
/// every level (module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Exchangeable {
    states: SiteStates,
    levels: usize,
    /// `v_k` on the lattice of level `k`'s block sums (`2^k r + 1` entries); level 0 is the
    /// site loss with `+inf` on the indices that are no state.
    losses: Vec<Vec<f64>>,
}

fn check_loss(field: &str, index: usize, v: f64) -> Result<()> {
    if v.is_nan() || v == f64::NEG_INFINITY {
        return Err(Error::InvalidValue {
            field: field.to_string(),
            index,
            value: v,
            reason: "losses must be finite or +inf",
        });
    }
    Ok(())
}

impl Exchangeable {
    /// A model with `2^levels` sites of `states`, site loss `site_loss[i]` for state `i`
    /// (`+inf` forbids it) and block losses `block_loss(k, m)` for a block of level
    /// `k = 1..=levels` with sum `m` (evaluated once on every lattice point of the level).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `site_loss` has not one entry per state;
    /// [`Error::InvalidValue`] for a `NaN` or `-inf` loss; [`Error::TooLarge`] if
    /// `2^levels r` exceeds [`MAX_TOP_SPAN`].
    pub fn new(
        states: SiteStates,
        levels: usize,
        site_loss: &[f64],
        mut block_loss: impl FnMut(usize, f64) -> f64,
    ) -> Result<Self> {
        if site_loss.len() != states.len() {
            return Err(Error::length("site loss", site_loss.len(), states.len()));
        }
        let too_large = || Error::TooLarge {
            what: format!(
                "exchangeable blocks with {levels} levels and site span {}",
                states.span
            ),
            states: usize::MAX,
            limit: MAX_TOP_SPAN,
        };
        let top = u32::try_from(levels)
            .ok()
            .and_then(|l| 1usize.checked_shl(l))
            .and_then(|n| n.checked_mul(states.span.max(1)))
            .filter(|&x| x <= MAX_TOP_SPAN)
            .ok_or_else(too_large)?;
        let _ = top;
        let mut v0 = vec![f64::INFINITY; states.span + 1];
        for (i, &v) in site_loss.iter().enumerate() {
            check_loss("site loss", i, v)?;
            v0[states.index[i]] = v;
        }
        let mut losses = vec![v0];
        for k in 1..=levels {
            let n = (states.span << k) + 1;
            let field = format!("block loss of level {k}");
            let v = (0..n)
                .map(|t| {
                    let x = block_loss(k, states.sum_value(k, t));
                    check_loss(&field, t, x).map(|()| x)
                })
                .collect::<Result<Vec<f64>>>()?;
            losses.push(v);
        }
        Ok(Self {
            states,
            levels,
            losses,
        })
    }

    /// Dyson's hierarchical Ising model: `2^levels` spins `±1`,
    ///
    /// ```text
    /// f(s) = -h sum_i s_i - (J/2) sum_{k=1..n} (c/4)^k sum_b m_{k,b}^2
    /// ```
    ///
    /// (`c = 2^(1 - 2/D)` mimics dimension `D`: `c = 2^(1/3)` for `D = 3`).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a non-finite `J`, `c` or `h`, or `c <= 0`;
    /// [`Error::TooLarge`] above [`MAX_LEVELS`]; [`Error::Overflow`] when a block loss does
    /// not fit in `f64`.
    pub fn hierarchical_ising(levels: usize, coupling: f64, c: f64, field: f64) -> Result<Self> {
        for (name, x) in [("coupling", coupling), ("c", c), ("field", field)] {
            if !x.is_finite() {
                return Err(Error::InvalidSetting {
                    field: name,
                    value: x,
                    reason: "must be finite",
                });
            }
        }
        if c <= 0.0 {
            return Err(Error::InvalidSetting {
                field: "c",
                value: c,
                reason: "must be > 0",
            });
        }
        if levels > MAX_LEVELS {
            return Err(Error::TooLarge {
                what: format!(
                    "hierarchical Ising model with {levels} levels (at most {MAX_LEVELS})"
                ),
                states: usize::MAX,
                limit: MAX_TOP_SPAN,
            });
        }
        let ratio = c / 4.0;
        // A block loss beyond f64 (J = 1e308) is an overflow of finite input, not a NaN or
        // -inf loss of the input.
        for k in 1..=levels {
            let m = 2f64.powi(k as i32);
            let v = -0.5 * coupling * ratio.powi(k as i32) * m * m;
            if !v.is_finite() {
                return Err(Error::overflow(
                    "the block loss -(J/2) (c/4)^k m^2 of the largest block sum",
                    Some(k),
                    None,
                ));
            }
        }
        Self::new(SiteStates::ising(), levels, &[field, -field], |k, m| {
            -0.5 * coupling * ratio.powi(k as i32) * m * m
        })
    }

    /// `n`, the number of levels above the sites.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// Number of sites, `2^n`.
    pub fn sites(&self) -> usize {
        1 << self.levels
    }

    /// The site states.
    pub fn states(&self) -> &SiteStates {
        &self.states
    }

    /// `v_k` over the block-sum lattice of level `k` (level 0: the site loss, `+inf` on
    /// indices that are no state).
    pub fn level_loss(&self, level: usize) -> &[f64] {
        &self.losses[level]
    }

    /// The values of the block sums of level `k` (`2^k r + 1`, ascending).
    pub fn block_sum_values(&self, level: usize) -> Vec<f64> {
        (0..self.losses[level].len())
            .map(|t| self.states.sum_value(level, t))
            .collect()
    }

    /// The total loss `sum_k u_k(Y_k)` of a configuration (`config[i]` is the state of site
    /// `i`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for other than `2^n` sites; [`Error::InvalidValue`] for a
    /// state out of range.
    pub fn loss(&self, config: &[u32]) -> Result<f64> {
        if config.len() != self.sites() {
            return Err(Error::length("configuration", config.len(), self.sites()));
        }
        let mut sums = Vec::with_capacity(config.len());
        for (i, &x) in config.iter().enumerate() {
            let t = self
                .states
                .index
                .get(x as usize)
                .ok_or(Error::InvalidValue {
                    field: "configuration".to_string(),
                    index: i,
                    value: f64::from(x),
                    reason: "state index out of range",
                })?;
            sums.push(*t);
        }
        let mut total = sums.iter().map(|&t| self.losses[0][t]).sum::<f64>();
        for k in 1..=self.levels {
            sums = sums.chunks_exact(2).map(|p| p[0] + p[1]).collect();
            total += sums.iter().map(|&t| self.losses[k][t]).sum::<f64>();
        }
        Ok(total)
    }

    /// The model of the loss `-f`: every finite site and block loss negated, `+inf` (a
    /// forbidden state or sum) kept (a mask, not `-inf`). Theorem A for it at `w / |lambda|`
    /// is the optimum of a mean constraint with a negative multiplier `lambda`.
    pub fn negated(&self) -> Self {
        let losses = self
            .losses
            .iter()
            .map(|v| {
                v.iter()
                    .map(|&x| if x == f64::INFINITY { x } else { -x })
                    .collect()
            })
            .collect();
        Self {
            losses,
            ..self.clone()
        }
    }

    /// `min f` over the allowed configurations, by the hard min-plus convolution flow
    /// (the zero-temperature limit of the flow):
    ///
    /// ```text
    /// mu_0 = v_0,   mu_{k+1}(M) = v_{k+1}(M) + min_{m1 + m2 = M} (mu_k(m1) + mu_k(m2)),
    /// min f = min_M mu_n(M)
    /// ```
    ///
    /// `O(4^n r^2)` additions and comparisons. `max f` is `-(self.negated().min_loss())`.
    ///
    /// # Errors
    /// [`Error::AllForbidden`] if every configuration has loss `+inf`.
    pub fn min_loss(&self) -> Result<f64> {
        let mut mu = self.losses[0].clone();
        for v in &self.losses[1..] {
            let n = mu.len();
            let mut next = vec![f64::INFINITY; 2 * n - 1];
            for (a, &x) in mu.iter().enumerate() {
                if x == f64::INFINITY {
                    continue;
                }
                for (o, &y) in next[a..a + n].iter_mut().zip(&mu) {
                    *o = o.min(x + y);
                }
            }
            for (o, &u) in next.iter_mut().zip(v) {
                *o += u;
            }
            mu = next;
        }
        let m = crate::numerics::min(&mu);
        if m == f64::INFINITY {
            return Err(Error::AllForbidden(
                "every configuration of the exchangeable model has loss +inf".to_string(),
            ));
        }
        Ok(m)
    }

    /// Solves the model at `temperatures` (`n + 1` levels) by the convolution flow through
    /// [`sweep`] and [`reconstruct`]: `O(4^n r^2)` multiply-adds.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for other than `n + 1` temperatures;
    /// [`Error::AllForbidden`] if every configuration has loss `+inf`;
    /// [`Error::Overflow`] naming the first result beyond `f64`.
    pub fn solve(&self, temperatures: &Temperatures) -> Result<ExchangeableSolution> {
        temperatures.expect_levels(self.levels + 1)?;
        let flow = BlockSumFlow::new(self);
        let s = temperatures.cumulative_slice();
        let fl = sweep(&flow, &flow.initial_loss(), s)?;
        let steps: Vec<(Vec<f64>, Vec<f64>)> = fl
            .conditionals
            .iter()
            .filter_map(|c| match c {
                Step::Split(conv) => Some((conv.log_weights.clone(), conv.log_norms.clone())),
                Step::Top { .. } => None,
            })
            .collect();
        let rec = reconstruct(&flow, fl.conditionals);
        let conditional = rec.conditional_entropies;
        let entropies = level_entropies(&conditional);
        let p = rec.marginals;
        let expected_level_losses: Vec<f64> = (0..=self.levels)
            .map(|k| {
                let blocks = 2f64.powi((self.levels - k) as i32);
                blocks
                    * p[k]
                        .iter()
                        .zip(&self.losses[k])
                        .filter(|(&q, _)| q > 0.0)
                        .map(|(&q, &v)| q * v)
                        .sum::<f64>()
            })
            .collect();
        let expected_loss = expected_level_losses.iter().sum();
        let values = self.block_sum_values(self.levels);
        let magnetisation = Magnetisation::new(&values, &p[self.levels], self.sites());
        let summary = FlowSolution {
            free_energy: fl.free_energy,
            entropies,
            conditional_entropies: conditional,
            expected_loss,
        }
        .checked()?;
        if let Some(k) = expected_level_losses.iter().position(|x| !x.is_finite()) {
            return Err(Error::overflow(
                "the expected level loss E u_k",
                Some(k),
                None,
            ));
        }
        Ok(ExchangeableSolution {
            summary,
            expected_level_losses,
            block_sum_distributions: p,
            magnetisation,
            steps,
            states: self.states.clone(),
        })
    }

    /// The equivalent tabulated problem: level 0 lists the `q^(2^n)` configurations (site
    /// `i`'s state is digit `i` of the index in base `q`, site 0 least significant), level
    /// `k` the distinct vectors of block sums (in order of first appearance), with the loss
    /// `u_0` and the potentials `u_1..u_n`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] above [`MAX_TABULATED_STATES`] configurations; as
    /// [`Problem::new`].
    pub fn tabulate(&self) -> Result<(Hierarchy, Problem)> {
        let q = self.states.len();
        let sites = self.sites();
        let n0 = u32::try_from(sites)
            .ok()
            .and_then(|s| q.checked_pow(s))
            .filter(|&n| n <= MAX_TABULATED_STATES)
            .ok_or_else(|| Error::TooLarge {
                what: "tabulated exchangeable blocks".to_string(),
                states: usize::MAX,
                limit: MAX_TABULATED_STATES,
            })?;
        // Block-sum vectors of level 0: the lattice indices of the sites.
        let mut keys: Vec<Vec<usize>> = (0..n0)
            .map(|x| {
                let mut x = x;
                (0..sites)
                    .map(|_| {
                        let t = self.states.index[x % q];
                        x /= q;
                        t
                    })
                    .collect()
            })
            .collect();
        let loss: Vec<f64> = keys
            .iter()
            .map(|key| key.iter().map(|&t| self.losses[0][t]).sum())
            .collect();
        let mut sizes = vec![n0];
        let mut parents = Vec::with_capacity(self.levels);
        let mut potentials = Vec::with_capacity(self.levels);
        for k in 1..=self.levels {
            let mut seen = std::collections::HashMap::new();
            let mut coarse: Vec<Vec<usize>> = Vec::new();
            let parent: Vec<usize> = keys
                .iter()
                .map(|key| {
                    let up: Vec<usize> = key.chunks_exact(2).map(|p| p[0] + p[1]).collect();
                    *seen.entry(up.clone()).or_insert_with(|| {
                        coarse.push(up);
                        coarse.len() - 1
                    })
                })
                .collect();
            potentials.push(
                coarse
                    .iter()
                    .map(|key| key.iter().map(|&t| self.losses[k][t]).sum())
                    .collect::<Vec<f64>>(),
            );
            sizes.push(coarse.len());
            parents.push(parent);
            keys = coarse;
        }
        let h = Hierarchy::new(sizes, parents)?;
        let p = Problem::new(&h, &loss)?.with_potentials(&potentials)?;
        Ok((h, p))
    }
}

/// Moments of the total `M = m_{n,0}` under `P*`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Magnetisation {
    /// `E M`.
    pub mean: f64,
    /// `E M^2`.
    pub second: f64,
    /// `E M^4`.
    pub fourth: f64,
    /// `(E M^2 - (E M)^2) / 2^n` (the variance computed about the mean).
    pub susceptibility: f64,
    /// The Binder cumulant `1 - E M^4 / (3 (E M^2)^2)`.
    pub binder: f64,
}

impl Magnetisation {
    fn new(values: &[f64], p: &[f64], sites: usize) -> Self {
        let moment = |f: &dyn Fn(f64) -> f64| -> f64 {
            values
                .iter()
                .zip(p)
                .filter(|(_, &q)| q > 0.0)
                .map(|(&m, &q)| q * f(m))
                .sum()
        };
        let mean = moment(&|m| m);
        let second = moment(&|m| m * m);
        let fourth = moment(&|m| m.powi(4));
        let variance = moment(&|m| (m - mean) * (m - mean));
        Self {
            mean,
            second,
            fourth,
            susceptibility: variance / sites as f64,
            binder: 1.0 - fourth / (3.0 * second * second),
        }
    }
}

/// A solved exchangeable model.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExchangeableSolution {
    /// Free energy, `H(Y_0..Y_n)`, conditional entropies, `E_P*[f]`.
    pub summary: FlowSolution,
    /// `[E u_0, ..., E u_n]`.
    pub expected_level_losses: Vec<f64>,
    /// `p_k`: the distribution of one block's sum at level `k` over the lattice indices
    /// `t = 0..=2^k r` (value [`SiteStates::sum_value`]; level 0: over the site values'
    /// lattice, zero between states).
    pub block_sum_distributions: Vec<Vec<f64>>,
    /// Moments of the total.
    pub magnetisation: Magnetisation,
    /// Per level `k < n`: the log-weights `l_k` and log-normalisers `L_{k+1}` of the pair
    /// conditionals (for the sampler).
    #[cfg_attr(feature = "serde", serde(skip))]
    steps: Vec<(Vec<f64>, Vec<f64>)>,
    states: SiteStates,
}

impl ExchangeableSolution {
    /// The exact sampler of `P*` (top-down: the total, then each block's two halves, down
    /// to the sites).
    ///
    /// # Errors
    /// None at present (kept for the shape shared with the other families).
    pub fn sampler(&self) -> Result<ExchangeableSampler> {
        ExchangeableSampler::new(self)
    }

    /// The site states.
    pub fn states(&self) -> &SiteStates {
        &self.states
    }
}
