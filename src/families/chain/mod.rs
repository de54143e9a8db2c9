//! Nearest-neighbour chains and their decimation flow (docs/families-chain.md).
//!
//! A chain of `2^L + 1` sites (open) or `2^L` sites (ring) with alphabet `{0, .., q-1}` and loss
//!
//! ```text
//! f(x) = sum_i phi_i(x_i, x_{i+1})          (ring: the last bond joins site 2^L - 1 to site 0)
//! ```
//!
//! is coarse-grained by decimation: level `k` keeps the sites whose index is a multiple of
//! `2^k`. One RG step at cumulative temperature `S` is exact and local, a soft min-plus
//! matrix product of neighbouring bonds ([`crate::numerics::soft_min_plus`]):
//!
//! ```text
//! phi'_j(a, c) = -S log sum_b exp(-(phi_{2j}(a, b) + phi_{2j+1}(b, c)) / S)
//! ```
//!
//! so level `k` is again a chain, with `2^(L-k)` bonds (proof: `proofs/chain.md`). Every bond
//! is stored normalised (`min = 0`) and the constants split off, times the number of bonds
//! they stand for, are carried in a separate running constant `C_k`:
//! `g_k(y) = C_k + sum_j phi_{k,j}(y_j, y_{j+1})`. The homogeneous flow acts on one `q x q`
//! matrix (cost `O(L q^3)`, any `L` up to [`MAX_LEVELS`]); the inhomogeneous flow on `2^L`
//! matrices (`O(2^L q^3)`).
//!
//! [`Chain::solve`] runs the flow through [`crate::rg::sweep`] and differentiates it in forward
//! mode ([`Dual`]) to get every level's entropy and the expected loss (docs/concepts.md, "5. Theorem A" envelope
//! identities); [`ChainSampler`] draws exact samples by inverse RG (docs/concepts.md, "10. Sampling"); [`Chain::tabulate`]
//! builds the equivalent tabulated [`Problem`] for small instances. The `±1` Ising chain has
//! the closed-form flow [`ising_flow`].

use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::families::FlowSolution;
use crate::hierarchy::Hierarchy;
use crate::numerics::{
    exp_slice, gibbs_into, ln_slice, min, soft_min, soft_min_plus, soft_min_plus_factored,
    soft_min_plus_scratch, Real,
};
use crate::problem::Problem;
use crate::rg::driver::level_entropies;
use crate::rg::{sweep, Flow, Renormalise};
use crate::temperatures::Temperatures;

/// Largest number of levels of a homogeneous chain (`2^4096` sites); beyond `L ~ 1024` every
/// extensive quantity of a non-trivial chain exceeds `f64` anyway.
pub const MAX_LEVELS: usize = 4096;

/// Largest number of level-0 states [`Chain::tabulate`] builds (`2^22`).
pub const MAX_TABULATED_STATES: usize = 1 << 22;

/// Largest number of conditional thresholds a [`ChainSampler`] tabulates (`2^30`, 8 GiB).
pub const MAX_SAMPLER_ENTRIES: usize = 1 << 30;

/// How the chain closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// `2^L + 1` sites, `2^L` bonds; bond `i` joins sites `i` and `i + 1`.
    Open,
    /// `2^L` sites, `2^L` bonds; bond `2^L - 1` joins the last site to site 0.
    Ring,
}

/// A nearest-neighbour chain: alphabet size `q`, `L` levels, boundary, and bond matrices
/// `phi_i(a, b)` (row-major `q x q`, `+inf` forbids a pair), either one for every bond
/// (homogeneous) or one per bond, left to right.
///
/// ```
/// # use hmaxent::families::chain::{Boundary, Chain};
/// # use hmaxent::Temperatures;
/// // Free binary chain of 2^3 + 1 = 9 sites: H(Y_k) = (2^(3-k) + 1) log 2 and
/// // F = -sum_k tau_k H(Y_k) = -(9 + 5/2 + 3/2 + 2/2) log 2 = -14 log 2.
/// let chain = Chain::homogeneous(2, 3, Boundary::Open, &[0.0; 4])?;
/// let sol = chain.solve(&Temperatures::new(&[1.0, 0.5, 0.5, 0.5])?)?;
/// let ln2 = 2f64.ln();
/// assert!((sol.summary.free_energy + 14.0 * ln2).abs() < 1e-12);
/// for (k, h) in sol.summary.entropies.iter().enumerate() {
///     assert!((h - ((1u64 << (3 - k)) + 1) as f64 * ln2).abs() < 1e-12);
/// }
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    q: usize,
    levels: usize,
    boundary: Boundary,
    homogeneous: bool,
    /// One `q x q` matrix (homogeneous) or `2^L` of them, row-major, concatenated.
    bonds: Vec<f64>,
}

fn check_bond(field: &str, bond: &[f64]) -> Result<()> {
    match bond
        .iter()
        .position(|x| x.is_nan() || *x == f64::NEG_INFINITY)
    {
        Some(i) => Err(Error::InvalidValue {
            field: field.to_string(),
            index: i,
            value: bond[i],
            reason: "bond losses must be finite or +inf (null)",
        }),
        None => Ok(()),
    }
}

impl Chain {
    /// A homogeneous chain: every bond has the loss matrix `bond` (`q x q`, row-major:
    /// `bond[a * q + b]` is the loss of left state `a` next to right state `b`).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `q = 0` or `levels > MAX_LEVELS`;
    /// [`Error::LengthMismatch`] if `bond.len() != q^2`; [`Error::InvalidValue`] for NaN or
    /// `-inf` entries.
    pub fn homogeneous(q: usize, levels: usize, boundary: Boundary, bond: &[f64]) -> Result<Self> {
        check_q(q)?;
        if levels > MAX_LEVELS {
            return Err(Error::InvalidSetting {
                field: "levels",
                value: levels as f64,
                reason: "a homogeneous chain has at most 4096 levels (2^4096 sites)",
            });
        }
        // The flow keeps one q x q bond per level and spends q^3 per level (more with
        // derivatives): refuse before allocating what would not fit.
        let per_level = (levels + 1).saturating_mul(q * q);
        if per_level > MAX_FLOW_ENTRIES || per_level.saturating_mul(q) > MAX_FLOW_WORK {
            return Err(Error::InvalidSetting {
                field: "levels",
                value: levels as f64,
                reason: "(levels + 1) q^2 must stay within 2^26 table entries (MAX_FLOW_ENTRIES) \
                         and (levels + 1) q^3 within 2^36 steps (MAX_FLOW_WORK)",
            });
        }
        if bond.len() != q * q {
            return Err(Error::length("bond", bond.len(), q * q));
        }
        check_bond("bond", bond)?;
        Ok(Self {
            q,
            levels,
            boundary,
            homogeneous: true,
            bonds: bond.to_vec(),
        })
    }

    /// An inhomogeneous chain: `bonds` holds `2^L` matrices of `q x q` (row-major,
    /// concatenated, left to right).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `q = 0` or `2^L q^2` beyond memory;
    /// [`Error::LengthMismatch`]; [`Error::InvalidValue`] for NaN or `-inf` entries.
    pub fn inhomogeneous(
        q: usize,
        levels: usize,
        boundary: Boundary,
        bonds: Vec<f64>,
    ) -> Result<Self> {
        check_q(q)?;
        let n = bond_count(levels)
            .and_then(|n| n.checked_mul(q * q))
            .ok_or(Error::InvalidSetting {
                field: "levels",
                value: levels as f64,
                reason: "2^levels bond matrices do not fit in memory",
            })?;
        if bonds.len() != n {
            return Err(Error::length("bonds", bonds.len(), n));
        }
        if let Some(i) = bonds
            .iter()
            .position(|x| x.is_nan() || *x == f64::NEG_INFINITY)
        {
            check_bond(
                &format!("bonds[{}]", i / (q * q)),
                &bonds[i / (q * q) * q * q..][..q * q],
            )?;
        }
        Ok(Self {
            q,
            levels,
            boundary,
            homogeneous: false,
            bonds,
        })
    }

    /// Alphabet size `q`.
    pub fn q(&self) -> usize {
        self.q
    }

    /// `L`: the number of decimation steps.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// The boundary condition.
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }

    /// Whether every bond has the same matrix.
    pub fn is_homogeneous(&self) -> bool {
        self.homogeneous
    }

    /// The bond matrix of bond `i` at level 0 (row-major `q x q`).
    ///
    /// # Panics
    /// If `i >= 2^L` (inhomogeneous chains).
    pub fn bond(&self, i: usize) -> &[f64] {
        let qq = self.q * self.q;
        if self.homogeneous {
            &self.bonds
        } else {
            &self.bonds[i * qq..(i + 1) * qq]
        }
    }

    /// Number of sites at level `k`: `2^(L-k) + 1` (open) or `2^(L-k)` (ring); `None` if it
    /// does not fit in `usize`.
    pub fn sites(&self, level: usize) -> Option<usize> {
        let b = bond_count(self.levels.checked_sub(level)?)?;
        match self.boundary {
            Boundary::Open => b.checked_add(1),
            Boundary::Ring => Some(b),
        }
    }

    /// The total loss `f(x) = sum_i phi_i(x_i, x_{i+1})` of a level-0 configuration.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` does not have one entry per site;
    /// [`Error::InvalidValue`] for a state `>= q`.
    pub fn loss(&self, x: &[usize]) -> Result<f64> {
        let n = self.sites(0).ok_or(Error::InvalidSetting {
            field: "levels",
            value: self.levels as f64,
            reason: "too many sites to list",
        })?;
        if x.len() != n {
            return Err(Error::length("configuration", x.len(), n));
        }
        if let Some(i) = x.iter().position(|&s| s >= self.q) {
            return Err(Error::InvalidValue {
                field: "configuration".to_string(),
                index: i,
                value: x[i] as f64,
                reason: "states must be below q",
            });
        }
        let q = self.q;
        let bonds = n - usize::from(self.boundary == Boundary::Open);
        Ok((0..bonds)
            .map(|i| self.bond(i)[x[i] * q + x[(i + 1) % n]])
            .sum())
    }

    /// The renormalised losses `g_0..g_L` and the free energy: the flow itself, in `f64`,
    /// through [`crate::rg::sweep`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `temperatures` does not have `L + 1` levels;
    /// [`Error::AllForbidden`] if every configuration has loss `+inf`.
    pub fn flow(&self, temperatures: &Temperatures) -> Result<ChainFlow> {
        self.check_temperatures(temperatures)?;
        let step = Decimation::<f64>::new(self);
        let g0 = normalised(self)?;
        let flow = sweep(&step, &g0, temperatures.cumulative_slice())?;
        let mut losses = Vec::with_capacity(self.levels + 1);
        losses.push(g0);
        losses.extend(flow.losses);
        Ok(ChainFlow {
            q: self.q,
            levels: self.levels,
            boundary: self.boundary,
            homogeneous: self.homogeneous,
            losses,
            cumulative: temperatures.cumulative_slice().to_vec(),
            free_energy: flow.free_energy,
        })
    }

    /// The flow with its derivatives (docs/concepts.md, "5. Theorem A" envelope identities): free energy, every
    /// level's entropy `H(Y_k) = -dF/dtau_k = -sum_{j >= k} dF/dS_j` and the expected loss
    /// `E[f] = dF/dt` for `f -> (1 + t) f`.
    ///
    /// Inhomogeneous chains take the `f64` flow and one top-down pass (`chain_top_down`,
    /// `O(2^L q^3)`, no dual numbers): `dF/dS_k = -H(Y_k | Y_{k+1})`, and given the level-`(k+1)`
    /// sites the decimated sites are independent, each depending on its two neighbours only,
    ///
    /// ```text
    /// H(Y_k | Y_{k+1}) = sum_j sum_{a,c} M_{k+1,j}(a, c) H(P(. | a, c)),
    /// E[f] = C_0 + sum_j sum_{a,c} M_{1,j}(a, c) sum_b P(b | a, c) (phi_{0,2j}(a, b) + phi_{0,2j+1}(b, c)),
    /// ```
    ///
    /// with `M_{k,j}` the pair marginal of the two sites of bond `j` of level `k`, passed down
    /// as `M_{k,2j}(a, b) = sum_c M_{k+1,j}(a, c) P(b | a, c)`,
    /// `M_{k,2j+1}(b, c) = sum_a M_{k+1,j}(a, c) P(b | a, c)`.
    ///
    /// Homogeneous chains differentiate the flow in forward mode ([`Dual`]): the derivative in
    /// `S_j` only involves the levels `j..L` (the level-`j` bond does not depend on `S_j`), so
    /// directions are carried in groups of eight ([`Dual<8>`]), each group re-running only the
    /// sub-chain from the finest level it needs (a chain again, with the level's bond as its
    /// input): the first group (`t`, `S_0`, ...) from level 0, the next from the first `S_j`
    /// not yet covered, and so on. The values of the first pass are the `f64` flow (returned
    /// in [`ChainSolution::flow`]); the cost is `O(L^2 q^3 / 8)`.
    ///
    /// # Errors
    /// As [`Chain::flow`]; [`Error::Numerical`] if a result does not fit in `f64` (e.g. the
    /// entropy of a chain with `2^1100` sites).
    pub fn solve(&self, temperatures: &Temperatures) -> Result<ChainSolution> {
        self.check_temperatures(temperatures)?;
        if !self.homogeneous {
            let flow = self.flow(temperatures)?;
            if !flow.free_energy.is_finite() {
                return Err(Error::Numerical(format!(
                    "free energy = {} does not fit in a finite f64",
                    flow.free_energy
                )));
            }
            let (conditional_entropies, expected_loss) = chain_top_down(&flow);
            return finish(flow, conditional_entropies, expected_loss);
        }
        let l = self.levels;
        let g0 = normalised(self)?;
        // The first group carries t and S_0, S_1, ... from level 0, and its values are the
        // f64 flow; every later group starts at its first S_j.
        let (flow, eps) = self.first_group::<8>(g0, temperatures)?;
        if !flow.free_energy.is_finite() {
            return Err(Error::Numerical(format!(
                "free energy = {} does not fit in a finite f64",
                flow.free_energy
            )));
        }
        let d_t = eps[0];
        let mut d_s = vec![0.0; l + 1];
        let mut next = (eps.len() - 1).min(l + 1);
        d_s[..next].copy_from_slice(&eps[1..=next]);
        while next <= l {
            let start = next;
            let count = 8.min(l + 1 - start);
            let eps = self.group::<8>(&flow, start)?;
            d_s[start..start + count].copy_from_slice(&eps[..count]);
            next = start + count;
        }
        // `0 - d`: an exact zero derivative is the entropy +0, not -0.
        let conditional_entropies: Vec<f64> = d_s.iter().map(|d| 0.0 - d).collect();
        finish(flow, conditional_entropies, d_t)
    }

    /// The first derivative pass: from level 0, directions `t` (index 0) and `S_0..S_{N-2}`;
    /// returns the `f64` flow (the values of the pass) and `dF/dt, dF/dS_0, ...`.
    fn first_group<const N: usize>(
        &self,
        g0: ChainLoss<f64>,
        temperatures: &Temperatures,
    ) -> Result<(ChainFlow, [f64; N])> {
        let cumulative = temperatures.cumulative_slice();
        let step = Decimation::<Dual<N>> {
            input: Some(&g0.bonds),
            seed_t: true,
            ..Decimation::new(self)
        };
        // The normalised bonds carry their own value as t-tangent, the minima (in C_0) theirs.
        let dual_g0 = ChainLoss {
            bonds: Vec::new(),
            constant: Dual::<N>::seed_t(g0.constant),
        };
        let cum: Vec<Dual<N>> = cumulative
            .iter()
            .enumerate()
            .map(|(j, &s)| {
                let mut d = Dual::constant(s);
                if j + 1 < N {
                    d.eps[j + 1] = 1.0;
                }
                d
            })
            .collect();
        let f = sweep(&step, &dual_g0, &cum)?;
        let (free_energy, eps) = (f.free_energy.re, f.free_energy.eps);
        let coarse: Vec<ChainLoss<f64>> = f
            .losses
            .into_iter()
            .map(|g| ChainLoss {
                bonds: g.bonds.iter().map(|x| x.re).collect(),
                constant: g.constant.re,
            })
            .collect();
        let mut losses = Vec::with_capacity(self.levels + 1);
        losses.push(g0);
        losses.extend(coarse);
        let flow = ChainFlow {
            q: self.q,
            levels: self.levels,
            boundary: self.boundary,
            homogeneous: self.homogeneous,
            losses,
            cumulative: cumulative.to_vec(),
            free_energy,
        };
        Ok((flow, eps))
    }

    /// A later derivative pass: directions `S_start..S_{start+N-1}`, re-running only the
    /// sub-chain from level `start` (its bonds and `C_start` do not depend on them).
    fn group<const N: usize>(&self, flow: &ChainFlow, start: usize) -> Result<[f64; N]> {
        let step = Decimation::<Dual<N>> {
            levels: self.levels - start,
            input: Some(&flow.losses[start].bonds),
            seed_t: false,
            ..Decimation::new(self)
        };
        let g0 = ChainLoss {
            bonds: Vec::new(),
            constant: Dual::constant(0.0),
        };
        let cumulative: Vec<Dual<N>> = (start..=self.levels)
            .map(|j| {
                let mut s = Dual::constant(flow.cumulative[j]);
                if j - start < N {
                    s.eps[j - start] = 1.0;
                }
                s
            })
            .collect();
        let f: Flow<Decimation<Dual<N>>> = sweep(&step, &g0, &cumulative)?;
        Ok(f.free_energy.eps)
    }

    /// The equivalent tabulated problem (small instances): level `k` has one state per
    /// configuration of its sites (indices multiple of `2^k`), encoded in base `q` with the
    /// first site most significant; the parent of a configuration is its restriction to the
    /// level-`(k+1)` sites; the level-0 loss is `f`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] above [`MAX_TABULATED_STATES`] level-0 states; as
    /// [`Hierarchy::new`] and [`Problem::new`].
    pub fn tabulate(&self) -> Result<(Hierarchy, Problem)> {
        let too_large = || Error::TooLarge {
            what: "tabulated chain".to_string(),
            states: usize::MAX,
            limit: MAX_TABULATED_STATES,
        };
        let q = self.q;
        let m0 = self.sites(0).ok_or_else(too_large)?;
        let sizes: Vec<usize> = (0..=self.levels)
            .map(|k| {
                let m = self.sites(k).ok_or_else(too_large)?;
                checked_pow(q, m)
                    .filter(|&n| n <= MAX_TABULATED_STATES)
                    .ok_or_else(too_large)
            })
            .collect::<Result<_>>()?;
        let mut parents = Vec::with_capacity(self.levels);
        let mut digits = vec![0usize; m0];
        for (k, &n_k) in sizes.iter().enumerate().take(self.levels) {
            let m = self.sites(k).ok_or_else(too_large)?;
            let parent: Vec<usize> = (0..n_k)
                .map(|x| {
                    decode(x, q, &mut digits[..m]);
                    digits[..m].iter().step_by(2).fold(0, |acc, &d| acc * q + d)
                })
                .collect();
            parents.push(parent);
        }
        let loss: Vec<f64> = (0..sizes[0])
            .map(|x| {
                decode(x, q, &mut digits);
                self.loss(&digits)
            })
            .collect::<Result<_>>()?;
        let h = Hierarchy::new(sizes, parents)?;
        let p = Problem::new(&h, &loss)?;
        Ok((h, p))
    }

    /// The chain of the loss `-f`: every finite bond entry negated, `+inf` (forbidden) kept.
    pub(crate) fn negated(&self) -> Chain {
        Chain {
            bonds: self
                .bonds
                .iter()
                .map(|&x| if x == f64::INFINITY { x } else { -x })
                .collect(),
            ..*self
        }
    }

    fn check_temperatures(&self, t: &Temperatures) -> Result<()> {
        if t.levels() != self.levels + 1 {
            return Err(Error::length("temperatures", t.levels(), self.levels + 1));
        }
        Ok(())
    }
}

/// The largest alphabet of a chain: one decimation step takes `q^3` work and a `q^3`
/// scratch table (`MAX_Q^3 = 2^24` entries, 128 MiB), and every level a `q^2` bond.
pub const MAX_Q: usize = 256;
/// The largest `(levels + 1) q^2` of a homogeneous chain: its flow's tables (512 MiB).
pub const MAX_FLOW_ENTRIES: usize = 1 << 26;
/// The largest `(levels + 1) q^3` of a homogeneous chain: its flow's work.
pub const MAX_FLOW_WORK: usize = 1 << 36;

fn check_q(q: usize) -> Result<()> {
    if q == 0 || q > MAX_Q {
        return Err(Error::InvalidSetting {
            field: "q",
            value: q as f64,
            reason: "the alphabet size must be between 1 and 256 (MAX_Q: a decimation step \
                     takes q^3 work and a q^3 scratch table)",
        });
    }
    Ok(())
}

/// `2^levels`, if it fits in `usize`.
fn bond_count(levels: usize) -> Option<usize> {
    u32::try_from(levels)
        .ok()
        .and_then(|l| 1usize.checked_shl(l))
}

fn checked_pow(q: usize, m: usize) -> Option<usize> {
    (0..m).try_fold(1usize, |acc, _| acc.checked_mul(q))
}

/// Base-`q` digits of `x`, most significant first, into `out`.
fn decode(mut x: usize, q: usize, out: &mut [usize]) {
    for d in out.iter_mut().rev() {
        *d = x % q;
        x /= q;
    }
}

/// The summary from the conditional entropies `H(Y_k | Y_{k+1})` (`k < L`, then `H(Y_L)`):
/// `H(Y_k) = sum_{j >= k} H(Y_j | Y_{j+1})`.
fn finish(
    flow: ChainFlow,
    conditional_entropies: Vec<f64>,
    expected_loss: f64,
) -> Result<ChainSolution> {
    let entropies = level_entropies(&conditional_entropies);
    let summary = FlowSolution {
        free_energy: flow.free_energy,
        entropies,
        conditional_entropies,
        expected_loss,
    };
    check_finite(&summary)?;
    Ok(ChainSolution { summary, flow })
}

/// A compensated (Neumaier) running sum.
#[derive(Default)]
struct Sum {
    sum: f64,
    carry: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.carry += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.carry
    }
}

/// The top-down pass of an inhomogeneous chain flow (see [`Chain::solve`]): the conditional
/// entropies `H(Y_k | Y_{k+1})` for `k < L`, then `H(Y_L)`, and `E[f]`, from the pair
/// marginals `M_{k,j}` of the sites of each level-`k` bond, passed down level by level.
///
/// The top is `P(a, c) = exp(-phi_L(a, c) / S_L) / Z` (open) or
/// `P(a) = exp(-phi_L(a, a) / S_L) / Z` with `M_L(a, c) = P(a) [a = c]` (ring). Below it, the
/// site between the two sites of bond `j` of level `k + 1` has, given them in states `a, c`,
///
/// ```text
/// P(b | a, c) = exp(-d_b) / z,   d_b = (x_b - m) / S_k,   x_b = phi_{k,2j}(a, b) + phi_{k,2j+1}(b, c),
/// m = min_b x_b,   z = sum_b exp(-d_b),   H(P(. | a, c)) = sum_b P(b | a, c) d_b + log z.
/// ```
///
/// Cost `O(2^L q^3)`; memory two levels of pair marginals.
fn chain_top_down(flow: &ChainFlow) -> (Vec<f64>, f64) {
    let q = flow.q;
    let qq = q * q;
    let l = flow.levels;
    let mut cond = vec![0.0; l + 1];
    // The top.
    let top = &flow.losses[l].bonds[..qq];
    let s = flow.cumulative[l];
    let values: Vec<f64> = match flow.boundary {
        Boundary::Open => top.to_vec(),
        Boundary::Ring => (0..q).map(|a| top[a * q + a]).collect(),
    };
    let mut p = vec![0.0; values.len()];
    gibbs_into(&values, s, &mut p);
    let m = min(&values);
    let mut h_top = Sum::default();
    let mut z = 0.0;
    for &v in &values {
        z += (-(v - m) / s).exp();
    }
    for (&pi, &v) in p.iter().zip(&values) {
        if pi > 0.0 {
            h_top.add(pi * ((v - m) / s));
        }
    }
    h_top.add(z.ln());
    cond[l] = h_top.value();
    let mut marg: Vec<f64> = match flow.boundary {
        Boundary::Open => p,
        Boundary::Ring => {
            let mut mm = vec![0.0; qq];
            for a in 0..q {
                mm[a * q + a] = p[a];
            }
            mm
        }
    };
    let c0 = flow.losses[0].constant;
    if l == 0 {
        let mut e = Sum::default();
        for (&w, &x) in marg.iter().zip(top) {
            if w > 0.0 {
                e.add(w * x);
            }
        }
        return (cond, c0 + e.value());
    }
    let mut expected = Sum::default();
    // Pair marginals of levels L-1..1 (level 0's are not needed), allocated once.
    let most = flow.losses.get(1).map_or(0, |g| g.bonds.len());
    let mut finer = Vec::with_capacity(most);
    marg.reserve(most.saturating_sub(marg.len()));
    let mut e = vec![0.0; qq * q];
    let mut d = vec![0.0; qq * q];
    let mut lnz = vec![0.0; qq];
    for k in (0..l).rev() {
        let bonds = &flow.losses[k].bonds;
        let s = flow.cumulative[k];
        finer.clear();
        if k == 1 && (q == 2 || q == 3) {
            // Levels 1 and 0 together, a block of level-2 bonds at a time: the level-1 pair
            // marginals live only in a small buffer.
            let (b0, s0) = (&flow.losses[0].bonds, flow.cumulative[0]);
            let (h1, h0, e0) = if q == 2 {
                <f64 as Real>::kernel(
                    #[inline(always)]
                    || top_down_bottom::<2>(bonds, s, b0, s0, &marg),
                )
            } else {
                <f64 as Real>::kernel(
                    #[inline(always)]
                    || top_down_bottom::<3>(bonds, s, b0, s0, &marg),
                )
            };
            cond[1] = h1;
            cond[0] = h0;
            expected.add(e0);
            break;
        }
        let fixed = match (q, k) {
            (2, 0) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<2, true>(bonds, s, &marg, &mut finer),
            )),
            (3, 0) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<3, true>(bonds, s, &marg, &mut finer),
            )),
            (2, _) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || {
                    finer.resize(bonds.len(), 0.0);
                    top_down_level::<2, false>(bonds, s, &marg, &mut finer)
                },
            )),
            (3, _) => Some(<f64 as Real>::kernel(
                #[inline(always)]
                || {
                    finer.resize(bonds.len(), 0.0);
                    top_down_level::<3, false>(bonds, s, &marg, &mut finer)
                },
            )),
            _ => None,
        };
        if let Some((hk, ek)) = fixed {
            cond[k] = hk;
            if k == 0 {
                expected.add(ek);
            }
            std::mem::swap(&mut marg, &mut finer);
            continue;
        }
        finer.resize(bonds.len(), 0.0);
        let mut h = Sum::default();
        for (j, (mj, pair)) in marg
            .chunks_exact(qq)
            .zip(finer.chunks_exact_mut(2 * qq))
            .enumerate()
        {
            let left = &bonds[2 * j * qq..][..qq];
            let right = &bonds[(2 * j + 1) * qq..][..qq];
            // Shifted exponents of every (a, c) with weight, then one vectorised exp.
            for a in 0..q {
                for c in 0..q {
                    let ac = a * q + c;
                    let db = &mut d[ac * q..][..q];
                    let mut mn = f64::INFINITY;
                    for (b, x) in db.iter_mut().enumerate() {
                        *x = left[a * q + b] + right[b * q + c];
                        mn = mn.min(*x);
                    }
                    let eb = &mut e[ac * q..][..q];
                    if mj[ac] > 0.0 && mn < f64::INFINITY {
                        for (y, x) in eb.iter_mut().zip(db.iter_mut()) {
                            *x = (*x - mn) / s;
                            *y = -*x;
                        }
                    } else {
                        eb.iter_mut().for_each(|y| *y = f64::NEG_INFINITY);
                    }
                }
            }
            exp_slice(&mut e);
            for (ac, zac) in lnz.iter_mut().enumerate() {
                *zac = e[ac * q..][..q].iter().sum::<f64>();
                if *zac == 0.0 {
                    *zac = 1.0;
                }
            }
            ln_slice(&mut lnz);
            let (ml, mr) = pair.split_at_mut(qq);
            let mut hj = 0.0;
            let mut ej = 0.0;
            for a in 0..q {
                for c in 0..q {
                    let ac = a * q + c;
                    let w = mj[ac];
                    if w <= 0.0 {
                        continue;
                    }
                    let zac = e[ac * q..][..q].iter().sum::<f64>();
                    if zac == 0.0 {
                        continue;
                    }
                    let inv_z = 1.0 / zac;
                    let mut hac = 0.0;
                    let mut eac = 0.0;
                    for b in 0..q {
                        let pb = e[ac * q + b] * inv_z;
                        if pb > 0.0 {
                            hac += pb * d[ac * q + b];
                            ml[a * q + b] += w * pb;
                            mr[b * q + c] += w * pb;
                            if k == 0 {
                                eac += pb * (left[a * q + b] + right[b * q + c]);
                            }
                        }
                    }
                    hj += w * (hac + lnz[ac]);
                    ej += w * eac;
                }
            }
            h.add(hj);
            if k == 0 {
                expected.add(ej);
            }
        }
        cond[k] = h.value();
        std::mem::swap(&mut marg, &mut finer);
    }
    (cond, c0 + expected.value())
}

fn check_finite(s: &FlowSolution) -> Result<()> {
    let bad = |what: String| {
        Err(Error::Numerical(format!(
            "{what} does not fit in a finite f64 (extensive quantities grow with the 2^L sites)"
        )))
    };
    if !s.free_energy.is_finite() {
        return bad(format!("free energy = {}", s.free_energy));
    }
    if !s.expected_loss.is_finite() {
        return bad(format!("expected loss = {}", s.expected_loss));
    }
    if let Some(k) = s.entropies.iter().position(|h| !h.is_finite()) {
        return bad(format!("entropy of level {k} = {}", s.entropies[k]));
    }
    Ok(())
}

/// The level-0 loss: bonds normalised to `min = 0`, their minima (times the number of bonds
/// each stands for) in the constant (one pass: `+inf - m = +inf` for the finite minimum `m`).
fn normalised(chain: &Chain) -> Result<ChainLoss<f64>> {
    let qq = chain.q * chain.q;
    let mut bonds = Vec::with_capacity(chain.bonds.len());
    let mut constant = 0.0;
    for (i, b) in chain.bonds.chunks_exact(qq).enumerate() {
        let m = min(b);
        if m == f64::INFINITY {
            return Err(forbidden_bond(0, i));
        }
        bonds.extend(b.iter().map(|&x| x - m));
        constant += m;
    }
    if chain.homogeneous {
        constant *= pow2::<f64>(chain.levels);
    }
    Ok(ChainLoss { bonds, constant })
}

fn forbidden_bond(level: usize, i: usize) -> Error {
    Error::AllForbidden(format!(
        "bond {i} of level {level} has loss +inf for every pair of states"
    ))
}

/// Subtracts the minimum from a bond (finite entries); `None` if every entry is `+inf`.
fn subtract_min<T: Real>(b: &mut [T]) -> Option<T> {
    let m = min(b);
    if m == T::infinity() {
        return None;
    }
    for x in b.iter_mut() {
        *x = if *x == T::infinity() {
            T::infinity()
        } else {
            *x - m
        };
    }
    Some(m)
}

/// `2^n` as a scalar (`+inf` beyond the `f64` range).
fn pow2<T: Real>(n: usize) -> T {
    T::of(2f64.powi(i32::try_from(n).unwrap_or(i32::MAX)))
}

/// The scalar of a chain flow: `f64` or a dual number, with the decimation kernel
/// `out = left ⊕_s right` (the soft min-plus product of [`crate::numerics::soft_min_plus`]).
///
/// `f64` uses [`soft_min_plus`] for `q <= 3` and `soft_min_plus_factored` (`2 q^2`
/// exponentials) above. [`Dual`] computes the value with the same `f64` kernel and the tangents by the derivative of the soft minimum,
///
/// ```text
/// d out[a][c] = sum_b p_b (d left[a][b] + d right[b][c]) + (ds / s) sum_b p_b (out[a][c] - x_b),
/// p_b = exp(-(x_b - out[a][c]) / s),  x_b = left[a][b] + right[b][c],
/// ```
///
/// which is forward-mode differentiation of the kernel done by hand (test
/// `dual_kernel_matches_generic_dual_arithmetic`).
pub trait BondScalar: Real {
    /// `x` as a scalar whose derivative along direction 0 is `x` itself (for finite `x`;
    /// `+inf` gets none): the seed of `f -> (1 + t) f`. `f64` has no tangents: `x`.
    fn seed_t(x: f64) -> Self;

    /// A whole level at once: `out[j] = bonds[2j] ⊕_s bonds[2j+1]` for every pair of
    /// consecutive `q x q` matrices, if the scalar has a batched kernel for this `q`
    /// (returns `false`, leaving `out` alone, if not).
    fn soft_min_plus_level(_bonds: &[Self], _q: usize, _s: Self, _out: &mut [Self]) -> bool {
        false
    }

    /// `out = left ⊕_s right` for `q x q` row-major matrices; `ws` is reused between calls.
    fn soft_min_plus(
        left: &[Self],
        right: &[Self],
        q: usize,
        s: Self,
        out: &mut [Self],
        ws: &mut Vec<f64>,
    );
}

impl BondScalar for f64 {
    fn seed_t(x: f64) -> f64 {
        x
    }

    fn soft_min_plus_level(bonds: &[f64], q: usize, s: f64, out: &mut [f64]) -> bool {
        match q {
            2 => <f64 as Real>::kernel(
                #[inline(always)]
                || exact_level::<2>(bonds, s, out),
            ),
            3 => <f64 as Real>::kernel(
                #[inline(always)]
                || exact_level::<3>(bonds, s, out),
            ),
            _ => return false,
        }
        true
    }

    fn soft_min_plus(
        left: &[f64],
        right: &[f64],
        q: usize,
        s: f64,
        out: &mut [f64],
        ws: &mut Vec<f64>,
    ) {
        ws.resize(kernel_scratch(q), 0.0);
        f64_kernel(left, right, q, s, out, ws, None);
    }
}

/// Alphabets up to this size use the per-entry-minimum kernel (`q^3` exponentials in one
/// vectorised call, faster for tiny `q`); larger ones the factored kernel (`2 q^2`).
const EXACT_MAX_Q: usize = 3;

fn kernel_scratch(q: usize) -> usize {
    soft_min_plus_scratch(q).max(q * q * q)
}

/// The `f64` decimation kernel, with the Gibbs weights of each sum when asked
/// (`weights[(a q + c) q + b]`, zeros where the output is `+inf`).
fn f64_kernel(
    left: &[f64],
    right: &[f64],
    q: usize,
    s: f64,
    out: &mut [f64],
    scratch: &mut [f64],
    weights: Option<&mut [f64]>,
) {
    if q > EXACT_MAX_Q {
        soft_min_plus_factored(left, right, q, s, out, scratch, weights);
        return;
    }
    match q {
        2 => return exact_kernel::<2>(left, right, s, out, weights),
        3 => return exact_kernel::<3>(left, right, s, out, weights),
        _ => {}
    }
    let scratch = &mut scratch[..q * q * q];
    soft_min_plus(left, right, q, s, out, scratch);
    if let Some(w) = weights {
        for (ac, (wb, e)) in w
            .chunks_exact_mut(q)
            .zip(scratch.chunks_exact(q))
            .enumerate()
        {
            if out[ac] == f64::INFINITY {
                wb.iter_mut().for_each(|p| *p = 0.0);
            } else {
                let inv_z = 1.0 / e.iter().sum::<f64>();
                for (p, &x) in wb.iter_mut().zip(e) {
                    *p = x * inv_z;
                }
            }
        }
    }
}

/// The shifted exponents of one bond pair for a fixed alphabet `Q`: for every `(a, c)`,
/// `t[a][c][b] = -(x_b - m) / s` with `x_b = left[a][b] + right[b][c]`, `m = m[a][c] = min_b x_b`
/// (`-inf` where `x_b = +inf`, and everywhere where `m = +inf`).
#[inline(always)]
fn shifted_exponents<const Q: usize>(
    left: &[f64],
    right: &[f64],
    s: f64,
    t: &mut [[[f64; Q]; Q]; Q],
    m: &mut [[f64; Q]; Q],
) {
    let (left, right) = (&left[..Q * Q], &right[..Q * Q]);
    let inv_s = 1.0 / s;
    let use_inv = inv_s.is_finite();
    for a in 0..Q {
        for c in 0..Q {
            let tb = &mut t[a][c];
            let mut mn = f64::INFINITY;
            for (b, x) in tb.iter_mut().enumerate() {
                *x = left[a * Q + b] + right[b * Q + c];
                mn = mn.min(*x);
            }
            m[a][c] = mn;
            if mn == f64::INFINITY {
                tb.iter_mut().for_each(|x| *x = f64::NEG_INFINITY);
            } else {
                for x in tb.iter_mut() {
                    let d = mn - *x;
                    *x = if use_inv { d * inv_s } else { d / s };
                }
            }
        }
    }
}

/// [`soft_min_plus`] for a fixed alphabet `Q` (stack arrays, one vectorised `exp` of the
/// `Q^3` shifted exponents and one vectorised `ln` of the `Q^2` sums), with the Gibbs weights
/// when asked (as [`f64_kernel`]).
#[inline(always)]
fn exact_kernel<const Q: usize>(
    left: &[f64],
    right: &[f64],
    s: f64,
    out: &mut [f64],
    weights: Option<&mut [f64]>,
) {
    let mut e = [[[0.0; Q]; Q]; Q];
    let mut m = [[0.0; Q]; Q];
    shifted_exponents::<Q>(left, right, s, &mut e, &mut m);
    exp_slice(e.as_flattened_mut().as_flattened_mut());
    let mut z = [[1.0; Q]; Q];
    for a in 0..Q {
        for c in 0..Q {
            if m[a][c] != f64::INFINITY {
                z[a][c] = e[a][c].iter().sum::<f64>();
            }
        }
    }
    let mut lnz = z;
    ln_slice(lnz.as_flattened_mut());
    let out = &mut out[..Q * Q];
    for a in 0..Q {
        for c in 0..Q {
            out[a * Q + c] = if m[a][c] == f64::INFINITY {
                f64::INFINITY
            } else {
                m[a][c] - s * lnz[a][c]
            };
        }
    }
    if let Some(w) = weights {
        let w = &mut w[..Q * Q * Q];
        for a in 0..Q {
            for c in 0..Q {
                let inv_z = 1.0 / z[a][c];
                for b in 0..Q {
                    // e = 0 everywhere where m = +inf.
                    w[(a * Q + c) * Q + b] = e[a][c][b] * inv_z;
                }
            }
        }
    }
}

/// Bond pairs per batch of [`exact_level`] and [`top_down_level`] (longer vectorised `exp`
/// and `ln` calls).
const BATCH: usize = 8;

/// [`exact_kernel`] (without weights) over a whole level, [`BATCH`] pairs at a time.
#[inline(always)]
fn exact_level<const Q: usize>(bonds: &[f64], s: f64, out: &mut [f64]) {
    let qq = Q * Q;
    let mut e = [[[[0.0; Q]; Q]; Q]; BATCH];
    let mut m = [[[0.0; Q]; Q]; BATCH];
    let mut z = [[[1.0; Q]; Q]; BATCH];
    for (pairs, outs) in bonds.chunks(2 * qq * BATCH).zip(out.chunks_mut(qq * BATCH)) {
        let n = outs.len() / qq;
        for (i, lr) in pairs.chunks_exact(2 * qq).enumerate() {
            let (left, right) = lr.split_at(qq);
            shifted_exponents::<Q>(left, right, s, &mut e[i], &mut m[i]);
        }
        exp_slice(
            e[..n]
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
        );
        for i in 0..n {
            for a in 0..Q {
                for c in 0..Q {
                    z[i][a][c] = if m[i][a][c] == f64::INFINITY {
                        1.0
                    } else {
                        e[i][a][c].iter().sum::<f64>()
                    };
                }
            }
        }
        ln_slice(z[..n].as_flattened_mut().as_flattened_mut());
        for (i, o) in outs.chunks_exact_mut(qq).enumerate() {
            for a in 0..Q {
                for c in 0..Q {
                    o[a * Q + c] = if m[i][a][c] == f64::INFINITY {
                        f64::INFINITY
                    } else {
                        m[i][a][c] - s * z[i][a][c]
                    };
                }
            }
        }
    }
}

/// Levels 1 and 0 of [`chain_top_down`] for a fixed alphabet `Q`, from the level-2 pair
/// marginals `marg`, in blocks of level-2 bonds (the level-1 pair marginals are kept for one
/// block only): `(H(Y_1 | Y_2), H(Y_0 | Y_1), E[f] - C_0)`.
#[inline(always)]
fn top_down_bottom<const Q: usize>(
    bonds1: &[f64],
    s1: f64,
    bonds0: &[f64],
    s0: f64,
    marg: &[f64],
) -> (f64, f64, f64) {
    const BLOCK: usize = 256;
    let qq = Q * Q;
    let mut local = vec![0.0; 2 * BLOCK * qq];
    let (mut h1, mut h0, mut e0) = (Sum::default(), Sum::default(), Sum::default());
    for (i, m2) in marg.chunks(BLOCK * qq).enumerate() {
        let n = m2.len() / qq;
        let b1 = &bonds1[2 * i * BLOCK * qq..][..2 * n * qq];
        let b0 = &bonds0[4 * i * BLOCK * qq..][..4 * n * qq];
        let m1 = &mut local[..2 * n * qq];
        m1.fill(0.0);
        let (h, _) = top_down_level::<Q, false>(b1, s1, m2, m1);
        h1.add(h);
        let (h, e) = top_down_level::<Q, true>(b0, s0, m1, &mut []);
        h0.add(h);
        e0.add(e);
    }
    (h1.value(), h0.value(), e0.value())
}

/// One level of [`chain_top_down`] for a fixed alphabet `Q`: pair marginals `marg` of the
/// level-`(k+1)` bonds to those of the level-`k` bonds (`finer`, zeroed; not written at
/// level 0, `LEVEL0`), with the level's conditional entropy and, at level 0, the expected
/// normalised loss.
#[inline(always)]
fn top_down_level<const Q: usize, const LEVEL0: bool>(
    bonds: &[f64],
    s: f64,
    marg: &[f64],
    finer: &mut [f64],
) -> (f64, f64) {
    let qq = Q * Q;
    let mut h = Sum::default();
    let mut expected = Sum::default();
    let mut t = [[[[0.0; Q]; Q]; Q]; BATCH];
    let mut e = t;
    let mut m = [[[0.0; Q]; Q]; BATCH];
    let mut z = [[[1.0; Q]; Q]; BATCH];
    let mut none = [0.0; 0];
    let mut finer_batches = finer.chunks_mut(2 * qq * BATCH);
    for (margs, lrs) in marg.chunks(qq * BATCH).zip(bonds.chunks(2 * qq * BATCH)) {
        let n = margs.len() / qq;
        for (i, lr) in lrs.chunks_exact(2 * qq).enumerate() {
            let (left, right) = lr.split_at(qq);
            shifted_exponents::<Q>(left, right, s, &mut t[i], &mut m[i]);
        }
        e[..n].copy_from_slice(&t[..n]);
        exp_slice(
            e[..n]
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut(),
        );
        for i in 0..n {
            for a in 0..Q {
                for c in 0..Q {
                    z[i][a][c] = if m[i][a][c] == f64::INFINITY {
                        1.0
                    } else {
                        e[i][a][c].iter().sum::<f64>()
                    };
                }
            }
        }
        let mut lnz = z;
        ln_slice(lnz[..n].as_flattened_mut().as_flattened_mut());
        let pairs = if LEVEL0 {
            &mut none[..]
        } else {
            finer_batches
                .next()
                .expect("one finer pair per coarse bond")
        };
        for (i, (mj, lr)) in margs
            .chunks_exact(qq)
            .zip(lrs.chunks_exact(2 * qq))
            .enumerate()
        {
            let (left, right) = lr.split_at(qq);
            let pair = if LEVEL0 {
                &mut pairs[..0]
            } else {
                &mut pairs[2 * qq * i..][..2 * qq]
            };
            let (ml, mr) = pair.split_at_mut(if LEVEL0 { 0 } else { qq });
            let mut hj = 0.0;
            let mut ej = 0.0;
            for a in 0..Q {
                for c in 0..Q {
                    let w = mj[a * Q + c];
                    if !(w > 0.0 && m[i][a][c] != f64::INFINITY) {
                        continue;
                    }
                    let inv_z = 1.0 / z[i][a][c];
                    let mut hac = 0.0;
                    let mut eac = 0.0;
                    for b in 0..Q {
                        let pb = e[i][a][c][b] * inv_z;
                        if pb > 0.0 {
                            hac -= pb * t[i][a][c][b];
                            if LEVEL0 {
                                eac += pb * (left[a * Q + b] + right[b * Q + c]);
                            } else {
                                ml[a * Q + b] += w * pb;
                                mr[b * Q + c] += w * pb;
                            }
                        }
                    }
                    hj += w * (hac + lnz[i][a][c]);
                    ej += w * eac;
                }
            }
            h.add(hj);
            expected.add(ej);
        }
    }
    (h.value(), expected.value())
}

impl<const N: usize> BondScalar for Dual<N> {
    fn seed_t(x: f64) -> Self {
        let mut d = Dual::constant(x);
        if x.is_finite() && N > 0 {
            d.eps[0] = x;
        }
        d
    }

    fn soft_min_plus(
        left: &[Self],
        right: &[Self],
        q: usize,
        s: Self,
        out: &mut [Self],
        ws: &mut Vec<f64>,
    ) {
        let qq = q * q;
        let k = kernel_scratch(q);
        ws.resize(k + 3 * qq + qq * q, 0.0);
        let (scratch, rest) = ws.split_at_mut(k);
        let (lv, rest) = rest.split_at_mut(qq);
        let (rv, rest) = rest.split_at_mut(qq);
        let (ov, w) = rest.split_at_mut(qq);
        for (v, x) in lv.iter_mut().zip(left) {
            *v = x.re;
        }
        for (v, x) in rv.iter_mut().zip(right) {
            *v = x.re;
        }
        f64_kernel(lv, rv, q, s.re, ov, scratch, Some(w));
        let ds_over_s = {
            let mut e = s.eps;
            e.iter_mut().for_each(|x| *x /= s.re);
            e
        };
        let s_moves = ds_over_s.iter().any(|&x| x != 0.0);
        for a in 0..q {
            for c in 0..q {
                let v = ov[a * q + c];
                let o = &mut out[a * q + c];
                if v == f64::INFINITY {
                    *o = Dual::constant(f64::INFINITY);
                    continue;
                }
                let mut eps = [0.0; N];
                let mut spread = 0.0;
                for b in 0..q {
                    let p = w[(a * q + c) * q + b];
                    if p == 0.0 {
                        continue;
                    }
                    let (l, r) = (&left[a * q + b], &right[b * q + c]);
                    for (e, (dl, dr)) in eps.iter_mut().zip(l.eps.iter().zip(&r.eps)) {
                        *e += p * (dl + dr);
                    }
                    if s_moves {
                        spread += p * (v - (lv[a * q + b] + rv[b * q + c]));
                    }
                }
                if s_moves {
                    for (e, d) in eps.iter_mut().zip(&ds_over_s) {
                        *e += d * spread;
                    }
                }
                *o = Dual::new(v, eps);
            }
        }
    }
}

/// A renormalised chain loss `g_k(y) = C_k + sum_j phi_{k,j}(y_j, y_{j+1})`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainLoss<T> {
    /// The level's bond matrices, each normalised to `min = 0` (row-major `q x q`,
    /// concatenated; one matrix for a homogeneous chain).
    pub bonds: Vec<T>,
    /// `C_k`: the constants split off at levels `< k` (and from the input bonds), each
    /// multiplied by the number of bonds it stands for.
    pub constant: T,
}

/// One decimation step of a chain (implements [`Renormalise`]); `T` is the scalar (`f64` or
/// a dual number).
///
/// A derivative pass may read its finest level from `f64` bonds instead of its `g_0` (which
/// then holds only the constant): the scalars are made one bond pair at a time, so no copy
/// of the finest level is held in dual numbers.
#[derive(Debug, Clone, Copy)]
pub struct Decimation<'a, T> {
    q: usize,
    levels: usize,
    boundary: Boundary,
    homogeneous: bool,
    /// `f64` bonds of the finest level (then `g_0.bonds` is empty).
    input: Option<&'a [f64]>,
    /// Whether the input bonds carry the `t` tangent of `f -> (1 + t) f` (direction 0).
    seed_t: bool,
    _scalar: std::marker::PhantomData<T>,
}

impl<T> Decimation<'_, T> {
    /// The step map of `chain`.
    pub fn new(chain: &Chain) -> Self {
        Self {
            q: chain.q,
            levels: chain.levels,
            boundary: chain.boundary,
            homogeneous: chain.homogeneous,
            input: None,
            seed_t: false,
            _scalar: std::marker::PhantomData,
        }
    }
}

impl<T: BondScalar> Decimation<'_, T> {
    /// Scalars of the level-0 input entries `x` (with their `t` tangent when seeded).
    fn lift(&self, x: &[f64], out: &mut Vec<T>) {
        out.clear();
        out.extend(
            x.iter()
                .map(|&v| if self.seed_t { T::seed_t(v) } else { T::of(v) }),
        );
    }
}

impl<T: BondScalar> Renormalise for Decimation<'_, T> {
    type Scalar = T;
    type Loss = ChainLoss<T>;
    type Conditional = ();

    fn depth(&self) -> usize {
        self.levels
    }

    /// `phi'_j = soft_min_plus(phi_{2j}, phi_{2j+1})` at `S_k`, normalised; the constants
    /// `c_j` go into `C_{k+1} = C_k + sum_j c_j` (homogeneous: `C_k + 2^(L-k-1) c`).
    fn coarse_grain(&self, level: usize, g: &ChainLoss<T>, s: T) -> Result<(ChainLoss<T>, ())> {
        let q = self.q;
        let qq = q * q;
        let mut ws = Vec::new();
        let input = self.input.filter(|_| level == 0);
        let n_in = input.map_or(g.bonds.len(), <[f64]>::len);
        let n_out = if self.homogeneous { 1 } else { n_in / qq / 2 };
        let mut bonds = vec![T::zero(); n_out * qq];
        let mut sum = T::zero();
        if input.is_none()
            && !self.homogeneous
            && T::soft_min_plus_level(&g.bonds, q, s, &mut bonds)
        {
            for (j, out) in bonds.chunks_exact_mut(qq).enumerate() {
                let c = subtract_min(out).ok_or_else(|| forbidden_bond(level + 1, j))?;
                sum = sum + c;
            }
            return Ok((
                ChainLoss {
                    bonds,
                    constant: g.constant + sum,
                },
                (),
            ));
        }
        let (mut lbuf, mut rbuf) = (Vec::new(), Vec::new());
        for (j, out) in bonds.chunks_exact_mut(qq).enumerate() {
            let (lo, ro) = if self.homogeneous {
                (0, 0)
            } else {
                (2 * j * qq, (2 * j + 1) * qq)
            };
            if let Some(x) = input {
                self.lift(&x[lo..lo + qq], &mut lbuf);
                self.lift(&x[ro..ro + qq], &mut rbuf);
                T::soft_min_plus(&lbuf, &rbuf, q, s, out, &mut ws);
            } else {
                let (left, right) = (&g.bonds[lo..lo + qq], &g.bonds[ro..ro + qq]);
                T::soft_min_plus(left, right, q, s, out, &mut ws);
            }
            let c = subtract_min(out).ok_or_else(|| forbidden_bond(level + 1, j))?;
            sum = sum + c;
        }
        if self.homogeneous {
            sum = sum * pow2::<T>(self.levels - level - 1);
        }
        Ok((
            ChainLoss {
                bonds,
                constant: g.constant + sum,
            },
            (),
        ))
    }

    /// Open: `F = C_L - S_L log sum_{a,c} exp(-phi_L(a, c) / S_L)` (the two end sites);
    /// ring: `F = C_L - S_L log sum_a exp(-phi_L(a, a) / S_L)` (the one site, its bond to
    /// itself).
    fn top(&self, g: &ChainLoss<T>, s: T) -> Result<(T, ())> {
        let q = self.q;
        let mut lifted = Vec::new();
        let bonds = match self.input.filter(|_| self.levels == 0) {
            Some(x) => {
                self.lift(&x[..q * q], &mut lifted);
                &lifted[..]
            }
            None => &g.bonds[..],
        };
        let top = match self.boundary {
            Boundary::Open => soft_min(&bonds[..q * q], s),
            Boundary::Ring => {
                let diag: Vec<T> = (0..q).map(|a| bonds[a * q + a]).collect();
                soft_min(&diag, s)
            }
        };
        if top == T::infinity() {
            return Err(Error::AllForbidden(
                "every configuration of the chain has loss +inf".to_string(),
            ));
        }
        Ok((g.constant + top, ()))
    }
}

/// The flow of a chain in `f64`: renormalised losses of every level and the free energy.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainFlow {
    q: usize,
    levels: usize,
    boundary: Boundary,
    homogeneous: bool,
    /// `g_0..g_L`.
    losses: Vec<ChainLoss<f64>>,
    /// `S_0..S_L`.
    cumulative: Vec<f64>,
    /// `F`.
    free_energy: f64,
}

impl ChainFlow {
    /// `F = C_L - S_L log sum exp(-phi_L / S_L)` (over the top configurations).
    pub fn free_energy(&self) -> f64 {
        self.free_energy
    }

    /// The renormalised loss `g_k` of level `k` (normalised bonds and `C_k`).
    ///
    /// # Panics
    /// If `level > L`.
    pub fn loss(&self, level: usize) -> &ChainLoss<f64> {
        &self.losses[level]
    }

    /// The normalised bond matrices of level `k`: one (homogeneous) or `2^(L-k)`, each
    /// row-major `q x q` with minimum 0.
    ///
    /// # Panics
    /// If `level > L`.
    pub fn bonds(&self, level: usize) -> &[f64] {
        &self.losses[level].bonds
    }

    /// `g_k(y) = C_k + sum_j phi_{k,j}(y_j, y_{j+1})` for a configuration `y` of the level-`k`
    /// sites (ring: the last bond wraps to the first site).
    ///
    /// # Panics
    /// If `y` has the wrong length or a state `>= q`.
    pub fn renormalised_loss(&self, level: usize, y: &[usize]) -> f64 {
        let q = self.q;
        let qq = q * q;
        let g = &self.losses[level];
        let n = y.len();
        let bonds = match self.boundary {
            Boundary::Open => n - 1,
            Boundary::Ring => n,
        };
        let sum: f64 = (0..bonds)
            .map(|j| {
                let b = if self.homogeneous { 0 } else { j };
                g.bonds[b * qq + y[j] * q + y[(j + 1) % n]]
            })
            .sum();
        g.constant + sum
    }

    /// A sampler for `P*` (inverse RG, docs/concepts.md, "10. Sampling").
    ///
    /// # Errors
    /// [`Error::TooLarge`] if the chain has more sites than `usize` can index, or its
    /// conditional tables would exceed [`MAX_SAMPLER_ENTRIES`].
    pub fn sampler(&self) -> Result<ChainSampler> {
        ChainSampler::new(self)
    }
}

/// A solved chain: the flow, and the free energy, entropies and expected loss from its
/// derivatives.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSolution {
    /// Free energy, entropies `H(Y_0..Y_L)`, conditional entropies, expected loss.
    pub summary: FlowSolution,
    /// The renormalised bonds of every level.
    pub flow: ChainFlow,
}

/// Exact sampler for a chain's `P*` by inverse RG (docs/concepts.md, "10. Sampling"): draw the top sites, then the
/// decimated sites level by level; given its two level-`(k+1)` neighbours `a`, `c` the site
/// between them is independent of everything else,
///
/// ```text
/// P(x | a, c) = exp(-(phi_{k,2j}(a, x) + phi_{k,2j+1}(x, c)) / S_k) / Z(a, c).
/// ```
///
/// The conditionals are tabulated once as 64-bit thresholds (`q^3` per level homogeneous,
/// per odd site inhomogeneous); sampling allocates nothing and uses one `u64` per site.
#[derive(Debug, Clone)]
pub struct ChainSampler {
    q: usize,
    levels: usize,
    boundary: Boundary,
    homogeneous: bool,
    sites: usize,
    /// Per level `k < L`: thresholds `[(pair j)][a][c][x]`.
    tables: Vec<Vec<u64>>,
    /// The top: thresholds over `(a, c)` (open) or `a` (ring).
    top: Vec<u64>,
}

/// Cumulative thresholds of a distribution: `t_i = floor(2^64 (p_0 + .. + p_i))`, with the last
/// state of positive probability (and all after it) at `u64::MAX`.
fn thresholds(p: &[f64], out: &mut [u64]) {
    let last = p.iter().rposition(|&x| x > 0.0).unwrap_or(p.len() - 1);
    let mut acc = 0.0;
    for (i, (&x, t)) in p.iter().zip(out.iter_mut()).enumerate() {
        acc += x;
        *t = if i >= last {
            u64::MAX
        } else {
            (acc * 18_446_744_073_709_551_616.0) as u64
        };
    }
}

#[inline(always)]
fn pick(t: &[u64], r: u64) -> usize {
    let mut i = 0;
    while i + 1 < t.len() && r >= t[i] {
        i += 1;
    }
    i
}

impl ChainSampler {
    fn new(flow: &ChainFlow) -> Result<Self> {
        let q = flow.q;
        let sites = match (flow.boundary, bond_count(flow.levels)) {
            (Boundary::Open, Some(n)) if n < usize::MAX => n + 1,
            (Boundary::Ring, Some(n)) => n,
            _ => {
                return Err(Error::TooLarge {
                    what: "chain sampler".to_string(),
                    states: usize::MAX,
                    limit: usize::MAX,
                })
            }
        };
        // Tables: q^3 thresholds per level (homogeneous) or per odd site.
        let entries = flow
            .losses
            .iter()
            .take(flow.levels)
            .map(|g| {
                let pairs = if flow.homogeneous {
                    1
                } else {
                    g.bonds.len() / (q * q) / 2
                };
                pairs.saturating_mul(q * q * q)
            })
            .fold(0usize, usize::saturating_add);
        if entries > MAX_SAMPLER_ENTRIES {
            return Err(Error::TooLarge {
                what: "chain sampler tables".to_string(),
                states: entries,
                limit: MAX_SAMPLER_ENTRIES,
            });
        }
        let mut x = vec![0.0; q];
        let mut p = vec![0.0; q];
        let mut tables = Vec::with_capacity(flow.levels);
        for k in 0..flow.levels {
            let g = &flow.losses[k].bonds;
            let s = flow.cumulative[k];
            let qq = q * q;
            let pairs = if flow.homogeneous {
                1
            } else {
                g.len() / qq / 2
            };
            let mut t = vec![0u64; pairs * qq * q];
            for j in 0..pairs {
                let (l, r) = if flow.homogeneous {
                    (&g[..qq], &g[..qq])
                } else {
                    (
                        &g[2 * j * qq..(2 * j + 1) * qq],
                        &g[(2 * j + 1) * qq..][..qq],
                    )
                };
                for a in 0..q {
                    for c in 0..q {
                        for (b, xb) in x.iter_mut().enumerate() {
                            *xb = l[a * q + b] + r[b * q + c];
                        }
                        gibbs_into(&x, s, &mut p);
                        thresholds(&p, &mut t[((j * q + a) * q + c) * q..][..q]);
                    }
                }
            }
            tables.push(t);
        }
        let g = &flow.losses[flow.levels].bonds;
        let s = flow.cumulative[flow.levels];
        let top_losses: Vec<f64> = match flow.boundary {
            Boundary::Open => g[..q * q].to_vec(),
            Boundary::Ring => (0..q).map(|a| g[a * q + a]).collect(),
        };
        let mut p = vec![0.0; top_losses.len()];
        gibbs_into(&top_losses, s, &mut p);
        let mut top = vec![0u64; p.len()];
        thresholds(&p, &mut top);
        Ok(Self {
            q,
            levels: flow.levels,
            boundary: flow.boundary,
            homogeneous: flow.homogeneous,
            sites,
            tables,
            top,
        })
    }

    /// Number of sites of a sample.
    pub fn sites(&self) -> usize {
        self.sites
    }

    /// Draws one configuration of all sites into `out` (states `0..q`), exactly from `P*`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len()` is not the number of sites.
    pub fn sample_into<R: rand::RngCore + ?Sized>(
        &self,
        rng: &mut R,
        out: &mut [u32],
    ) -> Result<()> {
        if out.len() != self.sites {
            return Err(Error::length("sample buffer", out.len(), self.sites));
        }
        let q = self.q;
        let n = 1usize << self.levels; // bonds = index of the last open site
        let top = pick(&self.top, rng.next_u64());
        match self.boundary {
            Boundary::Open => {
                out[0] = (top / q) as u32;
                out[n] = (top % q) as u32;
            }
            Boundary::Ring => out[0] = top as u32,
        }
        // Ring: the right neighbour of the last odd site is site 0.
        let mask = match self.boundary {
            Boundary::Open => usize::MAX,
            Boundary::Ring => n - 1,
        };
        let qqq = q * q * q;
        for k in (0..self.levels).rev() {
            let step = 1usize << k;
            let table = &self.tables[k];
            let pairs = n >> (k + 1);
            if q == 2 && self.homogeneous {
                let t: [u64; 8] = table[..8].try_into().expect("q^3 = 8 thresholds");
                for j in 0..pairs {
                    let i = step * (2 * j + 1);
                    let a = out[i - step] as usize;
                    let c = out[(i + step) & mask] as usize;
                    out[i] = u32::from(rng.next_u64() >= t[(a * 2 + c) * 2]);
                }
                continue;
            }
            for j in 0..pairs {
                let i = step * (2 * j + 1);
                let a = out[i - step] as usize;
                let c = out[(i + step) & mask] as usize;
                let base = if self.homogeneous { 0 } else { j * qqq };
                let t = &table[base + (a * q + c) * q..][..q];
                out[i] = pick(t, rng.next_u64()) as u32;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The ±1 Ising chain: closed-form flow, fixed points, flow diagram.
// ---------------------------------------------------------------------------------------

/// Dimensionless Ising couplings of a level, `K = J / S_k` and `H = h / S_k`, for the bond
/// `phi(s, s') = -J s s' - (h / 2)(s + s')` (the field split evenly between a site's two bonds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsingCouplings {
    /// `K = J / S`.
    pub k: f64,
    /// `H = h / S`.
    pub h: f64,
}

/// The Ising bond matrix in loss units: states `0 -> s = -1`, `1 -> s = +1`, row-major,
/// `phi(s, s') = -J s s' - (h / 2)(s + s')`.
pub fn ising_bond(j: f64, h: f64) -> [f64; 4] {
    let phi = |s: f64, t: f64| -j * s * t - 0.5 * h * (s + t);
    [
        phi(-1.0, -1.0),
        phi(-1.0, 1.0),
        phi(1.0, -1.0),
        phi(1.0, 1.0),
    ]
}

/// `(J, h)` of a symmetric `2 x 2` bond (states `-1, +1`), up to an additive constant:
/// `J = (phi(-+) + phi(+-) - phi(--) - phi(++)) / 4`, `h = (phi(--) - phi(++)) / 2`.
pub fn ising_parameters(bond: &[f64]) -> (f64, f64) {
    let (mm, mp, pm, pp) = (bond[0], bond[1], bond[2], bond[3]);
    ((mp + pm - mm - pp) / 4.0, (mm - pp) / 2.0)
}

/// `ln cosh x`, stable for large `|x|`.
fn ln_cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

/// One decimation step of the Ising chain in closed form, at a fixed temperature
/// (dimensionless): with `A = ln 2cosh(2K + H)`, `B = ln 2cosh(2K - H)`, `C = ln 2cosh H`,
///
/// ```text
/// K' = (A + B - 2C) / 4,   H' = H + (A - B) / 2,   g = (A + B + 2C) / 4
/// ```
///
/// where `g` is the constant per new bond (`phi'/S = -(K' s s' + H'/2 (s + s') + g)`). Proof:
/// `proofs/chain.md`; test `ising_closed_form_equals_the_matrix_flow`.
pub fn ising_step(c: IsingCouplings) -> (IsingCouplings, f64) {
    let two = std::f64::consts::LN_2;
    let a = ln_cosh(2.0 * c.k + c.h) + two;
    let b = ln_cosh(2.0 * c.k - c.h) + two;
    let cc = ln_cosh(c.h) + two;
    (
        IsingCouplings {
            k: (a + b - 2.0 * cc) / 4.0,
            h: c.h + (a - b) / 2.0,
        },
        (a + b + 2.0 * cc) / 4.0,
    )
}

/// The Ising coupling flow across levels: `(K_k, H_k)` for `k = 0..L` from `(J, h)` at
/// cumulative temperatures `S_0..S_L`: `K_0 = J / S_0`, and between levels the step of
/// [`ising_step`] followed by re-tempering, `K_{k+1} = K'(K_k, H_k) * S_k / S_{k+1}` (same
/// for `H`).
pub fn ising_flow(j: f64, h: f64, cumulative: &[f64]) -> Vec<IsingCouplings> {
    let mut out = Vec::with_capacity(cumulative.len());
    let Some(&s0) = cumulative.first() else {
        return out;
    };
    let mut c = IsingCouplings {
        k: j / s0,
        h: h / s0,
    };
    out.push(c);
    for w in cumulative.windows(2) {
        let (next, _) = ising_step(c);
        let r = w[0] / w[1];
        c = IsingCouplings {
            k: next.k * r,
            h: next.h * r,
        };
        out.push(c);
    }
    out
}

/// Trajectories of the dimensionless Ising flow from each starting point, `steps` steps at a
/// constant re-tempering ratio `r = S_k / S_{k+1}` (`0 < r <= 1`): the flow diagram. Every
/// finite start flows to the line `K = 0` (the 1D chain has no ordered phase); the fixed
/// points are listed by [`ising_fixed_points`].
pub fn ising_flow_diagram(
    starts: &[IsingCouplings],
    ratio: f64,
    steps: usize,
) -> Vec<Vec<IsingCouplings>> {
    starts
        .iter()
        .map(|&c0| {
            let mut c = c0;
            let mut path = vec![c];
            for _ in 0..steps {
                let (n, _) = ising_step(c);
                c = IsingCouplings {
                    k: n.k * ratio,
                    h: n.h * ratio,
                };
                path.push(c);
            }
            path
        })
        .collect()
}

/// A fixed point of the dimensionless Ising flow with its stability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsingFixedPoint {
    /// The couplings (`K = +inf` for the zero-temperature point).
    pub couplings: IsingCouplings,
    /// Whether nearby couplings flow into it.
    pub stable: bool,
}

/// Fixed points of the dimensionless Ising flow at re-tempering ratio `r = S_k / S_{k+1}`:
/// `(K, H) = (0, 0)` is stable (with `r = 1` the whole line `K = 0` is fixed: `H' = H` there);
/// `(K, H) = (+inf, 0)` is an unstable fixed point only for `r = 1` (there
/// `K' = K - ln(2)/2 + O(e^{-4K})`, so every finite `K` decreases); for `r < 1` it is not fixed.
pub fn ising_fixed_points(ratio: f64) -> Vec<IsingFixedPoint> {
    let zero = IsingFixedPoint {
        couplings: IsingCouplings { k: 0.0, h: 0.0 },
        stable: true,
    };
    if ratio == 1.0 {
        vec![
            zero,
            IsingFixedPoint {
                couplings: IsingCouplings {
                    k: f64::INFINITY,
                    h: 0.0,
                },
                stable: false,
            },
        ]
    } else {
        vec![zero]
    }
}

/// The gauge-invariant interaction of a bond, `max |phi(a,c) - phi(a,0) - phi(0,c) + phi(0,0)|`
/// over finite entries: zero exactly for decoupled bonds `phi(a, c) = u(a) + v(c)`, which are
/// the finite fixed points of the homogeneous flow (`phi ⊕_S phi = phi + const`).
pub fn interaction(bond: &[f64], q: usize) -> f64 {
    let mut m: f64 = 0.0;
    for a in 0..q {
        for c in 0..q {
            let v = bond[a * q + c] - bond[a * q] - bond[c] + bond[0];
            if v.is_finite() {
                m = m.max(v.abs());
            }
        }
    }
    m
}

/// Where the dimensionless homogeneous flow goes: iterates
/// `psi_{k+1} = r * N(psi_k ⊕_1 psi_k)` (`psi = phi / S`, `N` subtracts the minimum, `⊕_1`
/// the soft min-plus product at temperature 1) from `bond / s` until the largest change is
/// below `tol` or `max_steps` steps were taken. Returns the last `psi` and the number of steps.
/// Finite bonds converge to a decoupled fixed point ([`interaction`] `= 0`); hard constraints
/// (`+inf` entries) can keep a bond coupled forever (e.g. a permutation).
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::InvalidSetting`] for `s <= 0` or `r` outside `(0, 1]`;
/// [`Error::AllForbidden`] if the product becomes all `+inf`.
pub fn fixed_point(
    bond: &[f64],
    q: usize,
    s: f64,
    ratio: f64,
    tol: f64,
    max_steps: usize,
) -> Result<(Vec<f64>, usize)> {
    if bond.len() != q * q {
        return Err(Error::length("bond", bond.len(), q * q));
    }
    check_bond("bond", bond)?;
    if !(s > 0.0 && s.is_finite()) {
        return Err(Error::InvalidSetting {
            field: "s",
            value: s,
            reason: "must be positive and finite",
        });
    }
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(Error::InvalidSetting {
            field: "ratio",
            value: ratio,
            reason: "S_k / S_{k+1} must be in (0, 1]",
        });
    }
    let mut psi: Vec<f64> = bond.iter().map(|x| x / s).collect();
    subtract_min(&mut psi).ok_or_else(|| forbidden_bond(0, 0))?;
    let mut next = vec![0.0; q * q];
    let mut scratch = vec![0.0; q * q * q];
    for step in 1..=max_steps {
        soft_min_plus(&psi, &psi, q, 1.0, &mut next, &mut scratch);
        subtract_min(&mut next).ok_or_else(|| forbidden_bond(step, 0))?;
        let mut change: f64 = 0.0;
        for (p, n) in psi.iter_mut().zip(&next) {
            let v = n * ratio;
            if p.is_finite() || v.is_finite() {
                change = change.max((v - *p).abs());
            }
            *p = v;
        }
        if change <= tol {
            return Ok((psi, step));
        }
    }
    Ok((psi, max_steps))
}
