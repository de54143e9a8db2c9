//! The convex layer on top of the sweep (SPEC §2.2–§2.4, §5).

pub mod mean;

pub use mean::{MeanConstraint, MeanSolution};
