//! Moment-constrained hierarchical maximum entropy: the sweep-based dual (exact Hessian by
//! dual numbers) against clarabel solving the same problem as an exponential-cone program.
//!
//! `cargo run --release --example moments_bench [log2_states] [clarabel_log2_states...]`
//! (defaults: 16, and clarabel at 10 12). A complete binary tree with `2^L` leaves, 10 random
//! features, targets `E_q[phi]` for a random full-support `q` (interior), level weights
//! `w_k = 1 / (k + 1)`. Prints time and sweeps for ours (`ours_total_s`: the default solve,
//! whose converged dual proves the targets interior so the LP is not needed; `newton_s`: the
//! dual with the verification off; `feasibility_lp_s`: what the LP alone costs), time for
//! clarabel, and the objective difference at the sizes both solve.

#[macro_use]
mod common;

#[path = "../tests/common/exp_cone.rs"]
mod exp_cone;

use std::time::Instant;

use hmaxent::constraints::feasibility::locate;
use hmaxent::constraints::{ConvexSettings, MomentProblem, Sense};
use hmaxent::{Hierarchy, Problem};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FEATURES: usize = 10;

struct Case {
    hierarchy: Hierarchy,
    sizes: Vec<usize>,
    parents: Vec<Vec<usize>>,
    features: Vec<Vec<f64>>,
    targets: Vec<f64>,
    weights: Vec<f64>,
}

fn case(log2: usize) -> Case {
    let n = 1usize << log2;
    let mut rng = StdRng::seed_from_u64(2024);
    let features: Vec<Vec<f64>> = (0..FEATURES)
        .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    // A skewed q (weights spanning e^6) puts the targets well away from the uniform start.
    let q: Vec<f64> = (0..n)
        .map(|_| rng.random_range(-3.0f64..3.0).exp())
        .collect();
    let s: f64 = q.iter().sum();
    let targets = features
        .iter()
        .map(|f| f.iter().zip(&q).map(|(a, b)| a * b / s).sum())
        .collect();
    let sizes: Vec<usize> = (0..=log2).map(|k| n >> k).collect();
    let parents: Vec<Vec<usize>> = (0..log2)
        .map(|k| (0..sizes[k]).map(|x| x / 2).collect())
        .collect();
    Case {
        hierarchy: Hierarchy::complete(2, log2).expect("a valid tree"),
        sizes,
        parents,
        features,
        targets,
        weights: (0..=log2).map(|k| 1.0 / (k as f64 + 1.0)).collect(),
    }
}

#[allow(clippy::type_complexity)]
fn ours(c: &Case) -> (f64, f64, f64, f64, usize, usize, f64) {
    let n = c.sizes[0];
    let problem = Problem::new(&c.hierarchy, &vec![0.0; n]).expect("valid");
    let mp = MomentProblem::new(&problem, &c.features, &c.targets, &c.weights).expect("valid");
    // The dual alone (the targets are moments of a full-support q, so interior), best of 5.
    let settings = ConvexSettings::default().with_feasibility_check(false);
    let mut newton = f64::INFINITY;
    let mut fit = mp.solve(&settings).expect("solves");
    for _ in 0..5 {
        let t = Instant::now();
        fit = mp.solve(&settings).expect("solves");
        newton = newton.min(t.elapsed().as_secs_f64());
    }
    // The default solve (feasibility verified), once.
    let t = Instant::now();
    let full = mp.solve(&ConvexSettings::default()).expect("solves");
    let total = t.elapsed().as_secs_f64();
    assert_eq!(full.sweeps, fit.sweeps);
    let t = Instant::now();
    locate(
        &c.features,
        &vec![true; n],
        &c.targets,
        &[Sense::Eq; FEATURES],
    )
    .expect("feasible");
    let lp = t.elapsed().as_secs_f64();
    // Per-sweep costs: one f64 sweep (Theorem A) and one evaluation of the dual with its
    // exact Hessian (an f64 sweep and the multilevel covariance of its marginals) at the
    // solution.
    let theta = fit.multipliers.clone().expect("interior");
    let w = hmaxent::Temperatures::new(&c.weights).expect("valid");
    let plain = best_of(5, || {
        problem.solve(&w).expect("solves");
    });
    let dual = best_of(5, || {
        mp.dual(&theta).expect("evaluates");
    });
    eprintln!(
        "2^{}: one f64 sweep {:.2} ms, one dual evaluation with its exact {FEATURES}x{FEATURES} Hessian {:.2} ms",
        c.sizes.len() - 1,
        plain * 1e3,
        dual * 1e3
    );
    (
        total,
        lp,
        newton,
        fit.objective,
        fit.sweeps,
        fit.iterations,
        fit.gradient_norm,
    )
}

fn best_of(k: usize, mut f: impl FnMut()) -> f64 {
    (0..k)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("an integer log2 size"))
        .collect();
    let big = args.first().copied().unwrap_or(16);
    let small: Vec<usize> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec![10, 12]
    };
    println!("# {FEATURES} features, complete binary tree, w_k = 1/(k+1)");
    println!("states  ours_total_s  feasibility_lp_s  newton_s  sweeps  iterations  grad_norm  clarabel_s  |obj diff|  speedup(newton)  speedup(total)");
    let mut sizes = small.clone();
    if !sizes.contains(&big) {
        sizes.push(big);
    }
    for &l in &sizes {
        let c = case(l);
        let (total, lp, newton, obj, sweeps, iters, g) = ours(&c);
        if small.contains(&l) {
            let t = Instant::now();
            let o = exp_cone::solve(
                &c.sizes,
                &c.parents,
                &vec![true; c.sizes[0]],
                None,
                &c.weights,
                &c.features,
                &c.targets,
                &[Sense::Eq; FEATURES],
                1e-10,
            );
            let tc = t.elapsed().as_secs_f64();
            println!(
                "2^{l:<4} {total:>12.4} {lp:>17.4} {newton:>9.5} {sweeps:>7} {iters:>11} {g:>10.1e} {tc:>11.3} {:>11.1e} {:>16.0} {:>15.1}   (clarabel {:?})",
                (obj - o.objective).abs(),
                tc / newton,
                tc / total,
                o.status
            );
        } else {
            println!(
                "2^{l:<4} {total:>12.4} {lp:>17.4} {newton:>9.5} {sweeps:>7} {iters:>11} {g:>10.1e}"
            );
        }
    }
}
