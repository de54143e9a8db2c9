//! The sweep engine of one moment problem: the dual, its gradient and its exact Hessian.
//!
//! `D(theta) = theta·c - F(theta)` with `F` the free energy of the level-0 loss
//! `base + theta·phi` at temperatures `w` (`base = -w_0 log Q_0` with a reference), its
//! gradient `c - E_theta[phi]` and its Hessian `-dE_theta[phi]/dtheta`, a multilevel
//! covariance (proofs/convex_dual.md). The Hessian is exact: one sweep with [`Dual`] scalars
//! whose tangent `k` is `d/dtheta_k` carries every column at once (up to 32; more take one
//! sweep per 32). The engine sees the centred and scaled rows (`super::scaling`).

use super::super::features::Row;
use super::super::newton::{dot, Objective, Point};
use crate::dual::Dual;
use crate::error::Result;
use crate::hierarchy::Hierarchy;
use crate::numerics::Real;
use crate::problem::Problem;
use crate::rg::pool::{BufferPool, Pools};
use crate::rg::tabulated::Tabulated;
use crate::rg::{reconstruct, sweep};

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
    /// Tables recycled between passes (one pool per scalar type).
    pools: Pools,
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
        let term = |k: usize, q: &[f64]| -> Vec<f64> {
            q.iter()
                .map(|&q| {
                    if q == 0.0 {
                        f64::INFINITY
                    } else if weights[k] > 0.0 {
                        -weights[k] * q.ln()
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let base: Vec<f64> = match reference {
            Some(q) => term(0, &q[0]),
            None => vec![0.0; h.size(0)],
        };
        let potentials: Vec<Option<Vec<f64>>> = match reference {
            Some(q) => (1..h.levels()).map(|k| Some(term(k, &q[k]))).collect(),
            None => Vec::new(),
        };
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut s = 0.0;
        for w in weights {
            s += w;
            cumulative.push(s);
        }
        Engine {
            hierarchy: h,
            allowed,
            rows,
            targets,
            base,
            potentials,
            cumulative,
            pools: Pools::default(),
        }
    }

    /// The rounding of `D = theta·c - F` (a few ulps of its largest terms).
    fn rounding(&self, theta: &[f64], value: f64, free_energy: f64) -> f64 {
        64.0 * f64::EPSILON
            * (1.0 + value.abs() + free_energy.abs() + dot(theta, self.targets).abs())
    }
    /// One sweep + reconstruction for the level-0 loss `g0 = make(theta·phi + base)`
    /// (block order, scalars `T`; `make` receives the `f64` loss, `+inf` off the allowed
    /// states, and writes `g0` into an empty vector): `F` and `read(P*_0)`. The tables are
    /// recycled from pass to pass.
    fn pass<T: Real, R>(
        &self,
        theta: &[f64],
        make: impl FnOnce(&[f64], &mut Vec<T>),
        read: impl FnOnce(&[T]) -> R,
    ) -> Result<(T, R)> {
        let n = self.hierarchy.size(0);
        // The f64 loss: base, then + theta_i phi_i row by row (+inf stays +inf).
        let mut loss = self.pools.with(|pool: &BufferPool<f64>| pool.take(n));
        loss.clear();
        loss.extend(
            self.base
                .iter()
                .zip(&self.allowed)
                .map(|(&b, &a)| if a { b } else { f64::INFINITY }),
        );
        Row::add_combination(self.rows, theta, &mut loss);
        let potentials: Vec<Option<Vec<T>>> = self
            .potentials
            .iter()
            .map(|u| u.as_ref().map(|u| u.iter().map(|&v| T::of(v)).collect()))
            .collect();
        let cumulative: Vec<T> = self.cumulative.iter().map(|&s| T::of(s)).collect();
        let out = self.pools.with(|pool: &BufferPool<T>| {
            let mut g0 = pool.take(n);
            g0.clear();
            make(&loss, &mut g0);
            let engine = Tabulated::new(self.hierarchy, &potentials).with_pool(pool);
            let flow = sweep(&engine, &g0, &cumulative);
            pool.give(g0);
            let flow = flow?;
            let free_energy = flow.free_energy;
            flow.losses.into_iter().for_each(|g| pool.give(g));
            let rec = reconstruct(&engine, flow.conditionals);
            let out = read(&rec.marginals[0]);
            rec.marginals.into_iter().for_each(|p| pool.give(p));
            Ok((free_energy, out))
        });
        self.pools.with(|pool: &BufferPool<f64>| pool.give(loss));
        out
    }

    /// The `f64` loss as it is.
    fn copy(loss: &[f64], g0: &mut Vec<f64>) {
        g0.extend_from_slice(loss);
    }

    /// Dual value, gradient and the Hessian columns `start..start + N` (one dual-number
    /// sweep: tangent `k` is `d/dtheta_{start + k}`). The level-0 loss and the expectations
    /// are linear in the features, so their tangents are written directly.
    fn dual_pass<const N: usize>(
        &self,
        theta: &[f64],
        start: usize,
        hessian: &mut [f64],
    ) -> Result<(f64, Vec<f64>)> {
        let mm = theta.len();
        let width = N.min(mm - start);
        // Tangent k of g0(x) is phi_{start+k}(x) where g0(x) is finite.
        // All-dense features are read state by state (one pass over the tables); sparse
        // ones feature by feature (their entries only).
        let dense = Row::all_dense(self.rows);
        let make = |loss: &[f64], g0: &mut Vec<Dual<N>>| match &dense {
            Some(rows) => g0.extend(loss.iter().enumerate().map(|(x, &v)| {
                let mut d = Dual::constant(v);
                if v.is_finite() {
                    for (e, row) in d.eps.iter_mut().zip(&rows[start..start + width]) {
                        *e = row[x];
                    }
                }
                d
            })),
            None => {
                g0.extend(loss.iter().map(|&v| Dual::constant(v)));
                for (k, row) in self.rows[start..start + width].iter().enumerate() {
                    row.for_each(|x, v| {
                        if g0[x].re.is_finite() {
                            g0[x].eps[k] = v;
                        }
                    });
                }
            }
        };
        // E[phi_j] and dE[phi_j]/dtheta_{start+k} = sum_x dP(x)/dtheta phi_j(x) (each sum
        // in increasing x either way).
        let read = |p0: &[Dual<N>]| {
            let mut expected = vec![0.0; mm];
            let mut tangents = vec![[0.0; N]; mm];
            let mut add = |j: usize, p: &Dual<N>, v: f64| {
                expected[j] += p.re * v;
                for (t, d) in tangents[j].iter_mut().zip(&p.eps) {
                    *t += d * v;
                }
            };
            match &dense {
                Some(rows) => {
                    for (x, p) in p0.iter().enumerate().filter(|(_, p)| p.re > 0.0) {
                        for (j, row) in rows.iter().enumerate() {
                            add(j, p, row[x]);
                        }
                    }
                }
                None => {
                    for (j, row) in self.rows.iter().enumerate() {
                        row.for_each(|x, v| {
                            if p0[x].re > 0.0 {
                                add(j, &p0[x], v);
                            }
                        });
                    }
                }
            }
            (expected, tangents)
        };
        let (f, (expected, tangents)) = self.pass(theta, make, read)?;
        for (j, t) in tangents.iter().enumerate() {
            for (k, &d) in t.iter().enumerate().take(width) {
                hessian[(start + k) * mm + j] = -d;
            }
        }
        Ok((f.re, expected))
    }

    /// Value, gradient and `F` (one `f64` sweep).
    pub(super) fn value_gradient(&self, theta: &[f64]) -> Result<(f64, Vec<f64>, f64)> {
        let (f, gradient) = self.pass(theta, Self::copy, |p0| {
            self.rows
                .iter()
                .zip(self.targets)
                .map(|(r, c)| c - r.dot(p0))
                .collect()
        })?;
        Ok((dot(theta, self.targets) - f, gradient, f))
    }

    /// Value, gradient and exact Hessian; returns the number of sweeps used.
    pub(super) fn newton_eval(&self, theta: &[f64]) -> Result<(Evaluation, usize)> {
        let mm = theta.len();
        let mut hessian = vec![0.0; mm * mm];
        let mut passes = 1;
        let (f, expected) = match mm {
            0 => (self.pass(theta, Self::copy, |_| ())?.0, Vec::new()),
            1 => self.dual_pass::<1>(theta, 0, &mut hessian)?,
            2 => self.dual_pass::<2>(theta, 0, &mut hessian)?,
            3 => self.dual_pass::<3>(theta, 0, &mut hessian)?,
            4 => self.dual_pass::<4>(theta, 0, &mut hessian)?,
            5..=6 => self.dual_pass::<6>(theta, 0, &mut hessian)?,
            7..=8 => self.dual_pass::<8>(theta, 0, &mut hessian)?,
            9..=10 => self.dual_pass::<10>(theta, 0, &mut hessian)?,
            11..=12 => self.dual_pass::<12>(theta, 0, &mut hessian)?,
            13..=16 => self.dual_pass::<16>(theta, 0, &mut hessian)?,
            17..=24 => self.dual_pass::<24>(theta, 0, &mut hessian)?,
            _ => {
                // Above 32 constraints the columns come 32 at a time (one sweep each).
                let mut out = self.dual_pass::<32>(theta, 0, &mut hessian)?;
                let mut start = 32;
                while start < mm {
                    out = self.dual_pass::<32>(theta, start, &mut hessian)?;
                    start += 32;
                    passes += 1;
                }
                out
            }
        };
        // Symmetrise (the two triangles agree to rounding).
        for i in 0..mm {
            for j in 0..i {
                let s = 0.5 * (hessian[i * mm + j] + hessian[j * mm + i]);
                hessian[i * mm + j] = s;
                hessian[j * mm + i] = s;
            }
        }
        let gradient: Vec<f64> = self
            .targets
            .iter()
            .zip(&expected)
            .map(|(c, e)| c - e)
            .collect();
        let value = dot(theta, self.targets) - f;
        Ok((
            Evaluation {
                value,
                gradient,
                hessian,
                expected,
                free_energy: f,
            },
            passes,
        ))
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
}
