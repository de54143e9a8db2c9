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
//! conditionals (Theorem A of the specification).
//!
//! ```
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
//!     let fit = problem.solve_mean(&[1.0, 1.0], MeanConstraint::Equal(0.1))?;
//!     println!("lambda = {:?}, P* = {:?}", fit.multiplier, fit.solution.marginal(0));
//!     Ok(())
//! }
//! ```
//!
//! The guide is in `docs/`: `concepts.md` (the mathematics with worked numbers), `api.md` (a
//! tour of this API) and `cli.md` (the `hmaxent` command line). The code blocks of
//! `README.md` and of those three pages run as doc tests.
#![warn(missing_docs)]

pub mod cli;
pub mod constraints;
pub mod dual;
pub mod error;
pub mod families;
pub mod hierarchy;
pub mod inverse;
pub mod model;
pub mod numerics;
pub mod problem;
pub mod rg;
pub mod sampling;
pub mod solution;
pub mod temperatures;

pub use constraints::{MeanConstraint, MeanSolution};
pub use error::{Error, Result};
pub use hierarchy::Hierarchy;
pub use problem::Problem;
pub use sampling::Sampler;
pub use solution::Solution;
pub use temperatures::Temperatures;

/// The Markdown guides, compiled and run by `cargo test --doc` so they cannot drift.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/concepts.md")]
    struct Concepts;
    #[doc = include_str!("../docs/api.md")]
    struct Api;
    #[doc = include_str!("../docs/cli.md")]
    struct Cli;
    #[doc = include_str!("../docs/constraints.md")]
    struct Constraints;
    #[doc = include_str!("../docs/pareto.md")]
    struct Pareto;
    #[doc = include_str!("../docs/families-chain.md")]
    struct FamiliesChain;
    #[doc = include_str!("../docs/families-quadratic.md")]
    struct FamiliesQuadratic;
    #[doc = include_str!("../docs/families-cascade.md")]
    struct FamiliesCascade;
    #[doc = include_str!("../docs/constraints-families.md")]
    struct ConstraintsFamilies;
}
