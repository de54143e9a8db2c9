//! Random small chains shared by the constraint tests over families.
#![allow(dead_code)]

use hmaxent::families::chain::{Boundary, Chain};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const INF: f64 = f64::INFINITY;

/// `|a - b|` relative to `max(1, |a|, |b|)`.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1.0)
}

/// A random small chain: `q` in {2, 3}, `L` in 1..=2, open or ring, homogeneous or not,
/// entries in [-2, 2] with some `+inf`.
pub fn chains(p_inf_max: f64) -> impl Strategy<Value = (Chain, u64)> {
    (
        2usize..=3,
        1usize..=2,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        0.0f64..p_inf_max,
    )
        .prop_map(|(q, l, ring, homogeneous, seed, p_inf)| {
            let mut rng = StdRng::seed_from_u64(seed);
            let chain = random_chain(&mut rng, q, l, ring, homogeneous, p_inf);
            (chain, seed)
        })
}

/// A chain with `q` states, `l` levels, a ring or open, one bond or `2^l`, entries drawn from
/// `rng` in `[-2, 2]`, each `+inf` with probability `p_inf`.
pub fn random_chain(
    rng: &mut StdRng,
    q: usize,
    l: usize,
    ring: bool,
    homogeneous: bool,
    p_inf: f64,
) -> Chain {
    let boundary = if ring { Boundary::Ring } else { Boundary::Open };
    let n = if homogeneous { 1 } else { 1 << l };
    let bonds: Vec<f64> = (0..n * q * q)
        .map(|_| {
            if rng.random::<f64>() < p_inf {
                INF
            } else {
                rng.random_range(-2.0..2.0)
            }
        })
        .collect();
    if homogeneous {
        Chain::homogeneous(q, l, boundary, &bonds).unwrap()
    } else {
        Chain::inhomogeneous(q, l, boundary, bonds).unwrap()
    }
}
