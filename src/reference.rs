//! The reference distribution `Q` of Theorem B on every level, kept as `log Q` (docs/concepts.md,
//! "6. Theorem B").
//!
//! The user gives level-0 masses `q(x) >= 0`, normalised here: `Q_0(x) = q(x) / sum q`. A mass
//! that is positive but tiny beside the others (`q = (1e-200, 1e200)`, or a subnormal `5e-324`)
//! has a normalised value below `f64`'s range, while its logarithm, which is all the sweep
//! uses (`u_k - tau_k log Q_k`), is an ordinary number (`log Q_0 = -921`). So the logarithms
//! are computed directly,
//!
//! ```text
//! log Q_0(x) = log q(x) - log max q - log sum_x (q(x) / max q),
//! log Q_{k+1}(y) = log sum_{x in B(y)} exp(log Q_k(x)),
//! ```
//!
//! wherever the normalised `Q_k` is below the normal range (elsewhere `log` of `Q_k` itself,
//! which is more accurate), and a state is forbidden exactly where the user's mass is `0`
//! (`log Q = -inf`), never because its normalised mass underflows.

use crate::error::Result;
use crate::hierarchy::Hierarchy;
use crate::numerics::log_sum_exp;

/// `Q_k` and `log Q_k` for every level, block order.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    /// `Q_0..Q_d`, normalised (an entry may underflow to `0` where its logarithm is finite).
    q: Vec<Vec<f64>>,
    /// `log Q_0..log Q_d` (`-inf` exactly where the user's masses below are all `0`).
    log_q: Vec<Vec<f64>>,
}

impl Reference {
    /// Validates the user's level-0 masses `q` (user order) on `h` and pushes them forward.
    ///
    /// # Errors
    /// As [`Hierarchy::distribution`]: a wrong length, a negative or non-finite entry, a
    /// zero sum.
    pub(crate) fn new(h: &Hierarchy, field: &str, q: &[f64]) -> Result<Self> {
        let q0 = h.distribution(field, q)?;
        let levels = h.push_forwards(q0);
        let max = q.iter().copied().fold(0.0, f64::max);
        let total: f64 = q.iter().map(|&x| x / max).sum();
        let shift = max.ln() + total.ln();
        let mut log0 = vec![0.0; q.len()];
        h.to_block_order(0, q, &mut log0);
        // Where the normalised mass is a normal number its own logarithm is used (the most
        // accurate, and the value every sweep used before); below that, the logarithms.
        // (The logarithms only where they are needed: a log-sum-exp per coarse state costs an
        // exponential per child.)
        let log_of = |q: f64, log: &dyn Fn() -> f64| {
            if q >= f64::MIN_POSITIVE {
                q.ln()
            } else {
                log()
            }
        };
        log0.iter_mut()
            .zip(&levels[0])
            .for_each(|(x, &q)| *x = log_of(q, &|| x.ln() - shift));
        let mut log_q = Vec::with_capacity(h.levels());
        log_q.push(log0);
        for k in 0..h.depth() {
            let layout = h.layout(k);
            let fine = &log_q[k];
            let coarse = (0..h.size(k + 1))
                .map(|y| log_of(levels[k + 1][y], &|| log_sum_exp(&fine[layout.block(y)])))
                .collect();
            log_q.push(coarse);
        }
        Ok(Self { q: levels, log_q })
    }

    /// `log Q_k` in block order.
    pub(crate) fn log(&self, k: usize) -> &[f64] {
        &self.log_q[k]
    }

    /// Whether level-`k` state `i` (block order) has positive reference mass.
    pub(crate) fn allows(&self, k: usize, i: usize) -> bool {
        self.log_q[k][i] > f64::NEG_INFINITY
    }

    /// `D(p || Q_k) = sum p log(p / Q_k)` (`0 log 0 = 0`, `+inf` where `p > 0 = Q_k`), with
    /// `log(p / Q)` from the ratio where `Q` is a normal number (accurate near `p = Q`) and
    /// from `log p - log Q` below that.
    pub(crate) fn relative_entropy(&self, k: usize, p: &[f64]) -> f64 {
        let (q, log_q) = (&self.q[k], &self.log_q[k]);
        p.iter()
            .zip(q.iter().zip(log_q))
            .map(|(&p, (&q, &log_q))| {
                if p <= 0.0 {
                    0.0
                } else if q >= f64::MIN_POSITIVE {
                    p * (p / q).ln()
                } else {
                    p * (p.ln() - log_q)
                }
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Masses whose normalised values underflow keep exact logarithms, and their states
    /// stay allowed; a zero mass is the only forbidden one.
    #[test]
    fn tiny_normalised_masses_keep_their_logarithms() {
        let h = Hierarchy::new(vec![3, 1], vec![vec![0, 0, 0]]).unwrap();
        let r = Reference::new(&h, "reference", &[1e-200, 1e200, 0.0]).unwrap();
        let expected = (1e-200f64).ln() - (1e200f64).ln();
        assert!((r.log(0)[0] - expected).abs() <= 1e-15 * expected.abs());
        assert_eq!(r.log(0)[1], 0.0);
        assert!(r.allows(0, 0) && r.allows(0, 1) && !r.allows(0, 2));
        assert_eq!(r.log(1)[0], 0.0);
        let sub = Reference::new(&h, "reference", &[5e-324, 2.0, 2.0]).unwrap();
        let expected = (5e-324f64).ln() - 4f64.ln();
        assert!((sub.log(0)[0] - expected).abs() <= 1e-15 * expected.abs());
        // D(p || Q) with Q_0 = 1e-400: p_0 log(p_0 / Q_0) = 0.5 (log 0.5 + 400 log 10).
        let d = r.relative_entropy(0, &[0.5, 0.5, 0.0]);
        let exact = 0.5 * (0.5f64.ln() + 400.0 * 10f64.ln()) + 0.5 * 0.5f64.ln();
        assert!((d - exact).abs() <= 1e-13 * exact, "{d} {exact}");
    }
}
