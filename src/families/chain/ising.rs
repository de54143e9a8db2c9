//! The `±1` Ising chain in closed form (flow, fixed points, flow diagram), and the fixed
//! points of the general homogeneous flow.

use super::decimation::{forbidden_bond, subtract_min};
use super::definition::check_bond;
use crate::error::{Error, Result};
use crate::numerics::soft_min_plus;

/// Dimensionless Ising couplings of a level, `K = J / S_k` and `H = h / S_k`, for the bond
/// `phi(s, s') = -J s s' - (h / 2)(s + s')` (the field split evenly between a site's two bonds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsingCouplings {
    /// `K = J / S`.
    pub k: f64,
    /// `H = h / S`.
    pub h: f64,
}

/// The Ising bond matrix in loss units: states `0 -> s = -1`, `1 -> s = +1`, row-major,
/// `phi(s, s') = -J s s' - (h / 2)(s + s')`.
pub fn ising_bond(j: f64, h: f64) -> [f64; 4] {
    let phi = |s: f64, t: f64| -j * s * t - 0.5 * h * (s + t);
    [
        phi(-1.0, -1.0),
        phi(-1.0, 1.0),
        phi(1.0, -1.0),
        phi(1.0, 1.0),
    ]
}

/// `(J, h)` of a symmetric `2 x 2` bond (states `-1, +1`), up to an additive constant:
/// `J = (phi(-+) + phi(+-) - phi(--) - phi(++)) / 4`, `h = (phi(--) - phi(++)) / 2`.
pub fn ising_parameters(bond: &[f64]) -> (f64, f64) {
    let (mm, mp, pm, pp) = (bond[0], bond[1], bond[2], bond[3]);
    ((mp + pm - mm - pp) / 4.0, (mm - pp) / 2.0)
}

/// `ln cosh x`, stable for large `|x|`.
fn ln_cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

/// One decimation step of the Ising chain in closed form, at a fixed temperature
/// (dimensionless): with `A = ln 2cosh(2K + H)`, `B = ln 2cosh(2K - H)`, `C = ln 2cosh H`,
///
/// ```text
/// K' = (A + B - 2C) / 4,   H' = H + (A - B) / 2,   g = (A + B + 2C) / 4
/// ```
///
/// where `g` is the constant per new bond (`phi'/S = -(K' s s' + H'/2 (s + s') + g)`). Proof:
/// `proofs/chain.md`; test `ising_closed_form_equals_the_matrix_flow`.
pub fn ising_step(c: IsingCouplings) -> (IsingCouplings, f64) {
    let two = std::f64::consts::LN_2;
    let a = ln_cosh(2.0 * c.k + c.h) + two;
    let b = ln_cosh(2.0 * c.k - c.h) + two;
    let cc = ln_cosh(c.h) + two;
    (
        IsingCouplings {
            k: (a + b - 2.0 * cc) / 4.0,
            h: c.h + (a - b) / 2.0,
        },
        (a + b + 2.0 * cc) / 4.0,
    )
}

/// The Ising coupling flow across levels: `(K_k, H_k)` for `k = 0..L` from `(J, h)` at
/// cumulative temperatures `S_0..S_L`: `K_0 = J / S_0`, and between levels the step of
/// [`ising_step`] followed by re-tempering, `K_{k+1} = K'(K_k, H_k) * S_k / S_{k+1}` (same
/// for `H`).
pub fn ising_flow(j: f64, h: f64, cumulative: &[f64]) -> Vec<IsingCouplings> {
    let mut out = Vec::with_capacity(cumulative.len());
    let Some(&s0) = cumulative.first() else {
        return out;
    };
    let mut c = IsingCouplings {
        k: j / s0,
        h: h / s0,
    };
    out.push(c);
    for w in cumulative.windows(2) {
        let (next, _) = ising_step(c);
        let r = w[0] / w[1];
        c = IsingCouplings {
            k: next.k * r,
            h: next.h * r,
        };
        out.push(c);
    }
    out
}

/// Trajectories of the dimensionless Ising flow from each starting point, `steps` steps at a
/// constant re-tempering ratio `r = S_k / S_{k+1}` (`0 < r <= 1`): the flow diagram. Every
/// finite start flows to the line `K = 0` (the 1D chain has no ordered phase); the fixed
/// points are listed by [`ising_fixed_points`].
pub fn ising_flow_diagram(
    starts: &[IsingCouplings],
    ratio: f64,
    steps: usize,
) -> Vec<Vec<IsingCouplings>> {
    starts
        .iter()
        .map(|&c0| {
            let mut c = c0;
            let mut path = vec![c];
            for _ in 0..steps {
                let (n, _) = ising_step(c);
                c = IsingCouplings {
                    k: n.k * ratio,
                    h: n.h * ratio,
                };
                path.push(c);
            }
            path
        })
        .collect()
}

/// A fixed point of the dimensionless Ising flow with its stability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsingFixedPoint {
    /// The couplings (`K = +inf` for the zero-temperature point).
    pub couplings: IsingCouplings,
    /// Whether nearby couplings flow into it.
    pub stable: bool,
}

/// Fixed points of the dimensionless Ising flow at re-tempering ratio `r = S_k / S_{k+1}`:
/// `(K, H) = (0, 0)` is stable (with `r = 1` the whole line `K = 0` is fixed: `H' = H` there);
/// `(K, H) = (+inf, 0)` is an unstable fixed point only for `r = 1` (there
/// `K' = K - ln(2)/2 + O(e^{-4K})`, so every finite `K` decreases); for `r < 1` it is not fixed.
pub fn ising_fixed_points(ratio: f64) -> Vec<IsingFixedPoint> {
    let zero = IsingFixedPoint {
        couplings: IsingCouplings { k: 0.0, h: 0.0 },
        stable: true,
    };
    if ratio == 1.0 {
        vec![
            zero,
            IsingFixedPoint {
                couplings: IsingCouplings {
                    k: f64::INFINITY,
                    h: 0.0,
                },
                stable: false,
            },
        ]
    } else {
        vec![zero]
    }
}

/// The gauge-invariant interaction of a bond, `max |phi(a,c) - phi(a,0) - phi(0,c) + phi(0,0)|`
/// over finite entries: zero exactly for decoupled bonds `phi(a, c) = u(a) + v(c)`, which are
/// the finite fixed points of the homogeneous flow (`phi ⊕_S phi = phi + const`).
pub fn interaction(bond: &[f64], q: usize) -> f64 {
    let mut m: f64 = 0.0;
    for a in 0..q {
        for c in 0..q {
            let v = bond[a * q + c] - bond[a * q] - bond[c] + bond[0];
            if v.is_finite() {
                m = m.max(v.abs());
            }
        }
    }
    m
}

/// Where the dimensionless homogeneous flow goes: iterates
/// `psi_{k+1} = r * N(psi_k ⊕_1 psi_k)` (`psi = phi / S`, `N` subtracts the minimum, `⊕_1`
/// the soft min-plus product at temperature 1) from `bond / s` until the largest change is
/// below `tol` or `max_steps` steps were taken. Returns the last `psi` and the number of steps.
/// Finite bonds converge to a decoupled fixed point ([`interaction`] `= 0`); hard constraints
/// (`+inf` entries) can keep a bond coupled forever (e.g. a permutation).
///
/// # Errors
/// [`Error::LengthMismatch`]; [`Error::InvalidSetting`] for `s <= 0` or `r` outside `(0, 1]`;
/// [`Error::AllForbidden`] if the product becomes all `+inf`.
pub fn fixed_point(
    bond: &[f64],
    q: usize,
    s: f64,
    ratio: f64,
    tol: f64,
    max_steps: usize,
) -> Result<(Vec<f64>, usize)> {
    if bond.len() != q * q {
        return Err(Error::length("bond", bond.len(), q * q));
    }
    check_bond("bond", bond)?;
    if !(s > 0.0 && s.is_finite()) {
        return Err(Error::InvalidSetting {
            field: "s",
            value: s,
            reason: "must be positive and finite",
        });
    }
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(Error::InvalidSetting {
            field: "ratio",
            value: ratio,
            reason: "S_k / S_{k+1} must be in (0, 1]",
        });
    }
    let mut psi: Vec<f64> = bond.iter().map(|x| x / s).collect();
    subtract_min(&mut psi).ok_or_else(|| forbidden_bond(0, 0))?;
    let mut next = vec![0.0; q * q];
    let mut scratch = vec![0.0; q * q * q];
    for step in 1..=max_steps {
        soft_min_plus(&psi, &psi, q, 1.0, &mut next, &mut scratch);
        subtract_min(&mut next).ok_or_else(|| forbidden_bond(step, 0))?;
        let mut change: f64 = 0.0;
        for (p, n) in psi.iter_mut().zip(&next) {
            let v = n * ratio;
            if p.is_finite() || v.is_finite() {
                change = change.max((v - *p).abs());
            }
            *p = v;
        }
        if change <= tol {
            return Ok((psi, step));
        }
    }
    Ok((psi, max_steps))
}
