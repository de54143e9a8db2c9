//! The convex layer on top of the sweep (docs/constraints.md).

pub mod dominance;
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
pub use floors::{FloorSettings, FloorSolution};
pub use mean::{MeanConstraint, MeanSolution};
pub use moments::{ConvexSettings, MomentProblem, MomentSolution};
pub use pareto::{Frontier, FrontierPoint};
pub use sense::Sense;
pub use status::Status;
