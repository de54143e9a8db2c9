//! docs/concepts.md, "11. Numerical policy": extreme but valid inputs stay finite and exact where a closed form exists, and
//! bad inputs are typed errors (never panics) with the right `kind()`.

use hmaxent::constraints::{solve_mean, MeanConstraint};
use hmaxent::{inverse, Error, ErrorKind, Hierarchy, Problem, Solution, Temperatures};

/// Every number a solution reports is finite; every marginal is a distribution consistent
/// with the level below.
fn assert_sane(sol: &Solution, what: &str) {
    let h = sol.hierarchy();
    assert!(
        sol.free_energy().is_finite(),
        "{what}: F = {}",
        sol.free_energy()
    );
    for k in 0..h.levels() {
        let p = sol.marginal(k);
        assert!(
            p.iter().all(|x| x.is_finite() && *x >= 0.0),
            "{what}: level {k} has a bad probability"
        );
        let total: f64 = p.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-12,
            "{what}: level {k} sums to {total}"
        );
        let hk = sol.entropy(k);
        assert!(hk.is_finite() && hk >= -1e-12, "{what}: H(Y_{k}) = {hk}");
        assert!(
            hk <= (h.size(k) as f64).ln() + 1e-9,
            "{what}: H(Y_{k}) = {hk} > log n_{k}"
        );
        assert!(
            sol.expected_loss(k).is_finite(),
            "{what}: E u_{k} not finite"
        );
        if k > 0 {
            // P_k is the push-forward of P_{k-1}.
            let mut pushed = vec![0.0; h.size(k)];
            for (x, &px) in sol.marginal(k - 1).iter().enumerate() {
                pushed[h.parent(k - 1, x)] += px;
            }
            for (a, b) in pushed.iter().zip(&p) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{what}: level {k} is not a push-forward"
                );
            }
        }
    }
    if let Some(d) = sol.relative_entropies() {
        assert!(
            d.iter().all(|x| x.is_finite() && *x >= -1e-12),
            "{what}: D = {d:?}"
        );
    }
}

fn two_blocks() -> Hierarchy {
    // {0, 1} -> 0, {2, 3} -> 1 (Theorem A's example), and a third, empty, coarse state.
    Hierarchy::new(vec![4, 3], vec![vec![0, 0, 1, 1]]).unwrap()
}

fn t(tau: &[f64]) -> Temperatures {
    Temperatures::new(tau).unwrap()
}

#[test]
fn losses_spanning_1e300_give_finite_exact_results() {
    let h = Hierarchy::flat(6).unwrap();
    let loss = [1e300, -1e300, 0.0, 5e299, -7e299, 1.0];
    let sol = Problem::new(&h, &loss).unwrap().solve(&t(&[1.0])).unwrap();
    assert_sane(&sol, "flat 1e300");
    // All mass on the minimiser: F = E f = -1e300 exactly, H = 0.
    assert_eq!(sol.marginal(0), vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(sol.free_energy(), -1e300);
    assert_eq!(sol.entropy(0), 0.0);

    // A tree with potentials of the same range and a reference.
    let h = Hierarchy::new(vec![6, 3, 2], vec![vec![0, 0, 1, 1, 2, 2], vec![0, 0, 1]]).unwrap();
    let p = Problem::new(&h, &loss)
        .unwrap()
        .with_potentials(&[vec![-1e300, 1e300, 3.0], vec![1e299, -1e299]])
        .unwrap();
    for tau in [[1.0, 1.0, 1.0], [1e-12, 0.0, 1e-12], [1e3, 1e3, 1e3]] {
        let sol = p.solve(&t(&tau)).unwrap();
        assert_sane(&sol, &format!("tree 1e300 at {tau:?}"));
        // Minimiser: state 1 (f = -1e300 - 1e300 + 1e299).
        assert!((sol.marginal(0)[1] - 1.0).abs() < 1e-15);
        assert!((sol.free_energy() - (-1.9e300)).abs() <= 1e-15 * 1.9e300);
        let q = p
            .clone()
            .with_reference(&[1.0, 2.0, 0.0, 1.0, 1e-300, 3.0])
            .unwrap()
            .solve(&t(&tau))
            .unwrap();
        assert_sane(&q, &format!("tree 1e300 with reference at {tau:?}"));
    }
}

/// proofs/theorem_a.md (the zero-temperature limit)
#[test]
fn temperatures_down_to_1e_12_give_the_zero_temperature_limit() {
    // docs/concepts.md, "5. Theorem A": f = (0, 0, 0, 1), blocks {0,1}, {2,3}, temperatures eps * (1, 1): the limit is
    // the maximiser of H(Y_0) + H(Y_1) on {0, 1, 2}, P(A) = sqrt 2 / (1 + sqrt 2).
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    let p = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0]).unwrap();
    let a = 2f64.sqrt() / (1.0 + 2f64.sqrt());
    let want = [a / 2.0, a / 2.0, 1.0 - a, 0.0];
    for eps in [1e-6, 1e-9, 1e-12] {
        let sol = p.solve(&t(&[eps, eps])).unwrap();
        assert_sane(&sol, &format!("eps = {eps}"));
        for (got, want) in sol.marginal(0).iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "eps = {eps}: {got} vs {want}");
        }
        // F = -eps (H(Y_0) + H(Y_1)) at the limit, to first order.
        let hs = sol.entropy(0) + sol.entropy(1);
        assert!((sol.free_energy() + eps * hs).abs() < 1e-12 * eps);
    }
    // Random O(1) losses at tau_0 = 1e-12: concentration on the unique minimiser.
    let h = Hierarchy::new(
        vec![7, 3, 1],
        vec![vec![0, 0, 1, 1, 1, 2, 2], vec![0, 0, 0]],
    )
    .unwrap();
    let loss = [0.31, 0.12, 0.57, 0.11, 0.9, f64::INFINITY, 0.4];
    let sol = Problem::new(&h, &loss)
        .unwrap()
        .solve(&t(&[1e-12, 1e-12, 0.0]))
        .unwrap();
    assert_sane(&sol, "tau 1e-12");
    assert_eq!(sol.marginal(0)[3], 1.0);
    assert!((sol.free_energy() - 0.11).abs() < 1e-15);
}

#[test]
fn one_allowed_state_gets_all_the_mass() {
    let h = Hierarchy::new(
        vec![7, 3, 2],
        vec![vec![0, 1, 1, 2, 2, 2, 0], vec![1, 0, 1]],
    )
    .unwrap();
    let mut loss = vec![f64::INFINITY; 7];
    loss[4] = 2.5;
    for tau in [[1.0, 1.0, 1.0], [1e-12, 0.0, 0.0], [1e6, 1e6, 1e6]] {
        let sol = Problem::new(&h, &loss).unwrap().solve(&t(&tau)).unwrap();
        assert_sane(&sol, "one state");
        assert_eq!(sol.marginal(0), vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(sol.marginal(2), vec![0.0, 1.0]);
        assert!(sol.entropies().iter().all(|&x| x == 0.0));
        assert_eq!(sol.free_energy(), 2.5);
    }
    // The same with the forbidding done by potentials and a reference instead.
    let p = Problem::new(&h, &[0.0, 1.0, 2.0, 3.0, 2.5, 5.0, 6.0])
        .unwrap()
        .with_potentials(&[
            vec![f64::INFINITY, f64::INFINITY, 0.0],
            vec![f64::INFINITY, 0.0],
        ])
        .unwrap()
        .with_reference(&[1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
        .unwrap();
    let sol = p.solve(&t(&[1.0, 2.0, 3.0])).unwrap();
    assert_sane(&sol, "one state via potentials and reference");
    assert_eq!(sol.marginal(0), vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn huge_single_levels_and_single_blocks_stay_normalised() {
    let n = 1 << 20;
    // Zero loss: uniform, H = log n, F = -tau log n.
    let flat = Hierarchy::flat(n).unwrap();
    let sol = Problem::new(&flat, &vec![0.0; n])
        .unwrap()
        .solve(&t(&[0.5]))
        .unwrap();
    assert_sane(&sol, "flat 2^20");
    let log_n = (n as f64).ln();
    assert!((sol.entropy(0) - log_n).abs() < 1e-9);
    assert!((sol.free_energy() + 0.5 * log_n).abs() < 1e-9);
    // One block holding every state, with a linear loss: the Gibbs distribution, whose
    // normaliser is a geometric series.
    let one_block = Hierarchy::new(vec![n, 1], vec![vec![0; n]]).unwrap();
    let loss: Vec<f64> = (0..n).map(|i| i as f64 * 1e-5).collect();
    let sol = Problem::new(&one_block, &loss)
        .unwrap()
        .solve(&t(&[1.0, 3.0]))
        .unwrap();
    assert_sane(&sol, "one block of 2^20");
    let r = (-1e-5f64).exp();
    let z = (1.0 - r.powi(n as i32)) / (1.0 - r);
    assert!((sol.free_energy() + z.ln()).abs() < 1e-9 * z.ln());
    assert!((sol.marginal(0)[0] - 1.0 / z).abs() < 1e-9 / z);
    // A deep complete binary tree and a chain of single-state levels.
    let tree = Hierarchy::complete(2, 18).unwrap();
    let tau: Vec<f64> = (0..19)
        .map(|k| if k % 3 == 0 { 0.3 } else { 0.0 })
        .collect();
    let sol = Problem::new(&tree, &vec![1.0; 1 << 18])
        .unwrap()
        .solve(&t(&tau))
        .unwrap();
    assert_sane(&sol, "complete(2, 18)");
    for k in 0..19 {
        assert!((sol.entropy(k) - (18 - k) as f64 * 2f64.ln()).abs() < 1e-9);
    }
    let chain = Hierarchy::complete(1, 200).unwrap();
    let sol = Problem::new(&chain, &[4.0])
        .unwrap()
        .solve(&t(&vec![1.0; 201]))
        .unwrap();
    assert_sane(&sol, "complete(1, 200)");
    assert_eq!(sol.free_energy(), 4.0);
}

/// proofs/gibbs_limit.md
#[test]
fn tiny_and_zero_coarse_temperatures_reduce_to_the_gibbs_distribution() {
    let h = Hierarchy::new(vec![6, 3, 2], vec![vec![0, 0, 1, 2, 2, 2], vec![0, 1, 1]]).unwrap();
    let loss = [0.3, -1.2, 2.0, 0.7, f64::INFINITY, 0.1];
    let p = Problem::new(&h, &loss).unwrap();
    for tau0 in [1.0, 1e-3, 1e-12] {
        // exp(-f / tau_0) / Z, by hand.
        let m = loss.iter().copied().fold(f64::INFINITY, f64::min);
        let w: Vec<f64> = loss.iter().map(|f| (-(f - m) / tau0).exp()).collect();
        let z: f64 = w.iter().sum();
        for coarse in [0.0, 1e-300, 1e-200] {
            let sol = p.solve(&t(&[tau0, coarse, coarse])).unwrap();
            assert_sane(&sol, &format!("tau0 = {tau0}, coarse = {coarse}"));
            for (got, w) in sol.marginal(0).iter().zip(&w) {
                assert!((got - w / z).abs() < 1e-14, "{got} vs {}", w / z);
            }
            assert!((sol.free_energy() - (m - tau0 * z.ln())).abs() < 1e-14);
        }
    }
    // Zero temperature at the finest level's parents only, hot above.
    let sol = p.solve(&t(&[1.0, 0.0, 5.0])).unwrap();
    assert_sane(&sol, "tau = (1, 0, 5)");
}

/// proofs/monotonicity.md, theorem_a.md (boundaries)
#[test]
fn extreme_mean_targets_are_exact_or_refused() {
    let h = two_blocks();
    let p = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0]).unwrap();
    // The boundary c = min f: Theorem A's limit, flagged.
    let fit = solve_mean(&p, &[1.0, 1.0], MeanConstraint::Equal(0.0)).unwrap();
    assert!(fit.boundary);
    assert_eq!(fit.multiplier, None);
    let a = 2f64.sqrt() / (1.0 + 2f64.sqrt());
    for (got, want) in fit
        .solution
        .marginal(0)
        .iter()
        .zip([a / 2.0, a / 2.0, 1.0 - a, 0.0])
    {
        assert!((got - want).abs() < 1e-12);
    }
    // The other boundary: all mass on the maximiser.
    let fit = solve_mean(&p, &[1.0, 0.0], MeanConstraint::Equal(1.0)).unwrap();
    assert!(fit.boundary);
    assert_eq!(fit.solution.marginal(0), vec![0.0, 0.0, 0.0, 1.0]);
    // Targets a hair inside the range: finite multipliers, constraint met.
    for c in [1e-9, 1.0 - 1e-9] {
        let fit = solve_mean(&p, &[1.0, 0.5], MeanConstraint::Equal(c)).unwrap();
        assert!(fit.multiplier.unwrap().is_finite());
        assert!((fit.solution.expected_total_loss() - c).abs() < 1e-12);
        assert_sane(&fit.solution, &format!("c = {c}"));
    }
    // Losses of size 1e300 under a mean constraint.
    let p = Problem::new(&Hierarchy::flat(3).unwrap(), &[-1e300, 0.0, 1e300]).unwrap();
    let fit = solve_mean(&p, &[1.0], MeanConstraint::Equal(2e299)).unwrap();
    assert!((fit.solution.expected_total_loss() - 2e299).abs() < 1e-12 * 1e300);
    assert_sane(&fit.solution, "mean with 1e300 losses");
}

/// Checks that `result` is an error matching `pattern`, with the CLI kind `kind`.
macro_rules! refused {
    ($result:expr, $pattern:pat, $kind:expr) => {{
        let what = stringify!($result);
        match $result {
            Ok(_) => panic!("{what}: accepted, want {}", stringify!($pattern)),
            Err(e) => {
                assert!(
                    matches!(e, $pattern),
                    "{what}: got {e:?}, want {}",
                    stringify!($pattern)
                );
                assert_eq!(e.kind(), $kind, "{what}: {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }};
}

#[test]
fn bad_inputs_are_typed_errors_with_the_right_kind() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let h = two_blocks();
    let tt = t(&[1.0, 1.0]);
    let ok = || Problem::new(&h, &[0.0, 1.0, 2.0, 3.0]).unwrap();

    // Losses.
    refused!(
        Problem::new(&h, &[nan, 0.0, 0.0, 0.0]),
        Error::InvalidValue { index: 0, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Problem::new(&h, &[0.0, -inf, 0.0, 0.0]),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Problem::new(&h, &[0.0, 0.0, 0.0]),
        Error::LengthMismatch {
            len: 3,
            expected: 4,
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().with_potentials(&[vec![0.0, nan, 0.0]]),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().with_potentials(&[vec![0.0, 0.0]]),
        Error::LengthMismatch {
            len: 2,
            expected: 3,
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().with_potentials::<Vec<f64>>(&[]),
        Error::LengthMismatch {
            len: 0,
            expected: 1,
            ..
        },
        ErrorKind::InvalidInput
    );
    // Temperatures.
    refused!(
        Temperatures::new(&[1.0, -0.5]),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Temperatures::new(&[0.0, 1.0]),
        Error::InvalidValue { index: 0, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Temperatures::new(&[nan, 1.0]),
        Error::InvalidValue { index: 0, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Temperatures::new(&[1.0, inf]),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Temperatures::new(&[]),
        Error::InvalidInput(_),
        ErrorKind::InvalidInput
    );
    refused!(
        Temperatures::new(&[1e308, 1e308]),
        Error::Overflow { level: Some(1), .. },
        ErrorKind::Numerical
    );
    refused!(
        tt.scaled(0.0),
        Error::InvalidSetting {
            field: "factor",
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().solve(&t(&[1.0])),
        Error::LengthMismatch {
            len: 1,
            expected: 2,
            ..
        },
        ErrorKind::InvalidInput
    );
    // Hierarchies.
    refused!(
        Hierarchy::new(vec![3, 2], vec![vec![0, 2, 1]]),
        Error::ParentOutOfRange {
            level: 0,
            state: 1,
            parent: 2,
            len: 2
        },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::new(vec![3, 2], vec![vec![0, 1]]),
        Error::LengthMismatch {
            len: 2,
            expected: 3,
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::new(vec![3, 2], vec![]),
        Error::LengthMismatch { .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::new(vec![2, 3], vec![vec![0, 1]]),
        Error::LevelSizes {
            level: 1,
            size: 3,
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::new(vec![3, 0], vec![vec![0, 0, 0]]),
        Error::LevelSizes {
            level: 1,
            size: 0,
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::new(vec![], vec![]),
        Error::InvalidInput(_),
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::flat(0),
        Error::LevelSizes { .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::from_parents(3, vec![vec![0, 5, 1]]),
        Error::LevelSizes { .. } | Error::ParentOutOfRange { .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::complete(0, 3),
        Error::InvalidSetting {
            field: "branching",
            ..
        },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::complete(2, 48),
        Error::TooLarge { .. },
        ErrorKind::InvalidInput
    );
    refused!(
        Hierarchy::complete(usize::MAX, 2),
        Error::TooLarge { .. },
        ErrorKind::InvalidInput
    );
    // Everything forbidden, by losses, potentials or the reference.
    refused!(
        Problem::new(&h, &[inf; 4]).unwrap().solve(&tt),
        Error::AllForbidden(_),
        ErrorKind::Infeasible
    );
    refused!(
        ok().with_potentials(&[vec![inf, inf, 0.0]])
            .unwrap()
            .solve(&tt),
        Error::AllForbidden(_),
        ErrorKind::Infeasible
    );
    refused!(
        Problem::new(&h, &[0.0, 0.0, inf, inf])
            .unwrap()
            .with_reference(&[0.0, 0.0, 1.0, 1.0])
            .unwrap()
            .solve(&tt),
        Error::AllForbidden(_),
        ErrorKind::Infeasible
    );
    // References.
    refused!(
        ok().with_reference(&[1.0, -1.0, 1.0, 1.0]),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().with_reference(&[1.0, nan, 1.0, 1.0]),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().with_reference(&[1.0, 1.0, inf, 1.0]),
        Error::InvalidValue { index: 2, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().with_reference(&[0.0; 4]),
        Error::AllForbidden(_),
        ErrorKind::Infeasible
    );
    refused!(
        ok().with_reference(&[1.0; 3]),
        Error::LengthMismatch {
            len: 3,
            expected: 4,
            ..
        },
        ErrorKind::InvalidInput
    );
    // Mean constraints: f ranges over [0, 3].
    let w = [1.0, 1.0];
    refused!(
        solve_mean(&ok(), &w, MeanConstraint::Equal(-0.5)),
        Error::Infeasible {
            min: 0.0,
            max: 3.0,
            ..
        },
        ErrorKind::Infeasible
    );
    refused!(
        solve_mean(&ok(), &w, MeanConstraint::Equal(3.5)),
        Error::Infeasible {
            min: 0.0,
            max: 3.0,
            ..
        },
        ErrorKind::Infeasible
    );
    refused!(
        solve_mean(&ok(), &w, MeanConstraint::AtMost(-1e-3)),
        Error::Infeasible { .. },
        ErrorKind::Infeasible
    );
    refused!(
        solve_mean(&ok(), &w, MeanConstraint::Equal(nan)),
        Error::InvalidSetting { field: "mean", .. },
        ErrorKind::InvalidInput
    );
    refused!(
        solve_mean(&ok(), &w, MeanConstraint::Equal(inf)),
        Error::InvalidSetting { field: "mean", .. },
        ErrorKind::InvalidInput
    );
    refused!(
        solve_mean(&ok(), &[0.0, 1.0], MeanConstraint::Equal(1.0)),
        Error::InvalidValue { index: 0, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        solve_mean(&ok(), &[1.0, -1.0], MeanConstraint::Equal(1.0)),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        solve_mean(&ok(), &[1.0], MeanConstraint::Equal(1.0)),
        Error::LengthMismatch { .. },
        ErrorKind::InvalidInput
    );
    refused!(
        solve_mean(
            &Problem::new(&h, &[inf; 4]).unwrap(),
            &w,
            MeanConstraint::Equal(0.0)
        ),
        Error::AllForbidden(_),
        ErrorKind::Infeasible
    );
    // Objective and surprisal arguments.
    refused!(
        ok().objective(&[0.5, 0.5, 0.0], &tt),
        Error::LengthMismatch { .. },
        ErrorKind::InvalidInput
    );
    refused!(
        ok().objective(&[0.5, 0.5, -0.1, 0.1], &tt),
        Error::InvalidValue { index: 2, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        inverse::surprisal(&h, &[0.0; 4], &tt),
        Error::AllForbidden(_),
        ErrorKind::Infeasible
    );
    refused!(
        inverse::surprisal(&h, &[0.5, nan, 0.0, 0.5], &tt),
        Error::InvalidValue { index: 1, .. },
        ErrorKind::InvalidInput
    );
    refused!(
        inverse::surprisal(&h, &[0.5, 0.5, 0.0, 0.0], &t(&[1.0])),
        Error::LengthMismatch { .. },
        ErrorKind::InvalidInput
    );
}

#[test]
fn results_beyond_f64_are_numerical_errors_or_finite() {
    // Total losses that overflow f64 (1e308 + 1e308): never a NaN, never a panic.
    let h = Hierarchy::new(vec![2, 1], vec![vec![0, 0]]).unwrap();
    let p = Problem::new(&h, &[1e308, 1.5e308])
        .unwrap()
        .with_potentials(&[vec![1e308]])
        .unwrap();
    // F = 2e308 does not fit: an overflow (`numerical`), not a forbidden state
    // (docs/concepts.md, "11. Numerical policy"); a NaN, an `Ok` or `infeasible` is wrong.
    match p.solve(&t(&[1.0, 1.0])) {
        Ok(sol) => panic!("F = {} accepted", sol.free_energy()),
        Err(e) => assert!(
            matches!(e, Error::Overflow { .. }) && e.kind() == ErrorKind::Numerical,
            "overflow gave {e:?}"
        ),
    }
    // When another state is finite, the overflowing ones have probability exp(-2e308) = 0.
    let h3 = Hierarchy::new(vec![3, 1], vec![vec![0, 0, 0]]).unwrap();
    let sol = Problem::new(&h3, &[1e308, 1.5e308, -1e308])
        .unwrap()
        .with_potentials(&[vec![1e308]])
        .unwrap()
        .solve(&t(&[1.0, 1.0]))
        .unwrap();
    assert_sane(&sol, "partly overflowing total loss");
    assert_eq!(sol.marginal(0), vec![0.0, 0.0, 1.0]);
    assert_eq!(sol.free_energy(), 0.0);
    // A huge temperature scale: finite, near uniform.
    let p = Problem::new(&h, &[0.0, 1.0]).unwrap();
    let sol = p.solve(&t(&[1e300, 1e300])).unwrap();
    assert_sane(&sol, "tau 1e300");
    assert!((sol.entropy(0) - 2f64.ln()).abs() < 1e-12);
}

#[test]
fn weights_near_the_top_of_f64_give_the_same_optimum() {
    // P* depends on w / lambda only: w = 1e308 is w = 1 with the multiplier scaled by 1e308.
    let h = Hierarchy::flat(3).unwrap();
    let p = Problem::new(&h, &[0.0, 1.0, 2.0]).unwrap();
    let one = solve_mean(&p, &[1.0], MeanConstraint::Equal(0.5)).unwrap();
    let big = solve_mean(&p, &[1e308], MeanConstraint::Equal(0.5)).unwrap();
    let (l1, lb) = (one.multiplier.unwrap(), big.multiplier.unwrap());
    assert!((lb / (l1 * 1e308) - 1.0).abs() < 1e-14, "{lb} vs {l1}e308");
    for (a, b) in one
        .solution
        .marginal(0)
        .iter()
        .zip(big.solution.marginal(0))
    {
        assert!((a - b).abs() < 1e-15);
    }
    assert_eq!(one.temperatures, big.temperatures);
}

#[test]
fn a_feature_of_1e300_gets_a_finite_gradient_norm() {
    // The residual's norm is ~1e284: its square is beyond f64, the norm is not.
    use hmaxent::constraints::{ConvexSettings, MomentProblem, Status};
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    let p = Problem::new(&h, &[0.0; 4]).unwrap();
    let fit = MomentProblem::new(&p, &[vec![1e300, 0.0, 0.0, 0.0]], &[5e299], &[1.0, 1.0])
        .unwrap()
        .solve(&ConvexSettings::default())
        .unwrap();
    assert_eq!(fit.status, Status::Converged);
    assert!(fit.gradient_norm.is_finite());
    assert!((fit.solution.marginal(0)[0] - 0.5).abs() < 1e-12);
}

/// Theorem B at high temperature: `F` tends to `E_Q u` and the divergences to `0` like
/// `1/tau^2`, while the sweep's terms `tau_k log Q_k` grow like `tau`. `F` and every
/// `D(P_k || Q_k)` still match 50-digit values (mpmath, Theorem B's recursion and `sum P
/// log(P/Q)` written out) to `1e-12` relative: the sweep's own free energy was off by
/// `1.4e-10` at `tau = 1e6` and `2.4e-8` at `1e9`, and `sum P log(P/Q)` lost every digit of
/// `D ~ 1e-19` (docs/concepts.md, "6. Theorem B"; proofs/theorem_b.md).
#[test]
fn theorem_b_at_high_temperature_keeps_relative_accuracy() {
    let p = Problem::new(&two_blocks(), &[-1.0, 0.0, 0.0, -2.0])
        .unwrap()
        .with_reference(&[0.1, 0.2, 0.3, 0.4])
        .unwrap();
    #[allow(clippy::excessive_precision)]
    let cases: [([f64; 2], f64, [f64; 2]); 4] = [
        (
            [1e3, 1e3],
            -0.90041059656540029337,
            [3.9338122117243833121e-7, 1.7216616754559825638e-8],
        ),
        (
            [1e6, 1e6],
            -0.90000041059523947727,
            [3.9339284566952727848e-13, 1.7202395189718800779e-14],
        ),
        (
            [1e9, 1e9],
            -0.9000000004105952381,
            [3.9339285713138397565e-19, 1.720238096661829176e-20],
        ),
        (
            [1e9, 0.0],
            -0.90000000044500000003,
            [4.4500000005599999982e-19, 6.8809523859046107313e-20],
        ),
    ];
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.abs();
    for (tau, f, d) in cases {
        let sol = p.solve(&t(&tau)).unwrap();
        assert!(
            close(sol.free_energy(), f),
            "tau {tau:?}: F = {}",
            sol.free_energy()
        );
        let got = sol.relative_entropies().unwrap();
        assert!(
            close(got[0], d[0]) && close(got[1], d[1]),
            "tau {tau:?}: D = {got:?}"
        );
    }
    // A deeper random hierarchy at tau = 1e3 (50-digit F = 0.053290392781585096...).
    let h = Hierarchy::new(
        vec![23, 14, 7, 2, 1],
        vec![
            vec![
                7, 12, 10, 6, 10, 2, 8, 7, 4, 8, 7, 0, 10, 4, 4, 8, 7, 10, 7, 0, 2, 10, 1,
            ],
            vec![2, 5, 6, 1, 6, 6, 3, 2, 1, 6, 5, 1, 5, 6],
            vec![0, 0, 0, 0, 0, 0, 0],
            vec![0, 0],
        ],
    )
    .unwrap();
    let loss = [
        -0.568695, 0.16621, 1.95668, 0.0514169, 0.572673, 0.0813822, -0.909148, -0.795381, 0.58582,
        1.31579, -1.16707, 1.20119, 0.640689, 0.383263, -1.4204, -0.390688, -0.392435, -0.376605,
        0.347369, -0.572047, 0.112526, 0.5551, -1.52818,
    ];
    let q = [
        0.814049, 0.0600639, 0.830639, 0.398469, 0.299816, 0.886732, 0.429157, 0.373375, 0.832249,
        0.413197, 0.164297, 0.507647, 0.705517, 0.412468, 0.57744, 0.858711, 0.625032, 0.305453,
        0.734279, 0.729952, 0.49787, 0.212094, 0.429144,
    ];
    let p = Problem::new(&h, &loss).unwrap().with_reference(&q).unwrap();
    let f = p.solve(&t(&[1e3; 5])).unwrap().free_energy();
    assert!(close(f, 0.053290392781585096), "F = {f}");
}
