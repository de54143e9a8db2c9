//! Full tabulated solve (free energy, marginals, entropies, expected losses) of complete
//! binary trees with `2^10 .. 2^22` leaves and random losses, into fresh memory and with
//! recycled tables.
//!
//! `cargo bench --bench sweep`; under `cargo test --benches` criterion runs each case once.
//! For the comparison with the exp and copy floors use `examples/throughput.rs`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmaxent::rg::pool::BufferPool;
use hmaxent::{Hierarchy, Problem, Temperatures};
use rand::{Rng, SeedableRng};

fn full_solve(c: &mut Criterion) {
    let mut group = c.benchmark_group("full_solve_binary_tree");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for log2 in [10usize, 14, 18, 22] {
        let h = Arc::new(Hierarchy::complete(2, log2).expect("valid tree"));
        let n = h.size(0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let loss: Vec<f64> = (0..n).map(|_| 4.0 * rng.random::<f64>()).collect();
        let problem = Problem::from_vec(Arc::clone(&h), loss).expect("valid losses");
        let t = Temperatures::new(&vec![1.0; log2 + 1]).expect("valid temperatures");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("2^{log2}")),
            &t,
            |b, t| {
                b.iter(|| {
                    let sol = problem.solve(t).expect("solvable");
                    std::hint::black_box((sol.free_energy(), sol.entropies()[0]));
                });
            },
        );
        // The same solve in a loop that recycles its tables (Problem::solve_with_pool).
        let pool = BufferPool::default();
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("2^{log2} pooled")),
            &t,
            |b, t| {
                b.iter(|| {
                    let sol = problem.solve_with_pool(t, &pool).expect("solvable");
                    std::hint::black_box((sol.free_energy(), sol.entropies()[0]));
                    pool.recycle(sol);
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, full_solve);
criterion_main!(benches);
