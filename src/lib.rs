//! # hmaxent — hierarchical maximum entropy
//!
//! Choose the probability distribution that keeps as much uncertainty as possible at every
//! scale of a hierarchy at once, subject to a budget on an expected loss. Levels
//! `X_0 -> X_1 -> ... -> X_d` are linked by coarse-graining maps, and the problem
//!
//! ```text
//! minimise over P:   E_P[ u_0(Y_0) + ... + u_d(Y_d) ]  -  sum_k tau_k H(Y_k)
//! ```
//!
//! is solved exactly by one bottom-up renormalisation-group sweep of log-sum-exps at the
//! cumulative temperatures `S_k = tau_0 + ... + tau_k`, followed by exact top-down
//! conditionals (`docs/concepts.md`, "Theorem A").
//!
//! ```
//! use hmaxent::constraints::solve_mean;
//! use hmaxent::{Hierarchy, MeanConstraint, Problem, Temperatures};
//!
//! fn main() -> Result<(), hmaxent::Error> {
//!     // Four leaves in two blocks, {0,1} -> A and {2,3} -> B, with loss f = (0, 0, 0, 1).
//!     let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
//!     let problem = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0])?;
//!     // Minimise E[f] - H(Y_0) - H(Y_1), i.e. tau = (1, 1): one sweep.
//!     let sol = problem.solve(&Temperatures::new(&[1.0, 1.0])?)?;
//!     println!("F = {:.6}, P* = {:?}", sol.free_energy(), sol.marginal(0));
//!     // Maximise H(Y_0) + H(Y_1) subject to E[f] = 0.1.
//!     let fit = solve_mean(&problem, &[1.0, 1.0], MeanConstraint::Equal(0.1))?;
//!     println!("lambda = {:?}, P* = {:?}", fit.multiplier, fit.solution.marginal(0));
//!     Ok(())
//! }
//! ```
//!
//! The guide is the [`guide`] module (the pages of `docs/` in the repository): start with
//! [`guide::concepts`] (the mathematics with worked numbers), then [`guide::api`] (a tour of
//! this API). Proofs of the identities the tests check are in `proofs/` in the repository.
//!
//! # Features
//!
//! * `cli` (default): the `hmaxent` command-line tool (JSON in, JSON out; its contract is
//!   [`guide::cli`]). It pulls in `clap` and `serde_json`. A library user turns it off:
//!   `hmaxent = { version = "0.1", default-features = false }`.
//! * `serde`: `Serialize` on the results ([`Solution`], the family and constraint solutions,
//!   [`Error`]).
//! * `plot`: `hmaxent pareto --svg` (implies `cli`).
//!
//! # Re-exports
//!
//! [`rand`] (0.9) is re-exported because [`Sample::sample`] and [`Solution::sample`] take
//! a `rand::Rng`; [`nalgebra`] (0.34) because the quadratic family takes and returns its
//! matrices. Use these paths to be sure of matching versions.
#![warn(missing_docs)]

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod constraints;
pub mod dual;
pub mod error;
pub mod families;
pub mod hierarchy;
pub mod inverse;
pub mod lattice;
pub mod memory;
pub mod model;
pub mod numerics;
pub mod problem;
pub(crate) mod reference;
pub mod rg;
pub mod sampling;
pub mod solution;
pub mod temperatures;

pub use constraints::{MeanConstraint, MeanSolution};
pub use error::{Error, ErrorKind, Result};
pub use hierarchy::Hierarchy;
pub use problem::Problem;
pub use sampling::{Sample, Sampler};
pub use solution::Solution;
pub use temperatures::Temperatures;

/// The random-number crate of [`Sample::sample`] (rand 0.9).
pub use rand;

/// The linear-algebra crate of the quadratic family's matrices (nalgebra 0.34).
pub use nalgebra;

/// The guide: the pages of `docs/`, rendered here and run as doc tests so they cannot drift.
pub mod guide {
    #[doc = include_str!("../docs/concepts.md")]
    pub mod concepts {}
    #[doc = include_str!("../docs/api.md")]
    pub mod api {}
    #[cfg_attr(feature = "cli", doc = include_str!("../docs/cli.md"))]
    #[cfg_attr(
        not(feature = "cli"),
        doc = "The `hmaxent` command line: build with the `cli` feature (on by default)."
    )]
    pub mod cli {}
    #[doc = include_str!("../docs/constraints.md")]
    pub mod constraints {}
    #[doc = include_str!("../docs/pareto.md")]
    pub mod pareto {}
    #[doc = include_str!("../docs/families-chain.md")]
    pub mod families_chain {}
    #[doc = include_str!("../docs/families-quadratic.md")]
    pub mod families_quadratic {}
    #[doc = include_str!("../docs/families-cascade.md")]
    pub mod families_cascade {}
    #[doc = include_str!("../docs/performance.md")]
    pub mod performance {}
    #[doc = include_str!("../docs/constraints-families.md")]
    pub mod constraints_families {}
    #[doc = include_str!("../docs/families-exchangeable.md")]
    pub mod families_exchangeable {}
    #[doc = include_str!("../docs/ising2d.md")]
    pub mod ising2d {}
    #[doc = include_str!("../docs/dyson.md")]
    pub mod dyson {}
}

/// The project README, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
