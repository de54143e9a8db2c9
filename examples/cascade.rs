//! Temperatures reshape a multiplicative cascade (docs/families-cascade.md). A homogeneous binary cascade
//! with weights `(p, 1 - p)` at every level has the loss `f = -kappa log Q`; the optimal
//! conditional at level `k` is the escort `q^(kappa / S_k) / sum q^(kappa / S_k)`, so the
//! cumulative temperature acts as an inverse "q-order": cold levels (`S_k < kappa`) sharpen
//! the split towards the heavy child, hot levels (`S_k > kappa`) flatten it towards uniform.
//!
//! A leaf's `P*` mass is a product of escort weights, so `P*` is again a multiplicative cascade
//! and its singularity spectrum is that of the escorts: on a dyadic interval of length
//! `2^-L` reached by `m` heavy steps the mass scales like `2^-L alpha` with
//! `alpha = -(m log2 e_heavy + (L - m) log2 e_light) / L`. The table prints the range of
//! `alpha` (the power-law exponents of `P*`) per schedule: re-tempering the coarse levels moves
//! the exponents of the coarse scales only.
//!
//! Run with `cargo run --example cascade`.

#[macro_use]
mod common;

use hmaxent::families::cascade::Cascade;
use hmaxent::{Sample, Temperatures};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() -> hmaxent::Result<()> {
    let (kappa, p, l) = (1.0, 0.7, 12);
    let c = Cascade::homogeneous(kappa, 2, l, &vec![vec![p, 1.0 - p]; l])?;
    println!(
        "binary cascade, q = ({p}, {:.1}), kappa = {kappa}, depth {l}",
        1.0 - p
    );
    println!(
        "{:<34}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "schedule", "e_0(heavy)", "e_L-1", "alpha_min", "alpha_max", "H(Y_0)"
    );
    let schedules: Vec<(&str, Vec<f64>)> = vec![
        ("tau_0 = kappa (P* = Q)", {
            let mut t = vec![0.0; l + 1];
            t[0] = kappa;
            t
        }),
        ("cold: tau_0 = kappa / 4", {
            let mut t = vec![0.0; l + 1];
            t[0] = kappa / 4.0;
            t
        }),
        ("hot: tau_0 = 4 kappa", {
            let mut t = vec![0.0; l + 1];
            t[0] = 4.0 * kappa;
            t
        }),
        ("cold leaves, heated coarse levels", {
            let mut t = vec![0.25 * kappa; l + 1];
            t[0] = kappa / 4.0;
            t
        }),
    ];
    for (name, tau) in &schedules {
        let sol = c.solve(&Temperatures::new(tau)?)?;
        let (first, last) = (&sol.escorts[0], &sol.escorts[l - 1]);
        // alpha over the leaves: per level, heavy or light step; extremes take all heavy or
        // all light steps.
        let heavy: f64 = sol.escorts.iter().map(|e| -e[0].log2()).sum::<f64>() / l as f64;
        let light: f64 = sol.escorts.iter().map(|e| -e[1].log2()).sum::<f64>() / l as f64;
        println!(
            "{name:<34}{:>10.4}{:>10.4}{:>10.4}{:>10.4}{:>10.4}",
            first[0],
            last[0],
            heavy.min(light),
            heavy.max(light),
            sol.summary.entropies[0]
        );
    }

    // Exact samples, digit by digit (inverse RG): the heaviest leaf is 0...0.
    let sol = c.solve(&Temperatures::new(&schedules[1].1)?)?;
    let mut rng = StdRng::seed_from_u64(1);
    let mut digits = vec![0usize; l];
    println!("\nfive samples at tau_0 = kappa / 4 (digits, coarsest first):");
    for _ in 0..5 {
        sol.sample_into(&mut rng, &mut digits);
        let s: String = digits
            .iter()
            .rev()
            .map(|d| char::from(b'0' + *d as u8))
            .collect();
        println!("  {s}");
    }
    Ok(())
}
