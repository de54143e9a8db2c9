//! Nearest-neighbour chains and their decimation flow (docs/families-chain.md).
//!
//! A chain of `2^L + 1` sites (open) or `2^L` sites (ring) with alphabet `{0, .., q-1}` and loss
//!
//! ```text
//! f(x) = sum_i phi_i(x_i, x_{i+1})          (ring: the last bond joins site 2^L - 1 to site 0)
//! ```
//!
//! is coarse-grained by decimation: level `k` keeps the sites whose index is a multiple of
//! `2^k`. One RG step at cumulative temperature `S` is exact and local, a soft min-plus
//! matrix product of neighbouring bonds ([`crate::numerics::soft_min_plus`]):
//!
//! ```text
//! phi'_j(a, c) = -S log sum_b exp(-(phi_{2j}(a, b) + phi_{2j+1}(b, c)) / S)
//! ```
//!
//! so level `k` is again a chain, with `2^(L-k)` bonds (proof: `proofs/chain.md`). Every bond
//! is stored normalised (`min = 0`) and the constants split off, times the number of bonds
//! they stand for, are carried in a separate running constant `C_k`:
//! `g_k(y) = C_k + sum_j phi_{k,j}(y_j, y_{j+1})`. The homogeneous flow acts on one `q x q`
//! matrix (cost `O(L q^3)` for the flow, `O(L^2 q^3 / 8)` for the solve with its derivatives, within [`MAX_FLOW_WORK`] kernel steps and `(L + 1) q^2` within [`MAX_FLOW_ENTRIES`]); the inhomogeneous flow on `2^L`
//! matrices (`O(2^L q^3)`).
//!
//! [`Chain::solve`] runs the flow through [`crate::rg::sweep`] and differentiates it in forward
//! mode ([`crate::dual::Dual`]) to get every level's entropy and the expected loss (docs/concepts.md, "5. Theorem A" envelope
//! identities); [`ChainSampler`] draws exact samples by inverse RG (docs/concepts.md, "10. Sampling"); [`Chain::tabulate`]
//! builds the equivalent tabulated [`crate::Problem`] for small instances. The `±1` Ising chain has
//! the closed-form flow [`ising_flow`].

//!
//! One idea per file: the chain and its limits (`definition`), one decimation step
//! ([`Decimation`], `decimation`), the scalar of the flow ([`BondScalar`], `scalar`), the
//! flow and the solve (`solve`), the top-down pass (`top_down`), the results ([`ChainFlow`],
//! [`ChainSolution`], `flow`), the sampler ([`ChainSampler`], `sampler`), the tabulated
//! equivalent (`tabulate`) and the `±1` Ising chain in closed form (`ising`). The soft
//! min-plus kernels of a step live with the other kernels (`crate::numerics`).

mod conditional;
mod decimation;
mod definition;
mod flow;
mod ising;
mod sampler;
mod scalar;
mod solve;
mod tabulate;
mod top_down;
mod top_down_dual;

pub use conditional::ChainConditional;
pub use decimation::{ChainLoss, Decimation};
pub use definition::{
    Boundary, Chain, CONSTRAINED_SOLVES, MAX_FLOW_ENTRIES, MAX_FLOW_WORK, MAX_Q,
    MAX_SAMPLER_ENTRIES, MAX_TABULATED_STATES,
};
pub use flow::{ChainFlow, ChainSolution};
pub use ising::{
    fixed_point, interaction, ising_bond, ising_fixed_points, ising_flow, ising_flow_diagram,
    ising_parameters, ising_step, IsingCouplings, IsingFixedPoint,
};
pub use sampler::ChainSampler;
pub use scalar::BondScalar;
pub use top_down::ChainMarginal;
