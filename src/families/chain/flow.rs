//! The results of a chain: the flow and the solution.

use super::decimation::ChainLoss;
use super::definition::Boundary;
use crate::families::FlowSolution;

/// The flow of a chain in `f64`: renormalised losses of every level and the free energy.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainFlow {
    pub(super) q: usize,
    pub(super) levels: usize,
    pub(super) boundary: Boundary,
    pub(super) homogeneous: bool,
    /// `g_0..g_L`.
    pub(super) losses: Vec<ChainLoss<f64>>,
    /// `S_0..S_L`.
    pub(super) cumulative: Vec<f64>,
    /// `F`.
    pub(super) free_energy: f64,
}

impl ChainFlow {
    /// `F = C_L - S_L log sum exp(-phi_L / S_L)` (over the top configurations).
    pub fn free_energy(&self) -> f64 {
        self.free_energy
    }

    /// The renormalised loss `g_k` of level `k` (normalised bonds and `C_k`).
    ///
    /// # Panics
    /// If `level > L`.
    pub fn loss(&self, level: usize) -> &ChainLoss<f64> {
        &self.losses[level]
    }

    /// The normalised bond matrices of level `k`: one (homogeneous) or `2^(L-k)`, each
    /// row-major `q x q` with minimum 0.
    ///
    /// # Panics
    /// If `level > L`.
    pub fn bonds(&self, level: usize) -> &[f64] {
        &self.losses[level].bonds
    }

    /// `g_k(y) = C_k + sum_j phi_{k,j}(y_j, y_{j+1})` for a configuration `y` of the level-`k`
    /// sites (ring: the last bond wraps to the first site).
    ///
    /// # Panics
    /// If `y` has the wrong length or a state `>= q`.
    pub fn renormalised_loss(&self, level: usize, y: &[usize]) -> f64 {
        let q = self.q;
        let qq = q * q;
        let g = &self.losses[level];
        let n = y.len();
        let bonds = match self.boundary {
            Boundary::Open => n - 1,
            Boundary::Ring => n,
        };
        let sum: f64 = (0..bonds)
            .map(|j| {
                let b = if self.homogeneous { 0 } else { j };
                g.bonds[b * qq + y[j] * q + y[(j + 1) % n]]
            })
            .sum();
        g.constant + sum
    }
}

/// A solved chain: the flow, and the free energy, entropies and expected loss from its
/// derivatives.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSolution {
    /// Free energy, entropies `H(Y_0..Y_L)`, conditional entropies, expected loss.
    pub summary: FlowSolution,
    /// The renormalised bonds of every level.
    pub flow: ChainFlow,
}
