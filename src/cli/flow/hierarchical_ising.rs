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
//! `cumulative_temperatures`. With `weights` and `mean` / `mean_at_most` in place of
//! `temperatures`: the mean-constrained model ([`crate::constraints::solve_mean`]; a negative
//! multiplier negates `J` and `h`), with the fields of [`constrained::put_fit`] added.

use serde_json::{Map, Value};

use super::constrained::{self, Mode};
use crate::cli::json;
use crate::constraints::solve_mean;
use crate::error::{Error, Result};
use crate::families::exchangeable::{Exchangeable, MAX_LEVELS};

/// The input fields of the family (besides the constrained form's).
pub const FIELDS: &[&str] = &["family", "levels", "coupling", "c", "field", "temperatures"];

/// The model described by an input object (fields as above).
///
/// # Errors
/// [`Error::InvalidInput`] for anything malformed or `levels` above [`MAX_LEVELS`];
/// [`Error::InvalidSetting`] for `c <= 0`.
pub fn model(m: &Map<String, Value>) -> Result<Exchangeable> {
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
    json::known_fields(
        input,
        "the hierarchical-ising flow input",
        &[FIELDS, constrained::FIELDS],
    )?;
    let model = model(input)?;
    let n = model.levels();
    let mut o = Map::new();
    // E f and E u_k are stated for f (the solution of a negative multiplier is that of -f).
    let (sol, expected_loss, level_losses) = match constrained::mode(input, n + 1)? {
        Mode::Temperatures(t) => {
            let sol = model.solve(&t)?;
            json::put(&mut o, "free_energy", sol.summary.free_energy)?;
            json::put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
            let (e, levels) = (sol.summary.expected_loss, sol.expected_level_losses.clone());
            (sol, e, levels)
        }
        Mode::Constrained {
            weights,
            constraint,
        } => {
            crate::cli::budget::charge_model(
                "the constrained hierarchical-ising model",
                &model,
                1,
                true,
            )?;
            let fit = solve_mean(&model, &weights, constraint)?;
            constrained::put_fit(&mut o, &fit)?;
            let p = fit.point;
            (fit.solution, p.expected_loss, p.expected_level_losses)
        }
    };
    let s = &sol.summary;
    let mg = &sol.magnetisation;
    json::put_vec(&mut o, "entropies", &s.entropies)?;
    json::put(&mut o, "expected_loss", expected_loss)?;
    json::put_vec(&mut o, "expected_level_losses", &level_losses)?;
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
    Ok(Value::Object(o))
}
