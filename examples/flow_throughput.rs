//! Throughput of the parameter flows (docs/concepts.md, "15. Parameter flows"): how long a flow takes at sizes no
//! tabulated sweep could list. Run with `cargo run --release --example flow_throughput`.
//!
//! Each family adds one `section` below; every line prints what was timed and the figure.

#[macro_use]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use hmaxent::constraints::solve_mean;
use hmaxent::constraints::MeanConstraint;
use hmaxent::constraints::{frontier, solve_floors};
use hmaxent::families::chain::{Boundary, Chain};
use hmaxent::model::Model;
use hmaxent::{Sample, Temperatures};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Best wall time of `runs` calls of `f`.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn chains() -> hmaxent::Result<()> {
    section("nearest-neighbour chains (docs/families-chain.md)");
    let mut rng = SmallRng::seed_from_u64(1);

    // Homogeneous q = 2 chain, 2^40 + 1 sites: the flow and every level's entropy.
    let l = 40;
    let chain = Chain::homogeneous(2, l, Boundary::Open, &[-0.7, 0.4, 0.9, -0.2])?;
    let tau: Vec<f64> = (0..=l).map(|k| if k == 0 { 1.0 } else { 0.05 }).collect();
    let t = Temperatures::new(&tau)?;
    let sol = chain.solve(&t)?;
    let d = best(20, || chain.solve(&t));
    println!(
        "homogeneous q=2, 2^40+1 sites, solve (F, 41 entropies, E f): {:>10.3} ms   (target < 1 ms)",
        d.as_secs_f64() * 1e3
    );
    println!(
        "    F = {:.6e}, H(Y_0) = {:.6e}, H(Y_40) = {:.6}",
        sol.summary.free_energy, sol.summary.entropies[0], sol.summary.entropies[l]
    );

    // Inhomogeneous q = 3 chain, 2^20 + 1 sites.
    let l = 20;
    let bonds: Vec<f64> = (0..(9usize << l))
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let chain = Chain::inhomogeneous(3, l, Boundary::Open, bonds)?;
    let tau: Vec<f64> = (0..=l).map(|k| if k == 0 { 0.8 } else { 0.1 }).collect();
    let t = Temperatures::new(&tau)?;
    let sol = chain.solve(&t)?;
    let d_flow = best(5, || chain.flow(&t));
    let d = best(5, || chain.solve(&t));
    println!(
        "inhomogeneous q=3, 2^20+1 sites, flow only:                {:>10.3} ms",
        d_flow.as_secs_f64() * 1e3
    );
    println!(
        "inhomogeneous q=3, 2^20+1 sites, solve (F, entropies, E f): {:>10.3} ms   (target < 500 ms)",
        d.as_secs_f64() * 1e3
    );
    println!(
        "    F = {:.15e}, H(Y_0) = {:.15e}, H(Y_10) = {:.15e}, E f = {:.15e}",
        sol.summary.free_energy,
        sol.summary.entropies[0],
        sol.summary.entropies[10],
        sol.summary.expected_loss
    );

    // Exact sampling by inverse RG: homogeneous q = 2, 2^24 + 1 sites per sample.
    let l = 24;
    let chain = Chain::homogeneous(2, l, Boundary::Open, &[-0.7, 0.4, 0.9, -0.2])?;
    let tau: Vec<f64> = (0..=l).map(|k| if k == 0 { 1.0 } else { 0.05 }).collect();
    let sampler = chain.flow(&Temperatures::new(&tau)?)?.sampler()?;
    let mut x = vec![0u32; sampler.sites()];
    let d = best(5, || sampler.sample_into(&mut rng, &mut x));
    println!(
        "sampling q=2 homogeneous, 2^24+1 sites:                     {:>10.3e} sites/s (target >= 5e7)",
        sampler.sites() as f64 / d.as_secs_f64()
    );

    // Sampling an inhomogeneous q = 3 chain, 2^20 + 1 sites.
    let l = 20;
    let bonds: Vec<f64> = (0..(9usize << l))
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let chain = Chain::inhomogeneous(3, l, Boundary::Ring, bonds)?;
    let tau: Vec<f64> = (0..=l).map(|k| if k == 0 { 0.8 } else { 0.1 }).collect();
    let sampler = chain.flow(&Temperatures::new(&tau)?)?.sampler()?;
    let mut x = vec![0u32; sampler.sites()];
    let d = best(5, || sampler.sample_into(&mut rng, &mut x));
    println!(
        "sampling q=3 inhomogeneous ring, 2^20 sites:                {:>10.3e} sites/s",
        sampler.sites() as f64 / d.as_secs_f64()
    );
    Ok(())
}

fn quadratic() -> hmaxent::Result<()> {
    section("quadratic modular (Gaussian) losses (docs/families-quadratic.md)");
    let mut rng = SmallRng::seed_from_u64(2);
    // Depth 1000, b = 2 (2^1000 coordinates): scale variances, through the CLI entry point.
    let l = 1000;
    let lambda: Vec<f64> = (0..=l).map(|_| rng.random_range(0.5..2.0)).collect();
    let tau: Vec<f64> = (0..=l).map(|_| rng.random_range(0.0..1.0) + 0.01).collect();
    let input = serde_json::json!({"family": "quadratic-modular", "branching": 2, "depth": l,
        "eigenvalues": lambda, "temperatures": tau});
    let t = Temperatures::new(&tau)?;
    let d = best(50, || {
        hmaxent::families::quadratic::modular(2, l, &lambda, &t)
    });
    println!(
        "modular b=2, depth 1000, scale variances (library):         {:>10.3} ms   (target < 1 ms)",
        d.as_secs_f64() * 1e3
    );
    let d = best(50, || hmaxent::cli::flow::run(&input, true));
    println!(
        "modular b=2, depth 1000, `flow --summary` (parsed JSON in):  {:>10.3} ms   (target < 1 ms)",
        d.as_secs_f64() * 1e3
    );
    let d = best(5, || hmaxent::cli::flow::run(&input, false));
    println!(
        "modular b=2, depth 1000, with eigenvalue_flow (500k values): {:>10.3} ms",
        d.as_secs_f64() * 1e3
    );
    // General quadratic, n = 64 with three halving maps.
    let n = 64;
    let b = nalgebra::DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0));
    let a = &b * b.transpose() + nalgebra::DMatrix::identity(n, n) * (n as f64);
    let maps = (0..3)
        .map(|k| {
            let m = n >> (k + 1);
            nalgebra::DMatrix::from_fn(m, 2 * m, |r, c| if c / 2 == r { 0.5 } else { 0.0 })
        })
        .collect();
    let q = hmaxent::families::quadratic::Quadratic::new(
        a,
        nalgebra::DVector::from_element(n, 1.0),
        maps,
    )?;
    let t = Temperatures::new(&[1.0, 0.5, 0.5, 0.5])?;
    let d = best(10, || q.solve(&t));
    println!(
        "general quadratic n=64, 3 maps, solve (mean, covariance, F): {:>10.3} ms",
        d.as_secs_f64() * 1e3
    );
    Ok(())
}

fn cascades() -> hmaxent::Result<()> {
    section("logarithmic cascades (docs/families-cascade.md)");
    let mut rng = SmallRng::seed_from_u64(3);
    use hmaxent::families::cascade::Cascade;
    // Homogeneous binary cascade of depth 10^5 (2^100000 leaves), closed form.
    let l = 100_000;
    let qs: Vec<Vec<f64>> = (0..l)
        .map(|_| {
            let p = rng.random_range(0.05..0.95);
            vec![p, 1.0 - p]
        })
        .collect();
    let c = Cascade::homogeneous(1.0, 2, l, &qs)?;
    let t = Temperatures::new(&vec![0.01; l + 1])?;
    let d = best(10, || c.solve(&t));
    println!(
        "homogeneous b=2, depth 1e5, solve (F, entropies, escorts):  {:>10.3} ms",
        d.as_secs_f64() * 1e3
    );
    // General ternary cascade of depth 12 (531441 leaves): the reweighted flow.
    let l = 12;
    let qs: Vec<Vec<f64>> = (0..l)
        .map(|k| {
            (0..3usize.pow((l - k - 1) as u32))
                .flat_map(|_| {
                    let w: Vec<f64> = (0..3).map(|_| rng.random_range(0.05..1.0)).collect();
                    let s: f64 = w.iter().sum();
                    w.into_iter().map(move |x| x / s)
                })
                .collect()
        })
        .collect();
    let c = Cascade::general(0.8, 3, l, qs)?;
    let t = Temperatures::new(&vec![0.2; l + 1])?;
    let d = best(3, || c.solve(&t));
    println!(
        "general b=3, depth 12 (3^12 leaves), solve:                 {:>10.3} ms",
        d.as_secs_f64() * 1e3
    );
    Ok(())
}

fn constrained() -> hmaxent::Result<()> {
    section("constraints over families (docs/constraints-families.md)");
    let mut rng = SmallRng::seed_from_u64(2);

    // Mean-constrained homogeneous q = 2 chain, 2^40 + 1 sites.
    let l = 40;
    let chain = Chain::homogeneous(2, l, Boundary::Open, &[-0.7, 0.4, 0.9, -0.2])?;
    let w: Vec<f64> = (0..=l).map(|k| if k == 0 { 1.0 } else { 0.05 }).collect();
    let range = chain.loss_range()?;
    let c = range.min + 0.3 * (range.max - range.min);
    let fit = solve_mean(&chain, &w, MeanConstraint::Equal(c))?;
    let d = best(10, || solve_mean(&chain, &w, MeanConstraint::Equal(c)));
    println!(
        "mean-constrained homogeneous q=2, 2^40+1 sites: {:>10.3} ms   (target < 5 ms; {} flows, lambda = {:.6})",
        d.as_secs_f64() * 1e3,
        fit.sweeps,
        fit.multiplier.unwrap_or(f64::NAN)
    );

    // Mean-constrained inhomogeneous q = 3 chain, 2^16 + 1 sites.
    let l = 16;
    let bonds: Vec<f64> = (0..(1usize << l) * 9)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let chain = Chain::inhomogeneous(3, l, Boundary::Open, bonds)?;
    let w: Vec<f64> = (0..=l).map(|k| 1.0 / (1.0 + k as f64)).collect();
    let range = chain.loss_range()?;
    let c = range.min + 0.6 * (range.max - range.min);
    let fit = solve_mean(&chain, &w, MeanConstraint::Equal(c))?;
    let d = best(3, || solve_mean(&chain, &w, MeanConstraint::Equal(c)));
    println!(
        "mean-constrained inhomogeneous q=3, 2^16+1 sites: {:>10.3} ms   (target < 1000 ms; {} flows, lambda = {:.6})",
        d.as_secs_f64() * 1e3,
        fit.sweeps,
        fit.multiplier.unwrap_or(f64::NAN)
    );

    // Pareto frontier of a 2^40 + 1-site chain over 100 weight vectors (mean-constrained).
    let l = 40;
    let chain = Chain::homogeneous(2, l, Boundary::Open, &[-0.7, 0.4, 0.9, -0.2])?;
    let weights: Vec<Vec<f64>> = (0..100)
        .map(|i| {
            (0..=l)
                .map(|k| {
                    if k == 0 {
                        1.0
                    } else {
                        (i as f64 / 99.0) / (1.0 + k as f64)
                    }
                })
                .collect()
        })
        .collect();
    let range = chain.loss_range()?;
    let c = range.min + 0.3 * (range.max - range.min);
    let mean = Some(MeanConstraint::Equal(c));
    let fr = frontier(&chain, &weights, mean)?;
    let d = best(3, || frontier(&chain, &weights, mean));
    println!(
        "Pareto frontier, 2^40+1 sites, 100 weight vectors, E f = c: {:>10.3} ms   (target < 500 ms; {} dominated pairs)",
        d.as_secs_f64() * 1e3,
        fr.dominated.len()
    );
    let d = best(3, || frontier(&chain, &weights, None));
    println!(
        "Pareto frontier, 2^40+1 sites, 100 weight vectors, unconstrained: {:>10.3} ms",
        d.as_secs_f64() * 1e3
    );

    // Entropy floors on the same chain: maximise H(Y_0) with E f <= c and floors on two
    // coarse levels, set between the relaxed entropies and log 2 per site.
    let relaxed = solve_floors(&chain, Some(c), &vec![0.0; l])?;
    let h = &relaxed.point.entropies;
    let mut floors = vec![0.0; l];
    floors[9] = h[10] + 0.2 * ((1u64 << 30) as f64 * 2f64.ln() - h[10]);
    floors[29] = h[30] + 0.2 * (1025.0 * 2f64.ln() - h[30]);
    let fit = solve_floors(&chain, Some(c), &floors)?.converged()?;
    let d = best(3, || solve_floors(&chain, Some(c), &floors));
    println!(
        "entropy floors, 2^40+1 sites, E f <= c, floors on H(Y_10), H(Y_30): {:>10.3} ms   ({} Newton iterations, {} solves, mu_10 = {:.6e}, mu_30 = {:.6e})",
        d.as_secs_f64() * 1e3,
        fit.iterations,
        fit.sweeps,
        fit.floor_multipliers[9],
        fit.floor_multipliers[29]
    );
    Ok(())
}

fn main() -> hmaxent::Result<()> {
    chains()?;
    quadratic()?;
    cascades()?;
    constrained()?;
    Ok(())
}
