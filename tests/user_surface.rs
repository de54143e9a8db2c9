//! What a user reaches for next: hierarchies from functions and labels, log-domain marginals,
//! expectations of an observable, and serialisable results. Each is checked against a
//! computation that does not share its code path.

use hmaxent::{Error, ErrorKind, Hierarchy, Problem, Temperatures};
use proptest::prelude::*;

/// Random parent arrays: level `k`'s array has one entry per state of level `k - 1` as the
/// arrays before it imply (`n_k = 1 + max`); blocks may be empty or unequal, and a level may
/// come out larger than the one below (an input both constructors must refuse).
fn parent_arrays() -> impl Strategy<Value = (usize, Vec<Vec<usize>>)> {
    (1usize..12, 0usize..4)
        .prop_flat_map(|(n0, depth)| {
            let raw = proptest::collection::vec(
                (1..=n0).prop_flat_map(move |m| proptest::collection::vec(0..m, n0)),
                depth,
            );
            (Just(n0), raw)
        })
        .prop_map(|(n0, raw)| {
            let mut n = n0;
            let mut parents = Vec::new();
            for r in raw {
                let p: Vec<usize> = r.into_iter().cycle().take(n).collect();
                n = 1 + p.iter().copied().max().unwrap_or(0);
                parents.push(p);
            }
            (n0, parents)
        })
}

/// The level-`k` state of level-0 state `x` by walking the parent arrays.
fn ancestor(parents: &[Vec<usize>], k: usize, x: usize) -> usize {
    parents[..k].iter().fold(x, |s, p| p[s])
}

proptest! {
    #[test]
    fn from_fn_builds_the_hierarchy_of_the_same_parent_arrays((n0, parents) in parent_arrays()) {
        let depth = parents.len();
        let expected = Hierarchy::from_parents(n0, parents.clone());
        let got = Hierarchy::from_fn(n0, depth, |k, x| parents[k][x]);
        match (expected, got) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.kind(), b.kind()),
            (a, b) => prop_assert!(false, "from_parents {:?} but from_fn {:?}", a, b),
        }
    }

    #[test]
    fn from_labels_groups_states_by_label((n0, parents) in parent_arrays()) {
        let depth = parents.len();
        prop_assume!(Hierarchy::from_parents(n0, parents.clone()).is_ok());
        // Label every level-0 state by its ancestor index, as a string (any hashable value).
        let (h, labels) = Hierarchy::from_labels(n0, depth, |k, x| {
            format!("b{}", ancestor(&parents, k, x))
        })
        .unwrap();
        for x in 0..n0 {
            let mut s = x;
            for k in 1..=depth {
                s = h.parent(k - 1, s);
                prop_assert_eq!(&labels[k - 1][s], &format!("b{}", ancestor(&parents, k, x)));
            }
        }
        // Only labels that occur become states: every coarse state has a child.
        for k in 1..=depth {
            prop_assert_eq!(h.size(k), labels[k - 1].len());
            for y in 0..h.size(k) {
                prop_assert!(!h.children(k, y).is_empty());
            }
        }
    }
}

#[test]
fn from_maps_and_from_fn_agree_with_explicit_parents() {
    let h = Hierarchy::from_maps(12, &[&|x| x / 3, &|y| y % 2]).unwrap();
    let expected = Hierarchy::new(
        vec![12, 4, 2],
        vec![
            (0..12).map(|x| x / 3).collect(),
            (0..4).map(|y| y % 2).collect(),
        ],
    )
    .unwrap();
    assert_eq!(h, expected);
}

#[test]
fn from_fn_refuses_a_growing_level_before_allocating_it() {
    let e = Hierarchy::from_fn(4, 1, |_, _| usize::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(matches!(e, Error::LevelSizes { level: 1, .. }), "{e:?}");
    let e = Hierarchy::from_fn(usize::MAX, 1, |_, x| x).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
}

#[test]
fn from_labels_refuses_labels_that_are_not_nested() {
    // Level 1 pairs (0,1), (2,3); level 2 would split the pair (0,1) at state 1.
    let e = Hierarchy::from_labels(4, 2, |k, x| if k == 1 { x / 2 } else { x.min(2) }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!((e.level(), e.index()), (Some(2), Some(1)));
}

/// A solved problem: parents, loss, temperatures.
fn problems() -> impl Strategy<Value = (Hierarchy, Vec<f64>, Temperatures)> {
    parent_arrays()
        .prop_filter_map("valid hierarchy", |(n0, parents)| {
            Hierarchy::from_parents(n0, parents).ok()
        })
        .prop_flat_map(|h| {
            let n0 = h.size(0);
            let levels = h.levels();
            let loss = proptest::collection::vec(
                prop_oneof![4 => -5.0f64..5.0, 1 => Just(f64::INFINITY)],
                n0,
            );
            let tau = proptest::collection::vec(0.0f64..2.0, levels - 1);
            (Just(h), loss, 0.1f64..2.0, tau)
        })
        .prop_filter_map("an allowed state", |(h, loss, tau0, tau)| {
            loss.iter().any(|x| x.is_finite()).then(|| {
                let mut t = vec![tau0];
                t.extend(tau);
                (h, loss, Temperatures::new(&t).unwrap())
            })
        })
}

proptest! {
    #[test]
    fn log_marginals_are_the_logarithms_of_the_marginals((h, loss, t) in problems()) {
        let sol = Problem::new(&h, &loss).unwrap().solve(&t).unwrap();
        for k in 0..h.levels() {
            let (p, lp) = (sol.marginal(k), sol.log_marginal(k));
            for (y, (&p, &lp)) in p.iter().zip(&lp).enumerate() {
                if p == 0.0 {
                    prop_assert_eq!(lp, f64::NEG_INFINITY, "level {} state {}", k, y);
                } else {
                    prop_assert!((lp - p.ln()).abs() <= 1e-12 * (1.0 + p.ln().abs()),
                        "level {} state {}: log {} vs ln {}", k, y, lp, p.ln());
                }
            }
        }
    }

    #[test]
    fn expectations_follow_the_marginals_and_the_tower_rule((h, loss, t) in problems()) {
        let sol = Problem::new(&h, &loss).unwrap().solve(&t).unwrap();
        let d = h.depth();
        // A level-d observable, read directly on level d and through the maps on level 0.
        let phi = |y: usize| (y as f64 + 1.0).sqrt();
        let direct: f64 = sol.marginal(d).iter().enumerate().map(|(y, p)| p * phi(y)).sum();
        prop_assert!((sol.expectation(d, phi) - direct).abs() < 1e-12);
        let top = |mut x: usize| {
            for k in 0..d {
                x = h.parent(k, x);
            }
            x
        };
        prop_assert!((sol.expectation(0, |x| phi(top(x))) - direct).abs() < 1e-12);
        // The loss itself, +inf on forbidden states (never evaluated there).
        let e = sol.expectation(0, |x| loss[x]);
        prop_assert!((e - sol.expected_total_loss()).abs() <= 1e-12 * (1.0 + e.abs()));
    }
}

#[test]
fn log_marginals_stay_finite_where_marginals_underflow() {
    // Leaves {0, 1} -> A, {2} -> B; leaf 1 carries a loss L. As L grows, log P*(1) + L / S_0
    // tends to a constant; at L = 600 (P* ~ 1e-261, still representable) the linear-domain
    // marginal gives that constant, and at L = 2000 (P* = 0 in f64) the log domain must too.
    let h = Hierarchy::new(vec![3, 2], vec![vec![0, 0, 1]]).unwrap();
    let t = Temperatures::new(&[1.0, 0.5]).unwrap();
    let solve = |l: f64| Problem::new(&h, &[0.3, l, 0.7]).unwrap().solve(&t).unwrap();
    let (moderate, huge) = (solve(600.0), solve(2000.0));
    assert_eq!(huge.marginal(0)[1], 0.0);
    let c_linear = moderate.marginal(0)[1].ln() + 600.0;
    let c_log = huge.log_marginal(0)[1] + 2000.0;
    assert!((c_linear - c_log).abs() < 1e-12, "{c_linear} vs {c_log}");
    // The other levels and states are untouched by the underflow.
    for k in 0..2 {
        for (a, b) in huge.log_marginal(k).iter().zip(huge.marginal(k)) {
            if b > 0.0 && b.ln() > -700.0 {
                assert!((a - b.ln()).abs() < 1e-14);
            }
        }
    }
}

#[cfg(feature = "serde")]
#[test]
fn a_solution_serialises_with_the_command_line_field_names() {
    let h = Hierarchy::new(vec![4, 2], vec![vec![1, 0, 1, 0]]).unwrap();
    let sol = Problem::new(&h, &[0.0, 0.0, 0.0, 1.0])
        .unwrap()
        .solve(&Temperatures::new(&[1.0, 1.0]).unwrap())
        .unwrap();
    let v = serde_json::to_value(&sol).unwrap();
    assert_eq!(v["free_energy"], sol.free_energy());
    assert_eq!(v["entropies"][1], sol.entropy(1));
    assert_eq!(v["marginals"][0][3], sol.marginal(0)[3]);
    assert_eq!(v["relative_entropies"], serde_json::Value::Null);
    let kind = serde_json::to_value(ErrorKind::Infeasible).unwrap();
    assert_eq!(kind, "infeasible");
}

#[cfg(feature = "serde")]
#[test]
fn family_solutions_serialise() {
    use hmaxent::families::cascade::Cascade;
    use hmaxent::families::quadratic::Quadratic;
    use hmaxent::nalgebra::{DMatrix, DVector};
    let c = Cascade::homogeneous(1.0, 2, 3, &vec![vec![0.25, 0.75]; 3])
        .unwrap()
        .solve(&Temperatures::new(&[1.0, 0.5, 0.0, 0.25]).unwrap())
        .unwrap();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["summary"]["free_energy"], c.summary.free_energy);
    assert_eq!(v["escorts"][0][1], c.escorts[0][1]);
    // A two-dimensional Gaussian coarse-grained to the sum of its coordinates.
    let a = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.5, 1.0]);
    let maps = vec![DMatrix::from_row_slice(1, 2, &[1.0, 1.0])];
    let g = Quadratic::new(a, DVector::from_vec(vec![1.0, -1.0]), maps)
        .unwrap()
        .solve(&Temperatures::new(&[1.0, 1.0]).unwrap())
        .unwrap();
    let v = serde_json::to_value(&g).unwrap();
    assert_eq!(v["free_energy"], g.free_energy);
    assert_eq!(v["entropies"][1], g.entropies[1]);
    assert!(v["mean"].is_array(), "{}", v["mean"]);
}
