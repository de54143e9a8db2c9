//! A tabulated problem: hierarchy, losses, potentials and an optional reference (docs/concepts.md, sections 1, 4, 5, 6).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::numerics::entropy_term;
use crate::reference::Reference;
use crate::rg::pool::BufferPool;
use crate::rg::tiled::{self, Tiling};
use crate::solution::{expectation, LevelLosses, Solution};
use crate::temperatures::Temperatures;

/// Losses `u_0..u_d` on a [`Hierarchy`], optionally with a reference distribution `Q`.
///
/// `+inf` forbids a state. Without a reference, [`Problem::solve`] minimises
/// `E_P[sum_k u_k(Y_k)] - sum_k tau_k H(Y_k)` (Theorem A); with a reference it minimises
/// `E_P[sum_k u_k(Y_k)] + sum_k tau_k D(P_k || Q_k)` (Theorem B, through the same sweep with
/// potentials `u_k - tau_k log Q_k`, docs/concepts.md, "6. Theorem B").
///
/// ```
/// # use hmaxent::{Hierarchy, Problem, Temperatures};
/// // 4 states in 2 blocks, zero loss, tau = (1, 1): F = -(log 4 + log 2).
/// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
/// let sol = Problem::new(&h, &[0.0; 4])?.solve(&Temperatures::new(&[1.0, 1.0])?)?;
/// assert!((sol.free_energy() + 3.0 * 2f64.ln()).abs() < 1e-14);
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Problem {
    hierarchy: Arc<Hierarchy>,
    /// `u_0` in block order.
    loss: Arc<Vec<f64>>,
    /// `u_1..u_d` in block order (`None`: zero).
    potentials: Vec<Option<Vec<f64>>>,
    /// `Q_0..Q_d` and their logarithms in block order.
    reference: Option<Reference>,
}

fn check_loss(field: &str, u: &[f64]) -> Result<()> {
    match u.iter().position(|x| x.is_nan() || *x == f64::NEG_INFINITY) {
        Some(i) => Err(Error::InvalidValue {
            field: field.to_string(),
            index: i,
            value: u[i],
            reason: "losses must be finite or +inf",
        }),
        None => Ok(()),
    }
}

impl Problem {
    /// A problem with loss `u_0` (user order, `n_0` entries, finite or `+inf`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], or [`Error::InvalidValue`] for NaN or `-inf`.
    pub fn new(hierarchy: &Hierarchy, loss: &[f64]) -> Result<Self> {
        Self::from_vec(Arc::new(hierarchy.clone()), loss.to_vec())
    }

    /// As [`Problem::new`], taking ownership of the loss and sharing the hierarchy (no copy
    /// of either when the level-0 order is the user's).
    ///
    /// # Errors
    /// As [`Problem::new`].
    pub fn from_vec(hierarchy: Arc<Hierarchy>, loss: Vec<f64>) -> Result<Self> {
        let n0 = hierarchy.size(0);
        if loss.len() != n0 {
            return Err(Error::length("loss", loss.len(), n0));
        }
        check_loss("loss", &loss)?;
        let loss = if hierarchy.is_identity_order(0) {
            loss
        } else {
            let mut b = vec![0.0; n0];
            hierarchy.to_block_order(0, &loss, &mut b);
            b
        };
        let d = hierarchy.depth();
        Ok(Self {
            hierarchy,
            loss: Arc::new(loss),
            potentials: vec![None; d],
            reference: None,
        })
    }

    /// Adds per-level potentials `u_1..u_d` (user order; `potentials[k-1]` has `n_k` entries).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] or [`Error::InvalidValue`] naming `potentials[k-1]`.
    pub fn with_potentials<V: AsRef<[f64]>>(mut self, potentials: &[V]) -> Result<Self> {
        let d = self.hierarchy.depth();
        if potentials.len() != d {
            return Err(Error::length("potentials", potentials.len(), d));
        }
        for (k, u) in potentials.iter().enumerate() {
            let u = u.as_ref();
            let field = format!("potentials[{k}]");
            let n = self.hierarchy.size(k + 1);
            if u.len() != n {
                return Err(Error::length(field, u.len(), n));
            }
            check_loss(&field, u)?;
            let mut b = vec![0.0; n];
            self.hierarchy.to_block_order(k + 1, u, &mut b);
            self.potentials[k] = Some(b);
        }
        Ok(self)
    }

    /// Adds a reference distribution `Q` on level 0 (user order, non-negative, finite, not
    /// all zero; normalised here). States with `Q = 0` are forbidden.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::InvalidValue`] for a negative or non-finite entry,
    /// [`Error::AllForbidden`] if `Q` sums to 0.
    pub fn with_reference(mut self, q: &[f64]) -> Result<Self> {
        self.reference = Some(Reference::new(&self.hierarchy, "reference", q)?);
        Ok(self)
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// Whether a reference distribution was given.
    pub fn has_reference(&self) -> bool {
        self.reference.is_some()
    }

    /// Solves the scalarised problem at `temperatures` (Theorem A, or B with a reference) by
    /// one bottom-up sweep and one top-down pass (docs/concepts.md, "5. Theorem A"):
    ///
    /// ```text
    /// g_0 = u_0,   g_{k+1}(y) = u_{k+1}(y) - S_k log sum_{x in B(y)} exp(-g_k(x) / S_k),
    /// F = -S_d log sum_y exp(-g_d(y) / S_d),
    /// P*(y_d) = exp(-(g_d(y_d) - F) / S_d),   P*(x | y) ∝ exp(-g_k(x) / S_k) on B(y).
    /// ```
    ///
    /// With a reference the sweep runs on `u_k - tau_k log Q_k` (docs/concepts.md, "6. Theorem
    /// B"); where its `F` or divergences `D(P_k || Q_k)` may have lost digits (high
    /// temperature, or a divergence below `1e-7`), they are evaluated again by Theorem B's own
    /// recursion, which keeps their relative accuracy (one more pass, about three exponentials
    /// per state). Cost `O(n_0 + ... + n_d)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the temperatures have the wrong number of levels;
    /// [`Error::AllForbidden`] if no state is allowed (a `+inf` loss on it or an ancestor, or
    /// zero reference mass); [`Error::Overflow`] if finite losses overflow `f64` (a loss
    /// shifted by `-tau_k log Q_k`, or a sum of losses so large that every allowed state's
    /// renormalised loss is `+inf`, or so negative that the free energy is `-inf`).
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem, Temperatures};
    /// // Theorem A's example: leaves {0,1} -> A, {2,3} -> B, f = (0, 0, 0, 1), tau = (1, 1).
    /// let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
    /// let sol = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0])?.solve(&Temperatures::new(&[1.0, 1.0])?)?;
    /// // g_1(A) = -log 2, g_1(B) = -log(1 + 1/e), F = -2 log(e^(-g_1(A)/2) + e^(-g_1(B)/2)).
    /// let (ga, gb) = (-2f64.ln(), -(1.0 + (-1f64).exp()).ln());
    /// let f = -2.0 * ((-ga / 2.0).exp() + (-gb / 2.0).exp()).ln();
    /// assert!((sol.free_energy() - f).abs() < 1e-14);
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn solve(&self, temperatures: &Temperatures) -> Result<Solution> {
        self.solve_scaled(1.0, temperatures)
    }

    /// [`Problem::solve`] with its tables taken from `pool`, which a loop of solves (a scan
    /// over temperatures, a root search) refills with [`BufferPool::recycle`]. The result is
    /// bit-for-bit that of [`Problem::solve`]; what changes is that the loop stops asking the
    /// operating system for fresh, zeroed memory every time, which on large hierarchies costs
    /// about as much as the sweep's arithmetic. Tables that do not fit are left in the pool
    /// or allocated anew, so a pool may serve problems of any shape.
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem, Temperatures};
    /// use hmaxent::rg::pool::BufferPool;
    /// let h = Hierarchy::complete(2, 10)?;
    /// let loss: Vec<f64> = (0..1024).map(|i| (i % 7) as f64).collect();
    /// let problem = Problem::new(&h, &loss)?;
    /// let pool = BufferPool::default();
    /// for tau in [1.0, 0.5, 0.25] {
    ///     let t = Temperatures::new(&[tau; 11])?;
    ///     let sol = problem.solve_with_pool(&t, &pool)?;
    ///     assert_eq!(sol.free_energy(), problem.solve(&t)?.free_energy());
    ///     pool.recycle(sol); // its tables serve the next solve
    /// }
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn solve_with_pool(
        &self,
        temperatures: &Temperatures,
        pool: &BufferPool<f64>,
    ) -> Result<Solution> {
        self.solve_scaled_in(1.0, temperatures, pool)
    }

    /// Theorem A/B for the loss `beta * u` (forbidden states stay forbidden, whatever the
    /// sign of `beta`) at `temperatures`. The returned solution reports expected losses of
    /// the unscaled `u`, and its free energy is that of the scaled problem.
    pub(crate) fn solve_scaled(&self, beta: f64, temperatures: &Temperatures) -> Result<Solution> {
        self.solve_scaled_in(beta, temperatures, &BufferPool::default())
    }

    /// [`Problem::solve_scaled`] with tables taken from `pool`.
    pub(crate) fn solve_scaled_in(
        &self,
        beta: f64,
        temperatures: &Temperatures,
        pool: &BufferPool<f64>,
    ) -> Result<Solution> {
        let h = &*self.hierarchy;
        temperatures.expect_levels(h.levels())?;
        let g0: Arc<Vec<f64>> = if beta == 1.0 && self.reference.is_none() {
            Arc::clone(&self.loss)
        } else {
            Arc::new(self.effective(0, beta, temperatures, pool.take(h.size(0)))?)
        };
        let potentials: Vec<Option<Vec<f64>>> = (1..h.levels())
            .map(|k| {
                if self.potentials[k - 1].is_none() && self.reference.is_none() {
                    Ok(None)
                } else {
                    self.effective(k, beta, temperatures, pool.take(h.size(k)))
                        .map(Some)
                }
            })
            .collect::<Result<_>>()?;
        let weights: Vec<Option<&[f64]>> = (0..h.levels()).map(|k| self.level_loss(k)).collect();
        let solved = tiled::solve_expecting(
            h,
            &potentials,
            &g0,
            temperatures.cumulative_slice(),
            Tiling::default(),
            pool,
            &weights,
        )
        .map_err(|e| self.overflow_or(e))
        .and_then(|solved| match solved.free_energy.is_finite() {
            true => Ok(solved),
            // -inf (or NaN) from finite input: losses so negative their sum overflows.
            false => Err(Error::overflow("the free energy", None, None)),
        });
        let solved = match solved {
            Ok(solved) => solved,
            Err(e) => {
                potentials.into_iter().flatten().for_each(|u| pool.give(u));
                return Err(e);
            }
        };
        let (free_energy, marginals, conditional_entropies, expected) = (
            solved.free_energy,
            solved.marginals,
            solved.conditional_entropies,
            solved.expectations,
        );
        // With a reference, where the sweep's `F` or `sum P log(P/Q)` may have lost digits
        // (`Reference::at_risk`), F and the divergences by Theorem B's own recursion.
        let (free_energy, relative) = match &self.reference {
            None => (free_energy, None),
            Some(q) => {
                let cumulative = temperatures.cumulative_slice();
                let relative: Vec<f64> = (marginals.iter().enumerate())
                    .map(|(k, p)| q.relative_entropy(k, p))
                    .collect();
                if q.at_risk(free_energy, &relative, cumulative, &marginals) {
                    let loss = |k: usize, i: usize| match self.level_loss(k).map_or(0.0, |u| u[i]) {
                        u if u == f64::INFINITY => u,
                        u => beta * u,
                    };
                    let (f, d) = q.theorem_b(h, &loss, cumulative, &marginals);
                    (f, Some(d))
                } else {
                    (free_energy, Some(relative))
                }
            }
        };
        Ok(Solution::new(
            Arc::clone(&self.hierarchy),
            temperatures.clone(),
            free_energy,
            g0,
            potentials,
            marginals,
            conditional_entropies,
            expected,
            relative,
        ))
    }

    /// `u_k` in block order (`None`: identically zero).
    pub(crate) fn level_loss(&self, level: usize) -> Option<&[f64]> {
        if level == 0 {
            Some(&self.loss)
        } else {
            self.potentials[level - 1].as_deref()
        }
    }

    /// Effective level-`k` loss of the sweep, block order:
    /// `beta * u_k - tau_k log Q_k` (`+inf` where `u_k = +inf` or `Q_k = 0`).
    /// Written into `out` (cleared first; its capacity is reused).
    fn effective(
        &self,
        level: usize,
        beta: f64,
        t: &Temperatures,
        mut out: Vec<f64>,
    ) -> Result<Vec<f64>> {
        let n = self.hierarchy.size(level);
        let u = self.level_loss(level);
        let log_q = self.reference.as_ref().map(|q| q.log(level));
        let tau = t.tau(level);
        out.clear();
        let values = (0..n).map(|i| {
            let ui = u.map_or(0.0, |u| u[i]);
            if ui == f64::INFINITY {
                return Ok(f64::INFINITY);
            }
            let mut v = beta * ui;
            if let Some(log_q) = log_q {
                if log_q[i] == f64::NEG_INFINITY {
                    return Ok(f64::INFINITY);
                }
                if tau > 0.0 {
                    v -= tau * log_q[i];
                }
            }
            if v.is_finite() {
                Ok(v)
            } else {
                let user = self.hierarchy.user_index(level, i);
                Err(Error::overflow("the scaled loss", Some(level), Some(user)))
            }
        });
        for v in values {
            out.push(v?);
        }
        Ok(out)
    }

    /// The total loss of every level-0 state in block order, `+inf` where the reference
    /// (if any) has no mass: the states a constrained problem may use.
    pub(crate) fn allowed_total_loss(&self) -> Vec<f64> {
        let mut f = self.total_loss_block();
        if let Some(q) = &self.reference {
            (f.iter_mut().enumerate())
                .filter(|&(i, _)| !q.allows(0, i))
                .for_each(|(_, x)| *x = f64::INFINITY);
        }
        f
    }

    /// [`Problem::allowed_total_loss`] with its range `[min f, max f]` over allowed states.
    ///
    /// # Errors
    /// [`Error::AllForbidden`] if no state has a finite total loss (and reference mass).
    pub(crate) fn allowed_loss_range(&self) -> Result<(Vec<f64>, f64, f64)> {
        let f = self.allowed_total_loss();
        let (fmin, fmax) = f
            .iter()
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if let Some(x) = self.overflowed_state(&f) {
            let i = self.hierarchy.user_index(0, x);
            return Err(Error::overflow("the total loss", Some(0), Some(i)));
        }
        if fmin > fmax {
            return Err(Error::AllForbidden(
                "no state has a finite total loss and positive reference mass".to_string(),
            ));
        }
        Ok((f, fmin, fmax))
    }

    /// Whether level-0 state `x` (block order) is allowed by the input: no `+inf` loss on it
    /// or on an ancestor, and positive reference mass. Its total loss may still overflow.
    fn allowed_by_input(&self) -> Vec<bool> {
        let h = &*self.hierarchy;
        let d = h.depth();
        let finite =
            |k: usize, pos: usize| self.level_loss(k).is_none_or(|u| u[pos] < f64::INFINITY);
        let mut allowed: Vec<bool> = (0..h.size(d)).map(|y| finite(d, y)).collect();
        for k in (0..d).rev() {
            let layout = h.layout(k);
            let mut fine = vec![false; h.size(k)];
            for (y, &a) in allowed.iter().enumerate() {
                for x in layout.block(y) {
                    fine[x] = a && finite(k, x);
                }
            }
            allowed = fine;
        }
        if let Some(q) = &self.reference {
            (allowed.iter_mut().enumerate()).for_each(|(i, a)| *a &= q.allows(0, i));
        }
        allowed
    }

    /// The first state (block order) the input allows but whose total loss `f` (block order)
    /// is not finite: finite losses that overflow `f64` when added.
    fn overflowed_state(&self, f: &[f64]) -> Option<usize> {
        self.allowed_by_input()
            .iter()
            .zip(f)
            .position(|(&a, f)| a && !f.is_finite())
    }

    /// `e`, or [`Error::Overflow`] in its place when `e` says every state is forbidden but
    /// the input allows one: its loss overflowed in the sweep, it was not forbidden.
    fn overflow_or(&self, e: Error) -> Error {
        match e {
            Error::AllForbidden(_) if self.allowed_by_input().contains(&true) => Error::overflow(
                "the renormalised loss of every allowed state (a sum of finite losses)",
                None,
                None,
            ),
            e => e,
        }
    }

    /// The reference `Q_0..Q_d` (and `log Q_k`) in block order, if any.
    pub(crate) fn reference_levels(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }

    /// The same hierarchy and reference with level-0 loss `mask` (block order) and no
    /// potentials: the face of a constraint boundary.
    pub(crate) fn face(&self, mask: Vec<f64>) -> Result<Problem> {
        Ok(Problem {
            hierarchy: Arc::clone(&self.hierarchy),
            loss: Arc::new(mask),
            potentials: vec![None; self.hierarchy.depth()],
            reference: self.reference.clone(),
        })
    }

    /// The total loss `f = u_0 + u_1∘T_1 + ... ` of every level-0 state (user order).
    pub fn total_loss(&self) -> Vec<f64> {
        let acc = self.total_loss_block();
        let mut out = vec![0.0; acc.len()];
        self.hierarchy.to_user_order(0, &acc, &mut out);
        out
    }

    fn total_loss_block(&self) -> Vec<f64> {
        let h = &*self.hierarchy;
        // Top-down: accumulate the potentials of the ancestors, in block order.
        let mut acc = vec![0.0; h.size(h.depth())];
        if let Some(u) = self.level_loss(h.depth()).filter(|_| h.depth() > 0) {
            acc.copy_from_slice(u);
        }
        for k in (0..h.depth()).rev() {
            let layout = h.layout(k);
            let mut fine = vec![0.0; h.size(k)];
            for (y, &a) in acc.iter().enumerate() {
                fine[layout.block(y)].iter_mut().for_each(|x| *x = a);
            }
            if let Some(u) = self.level_loss(k) {
                fine.iter_mut().zip(u).for_each(|(x, &u)| *x += u);
            }
            acc = fine;
        }
        if h.depth() == 0 {
            acc.copy_from_slice(&self.loss);
        }
        acc
    }

    /// The objective `J(P) = E_P[sum_k u_k] - sum_k tau_k H_P(Y_k)` (with a reference:
    /// `+ sum_k tau_k D(P_k || Q_k)`) of any distribution `p` on level 0 (user order),
    /// computed directly from its push-forwards. `F <= J(P)` for every `P`, with equality
    /// only at `P*` (docs/concepts.md, "5. Theorem A"). `p` is normalised first.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::InvalidValue`] for negative or non-finite entries,
    /// [`Error::AllForbidden`] if `p` sums to 0.
    pub fn objective(&self, p: &[f64], temperatures: &Temperatures) -> Result<f64> {
        let h = &*self.hierarchy;
        temperatures.expect_levels(h.levels())?;
        let levels = h.push_forwards(h.distribution("p", p)?);
        let mut j = 0.0;
        for (k, level) in levels.iter().enumerate() {
            j += expectation(level, self.level_loss(k));
            let tau = temperatures.tau(k);
            j += match &self.reference {
                Some(q) => tau * q.relative_entropy(k, level),
                None => -tau * level.iter().map(|&x| entropy_term(x)).sum::<f64>(),
            };
        }
        Ok(j)
    }
}

impl LevelLosses for Problem {
    fn level_loss(&self, level: usize) -> Option<&[f64]> {
        Problem::level_loss(self, level)
    }
}
