//! `hmaxent solve`: tabulated hierarchies (CLI.md).

use serde_json::{Map, Value};

use super::json::{array, index, indices, losses, numbers, object, out, out_vec, required};
use crate::constraints::MeanConstraint;
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::problem::Problem;
use crate::solution::Solution;
use crate::temperatures::Temperatures;

const FIELDS: &[&str] = &[
    "parents",
    "tree",
    "loss",
    "potentials",
    "reference",
    "temperatures",
    "weights",
    "mean",
    "mean_at_most",
    "features",
    "targets",
    "sense",
];

/// Runs `hmaxent solve` on a parsed problem; `summary` omits the marginals.
///
/// # Errors
/// Any [`Error`]; the binary prints it as one line and exits 2.
pub fn run(input: &Value, summary: bool) -> Result<Value> {
    let m = object(input, "the problem", FIELDS)?;
    let problem = problem(m)?;
    let has = |k: &str| m.contains_key(k);
    match (has("temperatures"), has("weights")) {
        (true, true) => Err(Error::InvalidInput(
            "give exactly one of `temperatures` and `weights`, not both".to_string(),
        )),
        (false, false) => Err(Error::InvalidInput(
            "missing field: give `temperatures`, or `weights` with `mean` or `mean_at_most`"
                .to_string(),
        )),
        (true, false) => {
            if let Some(k) = ["mean", "mean_at_most", "features", "targets", "sense"]
                .iter()
                .find(|k| has(k))
            {
                return Err(Error::InvalidInput(format!(
                    "`{k}` needs `weights` in place of `temperatures`"
                )));
            }
            let t = Temperatures::new(&numbers(&m["temperatures"], "temperatures", None)?)?;
            let sol = problem.solve(&t)?;
            let mut o = Map::new();
            o.insert("free_energy".into(), out(sol.free_energy(), "free_energy")?);
            o.insert(
                "temperatures".into(),
                out_vec(t.as_slice(), "temperatures")?,
            );
            o.insert(
                "cumulative_temperatures".into(),
                out_vec(t.cumulative_slice(), "cumulative_temperatures")?,
            );
            statistics(&mut o, &sol, summary)?;
            Ok(Value::Object(o))
        }
        (false, true) => {
            let w = numbers(&m["weights"], "weights", None)?;
            if has("features") || has("targets") || has("sense") {
                return Err(Error::InvalidInput(
                    "moment constraints (`features`, `targets`, `sense`) are not supported by this build"
                        .to_string(),
                ));
            }
            let constraint = match (m.get("mean"), m.get("mean_at_most")) {
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
                (Some(c), None) => MeanConstraint::Equal(super::json::number(c, "mean")?),
                (None, Some(c)) => MeanConstraint::AtMost(super::json::number(c, "mean_at_most")?),
            };
            let fit = problem.solve_mean(&w, constraint)?;
            let mut o = Map::new();
            o.insert("objective".into(), out(fit.objective, "objective")?);
            o.insert(
                "multiplier".into(),
                match fit.multiplier {
                    Some(l) => out(l, "multiplier")?,
                    None => Value::Null,
                },
            );
            o.insert("boundary".into(), Value::Bool(fit.boundary));
            if let (Some(tau), Some(f)) = (&fit.temperatures, fit.free_energy) {
                o.insert("free_energy".into(), out(f, "free_energy")?);
                o.insert("temperatures".into(), out_vec(tau, "temperatures")?);
                let cum: Vec<f64> = tau
                    .iter()
                    .scan(0.0, |s, t| {
                        *s += t;
                        Some(*s)
                    })
                    .collect();
                o.insert(
                    "cumulative_temperatures".into(),
                    out_vec(&cum, "cumulative_temperatures")?,
                );
            }
            o.insert("weights".into(), out_vec(&w, "weights")?);
            o.insert("sweeps".into(), Value::from(fit.sweeps));
            statistics(&mut o, &fit.solution, summary)?;
            Ok(Value::Object(o))
        }
    }
}

/// The hierarchy and losses of a `solve` / `pareto` input.
///
/// # Errors
/// [`Error::InvalidInput`] and the validation errors of [`Hierarchy`] and [`Problem`].
pub fn problem(m: &Map<String, Value>) -> Result<Problem> {
    let hierarchy = hierarchy(m)?;
    let loss = losses(required(m, "loss")?, "loss", Some(hierarchy.size(0)))?;
    let mut p = Problem::new(&hierarchy, &loss)?;
    if let Some(v) = m.get("potentials") {
        let d = hierarchy.depth();
        let arr = array(v, "potentials", Some(d))?;
        let pots = arr
            .iter()
            .enumerate()
            .map(|(k, u)| losses(u, &format!("potentials[{k}]"), Some(hierarchy.size(k + 1))))
            .collect::<Result<Vec<_>>>()?;
        p = p.with_potentials(&pots)?;
    }
    if let Some(v) = m.get("reference") {
        let q = numbers(v, "reference", Some(hierarchy.size(0)))?;
        p = p.with_reference(&q)?;
    }
    Ok(p)
}

/// The hierarchy of a `solve` input: `parents` or `tree`, exactly one.
///
/// # Errors
/// [`Error::InvalidInput`] and the errors of [`Hierarchy::from_parents`] / [`Hierarchy::complete`].
pub fn hierarchy(m: &Map<String, Value>) -> Result<Hierarchy> {
    match (m.get("parents"), m.get("tree")) {
        (Some(_), Some(_)) => Err(Error::InvalidInput(
            "give exactly one of `parents` and `tree`".to_string(),
        )),
        (None, None) => Err(Error::InvalidInput(
            "missing field: give `parents` or `tree`".to_string(),
        )),
        (None, Some(t)) => {
            let t = object(t, "tree", &["branching", "depth"])?;
            let b = index(required(t, "branching")?, "tree.branching")?;
            let d = index(required(t, "depth")?, "tree.depth")?;
            Hierarchy::complete(b, d)
        }
        (Some(p), None) => {
            let levels = array(p, "parents", None)?;
            let parents = levels
                .iter()
                .enumerate()
                .map(|(k, a)| indices(a, &format!("parents[{k}]")))
                .collect::<Result<Vec<_>>>()?;
            let n0 = match (parents.first(), m.get("loss")) {
                (Some(p0), _) => p0.len(),
                (None, Some(l)) => array(l, "loss", None)?.len(),
                (None, None) => {
                    return Err(Error::InvalidInput("missing field `loss`".to_string()))
                }
            };
            Hierarchy::from_parents(n0, parents)
        }
    }
}

/// The statistics every `solve` output carries.
fn statistics(o: &mut Map<String, Value>, sol: &Solution, summary: bool) -> Result<()> {
    o.insert(
        "expected_loss".into(),
        out(sol.expected_total_loss(), "expected_loss")?,
    );
    o.insert(
        "expected_level_losses".into(),
        out_vec(sol.expected_level_losses(), "expected_level_losses")?,
    );
    o.insert("entropies".into(), out_vec(sol.entropies(), "entropies")?);
    if let Some(d) = sol.relative_entropies() {
        o.insert(
            "relative_entropies".into(),
            out_vec(d, "relative_entropies")?,
        );
    }
    if !summary {
        let marginals = (0..sol.hierarchy().levels())
            .map(|k| out_vec(&sol.marginal(k), &format!("marginals[{k}]")))
            .collect::<Result<Vec<_>>>()?;
        o.insert("marginals".into(), Value::Array(marginals));
    }
    Ok(())
}
