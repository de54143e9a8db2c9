//! The sweep engine of one moment problem: the dual, its gradient and its exact Hessian.
//!
//! `D(theta) = theta·c - F(theta)` with `F` the free energy of the level-0 loss
//! `base + theta·phi` at temperatures `w` (`base = -w_0 log Q_0` with a reference), its
//! gradient `c - E_theta[phi]` and its Hessian `-dE_theta[phi]/dtheta`, a multilevel
//! covariance (proofs/convex_dual.md). All three come from one `f64` sweep: the Hessian is
//! that covariance formed exactly from every level's marginal (`super::covariance`), and the
//! last sweep is kept, so a Newton step from an accepted line-search point sweeps no more.
//! The engine sees the centred and scaled rows (`super::scaling`).

use super::super::features::Row;
use super::super::newton::{dot, Objective, Point};
use super::covariance::multilevel_covariance;
use crate::error::Result;
use crate::hierarchy::Hierarchy;
use crate::problem::Problem;
use crate::rg::pool::BufferPool;
use crate::rg::tiled::{self, Tiling};
use std::cell::{Ref, RefCell};

/// The sweep engine of one moment problem on a set of allowed states.
pub(super) struct Engine<'a> {
    hierarchy: &'a Hierarchy,
    pub(super) allowed: Vec<bool>,
    rows: &'a [Row],
    pub(super) targets: &'a [f64],
    /// `-w_0 log Q_0` (zeros without a reference), block order.
    base: Vec<f64>,
    /// `-w_k log Q_k`, `k = 1..d` (empty without a reference).
    potentials: Vec<Option<Vec<f64>>>,
    cumulative: Vec<f64>,
    /// The size of the terms a sweep adds and then cancels: the largest finite `|base|`,
    /// plus each level's largest finite `|potential|`, plus `S_d log n_0` (the largest
    /// `-S_k log Z` a soft minimum adds). Under a weight of `1e3` on a level whose
    /// `log Q_k` is near `-3`, `F` near 0 is what is left of terms near `3e3`, and carries
    /// their rounding, not its own.
    magnitude: f64,
    /// Tables recycled between passes.
    pool: BufferPool<f64>,
    /// The last pass: the Hessian at an accepted line-search point needs no sweep of its own.
    last: RefCell<Option<Swept>>,
}

/// One `f64` sweep's results at `theta`.
struct Swept {
    theta: Vec<f64>,
    free_energy: f64,
    /// `P*_0..P*_d`, block order.
    marginals: Vec<Vec<f64>>,
}

/// One evaluation of the dual with its exact Hessian.
pub(super) struct Evaluation {
    pub value: f64,
    pub gradient: Vec<f64>,
    pub hessian: Vec<f64>,
    pub expected: Vec<f64>,
    pub free_energy: f64,
}

impl<'a> Engine<'a> {
    /// The engine of `rows` and `targets` at level weights `weights` on the `allowed` states
    /// of `problem` (its reference, if any, enters as `base` and potentials).
    pub(super) fn new(
        problem: &'a Problem,
        weights: &[f64],
        rows: &'a [Row],
        targets: &'a [f64],
        allowed: Vec<bool>,
    ) -> Self {
        let h = problem.hierarchy();
        let reference = problem.reference_levels();
        // -w_k log Q_k (docs/concepts.md, Theorem B), +inf where Q_k = 0.
        let term = |k: usize, log_q: &[f64]| -> Vec<f64> {
            log_q
                .iter()
                .map(|&log_q| {
                    if log_q == f64::NEG_INFINITY {
                        f64::INFINITY
                    } else if weights[k] > 0.0 {
                        -weights[k] * log_q
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let base: Vec<f64> = match reference {
            Some(q) => term(0, q.log(0)),
            None => vec![0.0; h.size(0)],
        };
        let potentials: Vec<Option<Vec<f64>>> = match reference {
            Some(q) => (1..h.levels()).map(|k| Some(term(k, q.log(k)))).collect(),
            None => Vec::new(),
        };
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut s = 0.0;
        for w in weights {
            s += w;
            cumulative.push(s);
        }
        let largest = |v: &[f64]| {
            v.iter()
                .filter(|t| t.is_finite())
                .fold(0.0f64, |m, t| m.max(t.abs()))
        };
        let magnitude = largest(&base)
            + potentials.iter().flatten().map(|u| largest(u)).sum::<f64>()
            + s * (h.size(0).max(1) as f64).ln();
        Engine {
            hierarchy: h,
            allowed,
            rows,
            targets,
            base,
            potentials,
            cumulative,
            magnitude,
            pool: BufferPool::default(),
            last: RefCell::new(None),
        }
    }

    /// The rounding of `D = theta·c - F`: a few ulps of its largest terms, those of the
    /// sweep included (`magnitude`, and `sum |theta_i|` for `theta·phi`, the rows having
    /// spread 1).
    fn rounding(&self, theta: &[f64], value: f64, free_energy: f64) -> f64 {
        let sweep = self.magnitude + theta.iter().map(|t| t.abs()).sum::<f64>();
        64.0 * f64::EPSILON
            * (1.0 + value.abs() + free_energy.abs() + dot(theta, self.targets).abs() + sweep)
    }
    /// One `f64` sweep + reconstruction at `theta` (level-0 loss `base + theta·phi`,
    /// `+inf` off the allowed states): `F` and every level's marginal `P*_0..P*_d`, kept
    /// for the Hessian at the same point. Tables are recycled from pass to pass.
    fn pass(&self, theta: &[f64]) -> Result<Ref<'_, Swept>> {
        let fresh = !matches!(&*self.last.borrow(), Some(s) if s.theta == theta);
        if fresh {
            let old = self.last.borrow_mut().take();
            let n = self.hierarchy.size(0);
            let swept = {
                let pool = &self.pool;
                if let Some(old) = old {
                    old.marginals.into_iter().for_each(|p| pool.give(p));
                }
                // The loss: base, then + theta_i phi_i row by row (+inf stays +inf).
                let mut loss = pool.take(n);
                loss.clear();
                loss.extend(self.base.iter().zip(&self.allowed).map(|(&b, &a)| {
                    if a {
                        b
                    } else {
                        f64::INFINITY
                    }
                }));
                Row::add_combination(self.rows, theta, &mut loss);
                let solved = tiled::solve(
                    self.hierarchy,
                    &self.potentials,
                    &loss,
                    &self.cumulative,
                    Tiling::default(),
                    pool,
                );
                pool.give(loss);
                solved?
            };
            *self.last.borrow_mut() = Some(Swept {
                theta: theta.to_vec(),
                free_energy: swept.free_energy,
                marginals: swept.marginals,
            });
        }
        let swept = self.last.borrow();
        Ok(Ref::map(swept, |s| s.as_ref().expect("just swept")))
    }

    /// Value, gradient, `E[phi]` and `F` at `theta` (the Hessian left empty) from one `f64`
    /// sweep, none if the last pass was at `theta`; with the number of sweeps run.
    fn evaluate(&self, theta: &[f64]) -> Result<(Evaluation, usize)> {
        let cost = usize::from(!matches!(&*self.last.borrow(), Some(s) if s.theta == theta));
        let swept = self.pass(theta)?;
        let expected = Row::dots(self.rows, &swept.marginals[0]);
        let gradient = self
            .targets
            .iter()
            .zip(&expected)
            .map(|(c, e)| c - e)
            .collect();
        let f = swept.free_energy;
        let ev = Evaluation {
            value: dot(theta, self.targets) - f,
            gradient,
            hessian: Vec::new(),
            expected,
            free_energy: f,
        };
        Ok((ev, cost))
    }

    /// Value, gradient and `F` (one `f64` sweep).
    pub(super) fn value_gradient(&self, theta: &[f64]) -> Result<(f64, Vec<f64>, f64)> {
        let (ev, _) = self.evaluate(theta)?;
        Ok((ev.value, ev.gradient, ev.free_energy))
    }

    /// Value, gradient and exact Hessian (the multilevel covariance of the marginals of the
    /// same `f64` sweep, `super::covariance`); returns the number of sweeps used (0 when the
    /// last value was computed at `theta`).
    pub(super) fn newton_eval(&self, theta: &[f64]) -> Result<(Evaluation, usize)> {
        let (mut ev, cost) = self.evaluate(theta)?;
        let swept = self.pass(theta)?;
        ev.hessian = multilevel_covariance(
            self.hierarchy,
            self.rows,
            &swept.marginals,
            &self.cumulative,
        );
        Ok((ev, cost))
    }
}

impl Objective for Engine<'_> {
    fn point(&self, theta: &[f64]) -> Result<Point> {
        let (value, gradient, free_energy) = self.value_gradient(theta)?;
        Ok(Point {
            rounding: self.rounding(theta, value, free_energy),
            value,
            gradient,
        })
    }

    fn point_with_hessian(&self, theta: &[f64]) -> Result<(Point, Vec<f64>, usize)> {
        let (ev, passes) = self.newton_eval(theta)?;
        let point = Point {
            rounding: self.rounding(theta, ev.value, ev.free_energy),
            value: ev.value,
            gradient: ev.gradient,
        };
        Ok((point, ev.hessian, passes))
    }

    /// `max - min` of `v·phi(x)` over the allowed states at most [`FIXED_ALONG`] of
    /// `sum_i |v_i|` (the rows have spread 1, so that sum bounds it).
    fn fixed_along(&self, v: &[f64]) -> bool {
        let mut along = vec![0.0; self.allowed.len()];
        Row::add_combination(self.rows, v, &mut along);
        let (lo, hi) = (along.iter().zip(&self.allowed))
            .filter(|(_, &a)| a)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (&a, _)| {
                (lo.min(a), hi.max(a))
            });
        let size: f64 = v.iter().map(|t| t.abs()).sum();
        // (A NaN spread counts as fixed: the old rule, margin tenfold, then applies.)
        (hi - lo).partial_cmp(&(FIXED_ALONG * size)) != Some(std::cmp::Ordering::Greater)
    }
}

/// Rows whose combination varies by less than this (relative) over the allowed states are
/// dependent (duplicated or collinear rows, up to the rounding of their scaling), so a null
/// direction of the Hessian along them is one of the problem's.
const FIXED_ALONG: f64 = 1e-6;
