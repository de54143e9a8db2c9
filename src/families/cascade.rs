//! Logarithmic losses of tree cascades and their flow (docs/families-cascade.md).
//!
//! A cascade on the complete `b`-ary tree of depth `L` gives every internal node `y` (level
//! `k + 1`) a conditional distribution `Q(x | y)` over its `b` children (level `k`); a leaf's
//! probability is the product of the conditionals on its path, and the loss is
//!
//! ```text
//! f(x) = -kappa log Q(x)        (+inf where Q(x) = 0: a zero forbids the whole subtree)
//! ```
//!
//! One RG step at cumulative temperature `S` (proof: `proofs/cascade.md`) is
//!
//! ```text
//! g_1(y) = -kappa log Q_1(y) - S log R(y),     R(y) = sum_{x in B(y)} Q(x | y)^(kappa / S)
//! ```
//!
//! again a logarithmic loss, of the *reweighted* cascade `Q~_1 ∝ Q_1 R^(S / kappa)` (plus a
//! constant). The optimal block conditionals are the escorts `P*(x | y) ∝ Q~_k(x | y)^(kappa /
//! S_k)` of the reweighted cascade. [`CascadeStep`] implements [`Renormalise`] on a general
//! cascade (one conditional per node, `O(n_0)` per level); a *homogeneous* cascade (one
//! conditional per level) is never reweighted (`R` is constant on a level), and
//! [`Cascade::solve`] uses the closed form in `O(L b)`:
//!
//! ```text
//! e_k(a) = q_k(a)^(kappa / S_k) / sum_c q_k(c)^(kappa / S_k)          (escort of level k)
//! F      = -sum_{k < L} S_k log sum_a q_k(a)^(kappa / S_k)
//! H(Y_k) = sum_{k <= j < L} H(e_j),   H(Y_L) = 0
//! ```
//!
//! Level `k = 0` is the leaves; `q_k` is the conditional of the children (level `k`) given
//! their parent (level `k + 1`), so `conditionals` are listed finest first.
//!
//! ```
//! # use hmaxent::families::cascade::Cascade;
//! # use hmaxent::Temperatures;
//! // kappa = S_0: the escort is q itself and F = 0 (P* = Q attains E f = kappa H(Q)).
//! let c = Cascade::homogeneous(1.0, 2, 1, &[vec![0.25, 0.75]])?;
//! let sol = c.solve(&Temperatures::new(&[1.0, 0.5])?)?;
//! assert!(sol.summary.free_energy.abs() < 1e-15);
//! assert!((sol.escorts[0][0] - 0.25).abs() < 1e-15);
//! # Ok::<(), hmaxent::Error>(())
//! ```

use rand::Rng;

use crate::error::{Error, Result, Short};
use crate::families::FlowSolution;
use crate::hierarchy::Hierarchy;
use crate::numerics::{log_sum_exp, Real};
use crate::problem::Problem;
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct, sweep, Reconstruct, Renormalise};
use crate::sampling::Sample;
use crate::temperatures::Temperatures;

/// How far a conditional's sum may be from 1 before it is refused (it is then renormalised).
pub const SUM_TOLERANCE: f64 = 1e-9;

/// Largest number of leaves a general (per-node) cascade or [`Cascade::tabulate`] accepts
/// (`2^24`).
pub const MAX_NODES: usize = 1 << 24;

/// A cascade: `kappa`, branching `b`, depth `L` and the conditionals, level by level (finest
/// first). Level `k` holds `b` numbers (homogeneous) or `b^(L-k)` numbers: node `y` of level
/// `k + 1` owns entries `y*b .. y*b + b` (children `y*b + a`, consecutive siblings as in
/// [`Hierarchy::complete`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Cascade {
    kappa: f64,
    branching: usize,
    depth: usize,
    homogeneous: bool,
    conditionals: Vec<Vec<f64>>,
}

/// Validates one conditional `q` (non-negative, finite, sum within [`SUM_TOLERANCE`] of 1) and
/// renormalises it to sum exactly to 1 (as nearly as `f64` allows).
fn normalise(field: &str, q: &mut [f64]) -> Result<()> {
    if let Some(i) = q.iter().position(|x| !x.is_finite() || *x < 0.0) {
        return Err(Error::InvalidValue {
            field: field.to_string(),
            index: i,
            value: q[i],
            reason: "conditional probabilities must be finite and non-negative",
        });
    }
    let sum: f64 = q.iter().sum();
    if (sum - 1.0).abs() > SUM_TOLERANCE {
        return Err(Error::InvalidInput(format!(
            "{field} sums to {}, not 1 (tolerance {})",
            Short(sum),
            Short(SUM_TOLERANCE)
        )));
    }
    q.iter_mut().for_each(|x| *x /= sum);
    Ok(())
}

fn check_kappa(kappa: f64) -> Result<()> {
    if kappa.is_finite() && kappa > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidSetting {
            field: "kappa",
            value: kappa,
            reason: "must be finite and > 0",
        })
    }
}

fn check_branching(b: usize) -> Result<()> {
    if b == 0 || b > 1 << 20 {
        return Err(Error::InvalidSetting {
            field: "branching",
            value: b as f64,
            reason: "must be between 1 and 2^20",
        });
    }
    Ok(())
}

fn leaves(b: usize, depth: usize) -> Option<usize> {
    u32::try_from(depth)
        .ok()
        .and_then(|d| b.checked_pow(d))
        .filter(|&n| n <= MAX_NODES)
}

/// The log-escort `(kappa / s) lq - log sum exp((kappa / s) lq)` of one block of
/// log-conditionals `lq`, into `out`; returns `log R = log sum_a exp((kappa / s) lq_a)`.
///
/// The block maximum `m` is factored out and the escort formed from the shifted exponents
/// (`out = z - log sum exp z`, `z = (kappa / s) lq - m`), so a large `kappa / s` (`m` of order
/// `1e12`) costs no absolute precision in the escort.
fn log_escort<T: Real>(lq: &[T], ratio: T, out: &mut [T]) -> T {
    for (o, &l) in out.iter_mut().zip(lq) {
        *o = if l == T::neg_infinity() { l } else { ratio * l };
    }
    let m = out.iter().fold(T::neg_infinity(), |acc, &x| acc.max(x));
    out.iter_mut().for_each(|o| *o = *o - m);
    let lse = log_sum_exp(out);
    out.iter_mut().for_each(|o| *o = *o - lse);
    m + lse
}

/// `kappa / S`, refused when it overflows `f64`.
fn ratio(kappa: f64, s: f64) -> Result<f64> {
    let r = kappa / s;
    if r.is_finite() {
        Ok(r)
    } else {
        ratio_overflow(kappa, s)
    }
}

fn ratio_overflow<T>(kappa: f64, s: f64) -> Result<T> {
    Err(Error::overflow(
        format!("kappa / S = {kappa:e} / {s:e}"),
        None,
        None,
    ))
}

/// `H(e) = -sum_a e_a log e_a` from log-probabilities (`-inf` entries contribute 0).
fn entropy_of_logs(le: &[f64]) -> f64 {
    0.0 - le
        .iter()
        .filter(|l| l.is_finite())
        .map(|&l| l.exp() * l)
        .sum::<f64>()
}

impl Cascade {
    /// A homogeneous cascade: `conditionals[k]` (`b` numbers) splits every node of level
    /// `k + 1` among its children, `k = 0..L-1` (finest first). Each conditional is
    /// renormalised to sum to 1.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `kappa <= 0` or non-finite, `b = 0`;
    /// [`Error::LengthMismatch`] for `L` conditionals of other than `b` entries;
    /// [`Error::InvalidValue`] for negative or non-finite entries; [`Error::InvalidInput`]
    /// for a sum off 1 by more than [`SUM_TOLERANCE`].
    pub fn homogeneous(
        kappa: f64,
        branching: usize,
        depth: usize,
        conditionals: &[Vec<f64>],
    ) -> Result<Self> {
        check_kappa(kappa)?;
        check_branching(branching)?;
        if conditionals.len() != depth {
            return Err(Error::length("conditionals", conditionals.len(), depth));
        }
        let mut out = Vec::with_capacity(depth);
        for (k, q) in conditionals.iter().enumerate() {
            let field = format!("conditionals[{k}]");
            if q.len() != branching {
                return Err(Error::length(field, q.len(), branching));
            }
            let mut q = q.clone();
            normalise(&field, &mut q)?;
            out.push(q);
        }
        Ok(Self {
            kappa,
            branching,
            depth,
            homogeneous: true,
            conditionals: out,
        })
    }

    /// A general cascade: `conditionals[k]` holds `b^(L-k)` numbers, the conditional of node
    /// `y` of level `k + 1` at `y*b .. y*b + b`. Each node's conditional is renormalised.
    ///
    /// # Errors
    /// As [`Cascade::homogeneous`]; [`Error::TooLarge`] above [`MAX_NODES`] leaves.
    pub fn general(
        kappa: f64,
        branching: usize,
        depth: usize,
        mut conditionals: Vec<Vec<f64>>,
    ) -> Result<Self> {
        check_kappa(kappa)?;
        check_branching(branching)?;
        let n0 = leaves(branching, depth).ok_or_else(|| Error::TooLarge {
            what: format!("general cascade with branching {branching} and depth {depth}"),
            states: usize::MAX,
            limit: MAX_NODES,
        })?;
        if conditionals.len() != depth {
            return Err(Error::length("conditionals", conditionals.len(), depth));
        }
        let mut n = n0;
        for (k, q) in conditionals.iter_mut().enumerate() {
            if q.len() != n {
                return Err(Error::length(format!("conditionals[{k}]"), q.len(), n));
            }
            for (y, block) in q.chunks_exact_mut(branching).enumerate() {
                normalise(&format!("conditionals[{k}] (node {y})"), block)?;
            }
            n /= branching;
        }
        Ok(Self {
            kappa,
            branching,
            depth,
            homogeneous: false,
            conditionals,
        })
    }

    /// This cascade with one conditional per node (a homogeneous cascade repeated on every
    /// node of its level).
    ///
    /// # Errors
    /// [`Error::TooLarge`] above [`MAX_NODES`] leaves.
    pub fn to_general(&self) -> Result<Self> {
        if !self.homogeneous {
            return Ok(self.clone());
        }
        let n0 = leaves(self.branching, self.depth).ok_or_else(|| Error::TooLarge {
            what: "general cascade".to_string(),
            states: usize::MAX,
            limit: MAX_NODES,
        })?;
        let mut n = n0;
        let conditionals = self
            .conditionals
            .iter()
            .map(|q| {
                let v = q.repeat(n / self.branching);
                n /= self.branching;
                v
            })
            .collect();
        Ok(Self {
            homogeneous: false,
            conditionals,
            ..self.clone()
        })
    }

    /// `kappa`.
    pub fn kappa(&self) -> f64 {
        self.kappa
    }

    /// `b`.
    pub fn branching(&self) -> usize {
        self.branching
    }

    /// `L`.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether there is one conditional per level.
    pub fn is_homogeneous(&self) -> bool {
        self.homogeneous
    }

    /// The (normalised) conditionals, finest first.
    pub fn conditionals(&self) -> &[Vec<f64>] {
        &self.conditionals
    }

    /// `Q(y | parent)` for the child `a` of node `y` of level `level + 1`.
    fn q(&self, level: usize, node: usize, a: usize) -> f64 {
        let b = self.branching;
        if self.homogeneous {
            self.conditionals[level][a]
        } else {
            self.conditionals[level][node * b + a]
        }
    }

    /// `Q(x)` of leaf `x` (index in `0..b^L`, consecutive siblings): the product of the
    /// conditionals along its path.
    pub fn leaf_probability(&self, x: usize) -> f64 {
        let b = self.branching;
        let mut p = 1.0;
        let mut i = x;
        for k in 0..self.depth {
            p *= self.q(k, i / b, i % b);
            i /= b;
        }
        p
    }

    /// The cascade of the loss `-f = kappa log Q`: `kappa` negated (zeros of `Q` stay
    /// forbidden). Only the model layer uses it (a negative multiplier).
    pub(crate) fn negated(&self) -> Cascade {
        Cascade {
            kappa: -self.kappa,
            ..self.clone()
        }
    }

    fn check_temperatures(&self, t: &Temperatures) -> Result<()> {
        if t.levels() != self.depth + 1 {
            return Err(Error::length("temperatures", t.levels(), self.depth + 1));
        }
        Ok(())
    }

    /// Solves the cascade: closed form for a homogeneous cascade (`O(L b)`), the flow
    /// [`CascadeStep`] through [`sweep`] and [`reconstruct`] for a general one (`O(n_0)`).
    ///
    /// `E_P*[f] = F + sum_k tau_k H(Y_k)` (the value identity, docs/concepts.md, "5. Theorem A").
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `temperatures` does not have `L + 1` levels;
    /// [`Error::Overflow`] naming the first result beyond `f64`.
    pub fn solve(&self, temperatures: &Temperatures) -> Result<CascadeSolution> {
        self.check_temperatures(temperatures)?;
        let s = temperatures.cumulative_slice();
        let l = self.depth;
        let (free_energy, conditional, escorts) = if self.homogeneous {
            let mut f = 0.0;
            let mut h = Vec::with_capacity(l + 1);
            let mut escorts = Vec::with_capacity(l);
            let mut lq = vec![0.0; self.branching];
            let mut le = vec![0.0; self.branching];
            for (k, q) in self.conditionals.iter().enumerate() {
                lq.iter_mut().zip(q).for_each(|(o, &x)| *o = x.ln());
                let log_r = log_escort(&lq, ratio(self.kappa, s[k])?, &mut le);
                f -= s[k] * log_r;
                h.push(entropy_of_logs(&le));
                escorts.push(le.iter().map(|l| l.exp()).collect());
            }
            h.push(0.0);
            (f, h, escorts)
        } else {
            let flow = CascadeStep::<f64>::new(self);
            let g0 = flow.initial_loss();
            let fl = sweep(&flow, &g0, s)?;
            let rec = reconstruct(&flow, fl.conditionals.clone());
            let escorts = fl
                .conditionals
                .into_iter()
                .take(l)
                .map(|c| c.into_iter().map(f64::exp).collect())
                .collect();
            (fl.free_energy, rec.conditional_entropies, escorts)
        };
        let entropies = level_entropies(&conditional);
        let expected_loss = free_energy
            + temperatures
                .as_slice()
                .iter()
                .zip(&entropies)
                .map(|(t, h)| t * h)
                .sum::<f64>();
        let summary = FlowSolution {
            free_energy,
            entropies,
            conditional_entropies: conditional,
            expected_loss,
        }
        .checked()?;
        Ok(CascadeSolution {
            summary,
            escorts,
            branching: self.branching,
            homogeneous: self.homogeneous,
        })
    }

    /// The equivalent tabulated problem on [`Hierarchy::complete`]`(b, L)`: loss
    /// `-kappa log Q(x)`, `+inf` where `Q(x) = 0`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] above [`MAX_NODES`] leaves; as [`Problem::new`].
    pub fn tabulate(&self) -> Result<(Hierarchy, Problem)> {
        let n0 = leaves(self.branching, self.depth).ok_or_else(|| Error::TooLarge {
            what: "tabulated cascade".to_string(),
            states: usize::MAX,
            limit: MAX_NODES,
        })?;
        let h = Hierarchy::complete(self.branching, self.depth)?;
        let loss: Vec<f64> = (0..n0)
            .map(|x| {
                let p = self.leaf_probability(x);
                if p > 0.0 {
                    -self.kappa * p.ln()
                } else {
                    f64::INFINITY
                }
            })
            .collect();
        let p = Problem::new(&h, &loss)?;
        Ok((h, p))
    }
}

/// A solved cascade.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CascadeSolution {
    /// Free energy, `H(Y_0..Y_L)`, conditional entropies, `E_P*[f]`.
    pub summary: FlowSolution,
    /// The optimal conditionals `P*(x | y)` per level, finest first: `b` numbers per level
    /// (homogeneous) or `b^(L-k)` (one block of `b` per node of level `k + 1`).
    pub escorts: Vec<Vec<f64>>,
    branching: usize,
    homogeneous: bool,
}

/// Draws one leaf of `P*` digit by digit, top-down (inverse RG, docs/concepts.md,
/// "10. Sampling"): `digits[k]` is the child index (`0..b`) taken at level `k`, finest first
/// (one per level); the leaf index is `sum_k digits[k] b^k` (when it fits).
impl Sample for CascadeSolution {
    type Draw = Vec<usize>;

    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, digits: &mut Vec<usize>) {
        digits.resize(self.escorts.len(), 0);
        let b = self.branching;
        let mut node = 0usize;
        for k in (0..digits.len()).rev() {
            let block = if self.homogeneous {
                &self.escorts[k][..]
            } else {
                &self.escorts[k][node * b..node * b + b]
            };
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut pick = None;
            for (a, &p) in block.iter().enumerate() {
                if p > 0.0 {
                    pick = Some(a);
                    acc += p;
                    if u < acc {
                        break;
                    }
                }
            }
            let a = pick.unwrap_or(0);
            digits[k] = a;
            if !self.homogeneous {
                node = node * b + a;
            }
        }
    }
}

/// A renormalised logarithmic loss `g_k(y) = c_k - kappa log Q~_k(y)`: the constant and the
/// log-conditionals `log Q~(x | y)` of the reweighted cascade above level `k` (entry `j` is
/// level `k + j`, one block of `b` per node).
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeLoss<T> {
    /// `c_k`.
    pub constant: T,
    /// `log Q~` for levels `k..L-1`.
    pub log_conditionals: Vec<Vec<T>>,
}

/// One step of the general cascade flow (implements [`Renormalise`] and [`Reconstruct`]):
///
/// ```text
/// log R(y)        = log sum_{x in B(y)} exp((kappa / S) log Q~(x | y))
/// log P*(x | y)   = (kappa / S) log Q~(x | y) - log R(y)
/// Q~'(y | z)      = Q~(y | z) w(y) / N(z),    w(y) = R(y)^(S / kappa),  N(z) = sum_y Q~(y|z) w(y)
/// ```
///
/// and `N(z)` is passed up as the weight of `z` in its parent's conditional, to the root,
/// whose `N` gives `c_{k+1} = c_k - kappa log N(root)`. Conditionals are block-wise
/// log-escorts (`b^(L-k)` numbers per level); the top conditional is `[0]` (one root).
#[derive(Debug, Clone)]
pub struct CascadeStep<'a, T> {
    cascade: &'a Cascade,
    _scalar: std::marker::PhantomData<T>,
}

impl<'a, T: Real> CascadeStep<'a, T> {
    /// The flow of `cascade` (a homogeneous cascade is treated node by node).
    pub fn new(cascade: &'a Cascade) -> Self {
        Self {
            cascade,
            _scalar: std::marker::PhantomData,
        }
    }

    /// `g_0 = -kappa log Q`: constant 0 and the cascade's own log-conditionals (node by node).
    pub fn initial_loss(&self) -> CascadeLoss<T> {
        let c = self.cascade;
        let b = c.branching;
        let mut n = leaves(b, c.depth).unwrap_or(usize::MAX);
        let log_conditionals = (0..c.depth)
            .map(|k| {
                let v: Vec<T> = (0..n).map(|i| T::of(c.q(k, i / b, i % b).ln())).collect();
                n /= b;
                v
            })
            .collect();
        CascadeLoss {
            constant: T::zero(),
            log_conditionals,
        }
    }
}

impl<T: Real> Renormalise for CascadeStep<'_, T> {
    type Scalar = T;
    type Loss = CascadeLoss<T>;
    type Conditional = Vec<T>;

    fn depth(&self) -> usize {
        self.cascade.depth
    }

    fn coarse_grain(
        &self,
        _level: usize,
        g: &CascadeLoss<T>,
        s: T,
    ) -> Result<(CascadeLoss<T>, Vec<T>)> {
        let b = self.cascade.branching;
        let kappa = T::of(self.cascade.kappa);
        let ratio = kappa / s;
        if !ratio.is_finite() {
            ratio_overflow(self.cascade.kappa, s.value())?;
        }
        let lq = &g.log_conditionals[0];
        let mut escort = vec![T::zero(); lq.len()];
        // log w(y) = (S / kappa) log R(y), one per node of the next level.
        let mut log_w: Vec<T> = lq
            .chunks_exact(b)
            .zip(escort.chunks_exact_mut(b))
            .map(|(block, out)| log_escort(block, ratio, out) / ratio)
            .collect();
        let mut rest: Vec<Vec<T>> = g.log_conditionals[1..].to_vec();
        let mut tmp = vec![T::zero(); b];
        for level in &mut rest {
            let mut up = Vec::with_capacity(level.len() / b);
            for (block, w) in level.chunks_exact_mut(b).zip(log_w.chunks_exact(b)) {
                for ((t, &l), &lw) in tmp.iter_mut().zip(block.iter()).zip(w) {
                    *t = l + lw;
                }
                let log_n = log_sum_exp(&tmp);
                for (o, &t) in block.iter_mut().zip(&tmp) {
                    *o = t - log_n;
                }
                up.push(log_n);
            }
            log_w = up;
        }
        // log_w now holds log N(root) (one entry).
        let constant = g.constant - kappa * log_w[0];
        Ok((
            CascadeLoss {
                constant,
                log_conditionals: rest,
            },
            escort,
        ))
    }

    /// One root: `F = g_L(root) = c_L`.
    fn top(&self, g: &CascadeLoss<T>, _s: T) -> Result<(T, Vec<T>)> {
        Ok((g.constant, vec![T::zero()]))
    }
}

impl Reconstruct for CascadeStep<'_, f64> {
    type Marginal = Vec<f64>;

    fn top_marginal(&self, _top: Vec<f64>) -> (Vec<f64>, f64) {
        (vec![1.0], 0.0)
    }

    /// `P*_k(x) = P*_{k+1}(y) P*(x | y)`; `H(Y_k | Y_{k+1}) = sum_y P*_{k+1}(y) H(P*(. | y))`.
    fn refine(&self, _level: usize, conditional: Vec<f64>, coarse: &Vec<f64>) -> (Vec<f64>, f64) {
        let b = self.cascade.branching;
        let mut h = 0.0;
        let mut fine = Vec::with_capacity(conditional.len());
        for (block, &py) in conditional.chunks_exact(b).zip(coarse) {
            h += py * entropy_of_logs(block);
            fine.extend(block.iter().map(|&l| py * l.exp()));
        }
        (fine, h)
    }
}
