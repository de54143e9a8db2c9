//! Entropy floors over every model (proofs/convex_dual.md, "The floors dual and its exact
//! Hessian"): the exact derivatives a family reports (`Model::sensitivity`) equal the
//! tabulated engine's dual-number sweep on the same instance, the floors solve through a
//! family equals the tabulated engine's (entropies and `E f` to `1e-10` relative, the
//! multipliers to `1e-10` widened only by their conditioning, see [`multipliers_agree`]), and
//! a frontier of floor vectors has no dominated point and equals the tabulated frontier.

use hmaxent::constraints::{
    floors_frontier, solve_floors, solve_mean, FloorSolution, MeanConstraint,
};
use hmaxent::families::chain::{Boundary, Chain};
use hmaxent::model::Model;

#[path = "common/cascades.rs"]
mod cascades;
#[path = "common/chains.rs"]
mod chains;
use cascades::random_cascade;
use chains::{chains, rel};
use hmaxent::{Problem, Temperatures};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The model's exact derivatives against the tabulated engine's at the same `(lambda, w)`.
fn compare_sensitivity<M: Model>(model: &M, problem: &Problem, lambda: f64, w: &[f64]) {
    let w = Temperatures::new(w).unwrap();
    let (pm, sm) = model.sensitivity(lambda, &w).unwrap();
    let (pt, st) = problem.sensitivity(lambda, &w).unwrap();
    assert!(
        rel(pm.expected_loss, pt.expected_loss) < 1e-10,
        "E f {pm:?} vs {pt:?}"
    );
    for (a, b) in pm.entropies.iter().zip(&pt.entropies) {
        assert!(rel(*a, *b) < 1e-10, "H {a} vs {b}");
    }
    // Derivatives on the scale of the largest of their kind.
    let scale = |v: &[f64], u: &[f64]| v.iter().chain(u).fold(1.0f64, |m, x| m.max(x.abs()));
    let close = |a: &[f64], b: &[f64], what: &str| {
        let s = scale(a, b);
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-9 * s,
                "{what}: {a:?} vs {b:?} (lambda {lambda})"
            );
        }
    };
    close(&[sm.loss_by_scale], &[st.loss_by_scale], "dE f/dlambda");
    close(&sm.loss_by_weight, &st.loss_by_weight, "dE f/dw");
    close(&sm.entropy_by_scale, &st.entropy_by_scale, "dH/dlambda");
    close(&sm.entropy_by_weight, &st.entropy_by_weight, "dH/dw");
}

/// The multipliers `(lambda, mu)` of a floors solve are within `1e-10` relative of the
/// optimum, widened only by their conditioning, and two solves agree as closely. A multiplier
/// is fixed by its slack, and a slack is known to its rounding `r_j` (a few ulps of `c` and
/// `E f`, or of `h_k` and `H(Y_k)`), so the multipliers are known to `|H^{-1}| r`, `H` the
/// dual's Hessian on the positive multipliers (proofs/convex_dual.md, "5. The floors dual and
/// its exact Hessian"). That term matters only when a floor lies within about `1e-7` of the
/// largest attainable `H(Y_k)`, where `dH_k/dmu_k` is of that order and one ulp of `H(Y_k)`
/// moves `mu_k` by `1e-9`. The distance to the optimum is the Newton step `H^{-1} g` from the
/// slacks `g` that `model` (the tabulated engine) computes at each answer's multipliers.
fn multipliers_agree<M: Model, S, T>(
    model: &M,
    mean: Option<f64>,
    floors: &[f64],
    fam: &FloorSolution<S>,
    tab: &FloorSolution<T>,
) -> Result<(), String> {
    if fam.mean_multiplier.is_some() != tab.mean_multiplier.is_some() {
        return Err(format!(
            "lambda {:?} vs {:?}",
            fam.mean_multiplier, tab.mean_multiplier
        ));
    }
    let (step_f, tol_f) = newton_step(model, mean, floors, fam)?;
    let (step_t, tol) = newton_step(model, mean, floors, tab)?;
    let xs = |f: &[f64]| f.to_vec();
    let (xf, xt) = (xs(&variables(fam)), xs(&variables(tab)));
    for i in 0..xt.len() {
        let (a, b) = (xf[i], xt[i]);
        if step_f[i].abs() > tol_f[i] || step_t[i].abs() > tol[i] {
            return Err(format!(
                "multiplier {i} off its optimum by {:e} (family) / {:e} (tabulated), tolerance {:e}",
                step_f[i], step_t[i], tol[i]
            ));
        }
        if (a - b).abs() > tol[i].max(tol_f[i]) {
            return Err(format!(
                "multiplier {i}: {a} vs {b} (tolerance {:e})",
                tol[i]
            ));
        }
    }
    Ok(())
}

/// `(lambda, mu)` of an answer (`lambda` only with a mean constraint).
fn variables<S>(f: &FloorSolution<S>) -> Vec<f64> {
    f.mean_multiplier
        .into_iter()
        .chain(f.floor_multipliers.iter().copied())
        .collect()
}

/// The Newton step to the optimum from an answer's multipliers, on its positive ones (zero on
/// the others), and each multiplier's tolerance `1e-10 max(1, |x_i|) + (|H^{-1}| r)_i`.
fn newton_step<M: Model, S>(
    model: &M,
    mean: Option<f64>,
    floors: &[f64],
    fit: &FloorSolution<S>,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let x = variables(fit);
    let with_lambda = fit.mean_multiplier.is_some() && mean.is_some();
    let lambda = fit.mean_multiplier.unwrap_or(0.0);
    let w = Temperatures::new(&fit.weights).unwrap();
    let (p, s) = model.sensitivity(lambda, &w).map_err(|e| e.to_string())?;
    // Variable i: 0 is lambda (when present), then the floors; its level.
    let level = |i: usize| if with_lambda { i } else { i + 1 };
    let active: Vec<usize> = (0..x.len()).filter(|&i| x[i] > 0.0).collect();
    let n = active.len();
    let h = nalgebra::DMatrix::from_fn(n, n, |a, b| match (level(active[a]), level(active[b])) {
        (0, 0) => -s.loss_by_scale,
        (0, k) | (k, 0) => -s.loss_by_weight[k],
        (j, k) => s.entropy_by_weight(j, k),
    });
    let (slack, size): (Vec<f64>, Vec<f64>) = active
        .iter()
        .map(|&i| match level(i) {
            0 => (
                mean.unwrap() - p.expected_loss,
                mean.unwrap().abs() + p.expected_loss.abs(),
            ),
            k => (
                p.entropies[k] - floors[k - 1],
                floors[k - 1].abs() + p.entropies[k].abs(),
            ),
        })
        .unzip();
    let rounding: Vec<f64> = size
        .iter()
        .map(|m| 16.0 * f64::EPSILON * (1.0 + m))
        .collect();
    let inverse = h.try_inverse().ok_or("singular dual Hessian")?;
    let mut step = vec![0.0; x.len()];
    let mut tol: Vec<f64> = x.iter().map(|v| 1e-10 * v.abs().max(1.0)).collect();
    for (r, &i) in active.iter().enumerate() {
        step[i] = (0..n).map(|c| inverse[(r, c)] * slack[c]).sum();
        tol[i] += (0..n)
            .map(|c| inverse[(r, c)].abs() * rounding[c])
            .sum::<f64>();
    }
    Ok((step, tol))
}

/// Floors between the relaxed entropies (inactive below them) and the attainable maxima.
/// Where the relaxed entropy is its maximum already (a level with one state, say) the floor
/// goes below it: a floor at the largest attainable `H(Y_k)` has an unbounded multiplier
/// set (every large `mu_k` meets the floor to rounding), so there is no multiplier to compare.
fn random_floors(relaxed: &[f64], max: &[f64], rng: &mut StdRng) -> Vec<f64> {
    relaxed[1..]
        .iter()
        .zip(max)
        .map(|(&h, &m)| match rng.random_range(0..3) {
            _ if m - h < 1e-6 * (1.0 + m) => h - rng.random_range(0.0..0.3),
            0 => h - rng.random_range(0.0..0.3),
            _ => h + rng.random_range(0.05..0.9) * (m - h),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The chain's top-down pass in dual numbers gives the same statistics and derivatives
    /// as the tabulated engine's dual-number sweep (`lambda = 0` through `w / lambda` at
    /// `lambda = 2^-600`, against the exact zero loss).
    #[test]
    fn chain_derivatives_equal_the_tabulated_engine((chain, seed) in chains(0.15)) {
        let (_, problem) = chain.tabulate().unwrap();
        prop_assume!(chain.loss_range().is_ok());
        let mut rng = StdRng::seed_from_u64(seed ^ 0xd1ff);
        let levels = chain.levels() + 1;
        let w: Vec<f64> = (0..levels)
            .map(|k| if k == 0 { rng.random_range(0.3..2.0) } else { rng.random_range(0.0..2.0) })
            .collect();
        for lambda in [0.0, rng.random_range(0.2..3.0), 40.0] {
            compare_sensitivity(&chain, &problem, lambda, &w);
        }
    }

    /// Floors through the chain equal the tabulated engine's floors on the same instance:
    /// multipliers, entropies and `E f`, with and without a mean budget, floors active and
    /// inactive.
    #[test]
    fn chain_floors_equal_the_tabulated_engine((chain, seed) in chains(0.15)) {
        let (_, problem) = chain.tabulate().unwrap();
        let Ok(range) = chain.loss_range() else { return Ok(()) };
        prop_assume!(range.max - range.min > 1e-3);
        let mut rng = StdRng::seed_from_u64(seed ^ 0xf100);
        let levels = chain.levels() + 1;
        let mut w0 = vec![0.0; levels];
        w0[0] = 1.0;
        let c = range.min + rng.random_range(0.1..0.9) * (range.max - range.min);
        for mean in [Some(c), None] {
            let relaxed = match mean {
                Some(c) => solve_mean(&problem, &w0, MeanConstraint::AtMost(c)).unwrap().point,
                None => problem.solve_free(&Temperatures::new(&w0).unwrap()).unwrap().1,
            };
            let max = problem.max_level_entropies(mean).unwrap().unwrap();
            let floors = random_floors(&relaxed.entropies, &max, &mut rng);
            let tab = match solve_floors(&problem, mean, &floors) {
                Ok(t) if t.status.is_converged() => t,
                // Jointly infeasible floors: the family says so too.
                Err(e) => {
                    prop_assert!(solve_floors(&chain, mean, &floors).is_err(), "{e}");
                    continue;
                }
                Ok(_) => continue,
            };
            let fam = solve_floors(&chain, mean, &floors).unwrap();
            prop_assert!(fam.status.is_converged(), "{fam:?}");
            prop_assert!(rel(fam.point.expected_loss, tab.point.expected_loss) < 1e-10);
            for (a, b) in fam.point.entropies.iter().zip(&tab.point.entropies) {
                prop_assert!(rel(*a, *b) < 1e-10, "H {} vs {}", a, b);
            }
            prop_assert!(rel(fam.objective, tab.objective) < 1e-10);
            multipliers_agree(&problem, mean, &floors, &fam, &tab).map_err(TestCaseError::fail)?;
        }
    }
}

/// A frontier of floor vectors over a chain has no dominated point, and each point meets
/// its floors (active ones with equality) and the mean budget.
#[test]
fn a_floors_frontier_over_a_chain_has_no_dominated_point() {
    let chain = Chain::homogeneous(2, 3, Boundary::Open, &[0.0, 1.0, 1.0, 0.0]).unwrap();
    let bonds = 8.0;
    let c = 0.2 * bonds;
    let relaxed = solve_floors(&chain, Some(c), &[0.0; 3]).unwrap();
    let h = &relaxed.point.entropies;
    // The largest H(Y_1), H(Y_2) with E f <= c, from the tabulated instance.
    let (_, problem) = chain.tabulate().unwrap();
    let m = problem.max_level_entropies(Some(c)).unwrap().unwrap();
    let floors: Vec<Vec<f64>> = (0..6)
        .map(|i| {
            let t = i as f64 / 5.0;
            vec![
                h[1] + 0.3 * t * (m[0] - h[1]),
                h[2] + 0.3 * (1.0 - t) * (m[1] - h[2]),
                0.0,
            ]
        })
        .collect();
    let fr = floors_frontier(&chain, Some(c), &floors).unwrap();
    assert!(fr.dominated.is_empty(), "{:?}", fr.dominated);
    // Point by point the tabulated engine's frontier: E f, entropies, lambda and (1, mu).
    let tab = floors_frontier(&problem, Some(c), &floors).unwrap();
    for (a, b) in fr.points.iter().zip(&tab.points) {
        assert!(rel(a.expected_loss, b.expected_loss) < 1e-10);
        assert!(rel(a.objective, b.objective) < 1e-10);
        assert!(rel(a.multiplier.unwrap(), b.multiplier.unwrap()) < 1e-10);
        for (x, y) in a.entropies.iter().zip(&b.entropies) {
            assert!(rel(*x, *y) < 1e-10, "H {x} vs {y}");
        }
        for (x, y) in a.weights.iter().zip(&b.weights) {
            assert!(
                rel(*x, *y) < 1e-10,
                "weights {:?} vs {:?}",
                a.weights,
                b.weights
            );
        }
    }
    // The solver's tolerance: 1e-10 (1 + |c| + max |f| + max |h|) on every slack.
    let tol = 1e-10 * (1.0 + c + bonds + m[0]);
    for (pt, f) in fr.points.iter().zip(&floors) {
        assert!(pt.expected_loss <= c + tol, "{} vs {c}", pt.expected_loss);
        for k in 1..=3 {
            assert!(
                pt.entropies[k] >= f[k - 1] - tol,
                "{:?} vs {f:?}",
                pt.entropies
            );
        }
    }
}

/// A random Gaussian: `A = R R' + n I / 2` on 4 coordinates, pairs then all summed.
fn gaussian(rng: &mut StdRng) -> hmaxent::families::quadratic::Quadratic {
    use nalgebra::{DMatrix, DVector};
    let r = DMatrix::from_fn(4, 4, |_, _| rng.random_range(-1.0..1.0));
    let a = &r * r.transpose() + DMatrix::identity(4, 4) * 2.0;
    let b = DVector::from_fn(4, |_, _| rng.random_range(-1.0..1.0));
    let m1 = DMatrix::from_row_slice(2, 4, &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    let m2 = DMatrix::from_row_slice(1, 2, &[1.0, 1.0]);
    hmaxent::families::quadratic::Quadratic::new(a, b, vec![m1, m2]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The Gaussian's covariance formulas against central differences of its own exact
    /// statistics (an independent computation: only values, through the flow), and the
    /// symmetry `dE f/dw_k = -dH_k/dlambda` of the floors dual's Hessian.
    #[test]
    fn gaussian_derivatives_match_central_differences(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let q = gaussian(&mut rng);
        let w = [1.0, rng.random_range(0.0..2.0), rng.random_range(0.0..2.0)];
        let lambda = rng.random_range(0.3..3.0);
        let stats = |lambda: f64, w: &[f64]| {
            let t = Temperatures::new(&w.iter().map(|x| x / lambda).collect::<Vec<_>>()).unwrap();
            let s = q.solve(&t).unwrap();
            let mut v = vec![s.expected_loss];
            v.extend(s.entropies);
            v
        };
        let (_, sens) = q.sensitivity(lambda, &Temperatures::new(&w).unwrap()).unwrap();
        let h = 1e-5;
        let fd = |plus: Vec<f64>, minus: Vec<f64>| -> Vec<f64> {
            plus.iter().zip(&minus).map(|(a, b)| (a - b) / (2.0 * h)).collect()
        };
        let by_lambda = fd(stats(lambda + h, &w), stats(lambda - h, &w));
        prop_assert!((by_lambda[0] - sens.loss_by_scale).abs() < 1e-6 * (1.0 + by_lambda[0].abs()));
        for k in 0..3 {
            prop_assert!((by_lambda[1 + k] - sens.entropy_by_scale[k]).abs() < 1e-6);
        }
        for j in 1..3 {
            let (mut wp, mut wm) = (w, w);
            wp[j] += h;
            wm[j] -= h;
            let by_w = fd(stats(lambda, &wp), stats(lambda, &wm));
            prop_assert!((by_w[0] - sens.loss_by_weight[j]).abs() < 1e-6 * (1.0 + by_w[0].abs()));
            for k in 0..3 {
                prop_assert!((by_w[1 + k] - sens.entropy_by_weight(j, k)).abs() < 1e-6,
                    "dH_{}/dw_{}: {} vs {}", k, j, by_w[1 + k], sens.entropy_by_weight(j, k));
            }
            let sym = sens.loss_by_weight[j] + sens.entropy_by_scale[j];
            prop_assert!(sym.abs() < 1e-10 * (1.0 + sens.loss_by_weight[j].abs()), "symmetry {}", sym);
        }
    }

    /// Floors on a Gaussian: the answer meets its floors (active ones with equality, to the
    /// tolerance) and the mean budget, and is the mean-constrained optimum at the weights
    /// `(1, mu)` the floors solve reports (the multipliers are the weights, proofs/pareto.md).
    #[test]
    fn gaussian_floors_are_the_mean_constrained_optimum_at_their_multipliers(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let q = gaussian(&mut rng);
        let range = q.loss_range().unwrap();
        let c = range.min + rng.random_range(0.5..3.0);
        let relaxed = solve_floors(&q, Some(c), &[-50.0, -50.0]).unwrap();
        let h = &relaxed.point.entropies;
        let floors = [h[1] + rng.random_range(-0.2..0.3), h[2] + rng.random_range(-0.2..0.3)];
        let fit = solve_floors(&q, Some(c), &floors).unwrap();
        prop_assert!(fit.status.is_converged(), "{:?}", fit.status);
        // The solver's tolerance: 1e-10 (1 + |c| + |min f| + max |h|) on every slack.
        let habs = floors.iter().fold(0.0f64, |a, h| a.max(h.abs()));
        let tol = 1e-10 * (1.0 + c.abs() + range.min.abs() + habs);
        prop_assert!((fit.point.expected_loss - c).abs() <= tol);
        for (k, &floor) in floors.iter().enumerate() {
            prop_assert!(fit.point.entropies[k + 1] >= floor - tol);
            if fit.floor_multipliers[k] > 0.0 {
                prop_assert!((fit.point.entropies[k + 1] - floor).abs() <= tol);
            }
        }
        // The floors answer meets E f = c to its tolerance, the closed form exactly: the two
        // agree to the effect of that tolerance on the multiplier.
        let mean = solve_mean(&q, &fit.weights, MeanConstraint::Equal(c)).unwrap();
        prop_assert!(rel(mean.multiplier.unwrap(), fit.mean_multiplier.unwrap()) < 1e-10);
        for (a, b) in mean.point.entropies.iter().zip(&fit.point.entropies) {
            prop_assert!(rel(*a, *b) < 1e-10, "H {} vs {}", a, b);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Cascades (closed form when homogeneous, the flow in dual numbers when general): the
    /// derivatives and the floors solve equal the tabulated engine's.
    #[test]
    fn cascade_derivatives_and_floors_equal_the_tabulated_engine(
        b in 2usize..=3, depth in 1usize..=3, general in any::<bool>(), seed in any::<u64>(),
        kappa in 0.2f64..3.0,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let c = random_cascade(b, depth, general, kappa, &mut rng);
        let (_, problem) = c.tabulate().unwrap();
        let levels = depth + 1;
        let w: Vec<f64> = (0..levels)
            .map(|k| if k == 0 { rng.random_range(0.3..2.0) } else { rng.random_range(0.0..2.0) })
            .collect();
        for lambda in [0.0, rng.random_range(0.2..3.0)] {
            compare_sensitivity(&c, &problem, lambda, &w);
        }
        let range = c.loss_range().unwrap();
        prop_assume!(range.max - range.min > 1e-3);
        let cap = range.min + rng.random_range(0.2..0.9) * (range.max - range.min);
        let mut w0 = vec![0.0; levels];
        w0[0] = 1.0;
        let relaxed = solve_mean(&problem, &w0, MeanConstraint::AtMost(cap)).unwrap().point;
        let max = problem.max_level_entropies(Some(cap)).unwrap().unwrap();
        let floors = random_floors(&relaxed.entropies, &max, &mut rng);
        let Ok(tab) = solve_floors(&problem, Some(cap), &floors) else { return Ok(()) };
        prop_assume!(tab.status.is_converged());
        let fam = solve_floors(&c, Some(cap), &floors).unwrap();
        prop_assert!(rel(fam.point.expected_loss, tab.point.expected_loss) < 1e-10);
        for (a, b) in fam.point.entropies.iter().zip(&tab.point.entropies) {
            prop_assert!(rel(*a, *b) < 1e-10, "H {} vs {}", a, b);
        }
        multipliers_agree(&problem, Some(cap), &floors, &fam, &tab).map_err(TestCaseError::fail)?;
    }
}

/// The modular Gaussian's closed-form derivatives equal the general Gaussian's covariance
/// formulas on the same matrix (Haar shells, sibling averages), and its floors solve equals
/// the general one's.
#[test]
fn modular_derivatives_and_floors_equal_the_general_gaussian() {
    use hmaxent::families::quadratic::{modular_matrix, sibling_average, Modular, Quadratic};
    for (br, depth) in [(2usize, 2usize), (3, 2), (2, 3)] {
        let eig: Vec<f64> = (0..=depth).map(|j| 0.5 + j as f64).collect();
        let n = br.pow(depth as u32);
        let general = Quadratic::new(
            modular_matrix(br, depth, &eig),
            nalgebra::DVector::zeros(n),
            (0..depth).map(|k| sibling_average(br, depth - k)).collect(),
        )
        .unwrap();
        let m = Modular::new(br, depth, &eig).unwrap();
        let w: Vec<f64> = (0..=depth).map(|k| 1.0 / (1.0 + k as f64)).collect();
        let t = Temperatures::new(&w).unwrap();
        for lambda in [0.4, 2.5] {
            let (pm, sm) = m.sensitivity(lambda, &t).unwrap();
            let (pg, sg) = general.sensitivity(lambda, &t).unwrap();
            assert!(rel(pm.expected_loss, pg.expected_loss) < 1e-12);
            let all = |s: &hmaxent::model::Sensitivity| {
                let mut v = vec![s.loss_by_scale];
                v.extend(&s.loss_by_weight);
                v.extend(&s.entropy_by_scale);
                v.extend(&s.entropy_by_weight);
                v
            };
            for (a, b) in all(&sm).iter().zip(&all(&sg)) {
                assert!(rel(*a, *b) < 1e-10, "{:?}\n{:?}", sm, sg);
            }
        }
        let c = 2.0 * m.solve(&t).unwrap().expected_loss;
        let relaxed = solve_floors(&m, Some(c), &vec![-50.0; depth]).unwrap();
        let floors: Vec<f64> = relaxed.point.entropies[1..]
            .iter()
            .map(|h| h + 0.1)
            .collect();
        let a = solve_floors(&m, Some(c), &floors)
            .unwrap()
            .converged()
            .unwrap();
        let b = solve_floors(&general, Some(c), &floors)
            .unwrap()
            .converged()
            .unwrap();
        for (x, y) in a.floor_multipliers.iter().zip(&b.floor_multipliers) {
            assert!(rel(*x, *y) < 1e-10, "{x} vs {y}");
        }
        for (x, y) in a.point.entropies.iter().zip(&b.point.entropies) {
            assert!(rel(*x, *y) < 1e-10, "{x} vs {y}");
        }
    }
}

/// A random exchangeable model: Ising spins or three values with a gap (`{0, 1, 3}`), `n`
/// levels (`2^n` sites, at most `3^8` states), smooth random block losses
/// `a_k m^2 + b_k m + c_k cos(3 m)` and random site losses (one state sometimes forbidden).
fn exchangeable(rng: &mut StdRng) -> hmaxent::families::exchangeable::Exchangeable {
    use hmaxent::families::exchangeable::{Exchangeable, SiteStates};
    let q = rng.random_range(2..=3usize);
    let n = rng.random_range(1..=3usize);
    let states = if q == 2 {
        SiteStates::ising()
    } else {
        SiteStates::new(&[0.0, 1.0, 3.0]).unwrap()
    };
    let mut site: Vec<f64> = (0..q).map(|_| rng.random_range(-1.0..1.0)).collect();
    if q == 3 && rng.random::<f64>() < 0.3 {
        site[rng.random_range(0..3)] = f64::INFINITY;
    }
    let coef: Vec<[f64; 3]> = (0..=n)
        .map(|_| {
            [
                rng.random_range(-0.5..0.5),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
            ]
        })
        .collect();
    Exchangeable::new(states, n, &site, |k, m| {
        let [a, b, c] = coef[k];
        a * m * m + b * m + c * (3.0 * m).cos()
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Exchangeable blocks (the flow and its top-down pass in dual numbers through the
    /// driver): the derivatives and the floors solve equal the tabulated engine's.
    #[test]
    fn exchangeable_derivatives_and_floors_equal_the_tabulated_engine(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let model = exchangeable(&mut rng);
        let (_, problem) = model.tabulate().unwrap();
        let levels = model.levels() + 1;
        let w: Vec<f64> = (0..levels)
            .map(|k| if k == 0 { rng.random_range(0.3..2.0) } else { rng.random_range(0.0..2.0) })
            .collect();
        for lambda in [0.0, rng.random_range(0.2..3.0)] {
            compare_sensitivity(&model, &problem, lambda, &w);
        }
        let range = model.loss_range().unwrap();
        prop_assume!(range.max - range.min > 1e-3);
        let mut w0 = vec![0.0; levels];
        w0[0] = 1.0;
        let with_mean = rng.random::<bool>();
        let cap = range.min + rng.random_range(0.2..0.9) * (range.max - range.min);
        let mean = with_mean.then_some(cap);
        let relaxed = match mean {
            Some(c) => solve_mean(&problem, &w0, MeanConstraint::AtMost(c)).unwrap().point,
            None => problem.solve_free(&Temperatures::new(&w0).unwrap()).unwrap().1,
        };
        let max = problem.max_level_entropies(mean).unwrap().unwrap();
        let floors = random_floors(&relaxed.entropies, &max, &mut rng);
        let Ok(tab) = solve_floors(&problem, mean, &floors) else { return Ok(()) };
        prop_assume!(tab.status.is_converged());
        let fam = solve_floors(&model, mean, &floors).unwrap();
        prop_assert!(fam.status.is_converged(), "{:?}", fam.status);
        prop_assert!(rel(fam.point.expected_loss, tab.point.expected_loss) < 1e-10);
        for (a, b) in fam.point.entropies.iter().zip(&tab.point.entropies) {
            prop_assert!(rel(*a, *b) < 1e-10, "H {} vs {}", a, b);
        }
        multipliers_agree(&problem, mean, &floors, &fam, &tab).map_err(TestCaseError::fail)?;
    }
}
