//! The 1D Ising chain under decimation (docs/families-chain.md): how the dimensionless coupling
//! `K_k = J_k / S_k` flows across levels at several temperatures, and exact samples of a
//! 1,025-site chain drawn level by level (inverse RG, docs/concepts.md, "10. Sampling").
//!
//! Run with `cargo run --example ising_flow`.

#[macro_use]
mod common;

use hmaxent::families::chain::{ising_bond, ising_flow, Boundary, Chain};
use hmaxent::{Sample, Temperatures};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() -> hmaxent::Result<()> {
    let (j, h) = (1.0, 0.0);
    let levels = 10;

    println!("Ising chain, J = {j}, h = {h}: bond phi(s, s') = -J s s' - h (s + s') / 2");
    println!(
        "coupling flow K_k = J_k / S_k (closed form, docs/families-chain.md); tau_k = 0 for k >= 1"
    );
    print!("{:>8}", "tau_0");
    for k in 0..=levels {
        print!("{:>9}", format!("K_{k}"));
    }
    println!();
    for tau0 in [0.25, 0.5, 1.0, 2.0, 4.0] {
        let mut tau = vec![0.0; levels + 1];
        tau[0] = tau0;
        let t = Temperatures::new(&tau)?;
        print!("{tau0:>8.2}");
        for c in ising_flow(j, h, t.cumulative_slice()) {
            print!("{:>9.4}", c.k);
        }
        println!();
    }

    println!(
        "\nthe same with coarse levels heated, tau_k = tau_0 / 2 (re-tempering S_k / S_(k+1) < 1)"
    );
    for tau0 in [0.25, 1.0, 4.0] {
        let tau: Vec<f64> = (0..=levels)
            .map(|k| if k == 0 { tau0 } else { tau0 / 2.0 })
            .collect();
        let t = Temperatures::new(&tau)?;
        print!("{tau0:>8.2}");
        for c in ising_flow(j, h, t.cumulative_slice()) {
            print!("{:>9.4}", c.k);
        }
        println!();
    }

    // Exact samples of the 2^10 + 1 = 1,025-site open chain at tau_0 = 0.5, coarse levels cold.
    let mut tau = vec![0.0; levels + 1];
    tau[0] = 0.5;
    let t = Temperatures::new(&tau)?;
    let chain = Chain::homogeneous(2, levels, Boundary::Open, &ising_bond(j, h))?;
    let sol = chain.solve(&t)?;
    println!(
        "\n1,025-site chain at tau_0 = 0.5: F = {:.4}, H(Y_0) = {:.4} nats, E f = {:.4}",
        sol.summary.free_energy, sol.summary.entropies[0], sol.summary.expected_loss
    );
    let sampler = sol.flow.sampler()?;
    let mut rng = StdRng::seed_from_u64(2024);
    let mut x = vec![0u32; sampler.sites()];
    println!("six exact samples (rows of 128 sites, '+' = up, '-' = down):");
    for n in 0..6 {
        sampler.sample_into(&mut rng, &mut x);
        println!("sample {n}:");
        for row in x.chunks(128) {
            let line: String = row
                .iter()
                .map(|&s| if s == 1 { '+' } else { '-' })
                .collect();
            println!("  {line}");
        }
    }
    Ok(())
}
