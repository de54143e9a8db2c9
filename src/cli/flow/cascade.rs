//! `hmaxent flow` with `"family": "log-cascade"` (CLI.md, SPEC §6.2).
//!
//! Input: `kappa`, `branching`, `depth`, `conditionals` (one list of `b` numbers per level,
//! finest first, homogeneous cascade), `temperatures` (`L + 1` numbers). Output:
//! `free_energy`, `entropies`, `escorts` (finest first), and the extras
//! `conditional_entropies`, `expected_loss` and `cumulative_temperatures`.

use serde_json::{Map, Value};

use crate::cli::json;
use crate::error::{Error, Result};
use crate::families::cascade::Cascade;
use crate::temperatures::Temperatures;

const FIELDS: &[&str] = &[
    "family",
    "kappa",
    "branching",
    "depth",
    "conditionals",
    "temperatures",
];

/// Runs the family on a parsed input object (`summary` changes nothing: the output is
/// `O(L b)` already).
///
/// # Errors
/// `invalid_input` for anything malformed (`kappa <= 0`, a conditional with a negative entry
/// or not summing to 1 within `1e-9`, wrong lengths); `numerical` for results beyond `f64`.
pub fn run(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    let _ = summary;
    if let Some(k) = input.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Error::InvalidInput(format!(
            "unknown field `{k}` in the log-cascade flow input; allowed fields: {}",
            FIELDS.join(", ")
        )));
    }
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
    let cascade = Cascade::homogeneous(kappa, b, depth, &conditionals)?;
    let tau = json::numbers(
        json::required(input, "temperatures")?,
        "temperatures",
        Some(depth + 1),
    )?;
    let t = Temperatures::new(&tau)?;
    let sol = cascade.solve(&t)?;
    let s = &sol.summary;
    let mut o = Map::new();
    json::put(&mut o, "free_energy", s.free_energy)?;
    json::put_vec(&mut o, "entropies", &s.entropies)?;
    o.insert(
        "escorts".to_string(),
        Value::Array(
            sol.escorts
                .iter()
                .map(|e| json::out_vec(e, "escorts"))
                .collect::<Result<_>>()?,
        ),
    );
    json::put_vec(&mut o, "conditional_entropies", &s.conditional_entropies)?;
    json::put(&mut o, "expected_loss", s.expected_loss)?;
    json::put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
    Ok(Value::Object(o))
}
