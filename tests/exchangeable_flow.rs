//! The exchangeable-blocks family (Dyson's hierarchical model and relatives) against
//! independent oracles: the tabulated engine on the enumerated hierarchy, block-sum
//! distributions recomputed from the enumerated `P*_0`, exact sampling, a closed form on two
//! spins, and the high-precision references (tests/data) in `tests/data/flow-hierarchical-ising.json` (an
//! independent multiplicative recursion in mpmath, see its generator in the same folder).
//! Proofs: `proofs/exchangeable.md`.

#[path = "common/reference.rs"]
mod reference;
use reference::{close, load, num, nums};

use hmaxent::cli;
use hmaxent::constraints::solve_mean;
use hmaxent::families::exchangeable::{Exchangeable, SiteStates, MAX_LEVELS};
use hmaxent::{Error, ErrorKind, Sample, Temperatures};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const INF: f64 = f64::INFINITY;

/// A random model: `q` in {1, 2, 3} states on a random lattice (gaps allowed), `n <= 4`
/// (`q = 2`) or `n <= 3` (`q = 3`), random site and block losses with occasional `+inf`
/// (or Dyson's form with random `J`, `c`, `h`), and random temperatures (zeros included).
fn models() -> impl Strategy<Value = (Exchangeable, Vec<f64>)> {
    (1usize..=3, any::<u64>(), any::<bool>()).prop_map(|(q, seed, dyson)| {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = match q {
            1 => rng.random_range(0..=4),
            2 => rng.random_range(0..=4),
            _ => rng.random_range(0..=3),
        };
        let model = if dyson && q == 2 {
            Exchangeable::hierarchical_ising(
                n,
                rng.random_range(-1.5..1.5),
                rng.random_range(0.2..4.0),
                rng.random_range(-1.0..1.0),
            )
            .unwrap()
        } else {
            let offset: f64 = rng.random_range(-2.0..2.0);
            let step: f64 = rng.random_range(0.5..2.0);
            let mut idx: Vec<usize> = (0..4).collect();
            for i in (1..4).rev() {
                idx.swap(i, rng.random_range(0..=i));
            }
            idx.truncate(q);
            let base = *idx.iter().min().unwrap();
            let values: Vec<f64> = idx
                .iter()
                .map(|&t| offset + step * (t - base) as f64)
                .collect();
            let states = SiteStates::new(&values).unwrap();
            let value = |rng: &mut StdRng| {
                if rng.random::<f64>() < 0.1 {
                    INF
                } else {
                    rng.random_range(-2.0..2.0)
                }
            };
            let site: Vec<f64> = (0..q).map(|_| value(&mut rng)).collect();
            let span = states.span();
            let tables: Vec<Vec<f64>> = (0..=n)
                .map(|k| (0..=(span << k)).map(|_| value(&mut rng)).collect())
                .collect();
            let lattice = states.clone();
            Exchangeable::new(states, n, &site, |k, m| {
                // The lattice index of the sum m of 2^k sites.
                let t = (0..=(span << k))
                    .min_by(|&a, &b| {
                        (lattice.sum_value(k, a) - m)
                            .abs()
                            .total_cmp(&(lattice.sum_value(k, b) - m).abs())
                    })
                    .unwrap();
                tables[k][t]
            })
            .unwrap()
        };
        let tau: Vec<f64> = (0..=n)
            .map(|k| match (k, rng.random_range(0..3)) {
                (0, _) => rng.random_range(0.3..2.0),
                (_, 0) => 0.0,
                _ => rng.random_range(0.0..2.0),
            })
            .collect();
        (model, tau)
    })
}

/// The lattice index of site `i` of level-0 state `x` (base `q`, site 0 least significant).
fn site_index(model: &Exchangeable, x: usize, i: usize) -> usize {
    let q = model.states().len();
    model.states().index((x / q.pow(i as u32)) % q)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The flow equals the tabulated engine on the enumerated hierarchy: `F`, every
    /// `H(Y_k)`, every expected level loss, and every block's sum distribution recomputed
    /// from the enumerated `P*_0` (proofs/exchangeable.md, "The flow", "Entropies").
    #[test]
    fn the_flow_equals_the_tabulated_engine((model, tau) in models()) {
        let t = Temperatures::new(&tau).unwrap();
        let (_, problem) = model.tabulate().unwrap();
        match (problem.solve(&t), model.solve(&t)) {
            (Ok(tab), Ok(sol)) => {
                let s = &sol.summary;
                prop_assert!(close(s.free_energy, tab.free_energy(), 1e-12),
                    "F: flow {} vs tabulated {}", s.free_energy, tab.free_energy());
                for (k, (&h, &ht)) in s.entropies.iter().zip(tab.entropies()).enumerate() {
                    prop_assert!(close(h, ht, 1e-12), "H(Y_{}): flow {} vs tabulated {}", k, h, ht);
                }
                for (k, (&e, &et)) in sol.expected_level_losses.iter()
                    .zip(tab.expected_level_losses()).enumerate() {
                    prop_assert!(close(e, et, 1e-12), "E u_{}: flow {} vs tabulated {}", k, e, et);
                }
                prop_assert!(close(s.expected_loss, tab.expected_total_loss(), 1e-12));
                // Every block of every level against the enumeration.
                let p0 = tab.marginal(0);
                let n = model.levels();
                for k in 0..=n {
                    let width = sol.block_sum_distributions[k].len();
                    for b in 0..(1usize << (n - k)) {
                        let mut dist = vec![0.0; width];
                        for (x, &px) in p0.iter().enumerate() {
                            let t: usize = (b << k..(b + 1) << k).map(|i| site_index(&model, x, i)).sum();
                            dist[t] += px;
                        }
                        for (t, (&a, &e)) in sol.block_sum_distributions[k].iter().zip(&dist).enumerate() {
                            prop_assert!(close(a, e, 1e-12),
                                "p_{}(t = {}) of block {}: flow {} vs enumeration {}", k, t, b, a, e);
                        }
                    }
                }
                // Magnetisation moments of the total.
                let values = model.block_sum_values(n);
                let pn = &sol.block_sum_distributions[n];
                let mut d = vec![0.0; pn.len()];
                for (x, &px) in p0.iter().enumerate() {
                    let t: usize = (0..1usize << n).map(|i| site_index(&model, x, i)).sum();
                    d[t] += px;
                }
                let m2: f64 = d.iter().zip(&values).map(|(p, m)| p * m * m).sum();
                let m4: f64 = d.iter().zip(&values).map(|(p, m)| p * m.powi(4)).sum();
                prop_assert!(close(sol.magnetisation.second, m2, 1e-12));
                prop_assert!(close(sol.magnetisation.fourth, m4, 1e-12));
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.kind(), b.kind()),
            (a, b) => prop_assert!(false, "flow {:?} vs tabulated {:?}", b.map(|_| ()), a.map(|_| ())),
        }
    }
}

/// Two spins, `tau = (1, 0)`: the Gibbs measure of `-h (s1 + s2) - (J/2)(c/4)(s1 + s2)^2`, by
/// hand: weights `e^(2K + 2h)`, `1`, `1`, `e^(2K - 2h)` with `K = J c / 4`.
#[test]
fn two_spins_match_the_closed_form() {
    let (j, c, h) = (0.7, 1.5, 0.3);
    let model = Exchangeable::hierarchical_ising(1, j, c, h).unwrap();
    let sol = model
        .solve(&Temperatures::new(&[1.0, 0.0]).unwrap())
        .unwrap();
    let k = j * c / 4.0;
    let w = [(2.0 * k - 2.0 * h).exp(), 2.0, (2.0 * k + 2.0 * h).exp()];
    let z: f64 = w.iter().sum();
    assert!((sol.summary.free_energy + z.ln()).abs() < 1e-14);
    for (t, &wt) in w.iter().enumerate() {
        assert!((sol.block_sum_distributions[1][t] - wt / z).abs() < 1e-15);
    }
    // H(Y_0): four states with probabilities w_0 / z, 1/z, 1/z, w_2 / z.
    let h0: f64 = [w[0], 1.0, 1.0, w[2]]
        .iter()
        .map(|&x| -(x / z) * (x / z).ln())
        .sum();
    assert!((sol.summary.entropies[0] - h0).abs() < 1e-14);
    let mean = (2.0 * w[2] - 2.0 * w[0]) / z;
    assert!((sol.magnetisation.mean - mean).abs() < 1e-14);
}

/// The CLI against the high-precision references (tests/data) (every listed field, `1e-12` relative).
#[test]
fn the_cli_matches_the_50_digit_references() {
    let data = load("flow-hierarchical-ising.json");
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let out = cli::flow::run(&case["input"], false).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = &case["expected"];
        let check = |field: &str, got: &serde_json::Value, want: &serde_json::Value| {
            let (g, w) = (got.as_f64().unwrap(), num(want));
            assert!(close(g, w, 1e-12), "{name}: {field} = {g}, want {w}");
        };
        check("free_energy", &out["free_energy"], &want["free_energy"]);
        for field in ["entropies", "expected_level_losses"] {
            let (g, w) = (nums(&out[field]), nums(&want[field]));
            assert_eq!(g.len(), w.len(), "{name}: {field}");
            for (a, b) in g.iter().zip(&w) {
                assert!(close(*a, *b, 1e-12), "{name}: {field}: {a} vs {b}");
            }
        }
        for m in ["mean", "second", "fourth", "susceptibility", "binder"] {
            check(m, &out["magnetisation"][m], &want["magnetisation"][m]);
        }
        let (g, w) = (
            &out["block_sum_distributions"],
            &want["block_sum_distributions"],
        );
        for (k, (gk, wk)) in g
            .as_array()
            .unwrap()
            .iter()
            .zip(w.as_array().unwrap())
            .enumerate()
        {
            let (gk, wk) = (nums(gk), nums(wk));
            assert_eq!(gk.len(), (1 << k) + 1);
            assert_eq!(gk.len(), wk.len());
            for (a, b) in gk.iter().zip(&wk) {
                assert!(close(*a, *b, 1e-12), "{name}: p_{k}: {a} vs {b}");
            }
        }
        // --summary drops only the distributions.
        let short = cli::flow::run(&case["input"], true).unwrap();
        assert!(short.get("block_sum_distributions").is_none());
        assert_eq!(short["free_energy"], out["free_energy"]);
    }
}

#[test]
fn bad_cli_inputs_are_refused_before_any_work() {
    let base = json!({"family": "hierarchical-ising", "levels": 3, "coupling": 1.0, "c": 1.26,
                      "temperatures": [1.0, 0.0, 0.0, 0.0]});
    let with = |k: &str, v: serde_json::Value| {
        let mut x = base.clone();
        x[k] = v;
        x
    };
    let too_many = MAX_LEVELS + 1;
    let cases = [
        with("levels", json!(too_many)),
        with("levels", json!(1_000_000_000u64)),
        with("c", json!(0.0)),
        with("c", json!(-1.0)),
        with("coupling", json!("one")),
        with("field", json!(null)),
        with("temperatures", json!([1.0, 0.0])),
        with("temperatures", json!([0.0, 1.0, 0.0, 0.0])),
        with("temperatures", json!([1.0, -1.0, 0.0, 0.0])),
        with("extra", json!(1)),
    ];
    for input in cases {
        let e = cli::flow::run(&input, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{input}: {e}");
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("coupling");
    assert_eq!(
        cli::flow::run(&missing, false).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // The field is optional (default 0) and n = 0 is one spin.
    let one = json!({"family": "hierarchical-ising", "levels": 0, "coupling": 1.0, "c": 1.0,
                     "temperatures": [1.0]});
    let out = cli::flow::run(&one, false).unwrap();
    assert!((out["free_energy"].as_f64().unwrap() + 2f64.ln()).abs() < 1e-15);
    assert_eq!(out["block_sum_distributions"], json!([[0.5, 0.5]]));
}

#[test]
fn site_values_off_any_lattice_or_repeated_are_refused() {
    assert!(matches!(
        SiteStates::new(&[0.0, 1.0, 2f64.sqrt()]),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        SiteStates::new(&[1.0, 1.0]),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(SiteStates::new(&[]), Err(Error::InvalidInput(_))));
    assert!(matches!(
        SiteStates::new(&[0.0, f64::NAN]),
        Err(Error::InvalidValue { .. })
    ));
    let s = SiteStates::new(&[2.0, -1.0, 0.5]).unwrap();
    assert_eq!((s.span(), s.index(0), s.index(1), s.index(2)), (2, 2, 0, 1));
    assert!(matches!(
        Exchangeable::hierarchical_ising(MAX_LEVELS + 1, 1.0, 1.0, 0.0),
        Err(Error::TooLarge { .. })
    ));
}

/// The upper `1e-6` quantile of chi-square with `df` degrees of freedom (Wilson–Hilferty,
/// `z = 4.7534`; above the exact quantile for small `df`, see proofs/sampling.md).
fn chi2_threshold(df: usize) -> f64 {
    let z = 4.753_424_308_822_899;
    let k = df as f64;
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * a.sqrt()).powi(3)
}

/// Pearson's statistic of `counts` against `n p` over the cells with expected count `>= 5`,
/// the rest pooled; panics if it exceeds the `1 - 1e-6` quantile.
fn chi_square(what: &str, counts: &[usize], p: &[f64], n: usize) {
    let (mut stat, mut cells, mut pool_e, mut pool_o) = (0.0, 0usize, 0.0, 0.0);
    for (&c, &q) in counts.iter().zip(p) {
        let e = n as f64 * q;
        if q == 0.0 {
            assert_eq!(c, 0, "{what}: a sum of probability 0 was drawn");
        }
        if e >= 5.0 {
            stat += (c as f64 - e).powi(2) / e;
            cells += 1;
        } else {
            pool_e += e;
            pool_o += c as f64;
        }
    }
    if pool_e >= 5.0 {
        stat += (pool_o - pool_e).powi(2) / pool_e;
        cells += 1;
    } else {
        assert!(
            pool_o <= 5.0 + 10.0 * pool_e,
            "{what}: rare sums drawn {pool_o} times"
        );
    }
    if cells >= 2 {
        let thr = chi2_threshold(cells - 1);
        assert!(
            stat < thr,
            "{what}: chi-square {stat} >= {thr} with {cells} cells"
        );
    }
}

/// Samples follow the exact block-sum distributions: at every level, the sums of the first
/// and of the last block, over 20 000 samples with fixed seeds, pass Pearson's test at the
/// `1 - 1e-6` quantile (a correct sampler fails one of these checks with probability below
/// `1e-6` each, below `1e-4` for all of them); no forbidden configuration is drawn
/// (proofs/exchangeable.md, "Sampling").
#[test]
fn samples_follow_the_block_sum_distributions() {
    let c = 2f64.powf(1.0 / 3.0);
    let gap = SiteStates::new(&[-1.0, 0.0, 2.0]).unwrap();
    let models = [
        (
            Exchangeable::hierarchical_ising(6, 1.0, c, 0.1).unwrap(),
            vec![0.85, 0.2, 0.0, 0.3, 0.0, 0.1, 0.4],
            20_000,
        ),
        (
            Exchangeable::new(gap, 3, &[0.2, INF, -0.3], |k, m| {
                0.1 * k as f64 * m * m - m.abs().sqrt()
            })
            .unwrap(),
            vec![1.0, 0.5, 0.0, 0.5],
            20_000,
        ),
        // Wide enough that the coarsest split is walked, not tabulated.
        (
            Exchangeable::hierarchical_ising(12, 1.0, c, 0.0).unwrap(),
            {
                let mut t = vec![0.0; 13];
                t[0] = 1.0 / 1.15;
                t[12] = 0.5;
                t
            },
            4_000,
        ),
    ];
    for (m, (model, tau, samples)) in models.into_iter().enumerate() {
        let sol = model.solve(&Temperatures::new(&tau).unwrap()).unwrap();
        let sampler = sol.sampler().unwrap();
        let n = model.levels();
        let mut rng = StdRng::seed_from_u64(20_261_202 + m as u64);
        let mut x = vec![0u32; sampler.sites()];
        let mut counts: Vec<[Vec<usize>; 2]> = (0..=n)
            .map(|k| {
                let w = sol.block_sum_distributions[k].len();
                [vec![0; w], vec![0; w]]
            })
            .collect();
        for _ in 0..samples {
            sampler.sample_into(&mut rng, &mut x);
            assert!(model.loss(&x).unwrap().is_finite());
            for (k, cnt) in counts.iter_mut().enumerate() {
                let block = 1usize << k;
                for (side, start) in [0, x.len() - block].into_iter().enumerate() {
                    let t: usize = x[start..start + block]
                        .iter()
                        .map(|&s| model.states().index(s as usize))
                        .sum();
                    cnt[side][t] += 1;
                }
            }
        }
        for (k, cnt) in counts.iter().enumerate() {
            for (side, c) in cnt.iter().enumerate() {
                chi_square(
                    &format!("model {m}, level {k}, block {side}"),
                    c,
                    &sol.block_sum_distributions[k],
                    samples,
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// `min f` and `max f` (through the negated model) by the hard min-plus flow equal the
    /// extremes of the enumerated total loss; the negated model's solution is that of the
    /// tabulated `-f` (forbidden states stay forbidden).
    #[test]
    fn the_loss_range_and_the_negated_model_match_the_enumeration((model, tau) in models()) {
        let (h, problem) = model.tabulate().unwrap();
        let total = problem.total_loss();
        let allowed: Vec<f64> = total.iter().copied().filter(|x| x.is_finite()).collect();
        if allowed.is_empty() {
            prop_assert!(model.min_loss().is_err());
            return Ok(());
        }
        let lo = allowed.iter().copied().fold(INF, f64::min);
        let hi = allowed.iter().copied().fold(-INF, f64::max);
        prop_assert!(close(model.min_loss().unwrap(), lo, 1e-12));
        prop_assert!(close(-model.negated().min_loss().unwrap(), hi, 1e-12));
        let t = Temperatures::new(&tau).unwrap();
        let negated: Vec<f64> = total.iter().map(|&x| if x.is_finite() { -x } else { x }).collect();
        let tab = hmaxent::Problem::new(&h, &negated).unwrap().solve(&t).unwrap();
        let sol = model.negated().solve(&t).unwrap();
        prop_assert!(close(sol.summary.free_energy, tab.free_energy(), 1e-12));
        for (a, b) in sol.summary.entropies.iter().zip(tab.entropies()) {
            prop_assert!(close(*a, *b, 1e-12));
        }
    }
}

/// `flow` with `weights` and `mean` on the hierarchical Ising model equals the tabulated
/// engine's mean-constrained solution on the enumerated hierarchy, on both sides of the
/// unconstrained mean (positive and negative multipliers), and `pareto` accepts the family.
#[test]
fn mean_constrained_flows_match_the_tabulated_engine() {
    let model = Exchangeable::hierarchical_ising(3, 0.8, 1.26, 0.15).unwrap();
    let (_, problem) = model.tabulate().unwrap();
    let weights = [1.0, 0.5, 0.0, 0.2];
    let total = problem.total_loss();
    let lo = total.iter().copied().fold(INF, f64::min);
    let hi = total.iter().copied().fold(-INF, f64::max);
    for frac in [0.05, 0.3, 0.6, 0.9] {
        let c = lo + frac * (hi - lo);
        let input = json!({"family": "hierarchical-ising", "levels": 3, "coupling": 0.8, "c": 1.26,
                           "field": 0.15, "weights": weights, "mean": c});
        let out = cli::flow::run(&input, false).unwrap();
        let tab = solve_mean(&problem, &weights, hmaxent::MeanConstraint::Equal(c)).unwrap();
        let lambda = out["multiplier"].as_f64().unwrap();
        let want = tab.multiplier.unwrap();
        assert!(
            (lambda - want).abs() <= 1e-10 * want.abs().max(1.0),
            "c = {c}: {lambda} vs {want}"
        );
        assert!(close(out["expected_loss"].as_f64().unwrap(), c, 1e-10));
        for (k, h) in nums(&out["entropies"]).iter().enumerate() {
            assert!(
                close(*h, tab.solution.entropy(k), 1e-10),
                "c = {c}: H(Y_{k})"
            );
        }
    }
    let outside = json!({"family": "hierarchical-ising", "levels": 3, "coupling": 0.8, "c": 1.26,
                         "weights": weights, "mean": hi + 1.0});
    assert_eq!(
        cli::flow::run(&outside, false).unwrap_err().kind(),
        ErrorKind::Infeasible
    );
    let pareto = json!({"family": "hierarchical-ising", "levels": 2, "coupling": 1.0, "c": 1.26,
                        "weights_grid": {"steps": 3}});
    let frontier = cli::pareto::run(&pareto, None).unwrap();
    assert!(!frontier["points"].as_array().unwrap().is_empty());
}
