//! `hmaxent flow` with `"family": "log-cascade"` (docs/cli.md, docs/families-cascade.md).
//!
//! Input: `kappa`, `branching`, `depth`, `conditionals` (one list of `b` numbers per level,
//! finest first, homogeneous cascade), `temperatures` (`L + 1` numbers). Output:
//! `free_energy`, `entropies`, `escorts` (finest first), and the extras
//! `conditional_entropies`, `expected_loss` and `cumulative_temperatures`.

use serde_json::{Map, Value};

use super::constrained::{self, Mode};
use crate::cli::json;
use crate::constraints::solve_mean;
use crate::error::Result;
use crate::families::cascade::Cascade;

/// The input fields of a cascade (besides the constrained form's).
pub const FIELDS: &[&str] = &[
    "family",
    "kappa",
    "branching",
    "depth",
    "conditionals",
    "temperatures",
];

/// The (homogeneous) cascade described by an input object.
///
/// # Errors
/// `invalid_input` for anything malformed.
pub fn cascade(input: &Map<String, Value>) -> Result<Cascade> {
    let kappa = json::number(json::required(input, "kappa")?, "kappa")?;
    let b = json::index(json::required(input, "branching")?, "branching")?;
    let depth = json::index(json::required(input, "depth")?, "depth")?;
    let list = json::array(
        json::required(input, "conditionals")?,
        "conditionals",
        Some(depth),
    )?;
    let conditionals = list
        .iter()
        .enumerate()
        .map(|(k, q)| json::numbers(q, &format!("conditionals[{k}]"), Some(b)))
        .collect::<Result<Vec<_>>>()?;
    Cascade::homogeneous(kappa, b, depth, &conditionals)
}

/// Runs the family on a parsed input object (`summary` changes nothing: the output is
/// `O(L b)` already). With `weights` and `mean` / `mean_at_most` it solves the
/// mean-constrained problem ([`crate::constraints::solve_mean`]; a negative multiplier negates
/// `kappa`) and adds the fields of [`constrained::put_fit`].
///
/// # Errors
/// `invalid_input` for anything malformed (`kappa <= 0`, a conditional with a negative entry
/// or not summing to 1 within `1e-9`, wrong lengths); `infeasible` for a mean outside the
/// attainable interval; `numerical` for results beyond `f64`.
pub fn run(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    let _ = summary;
    json::known_fields(
        input,
        "the log-cascade flow input",
        &[FIELDS, constrained::FIELDS],
    )?;
    let cascade = cascade(input)?;
    let depth = cascade.depth();
    let mut o = Map::new();
    let sol = match constrained::mode(input, depth + 1)? {
        Mode::Temperatures(t) => {
            let sol = cascade.solve(&t)?;
            let s = &sol.summary;
            json::put(&mut o, "free_energy", s.free_energy)?;
            json::put_vec(&mut o, "entropies", &s.entropies)?;
            json::put(&mut o, "expected_loss", s.expected_loss)?;
            json::put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
            sol
        }
        Mode::Constrained {
            weights,
            constraint,
        } => {
            crate::cli::budget::charge_model("the constrained log-cascade", &cascade, 1, true)?;
            let fit = solve_mean(&cascade, &weights, constraint)?;
            constrained::put_fit(&mut o, &fit)?;
            fit.solution
        }
    };
    o.insert(
        "escorts".to_string(),
        Value::Array(
            sol.escorts
                .iter()
                .map(|e| json::out_vec(e, "escorts"))
                .collect::<Result<_>>()?,
        ),
    );
    json::put_vec(
        &mut o,
        "conditional_entropies",
        &sol.summary.conditional_entropies,
    )?;
    Ok(Value::Object(o))
}
