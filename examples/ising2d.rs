//! The 2D Ising model on the 4 x 4 torus as an exact multilevel sampler (docs/ising2d.md).
//!
//! `J = 1`, `E(x) = -sum over the 32 nearest-neighbour bonds s_i s_j`, levels: the 16 spins,
//! the 2 x 2 torus of 2 x 2 majority block spins (ties to the block's top-left spin), the top.
//! `P*` at `tau = (1, t1, t2)` with loss `beta E` is an exact sampler whose coarse level is
//! tempered by `t1`; used as a proposal for the Boltzmann distribution `p_B ∝ exp(-beta E)` it
//! gives importance weights `p_B / P*`, known here exactly.
//!
//! ```text
//! cargo run --release --example ising2d -- --json --beta 0.44 --tau 1,0.5,0 --samples 100000 --seed 1
//! cargo run --release --features plot --example ising2d -- --beta 0.44 --svg sweep.svg
//! ```
//!
//! `--json` prints `log_z`, `free_energy`, `entropies`, `ess_fraction` (exact
//! `1 / sum_x p_B(x)^2 / P*(x)`), `kl_boltzmann_to_pstar`, `boltzmann` and `pstar`
//! (`energy`, `abs_magnetisation`, `binder`, `susceptibility`, all exact) and `reweighted`
//! (the four Boltzmann observables from `N` samples of `P*` with self-normalised weights, each
//! `{"value", "stderr"}`, and the sampled `ess_fraction`). Without `--json` it prints the same
//! as a table, the time of one solve plus the sampling, and a sweep of `t1` (exact ESS and
//! `H(Y_1)`); `--svg PATH` (feature `plot`) draws that sweep.

#![allow(dead_code)]

#[macro_use]
mod common;

use std::time::Instant;

use hmaxent::lattice::{BlockMap, Lattice};
use hmaxent::{Hierarchy, Problem, Temperatures};
use rand::SeedableRng;
use serde_json::{json, Value};

/// The 4 x 4 torus with its block-spin hierarchy and, per configuration, `E` and `m`.
pub struct Ising2d {
    /// The lattice.
    pub lattice: Lattice,
    /// Spins, 2 x 2 majority block spins, top.
    pub hierarchy: Hierarchy,
    /// `E(x)` per configuration.
    pub energy: Vec<f64>,
    /// `m(x) = sum_i s_i / 16` per configuration.
    pub magnetisation: Vec<f64>,
}

/// The four observables of a distribution over configurations.
#[derive(Debug, Clone, Copy)]
pub struct Observables {
    /// `<E>`.
    pub energy: f64,
    /// `<|m|>`.
    pub abs_magnetisation: f64,
    /// `1 - <m^4> / (3 <m^2>^2)`.
    pub binder: f64,
    /// `beta 16 (<m^2> - <|m|>^2)`.
    pub susceptibility: f64,
}

/// Everything exact at one `(beta, tau)`.
pub struct Exact {
    /// `log sum_x exp(-beta E(x))`.
    pub log_z: f64,
    /// `F` of `P*` (loss `beta E`).
    pub free_energy: f64,
    /// `H(Y_0), H(Y_1), H(Y_2)` under `P*`.
    pub entropies: Vec<f64>,
    /// `1 / sum_x p_B(x)^2 / P*(x)`.
    pub ess_fraction: f64,
    /// `D(p_B || P*)`.
    pub kl_boltzmann_to_pstar: f64,
    /// Observables under `p_B`.
    pub boltzmann: Observables,
    /// Observables under `P*`.
    pub pstar: Observables,
    /// `log p_B(x) - log P*(x)` per configuration.
    pub log_weights: Vec<f64>,
    /// The solved problem (for sampling).
    pub solution: hmaxent::Solution,
}

impl Ising2d {
    /// Builds the lattice, the hierarchy and the tables.
    pub fn new() -> hmaxent::Result<Self> {
        let lattice = Lattice::new(4, 4)?;
        let hierarchy = lattice.hierarchy(&[BlockMap::majority(2)], true)?;
        let n = lattice.configurations();
        let energy = (0..n).map(|x| lattice.energy(x)).collect();
        let magnetisation = (0..n)
            .map(|x| f64::from(lattice.magnetisation(x)) / 16.0)
            .collect();
        Ok(Self {
            lattice,
            hierarchy,
            energy,
            magnetisation,
        })
    }

    /// The observables of the distribution `p` (over configurations) at `beta`.
    pub fn observables(&self, p: &[f64], beta: f64) -> Observables {
        let mean =
            |f: &dyn Fn(usize) -> f64| -> f64 { p.iter().enumerate().map(|(x, q)| q * f(x)).sum() };
        let m = &self.magnetisation;
        let (e, a, m2, m4) = (
            mean(&|x| self.energy[x]),
            mean(&|x| m[x].abs()),
            mean(&|x| m[x] * m[x]),
            mean(&|x| m[x].powi(4)),
        );
        Observables {
            energy: e,
            abs_magnetisation: a,
            binder: 1.0 - m4 / (3.0 * m2 * m2),
            susceptibility: beta * 16.0 * (m2 - a * a),
        }
    }

    /// Solves `P*` at `tau` for the loss `beta E` and compares it with `p_B`.
    pub fn exact(&self, beta: f64, tau: &[f64]) -> hmaxent::Result<Exact> {
        let loss: Vec<f64> = self.energy.iter().map(|e| beta * e).collect();
        let solution = Problem::new(&self.hierarchy, &loss)?.solve(&Temperatures::new(tau)?)?;
        let top = loss.iter().map(|l| -l).fold(f64::NEG_INFINITY, f64::max);
        let log_z = top + loss.iter().map(|l| (-l - top).exp()).sum::<f64>().ln();
        let pstar = solution.marginal(0);
        let pb: Vec<f64> = loss.iter().map(|l| (-l - log_z).exp()).collect();
        let log_weights: Vec<f64> = loss
            .iter()
            .zip(&pstar)
            .map(|(l, q)| -l - log_z - q.ln())
            .collect();
        let second: f64 = pb
            .iter()
            .zip(&log_weights)
            .map(|(p, lw)| p * lw.exp())
            .sum();
        let kl: f64 = pb.iter().zip(&log_weights).map(|(p, lw)| p * lw).sum();
        Ok(Exact {
            log_z,
            free_energy: solution.free_energy(),
            entropies: solution.entropies().to_vec(),
            ess_fraction: 1.0 / second,
            kl_boltzmann_to_pstar: kl,
            boltzmann: self.observables(&pb, beta),
            pstar: self.observables(&pstar, beta),
            log_weights,
            solution,
        })
    }
}

/// Self-normalised importance estimates of the four Boltzmann observables from `samples`
/// exact draws of `P*`, each with its delta-method standard error
/// `sqrt(sum_i w_i^2 phi_i^2) / sum_i w_i` (`phi_i` the linearised influence of draw `i`),
/// and the sampled ESS fraction `(sum w)^2 / (N sum w^2)`.
pub fn reweighted(model: &Ising2d, exact: &Exact, beta: f64, samples: usize, seed: u64) -> Value {
    let sampler = exact.solution.sampler();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut xs = vec![0usize; samples];
    sampler.fill(&mut rng, &mut xs);
    let top = exact
        .log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = xs
        .iter()
        .map(|&x| (exact.log_weights[x] - top).exp())
        .collect();
    let sw: f64 = w.iter().sum();
    let sw2: f64 = w.iter().map(|x| x * x).sum();
    let m = &model.magnetisation;
    // Per draw: E, |m|, m^2, m^4.
    let f = |x: usize| [model.energy[x], m[x].abs(), m[x] * m[x], m[x].powi(4)];
    let mut mu = [0.0; 4];
    for (&x, &wi) in xs.iter().zip(&w) {
        for (acc, v) in mu.iter_mut().zip(f(x)) {
            *acc += wi * v / sw;
        }
    }
    let [e, a, m2, m4] = mu;
    // Gradients of the four observables in (E, |m|, m^2, m^4).
    let grads = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [
            0.0,
            0.0,
            2.0 * m4 / (3.0 * m2.powi(3)),
            -1.0 / (3.0 * m2 * m2),
        ],
        [0.0, -beta * 32.0 * a, beta * 16.0, 0.0],
    ];
    let values = [e, a, 1.0 - m4 / (3.0 * m2 * m2), beta * 16.0 * (m2 - a * a)];
    let mut var = [0.0; 4];
    for (&x, &wi) in xs.iter().zip(&w) {
        let d: Vec<f64> = f(x).iter().zip(&mu).map(|(v, u)| v - u).collect();
        for (g, acc) in grads.iter().zip(var.iter_mut()) {
            let phi: f64 = g.iter().zip(&d).map(|(a, b)| a * b).sum();
            *acc += (wi * phi).powi(2);
        }
    }
    let est = |i: usize| json!({"value": values[i], "stderr": var[i].sqrt() / sw});
    json!({
        "energy": est(0),
        "abs_magnetisation": est(1),
        "binder": est(2),
        "susceptibility": est(3),
        "ess_fraction": sw * sw / (samples as f64 * sw2),
    })
}

fn observables_json(o: &Observables) -> Value {
    json!({
        "energy": o.energy,
        "abs_magnetisation": o.abs_magnetisation,
        "binder": o.binder,
        "susceptibility": o.susceptibility,
    })
}

/// The `--json` report.
pub fn report(beta: f64, tau: &[f64], samples: usize, seed: u64) -> hmaxent::Result<Value> {
    let model = Ising2d::new()?;
    let exact = model.exact(beta, tau)?;
    Ok(json!({
        "beta": beta,
        "temperatures": tau,
        "log_z": exact.log_z,
        "free_energy": exact.free_energy,
        "entropies": exact.entropies,
        "ess_fraction": exact.ess_fraction,
        "kl_boltzmann_to_pstar": exact.kl_boltzmann_to_pstar,
        "boltzmann": observables_json(&exact.boltzmann),
        "pstar": observables_json(&exact.pstar),
        "reweighted": reweighted(&model, &exact, beta, samples, seed),
    }))
}

struct Args {
    json: bool,
    beta: f64,
    tau: Vec<f64>,
    samples: usize,
    seed: u64,
    svg: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        json: false,
        beta: 0.5 * (1.0 + 2f64.sqrt()).ln(),
        tau: vec![1.0, 0.5, 0.0],
        samples: 100_000,
        seed: 1,
        svg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--json" => a.json = true,
            "--beta" => a.beta = value()?.parse().map_err(|e| format!("--beta: {e}"))?,
            "--tau" => {
                a.tau = value()?
                    .split(',')
                    .map(|t| t.trim().parse::<f64>().map_err(|e| format!("--tau: {e}")))
                    .collect::<Result<_, _>>()?;
                if a.tau.len() != 3 {
                    return Err("--tau needs three numbers: 1,T1,T2".to_string());
                }
            }
            "--samples" => a.samples = value()?.parse().map_err(|e| format!("--samples: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--svg" => a.svg = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !a.beta.is_finite() || a.samples == 0 {
        return Err("--beta must be finite and --samples positive".to_string());
    }
    Ok(a)
}

/// `(t1, exact ESS fraction, H(Y_1))` for `t1 = 0, 0.1, ..., 2` at fixed `tau_0`, `t2`.
fn sweep(model: &Ising2d, beta: f64, tau: &[f64]) -> hmaxent::Result<Vec<(f64, f64, f64)>> {
    (0..=20)
        .map(|i| {
            let t1 = 0.1 * f64::from(i);
            let e = model.exact(beta, &[tau[0], t1, tau[2]])?;
            Ok((t1, e.ess_fraction, e.entropies[1]))
        })
        .collect()
}

#[cfg(feature = "plot")]
fn draw(path: &str, rows: &[(f64, f64, f64)]) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (960, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, 2));
    let panels: [(&str, Vec<(f64, f64)>); 2] = [
        ("ESS fraction", rows.iter().map(|r| (r.0, r.1)).collect()),
        ("H(Y_1)", rows.iter().map(|r| (r.0, r.2)).collect()),
    ];
    for (area, (label, pts)) in areas.iter().zip(panels) {
        let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let pad = 0.05 * (hi - lo).max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{label} against t1"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..2.0, (lo - pad)..(hi + pad))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("t1")
            .y_desc(label)
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(pts.clone(), &BLUE))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(not(feature = "plot"))]
fn draw(_path: &str, _rows: &[(f64, f64, f64)]) -> Result<(), String> {
    Err("--svg needs the `plot` feature (cargo run --features plot --example ising2d)".to_string())
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if args.json {
        match report(args.beta, &args.tau, args.samples, args.seed) {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let run = || -> hmaxent::Result<()> {
        let model = Ising2d::new()?;
        let start = Instant::now();
        let exact = model.exact(args.beta, &args.tau)?;
        let rw = reweighted(&model, &exact, args.beta, args.samples, args.seed);
        let elapsed = start.elapsed();
        println!(
            "4 x 4 Ising torus, beta = {}, tau = {:?}",
            args.beta, args.tau
        );
        println!(
            "log Z = {:.10}, F = {:.10}, H(Y_k) = {:.6?}",
            exact.log_z, exact.free_energy, exact.entropies
        );
        println!(
            "exact ESS fraction {:.6}, D(p_B || P*) = {:.6}",
            exact.ess_fraction, exact.kl_boltzmann_to_pstar
        );
        println!(
            "{:>18} {:>12} {:>12} {:>22}",
            "", "Boltzmann", "P*", "reweighted (N samples)"
        );
        let (b, p) = (&exact.boltzmann, &exact.pstar);
        for (name, vb, vp) in [
            ("energy", b.energy, p.energy),
            (
                "abs_magnetisation",
                b.abs_magnetisation,
                p.abs_magnetisation,
            ),
            ("binder", b.binder, p.binder),
            ("susceptibility", b.susceptibility, p.susceptibility),
        ] {
            let r = &rw[name];
            println!(
                "{name:>18} {vb:>12.6} {vp:>12.6} {:>12.6} ± {:.6}",
                r["value"].as_f64().unwrap_or(f64::NAN),
                r["stderr"].as_f64().unwrap_or(f64::NAN)
            );
        }
        println!(
            "sampled ESS fraction {:.6}",
            rw["ess_fraction"].as_f64().unwrap_or(f64::NAN)
        );
        println!(
            "one solve + {} samples: {:.3} s",
            args.samples,
            elapsed.as_secs_f64()
        );
        println!("\n  t1   ESS fraction   H(Y_1)");
        let rows = sweep(&model, args.beta, &args.tau)?;
        for (t1, ess, h1) in &rows {
            println!("{t1:4.1}   {ess:12.6}   {h1:.6}");
        }
        if let Some(path) = &args.svg {
            if let Err(e) = draw(path, &rows) {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
            println!("sweep drawn to {path}");
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
