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

use super::{ModelPoint, Sensitivity};
use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::families::exchangeable::{BlockSumFlow, Exchangeable};
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct, sweep};
use crate::temperatures::Temperatures;

/// Directions per pass.
const WIDTH: usize = 8;
type D = Dual<WIDTH>;

/// One pass: `F`, `E f` and `H(Y_0..Y_n)` with tangents along directions
/// `start..start + WIDTH` (`0`: `t`, `1 + j`: `w_j`, each seeded with `seed`).
struct Pass {
    free_energy: D,
    expected_loss: D,
    entropies: Vec<D>,
}

fn pass(model: &Exchangeable, tau: &Temperatures, seed: f64, start: usize) -> Result<Pass> {
    let slot = |dir: usize| (dir >= start && dir < start + WIDTH).then(|| dir - start);
    let mut scale = D::constant(1.0);
    if let Some(s) = slot(0) {
        scale.eps[s] = seed;
    }
    let cumulative: Vec<D> = tau
        .cumulative_slice()
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let mut d = D::constant(s);
            for j in 0..=i {
                if let Some(t) = slot(1 + j) {
                    d.eps[t] = seed;
                }
            }
            d
        })
        .collect();
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
    let levels = model.levels() + 1;
    let directions = levels + 1;
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(directions);
    let mut add_rows = |p: &Pass, start: usize| {
        for s in 0..WIDTH.min(directions - start) {
            let mut row = Vec::with_capacity(levels + 1);
            row.push(p.expected_loss.eps[s]);
            row.extend(p.entropies.iter().map(|h| h.eps[s]));
            rows.push(row);
        }
    };
    // The first pass also carries the values; later ones only more directions.
    let p = pass(model, tau, seed, 0)?;
    add_rows(&p, 0);
    for start in (WIDTH..directions).step_by(WIDTH) {
        add_rows(&pass(model, tau, seed, start)?, start);
    }
    let entropies: Vec<f64> = p.entropies.iter().map(|h| h.re).collect();
    let finite = p.free_energy.re.is_finite()
        && p.expected_loss.re.is_finite()
        && entropies.iter().all(|h| h.is_finite())
        && rows.iter().flatten().all(|x| x.is_finite());
    if !finite {
        return Err(Error::Numerical(
            "the exchangeable model's statistics or their derivatives do not fit in a finite f64"
                .to_string(),
        ));
    }
    let point = ModelPoint::level_zero(p.free_energy.re, p.expected_loss.re, entropies);
    Ok((point, Sensitivity::from_seeded(&rows[0], &rows[1..])))
}
