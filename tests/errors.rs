//! One error vocabulary: every kind of `ErrorKind` is reachable from user input and is
//! matched here as an enum value, the location travels as data, and a finite input whose
//! loss overflows `f64` is `Numerical` (an overflow), never `Infeasible` (forbidden).

use hmaxent::constraints::{solve_mean, ConvexSettings, MomentProblem};
use hmaxent::{Error, ErrorKind, Hierarchy, MeanConstraint, Problem, Temperatures};

const MAX: f64 = f64::MAX;
const INF: f64 = f64::INFINITY;

fn two_by_one() -> Hierarchy {
    Hierarchy::new(vec![2, 1], vec![vec![0, 0]]).unwrap()
}

fn unit(levels: usize) -> Temperatures {
    Temperatures::new(&vec![1.0; levels]).unwrap()
}

#[test]
fn bad_input_is_invalid_input_with_its_field_and_index_as_data() {
    let h = Hierarchy::flat(3).unwrap();
    let e = Problem::new(&h, &[0.0, f64::NAN, 0.0]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(matches!(e, Error::InvalidValue { index: 1, .. }));
    assert_eq!(
        (e.field(), e.index(), e.level()),
        (Some("loss"), Some(1), None)
    );

    let e = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 5, 1]]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        (e.field(), e.level(), e.index()),
        (Some("parents"), Some(0), Some(2))
    );

    let e = Temperatures::new(&[1.0, -1.0]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.index(), Some(1));
}

#[test]
fn every_state_forbidden_is_infeasible() {
    let h = two_by_one();
    let e = Problem::new(&h, &[INF, INF])
        .unwrap()
        .solve(&unit(2))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Infeasible);
    assert!(matches!(e, Error::AllForbidden(_)), "{e:?}");
    // Forbidden through the only parent.
    let e = Problem::new(&h, &[0.0, 0.0])
        .unwrap()
        .with_potentials(&[[INF]])
        .unwrap()
        .solve(&unit(2))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Infeasible);
}

#[test]
fn a_mean_target_outside_the_attainable_interval_is_infeasible_with_the_interval() {
    let h = two_by_one();
    let p = Problem::new(&h, &[0.0, 1.0]).unwrap();
    let e = solve_mean(&p, &[1.0, 1.0], MeanConstraint::Equal(2.0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Infeasible);
    assert_eq!(
        e,
        Error::Infeasible {
            target: 2.0,
            min: 0.0,
            max: 1.0
        }
    );
}

#[test]
fn finite_losses_whose_sum_overflows_are_numerical_not_forbidden() {
    let h = two_by_one();
    // u_0 + u_1 = 2 MAX for both states: nothing is forbidden, the total is not an f64.
    let p = Problem::new(&h, &[MAX, MAX])
        .unwrap()
        .with_potentials(&[[MAX]])
        .unwrap();
    let e = p.solve(&unit(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical, "{e:?}");
    assert!(matches!(e, Error::Overflow { .. }), "{e:?}");
    assert!(e.to_string().contains("overflows f64"), "{e}");
    // The constrained solve names the state whose total loss overflowed.
    let e = solve_mean(&p, &[1.0, 1.0], MeanConstraint::AtMost(0.0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical, "{e:?}");
    assert_eq!((e.level(), e.index()), (Some(0), Some(0)));
}

#[test]
fn finite_losses_whose_sum_overflows_downwards_are_numerical() {
    let h = two_by_one();
    let p = Problem::new(&h, &[-MAX, -MAX])
        .unwrap()
        .with_potentials(&[[-MAX]])
        .unwrap();
    let e = p.solve(&unit(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical, "{e:?}");
    let e = solve_mean(&p, &[1.0, 1.0], MeanConstraint::AtMost(0.0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical, "{e:?}");
}

#[test]
fn one_overflowing_block_beside_a_finite_one_is_still_solved() {
    // Block 1's renormalised loss MAX + MAX overflows, but block 0 is finite: the answer is
    // exactly representable (probability 1 on state 0, and exp(-MAX) = 0 in f64 for the
    // rest), so this is a solution, not an error.
    let h = Hierarchy::new(vec![3, 2], vec![vec![0, 1, 1]]).unwrap();
    let sol = Problem::new(&h, &[0.0, MAX, MAX])
        .unwrap()
        .with_potentials(&[[0.0, MAX]])
        .unwrap()
        .solve(&unit(2))
        .unwrap();
    assert_eq!(sol.marginal(0), vec![1.0, 0.0, 0.0]);
    assert_eq!(sol.free_energy(), 0.0);
}

#[test]
fn a_cumulative_temperature_beyond_f64_is_an_overflow_at_its_level() {
    let e = Temperatures::new(&[MAX, MAX]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical);
    assert!(matches!(e, Error::Overflow { level: Some(1), .. }), "{e:?}");
}

#[test]
fn a_reference_of_huge_finite_masses_is_normalised_without_overflow() {
    let h = two_by_one();
    let p = Problem::new(&h, &[0.0, 0.0]).unwrap();
    let huge = p.clone().with_reference(&[MAX, MAX]).unwrap();
    let plain = p.with_reference(&[1.0, 1.0]).unwrap();
    let (a, b) = (
        huge.solve(&unit(2)).unwrap(),
        plain.solve(&unit(2)).unwrap(),
    );
    assert_eq!(a.marginal(0), b.marginal(0));
    assert_eq!(a.free_energy(), b.free_energy());
}

#[test]
fn a_moment_solve_out_of_iterations_is_not_an_answer() {
    // Three states, one feature; a target deep inside the hull needs several Newton steps.
    let h = Hierarchy::flat(3).unwrap();
    let problem = Problem::new(&h, &[0.0; 3]).unwrap();
    let features = vec![vec![0.0, 1.0, 10.0]];
    let settings = ConvexSettings::default().with_max_iterations(1).unwrap();
    let fit = MomentProblem::new(&problem, &features, &[0.3], &[1.0])
        .unwrap()
        .solve(&settings)
        .unwrap();
    assert!(!fit.status.is_converged(), "{:?}", fit.status);
    let (iterations, residual) = (fit.iterations, fit.gradient_norm);
    let e = fit.converged().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical);
    assert_eq!(
        e,
        Error::NotConverged {
            solver: "the moment dual".to_string(),
            iterations,
            residual
        }
    );
    // With its full budget the same problem converges, and `converged` passes it through.
    let fit = MomentProblem::new(&problem, &features, &[0.3], &[1.0])
        .unwrap()
        .solve(&ConvexSettings::default())
        .unwrap()
        .converged()
        .unwrap();
    assert!((fit.expected_features[0] - 0.3).abs() < 1e-9);
}

/// The command line prints each kind as its documented word (`docs/cli.md`, "Errors"),
/// and an unreadable file is the `io` kind.
#[cfg(feature = "cli")]
#[test]
fn the_command_line_prints_every_kind_as_its_word() {
    use hmaxent::cli::kind_word;
    let words = [
        (ErrorKind::InvalidInput, "invalid_input"),
        (ErrorKind::Infeasible, "infeasible"),
        (ErrorKind::Numerical, "numerical"),
        (ErrorKind::Io, "io"),
    ];
    for (kind, word) in words {
        assert_eq!(kind_word(kind), word);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hmaxent"))
        .args(["solve", "/nonexistent/hmaxent-problem.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: io: "), "{err}");
    assert_eq!(err.lines().count(), 1);
}

fn four_by_two(loss: &[f64]) -> Problem {
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    Problem::new(&h, loss).unwrap()
}

/// Weights whose sum overflows `f64` are solved at a power-of-two scaling: `P*` depends on
/// their ratios only, so `(1e308, 1e307)` gives the optimum of `(1, 0.1)`, objective and
/// multiplier times `1e308`; `(1e308, 1e308)` has an objective beyond `f64`, an overflow
/// naming it (it was "the cumulative temperature S_1 overflows").
#[test]
fn weights_whose_sum_overflows_are_rescaled_not_refused() {
    let p = four_by_two(&[0.0, 1.0, 2.0, 3.0]);
    let c = MeanConstraint::Equal(1.2);
    let small = solve_mean(&p, &[1.0, 0.1], c).unwrap();
    let huge = solve_mean(&p, &[1e308, 1e307], c).unwrap();
    assert!((huge.point.expected_loss - 1.2).abs() < 1e-12);
    for (a, b) in huge.point.entropies.iter().zip(&small.point.entropies) {
        assert!((a - b).abs() < 1e-12, "{a} {b}");
    }
    let rel = |a: f64, b: f64| ((a - b) / b).abs();
    assert!(rel(huge.objective, small.objective * 1e308) < 1e-12);
    assert!(rel(huge.multiplier.unwrap(), small.multiplier.unwrap() * 1e308) < 1e-12);
    for (a, b) in huge
        .temperatures
        .unwrap()
        .iter()
        .zip(small.temperatures.unwrap())
    {
        assert!(rel(*a, b) < 1e-12, "{a} {b}");
    }
    let e = solve_mean(&p, &[1e308, 1e308], c).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Numerical);
    assert!(e.to_string().contains("objective"), "{e}");
    // A slack `mean_at_most` reports the given weights as its temperatures.
    let slack = solve_mean(&p, &[1e308, 1e307], MeanConstraint::AtMost(2.0)).unwrap();
    assert_eq!(slack.multiplier, Some(0.0));
    assert_eq!(slack.temperatures.unwrap(), vec![1e308, 1e307]);
}

/// A state with loss `1e300` beside losses of order 1: the multiplier is of order 1, `1e300`
/// bracket steps from the starting scale `w / spread` (the search ran out of evaluations at
/// `lambda = 3e-60`). That state gets probability `exp(-1e300 lambda / w) = 0`: the answer is
/// that of the problem where it is forbidden.
#[test]
fn a_mean_with_losses_spanning_1e300_is_bracketed() {
    let c = MeanConstraint::Equal(1.2);
    let fit = solve_mean(&four_by_two(&[0.0, 1e300, 2.0, 3.0]), &[1.0, 1.0], c).unwrap();
    let without = solve_mean(&four_by_two(&[0.0, INF, 2.0, 3.0]), &[1.0, 1.0], c).unwrap();
    assert!((fit.point.expected_loss - 1.2).abs() < 1e-12);
    let rel = (fit.multiplier.unwrap() - without.multiplier.unwrap()).abs();
    assert!(rel < 1e-12 * without.multiplier.unwrap(), "{rel}");
    for (a, b) in fit.point.entropies.iter().zip(&without.point.entropies) {
        assert!((a - b).abs() < 1e-12, "{a} {b}");
    }
}

/// Numbers in messages are printed in their shortest form: `1e300`, not 301 digits.
#[cfg(feature = "cli")]
#[test]
fn error_messages_print_extreme_numbers_in_exponent_form() {
    let run = |s: &str| {
        let v = hmaxent::cli::parse(s).unwrap();
        hmaxent::cli::error_line(&hmaxent::cli::solve::run(&v, true).unwrap_err())
    };
    let e = run(r#"{"parents": [[0,0,1,1]], "loss": [0,1,2,3], "temperatures": [1, -1e300]}"#);
    assert_eq!(
        e,
        "error: invalid_input: temperatures[1] = -1e300: must be non-negative"
    );
    let e = run(r#"{"parents": [[0,0,1,1]], "loss": [0,1,2,3], "weights": [1, 1], "mean": 1e300}"#);
    assert_eq!(
        e,
        "error: infeasible: target 1e300 for E[f] is outside the attainable interval [0, 3]"
    );
    let e =
        run(r#"{"parents": [[0,0,1,1]], "loss": [0,1,2,3], "weights": [1, 1], "mean": -2.5e-7}"#);
    assert_eq!(
        e,
        "error: infeasible: target -2.5e-7 for E[f] is outside the attainable interval [0, 3]"
    );
}

/// Finite family inputs whose losses overflow are `numerical`, never `infeasible` or an
/// invalid loss: a chain bond `1e308` beside `-1e308` (its normalised entry `2e308` was
/// taken for a forbidden pair: "every state is forbidden"), Dyson's model with `J = 1e308`
/// (its block loss `-inf` was "losses must be finite or +inf").
#[cfg(feature = "cli")]
#[test]
fn family_losses_that_overflow_are_numerical() {
    let flow = |s: &str| {
        let v = hmaxent::cli::parse(s).unwrap();
        hmaxent::cli::flow::run(&v, true).unwrap_err()
    };
    let e = flow(
        r#"{"family":"chain","levels":3,"boundary":"open","bond":[[1e308,-1e308],[1e308,1e308]],"temperatures":[1,0,0,0]}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Numerical, "{e}");
    assert!(matches!(e, Error::Overflow { level: Some(0), .. }), "{e:?}");
    let e = flow(
        r#"{"family":"hierarchical-ising","levels":3,"coupling":1e308,"c":1e308,"field":0,"temperatures":[1,1,1,1]}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Numerical, "{e}");
    // The same bond without the overflow is solved: -1e300 beside 1e300.
    let v = hmaxent::cli::parse(
        r#"{"family":"chain","levels":3,"boundary":"open","bond":[[1e300,-1e300],[1e300,1e300]],"temperatures":[1,0,0,0]}"#,
    )
    .unwrap();
    assert!(hmaxent::cli::flow::run(&v, true).is_ok());
}
