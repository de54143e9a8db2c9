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
//!
//! The scalar `T` is `f64` or a [`crate::dual::Dual`] number (forward-mode derivatives of
//! the whole flow and its top-down pass, [`crate::model::Model::sensitivity`]); a flow may
//! scale the loss, `f -> scale f`, so that a dual `scale` carries the loss-scale tangent.

use super::convolution::Convolution;
use super::Exchangeable;
use crate::error::{Error, Result};
use crate::numerics::{log_sum_exp, min, Real};
use crate::rg::{Reconstruct, Renormalise};

/// What the top-down pass needs from one level of the sweep.
#[derive(Debug, Clone)]
pub enum Step<T = f64> {
    /// A coarse-graining step of level `k < n`: the convolution of `gamma_k`.
    Split(Convolution<T>),
    /// The top: the distribution `p_n` of the total sum and its entropy `H(Y_n)`.
    Top {
        /// `p_n(t) = exp(-(gamma_n(t) - F) / S_n)`.
        distribution: Vec<T>,
        /// `H(Y_n)`.
        entropy: T,
    },
}

/// The flow of an [`Exchangeable`] model (one renormalised block function per level).
#[derive(Debug, Clone, Copy)]
pub struct BlockSumFlow<'a, T = f64> {
    model: &'a Exchangeable,
    /// The loss is `scale f` (`1` but for a derivative pass).
    scale: T,
}

impl<'a> BlockSumFlow<'a> {
    /// The flow of `model`.
    pub fn new(model: &'a Exchangeable) -> Self {
        Self { model, scale: 1.0 }
    }
}

impl<'a, T: Real> BlockSumFlow<'a, T> {
    /// The flow of the loss `scale f` of `model` (a dual `scale` seeds the loss-scale tangent).
    pub fn scaled(model: &'a Exchangeable, scale: T) -> Self {
        Self { model, scale }
    }

    /// `scale v_k` (`+inf` stays `+inf`, without a tangent).
    fn level_loss(&self, level: usize) -> Vec<T> {
        self.model
            .level_loss(level)
            .iter()
            .map(|&v| {
                if v == f64::INFINITY {
                    T::infinity()
                } else {
                    self.scale * T::of(v)
                }
            })
            .collect()
    }

    /// `gamma_0`: the site loss on the lattice of site values (`+inf` between states).
    pub fn initial_loss(&self) -> Vec<T> {
        self.level_loss(0)
    }
}

fn all_forbidden(level: usize) -> Error {
    Error::AllForbidden(format!("every block sum of level {level} has loss +inf"))
}

/// `l(t) = -(gamma(t) - min gamma) / s`, and `min gamma`.
fn log_weights<T: Real>(gamma: &[T], s: T, level: usize) -> Result<(Vec<T>, T)> {
    let m = min(gamma);
    if m.value() == f64::INFINITY {
        return Err(all_forbidden(level));
    }
    let l = gamma
        .iter()
        .map(|&g| {
            if g.value() == f64::INFINITY {
                T::neg_infinity()
            } else {
                -(g - m) / s
            }
        })
        .collect();
    Ok((l, m))
}

impl<T: Real> Renormalise for BlockSumFlow<'_, T> {
    type Scalar = T;
    type Loss = Vec<T>;
    type Conditional = Step<T>;

    fn depth(&self) -> usize {
        self.model.levels()
    }

    fn coarse_grain(&self, level: usize, g: &Vec<T>, s: T) -> Result<(Vec<T>, Step<T>)> {
        let (l, m) = log_weights(g, s, level)?;
        let conv = Convolution::new(l);
        let v = self.level_loss(level + 1);
        let coarse: Vec<T> = conv
            .log_norms
            .iter()
            .zip(v)
            .map(|(&lz, v)| {
                if lz.value() == f64::NEG_INFINITY || v.value() == f64::INFINITY {
                    T::infinity()
                } else {
                    v + T::of(2.0) * m - s * lz
                }
            })
            .collect();
        if coarse
            .iter()
            .any(|x| x.is_nan() || x.value() == f64::NEG_INFINITY)
        {
            return Err(Error::overflow(
                "the renormalised block loss",
                Some(level + 1),
                None,
            ));
        }
        Ok((coarse, Step::Split(conv)))
    }

    /// `F = min gamma_n - S_n log sum_t exp(l(t))`, `p_n(t) = exp(l(t) - log sum exp l)`.
    fn top(&self, g: &Vec<T>, s: T) -> Result<(T, Step<T>)> {
        let (l, m) = log_weights(g, s, self.model.levels())?;
        let lse = log_sum_exp(&l);
        let distribution: Vec<T> = l.iter().map(|&x| (x - lse).exp()).collect();
        let entropy = distribution
            .iter()
            .zip(&l)
            .filter(|(p, _)| p.value() > 0.0)
            .fold(T::zero(), |a, (&p, &x)| a + p * (lse - x));
        Ok((
            m - s * lse,
            Step::Top {
                distribution,
                entropy,
            },
        ))
    }
}

impl<T: Real> Reconstruct for BlockSumFlow<'_, T> {
    type Marginal = Vec<T>;

    fn top_marginal(&self, top: Step<T>) -> (Vec<T>, T) {
        match top {
            Step::Top {
                distribution,
                entropy,
            } => (distribution, entropy),
            // The driver passes the top step here and split steps to `refine`.
            Step::Split(_) => (Vec::new(), T::nan()),
        }
    }

    fn refine(&self, level: usize, conditional: Step<T>, coarse: &Vec<T>) -> (Vec<T>, T) {
        match conditional {
            Step::Split(conv) => {
                let fine = conv.marginal(coarse);
                let blocks = (self.model.levels() - level - 1) as i32;
                let h = T::of(2f64.powi(blocks)) * conv.pair_entropy(coarse, &fine);
                (fine, h)
            }
            Step::Top { .. } => (Vec::new(), T::nan()),
        }
    }
}
