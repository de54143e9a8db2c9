//! `hmaxent flow`: parameter flows of the built-in families (docs/cli.md).

pub mod cascade;
pub mod chain;
pub mod constrained;
pub mod hierarchical_ising;
pub mod quadratic;

use serde_json::Value;

use crate::error::{Error, Result};

/// Runs `hmaxent flow` on a parsed input; dispatches on `"family"`.
///
/// # Errors
/// Any [`Error`]; the binary prints it as one line and exits 2.
pub fn run(input: &Value, summary: bool) -> Result<Value> {
    let m = input
        .as_object()
        .ok_or_else(|| Error::InvalidInput("the flow input must be a JSON object".to_string()))?;
    let family = m
        .get("family")
        .ok_or_else(|| Error::InvalidInput("missing field `family`".to_string()))?;
    match family.as_str() {
        Some("chain") => chain::run(m, summary),
        Some("quadratic") | Some("quadratic-modular") => quadratic::run(m, summary),
        Some("log-cascade") => cascade::run(m, summary),
        Some("hierarchical-ising") => hierarchical_ising::run(m, summary),
        _ => Err(Error::InvalidInput(format!(
            "family = {family}: expected \"chain\", \"quadratic\", \"quadratic-modular\", \"log-cascade\" or \"hierarchical-ising\""
        ))),
    }
}
