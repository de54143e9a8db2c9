//! The numerics of the crate (docs/concepts.md, 'Numerical policy').
//!
//! Log domain everywhere: every exponential of a loss is taken of a *shifted* loss
//! `-(g - m) / s <= 0` with `m` the block minimum, so it never overflows; `+inf` losses give
//! exact zeros; an all-`+inf` (or empty) block has soft minimum `+inf`. Nothing outside this
//! module calls `exp` on a loss.
//!
//! One idea per file: [`real`] (the scalar of a sweep), [`cpu`] (which vector kernels run),
//! `vector` (`exp`/`ln`/`ln_1p` over slices), `logsumexp` (soft minima of one slice),
//! `min_plus` (soft min-plus matrix products), `blocks` (a renormalisation step over every
//! block of a level), `layout` (where the blocks are), `reduce` (small reductions),
//! `pair_lanes` and `lanes` (AVX-512 bodies of the pair steps), `stream` (copies with
//! non-temporal stores), `transfer` (the kernels of nearest-neighbour chains).
//! The block and matrix kernels are internals of the sweep (`pub(crate)`); what is public
//! here is the scalar trait, the slice functions and the one-slice formulas.

pub(crate) mod blocks;
pub mod cpu;
#[cfg(target_arch = "x86_64")]
mod lanes;
pub(crate) mod layout;
mod logsumexp;
mod min_plus;
#[cfg(target_arch = "x86_64")]
mod pair_lanes;
pub mod real;
mod reduce;
mod stream;
pub(crate) mod transfer;
mod vector;

pub(crate) use blocks::{
    gibbs_blocks, gibbs_blocks_grow, scale_blocks_weighted, soft_pairs_grow, soft_pairs_into,
};
pub(crate) use logsumexp::{
    divergence_share, entropy_term, gibbs_entropy_real, min, weighted_soft_max,
};
pub use logsumexp::{gibbs_into, log_sum_exp, soft_min};
pub use min_plus::soft_min_plus;
pub use real::Real;
pub(crate) use reduce::{compensated_sum, deficit_from_one, finish_sum, nearly_equal, sum_pairs};
pub use stream::copy_streaming;
pub use vector::{exp_into, exp_slice, ln_1p_slice, ln_slice};
