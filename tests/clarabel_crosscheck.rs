//! An independent convex solution of the same problems: Clarabel's interior-point method on
//! an exponential-cone program (docs/concepts.md, sections 4, 5, 6), against the one-sweep engine.
//!
//! Variables: `p_x` for every allowed level-0 state `x`, and one epigraph variable
//! `t_{k,y}` for every level `k` with `tau_k > 0` and every level-`k` state `y` with an
//! allowed descendant. The level marginals are linear push-forwards of `p`,
//! `q_k(y) = sum_{x -> y} p_x`, and each entropy term has the cone constraint
//!
//! ```text
//! (t_{k,y}, q_k(y), r_k(y)) in K_exp = {(x, y, z): y exp(x / y) <= z}
//!     <=>  t_{k,y} <= -q_k(y) log(q_k(y) / r_k(y)),
//! ```
//!
//! with `r = 1` (Shannon entropy) or `r = Q_k` (relative entropy, Theorem B). The program
//! is `min sum_x f(x) p_x - sum_{k,y} tau_k t_{k,y}` subject to `sum_x p_x = 1`, `p >= 0`:
//! its optimum is `F` and its solution `P*`. The mean-constrained form replaces the loss by
//! the equality `sum_x f(x) p_x = c` and maximises `sum w_k t_{k,y}`.
//!
//! Tolerances: objective `1e-7`, marginals `1e-6` absolute. The interior-point solution is
//! the limiting factor: its optimal value is good to about `1e-12`, but its point only to
//! about the square root of that, since the objective is flat to second order at the
//! optimum (measured: free energy within `6e-12`, marginals within `9.5e-7` on the 40
//! instances of seed 2026; `3e-7` on the constrained ones). The brute-force objective at
//! Clarabel's point is checked as well: it may not fall below `F` (Theorem A).

#![allow(non_snake_case)]

use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};
use hmaxent::constraints::MeanConstraint;
use hmaxent::{Hierarchy, Problem, Temperatures};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A small random problem (user order).
#[derive(Debug, Clone)]
struct Instance {
    sizes: Vec<usize>,
    parents: Vec<Vec<usize>>,
    loss: Vec<f64>,
    potentials: Option<Vec<Vec<f64>>>,
    reference: Option<Vec<f64>>,
    tau: Vec<f64>,
}

impl Instance {
    fn random(rng: &mut StdRng) -> Self {
        let d = rng.random_range(1..=2usize);
        let n0 = rng.random_range(2..=8usize);
        let mut sizes = vec![n0];
        for _ in 0..d {
            let prev = *sizes.last().unwrap();
            sizes.push(rng.random_range(1..=prev));
        }
        let parents: Vec<Vec<usize>> = sizes
            .windows(2)
            .map(|w| (0..w[0]).map(|_| rng.random_range(0..w[1])).collect())
            .collect();
        let value = |rng: &mut StdRng| {
            if rng.random::<f64>() < 0.15 {
                f64::INFINITY
            } else {
                rng.random_range(-2.0..2.0)
            }
        };
        let loss: Vec<f64> = (0..n0).map(|_| value(rng)).collect();
        let potentials = (rng.random::<f64>() < 0.5).then(|| {
            sizes[1..]
                .iter()
                .map(|&n| (0..n).map(|_| value(rng)).collect())
                .collect()
        });
        let reference = (rng.random::<f64>() < 0.4).then(|| {
            (0..n0)
                .map(|_| {
                    if rng.random::<f64>() < 0.15 {
                        0.0
                    } else {
                        rng.random_range(0.1..2.0)
                    }
                })
                .collect()
        });
        let mut tau = vec![rng.random_range(0.2..2.0)];
        for _ in 0..d {
            tau.push(if rng.random::<f64>() < 0.25 {
                0.0
            } else {
                rng.random_range(0.1..2.0)
            });
        }
        Self {
            sizes,
            parents,
            loss,
            potentials,
            reference,
            tau,
        }
    }

    fn problem(&self) -> Problem {
        let h = Hierarchy::new(self.sizes.clone(), self.parents.clone()).unwrap();
        let mut p = Problem::new(&h, &self.loss).unwrap();
        if let Some(u) = &self.potentials {
            p = p.with_potentials(u).unwrap();
        }
        if let Some(q) = &self.reference {
            p = p.with_reference(q).unwrap();
        }
        p
    }

    /// Level-`k` state of level-0 state `x`.
    fn ancestor(&self, x: usize, k: usize) -> usize {
        (0..k).fold(x, |y, j| self.parents[j][y])
    }

    fn total_loss(&self) -> Vec<f64> {
        (0..self.sizes[0])
            .map(|x| {
                let mut f = self.loss[x];
                if let Some(u) = &self.potentials {
                    for k in 1..self.sizes.len() {
                        f += u[k - 1][self.ancestor(x, k)];
                    }
                }
                f
            })
            .collect()
    }

    fn allowed(&self) -> Vec<bool> {
        let f = self.total_loss();
        (0..self.sizes[0])
            .map(|x| f[x].is_finite() && self.reference.as_ref().is_none_or(|q| q[x] > 0.0))
            .collect()
    }

    /// `r_k(y)`: the normalised reference marginal, or 1.
    fn r(&self, k: usize, y: usize) -> f64 {
        match &self.reference {
            None => 1.0,
            Some(q) => {
                let total: f64 = q.iter().sum();
                (0..self.sizes[0])
                    .filter(|&x| self.ancestor(x, k) == y)
                    .map(|x| q[x] / total)
                    .sum()
            }
        }
    }
}

/// What the cone program returns: optimal value and the level-0 distribution (user order).
struct ConeSolution {
    value: f64,
    p: Vec<f64>,
}

/// Solves `min sum_x lin(x) p_x - sum_{k,y} weight_k t_{k,y}` over the allowed states, with
/// `sum p = 1` and, if `mean` is given, `sum f p = mean`.
fn cone_program(inst: &Instance, lin: &[f64], weight: &[f64], mean: Option<f64>) -> ConeSolution {
    let ok = inst.allowed();
    let vars: Vec<usize> = (0..inst.sizes[0]).filter(|&x| ok[x]).collect();
    let m = vars.len();
    // Epigraph variables: (level, state, its allowed descendants as variable indices).
    let mut epi: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for (k, &w) in weight.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        for y in 0..inst.sizes[k] {
            let desc: Vec<usize> = (0..m).filter(|&j| inst.ancestor(vars[j], k) == y).collect();
            if !desc.is_empty() {
                epi.push((k, y, desc));
            }
        }
    }
    let n = m + epi.len();
    let mut q = vec![0.0; n];
    for (j, &x) in vars.iter().enumerate() {
        q[j] = lin[x];
    }
    for (i, (k, _, _)) in epi.iter().enumerate() {
        q[m + i] = -weight[*k];
    }
    // Rows: equalities, then p >= 0, then three rows per exponential cone.
    let (mut I, mut J, mut V) = (Vec::new(), Vec::new(), Vec::new());
    let mut b = Vec::new();
    let mut row = 0;
    for j in 0..m {
        I.push(row);
        J.push(j);
        V.push(1.0);
    }
    b.push(1.0);
    row += 1;
    let f = inst.total_loss();
    if let Some(c) = mean {
        for (j, &x) in vars.iter().enumerate() {
            I.push(row);
            J.push(j);
            V.push(f[x]);
        }
        b.push(c);
        row += 1;
    }
    let n_eq = row;
    for j in 0..m {
        I.push(row);
        J.push(j);
        V.push(-1.0);
        b.push(0.0);
        row += 1;
    }
    for (i, (k, y, desc)) in epi.iter().enumerate() {
        // s = b - A v = (t, q_k(y), r_k(y)).
        I.push(row);
        J.push(m + i);
        V.push(-1.0);
        b.push(0.0);
        for &j in desc {
            I.push(row + 1);
            J.push(j);
            V.push(-1.0);
        }
        b.push(0.0);
        b.push(inst.r(*k, *y));
        row += 3;
    }
    let A = CscMatrix::new_from_triplets(row, n, I, J, V);
    let P = CscMatrix::zeros((n, n));
    let mut cones = vec![
        SupportedConeT::ZeroConeT(n_eq),
        SupportedConeT::NonnegativeConeT(m),
    ];
    cones.extend(epi.iter().map(|_| SupportedConeT::ExponentialConeT()));
    let settings = DefaultSettings {
        verbose: false,
        max_iter: 500,
        tol_gap_abs: 1e-13,
        tol_gap_rel: 1e-13,
        tol_feas: 1e-13,
        tol_ktratio: 1e-10,
        ..DefaultSettings::default()
    };
    let mut solver = DefaultSolver::new(&P, &q, &A, &b, &cones, settings);
    solver.solve();
    let sol = &solver.solution;
    assert!(
        matches!(
            sol.status,
            SolverStatus::Solved | SolverStatus::AlmostSolved
        ),
        "clarabel: {:?} on {inst:?}",
        sol.status
    );
    let mut p = vec![0.0; inst.sizes[0]];
    for (j, &x) in vars.iter().enumerate() {
        p[x] = sol.x[j].max(0.0);
    }
    ConeSolution {
        value: sol.obj_val,
        p,
    }
}

/// `J(P) = E_P f - sum_k tau_k H(P_k)` (with a reference `+ sum_k tau_k D(P_k || Q_k)`),
/// by enumeration.
fn objective(inst: &Instance, p: &[f64]) -> f64 {
    let f = inst.total_loss();
    let mut j: f64 = p
        .iter()
        .zip(&f)
        .filter(|(&p, _)| p > 0.0)
        .map(|(p, f)| p * f)
        .sum();
    let mut level = p.to_vec();
    for k in 0..inst.sizes.len() {
        let reg: f64 = level
            .iter()
            .enumerate()
            .filter(|(_, &q)| q > 0.0)
            .map(|(y, &q)| q * (q / inst.r(k, y)).ln())
            .sum();
        j += inst.tau[k] * reg;
        if k + 1 < inst.sizes.len() {
            level = push(&level, &inst.parents[k], inst.sizes[k + 1]);
        }
    }
    j
}

fn push(p: &[f64], parent: &[usize], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for (i, &y) in parent.iter().enumerate() {
        out[y] += p[i];
    }
    out
}

/// Compares every level's marginal with the cone program's push-forwards to `1e-6`.
fn assert_marginals_agree(inst: &Instance, cone: &[f64], sol: &hmaxent::Solution, what: &str) {
    let mut level = cone.to_vec();
    for k in 0..inst.sizes.len() {
        for (y, (a, b)) in sol.marginal(k).iter().zip(&level).enumerate() {
            assert!(
                (a - b).abs() < 1e-6,
                "{what}: P*_{k}({y}) = {a}, clarabel {b} on {inst:?}"
            );
        }
        if k + 1 < inst.sizes.len() {
            level = push(&level, &inst.parents[k], inst.sizes[k + 1]);
        }
    }
}

fn instances(seed: u64, count: usize) -> Vec<Instance> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    while out.len() < count {
        let inst = Instance::random(&mut rng);
        if inst.allowed().iter().any(|&a| a) {
            out.push(inst);
        }
    }
    out
}

/// proofs/theorem_a.md, proofs/theorem_b.md
#[test]
fn the_sweep_agrees_with_an_exponential_cone_program() {
    let mut worst = (0.0f64, 0.0f64);
    for (i, inst) in instances(2026, 40).iter().enumerate() {
        let sol = inst
            .problem()
            .solve(&Temperatures::new(&inst.tau).unwrap())
            .unwrap();
        let cone = cone_program(inst, &inst.total_loss(), &inst.tau, None);
        let err = (sol.free_energy() - cone.value).abs();
        assert!(
            err < 1e-7 * (1.0 + cone.value.abs()),
            "case {i}: F = {}, clarabel {} on {inst:?}",
            sol.free_energy(),
            cone.value
        );
        assert_marginals_agree(inst, &cone.p, &sol, &format!("case {i}"));
        // The objective at Clarabel's point, by enumeration: never below F (Theorem A), and
        // above it only by the cone solver's own inaccuracy.
        let j = objective(inst, &cone.p);
        let f = sol.free_energy();
        assert!(
            j >= f - 1e-12 * (1.0 + f.abs()) && j <= f + 1e-9 * (1.0 + f.abs()),
            "case {i}: J(clarabel) = {j}, F = {f}"
        );
        let perr = sol
            .marginal(0)
            .iter()
            .zip(&cone.p)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        worst = (worst.0.max(err), worst.1.max(perr));
    }
    eprintln!(
        "largest differences: free energy {:.1e}, level-0 marginal {:.1e}",
        worst.0, worst.1
    );
}

/// proofs/monotonicity.md (the mean-constrained optimum)
#[test]
fn the_mean_constrained_optimum_agrees_with_an_exponential_cone_program() {
    let mut checked = 0;
    for (i, inst) in instances(7, 40).iter().enumerate() {
        let f = inst.total_loss();
        let ok = inst.allowed();
        let fin: Vec<f64> = (0..f.len()).filter(|&x| ok[x]).map(|x| f[x]).collect();
        let (lo, hi) = fin
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if hi - lo < 0.1 {
            continue;
        }
        for frac in [0.2, 0.5, 0.8] {
            let c = lo + frac * (hi - lo);
            let fit = hmaxent::constraints::solve_mean(
                &inst.problem(),
                &inst.tau,
                MeanConstraint::Equal(c),
            )
            .unwrap();
            let zero = vec![0.0; f.len()];
            let cone = cone_program(inst, &zero, &inst.tau, Some(c));
            // The cone program minimises -sum w H (or sum w D): its value is -objective.
            assert!(
                (fit.objective + cone.value).abs() < 1e-7 * (1.0 + cone.value.abs()),
                "case {i}, c = {c}: objective {}, clarabel {} on {inst:?}",
                fit.objective,
                -cone.value
            );
            assert_marginals_agree(inst, &cone.p, &fit.solution, &format!("case {i}, c = {c}"));
            checked += 1;
        }
    }
    assert!(
        checked >= 60,
        "only {checked} constrained instances checked"
    );
}
