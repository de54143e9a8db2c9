//! Moment constraints (docs/concepts.md, "12. Moment constraints") against independent oracles: the exponential-cone
//! program solved by clarabel (`tests/common/exp_cone.rs`), closed forms, brute-force
//! expectations from the returned marginals, and finite differences.
//! Proofs: `proofs/convex_dual.md`.

#[path = "common/exp_cone.rs"]
mod exp_cone;

use hmaxent::constraints::{
    ConvexSettings, MeanConstraint, MomentProblem, Sense, SparseFeature, Status,
};
use hmaxent::{Error, Hierarchy, Problem};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A random small instance: unequal and empty blocks, forbidden states, zero weights.
#[derive(Debug, Clone)]
struct Instance {
    sizes: Vec<usize>,
    parents: Vec<Vec<usize>>,
    loss: Vec<f64>,
    weights: Vec<f64>,
    features: Vec<Vec<f64>>,
    /// A full-support distribution on the allowed states (makes targets interior).
    q: Vec<f64>,
    reference: Option<Vec<f64>>,
}

impl Instance {
    fn random(seed: u64, m: usize, with_reference: bool) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n0 = rng.random_range(5..=9);
        let depth = rng.random_range(1..=2);
        let mut sizes = vec![n0];
        let mut parents = vec![];
        for _ in 0..depth {
            let n = *sizes.last().unwrap();
            let nc = rng.random_range(2..=n.min(4));
            parents.push((0..n).map(|_| rng.random_range(0..nc)).collect());
            sizes.push(nc);
        }
        let mut loss: Vec<f64> = (0..n0)
            .map(|_| {
                if rng.random::<f64>() < 0.15 {
                    f64::INFINITY
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
        loss[0] = 0.3;
        loss[1] = -0.2;
        let weights = (0..=depth)
            .map(|k| {
                if k == 0 {
                    rng.random_range(0.5..2.0)
                } else if rng.random::<f64>() < 0.2 {
                    0.0
                } else {
                    rng.random_range(0.1..2.0)
                }
            })
            .collect();
        let features = (0..m)
            .map(|_| (0..n0).map(|_| rng.random_range(-2.0..2.0)).collect())
            .collect();
        let mut q: Vec<f64> = loss
            .iter()
            .map(|l| {
                if l.is_finite() {
                    rng.random_range(0.2..1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let s: f64 = q.iter().sum();
        q.iter_mut().for_each(|x| *x /= s);
        let reference = with_reference.then(|| {
            (0..n0)
                .map(|_| rng.random_range(0.1..1.0))
                .collect::<Vec<f64>>()
        });
        Self {
            sizes,
            parents,
            loss,
            weights,
            features,
            q,
            reference,
        }
    }

    fn hierarchy(&self) -> Hierarchy {
        Hierarchy::new(self.sizes.clone(), self.parents.clone()).unwrap()
    }

    fn problem(&self) -> Problem {
        let p = Problem::new(&self.hierarchy(), &self.loss).unwrap();
        match &self.reference {
            Some(r) => p.with_reference(r).unwrap(),
            None => p,
        }
    }

    fn allowed(&self) -> Vec<bool> {
        self.loss.iter().map(|l| l.is_finite()).collect()
    }

    /// `E_q[phi_i]`.
    fn interior_targets(&self) -> Vec<f64> {
        self.features.iter().map(|phi| dot(&self.q, phi)).collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .filter(|(&p, _)| p > 0.0)
        .map(|(p, f)| p * f)
        .sum()
}

/// Marginals agree to `1e-7` when clarabel reports `Solved`; at `AlmostSolved` (its reduced
/// accuracy, seen on a few instances where it stops slightly infeasible) to `5e-7`.
fn marginal_tolerance(o: &exp_cone::Oracle) -> f64 {
    use clarabel::solver::SolverStatus;
    match o.status {
        SolverStatus::Solved => 1e-7,
        SolverStatus::AlmostSolved => 5e-7,
        s => panic!("the oracle failed: {s:?}"),
    }
}

fn settings() -> ConvexSettings {
    ConvexSettings::default()
}

#[test]
fn matches_the_exponential_cone_program_on_random_instances() {
    for seed in 0..16 {
        let m = 1 + (seed as usize % 3);
        let inst = Instance::random(seed, m, seed % 4 == 3);
        let targets = inst.interior_targets();
        let problem = inst.problem();
        let fit = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights)
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Converged, "seed {seed}");
        let senses = vec![Sense::Eq; m];
        let o = exp_cone::solve(
            &inst.sizes,
            &inst.parents,
            &inst.allowed(),
            inst.reference.as_deref(),
            &inst.weights,
            &inst.features,
            &targets,
            &senses,
            1e-12,
        );
        assert!(
            (fit.objective - o.objective).abs() < 1e-7,
            "seed {seed}: {} vs {}",
            fit.objective,
            o.objective
        );
        let p = fit.solution.marginal(0);
        for (a, b) in p.iter().zip(&o.p) {
            assert!(
                (a - b).abs() < marginal_tolerance(&o),
                "seed {seed}: marginal {a} vs {b}"
            );
        }
        let theta = fit.multipliers.as_ref().unwrap();
        for (a, b) in theta.iter().zip(&o.theta) {
            assert!(
                (a - b).abs() < 1e-5 * (1.0 + b.abs()),
                "seed {seed}: theta {a} vs {b}"
            );
        }
        assert!(
            fit.duality_gap.abs() <= 1e-9,
            "seed {seed}: gap {}",
            fit.duality_gap
        );
        assert!(fit.sweeps <= 30, "seed {seed}: {} sweeps", fit.sweeps);
    }
}

#[test]
fn inequalities_match_the_cone_program_and_satisfy_kkt() {
    for seed in 100..116 {
        let m = 2 + (seed as usize % 2);
        let inst = Instance::random(seed, m, false);
        let mut rng = StdRng::seed_from_u64(seed + 1000);
        let base = inst.interior_targets();
        // Shift away from q on the feasible side, so q stays feasible with full support.
        let senses: Vec<Sense> = (0..m)
            .map(|i| [Sense::Eq, Sense::Le, Sense::Ge][(i + seed as usize) % 3])
            .collect();
        let targets: Vec<f64> = base
            .iter()
            .zip(&senses)
            .map(|(c, s)| {
                let d = rng.random_range(0.0..0.4);
                match s {
                    Sense::Eq => *c,
                    Sense::Le => c + d,
                    Sense::Ge => c - d,
                }
            })
            .collect();
        let problem = inst.problem();
        let fit = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights)
            .unwrap()
            .with_senses(&senses)
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Converged, "seed {seed}");
        let theta = fit.multipliers.clone().unwrap();
        let p = fit.solution.marginal(0);
        for i in 0..m {
            let e = dot(&p, &inst.features[i]);
            let r = targets[i] - e;
            match senses[i] {
                Sense::Eq => assert!(r.abs() < 1e-9),
                Sense::Le => assert!(theta[i] >= 0.0 && r > -1e-9),
                Sense::Ge => assert!(theta[i] <= 0.0 && r < 1e-9),
            }
            // Complementary slackness.
            assert!(
                (theta[i] * r).abs() < 1e-9,
                "seed {seed}: theta {} r {r}",
                theta[i]
            );
        }
        let o = exp_cone::solve(
            &inst.sizes,
            &inst.parents,
            &inst.allowed(),
            None,
            &inst.weights,
            &inst.features,
            &targets,
            &senses,
            1e-12,
        );
        assert!((fit.objective - o.objective).abs() < 1e-7, "seed {seed}");
        for (a, b) in p.iter().zip(&o.p) {
            assert!(
                (a - b).abs() < marginal_tolerance(&o),
                "seed {seed}: marginal {a} vs {b}"
            );
        }
        for (a, b) in theta.iter().zip(&o.theta) {
            assert!(
                (a - b).abs() < 1e-5 * (1.0 + b.abs()),
                "seed {seed}: theta {a} vs {b}"
            );
        }
        assert!(fit.duality_gap.abs() <= 1e-9);
    }
}

#[test]
fn mean_constraint_beside_features_matches_the_cone_program() {
    for seed in 200..206 {
        let inst = Instance::random(seed, 2, false);
        let h = inst.hierarchy();
        // A level-1 potential makes the total loss differ from u_0.
        let pot: Vec<f64> = (0..inst.sizes[1]).map(|y| 0.5 * y as f64 - 0.3).collect();
        let mut pots = vec![pot.clone()];
        for k in 2..inst.sizes.len() {
            pots.push(vec![0.0; inst.sizes[k]]);
        }
        let problem = Problem::new(&h, &inst.loss)
            .unwrap()
            .with_potentials(&pots)
            .unwrap();
        let total: Vec<f64> = (0..inst.sizes[0])
            .map(|x| {
                if inst.loss[x].is_finite() {
                    inst.loss[x] + pot[inst.parents[0][x]]
                } else {
                    0.0
                }
            })
            .collect();
        let c0 = dot(&inst.q, &total);
        let targets = inst.interior_targets();
        let fit = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights)
            .unwrap()
            .with_mean(MeanConstraint::Equal(c0))
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Converged);
        let mut rows = inst.features.clone();
        rows.push(total);
        let mut t = targets.clone();
        t.push(c0);
        let o = exp_cone::solve(
            &inst.sizes,
            &inst.parents,
            &inst.allowed(),
            None,
            &inst.weights,
            &rows,
            &t,
            &[Sense::Eq; 3],
            1e-12,
        );
        assert!((fit.objective - o.objective).abs() < 1e-7);
        let lambda = fit.mean_multiplier.unwrap();
        assert!(
            (lambda - o.theta[2]).abs() < 1e-5 * (1.0 + lambda.abs()),
            "{lambda} vs {}",
            o.theta[2]
        );
        assert!((fit.solution.expected_total_loss() - c0).abs() < 1e-9);
    }
}

#[test]
#[allow(clippy::excessive_precision)]
fn jaynes_die_multiplier_is_exact() {
    // 50-digit value (mpmath root of E_theta[x] = 4.5, p ∝ exp(-theta x)).
    let h = Hierarchy::flat(6).unwrap();
    let p = Problem::new(&h, &[0.0; 6]).unwrap();
    let phi = vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]];
    let fit = MomentProblem::new(&p, &phi, &[4.5], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    let theta = fit.multipliers.unwrap()[0];
    assert!(
        (theta - -0.371048938081033338165610265384).abs() < 1e-14,
        "{theta}"
    );
    assert!((fit.expected_features[0] - 4.5).abs() < 1e-13);
    assert!(fit.duality_gap.abs() < 1e-12);
}

#[test]
#[allow(clippy::excessive_precision)]
fn an_ill_conditioned_dual_is_polished_to_the_50_digit_answer() {
    // A two-level problem whose dual stops at gradient 8e-11 (within the rule
    // 1e-10 (1 + |c|)) while its marginals were still 3e-10 off: Newton's polishing steps
    // take it to rounding. Reference: mpmath at 50 digits (root of E phi = c, Theorem A at
    // theta phi with S_0 = w_0, S_1 = w_0 + w_1).
    let h = Hierarchy::new(vec![8, 3], vec![vec![1, 2, 2, 2, 0, 2, 0, 1]]).unwrap();
    let p = Problem::new(&h, &[0.0; 8]).unwrap();
    let phi = vec![vec![
        -0.219, 0.178, 0.141, 0.166, -0.126, 1.595, -1.583, -0.403,
    ]];
    let w = [1.7641324929836324, 0.44906309001856615];
    let fit = MomentProblem::new(&p, &phi, &[-0.6296], &w)
        .unwrap()
        .solve(&settings())
        .unwrap();
    let theta = fit.multipliers.unwrap()[0];
    assert!(
        (theta / 1.71817647288374568335138 - 1.0).abs() < 1e-12,
        "{theta}"
    );
    let reference = [
        0.1183617773247674584856046,
        0.08007205594902274360362775,
        0.08301016506151635731017091,
        0.0810133799940582325582374,
        0.09269271756411035208371949,
        0.02014266243173303408911207,
        0.3831148278373598548598858,
        0.141592413837431967009642,
    ];
    for (x, r) in fit.solution.marginal(0).iter().zip(reference) {
        assert!((x / r - 1.0).abs() < 1e-12, "{x} vs {r}");
    }
    let hs = fit.solution.entropies();
    assert!((hs[0] / 1.808421706646114340080219 - 1.0).abs() < 1e-12);
    assert!((hs[1] / 1.055301189227167242782808 - 1.0).abs() < 1e-12);
}

#[test]
fn one_moment_equals_the_mean_constraint_on_random_instances() {
    // One feature phi with E phi = c is the mean constraint on the loss phi: the same P*
    // with theta = lambda. The mean constraint is a 1-D root (Brent), an independent route.
    let mut worst = 0.0f64;
    for seed in 0..300 {
        let inst = Instance::random(seed, 1, false);
        let h = inst.hierarchy();
        let zero: Vec<f64> = inst
            .loss
            .iter()
            .map(|l| if l.is_finite() { 0.0 } else { *l })
            .collect();
        let phi: Vec<f64> = inst.features[0]
            .iter()
            .zip(&inst.loss)
            .map(|(f, l)| if l.is_finite() { *f } else { *l })
            .collect();
        let c = inst.interior_targets()[0];
        let p0 = Problem::new(&h, &zero).unwrap();
        let fit = MomentProblem::new(&p0, &inst.features, &[c], &inst.weights)
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Converged, "seed {seed}");
        let pm = Problem::new(&h, &phi).unwrap();
        let mean =
            hmaxent::constraints::solve_mean(&pm, &inst.weights, MeanConstraint::Equal(c)).unwrap();
        let (theta, lambda) = (fit.multipliers.unwrap()[0], mean.multiplier.unwrap());
        worst = worst.max((theta - lambda).abs() / (1.0 + lambda.abs()));
        for k in 0..inst.sizes.len() {
            for (a, b) in fit
                .solution
                .marginal(k)
                .iter()
                .zip(mean.solution.marginal(k))
            {
                worst = worst.max((a - b).abs() / b.max(1e-3));
            }
        }
    }
    assert!(worst < 1e-12, "worst relative difference {worst:e}");
}

#[test]
fn two_moments_on_three_states_match_the_closed_form() {
    // x in {-1, 0, 1}, E x = a, E x^2 = b fix p: p(±1) = (b ± a)/2, p(0) = 1 - b, and
    // p ∝ exp(-theta_1 x - theta_2 x^2) gives theta in closed form.
    let (a, b) = (0.3f64, 0.55f64);
    let (pp, pm, p0) = ((b + a) / 2.0, (b - a) / 2.0, 1.0 - b);
    let theta1 = (pm.ln() - pp.ln()) / 2.0;
    let theta2 = -(pp.ln() + pm.ln() - 2.0 * p0.ln()) / 2.0;
    let h = Hierarchy::flat(3).unwrap();
    let problem = Problem::new(&h, &[0.0; 3]).unwrap();
    let phi = vec![vec![-1.0, 0.0, 1.0], vec![1.0, 0.0, 1.0]];
    let fit = MomentProblem::new(&problem, &phi, &[a, b], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    let t = fit.multipliers.unwrap();
    assert!(
        (t[0] - theta1).abs() < 1e-12 && (t[1] - theta2).abs() < 1e-12,
        "{t:?}"
    );
    let p = fit.solution.marginal(0);
    for (x, y) in p.iter().zip([pm, p0, pp]) {
        assert!((x - y).abs() < 1e-14);
    }
}

#[test]
fn boundary_target_is_solved_on_its_face() {
    // docs/concepts.md, "5. Theorem A": leaves {0,1} -> A, {2,3} -> B, phi = (0,0,0,1), E phi = 0 = min phi, w = (1,1):
    // Theorem A on {0,1,2} with zero loss: P = (1/(2+√2), 1/(2+√2), √2/(2+√2)... of B), 0).
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    let problem = Problem::new(&h, &[0.0; 4]).unwrap();
    let phi = vec![vec![0.0, 0.0, 0.0, 1.0]];
    for sense in [Sense::Eq, Sense::Le] {
        let fit = MomentProblem::new(&problem, &phi, &[0.0], &[1.0, 1.0])
            .unwrap()
            .with_senses(&[sense])
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Boundary);
        assert!(fit.boundary && fit.multipliers.is_none() && fit.free_energy.is_none());
        let r = 2f64.sqrt();
        let expected = [
            r / 2.0 / (1.0 + r),
            r / 2.0 / (1.0 + r),
            1.0 / (1.0 + r),
            0.0,
        ];
        for (x, y) in fit.solution.marginal(0).iter().zip(expected) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }
}

#[test]
fn a_face_of_two_features_keeps_the_free_directions() {
    // Square corners (0,0),(1,0),(0,1),(1,1) and centre (0.5,0.5); target on the edge y = 0
    // at x = 0.3: the face is {(0,0), (1,0)}, P = (0.7, 0.3, 0, 0, 0).
    let h = Hierarchy::flat(5).unwrap();
    let problem = Problem::new(&h, &[0.0; 5]).unwrap();
    let phi = vec![vec![0.0, 1.0, 0.0, 1.0, 0.5], vec![0.0, 0.0, 1.0, 1.0, 0.5]];
    let fit = MomentProblem::new(&problem, &phi, &[0.3, 0.0], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Boundary);
    for (x, y) in fit
        .solution
        .marginal(0)
        .iter()
        .zip([0.7, 0.3, 0.0, 0.0, 0.0])
    {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
}

#[test]
fn slack_inequality_gets_multiplier_zero_and_the_unconstrained_optimum() {
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    let problem = Problem::new(&h, &[0.0; 4]).unwrap();
    let phi = vec![vec![1.0, 2.0, 3.0, 4.0]];
    // Unconstrained optimum at w = (1, 1) is uniform: E phi = 2.5 <= 3.
    let fit = MomentProblem::new(&problem, &phi, &[3.0], &[1.0, 1.0])
        .unwrap()
        .with_senses(&[Sense::Le])
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.multipliers.unwrap(), vec![0.0]);
    for x in fit.solution.marginal(0) {
        assert!((x - 0.25).abs() < 1e-15);
    }
}

#[test]
fn dual_number_hessian_matches_finite_differences() {
    for seed in 300..306 {
        let inst = Instance::random(seed, 3, seed % 2 == 0);
        let problem = inst.problem();
        let targets = inst.interior_targets();
        let mp = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let theta: Vec<f64> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
        let ev = mp.dual(&theta).unwrap();
        let h = 1e-5;
        for j in 0..3 {
            let mut tp = theta.clone();
            let mut tm = theta.clone();
            tp[j] += h;
            tm[j] -= h;
            let gp = mp.dual(&tp).unwrap().gradient;
            let gm = mp.dual(&tm).unwrap().gradient;
            for i in 0..3 {
                let fd = (gp[i] - gm[i]) / (2.0 * h);
                let exact = ev.hessian[i * 3 + j];
                assert!(
                    (fd - exact).abs() < 1e-8 * (1.0 + exact.abs()),
                    "seed {seed}: H[{i}][{j}] {exact} vs {fd}"
                );
            }
            // And the gradient is the finite difference of the value.
            let fd = (mp.dual(&tp).unwrap().value - mp.dual(&tm).unwrap().value) / (2.0 * h);
            assert!((fd - ev.gradient[j]).abs() < 1e-8);
        }
        // Positive semi-definite: v'Hv >= 0 for a few v.
        for _ in 0..5 {
            let v: Vec<f64> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
            let q: f64 = (0..3)
                .flat_map(|i| (0..3).map(move |j| (i, j)))
                .map(|(i, j)| v[i] * ev.hessian[i * 3 + j] * v[j])
                .sum();
            assert!(q >= -1e-12);
        }
    }
}

#[test]
fn many_constraints_use_chunked_hessians_and_still_converge() {
    // 40 features > 32 tangent directions: the Hessian comes in two chunks.
    let n = 64;
    let h = Hierarchy::complete(2, 6).unwrap();
    let problem = Problem::new(&h, &vec![0.0; n]).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let features: Vec<Vec<f64>> = (0..40)
        .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let q: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..1.0)).collect();
    let s: f64 = q.iter().sum();
    let q: Vec<f64> = q.iter().map(|x| x / s).collect();
    let targets: Vec<f64> = features.iter().map(|f| dot(&q, f)).collect();
    let w = vec![1.0, 0.5, 0.0, 0.2, 0.0, 0.1, 0.3];
    let fit = MomentProblem::new(&problem, &features, &targets, &w)
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Converged);
    let p = fit.solution.marginal(0);
    for (f, c) in features.iter().zip(&targets) {
        assert!((dot(&p, f) - c).abs() < 1e-9);
    }
    assert!(fit.duality_gap.abs() < 1e-9);
}

#[test]
fn many_equalities_use_lbfgs_then_newton_and_meet_the_targets() {
    // 80 equality features > 64: argmin's L-BFGS, then a Newton polish.
    let n = 256;
    let h = Hierarchy::complete(4, 4).unwrap();
    let problem = Problem::new(&h, &vec![0.0; n]).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let features: Vec<Vec<f64>> = (0..80)
        .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let q: Vec<f64> = (0..n)
        .map(|_| rng.random_range(-1.0f64..1.0).exp())
        .collect();
    let s: f64 = q.iter().sum();
    let q: Vec<f64> = q.iter().map(|x| x / s).collect();
    let targets: Vec<f64> = features.iter().map(|f| dot(&q, f)).collect();
    let w = vec![1.0, 0.5, 0.25, 0.0, 0.1];
    let fit = MomentProblem::new(&problem, &features, &targets, &w)
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Converged);
    let p = fit.solution.marginal(0);
    let scale = 1.0 + targets.iter().map(|c| c * c).sum::<f64>().sqrt();
    let r: f64 = features
        .iter()
        .zip(&targets)
        .map(|(f, c)| (dot(&p, f) - c).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(r <= 1e-10 * scale, "residual {r}");
    assert!(fit.duality_gap.abs() < 1e-9);
    // q is feasible, so the optimum is at least its weighted entropy (levels: x / 4^k).
    let hq: f64 = (0..w.len())
        .map(|k| {
            let mut qk = vec![0.0; n >> (2 * k)];
            for (x, &v) in q.iter().enumerate() {
                qk[x >> (2 * k)] += v;
            }
            w[k] * -qk.iter().map(|x| x * x.ln()).sum::<f64>()
        })
        .sum();
    assert!(fit.objective >= hq - 1e-12, "{} < {hq}", fit.objective);
    eprintln!(
        "L-BFGS + Newton: {} iterations, {} sweeps",
        fit.iterations, fit.sweeps
    );
}

/// Keeps about half of each feature's entries (the rest become 0), as sparse and dense
/// inputs of the same features; the sparse list is shuffled and keeps some explicit zeros.
fn sparsified(inst: &Instance, seed: u64) -> (Vec<Vec<f64>>, Vec<SparseFeature>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5a5a);
    let mut dense = Vec::new();
    let mut sparse = Vec::new();
    for phi in &inst.features {
        let mut d = vec![0.0; phi.len()];
        let mut entries = Vec::new();
        for (x, &v) in phi.iter().enumerate() {
            let r = rng.random::<f64>();
            if r < 0.5 {
                d[x] = v;
                entries.push((x, v));
            } else if r < 0.6 {
                entries.push((x, 0.0));
            }
        }
        for i in (1..entries.len()).rev() {
            entries.swap(i, rng.random_range(0..=i));
        }
        let (indices, values) = entries.into_iter().unzip();
        dense.push(d);
        sparse.push(SparseFeature::new(indices, values));
    }
    (dense, sparse)
}

#[test]
fn sparse_features_match_the_exponential_cone_program() {
    for seed in 0..12 {
        let m = 1 + (seed as usize % 3);
        let inst = Instance::random(seed, m, seed % 4 == 3);
        let (dense, sparse) = sparsified(&inst, seed);
        let targets: Vec<f64> = dense.iter().map(|phi| dot(&inst.q, phi)).collect();
        let problem = inst.problem();
        let fit = MomentProblem::sparse(&problem, &sparse, &targets, &inst.weights)
            .unwrap()
            .solve(&settings())
            .unwrap();
        let senses = vec![Sense::Eq; m];
        let o = exp_cone::solve(
            &inst.sizes,
            &inst.parents,
            &inst.allowed(),
            inst.reference.as_deref(),
            &inst.weights,
            &dense,
            &targets,
            &senses,
            1e-12,
        );
        // Sparsified features may be affinely dependent on the allowed states (a zero
        // row, two equal rows): then the face or the multipliers are not unique, but the
        // optimum and P* are.
        assert!(
            (fit.objective - o.objective).abs() < 1e-7,
            "seed {seed}: {} vs {}",
            fit.objective,
            o.objective
        );
        for (a, b) in fit.solution.marginal(0).iter().zip(&o.p) {
            assert!(
                (a - b).abs() < marginal_tolerance(&o),
                "seed {seed}: {a} vs {b}"
            );
        }
        // And the dense input of the same features gives the same solution.
        let d = MomentProblem::new(&problem, &dense, &targets, &inst.weights)
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(d.status, fit.status, "seed {seed}");
        for (a, b) in fit.solution.marginal(0).iter().zip(d.solution.marginal(0)) {
            assert!((a - b).abs() < 1e-12, "seed {seed}: {a} vs {b}");
        }
    }
}

#[test]
fn sparse_boundary_and_infeasible_targets_are_decided_by_the_lp() {
    // Theorem A's tree; phi = indicator of leaf 3, as one sparse entry.
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    let problem = Problem::new(&h, &[0.0; 4]).unwrap();
    let phi = [SparseFeature::new(vec![3], vec![1.0])];
    let fit = MomentProblem::sparse(&problem, &phi, &[0.0], &[1.0, 1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Boundary);
    assert_eq!(fit.solution.marginal(0)[3], 0.0);
    let e = MomentProblem::sparse(&problem, &phi, &[1.5], &[1.0, 1.0])
        .unwrap()
        .solve(&settings())
        .unwrap_err();
    let Error::InfeasibleMoments {
        direction,
        target_value,
        hull_min,
    } = e
    else {
        panic!("expected a certificate, got {e:?}");
    };
    // Recomputed here: theta·c < min_x theta·phi(x) over phi(x) in {0, 1}.
    let t = direction[0];
    assert!((t * 1.5 - target_value).abs() < 1e-15);
    assert!(t * 1.5 < (0.0f64).min(t) && (hull_min - (0.0f64).min(t)).abs() < 1e-15);
}

#[test]
fn bad_sparse_features_are_typed_errors() {
    let h = Hierarchy::flat(3).unwrap();
    let p = Problem::new(&h, &[0.0; 3]).unwrap();
    let bad = |phi: SparseFeature| {
        MomentProblem::sparse(&p, &[phi], &[0.5], &[1.0])
            .unwrap_err()
            .to_string()
    };
    assert!(bad(SparseFeature::new(vec![0, 3], vec![1.0, 1.0])).contains("features[0].indices"));
    assert!(bad(SparseFeature::new(vec![1, 1], vec![1.0, 2.0])).contains("listed twice"));
    assert!(bad(SparseFeature::new(vec![1, 1], vec![0.0, 2.0])).contains("listed twice"));
    assert!(bad(SparseFeature::new(vec![1], vec![1.0, 2.0])).contains("features[0].values"));
    assert!(bad(SparseFeature::new(vec![1], vec![f64::INFINITY])).contains("finite"));
}

#[test]
fn a_target_on_a_face_is_flagged_even_when_the_dual_nearly_converges() {
    // One feature, the indicator of state 0 (scaled), target 0: the face "p(0) = 0". Newton
    // drives p(0) below 1e-10 within its budget, so its residual meets the tolerance; only a
    // witness of interior (not a mass margin alone) tells this from an interior target.
    for (log2, scale) in [(8, 1.0), (12, 1.0), (14, 1.0), (8, 1e-3), (8, 1e-6)] {
        let h = Hierarchy::complete(2, log2).unwrap();
        let n = h.size(0);
        let problem = Problem::new(&h, &vec![0.0; n]).unwrap();
        let mut phi = vec![0.0; n];
        phi[0] = scale;
        let fit = MomentProblem::new(&problem, &[phi], &[0.0], &vec![1.0; log2 + 1])
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Boundary, "2^{log2}, scale {scale}");
        assert_eq!(fit.solution.marginal(0)[0], 0.0);
        // A target just inside is interior, with the exact solution (p(0) = c / scale).
        let mut phi = vec![0.0; n];
        phi[0] = scale;
        let c = 1e-3 * scale;
        let fit = MomentProblem::new(&problem, &[phi], &[c], &vec![1.0; log2 + 1])
            .unwrap()
            .solve(&settings())
            .unwrap();
        assert_eq!(fit.status, Status::Converged, "2^{log2}, scale {scale}");
        assert!((fit.solution.marginal(0)[0] - 1e-3).abs() < 1e-9 / scale);
    }
}

#[test]
fn offsets_and_mixed_scales_do_not_fool_the_interior_witness() {
    // Found by fuzzing against the LP: large offsets (sparse covariance must be centred), a
    // tiny-scale row beside a huge one (rows are scaled separately), and a constant row whose
    // target is off by 1e-6 (infeasible, whatever the size of the other targets).
    let h2 = Hierarchy::flat(2).unwrap();
    let p2 = Problem::new(&h2, &[0.0; 2]).unwrap();
    let phi = [SparseFeature::new(vec![0, 1], vec![1e6, 1e6 + 1.0])];
    let fit = MomentProblem::sparse(&p2, &phi, &[1e6 + 1.0], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Boundary);
    assert_eq!(fit.solution.marginal(0), vec![0.0, 1.0]);

    let h3 = Hierarchy::flat(3).unwrap();
    let p3 = Problem::new(&h3, &[0.0; 3]).unwrap();
    let phi = vec![vec![0.0, 1e6, 2e6], vec![1e-6, 0.0, 0.0]];
    let fit = MomentProblem::new(&p3, &phi, &[1e6, 0.0], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Boundary);
    assert_eq!(fit.solution.marginal(0)[0], 0.0);

    let phi = vec![vec![1e6, 1e6 + 1.0], vec![0.0, 0.0]];
    let e = MomentProblem::new(&p2, &phi, &[1e6 + 0.5, 1e-6], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap_err();
    assert_eq!(e.kind(), hmaxent::ErrorKind::Infeasible);
    // Two states, two large-offset features, targets inconsistent by 7e-6: infeasible.
    let phi = vec![
        vec![1000002.0, 1000001.0],
        vec![1000001.7803240395, 1000001.0654616872],
    ];
    let e = MomentProblem::new(&p2, &phi, &[1000001.2393395354, 1000001.2365497323], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap_err();
    assert_eq!(e.kind(), hmaxent::ErrorKind::Infeasible);
    // And a genuinely interior large-offset target stays interior.
    let phi = vec![vec![1e6, 1e6 + 1.0, 1e6 + 2.0]];
    let fit = MomentProblem::new(&p3, &phi, &[1e6 + 1.4], &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap();
    assert_eq!(fit.status, Status::Converged);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let h = Hierarchy::flat(3).unwrap();
    let p = Problem::new(&h, &[0.0; 3]).unwrap();
    let e = MomentProblem::new(&p, &[vec![0.0, 1.0]], &[0.5], &[1.0]).unwrap_err();
    assert!(matches!(e, Error::LengthMismatch { .. }));
    let e = MomentProblem::new(&p, &[vec![0.0, f64::NAN, 1.0]], &[0.5], &[1.0]).unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }));
    let e = MomentProblem::new(&p, &[vec![0.0, 2.0, 1.0]], &[0.5, 1.0], &[1.0]).unwrap_err();
    assert!(matches!(e, Error::LengthMismatch { .. }));
    let e = MomentProblem::new(&p, &[vec![0.0, 2.0, 1.0]], &[0.5], &[0.0]).unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }));
    let e = ConvexSettings::default()
        .with_max_iterations(0)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidSetting { .. }));
}

fn check_certificate(inst: &Instance, targets: &[f64], senses: &[Sense], e: Error) {
    let Error::InfeasibleMoments {
        direction,
        target_value,
        hull_min,
    } = e
    else {
        panic!("expected InfeasibleMoments, got {e:?}");
    };
    // Recompute both numbers independently.
    let tc: f64 = direction.iter().zip(targets).map(|(t, c)| t * c).sum();
    let allowed = inst.allowed();
    let hm = (0..inst.sizes[0])
        .filter(|&x| allowed[x])
        .map(|x| {
            direction
                .iter()
                .zip(&inst.features)
                .map(|(t, f)| t * f[x])
                .sum::<f64>()
        })
        .fold(f64::INFINITY, f64::min);
    assert!(tc < hm, "no separation: {tc} vs {hm}");
    assert!((tc - target_value).abs() < 1e-12 && (hm - hull_min).abs() < 1e-12);
    for (t, s) in direction.iter().zip(senses) {
        match s {
            Sense::Le => assert!(*t >= 0.0),
            Sense::Ge => assert!(*t <= 0.0),
            Sense::Eq => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn gradient_at_the_solution_is_the_constraint_residual(seed in 0u64..10_000, m in 1usize..4) {
        // proofs/convex_dual.md §1: grad D = c - E_theta[phi].
        let inst = Instance::random(seed, m, seed % 3 == 0);
        let problem = inst.problem();
        // Perturb the targets a little so the residual test is not only at zero.
        let targets = inst.interior_targets();
        let mp = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights).unwrap();
        let fit = mp.solve(&settings()).unwrap();
        prop_assert_eq!(fit.status, Status::Converged);
        let theta = fit.multipliers.clone().unwrap();
        let ev = mp.dual(&theta).unwrap();
        let p = fit.solution.marginal(0);
        for i in 0..m {
            let residual = targets[i] - dot(&p, &inst.features[i]);
            prop_assert!((ev.gradient[i] - residual).abs() < 1e-12);
            prop_assert!(residual.abs() <= 1e-10 * (1.0 + targets.iter().map(|c| c * c).sum::<f64>().sqrt()));
        }
        // And at a different point the gradient is that point's residual.
        let shifted: Vec<f64> = theta.iter().map(|t| t + 0.1).collect();
        let ev = mp.dual(&shifted).unwrap();
        let sol = problem_for(&inst, &shifted).solve(&hmaxent::Temperatures::new(&inst.weights).unwrap()).unwrap();
        let p = sol.marginal(0);
        for ((g, c), f) in ev.gradient.iter().zip(&targets).zip(&inst.features) {
            prop_assert!((g - (c - dot(&p, f))).abs() < 1e-12);
        }
        prop_assert!(fit.duality_gap.abs() <= 1e-9);
    }

    #[test]
    fn infeasible_targets_come_with_a_separating_direction(seed in 0u64..10_000, m in 1usize..4, k in 0usize..3) {
        let inst = Instance::random(seed, m, false);
        let mut rng = StdRng::seed_from_u64(seed ^ 0xabcdef);
        // Push one target beyond its range over the allowed states.
        let allowed = inst.allowed();
        let i = k % m;
        let range = |f: &Vec<f64>| (0..f.len()).filter(|&x| allowed[x]).map(|x| f[x]).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let mut targets = inst.interior_targets();
        let (lo, hi) = range(&inst.features[i]);
        let senses: Vec<Sense> = (0..m).map(|j| if j == i { [Sense::Eq, Sense::Le, Sense::Ge][k] } else { Sense::Eq }).collect();
        targets[i] = match senses[i] {
            Sense::Le => lo - rng.random_range(0.01..1.0),
            Sense::Ge => hi + rng.random_range(0.01..1.0),
            Sense::Eq => hi + rng.random_range(0.01..1.0),
        };
        let problem = inst.problem();
        let e = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights)
            .unwrap()
            .with_senses(&senses)
            .unwrap()
            .solve(&settings())
            .unwrap_err();
        prop_assert_eq!(e.kind(), hmaxent::ErrorKind::Infeasible);
        check_certificate(&inst, &targets, &senses, e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The dual runs before the LP and returns alone only when it proves the interior
    /// (proofs/convex_dual.md §3): the verdict is always the LP's. Targets: interior, a
    /// state's own feature vector (a vertex of the hull, or not), a point 1e-3 inside from
    /// it, and beyond the hull.
    #[test]
    fn the_dual_first_reaches_the_lps_verdict(seed in 0u64..10_000, m in 1usize..4, kind in 0usize..4) {
        use hmaxent::constraints::feasibility::{locate, Location};
        let inst = Instance::random(seed, m, seed % 4 == 0);
        let allowed = inst.allowed();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5151);
        let states: Vec<usize> = (0..allowed.len()).filter(|&x| allowed[x]).collect();
        let x = states[rng.random_range(0..states.len())];
        let vertex: Vec<f64> = inst.features.iter().map(|f| f[x]).collect();
        let inside = inst.interior_targets();
        let targets: Vec<f64> = match kind {
            0 => inside,
            1 => vertex,
            2 => vertex.iter().zip(&inside).map(|(v, c)| 0.999 * v + 0.001 * c).collect(),
            _ => vertex.iter().zip(&inside).map(|(v, c)| 1.5 * v - 0.5 * c).collect(),
        };
        let senses = vec![Sense::Eq; m];
        let lp = locate(&inst.features, &allowed, &targets, &senses);
        let problem = inst.problem();
        let fit = MomentProblem::new(&problem, &inst.features, &targets, &inst.weights)
            .unwrap()
            .solve(&settings());
        match (lp, fit) {
            (Ok(Location::Interior), Ok(fit)) => prop_assert_eq!(fit.status, Status::Converged),
            (Ok(Location::Face(_)), Ok(fit)) => prop_assert_eq!(fit.status, Status::Boundary),
            (Err(a), Err(b)) => prop_assert_eq!(a.kind(), b.kind()),
            (a, b) => return Err(TestCaseError::fail(format!("LP {a:?}, solve {:?}", b.map(|f| f.status)))),
        }
    }
}

/// The problem whose Theorem A solution is `P_theta` (loss `theta·phi`, same forbidden states).
fn problem_for(inst: &Instance, theta: &[f64]) -> Problem {
    let loss: Vec<f64> = (0..inst.sizes[0])
        .map(|x| {
            if inst.loss[x].is_finite() {
                theta
                    .iter()
                    .zip(&inst.features)
                    .map(|(t, f)| t * f[x])
                    .sum()
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let p = Problem::new(&inst.hierarchy(), &loss).unwrap();
    match &inst.reference {
        Some(r) => p.with_reference(r).unwrap(),
        None => p,
    }
}

#[test]
fn infeasible_jointly_but_not_singly_is_certified() {
    // Each target alone is attainable, the pair is not: phi = (x, y) on the corners
    // (0,0), (1,0), (0,1); target (0.6, 0.6) lies outside the triangle x + y <= 1.
    let inst = Instance {
        sizes: vec![3],
        parents: vec![],
        loss: vec![0.0; 3],
        weights: vec![1.0],
        features: vec![vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]],
        q: vec![1.0 / 3.0; 3],
        reference: None,
    };
    let problem = inst.problem();
    let targets = [0.6, 0.6];
    let e = MomentProblem::new(&problem, &inst.features, &targets, &[1.0])
        .unwrap()
        .solve(&settings())
        .unwrap_err();
    check_certificate(&inst, &targets, &[Sense::Eq; 2], e);
}

#[test]
fn cli_features_follow_the_json_contract() {
    let input = serde_json::json!({
        "parents": [[0, 0, 1, 1, 1, 2]],
        "loss": [0, 0, null, 0, 0, 0],
        "weights": [1.0, 0.5],
        "features": [[1, 2, 3, 4, 5, 6], [0, 1, 0, 1, 0, 1]],
        "targets": [3.5, 0.5],
        "sense": ["eq", "le"]
    });
    let out = hmaxent::cli::solve::run(&input, false).unwrap();
    for k in [
        "objective",
        "multipliers",
        "temperatures",
        "free_energy",
        "expected_features",
        "iterations",
        "sweeps",
        "gradient_norm",
        "duality_gap",
        "boundary",
        "entropies",
        "marginals",
    ] {
        assert!(out.get(k).is_some(), "missing {k}: {out}");
    }
    assert!(out.get("multiplier").is_none());
    assert_eq!(out["temperatures"], serde_json::json!([1.0, 0.5]));
    assert_eq!(out["marginals"][0][2], serde_json::json!(0.0));
    let e: Vec<f64> = out["expected_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!((e[0] - 3.5).abs() < 1e-9 && e[1] <= 0.5 + 1e-9);
    assert!(out["duality_gap"].as_f64().unwrap().abs() < 1e-9);

    // With a mean constraint: one more multiplier, reported as `multiplier`.
    let mut with_mean = input.clone();
    with_mean["loss"] = serde_json::json!([0, 1, null, 2, 0, 1]);
    with_mean["mean"] = serde_json::json!(0.8);
    let out = hmaxent::cli::solve::run(&with_mean, true).unwrap();
    assert!(out["multiplier"].is_number());
    assert!((out["expected_loss"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    assert!(out.get("marginals").is_none());

    // The same features as sparse objects (mixed with a dense array) give the same answer;
    // a bad sparse entry is invalid_input.
    let mut sparse = input.clone();
    sparse["features"] = serde_json::json!([
        {"indices": [5, 4, 3, 2, 1, 0], "values": [6, 5, 4, 3, 2, 1]},
        [0, 1, 0, 1, 0, 1]
    ]);
    let s = hmaxent::cli::solve::run(&sparse, false).unwrap();
    let dense = hmaxent::cli::solve::run(&input, false).unwrap();
    for (a, b) in s["marginals"][0]
        .as_array()
        .unwrap()
        .iter()
        .zip(dense["marginals"][0].as_array().unwrap())
    {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-12);
    }
    for bad in [
        serde_json::json!([{"indices": [6], "values": [1]}, [0, 1, 0, 1, 0, 1]]),
        serde_json::json!([{"indices": [1, 1], "values": [1, 2]}, [0, 1, 0, 1, 0, 1]]),
        serde_json::json!([{"indices": [1]}, [0, 1, 0, 1, 0, 1]]),
        serde_json::json!([{"indices": [1], "values": [1], "extra": 0}, [0, 1, 0, 1, 0, 1]]),
    ] {
        let mut p = input.clone();
        p["features"] = bad;
        assert_eq!(
            hmaxent::cli::solve::run(&p, true).unwrap_err().kind(),
            hmaxent::ErrorKind::InvalidInput
        );
    }

    // Boundary: multipliers null.
    let mut edge = input.clone();
    edge["targets"] = serde_json::json!([6.0, 1.0]);
    let out = hmaxent::cli::solve::run(&edge, true).unwrap();
    assert_eq!(out["boundary"], serde_json::json!(true));
    assert!(out["multipliers"].is_null() && out.get("free_energy").is_none());

    // Infeasible: the message carries theta as a JSON array and the two numbers.
    let mut bad = input.clone();
    bad["targets"] = serde_json::json!([7.0, 0.5]);
    let e = hmaxent::cli::solve::run(&bad, true).unwrap_err();
    assert_eq!(e.kind(), hmaxent::ErrorKind::Infeasible);
    let line = hmaxent::cli::error_line(&e);
    let start = line.find("theta = [").unwrap() + "theta = ".len();
    let end = start + line[start..].find(']').unwrap() + 1;
    let theta: Vec<f64> = serde_json::from_str(&line[start..end]).unwrap();
    assert_eq!(theta.len(), 2);

    // Bad senses and lengths are invalid_input.
    let mut bad = input.clone();
    bad["sense"] = serde_json::json!(["eq", "lt"]);
    assert_eq!(
        hmaxent::cli::solve::run(&bad, true).unwrap_err().kind(),
        hmaxent::ErrorKind::InvalidInput
    );
    let mut bad = input.clone();
    bad["targets"] = serde_json::json!([1.0]);
    assert_eq!(
        hmaxent::cli::solve::run(&bad, true).unwrap_err().kind(),
        hmaxent::ErrorKind::InvalidInput
    );
    let mut bad = input;
    bad["sense"] = serde_json::json!(["eq", "le"]);
    bad.as_object_mut().unwrap().remove("targets");
    assert_eq!(
        hmaxent::cli::solve::run(&bad, true).unwrap_err().kind(),
        hmaxent::ErrorKind::InvalidInput
    );
}

#[test]
fn a_target_beyond_its_rows_range_is_infeasible_with_a_unit_direction() {
    // Any target above max phi (even 1e308, where the LP's solver fails) is certified by
    // theta = -e_0: theta·c = -c < min_x -phi(x) = -4.
    let h = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]]).unwrap();
    let p = Problem::new(&h, &[0.0; 4]).unwrap();
    for c in [4.5, 1e300, 1e308] {
        let e = MomentProblem::new(&p, &[vec![1.0, 2.0, 3.0, 4.0]], &[c], &[1.0, 1.0])
            .unwrap()
            .solve(&settings())
            .unwrap_err();
        match e {
            Error::InfeasibleMoments {
                direction,
                target_value,
                hull_min,
            } => {
                assert_eq!(direction, vec![-1.0]);
                assert_eq!((target_value, hull_min), (-c, -4.0));
            }
            other => panic!("{other}"),
        }
    }
}
