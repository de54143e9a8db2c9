//! The logarithmic cascade family (docs/families-cascade.md) against independent oracles: the 50-digit
//! references in `tests/data/flow-cascade.json` (through the CLI), the tabulated engine on the
//! equivalent hierarchy (homogeneous closed form and general flow), the value identity, and
//! sampling frequencies. Proofs: `proofs/cascade.md`.

#[path = "common/reference.rs"]
mod reference;
use reference::{close, load, num, nums};

use hmaxent::cli;
use hmaxent::families::cascade::Cascade;
use hmaxent::{Error, Temperatures};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// `hmaxent flow` (log-cascade) against the high-precision references (tests/data): F, entropies and escorts to
/// 1e-12 relative (scale max(|x|, 1)).
#[test]
fn cli_matches_the_50_digit_references() {
    let data = load("flow-cascade.json");
    let cases = data["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let out = cli::flow::run(&case["input"], false).unwrap_or_else(|e| panic!("{name}: {e}"));
        let e = &case["expected"];
        let f = num(&out["free_energy"]);
        let fw = num(&e["free_energy"]);
        assert!(close(f, fw, 1e-12), "{name}: F = {f}, want {fw}");
        let (h, hw) = (nums(&out["entropies"]), nums(&e["entropies"]));
        assert_eq!(h.len(), hw.len(), "{name}: entropies");
        for (k, (g, w)) in h.iter().zip(&hw).enumerate() {
            assert!(close(*g, *w, 1e-12), "{name}: H(Y_{k}) = {g}, want {w}");
        }
        let (es, ew) = (
            out["escorts"].as_array().unwrap(),
            e["escorts"].as_array().unwrap(),
        );
        assert_eq!(es.len(), ew.len(), "{name}: escorts");
        for (k, (g, w)) in es.iter().zip(ew).enumerate() {
            let (g, w) = (nums(g), nums(w));
            assert_eq!(g.len(), w.len());
            for (a, (x, y)) in g.iter().zip(&w).enumerate() {
                assert!(
                    close(*x, *y, 1e-12),
                    "{name}: escort[{k}][{a}] = {x}, want {y}"
                );
            }
        }
    }
}

/// A random conditional of `b` entries, with a zero (forbidden subtree) with probability
/// `p_zero` per entry (at least one entry stays positive).
fn conditional(rng: &mut StdRng, b: usize, p_zero: f64) -> Vec<f64> {
    let mut q: Vec<f64> = (0..b)
        .map(|_| {
            if rng.random::<f64>() < p_zero {
                0.0
            } else {
                rng.random_range(0.01..1.0)
            }
        })
        .collect();
    if q.iter().all(|&x| x == 0.0) {
        q[rng.random_range(0..b)] = 1.0;
    }
    let s: f64 = q.iter().sum();
    q.iter_mut().for_each(|x| *x /= s);
    q
}

/// Random cascades: `b` in 2..=3, `L` in 1..=4 (at most 81 leaves), homogeneous or general,
/// `kappa` in [0.2, 3], temperatures hot, cold or zero above level 0.
fn cascades() -> impl Strategy<Value = (Cascade, Vec<f64>)> {
    (
        2usize..=3,
        1usize..=4,
        any::<bool>(),
        any::<u64>(),
        0.0f64..0.3,
    )
        .prop_map(|(b, l, homogeneous, seed, p_zero)| {
            let mut rng = StdRng::seed_from_u64(seed);
            let kappa = rng.random_range(0.2..3.0);
            let cascade = if homogeneous {
                let qs: Vec<Vec<f64>> = (0..l).map(|_| conditional(&mut rng, b, p_zero)).collect();
                Cascade::homogeneous(kappa, b, l, &qs).unwrap()
            } else {
                let qs: Vec<Vec<f64>> = (0..l)
                    .map(|k| {
                        let nodes = b.pow((l - k - 1) as u32);
                        (0..nodes)
                            .flat_map(|_| conditional(&mut rng, b, p_zero))
                            .collect()
                    })
                    .collect();
                Cascade::general(kappa, b, l, qs).unwrap()
            };
            let tau: Vec<f64> = (0..=l)
                .map(|k| match (k, rng.random_range(0..3)) {
                    (0, _) => rng.random_range(0.1..2.0),
                    (_, 0) => 0.0,
                    _ => rng.random_range(0.0..2.0),
                })
                .collect();
            (cascade, tau)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Flow (closed form or general sweep) = tabulated engine on `Hierarchy::complete(b, L)`
    /// with loss `-kappa log Q`: free energy to 1e-12 relative, entropies, expected loss,
    /// and the escorts as the tabulated block conditionals.
    #[test]
    fn flow_equals_the_tabulated_engine((cascade, tau) in cascades()) {
        let t = Temperatures::new(&tau).unwrap();
        let (_, problem) = cascade.tabulate().unwrap();
        let tab = problem.solve(&t).unwrap();
        let sol = cascade.solve(&t).unwrap();
        let s = &sol.summary;
        prop_assert!(close(s.free_energy, tab.free_energy(), 1e-12),
            "F: flow {} vs tabulated {}", s.free_energy, tab.free_energy());
        for (k, (&h, &ht)) in s.entropies.iter().zip(tab.entropies()).enumerate() {
            prop_assert!(close(h, ht, 1e-10), "H(Y_{}): flow {} vs tabulated {}", k, h, ht);
        }
        prop_assert!(close(s.expected_loss, tab.expected_total_loss(), 1e-10));
        // Escorts = block conditionals P*(x | y) of the tabulated solution, wherever the
        // parent has positive mass.
        let b = cascade.branching();
        for k in 0..cascade.depth() {
            let coarse = tab.marginal(k + 1);
            for (y, &py) in coarse.iter().enumerate() {
                if py <= 0.0 {
                    continue;
                }
                for (x, p) in tab.conditional(k, y) {
                    let a = x - y * b;
                    let e = if cascade.is_homogeneous() {
                        sol.escorts[k][a]
                    } else {
                        sol.escorts[k][y * b + a]
                    };
                    prop_assert!((e - p).abs() < 1e-11, "escort[{}] node {} child {}: {} vs {}", k, y, a, e, p);
                }
            }
        }
    }

    /// A homogeneous cascade run through the general (node-by-node) flow gives the closed form.
    #[test]
    fn general_flow_equals_the_closed_form((cascade, tau) in cascades()) {
        prop_assume!(cascade.is_homogeneous());
        let t = Temperatures::new(&tau).unwrap();
        let closed = cascade.solve(&t).unwrap();
        let general = cascade.to_general().unwrap().solve(&t).unwrap();
        prop_assert!(close(closed.summary.free_energy, general.summary.free_energy, 1e-13));
        for (a, b) in closed.summary.entropies.iter().zip(&general.summary.entropies) {
            prop_assert!(close(*a, *b, 1e-12));
        }
    }
}

/// In an inhomogeneous cascade the escorts of level 1 are those of the reweighted cascade
/// `Q~_1 ∝ Q_1 R^(S_0/kappa)`, not `Q^(kappa/S_1)` (docs/families-cascade.md); the tabulated engine decides.
#[test]
fn inhomogeneous_escorts_use_the_reweighted_cascade() {
    let c = Cascade::general(1.0, 2, 2, vec![vec![0.9, 0.1, 0.5, 0.5], vec![0.5, 0.5]]).unwrap();
    let t = Temperatures::new(&[0.5, 0.5, 0.0]).unwrap();
    let sol = c.solve(&t).unwrap();
    let tab = c.tabulate().unwrap().1.solve(&t).unwrap();
    let p1 = tab.marginal(1);
    assert!((sol.escorts[1][0] - p1[0]).abs() < 1e-14);
    // Naive escort of q = (0.5, 0.5) would be uniform; the reweighted one is not.
    assert!((sol.escorts[1][0] - 0.5).abs() > 1e-2);
}

/// Digit-by-digit sampling reproduces the escort marginals (frequencies within 5 sigma).
#[test]
fn sampling_matches_the_leaf_marginal() {
    let c = Cascade::general(
        0.7,
        2,
        3,
        vec![
            vec![0.2, 0.8, 0.6, 0.4, 0.0, 1.0, 0.5, 0.5],
            vec![0.3, 0.7, 0.9, 0.1],
            vec![0.35, 0.65],
        ],
    )
    .unwrap();
    let t = Temperatures::new(&[0.4, 0.3, 0.2, 0.1]).unwrap();
    let sol = c.solve(&t).unwrap();
    let p0 = c.tabulate().unwrap().1.solve(&t).unwrap().marginal(0);
    let mut rng = StdRng::seed_from_u64(7);
    let n = 200_000;
    let mut counts = [0usize; 8];
    let mut digits = [0usize; 3];
    for _ in 0..n {
        sol.sample_digits(&mut rng, &mut digits);
        counts[digits[0] + 2 * digits[1] + 4 * digits[2]] += 1;
    }
    for (x, (&c, &p)) in counts.iter().zip(&p0).enumerate() {
        let f = c as f64 / n as f64;
        let sd = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
        assert!((f - p).abs() <= 5.0 * sd, "leaf {x}: {f} vs {p}");
    }
    assert_eq!(counts[4], 0, "a zero conditional forbids its leaf");
}

/// The closed form at depth 10^5 (O(L b)) stays finite and satisfies the value identity.
#[test]
fn deep_homogeneous_cascade_is_linear_in_depth() {
    let l = 100_000;
    let qs = vec![vec![0.3, 0.7]; l];
    let c = Cascade::homogeneous(1.0, 2, l, &qs).unwrap();
    let t = Temperatures::new(&vec![0.01; l + 1]).unwrap();
    let sol = c.solve(&t).unwrap();
    assert!(sol.summary.free_energy.is_finite());
    assert!(sol.summary.entropies[l] == 0.0);
    // Every level has the same escort once S_k >> kappa: entropy -> log 2 per level.
    assert!((sol.summary.conditional_entropies[l - 1] - 2f64.ln()).abs() < 1e-6);
}

fn cli_err(input: Value) -> Error {
    cli::flow::run(&input, false).unwrap_err()
}

/// Error contract: kappa <= 0, conditionals off 1, negative entries, wrong lengths, unknown
/// fields are invalid_input.
#[test]
fn bad_inputs_are_invalid_input() {
    let ok = json!({"family": "log-cascade", "kappa": 1.0, "branching": 2, "depth": 1,
        "conditionals": [[0.3, 0.7]], "temperatures": [1.0, 0.0]});
    assert!(cli::flow::run(&ok, false).is_ok());
    let with = |k: &str, v: Value| {
        let mut x = ok.clone();
        x[k] = v;
        x
    };
    for bad in [
        with("kappa", json!(0.0)),
        with("kappa", json!(-1.0)),
        with("conditionals", json!([[0.3, 0.71]])),
        with("conditionals", json!([[-0.3, 1.3]])),
        with("conditionals", json!([[0.3, 0.3, 0.4]])),
        with("conditionals", json!([[0.3, 0.7], [0.5, 0.5]])),
        with("temperatures", json!([1.0])),
        with("temperatures", json!([0.0, 1.0])),
        with("extra", json!(1)),
    ] {
        let e = cli_err(bad.clone());
        assert_eq!(e.kind(), hmaxent::ErrorKind::InvalidInput, "{bad}: {e}");
    }
    // Within 1e-9 of 1 is accepted and renormalised.
    let near = with("conditionals", json!([[0.3, 0.7 + 5e-10]]));
    let out = cli::flow::run(&near, false).unwrap();
    let e = nums(&out["escorts"][0]);
    assert!((e[0] + e[1] - 1.0).abs() < 1e-15);
}

/// Extremes: temperatures down to 1e-12 stay finite (escort -> the heaviest child, ties
/// split evenly); `kappa / S` beyond f64 is `numerical`, not NaN.
#[test]
fn extreme_temperatures() {
    let c = Cascade::homogeneous(1.0, 3, 2, &[vec![0.5, 0.25, 0.25], vec![0.4, 0.4, 0.2]]).unwrap();
    let sol = c
        .solve(&Temperatures::new(&[1e-12, 0.0, 0.0]).unwrap())
        .unwrap();
    assert!(sol.summary.free_energy.is_finite());
    assert!((sol.escorts[0][0] - 1.0).abs() < 1e-15);
    assert!((sol.escorts[1][0] - 0.5).abs() < 1e-15);
    assert!((sol.summary.entropies[0] - 2f64.ln()).abs() < 1e-12);
    // The same through the general flow.
    let g = c
        .to_general()
        .unwrap()
        .solve(&Temperatures::new(&[1e-12, 0.0, 0.0]).unwrap())
        .unwrap();
    assert!((g.summary.entropies[0] - 2f64.ln()).abs() < 1e-12);
    let huge = Cascade::homogeneous(1e300, 2, 1, &[vec![0.5, 0.5]]).unwrap();
    let e = huge
        .solve(&Temperatures::new(&[1e-12, 0.0]).unwrap())
        .unwrap_err();
    assert_eq!(e.kind(), hmaxent::ErrorKind::Numerical);
    // An overflow of finite input, named as such (not a forbidden state).
    assert!(matches!(e, hmaxent::Error::Overflow { .. }), "{e:?}");
}

/// The general flow is generic over the scalar: run in dual numbers, `dF/dS_k` is
/// `-H(Y_k | Y_{k+1})` (docs/concepts.md, "5. Theorem A" envelope identity), an independent check of the entropies
/// the top-down pass computes.
#[test]
fn dual_flow_gives_the_conditional_entropies() {
    use hmaxent::dual::Dual;
    use hmaxent::families::cascade::CascadeStep;
    use hmaxent::rg::sweep;
    let mut rng = StdRng::seed_from_u64(9);
    let (b, l) = (3usize, 3usize);
    let qs: Vec<Vec<f64>> = (0..l)
        .map(|k| {
            (0..b.pow((l - k - 1) as u32))
                .flat_map(|_| conditional(&mut rng, b, 0.2))
                .collect()
        })
        .collect();
    let c = Cascade::general(0.9, b, l, qs).unwrap();
    let t = Temperatures::new(&[0.3, 0.5, 0.0, 0.7]).unwrap();
    let sol = c.solve(&t).unwrap();
    let flow = CascadeStep::<Dual<4>>::new(&c);
    let cum: Vec<Dual<4>> = t
        .cumulative_slice()
        .iter()
        .enumerate()
        .map(|(j, &s)| Dual::variable(s, j))
        .collect();
    let f = sweep(&flow, &flow.initial_loss(), &cum)
        .unwrap()
        .free_energy;
    assert!(close(f.re, sol.summary.free_energy, 1e-14));
    for k in 0..=l {
        let h = sol.summary.conditional_entropies[k];
        assert!(
            close(-f.eps[k], h, 1e-12),
            "level {k}: -dF/dS = {} vs {h}",
            -f.eps[k]
        );
    }
}
