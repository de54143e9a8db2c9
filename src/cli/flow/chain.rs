//! `hmaxent flow` with `"family": "chain"` (docs/cli.md, docs/families-chain.md).
//!
//! Input: `levels`, `boundary` (`"open"` | `"ring"`), exactly one of `bond` (one `q x q`
//! matrix) and `bonds` (`2^L` matrices, left to right), `temperatures` (`L + 1` numbers);
//! `null` entries are `+inf`. Output: `free_energy`, `entropies`, `expected_loss`, `bonds`
//! (per level the normalised renormalised bond matrices, `null` for `+inf`), and the extras
//! `conditional_entropies`, `cumulative_temperatures` and `constants` (`C_k`, so that
//! `g_k(y) = C_k + sum_j bonds[k][j](y_j, y_{j+1})`); `--summary` changes nothing (the chain
//! has no table beyond its bonds). With `weights` and `mean` / `mean_at_most` in place of
//! `temperatures`: the mean-constrained chain, with the fields of [`constrained::put_fit`]
//! added; `bonds` and `constants` are those of the problem whose optimum is returned (with a
//! zero multiplier: the loss `0` on the allowed pairs at temperatures `w`).

use serde_json::{Map, Value};

use super::constrained::{self, Mode};
use crate::constraints::solve_mean;
use crate::error::{Error, Result};
use crate::families::chain::{Boundary, Chain, ChainSolution};
use crate::model::Orientation;
use crate::temperatures::Temperatures;

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
                                Value::from(x + 0.0) // -0.0 prints as 0.0
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

/// Runs the family on a parsed input object (`summary` is accepted and changes nothing).
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
    let _ = summary;
    json::known_fields(
        input,
        "the chain flow input",
        &[FIELDS, constrained::FIELDS],
    )?;
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
            put_solution(&mut o, &c, &sol, 1.0)?;
        }
        Mode::Constrained {
            weights,
            constraint,
        } => {
            crate::cli::budget::charge_model("the constrained chain", &c, 1, true)?;
            let fit = solve_mean(&c, &weights, constraint)?;
            let sign = match fit.orientation {
                Orientation::Loss => 1.0,
                Orientation::Negated => -1.0,
            };
            constrained::put_fit(&mut o, &fit)?;
            if fit.multiplier == Some(0.0) {
                // The optimum is Theorem A for the zero loss on the allowed pairs at `w`:
                // report that problem's bonds, not those of `f` at the huge temperatures
                // that evaluated it.
                let free = allowed_pairs(&c)?.solve(&Temperatures::new(&weights)?)?;
                put_solution(&mut o, &c, &free, 1.0)?;
            } else {
                put_solution(&mut o, &c, &fit.solution, sign)?;
            }
        }
    }
    Ok(Value::Object(o))
}

/// The chain with loss `0` on every allowed pair and `+inf` on every forbidden one: the
/// problem whose Theorem A optimum at `w` is the zero-multiplier optimum.
fn allowed_pairs(c: &Chain) -> Result<Chain> {
    let zero = |b: &[f64]| -> Vec<f64> {
        b.iter()
            .map(|&x| if x == f64::INFINITY { x } else { 0.0 })
            .collect()
    };
    if c.is_homogeneous() {
        Chain::homogeneous(c.q(), c.levels(), c.boundary(), &zero(c.bond(0)))
    } else {
        let n = 1usize << c.levels();
        let bonds = (0..n).flat_map(|i| zero(c.bond(i))).collect();
        Chain::inhomogeneous(c.q(), c.levels(), c.boundary(), bonds)
    }
}

/// `conditional_entropies`, and the bonds and constants of every level (times `sign`: `-1`
/// turns the flow of `-f` back into losses of `f`). A chain given by one `bond` gets one
/// matrix per level whenever the bonds of that level are all equal (always, except at a
/// boundary limit whose minimisers differ along the chain).
fn put_solution(
    o: &mut Map<String, Value>,
    c: &Chain,
    sol: &ChainSolution,
    sign: f64,
) -> Result<()> {
    json::put_vec(
        o,
        "conditional_entropies",
        &sol.summary.conditional_entropies,
    )?;
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
        let mut matrices: Vec<&[f64]> = signed.chunks_exact(q * q).collect();
        if c.is_homogeneous() && matrices.windows(2).all(|w| w[0] == w[1]) {
            matrices.truncate(1);
        }
        bonds.push(Value::Array(
            matrices.into_iter().map(|b| matrix_out(b, q)).collect(),
        ));
        constants.push(sign * g.constant);
    }
    o.insert("bonds".to_string(), Value::Array(bonds));
    json::put_vec(o, "constants", &constants)?;
    Ok(())
}
