//! The exact derivatives of a tabulated optimum ([`Model::sensitivity`] for [`Problem`]):
//! one sweep with [`Dual`] scalars whose tangents are `d/dlambda` (the loss `lambda u_k` has
//! tangent `u_k`) and `d/dw_j` (the cumulative temperature `S_i = w_0 + ... + w_i` has
//! tangent `[i >= j]`), eight directions per sweep. The sweep returns every marginal and
//! conditional entropy with its tangents, so `dH(Y_k) = sum_{i >= k} dH(Y_i | Y_{i+1})` and
//! `dE f = sum_x dP*_0(x) f(x)` come out exactly (proofs/convex_dual.md, "The floors dual
//! and its exact Hessian").
//!
//! [`Model::sensitivity`]: super::Model::sensitivity

use super::{ModelPoint, Sensitivity};
use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::problem::Problem;
use crate::rg::pool::BufferPool;
use crate::rg::tiled::{self, Tiling};
use crate::temperatures::Temperatures;

/// Directions per sweep.
const WIDTH: usize = 8;

/// `E f`, `H(Y_0..Y_d)` and `F` of one sweep, with the tangents of `E f` and `H` along
/// directions `start..start + WIDTH` (`0`: `lambda`, `1 + j`: `w_j`).
struct Pass {
    expected_loss: f64,
    expected_level_losses: Vec<f64>,
    entropies: Vec<f64>,
    free_energy: f64,
    /// `tangents[s][0]`: `dE f`, `tangents[s][1 + k]`: `dH_k`, along direction `start + s`.
    tangents: Vec<Vec<f64>>,
}

/// The loss `lambda u` with tangent `u` in slot `slot` (if any); `+inf` stays forbidden.
fn scaled(u: &[f64], lambda: f64, slot: Option<usize>) -> Result<Vec<Dual<WIDTH>>> {
    u.iter()
        .map(|&x| {
            if x == f64::INFINITY {
                return Ok(Dual::constant(x));
            }
            let v = lambda * x;
            if !v.is_finite() {
                return Err(Error::overflow("the scaled loss", None, None));
            }
            let mut d = Dual::constant(v);
            if let Some(s) = slot {
                d.eps[s] = x;
            }
            Ok(d)
        })
        .collect()
}

fn pass(problem: &Problem, lambda: f64, w: &Temperatures, f: &[f64], start: usize) -> Result<Pass> {
    let h = problem.hierarchy();
    let levels = h.levels();
    let slot = |dir: usize| (dir >= start && dir < start + WIDTH).then(|| dir - start);
    let g0 = scaled(problem.level_loss(0).unwrap_or(&[]), lambda, slot(0))?;
    let potentials: Vec<Option<Vec<Dual<WIDTH>>>> = (1..levels)
        .map(|k| {
            problem
                .level_loss(k)
                .map(|u| scaled(u, lambda, slot(0)))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let cumulative: Vec<Dual<WIDTH>> = w
        .cumulative_slice()
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let mut d = Dual::constant(s);
            for j in 0..=i {
                if let Some(t) = slot(1 + j) {
                    d.eps[t] = 1.0;
                }
            }
            d
        })
        .collect();
    let pool = BufferPool::default();
    let solved = tiled::solve(h, &potentials, &g0, &cumulative, Tiling::default(), &pool)?;
    // H(Y_k) = sum_{i >= k} H(Y_i | Y_{i+1}), with tangents.
    let mut entropies = vec![Dual::<WIDTH>::constant(0.0); levels];
    let mut acc = Dual::constant(0.0);
    for k in (0..levels).rev() {
        acc = acc + solved.conditional_entropies[k];
        entropies[k] = acc;
    }
    let mut mean = Dual::<WIDTH>::constant(0.0);
    for (p, &fx) in solved.marginals[0].iter().zip(f) {
        if p.re > 0.0 && fx.is_finite() {
            mean = mean + *p * Dual::constant(fx);
        }
    }
    let expected_level_losses = (0..levels)
        .map(|k| {
            problem.level_loss(k).map_or(0.0, |u| {
                solved.marginals[k]
                    .iter()
                    .zip(u)
                    .filter(|(p, u)| p.re > 0.0 && u.is_finite())
                    .map(|(p, u)| p.re * u)
                    .sum()
            })
        })
        .collect();
    let tangents = (0..WIDTH)
        .map(|s| {
            let mut row = Vec::with_capacity(levels + 1);
            row.push(mean.eps[s]);
            row.extend(entropies.iter().map(|e| e.eps[s]));
            row
        })
        .collect();
    Ok(Pass {
        expected_loss: mean.re,
        expected_level_losses,
        entropies: entropies.iter().map(|e| e.re).collect(),
        free_energy: solved.free_energy.re,
        tangents,
    })
}

/// [`super::Model::sensitivity`] of a tabulated problem without a reference.
pub(super) fn sensitivity(
    problem: &Problem,
    lambda: f64,
    w: &Temperatures,
) -> Result<(ModelPoint, Sensitivity)> {
    if problem.has_reference() {
        return Err(Error::InvalidInput(
            "entropy floors are on Shannon entropies; a reference distribution is not supported"
                .to_string(),
        ));
    }
    let levels = problem.hierarchy().levels();
    w.expect_levels(levels)?;
    let f = problem.allowed_total_loss();
    let directions = levels + 1;
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(directions);
    // The first pass also carries the values; later ones only more directions.
    let p = pass(problem, lambda, w, &f, 0)?;
    rows.extend(p.tangents.iter().take(directions).cloned());
    for start in (WIDTH..directions).step_by(WIDTH) {
        let more = pass(problem, lambda, w, &f, start)?;
        rows.extend(more.tangents.iter().take(directions - start).cloned());
    }
    if !(p.free_energy.is_finite() && p.expected_loss.is_finite()) {
        return Err(Error::overflow("the free energy", None, None));
    }
    let point = ModelPoint {
        free_energy: p.free_energy,
        expected_loss: p.expected_loss,
        expected_level_losses: p.expected_level_losses,
        entropies: p.entropies,
        relative_entropies: None,
    };
    Ok((point, Sensitivity::from_seeded(&rows[0], &rows[1..])))
}
