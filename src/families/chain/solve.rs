//! The flow and the solve of a chain: `g_0..g_L` through the driver, and the free energy,
//! entropies and expected loss from the flow's derivatives.

use std::sync::Arc;

use super::conditional::ChainConditional;
use super::decimation::{normalised, ChainLoss, Decimation};
use super::definition::Chain;
use super::flow::{ChainFlow, ChainSolution};
use super::scalar::BondScalar;
use crate::dual::Dual;
use crate::error::{Error, Result};
use crate::families::FlowSolution;
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct_finest, sweep, Flow};
use crate::temperatures::Temperatures;

impl Chain {
    /// The renormalised losses `g_0..g_L` and the free energy: the flow itself, in `f64`,
    /// through [`crate::rg::sweep`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `temperatures` does not have `L + 1` levels;
    /// [`Error::AllForbidden`] if every configuration has loss `+inf`.
    pub fn flow(&self, temperatures: &Temperatures) -> Result<ChainFlow> {
        self.flow_and_conditionals(temperatures)
            .map(|(flow, _)| flow)
    }

    /// [`Chain::flow`] with the conditionals of every level (for the top-down pass).
    fn flow_and_conditionals(
        &self,
        temperatures: &Temperatures,
    ) -> Result<(ChainFlow, Vec<ChainConditional>)> {
        self.check_temperatures(temperatures)?;
        let step = Decimation::<f64>::new(self);
        let g0 = normalised(self)?;
        let flow = sweep(&step, &g0, temperatures.cumulative_slice())?;
        let mut losses = Vec::with_capacity(self.levels + 1);
        losses.push(g0);
        losses.extend(flow.losses);
        let chain_flow = ChainFlow {
            q: self.q,
            levels: self.levels,
            boundary: self.boundary,
            homogeneous: self.homogeneous,
            losses,
            cumulative: temperatures.cumulative_slice().to_vec(),
            free_energy: flow.free_energy,
        };
        Ok((chain_flow, flow.conditionals))
    }

    /// The flow with its derivatives (docs/concepts.md, "5. Theorem A" envelope identities): free energy, every
    /// level's entropy `H(Y_k) = -dF/dtau_k = -sum_{j >= k} dF/dS_j` and the expected loss
    /// `E[f] = dF/dt` for `f -> (1 + t) f`.
    ///
    /// Inhomogeneous chains take the `f64` flow and one top-down pass through the driver
    /// ([`crate::rg::reconstruct_finest`] with the [`crate::rg::Reconstruct`] of
    /// [`Decimation`], `O(2^L q^3)`, no dual numbers): `dF/dS_k = -H(Y_k | Y_{k+1})`, and given
    /// the level-`(k+1)` sites the decimated sites are independent, each depending on its two
    /// neighbours only,
    ///
    /// ```text
    /// H(Y_k | Y_{k+1}) = sum_j sum_{a,c} M_{k+1,j}(a, c) H(P(. | a, c)),
    /// E[f] = C_0 + sum_j sum_{a,c} M_{1,j}(a, c) sum_b P(b | a, c) (phi_{0,2j}(a, b) + phi_{0,2j+1}(b, c)),
    /// ```
    ///
    /// with `M_{k,j}` the pair marginal of the two sites of bond `j` of level `k`, passed down
    /// as `M_{k,2j}(a, b) = sum_c M_{k+1,j}(a, c) P(b | a, c)`,
    /// `M_{k,2j+1}(b, c) = sum_a M_{k+1,j}(a, c) P(b | a, c)`.
    ///
    /// Homogeneous chains differentiate the flow in forward mode ([`Dual`]): the derivative in
    /// `S_j` only involves the levels `j..L` (the level-`j` bond does not depend on `S_j`), so
    /// directions are carried in groups of eight ([`Dual<8>`]), each group re-running only the
    /// sub-chain from the finest level it needs (a chain again, with the level's bond as its
    /// input): the first group (`t`, `S_0`, ...) from level 0, the next from the first `S_j`
    /// not yet covered, and so on. The values of the first pass are the `f64` flow (returned
    /// in [`ChainSolution::flow`]); the cost is `O(L^2 q^3 / 8)`.
    ///
    /// # Errors
    /// As [`Chain::flow`]; [`Error::Overflow`] if a result does not fit in `f64` (e.g. the
    /// entropy of a chain with `2^1100` sites).
    pub fn solve(&self, temperatures: &Temperatures) -> Result<ChainSolution> {
        self.check_temperatures(temperatures)?;
        if !self.homogeneous {
            let (flow, conditionals) = self.flow_and_conditionals(temperatures)?;
            free_energy_fits(flow.free_energy)?;
            let step = Decimation::<f64>::new(self);
            let (finest, conditional_entropies) = reconstruct_finest(&step, conditionals)
                .ok_or_else(|| Error::Numerical("a flow without a top".to_string()))?;
            let expected_loss = flow.losses[0].constant + finest.expected_loss;
            return finish(flow, conditional_entropies, expected_loss);
        }
        let l = self.levels;
        let g0 = normalised(self)?;
        // The first group carries t and S_0, S_1, ... from level 0, and its values are the
        // f64 flow; every later group starts at its first S_j.
        let (flow, eps) = self.first_group::<8>(g0, temperatures)?;
        free_energy_fits(flow.free_energy)?;
        let d_t = eps[0];
        let mut d_s = vec![0.0; l + 1];
        let mut next = (eps.len() - 1).min(l + 1);
        d_s[..next].copy_from_slice(&eps[1..=next]);
        while next <= l {
            let start = next;
            let count = 8.min(l + 1 - start);
            let eps = self.group::<8>(&flow, start)?;
            d_s[start..start + count].copy_from_slice(&eps[..count]);
            next = start + count;
        }
        // `0 - d`: an exact zero derivative is the entropy +0, not -0.
        let conditional_entropies: Vec<f64> = d_s.iter().map(|d| 0.0 - d).collect();
        finish(flow, conditional_entropies, d_t)
    }

    /// The first derivative pass: from level 0, directions `t` (index 0) and `S_0..S_{N-2}`;
    /// returns the `f64` flow (the values of the pass) and `dF/dt, dF/dS_0, ...`.
    fn first_group<const N: usize>(
        &self,
        g0: ChainLoss<f64>,
        temperatures: &Temperatures,
    ) -> Result<(ChainFlow, [f64; N])> {
        let cumulative = temperatures.cumulative_slice();
        let step = Decimation::<Dual<N>> {
            input: Some(&g0.bonds),
            seed_t: true,
            ..Decimation::new(self)
        };
        // The normalised bonds carry their own value as t-tangent, the minima (in C_0) theirs.
        let dual_g0 = ChainLoss {
            bonds: Arc::from([]),
            constant: Dual::<N>::seed_t(g0.constant),
        };
        let cum: Vec<Dual<N>> = cumulative
            .iter()
            .enumerate()
            .map(|(j, &s)| {
                let mut d = Dual::constant(s);
                if j + 1 < N {
                    d.eps[j + 1] = 1.0;
                }
                d
            })
            .collect();
        let f = sweep(&step, &dual_g0, &cum)?;
        let (free_energy, eps) = (f.free_energy.re, f.free_energy.eps);
        // The conditionals share the dual tables: dropped first, each table is freed as soon
        // as its f64 copy is made.
        drop(f.conditionals);
        let coarse: Vec<ChainLoss<f64>> = f
            .losses
            .into_iter()
            .map(|g| ChainLoss {
                bonds: g.bonds.iter().map(|x| x.re).collect(),
                constant: g.constant.re,
            })
            .collect();
        let mut losses = Vec::with_capacity(self.levels + 1);
        losses.push(g0);
        losses.extend(coarse);
        let flow = ChainFlow {
            q: self.q,
            levels: self.levels,
            boundary: self.boundary,
            homogeneous: self.homogeneous,
            losses,
            cumulative: cumulative.to_vec(),
            free_energy,
        };
        Ok((flow, eps))
    }

    /// A later derivative pass: directions `S_start..S_{start+N-1}`, re-running only the
    /// sub-chain from level `start` (its bonds and `C_start` do not depend on them).
    fn group<const N: usize>(&self, flow: &ChainFlow, start: usize) -> Result<[f64; N]> {
        let step = Decimation::<Dual<N>> {
            levels: self.levels - start,
            input: Some(&flow.losses[start].bonds),
            seed_t: false,
            ..Decimation::new(self)
        };
        let g0 = ChainLoss {
            bonds: Arc::from([]),
            constant: Dual::constant(0.0),
        };
        let cumulative: Vec<Dual<N>> = (start..=self.levels)
            .map(|j| {
                let mut s = Dual::constant(flow.cumulative[j]);
                if j - start < N {
                    s.eps[j - start] = 1.0;
                }
                s
            })
            .collect();
        let f: Flow<Decimation<Dual<N>>> = sweep(&step, &g0, &cumulative)?;
        Ok(f.free_energy.eps)
    }
}

/// The summary from the conditional entropies `H(Y_k | Y_{k+1})` (`k < L`, then `H(Y_L)`):
/// `H(Y_k) = sum_{j >= k} H(Y_j | Y_{j+1})`.
fn finish(
    flow: ChainFlow,
    conditional_entropies: Vec<f64>,
    expected_loss: f64,
) -> Result<ChainSolution> {
    let entropies = level_entropies(&conditional_entropies);
    let summary = FlowSolution {
        free_energy: flow.free_energy,
        entropies,
        conditional_entropies,
        expected_loss,
    };
    Ok(ChainSolution {
        summary: summary.checked()?,
        flow,
    })
}

/// `F` of a flow is extensive (it grows with the `2^L` sites): beyond `f64` it is an
/// overflow of finite input, not a forbidden state.
fn free_energy_fits(f: f64) -> Result<()> {
    if f.is_finite() {
        Ok(())
    } else {
        Err(Error::overflow(
            "the free energy F of the 2^L sites",
            None,
            None,
        ))
    }
}
