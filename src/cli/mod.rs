//! The JSON contract of the `hmaxent` binary (`docs/cli.md`).
//!
//! The binary's plumbing, compiled only with the `cli` feature and not part of the
//! library's API.
//!
//! Each subcommand is a function from the parsed input to the output value, so the contract
//! is testable without spawning processes. `src/bin/hmaxent.rs` reads, dispatches and prints;
//! every error becomes exit status 2 and one line `error: <kind>: <message>`.

pub mod budget;
pub mod flow;
pub mod json;
pub mod pareto;
pub mod solve;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// Parses JSON text, mapping syntax errors to [`Error::InvalidInput`].
///
/// # Errors
/// [`Error::InvalidInput`] for malformed JSON or an object with a repeated key
/// ([`json::parse_strict`]).
pub fn parse(text: &str) -> Result<Value> {
    json::parse_strict(text)
}

/// The stable word the binary prints for an error kind (`docs/cli.md`, "Errors").
pub fn kind_word(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::Infeasible => "infeasible",
        ErrorKind::Numerical => "numerical",
        ErrorKind::Io => "io",
    }
}

/// The error line the binary prints: `error: <kind>: <message>` (one line).
pub fn error_line(e: &Error) -> String {
    let msg = e.to_string().replace(['\n', '\r'], " ");
    format!("error: {}: {}", kind_word(e.kind()), msg)
}
