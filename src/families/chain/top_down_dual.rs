//! The top-down pass of a chain in dual numbers (implements [`Reconstruct`] for the
//! decimation step at [`Dual`] scalars): the pass of [`super::top_down`] with tangents, which
//! is what [`crate::model::Model::sensitivity`] differentiates (proofs/convex_dual.md, "The
//! floors dual and its exact Hessian"),
//!
//! ```text
//! P(b | a, c) = exp(-d_b) / z,  d_b = (phi_k(a, b) + phi_k(b, c) - m) / S_k,
//! H(Y_k | Y_{k+1}) = sum_{a,c} M_{k+1}(a, c) (sum_b P(b | a, c) d_b + log z),
//! M_k(a, b) += M_{k+1}(a, c) P(b | a, c),   M_k(b, c) += M_{k+1}(a, c) P(b | a, c),
//! ```
//!
//! `M_k` the pair marginal of each level-`k` bond. A homogeneous chain has one bond matrix
//! per level and the same conditional for every bond, so the maps above are the same for all
//! bonds of a level and the *sum* of the pair marginals over the level's bonds passes down
//! alone: `O(L q^3)` per pass whatever the number of sites (`2^40 + 1` included). An
//! inhomogeneous chain passes every bond's marginal (`O(2^L q^3)`), level 0 included.

use super::conditional::ChainConditional;
use super::decimation::Decimation;
use super::definition::Boundary;
use super::top_down::ChainMarginal;
use crate::dual::Dual;
use crate::numerics::gibbs_entropy_real;
use crate::rg::Reconstruct;

impl<const N: usize> Reconstruct for Decimation<'_, Dual<N>> {
    type Marginal = ChainMarginal<Dual<N>>;

    /// Open: `P(a, c) ∝ exp(-phi_L(a, c) / S_L)`; ring: `P(a) ∝ exp(-phi_L(a, a) / S_L)` with
    /// `M_L(a, c) = P(a) [a = c]`; and `H(Y_L)`.
    fn top_marginal(&self, top: ChainConditional<Dual<N>>) -> (Self::Marginal, Dual<N>) {
        let q = self.q;
        let phi = &top.bonds[..q * q];
        let zero = Dual::constant(0.0);
        let (pairs, h) = match self.boundary {
            Boundary::Open => {
                let mut p = vec![zero; q * q];
                let h = gibbs_entropy_real(phi, top.s, &mut p);
                (p, h)
            }
            Boundary::Ring => {
                let diag: Vec<Dual<N>> = (0..q).map(|a| phi[a * q + a]).collect();
                let mut p = vec![zero; q];
                let h = gibbs_entropy_real(&diag, top.s, &mut p);
                let mut m = vec![zero; q * q];
                for (a, pa) in p.into_iter().enumerate() {
                    m[a * q + a] = pa;
                }
                (m, h)
            }
        };
        let expected_loss = expected(&pairs, phi);
        (
            ChainMarginal {
                pairs,
                expected_loss,
            },
            h,
        )
    }

    fn refine(
        &self,
        _level: usize,
        conditional: ChainConditional<Dual<N>>,
        coarse: &Self::Marginal,
    ) -> (Self::Marginal, Dual<N>) {
        let (q, qq) = (self.q, self.q * self.q);
        let (b, s) = (&conditional.bonds[..], conditional.s);
        let zero = Dual::constant(0.0);
        let mut finer = vec![zero; b.len()];
        let mut h = zero;
        let mut expected_loss = zero;
        let mut x = vec![zero; q];
        let mut p = vec![zero; q];
        for (j, m) in coarse.pairs.chunks_exact(qq).enumerate() {
            let (lo, ro) = if self.homogeneous {
                (0, 0)
            } else {
                (2 * j * qq, (2 * j + 1) * qq)
            };
            for a in 0..q {
                for c in 0..q {
                    let w = m[a * q + c];
                    if w.re <= 0.0 {
                        continue;
                    }
                    for (bb, xb) in x.iter_mut().enumerate() {
                        *xb = b[lo + a * q + bb] + b[ro + bb * q + c];
                    }
                    h = h + w * gibbs_entropy_real(&x, s, &mut p);
                    for (bb, &pb) in p.iter().enumerate() {
                        if pb.re > 0.0 {
                            let mass = w * pb;
                            finer[lo + a * q + bb] = finer[lo + a * q + bb] + mass;
                            finer[ro + bb * q + c] = finer[ro + bb * q + c] + mass;
                            expected_loss = expected_loss + mass * x[bb];
                        }
                    }
                }
            }
        }
        (
            ChainMarginal {
                pairs: finer,
                expected_loss,
            },
            h,
        )
    }
}

/// `sum_{a,c} M(a, c) phi(a, c)` over the pairs of positive mass.
fn expected<const N: usize>(pairs: &[Dual<N>], phi: &[Dual<N>]) -> Dual<N> {
    pairs
        .iter()
        .zip(phi)
        .filter(|(w, _)| w.re > 0.0)
        .fold(Dual::constant(0.0), |a, (&w, &x)| a + w * x)
}
