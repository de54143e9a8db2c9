//! Per-element cost of the vector `exp`, `ln` and `ln_1p` kernels, for every kernel family the CPU
//! offers, on a slice of `2^L` values (default `2^20`, in cache on most machines; `2^24` is
//! memory-bound).
//!
//! ```text
//! cargo run --release --example kernels -- [L] [REPS]
//! ```

#[macro_use]
mod common;

use std::hint::black_box;
use std::time::Instant;

use hmaxent::numerics::{cpu, exp_slice, ln_1p_slice, ln_slice};

fn main() {
    let mut args = std::env::args().skip(1);
    let log2: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let n = 1usize << log2;
    let src: Vec<f64> = (0..n)
        .map(|i| -8.0 * ((i * 7919) % 1000) as f64 / 1000.0)
        .collect();
    let pos: Vec<f64> = src.iter().map(|x| 1.0 - x).collect();
    let unit: Vec<f64> = src.iter().map(|x| x.exp()).collect();
    let mut buf = vec![0.0; n];
    let time = |buf: &mut Vec<f64>, input: &[f64], f: &dyn Fn(&mut [f64])| {
        (0..reps)
            .map(|_| {
                buf.copy_from_slice(input);
                let t = Instant::now();
                f(black_box(buf));
                t.elapsed().as_secs_f64() * 1e9 / n as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    println!("2^{log2} values, best of {reps}: ns per element");
    for isa in cpu::available() {
        let e = cpu::with_isa(isa, || time(&mut buf, &src, &|b| exp_slice(b)));
        let l = cpu::with_isa(isa, || time(&mut buf, &pos, &|b| ln_slice(b)));
        let l1 = cpu::with_isa(isa, || time(&mut buf, &unit, &|b| ln_1p_slice(b)));
        println!("{isa:?}: exp {e:.3}  ln {l:.3}  ln_1p on [0, 1] {l1:.3}");
    }
    let e = time(&mut buf, &src, &|b| b.iter_mut().for_each(|x| *x = x.exp()));
    println!("libm exp {e:.3}");
}
