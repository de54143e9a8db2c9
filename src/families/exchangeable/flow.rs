//! The exchangeable-blocks flow as an RG family: [`Renormalise`] and [`Reconstruct`]
//! (docs/families-exchangeable.md; proof: proofs/exchangeable.md).
//!
//! The renormalised loss of a level is one block's function `gamma_k` of its sum (every
//! level's loss is the sum of it over the level's blocks), and one step is
//!
//! ```text
//! gamma_{k+1}(M) = v_{k+1}(M) - S_k log sum_{m1 + m2 = M} exp(-(gamma_k(m1) + gamma_k(m2)) / S_k)
//! ```
//!
//! computed by [`Convolution`] with the minimum of `gamma_k` factored out. Top-down, the
//! block-sum distribution `p_k` of one block follows from `p_{k+1}` and the pair conditional
//! `P(m1, m2 | M) = exp(-(gamma_k(m1) + gamma_k(m2)) / S_k) / Z(M)`, and
//! `H(Y_k | Y_{k+1}) = 2^(n-k-1) sum_M p_{k+1}(M) H(m1, m2 | M)` (the blocks of a level are
//! independent given the coarser level).

use super::convolution::Convolution;
use super::Exchangeable;
use crate::error::{Error, Result};
use crate::numerics::min;
use crate::rg::{Reconstruct, Renormalise};

/// What the top-down pass needs from one level of the sweep.
#[derive(Debug, Clone)]
pub enum Step {
    /// A coarse-graining step of level `k < n`: the convolution of `gamma_k`.
    Split(Convolution),
    /// The top: the distribution `p_n` of the total sum and its entropy `H(Y_n)`.
    Top {
        /// `p_n(t) = exp(-(gamma_n(t) - F) / S_n)`.
        distribution: Vec<f64>,
        /// `H(Y_n)`.
        entropy: f64,
    },
}

/// The flow of an [`Exchangeable`] model (one renormalised block function per level).
#[derive(Debug, Clone, Copy)]
pub struct BlockSumFlow<'a> {
    model: &'a Exchangeable,
}

impl<'a> BlockSumFlow<'a> {
    /// The flow of `model`.
    pub fn new(model: &'a Exchangeable) -> Self {
        Self { model }
    }

    /// `gamma_0`: the site loss on the lattice of site values (`+inf` between states).
    pub fn initial_loss(&self) -> Vec<f64> {
        self.model.level_loss(0).to_vec()
    }
}

fn all_forbidden(level: usize) -> Error {
    Error::AllForbidden(format!("every block sum of level {level} has loss +inf"))
}

/// `l(t) = -(gamma(t) - min gamma) / s`, and `min gamma`.
fn log_weights(gamma: &[f64], s: f64, level: usize) -> Result<(Vec<f64>, f64)> {
    let m = min(gamma);
    if m == f64::INFINITY {
        return Err(all_forbidden(level));
    }
    let l = gamma
        .iter()
        .map(|&g| {
            if g == f64::INFINITY {
                f64::NEG_INFINITY
            } else {
                -(g - m) / s
            }
        })
        .collect();
    Ok((l, m))
}

impl Renormalise for BlockSumFlow<'_> {
    type Scalar = f64;
    type Loss = Vec<f64>;
    type Conditional = Step;

    fn depth(&self) -> usize {
        self.model.levels()
    }

    fn coarse_grain(&self, level: usize, g: &Vec<f64>, s: f64) -> Result<(Vec<f64>, Step)> {
        let (l, m) = log_weights(g, s, level)?;
        let conv = Convolution::new(l);
        let v = self.model.level_loss(level + 1);
        let coarse: Vec<f64> = conv
            .log_norms
            .iter()
            .zip(v)
            .map(|(&lz, &v)| {
                if lz == f64::NEG_INFINITY || v == f64::INFINITY {
                    f64::INFINITY
                } else {
                    v + 2.0 * m - s * lz
                }
            })
            .collect();
        if coarse.iter().any(|x| x.is_nan() || *x == f64::NEG_INFINITY) {
            return Err(Error::overflow(
                "the renormalised block loss",
                Some(level + 1),
                None,
            ));
        }
        Ok((coarse, Step::Split(conv)))
    }

    /// `F = min gamma_n - S_n log sum_t exp(l(t))`, `p_n(t) = exp(l(t) - log sum exp l)`.
    fn top(&self, g: &Vec<f64>, s: f64) -> Result<(f64, Step)> {
        let (l, m) = log_weights(g, s, self.model.levels())?;
        let lse = crate::numerics::log_sum_exp(&l);
        let distribution: Vec<f64> = l.iter().map(|&x| (x - lse).exp()).collect();
        let entropy = distribution
            .iter()
            .zip(&l)
            .filter(|(&p, _)| p > 0.0)
            .map(|(&p, &x)| p * (lse - x))
            .sum();
        Ok((
            m - s * lse,
            Step::Top {
                distribution,
                entropy,
            },
        ))
    }
}

impl Reconstruct for BlockSumFlow<'_> {
    type Marginal = Vec<f64>;

    fn top_marginal(&self, top: Step) -> (Vec<f64>, f64) {
        match top {
            Step::Top {
                distribution,
                entropy,
            } => (distribution, entropy),
            // The driver passes the top step here and split steps to `refine`.
            Step::Split(_) => (Vec::new(), f64::NAN),
        }
    }

    fn refine(&self, level: usize, conditional: Step, coarse: &Vec<f64>) -> (Vec<f64>, f64) {
        match conditional {
            Step::Split(conv) => {
                let fine = conv.marginal(coarse);
                let blocks = (self.model.levels() - level - 1) as i32;
                let h = 2f64.powi(blocks) * conv.pair_entropy(coarse, &fine);
                (fine, h)
            }
            Step::Top { .. } => (Vec::new(), f64::NAN),
        }
    }
}
