//! `hmaxent solve`: tabulated hierarchies (docs/cli.md).

use serde_json::{Map, Value};

use super::json::{
    array, index, indices, losses, numbers, object, out, out_vec, put, put_vec, required,
};
use crate::constraints::{
    ConvexSettings, MeanConstraint, MomentProblem, Sense, SparseFeature, Status,
};
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
    let has = |k: &str| m.contains_key(k);
    if has("weights") && !has("temperatures") && has("features") {
        return moments(m, summary);
    }
    let problem = problem(m)?;
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
            put(&mut o, "free_energy", sol.free_energy())?;
            put_vec(&mut o, "temperatures", t.as_slice())?;
            put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
            statistics(&mut o, &sol, summary)?;
            Ok(Value::Object(o))
        }
        (false, true) => {
            let w = numbers(&m["weights"], "weights", None)?;
            if let Some(k) = ["targets", "sense"].iter().find(|k| has(k)) {
                return Err(Error::InvalidInput(format!("`{k}` needs `features`")));
            }
            let constraint = match (m.get("mean"), m.get("mean_at_most")) {
                (Some(_), Some(_)) => {
                    return Err(Error::InvalidInput(
                        "give exactly one of `mean` and `mean_at_most`".to_string(),
                    ))
                }
                (None, None) => {
                    return Err(Error::InvalidInput(
                        "`weights` needs `mean`, `mean_at_most` or `features`".to_string(),
                    ))
                }
                (Some(c), None) => MeanConstraint::Equal(super::json::number(c, "mean")?),
                (None, Some(c)) => MeanConstraint::AtMost(super::json::number(c, "mean_at_most")?),
            };
            let fit = crate::constraints::solve_mean(&problem, &w, constraint)?;
            let mut o = Map::new();
            put(&mut o, "objective", fit.objective)?;
            o.insert(
                "multiplier".into(),
                match fit.multiplier {
                    Some(l) => out(l, "multiplier")?,
                    None => Value::Null,
                },
            );
            o.insert("boundary".into(), Value::Bool(fit.boundary));
            if let (Some(tau), Some(f)) = (&fit.temperatures, fit.free_energy) {
                put(&mut o, "free_energy", f)?;
                put_vec(&mut o, "temperatures", tau)?;
                let cum: Vec<f64> = tau
                    .iter()
                    .scan(0.0, |s, t| {
                        *s += t;
                        Some(*s)
                    })
                    .collect();
                put_vec(&mut o, "cumulative_temperatures", &cum)?;
            }
            put_vec(&mut o, "weights", &w)?;
            o.insert("sweeps".into(), Value::from(fit.sweeps));
            statistics(&mut o, &fit.solution, summary)?;
            Ok(Value::Object(o))
        }
    }
}

/// Feature `i` as a sparse object `{"indices": [...], "values": [...]}` (or a dense array of
/// `n0` numbers, kept by its nonzero entries).
fn sparse_feature(v: &Value, i: usize, n0: usize) -> Result<SparseFeature> {
    let field = format!("features[{i}]");
    if v.is_array() {
        let dense = numbers(v, &field, Some(n0))?;
        let (indices, values) = dense
            .into_iter()
            .enumerate()
            .filter(|(_, v)| *v != 0.0)
            .unzip();
        return Ok(SparseFeature::new(indices, values));
    }
    let o = object(v, &field, &["indices", "values"])?;
    let get = |k: &str| {
        o.get(k)
            .ok_or_else(|| Error::InvalidInput(format!("{field} needs `{k}`")))
    };
    Ok(SparseFeature::new(
        indices(get("indices")?, &format!("{field}.indices"))?,
        numbers(get("values")?, &format!("{field}.values"), None)?,
    ))
}

/// `solve` with `weights` and `features`: moment constraints (docs/cli.md), optionally beside
/// `mean` / `mean_at_most`. Without `loss`, every state is allowed and the loss is zero.
fn moments(m: &Map<String, Value>, summary: bool) -> Result<Value> {
    let w = numbers(&m["weights"], "weights", None)?;
    let has_loss = m.contains_key("loss");
    if !has_loss && (m.contains_key("mean") || m.contains_key("mean_at_most")) {
        return Err(Error::InvalidInput(
            "missing field `loss`: `mean` / `mean_at_most` constrain E[total loss], so they \
             need the loss (without them `loss` is optional beside `features`)"
                .to_string(),
        ));
    }
    let problem = if has_loss {
        problem(m)?
    } else {
        // The hierarchy needs n_0: from `parents` / `tree`, or (single level) the length of
        // a dense feature or of the reference.
        let mut with_loss = m.clone();
        let dense = match m.get("features") {
            Some(Value::Array(f)) => f.iter().find(|f| f.is_array()),
            _ => None,
        };
        match dense.or(m.get("reference").filter(|r| r.is_array())) {
            Some(template) => {
                with_loss.insert("loss".into(), template.clone());
            }
            None if matches!(m.get("parents"), Some(Value::Array(p)) if p.is_empty()) => {
                return Err(Error::InvalidInput(
                    "a single-level problem whose features are all sparse needs `loss` or \
                     `reference` (their length is the number of states)"
                        .to_string(),
                ));
            }
            None => {}
        }
        let h = hierarchy(&with_loss)?;
        crate::constraints::moments::check_size(&h, feature_shape(m.get("features")))?;
        let n0 = h.size(0);
        with_loss.insert("loss".into(), Value::from(vec![0.0; n0]));
        problem(&with_loss)?
    };
    let n0 = problem.hierarchy().size(0);
    let listed = array(&m["features"], "features", None)?;
    let count = listed.len();
    let targets = numbers(required(m, "targets")?, "targets", Some(count))?;
    let senses = match m.get("sense") {
        None => vec![Sense::Eq; count],
        Some(v) => array(v, "sense", Some(count))?
            .iter()
            .enumerate()
            .map(|(i, s)| match s.as_str() {
                Some("eq") => Ok(Sense::Eq),
                Some("le") => Ok(Sense::Le),
                Some("ge") => Ok(Sense::Ge),
                _ => Err(Error::InvalidInput(format!(
                    "sense[{i}] must be \"eq\", \"le\" or \"ge\", got {s}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?,
    };
    // Dense arrays, or sparse `{"indices": [...], "values": [...]}` objects (docs/cli.md).
    let mut mp = if listed.iter().any(Value::is_object) {
        let features = listed
            .iter()
            .enumerate()
            .map(|(i, f)| sparse_feature(f, i, n0))
            .collect::<Result<Vec<_>>>()?;
        MomentProblem::sparse(&problem, &features, &targets, &w)?
    } else {
        let features = listed
            .iter()
            .enumerate()
            .map(|(i, f)| numbers(f, &format!("features[{i}]"), Some(n0)))
            .collect::<Result<Vec<_>>>()?;
        MomentProblem::new(&problem, &features, &targets, &w)?
    }
    .with_senses(&senses)?;
    match (m.get("mean"), m.get("mean_at_most")) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidInput(
                "give at most one of `mean` and `mean_at_most`".to_string(),
            ))
        }
        (Some(c), None) => {
            mp = mp.with_mean(MeanConstraint::Equal(super::json::number(c, "mean")?))?
        }
        (None, Some(c)) => {
            mp = mp.with_mean(MeanConstraint::AtMost(super::json::number(
                c,
                "mean_at_most",
            )?))?
        }
        (None, None) => {}
    }
    let has_mean = m.contains_key("mean") || m.contains_key("mean_at_most");
    let fit = mp.solve(&ConvexSettings::default())?;
    if fit.status == Status::MaxIterations {
        return Err(Error::Numerical(format!(
            "the moment dual did not converge within its budget ({} iterations, {} sweeps): {}",
            fit.iterations,
            fit.sweeps,
            mp.shortfall(&fit)
        )));
    }
    let mut o = Map::new();
    put(&mut o, "objective", fit.objective)?;
    o.insert(
        "multipliers".into(),
        match &fit.multipliers {
            Some(t) => out_vec(t, "multipliers")?,
            None => Value::Null,
        },
    );
    if has_mean {
        o.insert(
            "multiplier".into(),
            match fit.mean_multiplier {
                Some(l) => out(l, "multiplier")?,
                None => Value::Null,
            },
        );
    }
    if let Some(f) = fit.free_energy {
        put(&mut o, "free_energy", f)?;
        put_vec(&mut o, "temperatures", &w)?;
        let t = Temperatures::new(&w)?;
        put_vec(&mut o, "cumulative_temperatures", t.cumulative_slice())?;
    }
    put_vec(&mut o, "weights", &w)?;
    put_vec(&mut o, "expected_features", &fit.expected_features)?;
    o.insert("iterations".into(), Value::from(fit.iterations));
    o.insert("sweeps".into(), Value::from(fit.sweeps));
    put(&mut o, "gradient_norm", fit.gradient_norm)?;
    put(&mut o, "duality_gap", fit.duality_gap)?;
    o.insert("boundary".into(), Value::Bool(fit.boundary));
    statistics(&mut o, &fit.solution, summary)?;
    if !has_loss {
        // Without a loss there is no total loss to report; every level's loss is 0, so
        // `expected_level_losses` (always present) is all zeros.
        o.remove("expected_loss");
    }
    Ok(Value::Object(o))
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
    put(o, "expected_loss", sol.expected_total_loss())?;
    put_vec(o, "expected_level_losses", sol.expected_level_losses())?;
    put_vec(o, "entropies", sol.entropies())?;
    if let Some(d) = sol.relative_entropies() {
        put_vec(o, "relative_entropies", d)?;
    }
    if !summary {
        let marginals = (0..sol.hierarchy().levels())
            .map(|k| out_vec(&sol.marginal(k), &format!("marginals[{k}]")))
            .collect::<Result<Vec<_>>>()?;
        o.insert("marginals".into(), Value::Array(marginals));
    }
    Ok(())
}

/// The shape of the `features` field as given (arrays are dense rows, objects sparse ones
/// with their `indices`), for the size check made before any row is built.
fn feature_shape(features: Option<&Value>) -> crate::constraints::moments::FeatureShape {
    let mut shape = crate::constraints::moments::FeatureShape::default();
    for f in features.and_then(Value::as_array).into_iter().flatten() {
        match f.get("indices").and_then(Value::as_array) {
            Some(indices) => {
                shape.sparse += 1;
                shape.entries = shape.entries.saturating_add(indices.len());
            }
            None if f.is_object() => shape.sparse += 1,
            None => shape.dense += 1,
        }
    }
    shape
}
