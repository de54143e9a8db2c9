//! The exact derivatives of a Gaussian optimum ([`super::Model::sensitivity`] for
//! [`Quadratic`]) by covariance formulas.
//!
//! The renormalised precisions `A_k` do not depend on the temperatures; only the conditional
//! covariances do, each linearly in its own `S_j` (`S_j (A_j^{-1} - G_j M_j A_j^{-1})`, the top
//! `S_d A_d^{-1}`). Lifted through the gains `G_0 G_1 ... G_{j-1}` of the levels below, the
//! covariance of `x` is
//!
//! ```text
//! C_0 = sum_j S_j D_j,     D_j = L_j (Cov_j / S_j) L_j',     L_j = G_0 ... G_{j-1},
//! ```
//!
//! and the mean `A^{-1} b` does not move. With `C_k = T_k C_0 T_k'` (`T_k = M_k ... M_1`),
//! `H(Y_k) = 1/2 log det(2 pi e C_k)` and `E f = min f + 1/2 tr(A C_0)`:
//!
//! ```text
//! dH_k/dS_j = 1/2 tr(C_k^{-1} T_k D_j T_k'),   dE f/dS_j = 1/2 tr(A D_j),
//! dH_k/dt = -n_k / 2,   dE f/dt = -1/2 tr(A C_0)     (the loss (1 + t) f: C_0 -> C_0 / (1 + t)),
//! ```
//!
//! and `d/dtau_j = sum_{i >= j} d/dS_i` (proofs/convex_dual.md, "The floors dual and its exact
//! Hessian").

use nalgebra::{Cholesky, DMatrix};

use super::{ModelPoint, Sensitivity};
use crate::error::{Error, Result};
use crate::families::quadratic::Quadratic;
use crate::temperatures::Temperatures;

/// `tr(C^{-1} X)` for a Cholesky factorisation of `C`.
fn trace_solve(c: &Cholesky<f64, nalgebra::Dyn>, x: &DMatrix<f64>) -> f64 {
    c.solve(x).trace()
}

/// The statistics at `tau` and their derivatives in `(lambda, w)` for `tau = w / lambda`,
/// `seed = 1 / lambda` ([`Sensitivity::from_seeded`]).
pub(super) fn sensitivity(
    q: &Quadratic,
    tau: &Temperatures,
    seed: f64,
) -> Result<(ModelPoint, Sensitivity)> {
    let s = q.solve(tau)?;
    let levels = q.depth() + 1;
    let cum = tau.cumulative_slice();
    // D_j, lifted to x.
    let mut lift = DMatrix::<f64>::identity(q.dimension(), q.dimension());
    let mut d = Vec::with_capacity(levels);
    for (j, c) in s.conditionals.iter().enumerate().take(levels) {
        let unit = &c.covariance / cum[j];
        d.push(&lift * unit * lift.transpose());
        if j + 1 < levels {
            lift *= &c.gain;
        }
    }
    // T_k and the Cholesky factor of C_k, level by level.
    let mut t = DMatrix::<f64>::identity(q.dimension(), q.dimension());
    let mut by_s = vec![vec![0.0; levels + 1]; levels];
    let mut by_t = vec![0.0; levels + 1];
    for (j, dj) in d.iter().enumerate() {
        by_s[j][0] = 0.5 * (q.a() * dj).trace();
    }
    by_t[0] = -0.5 * (q.a() * &s.covariance).trace();
    for k in 0..levels {
        if k > 0 {
            t = &q.maps()[k - 1] * t;
        }
        let ck = &t * &s.covariance * t.transpose();
        let ch = Cholesky::new(0.5 * (&ck + ck.transpose())).ok_or_else(|| {
            Error::Numerical(format!(
                "the covariance of level {k} is not positive definite"
            ))
        })?;
        by_t[1 + k] = -0.5 * ck.nrows() as f64;
        for (j, dj) in d.iter().enumerate() {
            by_s[j][1 + k] = 0.5 * trace_solve(&ch, &(&t * dj * t.transpose()));
        }
    }
    // d/dtau_j = sum_{i >= j} d/dS_i, everything times 1 / lambda.
    let mut by_tau = vec![vec![0.0; levels + 1]; levels];
    let mut acc = vec![0.0; levels + 1];
    for j in (0..levels).rev() {
        for (a, x) in acc.iter_mut().zip(&by_s[j]) {
            *a += x;
        }
        by_tau[j] = acc.iter().map(|x| x * seed).collect();
    }
    let by_t: Vec<f64> = by_t.iter().map(|x| x * seed).collect();
    let mut expected_level_losses = vec![0.0; levels];
    expected_level_losses[0] = s.expected_loss;
    let point = ModelPoint {
        free_energy: s.free_energy,
        expected_loss: s.expected_loss,
        expected_level_losses,
        entropies: s.entropies,
        relative_entropies: None,
    };
    Ok((point, Sensitivity::from_seeded(&by_t, &by_tau)))
}
