//! The trade-off between fine and coarse entropy at a fixed expected loss.
//!
//! Three levels: 15 leaves -> 5 groups -> 2 regions. Region A holds many cheap leaves, region B
//! a few expensive ones. Spreading over the leaves (high `H(Y_0)`) wants to stay in A; spreading
//! over the regions (high `H(Y_2)`) must pay for B with the same loss budget `E f = 0.5`, so it
//! gives up leaf entropy. The frontier over the weight grid shows it, and the
//! epsilon-constraint form (maximise `H(Y_0)` with a floor on `H(Y_2)`) traces the same curve,
//! its multipliers being the weights.
//!
//! ```text
//! cargo run --example pareto                    # tables
//! cargo run --example pareto --features plot    # also target/pareto.svg
//! ```

#[macro_use]
mod common;

use hmaxent::constraints::pareto::weights_grid;
use hmaxent::constraints::{frontier, solve_floors, MeanConstraint};
use hmaxent::{Hierarchy, Problem};
use serde_json::json;

fn main() -> Result<(), hmaxent::Error> {
    // Leaves 0..11 in region A (groups 0, 1, 2 of four leaves), leaves 12..14 in region B
    // (group 3 with two leaves, group 4 with one).
    let groups = vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4];
    let regions = vec![0, 0, 0, 1, 1];
    let loss = vec![
        0.0, 0.2, 0.4, 0.6, 0.1, 0.3, 0.5, 0.7, 0.2, 0.4, 0.6, 0.8, 2.0, 2.4, 2.2,
    ];
    let mean = 0.5;
    let h = Hierarchy::new(vec![15, 5, 2], vec![groups.clone(), regions.clone()])?;
    let problem = Problem::new(&h, &loss)?;

    let weights = weights_grid(3, 4)?;
    let frontier = frontier(&problem, &weights, Some(MeanConstraint::Equal(mean)))?;
    println!("Frontier at E f = {mean} over the weight grid (steps = 4):");
    println!(
        "{:>18} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "weights", "lambda", "H(Y_0)", "H(Y_1)", "H(Y_2)", "objective"
    );
    for p in &frontier.points {
        let w = format!(
            "({:.2},{:.2},{:.2})",
            p.weights[0], p.weights[1], p.weights[2]
        );
        let lambda = p
            .multiplier
            .map_or("boundary".to_string(), |l| format!("{l:.4}"));
        println!(
            "{w:>18} {lambda:>10} {:>9.5} {:>9.5} {:>9.5} {:>9.5}",
            p.entropies[0], p.entropies[1], p.entropies[2], p.objective
        );
    }
    println!(
        "dominated pairs: {:?} (empty: every point is Pareto optimal)\n",
        frontier.dominated
    );

    // The epsilon-constraint form: maximise H(Y_0) with E f <= mean and H(Y_2) >= floor.
    let free = solve_floors(&problem, Some(mean), &[0.0, 0.0])?;
    println!(
        "Epsilon-constraint: max H(Y_0) s.t. E f <= {mean}, H(Y_2) >= h (unconstrained H(Y_2) = {:.5}, attainable max {:.5}):",
        free.solution.entropy(2),
        free.max_entropies.as_ref().unwrap()[1]
    );
    println!(
        "{:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>6}",
        "h", "H(Y_0)", "H(Y_2)", "lambda", "mu_2", "E f", "iters"
    );
    let (lo, hi) = (
        free.solution.entropy(2),
        free.max_entropies.as_ref().unwrap()[1],
    );
    for i in 0..=6 {
        let floor = lo + (hi - lo) * f64::from(i) / 6.5;
        let fit = solve_floors(&problem, Some(mean), &[0.0, floor])?;
        println!(
            "{floor:>8.5} {:>9.5} {:>9.5} {:>9.5} {:>9.5} {:>10.6} {:>6}",
            fit.objective,
            fit.solution.entropy(2),
            fit.mean_multiplier.unwrap_or(f64::NAN),
            fit.floor_multipliers[1],
            fit.solution.expected_total_loss(),
            fit.iterations
        );
    }
    println!("(mu_2 is the weight on H(Y_2) relative to H(Y_0) that reproduces the point.)");

    let input = json!({
        "parents": [groups, regions],
        "loss": loss,
        "weights_grid": {"steps": 10},
        "mean": mean,
    });
    if cfg!(feature = "plot") {
        std::fs::create_dir_all("target").map_err(|e| hmaxent::Error::Io(e.to_string()))?;
        hmaxent::cli::pareto::run(&input, Some("target/pareto.svg"))?;
        println!("\nwrote target/pareto.svg (H(Y_0) against H(Y_1) and H(Y_2), 55 weight vectors)");
    } else {
        println!("\n(build with --features plot to write target/pareto.svg)");
    }
    Ok(())
}
