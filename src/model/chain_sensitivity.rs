//! The exact derivatives of a chain's optimum ([`super::Model::sensitivity`] for [`Chain`]).
//!
//! The chain's entropies are first derivatives of its flow (`H(Y_k) = -dF/dtau_k`), so their
//! derivatives would be second ones. Instead the entropies are computed *as values* by the
//! chain's top-down pass over the pair marginals, and the flow and that pass run through the
//! one driver ([`sweep`], [`reconstruct_finest`]) in [`Dual`] scalars whose tangents are the
//! loss scale `t` (`f -> (1 + t) f`) and the level weights, eight directions per pass
//! (proofs/convex_dual.md, "The floors dual and its exact Hessian"; the pass in dual numbers:
//! `crate::families::chain`'s `top_down_dual`, where a homogeneous chain passes down the sum
//! of a level's pair marginals, `O(L q^3)` whatever the number of sites). Then
//!
//! ```text
//! E f = sum_i sum_{a,b} M_{0,i}(a, b) phi_{0,i}(a, b),     H(Y_k) = sum_{j >= k} H(Y_j | Y_{j+1}),
//! ```
//!
//! `M_0` the level-0 pair marginals and `phi_0` the input bonds (the loss `f` itself, without
//! the tangent of `(1 + t) f`).

use super::dual_pass::{assemble, seeded_cumulative, slot, Pass, D};
use super::{ModelPoint, Sensitivity};
use crate::error::{Error, Result};
use crate::families::chain::{Chain, ChainLoss, Decimation};
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct_finest, sweep};
use crate::temperatures::Temperatures;

fn pass(chain: &Chain, tau: &Temperatures, seed: f64, start: usize) -> Result<Pass> {
    let qq = chain.q() * chain.q();
    let l = chain.levels();
    let n0 = if chain.is_homogeneous() {
        1
    } else {
        1usize << l
    };
    let mut bonds0 = Vec::with_capacity(n0 * qq);
    for i in 0..n0 {
        bonds0.extend(chain.bond(i).iter().map(|&x| {
            let mut d = D::constant(x);
            if let (true, Some(s)) = (x.is_finite(), slot(0, start)) {
                d.eps[s] = x * seed;
            }
            d
        }));
    }
    let cumulative = seeded_cumulative(tau, seed, start);
    let g0 = ChainLoss {
        bonds: bonds0.into(),
        constant: D::constant(0.0),
    };
    let step = Decimation::<D>::new(chain);
    let flow = sweep(&step, &g0, &cumulative)?;
    let free_energy = flow.free_energy;
    // A flow has at least its top conditional, so the pass is never empty.
    let (finest, conditional) = reconstruct_finest(&step, flow.conditionals)
        .ok_or_else(|| Error::Numerical("the chain's flow has no top".to_string()))?;
    // E f over the level-0 bonds, for the loss f itself (not (1 + t) f).
    let mut expected = D::constant(0.0);
    for (i, m) in finest.pairs.chunks_exact(qq).enumerate() {
        for (&m, &phi) in m.iter().zip(chain.bond(i)) {
            if m.re > 0.0 && phi.is_finite() {
                expected = expected + m * D::constant(phi);
            }
        }
    }
    Ok(Pass {
        free_energy,
        expected_loss: expected,
        entropies: level_entropies(&conditional),
    })
}

/// The statistics at `tau` and their derivatives in `(lambda, w)` for `tau = w / lambda`,
/// `seed = 1 / lambda` (module docs, [`Sensitivity::from_seeded`]).
pub(super) fn sensitivity(
    chain: &Chain,
    tau: &Temperatures,
    seed: f64,
) -> Result<(ModelPoint, Sensitivity)> {
    assemble(chain.levels() + 1, "the chain", |start| {
        pass(chain, tau, seed, start)
    })
}
