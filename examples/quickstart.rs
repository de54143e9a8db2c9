//! A small solved problem, printed so a person can read it.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```
//!
//! Eight leaves `0..8` are grouped in pairs (4 blocks), the pairs in pairs (2 blocks), and
//! those into one root: the complete binary tree of depth 3. The loss of a leaf is the number
//! of 1 bits in its index, so leaf 0 is cheapest and leaf 7 dearest. We then
//!
//! 1. solve the free-energy problem at temperatures `tau = (0.5, 0.5, 0.5, 0)` (Theorem A)
//!    and compare `P*` with the classical Gibbs distribution at `tau_0` alone;
//! 2. solve the hierarchical maximum-entropy problem with a mean constraint `E[f] = c`,
//!    below and above the unconstrained mean, and at the boundary `c = min f`;
//! 3. draw exact samples from `P*` with a seeded random number generator;
//! 4. show the boundary example of docs/concepts.md, "8. Boundaries", where the zero-temperature limit is *not* uniform on
//!    the minimisers.

#[macro_use]
mod common;

use hmaxent::constraints::solve_mean;
use hmaxent::{Hierarchy, MeanConstraint, Problem, Result, Solution, Temperatures};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn main() -> Result<()> {
    // ── The hierarchy ────────────────────────────────────────────────────────────────
    // parents[k-1][i] is the level-k state of level-(k-1) state i.
    // (`Hierarchy::complete(2, 3)` builds the same tree.)
    let h = Hierarchy::new(
        vec![8, 4, 2, 1],
        vec![vec![0, 0, 1, 1, 2, 2, 3, 3], vec![0, 0, 1, 1], vec![0, 0]],
    )?;
    let loss: Vec<f64> = (0..8u32).map(|x| f64::from(x.count_ones())).collect();

    section("The hierarchy");
    println!("levels d + 1 = {}, sizes n_k = {:?}", h.levels(), h.sizes());
    for k in 1..h.levels() {
        let blocks: Vec<String> = (0..h.size(k))
            .map(|y| format!("{y}:{:?}", h.children(k, y)))
            .collect();
        println!(
            "level {k} blocks (state: children at level {}): {}",
            k - 1,
            blocks.join("  ")
        );
    }
    println!("loss f = u_0 = number of 1 bits = {loss:?}");

    // ── 1. Theorem A at given temperatures ──────────────────────────────────────────
    let problem = Problem::new(&h, &loss)?;
    let t = Temperatures::new(&[0.5, 0.5, 0.5, 0.0])?;
    let sol = problem.solve(&t)?;
    // The classical Gibbs distribution exp(-f / tau_0) / Z is Theorem A with tau_k = 0, k >= 1.
    let gibbs = problem.solve(&Temperatures::new(&[0.5, 0.0, 0.0, 0.0])?)?;

    section("1. Free-energy problem: minimise E[f] - sum_k tau_k H(Y_k)");
    per_level(&sol);
    println!("free energy F = {:.6}", sol.free_energy());
    println!(
        "check: E[f] - sum_k tau_k H(Y_k) = {:.6}",
        sol.expected_total_loss()
            - t.as_slice()
                .iter()
                .zip(sol.entropies())
                .map(|(tau, h)| tau * h)
                .sum::<f64>()
    );
    println!(
        "\nGibbs(x) = exp(-f(x) / tau_0) / Z is the single-level answer (tau_k = 0 for k >= 1)."
    );
    leaf_table(&h, &loss, &sol, Some(&gibbs));
    println!();
    coarse_marginals(&sol);
    println!(
        "\nLeaves 1, 2 and 4 have the same loss and the same Gibbs probability. Under P* leaf 1\n\
         is rarer: it competes with the cheap leaf 0 inside its block, while 2 and 4 are the\n\
         best of theirs. The hotter coarse levels keep the top split more even:\n\
         P*_2 = {} against {} for Gibbs.",
        fmt_vec(&sol.marginal(2)),
        fmt_vec(&gibbs.marginal(2))
    );

    // ── 2. Mean constraint ──────────────────────────────────────────────────────────
    section("2. Hierarchical max-ent: maximise sum_k w_k H(Y_k) subject to E[f] = c");
    let weights = [1.0, 1.0, 1.0, 1.0];
    // The unconstrained optimum (lambda = 0) is Theorem A for the zero loss at temperatures w.
    let free = Problem::new(&h, &[0.0; 8])?.solve(&Temperatures::new(&weights)?)?;
    let m0: f64 = free.marginal(0).iter().zip(&loss).map(|(p, f)| p * f).sum();
    println!("weights w = {weights:?}; the unconstrained optimum (lambda = 0) has E[f] = {m0}");
    // E[f] = 1 (below the unconstrained mean), E[f] = 2 (above: the mirror image, since
    // f(7 - x) = 3 - f(x)), and E[f] <= 2 (slack: the unconstrained optimum, lambda = 0).
    let constraints = [
        MeanConstraint::Equal(1.0),
        MeanConstraint::Equal(2.0),
        MeanConstraint::AtMost(2.0),
    ];
    for constraint in constraints {
        let fit = solve_mean(&problem, &weights, constraint)?;
        match constraint {
            MeanConstraint::Equal(c) => println!("\nE[f] = {c}:"),
            MeanConstraint::AtMost(c) => println!("\nE[f] <= {c}:"),
        }
        match fit.multiplier {
            Some(lambda) => println!(
                "  multiplier lambda = {lambda:+.6}  ({})",
                if lambda > 0.0 {
                    "> 0: c is below the unconstrained mean"
                } else if lambda < 0.0 {
                    "< 0: c is above the unconstrained mean; P* is Theorem A for -f"
                } else {
                    "= 0: the constraint is slack"
                }
            ),
            None => println!("  multiplier lambda = none (boundary: c = min f or max f)"),
        }
        if let Some(tau) = &fit.temperatures {
            println!("  temperatures tau_k = w_k / lambda = {}", fmt_vec(tau));
        }
        println!("  objective sum_k w_k H(Y_k) = {:.6}", fit.objective);
        println!(
            "  E[f] = {:.6}, entropies H(Y_k) = {}",
            fit.solution.expected_total_loss(),
            fmt_vec(fit.solution.entropies())
        );
        println!("  P*_0 = {}", fmt_vec(&fit.solution.marginal(0)));
    }

    // ── 3. Exact sampling ───────────────────────────────────────────────────────────
    section("3. Exact samples of P* (inverse RG: root, then block by block)");
    let sampler = sol.sampler();
    let mut rng = StdRng::seed_from_u64(2024);
    let mut path = [0usize; 4];
    for i in 0..8 {
        sampler.sample_path_into(&mut rng, &mut path);
        println!(
            "sample {i}: leaf {} (path y_0..y_3 = {:?}, loss {})",
            path[0], path, loss[path[0]]
        );
    }
    let n = 100_000;
    let mut xs = vec![0usize; n];
    sampler.fill(&mut rng, &mut xs);
    let mut counts = [0usize; 8];
    xs.iter().for_each(|&x| counts[x] += 1);
    let freq: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    println!("\nfrequencies of {n} samples: {}", fmt_vec(&freq));
    println!("P*_0                      : {}", fmt_vec(&sol.marginal(0)));

    // ── 4. the boundary example of docs/concepts.md, "8. Boundaries" ───────────────────────────────────────────────
    section("4. Boundary: leaves {0,1} -> A, {2,3} -> B, f = (0,0,0,1), w = (1,1), c = min f");
    let h2 = Hierarchy::new(vec![4, 2], vec![vec![0, 0, 1, 1]])?;
    let p2 = Problem::new(&h2, &[0.0, 0.0, 0.0, 1.0])?;
    let fit = solve_mean(&p2, &[1.0, 1.0], MeanConstraint::Equal(0.0))?;
    println!(
        "boundary = {}, multiplier = {:?}, P*_0 = {}",
        fit.boundary,
        fit.multiplier,
        fmt_vec(&fit.solution.marginal(0))
    );
    println!(
        "(not the block-by-block limit (0.25, 0.25, 0.5, 0): P*_1 = {} maximises H(Y_0) + H(Y_1))",
        fmt_vec(&fit.solution.marginal(1))
    );
    Ok(())
}

fn section(title: &str) {
    println!("\n{title}\n{}", "-".repeat(title.chars().count()));
}

fn fmt_vec(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
    format!("({})", parts.join(", "))
}

/// Temperatures, cumulative temperatures, entropies and expected losses per level.
fn per_level(sol: &Solution) {
    let t = sol.temperatures();
    println!(
        "{:>5} {:>4} {:>8} {:>8} {:>10} {:>12}",
        "level", "n_k", "tau_k", "S_k", "H(Y_k)", "E[u_k(Y_k)]"
    );
    for k in 0..sol.hierarchy().levels() {
        println!(
            "{:>5} {:>4} {:>8.3} {:>8.3} {:>10.6} {:>12.6}",
            k,
            sol.hierarchy().size(k),
            t.tau(k),
            t.cumulative(k),
            sol.entropy(k),
            sol.expected_loss(k)
        );
    }
}

/// `P*_0` leaf by leaf, with each leaf's ancestors and (optionally) a comparison solution.
fn leaf_table(h: &Hierarchy, loss: &[f64], sol: &Solution, other: Option<&Solution>) {
    let p = sol.marginal(0);
    let q = other.map(|o| o.marginal(0));
    println!(
        "{:>4} {:>12} {:>6} {:>10}{}",
        "leaf",
        "(y1, y2, y3)",
        "f(x)",
        "P*_0(x)",
        if q.is_some() { "   Gibbs(x)" } else { "" }
    );
    for x in 0..h.size(0) {
        let y1 = h.parent(0, x);
        let y2 = h.parent(1, y1);
        let y3 = h.parent(2, y2);
        print!(
            "{:>4} {:>12} {:>6} {:>10.6}",
            x,
            format!("({y1}, {y2}, {y3})"),
            loss[x],
            p[x]
        );
        match &q {
            Some(q) => println!(" {:>10.6}", q[x]),
            None => println!(),
        }
    }
}

/// The coarse marginals `P*_1, ..., P*_d`.
fn coarse_marginals(sol: &Solution) {
    for k in 1..sol.hierarchy().levels() {
        println!("P*_{k} = {}", fmt_vec(&sol.marginal(k)));
    }
}
