//! The nearest-neighbour chain as a [`Model`]: the decimation flow and its dual-number
//! derivatives ([`Chain::solve`]); `-f` negates every finite bond entry (`+inf` stays
//! forbidden).
//!
//! The attainable interval is `[min f, max f]`, both by the zero-temperature flow: decimation
//! at `S = 0` is the min-plus product of neighbouring bonds, so
//!
//! ```text
//! min f = min_{a,c} (phi_0 ⊗ phi_1 ⊗ ... ⊗ phi_{n-1})(a, c)     (open),
//!         min_a     (phi_0 ⊗ ... ⊗ phi_{n-1})(a, a)             (ring),
//! ```
//!
//! `(A ⊗ B)(a, c) = min_b A(a, b) + B(b, c)`, by pairs level by level (`O(L q^3)` for a
//! homogeneous chain: repeated squaring), and `max f = -min(-f)`.
//!
//! The boundary limit of an open chain (`c = min f`): with the min-plus prefix and suffix
//! costs `alpha_i(a) = min over x_0..x_{i-1} of the bonds left of site i` (`alpha_0 = 0`) and
//! `beta_i(b)` likewise to the right, a configuration minimises `f` if and only if every bond
//! is tight, `alpha_i(x_i) + phi_i(x_i, x_{i+1}) + beta_{i+1}(x_{i+1}) = min f`
//! (proofs/model_interface.md). So the minimisers are the chain with bonds `0` (tight) and
//! `+inf` (not), and the limit is that chain at temperatures `w`. The bonds are listed one
//! per bond, so a homogeneous chain gets the limit only up to [`MAX_BOUNDARY_ENTRIES`]
//! entries; a ring (whose minimisers need not be such a chain) gets none.

use super::{
    boundary_unsupported, chain_sensitivity, scaled_temperatures, LossRange, Model, ModelPoint,
    Orientation, Sensitivity, Side,
};
use crate::error::{Error, Result};
use crate::families::chain::{Boundary, Chain, ChainSolution};
use crate::temperatures::Temperatures;

/// Largest number of bond entries (`2^L q^2`) of the boundary chain of a homogeneous chain.
pub const MAX_BOUNDARY_ENTRIES: usize = 1 << 24;

/// Relative tolerance of the tightness test of a bond at the boundary.
const TIGHT_RTOL: f64 = 1e-12;

/// `(A ⊗ B)(a, c) = min_b A(a, b) + B(b, c)` (`q x q`, row-major).
fn min_plus(a: &[f64], b: &[f64], q: usize) -> Vec<f64> {
    let mut out = vec![f64::INFINITY; q * q];
    for i in 0..q {
        for k in 0..q {
            let x = a[i * q + k];
            if x == f64::INFINITY {
                continue;
            }
            for j in 0..q {
                let v = x + b[k * q + j];
                if v < out[i * q + j] {
                    out[i * q + j] = v;
                }
            }
        }
    }
    out
}

/// `min f` of `chain` by the zero-temperature flow (`+inf` if every configuration is
/// forbidden).
fn min_loss(chain: &Chain) -> f64 {
    let q = chain.q();
    let top = if chain.is_homogeneous() {
        let mut m = chain.bond(0).to_vec();
        for _ in 0..chain.levels() {
            m = min_plus(&m, &m, q);
        }
        m
    } else {
        let n = 1usize << chain.levels();
        let mut level: Vec<Vec<f64>> = (0..n).map(|i| chain.bond(i).to_vec()).collect();
        while level.len() > 1 {
            level = level
                .chunks_exact(2)
                .map(|p| min_plus(&p[0], &p[1], q))
                .collect();
        }
        level.pop().unwrap_or_default()
    };
    match chain.boundary() {
        Boundary::Open => top.iter().fold(f64::INFINITY, |m, &x| m.min(x)),
        Boundary::Ring => (0..q).fold(f64::INFINITY, |m, a| m.min(top[a * q + a])),
    }
}

/// The chain with bonds `0` on the tight pairs of the minimisers of `f` and `+inf` elsewhere
/// (open chains, module docs), or `None` when too large.
fn minimiser_chain(chain: &Chain, min: f64) -> Result<Option<Chain>> {
    let q = chain.q();
    let qq = q * q;
    let Some(n) = u32::try_from(chain.levels())
        .ok()
        .and_then(|l| 1usize.checked_shl(l))
        .filter(|n| n.checked_mul(qq).is_some_and(|e| e <= MAX_BOUNDARY_ENTRIES))
    else {
        return Ok(None);
    };
    // alpha[i]: prefix costs at site i (i = 0..n), beta[i]: suffix costs.
    let mut alpha = vec![vec![0.0; q]; n + 1];
    for i in 0..n {
        let bond = chain.bond(i);
        for b in 0..q {
            alpha[i + 1][b] =
                (0..q).fold(f64::INFINITY, |m, a| m.min(alpha[i][a] + bond[a * q + b]));
        }
    }
    let mut beta = vec![vec![0.0; q]; n + 1];
    for i in (0..n).rev() {
        let bond = chain.bond(i);
        for a in 0..q {
            beta[i][a] = (0..q).fold(f64::INFINITY, |m, b| {
                m.min(bond[a * q + b] + beta[i + 1][b])
            });
        }
    }
    let mut bonds = Vec::with_capacity(n * qq);
    for i in 0..n {
        let bond = chain.bond(i);
        for a in 0..q {
            for b in 0..q {
                let (x, y, z) = (alpha[i][a], bond[a * q + b], beta[i + 1][b]);
                let total = x + y + z;
                let tol = TIGHT_RTOL * (x.abs() + y.abs() + z.abs() + min.abs());
                let tight = total.is_finite() && (total - min).abs() <= tol;
                bonds.push(if tight { 0.0 } else { f64::INFINITY });
            }
        }
    }
    Chain::inhomogeneous(q, chain.levels(), Boundary::Open, bonds).map(Some)
}

impl Model for Chain {
    type Solution = ChainSolution;

    fn levels(&self) -> usize {
        Chain::levels(self) + 1
    }

    fn solve_oriented(
        &self,
        orientation: Orientation,
        tau: &Temperatures,
    ) -> Result<ChainSolution> {
        match orientation {
            Orientation::Loss => self.solve(tau),
            Orientation::Negated => self.negated().solve(tau),
        }
    }

    fn point(&self, s: &ChainSolution, orientation: Orientation) -> ModelPoint {
        let sign = match orientation {
            Orientation::Loss => 1.0,
            Orientation::Negated => -1.0,
        };
        ModelPoint::level_zero(
            s.summary.free_energy,
            sign * s.summary.expected_loss,
            s.summary.entropies.clone(),
        )
    }

    fn negatable(&self) -> bool {
        true
    }

    fn loss_range(&self) -> Result<LossRange> {
        let min = min_loss(self);
        if min == f64::INFINITY {
            return Err(Error::AllForbidden(
                "every configuration of the chain has an infinite loss".to_string(),
            ));
        }
        let max = -min_loss(&self.negated());
        LossRange::attained(min, max, "the chain's loss")
    }

    /// The flow and a top-down pass over the pair marginals in dual numbers (eight
    /// directions per pass; homogeneous chains `O(L^2 q^3)` whatever the number of sites).
    fn sensitivity(&self, lambda: f64, w: &Temperatures) -> Result<(ModelPoint, Sensitivity)> {
        w.expect_levels(Model::levels(self))?;
        let (tau, seed) = scaled_temperatures(self, lambda, w)?;
        chain_sensitivity::sensitivity(self, &tau, seed)
    }

    /// Open chains: the chain of the tight bonds (module docs).
    fn minimisers(&self) -> Result<Chain> {
        let range = self.loss_range()?;
        if self.boundary() == Boundary::Ring {
            return Err(boundary_unsupported(Side::Min, range));
        }
        minimiser_chain(self, range.min)?.ok_or_else(|| boundary_unsupported(Side::Min, range))
    }

    fn boundary(&self, side: Side, weights: &Temperatures) -> Result<(ChainSolution, ModelPoint)> {
        let range = self.loss_range()?;
        if self.boundary() == Boundary::Ring {
            return Err(boundary_unsupported(side, range));
        }
        let (oriented, value) = match side {
            Side::Min => (self.clone(), range.min),
            Side::Max => (self.negated(), range.max),
        };
        let Some(face) = minimiser_chain(&oriented, value * sign_of(side))? else {
            return Err(boundary_unsupported(side, range));
        };
        let s = face.solve(weights)?;
        let mut point = self.point(&s, Orientation::Loss);
        point.expected_loss = value;
        point.expected_level_losses[0] = value;
        Ok((s, point))
    }
}

/// `+1` for the minimisers of `f`, `-1` for those of `-f` (the maximisers of `f`).
fn sign_of(side: Side) -> f64 {
    match side {
        Side::Min => 1.0,
        Side::Max => -1.0,
    }
}
