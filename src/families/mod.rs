//! Hierarchically invariant loss families and their parameter flows (SPEC §6).
//!
//! Each family implements [`crate::rg::Renormalise`]; the generic driver runs it through the
//! same temperatures as the tabulated engine, and every family can tabulate itself on small
//! instances so the property tests compare the two.

pub mod cascade;
pub mod chain;
pub mod quadratic;
