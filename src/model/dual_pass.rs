//! What the dual-number passes of [`super::Model::sensitivity`] share (chain, exchangeable
//! blocks): the seeds of the directions and the assembly of their tangents.
//!
//! A pass carries eight directions at once: `0` is the loss scale `t` (`f -> (1 + t) f`),
//! `1 + j` the level weight `w_j` (every cumulative temperature `S_i`, `i >= j`, moves with
//! it), each seeded with `1 / lambda` (proofs/convex_dual.md, "The floors dual and its exact
//! Hessian"); `levels + 1` directions take `ceil((levels + 1) / 8)` passes, the first of
//! which also gives the values.

use super::{ModelPoint, Sensitivity};
use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::temperatures::Temperatures;

/// Directions per pass.
pub(super) const WIDTH: usize = 8;
/// The scalar of a pass.
pub(super) type D = Dual<WIDTH>;

/// One pass: `F`, `E f` and `H(Y_0..Y_d)` with tangents along directions
/// `start..start + WIDTH`.
pub(super) struct Pass {
    pub free_energy: D,
    pub expected_loss: D,
    pub entropies: Vec<D>,
}

/// The tangent slot of direction `dir` in the pass starting at `start`, if it carries it.
pub(super) fn slot(dir: usize, start: usize) -> Option<usize> {
    (dir >= start && dir < start + WIDTH).then(|| dir - start)
}

/// `S_0..S_d` of `tau` with the tangents of the level weights: `dS_i/dw_j = seed` for
/// `j <= i`.
pub(super) fn seeded_cumulative(tau: &Temperatures, seed: f64, start: usize) -> Vec<D> {
    tau.cumulative_slice()
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let mut d = D::constant(s);
            for j in 0..=i {
                if let Some(t) = slot(1 + j, start) {
                    d.eps[t] = seed;
                }
            }
            d
        })
        .collect()
}

/// The statistics and their derivatives from the passes of a model with `levels` levels
/// (`pass(start)` runs the pass of directions `start..start + WIDTH`); `what` names the model
/// in the error.
///
/// # Errors
/// The passes' errors; [`Error::Numerical`] when a value or a derivative is not finite.
pub(super) fn assemble(
    levels: usize,
    what: &str,
    mut pass: impl FnMut(usize) -> Result<Pass>,
) -> Result<(ModelPoint, Sensitivity)> {
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
    let p = pass(0)?;
    add_rows(&p, 0);
    for start in (WIDTH..directions).step_by(WIDTH) {
        add_rows(&pass(start)?, start);
    }
    let entropies: Vec<f64> = p.entropies.iter().map(|h| h.re).collect();
    let finite = p.free_energy.re.is_finite()
        && p.expected_loss.re.is_finite()
        && entropies.iter().all(|h| h.is_finite())
        && rows.iter().flatten().all(|x| x.is_finite());
    if !finite {
        return Err(Error::Numerical(format!(
            "{what}'s statistics or their derivatives do not fit in a finite f64"
        )));
    }
    let point = ModelPoint::level_zero(p.free_energy.re, p.expected_loss.re, entropies);
    Ok((point, Sensitivity::from_seeded(&rows[0], &rows[1..])))
}
