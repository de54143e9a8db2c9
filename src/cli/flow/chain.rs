//! `hmaxent flow` with `"family": "chain"` (docs/cli.md, docs/families-chain.md).
//!
//! Input: `levels`, `boundary` (`"open"` | `"ring"`), exactly one of `bond` (one `q x q`
//! matrix) and `bonds` (`2^L` matrices, left to right), `temperatures` (`L + 1` numbers);
//! `null` entries are `+inf`. Output: `free_energy`, `entropies`, `expected_loss`, `bonds`
//! (per level the normalised renormalised bond matrices, `null` for `+inf`), and the extras
//! `conditional_entropies`, `cumulative_temperatures` and `constants` (`C_k`, so that
//! `g_k(y) = C_k + sum_j bonds[k][j](y_j, y_{j+1})`). `--summary` omits `bonds` and
//! `constants`. With `weights` and `mean` / `mean_at_most` in place of `temperatures`: the
//! mean-constrained chain, with the fields of [`constrained::put_fit`] added.

use serde_json::{Map, Value};

use super::constrained::{self, Mode};
use crate::constraints::solve_mean;
use crate::error::{Error, Result};
use crate::families::chain::{Boundary, Chain, ChainSolution};
use crate::model::Orientation;

use crate::cli::json;

/// The input fields of a chain (besides the constrained form's).
pub const FIELDS: &[&str] = &[
    "family",
    "levels",
    "boundary",
    "bond",
    "bonds",
    "temperatures",
];

/// A `q x q` matrix of losses (`null` is `+inf`), row-major; `q` is the number of rows unless
/// `q` is given.
fn matrix(v: &Value, field: &str, q: Option<usize>) -> Result<Vec<f64>> {
    let rows = json::array(v, field, q)?;
    let q = rows.len();
    if q == 0 {
        return Err(Error::InvalidInput(format!(
            "{field} must be a non-empty q x q matrix"
        )));
    }
    let mut out = Vec::with_capacity(q * q);
    for (a, row) in rows.iter().enumerate() {
        out.extend(json::losses(row, &format!("{field}[{a}]"), Some(q))?);
    }
    if let Some(i) = out.iter().position(|x| x.is_nan()) {
        return Err(Error::InvalidInput(format!(
            "{field}[{}][{}] is NaN",
            i / q,
            i % q
        )));
    }
    Ok(out)
}

/// The chain described by an input object (fields as in docs/cli.md).
///
/// # Errors
/// [`Error::InvalidInput`] and friends for anything malformed.
pub fn chain(m: &Map<String, Value>) -> Result<Chain> {
    let levels = json::index(json::required(m, "levels")?, "levels")?;
    let boundary = match json::required(m, "boundary")?.as_str() {
        Some("open") => Boundary::Open,
        Some("ring") => Boundary::Ring,
        _ => {
            return Err(Error::InvalidInput(format!(
                "boundary = {}: expected \"open\" or \"ring\"",
                m["boundary"]
            )))
        }
    };
    match (m.get("bond"), m.get("bonds")) {
        (Some(_), Some(_)) => Err(Error::InvalidInput(
            "give exactly one of `bond` (homogeneous) and `bonds` (one per bond), not both"
                .to_string(),
        )),
        (None, None) => Err(Error::InvalidInput(
            "missing field `bond` (one q x q matrix) or `bonds` (2^levels matrices)".to_string(),
        )),
        (Some(b), None) => {
            let bond = matrix(b, "bond", None)?;
            let q = (bond.len() as f64).sqrt().round() as usize;
            Chain::homogeneous(q, levels, boundary, &bond)
        }
        (None, Some(bs)) => {
            let n = u32::try_from(levels)
                .ok()
                .and_then(|l| 1usize.checked_shl(l))
                .filter(|&n| n <= 1 << 40)
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "levels = {levels}: an inhomogeneous chain lists 2^levels bonds, too many"
                    ))
                })?;
            let list = json::array(bs, "bonds", Some(n))?;
            let first = list
                .first()
                .and_then(Value::as_array)
                .map(Vec::len)
                .ok_or_else(|| {
                    Error::InvalidInput("bonds[0] must be a q x q matrix".to_string())
                })?;
            let mut all = Vec::with_capacity(n * first * first);
            for (i, b) in list.iter().enumerate() {
                all.extend(matrix(b, &format!("bonds[{i}]"), Some(first))?);
            }
            Chain::inhomogeneous(first, levels, boundary, all)
        }
    }
}

fn matrix_out(b: &[f64], q: usize) -> Value {
    Value::Array(
        b.chunks_exact(q)
            .map(|row| {
                Value::Array(
                    row.iter()
                        .map(|&x| {
                            if x.is_finite() {
                                Value::from(x)
                            } else {
                                Value::Null
                            }
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// Runs the family on a parsed input object; `summary` omits the per-level bond tables.
/// With `weights` and `mean` / `mean_at_most` in place of `temperatures` it solves the
/// mean-constrained problem ([`crate::constraints::solve_mean`]) and reports the chain at the
/// optimum; with a negative multiplier the flow is that of `-f` at `|tau|`, and `bonds` and
/// `constants` are negated back (the renormalised losses of `f` at the signed temperatures).
///
/// # Errors
/// Any [`Error`]: `invalid_input` for bad input, `infeasible` if every configuration is
/// forbidden or the mean is outside the attainable interval, `numerical` for results beyond
/// `f64`.
pub fn run(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    if let Some(k) = input
        .keys()
        .find(|k| !FIELDS.contains(&k.as_str()) && !constrained::FIELDS.contains(&k.as_str()))
    {
        return Err(Error::InvalidInput(format!(
            "unknown field `{k}` in the chain flow input; allowed fields: {}, {}",
            FIELDS.join(", "),
            constrained::FIELDS.join(", ")
        )));
    }
    let c = chain(input)?;
    let mut o = Map::new();
    match constrained::mode(input, c.levels() + 1)? {
        Mode::Temperatures(t) => {
            let sol = c.solve(&t)?;
            let s = &sol.summary;
            json::put(&mut o, "free_energy", s.free_energy)?;
            json::put_vec(&mut o, "entropies", &s.entropies)?;
            json::put(&mut o, "expected_loss", s.expected_loss)?;
            json::put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
            put_solution(&mut o, &c, &sol, 1.0, summary)?;
        }
        Mode::Constrained {
            weights,
            constraint,
        } => {
            let fit = solve_mean(&c, &weights, constraint)?;
            let sign = match fit.orientation {
                Orientation::Loss => 1.0,
                Orientation::Negated => -1.0,
            };
            constrained::put_fit(&mut o, &fit)?;
            put_solution(&mut o, &c, &fit.solution, sign, summary)?;
        }
    }
    Ok(Value::Object(o))
}

/// `conditional_entropies`, and unless `summary` the bonds and constants of every level
/// (times `sign`: `-1` turns the flow of `-f` back into losses of `f`).
fn put_solution(
    o: &mut Map<String, Value>,
    c: &Chain,
    sol: &ChainSolution,
    sign: f64,
    summary: bool,
) -> Result<()> {
    json::put_vec(
        o,
        "conditional_entropies",
        &sol.summary.conditional_entropies,
    )?;
    if !summary {
        let q = c.q();
        let mut bonds = Vec::with_capacity(c.levels() + 1);
        let mut constants = Vec::with_capacity(c.levels() + 1);
        for k in 0..=c.levels() {
            let g = sol.flow.loss(k);
            let signed: Vec<f64> = g
                .bonds
                .iter()
                .map(|&x| if x.is_finite() { sign * x } else { x })
                .collect();
            bonds.push(Value::Array(
                signed
                    .chunks_exact(q * q)
                    .map(|b| matrix_out(b, q))
                    .collect(),
            ));
            constants.push(sign * g.constant);
        }
        o.insert("bonds".to_string(), Value::Array(bonds));
        json::put_vec(o, "constants", &constants)?;
    }
    Ok(())
}
