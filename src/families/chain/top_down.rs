//! The top-down pass of a chain (implements [`Reconstruct`] for the `f64` decimation step):
//! pair marginals of every level's bonds, conditional entropies and expected losses.

use super::conditional::ChainConditional;
use super::decimation::Decimation;
use super::definition::Boundary;
use crate::numerics::transfer::{gibbs_entropy, top_down_level, top_down_level_any};
use crate::numerics::Real;
use crate::rg::pool::level_vec;
use crate::rg::Reconstruct;

/// `P*_k` of a chain: given the level-`k` sites the chain is Markov, so the joint law of its
/// sites is fixed by the pair marginals of its bonds.
///
/// In `f64` every bond has its own pair marginal. In dual numbers (the derivative pass of
/// [`crate::model::Model::sensitivity`], `super::top_down_dual`) a homogeneous chain keeps
/// one `q x q` table per level, the *sum* of its bonds' pair marginals, and level 0 is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainMarginal<T = f64> {
    /// `M_{k,j}(a, c)`: the law of the two sites of bond `j` of level `k` (row-major `q x q`
    /// per bond, concatenated; ring top: `P(a) [a = c]`). Level 0 leaves it empty in `f64`:
    /// nothing the solve reports needs it, and it would be the largest table of the pass.
    pub pairs: Vec<T>,
    /// `E_P*[sum_j phi_{k,j}(y_j, y_{j+1})]`, the expected level-`k` loss less `C_k`
    /// (`E_P*[f] = C_0 +` this at level 0).
    pub expected_loss: T,
}

/// The top-down pass of the `f64` flow (docs/families-chain.md, proofs/chain.md): given the
/// level-`(k+1)` sites, the decimated sites are independent, each depending on its two
/// neighbours only, so
///
/// ```text
/// H(Y_k | Y_{k+1}) = sum_j sum_{a,c} M_{k+1,j}(a, c) H(P(. | a, c)),
/// M_{k,2j}(a, b) = sum_c M_{k+1,j}(a, c) P(b | a, c),   M_{k,2j+1}(b, c) = sum_a M_{k+1,j}(a, c) P(b | a, c),
/// E[sum_i phi_{k,i}] = sum_j sum_{a,c} M_{k+1,j}(a, c) sum_b P(b | a, c) (phi_{k,2j}(a, b) + phi_{k,2j+1}(b, c)),
/// ```
///
/// with `P(b | a, c)` of [`ChainConditional`]. Cost `O(2^L q^3)` (a homogeneous chain too: its
/// marginals differ from bond to bond); through [`crate::rg::reconstruct_finest`], memory two
/// levels of pair marginals.
impl Reconstruct for Decimation<'_, f64> {
    type Marginal = ChainMarginal;

    /// Open: `P(a, c) = exp(-phi_L(a, c) / S_L) / Z`; ring: `P(a) = exp(-phi_L(a, a) / S_L) / Z`
    /// with `M_L(a, c) = P(a) [a = c]`; and `H(Y_L)`.
    fn top_marginal(&self, top: ChainConditional) -> (ChainMarginal, f64) {
        let q = self.q;
        let phi = &top.bonds[..q * q];
        let values: Vec<f64> = match self.boundary {
            Boundary::Open => phi.to_vec(),
            Boundary::Ring => (0..q).map(|a| phi[a * q + a]).collect(),
        };
        let mut p = vec![0.0; values.len()];
        let h = gibbs_entropy(&values, top.s, &mut p);
        let pairs = match self.boundary {
            Boundary::Open => p,
            Boundary::Ring => {
                let mut m = vec![0.0; q * q];
                for (a, pa) in p.into_iter().enumerate() {
                    m[a * q + a] = pa;
                }
                m
            }
        };
        let expected_loss = pairs
            .iter()
            .zip(phi)
            .filter(|(&w, _)| w > 0.0)
            .map(|(&w, &x)| w * x)
            .sum();
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
        level: usize,
        conditional: ChainConditional,
        coarse: &ChainMarginal,
    ) -> (ChainMarginal, f64) {
        let (q, qq) = (self.q, self.q * self.q);
        let (bonds, s, marg) = (&conditional.bonds[..], conditional.s, &coarse.pairs[..]);
        let write = level > 0;
        // A level's table (huge pages where large: cheaper first writes), zeroed: the kernels
        // accumulate into it.
        let n = if write { 2 * marg.len() } else { 0 };
        let mut pairs = level_vec::<f64>(n);
        pairs.resize(n, 0.0);
        let fixed = if self.homogeneous { 0 } else { q };
        let (h, expected_loss) = match (fixed, write) {
            (2, true) => <f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<2, true>(bonds, s, marg, &mut pairs),
            ),
            (2, false) => <f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<2, false>(bonds, s, marg, &mut []),
            ),
            (3, true) => <f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<3, true>(bonds, s, marg, &mut pairs),
            ),
            (3, false) => <f64 as Real>::kernel(
                #[inline(always)]
                || top_down_level::<3, false>(bonds, s, marg, &mut []),
            ),
            _ => {
                let bond = |i: usize| {
                    let i = if self.homogeneous { 0 } else { i };
                    &bonds[i * qq..][..qq]
                };
                let finer = if write { Some(&mut pairs[..]) } else { None };
                top_down_level_any(bond, q, s, marg, finer, &mut Vec::new())
            }
        };
        (
            ChainMarginal {
                pairs,
                expected_loss,
            },
            h,
        )
    }
}
