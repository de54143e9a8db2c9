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
use crate::numerics::{divergence_share, log_sum_exp, weighted_soft_max};

/// `Q_k` and `log Q_k` for every level, block order.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    /// `Q_0..Q_d`, normalised (an entry may underflow to `0` where its logarithm is finite).
    q: Vec<Vec<f64>>,
    /// `log Q_0..log Q_d` (`-inf` exactly where the user's masses below are all `0`).
    log_q: Vec<Vec<f64>>,
    /// The largest `|log Q_k|` over every level's allowed states (for [`Reference::at_risk`]).
    largest_log: f64,
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
        let largest_log = (log_q.iter().flatten())
            .filter(|l| l.is_finite())
            .fold(0.0, |acc: f64, l| acc.max(l.abs()));
        Ok(Self {
            q: levels,
            log_q,
            largest_log,
        })
    }

    /// `log Q_k` in block order.
    pub(crate) fn log(&self, k: usize) -> &[f64] {
        &self.log_q[k]
    }

    /// Whether level-`k` state `i` (block order) has positive reference mass.
    pub(crate) fn allows(&self, k: usize, i: usize) -> bool {
        self.log_q[k][i] > f64::NEG_INFINITY
    }

    /// Whether the sweep's free energy `f` or the divergences `d` (`sum P log(P/Q)`, from the
    /// `marginals`) may be off by `1e-12` relative, so that [`Reference::theorem_b`] should
    /// evaluate them again. The sweep's renormalised losses carry `S_k log Q_k`, so its `F` is
    /// off by up to about `eps S_d max |log Q_k|` (the largest over allowed states; measured
    /// 10-100 times less); `sum P log(P/Q)` adds terms of size about `sqrt(D)` of both signs,
    /// so it is off by about `eps / sqrt(D)` relative, and a level whose marginal charges two
    /// or more states with `D < 1e-7` is at risk. One pass over the marginals, no
    /// transcendental function.
    pub(crate) fn at_risk(
        &self,
        f: f64,
        d: &[f64],
        cumulative: &[f64],
        marginals: &[Vec<f64>],
    ) -> bool {
        let top = cumulative.last().copied().unwrap_or(0.0);
        if f64::EPSILON * top * self.largest_log > 1e-12 * f.abs() {
            return true;
        }
        (d.iter().zip(marginals))
            .any(|(&d, p)| d < 1e-7 && p.iter().filter(|&&p| p > 0.0).nth(1).is_some())
    }

    /// Theorem B's value `F = -Lambda` and the divergences `[D(P_0 || Q_0), ..,
    /// D(P_d || Q_d)]` by Theorem B's own recursion (docs/concepts.md, "6. Theorem B"), in
    /// which every quantity has the size of the losses:
    ///
    /// ```text
    /// h_0 = -u_0,   h_{k+1}(y) = -u_{k+1}(y) + S_k log E_Q[exp(h_k / S_k) | Y_{k+1} = y],
    /// Lambda = S_d log E_{Q_d}[exp(h_d / S_d)],
    /// D(P_d || Q_d) = sum_y Q_d(y) phi(e_d(y)),   e_d(y) = (h_d(y) - Lambda) / S_d,
    /// D(P_k || Q_k) = D(P_{k+1} || Q_{k+1}) + sum_y P_{k+1}(y) sum_{x in B(y)} Q(x | y) phi(e_k(x)),
    /// ```
    ///
    /// `e_k(x) = (h_k(x) - h_{k+1}(y) - u_{k+1}(y)) / S_k` (the soft maximum without its
    /// potential), so that `P(x | y) = Q(x | y) exp(e_k(x))`, and
    /// `phi(e) = e exp(e) - (exp(e) - 1) >= 0` ([`divergence_share`]). The sweep runs on
    /// `u_k - tau_k log Q_k` (Theorem A), whose renormalised losses are `-h_k - S_k log Q_k`:
    /// its free energy is a difference of terms of size `S_k |log Q_k|`, off by about `eps S_d
    /// |log Q|` (`2e-8` relative at `tau = 1e9`), and `sum P log(P/Q)` cancels as `P -> Q`;
    /// these do not. `loss(k, i)` is `u_k` of level-`k` state `i` (block order; `+inf`
    /// forbidden), `marginals` the solution's `P_k` (block order).
    pub(crate) fn theorem_b(
        &self,
        h: &Hierarchy,
        loss: &dyn Fn(usize, usize) -> f64,
        cumulative: &[f64],
        marginals: &[Vec<f64>],
    ) -> (f64, Vec<f64>) {
        let d = h.depth();
        let reward = |k: usize, i: usize| match loss(k, i) {
            u if u == f64::INFINITY => f64::NEG_INFINITY,
            u => -u,
        };
        // hk[k] = h_k; soft[k][y] = S_k log E_Q[exp(h_k / S_k) | y] (h_{k+1} before its
        // potential: the conditionals' normaliser); cond[k] = (Q(x|y), log Q(x|y)).
        let mut hk: Vec<Vec<f64>> = Vec::with_capacity(d + 1);
        let mut soft: Vec<Vec<f64>> = Vec::with_capacity(d);
        let mut cond: Vec<(Vec<f64>, Vec<f64>)> = Vec::with_capacity(d);
        hk.push((0..h.size(0)).map(|i| reward(0, i)).collect());
        for k in 0..d {
            let layout = h.layout(k);
            let (fine, log_q, log_up) = (&hk[k], &self.log_q[k], &self.log_q[k + 1]);
            let (q, q_up) = (&self.q[k], &self.q[k + 1]);
            let mut ln_w = vec![f64::NEG_INFINITY; h.size(k)];
            let mut w = vec![0.0; h.size(k)];
            for y in 0..h.size(k + 1) {
                for x in layout.block(y) {
                    ln_w[x] = log_q[x] - log_up[y];
                    w[x] = if q[x] >= f64::MIN_POSITIVE && q_up[y] >= f64::MIN_POSITIVE {
                        q[x] / q_up[y]
                    } else {
                        ln_w[x].exp()
                    };
                }
            }
            let normaliser: Vec<f64> = (0..h.size(k + 1))
                .map(|y| match log_up[y] {
                    l if l == f64::NEG_INFINITY => l,
                    _ => {
                        let b = layout.block(y);
                        weighted_soft_max(&fine[b.clone()], &w[b.clone()], &ln_w[b], cumulative[k])
                    }
                })
                .collect();
            let coarse = (normaliser.iter().enumerate())
                .map(|(y, &m)| match reward(k + 1, y) {
                    u if u == f64::NEG_INFINITY => u,
                    u => u + m,
                })
                .collect();
            hk.push(coarse);
            soft.push(normaliser);
            cond.push((w, ln_w));
        }
        let (q_top, log_top) = (&self.q[d], &self.log_q[d]);
        let lambda = weighted_soft_max(&hk[d], q_top, log_top, cumulative[d]);
        let mut divergence = vec![0.0; d + 1];
        divergence[d] = (0..h.size(d))
            .filter(|&y| log_top[y] > f64::NEG_INFINITY)
            .map(|y| divergence_share((hk[d][y] - lambda) / cumulative[d], q_top[y], log_top[y]))
            .sum();
        for k in (0..d).rev() {
            let layout = h.layout(k);
            let (fine, coarse, (w, ln_w)) = (&hk[k], &soft[k], &cond[k]);
            let blocks: f64 = (0..h.size(k + 1))
                .filter(|&y| marginals[k + 1][y] > 0.0)
                .map(|y| {
                    let share: f64 = layout
                        .block(y)
                        .filter(|&x| ln_w[x] > f64::NEG_INFINITY)
                        .map(|x| {
                            let e = (fine[x] - coarse[y]) / cumulative[k];
                            divergence_share(e, w[x], ln_w[x])
                        })
                        .sum();
                    marginals[k + 1][y] * share
                })
                .sum();
            divergence[k] = divergence[k + 1] + blocks;
        }
        (-lambda, divergence)
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
    use crate::{Problem, Temperatures};

    /// Where the sweep's own values are accurate (moderate temperatures), Theorem B's
    /// recursion gives the same `F` and divergences: with potentials and forbidden states on
    /// upper levels, empty blocks, a zero temperature, and a reference mass far below `f64`'s
    /// range.
    #[test]
    fn theorem_b_recursion_agrees_with_the_sweep_at_moderate_temperatures() {
        /// Hierarchy, losses, potentials, reference, temperatures.
        type Case = (
            Hierarchy,
            Vec<f64>,
            Option<Vec<Vec<f64>>>,
            Vec<f64>,
            Vec<f64>,
        );
        let inf = f64::INFINITY;
        let cases: Vec<Case> = vec![
            (
                Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap(),
                vec![-1.0, 0.0, 0.0, -2.0],
                None,
                vec![0.1, 0.2, 0.3, 0.4],
                vec![1.0, 1.0],
            ),
            (
                Hierarchy::new(
                    vec![5, 5, 4],
                    vec![vec![0, 1, 0, 0, 3], vec![1, 3, 1, 3, 1]],
                )
                .unwrap(),
                vec![-0.413, inf, -1.83, -1.30, 1.68],
                Some(vec![
                    vec![-0.31, -0.45, inf, 1.49, inf],
                    vec![inf, -0.43, -0.49, -1.55],
                ]),
                vec![1.11, 1.88, 0.116, 0.104, 0.684],
                vec![0.416, 0.0, 1.82],
            ),
            (
                Hierarchy::new(vec![2], vec![]).unwrap(),
                vec![0.0, 921.0340371976183],
                None,
                vec![1e-200, 1e200],
                vec![1.0],
            ),
        ];
        for (h, loss, potentials, q, tau) in cases {
            let mut p = Problem::new(&h, &loss).unwrap();
            if let Some(u) = &potentials {
                p = p.with_potentials(u).unwrap();
            }
            let p = p.with_reference(&q).unwrap();
            let t = Temperatures::new(&tau).unwrap();
            let sol = p.solve(&t).unwrap();
            let r = p.reference_levels().unwrap();
            let marginals: Vec<Vec<f64>> = (0..h.levels())
                .map(|k| {
                    let mut m = vec![0.0; h.size(k)];
                    h.to_block_order(k, &sol.marginal(k), &mut m);
                    m
                })
                .collect();
            let loss_of = |k: usize, i: usize| p.level_loss(k).map_or(0.0, |u| u[i]);
            let (f, d) = r.theorem_b(&h, &loss_of, t.cumulative_slice(), &marginals);
            let sweep = sol.free_energy();
            assert!(
                (f - sweep).abs() <= 1e-13 * sweep.abs().max(1.0),
                "{f} {sweep}"
            );
            for (a, b) in d.iter().zip(sol.relative_entropies().unwrap()) {
                assert!((a - b).abs() <= 1e-13 * b.max(1e-3), "{d:?}");
            }
        }
    }

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
