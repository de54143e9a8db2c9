//! The work one command may plan (docs/cli.md, "Size limits"): every run finishes within a
//! few seconds, so a problem whose solves would take longer is refused before the first one.
//!
//! Each model states the `share` of one solve's limit that one of its solves takes (a chain:
//! [`Chain::solve_work`] over [`MAX_FLOW_WORK`]; Dyson's model: `4^n / 4^16`; a tabulated
//! problem: its states over [`TABULATED_STATES_PER_SOLVE`]; ...), and a command is charged
//! `share x solves`, which must stay within `1`:
//!
//! ```text
//! solves = points x (CONSTRAINED_SOLVES with a mean, else 1)
//! ```
//!
//! (`points = 1` for `flow`); a mean-constrained solve is a root search of about a dozen
//! solves, charged [`CONSTRAINED_SOLVES`].

use crate::error::{Error, Result};
use crate::families::cascade::Cascade;
use crate::families::chain::{Chain, CONSTRAINED_SOLVES, MAX_FLOW_WORK};
use crate::families::exchangeable::{self, Exchangeable};
use crate::families::quadratic::{self, Modular, Quadratic};
use crate::problem::Problem;

/// The states (all levels together) one solve of a tabulated problem is charged against in a
/// frontier (`hmaxent pareto`): `2^28`, about 1.5 s (measured 5 ns per state and solve on small
/// problems, 10-50 on large ones, whose solves are fewer).
pub const TABULATED_STATES_PER_SOLVE: f64 = (1u64 << 28) as f64;

/// Refuses `solves` solves of a model whose one solve takes `share` of the per-solve limit
/// when `share x solves > 1`, naming `what`, the numbers and the limit.
///
/// # Errors
/// [`Error::InvalidInput`] as above.
pub fn charge(what: &str, share: f64, solves: u64) -> Result<()> {
    let total = share * solves.max(1) as f64;
    if total <= 1.0 {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "{what}: {solves} solve(s) of {share:.3e} times the work one solve may take \
         ({total:.3e} in all) exceed the limit of one solve's work (each point of a frontier \
         is a solve, a mean-constrained one {CONSTRAINED_SOLVES}); use fewer weight vectors or \
         a smaller problem"
    )))
}

/// A model the command line charges for its solves.
pub trait Charged {
    /// The share of the per-solve limit one solve takes (`<= 1` for a model that was built).
    fn share(&self) -> f64;
    /// The solves a mean-constrained solve is charged ([`CONSTRAINED_SOLVES`]; fewer for a
    /// model with a closed-form multiplier).
    fn constrained_solves(&self) -> u64 {
        CONSTRAINED_SOLVES
    }
}

/// `share x solves` of `points` points, refused beyond `1` ([`charge`]).
///
/// # Errors
/// [`Error::InvalidInput`] naming the numbers and the limit.
pub fn charge_model<M: Charged>(
    what: &str,
    model: &M,
    points: usize,
    constrained: bool,
) -> Result<()> {
    let per = if constrained {
        model.constrained_solves()
    } else {
        1
    };
    charge(what, model.share(), (points as u64).saturating_mul(per))
}

impl Charged for Chain {
    /// [`Chain::solve_work`] over [`MAX_FLOW_WORK`].
    fn share(&self) -> f64 {
        self.solve_work() as f64 / MAX_FLOW_WORK as f64
    }
}

impl Charged for Quadratic {
    /// [`Quadratic::work`] over its [`quadratic::MAX_WORK`]; a mean is solved in closed form
    /// (the inverse scale law), about 2 solves, charged 4.
    fn share(&self) -> f64 {
        self.work() as f64 / quadratic::MAX_WORK as f64
    }
    fn constrained_solves(&self) -> u64 {
        4
    }
}

impl Charged for Modular {
    /// `O(L)` per solve: `(L + 1) / 2^24`; a mean is solved in closed form, charged 4.
    fn share(&self) -> f64 {
        (self.depth() as f64 + 1.0) / (1u64 << 24) as f64
    }
    fn constrained_solves(&self) -> u64 {
        4
    }
}

impl Charged for Cascade {
    /// `O(L b)` per solve: `(L + 1) b / 2^24`.
    fn share(&self) -> f64 {
        (self.depth() as f64 + 1.0) * self.branching() as f64 / (1u64 << 24) as f64
    }
}

impl Charged for Exchangeable {
    /// Dyson's model costs `O(4^n)`: `4^n / 4^16` ([`exchangeable::MAX_LEVELS`] is 16).
    fn share(&self) -> f64 {
        4f64.powi(self.levels() as i32 - exchangeable::MAX_LEVELS as i32)
    }
}

impl Charged for Problem {
    /// Its states over all levels over [`TABULATED_STATES_PER_SOLVE`].
    fn share(&self) -> f64 {
        self.hierarchy().total_states() as f64 / TABULATED_STATES_PER_SOLVE
    }
}
