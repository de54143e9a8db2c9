//! The convex layer on top of the sweep (SPEC §2.2–§2.4, §5).

pub mod feasibility;
pub mod mean;
pub mod moments;

pub use mean::{MeanConstraint, MeanSolution};
pub use moments::{ConvexSettings, MomentProblem, MomentSolution, Sense, Status};
