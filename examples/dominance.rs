//! Times the Pareto dominance sweep on `10^5` points: a consistent two-criterion frontier,
//! a three-criterion one, and random clouds (`cargo run --release --example dominance`).

#[macro_use]
mod common;

use std::time::Instant;

use hmaxent::constraints::dominance::dominated_pairs;
use rand::{Rng, SeedableRng};

fn time(name: &str, points: &[Vec<f64>]) {
    let start = Instant::now();
    let pairs = dominated_pairs(points);
    println!(
        "{name}: {} points, {} dominated pairs, {:.3} s",
        points.len(),
        pairs.len(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let p = 100_000;
    let arc: Vec<Vec<f64>> = (0..p)
        .map(|i| {
            let t = std::f64::consts::FRAC_PI_2 * i as f64 / (p - 1) as f64;
            vec![t.cos(), t.sin()]
        })
        .collect();
    time("two-criterion frontier", &arc);
    let octant: Vec<Vec<f64>> = (0..p)
        .map(|i| {
            let (a, b) = ((i % 316) as f64 / 316.0, (i / 316) as f64 / 317.0);
            let (t, u) = (
                std::f64::consts::FRAC_PI_2 * a,
                std::f64::consts::FRAC_PI_2 * b,
            );
            vec![t.cos() * u.cos(), t.sin() * u.cos(), u.sin()]
        })
        .collect();
    time("three-criterion frontier", &octant);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let cloud: Vec<Vec<f64>> = (0..p)
        .map(|_| {
            let x: f64 = rng.random_range(0.0..1.0);
            vec![x, 1.0 - x + rng.random_range(-1e-4..1e-4)]
        })
        .collect();
    time("noisy two-criterion frontier", &cloud);
}
