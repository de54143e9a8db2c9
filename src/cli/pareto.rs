//! `hmaxent pareto`: the frontier over level weights (docs/cli.md).
//!
//! Input: a `solve` problem in `weights` form with `weights` a list of weight vectors, or
//! `weights_grid: {"steps": m}` (see [`weights_grid`]); optional `mean` / `mean_at_most`.
//! Output: `{"points": [...], "dominated": [[i, j], ...]}` in the order the weights were
//! given. A `flow` problem (with `"family"`) traces the family's frontier
//! ([`frontier`]): the same output, a few flows per point.

use serde_json::{Map, Value};

use super::flow;
use super::json::{array, index, number, numbers, object, out, out_vec, required};
use super::solve::problem;
use crate::cli::budget::{self, Charged};
use crate::constraints::mean::MeanConstraint;
use crate::constraints::pareto::{frontier, weights_grid, Frontier, MAX_GRID_POINTS};
use crate::error::{Error, Result};
use crate::model::Model;

const FIELDS: &[&str] = &[
    "parents",
    "tree",
    "loss",
    "potentials",
    "reference",
    "weights",
    "weights_grid",
    "mean",
    "mean_at_most",
    // Accepted by the reader only to be refused with a specific message.
    "temperatures",
    "features",
    "targets",
    "sense",
];

/// Runs `hmaxent pareto` on a parsed input; `svg` is the `--svg PATH` option.
///
/// # Errors
/// Any [`Error`]: [`Error::InvalidInput`] for a malformed input, or for `--svg` in a build
/// without the `plot` feature; [`Error::Io`] if the SVG cannot be written.
pub fn run(input: &Value, svg: Option<&str>) -> Result<Value> {
    if svg.is_some() && !cfg!(feature = "plot") {
        return Err(Error::InvalidInput(
            "--svg needs a build with the `plot` feature (cargo build --features plot)".to_string(),
        ));
    }
    if input.get("family").is_some() {
        let m = input
            .as_object()
            .ok_or_else(|| Error::InvalidInput("the problem must be a JSON object".to_string()))?;
        return run_family(m, svg);
    }
    let m = object(input, "the problem", FIELDS)?;
    if m.contains_key("temperatures") {
        return Err(Error::InvalidInput(
            "pareto takes `weights` (a list of weight vectors) or `weights_grid`, not `temperatures`"
                .to_string(),
        ));
    }
    if let Some(k) = ["features", "targets", "sense"]
        .iter()
        .find(|k| m.contains_key(**k))
    {
        return Err(Error::InvalidInput(format!(
            "`{k}`: moment constraints are not supported by pareto"
        )));
    }
    let problem = problem(m)?;
    let levels = problem.hierarchy().levels();
    let weights = weights_of(m, levels)?;
    let mean = mean_of(m)?;
    budget::charge_model("the frontier", &problem, weights.len(), mean.is_some())?;
    let frontier = frontier(&problem, &weights, mean)?;
    let value = to_json(&frontier)?;
    if let Some(path) = svg {
        draw(&frontier, path)?;
    }
    Ok(value)
}

/// The weight vectors: `weights` (a list of vectors of `levels` numbers) or `weights_grid`.
fn weights_of(m: &Map<String, Value>, levels: usize) -> Result<Vec<Vec<f64>>> {
    let weights = match (m.get("weights"), m.get("weights_grid")) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidInput(
                "give exactly one of `weights` and `weights_grid`".to_string(),
            ))
        }
        (None, None) => {
            return Err(Error::InvalidInput(
                "missing field: give `weights` (a list of weight vectors) or `weights_grid`"
                    .to_string(),
            ))
        }
        (Some(w), None) => {
            let list = array(w, "weights", None)?;
            if list.len() > MAX_GRID_POINTS {
                return Err(Error::InvalidInput(format!(
                    "weights lists {} weight vectors; the limit is {MAX_GRID_POINTS} \
                     (MAX_GRID_POINTS, as for weights_grid)",
                    list.len()
                )));
            }
            if list.first().is_some_and(Value::is_number) {
                return Err(Error::InvalidInput(
                    "weights must be a list of weight vectors, e.g. [[1, 0], [0.5, 0.5]]"
                        .to_string(),
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, v)| numbers(v, &format!("weights[{i}]"), Some(levels)))
                .collect::<Result<Vec<_>>>()?
        }
        (None, Some(g)) => {
            let g = object(g, "weights_grid", &["steps"])?;
            let steps = index(required(g, "steps")?, "weights_grid.steps")?;
            if steps == 0 {
                return Err(Error::InvalidInput(
                    "weights_grid.steps must be at least 1".to_string(),
                ));
            }
            weights_grid(levels, steps)?
        }
    };
    Ok(weights)
}

/// The optional `mean` / `mean_at_most`.
fn mean_of(m: &Map<String, Value>) -> Result<Option<MeanConstraint>> {
    let mean = match (m.get("mean"), m.get("mean_at_most")) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidInput(
                "give at most one of `mean` and `mean_at_most`".to_string(),
            ))
        }
        (Some(c), None) => Some(MeanConstraint::Equal(number(c, "mean")?)),
        (None, Some(c)) => Some(MeanConstraint::AtMost(number(c, "mean_at_most")?)),
        (None, None) => None,
    };
    Ok(mean)
}

/// `hmaxent pareto` on a `flow` problem (it has `"family"`): the family's fields (without
/// `temperatures`) with `weights` / `weights_grid` and optional `mean` / `mean_at_most`.
fn run_family(m: &Map<String, Value>, svg: Option<&str>) -> Result<Value> {
    let family = m.get("family").and_then(Value::as_str).unwrap_or_default();
    let own: &[&str] = match family {
        "chain" => flow::chain::FIELDS,
        "quadratic" => flow::quadratic::FIELDS,
        "quadratic-modular" => flow::quadratic::MODULAR_FIELDS,
        "log-cascade" => flow::cascade::FIELDS,
        "hierarchical-ising" => flow::hierarchical_ising::FIELDS,
        _ => {
            return Err(Error::InvalidInput(format!(
                "family = {}: expected \"chain\", \"quadratic\", \"quadratic-modular\", \"log-cascade\" or \"hierarchical-ising\"",
                m["family"]
            )))
        }
    };
    let extra = ["weights", "weights_grid", "mean", "mean_at_most"];
    if m.contains_key("temperatures") {
        return Err(Error::InvalidInput(
            "pareto takes `weights` (a list of weight vectors) or `weights_grid`, not `temperatures`"
                .to_string(),
        ));
    }
    let own: Vec<&str> = own
        .iter()
        .copied()
        .filter(|f| *f != "temperatures")
        .collect();
    super::json::known_fields(
        m,
        &format!("the {family} pareto input"),
        &[&own[..], &extra[..]],
    )?;
    let mean = mean_of(m)?;
    match family {
        "chain" => family_frontier(&flow::chain::chain(m)?, m, mean, svg),
        "quadratic" => family_frontier(&flow::quadratic::quadratic(m)?, m, mean, svg),
        "quadratic-modular" => family_frontier(&flow::quadratic::modular_model(m)?, m, mean, svg),
        "hierarchical-ising" => family_frontier(&flow::hierarchical_ising::model(m)?, m, mean, svg),
        _ => family_frontier(&flow::cascade::cascade(m)?, m, mean, svg),
    }
}

fn family_frontier<M: Model + Charged>(
    model: &M,
    m: &Map<String, Value>,
    mean: Option<MeanConstraint>,
    svg: Option<&str>,
) -> Result<Value> {
    let weights = weights_of(m, model.levels())?;
    budget::charge_model("the frontier", model, weights.len(), mean.is_some())?;
    let frontier = frontier(model, &weights, mean)?;
    let value = to_json(&frontier)?;
    if let Some(path) = svg {
        draw(&frontier, path)?;
    }
    Ok(value)
}

/// The CLI output of a frontier.
fn to_json<S>(frontier: &Frontier<S>) -> Result<Value> {
    let points = frontier
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let field = |name: &str| format!("points[{i}].{name}");
            let mut o = Map::new();
            o.insert("weights".into(), out_vec(&p.weights, &field("weights"))?);
            o.insert(
                "temperatures".into(),
                match &p.temperatures {
                    Some(t) => out_vec(t, &field("temperatures"))?,
                    None => Value::Null,
                },
            );
            if frontier.constrained {
                o.insert(
                    "multiplier".into(),
                    match p.multiplier {
                        Some(l) => out(l, &field("multiplier"))?,
                        None => Value::Null,
                    },
                );
                o.insert("boundary".into(), Value::Bool(p.boundary));
            }
            o.insert(
                "expected_loss".into(),
                out(p.expected_loss, &field("expected_loss"))?,
            );
            o.insert(
                "entropies".into(),
                out_vec(&p.entropies, &field("entropies"))?,
            );
            if let Some(d) = &p.relative_entropies {
                o.insert(
                    "relative_entropies".into(),
                    out_vec(d, &field("relative_entropies"))?,
                );
            }
            o.insert("objective".into(), out(p.objective, &field("objective"))?);
            Ok(Value::Object(o))
        })
        .collect::<Result<Vec<_>>>()?;
    let dominated = frontier
        .dominated
        .iter()
        .map(|&(i, j)| Value::Array(vec![Value::from(i), Value::from(j)]))
        .collect();
    let mut o = Map::new();
    o.insert("points".into(), Value::Array(points));
    o.insert("dominated".into(), Value::Array(dominated));
    Ok(Value::Object(o))
}

#[cfg(not(feature = "plot"))]
fn draw<S>(_frontier: &Frontier<S>, _path: &str) -> Result<()> {
    Err(Error::InvalidInput(
        "--svg needs a build with the `plot` feature".to_string(),
    ))
}

/// Draws `H(Y_0)` against `H(Y_k)`, one panel per `k = 1..d` (with a reference, `-D` in
/// place of `H`). A single level is drawn as `H(Y_0)` against `E f`.
#[cfg(feature = "plot")]
fn draw<S>(frontier: &Frontier<S>, path: &str) -> Result<()> {
    use plotters::prelude::*;

    let io = |e: &dyn std::fmt::Display| Error::Io(format!("cannot write the SVG {path}: {e}"));
    // The entropy-like coordinates (H or -D) of every point.
    let coords: Vec<Vec<f64>> = frontier
        .points
        .iter()
        .map(|p| match &p.relative_entropies {
            Some(d) => d.iter().map(|x| -x).collect(),
            None => p.entropies.clone(),
        })
        .collect();
    let levels = coords.first().map_or(1, Vec::len);
    // Panels: (x values, label); y is always level 0.
    let panels: Vec<(Vec<f64>, String)> = if levels == 1 {
        vec![(
            frontier.points.iter().map(|p| p.expected_loss).collect(),
            "E f".to_string(),
        )]
    } else {
        (1..levels)
            .map(|k| (coords.iter().map(|c| c[k]).collect(), format!("H(Y_{k})")))
            .collect()
    };
    let ys: Vec<f64> = coords.iter().map(|c| c[0]).collect();
    let range = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let pad = ((hi - lo) * 0.05).max(1e-6 * (1.0 + hi.abs()));
        (lo - pad)..(hi + pad)
    };
    let width = 480 * panels.len() as u32;
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io(&e))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, (xs, label)) in areas.iter().zip(&panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("H(Y_0) against {label}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(range(xs), range(&ys))
            .map_err(|e| io(&e))?;
        chart
            .configure_mesh()
            .x_desc(label.as_str())
            .y_desc("H(Y_0)")
            .draw()
            .map_err(|e| io(&e))?;
        let mut pts: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
        if panels.len() == 1 {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(pts.clone(), &BLUE))
                .map_err(|e| io(&e))?;
        }
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))
            .map_err(|e| io(&e))?;
    }
    root.present().map_err(|e| io(&e))?;
    Ok(())
}
