//! Each scale gets its own temperature (docs/families-quadratic.md): a hierarchical (modular) Gaussian on the
//! `2^L` leaves of a binary tree, `A = sum_j lambda_j Pi_j`, coarse-grained by sibling
//! averages. `P*` has covariance `sum_j (S_j / lambda_j) Pi_j`, so the variance per wavelet
//! shell is `S_j / lambda_j`: heating level `k` raises the variance of every shell `j >= k`
//! and leaves the finer ones alone. The table is the `O(L)` closed form; the last lines check
//! it on `L = 4` against the general flow with explicit `16 x 16` matrices.
//!
//! Run with `cargo run --example gaussian_scales`.

#[macro_use]
mod common;

use hmaxent::families::quadratic::{
    block_average_projector, modular, modular_matrix, sibling_average, Quadratic,
};
use hmaxent::Temperatures;
use nalgebra::{DMatrix, DVector};

fn main() -> hmaxent::Result<()> {
    let l = 8;
    // A "1/f"-like spectrum: coarse shells are stiffer per coordinate.
    let lambda: Vec<f64> = (0..=l).map(|j| 2f64.powi(j as i32 / 2)).collect();
    let schedules: [(&str, Vec<f64>); 4] = [
        ("Gibbs (tau_k = 0, k >= 1)", {
            let mut t = vec![0.0; l + 1];
            t[0] = 1.0;
            t
        }),
        ("uniform tau_k = 1", vec![1.0; l + 1]),
        ("hot top (tau_L = 10)", {
            let mut t = vec![0.0; l + 1];
            t[0] = 1.0;
            t[l] = 10.0;
            t
        }),
        ("hot middle (tau_4 = 3)", {
            let mut t = vec![0.0; l + 1];
            t[0] = 1.0;
            t[4] = 3.0;
            t
        }),
    ];
    println!("variance per wavelet shell S_j / lambda_j (binary tree, L = {l}; j = 0 finest)");
    print!("{:<28}", "schedule");
    for j in 0..=l {
        print!("{:>8}", format!("j={j}"));
    }
    println!();
    print!("{:<28}", "lambda_j");
    for x in &lambda {
        print!("{x:>8.3}");
    }
    println!();
    for (name, tau) in &schedules {
        let sol = modular(2, l, &lambda, &Temperatures::new(tau)?)?;
        print!("{name:<28}");
        for v in &sol.scale_variances {
            print!("{v:>8.3}");
        }
        println!();
    }

    // Check on L = 4 with the general flow (explicit Haar projectors and averaging maps).
    let (l, b) = (4, 2);
    let lambda = [1.0, 1.5, 2.0, 3.0, 5.0];
    let tau = [0.5, 0.25, 1.0, 0.0, 2.0];
    let t = Temperatures::new(&tau)?;
    let n = 1 << l;
    let maps = (0..l).map(|k| sibling_average(b, l - k)).collect();
    let q = Quadratic::new(modular_matrix(b, l, &lambda), DVector::zeros(n), maps)?;
    let general = q.solve(&t)?;
    let closed = modular(b, l, &lambda, &t)?;
    let mut cov = DMatrix::zeros(n, n);
    for (j, v) in closed.scale_variances.iter().enumerate() {
        let mut pi = block_average_projector(b, l, j);
        if j < l {
            pi -= block_average_projector(b, l, j + 1);
        }
        cov += pi * *v;
    }
    println!(
        "\nL = 4 check: max |Cov(general flow) - sum_j (S_j/lambda_j) Pi_j| = {:.1e}",
        (&general.covariance - cov).amax()
    );
    println!(
        "free energy F = {:.6}, differential entropies h(Y_k) = {:?}",
        general.free_energy,
        general
            .entropies
            .iter()
            .map(|h| (h * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
    );
    Ok(())
}
