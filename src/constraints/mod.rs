//! The convex layer on top of the sweep (docs/constraints.md), over any [`crate::model::Model`]
//! (the tabulated [`crate::Problem`] and every family): [`solve_mean`], [`solve_floors`],
//! [`frontier`] and [`floors_frontier`], and the moment constraints of a tabulated problem
//! ([`MomentProblem`]).

pub mod dominance;
pub(crate) mod exact_line;
pub mod feasibility;
pub mod features;
pub mod floors;
pub mod mean;
pub mod moments;
pub(crate) mod nearest;
pub(crate) mod newton;
pub mod pareto;
pub mod root;
pub(crate) mod scaling;
pub mod sense;
pub mod status;

pub use features::SparseFeature;
pub use floors::{solve_floors, solve_floors_with, FloorSettings, FloorSolution};
pub use mean::{solve_mean, MeanConstraint, MeanSolution};
pub use moments::{ConvexSettings, MomentProblem, MomentSolution};
pub use pareto::{floors_frontier, frontier, Frontier, FrontierPoint};
pub use sense::Sense;
pub use status::Status;
