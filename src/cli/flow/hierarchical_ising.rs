//! `hmaxent flow` with `"family": "hierarchical-ising"`: Dyson's hierarchical model through
//! the exchangeable-blocks flow (docs/cli.md, "Exchangeable blocks";
//! docs/families-exchangeable.md).
//!
//! Input: `levels` (`n`, at most [`MAX_LEVELS`], refused before any work), `coupling` (`J`),
//! `c` (`> 0`), optional `field` (`h`, default 0), `temperatures` (`n + 1` numbers). Output:
//! `free_energy`, `entropies`, `expected_loss`, `expected_level_losses`, `magnetisation`
//! (`mean`, `second`, `fourth`, `susceptibility`, `binder`) and, unless `--summary`,
//! `block_sum_distributions` (per level `k` the `2^k + 1` probabilities of one block's sum
//! `-2^k, -2^k + 2, ..., 2^k`); the extras `conditional_entropies` and
//! `cumulative_temperatures`.

use serde_json::{Map, Value};

use crate::cli::json;
use crate::error::{Error, Result};
use crate::families::exchangeable::{Exchangeable, MAX_LEVELS};
use crate::temperatures::Temperatures;

const FIELDS: &[&str] = &["family", "levels", "coupling", "c", "field", "temperatures"];

/// The model described by an input object (fields as above).
///
/// # Errors
/// [`Error::InvalidInput`] for anything malformed or `levels` above [`MAX_LEVELS`];
/// [`Error::InvalidSetting`] for `c <= 0`.
pub fn model(m: &Map<String, Value>) -> Result<Exchangeable> {
    if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Error::InvalidInput(format!(
            "unknown field `{k}` in the hierarchical-ising flow input; allowed fields: {}",
            FIELDS.join(", ")
        )));
    }
    let levels = json::index(json::required(m, "levels")?, "levels")?;
    if levels > MAX_LEVELS {
        return Err(Error::InvalidInput(format!(
            "levels = {levels}: the hierarchical-ising flow accepts at most {MAX_LEVELS} levels (2^{MAX_LEVELS} spins; it costs O(4^levels))"
        )));
    }
    let coupling = json::number(json::required(m, "coupling")?, "coupling")?;
    let c = json::number(json::required(m, "c")?, "c")?;
    let field = match m.get("field") {
        Some(v) => json::number(v, "field")?,
        None => 0.0,
    };
    Exchangeable::hierarchical_ising(levels, coupling, c, field)
}

/// Runs the family on a parsed input object.
///
/// # Errors
/// `invalid_input` for anything malformed; `numerical` for results beyond `f64`.
pub fn run(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    let model = model(input)?;
    let n = model.levels();
    let tau = json::numbers(
        json::required(input, "temperatures")?,
        "temperatures",
        Some(n + 1),
    )?;
    let t = Temperatures::new(&tau)?;
    let sol = model.solve(&t)?;
    let s = &sol.summary;
    let mg = &sol.magnetisation;
    let mut o = Map::new();
    json::put(&mut o, "free_energy", s.free_energy)?;
    json::put_vec(&mut o, "entropies", &s.entropies)?;
    json::put(&mut o, "expected_loss", s.expected_loss)?;
    json::put_vec(&mut o, "expected_level_losses", &sol.expected_level_losses)?;
    let mut mag = Map::new();
    json::put(&mut mag, "mean", mg.mean)?;
    json::put(&mut mag, "second", mg.second)?;
    json::put(&mut mag, "fourth", mg.fourth)?;
    json::put(&mut mag, "susceptibility", mg.susceptibility)?;
    json::put(&mut mag, "binder", mg.binder)?;
    o.insert("magnetisation".to_string(), Value::Object(mag));
    if !summary {
        o.insert(
            "block_sum_distributions".to_string(),
            Value::Array(
                sol.block_sum_distributions
                    .iter()
                    .map(|p| json::out_vec(p, "block_sum_distributions"))
                    .collect::<Result<_>>()?,
            ),
        );
    }
    json::put_vec(&mut o, "conditional_entropies", &s.conditional_entropies)?;
    json::put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
    Ok(Value::Object(o))
}
