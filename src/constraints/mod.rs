//! The convex layer on top of the sweep (SPEC §2.2–§2.4, §5).

pub mod feasibility;
pub mod features;
pub mod floors;
pub mod mean;
pub mod moments;
pub mod pareto;
pub mod root;
pub mod status;

pub use features::SparseFeature;
pub use floors::{FloorSettings, FloorSolution};
pub use mean::{MeanConstraint, MeanSolution};
pub use moments::{ConvexSettings, MomentProblem, MomentSolution, Sense};
pub use pareto::{Frontier, FrontierPoint};
pub use status::Status;
