//! `hmaxent pareto`: the frontier over level weights (CLI.md).

use serde_json::Value;

use crate::error::{Error, Result};

/// Runs `hmaxent pareto` on a parsed input; `svg` is the `--svg PATH` option.
///
/// # Errors
/// Any [`Error`].
pub fn run(input: &Value, svg: Option<&str>) -> Result<Value> {
    let _ = (input, svg);
    Err(Error::InvalidInput(
        "pareto is not supported by this build".to_string(),
    ))
}
