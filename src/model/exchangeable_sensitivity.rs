//! The exact derivatives of an exchangeable model's optimum ([`super::Model::sensitivity`]
//! for [`Exchangeable`]) (proofs/convex_dual.md, "The floors dual and its exact Hessian").
//!
//! The flow and its top-down pass run through the one driver ([`crate::rg::sweep`],
//! [`crate::rg::reconstruct`]) in [`Dual`] scalars: the loss is `scale f` with a dual `scale`
//! (tangent along `t` of `f -> (1 + t) f`) and the cumulative temperatures carry the level
//! weights' tangents, eight directions per pass. The pass returns the block-sum distributions
//! `p_k` and the conditional entropies as values, so
//!
//! ```text
//! E f = sum_k 2^(n-k) sum_t p_k(t) v_k(t),     H(Y_k) = sum_{j >= k} H(Y_j | Y_{j+1})
//! ```
//!
//! carry their derivatives exactly; the cost is that of the flow times the eight tangents.

use super::dual_pass::{assemble, seeded_cumulative, slot, Pass, D};
use super::{ModelPoint, Sensitivity};
use crate::error::Result;
use crate::families::exchangeable::{BlockSumFlow, Exchangeable};
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct, sweep};
use crate::temperatures::Temperatures;

fn pass(model: &Exchangeable, tau: &Temperatures, seed: f64, start: usize) -> Result<Pass> {
    let mut scale = D::constant(1.0);
    if let Some(s) = slot(0, start) {
        scale.eps[s] = seed;
    }
    let cumulative = seeded_cumulative(tau, seed, start);
    let flow = BlockSumFlow::scaled(model, scale);
    let fl = sweep(&flow, &flow.initial_loss(), &cumulative)?;
    let free_energy = fl.free_energy;
    let rec = reconstruct(&flow, fl.conditionals);
    let n = model.levels();
    // E f for the loss f itself (not scale f): v_k are constants.
    let mut expected = D::constant(0.0);
    for (k, p) in rec.marginals.iter().enumerate() {
        let blocks = D::constant(2f64.powi((n - k) as i32));
        let mut level = D::constant(0.0);
        for (&p, &v) in p.iter().zip(model.level_loss(k)) {
            if p.re > 0.0 {
                level = level + p * D::constant(v);
            }
        }
        expected = expected + blocks * level;
    }
    Ok(Pass {
        free_energy,
        expected_loss: expected,
        entropies: level_entropies(&rec.conditional_entropies),
    })
}

/// The statistics at `tau` and their derivatives in `(lambda, w)` for `tau = w / lambda`,
/// `seed = 1 / lambda` (module docs, [`Sensitivity::from_seeded`]).
pub(super) fn sensitivity(
    model: &Exchangeable,
    tau: &Temperatures,
    seed: f64,
) -> Result<(ModelPoint, Sensitivity)> {
    assemble(model.levels() + 1, "the exchangeable model", |start| {
        pass(model, tau, seed, start)
    })
}
