//! The exact derivatives of a chain's optimum ([`super::Model::sensitivity`] for [`Chain`]).
//!
//! The chain's entropies are first derivatives of its flow (`H(Y_k) = -dF/dtau_k`), so their
//! derivatives would be second ones. Instead the entropies are computed *as values* by a
//! top-down pass over the pair marginals, and that pass (with the flow below it) runs in
//! [`Dual`] scalars whose tangents are the loss scale `t` (`f -> (1 + t) f`) and the level
//! weights, eight directions per pass (proofs/convex_dual.md, "The floors dual and its exact
//! Hessian"):
//!
//! ```text
//! P(b | a, c) = exp(-d_b) / z,  d_b = (phi_k(a, b) + phi_k(b, c) - m) / S_k,
//! H(Y_k | Y_{k+1}) = sum_{a,c} M_{k+1}(a, c) (sum_b P(b | a, c) d_b + log z),
//! M_k(a, b) += M_{k+1}(a, c) P(b | a, c),   M_k(b, c) += M_{k+1}(a, c) P(b | a, c),
//! E f = sum_{a,b} M_0(a, b) phi_0(a, b),
//! ```
//!
//! `M_k` the pair marginal of each level-`k` bond. A homogeneous chain has one bond matrix
//! per level and the same conditional for every bond, so the maps above are the same for all
//! bonds of a level and the *sum* of the pair marginals over the level's bonds passes down
//! alone: `O(L q^3)` per pass whatever the number of sites (`2^40 + 1` included). An
//! inhomogeneous chain passes every bond's marginal (`O(2^L q^3)`).

use super::{ModelPoint, Sensitivity};
use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::families::chain::{Boundary, Chain, ChainLoss, Decimation};
use crate::rg::sweep;
use crate::temperatures::Temperatures;
use num_traits::Float;

/// Directions per pass.
const WIDTH: usize = 8;
type D = Dual<WIDTH>;

/// One pass: `F`, `E f` and `H(Y_0..Y_L)` with tangents along directions
/// `start..start + WIDTH` (`0`: `t`, `1 + j`: `w_j`, each seeded with `seed`).
struct Pass {
    free_energy: D,
    expected_loss: D,
    entropies: Vec<D>,
}

/// `sum_b P_b d_b + log z` and `P` for the shifted losses `x` at `s` (`+inf` entries get
/// probability 0).
fn conditional(x: &[D], s: D, p: &mut [D]) -> D {
    let m = x.iter().copied().fold(
        D::constant(f64::INFINITY),
        |a, b| if b.re < a.re { b } else { a },
    );
    let mut z = D::constant(0.0);
    for (pb, &xb) in p.iter_mut().zip(x) {
        *pb = if xb.re == f64::INFINITY {
            D::constant(0.0)
        } else {
            (-(xb - m) / s).exp()
        };
        z = z + *pb;
    }
    let mut h = z.ln();
    for (pb, &xb) in p.iter_mut().zip(x) {
        if pb.re > 0.0 {
            *pb = *pb / z;
            h = h + *pb * ((xb - m) / s);
        }
    }
    h
}

fn pass(chain: &Chain, tau: &Temperatures, seed: f64, start: usize) -> Result<Pass> {
    let q = chain.q();
    let qq = q * q;
    let l = chain.levels();
    let homogeneous = chain.is_homogeneous();
    let slot = |dir: usize| (dir >= start && dir < start + WIDTH).then(|| dir - start);
    let n0 = if homogeneous { 1 } else { 1usize << l };
    let mut bonds0 = Vec::with_capacity(n0 * qq);
    for i in 0..n0 {
        bonds0.extend(chain.bond(i).iter().map(|&x| {
            let mut d = D::constant(x);
            if let (true, Some(s)) = (x.is_finite(), slot(0)) {
                d.eps[s] = x * seed;
            }
            d
        }));
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
    let g0 = ChainLoss {
        bonds: bonds0.into(),
        constant: D::constant(0.0),
    };
    let flow = sweep(&Decimation::<D>::new(chain), &g0, &cumulative)?;
    let bonds = |k: usize| -> &[D] {
        if k == 0 {
            &g0.bonds
        } else {
            &flow.losses[k - 1].bonds
        }
    };
    let mut cond = vec![D::constant(0.0); l + 1];
    // The top: the two end sites (open) or the one site with its bond to itself (ring).
    let top = &bonds(l)[..qq];
    let mut marg = vec![D::constant(0.0); qq];
    match chain.boundary() {
        Boundary::Open => cond[l] = conditional(top, cumulative[l], &mut marg),
        Boundary::Ring => {
            let diag: Vec<D> = (0..q).map(|a| top[a * q + a]).collect();
            let mut p = vec![D::constant(0.0); q];
            cond[l] = conditional(&diag, cumulative[l], &mut p);
            for a in 0..q {
                marg[a * q + a] = p[a];
            }
        }
    }
    let mut x = vec![D::constant(0.0); q];
    let mut p = vec![D::constant(0.0); q];
    for k in (0..l).rev() {
        let b = bonds(k);
        let s = cumulative[k];
        let mut finer = vec![D::constant(0.0); b.len()];
        let mut h = D::constant(0.0);
        for (j, m) in marg.chunks_exact(qq).enumerate() {
            let (lo, ro) = if homogeneous {
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
                    h = h + w * conditional(&x, s, &mut p);
                    for (bb, &pb) in p.iter().enumerate() {
                        if pb.re > 0.0 {
                            let mass = w * pb;
                            finer[lo + a * q + bb] = finer[lo + a * q + bb] + mass;
                            finer[ro + bb * q + c] = finer[ro + bb * q + c] + mass;
                        }
                    }
                }
            }
        }
        cond[k] = h;
        marg = finer;
    }
    // E f = sum over the level-0 bonds of M_0 . phi_0, for the loss f itself (not (1 + t) f).
    let mut expected = D::constant(0.0);
    for (i, m) in marg.chunks_exact(qq).enumerate() {
        for (&m, &phi) in m.iter().zip(chain.bond(i)) {
            if m.re > 0.0 && phi.is_finite() {
                expected = expected + m * D::constant(phi);
            }
        }
    }
    let mut entropies = vec![D::constant(0.0); l + 1];
    let mut acc = D::constant(0.0);
    for k in (0..=l).rev() {
        acc = acc + cond[k];
        entropies[k] = acc;
    }
    Ok(Pass {
        free_energy: flow.free_energy,
        expected_loss: expected,
        entropies,
    })
}

/// The statistics at `tau` and their derivatives in `(lambda, w)` for `tau = w / lambda`,
/// `seed = 1 / lambda` (module docs, [`Sensitivity::from_seeded`]).
pub(super) fn sensitivity(
    chain: &Chain,
    tau: &Temperatures,
    seed: f64,
) -> Result<(ModelPoint, Sensitivity)> {
    let levels = chain.levels() + 1;
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
    let p = pass(chain, tau, seed, 0)?;
    add_rows(&p, 0);
    for start in (WIDTH..directions).step_by(WIDTH) {
        add_rows(&pass(chain, tau, seed, start)?, start);
    }
    let entropies: Vec<f64> = p.entropies.iter().map(|h| h.re).collect();
    let finite = p.free_energy.re.is_finite()
        && p.expected_loss.re.is_finite()
        && entropies.iter().all(|h| h.is_finite())
        && rows.iter().flatten().all(|x| x.is_finite());
    if !finite {
        return Err(Error::Numerical(
            "the chain's statistics or their derivatives do not fit in a finite f64".to_string(),
        ));
    }
    let point = ModelPoint::level_zero(p.free_energy.re, p.expected_loss.re, entropies);
    Ok((point, Sensitivity::from_seeded(&rows[0], &rows[1..])))
}
