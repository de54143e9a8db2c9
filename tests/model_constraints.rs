//! Constraints through every model (proofs/model_interface.md): the mean-constrained problem
//! solved through a family's flow equals the tabulated engine's on the same instance
//! (multiplier, entropies, `E f` to `1e-10` relative), the attainable interval and the
//! boundary limits agree with the tabulated problem, the Gaussian's closed-form multiplier
//! equals a root found by bisection, and the CLI follows the constrained-flow contract.

use hmaxent::constraints::solve_mean;
use hmaxent::constraints::{frontier, MeanConstraint};
use hmaxent::families::cascade::Cascade;
use hmaxent::families::chain::{Boundary, Chain};
use hmaxent::families::quadratic::{modular_matrix, sibling_average, Modular, Quadratic};
use hmaxent::model::Model;

#[path = "common/cascades.rs"]
mod cascades;
#[path = "common/chains.rs"]
mod chains;
use cascades::random_cascade;
use chains::{chains, rel};
use hmaxent::{cli, Hierarchy, Problem, Temperatures};
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const INF: f64 = f64::INFINITY;

/// Random weights (`w_0` in [0.3, 2], coarse levels in [0, 2] or zero) and a target at a
/// random fraction in [0.05, 0.95] of the attainable interval.
fn weights_and_target(levels: usize, min: f64, max: f64, seed: u64) -> (Vec<f64>, f64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let w: Vec<f64> = (0..levels)
        .map(|k| match (k, rng.random_range(0..3)) {
            (0, _) => rng.random_range(0.3..2.0),
            (_, 0) => 0.0,
            _ => rng.random_range(0.0..2.0),
        })
        .collect();
    let c = min + rng.random_range(0.05..0.95) * (max - min);
    (w, c)
}

/// The family's constrained solve against the tabulated engine's on `problem`.
fn compare<M: Model>(model: &M, problem: &Problem, w: &[f64], c: MeanConstraint) {
    let fam = solve_mean(model, w, c).unwrap();
    let tab = solve_mean(problem, w, c).unwrap();
    match (fam.multiplier, tab.multiplier) {
        (Some(a), Some(b)) => assert!(rel(a, b) < 1e-10, "multiplier {a} vs {b}"),
        (a, b) => assert_eq!(a, b),
    }
    assert_eq!(fam.boundary, tab.boundary);
    let e = tab.solution.expected_total_loss();
    assert!(
        rel(fam.point.expected_loss, e) < 1e-10,
        "E f {} vs {e}",
        fam.point.expected_loss
    );
    for (k, (a, b)) in fam
        .point
        .entropies
        .iter()
        .zip(tab.solution.entropies())
        .enumerate()
    {
        assert!(rel(*a, *b) < 1e-10, "H(Y_{k}) {a} vs {b}");
    }
    assert!(rel(fam.objective, tab.objective) < 1e-10);
    if let (Some(a), Some(b)) = (fam.free_energy, tab.free_energy) {
        assert!(rel(a, b) < 1e-10, "F {a} vs {b}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Chains (open, ring, homogeneous, inhomogeneous, hard constraints): the constrained
    /// solve through the flow equals the tabulated engine's, on both sides of the
    /// unconstrained mean (negative multipliers negate the bonds), for `=` and `<=`.
    #[test]
    fn constrained_chain_equals_the_tabulated_engine((chain, seed) in chains(0.2)) {
        let (_, problem) = chain.tabulate().unwrap();
        let range = match chain.loss_range() {
            Ok(r) => r,
            Err(e) => {
                // Every configuration forbidden: the tabulated problem says so too.
                prop_assert_eq!(word(&e), "infeasible");
                prop_assert!(problem.total_loss().iter().all(|x| !x.is_finite()));
                return Ok(());
            }
        };
        let (_, tmin, tmax) = {
            let f: Vec<f64> = problem.total_loss().into_iter().filter(|x| x.is_finite()).collect();
            let lo = f.iter().cloned().fold(INF, f64::min);
            let hi = f.iter().cloned().fold(-INF, f64::max);
            ((), lo, hi)
        };
        prop_assert!(rel(range.min, tmin) < 1e-12 && rel(range.max, tmax) < 1e-12);
        let (w, c) = weights_and_target(chain.levels() + 1, tmin, tmax, seed);
        compare(&chain, &problem, &w, MeanConstraint::Equal(c));
        compare(&chain, &problem, &w, MeanConstraint::AtMost(c));
    }

    /// Cascades (homogeneous and general, with zeros): likewise (negative multipliers negate
    /// kappa).
    #[test]
    fn constrained_cascade_equals_the_tabulated_engine(
        b in 2usize..=3, depth in 1usize..=3, general in any::<bool>(), seed in any::<u64>(),
        kappa in 0.2f64..3.0,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let cascade = random_cascade(b, depth, general, kappa, &mut rng);
        let (_, problem) = cascade.tabulate().unwrap();
        let range = cascade.loss_range().unwrap();
        let f: Vec<f64> = problem.total_loss().into_iter().filter(|x| x.is_finite()).collect();
        let tmin = f.iter().cloned().fold(INF, f64::min);
        let tmax = f.iter().cloned().fold(-INF, f64::max);
        prop_assert!(rel(range.min, tmin) < 1e-12 && rel(range.max, tmax) < 1e-12);
        prop_assume!(tmax - tmin > 1e-6);
        let (w, c) = weights_and_target(depth + 1, tmin, tmax, seed);
        compare(&cascade, &problem, &w, MeanConstraint::Equal(c));
        compare(&cascade, &problem, &w, MeanConstraint::AtMost(c));
    }
}

/// The tabulated problem through the model interface equals its own solver.
#[test]
fn problem_through_the_model_interface_equals_solve_mean() {
    let h = Hierarchy::new(vec![6, 3, 1], vec![vec![0, 0, 1, 1, 2, 2], vec![0, 0, 0]]).unwrap();
    let p = Problem::new(&h, &[0.0, 0.3, 1.0, INF, 2.0, 2.5])
        .unwrap()
        .with_potentials(&[vec![0.1, -0.2, 0.4], vec![0.0]])
        .unwrap();
    for c in [0.2, 0.9, 1.7, 2.6] {
        compare(&p, &p, &[1.0, 0.5, 0.25], MeanConstraint::Equal(c));
    }
    let q = p
        .clone()
        .with_reference(&[0.1, 0.2, 0.3, 0.1, 0.2, 0.1])
        .unwrap();
    compare(&q, &q, &[1.0, 0.5, 0.25], MeanConstraint::Equal(0.9));
}

/// At `c = min f` and `c = max f` an open chain returns the limit on its minimisers
/// (maximisers), as the tabulated engine does; a ring refuses with `invalid_input`.
#[test]
fn chain_boundaries_equal_the_tabulated_limits() {
    let bonds = vec![
        0.0, 1.0, 1.0, 0.5, //
        0.0, 0.0, 2.0, 1.0, //
        1.0, 0.0, 0.0, INF, //
        0.5, 0.5, 0.5, 0.0,
    ];
    let chain = Chain::inhomogeneous(2, 2, Boundary::Open, bonds.clone()).unwrap();
    let (_, problem) = chain.tabulate().unwrap();
    let range = chain.loss_range().unwrap();
    let w = [1.0, 0.7, 0.3];
    for c in [range.min, range.max] {
        let fam = solve_mean(&chain, &w, MeanConstraint::Equal(c)).unwrap();
        let tab = solve_mean(&problem, &w, MeanConstraint::Equal(c)).unwrap();
        assert!(fam.boundary && tab.boundary && fam.multiplier.is_none());
        assert_eq!(fam.point.expected_loss, c);
        for (a, b) in fam.point.entropies.iter().zip(tab.solution.entropies()) {
            assert!(rel(*a, *b) < 1e-12, "{a} vs {b}");
        }
    }
    let homogeneous = Chain::homogeneous(
        3,
        2,
        Boundary::Open,
        &[0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0],
    )
    .unwrap();
    let (_, problem) = homogeneous.tabulate().unwrap();
    let r = homogeneous.loss_range().unwrap();
    for c in [r.min, r.max] {
        let fam = solve_mean(&homogeneous, &w, MeanConstraint::Equal(c)).unwrap();
        let tab = solve_mean(&problem, &w, MeanConstraint::Equal(c)).unwrap();
        for (a, b) in fam.point.entropies.iter().zip(tab.solution.entropies()) {
            assert!(rel(*a, *b) < 1e-12, "{a} vs {b}");
        }
    }
    let ring = Chain::inhomogeneous(2, 2, Boundary::Ring, bonds).unwrap();
    let r = ring.loss_range().unwrap();
    let e = solve_mean(&ring, &w, MeanConstraint::Equal(r.min)).unwrap_err();
    assert_eq!(word(&e), "invalid_input");
    assert!(e.to_string().contains("min f"));
}

/// A homogeneous cascade's boundary limit is the uniform cascade on the extreme children,
/// as the tabulated engine finds.
#[test]
fn cascade_boundaries_equal_the_tabulated_limits() {
    let c = Cascade::homogeneous(1.5, 3, 2, &[vec![0.4, 0.4, 0.2], vec![0.1, 0.0, 0.9]]).unwrap();
    let (_, problem) = c.tabulate().unwrap();
    let r = c.loss_range().unwrap();
    let w = [1.0, 0.5, 2.0];
    for target in [r.min, r.max] {
        let fam = solve_mean(&c, &w, MeanConstraint::Equal(target)).unwrap();
        let tab = solve_mean(&problem, &w, MeanConstraint::Equal(target)).unwrap();
        assert!(fam.boundary && tab.boundary);
        for (a, b) in fam.point.entropies.iter().zip(tab.solution.entropies()) {
            assert!(rel(*a, *b) < 1e-12, "{a} vs {b}");
        }
    }
}

/// The Gaussian's closed-form multiplier `K(w) / (c - min f)` equals the root of
/// `E_lambda f = c` found by bisection on the flow itself; the modular family equals the
/// general flow on the same matrix.
#[test]
fn gaussian_multiplier_is_the_closed_form_root() {
    let a = DMatrix::from_row_slice(
        4,
        4,
        &[
            3.0, 1.0, 0.0, 0.5, 1.0, 2.0, 0.3, 0.0, 0.0, 0.3, 1.5, 0.2, 0.5, 0.0, 0.2, 1.0,
        ],
    );
    let b = DVector::from_vec(vec![1.0, -0.5, 0.25, 2.0]);
    let m1 = DMatrix::from_row_slice(2, 4, &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    let m2 = DMatrix::from_row_slice(1, 2, &[1.0, 1.0]);
    let q = Quadratic::new(a.clone(), b.clone(), vec![m1, m2]).unwrap();
    let min_f = -0.5 * b.dot(&a.clone().cholesky().unwrap().solve(&b));
    let w = [1.0, 0.5, 2.0];
    let c = min_f + 1.7;
    let fit = solve_mean(&q, &w, MeanConstraint::Equal(c)).unwrap();
    let e_at = |lambda: f64| {
        let t = Temperatures::new(&w.map(|x| x / lambda)).unwrap();
        q.solve(&t).unwrap().expected_loss - c
    };
    let (mut lo, mut hi) = (1e-3f64, 1e3f64);
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if e_at(mid) > 0.0 {
            lo = mid
        } else {
            hi = mid
        }
    }
    let lambda = fit.multiplier.unwrap();
    assert!(rel(lambda, lo) < 1e-10, "{lambda} vs {lo}");
    assert!(rel(fit.point.expected_loss, c) < 1e-12);
    // E f <= c always binds; c <= min f is infeasible (open interval).
    let at_most = solve_mean(&q, &w, MeanConstraint::AtMost(c)).unwrap();
    assert_eq!(at_most.multiplier, fit.multiplier);
    let e = solve_mean(&q, &w, MeanConstraint::Equal(min_f)).unwrap_err();
    assert_eq!(word(&e), "infeasible");
    assert!(e.to_string().contains("+inf)"), "{e}");

    // Modular: entropies, expected loss and free energy equal the general flow's.
    let (br, depth, lambdas) = (2usize, 3usize, [1.0, 2.5, 0.7, 4.0]);
    let general = Quadratic::new(
        modular_matrix(br, depth, &lambdas),
        DVector::zeros(8),
        (0..depth).map(|k| sibling_average(br, depth - k)).collect(),
    )
    .unwrap();
    let modular = Modular::new(br, depth, &lambdas).unwrap();
    let w = [1.0, 0.3, 0.0, 2.0];
    let fm = solve_mean(&modular, &w, MeanConstraint::Equal(3.0)).unwrap();
    let fg = solve_mean(&general, &w, MeanConstraint::Equal(3.0)).unwrap();
    assert!(rel(fm.multiplier.unwrap(), fg.multiplier.unwrap()) < 1e-12);
    for (x, y) in fm.point.entropies.iter().zip(&fg.point.entropies) {
        assert!(rel(*x, *y) < 1e-12, "{x} vs {y}");
    }
    assert!(rel(fm.free_energy.unwrap(), fg.free_energy.unwrap()) < 1e-12);
}

/// The modular closed form equals the general flow at fixed temperatures too.
#[test]
fn modular_entropies_match_the_general_flow() {
    for (br, depth) in [(2usize, 2usize), (3, 2), (2, 3)] {
        let lambdas: Vec<f64> = (0..=depth).map(|j| 0.5 + j as f64).collect();
        let n = br.pow(depth as u32);
        let general = Quadratic::new(
            modular_matrix(br, depth, &lambdas),
            DVector::zeros(n),
            (0..depth).map(|k| sibling_average(br, depth - k)).collect(),
        )
        .unwrap();
        let tau: Vec<f64> = (0..=depth).map(|k| 0.3 + 0.4 * k as f64).collect();
        let t = Temperatures::new(&tau).unwrap();
        let g = general.solve(&t).unwrap();
        let m = Modular::new(br, depth, &lambdas)
            .unwrap()
            .solve(&t)
            .unwrap();
        for (x, y) in m.entropies.iter().zip(&g.entropies) {
            assert!(rel(*x, *y) < 1e-12, "{x} vs {y}");
        }
        assert!(rel(m.expected_loss, g.expected_loss) < 1e-12);
        assert!(rel(m.free_energy, g.free_energy) < 1e-12);
    }
}

/// The kind word of the CLI's error line (`error: <kind>: ...`).
fn word(e: &hmaxent::Error) -> String {
    cli::error_line(e)
        .split(':')
        .nth(1)
        .unwrap()
        .trim()
        .to_string()
}

fn run(input: Value) -> Result<Value, String> {
    cli::flow::run(&input, true).map_err(|e| word(&e))
}

/// The constrained-flow contract: output fields, signs, slack, boundary, and bad input.
#[test]
fn constrained_flow_cli_follows_the_contract() {
    let base = json!({"family": "chain", "levels": 2, "boundary": "open",
                      "bond": [[0.0, 1.0], [1.0, 0.0]], "weights": [1.0, 1.0, 1.0], "mean": 1.0});
    let v = run(base.clone()).unwrap();
    for k in [
        "multiplier",
        "boundary",
        "objective",
        "temperatures",
        "free_energy",
        "entropies",
        "expected_loss",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert!(v["multiplier"].as_f64().unwrap() > 0.0);
    assert!((v["expected_loss"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    let with = |k: &str, x: Value| {
        let mut m = base.clone();
        m[k] = x;
        m
    };
    // Above the unconstrained mean (2): negative multiplier, negative temperatures.
    let v = run(with("mean", json!(3.0))).unwrap();
    assert!(v["multiplier"].as_f64().unwrap() < 0.0);
    assert!(v["temperatures"][0].as_f64().unwrap() < 0.0);
    // Slack: multiplier 0 and the unconstrained optimum.
    let mut slack = base.clone();
    slack.as_object_mut().unwrap().remove("mean");
    slack["mean_at_most"] = json!(3.0);
    let v = run(slack).unwrap();
    assert_eq!(v["multiplier"].as_f64(), Some(0.0));
    assert!((v["expected_loss"].as_f64().unwrap() - 2.0).abs() < 1e-12);
    // Boundary: null multiplier, boundary true.
    let v = run(with("mean", json!(0.0))).unwrap();
    assert_eq!(v["boundary"], json!(true));
    assert!(v["multiplier"].is_null());
    // Bad input.
    assert_eq!(
        run(with("temperatures", json!([1.0, 1.0, 1.0]))).unwrap_err(),
        "invalid_input"
    );
    let mut no_mean = base.clone();
    no_mean.as_object_mut().unwrap().remove("mean");
    assert_eq!(run(no_mean).unwrap_err(), "invalid_input");
    assert_eq!(
        run(with("weights", json!([0.0, 1.0, 1.0]))).unwrap_err(),
        "invalid_input"
    );
    assert_eq!(run(with("mean", json!(4.5))).unwrap_err(), "infeasible");
    let q = json!({"family": "quadratic-modular", "branching": 2, "depth": 1,
                   "eigenvalues": [1.0, 2.0], "weights": [1.0, 1.0], "mean": 0.0});
    assert_eq!(run(q).unwrap_err(), "infeasible");
    let q = json!({"family": "quadratic-modular", "branching": 2, "depth": 1,
                   "eigenvalues": [1.0, 2.0], "weights": [1.0, 1.0], "mean_at_most": 2.0});
    // E f = 1/2 (S_0 d_0 + S_1 d_1) / lambda with S = (1, 2), d = (1, 1): lambda = 1.5 / 2.
    let v = run(q).unwrap();
    assert!((v["multiplier"].as_f64().unwrap() - 0.75).abs() < 1e-15);
}

/// `hmaxent pareto` on family problems: the frontier of a chain equals the tabulated
/// frontier of the same instance point by point, and no point dominates another.
#[test]
fn pareto_over_a_family_equals_the_tabulated_frontier() {
    let bond = json!([[0.0, 1.0, 2.0], [1.0, 0.0, null], [0.5, 1.0, 0.0]]);
    let chain = json!({"family": "chain", "levels": 2, "boundary": "ring", "bond": bond,
                       "weights_grid": {"steps": 4}, "mean": 1.5});
    let fam = cli::pareto::run(&chain, None).unwrap();
    let c = hmaxent_chain(&bond);
    let (_, problem) = c.tabulate().unwrap();
    let weights = hmaxent::constraints::pareto::weights_grid(3, 4).unwrap();
    let tab = frontier(&problem, &weights, Some(MeanConstraint::Equal(1.5))).unwrap();
    let points = fam["points"].as_array().unwrap();
    assert_eq!(points.len(), tab.points.len());
    for (p, t) in points.iter().zip(&tab.points) {
        for (a, b) in p["entropies"].as_array().unwrap().iter().zip(&t.entropies) {
            assert!(rel(a.as_f64().unwrap(), *b) < 1e-10);
        }
        assert!(rel(p["multiplier"].as_f64().unwrap(), t.multiplier.unwrap()) < 1e-10);
        assert!(p["temperatures"].is_array());
    }
    assert_eq!(fam["dominated"], json!([]));
    // Unconstrained, a 2^40-site chain: criteria (-E f, H(Y_0..40)).
    let big = json!({"family": "chain", "levels": 40, "boundary": "open",
                     "bond": [[0.0, 1.0], [1.0, 0.0]], "weights_grid": {"steps": 1}});
    let v = cli::pareto::run(&big, None).unwrap();
    assert_eq!(v["points"].as_array().unwrap().len(), 1);
    // Bad input: temperatures, unknown fields.
    let mut bad = big.clone();
    bad["temperatures"] = json!([1.0]);
    assert_eq!(
        word(&cli::pareto::run(&bad, None).unwrap_err()),
        "invalid_input"
    );
    let mut bad = big;
    bad["loss"] = json!([1.0]);
    assert_eq!(
        word(&cli::pareto::run(&bad, None).unwrap_err()),
        "invalid_input"
    );
}

fn hmaxent_chain(bond: &Value) -> Chain {
    let rows = bond.as_array().unwrap();
    let q = rows.len();
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(INF))
        })
        .collect();
    Chain::homogeneous(q, 2, Boundary::Ring, &flat).unwrap()
}
