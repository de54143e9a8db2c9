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
//! conditionals (Theorem A of the specification). See `docs/` for the guide.
//!
//! ```
//! use hmaxent::{Hierarchy, Problem, Temperatures};
//! // Leaves {0,1} -> A, {2,3} -> B; loss f = (0, 0, 0, 1); tau = (1, 1).
//! let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
//! let sol = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0])?.solve(&Temperatures::new(&[1.0, 1.0])?)?;
//! let p = sol.marginal(0);
//! assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
//! println!("F = {}, H = {:?}", sol.free_energy(), sol.entropies());
//! # Ok::<(), hmaxent::Error>(())
//! ```
#![warn(missing_docs)]

pub mod cli;
pub mod constraints;
pub mod dual;
pub mod error;
pub mod families;
pub mod hierarchy;
pub mod inverse;
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
