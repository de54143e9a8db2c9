//! `hmaxent flow` with `"family": "quadratic"` or `"quadratic-modular"` (docs/cli.md, docs/families-quadratic.md).
//!
//! `quadratic` input: `A` (`n x n`), `b` (`n`), `maps` (`M_1, M_2, ...`, each a matrix given as
//! a list of rows), `temperatures` (`d + 1`). Output: `mean`, `covariance`, `levels`
//! (`[{"A", "b"}]`, `k = 0..d`), and the extras `free_energy`, `entropies` (differential),
//! `expected_loss`, `constants` (`c_k`).
//!
//! `quadratic-modular` input: `branching`, `depth`, `eigenvalues` (`lambda_0..lambda_L`),
//! `temperatures`. Output: `scale_variances` (`S_j / lambda_j`) and, unless `--summary`,
//! `eigenvalue_flow` (level `k`: `b^k lambda_{j+k}`, `j = 0..L-k`).
//!
//! Either takes `weights` with `mean` / `mean_at_most` in place of `temperatures`: the
//! mean-constrained Gaussian, multiplier `K(w) / (c - min f)` in closed form on the open
//! interval `(min f, +inf)`, with the fields of [`constrained::put_fit`] added.

use nalgebra::{DMatrix, DVector};
use serde_json::{Map, Value};

use super::constrained::{self, Mode};
use crate::cli::json;
use crate::constraints::solve_mean;
use crate::error::{Error, Result};
use crate::families::quadratic::{eigenvalue_flow, modular, Modular, Quadratic};

/// The input fields of a general quadratic.
pub const FIELDS: &[&str] = &[
    "family",
    "A",
    "b",
    "maps",
    "temperatures",
    "weights",
    "mean",
    "mean_at_most",
];
/// Largest number of entries of `eigenvalue_flow` the CLI prints (`2^26`).
const MAX_FLOW_ENTRIES: u128 = 1 << 26;
/// The input fields of a modular quadratic.
pub const MODULAR_FIELDS: &[&str] = &[
    "family",
    "branching",
    "depth",
    "eigenvalues",
    "temperatures",
    "weights",
    "mean",
    "mean_at_most",
];

fn check_fields(input: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<()> {
    json::known_fields(input, &format!("the {what} flow input"), &[allowed])
}

/// A matrix given as a non-empty list of equally long rows of finite numbers.
fn matrix(v: &Value, field: &str, cols: Option<usize>) -> Result<DMatrix<f64>> {
    let rows = json::array(v, field, None)?;
    if rows.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{field} must be a non-empty matrix (a list of rows)"
        )));
    }
    let first = json::array(&rows[0], &format!("{field}[0]"), cols)?.len();
    if first == 0 {
        return Err(Error::InvalidInput(format!("{field}[0] is an empty row")));
    }
    let mut data = Vec::with_capacity(rows.len() * first);
    for (i, r) in rows.iter().enumerate() {
        data.extend(json::numbers(r, &format!("{field}[{i}]"), Some(first))?);
    }
    Ok(DMatrix::from_row_slice(rows.len(), first, &data))
}

fn matrix_out(m: &DMatrix<f64>, field: &str) -> Result<Value> {
    (0..m.nrows())
        .map(|i| {
            let row: Vec<f64> = m.row(i).iter().copied().collect();
            json::out_vec(&row, field)
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

fn vector_out(v: &DVector<f64>, field: &str) -> Result<Value> {
    json::out_vec(v.as_slice(), field)
}

/// The general quadratic described by an input object (`A`, `b`, `maps`).
///
/// # Errors
/// `invalid_input` for malformed input, a non-symmetric, indefinite or singular `A`, a
/// rank-deficient map, wrong shapes.
pub fn quadratic(input: &Map<String, Value>) -> Result<Quadratic> {
    let a = matrix(json::required(input, "A")?, "A", None)?;
    let n = a.nrows();
    if a.ncols() != n {
        return Err(Error::InvalidInput(format!(
            "A must be square, got {} x {}",
            n,
            a.ncols()
        )));
    }
    let b = DVector::from_vec(json::numbers(json::required(input, "b")?, "b", Some(n))?);
    let list = json::array(json::required(input, "maps")?, "maps", None)?;
    let mut maps = Vec::with_capacity(list.len());
    let mut dim = n;
    for (k, m) in list.iter().enumerate() {
        let m = matrix(m, &format!("maps[{k}]"), Some(dim))?;
        dim = m.nrows();
        maps.push(m);
    }
    Quadratic::new(a, b, maps)
}

/// The modular quadratic described by an input object (`branching`, `depth`, `eigenvalues`).
///
/// # Errors
/// `invalid_input` for malformed input.
pub fn modular_model(input: &Map<String, Value>) -> Result<Modular> {
    let b = json::index(json::required(input, "branching")?, "branching")?;
    let depth = json::index(json::required(input, "depth")?, "depth")?;
    let lambda = json::numbers(
        json::required(input, "eigenvalues")?,
        "eigenvalues",
        Some(depth.saturating_add(1)),
    )?;
    Modular::new(b, depth, &lambda)
}

/// Runs the family on a parsed input object; `summary` omits `eigenvalue_flow` (modular; the
/// general quadratic output is the same either way).
///
/// # Errors
/// `invalid_input` for malformed input, a non-symmetric, indefinite or singular `A`, a
/// rank-deficient map, wrong shapes; `numerical` for results beyond `f64` (an eigenvalue of
/// the modular flow beyond `f64` without `--summary`).
pub fn run(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    if input.get("family").and_then(Value::as_str) == Some("quadratic-modular") {
        return run_modular(input, summary);
    }
    check_fields(input, FIELDS, "quadratic")?;
    let q = quadratic(input)?;
    let mut o = Map::new();
    let sol = match constrained::mode(input, q.depth() + 1)? {
        Mode::Temperatures(t) => {
            let sol = q.solve(&t)?;
            json::put(&mut o, "free_energy", sol.free_energy)?;
            json::put_vec(&mut o, "entropies", &sol.entropies)?;
            json::put(&mut o, "expected_loss", sol.expected_loss)?;
            sol
        }
        Mode::Constrained {
            weights,
            constraint,
        } => {
            crate::cli::budget::charge_model("the constrained quadratic", &q, 1, true)?;
            let fit = solve_mean(&q, &weights, constraint)?;
            constrained::put_fit(&mut o, &fit)?;
            fit.solution
        }
    };
    o.insert("mean".to_string(), vector_out(&sol.mean, "mean")?);
    o.insert(
        "covariance".to_string(),
        matrix_out(&sol.covariance, "covariance")?,
    );
    let levels = sol
        .levels
        .iter()
        .map(|g| {
            let mut l = Map::new();
            l.insert("A".to_string(), matrix_out(&g.a, "levels.A")?);
            l.insert("b".to_string(), vector_out(&g.b, "levels.b")?);
            Ok(Value::Object(l))
        })
        .collect::<Result<Vec<_>>>()?;
    o.insert("levels".to_string(), Value::Array(levels));
    let constants: Vec<f64> = sol.levels.iter().map(|g| g.constant).collect();
    json::put_vec(&mut o, "constants", &constants)?;
    Ok(Value::Object(o))
}

fn run_modular(input: &Map<String, Value>, summary: bool) -> Result<Value> {
    check_fields(input, MODULAR_FIELDS, "quadratic-modular")?;
    let b = json::index(json::required(input, "branching")?, "branching")?;
    let depth = json::index(json::required(input, "depth")?, "depth")?;
    let lambda = json::numbers(
        json::required(input, "eigenvalues")?,
        "eigenvalues",
        Some(depth.saturating_add(1)),
    )?;
    let model = Modular::new(b, depth, &lambda)?;
    let mut o = Map::new();
    let sol = match constrained::mode(input, depth + 1)? {
        Mode::Temperatures(t) => {
            json::put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
            modular(b, depth, &lambda, &t)?
        }
        Mode::Constrained {
            weights,
            constraint,
        } => {
            crate::cli::budget::charge_model("the constrained quadratic-modular", &model, 1, true)?;
            let fit = solve_mean(&model, &weights, constraint)?;
            constrained::put_fit(&mut o, &fit)?;
            fit.solution
        }
    };
    json::put_vec(&mut o, "scale_variances", &sol.scale_variances)?;
    if !summary {
        if (depth as u128 + 1) * (depth as u128 + 2) / 2 > MAX_FLOW_ENTRIES {
            return Err(Error::InvalidInput(format!(
                "depth = {depth}: eigenvalue_flow would hold (L+1)(L+2)/2 numbers, more than \
                 {MAX_FLOW_ENTRIES}; use --summary to omit it"
            )));
        }
        let mut flow = Vec::with_capacity(depth + 1);
        for k in 0..=depth {
            let level = eigenvalue_flow(b, &lambda, k);
            if let Some(j) = level.iter().position(|x| !x.is_finite()) {
                return Err(Error::overflow(
                    format!(
                        "eigenvalue_flow = {b}^{k} * lambda_{} (--summary omits eigenvalue_flow)",
                        j + k
                    ),
                    Some(k),
                    Some(j),
                ));
            }
            flow.push(json::out_vec(&level, "eigenvalue_flow")?);
        }
        o.insert("eigenvalue_flow".to_string(), Value::Array(flow));
    }
    Ok(Value::Object(o))
}
