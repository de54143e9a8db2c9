//! `flow` with `weights` and `mean` / `mean_at_most` in place of `temperatures`: the
//! mean-constrained problem over a family ([`crate::constraints::solve_mean`]), and the output
//! fields it adds (`multiplier`, `boundary`, `objective`, `temperatures`; `free_energy`,
//! `entropies`, `expected_loss` at the optimum).

use serde_json::{Map, Value};

use crate::cli::json;
use crate::constraints::mean::MeanConstraint;
use crate::constraints::MeanSolution;
use crate::error::{Error, Result};
use crate::temperatures::Temperatures;

/// The input fields of the constrained form (added to every family's list).
pub const FIELDS: &[&str] = &["weights", "mean", "mean_at_most"];

/// What the input asks for.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Theorem A at the given temperatures.
    Temperatures(Temperatures),
    /// The mean-constrained problem with these level weights.
    Constrained {
        /// `w_0..w_d`.
        weights: Vec<f64>,
        /// `E f = c` or `E f <= c`.
        constraint: MeanConstraint,
    },
}

/// Reads `temperatures`, or `weights` with exactly one of `mean` / `mean_at_most`
/// (`levels` numbers either way).
///
/// # Errors
/// [`Error::InvalidInput`] for both or neither of `temperatures` and `weights`, `weights`
/// without `mean` / `mean_at_most` (or with both), `mean` with `temperatures`, wrong lengths,
/// non-finite numbers; [`Temperatures::new`]'s errors.
pub fn mode(input: &Map<String, Value>, levels: usize) -> Result<Mode> {
    let has = |k: &str| input.contains_key(k);
    match (has("temperatures"), has("weights")) {
        (true, true) => Err(Error::InvalidInput(
            "give exactly one of `temperatures` and `weights` (with `mean` or `mean_at_most`), \
             not both"
                .to_string(),
        )),
        (false, false) => Err(Error::InvalidInput(
            "missing field: give `temperatures`, or `weights` with `mean` or `mean_at_most`"
                .to_string(),
        )),
        (true, false) => {
            if let Some(k) = ["mean", "mean_at_most"].into_iter().find(|k| has(k)) {
                return Err(Error::InvalidInput(format!(
                    "`{k}` needs `weights` in place of `temperatures`"
                )));
            }
            let tau = json::numbers(&input["temperatures"], "temperatures", Some(levels))?;
            Ok(Mode::Temperatures(Temperatures::new(&tau)?))
        }
        (false, true) => {
            let weights = json::numbers(&input["weights"], "weights", Some(levels))?;
            let constraint = match (input.get("mean"), input.get("mean_at_most")) {
                (Some(_), Some(_)) => {
                    return Err(Error::InvalidInput(
                        "give exactly one of `mean` and `mean_at_most`".to_string(),
                    ))
                }
                (None, None) => {
                    return Err(Error::InvalidInput(
                        "`weights` needs `mean` or `mean_at_most`".to_string(),
                    ))
                }
                (Some(c), None) => MeanConstraint::Equal(json::number(c, "mean")?),
                (None, Some(c)) => MeanConstraint::AtMost(json::number(c, "mean_at_most")?),
            };
            // The weights' own checks (w_0 > 0, w_k >= 0), named `weights`.
            crate::temperatures::validate_levels("weights", &weights)?;
            Ok(Mode::Constrained {
                weights,
                constraint,
            })
        }
    }
}

/// Writes the constrained fields of `fit`: `multiplier` (`null` at a boundary), `boundary`,
/// `objective`, `temperatures` (`w / lambda`, `w` when `lambda = 0`, `null` at a boundary),
/// `cumulative_temperatures`, and the summary at the optimum: `free_energy` (`F` at the
/// signed temperatures; absent at a boundary), `entropies`, `expected_loss`,
/// `expected_level_losses`.
///
/// # Errors
/// [`Error::Numerical`] for a non-finite output number.
pub fn put_fit<S>(o: &mut Map<String, Value>, fit: &MeanSolution<S>) -> Result<()> {
    o.insert(
        "multiplier".into(),
        match fit.multiplier {
            Some(l) => json::out(l, "multiplier")?,
            None => Value::Null,
        },
    );
    o.insert("boundary".into(), Value::Bool(fit.boundary));
    json::put(o, "objective", fit.objective)?;
    match &fit.temperatures {
        Some(t) => {
            json::put_vec(o, "temperatures", t)?;
            let cumulative: Vec<f64> = t
                .iter()
                .scan(0.0, |s, &x| {
                    *s += x;
                    Some(*s)
                })
                .collect();
            json::put_vec(o, "cumulative_temperatures", &cumulative)?;
        }
        None => {
            o.insert("temperatures".into(), Value::Null);
            o.insert("cumulative_temperatures".into(), Value::Null);
        }
    }
    match fit.free_energy {
        Some(f) => json::put(o, "free_energy", f)?,
        None => {
            o.remove("free_energy");
        }
    }
    json::put_vec(o, "entropies", &fit.point.entropies)?;
    json::put(o, "expected_loss", fit.point.expected_loss)?;
    json::put_vec(o, "expected_level_losses", &fit.point.expected_level_losses)?;
    Ok(())
}
