//! `hmaxent flow` with `"family": "quadratic"` (CLI.md).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Runs the family on a parsed input object; `summary` as in CLI.md.
///
/// # Errors
/// Any [`Error`].
pub fn run(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    let _ = (input, summary);
    Err(Error::InvalidInput(
        "family not supported by this build".to_string(),
    ))
}
