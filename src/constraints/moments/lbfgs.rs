//! A warm start for many equality constraints: `argmin`'s L-BFGS on the dual, one `f64`
//! sweep per evaluation, before Newton polishes its point (a Newton iteration adds the
//! multilevel covariance, `M (M + 3) / 2` multiply-adds per state, to its sweep).

use std::cell::{Cell, RefCell};

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::engine::Engine;
use crate::error::{Error, Result};

/// Memory of L-BFGS.
const LBFGS_MEMORY: usize = 20;

/// Where L-BFGS from `theta = 0` stops (gradient norm `tol`, at most `budget` iterations),
/// with its iterations and sweeps.
pub(super) fn warm_start(
    engine: &Engine<'_>,
    tol: f64,
    budget: usize,
) -> Result<(Vec<f64>, usize, usize)> {
    let mm = engine.targets.len();
    let sweeps = Cell::new(0);
    let op = DualObjective {
        engine,
        cache: RefCell::new(None),
        sweeps: &sweeps,
    };
    let to_error = |e: argmin::core::Error| match e.downcast::<Error>() {
        Ok(e) => e,
        Err(e) => Error::Numerical(format!("L-BFGS on the moment dual: {e}")),
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(tol)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(to_error)?;
    let result = Executor::new(op, solver)
        .configure(|s| s.param(vec![0.0; mm]).max_iters(budget as u64))
        .run()
        .map_err(to_error)?;
    let state = result.state();
    let start = state
        .get_best_param()
        .cloned()
        .unwrap_or_else(|| vec![0.0; mm]);
    Ok((start, state.get_iter() as usize, sweeps.get()))
}

/// The dual as an `argmin` problem: one `f64` sweep gives both value and gradient, cached
/// for the last point so `cost` and `gradient` at the same point cost one sweep.
struct DualObjective<'a, 'b> {
    engine: &'a Engine<'b>,
    #[allow(clippy::type_complexity)]
    cache: RefCell<Option<(Vec<f64>, f64, Vec<f64>)>>,
    sweeps: &'a Cell<usize>,
}

impl DualObjective<'_, '_> {
    fn eval(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        if let Some((t, v, g)) = &*self.cache.borrow() {
            if t.as_slice() == theta {
                return Ok((*v, g.clone()));
            }
        }
        let (v, g, _) = self.engine.value_gradient(theta)?;
        self.sweeps.set(self.sweeps.get() + 1);
        *self.cache.borrow_mut() = Some((theta.to_vec(), v, g.clone()));
        Ok((v, g))
    }
}

impl CostFunction for DualObjective<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.eval(theta)?.0)
    }
}

impl Gradient for DualObjective<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(theta)?.1)
    }
}
