//! The convex layer on top of the sweep (SPEC §2.2–§2.4, §5).

pub mod floors;
pub mod mean;
pub mod pareto;

pub use floors::{FloorSettings, FloorSolution};
pub use mean::{MeanConstraint, MeanSolution};
pub use pareto::{Frontier, FrontierPoint};
